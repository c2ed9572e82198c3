//! Sans-IO DNS for RFC 3263 target resolution: queries, answers, selection.
//!
//! Nothing on the per-packet path allocates: queries are written into a
//! caller's slice, answers are read as a view over the received datagram and
//! names are decompressed into a fixed [`Name`]. Only [`conf`] (start-up
//! file parsing) and [`Resolver::new`] allocate.
//!
//! - [`wire`]: [`build_query`] and the typed record decoder.
//! - [`response`]: [`Response`], a checked view over one answer datagram.
//! - [`select`]: deterministic SRV and NAPTR choice.
//! - [`conf`]: `/etc/resolv.conf` and `/etc/hosts`.
//! - [`resolver`]: [`Resolver`], RFC 3263 NAPTR → SRV → A/AAAA with a
//!   fixed-size cache, over the pieces above.

// Packet bytes are untrusted: keep every access checked.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

pub mod conf;
pub mod name;
pub mod resolver;
pub mod response;
pub mod select;
pub mod wire;

use core::fmt;

pub use name::Name;
pub use resolver::{Failure, Reach, Resolution, Resolver, ResolverConfig, ResolverStats, Ticket};
pub use response::{Negative, Rcode, Records, Response};
pub use select::{
    naptr_usable, order_naptr, select_srv, SrvChoice, Transport, SERVICE_SIP_D2T, SERVICE_SIP_D2U,
};
pub use wire::{build_query, response_id, Naptr, RData, Record, Soa, Srv};

/// The UDP payload we advertise in EDNS0: the DNS Flag Day 2020 value, small
/// enough to avoid IP fragmentation on common paths.
pub const EDNS_UDP_PAYLOAD: u16 = 1232;

/// The longest query [`build_query`] writes: header, a 255-byte name,
/// QTYPE/QCLASS and the 11-byte OPT record.
pub const MAX_QUERY_LEN: usize = 12 + 255 + 4 + 11;

/// Cached answers live at least this long, so a zero TTL can't make us
/// query for every packet.
pub const MIN_TTL: u32 = 5;
/// Cached answers live at most a day, bounding the damage of a bad answer.
pub const MAX_TTL: u32 = 86_400;

/// Clamps a record or negative TTL into [`MIN_TTL`, `MAX_TTL`].
pub fn clamp_ttl(ttl: u32) -> u32 {
    ttl.clamp(MIN_TTL, MAX_TTL)
}

/// The record types we ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QType {
    A,
    Aaaa,
    Srv,
    Naptr,
}

impl QType {
    /// The TYPE number on the wire.
    pub fn code(self) -> u16 {
        match self {
            QType::A => wire::TYPE_A,
            QType::Aaaa => wire::TYPE_AAAA,
            QType::Srv => wire::TYPE_SRV,
            QType::Naptr => wire::TYPE_NAPTR,
        }
    }

    pub fn from_code(code: u16) -> Option<QType> {
        match code {
            wire::TYPE_A => Some(QType::A),
            wire::TYPE_AAAA => Some(QType::Aaaa),
            wire::TYPE_SRV => Some(QType::Srv),
            wire::TYPE_NAPTR => Some(QType::Naptr),
            _ => None,
        }
    }
}

/// Why a query could not be built or an answer was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DnsError {
    /// A name to query is not a valid domain name.
    BadName,
    /// The output slice is too small.
    NoSpace,
    /// The packet ends in the middle of a field.
    Truncated,
    /// The packet is structurally wrong (label type, RDLENGTH, counts...).
    Malformed,
    /// A compression pointer goes forward, out of range, or loops.
    BadPointer,
    /// Not a response to a standard query (QR clear or OPCODE not QUERY).
    NotResponse,
    /// The ID is not the one we sent: stale or spoofed.
    IdMismatch,
    /// The question is not the one we asked: spoofed or confused.
    QuestionMismatch,
    /// The server answered with an error RCODE (EDNS-extended, 12 bits).
    Rcode(u16),
}

impl fmt::Display for DnsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DnsError::BadName => f.write_str("invalid domain name"),
            DnsError::NoSpace => f.write_str("output buffer too small"),
            DnsError::Truncated => f.write_str("truncated DNS packet"),
            DnsError::Malformed => f.write_str("malformed DNS packet"),
            DnsError::BadPointer => f.write_str("bad DNS compression pointer"),
            DnsError::NotResponse => f.write_str("not a DNS query response"),
            DnsError::IdMismatch => f.write_str("DNS response ID mismatch"),
            DnsError::QuestionMismatch => f.write_str("DNS response question mismatch"),
            DnsError::Rcode(code) => {
                let what = match code {
                    1 => "FORMERR",
                    2 => "SERVFAIL",
                    4 => "NOTIMP",
                    5 => "REFUSED",
                    16 => "BADVERS",
                    _ => "error",
                };
                write!(f, "DNS server answered RCODE {code} ({what})")
            }
        }
    }
}

impl std::error::Error for DnsError {}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn ttl_clamp() {
        assert_eq!(clamp_ttl(0), 5);
        assert_eq!(clamp_ttl(5), 5);
        assert_eq!(clamp_ttl(300), 300);
        assert_eq!(clamp_ttl(86_400), 86_400);
        assert_eq!(clamp_ttl(u32::MAX), 86_400);
    }

    #[test]
    fn qtype_codes_round_trip() {
        for q in [QType::A, QType::Aaaa, QType::Srv, QType::Naptr] {
            assert_eq!(QType::from_code(q.code()), Some(q));
        }
        assert_eq!(QType::code(QType::Naptr), 35);
        assert_eq!(QType::from_code(wire::TYPE_CNAME), None);
    }

    #[test]
    fn error_display() {
        assert_eq!(
            DnsError::Rcode(2).to_string(),
            "DNS server answered RCODE 2 (SERVFAIL)"
        );
        assert_eq!(
            DnsError::BadPointer.to_string(),
            "bad DNS compression pointer"
        );
    }
}
