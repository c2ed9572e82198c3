//! Byte-level helpers shared by the parsers. All of them are total: they
//! return `None` or an empty slice instead of panicking.

/// Linear white space inside a header value. A value's CR and LF can only be
/// part of a fold (the message parser guarantees that), so they count too.
#[inline]
pub fn is_lws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

#[inline]
pub fn trim(s: &[u8]) -> &[u8] {
    trim_end(trim_start(s))
}

#[inline]
pub fn trim_start(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|b| is_lws(**b)).count();
    &s[n..]
}

#[inline]
pub fn trim_end(s: &[u8]) -> &[u8] {
    let n = s.iter().rev().take_while(|b| is_lws(**b)).count();
    &s[..s.len() - n]
}

/// RFC 3261 `token` characters.
pub const fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
        )
}

pub fn is_token_str(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|b| is_token(*b))
}

/// Parses ASCII digits (leading zeros allowed) into a u32 no larger than `max`.
pub fn parse_u32(s: &[u8], max: u32) -> Option<u32> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let zeros = s.iter().take_while(|b| **b == b'0').count();
    let digits = &s[zeros..];
    if digits.len() > 10 {
        return None;
    }
    let n = digits
        .iter()
        .fold(0u64, |n, b| n * 10 + u64::from(b - b'0'));
    if n <= u64::from(max) {
        Some(n as u32)
    } else {
        None
    }
}

/// Finds the first `needle` byte that is outside quoted strings and outside
/// `<...>`. Backslash escapes inside quotes are honoured.
pub fn find_unquoted(s: &[u8], needle: u8) -> Option<usize> {
    let mut in_quote = false;
    let mut in_angle = false;
    let mut i = 0;
    while i < s.len() {
        let b = s[i];
        if in_quote {
            if b == b'\\' {
                i += 1;
            } else if b == b'"' {
                in_quote = false;
            }
        } else if b == b'"' {
            in_quote = true;
        } else if in_angle {
            if b == b'>' {
                in_angle = false;
            }
        } else if b == b'<' {
            in_angle = true;
        } else if b == needle {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// Length of a quoted string starting at `s[0] == b'"'`, including both
/// quotes, or `None` when it is not closed.
pub fn quoted_len(s: &[u8]) -> Option<usize> {
    if s.first() != Some(&b'"') {
        return None;
    }
    let mut i = 1;
    while i < s.len() {
        match s[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// Position of `needle` in `s`.
pub fn find(s: &[u8], needle: u8) -> Option<usize> {
    s.iter().position(|b| *b == needle)
}

/// Offset of `part` inside `whole`, when `part` is a sub-slice of it.
pub fn offset_in(whole: &[u8], part: &[u8]) -> Option<usize> {
    let w = whole.as_ptr() as usize;
    let p = part.as_ptr() as usize;
    if p >= w && p + part.len() <= w + whole.len() {
        Some(p - w)
    } else {
        None
    }
}

/// Valid `%HH` escapes and no whitespace or angle brackets.
pub fn is_uri_text(s: &[u8]) -> bool {
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'%' => {
                let ok = s.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                    && s.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
                if !ok {
                    return false;
                }
                i += 3;
            }
            b if b <= b' ' || b >= 0x7f || b == b'<' || b == b'>' || b == b'"' => return false,
            _ => i += 1,
        }
    }
    true
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn test_parse_u32() {
        assert_eq!(parse_u32(b"0", 10), Some(0));
        assert_eq!(parse_u32(b"0068", 255), Some(68));
        assert_eq!(parse_u32(b"256", 255), None);
        assert_eq!(parse_u32(b"4294967295", u32::MAX), Some(u32::MAX));
        assert_eq!(parse_u32(b"4294967296", u32::MAX), None);
        assert_eq!(parse_u32(b"00000000000042", 100), Some(42));
        assert_eq!(parse_u32(b"36893488147419103232", u32::MAX), None);
        assert_eq!(parse_u32(b"-1", 10), None);
        assert_eq!(parse_u32(b"", 10), None);
        assert_eq!(parse_u32(b"1 2", 100), None);
    }

    #[test]
    fn test_find_unquoted() {
        assert_eq!(find_unquoted(b"\"a,b\" <sip:x,y>, z", b','), Some(15));
        assert_eq!(find_unquoted(b"\"a\\\",b\", c", b','), Some(7));
        assert_eq!(find_unquoted(b"\"open, never closed", b','), None);
    }

    #[test]
    fn test_quoted_len() {
        assert_eq!(quoted_len(b"\"ab\" x"), Some(4));
        assert_eq!(quoted_len(b"\"a\\\"b\""), Some(6));
        assert_eq!(quoted_len(b"\"abc"), None);
        assert_eq!(quoted_len(b"\"abc\\"), None);
    }

    #[test]
    fn test_uri_text() {
        assert!(is_uri_text(b"sip:%75se%72@example.com"));
        assert!(!is_uri_text(b"sip:%7@x"));
        assert!(!is_uri_text(b"sip:a b@x"));
        assert!(!is_uri_text(b"<sip:x>"));
    }
}
