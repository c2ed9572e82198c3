use core::fmt;

/// The buffer is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full;

/// Appends bytes to a fixed buffer; `fmt::Write` lets addresses be formatted
/// without allocating.
pub struct Cursor<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(buf: &'a mut [u8]) -> Self {
        Cursor { buf, pos: 0 }
    }

    pub fn len(&self) -> usize {
        self.pos
    }

    pub fn is_empty(&self) -> bool {
        self.pos == 0
    }

    pub fn written(&self) -> &[u8] {
        &self.buf[..self.pos]
    }

    pub fn put(&mut self, bytes: &[u8]) -> Result<(), Full> {
        let end = self.pos.checked_add(bytes.len()).ok_or(Full)?;
        let dst = self.buf.get_mut(self.pos..end).ok_or(Full)?;
        dst.copy_from_slice(bytes);
        self.pos = end;
        Ok(())
    }

    pub fn put_u32(&mut self, mut n: u32) -> Result<(), Full> {
        let mut tmp = [0u8; 10];
        let mut i = tmp.len();
        loop {
            i -= 1;
            tmp[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.put(&tmp[i..])
    }

    pub fn put_hex(&mut self, bytes: &[u8]) -> Result<(), Full> {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for b in bytes {
            self.put(&[HEX[(b >> 4) as usize], HEX[(b & 15) as usize]])?;
        }
        Ok(())
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
mod test {
    use super::*;
    use std::net::{IpAddr, Ipv6Addr};

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
    fn test_fmt_ipv6() {
        let mut b = [0u8; 64];
        let mut c = Cursor::new(&mut b);
        let ip = IpAddr::V6(Ipv6Addr::LOCALHOST);
        c.put_fmt(format_args!("[{ip}]:{}", 5060)).unwrap();
        assert_eq!(c.written(), b"[::1]:5060");
    }
}
