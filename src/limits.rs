//! The capacities: every fixed size of the daemon, in one place.
//!
//! Tables whose size the command line sets (calls, bindings, DNS cache) are
//! allocated once at start-up from these defaults or from the options; the
//! rest are compile-time sizes of buffers and fixed arrays. Nothing grows
//! after start-up: a full table is an answer (503, 513) or a counted drop.

/// Most legs a proxy can have.
pub const MAX_LEGS: usize = 8;
/// Most `net=` entries per leg.
pub const MAX_NETS: usize = 8;
/// Longest leg name; short enough for log lines and interface-like names.
pub const MAX_NAME_LEN: usize = 15;

/// Largest UDP payload; also the size of receive and send buffers.
pub const MAX_DATAGRAM: usize = 65_535;
/// Header lines one message may have; more is an error, never a realloc.
pub const MAX_HEADERS: usize = 128;
/// Largest SIP body the NAT helper rewrites.
pub const MAX_BODY: usize = 8192;

/// Largest request that can wait for DNS; bigger ones get 503.
pub const PARK_SLOT: usize = 4096;
/// Lookups (and parked requests) waiting for DNS at once.
pub const PENDING_LOOKUPS: usize = 128;
/// Fewer DNS source ports than this make spoofed answers too easy to land.
pub const MIN_DNS_SOCKETS: usize = 8;
/// Most DNS source ports the shell opens.
pub const MAX_DNS_SOCKETS: usize = 64;
/// Cached (name, type) DNS answers unless `--dns-cache` says otherwise.
pub const DEFAULT_DNS_CACHE: usize = 128;

/// Active media streams per relayed call; an offer with more gets 488.
pub const MAX_MEDIA: usize = 4;
/// Calls the relay holds unless `--max-calls` says otherwise.
pub const DEFAULT_MAX_CALLS: usize = 64;
/// Longest Call-ID and tag the relay keeps for a call.
pub const MAX_CALL_ID: usize = 255;
pub const MAX_TAG: usize = 128;

/// Bindings the registrar holds unless `--reg-max` says otherwise.
pub const DEFAULT_REG_MAX: usize = 256;
/// Longest address-of-record key (`sip:user@domain`).
pub const MAX_AOR: usize = 128;
/// Longest Contact URI plus `+sip.instance` a binding stores.
pub const MAX_BINDING: usize = 512;
/// Most bindings one AoR may hold, so one user cannot fill the table and
/// every binding fits in the 200.
pub const MAX_PER_AOR: usize = 32;

/// Longest contact (URI without `sip:`) a Contact token may carry.
pub const MAX_TOKEN_CONTACT: usize = 512;

/// TCP connections in all unless `--tcp-max` says otherwise.
pub const DEFAULT_TCP_MAX: usize = 64;
/// TCP connections from one source address unless `--tcp-per-source` says.
pub const DEFAULT_TCP_PER_SOURCE: usize = 8;
/// A connection's receive buffer: the largest message over a stream (513
/// past it).
pub const TCP_RX: usize = 8192;
/// A connection's send queue: a send that does not fit closes it.
pub const TCP_TX: usize = 16_384;
