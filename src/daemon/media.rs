//! The relay's sockets: one UDP socket per relay port, bound when the core
//! takes a pair. A freed pair's sockets stay open for [`KEEP`], still read
//! (what arrives is dropped by the core: no call owns the pair), so a busy
//! relay that takes the pair again binds nothing: binding and closing were
//! about 23 of the 35 system calls of a `--nat` call. An idle router closes
//! them, and never holds more than the worst case of calls needs, which the
//! file descriptor limit was sized for. Slots are preallocated for every
//! (leg, pair, port).

use super::sys::{udp_socket, RecvBatch, BATCH};
use super::QUOTA;
use crate::output::{Socket, Transmit};
use crate::relay::RelaySockets;
use crate::time::Instant;
use log::warn;
use mio::net::UdpSocket;
use mio::{Interest, Registry, Token};
use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::time::Duration;

/// How long a freed pair's sockets stay open for reuse.
pub const KEEP: Duration = Duration::from_secs(30);

/// DSCP EF (expedited forwarding) for relayed RTP, as a TOS byte.
const DSCP_EF: libc::c_int = 0xb8;
/// Media needs no deep queue; the default buffer is enough.
const RCVBUF: libc::c_int = 0;

pub struct MediaSockets {
    /// `None` without `--nat`: there are no slots, and nothing opens.
    registry: Option<Registry>,
    /// First token of the media sockets; slot `i` has `Token(base + i)`.
    base: usize,
    port_lo: u16,
    pairs: u16,
    bind_ips: Vec<IpAddr>,
    freebind: Vec<bool>,
    socks: Vec<Option<UdpSocket>>,
    /// Sockets that may have datagrams waiting, and the flags behind it.
    ready: Vec<usize>,
    queued: Vec<bool>,
    /// Freed pairs whose sockets are still open, oldest first: (leg, pair,
    /// freed at). An entry is live while `kept_at` of its pair says the
    /// same time; a pair taken again leaves a dead entry behind.
    kept: VecDeque<(usize, u16, Instant)>,
    kept_at: Vec<Option<Instant>>,
    /// Sockets open, and how many may be (the worst case of calls, which
    /// the file descriptor limit was raised for).
    open: usize,
    budget: usize,
    /// The clock of this turn, for `close`.
    now: Instant,
}

impl MediaSockets {
    pub fn new(
        registry: Registry,
        base: usize,
        port_lo: u16,
        pairs: u16,
        legs: &[(IpAddr, bool)],
        budget: usize,
    ) -> MediaSockets {
        let n = legs.len() * usize::from(pairs) * 2;
        MediaSockets {
            kept: VecDeque::with_capacity(n / 2),
            kept_at: vec![None; n / 2],
            open: 0,
            budget,
            now: Instant::default(),
            registry: Some(registry),
            base,
            port_lo,
            pairs,
            bind_ips: legs.iter().map(|l| l.0).collect(),
            freebind: legs.iter().map(|l| l.1).collect(),
            socks: (0..n).map(|_| None).collect(),
            ready: Vec::with_capacity(n),
            queued: vec![false; n],
        }
    }

    /// No relay sockets: a daemon without `--nat`.
    pub fn none() -> MediaSockets {
        MediaSockets {
            registry: None,
            base: 0,
            port_lo: 0,
            pairs: 0,
            bind_ips: Vec::new(),
            freebind: Vec::new(),
            socks: Vec::new(),
            ready: Vec::new(),
            queued: Vec::new(),
            kept: VecDeque::new(),
            kept_at: Vec::new(),
            open: 0,
            budget: 0,
            now: Instant::default(),
        }
    }

    /// Sets the clock of this turn and closes the pairs kept [`KEEP`].
    pub fn sweep(&mut self, now: Instant) {
        self.now = now;
        while let Some(&(leg, pair, at)) = self.kept.front() {
            let live = self.is_kept(leg, pair, at);
            if live && now.since(at) < KEEP {
                break;
            }
            self.kept.pop_front();
            if live {
                self.shut(leg, pair);
            }
        }
    }

    /// When the oldest kept pair is due to close.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.kept.front().map(|&(_, _, at)| at + KEEP)
    }

    fn is_kept(&self, leg: usize, pair: u16, at: Instant) -> bool {
        self.kept_at.get(self.pair_slot(leg, pair)) == Some(&Some(at))
    }

    /// Closes the oldest kept pair; false if none is kept.
    fn shut_oldest(&mut self) -> bool {
        while let Some((leg, pair, at)) = self.kept.pop_front() {
            if self.is_kept(leg, pair, at) {
                self.shut(leg, pair);
                return true;
            }
        }
        false
    }

    /// Closes both sockets of a pair.
    fn shut(&mut self, leg: usize, pair: u16) {
        let p = self.pair_slot(leg, pair);
        if let Some(k) = self.kept_at.get_mut(p) {
            *k = None;
        }
        for odd in [false, true] {
            let i = self.index(leg, pair, odd);
            if let (Some(mut s), Some(r)) = (
                self.socks.get_mut(i).and_then(Option::take),
                self.registry.as_ref(),
            ) {
                let _ = r.deregister(&mut s);
                self.open = self.open.saturating_sub(1);
            }
        }
    }

    fn index(&self, leg: usize, pair: u16, odd: bool) -> usize {
        (leg * usize::from(self.pairs) + usize::from(pair)) * 2 + usize::from(odd)
    }

    /// Which pair of all legs' pairs: the index into `kept_at`.
    fn pair_slot(&self, leg: usize, pair: u16) -> usize {
        leg * usize::from(self.pairs) + usize::from(pair)
    }

    fn decode(&self, i: usize) -> (usize, u16, bool) {
        let p = usize::from(self.pairs);
        (i / 2 / p, ((i / 2) % p) as u16, i % 2 == 1)
    }

    /// The socket slot behind a token, if it is one of ours.
    pub fn slot_of(&self, t: Token) -> Option<usize> {
        t.0.checked_sub(self.base).filter(|i| *i < self.socks.len())
    }

    pub fn mark_ready(&mut self, i: usize) {
        if !self.queued[i] {
            self.queued[i] = true;
            // Within the capacity reserved in `new`: no allocation.
            self.ready.push(i);
        }
    }

    pub fn any_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    /// Reads every ready socket up to the quota, [`BATCH`] packets per
    /// system call, relaying through `relay`. Sockets with more waiting
    /// stay in the ready list.
    pub fn drain(
        &mut self,
        rx: &mut RecvBatch,
        mut relay: impl FnMut(usize, u16, bool, SocketAddr, &[u8]) -> Option<Transmit>,
        mut warn_limited: impl FnMut(&dyn std::fmt::Display),
    ) {
        let mut k = 0;
        while k < self.ready.len() {
            let i = self.ready[k];
            let (leg, pair, odd) = self.decode(i);
            let mut read = 0;
            while read < QUOTA {
                let Some(sock) = self.socks[i].as_ref() else {
                    break;
                };
                match rx.recv(sock.as_raw_fd()) {
                    Ok(n) => {
                        for pkt in 0..n {
                            let Some((src, data)) = rx.get(pkt) else {
                                continue;
                            };
                            let Some(Transmit {
                                socket:
                                    Socket::Relay {
                                        leg: l,
                                        pair: p,
                                        odd: o,
                                    },
                                dst,
                                len,
                            }) = relay(leg, pair, odd, src, data)
                            else {
                                continue;
                            };
                            let j = self.index(l, p, o);
                            if let (Some(Some(out)), Some(bytes)) =
                                (self.socks.get(j), data.get(..len))
                            {
                                if let Err(e) = out.send_to(bytes, dst) {
                                    warn_limited(&format_args!("relay send to {dst} failed: {e}"));
                                }
                            }
                        }
                        // A short batch: the queue is empty.
                        if n < BATCH {
                            break;
                        }
                        read += n;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        read += 1;
                        warn_limited(&format_args!("relay receive failed: {e}"));
                    }
                }
            }
            let more = read >= QUOTA;
            if more && self.socks[i].is_some() {
                k += 1;
            } else {
                self.queued[i] = false;
                self.ready.swap_remove(k);
            }
        }
    }
}

impl RelaySockets for MediaSockets {
    fn open(&mut self, leg: usize, pair: u16) -> bool {
        // Kept since a call freed it: open and read all along.
        let p = self.pair_slot(leg, pair);
        if let Some(k) = self.kept_at.get_mut(p) {
            if k.take().is_some() {
                return true;
            }
        }
        while self.open + 2 > self.budget && self.shut_oldest() {}
        let (Some(&ip), Some(registry)) = (self.bind_ips.get(leg), self.registry.as_ref()) else {
            return false;
        };
        let port = self.port_lo + 2 * pair;
        let mut opened: [Option<UdpSocket>; 2] = [None, None];
        for (odd, slot) in opened.iter_mut().enumerate() {
            let addr = SocketAddr::new(ip, port + odd as u16);
            match udp_socket(addr, self.freebind[leg], DSCP_EF, RCVBUF) {
                Ok(s) => *slot = Some(s),
                // In use by someone else: the core tries the next pair.
                Err(_) => return false,
            }
        }
        for (odd, s) in opened.into_iter().enumerate() {
            let i = self.index(leg, pair, odd == 1);
            let Some(mut s) = s else { return false };
            if let Err(e) = registry.register(&mut s, Token(self.base + i), Interest::READABLE) {
                warn!("cannot watch relay port {}: {e}", port + odd as u16);
                self.shut(leg, pair);
                return false;
            }
            self.socks[i] = Some(s);
            self.open += 1;
        }
        true
    }

    /// Keeps the pair's sockets open for the next call that takes it.
    fn close(&mut self, leg: usize, pair: u16) {
        let p = self.pair_slot(leg, pair);
        if self
            .socks
            .get(self.index(leg, pair, false))
            .is_none_or(Option::is_none)
        {
            return;
        }
        // Full of dead entries (pairs taken and freed again): make room.
        if self.kept.len() == self.kept.capacity() {
            self.shut_oldest();
        }
        if let Some(k) = self.kept_at.get_mut(p) {
            *k = Some(self.now);
            self.kept.push_back((leg, pair, self.now));
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod test {
    use super::*;
    use mio::Poll;
    use std::net::Ipv4Addr;

    const LO: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    /// Whether someone holds `port` on loopback.
    fn held(port: u16) -> bool {
        std::net::UdpSocket::bind((LO, port)).is_err()
    }

    /// Three free pairs on loopback, below the ephemeral ports; another
    /// range for each test, which run side by side.
    fn range() -> u16 {
        use std::sync::atomic::{AtomicU16, Ordering};
        static NEXT: AtomicU16 = AtomicU16::new(0);
        let start = 14_000 + (std::process::id() % 100) as u16 * 60;
        (0..100)
            .map(|_| start + NEXT.fetch_add(1, Ordering::Relaxed) % 1000 * 6)
            .find(|lo| (0..6).all(|i| !held(lo + i)))
            .unwrap()
    }

    /// Three pairs on one loopback leg, room for `budget` sockets, at `t`;
    /// the poll, the first port and the sockets.
    fn setup(budget: usize, t: Instant) -> (Poll, u16, MediaSockets) {
        let poll = Poll::new().unwrap();
        let lo = range();
        let r = poll.registry().try_clone().unwrap();
        let mut m = MediaSockets::new(r, 100, lo, 3, &[(LO, false)], budget);
        m.sweep(t);
        (poll, lo, m)
    }

    #[test]
    fn a_freed_pair_stays_open_for_keep_then_closes() {
        let t0 = Instant::from_secs(100);
        let (_poll, lo, mut m) = setup(12, t0);
        assert!(m.open(0, 1));
        assert!(held(lo + 2) && held(lo + 3));
        m.close(0, 1);
        assert_eq!(m.poll_timeout(), Some(t0 + KEEP));
        m.sweep(t0 + KEEP - Duration::from_millis(1));
        assert!(held(lo + 2) && held(lo + 3), "kept");
        m.sweep(t0 + KEEP);
        assert!(!held(lo + 2) && !held(lo + 3), "closed after KEEP");
        assert_eq!(m.poll_timeout(), None);
        assert_eq!(m.open, 0);
    }

    #[test]
    fn a_kept_pair_is_taken_again_without_a_new_bind() {
        let t0 = Instant::from_secs(100);
        let (_poll, lo, mut m) = setup(12, t0);
        assert!(m.open(0, 0));
        m.close(0, 0);
        // A new bind would fail: the kept sockets hold the ports.
        m.sweep(t0 + Duration::from_secs(1));
        assert!(m.open(0, 0));
        assert_eq!(m.open, 2);
        // Its old entry must not close it while a call holds it.
        m.sweep(t0 + KEEP * 2);
        assert!(held(lo) && held(lo + 1));
        // Freed again: kept from then on.
        m.close(0, 0);
        m.sweep(t0 + KEEP * 2 + Duration::from_secs(1));
        assert!(held(lo));
        m.sweep(t0 + KEEP * 3);
        assert!(!held(lo));
    }

    #[test]
    fn the_socket_budget_closes_the_oldest_kept_pair_first() {
        // Room for two pairs' sockets.
        let (_poll, lo, mut m) = setup(4, Instant::from_secs(1));
        assert!(m.open(0, 0));
        m.close(0, 0);
        m.sweep(Instant::from_secs(2));
        assert!(m.open(0, 1));
        m.close(0, 1);
        m.sweep(Instant::from_secs(3));
        assert!(m.open(0, 2));
        assert!(!held(lo) && !held(lo + 1), "the oldest kept pair closed");
        assert!(held(lo + 2) && held(lo + 4));
        assert_eq!(m.open, 4);
    }

    #[test]
    fn a_port_in_use_elsewhere_is_refused_and_nothing_is_kept() {
        let (_poll, lo, mut m) = setup(12, Instant::from_secs(1));
        let _other = std::net::UdpSocket::bind((LO, lo + 1)).unwrap();
        assert!(!m.open(0, 0));
        m.close(0, 0);
        assert_eq!(m.poll_timeout(), None);
        assert_eq!(m.open, 0);
        assert!(!held(lo));
    }
}
