//! Responses edgesip writes itself: stateless To-tags and the response to
//! a request, with its Vias, From, To, Call-ID and CSeq copied.

use super::cursor::{Cursor, Full};
use super::error::Error;
use super::header::HeaderName;
use super::message::{Message, MAX_HEADERS};
use super::scan::offset_in;
use crate::hmac::HmacKey;
use std::net::SocketAddr;

/// Length of a stateless To-tag in hex characters.
pub const TO_TAG_LEN: usize = 16;

/// What to answer.
#[derive(Debug, Clone, Copy)]
pub struct Reply<'r> {
    pub code: u16,
    pub reason: &'r [u8],
    /// Added to To when the request's To has no tag.
    pub to_tag: Option<&'r [u8]>,
    /// The request's source, for `received`/`rport` on the top Via
    /// (RFC 3581 §4).
    pub source: Option<SocketAddr>,
    /// Complete extra header lines, without CRLF.
    pub extra: &'r [&'r [u8]],
}

/// A keyed hash of Call-ID, From tag, CSeq number and top branch
/// (RFC 3261 §8.2.7): the same for every retransmission, so a stateless
/// element can recognise the ACK for its own response.
pub fn stateless_to_tag(key: &HmacKey, msg: &Message) -> [u8; TO_TAG_LEN] {
    let branch = msg
        .top_via()
        .and_then(|(_, v)| v.branch)
        .unwrap_or_default();
    to_tag_with_branch(key, msg, branch)
}

/// [`stateless_to_tag`] as if `branch` were the top Via's: a 503 made for
/// a request we forwarded gets the tag its sender's ACK will carry.
pub fn to_tag_with_branch(key: &HmacKey, msg: &Message, branch: &[u8]) -> [u8; TO_TAG_LEN] {
    let from_tag = msg.from().and_then(|f| f.tag()).unwrap_or_default();
    let num = msg.cseq().map_or(0, |c| c.num).to_be_bytes();
    let call_id = msg.call_id().unwrap_or_default();
    let d = key.mac(&[call_id, b"\0", from_tag, b"\0", &num, b"\0", branch]);
    let mut out = [0u8; TO_TAG_LEN];
    let mut c = Cursor::new(&mut out);
    // 8 bytes give 16 hex characters: the buffer fits exactly.
    let _ = c.put_hex(&d[..TO_TAG_LEN / 2]);
    out
}

/// The `Unsupported` line of a 420 (RFC 3261 §8.2.2.3, §16.3 step 5):
/// every option tag of `req`'s `of` header (Require or Proxy-Require), as
/// many as fit.
pub fn unsupported(c: &mut Cursor, req: &Message, of: HeaderName) -> Result<(), Full> {
    c.put(b"Unsupported: ")?;
    for (i, (_, opt)) in req.elements(of).enumerate() {
        if i > 0 {
            c.put(b", ")?;
        }
        c.put(opt)?;
    }
    Ok(())
}

/// Writes a response to `req` from scratch: its Vias, From, To (with a tag
/// when asked), Call-ID and CSeq, the extra lines, then `Content-Length: 0`.
/// Header lines are copied as written. Fails with [`Error::TooManyHeaders`]
/// when the response would hold more than [`MAX_HEADERS`] header lines
/// (a request with very many Vias): edgesip does not send what it would not
/// accept itself.
pub fn write_response(req: &Message, reply: &Reply, out: &mut [u8]) -> Result<usize, Error> {
    let singles = [
        HeaderName::From,
        HeaderName::To,
        HeaderName::CallId,
        HeaderName::CSeq,
    ];
    let lines = req.headers_named(HeaderName::Via).count()
        + singles.iter().filter(|n| req.header(**n).is_some()).count()
        + reply.extra.len()
        + 1;
    if lines > MAX_HEADERS {
        return Err(Error::TooManyHeaders);
    }
    let mut c = Cursor::new(out);
    write(req, reply, &mut c).map_err(|_| Error::OutOfSpace)?;
    Ok(c.len())
}

fn write(req: &Message, reply: &Reply, c: &mut Cursor) -> Result<(), Full> {
    c.put(b"SIP/2.0 ")?;
    c.put_u32(u32::from(reply.code))?;
    c.put(b" ")?;
    c.put(reply.reason)?;
    c.put(b"\r\n")?;
    let top = req.top_via();
    for (i, h) in req.headers().iter().enumerate() {
        if h.name != HeaderName::Via {
            continue;
        }
        match (top, reply.source) {
            (Some((ti, via)), Some(src)) if ti == i && via.needs_source_params(src) => {
                let at = offset_in(h.line, via.elem).ok_or(Full)?;
                let (head, rest) = h.line.split_at_checked(at).ok_or(Full)?;
                c.put(head)?;
                via.write_with_source(src, c)?;
                c.put(rest.get(via.elem.len()..).ok_or(Full)?)?;
            }
            _ => c.put(h.line)?,
        }
    }
    for name in [
        HeaderName::From,
        HeaderName::To,
        HeaderName::CallId,
        HeaderName::CSeq,
    ] {
        let Some(h) = req.header(name) else { continue };
        let add_tag = name == HeaderName::To
            && req.to().is_some_and(|t| t.tag().is_none())
            && reply.to_tag.is_some();
        match (add_tag, reply.to_tag) {
            (true, Some(tag)) => {
                let end = offset_in(h.line, h.value).ok_or(Full)? + h.value.len();
                let (head, tail) = h.line.split_at_checked(end).ok_or(Full)?;
                c.put(head)?;
                c.put(b";tag=")?;
                c.put(tag)?;
                c.put(tail)?;
            }
            _ => c.put(h.line)?,
        }
    }
    for line in reply.extra {
        c.put(line)?;
        c.put(b"\r\n")?;
    }
    c.put(b"Content-Length: 0\r\n\r\n")
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod test {
    use super::*;

    const REQ: &[u8] = b"OPTIONS sip:127.0.0.1 SIP/2.0\r\n\
v: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKa;rport\r\n\
Via: SIP/2.0/UDP 10.0.0.9;branch=z9hG4bKb\r\n\
Max-Forwards: 70\r\n\
f: <sip:alice@example.org>;tag=atag\r\n\
To:  <sip:bob@example.com>\r\n\
i: c1@uac\r\n\
CSeq: 7 OPTIONS\r\n\
Content-Length: 0\r\n\r\n";

    #[test]
    fn test_write_response_with_tag_and_source() {
        let m = Message::parse(REQ).unwrap();
        let mut out = [0u8; 1024];
        let reply = Reply {
            code: 483,
            reason: b"Too Many Hops",
            to_tag: Some(b"abc"),
            source: Some("127.0.0.1:4000".parse().unwrap()),
            extra: &[b"Retry-After: 5"],
        };
        let n = write_response(&m, &reply, &mut out).unwrap();
        assert_eq!(
            core::str::from_utf8(&out[..n]).unwrap(),
            "SIP/2.0 483 Too Many Hops\r\n\
v: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKa;rport=4000;received=127.0.0.1\r\n\
Via: SIP/2.0/UDP 10.0.0.9;branch=z9hG4bKb\r\n\
f: <sip:alice@example.org>;tag=atag\r\n\
To:  <sip:bob@example.com>;tag=abc\r\n\
i: c1@uac\r\n\
CSeq: 7 OPTIONS\r\n\
Retry-After: 5\r\n\
Content-Length: 0\r\n\r\n"
        );
        // The output parses as a valid response.
        let r = Message::parse(&out[..n]).unwrap();
        assert_eq!(r.status(), Some(483));
        assert_eq!(r.to().unwrap().tag(), Some(&b"abc"[..]));
    }

    #[test]
    fn test_existing_to_tag_is_kept_and_space_checked() {
        let raw = String::from_utf8(REQ.to_vec())
            .unwrap()
            .replace("<sip:bob@example.com>", "<sip:bob@example.com>;tag=x");
        let m = Message::parse(raw.as_bytes()).unwrap();
        let reply = Reply {
            code: 200,
            reason: b"OK",
            to_tag: Some(b"abc"),
            source: None,
            extra: &[],
        };
        let mut out = [0u8; 1024];
        let n = write_response(&m, &reply, &mut out).unwrap();
        let s = core::str::from_utf8(&out[..n]).unwrap();
        assert!(s.contains("To:  <sip:bob@example.com>;tag=x\r\n"));
        assert!(s.contains(";rport\r\n"));
        let mut small = [0u8; 40];
        assert_eq!(
            write_response(&m, &reply, &mut small),
            Err(Error::OutOfSpace)
        );
    }

    #[test]
    fn test_no_more_header_lines_than_a_parse_accepts() {
        // A request of MAX_HEADERS lines, all but four of them Vias: its
        // response has the Vias, From, To, Call-ID, CSeq, Content-Length.
        let mut raw = b"OPTIONS sip:a@b SIP/2.0\r\n".to_vec();
        for _ in 0..MAX_HEADERS - 4 {
            raw.extend_from_slice(b"Via: SIP/2.0/UDP h;branch=z9hG4bK1\r\n");
        }
        raw.extend_from_slice(
            b"f: <sip:x@y>;tag=1\r\nt: <sip:a@b>\r\ni: c\r\nCSeq: 1 OPTIONS\r\n\r\n",
        );
        let m = Message::parse(&raw).unwrap();
        assert_eq!(m.headers().len(), MAX_HEADERS);
        let mut out = vec![0u8; 16384];
        let mut reply = Reply {
            code: 200,
            reason: b"OK",
            to_tag: None,
            source: None,
            extra: &[b"Retry-After: 5"],
        };
        assert_eq!(
            write_response(&m, &reply, &mut out),
            Err(Error::TooManyHeaders)
        );
        reply.extra = &[];
        assert_eq!(
            write_response(&m, &reply, &mut out),
            Err(Error::TooManyHeaders)
        );
        // One Via fewer and the response fits exactly.
        let raw = String::from_utf8(raw.clone()).unwrap().replacen(
            "Via: SIP/2.0/UDP h;branch=z9hG4bK1\r\n",
            "",
            1,
        );
        let m = Message::parse(raw.as_bytes()).unwrap();
        let n = write_response(&m, &reply, &mut out).unwrap();
        let r = Message::parse(&out[..n]).unwrap();
        assert_eq!(r.headers().len(), MAX_HEADERS);
    }

    #[test]
    fn test_stateless_to_tag_is_stable() {
        let key = HmacKey::new(b"k");
        let m = Message::parse(REQ).unwrap();
        let t1 = stateless_to_tag(&key, &m);
        let t2 = stateless_to_tag(&key, &Message::parse(REQ).unwrap());
        assert_eq!(t1, t2);
        assert!(t1.iter().all(u8::is_ascii_hexdigit));
        let other = String::from_utf8(REQ.to_vec())
            .unwrap()
            .replace("CSeq: 7", "CSeq: 8");
        let m2 = Message::parse(other.as_bytes()).unwrap();
        assert_ne!(t1, stateless_to_tag(&key, &m2));
        assert_ne!(t1, stateless_to_tag(&HmacKey::new(b"k2"), &m));
    }
}
