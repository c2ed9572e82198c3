//! Each `m=` section of an SDP with what applies to it: the address
//! (media-level `c=` over session-level), the ports, `a=rtcp`, rtcp-mux and
//! direction.

// Packet bytes are untrusted: keep every access checked.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use super::line::{Direction, Line, Lines, NetAddr};
use super::Span;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
/// One media section with its effective (RFC 4566/3264) settings resolved.
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
    /// The summary an `m=` line starts; `None` for any other line.
    pub(super) fn start(line: &Line) -> Option<MediaInfo> {
        let Line::Media {
            line,
            index,
            media,
            port,
            port_value,
            count,
            proto,
            is_rtp,
            ..
        } = *line
        else {
            return None;
        };
        Some(MediaInfo {
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
        })
    }

    /// A line of its section; `dir` collects the first direction.
    pub(super) fn absorb(&mut self, line: &Line, dir: &mut Option<Direction>) {
        match *line {
            Line::Connection { net, .. } => {
                self.conn.get_or_insert(net);
            }
            Line::Rtcp {
                port_value, net, ..
            } if self.rtcp_port.is_none() => {
                self.rtcp_port = Some(port_value);
                self.rtcp_addr = net;
            }
            Line::RtcpMux { .. } => self.rtcp_mux = true,
            Line::Direction { dir: d, .. } => {
                dir.get_or_insert(d);
            }
            _ => {}
        }
    }

    /// The section ends at `end`; session-level settings fill what it
    /// did not say.
    pub(super) fn finish(
        &mut self,
        end: usize,
        dir: Option<Direction>,
        session_conn: Option<NetAddr>,
        session_dir: Option<Direction>,
    ) {
        self.section.end = end;
        self.conn = self.conn.or(session_conn);
        self.direction = dir.or(session_dir).unwrap_or_default();
    }

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
    pub(super) lines: Lines<'a>,
    pub(super) session_conn: Option<NetAddr>,
    pub(super) session_dir: Option<Direction>,
    /// The summaries the parse kept, taken from the front; `None`: scan.
    pub(super) stored: Option<&'a [Option<MediaInfo>]>,
}

impl Iterator for Medias<'_> {
    type Item = MediaInfo;

    fn next(&mut self) -> Option<MediaInfo> {
        if let Some(stored) = self.stored.as_mut() {
            let (first, rest) = stored.split_first()?;
            *stored = rest;
            return *first;
        }
        let mut info = loop {
            if let Some(info) = MediaInfo::start(&self.lines.next()?) {
                break info;
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
                Some(line) => info.absorb(&line, &mut dir),
            }
        }
        info.finish(self.lines.pos, dir, self.session_conn, self.session_dir);
        Some(info)
    }
}
