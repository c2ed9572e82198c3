//! SIP over TCP through the real binary on loopback (RFC 3261 §18): a UDP
//! phone and a TCP provider, a TCP phone and a UDP callee, a response
//! whose connection closed, the connection table's limits, framing errors
//! and a connect that fails. The peers are plain sockets; each checks what
//! it received itself.

mod common;

use common::{free_port, scaled, Daemon, Ua};
use edgesip::sip::{HeaderName, Message};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};

/// A TCP SIP peer: one connection and the bytes read from it not yet
/// framed.
struct Peer {
    s: TcpStream,
    buf: Vec<u8>,
}

impl Peer {
    fn new(s: TcpStream) -> Peer {
        s.set_read_timeout(Some(scaled(2_000))).unwrap();
        Peer { s, buf: Vec::new() }
    }

    fn connect(to: SocketAddr) -> Peer {
        Peer::new(TcpStream::connect(to).expect("connect to edgesip"))
    }

    /// The next connection to `l`; fails (rather than hangs) when none
    /// comes within the usual wait.
    fn accept(l: &TcpListener) -> Peer {
        l.set_nonblocking(true).unwrap();
        let until = std::time::Instant::now() + scaled(2_000);
        loop {
            match l.accept() {
                Ok((s, _)) => {
                    s.set_nonblocking(false).unwrap();
                    return Peer::new(s);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    assert!(std::time::Instant::now() < until, "no connection came");
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                Err(e) => panic!("accept: {e}"),
            }
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.s.write_all(bytes).expect("write");
    }

    /// The next whole message, framed by its Content-Length.
    fn recv(&mut self, what: &str) -> String {
        loop {
            if let Some(n) = framed(&self.buf) {
                let m: Vec<u8> = self.buf.drain(..n).collect();
                return String::from_utf8(m).unwrap();
            }
            let mut chunk = [0u8; 4096];
            match self.s.read(&mut chunk) {
                Ok(0) => panic!("{what}: the connection closed; held {:?}", self.text()),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) => panic!("{what}: {e}; held {:?}", self.text()),
            }
        }
    }

    /// Bytes as they arrive, until `n` are here.
    fn recv_raw(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n {
            let mut chunk = [0u8; 4096];
            match self.s.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(k) => self.buf.extend_from_slice(&chunk[..k]),
            }
        }
        self.buf.drain(..n.min(self.buf.len())).collect()
    }

    /// True when edgesip closed the connection (after what it sent).
    fn closed(&mut self) -> bool {
        let mut chunk = [0u8; 4096];
        loop {
            match self.s.read(&mut chunk) {
                Ok(0) => return true,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == ErrorKind::ConnectionReset => return true,
                Err(_) => return false,
            }
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.buf).into_owned()
    }
}

fn framed(buf: &[u8]) -> Option<usize> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let m = Message::parse_unchecked(&buf[..end]).ok()?;
    let cl: usize = m
        .header(HeaderName::ContentLength)
        .and_then(|h| std::str::from_utf8(h.value).ok()?.trim().parse().ok())
        .expect("a Content-Length over TCP");
    (buf.len() >= end + cl).then_some(end + cl)
}

fn header(msg: &str, name: HeaderName) -> Vec<String> {
    let m = Message::parse(msg.as_bytes()).unwrap_or_else(|e| panic!("{e}: {msg}"));
    m.headers()
        .iter()
        .filter(|h| h.name == name)
        .map(|h| String::from_utf8_lossy(h.value).into_owned())
        .collect()
}

fn first_line(msg: &str) -> &str {
    msg.lines().next().unwrap_or_default()
}

fn contact_uri(msg: &str) -> String {
    let m = Message::parse(msg.as_bytes()).unwrap();
    let (_, c) = m.addrs(HeaderName::Contact).next().expect("a Contact");
    String::from_utf8_lossy(c.uri.raw).into_owned()
}

fn answer(req: &str, status: &str, tag: &str, contact: &str) -> String {
    common::sip::answer(
        req.as_bytes(),
        status,
        tag,
        &common::sip::contact(contact),
        "",
    )
}

fn recv_udp(ua: &Ua, what: &str) -> String {
    let (raw, _) = ua
        .recv()
        .unwrap_or_else(|| panic!("{what}: nothing arrived"));
    String::from_utf8(raw).unwrap()
}

fn invite(via: &str, ruri: &str, contact: &str, call_id: &str) -> String {
    format!(
        "INVITE {ruri} SIP/2.0\r\n\
Via: {via};branch=z9hG4bKinv1;rport\r\n\
Max-Forwards: 70\r\n\
From: \"Alice\" <sip:alice@example.org>;tag=atag\r\n\
To: <sip:bob@example.com>\r\n\
Call-ID: {call_id}\r\n\
CSeq: 1 INVITE\r\n\
Contact: <{contact}>\r\n\
Content-Length: 0\r\n\r\n"
    )
}

/// A request within the dialog with these Routes (the caller's are the
/// Record-Route set reversed, the callee's the set as it is).
fn in_dialog(
    method: &str,
    ruri: &str,
    via: &str,
    routes: &[String],
    from_callee: bool,
    cseq: u32,
    call_id: &str,
) -> String {
    let routes: String = routes.iter().map(|r| format!("Route: {r}\r\n")).collect();
    let (from, to) = if from_callee {
        (
            "<sip:bob@example.com>;tag=btag",
            "\"Alice\" <sip:alice@example.org>;tag=atag",
        )
    } else {
        (
            "\"Alice\" <sip:alice@example.org>;tag=atag",
            "<sip:bob@example.com>;tag=btag",
        )
    };
    format!(
        "{method} {ruri} SIP/2.0\r\n\
Via: {via};branch=z9hG4bK{method}{cseq};rport\r\n\
Max-Forwards: 70\r\n\
{routes}\
From: {from}\r\n\
To: {to}\r\n\
Call-ID: {call_id}\r\n\
CSeq: {cseq} {method}\r\n\
Content-Length: 0\r\n\r\n"
    )
}

/// edgesip with a trusted LAN leg on 127.0.0.1 (net 127.0.0.1/32) and a
/// public WAN leg on 127.0.0.2, `lan` and `wan` appended to their specs,
/// then `extra`; the daemon and the two legs' addresses.
fn lan_wan(lan: &str, wan: &str, extra: &[&str]) -> (Daemon, String, String) {
    let a = format!("127.0.0.1:{}", free_port("127.0.0.1"));
    let b = format!("127.0.0.2:{}", free_port("127.0.0.2"));
    let lan = format!("lan={a},net=127.0.0.1/32{lan}");
    let wan = format!("wan={b},public{wan}");
    let mut args = vec!["--leg", &lan, "--leg", &wan];
    args.extend_from_slice(extra);
    (Daemon::start(&args), a, b)
}

/// A phone on the LAN over UDP, a provider on the WAN over TCP only:
/// INVITE, 180, 200, ACK from the phone, then the provider hangs up (BYE
/// and its 200), the flow that must work for a real call to end.
#[test]
fn udp_phone_to_tcp_provider_and_the_provider_hangs_up() {
    let (_d, a, b) = lan_wan("", ",tcp-only", &[]);
    let provider = TcpListener::bind("127.0.0.3:0").unwrap();
    let pv = provider.local_addr().unwrap();
    let phone = Ua::bind("127.0.0.1");
    let ph = phone.addr();
    let call_id = "tcp-call-1@phone";

    let inv = invite(
        &format!("SIP/2.0/UDP {ph}"),
        &format!("sip:bob@{pv};transport=tcp"),
        &format!("sip:alice@{ph}"),
        call_id,
    );
    phone.send_to(inv.as_bytes(), a.parse().unwrap());

    let mut pc = Peer::accept(&provider);
    assert_eq!(pc.s.peer_addr().unwrap().ip().to_string(), "127.0.0.2");
    let got = pc.recv("INVITE at the provider");
    let vias = header(&got, HeaderName::Via);
    assert!(
        vias[0].starts_with(&format!("SIP/2.0/TCP {b};branch=z9hG4bKeS")),
        "{got}"
    );
    assert!(vias[1].starts_with(&format!("SIP/2.0/UDP {ph}")), "{got}");
    // RFC 5658: each side's Record-Route with the transport it uses.
    let rr = header(&got, HeaderName::RecordRoute);
    assert_eq!(
        rr,
        vec![
            format!("<sip:{b};transport=tcp;lr>"),
            format!("<sip:{a};lr>")
        ]
    );
    let token = contact_uri(&got);
    assert!(
        token.starts_with("sip:b") && token.ends_with(&format!("@{b};transport=tcp")),
        "{token}"
    );
    assert_eq!(header(&got, HeaderName::ContentLength), vec!["0"]);

    // 180 and 200 on the same connection reach the phone over UDP.
    let bob = format!("sip:bob@{pv};transport=tcp");
    pc.send(answer(&got, "180 Ringing", "btag", &bob).as_bytes());
    pc.send(answer(&got, "200 OK", "btag", &bob).as_bytes());
    let ringing = recv_udp(&phone, "180 at the phone");
    assert_eq!(first_line(&ringing), "SIP/2.0 180 Ringing");
    let ok = recv_udp(&phone, "200 at the phone");
    assert_eq!(first_line(&ok), "SIP/2.0 200 OK");
    assert_eq!(header(&ok, HeaderName::Via).len(), 1);
    let bob_token = contact_uri(&ok);
    assert!(
        bob_token.starts_with("sip:b") && bob_token.ends_with(&format!("@{a}")),
        "{bob_token}"
    );
    let rr_ok = header(&ok, HeaderName::RecordRoute);
    assert_eq!(rr_ok, rr);

    // ACK from the phone: the Record-Route set reversed, the token as
    // Request-URI; it goes out over the provider's connection.
    let ack = in_dialog(
        "ACK",
        &bob_token,
        &format!("SIP/2.0/UDP {ph}"),
        &rr_ok.iter().rev().cloned().collect::<Vec<_>>(),
        false,
        1,
        call_id,
    );
    phone.send_to(ack.as_bytes(), a.parse().unwrap());
    let got_ack = pc.recv("ACK at the provider");
    assert_eq!(
        first_line(&got_ack),
        format!("ACK sip:bob@{pv};transport=tcp SIP/2.0")
    );
    assert!(header(&got_ack, HeaderName::Route).is_empty(), "{got_ack}");

    // The provider hangs up over the same connection: Request-URI the
    // phone's token, Route the Record-Route set as it is.
    let bye = in_dialog(
        "BYE",
        &token,
        &format!("SIP/2.0/TCP {pv}"),
        &rr,
        true,
        2,
        call_id,
    );
    pc.send(bye.as_bytes());
    let got_bye = recv_udp(&phone, "BYE at the phone");
    assert_eq!(first_line(&got_bye), format!("BYE sip:alice@{ph} SIP/2.0"));
    let bye_vias = header(&got_bye, HeaderName::Via);
    assert!(bye_vias[0].starts_with(&format!("SIP/2.0/UDP {a};branch=z9hG4bKeS")));
    phone.send_to(
        answer(&got_bye, "200 OK", "atag", "").as_bytes(),
        a.parse().unwrap(),
    );
    let bye_ok = pc.recv("200 for BYE at the provider");
    assert_eq!(first_line(&bye_ok), "SIP/2.0 200 OK");
    assert_eq!(header(&bye_ok, HeaderName::CSeq), vec!["2 BYE"]);
    let bye_ok_vias = header(&bye_ok, HeaderName::Via);
    assert_eq!(bye_ok_vias.len(), 1, "{bye_ok}");
    assert!(
        bye_ok_vias[0].starts_with(&format!("SIP/2.0/TCP {pv};branch=z9hG4bKBYE2")),
        "{bye_ok}"
    );
    // Nothing else was ever accepted: one connection, reused.
    provider.set_nonblocking(true).unwrap();
    assert!(provider.accept().is_err(), "a second connection was opened");
}

/// A phone over TCP, a callee over UDP, one leg with both: the message
/// split over two writes, a keep-alive ping and a request in one write,
/// and the response back on the phone's connection.
#[test]
fn tcp_phone_to_udp_callee_split_and_coalesced() {
    let p = free_port("127.0.0.1");
    let a = format!("127.0.0.1:{p}");
    let _d = Daemon::start(&["--leg", &format!("{a},tcp")]);
    let callee = Ua::bind("127.0.0.3");
    let ce = callee.addr();
    let mut phone = Peer::connect(a.parse().unwrap());
    let ph = phone.s.local_addr().unwrap();

    let inv = invite(
        &format!("SIP/2.0/TCP {ph}"),
        &format!("sip:bob@{ce}"),
        &format!("sip:alice@{ph};transport=tcp"),
        "tcp-call-2@phone",
    );
    let (x, y) = inv.as_bytes().split_at(100);
    phone.send(x);
    std::thread::sleep(scaled(100));
    phone.send(y);
    let got = recv_udp(&callee, "INVITE at the callee");
    let vias = header(&got, HeaderName::Via);
    assert!(vias[0].starts_with(&format!("SIP/2.0/UDP {a};branch=z9hG4bKeS")));
    assert_eq!(
        vias[1],
        format!(
            "SIP/2.0/TCP {ph};branch=z9hG4bKinv1;rport={};received=127.0.0.1",
            ph.port()
        )
    );
    // One leg, two transports: two Record-Routes.
    assert_eq!(
        header(&got, HeaderName::RecordRoute),
        vec![
            format!("<sip:{a};lr>"),
            format!("<sip:{a};transport=tcp;lr>")
        ]
    );
    callee.send_to(
        answer(&got, "200 OK", "btag", &format!("sip:bob@{ce}")).as_bytes(),
        a.parse().unwrap(),
    );
    let ok = phone.recv("200 at the phone");
    assert_eq!(first_line(&ok), "SIP/2.0 200 OK");
    assert_eq!(header(&ok, HeaderName::Via).len(), 1);

    // A ping and an OPTIONS in one write: CRLF back, then the OPTIONS
    // goes on to the callee.
    let opts = format!(
        "OPTIONS sip:bob@{ce} SIP/2.0\r\nVia: SIP/2.0/TCP {ph};branch=z9hG4bKo1\r\n\
Max-Forwards: 70\r\nFrom: <sip:alice@example.org>;tag=o1\r\nTo: <sip:bob@example.com>\r\n\
Call-ID: opts@phone\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    );
    let mut both = b"\r\n\r\n".to_vec();
    both.extend_from_slice(opts.as_bytes());
    phone.send(&both);
    assert_eq!(phone.recv_raw(2), b"\r\n");
    let got = recv_udp(&callee, "OPTIONS at the callee");
    assert!(got.starts_with("OPTIONS "), "{got}");
}

/// The phone's connection closes before the answer: edgesip opens a new
/// one to the Via's sent-by (RFC 3261 §18.2.2), where the phone listens.
#[test]
fn a_response_after_its_connection_closed_goes_to_the_sent_by() {
    let p = free_port("127.0.0.1");
    let a = format!("127.0.0.1:{p}");
    let _d = Daemon::start(&["--leg", &format!("{a},tcp")]);
    let callee = Ua::bind("127.0.0.3");
    let ce = callee.addr();
    let listen = TcpListener::bind("127.0.0.1:0").unwrap();
    let l = listen.local_addr().unwrap();

    let mut phone = Peer::connect(a.parse().unwrap());
    let inv = invite(
        &format!("SIP/2.0/TCP {l}"),
        &format!("sip:bob@{ce}"),
        &format!("sip:alice@{l};transport=tcp"),
        "tcp-call-3@phone",
    );
    phone.send(inv.as_bytes());
    let got = recv_udp(&callee, "INVITE at the callee");
    drop(phone);
    std::thread::sleep(scaled(200));
    callee.send_to(
        answer(&got, "486 Busy Here", "btag", "").as_bytes(),
        a.parse().unwrap(),
    );
    let mut back = Peer::accept(&listen);
    let busy = back.recv("486 on the new connection");
    assert_eq!(first_line(&busy), "SIP/2.0 486 Busy Here");
}

/// `--tcp-max 64`: the 65th connection is accepted and closed at once and
/// the 64 keep working; `--tcp-per-source 63` refuses the 64th from one
/// address while another address still gets the last slot.
#[test]
fn sixty_five_connections_against_tcp_max_64() {
    let p = free_port("127.0.0.1");
    let a = format!("127.0.0.1:{p}");
    let d = Daemon::start(&[
        "--leg",
        &format!("{a},tcp"),
        "--tcp-max",
        "64",
        "--tcp-per-source",
        "63",
    ]);
    let to: SocketAddr = a.parse().unwrap();
    let mut held: Vec<Peer> = (0..63).map(|_| Peer::connect(to)).collect();
    // Every one of them has its slot before the next test.
    for (i, peer) in held.iter_mut().enumerate() {
        options_answered(peer, &a, i);
    }
    let mut over = Peer::connect(to);
    assert!(
        over.closed(),
        "a 64th connection from one address stayed open"
    );
    held.push(Peer::new(socket_from("127.0.0.9", to)));
    let last = held.len() - 1;
    options_answered(&mut held[last], &a, last);
    let mut fifth = Peer::new(socket_from("127.0.0.10", to));
    assert!(fifth.closed(), "a 65th connection stayed open");
    // The 64 still answer.
    for (i, peer) in held.iter_mut().enumerate() {
        options_answered(peer, &a, 100 + i);
    }
    let log = d.stderr();
    assert!(log.contains("--tcp-per-source"), "{log}");
    assert!(log.contains("--tcp-max"), "{log}");
}

/// An OPTIONS to edgesip itself over `peer` gets 200.
fn options_answered(peer: &mut Peer, a: &str, i: usize) {
    let me = peer.s.local_addr().unwrap();
    let opts = format!(
        "OPTIONS sip:{a} SIP/2.0\r\nVia: SIP/2.0/TCP {me};branch=z9hG4bKl{i}\r\n\
Max-Forwards: 70\r\nFrom: <sip:x@example.org>;tag=l{i}\r\nTo: <sip:{a}>\r\n\
Call-ID: limit{i}@x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    );
    peer.send(opts.as_bytes());
    assert_eq!(first_line(&peer.recv("200 to OPTIONS")), "SIP/2.0 200 OK");
}

/// A TCP socket from `ip` (any port) connected to `to`.
fn socket_from(ip: &str, to: SocketAddr) -> TcpStream {
    // std cannot bind before connecting; a loopback source needs libc.
    use std::os::fd::FromRawFd;
    // SAFETY: plain syscalls on a descriptor we own; the sockaddrs are
    // valid for their lengths.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        assert!(fd >= 0);
        let sa = |ip: std::net::Ipv4Addr, port: u16| libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: port.to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from_ne_bytes(ip.octets()),
            },
            sin_zero: [0; 8],
        };
        let local = sa(ip.parse().unwrap(), 0);
        let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        assert_eq!(libc::bind(fd, (&raw const local).cast(), len), 0);
        let SocketAddr::V4(t) = to else { panic!() };
        let remote = sa(*t.ip(), t.port());
        assert_eq!(libc::connect(fd, (&raw const remote).cast(), len), 0);
        TcpStream::from_raw_fd(fd)
    }
}

/// No Content-Length over TCP is 400 and the connection closes (RFC 3261
/// §18.3); a header section past the 8 KiB buffer is 513.
#[test]
fn unframeable_messages_get_400_or_513_and_the_connection_closes() {
    let p = free_port("127.0.0.1");
    let a = format!("127.0.0.1:{p}");
    let _d = Daemon::start(&["--leg", &format!("{a},tcp")]);
    let to: SocketAddr = a.parse().unwrap();

    let mut c = Peer::connect(to);
    let me = c.s.local_addr().unwrap();
    let no_length = format!(
        "OPTIONS sip:bob@127.0.0.3 SIP/2.0\r\nVia: SIP/2.0/TCP {me};branch=z9hG4bKn1\r\n\
Max-Forwards: 70\r\nFrom: <sip:x@example.org>;tag=n1\r\nTo: <sip:bob@127.0.0.3>\r\n\
Call-ID: nolen@x\r\nCSeq: 1 OPTIONS\r\n\r\n"
    );
    c.send(no_length.as_bytes());
    // The 400 carries a Content-Length; read it by hand.
    let r = String::from_utf8(c.recv_raw(12)).unwrap();
    assert_eq!(r, "SIP/2.0 400 ");
    assert!(
        c.closed(),
        "still open after a message without Content-Length"
    );

    let mut c = Peer::connect(to);
    let me = c.s.local_addr().unwrap();
    let big = format!(
        "OPTIONS sip:bob@127.0.0.3 SIP/2.0\r\nVia: SIP/2.0/TCP {me};branch=z9hG4bKb1\r\n\
Max-Forwards: 70\r\nFrom: <sip:x@example.org>;tag=b1\r\nTo: <sip:bob@127.0.0.3>\r\n\
Call-ID: big@x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 9000\r\n\r\n{}",
        "x".repeat(9000)
    );
    let _ = c.s.write_all(big.as_bytes());
    let r = c.recv("513");
    assert_eq!(first_line(&r), "SIP/2.0 513 Message Too Large");
    assert!(c.closed());
}

/// A provider that refuses the connection: the phone gets 503 without
/// Retry-After, as from a next hop that failed (RFC 3261 §16.9).
#[test]
fn a_refused_connect_is_answered_503() {
    let p1 = free_port("127.0.0.1");
    let a = format!("127.0.0.1:{p1}");
    let d = Daemon::start(&["--leg", &format!("{a},tcp")]);
    let closed = TcpListener::bind("127.0.0.3:0").unwrap();
    let dead = closed.local_addr().unwrap();
    drop(closed);
    let phone = Ua::bind("127.0.0.1");
    let ph = phone.addr();
    let inv = invite(
        &format!("SIP/2.0/UDP {ph}"),
        &format!("sip:bob@{dead};transport=tcp"),
        &format!("sip:alice@{ph}"),
        "refused@phone",
    );
    phone.send_to(inv.as_bytes(), a.parse().unwrap());
    let r = recv_udp(&phone, "503 at the phone");
    assert_eq!(first_line(&r), "SIP/2.0 503 Service Unavailable");
    assert!(header(&r, HeaderName::RetryAfter).is_empty());
    assert_eq!(header(&r, HeaderName::Via).len(), 1);
    // With a To tag: the phone's ACK for it is ours to absorb.
    let to = header(&r, HeaderName::To);
    assert!(to[0].contains(";tag="), "{r}");
    let ack = format!(
        "ACK sip:bob@{dead};transport=tcp SIP/2.0\r\nVia: SIP/2.0/UDP {ph};branch=z9hG4bKinv1;rport\r\n\
Max-Forwards: 70\r\nFrom: \"Alice\" <sip:alice@example.org>;tag=atag\r\nTo: {}\r\n\
Call-ID: refused@phone\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
        to[0]
    );
    phone.send_to(ack.as_bytes(), a.parse().unwrap());
    phone.expect_nothing(300);
    // Had the ACK gone on, a second connect would have failed and said so.
    assert_eq!(
        d.stderr().matches("tcp: connect to").count(),
        1,
        "{}",
        d.stderr()
    );
}

/// RFC 3263 §4.1: a provider whose NAPTRs put SIP+D2T first is reached
/// over TCP (NAPTR → `_sip._tcp` SRV → A) with no `;transport=` anywhere.
/// When only the LAN leg has TCP, the lookup for all legs picks D2T, the
/// destination picks the WAN leg, which lacks TCP, and the name is
/// resolved again for that leg: UDP to the D2U target, not a 503.
#[test]
fn naptr_d2t_sends_the_request_over_tcp() {
    use common::dns::{DnsServer, Mode, Rec};
    let provider = TcpListener::bind("127.0.0.3:0").unwrap();
    let pv = provider.local_addr().unwrap();
    let udp_provider = Ua::bind("127.0.0.3");
    let local = std::net::Ipv4Addr::new(127, 0, 0, 3);
    let zone = vec![
        Rec::Naptr("prov.test", 10, 50, "SIP+D2T", "_sip._tcp.prov.test"),
        Rec::Naptr("prov.test", 20, 50, "SIP+D2U", "_sip._udp.prov.test"),
        Rec::Srv("_sip._tcp.prov.test", 0, 0, pv.port(), "edge.prov.test"),
        Rec::Srv(
            "_sip._udp.prov.test",
            0,
            0,
            udp_provider.addr().port(),
            "edge.prov.test",
        ),
        Rec::A("edge.prov.test", local),
    ];
    let dns = DnsServer::start(zone, Mode::Answer);
    let dns_addr = dns.addr().to_string();
    let phone = Ua::bind("127.0.0.1");
    let ph = phone.addr();
    let runs = [("", ",tcp", "d2t-1@phone"), (",tcp", "", "d2t-2@phone")];
    for (lan_opts, wan_opts, call_id) in runs {
        let (_d, a, b) = lan_wan(lan_opts, wan_opts, &["--dns", &dns_addr]);
        let inv = invite(
            &format!("SIP/2.0/UDP {ph}"),
            "sip:bob@prov.test",
            &format!("sip:alice@{ph}"),
            call_id,
        );
        phone.send_to(inv.as_bytes(), a.parse().unwrap());
        let got = if wan_opts.is_empty() {
            recv_udp(&udp_provider, "INVITE at the D2U target")
        } else {
            let mut pc = Peer::accept(&provider);
            pc.recv("INVITE at the D2T target")
        };
        assert_eq!(first_line(&got), "INVITE sip:bob@prov.test SIP/2.0");
        assert_eq!(header(&got, HeaderName::CallId), vec![call_id]);
        let via = if wan_opts.is_empty() { "UDP" } else { "TCP" };
        let vias = header(&got, HeaderName::Via);
        assert!(vias[0].starts_with(&format!("SIP/2.0/{via} {b};")), "{got}");
    }
    // The TCP SRV was never used by the UDP-only leg, nor the reverse.
    assert!(provider.accept().is_err(), "a second TCP connection");
    udp_provider.expect_nothing(100);
}

/// `--tcp-large` still moves a large request to TCP when DNS (an SRV for
/// UDP) found its target: only a `;transport=` in the URI pins UDP.
#[test]
fn tcp_large_applies_to_a_target_found_by_udp_srv() {
    use common::dns::{DnsServer, Mode, Rec};
    let provider = TcpListener::bind("127.0.0.3:0").unwrap();
    let pv = provider.local_addr().unwrap();
    let zone = vec![
        Rec::Srv("_sip._udp.big.test", 0, 0, pv.port(), "edge.big.test"),
        Rec::A("edge.big.test", std::net::Ipv4Addr::new(127, 0, 0, 3)),
    ];
    let dns = DnsServer::start(zone, Mode::Answer);
    let dns_addr = dns.addr().to_string();
    let (_d, a, b) = lan_wan("", ",tcp", &["--dns", &dns_addr, "--tcp-large"]);
    let phone = Ua::bind("127.0.0.1");
    let ph = phone.addr();
    let inv = invite(
        &format!("SIP/2.0/UDP {ph}"),
        "sip:bob@big.test",
        &format!("sip:alice@{ph}"),
        "large-srv@phone",
    )
    .replace(
        "Content-Length: 0\r\n",
        &format!("Subject: {}\r\nContent-Length: 0\r\n", "x".repeat(1300)),
    );
    phone.send_to(inv.as_bytes(), a.parse().unwrap());
    let mut pc = Peer::accept(&provider);
    let got = pc.recv("the large INVITE over TCP");
    assert_eq!(first_line(&got), "INVITE sip:bob@big.test SIP/2.0");
    assert!(header(&got, HeaderName::Via)[0].starts_with(&format!("SIP/2.0/TCP {b};")));
}
