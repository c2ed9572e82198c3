//! The NAT helper's part of a message that crosses legs: BYE, CANCEL and
//! final failures close relayed calls; SDP in INVITE, ACK, UPDATE and PRACK
//! and in their 18x and 2xx answers is pointed at the relay, inside
//! multipart bodies too.

use super::refuse::Refuse;
use super::Proxy;
use crate::cx::Cx;

use crate::output::Why;
use crate::relay::{Dialog, OfferError, Relay, RelayError};
use crate::sdp::{find_sdp, Sdp};
use crate::sip::{status, Message};
use std::net::SocketAddr;

impl Proxy {
    /// A request crossing legs. Returns the new body, if any, and a note
    /// when SDP in an ACK could not be relayed (it goes on unchanged: an
    /// ACK cannot be answered).
    pub(super) fn nat_request<'b>(
        &mut self,
        cx: &mut Cx,
        m: &Message,
        in_leg: usize,
        out_leg: usize,
        src: SocketAddr,
        buf: &'b mut [u8],
    ) -> Result<(Option<&'b [u8]>, Option<Why>), Refuse> {
        let Some(relay) = self.relay.as_mut() else {
            return Ok((None, None));
        };
        let call_id = m.call_id().unwrap_or_default();
        let from_tag = m.from().and_then(|f| f.tag()).unwrap_or_default();
        let to_tag = m.to().and_then(|t| t.tag());
        let method = m.method().unwrap_or_default();
        match method {
            b"BYE" => {
                relay.close_dialog(call_id, from_tag, to_tag.unwrap_or_default(), cx.sockets);
                return Ok((None, None));
            }
            b"CANCEL" => {
                relay.close_early(call_id, from_tag, cx.sockets);
                return Ok((None, None));
            }
            b"INVITE" | b"ACK" | b"UPDATE" | b"PRACK" => {}
            _ => return Ok((None, None)),
        }
        let d = Dialog {
            call_id,
            sender_tag: from_tag,
            peer_tag: to_tag,
            sender_leg: in_leg,
            peer_leg: out_leg,
            signal_ip: src.ip(),
            public_source: (!self.legs.get(in_leg).is_some_and(|l| l.trusted)).then_some(src.ip()),
        };
        match rewrite_body(relay, cx, m, &d, buf) {
            Ok(b) => Ok((b, None)),
            Err(e) if method == b"ACK" => Ok((None, Some(Why::SdpUnrelayed(e)))),
            Err(OfferError::Relay(RelayError::Capacity)) => {
                Err(Refuse::Reply(status::SERVICE_UNAVAILABLE, Why::RelayFull))
            }
            Err(OfferError::Relay(RelayError::PerSource)) => Err(Refuse::Reply(
                status::SERVICE_UNAVAILABLE,
                Why::RelayPerSource,
            )),
            Err(e) => Err(Refuse::Reply(status::NOT_ACCEPTABLE_HERE, Why::BadSdp(e))),
        }
    }

    /// A response crossing legs: SDP in 18x and 2xx is pointed at the
    /// relay; a 2xx confirms its fork; a final failure to the INVITE frees
    /// the call's early sessions. A response cannot be refused, so an SDP
    /// the relay cannot take goes on unchanged, with a note.
    pub(super) fn nat_response<'b>(
        &mut self,
        cx: &mut Cx,
        m: &Message,
        in_leg: usize,
        out_leg: usize,
        src: SocketAddr,
        buf: &'b mut [u8],
    ) -> (Option<&'b [u8]>, Option<Why>) {
        let Some(relay) = self.relay.as_mut() else {
            return (None, None);
        };
        let (Some(code), Some(cseq)) = (m.status(), m.cseq()) else {
            return (None, None);
        };
        let call_id = m.call_id().unwrap_or_default();
        let from_tag = m.from().and_then(|f| f.tag()).unwrap_or_default();
        let to_tag = m.to().and_then(|t| t.tag()).unwrap_or_default();
        let invite = cseq.method == b"INVITE";
        if invite {
            relay.answered(call_id, from_tag, in_leg);
        }
        if invite && code >= 300 {
            relay.close_early(call_id, from_tag, cx.sockets);
            return (None, None);
        }
        let offer_answer = matches!(cseq.method, b"INVITE" | b"UPDATE" | b"PRACK");
        if !offer_answer || !(101..300).contains(&code) {
            return (None, None);
        }
        let d = Dialog {
            call_id,
            sender_tag: to_tag,
            peer_tag: Some(from_tag),
            sender_leg: in_leg,
            peer_leg: out_leg,
            signal_ip: src.ip(),
            public_source: None,
        };
        let result = rewrite_body(relay, cx, m, &d, buf);
        if invite && (200..300).contains(&code) {
            relay.confirm(call_id, from_tag, to_tag, in_leg, cx.sockets);
        }
        match result {
            Ok(b) => (b, None),
            Err(e) => (None, Some(Why::SdpUnrelayed(e))),
        }
    }
}

/// Finds the SDP in `m`'s body (also inside multipart), has the relay
/// rewrite it, and assembles the new body in `buf`.
fn rewrite_body<'b>(
    relay: &mut Relay,
    cx: &mut Cx,
    m: &Message,
    d: &Dialog,
    buf: &'b mut [u8],
) -> Result<Option<&'b [u8]>, OfferError> {
    let body = m.body();
    let Some(range) = find_sdp(m.content_type(), body).map_err(OfferError::Sdp)? else {
        return Ok(None);
    };
    let (Some(sdp), Some(tail)) = (body.get(range.clone()), body.get(range.end..)) else {
        return Ok(None);
    };
    let sdp = Sdp::parse(sdp).map_err(OfferError::Sdp)?;
    let head = range.start;
    if head > buf.len() {
        return Err(OfferError::TooLarge);
    }
    let (before, room) = buf.split_at_mut_checked(head).ok_or(OfferError::TooLarge)?;
    before.copy_from_slice(body.get(..head).ok_or(OfferError::TooLarge)?);
    let Some(n) = relay
        .offer_answer(cx.now, d, &sdp, room, cx.sockets)
        .map_err(OfferError::Relay)?
    else {
        // It names one of our relay ports: on as it is.
        return Ok(None);
    };
    let end = head + n + tail.len();
    if end > buf.len() {
        return Err(OfferError::TooLarge);
    }
    let dst = buf.get_mut(head + n..end).ok_or(OfferError::TooLarge)?;
    dst.copy_from_slice(tail);
    Ok(Some(buf.get(..end).ok_or(OfferError::TooLarge)?))
}
