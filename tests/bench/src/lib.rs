//! Fixtures and the proxy-like rewrite measured by `benches/wire.rs`.
//! `cargo test` here checks that the fixtures parse and keep their sizes.

use edgesip::sip::{Error, HeaderName, HeaderPos, Message, Rewriter};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// A typical softphone INVITE with SDP offer: 1003 bytes, SDP 296 bytes.
pub const INVITE: &[u8] = b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.168.1.23:5060;branch=z9hG4bK776asdhds;rport\r\n\
Max-Forwards: 70\r\n\
From: \"Alice Liddell\" <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
To: \"Bob\" <sip:bob@biloxi.example.com>\r\n\
Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:alice@192.168.1.23:5060;transport=udp>;+sip.instance=\"<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>\"\r\n\
Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, REFER, NOTIFY, PRACK, MESSAGE\r\n\
Supported: replaces, timer, 100rel, path, outbound\r\n\
Session-Expires: 1800;refresher=uac\r\n\
User-Agent: ExamplePhone/4.2.1 (OpenWrt test rig)\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 296\r\n\
\r\n\
v=0\r\n\
o=alice 2890844526 2890844526 IN IP4 192.168.1.23\r\n\
s=-\r\n\
c=IN IP4 192.168.1.23\r\n\
t=0 0\r\n\
m=audio 49170 RTP/AVP 0 8 9 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:9 G722/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-16\r\n\
a=ptime:20\r\n\
a=maxptime:150\r\n\
a=rtcp:49171\r\n\
a=sendrecv\r\n";

/// The 200 OK coming back through the proxy: two Vias, 419 bytes.
pub const OK_200: &[u8] = b"SIP/2.0 200 OK\r\n\
Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKp4a1b2c3d4e5f6a7;rport=5060\r\n\
Via: SIP/2.0/UDP 192.168.1.23:5060;branch=z9hG4bK776asdhds;rport=55676;received=203.0.113.9\r\n\
From: \"Alice\" <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
To: <sip:bob@biloxi.example.com>;tag=a6c85cf\r\n\
Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:bob@192.0.2.4:5060>\r\n\
Content-Length: 0\r\n\
\r\n";

/// Where the INVITE came from: behind a NAT, so `received` and `rport` are
/// both needed.
pub const SOURCE: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 9)), 55676);

/// What the proxy does to a request it forwards: its own Via on top (the
/// branch is precomputed here; see the `branch_hmac` case for its cost),
/// `received`/`rport` on the caller's Via, Max-Forwards minus one, its
/// Record-Route, and the Contact URI replaced by a token URI.
pub fn rewrite_request(m: &Message, out: &mut [u8]) -> Result<usize, Error> {
    let mut rw = Rewriter::new(m);
    let (vi, top) = m.top_via().ok_or(Error::Missing(HeaderName::Via))?;
    if top.needs_source_params(SOURCE) {
        rw.replace(top.elem, |c| top.write_with_source(SOURCE, c))?;
    }
    rw.insert_header(HeaderPos::Before(vi), b"Via", |c| {
        c.put(b"SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKp4a1b2c3d4e5f6a7;rport")
    })?;
    rw.insert_header(HeaderPos::Top, b"Record-Route", |c| {
        c.put(b"<sip:192.0.2.1:5060;lr>")
    })?;
    if let Some(mf) = m.max_forwards() {
        let i = m
            .headers()
            .iter()
            .position(|h| h.name == HeaderName::MaxForwards)
            .ok_or(Error::Missing(HeaderName::MaxForwards))?;
        rw.replace_value(i, |c| c.put_u32(mf.saturating_sub(1)))?;
    }
    if let Some((_, contact)) = m.addrs(HeaderName::Contact).next() {
        rw.replace(contact.uri.raw, |c| {
            c.put(b"sip:bAbCdEfGhIjKlMnOpQrStUvWxYz012@192.0.2.1:5060")
        })?;
    }
    rw.emit(out)
}

/// What the proxy does to a response it passes back: pop its own Via and
/// replace the Contact URI with a token URI.
pub fn rewrite_response(m: &Message, out: &mut [u8]) -> Result<usize, Error> {
    let mut rw = Rewriter::new(m);
    let (vi, _) = m.top_via().ok_or(Error::Missing(HeaderName::Via))?;
    rw.remove_leading(vi, 1)?;
    if let Some((_, contact)) = m.addrs(HeaderName::Contact).next() {
        rw.replace(contact.uri.raw, |c| {
            c.put(b"sip:bAbCdEfGhIjKlMnOpQrStUvWxYz012@192.0.2.1:5060")
        })?;
    }
    rw.emit(out)
}

/// Checks a fixture and its rewrite; panics with the reason otherwise.
pub fn check_fixtures() {
    let m = Message::parse(INVITE).expect("INVITE fixture parses");
    assert!(
        (950..=1050).contains(&INVITE.len()),
        "INVITE is {} bytes",
        INVITE.len()
    );
    assert_eq!(m.content_length(), Some(m.body().len() as u32));
    assert_eq!(m.body().len(), 296);
    let sdp = edgesip::sdp::Sdp::parse(m.body()).expect("SDP parses");
    assert_eq!(sdp.media_count(), 1);
    let mut out = vec![0u8; edgesip::sip::MAX_DATAGRAM];
    let n = rewrite_request(&m, &mut out).expect("INVITE rewrite");
    {
        let r = Message::parse(&out[..n]).expect("rewritten INVITE parses");
        assert_eq!(r.vias().count(), 2);
        assert_eq!(r.max_forwards(), Some(69));
        let (_, old) = r.vias().nth(1).unwrap();
        assert_eq!(old.received_ip(), Some(SOURCE.ip()));
        assert_eq!(old.rport_value(), Some(SOURCE.port()));
        assert_eq!(r.addrs(HeaderName::RecordRoute).count(), 1);
    }

    let m = Message::parse(OK_200).expect("200 OK fixture parses");
    assert!(
        (380..=440).contains(&OK_200.len()),
        "200 OK is {} bytes",
        OK_200.len()
    );
    assert_eq!(m.vias().count(), 2);
    let n = rewrite_response(&m, &mut out).expect("200 OK rewrite");
    let r = Message::parse(&out[..n]).expect("rewritten 200 OK parses");
    assert_eq!(r.vias().count(), 1);
    assert_eq!(r.status(), Some(200));
}

#[cfg(test)]
mod test {
    #[test]
    fn test_fixtures_parse_and_rewrite() {
        super::check_fixtures();
    }
}
