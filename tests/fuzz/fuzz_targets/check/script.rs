//! A fuzz input as a short script that drives a real [`Proxy`]: datagrams
//! on its legs, relay packets, timers and DNS answers, on a fake clock and
//! fake relay sockets. Every outcome goes through [`super::outcome`].
//!
//! The input is split into steps at [`SEP`]; each step is
//! `op arg payload...`:
//!
//! - `op >> 4` picks how far the clock moves first ([`STEPS_MS`]); due
//!   timers then fire, as the shell would fire them;
//! - `op & 8` picks the leg (modulo the legs there are);
//! - `op & 7`: 0-3 a SIP datagram (the payload, with placeholders
//!   expanded), 4 the proxy's last output fed back in, 5 a relay packet,
//!   6 a spurious `handle_timeout`, 7 a DNS answer (one-leg proxy; else a
//!   datagram);
//! - `arg & 15` picks the source from [`SOURCES`](super::setup::SOURCES).
//!
//! Placeholders let a script answer what the proxy sent, as the far end
//! would. Each reads the proxy's last output on the step's leg: `$V` our
//! Via element of the last request (its branch verifies), `$W` the Via
//! elements below it, `$U` its Request-URI, `$C` the first Contact URI
//! (often a token the proxy minted), `$R` the Record-Route elements and
//! `$Q` the same reversed (a caller's route set); `$A` is a digest
//! Authorization for `alice` answering the last 401 on that leg.
//!
//! Relay packets: `payload = source, port (2 bytes, big-endian), packet`;
//! the pair is one the relay opened on that leg (`arg >> 1` picks), the
//! odd port when `arg & 1`. DNS answers: `payload = flags (2), counts of
//! answer, authority and additional (6), records`; ID and question are the
//! last query's.

use super::oracle::Oracle;
use super::outcome::{self, Input};
use super::setup::{sources, FakeSockets, Setup, DNS_SERVER, PASSWORD, USER};
use edgesip::cx::Cx;
use edgesip::output::{Outcome, Socket, Why};
use edgesip::proxy::Proxy;
use edgesip::sip::{HeaderName, Message, MAX_DATAGRAM};
use edgesip::time::Instant;
use md5::{Digest, Md5};
use std::net::SocketAddr;
use std::time::Duration;

/// Between steps.
pub const SEP: &[u8] = b"\n%%\n";
/// Steps run per input; the rest is ignored.
pub const MAX_STEPS: usize = 48;
/// How far the clock moves before a step, by `op >> 4`.
pub const STEPS_MS: [u64; 16] = [
    0, 0, 0, 1, 20, 200, 1_000, 2_000, 5_000, 6_000, 33_000, 121_000, 301_000, 600_000, 3_600_000,
    7_300_000,
];

/// Splits a script into its steps.
pub fn steps(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(data);
    std::iter::from_fn(move || {
        let r = rest?;
        match r.windows(SEP.len()).position(|w| w == SEP) {
            Some(i) => {
                rest = Some(&r[i + SEP.len()..]);
                Some(&r[..i])
            }
            None => {
                rest = None;
                Some(r)
            }
        }
    })
    .take(MAX_STEPS)
}

/// What the far end of one leg last saw from the proxy.
#[derive(Default, Clone)]
struct Memory {
    via_top: Option<Vec<u8>>,
    via_rest: Option<Vec<u8>>,
    ruri: Option<Vec<u8>>,
    contact: Option<Vec<u8>>,
    rr: Option<Vec<u8>>,
    rr_rev: Option<Vec<u8>>,
    /// realm and nonce of the last 401.
    challenge: Option<(Vec<u8>, Vec<u8>)>,
}

/// A request waiting for DNS, as it was handed in.
struct ParkedInput {
    leg: usize,
    src: SocketAddr,
    data: Vec<u8>,
}

pub struct Run {
    pub setup: Setup,
    pub proxy: Proxy,
    pub sockets: FakeSockets,
    pub now: Instant,
    oracle: Oracle,
    mem: Vec<Memory>,
    last_out: Option<Vec<u8>>,
    parked: Vec<ParkedInput>,
    /// The last DNS query: its socket and bytes.
    query: Option<(usize, Vec<u8>)>,
    nc: u32,
    out: Vec<u8>,
}

/// Runs a whole script; panics with the first check that fails.
pub fn run_script(setup: Setup, data: &[u8]) {
    let mut run = Run::new(setup);
    for step in steps(data) {
        run.step(step);
    }
    run.finish();
}

/// `FUZZ_TRACE=1`: every datagram, its outcome and what was sent.
fn trace() -> bool {
    static T: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *T.get_or_init(|| std::env::var_os("FUZZ_TRACE").is_some())
}

fn fail(what: String) -> ! {
    panic!("{what}")
}

impl Run {
    pub fn new(setup: Setup) -> Run {
        let proxy = setup.proxy();
        let legs = proxy.legs().len();
        Run {
            setup,
            oracle: Oracle::new(setup, &proxy),
            proxy,
            sockets: FakeSockets::new(legs),
            now: Instant::from_secs(1_000),
            mem: vec![Memory::default(); legs],
            last_out: None,
            parked: Vec::new(),
            query: None,
            nc: 0,
            out: vec![0u8; MAX_DATAGRAM],
        }
    }

    /// The last SIP datagram the proxy sent.
    pub fn last_out(&self) -> Option<&[u8]> {
        self.last_out.as_deref()
    }

    fn legs(&self) -> usize {
        self.proxy.legs().len()
    }

    pub fn step(&mut self, step: &[u8]) {
        let [op, arg, payload @ ..] = step else {
            return;
        };
        self.now = self.now + Duration::from_millis(STEPS_MS[usize::from(op >> 4)]);
        self.due_timers();
        let leg = usize::from(op >> 3 & 1) % self.legs();
        let src = sources()[usize::from(arg & 15)];
        match op & 7 {
            4 => {
                if let Some(last) = self.last_out.clone() {
                    let _ = self.datagram(leg, src, &last);
                }
            }
            5 => self.media(leg, *arg, payload),
            6 => self.timeout(),
            7 if self.setup.has_dns() => self.dns_answer(payload),
            _ => {
                let d = self.expand(leg, payload);
                let _ = self.datagram(leg, src, &d);
            }
        }
        self.drain();
    }

    /// One datagram through [`Proxy::handle`] and the checks.
    pub fn datagram(&mut self, leg: usize, src: SocketAddr, data: &[u8]) -> Outcome {
        let o = {
            let mut cx = Cx::new(self.now, &mut self.sockets);
            self.proxy.handle(&mut cx, leg, src, data, &mut self.out)
        };
        self.sockets_ok();
        let input = Input { leg, src, data };
        if trace() {
            eprintln!("{}", report(self.setup, &input, &o, &self.out, "trace"));
        }
        if let Err(e) = outcome::check(&self.proxy, &self.oracle, &input, &o, &self.out) {
            fail(report(self.setup, &input, &o, &self.out, &e));
        }
        if o == Outcome::Dropped(Why::DnsWait) {
            self.parked.push(ParkedInput {
                leg,
                src,
                data: data.to_vec(),
            });
        }
        self.learn(&input, &o);
        o
    }

    fn sockets_ok(&mut self) {
        if let Some(f) = self.sockets.fault.take() {
            fail(f);
        }
    }

    /// A packet on a relay port.
    fn media(&mut self, leg: usize, arg: u8, payload: &[u8]) {
        let [s, hi, lo, pkt @ ..] = payload else {
            return;
        };
        let open: Vec<u16> = self
            .sockets
            .open
            .iter()
            .filter(|(l, _)| *l == leg)
            .map(|(_, p)| *p)
            .collect();
        let pair = match open.len() {
            0 => u16::from(arg >> 1) % super::setup::RELAY_PAIRS,
            n => open[usize::from(arg >> 1) % n],
        };
        let odd = arg & 1 == 1;
        let src = SocketAddr::new(
            sources()[usize::from(s & 15)].ip(),
            u16::from_be_bytes([*hi, *lo]),
        );
        let tx = self.proxy.relay(self.now, leg, pair, odd, src, pkt);
        if let Some(tx) = tx {
            if let Err(e) = outcome::relayed(&self.proxy, &self.sockets, &tx, pkt.len()) {
                fail(format!(
                    "relay packet on leg {leg} pair {pair} odd {odd} from {src}: {e}\n{tx:?}"
                ));
            }
        }
    }

    /// Timers the shell would fire now: at most a few rounds, and a round
    /// must leave nothing due (a deadline that stays due is a busy loop).
    fn due_timers(&mut self) {
        for _ in 0..4 {
            match self.proxy.poll_timeout() {
                Some(t) if t <= self.now => {
                    self.timeout();
                    self.drain();
                }
                _ => return,
            }
        }
        if let Some(t) = self.proxy.poll_timeout().filter(|t| *t <= self.now) {
            fail(format!(
                "poll_timeout {t:?} is still due at {:?} after handle_timeout",
                self.now
            ));
        }
    }

    fn timeout(&mut self) {
        let mut cx = Cx::new(self.now, &mut self.sockets);
        self.proxy.handle_timeout(&mut cx);
        self.sockets_ok();
    }

    /// DNS queries to send and requests whose lookup ended.
    fn drain(&mut self) {
        let mut buf = [0u8; 512];
        while let Some(tx) = self.proxy.poll_dns(&mut buf) {
            let Socket::Dns(sock) = tx.socket else {
                fail(format!("poll_dns sent from {:?}", tx.socket));
            };
            let server: SocketAddr = DNS_SERVER.parse().expect("server");
            if tx.dst != server || tx.len < 12 || tx.len > buf.len() {
                fail(format!("a DNS query {tx:?} not for {server}"));
            }
            self.query = Some((sock, buf[..tx.len].to_vec()));
        }
        loop {
            let o = {
                let mut cx = Cx::new(self.now, &mut self.sockets);
                self.proxy.poll_parked(&mut cx, &mut self.out)
            };
            let Some(o) = o else { break };
            self.sockets_ok();
            self.parked_outcome(o);
        }
    }

    /// An outcome of a request that waited for DNS: checked against the
    /// parked input it belongs to (same From, Call-ID and CSeq lines).
    fn parked_outcome(&mut self, o: Outcome) {
        let Some(tx) = o.transmit() else {
            return;
        };
        let out = self.out[..tx.len.min(self.out.len())].to_vec();
        let key = |m: &Message| -> Option<Vec<Vec<u8>>> {
            [HeaderName::From, HeaderName::CallId, HeaderName::CSeq]
                .iter()
                .map(|n| m.header(*n).map(|h| h.line.to_vec()))
                .collect()
        };
        let want = Message::parse(&out).ok().and_then(|m| key(&m));
        let mut first_err = None;
        for i in 0..self.parked.len() {
            let p = &self.parked[i];
            let same = Message::parse(&p.data).ok().and_then(|m| key(&m));
            if want.is_none() || same != want {
                continue;
            }
            let input = Input {
                leg: p.leg,
                src: p.src,
                data: &p.data,
            };
            match outcome::check(&self.proxy, &self.oracle, &input, &o, &self.out) {
                Ok(()) => {
                    if trace() {
                        eprintln!("{}", report(self.setup, &input, &o, &out, "trace (parked)"));
                    }
                    let p = self.parked.remove(i);
                    let input = Input {
                        leg: p.leg,
                        src: p.src,
                        data: &p.data,
                    };
                    self.learn(&input, &o);
                    return;
                }
                Err(e) => {
                    first_err.get_or_insert_with(|| report(self.setup, &input, &o, &out, &e));
                }
            }
        }
        fail(first_err.unwrap_or_else(|| {
            format!(
                "poll_parked sent what no parked request explains: {o:?}\n{}",
                String::from_utf8_lossy(&out)
            )
        }))
    }

    /// An answer to the last query: its ID and question, the script's
    /// flags, counts and records.
    fn dns_answer(&mut self, payload: &[u8]) {
        let Some((sock, q)) = self.query.clone() else {
            return;
        };
        let pkt = super::dns::answer_to(&q, payload);
        let server: SocketAddr = DNS_SERVER.parse().expect("server");
        self.proxy.handle_dns(self.now, sock, server, &pkt);
    }

    /// Everything the far ends learn from what the proxy sent.
    fn learn(&mut self, input: &Input, o: &Outcome) {
        let Some(tx) = o.transmit() else {
            return;
        };
        let Socket::Leg(leg) = tx.socket else {
            return;
        };
        let out = &self.out[..tx.len];
        self.last_out = Some(out.to_vec());
        let Ok(m) = Message::parse(out) else {
            return;
        };
        self.oracle.learn(&self.proxy, input, o, &m);
        let mem = &mut self.mem[leg];
        if m.is_request() && matches!(o, Outcome::Forwarded { .. }) {
            let vias: Vec<&[u8]> = m.elements(HeaderName::Via).map(|(_, e)| e).collect();
            mem.via_top = vias.first().map(|v| v.to_vec());
            mem.via_rest = Some(vias.get(1..).unwrap_or_default().join(&b", "[..]));
            mem.ruri = m.request_uri_raw().map(<[u8]>::to_vec);
        }
        if let Some((_, c)) = m.addrs(HeaderName::Contact).next() {
            mem.contact = Some(c.uri.raw.to_vec());
        }
        let rr: Vec<&[u8]> = m
            .elements(HeaderName::RecordRoute)
            .map(|(_, e)| e)
            .collect();
        if !rr.is_empty() {
            mem.rr = Some(rr.join(&b", "[..]));
            let rev: Vec<&[u8]> = rr.iter().rev().copied().collect();
            mem.rr_rev = Some(rev.join(&b", "[..]));
        }
        if m.status() == Some(401) {
            let v = m
                .headers()
                .iter()
                .find(|h| h.raw_name.eq_ignore_ascii_case(b"WWW-Authenticate"))
                .map(|h| h.value);
            if let Some(v) = v {
                let realm = quoted_param(v, b"realm=").unwrap_or_default();
                let nonce = quoted_param(v, b"nonce=").unwrap_or_default();
                mem.challenge = Some((realm.to_vec(), nonce.to_vec()));
            }
        }
    }

    /// The payload with its placeholders filled in from what `leg` saw.
    pub fn expand(&mut self, leg: usize, p: &[u8]) -> Vec<u8> {
        let mem = &self.mem[leg];
        let mut out = Vec::with_capacity(p.len() + 256);
        let mut auth_at = Vec::new();
        let mut i = 0;
        while i < p.len() {
            if p[i] == b'$' && i + 1 < p.len() {
                let rep = match p[i + 1] {
                    b'V' => mem.via_top.as_deref(),
                    b'W' => mem.via_rest.as_deref(),
                    b'U' => mem.ruri.as_deref(),
                    b'C' => mem.contact.as_deref(),
                    b'R' => mem.rr.as_deref(),
                    b'Q' => mem.rr_rev.as_deref(),
                    b'A' => {
                        auth_at.push(out.len());
                        i += 2;
                        continue;
                    }
                    _ => None,
                };
                if let Some(r) = rep {
                    out.extend_from_slice(r);
                    i += 2;
                    continue;
                }
            }
            out.push(p[i]);
            i += 1;
        }
        if !auth_at.is_empty() {
            let challenge = self.mem[leg].challenge.clone();
            let a = self.authorization(&out, challenge);
            for at in auth_at.into_iter().rev() {
                out.splice(at..at, a.iter().copied());
            }
        }
        out
    }

    /// `Digest ...` for `alice`, for the method and Request-URI of `msg`'s
    /// start line, answering `challenge`.
    fn authorization(&mut self, msg: &[u8], challenge: Option<(Vec<u8>, Vec<u8>)>) -> Vec<u8> {
        let line = msg.split(|b| *b == b'\r').next().unwrap_or_default();
        let mut words = line.split(|b| *b == b' ');
        let method = String::from_utf8_lossy(words.next().unwrap_or_default()).into_owned();
        let uri = String::from_utf8_lossy(words.next().unwrap_or_default()).into_owned();
        let (realm, nonce) = challenge.unwrap_or((b"example.com".to_vec(), b"0".to_vec()));
        let realm = String::from_utf8_lossy(&realm).into_owned();
        let nonce = String::from_utf8_lossy(&nonce).into_owned();
        self.nc += 1;
        let nc = format!("{:08x}", self.nc);
        let h = |s: String| -> String {
            Md5::digest(s.as_bytes())
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect()
        };
        let ha1 = h(format!("{USER}:{realm}:{PASSWORD}"));
        let ha2 = h(format!("{method}:{uri}"));
        let response = h(format!("{ha1}:{nonce}:{nc}:fuzz:auth:{ha2}"));
        format!(
            "Digest username=\"{USER}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", \
             response=\"{response}\", algorithm=MD5, qop=auth, nc={nc}, cnonce=\"fuzz\""
        )
        .into_bytes()
    }

    /// The end of a script: hours pass, every timer fires; then nothing
    /// may be left of any call (a relay slot or socket that outlives its
    /// timeouts is a leak).
    pub fn finish(&mut self) {
        self.now = self.now + Duration::from_secs(3 * 3600);
        for _ in 0..8 {
            self.timeout();
            self.drain();
            if self.proxy.poll_timeout().is_none_or(|t| t > self.now) {
                break;
            }
        }
        let calls = self.proxy.relay_table().map_or(0, |r| r.active_calls());
        if calls != 0 || !self.sockets.open.is_empty() {
            fail(format!(
                "after every timeout: {calls} relayed calls, open sockets {:?}",
                self.sockets.open
            ));
        }
    }
}

/// The value of `name"..."` inside a challenge.
fn quoted_param<'a>(v: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    let at = v
        .windows(name.len())
        .position(|w| w.eq_ignore_ascii_case(name))?;
    let rest = v.get(at + name.len()..)?.strip_prefix(b"\"")?;
    let end = rest.iter().position(|b| *b == b'"')?;
    Some(&rest[..end])
}

fn report(setup: Setup, input: &Input, o: &Outcome, out: &[u8], e: &str) -> String {
    let sent = o
        .transmit()
        .map_or(&[][..], |t| &out[..t.len.min(out.len())]);
    format!(
        "{setup:?}: {e}\n--- in on leg {} from {} ---\n{}\n--- outcome ---\n{o:?}\n--- out ---\n{}",
        input.leg,
        input.src,
        String::from_utf8_lossy(input.data),
        String::from_utf8_lossy(sent)
    )
}
