//! Where a datagram from a public leg may go, kept exact by watching what
//! the proxy itself published.
//!
//! A request that came in on a public leg may be forwarded only out of a
//! trusted leg; it and a response from a public leg only to
//! - an address inside a `net=` of that leg;
//! - a `--route` host;
//! - the address of a contact the proxy put into a token it sent out of a
//!   public leg (the contact's `maddr` or host and port, and the NAT source
//!   the token carries): the harness decodes every token it sees leave by
//!   a public leg, with the proxy's own key;
//! - the source of a REGISTER the registrar answered 200 (a binding);
//! - for a response only: where the Via below ours says the sender of a
//!   request we forwarded wants its responses (maddr, else received, else
//!   the sent-by host; rport, else the sent-by port), as that Via left us.
//!
//! Nothing else: in particular never a public address that no trusted
//! party named.

use super::outcome::Input;
use super::setup::{Setup, SECRET};
use edgesip::output::{Outcome, Why};
use edgesip::proxy::token::MAX_PLAIN;
use edgesip::proxy::{Proxy, Tokens};
use edgesip::registrar::Note;
use edgesip::sip::{parse_ip, HeaderName, Message, Uri, Via};
use std::collections::BTreeSet;
use std::net::SocketAddr;

pub struct Oracle {
    pub routes: Vec<SocketAddr>,
    pub tokens: BTreeSet<SocketAddr>,
    pub bindings: BTreeSet<SocketAddr>,
    pub returns: BTreeSet<SocketAddr>,
    decoder: Tokens,
}

/// Where a response to the request whose Via (below ours) is `v` goes
/// (RFC 3261 §18.2.2, RFC 3581).
pub fn response_address(v: &Via) -> Option<SocketAddr> {
    let ip = v
        .maddr
        .and_then(parse_ip)
        .or_else(|| v.received_ip())
        .or_else(|| parse_ip(v.host))?;
    Some(SocketAddr::new(
        ip,
        v.rport_value().or(v.port).unwrap_or(5060),
    ))
}

/// Where a request for `uri` goes when the URI alone decides.
pub fn uri_address(uri: &Uri) -> Option<SocketAddr> {
    let host = uri.param_value(b"maddr").unwrap_or(uri.host);
    Some(SocketAddr::new(parse_ip(host)?, uri.port.unwrap_or(5060)))
}

impl Oracle {
    pub fn new(setup: Setup, proxy: &Proxy) -> Oracle {
        let cfg = setup.config();
        Oracle {
            routes: setup.routes(),
            tokens: BTreeSet::new(),
            bindings: BTreeSet::new(),
            returns: BTreeSet::new(),
            decoder: Tokens::new(SECRET, proxy.legs(), cfg.force_rewrite, cfg.nat_contacts),
        }
    }

    /// Decodes a token URI of ours: the contact's address and the NAT
    /// source it carries.
    pub fn token_targets(&mut self, proxy: &Proxy, uri: &Uri) -> Vec<SocketAddr> {
        let legs = proxy.legs();
        if !Tokens::is_candidate(legs, uri) {
            return Vec::new();
        }
        let mut buf = [0u8; MAX_PLAIN];
        let Ok(b) = self
            .decoder
            .decode(legs, uri.user.unwrap_or_default(), &mut buf)
        else {
            return Vec::new();
        };
        let mut text = b"sip:".to_vec();
        text.extend_from_slice(b.contact);
        let mut v: Vec<SocketAddr> = b.nat.into_iter().collect();
        if let Some(a) = Uri::parse(&text).as_ref().and_then(uri_address) {
            v.push(a);
        }
        // A token inside a token (a hairpin) stands for what the inner one
        // stands for.
        if let Some(inner) = Uri::parse(&text) {
            v.extend(self.token_targets(proxy, &inner));
        }
        v
    }

    /// What `out` (sent for `input`) publishes.
    pub fn learn(&mut self, proxy: &Proxy, input: &Input, o: &Outcome, out: &Message) {
        let Some(tx) = o.transmit() else {
            return;
        };
        let Some(leg) = tx.out_leg() else {
            return;
        };
        let public = !proxy.legs()[leg].trusted;
        if public {
            for (_, c) in out.addrs(HeaderName::Contact) {
                let t = self.token_targets(proxy, &c.uri);
                self.tokens.extend(t);
            }
        }
        match *o {
            Outcome::Forwarded { .. } if out.is_request() => {
                if let Some((_, v)) = out.vias().nth(1) {
                    self.returns.extend(response_address(&v));
                }
            }
            Outcome::Answered {
                code: 200,
                why: Why::Registrar(Note::Updated),
                ..
            } => {
                self.bindings.insert(input.src);
            }
            _ => {}
        }
    }

    /// Whether a datagram from a public leg may go to `dst` out of `leg`.
    pub fn allows(&self, proxy: &Proxy, leg: usize, dst: SocketAddr, response: bool) -> bool {
        let l = &proxy.legs()[leg];
        l.nets.iter().any(|n| n.contains(dst.ip()))
            || self.routes.contains(&dst)
            || self.tokens.contains(&dst)
            || self.bindings.contains(&dst)
            || (response && self.returns.contains(&dst))
    }
}
