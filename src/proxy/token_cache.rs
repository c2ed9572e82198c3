//! The tokens made and opened last. A phone's Contact is the same in every
//! call and every refresh, and each in-dialog request brings its token
//! back, so most messages need a token that was already computed; a miss
//! costs two HMAC-MD5s, an MD5 and an RC4 key set-up with its drop.
//!
//! Fixed size: [`ENTRIES`] entries replaced in turn, found through two
//! direct-mapped indexes (by token text, and by what a token encodes),
//! keyed by SipHash. A hit compares the whole input, so a stale index slot
//! or a collision is only a miss. Tokens are deterministic (the seed is a
//! MAC of the plaintext), so a hit returns exactly what the cipher would.

use super::token::MAX_TOKEN_LEN;
use crate::limits::MAX_TOKEN_CONTACT;
use crate::siphash::SipKey;
use std::net::{IpAddr, SocketAddr, SocketAddrV6};

/// Distinct tokens kept: a household's phones and its providers.
pub const ENTRIES: usize = 16;
const SLOTS: usize = 64;
const NONE: u8 = u8::MAX;

/// What a token says, owned.
#[derive(Default)]
struct Entry {
    token: heapless::Vec<u8, MAX_TOKEN_LEN>,
    in_leg: u8,
    out_leg: u8,
    nat: Option<SocketAddr>,
    contact: heapless::Vec<u8, MAX_TOKEN_CONTACT>,
}

/// A token's contents; the contact went into the caller's buffer.
#[derive(Debug, PartialEq, Eq)]
pub struct Hit {
    pub in_leg: u8,
    pub out_leg: u8,
    pub nat: Option<SocketAddr>,
    pub len: usize,
}

pub struct TokenCache {
    key: SipKey,
    entries: Box<[Entry]>,
    by_token: [u8; SLOTS],
    by_plain: [u8; SLOTS],
    next: usize,
    pub hits: u64,
    pub misses: u64,
}

/// The NAT source as a token stores it: no IPv6 flow info or scope.
pub fn stored_nat(nat: Option<SocketAddr>) -> Option<SocketAddr> {
    nat.map(|a| match a {
        SocketAddr::V6(v6) => SocketAddr::V6(SocketAddrV6::new(*v6.ip(), v6.port(), 0, 0)),
        v4 => v4,
    })
}

impl TokenCache {
    pub fn new(key: [u8; 16]) -> TokenCache {
        TokenCache {
            key: SipKey::new(key),
            entries: (0..ENTRIES).map(|_| Entry::default()).collect(),
            by_token: [NONE; SLOTS],
            by_plain: [NONE; SLOTS],
            next: 0,
            hits: 0,
            misses: 0,
        }
    }

    fn token_slot(&self, token: &[u8]) -> usize {
        (self.key.hash(&[token]) % SLOTS as u64) as usize
    }

    fn plain_slot(
        &self,
        in_leg: u8,
        out_leg: u8,
        nat: Option<SocketAddr>,
        contact: &[u8],
    ) -> usize {
        let mut s = self.key.stream();
        s.update(&[in_leg, out_leg]);
        match nat.map(|a| (a.ip(), a.port())) {
            Some((IpAddr::V4(ip), port)) => {
                s.update(&ip.octets()).update(&port.to_be_bytes());
            }
            Some((IpAddr::V6(ip), port)) => {
                s.update(&ip.octets()).update(&port.to_be_bytes());
            }
            None => {}
        }
        (s.update(contact).finish() % SLOTS as u64) as usize
    }

    /// What `token` (the user part, `b...`) decodes to, if it was seen:
    /// the contact is copied into `out`.
    pub fn opened(&mut self, token: &[u8], out: &mut [u8]) -> Option<Hit> {
        let idx = self
            .by_token
            .get(self.token_slot(token))
            .copied()
            .unwrap_or(NONE);
        let e = self
            .entries
            .get(usize::from(idx))
            .filter(|e| e.token == token);
        let hit = e.and_then(|e| {
            out.get_mut(..e.contact.len())?.copy_from_slice(&e.contact);
            Some(Hit {
                in_leg: e.in_leg,
                out_leg: e.out_leg,
                nat: e.nat,
                len: e.contact.len(),
            })
        });
        self.count(hit.is_some());
        hit
    }

    /// The token for these contents, if it was made or opened before:
    /// copied into `out`, its length returned.
    pub fn sealed(
        &mut self,
        in_leg: u8,
        out_leg: u8,
        nat: Option<SocketAddr>,
        contact: &[u8],
        out: &mut [u8],
    ) -> Option<usize> {
        let nat = stored_nat(nat);
        let slot = self.plain_slot(in_leg, out_leg, nat, contact);
        let idx = self.by_plain.get(slot).copied().unwrap_or(NONE);
        let n = self
            .entries
            .get(usize::from(idx))
            .filter(|e| {
                e.in_leg == in_leg && e.out_leg == out_leg && e.nat == nat && e.contact == contact
            })
            .and_then(|e| {
                out.get_mut(..e.token.len())?.copy_from_slice(&e.token);
                Some(e.token.len())
            });
        self.count(n.is_some());
        n
    }

    fn count(&mut self, hit: bool) {
        if hit {
            self.hits += 1;
        } else {
            self.misses += 1;
        }
    }

    /// Remembers a token the cipher made or opened, replacing the oldest.
    pub fn insert(
        &mut self,
        token: &[u8],
        in_leg: u8,
        out_leg: u8,
        nat: Option<SocketAddr>,
        contact: &[u8],
    ) {
        let nat = stored_nat(nat);
        let (ts, ps) = (
            self.token_slot(token),
            self.plain_slot(in_leg, out_leg, nat, contact),
        );
        let idx = self.next;
        let Some(e) = self.entries.get_mut(idx) else {
            return;
        };
        e.token.clear();
        e.contact.clear();
        if e.token.extend_from_slice(token).is_err()
            || e.contact.extend_from_slice(contact).is_err()
        {
            e.token.clear();
            return;
        }
        (e.in_leg, e.out_leg, e.nat) = (in_leg, out_leg, nat);
        self.next = (idx + 1) % ENTRIES;
        if let Some(t) = self.by_token.get_mut(ts) {
            *t = idx as u8;
        }
        if let Some(p) = self.by_plain.get_mut(ps) {
            *p = idx as u8;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod test {
    use super::*;

    fn opened(c: &mut TokenCache, t: &[u8]) -> Option<(Hit, Vec<u8>)> {
        let mut buf = [0u8; 64];
        c.opened(t, &mut buf).map(|h| {
            let contact = buf[..h.len].to_vec();
            (h, contact)
        })
    }

    fn sealed(
        c: &mut TokenCache,
        i: u8,
        o: u8,
        nat: Option<SocketAddr>,
        ct: &[u8],
    ) -> Option<Vec<u8>> {
        let mut buf = [0u8; 64];
        c.sealed(i, o, nat, ct, &mut buf).map(|n| buf[..n].to_vec())
    }

    #[test]
    fn a_hit_returns_what_was_inserted_and_anything_else_misses() {
        let mut c = TokenCache::new([7; 16]);
        let nat: SocketAddr = "203.0.113.9:4000".parse().unwrap();
        assert!(opened(&mut c, b"bAAAA").is_none());
        c.insert(b"bAAAA", 0, 1, Some(nat), b"alice@10.0.0.5");
        let (h, contact) = opened(&mut c, b"bAAAA").unwrap();
        assert_eq!((h.in_leg, h.out_leg, h.nat), (0, 1, Some(nat)));
        assert_eq!(contact, b"alice@10.0.0.5");
        assert_eq!(
            sealed(&mut c, 0, 1, Some(nat), b"alice@10.0.0.5").as_deref(),
            Some(&b"bAAAA"[..])
        );
        // Any field that differs is a miss.
        assert!(sealed(&mut c, 1, 1, Some(nat), b"alice@10.0.0.5").is_none());
        assert!(sealed(&mut c, 0, 1, None, b"alice@10.0.0.5").is_none());
        assert!(sealed(&mut c, 0, 1, Some(nat), b"alice@10.0.0.6").is_none());
        assert!(opened(&mut c, b"bAAAB").is_none());
        assert_eq!((c.hits, c.misses), (2, 5));
        // No room for the contact: a miss, not a panic.
        assert!(c.opened(b"bAAAA", &mut [0u8; 4]).is_none());
    }

    #[test]
    fn the_oldest_entry_gives_way_and_its_stale_slots_miss() {
        let mut c = TokenCache::new([1; 16]);
        for i in 0..=ENTRIES {
            let t = format!("bT{i}");
            c.insert(t.as_bytes(), 0, 1, None, format!("u{i}@h").as_bytes());
        }
        assert!(opened(&mut c, b"bT0").is_none(), "replaced");
        assert!(sealed(&mut c, 0, 1, None, b"u0@h").is_none());
        let mut found = 0;
        for i in 1..=ENTRIES {
            // Two tokens may share an index slot: then only the later one
            // is found, never the wrong one.
            if let Some((_, contact)) = opened(&mut c, format!("bT{i}").as_bytes()) {
                assert_eq!(contact, format!("u{i}@h").as_bytes());
                found += 1;
            }
        }
        assert!(found >= ENTRIES / 2, "{found}");
    }

    #[test]
    fn ipv6_scope_is_not_part_of_a_token() {
        let mut c = TokenCache::new([2; 16]);
        let scoped = SocketAddr::V6(SocketAddrV6::new("fe80::1".parse().unwrap(), 5060, 3, 9));
        c.insert(b"bV6", 0, 1, Some(scoped), b"x@y");
        let (h, _) = opened(&mut c, b"bV6").unwrap();
        assert_eq!(h.nat, Some("[fe80::1]:5060".parse().unwrap()));
        assert!(sealed(&mut c, 0, 1, Some(scoped), b"x@y").is_some());
    }
}
