//! The checks of every fuzz target, shared with the regression test
//! `tests/fuzz_regressions.rs` (both include this file with `#[path]`), so
//! a finding replayed in `cargo test` meets exactly the assertions that
//! found it. Each check panics with what went wrong.
//!
//! The proxy targets drive the real core ([`edgesip::proxy::Proxy`]):
//! - [`setup`]: the one-leg and two-leg proxies, their sources, and fake
//!   relay sockets that catch a double open or close;
//! - [`script`]: a fuzz input as a sequence of datagrams, relay packets,
//!   timers and DNS answers, with placeholders for what the proxy sent;
//! - [`outcome`]: what every outcome must satisfy (strict re-parse,
//!   untouched headers byte-identical, answers back to the source, relayed
//!   media from open sockets);
//! - [`oracle`]: where a datagram from the public leg may go.
//!
//! And the other targets: [`dns`] (`dns_response`), [`token`]
//! (`token_decode`), [`stun`] (`stun`), [`common`] (`parse_sdp`), and
//! [`datagram`] (`parse_rewrite`: one datagram, parsed, then through both
//! proxies).
#![allow(dead_code)]

#[path = "common.rs"]
pub mod common;
#[path = "check/dns.rs"]
pub mod dns;
#[path = "check/oracle.rs"]
pub mod oracle;
#[path = "check/outcome.rs"]
pub mod outcome;
#[path = "check/script.rs"]
pub mod script;
#[path = "check/setup.rs"]
pub mod setup;
#[path = "check/stun.rs"]
pub mod stun;
#[path = "check/token.rs"]
pub mod token;

use edgesip::sip::{HeaderName, Message, MAX_DATAGRAM};
use script::Run;
use setup::{sources, Setup};

/// Every accessor of a parsed message, and what parse guarantees.
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
    // Parse guarantees the headers the proxy relies on are valid.
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

/// One datagram: parsed (every accessor), then handed to both proxies on
/// the leg and from the source `pick` chooses (`pick & 1`: the leg,
/// `pick >> 4`: the source). Returns whether it parsed.
pub fn datagram(data: &[u8], pick: u8) -> bool {
    if data.len() > MAX_DATAGRAM {
        return false;
    }
    let parsed = match Message::parse(data) {
        Ok(m) => {
            exercise_accessors(&m);
            true
        }
        Err(_) => {
            // The framing-only parse must not panic either.
            if let Ok(m) = Message::parse_unchecked(data) {
                let _ = (m.vias().count(), m.from(), m.to(), m.cseq(), m.call_id());
            }
            false
        }
    };
    for setup in [Setup::OneLeg, Setup::TwoLegs] {
        let mut run = Run::new(setup);
        let leg = usize::from(pick & 1) % setup.config().legs.len();
        let src = sources()[usize::from(pick >> 4)];
        let _ = run.datagram(leg, src, data);
        run.finish();
    }
    parsed
}
