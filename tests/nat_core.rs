//! The NAT helper without sockets: SDP rewriting, sessions, relaying and
//! timers on a fake clock, with a fake socket table.

mod common;

use common::harness::{leg, proxy_cfg, relay_config, Net, Out};
use edgesip::cx::Cx;
use edgesip::proxy::Proxy;
use std::time::Duration;

fn nat_proxy(max_calls: usize) -> Proxy {
    proxy_cfg(
        vec![
            leg("a", "127.0.0.1:5060", &["127.0.0.1/32"]),
            leg("b", "127.0.0.2:5060", &[]),
        ],
        |c| c.nat = Some(relay_config(max_calls)),
    )
}

fn net(max_calls: usize) -> Net {
    Net::new(nat_proxy(max_calls))
}

const UAC: &str = "127.0.0.1:5071";
const UAS: &str = "127.0.0.3:5072";
const UAS2: &str = "127.0.0.4:5072";

fn with_sdp(head: &str, sdp: &str) -> String {
    format!(
        "{head}Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    )
}

fn invite(call: &str, sdp: &str) -> String {
    with_sdp(
        &format!(
            "INVITE sip:bob@127.0.0.3:5072 SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.0.0.5:5071;branch=z9hG4bK{call};rport\r\n\
Max-Forwards: 70\r\n\
From: <sip:alice@example.org>;tag=atag\r\n\
To: <sip:bob@example.com>\r\n\
Call-ID: {call}\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:alice@10.0.0.5:5071>\r\n"
        ),
        sdp,
    )
}

/// The UAS's answer to what it received, with SDP.
fn answer(req: &Out, status: &str, tag: &str, sdp: &str) -> String {
    let contact = common::sip::contact("sip:bob@127.0.0.3:5072");
    common::sip::answer(req.text.as_bytes(), status, tag, &contact, sdp)
}

const OFFER: &str = "v=0\r\n\
o=alice 2890844526 2890844526 IN IP4 10.0.0.5\r\n\
s=-\r\n\
c=IN IP4 10.0.0.5\r\n\
t=0 0\r\n\
m=audio 49170 RTP/AVP 0 8\r\n\
a=rtcp:49171\r\n\
a=candidate:1 1 UDP 2130706431 10.0.0.5 49170 typ host\r\n\
a=ice-ufrag:abcd\r\n\
a=sendrecv\r\n\
m=video 0 RTP/AVP 31\r\n";

const ANSWER: &str = "v=0\r\n\
o=bob 1 1 IN IP4 127.0.0.3\r\n\
s=-\r\n\
c=IN IP4 127.0.0.3\r\n\
t=0 0\r\n\
m=audio 30000 RTP/AVP 0\r\n\
m=video 0 RTP/AVP 31\r\n";

/// An established call: returns the INVITE as the UAS saw it.
fn call(n: &mut Net, id: &str) -> Out {
    let inv = n
        .send(0, UAC, &invite(id, OFFER))
        .expect("INVITE forwarded");
    assert!(inv.first_line().starts_with("INVITE"), "{}", inv.text);
    let ok = n
        .send(1, UAS, &answer(&inv, "200 OK", "btag", ANSWER))
        .expect("200 forwarded");
    assert_eq!(ok.first_line(), "SIP/2.0 200 OK");
    inv
}

#[test]
fn offer_and_answer_point_at_the_relay() {
    let mut n = net(4);
    let inv = n.send(0, UAC, &invite("c1", OFFER)).unwrap();
    assert_eq!(inv.t.leg, 1);
    // The callee is told to send to leg b's relay pair; ICE lines are gone;
    // the rejected video stream stays rejected.
    assert_eq!(
        inv.body(),
        "v=0\r\n\
o=alice 2890844526 2890844526 IN IP4 127.0.0.2\r\n\
s=-\r\n\
c=IN IP4 127.0.0.2\r\n\
t=0 0\r\n\
m=audio 20000 RTP/AVP 0 8\r\n\
a=rtcp:20001\r\n\
a=sendrecv\r\n\
m=video 0 RTP/AVP 31\r\n"
    );
    assert_eq!(inv.msg().content_length(), Some(inv.body().len() as u32));
    // Both sides' pairs were taken at offer time.
    assert_eq!(n.s.open, [(0, 0), (1, 0)].into_iter().collect());

    let ok = n
        .send(1, UAS, &answer(&inv, "200 OK", "btag", ANSWER))
        .unwrap();
    assert_eq!(ok.t.leg, 0);
    assert_eq!(
        ok.body(),
        "v=0\r\no=bob 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 20000 RTP/AVP 0\r\nm=video 0 RTP/AVP 31\r\n"
    );

    // A retransmitted offer gets the same ports and the same bytes.
    let again = n.send(0, UAC, &invite("c1", OFFER)).unwrap();
    assert_eq!(again.body(), inv.body());
    assert_eq!(n.s.opened, 2);
}

#[test]
fn media_is_relayed_with_latching_and_source_checks() {
    let mut n = net(4);
    call(&mut n, "m1");
    let rtp = [0x80u8, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xaa];
    // The caller sends from its public address (its SDP said 10.0.0.5):
    // allowed, as that is where its signalling came from; latched.
    assert_eq!(
        n.rtp(0, 20000, "127.0.0.1:40000", &rtp),
        Some((1, 20000, "127.0.0.3:30000".parse().unwrap()))
    );
    // The callee's media goes back to the latched address, from the pair
    // advertised to the caller.
    assert_eq!(
        n.rtp(1, 20000, "127.0.0.3:30000", &rtp),
        Some((0, 20000, "127.0.0.1:40000".parse().unwrap()))
    );
    // RTCP on the odd port goes to the a=rtcp port... of the callee (+1).
    assert_eq!(
        n.rtp(0, 20001, "127.0.0.1:40001", &rtp[..12]),
        Some((1, 20001, "127.0.0.3:30001".parse().unwrap()))
    );
    // A third party is dropped, before and after latching.
    assert_eq!(n.rtp(0, 20000, "127.0.0.9:40000", &rtp), None);
    // Once latched and past the learning window, another port of the same
    // host is refused too (RTP Bleed).
    n.now = n.now + Duration::from_secs(6);
    assert_eq!(n.rtp(0, 20000, "127.0.0.1:40002", &rtp), None);
    assert_eq!(n.p.relay_table().unwrap().stats().foreign_source, 2);
    // An unknown port is nobody's.
    assert_eq!(n.rtp(0, 20010, "127.0.0.1:40000", &rtp), None);
}

#[test]
fn bye_cancel_and_failure_close_sessions() {
    let mut n = net(4);
    let inv = call(&mut n, "b1");
    // To the caller's Contact as the callee got it: a token.
    let bye = format!("BYE {} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.3:5072;branch=z9hG4bKbye\r\nMax-Forwards: 70\r\nRoute: <sip:127.0.0.2;lr>, <sip:127.0.0.1;lr>\r\nFrom: <sip:bob@example.com>;tag=btag\r\nTo: <sip:alice@example.org>;tag=atag\r\nCall-ID: b1\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n", contact_of(&inv));
    assert!(n
        .send(1, UAS, &bye)
        .unwrap()
        .first_line()
        .starts_with("BYE sip:alice@"));
    assert!(n.s.open.is_empty(), "BYE freed the pairs");
    assert_eq!(n.rtp(0, 20000, "127.0.0.1:40000", &[0x80; 20]), None);
    drop(inv);

    // CANCEL before an answer.
    let inv = n.send(0, UAC, &invite("x1", OFFER)).unwrap();
    assert_eq!(n.s.open.len(), 2);
    let cancel = invite("x1", OFFER)
        .replace("INVITE sip:", "CANCEL sip:")
        .replace("CSeq: 1 INVITE", "CSeq: 1 CANCEL");
    assert!(n.send(0, UAC, &cancel).is_some());
    assert!(n.s.open.is_empty(), "CANCEL freed the pairs");
    drop(inv);

    // 486 Busy to the INVITE.
    let inv = n.send(0, UAC, &invite("f1", OFFER)).unwrap();
    assert!(n
        .send(1, UAS, &answer(&inv, "486 Busy Here", "btag", ""))
        .is_some());
    assert!(n.s.open.is_empty(), "486 freed the pairs");
}

#[test]
fn forks_get_their_own_caller_side_and_the_first_2xx_wins() {
    let mut n = net(4);
    let inv = n.send(0, UAC, &invite("k1", OFFER)).unwrap();
    let r1 = n
        .send(
            1,
            UAS,
            &answer(&inv, "183 Session Progress", "fork1", ANSWER),
        )
        .unwrap();
    let a2 = ANSWER
        .replace("127.0.0.3", "127.0.0.4")
        .replace("30000", "31000");
    let r2 = n
        .send(1, UAS2, &answer(&inv, "183 Session Progress", "fork2", &a2))
        .unwrap();
    assert!(r1.body().contains("m=audio 20000 "), "{}", r1.body());
    assert!(r2.body().contains("m=audio 20002 "), "{}", r2.body());
    assert_eq!(n.p.relay_table().unwrap().active_calls(), 2);
    let rtp = [0x80u8; 20];
    // Early media from each fork reaches the caller from that fork's pair.
    assert_eq!(
        n.rtp(0, 20000, "127.0.0.1:40000", &rtp).map(|t| t.2),
        Some("127.0.0.3:30000".parse().unwrap())
    );
    assert_eq!(
        n.rtp(0, 20002, "127.0.0.1:40000", &rtp).map(|t| t.2),
        Some("127.0.0.4:31000".parse().unwrap())
    );
    assert_eq!(
        n.rtp(1, 20000, "127.0.0.4:31000", &rtp).map(|t| (t.0, t.1)),
        Some((0, 20002))
    );
    assert_eq!(
        n.rtp(1, 20000, "127.0.0.3:30000", &rtp).map(|t| (t.0, t.1)),
        Some((0, 20000))
    );
    // The second fork answers: the first is freed, the shared pair stays.
    let ok = n
        .send(1, UAS2, &answer(&inv, "200 OK", "fork2", &a2))
        .unwrap();
    assert!(ok.body().contains("m=audio 20002 "));
    assert_eq!(n.p.relay_table().unwrap().active_calls(), 1);
    assert_eq!(n.s.open, [(0, 1), (1, 0)].into_iter().collect());
    assert_eq!(
        n.rtp(1, 20000, "127.0.0.4:31000", &rtp).map(|t| (t.0, t.1)),
        Some((0, 20002))
    );
    assert_eq!(n.rtp(1, 20000, "127.0.0.3:30000", &rtp), None);
}

/// The caller's Contact as the callee got it (a token).
fn contact_of(inv_at_uas: &Out) -> String {
    inv_at_uas.headers("Contact")[0]
        .trim_matches(['<', '>'])
        .to_string()
}

fn reinvite_from_callee(inv_at_uas: &Out, sdp: &str) -> String {
    with_sdp(
        &format!(
            "INVITE {} SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.3:5072;branch=z9hG4bKre\r\n\
Max-Forwards: 70\r\n\
Route: <sip:127.0.0.2;lr>, <sip:127.0.0.1;lr>\r\n\
From: <sip:bob@example.com>;tag=btag\r\n\
To: <sip:alice@example.org>;tag=atag\r\n\
Call-ID: r1\r\n\
CSeq: 2 INVITE\r\n",
            contact_of(inv_at_uas)
        ),
        sdp,
    )
}

#[test]
fn reinvite_from_the_callee_keeps_ports_and_moves_targets() {
    let mut n = net(4);
    let inv = call(&mut n, "r1");
    let moved = ANSWER
        .replace("30000", "32000")
        .replace("o=bob 1 1", "o=bob 1 2");
    let re = n.send(1, UAS, &reinvite_from_callee(&inv, &moved)).unwrap();
    assert_eq!(re.t.leg, 0);
    // The caller sees the same relay port as before.
    assert!(
        re.body().contains("m=audio 20000 RTP/AVP 0\r\n"),
        "{}",
        re.body()
    );
    assert!(re.body().contains("o=bob 1 2 IN IP4 127.0.0.1"));
    assert_eq!(n.s.opened, 2, "no new pairs");
    let rtp = [0x80u8; 20];
    assert_eq!(
        n.rtp(0, 20000, "127.0.0.1:40000", &rtp).map(|t| t.2),
        Some("127.0.0.3:32000".parse().unwrap())
    );

    // Hold (old style) and resume: 0.0.0.0 stays 0.0.0.0.
    let hold = moved
        .replace("c=IN IP4 127.0.0.3", "c=IN IP4 0.0.0.0")
        .replace("o=bob 1 2", "o=bob 1 3");
    let h = n.send(1, UAS, &reinvite_from_callee(&inv, &hold)).unwrap();
    assert!(h.body().contains("c=IN IP4 0.0.0.0\r\n"), "{}", h.body());
    assert!(h.body().contains("m=audio 20000 "));
    // On hold both ways the hold timeout applies, not the media one.
    let deadline = n.p.poll_timeout().unwrap();
    assert!(
        deadline.since(n.now) > Duration::from_secs(3600),
        "{deadline:?}"
    );
    let resume = moved.replace("o=bob 1 2", "o=bob 1 4");
    let r = n
        .send(1, UAS, &reinvite_from_callee(&inv, &resume))
        .unwrap();
    assert!(r.body().contains("c=IN IP4 127.0.0.1\r\n"));
    assert_eq!(
        n.p.poll_timeout().unwrap().since(n.now),
        Duration::from_secs(120)
    );
}

#[test]
fn idle_sessions_expire() {
    let mut n = net(4);
    call(&mut n, "t1");
    let deadline = n.p.poll_timeout().unwrap();
    assert_eq!(deadline, n.now + Duration::from_secs(120));
    // Media moves the deadline.
    n.now = n.now + Duration::from_secs(100);
    assert!(n.rtp(0, 20000, "127.0.0.1:40000", &[0x80u8; 20]).is_some());
    assert_eq!(
        n.p.poll_timeout().unwrap(),
        n.now + Duration::from_secs(120)
    );
    n.now = n.now + Duration::from_secs(121);
    let now = n.now;
    n.p.handle_timeout(&mut Cx::new(now, &mut n.s));
    assert!(n.s.open.is_empty());
    assert_eq!(n.p.poll_timeout(), None);
    assert_eq!(n.p.relay_table().unwrap().stats().expired, 1);
}

#[test]
fn the_next_deadline_is_exactly_the_earliest_call_through_churn() {
    // The relay keeps its earliest deadline as calls change instead of
    // scanning for it: each one it names must be when a call expires.
    let mut n = net(8);
    let t0 = n.now;
    call(&mut n, "c1");
    n.now = n.now + Duration::from_secs(5);
    call(&mut n, "c2");
    n.now = n.now + Duration::from_secs(5);
    n.send(0, UAC, &invite("u1", OFFER)).unwrap();
    n.now = n.now + Duration::from_secs(5);
    // Media on the first call makes it the last to go.
    assert!(n.rtp(0, 20000, "127.0.0.1:40000", &[0x80u8; 20]).is_some());
    let mut expiries = Vec::new();
    while let Some(t) = n.p.poll_timeout() {
        let active = n.p.relay_table().unwrap().active_calls();
        let before = t - Duration::from_millis(1);
        n.p.handle_timeout(&mut Cx::new(before, &mut n.s));
        assert_eq!(n.p.relay_table().unwrap().active_calls(), active, "early");
        n.p.handle_timeout(&mut Cx::new(t, &mut n.s));
        assert_eq!(
            n.p.relay_table().unwrap().active_calls(),
            active - 1,
            "at {t:?}"
        );
        expiries.push(t.since(t0).as_secs());
    }
    // The unanswered offer after 32 s, then 120 s after each call's last
    // activity.
    assert_eq!(expiries, [10 + 32, 5 + 120, 15 + 120]);
}

#[test]
fn capacity_gives_503_without_retry_after() {
    let mut n = net(1);
    call(&mut n, "cap1");
    let o = n.send(0, UAC, &invite("cap2", OFFER)).unwrap();
    assert_eq!(o.first_line(), "SIP/2.0 503 Service Unavailable");
    assert!(!o.text.contains("Retry-After"));
    // Ports in use by someone else are skipped.
    let mut n = net(4);
    n.s.busy.insert((0, 0));
    n.s.busy.insert((1, 0));
    let inv = n.send(0, UAC, &invite("busy", OFFER)).unwrap();
    assert!(inv.body().contains("m=audio 20002 "), "{}", inv.body());
}

#[test]
fn bad_sdp_gets_488_and_nothing_half_rewritten() {
    let mut n = net(4);
    let o = n
        .send(
            0,
            UAC,
            &invite(
                "bad1",
                "v=0\r\nc=IN IP4 10.0.0.5\r\nm=audio x RTP/AVP 0\r\n",
            ),
        )
        .unwrap();
    assert_eq!(o.first_line(), "SIP/2.0 488 Not Acceptable Here");
    let five: String = OFFER.to_string()
        + "m=audio 1000 RTP/AVP 0\r\nm=audio 1002 RTP/AVP 0\r\nm=audio 1004 RTP/AVP 0\r\nm=audio 1006 RTP/AVP 0\r\n";
    let o = n.send(0, UAC, &invite("bad2", &five)).unwrap();
    assert_eq!(o.first_line(), "SIP/2.0 488 Not Acceptable Here");
    assert!(n.s.open.is_empty(), "nothing held");
}

#[test]
fn mux_hold_t38_multipart() {
    let mut n = net(4);
    let sdp = "v=0\r\no=a 1 1 IN IP4 10.0.0.5\r\ns=-\r\nt=0 0\r\n\
m=audio 49170 RTP/AVP 0\r\nc=IN IP4 10.0.0.5\r\na=rtcp-mux\r\na=rtcp:49170 IN IP4 10.0.0.5\r\n\
m=image 49172 udptl t38\r\nc=IN IP4 0.0.0.0\r\na=inactive\r\n";
    let body = format!(
        "--xyz\r\nContent-Type: text/plain\r\n\r\nhello\r\n--xyz\r\nContent-Type: application/sdp\r\n\r\n{sdp}\r\n--xyz--\r\n"
    );
    let msg = invite("mp1", "").replace(
        "Content-Type: application/sdp\r\nContent-Length: 0\r\n\r\n",
        &format!(
            "Content-Type: multipart/mixed;boundary=xyz\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    );
    let o = n.send(0, UAC, &msg).unwrap();
    let b = o.body();
    assert!(
        b.starts_with("--xyz\r\nContent-Type: text/plain\r\n\r\nhello\r\n--xyz\r\n"),
        "{b}"
    );
    assert!(b.contains("m=audio 20000 RTP/AVP 0\r\nc=IN IP4 127.0.0.2\r\na=rtcp-mux\r\na=rtcp:20000 IN IP4 127.0.0.2\r\n"), "{b}");
    assert!(
        b.contains("m=image 20002 udptl t38\r\nc=IN IP4 0.0.0.0\r\na=inactive\r\n"),
        "{b}"
    );
    assert!(b.ends_with("\r\n--xyz--\r\n"));
    assert_eq!(o.msg().content_length(), Some(b.len() as u32));
}

/// An SDP with one audio stream at `ip:port`.
fn sdp_at(ip: &str, port: u16) -> String {
    format!(
        "v=0\r\no=x 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0\r\n"
    )
}

fn audio_port(o: &Out) -> u16 {
    o.body()
        .lines()
        .find_map(|l| l.strip_prefix("m=audio ")?.split(' ').next()?.parse().ok())
        .expect("an audio port")
}

const RTP: [u8; 13] = [0x80u8, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xaa];

#[test]
fn a_hairpin_through_a_provider_is_bridged_and_never_relayed_to_us() {
    // alice (LAN, 127.0.0.1:5071) calls bob (LAN, 127.0.0.1:5080) through
    // a provider at 127.0.0.9:5090 that does not anchor media: its INVITE
    // back to bob names our own WAN relay port. One call bridges them,
    // each on a LAN pair.
    const PROV: &str = "127.0.0.9:5090";
    const BOB: &str = "127.0.0.1:5080";
    let mut n = net(4);
    let reg = "REGISTER sip:127.0.0.9:5090 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bKbr\r\n\
Max-Forwards: 70\r\nFrom: <sip:bob@example.com>;tag=r\r\nTo: <sip:bob@example.com>\r\n\
Call-ID: bob-reg\r\nCSeq: 1 REGISTER\r\nContact: <sip:bob@127.0.0.1:5080>\r\nContent-Length: 0\r\n\r\n";
    let reg_out = n.send(0, BOB, reg).unwrap();
    let bob_token = reg_out.headers("Contact")[0]
        .trim_matches(['<', '>'])
        .to_string();
    let offer = invite("h1", &sdp_at("127.0.0.1", 40000)).replace(
        "INVITE sip:bob@127.0.0.3:5072",
        "INVITE sip:bob@127.0.0.9:5090",
    );
    let out1 = n.send(0, UAC, &offer).unwrap();
    let wan_port = audio_port(&out1);
    assert!(out1.body().contains("c=IN IP4 127.0.0.2"));
    let opened = n.s.opened;

    // The second pass: from the provider, for bob's token, the SDP as we
    // wrote it. bob's side moves from the WAN pair to a LAN one.
    let back_in = out1
        .text
        .replace(
            "INVITE sip:bob@127.0.0.9:5090",
            &format!("INVITE {bob_token}"),
        )
        .replacen(
            "Via: ",
            "Via: SIP/2.0/UDP 127.0.0.9:5090;branch=z9hG4bKp1\r\nVia: ",
            1,
        );
    let at_bob = n.send(1, PROV, &back_in).unwrap();
    assert_eq!((at_bob.t.leg, at_bob.t.dst), (0, BOB.parse().unwrap()));
    assert!(
        at_bob.body().contains("c=IN IP4 127.0.0.1"),
        "{}",
        at_bob.body()
    );
    let bob_port = audio_port(&at_bob);
    assert_ne!(bob_port, wan_port);
    assert_eq!(n.s.opened, opened + 1);
    let wan_pair = (wan_port - 20000) / 2;
    assert!(!n.s.open.contains(&(1, wan_pair)), "the WAN pair is freed");

    // bob answers; the answer gets alice's LAN pair on its way out, and
    // goes on unchanged when it comes back for alice.
    let ok2 = answer(&at_bob, "200 OK", "btag", &sdp_at("127.0.0.1", 41000));
    let ok2_out = n.send(0, BOB, &ok2).unwrap();
    assert_eq!(ok2_out.t.leg, 1);
    let lan_port = audio_port(&ok2_out);
    assert!(ok2_out.body().contains("c=IN IP4 127.0.0.1"));
    // The provider strips its Via and hands it to us on leg b for alice.
    let ok1 = ok2_out.text.replacen(
        "Via: SIP/2.0/UDP 127.0.0.9:5090;branch=z9hG4bKp1\r\n",
        "",
        1,
    );
    let at_alice = n.send(1, PROV, &ok1).unwrap();
    assert_eq!((at_alice.t.leg, at_alice.t.dst), (0, UAC.parse().unwrap()));
    assert_eq!(at_alice.body(), ok2_out.body(), "on as it was");
    assert_eq!(audio_port(&at_alice), lan_port);
    assert_eq!(n.s.opened, opened + 1);
    assert_eq!(n.p.relay_table().unwrap().stats().hairpins, 2);

    // alice sends to her pair, bob to his; each reaches the other, never
    // one of our own sockets.
    assert_eq!(
        n.rtp(0, lan_port, "127.0.0.1:40000", &RTP),
        Some((0, bob_port, "127.0.0.1:41000".parse().unwrap()))
    );
    assert_eq!(
        n.rtp(0, bob_port, "127.0.0.1:41000", &RTP),
        Some((0, lan_port, "127.0.0.1:40000".parse().unwrap()))
    );
    assert_eq!(n.p.relay_table().unwrap().stats().to_self, 0);
}

#[test]
fn nothing_is_relayed_to_our_own_addresses() {
    // The callee's SDP names our own leg b SIP socket.
    let mut n = net(4);
    let inv = n
        .send(0, UAC, &invite("s1", &sdp_at("127.0.0.1", 40000)))
        .unwrap();
    let ok = n
        .send(
            1,
            UAS,
            &answer(&inv, "200 OK", "btag", &sdp_at("127.0.0.3", 30000)),
        )
        .unwrap();
    let lan_port = audio_port(&ok);
    // The caller names leg a's SIP socket as its media address: what the
    // callee sends for it goes nowhere, and is counted.
    let reinvite = invite("s1", &sdp_at("127.0.0.1", 5060))
        .replace(
            "To: <sip:bob@example.com>",
            "To: <sip:bob@example.com>;tag=btag",
        )
        .replace("CSeq: 1 INVITE", "CSeq: 2 INVITE");
    let re = n.send(0, UAC, &reinvite).unwrap();
    let wan_port = audio_port(&re);
    assert_eq!(n.rtp(1, wan_port, "127.0.0.3:30000", &RTP), None);
    assert_eq!(n.p.relay_table().unwrap().stats().to_self, 1);
    // The other way still flows.
    assert_eq!(
        n.rtp(0, lan_port, "127.0.0.1:5060", &RTP),
        Some((1, wan_port, "127.0.0.3:30000".parse().unwrap()))
    );
}

#[test]
fn a_side_behind_nat_gets_nothing_before_it_latches() {
    // The callee signals from 127.0.0.3 but its SDP names a private
    // address: until its first packet there is nowhere to send.
    let mut n = net(4);
    let inv = n
        .send(0, UAC, &invite("n1", &sdp_at("127.0.0.1", 40000)))
        .unwrap();
    let wan_port = audio_port(&inv);
    let ok = n
        .send(
            1,
            UAS,
            &answer(&inv, "200 OK", "btag", &sdp_at("10.1.1.1", 30000)),
        )
        .unwrap();
    let lan_port = audio_port(&ok);
    assert_eq!(n.rtp(0, lan_port, "127.0.0.1:40000", &RTP), None);
    assert_eq!(n.p.relay_table().unwrap().stats().unlatched, 1);
    // Its first packet, from its public address at any port, latches it.
    assert_eq!(
        n.rtp(1, wan_port, "127.0.0.3:31234", &RTP),
        Some((0, lan_port, "127.0.0.1:40000".parse().unwrap()))
    );
    assert_eq!(
        n.rtp(0, lan_port, "127.0.0.1:40000", &RTP),
        Some((1, wan_port, "127.0.0.3:31234".parse().unwrap()))
    );
}

/// An INVITE with SDP from the WAN (127.0.0.3) to `ruri`, call `id`.
fn invite_from_wan(ruri: &str, id: &str) -> String {
    with_sdp(
        &format!(
            "INVITE {ruri} SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.3:5072;branch=z9hG4bK{id}\r\n\
Max-Forwards: 70\r\n\
From: <sip:bob@example.com>;tag=w{id}\r\n\
To: <sip:alice@example.org>\r\n\
Call-ID: {id}\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:bob@127.0.0.3:5072>\r\n"
        ),
        &sdp_at("127.0.0.3", 30000),
    )
}

#[test]
fn one_wan_source_cannot_fill_the_relay_table() {
    let mut n = net(4);
    // alice's Contact as a token, which lets the WAN reach her.
    let token = contact_of(&n.send(0, UAC, &invite("t0", OFFER)).unwrap());
    // A quarter of four slots per public source: the second offer from the
    // same address gets 503 without Retry-After.
    let first = n.send(1, UAS, &invite_from_wan(&token, "w1")).unwrap();
    assert!(first.first_line().starts_with("INVITE"), "{}", first.text);
    let second = n.send(1, UAS, &invite_from_wan(&token, "w2")).unwrap();
    assert_eq!(second.first_line(), "SIP/2.0 503 Service Unavailable");
    assert!(second.headers("Retry-After").is_empty());
    assert_eq!(n.p.relay_table().unwrap().stats().per_source_refused, 1);
    // The LAN still gets its calls.
    let lan = n.send(0, UAC, &invite("l1", OFFER)).unwrap();
    assert!(lan.first_line().starts_with("INVITE"));
    // An offer nobody answered frees its slot after 32 s; answered ones
    // stay.
    n.now = n.now + Duration::from_secs(31);
    let stats = |n: &Net| n.p.relay_table().unwrap().active_calls();
    assert_eq!(stats(&n), 3);
    n.p.handle_timeout(&mut Cx::new(n.now, &mut n.s));
    assert_eq!(stats(&n), 3);
    n.now = n.now + Duration::from_secs(1);
    n.p.handle_timeout(&mut Cx::new(n.now, &mut n.s));
    assert_eq!(stats(&n), 0);
    assert_eq!(n.p.relay_table().unwrap().stats().unanswered, 3);
    // The WAN source may offer again.
    let again = n.send(1, UAS, &invite_from_wan(&token, "w3")).unwrap();
    assert!(again.first_line().starts_with("INVITE"));
}

#[test]
fn an_answered_offer_keeps_its_slot() {
    let mut n = net(4);
    let inv = n.send(0, UAC, &invite("a1", OFFER)).unwrap();
    // A provisional answer is enough.
    n.send(1, UAS, &answer(&inv, "180 Ringing", "btag", ""))
        .unwrap();
    n.now = n.now + Duration::from_secs(60);
    n.p.handle_timeout(&mut Cx::new(n.now, &mut n.s));
    assert_eq!(n.p.relay_table().unwrap().active_calls(), 1);
}

#[test]
fn a_latched_side_is_not_hijacked_in_the_learning_window() {
    let mut n = net(4);
    let inv = n
        .send(0, UAC, &invite("j1", &sdp_at("127.0.0.1", 40000)))
        .unwrap();
    let wan_port = audio_port(&inv);
    let ok = n
        .send(
            1,
            UAS,
            &answer(&inv, "200 OK", "btag", &sdp_at("127.0.0.3", 30000)),
        )
        .unwrap();
    let lan_port = audio_port(&ok);
    // The callee latches at once...
    assert!(n.rtp(1, wan_port, "127.0.0.3:30000", &RTP).is_some());
    // ...and a packet from its address but another port, a second after
    // the answer, neither passes nor re-latches (finding 7).
    n.now = n.now + Duration::from_secs(1);
    assert_eq!(n.rtp(1, wan_port, "127.0.0.3:30002", &RTP), None);
    assert_eq!(
        n.rtp(0, lan_port, "127.0.0.1:40000", &RTP),
        Some((1, wan_port, "127.0.0.3:30000".parse().unwrap()))
    );
    // A re-INVITE of the callee that moves its port opens a short window.
    let re = reinvite_from_callee(&inv, &sdp_at("127.0.0.3", 30002))
        .replace("Call-ID: r1", "Call-ID: j1");
    n.send(1, UAS, &re).unwrap();
    assert!(n.rtp(1, wan_port, "127.0.0.3:30002", &RTP).is_some());
    assert_eq!(
        n.rtp(0, lan_port, "127.0.0.1:40000", &RTP),
        Some((1, wan_port, "127.0.0.3:30002".parse().unwrap()))
    );
}
