//! The output cursor: appends bytes, numbers, hex and addresses to a fixed
//! buffer (or the rewriter's scratch) and reports [`Full`] instead of
//! growing.

use core::fmt;
use std::net::{IpAddr, Ipv4Addr};

/// The buffer is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full;

/// Bytes of new text a [`Rewriter`](super::Rewriter) can hold.
pub(crate) const SCRATCH: usize = 8192;

/// The rewriter's text buffer, never zeroed: a new rewriter does not write
/// 8 KiB it will mostly not use.
pub(crate) type Scratch = super::fixed::FixedVec<u8, SCRATCH>;

enum Sink<'a> {
    Slice {
        buf: &'a mut [u8],
        pos: usize,
    },
    /// Appends to the scratch; the text of this cursor starts at `start`.
    Scratch {
        vec: &'a mut Scratch,
        start: usize,
    },
}

/// Appends bytes to a fixed buffer; `fmt::Write` lets addresses be formatted
/// without allocating.
pub struct Cursor<'a> {
    sink: Sink<'a>,
}

impl<'a> Cursor<'a> {
    pub fn new(buf: &'a mut [u8]) -> Self {
        Cursor {
            sink: Sink::Slice { buf, pos: 0 },
        }
    }

    /// A cursor that appends to what `vec` already holds.
    pub(crate) fn scratch(vec: &'a mut Scratch) -> Self {
        let start = vec.len();
        Cursor {
            sink: Sink::Scratch { vec, start },
        }
    }

    pub fn len(&self) -> usize {
        match &self.sink {
            Sink::Slice { pos, .. } => *pos,
            Sink::Scratch { vec, start } => vec.len() - start,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn written(&self) -> &[u8] {
        match &self.sink {
            Sink::Slice { buf, pos } => buf.get(..*pos).unwrap_or_default(),
            Sink::Scratch { vec, start } => vec.as_slice().get(*start..).unwrap_or_default(),
        }
    }

    #[inline]
    pub fn put(&mut self, bytes: &[u8]) -> Result<(), Full> {
        match &mut self.sink {
            Sink::Slice { buf, pos } => {
                let end = pos.checked_add(bytes.len()).ok_or(Full)?;
                let dst = buf.get_mut(*pos..end).ok_or(Full)?;
                dst.copy_from_slice(bytes);
                *pos = end;
                Ok(())
            }
            Sink::Scratch { vec, .. } => vec.extend_from_slice(bytes).map_err(|_| Full),
        }
    }

    pub fn put_u32(&mut self, mut n: u32) -> Result<(), Full> {
        let mut tmp = [0u8; 10];
        let mut i = tmp.len();
        for slot in tmp.iter_mut().rev() {
            i -= 1;
            *slot = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.put(tmp.get(i..).unwrap_or_default())
    }

    pub fn put_hex(&mut self, bytes: &[u8]) -> Result<(), Full> {
        for b in bytes {
            self.put(&crate::hex::encode::<1, 2>(&[*b]))?;
        }
        Ok(())
    }

    /// An IP address as `Display` writes it (IPv6 without brackets); IPv4
    /// without `core::fmt`.
    pub fn put_ip(&mut self, ip: IpAddr) -> Result<(), Full> {
        match ip {
            IpAddr::V4(v4) => self.put_ipv4(v4),
            IpAddr::V6(v6) => self.put_fmt(format_args!("{v6}")),
        }
    }

    /// Dotted decimal, as `Display` writes it.
    pub fn put_ipv4(&mut self, ip: Ipv4Addr) -> Result<(), Full> {
        let mut tmp = [0u8; 15];
        let mut n = 0;
        // At most 15 bytes: every push fits.
        let mut push = |c: u8| {
            if let Some(slot) = tmp.get_mut(n) {
                *slot = c;
                n += 1;
            }
        };
        for (k, o) in ip.octets().into_iter().enumerate() {
            if k > 0 {
                push(b'.');
            }
            if o >= 100 {
                push(b'0' + o / 100);
            }
            if o >= 10 {
                push(b'0' + o / 10 % 10);
            }
            push(b'0' + o % 10);
        }
        self.put(tmp.get(..n).unwrap_or_default())
    }

    /// Formats with `core::fmt` (for IP addresses) into the buffer.
    pub fn put_fmt(&mut self, args: fmt::Arguments<'_>) -> Result<(), Full> {
        fmt::write(self, args).map_err(|_| Full)
    }
}

impl fmt::Write for Cursor<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.put(s.as_bytes()).map_err(|_| fmt::Error)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod test {
    use super::*;
    use std::net::Ipv6Addr;

    #[test]
    fn test_put_and_full() {
        let mut b = [0u8; 13];
        let mut c = Cursor::new(&mut b);
        c.put(b"ab").unwrap();
        c.put_u32(0).unwrap();
        c.put_u32(4294967295).unwrap();
        assert_eq!(c.written(), b"ab04294967295");
        assert_eq!(c.put(b"x"), Err(Full));
    }

    #[test]
    fn test_put_ip_writes_what_display_writes() {
        let mut x: u32 = 0x9e37_79b9;
        let mut ips: Vec<IpAddr> = [
            "0.0.0.0",
            "255.255.255.255",
            "10.0.0.1",
            "192.0.2.100",
            "::1",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        for _ in 0..2000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            ips.push(IpAddr::V4(x.into()));
        }
        ips.push("2001:db8::7".parse().unwrap());
        ips.push("::ffff:192.0.2.1".parse().unwrap());
        for ip in ips {
            let mut b = [0u8; 64];
            let mut c = Cursor::new(&mut b);
            c.put_ip(ip).unwrap();
            assert_eq!(c.written(), ip.to_string().as_bytes());
        }
        let mut b = [0u8; 14];
        assert_eq!(
            Cursor::new(&mut b).put_ipv4(Ipv4Addr::new(255, 255, 255, 255)),
            Err(Full)
        );
    }

    #[test]
    fn test_scratch_cursor_appends_and_stops_when_full() {
        let mut v = Scratch::new();
        Cursor::scratch(&mut v).put(b"abc").unwrap();
        let mut c = Cursor::scratch(&mut v);
        c.put(b"de").unwrap();
        c.put_u32(42).unwrap();
        assert_eq!(c.written(), b"de42");
        assert_eq!(c.len(), 4);
        assert_eq!(&v[..], b"abcde42");
        let big = [b'x'; SCRATCH];
        assert_eq!(Cursor::scratch(&mut v).put(&big), Err(Full));
        assert_eq!(&v[..], b"abcde42");
    }

    #[test]
    fn test_fmt_ipv6() {
        let mut b = [0u8; 64];
        let mut c = Cursor::new(&mut b);
        let ip = IpAddr::V6(Ipv6Addr::LOCALHOST);
        c.put_fmt(format_args!("[{ip}]:{}", 5060)).unwrap();
        assert_eq!(c.written(), b"[::1]:5060");
    }
}
