//! The message view: one datagram framed in place into its start line,
//! header lines (folded lines joined, compact names known, at most
//! [`MAX_HEADERS`]) and body, then validated strictly enough that the proxy
//! never forwards what it misread. Every accessor returns slices of the
//! datagram.

use super::addr::NameAddr;
use super::error::Error;
use super::fixed::FixedVec;
use super::header::{Elements, HeaderName, NAME_COUNT};
use super::scan::{
    find_byte, find_ctl, is_lws, is_token_str, offset_in, parse_u32, span, trim, TOKEN,
};
use super::uri::{Scheme, Uri};
use super::via::Via;

pub use crate::limits::MAX_HEADERS;

/// One header line, possibly folded over several physical lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header<'b> {
    pub name: HeaderName,
    /// The name as written (compact or long, any case).
    pub raw_name: &'b [u8],
    /// The value, trimmed; folds stay inside it.
    pub value: &'b [u8],
    /// The whole line from its first byte through its line terminator.
    pub line: &'b [u8],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartLine<'b> {
    Request {
        method: &'b [u8],
        uri: &'b [u8],
        version: &'b [u8],
    },
    Response {
        version: &'b [u8],
        code: u16,
        reason: &'b [u8],
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CSeq<'b> {
    pub num: u32,
    pub method: &'b [u8],
}

impl<'b> CSeq<'b> {
    pub fn parse(v: &'b [u8]) -> Option<CSeq<'b>> {
        let v = trim(v);
        let sp = v.iter().position(|b| is_lws(*b))?;
        // RFC 3261 §8.1.1.5: the number is less than 2**31.
        let (num, method) = v.split_at_checked(sp)?;
        let num = parse_u32(num, (1 << 31) - 1)?;
        let method = trim(method);
        is_token_str(method).then_some(CSeq { num, method })
    }
}

/// A parsed datagram. Every slice borrows the receive buffer.
#[derive(Debug, Clone)]
pub struct Message<'b> {
    buf: &'b [u8],
    start: StartLine<'b>,
    /// The start line including its terminator.
    start_line: &'b [u8],
    headers: FixedVec<Header<'b>, MAX_HEADERS>,
    /// Offset of the empty line that ends the headers.
    headers_end: usize,
    body: &'b [u8],
    /// Index of the first header of each name, [`NONE`] when absent.
    first: [u8; NAME_COUNT],
    /// One bit per name (`name as usize`) seen on more than one line.
    repeated: u64,
    /// What validation parsed, so the accessors need not parse it again;
    /// `None` after [`Message::parse_unchecked`].
    parsed: Option<Parsed<'b>>,
}

/// No header of that name.
const NONE: u8 = u8::MAX;
const _: () = assert!(MAX_HEADERS < NONE as usize && NAME_COUNT <= 64);

/// The views validation builds anyway.
#[derive(Debug, Clone)]
struct Parsed<'b> {
    request_uri: Option<Uri<'b>>,
    cseq: CSeq<'b>,
    from: NameAddr<'b>,
    to: NameAddr<'b>,
    max_forwards: Option<u32>,
    content_length: Option<u32>,
    /// The first Via element, its header and the elements after it there.
    top_via: First<'b, Via<'b>>,
    /// The first Contact element that is an address (not `*`), if any.
    contact: Option<First<'b, NameAddr<'b>>>,
}

#[derive(Debug, Clone)]
struct First<'b, T> {
    index: usize,
    view: T,
    rest: Elements<'b>,
}

/// Every element of the headers named `name`, from header `next` on, with
/// its header index; `cur` is the line being split.
struct ElementIter<'m, 'b> {
    headers: &'m [Header<'b>],
    name: HeaderName,
    next: usize,
    cur: Option<(usize, Elements<'b>)>,
}

impl<'b> Iterator for ElementIter<'_, 'b> {
    type Item = (usize, &'b [u8]);

    fn next(&mut self) -> Option<(usize, &'b [u8])> {
        loop {
            if let Some((i, elems)) = &mut self.cur {
                if let Some(e) = elems.next() {
                    return Some((*i, e));
                }
                self.cur = None;
            }
            let rest = self.headers.get(self.next..)?;
            let (k, h) = rest.iter().enumerate().find(|(_, h)| h.name == self.name)?;
            let i = self.next + k;
            self.cur = Some((i, Elements::new(h.value)));
            self.next = i + 1;
        }
    }
}

/// Parsed elements: a cached first one, then the rest parsed on demand
/// (elements that do not parse are skipped).
struct Views<'m, 'b, T, F> {
    first: Option<(usize, T)>,
    rest: ElementIter<'m, 'b>,
    parse: F,
}

impl<'b, T, F: Fn(&'b [u8]) -> Option<T>> Iterator for Views<'_, 'b, T, F> {
    type Item = (usize, T);

    fn next(&mut self) -> Option<(usize, T)> {
        if let Some(f) = self.first.take() {
            return Some(f);
        }
        loop {
            let (i, e) = self.rest.next()?;
            if let Some(v) = (self.parse)(e) {
                return Some((i, v));
            }
        }
    }
}

/// Where a line ends, at control character `k` of `s`: `Ok(Some(len))` for
/// a line end of `len` bytes (CRLF; `STRICT` takes nothing else, the
/// lenient framing of [`Message::parse_unchecked`] also a bare LF),
/// `Ok(None)` for a byte that does not end the line (HTAB; anything but CR
/// and LF when lenient), else the error.
#[inline(always)]
fn line_end<const STRICT: bool>(s: &[u8], k: usize) -> Result<Option<usize>, Error> {
    let Some(&c) = s.get(k) else {
        return Err(Error::Unterminated);
    };
    match (c, s.get(k + 1)) {
        (b'\r', Some(b'\n')) => Ok(Some(2)),
        (b'\r', None) => Err(Error::Unterminated),
        (b'\n', _) if !STRICT => Ok(Some(1)),
        (b'\r' | b'\n', _) if STRICT => Err(Error::LineEnd),
        (b'\t', _) => Ok(None),
        _ if !STRICT => Ok(None),
        _ => Err(Error::ControlChar),
    }
}

/// Splits the start line off `s` at its CRLF. Returns (content, line
/// length including the terminator). A bare CR or LF in it, or any other
/// control character, is an error: CRLF is the only line end (RFC 3261
/// §7), and a phone that reads a bare LF as one would see another message
/// than the one we checked.
fn start_line<const STRICT: bool>(s: &[u8]) -> Result<(&[u8], usize), Error> {
    let mut from = 0;
    loop {
        let k = from + find_ctl(s.get(from..).unwrap_or_default()).ok_or(Error::Unterminated)?;
        // A reason phrase may hold HTAB; the request line's grammar
        // refuses it later.
        match line_end::<STRICT>(s, k)? {
            Some(n) => return Ok((s.get(..k).ok_or(Error::Unterminated)?, k + n)),
            None => from = k + 1,
        }
    }
}

/// One header line at the start of `s` (not the empty line), with its
/// folds: the header and the bytes it takes, terminator included.
///
/// One pass: the name by the token table, then a SWAR search for control
/// characters through the value and its folds. CRLF ends the line (a
/// CRLF followed by SP or HTAB folds it); HTAB is white space; a bare CR or
/// LF is `LineEnd`, any other control character `ControlChar`. Bytes of
/// 0x80 and above pass as they are (old phones send Latin-1 names).
/// `Unterminated` when no CRLF ends the line, `HeaderLine` for leading white
/// space, a name that is not a token or no colon after it.
///
/// Not inlined: inside the large `parse` its loop counters lived on the
/// stack (about five cycles a byte); on its own it keeps them in registers.
#[inline(never)]
fn header_line<const STRICT: bool>(s: &[u8]) -> Result<(Header<'_>, usize), Error> {
    let name_len = span(s, TOKEN);
    let mut i = name_len;
    while matches!(s.get(i), Some(b' ' | b'\t')) {
        i += 1;
    }
    let colon = name_len > 0 && s.get(i) == Some(&b':');
    if !colon {
        // Still an unterminated line rather than a bad one, when it is.
        return Err(if find_byte(s, b'\n').is_some() {
            Error::HeaderLine
        } else {
            Error::Unterminated
        });
    }
    let value_start = i + 1;
    let mut from = value_start;
    let nl = loop {
        let rest = s.get(from..).unwrap_or_default();
        let k = from + find_ctl(rest).ok_or(Error::Unterminated)?;
        let Some(n) = line_end::<STRICT>(s, k)? else {
            from = k + 1;
            continue;
        };
        let nl = k + n - 1;
        // A line starting with SP or HTAB continues this one.
        if !matches!(s.get(nl + 1), Some(b' ' | b'\t')) {
            break nl;
        }
        from = nl + 1;
    };
    let logical_end = nl - usize::from(s.get(nl - 1) == Some(&b'\r'));
    let (Some(raw_name), Some(value), Some(line)) = (
        s.get(..name_len),
        s.get(value_start..logical_end),
        s.get(..nl + 1),
    ) else {
        return Err(Error::HeaderLine);
    };
    let header = Header {
        name: HeaderName::from_bytes(raw_name),
        raw_name,
        value: trim(value),
        line,
    };
    Ok((header, nl + 1))
}

fn version_ok(v: &[u8]) -> Result<(), Error> {
    match v {
        [s, i, p, b'/', maj @ .., b'.', min] if [*s, *i, *p].eq_ignore_ascii_case(b"SIP") => {
            if !maj.is_empty() && maj.iter().all(u8::is_ascii_digit) && min.is_ascii_digit() {
                Ok(())
            } else {
                Err(Error::StartLine)
            }
        }
        _ => Err(Error::StartLine),
    }
}

fn parse_start(l: &[u8]) -> Result<StartLine<'_>, Error> {
    if l.get(..4).is_some_and(|p| p.eq_ignore_ascii_case(b"SIP/")) {
        // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase
        let sp = l.iter().position(|b| *b == b' ').ok_or(Error::StartLine)?;
        let (version, rest) = l.split_at_checked(sp).ok_or(Error::StartLine)?;
        version_ok(version)?;
        let rest = rest.get(1..).ok_or(Error::StartLine)?;
        let code_raw = rest.get(..3).ok_or(Error::StatusCode)?;
        if rest.get(3).is_some_and(|b| *b != b' ') {
            return Err(Error::StatusCode);
        }
        let code = parse_u32(code_raw, 699)
            .filter(|c| *c >= 100)
            .ok_or(Error::StatusCode)? as u16;
        let reason = rest.get(4..).unwrap_or(&[]);
        if reason.iter().any(|b| *b == b'\r' || *b == b'\n') {
            return Err(Error::StartLine);
        }
        return Ok(StartLine::Response {
            version,
            code,
            reason,
        });
    }
    // Request-Line = Method SP Request-URI SP SIP-Version: exactly two single
    // spaces (RFC 4475 LWSSTART, LWSRURI, TRWS).
    let first = l.iter().position(|b| *b == b' ').ok_or(Error::StartLine)?;
    let last = l.iter().rposition(|b| *b == b' ').ok_or(Error::StartLine)?;
    let method = l.get(..first).ok_or(Error::StartLine)?;
    let version = l.get(last + 1..).ok_or(Error::StartLine)?;
    if !is_token_str(method) || last <= first {
        return Err(Error::StartLine);
    }
    version_ok(version)?;
    let uri = l.get(first + 1..last).ok_or(Error::RequestUri)?;
    if uri.is_empty() || uri.iter().any(|b| *b <= b' ') {
        return Err(Error::RequestUri);
    }
    Ok(StartLine::Request {
        method,
        uri,
        version,
    })
}

impl<'b> Message<'b> {
    /// Parses and validates a datagram. See the module docs for what `Ok`
    /// guarantees.
    #[inline(always)]
    pub fn parse(buf: &'b [u8]) -> Result<Message<'b>, Error> {
        // Built in one place and moved once: a `Message` is several KiB.
        let mut m = Message::empty(buf);
        match m.frame::<true>().and_then(|()| m.validate()) {
            Ok(()) => Ok(m),
            Err(e) => Err(e),
        }
    }

    /// [`Message::parse`], handing the message to `f` where it was built:
    /// returning a `Message` (several KiB) copies it, twice on the way out
    /// of a `Result`.
    #[inline]
    pub fn parse_then<R>(buf: &'b [u8], f: impl FnOnce(&Message<'b>) -> R) -> Result<R, Error> {
        let mut m = Message::empty(buf);
        m.frame::<true>()?;
        m.validate()?;
        Ok(f(&m))
    }

    /// Parses the framing only: start line, header lines and the raw body,
    /// taking a bare LF for a line end and passing control characters, so
    /// that a response can still be written to what [`Message::parse`]
    /// refuses. Never forwarded.
    pub fn parse_unchecked(buf: &'b [u8]) -> Result<Message<'b>, Error> {
        let mut m = Message::empty(buf);
        match m.frame::<false>() {
            Ok(()) => Ok(m),
            Err(e) => Err(e),
        }
    }

    #[inline(always)]
    fn empty(buf: &'b [u8]) -> Message<'b> {
        Message {
            buf,
            start: StartLine::Response {
                version: &[],
                code: 0,
                reason: &[],
            },
            start_line: &[],
            headers: FixedVec::new(),
            headers_end: 0,
            body: &[],
            first: [NONE; NAME_COUNT],
            repeated: 0,
            parsed: None,
        }
    }

    /// The start line, then the header lines through the empty line.
    #[inline(always)]
    fn frame<const STRICT: bool>(&mut self) -> Result<(), Error> {
        let buf = self.buf;
        // RFC 3261 §7.5: ignore CRLFs before the start line.
        let lead = 2 * buf.chunks_exact(2).take_while(|p| *p == b"\r\n").count();
        let rest = buf.get(lead..).unwrap_or_default();
        if rest
            .iter()
            .all(|b| matches!(b, b'\r' | b'\n' | b' ' | b'\t' | 0))
        {
            return Err(Error::Empty);
        }
        let (start_content, start_len) = start_line::<STRICT>(rest)?;
        self.start = parse_start(start_content)?;
        self.start_line = rest.get(..start_len).ok_or(Error::Unterminated)?;
        self.frame_headers::<STRICT>(lead + start_len)
    }

    /// Splits the header lines from `pos` on, through the empty line.
    #[inline(always)]
    fn frame_headers<const STRICT: bool>(&mut self, mut pos: usize) -> Result<(), Error> {
        let buf = self.buf;
        loop {
            let rest = buf.get(pos..).unwrap_or_default();
            match rest {
                [b'\r', b'\n', body @ ..] => {
                    self.headers_end = pos;
                    self.body = body;
                    return Ok(());
                }
                [b'\n', body @ ..] if !STRICT => {
                    self.headers_end = pos;
                    self.body = body;
                    return Ok(());
                }
                [] | [b'\r'] => return Err(Error::Unterminated),
                [b'\r' | b'\n', ..] => return Err(Error::LineEnd),
                _ => {}
            }
            let (h, len) = header_line::<STRICT>(rest)?;
            let i = self.headers.len();
            let name = h.name as usize;
            self.headers.push(h).map_err(|_| Error::TooManyHeaders)?;
            if let Some(first) = self.first.get_mut(name) {
                if *first == NONE {
                    *first = i as u8;
                } else {
                    self.repeated |= 1 << name;
                }
            }
            pos += len;
        }
    }

    #[inline(never)]
    fn validate(&mut self) -> Result<(), Error> {
        let version = match self.start {
            StartLine::Request { version, .. } | StartLine::Response { version, .. } => version,
        };
        if !version.eq_ignore_ascii_case(b"SIP/2.0") {
            return Err(Error::Version);
        }
        let request_uri = match self.start {
            StartLine::Request { uri, .. } => {
                let u = Uri::parse(uri).ok_or(Error::RequestUri)?;
                if matches!(u.scheme, Scheme::Sip | Scheme::Sips) && u.headers.is_some() {
                    return Err(Error::RequestUri);
                }
                Some(u)
            }
            StartLine::Response { .. } => None,
        };
        // The checks below run in this order, so that a message with several
        // faults always reports the same one. A second copy of these is
        // refused even when identical: a phone behind us may read the other
        // one, or both.
        for name in [
            HeaderName::ContentLength,
            HeaderName::CSeq,
            HeaderName::CallId,
            HeaderName::From,
            HeaderName::To,
            HeaderName::MaxForwards,
            HeaderName::ContentType,
        ] {
            if self.repeated & (1 << name as usize) != 0 {
                return Err(Error::Conflict(name));
            }
        }
        for name in [
            HeaderName::Via,
            HeaderName::From,
            HeaderName::To,
            HeaderName::CallId,
            HeaderName::CSeq,
        ] {
            if self.header(name).is_none() {
                return Err(Error::Missing(name));
            }
        }
        let cseq = self
            .header(HeaderName::CSeq)
            .and_then(|h| CSeq::parse(h.value))
            .ok_or(Error::Malformed(HeaderName::CSeq))?;
        if let Some(m) = self.method() {
            if m != cseq.method {
                return Err(Error::CSeqMethod);
            }
        }
        let call_id = self.call_id().unwrap_or_default();
        if call_id.is_empty() || call_id.iter().any(|b| is_lws(*b)) {
            return Err(Error::Malformed(HeaderName::CallId));
        }
        let from = self.party(HeaderName::From)?;
        let to = self.party(HeaderName::To)?;
        let mut top_via = None;
        let mut contact = None;
        let mut max_forwards = None;
        let mut content_length = None;
        for (i, h) in self.headers.iter().enumerate() {
            let ok = match h.name {
                HeaderName::Via => all_elements(h.value, i, Via::parse, &mut top_via),
                HeaderName::Route | HeaderName::RecordRoute => {
                    Elements::new(h.value).all(|e| NameAddr::parse(e).is_some())
                }
                HeaderName::Contact => {
                    h.value == b"*" || all_elements(h.value, i, NameAddr::parse, &mut contact)
                }
                HeaderName::MaxForwards => {
                    let n = parse_u32(h.value, 255);
                    max_forwards = max_forwards.or(n);
                    n.is_some()
                }
                HeaderName::ContentLength => {
                    let n = parse_u32(h.value, u32::MAX);
                    content_length = content_length.or(n);
                    n.is_some()
                }
                HeaderName::Expires | HeaderName::MinExpires => {
                    parse_u32(h.value, u32::MAX).is_some()
                }
                _ => true,
            };
            if !ok {
                return Err(Error::Malformed(h.name));
            }
        }
        // Over UDP a missing Content-Length means the rest of the datagram
        // (RFC 3261 §18.3); bytes beyond it are dropped.
        if let Some(cl) = content_length {
            self.body = self.body.get(..cl as usize).ok_or(Error::BodyTruncated)?;
        }
        // A Via header is there (checked above) and all its elements parse,
        // so there is a first one.
        let top_via = top_via.ok_or(Error::Missing(HeaderName::Via))?;
        self.parsed = Some(Parsed {
            request_uri,
            cseq,
            from,
            to,
            max_forwards,
            content_length,
            top_via,
            contact,
        });
        Ok(())
    }

    /// From or To: an address with at most one tag, which has a value.
    fn party(&self, name: HeaderName) -> Result<NameAddr<'b>, Error> {
        self.header(name)
            .and_then(|h| NameAddr::parse_party(h.value))
            .ok_or(Error::Malformed(name))
    }

    pub fn buf(&self) -> &'b [u8] {
        self.buf
    }

    pub fn start(&self) -> &StartLine<'b> {
        &self.start
    }

    pub fn start_line(&self) -> &'b [u8] {
        self.start_line
    }

    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request { .. })
    }

    pub fn method(&self) -> Option<&'b [u8]> {
        match self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    pub fn is_method(&self, m: &[u8]) -> bool {
        self.method() == Some(m)
    }

    pub fn request_uri_raw(&self) -> Option<&'b [u8]> {
        match self.start {
            StartLine::Request { uri, .. } => Some(uri),
            StartLine::Response { .. } => None,
        }
    }

    pub fn request_uri(&self) -> Option<Uri<'b>> {
        match &self.parsed {
            Some(p) => p.request_uri,
            None => self.request_uri_raw().and_then(Uri::parse),
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self.start {
            StartLine::Response { code, .. } => Some(code),
            StartLine::Request { .. } => None,
        }
    }

    pub fn headers(&self) -> &[Header<'b>] {
        &self.headers
    }

    /// The first header named `name`.
    #[inline]
    pub fn header(&self, name: HeaderName) -> Option<&Header<'b>> {
        self.headers
            .get(usize::from(*self.first.get(name as usize)?))
    }

    /// Index of the first header named `name`.
    #[inline]
    pub fn header_index(&self, name: HeaderName) -> Option<usize> {
        let i = usize::from(*self.first.get(name as usize)?);
        (i < self.headers.len()).then_some(i)
    }

    pub fn headers_named(&self, name: HeaderName) -> impl Iterator<Item = &Header<'b>> + '_ {
        let from = self.header_index(name).unwrap_or(self.headers.len());
        let rest = self.headers.get(from..).unwrap_or_default();
        rest.iter().filter(move |h| h.name == name)
    }

    /// Every element of every `name` header, with its header index.
    pub fn elements(&self, name: HeaderName) -> impl Iterator<Item = (usize, &'b [u8])> + '_ {
        self.element_iter(name)
    }

    fn element_iter(&self, name: HeaderName) -> ElementIter<'_, 'b> {
        ElementIter {
            headers: &self.headers,
            name,
            next: self.header_index(name).unwrap_or(self.headers.len()),
            cur: None,
        }
    }

    /// `first` and the elements after it, parsed with `parse`.
    fn views_from<T: Copy, F: Fn(&'b [u8]) -> Option<T>>(
        &self,
        name: HeaderName,
        first: Option<&First<'b, T>>,
        parse: F,
    ) -> Views<'_, 'b, T, F> {
        match first {
            Some(f) => Views {
                first: Some((f.index, f.view)),
                rest: ElementIter {
                    headers: &self.headers,
                    name,
                    next: f.index + 1,
                    cur: Some((f.index, f.rest.clone())),
                },
                parse,
            },
            None => Views {
                first: None,
                rest: self.element_iter(name),
                parse,
            },
        }
    }

    pub fn vias(&self) -> impl Iterator<Item = (usize, Via<'b>)> + '_ {
        let first = self.parsed.as_ref().map(|p| &p.top_via);
        self.views_from(HeaderName::Via, first, Via::parse)
    }

    pub fn top_via(&self) -> Option<(usize, Via<'b>)> {
        match &self.parsed {
            Some(p) => Some((p.top_via.index, p.top_via.view)),
            None => self.vias().next(),
        }
    }

    /// Elements of a name-addr list header (Contact, Route, Record-Route).
    pub fn addrs(&self, name: HeaderName) -> impl Iterator<Item = (usize, NameAddr<'b>)> + '_ {
        let first = match (&self.parsed, name) {
            (Some(p), HeaderName::Contact) => p.contact.as_ref(),
            _ => None,
        };
        self.views_from(name, first, NameAddr::parse)
    }

    pub fn call_id(&self) -> Option<&'b [u8]> {
        self.header(HeaderName::CallId).map(|h| h.value)
    }

    pub fn cseq(&self) -> Option<CSeq<'b>> {
        match &self.parsed {
            Some(p) => Some(p.cseq),
            None => self
                .header(HeaderName::CSeq)
                .and_then(|h| CSeq::parse(h.value)),
        }
    }

    pub fn from(&self) -> Option<NameAddr<'b>> {
        match &self.parsed {
            Some(p) => Some(p.from),
            None => self
                .header(HeaderName::From)
                .and_then(|h| NameAddr::parse(h.value)),
        }
    }

    pub fn to(&self) -> Option<NameAddr<'b>> {
        match &self.parsed {
            Some(p) => Some(p.to),
            None => self
                .header(HeaderName::To)
                .and_then(|h| NameAddr::parse(h.value)),
        }
    }

    pub fn max_forwards(&self) -> Option<u32> {
        match &self.parsed {
            Some(p) => p.max_forwards,
            None => self
                .header(HeaderName::MaxForwards)
                .and_then(|h| parse_u32(h.value, 255)),
        }
    }

    pub fn content_length(&self) -> Option<u32> {
        match &self.parsed {
            Some(p) => p.content_length,
            None => self
                .header(HeaderName::ContentLength)
                .and_then(|h| parse_u32(h.value, u32::MAX)),
        }
    }

    pub fn content_type(&self) -> Option<&'b [u8]> {
        self.header(HeaderName::ContentType).map(|h| h.value)
    }

    pub fn expires(&self) -> Option<u32> {
        self.header(HeaderName::Expires)
            .and_then(|h| parse_u32(h.value, u32::MAX))
    }

    /// The body, cut to Content-Length once validated.
    pub fn body(&self) -> &'b [u8] {
        self.body
    }

    /// Offset of the empty line that ends the headers.
    pub fn headers_end(&self) -> usize {
        self.headers_end
    }

    /// Offset of a slice of this message's buffer.
    pub fn offset_of(&self, part: &[u8]) -> Option<usize> {
        offset_in(self.buf, part)
    }
}

/// Whether every element of `value` parses; the first one that does is
/// kept in `first` (with header index `i` and the elements after it) unless
/// `first` is already set.
#[inline]
fn all_elements<'b, T>(
    value: &'b [u8],
    i: usize,
    parse: impl Fn(&'b [u8]) -> Option<T>,
    first: &mut Option<First<'b, T>>,
) -> bool {
    let mut elems = Elements::new(value);
    while let Some(e) = elems.next() {
        let Some(view) = parse(e) else {
            return false;
        };
        if first.is_none() {
            *first = Some(First {
                index: i,
                view,
                rest: elems.clone(),
            });
        }
    }
    true
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod test {
    use super::*;

    const INVITE: &[u8] = b"INVITE sip:bob@[2001:db8::2]:5070;transport=udp SIP/2.0\r\n\
v: SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bK1;rport,\r\n SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK0\r\n\
Max-Forwards: 70\r\n\
f: \"Doe, John\" <sip:john@example.org>;tag=a\r\n\
t: <sip:bob@example.com>\r\n\
i: 1@h\r\n\
CSeq: 4\r\n  INVITE\r\n\
m: <sip:john@[2001:db8::1]>;expires=30, \"x,y\" <sip:z@h>\r\n\
Subject: folded\r\n\tvalue\r\n\
l: 3\r\n\
\r\n\
abcEXTRA";

    fn replace(from: &str, to: &str) -> Vec<u8> {
        String::from_utf8(INVITE.to_vec())
            .unwrap()
            .replacen(from, to, 1)
            .into_bytes()
    }

    #[test]
    fn test_parse_compact_folded_ipv6() {
        let m = Message::parse(INVITE).unwrap();
        assert!(m.is_method(b"INVITE"));
        let u = m.request_uri().unwrap();
        assert_eq!(u.host, b"2001:db8::2");
        assert_eq!(u.port, Some(5070));
        let vias: Vec<Via> = m.vias().map(|(_, v)| v).collect();
        assert_eq!(vias.len(), 2);
        assert_eq!(vias[0].host, b"2001:db8::1");
        assert_eq!(vias[1].host, b"10.0.0.1");
        assert_eq!(
            m.cseq(),
            Some(CSeq {
                num: 4,
                method: b"INVITE"
            })
        );
        assert_eq!(m.call_id(), Some(&b"1@h"[..]));
        assert_eq!(m.from().unwrap().display, Some(&b"\"Doe, John\""[..]));
        let contacts: Vec<_> = m.addrs(HeaderName::Contact).map(|(_, a)| a).collect();
        assert_eq!(contacts.len(), 2);
        assert_eq!(contacts[0].expires(), Some(30));
        assert_eq!(contacts[1].uri.raw, b"sip:z@h");
        let subj = m.header(HeaderName::Subject).unwrap();
        assert_eq!(subj.value, b"folded\r\n\tvalue");
        assert_eq!(subj.raw_name, b"Subject");
        assert_eq!(m.body(), b"abc");
        assert_eq!(m.headers().len(), 9);
    }

    #[test]
    fn test_response_and_leading_crlf() {
        let raw = b"\r\n\r\nSIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n\r\n";
        let m = Message::parse(raw).unwrap();
        assert_eq!(m.status(), Some(180));
        assert_eq!(m.start_line(), b"SIP/2.0 180 Ringing\r\n");
        assert!(!m.is_request());
    }

    #[test]
    fn test_validation_errors() {
        let cases: &[(&str, &str, Error)] = &[
            ("INVITE sip", "INVITE  sip", Error::RequestUri),
            ("SIP/2.0\r\nv:", "SIP/3.0\r\nv:", Error::Version),
            ("SIP/2.0\r\nv:", "SIP/2\r\nv:", Error::StartLine),
            ("SIP/2.0\r\nv:", "SIP/2.0 \r\nv:", Error::StartLine),
            ("INVITE sip:bob", "INVITE <sip:bob", Error::RequestUri),
            (
                "transport=udp SIP",
                "transport=udp?x=y SIP",
                Error::RequestUri,
            ),
            ("CSeq: 4\r\n  INVITE", "CSeq: 4 BYE", Error::CSeqMethod),
            (
                "CSeq: 4",
                "CSeq: 2147483648",
                Error::Malformed(HeaderName::CSeq),
            ),
            ("CSeq: 4", "CSeq: x", Error::Malformed(HeaderName::CSeq)),
            (
                "i: 1@h\r\n",
                "i: 1@h\r\ni: 2@h\r\n",
                Error::Conflict(HeaderName::CallId),
            ),
            (
                "l: 3\r\n",
                "l: 3\r\nl: 4\r\n",
                Error::Conflict(HeaderName::ContentLength),
            ),
            (
                "t: <sip:bob@example.com>\r\n",
                "t: <sip:bob@example.com>\r\nTo: <sip:x@y>\r\n",
                Error::Conflict(HeaderName::To),
            ),
            (
                "f: \"Doe",
                "f: \"Doe\r\nFrom: <sip:x@y>\r\nX: \"",
                Error::Conflict(HeaderName::From),
            ),
            ("i: 1@h\r\n", "", Error::Missing(HeaderName::CallId)),
            (
                "t: <sip:bob@example.com>\r\n",
                "",
                Error::Missing(HeaderName::To),
            ),
            (
                "Max-Forwards: 70",
                "Max-Forwards: 256",
                Error::Malformed(HeaderName::MaxForwards),
            ),
            (
                "Max-Forwards: 70",
                "Max-Forwards: -1",
                Error::Malformed(HeaderName::MaxForwards),
            ),
            ("l: 3", "l: 9", Error::BodyTruncated),
            ("l: 3", "l: 3x", Error::Malformed(HeaderName::ContentLength)),
            (
                "branch=z9hG4bK0",
                "branch=z9hG4bK0;;",
                Error::Malformed(HeaderName::Via),
            ),
            (
                "<sip:z@h>",
                "<sip:z@h",
                Error::Malformed(HeaderName::Contact),
            ),
            (
                "t: <sip:bob",
                "t: \"x <sip:bob",
                Error::Malformed(HeaderName::To),
            ),
            ("i: 1@h", "i: 1 @h", Error::Malformed(HeaderName::CallId)),
            (
                "tag=a\r\n",
                "tag=a;tag\r\n",
                Error::Malformed(HeaderName::From),
            ),
            (
                "t: <sip:bob@example.com>",
                "t: <sip:bob@example.com>;tag",
                Error::Malformed(HeaderName::To),
            ),
            (
                "branch=z9hG4bK0",
                "branch=z9hG4bK0;rport;rport=5",
                Error::Malformed(HeaderName::Via),
            ),
            ("Subject: folded", "Subject folded", Error::HeaderLine),
            ("Subject: folded", "Sub ject: folded", Error::HeaderLine),
            ("Subject: folded", "Subject: fol\rded", Error::LineEnd),
            // CRLF is the only line end, and control characters other
            // than HTAB have no place in a header (request smuggling).
            ("Subject: folded", "Subject: fol\nded", Error::LineEnd),
            ("CSeq: 4\r\n", "CSeq: 4\n", Error::LineEnd),
            (
                "transport=udp SIP/2.0\r\n",
                "transport=udp SIP/2.0\n",
                Error::LineEnd,
            ),
            ("Subject: folded", "Subject: fol\0ded", Error::ControlChar),
            ("Subject: folded", "Subject: fol\x1bded", Error::ControlChar),
            ("Subject: folded", "Subject: fol\x7fded", Error::ControlChar),
            ("SIP/2.0\r\nv:", "SIP/2.0\x01\r\nv:", Error::ControlChar),
            // A second copy is refused even when it is identical.
            (
                "i: 1@h\r\n",
                "i: 1@h\r\ni: 1@h\r\n",
                Error::Conflict(HeaderName::CallId),
            ),
            (
                "l: 3\r\n",
                "l: 3\r\nl: 3\r\n",
                Error::Conflict(HeaderName::ContentLength),
            ),
            (
                "Max-Forwards: 70\r\n",
                "Max-Forwards: 70\r\nMax-Forwards: 70\r\n",
                Error::Conflict(HeaderName::MaxForwards),
            ),
            (
                "l: 3\r\n",
                "l: 3\r\nc: text/plain\r\nContent-Type: text/plain\r\n",
                Error::Conflict(HeaderName::ContentType),
            ),
            (
                "CSeq: 4\r\n  INVITE\r\n",
                "CSeq: 4\r\n  INVITE\r\nCSeq: 4 INVITE\r\n",
                Error::Conflict(HeaderName::CSeq),
            ),
            ("\r\n\r\nabc", "\r\nabc", Error::Unterminated),
        ];
        for (from, to, want) in cases {
            let raw = replace(from, to);
            assert_ne!(raw, INVITE, "{from}");
            assert_eq!(Message::parse(&raw).err(), Some(*want), "{from} -> {to}");
        }
        // HTAB is white space, and bytes of 0x80 and above pass as they are
        // (old phones send Latin-1 display names).
        let mut raw = replace("f: \"Doe", "f: \"D#e\t");
        let i = raw.iter().position(|b| *b == b'#').unwrap();
        raw[i] = 0xf6;
        assert!(Message::parse(&raw).is_ok());
        // parse_unchecked still frames a message whose content is invalid,
        // so an error response can be built.
        let raw = replace("CSeq: 4\r\n  INVITE", "CSeq: 4 BYE");
        let m = Message::parse_unchecked(&raw).unwrap();
        assert_eq!(m.call_id(), Some(&b"1@h"[..]));
    }

    #[test]
    fn test_framing_errors() {
        assert_eq!(Message::parse(b"").err(), Some(Error::Empty));
        assert_eq!(Message::parse(b"\r\n\r\n").err(), Some(Error::Empty));
        assert_eq!(Message::parse(b"\0\0\0\0").err(), Some(Error::Empty));
        assert_eq!(
            Message::parse(b"INVITE sip:a@b SIP/2.0\r\nVia: x").err(),
            Some(Error::Unterminated)
        );
        assert_eq!(
            Message::parse(b"SIP/2.0 4294967301 big\r\n\r\n").err(),
            Some(Error::StatusCode)
        );
        assert_eq!(
            Message::parse(b"SIP/2.0 099 low\r\n\r\n").err(),
            Some(Error::StatusCode)
        );
        let mut many = b"OPTIONS sip:a@b SIP/2.0\r\n".to_vec();
        for _ in 0..=MAX_HEADERS {
            many.extend_from_slice(b"X: y\r\n");
        }
        many.extend_from_slice(b"\r\n");
        assert_eq!(Message::parse(&many).err(), Some(Error::TooManyHeaders));
    }

    #[test]
    fn test_every_prefix_is_error_or_complete() {
        let full = Message::parse(INVITE).unwrap();
        let full_len = full.offset_of(full.body()).unwrap() + full.body().len();
        for n in 0..INVITE.len() {
            match Message::parse(&INVITE[..n]) {
                Err(_) => {}
                Ok(m) => {
                    // Only prefixes that hold the whole message can parse.
                    assert!(n >= full_len, "prefix {n} parsed");
                    assert_eq!(m.body(), b"abc");
                }
            }
        }
    }

    #[test]
    fn test_random_bytes_never_panic() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut buf = [0u8; 512];
        for round in 0..20_000 {
            // Half pure noise, half mutations of a valid message.
            let len = if round % 2 == 0 {
                let len = (next() % 512) as usize;
                for b in &mut buf[..len] {
                    *b = next() as u8;
                }
                len
            } else {
                let len = INVITE.len();
                buf[..len].copy_from_slice(INVITE);
                for _ in 0..(next() % 8) {
                    let i = (next() as usize) % len;
                    const NASTY: &[u8] = b"\r\n :;,<>\"@[]%\\0Aa\t";
                    buf[i] = NASTY[(next() as usize) % NASTY.len()];
                }
                len
            };
            if let Ok(m) = Message::parse(&buf[..len]) {
                let _ = (m.vias().count(), m.addrs(HeaderName::Contact).count());
                let _ = (m.request_uri(), m.from(), m.to(), m.cseq());
            }
        }
    }
}
