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
//!
//! - [`multipart`]: [`find_sdp`], the SDP part of a (multipart) body.
//! - [`line`]: the line-by-line view, [`Line`] and its fields.
//! - [`media`]: [`Sdp::media`], each `m=` section with what applies to it.

// Packet bytes are untrusted: keep every access checked.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod line;
mod media;
mod multipart;
#[cfg(test)]
mod tests;

use core::fmt;
use core::ops::Range;

pub use line::{Direction, IceKind, Level, Line, Lines, NetAddr};
pub use media::{MediaInfo, Medias};
pub use multipart::find_sdp;

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
/// A validated SDP body. Cheap to copy around; the media sections are
/// summarised once, up to [`STORED_MEDIA`] of them (more are re-walked in
/// `buf` on demand).
#[derive(Clone, Copy, Debug)]
pub struct Sdp<'a> {
    buf: &'a [u8],
    session_conn: Option<NetAddr>,
    session_dir: Option<Direction>,
    media_count: usize,
    stored: [Option<MediaInfo>; STORED_MEDIA],
}

/// Media sections kept from the parse: as many as the relay takes.
pub const STORED_MEDIA: usize = crate::limits::MAX_MEDIA;

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
        // The media summaries are built in the same pass: the section
        // being read, and the ones done.
        let mut section: Option<(MediaInfo, Option<Direction>)> = None;
        let mut stored = [None; STORED_MEDIA];
        let mut done = 0;
        while let Some(line) = lines.step()? {
            if let Some(next) = MediaInfo::start(&line) {
                if let Some((mut m, dir)) = section.take() {
                    m.finish(next.line.start, dir, session_conn, session_dir);
                    if let Some(slot) = stored.get_mut(done) {
                        *slot = Some(m);
                    }
                    done += 1;
                }
                section = Some((next, None));
            } else if let Some((m, dir)) = section.as_mut() {
                m.absorb(&line, dir);
            }
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
        if let Some((mut m, dir)) = section {
            m.finish(lines.pos, dir, session_conn, session_dir);
            if let Some(slot) = stored.get_mut(done) {
                *slot = Some(m);
            }
        }
        Ok(Sdp {
            buf,
            session_conn,
            session_dir,
            media_count: lines.media,
            stored,
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
    pub fn media(&self) -> Medias<'_> {
        let stored = (self.media_count <= STORED_MEDIA).then_some(&self.stored[..]);
        Medias {
            stored,
            ..self.scan_media()
        }
    }

    fn scan_media(&self) -> Medias<'a> {
        Medias {
            lines: self.lines(),
            session_conn: self.session_conn,
            session_dir: self.session_dir,
            stored: None,
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
