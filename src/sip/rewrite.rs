//! The one-pass rewriter: edits (insert, remove, replace lines, elements,
//! Via parameters, the body) are collected against the parsed message,
//! then the output is written once, with every byte that was not edited
//! copied as it was and Content-Length set to the body written.

use super::cursor::{Cursor, Full, Scratch};
use super::error::Error;
use super::fixed::FixedVec;
use super::header::{Elements, HeaderName};
use super::message::{Message, MAX_HEADERS};
use super::params::Params;
use super::scan::{find_unquoted, is_lws};
use super::via::Via;

/// Edits per rewrite; the proxy needs about ten.
pub const MAX_EDITS: usize = 32;
/// Bytes of new text per rewrite (Vias, Record-Routes, rewritten Contacts).
pub const SCRATCH: usize = super::cursor::SCRATCH;

#[derive(Debug, Clone, Copy)]
struct Edit {
    at: u32,
    del: u32,
    /// Text in the scratch buffer.
    start: u32,
    end: u32,
    seq: u16,
}

/// Where to insert a new header line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderPos {
    /// Right after the start line.
    Top,
    /// Above header line `i`.
    Before(usize),
    /// Below header line `i`.
    After(usize),
    /// After the last header line.
    End,
}

/// Collects edits against a parsed message, then writes the changed message
/// into a caller-given buffer in one pass. Bytes not covered by an edit are
/// copied unchanged and in order.
pub struct Rewriter<'a> {
    msg: &'a Message<'a>,
    edits: FixedVec<Edit, MAX_EDITS>,
    /// The new text of every edit, one after the other.
    scratch: Scratch,
    body: Option<&'a [u8]>,
    /// Header lines inserted minus header lines removed.
    lines: isize,
}

impl<'a> Rewriter<'a> {
    #[inline]
    pub fn new(msg: &'a Message<'a>) -> Self {
        Rewriter {
            msg,
            edits: FixedVec::new(),
            scratch: Scratch::new(),
            body: None,
            lines: 0,
        }
    }

    pub fn message(&self) -> &'a Message<'a> {
        self.msg
    }

    fn body_offset(&self) -> usize {
        self.msg
            .offset_of(self.msg.body())
            .unwrap_or(self.msg.buf().len())
    }

    /// Replaces `del` bytes at offset `at` with what `f` writes.
    pub fn splice(
        &mut self,
        at: usize,
        del: usize,
        f: impl FnOnce(&mut Cursor) -> Result<(), Full>,
    ) -> Result<(), Error> {
        if at
            .checked_add(del)
            .is_none_or(|end| end > self.body_offset())
        {
            return Err(Error::Overlap);
        }
        if self.edits.is_full() {
            return Err(Error::OutOfSpace);
        }
        let start = self.scratch.len();
        if f(&mut Cursor::scratch(&mut self.scratch)).is_err() {
            self.scratch.truncate(start);
            return Err(Error::OutOfSpace);
        }
        let edit = Edit {
            at: at as u32,
            del: del as u32,
            start: start as u32,
            end: self.scratch.len() as u32,
            seq: self.edits.len() as u16,
        };
        self.edits.push(edit).map_err(|_| Error::OutOfSpace)
    }

    fn offset(&self, part: &[u8]) -> Result<usize, Error> {
        self.msg.offset_of(part).ok_or(Error::Overlap)
    }

    /// Replaces a slice of the message (a value, a URI, a parameter).
    pub fn replace(
        &mut self,
        part: &[u8],
        f: impl FnOnce(&mut Cursor) -> Result<(), Full>,
    ) -> Result<(), Error> {
        let at = self.offset(part)?;
        self.splice(at, part.len(), f)
    }

    /// Inserts text right after a slice of the message.
    pub fn insert_after(
        &mut self,
        part: &[u8],
        f: impl FnOnce(&mut Cursor) -> Result<(), Full>,
    ) -> Result<(), Error> {
        let at = self.offset(part)? + part.len();
        self.splice(at, 0, f)
    }

    fn line_offset(&self, pos: HeaderPos) -> Result<usize, Error> {
        let hs = self.msg.headers();
        let line = |i: usize| hs.get(i).ok_or(Error::Overlap);
        Ok(match pos {
            HeaderPos::Top => self.offset(self.msg.start_line())? + self.msg.start_line().len(),
            HeaderPos::Before(i) => self.offset(line(i)?.line)?,
            HeaderPos::After(i) => {
                let l = line(i)?.line;
                self.offset(l)? + l.len()
            }
            HeaderPos::End => self.msg.headers_end(),
        })
    }

    /// Inserts a header line `name: <value written by f>` with CRLF.
    pub fn insert_header(
        &mut self,
        pos: HeaderPos,
        name: &[u8],
        f: impl FnOnce(&mut Cursor) -> Result<(), Full>,
    ) -> Result<(), Error> {
        let at = self.line_offset(pos)?;
        self.splice(at, 0, |c| {
            c.put(name)?;
            c.put(b": ")?;
            f(c)?;
            c.put(b"\r\n")
        })?;
        self.lines += 1;
        Ok(())
    }

    /// Removes header line `i` with its folds and terminator.
    pub fn remove_header(&mut self, i: usize) -> Result<(), Error> {
        let line = self.msg.headers().get(i).ok_or(Error::Overlap)?.line;
        let at = self.offset(line)?;
        self.splice(at, line.len(), |_| Ok(()))?;
        self.lines -= 1;
        Ok(())
    }

    /// Replaces the value of header line `i`, keeping its name and spacing.
    pub fn replace_value(
        &mut self,
        i: usize,
        f: impl FnOnce(&mut Cursor) -> Result<(), Full>,
    ) -> Result<(), Error> {
        let value = self.msg.headers().get(i).ok_or(Error::Overlap)?.value;
        self.replace(value, f)
    }

    /// Removes one element of a comma-separated header line; the rest of the
    /// line stays as written. The last element takes the whole line.
    pub fn remove_element(&mut self, i: usize, elem: &[u8]) -> Result<(), Error> {
        let value = self.msg.headers().get(i).ok_or(Error::Overlap)?.value;
        let v0 = self.offset(value)?;
        let e0 = self.offset(elem)?;
        let e1 = e0 + elem.len();
        if e0 < v0 || e1 > v0 + value.len() {
            return Err(Error::Overlap);
        }
        let (rel0, rel1) = (e0 - v0, e1 - v0);
        // After the element: optional LWS, then a comma if others follow.
        let after = value.get(rel1..).ok_or(Error::Overlap)?;
        if let Some(c) = find_unquoted(after, b',') {
            // Remove the element, its comma and the LWS before the next one.
            let mut end = rel1 + c + 1;
            while value.get(end).is_some_and(|b| is_lws(*b)) {
                end += 1;
            }
            return self.splice(e0, end - rel0, |_| Ok(()));
        }
        // The last element: remove from the previous comma, if any.
        let before = value.get(..rel0).ok_or(Error::Overlap)?;
        match before.iter().rposition(|b| *b == b',') {
            Some(c) => self.splice(v0 + c, rel1 - c, |_| Ok(())),
            None => self.remove_header(i),
        }
    }

    /// Removes the first `n` elements of header line `i` (popping Routes or
    /// our Via); removing them all removes the line.
    pub fn remove_leading(&mut self, i: usize, n: usize) -> Result<(), Error> {
        let value = self.msg.headers().get(i).ok_or(Error::Overlap)?.value;
        match Elements::new(value).nth(n) {
            Some(next) if n > 0 => {
                let v0 = self.offset(value)?;
                let next0 = self.offset(next)?;
                self.splice(v0, next0 - v0, |_| Ok(()))
            }
            Some(_) => Ok(()),
            None => self.remove_header(i),
        }
    }

    /// Adds or replaces a parameter of a Via element, keeping the others in
    /// their order.
    pub fn set_via_param(
        &mut self,
        via: &Via,
        name: &[u8],
        f: impl FnOnce(&mut Cursor) -> Result<(), Full>,
    ) -> Result<(), Error> {
        let put = |c: &mut Cursor| -> Result<(), Full> {
            c.put(name)?;
            c.put(b"=")?;
            f(c)
        };
        match Params::find(via.params, name) {
            Some(p) => self.replace(p.raw, put),
            None => self.insert_after(via.elem, |c| {
                c.put(b";")?;
                put(c)
            }),
        }
    }

    /// Replaces the body and fixes (or adds) Content-Length.
    pub fn replace_body(&mut self, body: &'a [u8]) -> Result<(), Error> {
        self.body = Some(body);
        let n = u32::try_from(body.len()).map_err(|_| Error::OutOfSpace)?;
        self.set_every(HeaderName::ContentLength, n)?;
        if self.msg.header(HeaderName::ContentLength).is_none() {
            self.insert_header(HeaderPos::End, b"Content-Length", |c| c.put_u32(n))?;
        }
        Ok(())
    }

    /// Adds a Content-Length for the body when the message has none: what
    /// is forwarded always says how long its body is (over UDP a missing
    /// one means the rest of the datagram, RFC 3261 §18.3; the next hop may
    /// be a stream).
    pub fn ensure_content_length(&mut self) -> Result<(), Error> {
        if self.body.is_some() || self.msg.header(HeaderName::ContentLength).is_some() {
            return Ok(());
        }
        let n = u32::try_from(self.msg.body().len()).map_err(|_| Error::OutOfSpace)?;
        self.insert_header(HeaderPos::End, b"Content-Length", |c| c.put_u32(n))
    }

    /// Sets the value of every `name` line (a parsed message may repeat a
    /// single-valued header when the copies are identical; all must change
    /// together or the result no longer parses).
    pub fn set_every(&mut self, name: HeaderName, n: u32) -> Result<(), Error> {
        let msg = self.msg;
        for (i, h) in msg.headers().iter().enumerate() {
            if h.name == name {
                self.replace_value(i, |c| c.put_u32(n))?;
            }
        }
        Ok(())
    }

    /// Writes the changed message into `out` and returns its length.
    ///
    /// Fails with [`Error::TooManyHeaders`] when the inserted header lines
    /// would take the message beyond [`MAX_HEADERS`]: edgesip does not send
    /// what it would not accept itself.
    pub fn emit(&mut self, out: &mut [u8]) -> Result<usize, Error> {
        let lines = self.msg.headers().len() as isize + self.lines;
        if lines > MAX_HEADERS as isize {
            return Err(Error::TooManyHeaders);
        }
        self.edits
            .as_mut_slice()
            .sort_unstable_by_key(|e| (e.at, e.del > 0, e.seq));
        let buf = self.msg.buf();
        let body_off = self.body_offset();
        let mut w = Cursor::new(out);
        let mut pos = self.offset(self.msg.start_line())?;
        for e in self.edits.iter() {
            let (at, del) = (e.at as usize, e.del as usize);
            if at < pos {
                return Err(Error::Overlap);
            }
            let kept = buf.get(pos..at).ok_or(Error::Overlap)?;
            w.put(kept).map_err(|_| Error::OutOfSpace)?;
            let text = self
                .scratch
                .get(e.start as usize..e.end as usize)
                .ok_or(Error::Overlap)?;
            w.put(text).map_err(|_| Error::OutOfSpace)?;
            pos = at + del;
        }
        let kept = buf.get(pos..body_off).ok_or(Error::Overlap)?;
        w.put(kept).map_err(|_| Error::OutOfSpace)?;
        w.put(self.body.unwrap_or(self.msg.body()))
            .map_err(|_| Error::OutOfSpace)?;
        Ok(w.len())
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod test {
    use super::*;

    const INVITE: &[u8] = b"INVITE sip:bob@example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKuac1;rport\r\n\
Max-Forwards: 70\r\n\
Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\r\n\
From: Alice <sip:alice@example.org>;tag=atag\r\n\
To: <sip:bob@example.com>\r\n\
Call-ID: call1@uac\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:alice@10.0.0.5:5060;transport=udp>;expires=60\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 4\r\n\
\r\n\
v=0\n";

    fn emit(rw: &mut Rewriter) -> String {
        let mut out = [0u8; 2048];
        let n = rw.emit(&mut out).unwrap();
        String::from_utf8(out[..n].to_vec()).unwrap()
    }

    #[test]
    fn test_emit_unchanged_is_identical() {
        let m = Message::parse(INVITE).unwrap();
        let mut rw = Rewriter::new(&m);
        assert_eq!(emit(&mut rw).as_bytes(), INVITE);
    }

    #[test]
    fn test_emit_drops_bytes_beyond_content_length() {
        let mut long = INVITE.to_vec();
        long.extend_from_slice(b"GARBAGE");
        let m = Message::parse(&long).unwrap();
        let mut rw = Rewriter::new(&m);
        assert_eq!(emit(&mut rw).as_bytes(), INVITE);
    }

    #[test]
    fn test_insert_via_above_first_via_and_rr_at_top() {
        let m = Message::parse(INVITE).unwrap();
        let mut rw = Rewriter::new(&m);
        let (vi, _) = m.top_via().unwrap();
        // Inserts at the same offset keep the order they were made in.
        rw.insert_header(HeaderPos::Top, b"Record-Route", |c| {
            c.put(b"<sip:192.0.2.1;lr>")
        })
        .unwrap();
        rw.insert_header(HeaderPos::Before(vi), b"Via", |c| {
            c.put(b"SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKp")
        })
        .unwrap();
        let want = String::from_utf8(INVITE.to_vec()).unwrap().replacen(
            "Via: SIP/2.0/UDP 10.0.0.5",
            "Record-Route: <sip:192.0.2.1;lr>\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKp\r\nVia: SIP/2.0/UDP 10.0.0.5",
            1,
        );
        assert_eq!(emit(&mut rw), want);
    }

    #[test]
    fn test_via_params_keep_order() {
        let m = Message::parse(INVITE).unwrap();
        let mut rw = Rewriter::new(&m);
        let (_, via) = m.top_via().unwrap();
        rw.set_via_param(&via, b"rport", |c| c.put_u32(55676))
            .unwrap();
        rw.set_via_param(&via, b"received", |c| c.put(b"127.0.0.1"))
            .unwrap();
        let want = String::from_utf8(INVITE.to_vec()).unwrap().replace(
            "branch=z9hG4bKuac1;rport\r\n",
            "branch=z9hG4bKuac1;rport=55676;received=127.0.0.1\r\n",
        );
        assert_eq!(emit(&mut rw), want);
    }

    #[test]
    fn test_remove_elements() {
        let m = Message::parse(INVITE).unwrap();
        let (ri, first) = m.elements(HeaderName::Route).next().unwrap();
        let mut rw = Rewriter::new(&m);
        rw.remove_element(ri, first).unwrap();
        let s = String::from_utf8(INVITE.to_vec()).unwrap();
        assert_eq!(
            emit(&mut rw),
            s.replace("Route: <sip:p1.example.com;lr>, ", "Route: ")
        );

        let (ri, second) = m.elements(HeaderName::Route).nth(1).unwrap();
        let mut rw = Rewriter::new(&m);
        rw.remove_element(ri, second).unwrap();
        assert_eq!(emit(&mut rw), s.replace(", <sip:p2.example.com;lr>", ""));

        let mut rw = Rewriter::new(&m);
        rw.remove_leading(ri, 1).unwrap();
        assert_eq!(
            emit(&mut rw),
            s.replace("Route: <sip:p1.example.com;lr>, ", "Route: ")
        );
        for n in [2, 3] {
            let mut rw = Rewriter::new(&m);
            rw.remove_leading(ri, n).unwrap();
            assert_eq!(
                emit(&mut rw),
                s.replace(
                    "Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\r\n",
                    ""
                )
            );
        }
    }

    #[test]
    fn test_replace_values_in_place() {
        let m = Message::parse(INVITE).unwrap();
        let mut rw = Rewriter::new(&m);
        let mf = m
            .headers()
            .iter()
            .position(|h| h.name == HeaderName::MaxForwards)
            .unwrap();
        rw.replace_value(mf, |c| c.put_u32(69)).unwrap();
        let (_, contact) = m.addrs(HeaderName::Contact).next().unwrap();
        rw.replace(contact.uri.raw, |c| c.put(b"sip:bXYZ@192.0.2.1"))
            .unwrap();
        let s = String::from_utf8(INVITE.to_vec()).unwrap();
        assert_eq!(
            emit(&mut rw),
            s.replace("Max-Forwards: 70", "Max-Forwards: 69").replace(
                "<sip:alice@10.0.0.5:5060;transport=udp>",
                "<sip:bXYZ@192.0.2.1>"
            )
        );
    }

    #[test]
    fn test_replace_body_fixes_content_length() {
        let m = Message::parse(INVITE).unwrap();
        let mut rw = Rewriter::new(&m);
        rw.replace_body(b"v=0\r\ns=-\r\n").unwrap();
        let s = String::from_utf8(INVITE.to_vec()).unwrap();
        assert_eq!(
            emit(&mut rw),
            s.replace("Content-Length: 4", "Content-Length: 10")
                .replace("v=0\n", "v=0\r\ns=-\r\n")
        );

        // Without Content-Length one is added at the end of the headers.
        let raw = b"MESSAGE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 1 MESSAGE\r\n\r\nhi";
        let m = Message::parse(raw).unwrap();
        let mut rw = Rewriter::new(&m);
        rw.replace_body(b"hello").unwrap();
        assert!(emit(&mut rw).ends_with("CSeq: 1 MESSAGE\r\nContent-Length: 5\r\n\r\nhello"));
    }

    #[test]
    fn test_repeated_content_length_is_refused() {
        // Identical copies used to parse (and had to change together); now
        // a second Content-Length is refused, so no rewrite sees one.
        let raw = String::from_utf8(INVITE.to_vec())
            .unwrap()
            .replace("Content-Length: 4\r\n", "Content-Length: 4\r\nl: 4\r\n");
        assert_eq!(
            Message::parse(raw.as_bytes()).err(),
            Some(Error::Conflict(HeaderName::ContentLength))
        );
    }

    #[test]
    fn test_no_more_header_lines_than_a_parse_accepts() {
        // MAX_HEADERS - 2 lines: two more fit, a third does not, unless one
        // goes too.
        let mut raw = INVITE.to_vec();
        let at = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 2;
        let extra = MAX_HEADERS - 2 - Message::parse(INVITE).unwrap().headers().len();
        for _ in 0..extra {
            raw.splice(at..at, b"X: y\r\n".iter().copied());
        }
        let m = Message::parse(&raw).unwrap();
        assert_eq!(m.headers().len(), MAX_HEADERS - 2);
        let mut out = [0u8; 4096];
        let mut rw = Rewriter::new(&m);
        for _ in 0..2 {
            rw.insert_header(HeaderPos::Top, b"Record-Route", |c| c.put(b"<sip:p;lr>"))
                .unwrap();
        }
        let n = rw.emit(&mut out).unwrap();
        assert_eq!(
            Message::parse(&out[..n]).unwrap().headers().len(),
            MAX_HEADERS
        );
        rw.insert_header(HeaderPos::Top, b"Record-Route", |c| c.put(b"<sip:p;lr>"))
            .unwrap();
        assert_eq!(rw.emit(&mut out), Err(Error::TooManyHeaders));
        let ct = m
            .headers()
            .iter()
            .position(|h| h.name == HeaderName::ContentType)
            .unwrap();
        rw.remove_header(ct).unwrap();
        let n = rw.emit(&mut out).unwrap();
        assert_eq!(
            Message::parse(&out[..n]).unwrap().headers().len(),
            MAX_HEADERS
        );
    }

    #[test]
    fn test_out_of_space_is_an_error() {
        let m = Message::parse(INVITE).unwrap();
        let mut rw = Rewriter::new(&m);
        let mut small = [0u8; 50];
        assert_eq!(rw.emit(&mut small), Err(Error::OutOfSpace));
        let big = [b'x'; SCRATCH + 1];
        assert_eq!(
            rw.insert_header(HeaderPos::Top, b"X", |c| c.put(&big)),
            Err(Error::OutOfSpace)
        );
    }
}
