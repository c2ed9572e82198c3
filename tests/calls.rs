//! Call flows through the real binary over loopback UDP: a scripted UAC and
//! UAS on either side of edgesip, checking the exact headers at each end.

mod common;

use common::{free_port, Daemon, Ua};
use edgesip::sip::{HeaderName, Message};
use std::net::SocketAddr;

/// A received message, parsed; panics if it does not parse.
struct Got {
    raw: Vec<u8>,
    from: SocketAddr,
}

impl Got {
    fn msg(&self) -> Message<'_> {
        Message::parse(&self.raw)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.raw)))
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.raw).into_owned()
    }
    fn first_line(&self) -> String {
        self.text().lines().next().unwrap_or_default().to_owned()
    }
    /// Values of every header line with this name (compact forms too).
    fn all(&self, name: HeaderName) -> Vec<String> {
        self.msg()
            .headers()
            .iter()
            .filter(|h| h.name == name)
            .map(|h| String::from_utf8_lossy(h.value).into_owned())
            .collect()
    }
    fn vias(&self) -> Vec<String> {
        self.msg()
            .elements(HeaderName::Via)
            .map(|(_, e)| String::from_utf8_lossy(e).into_owned())
            .collect()
    }
    fn line(&self, name: HeaderName) -> String {
        let m = self.msg();
        let h = m.header(name).expect("header present");
        String::from_utf8_lossy(h.line).into_owned()
    }
    fn contact_uri(&self) -> String {
        let m = self.msg();
        let (_, c) = m.addrs(HeaderName::Contact).next().expect("a Contact");
        String::from_utf8_lossy(c.uri.raw).into_owned()
    }
}

fn recv(ua: &Ua, what: &str) -> Got {
    let (raw, from) = ua
        .recv()
        .unwrap_or_else(|| panic!("{what}: nothing arrived"));
    Got { raw, from }
}

/// The answer a UA gives, with `contact` as its Contact (if not empty).
fn answer(req: &Got, status: &str, tag: &str, contact: &str) -> String {
    common::sip::answer(&req.raw, status, tag, &common::sip::contact(contact), "")
}

struct Call {
    uac: Ua,
    uas: Ua,
    /// Where the UAC sends (leg a).
    a: SocketAddr,
    call_id: String,
}

impl Call {
    fn invite(&self, branch: &str, cseq: u32) -> String {
        let (c, s) = (self.uac.addr(), self.uas.addr());
        let via_host = if c.is_ipv6() {
            format!("[{}]", c.ip())
        } else {
            c.ip().to_string()
        };
        let uas = if s.is_ipv6() {
            format!("[{}]:{}", s.ip(), s.port())
        } else {
            s.to_string()
        };
        format!(
            "INVITE sip:bob@{uas} SIP/2.0\r\n\
Via: SIP/2.0/UDP {via_host}:{};branch={branch};rport\r\n\
Max-Forwards: 70\r\n\
From: \"Alice\" <sip:alice@example.org>;tag=atag\r\n\
To: <sip:bob@example.com>\r\n\
Call-ID: {}\r\n\
CSeq: {cseq} INVITE\r\n\
Contact: <sip:alice@{via_host}:{}>\r\n\
User-Agent: edgesip-test/1\r\n\
Content-Length: 0\r\n\r\n",
            c.port(),
            self.call_id,
            c.port()
        )
    }

    /// An in-dialog request from the UAC (ACK or BYE for a 2xx): Request-URI
    /// the remote Contact, Route the Record-Route set reversed.
    fn in_dialog(
        &self,
        method: &str,
        ruri: &str,
        rr: &[String],
        branch: &str,
        cseq: u32,
    ) -> String {
        let c = self.uac.addr();
        let routes: String = rr.iter().rev().map(|r| format!("Route: {r}\r\n")).collect();
        format!(
            "{method} {ruri} SIP/2.0\r\n\
Via: SIP/2.0/UDP {}:{};branch={branch};rport\r\n\
Max-Forwards: 70\r\n\
{routes}\
From: \"Alice\" <sip:alice@example.org>;tag=atag\r\n\
To: <sip:bob@example.com>;tag=btag\r\n\
Call-ID: {}\r\n\
CSeq: {cseq} {method}\r\n\
Content-Length: 0\r\n\r\n",
            c.ip(),
            c.port(),
            self.call_id
        )
    }
}

fn two_leg_daemon() -> (Daemon, SocketAddr, SocketAddr) {
    let p1 = free_port("127.0.0.1");
    let p2 = free_port("127.0.0.2");
    let a = format!("a=127.0.0.1:{p1},net=127.0.0.1/32");
    let b = format!("b=127.0.0.2:{p2}");
    let d = Daemon::start(&["--leg", &a, "--leg", &b]);
    (
        d,
        format!("127.0.0.1:{p1}").parse().unwrap(),
        format!("127.0.0.2:{p2}").parse().unwrap(),
    )
}

#[test]
fn two_legs_invite_ringing_ok_ack_bye() {
    let (_d, a, b) = two_leg_daemon();
    let call = Call {
        uac: Ua::bind("127.0.0.1"),
        uas: Ua::bind("127.0.0.3"),
        a,
        call_id: "flow1@uac".into(),
    };
    let inv = call.invite("z9hG4bKinv1", 1);
    call.uac.send_to(inv.as_bytes(), call.a);

    // At the UAS: our Via on top, the UAC's below with received/rport, two
    // Record-Routes (leg b on top), Max-Forwards 69, the Contact a token on
    // leg b, everything else byte for byte.
    let got = recv(&call.uas, "INVITE at UAS");
    assert_eq!(got.from, b, "leaves through leg b");
    let vias = got.vias();
    assert_eq!(vias.len(), 2);
    assert!(
        vias[0].starts_with(&format!("SIP/2.0/UDP {b};branch=z9hG4bKeS0")),
        "{}",
        vias[0]
    );
    let pc = call.uac.addr().port();
    assert_eq!(
        vias[1],
        format!("SIP/2.0/UDP 127.0.0.1:{pc};branch=z9hG4bKinv1;rport={pc};received=127.0.0.1")
    );
    assert_eq!(
        got.all(HeaderName::RecordRoute),
        vec![format!("<sip:{b};lr>"), format!("<sip:{a};lr>")]
    );
    assert_eq!(got.all(HeaderName::MaxForwards), vec!["69"]);
    for h in [
        HeaderName::From,
        HeaderName::To,
        HeaderName::CallId,
        HeaderName::CSeq,
    ] {
        let sent = Got {
            raw: inv.clone().into_bytes(),
            from: a,
        };
        assert_eq!(got.line(h), sent.line(h));
    }
    assert!(got.text().contains("\r\nUser-Agent: edgesip-test/1\r\n"));
    let token = got.contact_uri();
    assert!(
        token.starts_with("sip:b") && token.ends_with(&format!("@{b}")),
        "{token}"
    );

    // 100, 180 and 200 come back to the UAC with only its own Via.
    let uas_contact = format!("sip:bob@{}", call.uas.addr());
    for status in ["100 Trying", "180 Ringing", "200 OK"] {
        call.uas.send_to(
            answer(&got, status, "btag", &uas_contact).as_bytes(),
            got.from,
        );
        let r = recv(&call.uac, status);
        assert_eq!(r.from, a, "answers come through leg a");
        assert_eq!(r.first_line(), format!("SIP/2.0 {status}"));
        assert_eq!(r.vias(), vec![vias[1].clone()]);
        assert_eq!(
            r.all(HeaderName::RecordRoute),
            got.all(HeaderName::RecordRoute)
        );
        let c = r.contact_uri();
        assert!(
            c.starts_with("sip:b") && c.ends_with(&format!("@{a}")),
            "{c}"
        );
    }
    let ok = recv_last_ok(&call, &got, &uas_contact);
    let rr = ok.all(HeaderName::RecordRoute);

    // ACK and BYE follow the route set to the decoded Contact.
    for (method, cseq, branch) in [("ACK", 1, "z9hG4bKack1"), ("BYE", 2, "z9hG4bKbye1")] {
        let req = call.in_dialog(method, &ok.contact_uri(), &rr, branch, cseq);
        call.uac.send_to(req.as_bytes(), call.a);
        let at = recv(&call.uas, method);
        assert_eq!(at.first_line(), format!("{method} {uas_contact} SIP/2.0"));
        assert!(at.all(HeaderName::Route).is_empty(), "both Routes popped");
        assert_eq!(at.vias().len(), 2);
        assert_eq!(at.all(HeaderName::MaxForwards), vec!["69"]);
        if method == "BYE" {
            call.uas
                .send_to(answer(&at, "200 OK", "btag", "").as_bytes(), at.from);
            let r = recv(&call.uac, "200 for BYE");
            assert_eq!(r.first_line(), "SIP/2.0 200 OK");
            assert!(r.text().contains("CSeq: 2 BYE"));
        }
    }
    call.uas.expect_nothing(200);
    call.uac.expect_nothing(200);
}

/// Resends the 200 and returns what the UAC got (the earlier loop consumed
/// one already; a retransmission must come through the same way).
fn recv_last_ok(call: &Call, inv_at_uas: &Got, contact: &str) -> Got {
    call.uas.send_to(
        answer(inv_at_uas, "200 OK", "btag", contact).as_bytes(),
        inv_at_uas.from,
    );
    recv(&call.uac, "200 retransmission")
}

#[test]
fn cancel_487_ack_keep_the_invite_branch() {
    let (_d, a, _b) = two_leg_daemon();
    let call = Call {
        uac: Ua::bind("127.0.0.1"),
        uas: Ua::bind("127.0.0.3"),
        a,
        call_id: "cancel1@uac".into(),
    };
    let inv = call.invite("z9hG4bKc1", 7);
    call.uac.send_to(inv.as_bytes(), a);
    let at_inv = recv(&call.uas, "INVITE");
    call.uas.send_to(
        answer(&at_inv, "100 Trying", "t", "").as_bytes(),
        at_inv.from,
    );
    recv(&call.uac, "100");

    let cancel = inv
        .replace("INVITE sip:", "CANCEL sip:")
        .replace("CSeq: 7 INVITE", "CSeq: 7 CANCEL")
        .replace(
            &format!(
                "Contact: <sip:alice@127.0.0.1:{}>\r\n",
                call.uac.addr().port()
            ),
            "",
        );
    call.uac.send_to(cancel.as_bytes(), a);
    let at_cancel = recv(&call.uas, "CANCEL");
    assert_eq!(
        at_cancel.vias()[0],
        at_inv.vias()[0],
        "CANCEL gets the INVITE's branch"
    );
    call.uas.send_to(
        answer(&at_cancel, "200 OK", "t", "").as_bytes(),
        at_cancel.from,
    );
    assert_eq!(recv(&call.uac, "200 CANCEL").first_line(), "SIP/2.0 200 OK");
    call.uas.send_to(
        answer(&at_inv, "487 Request Terminated", "t", "").as_bytes(),
        at_inv.from,
    );
    let r487 = recv(&call.uac, "487");
    assert_eq!(r487.first_line(), "SIP/2.0 487 Request Terminated");

    let ack = inv
        .replace("INVITE sip:", "ACK sip:")
        .replace("CSeq: 7 INVITE", "CSeq: 7 ACK")
        .replace(
            "To: <sip:bob@example.com>",
            "To: <sip:bob@example.com>;tag=t",
        );
    call.uac.send_to(ack.as_bytes(), a);
    let at_ack = recv(&call.uas, "ACK for 487");
    assert_eq!(
        at_ack.vias()[0],
        at_inv.vias()[0],
        "ACK for a non-2xx gets the INVITE's branch"
    );
}

#[test]
fn reinvite_from_the_callee() {
    let (_d, a, b) = two_leg_daemon();
    let call = Call {
        uac: Ua::bind("127.0.0.1"),
        uas: Ua::bind("127.0.0.3"),
        a,
        call_id: "reinv@uac".into(),
    };
    call.uac.send_to(call.invite("z9hG4bKr1", 1).as_bytes(), a);
    let at_inv = recv(&call.uas, "INVITE");
    let uas_contact = format!("sip:bob@{}", call.uas.addr());
    call.uas.send_to(
        answer(&at_inv, "200 OK", "btag", &uas_contact).as_bytes(),
        at_inv.from,
    );
    recv(&call.uac, "200");

    // The callee's re-INVITE: to the caller's (token) Contact, with the
    // Record-Route set as it received it.
    let routes: String = at_inv
        .all(HeaderName::RecordRoute)
        .iter()
        .map(|r| format!("Route: {r}\r\n"))
        .collect();
    let s = call.uas.addr();
    let reinv = format!(
        "INVITE {} SIP/2.0\r\n\
Via: SIP/2.0/UDP {s};branch=z9hG4bKre1\r\n\
Max-Forwards: 70\r\n\
{routes}\
From: <sip:bob@example.com>;tag=btag\r\n\
To: \"Alice\" <sip:alice@example.org>;tag=atag\r\n\
Call-ID: reinv@uac\r\n\
CSeq: 1 INVITE\r\n\
Contact: <{uas_contact}>\r\n\
Content-Length: 0\r\n\r\n",
        at_inv.contact_uri()
    );
    call.uas.send_to(reinv.as_bytes(), b);
    let at_uac = recv(&call.uac, "re-INVITE");
    assert_eq!(at_uac.from, a);
    assert_eq!(
        at_uac.first_line(),
        format!(
            "INVITE sip:alice@127.0.0.1:{} SIP/2.0",
            call.uac.addr().port()
        )
    );
    assert!(at_uac.all(HeaderName::Route).is_empty());
    let vias = at_uac.vias();
    assert_eq!(vias.len(), 2);
    // Leg 1, plus 8: sent straight to the token's contact.
    assert!(
        vias[0].starts_with(&format!("SIP/2.0/UDP {a};branch=z9hG4bKeS9")),
        "{}",
        vias[0]
    );
    call.uac.send_to(
        answer(&at_uac, "200 OK", "atag", "sip:alice@127.0.0.1").as_bytes(),
        at_uac.from,
    );
    let r = recv(&call.uas, "200 for re-INVITE");
    assert_eq!(r.from, b);
    // Sent-by is the source and there is no rport: no received (RFC 3581).
    assert_eq!(r.vias(), vec![format!("SIP/2.0/UDP {s};branch=z9hG4bKre1")]);
}

#[test]
fn one_leg_call() {
    let p = free_port("127.0.0.1");
    let _d = Daemon::start(&["--leg", &format!("127.0.0.1:{p}")]);
    let a: SocketAddr = format!("127.0.0.1:{p}").parse().unwrap();
    let call = Call {
        uac: Ua::bind("127.0.0.1"),
        uas: Ua::bind("127.0.0.3"),
        a,
        call_id: "oneleg@uac".into(),
    };
    let inv = call.invite("z9hG4bKo1", 1);
    call.uac.send_to(inv.as_bytes(), a);
    let got = recv(&call.uas, "INVITE");
    assert_eq!(got.from, a);
    assert_eq!(
        got.all(HeaderName::RecordRoute),
        vec![format!("<sip:{a};lr>")]
    );
    assert_eq!(got.vias().len(), 2);
    // One leg: the Contact is not rewritten.
    assert_eq!(
        got.contact_uri(),
        format!("sip:alice@127.0.0.1:{}", call.uac.addr().port())
    );
    let uas_contact = format!("sip:bob@{}", call.uas.addr());
    call.uas.send_to(
        answer(&got, "200 OK", "btag", &uas_contact).as_bytes(),
        got.from,
    );
    let ok = recv(&call.uac, "200");
    assert_eq!(ok.contact_uri(), uas_contact);
    let bye = call.in_dialog(
        "BYE",
        &uas_contact,
        &ok.all(HeaderName::RecordRoute),
        "z9hG4bKob",
        2,
    );
    call.uac.send_to(bye.as_bytes(), a);
    let at = recv(&call.uas, "BYE");
    assert_eq!(at.first_line(), format!("BYE {uas_contact} SIP/2.0"));
    assert!(at.all(HeaderName::Route).is_empty());
}

#[test]
fn ipv6_one_leg_call() {
    if std::net::UdpSocket::bind("[::1]:0").is_err() {
        println!("skipped: this machine has no IPv6 loopback");
        return;
    }
    let p = free_port("::1");
    let _d = Daemon::start(&["--leg", &format!("[::1]:{p}")]);
    let a: SocketAddr = format!("[::1]:{p}").parse().unwrap();
    let call = Call {
        uac: Ua::bind("::1"),
        uas: Ua::bind("::1"),
        a,
        call_id: "v6@uac".into(),
    };
    call.uac.send_to(call.invite("z9hG4bKv6", 1).as_bytes(), a);
    let got = recv(&call.uas, "INVITE over IPv6");
    assert_eq!(got.from, a);
    assert!(got.vias()[0].starts_with(&format!("SIP/2.0/UDP [::1]:{p};branch=z9hG4bKeS0")));
    assert_eq!(
        got.all(HeaderName::RecordRoute),
        vec![format!("<sip:[::1]:{p};lr>")]
    );
    call.uas.send_to(
        answer(&got, "200 OK", "b", "sip:bob@[::1]").as_bytes(),
        got.from,
    );
    let ok = recv(&call.uac, "200 over IPv6");
    assert_eq!(ok.from, a);
    assert_eq!(ok.vias().len(), 1);
}

#[test]
fn a_real_loop_through_a_second_hop_is_482_and_a_spiral_is_not() {
    let p = free_port("127.0.0.1");
    let _d = Daemon::start(&["--leg", &format!("127.0.0.1:{p}")]);
    let a: SocketAddr = format!("127.0.0.1:{p}").parse().unwrap();
    let uac = Ua::bind("127.0.0.1");
    // The second hop: a dumb proxy that adds its Via and sends the request
    // straight back to edgesip (as a misconfigured static route would).
    let hop = Ua::bind("127.0.0.3");
    let inv = format!(
        "OPTIONS sip:bob@{} SIP/2.0\r\nVia: SIP/2.0/UDP {};branch=z9hG4bKl1\r\nMax-Forwards: 70\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:bob@x>\r\nCall-ID: loop@t\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
        hop.addr(),
        uac.addr()
    );
    uac.send_to(inv.as_bytes(), a);
    let first = recv(&hop, "first pass");
    let again = String::from_utf8_lossy(&first.raw).replacen(
        "Via: ",
        &format!(
            "Via: SIP/2.0/UDP {};branch=z9hG4bKhop1\r\nVia: ",
            hop.addr()
        ),
        1,
    );
    hop.send_to(again.as_bytes(), a);
    let r = recv(&hop, "482 to the second hop");
    assert_eq!(r.first_line(), "SIP/2.0 482 Loop Detected");

    // The hop changes the Request-URI instead: a spiral, forwarded.
    let target = Ua::bind("127.0.0.4");
    let spiral = again.replace("z9hG4bKhop1", "z9hG4bKhop2").replacen(
        &format!("OPTIONS sip:bob@{}", hop.addr()),
        &format!("OPTIONS sip:carol@{}", target.addr()),
        1,
    );
    hop.send_to(spiral.as_bytes(), a);
    let s = recv(&target, "spiral");
    assert!(s.first_line().starts_with("OPTIONS sip:carol@"));
    assert_eq!(s.vias().len(), 4);
}

fn bye_from_uas(uas: &Ua, ruri: &str, call_id: &str, branch: &str) -> String {
    format!(
        "BYE {ruri} SIP/2.0\r\n\
Via: SIP/2.0/UDP {};branch={branch}\r\n\
Max-Forwards: 70\r\n\
From: <sip:bob@example.com>;tag=btag\r\n\
To: \"Alice\" <sip:alice@example.org>;tag=atag\r\n\
Call-ID: {call_id}\r\n\
CSeq: 5 BYE\r\n\
Content-Length: 0\r\n\r\n",
        uas.addr()
    )
}

#[test]
fn tokens_survive_a_restart_with_a_key_file() {
    let dir = std::env::temp_dir().join(format!("edgesip-key-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let key = dir.join("key");
    let key_arg = key.to_string_lossy().into_owned();
    let p1 = free_port("127.0.0.1");
    let p2 = free_port("127.0.0.2");
    let legs = [
        "--leg".to_string(),
        format!("a=127.0.0.1:{p1},net=127.0.0.1/32"),
        "--leg".to_string(),
        format!("b=127.0.0.2:{p2}"),
        "--key-file".to_string(),
        key_arg,
    ];
    let args: Vec<&str> = legs.iter().map(String::as_str).collect();
    let a: SocketAddr = format!("127.0.0.1:{p1}").parse().unwrap();
    let b: SocketAddr = format!("127.0.0.2:{p2}").parse().unwrap();
    let call = Call {
        uac: Ua::bind("127.0.0.1"),
        uas: Ua::bind("127.0.0.3"),
        a,
        call_id: "restart@uac".into(),
    };
    let mut d = Daemon::start(&args);
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "key file created private");
    }
    call.uac.send_to(call.invite("z9hG4bKk1", 1).as_bytes(), a);
    let token = recv(&call.uas, "INVITE").contact_uri();
    assert!(d.stop().success());

    // A new process with the same key file and legs still knows the token.
    let _d2 = Daemon::start(&args);
    let bye = bye_from_uas(&call.uas, &token, &call.call_id, "z9hG4bKkb");
    call.uas.send_to(bye.as_bytes(), b);
    let at = recv(&call.uac, "BYE after restart");
    assert_eq!(
        at.first_line(),
        format!("BYE sip:alice@127.0.0.1:{} SIP/2.0", call.uac.addr().port())
    );

    // An altered token gets 404 and reaches nobody.
    let mut forged = token.into_bytes();
    forged[7] = if forged[7] == b'Q' { b'R' } else { b'Q' };
    let bye = bye_from_uas(
        &call.uas,
        &String::from_utf8(forged).unwrap(),
        &call.call_id,
        "z9hG4bKkf",
    );
    call.uas.send_to(bye.as_bytes(), b);
    assert_eq!(recv(&call.uas, "404").first_line(), "SIP/2.0 404 Not Found");
    call.uac.expect_nothing(200);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn register_through_an_upstream_registrar() {
    let (_d, a, _b) = two_leg_daemon();
    let uac = Ua::bind("127.0.0.1");
    let registrar = Ua::bind("127.0.0.3");
    let c = uac.addr();
    let reg = format!(
        "REGISTER sip:{} SIP/2.0\r\n\
Via: SIP/2.0/UDP {c};branch=z9hG4bKreg;rport\r\n\
Max-Forwards: 70\r\n\
From: <sip:alice@example.com>;tag=r\r\n\
To: <sip:alice@example.com>\r\n\
Call-ID: reg@uac\r\n\
CSeq: 1 REGISTER\r\n\
Contact: <sip:alice@{c};transport=udp>;expires=600\r\n\
Content-Length: 0\r\n\r\n",
        registrar.addr()
    );
    uac.send_to(reg.as_bytes(), a);
    let at = recv(&registrar, "REGISTER");
    assert!(
        at.all(HeaderName::RecordRoute).is_empty(),
        "no Record-Route on REGISTER"
    );
    let token = at.contact_uri();
    assert!(token.starts_with("sip:b"));
    // The registrar lists the binding it stored: our token.
    let ok = answer(&at, "200 OK", "rr", "").replace(
        "Content-Length: 0",
        &format!("Contact: <{token}>;expires=600\r\nContent-Length: 0"),
    );
    registrar.send_to(ok.as_bytes(), at.from);
    let back = recv(&uac, "200 for REGISTER");
    assert_eq!(
        back.all(HeaderName::Contact),
        vec![format!("<sip:alice@{c};transport=udp>;expires=600")]
    );
}

#[test]
fn force_rewrite_on_one_leg() {
    let p = free_port("127.0.0.1");
    let _d = Daemon::start(&["--leg", &format!("127.0.0.1:{p}"), "--force-rewrite"]);
    let a: SocketAddr = format!("127.0.0.1:{p}").parse().unwrap();
    let call = Call {
        uac: Ua::bind("127.0.0.1"),
        uas: Ua::bind("127.0.0.3"),
        a,
        call_id: "force@uac".into(),
    };
    call.uac.send_to(call.invite("z9hG4bKf1", 1).as_bytes(), a);
    let got = recv(&call.uas, "INVITE");
    let token = got.contact_uri();
    assert!(
        token.starts_with("sip:b") && token.ends_with(&format!("@{a}")),
        "{token}"
    );
    call.uas.send_to(
        bye_from_uas(&call.uas, &token, &call.call_id, "z9hG4bKfb").as_bytes(),
        a,
    );
    let at = recv(&call.uac, "BYE");
    assert_eq!(
        at.first_line(),
        format!("BYE sip:alice@127.0.0.1:{} SIP/2.0", call.uac.addr().port())
    );
}

/// The loop reads a leg with `recvmmsg` and takes a short batch as proof
/// that the queue is empty, without the `recvfrom` that would say EAGAIN.
/// Bursts of every size around the batch, some sent while the loop is
/// still draining the first part: every datagram must come out, with no
/// later datagram needed to wake the loop for it.
#[test]
fn bursts_sent_while_the_loop_drains_are_all_forwarded() {
    let p = free_port("127.0.0.1");
    let _d = Daemon::start(&["--leg", &format!("127.0.0.1:{p}")]);
    let a: SocketAddr = format!("127.0.0.1:{p}").parse().unwrap();
    let (uac, uas) = (Ua::bind("127.0.0.1"), Ua::bind("127.0.0.3"));
    let options = |n: usize| {
        format!(
            "OPTIONS sip:bob@{} SIP/2.0\r\n\
Via: SIP/2.0/UDP {};branch=z9hG4bKburst{n}\r\n\
Max-Forwards: 70\r\n\
From: <sip:alice@example.org>;tag=b{n}\r\n\
To: <sip:bob@example.com>\r\n\
Call-ID: burst{n}@uac\r\n\
CSeq: 1 OPTIONS\r\n\
Content-Length: 0\r\n\r\n",
            uas.addr(),
            uac.addr()
        )
    };
    let mut n = 0;
    for round in 0..60 {
        let size = 1 + round % 10;
        let mut want = std::collections::BTreeSet::new();
        for i in 0..size {
            // Half the bursts pause midway, while the loop is reading.
            if round % 2 == 1 && i == size / 2 {
                std::thread::sleep(std::time::Duration::from_micros(300));
            }
            uac.send_to(options(n).as_bytes(), a);
            want.insert(format!("burst{n}@uac"));
            n += 1;
        }
        while !want.is_empty() {
            let got = recv(&uas, &format!("round {round}: {want:?} still unread"));
            let id = got.line(HeaderName::CallId);
            want.remove(id.trim_start_matches("Call-ID: ").trim_end());
        }
    }
    assert_eq!(n, (0..60).map(|r| 1 + r % 10).sum::<usize>());
}
