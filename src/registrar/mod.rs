//! A registrar (RFC 3261 §10.3) for the domains the proxy serves.
//!
//! Sans-IO like the proxy: [`Registrar::handle_register`] takes `now`, the
//! source and a parsed REGISTER and writes its answer into the caller's
//! buffer; [`Registrar::lookup`] maps a Request-URI to the Contact to use.
//! The binding table is allocated once in [`Registrar::new`]; REGISTER
//! handling and lookups allocate nothing. Saving and loading the table is
//! for the shell and may allocate.
//!
//! Fixed from Net::SIP's registrar (reference §9): domains match at a dot
//! boundary, bindings are merged per Contact with Call-ID/CSeq ordering,
//! 423 carries Min-Expires, the 200 has a To-tag and lists every binding,
//! the newest binding wins a lookup, and the AoR key has no port.

// Packet bytes are untrusted: keep every access checked.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod config;
mod digest;
mod domain;
mod guard;
mod persist;
mod register;
mod reply;
mod store;

pub use config::RegistrarConfig;
pub use digest::{parse_auth_file, AuthUser, Credential, NONCE_LIFETIME_SECS};
pub use store::{Binding, MAX_AOR, MAX_BINDING};

use crate::sip::{Full, Message, Scheme, Uri};
use crate::time::Instant;
use core::time::Duration;
use digest::Nonces;
use domain::Domains;
use guard::{Lockouts, Replays};
use std::net::SocketAddr;
use store::{Aor, Store};

pub use crate::limits::MAX_PER_AOR;
/// Least time between two saves of the table.
pub const SAVE_INTERVAL: Duration = Duration::from_secs(60);
/// Retry-After for a REGISTER that arrived out of order.
const RETRY_AFTER_SECS: u32 = 5;
/// Longest realm taken from a Request-URI host.
const MAX_REALM: usize = 256;

/// Where a non-REGISTER request goes, as far as the registrar knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup<'a> {
    /// Not a domain of ours (with `*`: no binding for this AoR); route it
    /// as usual.
    NotOurs,
    /// One of our domains, nobody registered: answer 404.
    Unbound,
    /// Send it to `contact` (the new Request-URI). `source` and `leg` are
    /// where that binding's REGISTER came from, for a UA behind NAT.
    Bound {
        contact: &'a [u8],
        source: SocketAddr,
        leg: usize,
    },
}

/// A REGISTER answered: the response is `out[..len]`, with status `code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Registered {
    pub len: usize,
    pub code: u16,
    pub note: Note,
}

/// What a REGISTER did, for the counters and the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Note {
    /// Bindings added, refreshed, removed or listed.
    Updated,
    /// 401: no credentials yet, or a stale nonce.
    Challenged,
    /// 401: a nonce that is not ours, or not for this source.
    ForeignNonce,
    /// 401: the digest does not verify.
    WrongPassword,
    /// 400: digest without qop=auth, nc and cnonce, or for another URI.
    BadDigest,
    /// 403: the user may not register this AoR.
    WrongUser,
    /// 403: from a public leg, and there is no `--auth-file`.
    NoAuthFile,
    /// 404: the AoR is not in a domain of ours.
    NotOurs,
    /// 400: the REGISTER is not one we can take.
    Malformed,
    /// 500: an AoR or a Contact longer than a binding holds.
    TooLong,
    /// 503: no room in the table (or for this AoR).
    Full,
    /// 500 with Retry-After: older than what we hold.
    OutOfOrder,
    /// 423: expiry below the minimum.
    TooBrief,
    /// 420: a Require we do not support.
    BadExtension,
    /// 401: a nonce count used before (a replayed Authorization).
    Replay,
    /// 403: this failure used up the source's or the user's budget of
    /// failed digests; they are locked out for a while (logged once).
    Lockout,
    /// 403: the source or the user is locked out.
    LockedOut,
}

impl Note {
    /// How many kinds of [`Note`] there are.
    pub const COUNT: usize = 17;

    /// Its index and stable name, for the counters.
    pub fn key(&self) -> (usize, &'static str) {
        match self {
            Note::Updated => (0, "updated"),
            Note::Challenged => (1, "challenged"),
            Note::ForeignNonce => (2, "foreign_nonce"),
            Note::WrongPassword => (3, "wrong_password"),
            Note::BadDigest => (4, "bad_digest"),
            Note::WrongUser => (5, "wrong_user"),
            Note::NoAuthFile => (6, "no_auth_file"),
            Note::NotOurs => (7, "not_ours"),
            Note::Malformed => (8, "malformed"),
            Note::TooLong => (9, "too_long"),
            Note::Full => (10, "full"),
            Note::OutOfOrder => (11, "out_of_order"),
            Note::TooBrief => (12, "too_brief"),
            Note::BadExtension => (13, "bad_extension"),
            Note::Replay => (14, "replay"),
            Note::Lockout => (15, "lockout"),
            Note::LockedOut => (16, "locked_out"),
        }
    }
}

impl core::fmt::Display for Note {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Note::Updated => "bindings updated",
            Note::Challenged => "challenged",
            Note::ForeignNonce => "nonce not ours or not for this source",
            Note::WrongPassword => "digest does not verify",
            Note::BadDigest => "digest without qop=auth, nc and cnonce, or for another URI",
            Note::WrongUser => "user may not register this AoR",
            Note::NoAuthFile => "from a public leg without --auth-file",
            Note::NotOurs => "AoR not in our domains",
            Note::Malformed => "malformed REGISTER",
            Note::TooLong => "AoR or Contact too long for a binding",
            Note::Full => "binding table full",
            Note::OutOfOrder => "older than the binding held",
            Note::TooBrief => "expiry below the minimum",
            Note::BadExtension => "Require names an extension",
            Note::Replay => "nonce count used before (replayed Authorization)",
            Note::Lockout => "too many failed digests: locked out for 10 minutes",
            Note::LockedOut => "locked out after too many failed digests",
        })
    }
}

/// Something a person running the router wants to read in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub kind: EventKind,
    /// The AoR, or for a lockout the user name (empty when it named none).
    pub aor: Aor,
    /// Where the REGISTER came from.
    pub source: SocketAddr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// A binding that was not there before.
    Bound,
    /// A binding removed by its phone.
    Removed,
    /// A binding that was not refreshed in time.
    Expired,
    /// A source and user locked out after failed digests.
    Lockout,
}

/// Events kept until the shell collects them; more are counted, not kept.
const MAX_EVENTS: usize = 16;

/// The binding table, the domains it answers for and the digest state.
pub struct Registrar {
    domains: Domains,
    store: Store,
    min_expires: u32,
    max_expires: u32,
    users: Option<Vec<AuthUser>>,
    realm: Option<String>,
    nonces: Nonces,
    replays: Replays,
    lockouts: Lockouts,
    events: heapless::Deque<Event, MAX_EVENTS>,
    /// Events lost because nobody collected them in time.
    pub events_lost: u64,
    next_expiry: Option<Instant>,
    /// Saving is armed by the first load or save, so a shell without a file
    /// never sees a save deadline.
    persist: bool,
    dirty_since: Option<Instant>,
    last_save: Option<Instant>,
}

fn secs(now: Instant) -> u32 {
    u32::try_from(now.0 / 1000).unwrap_or(u32::MAX)
}

/// Appends `s` with `%HH` escapes undone.
fn push_unescaped(s: &[u8], out: &mut Aor) -> Option<()> {
    let mut i = 0;
    while let Some(&c) = s.get(i) {
        let b = match (c, s.get(i + 1), s.get(i + 2)) {
            (b'%', Some(h), Some(l)) => {
                i += 3;
                crate::hex::digit(*h)? << 4 | crate::hex::digit(*l)?
            }
            (b, _, _) => {
                i += 1;
                b
            }
        };
        out.push(b).ok()?;
    }
    Some(())
}

impl Registrar {
    /// Allocates the binding table. Repairs what
    /// [`RegistrarConfig::validate`] would refuse, with a warning.
    pub fn new(cfg: RegistrarConfig, secret: &[u8]) -> Self {
        let max_expires = cfg.max_expires.max(1);
        let min_expires = cfg.min_expires.clamp(1, max_expires);
        // A realm `validate` would refuse falls back to the Request-URI host.
        let realm = cfg.realm.filter(|r| config::realm_ok(r));
        let users = cfg.users.as_ref().map_or(0, Vec::len);
        Registrar {
            domains: Domains::new(&cfg.domains, &cfg.aliases),
            store: Store::new(cfg.capacity),
            min_expires,
            max_expires,
            users: cfg.users,
            realm,
            nonces: Nonces::new(secret),
            replays: Replays::default(),
            lockouts: Lockouts::new(users),
            events: heapless::Deque::new(),
            events_lost: 0,
            next_expiry: None,
            persist: false,
            dirty_since: None,
            last_save: None,
        }
    }

    /// The live bindings, for `edgesip status`.
    pub fn bindings(&self, now: Instant) -> impl Iterator<Item = &Binding> + '_ {
        self.store.iter().filter(move |b| b.live(now))
    }

    /// The next event for the log, oldest first.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn event(&mut self, kind: EventKind, aor: &[u8], source: SocketAddr) {
        let e = Event {
            kind,
            aor: Aor::from_slice(aor).unwrap_or_default(),
            source,
        };
        if self.events.push_back(e).is_err() {
            self.events_lost += 1;
        }
    }

    /// Drops expired bindings, telling the log.
    fn expire(&mut self, now: Instant) {
        let mut gone: heapless::Vec<(Aor, SocketAddr), MAX_EVENTS> = heapless::Vec::new();
        let mut more = 0;
        self.store.expire(now, |b| {
            if gone.push((b.aor.clone(), b.source)).is_err() {
                more += 1;
            }
        });
        for (aor, src) in gone {
            self.event(EventKind::Expired, &aor, src);
        }
        self.events_lost += more;
    }

    /// Bindings in the table, counting expired ones not yet dropped (they
    /// go at the next [`Registrar::handle_timeout`] or REGISTER).
    pub fn len(&self) -> usize {
        self.store.len()
    }

    pub fn is_empty(&self) -> bool {
        self.store.len() == 0
    }

    pub fn capacity(&self) -> usize {
        self.store.capacity()
    }

    /// The AoR key: `scheme:user@host`, user unescaped, host lower case
    /// (an alias becomes the first domain), no port, no parameters.
    fn aor_key(&self, uri: &Uri) -> Option<Aor> {
        let mut a = Aor::new();
        let scheme: &[u8] = if uri.scheme == Scheme::Sips {
            b"sips:"
        } else {
            b"sip:"
        };
        a.extend_from_slice(scheme).ok()?;
        push_unescaped(uri.user?, &mut a)?;
        a.push(b'@').ok()?;
        let host = self.domains.canonical(uri.host);
        let v6 = host.contains(&b':');
        if v6 {
            a.push(b'[').ok()?;
        }
        for b in host {
            a.push(b.to_ascii_lowercase()).ok()?;
        }
        if v6 {
            a.push(b']').ok()?;
        }
        Some(a)
    }

    /// A REGISTER: `None` if it is not for our domains (the proxy forwards
    /// it); else the answer, written into `out` for `src` through `leg`, or
    /// [`Full`] when `out` cannot hold any answer. `to_tag` is the
    /// stateless To-tag the proxy uses.
    #[allow(clippy::too_many_arguments)]
    pub fn handle_register(
        &mut self,
        now: Instant,
        leg: usize,
        leg_trusted: bool,
        src: SocketAddr,
        m: &Message,
        to_tag: &[u8],
        out: &mut [u8],
    ) -> Option<Result<Registered, Full>> {
        if !m.is_method(b"REGISTER") {
            return None;
        }
        let ruri = m.request_uri().filter(Uri::is_sip)?;
        if !self.domains.accepts(ruri.host) {
            return None;
        }
        // Expired bindings go first: they must not count or match.
        self.expire(now);
        // The configured realm, else the Request-URI host in lower case.
        let mut realm_buf = [0u8; MAX_REALM];
        let from: &[u8] = self.realm.as_deref().map_or(ruri.host, str::as_bytes);
        let n = from.len().min(MAX_REALM);
        for (d, s) in realm_buf.iter_mut().zip(from) {
            *d = if self.realm.is_some() {
                *s
            } else {
                s.to_ascii_lowercase()
            };
        }
        let realm = realm_buf.get(..n)?; // n <= MAX_REALM
        let answer = self.register(now, leg, leg_trusted, src, m, realm);
        self.next_expiry = self.store.next_expiry();
        let tag = (!to_tag.is_empty()).then_some(to_tag);
        Some(self.write_answer(now, answer, realm, m, tag, src, out))
    }

    /// The binding a request for `ruri` should go to: the most recently
    /// refreshed one of its AoR.
    pub fn lookup(&self, now: Instant, ruri: &Uri) -> Lookup<'_> {
        if !ruri.is_sip() || ruri.user.is_none() {
            return Lookup::NotOurs;
        }
        let claims = self.domains.claims(ruri.host);
        if !claims && !self.domains.any {
            return Lookup::NotOurs;
        }
        let unbound = if claims {
            Lookup::Unbound
        } else {
            // With `*`, only AoRs someone registered are ours: calls to
            // other domains (providers) still go out.
            Lookup::NotOurs
        };
        let Some(aor) = self.aor_key(ruri) else {
            return unbound;
        };
        let best = self
            .store
            .of_aor(&aor, now)
            .map(|(_, b)| b)
            .max_by_key(|b| b.refreshed);
        match best {
            Some(b) => Lookup::Bound {
                contact: b.uri(),
                source: b.source,
                leg: b.leg,
            },
            None => unbound,
        }
    }

    /// The next binding expiry or save deadline.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let save = self
            .dirty_since
            .filter(|_| self.persist)
            .map(|d| self.last_save.map_or(d, |t| d.max(t + SAVE_INTERVAL)));
        match (self.next_expiry, save) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Drops expired bindings; spurious calls do nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.expire(now);
        self.next_expiry = self.store.next_expiry();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod test {
    use super::*;

    #[test]
    fn test_aor_key() {
        let cfg = RegistrarConfig {
            domains: vec!["Example.com".into()],
            aliases: vec!["192.0.2.1".into(), "2001:db8::1".into()],
            ..RegistrarConfig::default()
        };
        let r = Registrar::new(cfg, b"k");
        let key = |u: &[u8]| r.aor_key(&Uri::parse(u).unwrap()).map(|a| a.to_vec());
        assert_eq!(
            key(b"sip:%61lice@EXAMPLE.com:5070;transport=udp"),
            Some(b"sip:alice@example.com".to_vec())
        );
        assert_eq!(
            key(b"sip:Alice@192.0.2.1"),
            Some(b"sip:Alice@example.com".to_vec())
        );
        assert_eq!(
            key(b"sip:bob@[2001:db8::1]"),
            Some(b"sip:bob@example.com".to_vec())
        );
        assert_eq!(
            key(b"sips:bob@[2001:db8::2]"),
            Some(b"sips:bob@[2001:db8::2]".to_vec())
        );
        assert_eq!(key(b"sip:example.com"), None);
        let long = format!("sip:{}@example.com", "u".repeat(MAX_AOR));
        assert_eq!(key(long.as_bytes()), None);
    }
}
