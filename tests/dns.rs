//! Finding targets through the real binary: static routes, an upstream
//! proxy, and RFC 3263 DNS against a DNS server written in the test.

mod common;

use common::dns::{DnsServer, Mode, Rec};
use common::{free_port, Daemon, Ua};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

const LOCAL: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 3);

fn daemon(dns: &DnsServer, extra: &[&str]) -> (Daemon, SocketAddr) {
    let p = free_port("127.0.0.1");
    let leg = format!("127.0.0.1:{p}");
    let dns = dns.addr().to_string();
    let mut args = vec!["--leg", &leg, "--dns", &dns];
    args.extend_from_slice(extra);
    (Daemon::start(&args), leg.parse().unwrap())
}

fn options(ruri: &str, from: &Ua, id: &str) -> String {
    format!(
        "OPTIONS {ruri} SIP/2.0\r\nVia: SIP/2.0/UDP {};branch=z9hG4bK{id}\r\nMax-Forwards: 70\r\nFrom: <sip:a@x>;tag=1\r\nTo: <{ruri}>\r\nCall-ID: {id}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
        from.addr()
    )
}

fn first_line(b: &[u8]) -> String {
    String::from_utf8_lossy(b)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn naptr_srv_a_priority_and_cache() {
    let uas = Ua::bind("127.0.0.3");
    let backup = Ua::bind("127.0.0.3");
    let zone = vec![
        Rec::Naptr("example.test", 10, 50, "SIP+D2U", "_sip._udp.example.test"),
        // Priority 10 wins over 20, whatever the weights.
        Rec::Srv(
            "_sip._udp.example.test",
            20,
            100,
            backup.addr().port(),
            "backup.example.test",
        ),
        Rec::Srv(
            "_sip._udp.example.test",
            10,
            1,
            uas.addr().port(),
            "sip1.example.test",
        ),
        Rec::A("sip1.example.test", LOCAL),
        Rec::A("backup.example.test", LOCAL),
    ];
    let dns = DnsServer::start(zone, Mode::Answer);
    let (_d, a) = daemon(&dns, &[]);
    let uac = Ua::bind("127.0.0.1");
    uac.send_to(options("sip:bob@example.test", &uac, "d1").as_bytes(), a);
    let (got, _) = uas.recv().expect("forwarded by NAPTR -> SRV -> A");
    assert!(first_line(&got).starts_with("OPTIONS sip:bob@example.test "));
    backup.expect_nothing(100);
    let asked: Vec<u16> = dns.queries().iter().map(|q| q.1).collect();
    assert_eq!(asked, vec![35, 33, 1], "NAPTR, SRV, A: {:?}", dns.queries());

    // A second call is served from the cache: no new query.
    uac.send_to(options("sip:carol@example.test", &uac, "d2").as_bytes(), a);
    let (got, _) = uas.recv().expect("second call");
    assert!(first_line(&got).starts_with("OPTIONS sip:carol@example.test "));
    assert_eq!(dns.queries().len(), 3);
}

#[test]
fn ttl_expiry_queries_again() {
    let uas = Ua::bind("127.0.0.3");
    // 5 s is the shortest TTL the resolver keeps.
    let dns = DnsServer::start_ttl(vec![Rec::A("short.test", LOCAL)], Mode::Answer, 5);
    let (_d, a) = daemon(&dns, &[]);
    let uac = Ua::bind("127.0.0.1");
    let ruri = format!("sip:bob@short.test:{}", uas.addr().port());
    uac.send_to(options(&ruri, &uac, "t1").as_bytes(), a);
    uas.recv().expect("first");
    assert_eq!(
        dns.queries(),
        vec![("short.test".to_string(), 1)],
        "an explicit port: A only"
    );
    std::thread::sleep(Duration::from_millis(5500));
    uac.send_to(options(&ruri, &uac, "t2").as_bytes(), a);
    uas.recv().expect("after the TTL");
    assert_eq!(dns.queries().len(), 2);
}

#[test]
fn nxdomain_is_404_and_a_silent_server_503() {
    let dns = DnsServer::start(vec![], Mode::Answer);
    let (_d, a) = daemon(&dns, &[]);
    let uac = Ua::bind("127.0.0.1");
    uac.send_to(
        options("sip:bob@nowhere.test:5060", &uac, "n1").as_bytes(),
        a,
    );
    let (r, _) = uac.recv().expect("an answer");
    assert_eq!(first_line(&r), "SIP/2.0 404 Not Found");

    let silent = DnsServer::start(vec![], Mode::Silent);
    let (_d2, a2) = daemon(&silent, &[]);
    let started = Instant::now();
    uac.send_to(
        options("sip:bob@quiet.test:5060", &uac, "s1").as_bytes(),
        a2,
    );
    let r = uac.recv_within_ms(15_000).expect("503 after the timeout");
    assert_eq!(first_line(&r.0), "SIP/2.0 503 Service Unavailable");
    assert!(!String::from_utf8_lossy(&r.0).contains("Retry-After"));
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    // One query and exactly one retransmission.
    assert_eq!(silent.queries().len(), 2, "{:?}", silent.queries());
}

#[test]
fn a_spoofed_answer_is_ignored() {
    let dns = DnsServer::start(vec![Rec::A("spoof.test", LOCAL)], Mode::WrongId);
    let (_d, a) = daemon(&dns, &[]);
    let uac = Ua::bind("127.0.0.1");
    uac.send_to(options("sip:bob@spoof.test:5090", &uac, "x1").as_bytes(), a);
    let r = uac
        .recv_within_ms(15_000)
        .expect("503: the only answers had the wrong ID");
    assert_eq!(first_line(&r.0), "SIP/2.0 503 Service Unavailable");
}

#[test]
fn route_beats_upstream_and_upstream_beats_the_request_uri() {
    let dns = DnsServer::start(vec![], Mode::Answer);
    let routed = Ua::bind("127.0.0.3");
    let upstream = Ua::bind("127.0.0.4");
    let direct = Ua::bind("127.0.0.5");
    let route = format!("*.corp.test={}", routed.addr());
    let up = format!("sip:{}", upstream.addr());
    let (_d, a) = daemon(&dns, &["--route", &route, "--upstream", &up]);
    let uac = Ua::bind("127.0.0.1");
    // A domain with a route: the route.
    uac.send_to(options("sip:bob@pbx.corp.test", &uac, "r1").as_bytes(), a);
    assert!(
        first_line(&routed.recv().expect("routed").0).starts_with("OPTIONS sip:bob@pbx.corp.test")
    );
    // Anything else goes to the upstream proxy, even an IP literal.
    let ruri = format!("sip:bob@{}", direct.addr());
    uac.send_to(options(&ruri, &uac, "r2").as_bytes(), a);
    assert!(
        first_line(&upstream.recv().expect("upstream").0).starts_with(&format!("OPTIONS {ruri}"))
    );
    direct.expect_nothing(100);
    // A next hop from a Route header is not replaced.
    let msg = options(&ruri, &uac, "r3").replace(
        "Max-Forwards",
        &format!("Route: <sip:{};lr>\r\nMax-Forwards", direct.addr()),
    );
    uac.send_to(msg.as_bytes(), a);
    direct.recv().expect("the Route wins over --upstream");
    assert!(dns.queries().is_empty(), "no name needed a lookup");
}

#[test]
fn the_loop_stays_responsive_while_lookups_wait() {
    let silent = DnsServer::start(vec![], Mode::Silent);
    let (_d, a) = daemon(&silent, &[]);
    let uac = Ua::bind("127.0.0.1");
    for i in 0..100 {
        uac.send_to(
            options(
                &format!("sip:u{i}@wait{i}.test:5060"),
                &uac,
                &format!("w{i}"),
            )
            .as_bytes(),
            a,
        );
    }
    let uas = Ua::bind("127.0.0.3");
    let started = Instant::now();
    uac.send_to(
        options(&format!("sip:bob@{}", uas.addr()), &uac, "now").as_bytes(),
        a,
    );
    let (got, _) = uas
        .recv()
        .expect("an IP-literal request is forwarded at once");
    assert!(first_line(&got).starts_with("OPTIONS sip:bob@"));
    assert!(
        started.elapsed() < common::scaled(1000),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_retransmitted_request_waits_only_once() {
    let silent = DnsServer::start(vec![], Mode::Silent);
    let (_d, a) = daemon(&silent, &[]);
    let uac = Ua::bind("127.0.0.1");
    let msg = options("sip:bob@slow.test:5060", &uac, "rt1");
    for _ in 0..3 {
        uac.send_to(msg.as_bytes(), a);
    }
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(silent.queries().len(), 1, "{:?}", silent.queries());
    // It is answered once when the lookup gives up.
    let r = uac.recv_within_ms(15_000).expect("503");
    assert_eq!(first_line(&r.0), "SIP/2.0 503 Service Unavailable");
    uac.expect_nothing(300);
}
