//! The connection table: fixed slots for TCP (and later TLS) streams.
//!
//! Accepted and outgoing connections share the slots. Each slot owns a
//! receive buffer and a send queue allocated at start-up; nothing grows.
//! A slot is named by [`Conn`], its index and generation: the generation
//! changes when the slot is freed, so a Via branch that remembers a closed
//! connection cannot reach the next one in its slot.
//!
//! The table only keeps bytes and times; the shell moves bytes between the
//! sockets and the buffers, and closes what [`Streams::expired`] names.

use super::framer::{frame, Frame};
use crate::limits::{TCP_RX, TCP_TX};
use crate::time::Instant;
use core::time::Duration;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// A message must arrive whole within this time of its first byte; a
/// client that sends part of one and stalls is closed (slow-loris).
pub const PARTIAL_TIMEOUT: Duration = Duration::from_secs(10);
/// An outgoing connect that has not completed by then failed.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A connection: slot index and generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Conn {
    pub slot: u16,
    pub gen: u16,
}

/// What the table is built from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamConfig {
    /// Slots in all (`--tcp-max`).
    pub max: usize,
    /// Slots one source address may hold (`--tcp-per-source`).
    pub per_source: usize,
    /// A connection with no traffic either way this long is closed.
    pub idle: Duration,
}

impl Default for StreamConfig {
    fn default() -> Self {
        StreamConfig {
            max: crate::limits::DEFAULT_TCP_MAX,
            per_source: crate::limits::DEFAULT_TCP_PER_SOURCE,
            idle: Duration::from_secs(600),
        }
    }
}

/// Why a new connection gets no slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    Full,
    PerSource,
}

/// Why the table closed a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    Idle,
    SlowLoris,
    ConnectTimeout,
}

/// The send queue had no room: the caller closes the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueFull;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Free,
    Connecting,
    Open,
}

struct Slot {
    state: State,
    gen: u16,
    leg: usize,
    peer: SocketAddr,
    /// Opened by us (a connect) rather than accepted.
    outgoing: bool,
    rx: Box<[u8]>,
    rx_len: usize,
    tx: Box<[u8]>,
    tx_start: usize,
    tx_len: usize,
    /// Last byte in or out (or the connect).
    last: Instant,
    /// First byte of the message still incomplete in `rx`.
    partial_since: Option<Instant>,
}

/// What the shell may know of a live connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Info {
    pub leg: usize,
    pub peer: SocketAddr,
    pub outgoing: bool,
    pub connecting: bool,
}

/// The fixed table of connection slots.
pub struct Streams {
    slots: Box<[Slot]>,
    per_source: usize,
    idle: Duration,
    open: usize,
    /// No slot can expire before this; [`Streams::expired`] does not scan
    /// until then.
    next_check: Option<Instant>,
}

const UNSPECIFIED: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);

impl Streams {
    /// All slots and their buffers, allocated once. The buffers are
    /// zeroed pages the kernel maps on first touch, so idle slots cost
    /// little resident memory.
    pub fn new(cfg: StreamConfig) -> Self {
        let slots = (0..cfg.max.min(usize::from(u16::MAX)))
            .map(|_| Slot {
                state: State::Free,
                gen: 0,
                leg: 0,
                peer: UNSPECIFIED,
                outgoing: false,
                rx: vec![0; TCP_RX].into_boxed_slice(),
                rx_len: 0,
                tx: vec![0; TCP_TX].into_boxed_slice(),
                tx_start: 0,
                tx_len: 0,
                last: Instant(0),
                partial_since: None,
            })
            .collect();
        Streams {
            slots,
            per_source: cfg.per_source.max(1),
            idle: cfg.idle,
            open: 0,
            next_check: None,
        }
    }

    /// Slots in all.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Slots in use.
    pub fn len(&self) -> usize {
        self.open
    }

    pub fn is_empty(&self) -> bool {
        self.open == 0
    }

    /// A slot for an accepted connection (`outgoing` false) or one we are
    /// connecting (true, open once [`Streams::connected`]).
    pub fn open(
        &mut self,
        now: Instant,
        leg: usize,
        peer: SocketAddr,
        outgoing: bool,
    ) -> Result<Conn, Refused> {
        let from_peer = self
            .slots
            .iter()
            .filter(|s| s.state != State::Free && s.peer.ip() == peer.ip())
            .count();
        if from_peer >= self.per_source {
            return Err(Refused::PerSource);
        }
        let (i, s) = self
            .slots
            .iter_mut()
            .enumerate()
            .find(|(_, s)| s.state == State::Free)
            .ok_or(Refused::Full)?;
        s.state = if outgoing {
            State::Connecting
        } else {
            State::Open
        };
        s.leg = leg;
        s.peer = peer;
        s.outgoing = outgoing;
        s.rx_len = 0;
        s.tx_start = 0;
        s.tx_len = 0;
        s.last = now;
        s.partial_since = None;
        let conn = Conn {
            slot: u16::try_from(i).unwrap_or(u16::MAX),
            gen: s.gen,
        };
        self.open = self.open.saturating_add(1);
        self.wake_by(now + CONNECT_TIMEOUT.min(self.idle));
        Ok(conn)
    }

    /// An outgoing connect completed.
    pub fn connected(&mut self, conn: Conn, now: Instant) {
        if let Some(s) = self.slot_mut(conn) {
            if s.state == State::Connecting {
                s.state = State::Open;
                s.last = now;
            }
        }
    }

    /// Frees the slot; the connection's name stops working at once.
    pub fn close(&mut self, conn: Conn) -> Option<Info> {
        let s = self.slot_mut(conn)?;
        let info = info(s);
        s.state = State::Free;
        s.gen = s.gen.wrapping_add(1);
        s.rx_len = 0;
        s.tx_len = 0;
        s.partial_since = None;
        self.open = self.open.saturating_sub(1);
        Some(info)
    }

    /// The connection in `slot`, if it is live.
    pub fn conn_of(&self, slot: u16) -> Option<Conn> {
        let s = self.slots.get(usize::from(slot))?;
        (s.state != State::Free).then_some(Conn { slot, gen: s.gen })
    }

    /// The live connection `conn` names, if it still does.
    pub fn info(&self, conn: Conn) -> Option<Info> {
        self.slot(conn).map(info)
    }

    /// An open or connecting connection to `peer` on `leg`, for reuse
    /// (one per peer, as RFC 5923 would have it).
    pub fn find(&self, leg: usize, peer: SocketAddr) -> Option<Conn> {
        self.slots
            .iter()
            .enumerate()
            .find(|(_, s)| s.state != State::Free && s.leg == leg && s.peer == peer)
            .map(|(i, s)| Conn {
                slot: u16::try_from(i).unwrap_or(u16::MAX),
                gen: s.gen,
            })
    }

    /// Every live connection, for the shell to close on exit.
    pub fn live(&self) -> impl Iterator<Item = (Conn, Info)> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.state != State::Free)
            .map(|(i, s)| {
                let conn = Conn {
                    slot: u16::try_from(i).unwrap_or(u16::MAX),
                    gen: s.gen,
                };
                (conn, info(s))
            })
    }

    /// Room at the end of the receive buffer for the shell to read into.
    /// Empty when a whole buffer is held unframed (the framer will have
    /// said it is too large).
    pub fn rx_space(&mut self, conn: Conn) -> &mut [u8] {
        match self.slot_mut(conn) {
            Some(s) => s.rx.get_mut(s.rx_len..).unwrap_or_default(),
            None => &mut [],
        }
    }

    /// The shell read `n` bytes into [`Streams::rx_space`].
    pub fn filled(&mut self, conn: Conn, n: usize, now: Instant) {
        let Some(s) = self.slot_mut(conn) else {
            return;
        };
        if n == 0 {
            return;
        }
        s.rx_len = s.rx_len.saturating_add(n).min(s.rx.len());
        s.last = now;
        if s.partial_since.is_none() {
            s.partial_since = Some(now);
        }
        self.wake_by(now + PARTIAL_TIMEOUT);
    }

    /// Frames the front of the receive buffer: the frame and the bytes it
    /// covers (the whole buffer for anything but a message).
    pub fn frame(&self, conn: Conn) -> (Frame, &[u8]) {
        let Some(s) = self.slot(conn) else {
            return (Frame::Partial, &[]);
        };
        let held = s.rx.get(..s.rx_len).unwrap_or_default();
        let f = frame(held, s.rx.len());
        match f {
            Frame::Message(n) => (f, held.get(..n).unwrap_or_default()),
            _ => (f, held),
        }
    }

    /// Drops the first `n` framed bytes; what follows moves to the front.
    pub fn consume(&mut self, conn: Conn, n: usize, now: Instant) {
        let Some(s) = self.slot_mut(conn) else {
            return;
        };
        let n = n.min(s.rx_len);
        s.rx.copy_within(n..s.rx_len, 0);
        s.rx_len = s.rx_len.saturating_sub(n);
        // The next message, if any of it is here, starts its clock now.
        s.partial_since = (s.rx_len > 0).then_some(now);
    }

    /// Appends `bytes` to the send queue, whole or not at all.
    pub fn queue(&mut self, conn: Conn, bytes: &[u8]) -> Result<(), QueueFull> {
        let s = self.slot_mut(conn).ok_or(QueueFull)?;
        let cap = s.tx.len();
        if s.tx_len.saturating_add(bytes.len()) > cap {
            return Err(QueueFull);
        }
        if s.tx_start
            .saturating_add(s.tx_len)
            .saturating_add(bytes.len())
            > cap
        {
            let end = s.tx_start.saturating_add(s.tx_len);
            s.tx.copy_within(s.tx_start..end, 0);
            s.tx_start = 0;
        }
        let at = s.tx_start.saturating_add(s.tx_len);
        let dst =
            s.tx.get_mut(at..at.saturating_add(bytes.len()))
                .ok_or(QueueFull)?;
        dst.copy_from_slice(bytes);
        s.tx_len = s.tx_len.saturating_add(bytes.len());
        Ok(())
    }

    /// Bytes queued and not yet written (nothing while connecting).
    pub fn unsent(&self, conn: Conn) -> &[u8] {
        match self.slot(conn) {
            Some(s) if s.state == State::Open => {
                s.tx.get(s.tx_start..s.tx_start.saturating_add(s.tx_len))
                    .unwrap_or_default()
            }
            _ => &[],
        }
    }

    /// What waits in the send queue, whether or not the connection is open
    /// yet (a failed connect answers it).
    pub fn queued(&self, conn: Conn) -> &[u8] {
        self.slot(conn)
            .and_then(|s| s.tx.get(s.tx_start..s.tx_start.saturating_add(s.tx_len)))
            .unwrap_or_default()
    }

    /// The shell wrote the first `n` bytes of [`Streams::unsent`].
    pub fn sent(&mut self, conn: Conn, n: usize, now: Instant) {
        let Some(s) = self.slot_mut(conn) else {
            return;
        };
        let n = n.min(s.tx_len);
        s.tx_start = s.tx_start.saturating_add(n);
        s.tx_len = s.tx_len.saturating_sub(n);
        if s.tx_len == 0 {
            s.tx_start = 0;
        }
        if n > 0 {
            s.last = now;
        }
    }

    /// One connection whose time is up, or None. The shell calls it until
    /// None and closes each one it names; between deadlines it costs a
    /// comparison, not a scan of the table.
    pub fn expired(&mut self, now: Instant) -> Option<(Conn, Expiry)> {
        let found = self.due(now);
        if let Some((conn, _)) = found {
            self.close(conn);
        }
        found
    }

    /// Like [`Streams::expired`], but the slot stays until the caller
    /// closes it (it may read the unsent bytes of a failed connect first).
    pub fn due(&mut self, now: Instant) -> Option<(Conn, Expiry)> {
        if self.next_check.is_none_or(|t| now < t) {
            return None;
        }
        let idle = self.idle;
        let mut next: Option<Instant> = None;
        let mut found = None;
        for (i, s) in self.slots.iter().enumerate() {
            let Some((at, why)) = deadline(s, idle) else {
                continue;
            };
            if at <= now && found.is_none() {
                found = Some((
                    Conn {
                        slot: u16::try_from(i).unwrap_or(u16::MAX),
                        gen: s.gen,
                    },
                    why,
                ));
            } else {
                next = Some(next.map_or(at, |n| n.min(at)));
            }
        }
        self.next_check = match found {
            // Others may be due too: look again on the next call.
            Some(_) => Some(now),
            None => next,
        };
        found
    }

    /// How long until [`Streams::expired`] may name a connection.
    pub fn poll_timeout(&self, now: Instant) -> Option<Duration> {
        self.next_check.map(|t| t.since(now))
    }

    fn wake_by(&mut self, at: Instant) {
        self.next_check = Some(self.next_check.map_or(at, |t| t.min(at)));
    }

    fn slot(&self, conn: Conn) -> Option<&Slot> {
        self.slots
            .get(usize::from(conn.slot))
            .filter(|s| s.state != State::Free && s.gen == conn.gen)
    }

    fn slot_mut(&mut self, conn: Conn) -> Option<&mut Slot> {
        self.slots
            .get_mut(usize::from(conn.slot))
            .filter(|s| s.state != State::Free && s.gen == conn.gen)
    }
}

fn info(s: &Slot) -> Info {
    Info {
        leg: s.leg,
        peer: s.peer,
        outgoing: s.outgoing,
        connecting: s.state == State::Connecting,
    }
}

/// When a slot's time is up, and why.
fn deadline(s: &Slot, idle: Duration) -> Option<(Instant, Expiry)> {
    match s.state {
        State::Free => None,
        State::Connecting => Some((s.last + CONNECT_TIMEOUT, Expiry::ConnectTimeout)),
        State::Open => {
            let idle_at = (s.last + idle, Expiry::Idle);
            match s.partial_since {
                Some(t) if t + PARTIAL_TIMEOUT < idle_at.0 => {
                    Some((t + PARTIAL_TIMEOUT, Expiry::SlowLoris))
                }
                _ => Some(idle_at),
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::stream::framer::Broken;

    const MSG: &[u8] = b"OPTIONS sip:a SIP/2.0\r\nContent-Length: 0\r\n\r\n";

    fn table(max: usize, per_source: usize) -> Streams {
        Streams::new(StreamConfig {
            max,
            per_source,
            idle: Duration::from_secs(600),
        })
    }

    fn peer(last: u8, port: u16) -> SocketAddr {
        SocketAddr::from(([192, 0, 2, last], port))
    }

    fn read(t: &mut Streams, c: Conn, bytes: &[u8], now: Instant) {
        let space = t.rx_space(c);
        space[..bytes.len()].copy_from_slice(bytes);
        t.filled(c, bytes.len(), now);
    }

    #[test]
    fn a_full_table_refuses_and_a_closed_slot_is_reused_with_a_new_generation() {
        let now = Instant::from_secs(1);
        let mut t = table(2, 8);
        let a = t.open(now, 0, peer(1, 1), false).unwrap();
        let b = t.open(now, 0, peer(2, 1), false).unwrap();
        assert_eq!(t.open(now, 0, peer(3, 1), false), Err(Refused::Full));
        assert_eq!(t.len(), 2);
        t.close(a).unwrap();
        let c = t.open(now, 0, peer(3, 1), false).unwrap();
        assert_eq!(c.slot, a.slot);
        assert_ne!(c.gen, a.gen);
        // The old name reaches nothing: no info, no queue, no bytes.
        assert_eq!(t.info(a), None);
        assert_eq!(t.queue(a, b"x"), Err(QueueFull));
        assert!(t.close(a).is_none());
        assert_eq!(t.info(b).unwrap().peer, peer(2, 1));
    }

    #[test]
    fn one_source_gets_at_most_per_source_slots() {
        let now = Instant::from_secs(1);
        let mut t = table(8, 2);
        t.open(now, 0, peer(1, 1), false).unwrap();
        t.open(now, 0, peer(1, 2), false).unwrap();
        assert_eq!(t.open(now, 0, peer(1, 3), false), Err(Refused::PerSource));
        assert!(t.open(now, 0, peer(2, 1), false).is_ok());
    }

    #[test]
    fn split_and_coalesced_reads() {
        let now = Instant::from_secs(1);
        let mut t = table(1, 1);
        let c = t.open(now, 0, peer(1, 1), false).unwrap();
        read(&mut t, c, &MSG[..10], now);
        assert_eq!(t.frame(c).0, Frame::Partial);
        let mut rest = MSG[10..].to_vec();
        rest.extend_from_slice(MSG);
        rest.extend_from_slice(b"\r\n\r\n");
        read(&mut t, c, &rest, now);
        let (f, m) = t.frame(c);
        assert_eq!((f, m), (Frame::Message(MSG.len()), MSG));
        t.consume(c, MSG.len(), now);
        assert_eq!(t.frame(c).1, MSG);
        t.consume(c, MSG.len(), now);
        assert_eq!(t.frame(c).0, Frame::Ping);
        t.consume(c, 4, now);
        assert_eq!(t.frame(c), (Frame::Partial, &b""[..]));
    }

    #[test]
    fn a_full_receive_buffer_frames_as_too_large() {
        let now = Instant::from_secs(1);
        let mut t = table(1, 1);
        let c = t.open(now, 0, peer(1, 1), false).unwrap();
        let n = t.rx_space(c).len();
        t.rx_space(c).fill(b'a');
        t.filled(c, n, now);
        assert!(t.rx_space(c).is_empty());
        assert_eq!(t.frame(c).0, Frame::Broken(Broken::TooLarge { header: 0 }));
    }

    #[test]
    fn the_send_queue_takes_whole_messages_and_never_grows() {
        let now = Instant::from_secs(1);
        let mut t = table(1, 1);
        let c = t.open(now, 0, peer(1, 1), true).unwrap();
        t.queue(c, b"hello").unwrap();
        // Nothing goes out before the connect completes.
        assert!(t.unsent(c).is_empty());
        t.connected(c, now);
        assert_eq!(t.unsent(c), b"hello");
        t.sent(c, 2, now);
        assert_eq!(t.unsent(c), b"llo");
        let big = vec![b'x'; TCP_TX - 3];
        t.queue(c, &big).unwrap();
        assert_eq!(t.queue(c, b"y"), Err(QueueFull));
        t.sent(c, 3, now);
        // Room again at the back: the queue compacts, order kept.
        t.queue(c, b"zz").unwrap();
        assert_eq!(t.unsent(c).len(), TCP_TX - 1);
        assert_eq!(&t.unsent(c)[TCP_TX - 3..], b"zz");
    }

    #[test]
    fn idle_slow_loris_and_connect_timeouts() {
        let t0 = Instant::from_secs(100);
        let mut t = table(4, 4);
        let idle = t.open(t0, 0, peer(1, 1), false).unwrap();
        let loris = t.open(t0, 0, peer(2, 1), false).unwrap();
        let connecting = t.open(t0, 0, peer(3, 1), true).unwrap();
        let busy = t.open(t0, 0, peer(4, 1), false).unwrap();
        read(&mut t, loris, b"INVITE sip:a SIP/2.0\r\n", t0);
        assert_eq!(t.expired(t0), None);
        assert_eq!(t.poll_timeout(t0), Some(CONNECT_TIMEOUT));

        let t5 = t0 + CONNECT_TIMEOUT;
        assert_eq!(t.expired(t5), Some((connecting, Expiry::ConnectTimeout)));
        assert_eq!(t.expired(t5), None);
        // The loris keeps trickling, but its message began at t0.
        read(&mut t, loris, b"Via: x\r\n", t5);
        let t10 = t0 + PARTIAL_TIMEOUT;
        assert_eq!(t.expired(t10), Some((loris, Expiry::SlowLoris)));
        assert_eq!(t.info(loris), None);

        // Whole messages keep a connection alive; silence closes it.
        for k in 1..=8 {
            let now = t10 + Duration::from_secs(60 * k);
            read(&mut t, busy, MSG, now);
            t.consume(busy, MSG.len(), now);
            assert_eq!(t.expired(now), None, "at {now:?}");
        }
        let t600 = t0 + Duration::from_secs(600);
        assert_eq!(t.expired(t600), Some((idle, Expiry::Idle)));
        assert_eq!(t.expired(t600), None);
        assert_eq!(t.len(), 1);
        assert!(t.info(busy).is_some());
    }
}
