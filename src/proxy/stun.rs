//! STUN Binding on a SIP leg (RFC 5389), the keep-alive of RFC 5626: the
//! answer tells a phone its public address and keeps its NAT binding open.

use std::net::{IpAddr, SocketAddr};

const COOKIE: [u8; 4] = [0x21, 0x12, 0xA4, 0x42];
const HEADER: usize = 20;

/// A Binding request: type 0x0001, a length that matches, the magic cookie.
pub fn is_binding_request(d: &[u8]) -> bool {
    let Some(h) = d.first_chunk::<HEADER>() else {
        return false;
    };
    h[0..2] == [0x00, 0x01]
        && usize::from(u16::from_be_bytes([h[2], h[3]])) == d.len() - HEADER
        && d.len().is_multiple_of(4)
        && h[4..8] == COOKIE
}

/// Writes a Binding success response with XOR-MAPPED-ADDRESS for `src`.
pub fn answer(req: &[u8], src: SocketAddr, out: &mut [u8]) -> Option<usize> {
    let txid = req.get(8..HEADER)?;
    let addr_len = if src.is_ipv4() { 4 } else { 16 };
    let attr_len = 4 + addr_len;
    let total = HEADER + 4 + attr_len;
    let (o, addr) = out.get_mut(..total)?.split_first_chunk_mut::<28>()?;
    o[0..2].copy_from_slice(&[0x01, 0x01]);
    o[2..4].copy_from_slice(&((4 + attr_len) as u16).to_be_bytes());
    o[4..8].copy_from_slice(&COOKIE);
    o[8..20].copy_from_slice(txid);
    o[20..22].copy_from_slice(&[0x00, 0x20]);
    o[22..24].copy_from_slice(&(attr_len as u16).to_be_bytes());
    o[24] = 0;
    o[25] = if src.is_ipv4() { 1 } else { 2 };
    let xport = src.port() ^ u16::from_be_bytes([COOKIE[0], COOKIE[1]]);
    o[26..28].copy_from_slice(&xport.to_be_bytes());
    // The address is XORed with the cookie, then (IPv6) the transaction ID.
    let mut mask = [0u8; 16];
    mask[..4].copy_from_slice(&COOKIE);
    mask[4..].copy_from_slice(txid);
    match src.ip() {
        IpAddr::V4(a) => {
            for ((d, b), m) in addr.iter_mut().zip(a.octets()).zip(mask) {
                *d = b ^ m;
            }
        }
        IpAddr::V6(a) => {
            for ((d, b), m) in addr.iter_mut().zip(a.octets()).zip(mask) {
                *d = b ^ m;
            }
        }
    }
    Some(total)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod test {
    use super::*;

    fn request() -> [u8; 20] {
        let mut r = [0u8; 20];
        r[1] = 1;
        r[4..8].copy_from_slice(&COOKIE);
        r[8..20].copy_from_slice(b"ABCDEFGHIJKL");
        r
    }

    #[test]
    fn test_ipv4_answer() {
        let r = request();
        assert!(is_binding_request(&r));
        let mut out = [0u8; 64];
        let n = answer(&r, "192.0.2.1:32853".parse().unwrap(), &mut out).unwrap();
        assert_eq!(n, 32);
        assert_eq!(&out[0..4], &[0x01, 0x01, 0x00, 0x0c]);
        assert_eq!(&out[8..20], b"ABCDEFGHIJKL");
        // RFC 5769-style check: port 32853 ^ 0x2112, address ^ cookie.
        assert_eq!(&out[24..28], &[0x00, 0x01, 0xa1, 0x47]);
        assert_eq!(&out[28..32], &[192 ^ 0x21, 0x12, 2 ^ 0xa4, 1 ^ 0x42]);
    }

    #[test]
    fn test_ipv6_answer_and_non_requests() {
        let r = request();
        let mut out = [0u8; 64];
        let n = answer(&r, "[2001:db8::1]:5060".parse().unwrap(), &mut out).unwrap();
        assert_eq!(n, 44);
        assert_eq!(out[25], 2);
        assert_eq!(out[28], 0x20 ^ 0x21);
        assert_eq!(out[43], 0x01 ^ b'L');
        let mut bad = r;
        bad[4] = 0;
        assert!(!is_binding_request(&bad));
        assert!(!is_binding_request(b"OPTIONS sip:x SIP/2.0\r\n"));
        assert!(!is_binding_request(&r[..19]));
    }
}
