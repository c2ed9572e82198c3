//! SDP view for the NAT helper (RFC 4566, RFC 3264, RFC 3605, RFC 5761).
//!
//! [`find_sdp`] locates the SDP in a SIP body (plain or `multipart/*`),
//! [`Sdp::parse`] validates it once, and [`Sdp::lines`] / [`Sdp::media`] walk
//! it again without allocating. Everything is exposed as a [`Span`] into the
//! slice that was parsed, so a rewriter can copy untouched bytes and
//! substitute addresses and ports in one pass.
//!
//! Lenient on purpose: runs of spaces between fields, `LF`-only line ends, a
//! last line without terminator, trailing blank lines, and case-insensitive
//! `IN`/`IP4`/`IP6`. Anything else malformed is an [`SdpError`] (answer 488).

// Packet bytes are untrusted: keep every access checked.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use core::fmt;
use core::ops::Range;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Byte range into the slice given to [`Sdp::parse`]; `Copy`, unlike `Range`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub const fn new(start: usize, end: usize) -> Self {
        Span { start, end }
    }

    pub const fn range(self) -> Range<usize> {
        self.start..self.end
    }

    pub const fn len(self) -> usize {
        self.end.saturating_sub(self.start)
    }

    pub const fn is_empty(self) -> bool {
        self.end <= self.start
    }

    /// The bytes under the span; empty if it does not fit `buf`.
    pub fn of(self, buf: &[u8]) -> &[u8] {
        buf.get(self.range()).unwrap_or_default()
    }
}

impl From<Span> for Range<usize> {
    fn from(s: Span) -> Self {
        s.range()
    }
}

/// Why a body was refused; small and `Copy` so it can ride in a 488 path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SdpError {
    /// First line is not `v=0`.
    NoVersion,
    /// No `o=` line.
    MissingOrigin,
    /// `o=` without 6 fields, non-numeric version, repeated or after `m=`.
    BadOrigin,
    /// A line that is not `<letter>=<value>` (or has a stray CR/NUL, or is blank).
    BadLine,
    /// `c=` is not `IN IP4|IP6 <addr>[/ttl[/n]]`.
    BadConnection,
    /// `m=` lacks media, port, proto or a format.
    BadMedia,
    /// A port (or port count) that is not a number in range.
    BadPort,
    /// `a=rtcp` without a port, or with a bad address part.
    BadRtcp,
    /// `multipart/*` without boundary, without close delimiter, or unparsable.
    BadMultipart,
    /// More than one `application/sdp` part.
    MultipleSdp,
}

impl fmt::Display for SdpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SdpError::NoVersion => "SDP does not start with v=0",
            SdpError::MissingOrigin => "SDP has no o= line",
            SdpError::BadOrigin => "malformed SDP o= line",
            SdpError::BadLine => "malformed SDP line",
            SdpError::BadConnection => "malformed SDP c= line",
            SdpError::BadMedia => "malformed SDP m= line",
            SdpError::BadPort => "bad port in SDP",
            SdpError::BadRtcp => "malformed SDP a=rtcp",
            SdpError::BadMultipart => "malformed multipart body",
            SdpError::MultipleSdp => "more than one SDP body part",
        })
    }
}

impl std::error::Error for SdpError {}

// ---------------------------------------------------------------------------
// Locating the SDP in a SIP body.

/// Span of the SDP inside `body`, given the SIP Content-Type header value.
///
/// Absent/empty Content-Type or `application/sdp` means the whole body;
/// `multipart/*` is searched for its single `application/sdp` part (nested
/// multiparts are not descended into); other types, or an empty SDP, give
/// `None`.
pub fn find_sdp(
    content_type: Option<&[u8]>,
    body: &[u8],
) -> Result<Option<Range<usize>>, SdpError> {
    let ct = content_type.unwrap_or_default().trim_ascii();
    let whole = (!body.is_empty()).then_some(0..body.len());
    if ct.is_empty() {
        return Ok(whole);
    }
    let Some((ty, sub, params)) = media_type(ct) else {
        return Ok(None);
    };
    if is_sdp_type(ty, sub) {
        return Ok(whole);
    }
    if !ty.eq_ignore_ascii_case(b"multipart") {
        return Ok(None);
    }
    let boundary = param(params, b"boundary").ok_or(SdpError::BadMultipart)?;
    // Quoted-pair escapes cannot occur in a valid boundary (RFC 2046 bchars).
    if boundary.is_empty() || boundary.contains(&b'\\') {
        return Err(SdpError::BadMultipart);
    }
    multipart_sdp(body, boundary)
}

fn is_sdp_type(ty: &[u8], sub: &[u8]) -> bool {
    ty.eq_ignore_ascii_case(b"application") && sub.eq_ignore_ascii_case(b"sdp")
}

/// Splits `type/subtype;params` into trimmed type, subtype and raw params.
fn media_type(v: &[u8]) -> Option<(&[u8], &[u8], &[u8])> {
    let semi = v.iter().position(|&b| b == b';').unwrap_or(v.len());
    let (mt, params) = v.split_at_checked(semi)?;
    let slash = mt.iter().position(|&b| b == b'/')?;
    let (ty, sub) = mt.split_at_checked(slash)?;
    let sub = sub.get(1..)?;
    Some((ty.trim_ascii(), sub.trim_ascii(), params))
}

/// Value of parameter `name` in `; a=b; c="d"`, unquoted; None if absent or
/// the list is malformed.
fn param<'p>(mut p: &'p [u8], name: &[u8]) -> Option<&'p [u8]> {
    loop {
        p = p.trim_ascii_start().strip_prefix(b";")?.trim_ascii_start();
        let n_end = p
            .iter()
            .position(|&b| b == b'=' || b == b';')
            .unwrap_or(p.len());
        let (n, rest) = p.split_at_checked(n_end)?;
        let Some(rest) = rest.strip_prefix(b"=") else {
            p = rest; // valueless parameter
            continue;
        };
        let rest = rest.trim_ascii_start();
        let (value, after) = if let Some(q) = rest.strip_prefix(b"\"") {
            let close = quoted_end(q)?;
            (q.get(..close)?, q.get(close.checked_add(1)?..)?)
        } else {
            let end = rest
                .iter()
                .position(|&b| b == b';' || b.is_ascii_whitespace())
                .unwrap_or(rest.len());
            rest.split_at_checked(end)?
        };
        if n.trim_ascii().eq_ignore_ascii_case(name) {
            return Some(value);
        }
        p = after;
    }
}

/// Index of the closing quote, skipping quoted-pairs.
fn quoted_end(q: &[u8]) -> Option<usize> {
    let mut i = 0;
    while let Some(&b) = q.get(i) {
        match b {
            b'"' => return Some(i),
            b'\\' => i = i.checked_add(2)?,
            _ => i = i.checked_add(1)?,
        }
    }
    None
}

/// Walks the RFC 2046 delimiter lines and returns the one SDP part's content.
fn multipart_sdp(body: &[u8], boundary: &[u8]) -> Result<Option<Range<usize>>, SdpError> {
    let mut pos = 0;
    let mut part: Option<usize> = None;
    let mut found: Option<Range<usize>> = None;
    while pos < body.len() {
        let line_end = find(body, pos, b'\n').map_or(body.len(), |nl| nl.saturating_add(1));
        let line = body.get(pos..line_end).unwrap_or_default();
        if let Some(close) = delimiter(line, boundary) {
            if let Some(start) = part {
                // The line break before a delimiter belongs to the delimiter.
                let mut end = pos;
                if end > start && body.get(end.wrapping_sub(1)) == Some(&b'\n') {
                    end -= 1;
                    if end > start && body.get(end.wrapping_sub(1)) == Some(&b'\r') {
                        end -= 1;
                    }
                }
                if let Some(content) = sdp_part(body, start, end) {
                    if found.is_some() {
                        return Err(SdpError::MultipleSdp);
                    }
                    found = Some(content);
                }
            }
            if close {
                return Ok(found.filter(|r| !r.is_empty()));
            }
            part = Some(line_end);
        }
        pos = line_end;
    }
    Err(SdpError::BadMultipart)
}

/// `Some(is_close)` if `line` is `--boundary[--]` plus padding and line end.
fn delimiter(line: &[u8], boundary: &[u8]) -> Option<bool> {
    let rest = line.strip_prefix(b"--")?.strip_prefix(boundary)?;
    let (close, rest) = match rest.strip_prefix(b"--") {
        Some(r) => (true, r),
        None => (false, rest),
    };
    let rest = rest.strip_suffix(b"\n").unwrap_or(rest);
    let rest = rest.strip_suffix(b"\r").unwrap_or(rest);
    rest.iter()
        .all(|&b| b == b' ' || b == b'\t')
        .then_some(close)
}

/// Content range of the part `body[start..end]` if its type is application/sdp.
/// A part without Content-Type is text/plain (RFC 2046) and is skipped.
fn sdp_part(body: &[u8], start: usize, end: usize) -> Option<Range<usize>> {
    let mut pos = start;
    let mut ct: Option<Span> = None;
    let mut in_ct = false;
    let content = loop {
        if pos >= end {
            break end; // headers only, no content
        }
        let nl = find(body, pos, b'\n').filter(|&nl| nl < end);
        let line_end = nl.map_or(end, |nl| nl.saturating_add(1));
        let text = body.get(pos..line_end).unwrap_or_default().trim_ascii_end();
        if text.is_empty() {
            break line_end;
        }
        let text_end = pos.saturating_add(text.len());
        if text.first().is_some_and(|&b| b == b' ' || b == b'\t') {
            // Folded header: extend the value if it is Content-Type's.
            if let (true, Some(s)) = (in_ct, ct.as_mut()) {
                s.end = text_end;
            }
        } else if let Some(colon) = text.iter().position(|&b| b == b':') {
            let name = text.get(..colon).unwrap_or_default().trim_ascii();
            in_ct = name.eq_ignore_ascii_case(b"content-type");
            if in_ct {
                ct = Some(Span::new(
                    pos.saturating_add(colon).saturating_add(1),
                    text_end,
                ));
            }
        } else {
            in_ct = false;
        }
        pos = line_end;
    };
    let (ty, sub, _) = media_type(ct?.of(body).trim_ascii())?;
    is_sdp_type(ty, sub).then_some(content..end.max(content))
}

fn find(buf: &[u8], from: usize, byte: u8) -> Option<usize> {
    let i = buf.get(from..)?.iter().position(|&b| b == byte)?;
    from.checked_add(i)
}

// ---------------------------------------------------------------------------
// Line view.

/// Where a line sits: before the first `m=`, or in media section `n` (0-based).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

/// A validated SDP body. Cheap to copy around; re-walks `buf` on demand.
#[derive(Clone, Copy, Debug)]
pub struct Sdp<'a> {
    buf: &'a [u8],
    session_conn: Option<NetAddr>,
    session_dir: Option<Direction>,
    media_count: usize,
}

impl<'a> Sdp<'a> {
    /// Validates the whole body; afterwards the iterators cannot fail.
    pub fn parse(buf: &'a [u8]) -> Result<Self, SdpError> {
        let first_ok = buf == b"v=0" || buf.starts_with(b"v=0\n") || buf.starts_with(b"v=0\r\n");
        if !first_ok {
            return Err(SdpError::NoVersion);
        }
        let mut lines = Lines::new(buf);
        let mut origin = false;
        let mut session_conn = None;
        let mut session_dir = None;
        while let Some(line) = lines.step()? {
            match line {
                Line::Origin { .. } => {
                    if origin || lines.level != Level::Session {
                        return Err(SdpError::BadOrigin);
                    }
                    origin = true;
                }
                Line::Connection {
                    level: Level::Session,
                    net,
                    ..
                } => {
                    session_conn.get_or_insert(net);
                }
                Line::Direction {
                    level: Level::Session,
                    dir,
                    ..
                } => {
                    session_dir.get_or_insert(dir);
                }
                _ => {}
            }
        }
        if !origin {
            return Err(SdpError::MissingOrigin);
        }
        Ok(Sdp {
            buf,
            session_conn,
            session_dir,
            media_count: lines.media,
        })
    }

    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }

    pub fn lines(&self) -> Lines<'a> {
        Lines::new(self.buf)
    }

    /// Per-media summaries in order; check [`Sdp::media_count`] against a
    /// fixed capacity before collecting.
    pub fn media(&self) -> Medias<'a> {
        Medias {
            lines: self.lines(),
            session_conn: self.session_conn,
            session_dir: self.session_dir,
        }
    }

    pub fn media_count(&self) -> usize {
        self.media_count
    }

    /// First session-level `c=`.
    pub fn session_connection(&self) -> Option<NetAddr> {
        self.session_conn
    }

    /// First session-level direction attribute, if any.
    pub fn session_direction(&self) -> Option<Direction> {
        self.session_dir
    }
}

/// Iterator over the lines of a validated [`Sdp`].
#[derive(Clone, Debug)]
pub struct Lines<'a> {
    buf: &'a [u8],
    pos: usize,
    level: Level,
    media: usize,
}

impl<'a> Lines<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Lines {
            buf,
            pos: 0,
            level: Level::Session,
            media: 0,
        }
    }

    fn step(&mut self) -> Result<Option<Line>, SdpError> {
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

fn parse_ip(is_ip6: bool, b: &[u8]) -> Option<IpAddr> {
    let s = core::str::from_utf8(b).ok()?;
    if is_ip6 {
        s.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
    } else {
        s.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
    }
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

/// One media section with its effective (RFC 4566/3264) settings resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MediaInfo {
    pub index: usize,
    /// The `m=` line.
    pub line: Span,
    /// From the `m=` line to the next `m=` line or the end of the body.
    pub section: Span,
    pub media: Span,
    pub port: Span,
    pub port_value: u16,
    pub count: Option<u16>,
    pub proto: Span,
    pub is_rtp: bool,
    /// First media-level `c=`, else the session-level one.
    pub conn: Option<NetAddr>,
    pub rtcp_mux: bool,
    /// First `a=rtcp` of the section.
    pub rtcp_port: Option<u16>,
    pub rtcp_addr: Option<NetAddr>,
    /// Media-level, else session-level, else `SendRecv`.
    pub direction: Direction,
}

impl MediaInfo {
    /// Port 0: a rejected or removed stream (RFC 3264 §6).
    pub fn is_disabled(&self) -> bool {
        self.port_value == 0
    }

    /// `c=IN IP4 0.0.0.0`, the RFC 2543 hold.
    pub fn is_old_hold(&self) -> bool {
        self.conn.is_some_and(|c| c.is_unspecified())
    }
}

/// Iterator over [`MediaInfo`]; see [`Sdp::media`].
#[derive(Clone, Debug)]
pub struct Medias<'a> {
    lines: Lines<'a>,
    session_conn: Option<NetAddr>,
    session_dir: Option<Direction>,
}

impl Iterator for Medias<'_> {
    type Item = MediaInfo;

    fn next(&mut self) -> Option<MediaInfo> {
        let mut info = loop {
            if let Line::Media {
                line,
                index,
                media,
                port,
                port_value,
                count,
                proto,
                is_rtp,
                ..
            } = self.lines.next()?
            {
                break MediaInfo {
                    index,
                    line,
                    section: line,
                    media,
                    port,
                    port_value,
                    count,
                    proto,
                    is_rtp,
                    conn: None,
                    rtcp_mux: false,
                    rtcp_port: None,
                    rtcp_addr: None,
                    direction: Direction::SendRecv,
                };
            }
        };
        let mut dir = None;
        loop {
            let before = self.lines.clone();
            match self.lines.next() {
                None => break,
                Some(Line::Media { .. }) => {
                    self.lines = before; // leave the next m= for the next call
                    break;
                }
                Some(Line::Connection { net, .. }) => {
                    info.conn.get_or_insert(net);
                }
                Some(Line::Rtcp {
                    port_value, net, ..
                }) => {
                    if info.rtcp_port.is_none() {
                        info.rtcp_port = Some(port_value);
                        info.rtcp_addr = net;
                    }
                }
                Some(Line::RtcpMux { .. }) => info.rtcp_mux = true,
                Some(Line::Direction { dir: d, .. }) => {
                    dir.get_or_insert(d);
                }
                Some(_) => {}
            }
        }
        info.section.end = self.lines.pos;
        info.conn = info.conn.or(self.session_conn);
        info.direction = dir.or(self.session_dir).unwrap_or_default();
        Some(info)
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used, clippy::panic)]
mod test {
    use super::*;

    fn b(buf: &[u8], s: Span) -> &[u8] {
        &buf[s.range()]
    }

    fn lines_of(buf: &[u8]) -> Vec<Line> {
        Sdp::parse(buf).unwrap().lines().collect()
    }

    fn infos(buf: &[u8]) -> Vec<MediaInfo> {
        Sdp::parse(buf).unwrap().media().collect()
    }

    fn err(buf: &[u8]) -> SdpError {
        Sdp::parse(buf).unwrap_err()
    }

    const OFFER: &[u8] = b"v=0\r\n\
o=alice 2890844526 2890844527 IN IP4 192.0.2.10\r\n\
s=-\r\n\
c=IN IP4 192.0.2.10\r\n\
t=0 0\r\n\
m=audio 49170 RTP/AVP 0 8 101\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=sendrecv\r\n";

    #[test]
    fn typical_audio_offer() {
        let sdp = Sdp::parse(OFFER).unwrap();
        assert_eq!(sdp.media_count(), 1);
        let ls: Vec<Line> = sdp.lines().collect();
        assert_eq!(ls.len(), 8);
        // Line spans tile the buffer exactly, terminators included.
        let mut at = 0;
        for l in &ls {
            assert_eq!(l.span().start, at);
            assert!(b(OFFER, l.span()).ends_with(b"\r\n"));
            at = l.span().end;
        }
        assert_eq!(at, OFFER.len());
        assert_eq!(b(OFFER, ls[0].span()), b"v=0\r\n");
        let Line::Origin {
            line,
            sess_version,
            version,
            net,
        } = ls[1]
        else {
            panic!("{:?}", ls[1])
        };
        assert!(b(OFFER, line).starts_with(b"o=alice"));
        assert_eq!(b(OFFER, sess_version), b"2890844527");
        assert_eq!(version, 2890844527);
        assert_eq!(b(OFFER, net.addr), b"192.0.2.10");
        assert_eq!(b(OFFER, net.addr_type), b"IP4");
        assert_eq!(net.ip, Some("192.0.2.10".parse().unwrap()));
        let Line::Connection { line, level, net } = ls[3] else {
            panic!()
        };
        assert_eq!(b(OFFER, line), b"c=IN IP4 192.0.2.10\r\n");
        assert_eq!(level, Level::Session);
        assert_eq!(b(OFFER, net.addr), b"192.0.2.10");
        assert!(!net.is_ip6 && !net.is_unspecified());
        let Line::Media {
            line,
            index,
            media,
            port,
            port_value,
            count,
            proto,
            fmts,
            is_rtp,
        } = ls[5]
        else {
            panic!()
        };
        assert_eq!(b(OFFER, line), b"m=audio 49170 RTP/AVP 0 8 101\r\n");
        assert_eq!(index, 0);
        assert_eq!(b(OFFER, media), b"audio");
        assert_eq!(b(OFFER, port), b"49170");
        assert_eq!(port_value, 49170);
        assert_eq!(count, None);
        assert_eq!(b(OFFER, proto), b"RTP/AVP");
        assert_eq!(b(OFFER, fmts), b"0 8 101");
        assert!(is_rtp);
        assert!(matches!(ls[6], Line::Other { .. }));
        assert_eq!(
            ls[7],
            Line::Direction {
                line: ls[7].span(),
                level: Level::Media(0),
                dir: Direction::SendRecv
            }
        );

        let m = infos(OFFER);
        assert_eq!(m.len(), 1);
        let m = m[0];
        assert_eq!(b(OFFER, m.line), b"m=audio 49170 RTP/AVP 0 8 101\r\n");
        assert_eq!(m.section.start, m.line.start);
        assert_eq!(m.section.end, OFFER.len());
        assert_eq!(b(OFFER, m.conn.unwrap().addr), b"192.0.2.10");
        assert_eq!(b(OFFER, m.port), b"49170");
        assert_eq!(m.direction, Direction::SendRecv);
        assert!(m.is_rtp && !m.rtcp_mux && m.rtcp_port.is_none());
        assert!(!m.is_disabled() && !m.is_old_hold());
    }

    #[test]
    fn session_and_media_level_connection() {
        let buf = b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 198.51.100.1\r\nt=0 0\r\n\
m=audio 5000 RTP/AVP 0\r\nc=IN IP4 203.0.113.7\r\n\
m=video 5002 RTP/AVP 31\r\n";
        let ls = lines_of(buf);
        let conns: Vec<(Level, &[u8])> = ls
            .iter()
            .filter_map(|l| match *l {
                Line::Connection { level, net, .. } => Some((level, b(buf, net.addr))),
                _ => None,
            })
            .collect();
        assert_eq!(
            conns,
            [
                (Level::Session, &b"198.51.100.1"[..]),
                (Level::Media(0), &b"203.0.113.7"[..])
            ]
        );
        let m = infos(buf);
        assert_eq!(m.len(), 2);
        assert_eq!(b(buf, m[0].conn.unwrap().addr), b"203.0.113.7");
        assert_eq!(b(buf, m[1].conn.unwrap().addr), b"198.51.100.1");
        assert_eq!(
            b(buf, m[0].section),
            b"m=audio 5000 RTP/AVP 0\r\nc=IN IP4 203.0.113.7\r\n"
        );
        assert_eq!(b(buf, m[1].section), b"m=video 5002 RTP/AVP 31\r\n");
        assert_eq!(m[1].index, 1);
        let sdp = Sdp::parse(buf).unwrap();
        assert_eq!(
            b(buf, sdp.session_connection().unwrap().addr),
            b"198.51.100.1"
        );
    }

    #[test]
    fn no_connection_at_all() {
        let buf = b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nm=audio 5000 RTP/AVP 0\r\n";
        assert_eq!(infos(buf)[0].conn, None);
    }

    #[test]
    fn ipv6_connection() {
        let buf = b"v=0\r\no=- 1 1 IN IP6 2001:db8::2\r\ns=-\r\nc=IN IP6 2001:db8::1\r\nt=0 0\r\n\
m=audio 5000 RTP/AVP 0\r\n";
        let ls = lines_of(buf);
        let Line::Origin { net, .. } = ls[1] else {
            panic!()
        };
        assert!(net.is_ip6);
        assert_eq!(b(buf, net.addr), b"2001:db8::2");
        assert_eq!(net.ip, Some("2001:db8::2".parse().unwrap()));
        let Line::Connection { net, .. } = ls[3] else {
            panic!()
        };
        assert!(net.is_ip6);
        assert_eq!(b(buf, net.addr_type), b"IP6");
        assert_eq!(b(buf, net.addr), b"2001:db8::1");
        assert_eq!(net.ip, Some("2001:db8::1".parse().unwrap()));
    }

    #[test]
    fn fqdn_and_multicast_addresses() {
        let buf =
            b"v=0\r\no=- 1 1 IN IP4 host.example\r\ns=-\r\nc=IN IP4 224.2.1.1/127/3\r\nt=0 0\r\n\
m=audio 5000 RTP/AVP 0\r\nc=IN IP6 FF15::101/3\r\nc=IN IP4 media.example\r\n";
        let ls = lines_of(buf);
        let Line::Origin { net, .. } = ls[1] else {
            panic!()
        };
        assert_eq!(b(buf, net.addr), b"host.example");
        assert_eq!(net.ip, None);
        let addrs: Vec<(&[u8], Option<IpAddr>)> = ls
            .iter()
            .filter_map(|l| match *l {
                Line::Connection { net, .. } => Some((b(buf, net.addr), net.ip)),
                _ => None,
            })
            .collect();
        assert_eq!(
            addrs,
            [
                (&b"224.2.1.1"[..], Some("224.2.1.1".parse().unwrap())),
                (&b"FF15::101"[..], Some("ff15::101".parse().unwrap())),
                (&b"media.example"[..], None),
            ]
        );
        let bad = |c: &str| {
            let s = format!("v=0\r\no=- 1 1 IN IP4 h\r\nc={c}\r\n");
            Sdp::parse(s.as_bytes()).unwrap_err()
        };
        assert_eq!(bad("IN IP4 224.2.1.1/x"), SdpError::BadConnection);
        assert_eq!(bad("IN IP4 224.2.1.1/1/2/3"), SdpError::BadConnection);
        assert_eq!(bad("IN IP6 ff15::1/1/2"), SdpError::BadConnection);
        assert_eq!(bad("IN IP4 /127"), SdpError::BadConnection);
    }

    #[test]
    fn port_zero_stream() {
        let buf = b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
m=audio 5000 RTP/AVP 0\r\nm=video 0 RTP/AVP 31\r\n";
        let m = infos(buf);
        assert!(!m[0].is_disabled());
        assert!(m[1].is_disabled());
        assert_eq!(b(buf, m[1].port), b"0");
        assert_eq!(b(buf, m[1].media), b"video");
    }

    #[test]
    fn old_style_hold() {
        let buf = b"v=0\r\no=- 1 2 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n\
m=audio 5000 RTP/AVP 0\r\n";
        let ls = lines_of(buf);
        let Line::Connection { net, .. } = ls[3] else {
            panic!()
        };
        assert_eq!(b(buf, net.addr), b"0.0.0.0");
        assert!(net.is_unspecified());
        assert!(infos(buf)[0].is_old_hold());
    }

    #[test]
    fn rtcp_attribute() {
        let buf = b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
m=audio 49170 RTP/AVP 0\r\na=rtcp:53020\r\n\
m=audio 49172 RTP/AVP 0\r\na=rtcp:53020 IN IP4 126.16.64.4\r\n\
m=audio 49174 RTP/AVP 0\r\na=rtcp:9 IN IP6 ::1\r\na=rtcp-fb:* nack\r\n";
        let rt: Vec<Line> = lines_of(buf)
            .into_iter()
            .filter(|l| matches!(l, Line::Rtcp { .. }))
            .collect();
        assert_eq!(rt.len(), 3);
        let Line::Rtcp {
            line,
            level,
            port,
            port_value,
            net,
        } = rt[0]
        else {
            panic!()
        };
        assert_eq!(b(buf, line), b"a=rtcp:53020\r\n");
        assert_eq!(level, Level::Media(0));
        assert_eq!(b(buf, port), b"53020");
        assert_eq!(port_value, 53020);
        assert_eq!(net, None);
        let Line::Rtcp { port, net, .. } = rt[1] else {
            panic!()
        };
        assert_eq!(b(buf, port), b"53020");
        let net = net.unwrap();
        assert_eq!(b(buf, net.addr), b"126.16.64.4");
        assert_eq!(b(buf, net.addr_type), b"IP4");
        assert_eq!(net.ip, Some("126.16.64.4".parse().unwrap()));
        let Line::Rtcp {
            port_value, net, ..
        } = rt[2]
        else {
            panic!()
        };
        assert_eq!(port_value, 9);
        assert!(net.unwrap().is_ip6);
        assert_eq!(b(buf, net.unwrap().addr), b"::1");

        let m = infos(buf);
        assert_eq!(m[0].rtcp_port, Some(53020));
        assert_eq!(m[0].rtcp_addr, None);
        assert_eq!(b(buf, m[1].rtcp_addr.unwrap().addr), b"126.16.64.4");
        assert_eq!(m[2].rtcp_port, Some(9));
    }

    #[test]
    fn rtcp_mux() {
        let buf = b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
m=audio 49170 RTP/AVP 0\r\na=rtcp-mux\r\nm=video 49172 RTP/AVP 31\r\na=rtcp-mux-only\r\n";
        let ls = lines_of(buf);
        assert_eq!(
            ls[6],
            Line::RtcpMux {
                line: ls[6].span(),
                level: Level::Media(0)
            }
        );
        assert_eq!(b(buf, ls[6].span()), b"a=rtcp-mux\r\n");
        assert!(matches!(ls[8], Line::Other { .. }));
        let m = infos(buf);
        assert!(m[0].rtcp_mux);
        assert!(!m[1].rtcp_mux);
    }

    #[test]
    fn directions() {
        let buf = b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
a=sendonly\r\n\
m=audio 1000 RTP/AVP 0\r\n\
m=audio 1002 RTP/AVP 0\r\na=recvonly\r\n\
m=audio 1004 RTP/AVP 0\r\na=inactive\r\n\
m=audio 1006 RTP/AVP 0\r\na=sendrecv\r\n";
        let sdp = Sdp::parse(buf).unwrap();
        assert_eq!(sdp.session_direction(), Some(Direction::SendOnly));
        let ls: Vec<Line> = sdp.lines().collect();
        assert_eq!(
            ls[5],
            Line::Direction {
                line: ls[5].span(),
                level: Level::Session,
                dir: Direction::SendOnly
            }
        );
        assert_eq!(b(buf, ls[5].span()), b"a=sendonly\r\n");
        let dirs: Vec<Direction> = sdp.media().map(|m| m.direction).collect();
        assert_eq!(
            dirs,
            [
                Direction::SendOnly,
                Direction::RecvOnly,
                Direction::Inactive,
                Direction::SendRecv
            ]
        );
        // No attribute anywhere: sendrecv.
        assert_eq!(infos(OFFER)[0].direction, Direction::SendRecv);
        let plain = b"v=0\r\no=- 1 1 IN IP4 h\r\nm=audio 1 RTP/AVP 0\r\n";
        assert_eq!(infos(plain)[0].direction, Direction::SendRecv);
        let ls = lines_of(b"v=0\r\no=- 1 1 IN IP4 h\r\na=inactive\r\na=sendonly:x\r\n");
        assert!(matches!(
            ls[2],
            Line::Direction {
                level: Level::Session,
                dir: Direction::Inactive,
                ..
            }
        ));
        assert!(matches!(ls[3], Line::Other { .. }));
    }

    #[test]
    fn ice_lines() {
        let buf = b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
a=ice-lite\r\na=ice-options:trickle\r\n\
m=audio 49170 RTP/AVP 0\r\n\
a=ice-ufrag:8hhY\r\na=ice-pwd:asd88fgpdd777uzjYhagZg\r\n\
a=candidate:1 1 UDP 2130706431 10.0.1.1 8998 typ host\r\n\
a=remote-candidates:1 192.0.2.3 45664\r\n\
a=end-of-candidates\r\n\
a=icecream\r\n";
        let ls = lines_of(buf);
        let ice: Vec<(Level, IceKind, &[u8])> = ls
            .iter()
            .filter_map(|l| match *l {
                Line::Ice { line, level, kind } => Some((level, kind, b(buf, line))),
                _ => None,
            })
            .collect();
        assert_eq!(
            ice,
            [
                (Level::Session, IceKind::Other, &b"a=ice-lite\r\n"[..]),
                (
                    Level::Session,
                    IceKind::Other,
                    &b"a=ice-options:trickle\r\n"[..]
                ),
                (
                    Level::Media(0),
                    IceKind::Other,
                    &b"a=ice-ufrag:8hhY\r\n"[..]
                ),
                (
                    Level::Media(0),
                    IceKind::Other,
                    &b"a=ice-pwd:asd88fgpdd777uzjYhagZg\r\n"[..]
                ),
                (
                    Level::Media(0),
                    IceKind::Candidate,
                    &b"a=candidate:1 1 UDP 2130706431 10.0.1.1 8998 typ host\r\n"[..]
                ),
                (
                    Level::Media(0),
                    IceKind::RemoteCandidates,
                    &b"a=remote-candidates:1 192.0.2.3 45664\r\n"[..]
                ),
                (
                    Level::Media(0),
                    IceKind::EndOfCandidates,
                    &b"a=end-of-candidates\r\n"[..]
                ),
            ]
        );
        assert!(matches!(ls.last(), Some(Line::Other { .. })));
        // Stripping = copying everything outside the ICE spans.
        let mut out = Vec::new();
        for l in &ls {
            if !matches!(l, Line::Ice { .. }) {
                out.extend_from_slice(b(buf, l.span()));
            }
        }
        assert!(Sdp::parse(&out).is_ok());
        assert!(!out.windows(4).any(|w| w == b"ice-"));
        assert!(!out.windows(10).any(|w| w == b"candidate:"));
    }

    #[test]
    fn t38_image() {
        let buf = b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
m=image 49170 udptl t38\r\nm=audio 3000 UDP/TLS/RTP/SAVPF 111\r\n";
        let m = infos(buf);
        assert_eq!(b(buf, m[0].media), b"image");
        assert_eq!(b(buf, m[0].proto), b"udptl");
        assert_eq!(b(buf, m[0].port), b"49170");
        assert!(!m[0].is_rtp);
        assert!(m[1].is_rtp);
        assert_eq!(b(buf, m[1].proto), b"UDP/TLS/RTP/SAVPF");
    }

    #[test]
    fn port_count() {
        let buf = b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
m=audio 49170/2 RTP/AVP 0\r\n";
        let ls = lines_of(buf);
        let Line::Media {
            port,
            port_value,
            count,
            ..
        } = ls[5]
        else {
            panic!()
        };
        assert_eq!(b(buf, port), b"49170");
        assert_eq!(port_value, 49170);
        assert_eq!(count, Some(2));
        assert_eq!(infos(buf)[0].count, Some(2));
        assert_eq!(
            err(b"v=0\r\no=- 1 1 IN IP4 h\r\nm=audio 49170/0 RTP/AVP 0\r\n"),
            SdpError::BadPort
        );
        assert_eq!(
            err(b"v=0\r\no=- 1 1 IN IP4 h\r\nm=audio 49170/ RTP/AVP 0\r\n"),
            SdpError::BadPort
        );
    }

    #[test]
    fn lf_only_and_unterminated_last_line() {
        let buf = b"v=0\no=- 7 8 IN IP4 10.0.0.1\ns=-\nc=IN IP4 10.0.0.9\nt=0 0\nm=audio 4000 RTP/AVP 0\na=rtcp:4001";
        let ls = lines_of(buf);
        assert_eq!(ls.len(), 7);
        assert_eq!(b(buf, ls[0].span()), b"v=0\n");
        assert_eq!(b(buf, ls[3].span()), b"c=IN IP4 10.0.0.9\n");
        let Line::Connection { net, .. } = ls[3] else {
            panic!()
        };
        assert_eq!(b(buf, net.addr), b"10.0.0.9");
        let Line::Rtcp { line, port, .. } = ls[6] else {
            panic!()
        };
        assert_eq!(b(buf, line), b"a=rtcp:4001");
        assert_eq!(b(buf, port), b"4001");
        let m = infos(buf);
        assert_eq!(b(buf, m[0].port), b"4000");
        assert_eq!(m[0].rtcp_port, Some(4001));
        assert_eq!(m[0].section.end, buf.len());
        assert!(Sdp::parse(b"v=0").is_err()); // no o=
    }

    #[test]
    fn trailing_blank_lines_and_spaces() {
        let buf = b"v=0\r\no=-  1 1 IN IP4 10.0.0.1 \r\nc=IN  IP4   10.0.0.2\r\nm=audio  5000  RTP/AVP  0 \r\n\r\n\r\n";
        let sdp = Sdp::parse(buf).unwrap();
        let ls: Vec<Line> = sdp.lines().collect();
        assert_eq!(ls.len(), 4);
        let Line::Connection { net, .. } = ls[2] else {
            panic!()
        };
        assert_eq!(b(buf, net.addr), b"10.0.0.2");
        let m = sdp.media().next().unwrap();
        assert_eq!(b(buf, m.port), b"5000");
        assert_eq!(m.section.end, buf.len());
        // Blank line in the middle is not tolerated.
        assert_eq!(
            err(b"v=0\r\no=- 1 1 IN IP4 h\r\n\r\ns=-\r\n"),
            SdpError::BadLine
        );
    }

    #[test]
    fn malformed() {
        let o = "o=- 1 1 IN IP4 10.0.0.1\r\n";
        let e = |s: &str| Sdp::parse(s.as_bytes()).unwrap_err();
        // Version.
        assert_eq!(e(""), SdpError::NoVersion);
        assert_eq!(e(&format!("{o}v=0\r\n")), SdpError::NoVersion);
        assert_eq!(e(&format!("v=1\r\n{o}")), SdpError::NoVersion);
        assert_eq!(e(&format!("v=01\r\n{o}")), SdpError::NoVersion);
        assert_eq!(e(&format!("\r\nv=0\r\n{o}")), SdpError::NoVersion);
        // Origin.
        assert_eq!(
            e("v=0\r\ns=-\r\nc=IN IP4 1.2.3.4\r\n"),
            SdpError::MissingOrigin
        );
        assert_eq!(e("v=0\r\no=- 1 1 IN IP4\r\n"), SdpError::BadOrigin);
        assert_eq!(e("v=0\r\no=- 1 1 IN IP4 h extra\r\n"), SdpError::BadOrigin);
        assert_eq!(e("v=0\r\no=- 1 x IN IP4 h\r\n"), SdpError::BadOrigin);
        assert_eq!(
            e("v=0\r\no=- 1 99999999999999999999 IN IP4 h\r\n"),
            SdpError::BadOrigin
        );
        assert_eq!(e(&format!("v=0\r\n{o}{o}")), SdpError::BadOrigin);
        assert_eq!(
            e(&format!("v=0\r\nm=audio 1 RTP/AVP 0\r\n{o}")),
            SdpError::BadOrigin
        );
        // Line syntax.
        assert_eq!(e(&format!("v=0\r\n{o}s\r\n")), SdpError::BadLine);
        assert_eq!(e(&format!("v=0\r\n{o}s-x\r\n")), SdpError::BadLine);
        assert_eq!(e(&format!("v=0\r\n{o}=x\r\n")), SdpError::BadLine);
        assert_eq!(e(&format!("v=0\r\n{o}1=x\r\n")), SdpError::BadLine);
        assert_eq!(e(&format!("v=0\r\n{o}s=a\rb\r\n")), SdpError::BadLine);
        assert_eq!(e(&format!("v=0\r\n{o}s=a\0b\r\n")), SdpError::BadLine);
        // Connection.
        for c in [
            "c=",
            "c=IN IP4",
            "c=IN IP4 1.2.3.4 5",
            "c=IN IPX 1.2.3.4",
            "c=XX IP4 1.2.3.4",
        ] {
            assert_eq!(
                e(&format!("v=0\r\n{o}{c}\r\n")),
                SdpError::BadConnection,
                "{c}"
            );
        }
        // Media.
        for (m, want) in [
            ("m=audio abc RTP/AVP 0", SdpError::BadPort),
            ("m=audio 65536 RTP/AVP 0", SdpError::BadPort),
            (
                "m=audio 99999999999999999999999 RTP/AVP 0",
                SdpError::BadPort,
            ),
            ("m=audio -1 RTP/AVP 0", SdpError::BadPort),
            ("m=audio 5000 RTP/AVP", SdpError::BadMedia),
            ("m=audio", SdpError::BadMedia),
            ("m=", SdpError::BadMedia),
            ("a=rtcp", SdpError::BadRtcp),
            ("a=rtcp:", SdpError::BadRtcp),
            ("a=rtcp:x", SdpError::BadPort),
            ("a=rtcp:70000", SdpError::BadPort),
            ("a=rtcp:5 IN IP4", SdpError::BadRtcp),
            ("a=rtcp:5 IN IP4 1.2.3.4 x", SdpError::BadRtcp),
            ("a=rtcp:5 IN IPX 1.2.3.4", SdpError::BadRtcp),
        ] {
            assert_eq!(e(&format!("v=0\r\n{o}{m}\r\n")), want, "{m}");
        }
        assert_eq!(
            Sdp::parse(b"v=0\r\no=- 1 1 IN IP4 h\r\nm=audio 65535 RTP/AVP 0\r\n")
                .unwrap()
                .media()
                .next()
                .unwrap()
                .port_value,
            65535
        );
        // Every error has a message.
        assert_eq!(SdpError::BadPort.to_string(), "bad port in SDP");
    }

    #[test]
    fn lines_iterator_stops_on_garbage() {
        // `lines()` is only reachable after validation, but must not loop.
        let ls: Vec<Line> = Lines::new(b"v=0\r\nbad\r\ns=x\r\n").collect();
        assert_eq!(ls.len(), 1);
    }

    // --- find_sdp ---------------------------------------------------------

    #[test]
    fn find_sdp_plain() {
        let body = OFFER;
        let all = Some(0..body.len());
        assert_eq!(find_sdp(None, body), Ok(all.clone()));
        assert_eq!(find_sdp(Some(b""), body), Ok(all.clone()));
        assert_eq!(find_sdp(Some(b"  "), body), Ok(all.clone()));
        assert_eq!(find_sdp(Some(b"application/sdp"), body), Ok(all.clone()));
        assert_eq!(
            find_sdp(Some(b" Application / SDP ; charset=UTF-8"), body),
            Ok(all.clone())
        );
        assert_eq!(find_sdp(Some(b"APPLICATION/SDP"), body), Ok(all));
        assert_eq!(find_sdp(Some(b"application/sdp"), b""), Ok(None));
        assert_eq!(find_sdp(None, b""), Ok(None));
        assert_eq!(find_sdp(Some(b"text/plain"), body), Ok(None));
        assert_eq!(find_sdp(Some(b"application/isup"), body), Ok(None));
        assert_eq!(find_sdp(Some(b"garbage"), body), Ok(None));
        assert_eq!(find_sdp(Some(b"application/sdpx"), body), Ok(None));
    }

    const MIXED: &[u8] = b"preamble is ignored\r\n\
--unique-boundary-1\r\n\
Content-Type: text/plain\r\n\
\r\n\
hello\r\n\
--unique-boundary-1x is not a delimiter\r\n\
--unique-boundary-1  \r\n\
content-type:   APPLICATION/sdp ;\r\n charset=utf-8\r\n\
Content-Disposition: session\r\n\
\r\n\
v=0\r\n\
o=- 1 1 IN IP4 10.0.0.1\r\n\
m=audio 5000 RTP/AVP 0\r\n\
\r\n\
--unique-boundary-1--\r\n\
epilogue\r\n";

    #[test]
    fn find_sdp_multipart_mixed() {
        let r = find_sdp(Some(b"multipart/mixed;boundary=unique-boundary-1"), MIXED)
            .unwrap()
            .unwrap();
        assert_eq!(
            &MIXED[r.clone()],
            b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\nm=audio 5000 RTP/AVP 0\r\n"
        );
        let sdp = Sdp::parse(&MIXED[r.clone()]).unwrap();
        let m = sdp.media().next().unwrap();
        assert_eq!(&MIXED[r][m.port.range()], b"5000");
    }

    #[test]
    fn find_sdp_multipart_quoted_boundary() {
        let body = b"--simple boundary\r\n\
\r\n\
implicitly typed plain text\r\n\
--simple boundary\r\n\
Content-Type: application/sdp\r\n\
\r\n\
v=0\r\no=- 1 1 IN IP4 h\r\n\
--simple boundary--";
        let ct = b"Multipart/Mixed; charset=x; Boundary = \"simple boundary\"";
        let r = find_sdp(Some(ct), body).unwrap().unwrap();
        assert_eq!(&body[r], b"v=0\r\no=- 1 1 IN IP4 h");
    }

    #[test]
    fn find_sdp_multipart_lf_only() {
        let body = b"--b\nContent-Type: application/sdp\n\nv=0\no=- 1 1 IN IP4 h\n\n--b--\n";
        let r = find_sdp(Some(b"multipart/related; boundary=b"), body)
            .unwrap()
            .unwrap();
        assert_eq!(&body[r], b"v=0\no=- 1 1 IN IP4 h\n");
    }

    #[test]
    fn find_sdp_multipart_errors_and_none() {
        let two = b"--b\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n\
--b\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n--b--\r\n";
        let ct: &[u8] = b"multipart/mixed; boundary=b";
        assert_eq!(find_sdp(Some(ct), two), Err(SdpError::MultipleSdp));

        let none = b"--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n\
--b\r\n\r\nno headers\r\n--b\r\nContent-Type: application/isup\r\n\r\nxx\r\n--b--\r\n";
        assert_eq!(find_sdp(Some(ct), none), Ok(None));

        // Nested multipart is not descended into.
        let nested = b"--b\r\nContent-Type: multipart/mixed; boundary=c\r\n\r\n\
--c\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n--c--\r\n--b--\r\n";
        assert_eq!(find_sdp(Some(ct), nested), Ok(None));

        // An SDP part with no content.
        let empty = b"--b\r\nContent-Type: application/sdp\r\n\r\n--b--\r\n";
        assert_eq!(find_sdp(Some(ct), empty), Ok(None));
        let headers_only = b"--b\r\nContent-Type: application/sdp\r\n--b--\r\n";
        assert_eq!(find_sdp(Some(ct), headers_only), Ok(None));

        let unclosed = b"--b\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n";
        assert_eq!(find_sdp(Some(ct), unclosed), Err(SdpError::BadMultipart));
        assert_eq!(find_sdp(Some(ct), b""), Err(SdpError::BadMultipart));
        for bad_ct in [
            &b"multipart/mixed"[..],
            b"multipart/mixed; boundary=",
            b"multipart/mixed; boundary=\"\"",
            b"multipart/mixed; boundary=\"unterminated",
            b"multipart/mixed; boundary=\"a\\\"b\"",
            b"multipart/mixed boundary=b",
        ] {
            assert_eq!(find_sdp(Some(bad_ct), two), Err(SdpError::BadMultipart));
        }
        // Valueless and other params before the boundary are fine.
        let r = find_sdp(
            Some(b"multipart/mixed; foo; type=\"a;b\"; boundary=b"),
            none,
        );
        assert_eq!(r, Ok(None));
    }

    // --- robustness -------------------------------------------------------

    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    fn check_span(s: Span, len: usize) {
        assert!(s.start <= s.end && s.end <= len, "{s:?} len {len}");
    }

    fn check_net(n: NetAddr, len: usize) {
        check_span(n.addr, len);
        check_span(n.addr_type, len);
    }

    /// Parses `buf`; if accepted, every span must be in bounds and lines tile.
    fn check_sdp(buf: &[u8]) -> bool {
        let Ok(sdp) = Sdp::parse(buf) else {
            return false;
        };
        let len = buf.len();
        let mut at = 0;
        for l in sdp.lines() {
            let s = l.span();
            check_span(s, len);
            assert_eq!(s.start, at);
            assert!(s.end > s.start);
            at = s.end;
            match l {
                Line::Origin {
                    sess_version, net, ..
                } => {
                    check_span(sess_version, len);
                    check_net(net, len);
                }
                Line::Connection { net, .. } => check_net(net, len),
                Line::Media {
                    media,
                    port,
                    proto,
                    fmts,
                    ..
                } => {
                    for x in [media, port, proto, fmts] {
                        check_span(x, len);
                    }
                }
                Line::Rtcp { port, net, .. } => {
                    check_span(port, len);
                    if let Some(n) = net {
                        check_net(n, len);
                    }
                }
                _ => {}
            }
        }
        assert!(buf[at..].iter().all(|&c| c == b'\r' || c == b'\n'));
        let mut n = 0;
        for m in sdp.media() {
            assert_eq!(m.index, n);
            n += 1;
            for x in [m.line, m.section, m.media, m.port, m.proto] {
                check_span(x, len);
            }
            if let Some(c) = m.conn {
                check_net(c, len);
            }
            if let Some(c) = m.rtcp_addr {
                check_net(c, len);
            }
        }
        assert_eq!(n, sdp.media_count());
        true
    }

    const RICH: &[u8] = b"v=0\r\n\
o=bob 2808844564 2808844564 IN IP4 192.0.2.20\r\n\
s=-\r\n\
c=IN IP4 224.2.1.1/127/3\r\n\
t=0 0\r\n\
a=ice-lite\r\n\
a=sendonly\r\n\
m=audio 49170/2 RTP/AVP 0 8\r\n\
c=IN IP6 2001:db8::1\r\n\
a=rtcp:49171 IN IP4 192.0.2.20\r\n\
a=rtcp-mux\r\n\
a=candidate:1 1 UDP 2130706431 10.0.1.1 8998 typ host\r\n\
a=recvonly\r\n\
m=image 0 udptl t38\r\n\
a=inactive\n\
m=video 51372 UDP/TLS/RTP/SAVPF 99\r\n\
a=rtcp:51373\r\n\
a=end-of-candidates";

    #[test]
    fn pseudo_random_mutations_do_not_panic() {
        assert!(check_sdp(RICH));
        const SPICE: &[u8] = b" \r\n=/:0123456789.-aIPNm\0\xff";
        let ct: &[u8] = b"multipart/mixed;boundary=\"unique-boundary-1\"";
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        let mut accepted = 0;
        for _ in 0..20_000 {
            let base = if rng.below(4) == 0 { MIXED } else { RICH };
            let mut buf = base.to_vec();
            for _ in 0..=rng.below(4) {
                let i = rng.below(buf.len());
                match rng.below(5) {
                    0 => buf.truncate(i),
                    1 if i < buf.len() => {
                        buf.remove(i);
                    }
                    2 => buf.insert(i, SPICE[rng.below(SPICE.len())]),
                    3 if i < buf.len() => buf[i] = rng.next() as u8,
                    _ if i < buf.len() => buf[i] = SPICE[rng.below(SPICE.len())],
                    _ => {}
                }
            }
            if check_sdp(&buf) {
                accepted += 1;
            }
            let mut ct = ct.to_vec();
            if rng.below(4) == 0 {
                let i = rng.below(ct.len());
                ct[i] = SPICE[rng.below(SPICE.len())];
            }
            for ct in [Some(&ct[..]), None] {
                if let Ok(Some(r)) = find_sdp(ct, &buf) {
                    assert!(r.start <= r.end && r.end <= buf.len());
                    check_sdp(&buf[r]);
                }
            }
        }
        // The mutations must also reach the accepting paths.
        assert!(accepted > 1000, "only {accepted} accepted");
    }
}
