//! The line-by-line view of an SDP body: each line typed as the NAT helper
//! needs it (origin, connection, media, rtcp, ICE, direction), every field
//! a [`Span`] into the parsed bytes.

// Packet bytes are untrusted: keep every access checked.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::net::IpAddr;

use super::multipart::find;
use super::{SdpError, Span};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
/// Where a line sits: before the first `m=`, or in media section `n` (0-based).
pub enum Level {
    Session,
    Media(usize),
}

/// RFC 3264 direction attribute; absent means `SendRecv`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Direction {
    #[default]
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

/// ICE lines (RFC 8839) a relay strips, since its own address replaces them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IceKind {
    /// `a=candidate:`
    Candidate,
    /// `a=remote-candidates:`
    RemoteCandidates,
    /// Any `a=ice-*` (ufrag, pwd, lite, options, mismatch, ...).
    Other,
    /// `a=end-of-candidates`
    EndOfCandidates,
}

/// `<nettype> <addrtype> <address>` of `o=`, `c=` or `a=rtcp`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NetAddr {
    /// The `IP4`/`IP6` token, so a rewriter can switch families.
    pub addr_type: Span,
    /// The address without a multicast `/ttl[/n]` suffix.
    pub addr: Span,
    pub is_ip6: bool,
    /// The address as an IP literal of its stated family; None for FQDNs
    /// (and for `o=` lines whose type is not `IN IP4|IP6`).
    pub ip: Option<IpAddr>,
}

impl NetAddr {
    /// `0.0.0.0` (or `::`), the RFC 2543 way to put a stream on hold.
    pub fn is_unspecified(&self) -> bool {
        self.ip.is_some_and(|ip| ip.is_unspecified())
    }
}

/// One SDP line. `line` always covers the whole line including its terminator,
/// so dropping a line is skipping that span.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Line {
    /// `o=<user> <sess-id> <sess-version> <nettype> <addrtype> <addr>`.
    Origin {
        line: Span,
        /// Digits of sess-version, to be bumped when the body is rewritten.
        sess_version: Span,
        version: u64,
        net: NetAddr,
    },
    /// `c=IN IP4|IP6 <addr>`.
    Connection {
        line: Span,
        level: Level,
        net: NetAddr,
    },
    /// `m=<media> <port>[/<count>] <proto> <fmt>...`; starts media `index`.
    Media {
        line: Span,
        index: usize,
        media: Span,
        /// Port digits only, without `/count`.
        port: Span,
        port_value: u16,
        count: Option<u16>,
        proto: Span,
        /// From the first format to the end of the line's value.
        fmts: Span,
        /// Proto starts with `RTP/` or `UDP/TLS/RTP/` (not `udptl`, T.38).
        is_rtp: bool,
    },
    /// RFC 3605 `a=rtcp:<port> [IN IP4|IP6 <addr>]`.
    Rtcp {
        line: Span,
        level: Level,
        port: Span,
        port_value: u16,
        net: Option<NetAddr>,
    },
    /// RFC 5761 `a=rtcp-mux`.
    RtcpMux { line: Span, level: Level },
    Direction {
        line: Span,
        level: Level,
        dir: Direction,
    },
    Ice {
        line: Span,
        level: Level,
        kind: IceKind,
    },
    /// Anything else, including `v=`.
    Other { line: Span },
}

impl Line {
    /// The whole line including its terminator.
    pub fn span(&self) -> Span {
        match *self {
            Line::Origin { line, .. }
            | Line::Connection { line, .. }
            | Line::Media { line, .. }
            | Line::Rtcp { line, .. }
            | Line::RtcpMux { line, .. }
            | Line::Direction { line, .. }
            | Line::Ice { line, .. }
            | Line::Other { line } => line,
        }
    }
}

/// Iterator over the lines of a validated [`Sdp`](super::Sdp).
#[derive(Clone, Debug)]
pub struct Lines<'a> {
    pub(super) buf: &'a [u8],
    pub(super) pos: usize,
    pub(super) level: Level,
    pub(super) media: usize,
}

impl<'a> Lines<'a> {
    pub(super) fn new(buf: &'a [u8]) -> Self {
        Lines {
            buf,
            pos: 0,
            level: Level::Session,
            media: 0,
        }
    }

    pub(super) fn step(&mut self) -> Result<Option<Line>, SdpError> {
        let buf = self.buf;
        let start = self.pos;
        if start >= buf.len() {
            return Ok(None);
        }
        let (text_end, line_end) = match find(buf, start, b'\n') {
            Some(nl) => {
                let cr = nl > start && buf.get(nl.wrapping_sub(1)) == Some(&b'\r');
                (if cr { nl - 1 } else { nl }, nl.saturating_add(1))
            }
            None => (buf.len(), buf.len()),
        };
        let text = buf.get(start..text_end).unwrap_or_default();
        if text.is_empty() {
            // Trailing blank lines are common; a blank line mid-body is not SDP.
            let rest = buf.get(start..).unwrap_or_default();
            if rest.iter().all(|&b| b == b'\r' || b == b'\n') {
                self.pos = buf.len();
                return Ok(None);
            }
            return Err(SdpError::BadLine);
        }
        let (Some(&kind), Some(&b'=')) = (text.first(), text.get(1)) else {
            return Err(SdpError::BadLine);
        };
        if !kind.is_ascii_alphabetic() || text.iter().any(|&b| b == b'\r' || b == 0) {
            return Err(SdpError::BadLine);
        }
        let line = Span::new(start, line_end);
        let value = Span::new(start.saturating_add(2), text_end);
        let parsed = match kind {
            b'o' => origin(buf, line, value)?,
            b'c' => Line::Connection {
                line,
                level: self.level,
                net: connection(buf, value)?,
            },
            b'm' => {
                let index = self.media;
                let parsed = media(buf, line, value, index)?;
                self.media = index.saturating_add(1);
                self.level = Level::Media(index);
                parsed
            }
            b'a' => attribute(buf, line, value, self.level)?,
            _ => Line::Other { line },
        };
        self.pos = line_end;
        Ok(Some(parsed))
    }
}

impl Iterator for Lines<'_> {
    type Item = Line;

    fn next(&mut self) -> Option<Line> {
        match self.step() {
            Ok(line) => line,
            Err(_) => {
                // Only reachable on an unvalidated buffer; just stop.
                self.pos = self.buf.len();
                None
            }
        }
    }
}

/// Space-separated fields of `buf[span]`; runs of spaces count as one.
struct Fields<'a> {
    buf: &'a [u8],
    pos: usize,
    end: usize,
}

impl<'a> Fields<'a> {
    fn new(buf: &'a [u8], span: Span) -> Self {
        Fields {
            buf,
            pos: span.start,
            end: span.end.min(buf.len()),
        }
    }
}

impl Iterator for Fields<'_> {
    type Item = Span;

    fn next(&mut self) -> Option<Span> {
        let at = |i: usize| self.buf.get(i).copied();
        while self.pos < self.end && at(self.pos) == Some(b' ') {
            self.pos += 1;
        }
        if self.pos >= self.end {
            return None;
        }
        let start = self.pos;
        while self.pos < self.end && at(self.pos).is_some_and(|b| b != b' ') {
            self.pos += 1;
        }
        Some(Span::new(start, self.pos))
    }
}

/// Decimal digits only, at most `max`.
fn number(b: &[u8], max: u64) -> Option<u64> {
    if b.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for &d in b {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    (n <= max).then_some(n)
}

fn port(b: &[u8]) -> Option<u16> {
    number(b, u64::from(u16::MAX)).and_then(|n| u16::try_from(n).ok())
}

/// SDP writes addresses bare (RFC 4566 §5.7): no brackets, and of the
/// family its address type names.
fn parse_ip(is_ip6: bool, b: &[u8]) -> Option<IpAddr> {
    if b.first() == Some(&b'[') {
        return None;
    }
    crate::sip::parse_ip(b).filter(|ip| ip.is_ipv6() == is_ip6)
}

/// `IN IP4|IP6 <addr>[/ttl[/n]]` (IP6 multicast takes only `/n`).
fn net_addr(buf: &[u8], net: Span, addr_type: Span, addr: Span) -> Option<NetAddr> {
    if !net.of(buf).eq_ignore_ascii_case(b"IN") {
        return None;
    }
    let t = addr_type.of(buf);
    let is_ip6 = if t.eq_ignore_ascii_case(b"IP4") {
        false
    } else if t.eq_ignore_ascii_case(b"IP6") {
        true
    } else {
        return None;
    };
    let a = addr.of(buf);
    let host_len = a.iter().position(|&b| b == b'/').unwrap_or(a.len());
    let (host, suffix) = a.split_at_checked(host_len)?;
    if host.is_empty() {
        return None;
    }
    if let Some(suffix) = suffix.strip_prefix(b"/") {
        let max_parts = if is_ip6 { 1 } else { 2 };
        let mut parts = 0;
        for p in suffix.split(|&b| b == b'/') {
            parts += 1;
            if parts > max_parts || number(p, u64::from(u32::MAX)).is_none() {
                return None;
            }
        }
    }
    Some(NetAddr {
        addr_type,
        addr: Span::new(addr.start, addr.start.saturating_add(host_len)),
        is_ip6,
        ip: parse_ip(is_ip6, host),
    })
}

fn origin(buf: &[u8], line: Span, value: Span) -> Result<Line, SdpError> {
    let mut f = Fields::new(buf, value);
    let (Some(_user), Some(_id), Some(ver), Some(net), Some(addr_type), Some(addr), None) = (
        f.next(),
        f.next(),
        f.next(),
        f.next(),
        f.next(),
        f.next(),
        f.next(),
    ) else {
        return Err(SdpError::BadOrigin);
    };
    let version = number(ver.of(buf), u64::MAX).ok_or(SdpError::BadOrigin)?;
    // o= may legally use other network types; only IN IP4|IP6 is parsed.
    let net = net_addr(buf, net, addr_type, addr)
        .filter(|n| n.addr == addr)
        .unwrap_or(NetAddr {
            addr_type,
            addr,
            is_ip6: addr_type.of(buf).eq_ignore_ascii_case(b"IP6"),
            ip: None,
        });
    Ok(Line::Origin {
        line,
        sess_version: ver,
        version,
        net,
    })
}

fn connection(buf: &[u8], value: Span) -> Result<NetAddr, SdpError> {
    let mut f = Fields::new(buf, value);
    let (Some(net), Some(addr_type), Some(addr), None) = (f.next(), f.next(), f.next(), f.next())
    else {
        return Err(SdpError::BadConnection);
    };
    net_addr(buf, net, addr_type, addr).ok_or(SdpError::BadConnection)
}

fn media(buf: &[u8], line: Span, value: Span, index: usize) -> Result<Line, SdpError> {
    let mut f = Fields::new(buf, value);
    let (Some(media), Some(port_field), Some(proto), Some(first_fmt)) =
        (f.next(), f.next(), f.next(), f.next())
    else {
        return Err(SdpError::BadMedia);
    };
    let fmts = Span::new(first_fmt.start, f.last().unwrap_or(first_fmt).end);
    let pf = port_field.of(buf);
    let slash = pf.iter().position(|&b| b == b'/');
    let digits = slash.unwrap_or(pf.len());
    let port_value = port(pf.get(..digits).unwrap_or_default()).ok_or(SdpError::BadPort)?;
    let count = match slash {
        None => None,
        Some(s) => {
            let c = pf.get(s.saturating_add(1)..).unwrap_or_default();
            Some(port(c).filter(|&c| c > 0).ok_or(SdpError::BadPort)?)
        }
    };
    let p = proto.of(buf);
    let is_rtp = starts_with_ignore_case(p, b"RTP/") || starts_with_ignore_case(p, b"UDP/TLS/RTP/");
    Ok(Line::Media {
        line,
        index,
        media,
        port: Span::new(port_field.start, port_field.start.saturating_add(digits)),
        port_value,
        count,
        proto,
        fmts,
        is_rtp,
    })
}

fn starts_with_ignore_case(s: &[u8], prefix: &[u8]) -> bool {
    s.get(..prefix.len())
        .is_some_and(|h| h.eq_ignore_ascii_case(prefix))
}

fn attribute(buf: &[u8], line: Span, value: Span, level: Level) -> Result<Line, SdpError> {
    let v = value.of(buf);
    let colon = v.iter().position(|&b| b == b':');
    let name = colon.map_or(v, |c| v.get(..c).unwrap_or_default());
    let flag = colon.is_none();
    let dir = |dir| Line::Direction { line, level, dir };
    let ice = |kind| Line::Ice { line, level, kind };
    Ok(match name {
        b"rtcp" => {
            let c = colon.ok_or(SdpError::BadRtcp)?;
            rtcp(
                buf,
                line,
                level,
                Span::new(value.start.saturating_add(c).saturating_add(1), value.end),
            )?
        }
        b"rtcp-mux" if flag => Line::RtcpMux { line, level },
        b"sendrecv" if flag => dir(Direction::SendRecv),
        b"sendonly" if flag => dir(Direction::SendOnly),
        b"recvonly" if flag => dir(Direction::RecvOnly),
        b"inactive" if flag => dir(Direction::Inactive),
        b"candidate" => ice(IceKind::Candidate),
        b"remote-candidates" => ice(IceKind::RemoteCandidates),
        b"end-of-candidates" => ice(IceKind::EndOfCandidates),
        n if n.starts_with(b"ice-") => ice(IceKind::Other),
        _ => Line::Other { line },
    })
}

fn rtcp(buf: &[u8], line: Span, level: Level, value: Span) -> Result<Line, SdpError> {
    let mut f = Fields::new(buf, value);
    let port_span = f.next().ok_or(SdpError::BadRtcp)?;
    let port_value = port(port_span.of(buf)).ok_or(SdpError::BadPort)?;
    let net = match (f.next(), f.next(), f.next(), f.next()) {
        (None, ..) => None,
        (Some(n), Some(t), Some(a), None) => Some(net_addr(buf, n, t, a).ok_or(SdpError::BadRtcp)?),
        _ => return Err(SdpError::BadRtcp),
    };
    Ok(Line::Rtcp {
        line,
        level,
        port: port_span,
        port_value,
        net,
    })
}

// ---------------------------------------------------------------------------
// Per-media summaries.
