//! What the core may ask of the shell while it handles an input: the time,
//! and the relay's sockets, which are bound when a call takes a port pair
//! and released when it frees it (the shell keeps them a while for the
//! next call, then closes them, so an idle router holds none). One context
//! argument, as smoltcp's sockets take `cx`, instead of a capability
//! passed beside every call.

use crate::stream::Conn;
use crate::time::Instant;

/// Opens and closes relay sockets: the shell's side of the relay.
pub trait RelaySockets {
    /// Binds the RTP and RTCP ports of `pair` on `leg`; false if it failed
    /// (the port is in use by someone else: the relay tries the next pair).
    fn open(&mut self, leg: usize, pair: u16) -> bool;
    fn close(&mut self, leg: usize, pair: u16);
}

/// Sockets for a core without the NAT helper, and for tests: opens nothing.
pub struct NoSockets;

impl RelaySockets for NoSockets {
    fn open(&mut self, _: usize, _: u16) -> bool {
        false
    }
    fn close(&mut self, _: usize, _: u16) {}
}

/// The context of one call into the core.
pub struct Cx<'a> {
    /// The shell's clock, read once per wake-up.
    pub now: Instant,
    pub sockets: &'a mut dyn RelaySockets,
    /// The connection the input came in on; `None` for a datagram.
    pub conn: Option<Conn>,
}

impl<'a> Cx<'a> {
    pub fn new(now: Instant, sockets: &'a mut dyn RelaySockets) -> Cx<'a> {
        Cx {
            now,
            sockets,
            conn: None,
        }
    }

    /// The context of a message that came in on the stream `conn`.
    pub fn on_stream(now: Instant, sockets: &'a mut dyn RelaySockets, conn: Conn) -> Cx<'a> {
        Cx {
            now,
            sockets,
            conn: Some(conn),
        }
    }
}
