//! The stateless forwarding core (RFC 3261 §16 and §16.11, RFC 3581).
//!
//! Sans-IO: [`Proxy::handle`] takes a context (the time and the relay's
//! sockets), the leg, the source and the bytes of one datagram, writes at
//! most one datagram into the caller's buffer and says what it did as an
//! [`Outcome`]. It never reads a clock, never touches a socket, never logs
//! and never allocates; the shell sends and logs, the core counts.
//!
//! - [`route`]: where a request goes, step by step (RFC 3261 §16.4-§16.6).
//! - [`forward`]: the forwarded bytes of a request, and responses by Via.
//! - [`nat`]: the NAT helper's part of each message (SDP to the relay).
//! - [`refuse`]: the answers edgesip writes itself.
//! - [`branch`], [`contact`], [`token`]: our Via branch, Contact rewriting
//!   and the tokens behind it; [`leg`]: the legs as the core sees them;
//!   [`park`]: requests waiting for DNS; [`stun`]: STUN Binding answers.

// Packet bytes are untrusted: keep every access checked.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod branch;
mod contact;
mod forward;
mod leg;
mod nat;
mod park;
mod refuse;
pub mod registrations;
mod route;
mod stun;
pub mod token;
mod token_cache;

pub use branch::{Branch, Brancher, PrevHop};
pub use contact::Tokens;
pub use leg::Leg;
pub use token::TokenError;

use crate::config::{Config, Route};
use crate::cx::Cx;
use crate::dns::{Failure, Resolution, Resolver};
use crate::hmac::HmacKey;
use crate::limits::{MAX_LEGS, PARK_SLOT};
use crate::output::{Outcome, Socket, Transmit, Why};
use crate::ratelimit::SourceLimiter;
use crate::registrar::{Note, Registrar};
use crate::relay::Relay;
use crate::sip::{status, Message};
use crate::time::Instant;
use park::Parked;
use refuse::Refuse;
use std::net::{IpAddr, SocketAddr};

/// Counters; plain integers (no 64-bit atomics on 32-bit MIPS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stats {
    pub requests_forwarded: u64,
    pub responses_forwarded: u64,
    /// Answers of our own, STUN aside.
    pub replies_sent: u64,
    /// Datagrams that led to nothing being sent.
    pub dropped: u64,
    /// Datagrams received and sent per leg.
    pub received: [u64; MAX_LEGS],
    pub sent: [u64; MAX_LEGS],
    /// Our own answers per status code.
    pub answered: Codes,
    /// What became of each datagram, per kind of [`Why`].
    pub why: [u64; Why::COUNT],
    /// REGISTERs answered by our registrar, per kind of [`Note`].
    pub registrar: [u64; Note::COUNT],
}

impl Default for Stats {
    fn default() -> Stats {
        Stats {
            requests_forwarded: 0,
            responses_forwarded: 0,
            replies_sent: 0,
            dropped: 0,
            received: [0; MAX_LEGS],
            sent: [0; MAX_LEGS],
            answered: Codes::default(),
            why: [0; Why::COUNT],
            registrar: [0; Note::COUNT],
        }
    }
}

/// Counts per status code in a fixed table; codes past its size count
/// under 0.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Codes {
    codes: [(u16, u64); 24],
}

impl Codes {
    fn add(&mut self, code: u16) {
        let hit = self.codes.iter().position(|&(c, n)| n > 0 && c == code);
        let slot = hit.or_else(|| self.codes.iter().position(|&(_, n)| n == 0));
        let e = match slot.and_then(|i| self.codes.get_mut(i)) {
            Some(e) => {
                e.0 = code;
                e
            }
            // Full: the last slot counts the rest, as code 0.
            None => match self.codes.last_mut() {
                Some(e) => {
                    e.0 = 0;
                    e
                }
                None => return,
            },
        };
        e.1 += 1;
    }

    /// (code, count) pairs in the order first seen; code 0 counts codes
    /// the table had no room for.
    pub fn iter(&self) -> impl Iterator<Item = (u16, u64)> + '_ {
        self.codes.iter().copied().filter(|(_, n)| *n > 0)
    }
}

impl Stats {
    /// How many datagrams came to `why` (whatever data it carries).
    pub fn counted(&self, why: Why) -> u64 {
        self.why.get(why.key().0).copied().unwrap_or(0)
    }

    /// Counts what became of one datagram.
    fn count(&mut self, o: &Outcome) {
        if let Some(l) = o.transmit().and_then(|t| t.out_leg()) {
            if let Some(n) = self.sent.get_mut(l) {
                *n += 1;
            }
        }
        match *o {
            Outcome::Forwarded { .. } => {}
            Outcome::Answered { code, why, .. } => {
                if code != 0 {
                    self.replies_sent += 1;
                    self.answered.add(code);
                }
                if let Some(n) = match why {
                    Why::Registrar(n) => self.registrar.get_mut(n.key().0),
                    _ => None,
                } {
                    *n += 1;
                }
            }
            Outcome::Dropped(_) => self.dropped += 1,
        }
        if let Some(n) = o.why().and_then(|w| self.why.get_mut(w.key().0)) {
            *n += 1;
        }
    }
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
    sources: SourceLimiter,
    tokens: Tokens,
    token_failures: SourceLimiter,
    relay: Option<Relay>,
    registrar: Option<Registrar>,
    resolver: Option<Resolver>,
    parked: Parked,
    registrations: registrations::Registrations,
    routes: Vec<Route>,
    upstream: Option<(String, Option<u16>)>,
    tcp_large: bool,
    /// The NAT helper's rewritten SDP: taken for one message and put back,
    /// so no message clears 8 KiB of stack it may not use.
    body: Box<[u8]>,
}

/// Keep-alives: shorter than 13 bytes, or only CR, LF, SP and NUL.
fn is_keepalive(d: &[u8]) -> bool {
    d.len() < 13 || d.iter().all(|b| matches!(b, b'\r' | b'\n' | b' ' | 0))
}

impl Proxy {
    /// Builds the core and allocates every table. `secret` keys tokens,
    /// branches, tags and nonces; `dns_seed` seeds DNS query IDs and source
    /// ports (random per process, from the shell).
    pub fn new(cfg: &Config, secret: &[u8], dns_seed: u64) -> Result<Proxy, String> {
        let legs = leg::build(cfg)?;
        let tokens = Tokens::new(secret, &legs, cfg.force_rewrite, cfg.nat_contacts);
        let relay = cfg.nat.as_ref().map(|rc| {
            let ips: Vec<IpAddr> = cfg.legs.iter().map(|l| l.media_ip()).collect();
            let addrs: Vec<SocketAddr> = cfg.legs.iter().map(|l| l.addr).collect();
            Relay::new(rc.clone(), &ips, &addrs)
        });
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
            Some(dc) => (
                Some(Resolver::new(dc.clone(), dns_seed)),
                Parked::new(dc.pending),
            ),
            None => (None, Parked::new(0)),
        };
        Ok(Proxy {
            resolver,
            parked,
            registrations: registrations::Registrations::default(),
            routes: cfg.routes.clone(),
            upstream: cfg.upstream.clone(),
            tcp_large: cfg.tcp_large,
            registrar,
            relay,
            legs,
            tokens,
            token_failures: SourceLimiter::new(TOKEN_FAIL_RATE, TOKEN_FAIL_BURST),
            brancher: Brancher::new(secret),
            tag_key: HmacKey::new(&crate::hmac::hmac_md5(secret, &[b"edgesip to-tag"])),
            stats: Stats::default(),
            sources: SourceLimiter::new(SOURCE_RATE, SOURCE_BURST),
            body: if cfg.nat.is_some() {
                vec![0; crate::limits::MAX_BODY].into_boxed_slice()
            } else {
                Box::default()
            },
        })
    }

    /// Lends the SDP buffer to `f` for one message.
    fn with_body<R>(&mut self, f: impl FnOnce(&mut Self, &mut [u8]) -> R) -> R {
        let mut body = core::mem::take(&mut self.body);
        let r = f(self, &mut body);
        self.body = body;
        r
    }

    pub fn legs(&self) -> &[Leg] {
        &self.legs
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The registrar, for the shell's persistence.
    pub fn registrar_mut(&mut self) -> Option<&mut Registrar> {
        self.registrar.as_mut()
    }

    pub fn relay_table(&self) -> Option<&Relay> {
        self.relay.as_ref()
    }

    pub fn registrar(&self) -> Option<&Registrar> {
        self.registrar.as_ref()
    }

    pub fn resolver(&self) -> Option<&Resolver> {
        self.resolver.as_ref()
    }

    /// Registrations made through us with providers, as their 200 OKs
    /// said.
    pub fn registrations(&self) -> &registrations::Registrations {
        &self.registrations
    }

    /// The next event for the log (a binding added, removed or expired, a
    /// lockout), oldest first.
    pub fn poll_event(&mut self) -> Option<crate::registrar::Event> {
        self.registrar.as_mut()?.poll_event()
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

    /// Expires relayed calls, bindings and DNS queries that are due;
    /// spurious calls do nothing.
    pub fn handle_timeout(&mut self, cx: &mut Cx) {
        if let Some(r) = self.relay.as_mut() {
            r.handle_timeout(cx.now, cx.sockets);
        }
        if let Some(r) = self.registrar.as_mut() {
            r.handle_timeout(cx.now);
        }
        if let Some(r) = self.resolver.as_mut() {
            r.handle_timeout(cx.now);
        }
    }

    /// The DNS server, when there is a resolver.
    pub fn dns_server(&self) -> Option<SocketAddr> {
        self.resolver.as_ref().map(Resolver::server)
    }

    /// How many DNS pool sockets the shell must open.
    pub fn dns_sockets(&self) -> usize {
        self.resolver.as_ref().map_or(0, Resolver::sockets)
    }

    /// A datagram on DNS pool socket `sock`; then drain
    /// [`Proxy::poll_parked`] and [`Proxy::poll_dns`].
    pub fn handle_dns(&mut self, now: Instant, sock: usize, src: SocketAddr, data: &[u8]) {
        if let Some(r) = self.resolver.as_mut() {
            r.handle_answer(now, sock, src, data);
        }
    }

    /// A DNS query to send, written into `out`.
    pub fn poll_dns(&mut self, out: &mut [u8]) -> Option<Transmit> {
        let (sock, dst, len) = self.resolver.as_mut()?.poll_query(out)?;
        Some(Transmit {
            socket: Socket::Dns(sock),
            dst,
            len,
        })
    }

    /// A request whose lookup finished: forwarded now (or answered with
    /// its error). Call until `None` after DNS answers and timeouts.
    pub fn poll_parked(&mut self, cx: &mut Cx, out: &mut [u8]) -> Option<Outcome> {
        loop {
            let (ticket, result) = self.resolver.as_mut()?.poll_done()?;
            let mut buf = [0u8; PARK_SLOT];
            let Some((leg, src, len)) = self.parked.take(ticket, &mut buf) else {
                continue;
            };
            let Some(data) = buf.get(..len) else {
                continue;
            };
            let o = match result {
                // The answer is in the cache now: the request goes through
                // the whole path again and finds it there.
                Resolution::Ready(..) | Resolution::Pending(_) => {
                    self.dispatch(cx, leg, src, data, out)
                }
                Resolution::Failed(f) => {
                    let Ok(m) = Message::parse(data) else {
                        continue;
                    };
                    let (st, why) = match f {
                        Failure::NxDomain => (status::NOT_FOUND, Why::DnsNotFound),
                        Failure::Unavailable => (status::SERVICE_UNAVAILABLE, Why::DnsFailed),
                    };
                    if m.is_method(b"ACK") {
                        Outcome::Dropped(Why::AckNotForwarded)
                    } else {
                        self.reply(leg, src, &m, st, why, &[], out)
                    }
                }
            };
            self.stats.count(&o);
            return Some(o);
        }
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
    ) -> Option<Transmit> {
        self.relay.as_mut()?.relay(now, leg, pair, odd, src, data)
    }

    /// One datagram from `src` on `leg`; at most one datagram out, in `out`.
    pub fn handle(
        &mut self,
        cx: &mut Cx,
        leg: usize,
        src: SocketAddr,
        data: &[u8],
        out: &mut [u8],
    ) -> Outcome {
        let mut o = self.dispatch(cx, leg, src, data, out);
        // An answer goes back on the connection its request came in on.
        if let (Some(conn), Outcome::Answered { tx, .. }) = (cx.conn, &mut o) {
            tx.socket = crate::output::Socket::Stream {
                leg,
                conn: Some(conn),
            };
        }
        if let Some(n) = self.stats.received.get_mut(leg) {
            *n += 1;
        }
        self.stats.count(&o);
        o
    }

    fn dispatch(
        &mut self,
        cx: &mut Cx,
        leg: usize,
        src: SocketAddr,
        data: &[u8],
        out: &mut [u8],
    ) -> Outcome {
        if leg >= self.legs.len() {
            return Outcome::Dropped(Why::UnknownLeg);
        }
        if stun::is_binding_request(data) {
            return match stun::answer(data, src, out) {
                Some(len) => Outcome::Answered {
                    tx: Transmit::leg(leg, src, len),
                    code: 0,
                    why: Why::Stun,
                },
                None => Outcome::Dropped(Why::Stun),
            };
        }
        if is_keepalive(data) {
            return Outcome::Dropped(Why::KeepAlive);
        }
        let parsed = Message::parse_then(data, |m| {
            if m.is_request() {
                self.request(cx, leg, src, m, out)
            } else {
                self.response(cx, leg, src, m, out)
            }
        });
        parsed.unwrap_or_else(|e| self.malformed(leg, src, data, e, out))
    }

    fn request(
        &mut self,
        cx: &mut Cx,
        leg: usize,
        src: SocketAddr,
        m: &Message,
        out: &mut [u8],
    ) -> Outcome {
        let Some(trusted) = self.legs.get(leg).map(|l| l.trusted) else {
            return Outcome::Dropped(Why::UnknownLeg);
        };
        if !trusted && !self.sources.allow(src.ip(), cx.now) {
            return Outcome::Dropped(Why::RateLimited);
        }
        // The registrar comes first in the chain: a REGISTER for its
        // domains ends here.
        if m.is_method(b"REGISTER") {
            if let Some(r) = self.registrar.as_mut() {
                let tag = crate::sip::stateless_to_tag(&self.tag_key, m);
                match r.handle_register(cx.now, leg, trusted, src, m, &tag, out) {
                    Some(Ok(reg)) => {
                        return Outcome::Answered {
                            tx: Transmit::leg(leg, src, reg.len),
                            code: reg.code,
                            why: Why::Registrar(reg.note),
                        }
                    }
                    Some(Err(_)) => return Outcome::Dropped(Why::RegistrarUnwritable),
                    None => {}
                }
            }
        }
        match self.route_request(cx, leg, src, m, out) {
            Ok((tx, note)) => {
                self.stats.requests_forwarded += 1;
                Outcome::Forwarded { tx, note }
            }
            Err(Refuse::Drop(why)) => Outcome::Dropped(why),
            // An ACK is never answered.
            Err(_) if m.is_method(b"ACK") => Outcome::Dropped(Why::AckNotForwarded),
            Err(Refuse::Reply(st, why)) => self.reply(leg, src, m, st, why, &[], out),
            Err(Refuse::BadExtension) => self.bad_extension(leg, src, m, out),
        }
    }

    /// The leg a URI names, if it is one of ours.
    fn own_leg(&self, uri: &crate::sip::Uri) -> Option<usize> {
        self.legs
            .iter()
            .position(|l| l.is_own(uri.host, uri.port_or_default()))
    }

    fn own_via(&self, v: &crate::sip::Via) -> Option<usize> {
        self.legs
            .iter()
            .position(|l| l.is_own(v.host, v.port.unwrap_or(5060)))
    }
}
