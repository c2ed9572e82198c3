//! What the core hands the shell: datagrams to send ([`Transmit`]) and what
//! became of each datagram it was given ([`Outcome`], with a [`Why`]). The
//! core counts outcomes; the shell sends and logs them.

use core::fmt;
use std::net::SocketAddr;

use crate::proxy::TokenError;
use crate::relay::OfferError;
use crate::sip::Error;

/// The socket a datagram leaves from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Socket {
    /// A leg's SIP socket.
    Leg(usize),
    /// A DNS source-port pool socket.
    Dns(usize),
    /// A relay port: pair `pair` of `leg`, its odd (RTCP) port if `odd`.
    Relay { leg: usize, pair: u16, odd: bool },
    /// A TCP connection of `leg`: `conn` if it is still open, else one to
    /// the destination (reused, or connected for this message).
    Stream {
        leg: usize,
        conn: Option<crate::stream::Conn>,
    },
}

/// One datagram to send: `len` bytes from `socket` to `dst`. The bytes are
/// in the output buffer the core was given, except for relayed media,
/// which leaves as it came (the received packet's first `len` bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub struct Transmit {
    pub socket: Socket,
    pub dst: SocketAddr,
    pub len: usize,
}

impl Transmit {
    /// A SIP datagram from leg `leg`.
    pub fn leg(leg: usize, dst: SocketAddr, len: usize) -> Transmit {
        Transmit {
            socket: Socket::Leg(leg),
            dst,
            len,
        }
    }

    /// A SIP message over a stream of `leg`.
    pub fn stream(
        leg: usize,
        conn: Option<crate::stream::Conn>,
        dst: SocketAddr,
        len: usize,
    ) -> Transmit {
        Transmit {
            socket: Socket::Stream { leg, conn },
            dst,
            len,
        }
    }

    /// The leg it leaves from, when it is a SIP message.
    pub fn out_leg(&self) -> Option<usize> {
        match self.socket {
            Socket::Leg(l) | Socket::Stream { leg: l, .. } => Some(l),
            _ => None,
        }
    }
}

/// What became of one datagram on a SIP socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Outcome {
    /// Sent on: someone else's request or response. `note` is set when
    /// something about it is worth a log line.
    Forwarded { tx: Transmit, note: Option<Why> },
    /// Answered by edgesip itself with status `code` (0: a STUN answer).
    Answered { tx: Transmit, code: u16, why: Why },
    /// Nothing sent.
    Dropped(Why),
}

impl Outcome {
    /// The datagram to send, if any.
    pub fn transmit(&self) -> Option<Transmit> {
        match *self {
            Outcome::Forwarded { tx, .. } | Outcome::Answered { tx, .. } => Some(tx),
            Outcome::Dropped(_) => None,
        }
    }

    /// The reason to log, if any.
    pub fn why(&self) -> Option<Why> {
        match *self {
            Outcome::Forwarded { note, .. } => note,
            Outcome::Answered { why, .. } | Outcome::Dropped(why) => Some(why),
        }
    }
}

/// How loud a [`Why`] is in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Routine: answers and drops that are part of normal operation.
    Debug,
    /// Worth a person's attention, rate-limited by the shell.
    Warn,
}

/// Why a datagram was answered, dropped, or forwarded with a note.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// A keep-alive (CRLF, NUL, or under 13 bytes).
    KeepAlive,
    /// A STUN Binding request, answered with the mapped address.
    Stun,
    /// The core was called with a leg it does not have.
    UnknownLeg,
    /// The datagram does not parse (answered 400 or 505 when it can be).
    Malformed(Error),
    /// Too many requests from one source on a public leg.
    RateLimited,
    /// The ACK for a response of ours.
    AckAbsorbed,
    /// An ACK that could not go on; ACKs are never answered.
    AckNotForwarded,
    /// `Max-Forwards: 0` (483).
    TooManyHops,
    /// `Proxy-Require` names an extension (420).
    BadExtension,
    /// Not a `sip:` URI (416).
    BadScheme,
    /// A transport we do not speak (503).
    NoTransport,
    /// A host name and no resolver (503).
    NoResolver,
    /// Waiting for DNS.
    DnsWait,
    /// A retransmission of a request already waiting for DNS.
    DnsRetransmission,
    /// No room to wait for DNS (503).
    DnsFull,
    /// The target's name does not exist (404).
    DnsNotFound,
    /// The target's name did not resolve (503).
    DnsFailed,
    /// Too many token failures from this source: not even tried.
    TokenBudget,
    /// A token in the Request-URI that does not decode here (404); `None`:
    /// it came in on another leg than it left by.
    BadToken(Option<TokenError>),
    /// A user of our domains with no binding (404).
    NoBinding,
    /// A token whose leg disagrees with the popped double Record-Route
    /// (403).
    TokenLegMismatch,
    /// A REGISTER for our domains, answered here.
    Registrar(crate::registrar::Note),
    /// The registrar's answer did not fit the output buffer.
    RegistrarUnwritable,
    /// An OPTIONS to our own address, answered 200 (a phone's keep-alive).
    OptionsToUs,
    /// A request to our own address (482 without a user, else 404).
    ToUs,
    /// A Via of ours with the same loop hash (482).
    Loop,
    /// No leg can reach the destination (503).
    NoLeg,
    /// A request from a public leg with nothing that authorises it: not a
    /// token, a binding or a `--route` (403).
    Public,
    /// A request from a public leg for a destination outside the trusted
    /// networks (403).
    PublicDestination,
    /// No relay slot or port pair free (503).
    RelayFull,
    /// The offering public source holds all the relayed calls it may (503).
    RelayPerSource,
    /// SDP the relay cannot take: malformed, or too many streams (488).
    BadSdp(OfferError),
    /// SDP in an ACK or a response that the relay could not take,
    /// forwarded as it was.
    SdpUnrelayed(OfferError),
    /// The forwarded message would not fit one datagram (513).
    TooLarge,
    /// A rewrite failed for another reason (500).
    Internal,
    /// A response whose top Via is not ours.
    ForeignResponse,
    /// A response whose branch does not verify: forged or stale.
    BadBranch,
    /// A response with only our Via.
    NoNextVia,
    /// A response whose next Via names a host without `received`.
    ViaHostName,
    /// A response that could not be rewritten.
    Unforwardable(Error),
    /// A message for a TCP peer that could not be delivered: no connection
    /// slot, or the connect failed (503).
    NoConnection,
    /// A message over a stream without a usable Content-Length (400, RFC
    /// 3261 §18.3); the connection closes.
    NoLength,
}

impl Why {
    /// How many kinds of [`Why`] there are: the size of a counter array.
    pub const COUNT: usize = 42;

    /// Its index among the kinds (data it carries aside) and its stable
    /// name for the counters shown by `edgesip status`.
    pub fn key(&self) -> (usize, &'static str) {
        match self {
            Why::KeepAlive => (0, "keepalive"),
            Why::Stun => (1, "stun"),
            Why::UnknownLeg => (2, "unknown_leg"),
            Why::Malformed(_) => (3, "malformed"),
            Why::RateLimited => (4, "rate_limited"),
            Why::AckAbsorbed => (5, "ack_absorbed"),
            Why::AckNotForwarded => (6, "ack_not_forwarded"),
            Why::TooManyHops => (7, "too_many_hops"),
            Why::BadExtension => (8, "bad_extension"),
            Why::BadScheme => (9, "bad_scheme"),
            Why::NoTransport => (10, "no_transport"),
            Why::NoResolver => (11, "no_resolver"),
            Why::DnsWait => (12, "dns_wait"),
            Why::DnsRetransmission => (13, "dns_retransmission"),
            Why::DnsFull => (14, "dns_full"),
            Why::DnsNotFound => (15, "dns_not_found"),
            Why::DnsFailed => (16, "dns_failed"),
            Why::TokenBudget => (17, "token_budget"),
            Why::BadToken(_) => (18, "bad_token"),
            Why::NoBinding => (19, "no_binding"),
            Why::TokenLegMismatch => (20, "token_leg_mismatch"),
            Why::Registrar(_) => (21, "register"),
            Why::RegistrarUnwritable => (22, "register_unwritable"),
            Why::OptionsToUs => (23, "options_to_us"),
            Why::ToUs => (24, "to_us"),
            Why::Loop => (25, "loop"),
            Why::NoLeg => (26, "no_leg"),
            Why::Public => (27, "public"),
            Why::PublicDestination => (28, "public_destination"),
            Why::RelayFull => (29, "relay_full"),
            Why::RelayPerSource => (30, "relay_per_source"),
            Why::BadSdp(_) => (31, "bad_sdp"),
            Why::SdpUnrelayed(_) => (32, "sdp_unrelayed"),
            Why::TooLarge => (33, "too_large"),
            Why::Internal => (34, "internal"),
            Why::ForeignResponse => (35, "foreign_response"),
            Why::BadBranch => (36, "bad_branch"),
            Why::NoNextVia => (37, "no_next_via"),
            Why::ViaHostName => (38, "via_host_name"),
            Why::Unforwardable(_) => (39, "unforwardable"),
            Why::NoConnection => (40, "no_connection"),
            Why::NoLength => (41, "no_length"),
        }
    }

    pub fn level(&self) -> Level {
        match self {
            Why::Malformed(_)
            | Why::Public
            | Why::PublicDestination
            | Why::DnsFull
            | Why::RelayFull
            | Why::RelayPerSource
            | Why::SdpUnrelayed(_)
            | Why::ForeignResponse
            | Why::BadBranch
            | Why::Unforwardable(_)
            | Why::NoConnection
            | Why::Registrar(crate::registrar::Note::Full | crate::registrar::Note::TooLong) => {
                Level::Warn
            }
            _ => Level::Debug,
        }
    }
}

impl fmt::Display for Why {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Why::KeepAlive => "keep-alive",
            Why::Stun => "STUN binding request",
            Why::UnknownLeg => "datagram on an unknown leg",
            Why::Malformed(e) => return write!(f, "malformed message: {e}"),
            Why::RateLimited => "rate limited",
            Why::AckAbsorbed => "ACK for our own response",
            Why::AckNotForwarded => "ACK not forwarded",
            Why::TooManyHops => "Max-Forwards reached 0",
            Why::BadExtension => "Proxy-Require names an extension",
            Why::BadScheme => "not a sip: URI",
            Why::NoTransport => "target wants a transport we do not speak",
            Why::NoResolver => "target is a host name and there is no resolver",
            Why::DnsWait => "waiting for DNS",
            Why::DnsRetransmission => "retransmission of a request waiting for DNS",
            Why::DnsFull => "no room to wait for DNS",
            Why::DnsNotFound => "target name does not exist",
            Why::DnsFailed => "target name did not resolve",
            Why::TokenBudget => "too many token failures from this source",
            Why::BadToken(None) => "token came in on the wrong leg",
            Why::BadToken(Some(e)) => return write!(f, "token in Request-URI refused: {e}"),
            Why::NoBinding => "no binding for this user",
            Why::TokenLegMismatch => "token's leg disagrees with the Record-Route",
            Why::Registrar(n) => return write!(f, "REGISTER: {n}"),
            Why::RegistrarUnwritable => "REGISTER answer does not fit",
            Why::OptionsToUs => "OPTIONS to us",
            Why::ToUs => "request to our own address",
            Why::Loop => "loop",
            Why::NoLeg => "no leg reaches the destination",
            Why::Public => "request from a public leg not for a token, user or route of ours",
            Why::PublicDestination => {
                "request from a public leg for an address outside the trusted networks"
            }
            Why::RelayFull => "no relay slot or port pair free",
            Why::RelayPerSource => "this source holds all the relayed calls it may",
            Why::BadSdp(e) => return write!(f, "answering 488: {e}"),
            Why::SdpUnrelayed(e) => return write!(f, "SDP not relayed, forwarded as it was: {e}"),
            Why::TooLarge => "message too large",
            Why::Internal => "rewrite failed",
            Why::ForeignResponse => "response whose top Via is not ours",
            Why::BadBranch => "response whose branch does not verify",
            Why::NoNextVia => "response with no Via below ours",
            Why::ViaHostName => "response Via has a host name and no received",
            Why::Unforwardable(e) => return write!(f, "cannot forward response: {e}"),
            Why::NoConnection => "no TCP connection to the next hop (no slot, or connect failed)",
            Why::NoLength => "message over TCP without a usable Content-Length",
        };
        f.write_str(s)
    }
}
