//! Just enough SIP for a load generator: header lookup (full and compact
//! names, any case), the start line, and the bits of URIs a UA needs.

/// The start line: `Some(status)` for a response, `None` for a request.
pub fn status(msg: &[u8]) -> Option<u16> {
    let rest = msg.strip_prefix(b"SIP/2.0 ")?;
    let code = rest.get(..3)?;
    std::str::from_utf8(code).ok()?.parse().ok()
}

/// The method of a request (the first word).
pub fn method(msg: &[u8]) -> &[u8] {
    let end = msg.iter().position(|&c| c == b' ').unwrap_or(0);
    &msg[..end]
}

/// The header section's lines (without CRLF), first line excluded, up to
/// the empty line; handles LF-only line ends too.
pub fn header_lines(msg: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut lines = msg
        .split(|&c| c == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    lines.next();
    lines.take_while(|l| !l.is_empty())
}

/// The body (after the empty line).
pub fn body(msg: &[u8]) -> &[u8] {
    if let Some(i) = find(msg, b"\r\n\r\n") {
        return &msg[i + 4..];
    }
    if let Some(i) = find(msg, b"\n\n") {
        return &msg[i + 2..];
    }
    &[]
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Splits a header line into (name, value), the value trimmed.
pub fn split_header(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let c = line.iter().position(|&b| b == b':')?;
    let name = trim(&line[..c]);
    let value = trim(&line[c + 1..]);
    Some((name, value))
}

pub fn trim(s: &[u8]) -> &[u8] {
    let a = s
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(s.len());
    let b = s
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(a, |i| i + 1);
    &s[a..b]
}

/// Whether header `name` is `full` or its compact form.
pub fn is(name: &[u8], full: &str, compact: Option<u8>) -> bool {
    name.eq_ignore_ascii_case(full.as_bytes())
        || (compact.is_some()
            && name.len() == 1
            && name[0].eq_ignore_ascii_case(&compact.unwrap_or(0)))
}

pub fn compact_of(full: &str) -> Option<u8> {
    match full.to_ascii_lowercase().as_str() {
        "via" => Some(b'v'),
        "from" => Some(b'f'),
        "to" => Some(b't'),
        "call-id" => Some(b'i'),
        "contact" => Some(b'm'),
        "content-length" => Some(b'l'),
        "content-type" => Some(b'c'),
        _ => None,
    }
}

/// The first value of header `full` (or its compact form).
pub fn header<'a>(msg: &'a [u8], full: &str) -> Option<&'a [u8]> {
    let c = compact_of(full);
    header_lines(msg)
        .filter_map(split_header)
        .find(|(n, _)| is(n, full, c))
        .map(|(_, v)| v)
}

/// Every value of header `full`, each comma-separated element apart
/// (commas inside `<>` or quotes do not split).
pub fn header_elements<'a>(msg: &'a [u8], full: &str) -> Vec<&'a [u8]> {
    let c = compact_of(full);
    let mut out = Vec::new();
    for (n, v) in header_lines(msg).filter_map(split_header) {
        if !is(n, full, c) {
            continue;
        }
        let (mut depth, mut quote, mut start) = (0i32, false, 0usize);
        for (i, &b) in v.iter().enumerate() {
            match b {
                b'"' => quote = !quote,
                b'<' if !quote => depth += 1,
                b'>' if !quote => depth -= 1,
                b',' if !quote && depth == 0 => {
                    out.push(trim(&v[start..i]));
                    start = i + 1;
                }
                _ => {}
            }
        }
        out.push(trim(&v[start..]));
    }
    out
}

/// The URI of a name-addr (`"x" <sip:a@b;p>;q` gives `sip:a@b;p`) or of an
/// addr-spec (`sip:a@b;q` gives `sip:a@b`).
pub fn uri_of(v: &[u8]) -> &[u8] {
    if let Some(a) = v.iter().position(|&c| c == b'<') {
        let rest = &v[a + 1..];
        let b = rest.iter().position(|&c| c == b'>').unwrap_or(rest.len());
        return &rest[..b];
    }
    let end = v
        .iter()
        .position(|&c| c == b';' || c == b' ')
        .unwrap_or(v.len());
    &v[..end]
}

/// The host:port of a sip: URI as an IPv4 socket address (port 5060 when
/// absent), if it is an IP literal.
pub fn uri_addr(uri: &[u8]) -> Option<std::net::SocketAddrV4> {
    let s = std::str::from_utf8(uri).ok()?;
    let s = s.strip_prefix("sip:").or_else(|| s.strip_prefix("SIP:"))?;
    let s = s.rsplit_once('@').map_or(s, |(_, h)| h);
    let hp = s.split([';', '?', '>']).next()?;
    let (h, p) = match hp.split_once(':') {
        Some((h, p)) => (h, p.parse().ok()?),
        None => (hp, 5060),
    };
    Some(std::net::SocketAddrV4::new(h.parse().ok()?, p))
}

/// The leading decimal number of a value (`"42-x@y"` gives 42).
pub fn leading_num(v: &[u8]) -> Option<u64> {
    let end = v
        .iter()
        .position(|c| !c.is_ascii_digit())
        .unwrap_or(v.len());
    if end == 0 {
        return None;
    }
    std::str::from_utf8(&v[..end]).ok()?.parse().ok()
}

/// The CSeq method (`"1 INVITE"` gives `INVITE`).
pub fn cseq_method(msg: &[u8]) -> &[u8] {
    header(msg, "CSeq")
        .and_then(|v| v.split(|&c| c == b' ').filter(|w| !w.is_empty()).nth(1))
        .unwrap_or(b"")
}

/// The first `c=IN IP4` address and `m=audio` port of an SDP body.
pub fn sdp_media(body: &[u8]) -> Option<std::net::SocketAddrV4> {
    let text = std::str::from_utf8(body).ok()?;
    let ip = text
        .lines()
        .find_map(|l| l.trim_end().strip_prefix("c=IN IP4 "))?;
    let port = text
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|r| r.split(' ').next())?;
    Some(std::net::SocketAddrV4::new(
        ip.trim().parse().ok()?,
        port.parse().ok()?,
    ))
}

/// An SDP body offering/answering PCMU/PCMA/telephone-event at `ip:port`.
pub fn sdp(ip: &std::net::Ipv4Addr, port: u16, sess: u64) -> String {
    format!(
        "v=0\r\no=- {sess} 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n\
m=audio {port} RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n"
    )
}

/// A response echoing what RFC 3261 §8.2.6 says a UAS copies: every Via
/// and Record-Route line, From, To (with `to_tag` added when the request
/// had none), Call-ID and CSeq; then `extra` header lines (each ending in
/// CRLF) and `body`.
pub fn response(
    out: &mut Vec<u8>,
    req: &[u8],
    status: &str,
    to_tag: &str,
    extra: &str,
    body: &str,
) {
    out.clear();
    out.extend_from_slice(b"SIP/2.0 ");
    out.extend_from_slice(status.as_bytes());
    out.extend_from_slice(b"\r\n");
    for line in header_lines(req) {
        let Some((n, v)) = split_header(line) else {
            continue;
        };
        if is(n, "Via", Some(b'v'))
            || n.eq_ignore_ascii_case(b"Record-Route")
            || is(n, "From", Some(b'f'))
            || is(n, "Call-ID", Some(b'i'))
            || n.eq_ignore_ascii_case(b"CSeq")
        {
            out.extend_from_slice(line);
            out.extend_from_slice(b"\r\n");
        } else if is(n, "To", Some(b't')) {
            out.extend_from_slice(line);
            if !to_tag.is_empty() && find(v, b";tag=").is_none() {
                out.extend_from_slice(b";tag=");
                out.extend_from_slice(to_tag.as_bytes());
            }
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(extra.as_bytes());
    if !body.is_empty() {
        out.extend_from_slice(b"Content-Type: application/sdp\r\n");
    }
    out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
    out.extend_from_slice(body.as_bytes());
}

#[cfg(test)]
mod test {
    use super::*;

    const OK: &[u8] = b"SIP/2.0 200 OK\r\nv: SIP/2.0/UDP 1.2.3.4;branch=z9hG4bKx\r\n\
Record-Route: <sip:127.0.0.2:5060;lr>, <sip:127.0.0.1:5060;lr>\r\n\
record-route: <sip:127.0.0.9;lr>\r\nTo: <sip:b@x>;tag=9\r\ni: 17-3@lg\r\n\
CSeq: 1 INVITE\r\nm: <sip:bXYZ@127.0.0.1:5070;transport=udp>;expires=3\r\nl: 0\r\n\r\n";

    #[test]
    fn parses_what_a_uac_needs() {
        assert_eq!(status(OK), Some(200));
        assert_eq!(cseq_method(OK), b"INVITE");
        assert_eq!(leading_num(header(OK, "Call-ID").unwrap()), Some(17));
        let rr = header_elements(OK, "Record-Route");
        assert_eq!(rr.len(), 3);
        assert_eq!(rr[1], b"<sip:127.0.0.1:5060;lr>");
        let c = uri_of(header(OK, "Contact").unwrap());
        assert_eq!(c, b"sip:bXYZ@127.0.0.1:5070;transport=udp");
        assert_eq!(uri_addr(c), Some("127.0.0.1:5070".parse().unwrap()));
        assert_eq!(
            uri_addr(uri_of(rr[2])),
            Some("127.0.0.9:5060".parse().unwrap())
        );
        let mut out = Vec::new();
        let req = b"BYE sip:x SIP/2.0\r\nVia: a\r\nVia: b\r\nTo: <sip:b@x>\r\nFrom: f\r\nCall-ID: 1\r\nCSeq: 2 BYE\r\nMax-Forwards: 69\r\n\r\n";
        response(&mut out, req, "200 OK", "t1", "", "");
        assert_eq!(
            out,
            b"SIP/2.0 200 OK\r\nVia: a\r\nVia: b\r\nTo: <sip:b@x>;tag=t1\r\nFrom: f\r\nCall-ID: 1\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
        );
        let b = sdp(&"127.0.0.3".parse().unwrap(), 4000, 1);
        assert_eq!(
            sdp_media(b.as_bytes()),
            Some("127.0.0.3:4000".parse().unwrap())
        );
    }
}
