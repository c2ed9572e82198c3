//! SIP over TCP in the core, without sockets: which transport a request
//! takes, what its Via, Record-Route and Contact say on each side, the
//! connection its branch remembers, answers on their connection, framing
//! refusals and the 503 for what could not be delivered.

mod common;

use common::harness::{leg, proxy_cfg};
use edgesip::config::Transports;
use edgesip::cx::{Cx, NoSockets};
use edgesip::output::{Outcome, Socket, Transmit, Why};
use edgesip::proxy::Proxy;
use edgesip::sip::{HeaderName, Message};
use edgesip::stream::Conn;
use edgesip::time::Instant;
use std::net::SocketAddr;

const PHONE: &str = "192.168.1.20:5060";
const PROVIDER: &str = "203.0.113.5:5060";
const C: Conn = Conn { slot: 3, gen: 7 };

/// LAN over UDP, WAN with `wan` transports.
fn proxy(wan: Transports) -> Proxy {
    let lan = leg("lan", "192.168.1.1:5060", &["192.168.1.0/24"]);
    let mut w = leg("wan", "198.51.100.1:5060", &[]);
    w.transport = wan;
    proxy_cfg(vec![lan, w], |_| {})
}

fn handle(
    p: &mut Proxy,
    leg: usize,
    src: &str,
    conn: Option<Conn>,
    msg: &str,
) -> (Outcome, String) {
    let mut out = vec![0u8; 65_535];
    let mut s = NoSockets;
    let now = Instant::from_secs(1);
    let mut cx = match conn {
        Some(c) => Cx::on_stream(now, &mut s, c),
        None => Cx::new(now, &mut s),
    };
    let o = p.handle(&mut cx, leg, src.parse().unwrap(), msg.as_bytes(), &mut out);
    let n = o.transmit().map_or(0, |t| t.len);
    (o, String::from_utf8(out[..n].to_vec()).unwrap())
}

fn sent(o: &Outcome) -> Transmit {
    o.transmit()
        .unwrap_or_else(|| panic!("nothing sent: {o:?}"))
}

fn values(msg: &str, name: HeaderName) -> Vec<String> {
    let m = Message::parse(msg.as_bytes()).unwrap_or_else(|e| panic!("{e}: {msg}"));
    m.headers()
        .iter()
        .filter(|h| h.name == name)
        .map(|h| String::from_utf8_lossy(h.value).into_owned())
        .collect()
}

fn invite(ruri: &str, via: &str, contact: &str) -> String {
    format!(
        "INVITE {ruri} SIP/2.0\r\nVia: {via};branch=z9hG4bKa1;rport\r\nMax-Forwards: 70\r\n\
From: <sip:alice@example.org>;tag=f1\r\nTo: <sip:bob@example.com>\r\nCall-ID: tcp1@x\r\n\
CSeq: 1 INVITE\r\nContact: {contact}\r\nContent-Length: 0\r\n\r\n"
    )
}

fn answer(req: &str, status: &str) -> String {
    common::sip::answer(req.as_bytes(), status, "t2", "", "")
}

#[test]
fn a_tcp_target_leaves_on_a_stream_with_each_sides_transport() {
    let mut p = proxy(Transports::UdpTcp);
    let inv = invite(
        &format!("sip:bob@{PROVIDER};transport=tcp"),
        &format!("SIP/2.0/UDP {PHONE}"),
        "sip:alice@192.168.1.20",
    );
    let (o, text) = handle(&mut p, 0, PHONE, None, &inv);
    let t = sent(&o);
    assert_eq!(t.socket, Socket::Stream { leg: 1, conn: None });
    assert_eq!(t.dst, PROVIDER.parse::<SocketAddr>().unwrap());
    let vias = values(&text, HeaderName::Via);
    assert!(
        vias[0].starts_with("SIP/2.0/TCP 198.51.100.1;branch=z9hG4bKeS0"),
        "{text}"
    );
    assert_eq!(
        values(&text, HeaderName::RecordRoute),
        vec![
            "<sip:198.51.100.1;transport=tcp;lr>",
            "<sip:192.168.1.1;lr>"
        ]
    );
    // The phone's Contact, a token, brings the provider back over TCP;
    // it had no brackets, so it gets them for the parameter.
    let contact = &values(&text, HeaderName::Contact)[0];
    assert!(
        contact.starts_with("<sip:b") && contact.ends_with("@198.51.100.1;transport=tcp>"),
        "{contact}"
    );
    // Without ;transport the leg's UDP is used; a tcp-only leg uses TCP.
    let plain = invite(
        &format!("sip:bob@{PROVIDER}"),
        &format!("SIP/2.0/UDP {PHONE}"),
        "sip:a@192.168.1.20",
    );
    let (o, _) = handle(&mut p, 0, PHONE, None, &plain);
    assert_eq!(sent(&o).socket, Socket::Leg(1));
    let mut only = proxy(Transports::TcpOnly);
    let (o, text) = handle(&mut only, 0, PHONE, None, &plain);
    assert_eq!(sent(&o).socket, Socket::Stream { leg: 1, conn: None });
    assert!(values(&text, HeaderName::Via)[0].starts_with("SIP/2.0/TCP "));
}

#[test]
fn a_transport_the_leg_lacks_is_503() {
    let mut p = proxy(Transports::Udp);
    let inv = invite(
        &format!("sip:bob@{PROVIDER};transport=tcp"),
        &format!("SIP/2.0/UDP {PHONE}"),
        "<sip:a@192.168.1.20>",
    );
    let (o, text) = handle(&mut p, 0, PHONE, None, &inv);
    assert!(
        matches!(
            o,
            Outcome::Answered {
                code: 503,
                why: Why::NoTransport,
                ..
            }
        ),
        "{o:?}"
    );
    assert!(text.starts_with("SIP/2.0 503 "));
    let mut only = proxy(Transports::TcpOnly);
    let udp = invite(
        &format!("sip:bob@{PROVIDER};transport=udp"),
        &format!("SIP/2.0/UDP {PHONE}"),
        "<sip:a@192.168.1.20>",
    );
    let (o, _) = handle(&mut only, 0, PHONE, None, &udp);
    assert!(matches!(o, Outcome::Answered { code: 503, .. }), "{o:?}");
}

#[test]
fn answers_go_back_on_the_connection_they_came_in_on() {
    let mut p = proxy(Transports::UdpTcp);
    let opts = format!(
        "OPTIONS sip:198.51.100.1 SIP/2.0\r\nVia: SIP/2.0/TCP {PROVIDER};branch=z9hG4bKo\r\n\
Max-Forwards: 70\r\nFrom: <sip:x@example.org>;tag=o\r\nTo: <sip:198.51.100.1>\r\n\
Call-ID: o@x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    );
    let (o, text) = handle(&mut p, 1, "203.0.113.5:40000", Some(C), &opts);
    let t = sent(&o);
    assert_eq!(
        t.socket,
        Socket::Stream {
            leg: 1,
            conn: Some(C)
        }
    );
    assert!(text.starts_with("SIP/2.0 200 OK"), "{text}");
}

#[test]
fn the_branch_keeps_the_connection_and_the_response_returns_on_it() {
    let mut p = proxy(Transports::UdpTcp);
    // A TCP phone on the LAN side... through the WAN leg's TCP: here the
    // provider's request comes in on a connection and goes to the phone.
    let tok_inv = invite(
        &format!("sip:bob@{PROVIDER};transport=tcp"),
        &format!("SIP/2.0/UDP {PHONE}"),
        "<sip:alice@192.168.1.20>",
    );
    let (_, fwd) = handle(&mut p, 0, PHONE, None, &tok_inv);
    let token = values(&fwd, HeaderName::Contact)[0]
        .trim_matches(|c| c == '<' || c == '>')
        .to_string();
    let bye = format!(
        "BYE {token} SIP/2.0\r\nVia: SIP/2.0/TCP {PROVIDER};branch=z9hG4bKb1;rport\r\n\
Max-Forwards: 70\r\nRoute: <sip:198.51.100.1;transport=tcp;lr>, <sip:192.168.1.1;lr>\r\n\
From: <sip:bob@example.com>;tag=t2\r\nTo: <sip:alice@example.org>;tag=f1\r\nCall-ID: tcp1@x\r\n\
CSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
    );
    let src = "203.0.113.5:40001";
    let (o, to_phone) = handle(&mut p, 1, src, Some(C), &bye);
    let t = sent(&o);
    assert_eq!(t.socket, Socket::Leg(0));
    assert_eq!(t.dst, PHONE.parse::<SocketAddr>().unwrap());
    let vias = values(&to_phone, HeaderName::Via);
    assert!(
        vias[0].starts_with("SIP/2.0/UDP 192.168.1.1;branch=z9hG4bKeS"),
        "{to_phone}"
    );
    let branch = vias[0].split("branch=").nth(1).unwrap();
    assert_eq!(branch.len(), 34 + 8, "{branch}");
    assert!(
        branch.ends_with("00030007"),
        "slot 3, generation 7: {branch}"
    );
    // The phone's 200 goes back on connection C.
    let ok = answer(&to_phone, "200 OK");
    let (o, back) = handle(&mut p, 0, PHONE, None, &ok);
    let t = sent(&o);
    assert_eq!(
        t.socket,
        Socket::Stream {
            leg: 1,
            conn: Some(C)
        }
    );
    // Should C be gone, the shell connects to received at the sent-by port.
    assert_eq!(t.dst, PROVIDER.parse::<SocketAddr>().unwrap());
    assert_eq!(values(&back, HeaderName::Via).len(), 1);

    // A branch whose connection was changed does not verify.
    let forged = ok.replacen("00030007", "00040007", 1);
    let (o, _) = handle(&mut p, 0, PHONE, None, &forged);
    assert_eq!(o, Outcome::Dropped(Why::BadBranch));
}

#[test]
fn unframeable_streams_and_undeliverable_requests_are_answered() {
    let mut p = proxy(Transports::UdpTcp);
    let head = format!(
        "OPTIONS sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/TCP {PROVIDER};branch=z9hG4bKn\r\n\
Max-Forwards: 70\r\nFrom: <sip:x@example.org>;tag=n\r\nTo: <sip:bob@example.com>\r\n\
Call-ID: n@x\r\nCSeq: 1 OPTIONS\r\n\r\n"
    );
    let mut out = vec![0u8; 65_535];
    let mut s = NoSockets;
    let mut cx = Cx::on_stream(Instant::from_secs(1), &mut s, C);
    let src: SocketAddr = "203.0.113.5:40002".parse().unwrap();
    for (large, code) in [(false, 400), (true, 513)] {
        let o = p.refuse_stream(&mut cx, 1, src, head.as_bytes(), large, &mut out);
        match o {
            Outcome::Answered { tx, code: c, .. } => {
                assert_eq!(c, code);
                assert_eq!(
                    tx.socket,
                    Socket::Stream {
                        leg: 1,
                        conn: Some(C)
                    }
                );
            }
            o => panic!("{o:?}"),
        }
    }

    // The INVITE that went towards the provider could not be delivered:
    // the phone gets 503, through the response path.
    let inv = invite(
        &format!("sip:bob@{PROVIDER};transport=tcp"),
        &format!("SIP/2.0/UDP {PHONE}"),
        "<sip:alice@192.168.1.20>",
    );
    let (_, fwd) = handle(&mut p, 0, PHONE, None, &inv);
    let mut scratch = vec![0u8; 65_535];
    let mut cx = Cx::new(Instant::from_secs(1), &mut s);
    let dst: SocketAddr = PROVIDER.parse().unwrap();
    let o = p.undeliverable(&mut cx, 1, dst, fwd.as_bytes(), &mut scratch, &mut out);
    let t = sent(&o);
    assert_eq!(t.socket, Socket::Leg(0));
    assert_eq!(t.dst, PHONE.parse::<SocketAddr>().unwrap());
    let text = String::from_utf8(out[..t.len].to_vec()).unwrap();
    assert!(
        text.starts_with("SIP/2.0 503 Service Unavailable\r\n"),
        "{text}"
    );
    assert_eq!(values(&text, HeaderName::Via).len(), 1);
    // Its ACK is absorbed here, not sent towards the provider again.
    let to = &values(&text, HeaderName::To)[0];
    let ack = format!(
        "ACK sip:bob@{PROVIDER};transport=tcp SIP/2.0\r\nVia: SIP/2.0/UDP {PHONE};branch=z9hG4bKa1;rport\r\n\
Max-Forwards: 70\r\nFrom: <sip:alice@example.org>;tag=f1\r\nTo: {to}\r\nCall-ID: tcp1@x\r\n\
CSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
    );
    let (o, _) = handle(&mut p, 0, PHONE, None, &ack);
    assert_eq!(o, Outcome::Dropped(Why::AckAbsorbed));
    // An ACK or a response cannot be answered.
    let (_, fwd_ack) = handle(
        &mut p,
        0,
        PHONE,
        None,
        &ack.replace(&format!("To: {to}"), "To: <sip:bob@example.com>;tag=zz"),
    );
    let o = p.undeliverable(&mut cx, 1, dst, fwd_ack.as_bytes(), &mut scratch, &mut out);
    assert_eq!(o, Outcome::Dropped(Why::NoConnection));
}

#[test]
fn tcp_large_moves_big_requests_to_tcp() {
    let big = invite(
        &format!("sip:bob@{PROVIDER}"),
        &format!("SIP/2.0/UDP {PHONE}"),
        "<sip:alice@192.168.1.20>",
    )
    .replace(
        "Content-Length: 0\r\n",
        &format!("Subject: {}\r\nContent-Length: 0\r\n", "x".repeat(1300)),
    );
    let small = invite(
        &format!("sip:bob@{PROVIDER}"),
        &format!("SIP/2.0/UDP {PHONE}"),
        "<sip:alice@192.168.1.20>",
    );
    let lan = leg("lan", "192.168.1.1:5060", &["192.168.1.0/24"]);
    let mut w = leg("wan", "198.51.100.1:5060", &[]);
    w.transport = Transports::UdpTcp;
    let mut p = proxy_cfg(vec![lan, w], |c| c.tcp_large = true);
    let (o, text) = handle(&mut p, 0, PHONE, None, &big);
    assert_eq!(sent(&o).socket, Socket::Stream { leg: 1, conn: None });
    assert!(values(&text, HeaderName::Via)[0].starts_with("SIP/2.0/TCP "));
    let (o, _) = handle(&mut p, 0, PHONE, None, &small);
    assert_eq!(sent(&o).socket, Socket::Leg(1));
    // Without --tcp-large it stays UDP (and IP fragments it).
    let mut p = proxy(Transports::UdpTcp);
    let (o, _) = handle(&mut p, 0, PHONE, None, &big);
    assert_eq!(sent(&o).socket, Socket::Leg(1));
}
