//! The shell around the sans-IO core: the command line, the key and
//! bindings files, the logger, the system calls, and the mio loop that
//! moves datagrams between the sockets and [`Proxy`].
//!
//! One thread, one [`Poll`]. Buffers are allocated once before the loop;
//! the loop itself allocates nothing per datagram (only a rate-limited
//! warning formats text). It never stops on a bad datagram or a failed send:
//! only SIGINT or SIGTERM end it.
//!
//! - [`cli`]: the options and leg SPECs; [`key`]: the key file and the
//!   random seed; [`persist`]: the registrar's file; [`log`]: the logger
//!   and the lines for the core's outcomes; [`sys`]: sockets, signals and
//!   limits (every `unsafe`); [`media`]: the relay's sockets.

pub mod cli;
pub mod client;
mod control;
pub mod key;
pub mod log;
mod media;
pub mod persist;
#[allow(unsafe_code)]
mod sys;
pub use sys::PageAlloc;
mod tcp;

use std::fmt;
use std::io::{self, ErrorKind};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::time::Duration;

use ::log::{info, warn};
use mio::net::UdpSocket;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};

use crate::config::LegSpec;
use crate::cx::Cx;
use crate::limits::{MAX_DATAGRAM, MAX_DNS_SOCKETS, MAX_LEGS};
use crate::output::{Socket, Transmit};
use crate::proxy::Proxy;
use crate::ratelimit::{Limiter, Suppressed};
use crate::stream::{Conn, Expiry, Frame};
use crate::time::Instant;
use cli::Options;
use media::MediaSockets;
use persist::Persist;
use sys::{udp_socket, RecvBatch, Signals, BATCH};

/// Datagrams read from one socket per turn before the other legs get theirs.
const QUOTA: usize = 64;
/// Events per poll; more simply wait for the next turn.
const EVENTS: usize = 64;
/// Receive buffer asked of the kernel (it caps this at net.core.rmem_max):
/// room for a burst of REGISTERs while the loop is busy.
const RCVBUF: libc::c_int = 256 * 1024;
/// DSCP CS3 (signalling), as a TOS / traffic class byte.
pub(crate) const DSCP_CS3: libc::c_int = libc::IPTOS_PREC_FLASH as libc::c_int;
const SIGNAL_TOKEN: Token = Token(MAX_LEGS);
const CONTROL_TOKEN: Token = Token(MAX_LEGS + 1);
/// DNS pool sockets take the tokens from here on.
const DNS_BASE: usize = MAX_LEGS + 2;
/// Relay sockets take the tokens from here on.
const MEDIA_BASE: usize = DNS_BASE + MAX_DNS_SOCKETS;
/// File descriptors beyond the relay's: legs, epoll, signalfd, logging.
const SPARE_FDS: u64 = 32;

/// Why the daemon could not start. Each is fatal: main prints it and exits 2.
#[derive(Debug)]
pub enum StartError {
    /// A leg's socket could not be made, set up or bound; `step` says which.
    Leg {
        leg: String,
        addr: SocketAddr,
        step: &'static str,
        err: io::Error,
    },
    /// A configuration the shell cannot serve, e.g. no legs.
    Config(String),
    /// Blocking SIGINT/SIGTERM or making the signalfd failed.
    Signals(io::Error),
    /// The poll could not be made or registered with, or failed while
    /// running (which epoll only does on programming errors).
    Poll(io::Error),
}

impl StartError {
    /// The OS error behind it, so callers can tell "in use" from the rest.
    pub fn io_error(&self) -> Option<&io::Error> {
        match self {
            StartError::Leg { err, .. } | StartError::Signals(err) | StartError::Poll(err) => {
                Some(err)
            }
            StartError::Config(_) => None,
        }
    }
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Leg {
                leg,
                addr,
                step: "bind",
                err,
            } => {
                write!(f, "leg {leg}: cannot bind {addr}: ")?;
                match err.kind() {
                    ErrorKind::AddrInUse => f.write_str("port in use"),
                    ErrorKind::AddrNotAvailable => f.write_str(
                        "address not available on this host (add ,freebind to bind it anyway)",
                    ),
                    ErrorKind::PermissionDenied => f.write_str(
                        "permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)",
                    ),
                    _ => write!(f, "{err}"),
                }
            }
            StartError::Leg {
                leg,
                addr,
                step,
                err,
            } => write!(f, "leg {leg} ({addr}): cannot {step}: {err}"),
            StartError::Config(e) => f.write_str(e),
            StartError::Signals(e) => write!(f, "cannot set up SIGINT/SIGTERM handling: {e}"),
            StartError::Poll(e) => write!(f, "poll failed: {e}"),
        }
    }
}

impl std::error::Error for StartError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.io_error().map(|e| e as _)
    }
}

/// A daemon whose sockets are all bound, ready to run.
pub struct Daemon {
    poll: Poll,
    signals: Signals,
    shell: Shell,
    control: Option<control::Control>,
    reg_file: Option<PathBuf>,
}

impl Daemon {
    /// Checks what can still fail and binds every socket: signals first,
    /// so a SIGTERM during start-up still ends the process cleanly, then the
    /// open-file limit, the legs, the DNS pool. Logs nothing until all of
    /// it worked, so a failed start leaves only its one error line.
    pub fn start(opts: &Options) -> Result<Daemon, StartError> {
        let cfg = &opts.cfg;
        // The ready flags and the signal token assume at most MAX_LEGS legs.
        if !(1..=MAX_LEGS).contains(&cfg.legs.len()) {
            return Err(StartError::Config(format!(
                "need 1 to {MAX_LEGS} legs, got {}",
                cfg.legs.len()
            )));
        }
        let signals = Signals::new().map_err(StartError::Signals)?;
        let raised = match &cfg.nat {
            Some(nat) => sys::ensure_fd_limit(nat, SPARE_FDS).map_err(StartError::Config)?,
            None => None,
        };
        let socks = cfg
            .legs
            .iter()
            .map(|l| l.transport.udp().then(|| bind_leg(l)).transpose())
            .collect::<Result<Vec<_>, _>>()?;
        let poll = Poll::new().map_err(StartError::Poll)?;
        let registry = poll.registry().try_clone().map_err(StartError::Poll)?;
        let legs: Vec<_> = cfg.legs.iter().map(|l| (l.addr.ip(), l.freebind)).collect();
        let media = match &cfg.nat {
            Some(nat) => MediaSockets::new(
                registry,
                MEDIA_BASE,
                nat.port_lo,
                nat.pairs(),
                &legs,
                nat.max_sockets(),
            ),
            None => MediaSockets::new(registry, MEDIA_BASE, 0, 0, &[], 0),
        };
        let mut shell = Shell::new(socks, cfg.legs.iter().map(|l| l.name.clone()).collect());
        shell.media = media;
        shell.tcp = tcp::Tcp::bind(poll.registry(), &cfg.legs, cfg.tcp, DSCP_CS3)?;
        if let Some(dns) = &cfg.dns {
            // Source ports for DNS queries: a pool opened once, so a spoofed
            // answer has to guess the port as well as the query ID.
            let any: SocketAddr = if dns.server.is_ipv4() {
                (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
            } else {
                (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
            };
            for i in 0..dns.sockets.min(MAX_DNS_SOCKETS) {
                let mut sock = udp_socket(any, false, 0, 0).map_err(|(_, e)| {
                    StartError::Config(format!("cannot open a DNS socket: {e}"))
                })?;
                poll.registry()
                    .register(&mut sock, Token(DNS_BASE + i), Interest::READABLE)
                    .map_err(StartError::Poll)?;
                shell.dns.push(sock);
            }
        }
        for (i, sock) in shell.socks.iter_mut().enumerate() {
            if let Some(sock) = sock {
                poll.registry()
                    .register(sock, Token(i), Interest::READABLE)
                    .map_err(StartError::Poll)?;
            }
        }
        poll.registry()
            .register(
                &mut SourceFd(&signals.as_raw_fd()),
                SIGNAL_TOKEN,
                Interest::READABLE,
            )
            .map_err(StartError::Poll)?;
        let control = match &opts.control {
            Some(path) => {
                let c = control::Control::bind(path).map_err(StartError::Config)?;
                poll.registry()
                    .register(
                        &mut SourceFd(&c.as_raw_fd()),
                        CONTROL_TOKEN,
                        Interest::READABLE,
                    )
                    .map_err(StartError::Poll)?;
                Some(c)
            }
            None => None,
        };
        // Logged only now, so a line on stderr means the leg is being served.
        for (i, leg) in cfg.legs.iter().enumerate() {
            info!("{}", LegLine(leg, cfg.leg_trusted(i)));
        }
        if let Some(n) = raised {
            info!("raised the file descriptor limit to {n} for the relay");
        }
        if let Some(c) = &control {
            info!("control socket {}", c.path().display());
        }
        Ok(Daemon {
            poll,
            signals,
            shell,
            control,
            reg_file: opts.reg_file.clone(),
        })
    }

    /// Runs `proxy` until SIGINT or SIGTERM; `Ok` then.
    pub fn run(self, mut proxy: Proxy) -> Result<(), StartError> {
        let Daemon {
            mut poll,
            signals,
            mut shell,
            mut control,
            reg_file,
        } = self;
        let mut events = Events::with_capacity(EVENTS);
        let start = std::time::Instant::now();
        let mut now = Instant::from_millis(0);
        let persist = |proxy: &mut Proxy, now, when| {
            if let (Some(path), Some(reg)) = (&reg_file, proxy.registrar_mut()) {
                persist::persist(reg, now, path, when);
            }
        };
        persist(&mut proxy, now, Persist::Load);
        loop {
            // A leg left with data must be served again without waiting: mio
            // is edge-triggered and will not report it a second time.
            let timeout = if shell.any_ready() {
                Some(Duration::ZERO)
            } else {
                let core = proxy.poll_timeout().map(|t| t.since(now));
                let media = shell.media.poll_timeout().map(|t| t.since(now));
                [core, shell.tcp.streams.poll_timeout(now), media]
                    .into_iter()
                    .flatten()
                    .min()
            };
            match poll.poll(&mut events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(StartError::Poll(e)),
            }
            now = Instant::from_millis(start.elapsed().as_millis() as u64);
            for ev in events.iter() {
                match ev.token() {
                    SIGNAL_TOKEN => {
                        if let Some(sig) = signals.read_stop() {
                            info!("got {sig}, stopping");
                            persist(&mut proxy, now, Persist::Final);
                            return Ok(());
                        }
                    }
                    CONTROL_TOKEN => {
                        if let Some(c) = control.as_mut() {
                            let tcp = shell.tcp.stats();
                            let tcp = (tcp.capacity > 0).then_some(&tcp);
                            if let Err(e) = c.serve(&proxy, tcp, now) {
                                warn!("control socket: {e}");
                            }
                        }
                    }
                    Token(i) if i < shell.socks.len() => shell.ready[i] = true,
                    Token(i) if (DNS_BASE..DNS_BASE + shell.dns.len()).contains(&i) => {
                        shell.dns_ready[i - DNS_BASE] = true;
                    }
                    t => {
                        if shell.tcp.mark(t) {
                            continue;
                        }
                        if let Some(i) = shell.media.slot_of(t) {
                            shell.media.mark_ready(i);
                        }
                    }
                }
            }
            shell.turn(&mut proxy, now);
            while let Some(e) = proxy.poll_event() {
                log::event(&e);
            }
            persist(&mut proxy, now, Persist::IfDue);
        }
    }
}

/// The sockets and the preallocated buffers the loop works with.
struct Shell {
    /// Each leg's UDP socket; none for a `tcp-only` leg.
    socks: Vec<Option<UdpSocket>>,
    names: Vec<String>,
    /// Legs that may have datagrams waiting.
    ready: [bool; MAX_LEGS],
    rx: RecvBatch,
    tx: Box<[u8]>,
    limiter: Limiter,
    /// The relay's sockets; none without `--nat`.
    media: MediaSockets,
    /// The DNS source-port pool, and which of them may have answers.
    dns: Vec<UdpSocket>,
    dns_ready: [bool; MAX_DNS_SOCKETS],
    /// TCP listeners and connections; none without a `tcp` leg.
    tcp: tcp::Tcp,
}

impl Shell {
    fn new(socks: Vec<Option<UdpSocket>>, names: Vec<String>) -> Shell {
        Shell {
            socks,
            names,
            ready: [false; MAX_LEGS],
            rx: RecvBatch::new(),
            tx: vec![0; MAX_DATAGRAM].into_boxed_slice(),
            limiter: Limiter::new(10, 10),
            media: MediaSockets::none(),
            dns: Vec::new(),
            dns_ready: [false; MAX_DNS_SOCKETS],
            tcp: tcp::Tcp::none(),
        }
    }

    fn any_ready(&self) -> bool {
        self.ready.iter().any(|r| *r) || self.media.any_ready() || self.tcp.any_ready()
    }

    /// One round-robin turn: every ready leg up to its quota, the relay,
    /// DNS answers, then the core's timer if it is due.
    fn turn(&mut self, proxy: &mut Proxy, now: Instant) {
        self.media.sweep(now);
        for leg in 0..self.socks.len() {
            if self.ready[leg] {
                self.ready[leg] = self.drain(proxy, now, leg);
            }
        }
        self.serve_tcp(proxy, now);
        self.flush_dns(proxy, now);
        let limiter = &mut self.limiter;
        self.media.drain(
            &mut self.rx,
            |leg, pair, odd, src, data| proxy.relay(now, leg, pair, odd, src, data),
            |msg| {
                if let Some(s) = limiter.report(now) {
                    warn!("{msg}{}", Suppressed(s));
                }
            },
        );
        for i in 0..self.dns.len() {
            if self.dns_ready[i] {
                self.dns_ready[i] = false;
                loop {
                    let buf = self.rx.buf();
                    match self.dns[i].recv_from(buf) {
                        Ok((n, src)) => {
                            proxy.handle_dns(now, i, src, buf.get(..n).unwrap_or_default())
                        }
                        Err(e) if e.kind() == ErrorKind::Interrupted => {}
                        Err(_) => break,
                    }
                }
            }
        }
        if proxy.poll_timeout().is_some_and(|t| t <= now) {
            proxy.handle_timeout(&mut Cx::new(now, &mut self.media));
        }
        self.flush_dns(proxy, now);
        if let Some(n) = self.limiter.flush(now) {
            warn!("{n} similar warnings suppressed");
        }
    }

    /// Sends what waited for DNS and is ready now, and the queries the
    /// resolver wants sent.
    fn flush_dns(&mut self, proxy: &mut Proxy, now: Instant) {
        if self.dns.is_empty() {
            return;
        }
        while let Some(o) = proxy.poll_parked(&mut Cx::new(now, &mut self.media), &mut self.tx) {
            if let Some(t) = o.transmit() {
                self.send(proxy, now, t);
            }
        }
        while let Some(t) = proxy.poll_dns(&mut self.tx) {
            self.send(proxy, now, t);
        }
    }

    /// Reads up to [`QUOTA`] datagrams from `leg`, [`BATCH`] per system
    /// call; true if it may have more.
    fn drain(&mut self, proxy: &mut Proxy, now: Instant, leg: usize) -> bool {
        let mut read = 0;
        while read < QUOTA {
            let Some(Some(sock)) = self.socks.get(leg) else {
                return false;
            };
            match self.rx.recv(sock.as_raw_fd()) {
                Ok(n) => {
                    for i in 0..n {
                        let Some((src, data)) = self.rx.get(i) else {
                            continue;
                        };
                        let mut cx = Cx::new(now, &mut self.media);
                        let o = proxy.handle(&mut cx, leg, src, data, &mut self.tx);
                        log::outcome(&mut self.limiter, now, &self.names[leg], src, &o);
                        if let Some(t) = o.transmit() {
                            self.send(proxy, now, t);
                        }
                    }
                    // A short batch: the queue is empty.
                    if n < BATCH {
                        return false;
                    }
                    read += n;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                // E.g. ECONNREFUSED left by an ICMP error for an earlier send.
                Err(e) => {
                    read += 1;
                    if let Some(s) = self.limiter.report(now) {
                        warn!(
                            "leg {}: receive failed: {e}{}",
                            self.names[leg],
                            Suppressed(s)
                        );
                    }
                }
            }
        }
        true
    }

    /// Sends `tx[..t.len]` from the socket `t` names (a leg, a DNS pool
    /// socket, or a TCP connection of a leg).
    fn send(&mut self, proxy: &mut Proxy, now: Instant, t: Transmit) {
        let sock = match t.socket {
            Socket::Leg(i) => self.socks.get(i).and_then(Option::as_ref),
            Socket::Dns(i) => self.dns.get(i),
            Socket::Relay { .. } => None,
            Socket::Stream { leg, conn } => return self.send_stream(proxy, now, leg, conn, t),
        };
        let res = match (sock, self.tx.get(..t.len)) {
            (Some(sock), Some(bytes)) => loop {
                match sock.send_to(bytes, t.dst) {
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    r => break r.map(drop),
                }
            },
            _ => Err(io::Error::new(
                ErrorKind::InvalidInput,
                "core returned a bad socket or length",
            )),
        };
        // UDP: a failed send is a lost datagram, which SIP retransmits.
        if let Err(e) = res {
            if let Some(s) = self.limiter.report(now) {
                let name = match t.socket {
                    Socket::Leg(i) => self.names.get(i).map_or("?", String::as_str),
                    _ => "dns",
                };
                warn!("{name}: send to {} failed: {e}{}", t.dst, Suppressed(s));
            }
        }
    }

    /// A message over TCP: on `conn` if it is still open, else on an open
    /// connection to the destination, else on a new one (the message
    /// waits in its send queue until the connect completes). What cannot
    /// be delivered is answered 503 through the core.
    fn send_stream(
        &mut self,
        proxy: &mut Proxy,
        now: Instant,
        leg: usize,
        conn: Option<Conn>,
        t: Transmit,
    ) {
        let streams = &self.tcp.streams;
        let found = conn
            .filter(|c| streams.info(*c).is_some_and(|i| i.leg == leg))
            .or_else(|| streams.find(leg, t.dst));
        let c = match found {
            Some(c) => c,
            None => match self.tcp.connect(now, leg, t.dst) {
                Ok(c) => c,
                Err(e) => {
                    self.warn(now, format_args!("tcp: cannot connect to {}: {e}", t.dst));
                    let n = t.len.min(self.tcp.sent.len());
                    if let (Some(d), Some(s)) = (self.tcp.sent.get_mut(..n), self.tx.get(..n)) {
                        d.copy_from_slice(s);
                    }
                    return self.undeliverable(proxy, now, leg, t.dst, n);
                }
            },
        };
        let ok = match self.tx.get(..t.len) {
            Some(bytes) => self.tcp.queue(c, bytes, now),
            None => false,
        };
        if !ok {
            self.warn(
                now,
                format_args!("tcp: {} closed: send queue full or write failed", t.dst),
            );
            self.tcp.close(c);
        }
    }

    /// The 503 for the request in `tcp.sent[..n]`, sent back its way.
    fn undeliverable(
        &mut self,
        proxy: &mut Proxy,
        now: Instant,
        leg: usize,
        dst: SocketAddr,
        n: usize,
    ) {
        let mut cx = Cx::new(now, &mut self.media);
        let sent = self.tcp.sent.get(..n).unwrap_or_default();
        let o = proxy.undeliverable(&mut cx, leg, dst, sent, &mut self.tcp.answer, &mut self.tx);
        if let Some(t) = o.transmit() {
            self.send(proxy, now, t);
        }
    }

    fn warn(&mut self, now: Instant, msg: fmt::Arguments) {
        if let Some(s) = self.limiter.report(now) {
            warn!("{msg}{}", Suppressed(s));
        }
    }

    /// Accepts, serves every connection with an event, and closes what
    /// the table says is due.
    fn serve_tcp(&mut self, proxy: &mut Proxy, now: Instant) {
        if self.tcp.streams.capacity() == 0 {
            return;
        }
        self.tcp.accept(now, &mut self.limiter, &self.names);
        while let Some(c) = self.tcp.next_ready() {
            self.serve_conn(proxy, now, c);
        }
        while let Some((c, why)) = self.tcp.due(now) {
            let peer = self.tcp.streams.info(c).map(|i| i.peer);
            if why == Expiry::ConnectTimeout {
                let leg = self.tcp.streams.info(c).map_or(0, |i| i.leg);
                let n = self.tcp.take_unsent(c);
                self.tcp.close(c);
                if let Some(p) = peer {
                    self.warn(now, format_args!("tcp: connect to {p} timed out"));
                    self.undeliverable(proxy, now, leg, p, n);
                }
            } else {
                if why == Expiry::SlowLoris {
                    if let Some(p) = peer {
                        self.warn(
                            now,
                            format_args!("tcp: {p} sent part of a message and stalled; closed"),
                        );
                    }
                }
                self.tcp.close(c);
            }
        }
    }

    /// Reads what `c` has, frames it and hands each message to the core;
    /// writes what waits; finishes a connect.
    fn serve_conn(&mut self, proxy: &mut Proxy, now: Instant, c: Conn) {
        let Some(info) = self.tcp.streams.info(c) else {
            return;
        };
        if info.connecting {
            if !self.tcp.check_connected(c, now) {
                let n = self.tcp.take_unsent(c);
                self.tcp.close(c);
                self.tcp.connect_failed();
                self.warn(now, format_args!("tcp: connect to {} failed", info.peer));
                return self.undeliverable(proxy, now, info.leg, info.peer, n);
            }
            if self.tcp.streams.info(c).is_some_and(|i| i.connecting) {
                return;
            }
        }
        if !self.tcp.flush(c, now) {
            self.tcp.close(c);
            return;
        }
        for _ in 0..QUOTA {
            let r = self.tcp.read(c, now);
            if !self.frames(proxy, now, c) {
                return;
            }
            match r {
                tcp::Read1::Got | tcp::Read1::Full => {}
                tcp::Read1::Blocked => return,
                tcp::Read1::Closed => {
                    self.tcp.close(c);
                    return;
                }
            }
        }
        // More may wait; mio will not say so again.
        self.tcp.mark(Token(tcp::CONN_BASE + usize::from(c.slot)));
    }

    /// Every whole message in `c`'s buffer to the core; false once the
    /// connection is closed.
    fn frames(&mut self, proxy: &mut Proxy, now: Instant, c: Conn) -> bool {
        loop {
            let Some(info) = self.tcp.streams.info(c) else {
                return false;
            };
            let (frame, bytes) = self.tcp.streams.frame(c);
            let name = self.names.get(info.leg).map_or("?", String::as_str);
            match frame {
                Frame::Message(n) => {
                    let mut cx = Cx::on_stream(now, &mut self.media, c);
                    let o = proxy.handle(&mut cx, info.leg, info.peer, bytes, &mut self.tx);
                    self.tcp.streams.consume(c, n, now);
                    log::outcome(&mut self.limiter, now, name, info.peer, &o);
                    if let Some(t) = o.transmit() {
                        self.send(proxy, now, t);
                    }
                }
                // RFC 5626 §4.4.1: a CRLF CRLF ping gets a CRLF pong.
                Frame::Ping => {
                    self.tcp.streams.consume(c, 4, now);
                    if !self.tcp.queue(c, b"\r\n", now) {
                        self.tcp.close(c);
                        return false;
                    }
                }
                Frame::Skip => self.tcp.streams.consume(c, 2, now),
                Frame::Partial => return true,
                Frame::Broken(b) => {
                    if let Some(h) = b.header() {
                        let head = bytes.get(..h).unwrap_or_default();
                        let too_large = matches!(b, crate::stream::Broken::TooLarge { .. });
                        let mut cx = Cx::on_stream(now, &mut self.media, c);
                        let o = proxy.refuse_stream(
                            &mut cx,
                            info.leg,
                            info.peer,
                            head,
                            too_large,
                            &mut self.tx,
                        );
                        log::outcome(&mut self.limiter, now, name, info.peer, &o);
                        if let Some(t) = o.transmit() {
                            self.send(proxy, now, t);
                        }
                    } else {
                        self.warn(
                            now,
                            format_args!(
                                "tcp: {} sent a message too large to frame; closed",
                                info.peer
                            ),
                        );
                    }
                    let _ = self.tcp.flush(c, now);
                    self.tcp.close(c);
                    return false;
                }
            }
        }
    }
}

/// The start-up line of one leg; tests wait for "listening on".
struct LegLine<'a>(&'a LegSpec, bool);

impl fmt::Display for LegLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let LegLine(leg, trusted) = *self;
        write!(f, "leg {}: listening on {}, advertise ", leg.name, leg.addr)?;
        if leg.advertise_host.contains(':') {
            write!(f, "[{}]", leg.advertise_host)?;
        } else {
            f.write_str(&leg.advertise_host)?;
        }
        write!(f, ":{}, ", leg.advertise_port)?;
        f.write_str(if trusted { "trusted" } else { "public" })?;
        f.write_str(", nets ")?;
        if leg.nets.is_empty() {
            f.write_str("none")?;
        }
        for (i, n) in leg.nets.iter().enumerate() {
            write!(f, "{}{n}", if i == 0 { "" } else { "+" })?;
        }
        if let Some(ip) = leg.media_ip {
            write!(f, ", media-ip {ip}")?;
        }
        if leg.freebind {
            f.write_str(", freebind")?;
        }
        match leg.transport {
            crate::config::Transports::Udp => {}
            crate::config::Transports::UdpTcp => f.write_str(", udp+tcp")?,
            crate::config::Transports::TcpOnly => f.write_str(", tcp only")?,
        }
        Ok(())
    }
}

/// Makes, sets up and binds one leg's socket.
fn bind_leg(leg: &LegSpec) -> Result<UdpSocket, StartError> {
    udp_socket(leg.addr, leg.freebind, DSCP_CS3, RCVBUF).map_err(|(step, err)| StartError::Leg {
        leg: leg.name.clone(),
        addr: leg.addr,
        step,
        err,
    })
}

#[cfg(test)]
mod test;
