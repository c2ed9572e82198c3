//! Framing SIP messages out of a byte stream (RFC 3261 §18.3).
//!
//! Over a stream the Content-Length is the only end of a message, so it is
//! required: missing or malformed, the stream cannot be resynchronised and
//! the connection must close after a 400. CRLFs before a start line are
//! skipped (RFC 3261 §7.5); a double CRLF is a keep-alive ping that gets a
//! single CRLF back (RFC 5626 §4.4.1).
//!
//! The framer only looks: it never copies, and it works on whatever bytes a
//! connection's receive buffer holds, so a TLS layer can feed it plaintext
//! the same way the TCP shell feeds it what `read` returned.

/// What the front of a stream's buffered bytes holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// A complete message of this many bytes (header section and body).
    Message(usize),
    /// A keep-alive ping (CRLF CRLF): consume 4 bytes, answer CRLF.
    Ping,
    /// A lone CRLF before a start line: consume 2 bytes, answer nothing.
    Skip,
    /// Not a whole message yet; wait for more bytes.
    Partial,
    /// The stream cannot go on (answer, then close).
    Broken(Broken),
}

/// Why a stream cannot be framed any further.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Broken {
    /// The header section ends past `cap`, or header plus Content-Length
    /// do: 513 when the header section is whole, else just close.
    /// Carries the header section's length, 0 if it never ended.
    TooLarge { header: usize },
    /// The header section has no Content-Length (400, RFC 3261 §18.3).
    NoLength { header: usize },
    /// Content-Length is not a number, or there are two that differ.
    BadLength { header: usize },
}

impl Broken {
    /// Length of the whole header section, if it ended within the buffer
    /// (then a response can be built from it).
    pub fn header(self) -> Option<usize> {
        let h = match self {
            Broken::TooLarge { header } => header,
            Broken::NoLength { header } => header,
            Broken::BadLength { header } => header,
        };
        (h > 0).then_some(h)
    }
}

/// Frames the front of `buf`; a message may be at most `cap` bytes.
pub fn frame(buf: &[u8], cap: usize) -> Frame {
    match buf {
        [b'\r', b'\n', b'\r', b'\n', ..] => return Frame::Ping,
        // Could still become a ping: wait for two more bytes.
        [b'\r', b'\n'] | [b'\r', b'\n', b'\r'] | [b'\r'] => return Frame::Partial,
        [b'\r', b'\n', ..] => return Frame::Skip,
        _ => {}
    }
    let window = buf.get(..cap).unwrap_or(buf);
    let Some(end) = header_end(window) else {
        return if buf.len() >= cap {
            Frame::Broken(Broken::TooLarge { header: 0 })
        } else {
            Frame::Partial
        };
    };
    let body = match content_length(window.get(..end).unwrap_or_default()) {
        Length::Missing => return Frame::Broken(Broken::NoLength { header: end }),
        Length::Bad => return Frame::Broken(Broken::BadLength { header: end }),
        Length::Is(n) => n,
    };
    let total = end.saturating_add(body);
    if total > cap {
        Frame::Broken(Broken::TooLarge { header: end })
    } else if buf.len() < total {
        Frame::Partial
    } else {
        Frame::Message(total)
    }
}

/// Offset just past the CRLF CRLF that ends the header section.
fn header_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p.saturating_add(4))
}

enum Length {
    Missing,
    Bad,
    Is(usize),
}

/// The Content-Length (or compact `l`) of a header section. Line folding
/// is not followed: a folded Content-Length is rejected by the parser
/// anyway, and here it reads as malformed.
fn content_length(head: &[u8]) -> Length {
    let mut found: Option<usize> = None;
    // The first line is the start line; header lines follow each CRLF.
    for line in head.split(|&b| b == b'\n').skip(1) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, rest) = line.split_at(colon);
        let name = name.trim_ascii_end();
        if !(name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l")) {
            continue;
        }
        let value = rest.get(1..).unwrap_or_default().trim_ascii();
        let Some(n) = number(value) else {
            return Length::Bad;
        };
        match found {
            Some(m) if m != n => return Length::Bad,
            _ => found = Some(n),
        }
    }
    found.map_or(Length::Missing, Length::Is)
}

/// A decimal of at most 9 digits (a SIP message is far below a gigabyte).
fn number(v: &[u8]) -> Option<usize> {
    if v.is_empty() || v.len() > 9 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        v.iter()
            .fold(0usize, |n, d| n * 10 + usize::from(d.saturating_sub(b'0'))),
    )
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    const CAP: usize = 8192;
    const OPTIONS: &[u8] =
        b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h\r\nContent-Length: 4\r\n\r\nbody";

    #[test]
    fn a_whole_message() {
        assert_eq!(frame(OPTIONS, CAP), Frame::Message(OPTIONS.len()));
    }

    #[test]
    fn every_split_waits_until_the_last_byte() {
        for cut in 1..OPTIONS.len() {
            assert_eq!(frame(&OPTIONS[..cut], CAP), Frame::Partial, "cut at {cut}");
        }
    }

    #[test]
    fn two_messages_in_one_read_come_one_at_a_time() {
        let mut two = OPTIONS.to_vec();
        two.extend_from_slice(OPTIONS);
        assert_eq!(frame(&two, CAP), Frame::Message(OPTIONS.len()));
        assert_eq!(
            frame(&two[OPTIONS.len()..], CAP),
            Frame::Message(OPTIONS.len())
        );
    }

    #[test]
    fn compact_form_and_spaces() {
        let m = b"BYE sip:a SIP/2.0\r\nl : 0\r\n\r\n";
        assert_eq!(frame(m, CAP), Frame::Message(m.len()));
        let m = b"BYE sip:a SIP/2.0\r\nCONTENT-LENGTH:\t2\r\n\r\nok";
        assert_eq!(frame(m, CAP), Frame::Message(m.len()));
    }

    #[test]
    fn keep_alives() {
        assert_eq!(frame(b"\r\n\r\n", CAP), Frame::Ping);
        assert_eq!(frame(b"\r\n\r\nOPTIONS", CAP), Frame::Ping);
        assert_eq!(frame(b"\r\n", CAP), Frame::Partial);
        assert_eq!(frame(b"\r\n\r", CAP), Frame::Partial);
        assert_eq!(frame(b"\r\nOPTIONS", CAP), Frame::Skip);
    }

    #[test]
    fn missing_or_bad_length_breaks_the_stream() {
        let m = b"BYE sip:a SIP/2.0\r\nVia: x\r\n\r\n";
        assert_eq!(
            frame(m, CAP),
            Frame::Broken(Broken::NoLength { header: m.len() })
        );
        let m = b"BYE sip:a SIP/2.0\r\nContent-Length: x1\r\n\r\n";
        assert_eq!(
            frame(m, CAP),
            Frame::Broken(Broken::BadLength { header: m.len() })
        );
        let m = b"BYE sip:a SIP/2.0\r\nContent-Length: 1\r\nl: 2\r\n\r\nab";
        assert!(matches!(
            frame(m, CAP),
            Frame::Broken(Broken::BadLength { .. })
        ));
        let m = b"BYE sip:a SIP/2.0\r\nContent-Length: 1234567890\r\n\r\n";
        assert!(matches!(
            frame(m, CAP),
            Frame::Broken(Broken::BadLength { .. })
        ));
        // The start line is not a header, whatever it says.
        let m = b"l: 3 SIP/2.0\r\nVia: x\r\n\r\n";
        assert!(matches!(
            frame(m, CAP),
            Frame::Broken(Broken::NoLength { .. })
        ));
    }

    #[test]
    fn oversize() {
        // The body would end past the buffer: 513 from the header section.
        let m = b"INVITE sip:a SIP/2.0\r\nContent-Length: 9000\r\n\r\n";
        assert_eq!(
            frame(m, CAP),
            Frame::Broken(Broken::TooLarge { header: m.len() })
        );
        // A header section that never ends within the buffer.
        let endless = vec![b'a'; CAP];
        assert_eq!(
            frame(&endless, CAP),
            Frame::Broken(Broken::TooLarge { header: 0 })
        );
        assert_eq!(frame(&endless[..CAP - 1], CAP), Frame::Partial);
        // Exactly the capacity fits.
        let mut exact = b"MESSAGE sip:a SIP/2.0\r\nContent-Length: ".to_vec();
        let head = exact.len() + 4 + 4;
        exact.extend_from_slice(format!("{}\r\n\r\n", CAP - head).as_bytes());
        exact.resize(CAP, b'x');
        assert_eq!(frame(&exact, CAP), Frame::Message(CAP));
    }
}
