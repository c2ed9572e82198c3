//! The `dns_response` target: [`Response::parse`] and every view of it on
//! untrusted datagrams, then the resolver's answer path
//! ([`Resolver::handle_answer`]) over a short exchange of queries and
//! answers.
//!
//! Input: `sel` then a datagram, or (`sel & 0x40`) steps split at
//! [`SEP`](super::script::SEP) answering the resolver's queries. `sel & 7`
//! picks the name, `sel >> 3 & 3` the type; `sel & 0x80` takes the datagram
//! as it is (its own ID), else its header (12 bytes) goes before our
//! question and the rest after it.
//!
//! Checks: no panic; a parsed response's views agree with each other
//! (what `matching` yields is of the type asked for; NXDOMAIN is negative;
//! a negative TTL only for a negative answer; no section yields more than
//! its count); the resolver only sends well-formed queries to its server,
//! only ever resolves to an address some answer or `/etc/hosts` held, and
//! every resolution ends by its deadline.

use edgesip::dns::{
    build_query, naptr_usable, order_naptr, select_srv, Name, Negative, QType, RData, Rcode, Reach,
    Resolution, Resolver, ResolverConfig, Response, SrvChoice, Transport, SERVICE_SIP_D2T,
    SERVICE_SIP_D2U,
};
use edgesip::time::Instant;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

const NAMES: [&str; 8] = [
    "example.com",
    "_sip._udp.example.com",
    "sip.example.com",
    "Mixed.Case.Example.ORG",
    "x",
    "hosts.example",
    "a.very.long.name.with.many.labels.example.net",
    "provider.example",
];
const QTYPES: [QType; 4] = [QType::A, QType::Aaaa, QType::Srv, QType::Naptr];

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// An answer to `query`: its ID and question; flags (2 bytes) and the
/// answer, authority and additional counts (6 bytes) from `payload`
/// (default: a plain NOERROR with no records), then `payload`'s records.
pub fn answer_to(query: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut i = 12;
    while i < query.len() && query[i] != 0 {
        i += 1 + usize::from(query[i]);
    }
    let qend = (i + 5).min(query.len());
    let mut head = [0x81, 0x80, 0, 0, 0, 0, 0, 0];
    for (h, p) in head.iter_mut().zip(payload) {
        *h = *p;
    }
    let mut pkt = Vec::with_capacity(qend + payload.len());
    pkt.extend_from_slice(&query[..2.min(query.len())]);
    pkt.extend_from_slice(&head[..2]);
    pkt.extend_from_slice(&[0, 1]);
    pkt.extend_from_slice(&head[2..]);
    pkt.extend_from_slice(query.get(12..qend).unwrap_or_default());
    pkt.extend_from_slice(payload.get(8..).unwrap_or_default());
    pkt
}

pub fn dns_response(data: &[u8]) {
    let [sel, rest @ ..] = data else {
        return;
    };
    let name = NAMES[usize::from(sel & 7)];
    let qtype = QTYPES[usize::from(sel >> 3 & 3)];
    if sel & 0x40 != 0 {
        resolver(*sel, name, rest);
        return;
    }
    let pkt = if sel & 0x80 != 0 {
        rest.to_vec()
    } else {
        let mut q = [0u8; 512];
        let n = build_query(0, name.as_bytes(), qtype, &mut q).expect("query");
        // Header, then our question (without the query's OPT), then the rest.
        let qlen = n - 11 - 12;
        let mut p = rest.get(..12).unwrap_or(rest).to_vec();
        p.resize(12, 0);
        p[4..6].copy_from_slice(&[0, 1]);
        p.extend_from_slice(&q[12..12 + qlen]);
        p.extend_from_slice(rest.get(12..).unwrap_or_default());
        p
    };
    let id = if pkt.len() >= 2 { be16(&pkt, 0) } else { 0 };
    let Ok(r) = Response::parse(&pkt, id, name.as_bytes(), qtype) else {
        return;
    };
    walk(&r, &pkt);
}

/// Every view of a parsed response, and their agreement.
fn walk(r: &Response, pkt: &[u8]) {
    let counts = [be16(pkt, 6), be16(pkt, 8), be16(pkt, 10)];
    let sections = [r.answers(), r.authority(), r.additional()];
    let mut srvs = Vec::new();
    let mut naptrs = Vec::new();
    for (s, count) in sections.into_iter().zip(counts) {
        let mut n = 0u16;
        for rec in s {
            n += 1;
            assert!(rec.name.as_bytes().len() <= 255, "a name over 255 bytes");
            let _ = (rec.ttl, rec.data.rtype(), rec.name.as_str());
            match rec.data {
                RData::Srv(s) => srvs.push(s),
                RData::Naptr(n) => {
                    let _ = naptr_usable(&n, &[SERVICE_SIP_D2U, SERVICE_SIP_D2T]);
                    naptrs.push(n);
                }
                RData::Cname(c) => assert!(c.as_bytes().len() <= 255),
                _ => {}
            }
            assert!(n <= count, "a section yields more records than its count");
        }
    }
    assert!(r.qname().as_bytes().len() <= 255);
    let _ = (r.truncated(), r.qtype(), r.canonical_name());
    let code = r.qtype().code();
    assert!(
        r.matching().all(|rec| rec.data.rtype() == code),
        "matching yields another type"
    );
    match r.rcode() {
        Rcode::NxDomain => assert_eq!(r.negative(), Some(Negative::NxDomain)),
        Rcode::NoError => assert_ne!(r.negative(), Some(Negative::NxDomain)),
    }
    if r.negative_ttl().is_some() {
        assert!(
            r.negative().is_some(),
            "a negative TTL for a positive answer"
        );
    }
    let choices: Vec<SrvChoice> = srvs.iter().map(SrvChoice::from).collect();
    for hash in [0, 1, 0xdead_beef] {
        if let Some(i) = select_srv(&choices, hash) {
            assert!(i < choices.len() && !choices[i].target.is_empty());
        }
    }
    let mut order = [0usize; 64];
    let n = order_naptr(&naptrs, &[SERVICE_SIP_D2U, SERVICE_SIP_D2T], &mut order);
    assert!(n <= naptrs.len().min(order.len()));
    assert!(order[..n].iter().all(|i| *i < naptrs.len()));
}

/// The resolver: one resolution, its queries answered by the steps.
fn resolver(sel: u8, name: &str, steps: &[u8]) {
    let server: SocketAddr = "192.0.2.53:53".parse().expect("server");
    let hosts_ip: IpAddr = "192.0.2.80".parse().expect("ip");
    let cfg = ResolverConfig {
        server,
        cache: 8,
        pending: 4,
        sockets: 8,
        hosts: vec![("hosts.example".into(), hosts_ip)],
    };
    let mut r = Resolver::new(cfg, u64::from(sel));
    let mut now = Instant::from_secs(100);
    let port = (sel & 0x20 != 0).then_some(5080);
    let (v4, v6) = (sel & 0x10 == 0 || sel & 8 == 0, sel & 8 != 0);
    // Both transports, or UDP alone, and sometimes a transport in the URI
    // (0x40 is always set here: it chose this mode).
    let reach = Reach {
        tcp: sel & 0x80 != 0,
        transport: (sel & 0x81 == 0x81).then_some(Transport::Tcp),
        ..Reach::udp(v4, v6)
    };
    let hash = u32::from(sel).wrapping_mul(2_654_435_761);
    let mut fed: Vec<Vec<u8>> = Vec::new();
    let mut tickets = Vec::new();
    let mut done = Vec::new();
    let check = |res: Resolution, fed: &[Vec<u8>]| {
        if let Resolution::Ready(a, _) = res {
            let octets = match a.ip() {
                IpAddr::V4(v) => v.octets().to_vec(),
                IpAddr::V6(v) => v.octets().to_vec(),
            };
            let known = a.ip() == hosts_ip
                || fed
                    .iter()
                    .any(|p| p.windows(octets.len()).any(|w| w == octets.as_slice()));
            assert!(known, "resolved {name} to {a}, which no answer held");
        }
    };
    let start = |r: &mut Resolver, now: Instant, tickets: &mut Vec<_>, fed: &[Vec<u8>]| match r
        .resolve(now, name.as_bytes(), port, hash, reach)
    {
        Resolution::Pending(t) => tickets.push(t),
        res => check(res, fed),
    };
    start(&mut r, now, &mut tickets, &fed);
    let mut query: Option<(usize, Vec<u8>)> = None;
    for step in super::script::steps(steps) {
        let [op, payload @ ..] = step else {
            continue;
        };
        now = now + Duration::from_millis(u64::from(op >> 4) * 700);
        let mut out = [0u8; 512];
        while let Some((sock, dst, len)) = r.poll_query(&mut out) {
            assert_eq!(dst, server, "a query to another server");
            assert!(
                (17..=edgesip::dns::MAX_QUERY_LEN).contains(&len),
                "query of {len} bytes"
            );
            assert!(sock < r.sockets());
            query = Some((sock, out[..len].to_vec()));
        }
        match op & 3 {
            // A new resolution of the same name (shares the query or the
            // cache).
            0 => start(&mut r, now, &mut tickets, &fed),
            1 => r.handle_timeout(now),
            _ => {
                if let Some((sock, q)) = &query {
                    let pkt = if op & 4 != 0 {
                        payload.to_vec()
                    } else {
                        answer_to(q, payload)
                    };
                    let src = if op & 8 != 0 {
                        "192.0.2.54:53".parse().expect("spoofer")
                    } else {
                        server
                    };
                    r.handle_answer(now, *sock, src, &pkt);
                    fed.push(pkt);
                }
            }
        }
        while let Some((t, res)) = r.poll_done() {
            assert!(tickets.contains(&t), "a ticket nobody holds");
            assert!(!done.contains(&t), "a ticket finished twice");
            done.push(t);
            check(res, &fed);
        }
    }
    // Every resolution ends by its deadline.
    for _ in 0..4 {
        now = now + Duration::from_secs(11);
        r.handle_timeout(now);
        let mut out = [0u8; 512];
        while r.poll_query(&mut out).is_some() {}
    }
    while let Some((t, res)) = r.poll_done() {
        assert!(!done.contains(&t), "a ticket finished twice");
        done.push(t);
        check(res, &fed);
    }
    for t in &tickets {
        assert!(done.contains(t), "resolution {t:?} never ended");
    }
    assert!(
        r.poll_timeout().is_none(),
        "a timer left after every deadline"
    );
    let _ = Name::from_text(name.as_bytes());
}
