//! Calls found by a key (the Call-ID, the offering address) without looking
//! at every call: a bucket per hash, the calls of a bucket chained through
//! one array. Both are sized at start-up; a call is in at most one chain
//! of each index.

use crate::siphash::SipKey;

const END: u16 = u16::MAX;

pub struct Chains {
    heads: Box<[u16]>,
    next: Box<[u16]>,
    key: SipKey,
}

impl Chains {
    /// Room for calls `0..capacity` (less than `u16::MAX`).
    pub fn new(capacity: usize, key: [u8; 16]) -> Chains {
        let buckets = (2 * capacity).max(16).next_power_of_two();
        Chains {
            heads: vec![END; buckets].into_boxed_slice(),
            next: vec![END; capacity].into_boxed_slice(),
            key: SipKey::new(key),
        }
    }

    pub fn bucket(&self, key: &[u8]) -> usize {
        (self.key.hash(&[key]) as usize) & (self.heads.len() - 1)
    }

    fn some(i: u16) -> Option<usize> {
        (i != END).then_some(usize::from(i))
    }

    /// The first call in bucket `b`.
    pub fn first(&self, b: usize) -> Option<usize> {
        Self::some(*self.heads.get(b)?)
    }

    /// The call after `i` in its bucket. Read it before unlinking `i`.
    pub fn after(&self, i: usize) -> Option<usize> {
        Self::some(*self.next.get(i)?)
    }

    pub fn link(&mut self, i: usize, b: usize) {
        let (Some(head), Some(next)) = (self.heads.get_mut(b), self.next.get_mut(i)) else {
            return;
        };
        *next = *head;
        *head = i as u16;
    }

    pub fn unlink(&mut self, i: usize, b: usize) {
        let Some(&after) = self.next.get(i) else {
            return;
        };
        let mut at = self.heads.get_mut(b);
        while let Some(slot) = at {
            if *slot == END {
                return;
            }
            if usize::from(*slot) == i {
                *slot = after;
                if let Some(n) = self.next.get_mut(i) {
                    *n = END;
                }
                return;
            }
            let j = usize::from(*slot);
            at = self.next.get_mut(j);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod test {
    use super::*;

    fn members(c: &Chains, b: usize) -> Vec<usize> {
        let mut v = Vec::new();
        let mut at = c.first(b);
        while let Some(i) = at {
            v.push(i);
            at = c.after(i);
        }
        v
    }

    #[test]
    fn link_walk_and_unlink_anywhere_in_a_chain() {
        let mut c = Chains::new(8, [3; 16]);
        let b = c.bucket(b"call-1");
        assert_eq!(b, c.bucket(b"call-1"));
        for i in [1, 4, 6] {
            c.link(i, b);
        }
        assert_eq!(members(&c, b), [6, 4, 1]);
        c.unlink(4, b);
        assert_eq!(members(&c, b), [6, 1]);
        c.unlink(6, b);
        assert_eq!(members(&c, b), [1]);
        // Not in it, or out of range: nothing happens.
        c.unlink(5, b);
        c.unlink(99, b);
        c.link(99, b);
        assert_eq!(members(&c, b), [1]);
        c.unlink(1, b);
        assert!(members(&c, b).is_empty());
        c.link(4, b);
        assert_eq!(members(&c, b), [4]);
    }
}
