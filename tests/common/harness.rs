//! The sans-IO harness: a real [`Proxy`] on a fake clock with a fake relay
//! socket table, `(leg, source, text)` in, what came out as text. Shared by
//! the core tests so each does not grow its own copy.

use edgesip::config::{Cidr, Config, LegSpec};
use edgesip::cx::{Cx, NoSockets, RelaySockets};
use edgesip::output::{Outcome, Socket, Why};
use edgesip::proxy::Proxy;
use edgesip::relay::RelayConfig;
use edgesip::sip::Message;
use edgesip::time::Instant;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

pub const SECRET: &[u8] = b"test secret, 32 bytes long......";

/// A leg from text: `leg("lan", "127.0.0.1:5060", &["127.0.0.1/32"])`.
pub fn leg(name: &str, addr: &str, nets: &[&str]) -> LegSpec {
    let nets: Vec<Cidr> = nets.iter().map(|n| n.parse().unwrap()).collect();
    LegSpec::new(name, addr.parse().unwrap(), &nets)
}

/// A proxy with these legs and `f`'s changes to the default config.
pub fn proxy_cfg(legs: Vec<LegSpec>, f: impl FnOnce(&mut Config)) -> Proxy {
    let mut cfg = Config::with_legs(legs);
    f(&mut cfg);
    Proxy::new(&cfg, SECRET, 1).unwrap()
}

/// The relay settings the NAT tests use: ports 20000-20099.
pub fn relay_config(max_calls: usize) -> RelayConfig {
    RelayConfig {
        port_lo: 20000,
        port_hi: 20099,
        max_calls,
        max_per_source: None,
        media_timeout: Duration::from_secs(120),
        hold_timeout: Duration::from_secs(7200),
    }
}

/// Relay sockets as a set of open (leg, pair); `busy` pairs are taken by
/// someone else. Opening an open pair or closing a closed one fails the
/// test.
#[derive(Default)]
pub struct Sockets {
    pub open: BTreeSet<(usize, u16)>,
    pub opened: usize,
    pub busy: BTreeSet<(usize, u16)>,
}

impl RelaySockets for Sockets {
    fn open(&mut self, leg: usize, pair: u16) -> bool {
        if self.busy.contains(&(leg, pair)) {
            return false;
        }
        assert!(self.open.insert((leg, pair)), "opened twice: {leg} {pair}");
        self.opened += 1;
        true
    }
    fn close(&mut self, leg: usize, pair: u16) {
        assert!(self.open.remove(&(leg, pair)), "closed twice: {leg} {pair}");
    }
}

/// Where a SIP datagram went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    pub leg: usize,
    pub dst: SocketAddr,
    pub len: usize,
}

/// A datagram the proxy sent, with what it was.
pub struct Out {
    pub t: Sent,
    pub text: String,
    pub outcome: Outcome,
}

impl Out {
    pub fn msg(&self) -> Message<'_> {
        Message::parse(self.text.as_bytes()).expect("output parses")
    }
    pub fn headers(&self, name: &str) -> Vec<String> {
        let m = self.msg();
        m.headers()
            .iter()
            .filter(|h| h.raw_name.eq_ignore_ascii_case(name.as_bytes()))
            .map(|h| String::from_utf8_lossy(h.value).into_owned())
            .collect()
    }
    pub fn body(&self) -> String {
        String::from_utf8(self.msg().body().to_vec()).unwrap()
    }
    pub fn first_line(&self) -> &str {
        self.text.lines().next().unwrap()
    }
    pub fn our_branch(&self) -> String {
        let m = self.msg();
        let (_, v) = m.top_via().unwrap();
        String::from_utf8(v.branch.unwrap().to_vec()).unwrap()
    }
}

/// What became of `msg` from `src` on `leg` at `now`, and the bytes written.
pub fn exchange(
    p: &mut Proxy,
    sockets: &mut dyn RelaySockets,
    now: Instant,
    leg: usize,
    src: &str,
    msg: &[u8],
) -> (Outcome, Vec<u8>) {
    let mut out = vec![0u8; 65_535];
    let mut cx = Cx::new(now, sockets);
    let o = p.handle(&mut cx, leg, src.parse().unwrap(), msg, &mut out);
    let n = o.transmit().map_or(0, |t| t.len);
    out.truncate(n);
    (o, out)
}

fn out_of(outcome: Outcome, bytes: Vec<u8>) -> Option<Out> {
    let t = outcome.transmit()?;
    let Socket::Leg(leg) = t.socket else {
        panic!("a SIP datagram from {:?}", t.socket);
    };
    Some(Out {
        t: Sent {
            leg,
            dst: t.dst,
            len: t.len,
        },
        text: String::from_utf8(bytes).unwrap(),
        outcome,
    })
}

/// The datagram `p` sends for `msg` (no relay sockets, time 1 s).
pub fn send(p: &mut Proxy, leg: usize, src: &str, msg: &str) -> Option<Out> {
    let (o, bytes) = exchange(p, &mut NoSockets, Instant(1000), leg, src, msg.as_bytes());
    out_of(o, bytes)
}

/// A proxy, its relay sockets and the clock.
pub struct Net {
    pub p: Proxy,
    pub s: Sockets,
    pub now: Instant,
}

impl Net {
    pub fn new(p: Proxy) -> Net {
        Net {
            p,
            s: Sockets::default(),
            now: Instant::from_secs(10),
        }
    }

    /// What became of `msg` from `src` on `leg`, and the bytes written.
    pub fn outcome(&mut self, leg: usize, src: &str, msg: &[u8]) -> (Outcome, Vec<u8>) {
        exchange(&mut self.p, &mut self.s, self.now, leg, src, msg)
    }

    /// The datagram sent for `msg`, if one was.
    pub fn send(&mut self, leg: usize, src: &str, msg: &str) -> Option<Out> {
        let (o, bytes) = self.outcome(leg, src, msg.as_bytes());
        out_of(o, bytes)
    }

    /// Why nothing was sent for `msg`; fails the test if something was.
    pub fn dropped(&mut self, leg: usize, src: &str, msg: &str) -> Why {
        match self.outcome(leg, src, msg.as_bytes()).0 {
            Outcome::Dropped(why) => why,
            o => panic!("sent: {o:?}"),
        }
    }

    /// A media packet on relay port `port` of `leg`: where it goes, as
    /// (leg, port, destination).
    pub fn rtp(
        &mut self,
        leg: usize,
        port: u16,
        from: &str,
        data: &[u8],
    ) -> Option<(usize, u16, SocketAddr)> {
        let pair = (port - 20000) / 2;
        let odd = port % 2 == 1;
        let tx = self
            .p
            .relay(self.now, leg, pair, odd, from.parse().unwrap(), data)?;
        let Socket::Relay { leg, pair, odd } = tx.socket else {
            panic!("relayed from {:?}", tx.socket);
        };
        assert_eq!(tx.len, data.len(), "a relayed packet leaves as it came");
        Some((leg, 20000 + 2 * pair + u16::from(odd), tx.dst))
    }
}
