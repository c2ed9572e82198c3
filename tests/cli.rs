//! The real binary: arguments, start-up errors, signals.

mod common;

use common::{free_port, run_to_exit, Daemon, Ua};
use std::net::{SocketAddr, UdpSocket};

#[test]
fn help_prints_usage() {
    let r = run_to_exit(&["--help"]);
    assert!(r.status.success(), "{}", r.stderr);
    assert!(
        r.stdout.contains(
            "SPEC = [NAME=]IP:PORT[,advertise=HOST[:PORT]][,net=CIDR[+CIDR...]]\
             [,trusted|,public][,freebind][,media-ip=IP]"
        ),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("--log-level"));
    assert_eq!(r.stderr, "");
}

#[test]
fn version_prints_version() {
    let r = run_to_exit(&["--version"]);
    assert!(r.status.success(), "{}", r.stderr);
    assert_eq!(r.stdout, format!("edgesip {}\n", env!("CARGO_PKG_VERSION")));
}

/// Exit status 2 with exactly one `edgesip:` line on stderr.
fn assert_refused(args: &[&str]) -> String {
    let r = run_to_exit(args);
    assert_eq!(r.status.code(), Some(2), "{args:?}: {}", r.stderr);
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{args:?}: {:?}", r.stderr);
    assert!(
        lines[0].starts_with("edgesip: "),
        "{args:?}: {:?}",
        r.stderr
    );
    assert_eq!(r.stdout, "");
    lines[0].to_string()
}

#[test]
fn bad_arguments_exit_2_with_one_line() {
    let nine: Vec<String> = (0..9)
        .flat_map(|i| ["--leg".to_string(), format!("127.0.0.1:{}", 5060 + i)])
        .collect();
    let nine: Vec<&str> = nine.iter().map(String::as_str).collect();
    let cases: &[&[&str]] = &[
        &["--leg", "nonsense"],
        &["--leg", "127.0.0.1:0"],
        &["--leg", "a=127.0.0.1:5060,bogus=1"],
        &nine,
        &["--leg", "a=127.0.0.1:5060", "--leg", "a=127.0.0.2:5060"],
        &["--log-level", "loud"],
        &["--frobnicate"],
        &["--leg"],
        &["stray"],
        &["--leg", "x=[::1]:5060,net=10.0.0.0/8\nsecond line"],
    ];
    for args in cases {
        assert_refused(args);
    }
    assert!(assert_refused(&["--leg", "a=127.0.0.1:5060,bogus=1"]).contains("bogus=1"));
    assert!(assert_refused(&["--log-level", "loud"]).contains("loud"));
    assert!(assert_refused(&["--frobnicate"]).contains("--frobnicate"));
}

/// The stderr line of a failed start, which must exit 2 and say exactly
/// one thing: no warning before it (the missing --key-file is only worth
/// saying once the legs are bound).
fn start_failure(args: &[&str]) -> String {
    let r = run_to_exit(args);
    assert_eq!(r.status.code(), Some(2), "{args:?}: {}", r.stderr);
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{args:?}: {:?}", r.stderr);
    assert!(
        lines[0].starts_with("edgesip: "),
        "{args:?}: {:?}",
        r.stderr
    );
    lines[0].to_string()
}

#[test]
fn port_in_use() {
    let taken = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let spec = format!("sip={addr}");
    let msg = start_failure(&["--leg", &spec]);
    assert!(msg.contains("in use"), "{msg}");
    assert!(
        msg.contains("leg sip") && msg.contains(&addr.to_string()),
        "{msg}"
    );
}

#[test]
fn address_not_on_this_host() {
    // 192.0.2.0/24 is TEST-NET-1: never configured here, never sent to.
    let addr = format!("192.0.2.1:{}", free_port("127.0.0.1"));
    let msg = start_failure(&["--leg", &addr]);
    assert!(msg.contains("not available"), "{msg}");
    assert!(msg.contains(&addr), "{msg}");

    let spec = format!("{addr},freebind");
    let mut d = Daemon::start(&["--leg", &spec]);
    assert!(d.stderr().contains(&format!("listening on {addr}")));
    assert_eq!(d.stop().code(), Some(0));
}

fn two_legs_survive_garbage_then(sig: libc::c_int) {
    let a: SocketAddr = format!("127.0.0.1:{}", free_port("127.0.0.1"))
        .parse()
        .unwrap();
    let b: SocketAddr = format!("127.0.0.2:{}", free_port("127.0.0.2"))
        .parse()
        .unwrap();
    let leg_a = format!("inside={a},net=127.0.0.0/8");
    let leg_b = format!("outside={b},advertise=sip.example.org:5080");
    let mut d = Daemon::start(&["--leg", &leg_a, "--leg", &leg_b]);
    let err = d.stderr();
    assert!(
        err.contains(&format!(
            "leg inside: listening on {a}, advertise {a}, trusted, nets 127.0.0.0/8"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "leg outside: listening on {b}, advertise sip.example.org:5080, public, nets none"
        )),
        "{err}"
    );

    let ua = Ua::bind("127.0.0.3");
    let mut x: u32 = 0x1234_5678;
    let mut noise = vec![0u8; 60_000];
    for byte in noise.iter_mut() {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *byte = x as u8;
    }
    let garbage: &[&[u8]] = &[
        b"",
        b"\0",
        b"\r\n\r\n",
        b"hello",
        &noise[..1],
        &noise[..100],
        &noise[..1500],
        &noise,
    ];
    for _ in 0..20 {
        for g in garbage {
            ua.send_to(g, a);
            ua.send_to(g, b);
        }
    }
    ua.expect_nothing(300);
    assert!(d.is_running(), "{}", d.stderr());
    assert_eq!(d.signal(sig).code(), Some(0), "{}", d.stderr());
}

#[test]
fn sigterm_stops_cleanly() {
    two_legs_survive_garbage_then(libc::SIGTERM);
}

#[test]
fn sigint_stops_cleanly() {
    two_legs_survive_garbage_then(libc::SIGINT);
}

#[test]
fn ipv6_leg_starts() {
    let Ok(probe) = UdpSocket::bind("[::1]:0") else {
        println!("skipped: ::1 is not available on this machine");
        return;
    };
    let port = probe.local_addr().unwrap().port();
    drop(probe);
    let spec = format!("v6=[::1]:{port},net=::1/128");
    let mut d = Daemon::start(&["--leg", &spec]);
    assert!(d.stderr().contains(&format!(
        "leg v6: listening on [::1]:{port}, advertise [::1]:{port}"
    )));
    let ua = Ua::bind("::1");
    ua.send_to(b"not sip", format!("[::1]:{port}").parse().unwrap());
    assert!(d.is_running());
    assert_eq!(d.stop().code(), Some(0));
}
