//! The shell's TCP side: a listening socket per TCP leg, and one socket
//! per slot of the core's connection table ([`Streams`]). Bytes move here
//! between the sockets and the slots' buffers; the limits, the framing and
//! the times are the table's. Each framed message goes to the core as a
//! datagram would, with its connection in the [`Cx`](crate::cx::Cx).
//!
//! Nothing is allocated after start-up: the sockets' places, the ready
//! lists and the scratch buffer for a 503 are made once, sized by
//! `--tcp-max`.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr};

use ::log::warn;
use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Registry, Token};

use super::sys;
use crate::config::LegSpec;
use crate::limits::{MAX_LEGS, TCP_TX};
use crate::ratelimit::{Limiter, Suppressed};
use crate::stream::{Conn, Expiry, Refused, StreamConfig, Streams, TcpStats};
use crate::time::Instant;

/// Listening sockets take the tokens from here (one per leg), connections
/// from [`CONN_BASE`] (one per slot): far above the relay's.
pub const LISTEN_BASE: usize = 1 << 30;
pub const CONN_BASE: usize = LISTEN_BASE + MAX_LEGS;
/// Connections accepted per listener per turn.
const ACCEPT_QUOTA: usize = 16;
const BACKLOG: libc::c_int = 64;

/// What one read did.
pub enum Read1 {
    /// Bytes arrived.
    Got,
    /// The receive buffer is full: frame before reading more.
    Full,
    /// Nothing more for now.
    Blocked,
    /// The peer closed, or the socket failed.
    Closed,
}

pub struct Tcp {
    registry: Option<Registry>,
    listeners: Vec<Option<TcpListener>>,
    /// Each leg's bound IP: the source of the connections we open.
    local: Vec<IpAddr>,
    socks: Vec<Option<TcpStream>>,
    pub streams: Streams,
    accept_ready: [bool; MAX_LEGS],
    /// Slots with an event not yet served, and the flag that keeps each
    /// in the list once.
    ready: Vec<u16>,
    queued: Vec<bool>,
    /// A request that could not be delivered, and room for its 503.
    pub sent: Box<[u8]>,
    pub answer: Box<[u8]>,
    stats: TcpStats,
}

impl Tcp {
    /// No TCP: nothing is bound and the table is empty.
    pub fn none() -> Tcp {
        Tcp::with(
            None,
            Vec::new(),
            Vec::new(),
            StreamConfig {
                max: 0,
                ..StreamConfig::default()
            },
        )
    }

    fn with(
        registry: Option<Registry>,
        listeners: Vec<Option<TcpListener>>,
        local: Vec<IpAddr>,
        cfg: StreamConfig,
    ) -> Tcp {
        let max = if registry.is_some() { cfg.max } else { 0 };
        let streams = Streams::new(StreamConfig { max, ..cfg });
        let n = streams.capacity();
        Tcp {
            registry,
            listeners,
            local,
            socks: (0..n).map(|_| None).collect(),
            streams,
            accept_ready: [false; MAX_LEGS],
            ready: Vec::with_capacity(n),
            queued: vec![false; n],
            sent: vec![0; if n > 0 { TCP_TX } else { 0 }].into_boxed_slice(),
            answer: vec![0; if n > 0 { TCP_TX } else { 0 }].into_boxed_slice(),
            stats: TcpStats::default(),
        }
    }

    /// Binds a listener on every leg with `tcp`; `Ok(None)` when none has.
    pub fn bind(
        registry: &Registry,
        legs: &[LegSpec],
        cfg: StreamConfig,
        dscp: libc::c_int,
    ) -> Result<Tcp, super::StartError> {
        if !legs.iter().any(|l| l.transport.tcp()) {
            return Ok(Tcp::none());
        }
        let mut listeners = Vec::with_capacity(legs.len());
        for (i, leg) in legs.iter().enumerate() {
            if !leg.transport.tcp() {
                listeners.push(None);
                continue;
            }
            let mut l = sys::tcp_listener(leg.addr, leg.freebind, dscp, BACKLOG).map_err(
                |(step, err)| super::StartError::Leg {
                    leg: leg.name.clone(),
                    addr: leg.addr,
                    step,
                    err,
                },
            )?;
            registry
                .register(&mut l, Token(LISTEN_BASE + i), Interest::READABLE)
                .map_err(super::StartError::Poll)?;
            listeners.push(Some(l));
        }
        let reg = registry.try_clone().map_err(super::StartError::Poll)?;
        let local = legs.iter().map(|l| l.addr.ip()).collect();
        Ok(Tcp::with(Some(reg), listeners, local, cfg))
    }

    /// Marks what a poll event names; false if the token is not ours.
    pub fn mark(&mut self, token: Token) -> bool {
        let t = token.0;
        if (LISTEN_BASE..CONN_BASE).contains(&t) {
            if let Some(r) = self.accept_ready.get_mut(t - LISTEN_BASE) {
                *r = true;
            }
            return true;
        }
        match t.checked_sub(CONN_BASE) {
            Some(slot) if slot < self.socks.len() => {
                self.enqueue(slot);
                true
            }
            _ => false,
        }
    }

    fn enqueue(&mut self, slot: usize) {
        if let Some(q) = self.queued.get_mut(slot) {
            if !*q {
                *q = true;
                self.ready.push(slot as u16);
            }
        }
    }

    /// The counters, with the table's occupancy.
    pub fn stats(&self) -> TcpStats {
        TcpStats {
            open: self.streams.len(),
            capacity: self.streams.capacity(),
            ..self.stats
        }
    }

    /// A connect that failed after it was started.
    pub fn connect_failed(&mut self) {
        self.stats.connect_failed += 1;
    }

    pub fn any_ready(&self) -> bool {
        !self.ready.is_empty() || self.accept_ready.iter().any(|r| *r)
    }

    /// The next connection with an event, and whether it is one we opened
    /// that was still connecting.
    pub fn next_ready(&mut self) -> Option<Conn> {
        while let Some(slot) = self.ready.pop() {
            if let Some(q) = self.queued.get_mut(usize::from(slot)) {
                *q = false;
            }
            if let Some(c) = self.streams.conn_of(slot) {
                return Some(c);
            }
        }
        None
    }

    /// Accepts what waits on the ready listeners, up to a quota each; a
    /// listener that had more stays ready (mio reports an edge only once).
    pub fn accept(&mut self, now: Instant, limiter: &mut Limiter, names: &[String]) {
        for (leg, name) in names.iter().enumerate().take(self.listeners.len()) {
            if !self.accept_ready.get(leg).copied().unwrap_or(false) {
                continue;
            }
            self.accept_ready[leg] = false;
            let mut more = true;
            for _ in 0..ACCEPT_QUOTA {
                let Some(Some(l)) = self.listeners.get(leg) else {
                    more = false;
                    break;
                };
                let (s, peer) = match l.accept() {
                    Ok(x) => x,
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(e) => {
                        more = false;
                        if e.kind() != ErrorKind::WouldBlock {
                            report(limiter, now, format_args!("leg {name}: accept failed: {e}"));
                        }
                        break;
                    }
                };
                match self.streams.open(now, leg, peer, false) {
                    Ok(c) => {
                        let _ = s.set_nodelay(true);
                        if self.adopt(c, s) {
                            self.stats.accepted += 1;
                            self.enqueue(usize::from(c.slot));
                        }
                    }
                    // Dropping the socket closes it: accept, then close.
                    Err(r) => {
                        let what = match r {
                            Refused::Full => {
                                self.stats.refused_full += 1;
                                "the connection table is full (--tcp-max)"
                            }
                            Refused::PerSource => {
                                self.stats.refused_source += 1;
                                "too many connections from it (--tcp-per-source)"
                            }
                        };
                        report(
                            limiter,
                            now,
                            format_args!("leg {name}: TCP from {peer} refused: {what}"),
                        );
                        drop(s);
                    }
                }
            }
            self.accept_ready[leg] = more;
        }
    }

    /// Registers `s` for slot `c`; on failure the slot is freed again.
    fn adopt(&mut self, c: Conn, mut s: TcpStream) -> bool {
        let slot = usize::from(c.slot);
        let ok = self.registry.as_ref().is_some_and(|r| {
            r.register(
                &mut s,
                Token(CONN_BASE + slot),
                Interest::READABLE | Interest::WRITABLE,
            )
            .is_ok()
        });
        match (ok, self.socks.get_mut(slot)) {
            (true, Some(place)) => {
                *place = Some(s);
                true
            }
            _ => {
                self.streams.close(c);
                false
            }
        }
    }

    /// Opens a connection from `leg` to `dst`: the slot is taken at once,
    /// the socket becomes writable when the connect completes.
    pub fn connect(&mut self, now: Instant, leg: usize, dst: SocketAddr) -> io::Result<Conn> {
        let c = self.streams.open(now, leg, dst, true).map_err(|r| {
            match r {
                Refused::Full => self.stats.refused_full += 1,
                Refused::PerSource => self.stats.refused_source += 1,
            }
            io::Error::other(match r {
                Refused::Full => "the connection table is full (--tcp-max)",
                Refused::PerSource => "too many connections to it (--tcp-per-source)",
            })
        })?;
        let local = self.local.get(leg).copied().unwrap_or(dst.ip());
        match sys::tcp_connect(local, dst, super::DSCP_CS3) {
            Ok(s) => {
                if self.adopt(c, s) {
                    Ok(c)
                } else {
                    Err(io::Error::other("cannot register the connection"))
                }
            }
            Err(e) => {
                self.streams.close(c);
                Err(e)
            }
        }
    }

    /// Copies the first `TCP_TX` unsent bytes of `c` into [`Tcp::sent`];
    /// their length.
    pub fn take_unsent(&mut self, c: Conn) -> usize {
        let unsent = self.streams.queued(c);
        let n = unsent.len().min(self.sent.len());
        if let (Some(d), Some(s)) = (self.sent.get_mut(..n), unsent.get(..n)) {
            d.copy_from_slice(s);
        }
        n
    }

    /// A writable event on a connection we opened: true once it is open,
    /// false if the connect failed (the caller answers what it queued).
    pub fn check_connected(&mut self, c: Conn, now: Instant) -> bool {
        let Some(Some(s)) = self.socks.get(usize::from(c.slot)) else {
            return false;
        };
        match s.take_error() {
            Ok(None) => {}
            _ => return false,
        }
        match s.peer_addr() {
            Ok(_) => {
                self.streams.connected(c, now);
                self.stats.connected += 1;
                true
            }
            // Not connected yet: a spurious event; wait for the next.
            Err(e) if e.kind() == ErrorKind::NotConnected => true,
            Err(_) => false,
        }
    }

    /// One read into the slot's buffer.
    pub fn read(&mut self, c: Conn, now: Instant) -> Read1 {
        let Some(Some(s)) = self.socks.get_mut(usize::from(c.slot)) else {
            return Read1::Closed;
        };
        let room = self.streams.rx_space(c);
        if room.is_empty() {
            return Read1::Full;
        }
        loop {
            match s.read(room) {
                Ok(0) => return Read1::Closed,
                Ok(n) => {
                    self.streams.filled(c, n, now);
                    return Read1::Got;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Read1::Blocked,
                Err(_) => return Read1::Closed,
            }
        }
    }

    /// Queues `bytes` on `c` and writes what the socket takes; false if
    /// the queue had no room or the socket failed (the caller closes).
    pub fn queue(&mut self, c: Conn, bytes: &[u8], now: Instant) -> bool {
        if self.streams.queue(c, bytes).is_err() {
            self.stats.queue_full += 1;
            return false;
        }
        self.flush(c, now)
    }

    /// Writes queued bytes until the socket would block; false if it failed.
    pub fn flush(&mut self, c: Conn, now: Instant) -> bool {
        if self.streams.info(c).is_none_or(|i| i.connecting) {
            return true;
        }
        let Some(Some(s)) = self.socks.get_mut(usize::from(c.slot)) else {
            return false;
        };
        loop {
            let unsent = self.streams.unsent(c);
            if unsent.is_empty() {
                return true;
            }
            match s.write(unsent) {
                Ok(0) => return false,
                Ok(n) => self.streams.sent(c, n, now),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
                Err(_) => return false,
            }
        }
    }

    /// Closes `c`: the socket goes, the slot is freed.
    pub fn close(&mut self, c: Conn) {
        if self.streams.info(c).is_none() {
            return;
        }
        if let Some(place) = self.socks.get_mut(usize::from(c.slot)) {
            if let (Some(mut s), Some(r)) = (place.take(), self.registry.as_ref()) {
                let _ = r.deregister(&mut s);
            }
        }
        self.streams.close(c);
        self.stats.closed += 1;
    }

    /// The next connection the table says must close, counted; the caller
    /// closes it.
    pub fn due(&mut self, now: Instant) -> Option<(Conn, Expiry)> {
        let (c, why) = self.streams.due(now)?;
        match why {
            Expiry::Idle => self.stats.idle += 1,
            Expiry::SlowLoris => self.stats.slow += 1,
            Expiry::ConnectTimeout => self.stats.connect_failed += 1,
        }
        Some((c, why))
    }
}

fn report(limiter: &mut Limiter, now: Instant, msg: std::fmt::Arguments) {
    if let Some(s) = limiter.report(now) {
        warn!("{msg}{}", Suppressed(s));
    }
}
