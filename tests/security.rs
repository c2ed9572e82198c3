//! The WAN leg under attack, through the real binary: a scan of
//! Request-URI forms x Route forms x methods from public sources delivers
//! nothing to the LAN or the internet except what a token we minted, a
//! registration or a `--route` rule lets in.

mod common;

use common::{free_port, Daemon};
use edgesip::sip::Message;
use std::collections::BTreeMap;
use std::net::{SocketAddr, UdpSocket};

/// A socket that listens on `ip:5060` (or any port) and keeps what came.
struct Host {
    sock: UdpSocket,
}

impl Host {
    fn bind(ip: &str, port: u16) -> Host {
        let sock = UdpSocket::bind((ip, port)).unwrap_or_else(|e| panic!("bind {ip}:{port}: {e}"));
        Host { sock }
    }
    fn addr(&self) -> SocketAddr {
        self.sock.local_addr().unwrap()
    }
    /// Every datagram that arrives within `ms` of the last one.
    fn drain(&self, ms: u64) -> Vec<Vec<u8>> {
        self.sock
            .set_read_timeout(Some(common::scaled(ms)))
            .unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 65_535];
        while let Ok(n) = self.sock.recv(&mut buf) {
            got.push(buf[..n].to_vec());
        }
        got
    }
}

fn ruri_of(d: &[u8]) -> String {
    let m = Message::parse(d).expect("what edgesip sent parses");
    String::from_utf8_lossy(m.request_uri_raw().unwrap()).into_owned()
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
    "UPDATE",
];

#[test]
fn a_scan_from_the_wan_reaches_only_tokens_bindings_and_routes() {
    // LAN 127.0.1.0/24 behind leg lan, the internet elsewhere.
    let (lp, wp) = (free_port("127.0.1.1"), free_port("127.0.2.1"));
    let (lan, wan) = (format!("127.0.1.1:{lp}"), format!("127.0.2.1:{wp}"));
    let route_host = Host::bind("127.0.1.20", 0);
    let route = format!("routed.test={}", route_host.addr());
    let _d = Daemon::start(&[
        "--leg",
        &format!("lan={lan},net=127.0.1.0/24"),
        "--leg",
        &format!("wan={wan}"),
        "--registrar",
        "example.com",
        "--route",
        &route,
        "--dns",
        "127.0.0.1:9",
    ]);
    let lan_addr: SocketAddr = lan.parse().unwrap();
    let wan_addr: SocketAddr = wan.parse().unwrap();
    let dave = Host::bind("127.0.1.10", 0);
    let alice = Host::bind("127.0.1.11", 0);
    let open_lan = Host::bind("127.0.1.30", 5060);
    let outside = Host::bind("127.0.3.10", 5060);

    // dave registers at our registrar; alice calls the internet, so her
    // Contact leaves as a token.
    let reg = format!(
        "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP {d};branch=z9hG4bKr\r\n\
From: <sip:dave@example.com>;tag=d\r\nTo: <sip:dave@example.com>\r\nCall-ID: dr\r\n\
CSeq: 1 REGISTER\r\nContact: <sip:dave@{d}>\r\nContent-Length: 0\r\n\r\n",
        d = dave.addr()
    );
    dave.sock.send_to(reg.as_bytes(), lan_addr).unwrap();
    assert!(dave.drain(1000)[0].starts_with(b"SIP/2.0 200 "));
    let inv = format!(
        "INVITE sip:bob@127.0.3.10 SIP/2.0\r\nVia: SIP/2.0/UDP {a};branch=z9hG4bKa\r\nMax-Forwards: 70\r\n\
From: <sip:alice@example.com>;tag=a\r\nTo: <sip:bob@example.org>\r\nCall-ID: ac\r\n\
CSeq: 1 INVITE\r\nContact: <sip:alice@{a}>\r\nContent-Length: 0\r\n\r\n",
        a = alice.addr()
    );
    alice.sock.send_to(inv.as_bytes(), lan_addr).unwrap();
    let got = outside.drain(1000);
    let m = Message::parse(&got[0]).unwrap();
    let (_, c) = m.addrs(edgesip::sip::HeaderName::Contact).next().unwrap();
    let token = String::from_utf8_lossy(c.uri.raw).into_owned();
    assert!(token.starts_with("sip:b"), "{token}");
    let forged = token.replacen("sip:b", "sip:bAAAA", 1);

    let rr_wan = format!("<sip:{wan};lr>");
    let rr_lan = format!("<sip:{lan};lr>");
    let ruris = [
        "sip:x@127.0.1.30".to_string(),
        "sip:x@127.0.1.30:5060".into(),
        "sip:127.0.1.30".into(),
        format!("sip:x@{}", dave.addr()),
        "sip:x@127.0.3.10".into(),
        "sip:x@127.0.3.10:5060".into(),
        format!("sip:{wan}"),
        format!("sip:{lan}"),
        "sip:x@example.net".into(),
        "sip:nobody@example.com".into(),
        forged,
        token.clone(),
        "sip:dave@example.com".into(),
        "sip:x@routed.test".into(),
    ];
    let routes = [
        String::new(),
        format!("Route: {rr_wan}\r\n"),
        "Route: <sip:127.0.2.1;lr>\r\n".into(),
        format!("Route: <sip:{wan};lr;maddr=127.0.1.30>\r\n"),
        format!("Route: {rr_lan}\r\n"),
        format!("Route: {rr_wan}, {rr_lan}\r\n"),
        format!("Route: {rr_lan}, {rr_wan}\r\n"),
        format!("Route: {rr_wan}, <sip:127.0.3.10;lr>\r\n"),
    ];
    // Several attacker addresses, so the per-source rate limit of the
    // public leg does not decide what gets through.
    let attackers: Vec<UdpSocket> = (66..76)
        .map(|i| UdpSocket::bind(format!("127.0.2.{i}:0")).unwrap())
        .collect();
    let mut sent = 0;
    let mut strict = Vec::new();
    for (ri, ruri) in ruris.iter().enumerate() {
        // Strict routing: our address as Request-URI, the target last.
        strict.push((format!("sip:{wan}"), format!("Route: <{ruri}>\r\n")));
        for (k, route) in routes.iter().enumerate() {
            for (mi, method) in METHODS.iter().enumerate() {
                let to_tag = if *method == "INVITE" { "" } else { ";tag=t" };
                let msg = format!(
                    "{method} {ruri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.2.66:5060;branch=z9hG4bKs{ri}x{k}x{mi}\r\n\
Max-Forwards: 70\r\n{route}From: <sip:evil@127.0.2.66>;tag=e\r\nTo: <sip:victim@example.com>{to_tag}\r\n\
Call-ID: scan{ri}x{k}x{mi}\r\nCSeq: 1 {method}\r\nContact: <sip:evil@127.0.2.66>\r\n\
Content-Length: 0\r\n\r\n"
                );
                attackers[sent % attackers.len()]
                    .send_to(msg.as_bytes(), wan_addr)
                    .unwrap();
                sent += 1;
                // Paced for the daemon's socket buffer: under qemu a burst
                // of 100 overflowed it and lost the routed requests.
                if sent % 50 == 0 {
                    std::thread::sleep(common::scaled(20));
                }
            }
        }
    }
    for (i, (ruri, route)) in strict.iter().enumerate() {
        let msg = format!(
            "INVITE {ruri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.2.66:5060;branch=z9hG4bKst{i}\r\n\
Max-Forwards: 70\r\n{route}From: <sip:evil@127.0.2.66>;tag=e\r\nTo: <sip:victim@example.com>\r\n\
Call-ID: strict{i}\r\nCSeq: 1 INVITE\r\nContact: <sip:evil@127.0.2.66>\r\nContent-Length: 0\r\n\r\n"
        );
        attackers[i % attackers.len()]
            .send_to(msg.as_bytes(), wan_addr)
            .unwrap();
        sent += 1;
    }
    assert!(sent >= 500, "{sent} combinations");

    // Nothing reaches the internet, or a LAN host nobody authorised...
    let to_outside = outside.drain(1500);
    assert!(
        to_outside.is_empty(),
        "{} reached the internet: {:?}",
        to_outside.len(),
        to_outside
            .first()
            .map(|d| String::from_utf8_lossy(d).into_owned())
    );
    let to_open = open_lan.drain(300);
    assert!(
        to_open.is_empty(),
        "{} reached an open LAN host: {:?}",
        to_open.len(),
        to_open
            .first()
            .map(|d| String::from_utf8_lossy(d).into_owned())
    );
    // ... and the token, the binding and the route each let in exactly
    // their own, for every method.
    let per_method = |got: &[Vec<u8>], want: &str| {
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        for d in got {
            assert_eq!(ruri_of(d), want);
            let m = Message::parse(d).unwrap();
            *seen
                .entry(String::from_utf8_lossy(m.method().unwrap()).into_owned())
                .or_default() += 1;
        }
        seen
    };
    let at_alice = per_method(&alice.drain(300), &format!("sip:alice@{}", alice.addr()));
    let at_dave = per_method(&dave.drain(300), &format!("sip:dave@{}", dave.addr()));
    let at_route = per_method(&route_host.drain(300), "sip:x@routed.test");
    for m in METHODS {
        assert!(
            at_alice.get(m).copied().unwrap_or(0) >= 1,
            "token {m}: {at_alice:?}"
        );
        assert!(
            at_dave.get(m).copied().unwrap_or(0) >= 1,
            "binding {m}: {at_dave:?}"
        );
        assert!(
            at_route.get(m).copied().unwrap_or(0) >= 1,
            "route {m}: {at_route:?}"
        );
    }
}
