//! The NAT helper through the real binary: SDP rewritten for each side and
//! RTP/RTCP relayed over loopback UDP.

mod common;

use common::{free_port, Daemon, Ua};
use edgesip::sip::{HeaderName, Message};
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

/// A relay port range no other test in this binary uses, below both the
/// kernel's ephemeral ports and those `free_port` hands out (20,000 up).
fn rtp_range(k: u16) -> (u16, u16) {
    assert!(k < 6);
    let base = 10_000 + (std::process::id() % 80) as u16 * 120 + k * 20;
    (base, base + 19)
}

struct Setup {
    _d: Daemon,
    a: SocketAddr,
    b: SocketAddr,
}

fn start(k: u16, max_calls: &str) -> Setup {
    start_with(k, max_calls, &[])
}

fn start_with(k: u16, max_calls: &str, extra: &[&str]) -> Setup {
    let p1 = free_port("127.0.0.1");
    let p2 = free_port("127.0.0.2");
    let (lo, hi) = rtp_range(k);
    let (leg_a, leg_b) = (
        format!("a=127.0.0.1:{p1},net=127.0.0.1/32"),
        format!("b=127.0.0.2:{p2}"),
    );
    let ports = format!("{lo}-{hi}");
    let mut args = vec![
        "--leg",
        &leg_a,
        "--leg",
        &leg_b,
        "--nat",
        "--rtp-ports",
        &ports,
        "--max-calls",
        max_calls,
    ];
    args.extend_from_slice(extra);
    let d = Daemon::start(&args);
    Setup {
        _d: d,
        a: format!("127.0.0.1:{p1}").parse().unwrap(),
        b: format!("127.0.0.2:{p2}").parse().unwrap(),
    }
}

fn sdp(ip: &str, port: u16) -> String {
    format!("v=0\r\no=x 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0\r\n")
}

fn invite(call_id: &str, uac: &Ua, uas: &Ua, body: &str) -> String {
    format!(
        "INVITE sip:bob@{} SIP/2.0\r\nVia: SIP/2.0/UDP {};branch=z9hG4bK{call_id};rport\r\nMax-Forwards: 70\r\nFrom: <sip:a@x>;tag=at\r\nTo: <sip:b@y>\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:a@{}>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
        uas.addr(),
        uac.addr(),
        uac.addr(),
        body.len()
    )
}

/// The UAS's 200 with SDP, echoing what it needs from the INVITE.
fn ok_with(inv: &[u8], uas: &Ua, body: &str) -> String {
    let contact = common::sip::contact(&format!("sip:b@{}", uas.addr()));
    common::sip::answer(inv, "200 OK", "bt", &contact, body)
}

/// `c=` address and `m=audio` port of an SDP body.
fn media_of(body: &[u8]) -> SocketAddr {
    let text = String::from_utf8_lossy(body);
    let ip = text
        .lines()
        .find_map(|l| l.strip_prefix("c=IN IP4 "))
        .expect("c=");
    let port = text
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|r| r.split(' ').next())
        .expect("m=audio");
    format!("{ip}:{port}").parse().unwrap()
}

fn media_sock(ip: &str) -> UdpSocket {
    let s = UdpSocket::bind((ip, 0)).unwrap();
    s.set_read_timeout(Some(common::scaled(2000))).unwrap();
    s
}

fn recv_from(s: &UdpSocket) -> Option<(Vec<u8>, SocketAddr)> {
    let mut b = [0u8; 2048];
    let (n, from) = s.recv_from(&mut b).ok()?;
    Some((b[..n].to_vec(), from))
}

fn rtp(seq: u16) -> Vec<u8> {
    let mut p = vec![0x80, 0x00];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, 1, 0xde, 0xad, 0xbe, 0xef]);
    p.extend((0..160).map(|i| (i as u8) ^ (seq as u8)));
    p
}

struct Call {
    /// Where the caller sends media (the relay on leg a) and the callee.
    to_relay_a: SocketAddr,
    to_relay_b: SocketAddr,
    inv_at_uas: Vec<u8>,
}

fn establish(
    s: &Setup,
    id: &str,
    uac: &Ua,
    uas: &Ua,
    uac_media: SocketAddr,
    uas_media: SocketAddr,
) -> Call {
    let inv = invite(id, uac, uas, &sdp("127.0.0.1", uac_media.port()));
    uac.send_to(inv.as_bytes(), s.a);
    let (got, _) = uas.recv().expect("INVITE at UAS");
    let m = Message::parse(&got).unwrap();
    let to_relay_b = media_of(m.body());
    assert_eq!(
        to_relay_b.ip().to_string(),
        "127.0.0.2",
        "the callee is told leg b's address"
    );
    uas.send_to(
        ok_with(&got, uas, &sdp("127.0.0.3", uas_media.port())).as_bytes(),
        s.b,
    );
    let (ok, _) = uac.recv().expect("200 at UAC");
    let okm = Message::parse(&ok).unwrap();
    assert_eq!(okm.status(), Some(200));
    let to_relay_a = media_of(okm.body());
    assert_eq!(
        to_relay_a.ip().to_string(),
        "127.0.0.1",
        "the caller is told leg a's address"
    );
    Call {
        to_relay_a,
        to_relay_b,
        inv_at_uas: got.clone(),
    }
}

#[test]
fn media_flows_both_ways_through_the_relay() {
    let s = start(0, "4");
    let (uac, uas) = (Ua::bind("127.0.0.1"), Ua::bind("127.0.0.3"));
    let (am, bm) = (media_sock("127.0.0.1"), media_sock("127.0.0.3"));
    let (am_rtcp, bm_rtcp) = (
        UdpSocket::bind(("127.0.0.1", am.local_addr().unwrap().port() + 1)),
        UdpSocket::bind(("127.0.0.3", bm.local_addr().unwrap().port() + 1)),
    );
    let c = establish(
        &s,
        "flow",
        &uac,
        &uas,
        am.local_addr().unwrap(),
        bm.local_addr().unwrap(),
    );
    for seq in 0..200u16 {
        let p = rtp(seq);
        am.send_to(&p, c.to_relay_a).unwrap();
        let (got, from) = recv_from(&bm).expect("RTP at the callee");
        assert_eq!(got, p);
        assert_eq!(
            from, c.to_relay_b,
            "from the relay port advertised to the callee"
        );
        let q = rtp(1000 + seq);
        bm.send_to(&q, c.to_relay_b).unwrap();
        let (got, from) = recv_from(&am).expect("RTP at the caller");
        assert_eq!(got, q);
        assert_eq!(from, c.to_relay_a);
    }
    // RTCP on port + 1 arrives too (when the test could bind port + 1).
    if let (Ok(ar), Ok(br)) = (am_rtcp, bm_rtcp) {
        ar.set_read_timeout(Some(common::scaled(2000))).unwrap();
        br.set_read_timeout(Some(common::scaled(2000))).unwrap();
        let rtcp = [0x80u8, 200, 0, 1, 0, 0, 0, 1];
        let relay_rtcp = SocketAddr::new(c.to_relay_a.ip(), c.to_relay_a.port() + 1);
        ar.send_to(&rtcp, relay_rtcp).unwrap();
        let (got, from) = recv_from(&br).expect("RTCP at the callee");
        assert_eq!(got, rtcp);
        assert_eq!(from.port(), c.to_relay_b.port() + 1);
    }
}

#[test]
fn latching_foreign_sources_and_bye() {
    let s = start(1, "1");
    let (uac, uas) = (Ua::bind("127.0.0.1"), Ua::bind("127.0.0.3"));
    let bm = media_sock("127.0.0.3");
    // The caller signals one port but sends from another (a NAT's doing).
    let signalled: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let am = media_sock("127.0.0.1");
    let c = establish(&s, "latch", &uac, &uas, signalled, bm.local_addr().unwrap());
    am.send_to(&rtp(1), c.to_relay_a).unwrap();
    assert_eq!(recv_from(&bm).expect("relayed").0, rtp(1));
    bm.send_to(&rtp(2), c.to_relay_b).unwrap();
    let (got, _) = recv_from(&am).expect("latched: back to where the caller sends from");
    assert_eq!(got, rtp(2));

    // A third party sending to the callee-facing relay port is not relayed.
    let intruder = media_sock("127.0.0.9");
    intruder.send_to(&rtp(3), c.to_relay_b).unwrap();
    am.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    assert!(recv_from(&am).is_none(), "foreign media reached the caller");

    // A second call while the only slot is taken: 503 without Retry-After.
    let uac2 = Ua::bind("127.0.0.1");
    uac2.send_to(
        invite("second", &uac2, &uas, &sdp("127.0.0.1", 4000)).as_bytes(),
        s.a,
    );
    let (r, _) = uac2.recv().expect("answer to the second call");
    let text = String::from_utf8_lossy(&r).into_owned();
    assert!(text.starts_with("SIP/2.0 503 "), "{text}");
    assert!(!text.contains("Retry-After"));

    // BYE from the callee ends the relay, and the slot is free again.
    let m = Message::parse(&c.inv_at_uas).unwrap();
    let routes: String = m
        .headers()
        .iter()
        .filter(|h| h.name == HeaderName::RecordRoute)
        .map(|h| format!("Route: {}\r\n", String::from_utf8_lossy(h.value)))
        .collect();
    let (_, contact) = m.addrs(HeaderName::Contact).next().unwrap();
    let bye = format!(
        "BYE {} SIP/2.0\r\nVia: SIP/2.0/UDP {};branch=z9hG4bKbye\r\nMax-Forwards: 70\r\n{routes}From: <sip:b@y>;tag=bt\r\nTo: <sip:a@x>;tag=at\r\nCall-ID: latch\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n",
        String::from_utf8_lossy(contact.uri.raw),
        uas.addr()
    );
    uas.send_to(bye.as_bytes(), s.b);
    let (got, _) = uac.recv().expect("BYE at the caller");
    assert!(got.starts_with(b"BYE "));
    am.send_to(&rtp(4), c.to_relay_a).unwrap();
    bm.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    assert!(recv_from(&bm).is_none(), "relayed after BYE");
    uac2.send_to(
        invite("third", &uac2, &uas, &sdp("127.0.0.1", 4000)).as_bytes(),
        s.a,
    );
    let (got, _) = uas.recv().expect("a new call after BYE gets a slot");
    assert!(got.starts_with(b"INVITE "));
}

/// A port someone holds on `ip` (edgesip's relay, here).
fn held(ip: &str, port: u16) -> bool {
    UdpSocket::bind((ip, port)).is_err()
}

#[test]
fn relay_ports_stay_open_after_a_call_then_close_when_idle() {
    let s = start(2, "1");
    let (uac, uas) = (Ua::bind("127.0.0.1"), Ua::bind("127.0.0.3"));
    uac.send_to(
        invite("kept", &uac, &uas, &sdp("127.0.0.1", 4000)).as_bytes(),
        s.a,
    );
    let (inv, _) = uas.recv().expect("INVITE at UAS");
    let relay_b = media_of(Message::parse(&inv).unwrap().body());
    assert!(held("127.0.0.2", relay_b.port()), "bound for the offer");
    // The callee refuses: the call and its pairs are freed...
    uas.send_to(
        common::sip::answer(&inv, "486 Busy Here", "bt", "", "").as_bytes(),
        s.b,
    );
    let (busy, _) = uac.recv().expect("486 at UAC");
    assert!(busy.starts_with(b"SIP/2.0 486 "));
    // ... but the sockets stay for the next call that takes the pair,
    let freed = std::time::Instant::now();
    std::thread::sleep(Duration::from_millis(500));
    assert!(held("127.0.0.2", relay_b.port()), "closed at once");
    assert!(held("127.0.0.2", relay_b.port() + 1));
    // and an idle daemon closes them after 30 s, woken by no input.
    let end = freed + Duration::from_secs(45);
    while held("127.0.0.2", relay_b.port()) {
        assert!(std::time::Instant::now() < end, "still open after 45 s");
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(freed.elapsed() >= Duration::from_secs(29), "closed early");
    assert!(!held("127.0.0.2", relay_b.port() + 1));
}

/// Runs edgesip under `ulimit -n 256` (soft and hard) with `args`; a start
/// that works is stopped with SIGTERM once every leg is listening.
fn run_with_fd_limit(args: &[&str]) -> (std::process::ExitStatus, String) {
    let bin = env!("CARGO_BIN_EXE_edgesip");
    let runner = std::env::var("EDGESIP_TEST_RUNNER").unwrap_or_default();
    let script = format!("ulimit -n 256 && exec {runner} {bin} \"$@\"");
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("sh")
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("sh");
    let (err, reader) = common::capture(child.stderr.take().unwrap());
    // Signal only after start-up: a SIGTERM that comes before the handler
    // is installed kills the process (seen under a loaded qemu).
    let end = std::time::Instant::now() + common::scaled(10_000);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        let listening = err.lock().unwrap().contains(": listening on ");
        if listening || std::time::Instant::now() >= end {
            // SAFETY: kill has no memory effects; the pid is our child.
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
            break child.wait().expect("wait");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    reader.join().unwrap();
    let text = err.lock().unwrap().clone();
    (status, text)
}

#[test]
fn file_descriptor_limit_is_checked_at_start_up() {
    let p = free_port("127.0.0.1");
    let leg = format!("127.0.0.1:{p}");
    let (lo, hi) = rtp_range(5);
    let ports = format!("{lo}-{hi}");
    // 64 calls need 64 x 16 + 32 descriptors: more than 256 can give.
    let (status, err) = run_with_fd_limit(&[
        "--leg",
        &leg,
        "--nat",
        "--rtp-ports",
        &ports,
        "--max-calls",
        "64",
    ]);
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(
        err.contains("--max-calls 64 needs 1056 file descriptors"),
        "{err}"
    );
    assert_eq!(
        err.lines().filter(|l| l.starts_with("edgesip: ")).count(),
        1,
        "{err}"
    );
    // 8 calls fit.
    let (status, err) = run_with_fd_limit(&[
        "--leg",
        &leg,
        "--nat",
        "--rtp-ports",
        &ports,
        "--max-calls",
        "8",
    ]);
    assert!(status.success(), "{err}");
    assert!(err.contains("listening on"), "{err}");
}

/// `edgesip status ARGS` against the daemon's control socket.
fn status(control: &std::path::Path, args: &[&str]) -> String {
    let path = control.to_str().unwrap();
    let mut all = vec!["status", "--control", path];
    all.extend_from_slice(args);
    let r = common::run_to_exit(&all);
    assert!(r.status.success(), "{all:?}: {}", r.stderr);
    r.stdout
}

fn control_path(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("edgesip-status-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("control")
}

#[test]
fn status_shows_the_binding_and_the_call() {
    let control = control_path("call");
    let s = start_with(
        3,
        "4",
        &[
            "--registrar",
            "example.com",
            "--control",
            control.to_str().unwrap(),
        ],
    );
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let meta = std::fs::metadata(&control).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    // A phone registers; a call is relayed, 20 packets one way, 5 back.
    let phone = Ua::bind("127.0.0.1");
    let reg = format!(
        "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP {a};branch=z9hG4bKsr1\r\n\
From: <sip:dave@example.com>;tag=d\r\nTo: <sip:dave@example.com>\r\nCall-ID: dave-reg\r\n\
CSeq: 1 REGISTER\r\nContact: <sip:dave@{a}>\r\nContent-Length: 0\r\n\r\n",
        a = phone.addr()
    );
    phone.send_to(reg.as_bytes(), s.a);
    let (ok, _) = phone.recv().expect("200 for REGISTER");
    assert!(ok.starts_with(b"SIP/2.0 200 "));
    let (uac, uas) = (Ua::bind("127.0.0.1"), Ua::bind("127.0.0.3"));
    let (am, bm) = (media_sock("127.0.0.1"), media_sock("127.0.0.3"));
    let c = establish(
        &s,
        "st1",
        &uac,
        &uas,
        am.local_addr().unwrap(),
        bm.local_addr().unwrap(),
    );
    for seq in 0..20 {
        am.send_to(&rtp(seq), c.to_relay_a).unwrap();
        recv_from(&bm).expect("relayed to the callee");
    }
    for seq in 0..5 {
        bm.send_to(&rtp(seq), c.to_relay_b).unwrap();
        recv_from(&am).expect("relayed to the caller");
    }

    let text = status(&control, &[]);
    let binding = text
        .lines()
        .find(|l| l.starts_with("sip:dave@example.com "))
        .unwrap_or_else(|| panic!("no binding row:\n{text}"));
    assert!(
        binding.contains(&format!("sip:dave@{}", phone.addr())),
        "{binding}"
    );
    assert!(binding.contains(" a "), "{binding}");
    assert!(
        text.contains("forwarded   requests 1  responses 1\n"),
        "{text}"
    );
    assert!(text.contains("packets relayed 25"), "{text}");
    let call = text
        .lines()
        .find(|l| l.contains("a/b"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(call.trim_end().ends_with("20/5"), "{call}");
    assert!(
        call.contains(&am.local_addr().unwrap().to_string()),
        "{call}"
    );

    let json = status(&control, &["--json"]);
    let mut py = std::process::Command::new("python3")
        .args([
            "-c",
            "import json,sys; j=json.loads(sys.stdin.read()); \
             print(len(j['bindings']), j['bindings'][0]['aor'], j['calls'][0]['streams'][0]['packets'], \
             j['requests_forwarded'], j['responses_forwarded'], j['relay']['relayed'])",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    py.stdin.take().unwrap().write_all(json.as_bytes()).unwrap();
    let out = py.wait_with_output().unwrap();
    assert!(out.status.success(), "not JSON: {json}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "1 sip:dave@example.com [20, 5] 1 1 25"
    );
    let prom = status(&control, &["--prometheus"]);
    assert!(prom.contains("edgesip_relay_packets_total 25\n"), "{prom}");
}

#[test]
fn two_clients_at_once_and_long_tables() {
    let control = control_path("two");
    let s = start_with(
        4,
        "4",
        &[
            "--registrar",
            "example.com",
            "--reg-max",
            "400",
            "--control",
            control.to_str().unwrap(),
        ],
    );
    // 300 bindings: more than one answer holds.
    let phone = Ua::bind("127.0.0.1");
    for i in 0..300 {
        let reg = format!(
            "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP {a};branch=z9hG4bKm{i}\r\n\
From: <sip:user{i:03}@example.com>;tag=d\r\nTo: <sip:user{i:03}@example.com>\r\nCall-ID: m{i}\r\n\
CSeq: 1 REGISTER\r\nContact: <sip:user{i:03}@{a}>\r\nContent-Length: 0\r\n\r\n",
            a = phone.addr()
        );
        phone.send_to(reg.as_bytes(), s.a);
        phone.recv().expect("200 for REGISTER");
    }
    // One client takes the first part of the table, another asks in the
    // middle, the first goes on: each gets what it asked for.
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::{SocketAddr as UnixAddr, UnixDatagram};
    let client = |name: &str| {
        let me =
            UnixAddr::from_abstract_name(format!("edgesip-test-{}-{name}", std::process::id()))
                .unwrap();
        let s = UnixDatagram::bind_addr(&me).unwrap();
        s.connect(&control).unwrap();
        s.set_read_timeout(Some(common::scaled(2000))).unwrap();
        s
    };
    let ask = |s: &UnixDatagram, req: &str| {
        s.send(req.as_bytes()).unwrap();
        let mut buf = vec![0u8; 70_000];
        let n = s.recv(&mut buf).expect("an answer");
        String::from_utf8(buf[..n].to_vec()).unwrap()
    };
    let (one, two) = (client("one"), client("two"));
    let first = ask(&one, "bindings text 0");
    let next: usize = first
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("next "))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{}", &first[..80]));
    assert!(next > 0 && next < 300);
    let summary = ask(&two, "summary text");
    assert!(
        summary.contains("registrar   bindings 300 of 400"),
        "{summary}"
    );
    let mut rows = first.lines().count() - 2; // the first line, the heading
    let mut from = next;
    loop {
        let part = ask(&one, &format!("bindings text {from}"));
        let (head, body) = part.split_once('\n').unwrap();
        rows += body.lines().count();
        match head.strip_prefix("next ") {
            Some(n) => from = n.parse().unwrap(),
            None => break assert_eq!(head, "end"),
        }
    }
    assert_eq!(rows, 300);
    // The command puts it back together.
    let text = status(&control, &[]);
    assert_eq!(
        text.lines().filter(|l| l.starts_with("sip:user")).count(),
        300
    );
}

#[test]
fn a_stale_control_socket_is_replaced_and_a_live_one_is_not() {
    let control = control_path("stale");
    // What an edgesip killed with SIGKILL leaves: a socket nobody is bound to.
    drop(std::os::unix::net::UnixDatagram::bind(&control).unwrap());
    let p = free_port("127.0.0.1");
    let leg = format!("127.0.0.1:{p}");
    let d = common::Daemon::start(&["--leg", &leg, "--control", control.to_str().unwrap()]);
    assert!(
        status(&control, &[]).contains("leg "),
        "the new daemon answers"
    );
    // A second daemon must not take the first one's socket.
    let q = free_port("127.0.0.1");
    let leg2 = format!("127.0.0.1:{q}");
    let r = common::run_to_exit(&["--leg", &leg2, "--control", control.to_str().unwrap()]);
    assert_eq!(r.status.code(), Some(2), "{}", r.stderr);
    assert!(
        r.stderr.contains("another edgesip answers there"),
        "{}",
        r.stderr
    );
    assert!(
        status(&control, &[]).contains("leg "),
        "the first still answers"
    );
    drop(d);
}

#[test]
fn a_control_path_that_exists_or_has_no_folder_is_refused() {
    let control = control_path("exists");
    std::fs::write(&control, b"").unwrap();
    let p = free_port("127.0.0.1");
    let leg = format!("127.0.0.1:{p}");
    for path in [
        control.clone(),
        control.parent().unwrap().join("no/such/dir/control"),
    ] {
        let r = common::run_to_exit(&["--leg", &leg, "--control", path.to_str().unwrap()]);
        assert_eq!(r.status.code(), Some(2), "{}", r.stderr);
        let lines: Vec<&str> = r.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{}", r.stderr);
        assert!(
            lines[0].starts_with("edgesip: control socket "),
            "{}",
            r.stderr
        );
    }
    // Nothing listens: the command says so in one line.
    let r = common::run_to_exit(&["status", "--control", control.to_str().unwrap()]);
    assert_eq!(r.status.code(), Some(2));
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
}
