//! What a REGISTER changes (RFC 3261 §10.3 steps 2 to 7): the checks, the
//! digest, and the merge into the binding table.

use super::digest::{self, Credentials, NonceState};
use super::store::{aor_hash, Aor, Binding, MAX_AOR, MAX_BINDING};
use super::{secs, Registrar, MAX_PER_AOR, MAX_REALM};
use super::{EventKind, Note};
use crate::sip::status::{self, Status};
use crate::sip::{HeaderName, Message, NameAddr, Uri};
use crate::time::Instant;
use core::time::Duration;
use md5::{Digest, Md5};
use std::net::SocketAddr;

/// What to answer, before it is written.
pub(super) enum Answer {
    /// 200 listing the AoR's bindings.
    Ok(Aor),
    Plain(Status, Note),
    /// 401 with a new nonce.
    Challenge {
        stale: bool,
        note: Note,
    },
    /// 423 with Min-Expires.
    TooBrief,
    /// 500 with Retry-After: the REGISTER is older than what we hold.
    OutOfOrder,
    /// 420 listing the Require options.
    BadExtension,
}

impl Answer {
    pub(super) fn note(&self) -> Note {
        match self {
            Answer::Ok(_) => Note::Updated,
            Answer::Plain(_, n) | Answer::Challenge { note: n, .. } => *n,
            Answer::TooBrief => Note::TooBrief,
            Answer::OutOfOrder => Note::OutOfOrder,
            Answer::BadExtension => Note::BadExtension,
        }
    }
}

/// What [`Registrar::update`] needs from the REGISTER.
struct Request {
    aor: Aor,
    call_id: [u8; 16],
    cseq: u32,
    expires: Option<u32>,
    leg: usize,
    src: SocketAddr,
}

/// An `expires` value: digits, saturating; anything else counts as absent.
fn expires_param(c: &NameAddr) -> Option<u32> {
    let v = c.param(b"expires")?.value?;
    if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(v.iter().fold(0u32, |n, d| {
        n.saturating_mul(10).saturating_add(u32::from(d - b'0'))
    }))
}

fn instance_of<'b>(c: &NameAddr<'b>) -> &'b [u8] {
    c.param(b"+sip.instance")
        .and_then(|p| p.value)
        .unwrap_or_default()
}

/// Sets a binding's Contact URI and instance.
fn fill(b: &mut Binding, uri: &[u8], instance: &[u8]) -> Option<()> {
    b.contact.clear();
    b.contact.extend_from_slice(uri).ok()?;
    b.contact.extend_from_slice(instance).ok()?;
    b.uri_len = uri.len();
    Some(())
}

impl Registrar {
    pub(super) fn register(
        &mut self,
        now: Instant,
        leg: usize,
        leg_trusted: bool,
        src: SocketAddr,
        m: &Message,
        realm: &[u8],
    ) -> Answer {
        // §10.3 step 2: we support no extensions.
        if m.header(HeaderName::Require).is_some() {
            return Answer::BadExtension;
        }
        let (Some(to), Some(call_id), Some(cseq)) = (m.to(), m.call_id(), m.cseq()) else {
            return Answer::Plain(status::BAD_REQUEST, Note::Malformed);
        };
        // Step 5: the AoR must be in a domain of ours.
        if !to.uri.is_sip() || to.uri.user.is_none() || !self.domains.accepts(to.uri.host) {
            return Answer::Plain(status::NOT_FOUND, Note::NotOurs);
        }
        let Some(aor) = self.aor_key(&to.uri) else {
            return Answer::Plain(status::SERVER_INTERNAL_ERROR, Note::TooLong);
        };
        // Steps 3 and 4: who may change this AoR.
        if self.users.is_some() {
            if let Some(refused) = self.authenticate(now, src, m, realm, &to.uri) {
                return refused;
            }
        } else if !leg_trusted && !src.ip().to_canonical().is_loopback() {
            return Answer::Plain(status::FORBIDDEN, Note::NoAuthFile);
        }
        let call_id: [u8; 16] = Md5::digest(call_id).into();
        let req = Request {
            aor,
            call_id,
            cseq: cseq.num,
            expires: m.expires(),
            leg,
            src,
        };
        if m.headers_named(HeaderName::Contact)
            .any(|h| h.value == b"*")
        {
            self.unregister_all(now, m, &req)
        } else {
            self.update(now, m, req)
        }
    }

    /// The digest check: `None` when it passes, else the answer. A source
    /// or a user that failed ten times in ten minutes is
    /// refused for ten minutes; a nonce count must increase (RFC 2617
    /// §3.2.2), except in a retransmission of the same REGISTER.
    fn authenticate(
        &mut self,
        now: Instant,
        src: SocketAddr,
        m: &Message,
        realm: &[u8],
        to: &Uri,
    ) -> Option<Answer> {
        if self.lockouts.source_locked(now, src.ip()) {
            return Some(Answer::Plain(status::FORBIDDEN, Note::LockedOut));
        }
        let mut buf = [0u8; MAX_REALM];
        let creds = m
            .headers_named(HeaderName::Authorization)
            .filter_map(|h| Credentials::parse(h.value))
            .find(|c| digest::unquote(c.realm, &mut buf) == Some(realm));
        let Some(c) = creds else {
            return Some(Answer::Challenge {
                stale: false,
                note: Note::Challenged,
            });
        };
        let auth_qop = c.qop.is_some_and(|q| q.eq_ignore_ascii_case(b"auth"));
        let nc =
            c.nc.filter(|n| n.len() == 8)
                .and_then(crate::hex::decode_u64);
        let md5 = c.algorithm.is_none_or(|a| a.eq_ignore_ascii_case(b"MD5"));
        let (Some(cnonce), Some(nc_text), Some(nc), true, true) =
            (c.cnonce, c.nc, nc, auth_qop, md5)
        else {
            return Some(Answer::Plain(status::BAD_REQUEST, Note::BadDigest));
        };
        if Some(c.uri) != m.request_uri_raw() || cnonce.is_empty() {
            return Some(Answer::Plain(status::BAD_REQUEST, Note::BadDigest));
        }
        let call_id = m.call_id().unwrap_or_default();
        let state = self
            .nonces
            .check(c.nonce, secs(now), src.ip(), realm, call_id);
        if state == NonceState::Invalid {
            return Some(Answer::Challenge {
                stale: false,
                note: Note::ForeignNonce,
            });
        }
        let mut ubuf = [0u8; MAX_AOR];
        let user = digest::unquote(c.username, &mut ubuf).unwrap_or_default();
        let users = self.users.as_deref().unwrap_or_default();
        let known = users
            .iter()
            .position(|u| u.user.as_bytes() == user && u.ha1(realm).is_some());
        if known.is_some_and(|u| self.lockouts.user_locked(now, u)) {
            return Some(Answer::Plain(status::FORBIDDEN, Note::LockedOut));
        }
        let ha1 = known.and_then(|u| users.get(u)).and_then(|u| u.ha1(realm));
        let method = m.method().unwrap_or_default();
        let good = ha1.is_some_and(|h| {
            let want = digest::response(&h, c.nonce, nc_text, cnonce, method, c.uri);
            digest::response_matches(c.response, &want)
        });
        if !good {
            if self.lockouts.fail(now, src.ip(), known) {
                self.event(EventKind::Lockout, user, src);
                return Some(Answer::Plain(status::FORBIDDEN, Note::Lockout));
            }
            return Some(Answer::Challenge {
                stale: false,
                note: Note::WrongPassword,
            });
        }
        if state == NonceState::Stale {
            // Right password, old nonce: the UA retries without asking.
            return Some(Answer::Challenge {
                stale: true,
                note: Note::Challenged,
            });
        }
        if !to.user_eq(user) {
            return Some(Answer::Plain(status::FORBIDDEN, Note::WrongUser));
        }
        if !self.replays.accept(now, c.nonce, nc as u32, m.buf()) {
            return Some(Answer::Challenge {
                stale: false,
                note: Note::Replay,
            });
        }
        None
    }

    fn mark_dirty(&mut self, now: Instant) {
        self.dirty_since.get_or_insert(now);
    }

    /// `Contact: *` (step 6): removes every binding of the AoR, unless one
    /// was made by a later REGISTER of the same Call-ID.
    fn unregister_all(&mut self, now: Instant, m: &Message, req: &Request) -> Answer {
        let contacts = m.elements(HeaderName::Contact).count();
        if contacts != 1 || req.expires != Some(0) {
            return Answer::Plain(status::BAD_REQUEST, Note::Malformed);
        }
        let stale = self
            .store
            .of_aor(&req.aor, now)
            .any(|(_, b)| b.call_id == req.call_id && req.cseq < b.cseq);
        if stale {
            return Answer::OutOfOrder;
        }
        for i in 0..self.store.capacity() {
            let gone = self.store.get(i).is_some_and(|b| {
                b.aor == req.aor && (b.call_id != req.call_id || req.cseq > b.cseq)
            });
            if gone && self.store.remove(i) {
                self.event(EventKind::Removed, &req.aor, req.src);
                self.mark_dirty(now);
            }
        }
        Answer::Ok(req.aor.clone())
    }

    /// The expiry a Contact asks for: its `expires`, else the Expires
    /// header, else the maximum; capped at the maximum.
    fn expiry_of(&self, c: &NameAddr, header: Option<u32>) -> u32 {
        expires_param(c)
            .or(header)
            .unwrap_or(self.max_expires)
            .min(self.max_expires)
    }

    /// Step 7: every Contact is checked first, so a REGISTER is applied
    /// whole or not at all.
    fn update(&mut self, now: Instant, m: &Message, req: Request) -> Answer {
        let mut new = 0;
        for (_, c) in m.addrs(HeaderName::Contact) {
            if c.uri.raw.len() + instance_of(&c).len() > MAX_BINDING {
                return Answer::Plain(status::SERVER_INTERNAL_ERROR, Note::TooLong);
            }
            let e = self.expiry_of(&c, req.expires);
            if e != 0 && e < self.min_expires {
                return Answer::TooBrief;
            }
            match self.store.find(&req.aor, c.uri.raw, now) {
                Some(i) => {
                    let b = self.store.get(i);
                    if b.is_some_and(|b| b.call_id == req.call_id && req.cseq < b.cseq) {
                        return Answer::OutOfOrder;
                    }
                }
                None if e > 0 => new += 1,
                None => {}
            }
        }
        if new > 0 {
            let held = self.store.of_aor(&req.aor, now).count();
            if new > self.store.free() || held + new > MAX_PER_AOR {
                return Answer::Plain(status::SERVICE_UNAVAILABLE, Note::Full);
            }
        }
        for (_, c) in m.addrs(HeaderName::Contact) {
            let e = self.expiry_of(&c, req.expires);
            self.apply(now, &req, &c, e);
        }
        Answer::Ok(req.aor)
    }

    /// One Contact of a REGISTER that passed every check.
    fn apply(&mut self, now: Instant, req: &Request, c: &NameAddr, e: u32) {
        let uri = c.uri.raw;
        let expires = now + Duration::from_secs(u64::from(e));
        match self.store.find(&req.aor, uri, now) {
            Some(i) => {
                let Some(b) = self.store.get_mut(i) else {
                    return;
                };
                if b.call_id == req.call_id && b.cseq == req.cseq {
                    // A retransmission: already done.
                    return;
                }
                if e == 0 {
                    self.store.remove(i);
                    self.event(EventKind::Removed, &req.aor, req.src);
                } else {
                    let _ = fill(b, uri, instance_of(c));
                    b.call_id = req.call_id;
                    b.cseq = req.cseq;
                    b.expires = expires;
                    b.source = req.src;
                    b.leg = req.leg;
                    b.refreshed = now;
                }
                self.mark_dirty(now);
            }
            None if e > 0 => {
                let mut b = Binding {
                    aor: req.aor.clone(),
                    aor_hash: aor_hash(&req.aor),
                    contact: heapless::Vec::new(),
                    uri_len: 0,
                    call_id: req.call_id,
                    cseq: req.cseq,
                    expires,
                    source: req.src,
                    leg: req.leg,
                    refreshed: now,
                };
                if fill(&mut b, uri, instance_of(c)).is_some() && self.store.insert(b).is_some() {
                    self.event(EventKind::Bound, &req.aor, req.src);
                    self.mark_dirty(now);
                }
            }
            None => {}
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod test {
    use super::*;

    #[test]
    fn test_expires_param() {
        let c = |s: &[u8]| expires_param(&NameAddr::parse(s).unwrap());
        assert_eq!(c(b"<sip:a@b>;expires=60"), Some(60));
        assert_eq!(c(b"<sip:a@b>;expires=99999999999999"), Some(u32::MAX));
        assert_eq!(c(b"<sip:a@b>;expires=soon"), None);
        assert_eq!(c(b"<sip:a@b>"), None);
    }
}
