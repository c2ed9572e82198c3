//! The registrar through its sans-IO API, on a fake clock: REGISTERs are
//! built as text, parsed, handled, and the responses parsed back.

use edgesip::daemon::persist::{load_file, save_file};
use edgesip::hmac::HmacKey;
use edgesip::registrar::{parse_auth_file, Lookup, Registrar, RegistrarConfig};
use edgesip::sip::{stateless_to_tag, Full, HeaderName, Message, Uri};
use edgesip::time::Instant;
use md5::{Digest, Md5};
use std::net::SocketAddr;

const SECRET: &[u8] = b"registrar test secret";
const LAN: &str = "192.168.1.50:5060";
const WAN: &str = "203.0.113.9:41000";

/// A REGISTER under construction.
#[derive(Clone)]
struct Reg {
    ruri: String,
    to: String,
    call_id: String,
    cseq: u32,
    contacts: Vec<String>,
    expires: Option<u32>,
    extra: Vec<String>,
}

impl Reg {
    fn new(user: &str, domain: &str) -> Reg {
        Reg {
            ruri: format!("sip:{domain}"),
            to: format!("sip:{user}@{domain}"),
            call_id: format!("{user}-reg@uac"),
            cseq: 1,
            contacts: Vec::new(),
            expires: None,
            extra: Vec::new(),
        }
    }
    fn ruri(mut self, r: &str) -> Reg {
        self.ruri = r.into();
        self
    }
    fn to(mut self, t: &str) -> Reg {
        self.to = t.into();
        self
    }
    fn contact(mut self, c: &str) -> Reg {
        self.contacts.push(c.into());
        self
    }
    fn cseq(mut self, n: u32) -> Reg {
        self.cseq = n;
        self
    }
    fn call_id(mut self, c: &str) -> Reg {
        self.call_id = c.into();
        self
    }
    fn expires(mut self, e: u32) -> Reg {
        self.expires = Some(e);
        self
    }
    fn header(mut self, h: &str) -> Reg {
        self.extra.push(h.into());
        self
    }
    fn text(&self) -> String {
        let mut s = format!(
            "REGISTER {} SIP/2.0\r\n\
             Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK{}x{};rport\r\n\
             Max-Forwards: 70\r\n\
             From: <{}>;tag=ftag\r\n\
             To: <{}>\r\n\
             Call-ID: {}\r\n\
             CSeq: {} REGISTER\r\n",
            self.ruri,
            self.call_id.len(),
            self.cseq,
            self.to,
            self.to,
            self.call_id,
            self.cseq
        );
        for c in &self.contacts {
            s += &format!("Contact: {c}\r\n");
        }
        if let Some(e) = self.expires {
            s += &format!("Expires: {e}\r\n");
        }
        for h in &self.extra {
            s += &format!("{h}\r\n");
        }
        s + "Content-Length: 0\r\n\r\n"
    }
}

struct Resp(String);

impl Resp {
    fn msg(&self) -> Message<'_> {
        Message::parse(self.0.as_bytes()).expect("the response parses")
    }
    fn code(&self) -> u16 {
        self.msg().status().expect("a response")
    }
    fn header(&self, name: &str) -> Option<String> {
        let m = self.msg();
        let h = m
            .headers()
            .iter()
            .find(|h| h.raw_name.eq_ignore_ascii_case(name.as_bytes()))?;
        Some(String::from_utf8_lossy(h.value).into_owned())
    }
    /// (URI, expires, +sip.instance) of each Contact.
    fn contacts(&self) -> Vec<(String, u32, Option<String>)> {
        let m = self.msg();
        m.addrs(HeaderName::Contact)
            .map(|(_, a)| {
                (
                    String::from_utf8_lossy(a.uri.raw).into_owned(),
                    a.expires().expect("expires on every Contact"),
                    a.param(b"+sip.instance")
                        .and_then(|p| p.value)
                        .map(|v| String::from_utf8_lossy(v).into_owned()),
                )
            })
            .collect()
    }
    fn uris(&self) -> Vec<String> {
        let mut v: Vec<String> = self.contacts().into_iter().map(|c| c.0).collect();
        v.sort();
        v
    }
    /// (realm, nonce, stale) of the WWW-Authenticate challenge.
    fn challenge(&self) -> (String, String, bool) {
        let h = self.header("WWW-Authenticate").expect("a challenge");
        let param = |name: &str| {
            let start = h.find(&format!("{name}=\"")).expect(name) + name.len() + 2;
            h[start..start + h[start..].find('"').expect("closing quote")].to_string()
        };
        assert!(h.starts_with("Digest "), "{h}");
        assert!(h.contains("algorithm=MD5"), "{h}");
        assert!(h.contains("qop=\"auth\""), "{h}");
        (param("realm"), param("nonce"), h.contains("stale=true"))
    }
}

struct Harness {
    reg: Registrar,
    now: Instant,
    tag_key: HmacKey,
    out: Vec<u8>,
}

fn config(domains: &[&str]) -> RegistrarConfig {
    RegistrarConfig {
        domains: domains.iter().map(|d| d.to_string()).collect(),
        aliases: vec!["192.168.1.1".into(), "router.lan".into()],
        ..RegistrarConfig::default()
    }
}

impl Harness {
    fn new(cfg: RegistrarConfig) -> Harness {
        Harness {
            reg: Registrar::new(cfg, SECRET),
            now: Instant::from_secs(10_000),
            tag_key: HmacKey::new(b"tag key"),
            out: vec![0u8; 65_535],
        }
    }

    fn example() -> Harness {
        Harness::new(config(&["example.com"]))
    }

    /// Sends from a trusted LAN leg.
    fn send(&mut self, r: &Reg) -> Option<Resp> {
        self.send_from(r, 0, true, LAN)
    }

    fn send_from(&mut self, r: &Reg, leg: usize, trusted: bool, src: &str) -> Option<Resp> {
        let text = r.text();
        let m = Message::parse(text.as_bytes()).expect("the REGISTER parses");
        let tag = stateless_to_tag(&self.tag_key, &m);
        let src: SocketAddr = src.parse().expect("address");
        let n = self
            .reg
            .handle_register(self.now, leg, trusted, src, &m, &tag, &mut self.out)?
            .expect("a response was written")
            .len;
        Some(Resp(String::from_utf8_lossy(&self.out[..n]).into_owned()))
    }

    fn ok(&mut self, r: &Reg) -> Resp {
        let resp = self.send(r).expect("handled");
        assert_eq!(resp.code(), 200, "{}", resp.0);
        resp
    }

    fn advance(&mut self, secs: u64) {
        self.now = Instant(self.now.0 + secs * 1000);
    }

    fn lookup(&self, uri: &str) -> Lookup<'_> {
        let u = Uri::parse(uri.as_bytes()).expect("uri");
        self.reg.lookup(self.now, &u)
    }

    fn bound(&self, uri: &str) -> Option<(String, SocketAddr, usize)> {
        match self.lookup(uri) {
            Lookup::Bound {
                contact,
                source,
                leg,
            } => Some((String::from_utf8_lossy(contact).into_owned(), source, leg)),
            _ => None,
        }
    }
}

#[test]
fn register_refresh_and_several_contacts() {
    let mut h = Harness::example();
    let r = Reg::new("alice", "example.com").contact("<sip:alice@10.0.0.5:5060>;expires=600");
    let resp = h.ok(&r);
    assert_eq!(
        resp.contacts(),
        vec![("sip:alice@10.0.0.5:5060".to_string(), 600, None)]
    );
    // A To-tag, and the source on the Via (RFC 3581).
    let m = resp.msg();
    assert!(m.to().unwrap().tag().is_some_and(|t| t.len() == 16));
    let via = resp.header("Via").unwrap();
    assert!(
        via.contains("received=192.168.1.50") && via.contains("rport=5060"),
        "{via}"
    );
    assert_eq!(resp.header("CSeq").unwrap(), "1 REGISTER");
    assert_eq!(h.reg.len(), 1);

    // Refresh later with a higher CSeq: one binding, new expiry.
    h.advance(100);
    let resp = h.ok(&r.clone().cseq(2));
    assert_eq!(resp.contacts()[0].1, 600);
    assert_eq!(h.reg.len(), 1);

    // Two more contacts in one REGISTER, in one header.
    h.advance(100);
    let r2 = Reg::new("alice", "example.com")
        .cseq(3)
        .expires(300)
        .contact("<sip:alice@10.0.0.6>, \"Desk\" <sip:alice@10.0.0.7;transport=udp>;+sip.instance=\"<urn:uuid:1>\"");
    let resp = h.ok(&r2);
    assert_eq!(
        resp.uris(),
        vec![
            "sip:alice@10.0.0.5:5060",
            "sip:alice@10.0.0.6",
            "sip:alice@10.0.0.7;transport=udp"
        ]
    );
    let inst = resp
        .contacts()
        .into_iter()
        .find(|c| c.0.ends_with("udp"))
        .unwrap();
    assert_eq!((inst.1, inst.2.as_deref()), (300, Some("\"<urn:uuid:1>\"")));
    // The first binding keeps its own remaining time.
    let first = resp
        .contacts()
        .into_iter()
        .find(|c| c.0.ends_with("5060"))
        .unwrap();
    assert_eq!(first.1, 500);
    assert_eq!(h.reg.len(), 3);
}

#[test]
fn expiry_per_contact_and_over_time() {
    let mut h = Harness::example();
    // Per-contact expires beats the header; no value means the maximum;
    // too large is capped.
    let r = Reg::new("bob", "example.com")
        .expires(120)
        .contact("<sip:bob@10.0.0.1>;expires=90")
        .contact("<sip:bob@10.0.0.2>")
        .contact("<sip:bob@10.0.0.3>;expires=999999");
    let mut got = h.ok(&r).contacts();
    got.sort();
    assert_eq!(
        got.iter().map(|c| c.1).collect::<Vec<_>>(),
        vec![90, 120, 3600]
    );
    let r = Reg::new("carol", "example.com").contact("<sip:carol@10.0.0.9>");
    assert_eq!(h.ok(&r).contacts()[0].1, 3600);

    assert_eq!(h.reg.poll_timeout(), Some(Instant(h.now.0 + 90_000)));
    h.advance(89);
    assert!(h.bound("sip:bob@example.com").is_some());
    h.advance(1);
    // Lazily invisible, then dropped by the timer.
    let q = Reg::new("bob", "example.com").cseq(2);
    assert_eq!(h.ok(&q).contacts().len(), 2);
    h.handle_timeout_now();
    assert_eq!(h.reg.len(), 3);
    h.advance(30);
    h.handle_timeout_now();
    assert_eq!(h.reg.len(), 2);
    h.advance(3600);
    assert!(matches!(h.lookup("sip:bob@example.com"), Lookup::Unbound));
    h.handle_timeout_now();
    assert_eq!(h.reg.len(), 0);
    assert_eq!(h.reg.poll_timeout(), None);

    // expires=0 removes just that binding.
    let r = Reg::new("dave", "example.com")
        .contact("<sip:dave@10.0.0.1>")
        .contact("<sip:dave@10.0.0.2>");
    h.ok(&r);
    let r = Reg::new("dave", "example.com")
        .cseq(2)
        .contact("<sip:dave@10.0.0.1>;expires=0");
    assert_eq!(h.ok(&r).uris(), vec!["sip:dave@10.0.0.2"]);
    assert_eq!(h.reg.len(), 1);
}

impl Harness {
    fn handle_timeout_now(&mut self) {
        self.reg.handle_timeout(self.now);
    }
}

#[test]
fn star_removes_all_and_query_lists() {
    let mut h = Harness::example();
    h.ok(&Reg::new("eve", "example.com")
        .contact("<sip:eve@10.0.0.1>")
        .contact("<sip:eve@10.0.0.2>"));
    h.ok(&Reg::new("frank", "example.com").contact("<sip:frank@10.0.0.3>"));
    // A query (no Contact) lists and changes nothing.
    let q = h.ok(&Reg::new("eve", "example.com").cseq(2));
    assert_eq!(q.uris(), vec!["sip:eve@10.0.0.1", "sip:eve@10.0.0.2"]);
    assert_eq!(h.reg.len(), 3);

    // `*` needs Expires: 0 and no other Contact.
    for bad in [
        Reg::new("eve", "example.com").cseq(3).contact("*"),
        Reg::new("eve", "example.com")
            .cseq(3)
            .contact("*")
            .expires(60),
        Reg::new("eve", "example.com")
            .cseq(3)
            .contact("*")
            .contact("<sip:eve@10.0.0.1>")
            .expires(0),
    ] {
        assert_eq!(h.send(&bad).unwrap().code(), 400);
    }
    assert_eq!(h.reg.len(), 3);
    // From another Call-ID too: all of eve's go, frank's stay.
    let star = Reg::new("eve", "example.com")
        .call_id("other@uac")
        .contact("*")
        .expires(0);
    assert!(h.ok(&star).contacts().is_empty());
    assert_eq!(h.reg.len(), 1);
    assert!(matches!(h.lookup("sip:eve@example.com"), Lookup::Unbound));
    assert!(h.bound("sip:frank@example.com").is_some());
}

#[test]
fn star_with_older_cseq_of_same_call_is_refused() {
    let mut h = Harness::example();
    h.ok(&Reg::new("eve", "example.com")
        .cseq(10)
        .contact("<sip:eve@10.0.0.1>"));
    let star = Reg::new("eve", "example.com")
        .cseq(9)
        .contact("*")
        .expires(0);
    let resp = h.send(&star).unwrap();
    assert_eq!(resp.code(), 500);
    assert_eq!(resp.header("Retry-After").as_deref(), Some("5"));
    assert_eq!(h.reg.len(), 1);
}

#[test]
fn too_brief_carries_min_expires() {
    let mut h = Harness::example();
    let r = Reg::new("gus", "example.com")
        .contact("<sip:gus@10.0.0.1>;expires=3600")
        .contact("<sip:gus@10.0.0.2>;expires=30");
    let resp = h.send(&r).unwrap();
    assert_eq!(resp.code(), 423);
    assert_eq!(resp.header("Min-Expires").as_deref(), Some("60"));
    // Nothing was applied, not even the good Contact.
    assert_eq!(h.reg.len(), 0);
    let r = Reg::new("gus", "example.com")
        .expires(59)
        .contact("<sip:gus@10.0.0.1>");
    assert_eq!(h.send(&r).unwrap().code(), 423);
    let r = Reg::new("gus", "example.com")
        .expires(60)
        .contact("<sip:gus@10.0.0.1>");
    assert_eq!(h.ok(&r).contacts()[0].1, 60);
}

#[test]
fn older_cseq_is_500_and_same_cseq_is_a_retransmission() {
    let mut h = Harness::example();
    let r = Reg::new("hal", "example.com")
        .cseq(5)
        .contact("<sip:hal@10.0.0.1>;expires=600");
    h.ok(&r);
    h.advance(10);
    // Same Call-ID, lower CSeq: out of order.
    let old = r.clone().cseq(4);
    let resp = h.send(&old).unwrap();
    assert_eq!(resp.code(), 500);
    assert_eq!(resp.header("Retry-After").as_deref(), Some("5"));
    assert!(resp.header("To").unwrap().contains("tag="));
    // Same CSeq, even asking for something else: answered, unchanged.
    let again = Reg::new("hal", "example.com")
        .cseq(5)
        .contact("<sip:hal@10.0.0.1>;expires=0");
    let resp = h.ok(&again);
    assert_eq!(
        resp.contacts(),
        vec![("sip:hal@10.0.0.1".to_string(), 590, None)]
    );
    let again = r.clone().contact("<sip:hal@10.0.0.1>;expires=3000");
    assert_eq!(h.ok(&again).contacts()[0].1, 590);
    // A new Call-ID may use any CSeq.
    let other = Reg::new("hal", "example.com")
        .call_id("reboot@uac")
        .cseq(1)
        .contact("<sip:hal@10.0.0.1>;expires=900");
    assert_eq!(h.ok(&other).contacts()[0].1, 900);
}

#[test]
fn domains_match_exactly_or_at_a_dot() {
    let mut h = Harness::example();
    let c = "<sip:ivy@10.0.0.1>";
    assert!(h
        .send(&Reg::new("ivy", "notexample.com").contact(c))
        .is_none());
    assert!(h
        .send(&Reg::new("ivy", "example.com.evil").contact(c))
        .is_none());
    h.ok(&Reg::new("ivy", "example.com").contact(c));
    h.ok(&Reg::new("ivy", "sip.example.com").contact(c));
    h.ok(&Reg::new("ivy", "EXAMPLE.COM").call_id("x@y").contact(c));
    // Case and port do not make another AoR.
    assert!(h.bound("sip:ivy@Example.Com:5060").is_some());
    assert!(matches!(
        h.lookup("sip:ivy@notexample.com"),
        Lookup::NotOurs
    ));
    assert!(h.bound("sip:ivy@sip.example.com").is_some());
    // Non-REGISTER requests are never handled here.
    let invite = Reg::new("ivy", "example.com")
        .text()
        .replace("REGISTER", "OPTIONS");
    let m = Message::parse(invite.as_bytes()).unwrap();
    let mut out = [0u8; 2048];
    let src = LAN.parse().unwrap();
    assert!(h
        .reg
        .handle_register(h.now, 0, true, src, &m, b"t", &mut out)
        .is_none());
    // The AoR must be in a domain of ours.
    let foreign = Reg::new("ivy", "example.com")
        .to("sip:ivy@elsewhere.org")
        .contact(c);
    assert_eq!(h.send(&foreign).unwrap().code(), 404);
}

#[test]
fn star_domain_claims_only_bound_aors() {
    let mut h = Harness::new(config(&["*"]));
    h.ok(&Reg::new("jo", "anything.example").contact("<sip:jo@10.0.0.1>"));
    assert!(h.bound("sip:jo@anything.example").is_some());
    // Unbound users of any domain are not ours: calls to providers go out.
    assert!(matches!(
        h.lookup("sip:jo@provider.example"),
        Lookup::NotOurs
    ));
    assert!(matches!(
        h.lookup("sip:nobody@anything.example"),
        Lookup::NotOurs
    ));
    // Our own addresses are still ours.
    assert!(matches!(
        h.lookup("sip:nobody@192.168.1.1"),
        Lookup::Unbound
    ));
}

#[test]
fn aliases_are_our_domain() {
    let mut h = Harness::example();
    let r = Reg::new("kim", "192.168.1.1").contact("<sip:kim@10.0.0.1>");
    h.ok(&r);
    let r = Reg::new("lee", "example.com")
        .ruri("sip:router.lan")
        .contact("<sip:lee@10.0.0.2>");
    h.ok(&r);
    // An alias is the first domain: one AoR however it is spelled.
    for uri in [
        "sip:kim@example.com",
        "sip:kim@192.168.1.1",
        "sip:kim@ROUTER.lan",
    ] {
        assert_eq!(h.bound(uri).unwrap().0, "sip:kim@10.0.0.1", "{uri}");
    }
    assert!(h.bound("sip:lee@192.168.1.1").is_some());
    assert!(h
        .send(&Reg::new("kim", "192.168.1.2").contact("<sip:kim@x>"))
        .is_none());
}

#[test]
fn unbound_user_of_our_domain_is_404() {
    let mut h = Harness::example();
    h.ok(&Reg::new("max", "example.com").contact("<sip:max@10.0.0.1>"));
    assert!(matches!(
        h.lookup("sip:nobody@example.com"),
        Lookup::Unbound
    ));
    assert!(matches!(h.lookup("sip:max@other.org"), Lookup::NotOurs));
    // The domain itself (no user) is the proxy's business.
    assert!(matches!(h.lookup("sip:example.com"), Lookup::NotOurs));
    assert!(matches!(h.lookup("tel:+123"), Lookup::NotOurs));
}

#[test]
fn lookup_gives_contact_source_and_leg() {
    let mut h = Harness::example();
    let r = Reg::new("ned", "example.com").contact("<sip:ned@10.0.0.5:5062;transport=udp>");
    h.send_from(&r, 2, true, "198.51.100.7:61000").unwrap();
    let (contact, src, leg) = h.bound("sip:ned@example.com").unwrap();
    assert_eq!(contact, "sip:ned@10.0.0.5:5062;transport=udp");
    assert_eq!(src, "198.51.100.7:61000".parse().unwrap());
    assert_eq!(leg, 2);
    // A refresh from a new NAT mapping moves the observed address.
    h.send_from(&r.clone().cseq(2), 1, true, "198.51.100.7:62000")
        .unwrap();
    let (_, src, leg) = h.bound("sip:ned@example.com").unwrap();
    assert_eq!((src.port(), leg), (62000, 1));
}

#[test]
fn most_recently_refreshed_wins() {
    let mut h = Harness::example();
    let a = Reg::new("ola", "example.com")
        .call_id("a@phone")
        .contact("<sip:ola@10.0.0.1>");
    let b = Reg::new("ola", "example.com")
        .call_id("b@softphone")
        .contact("<sip:ola@10.0.0.2>");
    h.ok(&a);
    h.advance(5);
    h.ok(&b);
    assert_eq!(
        h.bound("sip:ola@example.com").unwrap().0,
        "sip:ola@10.0.0.2"
    );
    h.advance(5);
    h.ok(&a.clone().cseq(2));
    assert_eq!(
        h.bound("sip:ola@example.com").unwrap().0,
        "sip:ola@10.0.0.1"
    );
}

#[test]
fn public_leg_needs_auth_but_loopback_is_trusted() {
    let mut h = Harness::example();
    let r = Reg::new("pat", "example.com").contact("<sip:pat@10.0.0.1>");
    assert_eq!(h.send_from(&r, 1, false, WAN).unwrap().code(), 403);
    assert_eq!(h.reg.len(), 0);
    assert_eq!(
        h.send_from(&r, 1, false, "127.0.0.1:5070").unwrap().code(),
        200
    );
    assert_eq!(
        h.send_from(&r.clone().cseq(2), 1, false, "[::1]:5070")
            .unwrap()
            .code(),
        200
    );
    // Foreign domains are not ours to refuse: the proxy forwards them.
    assert!(h
        .send_from(
            &Reg::new("pat", "other.org").contact("<sip:p@h>"),
            1,
            false,
            WAN
        )
        .is_none());
}

#[test]
fn unsupported_require_is_420() {
    let mut h = Harness::example();
    let r = Reg::new("quin", "example.com")
        .contact("<sip:quin@10.0.0.1>")
        .header("Require: path, gruu");
    let resp = h.send(&r).unwrap();
    assert_eq!(resp.code(), 420);
    assert_eq!(resp.header("Unsupported").as_deref(), Some("path, gruu"));
}

#[test]
fn table_full_is_503() {
    let mut h = Harness::new(RegistrarConfig {
        capacity: 2,
        ..config(&["example.com"])
    });
    h.ok(&Reg::new("a", "example.com").contact("<sip:a@10.0.0.1>"));
    h.ok(&Reg::new("b", "example.com").contact("<sip:b@10.0.0.1>"));
    let c = Reg::new("c", "example.com").contact("<sip:c@10.0.0.1>");
    assert_eq!(h.send(&c).unwrap().code(), 503);
    // Refreshes and queries still work when full.
    h.ok(&Reg::new("a", "example.com")
        .cseq(2)
        .contact("<sip:a@10.0.0.1>"));
    h.ok(&Reg::new("c", "example.com"));
    // A removed binding frees its slot.
    h.ok(&Reg::new("b", "example.com")
        .cseq(2)
        .contact("<sip:b@10.0.0.1>;expires=0"));
    h.ok(&c);
    assert_eq!(h.reg.len(), 2);
}

#[test]
fn too_many_contacts_for_one_aor_is_503() {
    let mut h = Harness::example();
    let mut r = Reg::new("many", "example.com");
    for i in 0..edgesip::registrar::MAX_PER_AOR {
        r = r.contact(&format!("<sip:many@10.0.{}.{}>", i / 200, i % 200));
    }
    let resp = h.ok(&r);
    assert_eq!(resp.contacts().len(), edgesip::registrar::MAX_PER_AOR);
    let more = Reg::new("many", "example.com")
        .cseq(2)
        .contact("<sip:many@10.1.0.1>");
    assert_eq!(h.send(&more).unwrap().code(), 503);
}

#[test]
fn too_long_contact_is_500() {
    let mut h = Harness::example();
    let long = format!("<sip:rae@10.0.0.1;x={}>", "a".repeat(520));
    let resp = h
        .send(&Reg::new("rae", "example.com").contact(&long))
        .unwrap();
    assert_eq!(resp.code(), 500);
    assert_eq!(h.reg.len(), 0);
    // URI and instance together count.
    let inst = format!(
        "<sip:rae@10.0.0.1>;+sip.instance=\"<urn:uuid:{}>\"",
        "b".repeat(500)
    );
    assert_eq!(
        h.send(&Reg::new("rae", "example.com").contact(&inst))
            .unwrap()
            .code(),
        500
    );
    let user = "u".repeat(130);
    let resp = h
        .send(&Reg::new(&user, "example.com").contact("<sip:x@10.0.0.1>"))
        .unwrap();
    assert_eq!(resp.code(), 500);
}

// ---- Digest ----

fn md5_hex(s: &str) -> String {
    Md5::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn authorization(
    user: &str,
    realm: &str,
    password: &str,
    nonce: &str,
    uri: &str,
    nc: &str,
    cnonce: &str,
) -> String {
    let ha1 = md5_hex(&format!("{user}:{realm}:{password}"));
    let ha2 = md5_hex(&format!("REGISTER:{uri}"));
    let response = md5_hex(&format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"));
    format!(
        "Authorization: Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", \
         uri=\"{uri}\", response=\"{response}\", algorithm=MD5, qop=auth, nc={nc}, cnonce=\"{cnonce}\""
    )
}

fn auth_harness(file: &str, realm: Option<&str>) -> Harness {
    Harness::new(RegistrarConfig {
        users: Some(parse_auth_file(file).unwrap()),
        realm: realm.map(String::from),
        ..config(&["example.com"])
    })
}

#[test]
fn digest_challenge_then_success() {
    let mut h = auth_harness("alice:wonderland\n", None);
    let r = Reg::new("alice", "example.com").contact("<sip:alice@10.0.0.5>");
    // Every REGISTER must authenticate, even from a trusted leg.
    let resp = h.send(&r).unwrap();
    assert_eq!(resp.code(), 401);
    let (realm, nonce, stale) = resp.challenge();
    assert_eq!(realm, "example.com");
    assert!(!stale);
    assert_eq!(h.reg.len(), 0);

    let auth = authorization(
        "alice",
        &realm,
        "wonderland",
        &nonce,
        "sip:example.com",
        "00000001",
        "c1",
    );
    let ok = h.ok(&r.clone().cseq(2).header(&auth));
    assert_eq!(ok.contacts().len(), 1);
    // The same nonce works again while fresh (a refresh), from a public leg.
    h.advance(100);
    let auth = authorization(
        "alice",
        &realm,
        "wonderland",
        &nonce,
        "sip:example.com",
        "00000002",
        "c2",
    );
    let resp = h
        .send_from(&r.clone().cseq(3).header(&auth), 1, false, LAN)
        .unwrap();
    assert_eq!(resp.code(), 200);
}

#[test]
fn digest_wrong_password_is_challenged_again() {
    let mut h = auth_harness("alice:wonderland\n", Some("edgesip"));
    let r = Reg::new("alice", "example.com").contact("<sip:alice@10.0.0.5>");
    let (realm, nonce, _) = h.send(&r).unwrap().challenge();
    assert_eq!(realm, "edgesip");
    let auth = authorization(
        "alice",
        &realm,
        "looking-glass",
        &nonce,
        "sip:example.com",
        "00000001",
        "c",
    );
    let resp = h.send(&r.clone().cseq(2).header(&auth)).unwrap();
    assert_eq!(resp.code(), 401);
    let (_, _, stale) = resp.challenge();
    assert!(!stale);
    // An unknown user gets the same answer.
    let auth = authorization(
        "alice2",
        &realm,
        "wonderland",
        &nonce,
        "sip:example.com",
        "00000001",
        "c",
    );
    let r2 = Reg::new("alice2", "example.com").contact("<sip:a@10.0.0.5>");
    assert_eq!(h.send(&r2.header(&auth)).unwrap().code(), 401);
    assert_eq!(h.reg.len(), 0);
}

#[test]
fn digest_stale_nonce_says_stale() {
    let mut h = auth_harness("alice:wonderland\n", None);
    let r = Reg::new("alice", "example.com").contact("<sip:alice@10.0.0.5>");
    let (realm, nonce, _) = h.send(&r).unwrap().challenge();
    h.advance(u64::from(edgesip::registrar::NONCE_LIFETIME_SECS) + 1);
    let auth = authorization(
        "alice",
        &realm,
        "wonderland",
        &nonce,
        "sip:example.com",
        "00000001",
        "c",
    );
    let resp = h.send(&r.clone().cseq(2).header(&auth)).unwrap();
    assert_eq!(resp.code(), 401);
    let (_, fresh, stale) = resp.challenge();
    assert!(stale);
    assert_ne!(fresh, nonce);
    // A stale nonce with a wrong password is not "stale": ask again.
    let bad = authorization(
        "alice",
        &realm,
        "nope",
        &nonce,
        "sip:example.com",
        "00000001",
        "c",
    );
    let (_, _, stale) = h.send(&r.clone().cseq(3).header(&bad)).unwrap().challenge();
    assert!(!stale);
    // The new nonce works.
    let auth = authorization(
        "alice",
        &realm,
        "wonderland",
        &fresh,
        "sip:example.com",
        "00000001",
        "c",
    );
    h.ok(&r.clone().cseq(4).header(&auth));
}

#[test]
fn digest_nonce_is_bound_to_the_source() {
    let mut h = auth_harness("alice:wonderland\n", None);
    let r = Reg::new("alice", "example.com").contact("<sip:alice@10.0.0.5>");
    let (realm, nonce, _) = h.send(&r).unwrap().challenge();
    let auth = authorization(
        "alice",
        &realm,
        "wonderland",
        &nonce,
        "sip:example.com",
        "00000001",
        "c",
    );
    let resp = h
        .send_from(
            &r.clone().cseq(2).header(&auth),
            0,
            true,
            "192.168.1.51:5060",
        )
        .unwrap();
    assert_eq!(resp.code(), 401);
    assert!(!resp.challenge().2);
    // Another port of the same address is fine (NAT may move it).
    let resp = h
        .send_from(
            &r.clone().cseq(3).header(&auth),
            0,
            true,
            "192.168.1.50:5999",
        )
        .unwrap();
    assert_eq!(resp.code(), 200);
}

#[test]
fn digest_user_must_be_the_aor_user_and_uri_the_request_uri() {
    let mut h = auth_harness("alice:wonderland\nbob:builder\n", None);
    let r = Reg::new("alice", "example.com").contact("<sip:alice@10.0.0.5>");
    let (realm, nonce, _) = h.send(&r).unwrap().challenge();
    // Bob's good credentials do not let him register alice.
    let bob = authorization(
        "bob",
        &realm,
        "builder",
        &nonce,
        "sip:example.com",
        "00000001",
        "c",
    );
    assert_eq!(h.send(&r.clone().cseq(2).header(&bob)).unwrap().code(), 403);
    // The digest uri must be the Request-URI as written.
    let wrong_uri = authorization(
        "alice",
        &realm,
        "wonderland",
        &nonce,
        "sip:EXAMPLE.com",
        "00000001",
        "c",
    );
    assert_eq!(
        h.send(&r.clone().cseq(3).header(&wrong_uri))
            .unwrap()
            .code(),
        400
    );
    // qop=auth with nc and cnonce is required.
    let no_qop = authorization(
        "alice",
        &realm,
        "wonderland",
        &nonce,
        "sip:example.com",
        "00000001",
        "c",
    )
    .replace(", qop=auth", "");
    assert_eq!(
        h.send(&r.clone().cseq(4).header(&no_qop)).unwrap().code(),
        400
    );
    assert_eq!(h.reg.len(), 0);
}

#[test]
fn digest_with_ha1_from_the_auth_file() {
    let ha1 = md5_hex("carol:example.com:s3cret");
    let mut h = auth_harness(&format!("# HA1 form\ncarol:example.com:{ha1}\n"), None);
    let r = Reg::new("carol", "example.com").contact("<sip:carol@10.0.0.5>");
    let (realm, nonce, _) = h.send(&r).unwrap().challenge();
    let auth = authorization(
        "carol",
        &realm,
        "s3cret",
        &nonce,
        "sip:example.com",
        "00000001",
        "c",
    );
    h.ok(&r.clone().cseq(2).header(&auth));
    // The HA1 is for one realm: under another it cannot match.
    let ha1 = md5_hex("carol:other:s3cret");
    let mut h = auth_harness(&format!("carol:other:{ha1}\n"), None);
    let (realm, nonce, _) = h.send(&r).unwrap().challenge();
    let auth = authorization(
        "carol",
        &realm,
        "s3cret",
        &nonce,
        "sip:example.com",
        "00000001",
        "c",
    );
    assert_eq!(
        h.send(&r.clone().cseq(2).header(&auth)).unwrap().code(),
        401
    );
}

// ---- Persistence ----

#[test]
fn save_and_load_round_trip_drops_expired() {
    let mut h = Harness::example();
    h.ok(&Reg::new("sam", "example.com")
        .contact("<sip:sam@10.0.0.1;transport=udp>;expires=100;+sip.instance=\"<urn:uuid:a b>\""));
    h.ok(&Reg::new("tia%20x", "example.com").contact("<sip:tia%20x@10.0.0.2>;expires=1000"));
    h.send_from(
        &Reg::new("uma", "example.com").contact("<sip:uma@[2001:db8::9]:5080>;expires=3000"),
        1,
        true,
        "[2001:db8::9]:5080",
    )
    .unwrap();
    let mut file = Vec::new();
    let wall = 1_700_000_000;
    h.reg.save(h.now, wall, &mut file).unwrap();
    let text = String::from_utf8(file).unwrap();
    assert!(text.starts_with("edgesip-registrar 1\n"), "{text}");
    assert_eq!(text.lines().count(), 4, "{text}");

    // A new process, 200 s later on the wall clock, another monotonic base.
    let mut h2 = Harness::example();
    h2.now = Instant::from_secs(5);
    assert_eq!(h2.reg.load(h2.now, wall + 200, &text), Ok(2));
    assert!(matches!(h2.lookup("sip:sam@example.com"), Lookup::Unbound));
    assert_eq!(
        h2.bound("sip:tia%20x@example.com").unwrap().0,
        "sip:tia%20x@10.0.0.2"
    );
    let (contact, src, leg) = h2.bound("sip:uma@example.com").unwrap();
    assert_eq!(contact, "sip:uma@[2001:db8::9]:5080");
    assert_eq!((src, leg), ("[2001:db8::9]:5080".parse().unwrap(), 1));
    let q = h2.ok(&Reg::new("tia%20x", "example.com").call_id("q@x"));
    assert_eq!(q.contacts()[0].1, 800);
    // The Call-ID and CSeq survive: an older CSeq is still refused.
    let old = Reg::new("uma", "example.com")
        .cseq(0)
        .contact("<sip:uma@[2001:db8::9]:5080>");
    assert_eq!(h2.send(&old).unwrap().code(), 500);

    // An instance with odd bytes round-trips.
    let mut h3 = Harness::example();
    assert_eq!(h3.reg.load(h3.now, wall, &text), Ok(3));
    let q = h3.ok(&Reg::new("sam", "example.com").call_id("q@x"));
    assert_eq!(q.contacts()[0].2.as_deref(), Some("\"<urn:uuid:a b>\""));
}

#[test]
fn load_error_leaves_table_and_corrupt_file_is_set_aside() {
    let mut h = Harness::example();
    h.ok(&Reg::new("val", "example.com").contact("<sip:val@10.0.0.1>"));
    assert!(h.reg.load(h.now, 0, "garbage\n").is_err());
    assert_eq!(h.reg.len(), 1);

    let dir = std::env::temp_dir().join(format!("edgesip-reg-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bindings");
    let corrupt = dir.join("bindings.corrupt");
    let _ = std::fs::remove_file(&corrupt);

    // Missing file: nothing loaded, no error.
    let _ = std::fs::remove_file(&path);
    assert_eq!(load_file(&mut h.reg, h.now, 1_000, &path), 0);

    // save_file writes through .tmp and leaves no .tmp behind.
    h.ok(&Reg::new("val", "example.com")
        .cseq(2)
        .contact("<sip:val@10.0.0.1>"));
    save_file(&mut h.reg, h.now, 1_000, &path).unwrap();
    assert!(!dir.join("bindings.tmp").exists());
    let mut fresh = Harness::example();
    assert_eq!(load_file(&mut fresh.reg, fresh.now, 1_000, &path), 1);

    std::fs::write(&path, "edgesip-registrar 1\nb broken\n").unwrap();
    let mut other = Harness::example();
    assert_eq!(load_file(&mut other.reg, other.now, 1_000, &path), 0);
    assert!(!path.exists());
    assert!(corrupt.exists());
    std::fs::write(&path, [0xff, 0xfe, 0]).unwrap();
    assert_eq!(load_file(&mut other.reg, other.now, 1_000, &path), 0);
    assert!(!path.exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn save_is_due_after_changes_at_most_once_a_minute() {
    let mut h = Harness::example();
    // Not armed until the shell loads or saves once.
    h.ok(&Reg::new("wes", "example.com").contact("<sip:wes@10.0.0.1>"));
    assert!(!h.reg.save_due(h.now));
    assert_eq!(h.reg.poll_timeout(), Some(Instant(h.now.0 + 3_600_000)));
    assert_eq!(h.reg.load(h.now, 0, "edgesip-registrar 1\n"), Ok(0));
    assert!(!h.reg.save_due(h.now), "nothing changed since the load");

    h.advance(10);
    h.ok(&Reg::new("wes", "example.com").contact("<sip:wes@10.0.0.1>"));
    let changed = h.now;
    assert!(!h.reg.save_due(h.now), "the load counts as a save");
    assert_eq!(h.reg.poll_timeout(), Some(Instant(changed.0 + 50_000)));
    h.advance(50);
    assert!(h.reg.save_due(h.now));
    h.reg.save(h.now, 0, &mut std::io::sink()).unwrap();
    assert!(!h.reg.save_due(h.now));

    // A query and a retransmission change nothing.
    h.advance(100);
    h.ok(&Reg::new("wes", "example.com").call_id("q@x"));
    h.ok(&Reg::new("wes", "example.com").contact("<sip:wes@10.0.0.1>"));
    assert!(!h.reg.save_due(h.now));
    // A refresh does (its new expiry must survive a restart).
    h.ok(&Reg::new("wes", "example.com")
        .cseq(2)
        .contact("<sip:wes@10.0.0.1>"));
    assert!(h.reg.save_due(h.now));
}

// ---- Robustness ----

#[test]
fn small_buffers_degrade_without_panics() {
    let mut h = Harness::example();
    h.ok(&Reg::new("xia", "example.com").contact("<sip:xia@10.0.0.1>"));
    let text = Reg::new("xia", "example.com").cseq(2).text();
    let m = Message::parse(text.as_bytes()).unwrap();
    let src: SocketAddr = LAN.parse().unwrap();
    // The 200 does not fit in half the buffer: a 500 in all of it.
    let mut out = [0u8; 450];
    let r = h
        .reg
        .handle_register(h.now, 0, true, src, &m, b"t", &mut out)
        .unwrap()
        .unwrap();
    assert!(out[..r.len].starts_with(b"SIP/2.0 500 "), "{r:?}");
    assert_eq!(r.code, 500);
    // Nothing fits: Full, nothing to send.
    let mut tiny = [0u8; 64];
    assert_eq!(
        h.reg
            .handle_register(h.now, 0, true, src, &m, b"t", &mut tiny),
        Some(Err(Full))
    );
}

#[test]
fn mutated_registers_never_panic() {
    let mut h = auth_harness("alice:wonderland\n", None);
    let base = Reg::new("alice", "example.com").contact("<sip:alice@10.0.0.5>;expires=60");
    let (realm, nonce, _) = h.send(&base).unwrap().challenge();
    let auth = authorization(
        "alice",
        &realm,
        "wonderland",
        &nonce,
        "sip:example.com",
        "00000001",
        "c",
    );
    let seeds: Vec<Vec<u8>> = vec![
        base.clone().cseq(2).header(&auth).text().into_bytes(),
        Reg::new("bob", "example.com")
            .contact("*")
            .expires(0)
            .text()
            .into_bytes(),
        Reg::new("bob", "example.com")
            .contact("<sip:b@h>;expires=0, <sip:c@h>;+sip.instance=\"<x>\"")
            .text()
            .into_bytes(),
    ];
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    const NASTY: &[u8] = b"\r\n :;,<>\"@[]%\\=0Aa*\t";
    let src: SocketAddr = LAN.parse().unwrap();
    let mut out = vec![0u8; 4096];
    let mut handled = 0;
    for round in 0..20_000 {
        let mut buf = seeds[round % seeds.len()].clone();
        for _ in 0..(next() % 6) {
            let i = (next() as usize) % buf.len();
            buf[i] = NASTY[(next() as usize) % NASTY.len()];
        }
        if let Ok(m) = Message::parse(&buf) {
            let trusted = next() % 2 == 0;
            if let Some(r) = h
                .reg
                .handle_register(h.now, 0, trusted, src, &m, b"t", &mut out)
            {
                assert!(r.map_or(true, |r| r.len <= out.len()));
                handled += 1;
            }
            if let Some(u) = m.request_uri() {
                let _ = h.reg.lookup(h.now, &u);
            }
        }
        if round % 1000 == 0 {
            h.advance(7);
            h.reg.handle_timeout(h.now);
        }
    }
    assert!(handled > 1000, "{handled}");
}

#[test]
fn a_captured_authorization_cannot_be_replayed() {
    let mut h = auth_harness("alice:wonderland\n", None);
    let r = Reg::new("alice", "example.com").contact("<sip:alice@10.0.0.5>");
    let (realm, nonce, _) = h.send(&r).unwrap().challenge();
    let auth = authorization(
        "alice",
        &realm,
        "wonderland",
        &nonce,
        "sip:example.com",
        "00000001",
        "c1",
    );
    let good = r.clone().cseq(2).header(&auth);
    assert_eq!(h.send(&good).unwrap().code(), 200);
    // The phone's retransmission is still fine.
    assert_eq!(h.send(&good).unwrap().code(), 200);
    // The same Authorization from the same address in another registration
    // (a new Call-ID, the attacker's Contact): the nonce is not for it.
    let evil = Reg::new("alice", "example.com")
        .call_id("evil@attacker")
        .contact("<sip:alice@203.0.113.66>")
        .cseq(2)
        .header(&auth);
    let resp = h.send(&evil).unwrap();
    assert_eq!(resp.code(), 401);
    // In the same registration, with the count already used.
    let evil = r
        .clone()
        .contact("<sip:alice@203.0.113.66>")
        .cseq(3)
        .header(&auth);
    assert_eq!(h.send(&evil).unwrap().code(), 401);
    assert_eq!(h.reg.len(), 1, "only alice's own binding");
    // The phone's next count works.
    let next = authorization(
        "alice",
        &realm,
        "wonderland",
        &nonce,
        "sip:example.com",
        "00000002",
        "c2",
    );
    assert_eq!(
        h.send(&r.clone().cseq(4).header(&next)).unwrap().code(),
        200
    );
}

#[test]
fn password_guessing_is_locked_out() {
    use edgesip::registrar::EventKind;
    let mut h = auth_harness("alice:wonderland\n", None);
    let r = Reg::new("alice", "example.com").contact("<sip:alice@10.0.0.5>");
    let (realm, nonce, _) = h.send(&r).unwrap().challenge();
    let guess = |pw: &str, nc: u32| {
        authorization(
            "alice",
            &realm,
            pw,
            &nonce,
            "sip:example.com",
            &format!("{nc:08x}"),
            "g",
        )
    };
    for i in 1..10 {
        let resp = h
            .send(&r.clone().cseq(1 + i).header(&guess(&format!("{i}"), i)))
            .unwrap();
        assert_eq!(resp.code(), 401, "guess {i}");
    }
    let resp = h
        .send(&r.clone().cseq(20).header(&guess("1234", 10)))
        .unwrap();
    assert_eq!(resp.code(), 403, "the tenth failure locks out");
    let e = h.reg.poll_event().expect("a lockout event");
    assert_eq!(e.kind, EventKind::Lockout);
    assert_eq!(&e.aor[..], b"alice");
    assert!(h.reg.poll_event().is_none(), "logged once");
    // Locked out: the right password is refused too, from this source and
    // for this user from another one.
    let right = guess("wonderland", 11);
    assert_eq!(
        h.send(&r.clone().cseq(21).header(&right)).unwrap().code(),
        403
    );
    let (realm2, nonce2, _) = h
        .send_from(&r.clone().cseq(22), 0, true, "192.168.1.77:5060")
        .unwrap()
        .challenge();
    let elsewhere = authorization(
        "alice",
        &realm2,
        "wonderland",
        &nonce2,
        "sip:example.com",
        "00000001",
        "e",
    );
    let resp = h
        .send_from(
            &r.clone().cseq(23).header(&elsewhere),
            0,
            true,
            "192.168.1.77:5060",
        )
        .unwrap();
    assert_eq!(resp.code(), 403);
    assert!(h.reg.poll_event().is_none());
    // Ten minutes later the phone gets in again.
    h.advance(600);
    let (realm, nonce, _) = h.send(&r.clone().cseq(30)).unwrap().challenge();
    let auth = authorization(
        "alice",
        &realm,
        "wonderland",
        &nonce,
        "sip:example.com",
        "00000001",
        "c",
    );
    assert_eq!(
        h.send(&r.clone().cseq(31).header(&auth)).unwrap().code(),
        200
    );
    assert_eq!(h.reg.poll_event().map(|e| e.kind), Some(EventKind::Bound));
}
