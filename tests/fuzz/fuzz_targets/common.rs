//! Checks shared by the fuzz targets.

use edgesip::sdp::{find_sdp, Line, Sdp, Span};

/// Walks an SDP the way the NAT helper would and checks that every span the
/// view hands out lies inside the parsed slice.
pub fn exercise_sdp(content_type: Option<&[u8]>, body: &[u8]) {
    let Ok(Some(range)) = find_sdp(content_type, body) else {
        return;
    };
    let part = body
        .get(range.clone())
        .unwrap_or_else(|| panic!("find_sdp range {range:?} outside a body of {}", body.len()));
    let Ok(sdp) = Sdp::parse(part) else {
        return;
    };
    assert_eq!(sdp.as_bytes(), part);
    let _ = (sdp.session_connection(), sdp.session_direction());

    let in_bounds = |s: Span| {
        assert!(
            s.start <= s.end && s.end <= part.len(),
            "span {s:?} outside an SDP of {}",
            part.len()
        );
        s.of(part)
    };
    // Lines tile the body: each starts where the previous one ended.
    let mut next = 0;
    let mut media_lines = 0;
    for line in sdp.lines() {
        let span = line.span();
        assert_eq!(span.start, next, "lines do not tile the SDP");
        assert!(!span.is_empty());
        in_bounds(span);
        next = span.end;
        match line {
            Line::Origin {
                sess_version, net, ..
            } => {
                in_bounds(sess_version);
                in_bounds(net.addr);
                in_bounds(net.addr_type);
            }
            Line::Connection { net, .. } => {
                in_bounds(net.addr);
                in_bounds(net.addr_type);
                let _ = net.is_unspecified();
            }
            Line::Media {
                index,
                media,
                port,
                proto,
                fmts,
                ..
            } => {
                assert_eq!(index, media_lines);
                media_lines += 1;
                for s in [media, port, proto, fmts] {
                    in_bounds(s);
                }
            }
            Line::Rtcp { port, net, .. } => {
                in_bounds(port);
                if let Some(net) = net {
                    in_bounds(net.addr);
                    in_bounds(net.addr_type);
                }
            }
            Line::RtcpMux { .. }
            | Line::Direction { .. }
            | Line::Ice { .. }
            | Line::Other { .. } => {}
        }
    }
    // Only trailing blank lines may remain after the last line.
    assert!(part[next..].iter().all(|b| matches!(b, b'\r' | b'\n')));
    assert_eq!(media_lines, sdp.media_count());

    let mut count = 0;
    for m in sdp.media() {
        assert_eq!(m.index, count);
        count += 1;
        for s in [m.line, m.section, m.media, m.port, m.proto] {
            in_bounds(s);
        }
        assert!(m.section.start == m.line.start && m.section.end >= m.line.end);
        if let Some(c) = m.conn {
            in_bounds(c.addr);
        }
        if let Some(c) = m.rtcp_addr {
            in_bounds(c.addr);
        }
        let _ = (m.is_disabled(), m.is_old_hold(), m.direction, m.rtcp_port);
    }
    assert_eq!(count, sdp.media_count());
}
