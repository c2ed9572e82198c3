//! Byte-level helpers shared by the parsers. All of them are total: they
//! return `None` or an empty slice instead of panicking.
//!
//! Character classes come from one 256-entry table ([`CLASS`]), so a class
//! test is a load and a mask; [`find_byte`] and [`find_ctl`] look at eight
//! bytes at a time (SWAR on a `u64`, in safe portable Rust).

/// RFC 3261 `token` characters.
pub const TOKEN: u8 = 1;
/// Linear white space inside a header value: SP, HTAB, CR, LF.
pub const LWS: u8 = 2;
/// Bytes that may appear in a URI as written: printable ASCII other than
/// SP, `<`, `>` and `"` (`%` escapes are checked separately).
pub const URI: u8 = 4;
/// Host name characters: ASCII letters, digits, `-`, `.`, `_`.
pub const HOST: u8 = 8;
/// ASCII decimal digits.
pub const DIGIT: u8 = 16;
/// URI scheme characters after the first: letters, digits, `+`, `-`, `.`.
pub const SCHEME: u8 = 32;
/// [`URI`] without `%`, which starts an escape to check.
pub const URI_PLAIN: u8 = 64;
/// Bytes of an unquoted parameter value: anything but LWS, `;`, `,`, `"`.
pub const PVALUE: u8 = 128;

const fn class_of(b: u8) -> u8 {
    let mut c = 0;
    if b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
        )
    {
        c |= TOKEN;
    }
    if matches!(b, b' ' | b'\t' | b'\r' | b'\n') {
        c |= LWS;
    }
    if b > b' ' && b < 0x7f && !matches!(b, b'<' | b'>' | b'"') {
        c |= URI;
    }
    if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_') {
        c |= HOST;
    }
    if b.is_ascii_digit() {
        c |= DIGIT;
    }
    if b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.') {
        c |= SCHEME;
    }
    if c & URI != 0 && b != b'%' {
        c |= URI_PLAIN;
    }
    if c & LWS == 0 && !matches!(b, b';' | b',' | b'"') {
        c |= PVALUE;
    }
    c
}

const fn build_classes() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut rest: &mut [u8] = &mut t;
    let mut b = 0u8;
    while let [slot, tail @ ..] = rest {
        *slot = class_of(b);
        b = b.wrapping_add(1);
        rest = tail;
    }
    t
}

/// The character classes of every byte value.
pub const CLASS: [u8; 256] = build_classes();

/// Whether `b` is in every class of `mask`.
#[inline(always)]
pub fn is(b: u8, mask: u8) -> bool {
    // A u8 is always in range: the check folds away.
    CLASS.get(usize::from(b)).is_some_and(|c| c & mask != 0)
}

/// Linear white space inside a header value. A value's CR and LF can only be
/// part of a fold (the message parser guarantees that), so they count too.
#[inline(always)]
pub fn is_lws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

#[inline]
pub fn trim(s: &[u8]) -> &[u8] {
    trim_end(trim_start(s))
}

#[inline]
pub fn trim_start(s: &[u8]) -> &[u8] {
    let mut s = s;
    while let [first, rest @ ..] = s {
        if !is_lws(*first) {
            break;
        }
        s = rest;
    }
    s
}

#[inline]
pub fn trim_end(s: &[u8]) -> &[u8] {
    let mut s = s;
    while let [rest @ .., last] = s {
        if !is_lws(*last) {
            break;
        }
        s = rest;
    }
    s
}

/// RFC 3261 `token` characters.
#[inline(always)]
pub fn is_token(b: u8) -> bool {
    is(b, TOKEN)
}

#[inline]
pub fn is_token_str(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|b| is(*b, TOKEN))
}

/// Length of the run of `mask` bytes at the start of `s`.
#[inline]
pub fn span(s: &[u8], mask: u8) -> usize {
    s.iter().position(|b| !is(*b, mask)).unwrap_or(s.len())
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The high bit of every byte of `x` that is zero, plus possibly bits above
/// the lowest such byte (a borrow only runs upwards): the lowest set bit is
/// exact, which is all the searches below use.
#[inline(always)]
fn zero_bytes(x: u64) -> u64 {
    x.wrapping_sub(ONES) & !x & HIGHS
}

/// Position of the first byte of `s` for which `hit(word)` flags a byte,
/// eight bytes at a time, then `slow` on the tail.
#[inline(always)]
fn find_swar(s: &[u8], hit: impl Fn(u64) -> u64, slow: impl Fn(u8) -> bool) -> Option<usize> {
    let mut rest = s;
    let mut off = 0;
    while let Some((word, tail)) = rest.split_first_chunk::<8>() {
        let m = hit(u64::from_le_bytes(*word));
        if m != 0 {
            return Some(off + (m.trailing_zeros() / 8) as usize);
        }
        rest = tail;
        off += 8;
    }
    rest.iter().position(|b| slow(*b)).map(|i| off + i)
}

/// Position of `needle` in `s`.
#[inline]
pub fn find_byte(s: &[u8], needle: u8) -> Option<usize> {
    let n = ONES * u64::from(needle);
    find_swar(s, |w| zero_bytes(w ^ n), |b| b == needle)
}

/// Position of the first `a` or `b` in `s`.
#[inline]
pub fn find_any2(s: &[u8], a: u8, b: u8) -> Option<usize> {
    let (wa, wb) = (ONES * u64::from(a), ONES * u64::from(b));
    find_swar(
        s,
        |w| zero_bytes(w ^ wa) | zero_bytes(w ^ wb),
        |x| x == a || x == b,
    )
}

/// Position of the first `a`, `b` or `c` in `s`.
#[inline]
pub fn find_any3(s: &[u8], a: u8, b: u8, c: u8) -> Option<usize> {
    let (wa, wb, wc) = (
        ONES * u64::from(a),
        ONES * u64::from(b),
        ONES * u64::from(c),
    );
    find_swar(
        s,
        |w| zero_bytes(w ^ wa) | zero_bytes(w ^ wb) | zero_bytes(w ^ wc),
        |x| x == a || x == b || x == c,
    )
}

/// ASCII case-insensitive equality of a token (`a`) and a name made of
/// letters and `-` (`b`), eight bytes at a time. Only for those: setting
/// bit 5 maps no other token byte onto a letter or `-`.
#[inline]
pub fn eq_name(a: &[u8], b: &[u8]) -> bool {
    const CASE: u64 = ONES * 0x20;
    if a.len() != b.len() {
        return false;
    }
    let (mut a, mut b) = (a, b);
    while let (Some((wa, ta)), Some((wb, tb))) =
        (a.split_first_chunk::<8>(), b.split_first_chunk::<8>())
    {
        if u64::from_le_bytes(*wa) | CASE != u64::from_le_bytes(*wb) | CASE {
            return false;
        }
        (a, b) = (ta, tb);
    }
    a.iter().zip(b).all(|(x, y)| x | 0x20 == y | 0x20)
}

/// Position of the first control character in `s`: below 0x20 (CR, LF
/// and HTAB among them) or DEL.
#[inline]
pub fn find_ctl(s: &[u8]) -> Option<usize> {
    const SPACE: u64 = ONES * 0x20;
    const DEL: u64 = ONES * 0x7f;
    find_swar(
        s,
        // Below 0x20: the subtraction borrows and the byte's high bit was
        // clear; as in `zero_bytes`, the lowest flag is exact.
        |w| (w.wrapping_sub(SPACE) & !w & HIGHS) | zero_bytes(w ^ DEL),
        |b| b < 0x20 || b == 0x7f,
    )
}

/// Parses ASCII digits (leading zeros allowed) into a u32 no larger than `max`.
pub fn parse_u32(s: &[u8], max: u32) -> Option<u32> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let zeros = s.iter().take_while(|b| **b == b'0').count();
    let digits = s.get(zeros..)?;
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
/// `<...>`. Backslash escapes inside quotes are honoured, and so are quoted
/// strings inside `<...>`.
pub fn find_unquoted(s: &[u8], needle: u8) -> Option<usize> {
    let mut i = 0;
    loop {
        let k = i + find_any3(s.get(i..)?, b'"', b'<', needle)?;
        let at = s.get(k..)?;
        match at {
            [b'"', ..] => i = k + quoted_len(at)?,
            [b'<', ..] => {
                // Up to the `>`, skipping quoted strings on the way.
                let mut j = k + 1;
                loop {
                    let g = j + find_any2(s.get(j..)?, b'>', b'"')?;
                    let at = s.get(g..)?;
                    if at.first() == Some(&b'>') {
                        i = g + 1;
                        break;
                    }
                    j = g + quoted_len(at)?;
                }
            }
            _ => return Some(k),
        }
    }
}

/// Length of a quoted string starting at `s[0] == b'"'`, including both
/// quotes, or `None` when it is not closed.
pub fn quoted_len(s: &[u8]) -> Option<usize> {
    if s.first() != Some(&b'"') {
        return None;
    }
    let mut i = 1;
    loop {
        let k = i + find_any2(s.get(i..)?, b'"', b'\\')?;
        if s.get(k) == Some(&b'"') {
            return Some(k + 1);
        }
        // A backslash escapes the next byte, whatever it is.
        i = k + 2;
    }
}

/// Position of `needle` in `s`.
#[inline]
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
    loop {
        i += span(s.get(i..).unwrap_or_default(), URI_PLAIN);
        match s.get(i..) {
            None | Some([]) => return true,
            Some([b'%', h, l, ..]) if h.is_ascii_hexdigit() && l.is_ascii_hexdigit() => i += 3,
            Some(_) => return false,
        }
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod test {
    use super::*;

    #[test]
    fn test_classes_match_their_definitions() {
        for b in 0..=255u8 {
            let token = b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b);
            assert_eq!(is_token(b), token, "{b}");
            assert_eq!(is(b, TOKEN), token, "{b}");
            assert_eq!(is(b, LWS), b" \t\r\n".contains(&b), "{b}");
            let uri = !(b <= b' ' || b >= 0x7f || b"<>\"".contains(&b));
            assert_eq!(is(b, URI), uri, "{b}");
            let host = b.is_ascii_alphanumeric() || b"-._".contains(&b);
            assert_eq!(is(b, HOST), host, "{b}");
            assert_eq!(is(b, DIGIT), b.is_ascii_digit(), "{b}");
            let scheme = b.is_ascii_alphanumeric() || b"+-.".contains(&b);
            assert_eq!(is(b, SCHEME), scheme, "{b}");
            assert_eq!(is(b, URI_PLAIN), uri && b != b'%', "{b}");
            let pvalue = !b" \t\r\n;,\"".contains(&b);
            assert_eq!(is(b, PVALUE), pvalue, "{b}");
        }
    }

    #[test]
    fn test_swar_finds_agree_with_a_byte_loop() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut buf = [0u8; 80];
        for round in 0..5_000 {
            let len = round % buf.len();
            for b in &mut buf[..len] {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                // Mostly plain text, sometimes the bytes searched for, and
                // bytes next to them (0x09, 0x0b, 0x0c, 0x8a) to catch a
                // borrow that leaks into a neighbour.
                const SOME: &[u8] = b"\r\n:\x09\x0b\x0c\x8a\x8d\x00\xff\x7f\x1f\x20\x9f";
                *b = if x.is_multiple_of(9) {
                    SOME[(x >> 8) as usize % SOME.len()]
                } else {
                    b'a' + (x >> 16) as u8 % 26
                };
            }
            let s = &buf[..len];
            for start in 0..=len.min(9) {
                let s = &s[start..];
                assert_eq!(
                    find_ctl(s),
                    s.iter().position(|b| *b < 0x20 || *b == 0x7f),
                    "{s:?}"
                );
                for needle in [b':', b'\n', 0, 0xff, 0x80] {
                    assert_eq!(find_byte(s, needle), find(s, needle), "{s:?}");
                }
            }
        }
    }

    #[test]
    fn test_trim() {
        assert_eq!(trim(b" \t\r\n a b \r\n\t "), b"a b");
        assert_eq!(trim(b" \t "), b"");
        assert_eq!(trim(b""), b"");
        assert_eq!(trim_start(b" x "), b"x ");
        assert_eq!(trim_end(b" x "), b" x");
        assert_eq!(span(b"abc;d", TOKEN), 3);
        assert_eq!(span(b"abc", TOKEN), 3);
    }

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
    fn test_find_unquoted_agrees_with_a_state_machine() {
        // The byte-at-a-time definition.
        fn reference(s: &[u8], needle: u8) -> Option<usize> {
            let (mut in_quote, mut in_angle) = (false, false);
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
        fn reference_quoted_len(s: &[u8]) -> Option<usize> {
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
        let mut x: u64 = 0x1234_5678_9abc_def1;
        let mut buf = [0u8; 40];
        for round in 0..50_000 {
            let len = round % buf.len();
            for b in &mut buf[..len] {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                const SOME: &[u8] = b"\"<>\\,;ab ";
                *b = SOME[(x >> 8) as usize % SOME.len()];
            }
            let s = &buf[..len];
            for needle in [b',', b';', b'"', b'<', b'>'] {
                assert_eq!(find_unquoted(s, needle), reference(s, needle), "{s:?}");
            }
            if s.first() == Some(&b'"') {
                assert_eq!(quoted_len(s), reference_quoted_len(s), "{s:?}");
            }
        }
    }

    #[test]
    fn test_eq_name() {
        assert!(eq_name(b"content-LENGTH", b"Content-Length"));
        assert!(eq_name(b"Proxy-Authorization", b"Proxy-Authorization"));
        assert!(!eq_name(b"Proxy-Authorizatiox", b"Proxy-Authorization"));
        assert!(!eq_name(b"Content-Lengt", b"Content-Length"));
        assert!(!eq_name(b"Cont`nt-Length", b"Content-Length"));
        assert!(eq_name(b"", b""));
        // Bit 5 of every token byte against every letter and '-'.
        for a in (0..=255u8).filter(|b| is_token(*b)) {
            for b in (b'a'..=b'z').chain(b'A'..=b'Z').chain([b'-']) {
                assert_eq!(eq_name(&[a], &[b]), a.eq_ignore_ascii_case(&b), "{a} {b}");
            }
        }
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
        assert!(is_uri_text(b""));
        assert!(is_uri_text(b"%41%4a"));
        assert!(!is_uri_text(b"%4"));
        assert!(!is_uri_text(b"a%"));
        assert!(!is_uri_text(b"a%g0"));
        assert!(!is_uri_text(b"a\x7f"));
    }
}
