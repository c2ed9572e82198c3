//! The `stun` target: STUN-shaped datagrams through [`Proxy::handle`] on
//! either leg of the two-leg proxy, from any source (IPv4 and IPv6).
//!
//! Input: `ctl` then the datagram. `ctl & 15` picks the source, `ctl & 16`
//! the leg; with `ctl & 0x80` the datagram is made a Binding request
//! (padded to a multiple of 4 and at least 20 bytes, type 0x0001, the
//! length field, the magic cookie), else it goes as it is.
//!
//! Checks: a datagram that is a Binding request (type 0x0001, a length
//! field that matches, a multiple of 4 bytes, the cookie) is answered
//! with a Binding success whose XOR-MAPPED-ADDRESS is the source, back to
//! the source; anything else is never answered as STUN; and every outcome
//! passes the proxy checks.

use super::script::Run;
use super::setup::{sources, Setup};
use edgesip::output::{Outcome, Why};

const COOKIE: [u8; 4] = [0x21, 0x12, 0xA4, 0x42];

/// RFC 5389 §6 as the proxy reads it (RFC 5626 keep-alives).
pub fn is_binding_request(d: &[u8]) -> bool {
    d.len() >= 20
        && d[..2] == [0, 1]
        && usize::from(u16::from_be_bytes([d[2], d[3]])) == d.len() - 20
        && d.len().is_multiple_of(4)
        && d[4..8] == COOKIE
}

pub fn stun(data: &[u8]) {
    let [ctl, rest @ ..] = data else {
        return;
    };
    let mut d = rest.to_vec();
    if ctl & 0x80 != 0 {
        d.resize(d.len().max(20).next_multiple_of(4), 0);
        d[..2].copy_from_slice(&[0, 1]);
        let len = (d.len() - 20).min(usize::from(u16::MAX)) as u16;
        d[2..4].copy_from_slice(&len.to_be_bytes());
        d[4..8].copy_from_slice(&COOKIE);
    }
    let mut run = Run::new(Setup::TwoLegs);
    let leg = usize::from(ctl >> 4 & 1);
    let src = sources()[usize::from(ctl & 15)];
    let o = run.datagram(leg, src, &d);
    let stun = matches!(
        o,
        Outcome::Answered { why: Why::Stun, .. } | Outcome::Dropped(Why::Stun)
    );
    if is_binding_request(&d) {
        assert!(
            matches!(
                o,
                Outcome::Answered {
                    why: Why::Stun,
                    code: 0,
                    ..
                }
            ),
            "a Binding request not answered: {o:?}"
        );
    } else {
        assert!(!stun, "not a Binding request, answered as one: {o:?}");
    }
}
