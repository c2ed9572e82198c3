//! The stateless forwarding core (RFC 3261 §16 and §16.11, RFC 3581).
//!
//! Sans-IO: [`Proxy::handle`] takes `(now, leg, source, bytes)` and writes
//! at most one datagram into the caller's buffer, described by a
//! [`Transmit`]. It never reads a clock, never touches a socket and never
//! allocates.

mod branch;
mod contact;
mod leg;
mod park;
mod stun;

pub use branch::{Branch, Brancher, PrevHop};
pub use contact::Tokens;
pub use leg::Leg;

use crate::config::{Config, Route, MAX_LEGS};
use crate::dns::{Failure, Lookup as DnsLookup, Resolver};
use crate::hmac::HmacKey;
use crate::ratelimit::{Limiter, SourceLimiter, Suppressed};
use crate::registrar::{Lookup, Registrar};
use crate::relay::{Dialog, Relay, RelayError, RelaySockets, RelayTx};
use crate::sip::sdp::{find_sdp, Sdp};
use crate::sip::{
    stateless_to_tag, write_response, Cursor, Error, HeaderName, HeaderPos, Message, NameAddr,
    Reply, Rewriter, Scheme, Uri, Via,
};
use crate::time::Instant;
use log::{debug, warn};
use park::{Parked, PARK_SLOT};
use std::net::{IpAddr, SocketAddr};

/// One datagram to send: `out[..len]` from leg `leg` to `dst`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub struct Transmit {
    pub leg: usize,
    pub dst: SocketAddr,
    pub len: usize,
}

/// Counters; plain integers (no 64-bit atomics on 32-bit MIPS).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub requests_forwarded: u64,
    pub responses_forwarded: u64,
    pub replies_sent: u64,
    pub malformed: u64,
    pub keepalives: u64,
    pub stun: u64,
    pub acks_absorbed: u64,
    pub foreign_responses: u64,
    pub bad_branch_mac: u64,
    pub rate_limited: u64,
    /// Tokens that failed to decode, failed their MAC or came in on the
    /// wrong leg.
    pub token_failures: u64,
    /// Answers whose SDP the relay could not take, forwarded unchanged.
    pub sdp_unrewritten: u64,
    /// Requests that waited for DNS.
    pub parked: u64,
    pub dropped: u64,
}

/// Sockets for a proxy without the NAT helper: opens nothing.
pub struct NoSockets;

impl RelaySockets for NoSockets {
    fn open(&mut self, _: usize, _: u16) -> bool {
        false
    }
    fn close(&mut self, _: usize, _: u16) {}
}

/// Largest SIP body the NAT helper rewrites.
const MAX_BODY: usize = 8192;

/// Why a request is not forwarded.
enum Refuse {
    /// Answer with this status (never to an ACK).
    Reply(u16, &'static str),
    /// 420 with an Unsupported header listing the Proxy-Require options.
    BadExtension,
    /// Nothing to send; the reason is logged at debug.
    Drop(&'static str),
}

/// Requests per second (and burst) one source may send on a public leg.
const SOURCE_RATE: u32 = 200;
const SOURCE_BURST: u32 = 400;
/// Token failures per second one source may cause before its tokens are
/// not even tried: forging a 4-byte MAC takes about 2^31 attempts.
const TOKEN_FAIL_RATE: u32 = 5;
const TOKEN_FAIL_BURST: u32 = 20;

pub struct Proxy {
    legs: heapless::Vec<Leg, MAX_LEGS>,
    brancher: Brancher,
    tag_key: HmacKey,
    stats: Stats,
    log: Limiter,
    sources: SourceLimiter,
    tokens: Tokens,
    token_failures: SourceLimiter,
    relay: Option<Relay>,
    registrar: Option<Registrar>,
    resolver: Option<Resolver>,
    parked: Parked,
    routes: Vec<Route>,
    upstream: Option<(String, Option<u16>)>,
}

/// Where a request goes and what changes on the way.
struct Plan<'a> {
    out_leg: usize,
    /// A new Request-URI (strict routing, or a decoded token).
    ruri: Option<&'a [u8]>,
    /// A new body (SDP pointed at the relay).
    body: Option<&'a [u8]>,
    /// The Route element strict routing moved into the Request-URI.
    strict: Option<(usize, &'a [u8])>,
    popped: heapless::Vec<(usize, &'a [u8]), 2>,
}

fn parse_ip(s: &[u8]) -> Option<IpAddr> {
    let s = match s {
        [b'[', inner @ .., b']'] => inner,
        _ => s,
    };
    core::str::from_utf8(s).ok()?.parse().ok()
}

/// Keep-alives: shorter than 13 bytes, or only CR, LF, SP and NUL.
fn is_keepalive(d: &[u8]) -> bool {
    d.len() < 13 || d.iter().all(|b| matches!(b, b'\r' | b'\n' | b' ' | 0))
}

impl Proxy {
    pub fn new(cfg: &Config, secret: &[u8]) -> Result<Proxy, String> {
        let legs = leg::build(cfg)?;
        let tokens = Tokens::new(secret, &legs, cfg.force_rewrite, cfg.nat_contacts);
        let relay = match &cfg.nat {
            Some(rc) => {
                let ips: Vec<IpAddr> = cfg.legs.iter().map(|l| l.media_ip()).collect();
                Some(Relay::new(rc.clone(), &ips))
            }
            None => None,
        };
        let registrar = cfg.registrar.as_ref().map(|rc| {
            let mut rc = rc.clone();
            // The legs' addresses and names mean "this registrar" too.
            for l in &legs {
                rc.aliases.push(l.adv_host.to_string());
                rc.aliases.push(l.addr.ip().to_string());
            }
            Registrar::new(rc, &crate::hmac::hmac_md5(secret, &[b"edgesip registrar"]))
        });
        let (resolver, parked) = match &cfg.dns {
            Some(dc) => {
                let mut seed = [0u8; 8];
                let r = crate::key::random_secret().map_err(|e| format!("random seed: {e}"))?;
                seed.copy_from_slice(&r.as_bytes()[..8]);
                (
                    Some(Resolver::new(dc.clone(), u64::from_ne_bytes(seed))),
                    Parked::new(dc.pending),
                )
            }
            None => (None, Parked::new(0)),
        };
        Ok(Proxy {
            resolver,
            parked,
            routes: cfg.routes.clone(),
            upstream: cfg.upstream.clone(),
            registrar,
            relay,
            legs,
            tokens,
            token_failures: SourceLimiter::new(TOKEN_FAIL_RATE, TOKEN_FAIL_BURST),
            brancher: Brancher::new(secret),
            tag_key: HmacKey::new(&crate::hmac::hmac_md5(secret, &[b"edgesip to-tag"])),
            stats: Stats::default(),
            log: Limiter::new(10, 20),
            sources: SourceLimiter::new(SOURCE_RATE, SOURCE_BURST),
        })
    }

    pub fn legs(&self) -> &[Leg] {
        &self.legs
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// When the core next needs [`Proxy::handle_timeout`]; `None`: never.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.relay.as_ref().and_then(Relay::poll_timeout),
            self.registrar.as_ref().and_then(Registrar::poll_timeout),
            self.resolver.as_ref().and_then(Resolver::poll_timeout),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// A datagram on DNS pool socket `sock`; then drain
    /// [`Proxy::poll_parked`] and [`Proxy::poll_dns`].
    pub fn handle_dns(&mut self, now: Instant, sock: usize, src: SocketAddr, data: &[u8]) {
        if let Some(r) = self.resolver.as_mut() {
            r.handle_answer(now, sock, src, data);
        }
    }

    /// A DNS query to send: (pool socket, server, length in `out`).
    pub fn poll_dns(&mut self, out: &mut [u8]) -> Option<(usize, SocketAddr, usize)> {
        self.resolver.as_mut()?.poll_query(out)
    }

    /// The DNS server, when there is a resolver.
    pub fn dns_server(&self) -> Option<SocketAddr> {
        self.resolver.as_ref().map(Resolver::server)
    }

    /// How many DNS pool sockets the shell must open.
    pub fn dns_sockets(&self) -> usize {
        self.resolver.as_ref().map_or(0, Resolver::sockets)
    }

    /// A request whose lookup finished: forwarded now (or answered with
    /// its error). Call until `None` after DNS answers and timeouts.
    pub fn poll_parked(
        &mut self,
        now: Instant,
        out: &mut [u8],
        sockets: &mut dyn RelaySockets,
    ) -> Option<Transmit> {
        loop {
            let (ticket, result) = self.resolver.as_mut()?.poll_done()?;
            let mut buf = [0u8; PARK_SLOT];
            let Some((leg, src, len)) = self.parked.take(ticket, &mut buf) else {
                continue;
            };
            let data = &buf[..len];
            let t = match result {
                // The answer is in the cache now: the request goes through
                // the whole path again and finds it there.
                DnsLookup::Ready(_) | DnsLookup::Pending(_) => {
                    self.handle_with(now, leg, src, data, out, sockets)
                }
                DnsLookup::Failed(f) => {
                    let Ok(m) = Message::parse(data) else {
                        continue;
                    };
                    if m.is_method(b"ACK") {
                        debug!("{src}: dropping ACK: its target did not resolve");
                        continue;
                    }
                    let (code, reason): (u16, &[u8]) = match f {
                        Failure::NxDomain => (404, b"Not Found"),
                        Failure::Unavailable => (503, b"Service Unavailable"),
                    };
                    self.reply(leg, src, &m, code, reason, &[], out)
                }
            };
            if t.is_some() {
                return t;
            }
        }
    }

    pub fn handle_timeout(&mut self, now: Instant, sockets: &mut dyn RelaySockets) {
        if let Some(r) = self.relay.as_mut() {
            r.handle_timeout(now, sockets);
        }
        if let Some(r) = self.registrar.as_mut() {
            r.handle_timeout(now);
        }
        if let Some(r) = self.resolver.as_mut() {
            r.handle_timeout(now);
        }
    }

    /// The registrar, for the shell's persistence.
    pub fn registrar_mut(&mut self) -> Option<&mut Registrar> {
        self.registrar.as_mut()
    }

    pub fn relay_table(&self) -> Option<&Relay> {
        self.relay.as_ref()
    }

    /// A packet on a relay port; see [`Relay::relay`].
    pub fn relay(
        &mut self,
        now: Instant,
        leg: usize,
        pair: u16,
        odd: bool,
        src: SocketAddr,
        data: &[u8],
    ) -> Option<RelayTx> {
        self.relay.as_mut()?.relay(now, leg, pair, odd, src, data)
    }

    /// Whether a warning may be logged now (with the count of those that
    /// were not); floods are counted, not logged.
    fn may_warn(&mut self, now: Instant) -> Option<Suppressed> {
        self.log.report(now).map(Suppressed)
    }

    /// One datagram in; at most one datagram out. Without the NAT helper.
    pub fn handle(
        &mut self,
        now: Instant,
        leg: usize,
        src: SocketAddr,
        data: &[u8],
        out: &mut [u8],
    ) -> Option<Transmit> {
        self.handle_with(now, leg, src, data, out, &mut NoSockets)
    }

    /// [`Proxy::handle`] with the shell's relay sockets, for the NAT helper.
    pub fn handle_with(
        &mut self,
        now: Instant,
        leg: usize,
        src: SocketAddr,
        data: &[u8],
        out: &mut [u8],
        sockets: &mut dyn RelaySockets,
    ) -> Option<Transmit> {
        if leg >= self.legs.len() {
            return None;
        }
        if stun::is_binding_request(data) {
            self.stats.stun += 1;
            let len = stun::answer(data, src, out)?;
            return Some(Transmit { leg, dst: src, len });
        }
        if is_keepalive(data) {
            self.stats.keepalives += 1;
            return None;
        }
        match Message::parse(data) {
            Ok(m) if m.is_request() => self.request(now, leg, src, &m, out, sockets),
            Ok(m) => self.response(now, leg, src, &m, out, sockets),
            Err(e) => self.malformed(now, leg, src, data, e, out),
        }
    }

    fn malformed(
        &mut self,
        now: Instant,
        leg: usize,
        src: SocketAddr,
        data: &[u8],
        err: Error,
        out: &mut [u8],
    ) -> Option<Transmit> {
        self.stats.malformed += 1;
        if let Some(s) = self.may_warn(now) {
            warn!(
                "leg {}: malformed message from {src}: {err}{s}",
                self.legs[leg].name
            );
        }
        // Answer when the framing holds what a response needs.
        let m = Message::parse_unchecked(data).ok()?;
        let answerable = m.is_request()
            && !m.is_method(b"ACK")
            && [
                HeaderName::Via,
                HeaderName::From,
                HeaderName::To,
                HeaderName::CallId,
                HeaderName::CSeq,
            ]
            .iter()
            .all(|h| m.header(*h).is_some());
        if !answerable {
            return None;
        }
        if err == Error::Version {
            return self.reply(leg, src, &m, 505, b"Version Not Supported", &[], out);
        }
        let mut reason = [0u8; 80];
        let mut c = Cursor::new(&mut reason);
        c.put_fmt(format_args!("Bad Request ({err})")).ok()?;
        let n = c.len();
        self.reply(leg, src, &m, 400, &reason[..n], &[], out)
    }

    /// A response of ours to `m`, to its source through its leg.
    #[allow(clippy::too_many_arguments)]
    fn reply(
        &mut self,
        leg: usize,
        src: SocketAddr,
        m: &Message,
        code: u16,
        reason: &[u8],
        extra: &[&[u8]],
        out: &mut [u8],
    ) -> Option<Transmit> {
        let tag = stateless_to_tag(&self.tag_key, m);
        let r = Reply {
            code,
            reason,
            to_tag: Some(&tag),
            source: Some(src),
            extra,
        };
        let len = write_response(m, &r, out).ok()?;
        self.stats.replies_sent += 1;
        Some(Transmit { leg, dst: src, len })
    }

    fn request(
        &mut self,
        now: Instant,
        leg: usize,
        src: SocketAddr,
        m: &Message,
        out: &mut [u8],
        sockets: &mut dyn RelaySockets,
    ) -> Option<Transmit> {
        if !self.legs[leg].trusted && !self.sources.allow(src.ip(), now) {
            self.stats.rate_limited += 1;
            return None;
        }
        // The registrar comes first in the chain: a REGISTER for its
        // domains ends here.
        if m.is_method(b"REGISTER") {
            if let Some(r) = self.registrar.as_mut() {
                let tag = stateless_to_tag(&self.tag_key, m);
                let trusted = self.legs[leg].trusted;
                if let Some(len) = r.handle_register(now, leg, trusted, src, m, &tag, out) {
                    if len == 0 {
                        return None;
                    }
                    self.stats.replies_sent += 1;
                    return Some(Transmit { leg, dst: src, len });
                }
            }
        }
        match self.route_request(now, leg, src, m, out, sockets) {
            Ok(t) => {
                self.stats.requests_forwarded += 1;
                Some(t)
            }
            Err(_) if m.is_method(b"ACK") => {
                self.stats.dropped += 1;
                None
            }
            Err(Refuse::Reply(code, reason)) => {
                debug!("{src}: answering {code} {reason}");
                self.reply(leg, src, m, code, reason.as_bytes(), &[], out)
            }
            Err(Refuse::BadExtension) => {
                let mut line = [0u8; 512];
                let mut c = Cursor::new(&mut line);
                c.put(b"Unsupported: ").ok()?;
                for (i, (_, opt)) in m.elements(HeaderName::ProxyRequire).enumerate() {
                    if i > 0 {
                        c.put(b", ").ok()?;
                    }
                    c.put(opt).ok()?;
                }
                let n = c.len();
                self.reply(leg, src, m, 420, b"Bad Extension", &[&line[..n]], out)
            }
            Err(Refuse::Drop(why)) => {
                self.stats.dropped += 1;
                debug!("{src}: dropping request: {why}");
                None
            }
        }
    }

    /// The leg a URI names, if it is one of ours.
    fn own_leg(&self, uri: &Uri) -> Option<usize> {
        self.legs
            .iter()
            .position(|l| l.is_own(uri.host, uri.port_or_default()))
    }

    fn own_via(&self, v: &Via) -> Option<usize> {
        self.legs
            .iter()
            .position(|l| l.is_own(v.host, v.port.unwrap_or(5060)))
    }

    fn route_request(
        &mut self,
        now: Instant,
        in_leg: usize,
        src: SocketAddr,
        m: &Message,
        out: &mut [u8],
        sockets: &mut dyn RelaySockets,
    ) -> Result<Transmit, Refuse> {
        if m.max_forwards() == Some(0) {
            return Err(Refuse::Reply(483, "Too Many Hops"));
        }
        if m.header(HeaderName::ProxyRequire).is_some() {
            // We support no extensions (RFC 3261 §16.3 step 5).
            return Err(Refuse::BadExtension);
        }
        if m.is_method(b"ACK")
            && m.to().and_then(|t| t.tag()) == Some(&stateless_to_tag(&self.tag_key, m)[..])
        {
            self.stats.acks_absorbed += 1;
            return Err(Refuse::Drop("ACK for our own response"));
        }
        let ruri = m.request_uri().ok_or(Refuse::Reply(400, "Bad Request"))?;
        if ruri.scheme != Scheme::Sip {
            return Err(Refuse::Reply(416, "Unsupported URI Scheme"));
        }

        // RFC 3261 §16.4: a strict-routing previous hop put our Record-Route
        // URI into the Request-URI; the last Route is the real one.
        let mut strict: Option<(usize, &[u8], Uri)> = None;
        if ruri.user.is_none() && self.own_leg(&ruri).is_some() {
            if let Some((hi, e)) = m.elements(HeaderName::Route).last() {
                let na = NameAddr::parse(e).ok_or(Refuse::Reply(400, "Bad Request"))?;
                strict = Some((hi, e, na.uri));
            }
        }
        let is_strict_elem = |e: &[u8]| strict.is_some_and(|(_, s, _)| s.as_ptr() == e.as_ptr());
        // Pop our own Routes from the top, at most two (double
        // Record-Route); the second fixes the outgoing leg.
        let mut popped: heapless::Vec<(usize, &[u8]), 2> = heapless::Vec::new();
        let mut fixed_out = None;
        let mut next_route = None;
        for (hi, e) in m.elements(HeaderName::Route) {
            if is_strict_elem(e) {
                break;
            }
            let na = NameAddr::parse(e).ok_or(Refuse::Reply(400, "Bad Request"))?;
            match self.own_leg(&na.uri) {
                Some(l) if !popped.is_full() => {
                    if !popped.is_empty() {
                        fixed_out = Some(l);
                    }
                    let _ = popped.push((hi, e));
                }
                _ => {
                    next_route = Some(na.uri);
                    break;
                }
            }
        }
        let mut new_ruri = strict.map_or(ruri, |(_, _, u)| u);
        let mut ruri_text = strict.map(|(_, _, u)| u.raw);

        // A token of ours in the Request-URI goes back to the contact it
        // stands for, out through the leg that contact came from.
        let mut plain = [0u8; crate::token::MAX_PLAIN];
        let mut uri_buf = [0u8; crate::token::MAX_PLAIN + 4];
        let mut via_token = None;
        if next_route.is_none() && Tokens::is_candidate(&self.legs, &new_ruri) {
            if !self.token_failures.has_budget(src.ip(), now) {
                return Err(Refuse::Drop("too many token failures from this source"));
            }
            let user = new_ruri.user.unwrap_or_default();
            match self.tokens.decode(&self.legs, user, &mut plain) {
                Ok(b) if b.out_leg == in_leg => {
                    let n = b.contact.len() + 4;
                    uri_buf[..4].copy_from_slice(b"sip:");
                    uri_buf[4..n].copy_from_slice(b.contact);
                    via_token = Some((b.in_leg, b.nat));
                    ruri_text = Some(&uri_buf[..n]);
                }
                other => {
                    self.stats.token_failures += 1;
                    let _ = self.token_failures.allow(src.ip(), now);
                    match other {
                        Ok(_) => debug!("{src}: token came in on the wrong leg"),
                        Err(e) => debug!("{src}: token in Request-URI refused: {e}"),
                    }
                    return Err(Refuse::Reply(404, "Not Found"));
                }
            }
        }
        if via_token.is_some() {
            new_ruri = ruri_text
                .and_then(Uri::parse)
                .ok_or(Refuse::Reply(404, "Not Found"))?;
        }
        // A request for a registered user goes to its binding, at the
        // address it registered from. In-dialog requests (our Route, a
        // token) are not rewritten; a To-tag alone does not make one, as
        // some UAs send ACK and BYE to the AoR.
        let mut via_binding: Option<(SocketAddr, usize)> = None;
        let out_of_dialog =
            via_token.is_none() && next_route.is_none() && popped.is_empty() && strict.is_none();
        if let (true, Some(reg)) = (out_of_dialog, self.registrar.as_ref()) {
            match reg.lookup(now, &new_ruri) {
                Lookup::Bound {
                    contact,
                    source,
                    leg,
                } if contact.len() <= uri_buf.len() => {
                    uri_buf[..contact.len()].copy_from_slice(contact);
                    via_binding = Some((source, leg));
                    let n = contact.len();
                    ruri_text = Some(&uri_buf[..n]);
                    new_ruri = Uri::parse(&uri_buf[..n]).ok_or(Refuse::Reply(404, "Not Found"))?;
                }
                Lookup::Bound { .. } | Lookup::Unbound => {
                    debug!(
                        "{src}: no binding for {}",
                        String::from_utf8_lossy(new_ruri.raw)
                    );
                    return Err(Refuse::Reply(404, "Not Found"));
                }
                Lookup::NotOurs => {}
            }
        }
        let target = next_route.unwrap_or(new_ruri);

        if target.scheme != Scheme::Sip {
            return Err(Refuse::Reply(416, "Unsupported URI Scheme"));
        }
        if target
            .param_value(b"transport")
            .is_some_and(|t| !t.eq_ignore_ascii_case(b"udp"))
        {
            return Err(Refuse::Reply(503, "Service Unavailable"));
        }
        let maddr = target.param_value(b"maddr");
        let mut host = maddr.unwrap_or(target.host);
        let mut port = target.port;
        // A next hop from the Request-URI may be replaced: by a --route
        // for its domain, else by the --upstream proxy (not for targets
        // inside a leg's net=).
        let by_ruri =
            next_route.is_none() && via_token.is_none() && via_binding.is_none() && maddr.is_none();
        let mut routed = false;
        let mut host_buf = [0u8; 256];
        if by_ruri {
            let local = parse_ip(target.host).is_some_and(|ip| {
                self.legs
                    .iter()
                    .any(|l| l.nets.iter().any(|n| n.contains(ip)))
            });
            let next = match route_for(&self.routes, target.host) {
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
            if let Some((h, p)) = next.filter(|(h, _)| h.len() <= host_buf.len()) {
                host_buf[..h.len()].copy_from_slice(h);
                host = &host_buf[..h.len()];
                port = p;
            }
        }
        let observed = via_token
            .and_then(|(_, nat)| nat)
            .or(via_binding.map(|(src, _)| src));
        let dst = match observed {
            // The source we saw the contact's owner send from (it is
            // behind NAT; its own Contact is not reachable).
            Some(nat) => nat,
            None => match parse_ip(host) {
                Some(ip) => SocketAddr::new(ip, port.unwrap_or(5060)),
                None => self.resolve(now, in_leg, src, m, host, port)?,
            },
        };

        if via_token.is_none()
            && via_binding.is_none()
            && self
                .legs
                .iter()
                .any(|l| l.is_own(target.host, target.port_or_default()) || l.addr == dst)
        {
            // Addressed to us, and nothing else claimed it.
            let keepalive = next_route.is_none() && new_ruri.user.is_none();
            return Err(match (keepalive, m.is_method(b"OPTIONS")) {
                (true, true) => Refuse::Reply(200, "OK"),
                (true, false) => Refuse::Reply(482, "Loop Detected"),
                _ => Refuse::Reply(404, "Not Found"),
            });
        }

        // RFC 3261 §16.3 step 4: a Via of ours with the same L is a loop; a
        // different L is a spiral.
        let l = self.brancher.l_hash(m);
        let looped = m.vias().any(|(_, v)| {
            self.own_via(&v).is_some() && v.branch.and_then(Branch::parse).is_some_and(|b| b.l == l)
        });
        if looped {
            return Err(Refuse::Reply(482, "Loop Detected"));
        }

        let bound_leg = via_binding.map(|(_, l)| l).filter(|l| *l < self.legs.len());
        let out_leg = match (via_token, bound_leg.or(fixed_out)) {
            (Some((leg, _)), _) => leg,
            (None, Some(l)) => l,
            (None, None) => leg::choose(&self.legs, dst.ip(), in_leg)
                .ok_or(Refuse::Reply(503, "Service Unavailable"))?,
        };
        if self.legs[out_leg].addr.is_ipv4() != dst.is_ipv4() {
            return Err(Refuse::Reply(503, "Service Unavailable"));
        }
        // Nothing from a public leg reaches anyone unless it is in a dialog
        // we record-routed or a token we minted, and never public to public.
        if !self.legs[in_leg].trusted {
            let known = !popped.is_empty()
                || strict.is_some()
                || via_token.is_some()
                || via_binding.is_some()
                || routed;
            if !known || !self.legs[out_leg].trusted {
                return Err(Refuse::Reply(403, "Forbidden"));
            }
        }

        let mut body_buf = [0u8; MAX_BODY];
        let body = if in_leg != out_leg {
            self.nat_request(now, m, in_leg, out_leg, src, &mut body_buf, sockets)?
        } else {
            None
        };
        let plan = Plan {
            out_leg,
            body,
            ruri: ruri_text,
            strict: strict.map(|(hi, e, _)| (hi, e)),
            popped,
        };
        let len = self
            .rewrite_request(m, in_leg, src, &plan, out)
            .map_err(|e| match e {
                Error::OutOfSpace | Error::TooManyHeaders => {
                    Refuse::Reply(513, "Message Too Large")
                }
                _ => Refuse::Reply(500, "Server Internal Error"),
            })?;
        Ok(Transmit {
            leg: out_leg,
            dst,
            len,
        })
    }

    fn rewrite_request(
        &self,
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
        let branch = self.brancher.make(in_leg as u8, m, &top, &prev);
        let (inl, outl) = (&self.legs[in_leg], &self.legs[out_leg]);
        let mut rw = Rewriter::new(m);

        if !m.is_method(b"REGISTER") {
            let pos = m
                .headers()
                .iter()
                .position(|h| h.name == HeaderName::RecordRoute)
                .map_or(HeaderPos::Top, HeaderPos::Before);
            // RFC 5658: the outgoing leg on top, then the incoming one.
            for l in [outl, inl]
                .into_iter()
                .take(if in_leg == out_leg { 1 } else { 2 })
            {
                rw.insert_header(pos, b"Record-Route", |c| {
                    c.put(b"<sip:")?;
                    c.put(l.adv_text.as_bytes())?;
                    c.put(b";lr>")
                })?;
            }
        }
        rw.insert_header(HeaderPos::Before(vi), b"Via", |c| {
            c.put(b"SIP/2.0/UDP ")?;
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
            self.tokens
                .rewrite_contacts(&self.legs, &mut rw, m, in_leg, out_leg, nat)?;
        }
        rw.emit(out)
    }

    /// A host name to an address: from the cache at once, else the request
    /// waits (parked) for the answer.
    fn resolve(
        &mut self,
        now: Instant,
        in_leg: usize,
        src: SocketAddr,
        m: &Message,
        host: &[u8],
        port: Option<u16>,
    ) -> Result<SocketAddr, Refuse> {
        let Some(res) = self.resolver.as_mut() else {
            debug!("no resolver for {}", String::from_utf8_lossy(host));
            return Err(Refuse::Reply(503, "Service Unavailable"));
        };
        if self.parked.holds(src, m.buf()) {
            return Err(Refuse::Drop("retransmission of a request waiting for DNS"));
        }
        let v4 = self.legs.iter().any(|l| l.addr.is_ipv4());
        let v6 = self.legs.iter().any(|l| l.addr.is_ipv6());
        // The same Call-ID picks the same SRV target, so a CANCEL follows
        // its INVITE (RFC 3261 §16.11).
        let hash = fnv1a(m.call_id().unwrap_or_default());
        match res.resolve(now, host, port, hash, v4, v6) {
            DnsLookup::Ready(a) => Ok(a),
            // RFC 3263 leaves the code to us: 404 for a name that does not
            // exist (it may be a local fault, so not 604), 503 otherwise.
            DnsLookup::Failed(Failure::NxDomain) => Err(Refuse::Reply(404, "Not Found")),
            DnsLookup::Failed(Failure::Unavailable) => {
                Err(Refuse::Reply(503, "Service Unavailable"))
            }
            DnsLookup::Pending(t) => {
                if self.parked.park(t, in_leg, src, m.buf()) {
                    self.stats.parked += 1;
                    Err(Refuse::Drop("waiting for DNS"))
                } else {
                    warn!("{src}: no room to wait for DNS; answering 503");
                    Err(Refuse::Reply(503, "Service Unavailable"))
                }
            }
        }
    }

    /// The NAT helper's part of a request crossing legs: BYE and CANCEL
    /// close sessions; SDP in INVITE, ACK, UPDATE and PRACK is pointed at
    /// the relay. Returns the new body, if any.
    #[allow(clippy::too_many_arguments)]
    fn nat_request<'b>(
        &mut self,
        now: Instant,
        m: &Message,
        in_leg: usize,
        out_leg: usize,
        src: SocketAddr,
        buf: &'b mut [u8; MAX_BODY],
        sockets: &mut dyn RelaySockets,
    ) -> Result<Option<&'b [u8]>, Refuse> {
        let Some(relay) = self.relay.as_mut() else {
            return Ok(None);
        };
        let call_id = m.call_id().unwrap_or_default();
        let from_tag = m.from().and_then(|f| f.tag()).unwrap_or_default();
        let to_tag = m.to().and_then(|t| t.tag());
        let method = m.method().unwrap_or_default();
        match method {
            b"BYE" => {
                relay.close_dialog(call_id, from_tag, to_tag.unwrap_or_default(), sockets);
                return Ok(None);
            }
            b"CANCEL" => {
                relay.close_early(call_id, from_tag, sockets);
                return Ok(None);
            }
            b"INVITE" | b"ACK" | b"UPDATE" | b"PRACK" => {}
            _ => return Ok(None),
        }
        let is_ack = method == b"ACK";
        let d = Dialog {
            call_id,
            sender_tag: from_tag,
            peer_tag: to_tag,
            sender_leg: in_leg,
            peer_leg: out_leg,
            signal_ip: src.ip(),
        };
        match rewrite_body(relay, now, m, &d, buf, sockets) {
            Ok(b) => Ok(b),
            // An ACK cannot be answered: it goes on unchanged.
            Err(e) if is_ack => {
                self.stats.sdp_unrewritten += 1;
                warn!("{src}: SDP in ACK not relayed: {e}");
                Ok(None)
            }
            Err(NatError::Relay(RelayError::Capacity)) => {
                warn!("{src}: no relay slot or port pair free; answering 503");
                Err(Refuse::Reply(503, "Service Unavailable"))
            }
            Err(e) => {
                debug!("{src}: answering 488: {e}");
                Err(Refuse::Reply(488, "Not Acceptable Here"))
            }
        }
    }

    /// The NAT helper's part of a response crossing legs: SDP in 18x and
    /// 2xx is pointed at the relay; a 2xx confirms its fork; a final
    /// failure to the INVITE frees the call's early sessions. A response
    /// cannot be refused, so an SDP the relay cannot take goes on unchanged.
    #[allow(clippy::too_many_arguments)]
    fn nat_response<'b>(
        &mut self,
        now: Instant,
        m: &Message,
        in_leg: usize,
        out_leg: usize,
        src: SocketAddr,
        buf: &'b mut [u8; MAX_BODY],
        sockets: &mut dyn RelaySockets,
    ) -> Option<&'b [u8]> {
        let relay = self.relay.as_mut()?;
        let code = m.status()?;
        let cseq = m.cseq()?;
        let call_id = m.call_id().unwrap_or_default();
        let from_tag = m.from().and_then(|f| f.tag()).unwrap_or_default();
        let to_tag = m.to().and_then(|t| t.tag()).unwrap_or_default();
        let invite = cseq.method == b"INVITE";
        if invite && code >= 300 {
            relay.close_early(call_id, from_tag, sockets);
            return None;
        }
        let offer_answer = matches!(cseq.method, b"INVITE" | b"UPDATE" | b"PRACK");
        if !offer_answer || !(101..300).contains(&code) {
            return None;
        }
        let d = Dialog {
            call_id,
            sender_tag: to_tag,
            peer_tag: Some(from_tag),
            sender_leg: in_leg,
            peer_leg: out_leg,
            signal_ip: src.ip(),
        };
        let body = match rewrite_body(relay, now, m, &d, buf, sockets) {
            Ok(b) => b,
            Err(e) => {
                self.stats.sdp_unrewritten += 1;
                if let Some(s) = self.log.report(now).map(Suppressed) {
                    warn!("{src}: SDP in {code} response not relayed: {e}{s}");
                }
                None
            }
        };
        if invite && (200..300).contains(&code) {
            if let Some(r) = self.relay.as_mut() {
                r.confirm(call_id, from_tag, to_tag, sockets);
            }
        }
        body
    }

    fn response(
        &mut self,
        now: Instant,
        in_leg: usize,
        src: SocketAddr,
        m: &Message,
        out: &mut [u8],
        sockets: &mut dyn RelaySockets,
    ) -> Option<Transmit> {
        let mut vias = m.vias();
        let (vi, top) = vias.next()?;
        let ours = self.own_via(&top).is_some();
        let Some(b) = top.branch.and_then(Branch::parse).filter(|_| ours) else {
            self.stats.foreign_responses += 1;
            if let Some(s) = self.may_warn(now) {
                warn!(
                    "leg {}: dropping response from {src}: top Via is not ours{s}",
                    self.legs[in_leg].name
                );
            }
            return None;
        };
        let Some((_, next)) = vias.next() else {
            self.stats.dropped += 1;
            return None;
        };
        if !self.brancher.verify(&b, &PrevHop::of(&next)) || usize::from(b.leg) >= self.legs.len() {
            self.stats.bad_branch_mac += 1;
            if let Some(s) = self.may_warn(now) {
                warn!("{src}: dropping response whose branch does not verify{s}");
            }
            return None;
        }
        // RFC 3261 §18.2.2 with RFC 3581: maddr, else received at rport,
        // else sent-by.
        let ip = next
            .maddr
            .and_then(parse_ip)
            .or_else(|| next.received_ip())
            .or_else(|| parse_ip(next.host));
        let Some(ip) = ip else {
            self.stats.dropped += 1;
            debug!("{src}: response Via has a host name and no received");
            return None;
        };
        let port = next.rport_value().or(next.port).unwrap_or(5060);
        let out_leg = usize::from(b.leg);
        let mut body_buf = [0u8; MAX_BODY];
        let body = if out_leg != in_leg {
            self.nat_response(now, m, in_leg, out_leg, src, &mut body_buf, sockets)
        } else {
            None
        };
        let mut rw = Rewriter::new(m);
        rw.remove_leading(vi, 1).ok()?;
        if let Some(b) = body {
            rw.replace_body(b).ok()?;
        }
        if out_leg != in_leg || self.tokens.force {
            // The answering side is behind NAT when its Contact is not the
            // address the response came from.
            let nat = m
                .addrs(HeaderName::Contact)
                .next()
                .filter(|(_, c)| {
                    c.uri.port_or_default() != src.port() || parse_ip(c.uri.host) != Some(src.ip())
                })
                .map(|_| src);
            if let Err(e) = self
                .tokens
                .rewrite_contacts(&self.legs, &mut rw, m, in_leg, out_leg, nat)
            {
                debug!("{src}: response Contacts not rewritten: {e}");
            }
        }
        let len = match rw.emit(out) {
            Ok(n) => n,
            Err(e) => {
                self.stats.dropped += 1;
                if let Some(s) = self.may_warn(now) {
                    warn!("{src}: cannot forward response: {e}{s}");
                }
                return None;
            }
        };
        self.stats.responses_forwarded += 1;
        Some(Transmit {
            leg: out_leg,
            dst: SocketAddr::new(ip, port),
            len,
        })
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
            .map_or(0, |h| crate::sip::Elements::new(h.value).count());
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

#[derive(Debug)]
enum NatError {
    Sdp(crate::sip::sdp::SdpError),
    Relay(RelayError),
    TooLarge,
}

impl core::fmt::Display for NatError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            NatError::Sdp(e) => write!(f, "bad SDP: {e}"),
            NatError::Relay(RelayError::Capacity) => f.write_str("no relay slot or port pair free"),
            NatError::Relay(RelayError::TooManyStreams) => f.write_str("too many media streams"),
            NatError::Relay(RelayError::Unwritable) | NatError::TooLarge => {
                f.write_str("SDP too large to rewrite")
            }
        }
    }
}

/// Finds the SDP in `m`'s body (also inside multipart), has the relay
/// rewrite it, and assembles the new body in `buf`.
fn rewrite_body<'b>(
    relay: &mut Relay,
    now: Instant,
    m: &Message,
    d: &Dialog,
    buf: &'b mut [u8; MAX_BODY],
    sockets: &mut dyn RelaySockets,
) -> Result<Option<&'b [u8]>, NatError> {
    let body = m.body();
    let Some(range) = find_sdp(m.content_type(), body).map_err(NatError::Sdp)? else {
        return Ok(None);
    };
    let sdp = Sdp::parse(&body[range.clone()]).map_err(NatError::Sdp)?;
    let head = range.start;
    let tail = &body[range.end..];
    if head > MAX_BODY {
        return Err(NatError::TooLarge);
    }
    buf[..head].copy_from_slice(&body[..head]);
    let n = relay
        .offer_answer(now, d, &sdp, &mut buf[head..], sockets)
        .map_err(NatError::Relay)?;
    let end = head + n + tail.len();
    if end > MAX_BODY {
        return Err(NatError::TooLarge);
    }
    buf[head + n..end].copy_from_slice(tail);
    Ok(Some(&buf[..end]))
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
    while let Some(dot) = d.iter().position(|b| *b == b'.') {
        d = &d[dot + 1..];
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
