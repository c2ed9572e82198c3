//! Via elements (RFC 3261 §20.42): sent-by, branch, and the RFC 3581
//! `received`/`rport` a proxy reads and writes.

use super::cursor::{Cursor, Full};
use super::params::{Param, Params};
use super::scan::{is_lws, parse_u32, span, LWS, TOKEN};
use super::uri::{parse_ip, split_host_port};
use std::net::{IpAddr, SocketAddr};

/// One Via element (a header line may hold several).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Via<'b> {
    /// The whole element, trimmed; a rewriter appends parameters at its end.
    pub elem: &'b [u8],
    pub protocol: &'b [u8],
    pub version: &'b [u8],
    pub transport: &'b [u8],
    /// `host[:port]` as written.
    pub sent_by: &'b [u8],
    /// Without IPv6 brackets.
    pub host: &'b [u8],
    pub port: Option<u16>,
    pub params: &'b [u8],
    pub branch: Option<&'b [u8]>,
    pub received: Option<Param<'b>>,
    /// Present as a flag (`value == None`) or with a port.
    pub rport: Option<Param<'b>>,
    pub maddr: Option<&'b [u8]>,
    pub ttl: Option<u8>,
}

/// A run of `class` bytes at `s[*i]`, not empty; `*i` moves past it.
#[inline(always)]
fn take<'b>(s: &'b [u8], i: &mut usize, class: u8) -> Option<&'b [u8]> {
    let rest = s.get(*i..)?;
    let n = span(rest, class);
    *i += n;
    rest.get(..n).filter(|t| !t.is_empty())
}

/// `LWS "/" LWS` at `s[*i]`.
#[inline(always)]
fn slash(s: &[u8], i: &mut usize) -> Option<()> {
    *i += span(s.get(*i..)?, LWS);
    if s.get(*i) != Some(&b'/') {
        return None;
    }
    *i += 1;
    *i += span(s.get(*i..)?, LWS);
    Some(())
}

impl<'b> Via<'b> {
    pub fn parse(elem: &'b [u8]) -> Option<Via<'b>> {
        let s = elem;
        let mut i = span(s, LWS);
        let protocol = take(s, &mut i, TOKEN)?;
        slash(s, &mut i)?;
        let version = take(s, &mut i, TOKEN)?;
        slash(s, &mut i)?;
        let transport = take(s, &mut i, TOKEN)?;
        take(s, &mut i, LWS)?;
        let rest = s.get(i..)?;
        let end = rest
            .iter()
            .position(|b| is_lws(*b) || *b == b';')
            .unwrap_or(rest.len());
        let (sent_by, params) = rest.split_at_checked(end)?;
        let (host, port) = split_host_port(sent_by)?;
        let mut via = Via {
            elem,
            protocol,
            version,
            transport,
            sent_by,
            host,
            port,
            params,
            branch: None,
            received: None,
            rport: None,
            maddr: None,
            ttl: None,
        };
        // Each of these may appear once: with two, a rewrite of one and a
        // reader of the other would disagree.
        fn once<T>(slot: &mut Option<T>, v: T) -> Option<()> {
            if slot.is_some() {
                return None;
            }
            *slot = Some(v);
            Some(())
        }
        for p in Params::new(params) {
            let p = p.ok()?;
            let n = p.name;
            if n.eq_ignore_ascii_case(b"branch") {
                once(&mut via.branch, p.value?)?;
            } else if n.eq_ignore_ascii_case(b"received") {
                parse_ip(p.value?)?;
                once(&mut via.received, p)?;
            } else if n.eq_ignore_ascii_case(b"rport") {
                if let Some(v) = p.value {
                    parse_u32(v, 65535)?;
                }
                once(&mut via.rport, p)?;
            } else if n.eq_ignore_ascii_case(b"maddr") {
                once(&mut via.maddr, p.value?)?;
            } else if n.eq_ignore_ascii_case(b"ttl") {
                once(&mut via.ttl, parse_u32(p.value?, 255)? as u8)?;
            }
        }
        Some(via)
    }

    /// `received` as an address.
    pub fn received_ip(&self) -> Option<IpAddr> {
        self.received.and_then(|p| p.value).and_then(parse_ip)
    }

    /// `rport` with a value.
    pub fn rport_value(&self) -> Option<u16> {
        self.rport
            .and_then(|p| p.value)
            .and_then(|v| parse_u32(v, 65535))
            .map(|v| v as u16)
    }

    /// Whether RFC 3581 asks for `received`/`rport` given the packet source:
    /// `received` when the sent-by is a name or another IP, or when `rport`
    /// is present; `rport` only when it is present as a flag.
    pub fn needs_source_params(&self, src: SocketAddr) -> bool {
        let rport_flag = self.rport.is_some_and(|p| p.value.is_none());
        rport_flag || self.received_ip() != Some(src.ip()) && self.wants_received(src)
    }

    /// Whether `received` is to be set for `src` (RFC 3581 §4).
    pub fn wants_received(&self, src: SocketAddr) -> bool {
        self.rport.is_some() || parse_ip(self.host) != Some(src.ip())
    }

    /// `rport` present without a value: the sender asks for it.
    pub fn rport_flag(&self) -> bool {
        self.rport.is_some_and(|p| p.value.is_none())
    }

    /// Writes this element with `received` and `rport` set for `src`; every
    /// other byte stays as written.
    pub fn write_with_source(&self, src: SocketAddr, c: &mut Cursor) -> Result<(), Full> {
        let base = self.elem.as_ptr() as usize;
        let off = |p: &[u8]| p.as_ptr() as usize - base;
        let received = self.wants_received(src);
        let mut pos = 0;
        // Parameters appear in wire order; rewrite in place where present.
        let mut spots: [Option<(&[u8], bool)>; 2] = [
            self.rport
                .filter(|p| p.value.is_none())
                .map(|p| (p.raw, true)),
            self.received.filter(|_| received).map(|p| (p.raw, false)),
        ];
        spots.sort_unstable_by_key(|s| s.map_or(usize::MAX, |(raw, _)| off(raw)));
        for (raw, is_rport) in spots.into_iter().flatten() {
            c.put(self.elem.get(pos..off(raw)).ok_or(Full)?)?;
            if is_rport {
                c.put(b"rport=")?;
                c.put_u32(u32::from(src.port()))?;
            } else {
                c.put(b"received=")?;
                c.put_ip(src.ip())?;
            }
            pos = off(raw) + raw.len();
        }
        c.put(self.elem.get(pos..).ok_or(Full)?)?;
        if received && self.received.is_none() {
            c.put(b";received=")?;
            c.put_ip(src.ip())?;
        }
        Ok(())
    }

    pub fn is_udp(&self) -> bool {
        self.transport.eq_ignore_ascii_case(b"UDP")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod test {
    use super::*;

    #[test]
    fn test_parse_simple() {
        let v = Via::parse(b"SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKuac1;rport").unwrap();
        assert_eq!(v.transport, b"UDP");
        assert_eq!(v.host, b"10.0.0.5");
        assert_eq!(v.port, Some(5060));
        assert_eq!(v.branch, Some(&b"z9hG4bKuac1"[..]));
        assert_eq!(v.rport.unwrap().value, None);
        assert_eq!(v.rport.unwrap().raw, b"rport");
        assert!(v.received.is_none());
    }

    #[test]
    fn test_parse_folded_with_spaces() {
        let v = Via::parse(b"SIP  /   2.0\r\n /UDP\r\n    192.0.2.2;branch=390skdjuw").unwrap();
        assert_eq!(v.version, b"2.0");
        assert_eq!(v.host, b"192.0.2.2");
        assert_eq!(v.branch, Some(&b"390skdjuw"[..]));
        let v = Via::parse(
            b"SIP  / 2.0  / TCP     spindle.example.com   ;\r\n  branch  =   z9hG4bK9ikj8",
        )
        .unwrap();
        assert_eq!(v.transport, b"TCP");
        assert_eq!(v.sent_by, b"spindle.example.com");
        assert_eq!(v.branch, Some(&b"z9hG4bK9ikj8"[..]));
    }

    #[test]
    fn test_parse_ipv6_and_params() {
        let v = Via::parse(
            b"SIP/2.0/UDP [2001:db8::9]:5062;branch=z9hG4bKx;received=[2001:db8::1];rport=4000;maddr=224.2.0.1;ttl=16",
        )
        .unwrap();
        assert_eq!(v.host, b"2001:db8::9");
        assert_eq!(v.sent_by, b"[2001:db8::9]:5062");
        assert_eq!(v.port, Some(5062));
        assert_eq!(v.received_ip(), "2001:db8::1".parse().ok());
        assert_eq!(v.rport_value(), Some(4000));
        assert_eq!(v.maddr, Some(&b"224.2.0.1"[..]));
        assert_eq!(v.ttl, Some(16));
    }

    fn with_source(elem: &[u8], src: &str) -> String {
        let v = Via::parse(elem).unwrap();
        let mut b = [0u8; 256];
        let mut c = Cursor::new(&mut b);
        v.write_with_source(src.parse().unwrap(), &mut c).unwrap();
        String::from_utf8(c.written().to_vec()).unwrap()
    }

    #[test]
    fn test_source_params_rfc3581() {
        // rport flag: fill it and add received even when the IP matches.
        assert_eq!(
            with_source(
                b"SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKuac1;rport",
                "127.0.0.1:55676"
            ),
            "SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKuac1;rport=55676;received=127.0.0.1"
        );
        assert_eq!(
            with_source(
                b"SIP/2.0/UDP 127.0.0.1;rport;branch=z9hG4bK1",
                "127.0.0.1:4000"
            ),
            "SIP/2.0/UDP 127.0.0.1;rport=4000;branch=z9hG4bK1;received=127.0.0.1"
        );
        // No rport: received only when the address differs or is a name.
        assert_eq!(
            with_source(
                b"SIP/2.0/UDP pc.example.com;branch=z9hG4bK1",
                "192.0.2.7:5060"
            ),
            "SIP/2.0/UDP pc.example.com;branch=z9hG4bK1;received=192.0.2.7"
        );
        assert_eq!(
            with_source(
                b"SIP/2.0/UDP [::1]:5060;branch=z9hG4bK1",
                "[2001:db8::7]:5060"
            ),
            "SIP/2.0/UDP [::1]:5060;branch=z9hG4bK1;received=2001:db8::7"
        );
        let same = Via::parse(b"SIP/2.0/UDP 192.0.2.7;branch=z9hG4bK1").unwrap();
        assert!(!same.needs_source_params("192.0.2.7:5060".parse().unwrap()));
        assert!(same.needs_source_params("192.0.2.8:5060".parse().unwrap()));
        // An existing received is replaced in place; a valued rport is kept.
        assert_eq!(
            with_source(
                b"SIP/2.0/UDP h;received=1.2.3.4;rport=9;branch=z9hG4bK1",
                "192.0.2.7:5060"
            ),
            "SIP/2.0/UDP h;received=192.0.2.7;rport=9;branch=z9hG4bK1"
        );
    }

    #[test]
    fn test_parse_errors() {
        for bad in [
            &b"SIP/2.0/UDP 192.0.2.15;;"[..],
            b"SIP/2.0/UDP",
            b"SIP/2.0 host",
            b"SIP/2.0/UDPhost",
            b"SIP/2.0/UDP host;branch",
            b"SIP/2.0/UDP host;received=not-an-ip",
            b"SIP/2.0/UDP host;rport=70000",
            b"SIP/2.0/UDP host;ttl=300",
            b"SIP/2.0/UDP host:",
            b"",
        ] {
            assert!(
                Via::parse(bad).is_none(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
