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
