//! Every RFC 4475 torture message sent to a running edgesip: nothing
//! crashes it, ZEROMF gets 483, the §3.1.2 messages are answered with an
//! error or dropped and never forwarded, and a normal call still works.

mod common;

use common::dns::{DnsServer, Mode};
use common::{free_port, Daemon, Ua};
use edgesip::sip::Message;
use std::path::PathBuf;

fn corpus() -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/rfc4475");
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "dat"))
        .map(|p| {
            let name = p
                .file_stem()
                .unwrap()
                .to_string_lossy()
                .trim_start_matches("TC_")
                .to_string();
            (name, std::fs::read(&p).unwrap())
        })
        .collect();
    v.sort();
    v
}

/// §3.1.2 minus the documented exception (BADDATE, RFC 4475 §3.1.2.12).
const INVALID: &[&str] = &[
    "BADINV01_I",
    "CLERR_I",
    "NCL_I",
    "SCALAR02_V",
    "SCALARLG_V",
    "QUOTBAL_I",
    "LTGTRURI_I",
    "LWSRURI_I",
    "LWSSTART_V",
    "TRWS_I",
    "ESCRURI_V",
    "REGBADCT_I",
    "BADASPEC_I",
    "BADDN_I",
    "BADVERS_V",
    "MISMATCH01_V",
    "MISMATCH02_V",
    "BIGCODE_V",
];

#[test]
fn torture_messages_through_the_daemon() {
    let p1 = free_port("127.0.0.1");
    let p2 = free_port("127.0.0.2");
    // The corpus names hosts; they resolve against a loopback server that
    // knows none of them, so no query leaves this machine.
    let dns = DnsServer::start(vec![], Mode::Answer);
    let mut d = Daemon::start(&[
        "--leg",
        &format!("a=127.0.0.1:{p1},net=127.0.0.1/32"),
        "--leg",
        &format!("b=127.0.0.2:{p2}"),
        "--dns",
        &dns.addr().to_string(),
    ]);
    let a = format!("127.0.0.1:{p1}").parse().unwrap();
    let ua = Ua::bind("127.0.0.1");
    for (name, raw) in corpus() {
        ua.send_to(&raw, a);
        // Collect what comes back for this message (at most one datagram).
        let reply = ua.recv_within_ms(300);
        let status = reply
            .as_ref()
            .and_then(|(r, _)| Message::parse_unchecked(r).ok().and_then(|m| m.status()));
        if reply.is_some() {
            // Whatever edgesip sends is a response of its own, to the sender.
            assert!(status.is_some(), "{name}: not a response: {reply:?}");
        }
        if name == "ZEROMF_V" {
            assert_eq!(status, Some(483), "{name}");
        }
        if INVALID.contains(&name.as_str()) {
            match status {
                None => {}
                Some(400) | Some(505) => {}
                Some(s) => panic!("{name}: answered {s}"),
            }
        }
        if name == "BADVERS_V" {
            assert_eq!(status, Some(505));
        }
        if name == "MISMATCH01_V" || name == "QUOTBAL_I" || name == "CLERR_I" {
            assert_eq!(status, Some(400), "{name}");
        }
    }
    assert!(d.is_running(), "edgesip died: {}", d.stderr());

    // A normal request is still forwarded afterwards.
    let uas = Ua::bind("127.0.0.3");
    let msg = format!(
        "OPTIONS sip:bob@{} SIP/2.0\r\nVia: SIP/2.0/UDP {};branch=z9hG4bKafter\r\nMax-Forwards: 70\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:bob@x>\r\nCall-ID: after@t\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
        uas.addr(),
        ua.addr()
    );
    ua.send_to(msg.as_bytes(), a);
    let (got, from) = uas.recv().expect("forwarded after the torture run");
    assert_eq!(from.port(), p2);
    assert!(got.starts_with(b"OPTIONS sip:bob@"));
    // Nothing else reached the far side.
    uas.expect_nothing(200);
}
