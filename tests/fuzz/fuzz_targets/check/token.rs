//! The `token_decode` target: [`token::decode`] on untrusted user parts,
//! encode/decode round trips, base32, and the [`Tokens`] API the proxy
//! uses (Contact rewriting and decoding with the two-leg proxy's legs).
//!
//! Checks: no panic; a user part that decodes is exactly the token encode
//! makes for what it decoded to (tokens are deterministic, so anything
//! else is a forgery or a second spelling); encode gives `token_len`
//! characters that `looks_like_token`, and decode gives back legs, NAT
//! source and contact; a changed character, or another leg set, does not
//! decode; base32 round-trips and the strict decoder takes only canonical
//! text; a Contact rewritten by [`Tokens::rewrite_contacts`] is a token of
//! ours that decodes to the Contact it replaced.

use super::setup::{Setup, SECRET};
use edgesip::proxy::token::{
    base32_decode, base32_decode_strict, base32_encode, decode, encode, looks_like_token, nat_len,
    token_len, DefaultCipher, TokenError, MAX_PLAIN, MAX_TOKEN_LEN,
};
use edgesip::proxy::Tokens;
use edgesip::sip::{HeaderName, Message, Rewriter, Uri, MAX_DATAGRAM};
use std::net::{IpAddr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::sync::OnceLock;

const BINDING: &[u8] = b"lan|wan";

fn cipher() -> &'static DefaultCipher {
    static C: OnceLock<DefaultCipher> = OnceLock::new();
    C.get_or_init(|| DefaultCipher::new(b"edgesip fuzz token key"))
}

pub fn token_decode(data: &[u8]) {
    raw(data);
    base32(data);
    round_trip(data);
    tokens_api(data);
}

/// Untrusted text as a token.
fn raw(data: &[u8]) {
    let mut buf = [0u8; MAX_PLAIN];
    if let Ok(d) = decode(cipher(), BINDING, data, &mut buf) {
        let mut again = [0u8; MAX_TOKEN_LEN];
        let n = encode(
            cipher(),
            BINDING,
            d.in_leg,
            d.out_leg,
            d.nat,
            d.contact,
            &mut again,
        )
        .expect("what decoded encodes again");
        assert_eq!(&again[..n], data, "a token decoded that we never made");
    }
    let _ = looks_like_token(data);
}

fn base32(data: &[u8]) {
    let mut text = vec![0u8; data.len() * 8 / 5 + 2];
    let n = base32_encode(data, &mut text).expect("room");
    let mut back = vec![0u8; data.len() + 1];
    let m = base32_decode_strict(&text[..n], &mut back).expect("our own base32 decodes");
    assert_eq!(&back[..m], data);
    let mut out = vec![0u8; data.len()];
    let _ = base32_decode(data, &mut out);
    if let Some(m) = base32_decode_strict(data, &mut out) {
        let mut again = vec![0u8; data.len() + 2];
        let k = base32_encode(&out[..m], &mut again).expect("room");
        assert_eq!(&again[..k], data, "strict base32 took a second spelling");
    }
}

/// `in out kind nat(0, 6 or 18 bytes) flip contact...`
fn round_trip(data: &[u8]) {
    let [i, o, kind, flip, rest @ ..] = data else {
        return;
    };
    let (nat, contact) = match kind % 3 {
        1 if rest.len() >= 6 => {
            let ip = IpAddr::from([rest[0], rest[1], rest[2], rest[3]]);
            (
                Some(SocketAddr::new(ip, u16::from_be_bytes([rest[4], rest[5]]))),
                &rest[6..],
            )
        }
        2 if rest.len() >= 18 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(&rest[..16]);
            let port = u16::from_be_bytes([rest[16], rest[17]]);
            let sa = SocketAddrV6::new(Ipv6Addr::from(a), port, 0, 0);
            (Some(SocketAddr::V6(sa)), &rest[18..])
        }
        _ => (None, rest),
    };
    let mut tok = [0u8; MAX_TOKEN_LEN];
    let n = match encode(cipher(), BINDING, *i, *o, nat, contact, &mut tok) {
        Ok(n) => n,
        Err(TokenError::TooLong) => {
            assert!(contact.len() > edgesip::limits::MAX_TOKEN_CONTACT);
            return;
        }
        Err(e) => panic!("encode failed: {e:?}"),
    };
    let tok = &tok[..n];
    assert_eq!(n, token_len(contact.len(), nat_len(nat)));
    assert!(looks_like_token(tok), "our token does not look like one");
    let mut buf = [0u8; MAX_PLAIN];
    let d = decode(cipher(), BINDING, tok, &mut buf).expect("our token decodes");
    assert_eq!(
        (d.in_leg, d.out_leg, d.nat, d.contact),
        (*i, *o, nat, contact)
    );

    // One character changed to another base32 character.
    let at = 1 + usize::from(*flip) % (n - 1);
    let mut bad = tok.to_vec();
    bad[at] = if bad[at] == b'A' { b'B' } else { b'A' };
    assert!(
        decode(cipher(), BINDING, &bad, &mut buf).is_err(),
        "a changed token decodes"
    );
    assert_eq!(
        decode(cipher(), b"lan|wan2", tok, &mut buf).err(),
        Some(TokenError::BadMac),
        "a token decodes for another leg set"
    );
}

/// The proxy's own API: a Contact of `data` rewritten into a token and
/// back, with the two-leg proxy's legs and key.
fn tokens_api(data: &[u8]) {
    let proxy = Setup::TwoLegs.proxy();
    let legs = proxy.legs();
    let mut tokens = Tokens::new(SECRET, legs, false, true);

    let mut user_uri = b"sip:".to_vec();
    user_uri.extend_from_slice(data);
    user_uri.extend_from_slice(b"@203.0.113.1");
    if let Some(u) = Uri::parse(&user_uri) {
        let mut buf = [0u8; MAX_PLAIN];
        if Tokens::is_candidate(legs, &u) {
            let _ = tokens.decode(legs, u.user.unwrap_or_default(), &mut buf);
        }
    }

    let contact = String::from_utf8_lossy(data);
    let msg = format!(
        "OPTIONS sip:bob@203.0.113.5 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bK1\r\n\
         From: <sip:alice@example.com>;tag=1\r\n\
         To: <sip:bob@example.com>\r\n\
         Call-ID: c1\r\n\
         CSeq: 1 OPTIONS\r\n\
         Contact: <sip:{contact}>;expires=60\r\n\
         Content-Length: 0\r\n\r\n"
    );
    let Ok(m) = Message::parse(msg.as_bytes()) else {
        return;
    };
    let Some((_, before)) = m.addrs(HeaderName::Contact).next() else {
        return;
    };
    let nat: SocketAddr = "198.51.100.8:34567".parse().expect("nat");
    let mut rw = Rewriter::new(&m);
    if tokens
        .rewrite_contacts(legs, &mut rw, &m, 0, 1, Some(nat), false)
        .is_err()
    {
        assert!(before.uri.raw.len() - 4 > edgesip::limits::MAX_TOKEN_CONTACT);
        return;
    }
    let mut out = vec![0u8; MAX_DATAGRAM];
    let n = rw.emit(&mut out).expect("emit");
    let r = Message::parse(&out[..n]).expect("a rewritten Contact parses");
    let (_, after) = r.addrs(HeaderName::Contact).next().expect("Contact");
    assert!(
        Tokens::is_candidate(legs, &after.uri),
        "not a token of ours"
    );
    assert_eq!(after.params, before.params, "header parameters moved");
    let mut buf = [0u8; MAX_PLAIN];
    let back = tokens
        .decode(legs, after.uri.user.unwrap_or_default(), &mut buf)
        .expect("our token decodes");
    assert_eq!((back.in_leg, back.out_leg, back.nat), (0, 1, Some(nat)));
    assert_eq!(back.contact, &before.uri.raw[4..]);
}
