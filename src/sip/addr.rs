//! `name-addr` and `addr-spec` (RFC 3261 §25.1): the URI with its display
//! name and header parameters, as From, To, Contact, Route and
//! Record-Route write it.

use super::params::{Param, Params};
use super::scan::{find_byte, is, is_lws, parse_u32, quoted_len, trim, trim_start, LWS, TOKEN};
use super::uri::Uri;

/// A `name-addr` or `addr-spec` with header parameters: the value of From,
/// To, and each element of Contact, Route and Record-Route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameAddr<'b> {
    /// The element as written, trimmed.
    pub raw: &'b [u8],
    /// Quoted or token form, quotes kept.
    pub display: Option<&'b [u8]>,
    pub uri: Uri<'b>,
    /// Whether the URI was in `<...>`.
    pub bracketed: bool,
    /// Header parameters after the URI (`;tag=...;expires=...`), or empty.
    pub params: &'b [u8],
}

impl<'b> NameAddr<'b> {
    pub fn parse(raw: &'b [u8]) -> Option<NameAddr<'b>> {
        NameAddr::parse_with(raw, false)
    }

    /// From or To: as [`NameAddr::parse`], and at most one tag, which has
    /// a value (else the dialog would be ambiguous, and our stateless
    /// To-tag unrecognisable). Checked in the walk that validates the
    /// parameters, not in a second one.
    pub fn parse_party(raw: &'b [u8]) -> Option<NameAddr<'b>> {
        NameAddr::parse_with(raw, true)
    }

    #[inline(always)]
    fn parse_with(raw: &'b [u8], party: bool) -> Option<NameAddr<'b>> {
        let raw = trim(raw);
        let (display, uri_raw, bracketed, rest) = if raw.first() == Some(&b'"') {
            let q = quoted_len(raw)?;
            let (display, after) = raw.split_at_checked(q)?;
            let after = trim_start(after);
            let (uri, rest) = bracketed_uri(after)?;
            (Some(display), uri, true, rest)
        } else if let Some(lt) = find_byte(raw, b'<') {
            // Unquoted display name: tokens separated by LWS only.
            let (d, from_lt) = raw.split_at_checked(lt)?;
            let d = trim(d);
            if !d.iter().all(|b| is(*b, TOKEN | LWS)) {
                return None;
            }
            let (uri, rest) = bracketed_uri(from_lt)?;
            ((!d.is_empty()).then_some(d), uri, true, rest)
        } else {
            // addr-spec: the URI cannot hold ';' or '?' here (RFC 3261 §20).
            let end = raw
                .iter()
                .position(|b| *b == b';' || is_lws(*b))
                .unwrap_or(raw.len());
            let (uri, rest) = raw.split_at_checked(end)?;
            if uri.contains(&b'?') {
                return None;
            }
            (None, uri, false, rest)
        };
        let uri = Uri::parse(uri_raw)?;
        let mut tagged = false;
        for p in Params::new(rest) {
            let p = p.ok()?;
            if party && p.name.eq_ignore_ascii_case(b"tag") {
                if tagged || p.value.is_none() {
                    return None;
                }
                tagged = true;
            }
        }
        Some(NameAddr {
            raw,
            display,
            uri,
            bracketed,
            params: rest,
        })
    }

    pub fn param(&self, name: &[u8]) -> Option<Param<'b>> {
        Params::find(self.params, name)
    }

    pub fn tag(&self) -> Option<&'b [u8]> {
        self.param(b"tag").and_then(|p| p.value)
    }

    pub fn expires(&self) -> Option<u32> {
        self.param(b"expires")
            .and_then(|p| p.value)
            .and_then(|v| parse_u32(v, u32::MAX))
    }
}

/// Splits `<uri>rest`, returning the inside and what follows `>`.
fn bracketed_uri(s: &[u8]) -> Option<(&[u8], &[u8])> {
    if s.first() != Some(&b'<') {
        return None;
    }
    let close = find_byte(s, b'>')?;
    let (inside, after) = s.split_at_checked(close)?;
    Some((inside.get(1..)?, after.get(1..)?))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod test {
    use super::*;

    #[test]
    fn test_forms() {
        let a = NameAddr::parse(b"Alice <sip:alice@example.org>;tag=atag").unwrap();
        assert_eq!(a.display, Some(&b"Alice"[..]));
        assert_eq!(a.uri.raw, b"sip:alice@example.org");
        assert!(a.bracketed);
        assert_eq!(a.tag(), Some(&b"atag"[..]));

        let a = NameAddr::parse(b"sip:caller@example.net;tag=134161461246").unwrap();
        assert_eq!(a.display, None);
        assert!(!a.bracketed);
        assert_eq!(a.uri.raw, b"sip:caller@example.net");
        assert_eq!(a.tag(), Some(&b"134161461246"[..]));

        let a = NameAddr::parse(b"caller<sip:caller@example.com>;tag=323").unwrap();
        assert_eq!(a.display, Some(&b"caller"[..]));

        let a = NameAddr::parse(
            b"\"J Rosenberg \\\\\\\"\"       <sip:jdrosen@example.com>\r\n  ;\r\n  tag = 98asjd8",
        )
        .unwrap();
        assert_eq!(a.display, Some(&b"\"J Rosenberg \\\\\\\"\""[..]));
        assert_eq!(a.tag(), Some(&b"98asjd8"[..]));

        let a = NameAddr::parse(
            b"<sip:alice@10.0.0.5:5060;transport=udp>;expires=60;+sip.instance=\"<urn:x>\"",
        )
        .unwrap();
        assert_eq!(a.uri.param_value(b"transport"), Some(&b"udp"[..]));
        assert_eq!(a.expires(), Some(60));
        assert_eq!(
            a.param(b"+sip.instance").unwrap().value,
            Some(&b"\"<urn:x>\""[..])
        );

        let a = NameAddr::parse(b"<tel:+15551234>").unwrap();
        assert_eq!(a.uri.raw, b"tel:+15551234");
    }

    #[test]
    fn test_party_tags() {
        assert!(NameAddr::parse_party(b"<sip:a@b>;tag=1;x=2").is_some());
        assert!(NameAddr::parse_party(b"<sip:a@b>;x").is_some());
        for bad in [
            &b"<sip:a@b>;tag"[..],
            b"<sip:a@b>;tag=1;TAG=2",
            b"sip:a@b;tag=1;tag",
        ] {
            assert!(NameAddr::parse(bad).is_some(), "{bad:?}");
            assert!(NameAddr::parse_party(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn test_errors() {
        for bad in [
            &b"\"Mr. J. User <sip:j.user@example.com>"[..],
            b"\"Watson, Thomas\" < sip:t.watson@example.org >",
            b"Bell, Alexander <sip:a.g.bell@example.com>;tag=43",
            b"sip:user@example.com?Route=%3Csip:sip.example.com%3E",
            b"\"Joe\" <sip:joe@example.org>;;;;",
            b"<sip:joe@example.org",
            b"",
        ] {
            assert!(
                NameAddr::parse(bad).is_none(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        // Headers in a bracketed URI are fine (RFC 4475 REGESCRT).
        assert!(
            NameAddr::parse(b"<sip:user@example.com?Route=%3Csip:sip.example.com%3E>").is_some()
        );
    }
}
