//! edgesip: a small stateless SIP proxy and RTP relay for routers.
//!
//! The crate is a sans-IO core plus a thin mio shell:
//! - [`sip`]: zero-copy parsing of SIP datagrams and one-pass rewriting into
//!   caller-owned buffers. Nothing here allocates.
#![forbid(unsafe_op_in_unsafe_fn)]

pub mod sip;
pub mod hmac;
