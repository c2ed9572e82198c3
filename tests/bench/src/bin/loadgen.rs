//! loadgen: complete SIP call flows (INVITE/100/180/200/ACK/BYE/200) through
//! a proxy under test, with the UAC and the UAS in this one process.
//!
//! The UAC sends each INVITE to `--proxy` with the Request-URI naming one
//! of the UAS's sockets; the UAS answers every request to the address it
//! came from (the proxy), echoing Via, Record-Route, From, To (+tag),
//! Call-ID and CSeq; the UAC sends ACK and BYE to the remote Contact with
//! the Record-Route set reversed as Route headers, to the first Route's
//! address (or to `--proxy` when there is none: the floor forwarder adds no
//! Record-Route). Call k uses UAC socket k mod N and UAS socket k mod N, so a
//! forwarder that relays between fixed socket pairs carries the same flows.
//!
//! No retransmissions: over loopback a lost datagram is a failed call, which
//! is what the ramp looks for. A call succeeds when the UAC got 180 and 200
//! for its INVITE and 200 for its BYE and the UAS saw the ACK (100 is
//! counted but not required: a proxy may absorb it).
//!
//! Output: one JSON object on stdout; progress on stderr.

#[path = "../tools/mod.rs"]
mod tools;

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use tools::args::Args;
use tools::net::{Epoll, RxBatch, TxQueue, Udp};
use tools::proc::{self as pstat, Cpu};
use tools::{quantile, sip, Json};

const USAGE: &str = "\
loadgen: SIP call flows through a proxy, UAC and UAS in one process

  --proxy IP:PORT      where the UAC sends INVITEs (the proxy, or its leg A)
  --uac-ip IP          UAC sockets' address (127.0.0.1)
  --uas-ip IP          UAS sockets' address (127.0.0.3); the Request-URI names it
  --uac-port P         first UAC port, the others follow (0: any free ports)
  --uas-port P         first UAS port (0: any)
  --sockets N          sockets per side (4)
  --rate R             calls per second (fixed-rate mode)
  --duration S         seconds of new calls (fixed-rate mode, 5)
  --ramp START         ramp mode: rates START, START*factor, ... until a step
                       fails (START/factor, ... down while the first ones
                       fail), then bisect; the result is the highest rate
                       with zero failed calls
  --ramp-factor F      (2)       --ramp-max R   (400000)
  --bisect N           bisection steps after the first failure (4)
  --retries N          a failed step is run again N times before it counts (1)
  --step S             seconds per ramp step (3)
  --hold MS            ACK to BYE (500)
  --timeout MS         answer deadline of each transaction (2000)
  --sdp                SDP offer in INVITE, answer in 200 (the NAT case)
  --pid PID            the proxy: CPU (utime+stime and schedstat) and memory
                       of its whole process tree are measured
  --label NAME         copied into the JSON
  --tag TAG            copied into the JSON (the benchmark's phase)
  --register N         register users 0..N-1 (REGISTER sip:DOMAIN) and exit
  --domain D           the registrar domain (example.com)
  --mem-only           print the memory of --pid's tree and exit
";

const S_IDLE: u8 = 0;
const S_INVITING: u8 = 1;
const S_ESTABLISHED: u8 = 2;
const S_BYE: u8 = 3;
const S_DONE: u8 = 4;
const S_FAILED: u8 = 5;

#[derive(Default)]
struct Call {
    state: u8,
    got100: bool,
    got180: bool,
    ack_seen: bool,
    /// Status of an error answer, or 1 for an INVITE timeout, 2 for BYE.
    fail: u16,
    t_inv: u64,
    t_bye: u64,
    dst: Option<SocketAddrV4>,
    target: Vec<u8>,
    /// Route lines and the To line of the dialog.
    dialog: Vec<u8>,
}

struct Setup {
    proxy: SocketAddrV4,
    uac: Vec<Udp>,
    uas: Vec<Udp>,
    hold_ns: u64,
    timeout_ns: u64,
    sdp: bool,
    pid: u32,
    run: u32,
}

#[derive(Default, Clone)]
struct StepResult {
    rate: f64,
    duration: f64,
    planned: u64,
    started: u64,
    ok: u64,
    failed: u64,
    timeouts: u64,
    errors: u64,
    no_ack: u64,
    no_180: u64,
    got_100: u64,
    rx_msgs: u64,
    tx_msgs: u64,
    wall: f64,
    cpu_s: f64,
    cpu_sched_s: f64,
    lg_cpu_s: f64,
    start_late_ms: f64,
    inv_p50: u32,
    inv_p99: u32,
    inv_max: u32,
    bye_p50: u32,
    bye_p99: u32,
    loadgen_bound: bool,
}

impl StepResult {
    fn pass(&self) -> bool {
        self.failed == 0 && self.started == self.planned && !self.loadgen_bound
    }
    fn line(&self) -> String {
        format!(
            "rate {:>8.0}/s: {} calls, {} ok, {} failed (timeouts {}, errors {}, no ACK {}, no 180 {}), \
             {:.0} msgs/s, proxy cpu {:.1}% {:.2} us/msg, loadgen cpu {:.0}%, INVITE p50/p99 {}/{} us, BYE {}/{} us{}",
            self.rate,
            self.started,
            self.ok,
            self.failed,
            self.timeouts,
            self.errors,
            self.no_ack,
            self.no_180,
            self.rx_msgs as f64 / self.duration,
            100.0 * self.cpu_s / self.wall,
            1e6 * self.cpu_s / self.rx_msgs.max(1) as f64,
            100.0 * self.lg_cpu_s / self.wall,
            self.inv_p50,
            self.inv_p99,
            self.bye_p50,
            self.bye_p99,
            if self.loadgen_bound { " [loadgen-bound]" } else { "" }
        )
    }
    fn json(&self, j: Json) -> Json {
        let msgs_per_call = self.rx_msgs as f64 / self.ok.max(1) as f64;
        j.num("rate", self.rate)
            .num("duration_s", self.duration)
            .int("calls", self.started)
            .int("ok", self.ok)
            .int("failed", self.failed)
            .int("timeouts", self.timeouts)
            .int("error_answers", self.errors)
            .int("no_ack", self.no_ack)
            .int("no_180", self.no_180)
            .int("got_100", self.got_100)
            .int("sent_msgs", self.tx_msgs)
            .num("calls_per_s", self.ok as f64 / self.duration)
            .num("msgs_per_s", self.rx_msgs as f64 / self.duration)
            .int("msgs", self.rx_msgs)
            .num("msgs_per_call", msgs_per_call)
            .num("cpu_s", self.cpu_s)
            .num("cpu_sched_s", self.cpu_sched_s)
            .num("cpu_us_per_call", 1e6 * self.cpu_s / self.ok.max(1) as f64)
            .num(
                "cpu_us_per_msg",
                1e6 * self.cpu_s / self.rx_msgs.max(1) as f64,
            )
            .num(
                "sched_us_per_call",
                1e6 * self.cpu_sched_s / self.ok.max(1) as f64,
            )
            .num(
                "sched_us_per_msg",
                1e6 * self.cpu_sched_s / self.rx_msgs.max(1) as f64,
            )
            .num("proxy_cpu_pct", 100.0 * self.cpu_s / self.wall)
            .num("loadgen_cpu_pct", 100.0 * self.lg_cpu_s / self.wall)
            .num("start_late_ms", self.start_late_ms)
            .int("invite_p50_us", self.inv_p50 as u64)
            .int("invite_p99_us", self.inv_p99 as u64)
            .int("invite_max_us", self.inv_max as u64)
            .int("bye_p50_us", self.bye_p50 as u64)
            .int("bye_p99_us", self.bye_p99 as u64)
            .bool("loadgen_bound", self.loadgen_bound)
    }
}

fn main() {
    let a = Args::parse("loadgen", USAGE, &["sdp", "mem-only"]);
    let pid: u32 = a.get("pid", 0);
    let label: String = a.get("label", String::new());
    let tag: String = a.get("tag", String::new());
    if a.flag("mem-only") {
        let m = pstat::tree_mem(pid);
        let j = Json::new()
            .str("label", &label)
            .str("tag", &tag)
            .str("kind", "mem")
            .int("procs", m.procs as u64)
            .int("hwm_kb", m.hwm_kb)
            .int("rss_kb", m.rss_kb)
            .int("pss_kb", m.pss_kb)
            .int("anon_kb", m.anon_kb)
            .int("file_kb", m.file_kb);
        println!("{}", j.finish());
        return;
    }
    tools::tight_timers();
    let proxy: SocketAddrV4 = a.req("proxy");
    let uac_ip: Ipv4Addr = a.get("uac-ip", Ipv4Addr::new(127, 0, 0, 1));
    let uas_ip: Ipv4Addr = a.get("uas-ip", Ipv4Addr::new(127, 0, 0, 3));
    let uac_port: u16 = a.get("uac-port", 0);
    let uas_port: u16 = a.get("uas-port", 0);
    let n: u16 = a.get("sockets", 4);
    let bind = |ip: Ipv4Addr, base: u16, i: u16| {
        let port = if base == 0 { 0 } else { base + i };
        Udp::bind(SocketAddrV4::new(ip, port), 8 << 20)
            .unwrap_or_else(|e| a.die(&format!("bind {ip}:{port}: {e}")))
    };
    let mut s = Setup {
        proxy,
        uac: (0..n).map(|i| bind(uac_ip, uac_port, i)).collect(),
        uas: (0..n).map(|i| bind(uas_ip, uas_port, i)).collect(),
        hold_ns: a.get::<u64>("hold", 500) * 1_000_000,
        timeout_ns: a.get::<u64>("timeout", 2000) * 1_000_000,
        sdp: a.flag("sdp"),
        pid,
        run: 0,
    };

    if let Some(users) = a.opt::<u64>("register") {
        let domain: String = a.get("domain", "example.com".to_owned());
        register(&mut s, users, &domain, &label, &tag);
        return;
    }

    let out = if let Some(start) = a.opt::<f64>("ramp") {
        let factor: f64 = a.get("ramp-factor", 2.0);
        let max: f64 = a.get("ramp-max", 400_000.0);
        let bisect: u32 = a.get("bisect", 4);
        let retries: u32 = a.get("retries", 1);
        let step: f64 = a.get("step", 3.0);
        let run_checked = |s: &mut Setup, rate: f64| {
            let mut r = run_step(s, rate, step);
            eprintln!("[{label}] {}", r.line());
            for _ in 0..retries {
                if r.pass() {
                    break;
                }
                // Let an overloaded proxy work off its backlog first.
                std::thread::sleep(Duration::from_millis(500));
                r = run_step(s, rate, step);
                eprintln!("[{label}] retry: {}", r.line());
            }
            std::thread::sleep(Duration::from_millis(if r.pass() { 200 } else { 500 }));
            r
        };
        let mut best: Option<StepResult> = None;
        let mut fail: Option<StepResult> = None;
        let mut steps = 1;
        let first = run_checked(&mut s, start);
        if first.pass() {
            // Up until a step fails.
            best = Some(first);
            let mut rate = start * factor;
            while rate <= max {
                let r = run_checked(&mut s, rate);
                steps += 1;
                if r.pass() {
                    best = Some(r);
                    rate *= factor;
                } else {
                    fail = Some(r);
                    break;
                }
            }
        } else {
            // Down until a step passes.
            fail = Some(first);
            let mut rate = sig2(start / factor);
            while rate >= 1.0 {
                let r = run_checked(&mut s, rate);
                steps += 1;
                if r.pass() {
                    best = Some(r);
                    break;
                }
                fail = Some(r);
                rate = sig2(rate / factor);
            }
        }
        if let (Some(f), Some(_)) = (&fail, &best) {
            let mut hi = f.rate;
            for _ in 0..bisect {
                let lo = best.as_ref().map_or(0.0, |b| b.rate);
                let mid = sig2((lo * hi).sqrt());
                if mid <= lo || mid >= hi {
                    break;
                }
                let r = run_checked(&mut s, mid);
                steps += 1;
                if r.pass() {
                    best = Some(r);
                } else {
                    hi = mid;
                    fail = Some(r);
                }
            }
        }
        let mem = pstat::tree_mem(pid);
        let mut j = Json::new()
            .str("label", &label)
            .str("tag", &tag)
            .str("kind", "ramp")
            .int("steps", steps)
            .num("max_cps", best.as_ref().map_or(0.0, |b| b.rate))
            .num("first_fail_rate", fail.as_ref().map_or(0.0, |f| f.rate))
            .bool(
                "fail_loadgen_bound",
                fail.as_ref().is_some_and(|f| f.loadgen_bound),
            )
            .int("hwm_kb", mem.hwm_kb)
            .int("rss_kb", mem.rss_kb)
            .int("pss_kb", mem.pss_kb)
            .int("procs", mem.procs as u64);
        if let Some(b) = &best {
            j = b.json(j);
        }
        j.finish()
    } else {
        let rate: f64 = a.req("rate");
        let dur: f64 = a.get("duration", 5.0);
        let r = run_step(&mut s, rate, dur);
        eprintln!("[{label}] {}", r.line());
        let mem = pstat::tree_mem(pid);
        r.json(
            Json::new()
                .str("label", &label)
                .str("tag", &tag)
                .str("kind", "fixed")
                .bool("pass", r.pass())
                .int("hwm_kb", mem.hwm_kb)
                .int("rss_kb", mem.rss_kb)
                .int("pss_kb", mem.pss_kb)
                .int("procs", mem.procs as u64),
        )
        .finish()
    };
    println!("{out}");
    let _ = std::io::stdout().flush();
}

/// `x` rounded to two significant digits (1,414 -> 1,400; 14.1 -> 14).
fn sig2(x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    let m = 10f64.powf(x.log10().floor() - 1.0);
    (x / m).round() * m
}

/// The numbers embedded in a Call-ID `K-RUN-PID@loadgen`: (K, RUN).
fn call_ids(msg: &[u8]) -> Option<(usize, u32)> {
    let v = sip::header(msg, "Call-ID")?;
    let k = sip::leading_num(v)? as usize;
    let rest = &v[v.iter().position(|&c| c == b'-')? + 1..];
    let run = sip::leading_num(rest)? as u32;
    Some((k, run))
}

fn invite(buf: &mut Vec<u8>, s: &Setup, k: usize, sock: usize) {
    let uac = s.uac[sock].addr;
    let uas = s.uas[sock].addr;
    let body = if s.sdp {
        sip::sdp(uac.ip(), 20000 + 2 * (k % 10000) as u16, k as u64)
    } else {
        String::new()
    };
    buf.clear();
    let _ = write!(
        Wr(buf),
        "INVITE sip:bob@{uas} SIP/2.0\r\n\
Via: SIP/2.0/UDP {uac};branch=z9hG4bK{run}.{k}.i;rport\r\n\
Max-Forwards: 70\r\n\
From: \"Alice\" <sip:alice@example.org>;tag=a{k}\r\n\
To: <sip:bob@example.com>\r\n\
Call-ID: {k}-{run}-{pid}@loadgen\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:alice@{uac}>\r\n\
Subject: Performance Test\r\n\
User-Agent: edgesip-loadgen\r\n\
{ct}Content-Length: {len}\r\n\r\n{body}",
        run = s.run,
        pid = std::process::id(),
        ct = if body.is_empty() {
            ""
        } else {
            "Content-Type: application/sdp\r\n"
        },
        len = body.len(),
    );
}

fn in_dialog(buf: &mut Vec<u8>, s: &Setup, k: usize, sock: usize, c: &Call, ack: bool) {
    let uac = s.uac[sock].addr;
    let (m, cseq, b) = if ack {
        ("ACK", 1, 'a')
    } else {
        ("BYE", 2, 'b')
    };
    buf.clear();
    buf.extend_from_slice(m.as_bytes());
    buf.push(b' ');
    buf.extend_from_slice(&c.target);
    let _ = write!(
        Wr(buf),
        " SIP/2.0\r\nVia: SIP/2.0/UDP {uac};branch=z9hG4bK{run}.{k}.{b};rport\r\n\
Max-Forwards: 70\r\nFrom: \"Alice\" <sip:alice@example.org>;tag=a{k}\r\n",
        run = s.run
    );
    buf.extend_from_slice(&c.dialog);
    let _ = write!(
        Wr(buf),
        "Call-ID: {k}-{run}-{pid}@loadgen\r\nCSeq: {cseq} {m}\r\nContent-Length: 0\r\n\r\n",
        run = s.run,
        pid = std::process::id()
    );
}

/// `write!` into a Vec<u8>.
struct Wr<'a>(&'a mut Vec<u8>);
impl std::fmt::Write for Wr<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

fn run_step(s: &mut Setup, rate: f64, duration: f64) -> StepResult {
    s.run += 1;
    let n = s.uac.len();
    let planned = (rate * duration).round().max(1.0) as usize;
    let mut calls: Vec<Call> = (0..planned).map(|_| Call::default()).collect();
    let mut ep = Epoll::new().expect("epoll");
    for (i, u) in s.uac.iter().chain(s.uas.iter()).enumerate() {
        ep.add(u.fd(), i as u64).expect("epoll add");
    }
    let mut txq: Vec<TxQueue> = (0..2 * n).map(|_| TxQueue::new()).collect();
    let mut rx = RxBatch::new();
    let mut ready = Vec::new();
    let mut buf = Vec::with_capacity(4096);
    let mut inv_dl: VecDeque<(u64, u32)> = VecDeque::new();
    let mut bye_due: VecDeque<(u64, u32)> = VecDeque::new();
    let mut bye_dl: VecDeque<(u64, u32)> = VecDeque::new();
    let mut inv_lat: Vec<u32> = Vec::with_capacity(planned);
    let mut bye_lat: Vec<u32> = Vec::with_capacity(planned);
    let (mut rx_msgs, mut tx_msgs) = (0u64, 0u64);
    let mut next = 0usize;
    let mut outstanding = 0usize;
    let mut late_ns = 0u64;
    let interval_ns = 1e9 / rate;
    let hard_end = (duration * 1e9) as u64 + s.hold_ns + 2 * s.timeout_ns + 1_000_000_000;
    let uas_sdp = |k: usize, sock: usize| -> String {
        sip::sdp(
            s.uas[sock].addr.ip(),
            30000 + 2 * (k % 10000) as u16,
            k as u64,
        )
    };

    let cpu0: Cpu = pstat::tree_cpu(s.pid);
    let lg0 = pstat::self_cpu_secs();
    let t0 = Instant::now();
    let mut now;
    loop {
        now = tools::ns_since(t0);
        // New calls that are due.
        let due = (((now as f64) / interval_ns) as usize + 1).min(planned);
        while next < due {
            let k = next;
            let sched = (k as f64 * interval_ns) as u64;
            late_ns = late_ns.max(now.saturating_sub(sched));
            let sock = k % n;
            invite(&mut buf, s, k, sock);
            txq[sock].push(&buf, s.proxy);
            let c = &mut calls[k];
            c.state = S_INVITING;
            c.t_inv = now;
            inv_dl.push_back((now + s.timeout_ns, k as u32));
            outstanding += 1;
            next += 1;
        }
        // BYEs that are due.
        while let Some(&(t, k)) = bye_due.front() {
            if t > now {
                break;
            }
            bye_due.pop_front();
            let k = k as usize;
            let sock = k % n;
            if calls[k].state != S_ESTABLISHED {
                continue;
            }
            in_dialog(&mut buf, s, k, sock, &calls[k], false);
            let dst = calls[k].dst.unwrap_or(s.proxy);
            txq[sock].push(&buf, dst);
            calls[k].state = S_BYE;
            calls[k].t_bye = now;
            bye_dl.push_back((now + s.timeout_ns, k as u32));
        }
        // Deadlines.
        for (q, st, code) in [(&mut inv_dl, S_INVITING, 1u16), (&mut bye_dl, S_BYE, 2)] {
            while let Some(&(t, k)) = q.front() {
                if t > now {
                    break;
                }
                q.pop_front();
                let c = &mut calls[k as usize];
                if c.state == st {
                    c.state = S_FAILED;
                    c.fail = code;
                    outstanding -= 1;
                }
            }
        }
        for (i, q) in txq.iter_mut().enumerate() {
            if !q.is_empty() {
                let sock = if i < n { &s.uac[i] } else { &s.uas[i - n] };
                tx_msgs += q.flush(sock) as u64;
            }
        }
        if next == planned && outstanding == 0 {
            break;
        }
        if now > hard_end {
            break;
        }
        // Sleep until the next thing to do, or a datagram.
        let mut wake = now + 10_000_000;
        if next < planned {
            wake = wake.min((next as f64 * interval_ns) as u64);
        }
        for q in [&inv_dl, &bye_due, &bye_dl] {
            if let Some(&(t, _)) = q.front() {
                wake = wake.min(t);
            }
        }
        // Timers closer than this are served together: one wake-up per
        // 100 us at most, so the generator's own overhead stays bounded at
        // high rates (a burst of a few INVITEs instead of one each).
        wake = wake.max(now + 100_000);
        if txq.iter().any(|q| !q.is_empty()) {
            wake = wake.min(now + 50_000);
        }
        ep.wait(Duration::from_nanos(wake.saturating_sub(now)), &mut ready);
        if ready.is_empty() {
            continue;
        }
        let t_rx = tools::ns_since(t0);
        for &tok in &ready {
            let tok = tok as usize;
            let is_uas = tok >= n;
            let sock_i = if is_uas { tok - n } else { tok };
            let sock = if is_uas {
                &s.uas[sock_i]
            } else {
                &s.uac[sock_i]
            };
            let got = rx.recv(sock);
            for i in 0..got {
                let (msg, src) = rx.get(i);
                rx_msgs += 1;
                let Some((k, run)) = call_ids(msg) else {
                    continue;
                };
                if run != s.run || k >= planned {
                    continue;
                }
                if is_uas {
                    // The UAS: answer what arrives, to where it came from.
                    let m = sip::method(msg);
                    if m == b"INVITE" {
                        let tag = format!("b{k}");
                        let contact = format!("Contact: <sip:bob@{}>\r\n", s.uas[sock_i].addr);
                        sip::response(&mut buf, msg, "100 Trying", "", "", "");
                        txq[tok].push(&buf, src);
                        sip::response(&mut buf, msg, "180 Ringing", &tag, &contact, "");
                        txq[tok].push(&buf, src);
                        let body = if s.sdp {
                            uas_sdp(k, sock_i)
                        } else {
                            String::new()
                        };
                        sip::response(&mut buf, msg, "200 OK", &tag, &contact, &body);
                        txq[tok].push(&buf, src);
                    } else if m == b"ACK" {
                        calls[k].ack_seen = true;
                    } else if m == b"BYE" {
                        sip::response(&mut buf, msg, "200 OK", &format!("b{k}"), "", "");
                        txq[tok].push(&buf, src);
                    }
                    continue;
                }
                // The UAC.
                let Some(code) = sip::status(msg) else {
                    continue;
                };
                let is_inv = sip::cseq_method(msg) == b"INVITE";
                let c = &mut calls[k];
                if is_inv {
                    match code {
                        100 => c.got100 = true,
                        101..=199 => c.got180 = true,
                        200..=299 if c.state == S_INVITING => {
                            inv_lat.push(((t_rx - c.t_inv) / 1000) as u32);
                            let to = sip::header(msg, "To").unwrap_or(b"");
                            let mut dialog = Vec::with_capacity(256);
                            let rr = sip::header_elements(msg, "Record-Route");
                            for r in rr.iter().rev() {
                                dialog.extend_from_slice(b"Route: ");
                                dialog.extend_from_slice(r);
                                dialog.extend_from_slice(b"\r\n");
                            }
                            dialog.extend_from_slice(b"To: ");
                            dialog.extend_from_slice(to);
                            dialog.extend_from_slice(b"\r\n");
                            c.dialog = dialog;
                            c.target = sip::header(msg, "Contact")
                                .map(|v| sip::uri_of(v).to_vec())
                                .unwrap_or_else(|| {
                                    format!("sip:bob@{}", s.uas[sock_i].addr).into_bytes()
                                });
                            c.dst = rr
                                .last()
                                .and_then(|r| sip::uri_addr(sip::uri_of(r)))
                                .or(Some(s.proxy));
                            in_dialog(&mut buf, s, k, sock_i, c, true);
                            txq[tok].push(&buf, c.dst.unwrap_or(s.proxy));
                            c.state = S_ESTABLISHED;
                            bye_due.push_back((t_rx + s.hold_ns, k as u32));
                        }
                        200..=299 => {}
                        _ if c.state == S_INVITING => {
                            c.state = S_FAILED;
                            c.fail = code;
                            outstanding -= 1;
                        }
                        _ => {}
                    }
                } else if sip::cseq_method(msg) == b"BYE" && c.state == S_BYE {
                    if (200..300).contains(&code) {
                        bye_lat.push(((t_rx - c.t_bye) / 1000) as u32);
                        c.state = S_DONE;
                        outstanding -= 1;
                    } else if code >= 300 {
                        c.state = S_FAILED;
                        c.fail = code;
                        outstanding -= 1;
                    }
                }
            }
        }
    }
    // Let a late ACK land before judging.
    std::thread::sleep(Duration::from_millis(20));
    for (tok, sock) in s.uas.iter().enumerate() {
        while rx.recv(sock) > 0 {
            for i in 0..rx.n {
                let (msg, _) = rx.get(i);
                if sip::method(msg) == b"ACK" {
                    if let Some((k, run)) = call_ids(msg) {
                        if run == s.run && k < planned {
                            calls[k].ack_seen = true;
                        }
                    }
                }
                rx_msgs += 1;
            }
        }
        let _ = tok;
    }
    let wall = t0.elapsed().as_secs_f64();
    let cpu1 = pstat::tree_cpu(s.pid);
    let lg1 = pstat::self_cpu_secs();

    let mut r = StepResult {
        rate,
        duration,
        planned: planned as u64,
        started: next as u64,
        rx_msgs,
        tx_msgs,
        wall,
        cpu_s: cpu1.secs_since(&cpu0),
        cpu_sched_s: cpu1.sched_secs_since(&cpu0),
        lg_cpu_s: lg1 - lg0,
        start_late_ms: late_ns as f64 / 1e6,
        ..StepResult::default()
    };
    for c in &calls[..next] {
        if c.got100 {
            r.got_100 += 1;
        }
        let ok = c.state == S_DONE && c.ack_seen && c.got180;
        if ok {
            r.ok += 1;
            continue;
        }
        r.failed += 1;
        match c.state {
            S_DONE if !c.ack_seen => r.no_ack += 1,
            S_DONE => r.no_180 += 1,
            S_FAILED if c.fail <= 2 => r.timeouts += 1,
            S_FAILED => r.errors += 1,
            _ => r.timeouts += 1,
        }
    }
    r.failed += (planned - next) as u64;
    // The schedule slipped: the load generator, not the proxy, was the limit.
    r.loadgen_bound = late_ns as f64 > 0.02 * duration * 1e9 + 50e6;
    inv_lat.sort_unstable();
    bye_lat.sort_unstable();
    r.inv_p50 = quantile(&inv_lat, 0.5);
    r.inv_p99 = quantile(&inv_lat, 0.99);
    r.inv_max = inv_lat.last().copied().unwrap_or(0);
    r.bye_p50 = quantile(&bye_lat, 0.5);
    r.bye_p99 = quantile(&bye_lat, 0.99);
    // Drain stragglers so the next step starts clean.
    for sock in s.uac.iter().chain(s.uas.iter()) {
        while rx.recv(sock) > 0 {}
    }
    let _ = S_IDLE;
    r
}

/// Registers `users` users through the proxy (or registrar) at `--proxy`,
/// keeping up to 64 REGISTERs outstanding; prints the outcome as JSON.
fn register(s: &mut Setup, users: u64, domain: &str, label: &str, tag: &str) {
    let n = s.uac.len();
    let mut ep = Epoll::new().expect("epoll");
    for (i, u) in s.uac.iter().enumerate() {
        ep.add(u.fd(), i as u64).expect("epoll add");
    }
    let mut rx = RxBatch::new();
    let mut ready = Vec::new();
    let mut pending: VecDeque<(u64, u64)> = VecDeque::new();
    let mut answered = vec![0u16; users as usize];
    let (mut next, mut done, mut ok) = (0u64, 0u64, 0u64);
    let mut codes: std::collections::BTreeMap<u16, u64> = Default::default();
    let cpu0 = pstat::tree_cpu(s.pid);
    let t0 = Instant::now();
    let pid = std::process::id();
    while done < users {
        let now = tools::ns_since(t0);
        while next < users && pending.len() < 64 {
            let i = next;
            let sock = &s.uac[i as usize % n];
            let msg = format!(
                "REGISTER sip:{domain} SIP/2.0\r\n\
Via: SIP/2.0/UDP {a};branch=z9hG4bKr{i}.{pid};rport\r\n\
Max-Forwards: 70\r\n\
From: <sip:user{i}@{domain}>;tag=r{i}\r\n\
To: <sip:user{i}@{domain}>\r\n\
Call-ID: {i}-0-{pid}@loadgen\r\n\
CSeq: 1 REGISTER\r\n\
Contact: <sip:user{i}@{a}>;expires=3600\r\n\
User-Agent: edgesip-loadgen\r\n\
Content-Length: 0\r\n\r\n",
                a = sock.addr
            );
            sock.send_to(msg.as_bytes(), s.proxy);
            pending.push_back((now + s.timeout_ns, i));
            next += 1;
        }
        while let Some(&(t, i)) = pending.front() {
            if answered[i as usize] != 0 {
                pending.pop_front();
            } else if t <= now {
                pending.pop_front();
                answered[i as usize] = 1;
                *codes.entry(0).or_default() += 1;
                done += 1;
            } else {
                break;
            }
        }
        ep.wait(Duration::from_millis(5), &mut ready);
        for &tok in &ready {
            let got = rx.recv(&s.uac[tok as usize]);
            for j in 0..got {
                let (msg, _) = rx.get(j);
                let (Some(code), Some((i, _))) = (sip::status(msg), call_ids(msg)) else {
                    continue;
                };
                if code < 200 || i as u64 >= users || answered[i] != 0 {
                    continue;
                }
                answered[i] = code;
                *codes.entry(code).or_default() += 1;
                done += 1;
                if code == 200 {
                    ok += 1;
                }
            }
        }
    }
    let wall = t0.elapsed().as_secs_f64();
    let cpu1 = pstat::tree_cpu(s.pid);
    let mem = pstat::tree_mem(s.pid);
    let codes_s: Vec<String> = codes.iter().map(|(c, n)| format!("{c}:{n}")).collect();
    eprintln!(
        "[{label}] {ok}/{users} registered in {wall:.2} s, answers {}",
        codes_s.join(" ")
    );
    let j = Json::new()
        .str("label", label)
        .str("tag", tag)
        .str("kind", "register")
        .int("users", users)
        .int("registered", ok)
        .str("codes", &codes_s.join(" "))
        .num("seconds", wall)
        .num(
            "cpu_us_per_register",
            1e6 * cpu1.secs_since(&cpu0) / users.max(1) as f64,
        )
        .int("hwm_kb", mem.hwm_kb)
        .int("rss_kb", mem.rss_kb)
        .int("pss_kb", mem.pss_kb)
        .int("anon_kb", mem.anon_kb)
        .int("file_kb", mem.file_kb);
    println!("{}", j.finish());
}
