//! The checks of the `parse_rewrite` fuzz target, shared with the
//! regression test `tests/fuzz_regressions.rs` (both include this file with
//! `#[path]`), so a finding replayed in `cargo test` meets exactly the
//! assertions that found it.
//!
//! Invariants checked by [`check_input`]:
//! - nothing panics on any input;
//! - a message that parses, rewritten the way the proxy rewrites it, still
//!   parses (a rewrite of a valid message stays valid), and the rewrite did
//!   what it was asked (new top Via, `received`/`rport` on the old one,
//!   Max-Forwards one less, new body);
//! - a response written for a message that parses also parses and carries a
//!   usable To tag.

#[path = "common.rs"]
mod common;

use edgesip::hmac::HmacKey;
use edgesip::sip::{
    stateless_to_tag, write_response, Error, HeaderName, HeaderPos, Message, Reply, Rewriter,
    MAX_DATAGRAM, MAX_EDITS, MAX_HEADERS,
};

use std::net::SocketAddr;
use std::sync::OnceLock;

const NEW_SDP: &[u8] = b"v=0\r\n\
o=- 1 2 IN IP4 192.0.2.1\r\n\
s=-\r\n\
c=IN IP4 192.0.2.1\r\n\
t=0 0\r\n\
m=audio 40000 RTP/AVP 0 8 101\r\n\
a=rtcp:40001\r\n\
a=sendrecv\r\n";

fn key() -> &'static HmacKey {
    static KEY: OnceLock<HmacKey> = OnceLock::new();
    KEY.get_or_init(|| HmacKey::new(b"edgesip fuzz key"))
}

/// A packet source; varied with the input so IPv4 and IPv6 both get used.
fn source(data: &[u8]) -> SocketAddr {
    let sources = ["127.0.0.1:4000", "[2001:db8::7]:5062", "10.0.0.5:5060"];
    let h = data
        .iter()
        .fold(0usize, |h, b| h.wrapping_mul(31) ^ *b as usize);
    sources[h % sources.len()].parse().unwrap()
}

fn exercise_accessors(m: &Message) {
    let _ = (
        m.start(),
        m.start_line(),
        m.is_request(),
        m.method(),
        m.status(),
    );
    let _ = (m.request_uri_raw(), m.request_uri(), m.call_id(), m.cseq());
    let _ = (m.from(), m.to(), m.max_forwards(), m.content_length());
    let _ = (m.content_type(), m.expires(), m.headers_end(), m.body());
    if let Some(u) = m.request_uri() {
        let _ = (u.is_sip(), u.has_lr(), u.ip(), u.port_or_default());
        let _ = (u.param_value(b"transport"), u.user_eq(b"alice"));
    }
    for a in [m.from(), m.to()].into_iter().flatten() {
        let _ = (a.tag(), a.expires(), a.uri.ip(), a.uri.port_or_default());
    }
    for (i, via) in m.vias() {
        assert_eq!(m.headers()[i].name, HeaderName::Via);
        let _ = (
            via.received_ip(),
            via.rport_value(),
            via.is_udp(),
            via.branch,
        );
    }
    for name in [
        HeaderName::Contact,
        HeaderName::Route,
        HeaderName::RecordRoute,
    ] {
        for (i, a) in m.addrs(name) {
            assert_eq!(m.headers()[i].name, name);
            let _ = (a.tag(), a.expires(), a.uri.has_lr(), a.uri.ip());
            assert!(m.offset_of(a.raw).is_some());
        }
    }
    // Parse guarantees the headers the proxy relies on are valid (mod.rs).
    assert!(m.top_via().is_some());
    assert!(m.from().is_some() && m.to().is_some() && m.cseq().is_some());
    assert_eq!(
        m.elements(HeaderName::Via).count(),
        m.vias().count(),
        "a Via element that validated does not parse"
    );
    for name in [HeaderName::Route, HeaderName::RecordRoute] {
        assert_eq!(m.elements(name).count(), m.addrs(name).count());
    }
    common::exercise_sdp(m.content_type(), m.body());
}

/// The rewrite the proxy does to a request it forwards, or to a response it
/// passes back. Returns the number of Vias the output should have.
fn rewrite(m: &Message, rw: &mut Rewriter, src: SocketAddr, flip: bool) -> Result<usize, Error> {
    let vias = m.vias().count();
    let (vi, top) = m.top_via().expect("validated");
    // Stays valid whatever the body was; also fixes Content-Length.
    rw.replace_body(NEW_SDP)?;
    if let Some((_, contact)) = m.addrs(HeaderName::Contact).next() {
        rw.replace(contact.uri.raw, |c| c.put(b"sip:tOkEn@192.0.2.1:5060"))?;
    }
    if !m.is_request() {
        // Pop our own Via when another one remains.
        if vias >= 2 {
            rw.remove_leading(vi, 1)?;
            return Ok(vias - 1);
        }
        return Ok(vias);
    }
    // received/rport on the top Via, once by rewriting the element, once
    // with set_via_param, depending on the input.
    if top.needs_source_params(src) {
        if flip {
            rw.replace(top.elem, |c| top.write_with_source(src, c))?;
        } else {
            if top.rport.is_some() {
                rw.set_via_param(&top, b"rport", |c| c.put_u32(src.port().into()))?;
            }
            rw.set_via_param(&top, b"received", |c| {
                c.put_fmt(format_args!("{}", src.ip()))
            })?;
        }
    }
    let branch = key().mac(&[
        top.branch.unwrap_or_default(),
        m.call_id().unwrap_or_default(),
    ]);
    rw.insert_header(HeaderPos::Before(vi), b"Via", |c| {
        c.put(b"SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK")?;
        c.put_hex(&branch[..8])?;
        c.put(b";rport")
    })?;
    rw.insert_header(HeaderPos::Top, b"Record-Route", |c| {
        c.put(b"<sip:192.0.2.1:5060;lr>")
    })?;
    // Decrement every Max-Forwards line: parse accepts repeats with the same
    // value, and decrementing only the first would make the output a
    // Conflict (a proxy must do the same).
    if let Some(mf) = m.max_forwards().filter(|n| *n > 0) {
        for (i, h) in m.headers().iter().enumerate() {
            if h.name == HeaderName::MaxForwards {
                rw.replace_value(i, |c| c.put_u32(mf - 1))?;
            }
        }
    }
    // Pop the first Route element (loose routing, the proxy's own URI).
    if let Some((ri, _)) = m.elements(HeaderName::Route).next() {
        rw.remove_leading(ri, 1)?;
    }
    Ok(vias + 1)
}

/// Runs one input through every check. `out` and `resp` are send buffers
/// of at least [`MAX_DATAGRAM`] bytes. Returns whether the input parsed.
pub fn check_input(data: &[u8], out: &mut [u8], resp: &mut [u8]) -> bool {
    if data.len() > MAX_DATAGRAM {
        return false;
    }
    let Ok(m) = Message::parse(data) else {
        // The framing-only parse must not panic either.
        if let Ok(m) = Message::parse_unchecked(data) {
            let _ = (m.vias().count(), m.from(), m.to(), m.cseq(), m.call_id());
        }
        return false;
    };
    exercise_accessors(&m);
    check(data, &m, out, resp);
    true
}

fn check(data: &[u8], m: &Message, out: &mut [u8], resp: &mut [u8]) {
    let src = source(data);
    let mut rw = Rewriter::new(m);
    let flip = data.len().is_multiple_of(2);
    let want_vias = match rewrite(m, &mut rw, src, flip) {
        Ok(n) => n,
        // Every copy of a repeated Content-Length or Max-Forwards is an edit;
        // with them the rewrite makes at most seven more (body, Contact, two
        // for the old top Via, new Via, Record-Route, Route), and a rewriter
        // holds MAX_EDITS.
        Err(Error::OutOfSpace) => {
            let copies = m.headers_named(HeaderName::ContentLength).count()
                + m.headers_named(HeaderName::MaxForwards).count();
            assert!(copies + 7 > MAX_EDITS, "rewrite out of space");
            return;
        }
        Err(e) => panic!("rewrite failed: {e:?}"),
    };
    let n = match rw.emit(out) {
        Ok(n) => n,
        // The rewrite adds up to three header lines (Via, Record-Route,
        // Content-Length); emit refuses more lines than a parse accepts.
        Err(Error::TooManyHeaders) => {
            assert!(
                m.headers().len() + 3 > MAX_HEADERS,
                "emit: too many headers"
            );
            return;
        }
        // Only a datagram close to 64 KiB may not fit once edits grow it.
        Err(e) => {
            assert!(data.len() > MAX_DATAGRAM - 1024, "emit failed: {e:?}");
            return;
        }
    };
    let out = &out[..n];
    let r = match Message::parse(out) {
        Ok(r) => r,
        Err(e) => panic!(
            "rewritten message does not parse: {e:?}\n--- in ---\n{}\n--- out ---\n{}",
            String::from_utf8_lossy(data),
            String::from_utf8_lossy(out)
        ),
    };
    assert_eq!(r.is_request(), m.is_request());
    assert_eq!(r.vias().count(), want_vias);
    assert_eq!(r.body(), NEW_SDP);
    assert_eq!(r.call_id(), m.call_id());
    assert_eq!(r.cseq(), m.cseq());
    if m.is_request() {
        let (_, v) = r.top_via().unwrap();
        assert_eq!(v.host, b"192.0.2.1");
        let (_, old) = r.vias().nth(1).unwrap();
        // The old top Via now carries the source when RFC 3581 asks for it.
        assert!(
            !old.needs_source_params(src),
            "{:?}",
            String::from_utf8_lossy(old.elem)
        );
        if let Some(mf) = m.max_forwards().filter(|n| *n > 0) {
            assert_eq!(r.max_forwards(), Some(mf - 1));
        }
    }

    // --- stateless response ---
    let tag = stateless_to_tag(key(), m);
    let extra: &[&[u8]] = &[b"Retry-After: 5"];
    let reply = Reply {
        code: if m.max_forwards() == Some(0) {
            483
        } else {
            200
        },
        reason: b"Whatever",
        to_tag: Some(&tag),
        source: Some(src),
        extra,
    };
    let n = match write_response(m, &reply, resp) {
        Ok(n) => n,
        // Vias, From, To, Call-ID, CSeq, the extra line and Content-Length.
        Err(Error::TooManyHeaders) => {
            let lines = m.headers_named(HeaderName::Via).count() + 4 + extra.len() + 1;
            assert!(lines > MAX_HEADERS, "write_response: too many headers");
            return;
        }
        Err(e) => {
            assert!(
                data.len() > MAX_DATAGRAM - 1024,
                "write_response failed: {e:?}"
            );
            return;
        }
    };
    let resp = &resp[..n];
    match Message::parse(resp) {
        Ok(r) => {
            assert_eq!(r.status(), Some(reply.code));
            assert_eq!(r.vias().count(), m.vias().count());
            // The request's To tag when it had one, else ours.
            let want: &[u8] = m.to().and_then(|t| t.tag()).unwrap_or(&tag);
            assert_eq!(
                r.to().unwrap().tag(),
                Some(want),
                "response To does not carry the expected tag"
            );
            let (_, v) = r.top_via().unwrap();
            assert!(!v.needs_source_params(src));
        }
        Err(e) => panic!(
            "response does not parse: {e:?}\n--- in ---\n{}\n--- out ---\n{}",
            String::from_utf8_lossy(data),
            String::from_utf8_lossy(resp)
        ),
    };
}
