//! Our Via branch (RFC 3261 §16.11, stateless):
//! `z9hG4bK` `eS` <incoming leg and flag, 1 hex> <T, 8 hex> <L, 8 hex>
//! <M, 8 hex>, then for a request that came over a stream <its
//! connection: slot, 4 hex; generation, 4 hex>.
//!
//! - The first digit is the incoming leg (0-7), plus 8 when the request
//!   went straight to the contact a token or a binding named (no Route
//!   left): only then is the response's source the answering UA itself,
//!   and only then may it stand in for that UA's Contact (NAT).
//! - T identifies the transaction: from the top Via's branch and sent-by
//!   when that branch has the magic cookie, else from the top Via, From
//!   tag, Call-ID, CSeq number and Request-URI.
//! - L identifies the request's path for loop detection: Request-URI and
//!   Route URIs as received, Call-ID, From tag, CSeq number. Neither T nor L
//!   reads the method, the To tag, Proxy-Require or Proxy-Authorization, so
//!   a CANCEL and the ACK for a non-2xx get their INVITE's branch.
//! - M is a MAC over the incoming leg, T, L and the previous hop's address
//!   as we wrote it into its Via (received, rport, sent-by). A response
//!   whose M does not verify is dropped, so a forged response cannot be
//!   reflected to an address of the sender's choosing. The connection, when
//!   there is one, is under the MAC too: the response goes back on it if it
//!   is still open (RFC 3261 §18.2.2).

use crate::limits::MAX_LEGS;
use crate::sip::{Cursor, Full, HeaderName, Message, Via};
use crate::siphash::SipKey;
use crate::stream::Conn;
use std::net::IpAddr;

pub const PREFIX: &[u8] = b"z9hG4bKeS";
pub const LEN: usize = PREFIX.len() + 1 + 24;
/// With the connection a request came in on.
pub const LEN_STREAM: usize = LEN + 8;

// The leg takes three bits of the first digit, the flag the fourth.
const _: () = assert!(MAX_LEGS <= 8);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Branch {
    pub leg: u8,
    /// Sent straight to the contact of a token or a binding.
    pub direct: bool,
    pub t: [u8; 4],
    pub l: [u8; 4],
    pub m: [u8; 4],
    /// The connection the request came in on.
    pub conn: Option<Conn>,
}

/// The previous hop as its Via reads after we set `received`/`rport`.
#[derive(Debug, Clone, Copy)]
pub struct PrevHop<'a> {
    pub received: Option<IpAddr>,
    pub rport: Option<u16>,
    pub sent_by: &'a [u8],
}

impl PrevHop<'_> {
    /// What a response's Via below ours says.
    pub fn of<'v>(via: &Via<'v>) -> PrevHop<'v> {
        PrevHop {
            received: via.received_ip(),
            rport: via.rport_value(),
            sent_by: via.sent_by,
        }
    }
}

/// The 32 bits of a hash the branch carries.
fn hex4(h: u64) -> [u8; 4] {
    (h as u32).to_be_bytes()
}

fn unhex(s: &[u8]) -> Option<[u8; 4]> {
    let mut out = [0u8; 4];
    crate::hex::decode(s, &mut out)?;
    Some(out)
}

impl Branch {
    pub fn parse(b: &[u8]) -> Option<Branch> {
        if !(b.len() == LEN || b.len() == LEN_STREAM) || !b.starts_with(PREFIX) {
            return None;
        }
        let (head, tail) = b.split_at_checked(LEN)?;
        let rest: &[u8; LEN - PREFIX.len()] = head.get(PREFIX.len()..)?.try_into().ok()?;
        let digit = crate::hex::digit(rest[0])?;
        let conn = match tail {
            [] => None,
            _ => {
                let c = unhex(tail)?;
                Some(Conn {
                    slot: u16::from_be_bytes([c[0], c[1]]),
                    gen: u16::from_be_bytes([c[2], c[3]]),
                })
            }
        };
        Some(Branch {
            leg: digit & 7,
            direct: digit & 8 != 0,
            t: unhex(&rest[1..9])?,
            l: unhex(&rest[9..17])?,
            m: unhex(&rest[17..25])?,
            conn,
        })
    }

    /// The connection as the branch writes it.
    fn conn_bytes(&self) -> Option<[u8; 4]> {
        self.conn.map(|c| {
            let [a, b] = c.slot.to_be_bytes();
            let [g, h] = c.gen.to_be_bytes();
            [a, b, g, h]
        })
    }

    /// The leg and the flag, as the first digit and the MAC see them.
    fn digit(&self) -> u8 {
        self.leg & 7 | u8::from(self.direct) << 3
    }

    pub fn write(&self, c: &mut Cursor) -> Result<(), Full> {
        c.put(PREFIX)?;
        let digit = crate::hex::DIGITS
            .get(usize::from(self.digit()))
            .ok_or(Full)?;
        c.put(&[*digit])?;
        c.put_hex(&self.t)?;
        c.put_hex(&self.l)?;
        c.put_hex(&self.m)?;
        match self.conn_bytes() {
            Some(b) => c.put_hex(&b),
            None => Ok(()),
        }
    }
}

/// T, L and M are keyed SipHash-2-4 (T and L need no secret, but a key
/// costs nothing and keeps them unpredictable); a tenth of the HMAC-MD5
/// they were.
pub struct Brancher {
    key: SipKey,
}

impl Brancher {
    pub fn new(secret: &[u8]) -> Self {
        Brancher {
            key: SipKey::new(crate::hmac::hmac_md5(secret, &[b"edgesip branch"])),
        }
    }

    pub fn t_hash(&self, m: &Message, top: &Via) -> [u8; 4] {
        let mut s = self.key.stream();
        match top.branch {
            Some(b) if b.starts_with(b"z9hG4bK") => {
                s.update(b"T").update(b).update(b"\0").update(top.sent_by);
            }
            _ => {
                let from_tag = m.from().and_then(|f| f.tag()).unwrap_or_default();
                let num = m.cseq().map_or(0, |c| c.num).to_be_bytes();
                s.update(b"t")
                    .update(top.elem)
                    .update(b"\0")
                    .update(from_tag)
                    .update(b"\0")
                    .update(m.call_id().unwrap_or_default())
                    .update(b"\0")
                    .update(&num)
                    .update(m.request_uri_raw().unwrap_or_default());
            }
        }
        hex4(s.finish())
    }

    pub fn l_hash(&self, m: &Message) -> [u8; 4] {
        let from_tag = m.from().and_then(|f| f.tag()).unwrap_or_default();
        let num = m.cseq().map_or(0, |c| c.num).to_be_bytes();
        let mut s = self.key.stream();
        s.update(b"L")
            .update(m.request_uri_raw().unwrap_or_default())
            .update(b"\0")
            .update(m.call_id().unwrap_or_default())
            .update(b"\0")
            .update(from_tag)
            .update(b"\0")
            .update(&num);
        for (_, r) in m.addrs(HeaderName::Route) {
            s.update(b"\0").update(r.uri.raw);
        }
        hex4(s.finish())
    }

    /// Over the first digit (the leg and the flag), T, L, the connection
    /// and the previous hop.
    fn mac(&self, b: &Branch, prev: &PrevHop) -> [u8; 4] {
        let mut s = self.key.stream();
        s.update(b"M")
            .update(&[b.digit()])
            .update(&b.t)
            .update(&b.l);
        match b.conn_bytes() {
            Some(c) => s.update(&[1]).update(&c),
            None => s.update(&[0]),
        };
        match prev.received {
            Some(IpAddr::V4(a)) => s.update(&[4]).update(&a.octets()),
            Some(IpAddr::V6(a)) => s.update(&[6]).update(&a.octets()),
            None => s.update(&[0]),
        };
        match prev.rport {
            Some(p) => s.update(&[1]).update(&p.to_be_bytes()),
            None => s.update(&[0]),
        };
        s.update(prev.sent_by);
        hex4(s.finish())
    }

    /// `l` is [`Brancher::l_hash`] of `m`, computed once for the loop check;
    /// `conn` the connection `m` came in on.
    #[allow(clippy::too_many_arguments)]
    pub fn make(
        &self,
        leg: u8,
        direct: bool,
        m: &Message,
        top: &Via,
        l: [u8; 4],
        conn: Option<Conn>,
        prev: &PrevHop,
    ) -> Branch {
        let mut b = Branch {
            leg,
            direct,
            t: self.t_hash(m, top),
            l,
            m: [0; 4],
            conn,
        };
        b.m = self.mac(&b, prev);
        b
    }

    pub fn verify(&self, b: &Branch, prev: &PrevHop) -> bool {
        self.mac(b, prev) == b.m
    }
}
