//! The forwarding core without sockets: `(now, leg, source, bytes)` in, at
//! most one datagram out.

mod common;

use common::harness::{leg, proxy_cfg, send, Out};
use edgesip::config::LegSpec;
use edgesip::cx::{Cx, NoSockets};
use edgesip::output::Why;
use edgesip::proxy::Proxy;
use edgesip::sip::HeaderName;
use edgesip::time::Instant;

fn proxy(legs: Vec<LegSpec>) -> Proxy {
    proxy_cfg(legs, |_| {})
}

/// Two legs: `a` (LAN, 127.0.0.1:5060, net 127.0.0.1/32) and `b`
/// (127.0.0.2:5060, public).
fn two_legs() -> Proxy {
    proxy(vec![
        leg("a", "127.0.0.1:5060", &["127.0.0.1/32"]),
        leg("b", "127.0.0.2:5060", &[]),
    ])
}

fn one_leg() -> Proxy {
    proxy(vec![leg("lan", "127.0.0.1:5060", &[])])
}

const UAC: &str = "127.0.0.1:5071";
const UAS: &str = "127.0.0.3:5072";

fn invite(extra: &str) -> String {
    format!(
        "INVITE sip:bob@127.0.0.3:5072 SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.0.0.5:5071;branch=z9hG4bKuac1;rport\r\n\
Max-Forwards: 70\r\n\
From: Alice <sip:alice@example.org>;tag=atag\r\n\
To: <sip:bob@example.com>\r\n\
Call-ID: call1@uac\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:alice@127.0.0.1:5071>\r\n\
{extra}Content-Length: 0\r\n\r\n"
    )
}

fn with_mf(mf: Option<u32>) -> String {
    let base = invite("");
    match mf {
        Some(n) => base.replace("Max-Forwards: 70", &format!("Max-Forwards: {n}")),
        None => base.replace("Max-Forwards: 70\r\n", ""),
    }
}

#[test]
fn two_legs_forward_invite_with_double_record_route() {
    let mut p = two_legs();
    let o = send(&mut p, 0, UAC, &invite("")).unwrap();
    assert_eq!(o.t.leg, 1);
    assert_eq!(o.t.dst, UAS.parse().unwrap());
    let vias = o.headers("Via");
    assert_eq!(vias.len(), 2);
    assert!(
        vias[0].starts_with("SIP/2.0/UDP 127.0.0.2;branch=z9hG4bKeS0"),
        "{}",
        vias[0]
    );
    assert_eq!(
        vias[1],
        "SIP/2.0/UDP 10.0.0.5:5071;branch=z9hG4bKuac1;rport=5071;received=127.0.0.1"
    );
    assert_eq!(
        o.headers("Record-Route"),
        vec!["<sip:127.0.0.2;lr>", "<sip:127.0.0.1;lr>"]
    );
    assert_eq!(o.headers("Max-Forwards"), vec!["69"]);
    // Untouched headers keep their bytes and order.
    let tail = "From: Alice <sip:alice@example.org>;tag=atag\r\nTo: <sip:bob@example.com>\r\nCall-ID: call1@uac\r\nCSeq: 1 INVITE\r\nContact: <sip:b";
    assert!(o.text.contains(tail), "{}", o.text);
    assert!(o.text.ends_with("@127.0.0.2>\r\nContent-Length: 0\r\n\r\n"));
    assert!(o.text.starts_with("INVITE sip:bob@127.0.0.3:5072 SIP/2.0\r\nRecord-Route: <sip:127.0.0.2;lr>\r\nRecord-Route: <sip:127.0.0.1;lr>\r\nVia: SIP/2.0/UDP 127.0.0.2;branch="));
}

#[test]
fn one_leg_forwards_with_single_record_route() {
    let mut p = one_leg();
    let o = send(&mut p, 0, UAC, &invite("")).unwrap();
    assert_eq!(o.t.leg, 0);
    assert_eq!(o.headers("Record-Route"), vec!["<sip:127.0.0.1;lr>"]);
    assert!(o.headers("Via")[0].starts_with("SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKeS0"));
}

#[test]
fn max_forwards_table() {
    for (incoming, want) in [
        (None, Some("70")),
        (Some(1), Some("0")),
        (Some(70), Some("69")),
        (Some(71), Some("70")),
    ] {
        let mut p = one_leg();
        let o = send(&mut p, 0, UAC, &with_mf(incoming)).unwrap();
        assert_eq!(
            o.headers("Max-Forwards"),
            vec![want.unwrap()],
            "{incoming:?}"
        );
        assert!(o.first_line().starts_with("INVITE"));
    }
    // A repeated Max-Forwards, even identical, is refused: the next hop
    // might read the other copy.
    let mut p = one_leg();
    let twice = invite("").replace(
        "Max-Forwards: 70\r\n",
        "Max-Forwards: 70\r\nMax-Forwards: 70\r\n",
    );
    let o = send(&mut p, 0, UAC, &twice).unwrap();
    assert_eq!(
        o.first_line(),
        "SIP/2.0 400 Bad Request (duplicate header: Max-Forwards)"
    );
    let o = send(&mut p, 0, UAC, &with_mf(Some(0))).unwrap();
    assert_eq!(o.first_line(), "SIP/2.0 483 Too Many Hops");
    assert_eq!(o.t.dst, UAC.parse().unwrap());
    assert!(o.msg().to().unwrap().tag().is_some());
    // An ACK with Max-Forwards 0 gets nothing.
    let ack = with_mf(Some(0))
        .replace("INVITE sip", "ACK sip")
        .replace("1 INVITE", "1 ACK");
    assert!(send(&mut p, 0, UAC, &ack).is_none());
}

#[test]
fn loose_route_popping_and_double_rr() {
    let mut p = two_legs();
    // A BYE from the caller side carrying both of our Record-Routes.
    let bye = "BYE sip:bob@127.0.0.3:5072 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5071;branch=z9hG4bKbye1\r\n\
Max-Forwards: 10\r\n\
Route: <sip:127.0.0.1;lr>, <sip:127.0.0.2;lr>\r\n\
From: Alice <sip:alice@example.org>;tag=atag\r\n\
To: <sip:bob@example.com>;tag=btag\r\n\
Call-ID: call1@uac\r\n\
CSeq: 2 BYE\r\n\
Content-Length: 0\r\n\r\n";
    let o = send(&mut p, 0, UAC, bye).unwrap();
    assert_eq!(o.t.leg, 1, "the second popped Route fixes the leg");
    assert_eq!(o.t.dst, UAS.parse().unwrap());
    assert!(o.headers("Route").is_empty());
    assert_eq!(o.headers("Max-Forwards"), vec!["9"]);
    // The route set was fixed when the dialog was made (RFC 3261 §12.2.1.2).
    assert!(o.headers("Record-Route").is_empty());

    // Our Route on its own line, then a foreign one: pop ours, go to the next.
    let mut p = one_leg();
    let msg = invite("Route: <sip:127.0.0.1;lr>\r\nRoute: <sip:127.0.0.9:5090;lr>\r\n");
    let o = send(&mut p, 0, UAC, &msg).unwrap();
    assert_eq!(o.t.dst, "127.0.0.9:5090".parse().unwrap());
    assert_eq!(o.headers("Route"), vec!["<sip:127.0.0.9:5090;lr>"]);
    assert!(o.first_line().starts_with("INVITE sip:bob@127.0.0.3:5072 "));

    // maddr on the next hop wins.
    let msg = invite("Route: <sip:127.0.0.1;lr>, <sip:opaque.example:7070;maddr=127.0.0.8;lr>\r\n");
    let o = send(&mut p, 0, UAC, &msg).unwrap();
    assert_eq!(o.t.dst, "127.0.0.8:7070".parse().unwrap());
    assert_eq!(
        o.headers("Route"),
        vec!["<sip:opaque.example:7070;maddr=127.0.0.8;lr>"]
    );
}

#[test]
fn strict_routing_previous_hop() {
    let mut p = one_leg();
    let msg = invite("Route: <sip:127.0.0.9:5090;lr>\r\nRoute: <sip:bob2@127.0.0.3:5072>\r\n")
        .replace("INVITE sip:bob@127.0.0.3:5072", "INVITE sip:127.0.0.1");
    let o = send(&mut p, 0, UAC, &msg).unwrap();
    assert_eq!(o.first_line(), "INVITE sip:bob2@127.0.0.3:5072 SIP/2.0");
    assert_eq!(o.t.dst, "127.0.0.9:5090".parse().unwrap());
    assert_eq!(o.headers("Route"), vec!["<sip:127.0.0.9:5090;lr>"]);

    // Both on one line: the line goes away entirely when nothing is left.
    let msg = invite("Route: <sip:127.0.0.1;lr>, <sip:bob2@127.0.0.3:5072>\r\n")
        .replace("INVITE sip:bob@127.0.0.3:5072", "INVITE sip:127.0.0.1");
    let o = send(&mut p, 0, UAC, &msg).unwrap();
    assert_eq!(o.first_line(), "INVITE sip:bob2@127.0.0.3:5072 SIP/2.0");
    assert_eq!(o.t.dst, UAS.parse().unwrap());
    assert!(o.headers("Route").is_empty());
}

#[test]
fn branch_equality_for_cancel_and_ack_to_error() {
    let mut p = two_legs();
    let inv = send(&mut p, 0, UAC, &invite("")).unwrap().our_branch();
    let cancel = invite("")
        .replace("INVITE sip", "CANCEL sip")
        .replace("1 INVITE", "1 CANCEL")
        .replace("Contact: <sip:alice@127.0.0.1:5071>\r\n", "");
    assert_eq!(send(&mut p, 0, UAC, &cancel).unwrap().our_branch(), inv);
    let ack404 = invite("")
        .replace("INVITE sip", "ACK sip")
        .replace("1 INVITE", "1 ACK")
        .replace(
            "To: <sip:bob@example.com>",
            "To: <sip:bob@example.com>;tag=err404",
        );
    assert_eq!(send(&mut p, 0, UAC, &ack404).unwrap().our_branch(), inv);
    let ack200 = ack404.replace("z9hG4bKuac1", "z9hG4bKuac2");
    assert_ne!(send(&mut p, 0, UAC, &ack200).unwrap().our_branch(), inv);
}

fn response_to(fwd: &Out, status: &str, to_tag: &str) -> String {
    let contact = common::sip::contact("sip:bob@127.0.0.3:5072");
    common::sip::answer(fwd.text.as_bytes(), status, to_tag, &contact, "")
}

#[test]
fn responses_return_through_the_incoming_leg_to_received_rport() {
    let mut p = two_legs();
    let fwd = send(&mut p, 0, UAC, &invite("")).unwrap();
    let resp = response_to(&fwd, "180 Ringing", "btag");
    let o = send(&mut p, 1, UAS, &resp).unwrap();
    assert_eq!(o.t.leg, 0);
    assert_eq!(
        o.t.dst,
        UAC.parse().unwrap(),
        "received/rport, not 10.0.0.5"
    );
    assert_eq!(
        o.headers("Via"),
        vec!["SIP/2.0/UDP 10.0.0.5:5071;branch=z9hG4bKuac1;rport=5071;received=127.0.0.1"]
    );
    assert_eq!(o.first_line(), "SIP/2.0 180 Ringing");
    assert_eq!(o.headers("Record-Route").len(), 2);
    // 100 Trying is forwarded too, not absorbed.
    let trying = response_to(&fwd, "100 Trying", "x");
    assert!(send(&mut p, 1, UAS, &trying).is_some());
}

#[test]
fn foreign_and_forged_responses_are_dropped() {
    let mut p = two_legs();
    let fwd = send(&mut p, 0, UAC, &invite("")).unwrap();
    // A Via that is not ours on top.
    let foreign = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.9;branch=z9hG4bKx\r\nVia: SIP/2.0/UDP 127.0.0.1:5071;branch=z9hG4bKuac1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
    assert!(send(&mut p, 1, UAS, foreign).is_none());
    assert_eq!(p.stats().counted(Why::ForeignResponse), 1);
    // Our Via on top, but the Via below redirected elsewhere: M fails.
    let good = response_to(&fwd, "200 OK", "btag");
    let forged = good.replace("received=127.0.0.1", "received=127.0.0.66");
    assert!(send(&mut p, 1, UAS, &forged).is_none());
    assert_eq!(p.stats().counted(Why::BadBranch), 1);
    let forged = good.replace("rport=5071", "rport=22");
    assert!(send(&mut p, 1, UAS, &forged).is_none());
    assert!(send(&mut p, 1, UAS, &good).is_some());
}

#[test]
fn own_responses_and_keepalives() {
    let mut p = one_leg();
    let options = "OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5071;branch=z9hG4bKo1;rport\r\nFrom: <sip:alice@example.org>;tag=o\r\nTo: <sip:127.0.0.1>\r\nCall-ID: ka@uac\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    let o = send(&mut p, 0, UAC, options).unwrap();
    assert_eq!(o.first_line(), "SIP/2.0 200 OK");
    assert_eq!(o.t.dst, UAC.parse().unwrap());
    assert_eq!(
        o.headers("Via"),
        vec!["SIP/2.0/UDP 127.0.0.1:5071;branch=z9hG4bKo1;rport=5071;received=127.0.0.1"]
    );

    // Another request to our own address without a user: a loop.
    let msg = options
        .replace("OPTIONS sip", "MESSAGE sip")
        .replace("1 OPTIONS", "1 MESSAGE");
    assert_eq!(
        send(&mut p, 0, UAC, &msg).unwrap().first_line(),
        "SIP/2.0 482 Loop Detected"
    );
    // With a user part that nothing claims: 404.
    let msg = msg.replace("MESSAGE sip:127.0.0.1", "MESSAGE sip:nobody@127.0.0.1");
    assert_eq!(
        send(&mut p, 0, UAC, &msg).unwrap().first_line(),
        "SIP/2.0 404 Not Found"
    );

    for ka in [
        &b"\r\n\r\n"[..],
        b"\0\0\0\0",
        b"ping",
        b"\r\n\r\n          \r\n\r\n",
    ] {
        let mut out = [0u8; 100];
        let mut no = NoSockets;
        let mut cx = Cx::new(Instant(1), &mut no);
        assert!(p
            .handle(&mut cx, 0, UAC.parse().unwrap(), ka, &mut out)
            .transmit()
            .is_none());
    }
    assert_eq!(p.stats().counted(Why::KeepAlive), 4);

    // STUN Binding.
    let mut stun = [0u8; 20];
    stun[1] = 1;
    stun[4..8].copy_from_slice(&[0x21, 0x12, 0xA4, 0x42]);
    let mut out = [0u8; 100];
    let mut no = NoSockets;
    let mut cx = Cx::new(Instant(1), &mut no);
    let t = p
        .handle(&mut cx, 0, UAC.parse().unwrap(), &stun, &mut out)
        .transmit()
        .unwrap();
    assert_eq!(t.len, 32);
    assert_eq!(&out[..2], &[0x01, 0x01]);
}

#[test]
fn error_codes() {
    let mut p = one_leg();
    let bad = invite("").replace("CSeq: 1 INVITE", "CSeq: 1 BYE");
    let o = send(&mut p, 0, UAC, &bad).unwrap();
    assert!(
        o.first_line().starts_with("SIP/2.0 400 Bad Request"),
        "{}",
        o.first_line()
    );
    let ack_bad = bad.replace("INVITE sip", "ACK sip");
    assert!(send(&mut p, 0, UAC, &ack_bad).is_none());

    let v = invite("").replace("SIP/2.0\r\nVia", "SIP/3.0\r\nVia");
    assert_eq!(
        send(&mut p, 0, UAC, &v).unwrap().first_line(),
        "SIP/2.0 505 Version Not Supported"
    );

    let o = send(&mut p, 0, UAC, &invite("Proxy-Require: foo, bar\r\n")).unwrap();
    assert_eq!(o.first_line(), "SIP/2.0 420 Bad Extension");
    assert_eq!(o.headers("Unsupported"), vec!["foo, bar"]);

    let sips = invite("").replace("INVITE sip:bob", "INVITE sips:bob");
    assert_eq!(
        send(&mut p, 0, UAC, &sips).unwrap().first_line(),
        "SIP/2.0 416 Unsupported URI Scheme"
    );
    let tel = invite("").replace("INVITE sip:bob@127.0.0.3:5072", "INVITE tel:+15551234");
    assert_eq!(
        send(&mut p, 0, UAC, &tel).unwrap().first_line(),
        "SIP/2.0 416 Unsupported URI Scheme"
    );
    let tcp = invite("").replace(
        "sip:bob@127.0.0.3:5072",
        "sip:bob@127.0.0.3:5072;transport=tcp",
    );
    let o = send(&mut p, 0, UAC, &tcp).unwrap();
    assert_eq!(o.first_line(), "SIP/2.0 503 Service Unavailable");
    assert!(o.headers("Retry-After").is_empty());
    let name = invite("").replace("sip:bob@127.0.0.3:5072", "sip:bob@example.com");
    assert_eq!(
        send(&mut p, 0, UAC, &name).unwrap().first_line(),
        "SIP/2.0 503 Service Unavailable"
    );

    // Too large for one datagram once our headers are added.
    let big = invite(&format!("X-Big: {}\r\n", "x".repeat(65_300)));
    let o = send(&mut p, 0, UAC, &big).unwrap();
    assert_eq!(o.first_line(), "SIP/2.0 513 Message Too Large");
}

#[test]
fn our_responses_absorb_their_ack() {
    let mut p = one_leg();
    let o = send(&mut p, 0, UAC, &with_mf(Some(0))).unwrap();
    let tag = String::from_utf8(o.msg().to().unwrap().tag().unwrap().to_vec()).unwrap();
    let ack = with_mf(Some(5))
        .replace("INVITE sip", "ACK sip")
        .replace("1 INVITE", "1 ACK")
        .replace(
            "To: <sip:bob@example.com>",
            &format!("To: <sip:bob@example.com>;tag={tag}"),
        );
    assert!(send(&mut p, 0, UAC, &ack).is_none());
    assert_eq!(p.stats().counted(Why::AckAbsorbed), 1);
}

#[test]
fn public_legs_are_not_an_open_relay() {
    let mut p = two_legs();
    // A new INVITE from the WAN to a LAN host: refused.
    let inv = invite("").replace("sip:bob@127.0.0.3:5072", "sip:bob@127.0.0.1:5071");
    let o = send(&mut p, 1, "127.0.0.9:5060", &inv).unwrap();
    assert_eq!(o.first_line(), "SIP/2.0 403 Forbidden");
    // WAN to WAN: refused too, even in a dialog.
    let o = send(
        &mut p,
        1,
        "127.0.0.9:5060",
        &invite("Route: <sip:127.0.0.2;lr>\r\n"),
    )
    .unwrap();
    assert_eq!(o.first_line(), "SIP/2.0 403 Forbidden");
    // Our Route URI is no secret: alone it opens nothing (finding 2).
    let o = send(
        &mut p,
        1,
        "127.0.0.9:5060",
        &inv.replace("Max-Forwards", "Route: <sip:127.0.0.2;lr>\r\nMax-Forwards"),
    )
    .unwrap();
    assert_eq!(o.first_line(), "SIP/2.0 403 Forbidden");
}

#[test]
fn loop_is_482_but_spiral_is_forwarded() {
    let mut p = one_leg();
    let first = send(&mut p, 0, UAC, &invite("")).unwrap();
    // The same request comes back through us: same L, a loop.
    let o = send(&mut p, 0, UAS, &first.text).unwrap();
    assert_eq!(o.first_line(), "SIP/2.0 482 Loop Detected");
    // Back with another Request-URI: a spiral, forwarded.
    let spiral = first.text.replace(
        "INVITE sip:bob@127.0.0.3:5072",
        "INVITE sip:carol@127.0.0.4:5060",
    );
    let o = send(&mut p, 0, UAS, &spiral).unwrap();
    assert!(o.first_line().starts_with("INVITE sip:carol@"));
    assert_eq!(o.headers("Via").len(), 3);
}

#[test]
fn ipv6_leg() {
    let mut p = proxy(vec![leg("v6", "[::1]:5060", &[])]);
    let msg = invite("")
        .replace("sip:bob@127.0.0.3:5072", "sip:bob@[::1]:5072")
        .replace("10.0.0.5:5071", "[2001:db8::5]:5071");
    let o = send(&mut p, 0, "[::1]:5071", &msg).unwrap();
    assert_eq!(o.t.dst, "[::1]:5072".parse().unwrap());
    let vias = o.headers("Via");
    assert!(vias[0].starts_with("SIP/2.0/UDP [::1];branch=z9hG4bKeS0"));
    assert_eq!(
        vias[1],
        "SIP/2.0/UDP [2001:db8::5]:5071;branch=z9hG4bKuac1;rport=5071;received=::1"
    );
    assert_eq!(o.headers("Record-Route"), vec!["<sip:[::1];lr>"]);
    let resp = response_to(&o, "200 OK", "b");
    let r = send(&mut p, 0, "[::1]:5072", &resp).unwrap();
    assert_eq!(r.t.dst, "[::1]:5071".parse().unwrap());
    // An IPv4 target has no leg of its family.
    let o = send(&mut p, 0, "[::1]:5071", &invite("")).unwrap();
    assert_eq!(o.first_line(), "SIP/2.0 503 Service Unavailable");
}

fn contact_uri(o: &Out) -> String {
    let m = o.msg();
    let (_, c) = m.addrs(HeaderName::Contact).next().unwrap();
    String::from_utf8(c.uri.raw.to_vec()).unwrap()
}

fn bye_to(ruri: &str) -> String {
    format!(
        "BYE {ruri} SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.3:5072;branch=z9hG4bKbye9\r\n\
Max-Forwards: 70\r\n\
From: <sip:bob@example.com>;tag=btag\r\n\
To: Alice <sip:alice@example.org>;tag=atag\r\n\
Call-ID: call1@uac\r\n\
CSeq: 2 BYE\r\n\
Content-Length: 0\r\n\r\n"
    )
}

#[test]
fn contacts_become_tokens_and_come_back() {
    let mut p = two_legs();
    let msg = invite("").replace(
        "Contact: <sip:alice@127.0.0.1:5071>",
        "Contact: \"A\" <sip:alice@10.0.0.5:5071;transport=udp>;expires=60;+sip.instance=\"<urn:x>\"",
    );
    let o = send(&mut p, 0, UAC, &msg).unwrap();
    let c = contact_uri(&o);
    assert!(c.starts_with("sip:b") && c.ends_with("@127.0.0.2"), "{c}");
    assert!(o
        .text
        .contains(">;expires=60;+sip.instance=\"<urn:x>\"\r\n"));
    // The same contact through the same legs gives the same token.
    assert_eq!(contact_uri(&send(&mut p, 0, UAC, &msg).unwrap()), c);

    // The callee's BYE to that Contact reaches the caller where it really
    // is (its Via said 10.0.0.5, the packet came from 127.0.0.1:5071), with
    // the original URI and its parameters restored.
    let o = send(&mut p, 1, UAS, &bye_to(&c)).unwrap();
    assert_eq!(
        o.first_line(),
        "BYE sip:alice@10.0.0.5:5071;transport=udp SIP/2.0"
    );
    assert_eq!(o.t.leg, 0);
    assert_eq!(o.t.dst, UAC.parse().unwrap());

    // Tampered, or through the wrong leg: 404, never a loop.
    let mut bad = c.clone().into_bytes();
    bad[8] = if bad[8] == b'A' { b'B' } else { b'A' };
    let o = send(&mut p, 1, UAS, &bye_to(&String::from_utf8(bad).unwrap())).unwrap();
    assert_eq!(o.first_line(), "SIP/2.0 404 Not Found");
    let wrong_leg = c.replace("@127.0.0.2", "@127.0.0.1");
    let o = send(&mut p, 0, UAC, &bye_to(&wrong_leg)).unwrap();
    assert_eq!(o.first_line(), "SIP/2.0 404 Not Found");
    assert_eq!(p.stats().counted(Why::BadToken(None)), 2);
    // `sip:bob@us` is never taken for a token.
    let o = send(&mut p, 0, UAC, &bye_to("sip:bob@127.0.0.2")).unwrap();
    assert_eq!(o.first_line(), "SIP/2.0 404 Not Found");
    assert_eq!(p.stats().counted(Why::BadToken(None)), 2);
}

#[test]
fn a_contact_with_uri_headers_comes_back_without_them() {
    // RFC 3261 §16.6 step 2: a Request-URI carries no `?headers`.
    let mut p = two_legs();
    let msg = invite("").replace(
        "Contact: <sip:alice@127.0.0.1:5071>",
        "Contact: <sip:alice@10.0.0.5:5071;transport=udp?Subject=hi>",
    );
    let c = contact_uri(&send(&mut p, 0, UAC, &msg).unwrap());
    let o = send(&mut p, 1, UAS, &bye_to(&c)).unwrap();
    assert_eq!(
        o.first_line(),
        "BYE sip:alice@10.0.0.5:5071;transport=udp SIP/2.0"
    );
    assert_eq!(o.t.dst, UAC.parse().unwrap());
}

#[test]
fn tokens_from_the_cache_are_the_ones_the_cipher_makes() {
    let (mut warm, mut cold) = (two_legs(), two_legs());
    let msg = invite("").replace(
        "Contact: <sip:alice@127.0.0.1:5071>",
        "Contact: <sip:alice@10.0.0.5:5071;transport=udp>",
    );
    let first = contact_uri(&send(&mut warm, 0, UAC, &msg).unwrap());
    let cached = contact_uri(&send(&mut warm, 0, UAC, &msg).unwrap());
    assert_eq!(first, cached);
    assert_eq!(contact_uri(&send(&mut cold, 0, UAC, &msg).unwrap()), first);
    // Opened from the cache (warm, twice) and by the cipher (a fresh proxy).
    let mut fresh = two_legs();
    for i in 0..3 {
        let p = if i < 2 { &mut warm } else { &mut fresh };
        let o = send(p, 1, UAS, &bye_to(&first)).unwrap();
        assert_eq!(
            o.first_line(),
            "BYE sip:alice@10.0.0.5:5071;transport=udp SIP/2.0"
        );
        assert_eq!((o.t.leg, o.t.dst), (0, UAC.parse().unwrap()));
    }
    // A cached token that arrives on the wrong leg is still refused.
    let o = send(
        &mut warm,
        0,
        UAC,
        &bye_to(&first.replace("@127.0.0.2", "@127.0.0.1")),
    )
    .unwrap();
    assert_eq!(o.first_line(), "SIP/2.0 404 Not Found");
}

#[test]
fn without_nat_contacts_the_contact_address_is_used() {
    let mut p = proxy_cfg(
        vec![
            leg("a", "127.0.0.1:5060", &["127.0.0.1/32"]),
            leg("b", "127.0.0.2:5060", &[]),
        ],
        |c| c.nat_contacts = false,
    );
    let msg = invite("").replace("sip:alice@127.0.0.1:5071", "sip:alice@127.0.0.5:5099");
    let c = contact_uri(&send(&mut p, 0, UAC, &msg).unwrap());
    let o = send(&mut p, 1, UAS, &bye_to(&c)).unwrap();
    assert_eq!(o.t.dst, "127.0.0.5:5099".parse().unwrap());
}

#[test]
fn token_failures_are_rate_limited_per_source() {
    let mut p = two_legs();
    let c = contact_uri(&send(&mut p, 0, UAC, &invite("")).unwrap());
    let forged = bye_to(
        &c.replacen("sip:b", "sip:bA", 1)
            .replacen("@", "AAAAAAA@", 1),
    );
    let mut answered = 0;
    for _ in 0..100 {
        if send(&mut p, 1, UAS, &forged).is_some() {
            answered += 1;
        }
    }
    assert!(answered <= 25, "{answered} {:?}", p.stats());
    assert_eq!(p.stats().counted(Why::BadToken(None)), answered);
    assert!(answered >= 10, "{answered}");
}

#[test]
fn register_through_an_upstream_registrar_gets_its_contacts_back() {
    let mut p = two_legs();
    let reg = "REGISTER sip:127.0.0.3:5072 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5071;branch=z9hG4bKreg1;rport\r\n\
Max-Forwards: 70\r\n\
From: <sip:alice@example.com>;tag=r\r\n\
To: <sip:alice@example.com>\r\n\
Call-ID: reg@uac\r\n\
CSeq: 1 REGISTER\r\n\
Contact: <sip:alice@127.0.0.1:5071>;expires=3600, <tel:+15551234>, <sip:alice2@127.0.0.1:5071>\r\n\
Content-Length: 0\r\n\r\n";
    let o = send(&mut p, 0, UAC, reg).unwrap();
    assert!(o.headers("Record-Route").is_empty());
    let contacts: Vec<String> = o
        .msg()
        .addrs(HeaderName::Contact)
        .map(|(_, a)| String::from_utf8(a.uri.raw.to_vec()).unwrap())
        .collect();
    assert!(contacts[0].starts_with("sip:b"));
    assert_eq!(contacts[1], "tel:+15551234");
    assert!(contacts[2].starts_with("sip:b"));
    // The registrar answers with the tokens; they come back as they were.
    let ok = response_to(&o, "200 OK", "reg").replace(
        "Contact: <sip:bob@127.0.0.3:5072>",
        &format!(
            "Contact: <{}>;expires=3600, <{}>;expires=60",
            contacts[0], contacts[2]
        ),
    );
    let r = send(&mut p, 1, UAS, &ok).unwrap();
    assert_eq!(r.t.leg, 0);
    assert_eq!(
        r.headers("Contact"),
        vec!["<sip:alice@127.0.0.1:5071>;expires=3600, <sip:alice2@127.0.0.1:5071>;expires=60"]
    );
}

#[test]
fn force_rewrite_with_one_leg() {
    let mut p = proxy_cfg(vec![leg("lan", "127.0.0.1:5060", &[])], |c| {
        c.force_rewrite = true
    });
    let o = send(&mut p, 0, UAC, &invite("")).unwrap();
    let c = contact_uri(&o);
    assert!(c.starts_with("sip:b") && c.ends_with("@127.0.0.1"), "{c}");
    let o = send(&mut p, 0, UAS, &bye_to(&c)).unwrap();
    assert_eq!(o.first_line(), "BYE sip:alice@127.0.0.1:5071 SIP/2.0");
    // Without the flag one leg leaves Contacts alone.
    let mut p = one_leg();
    assert_eq!(
        contact_uri(&send(&mut p, 0, UAC, &invite("")).unwrap()),
        "sip:alice@127.0.0.1:5071"
    );
}

#[test]
fn tokens_survive_a_restart_with_the_same_secret_and_legs() {
    let mut p1 = two_legs();
    let c = contact_uri(&send(&mut p1, 0, UAC, &invite("")).unwrap());
    let mut p2 = two_legs();
    let o = send(&mut p2, 1, UAS, &bye_to(&c)).unwrap();
    assert_eq!(o.first_line(), "BYE sip:alice@127.0.0.1:5071 SIP/2.0");
    // Another set of legs (names) invalidates them.
    let mut p3 = proxy(vec![
        leg("x", "127.0.0.1:5060", &["127.0.0.1/32"]),
        leg("b", "127.0.0.2:5060", &[]),
    ]);
    assert_eq!(
        send(&mut p3, 1, UAS, &bye_to(&c)).unwrap().first_line(),
        "SIP/2.0 404 Not Found"
    );
}

fn registrar_proxy() -> Proxy {
    proxy_cfg(
        vec![
            leg("a", "127.0.0.1:5060", &["127.0.0.1/32"]),
            leg("b", "127.0.0.2:5060", &[]),
        ],
        |c| {
            c.registrar = Some(edgesip::registrar::RegistrarConfig {
                domains: vec!["example.com".into()],
                ..Default::default()
            })
        },
    )
}

fn register(from_ip: &str, contact: &str, cseq: u32) -> String {
    format!(
        "REGISTER sip:example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.0.0.7:5090;branch=z9hG4bKr{cseq};rport\r\n\
Max-Forwards: 70\r\n\
From: <sip:alice@example.com>;tag=r\r\n\
To: <sip:alice@example.com>\r\n\
Call-ID: reg@{from_ip}\r\n\
CSeq: {cseq} REGISTER\r\n\
Contact: <{contact}>\r\n\
Expires: 600\r\n\
Content-Length: 0\r\n\r\n"
    )
}

#[test]
fn registrar_answers_register_and_routes_to_the_binding() {
    let mut p = registrar_proxy();
    let phone = "127.0.0.1:40123";
    let o = send(
        &mut p,
        0,
        phone,
        &register("x", "sip:alice@10.0.0.7:5090", 1),
    )
    .unwrap();
    assert_eq!(o.first_line(), "SIP/2.0 200 OK");
    assert_eq!(o.t.dst, phone.parse().unwrap());
    assert!(o.msg().to().unwrap().tag().is_some());
    assert_eq!(
        o.headers("Contact"),
        vec!["<sip:alice@10.0.0.7:5090>;expires=600"]
    );

    // A call to the AoR from the WAN side reaches the phone where it
    // registered from (it is behind NAT), with the Contact as Request-URI.
    let inv = invite("").replace(
        "INVITE sip:bob@127.0.0.3:5072",
        "INVITE sip:alice@example.com",
    );
    let o = send(&mut p, 1, "127.0.0.9:5060", &inv).unwrap();
    assert_eq!(o.first_line(), "INVITE sip:alice@10.0.0.7:5090 SIP/2.0");
    assert_eq!(o.t.dst, phone.parse().unwrap());
    assert_eq!(o.t.leg, 0);

    // Unbound users of our domain: 404.
    let inv = invite("").replace(
        "INVITE sip:bob@127.0.0.3:5072",
        "INVITE sip:carol@example.com",
    );
    assert_eq!(
        send(&mut p, 1, "127.0.0.9:5060", &inv)
            .unwrap()
            .first_line(),
        "SIP/2.0 404 Not Found"
    );

    // From a public leg without --auth-file: 403. Loopback sources count
    // as local, so this one is a documentation address (no packet is sent).
    let o = send(
        &mut p,
        1,
        "192.0.2.9:5060",
        &register("y", "sip:mallory@192.0.2.9", 1),
    )
    .unwrap();
    assert_eq!(o.first_line(), "SIP/2.0 403 Forbidden");

    // Another domain is not ours: the REGISTER is forwarded.
    let other = register("z", "sip:alice@127.0.0.1:40123", 1)
        .replace("REGISTER sip:example.com", "REGISTER sip:127.0.0.3:5072");
    let o = send(&mut p, 0, phone, &other).unwrap();
    assert!(o.first_line().starts_with("REGISTER sip:127.0.0.3:5072"));
}

// Real providers and real phones (dialogs through a record-routing
// provider, hairpins, NAT). The provider answers from 127.0.0.9:5090.

const PROV: &str = "127.0.0.9:5090";
const PROV_RR: &str = "<sip:127.0.0.9:5090;lr;ftag=atag>";

/// The LAN phone's INVITE to bob at the provider, the provider's 200 (with
/// its own Record-Route on top when `rr`) as the phone got it.
fn call_out(p: &mut Proxy, rr: bool) -> Out {
    let inv = invite("").replace(
        "INVITE sip:bob@127.0.0.3:5072",
        "INVITE sip:bob@127.0.0.9:5090",
    );
    let fwd = send(p, 0, UAC, &inv).unwrap();
    assert_eq!((fwd.t.leg, fwd.t.dst), (1, PROV.parse().unwrap()));
    let mut ok = response_to(&fwd, "200 OK", "btag");
    if rr {
        ok = ok.replacen(
            "Record-Route: ",
            &format!("Record-Route: {PROV_RR}\r\nRecord-Route: "),
            1,
        );
    }
    let o = send(p, 1, PROV, &ok).unwrap();
    assert_eq!((o.t.leg, o.t.dst), (0, UAC.parse().unwrap()));
    o
}

/// A request of the LAN phone in that dialog, to `ruri` with `route`.
fn in_dialog(method: &str, ruri: &str, route: &str, cseq: u32) -> String {
    format!(
        "{method} {ruri} SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5071;branch=z9hG4bKd{cseq}\r\n\
Max-Forwards: 70\r\n\
Route: {route}\r\n\
From: Alice <sip:alice@example.org>;tag=atag\r\n\
To: <sip:bob@example.com>;tag=btag\r\n\
Call-ID: call1@uac\r\n\
CSeq: {cseq} {method}\r\n\
Contact: <sip:alice@127.0.0.1:5071>\r\n\
Content-Length: 0\r\n\r\n"
    )
}

#[test]
fn a_token_in_the_request_uri_is_decoded_whatever_routes_remain() {
    let mut p = two_legs();
    let ok = call_out(&mut p, true);
    assert_eq!(
        ok.headers("Record-Route"),
        vec![PROV_RR, "<sip:127.0.0.2;lr>", "<sip:127.0.0.1;lr>"]
    );
    let token = contact_uri(&ok);
    assert!(token.ends_with("@127.0.0.1"), "{token}");

    // One Route left after ours: it is the next hop, and the Request-URI
    // is bob's contact again (RFC 3261 §16.4, §16.12).
    let route = format!("<sip:127.0.0.1;lr>, <sip:127.0.0.2;lr>, {PROV_RR}");
    for (method, cseq) in [("ACK", 1), ("INVITE", 2), ("BYE", 3)] {
        let o = send(&mut p, 0, UAC, &in_dialog(method, &token, &route, cseq)).unwrap();
        assert_eq!(
            o.first_line(),
            format!("{method} sip:bob@127.0.0.3:5072 SIP/2.0")
        );
        assert_eq!((o.t.leg, o.t.dst), (1, PROV.parse().unwrap()));
        assert_eq!(o.headers("Route"), vec![PROV_RR]);
        // The route set is the dialog's: no Record-Route of ours on it.
        assert!(o.headers("Record-Route").is_empty(), "{method}");
    }

    // Two left: still the first of them.
    let two = format!("{route}, <sip:127.0.0.10;lr>");
    let o = send(&mut p, 0, UAC, &in_dialog("BYE", &token, &two, 4)).unwrap();
    assert_eq!(o.first_line(), "BYE sip:bob@127.0.0.3:5072 SIP/2.0");
    assert_eq!(o.t.dst, PROV.parse().unwrap());
    assert_eq!(
        o.headers("Route"),
        vec![format!("{PROV_RR}, <sip:127.0.0.10;lr>")]
    );
}

#[test]
fn strict_routing_with_a_token() {
    let mut p = two_legs();
    let token = contact_uri(&call_out(&mut p, false));
    // A strict router put our address in the Request-URI and the token,
    // the real target, last in the Route set.
    let bye = in_dialog("BYE", "sip:127.0.0.1", &format!("<{token}>"), 2);
    let o = send(&mut p, 0, UAC, &bye).unwrap();
    assert_eq!(o.first_line(), "BYE sip:bob@127.0.0.3:5072 SIP/2.0");
    assert_eq!((o.t.leg, o.t.dst), (1, UAS.parse().unwrap()));
    assert!(o.headers("Route").is_empty());
}

#[test]
fn a_token_whose_leg_disagrees_with_the_record_route_is_refused() {
    let mut p = two_legs();
    let token = contact_uri(&call_out(&mut p, true));
    // The token's contact came in on leg b; the second Route names leg a.
    let route = format!("<sip:127.0.0.1;lr>, <sip:127.0.0.1;lr>, {PROV_RR}");
    let o = send(&mut p, 0, UAC, &in_dialog("BYE", &token, &route, 2)).unwrap();
    assert_eq!(o.first_line(), "SIP/2.0 403 Forbidden");
    // An ACK is never answered, and never sent either.
    let mut n = common::harness::Net::new(two_legs());
    let token = contact_uri(&call_out(&mut n.p, true));
    let why = n.dropped(0, UAC, &in_dialog("ACK", &token, &route, 1));
    assert_eq!(why, Why::AckNotForwarded);
}

#[test]
fn a_response_relayed_by_a_proxy_never_stands_in_for_the_contact() {
    // The provider does not record-route: its 200 comes from its own
    // address with bob's Contact. The token must hold bob's contact, not
    // the provider as bob's NAT address.
    let mut p = two_legs();
    let token = contact_uri(&call_out(&mut p, false));
    let route = "<sip:127.0.0.1;lr>, <sip:127.0.0.2;lr>";
    let o = send(&mut p, 0, UAC, &in_dialog("BYE", &token, route, 2)).unwrap();
    assert_eq!(o.first_line(), "BYE sip:bob@127.0.0.3:5072 SIP/2.0");
    assert_eq!((o.t.leg, o.t.dst), (1, UAS.parse().unwrap()));
}

fn registrar_legs() -> Proxy {
    proxy_cfg(
        vec![
            leg("a", "127.0.0.1:5060", &["127.0.0.1/32"]),
            leg("b", "127.0.0.2:5060", &[]),
        ],
        |c| {
            c.registrar = Some(edgesip::registrar::RegistrarConfig {
                domains: vec!["example.com".into()],
                ..Default::default()
            })
        },
    )
}

/// dave registers at our registrar from `src` with `contact`.
fn register_dave(p: &mut Proxy, src: &str, contact: &str) {
    let reg = format!(
        "REGISTER sip:example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP {contact};branch=z9hG4bKdr1\r\n\
Max-Forwards: 70\r\n\
From: <sip:dave@example.com>;tag=d\r\n\
To: <sip:dave@example.com>\r\n\
Call-ID: dave-reg\r\n\
CSeq: 1 REGISTER\r\n\
Contact: <sip:dave@{contact}>\r\n\
Content-Length: 0\r\n\r\n"
    );
    assert_eq!(
        send(p, 0, src, &reg).unwrap().first_line(),
        "SIP/2.0 200 OK"
    );
}

#[test]
fn a_response_from_a_phone_behind_nat_stands_in_for_its_contact() {
    // dave is behind his own NAT: he registered 10.0.0.7 but sends from
    // 127.0.0.1:6000. A call from the public leg reaches him there; his
    // 200 comes straight from him, so his source goes into the token.
    let mut p = registrar_legs();
    register_dave(&mut p, "127.0.0.1:6000", "10.0.0.7:5060");
    let inv = invite("")
        .replace(
            "INVITE sip:bob@127.0.0.3:5072",
            "INVITE sip:dave@example.com",
        )
        .replace(
            "Via: SIP/2.0/UDP 10.0.0.5:5071",
            "Via: SIP/2.0/UDP 127.0.0.3:5072",
        )
        .replace("<sip:alice@127.0.0.1:5071>", "<sip:carol@127.0.0.3:5072>");
    let fwd = send(&mut p, 1, UAS, &inv).unwrap();
    assert_eq!(
        (fwd.t.leg, fwd.t.dst),
        (0, "127.0.0.1:6000".parse().unwrap())
    );
    assert_eq!(fwd.first_line(), "INVITE sip:dave@10.0.0.7:5060 SIP/2.0");
    let ok = common::sip::answer(
        fwd.text.as_bytes(),
        "200 OK",
        "dtag",
        &common::sip::contact("sip:dave@10.0.0.7:5060"),
        "",
    );
    let back = send(&mut p, 0, "127.0.0.1:6000", &ok).unwrap();
    assert_eq!((back.t.leg, back.t.dst), (1, UAS.parse().unwrap()));
    let token = contact_uri(&back);
    let ack = bye_to(&token)
        .replace("BYE ", "ACK ")
        .replace("CSeq: 2 BYE", "CSeq: 1 ACK");
    let o = send(&mut p, 1, UAS, &ack).unwrap();
    assert_eq!(o.first_line(), "ACK sip:dave@10.0.0.7:5060 SIP/2.0");
    assert_eq!((o.t.leg, o.t.dst), (0, "127.0.0.1:6000".parse().unwrap()));
}

#[test]
fn a_preloaded_route_does_not_hide_a_user_of_our_domain() {
    // Two LAN phones with us as outbound proxy: dave's INVITE for the
    // other carries `Route: <our LAN leg;lr>` (RFC 3261 §8.1.2).
    let mut p = registrar_legs();
    register_dave(&mut p, "127.0.0.1:6000", "127.0.0.1:6000");
    let inv = invite("Route: <sip:127.0.0.1;lr>\r\n").replace(
        "INVITE sip:bob@127.0.0.3:5072",
        "INVITE sip:dave@example.com",
    );
    let o = send(&mut p, 0, UAC, &inv).unwrap();
    assert_eq!(o.first_line(), "INVITE sip:dave@127.0.0.1:6000 SIP/2.0");
    assert_eq!((o.t.leg, o.t.dst), (0, "127.0.0.1:6000".parse().unwrap()));
    assert!(o.headers("Route").is_empty());
    // A foreign Route left still bypasses the lookup.
    let inv = invite("Route: <sip:127.0.0.1;lr>, <sip:127.0.0.9:5090;lr>\r\n").replace(
        "INVITE sip:bob@127.0.0.3:5072",
        "INVITE sip:dave@example.com",
    );
    let o = send(&mut p, 0, UAC, &inv).unwrap();
    assert_eq!(o.first_line(), "INVITE sip:dave@example.com SIP/2.0");
    assert_eq!(o.t.dst, PROV.parse().unwrap());
}

#[test]
fn a_hairpin_wraps_contact_tokens_so_both_ends_keep_a_token() {
    // alice and bob are both on the LAN; bob registered at the provider
    // through us, and alice calls him there: the INVITE leaves on leg b
    // and comes back in on it.
    let mut p = two_legs();
    let reg = "REGISTER sip:127.0.0.9:5090 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bKbr1\r\n\
Max-Forwards: 70\r\n\
From: <sip:bob@example.com>;tag=r\r\n\
To: <sip:bob@example.com>\r\n\
Call-ID: bob-reg\r\n\
CSeq: 1 REGISTER\r\n\
Contact: <sip:bob@127.0.0.1:5080>\r\n\
Content-Length: 0\r\n\r\n";
    let bob_token = contact_uri(&send(&mut p, 0, "127.0.0.1:5080", reg).unwrap());
    let inv = invite("").replace(
        "INVITE sip:bob@127.0.0.3:5072",
        "INVITE sip:bob@127.0.0.9:5090",
    );
    let out1 = send(&mut p, 0, UAC, &inv).unwrap();
    let alice_token = contact_uri(&out1);
    // The provider sends it back to bob's registered contact, with its own
    // Via and Record-Route on top.
    let back_in = out1
        .text
        .replace(
            "INVITE sip:bob@127.0.0.9:5090",
            &format!("INVITE {bob_token}"),
        )
        .replacen(
            "Via: ",
            "Via: SIP/2.0/UDP 127.0.0.9:5090;branch=z9hG4bKprov1\r\nVia: ",
            1,
        )
        .replacen(
            "Record-Route: ",
            &format!("Record-Route: {PROV_RR}\r\nRecord-Route: "),
            1,
        );
    let at_bob = send(&mut p, 1, PROV, &back_in).unwrap();
    assert_eq!(
        (at_bob.t.leg, at_bob.t.dst),
        (0, "127.0.0.1:5080".parse().unwrap())
    );
    assert_eq!(at_bob.first_line(), "INVITE sip:bob@127.0.0.1:5080 SIP/2.0");
    // alice's token went out on b and comes back on b inside a request: it
    // is wrapped, not turned back into her LAN contact.
    let wrapped = contact_uri(&at_bob);
    assert!(
        wrapped.ends_with("@127.0.0.1") && wrapped != alice_token,
        "{wrapped}"
    );
    let rr = at_bob.headers("Record-Route");
    assert_eq!(
        rr,
        vec![
            "<sip:127.0.0.1;lr>",
            "<sip:127.0.0.2;lr>",
            PROV_RR,
            "<sip:127.0.0.2;lr>",
            "<sip:127.0.0.1;lr>"
        ]
    );

    // bob's BYE follows his route set: out to the provider with alice's
    // first token as Request-URI...
    let route = rr.join(", ");
    let bye = bye_to(&wrapped)
        .replace(
            "Via: SIP/2.0/UDP 127.0.0.3:5072",
            "Via: SIP/2.0/UDP 127.0.0.1:5080",
        )
        .replace(
            "Max-Forwards: 70\r\n",
            &format!("Max-Forwards: 70\r\nRoute: {route}\r\n"),
        );
    let o = send(&mut p, 0, "127.0.0.1:5080", &bye).unwrap();
    assert_eq!(o.first_line(), format!("BYE {alice_token} SIP/2.0"));
    assert_eq!((o.t.leg, o.t.dst), (1, PROV.parse().unwrap()));
    // ... and back in from the provider, where that token lets it in and
    // takes it to alice.
    let from_prov = o
        .text
        .replacen(
            "Via: ",
            "Via: SIP/2.0/UDP 127.0.0.9:5090;branch=z9hG4bKprov2\r\nVia: ",
            1,
        )
        .replacen(&format!("Route: {PROV_RR}, "), "Route: ", 1);
    let o = send(&mut p, 1, PROV, &from_prov).unwrap();
    assert_eq!(o.first_line(), "BYE sip:alice@127.0.0.1:5071 SIP/2.0");
    assert_eq!((o.t.leg, o.t.dst), (0, UAC.parse().unwrap()));
}

#[test]
fn only_strictly_valid_messages_are_forwarded() {
    let mut p = one_leg();
    let ok = invite("");
    let refused = [
        (
            ok.replace("Max-Forwards: 70\r\n", "Max-Forwards: 70\n"),
            "bare CR or LF",
        ),
        (ok.replacen("\r\n", "\n", 1), "bare CR or LF"),
        (
            ok.replace("To: <sip:bob@example.com>", "To: <sip:bob@example.com>\r"),
            "bare CR or LF",
        ),
        (
            ok.replace(
                "Call-ID: call1@uac\r\n",
                "Call-ID: call1@uac\r\nCall-ID: call1@uac\r\n",
            ),
            "duplicate header: Call-ID",
        ),
        (
            ok.replace("CSeq: 1 INVITE\r\n", "CSeq: 1 INVITE\r\nCSeq: 1 INVITE\r\n"),
            "duplicate header: CSeq",
        ),
        (
            ok.replace(
                "Content-Length: 0\r\n",
                "Content-Type: a/b\r\nc: a/b\r\nContent-Length: 0\r\n",
            ),
            "duplicate header: Content-Type",
        ),
        (
            ok.replace("From: Alice", "From: Al\0ice"),
            "control character in the header section",
        ),
    ];
    for (msg, why) in refused {
        let o = send(&mut p, 0, UAC, &msg).expect("answered");
        assert_eq!(
            o.first_line(),
            format!("SIP/2.0 400 Bad Request ({why})"),
            "{msg:?}"
        );
    }
    // Latin-1 and HTAB pass unchanged; a missing Content-Length is added.
    let latin = ok
        .replace("From: Alice", "From: \"Al\u{e9}\tice\"")
        .replace("Content-Length: 0\r\n", "");
    let o = send(&mut p, 0, UAC, &latin).unwrap();
    assert!(o.first_line().starts_with("INVITE "), "{}", o.text);
    assert!(o.text.contains("From: \"Al\u{e9}\tice\""));
    assert_eq!(o.headers("Content-Length"), vec!["0"]);
    assert!(o.text.ends_with("Content-Length: 0\r\n\r\n"));
}

/// A request from an attacker on the WAN: `method` for `ruri`, with
/// `route` lines.
fn from_wan(method: &str, ruri: &str, route: &str) -> String {
    let to_tag = if method == "INVITE" || method == "OPTIONS" {
        ""
    } else {
        ";tag=t"
    };
    format!(
        "{method} {ruri} SIP/2.0\r\n\
Via: SIP/2.0/UDP 198.51.100.66:5060;branch=z9hG4bKevil{}\r\n\
Max-Forwards: 70\r\n\
{route}\
From: <sip:evil@198.51.100.66>;tag=e\r\n\
To: <sip:victim@example.com>{to_tag}\r\n\
Call-ID: evil@198.51.100.66\r\n\
CSeq: 1 {method}\r\n\
Contact: <sip:evil@198.51.100.66>\r\n\
Content-Length: 0\r\n\r\n",
        method.len()
    )
}

const METHODS: [&str; 10] = [
    "INVITE",
    "ACK",
    "BYE",
    "CANCEL",
    "OPTIONS",
    "MESSAGE",
    "SUBSCRIBE",
    "NOTIFY",
    "INFO",
    "REFER",
];

#[test]
fn our_route_opens_nothing_from_the_wan() {
    const EVIL: &str = "198.51.100.66:5060";
    let routes = [
        // Finding 1: WAN to WAN through a LAN Route.
        "Route: <sip:127.0.0.2;lr>, <sip:127.0.0.1;lr>\r\n",
        // Finding 2: our Route URI alone, in every spelling.
        "Route: <sip:127.0.0.2;lr>\r\n",
        "Route: <sip:127.0.0.2:5060;lr>\r\n",
        "Route: <sip:127.0.0.2;lr;maddr=127.0.0.1>\r\n",
        "Route: <sip:127.0.0.1;lr>\r\n",
        "Route: <sip:127.0.0.1;lr>, <sip:127.0.0.2;lr>\r\n",
        "",
    ];
    for ruri in [
        "sip:x@198.51.100.7",
        "sip:x@198.51.100.7:5080",
        "sip:bob@127.0.0.1:5071",
        "sip:127.0.0.1:5071",
    ] {
        for route in routes {
            for method in METHODS {
                let mut p = two_legs();
                let (o, _) = common::harness::exchange(
                    &mut p,
                    &mut NoSockets,
                    Instant(1000),
                    1,
                    EVIL,
                    from_wan(method, ruri, route).as_bytes(),
                );
                assert!(
                    o.transmit().is_none_or(|t| t.dst == EVIL.parse().unwrap()),
                    "{method} {ruri} {route:?}: {o:?}"
                );
            }
        }
    }
    // Strict routing: our address as Request-URI, the real target last.
    let mut p = two_legs();
    let strict = from_wan(
        "INVITE",
        "sip:127.0.0.2",
        "Route: <sip:bob@127.0.0.1:5071>\r\n",
    );
    let o = send(&mut p, 1, EVIL, &strict).unwrap();
    assert_eq!(o.first_line(), "SIP/2.0 403 Forbidden");
}

#[test]
fn a_token_from_the_wan_reaches_only_its_contact() {
    let mut p = two_legs();
    // alice's Contact went out on the WAN leg as a token.
    let token = contact_uri(&send(&mut p, 0, UAC, &invite("")).unwrap());
    // The token with our Routes: to alice.
    let r = "Route: <sip:127.0.0.2;lr>, <sip:127.0.0.1;lr>\r\n";
    let o = send(&mut p, 1, UAS, &from_wan("BYE", &token, r)).unwrap();
    assert_eq!((o.t.leg, o.t.dst), (0, UAC.parse().unwrap()));
    // A token does not carry a request on to an address outside the LAN.
    let out = "Route: <sip:127.0.0.2;lr>, <sip:198.51.100.7;lr>\r\n";
    let o = send(&mut p, 1, UAS, &from_wan("BYE", &token, out)).unwrap();
    assert_eq!(o.first_line(), "SIP/2.0 403 Forbidden");
    // Nor through a double Record-Route that names the WAN leg.
    let wan = "Route: <sip:127.0.0.2;lr>, <sip:127.0.0.2;lr>\r\n";
    let o = send(&mut p, 1, UAS, &from_wan("BYE", &token, wan)).unwrap();
    assert_eq!(o.first_line(), "SIP/2.0 403 Forbidden");
}
