//! SIP wire layer: zero-copy parsing of one UDP datagram and one-pass
//! rewriting into a caller-owned buffer.
//!
//! Invariants:
//! - A [`Message`] borrows the receive buffer; every accessor returns slices
//!   of that buffer. Nothing here allocates.
//! - [`Message::parse`] is the only entry point for untrusted bytes. When it
//!   returns `Ok`, the start line, the headers the proxy relies on (Via, From,
//!   To, Call-ID, CSeq, Max-Forwards, Content-Length, Contact, Route,
//!   Record-Route) and the Request-URI have been validated, so the typed
//!   accessors only return `None` for headers that are absent.
//! - [`Message::parse_unchecked`] checks only the framing (start line and
//!   header lines). It exists so that an error response can still be built
//!   for a message whose content is invalid.
//! - The [`Rewriter`] copies every byte it was not told to change, in order.

// Packet bytes are untrusted: keep every access checked.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod addr;
mod cursor;
mod error;
#[allow(unsafe_code)]
mod fixed;
mod header;
mod message;
mod params;
mod response;
mod rewrite;
pub(crate) mod scan;
pub mod status;

mod uri;
mod via;

pub use crate::limits::{MAX_DATAGRAM, MAX_HEADERS};
pub use addr::NameAddr;
pub use cursor::{Cursor, Full};
pub use error::Error;
pub use header::{Elements, HeaderName};
pub use message::{CSeq, Header, Message, StartLine};
pub use params::{Param, Params};
pub use response::{
    stateless_to_tag, to_tag_with_branch, unsupported, write_response, Reply, TO_TAG_LEN,
};
pub use rewrite::{HeaderPos, Rewriter, MAX_EDITS, SCRATCH};
pub use uri::{parse_ip, Scheme, Uri};
pub use via::Via;
