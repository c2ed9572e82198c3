//! Proves the hot path allocates nothing: a counting global allocator,
//! armed per thread only around the code it measures (libtest runs tests on
//! several threads, and its own bookkeeping allocates).

mod common;

use edgesip::cx::{Cx, NoSockets};
use edgesip::dns::{build_query, order_naptr, select_srv, QType, RData, Response, SrvChoice};
use edgesip::hmac::HmacKey;
use edgesip::output::Socket;
use edgesip::sip::{stateless_to_tag, write_response, HeaderName, Message, Reply};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: defers to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let _ = ARMED.try_with(|a| {
            if a.get() {
                COUNT.with(|c| c.set(c.get() + 1));
            }
        });
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static A: Counting = Counting;

/// Runs `f` with counting armed and returns how many allocations it made.
fn count_allocs(f: impl FnOnce()) -> usize {
    COUNT.with(|c| c.set(0));
    ARMED.with(|a| a.set(true));
    f();
    ARMED.with(|a| a.set(false));
    COUNT.with(|c| c.get())
}

const INVITE: &[u8] = b"INVITE sip:bob@192.0.2.20 SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKuac1;rport\r\n\
Max-Forwards: 70\r\n\
Route: <sip:192.0.2.1;lr>, <sip:192.0.2.2;lr>\r\n\
From: Alice <sip:alice@example.org>;tag=atag\r\n\
To: <sip:bob@example.com>\r\n\
Call-ID: call1@uac\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:alice@10.0.0.5:5060;transport=udp>;expires=60\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 129\r\n\
\r\n\
v=0\r\n\
o=alice 2890844526 2890844526 IN IP4 10.0.0.5\r\n\
s=-\r\n\
c=IN IP4 10.0.0.5\r\n\
t=0 0\r\n\
m=audio 49170 RTP/AVP 0 8\r\n\
a=rtpmap:0 PCMU/8000\r\n";

const OK200: &[u8] = b"SIP/2.0 200 OK\r\n\
Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKp1\r\n\
Via: SIP/2.0/UDP 192.0.2.9;branch=z9hG4bKp0\r\n\
Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKuac1;received=127.0.0.1;rport=5062\r\n\
Record-Route: <sip:192.0.2.1;lr>\r\n\
From: Alice <sip:alice@example.org>;tag=atag\r\n\
To: <sip:bob@example.com>;tag=btag\r\n\
Call-ID: call1@uac\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:bob@192.0.2.20>\r\n\
Content-Length: 0\r\n\r\n";

const ACK: &[u8] = b"ACK sip:bob@192.0.2.20 SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKack;rport\r\n\
Max-Forwards: 70\r\n\
From: Alice <sip:alice@example.org>;tag=atag\r\n\
To: <sip:bob@example.com>;tag=btag\r\n\
Call-ID: call1@uac\r\n\
CSeq: 1 ACK\r\n\
Content-Length: 0\r\n\r\n";

const BYE: &[u8] = b"BYE sip:alice@10.0.0.5:5060 SIP/2.0\r\n\
v: SIP/2.0/UDP 192.0.2.20;branch=z9hG4bKbye\r\n\
Max-Forwards: 10\r\n\
f: <sip:bob@example.com>;tag=btag\r\n\
t: Alice <sip:alice@example.org>;tag=atag\r\n\
i: call1@uac\r\n\
CSeq: 2 BYE\r\n\
l: 0\r\n\r\n";

const REGISTER: &[u8] = b"REGISTER sip:example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP [2001:db8::5]:5060;branch=z9hG4bKreg;rport\r\n\
Max-Forwards: 70\r\n\
From: <sip:alice@example.com>;tag=r1\r\n\
To: <sip:alice@example.com>\r\n\
Call-ID: reg1@uac\r\n\
CSeq: 5 REGISTER\r\n\
Contact: <sip:alice@[2001:db8::5]:5060>;expires=3600;+sip.instance=\"<urn:uuid:1>\"\r\n\
Expires: 3600\r\n\
Content-Length: 0\r\n\r\n";

/// The parser and the core's own stateless reply, on one message. Forwarding
/// itself is `Proxy::handle`, checked below.
fn parse_and_reply(raw: &[u8], out: &mut [u8], key: &HmacKey) -> usize {
    let m = Message::parse(raw).expect("fixture parses");
    let mut n = m.vias().count() + m.addrs(HeaderName::Contact).count();
    if m.is_request() {
        let tag = stateless_to_tag(key, &m);
        let reply = Reply {
            code: 483,
            reason: b"Too Many Hops",
            to_tag: Some(&tag),
            source: None,
            extra: &[],
        };
        n += write_response(&m, &reply, out).expect("response");
    }
    n
}

#[test]
fn wire_parse_and_reply_allocate_nothing() {
    let key = HmacKey::new(b"no-alloc test key");
    let mut out = vec![0u8; 65_535];
    let corpus = [INVITE, OK200, ACK, BYE, REGISTER];
    // Warm-up: anything lazily initialised happens here.
    for raw in corpus {
        assert!(parse_and_reply(raw, &mut out, &key) > 0);
    }
    let mut total = 0;
    let allocs = count_allocs(|| {
        for i in 0..10_000 {
            total += parse_and_reply(corpus[i % corpus.len()], &mut out, &key);
        }
    });
    assert!(total > 0);
    assert_eq!(allocs, 0, "allocations in the wire hot path");
}

#[test]
fn the_counter_sees_allocations() {
    // Guards against a counter that can never fail.
    let n = count_allocs(|| {
        let v: Vec<u8> = Vec::with_capacity(std::hint::black_box(64));
        std::hint::black_box(v);
    });
    assert_eq!(n, 1);
}

/// `_sip._udp.example.test SRV`: two SRV answers, one compressed A extra.
#[rustfmt::skip]
const ANSWER_SRV: &[u8] = &[
    0x53, 0x53, 0x81, 0x80, 0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x01,
    // @12 _sip._udp.example.test SRV IN ("example" at 22)
    4, b'_', b's', b'i', b'p', 4, b'_', b'u', b'd', b'p',
    7, b'e', b'x', b'a', b'm', b'p', b'l', b'e', 4, b't', b'e', b's', b't', 0,
    0x00, 0x21, 0x00, 0x01,
    // @40 SRV 10 60 5060 sip1+ptr->22 (sip1 at 58)
    0xc0, 0x0c, 0x00, 0x21, 0x00, 0x01, 0x00, 0x00, 0x02, 0x58, 0x00, 0x0d,
    0x00, 0x0a, 0x00, 0x3c, 0x13, 0xc4, 4, b's', b'i', b'p', b'1', 0xc0, 0x16,
    // @65 SRV 10 40 5070 sip2+ptr->22
    0xc0, 0x0c, 0x00, 0x21, 0x00, 0x01, 0x00, 0x00, 0x02, 0x58, 0x00, 0x0d,
    0x00, 0x0a, 0x00, 0x28, 0x13, 0xce, 4, b's', b'i', b'p', b'2', 0xc0, 0x16,
    // @90 ptr->58 A 192.0.2.11
    0xc0, 0x3a, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x3c, 0x00, 0x04,
    192, 0, 2, 11,
];

#[test]
fn dns_hot_path_does_not_allocate() {
    let mut query = [0u8; 300];
    let mut picked = None;
    let mut address = None;
    let n = count_allocs(|| {
        build_query(0x5353, b"_sip._udp.example.test", QType::Srv, &mut query).expect("dns");
        let r = Response::parse(ANSWER_SRV, 0x5353, b"_sip._udp.example.test", QType::Srv)
            .expect("dns");
        let mut srvs = heapless::Vec::<_, 8>::new();
        for rec in r.matching() {
            if let RData::Srv(s) = rec.data {
                let _ = srvs.push(s);
            }
        }
        let mut choices = heapless::Vec::<_, 8>::new();
        for s in &srvs {
            let _ = choices.push(SrvChoice::from(s));
        }
        let i = select_srv(&choices, 0xC0FFEE).expect("dns");
        let target = srvs[i].target;
        address = r.additional().find_map(|a| match a.data {
            RData::A(ip) if a.name == target => Some(ip),
            _ => None,
        });
        picked = Some(srvs[i].port);
        let _ = (r.negative_ttl(), r.canonical_name());
        let mut out = [0usize; 4];
        let _ = order_naptr(&[], &[b"SIP+D2U"], &mut out);
    });
    assert_eq!(n, 0, "the DNS path allocated {n} times");
    // 0xC0FFEE % 100 = 30 < 60: sip1, whose address is in the extra section.
    assert_eq!(picked, Some(5060));
    assert_eq!(address, Some(std::net::Ipv4Addr::new(192, 0, 2, 11)));
}

fn proxy_with(legs: &[(&str, &str, &[&str])]) -> edgesip::proxy::Proxy {
    let legs = legs
        .iter()
        .map(|(name, addr, nets)| {
            let nets: Vec<_> = nets.iter().map(|n| n.parse().expect("net")).collect();
            edgesip::config::LegSpec::new(name, addr.parse().expect("addr"), &nets)
        })
        .collect();
    let cfg = edgesip::config::Config::with_legs(legs);
    edgesip::proxy::Proxy::new(&cfg, b"no-alloc secret", 1).expect("proxy")
}

/// The answer a UAS would send to a forwarded request.
fn answer_of(fwd: &[u8]) -> Vec<u8> {
    common::sip::answer(fwd, "200 OK", "uas", "", "").into_bytes()
}

#[test]
fn proxy_forwarding_allocates_nothing() {
    use edgesip::time::Instant;
    let uac: std::net::SocketAddr = "127.0.0.1:5071".parse().expect("addr");
    let uas: std::net::SocketAddr = "127.0.0.3:5072".parse().expect("addr");
    let requests = [INVITE, ACK, BYE, REGISTER].map(|r| {
        String::from_utf8_lossy(r)
            .replace("192.0.2.20", "127.0.0.3:5072")
            .replace("sip:alice@10.0.0.5:5060", "sip:alice@127.0.0.3:5072")
            .replace("Route: <sip:192.0.2.1;lr>, <sip:192.0.2.2;lr>\r\n", "")
            .replace("sip:example.com", "sip:127.0.0.3:5072")
            .into_bytes()
    });
    for legs in [
        &[("lan", "127.0.0.1:5060", &[][..])][..],
        &[
            ("lan", "127.0.0.1:5060", &["127.0.0.1/32"][..]),
            ("wan", "127.0.0.2:5060", &[][..]),
        ][..],
    ] {
        let mut p = proxy_with(legs);
        let mut out = vec![0u8; 65_535];
        // Warm-up, and build the responses from what the proxy forwarded.
        let mut answers = Vec::new();
        let mut token_bye = None;
        for r in &requests {
            let t = p
                .handle(
                    &mut Cx::new(Instant(1), &mut NoSockets),
                    0,
                    uac,
                    r,
                    &mut out,
                )
                .transmit()
                .expect("forwarded");
            let text = &out[..t.len];
            assert!(
                !text.starts_with(b"SIP/2.0"),
                "{}",
                String::from_utf8_lossy(text)
            );
            answers.push(answer_of(text));
            // Two legs: the INVITE's Contact left as a token; the callee's
            // BYE to it is rewritten back.
            let m = Message::parse(text).expect("parses");
            let contact = m.addrs(HeaderName::Contact).next().map(|(_, c)| c.uri);
            if let Some(uri) = contact
                .filter(|u| m.is_method(b"INVITE") && u.user.is_some_and(|u| u.starts_with(b"b")))
            {
                let uri = String::from_utf8_lossy(uri.raw).into_owned();
                token_bye = Some(
                    String::from_utf8_lossy(BYE)
                        .replace("sip:alice@10.0.0.5:5060", &uri)
                        .into_bytes(),
                );
            }
        }
        assert_eq!(token_bye.is_some(), legs.len() == 2);
        for a in &answers {
            let back = legs.len() - 1;
            let t = p
                .handle(
                    &mut Cx::new(Instant(1), &mut NoSockets),
                    back,
                    uas,
                    a,
                    &mut out,
                )
                .transmit();
            assert!(t.is_some(), "response forwarded");
        }
        let before = p.stats().clone();
        let allocs = count_allocs(|| {
            for i in 0..10_000 {
                let k = i % requests.len();
                let t = p
                    .handle(
                        &mut Cx::new(Instant(2 + 10 * i as u64), &mut NoSockets),
                        0,
                        uac,
                        &requests[k],
                        &mut out,
                    )
                    .transmit();
                assert!(t.is_some());
                let t = p
                    .handle(
                        &mut Cx::new(Instant(2 + 10 * i as u64), &mut NoSockets),
                        legs.len() - 1,
                        uas,
                        &answers[k],
                        &mut out,
                    )
                    .transmit();
                assert!(t.is_some());
                if let Some(bye) = &token_bye {
                    let t = p
                        .handle(
                            &mut Cx::new(Instant(2 + 10 * i as u64), &mut NoSockets),
                            1,
                            uas,
                            bye,
                            &mut out,
                        )
                        .transmit();
                    assert_eq!(
                        t.and_then(|t| t.out_leg()),
                        Some(0),
                        "token decoded back to leg 0"
                    );
                }
            }
        });
        assert_eq!(
            allocs,
            0,
            "allocations in the proxy hot path ({} legs)",
            legs.len()
        );
        let per_round = if token_bye.is_some() { 2 } else { 1 };
        assert_eq!(
            p.stats().requests_forwarded - before.requests_forwarded,
            10_000 * per_round
        );
        assert_eq!(
            p.stats().responses_forwarded - before.responses_forwarded,
            10_000
        );
    }
}

/// Fake relay sockets for the allocation test: a fixed table, no syscalls.
struct FakeSockets([bool; 256]);

impl edgesip::relay::RelaySockets for FakeSockets {
    fn open(&mut self, leg: usize, pair: u16) -> bool {
        self.0[leg * 100 + usize::from(pair)] = true;
        true
    }
    fn close(&mut self, leg: usize, pair: u16) {
        self.0[leg * 100 + usize::from(pair)] = false;
    }
}

#[test]
fn nat_offer_answer_and_relay_allocate_nothing() {
    use edgesip::time::Instant;
    let legs = [
        ("lan", "127.0.0.1:5060", &["127.0.0.1/32"][..]),
        ("wan", "127.0.0.2:5060", &[][..]),
    ];
    let specs = legs
        .iter()
        .map(|(name, addr, nets)| {
            let nets: Vec<_> = nets.iter().map(|n| n.parse().expect("net")).collect();
            edgesip::config::LegSpec::new(name, addr.parse().expect("addr"), &nets)
        })
        .collect();
    let mut cfg = edgesip::config::Config::with_legs(specs);
    cfg.nat = Some(edgesip::relay::RelayConfig {
        port_lo: 30000,
        port_hi: 30199,
        max_calls: 8,
        max_per_source: None,
        media_timeout: std::time::Duration::from_secs(120),
        hold_timeout: std::time::Duration::from_secs(7200),
    });
    let mut p = edgesip::proxy::Proxy::new(&cfg, b"secret", 1).expect("proxy");
    let mut socks = FakeSockets([false; 256]);
    let mut out = vec![0u8; 65_535];
    let uac: std::net::SocketAddr = "127.0.0.1:5071".parse().expect("addr");
    let uas: std::net::SocketAddr = "127.0.0.3:5072".parse().expect("addr");
    let invite = String::from_utf8_lossy(INVITE)
        .replace("192.0.2.20", "127.0.0.3:5072")
        .replace("Route: <sip:192.0.2.1;lr>, <sip:192.0.2.2;lr>\r\n", "")
        .into_bytes();
    // Warm-up: the offer, the answer built from what was forwarded.
    let t = p
        .handle(
            &mut Cx::new(Instant(1), &mut socks),
            0,
            uac,
            &invite,
            &mut out,
        )
        .transmit()
        .expect("offer forwarded");
    let fwd = out[..t.len].to_vec();
    let m = Message::parse(&fwd).expect("parses");
    let body = String::from_utf8_lossy(m.body()).replace("127.0.0.2", "127.0.0.3");
    let ok = String::from_utf8(answer_of(&fwd)).expect("utf8").replace(
        "Content-Length: 0\r\n\r\n",
        &format!(
            "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    );
    let ok = ok.into_bytes();
    let t = p
        .handle(&mut Cx::new(Instant(2), &mut socks), 1, uas, &ok, &mut out)
        .transmit()
        .expect("answer forwarded");
    let back_raw = out[..t.len].to_vec();
    let back = Message::parse(&back_raw).expect("parses");
    let relay_a: u16 = String::from_utf8_lossy(back.body())
        .lines()
        .find_map(|l| {
            l.strip_prefix("m=audio ")
                .and_then(|r| r.split(' ').next()?.parse().ok())
        })
        .expect("relay port");
    let pair_a = (relay_a - 30000) / 2;
    let rtp = [0x80u8; 172];
    let media: std::net::SocketAddr = "127.0.0.1:40000".parse().expect("addr");
    let _ = p.relay(Instant(3), 0, pair_a, false, media, &rtp);

    let mut relayed = 0;
    let allocs = count_allocs(|| {
        for i in 0..1_000u64 {
            // Offer and answer retransmitted, as SIP does.
            let now = Instant(10 + i);
            assert!(p
                .handle(&mut Cx::new(now, &mut socks), 0, uac, &invite, &mut out)
                .transmit()
                .is_some());
            assert!(p
                .handle(&mut Cx::new(now, &mut socks), 1, uas, &ok, &mut out)
                .transmit()
                .is_some());
        }
        for i in 0..100_000u64 {
            if p.relay(Instant(2000 + i / 50), 0, pair_a, false, media, &rtp)
                .is_some()
            {
                relayed += 1;
            }
        }
    });
    assert_eq!(allocs, 0, "allocations in the NAT path");
    assert_eq!(relayed, 100_000);
}

fn register_text(user: usize, cseq: u32, contact: bool, auth: &str) -> Vec<u8> {
    let mut s = format!(
        "REGISTER sip:example.com SIP/2.0\r\n\
         Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKr{user}x{cseq};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:u{user}@example.com>;tag=f{user}\r\n\
         To: <sip:u{user}@example.com>\r\n\
         Call-ID: reg{user}@uac\r\n\
         CSeq: {cseq} REGISTER\r\n"
    );
    if contact {
        s += &format!(
            "Contact: <sip:u{user}@10.0.{}.{}:5060>;expires=600;+sip.instance=\"<urn:uuid:{user}>\"\r\n",
            user / 200,
            user % 200
        );
    }
    s += auth;
    s += "Content-Length: 0\r\n\r\n";
    s.into_bytes()
}

fn md5_hex(s: &str) -> String {
    use md5::{Digest, Md5};
    Md5::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn registrar_allocates_nothing() {
    use edgesip::registrar::{parse_auth_file, Lookup, Registrar, RegistrarConfig};
    use edgesip::sip::Uri;
    use edgesip::time::Instant;
    let cfg = RegistrarConfig {
        domains: vec!["example.com".into()],
        aliases: vec!["192.168.1.1".into()],
        ..RegistrarConfig::default()
    };
    let mut reg = Registrar::new(cfg.clone(), b"no-alloc secret");
    let src: std::net::SocketAddr = "192.168.1.50:5060".parse().expect("addr");
    let mut out = vec![0u8; 65_535];
    const USERS: usize = 100;
    // New bindings, two refreshes, then a query without Contact.
    let mut texts = Vec::new();
    for cseq in 1..=4 {
        for u in 0..USERS {
            texts.push(register_text(u, cseq, cseq < 4, ""));
        }
    }
    let uris: Vec<String> = (0..=USERS)
        .map(|u| format!("sip:u{u}@192.168.1.1:5060"))
        .collect();
    // Warm-up on another user.
    let warm = register_text(USERS + 1, 1, true, "");
    let m = Message::parse(&warm).expect("parses");
    assert!(reg
        .handle_register(Instant::from_secs(1), 0, true, src, &m, b"tag", &mut out)
        .is_some());

    let mut ok = 0;
    let mut bound = 0;
    let allocs = count_allocs(|| {
        for (i, t) in texts.iter().enumerate() {
            let now = Instant::from_secs(10 + i as u64);
            let m = Message::parse(t).expect("parses");
            let n = reg
                .handle_register(now, 0, true, src, &m, b"tag", &mut out)
                .expect("ours")
                .expect("written")
                .len;
            if out[..n].starts_with(b"SIP/2.0 200 ") {
                ok += 1;
            }
        }
        let now = Instant::from_secs(500);
        for u in &uris {
            let uri = Uri::parse(u.as_bytes()).expect("uri");
            if matches!(reg.lookup(now, &uri), Lookup::Bound { .. }) {
                bound += 1;
            }
        }
        let _ = reg.poll_timeout();
        reg.handle_timeout(Instant::from_secs(5000));
    });
    assert_eq!(allocs, 0, "the registrar allocated {allocs} times");
    assert_eq!(ok, texts.len());
    assert_eq!(bound, USERS);
    assert_eq!(reg.len(), 0, "everything expired");

    // The digest path: a challenge, then authenticated REGISTERs.
    let users = parse_auth_file("u0:secret\n").expect("auth file");
    let mut reg = Registrar::new(
        RegistrarConfig {
            users: Some(users),
            ..cfg
        },
        b"no-alloc secret",
    );
    let first = register_text(0, 1, true, "");
    let m = Message::parse(&first).expect("parses");
    let n = reg
        .handle_register(Instant::from_secs(1), 0, true, src, &m, b"tag", &mut out)
        .expect("ours")
        .expect("written")
        .len;
    let text = String::from_utf8_lossy(&out[..n]).into_owned();
    let nonce = text.split("nonce=\"").nth(1).expect("nonce")[..24].to_string();
    let ha1 = md5_hex("u0:example.com:secret");
    let ha2 = md5_hex("REGISTER:sip:example.com");
    let authed: Vec<Vec<u8>> = (2..50u32)
        .map(|cseq| {
            let nc = format!("{:08x}", cseq);
            let resp = md5_hex(&format!("{ha1}:{nonce}:{nc}:cn:auth:{ha2}"));
            let auth = format!(
                "Authorization: Digest username=\"u0\", realm=\"example.com\", nonce=\"{nonce}\", \
                 uri=\"sip:example.com\", response=\"{resp}\", qop=auth, nc={nc}, cnonce=\"cn\"\r\n"
            );
            register_text(0, cseq, cseq % 2 == 0, &auth)
        })
        .collect();
    let allocs = count_allocs(|| {
        let m = Message::parse(&first).expect("parses");
        let n = reg
            .handle_register(Instant::from_secs(2), 0, true, src, &m, b"tag", &mut out)
            .expect("ours")
            .expect("written")
            .len;
        assert!(out[..n].starts_with(b"SIP/2.0 401 "));
        for t in &authed {
            let m = Message::parse(t).expect("parses");
            let n = reg
                .handle_register(Instant::from_secs(3), 0, true, src, &m, b"tag", &mut out)
                .expect("ours")
                .expect("written")
                .len;
            assert!(out[..n].starts_with(b"SIP/2.0 200 "));
        }
    });
    assert_eq!(allocs, 0, "the digest path allocated {allocs} times");
    assert_eq!(reg.len(), 1);
}

/// One SIP domain's records for the resolver test: NAPTR → SRV → A, each
/// owned by a pointer to the question (offset 12).
struct DnsChain {
    host: String,
    naptr: Vec<u8>,
    srv: Vec<u8>,
    a: Vec<u8>,
}

fn dns_wire_name(name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for label in name.split('.') {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out
}

fn dns_record(rtype: u16, ttl: u32, rdata: &[u8]) -> Vec<u8> {
    let mut r = vec![0xC0, 0x0C];
    r.extend_from_slice(&rtype.to_be_bytes());
    r.extend_from_slice(&1u16.to_be_bytes());
    r.extend_from_slice(&ttl.to_be_bytes());
    r.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    r.extend_from_slice(rdata);
    r
}

fn dns_chain(i: usize) -> DnsChain {
    let host = format!("d{i}.example.test");
    let mut naptr = vec![0, 10, 0, 50, 1, b's', 7];
    naptr.extend_from_slice(b"SIP+D2U");
    naptr.push(0);
    naptr.extend(dns_wire_name(&format!("_sip._udp.{host}")));
    let mut srv = vec![0, 0, 0, 0, 0x13, 0xCE];
    srv.extend(dns_wire_name(&format!("pbx.{host}")));
    DnsChain {
        naptr: dns_record(35, 3600, &naptr),
        srv: dns_record(33, 600, &srv),
        a: dns_record(1, 300, &[192, 0, 2, i as u8]),
        host,
    }
}

/// Writes the answer a server would give to `query` from `chain` into
/// `pkt`; returns its length.
fn dns_answer(query: &[u8], chain: &DnsChain, pkt: &mut [u8; 1024]) -> usize {
    // The question ends where the 11-byte OPT record starts.
    let qend = query.len() - 11;
    let record: &[u8] = match u16::from_be_bytes([query[qend - 4], query[qend - 3]]) {
        35 => &chain.naptr,
        33 => &chain.srv,
        _ => &chain.a,
    };
    pkt[..qend].copy_from_slice(&query[..qend]);
    pkt[2..4].copy_from_slice(&[0x81, 0x80]);
    pkt[6..12].copy_from_slice(&[0, 1, 0, 0, 0, 0]);
    pkt[qend..qend + record.len()].copy_from_slice(record);
    qend + record.len()
}

/// Answers `query` from `chain` like a server would, in a stack buffer.
fn dns_serve(
    r: &mut edgesip::dns::Resolver,
    now: edgesip::time::Instant,
    query: &[u8],
    sock: usize,
    chain: &DnsChain,
) {
    let mut pkt = [0u8; 1024];
    let n = dns_answer(query, chain, &mut pkt);
    let server = "192.0.2.53:53".parse().expect("addr");
    r.handle_answer(now, sock, server, &pkt[..n]);
}

#[test]
fn resolver_allocates_nothing() {
    use edgesip::dns::{Failure, Reach, Resolution, Resolver, ResolverConfig};
    use edgesip::time::Instant;
    let cfg = ResolverConfig {
        server: "192.0.2.53:53".parse().expect("addr"),
        cache: 8,
        pending: 8,
        sockets: 8,
        hosts: vec![("pbx.lan".into(), "192.0.2.1".parse().expect("ip"))],
    };
    let mut r = Resolver::new(cfg, 0x5EED);
    let chains: Vec<DnsChain> = (0..20).map(dns_chain).collect();
    let mut query = [0u8; 512];

    // A whole resolution: answers everything the resolver asks.
    let full = |r: &mut Resolver, query: &mut [u8; 512], now: Instant, c: &DnsChain| {
        let first = r.resolve(now, c.host.as_bytes(), None, 7, Reach::udp(true, false));
        while let Some((sock, _, len)) = r.poll_query(query) {
            dns_serve(r, now, &query[..len], sock, c);
        }
        let done = r.poll_done();
        assert!(r.poll_done().is_none());
        (first, done)
    };
    let warm = full(&mut r, &mut query, Instant(0), &chains[0]);
    assert!(matches!(warm.1, Some((_, Resolution::Ready(..)))));

    let mut results = [(Resolution::Failed(Failure::NxDomain), None); 10];
    let mut hits = [Resolution::Failed(Failure::NxDomain); 10];
    let mut timeouts = [None; 10];
    let mut expired = [None; 10];
    let allocs = count_allocs(|| {
        for round in 0..10u64 {
            // 1,000 s on: the last round's A and SRV answers have expired,
            // its NAPTRs not.
            let now = Instant((1 + round) * 1_000_000);
            let i = round as usize;
            let c = &chains[i];
            // NAPTR → SRV → A with answers (an 8-entry cache, 5 new entries
            // a round: evictions too), then the same from the cache, and a
            // hosts hit.
            results[i] = full(&mut r, &mut query, now, c);
            hits[i] = r.resolve(now, c.host.as_bytes(), None, 9, Reach::udp(true, false));
            assert!(matches!(
                r.resolve(now, b"pbx.lan", Some(5080), 0, Reach::udp(true, false)),
                Resolution::Ready(..)
            ));

            // A silent server: one retransmission, then the query fails.
            let _ = r.resolve(
                now,
                b"silent.example.test",
                Some(5060),
                0,
                Reach::udp(true, false),
            );
            while r.poll_query(&mut query).is_some() {}
            r.handle_timeout(now + std::time::Duration::from_secs(2));
            while r.poll_query(&mut query).is_some() {}
            r.handle_timeout(now + std::time::Duration::from_secs(4));
            timeouts[i] = r.poll_done();

            // A slow server: each answer just before its retry would be
            // given up, until the 10 s deadline ends the resolution.
            let start = now + std::time::Duration::from_secs(100);
            let c = &chains[10 + i];
            let _ = r.resolve(start, c.host.as_bytes(), None, 1, Reach::udp(true, false));
            let mut at = start;
            for _ in 0..3 {
                while r.poll_query(&mut query).is_some() {}
                at = at + std::time::Duration::from_millis(2_000);
                r.handle_timeout(at);
                let Some((sock, _, len)) = r.poll_query(&mut query) else {
                    break;
                };
                at = at + std::time::Duration::from_millis(1_900);
                if at < start + std::time::Duration::from_secs(10) {
                    dns_serve(&mut r, at, &query[..len], sock, c);
                }
            }
            r.handle_timeout(start + std::time::Duration::from_secs(10));
            expired[i] = r.poll_done();
        }
    });
    assert_eq!(allocs, 0, "allocations in the resolver");
    for i in 0..10 {
        let want = Resolution::Ready(
            std::net::SocketAddr::from(([192, 0, 2, i as u8], 5070)),
            Some(edgesip::dns::Transport::Udp),
        );
        assert!(
            matches!(results[i].0, Resolution::Pending(_)),
            "{:?}",
            results[i]
        );
        assert_eq!(results[i].1.map(|d| d.1), Some(want), "round {i}");
        assert_eq!(hits[i], want);
        let unavailable = Some(Resolution::Failed(Failure::Unavailable));
        assert_eq!(timeouts[i].map(|d| d.1), unavailable, "round {i}");
        assert_eq!(expired[i].map(|d| d.1), unavailable, "round {i}");
    }
    let s = r.stats();
    assert_eq!(s.timeouts, 10);
    assert_eq!(s.expired, 10);
    assert!(s.evictions > 0);
}

#[test]
fn proxy_dns_cache_hit_and_parked_forward_allocate_nothing() {
    use edgesip::time::Instant;
    let a: std::net::SocketAddr = "127.0.0.1:5060".parse().expect("addr");
    let leg = edgesip::config::LegSpec::new("lan", a, &[]);
    let mut cfg = edgesip::config::Config::with_legs(vec![leg]);
    // A documentation address: this test sends nothing anywhere.
    let server: std::net::SocketAddr = "192.0.2.53:53".parse().expect("addr");
    cfg.dns = Some(edgesip::dns::ResolverConfig {
        server,
        cache: 64,
        pending: 8,
        sockets: 8,
        hosts: Vec::new(),
    });
    let mut p = edgesip::proxy::Proxy::new(&cfg, b"dns secret", 1).expect("proxy");
    let uac: std::net::SocketAddr = "127.0.0.1:5071".parse().expect("addr");
    let chains: Vec<DnsChain> = (0..20).map(dns_chain).collect();
    let requests: Vec<Vec<u8>> = chains
        .iter()
        .map(|c| {
            String::from_utf8_lossy(ACK)
                .replace("ACK sip:bob@192.0.2.20", &format!("ACK sip:bob@{}", c.host))
                .replace("call1@uac", &format!("{}@uac", c.host))
                .into_bytes()
        })
        .collect();
    let mut out = vec![0u8; 65_535];
    let mut q = [0u8; 512];
    let mut pkt = [0u8; 1024];
    // One parked forward: the request waits, the chain is answered, and
    // the request comes out.
    let mut run = |p: &mut edgesip::proxy::Proxy, i: usize, now: Instant, out: &mut [u8]| -> bool {
        let forwarded_at_once = p
            .handle(&mut Cx::new(now, &mut NoSockets), 0, uac, &requests[i], out)
            .transmit()
            .is_some();
        if forwarded_at_once {
            return true;
        }
        while let Some(t) = p.poll_dns(&mut q) {
            let Socket::Dns(sock) = t.socket else {
                panic!("a query from {:?}", t.socket);
            };
            let len = dns_answer(&q[..t.len], &chains[i], &mut pkt);
            p.handle_dns(now, sock, server, &pkt[..len]);
        }
        p.poll_parked(&mut Cx::new(now, &mut NoSockets), out)
            .and_then(|o| o.transmit())
            .is_some()
    };
    assert!(run(&mut p, 0, Instant(1), &mut out), "warm-up forward");
    let mut forwarded = 0;
    let allocs = count_allocs(|| {
        #[allow(clippy::needless_range_loop)] // `run` indexes two tables
        for i in 1..20 {
            // A miss that parks, then a hit from the cache.
            forwarded += usize::from(run(&mut p, i, Instant(10 + i as u64), &mut out));
            forwarded += usize::from(
                p.handle(
                    &mut Cx::new(Instant(20 + i as u64), &mut NoSockets),
                    0,
                    uac,
                    &requests[i],
                    &mut out,
                )
                .transmit()
                .is_some(),
            );
        }
    });
    assert_eq!(allocs, 0, "the DNS path of the proxy allocated");
    assert_eq!(forwarded, 38);
    assert_eq!(p.stats().counted(edgesip::output::Why::DnsWait), 20);
}

#[test]
fn a_status_request_allocates_nothing() {
    use edgesip::status::{answer, MAX_ANSWER};
    use edgesip::time::Instant;
    let specs = vec![
        edgesip::config::LegSpec::new(
            "lan",
            "127.0.0.1:5060".parse().expect("addr"),
            &["127.0.0.1/32".parse().expect("net")],
        ),
        edgesip::config::LegSpec::new("wan", "127.0.0.2:5060".parse().expect("addr"), &[]),
    ];
    let mut cfg = edgesip::config::Config::with_legs(specs);
    cfg.registrar = Some(edgesip::registrar::RegistrarConfig {
        domains: vec!["example.com".into()],
        ..Default::default()
    });
    cfg.nat = Some(edgesip::relay::RelayConfig::default());
    let mut p = edgesip::proxy::Proxy::new(&cfg, b"status secret", 1).expect("proxy");
    let mut out = vec![0u8; 65_535];
    for u in 0..50 {
        let reg = register_text(u, 1, true, "");
        let t = p
            .handle(
                &mut Cx::new(Instant(1), &mut NoSockets),
                0,
                "127.0.0.1:5070".parse().expect("addr"),
                &reg,
                &mut out,
            )
            .transmit();
        assert!(t.is_some());
    }
    let mut answer_buf = vec![0u8; MAX_ANSWER];
    let requests: [&[u8]; 9] = [
        b"summary text",
        b"summary json",
        b"summary prometheus",
        b"bindings text 0",
        b"bindings json 10",
        b"calls text",
        b"calls json",
        b"registrations text",
        b"nonsense",
    ];
    let mut written = 0;
    let tcp = edgesip::stream::TcpStats {
        open: 2,
        capacity: 64,
        ..Default::default()
    };
    let allocs = count_allocs(|| {
        for _ in 0..20 {
            for r in requests {
                written += answer(&p, Some(&tcp), Instant(5000), r, &mut answer_buf);
            }
        }
    });
    assert_eq!(allocs, 0, "a status answer allocated");
    assert!(written > 20 * 3000, "{written}");
}

/// The WAN's guards: refusals of the public-leg rules, per-source relay
/// limits, digest replays and lockouts, tokens with a Route left, relay
/// drops. The first round sets things up; the counted rounds repeat it.
#[test]
fn the_wan_guards_allocate_nothing() {
    use edgesip::output::{Outcome, Why};
    use edgesip::time::Instant;
    let specs = vec![
        edgesip::config::LegSpec::new(
            "lan",
            "127.0.0.1:5060".parse().expect("addr"),
            &["127.0.0.1/32".parse().expect("net")],
        ),
        edgesip::config::LegSpec::new("wan", "127.0.0.2:5060".parse().expect("addr"), &[]),
    ];
    let mut cfg = edgesip::config::Config::with_legs(specs);
    cfg.registrar = Some(edgesip::registrar::RegistrarConfig {
        domains: vec!["example.com".into()],
        users: Some(
            edgesip::registrar::parse_auth_file("alice:wonderland\ncarol:secret\n").expect("users"),
        ),
        ..Default::default()
    });
    cfg.nat = Some(edgesip::relay::RelayConfig {
        port_lo: 30000,
        port_hi: 30199,
        max_calls: 8,
        max_per_source: Some(1),
        media_timeout: std::time::Duration::from_secs(120),
        hold_timeout: std::time::Duration::from_secs(7200),
    });
    let mut p = edgesip::proxy::Proxy::new(&cfg, b"guard secret", 1).expect("proxy");
    let mut socks = FakeSockets([false; 256]);
    let mut out = vec![0u8; 65_535];
    let lan: std::net::SocketAddr = "127.0.0.1:5071".parse().expect("addr");
    let wan: std::net::SocketAddr = "127.0.0.3:5072".parse().expect("addr");
    let run = |p: &mut edgesip::proxy::Proxy,
               socks: &mut FakeSockets,
               now: u64,
               leg: usize,
               src: std::net::SocketAddr,
               msg: &[u8],
               out: &mut [u8]| {
        p.handle(&mut Cx::new(Instant(now), socks), leg, src, msg, out)
    };
    // alice's Contact leaves as a token.
    let inv = b"INVITE sip:bob@127.0.0.3:5072 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5071;branch=z9hG4bKg1\r\n\
Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=a\r\nTo: <sip:bob@example.org>\r\nCall-ID: g1\r\n\
CSeq: 1 INVITE\r\nContact: <sip:alice@127.0.0.1:5071>\r\nContent-Length: 0\r\n\r\n";
    let o = run(&mut p, &mut socks, 1, 0, lan, inv, &mut out);
    let fwd = out[..o.transmit().expect("forwarded").len].to_vec();
    let m = Message::parse(&fwd).expect("parses");
    let (_, c) = m.addrs(HeaderName::Contact).next().expect("contact");
    let token = String::from_utf8_lossy(c.uri.raw).into_owned();
    let wan_req = |method: &str, ruri: &str, route: &str, id: &str, body: &str| -> Vec<u8> {
        let (ct, sdp) = if body.is_empty() {
            (String::new(), String::new())
        } else {
            (
                "Content-Type: application/sdp\r\n".to_string(),
                body.to_string(),
            )
        };
        format!(
            "{method} {ruri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.3:5072;branch=z9hG4bK{id}\r\nMax-Forwards: 70\r\n\
{route}From: <sip:bob@example.org>;tag=b{id}\r\nTo: <sip:alice@example.com>\r\nCall-ID: {id}\r\n\
CSeq: 1 {method}\r\nContact: <sip:bob@127.0.0.3:5072>\r\n{ct}Content-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        )
        .into_bytes()
    };
    let sdp = "v=0\r\no=x 1 1 IN IP4 127.0.0.3\r\ns=-\r\nc=IN IP4 127.0.0.3\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0\r\n";
    let cases: Vec<(Vec<u8>, Why)> = vec![
        // Finding 1: WAN to WAN through a LAN Route.
        (
            wan_req(
                "INVITE",
                "sip:x@198.51.100.7",
                "Route: <sip:127.0.0.2;lr>, <sip:127.0.0.1;lr>\r\n",
                "f1",
                "",
            ),
            Why::Public,
        ),
        // A token carried on to an outside Route.
        (
            wan_req(
                "BYE",
                &token,
                "Route: <sip:127.0.0.2;lr>, <sip:198.51.100.7;lr>\r\n",
                "f2",
                "",
            ),
            Why::PublicDestination,
        ),
        // The second relayed offer from one WAN source.
        (
            wan_req("INVITE", &token, "", "f3b", sdp),
            Why::RelayPerSource,
        ),
        // A REGISTER from the WAN with a wrong password.
        (
            Vec::new(),
            Why::Registrar(edgesip::registrar::Note::WrongPassword),
        ),
    ];
    // The first relayed offer takes the source's one slot.
    let first = wan_req("INVITE", &token, "", "f3a", sdp);
    assert!(matches!(
        run(&mut p, &mut socks, 2, 1, wan, &first, &mut out),
        Outcome::Forwarded { .. }
    ));
    // A challenge, then a wrong and a replayed Authorization.
    let reg = |cseq: u32, auth: &str| -> Vec<u8> {
        format!(
            "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.3:5072;branch=z9hG4bKgr{cseq}\r\n\
From: <sip:alice@example.com>;tag=r\r\nTo: <sip:alice@example.com>\r\nCall-ID: greg\r\n\
CSeq: {cseq} REGISTER\r\nContact: <sip:alice@127.0.0.3:5072>\r\n{auth}Content-Length: 0\r\n\r\n"
        )
        .into_bytes()
    };
    let mut nonce_for = |src: std::net::SocketAddr| {
        let o = run(&mut p, &mut socks, 3, 1, src, &reg(1, ""), &mut out);
        let text = String::from_utf8_lossy(&out[..o.transmit().expect("401").len]).into_owned();
        text.split("nonce=\"").nth(1).expect("nonce")[..24].to_string()
    };
    // The guesser comes from another address than the phone, for another
    // user: its lockout must not hide the phone's replayed Authorization.
    let guesser: std::net::SocketAddr = "127.0.0.4:5072".parse().expect("addr");
    let (nonce, guess_nonce) = (nonce_for(wan), nonce_for(guesser));
    let auth_with = |nonce: &str, pw: &str, nc: &str| {
        // alice's own, or a guess at carol's.
        let user = if pw == "wonderland" { "alice" } else { "carol" };
        let ha1 = md5_hex(&format!("{user}:example.com:{pw}"));
        let ha2 = md5_hex("REGISTER:sip:example.com");
        let resp = md5_hex(&format!("{ha1}:{nonce}:{nc}:c:auth:{ha2}"));
        format!(
            "Authorization: Digest username=\"{user}\", realm=\"example.com\", nonce=\"{nonce}\", \
uri=\"sip:example.com\", response=\"{resp}\", algorithm=MD5, qop=auth, nc={nc}, cnonce=\"c\"\r\n"
        )
    };
    let auth = |pw: &str, nc: &str| auth_with(&nonce, pw, nc);
    let good = reg(2, &auth("wonderland", "00000001"));
    let o = run(&mut p, &mut socks, 4, 1, wan, &good, &mut out);
    assert!(matches!(o, Outcome::Answered { code: 200, .. }), "{o:?}");
    let replay = reg(3, &auth("wonderland", "00000001"));
    let wrong = reg(4, &auth_with(&guess_nonce, "looking-glass", "00000002"));
    let mut cases = cases;
    cases[3].0 = wrong;
    cases.push((replay, Why::Registrar(edgesip::registrar::Note::Replay)));
    let source = |i: usize| if i == 3 { guesser } else { wan };
    // Warm every case once.
    for (i, (msg, _)) in cases.iter().enumerate() {
        let _ = run(&mut p, &mut socks, 5, 1, source(i), msg, &mut out);
    }
    use edgesip::registrar::Note;
    let mut seen = 0;
    let mut last_miss = [None; 5];
    let allocs = count_allocs(|| {
        for i in 0..200u64 {
            for (k, (msg, want)) in cases.iter().enumerate() {
                // 100 ms a round: the offer's slot and the nonce stay.
                let o = run(
                    &mut p,
                    &mut socks,
                    10 + i * 100,
                    1,
                    source(k),
                    msg,
                    &mut out,
                );
                let hit = match (o.why(), *want) {
                    // Ten wrong passwords lock the source out.
                    (
                        Some(Why::Registrar(Note::Lockout | Note::LockedOut)),
                        Why::Registrar(Note::WrongPassword),
                    ) => true,
                    (got, want) => got == Some(want),
                };
                seen += usize::from(hit);
                if !hit {
                    last_miss[k] = o.why();
                }
            }
        }
    });
    assert_eq!(last_miss, [None; 5], "cases that missed");
    assert_eq!(allocs, 0, "the WAN guards allocated");
    assert_eq!(seen, 200 * cases.len());
}

/// #13's paths: a token in the Request-URI with a Route left (a dialog
/// through a record-routing provider), a hairpin's SDP naming our own
/// relay port, and the relay's drops (not latched, to ourselves).
#[test]
fn dialogs_through_a_provider_allocate_nothing() {
    use edgesip::time::Instant;
    let specs = vec![
        edgesip::config::LegSpec::new(
            "lan",
            "127.0.0.1:5060".parse().expect("addr"),
            &["127.0.0.1/32".parse().expect("net")],
        ),
        edgesip::config::LegSpec::new("wan", "127.0.0.2:5060".parse().expect("addr"), &[]),
    ];
    let mut cfg = edgesip::config::Config::with_legs(specs);
    cfg.nat = Some(edgesip::relay::RelayConfig {
        port_lo: 30000,
        port_hi: 30199,
        max_calls: 8,
        max_per_source: None,
        media_timeout: std::time::Duration::from_secs(120),
        hold_timeout: std::time::Duration::from_secs(7200),
    });
    let mut p = edgesip::proxy::Proxy::new(&cfg, b"dialog secret", 1).expect("proxy");
    let mut socks = FakeSockets([false; 256]);
    let mut out = vec![0u8; 65_535];
    let lan: std::net::SocketAddr = "127.0.0.1:5071".parse().expect("addr");
    let prov: std::net::SocketAddr = "127.0.0.9:5090".parse().expect("addr");
    let sdp = |ip: &str, port: u16| {
        format!("v=0\r\no=x 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0\r\n")
    };
    let inv = format!(
        "INVITE sip:bob@127.0.0.9:5090 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5071;branch=z9hG4bKd1\r\n\
Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=a\r\nTo: <sip:bob@example.org>\r\nCall-ID: d1\r\n\
CSeq: 1 INVITE\r\nContact: <sip:alice@127.0.0.1:5071>\r\nContent-Type: application/sdp\r\n\
Content-Length: {}\r\n\r\n{}",
        sdp("127.0.0.1", 40000).len(),
        sdp("127.0.0.1", 40000)
    );
    let t = p
        .handle(
            &mut Cx::new(Instant(1), &mut socks),
            0,
            lan,
            inv.as_bytes(),
            &mut out,
        )
        .transmit()
        .expect("INVITE out");
    let fwd = out[..t.len].to_vec();
    // The provider record-routes and answers for bob.
    let ok = String::from_utf8(answer_of(&fwd))
        .expect("utf8")
        .replacen(
            "Record-Route: ",
            "Record-Route: <sip:127.0.0.9:5090;lr>\r\nRecord-Route: ",
            1,
        )
        .replace(
            "Content-Length: 0\r\n\r\n",
            &format!(
                "Contact: <sip:bob@127.0.0.3:5072>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{}",
                sdp("10.9.9.9", 30000).len(),
                sdp("10.9.9.9", 30000)
            ),
        );
    let t = p
        .handle(
            &mut Cx::new(Instant(2), &mut socks),
            1,
            prov,
            ok.as_bytes(),
            &mut out,
        )
        .transmit()
        .expect("200 back");
    let back = out[..t.len].to_vec();
    let m = Message::parse(&back).expect("parses");
    let (_, c) = m.addrs(HeaderName::Contact).next().expect("contact");
    let token = String::from_utf8_lossy(c.uri.raw).into_owned();
    let relay_a: u16 = String::from_utf8_lossy(m.body())
        .lines()
        .find_map(|l| l.strip_prefix("m=audio ")?.split(' ').next()?.parse().ok())
        .expect("port");
    let ack = format!(
        "ACK {token} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5071;branch=z9hG4bKd2\r\nMax-Forwards: 70\r\n\
Route: <sip:127.0.0.1;lr>, <sip:127.0.0.2;lr>, <sip:127.0.0.9:5090;lr>\r\n\
From: <sip:alice@example.com>;tag=a\r\nTo: <sip:bob@example.org>;tag=uas\r\nCall-ID: d1\r\n\
CSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
    );
    // A hairpin's second pass: an offer naming our own WAN relay port, for
    // a token that left by the WAN (here alice's own).
    let fm = Message::parse(&fwd).expect("parses");
    let (_, c) = fm.addrs(HeaderName::Contact).next().expect("contact");
    let wan_token = String::from_utf8_lossy(c.uri.raw).into_owned();
    let hairpin = String::from_utf8(fwd.clone())
        .expect("utf8")
        .replacen(
            "Via: ",
            "Via: SIP/2.0/UDP 127.0.0.9:5090;branch=z9hG4bKh1\r\nVia: ",
            1,
        )
        .replace(
            "INVITE sip:bob@127.0.0.9:5090",
            &format!("INVITE {wan_token}"),
        );
    let rtp = [0x80u8; 172];
    let media: std::net::SocketAddr = "127.0.0.1:40000".parse().expect("addr");
    let pair_a = (relay_a - 30000) / 2;
    let mut sent = [0usize; 3];
    let run = |p: &mut edgesip::proxy::Proxy,
               socks: &mut FakeSockets,
               out: &mut [u8],
               sent: &mut [usize; 3],
               i: u64| {
        let now = Instant(10 + i * 10);
        let o = p.handle(&mut Cx::new(now, socks), 0, lan, ack.as_bytes(), out);
        sent[0] += usize::from(o.transmit().is_some_and(|t| t.dst == prov));
        let o = p.handle(&mut Cx::new(now, socks), 1, prov, hairpin.as_bytes(), out);
        sent[1] += usize::from(o.transmit().is_some());
        // bob's SDP names a private address: nothing until he latches.
        let r = p.relay(now, 0, pair_a, false, media, &rtp);
        sent[2] += usize::from(r.is_none());
    };
    run(&mut p, &mut socks, &mut out, &mut sent, 0);
    sent = [0; 3];
    let allocs = count_allocs(|| {
        for i in 0..1_000u64 {
            run(&mut p, &mut socks, &mut out, &mut sent, i);
        }
    });
    assert_eq!(allocs, 0, "dialog paths allocated");
    assert_eq!(sent, [1_000; 3]);
}

/// TCP (#16): open a slot, frame two messages from the buffer, hand each
/// to the core with its connection, queue the answer, a ping's CRLF, the
/// 503 of an undeliverable request, and close; nothing allocates once the
/// table exists.
#[test]
fn the_stream_path_allocates_nothing() {
    use edgesip::config::Transports;
    use edgesip::stream::{Frame, StreamConfig, Streams};
    use edgesip::time::Instant;
    let mut lan = edgesip::config::LegSpec::new(
        "lan",
        "192.168.1.1:5060".parse().expect("addr"),
        &["192.168.1.0/24".parse().expect("net")],
    );
    lan.transport = Transports::UdpTcp;
    let mut wan =
        edgesip::config::LegSpec::new("wan", "198.51.100.1:5060".parse().expect("addr"), &[]);
    wan.transport = Transports::TcpOnly;
    let cfg = edgesip::config::Config::with_legs(vec![lan, wan]);
    let mut p = edgesip::proxy::Proxy::new(&cfg, b"no-alloc secret", 1).expect("proxy");
    let mut streams = Streams::new(StreamConfig::default());
    let phone: std::net::SocketAddr = "192.168.1.20:40000".parse().expect("addr");
    let provider: std::net::SocketAddr = "203.0.113.5:5060".parse().expect("addr");
    let invite = b"INVITE sip:bob@203.0.113.5 SIP/2.0\r\n\
Via: SIP/2.0/TCP 192.168.1.20:5060;branch=z9hG4bKt1;rport\r\n\
Max-Forwards: 70\r\n\
From: <sip:alice@example.org>;tag=f1\r\n\
To: <sip:bob@example.com>\r\n\
Call-ID: tcp@phone\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:alice@192.168.1.20:5060;transport=tcp>\r\n\
Content-Length: 0\r\n\r\n";
    let mut stream_bytes = b"\r\n\r\n".to_vec();
    stream_bytes.extend_from_slice(invite);
    stream_bytes.extend_from_slice(invite);
    let mut out = vec![0u8; 65_535];
    let mut scratch = vec![0u8; 65_535];
    let mut sent = vec![0u8; 65_535];
    let mut run = |p: &mut edgesip::proxy::Proxy, streams: &mut Streams, round: u64| {
        let now = Instant::from_secs(round);
        let c = streams.open(now, 0, phone, false).expect("a slot");
        let room = streams.rx_space(c);
        room[..stream_bytes.len()].copy_from_slice(&stream_bytes);
        streams.filled(c, stream_bytes.len(), now);
        let mut forwarded = 0;
        loop {
            let (f, bytes) = streams.frame(c);
            match f {
                Frame::Ping => {
                    streams.consume(c, 4, now);
                    streams.queue(c, b"\r\n").expect("room");
                }
                Frame::Message(n) => {
                    let mut ns = NoSockets;
                    let mut cx = Cx::on_stream(now, &mut ns, c);
                    let o = p.handle(&mut cx, 0, phone, bytes, &mut out);
                    let t = o.transmit().expect("forwarded");
                    assert!(matches!(t.socket, Socket::Stream { leg: 1, .. }));
                    sent[..t.len].copy_from_slice(&out[..t.len]);
                    streams.consume(c, n, now);
                    // The provider cannot be reached: 503 back on c.
                    let mut ns = NoSockets;
                    let mut cx = Cx::new(now, &mut ns);
                    let o = p.undeliverable(
                        &mut cx,
                        1,
                        provider,
                        &sent[..t.len],
                        &mut scratch,
                        &mut out,
                    );
                    let back = o.transmit().expect("503 back");
                    assert_eq!(
                        back.socket,
                        Socket::Stream {
                            leg: 0,
                            conn: Some(c)
                        }
                    );
                    streams.queue(c, &out[..back.len]).expect("room");
                    forwarded += 1;
                }
                _ => break,
            }
        }
        assert_eq!(forwarded, 2);
        let n = streams.unsent(c).len();
        streams.sent(c, n, now);
        streams.close(c);
    };
    run(&mut p, &mut streams, 1);
    let allocs = count_allocs(|| {
        for round in 2..200 {
            run(&mut p, &mut streams, round);
        }
    });
    assert_eq!(allocs, 0, "allocations on the stream path");
}
