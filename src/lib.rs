//! edgesip: a small stateless SIP proxy and RTP relay for routers.
//!
//! The crate is a sans-IO core plus a thin mio shell:
//! - [`sip`]: zero-copy parsing of SIP datagrams, one-pass rewriting into
//!   caller-owned buffers, and the SDP view. Nothing there allocates.
//! - [`token`]: the encrypted Contact tokens; [`key`]: the secret they use.
//! - [`hmac`]: keyed MD5 for tags, branches, tokens and nonces.
//! - [`proxy`]: the sans-IO proxy core; [`daemon`]: the mio shell that owns
//!   the sockets, the signals and the clock; [`config`]: the command line.
//! - [`registrar`]: REGISTER handling (RFC 3261 §10.3) and lookups.
#![forbid(unsafe_op_in_unsafe_fn)]

pub mod config;
pub mod daemon;
pub mod dns;
pub mod hmac;
pub mod key;
pub mod proxy;
pub mod ratelimit;
pub mod registrar;
pub mod relay;
pub mod sip;
pub mod time;
pub mod token;
