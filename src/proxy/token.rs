//! Contact tokens: a Contact URI packed into a URI user part and back.
//!
//! When a message leaves on another leg, `sip:user@host:port;params` becomes
//! `sip:b<TOKEN>@<proxy>`. The token carries everything needed to route a
//! request for it back, so the proxy keeps no registration state.
//!
//! Token text is `b` + base32 (RFC 4648, upper case, no padding) of
//! `seed(4) ‖ ciphertext ‖ MAC(4)`, where the plaintext is
//! `in_leg(1) ‖ out_leg(1) ‖ nat_kind(1) ‖ nat_source(0/6/18) ‖ contact`.
//!
//! Nothing here allocates: encoding and decoding use fixed stack buffers and
//! caller-provided output slices, and bad input is an error, never a panic.

use core::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};

use md5::{Digest, Md5};
use rc4::{KeyInit, Rc4, StreamCipher};

use crate::hmac::HmacKey;

use crate::limits::MAX_TOKEN_CONTACT;
/// Bytes of synthetic IV in front of the ciphertext.
pub const SEED_LEN: usize = 4;
/// Bytes of MAC behind the ciphertext.
pub const MAC_LEN: usize = 4;
/// Bytes every [`TokenCipher`] adds around the plaintext; token lengths and
/// the [`looks_like_token`] bounds rely on it.
pub const SEAL_OVERHEAD: usize = SEED_LEN + MAC_LEN;
/// in-leg, out-leg and NAT kind.
pub const HEADER_LEN: usize = 3;
/// NAT source bytes for an IPv4 source: address and port.
pub const NAT_V4_LEN: usize = 4 + 2;
/// NAT source bytes for an IPv6 source: address and port.
pub const NAT_V6_LEN: usize = 16 + 2;
/// Largest plaintext: header, IPv6 NAT source and the longest contact.
pub const MAX_PLAIN: usize = HEADER_LEN + NAT_V6_LEN + MAX_TOKEN_CONTACT;
/// Largest sealed (binary) token.
pub const MAX_SEALED: usize = MAX_PLAIN + SEAL_OVERHEAD;
/// Shortest token text we produce (empty contact, no NAT source).
pub const MIN_TOKEN_LEN: usize = token_len(0, 0);
/// Longest token text we produce.
pub const MAX_TOKEN_LEN: usize = token_len(MAX_TOKEN_CONTACT, NAT_V6_LEN);

const KIND_NONE: u8 = 0;
const KIND_V4: u8 = 4;
const KIND_V6: u8 = 6;
/// Keystream bytes thrown away, as RC4's first bytes are biased.
const RC4_DROP: usize = 256;

/// Characters of base32 text for `n` bytes (no padding).
pub const fn base32_len(n: usize) -> usize {
    n.saturating_mul(8).div_ceil(5)
}

/// Exact token text length (with the leading `b`) for a contact of
/// `contact_len` bytes and a NAT source of `nat_len` bytes (0, [`NAT_V4_LEN`]
/// or [`NAT_V6_LEN`]).
pub const fn token_len(contact_len: usize, nat_len: usize) -> usize {
    1 + base32_len(SEAL_OVERHEAD + HEADER_LEN + nat_len + contact_len)
}

/// NAT source bytes a token stores for `nat`.
pub const fn nat_len(nat: Option<SocketAddr>) -> usize {
    match nat {
        None => 0,
        Some(SocketAddr::V4(_)) => NAT_V4_LEN,
        Some(SocketAddr::V6(_)) => NAT_V6_LEN,
    }
}

/// Why a token could not be made or read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenError {
    /// The contact is longer than [`MAX_TOKEN_CONTACT`].
    TooLong,
    /// The output buffer is too small.
    NoRoom,
    /// The user part is not token-shaped (`b` + base32, plausible length).
    NotToken,
    /// The token was not made by us with this key and leg set.
    BadMac,
    /// Authentic-looking but the contents do not parse.
    Malformed,
    /// The cipher did not produce a sealed token of the expected size.
    Cipher,
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TokenError::TooLong => "contact too long for a token",
            TokenError::NoRoom => "output buffer too small for token",
            TokenError::NotToken => "not a token",
            TokenError::BadMac => "token failed authentication",
            TokenError::Malformed => "malformed token",
            TokenError::Cipher => "token cipher failed",
        })
    }
}

impl std::error::Error for TokenError {}

// ---------------------------------------------------------------------------
// base32

const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

fn b32_value(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'2'..=b'7' => Some(c - b'2' + 26),
        _ => None,
    }
}

fn b32_char(v: u32) -> u8 {
    // The mask keeps the index in range: the fallback is never taken.
    ALPHABET.get((v & 31) as usize).copied().unwrap_or(b'A')
}

/// Base32-encodes `input` into `out` (MSB first, final group padded with 0
/// bits, no `=`). Returns the length written, or `None` if `out` is short.
pub fn base32_encode(input: &[u8], out: &mut [u8]) -> Option<usize> {
    let n = base32_len(input.len());
    let mut slots = out.get_mut(..n)?.iter_mut();
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for &b in input {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            *slots.next()? = b32_char(acc >> bits);
        }
        // Keep only the bits not yet written so `acc` cannot overflow.
        acc &= (1 << bits) - 1;
    }
    if bits > 0 {
        *slots.next()? = b32_char(acc << (5 - bits));
    }
    Some(n)
}

/// What decoding left over: used to reject non-canonical text.
struct Decoded32 {
    len: usize,
    /// Bits that did not fill a byte, and their value.
    rest_bits: u32,
    rest: u32,
}

fn base32_decode_raw(input: &[u8], out: &mut [u8]) -> Option<Decoded32> {
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    let mut len = 0usize;
    for &c in input {
        acc = (acc << 5) | u32::from(b32_value(c)?);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            *out.get_mut(len)? = (acc >> bits) as u8;
            len += 1;
            acc &= (1 << bits) - 1;
        }
    }
    Some(Decoded32 {
        len,
        rest_bits: bits,
        rest: acc,
    })
}

/// Decodes upper-case base32 without padding into `out`, dropping trailing
/// bits that do not fill a byte. Returns the length written, or `None` on a
/// character outside `A-Z2-7` or a short `out`.
pub fn base32_decode(input: &[u8], out: &mut [u8]) -> Option<usize> {
    base32_decode_raw(input, out).map(|d| d.len)
}

/// Like [`base32_decode`], but only accepts the one text [`base32_encode`]
/// would produce: no spare character, and the dropped bits all zero. Tokens
/// need this, or two texts would decode to the same (valid) bytes.
pub fn base32_decode_strict(input: &[u8], out: &mut [u8]) -> Option<usize> {
    let d = base32_decode_raw(input, out)?;
    (d.rest_bits < 5 && d.rest == 0).then_some(d.len)
}

// ---------------------------------------------------------------------------
// cipher

/// Authenticated, deterministic encryption of token plaintexts.
///
/// `binding` names the leg set; a token sealed under one binding must not
/// open under another. `seal` must write exactly `plain.len() +`
/// [`SEAL_OVERHEAD`] bytes (or return `None`); `open` returns the plaintext
/// written into `out`, or `None` if `sealed` is not authentic.
pub trait TokenCipher {
    fn seal(&self, binding: &[u8], plain: &[u8], out: &mut [u8]) -> Option<usize>;
    fn open<'o>(&self, binding: &[u8], sealed: &[u8], out: &'o mut [u8]) -> Option<&'o [u8]>;
}

/// Synthetic-IV RC4 with HMAC-MD5, keyed from one secret.
///
/// The seed is a MAC of the plaintext, so equal contacts give equal tokens
/// and different contacts never share a keystream.
#[derive(Clone)]
pub struct DefaultCipher {
    k_iv: HmacKey,
    k_enc: [u8; 16],
    k_mac: HmacKey,
}

impl DefaultCipher {
    pub fn new(secret: &[u8]) -> Self {
        let sub = HmacKey::new(secret);
        DefaultCipher {
            k_iv: HmacKey::new(&sub.mac(&[b"edgesip iv"])),
            k_enc: sub.mac(&[b"edgesip enc"]),
            k_mac: HmacKey::new(&sub.mac(&[b"edgesip mac"])),
        }
    }

    fn seed(&self, binding: &[u8], plain: &[u8]) -> [u8; SEED_LEN] {
        first4(self.k_iv.mac(&[binding, plain]))
    }

    fn tag(&self, seed: &[u8], ct: &[u8], binding: &[u8]) -> [u8; MAC_LEN] {
        first4(self.k_mac.mac(&[seed, ct, binding]))
    }

    /// XORs `buf` with the RC4 keystream for `seed`, after the drop.
    fn crypt(&self, seed: &[u8], buf: &mut [u8]) -> Option<()> {
        let key: [u8; 16] = Md5::new()
            .chain_update(self.k_enc)
            .chain_update(seed)
            .finalize()
            .into();
        let mut rc4 = Rc4::new_from_slice(&key).ok()?;
        let mut drop = [0u8; RC4_DROP];
        rc4.try_apply_keystream(&mut drop).ok()?;
        rc4.try_apply_keystream(buf).ok()
    }
}

fn first4(d: [u8; 16]) -> [u8; 4] {
    [d[0], d[1], d[2], d[3]]
}

/// Compares without an early exit, so timing does not leak the MAC.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl TokenCipher for DefaultCipher {
    fn seal(&self, binding: &[u8], plain: &[u8], out: &mut [u8]) -> Option<usize> {
        let total = plain.len() + SEAL_OVERHEAD;
        let out = out.get_mut(..total)?;
        let (seed, rest) = out.split_at_mut(SEED_LEN);
        let (ct, mac) = rest.split_at_mut(plain.len());
        seed.copy_from_slice(&self.seed(binding, plain));
        ct.copy_from_slice(plain);
        self.crypt(seed, ct)?;
        mac.copy_from_slice(&self.tag(seed, ct, binding));
        Some(total)
    }

    fn open<'o>(&self, binding: &[u8], sealed: &[u8], out: &'o mut [u8]) -> Option<&'o [u8]> {
        let (seed, rest) = sealed.split_at_checked(SEED_LEN)?;
        let (ct, mac) = rest.split_at_checked(rest.len().checked_sub(MAC_LEN)?)?;
        if !ct_eq(mac, &self.tag(seed, ct, binding)) {
            return None;
        }
        let plain = out.get_mut(..ct.len())?;
        plain.copy_from_slice(ct);
        self.crypt(seed, plain)?;
        // The seed is a MAC of the plaintext too: checking it costs one HMAC
        // and makes a forgery beat two independent 32-bit tags.
        if !ct_eq(seed, &self.seed(binding, plain)) {
            return None;
        }
        Some(plain)
    }
}

// ---------------------------------------------------------------------------
// tokens

/// A decoded token; `contact` borrows the caller's output buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decoded<'o> {
    pub in_leg: u8,
    pub out_leg: u8,
    /// Where the contact's packets really came from, if it is behind NAT.
    pub nat: Option<SocketAddr>,
    /// The original URI without `sip:`, e.g. `user@host:port;params`.
    pub contact: &'o [u8],
}

/// A token held in a fixed buffer, for callers without one of their own.
#[derive(Clone)]
pub struct Minted {
    buf: [u8; MAX_TOKEN_LEN],
    len: usize,
}

impl Minted {
    /// The token text, `b` + base32.
    pub fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }
}

impl fmt::Debug for Minted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(core::str::from_utf8(self.as_bytes()).unwrap_or("?"))
    }
}

/// Writes `nat` as kind byte plus address and port; returns bytes written.
fn put_nat(nat: Option<SocketAddr>, out: &mut [u8]) -> Option<usize> {
    match nat {
        None => put_kind(out, KIND_NONE, &[], 0),
        Some(SocketAddr::V4(a)) => put_kind(out, KIND_V4, &a.ip().octets(), a.port()),
        Some(SocketAddr::V6(a)) => put_kind(out, KIND_V6, &a.ip().octets(), a.port()),
    }
}

fn put_kind(out: &mut [u8], kind: u8, ip: &[u8], port: u16) -> Option<usize> {
    *out.first_mut()? = kind;
    if kind == KIND_NONE {
        return Some(1);
    }
    let end = 1 + ip.len() + 2;
    let (a, p) = out.get_mut(1..end)?.split_at_mut(ip.len());
    a.copy_from_slice(ip);
    p.copy_from_slice(&port.to_be_bytes());
    Some(end)
}

/// Reads a kind byte plus NAT source; returns it and the bytes used.
fn get_nat(b: &[u8]) -> Option<(Option<SocketAddr>, usize)> {
    let (&kind, rest) = b.split_first()?;
    let port = |p: &[u8]| -> Option<u16> { Some(u16::from_be_bytes(p.try_into().ok()?)) };
    match kind {
        KIND_NONE => Some((None, 1)),
        KIND_V4 => {
            let a: [u8; 4] = rest.get(..4)?.try_into().ok()?;
            let p = port(rest.get(4..6)?)?;
            Some((
                Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::from(a)), p)),
                1 + NAT_V4_LEN,
            ))
        }
        KIND_V6 => {
            let a: [u8; 16] = rest.get(..16)?.try_into().ok()?;
            let p = port(rest.get(16..18)?)?;
            let sa = SocketAddrV6::new(Ipv6Addr::from(a), p, 0, 0);
            Some((Some(SocketAddr::V6(sa)), 1 + NAT_V6_LEN))
        }
        _ => None,
    }
}

/// Encodes a contact into `out` as `b<BASE32>`; returns the length written,
/// always [`token_len`]`(contact.len(), `[`nat_len`]`(nat))`.
///
/// `binding` is the leg names joined at start-up, so tokens die with a leg
/// set change but survive an address change. IPv6 flow info and scope id of
/// `nat` are not kept.
pub fn encode(
    cipher: &impl TokenCipher,
    binding: &[u8],
    in_leg: u8,
    out_leg: u8,
    nat: Option<SocketAddr>,
    contact: &[u8],
    out: &mut [u8],
) -> Result<usize, TokenError> {
    if contact.len() > MAX_TOKEN_CONTACT {
        return Err(TokenError::TooLong);
    }
    let want = token_len(contact.len(), nat_len(nat));
    let out = out.get_mut(..want).ok_or(TokenError::NoRoom)?;

    let mut plain = [0u8; MAX_PLAIN];
    plain[0] = in_leg;
    plain[1] = out_leg;
    let nat_end = 2 + put_nat(nat, &mut plain[2..]).ok_or(TokenError::Malformed)?;
    let end = nat_end + contact.len();
    plain
        .get_mut(nat_end..end)
        .ok_or(TokenError::TooLong)?
        .copy_from_slice(contact);
    let plain = plain.get(..end).ok_or(TokenError::TooLong)?;

    let mut sealed = [0u8; MAX_SEALED];
    let n = cipher
        .seal(binding, plain, &mut sealed)
        .filter(|&n| n == end + SEAL_OVERHEAD)
        .ok_or(TokenError::Cipher)?;
    let sealed = sealed.get(..n).ok_or(TokenError::Cipher)?;

    let (b, text) = out.split_first_mut().ok_or(TokenError::NoRoom)?;
    *b = b'b';
    let m = base32_encode(sealed, text).ok_or(TokenError::NoRoom)?;
    Ok(1 + m)
}

/// [`encode`] into a [`Minted`] holder.
pub fn mint(
    cipher: &impl TokenCipher,
    binding: &[u8],
    in_leg: u8,
    out_leg: u8,
    nat: Option<SocketAddr>,
    contact: &[u8],
) -> Result<Minted, TokenError> {
    let mut m = Minted {
        buf: [0; MAX_TOKEN_LEN],
        len: 0,
    };
    m.len = encode(cipher, binding, in_leg, out_leg, nat, contact, &mut m.buf)?;
    Ok(m)
}

/// True if `user` is shaped like a token: `b`, then upper-case base32 of a
/// length we could have produced. Cheap; says nothing about authenticity.
pub fn looks_like_token(user: &[u8]) -> bool {
    let Some((&b'b', text)) = user.split_first() else {
        return false;
    };
    // Base32 of whole bytes never has 1, 3 or 6 characters in its last group.
    (MIN_TOKEN_LEN..=MAX_TOKEN_LEN).contains(&user.len())
        && !matches!(text.len() % 8, 1 | 3 | 6)
        && text.iter().all(|&c| b32_value(c).is_some())
}

/// Decodes a token user part. The plaintext is opened into `out` (which needs
/// room for [`MAX_PLAIN`] bytes to take any token) and `contact` borrows it.
pub fn decode<'o>(
    cipher: &impl TokenCipher,
    binding: &[u8],
    user: &[u8],
    out: &'o mut [u8],
) -> Result<Decoded<'o>, TokenError> {
    if !looks_like_token(user) {
        return Err(TokenError::NotToken);
    }
    let text = user.get(1..).ok_or(TokenError::NotToken)?;
    let mut sealed = [0u8; MAX_SEALED];
    let n = base32_decode_strict(text, &mut sealed).ok_or(TokenError::Malformed)?;
    let sealed = sealed.get(..n).ok_or(TokenError::Malformed)?;
    let plain_len = n.checked_sub(SEAL_OVERHEAD).ok_or(TokenError::Malformed)?;
    if out.len() < plain_len {
        return Err(TokenError::NoRoom);
    }
    let plain = cipher
        .open(binding, sealed, out)
        .ok_or(TokenError::BadMac)?;

    let (&in_leg, rest) = plain.split_first().ok_or(TokenError::Malformed)?;
    let (&out_leg, rest) = rest.split_first().ok_or(TokenError::Malformed)?;
    let (nat, used) = get_nat(rest).ok_or(TokenError::Malformed)?;
    let contact = rest.get(used..).ok_or(TokenError::Malformed)?;
    Ok(Decoded {
        in_leg,
        out_leg,
        nat,
        contact,
    })
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod test {
    use super::*;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";
    const LEGS: &[u8] = b"lan|wan";
    const ALICE: &[u8] = b"alice@10.0.0.5:5060";

    fn cipher() -> DefaultCipher {
        DefaultCipher::new(KEY)
    }

    fn enc(nat: Option<SocketAddr>, contact: &[u8]) -> Vec<u8> {
        let mut out = [0u8; MAX_TOKEN_LEN];
        let n = encode(&cipher(), LEGS, 1, 2, nat, contact, &mut out).unwrap();
        out[..n].to_vec()
    }

    /// Tiny xorshift64 so tests need no rand crate.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn byte(&mut self) -> u8 {
            self.next() as u8
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    #[test]
    fn base32_vectors() {
        let mut out = [0u8; 16];
        for (plain, text) in [
            (&b""[..], &b""[..]),
            (b"f", b"MY"),
            (b"fo", b"MZXQ"),
            (b"foo", b"MZXW6"),
            (b"foob", b"MZXW6YQ"),
            (b"fooba", b"MZXW6YTB"),
            (b"foobar", b"MZXW6YTBOI"),
            (&[0x00, 0xff], b"AD7Q"),
        ] {
            let n = base32_encode(plain, &mut out).unwrap();
            assert_eq!(&out[..n], text);
            assert_eq!(n, base32_len(plain.len()));
            let mut back = [0u8; 16];
            let m = base32_decode_strict(text, &mut back).unwrap();
            assert_eq!(&back[..m], plain);
        }
    }

    #[test]
    fn base32_edges() {
        let mut out = [0u8; 4];
        assert_eq!(base32_encode(b"foo", &mut out), None);
        assert_eq!(base32_decode(b"mzxw6", &mut out), None);
        assert_eq!(base32_decode(b"MZXW=", &mut out), None);
        assert_eq!(base32_decode(b"MZXW6YTBOI", &mut out), None);
        // Lenient decode drops spare bits; strict refuses them.
        assert_eq!(base32_decode(b"AD7R", &mut out), Some(2));
        assert_eq!(base32_decode_strict(b"AD7R", &mut out), None);
        // A spare character (3 of them for 1 byte) is refused too.
        assert_eq!(base32_decode(b"MYA", &mut out), Some(1));
        assert_eq!(out[0], b'f');
        assert_eq!(base32_decode_strict(b"MYA", &mut out), None);
    }

    #[test]
    fn round_trips() {
        let v4: SocketAddr = "192.0.2.7:40000".parse().unwrap();
        let v6: SocketAddr = "[2001:db8::1]:5062".parse().unwrap();
        let long = [b'x'; MAX_TOKEN_CONTACT];
        for nat in [None, Some(v4), Some(v6)] {
            for contact in [ALICE, b"bob@[2001:db8::9]:5060;transport=udp", b"", &long] {
                let tok = enc(nat, contact);
                assert_eq!(tok.len(), token_len(contact.len(), nat_len(nat)));
                assert!(looks_like_token(&tok));
                let mut out = [0u8; MAX_PLAIN];
                let d = decode(&cipher(), LEGS, &tok, &mut out).unwrap();
                assert_eq!((d.in_leg, d.out_leg, d.nat), (1, 2, nat));
                assert_eq!(d.contact, contact);
            }
        }
    }

    #[test]
    fn alice_length() {
        assert_eq!(enc(None, ALICE).len(), 49);
        assert_eq!(token_len(ALICE.len(), 0), 49);
    }

    #[test]
    fn minted_matches_encode() {
        let m = mint(&cipher(), LEGS, 1, 2, None, ALICE).unwrap();
        assert_eq!(m.as_bytes(), &enc(None, ALICE)[..]);
    }

    #[test]
    fn any_flipped_char_fails() {
        let v4: SocketAddr = "192.0.2.7:40000".parse().unwrap();
        for (nat, contact) in [(None, ALICE), (Some(v4), b"a@b")] {
            let tok = enc(nat, contact);
            for i in 1..tok.len() {
                for &c in ALPHABET.iter() {
                    if c == tok[i] {
                        continue;
                    }
                    let mut bad = tok.clone();
                    bad[i] = c;
                    let mut out = [0u8; MAX_PLAIN];
                    assert!(decode(&cipher(), LEGS, &bad, &mut out).is_err(), "pos {i}");
                }
            }
        }
    }

    #[test]
    fn wrong_binding_or_key_fails() {
        let tok = enc(None, ALICE);
        let mut out = [0u8; MAX_PLAIN];
        assert_eq!(
            decode(&cipher(), b"lan|wan|vpn", &tok, &mut out),
            Err(TokenError::BadMac)
        );
        assert_eq!(
            decode(&DefaultCipher::new(b"other"), LEGS, &tok, &mut out),
            Err(TokenError::BadMac)
        );
    }

    #[test]
    fn deterministic_and_distinct() {
        assert_eq!(enc(None, ALICE), enc(None, ALICE));
        let a = enc(None, ALICE);
        let b = enc(None, b"alice@10.0.0.6:5060");
        // `b` plus seven characters cover the 4-byte seed.
        assert_ne!(a[..8], b[..8]);
        // Different legs also change the seed.
        let mut out = [0u8; MAX_TOKEN_LEN];
        let n = encode(&cipher(), LEGS, 2, 1, None, ALICE, &mut out).unwrap();
        assert_ne!(out[..8], a[..8]);
        assert_eq!(n, a.len());
    }

    #[test]
    fn length_formula() {
        for len in 0..=MAX_TOKEN_CONTACT {
            for (nat, budget) in [(0, 0), (NAT_V4_LEN, 7), (NAT_V6_LEN, 19)] {
                let bound = 1 + ((12 + len + budget) * 8).div_ceil(5);
                assert!(token_len(len, nat) <= bound, "len {len} nat {nat}");
            }
        }
        // Every length we produce is what token_len says and looks like a token.
        let v4: SocketAddr = "10.1.2.3:4".parse().unwrap();
        let v6: SocketAddr = "[::1]:1".parse().unwrap();
        let contact = [b'c'; MAX_TOKEN_CONTACT];
        for len in 0..=MAX_TOKEN_CONTACT {
            for nat in [None, Some(v4), Some(v6)] {
                let tok = enc(nat, &contact[..len]);
                assert_eq!(tok.len(), token_len(len, nat_len(nat)));
                assert!(looks_like_token(&tok), "len {len}");
            }
        }
    }

    #[test]
    fn encode_errors() {
        let c = cipher();
        let mut out = [0u8; MAX_TOKEN_LEN];
        let long = [b'x'; MAX_TOKEN_CONTACT + 1];
        assert_eq!(
            encode(&c, LEGS, 0, 0, None, &long, &mut out),
            Err(TokenError::TooLong)
        );
        let mut small = [0u8; 48];
        assert_eq!(
            encode(&c, LEGS, 0, 0, None, ALICE, &mut small),
            Err(TokenError::NoRoom)
        );
    }

    #[test]
    fn decode_rejects_garbage() {
        let c = cipher();
        let mut out = [0u8; MAX_PLAIN];
        let tok = enc(None, ALICE);
        let long = vec![b'A'; MAX_TOKEN_LEN + 10];
        for user in [
            &b""[..],
            b"b",
            b"bob",
            b"alice",
            b"bAAAA",
            &tok[..tok.len() - 1],
            &tok[1..],
            &tok.to_ascii_lowercase(),
            &long,
        ] {
            assert!(decode(&c, LEGS, user, &mut out).is_err());
        }
        assert!(!looks_like_token(b"bob"));
        assert!(!looks_like_token(b"b"));
        assert!(!looks_like_token(&tok.to_ascii_lowercase()));
        // Right shape, wrong content.
        let fake = [b'b']
            .iter()
            .chain([b'A'; 32].iter())
            .copied()
            .collect::<Vec<_>>();
        assert!(looks_like_token(&fake));
        assert_eq!(decode(&c, LEGS, &fake, &mut out), Err(TokenError::BadMac));
        // Too small an output buffer is reported, not a panic.
        let mut small = [0u8; 8];
        assert_eq!(decode(&c, LEGS, &tok, &mut small), Err(TokenError::NoRoom));
    }

    #[test]
    fn bad_nat_kind_is_malformed() {
        // Seal a plaintext with an unknown kind byte directly.
        let c = cipher();
        let mut sealed = [0u8; 64];
        let n = c.seal(LEGS, b"\x01\x02\x05a@b", &mut sealed).unwrap();
        let mut tok = [0u8; 128];
        tok[0] = b'b';
        let m = base32_encode(&sealed[..n], &mut tok[1..]).unwrap();
        let mut out = [0u8; MAX_PLAIN];
        assert_eq!(
            decode(&c, LEGS, &tok[..1 + m], &mut out),
            Err(TokenError::Malformed)
        );
    }

    #[test]
    fn fuzz_never_panics() {
        let c = cipher();
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut out = [0u8; MAX_PLAIN];
        let mut scratch = [0u8; MAX_SEALED];
        let tok = enc(None, ALICE);
        for _ in 0..20_000 {
            let len = rng.below(MAX_TOKEN_LEN + 20);
            let mut user = vec![0u8; len];
            match rng.below(3) {
                // Raw bytes.
                0 => user.iter_mut().for_each(|b| *b = rng.byte()),
                // Token-shaped text.
                1 => {
                    user.iter_mut().for_each(|b| *b = ALPHABET[rng.below(32)]);
                    if let Some(b) = user.first_mut() {
                        *b = b'b';
                    }
                }
                // A real token with a random byte changed.
                _ => {
                    user = tok.clone();
                    let i = rng.below(user.len());
                    user[i] = rng.byte();
                }
            }
            let _ = looks_like_token(&user);
            let _ = base32_decode(&user, &mut scratch);
            let _ = decode(&c, LEGS, &user, &mut out);
            let small = rng.below(40);
            let _ = decode(&c, LEGS, &user, &mut out[..small]);
            let _ = encode(&c, LEGS, 0, 1, None, &user, &mut out[..small]);
        }
    }
}
