//! The resolver against a fake DNS server driven by the test: every query
//! it writes is parsed, answered from a small zone (or not), and the clock
//! moves by hand.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::*;
use crate::dns::{select_srv, SrvChoice};

/// What a NAPTR or SRV lookup names for SIP over UDP.
const UDP: Option<Transport> = Some(Transport::Udp);

const A: u16 = 1;
const CNAME: u16 = 5;
const AAAA: u16 = 28;
const SRV: u16 = 33;
const NAPTR: u16 = 35;

fn server() -> SocketAddr {
    "192.0.2.53:53".parse().unwrap()
}

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn v4(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

// ---- the fake server: a zone, a query parser and an answer builder ----

#[derive(Clone, Debug)]
enum Rd {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    Cname(&'static str),
    /// priority, weight, port, target
    Srv(u16, u16, u16, &'static str),
    /// order, preference, flags, services, replacement
    Naptr(u16, u16, &'static str, &'static str, &'static str),
}

impl Rd {
    fn rtype(&self) -> u16 {
        match self {
            Rd::A(_) => A,
            Rd::Aaaa(_) => AAAA,
            Rd::Cname(_) => CNAME,
            Rd::Srv(..) => SRV,
            Rd::Naptr(..) => NAPTR,
        }
    }
}

#[derive(Clone, Debug)]
struct Rr {
    owner: &'static str,
    ttl: u32,
    rd: Rd,
}

fn rr(owner: &'static str, ttl: u32, rd: Rd) -> Rr {
    Rr { owner, ttl, rd }
}

fn a(owner: &'static str, ttl: u32, ip: &str) -> Rr {
    rr(owner, ttl, Rd::A(v4(ip)))
}

fn srv(owner: &'static str, prio: u16, weight: u16, port: u16, target: &'static str) -> Rr {
    rr(owner, 600, Rd::Srv(prio, weight, port, target))
}

fn naptr(owner: &'static str, order: u16, service: &'static str, repl: &'static str) -> Rr {
    rr(owner, 3600, Rd::Naptr(order, 50, "s", service, repl))
}

struct Zone {
    rrs: Vec<Rr>,
    /// Put SRVs for NAPTR replacements and addresses for SRV targets in the
    /// additional section, as real servers do.
    glue: bool,
    /// SOA MINIMUM (and TTL) in negative answers.
    soa_min: u32,
    /// Answer everything with this RCODE.
    rcode: Option<u16>,
}

impl Zone {
    fn new(rrs: Vec<Rr>) -> Zone {
        Zone {
            rrs,
            glue: false,
            soa_min: 60,
            rcode: None,
        }
    }

    fn find(&self, owner: &str, rtype: u16) -> Vec<Rr> {
        self.rrs
            .iter()
            .filter(|r| r.owner.eq_ignore_ascii_case(owner) && r.rd.rtype() == rtype)
            .cloned()
            .collect()
    }

    fn exists(&self, owner: &str) -> bool {
        self.rrs.iter().any(|r| r.owner.eq_ignore_ascii_case(owner))
    }

    fn addresses(&self, owner: &str, out: &mut Vec<Rr>) {
        out.extend(self.find(owner, A));
        out.extend(self.find(owner, AAAA));
    }

    /// The answer to `query`, as a recursive server would give it.
    fn reply(&self, query: &[u8]) -> Vec<u8> {
        let q = Question::parse(query);
        if let Some(rcode) = self.rcode {
            return packet(&q, query, rcode, &[], None, &[]);
        }
        let mut an = Vec::new();
        let mut cur = q.name.clone();
        for _ in 0..8 {
            let hits = self.find(&cur, q.qtype);
            if !hits.is_empty() {
                an.extend(hits);
                break;
            }
            match self.find(&cur, CNAME).first() {
                Some(
                    c @ Rr {
                        rd: Rd::Cname(t), ..
                    },
                ) => {
                    cur = t.to_string();
                    an.push(c.clone());
                }
                _ => break,
            }
        }
        let found = an.iter().any(|r| r.rd.rtype() == q.qtype);
        let rcode = if found || self.exists(&q.name) { 0 } else { 3 };
        let mut ar = Vec::new();
        if self.glue {
            for r in &an {
                match r.rd {
                    Rd::Naptr(.., repl) => {
                        for s in self.find(repl, SRV) {
                            if let Rd::Srv(.., t) = s.rd {
                                self.addresses(t, &mut ar);
                            }
                            ar.push(s);
                        }
                    }
                    Rd::Srv(.., t) => self.addresses(t, &mut ar),
                    _ => {}
                }
            }
        }
        let soa = (!found).then_some(self.soa_min);
        packet(&q, query, rcode, &an, soa, &ar)
    }
}

#[derive(Clone, Debug)]
struct Question {
    id: u16,
    name: String,
    qtype: u16,
    /// Offset just past the question.
    end: usize,
}

impl Question {
    fn parse(pkt: &[u8]) -> Question {
        let id = u16::from_be_bytes([pkt[0], pkt[1]]);
        let mut pos = 12;
        let mut labels = Vec::new();
        loop {
            let len = usize::from(pkt[pos]);
            pos += 1;
            if len == 0 {
                break;
            }
            labels.push(String::from_utf8(pkt[pos..pos + len].to_vec()).unwrap());
            pos += len;
        }
        let qtype = u16::from_be_bytes([pkt[pos], pkt[pos + 1]]);
        Question {
            id,
            name: labels.join("."),
            qtype,
            end: pos + 4,
        }
    }
}

fn name_wire(out: &mut Vec<u8>, name: &str) {
    for label in name.split('.').filter(|l| !l.is_empty()) {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
}

fn record(out: &mut Vec<u8>, owner: &str, rtype: u16, ttl: u32, rdata: &[u8]) {
    name_wire(out, owner);
    out.extend_from_slice(&rtype.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&ttl.to_be_bytes());
    out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    out.extend_from_slice(rdata);
}

fn rdata(rd: &Rd) -> Vec<u8> {
    let mut d = Vec::new();
    match rd {
        Rd::A(ip) => d.extend_from_slice(&ip.octets()),
        Rd::Aaaa(ip) => d.extend_from_slice(&ip.octets()),
        Rd::Cname(t) => name_wire(&mut d, t),
        Rd::Srv(p, w, port, t) => {
            for x in [p, w, port] {
                d.extend_from_slice(&x.to_be_bytes());
            }
            name_wire(&mut d, t);
        }
        Rd::Naptr(order, pref, flags, svc, repl) => {
            d.extend_from_slice(&order.to_be_bytes());
            d.extend_from_slice(&pref.to_be_bytes());
            for s in [flags, svc, &""] {
                d.push(s.len() as u8);
                d.extend_from_slice(s.as_bytes());
            }
            name_wire(&mut d, repl);
        }
    }
    d
}

/// A response to `q`: header, the query's own question, then the records
/// (uncompressed), an SOA in the authority section if `soa` is given.
fn packet(
    q: &Question,
    query: &[u8],
    rcode: u16,
    an: &[Rr],
    soa: Option<u32>,
    ar: &[Rr],
) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend_from_slice(&q.id.to_be_bytes());
    p.extend_from_slice(&(0x8180 | rcode).to_be_bytes());
    let ns = u16::from(soa.is_some());
    for n in [1, an.len() as u16, ns, ar.len() as u16] {
        p.extend_from_slice(&n.to_be_bytes());
    }
    p.extend_from_slice(&query[12..q.end]);
    for r in an {
        record(&mut p, r.owner, r.rd.rtype(), r.ttl, &rdata(&r.rd));
    }
    if let Some(min) = soa {
        let mut d = Vec::new();
        name_wire(&mut d, "ns.test");
        name_wire(&mut d, "hostmaster.test");
        for x in [1u32, 7200, 900, 86400, min] {
            d.extend_from_slice(&x.to_be_bytes());
        }
        record(&mut p, "test", 6, min, &d);
    }
    for r in ar {
        record(&mut p, r.owner, r.rd.rtype(), r.ttl, &rdata(&r.rd));
    }
    p
}

// ---- the harness: a resolver, a fake clock and what was sent ----

#[derive(Clone, Debug)]
struct Sent {
    sock: usize,
    at: Instant,
    pkt: Vec<u8>,
    q: Question,
}

impl Sent {
    fn key(&self) -> (String, u16) {
        (self.q.name.clone(), self.q.qtype)
    }
}

struct Net {
    r: Resolver,
    now: Instant,
}

fn cfg(cache: usize, pending: usize) -> ResolverConfig {
    ResolverConfig {
        server: server(),
        cache,
        pending,
        sockets: 8,
        hosts: Vec::new(),
    }
}

impl Net {
    fn new() -> Net {
        Net::with(cfg(128, 16))
    }

    fn with(cfg: ResolverConfig) -> Net {
        Net {
            r: Resolver::new(cfg, 42),
            now: Instant::from_secs(1000),
        }
    }

    fn resolve(&mut self, host: &str, port: Option<u16>, hash: u32) -> Resolution {
        self.r.resolve(
            self.now,
            host.as_bytes(),
            port,
            hash,
            Reach::udp(true, false),
        )
    }

    fn sent(&mut self) -> Vec<Sent> {
        let mut out = Vec::new();
        let mut buf = [0u8; 512];
        while let Some((sock, dst, len)) = self.r.poll_query(&mut buf) {
            assert_eq!(dst, server());
            assert!(sock < 8);
            let pkt = buf[..len].to_vec();
            let q = Question::parse(&pkt);
            out.push(Sent {
                sock,
                at: self.now,
                pkt,
                q,
            });
        }
        out
    }

    fn answer(&mut self, s: &Sent, pkt: &[u8]) {
        self.r.handle_answer(self.now, s.sock, server(), pkt);
    }

    /// Answers every query from `zone` until none is left; returns the
    /// questions asked, in order.
    fn serve(&mut self, zone: &Zone) -> Vec<(String, u16)> {
        let mut asked = Vec::new();
        loop {
            let sent = self.sent();
            if sent.is_empty() {
                return asked;
            }
            for s in sent {
                asked.push(s.key());
                self.answer(&s, &zone.reply(&s.pkt));
            }
            assert!(asked.len() < 100, "looping: {asked:?}");
        }
    }

    fn done(&mut self) -> Vec<(Ticket, Resolution)> {
        std::iter::from_fn(|| self.r.poll_done()).collect()
    }

    /// Moves the clock to `t`, firing every timer on the way; returns what
    /// was sent meanwhile.
    fn run_until(&mut self, t: Instant) -> Vec<Sent> {
        let mut sent = Vec::new();
        while let Some(due) = self.r.poll_timeout().filter(|&d| d <= t) {
            self.now = self.now.max(due);
            self.r.handle_timeout(self.now);
            sent.extend(self.sent());
        }
        self.now = t;
        sent
    }

    fn later(&self, ms: u64) -> Instant {
        Instant(self.now.0 + ms)
    }

    /// Resolves with `zone` answering; the single final result.
    fn resolve_served(
        &mut self,
        host: &str,
        port: Option<u16>,
        hash: u32,
        zone: &Zone,
    ) -> Resolution {
        match self.resolve(host, port, hash) {
            Resolution::Pending(t) => {
                self.serve(zone);
                let done = self.done();
                assert_eq!(done.len(), 1, "{done:?}");
                assert_eq!(done[0].0, t);
                done[0].1
            }
            other => other,
        }
    }
}

fn asked(list: &[(&str, u16)]) -> Vec<(String, u16)> {
    list.iter().map(|(n, t)| (n.to_string(), *t)).collect()
}

fn pending(l: Resolution) -> Ticket {
    match l {
        Resolution::Pending(t) => t,
        other => panic!("expected Pending, got {other:?}"),
    }
}

fn sip_zone() -> Zone {
    Zone::new(vec![
        naptr("example.test", 10, "SIP+D2U", "_sip._udp.sip.provider.test"),
        naptr("example.test", 5, "SIP+D2T", "_sip._tcp.sip.provider.test"),
        srv(
            "_sip._udp.sip.provider.test",
            0,
            0,
            5070,
            "pbx.provider.test",
        ),
        srv(
            "_sip._tcp.sip.provider.test",
            0,
            0,
            5070,
            "tcp.provider.test",
        ),
        a("pbx.provider.test", 300, "192.0.2.20"),
    ])
}

// ---- RFC 3263 steps ----

#[test]
fn naptr_srv_a_chain() {
    let mut net = Net::new();
    let zone = sip_zone();
    let t = pending(net.resolve("Example.TEST.", None, 7));
    assert_eq!(net.done(), []);
    // The D2U NAPTR's replacement is used as is, not _sip._udp.<host>.
    assert_eq!(
        net.serve(&zone),
        asked(&[
            ("example.test", NAPTR),
            ("_sip._udp.sip.provider.test", SRV),
            ("pbx.provider.test", A),
        ])
    );
    assert_eq!(
        net.done(),
        [(t, Resolution::Ready(sa("192.0.2.20:5070"), UDP))]
    );
    assert_eq!(net.done(), []);
    let s = net.r.stats().clone();
    assert_eq!((s.queries_sent, s.answers, s.cache_misses), (3, 3, 1));
    // Now all cached: ready at once, nothing sent.
    assert_eq!(
        net.resolve("example.test", None, 99),
        Resolution::Ready(sa("192.0.2.20:5070"), UDP)
    );
    assert!(net.sent().is_empty());
    assert_eq!(net.r.stats().cache_hits, 1);
}

#[test]
fn additional_section_fills_the_cache() {
    let mut net = Net::new();
    let mut zone = sip_zone();
    zone.glue = true;
    pending(net.resolve("example.test", None, 7));
    // SRV and A came with the NAPTR answer.
    assert_eq!(net.serve(&zone), asked(&[("example.test", NAPTR)]));
    assert_eq!(
        net.done()[0].1,
        Resolution::Ready(sa("192.0.2.20:5070"), UDP)
    );
    // Glue for names the answer does not point at is not taken.
    pending(net.resolve("c.test", Some(5060), 0));
    let s = net.sent().remove(0);
    let evil = [
        a("c.test", 300, "192.0.2.31"),
        a("pbx.b.test", 300, "203.0.113.66"),
    ];
    net.answer(&s, &packet(&s.q, &s.pkt, 0, &evil[..1], None, &evil[1..]));
    assert_eq!(
        net.done()[0].1,
        Resolution::Ready(sa("192.0.2.31:5060"), None)
    );
    pending(net.resolve("pbx.b.test", Some(5060), 0));
}

#[test]
fn explicit_port_queries_a_only() {
    let mut net = Net::new();
    let zone = sip_zone();
    pending(net.resolve("pbx.provider.test", Some(5080), 0));
    assert_eq!(net.serve(&zone), asked(&[("pbx.provider.test", A)]));
    assert_eq!(
        net.done()[0].1,
        Resolution::Ready(sa("192.0.2.20:5080"), None)
    );
}

#[test]
fn no_usable_naptr_uses_sip_udp_srv() {
    // Only a TCP NAPTR: as if there were none.
    let zone = Zone::new(vec![
        naptr("example.test", 10, "SIP+D2T", "_sip._tcp.example.test"),
        srv("_sip._udp.example.test", 0, 0, 5062, "sip.example.test"),
        a("sip.example.test", 300, "192.0.2.40"),
    ]);
    let mut net = Net::new();
    pending(net.resolve("example.test", None, 0));
    assert_eq!(
        net.serve(&zone),
        asked(&[
            ("example.test", NAPTR),
            ("_sip._udp.example.test", SRV),
            ("sip.example.test", A),
        ])
    );
    assert_eq!(
        net.done()[0].1,
        Resolution::Ready(sa("192.0.2.40:5062"), UDP)
    );
    // No NAPTR at all (NODATA): the same path.
    let zone = Zone::new(vec![
        a("other.test", 300, "192.0.2.41"),
        srv("_sip._udp.other.test", 0, 0, 5062, "sip.example.test"),
        a("sip.example.test", 300, "192.0.2.40"),
    ]);
    pending(net.resolve("other.test", None, 0));
    assert_eq!(
        net.serve(&zone),
        asked(&[("other.test", NAPTR), ("_sip._udp.other.test", SRV)])
    );
    assert_eq!(
        net.done()[0].1,
        Resolution::Ready(sa("192.0.2.40:5062"), UDP)
    );
}

/// What a NAPTR or SRV lookup names for SIP over TCP.
const TCP: Option<Transport> = Some(Transport::Tcp);

fn tcp_reach() -> Reach {
    Reach {
        tcp: true,
        ..Reach::udp(true, false)
    }
}

#[test]
fn naptr_order_picks_tcp_when_we_have_a_tcp_leg() {
    // sip_zone's D2T has the lower order: with a TCP leg it wins.
    let mut zone = sip_zone();
    zone.rrs.push(a("tcp.provider.test", 300, "192.0.2.21"));
    let mut net = Net::new();
    let now = net.now;
    pending(net.r.resolve(now, b"example.test", None, 7, tcp_reach()));
    assert_eq!(
        net.serve(&zone),
        asked(&[
            ("example.test", NAPTR),
            ("_sip._tcp.sip.provider.test", SRV),
            ("tcp.provider.test", A),
        ])
    );
    assert_eq!(
        net.done()[0].1,
        Resolution::Ready(sa("192.0.2.21:5070"), TCP)
    );
    // From the same cache, a proxy without TCP takes the D2U record.
    pending(net.resolve("example.test", None, 7));
    net.serve(&zone);
    assert_eq!(
        net.done()[0].1,
        Resolution::Ready(sa("192.0.2.20:5070"), UDP)
    );
    // A TCP-only proxy never asks for the UDP SRV.
    let tcp_only = Reach {
        udp: false,
        ..tcp_reach()
    };
    assert_eq!(
        net.r.resolve(now, b"example.test", None, 7, tcp_only),
        Resolution::Ready(sa("192.0.2.21:5070"), TCP)
    );
}

#[test]
fn without_naptr_tcp_srv_follows_udp_srv() {
    // RFC 3263 §4.1: no NAPTR, so an SRV query per transport we have,
    // UDP first; only _sip._tcp exists.
    let zone = Zone::new(vec![
        srv("_sip._tcp.t.test", 0, 0, 5090, "edge.t.test"),
        a("edge.t.test", 300, "192.0.2.42"),
    ]);
    let mut net = Net::new();
    let now = net.now;
    pending(net.r.resolve(now, b"t.test", None, 0, tcp_reach()));
    assert_eq!(
        net.serve(&zone),
        asked(&[
            ("t.test", NAPTR),
            ("_sip._udp.t.test", SRV),
            ("_sip._tcp.t.test", SRV),
            ("edge.t.test", A),
        ])
    );
    assert_eq!(
        net.done()[0].1,
        Resolution::Ready(sa("192.0.2.42:5090"), TCP)
    );
    // Without a TCP leg the same name has no SRV for us: A on 5060.
    let zone = Zone::new(vec![
        srv("_sip._tcp.u.test", 0, 0, 5090, "edge.t.test"),
        a("u.test", 300, "192.0.2.43"),
    ]);
    pending(net.resolve("u.test", None, 0));
    assert_eq!(
        net.serve(&zone),
        asked(&[("u.test", NAPTR), ("_sip._udp.u.test", SRV), ("u.test", A)])
    );
    assert_eq!(
        net.done()[0].1,
        Resolution::Ready(sa("192.0.2.43:5060"), None)
    );
}

#[test]
fn a_transport_in_the_uri_asks_its_srv_alone() {
    // `;transport=tcp`: no NAPTR, _sip._tcp only (RFC 3263 §4.1).
    let mut zone = sip_zone();
    zone.rrs.push(srv(
        "_sip._tcp.example.test",
        0,
        0,
        5071,
        "tcp.provider.test",
    ));
    zone.rrs.push(a("tcp.provider.test", 300, "192.0.2.21"));
    let mut net = Net::new();
    let now = net.now;
    let uri_tcp = Reach {
        transport: Some(Transport::Tcp),
        ..tcp_reach()
    };
    pending(net.r.resolve(now, b"example.test", None, 0, uri_tcp));
    assert_eq!(
        net.serve(&zone),
        asked(&[("_sip._tcp.example.test", SRV), ("tcp.provider.test", A)])
    );
    assert_eq!(
        net.done()[0].1,
        Resolution::Ready(sa("192.0.2.21:5071"), TCP)
    );
}

#[test]
fn no_srv_falls_back_to_a_on_5060() {
    let zone = Zone::new(vec![a("plain.test", 300, "192.0.2.50")]);
    let mut net = Net::new();
    pending(net.resolve("plain.test", None, 0));
    assert_eq!(
        net.serve(&zone),
        asked(&[
            ("plain.test", NAPTR),
            ("_sip._udp.plain.test", SRV),
            ("plain.test", A),
        ])
    );
    assert_eq!(
        net.done()[0].1,
        Resolution::Ready(sa("192.0.2.50:5060"), None)
    );
    // NAPTRs whose SRVs all come up empty fall back the same way.
    let zone = Zone::new(vec![
        naptr("n.test", 10, "SIP+D2U", "_sip._udp.gone.test"),
        a("n.test", 300, "192.0.2.51"),
    ]);
    pending(net.resolve("n.test", None, 0));
    assert_eq!(
        net.serve(&zone),
        asked(&[
            ("n.test", NAPTR),
            ("_sip._udp.gone.test", SRV),
            ("n.test", A)
        ])
    );
    assert_eq!(
        net.done()[0].1,
        Resolution::Ready(sa("192.0.2.51:5060"), None)
    );
}

#[test]
fn cname_chain_followed_with_its_shortest_ttl() {
    let zone = Zone::new(vec![
        rr("www.example.test", 300, Rd::Cname("host.example.test")),
        a("host.example.test", 30, "192.0.2.80"),
    ]);
    let mut net = Net::new();
    let got = net.resolve_served("www.example.test", Some(5060), 0, &zone);
    assert_eq!(got, Resolution::Ready(sa("192.0.2.80:5060"), None));
    net.now = net.later(29_999);
    assert_eq!(net.resolve("www.example.test", Some(5060), 0), got);
    net.now = net.later(1);
    pending(net.resolve("www.example.test", Some(5060), 0));
}

// ---- SRV choice ----

fn weighted_zone(reversed: bool) -> Zone {
    let mut rrs = vec![
        srv("_sip._udp.w.test", 10, 60, 5060, "sip1.w.test"),
        srv("_sip._udp.w.test", 10, 40, 5070, "sip2.w.test"),
        srv("_sip._udp.w.test", 20, 100, 5080, "backup.w.test"),
        a("sip1.w.test", 300, "192.0.2.11"),
        a("sip2.w.test", 300, "192.0.2.12"),
        a("backup.w.test", 300, "192.0.2.13"),
        a("w.test", 300, "192.0.2.10"),
    ];
    if reversed {
        rrs.reverse();
    }
    let mut z = Zone::new(rrs);
    z.glue = true;
    z
}

#[test]
fn srv_priority_and_weight_deterministic_per_hash() {
    let mut nets = [Net::new(), Net::new()];
    for (i, net) in nets.iter_mut().enumerate() {
        let zone = weighted_zone(i == 1);
        let first = net.resolve_served("w.test", None, 0, &zone);
        assert_eq!(first, Resolution::Ready(sa("192.0.2.11:5060"), UDP));
    }
    let recs = [
        SrvChoice {
            priority: 10,
            weight: 60,
            port: 5060,
            target: b"sip1.w.test",
        },
        SrvChoice {
            priority: 10,
            weight: 40,
            port: 5070,
            target: b"sip2.w.test",
        },
        SrvChoice {
            priority: 20,
            weight: 100,
            port: 5080,
            target: b"backup.w.test",
        },
    ];
    let mut seen = [0; 2];
    for hash in (0..300).chain([u32::MAX, 0xDEAD_BEEF]) {
        let want = if hash % 100 < 60 {
            sa("192.0.2.11:5060")
        } else {
            sa("192.0.2.12:5070")
        };
        let got = nets[0].resolve("w.test", None, hash);
        assert_eq!(got, Resolution::Ready(want, UDP), "hash {hash}");
        // The server's record order does not matter, nor does asking again.
        assert_eq!(nets[1].resolve("w.test", None, hash), got);
        assert_eq!(nets[0].resolve("w.test", None, hash), got);
        assert_eq!(recs[select_srv(&recs, hash).unwrap()].port, want.port());
        seen[usize::from(want.port() == 5070)] += 1;
    }
    assert!(seen[0] > 0 && seen[1] > 0);
    for net in &mut nets {
        assert!(net.sent().is_empty());
    }
}

#[test]
fn srv_failover_to_next_target_then_priority() {
    // The priority-10 targets have no address: the backup is used.
    let zone = Zone::new(vec![
        a("f.test", 300, "192.0.2.10"),
        srv("_sip._udp.f.test", 10, 60, 5060, "sip1.f.test"),
        srv("_sip._udp.f.test", 10, 40, 5070, "sip2.f.test"),
        srv("_sip._udp.f.test", 20, 0, 5080, "backup.f.test"),
        a("backup.f.test", 300, "192.0.2.13"),
    ]);
    let mut net = Net::new();
    pending(net.resolve("f.test", None, 70));
    // Hash 70 picks sip2 first, then sip1 is all that is left in the group.
    assert_eq!(
        net.serve(&zone),
        asked(&[
            ("f.test", NAPTR),
            ("_sip._udp.f.test", SRV),
            ("sip2.f.test", A),
            ("sip1.f.test", A),
            ("backup.f.test", A),
        ])
    );
    assert_eq!(
        net.done()[0].1,
        Resolution::Ready(sa("192.0.2.13:5080"), UDP)
    );
    // Every hash now lands on the backup, from the cache.
    for hash in 0..20 {
        assert_eq!(
            net.resolve("f.test", None, hash),
            Resolution::Ready(sa("192.0.2.13:5080"), UDP)
        );
    }
    // SRV records exist but none reachable: no fallback to the A record.
    let zone = Zone::new(vec![
        a("g.test", 300, "192.0.2.10"),
        srv("_sip._udp.g.test", 10, 0, 5060, "nowhere.g.test"),
    ]);
    assert_eq!(
        net.resolve_served("g.test", None, 0, &zone),
        Resolution::Failed(Failure::Unavailable)
    );
    // "." means the service is decidedly not offered.
    let zone = Zone::new(vec![
        a("h.test", 300, "192.0.2.10"),
        srv("_sip._udp.h.test", 0, 0, 0, "."),
    ]);
    assert_eq!(
        net.resolve_served("h.test", None, 0, &zone),
        Resolution::Failed(Failure::Unavailable)
    );
}

#[test]
fn several_addresses_picked_by_hash_in_sorted_order() {
    let zone = |rev: bool| {
        let mut rrs = vec![
            a("m.test", 300, "192.0.2.3"),
            a("m.test", 300, "192.0.2.1"),
            a("m.test", 300, "192.0.2.2"),
        ];
        if rev {
            rrs.reverse();
        }
        Zone::new(rrs)
    };
    let mut one = Net::new();
    let mut two = Net::new();
    one.resolve_served("m.test", Some(5060), 0, &zone(false));
    two.resolve_served("m.test", Some(5060), 0, &zone(true));
    let mut seen = std::collections::HashSet::new();
    for hash in 0..50u32 {
        let got = one.resolve("m.test", Some(5060), hash);
        assert_eq!(two.resolve("m.test", Some(5060), hash), got);
        seen.insert(got);
    }
    assert_eq!(seen.len(), 3);
}

// ---- families ----

#[test]
fn aaaa_only_without_v4_legs() {
    let zone = Zone::new(vec![
        a("d.test", 300, "192.0.2.60"),
        rr("d.test", 300, Rd::Aaaa("2001:db8::60".parse().unwrap())),
        rr("six.test", 300, Rd::Aaaa("2001:db8::61".parse().unwrap())),
    ]);
    let mut net = Net::new();
    let now = net.now;
    pending(
        net.r
            .resolve(now, b"d.test", Some(5060), 0, Reach::udp(false, true)),
    );
    assert_eq!(net.serve(&zone), asked(&[("d.test", AAAA)]));
    assert_eq!(
        net.done()[0].1,
        Resolution::Ready(sa("[2001:db8::60]:5060"), None)
    );
    // Both families: A first, and AAAA not asked when A answers.
    pending(
        net.r
            .resolve(now, b"d.test", Some(5060), 0, Reach::udp(true, true)),
    );
    assert_eq!(net.serve(&zone), asked(&[("d.test", A)]));
    assert_eq!(
        net.done()[0].1,
        Resolution::Ready(sa("192.0.2.60:5060"), None)
    );
    // Both families, no A (NODATA): AAAA next.
    pending(
        net.r
            .resolve(now, b"six.test", Some(5060), 0, Reach::udp(true, true)),
    );
    assert_eq!(
        net.serve(&zone),
        asked(&[("six.test", A), ("six.test", AAAA)])
    );
    assert_eq!(
        net.done()[0].1,
        Resolution::Ready(sa("[2001:db8::61]:5060"), None)
    );
    // v4 only, name with only AAAA: no usable record.
    assert_eq!(
        net.r
            .resolve(now, b"six.test", Some(5060), 0, Reach::udp(true, false)),
        Resolution::Failed(Failure::Unavailable)
    );
    // No legs at all.
    assert_eq!(
        net.r
            .resolve(now, b"d.test", Some(5060), 0, Reach::udp(false, false)),
        Resolution::Failed(Failure::Unavailable)
    );
}

// ---- cache ----

#[test]
fn cache_hit_then_ttl_expiry() {
    let zone = Zone::new(vec![a("t.test", 30, "192.0.2.70")]);
    let mut net = Net::new();
    let got = net.resolve_served("t.test", Some(5060), 0, &zone);
    assert_eq!(got, Resolution::Ready(sa("192.0.2.70:5060"), None));
    let start = net.now;
    net.now = net.later(29_999);
    assert_eq!(net.resolve("T.Test", Some(5060), 0), got);
    assert!(net.sent().is_empty());
    net.now = Instant(start.0 + 30_000);
    pending(net.resolve("t.test", Some(5060), 0));
    assert_eq!(net.serve(&zone), asked(&[("t.test", A)]));
    assert_eq!(net.done()[0].1, got);
    // A zero TTL is held for 5 s.
    let zone = Zone::new(vec![a("z.test", 0, "192.0.2.71")]);
    net.resolve_served("z.test", Some(5060), 0, &zone);
    net.now = net.later(4_999);
    assert!(matches!(
        net.resolve("z.test", Some(5060), 0),
        Resolution::Ready(..)
    ));
    net.now = net.later(1);
    pending(net.resolve("z.test", Some(5060), 0));
}

#[test]
fn negative_answers_cached_for_the_soa_minimum() {
    let mut zone = Zone::new(vec![rr("v6only.test", 300, Rd::Aaaa(Ipv6Addr::LOCALHOST))]);
    zone.soa_min = 60;
    let mut net = Net::new();
    assert_eq!(
        net.resolve_served("nope.test", Some(5060), 0, &zone),
        Resolution::Failed(Failure::NxDomain)
    );
    assert_eq!(
        net.resolve_served("v6only.test", Some(5060), 0, &zone),
        Resolution::Failed(Failure::Unavailable)
    );
    let start = net.now;
    net.now = net.later(59_999);
    assert_eq!(
        net.resolve("nope.test", Some(5060), 0),
        Resolution::Failed(Failure::NxDomain)
    );
    assert_eq!(
        net.resolve("v6only.test", Some(5060), 0),
        Resolution::Failed(Failure::Unavailable)
    );
    assert!(net.sent().is_empty());
    net.now = Instant(start.0 + 60_000);
    pending(net.resolve("nope.test", Some(5060), 0));
    pending(net.resolve("v6only.test", Some(5060), 0));
    // An SOA minimum of a week is clamped to a day.
    zone.soa_min = 7 * 86_400;
    net.serve(&zone);
    net.done();
    net.now = net.later(86_400_000 - 1);
    assert_eq!(
        net.resolve("nope.test", Some(5060), 0),
        Resolution::Failed(Failure::NxDomain)
    );
    net.now = net.later(1);
    pending(net.resolve("nope.test", Some(5060), 0));
}

#[test]
fn nxdomain_through_the_whole_chain() {
    let zone = Zone::new(vec![]);
    let mut net = Net::new();
    pending(net.resolve("nope.test", None, 0));
    // NXDOMAIN on NAPTR and SRV only moves on; on the last A it is final.
    assert_eq!(
        net.serve(&zone),
        asked(&[
            ("nope.test", NAPTR),
            ("_sip._udp.nope.test", SRV),
            ("nope.test", A),
        ])
    );
    assert_eq!(net.done()[0].1, Resolution::Failed(Failure::NxDomain));
    assert_eq!(
        net.resolve("nope.test", None, 0),
        Resolution::Failed(Failure::NxDomain)
    );
    // Not a domain name at all.
    assert_eq!(
        net.resolve("a..b", None, 0),
        Resolution::Failed(Failure::NxDomain)
    );
}

#[test]
fn full_cache_evicts_soonest_expiry() {
    let zone = Zone::new(vec![
        a("a.test", 100, "192.0.2.1"),
        a("b.test", 50, "192.0.2.2"),
        a("c.test", 300, "192.0.2.3"),
        a("d.test", 200, "192.0.2.4"),
        a("e.test", 400, "192.0.2.5"),
    ]);
    let mut net = Net::with(cfg(4, 4));
    for h in ["a.test", "b.test", "c.test", "d.test", "e.test"] {
        net.resolve_served(h, Some(1), 0, &zone);
    }
    assert_eq!(net.r.stats().evictions, 1);
    // b (50 s) went; the others are still cached.
    for h in ["a.test", "c.test", "d.test", "e.test"] {
        assert!(
            matches!(net.resolve(h, Some(1), 0), Resolution::Ready(..)),
            "{h}"
        );
    }
    pending(net.resolve("b.test", Some(1), 0));
}

#[test]
fn answers_usable_when_every_cache_slot_is_pinned() {
    // Two chains waiting for their A answers pin NAPTR and SRV entries:
    // the 4-entry cache is full of pins, yet both finish.
    let zone = Zone::new(vec![
        srv("_sip._udp.p.test", 0, 0, 5060, "sip.p.test"),
        srv("_sip._udp.q.test", 0, 0, 5060, "sip.q.test"),
        a("sip.p.test", 300, "192.0.2.91"),
        a("sip.q.test", 300, "192.0.2.92"),
        a("p.test", 1, "192.0.2.1"),
        a("q.test", 1, "192.0.2.1"),
    ]);
    let mut net = Net::with(cfg(4, 4));
    let tp = pending(net.resolve("p.test", None, 0));
    let tq = pending(net.resolve("q.test", None, 0));
    net.serve(&zone);
    let mut done = net.done();
    done.sort_by_key(|d| d.0.index());
    assert_eq!(
        done,
        [
            (tp, Resolution::Ready(sa("192.0.2.91:5060"), UDP)),
            (tq, Resolution::Ready(sa("192.0.2.92:5060"), UDP)),
        ]
    );
}

#[test]
fn pins_keep_a_chain_from_thrashing() {
    // A chain whose answers expire sooner than everything else in a full
    // cache: unpinned, each answer would evict the one before it and the
    // chain would re-ask forever. Pinned, it asks each question once.
    let zone = Zone::new(vec![
        a("r.test", 5, "192.0.2.1"),
        srv("_sip._udp.r.test", 0, 0, 5060, "sip.r.test"),
        a("sip.r.test", 5, "192.0.2.93"),
        a("l1.test", 3600, "192.0.2.2"),
        a("l2.test", 3600, "192.0.2.3"),
        a("l3.test", 3600, "192.0.2.4"),
    ]);
    let zone = Zone {
        rrs: zone
            .rrs
            .into_iter()
            .map(|mut r| {
                if r.owner.contains("r.test") {
                    r.ttl = 5;
                }
                r
            })
            .collect(),
        soa_min: 5,
        ..zone
    };
    let mut net = Net::with(cfg(4, 8));
    let t = pending(net.resolve("r.test", None, 0));
    let naptr = net.sent().remove(0);
    net.answer(&naptr, &zone.reply(&naptr.pkt));
    let srv_query = net.sent().remove(0);
    assert_eq!(srv_query.key(), ("_sip._udp.r.test".to_string(), SRV));
    // Long-lived answers fill the rest of the cache meanwhile.
    for h in ["l1.test", "l2.test", "l3.test"] {
        pending(net.resolve(h, Some(1), 0));
    }
    assert_eq!(
        net.serve(&zone),
        asked(&[("l1.test", A), ("l2.test", A), ("l3.test", A)])
    );
    assert_eq!(net.done().len(), 3);
    // The SRV answer finds the cache full: a long-lived entry goes, not
    // the chain's NAPTR.
    net.answer(&srv_query, &zone.reply(&srv_query.pkt));
    assert_eq!(net.serve(&zone), asked(&[("sip.r.test", A)]));
    assert_eq!(
        net.done(),
        [(t, Resolution::Ready(sa("192.0.2.93:5060"), UDP))]
    );
}

// ---- /etc/hosts, literals, capacity ----

#[test]
fn hosts_file_answers_first() {
    let mut c = cfg(16, 4);
    c.hosts = vec![
        ("pbx.example.test".to_string(), IpAddr::V4(v4("192.0.2.10"))),
        (
            "six.example.test".to_string(),
            "2001:db8::10".parse().unwrap(),
        ),
    ];
    let mut net = Net::with(c);
    assert_eq!(
        net.resolve("PBX.Example.Test.", None, 0),
        Resolution::Ready(sa("192.0.2.10:5060"), None)
    );
    assert_eq!(
        net.resolve("pbx.example.test", Some(5080), 0),
        Resolution::Ready(sa("192.0.2.10:5080"), None)
    );
    assert!(net.sent().is_empty());
    // A v6 hosts entry is no use without v6 legs: DNS is asked.
    pending(net.resolve("six.example.test", Some(5060), 0));
    assert_eq!(net.sent().len(), 1);
    let now = net.now;
    assert_eq!(
        net.r
            .resolve(now, b"six.example.test", None, 0, Reach::udp(false, true)),
        Resolution::Ready(sa("[2001:db8::10]:5060"), None)
    );
    // An SRV target found in /etc/hosts needs no address query.
    let zone = Zone::new(vec![
        a("corp.test", 300, "192.0.2.1"),
        srv("_sip._udp.corp.test", 0, 0, 5066, "pbx.example.test"),
    ]);
    let t = pending(net.resolve("corp.test", None, 0));
    assert_eq!(
        net.serve(&zone),
        asked(&[("corp.test", NAPTR), ("_sip._udp.corp.test", SRV)])
    );
    assert_eq!(
        net.done(),
        [(t, Resolution::Ready(sa("192.0.2.10:5066"), UDP))]
    );
}

#[test]
fn ip_literals_answered_as_they_are() {
    let mut net = Net::new();
    assert_eq!(
        net.resolve("192.0.2.1", None, 0),
        Resolution::Ready(sa("192.0.2.1:5060"), None)
    );
    assert_eq!(
        net.resolve("[2001:db8::1]", Some(5070), 0),
        Resolution::Ready(sa("[2001:db8::1]:5070"), None)
    );
    assert!(net.sent().is_empty());
}

#[test]
fn pending_table_full() {
    let zone = Zone::new(vec![a("x.test", 300, "192.0.2.1")]);
    let mut net = Net::with(cfg(16, 2));
    let t1 = pending(net.resolve("one.test", Some(1), 0));
    let t2 = pending(net.resolve("two.test", Some(1), 0));
    assert!(t1.index() < 2 && t2.index() < 2 && t1.index() != t2.index());
    assert_eq!(
        net.resolve("three.test", Some(1), 0),
        Resolution::Failed(Failure::Unavailable)
    );
    assert_eq!(net.r.stats().table_full, 1);
    // Cache hits need no slot.
    net.serve(&zone);
    // Finished but not collected: the slots are still taken.
    assert_eq!(
        net.resolve("three.test", Some(1), 0),
        Resolution::Failed(Failure::Unavailable)
    );
    assert_eq!(net.done().len(), 2);
    let t3 = pending(net.resolve("three.test", Some(1), 0));
    // A reused slot gets a new ticket.
    assert!(t3 != t1 && t3 != t2);
}

// ---- queries on the wire ----

#[test]
fn identical_questions_share_one_query() {
    let mut net = Net::new();
    let zone = sip_zone();
    let t1 = pending(net.resolve("example.test", None, 1));
    let t2 = pending(net.resolve("EXAMPLE.test", None, 2));
    let t3 = pending(net.resolve("pbx.provider.test", Some(5060), 3));
    let first = net.sent();
    assert_eq!(
        first.iter().map(Sent::key).collect::<Vec<_>>(),
        asked(&[("example.test", NAPTR), ("pbx.provider.test", A)])
    );
    for s in &first {
        net.answer(s, &zone.reply(&s.pkt));
    }
    // Both NAPTR waiters move on to one SRV query, then share the cached A.
    assert_eq!(
        net.serve(&zone),
        asked(&[("_sip._udp.sip.provider.test", SRV)])
    );
    let mut done = net.done();
    done.sort_by_key(|d| d.0.index());
    let want = Resolution::Ready(sa("192.0.2.20:5070"), UDP);
    assert_eq!(
        done,
        [
            (t1, want),
            (t2, want),
            (t3, Resolution::Ready(sa("192.0.2.20:5060"), None))
        ]
    );
    assert_eq!(net.r.stats().queries_sent, 3);
}

#[test]
fn waiters_of_one_answer_go_separate_ways() {
    // Both wait on (x.test, A); NODATA ends the v4-only one and sends the
    // dual-stack one on to AAAA, whose query may take the freed slot.
    let zone = Zone::new(vec![rr(
        "x.test",
        300,
        Rd::Aaaa("2001:db8::7".parse().unwrap()),
    )]);
    let mut net = Net::new();
    let now = net.now;
    let dual = pending(
        net.r
            .resolve(now, b"x.test", Some(5060), 0, Reach::udp(true, true)),
    );
    let v4 = pending(
        net.r
            .resolve(now, b"x.test", Some(5060), 0, Reach::udp(true, false)),
    );
    assert_eq!(net.serve(&zone), asked(&[("x.test", A), ("x.test", AAAA)]));
    let mut done = net.done();
    done.sort_by_key(|d| d.0.index());
    assert_eq!(
        done,
        [
            (dual, Resolution::Ready(sa("[2001:db8::7]:5060"), None)),
            (v4, Resolution::Failed(Failure::Unavailable)),
        ]
    );
}

#[test]
fn ids_and_source_sockets_are_random() {
    let mut net = Net::with(cfg(16, 256));
    for i in 0..200 {
        pending(net.resolve(&format!("h{i}.test"), Some(1), 0));
    }
    let sent = net.sent();
    assert_eq!(sent.len(), 200);
    let socks: std::collections::HashSet<_> = sent.iter().map(|s| s.sock).collect();
    let ids: std::collections::HashSet<_> = sent.iter().map(|s| s.q.id).collect();
    assert_eq!(socks.len(), 8);
    assert!(ids.len() > 190, "{} distinct ids", ids.len());
    // EDNS0 with 1232 bytes rides along (the codec's OPT record).
    assert_eq!(
        &sent[0].pkt[sent[0].q.end + 3..sent[0].q.end + 5],
        &1232u16.to_be_bytes()
    );
    // Another seed, other IDs.
    let mut other = Resolver::new(cfg(16, 4), 43);
    let now = Instant(0);
    other.resolve(now, b"h0.test", Some(1), 0, Reach::udp(true, false));
    let mut buf = [0u8; 512];
    let (_, _, len) = other.poll_query(&mut buf).unwrap();
    let q = Question::parse(&buf[..len]);
    assert_ne!((q.id, q.name.as_str()), (sent[0].q.id, "h0.test"));
}

#[test]
fn spoofed_or_misdirected_answers_ignored() {
    let zone = Zone::new(vec![a("s.test", 300, "192.0.2.5")]);
    let mut net = Net::new();
    pending(net.resolve("s.test", Some(5060), 0));
    let s = net.sent().remove(0);
    let good = zone.reply(&s.pkt);
    let now = net.now;
    // Wrong ID.
    let mut bad = good.clone();
    bad[1] ^= 1;
    net.r.handle_answer(now, s.sock, server(), &bad);
    // Right packet, wrong source address or port.
    net.r.handle_answer(now, s.sock, sa("192.0.2.54:53"), &good);
    net.r
        .handle_answer(now, s.sock, sa("192.0.2.53:5353"), &good);
    // Right packet on another socket of the pool, or outside it.
    net.r.handle_answer(now, (s.sock + 1) % 8, server(), &good);
    net.r.handle_answer(now, 99, server(), &good);
    // Right ID, another question.
    let other = Zone::new(vec![a("evil.test", 300, "203.0.113.66")]);
    let mut q = s.q.clone();
    q.name = "evil.test".into();
    let mut query = s.pkt[..12].to_vec();
    name_wire(&mut query, "evil.test");
    query.extend_from_slice(&[0, 1, 0, 1]);
    q.end = query.len();
    let evil = packet(&q, &query, 0, &other.find("evil.test", A), None, &[]);
    net.r.handle_answer(now, s.sock, server(), &evil);
    // Garbage, and a query echoed back.
    net.r.handle_answer(now, s.sock, server(), &[0xff; 3]);
    net.r.handle_answer(now, s.sock, server(), &s.pkt);
    assert_eq!(net.r.stats().ignored, 8);
    assert_eq!(net.done(), []);
    net.r.handle_answer(now, s.sock, server(), &good);
    assert_eq!(
        net.done()[0].1,
        Resolution::Ready(sa("192.0.2.5:5060"), None)
    );
    // The same answer again is late: ignored.
    net.r.handle_answer(now, s.sock, server(), &good);
    assert_eq!(net.r.stats().ignored, 9);
    assert_eq!(net.r.stats().answers, 1);
}

#[test]
fn mutated_answers_never_panic() {
    let mut zone = weighted_zone(false);
    zone.glue = true;
    let mut rng = Rng::new(7);
    let mut net = Net::with(cfg(8, 4));
    for round in 0..400 {
        let host = if round % 2 == 0 {
            "w.test"
        } else {
            "sip1.w.test"
        };
        net.now = net.later(400_000);
        net.run_until(net.now);
        net.done();
        if let Resolution::Pending(_) = net.resolve(host, None, round) {
            for s in net.sent() {
                let mut pkt = zone.reply(&s.pkt);
                for _ in 0..1 + rng.next() % 4 {
                    let at = (rng.next() as usize) % pkt.len();
                    pkt[at] = rng.next() as u8;
                }
                let cut = (rng.next() as usize) % 4;
                pkt.truncate(pkt.len() - cut);
                net.answer(&s, &pkt);
            }
        }
    }
    // Still answers correctly afterwards (a name no mutation can have
    // cached).
    net.now = net.later(400_000);
    net.run_until(net.now);
    net.done();
    let zone = Zone::new(vec![
        srv("_sip._udp.fresh.test", 0, 0, 5060, "fresh.test"),
        a("fresh.test", 60, "192.0.2.99"),
    ]);
    assert_eq!(
        net.resolve_served("fresh.test", None, 0, &zone),
        Resolution::Ready(sa("192.0.2.99:5060"), UDP)
    );
}

#[test]
fn truncated_answer_uses_what_is_there() {
    let mut zone = Zone::new(vec![
        srv("_sip._udp.tc.test", 0, 0, 5060, "sip.tc.test"),
        a("sip.tc.test", 300, "192.0.2.9"),
        a("tc.test", 300, "192.0.2.1"),
    ]);
    zone.glue = true;
    let mut net = Net::new();
    pending(net.resolve("tc.test", None, 0));
    let mut asked_now = Vec::new();
    loop {
        let sent = net.sent();
        if sent.is_empty() {
            break;
        }
        for s in sent {
            asked_now.push(s.key());
            let mut pkt = zone.reply(&s.pkt);
            if s.q.qtype == SRV {
                // TC set, the glue A record cut in half.
                pkt[2] |= 0x02;
                pkt.truncate(pkt.len() - 6);
            }
            net.answer(&s, &pkt);
        }
    }
    assert_eq!(
        asked_now,
        asked(&[
            ("tc.test", NAPTR),
            ("_sip._udp.tc.test", SRV),
            ("sip.tc.test", A),
        ])
    );
    assert_eq!(
        net.done()[0].1,
        Resolution::Ready(sa("192.0.2.9:5060"), UDP)
    );
}

#[test]
fn server_errors_are_unavailable() {
    let mut zone = sip_zone();
    zone.rcode = Some(2);
    let mut net = Net::new();
    assert_eq!(
        net.resolve_served("example.test", None, 0, &zone),
        Resolution::Failed(Failure::Unavailable)
    );
    assert_eq!(net.r.stats().server_errors, 1);
    // Not cached: the next request asks again.
    pending(net.resolve("example.test", None, 0));
}

#[test]
fn too_small_a_buffer_fails_the_lookup() {
    let mut net = Net::new();
    let t = pending(net.resolve("example.test", None, 0));
    let mut tiny = [0u8; 16];
    assert_eq!(net.r.poll_query(&mut tiny), None);
    assert_eq!(net.done(), [(t, Resolution::Failed(Failure::Unavailable))]);
    assert_eq!(net.r.poll_timeout(), None);
}

// ---- timeouts ----

#[test]
fn silent_server_one_retransmission_then_unavailable() {
    let mut net = Net::new();
    let t0 = net.now;
    let t = pending(net.resolve("example.test", None, 0));
    let first = net.sent();
    assert_eq!(first.len(), 1);
    assert_eq!(net.r.poll_timeout(), Some(Instant(t0.0 + 2_000)));
    assert!(net.run_until(Instant(t0.0 + 1_999)).is_empty());
    let retry = net.run_until(Instant(t0.0 + 2_000));
    assert_eq!(retry.len(), 1);
    assert_eq!(retry[0].key(), first[0].key());
    assert_eq!(retry[0].at, Instant(t0.0 + 2_000));
    assert!(net.run_until(Instant(t0.0 + 3_999)).is_empty());
    assert_eq!(net.done(), []);
    assert!(net.run_until(Instant(t0.0 + 4_000)).is_empty());
    assert_eq!(net.done(), [(t, Resolution::Failed(Failure::Unavailable))]);
    assert!(net.run_until(Instant(t0.0 + 60_000)).is_empty());
    assert_eq!(net.r.poll_timeout(), None);
    let s = net.r.stats();
    assert_eq!((s.queries_sent, s.retransmissions, s.timeouts), (2, 1, 1));
}

#[test]
fn slow_server_hits_the_ten_second_limit() {
    // Each answer comes just before its query would be given up: every
    // query goes out twice, and the chain runs out of time on the A step.
    let zone = Zone::new(vec![a("slow.test", 300, "192.0.2.1")]);
    let mut net = Net::new();
    let t0 = net.now;
    let t = pending(net.resolve("slow.test", None, 0));
    let mut log: Vec<(String, u16, u64)> = Vec::new();
    let mut record = |sent: &[Sent]| {
        for s in sent {
            log.push((s.q.name.clone(), s.q.qtype, s.at.0 - t0.0));
        }
    };
    let first = net.sent();
    record(&first);
    let mut last = first[0].clone();
    for step_end in [3_900, 7_800] {
        let retry = net.run_until(Instant(t0.0 + step_end - 1_900));
        record(&retry);
        net.run_until(Instant(t0.0 + step_end));
        last = retry.last().cloned().unwrap_or(last);
        net.answer(&last.clone(), &zone.reply(&last.pkt));
        let next = net.sent();
        record(&next);
        last = next[0].clone();
    }
    assert_eq!(net.done(), []);
    record(&net.run_until(Instant(t0.0 + 9_999)));
    assert_eq!(net.done(), []);
    record(&net.run_until(Instant(t0.0 + 10_000)));
    assert_eq!(net.done(), [(t, Resolution::Failed(Failure::Unavailable))]);
    assert_eq!(
        log,
        [
            ("slow.test".to_string(), NAPTR, 0),
            ("slow.test".to_string(), NAPTR, 2_000),
            ("_sip._udp.slow.test".to_string(), SRV, 3_900),
            ("_sip._udp.slow.test".to_string(), SRV, 5_900),
            ("slow.test".to_string(), A, 7_800),
            ("slow.test".to_string(), A, 9_800),
        ]
    );
    assert_eq!(net.r.stats().expired, 1);
    assert_eq!(net.r.poll_timeout(), None);
    // The A answer arriving now is late and ignored.
    let ignored = net.r.stats().ignored;
    net.answer(&last, &zone.reply(&last.pkt));
    assert_eq!(net.r.stats().ignored, ignored + 1);
}

#[test]
fn late_answer_to_the_first_transmission_accepted() {
    let zone = Zone::new(vec![a("late.test", 300, "192.0.2.8")]);
    let mut net = Net::new();
    pending(net.resolve("late.test", Some(5060), 0));
    let first = net.sent().remove(0);
    let retry = net.run_until(net.later(2_500));
    assert_eq!(retry.len(), 1);
    net.answer(&first, &zone.reply(&first.pkt));
    assert_eq!(
        net.done()[0].1,
        Resolution::Ready(sa("192.0.2.8:5060"), None)
    );
    // The retry's answer, coming after, is ignored.
    net.answer(&retry[0], &zone.reply(&retry[0].pkt));
    assert_eq!(net.r.stats().ignored, 1);
}

#[test]
fn shared_query_timeout_fails_every_waiter() {
    let mut net = Net::new();
    let t1 = pending(net.resolve("x.test", Some(1), 1));
    let t2 = pending(net.resolve("x.test", Some(1), 2));
    assert_eq!(net.sent().len(), 1);
    let retry = net.run_until(net.later(10_000));
    assert_eq!(retry.len(), 1);
    let mut done = net.done();
    done.sort_by_key(|d| d.0.index());
    let f = Resolution::Failed(Failure::Unavailable);
    assert_eq!(done, [(t1, f), (t2, f)]);
}
