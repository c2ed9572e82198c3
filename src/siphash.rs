//! SipHash-2-4 (Aumasson and Bernstein, 2012): a keyed hash for short
//! inputs, a fraction of HMAC-MD5's cost (no second pass, no 64-byte
//! padding blocks). The branch's T, L and M use it; the token format keeps
//! RC4 and HMAC-MD5.

/// A 128-bit key; hashes are fed piece by piece like [`crate::hmac`].
#[derive(Clone, Copy)]
pub struct SipKey {
    k0: u64,
    k1: u64,
}

impl SipKey {
    pub fn new(key: [u8; 16]) -> Self {
        let (a, b) = key.split_at(8);
        SipKey {
            k0: u64::from_le_bytes(a.try_into().unwrap_or_default()),
            k1: u64::from_le_bytes(b.try_into().unwrap_or_default()),
        }
    }

    pub fn stream(&self) -> SipStream {
        SipStream {
            v: [
                self.k0 ^ 0x736f_6d65_7073_6575,
                self.k1 ^ 0x646f_7261_6e64_6f6d,
                self.k0 ^ 0x6c79_6765_6e65_7261,
                self.k1 ^ 0x7465_6462_7974_6573,
            ],
            tail: 0,
            ntail: 0,
            len: 0,
        }
    }

    /// The hash of the concatenation of `parts`.
    pub fn hash(&self, parts: &[&[u8]]) -> u64 {
        let mut s = self.stream();
        for p in parts {
            s.update(p);
        }
        s.finish()
    }
}

pub struct SipStream {
    v: [u64; 4],
    /// Bytes not yet making a whole word, little-endian.
    tail: u64,
    ntail: u32,
    len: u64,
}

impl SipStream {
    fn round(&mut self) {
        let [v0, v1, v2, v3] = &mut self.v;
        *v0 = v0.wrapping_add(*v1);
        *v1 = v1.rotate_left(13) ^ *v0;
        *v0 = v0.rotate_left(32);
        *v2 = v2.wrapping_add(*v3);
        *v3 = v3.rotate_left(16) ^ *v2;
        *v0 = v0.wrapping_add(*v3);
        *v3 = v3.rotate_left(21) ^ *v0;
        *v2 = v2.wrapping_add(*v1);
        *v1 = v1.rotate_left(17) ^ *v2;
        *v2 = v2.rotate_left(32);
    }

    fn word(&mut self, m: u64) {
        self.v[3] ^= m;
        self.round();
        self.round();
        self.v[0] ^= m;
    }

    pub fn update(&mut self, mut data: &[u8]) -> &mut Self {
        self.len = self.len.wrapping_add(data.len() as u64);
        // Fill a pending partial word first.
        while self.ntail != 0 {
            let Some((&b, rest)) = data.split_first() else {
                return self;
            };
            self.tail |= u64::from(b) << (8 * self.ntail);
            self.ntail += 1;
            data = rest;
            if self.ntail == 8 {
                let m = self.tail;
                self.word(m);
                self.tail = 0;
                self.ntail = 0;
            }
        }
        let mut words = data.chunks_exact(8);
        for w in words.by_ref() {
            self.word(u64::from_le_bytes(w.try_into().unwrap_or_default()));
        }
        for (i, &b) in words.remainder().iter().enumerate() {
            self.tail |= u64::from(b) << (8 * i);
        }
        self.ntail = words.remainder().len() as u32;
        self
    }

    pub fn finish(&mut self) -> u64 {
        let b = self.tail | (self.len & 0xff) << 56;
        self.word(b);
        self.v[2] ^= 0xff;
        for _ in 0..4 {
            self.round();
        }
        let [v0, v1, v2, v3] = self.v;
        v0 ^ v1 ^ v2 ^ v3
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SipKey {
        let mut k = [0u8; 16];
        for (i, b) in k.iter_mut().enumerate() {
            *b = i as u8;
        }
        SipKey::new(k)
    }

    /// The paper's test vectors (appendix A): key 00..0f, messages 00..n-1.
    #[test]
    fn reference_vectors() {
        let msg: Vec<u8> = (0u8..64).collect();
        let want: [(usize, u64); 5] = [
            (0, 0x726f_db47_dd0e_0e31),
            (1, 0x74f8_39c5_93dc_67fd),
            (7, 0xab02_00f5_8b01_d137),
            (8, 0x93f5_f579_9a93_2462),
            (15, 0xa129_ca61_49be_45e5),
        ];
        for (n, h) in want {
            assert_eq!(key().hash(&[&msg[..n]]), h, "length {n}");
        }
    }

    /// Agrees with std's (deprecated) SipHasher, which is SipHash-2-4.
    #[test]
    #[allow(deprecated)]
    fn agrees_with_std() {
        use std::hash::Hasher;
        let msg: Vec<u8> = (0u8..=255).map(|b| b.wrapping_mul(31)).collect();
        for n in 0..msg.len() {
            let mut h =
                std::hash::SipHasher::new_with_keys(0x0706_0504_0302_0100, 0x0f0e_0d0c_0b0a_0908);
            h.write(&msg[..n]);
            assert_eq!(key().hash(&[&msg[..n]]), h.finish(), "length {n}");
        }
    }

    #[test]
    fn pieces_hash_like_the_whole() {
        let msg: Vec<u8> = (0u8..40).collect();
        let whole = key().hash(&[&msg]);
        for a in 0..msg.len() {
            for b in a..msg.len() {
                let h = key().hash(&[&msg[..a], &msg[a..b], &msg[b..]]);
                assert_eq!(h, whole, "split at {a}, {b}");
            }
        }
    }
}
