//! SIP over streams (RFC 3261 §18): framing and the fixed connection table.
//!
//! Sans-IO like the rest of the core: [`framer`] finds message boundaries
//! in buffered bytes, [`table`] owns each connection's buffers, times and
//! generation. The shell moves bytes between sockets and slots. A TLS
//! layer would sit between the socket and the slot's buffers, so neither
//! the framing nor the proxy changes for it.

#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

pub mod framer;
pub mod table;

pub use framer::{frame, Broken, Frame};
pub use table::{Conn, Expiry, Info, QueueFull, Refused, StreamConfig, Streams};

/// What the shell's TCP side counted, with the table's occupancy: for
/// `edgesip status`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TcpStats {
    pub open: usize,
    pub capacity: usize,
    pub accepted: u64,
    pub connected: u64,
    /// Refused for a full table, or for too many from one address.
    pub refused_full: u64,
    pub refused_source: u64,
    pub connect_failed: u64,
    pub queue_full: u64,
    pub idle: u64,
    pub slow: u64,
    pub closed: u64,
}
