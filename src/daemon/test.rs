//! The shell's loop with the real core, over loopback sockets.

use super::*;
use crate::config::Config;
use crate::output::Outcome;
use crate::registrar::RegistrarConfig;
use std::net::UdpSocket as StdSocket;

#[test]
fn start_errors_name_leg_and_cause() {
    let leg = |kind: ErrorKind| StartError::Leg {
        leg: "wan".into(),
        addr: "192.0.2.1:5060".parse().unwrap(),
        step: "bind",
        err: io::Error::from(kind),
    };
    let s = leg(ErrorKind::AddrInUse).to_string();
    assert_eq!(s, "leg wan: cannot bind 192.0.2.1:5060: port in use");
    let s = leg(ErrorKind::AddrNotAvailable).to_string();
    assert!(s.contains("address not available on this host"), "{s}");
    assert_eq!(
        leg(ErrorKind::AddrInUse).io_error().map(io::Error::kind),
        Some(ErrorKind::AddrInUse)
    );
}

#[test]
fn leg_line() {
    // No file is read: the parser gets a reader that has none.
    let mut no_files = |_: &str| Err(io::Error::from(ErrorKind::NotFound));
    let args = [
        "--dns",
        "192.0.2.53",
        "--leg",
        "x=[::1]:5060,net=::1/128+fd00::/8,media-ip=::2,freebind",
    ];
    let parsed = cli::parse_args(args.map(String::from), &mut no_files);
    let Ok(cli::Command::Run(opts)) = parsed else {
        panic!("{parsed:?}");
    };
    let cfg = &opts.cfg;
    assert_eq!(
        LegLine(&cfg.legs[0], cfg.leg_trusted(0)).to_string(),
        "leg x: listening on [::1]:5060, advertise [::1]:5060, trusted, \
         nets ::1/128+fd00::/8, media-ip ::2, freebind"
    );
}

/// A shell with `n` loopback legs and a proxy serving them; with a
/// registrar for `example.com` when `registrar` is set.
fn shell(n: usize, registrar: bool) -> (Shell, Proxy, Vec<SocketAddr>) {
    let mut socks = Vec::new();
    let mut names = Vec::new();
    let mut specs = Vec::new();
    for i in 0..n {
        let s = StdSocket::bind("127.0.0.1:0").unwrap();
        s.set_nonblocking(true).unwrap();
        let addr = s.local_addr().unwrap();
        socks.push(UdpSocket::from_std(s));
        names.push(format!("leg{i}"));
        specs.push(LegSpec::new(&format!("leg{i}"), addr, &[]));
    }
    let addrs = specs.iter().map(|l| l.addr).collect();
    let mut cfg = Config::with_legs(specs);
    if registrar {
        cfg.registrar = Some(RegistrarConfig {
            domains: vec!["example.com".into()],
            ..RegistrarConfig::default()
        });
    }
    let proxy = Proxy::new(&cfg, b"shell test secret", 7).unwrap();
    (
        Shell::new(socks.into_iter().map(Some).collect(), names),
        proxy,
        addrs,
    )
}

/// An OPTIONS to the proxy's own address, which it answers with 200.
fn options(to: SocketAddr, i: u32) -> Vec<u8> {
    format!(
        "OPTIONS sip:{to} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKo{i}\r\n\
         From: <sip:ua@example.com>;tag=f{i}\r\nTo: <sip:{to}>\r\nCall-ID: o{i}\r\n\
         CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

fn recv_all(s: &StdSocket) -> usize {
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut buf = [0u8; 2048];
    let mut n = 0;
    while s.recv_from(&mut buf).is_ok() {
        n += 1;
    }
    n
}

#[test]
fn quota_keeps_a_flood_from_starving_other_legs() {
    let (mut sh, mut p, addrs) = shell(2, false);
    let ua = StdSocket::bind("127.0.0.1:0").unwrap();
    for i in 0..100u32 {
        ua.send_to(&options(addrs[0], i), addrs[0]).unwrap();
    }
    for i in 0..3u32 {
        ua.send_to(&options(addrs[1], i), addrs[1]).unwrap();
    }
    let now = Instant::from_secs(1);
    sh.ready[..2].fill(true);
    sh.turn(&mut p, now);
    assert_eq!(&p.stats().received[..2], &[QUOTA as u64, 3]);
    assert_eq!(&sh.ready[..2], &[true, false]);
    assert!(sh.any_ready());
    sh.turn(&mut p, now);
    assert_eq!(&p.stats().received[..2], &[100, 3]);
    assert!(!sh.any_ready());
    assert_eq!(p.stats().replies_sent, 103);
    assert_eq!(recv_all(&ua), 103);
}

#[test]
fn failed_sends_and_bad_transmits_do_not_stop_the_leg() {
    let (mut sh, mut p, addrs) = shell(1, false);
    let ua = StdSocket::bind("127.0.0.1:0").unwrap();
    let now = Instant::from_secs(1);
    for _ in 0..30 {
        // A leg, a DNS socket and a length the shell does not have, and an
        // IPv6 destination from an IPv4 socket.
        sh.send(&mut p, now, Transmit::leg(7, addrs[0], 1));
        sh.send(&mut p, now, Transmit::leg(0, addrs[0], MAX_DATAGRAM + 1));
        let dns = Transmit {
            socket: Socket::Dns(3),
            dst: addrs[0],
            len: 1,
        };
        sh.send(&mut p, now, dns);
        sh.send(&mut p, now, Transmit::leg(0, "[::1]:9".parse().unwrap(), 1));
    }
    assert!(sh.limiter.suppressed > 0);
    // The leg still works.
    ua.send_to(&options(addrs[0], 1), addrs[0]).unwrap();
    sh.ready[0] = true;
    sh.turn(&mut p, Instant::from_secs(2));
    assert_eq!(p.stats().received[0], 1);
    assert_eq!(recv_all(&ua), 1);
}

#[test]
fn refused_port_error_is_survived() {
    // Sending to a closed port makes the kernel report ECONNREFUSED on the
    // socket's next receive; the drain must carry on past it.
    let (mut sh, mut p, addrs) = shell(1, false);
    let closed = StdSocket::bind("127.0.0.1:0").unwrap();
    let dead = closed.local_addr().unwrap();
    drop(closed);
    sh.socks[0].as_ref().unwrap().connect(dead).unwrap();
    sh.socks[0].as_ref().unwrap().send(b"x").unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let ua = StdSocket::bind("127.0.0.1:0").unwrap();
    let _ = ua.send_to(&options(addrs[0], 1), addrs[0]);
    sh.ready[0] = true;
    sh.turn(&mut p, Instant::from_secs(1));
    // Connected to `dead`, so ua's datagram is filtered; the error was
    // logged and the leg is not stuck.
    assert!(!sh.any_ready());
    assert_eq!(p.stats().received[0], 0);
    // One of the ten warnings was spent on it.
    let left = (0..20)
        .filter(|_| sh.limiter.report(Instant::from_secs(1)).is_some())
        .count();
    assert_eq!(left, 9);
}

#[test]
fn due_timer_fires_once() {
    let (mut sh, mut p, addrs) = shell(1, true);
    let register =
        "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKr1\r\n\
         From: <sip:al@example.com>;tag=r1\r\nTo: <sip:al@example.com>\r\nCall-ID: r1\r\n\
         CSeq: 1 REGISTER\r\nContact: <sip:al@127.0.0.1:9>;expires=60\r\n\
         Content-Length: 0\r\n\r\n";
    let mut out = [0u8; 2048];
    let mut no = crate::cx::NoSockets;
    let t0 = Instant::from_secs(5);
    let o = p.handle(
        &mut Cx::new(t0, &mut no),
        0,
        addrs[0],
        register.as_bytes(),
        &mut out,
    );
    assert!(matches!(o, Outcome::Answered { code: 200, .. }), "{o:?}");
    let due = p.poll_timeout().expect("the binding's expiry");
    assert_eq!(due, t0 + Duration::from_secs(60));
    let reg = |p: &mut Proxy| p.registrar_mut().map(|r| r.len());
    sh.turn(&mut p, Instant::from_millis(due.millis() - 1));
    assert_eq!(reg(&mut p), Some(1));
    sh.turn(&mut p, due);
    assert_eq!(reg(&mut p), Some(0));
    assert_eq!(p.poll_timeout(), None);
    sh.turn(&mut p, due + Duration::from_secs(1));
    assert_eq!(reg(&mut p), Some(0));
}
