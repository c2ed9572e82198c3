//! What `edgesip status` shows, written from the core's counters and
//! tables into a fixed buffer: the answer to one request on the control
//! socket. Sans-IO and allocation-free, like the rest of the core; the
//! shell only moves the datagrams.
//!
//! A request is one line, `SECTION FORMAT [FROM]`:
//! - `summary text|json|prometheus`: version, uptime, legs, counters, the
//!   relay and registrar in brief;
//! - `bindings|calls|registrations text|json [FROM]`: a table, one record
//!   per binding, relayed call or registration through us, from record
//!   `FROM` on.
//!
//! The answer starts with a line `end` (all of it is here) or `next N`
//! (ask again with `FROM` = N for the rest: a long table comes in parts),
//! then the body. A table's text form has its heading in the part that
//! starts at record 0 (none for an empty table); its JSON form is the
//! records, comma-separated, for the client to put in an array. Nothing
//! here changes any state.

use core::fmt::Write as _;
use core::time::Duration;
use std::net::SocketAddr;

use crate::output::Why;
use crate::proxy::Proxy;
use crate::registrar::Note;
use crate::relay::CallView;
use crate::sip::{Cursor, Full};
use crate::stream::TcpStats;
use crate::time::Instant;

/// Longest request line.
pub const MAX_REQUEST: usize = 64;
/// Largest answer: one datagram on the control socket.
pub const MAX_ANSWER: usize = 16 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Summary,
    Bindings,
    Calls,
    Registrations,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Prometheus,
}

/// One request on the control socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    pub section: Section,
    pub format: Format,
    pub from: usize,
}

impl Request {
    /// Parses `SECTION FORMAT [FROM]`; `None` for anything else.
    pub fn parse(line: &[u8]) -> Option<Request> {
        let line = core::str::from_utf8(line).ok()?.trim_end();
        let mut words = line.split(' ');
        let section = match words.next()? {
            "summary" => Section::Summary,
            "bindings" => Section::Bindings,
            "calls" => Section::Calls,
            "registrations" => Section::Registrations,
            _ => return None,
        };
        let format = match words.next()? {
            "text" => Format::Text,
            "json" => Format::Json,
            "prometheus" if section == Section::Summary => Format::Prometheus,
            _ => return None,
        };
        let from = match words.next() {
            Some(n) => n.parse().ok()?,
            None => 0,
        };
        if words.next().is_some() {
            return None;
        }
        Some(Request {
            section,
            format,
            from,
        })
    }
}

/// Writes the answer to `request` (the bytes of a request line) into `out`;
/// returns its length. A request that does not parse gets `error ...`.
/// `tcp`: the shell's TCP counters, when a leg has TCP.
pub fn answer(
    p: &Proxy,
    tcp: Option<&TcpStats>,
    now: Instant,
    request: &[u8],
    out: &mut [u8],
) -> usize {
    let Some(req) = Request::parse(request) else {
        let mut c = Cursor::new(out);
        let _ = c.put(b"error: want SECTION FORMAT [FROM]\n");
        return c.len();
    };
    // The first line says `end` or `next N`; it is written last, into room
    // kept for it.
    const HEAD: usize = 32;
    let Some((head, body)) = out.split_at_mut_checked(HEAD) else {
        return 0;
    };
    let (n, next) = match req.section {
        Section::Summary => {
            let mut c = Cursor::new(body);
            let r = match req.format {
                Format::Text => summary_text(p, now, &mut c).and_then(|()| tcp_text(tcp, &mut c)),
                Format::Json => summary_json(p, tcp, now, &mut c),
                Format::Prometheus => {
                    prometheus(p, now, &mut c).and_then(|()| tcp_prometheus(tcp, &mut c))
                }
            };
            match r {
                Ok(()) => (c.len(), None),
                // Never for a summary in MAX_ANSWER; say so if it happens.
                Err(Full) => (0, None),
            }
        }
        Section::Bindings => table(body, req, BINDINGS, |i, c, f| binding(p, now, i, c, f)),
        Section::Calls => table(body, req, CALLS, |i, c, f| call(p, now, i, c, f)),
        Section::Registrations => table(body, req, REGISTRATIONS, |i, c, f| {
            registration(p, now, i, c, f)
        }),
    };
    let mut h = Cursor::new(head);
    let _ = match next {
        Some(n) => h.put_fmt(format_args!("next {n}\n")),
        None => h.put(b"end\n"),
    };
    let hl = h.len();
    // Close the gap between the first line and the body.
    out.copy_within(HEAD..HEAD + n, hl);
    hl + n
}

/// Writes records `req.from..` of a table while they fit; the index of the
/// first one that did not, if any. `row(i, c, format)` writes record `i`,
/// or says `None` past the last one.
fn table(
    body: &mut [u8],
    req: Request,
    heading: &[u8],
    row: impl Fn(usize, &mut Cursor, Format) -> Option<Result<(), Full>>,
) -> (usize, Option<usize>) {
    let mut pos = 0;
    let mut i = req.from;
    loop {
        let Some(rest) = body.get_mut(pos..) else {
            return (pos, Some(i));
        };
        let mut c = Cursor::new(rest);
        // The heading goes with the first record, so an empty table is
        // empty.
        let before: &[u8] = match req.format {
            Format::Text if i == 0 => heading,
            Format::Json if i > req.from => b",\n",
            _ => b"",
        };
        if c.put(before).is_err() {
            return (pos, Some(i));
        }
        match row(i, &mut c, req.format) {
            None => return (pos, None),
            Some(Err(Full)) => return (pos, Some(i)),
            Some(Ok(())) => {}
        }
        pos += c.len();
        i += 1;
    }
}

fn duration(c: &mut Cursor, d: Duration) -> Result<(), Full> {
    let s = d.as_secs();
    let (days, h, m, s) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    if days > 0 {
        c.put_fmt(format_args!("{days}d {h:02}:{m:02}:{s:02}"))
    } else {
        c.put_fmt(format_args!("{h:02}:{m:02}:{s:02}"))
    }
}

/// `bytes` as a JSON string: quotes, backslashes and control characters
/// escaped; bytes that are not UTF-8 as `\u00XX`, read as Latin-1.
fn json_str(c: &mut Cursor, bytes: &[u8]) -> Result<(), Full> {
    c.put(b"\"")?;
    let mut rest = bytes;
    while !rest.is_empty() {
        let (ok, bad) = match core::str::from_utf8(rest) {
            Ok(s) => (s, &[][..]),
            Err(e) => {
                let (a, b) = rest.split_at(e.valid_up_to());
                (core::str::from_utf8(a).unwrap_or_default(), b)
            }
        };
        for ch in ok.chars() {
            match ch {
                '"' => c.put(b"\\\"")?,
                '\\' => c.put(b"\\\\")?,
                ch if (ch as u32) < 0x20 || ch == '\u{7f}' => {
                    c.put_fmt(format_args!("\\u{:04x}", ch as u32))?
                }
                ch => {
                    let mut b = [0u8; 4];
                    c.put(ch.encode_utf8(&mut b).as_bytes())?
                }
            }
        }
        if let Some((b, tail)) = bad.split_first() {
            c.put_fmt(format_args!("\\u{:04x}", b))?;
            rest = tail;
        } else {
            rest = &[];
        }
    }
    c.put(b"\"")
}

/// Text that may be shown as it is on a terminal: bytes outside printable
/// ASCII become `?`.
fn plain(c: &mut Cursor, bytes: &[u8], width: usize) -> Result<(), Full> {
    let mut n = 0;
    for b in bytes {
        let b = if b.is_ascii_graphic() { *b } else { b'?' };
        c.put(&[b])?;
        n += 1;
    }
    pad(c, n, width)
}

fn pad(c: &mut Cursor, used: usize, width: usize) -> Result<(), Full> {
    for _ in used..width.max(used + 1) {
        c.put(b" ")?;
    }
    Ok(())
}

/// Writes `args` and pads to `width` (at least one space after it).
fn col(c: &mut Cursor, width: usize, args: core::fmt::Arguments) -> Result<(), Full> {
    let before = c.len();
    c.put_fmt(args)?;
    let used = c.len() - before;
    pad(c, used, width)
}

fn leg_name(p: &Proxy, leg: usize) -> &str {
    p.legs().get(leg).map_or("?", |l| l.name.as_str())
}

/// Every kind of [`Why`], for listing the counters by name.
fn whys(p: &Proxy) -> impl Iterator<Item = (&'static str, u64)> + '_ {
    WHYS.iter().map(|w| (w.key().1, p.stats().counted(*w)))
}

/// One of each kind of [`Why`] (the data they carry does not matter).
const WHYS: [Why; Why::COUNT] = {
    use crate::relay::{OfferError, RelayError};
    use crate::sip::Error;
    [
        Why::KeepAlive,
        Why::Stun,
        Why::UnknownLeg,
        Why::Malformed(Error::Empty),
        Why::RateLimited,
        Why::AckAbsorbed,
        Why::AckNotForwarded,
        Why::TooManyHops,
        Why::BadExtension,
        Why::BadScheme,
        Why::NoTransport,
        Why::NoResolver,
        Why::DnsWait,
        Why::DnsRetransmission,
        Why::DnsFull,
        Why::DnsNotFound,
        Why::DnsFailed,
        Why::TokenBudget,
        Why::BadToken(None),
        Why::NoBinding,
        Why::TokenLegMismatch,
        Why::Registrar(Note::Updated),
        Why::RegistrarUnwritable,
        Why::OptionsToUs,
        Why::ToUs,
        Why::Loop,
        Why::NoLeg,
        Why::Public,
        Why::PublicDestination,
        Why::RelayFull,
        Why::RelayPerSource,
        Why::BadSdp(OfferError::TooLarge),
        Why::SdpUnrelayed(OfferError::Relay(RelayError::Capacity)),
        Why::TooLarge,
        Why::Internal,
        Why::ForeignResponse,
        Why::BadBranch,
        Why::NoNextVia,
        Why::ViaHostName,
        Why::Unforwardable(Error::Empty),
        Why::NoConnection,
        Why::NoLength,
    ]
};

/// Every kind of [`Note`].
const NOTES: [Note; Note::COUNT] = [
    Note::Updated,
    Note::Challenged,
    Note::ForeignNonce,
    Note::WrongPassword,
    Note::BadDigest,
    Note::WrongUser,
    Note::NoAuthFile,
    Note::NotOurs,
    Note::Malformed,
    Note::TooLong,
    Note::Full,
    Note::OutOfOrder,
    Note::TooBrief,
    Note::BadExtension,
    Note::Replay,
    Note::Lockout,
    Note::LockedOut,
];

fn registrar_counts(p: &Proxy) -> impl Iterator<Item = (&'static str, u64)> + '_ {
    NOTES.iter().map(|n| {
        let (i, name) = n.key();
        (name, p.stats().registrar.get(i).copied().unwrap_or(0))
    })
}

/// `name count` pairs that are not zero, wrapped under a heading.
fn counts<'a>(
    c: &mut Cursor,
    heading: &str,
    items: impl Iterator<Item = (&'a str, u64)>,
) -> Result<(), Full> {
    let mut line = 0;
    let mut any = false;
    for (name, n) in items.filter(|(_, n)| *n > 0) {
        let before = c.len();
        if !any || line > 60 {
            if any {
                c.put(b"\n")?;
            }
            c.put_fmt(format_args!("{:<11}", if any { "" } else { heading }))?;
            line = 11;
        }
        c.put_fmt(format_args!(" {name} {n}"))?;
        line += c.len() - before;
        any = true;
    }
    if any {
        c.put(b"\n")?;
    }
    Ok(())
}

fn summary_text(p: &Proxy, now: Instant, c: &mut Cursor) -> Result<(), Full> {
    let s = p.stats();
    c.put_fmt(format_args!("edgesip {}, up ", env!("CARGO_PKG_VERSION")))?;
    duration(c, now.since(Instant(0)))?;
    c.put(b"\n\n")?;
    // 16 + 23 + 8 + 16 + 8 + 1 + 8 = 80 columns.
    let row = |c: &mut Cursor, cells: [&dyn core::fmt::Display; 6]| -> Result<(), Full> {
        col(c, 16, format_args!("{}", cells[0]))?;
        col(c, 23, format_args!("{}", cells[1]))?;
        col(c, 8, format_args!("{}", cells[2]))?;
        col(c, 16, format_args!("{}", cells[3]))?;
        c.put_fmt(format_args!("{:>8} {:>8}\n", cells[4], cells[5]))
    };
    row(
        c,
        [&"leg", &"address", &"trust", &"advertise", &"in", &"out"],
    )?;
    for (i, l) in p.legs().iter().enumerate() {
        let trust = if l.trusted { "trusted" } else { "public" };
        let rx = s.received.get(i).copied().unwrap_or(0);
        let tx = s.sent.get(i).copied().unwrap_or(0);
        row(c, [&l.name, &l.addr, &trust, &l.adv_text, &rx, &tx])?;
    }
    c.put(b"\n")?;
    c.put_fmt(format_args!(
        "forwarded   requests {}  responses {}\n",
        s.requests_forwarded, s.responses_forwarded
    ))?;
    for (i, (code, n)) in s.answered.iter().enumerate() {
        c.put(if i == 0 { b"answered   " } else { b"" })?;
        match code {
            0 => c.put_fmt(format_args!(" other x{n}"))?,
            code => c.put_fmt(format_args!(" {code} x{n}"))?,
        }
    }
    if s.answered.iter().next().is_some() {
        c.put(b"\n")?;
    }
    counts(
        c,
        "outcomes",
        whys(p).filter(|(name, _)| *name != "register"),
    )?;
    counts(c, "REGISTER", registrar_counts(p))?;
    if let Some(r) = p.resolver() {
        let d = r.stats();
        c.put_fmt(format_args!(
            "dns         queries {}  cache hits {}  failures {}\n",
            d.queries_sent,
            d.cache_hits,
            d.timeouts + d.expired + d.server_errors
        ))?;
    }
    if let Some(r) = p.relay_table() {
        let st = r.stats();
        c.put_fmt(format_args!(
            "relay       calls {} (peak {}, max {})  refused: full {}, per source {}\n\
             \x20           packets relayed {}  dropped: foreign source {}, no target {}\n",
            r.active_calls(),
            st.peak,
            r.config().max_calls,
            s.counted(Why::RelayFull),
            st.per_source_refused,
            st.relayed,
            st.foreign_source,
            st.no_target + st.unlatched + st.to_self,
        ))?;
    }
    if let Some(r) = p.registrar() {
        c.put_fmt(format_args!(
            "registrar   bindings {} of {}\n",
            r.bindings(now).count(),
            r.capacity()
        ))?;
    }
    Ok(())
}

fn tcp_text(tcp: Option<&TcpStats>, c: &mut Cursor) -> Result<(), Full> {
    let Some(t) = tcp else { return Ok(()) };
    c.put_fmt(format_args!(
        "tcp         connections {} of {}  accepted {}  connected {}  refused: full {}, per source {}\n\
         \x20           closed {}: idle {}, stalled {}, send queue full {}, connect failed {}\n",
        t.open,
        t.capacity,
        t.accepted,
        t.connected,
        t.refused_full,
        t.refused_source,
        t.closed,
        t.idle,
        t.slow,
        t.queue_full,
        t.connect_failed
    ))
}

fn tcp_prometheus(tcp: Option<&TcpStats>, c: &mut Cursor) -> Result<(), Full> {
    let Some(t) = tcp else { return Ok(()) };
    c.put_fmt(format_args!(
        "# HELP edgesip_tcp_connections TCP connections open.\n# TYPE edgesip_tcp_connections gauge\n\
         edgesip_tcp_connections {}\n\
         # HELP edgesip_tcp_refused_total TCP connections refused.\n# TYPE edgesip_tcp_refused_total counter\n\
         edgesip_tcp_refused_total{{why=\"full\"}} {}\nedgesip_tcp_refused_total{{why=\"per_source\"}} {}\n\
         # HELP edgesip_tcp_closed_total TCP connections closed.\n# TYPE edgesip_tcp_closed_total counter\n\
         edgesip_tcp_closed_total {}\n",
        t.open, t.refused_full, t.refused_source, t.closed
    ))
}

fn summary_json(
    p: &Proxy,
    tcp: Option<&TcpStats>,
    now: Instant,
    c: &mut Cursor,
) -> Result<(), Full> {
    let s = p.stats();
    c.put_fmt(format_args!(
        "{{\"version\":\"{}\",\"uptime_s\":{},\"legs\":[",
        env!("CARGO_PKG_VERSION"),
        now.since(Instant(0)).as_secs()
    ))?;
    for (i, l) in p.legs().iter().enumerate() {
        if i > 0 {
            c.put(b",")?;
        }
        c.put(b"{\"name\":")?;
        json_str(c, l.name.as_bytes())?;
        c.put_fmt(format_args!(
            ",\"address\":\"{}\",\"trusted\":{},\"advertise\":",
            l.addr, l.trusted
        ))?;
        json_str(c, l.adv_text.as_bytes())?;
        c.put_fmt(format_args!(
            ",\"datagrams_in\":{},\"datagrams_out\":{}}}",
            s.received.get(i).copied().unwrap_or(0),
            s.sent.get(i).copied().unwrap_or(0)
        ))?;
    }
    c.put_fmt(format_args!(
        "],\"requests_forwarded\":{},\"responses_forwarded\":{},\"answered\":{{",
        s.requests_forwarded, s.responses_forwarded
    ))?;
    for (i, (code, n)) in s.answered.iter().enumerate() {
        let sep = if i > 0 { "," } else { "" };
        c.put_fmt(format_args!("{sep}\"{code}\":{n}"))?;
    }
    c.put(b"},\"outcomes\":{")?;
    for (i, (name, n)) in whys(p).enumerate() {
        let sep = if i > 0 { "," } else { "" };
        c.put_fmt(format_args!("{sep}\"{name}\":{n}"))?;
    }
    c.put(b"},\"register\":{")?;
    for (i, (name, n)) in registrar_counts(p).enumerate() {
        let sep = if i > 0 { "," } else { "" };
        c.put_fmt(format_args!("{sep}\"{name}\":{n}"))?;
    }
    c.put(b"}")?;
    if let Some(r) = p.resolver() {
        let d = r.stats();
        c.put_fmt(format_args!(
            ",\"dns\":{{\"queries\":{},\"cache_hits\":{},\"failures\":{}}}",
            d.queries_sent,
            d.cache_hits,
            d.timeouts + d.expired + d.server_errors
        ))?;
    }
    if let Some(r) = p.relay_table() {
        let st = r.stats();
        c.put_fmt(format_args!(
            ",\"relay\":{{\"calls\":{},\"peak\":{},\"max_calls\":{},\"refused_full\":{},\
             \"refused_per_source\":{},\"relayed\":{},\"dropped_foreign_source\":{},\
             \"dropped_no_target\":{},\"dropped_unlatched\":{},\"dropped_to_self\":{},\
             \"unanswered\":{},\"expired\":{}}}",
            r.active_calls(),
            st.peak,
            r.config().max_calls,
            s.counted(Why::RelayFull),
            st.per_source_refused,
            st.relayed,
            st.foreign_source,
            st.no_target,
            st.unlatched,
            st.to_self,
            st.unanswered,
            st.expired,
        ))?;
    }
    if let Some(r) = p.registrar() {
        c.put_fmt(format_args!(
            ",\"registrar\":{{\"bindings\":{},\"max\":{}}}",
            r.bindings(now).count(),
            r.capacity()
        ))?;
    }
    if let Some(t) = tcp {
        c.put_fmt(format_args!(
            ",\"tcp\":{{\"connections\":{},\"max\":{},\"accepted\":{},\"connected\":{},\
             \"refused_full\":{},\"refused_per_source\":{},\"closed\":{},\"idle\":{},\
             \"stalled\":{},\"queue_full\":{},\"connect_failed\":{}}}",
            t.open,
            t.capacity,
            t.accepted,
            t.connected,
            t.refused_full,
            t.refused_source,
            t.closed,
            t.idle,
            t.slow,
            t.queue_full,
            t.connect_failed
        ))?;
    }
    c.put(b"}")
}

fn prometheus(p: &Proxy, now: Instant, c: &mut Cursor) -> Result<(), Full> {
    let s = p.stats();
    let metric = |c: &mut Cursor, name: &str, kind: &str, help: &str| {
        c.put_fmt(format_args!(
            "# HELP edgesip_{name} {help}\n# TYPE edgesip_{name} {kind}\n"
        ))
    };
    metric(
        c,
        "uptime_seconds",
        "gauge",
        "Seconds since edgesip started.",
    )?;
    c.put_fmt(format_args!(
        "edgesip_uptime_seconds {}\n",
        now.since(Instant(0)).as_secs()
    ))?;
    metric(
        c,
        "datagrams_in_total",
        "counter",
        "SIP datagrams received per leg.",
    )?;
    for (i, l) in p.legs().iter().enumerate() {
        let n = s.received.get(i).copied().unwrap_or(0);
        c.put_fmt(format_args!(
            "edgesip_datagrams_in_total{{leg=\"{}\"}} {n}\n",
            l.name
        ))?;
    }
    metric(
        c,
        "datagrams_out_total",
        "counter",
        "SIP datagrams sent per leg.",
    )?;
    for (i, l) in p.legs().iter().enumerate() {
        let n = s.sent.get(i).copied().unwrap_or(0);
        c.put_fmt(format_args!(
            "edgesip_datagrams_out_total{{leg=\"{}\"}} {n}\n",
            l.name
        ))?;
    }
    metric(
        c,
        "forwarded_total",
        "counter",
        "Requests and responses forwarded.",
    )?;
    c.put_fmt(format_args!(
        "edgesip_forwarded_total{{kind=\"request\"}} {}\nedgesip_forwarded_total{{kind=\"response\"}} {}\n",
        s.requests_forwarded, s.responses_forwarded
    ))?;
    metric(
        c,
        "answered_total",
        "counter",
        "Answers of edgesip's own, per status code.",
    )?;
    for (code, n) in s.answered.iter() {
        c.put_fmt(format_args!(
            "edgesip_answered_total{{code=\"{code}\"}} {n}\n"
        ))?;
    }
    metric(
        c,
        "outcomes_total",
        "counter",
        "Datagrams answered, dropped or noted, per reason.",
    )?;
    for (name, n) in whys(p) {
        c.put_fmt(format_args!(
            "edgesip_outcomes_total{{reason=\"{name}\"}} {n}\n"
        ))?;
    }
    metric(
        c,
        "register_total",
        "counter",
        "REGISTERs answered by edgesip, per outcome.",
    )?;
    for (name, n) in registrar_counts(p) {
        c.put_fmt(format_args!(
            "edgesip_register_total{{outcome=\"{name}\"}} {n}\n"
        ))?;
    }
    if let Some(r) = p.relay_table() {
        let st = r.stats();
        metric(c, "relay_calls", "gauge", "Relayed calls held now.")?;
        c.put_fmt(format_args!("edgesip_relay_calls {}\n", r.active_calls()))?;
        metric(
            c,
            "relay_packets_total",
            "counter",
            "Media packets relayed.",
        )?;
        c.put_fmt(format_args!("edgesip_relay_packets_total {}\n", st.relayed))?;
        metric(
            c,
            "relay_dropped_total",
            "counter",
            "Media packets dropped, per reason.",
        )?;
        for (why, n) in [
            ("foreign_source", st.foreign_source),
            ("no_target", st.no_target),
            ("unlatched", st.unlatched),
            ("to_self", st.to_self),
        ] {
            c.put_fmt(format_args!(
                "edgesip_relay_dropped_total{{reason=\"{why}\"}} {n}\n"
            ))?;
        }
    }
    if let Some(r) = p.registrar() {
        metric(
            c,
            "registrar_bindings",
            "gauge",
            "Bindings held by edgesip's registrar.",
        )?;
        c.put_fmt(format_args!(
            "edgesip_registrar_bindings {}\n",
            r.bindings(now).count()
        ))?;
    }
    Ok(())
}

const BINDINGS: &[u8] =
    b"AoR                       contact                       source                leg   expires\n";

fn binding(
    p: &Proxy,
    now: Instant,
    i: usize,
    c: &mut Cursor,
    f: Format,
) -> Option<Result<(), Full>> {
    let b = p.registrar()?.bindings(now).nth(i)?;
    let leg = leg_name(p, b.leg);
    let left = b.expires.since(now).as_secs();
    Some(match f {
        Format::Json => (|| {
            c.put(b"{\"aor\":")?;
            json_str(c, &b.aor)?;
            c.put(b",\"contact\":")?;
            json_str(c, b.uri())?;
            c.put_fmt(format_args!(",\"source\":\"{}\",\"leg\":", b.source))?;
            json_str(c, leg.as_bytes())?;
            c.put_fmt(format_args!(",\"expires_s\":{left}}}"))
        })(),
        _ => (|| {
            plain(c, &b.aor, 26)?;
            plain(c, b.uri(), 30)?;
            col(c, 22, format_args!("{}", b.source))?;
            col(c, 6, format_args!("{leg}"))?;
            c.put_fmt(format_args!("{left}s\n"))
        })(),
    })
}

const CALLS: &[u8] =
    b"age       idle      legs      ports        latched (offerer, answerer)    packets\n";

fn call(p: &Proxy, now: Instant, i: usize, c: &mut Cursor, f: Format) -> Option<Result<(), Full>> {
    let call = p.relay_table()?.calls(now).nth(i)?;
    let legs = [leg_name(p, call.legs[0]), leg_name(p, call.legs[1])];
    Some(match f {
        Format::Json => call_json(c, &call, legs),
        _ => call_text(c, &call, legs),
    })
}

fn call_json(c: &mut Cursor, call: &CallView, legs: [&str; 2]) -> Result<(), Full> {
    c.put_fmt(format_args!(
        "{{\"age_s\":{},\"idle_s\":{},\"answered\":{},\"legs\":[",
        call.age.as_secs(),
        call.idle.as_secs(),
        call.answered
    ))?;
    json_str(c, legs[0].as_bytes())?;
    c.put(b",")?;
    json_str(c, legs[1].as_bytes())?;
    c.put(b"],\"streams\":[")?;
    for (k, st) in call.streams.iter().enumerate() {
        if k > 0 {
            c.put(b",")?;
        }
        c.put_fmt(format_args!(
            "{{\"ports\":[{},{}],\"latched\":[",
            st.ports[0], st.ports[1]
        ))?;
        for (j, a) in st.latched.iter().enumerate() {
            if j > 0 {
                c.put(b",")?;
            }
            match a {
                Some(a) => c.put_fmt(format_args!("\"{a}\""))?,
                None => c.put(b"null")?,
            }
        }
        c.put_fmt(format_args!(
            "],\"packets\":[{},{}]}}",
            st.packets[0], st.packets[1]
        ))?;
    }
    c.put(b"]}")
}

fn call_text(c: &mut Cursor, call: &CallView, legs: [&str; 2]) -> Result<(), Full> {
    for d in [call.age, call.idle] {
        let before = c.len();
        duration(c, d)?;
        let n = c.len() - before;
        pad(c, n, 10)?;
    }
    col(c, 10, format_args!("{}/{}", legs[0], legs[1]))?;
    for (k, st) in call.streams.iter().enumerate() {
        if k > 0 {
            pad(c, 0, 30)?;
        }
        col(c, 13, format_args!("{}/{}", st.ports[0], st.ports[1]))?;
        col(
            c,
            31,
            format_args!("{} {}", Latched(st.latched[0]), Latched(st.latched[1])),
        )?;
        c.put_fmt(format_args!("{}/{}\n", st.packets[0], st.packets[1]))?;
    }
    if call.streams.is_empty() {
        c.put(b"-\n")?;
    }
    Ok(())
}

/// A latched address, or `-`.
struct Latched(Option<SocketAddr>);

impl core::fmt::Display for Latched {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.0 {
            Some(a) => write!(f, "{a}"),
            None => f.write_char('-'),
        }
    }
}

const REGISTRATIONS: &[u8] =
    b"AoR (through edgesip)                     provider              expires\n";

fn registration(
    p: &Proxy,
    now: Instant,
    i: usize,
    c: &mut Cursor,
    f: Format,
) -> Option<Result<(), Full>> {
    let r = p.registrations().live(now).nth(i)?;
    let left = r.expires.since(now).as_secs();
    Some(match f {
        Format::Json => (|| {
            c.put(b"{\"aor\":")?;
            json_str(c, &r.aor)?;
            c.put_fmt(format_args!(
                ",\"provider\":\"{}\",\"expires_s\":{left}}}",
                r.provider
            ))
        })(),
        _ => (|| {
            plain(c, &r.aor, 42)?;
            col(c, 22, format_args!("{}", r.provider))?;
            c.put_fmt(format_args!("{left}s\n"))
        })(),
    })
}
