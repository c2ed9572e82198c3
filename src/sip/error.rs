//! What can be wrong with a datagram, or with a rewrite: one small `Copy`
//! enum with a name per grammar element, so a refusal says why.

use super::HeaderName;
use core::fmt;

/// What is wrong with a datagram, or why a rewrite could not be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// Nothing but whitespace.
    Empty,
    /// The start line is neither a request line nor a status line.
    StartLine,
    /// The Request-URI is malformed, or carries headers (RFC 3261 §19.1.1).
    RequestUri,
    /// A SIP version other than 2.0.
    Version,
    /// A status code that is not three digits in 100..=699.
    StatusCode,
    /// A header line without a colon, or a name that is not a token.
    HeaderLine,
    /// More header lines than [`MAX_HEADERS`](super::MAX_HEADERS).
    TooManyHeaders,
    /// The datagram ends before the empty line that ends the headers.
    Unterminated,
    /// A CR or LF that is not part of a CRLF in the start line or headers.
    LineEnd,
    /// A control character other than HTAB in the start line or a header.
    ControlChar,
    /// Content-Length is larger than the bytes present (RFC 3261 §18.3).
    BodyTruncated,
    /// The CSeq method differs from the request method.
    CSeqMethod,
    /// A required header is absent.
    Missing(HeaderName),
    /// A header that may appear once appears again.
    Conflict(HeaderName),
    /// A header value does not follow its grammar, or a number is out of range.
    Malformed(HeaderName),
    /// The output buffer (or the rewriter's scratch space) is too small.
    OutOfSpace,
    /// Two rewrite edits overlap; a bug in the caller, reported, not panicked.
    Overlap,
}

impl Error {
    pub fn description_str(&self) -> &'static str {
        match self {
            Error::Empty => "empty datagram",
            Error::StartLine => "bad start line",
            Error::RequestUri => "bad Request-URI",
            Error::Version => "unsupported SIP version",
            Error::StatusCode => "bad status code",
            Error::HeaderLine => "bad header line",
            Error::TooManyHeaders => "too many headers",
            Error::Unterminated => "headers not terminated",
            Error::LineEnd => "bare CR or LF",
            Error::ControlChar => "control character in the header section",
            Error::BodyTruncated => "Content-Length exceeds the datagram",
            Error::CSeqMethod => "CSeq method does not match the request",
            Error::Missing(_) => "missing header",
            Error::Conflict(_) => "duplicate header",
            Error::Malformed(_) => "malformed header",
            Error::OutOfSpace => "output buffer too small",
            Error::Overlap => "overlapping edits",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Missing(h) | Error::Conflict(h) | Error::Malformed(h) => {
                write!(f, "{}: {}", self.description_str(), h.as_str())
            }
            _ => f.write_str(self.description_str()),
        }
    }
}

impl std::error::Error for Error {}
