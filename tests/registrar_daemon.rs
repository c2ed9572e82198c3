//! The registrar through the real binary: a UA registers, another calls its
//! AoR, and the binding survives a restart with --reg-file; SIPp registers
//! (with and without digest) and is reached.

mod common;

use common::{free_port, Daemon, Ua};
use std::net::SocketAddr;
use std::process::{Command, Stdio};

fn register(ua: &Ua, cseq: u32) -> String {
    let a = ua.addr();
    format!(
        "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP {a};branch=z9hG4bKreg{cseq};rport\r\nMax-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=r1\r\nTo: <sip:alice@example.com>\r\nCall-ID: reg-alice\r\nCSeq: {cseq} REGISTER\r\nContact: <sip:alice@{a}>\r\nExpires: 600\r\nContent-Length: 0\r\n\r\n"
    )
}

fn invite(caller: &Ua, id: &str) -> String {
    let c = caller.addr();
    format!(
        "INVITE sip:alice@example.com SIP/2.0\r\nVia: SIP/2.0/UDP {c};branch=z9hG4bK{id};rport\r\nMax-Forwards: 70\r\nFrom: <sip:bob@example.com>;tag=b{id}\r\nTo: <sip:alice@example.com>\r\nCall-ID: {id}\r\nCSeq: 1 INVITE\r\nContact: <sip:bob@{c}>\r\nContent-Length: 0\r\n\r\n"
    )
}

fn ok_for(raw: &[u8]) -> String {
    common::sip::answer(raw, "200 OK", "alice", "", "")
}

/// The caller's INVITE reaches the registered phone; its 200 comes back.
fn call_reaches(phone: &Ua, caller: &Ua, proxy: SocketAddr, id: &str) {
    caller.send_to(invite(caller, id).as_bytes(), proxy);
    let (got, from) = phone.recv().expect("INVITE at the registered phone");
    let text = String::from_utf8_lossy(&got).into_owned();
    assert!(
        text.starts_with(&format!("INVITE sip:alice@{} SIP/2.0", phone.addr())),
        "{text}"
    );
    phone.send_to(ok_for(&got).as_bytes(), from);
    let (r, _) = caller.recv().expect("200 at the caller");
    assert!(
        r.starts_with(b"SIP/2.0 200 OK"),
        "{}",
        String::from_utf8_lossy(&r)
    );
}

#[test]
fn register_call_and_restart_with_reg_file() {
    let dir = std::env::temp_dir().join(format!("edgesip-reg-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bindings");
    let p = free_port("127.0.0.1");
    let leg = format!("127.0.0.1:{p}");
    let args = [
        "--leg",
        &leg,
        "--registrar",
        "example.com",
        "--reg-file",
        file.to_str().unwrap(),
    ];
    let proxy: SocketAddr = leg.parse().unwrap();
    let phone = Ua::bind("127.0.0.1");
    let caller = Ua::bind("127.0.0.3");

    let mut d = Daemon::start(&args);
    phone.send_to(register(&phone, 1).as_bytes(), proxy);
    let (r, _) = phone.recv().expect("200 for REGISTER");
    let text = String::from_utf8_lossy(&r).into_owned();
    assert!(text.starts_with("SIP/2.0 200 OK"), "{text}");
    assert!(text.contains(&format!("Contact: <sip:alice@{}>;expires=", phone.addr())));
    call_reaches(&phone, &caller, proxy, "call1");
    assert!(d.stop().success());
    assert!(file.exists(), "bindings saved at shutdown");

    let _d = Daemon::start(&args);
    call_reaches(&phone, &caller, proxy, "call2");
    // An unknown user of our domain: 404.
    let nobody =
        invite(&caller, "call3").replace("sip:alice@example.com SIP", "sip:nobody@example.com SIP");
    caller.send_to(nobody.as_bytes(), proxy);
    let (r, _) = caller.recv().expect("404");
    assert!(r.starts_with(b"SIP/2.0 404 "));
    let _ = std::fs::remove_dir_all(&dir);
}

fn sipp_available() -> bool {
    Command::new("sipp")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// Net::SIP (Debian's libnet-sip-perl) registers as alice, with digest when
/// `auth`, then answers one call that SIPp's UAC makes to alice through
/// edgesip.
fn independent_phone_registers_and_is_reached(auth: bool) {
    if std::env::var_os("EDGESIP_QEMU").is_some() {
        println!("skipped: perl and SIPp are host tools and this is a qemu run");
        return;
    }
    let perl_ok = Command::new("perl")
        .args(["-MNet::SIP", "-e", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !perl_ok || !sipp_available() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the interop tests: install libnet-sip-perl and sip-tester"
        );
        println!("skipped: libnet-sip-perl or sipp is not installed");
        return;
    }
    let dir = std::env::temp_dir().join(format!("edgesip-interop-{}-{auth}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let users = dir.join("users");
    std::fs::write(&users, "# test users\nalice:s3cret\n").unwrap();
    let p = free_port("127.0.0.1");
    let leg = format!("127.0.0.1:{p},net=127.0.0.0/8");
    let mut args = vec!["--leg", &leg, "--registrar", "example.com"];
    if auth {
        args.extend(["--auth-file", users.to_str().unwrap()]);
    }
    let _d = Daemon::start(&args);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/netsip/phone.pl");
    let pp = free_port("127.0.0.1");
    let mut phone = Command::new("perl")
        .arg(script)
        .args([
            &format!("127.0.0.1:{p}"),
            "example.com",
            "alice",
            "s3cret",
            &format!("127.0.0.1:{pp}"),
            "20",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the Net::SIP phone");
    // Wait for "registered" before calling.
    let mut out = phone.stdout.take().unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 256];
    while !seen.contains("registered") {
        use std::io::Read;
        match out.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
    assert!(
        seen.contains("registered"),
        "the phone did not register (auth={auth}): {seen:?}"
    );
    let caller = Command::new("sipp")
        .args([
            "-sn",
            "uac",
            "-s",
            "alice",
            &format!("127.0.0.1:{p}"),
            "-i",
            "127.0.0.3",
            "-m",
            "1",
            "-d",
            "200",
            "-nostdin",
            "-timeout",
            "20s",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("SIPp caller");
    let status = phone.wait().expect("phone exit");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        caller.success(),
        "SIPp's call to alice failed (auth={auth})"
    );
    assert!(
        status.success(),
        "the phone did not get a complete call (auth={auth})"
    );
}

#[test]
fn net_sip_phone_registers_and_is_reached() {
    independent_phone_registers_and_is_reached(false);
}

#[test]
fn net_sip_phone_registers_with_digest_and_is_reached() {
    independent_phone_registers_and_is_reached(true);
}
