//! rtpblast: sets up media sessions through a relay, then blasts 172-byte
//! RTP packets (12-byte header + 160 bytes of G.711, 20 ms) both ways and
//! measures what the relay forwards and the CPU it spends.
//!
//! One socket per side carries every session (`--caller` on 127.0.0.1 and
//! `--callee` on 127.0.0.3 by default): the relay sees one party per side of
//! each call, latches to it, and answers to it; the blaster can then batch
//! with sendmmsg/recvmmsg across sessions.
//!
//! How the relay ports are learnt:
//! - `--sip A,B`: edgesip with `--nat` and legs A (caller side) and B: a UAC
//!   on the caller's IP sends INVITE with SDP to A for a UAS on the callee's
//!   IP; the relay's ports are read from the SDP each side receives. The
//!   calls stay up (no BYE); `--hold S` keeps them so after the blast.
//! - `--floor A,B`: the floor forwarder's media mode: session i uses A+2i
//!   and B+2i.
//! - `--rtpengine IP:PORT`: rtpengine's ng protocol (bencode over UDP):
//!   offer and answer per session, the ports read from the SDP it returns.
//!
//! Closed loop: at most `--window` packets are in flight at once, so the
//! relay is kept busy without overflowing its queues; `--pps` paces instead
//! (a realistic load: 50 packets/s each way per G.711 call).

#[path = "../tools/mod.rs"]
mod tools;

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use tools::args::Args;
use tools::net::{RxBatch, TxQueue, Udp, BATCH};
use tools::proc as pstat;
use tools::{sip, Json};

const USAGE: &str = "\
rtpblast: RTP both ways through a relay, measuring packets/s and CPU/packet

  --sip A_IP:PORT,B_IP:PORT   set up calls through edgesip --nat (legs A, B)
  --floor A_IP:PORT,B_IP:PORT the floor forwarder's media sockets (step 2)
  --rtpengine IP:PORT         rtpengine's ng control socket
  --sessions N                calls (100)
  --caller IP:PORT            the callers' media socket (127.0.0.1:0)
  --callee IP:PORT            the callees' media socket (127.0.0.3:0)
  --duration S                seconds of blasting (5)
  --window N                  packets in flight at most (256)
  --phases LIST               blast and/or paced, in order (blast)
  --pps R                     the paced phase's rate, both ways together (20000)
  --pid PID                   the relay: CPU and memory of its process tree
  --label NAME                copied into the JSON
  --hold S                    keep the calls up S seconds after the blast (0)
";

/// 12-byte RTP header + 160 bytes of PCMU: 20 ms of G.711.
const PKT: usize = 172;

fn rtp(buf: &mut [u8; PKT], ssrc: u32, seq: u16) {
    buf[0] = 0x80;
    buf[1] = 0;
    buf[2..4].copy_from_slice(&seq.to_be_bytes());
    buf[4..8].copy_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    buf[8..12].copy_from_slice(&ssrc.to_be_bytes());
}

/// Blocking request/answer over a UDP socket, with a deadline.
fn recv_wait(s: &Udp, buf: &mut [u8], ms: u64) -> Option<(usize, SocketAddrV4)> {
    let end = Instant::now() + Duration::from_millis(ms);
    loop {
        if let Some(r) = s.recv_from(buf) {
            return Some(r);
        }
        if Instant::now() > end {
            return None;
        }
        std::thread::sleep(Duration::from_micros(50));
    }
}

/// Calls through edgesip: per session the relay addresses (caller side,
/// callee side).
fn setup_sip(
    a: SocketAddrV4,
    sessions: usize,
    caller: SocketAddrV4,
    callee: SocketAddrV4,
) -> Result<Vec<(SocketAddrV4, SocketAddrV4)>, String> {
    let uac = Udp::bind(SocketAddrV4::new(*caller.ip(), 0), 1 << 20).map_err(|e| e.to_string())?;
    let uas = Udp::bind(SocketAddrV4::new(*callee.ip(), 0), 1 << 20).map_err(|e| e.to_string())?;
    let pid = std::process::id();
    let mut out = Vec::with_capacity(sessions);
    let mut buf = vec![0u8; 65536];
    let mut resp = Vec::new();
    for k in 0..sessions {
        let body = sip::sdp(caller.ip(), caller.port(), k as u64);
        let inv = format!(
            "INVITE sip:bob@{uas} SIP/2.0\r\nVia: SIP/2.0/UDP {uac};branch=z9hG4bKm{k}.{pid};rport\r\n\
Max-Forwards: 70\r\nFrom: <sip:alice@example.org>;tag=a{k}\r\nTo: <sip:bob@example.com>\r\n\
Call-ID: m{k}-{pid}@rtpblast\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@{uac}>\r\n\
Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
            body.len(),
            uas = uas.addr,
            uac = uac.addr,
        );
        uac.send_to(inv.as_bytes(), a);
        let (n, from) =
            recv_wait(&uas, &mut buf, 2000).ok_or(format!("call {k}: no INVITE at the UAS"))?;
        let req = &buf[..n];
        if sip::method(req) != b"INVITE" {
            return Err(format!(
                "call {k}: UAS got {:?}",
                String::from_utf8_lossy(req)
            ));
        }
        let relay_b =
            sip::sdp_media(sip::body(req)).ok_or(format!("call {k}: no SDP at the UAS"))?;
        let ans = sip::sdp(callee.ip(), callee.port(), k as u64);
        sip::response(
            &mut resp,
            req,
            "200 OK",
            &format!("b{k}"),
            &format!("Contact: <sip:bob@{}>\r\n", uas.addr),
            &ans,
        );
        uas.send_to(&resp, from);
        let (relay_a, m) = loop {
            let (n, _) =
                recv_wait(&uac, &mut buf, 2000).ok_or(format!("call {k}: no 200 at the UAC"))?;
            let m = &buf[..n];
            match sip::status(m) {
                Some(200) => {
                    let r =
                        sip::sdp_media(sip::body(m)).ok_or(format!("call {k}: no SDP in 200"))?;
                    break (r, m.to_vec());
                }
                Some(c) if c >= 300 => {
                    return Err(format!(
                        "call {k}: {}",
                        String::from_utf8_lossy(&m[..m.len().min(60)])
                    ))
                }
                _ => {}
            }
        };
        // ACK to the 200's Contact through the Record-Route set.
        let to = sip::header(&m, "To").unwrap_or(b"").to_vec();
        let target = sip::header(&m, "Contact")
            .map(|v| sip::uri_of(v).to_vec())
            .unwrap_or_default();
        let mut routes = String::new();
        for r in sip::header_elements(&m, "Record-Route").iter().rev() {
            routes += &format!("Route: {}\r\n", String::from_utf8_lossy(r));
        }
        let ack = format!(
            "ACK {} SIP/2.0\r\nVia: SIP/2.0/UDP {uac};branch=z9hG4bKma{k}.{pid};rport\r\n{routes}\
Max-Forwards: 70\r\nFrom: <sip:alice@example.org>;tag=a{k}\r\nTo: {}\r\n\
Call-ID: m{k}-{pid}@rtpblast\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
            String::from_utf8_lossy(&target),
            String::from_utf8_lossy(&to),
            uac = uac.addr,
        );
        uac.send_to(ack.as_bytes(), a);
        let _ = recv_wait(&uas, &mut buf, 500);
        out.push((relay_a, relay_b));
    }
    Ok(out)
}

/// A bencoded string.
fn bs(s: &str) -> String {
    format!("{}:{}", s.len(), s)
}

/// The value of a top-level string key in a bencoded dictionary answer.
fn bget<'a>(ans: &'a str, key: &str) -> Option<&'a str> {
    let pat = bs(key);
    let i = ans.find(&pat)? + pat.len();
    let rest = &ans[i..];
    let colon = rest.find(':')?;
    let len: usize = rest[..colon].parse().ok()?;
    rest.get(colon + 1..colon + 1 + len)
}

fn setup_rtpengine(
    ng: SocketAddrV4,
    sessions: usize,
    caller: SocketAddrV4,
    callee: SocketAddrV4,
) -> Result<Vec<(SocketAddrV4, SocketAddrV4)>, String> {
    let s =
        Udp::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0), 1 << 20).map_err(|e| e.to_string())?;
    let pid = std::process::id();
    let mut buf = vec![0u8; 65536];
    let mut ask = |cookie: String, dict: String| -> Result<String, String> {
        let msg = format!("{cookie} d{dict}e");
        s.send_to(msg.as_bytes(), ng);
        loop {
            let (n, _) = recv_wait(&s, &mut buf, 3000).ok_or("rtpengine did not answer")?;
            let txt = String::from_utf8_lossy(&buf[..n]).into_owned();
            if let Some(rest) = txt.strip_prefix(&cookie) {
                if bget(rest, "result") != Some("ok") {
                    return Err(format!("rtpengine: {}", &rest[..rest.len().min(200)]));
                }
                return Ok(rest.to_owned());
            }
        }
    };
    let mut out = Vec::with_capacity(sessions);
    for k in 0..sessions {
        let cid = format!("r{k}-{pid}");
        let offer = sip::sdp(caller.ip(), caller.port(), k as u64);
        let r = ask(
            format!("o{k}"),
            format!(
                "{}{}{}{}{}{}{}{}",
                bs("call-id"),
                bs(&cid),
                bs("command"),
                bs("offer"),
                bs("from-tag"),
                bs(&format!("a{k}")),
                bs("sdp"),
                bs(&offer)
            ),
        )?;
        // What the callee is told: rtpengine's port for it.
        let relay_b = sip::sdp_media(bget(&r, "sdp").ok_or("no sdp in offer answer")?.as_bytes())
            .ok_or("offer: no media in SDP")?;
        let answer = sip::sdp(callee.ip(), callee.port(), k as u64);
        let r = ask(
            format!("a{k}"),
            format!(
                "{}{}{}{}{}{}{}{}{}{}",
                bs("call-id"),
                bs(&cid),
                bs("command"),
                bs("answer"),
                bs("from-tag"),
                bs(&format!("a{k}")),
                bs("sdp"),
                bs(&answer),
                bs("to-tag"),
                bs(&format!("b{k}"))
            ),
        )?;
        let relay_a = sip::sdp_media(bget(&r, "sdp").ok_or("no sdp in answer answer")?.as_bytes())
            .ok_or("answer: no media in SDP")?;
        out.push((relay_a, relay_b));
    }
    Ok(out)
}

fn main() {
    let a = Args::parse("rtpblast", USAGE, &[]);
    tools::tight_timers();
    let sessions: usize = a.get("sessions", 100);
    let caller_a: SocketAddrV4 = a.get("caller", "127.0.0.1:0".parse().unwrap());
    let callee_a: SocketAddrV4 = a.get("callee", "127.0.0.3:0".parse().unwrap());
    let duration: f64 = a.get("duration", 5.0);
    let window: u64 = a.get("window", 256);
    let pps: Option<f64> = a.opt("pps");
    let pid: u32 = a.get("pid", 0);
    let label: String = a.get("label", String::new());
    let hold: f64 = a.get("hold", 0.0);

    let caller =
        Udp::bind(caller_a, 8 << 20).unwrap_or_else(|e| a.die(&format!("bind {caller_a}: {e}")));
    let callee =
        Udp::bind(callee_a, 8 << 20).unwrap_or_else(|e| a.die(&format!("bind {callee_a}: {e}")));

    let fail = |msg: String| -> ! {
        eprintln!("[{label}] {msg}");
        println!(
            "{}",
            Json::new()
                .str("label", &label)
                .str("kind", "rtp")
                .str("error", &msg)
                .finish()
        );
        std::process::exit(1)
    };
    let t_setup = Instant::now();
    let relays: Vec<(SocketAddrV4, SocketAddrV4)> = if let Some(legs) = a.opt::<String>("sip") {
        let (x, _) = legs.split_once(',').unwrap_or_else(|| a.die("--sip A,B"));
        setup_sip(
            x.parse().unwrap_or_else(|_| a.die("--sip")),
            sessions,
            caller.addr,
            callee.addr,
        )
        .unwrap_or_else(|e| fail(e))
    } else if let Some(f) = a.opt::<String>("floor") {
        let (x, y) = f.split_once(',').unwrap_or_else(|| a.die("--floor A,B"));
        let (x, y): (SocketAddrV4, SocketAddrV4) = (
            x.parse().unwrap_or_else(|_| a.die("--floor")),
            y.parse().unwrap_or_else(|_| a.die("--floor")),
        );
        (0..sessions)
            .map(|i| {
                let o = 2 * i as u16;
                (
                    SocketAddrV4::new(*x.ip(), x.port() + o),
                    SocketAddrV4::new(*y.ip(), y.port() + o),
                )
            })
            .collect()
    } else if let Some(ng) = a.opt::<SocketAddrV4>("rtpengine") {
        setup_rtpengine(ng, sessions, caller.addr, callee.addr).unwrap_or_else(|e| fail(e))
    } else {
        a.die("give --sip, --floor or --rtpengine")
    };
    let setup_s = t_setup.elapsed().as_secs_f64();

    // Warm-up: one packet per session each way, so every side is latched.
    let mut pkt = [0u8; PKT];
    let mut rx = RxBatch::new();
    let mut got_warm = 0usize;
    for (i, (ra, rb)) in relays.iter().enumerate() {
        rtp(&mut pkt, 2 * i as u32, 0);
        caller.send_to(&pkt, *ra);
        rtp(&mut pkt, 2 * i as u32 + 1, 0);
        callee.send_to(&pkt, *rb);
        if i % 32 == 31 {
            std::thread::sleep(Duration::from_micros(500));
            got_warm += rx.recv(&caller) + rx.recv(&callee);
        }
    }
    let end = Instant::now() + Duration::from_millis(1000);
    while got_warm < 2 * sessions && Instant::now() < end {
        let n = rx.recv(&caller) + rx.recv(&callee);
        got_warm += n;
        if n == 0 {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    if got_warm < 2 * sessions {
        eprintln!(
            "[{label}] warm-up: {got_warm} of {} packets came back",
            2 * sessions
        );
    }

    let phases: String = a.get("phases", "blast".to_owned());
    for phase in phases.split(',') {
        let pace = match phase {
            "blast" => None,
            "paced" => Some(pps.unwrap_or(20_000.0)),
            _ => a.die(&format!("unknown phase {phase}")),
        };
        let j = run_phase(
            &label, &caller, &callee, &relays, duration, window, pace, pid, &mut rx,
        );
        println!(
            "{}",
            j.str("label", &label)
                .str("tag", phase)
                .str("kind", "rtp")
                .int("sessions", sessions as u64)
                .num("setup_s", setup_s)
                .finish()
        );
    }
    if hold > 0.0 {
        std::thread::sleep(Duration::from_secs_f64(hold));
    }
}

/// One measurement: a closed-loop blast (`pace` None, at most `window`
/// packets in flight) or a paced run at `pace` packets/s; the numbers as
/// JSON fields.
#[allow(clippy::too_many_arguments)]
fn run_phase(
    label: &str,
    caller: &Udp,
    callee: &Udp,
    relays: &[(SocketAddrV4, SocketAddrV4)],
    duration: f64,
    window: u64,
    pace: Option<f64>,
    pid: u32,
    rx: &mut RxBatch,
) -> Json {
    let mut pkt = [0u8; PKT];
    let mut txq = [TxQueue::new(), TxQueue::new()];
    let (mut sent, mut recvd) = (0u64, 0u64);
    let mut lost = 0u64;
    let mut seq: u16 = 1;
    let mut next = 0usize;
    let mut last_progress = Instant::now();
    let cpu0 = pstat::tree_cpu(pid);
    let lg0 = pstat::self_cpu_secs();
    let t0 = Instant::now();
    let dur = Duration::from_secs_f64(duration);
    while t0.elapsed() < dur {
        let allowed = match pace {
            Some(r) => ((t0.elapsed().as_secs_f64() * r) as u64).saturating_sub(sent),
            None => window.saturating_sub(sent - recvd - lost),
        };
        let mut k = 0;
        while k < allowed.min(2 * BATCH as u64) {
            let (ra, rb) = relays[next];
            rtp(&mut pkt, 2 * next as u32, seq);
            txq[0].push(&pkt, ra);
            rtp(&mut pkt, 2 * next as u32 + 1, seq);
            txq[1].push(&pkt, rb);
            k += 2;
            next += 1;
            if next == relays.len() {
                next = 0;
                seq = seq.wrapping_add(1);
            }
        }
        sent += txq[0].flush(caller) as u64 + txq[1].flush(callee) as u64;
        let n = rx.recv(caller) as u64 + rx.recv(callee) as u64;
        recvd += n;
        if n > 0 {
            last_progress = Instant::now();
        } else if sent > recvd + lost && last_progress.elapsed() > Duration::from_millis(20) {
            // Nothing for 20 ms: what is in flight is lost.
            lost = sent - recvd;
            last_progress = Instant::now();
        } else if pace.is_some() || sent - recvd - lost >= window {
            std::thread::sleep(Duration::from_micros(20));
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    let cpu1 = pstat::tree_cpu(pid);
    let lg1 = pstat::self_cpu_secs();
    // Stragglers.
    let end = Instant::now() + Duration::from_millis(200);
    while Instant::now() < end {
        let n = rx.recv(caller) as u64 + rx.recv(callee) as u64;
        recvd += n;
        if n == 0 {
            std::thread::sleep(Duration::from_micros(500));
        }
    }
    let mem = pstat::tree_mem(pid);
    let cpu_s = cpu1.secs_since(&cpu0);
    let sched_s = cpu1.sched_secs_since(&cpu0);
    let loss = sent.saturating_sub(recvd);
    let pps_done = recvd as f64 / secs;
    let ns_pkt = 1e9 * cpu_s / recvd.max(1) as f64;
    let ns_pkt_sched = 1e9 * sched_s / recvd.max(1) as f64;
    let per_core = if ns_pkt_sched > 0.0 {
        1e9 / ns_pkt_sched
    } else {
        0.0
    };
    eprintln!(
        "[{label}] {} {} sessions: {recvd} relayed in {secs:.2} s = {pps_done:.0} pps, loss {loss}, relay cpu {:.0}% = \
         {ns_pkt:.0} ns/pkt ({ns_pkt_sched:.0} by schedstat), {per_core:.0} pps/core, blaster cpu {:.0}%",
        if pace.is_some() { "paced" } else { "blast" },
        relays.len(),
        100.0 * cpu_s / secs,
        100.0 * (lg1 - lg0) / secs
    );
    Json::new()
        .int("sent", sent)
        .int("relayed", recvd)
        .int("lost", loss)
        .num("seconds", secs)
        .num("pps", pps_done)
        .num("target_pps", pace.unwrap_or(0.0))
        .num("cpu_s", cpu_s)
        .num("cpu_sched_s", sched_s)
        .num("cpu_pct", 100.0 * cpu_s / secs)
        .num("ns_per_pkt", ns_pkt)
        .num("sched_ns_per_pkt", ns_pkt_sched)
        .num("pps_per_core", per_core)
        .num("g711_calls_per_core", per_core / 100.0)
        .num("blaster_cpu_pct", 100.0 * (lg1 - lg0) / secs)
        .int("hwm_kb", mem.hwm_kb)
        .int("rss_kb", mem.rss_kb)
        .int("pss_kb", mem.pss_kb)
        .int("procs", mem.procs as u64)
}
