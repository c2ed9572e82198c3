//! The SDP view against real and hand-made bodies.
#![allow(clippy::indexing_slicing, clippy::unwrap_used, clippy::panic)]

use super::*;
use std::net::IpAddr;

fn b(buf: &[u8], s: Span) -> &[u8] {
    &buf[s.range()]
}

fn lines_of(buf: &[u8]) -> Vec<Line> {
    Sdp::parse(buf).unwrap().lines().collect()
}

fn infos(buf: &[u8]) -> Vec<MediaInfo> {
    Sdp::parse(buf).unwrap().media().collect()
}

fn err(buf: &[u8]) -> SdpError {
    Sdp::parse(buf).unwrap_err()
}

const OFFER: &[u8] = b"v=0\r\n\
o=alice 2890844526 2890844527 IN IP4 192.0.2.10\r\n\
s=-\r\n\
c=IN IP4 192.0.2.10\r\n\
t=0 0\r\n\
m=audio 49170 RTP/AVP 0 8 101\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=sendrecv\r\n";

#[test]
fn typical_audio_offer() {
    let sdp = Sdp::parse(OFFER).unwrap();
    assert_eq!(sdp.media_count(), 1);
    let ls: Vec<Line> = sdp.lines().collect();
    assert_eq!(ls.len(), 8);
    // Line spans tile the buffer exactly, terminators included.
    let mut at = 0;
    for l in &ls {
        assert_eq!(l.span().start, at);
        assert!(b(OFFER, l.span()).ends_with(b"\r\n"));
        at = l.span().end;
    }
    assert_eq!(at, OFFER.len());
    assert_eq!(b(OFFER, ls[0].span()), b"v=0\r\n");
    let Line::Origin {
        line,
        sess_version,
        version,
        net,
    } = ls[1]
    else {
        panic!("{:?}", ls[1])
    };
    assert!(b(OFFER, line).starts_with(b"o=alice"));
    assert_eq!(b(OFFER, sess_version), b"2890844527");
    assert_eq!(version, 2890844527);
    assert_eq!(b(OFFER, net.addr), b"192.0.2.10");
    assert_eq!(b(OFFER, net.addr_type), b"IP4");
    assert_eq!(net.ip, Some("192.0.2.10".parse().unwrap()));
    let Line::Connection { line, level, net } = ls[3] else {
        panic!()
    };
    assert_eq!(b(OFFER, line), b"c=IN IP4 192.0.2.10\r\n");
    assert_eq!(level, Level::Session);
    assert_eq!(b(OFFER, net.addr), b"192.0.2.10");
    assert!(!net.is_ip6 && !net.is_unspecified());
    let Line::Media {
        line,
        index,
        media,
        port,
        port_value,
        count,
        proto,
        fmts,
        is_rtp,
    } = ls[5]
    else {
        panic!()
    };
    assert_eq!(b(OFFER, line), b"m=audio 49170 RTP/AVP 0 8 101\r\n");
    assert_eq!(index, 0);
    assert_eq!(b(OFFER, media), b"audio");
    assert_eq!(b(OFFER, port), b"49170");
    assert_eq!(port_value, 49170);
    assert_eq!(count, None);
    assert_eq!(b(OFFER, proto), b"RTP/AVP");
    assert_eq!(b(OFFER, fmts), b"0 8 101");
    assert!(is_rtp);
    assert!(matches!(ls[6], Line::Other { .. }));
    assert_eq!(
        ls[7],
        Line::Direction {
            line: ls[7].span(),
            level: Level::Media(0),
            dir: Direction::SendRecv
        }
    );

    let m = infos(OFFER);
    assert_eq!(m.len(), 1);
    let m = m[0];
    assert_eq!(b(OFFER, m.line), b"m=audio 49170 RTP/AVP 0 8 101\r\n");
    assert_eq!(m.section.start, m.line.start);
    assert_eq!(m.section.end, OFFER.len());
    assert_eq!(b(OFFER, m.conn.unwrap().addr), b"192.0.2.10");
    assert_eq!(b(OFFER, m.port), b"49170");
    assert_eq!(m.direction, Direction::SendRecv);
    assert!(m.is_rtp && !m.rtcp_mux && m.rtcp_port.is_none());
    assert!(!m.is_disabled() && !m.is_old_hold());
}

#[test]
fn session_and_media_level_connection() {
    let buf = b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 198.51.100.1\r\nt=0 0\r\n\
m=audio 5000 RTP/AVP 0\r\nc=IN IP4 203.0.113.7\r\n\
m=video 5002 RTP/AVP 31\r\n";
    let ls = lines_of(buf);
    let conns: Vec<(Level, &[u8])> = ls
        .iter()
        .filter_map(|l| match *l {
            Line::Connection { level, net, .. } => Some((level, b(buf, net.addr))),
            _ => None,
        })
        .collect();
    assert_eq!(
        conns,
        [
            (Level::Session, &b"198.51.100.1"[..]),
            (Level::Media(0), &b"203.0.113.7"[..])
        ]
    );
    let m = infos(buf);
    assert_eq!(m.len(), 2);
    assert_eq!(b(buf, m[0].conn.unwrap().addr), b"203.0.113.7");
    assert_eq!(b(buf, m[1].conn.unwrap().addr), b"198.51.100.1");
    assert_eq!(
        b(buf, m[0].section),
        b"m=audio 5000 RTP/AVP 0\r\nc=IN IP4 203.0.113.7\r\n"
    );
    assert_eq!(b(buf, m[1].section), b"m=video 5002 RTP/AVP 31\r\n");
    assert_eq!(m[1].index, 1);
    let sdp = Sdp::parse(buf).unwrap();
    assert_eq!(
        b(buf, sdp.session_connection().unwrap().addr),
        b"198.51.100.1"
    );
}

#[test]
fn no_connection_at_all() {
    let buf = b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nm=audio 5000 RTP/AVP 0\r\n";
    assert_eq!(infos(buf)[0].conn, None);
}

#[test]
fn ipv6_connection() {
    let buf = b"v=0\r\no=- 1 1 IN IP6 2001:db8::2\r\ns=-\r\nc=IN IP6 2001:db8::1\r\nt=0 0\r\n\
m=audio 5000 RTP/AVP 0\r\n";
    let ls = lines_of(buf);
    let Line::Origin { net, .. } = ls[1] else {
        panic!()
    };
    assert!(net.is_ip6);
    assert_eq!(b(buf, net.addr), b"2001:db8::2");
    assert_eq!(net.ip, Some("2001:db8::2".parse().unwrap()));
    let Line::Connection { net, .. } = ls[3] else {
        panic!()
    };
    assert!(net.is_ip6);
    assert_eq!(b(buf, net.addr_type), b"IP6");
    assert_eq!(b(buf, net.addr), b"2001:db8::1");
    assert_eq!(net.ip, Some("2001:db8::1".parse().unwrap()));
}

#[test]
fn fqdn_and_multicast_addresses() {
    let buf = b"v=0\r\no=- 1 1 IN IP4 host.example\r\ns=-\r\nc=IN IP4 224.2.1.1/127/3\r\nt=0 0\r\n\
m=audio 5000 RTP/AVP 0\r\nc=IN IP6 FF15::101/3\r\nc=IN IP4 media.example\r\n";
    let ls = lines_of(buf);
    let Line::Origin { net, .. } = ls[1] else {
        panic!()
    };
    assert_eq!(b(buf, net.addr), b"host.example");
    assert_eq!(net.ip, None);
    let addrs: Vec<(&[u8], Option<IpAddr>)> = ls
        .iter()
        .filter_map(|l| match *l {
            Line::Connection { net, .. } => Some((b(buf, net.addr), net.ip)),
            _ => None,
        })
        .collect();
    assert_eq!(
        addrs,
        [
            (&b"224.2.1.1"[..], Some("224.2.1.1".parse().unwrap())),
            (&b"FF15::101"[..], Some("ff15::101".parse().unwrap())),
            (&b"media.example"[..], None),
        ]
    );
    let bad = |c: &str| {
        let s = format!("v=0\r\no=- 1 1 IN IP4 h\r\nc={c}\r\n");
        Sdp::parse(s.as_bytes()).unwrap_err()
    };
    assert_eq!(bad("IN IP4 224.2.1.1/x"), SdpError::BadConnection);
    assert_eq!(bad("IN IP4 224.2.1.1/1/2/3"), SdpError::BadConnection);
    assert_eq!(bad("IN IP6 ff15::1/1/2"), SdpError::BadConnection);
    assert_eq!(bad("IN IP4 /127"), SdpError::BadConnection);
}

#[test]
fn port_zero_stream() {
    let buf = b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
m=audio 5000 RTP/AVP 0\r\nm=video 0 RTP/AVP 31\r\n";
    let m = infos(buf);
    assert!(!m[0].is_disabled());
    assert!(m[1].is_disabled());
    assert_eq!(b(buf, m[1].port), b"0");
    assert_eq!(b(buf, m[1].media), b"video");
}

#[test]
fn old_style_hold() {
    let buf = b"v=0\r\no=- 1 2 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n\
m=audio 5000 RTP/AVP 0\r\n";
    let ls = lines_of(buf);
    let Line::Connection { net, .. } = ls[3] else {
        panic!()
    };
    assert_eq!(b(buf, net.addr), b"0.0.0.0");
    assert!(net.is_unspecified());
    assert!(infos(buf)[0].is_old_hold());
}

#[test]
fn rtcp_attribute() {
    let buf = b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
m=audio 49170 RTP/AVP 0\r\na=rtcp:53020\r\n\
m=audio 49172 RTP/AVP 0\r\na=rtcp:53020 IN IP4 126.16.64.4\r\n\
m=audio 49174 RTP/AVP 0\r\na=rtcp:9 IN IP6 ::1\r\na=rtcp-fb:* nack\r\n";
    let rt: Vec<Line> = lines_of(buf)
        .into_iter()
        .filter(|l| matches!(l, Line::Rtcp { .. }))
        .collect();
    assert_eq!(rt.len(), 3);
    let Line::Rtcp {
        line,
        level,
        port,
        port_value,
        net,
    } = rt[0]
    else {
        panic!()
    };
    assert_eq!(b(buf, line), b"a=rtcp:53020\r\n");
    assert_eq!(level, Level::Media(0));
    assert_eq!(b(buf, port), b"53020");
    assert_eq!(port_value, 53020);
    assert_eq!(net, None);
    let Line::Rtcp { port, net, .. } = rt[1] else {
        panic!()
    };
    assert_eq!(b(buf, port), b"53020");
    let net = net.unwrap();
    assert_eq!(b(buf, net.addr), b"126.16.64.4");
    assert_eq!(b(buf, net.addr_type), b"IP4");
    assert_eq!(net.ip, Some("126.16.64.4".parse().unwrap()));
    let Line::Rtcp {
        port_value, net, ..
    } = rt[2]
    else {
        panic!()
    };
    assert_eq!(port_value, 9);
    assert!(net.unwrap().is_ip6);
    assert_eq!(b(buf, net.unwrap().addr), b"::1");

    let m = infos(buf);
    assert_eq!(m[0].rtcp_port, Some(53020));
    assert_eq!(m[0].rtcp_addr, None);
    assert_eq!(b(buf, m[1].rtcp_addr.unwrap().addr), b"126.16.64.4");
    assert_eq!(m[2].rtcp_port, Some(9));
}

#[test]
fn rtcp_mux() {
    let buf = b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
m=audio 49170 RTP/AVP 0\r\na=rtcp-mux\r\nm=video 49172 RTP/AVP 31\r\na=rtcp-mux-only\r\n";
    let ls = lines_of(buf);
    assert_eq!(
        ls[6],
        Line::RtcpMux {
            line: ls[6].span(),
            level: Level::Media(0)
        }
    );
    assert_eq!(b(buf, ls[6].span()), b"a=rtcp-mux\r\n");
    assert!(matches!(ls[8], Line::Other { .. }));
    let m = infos(buf);
    assert!(m[0].rtcp_mux);
    assert!(!m[1].rtcp_mux);
}

#[test]
fn directions() {
    let buf = b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
a=sendonly\r\n\
m=audio 1000 RTP/AVP 0\r\n\
m=audio 1002 RTP/AVP 0\r\na=recvonly\r\n\
m=audio 1004 RTP/AVP 0\r\na=inactive\r\n\
m=audio 1006 RTP/AVP 0\r\na=sendrecv\r\n";
    let sdp = Sdp::parse(buf).unwrap();
    assert_eq!(sdp.session_direction(), Some(Direction::SendOnly));
    let ls: Vec<Line> = sdp.lines().collect();
    assert_eq!(
        ls[5],
        Line::Direction {
            line: ls[5].span(),
            level: Level::Session,
            dir: Direction::SendOnly
        }
    );
    assert_eq!(b(buf, ls[5].span()), b"a=sendonly\r\n");
    let dirs: Vec<Direction> = sdp.media().map(|m| m.direction).collect();
    assert_eq!(
        dirs,
        [
            Direction::SendOnly,
            Direction::RecvOnly,
            Direction::Inactive,
            Direction::SendRecv
        ]
    );
    // No attribute anywhere: sendrecv.
    assert_eq!(infos(OFFER)[0].direction, Direction::SendRecv);
    let plain = b"v=0\r\no=- 1 1 IN IP4 h\r\nm=audio 1 RTP/AVP 0\r\n";
    assert_eq!(infos(plain)[0].direction, Direction::SendRecv);
    let ls = lines_of(b"v=0\r\no=- 1 1 IN IP4 h\r\na=inactive\r\na=sendonly:x\r\n");
    assert!(matches!(
        ls[2],
        Line::Direction {
            level: Level::Session,
            dir: Direction::Inactive,
            ..
        }
    ));
    assert!(matches!(ls[3], Line::Other { .. }));
}

#[test]
fn ice_lines() {
    let buf = b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
a=ice-lite\r\na=ice-options:trickle\r\n\
m=audio 49170 RTP/AVP 0\r\n\
a=ice-ufrag:8hhY\r\na=ice-pwd:asd88fgpdd777uzjYhagZg\r\n\
a=candidate:1 1 UDP 2130706431 10.0.1.1 8998 typ host\r\n\
a=remote-candidates:1 192.0.2.3 45664\r\n\
a=end-of-candidates\r\n\
a=icecream\r\n";
    let ls = lines_of(buf);
    let ice: Vec<(Level, IceKind, &[u8])> = ls
        .iter()
        .filter_map(|l| match *l {
            Line::Ice { line, level, kind } => Some((level, kind, b(buf, line))),
            _ => None,
        })
        .collect();
    assert_eq!(
        ice,
        [
            (Level::Session, IceKind::Other, &b"a=ice-lite\r\n"[..]),
            (
                Level::Session,
                IceKind::Other,
                &b"a=ice-options:trickle\r\n"[..]
            ),
            (
                Level::Media(0),
                IceKind::Other,
                &b"a=ice-ufrag:8hhY\r\n"[..]
            ),
            (
                Level::Media(0),
                IceKind::Other,
                &b"a=ice-pwd:asd88fgpdd777uzjYhagZg\r\n"[..]
            ),
            (
                Level::Media(0),
                IceKind::Candidate,
                &b"a=candidate:1 1 UDP 2130706431 10.0.1.1 8998 typ host\r\n"[..]
            ),
            (
                Level::Media(0),
                IceKind::RemoteCandidates,
                &b"a=remote-candidates:1 192.0.2.3 45664\r\n"[..]
            ),
            (
                Level::Media(0),
                IceKind::EndOfCandidates,
                &b"a=end-of-candidates\r\n"[..]
            ),
        ]
    );
    assert!(matches!(ls.last(), Some(Line::Other { .. })));
    // Stripping = copying everything outside the ICE spans.
    let mut out = Vec::new();
    for l in &ls {
        if !matches!(l, Line::Ice { .. }) {
            out.extend_from_slice(b(buf, l.span()));
        }
    }
    assert!(Sdp::parse(&out).is_ok());
    assert!(!out.windows(4).any(|w| w == b"ice-"));
    assert!(!out.windows(10).any(|w| w == b"candidate:"));
}

#[test]
fn t38_image() {
    let buf = b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
m=image 49170 udptl t38\r\nm=audio 3000 UDP/TLS/RTP/SAVPF 111\r\n";
    let m = infos(buf);
    assert_eq!(b(buf, m[0].media), b"image");
    assert_eq!(b(buf, m[0].proto), b"udptl");
    assert_eq!(b(buf, m[0].port), b"49170");
    assert!(!m[0].is_rtp);
    assert!(m[1].is_rtp);
    assert_eq!(b(buf, m[1].proto), b"UDP/TLS/RTP/SAVPF");
}

#[test]
fn port_count() {
    let buf = b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
m=audio 49170/2 RTP/AVP 0\r\n";
    let ls = lines_of(buf);
    let Line::Media {
        port,
        port_value,
        count,
        ..
    } = ls[5]
    else {
        panic!()
    };
    assert_eq!(b(buf, port), b"49170");
    assert_eq!(port_value, 49170);
    assert_eq!(count, Some(2));
    assert_eq!(infos(buf)[0].count, Some(2));
    assert_eq!(
        err(b"v=0\r\no=- 1 1 IN IP4 h\r\nm=audio 49170/0 RTP/AVP 0\r\n"),
        SdpError::BadPort
    );
    assert_eq!(
        err(b"v=0\r\no=- 1 1 IN IP4 h\r\nm=audio 49170/ RTP/AVP 0\r\n"),
        SdpError::BadPort
    );
}

#[test]
fn lf_only_and_unterminated_last_line() {
    let buf = b"v=0\no=- 7 8 IN IP4 10.0.0.1\ns=-\nc=IN IP4 10.0.0.9\nt=0 0\nm=audio 4000 RTP/AVP 0\na=rtcp:4001";
    let ls = lines_of(buf);
    assert_eq!(ls.len(), 7);
    assert_eq!(b(buf, ls[0].span()), b"v=0\n");
    assert_eq!(b(buf, ls[3].span()), b"c=IN IP4 10.0.0.9\n");
    let Line::Connection { net, .. } = ls[3] else {
        panic!()
    };
    assert_eq!(b(buf, net.addr), b"10.0.0.9");
    let Line::Rtcp { line, port, .. } = ls[6] else {
        panic!()
    };
    assert_eq!(b(buf, line), b"a=rtcp:4001");
    assert_eq!(b(buf, port), b"4001");
    let m = infos(buf);
    assert_eq!(b(buf, m[0].port), b"4000");
    assert_eq!(m[0].rtcp_port, Some(4001));
    assert_eq!(m[0].section.end, buf.len());
    assert!(Sdp::parse(b"v=0").is_err()); // no o=
}

#[test]
fn trailing_blank_lines_and_spaces() {
    let buf = b"v=0\r\no=-  1 1 IN IP4 10.0.0.1 \r\nc=IN  IP4   10.0.0.2\r\nm=audio  5000  RTP/AVP  0 \r\n\r\n\r\n";
    let sdp = Sdp::parse(buf).unwrap();
    let ls: Vec<Line> = sdp.lines().collect();
    assert_eq!(ls.len(), 4);
    let Line::Connection { net, .. } = ls[2] else {
        panic!()
    };
    assert_eq!(b(buf, net.addr), b"10.0.0.2");
    let m = sdp.media().next().unwrap();
    assert_eq!(b(buf, m.port), b"5000");
    assert_eq!(m.section.end, buf.len());
    // Blank line in the middle is not tolerated.
    assert_eq!(
        err(b"v=0\r\no=- 1 1 IN IP4 h\r\n\r\ns=-\r\n"),
        SdpError::BadLine
    );
}

#[test]
fn malformed() {
    let o = "o=- 1 1 IN IP4 10.0.0.1\r\n";
    let e = |s: &str| Sdp::parse(s.as_bytes()).unwrap_err();
    // Version.
    assert_eq!(e(""), SdpError::NoVersion);
    assert_eq!(e(&format!("{o}v=0\r\n")), SdpError::NoVersion);
    assert_eq!(e(&format!("v=1\r\n{o}")), SdpError::NoVersion);
    assert_eq!(e(&format!("v=01\r\n{o}")), SdpError::NoVersion);
    assert_eq!(e(&format!("\r\nv=0\r\n{o}")), SdpError::NoVersion);
    // Origin.
    assert_eq!(
        e("v=0\r\ns=-\r\nc=IN IP4 1.2.3.4\r\n"),
        SdpError::MissingOrigin
    );
    assert_eq!(e("v=0\r\no=- 1 1 IN IP4\r\n"), SdpError::BadOrigin);
    assert_eq!(e("v=0\r\no=- 1 1 IN IP4 h extra\r\n"), SdpError::BadOrigin);
    assert_eq!(e("v=0\r\no=- 1 x IN IP4 h\r\n"), SdpError::BadOrigin);
    assert_eq!(
        e("v=0\r\no=- 1 99999999999999999999 IN IP4 h\r\n"),
        SdpError::BadOrigin
    );
    assert_eq!(e(&format!("v=0\r\n{o}{o}")), SdpError::BadOrigin);
    assert_eq!(
        e(&format!("v=0\r\nm=audio 1 RTP/AVP 0\r\n{o}")),
        SdpError::BadOrigin
    );
    // Line syntax.
    assert_eq!(e(&format!("v=0\r\n{o}s\r\n")), SdpError::BadLine);
    assert_eq!(e(&format!("v=0\r\n{o}s-x\r\n")), SdpError::BadLine);
    assert_eq!(e(&format!("v=0\r\n{o}=x\r\n")), SdpError::BadLine);
    assert_eq!(e(&format!("v=0\r\n{o}1=x\r\n")), SdpError::BadLine);
    assert_eq!(e(&format!("v=0\r\n{o}s=a\rb\r\n")), SdpError::BadLine);
    assert_eq!(e(&format!("v=0\r\n{o}s=a\0b\r\n")), SdpError::BadLine);
    // Connection.
    for c in [
        "c=",
        "c=IN IP4",
        "c=IN IP4 1.2.3.4 5",
        "c=IN IPX 1.2.3.4",
        "c=XX IP4 1.2.3.4",
    ] {
        assert_eq!(
            e(&format!("v=0\r\n{o}{c}\r\n")),
            SdpError::BadConnection,
            "{c}"
        );
    }
    // Media.
    for (m, want) in [
        ("m=audio abc RTP/AVP 0", SdpError::BadPort),
        ("m=audio 65536 RTP/AVP 0", SdpError::BadPort),
        (
            "m=audio 99999999999999999999999 RTP/AVP 0",
            SdpError::BadPort,
        ),
        ("m=audio -1 RTP/AVP 0", SdpError::BadPort),
        ("m=audio 5000 RTP/AVP", SdpError::BadMedia),
        ("m=audio", SdpError::BadMedia),
        ("m=", SdpError::BadMedia),
        ("a=rtcp", SdpError::BadRtcp),
        ("a=rtcp:", SdpError::BadRtcp),
        ("a=rtcp:x", SdpError::BadPort),
        ("a=rtcp:70000", SdpError::BadPort),
        ("a=rtcp:5 IN IP4", SdpError::BadRtcp),
        ("a=rtcp:5 IN IP4 1.2.3.4 x", SdpError::BadRtcp),
        ("a=rtcp:5 IN IPX 1.2.3.4", SdpError::BadRtcp),
    ] {
        assert_eq!(e(&format!("v=0\r\n{o}{m}\r\n")), want, "{m}");
    }
    assert_eq!(
        Sdp::parse(b"v=0\r\no=- 1 1 IN IP4 h\r\nm=audio 65535 RTP/AVP 0\r\n")
            .unwrap()
            .media()
            .next()
            .unwrap()
            .port_value,
        65535
    );
    // Every error has a message.
    assert_eq!(SdpError::BadPort.to_string(), "bad port in SDP");
}

#[test]
fn lines_iterator_stops_on_garbage() {
    // `lines()` is only reachable after validation, but must not loop.
    let ls: Vec<Line> = Lines::new(b"v=0\r\nbad\r\ns=x\r\n").collect();
    assert_eq!(ls.len(), 1);
}

// --- find_sdp ---------------------------------------------------------

#[test]
fn find_sdp_plain() {
    let body = OFFER;
    let all = Some(0..body.len());
    assert_eq!(find_sdp(None, body), Ok(all.clone()));
    assert_eq!(find_sdp(Some(b""), body), Ok(all.clone()));
    assert_eq!(find_sdp(Some(b"  "), body), Ok(all.clone()));
    assert_eq!(find_sdp(Some(b"application/sdp"), body), Ok(all.clone()));
    assert_eq!(
        find_sdp(Some(b" Application / SDP ; charset=UTF-8"), body),
        Ok(all.clone())
    );
    assert_eq!(find_sdp(Some(b"APPLICATION/SDP"), body), Ok(all));
    assert_eq!(find_sdp(Some(b"application/sdp"), b""), Ok(None));
    assert_eq!(find_sdp(None, b""), Ok(None));
    assert_eq!(find_sdp(Some(b"text/plain"), body), Ok(None));
    assert_eq!(find_sdp(Some(b"application/isup"), body), Ok(None));
    assert_eq!(find_sdp(Some(b"garbage"), body), Ok(None));
    assert_eq!(find_sdp(Some(b"application/sdpx"), body), Ok(None));
}

const MIXED: &[u8] = b"preamble is ignored\r\n\
--unique-boundary-1\r\n\
Content-Type: text/plain\r\n\
\r\n\
hello\r\n\
--unique-boundary-1x is not a delimiter\r\n\
--unique-boundary-1  \r\n\
content-type:   APPLICATION/sdp ;\r\n charset=utf-8\r\n\
Content-Disposition: session\r\n\
\r\n\
v=0\r\n\
o=- 1 1 IN IP4 10.0.0.1\r\n\
m=audio 5000 RTP/AVP 0\r\n\
\r\n\
--unique-boundary-1--\r\n\
epilogue\r\n";

#[test]
fn find_sdp_multipart_mixed() {
    let r = find_sdp(Some(b"multipart/mixed;boundary=unique-boundary-1"), MIXED)
        .unwrap()
        .unwrap();
    assert_eq!(
        &MIXED[r.clone()],
        b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\nm=audio 5000 RTP/AVP 0\r\n"
    );
    let sdp = Sdp::parse(&MIXED[r.clone()]).unwrap();
    let m = sdp.media().next().unwrap();
    assert_eq!(&MIXED[r][m.port.range()], b"5000");
}

#[test]
fn find_sdp_multipart_quoted_boundary() {
    let body = b"--simple boundary\r\n\
\r\n\
implicitly typed plain text\r\n\
--simple boundary\r\n\
Content-Type: application/sdp\r\n\
\r\n\
v=0\r\no=- 1 1 IN IP4 h\r\n\
--simple boundary--";
    let ct = b"Multipart/Mixed; charset=x; Boundary = \"simple boundary\"";
    let r = find_sdp(Some(ct), body).unwrap().unwrap();
    assert_eq!(&body[r], b"v=0\r\no=- 1 1 IN IP4 h");
}

#[test]
fn find_sdp_multipart_lf_only() {
    let body = b"--b\nContent-Type: application/sdp\n\nv=0\no=- 1 1 IN IP4 h\n\n--b--\n";
    let r = find_sdp(Some(b"multipart/related; boundary=b"), body)
        .unwrap()
        .unwrap();
    assert_eq!(&body[r], b"v=0\no=- 1 1 IN IP4 h\n");
}

#[test]
fn find_sdp_multipart_errors_and_none() {
    let two = b"--b\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n\
--b\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n--b--\r\n";
    let ct: &[u8] = b"multipart/mixed; boundary=b";
    assert_eq!(find_sdp(Some(ct), two), Err(SdpError::MultipleSdp));

    let none = b"--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n\
--b\r\n\r\nno headers\r\n--b\r\nContent-Type: application/isup\r\n\r\nxx\r\n--b--\r\n";
    assert_eq!(find_sdp(Some(ct), none), Ok(None));

    // Nested multipart is not descended into.
    let nested = b"--b\r\nContent-Type: multipart/mixed; boundary=c\r\n\r\n\
--c\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n--c--\r\n--b--\r\n";
    assert_eq!(find_sdp(Some(ct), nested), Ok(None));

    // An SDP part with no content.
    let empty = b"--b\r\nContent-Type: application/sdp\r\n\r\n--b--\r\n";
    assert_eq!(find_sdp(Some(ct), empty), Ok(None));
    let headers_only = b"--b\r\nContent-Type: application/sdp\r\n--b--\r\n";
    assert_eq!(find_sdp(Some(ct), headers_only), Ok(None));

    let unclosed = b"--b\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n";
    assert_eq!(find_sdp(Some(ct), unclosed), Err(SdpError::BadMultipart));
    assert_eq!(find_sdp(Some(ct), b""), Err(SdpError::BadMultipart));
    for bad_ct in [
        &b"multipart/mixed"[..],
        b"multipart/mixed; boundary=",
        b"multipart/mixed; boundary=\"\"",
        b"multipart/mixed; boundary=\"unterminated",
        b"multipart/mixed; boundary=\"a\\\"b\"",
        b"multipart/mixed boundary=b",
    ] {
        assert_eq!(find_sdp(Some(bad_ct), two), Err(SdpError::BadMultipart));
    }
    // Valueless and other params before the boundary are fine.
    let r = find_sdp(
        Some(b"multipart/mixed; foo; type=\"a;b\"; boundary=b"),
        none,
    );
    assert_eq!(r, Ok(None));
}

// --- robustness -------------------------------------------------------

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn check_span(s: Span, len: usize) {
    assert!(s.start <= s.end && s.end <= len, "{s:?} len {len}");
}

fn check_net(n: NetAddr, len: usize) {
    check_span(n.addr, len);
    check_span(n.addr_type, len);
}

/// Parses `buf`; if accepted, every span must be in bounds and lines tile.
fn check_sdp(buf: &[u8]) -> bool {
    let Ok(sdp) = Sdp::parse(buf) else {
        return false;
    };
    let len = buf.len();
    let mut at = 0;
    for l in sdp.lines() {
        let s = l.span();
        check_span(s, len);
        assert_eq!(s.start, at);
        assert!(s.end > s.start);
        at = s.end;
        match l {
            Line::Origin {
                sess_version, net, ..
            } => {
                check_span(sess_version, len);
                check_net(net, len);
            }
            Line::Connection { net, .. } => check_net(net, len),
            Line::Media {
                media,
                port,
                proto,
                fmts,
                ..
            } => {
                for x in [media, port, proto, fmts] {
                    check_span(x, len);
                }
            }
            Line::Rtcp { port, net, .. } => {
                check_span(port, len);
                if let Some(n) = net {
                    check_net(n, len);
                }
            }
            _ => {}
        }
    }
    assert!(buf[at..].iter().all(|&c| c == b'\r' || c == b'\n'));
    let mut n = 0;
    for m in sdp.media() {
        assert_eq!(m.index, n);
        n += 1;
        for x in [m.line, m.section, m.media, m.port, m.proto] {
            check_span(x, len);
        }
        if let Some(c) = m.conn {
            check_net(c, len);
        }
        if let Some(c) = m.rtcp_addr {
            check_net(c, len);
        }
    }
    assert_eq!(n, sdp.media_count());
    true
}

const RICH: &[u8] = b"v=0\r\n\
o=bob 2808844564 2808844564 IN IP4 192.0.2.20\r\n\
s=-\r\n\
c=IN IP4 224.2.1.1/127/3\r\n\
t=0 0\r\n\
a=ice-lite\r\n\
a=sendonly\r\n\
m=audio 49170/2 RTP/AVP 0 8\r\n\
c=IN IP6 2001:db8::1\r\n\
a=rtcp:49171 IN IP4 192.0.2.20\r\n\
a=rtcp-mux\r\n\
a=candidate:1 1 UDP 2130706431 10.0.1.1 8998 typ host\r\n\
a=recvonly\r\n\
m=image 0 udptl t38\r\n\
a=inactive\n\
m=video 51372 UDP/TLS/RTP/SAVPF 99\r\n\
a=rtcp:51373\r\n\
a=end-of-candidates";

#[test]
fn pseudo_random_mutations_do_not_panic() {
    assert!(check_sdp(RICH));
    const SPICE: &[u8] = b" \r\n=/:0123456789.-aIPNm\0\xff";
    let ct: &[u8] = b"multipart/mixed;boundary=\"unique-boundary-1\"";
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let mut accepted = 0;
    for _ in 0..20_000 {
        let base = if rng.below(4) == 0 { MIXED } else { RICH };
        let mut buf = base.to_vec();
        for _ in 0..=rng.below(4) {
            let i = rng.below(buf.len());
            match rng.below(5) {
                0 => buf.truncate(i),
                1 if i < buf.len() => {
                    buf.remove(i);
                }
                2 => buf.insert(i, SPICE[rng.below(SPICE.len())]),
                3 if i < buf.len() => buf[i] = rng.next() as u8,
                _ if i < buf.len() => buf[i] = SPICE[rng.below(SPICE.len())],
                _ => {}
            }
        }
        if check_sdp(&buf) {
            accepted += 1;
        }
        let mut ct = ct.to_vec();
        if rng.below(4) == 0 {
            let i = rng.below(ct.len());
            ct[i] = SPICE[rng.below(SPICE.len())];
        }
        for ct in [Some(&ct[..]), None] {
            if let Ok(Some(r)) = find_sdp(ct, &buf) {
                assert!(r.start <= r.end && r.end <= buf.len());
                check_sdp(&buf[r]);
            }
        }
    }
    // The mutations must also reach the accepting paths.
    assert!(accepted > 1000, "only {accepted} accepted");
}

#[test]
fn stored_media_summaries_are_what_a_scan_gives() {
    let mut five =
        b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n".to_vec();
    for i in 0..5u16 {
        five.extend_from_slice(
            format!(
                "m=audio {} RTP/AVP 0\r\na=rtcp:{}\r\na=sendonly\r\n",
                4000 + 2 * i,
                4001 + 2 * i
            )
            .as_bytes(),
        );
    }
    for (buf, stored) in [(OFFER, true), (&five[..], false)] {
        let sdp = Sdp::parse(buf).unwrap();
        assert_eq!(sdp.media().count(), sdp.media_count());
        let kept: Vec<MediaInfo> = sdp.media().collect();
        let scanned: Vec<MediaInfo> = sdp.scan_media().collect();
        assert_eq!(kept, scanned);
        assert_eq!(sdp.media().stored.is_some(), stored);
    }
}
