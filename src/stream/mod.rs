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
