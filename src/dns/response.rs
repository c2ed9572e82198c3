//! A checked, allocation-free view over one DNS response datagram.

use super::name::{read_name, Name};
use super::wire::{be16, be32, read_record, RData, Record, CLASS_IN, HEADER_LEN, TYPE_OPT};
use super::{DnsError, QType};

const FLAG_QR: u16 = 0x8000;
const MASK_OPCODE: u16 = 0x7800;
const FLAG_TC: u16 = 0x0200;
const MASK_RCODE: u16 = 0x000F;
const RCODE_NXDOMAIN: u16 = 3;
/// Longer CNAME chains are broken or hostile; resolvers give up sooner.
const MAX_CNAME_CHAIN: usize = 8;

/// The RCODEs that are answers rather than failures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rcode {
    NoError,
    NxDomain,
}

/// Why an answer holds nothing usable (RFC 2308).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Negative {
    /// The name does not exist.
    NxDomain,
    /// The name exists but has no records of the type asked for.
    NoData,
}

/// Start and usable record count of one section.
#[derive(Clone, Copy, Debug, Default)]
struct Section {
    start: usize,
    count: u16,
}

/// A response checked against the query it answers. Every record was
/// decoded once in [`Response::parse`], so iteration cannot fail.
#[derive(Clone, Copy, Debug)]
pub struct Response<'a> {
    pkt: &'a [u8],
    flags: u16,
    rcode: Rcode,
    qtype: QType,
    qname: Name,
    /// Answer, authority, additional.
    sections: [Section; 3],
}

impl<'a> Response<'a> {
    /// Parses `pkt` as the answer to query `id` for `name`/`qtype` (class
    /// IN). A different ID or question is refused, so an off-path spoofer
    /// must guess both. NOERROR and NXDOMAIN parse; other RCODEs are
    /// [`DnsError::Rcode`].
    ///
    /// With TC set, records cut off by the end of the datagram are dropped
    /// and the complete ones are kept; without it, any truncation is an
    /// error. Bytes after the last record are ignored.
    pub fn parse(
        pkt: &'a [u8],
        id: u16,
        name: &[u8],
        qtype: QType,
    ) -> Result<Response<'a>, DnsError> {
        let expected = Name::from_text(name)?;
        if pkt.len() < HEADER_LEN {
            return Err(DnsError::Truncated);
        }
        let flags = be16(pkt, 2)?;
        if flags & FLAG_QR == 0 || flags & MASK_OPCODE != 0 {
            return Err(DnsError::NotResponse);
        }
        if be16(pkt, 0)? != id {
            return Err(DnsError::IdMismatch);
        }
        // Answers to other questions, or to none (some FORMERRs), can't be
        // told apart from spoofing.
        if be16(pkt, 4)? != 1 {
            return Err(DnsError::QuestionMismatch);
        }
        let mut qname = Name::root();
        let pos = read_name(pkt, HEADER_LEN, Some(&mut qname))?;
        if qname != expected || be16(pkt, pos)? != qtype.code() || be16(pkt, pos + 2)? != CLASS_IN {
            return Err(DnsError::QuestionMismatch);
        }

        let counts = [be16(pkt, 6)?, be16(pkt, 8)?, be16(pkt, 10)?];
        let truncated = flags & FLAG_TC != 0;
        let mut sections = [Section::default(); 3];
        let mut pos = pos + 4;
        let mut cut = false;
        let mut ext_rcode = None;
        for (i, (section, count)) in sections.iter_mut().zip(counts).enumerate() {
            section.start = pos;
            if cut {
                continue;
            }
            for _ in 0..count {
                let (rec, next) = match read_record(pkt, pos) {
                    Ok(r) => r,
                    Err(DnsError::Truncated) if truncated => {
                        cut = true;
                        break;
                    }
                    Err(e) => return Err(e),
                };
                if i == 2 && rec.data.rtype() == TYPE_OPT {
                    // RFC 6891 §6.1.1: one OPT, owned by a plain root byte
                    // (so its raw TTL sits at pos + 5), whose TTL's top
                    // byte extends the RCODE.
                    if ext_rcode.is_some() || pkt.get(pos) != Some(&0) {
                        return Err(DnsError::Malformed);
                    }
                    ext_rcode = Some((be32(pkt, pos + 5)? >> 24) as u16);
                }
                pos = next;
                section.count += 1;
            }
        }

        let rcode = match (ext_rcode.unwrap_or(0) << 4) | (flags & MASK_RCODE) {
            0 => Rcode::NoError,
            RCODE_NXDOMAIN => Rcode::NxDomain,
            code => return Err(DnsError::Rcode(code)),
        };
        Ok(Response {
            pkt,
            flags,
            rcode,
            qtype,
            qname,
            sections,
        })
    }

    pub fn rcode(&self) -> Rcode {
        self.rcode
    }

    /// TC: the server had more than fit. We use what came rather than
    /// retrying over TCP.
    pub fn truncated(&self) -> bool {
        self.flags & FLAG_TC != 0
    }

    /// The question name, lower-cased.
    pub fn qname(&self) -> &Name {
        &self.qname
    }

    pub fn qtype(&self) -> QType {
        self.qtype
    }

    pub fn answers(&self) -> Records<'a> {
        self.records(0)
    }

    pub fn authority(&self) -> Records<'a> {
        self.records(1)
    }

    /// The additional section (the OPT record appears as `RData::Other`).
    pub fn additional(&self) -> Records<'a> {
        self.records(2)
    }

    fn records(&self, i: usize) -> Records<'a> {
        let s = self.sections.get(i).copied().unwrap_or_default();
        Records {
            pkt: self.pkt,
            pos: s.start,
            left: s.count,
        }
    }

    /// Where the answer's CNAME chain from the question name ends (the
    /// question name itself without CNAMEs). At most 8 links are followed,
    /// so a CNAME loop ends somewhere with nothing to match.
    pub fn canonical_name(&self) -> Name {
        let mut name = self.qname;
        for _ in 0..MAX_CNAME_CHAIN {
            let next = self.answers().find_map(|r| match r.data {
                RData::Cname(target) if r.name == name => Some(target),
                _ => None,
            });
            match next {
                Some(target) => name = target,
                None => break,
            }
        }
        name
    }

    /// The answers of the type asked for, owned by the canonical name.
    /// Records for other names are ignored: nobody asked for them.
    pub fn matching(&self) -> impl Iterator<Item = Record<'a>> {
        let owner = self.canonical_name();
        let rtype = self.qtype.code();
        self.answers()
            .filter(move |r| r.data.rtype() == rtype && r.name == owner)
    }

    /// NXDOMAIN, or NOERROR with nothing [`matching`](Self::matching).
    /// A truncated answer with nothing matching is not NODATA: the
    /// records may just not have fit.
    pub fn negative(&self) -> Option<Negative> {
        match self.rcode {
            Rcode::NxDomain => Some(Negative::NxDomain),
            Rcode::NoError if self.truncated() => None,
            Rcode::NoError => self.matching().next().is_none().then_some(Negative::NoData),
        }
    }

    /// For a negative answer, how long to cache it: min(SOA TTL, SOA
    /// MINIMUM) from the first SOA in the authority section (RFC 2308 §5).
    /// `None` if the answer is positive or carries no SOA; either way the
    /// caller still clamps it with [`clamp_ttl`](super::clamp_ttl).
    pub fn negative_ttl(&self) -> Option<u32> {
        self.negative()?;
        self.authority().find_map(|r| match r.data {
            RData::Soa(soa) => Some(r.ttl.min(soa.minimum)),
            _ => None,
        })
    }
}

/// The records of one section, in packet order.
#[derive(Clone, Debug)]
pub struct Records<'a> {
    pkt: &'a [u8],
    pos: usize,
    left: u16,
}

impl<'a> Iterator for Records<'a> {
    type Item = Record<'a>;

    fn next(&mut self) -> Option<Record<'a>> {
        if self.left == 0 {
            return None;
        }
        // `parse` decoded these same bytes, so this does not fail; if it
        // somehow did, ending the section is the safe answer.
        match read_record(self.pkt, self.pos) {
            Ok((rec, next)) => {
                self.pos = next;
                self.left -= 1;
                Some(rec)
            }
            Err(_) => {
                self.left = 0;
                None
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(usize::from(self.left)))
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod test {
    use super::*;
    use crate::dns::wire::{Naptr, Soa, Srv};
    use crate::dns::{build_query, clamp_ttl, order_naptr, select_srv, SrvChoice, SERVICE_SIP_D2U};
    use std::net::{Ipv4Addr, Ipv6Addr};

    // Real answer datagrams, built byte by byte with the compression shown
    // in the comments (offsets are from the start of the datagram), and
    // cross-checked with an independent DNS library.

    #[rustfmt::skip]
    const ANSWER_A: &[u8] = &[
        // ID 0x1234, QR RD RA NOERROR, QD 1 AN 2 NS 0 AR 1
        0x12, 0x34, 0x81, 0x80, 0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x01,
        // @12 question: SIP.Example.TEST (mixed case) A IN
        0x03, 0x53, 0x49, 0x50, 0x07, 0x45, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x04, 0x54, 0x45, 0x53,
        0x54, 0x00, 0x00, 0x01, 0x00, 0x01,
        // @34 answer: ptr->12, A, IN, TTL 3600, 192.0.2.1
        0xc0, 0x0c, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x0e, 0x10, 0x00, 0x04, 0xc0, 0x00, 0x02, 0x01,
        // @50 answer: ptr->12, A, IN, TTL 300, 192.0.2.2
        0xc0, 0x0c, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x01, 0x2c, 0x00, 0x04, 0xc0, 0x00, 0x02, 0x02,
        // @66 additional: OPT, root owner, payload 1232
        0x00, 0x00, 0x29, 0x04, 0xd0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    ];
    #[rustfmt::skip]
    const ANSWER_AAAA: &[u8] = &[
        // ID 0x0001, QR AA RD RA NOERROR, QD 1 AN 1 NS 0 AR 0
        0x00, 0x01, 0x85, 0x80, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
        // @12 question: example.test AAAA IN
        0x07, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x04, 0x74, 0x65, 0x73, 0x74, 0x00, 0x00, 0x1c,
        0x00, 0x01,
        // @30 answer: ptr->12, AAAA, IN, TTL 120, 2001:db8::1
        0xc0, 0x0c, 0x00, 0x1c, 0x00, 0x01, 0x00, 0x00, 0x00, 0x78, 0x00, 0x10, 0x20, 0x01, 0x0d, 0xb8,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
    ];
    #[rustfmt::skip]
    const ANSWER_SRV: &[u8] = &[
        // ID 0x5353, QR RD RA NOERROR, QD 1 AN 3 NS 0 AR 3
        0x53, 0x53, 0x81, 0x80, 0x00, 0x01, 0x00, 0x03, 0x00, 0x00, 0x00, 0x03,
        // @12 question: _sip._udp.example.test SRV IN ("example" at 22)
        0x04, 0x5f, 0x73, 0x69, 0x70, 0x04, 0x5f, 0x75, 0x64, 0x70, 0x07, 0x65, 0x78, 0x61, 0x6d, 0x70,
        0x6c, 0x65, 0x04, 0x74, 0x65, 0x73, 0x74, 0x00, 0x00, 0x21, 0x00, 0x01,
        // @40 answer: ptr->12 SRV TTL 600, 10 60 5060 sip1+ptr->22 (sip1 at 58)
        0xc0, 0x0c, 0x00, 0x21, 0x00, 0x01, 0x00, 0x00, 0x02, 0x58, 0x00, 0x0d, 0x00, 0x0a, 0x00, 0x3c,
        0x13, 0xc4, 0x04, 0x73, 0x69, 0x70, 0x31, 0xc0, 0x16,
        // @65 answer: ptr->12 SRV TTL 600, 10 40 5070 sip2+ptr->22 (sip2 at 83)
        0xc0, 0x0c, 0x00, 0x21, 0x00, 0x01, 0x00, 0x00, 0x02, 0x58, 0x00, 0x0d, 0x00, 0x0a, 0x00, 0x28,
        0x13, 0xce, 0x04, 0x73, 0x69, 0x70, 0x32, 0xc0, 0x16,
        // @90 answer: ptr->12 SRV TTL 600, 20 0 5060 backup+ptr->22
        0xc0, 0x0c, 0x00, 0x21, 0x00, 0x01, 0x00, 0x00, 0x02, 0x58, 0x00, 0x0f, 0x00, 0x14, 0x00, 0x00,
        0x13, 0xc4, 0x06, 0x62, 0x61, 0x63, 0x6b, 0x75, 0x70, 0xc0, 0x16,
        // @117 additional: ptr->58 (sip1) A TTL 60 192.0.2.11
        0xc0, 0x3a, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x3c, 0x00, 0x04, 0xc0, 0x00, 0x02, 0x0b,
        // @133 additional: ptr->83 (sip2) A TTL 60 192.0.2.12
        0xc0, 0x53, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x3c, 0x00, 0x04, 0xc0, 0x00, 0x02, 0x0c,
        // @149 additional: ptr->58 (sip1) AAAA TTL 60 2001:db8::11
        0xc0, 0x3a, 0x00, 0x1c, 0x00, 0x01, 0x00, 0x00, 0x00, 0x3c, 0x00, 0x10, 0x20, 0x01, 0x0d, 0xb8,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x11,
    ];
    #[rustfmt::skip]
    const ANSWER_NAPTR: &[u8] = &[
        // ID 0x0035, QR RD RA NOERROR, QD 1 AN 2 NS 0 AR 1
        0x00, 0x35, 0x81, 0x80, 0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x01,
        // @12 question: example.test NAPTR IN
        0x07, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x04, 0x74, 0x65, 0x73, 0x74, 0x00, 0x00, 0x23,
        0x00, 0x01,
        // @30 answer: ptr->12 NAPTR TTL 3600, 10 50 "s" "SIP+D2U" "" _sip._udp.example.test. (uncompressed, at 57)
        0xc0, 0x0c, 0x00, 0x23, 0x00, 0x01, 0x00, 0x00, 0x0e, 0x10, 0x00, 0x27, 0x00, 0x0a, 0x00, 0x32,
        0x01, 0x73, 0x07, 0x53, 0x49, 0x50, 0x2b, 0x44, 0x32, 0x55, 0x00, 0x04, 0x5f, 0x73, 0x69, 0x70,
        0x04, 0x5f, 0x75, 0x64, 0x70, 0x07, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x04, 0x74, 0x65,
        0x73, 0x74, 0x00,
        // @81 answer: ptr->12 NAPTR TTL 3600, 20 50 "s" "SIP+D2T" "" _sip._tcp.example.test.
        0xc0, 0x0c, 0x00, 0x23, 0x00, 0x01, 0x00, 0x00, 0x0e, 0x10, 0x00, 0x27, 0x00, 0x14, 0x00, 0x32,
        0x01, 0x73, 0x07, 0x53, 0x49, 0x50, 0x2b, 0x44, 0x32, 0x54, 0x00, 0x04, 0x5f, 0x73, 0x69, 0x70,
        0x04, 0x5f, 0x74, 0x63, 0x70, 0x07, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x04, 0x74, 0x65,
        0x73, 0x74, 0x00,
        // @132 additional: ptr->57 (_sip._udp.example.test) SRV 0 0 5060 pbx+ptr->12
        0xc0, 0x39, 0x00, 0x21, 0x00, 0x01, 0x00, 0x00, 0x0e, 0x10, 0x00, 0x0c, 0x00, 0x00, 0x00, 0x00,
        0x13, 0xc4, 0x03, 0x70, 0x62, 0x78, 0xc0, 0x0c,
    ];
    #[rustfmt::skip]
    const ANSWER_CNAME: &[u8] = &[
        // ID 0x0C0C, QR RD RA NOERROR, QD 1 AN 4 NS 0 AR 0
        0x0c, 0x0c, 0x81, 0x80, 0x00, 0x01, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00,
        // @12 question: www.example.test A IN ("example" at 16)
        0x03, 0x77, 0x77, 0x77, 0x07, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x04, 0x74, 0x65, 0x73,
        0x74, 0x00, 0x00, 0x01, 0x00, 0x01,
        // @34 answer: ptr->12 CNAME TTL 300 alias+ptr->16 (alias at 46)
        0xc0, 0x0c, 0x00, 0x05, 0x00, 0x01, 0x00, 0x00, 0x01, 0x2c, 0x00, 0x08, 0x05, 0x61, 0x6c, 0x69,
        0x61, 0x73, 0xc0, 0x10,
        // @54 answer: unrelated evil.test A 203.0.113.66 (must be ignored)
        0x04, 0x65, 0x76, 0x69, 0x6c, 0x04, 0x74, 0x65, 0x73, 0x74, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00,
        0x01, 0x51, 0x80, 0x00, 0x04, 0xcb, 0x00, 0x71, 0x42,
        // @79 answer: ptr->46 CNAME TTL 300 host+ptr->16 (host at 91)
        0xc0, 0x2e, 0x00, 0x05, 0x00, 0x01, 0x00, 0x00, 0x01, 0x2c, 0x00, 0x07, 0x04, 0x68, 0x6f, 0x73,
        0x74, 0xc0, 0x10,
        // @98 answer: ptr->91 A TTL 30 192.0.2.80
        0xc0, 0x5b, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x1e, 0x00, 0x04, 0xc0, 0x00, 0x02, 0x50,
    ];
    #[rustfmt::skip]
    const ANSWER_NXDOMAIN: &[u8] = &[
        // ID 0x4E58, QR AA RD RA NXDOMAIN, QD 1 AN 0 NS 1 AR 0
        0x4e, 0x58, 0x85, 0x83, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
        // @12 question: nope.example.test A IN ("example" at 17)
        0x04, 0x6e, 0x6f, 0x70, 0x65, 0x07, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x04, 0x74, 0x65,
        0x73, 0x74, 0x00, 0x00, 0x01, 0x00, 0x01,
        // @35 authority: ptr->17 SOA TTL 900: ns1+ptr->17, "john.doe"+ptr->17 (dot inside a label), serial, refresh, retry, expire, MINIMUM 300
        0xc0, 0x11, 0x00, 0x06, 0x00, 0x01, 0x00, 0x00, 0x03, 0x84, 0x00, 0x25, 0x03, 0x6e, 0x73, 0x31,
        0xc0, 0x11, 0x08, 0x6a, 0x6f, 0x68, 0x6e, 0x2e, 0x64, 0x6f, 0x65, 0xc0, 0x11, 0x78, 0xa3, 0xf1,
        0x75, 0x00, 0x00, 0x1c, 0x20, 0x00, 0x00, 0x0e, 0x10, 0x00, 0x12, 0x75, 0x00, 0x00, 0x00, 0x01,
        0x2c,
    ];

    fn name(s: &str) -> Name {
        Name::from_text(s.as_bytes()).unwrap()
    }

    fn v4(s: &str) -> RData<'static> {
        RData::A(s.parse::<Ipv4Addr>().unwrap())
    }

    fn v6(s: &str) -> RData<'static> {
        RData::Aaaa(s.parse::<Ipv6Addr>().unwrap())
    }

    /// (packet, id, name, qtype) for every sample.
    fn samples() -> [(&'static [u8], u16, &'static str, QType); 6] {
        [
            (ANSWER_A, 0x1234, "sip.example.test", QType::A),
            (ANSWER_AAAA, 0x0001, "example.test", QType::Aaaa),
            (ANSWER_SRV, 0x5353, "_sip._udp.example.test", QType::Srv),
            (ANSWER_NAPTR, 0x0035, "example.test", QType::Naptr),
            (ANSWER_CNAME, 0x0C0C, "www.example.test", QType::A),
            (ANSWER_NXDOMAIN, 0x4E58, "nope.example.test", QType::A),
        ]
    }

    /// Copy of `pkt` with `bytes` written at `at`.
    fn patch(pkt: &[u8], at: usize, bytes: &[u8]) -> Vec<u8> {
        let mut v = pkt.to_vec();
        v[at..at + bytes.len()].copy_from_slice(bytes);
        v
    }

    /// Walks everything a caller could touch; checks that iteration yields
    /// exactly the records `parse` accepted.
    fn exercise(r: &Response<'_>) {
        for (i, section) in [r.answers(), r.authority(), r.additional()]
            .into_iter()
            .enumerate()
        {
            let mut n = 0;
            for rec in section {
                n += 1;
                let _ = (rec.name.to_string(), rec.data.rtype(), rec.ttl);
                assert!(rec.ttl <= i32::MAX as u32);
            }
            assert_eq!(n, usize::from(r.sections[i].count));
        }
        let _ = (r.canonical_name(), r.matching().count(), r.negative_ttl());
        let _ = (r.rcode(), r.truncated(), r.qname(), r.qtype());
    }

    #[test]
    fn a_answer() {
        // Asked in lower case; the server echoed a mixed-case question.
        let r = Response::parse(ANSWER_A, 0x1234, b"sip.example.test.", QType::A).unwrap();
        assert_eq!(r.rcode(), Rcode::NoError);
        assert!(!r.truncated());
        assert_eq!(r.qname(), &name("sip.example.test"));
        let got: Vec<_> = r.matching().map(|r| (r.name, r.ttl, r.data)).collect();
        assert_eq!(
            got,
            [
                (name("sip.example.test"), 3600, v4("192.0.2.1")),
                (name("sip.example.test"), 300, v4("192.0.2.2")),
            ]
        );
        assert_eq!(r.authority().count(), 0);
        let opt: Vec<_> = r.additional().map(|r| (r.name.is_root(), r.data)).collect();
        assert_eq!(opt, [(true, RData::Other { rtype: 41 })]);
        assert_eq!((r.negative(), r.negative_ttl()), (None, None));
        exercise(&r);
    }

    #[test]
    fn aaaa_answer() {
        let r = Response::parse(ANSWER_AAAA, 1, b"EXAMPLE.test", QType::Aaaa).unwrap();
        let got: Vec<_> = r.matching().map(|r| (r.ttl, r.data)).collect();
        assert_eq!(got, [(120, v6("2001:db8::1"))]);
        assert_eq!(r.negative(), None);
    }

    #[test]
    fn srv_answer_with_additional_addresses() {
        let r = Response::parse(ANSWER_SRV, 0x5353, b"_sip._udp.example.test", QType::Srv).unwrap();
        let srvs: Vec<Srv> = r
            .matching()
            .filter_map(|r| match r.data {
                RData::Srv(s) => Some(s),
                _ => None,
            })
            .collect();
        let summary: Vec<_> = srvs
            .iter()
            .map(|s| (s.priority, s.weight, s.port, s.target.to_string()))
            .collect();
        assert_eq!(
            summary,
            [
                (10, 60, 5060, "sip1.example.test".to_string()),
                (10, 40, 5070, "sip2.example.test".to_string()),
                (20, 0, 5060, "backup.example.test".to_string()),
            ]
        );
        // Owners in the additional section point into SRV targets.
        let extra: Vec<_> = r
            .additional()
            .map(|r| (r.name.to_string(), r.data))
            .collect();
        assert_eq!(
            extra,
            [
                ("sip1.example.test".to_string(), v4("192.0.2.11")),
                ("sip2.example.test".to_string(), v4("192.0.2.12")),
                ("sip1.example.test".to_string(), v6("2001:db8::11")),
            ]
        );
        // Pick a target and find its address without another query.
        let choices: Vec<SrvChoice<'_>> = srvs.iter().map(SrvChoice::from).collect();
        let pick = |hash| {
            let srv = &srvs[select_srv(&choices, hash).unwrap()];
            let addr = r.additional().find_map(|a| match a.data {
                RData::A(ip) if a.name == srv.target => Some(ip),
                _ => None,
            });
            (srv.port, addr.unwrap())
        };
        assert_eq!(pick(59), (5060, Ipv4Addr::new(192, 0, 2, 11)));
        assert_eq!(pick(60), (5070, Ipv4Addr::new(192, 0, 2, 12)));
        assert_eq!(pick(100), (5060, Ipv4Addr::new(192, 0, 2, 11)));
    }

    #[test]
    fn naptr_answer() {
        let r = Response::parse(ANSWER_NAPTR, 0x0035, b"example.test", QType::Naptr).unwrap();
        let naptrs: Vec<Naptr<'_>> = r
            .matching()
            .filter_map(|r| match r.data {
                RData::Naptr(n) => Some(n),
                _ => None,
            })
            .collect();
        assert_eq!(naptrs.len(), 2);
        let n = &naptrs[0];
        assert_eq!((n.order, n.preference), (10, 50));
        assert_eq!(
            (n.flags, n.services, n.regexp),
            (&b"s"[..], &b"SIP+D2U"[..], &b""[..])
        );
        assert_eq!(n.replacement, name("_sip._udp.example.test"));
        assert_eq!(naptrs[1].replacement, name("_sip._tcp.example.test"));

        let mut best = [0; 4];
        let found = order_naptr(&naptrs, &[SERVICE_SIP_D2U], &mut best);
        assert_eq!(&best[..found], &[0]);
        // The SRV in the additional section is owned by a pointer into the
        // NAPTR's replacement field.
        let srv = r.additional().find_map(|a| match a.data {
            RData::Srv(s) if a.name == naptrs[best[0]].replacement => Some(s),
            _ => None,
        });
        assert_eq!(
            srv.map(|s| (s.port, s.target)),
            Some((5060, name("pbx.example.test")))
        );
    }

    #[test]
    fn cname_chain() {
        let r = Response::parse(ANSWER_CNAME, 0x0C0C, b"www.example.test", QType::A).unwrap();
        assert_eq!(r.canonical_name(), name("host.example.test"));
        // The unrelated evil.test A record is never returned.
        let got: Vec<_> = r.matching().map(|r| (r.name, r.ttl, r.data)).collect();
        assert_eq!(got, [(name("host.example.test"), 30, v4("192.0.2.80"))]);
        assert_eq!(r.answers().count(), 4);
        assert_eq!(r.negative(), None);
    }

    #[test]
    fn cname_loop_is_nodata() {
        // www.example.test CNAME www.example.test (pointer to the question).
        let pkt = [
            &ANSWER_CNAME[..7],
            &[1],
            &ANSWER_CNAME[8..34],
            b"\xc0\x0c\x00\x05\x00\x01\x00\x00\x01\x2c\x00\x02\xc0\x0c",
        ]
        .concat();
        let r = Response::parse(&pkt, 0x0C0C, b"www.example.test", QType::A).unwrap();
        assert_eq!(r.canonical_name(), name("www.example.test"));
        assert_eq!(r.matching().count(), 0);
        assert_eq!(
            (r.negative(), r.negative_ttl()),
            (Some(Negative::NoData), None)
        );
    }

    #[test]
    fn nxdomain_negative_ttl() {
        let r = Response::parse(ANSWER_NXDOMAIN, 0x4E58, b"nope.example.test", QType::A).unwrap();
        assert_eq!(r.rcode(), Rcode::NxDomain);
        assert_eq!(r.negative(), Some(Negative::NxDomain));
        let soa: Vec<_> = r.authority().map(|r| (r.name, r.ttl, r.data)).collect();
        assert_eq!(
            soa,
            [(name("example.test"), 900, RData::Soa(Soa { minimum: 300 }))]
        );
        // min(SOA TTL 900, MINIMUM 300).
        assert_eq!(r.negative_ttl(), Some(300));
        // With the SOA's TTL at 60 the TTL wins; a 0 is clamped by the caller.
        let pkt = patch(ANSWER_NXDOMAIN, 35 + 6, &60u32.to_be_bytes());
        let r = Response::parse(&pkt, 0x4E58, b"nope.example.test", QType::A).unwrap();
        assert_eq!(r.negative_ttl(), Some(60));
        let pkt = patch(ANSWER_NXDOMAIN, 35 + 6, &0u32.to_be_bytes());
        let r = Response::parse(&pkt, 0x4E58, b"nope.example.test", QType::A).unwrap();
        assert_eq!(r.negative_ttl().map(clamp_ttl), Some(5));
    }

    #[test]
    fn nodata_negative_ttl() {
        // Same packet with RCODE NOERROR: the name exists, no A records.
        let pkt = patch(ANSWER_NXDOMAIN, 3, &[0x80]);
        let r = Response::parse(&pkt, 0x4E58, b"nope.example.test", QType::A).unwrap();
        assert_eq!(r.rcode(), Rcode::NoError);
        assert_eq!(r.negative(), Some(Negative::NoData));
        assert_eq!(r.negative_ttl(), Some(300));
        // Without the SOA: negative, but no TTL to cache it for.
        let pkt = patch(&pkt[..35], 9, &[0]);
        let r = Response::parse(&pkt, 0x4E58, b"nope.example.test", QType::A).unwrap();
        assert_eq!(
            (r.negative(), r.negative_ttl()),
            (Some(Negative::NoData), None)
        );
    }

    #[test]
    fn truncated_flag_exposed_and_partial_answer_used() {
        let tc = patch(ANSWER_SRV, 2, &[0x83]);
        let r = Response::parse(&tc, 0x5353, b"_sip._udp.example.test", QType::Srv).unwrap();
        assert!(r.truncated());
        assert_eq!((r.answers().count(), r.additional().count()), (3, 3));
        // Cut inside the second additional record: the complete ones stay.
        let r = Response::parse(&tc[..140], 0x5353, b"_sip._udp.example.test", QType::Srv).unwrap();
        assert_eq!((r.answers().count(), r.additional().count()), (3, 1));
        // Cut inside the answers: what was whole is used, nothing after it.
        let r = Response::parse(&tc[..70], 0x5353, b"_sip._udp.example.test", QType::Srv).unwrap();
        assert_eq!((r.answers().count(), r.additional().count()), (1, 0));
        // Nothing arrived: that is not proof of NODATA.
        let r = Response::parse(&tc[..40], 0x5353, b"_sip._udp.example.test", QType::Srv).unwrap();
        assert_eq!((r.matching().count(), r.negative()), (0, None));
        // Without TC the same cut is an error.
        assert_eq!(
            Response::parse(
                &ANSWER_SRV[..140],
                0x5353,
                b"_sip._udp.example.test",
                QType::Srv
            )
            .err(),
            Some(DnsError::Truncated)
        );
        // TC doesn't excuse garbage: a bad RDLENGTH is still refused.
        let bad = patch(&tc, 40 + 11, &[12]);
        assert_eq!(
            Response::parse(&bad, 0x5353, b"_sip._udp.example.test", QType::Srv).err(),
            Some(DnsError::Malformed)
        );
    }

    #[test]
    fn mismatches_refused() {
        let parse = |pkt: &[u8], id, name: &[u8], q| Response::parse(pkt, id, name, q).err();
        let good = b"sip.example.test";
        assert_eq!(
            parse(ANSWER_A, 0x1235, good, QType::A),
            Some(DnsError::IdMismatch)
        );
        assert_eq!(
            parse(ANSWER_A, 0x1234, b"sip.example.tes", QType::A),
            Some(DnsError::QuestionMismatch)
        );
        assert_eq!(
            parse(ANSWER_A, 0x1234, b"sip.example.test.evil", QType::A),
            Some(DnsError::QuestionMismatch)
        );
        assert_eq!(
            parse(ANSWER_A, 0x1234, good, QType::Aaaa),
            Some(DnsError::QuestionMismatch)
        );
        assert_eq!(
            parse(ANSWER_A, 0x1234, b"a..b", QType::A),
            Some(DnsError::BadName)
        );
        // Class CHAOS in the question.
        let pkt = patch(ANSWER_A, 33, &[3]);
        assert_eq!(
            parse(&pkt, 0x1234, good, QType::A),
            Some(DnsError::QuestionMismatch)
        );
        // No question, or two.
        for qd in [0u8, 2] {
            let pkt = patch(ANSWER_A, 5, &[qd]);
            assert_eq!(
                parse(&pkt, 0x1234, good, QType::A),
                Some(DnsError::QuestionMismatch)
            );
        }
        // Our own query echoed back (QR clear), or an opcode other than QUERY.
        let mut query = [0u8; 64];
        let len = build_query(0x1234, good, QType::A, &mut query).unwrap();
        assert_eq!(
            parse(&query[..len], 0x1234, good, QType::A),
            Some(DnsError::NotResponse)
        );
        let pkt = patch(ANSWER_A, 2, &[0x81 | 0x28]);
        assert_eq!(
            parse(&pkt, 0x1234, good, QType::A),
            Some(DnsError::NotResponse)
        );
    }

    #[test]
    fn error_rcodes() {
        let good = b"sip.example.test";
        for (rcode, want) in [(1u8, 1u16), (2, 2), (5, 5), (15, 15)] {
            let pkt = patch(ANSWER_A, 3, &[0x80 | rcode]);
            assert_eq!(
                Response::parse(&pkt, 0x1234, good, QType::A).err(),
                Some(DnsError::Rcode(want))
            );
        }
        // OPT's extended RCODE 1 with header RCODE 0 is BADVERS (16).
        let pkt = patch(ANSWER_A, 66 + 5, &[1]);
        assert_eq!(
            Response::parse(&pkt, 0x1234, good, QType::A).err(),
            Some(DnsError::Rcode(16))
        );
        // Two OPT records, or an OPT not owned by the root, are malformed.
        let two = [&patch(ANSWER_A, 11, &[2])[..], &ANSWER_A[66..]].concat();
        assert_eq!(
            Response::parse(&two, 0x1234, good, QType::A).err(),
            Some(DnsError::Malformed)
        );
        // Owned by a name, or by a pointer to a root (the question's last
        // byte, at 29).
        for owner in [&b"\xc0\x0c"[..], b"\xc0\x1d"] {
            let owned = [&ANSWER_A[..66], owner, &ANSWER_A[67..]].concat();
            assert_eq!(
                Response::parse(&owned, 0x1234, good, QType::A).err(),
                Some(DnsError::Malformed)
            );
        }
    }

    #[test]
    fn compression_pointer_abuse_refused() {
        let parse = |pkt: &[u8]| Response::parse(pkt, 0x1234, b"sip.example.test", QType::A).err();
        // Answer owner pointing at itself.
        assert_eq!(
            parse(&patch(ANSWER_A, 34, b"\xc0\x22")),
            Some(DnsError::BadPointer)
        );
        // A label then a pointer back to that label: a loop.
        let looped = [&ANSWER_A[..34], b"\x01a\xc0\x22", &ANSWER_A[36..]].concat();
        assert_eq!(parse(&looped), Some(DnsError::BadPointer));
        // The question name looping onto itself.
        let looped = [&ANSWER_A[..16], b"\xc0\x0c", &ANSWER_A[30..]].concat();
        assert_eq!(parse(&looped), Some(DnsError::BadPointer));
        // Forward pointer (to the next record) and out-of-range pointers.
        assert_eq!(
            parse(&patch(ANSWER_A, 34, b"\xc0\x32")),
            Some(DnsError::BadPointer)
        );
        assert_eq!(
            parse(&patch(ANSWER_A, 34, b"\xc0\xff")),
            Some(DnsError::BadPointer)
        );
        assert_eq!(
            parse(&patch(ANSWER_A, 34, b"\xff\xff")),
            Some(DnsError::BadPointer)
        );
        // Same, inside RDATA: the SRV target of the first answer.
        let srv = patch(ANSWER_SRV, 40 + 23, b"\xc0\xff");
        assert_eq!(
            Response::parse(&srv, 0x5353, b"_sip._udp.example.test", QType::Srv).err(),
            Some(DnsError::BadPointer)
        );
        // A pointer into the middle of the question name is fine: "example.test".
        let mid = patch(ANSWER_A, 34, b"\xc0\x10");
        let r = Response::parse(&mid, 0x1234, b"sip.example.test", QType::A).unwrap();
        assert_eq!(r.answers().next().unwrap().name, name("example.test"));
        assert_eq!(r.matching().count(), 1);
    }

    #[test]
    fn every_truncation_is_an_error() {
        for (pkt, id, qname, qtype) in samples() {
            assert!(
                Response::parse(pkt, id, qname.as_bytes(), qtype).is_ok(),
                "{qname}"
            );
            for len in 0..pkt.len() {
                assert_eq!(
                    Response::parse(&pkt[..len], id, qname.as_bytes(), qtype).err(),
                    Some(DnsError::Truncated),
                    "{qname} cut at {len}"
                );
            }
        }
    }

    #[test]
    fn every_truncation_with_tc_is_safe() {
        for (pkt, id, qname, qtype) in samples() {
            let tc = patch(pkt, 2, &[pkt[2] | 0x02]);
            let mut last = 0;
            for len in 0..=tc.len() {
                match Response::parse(&tc[..len], id, qname.as_bytes(), qtype) {
                    Ok(r) => {
                        exercise(&r);
                        let n =
                            r.answers().count() + r.authority().count() + r.additional().count();
                        assert!(n >= last, "{qname} cut at {len}");
                        last = n;
                    }
                    Err(e) => assert_eq!(e, DnsError::Truncated, "{qname} cut at {len}"),
                }
            }
        }
    }

    #[test]
    fn trailing_bytes_ignored() {
        let padded = [ANSWER_AAAA, &[0u8; 7]].concat();
        let r = Response::parse(&padded, 1, b"example.test", QType::Aaaa).unwrap();
        assert_eq!(r.answers().count(), 1);
    }

    #[test]
    fn response_id_peek() {
        assert_eq!(crate::dns::response_id(ANSWER_SRV), Some(0x5353));
        assert_eq!(crate::dns::response_id(&[1]), None);
    }

    /// Tiny xorshift64 so the fuzz loop is reproducible without `rand`.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let samples = samples();
        let mut buf = [0u8; 600];
        let mut accepted = 0;
        for round in 0..30_000 {
            let (pkt, id, qname, qtype) = samples[rng.below(samples.len())];
            let len = match round % 3 {
                // Pure noise.
                0 => {
                    let len = rng.below(buf.len());
                    buf[..len].iter_mut().for_each(|b| *b = rng.next() as u8);
                    len
                }
                // A valid header and question, then noise: gets past the
                // checks into the record decoder.
                1 => {
                    let head = 12 + qname.len() + 2 + 4;
                    let len = head + rng.below(buf.len() - head);
                    buf[..head].copy_from_slice(&pkt[..head]);
                    buf[head..len]
                        .iter_mut()
                        .for_each(|b| *b = rng.next() as u8);
                    // Small record counts, so some records decode.
                    for at in [7, 9, 11] {
                        buf[at] = (rng.next() % 5) as u8;
                    }
                    len
                }
                // A real answer with a few bytes changed and maybe cut.
                _ => {
                    buf[..pkt.len()].copy_from_slice(pkt);
                    for _ in 0..1 + rng.below(4) {
                        let at = rng.below(pkt.len());
                        buf[at] = match rng.below(4) {
                            0 => 0xC0,
                            1 => buf[at] ^ (1 << rng.below(8)),
                            _ => rng.next() as u8,
                        };
                    }
                    pkt.len() - rng.below(4).min(pkt.len())
                }
            };
            let got = Response::parse(&buf[..len], id, qname.as_bytes(), qtype);
            if let Ok(r) = got {
                accepted += 1;
                exercise(&r);
            }
            // The peek never panics either.
            let _ = crate::dns::response_id(&buf[..len]);
        }
        // The mutations must reach the accepting paths too.
        assert!(accepted > 500, "only {accepted} accepted");
    }
}
