//! Where a request goes (RFC 3261 §16.3-§16.6), as named steps:
//!
//! 1. [`Proxy::check_request`]: Max-Forwards, Proxy-Require, our own ACK,
//!    the Request-URI's scheme.
//! 2. [`Proxy::repair_strict`]: a strict-routing previous hop put our
//!    Record-Route URI into the Request-URI; the last Route is the real one.
//! 3. [`Proxy::pop_routes`]: our own Routes come off the top.
//! 4. [`Proxy::remote_target`]: a token of ours, or a registrar binding,
//!    gives the contact the request is really for.
//! 5. [`Proxy::next_hop`]: the next Route, else the target, else a
//!    `--route` or the `--upstream`; an address, from DNS if need be.
//! 6. [`Proxy::addressed_to_us`] and [`Proxy::check_loop`].
//! 7. [`Proxy::choose_leg`] and [`Proxy::check_trust`]: the outgoing leg,
//!    and whether a request from a public leg may take it.
//!
//! Then the NAT helper rewrites the body and [`forward`](super::forward)
//! writes the request out.

use super::contact::Tokens;
use super::forward::Plan;
use super::refuse::Refuse;
use super::token::MAX_PLAIN;
use super::{leg, Branch, Proxy};
use crate::config::Route;
use crate::cx::Cx;
use crate::dns::{Failure, Reach, Resolution, Transport};

use crate::output::{Transmit, Why};
use crate::registrar::Lookup;
use crate::sip::status;
use crate::sip::{parse_ip, stateless_to_tag, Error, HeaderName, Message, NameAddr, Scheme, Uri};
use crate::time::Instant;
use std::net::SocketAddr;

/// A forwarded request larger than this goes over TCP with `--tcp-large`.
pub const UDP_LARGE: usize = 1300;

/// The Route element strict routing moved into the Request-URI.
#[derive(Clone, Copy)]
pub(super) struct Strict<'m> {
    /// Its header line and element.
    pub hi: usize,
    pub elem: &'m [u8],
    pub uri: Uri<'m>,
}

/// Our own Routes popped from the top, and what they leave.
pub(super) struct Popped<'m> {
    /// At most two (double Record-Route): header line and element.
    pub elems: heapless::Vec<(usize, &'m [u8]), 2>,
    /// The leg the second of a double Record-Route names.
    pub fixed_out: Option<usize>,
    /// The first Route that is not ours: the next hop.
    pub next: Option<Uri<'m>>,
}

/// How the remote target was found.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Found {
    /// The Request-URI as it came (after the strict-routing repair).
    AsIs,
    /// A token of ours: the contact came in on `in_leg`, from `nat` when
    /// it is behind NAT.
    Token {
        in_leg: usize,
        nat: Option<SocketAddr>,
    },
    /// A registrar binding, registered from `source` on `leg`.
    Binding { source: SocketAddr, leg: usize },
}

/// The remote target: what the request is for.
pub(super) struct Target<'a> {
    pub uri: Uri<'a>,
    /// A new Request-URI, when it differs from the one received.
    pub text: Option<&'a [u8]>,
    pub found: Found,
}

/// Room for a decoded token or a binding's contact.
pub(super) struct TargetBuf {
    plain: [u8; MAX_PLAIN],
    uri: [u8; MAX_PLAIN + 4],
}

impl TargetBuf {
    pub(super) fn new() -> TargetBuf {
        TargetBuf {
            plain: [0; MAX_PLAIN],
            uri: [0; MAX_PLAIN + 4],
        }
    }
}

/// The next hop.
pub(super) struct Hop<'a> {
    /// The URI the next hop came from: the next Route, else the target.
    pub uri: Uri<'a>,
    pub dst: SocketAddr,
    /// A `--route` rule chose it.
    pub routed: bool,
    /// `;transport=` or DNS: Some(true) for TCP, Some(false) for UDP.
    pub tcp: Option<bool>,
    /// The transport a NAPTR or SRV record chose, when the URI named none.
    pub dns: Option<Transport>,
}

impl Proxy {
    pub(super) fn route_request(
        &mut self,
        cx: &mut Cx,
        in_leg: usize,
        src: SocketAddr,
        m: &Message,
        out: &mut [u8],
    ) -> Result<(Transmit, Option<Why>), Refuse> {
        self.with_body(|p, body| p.route_with(cx, in_leg, src, m, out, body))
    }

    fn route_with(
        &mut self,
        cx: &mut Cx,
        in_leg: usize,
        src: SocketAddr,
        m: &Message,
        out: &mut [u8],
        body_buf: &mut [u8],
    ) -> Result<(Transmit, Option<Why>), Refuse> {
        let ruri = self.check_request(m)?;
        let strict = self.repair_strict(m, &ruri)?;
        let popped = self.pop_routes(m, strict.as_ref())?;
        let mut tbuf = TargetBuf::new();
        let start = Target {
            uri: strict.map_or(ruri, |s| s.uri),
            text: strict.map(|s| s.uri.raw),
            found: Found::AsIs,
        };
        let target = self.remote_target(cx.now, in_leg, src, start, &popped, &mut tbuf)?;
        let mut host_buf = [0u8; 256];
        let next = |p: &mut Self, only, buf: &mut [u8; 256]| {
            p.next_hop(cx.now, in_leg, src, m, &target, &popped, only, buf)
        };
        let mut hop = next(self, None, &mut host_buf)?;
        self.addressed_to_us(m, &target, &popped, &hop)?;
        let l = self.check_loop(m)?;
        let mut out_leg = self.choose_leg(in_leg, &target, &popped, hop.dst)?;
        if hop.dns.is_some_and(|t| !self.reach(Some(out_leg)).has(t)) {
            // DNS chose a transport this leg lacks (another leg has it):
            // ask again for the transports of this leg alone.
            hop = next(self, Some(out_leg), &mut host_buf)?;
            self.addressed_to_us(m, &target, &popped, &hop)?;
            out_leg = self.choose_leg(in_leg, &target, &popped, hop.dst)?;
        }
        self.check_trust(in_leg, out_leg, &target, &popped, &hop)?;
        let mut out_tcp = self.out_transport(out_leg, hop.tcp)?;

        let (body, note) = if in_leg != out_leg {
            self.nat_request(cx, m, in_leg, out_leg, src, body_buf)?
        } else {
            (None, None)
        };
        // Straight to the contact a token or binding named: its response's
        // source is that UA (see the branch).
        let direct = target.found != Found::AsIs && popped.next.is_none();
        let mut plan = Plan {
            out_leg,
            out_tcp,
            in_conn: cx.conn,
            direct,
            l,
            body,
            ruri: target.text,
            strict: strict.map(|s| (s.hi, s.elem)),
            popped: popped.elems,
        };
        let too_large = |e| match e {
            Error::OutOfSpace | Error::TooManyHeaders => {
                Refuse::Reply(status::MESSAGE_TOO_LARGE, Why::TooLarge)
            }
            _ => Refuse::Reply(status::SERVER_INTERNAL_ERROR, Why::Internal),
        };
        let mut len = self
            .rewrite_request(m, in_leg, src, &plan, out)
            .map_err(too_large)?;
        // RFC 3261 §18.1.1: past 1,300 bytes, a congestion-controlled
        // transport, when the admin says the next hops take TCP.
        let can_tcp = self.legs.get(out_leg).is_some_and(|l| l.tcp);
        // The URI named no transport (a DNS choice of UDP does not bind).
        let free = hop.tcp.is_none() || hop.dns.is_some();
        if len > UDP_LARGE && !out_tcp && free && self.tcp_large && can_tcp {
            out_tcp = true;
            plan.out_tcp = true;
            len = self
                .rewrite_request(m, in_leg, src, &plan, out)
                .map_err(too_large)?;
        }
        let tx = if out_tcp {
            Transmit::stream(out_leg, None, hop.dst, len)
        } else {
            Transmit::leg(out_leg, hop.dst, len)
        };
        Ok((tx, note))
    }

    /// The families and transports of all legs, or of leg `only`.
    fn reach(&self, only: Option<usize>) -> Reach {
        let legs = self
            .legs
            .iter()
            .enumerate()
            .filter(|(i, _)| only.is_none_or(|o| o == *i))
            .map(|(_, l)| l);
        Reach {
            v4: legs.clone().any(|l| l.addr.is_ipv4()),
            v6: legs.clone().any(|l| l.addr.is_ipv6()),
            udp: legs.clone().any(|l| l.udp),
            tcp: legs.clone().any(|l| l.tcp),
            transport: None,
        }
    }

    /// Step 7c: TCP when the next hop asks for it (`;transport=tcp`) or the
    /// leg has nothing else; UDP otherwise (RFC 3263 §4.1 without NAPTR). A
    /// transport the leg does not have is 503.
    fn out_transport(&self, out_leg: usize, tcp: Option<bool>) -> Result<bool, Refuse> {
        let leg = self.legs.get(out_leg).ok_or(unavailable(Why::NoLeg))?;
        match tcp {
            Some(true) if leg.tcp => Ok(true),
            Some(false) if leg.udp => Ok(false),
            None => Ok(!leg.udp),
            Some(_) => Err(unavailable(Why::NoTransport)),
        }
    }

    /// Step 1: what refuses a request before routing looks at it.
    fn check_request<'m>(&self, m: &Message<'m>) -> Result<Uri<'m>, Refuse> {
        if m.max_forwards() == Some(0) {
            return Err(Refuse::Reply(status::TOO_MANY_HOPS, Why::TooManyHops));
        }
        if m.header(HeaderName::ProxyRequire).is_some() {
            // We support no extensions (RFC 3261 §16.3 step 5).
            return Err(Refuse::BadExtension);
        }
        if m.is_method(b"ACK")
            && m.to().and_then(|t| t.tag()) == Some(&stateless_to_tag(&self.tag_key, m)[..])
        {
            return Err(Refuse::Drop(Why::AckAbsorbed));
        }
        let ruri = m.request_uri().ok_or(Refuse::Reply(
            status::BAD_REQUEST,
            Why::Malformed(Error::RequestUri),
        ))?;
        if ruri.scheme != Scheme::Sip {
            return Err(Refuse::Reply(
                status::UNSUPPORTED_URI_SCHEME,
                Why::BadScheme,
            ));
        }
        Ok(ruri)
    }

    /// Step 2 (RFC 3261 §16.4): our Record-Route URI as Request-URI means a
    /// strict-routing previous hop; the last Route is the real one.
    fn repair_strict<'m>(
        &self,
        m: &Message<'m>,
        ruri: &Uri<'m>,
    ) -> Result<Option<Strict<'m>>, Refuse> {
        if ruri.user.is_some() || self.own_leg(ruri).is_none() {
            return Ok(None);
        }
        let Some((hi, elem)) = m.elements(HeaderName::Route).last() else {
            return Ok(None);
        };
        let na = NameAddr::parse(elem).ok_or(bad_route())?;
        Ok(Some(Strict {
            hi,
            elem,
            uri: na.uri,
        }))
    }

    /// Step 3: our own Routes from the top, at most two (double
    /// Record-Route); the second fixes the outgoing leg.
    fn pop_routes<'m>(
        &self,
        m: &Message<'m>,
        strict: Option<&Strict<'m>>,
    ) -> Result<Popped<'m>, Refuse> {
        let mut p = Popped {
            elems: heapless::Vec::new(),
            fixed_out: None,
            next: None,
        };
        for (hi, e) in m.elements(HeaderName::Route) {
            if strict.is_some_and(|s| s.elem.as_ptr() == e.as_ptr()) {
                break;
            }
            let na = NameAddr::parse(e).ok_or(bad_route())?;
            match self.own_leg(&na.uri) {
                Some(l) if !p.elems.is_full() => {
                    if !p.elems.is_empty() {
                        p.fixed_out = Some(l);
                    }
                    let _ = p.elems.push((hi, e));
                }
                _ => {
                    p.next = Some(na.uri);
                    break;
                }
            }
        }
        Ok(p)
    }

    /// Step 4 (RFC 3261 §16.4, §16.5): the Request-URI is the remote
    /// target whatever the route set. A token of ours goes back to the
    /// contact it stands for, whether or not a Route remains (the Route
    /// only decides where the datagram goes); a user of our registrar
    /// domains goes to its binding, at the address it registered from,
    /// whatever Routes of ours were popped (a phone with us as outbound
    /// proxy preloads one). Only a remaining foreign Route bypasses the
    /// lookup. A To-tag alone does not: some UAs send ACK and BYE to the
    /// AoR.
    fn remote_target<'a>(
        &mut self,
        now: Instant,
        in_leg: usize,
        src: SocketAddr,
        start: Target<'a>,
        popped: &Popped,
        buf: &'a mut TargetBuf,
    ) -> Result<Target<'a>, Refuse> {
        if Tokens::is_candidate(&self.legs, &start.uri) {
            return self.decode_token(now, in_leg, src, &start.uri, buf);
        }
        if popped.next.is_some() {
            return Ok(start);
        }
        let Some(reg) = self.registrar.as_ref() else {
            return Ok(start);
        };
        match reg.lookup(now, &start.uri) {
            Lookup::Bound {
                contact,
                source,
                leg,
            } if contact.len() <= buf.uri.len() => {
                let n = contact.len();
                let dst = buf.uri.get_mut(..n).ok_or(not_found(Why::NoBinding))?;
                dst.copy_from_slice(contact);
                let (uri, text) = retarget(buf.uri.get(..n)).ok_or(not_found(Why::NoBinding))?;
                Ok(Target {
                    uri,
                    text: Some(text),
                    found: Found::Binding { source, leg },
                })
            }
            Lookup::Bound { .. } | Lookup::Unbound => Err(not_found(Why::NoBinding)),
            Lookup::NotOurs => Ok(start),
        }
    }

    /// A token must decode, verify, and come back through the leg it left
    /// by; failures cost the source some of its budget and get 404.
    fn decode_token<'a>(
        &mut self,
        now: Instant,
        in_leg: usize,
        src: SocketAddr,
        uri: &Uri,
        buf: &'a mut TargetBuf,
    ) -> Result<Target<'a>, Refuse> {
        if !self.token_failures.has_budget(src.ip(), now) {
            return Err(Refuse::Drop(Why::TokenBudget));
        }
        let user = uri.user.unwrap_or_default();
        let failure = match self.tokens.decode(&self.legs, user, &mut buf.plain) {
            Ok(b) if b.out_leg == in_leg => {
                let n = b.contact.len() + 4;
                buf.uri[..4].copy_from_slice(b"sip:");
                let dst = buf
                    .uri
                    .get_mut(4..n)
                    .ok_or(not_found(Why::BadToken(None)))?;
                dst.copy_from_slice(b.contact);
                let found = Found::Token {
                    in_leg: b.in_leg,
                    nat: b.nat,
                };
                let (uri, text) =
                    retarget(buf.uri.get(..n)).ok_or(not_found(Why::BadToken(None)))?;
                return Ok(Target {
                    uri,
                    text: Some(text),
                    found,
                });
            }
            Ok(_) => None,
            Err(e) => Some(e),
        };
        let _ = self.token_failures.allow(src.ip(), now);
        Err(not_found(Why::BadToken(failure)))
    }

    /// Step 5: where the datagram goes. The next Route, else the target
    /// (honouring `maddr`); a next hop from the Request-URI may be replaced
    /// by a `--route` for its domain, else by the `--upstream` proxy (not
    /// for targets inside a leg's `net=`). A contact behind NAT is reached
    /// at the address it was seen sending from. `only`: DNS looks for the
    /// transports of this leg alone (else of all legs).
    #[allow(clippy::too_many_arguments)]
    fn next_hop<'a>(
        &mut self,
        now: Instant,
        in_leg: usize,
        src: SocketAddr,
        m: &Message,
        target: &Target<'a>,
        popped: &Popped<'a>,
        only: Option<usize>,
        host_buf: &mut [u8; 256],
    ) -> Result<Hop<'a>, Refuse> {
        let uri = popped.next.unwrap_or(target.uri);
        if uri.scheme != Scheme::Sip {
            return Err(Refuse::Reply(
                status::UNSUPPORTED_URI_SCHEME,
                Why::BadScheme,
            ));
        }
        let mut tcp = match uri.param_value(b"transport") {
            None => None,
            Some(t) if t.eq_ignore_ascii_case(b"udp") => Some(false),
            Some(t) if t.eq_ignore_ascii_case(b"tcp") => Some(true),
            Some(_) => return Err(unavailable(Why::NoTransport)),
        };
        let maddr = uri.param_value(b"maddr");
        let mut host = maddr.unwrap_or(uri.host);
        let mut port = uri.port;
        let mut routed = false;
        let by_ruri = popped.next.is_none() && target.found == Found::AsIs && maddr.is_none();
        if by_ruri {
            let local = parse_ip(uri.host).is_some_and(|ip| {
                self.legs
                    .iter()
                    .any(|l| l.nets.iter().any(|n| n.contains(ip)))
            });
            let next = match route_for(&self.routes, uri.host) {
                Some(r) => {
                    routed = true;
                    Some((r.host.as_bytes(), r.port))
                }
                None => self
                    .upstream
                    .as_ref()
                    .filter(|_| !local)
                    .map(|(h, p)| (h.as_bytes(), *p)),
            };
            // A host longer than the buffer is not used.
            if let Some((h, p)) = next {
                if let Some(dst) = host_buf.get_mut(..h.len()) {
                    dst.copy_from_slice(h);
                    host = dst;
                    port = p;
                }
            }
        }
        // Only without a Route left: with one, the Route is the next hop.
        let observed = match target.found {
            _ if popped.next.is_some() => None,
            Found::Token { nat, .. } => nat,
            Found::Binding { source, .. } => Some(source),
            Found::AsIs => None,
        };
        let mut dns = None;
        let dst = match observed {
            // The source we saw the contact's owner send from (it is
            // behind NAT; its own Contact is not reachable).
            Some(nat) => nat,
            None => match parse_ip(host) {
                Some(ip) => SocketAddr::new(ip, port.unwrap_or(5060)),
                None => {
                    let (dst, by_dns) = self.resolve(now, in_leg, src, m, host, port, tcp, only)?;
                    // A NAPTR or SRV record of the transport (RFC 3263 §4.1).
                    dns = by_dns.filter(|_| tcp.is_none());
                    tcp = tcp.or(by_dns.map(|t| t == Transport::Tcp));
                    dst
                }
            },
        };
        Ok(Hop {
            uri,
            dst,
            routed,
            tcp,
            dns,
        })
    }

    /// A host name to an address, and the transport DNS chose for it: from
    /// the cache at once, else the request waits (parked) for the answer.
    /// `tcp`: the URI's `;transport=`; `only`: see [`Proxy::next_hop`].
    #[allow(clippy::too_many_arguments)]
    fn resolve(
        &mut self,
        now: Instant,
        in_leg: usize,
        src: SocketAddr,
        m: &Message,
        host: &[u8],
        port: Option<u16>,
        tcp: Option<bool>,
        only: Option<usize>,
    ) -> Result<(SocketAddr, Option<Transport>), Refuse> {
        let reach = Reach {
            transport: tcp.map(|t| if t { Transport::Tcp } else { Transport::Udp }),
            ..self.reach(only)
        };
        let Some(res) = self.resolver.as_mut() else {
            return Err(unavailable(Why::NoResolver));
        };
        if self.parked.holds(src, m.buf()) {
            return Err(Refuse::Drop(Why::DnsRetransmission));
        }
        // The same Call-ID picks the same SRV target, so a CANCEL follows
        // its INVITE (RFC 3261 §16.11).
        let hash = fnv1a(m.call_id().unwrap_or_default());
        match res.resolve(now, host, port, hash, reach) {
            Resolution::Ready(a, t) => Ok((a, t)),
            // RFC 3263 leaves the code to us: 404 for a name that does not
            // exist (it may be a local fault, so not 604), 503 otherwise.
            Resolution::Failed(Failure::NxDomain) => Err(not_found(Why::DnsNotFound)),
            Resolution::Failed(Failure::Unavailable) => Err(unavailable(Why::DnsFailed)),
            Resolution::Pending(t) => {
                if self.parked.park(t, in_leg, src, m.buf()) {
                    Err(Refuse::Drop(Why::DnsWait))
                } else {
                    Err(unavailable(Why::DnsFull))
                }
            }
        }
    }

    /// Step 6a: a request for our own address that nothing else claimed:
    /// 200 to an OPTIONS without a user (a phone's keep-alive), 482 to
    /// anything else without a user, 404 with one.
    fn addressed_to_us(
        &self,
        m: &Message,
        target: &Target,
        popped: &Popped,
        hop: &Hop,
    ) -> Result<(), Refuse> {
        let uri = hop.uri;
        let ours = target.found == Found::AsIs
            && self
                .legs
                .iter()
                .any(|l| l.is_own(uri.host, uri.port_or_default()) || l.addr == hop.dst);
        if !ours {
            return Ok(());
        }
        let keepalive = popped.next.is_none() && target.uri.user.is_none();
        Err(match (keepalive, m.is_method(b"OPTIONS")) {
            (true, true) => Refuse::Reply(status::OK, Why::OptionsToUs),
            (true, false) => Refuse::Reply(status::LOOP_DETECTED, Why::ToUs),
            _ => not_found(Why::ToUs),
        })
    }

    /// Step 6b (RFC 3261 §16.3 step 4): a Via of ours with the same L is a
    /// loop; a different L is a spiral.
    /// Returns L for the branch.
    fn check_loop(&self, m: &Message) -> Result<[u8; 4], Refuse> {
        let l = self.brancher.l_hash(m);
        let looped = m.vias().any(|(_, v)| {
            self.own_via(&v).is_some() && v.branch.and_then(Branch::parse).is_some_and(|b| b.l == l)
        });
        if looped {
            return Err(Refuse::Reply(status::LOOP_DETECTED, Why::Loop));
        }
        Ok(l)
    }

    /// Step 7a: a token goes out of the leg its contact came from, a binding
    /// out of the leg it registered on, a double Record-Route out of the leg
    /// it names; anything else by the destination's network. A popped
    /// double Record-Route that names another leg than a token's is
    /// refused: the request never leaves by a leg that disagrees with the
    /// token.
    fn choose_leg(
        &self,
        in_leg: usize,
        target: &Target,
        popped: &Popped,
        dst: SocketAddr,
    ) -> Result<usize, Refuse> {
        let out_leg = match target.found {
            Found::Token { in_leg, .. } if popped.fixed_out.is_some_and(|l| l != in_leg) => {
                return Err(Refuse::Reply(status::FORBIDDEN, Why::TokenLegMismatch));
            }
            Found::Token { in_leg, .. } => in_leg,
            Found::Binding { leg, .. } if leg < self.legs.len() => leg,
            _ => match popped.fixed_out {
                Some(l) => l,
                None => leg::choose(&self.legs, dst.ip(), in_leg).ok_or(unavailable(Why::NoLeg))?,
            },
        };
        if self
            .legs
            .get(out_leg)
            .is_none_or(|l| l.addr.is_ipv4() != dst.is_ipv4())
        {
            return Err(unavailable(Why::NoLeg));
        }
        Ok(out_leg)
    }

    /// Step 7b: what a request from a public leg may reach. Only its
    /// Request-URI authorises it (after the strict-routing repair): a
    /// token we minted whose MAC verified, an AoR bound at our registrar,
    /// or a `--route` rule. Our Route or Record-Route URI only routes: it
    /// is no secret. Then the destination must be that contact itself (or
    /// where its owner was seen sending from), the `--route` host, or an
    /// address inside a `net=` of the trusted outgoing leg, and a popped
    /// double Record-Route must name the outgoing leg. Never public to
    /// public.
    fn check_trust(
        &self,
        in_leg: usize,
        out_leg: usize,
        target: &Target,
        popped: &Popped,
        hop: &Hop,
    ) -> Result<(), Refuse> {
        if self.legs.get(in_leg).is_some_and(|l| l.trusted) {
            return Ok(());
        }
        let authorised = target.found != Found::AsIs || hop.routed;
        if !authorised || !self.legs.get(out_leg).is_some_and(|l| l.trusted) {
            return Err(Refuse::Reply(status::FORBIDDEN, Why::Public));
        }
        // With no Route left, the destination came from the contact (or
        // the route host) itself.
        let own = (target.found != Found::AsIs && popped.next.is_none()) || hop.routed;
        let inside = |l: &super::Leg| l.nets.iter().any(|n| n.contains(hop.dst.ip()));
        let outside = !own && !self.legs.get(out_leg).is_some_and(inside);
        if outside || popped.fixed_out.is_some_and(|l| l != out_leg) {
            return Err(Refuse::Reply(status::FORBIDDEN, Why::PublicDestination));
        }
        Ok(())
    }
}

fn bad_route() -> Refuse {
    Refuse::Reply(
        status::BAD_REQUEST,
        Why::Malformed(Error::Malformed(HeaderName::Route)),
    )
}

fn not_found(why: Why) -> Refuse {
    Refuse::Reply(status::NOT_FOUND, why)
}

fn unavailable(why: Why) -> Refuse {
    Refuse::Reply(status::SERVICE_UNAVAILABLE, why)
}

/// The --route for `domain`: exact, then `*.parent` for each parent, then
/// `*`.
fn route_for<'r>(routes: &'r [Route], domain: &[u8]) -> Option<&'r Route> {
    let exact = routes
        .iter()
        .find(|r| r.domain.as_bytes().eq_ignore_ascii_case(domain));
    if exact.is_some() {
        return exact;
    }
    let mut d = domain;
    while let Some(rest) = d
        .iter()
        .position(|b| *b == b'.')
        .and_then(|dot| d.get(dot + 1..))
    {
        d = rest;
        let hit = routes.iter().find(|r| {
            r.domain
                .strip_prefix("*.")
                .is_some_and(|p| p.as_bytes().eq_ignore_ascii_case(d))
        });
        if hit.is_some() {
            return hit;
        }
    }
    routes.iter().find(|r| r.domain == "*")
}

fn fnv1a(b: &[u8]) -> u32 {
    b.iter().fold(0x811c_9dc5u32, |h, x| {
        (h ^ u32::from(*x)).wrapping_mul(0x0100_0193)
    })
}

/// A contact as the new Request-URI: without its `?headers`, which a
/// Request-URI may not carry (RFC 3261 §16.6 step 2, §19.1.1).
fn retarget(text: Option<&[u8]>) -> Option<(Uri<'_>, &[u8])> {
    let text = text?;
    let uri = Uri::parse(text)?;
    match uri.headers {
        None => Some((uri, text)),
        Some(h) => {
            let text = text.get(..text.len().checked_sub(h.len() + 1)?)?;
            Some((Uri::parse(text)?, text))
        }
    }
}
