//! Calls through the real `Proxy`: INVITE, 200 OK, ACK and BYE, each step
//! built from what the proxy forwarded before it (tokens, Record-Route,
//! branches), the way a caller and a callee would.

use crate::INVITE;
use edgesip::config::{Config, LegSpec};
use edgesip::cx::{Cx, RelaySockets};
use edgesip::output::Transmit;
use edgesip::relay::RelayConfig;
use edgesip::sip::{HeaderName, Message, MAX_DATAGRAM};
use edgesip::time::Instant;
use std::net::SocketAddr;
use std::time::Duration;

/// One leg (LAN to LAN), or a LAN leg and a public WAN leg.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Legs {
    One,
    Two,
}

/// The steps of one call, in order.
pub const STEPS: [&str; 4] = ["invite", "ok200", "ack", "bye"];

const CALLER: &str = "127.0.0.1:5071";
const CALLEE: &str = "127.0.0.3:5072";

struct Step {
    leg: usize,
    src: SocketAddr,
    data: Vec<u8>,
    /// Where the first run sent it.
    dst: SocketAddr,
}

/// A proxy and `calls` complete calls to feed it.
pub struct Scenario {
    proxy: edgesip::proxy::Proxy,
    calls: Vec<[Step; 4]>,
    sockets: Sockets,
    now: u64,
}

/// The relay's sockets as the shell keeps them, minus the system calls.
struct Sockets(Vec<bool>);

impl RelaySockets for Sockets {
    fn open(&mut self, leg: usize, pair: u16) -> bool {
        self.0[leg * 1024 + usize::from(pair)] = true;
        true
    }
    fn close(&mut self, leg: usize, pair: u16) {
        self.0[leg * 1024 + usize::from(pair)] = false;
    }
}

impl Scenario {
    /// Builds the proxy and runs every call once, checking where each step
    /// went; panics if one was not forwarded where a real peer expects it.
    pub fn new(legs: Legs, nat: bool, calls: usize) -> Scenario {
        let lan = LegSpec::new(
            "lan",
            "127.0.0.1:5060".parse().unwrap(),
            &["127.0.0.1/32".parse().unwrap()],
        );
        let specs = match legs {
            Legs::One => vec![LegSpec::new("lan", "127.0.0.1:5060".parse().unwrap(), &[])],
            Legs::Two => vec![
                lan,
                LegSpec::new("wan", "127.0.0.2:5060".parse().unwrap(), &[]),
            ],
        };
        let mut cfg = Config::with_legs(specs);
        if nat {
            cfg.nat = Some(RelayConfig {
                port_lo: 30000,
                port_hi: 30000 + 2 * 1023,
                max_calls: 1000,
                max_per_source: None,
                media_timeout: Duration::from_secs(120),
                hold_timeout: Duration::from_secs(7200),
            });
        }
        let proxy = edgesip::proxy::Proxy::new(&cfg, b"bench secret", 1).expect("proxy");
        let mut s = Scenario {
            proxy,
            calls: Vec::new(),
            sockets: Sockets(vec![false; 2048]),
            now: 1,
        };
        let back = match legs {
            Legs::One => 0,
            Legs::Two => 1,
        };
        for k in 0..calls {
            let call = s.first_run(k, back, nat);
            s.calls.push(call);
        }
        s
    }

    /// Feeds step `step` of call `call % calls`; what went out.
    pub fn run(&mut self, call: usize, step: usize, out: &mut [u8]) -> Option<Transmit> {
        self.now += 1;
        let c = &self.calls[call % self.calls.len()][step];
        let mut cx = Cx::new(Instant(self.now), &mut self.sockets);
        self.proxy
            .handle(&mut cx, c.leg, c.src, &c.data, out)
            .transmit()
    }

    /// Where the first run of that step went.
    pub fn expected(&self, call: usize, step: usize) -> SocketAddr {
        self.calls[call % self.calls.len()][step].dst
    }

    /// The core's counters.
    pub fn stats(&self) -> &edgesip::proxy::Stats {
        self.proxy.stats()
    }

    /// Feeds `data` and returns what was forwarded, and to where.
    fn feed(&mut self, leg: usize, src: SocketAddr, data: &[u8]) -> (Vec<u8>, SocketAddr) {
        let mut out = vec![0u8; MAX_DATAGRAM];
        self.now += 1;
        let mut cx = Cx::new(Instant(self.now), &mut self.sockets);
        let o = self.proxy.handle(&mut cx, leg, src, data, &mut out);
        let t = o
            .transmit()
            .unwrap_or_else(|| panic!("not forwarded: {o:?}\n{}", String::from_utf8_lossy(data)));
        (out[..t.len].to_vec(), t.dst)
    }

    fn first_run(&mut self, k: usize, back: usize, nat: bool) -> [Step; 4] {
        let caller: SocketAddr = CALLER.parse().unwrap();
        let callee: SocketAddr = CALLEE.parse().unwrap();
        let invite = String::from_utf8_lossy(INVITE)
            .replace(
                "INVITE sip:bob@biloxi.example.com",
                &format!("INVITE sip:bob@{CALLEE}"),
            )
            .replace("a84b4c76e66710@", &format!("a84b4c76e667{k:02}@"))
            .replace("tag=1928301774", &format!("tag=19283017{k:02}"))
            .into_bytes();
        let (fwd, invite_dst) = self.feed(0, caller, &invite);
        assert_eq!(invite_dst, callee, "INVITE to the callee");

        let sdp = if nat {
            "v=0\r\no=bob 1 1 IN IP4 127.0.0.3\r\ns=-\r\nc=IN IP4 127.0.0.3\r\nt=0 0\r\n\
             m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
        } else {
            ""
        };
        let ok = answer(&fwd, &format!("<sip:bob@{CALLEE}>"), sdp);
        let (got, ok_dst) = self.feed(back, callee, &ok);
        assert_eq!(ok_dst.ip(), caller.ip(), "200 OK to the caller");

        // The caller's ACK and the callee's BYE follow their route sets.
        let got = Message::parse(&got).expect("200 OK parses");
        let fwd = Message::parse(&fwd).expect("INVITE parses");
        let to = header(&got, HeaderName::To);
        let from = header(&fwd, HeaderName::From);
        let call_id = header(&fwd, HeaderName::CallId);
        let mut rr: Vec<String> = got
            .addrs(HeaderName::RecordRoute)
            .map(|(_, a)| format!("<{}>", String::from_utf8_lossy(a.uri.raw)))
            .collect();
        rr.reverse();
        let ack = format!(
            "ACK {} SIP/2.0\r\nVia: SIP/2.0/UDP 192.168.1.23:5060;branch=z9hG4bKack{k};rport\r\n\
             Max-Forwards: 70\r\n{}From: {from}\r\nTo: {to}\r\nCall-ID: {call_id}\r\n\
             CSeq: 314159 ACK\r\nContent-Length: 0\r\n\r\n",
            contact(&got),
            routes(&rr),
        );
        let (_, ack_dst) = self.feed(0, caller, ack.as_bytes());
        assert_eq!(ack_dst, callee, "ACK to the callee");

        let rr: Vec<String> = fwd
            .addrs(HeaderName::RecordRoute)
            .map(|(_, a)| format!("<{}>", String::from_utf8_lossy(a.uri.raw)))
            .collect();
        let bye = format!(
            "BYE {} SIP/2.0\r\nVia: SIP/2.0/UDP {CALLEE};branch=z9hG4bKbye{k};rport\r\n\
             Max-Forwards: 70\r\n{}From: {to}\r\nTo: {from}\r\nCall-ID: {call_id}\r\n\
             CSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n",
            contact(&fwd),
            routes(&rr),
        );
        let (_, bye_dst) = self.feed(back, callee, bye.as_bytes());
        assert_ne!(bye_dst, callee, "BYE back towards the caller");

        [
            Step {
                leg: 0,
                src: caller,
                data: invite,
                dst: invite_dst,
            },
            Step {
                leg: back,
                src: callee,
                data: ok,
                dst: ok_dst,
            },
            Step {
                leg: 0,
                src: caller,
                data: ack.into_bytes(),
                dst: ack_dst,
            },
            Step {
                leg: back,
                src: callee,
                data: bye.into_bytes(),
                dst: bye_dst,
            },
        ]
    }
}

/// The callee's answer to the request `req` as it received it.
fn answer(req: &[u8], contact: &str, sdp: &str) -> Vec<u8> {
    let m = Message::parse(req).expect("the request parses");
    let mut s = String::from("SIP/2.0 200 OK\r\n");
    for h in m.headers() {
        match h.name {
            HeaderName::Via
            | HeaderName::RecordRoute
            | HeaderName::From
            | HeaderName::CallId
            | HeaderName::CSeq => s += &String::from_utf8_lossy(h.line),
            HeaderName::To => {
                s += &format!("To: {};tag=a6c85cf\r\n", String::from_utf8_lossy(h.value))
            }
            _ => {}
        }
    }
    s += &format!("Contact: {contact}\r\n");
    if sdp.is_empty() {
        s += "Content-Length: 0\r\n\r\n";
    } else {
        s += &format!(
            "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        );
    }
    s.into_bytes()
}

fn header(m: &Message, name: HeaderName) -> String {
    let h = m.headers().iter().find(|h| h.name == name).expect("header");
    String::from_utf8_lossy(h.value).into_owned()
}

fn contact(m: &Message) -> String {
    let (_, c) = m.addrs(HeaderName::Contact).next().expect("Contact");
    String::from_utf8_lossy(c.uri.raw).into_owned()
}

fn routes(set: &[String]) -> String {
    if set.is_empty() {
        String::new()
    } else {
        format!("Route: {}\r\n", set.join(", "))
    }
}
