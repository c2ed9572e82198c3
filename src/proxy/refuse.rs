//! The answers edgesip writes itself: refusals with their status, the 420
//! that lists what we do not support, and 400/505 for what does not parse
//! (when the framing still holds what a response needs).

use super::Proxy;
use crate::cx::Cx;
use crate::output::{Outcome, Socket, Transmit, Why};
use crate::sip::status::{self, Status};
use crate::sip::{
    stateless_to_tag, to_tag_with_branch, unsupported, write_response, Cursor, Error, HeaderName,
    Message, Reply,
};
use std::net::SocketAddr;

/// Why a request is not forwarded.
pub(super) enum Refuse {
    /// Answer with this status (never to an ACK).
    Reply(Status, Why),
    /// 420 with an Unsupported header listing the Proxy-Require options.
    BadExtension,
    /// Nothing to send.
    Drop(Why),
}

impl Proxy {
    /// A response of ours to `m`, to its source through its leg.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn reply(
        &self,
        leg: usize,
        src: SocketAddr,
        m: &Message,
        st: Status,
        why: Why,
        extra: &[&[u8]],
        out: &mut [u8],
    ) -> Outcome {
        self.reply_with(leg, src, m, st.code, st.reason.as_bytes(), why, extra, out)
    }

    #[allow(clippy::too_many_arguments)]
    fn reply_with(
        &self,
        leg: usize,
        src: SocketAddr,
        m: &Message,
        code: u16,
        reason: &[u8],
        why: Why,
        extra: &[&[u8]],
        out: &mut [u8],
    ) -> Outcome {
        let tag = stateless_to_tag(&self.tag_key, m);
        let r = Reply {
            code,
            reason,
            to_tag: Some(&tag),
            source: Some(src),
            extra,
        };
        match write_response(m, &r, out) {
            Ok(len) => Outcome::Answered {
                tx: Transmit::leg(leg, src, len),
                code,
                why,
            },
            Err(e) => Outcome::Dropped(Why::Unforwardable(e)),
        }
    }

    /// 420 listing every Proxy-Require option (we support none, RFC 3261
    /// §16.3 step 5).
    pub(super) fn bad_extension(
        &self,
        leg: usize,
        src: SocketAddr,
        m: &Message,
        out: &mut [u8],
    ) -> Outcome {
        let mut line = [0u8; 512];
        let mut c = Cursor::new(&mut line);
        // Too many options for the line: as many as fit.
        let _ = unsupported(&mut c, m, HeaderName::ProxyRequire);
        self.reply(
            leg,
            src,
            m,
            status::BAD_EXTENSION,
            Why::BadExtension,
            &[c.written()],
            out,
        )
    }

    /// A datagram that does not parse: 505 for another SIP version, 400
    /// with the reason when the framing holds what a response needs, else
    /// nothing.
    pub(super) fn malformed(
        &self,
        leg: usize,
        src: SocketAddr,
        data: &[u8],
        err: Error,
        out: &mut [u8],
    ) -> Outcome {
        let why = Why::Malformed(err);
        let Ok(m) = Message::parse_unchecked(data) else {
            return Outcome::Dropped(why);
        };
        if !answerable(&m) {
            return Outcome::Dropped(why);
        }
        if err == Error::Version {
            return self.reply(leg, src, &m, status::VERSION_NOT_SUPPORTED, why, &[], out);
        }
        let mut reason = [0u8; 80];
        let mut c = Cursor::new(&mut reason);
        if c.put_fmt(format_args!("{} ({err})", status::BAD_REQUEST.reason))
            .is_err()
        {
            return Outcome::Dropped(why);
        }
        self.reply_with(leg, src, &m, 400, c.written(), why, &[], out)
    }

    /// A stream that cannot be framed (RFC 3261 §18.3): 400 without a
    /// usable Content-Length, 513 past the connection's buffer, answered
    /// from the header section `head` when it is a request; the shell
    /// closes the connection after sending it.
    pub fn refuse_stream(
        &mut self,
        cx: &mut Cx,
        leg: usize,
        src: SocketAddr,
        head: &[u8],
        too_large: bool,
        out: &mut [u8],
    ) -> Outcome {
        let (st, why) = if too_large {
            (status::MESSAGE_TOO_LARGE, Why::TooLarge)
        } else {
            (status::BAD_REQUEST, Why::NoLength)
        };
        let mut o = match Message::parse_unchecked(head) {
            Ok(m) if answerable(&m) => self.reply(leg, src, &m, st, why, &[], out),
            _ => Outcome::Dropped(why),
        };
        if let (Some(conn), Outcome::Answered { tx, .. }) = (cx.conn, &mut o) {
            tx.socket = Socket::Stream {
                leg,
                conn: Some(conn),
            };
        }
        self.stats.count(&o);
        o
    }

    /// A request we sent towards `dst` over a stream of `leg` that could
    /// not be delivered (no slot, refused or timed-out connect) gets what
    /// its next hop would have sent: 503 without Retry-After (RFC 3261
    /// §16.9), back through the response path to the previous hop.
    /// `sent` is the request as it went out; `scratch` holds the 503.
    pub fn undeliverable(
        &mut self,
        cx: &mut Cx,
        leg: usize,
        dst: SocketAddr,
        sent: &[u8],
        scratch: &mut [u8],
        out: &mut [u8],
    ) -> Outcome {
        let written = Message::parse_then(sent, |m| {
            if !m.is_request() || m.is_method(b"ACK") {
                return None;
            }
            // The tag the sender's ACK will carry, so that we absorb it.
            let (_, prev) = m.vias().nth(1)?;
            let tag = to_tag_with_branch(&self.tag_key, m, prev.branch.unwrap_or_default());
            let r = Reply {
                code: status::SERVICE_UNAVAILABLE.code,
                reason: status::SERVICE_UNAVAILABLE.reason.as_bytes(),
                to_tag: Some(&tag),
                source: None,
                extra: &[],
            };
            write_response(m, &r, scratch).ok()
        });
        let o = match written {
            Ok(Some(n)) => {
                let answer = scratch.get(..n).unwrap_or_default();
                match Message::parse_then(answer, |r| self.response(cx, leg, dst, r, out)) {
                    Ok(Outcome::Forwarded { tx, .. }) => Outcome::Forwarded {
                        tx,
                        note: Some(Why::NoConnection),
                    },
                    _ => Outcome::Dropped(Why::NoConnection),
                }
            }
            _ => Outcome::Dropped(Why::NoConnection),
        };
        self.stats.count(&o);
        o
    }
}

/// A request with what a stateless answer copies.
fn answerable(m: &Message) -> bool {
    m.is_request()
        && !m.is_method(b"ACK")
        && [
            HeaderName::Via,
            HeaderName::From,
            HeaderName::To,
            HeaderName::CallId,
            HeaderName::CSeq,
        ]
        .iter()
        .all(|h| m.header(*h).is_some())
}
