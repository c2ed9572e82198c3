//! The NAT helper's relay: a fixed table of calls, each with up to
//! [`MAX_MEDIA`] streams, each stream a relay port pair per side.
//!
//! Sans-IO like the proxy: SDP comes in through [`Relay::offer_answer`],
//! packets through [`Relay::relay`], time through `now`. Sockets are opened
//! and closed through the [`RelaySockets`] the shell passes in, on demand,
//! when a pair is taken or freed; the hot path opens nothing.
//!
//! Sides: side 0 is the party that sent the first offer of the dialog, side
//! 1 the other. A stream's `pair[s]` is the port pair on `legs[s]` that was
//! advertised to side `s`: side `s` sends there, and packets for side `s`
//! leave from there, so each party sees one symmetric address.
//!
//! Hairpins: a call that leaves to a provider and comes back in (a LAN
//! phone calling another through a hosted PBX) passes edgesip twice with
//! the same Call-ID and tags. A call matches a message only when the
//! sender's signalling comes in on that side's leg, so the second pass is
//! a call of its own when the provider anchors the media. When it does not,
//! the second pass carries an SDP that names one of our own relay ports:
//! no second pair is taken for it. The call learns that the side behind
//! that port is the party the SDP goes to, moves that side's pair to the
//! leg it goes out on, and points the SDP there (an SDP that already names
//! that leg goes on unchanged); the one call then bridges the two phones,
//! each talking to the relay on its own leg. Nothing is ever relayed to
//! one of our own addresses.

// Packet bytes are untrusted: keep every access checked.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod index;
mod sdp;

use index::Chains;

use crate::sdp::{Direction, Sdp};
use crate::time::Instant;
use core::time::Duration;
use std::cell::Cell;
use std::net::{IpAddr, SocketAddr};

pub use sdp::Ports;

pub use crate::limits::MAX_MEDIA;
/// How long a latched side may move to another source after an offer or
/// answer of its own that changed its SDP address or port.
const LEARN: Duration = Duration::from_secs(5);
/// An offer that has seen no response at all in this long frees its slot
/// (64 x T1, RFC 3261 §17.1.1.2).
pub const OFFER_TIMEOUT: Duration = Duration::from_secs(32);
use crate::limits::{DEFAULT_MAX_CALLS, MAX_CALL_ID, MAX_TAG};
use crate::output::{Socket, Transmit};

pub use crate::cx::RelaySockets;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayConfig {
    /// Even first port, odd last port of the range.
    pub port_lo: u16,
    pub port_hi: u16,
    pub max_calls: usize,
    /// Calls offered from one public source at once (`--max-calls-per-source`);
    /// `None`: a quarter of `max_calls`, at least one.
    pub max_per_source: Option<usize>,
    pub media_timeout: Duration,
    pub hold_timeout: Duration,
}

impl Default for RelayConfig {
    /// Ports 16384-16999, [`DEFAULT_MAX_CALLS`] calls, 120 s without media,
    /// 7200 s for calls on hold.
    fn default() -> Self {
        RelayConfig {
            port_lo: 16384,
            port_hi: 16999,
            max_calls: DEFAULT_MAX_CALLS,
            max_per_source: None,
            media_timeout: Duration::from_secs(120),
            hold_timeout: Duration::from_secs(7200),
        }
    }
}

impl RelayConfig {
    /// Calls one public source may hold at once.
    pub fn per_source(&self) -> usize {
        self.max_per_source
            .unwrap_or(self.max_calls / 4)
            .clamp(1, self.max_calls.max(1))
    }

    pub fn pairs(&self) -> u16 {
        self.port_hi.saturating_sub(self.port_lo).div_ceil(2)
    }

    /// Worst case of sockets: calls x streams x 2 sides x 2 ports.
    pub fn max_sockets(&self) -> usize {
        self.max_calls * MAX_MEDIA * 2 * 2
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayError {
    /// No call slot or no port pair: 503 without Retry-After.
    Capacity,
    /// The offering public source holds all the calls it may: 503 without
    /// Retry-After.
    PerSource,
    /// More than [`MAX_MEDIA`] active streams: 488.
    TooManyStreams,
    /// The SDP could not be written (too large): 488.
    Unwritable,
}

/// Why an SDP offer or answer was not pointed at the relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfferError {
    Sdp(crate::sdp::SdpError),
    Relay(RelayError),
    /// The rewritten body would not fit [`MAX_BODY`](crate::limits::MAX_BODY).
    TooLarge,
}

impl core::fmt::Display for OfferError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            OfferError::Sdp(e) => write!(f, "bad SDP: {e}"),
            OfferError::Relay(RelayError::Capacity) => {
                f.write_str("no relay slot or port pair free")
            }
            OfferError::Relay(RelayError::PerSource) => {
                f.write_str("this source holds all the relayed calls it may")
            }
            OfferError::Relay(RelayError::TooManyStreams) => f.write_str("too many media streams"),
            OfferError::Relay(RelayError::Unwritable) | OfferError::TooLarge => {
                f.write_str("SDP too large to rewrite")
            }
        }
    }
}

/// The dialog a message belongs to, as the relay needs it.
#[derive(Debug, Clone, Copy)]
pub struct Dialog<'a> {
    pub call_id: &'a [u8],
    /// The tag of the party that sent this SDP (From of a request, To of a
    /// response).
    pub sender_tag: &'a [u8],
    /// The other party's tag, if the message has it.
    pub peer_tag: Option<&'a [u8]>,
    pub sender_leg: usize,
    pub peer_leg: usize,
    /// Where the message carrying the SDP came from: a phone behind its own
    /// NAT signals a private address but sends from this one.
    pub signal_ip: IpAddr,
    /// The sender's address when it came in on a public leg: the calls it
    /// creates count against it.
    pub public_source: Option<IpAddr>,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RelayStats {
    pub relayed: u64,
    pub foreign_source: u64,
    pub no_target: u64,
    /// Packets whose destination would have been one of our own sockets.
    pub to_self: u64,
    /// The most calls held at once.
    pub peak: u64,
    /// Calls refused because their public source held its share.
    pub per_source_refused: u64,
    /// Calls freed because their offer saw no response in time.
    pub unanswered: u64,
    /// Packets held back from a side that has not latched, because its
    /// SDP names another address than its signalling came from (behind
    /// NAT, its SDP address is not reachable).
    pub unlatched: u64,
    /// Offers and answers that named one of our own relay ports (the
    /// second pass of a hairpin).
    pub hairpins: u64,
    pub unknown_port: u64,
    pub sessions_opened: u64,
    pub sessions_closed: u64,
    pub expired: u64,
}

/// A call as `edgesip status` shows it. Side 0 offered first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallView {
    pub age: Duration,
    /// Since the last relayed packet or offer/answer.
    pub idle: Duration,
    /// The leg of each side's relay ports.
    pub legs: [usize; 2],
    pub answered: bool,
    pub streams: heapless::Vec<StreamView, MAX_MEDIA>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamView {
    /// The RTP port each side sends to.
    pub ports: [u16; 2],
    /// Where each side's RTP comes from, once latched.
    pub latched: [Option<SocketAddr>; 2],
    /// Packets relayed from each side.
    pub packets: [u64; 2],
}

/// One side of a stream, as its SDP and its packets describe it.
#[derive(Debug, Clone, Copy, Default)]
struct Peer {
    rtp: Option<SocketAddr>,
    rtcp: Option<SocketAddr>,
    mux: bool,
    /// Not RTP (T.38 udptl): one port, latch on any packet.
    plain: bool,
    holding: bool,
    allowed: [Option<IpAddr>; 2],
    latched_rtp: Option<SocketAddr>,
    latched_rtcp: Option<SocketAddr>,
    learn_until: Instant,
}

#[derive(Debug, Clone, Copy, Default)]
struct Stream {
    used: bool,
    pair: [u16; 2],
    peer: [Peer; 2],
    /// Packets relayed from each side.
    packets: [u64; 2],
}

#[derive(Debug, Clone)]
struct Call {
    used: bool,
    call_id: heapless::Vec<u8, MAX_CALL_ID>,
    tags: [heapless::Vec<u8, MAX_TAG>; 2],
    /// The leg of each side's relay pairs.
    legs: [usize; 2],
    /// The leg each side's signalling comes in on; it differs from `legs`
    /// only in a hairpin bridged through one call.
    signal: [usize; 2],
    media: [Stream; MAX_MEDIA],
    confirmed: bool,
    /// Another call slot whose side-1 pairs this fork shares.
    fork_of: Option<usize>,
    last_activity: Instant,
    /// The public address that offered it, if one did.
    source: Option<IpAddr>,
    /// When the first offer came; until any response, it expires after
    /// [`OFFER_TIMEOUT`].
    offered_at: Instant,
    answered: bool,
}

impl Call {
    fn empty() -> Call {
        Call {
            used: false,
            call_id: heapless::Vec::new(),
            tags: [heapless::Vec::new(), heapless::Vec::new()],
            legs: [0; 2],
            signal: [0; 2],
            media: [Stream::default(); MAX_MEDIA],
            confirmed: false,
            fork_of: None,
            last_activity: Instant(0),
            source: None,
            offered_at: Instant(0),
            answered: false,
        }
    }

    fn side_of(&self, tag: &[u8]) -> Option<usize> {
        self.tags
            .iter()
            .position(|t| !t.is_empty() && t.as_slice() == tag)
    }

    fn holding(&self) -> bool {
        let mut any = false;
        for m in self.media.iter().filter(|m| m.used) {
            any = true;
            if !(m.peer[0].holding || m.peer[1].holding) {
                return false;
            }
        }
        any
    }
}

pub struct Relay {
    cfg: RelayConfig,
    media_ips: heapless::Vec<IpAddr, { crate::limits::MAX_LEGS }>,
    /// The legs' SIP sockets: never a media destination.
    leg_addrs: heapless::Vec<SocketAddr, { crate::limits::MAX_LEGS }>,
    calls: Vec<Call>,
    /// Per (leg, pair): how many streams use it (forks share side-1 pairs).
    refs: Vec<u8>,
    /// Per (leg, pair): the call and stream that owns it, + 1 (0: free).
    owner: Vec<u16>,
    /// Where the next free-pair search starts, per leg, so ports rotate.
    next: [u16; crate::limits::MAX_LEGS],
    /// Calls in use.
    active: usize,
    /// The earliest deadline and its call, kept as calls change so that
    /// `poll_timeout` and an idle `handle_timeout` do not look at every
    /// call. `stale`: that call got later or went; rescan when asked.
    due: Cell<Option<(Instant, usize)>>,
    stale: Cell<bool>,
    /// The call an offer or answer worked on, for [`Relay::offer_answer`].
    worked_on: Option<usize>,
    /// Calls in use by Call-ID, and by the public address that offered
    /// them; the free slots; free pairs per leg. Nothing per message looks
    /// at every call or every pair.
    by_id: Chains,
    by_source: Chains,
    free: Vec<u16>,
    free_pairs: [usize; crate::limits::MAX_LEGS],
    stats: RelayStats,
}

fn is_rtp_shaped(d: &[u8]) -> bool {
    d.len() >= 12 && d.first().is_some_and(|b| b >> 6 == 2)
}

/// RFC 5761 §4: RTCP packet types 192..=223 in the second byte.
fn is_rtcp(d: &[u8]) -> bool {
    d.len() >= 8 && d.get(1).is_some_and(|b| (192..=223).contains(b))
}

impl Relay {
    /// Allocates the tables once; `media_ips[leg]` is the IP written into
    /// SDP for that leg, `leg_addrs` the legs' SIP sockets.
    pub fn new(cfg: RelayConfig, media_ips: &[IpAddr], leg_addrs: &[SocketAddr]) -> Relay {
        let pairs = usize::from(cfg.pairs());
        let slots = pairs * media_ips.len();
        let mut ips = heapless::Vec::new();
        for ip in media_ips {
            let _ = ips.push(*ip);
        }
        let mut addrs = heapless::Vec::new();
        for a in leg_addrs {
            let _ = addrs.push(*a);
        }
        Relay {
            calls: vec![Call::empty(); cfg.max_calls],
            refs: vec![0; slots],
            owner: vec![0; slots],
            next: [0; crate::limits::MAX_LEGS],
            active: 0,
            due: Cell::new(None),
            stale: Cell::new(false),
            worked_on: None,
            by_id: Chains::new(cfg.max_calls, *b"edgesip call-ids"),
            by_source: Chains::new(cfg.max_calls, *b"edgesip sources."),
            free: (0..cfg.max_calls as u16).rev().collect(),
            free_pairs: [pairs; crate::limits::MAX_LEGS],
            media_ips: ips,
            leg_addrs: addrs,
            cfg,
            stats: RelayStats::default(),
        }
    }

    pub fn stats(&self) -> &RelayStats {
        &self.stats
    }

    pub fn config(&self) -> &RelayConfig {
        &self.cfg
    }

    /// Calls (forks included) holding relay slots.
    pub fn active_calls(&self) -> usize {
        self.active
    }

    /// The calls held now, for `edgesip status`.
    pub fn calls(&self, now: Instant) -> impl Iterator<Item = CallView> + '_ {
        self.calls.iter().filter(|c| c.used).map(move |c| {
            let mut streams = heapless::Vec::new();
            for m in c.media.iter().filter(|m| m.used) {
                let _ = streams.push(StreamView {
                    ports: m.pair.map(|p| self.port_of(p)),
                    latched: [m.peer[0].latched_rtp, m.peer[1].latched_rtp],
                    packets: m.packets,
                });
            }
            CallView {
                age: now.since(c.offered_at),
                idle: now.since(c.last_activity),
                legs: c.legs,
                answered: c.answered,
                streams,
            }
        })
    }

    /// The port of pair `pair` (its RTP port; RTCP is one above).
    pub fn port_of(&self, pair: u16) -> u16 {
        self.cfg.port_lo + 2 * pair
    }

    /// The (leg, pair) of one of our relay ports at `a`, if it is one.
    fn own_pair(&self, a: SocketAddr) -> Option<(usize, u16)> {
        let leg = self.media_ips.iter().position(|ip| *ip == a.ip())?;
        let pair = a.port().checked_sub(self.cfg.port_lo)? / 2;
        (pair < self.cfg.pairs()).then_some((leg, pair))
    }

    /// Whether `a` is one of our own sockets: a relay port or a leg.
    fn is_own(&self, a: SocketAddr) -> bool {
        self.own_pair(a).is_some() || self.leg_addrs.contains(&a)
    }

    fn slot(&self, leg: usize, pair: u16) -> usize {
        leg * usize::from(self.cfg.pairs()) + usize::from(pair)
    }

    /// Takes a free pair on `leg`, opening its sockets.
    fn take_pair(&mut self, leg: usize, sockets: &mut dyn RelaySockets) -> Option<u16> {
        let pairs = self.cfg.pairs();
        let start = *self.next.get(leg)?;
        for k in 0..pairs {
            let pair = (start + k) % pairs;
            let s = self.slot(leg, pair);
            let r = self.refs.get_mut(s)?;
            if *r == 0 && sockets.open(leg, pair) {
                *r = 1;
                if let Some(n) = self.free_pairs.get_mut(leg) {
                    *n = n.saturating_sub(1);
                }
                if let Some(next) = self.next.get_mut(leg) {
                    *next = (pair + 1) % pairs;
                }
                return Some(pair);
            }
        }
        None
    }

    fn release_pair(&mut self, leg: usize, pair: u16, sockets: &mut dyn RelaySockets) {
        let s = self.slot(leg, pair);
        let (Some(r), Some(o)) = (self.refs.get_mut(s), self.owner.get_mut(s)) else {
            return;
        };
        *r = r.saturating_sub(1);
        if *r == 0 {
            *o = 0;
            sockets.close(leg, pair);
            if let Some(n) = self.free_pairs.get_mut(leg) {
                *n += 1;
            }
            return;
        }
        // A fork still uses it: hand ownership to that fork.
        let user = self.calls.iter().enumerate().find_map(|(ci, c)| {
            c.media
                .iter()
                .position(|m| m.used && c.legs[1] == leg && m.pair[1] == pair)
                .filter(|_| c.used)
                .map(|mi| (ci, mi))
        });
        if let Some((ci, mi)) = user {
            *o = encode_owner(ci, mi, 1);
        }
    }

    fn free_pairs(&self, leg: usize) -> usize {
        self.free_pairs.get(leg).copied().unwrap_or(0)
    }

    /// The first call with this Call-ID's bucket; walk on with
    /// `self.by_id.after` and compare the Call-ID.
    fn first_with_id(&self, call_id: &[u8]) -> Option<usize> {
        self.by_id.first(self.by_id.bucket(call_id))
    }

    fn source_bucket(&self, ip: IpAddr) -> usize {
        match ip {
            IpAddr::V4(v4) => self.by_source.bucket(&v4.octets()),
            IpAddr::V6(v6) => self.by_source.bucket(&v6.octets()),
        }
    }

    fn close(&mut self, i: usize, sockets: &mut dyn RelaySockets) {
        let Some(c) = self.calls.get_mut(i).filter(|c| c.used) else {
            return;
        };
        c.used = false;
        self.later(i);
        let Some(c) = self.calls.get(i) else {
            return;
        };
        let (legs, media, source) = (c.legs, c.media, c.source);
        let b = self.by_id.bucket(&c.call_id);
        self.by_id.unlink(i, b);
        if let Some(ip) = source {
            let b = self.source_bucket(ip);
            self.by_source.unlink(i, b);
        }
        self.free.push(i as u16);
        for m in media.iter().filter(|m| m.used) {
            for (leg, pair) in legs.iter().zip(m.pair) {
                self.release_pair(*leg, pair, sockets);
            }
        }
        // Its forks share its Call-ID.
        let mut at = self.by_id.first(b);
        while let Some(j) = at {
            at = self.by_id.after(j);
            if let Some(c) = self.calls.get_mut(j).filter(|c| c.fork_of == Some(i)) {
                c.fork_of = None;
            }
        }
        self.stats.sessions_closed += 1;
        self.active = self.active.saturating_sub(1);
    }

    /// BYE: every slot of the dialog, in both directions.
    pub fn close_dialog(
        &mut self,
        call_id: &[u8],
        a: &[u8],
        b: &[u8],
        sockets: &mut dyn RelaySockets,
    ) {
        let mut at = self.first_with_id(call_id);
        while let Some(i) = at {
            at = self.by_id.after(i);
            let hit = self.calls.get(i).is_some_and(|c| {
                c.used
                    && c.call_id == call_id
                    && c.side_of(a).is_some()
                    && (c.tags[1].is_empty() || c.side_of(b).is_some())
            });
            if hit {
                self.close(i, sockets);
            }
        }
    }

    /// CANCEL, or a final response >= 300 to the initial INVITE: the
    /// call's unconfirmed slots go.
    pub fn close_early(&mut self, call_id: &[u8], from_tag: &[u8], sockets: &mut dyn RelaySockets) {
        let mut at = self.first_with_id(call_id);
        while let Some(i) = at {
            at = self.by_id.after(i);
            let hit = self.calls.get(i).is_some_and(|c| {
                c.used && !c.confirmed && c.call_id == call_id && c.tags[0] == from_tag
            });
            if hit {
                self.close(i, sockets);
            }
        }
    }

    /// A 2xx to an INVITE from `to_tag`, which came in on `leg`: that
    /// fork is the call, the other forks answering on that leg go (a
    /// hairpin's other pass is not a fork).
    pub fn confirm(
        &mut self,
        call_id: &[u8],
        from_tag: &[u8],
        to_tag: &[u8],
        leg: usize,
        sockets: &mut dyn RelaySockets,
    ) {
        let ours = |c: &Call| {
            c.used && c.call_id == call_id && c.tags[0] == from_tag && c.signal[1] == leg
        };
        let mut found = false;
        let mut at = self.first_with_id(call_id);
        while let Some(i) = at {
            at = self.by_id.after(i);
            if let Some(c) = self
                .calls
                .get_mut(i)
                .filter(|c| ours(c) && c.tags[1] == to_tag)
            {
                c.confirmed = true;
                found = true;
            }
        }
        if !found {
            return;
        }
        let mut at = self.first_with_id(call_id);
        while let Some(i) = at {
            at = self.by_id.after(i);
            if self.calls.get(i).is_some_and(|c| ours(c) && !c.confirmed) {
                self.close(i, sockets);
            }
        }
    }

    /// The slot for this SDP and the sender's side in it, creating one
    /// (a new call or a fork) when needed.
    fn slot_for(
        &mut self,
        now: Instant,
        d: &Dialog,
        sockets: &mut dyn RelaySockets,
    ) -> Result<(usize, usize), RelayError> {
        let fits = d.call_id.len() <= MAX_CALL_ID
            && d.sender_tag.len() <= MAX_TAG
            && d.peer_tag.is_none_or(|t| t.len() <= MAX_TAG);
        if !fits {
            return Err(RelayError::Capacity);
        }
        let mut fork_parent = None;
        let mut at = self.first_with_id(d.call_id);
        while let Some(i) = at {
            at = self.by_id.after(i);
            let Some(c) = self.calls.get_mut(i) else {
                continue;
            };
            if !c.used || c.call_id != d.call_id {
                continue;
            }
            // The sender's side must signal from the leg this came in on:
            // the second pass of a hairpin is another call.
            let s = c
                .side_of(d.sender_tag)
                .filter(|s| c.signal.get(*s) == Some(&d.sender_leg));
            let p = d.peer_tag.and_then(|t| c.side_of(t));
            if s.is_none() && c.side_of(d.sender_tag).is_some() {
                continue;
            }
            if s.is_none() && c.signal[1] != d.sender_leg {
                continue;
            }
            match (s, p) {
                // In-dialog, or an offer retransmitted.
                (Some(s), Some(_)) => return Ok((i, s)),
                (Some(s), None)
                    if d.peer_tag.is_none() || c.tags.get(1 - s).is_some_and(|t| t.is_empty()) =>
                {
                    if let (Some(t), Some(other)) = (d.peer_tag, c.tags.get_mut(1 - s)) {
                        let _ = other.extend_from_slice(t);
                    }
                    return Ok((i, s));
                }
                // The first answer names side 1.
                (None, Some(0)) if c.tags[1].is_empty() => {
                    let _ = c.tags[1].extend_from_slice(d.sender_tag);
                    return Ok((i, 1));
                }
                // Another answerer: a fork of the first slot.
                (None, Some(0)) if c.fork_of.is_none() => fork_parent = Some(i),
                _ => {}
            }
        }
        if let (Some(ip), None) = (d.public_source, fork_parent) {
            let mut held = 0;
            let mut at = self.by_source.first(self.source_bucket(ip));
            while let Some(i) = at {
                at = self.by_source.after(i);
                held += usize::from(
                    self.calls
                        .get(i)
                        .is_some_and(|c| c.used && c.fork_of.is_none() && c.source == Some(ip)),
                );
            }
            if held >= self.cfg.per_source() {
                self.stats.per_source_refused += 1;
                return Err(RelayError::PerSource);
            }
        }
        let free = usize::from(*self.free.last().ok_or(RelayError::Capacity)?);
        let mut call = Call::empty();
        call.used = true;
        let _ = call.call_id.extend_from_slice(d.call_id);
        call.last_activity = now;
        call.offered_at = now;
        call.source = d.public_source;
        let side = match fork_parent {
            Some(p) => {
                let parent = self.calls.get(p).ok_or(RelayError::Capacity)?;
                call.tags[0] = parent.tags[0].clone();
                let _ = call.tags[1].extend_from_slice(d.sender_tag);
                call.legs = parent.legs;
                call.signal = parent.signal;
                call.fork_of = Some(p);
                call.source = parent.source;
                call.offered_at = parent.offered_at;
                // A fork exists because an answer came.
                call.answered = true;
                let need = parent.media.iter().filter(|m| m.used).count();
                if self.free_pairs(call.legs[0]) < need {
                    return Err(RelayError::Capacity);
                }
                // Shares the callee-facing pairs, gets its own
                // caller-facing ones.
                for (st, pm) in call.media.iter_mut().zip(&parent.media) {
                    if pm.used {
                        *st = Stream {
                            used: true,
                            pair: [u16::MAX, pm.pair[1]],
                            peer: [pm.peer[0], Peer::default()],
                            packets: [0; 2],
                        };
                    }
                }
                1
            }
            None => {
                let _ = call.tags[0].extend_from_slice(d.sender_tag);
                if let Some(t) = d.peer_tag {
                    let _ = call.tags[1].extend_from_slice(t);
                }
                call.legs = [d.sender_leg, d.peer_leg];
                call.signal = call.legs;
                0
            }
        };
        let [leg0, leg1] = call.legs;
        let (id_bucket, source) = (self.by_id.bucket(&call.call_id), call.source);
        *self.calls.get_mut(free).ok_or(RelayError::Capacity)? = call;
        self.free.pop();
        self.by_id.link(free, id_bucket);
        if let Some(ip) = source {
            let b = self.source_bucket(ip);
            self.by_source.link(free, b);
        }
        for mi in 0..MAX_MEDIA {
            let Some(m) = self.calls.get(free).and_then(|c| c.media.get(mi)).copied() else {
                continue;
            };
            if !m.used {
                continue;
            }
            let s1 = self.slot(leg1, m.pair[1]);
            if let Some(r) = self.refs.get_mut(s1) {
                if *r == 0 {
                    if let Some(n) = self.free_pairs.get_mut(leg1) {
                        *n = n.saturating_sub(1);
                    }
                }
                *r = r.saturating_add(1);
            }
            match self.take_pair(leg0, sockets) {
                Some(p0) => {
                    if let Some(st) = self.calls.get_mut(free).and_then(|c| c.media.get_mut(mi)) {
                        st.pair[0] = p0;
                    }
                    let s0 = self.slot(leg0, p0);
                    if let Some(o) = self.owner.get_mut(s0) {
                        *o = encode_owner(free, mi, 0);
                    }
                }
                None => {
                    self.close(free, sockets);
                    return Err(RelayError::Capacity);
                }
            }
        }
        self.stats.sessions_opened += 1;
        self.active += 1;
        self.stats.peak = self.stats.peak.max(self.active as u64);
        Ok((free, side))
    }

    /// An offer or answer from `d.sender_tag`, going out on `d.peer_leg`:
    /// updates the sender's side from its SDP, takes port pairs for new
    /// streams, and writes the SDP the other side gets into `out`. `None`:
    /// the SDP names one of our own relay ports (a hairpin) and goes on as
    /// it is.
    pub fn offer_answer(
        &mut self,
        now: Instant,
        d: &Dialog,
        sdp: &Sdp,
        out: &mut [u8],
        sockets: &mut dyn RelaySockets,
    ) -> Result<Option<usize>, RelayError> {
        let r = self.update_from_sdp(now, d, sdp, out, sockets);
        // New, off hold, or answered: its deadline may have moved either way.
        if let Some(ci) = self.worked_on.take() {
            self.later(ci);
            self.sooner(ci);
        }
        r
    }

    fn update_from_sdp(
        &mut self,
        now: Instant,
        d: &Dialog,
        sdp: &Sdp,
        out: &mut [u8],
        sockets: &mut dyn RelaySockets,
    ) -> Result<Option<usize>, RelayError> {
        if let Some(hairpin) = self.hairpin(d, sdp, out, sockets) {
            self.stats.hairpins += 1;
            return hairpin;
        }
        let mut active = 0;
        for m in sdp.media() {
            if !m.is_disabled() {
                active += 1;
                if m.index >= MAX_MEDIA {
                    return Err(RelayError::TooManyStreams);
                }
            }
        }
        if active > MAX_MEDIA {
            return Err(RelayError::TooManyStreams);
        }
        let (ci, side) = self.slot_for(now, d, sockets)?;
        self.worked_on = Some(ci);
        let call = self.calls.get(ci).ok_or(RelayError::Capacity)?;
        let legs = call.legs;
        // New streams need a pair on each leg; check before taking any.
        let new = sdp
            .media()
            .filter(|m| !m.is_disabled() && !call.media.get(m.index).is_some_and(|st| st.used))
            .count();
        if self.free_pairs(legs[0]) < new
            || self.free_pairs(legs[1]) < new + usize::from(legs[0] == legs[1]) * new
        {
            self.drop_if_empty(ci, sockets);
            return Err(RelayError::Capacity);
        }
        let mut ports: Ports = [None; MAX_MEDIA];
        for m in sdp.media() {
            if m.is_disabled() {
                let st = self
                    .calls
                    .get_mut(ci)
                    .and_then(|c| c.media.get_mut(m.index));
                if let Some(peer) = st.and_then(|st| st.peer.get_mut(side)) {
                    peer.rtp = None;
                    peer.rtcp = None;
                }
                continue;
            }
            let Some(st) = self.calls.get(ci).and_then(|c| c.media.get(m.index)) else {
                return Err(RelayError::TooManyStreams);
            };
            if !st.used {
                let Some(p0) = self.take_pair(legs[0], sockets) else {
                    self.drop_if_empty(ci, sockets);
                    return Err(RelayError::Capacity);
                };
                let Some(p1) = self.take_pair(legs[1], sockets) else {
                    self.release_pair(legs[0], p0, sockets);
                    self.drop_if_empty(ci, sockets);
                    return Err(RelayError::Capacity);
                };
                let pair = [p0, p1];
                for (s, (leg, p)) in legs.into_iter().zip(pair).enumerate() {
                    let slot = self.slot(leg, p);
                    if let Some(o) = self.owner.get_mut(slot) {
                        *o = encode_owner(ci, m.index, s);
                    }
                }
                if let Some(st) = self
                    .calls
                    .get_mut(ci)
                    .and_then(|c| c.media.get_mut(m.index))
                {
                    *st = Stream {
                        used: true,
                        pair,
                        peer: [Peer::default(); 2],
                        packets: [0; 2],
                    };
                }
            }
            let sdp_ip = m.conn.and_then(|c| c.ip);
            let hold = m.is_old_hold() || m.direction == Direction::Inactive;
            let target = |port: u16| match sdp_ip {
                Some(ip) if !ip.is_unspecified() => Some(SocketAddr::new(ip, port)),
                _ => None,
            };
            let rtcp_ip = m.rtcp_addr.and_then(|a| a.ip).or(sdp_ip);
            let st = self
                .calls
                .get_mut(ci)
                .and_then(|c| c.media.get_mut(m.index));
            let st = st.ok_or(RelayError::TooManyStreams)?;
            let theirs = *st.pair.get(1 - side).ok_or(RelayError::Capacity)?;
            let peer = st.peer.get_mut(side).ok_or(RelayError::Capacity)?;
            let new_rtp = target(m.port_value);
            // A latched side may move only when its own SDP moved, and only
            // for a while: another port of the same host is no reason to
            // re-latch (a hijack in the learning window).
            if new_rtp != peer.rtp && (peer.latched_rtp.is_some() || peer.latched_rtcp.is_some()) {
                peer.learn_until = now + LEARN;
            }
            peer.rtp = new_rtp;
            peer.rtcp = match (rtcp_ip, m.rtcp_port) {
                (Some(ip), Some(p)) if !ip.is_unspecified() => Some(SocketAddr::new(ip, p)),
                _ => target(m.port_value.saturating_add(1)),
            };
            peer.mux = m.rtcp_mux;
            peer.plain = !m.is_rtp;
            peer.holding = hold;
            peer.allowed = [sdp_ip.filter(|ip| !ip.is_unspecified()), Some(d.signal_ip)];
            if let Some(p) = ports.get_mut(m.index) {
                *p = Some(self.cfg.port_lo + 2 * theirs);
            }
        }
        if let Some(c) = self.calls.get_mut(ci) {
            c.last_activity = now;
        }
        let ip = legs.get(1 - side).and_then(|l| self.media_ips.get(*l));
        let ip = *ip.ok_or(RelayError::Capacity)?;
        sdp::rewrite(sdp, ip, &ports, out)
            .map(Some)
            .map_err(|_| RelayError::Unwritable)
    }

    /// An SDP that names our own relay ports: the second pass of a
    /// hairpin. `None` when it names none. The side behind each such port
    /// is the party this SDP goes to, so that side now signals from
    /// `d.peer_leg`; a side whose pair is on another leg moves to a new
    /// pair on that leg, so each phone is offered the relay on its own leg,
    /// and the SDP is rewritten for it (`Some(Ok(Some(len)))`). When nothing
    /// had to move (or could not: a fork shares the pair, or no pair is
    /// free), the SDP goes on as it is (`Some(Ok(None))`): media sent there
    /// reaches our relay anyway.
    fn hairpin(
        &mut self,
        d: &Dialog,
        sdp: &Sdp,
        out: &mut [u8],
        sockets: &mut dyn RelaySockets,
    ) -> Option<Result<Option<usize>, RelayError>> {
        let mut own = false;
        let mut ports: Ports = [None; MAX_MEDIA];
        for m in sdp.media().filter(|m| !m.is_disabled()) {
            let Some(ip) = m.conn.and_then(|c| c.ip) else {
                continue;
            };
            let Some((leg, pair)) = self.own_pair(SocketAddr::new(ip, m.port_value)) else {
                continue;
            };
            own = true;
            let slot = self.slot(leg, pair);
            let Some((ci, mi, side)) = self.owner.get(slot).and_then(|o| decode_owner(*o)) else {
                continue;
            };
            let Some(c) = self.calls.get_mut(ci).filter(|c| c.used) else {
                continue;
            };
            if let Some(signal) = c.signal.get_mut(side) {
                *signal = d.peer_leg;
            }
            if leg == d.peer_leg || self.refs.get(slot) != Some(&1) || m.index >= MAX_MEDIA {
                continue;
            }
            let Some(new) = self.take_pair(d.peer_leg, sockets) else {
                continue;
            };
            self.release_pair(leg, pair, sockets);
            if let Some(c) = self.calls.get_mut(ci) {
                if let Some(p) = c.media.get_mut(mi).and_then(|st| st.pair.get_mut(side)) {
                    *p = new;
                }
                if let Some(l) = c.legs.get_mut(side) {
                    *l = d.peer_leg;
                }
            }
            let s = self.slot(d.peer_leg, new);
            if let Some(o) = self.owner.get_mut(s) {
                *o = encode_owner(ci, mi, side);
            }
            if let Some(p) = ports.get_mut(m.index) {
                *p = Some(self.port_of(new));
            }
        }
        if !own {
            return None;
        }
        if ports.iter().all(Option::is_none) {
            return Some(Ok(None));
        }
        let Some(&ip) = self.media_ips.get(d.peer_leg) else {
            return Some(Err(RelayError::Capacity));
        };
        Some(
            sdp::rewrite(sdp, ip, &ports, out)
                .map(Some)
                .map_err(|_| RelayError::Unwritable),
        )
    }

    /// Frees a slot that an offer created but could not fill.
    fn drop_if_empty(&mut self, ci: usize, sockets: &mut dyn RelaySockets) {
        if self
            .calls
            .get(ci)
            .is_some_and(|c| !c.media.iter().any(|m| m.used))
        {
            self.close(ci, sockets);
        }
    }

    /// A packet on relay port `(leg, pair, odd)` from `src`: where to send
    /// it, if anywhere (the packet leaves as it is, from the socket named).
    /// One lookup, no allocation.
    pub fn relay(
        &mut self,
        now: Instant,
        leg: usize,
        pair: u16,
        odd: bool,
        src: SocketAddr,
        data: &[u8],
    ) -> Option<Transmit> {
        if leg >= self.media_ips.len() || pair >= self.cfg.pairs() {
            return None;
        }
        let owner = self.owner.get(self.slot(leg, pair)).copied();
        let Some((mut ci, mi, side)) = owner.and_then(decode_owner) else {
            self.stats.unknown_port += 1;
            return None;
        };
        // A shared callee-facing pair: the fork whose callee sent it.
        if side == 1 {
            let accepts = |c: &Call| {
                c.used
                    && c.media.get(mi).is_some_and(|m| {
                        m.used
                            && c.legs[1] == leg
                            && m.pair[1] == pair
                            && m.peer[1].accepts(now, src, odd)
                    })
            };
            if !self.calls.get(ci).is_some_and(accepts) {
                // Forks share the owner's Call-ID.
                let b = self.calls.get(ci).map(|c| self.by_id.bucket(&c.call_id));
                let mut at = b.and_then(|b| self.by_id.first(b));
                while let Some(f) = at {
                    at = self.by_id.after(f);
                    if self.calls.get(f).is_some_and(accepts) {
                        ci = f;
                        break;
                    }
                }
            }
        }
        let call = self.calls.get_mut(ci)?;
        let st = call.media.get_mut(mi)?;
        let from = st.peer.get_mut(side)?;
        if !from.accepts(now, src, odd) {
            self.stats.foreign_source += 1;
            return None;
        }
        let rtcp = odd || (from.mux && is_rtcp(data));
        if from.plain || is_rtp_shaped(data) {
            let latch = if rtcp && !from.mux {
                &mut from.latched_rtcp
            } else {
                &mut from.latched_rtp
            };
            *latch = Some(src);
        }
        let to = st.peer.get(1 - side)?;
        let (odd_out, latched, announced) = if rtcp && !to.mux {
            (true, to.latched_rtcp, to.rtcp)
        } else {
            (false, to.latched_rtp, to.rtp)
        };
        let dst = match (latched, announced) {
            (Some(a), _) => a,
            // Behind NAT its SDP address is not reachable: wait for its
            // first packet.
            (None, Some(_)) if to.behind_nat() => {
                self.stats.unlatched += 1;
                return None;
            }
            (None, Some(a)) => a,
            (None, None) => {
                self.stats.no_target += 1;
                return None;
            }
        };
        let out = Socket::Relay {
            leg: *call.legs.get(1 - side)?,
            pair: *st.pair.get(1 - side)?,
            odd: odd_out,
        };
        call.last_activity = now;
        self.later(ci);
        if self.is_own(dst) {
            self.stats.to_self += 1;
            return None;
        }
        let stream = self.calls.get_mut(ci).and_then(|c| c.media.get_mut(mi));
        if let Some(n) = stream.and_then(|m| m.packets.get_mut(side)) {
            *n += 1;
        }
        self.stats.relayed += 1;
        Some(Transmit {
            socket: out,
            dst,
            len: data.len(),
        })
    }

    fn deadline(&self, c: &Call) -> Instant {
        let t = if c.holding() {
            self.cfg.hold_timeout
        } else {
            self.cfg.media_timeout
        };
        let idle = c.last_activity + t;
        if c.answered {
            idle
        } else {
            idle.min(c.offered_at + OFFER_TIMEOUT)
        }
    }

    /// A response from `leg` to the INVITE of (`call_id`, `from_tag`): the
    /// offer is answered and keeps its slot past [`OFFER_TIMEOUT`].
    pub fn answered(&mut self, call_id: &[u8], from_tag: &[u8], leg: usize) {
        let mut at = self.first_with_id(call_id);
        while let Some(i) = at {
            at = self.by_id.after(i);
            if let Some(c) = self.calls.get_mut(i) {
                if c.used && c.call_id == call_id && c.tags[0] == from_tag && c.signal[1] == leg {
                    c.answered = true;
                }
            }
        }
        // Answered calls lose the offer timeout: only ever later.
        if let Some((_, ci)) = self.due.get() {
            self.later(ci);
        }
    }

    /// Call `ci` may expire later than it did (activity, an answer, or it
    /// went): if it was the earliest, the earliest must be found again.
    fn later(&self, ci: usize) {
        if self.due.get().is_some_and(|(_, i)| i == ci) {
            self.stale.set(true);
        }
    }

    /// Call `ci` may expire sooner than any other.
    fn sooner(&self, ci: usize) {
        let Some(c) = self.calls.get(ci).filter(|c| c.used) else {
            return;
        };
        let d = self.deadline(c);
        if self.due.get().is_none_or(|(t, _)| d < t) {
            self.due.set(Some((d, ci)));
        }
    }

    /// When the next idle call expires. Looks at every call only after the
    /// earliest one changed.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.stale.get() || (self.due.get().is_none() && self.active > 0) {
            let earliest = self
                .calls
                .iter()
                .enumerate()
                .filter(|(_, c)| c.used)
                .map(|(i, c)| (self.deadline(c), i))
                .min();
            self.due.set(earliest);
            self.stale.set(false);
        }
        self.due.get().map(|(t, _)| t)
    }

    /// Frees calls idle past their timeout.
    pub fn handle_timeout(&mut self, now: Instant, sockets: &mut dyn RelaySockets) {
        if self.poll_timeout().is_none_or(|t| now < t) {
            return;
        }
        for i in 0..self.calls.len() {
            let Some(c) = self.calls.get(i) else {
                continue;
            };
            if c.used && self.deadline(c) <= now {
                let unanswered = !c.answered && now >= c.offered_at + OFFER_TIMEOUT;
                self.close(i, sockets);
                if unanswered {
                    self.stats.unanswered += 1;
                } else {
                    self.stats.expired += 1;
                }
            }
        }
        self.stale.set(true);
    }
}

impl Peer {
    /// Its SDP names another address than its signalling came from.
    fn behind_nat(&self) -> bool {
        self.allowed[0].is_some() && self.allowed[0] != self.allowed[1]
    }

    /// A latched source; or, before this kind of packet (RTP, or RTCP on
    /// the odd port) has latched, and for a few seconds after an offer or
    /// answer of this side that moved its SDP, any port on an address the
    /// signalling named.
    fn accepts(&self, now: Instant, src: SocketAddr, odd: bool) -> bool {
        if self.latched_rtp == Some(src) || self.latched_rtcp == Some(src) {
            return true;
        }
        let latched = if odd && !self.mux {
            self.latched_rtcp
        } else {
            self.latched_rtp
        };
        let learning = latched.is_none() || now < self.learn_until;
        learning && self.allowed.contains(&Some(src.ip()))
    }
}

fn encode_owner(ci: usize, mi: usize, side: usize) -> u16 {
    (ci * MAX_MEDIA * 2 + mi * 2 + side + 1) as u16
}

fn decode_owner(o: u16) -> Option<(usize, usize, usize)> {
    let o = usize::from(o).checked_sub(1)?;
    Some((o / (MAX_MEDIA * 2), (o / 2) % MAX_MEDIA, o % 2))
}
