//! Lower-case hex, both ways, for branches, tags, nonces, %-escapes and
//! the bindings file. Fixed sizes in, fixed sizes out; nothing allocates.

/// The digits we write.
pub const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// The value of one hex digit, either case.
pub fn digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// `bytes` as 2N lower-case digits.
pub fn encode<const N: usize, const M: usize>(bytes: &[u8; N]) -> [u8; M] {
    const { assert!(M == 2 * N) };
    let mut out = [0u8; M];
    for (pair, b) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[usize::from(b >> 4)];
        pair[1] = DIGITS[usize::from(b & 15)];
    }
    out
}

/// Exactly `2 * out.len()` digits into `out`; `None` for any other input.
pub fn decode(text: &[u8], out: &mut [u8]) -> Option<()> {
    if text.len() != 2 * out.len() {
        return None;
    }
    for (o, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        *o = digit(*pair.first()?)? << 4 | digit(*pair.get(1)?)?;
    }
    Some(())
}

/// One to sixteen digits as a number.
pub fn decode_u64(text: &[u8]) -> Option<u64> {
    if text.is_empty() || text.len() > 16 {
        return None;
    }
    text.iter()
        .try_fold(0u64, |n, b| Some(n << 4 | u64::from(digit(*b)?)))
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn round_trips_and_refuses() {
        let h: [u8; 8] = encode(&[0x00, 0xab, 0x7f, 0xff]);
        assert_eq!(&h, b"00ab7fff");
        let mut back = [0u8; 4];
        assert_eq!(decode(b"00AB7fff", &mut back), Some(()));
        assert_eq!(back, [0x00, 0xab, 0x7f, 0xff]);
        assert_eq!(decode(b"00ab7ff", &mut back), None);
        assert_eq!(decode(b"00ab7ffg", &mut back), None);
        assert_eq!(decode_u64(b"ffffffffffffffff"), Some(u64::MAX));
        assert_eq!(decode_u64(b"1ffffffffffffffff"), None);
        assert_eq!(decode_u64(b""), None);
        assert_eq!(decode_u64(b"12x"), None);
        assert_eq!(digit(b'G'), None);
    }
}
