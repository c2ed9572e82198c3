//! SIP URIs (RFC 3261 §19.1): scheme, user, host, port and parameters as
//! slices of the message, IP literals parsed once, and `%HH` comparison.

use super::params::{Param, Params};
use super::scan::{find, find_any2, find_byte, is_uri_text, parse_u32, span, HOST, SCHEME};
use std::net::{IpAddr, Ipv4Addr};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Sip,
    Sips,
    Tel,
    /// Any other absolute URI; kept opaque.
    Other,
}

/// A view of a URI. For `sip:` and `sips:` every part is split out; other
/// schemes are only checked for a valid scheme and URI characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Uri<'b> {
    pub raw: &'b [u8],
    pub scheme: Scheme,
    /// Still escaped (`%75se%72`); compare with [`Uri::user_eq`].
    pub user: Option<&'b [u8]>,
    pub password: Option<&'b [u8]>,
    /// The host without IPv6 brackets.
    pub host: &'b [u8],
    /// `host[:port]` as written, brackets included.
    pub host_port: &'b [u8],
    pub port: Option<u16>,
    /// `;name=value...` as written, or empty.
    pub params: &'b [u8],
    /// What follows `?`, if anything.
    pub headers: Option<&'b [u8]>,
}

impl<'b> Uri<'b> {
    pub fn parse(raw: &'b [u8]) -> Option<Uri<'b>> {
        // scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), then ':'.
        if !raw.first()?.is_ascii_alphabetic() {
            return None;
        }
        let colon = 1 + span(raw.get(1..)?, SCHEME);
        if raw.get(colon) != Some(&b':') {
            return None;
        }
        let (scheme_raw, rest) = raw.split_at_checked(colon)?;
        let rest = rest.get(1..)?;
        if rest.is_empty() || !is_uri_text(rest) {
            return None;
        }
        let scheme = match scheme_raw.len() {
            3 if scheme_raw.eq_ignore_ascii_case(b"sip") => Scheme::Sip,
            4 if scheme_raw.eq_ignore_ascii_case(b"sips") => Scheme::Sips,
            3 if scheme_raw.eq_ignore_ascii_case(b"tel") => Scheme::Tel,
            _ => Scheme::Other,
        };
        let mut uri = Uri {
            raw,
            scheme,
            user: None,
            password: None,
            host: &[],
            host_port: &[],
            port: None,
            params: &[],
            headers: None,
        };
        if !matches!(scheme, Scheme::Sip | Scheme::Sips) {
            return Some(uri);
        }
        // '@' cannot appear unescaped in params or headers, so the first one
        // ends the userinfo even when the user holds ';' or '?' (RFC 4475
        // INTMETH, SEMIURI).
        let after_user = match find_byte(rest, b'@') {
            Some(at) => {
                let (userinfo, after) = rest.split_at_checked(at)?;
                let (user, password) = match find(userinfo, b':') {
                    Some(c) => {
                        let (user, password) = userinfo.split_at_checked(c)?;
                        (user, Some(password.get(1..)?))
                    }
                    None => (userinfo, None),
                };
                if user.is_empty() {
                    return None;
                }
                uri.user = Some(user);
                uri.password = password;
                after.get(1..)?
            }
            None => rest,
        };
        let hp_end = find_any2(after_user, b';', b'?').unwrap_or(after_user.len());
        let (host_port, tail) = after_user.split_at_checked(hp_end)?;
        let (host, port) = split_host_port(host_port)?;
        uri.host = host;
        uri.host_port = host_port;
        uri.port = port;
        let (params, headers) = match find(tail, b'?') {
            Some(q) => {
                let (params, headers) = tail.split_at_checked(q)?;
                (params, Some(headers.get(1..)?))
            }
            None => (tail, None),
        };
        if !Params::valid(params) || headers.is_some_and(<[u8]>::is_empty) {
            return None;
        }
        uri.params = params;
        uri.headers = headers;
        Some(uri)
    }

    pub fn is_sip(&self) -> bool {
        matches!(self.scheme, Scheme::Sip | Scheme::Sips)
    }

    pub fn param(&self, name: &[u8]) -> Option<Param<'b>> {
        Params::find(self.params, name)
    }

    pub fn param_value(&self, name: &[u8]) -> Option<&'b [u8]> {
        self.param(name).and_then(|p| p.value)
    }

    pub fn has_lr(&self) -> bool {
        self.param(b"lr").is_some()
    }

    /// The host as an IP address, when it is a literal.
    pub fn ip(&self) -> Option<IpAddr> {
        parse_ip(self.host)
    }

    /// The port, or 5060 (5061 for sips).
    pub fn port_or_default(&self) -> u16 {
        self.port.unwrap_or(if self.scheme == Scheme::Sips {
            5061
        } else {
            5060
        })
    }

    /// Compares the user parts after undoing `%HH` escapes (RFC 3261 §19.1.4).
    pub fn user_eq(&self, other: &[u8]) -> bool {
        match self.user {
            Some(u) => unescaped_eq(u, other),
            None => other.is_empty(),
        }
    }
}

/// Splits `host[:port]`, checking the host is a name, IPv4 or `[IPv6]`.
pub(crate) fn split_host_port(s: &[u8]) -> Option<(&[u8], Option<u16>)> {
    let (host, port_part) = if s.first() == Some(&b'[') {
        let close = find(s, b']')?;
        let (inner, after) = s.split_at_checked(close)?;
        let host = inner.get(1..)?;
        match parse_ip(host) {
            Some(IpAddr::V6(_)) => {}
            _ => return None,
        }
        (host, after.get(1..)?)
    } else {
        // A name or IPv4 literal up to the first byte that cannot be in
        // one, which must be the port's ':' or the end.
        let n = span(s, HOST);
        if n == 0 {
            return None;
        }
        s.split_at_checked(n)?
    };
    let port = match port_part {
        [] => None,
        [b':', digits @ ..] => Some(parse_u32(digits, 65535)? as u16),
        _ => return None,
    };
    Some((host, port))
}

/// An IP literal as URIs, Vias and SDP write it: dotted IPv4, or IPv6 with
/// or without its brackets. The one parser of addresses in the core.
pub fn parse_ip(s: &[u8]) -> Option<IpAddr> {
    let s = match s {
        [b'[', inner @ .., b']'] => inner,
        _ => s,
    };
    if let Some(v4) = parse_ipv4(s) {
        return Some(IpAddr::V4(v4));
    }
    // Anything else, IPv6 included, through the standard parser, which
    // also has the last word on what is not an address.
    core::str::from_utf8(s).ok()?.parse().ok()
}

/// Dotted-quad IPv4 exactly as `Ipv4Addr::from_str` accepts it: four
/// decimal octets of one to three digits, no leading zeros, at most 255.
/// `None` for anything else (the caller then asks the standard parser).
fn parse_ipv4(s: &[u8]) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut parts = s.split(|b| *b == b'.');
    for o in &mut octets {
        let part = parts.next()?;
        if part.is_empty() || part.len() > 3 || (part.len() > 1 && part.first() == Some(&b'0')) {
            return None;
        }
        let mut n: u16 = 0;
        for b in part {
            if !b.is_ascii_digit() {
                return None;
            }
            n = n * 10 + u16::from(b - b'0');
        }
        *o = u8::try_from(n).ok()?;
    }
    if parts.next().is_some() {
        return None;
    }
    Some(Ipv4Addr::from(octets))
}

/// Compares `escaped` (with `%HH`) against plain bytes.
pub(crate) fn unescaped_eq(escaped: &[u8], plain: &[u8]) -> bool {
    let mut i = 0;
    let mut j = 0;
    while let Some(&e) = escaped.get(i) {
        let b = if e == b'%' {
            match (
                escaped.get(i + 1).copied().and_then(crate::hex::digit),
                escaped.get(i + 2).copied().and_then(crate::hex::digit),
            ) {
                (Some(h), Some(l)) => {
                    i += 3;
                    h << 4 | l
                }
                _ => return false,
            }
        } else {
            i += 1;
            e
        };
        if plain.get(j) != Some(&b) {
            return false;
        }
        j += 1;
    }
    j == plain.len()
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod test {
    use super::*;

    #[test]
    fn test_parse_full_sip_uri() {
        let u =
            Uri::parse(b"sip:alice:secret@example.com:5070;transport=udp;lr?Subject=hi").unwrap();
        assert_eq!(u.scheme, Scheme::Sip);
        assert_eq!(u.user, Some(&b"alice"[..]));
        assert_eq!(u.password, Some(&b"secret"[..]));
        assert_eq!(u.host, b"example.com");
        assert_eq!(u.host_port, b"example.com:5070");
        assert_eq!(u.port, Some(5070));
        assert_eq!(u.params, b";transport=udp;lr");
        assert_eq!(u.param_value(b"transport"), Some(&b"udp"[..]));
        assert!(u.has_lr());
        assert_eq!(u.headers, Some(&b"Subject=hi"[..]));
    }

    #[test]
    fn test_parse_ipv6_and_defaults() {
        let u = Uri::parse(b"sips:[2001:db8::1]:5061;maddr=[::1]").unwrap();
        assert_eq!(u.scheme, Scheme::Sips);
        assert_eq!(u.host, b"2001:db8::1");
        assert_eq!(u.host_port, b"[2001:db8::1]:5061");
        assert_eq!(u.ip(), "2001:db8::1".parse().ok());
        assert_eq!(u.param_value(b"maddr"), Some(&b"[::1]"[..]));
        let u = Uri::parse(b"SIP:[::1]").unwrap();
        assert_eq!(u.port_or_default(), 5060);
        assert_eq!(Uri::parse(b"sips:h").unwrap().port_or_default(), 5061);
        assert!(Uri::parse(b"sip:[zz::1]").is_none());
        assert!(Uri::parse(b"sip:[::1").is_none());
    }

    #[test]
    fn test_parse_ip_agrees_with_std() {
        let mut x: u64 = 0xdead_beef_1234_5678;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        const SOME: &[u8] = b"0123456789.....:aAfF ";
        let mut fixed: Vec<Vec<u8>> = [
            "1.2.3.4",
            "255.255.255.255",
            "256.1.1.1",
            "01.1.1.1",
            "0.0.0.0",
            "1.2.3",
            "1.2.3.4.",
            ".1.2.3",
            "1..2.3",
            "1.2.3.4.5",
            "1000.1.1.1",
            "00.1.1.1",
            "::1",
            "::ffff:1.2.3.4",
            "",
            ".",
            "1.2.3.04",
            "192.168.001.1",
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect();
        for _ in 0..200_000 {
            let len = (next() % 18) as usize;
            fixed.push(
                (0..len)
                    .map(|_| SOME[(next() as usize) % SOME.len()])
                    .collect(),
            );
        }
        for s in fixed {
            let want = core::str::from_utf8(&s)
                .ok()
                .and_then(|t| t.parse::<IpAddr>().ok());
            assert_eq!(parse_ip(&s), want, "{}", String::from_utf8_lossy(&s));
        }
    }

    #[test]
    fn test_escapes() {
        let u = Uri::parse(b"sip:%75se%72@example.com").unwrap();
        assert!(u.user_eq(b"user"));
        assert!(!u.user_eq(b"use"));
        let u = Uri::parse(b"sip:sips%3Auser%40example.com@example.net").unwrap();
        assert!(u.user_eq(b"sips:user@example.com"));
        assert_eq!(u.host, b"example.net");
        assert!(Uri::parse(b"sip:%7@example.com").is_none());
        let u = Uri::parse(b"sip:%00@host5.example.com").unwrap();
        assert!(u.user_eq(b"\0"));
    }

    #[test]
    fn test_odd_but_valid_users() {
        let u = Uri::parse(b"sip:user;par=u%40example.net@example.com").unwrap();
        assert_eq!(u.user, Some(&b"user;par=u%40example.net"[..]));
        assert_eq!(u.host, b"example.com");
        let u = Uri::parse(
            b"sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com",
        )
        .unwrap();
        assert_eq!(
            u.user,
            Some(&b"1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"[..])
        );
        assert_eq!(u.host, b"example.com");
    }

    #[test]
    fn test_other_schemes_and_errors() {
        assert_eq!(Uri::parse(b"tel:+1-555").unwrap().scheme, Scheme::Tel);
        let u = Uri::parse(b"nobodyKnowsThisScheme:totallyopaquecontent").unwrap();
        assert_eq!(u.scheme, Scheme::Other);
        assert_eq!(
            Uri::parse(b"soap.beep://192.0.2.103:3002").unwrap().scheme,
            Scheme::Other
        );
        for bad in [
            &b"sip:"[..],
            b"sip:@host",
            b"sip:a b@host",
            b"<sip:x>",
            b"sip:host:99999",
            b"sip:host:",
            b"sip:ho st",
            b"sip:host;;",
            b"sip:host?",
            b"1sip:x",
            b"nocolon",
        ] {
            assert!(
                Uri::parse(bad).is_none(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
