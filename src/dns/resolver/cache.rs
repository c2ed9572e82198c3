//! The answer cache: a table allocated once, keyed by (name, qtype), that
//! never grows. Entries a resolution in progress has read are pinned so a
//! burst of other answers can't evict them halfway through a chain.

use std::net::IpAddr;

use crate::dns::{Name, Negative, QType, Transport};
use crate::time::Instant;

/// Addresses kept per name: enough to spread load, small enough that the
/// table stays a few hundred KB.
pub(crate) const MAX_ADDRS: usize = 4;
/// SRV records kept per name (the best by priority, then target).
pub(crate) const MAX_SRV: usize = 4;
/// Usable NAPTR replacements kept per name, best first.
pub(crate) const MAX_NAPTR: usize = 4;

/// One SRV record as cached. Ordered by (priority, target, port, weight) so
/// which records are kept never depends on the order a server sent them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SrvRec {
    pub priority: u16,
    pub weight: u16,
    pub port: u16,
    pub target: Name,
}

impl SrvRec {
    fn key(&self) -> (u16, &[u8], u16, u16) {
        (
            self.priority,
            self.target.as_bytes(),
            self.port,
            self.weight,
        )
    }
}

impl Ord for SrvRec {
    fn cmp(&self, other: &Self) -> core::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

impl PartialOrd for SrvRec {
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// What an entry says about its (name, qtype).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Value {
    /// NXDOMAIN or NODATA (RFC 2308).
    Negative(Negative),
    /// A or AAAA addresses, sorted, at least one.
    Addrs(heapless::Vec<IpAddr, MAX_ADDRS>),
    /// SRV records, sorted, at least one (targets may be the root).
    Srv(heapless::Vec<SrvRec, MAX_SRV>),
    /// Usable SIP+D2U and SIP+D2T replacements in NAPTR order, at least
    /// one, each with its transport.
    Naptr(heapless::Vec<(Name, Transport), MAX_NAPTR>),
}

struct Entry {
    /// Cheap pre-check before comparing names.
    hash: u32,
    name: Name,
    qtype: QType,
    expires: Instant,
    /// Resolutions in progress that read this entry.
    pins: u16,
    /// `None`: a free slot.
    value: Option<Value>,
}

/// Fixed-capacity (name, qtype) → value table.
pub(crate) struct Cache {
    /// The slots used so far, within `cap` reserved at start-up: a slot is
    /// written when first needed, so an idle cache holds no RSS.
    entries: Vec<Entry>,
    cap: usize,
    /// Holds the latest answer that found every slot pinned, so the
    /// resolutions waiting for it still see it once. Its slot number is
    /// `cap`, which pins ignore.
    scratch: Entry,
}

impl Entry {
    fn free() -> Entry {
        Entry {
            hash: 0,
            name: Name::root(),
            qtype: QType::A,
            expires: Instant(0),
            pins: 0,
            value: None,
        }
    }

    fn holds(&self, hash: u32, name: &Name, qtype: QType) -> bool {
        self.value.is_some() && self.hash == hash && self.qtype == qtype && self.name == *name
    }
}

/// FNV-1a over the (lower-case) name and the type.
fn key_hash(name: &Name, qtype: QType) -> u32 {
    let mut h: u32 = 0x811C_9DC5;
    for &b in name.as_bytes().iter().chain(&qtype.code().to_be_bytes()) {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    h
}

impl Cache {
    /// Room for all `capacity` slots is reserved here and never grows.
    pub fn new(capacity: usize) -> Cache {
        let cap = capacity.max(1);
        Cache {
            entries: Vec::with_capacity(cap),
            cap,
            scratch: Entry::free(),
        }
    }

    fn position(&self, name: &Name, qtype: QType) -> Option<usize> {
        let hash = key_hash(name, qtype);
        self.entries.iter().position(|e| e.holds(hash, name, qtype))
    }

    /// The unexpired entry for (name, qtype): its slot and value.
    pub fn find(&self, name: &Name, qtype: QType, now: Instant) -> Option<(usize, &Value)> {
        let (i, e) = match self.position(name, qtype) {
            Some(i) => (i, self.entries.get(i)?),
            None if self.scratch.holds(key_hash(name, qtype), name, qtype) => {
                (self.cap, &self.scratch)
            }
            None => return None,
        };
        if e.expires <= now {
            return None;
        }
        Some((i, e.value.as_ref()?))
    }

    /// Stores `value` for `ttl` seconds (already clamped). An existing entry
    /// for the key is replaced in place and keeps its pins; otherwise a free
    /// slot is used, else the unpinned entry expiring soonest is evicted.
    /// When every slot is pinned the value goes to the scratch slot if
    /// `scratch` (an answer someone waits for), else nowhere; returns
    /// whether it went into the table.
    #[allow(clippy::too_many_arguments)]
    pub fn insert(
        &mut self,
        now: Instant,
        name: &Name,
        qtype: QType,
        ttl: u32,
        value: Value,
        scratch: bool,
        evictions: &mut u64,
    ) -> bool {
        let slot = match self.position(name, qtype) {
            Some(i) => Some(i),
            None if self.entries.len() < self.cap
                && !self
                    .entries
                    .iter()
                    .any(|e| e.pins == 0 && e.value.is_none()) =>
            {
                // Within the capacity reserved at start-up: no allocation.
                self.entries.push(Entry::free());
                Some(self.entries.len() - 1)
            }
            None => {
                let victim = self
                    .entries
                    .iter()
                    .enumerate()
                    .filter(|(_, e)| e.pins == 0)
                    .min_by_key(|(_, e)| (e.value.is_some(), e.expires));
                if let Some((_, e)) = victim {
                    if e.value.is_some() && e.expires > now {
                        *evictions += 1;
                    }
                }
                victim.map(|(i, _)| i)
            }
        };
        let e = match slot.and_then(|i| self.entries.get_mut(i)) {
            Some(e) => e,
            None if scratch => &mut self.scratch,
            None => return false,
        };
        e.hash = key_hash(name, qtype);
        e.name = *name;
        e.qtype = qtype;
        e.expires = now + core::time::Duration::from_secs(u64::from(ttl));
        e.value = Some(value);
        slot.is_some()
    }

    pub fn pin(&mut self, slot: usize) {
        if let Some(e) = self.entries.get_mut(slot) {
            e.pins = e.pins.saturating_add(1);
        }
    }

    pub fn unpin(&mut self, slot: usize) {
        if let Some(e) = self.entries.get_mut(slot) {
            e.pins = e.pins.saturating_sub(1);
        }
    }

    #[cfg(test)]
    pub fn len(&self, now: Instant) -> usize {
        self.entries
            .iter()
            .filter(|e| e.value.is_some() && e.expires > now)
            .count()
    }
}

/// Inserts `item` into the sorted `v`, dropping duplicates; when full, only
/// items smaller than the largest get in (it falls off). The result depends
/// on the set of items offered, not their order.
pub(crate) fn push_sorted<T: Ord, const N: usize>(v: &mut heapless::Vec<T, N>, item: T) {
    let Err(at) = v.binary_search(&item) else {
        return;
    };
    if at >= N {
        return;
    }
    if v.is_full() {
        v.pop();
    }
    let _ = v.insert(at, item);
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod test {
    use super::*;
    use std::net::Ipv4Addr;

    fn name(s: &str) -> Name {
        Name::from_text(s.as_bytes()).unwrap()
    }

    fn addr(last: u8) -> Value {
        let mut v = heapless::Vec::new();
        v.push(IpAddr::V4(Ipv4Addr::new(192, 0, 2, last))).unwrap();
        Value::Addrs(v)
    }

    #[test]
    fn find_respects_type_and_expiry() {
        let mut c = Cache::new(4);
        let mut ev = 0;
        let t0 = Instant::from_secs(100);
        assert!(c.insert(t0, &name("a.test"), QType::A, 10, addr(1), false, &mut ev));
        assert!(c.find(&name("a.test"), QType::A, t0).is_some());
        assert!(c.find(&name("a.test"), QType::Aaaa, t0).is_none());
        assert!(c.find(&name("b.test"), QType::A, t0).is_none());
        let late = Instant::from_secs(110);
        assert!(c
            .find(
                &name("a.test"),
                QType::A,
                late - core::time::Duration::from_millis(1)
            )
            .is_some());
        assert!(c.find(&name("a.test"), QType::A, late).is_none());
        // Replacing keeps one entry.
        assert!(c.insert(t0, &name("a.test"), QType::A, 10, addr(2), false, &mut ev));
        assert_eq!(c.len(t0), 1);
        assert_eq!(c.find(&name("a.test"), QType::A, t0).unwrap().1, &addr(2));
    }

    #[test]
    fn evicts_soonest_expiry_and_spares_pins() {
        let mut c = Cache::new(3);
        let mut ev = 0;
        let t0 = Instant::from_secs(0);
        c.insert(
            t0,
            &name("long.test"),
            QType::A,
            300,
            addr(1),
            false,
            &mut ev,
        );
        c.insert(
            t0,
            &name("short.test"),
            QType::A,
            30,
            addr(2),
            false,
            &mut ev,
        );
        c.insert(
            t0,
            &name("mid.test"),
            QType::A,
            100,
            addr(3),
            false,
            &mut ev,
        );
        assert_eq!(ev, 0);
        c.insert(t0, &name("new.test"), QType::A, 50, addr(4), false, &mut ev);
        assert_eq!(ev, 1);
        assert!(c.find(&name("short.test"), QType::A, t0).is_none());
        // Pin everything but "long": "mid" is kept although it expires sooner.
        let (m, _) = c.find(&name("mid.test"), QType::A, t0).unwrap();
        let (n, _) = c.find(&name("new.test"), QType::A, t0).unwrap();
        c.pin(m);
        c.pin(n);
        c.insert(t0, &name("x.test"), QType::A, 50, addr(5), false, &mut ev);
        assert!(c.find(&name("long.test"), QType::A, t0).is_none());
        assert!(c.find(&name("mid.test"), QType::A, t0).is_some());
        // All pinned: nothing stored, unless to the scratch slot.
        let (x, _) = c.find(&name("x.test"), QType::A, t0).unwrap();
        c.pin(x);
        assert!(!c.insert(t0, &name("y.test"), QType::A, 50, addr(6), false, &mut ev));
        assert!(c.find(&name("y.test"), QType::A, t0).is_none());
        assert!(!c.insert(t0, &name("s.test"), QType::A, 50, addr(8), true, &mut ev));
        assert_eq!(
            c.find(&name("s.test"), QType::A, t0).unwrap(),
            (3, &addr(8))
        );
        c.pin(3); // ignored: the scratch slot has no pins
        assert!(!c.insert(t0, &name("t.test"), QType::A, 50, addr(9), true, &mut ev));
        assert!(c.find(&name("s.test"), QType::A, t0).is_none());
        c.unpin(x);
        assert!(c.insert(t0, &name("y.test"), QType::A, 50, addr(6), false, &mut ev));
        // Expired entries go without counting as evictions.
        let ev_before = ev;
        c.unpin(m);
        c.insert(
            Instant::from_secs(1000),
            &name("z.test"),
            QType::A,
            5,
            addr(7),
            false,
            &mut ev,
        );
        assert_eq!(ev, ev_before);
    }

    #[test]
    fn push_sorted_keeps_the_smallest_set() {
        let mut v = heapless::Vec::<u8, 3>::new();
        for x in [9, 1, 5, 1, 7, 3, 2] {
            push_sorted(&mut v, x);
        }
        assert_eq!(&v[..], &[1, 2, 3]);
        let mut w = heapless::Vec::<u8, 3>::new();
        for x in [2, 3, 7, 1, 5, 9, 1] {
            push_sorted(&mut w, x);
        }
        assert_eq!(v, w);
    }
}
