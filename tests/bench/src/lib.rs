//! Fixtures and the call scenarios measured by `benches/wire.rs`: the
//! parser alone, and the real `Proxy::handle` on each message of a call.
//! `cargo test` here checks that the fixtures parse and that every step of
//! every scenario is forwarded.

use edgesip::sip::Message;

mod scenario;
pub use scenario::{Legs, Scenario, STEPS};

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
    let m = Message::parse(OK_200).expect("200 OK fixture parses");
    assert!(
        (380..=440).contains(&OK_200.len()),
        "200 OK is {} bytes",
        OK_200.len()
    );
    assert_eq!(m.vias().count(), 2);
}

#[cfg(test)]
mod test {
    use super::{Legs, Scenario};

    #[test]
    fn test_fixtures_parse() {
        super::check_fixtures();
    }

    #[test]
    fn every_step_of_every_scenario_is_forwarded() {
        for legs in [Legs::One, Legs::Two] {
            for nat in [false, true] {
                // Scenario::new checks where each step of the first run went.
                let mut s = Scenario::new(legs, nat, 4);
                let mut out = vec![0u8; edgesip::sip::MAX_DATAGRAM];
                let before = s.stats().clone();
                for call in 0..12 {
                    for step in 0..super::STEPS.len() {
                        let t = s.run(call, step, &mut out);
                        assert_eq!(
                            t.map(|t| t.dst),
                            Some(s.expected(call, step)),
                            "{legs:?} nat={nat} call {call} step {step}"
                        );
                    }
                }
                // Forwarded, not answered by the proxy.
                let st = s.stats();
                assert_eq!(st.requests_forwarded - before.requests_forwarded, 36);
                assert_eq!(st.responses_forwarded - before.responses_forwarded, 12);
            }
        }
    }
}
