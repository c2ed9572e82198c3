//! The binding table: `capacity` fixed-size slots allocated once. Lookups
//! are linear scans, filtered by a hash of the AoR first. Slots are
//! written only when first used (the memory is reserved at start-up and
//! never grows past it), so an idle router's RSS does not hold slots of
//! bindings it never had.

use crate::time::Instant;
use std::net::SocketAddr;

pub use crate::limits::{MAX_AOR, MAX_BINDING};

pub type Aor = heapless::Vec<u8, MAX_AOR>;

/// One Contact bound to one AoR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub aor: Aor,
    pub aor_hash: u32,
    /// The Contact URI followed by the `+sip.instance` value (as written,
    /// quotes included), split at `uri_len`.
    pub contact: heapless::Vec<u8, MAX_BINDING>,
    pub uri_len: usize,
    /// MD5 of the Call-ID: fixed size whatever the Call-ID's length.
    pub call_id: [u8; 16],
    pub cseq: u32,
    pub expires: Instant,
    /// Where the REGISTER came from (received/rport) and on which leg.
    pub source: SocketAddr,
    pub leg: usize,
    pub refreshed: Instant,
}

impl Binding {
    pub fn uri(&self) -> &[u8] {
        self.contact.get(..self.uri_len).unwrap_or_default()
    }

    pub fn instance(&self) -> &[u8] {
        self.contact.get(self.uri_len..).unwrap_or_default()
    }

    pub fn live(&self, now: Instant) -> bool {
        self.expires > now
    }
}

/// FNV-1a: cheap, and only a filter before the real comparison.
pub fn aor_hash(aor: &[u8]) -> u32 {
    aor.iter().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

pub struct Store {
    /// Slots used so far (free ones are `None`); never past `cap`.
    slots: Vec<Option<Binding>>,
    cap: usize,
    len: usize,
}

impl Store {
    pub fn new(capacity: usize) -> Self {
        Store {
            slots: Vec::with_capacity(capacity),
            cap: capacity,
            len: 0,
        }
    }

    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// Slots in use, expired or not.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn free(&self) -> usize {
        self.cap - self.len
    }

    pub fn iter(&self) -> impl Iterator<Item = &Binding> + '_ {
        self.slots.iter().flatten()
    }

    /// Live bindings of `aor`, with their slot index.
    pub fn of_aor<'s, 'a>(
        &'s self,
        aor: &'a [u8],
        now: Instant,
    ) -> impl Iterator<Item = (usize, &'s Binding)> + use<'s, 'a> {
        let h = aor_hash(aor);
        self.slots.iter().enumerate().filter_map(move |(i, s)| {
            s.as_ref()
                .filter(|b| b.aor_hash == h && b.aor == aor && b.live(now))
                .map(|b| (i, b))
        })
    }

    /// The live binding of `aor` for this Contact URI.
    pub fn find(&self, aor: &[u8], uri: &[u8], now: Instant) -> Option<usize> {
        self.of_aor(aor, now)
            .find(|(_, b)| b.uri() == uri)
            .map(|(i, _)| i)
    }

    pub fn get(&self, i: usize) -> Option<&Binding> {
        self.slots.get(i).and_then(Option::as_ref)
    }

    pub fn get_mut(&mut self, i: usize) -> Option<&mut Binding> {
        self.slots.get_mut(i).and_then(Option::as_mut)
    }

    /// Puts `b` into a free slot; `None` when the table is full.
    pub fn insert(&mut self, b: Binding) -> Option<usize> {
        let free = self.slots.iter().position(Option::is_none);
        let i = match free {
            Some(i) => {
                if let Some(slot) = self.slots.get_mut(i) {
                    *slot = Some(b);
                }
                i
            }
            // Within the capacity reserved at start-up: no allocation.
            None if self.slots.len() < self.cap => {
                self.slots.push(Some(b));
                self.slots.len() - 1
            }
            None => return None,
        };
        self.len += 1;
        Some(i)
    }

    pub fn remove(&mut self, i: usize) -> bool {
        let gone = self.slots.get_mut(i).and_then(Option::take).is_some();
        if gone {
            self.len -= 1;
        }
        gone
    }

    /// Drops every expired binding, showing each to `gone`; returns how
    /// many.
    pub fn expire(&mut self, now: Instant, mut gone: impl FnMut(&Binding)) -> usize {
        let mut n = 0;
        for s in &mut self.slots {
            if let Some(b) = s.as_ref().filter(|b| !b.live(now)) {
                gone(b);
                *s = None;
                n += 1;
            }
        }
        self.len -= n;
        n
    }

    pub fn clear(&mut self) {
        self.slots.iter_mut().for_each(|s| *s = None);
        self.len = 0;
    }

    pub fn next_expiry(&self) -> Option<Instant> {
        self.iter().map(|b| b.expires).min()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod test {
    use super::*;

    fn binding(aor: &[u8], uri: &[u8], expires: u64) -> Binding {
        let mut contact = heapless::Vec::new();
        contact.extend_from_slice(uri).unwrap();
        Binding {
            aor: Aor::from_slice(aor).unwrap(),
            aor_hash: aor_hash(aor),
            contact,
            uri_len: uri.len(),
            call_id: [0; 16],
            cseq: 1,
            expires: Instant::from_secs(expires),
            source: "127.0.0.1:5060".parse().unwrap(),
            leg: 0,
            refreshed: Instant(0),
        }
    }

    #[test]
    fn test_insert_find_full_expire() {
        let mut s = Store::new(2);
        let now = Instant::from_secs(1);
        let a = s.insert(binding(b"sip:a@x", b"sip:a@1", 10)).unwrap();
        s.insert(binding(b"sip:b@x", b"sip:b@1", 20)).unwrap();
        assert!(s.insert(binding(b"sip:c@x", b"sip:c@1", 20)).is_none());
        assert_eq!(s.find(b"sip:a@x", b"sip:a@1", now), Some(a));
        assert_eq!(s.find(b"sip:a@x", b"sip:b@1", now), None);
        assert_eq!(s.next_expiry(), Some(Instant::from_secs(10)));
        // Expired bindings are invisible before they are dropped.
        assert_eq!(s.find(b"sip:a@x", b"sip:a@1", Instant::from_secs(10)), None);
        let mut seen = Vec::new();
        assert_eq!(
            s.expire(Instant::from_secs(10), |b| seen.push(b.aor.clone())),
            1
        );
        assert_eq!(seen, [Aor::from_slice(b"sip:a@x").unwrap()]);
        assert_eq!((s.len(), s.free()), (1, 1));
        assert!(s.remove(1));
        assert!(!s.remove(1));
        assert_eq!(s.len(), 0);
    }
}
