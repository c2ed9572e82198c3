//! An independent SIP implementation through edgesip: SIPp's built-in UAC
//! scenario (INVITE, 100, 180, 200, ACK, BYE, 200) against its UAS, 1,000
//! calls at 200 calls/s over two legs, with zero failed calls; over UDP,
//! and over TCP.
//!
//! SIPp is a host tool: the test skips under qemu, and skips locally when
//! `sipp` is missing, but CI (CI=true) installs Debian's sip-tester and
//! fails if it is absent.

mod common;

use common::{free_port, Daemon};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn sipp_available() -> bool {
    Command::new("sipp")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// The "total" column of a counter line on SIPp's final screen.
fn counter(screen: &str, name: &str) -> Option<u64> {
    let line = screen
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with(name))?;
    line.split('|').nth(2)?.trim().parse().ok()
}

#[test]
fn sipp_thousand_calls_two_legs() {
    thousand_calls(false);
}

/// The same over TCP (`-t t1`, one connection each side): the UAC
/// connects to leg a, leg b is tcp-only and connects to the UAS.
#[test]
fn sipp_thousand_calls_over_tcp() {
    thousand_calls(true);
}

fn thousand_calls(tcp: bool) {
    if std::env::var_os("EDGESIP_QEMU").is_some() {
        println!("skipped: SIPp is a host tool and this is a qemu run");
        return;
    }
    if !sipp_available() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the SIPp test: install Debian's sip-tester"
        );
        println!("skipped: sipp is not installed (apt-get install sip-tester)");
        return;
    }
    let p1 = free_port("127.0.0.1");
    let p2 = free_port("127.0.0.2");
    let ps = free_port("127.0.0.3");
    let pc = free_port("127.0.0.1");
    let (ta, tb) = if tcp { (",tcp", ",tcp-only") } else { ("", "") };
    let _d = Daemon::start(&[
        "--leg",
        &format!("a=127.0.0.1:{p1},net=127.0.0.1/32{ta}"),
        "--leg",
        &format!("b=127.0.0.2:{p2}{tb}"),
    ]);
    let transport: &[&str] = if tcp { &["-t", "t1"] } else { &[] };
    let mut uas = Command::new("sipp")
        .args([
            "-sn",
            "uas",
            "-i",
            "127.0.0.3",
            "-p",
            &ps.to_string(),
            "-nostdin",
        ])
        .args(transport)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the SIPp UAS");
    std::thread::sleep(Duration::from_millis(300));

    let screen =
        std::env::temp_dir().join(format!("edgesip-sipp-{}-{tcp}.txt", std::process::id()));
    let started = Instant::now();
    let status = Command::new("sipp")
        .args([
            "-sn",
            "uac",
            &format!("127.0.0.3:{ps}"),
            "-rsa",
            &format!("127.0.0.1:{p1}"),
            "-i",
            "127.0.0.1",
            "-p",
            &pc.to_string(),
            "-r",
            "200",
            "-m",
            "1000",
            "-d",
            "100",
            "-timeout",
            "90s",
            "-nostdin",
            "-trace_screen",
            "-screen_file",
        ])
        .arg(&screen)
        .args(transport)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run the SIPp UAC");
    let elapsed = started.elapsed();
    let _ = uas.kill();
    let _ = uas.wait();
    let text = std::fs::read_to_string(&screen).unwrap_or_default();
    let _ = std::fs::remove_file(&screen);
    println!("SIPp: 1000 calls in {elapsed:?} (tcp: {tcp})");
    assert_eq!(counter(&text, "Successful call"), Some(1000), "{text}");
    assert_eq!(counter(&text, "Failed call"), Some(0), "{text}");
    assert!(status.success(), "sipp exited with {status}\n{text}");
}
