//! The bytes that go out: a routed request with our Via, Record-Route,
//! Max-Forwards and Contacts (RFC 3261 §16.6), and responses sent back by
//! their Via (RFC 3261 §16.7, §18.2.2, RFC 3581). Everything not named here
//! is copied byte for byte.

use super::{Branch, PrevHop, Proxy};
use crate::cx::Cx;

use crate::output::{Outcome, Transmit, Why};
use crate::sip::{parse_ip, Elements, Error, HeaderName, HeaderPos, Message, Rewriter};
use crate::stream::Conn;
use std::net::SocketAddr;

/// Where a request goes and what changes on the way.
pub(super) struct Plan<'a> {
    pub out_leg: usize,
    /// It leaves over TCP.
    pub out_tcp: bool,
    /// The connection it came in on (`None`: a datagram).
    pub in_conn: Option<Conn>,
    /// Sent straight to the contact of a token or a binding.
    pub direct: bool,
    /// The branch's L, from the loop check.
    pub l: [u8; 4],
    /// A new Request-URI (strict routing, or a decoded token).
    pub ruri: Option<&'a [u8]>,
    /// A new body (SDP pointed at the relay).
    pub body: Option<&'a [u8]>,
    /// The Route element strict routing moved into the Request-URI.
    pub strict: Option<(usize, &'a [u8])>,
    pub popped: heapless::Vec<(usize, &'a [u8]), 2>,
}

impl Proxy {
    pub(super) fn rewrite_request(
        &mut self,
        m: &Message,
        in_leg: usize,
        src: SocketAddr,
        plan: &Plan,
        out: &mut [u8],
    ) -> Result<usize, Error> {
        let out_leg = plan.out_leg;
        let (vi, top) = m.top_via().ok_or(Error::Missing(HeaderName::Via))?;
        let prev = PrevHop {
            received: if top.wants_received(src) {
                Some(src.ip())
            } else {
                top.received_ip()
            },
            rport: if top.rport_flag() {
                Some(src.port())
            } else {
                top.rport_value()
            },
            sent_by: top.sent_by,
        };
        let branch = self.brancher.make(
            in_leg as u8,
            plan.direct,
            m,
            &top,
            plan.l,
            plan.in_conn,
            &prev,
        );
        let inl = self.legs.get(in_leg).ok_or(Error::Overlap)?;
        let outl = self.legs.get(out_leg).ok_or(Error::Overlap)?;
        let mut rw = Rewriter::new(m);

        // A route set is fixed when the dialog is made (RFC 3261 §12.2.1.2,
        // §16.6 step 4): requests with a To tag get no Record-Route.
        let in_dialog = m.to().and_then(|t| t.tag()).is_some();
        if !m.is_method(b"REGISTER") && !in_dialog {
            let pos = m
                .headers()
                .iter()
                .position(|h| h.name == HeaderName::RecordRoute)
                .map_or(HeaderPos::Top, HeaderPos::Before);
            // RFC 5658: the outgoing leg on top, then the incoming one,
            // each with the transport its side uses; one entry when both
            // sides are the same.
            let in_tcp = plan.in_conn.is_some();
            let same = in_leg == out_leg && in_tcp == plan.out_tcp;
            for (l, tcp) in [(outl, plan.out_tcp), (inl, in_tcp)]
                .into_iter()
                .take(if same { 1 } else { 2 })
            {
                rw.insert_header(pos, b"Record-Route", |c| {
                    c.put(b"<sip:")?;
                    c.put(l.adv_text.as_bytes())?;
                    if tcp {
                        c.put(b";transport=tcp")?;
                    }
                    c.put(b";lr>")
                })?;
            }
        }
        rw.insert_header(HeaderPos::Before(vi), b"Via", |c| {
            c.put(if plan.out_tcp {
                b"SIP/2.0/TCP "
            } else {
                b"SIP/2.0/UDP "
            })?;
            c.put(outl.adv_text.as_bytes())?;
            c.put(b";branch=")?;
            branch.write(c)
        })?;
        if top.needs_source_params(src) {
            rw.replace(top.elem, |c| top.write_with_source(src, c))?;
        }
        match m.max_forwards() {
            // Every copy changes (identical repeats are legal to parse).
            Some(mf) => rw.set_every(HeaderName::MaxForwards, mf.saturating_sub(1))?,
            None => rw.insert_header(HeaderPos::After(vi), b"Max-Forwards", |c| c.put(b"70"))?,
        }
        if let Some(text) = plan.ruri {
            let raw = m.request_uri_raw().ok_or(Error::RequestUri)?;
            rw.replace(raw, |c| c.put(text))?;
        }
        remove_routes(&mut rw, m, &plan.popped, plan.strict)?;
        if let Some(b) = plan.body {
            rw.replace_body(b)?;
        }
        if in_leg != out_leg || self.tokens.force {
            // Behind NAT when the Via says another address than the packet.
            let behind_nat =
                top.port.unwrap_or(5060) != src.port() || parse_ip(top.host) != Some(src.ip());
            let nat = behind_nat.then_some(src);
            self.tokens.rewrite_contacts(
                &self.legs,
                &mut rw,
                m,
                in_leg,
                out_leg,
                nat,
                plan.out_tcp,
            )?;
        }
        rw.ensure_content_length()?;
        rw.emit(out)
    }

    /// A response: checked to be for a request of ours (our top Via with a
    /// branch that verifies), then sent to the next Via through the leg the
    /// request came in on.
    pub(super) fn response(
        &mut self,
        cx: &mut Cx,
        in_leg: usize,
        src: SocketAddr,
        m: &Message,
        out: &mut [u8],
    ) -> Outcome {
        self.with_body(|p, body| p.response_with(cx, in_leg, src, m, out, body))
    }

    fn response_with(
        &mut self,
        cx: &mut Cx,
        in_leg: usize,
        src: SocketAddr,
        m: &Message,
        out: &mut [u8],
        body_buf: &mut [u8],
    ) -> Outcome {
        let mut vias = m.vias();
        let Some((vi, top)) = vias.next() else {
            return Outcome::Dropped(Why::ForeignResponse);
        };
        let ours = self.own_via(&top).is_some();
        let Some(b) = top.branch.and_then(Branch::parse).filter(|_| ours) else {
            return Outcome::Dropped(Why::ForeignResponse);
        };
        let Some((_, next)) = vias.next() else {
            return Outcome::Dropped(Why::NoNextVia);
        };
        if !self.brancher.verify(&b, &PrevHop::of(&next)) || usize::from(b.leg) >= self.legs.len() {
            return Outcome::Dropped(Why::BadBranch);
        }
        // RFC 3261 §18.2.2 with RFC 3581: maddr, else received at rport,
        // else sent-by. Over TCP: the connection the request came in on,
        // else a new one to received (or sent-by) at the sent-by port.
        let tcp = b.conn.is_some() || next.transport.eq_ignore_ascii_case(b"TCP");
        let ip = next
            .maddr
            .filter(|_| !tcp)
            .and_then(parse_ip)
            .or_else(|| next.received_ip())
            .or_else(|| parse_ip(next.host));
        let Some(ip) = ip else {
            return Outcome::Dropped(Why::ViaHostName);
        };
        let port = if tcp {
            next.port.unwrap_or(5060)
        } else {
            next.rport_value().or(next.port).unwrap_or(5060)
        };
        let out_leg = usize::from(b.leg);
        let (body, note) = if out_leg != in_leg {
            self.nat_response(cx, m, in_leg, out_leg, src, body_buf)
        } else {
            (None, None)
        };
        let mut rw = Rewriter::new(m);
        if let Err(e) = rw.remove_leading(vi, 1) {
            return Outcome::Dropped(Why::Unforwardable(e));
        }
        if let Some(b) = body {
            if let Err(e) = rw.replace_body(b) {
                return Outcome::Dropped(Why::Unforwardable(e));
            }
        }
        if out_leg != in_leg || self.tokens.force {
            // The answering side is behind NAT when its Contact is not the
            // address the response came from; that tells only when the
            // request went straight to it. A response relayed by a proxy
            // (RFC 3581 reads the sender's Via, which only a request has)
            // never puts its source into a token.
            let nat = m
                .addrs(HeaderName::Contact)
                .next()
                .filter(|(_, c)| {
                    c.uri.port_or_default() != src.port() || parse_ip(c.uri.host) != Some(src.ip())
                })
                .filter(|_| b.direct)
                .map(|_| src);
            // A Contact that cannot become a token goes as it was.
            let _ = self
                .tokens
                .rewrite_contacts(&self.legs, &mut rw, m, in_leg, out_leg, nat, tcp);
        }
        match rw.ensure_content_length().and_then(|()| rw.emit(out)) {
            Ok(len) => {
                self.stats.responses_forwarded += 1;
                let register = m.cseq().is_some_and(|c| c.method == b"REGISTER");
                if register && m.status() == Some(200) {
                    self.registrations.note(cx.now, src, m);
                }
                let dst = SocketAddr::new(ip, port);
                let tx = if tcp {
                    Transmit::stream(out_leg, b.conn, dst, len)
                } else {
                    Transmit::leg(out_leg, dst, len)
                };
                Outcome::Forwarded { tx, note }
            }
            Err(e) => Outcome::Dropped(Why::Unforwardable(e)),
        }
    }
}

/// Removes popped Route elements (and the one strict routing moved into the
/// Request-URI), taking whole lines when nothing else is left on them.
fn remove_routes(
    rw: &mut Rewriter,
    m: &Message,
    popped: &[(usize, &[u8])],
    strict: Option<(usize, &[u8])>,
) -> Result<(), Error> {
    let mut lines: heapless::Vec<usize, 3> = heapless::Vec::new();
    for (hi, _) in popped.iter().chain(strict.iter()) {
        if !lines.contains(hi) {
            let _ = lines.push(*hi);
        }
    }
    for hi in lines {
        let total = m
            .headers()
            .get(hi)
            .map_or(0, |h| Elements::new(h.value).count());
        let leading = popped.iter().filter(|(h, _)| *h == hi).count();
        let last = strict.filter(|(h, _)| *h == hi);
        if leading + usize::from(last.is_some()) >= total {
            rw.remove_header(hi)?;
            continue;
        }
        if leading > 0 {
            rw.remove_leading(hi, leading)?;
        }
        if let Some((_, e)) = last {
            rw.remove_element(hi, e)?;
        }
    }
    Ok(())
}
