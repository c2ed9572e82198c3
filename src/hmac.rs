//! HMAC-MD5 (RFC 2104) over several parts, without allocating.
//!
//! MD5 is what the design allows (`md-5` is the only hash dependency). It is
//! used for keyed tags and MACs (branches, To-tags, tokens, nonces), where
//! HMAC's construction keeps MD5's collision weakness from mattering.

use md5::{Digest, Md5};

const BLOCK: usize = 64;

/// A key prepared once: the MD5 states after the padded key blocks are kept,
/// so a short MAC costs two compressions, not four.
#[derive(Clone)]
pub struct HmacKey {
    inner: Md5,
    outer: Md5,
}

impl HmacKey {
    pub fn new(key: &[u8]) -> Self {
        let mut k = [0u8; BLOCK];
        if key.len() > BLOCK {
            k[..16].copy_from_slice(&Md5::digest(key));
        } else {
            k[..key.len()].copy_from_slice(key);
        }
        let mut ipad = [0x36u8; BLOCK];
        let mut opad = [0x5cu8; BLOCK];
        for i in 0..BLOCK {
            ipad[i] ^= k[i];
            opad[i] ^= k[i];
        }
        let mut inner = Md5::new();
        inner.update(ipad);
        let mut outer = Md5::new();
        outer.update(opad);
        HmacKey { inner, outer }
    }

    /// HMAC-MD5 over the concatenation of `parts`.
    pub fn mac(&self, parts: &[&[u8]]) -> [u8; 16] {
        let mut s = self.stream();
        for p in parts {
            s.update(p);
        }
        s.finish()
    }

    /// A MAC fed piece by piece, for inputs of varying count.
    pub fn stream(&self) -> HmacStream<'_> {
        HmacStream {
            key: self,
            inner: self.inner.clone(),
        }
    }
}

pub struct HmacStream<'k> {
    key: &'k HmacKey,
    inner: Md5,
}

impl HmacStream<'_> {
    pub fn update(&mut self, data: &[u8]) -> &mut Self {
        self.inner.update(data);
        self
    }

    pub fn finish(self) -> [u8; 16] {
        let inner = self.inner.finalize();
        let mut outer = self.key.outer.clone();
        outer.update(inner);
        outer.finalize().into()
    }
}

/// One-shot HMAC-MD5.
pub fn hmac_md5(key: &[u8], parts: &[&[u8]]) -> [u8; 16] {
    HmacKey::new(key).mac(parts)
}

#[cfg(test)]
mod test {
    use super::*;

    fn hex(d: [u8; 16]) -> String {
        d.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn rfc2202_vectors() {
        assert_eq!(
            hex(hmac_md5(&[0x0b; 16], &[b"Hi There"])),
            "9294727a3638bb1c13f48ef8158bfc9d"
        );
        assert_eq!(
            hex(hmac_md5(b"Jefe", &[b"what do ya want ", b"for nothing?"])),
            "750c783e6ab0b503eaa86e310a5db738"
        );
        // A key longer than the block is hashed first.
        assert_eq!(
            hex(hmac_md5(
                &[0xaa; 80],
                &[b"Test Using Larger Than Block-Size Key - Hash Key First"]
            )),
            "6b1ab7fe4bd7bf8f0b62e6ce61b9d0cd"
        );
    }
}
