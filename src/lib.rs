//! edgesip: a small stateless SIP proxy and RTP relay for routers.
//!
//! A sans-IO core and a thin shell around it. The core is plain code driven
//! by `(now, leg, source, bytes)`; the shell owns the sockets, the clock,
//! the files, the signals and the log.
//!
//! The core:
//! - [`sip`]: zero-copy parsing of SIP datagrams, one-pass rewriting into
//!   caller-owned buffers, responses and status codes.
//! - [`sdp`]: the SDP view the NAT helper reads.
//! - [`proxy`]: forwarding (RFC 3261 §16): routing, Via branches, Contact
//!   tokens, STUN; the entry point is [`proxy::Proxy::handle`].
//! - [`relay`]: the NAT helper's call table, SDP rewriting and relaying.
//! - [`registrar`]: REGISTER (RFC 3261 §10.3), digest, lookups, and the
//!   bindings' text format.
//! - [`dns`]: the RFC 3263 resolver, its wire codec and cache.
//! - [`config`]: what the core is built from; [`limits`]: every capacity.
//! - [`output`]: what the core hands the shell ([`output::Transmit`],
//!   [`output::Outcome`]); [`cx`]: what it may ask of the shell.
//! - [`hmac`], [`hex`], [`ratelimit`], [`time`]: small pieces they share.
//!
//! The shell, [`daemon`]: the command line, the key file, the bindings
//! file, the logger, the system calls and the mio loop.
//!
//! Invariants:
//! - **No allocation after start-up.** Every table is allocated in a
//!   constructor with a capacity fixed by [`limits`] or the command line;
//!   handling a datagram, a relayed packet, a DNS answer or a timer
//!   allocates nothing (`tests/no_alloc.rs` counts).
//! - **No I/O in the core.** Nothing outside [`daemon`] reads a clock, a
//!   file or a socket, or logs: time comes in as `now`, secrets and seeds as
//!   arguments, and outcomes go out as data.
//! - **Capacities are fixed at start-up.** A full table is an answer (503,
//!   513) or a counted drop, never a reallocation.
#![forbid(unsafe_op_in_unsafe_fn)]
// `unsafe` lives in two modules only: `daemon::sys` and `sip::fixed`.
#![deny(unsafe_code)]

pub mod config;
pub mod cx;
pub mod daemon;
pub mod dns;
pub mod hex;
pub mod hmac;
pub mod limits;
pub mod output;
pub mod proxy;
pub mod ratelimit;
pub mod registrar;
pub mod relay;
pub mod sdp;
pub mod sip;
pub mod siphash;
pub mod status;
pub mod stream;
pub mod time;
