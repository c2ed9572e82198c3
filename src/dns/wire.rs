//! Wire format: query building and the typed record decoder.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::name::{read_name, Name};
use super::{DnsError, QType, EDNS_UDP_PAYLOAD};

pub const TYPE_A: u16 = 1;
pub const TYPE_CNAME: u16 = 5;
pub const TYPE_SOA: u16 = 6;
pub const TYPE_AAAA: u16 = 28;
pub const TYPE_SRV: u16 = 33;
pub const TYPE_NAPTR: u16 = 35;
pub const TYPE_OPT: u16 = 41;
pub const CLASS_IN: u16 = 1;

pub(crate) const HEADER_LEN: usize = 12;
/// Recursion desired: we talk to a recursive resolver (dnsmasq, the ISP's).
const FLAG_RD: u16 = 0x0100;
/// Root owner, TYPE, CLASS (payload size), TTL (ext. RCODE, flags), RDLENGTH.
const OPT_LEN: usize = 11;

pub(crate) fn be16(p: &[u8], at: usize) -> Result<u16, DnsError> {
    let b = p.get(at..).and_then(|s| s.first_chunk::<2>());
    b.map(|b| u16::from_be_bytes(*b)).ok_or(DnsError::Truncated)
}

pub(crate) fn be32(p: &[u8], at: usize) -> Result<u32, DnsError> {
    let b = p.get(at..).and_then(|s| s.first_chunk::<4>());
    b.map(|b| u32::from_be_bytes(*b)).ok_or(DnsError::Truncated)
}

/// Writes `bytes` at `at`; returns the offset after them.
fn put(out: &mut [u8], at: usize, bytes: &[u8]) -> Result<usize, DnsError> {
    let end = at + bytes.len();
    let dst = out.get_mut(at..end).ok_or(DnsError::NoSpace)?;
    dst.copy_from_slice(bytes);
    Ok(end)
}

/// Writes a recursive query for `name`/`qtype` class IN with an EDNS0 OPT
/// record advertising [`EDNS_UDP_PAYLOAD`] bytes; returns the length.
///
/// `name` is dotted text, trailing dot optional; it is sent lower-cased.
/// `id` should be unpredictable: with the source port it is what makes
/// spoofed answers hard to land.
pub fn build_query(id: u16, name: &[u8], qtype: QType, out: &mut [u8]) -> Result<usize, DnsError> {
    let name = Name::from_text(name)?;
    // Refuse up front rather than leave half a query in `out`.
    if out.len() < HEADER_LEN + name.wire_len() + 4 + OPT_LEN {
        return Err(DnsError::NoSpace);
    }
    let mut at = put(out, 0, &id.to_be_bytes())?;
    at = put(out, at, &FLAG_RD.to_be_bytes())?;
    // QDCOUNT 1, ANCOUNT 0, NSCOUNT 0, ARCOUNT 1 (the OPT record).
    at = put(out, at, &[0, 1, 0, 0, 0, 0, 0, 1])?;
    at += name.write_wire(out.get_mut(at..).ok_or(DnsError::NoSpace)?)?;
    at = put(out, at, &qtype.code().to_be_bytes())?;
    at = put(out, at, &CLASS_IN.to_be_bytes())?;
    at = put(out, at, &[0])?;
    at = put(out, at, &TYPE_OPT.to_be_bytes())?;
    at = put(out, at, &EDNS_UDP_PAYLOAD.to_be_bytes())?;
    // Extended RCODE 0, version 0, no DO bit (we don't validate DNSSEC), RDLENGTH 0.
    put(out, at, &[0, 0, 0, 0, 0, 0])
}

/// The ID of a received datagram, to find the pending query it answers
/// before parsing it against that query.
pub fn response_id(pkt: &[u8]) -> Option<u16> {
    be16(pkt, 0).ok()
}

/// One resource record, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    /// Owner name.
    pub name: Name,
    /// Seconds; values with the top bit set read as 0 (RFC 2181 §8).
    pub ttl: u32,
    pub data: RData<'a>,
}

/// Record data for the types RFC 3263 resolution needs. Everything else,
/// and anything not class IN, is [`RData::Other`] (still length-checked).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RData<'a> {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    Cname(Name),
    Srv(Srv),
    Naptr(Naptr<'a>),
    Soa(Soa),
    Other { rtype: u16 },
}

impl RData<'_> {
    /// The TYPE number on the wire.
    pub fn rtype(&self) -> u16 {
        match self {
            RData::A(_) => TYPE_A,
            RData::Aaaa(_) => TYPE_AAAA,
            RData::Cname(_) => TYPE_CNAME,
            RData::Srv(_) => TYPE_SRV,
            RData::Naptr(_) => TYPE_NAPTR,
            RData::Soa(_) => TYPE_SOA,
            RData::Other { rtype } => *rtype,
        }
    }
}

/// RFC 2782 service location.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Srv {
    pub priority: u16,
    pub weight: u16,
    pub port: u16,
    /// The root means "service not available here".
    pub target: Name,
}

/// RFC 3403 naming authority pointer. The strings borrow the datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Naptr<'a> {
    pub order: u16,
    pub preference: u16,
    pub flags: &'a [u8],
    pub services: &'a [u8],
    pub regexp: &'a [u8],
    pub replacement: Name,
}

/// The part of an SOA that negative caching needs (RFC 2308 §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Soa {
    pub minimum: u32,
}

/// Decodes the record at `at`; returns it and the offset after it.
pub(crate) fn read_record(pkt: &[u8], at: usize) -> Result<(Record<'_>, usize), DnsError> {
    let mut name = Name::root();
    let pos = read_name(pkt, at, Some(&mut name))?;
    let rtype = be16(pkt, pos)?;
    let class = be16(pkt, pos + 2)?;
    let ttl = be32(pkt, pos + 4)?;
    let start = pos + 10;
    let end = start + usize::from(be16(pkt, pos + 8)?);
    // Cut the datagram at the RDATA's end: names inside may point back
    // anywhere, but nothing may run past RDLENGTH.
    let rd = pkt.get(..end).ok_or(DnsError::Truncated)?;
    let data = if class == CLASS_IN {
        read_rdata(rd, start, rtype).map_err(|e| match e {
            DnsError::Truncated => DnsError::Malformed,
            e => e,
        })?
    } else {
        RData::Other { rtype }
    };
    let ttl = if ttl > i32::MAX as u32 { 0 } else { ttl };
    Ok((Record { name, ttl, data }, end))
}

/// Decodes the RDATA from `start` to the end of `rd`, which it must fill.
fn read_rdata(rd: &[u8], start: usize, rtype: u16) -> Result<RData<'_>, DnsError> {
    let body = rd.get(start..).ok_or(DnsError::Truncated)?;
    let (data, pos) = match rtype {
        TYPE_A => {
            let a = body.first_chunk::<4>().ok_or(DnsError::Truncated)?;
            (RData::A(Ipv4Addr::from(*a)), start + 4)
        }
        TYPE_AAAA => {
            let a = body.first_chunk::<16>().ok_or(DnsError::Truncated)?;
            (RData::Aaaa(Ipv6Addr::from(*a)), start + 16)
        }
        TYPE_CNAME => {
            let mut target = Name::root();
            let pos = read_name(rd, start, Some(&mut target))?;
            (RData::Cname(target), pos)
        }
        TYPE_SRV => {
            let mut target = Name::root();
            let pos = read_name(rd, start + 6, Some(&mut target))?;
            let srv = Srv {
                priority: be16(rd, start)?,
                weight: be16(rd, start + 2)?,
                port: be16(rd, start + 4)?,
                target,
            };
            (RData::Srv(srv), pos)
        }
        TYPE_NAPTR => {
            let (flags, pos) = char_string(rd, start + 4)?;
            let (services, pos) = char_string(rd, pos)?;
            let (regexp, pos) = char_string(rd, pos)?;
            let mut replacement = Name::root();
            let pos = read_name(rd, pos, Some(&mut replacement))?;
            let naptr = Naptr {
                order: be16(rd, start)?,
                preference: be16(rd, start + 2)?,
                flags,
                services,
                regexp,
                replacement,
            };
            (RData::Naptr(naptr), pos)
        }
        TYPE_SOA => {
            // MNAME and RNAME are only checked: we never use them.
            let pos = read_name(rd, start, None)?;
            let pos = read_name(rd, pos, None)?;
            // SERIAL, REFRESH, RETRY, EXPIRE, then MINIMUM.
            let minimum = be32(rd, pos + 16)?;
            (RData::Soa(Soa { minimum }), pos + 20)
        }
        _ => (RData::Other { rtype }, rd.len()),
    };
    if pos != rd.len() {
        return Err(DnsError::Malformed);
    }
    Ok(data)
}

/// A length-prefixed <character-string>; returns it and the offset after.
fn char_string(rd: &[u8], at: usize) -> Result<(&[u8], usize), DnsError> {
    let len = usize::from(*rd.get(at).ok_or(DnsError::Truncated)?);
    let s = rd.get(at + 1..at + 1 + len).ok_or(DnsError::Truncated)?;
    Ok((s, at + 1 + len))
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod test {
    use super::*;

    #[test]
    fn query_bytes_exact() {
        let mut out = [0u8; 512];
        let len = build_query(0xBEEF, b"_sip._udp.Example.test.", QType::Srv, &mut out).unwrap();
        #[rustfmt::skip]
        let want: &[u8] = &[
            0xBE, 0xEF, // ID
            0x01, 0x00, // QR=0 OPCODE=QUERY RD=1
            0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, // QD=1 AN=0 NS=0 AR=1
            4, b'_', b's', b'i', b'p',
            4, b'_', b'u', b'd', b'p',
            7, b'e', b'x', b'a', b'm', b'p', b'l', b'e',
            4, b't', b'e', b's', b't',
            0,
            0x00, 0x21, // QTYPE SRV (33)
            0x00, 0x01, // QCLASS IN
            0x00, // OPT owner: root
            0x00, 0x29, // TYPE OPT (41)
            0x04, 0xD0, // CLASS = UDP payload 1232
            0x00, 0x00, 0x00, 0x00, // ext RCODE, version, flags (no DO)
            0x00, 0x00, // RDLENGTH
        ];
        assert_eq!(&out[..len], want);
        assert_eq!(response_id(&out[..len]), Some(0xBEEF));
    }

    #[test]
    fn query_types_and_sizes() {
        let mut out = [0u8; crate::dns::MAX_QUERY_LEN];
        for (q, code) in [(QType::A, 1u8), (QType::Aaaa, 28), (QType::Naptr, 35)] {
            let len = build_query(1, b"example.test", q, &mut out).unwrap();
            assert_eq!(len, 12 + 14 + 4 + 11);
            assert_eq!(&out[26..30], &[0, code, 0, 1]);
        }
        // The longest name fits MAX_QUERY_LEN exactly.
        let long = [&[b'a'; 63][..], &[b'a'; 63], &[b'a'; 63], &[b'a'; 61]].join(&b'.');
        let len = build_query(1, &long, QType::A, &mut out).unwrap();
        assert_eq!(len, crate::dns::MAX_QUERY_LEN);
        // Every shorter buffer is refused without panicking.
        for short in 0..41 {
            assert_eq!(
                build_query(1, b"example.test", QType::A, &mut out[..short]),
                Err(DnsError::NoSpace)
            );
        }
        for bad in [&b""[..], b".", b"a..b", b".a", &[b'x'; 64]] {
            assert_eq!(
                build_query(1, bad, QType::A, &mut out),
                Err(DnsError::BadName)
            );
        }
    }

    #[test]
    fn rdata_lengths_checked() {
        // Owner "a", type A, class IN, TTL, RDLENGTH 5 with 5 bytes: too long.
        let rec = b"\x01a\x00\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x05\x01\x02\x03\x04\x05";
        assert_eq!(read_record(rec, 0).err(), Some(DnsError::Malformed));
        // RDLENGTH 3 for an A: too short.
        let rec = b"\x01a\x00\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x03\x01\x02\x03";
        assert_eq!(read_record(rec, 0).err(), Some(DnsError::Malformed));
        // A CNAME whose name runs past RDLENGTH.
        let rec = b"\x01a\x00\x00\x05\x00\x01\x00\x00\x00\x3c\x00\x02\x01b\x00";
        assert_eq!(read_record(rec, 0).err(), Some(DnsError::Malformed));
        // RDLENGTH past the end of the datagram.
        let rec = b"\x01a\x00\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\x01\x02\x03";
        assert_eq!(read_record(rec, 0).err(), Some(DnsError::Truncated));
        // Unknown types and other classes are skipped by RDLENGTH.
        let rec = b"\x01a\x00\x00\x10\x00\x01\x80\x00\x00\x00\x00\x02hi";
        let (r, end) = read_record(rec, 0).unwrap();
        assert_eq!(
            (r.data, r.ttl, end),
            (RData::Other { rtype: 16 }, 0, rec.len())
        );
        let rec = b"\x01a\x00\x00\x01\x00\x03\x00\x00\x00\x01\x00\x02hi";
        let (r, _) = read_record(rec, 0).unwrap();
        assert_eq!(r.data, RData::Other { rtype: 1 });
    }
}
