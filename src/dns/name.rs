//! Domain names: text validation, wire encoding, and decompression that
//! cannot loop or read out of bounds.

use core::fmt;

use super::DnsError;

/// Longest name in wire form (RFC 1035 §2.3.4), root byte included.
const MAX_WIRE: usize = 255;
/// Longest name in dotted text form without the trailing dot.
const MAX_TEXT: usize = MAX_WIRE - 2;
const MAX_LABEL: usize = 63;
/// Real compressors chain two or three pointers; more is abuse.
const MAX_HOPS: usize = 32;

/// A domain name in dotted, lower-case text form without the trailing dot.
/// The root is the empty name.
///
/// Fixed size so answers can be decoded without allocating. Lower-casing on
/// the way in makes `==` the case-insensitive comparison DNS wants.
#[derive(Clone, Copy)]
pub struct Name {
    buf: [u8; MAX_WIRE],
    len: u8,
}

impl Name {
    pub const fn root() -> Name {
        Name {
            buf: [0; MAX_WIRE],
            len: 0,
        }
    }

    /// Validates a dotted name (labels 1..=63 bytes, at most 253 bytes, one
    /// optional trailing dot) and lower-cases it. The root is not accepted:
    /// nothing we query or look up is the root.
    pub fn from_text(text: &[u8]) -> Result<Name, DnsError> {
        let text = text.strip_suffix(b".").unwrap_or(text);
        if text.is_empty() || text.len() > MAX_TEXT {
            return Err(DnsError::BadName);
        }
        let mut name = Name::root();
        for label in text.split(|&b| b == b'.') {
            name.push_label(label).map_err(|_| DnsError::BadName)?;
        }
        Ok(name)
    }

    /// The dotted lower-case text, empty for the root.
    pub fn as_bytes(&self) -> &[u8] {
        // `len` is a u8 and `buf` has 255 bytes, so this slice always fits.
        self.buf.get(..usize::from(self.len)).unwrap_or(&[])
    }

    /// The text as `&str` when it is UTF-8 (always, for host names).
    pub fn as_str(&self) -> Option<&str> {
        core::str::from_utf8(self.as_bytes()).ok()
    }

    pub fn is_root(&self) -> bool {
        self.len == 0
    }

    /// Case-insensitive comparison with dotted text (trailing dot optional).
    pub fn eq_text(&self, text: &[u8]) -> bool {
        let text = text.strip_suffix(b".").unwrap_or(text);
        self.as_bytes().eq_ignore_ascii_case(text)
    }

    /// Writes the uncompressed wire form; returns its length.
    pub fn write_wire(&self, out: &mut [u8]) -> Result<usize, DnsError> {
        let mut at = 0;
        if !self.is_root() {
            for label in self.as_bytes().split(|&b| b == b'.') {
                let end = at + 1 + label.len();
                let dst = out.get_mut(at..end).ok_or(DnsError::NoSpace)?;
                if let Some((len, rest)) = dst.split_first_mut() {
                    // Labels are at most 63 bytes, checked when pushed.
                    *len = label.len() as u8;
                    rest.copy_from_slice(label);
                }
                at = end;
            }
        }
        *out.get_mut(at).ok_or(DnsError::NoSpace)? = 0;
        Ok(at + 1)
    }

    /// The wire length this name takes uncompressed.
    pub(crate) fn wire_len(&self) -> usize {
        if self.is_root() {
            1
        } else {
            usize::from(self.len) + 2
        }
    }

    /// Appends one label, lower-cased. Labels holding a dot can't be told
    /// apart in text form, so they are refused.
    fn push_label(&mut self, label: &[u8]) -> Result<(), DnsError> {
        if label.is_empty() || label.len() > MAX_LABEL || label.contains(&b'.') {
            return Err(DnsError::Malformed);
        }
        let at = usize::from(self.len);
        let sep: &[u8] = if self.is_root() { b"" } else { b"." };
        let end = at + sep.len() + label.len();
        if end > MAX_TEXT {
            return Err(DnsError::Malformed);
        }
        let dst = self.buf.get_mut(at..end).ok_or(DnsError::Malformed)?;
        let (dot, dst) = dst
            .split_at_mut_checked(sep.len())
            .ok_or(DnsError::Malformed)?;
        dot.copy_from_slice(sep);
        for (d, s) in dst.iter_mut().zip(label) {
            *d = s.to_ascii_lowercase();
        }
        self.len = end as u8;
        Ok(())
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Name) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Name {}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_root() {
            return f.write_str(".");
        }
        for &b in self.as_bytes() {
            if b.is_ascii_graphic() {
                write!(f, "{}", char::from(b))?;
            } else {
                write!(f, "\\{b:03}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Name({self})")
    }
}

/// Reads the possibly compressed name at `start` of `pkt`. Returns the
/// offset just past the name's bytes at `start` (pointers are followed for
/// the text, not for this offset).
///
/// Every pointer must point before the lowest offset read so far in this
/// name. Offsets visited then strictly fall at each hop, so loops are
/// impossible; the hop cap bounds the work. With `out` the text is
/// collected; without it the name is only checked, so an SOA's RNAME with a
/// dot inside a label (`john\.doe`) doesn't spoil a negative answer.
pub(crate) fn read_name(
    pkt: &[u8],
    start: usize,
    mut out: Option<&mut Name>,
) -> Result<usize, DnsError> {
    if let Some(name) = out.as_deref_mut() {
        *name = Name::root();
    }
    let mut pos = start;
    let mut floor = start;
    let mut end = None;
    let mut hops = 0;
    let mut wire = 0;
    loop {
        let len = *pkt.get(pos).ok_or(DnsError::Truncated)?;
        match len & 0xC0 {
            0x00 if len == 0 => return Ok(end.unwrap_or(pos + 1)),
            0x00 => {
                let len = usize::from(len);
                let label = pkt.get(pos + 1..pos + 1 + len).ok_or(DnsError::Truncated)?;
                wire += 1 + len;
                // The root byte must still fit in 255.
                if wire >= MAX_WIRE {
                    return Err(DnsError::Malformed);
                }
                if let Some(name) = out.as_deref_mut() {
                    name.push_label(label)?;
                }
                pos += 1 + len;
            }
            0xC0 => {
                let low = *pkt.get(pos + 1).ok_or(DnsError::Truncated)?;
                let target = usize::from(u16::from_be_bytes([len & 0x3F, low]));
                end.get_or_insert(pos + 2);
                hops += 1;
                if target >= floor || hops > MAX_HOPS {
                    return Err(DnsError::BadPointer);
                }
                floor = target;
                pos = target;
            }
            // 0x40 and 0x80 are the obsolete extended label types.
            _ => return Err(DnsError::Malformed),
        }
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod test {
    use super::*;

    fn read(pkt: &[u8], start: usize) -> Result<(Name, usize), DnsError> {
        let mut n = Name::root();
        let end = read_name(pkt, start, Some(&mut n))?;
        Ok((n, end))
    }

    #[test]
    fn text_validation() {
        let n = Name::from_text(b"Example.TEST.").unwrap();
        assert_eq!(n.as_bytes(), b"example.test");
        assert_eq!(n.as_str(), Some("example.test"));
        assert!(n.eq_text(b"EXAMPLE.test."));
        assert!(!n.eq_text(b"example.tes"));
        assert_eq!(n, Name::from_text(b"example.test").unwrap());
        assert_eq!(
            Name::from_text(b"_sip._udp.a").unwrap().as_bytes(),
            b"_sip._udp.a"
        );

        for bad in [&b""[..], b".", b"..", b"a..b", b".a", b"a.b..", &[b'a'; 64]] {
            assert_eq!(Name::from_text(bad), Err(DnsError::BadName), "{bad:?}");
        }
        assert!(Name::from_text(&[b'a'; 63]).is_ok());

        // 253 text bytes is the limit (255 on the wire), trailing dot or not.
        let mut long = Vec::new();
        for _ in 0..4 {
            long.extend_from_slice(&[b'x'; 62]);
            long.push(b'.');
        }
        long.push(b'y'); // 4 * 63 + 1 = 253
        let n = Name::from_text(&long).unwrap();
        assert_eq!(n.as_bytes().len(), 253);
        let mut wire = [0u8; 255];
        assert_eq!(n.write_wire(&mut wire), Ok(255));
        long.push(b'.');
        assert!(Name::from_text(&long).is_ok());
        long.pop();
        long.push(b'z');
        assert_eq!(Name::from_text(&long), Err(DnsError::BadName));
    }

    #[test]
    fn write_wire_form() {
        let n = Name::from_text(b"_sip._UDP.example.test").unwrap();
        let mut out = [0u8; 64];
        let len = n.write_wire(&mut out).unwrap();
        assert_eq!(&out[..len], b"\x04_sip\x04_udp\x07example\x04test\x00");
        assert_eq!(len, n.wire_len());
        for short in 0..len {
            assert_eq!(n.write_wire(&mut out[..short]), Err(DnsError::NoSpace));
        }
        assert_eq!(Name::root().write_wire(&mut out), Ok(1));
        assert_eq!(Name::root().to_string(), ".");
    }

    #[test]
    fn decompress_backward_pointers() {
        // "example.test" at 0, "www" + pointer to 0 at 14, pointer to 14 at 20.
        let pkt = b"\x07ExAmPle\x04test\x00\x03WWW\xc0\x00\xc0\x0e";
        assert_eq!(read(pkt, 0).unwrap().0.as_bytes(), b"example.test");
        let (n, end) = read(pkt, 14).unwrap();
        assert_eq!((n.as_bytes(), end), (&b"www.example.test"[..], 20));
        let (n, end) = read(pkt, 20).unwrap();
        assert_eq!((n.as_bytes(), end), (&b"www.example.test"[..], 22));
        // A name that is only a pointer.
        assert_eq!(read(pkt, 18).map(|r| r.1), Ok(20));
        // Pointing into the middle of a name yields its suffix.
        let mid = b"\x07example\x04test\x00\xc0\x08";
        assert_eq!(read(mid, 14).unwrap().0.as_bytes(), b"test");
    }

    #[test]
    fn pointer_abuse_refused() {
        // Self pointer.
        assert_eq!(read(b"\xc0\x00", 0), Err(DnsError::BadPointer));
        // Backward pointer whose target runs forward into the same pointer.
        assert_eq!(read(b"\x01a\xc0\x00", 2), Err(DnsError::BadPointer));
        // Forward and out-of-range pointers.
        assert_eq!(read(b"\xc0\x02\x00", 0), Err(DnsError::BadPointer));
        assert_eq!(read(b"\xc0\xff", 0), Err(DnsError::BadPointer));
        assert_eq!(read(b"\xff\xff", 0), Err(DnsError::BadPointer));
        // Two names pointing at each other.
        assert_eq!(
            read(b"\x01a\xc0\x04\x01b\xc0\x00", 4),
            Err(DnsError::BadPointer)
        );
        // Extended label types and truncation.
        assert_eq!(read(b"\x40a\x00", 0), Err(DnsError::Malformed));
        assert_eq!(read(b"\x03ab", 0), Err(DnsError::Truncated));
        assert_eq!(read(b"\x01a", 0), Err(DnsError::Truncated));
        assert_eq!(read(b"\xc0", 0), Err(DnsError::Truncated));
        assert_eq!(read(b"", 0), Err(DnsError::Truncated));
    }

    #[test]
    fn hop_limit() {
        // A legal but absurd chain of pointers to pointers.
        let mut pkt = vec![0u8];
        for i in 0..40u16 {
            let prev = if i == 0 { 0 } else { 1 + 2 * (i - 1) };
            pkt.extend_from_slice(&(0xC000 | prev).to_be_bytes());
        }
        assert_eq!(read(&pkt, 1 + 2 * 5).map(|r| r.1), Ok(13));
        assert_eq!(read(&pkt, 1 + 2 * 39), Err(DnsError::BadPointer));
    }

    #[test]
    fn over_long_names_refused() {
        // 5 labels of 63: 320 wire bytes.
        let mut pkt = Vec::new();
        for _ in 0..5 {
            pkt.push(63);
            pkt.extend_from_slice(&[b'a'; 63]);
        }
        pkt.push(0);
        assert_eq!(read(&pkt, 0), Err(DnsError::Malformed));
        assert_eq!(read_name(&pkt, 0, None), Err(DnsError::Malformed));
        // Label > 63 is read as an extended type or a pointer, never a label.
        assert_eq!(read(b"\x41", 0), Err(DnsError::Malformed));
    }

    #[test]
    fn dotted_label_only_checked() {
        let pkt = b"\x08john.doe\x07example\x00";
        assert_eq!(read(pkt, 0), Err(DnsError::Malformed));
        assert_eq!(read_name(pkt, 0, None), Ok(pkt.len()));
    }
}
