//! A sans-IO RFC 3263 resolver for UDP and TCP targets: NAPTR → SRV → A/AAAA with
//! a fixed-size cache, shared in-flight queries, retransmission and
//! deadlines.
//!
//! Every table is allocated in [`Resolver::new`]; lookups, answers, cache
//! hits and timeouts allocate nothing. The shell owns the sockets (a pool of
//! source ports) and the clock: it sends what [`Resolver::poll_query`]
//! writes, feeds datagrams to [`Resolver::handle_answer`] and calls
//! [`Resolver::handle_timeout`] at [`Resolver::poll_timeout`].
//!
//! - [`cache`]: the (name, qtype) table with TTLs, pins and eviction.
//! - [`walk`]: the RFC 3263 steps as a pure function of the cache.
//! - [`fill`]: one checked answer into cache entries.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod cache;
mod fill;
mod walk;

#[cfg(test)]
mod tests;

use core::time::Duration;
use std::net::{IpAddr, SocketAddr};

use self::cache::Cache;
use self::fill::CacheFill;
use self::walk::{Inputs, Step, Walker, MAX_PINS};
use super::{build_query, response_id, DnsError, Name, QType, Response, Transport};
use crate::time::Instant;

/// One query waits this long for an answer before it is sent again.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(2);
/// Transmissions per query: the first and one retry.
pub const QUERY_SENDS: u8 = 2;
/// A whole resolution gives up after this long.
pub const RESOLUTION_TIMEOUT: Duration = Duration::from_secs(10);
/// Fewer source ports than this make spoofed answers too easy to land.
pub const MIN_SOCKETS: usize = 8;

/// Sizes fixed at start-up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolverConfig {
    /// The recursive server (from /etc/resolv.conf), port 53.
    pub server: SocketAddr,
    /// Cached (name, type) answers (`--dns-cache`, default 128).
    pub cache: usize,
    /// Resolutions in flight at once.
    pub pending: usize,
    /// Source-port pool size; the shell opens that many sockets
    /// (at least [`MIN_SOCKETS`]).
    pub sockets: usize,
    /// /etc/hosts pairs, lower-case names (see [`conf::parse_hosts`](super::conf::parse_hosts)).
    pub hosts: Vec<(String, IpAddr)>,
}

/// An in-flight resolution: its slot (below `pending`, so callers can keep
/// a parallel table) and a generation that tells reuses apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ticket {
    slot: u16,
    generation: u16,
}

impl Ticket {
    /// The resolution's slot, in `0..pending`.
    pub fn index(self) -> usize {
        usize::from(self.slot)
    }
}

/// What the proxy can send on, and what the URI asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reach {
    /// Address families we have legs for; A is tried before AAAA.
    pub v4: bool,
    pub v6: bool,
    /// Transports we have legs for: NAPTRs of the others are skipped.
    pub udp: bool,
    pub tcp: bool,
    /// The URI's `;transport=`, if any.
    pub transport: Option<Transport>,
}

impl Reach {
    /// We have a leg for `t`.
    pub fn has(self, t: Transport) -> bool {
        match t {
            Transport::Udp => self.udp,
            Transport::Tcp => self.tcp,
        }
    }

    /// UDP legs of these families, no transport in the URI.
    pub fn udp(v4: bool, v6: bool) -> Reach {
        Reach {
            v4,
            v6,
            udp: true,
            tcp: false,
            transport: None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Resolution {
    /// The address, and the transport a NAPTR or SRV record chose (`None`:
    /// a plain address; the URI's transport applies, else UDP).
    Ready(SocketAddr, Option<Transport>),
    Pending(Ticket),
    Failed(Failure),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Failure {
    /// The name does not exist: the proxy answers 404.
    NxDomain,
    /// Timeout, server error, no usable records, or no room: 503.
    Unavailable,
}

/// Counters; plain integers (no 64-bit atomics on 32-bit MIPS).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResolverStats {
    /// Resolutions finished at once from the cache or /etc/hosts.
    pub cache_hits: u64,
    /// Resolutions that had to query.
    pub cache_misses: u64,
    /// Datagrams sent, retransmissions included.
    pub queries_sent: u64,
    pub retransmissions: u64,
    /// Answers accepted (any RCODE).
    pub answers: u64,
    /// Datagrams dropped: wrong source, socket, ID or question (spoofed or
    /// late), or malformed.
    pub ignored: u64,
    /// Answers with an error RCODE (SERVFAIL, REFUSED...).
    pub server_errors: u64,
    /// Queries given up after their retry.
    pub timeouts: u64,
    /// Resolutions given up at [`RESOLUTION_TIMEOUT`].
    pub expired: u64,
    /// Resolutions refused: every pending slot busy.
    pub table_full: u64,
    /// Unexpired cache entries pushed out by new ones.
    pub evictions: u64,
}

/// A waiting job between two queries.
const UNATTACHED: usize = usize::MAX;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum JobState {
    Free,
    /// Waiting for the query in this slot (or [`UNATTACHED`]).
    Waiting(usize),
    /// Finished, not yet collected by [`Resolver::poll_done`].
    Done(Result<(SocketAddr, Option<Transport>), Failure>),
}

struct Job {
    state: JobState,
    generation: u16,
    params: Inputs,
    deadline: Instant,
    /// Cache slots this resolution has read, pinned until it ends.
    pins: heapless::Vec<usize, MAX_PINS>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum QueryState {
    Free,
    /// Due for a transmission at the next [`Resolver::poll_query`].
    ToSend,
    Sent,
}

struct Query {
    state: QueryState,
    name: Name,
    qtype: QType,
    /// Transmissions scheduled, retry included.
    attempts: u8,
    /// (ID, socket) of each transmission: a late answer to the first one
    /// is still good after the retry went out.
    sent: heapless::Vec<(u16, usize), { QUERY_SENDS as usize }>,
    /// When to retransmit or give up.
    timer: Instant,
    /// Resolutions waiting on it.
    waiters: usize,
}

/// xorshift64*: unpredictable enough for IDs and ports once seeded from
/// /dev/urandom, and reproducible in tests.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        // splitmix64 once, so related seeds give unrelated streams; never 0.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Rng((z ^ (z >> 31)) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

pub struct Resolver {
    server: SocketAddr,
    sockets: usize,
    rng: Rng,
    hosts: Vec<(Name, IpAddr)>,
    cache: Cache,
    jobs: Vec<Job>,
    /// One per job at most: a job waits on one query at a time.
    queries: Vec<Query>,
    /// Jobs in [`JobState::Done`], so `poll_done` can skip the scan.
    done: usize,
    /// No timer or deadline is earlier: [`Resolver::poll_timeout`] costs
    /// nothing and [`Resolver::handle_timeout`] scans only when it is due.
    next: Option<Instant>,
    /// Jobs in [`JobState::Waiting`]: none, and nothing is due.
    waiting: usize,
    stats: ResolverStats,
}

impl Resolver {
    /// Allocates every table. `pending` and `sockets` are at least 1 and
    /// `cache` at least 4 (one chain needs three entries at once).
    pub fn new(cfg: ResolverConfig, seed: u64) -> Resolver {
        let pending = cfg.pending.clamp(1, usize::from(u16::MAX));
        let hosts = cfg
            .hosts
            .iter()
            .filter_map(|(n, ip)| Some((Name::from_text(n.as_bytes()).ok()?, *ip)))
            .collect();
        let params = Inputs {
            host: Name::root(),
            port: None,
            hash: 0,
            reach: Reach::udp(false, false),
        };
        let jobs = (0..pending)
            .map(|_| Job {
                state: JobState::Free,
                generation: 0,
                params,
                deadline: Instant(0),
                pins: heapless::Vec::new(),
            })
            .collect();
        let queries = (0..pending)
            .map(|_| Query {
                state: QueryState::Free,
                name: Name::root(),
                qtype: QType::A,
                attempts: 0,
                sent: heapless::Vec::new(),
                timer: Instant(0),
                waiters: 0,
            })
            .collect();
        Resolver {
            server: cfg.server,
            sockets: cfg.sockets.max(1),
            rng: Rng::new(seed),
            hosts,
            cache: Cache::new(cfg.cache.max(4)),
            jobs,
            queries,
            done: 0,
            next: None,
            waiting: 0,
            stats: ResolverStats::default(),
        }
    }

    /// Resolves `host` (a DNS name; IP literals are answered as they are).
    /// `port`: an explicit URI port, which means A/AAAA only (RFC 3263
    /// §4.2); `None` walks NAPTR (SIP+D2U and SIP+D2T, of the transports
    /// in `reach`) → SRV (the NAPTR replacement, else `_sip._udp.<host>`
    /// then `_sip._tcp.<host>`; only the URI's transport's when it names
    /// one) → A/AAAA of the SRV target, else A/AAAA of `host` on 5060.
    /// `hash` (of the Call-ID) makes the choice among SRV records and
    /// addresses, so a CANCEL goes where its INVITE went.
    pub fn resolve(
        &mut self,
        now: Instant,
        host: &[u8],
        port: Option<u16>,
        hash: u32,
        reach: Reach,
    ) -> Resolution {
        if let Some(ip) = ip_literal(host) {
            self.stats.cache_hits += 1;
            let sa = SocketAddr::new(ip, port.unwrap_or(walk::SIP_PORT));
            return Resolution::Ready(sa, None);
        }
        let Ok(name) = Name::from_text(host) else {
            // Not a valid domain name: no such name can exist.
            return Resolution::Failed(Failure::NxDomain);
        };
        if !reach.v4 && !reach.v6 {
            return Resolution::Failed(Failure::Unavailable);
        }
        let params = Inputs {
            host: name,
            port,
            hash,
            reach,
        };
        let mut walker = Walker::new(&self.cache, &self.hosts, now, &params);
        let (qname, qtype) = match walker.run() {
            Step::Done(result) => {
                self.stats.cache_hits += 1;
                return match result {
                    Ok((sa, t)) => Resolution::Ready(sa, t),
                    Err(f) => Resolution::Failed(f),
                };
            }
            Step::Need(qname, qtype) => (qname, qtype),
        };
        let used = walker.used;
        self.stats.cache_misses += 1;
        let Some(slot) = self.jobs.iter().position(|j| j.state == JobState::Free) else {
            self.stats.table_full += 1;
            return Resolution::Failed(Failure::Unavailable);
        };
        let Some(job) = self.jobs.get_mut(slot) else {
            return Resolution::Failed(Failure::Unavailable);
        };
        job.generation = job.generation.wrapping_add(1);
        job.params = params;
        job.deadline = now + RESOLUTION_TIMEOUT;
        job.state = JobState::Waiting(UNATTACHED);
        let ticket = Ticket {
            slot: slot as u16,
            generation: job.generation,
        };
        self.waiting += 1;
        self.wake_by(now + RESOLUTION_TIMEOUT);
        self.set_pins(slot, &used);
        self.attach(now, slot, &qname, qtype);
        match self.jobs.get(slot).map(|j| j.state) {
            Some(JobState::Waiting(_)) => Resolution::Pending(ticket),
            // No query slot (cannot happen: one per job); never leave a
            // ticket the caller does not know about.
            _ => {
                self.collect(slot);
                Resolution::Failed(Failure::Unavailable)
            }
        }
    }

    /// The next query to send, written into `out` (at least
    /// [`MAX_QUERY_LEN`](super::MAX_QUERY_LEN) bytes): (pool socket index,
    /// destination, length). Call until `None`.
    pub fn poll_query(&mut self, out: &mut [u8]) -> Option<(usize, SocketAddr, usize)> {
        loop {
            let qi = self
                .queries
                .iter()
                .position(|q| q.state == QueryState::ToSend)?;
            let (id, sock) = self.fresh_id();
            let q = self.queries.get_mut(qi)?;
            match build_query(id, q.name.as_bytes(), q.qtype, out) {
                Ok(len) => {
                    q.state = QueryState::Sent;
                    // At most QUERY_SENDS transmissions: this never drops.
                    let _ = q.sent.push((id, sock));
                    self.stats.queries_sent += 1;
                    if q.sent.len() > 1 {
                        self.stats.retransmissions += 1;
                    }
                    return Some((sock, self.server, len));
                }
                // `out` too small: this query can never go out.
                Err(_) => self.complete(qi, None),
            }
        }
    }

    /// A datagram from `src` on pool socket `sock`. Only an answer from the
    /// server, to an ID sent from that socket, for the question asked, is
    /// taken; everything else is counted in `ignored`.
    pub fn handle_answer(&mut self, now: Instant, sock: usize, src: SocketAddr, data: &[u8]) {
        let found = response_id(data)
            .filter(|_| src == self.server)
            .and_then(|id| {
                let qi = self
                    .queries
                    .iter()
                    .position(|q| q.state != QueryState::Free && q.sent.contains(&(id, sock)))?;
                Some((id, qi))
            });
        let Some((id, qi)) = found else {
            self.stats.ignored += 1;
            return;
        };
        let Some(q) = self.queries.get(qi) else {
            return;
        };
        let (name, qtype) = (q.name, q.qtype);
        match Response::parse(data, id, name.as_bytes(), qtype) {
            Ok(resp) => {
                self.stats.answers += 1;
                let mut fill = CacheFill {
                    cache: &mut self.cache,
                    now,
                    evictions: &mut self.stats.evictions,
                };
                fill::store(&mut fill, &resp);
                self.complete(qi, Some(now));
            }
            Err(DnsError::Rcode(_)) => {
                self.stats.answers += 1;
                self.stats.server_errors += 1;
                self.complete(qi, None);
            }
            // Wrong question, bad packet: maybe a spoof; the real answer
            // may still come.
            Err(_) => self.stats.ignored += 1,
        }
    }

    /// A finished resolution (`Ready` or `Failed`). Call until `None`.
    pub fn poll_done(&mut self) -> Option<(Ticket, Resolution)> {
        if self.done == 0 {
            return None;
        }
        let slot = self
            .jobs
            .iter()
            .position(|j| matches!(j.state, JobState::Done(_)))?;
        let job = self.jobs.get(slot)?;
        let ticket = Ticket {
            slot: slot as u16,
            generation: job.generation,
        };
        let lookup = match job.state {
            JobState::Done(Ok((sa, t))) => Resolution::Ready(sa, t),
            JobState::Done(Err(f)) => Resolution::Failed(f),
            _ => return None,
        };
        self.collect(slot);
        Some((ticket, lookup))
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next.filter(|_| self.waiting > 0)
    }

    fn wake_by(&mut self, at: Instant) {
        self.next = Some(self.next.map_or(at, |t| t.min(at)));
    }

    /// The earliest timer or deadline, by a scan.
    fn earliest(&self) -> Option<Instant> {
        let queries = self
            .queries
            .iter()
            .filter(|q| q.state != QueryState::Free)
            .map(|q| q.timer);
        let jobs = self
            .jobs
            .iter()
            .filter(|j| matches!(j.state, JobState::Waiting(_)))
            .map(|j| j.deadline);
        queries.chain(jobs).min()
    }

    /// Ends resolutions past their deadline, then retransmits queries
    /// unanswered for [`QUERY_TIMEOUT`] (once) or gives them up, failing
    /// whoever waits on them.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.poll_timeout().is_none_or(|t| now < t) {
            return;
        }
        // Deadlines first: no retry goes out for a resolution that is over.
        for slot in 0..self.jobs.len() {
            let expired = self
                .jobs
                .get(slot)
                .is_some_and(|j| matches!(j.state, JobState::Waiting(_)) && j.deadline <= now);
            if expired {
                self.stats.expired += 1;
                self.finish(slot, Err(Failure::Unavailable));
            }
        }
        for qi in 0..self.queries.len() {
            let Some(q) = self.queries.get_mut(qi) else {
                continue;
            };
            if q.state == QueryState::Free || q.timer > now {
                continue;
            }
            if q.attempts < QUERY_SENDS {
                q.attempts += 1;
                q.state = QueryState::ToSend;
                q.timer = now + QUERY_TIMEOUT;
            } else {
                self.stats.timeouts += 1;
                self.complete(qi, None);
            }
        }
        self.next = self.earliest();
    }

    /// Source-port pool size: the shell opens this many sockets.
    pub fn sockets(&self) -> usize {
        self.sockets
    }

    /// The server queries go to.
    pub fn server(&self) -> SocketAddr {
        self.server
    }

    pub fn stats(&self) -> &ResolverStats {
        &self.stats
    }

    /// A random (ID, socket) not already awaiting an answer.
    fn fresh_id(&mut self) -> (u16, usize) {
        let mut pick = (0, 0);
        // A clash is rare (2 × pending pairs of 65,536 × sockets); a few
        // draws make it vanishingly so, and a clash only costs a retry.
        for _ in 0..8 {
            let r = self.rng.next();
            pick = (r as u16, ((r >> 32) as usize) % self.sockets);
            let busy = self
                .queries
                .iter()
                .any(|q| q.state != QueryState::Free && q.sent.contains(&pick));
            if !busy {
                break;
            }
        }
        pick
    }

    /// Makes job `slot` wait on a query for (name, qtype): the one already
    /// in flight if any, else a new one.
    fn attach(&mut self, now: Instant, slot: usize, name: &Name, qtype: QType) {
        let same = |q: &Query| q.state != QueryState::Free && q.qtype == qtype && q.name == *name;
        let qi = match self.queries.iter().position(same) {
            Some(qi) => qi,
            None => {
                let Some(qi) = self
                    .queries
                    .iter()
                    .position(|q| q.state == QueryState::Free)
                else {
                    self.finish(slot, Err(Failure::Unavailable));
                    return;
                };
                if let Some(q) = self.queries.get_mut(qi) {
                    q.state = QueryState::ToSend;
                    q.name = *name;
                    q.qtype = qtype;
                    q.attempts = 1;
                    q.sent.clear();
                    q.timer = now + QUERY_TIMEOUT;
                    q.waiters = 0;
                }
                self.wake_by(now + QUERY_TIMEOUT);
                qi
            }
        };
        if let Some(q) = self.queries.get_mut(qi) {
            q.waiters += 1;
        }
        if let Some(job) = self.jobs.get_mut(slot) {
            job.state = JobState::Waiting(qi);
        }
    }

    /// Query `qi` is over: answered and cached (`Some(now)`), so its
    /// waiters walk on; or failed (`None`), and so are they.
    fn complete(&mut self, qi: usize, answered: Option<Instant>) {
        let Some(q) = self.queries.get_mut(qi) else {
            return;
        };
        q.state = QueryState::Free;
        q.waiters = 0;
        let key = (q.name, q.qtype);
        // Detach every waiter first: advancing one may reuse slot `qi` for
        // its next query, and later waiters must not be taken for its.
        for job in &mut self.jobs {
            if job.state == JobState::Waiting(qi) {
                job.state = JobState::Waiting(UNATTACHED);
            }
        }
        for slot in 0..self.jobs.len() {
            let waiting = self.jobs.get(slot).map(|j| j.state);
            if waiting != Some(JobState::Waiting(UNATTACHED)) {
                continue;
            }
            match answered {
                Some(now) => self.advance(now, slot, &key),
                None => self.finish(slot, Err(Failure::Unavailable)),
            }
        }
    }

    /// Re-walks job `slot` after the answer for `answered` was cached.
    fn advance(&mut self, now: Instant, slot: usize, answered: &(Name, QType)) {
        let Some(job) = self.jobs.get(slot) else {
            return;
        };
        let params = job.params;
        let mut walker = Walker::new(&self.cache, &self.hosts, now, &params);
        let step = walker.run();
        let used = walker.used;
        self.set_pins(slot, &used);
        match step {
            Step::Done(result) => self.finish(slot, result),
            // The answer could not be cached (every slot pinned): waiting
            // again would loop.
            Step::Need(name, qtype) if (name, qtype) == *answered => {
                self.finish(slot, Err(Failure::Unavailable))
            }
            Step::Need(name, qtype) => self.attach(now, slot, &name, qtype),
        }
    }

    /// Ends job `slot` with `result`, leaving it for `poll_done`.
    fn finish(&mut self, slot: usize, result: Result<(SocketAddr, Option<Transport>), Failure>) {
        let Some(job) = self.jobs.get_mut(slot) else {
            return;
        };
        let JobState::Waiting(qi) = job.state else {
            return;
        };
        job.state = JobState::Done(result);
        self.done += 1;
        self.waiting = self.waiting.saturating_sub(1);
        self.set_pins(slot, &[]);
        // A query nobody waits for any more is dropped; its answer, if it
        // comes, counts as ignored.
        if let Some(q) = self.queries.get_mut(qi) {
            q.waiters = q.waiters.saturating_sub(1);
            if q.waiters == 0 {
                q.state = QueryState::Free;
            }
        }
    }

    /// Frees a finished job's slot.
    fn collect(&mut self, slot: usize) {
        if let Some(job) = self.jobs.get_mut(slot) {
            match job.state {
                JobState::Done(_) => self.done = self.done.saturating_sub(1),
                JobState::Waiting(_) => self.waiting = self.waiting.saturating_sub(1),
                JobState::Free => {}
            }
            job.state = JobState::Free;
        }
    }

    /// Replaces job `slot`'s pins with `used`.
    fn set_pins(&mut self, slot: usize, used: &[usize]) {
        let Some(job) = self.jobs.get_mut(slot) else {
            return;
        };
        for &s in &job.pins {
            self.cache.unpin(s);
        }
        job.pins.clear();
        for &s in used {
            self.cache.pin(s);
            let _ = job.pins.push(s);
        }
    }
}

/// `host` as an IP address, bracketed IPv6 included.
fn ip_literal(host: &[u8]) -> Option<IpAddr> {
    let host = match host {
        [b'[', inner @ .., b']'] => inner,
        _ => host,
    };
    core::str::from_utf8(host).ok()?.parse().ok()
}
