//! The checks on every outcome of [`Proxy::handle`] (and of
//! [`Proxy::poll_parked`] and [`Proxy::relay`]):
//!
//! - **Forwarded**: the datagram re-parses under the strict validator
//!   (`Message::parse`); every header line the proxy is not documented to
//!   change is byte-identical and in order (all but Via, Record-Route,
//!   Route, Max-Forwards, Contact and Content-Length, and of those, every
//!   Via line but the top one, every Record-Route that was there, every
//!   Route element that was not popped, every Contact's display name and
//!   header parameters); our Via is on top and says the outgoing leg, the
//!   old top Via carries `received`/`rport` as RFC 3581 asks;
//!   Max-Forwards is one less, or 70 when it was missing; the Request-URI
//!   changes only for a token, a registrar user or strict routing; a
//!   response lost exactly our Via; the body is the same bytes unless the
//!   NAT helper rewrote an SDP crossing legs (then it parses, has no ICE
//!   lines, and only ports in the relay range and the leg's media IP are
//!   new); Content-Length is the body's length. From a public leg: a
//!   request out of a trusted leg only; requests and responses only to an
//!   address the [`Oracle`] allows.
//! - **Answered**: back to the source through the leg it came in on, never
//!   to an ACK or a response; it parses (strictly, unless it answers a
//!   malformed request, whose Vias it must echo); From, Call-ID, CSeq and
//!   every Via line but the top one's are copied byte for byte, To gets a
//!   tag; a STUN answer maps the source exactly. 500 only for a Contact
//!   too long for a token.
//! - **Dropped**: never for overlapping edits (a bug the rewriter reports
//!   instead of panicking).
//! - **Relayed** media leaves from a relay socket that is open, as it came,
//!   never to one of our own sockets, port 0 or an unspecified address.

use super::oracle::Oracle;
use super::setup::{FakeSockets, RELAY_HI, RELAY_LO};
use edgesip::limits::MAX_TOKEN_CONTACT;
use edgesip::output::{Outcome, Socket, Transmit, Why};
use edgesip::proxy::{Proxy, Tokens};
use edgesip::sdp::{find_sdp, Line, Sdp};
use edgesip::sip::{parse_ip, Elements, Error, HeaderName, Message, NameAddr, Scheme, Uri};
use std::net::{IpAddr, SocketAddr};

/// One datagram as it was handed to the proxy.
pub struct Input<'a> {
    pub leg: usize,
    pub src: SocketAddr,
    pub data: &'a [u8],
}

type Check = Result<(), String>;

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Checks what became of `input`; `out` is the proxy's output buffer.
pub fn check(proxy: &Proxy, oracle: &Oracle, input: &Input, o: &Outcome, out: &[u8]) -> Check {
    if let Some(tx) = o.transmit() {
        ensure!(tx.len <= out.len(), "transmit of {} bytes", tx.len);
        let Socket::Leg(l) = tx.socket else {
            return Err(format!("a SIP outcome from {:?}", tx.socket));
        };
        ensure!(l < proxy.legs().len(), "sent from leg {l}");
    }
    match *o {
        Outcome::Dropped(why) => dropped(why),
        Outcome::Answered { tx, code, why } => answered(input, tx, code, why, &out[..tx.len]),
        Outcome::Forwarded { tx, .. } => forwarded(proxy, oracle, input, tx, &out[..tx.len]),
    }
}

fn dropped(why: Why) -> Check {
    ensure!(
        !matches!(why, Why::Unforwardable(Error::Overlap)),
        "overlapping edits"
    );
    ensure!(why != Why::Stun, "a STUN answer that did not fit");
    Ok(())
}

fn lines<'a>(m: &Message<'a>, name: HeaderName) -> Vec<&'a [u8]> {
    m.headers_named(name).map(|h| h.line).collect()
}

fn answered(input: &Input, tx: Transmit, code: u16, why: Why, out: &[u8]) -> Check {
    ensure!(
        tx.socket == Socket::Leg(input.leg) && tx.dst == input.src,
        "an answer not back to the source: {tx:?}"
    );
    if why == Why::Stun {
        ensure!(code == 0, "STUN answer with code {code}");
        return stun_answer(input.data, input.src, out);
    }
    ensure!((100..700).contains(&code), "status {code}");
    let strict = Message::parse(input.data);
    let req = match &strict {
        Ok(m) => m.clone(),
        Err(_) => Message::parse_unchecked(input.data)
            .map_err(|e| format!("answered a datagram that does not even frame: {e:?}"))?,
    };
    ensure!(req.is_request(), "answered a response");
    ensure!(!req.is_method(b"ACK"), "answered an ACK");
    // Our answer to a malformed request echoes its Vias as they were.
    let resp = match Message::parse(out) {
        Ok(r) => r,
        Err(e) if matches!(why, Why::Malformed(_)) => Message::parse_unchecked(out)
            .map_err(|_| format!("answer to a malformed request does not frame: {e:?}"))?,
        Err(e) => return Err(format!("our answer does not parse: {e:?}")),
    };
    ensure!(resp.status() == Some(code), "answer's status line");
    if why == Why::Internal {
        let long = req
            .addrs(HeaderName::Contact)
            .any(|(_, c)| c.uri.raw.len() > 4 + MAX_TOKEN_CONTACT);
        ensure!(long, "500 without a Contact too long for a token");
    }
    for name in [HeaderName::From, HeaderName::CallId, HeaderName::CSeq] {
        ensure!(
            resp.header(name).map(|h| h.line) == req.header(name).map(|h| h.line),
            "{} not copied",
            name.as_str()
        );
    }
    if strict.is_ok() {
        ensure!(
            resp.to().and_then(|t| t.tag()).is_some(),
            "answer without To tag"
        );
        if req.to().and_then(|t| t.tag()).is_some() {
            ensure!(
                resp.header(HeaderName::To).map(|h| h.line)
                    == req.header(HeaderName::To).map(|h| h.line),
                "To with a tag not copied"
            );
        }
        let (_, top) = resp.top_via().ok_or("answer without Via")?;
        ensure!(
            !top.needs_source_params(input.src),
            "answer's top Via lacks received/rport"
        );
    }
    // Every Via line is copied, but the one whose element `top_via` reads
    // gets received/rport (in a malformed request that may be a lower
    // one, when the first does not parse; the answer goes to the source
    // either way).
    let top = req.top_via().map(|(i, _)| i);
    let a: Vec<(usize, &[u8])> = req
        .headers()
        .iter()
        .enumerate()
        .filter(|(_, h)| h.name == HeaderName::Via)
        .map(|(i, h)| (i, h.line))
        .collect();
    let b = lines(&resp, HeaderName::Via);
    ensure!(
        a.len() == b.len()
            && a.iter()
                .zip(&b)
                .all(|((i, x), y)| Some(*i) == top || x == y),
        "answer's Vias are not the request's"
    );
    Ok(())
}

/// A STUN Binding success for `req` from `src`: type, length, cookie,
/// transaction ID, XOR-MAPPED-ADDRESS giving back `src`.
pub fn stun_answer(req: &[u8], src: SocketAddr, out: &[u8]) -> Check {
    ensure!(out.len() >= 20, "STUN answer of {} bytes", out.len());
    ensure!(out[..2] == [1, 1], "STUN answer type {:?}", &out[..2]);
    let len = usize::from(u16::from_be_bytes([out[2], out[3]]));
    ensure!(len + 20 == out.len(), "STUN length {len} for {}", out.len());
    ensure!(out[4..8] == [0x21, 0x12, 0xA4, 0x42], "STUN cookie");
    ensure!(out[8..20] == req[8..20], "STUN transaction ID");
    let attr = &out[20..];
    ensure!(
        attr.len() >= 8 && attr[..2] == [0, 0x20],
        "no XOR-MAPPED-ADDRESS"
    );
    let alen = usize::from(u16::from_be_bytes([attr[2], attr[3]]));
    ensure!(alen + 4 == attr.len(), "attribute length {alen}");
    let port = u16::from_be_bytes([attr[6], attr[7]]) ^ 0x2112;
    let mut mask = [0u8; 16];
    mask[..4].copy_from_slice(&out[4..8]);
    mask[4..].copy_from_slice(&out[8..20]);
    let ip = match (attr[5], alen) {
        (1, 8) => {
            let mut a = [0u8; 4];
            for i in 0..4 {
                a[i] = attr[8 + i] ^ mask[i];
            }
            IpAddr::from(a)
        }
        (2, 20) => {
            let mut a = [0u8; 16];
            for i in 0..16 {
                a[i] = attr[8 + i] ^ mask[i];
            }
            IpAddr::from(a)
        }
        (f, l) => return Err(format!("address family {f} in {l} bytes")),
    };
    ensure!(
        SocketAddr::new(ip, port) == src,
        "STUN maps {ip}:{port}, not {src}"
    );
    Ok(())
}

/// Header names whose lines a forwarded message may change.
fn may_change(name: HeaderName, request: bool) -> bool {
    match name {
        HeaderName::Via | HeaderName::Contact | HeaderName::ContentLength => true,
        HeaderName::RecordRoute | HeaderName::Route | HeaderName::MaxForwards => request,
        _ => false,
    }
}

fn untouched<'a>(m: &Message<'a>, request: bool) -> Vec<&'a [u8]> {
    m.headers()
        .iter()
        .filter(|h| !may_change(h.name, request))
        .map(|h| h.line)
        .collect()
}

fn forwarded(proxy: &Proxy, oracle: &Oracle, input: &Input, tx: Transmit, out: &[u8]) -> Check {
    let legs = proxy.legs();
    let out_leg = tx.out_leg().ok_or("forwarded from no leg")?;
    let m = Message::parse(input.data)
        .map_err(|e| format!("forwarded a datagram that does not parse: {e:?}"))?;
    let r = Message::parse(out).map_err(|e| format!("forwarded datagram does not parse: {e:?}"))?;
    ensure!(r.is_request() == m.is_request(), "request became response");
    // What is forwarded says how long its body is, and ends there.
    let body_at = r.offset_of(r.body()).unwrap_or(out.len());
    ensure!(
        r.content_length() == Some(r.body().len() as u32) && body_at + r.body().len() == out.len(),
        "Content-Length {:?} for a body of {} bytes",
        r.content_length(),
        r.body().len()
    );
    ensure!(
        r.headers_named(HeaderName::ContentLength).count() == 1,
        "Content-Length lines"
    );
    let (a, b) = (untouched(&m, m.is_request()), untouched(&r, m.is_request()));
    if a != b {
        let first = a
            .iter()
            .zip(&b)
            .find(|(x, y)| x != y)
            .map(|(x, y)| format!("{:?} became {:?}", text(x), text(y)));
        return Err(format!(
            "header lines changed that the proxy must copy ({} lines, now {}): {}",
            a.len(),
            b.len(),
            first.unwrap_or_else(|| "lines added or removed".into())
        ));
    }
    let crossed = input.leg != out_leg;
    if m.is_request() {
        request(proxy, input, out_leg, &m, &r)?;
    } else {
        response(&m, &r)?;
    }
    contacts(proxy, &m, &r, crossed)?;
    body(proxy, &m, &r, crossed, out_leg)?;
    if !legs[input.leg].trusted {
        // A request never goes public to public. A response goes where the
        // Via below ours says, which our branch MAC vouches for: a response
        // to a request that came from the public leg may come back in on
        // it too (the proxy does not tie a response to the leg its request
        // went out by), and then it goes back out there, to the requester.
        ensure!(
            legs[out_leg].trusted || !m.is_request(),
            "from public leg {} out of public leg {out_leg}",
            input.leg
        );
        ensure!(
            oracle.allows(proxy, out_leg, tx.dst, !m.is_request()),
            "from public leg {} to {}, which no trusted party named",
            input.leg,
            tx.dst
        );
    }
    Ok(())
}

fn request(proxy: &Proxy, input: &Input, out_leg: usize, m: &Message, r: &Message) -> Check {
    let legs = proxy.legs();
    let (ol, il) = (&legs[out_leg], &legs[input.leg]);
    ensure!(r.method() == m.method(), "method changed");
    // The version is case-insensitive (RFC 3261 §25.1) and kept as it came.
    let line = r.start_line();
    ensure!(
        line.len() > 10 && line[line.len() - 10..].eq_ignore_ascii_case(b" SIP/2.0\r\n"),
        "version"
    );
    let (a, b) = (m.request_uri_raw(), r.request_uri_raw());
    if a != b {
        let ruri = m.request_uri().ok_or("no Request-URI")?;
        ensure!(
            ruri_may_change(proxy, &ruri, m),
            "Request-URI {:?} became {:?}",
            text(a.unwrap_or_default()),
            text(b.unwrap_or_default())
        );
    }

    // Vias: ours on top, the old top one with received/rport, the rest
    // as they were.
    let (va, vb) = (lines(m, HeaderName::Via), lines(r, HeaderName::Via));
    let ours = format!("Via: SIP/2.0/UDP {};branch=z9hG4bKeS", ol.adv_text);
    ensure!(
        vb.len() == va.len() + 1 && vb[0].starts_with(ours.as_bytes()),
        "our Via is not on top: {:?}",
        vb.first().map(|v| text(v))
    );
    ensure!(vb[2..] == va[1..], "Via lines below the top changed");
    let (_, old) = r.vias().nth(1).ok_or("old top Via")?;
    ensure!(
        !old.needs_source_params(input.src),
        "old top Via without received/rport: {:?}",
        text(old.elem)
    );
    let (_, was) = m.top_via().ok_or("no top Via")?;
    ensure!(
        old.sent_by == was.sent_by && old.branch == was.branch,
        "old top Via lost its sent-by or branch"
    );

    // Max-Forwards: one less, or 70.
    let want = m.max_forwards().map_or(70, |n| n - 1);
    ensure!(
        r.headers_named(HeaderName::MaxForwards).count()
            == m.headers_named(HeaderName::MaxForwards).count().max(1)
            && r.max_forwards() == Some(want),
        "Max-Forwards {:?}, want {want}",
        r.max_forwards()
    );

    // Record-Route: ours on top of those that were there, none for
    // REGISTER or in a dialog.
    let in_dialog = m.to().and_then(|t| t.tag()).is_some();
    let mut rr: Vec<Vec<u8>> = Vec::new();
    if !m.is_method(b"REGISTER") && !in_dialog {
        for l in [ol, il]
            .iter()
            .take(if input.leg == out_leg { 1 } else { 2 })
        {
            rr.push(format!("Record-Route: <sip:{};lr>\r\n", l.adv_text).into_bytes());
        }
    }
    rr.extend(lines(m, HeaderName::RecordRoute).iter().map(|l| l.to_vec()));
    let got: Vec<Vec<u8>> = lines(r, HeaderName::RecordRoute)
        .iter()
        .map(|l| l.to_vec())
        .collect();
    ensure!(
        got == rr,
        "Record-Route {:?}, want {:?}",
        got.iter().map(|l| text(l)).collect::<Vec<_>>(),
        rr.iter().map(|l| text(l)).collect::<Vec<_>>()
    );

    // Route: at most two popped from the top, at most the last one taken
    // by strict routing; the others as they were.
    let ea: Vec<&[u8]> = m.elements(HeaderName::Route).map(|(_, e)| e).collect();
    let eb: Vec<&[u8]> = r.elements(HeaderName::Route).map(|(_, e)| e).collect();
    let fits = (0..=2.min(ea.len()))
        .any(|k| (0..=1).any(|s| ea.len() >= k + s && ea[k..ea.len() - s] == eb[..]));
    ensure!(fits, "Route elements {:?} became {:?}", ea.len(), eb.len());
    for h in r.headers_named(HeaderName::Route) {
        ensure!(
            Elements::new(h.value).count() > 0,
            "an empty Route line left behind"
        );
    }
    Ok(())
}

/// A Request-URI changes only for a token, a user at our registrar's
/// domain or one of our addresses, or strict routing (our own URI).
fn ruri_may_change(proxy: &Proxy, ruri: &Uri, m: &Message) -> bool {
    let legs = proxy.legs();
    let own = legs
        .iter()
        .any(|l| l.is_own(ruri.host, ruri.port_or_default()))
        || parse_ip(ruri.host).is_some_and(|ip| legs.iter().any(|l| l.addr.ip() == ip));
    let host = ruri.host.to_ascii_lowercase();
    let domain = super::setup::DOMAIN.as_bytes();
    let ours = host == domain || host.ends_with(&[b".", domain].concat());
    (own || ours || Tokens::is_candidate(legs, ruri)) && m.request_uri().is_some()
}

fn response(m: &Message, r: &Message) -> Check {
    ensure!(r.start_line() == m.start_line(), "status line changed");
    let ea: Vec<&[u8]> = m.elements(HeaderName::Via).map(|(_, e)| e).collect();
    let eb: Vec<&[u8]> = r.elements(HeaderName::Via).map(|(_, e)| e).collect();
    ensure!(
        ea.len() == eb.len() + 1 && ea[1..] == eb[..],
        "a response lost more or less than our Via"
    );
    let (va, vb) = (lines(m, HeaderName::Via), lines(r, HeaderName::Via));
    ensure!(
        va[1..] == vb[vb.len() + 1 - va.len()..],
        "Via lines changed"
    );
    Ok(())
}

/// Contacts keep their number, display names and header parameters (an
/// addr-spec may gain brackets, never lose them); a URI changes only into
/// a token of ours, or out of one.
fn contacts(proxy: &Proxy, m: &Message, r: &Message, crossed: bool) -> Check {
    let legs = proxy.legs();
    let ea: Vec<&[u8]> = m.elements(HeaderName::Contact).map(|(_, e)| e).collect();
    let eb: Vec<&[u8]> = r.elements(HeaderName::Contact).map(|(_, e)| e).collect();
    ensure!(
        ea.len() == eb.len(),
        "Contacts {} became {}",
        ea.len(),
        eb.len()
    );
    let rewrites = crossed || proxy_forces(proxy);
    for (x, y) in ea.iter().zip(&eb) {
        if x == y {
            continue;
        }
        ensure!(rewrites, "Contact {:?} changed on its own leg", text(x));
        let (Some(a), Some(b)) = (NameAddr::parse(x), NameAddr::parse(y)) else {
            return Err(format!("Contact {:?} became {:?}", text(x), text(y)));
        };
        ensure!(
            a.display == b.display && a.params == b.params && (b.bracketed || !a.bracketed),
            "Contact {:?} became {:?}: more than its URI changed",
            text(x),
            text(y)
        );
        ensure!(
            a.uri.scheme == Scheme::Sip
                && (Tokens::is_candidate(legs, &b.uri) || Tokens::is_candidate(legs, &a.uri)),
            "Contact URI {:?} became {:?}, not a token of ours",
            text(a.uri.raw),
            text(b.uri.raw)
        );
    }
    Ok(())
}

fn proxy_forces(proxy: &Proxy) -> bool {
    // Both fuzz setups keep the default except the one-leg proxy.
    proxy.legs().len() == 1
}

/// The body is the same bytes, unless the NAT helper pointed an SDP that
/// crosses legs at the relay.
fn body(proxy: &Proxy, m: &Message, r: &Message, crossed: bool, out_leg: usize) -> Check {
    if m.body() == r.body() {
        return Ok(());
    }
    ensure!(
        crossed && proxy.relay_table().is_some(),
        "body changed on its own leg"
    );
    ensure!(m.content_type() == r.content_type(), "Content-Type changed");
    let ct = m.content_type();
    let (Ok(Some(ra)), Ok(Some(rb))) = (find_sdp(ct, m.body()), find_sdp(ct, r.body())) else {
        return Err("body changed, and it is no SDP".into());
    };
    let (ba, bb) = (m.body(), r.body());
    ensure!(
        ba[..ra.start] == bb[..rb.start] && ba[ra.end..] == bb[rb.end..],
        "multipart body changed outside its SDP"
    );
    let a = Sdp::parse(&ba[ra.clone()]).map_err(|e| format!("SDP in: {e:?}"))?;
    let b = Sdp::parse(&bb[rb.clone()]).map_err(|e| format!("rewritten SDP: {e:?}"))?;
    ensure!(a.media_count() == b.media_count(), "media sections");
    let media_ip = proxy
        .relay_table()
        .map(|_| proxy.legs()[out_leg].addr.ip())
        .ok_or("relay")?;
    let sa = a.as_bytes();
    let sb = b.as_bytes();
    let conns_in: Vec<&[u8]> = a
        .lines()
        .filter_map(|l| match l {
            Line::Connection { net, .. } => Some(net.addr.of(sa)),
            _ => None,
        })
        .collect();
    for l in b.lines() {
        match l {
            Line::Ice { .. } => return Err("ICE line in a relayed SDP".into()),
            Line::Connection { net, .. } => {
                let addr = net.addr.of(sb);
                let ip = parse_ip(addr);
                ensure!(
                    ip == Some(media_ip)
                        || ip.is_some_and(|i| i.is_unspecified())
                        || conns_in.contains(&addr),
                    "c= {:?} is neither the leg's media IP nor the offer's",
                    text(addr)
                );
            }
            _ => {}
        }
    }
    for (x, y) in a.media().zip(b.media()) {
        let (px, py) = (x.port.of(sa), y.port.of(sb));
        let p: Option<u16> = std::str::from_utf8(py).ok().and_then(|s| s.parse().ok());
        ensure!(
            px == py || p.is_some_and(|p| (RELAY_LO..=RELAY_HI).contains(&p)),
            "m= port {:?} became {:?}, outside the relay range",
            text(px),
            text(py)
        );
    }
    Ok(())
}

/// A relayed media packet.
pub fn relayed(proxy: &Proxy, sockets: &FakeSockets, tx: &Transmit, len: usize) -> Check {
    let Socket::Relay { leg, pair, .. } = tx.socket else {
        return Err(format!("media relayed from {:?}", tx.socket));
    };
    ensure!(
        sockets.open.contains(&(leg, pair)),
        "relayed from ({leg}, {pair}), which is not open"
    );
    ensure!(tx.len == len, "relayed {} of {len} bytes", tx.len);
    let dst = tx.dst;
    ensure!(
        dst.port() != 0 && !dst.ip().is_unspecified(),
        "relayed to {dst}"
    );
    for l in proxy.legs() {
        let ours = dst == l.addr
            || (dst.ip() == l.addr.ip() && (RELAY_LO..=RELAY_HI).contains(&dst.port()));
        ensure!(!ours, "relayed to our own socket {dst}");
    }
    Ok(())
}
