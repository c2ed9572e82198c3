//! The mio shell around the sans-IO core: binds the legs, owns the signals
//! and the clock, and moves datagrams between the sockets and [`Proxy`].
//!
//! One thread, one [`Poll`]. Buffers are allocated once before the loop;
//! the loop itself allocates nothing per datagram (only a rate-limited
//! warning formats text). It never stops on a bad datagram or a failed send:
//! only SIGINT or SIGTERM end it.

use std::fmt;
use std::io::{self, ErrorKind, Write};
use std::mem::size_of;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, SystemTime};

use log::{debug, info, warn};
use mio::net::UdpSocket;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};

mod media;

use crate::config::{Config, LegSpec, MAX_LEGS};
use crate::proxy::{NoSockets, Proxy, Transmit};
use crate::ratelimit::{Limiter, Suppressed};
use crate::relay::{RelaySockets, RelayTx};
use crate::time::Instant;
use media::MediaSockets;

/// Datagrams read from one socket per turn before the other legs get theirs.
const QUOTA: usize = 64;
/// Largest UDP payload; the receive and send buffers have this size.
const BUF_LEN: usize = 65_535;
/// Events per poll; more simply wait for the next turn.
const EVENTS: usize = 64;
/// Receive buffer asked of the kernel (it caps this at net.core.rmem_max):
/// room for a burst of REGISTERs while the loop is busy.
const RCVBUF: libc::c_int = 256 * 1024;
/// DSCP CS3 (signalling), as a TOS / traffic class byte.
const DSCP_CS3: libc::c_int = libc::IPTOS_PREC_FLASH as libc::c_int;
const SIGNAL_TOKEN: Token = Token(MAX_LEGS);
/// DNS pool sockets take the tokens from here on.
const DNS_BASE: usize = MAX_LEGS + 1;
const MAX_DNS_SOCKETS: usize = 64;
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
    /// A configuration that was not made by `parse_args`, e.g. no legs.
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

/// Sets up the global logger: `level` unless RUST_LOG is set, one line per
/// record with a UTC timestamp.
pub fn init_logger(level: log::LevelFilter) {
    let mut b = env_logger::Builder::new();
    if std::env::var_os("RUST_LOG").is_some() {
        b.parse_env("RUST_LOG");
    } else {
        b.filter_level(level);
    }
    b.format(|buf, rec| {
        writeln!(
            buf,
            "{} {:<5} {}",
            UtcStamp(SystemTime::now()),
            rec.level(),
            rec.args()
        )
    });
    b.init();
}

/// Runs the proxy until SIGINT or SIGTERM; `Ok` then.
pub fn run(cfg: Config, proxy: Proxy) -> Result<(), StartError> {
    let mut proxy = proxy;
    serve(&cfg, &mut proxy)
}

/// What the loop needs from the core; a trait so the shell's tests can drive
/// it with a fake core.
trait Core {
    fn handle(
        &mut self,
        now: Instant,
        leg: usize,
        src: SocketAddr,
        data: &[u8],
        out: &mut [u8],
        sockets: &mut dyn RelaySockets,
    ) -> Option<Transmit>;
    fn relay(
        &mut self,
        _now: Instant,
        _leg: usize,
        _pair: u16,
        _odd: bool,
        _src: SocketAddr,
        _data: &[u8],
    ) -> Option<RelayTx> {
        None
    }
    fn poll_timeout(&self) -> Option<Instant>;
    fn handle_timeout(&mut self, now: Instant, sockets: &mut dyn RelaySockets);
    /// Loads (`Load`) or saves registrar bindings; saves only when due
    /// unless `Final`.
    fn persist(&mut self, _now: Instant, _path: &std::path::Path, _when: Persist) {}
    fn dns_sockets(&self) -> usize {
        0
    }
    fn dns_server(&self) -> Option<SocketAddr> {
        None
    }
    fn handle_dns(&mut self, _now: Instant, _sock: usize, _src: SocketAddr, _data: &[u8]) {}
    fn poll_dns(&mut self, _out: &mut [u8]) -> Option<(usize, SocketAddr, usize)> {
        None
    }
    fn poll_parked(
        &mut self,
        _now: Instant,
        _out: &mut [u8],
        _sockets: &mut dyn RelaySockets,
    ) -> Option<Transmit> {
        None
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Persist {
    Load,
    IfDue,
    Final,
}

fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Core for Proxy {
    fn handle(
        &mut self,
        now: Instant,
        leg: usize,
        src: SocketAddr,
        data: &[u8],
        out: &mut [u8],
        sockets: &mut dyn RelaySockets,
    ) -> Option<Transmit> {
        Proxy::handle_with(self, now, leg, src, data, out, sockets)
    }
    fn relay(
        &mut self,
        now: Instant,
        leg: usize,
        pair: u16,
        odd: bool,
        src: SocketAddr,
        data: &[u8],
    ) -> Option<RelayTx> {
        Proxy::relay(self, now, leg, pair, odd, src, data)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Proxy::poll_timeout(self)
    }
    fn handle_timeout(&mut self, now: Instant, sockets: &mut dyn RelaySockets) {
        Proxy::handle_timeout(self, now, sockets)
    }
    fn dns_sockets(&self) -> usize {
        Proxy::dns_sockets(self)
    }
    fn dns_server(&self) -> Option<SocketAddr> {
        Proxy::dns_server(self)
    }
    fn handle_dns(&mut self, now: Instant, sock: usize, src: SocketAddr, data: &[u8]) {
        Proxy::handle_dns(self, now, sock, src, data)
    }
    fn poll_dns(&mut self, out: &mut [u8]) -> Option<(usize, SocketAddr, usize)> {
        Proxy::poll_dns(self, out)
    }
    fn poll_parked(
        &mut self,
        now: Instant,
        out: &mut [u8],
        sockets: &mut dyn RelaySockets,
    ) -> Option<Transmit> {
        Proxy::poll_parked(self, now, out, sockets)
    }
    fn persist(&mut self, now: Instant, path: &std::path::Path, when: Persist) {
        let Some(r) = self.registrar_mut() else {
            return;
        };
        match when {
            Persist::Load => {
                let n = r.load_file(now, unix_secs(), path);
                info!("registrar: {n} bindings loaded from {}", path.display());
            }
            Persist::IfDue if !r.save_due(now) => {}
            _ => {
                if let Err(e) = r.save_file(now, unix_secs(), path) {
                    warn!("registrar: cannot save {}: {e}", path.display());
                }
            }
        }
    }
}

/// Makes sure the worst case of relay sockets fits RLIMIT_NOFILE: raises
/// the soft limit when the hard one allows, else refuses to start.
fn ensure_fd_limit(cfg: &Config) -> Result<(), StartError> {
    let Some(nat) = &cfg.nat else { return Ok(()) };
    let need = nat.max_sockets() as u64 + SPARE_FDS;
    // rlim_t is 32 bits on some routers' ABIs.
    let need_r = libc::rlim_t::try_from(need).unwrap_or(libc::rlim_t::MAX);
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid rlimit for the call to fill.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Ok(());
    }
    if lim.rlim_cur >= need_r {
        return Ok(());
    }
    if lim.rlim_max < need_r {
        return Err(StartError::Config(format!(
            "--max-calls {} needs {need} file descriptors, but the limit is {} \
             (raise ulimit -n, or lower --max-calls)",
            nat.max_calls, lim.rlim_max
        )));
    }
    lim.rlim_cur = need_r;
    // SAFETY: `lim` is a valid rlimit.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
        return Err(StartError::Config(format!(
            "cannot raise the file descriptor limit to {need}: {}",
            io::Error::last_os_error()
        )));
    }
    info!("raised the file descriptor limit to {need} for the relay");
    Ok(())
}

fn serve<C: Core>(cfg: &Config, core: &mut C) -> Result<(), StartError> {
    // The ready flags and the signal token assume at most MAX_LEGS legs.
    if !(1..=MAX_LEGS).contains(&cfg.legs.len()) {
        return Err(StartError::Config(format!(
            "need 1 to {MAX_LEGS} legs, got {}",
            cfg.legs.len()
        )));
    }
    // Signals first, so a SIGTERM that arrives during start-up still ends
    // the process cleanly.
    let signals = Signals::new().map_err(StartError::Signals)?;
    ensure_fd_limit(cfg)?;
    let socks = cfg
        .legs
        .iter()
        .map(bind_leg)
        .collect::<Result<Vec<_>, _>>()?;
    let mut poll = Poll::new().map_err(StartError::Poll)?;
    let media = match &cfg.nat {
        Some(nat) => {
            let legs: Vec<_> = cfg.legs.iter().map(|l| (l.addr.ip(), l.freebind)).collect();
            let registry = poll.registry().try_clone().map_err(StartError::Poll)?;
            Some(MediaSockets::new(
                registry,
                MEDIA_BASE,
                nat.port_lo,
                nat.pairs(),
                &legs,
            ))
        }
        None => None,
    };
    let mut shell = Shell::new(socks, cfg.legs.iter().map(|l| l.name.clone()).collect());
    shell.media = media;
    if let Some(server) = core.dns_server() {
        // Source ports for DNS queries: a pool opened once, so a spoofed
        // answer has to guess the port as well as the query ID.
        let any: SocketAddr = if server.is_ipv4() {
            (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        for i in 0..core.dns_sockets().min(MAX_DNS_SOCKETS) {
            let mut sock = udp_socket(any, false, 0, 0)
                .map_err(|(_, e)| StartError::Config(format!("cannot open a DNS socket: {e}")))?;
            poll.registry()
                .register(&mut sock, Token(DNS_BASE + i), Interest::READABLE)
                .map_err(StartError::Poll)?;
            shell.dns.push(sock);
        }
    }

    for (i, sock) in shell.socks.iter_mut().enumerate() {
        poll.registry()
            .register(sock, Token(i), Interest::READABLE)
            .map_err(StartError::Poll)?;
    }
    let sigfd = signals.fd.as_raw_fd();
    poll.registry()
        .register(&mut SourceFd(&sigfd), SIGNAL_TOKEN, Interest::READABLE)
        .map_err(StartError::Poll)?;
    // Logged only now, so a line on stderr means the leg is being served.
    for (i, leg) in cfg.legs.iter().enumerate() {
        info!("{}", LegLine(leg, cfg.leg_trusted(i)));
    }

    let mut events = Events::with_capacity(EVENTS);
    let start = std::time::Instant::now();
    let mut now = Instant::from_millis(0);
    if let Some(path) = &cfg.reg_file {
        core.persist(now, path, Persist::Load);
    }
    loop {
        // A leg left with data must be served again without waiting: mio is
        // edge-triggered and will not report it a second time.
        let timeout = if shell.any_ready() {
            Some(Duration::ZERO)
        } else {
            core.poll_timeout().map(|t| t.since(now))
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
                        if let Some(path) = &cfg.reg_file {
                            core.persist(now, path, Persist::Final);
                        }
                        return Ok(());
                    }
                }
                Token(i) if i < shell.socks.len() => shell.ready[i] = true,
                Token(i) if (DNS_BASE..DNS_BASE + shell.dns.len()).contains(&i) => {
                    shell.dns_ready[i - DNS_BASE] = true;
                }
                t => {
                    if let Some(m) = shell.media.as_mut() {
                        if let Some(i) = m.slot_of(t) {
                            m.mark_ready(i);
                        }
                    }
                }
            }
        }
        shell.turn(core, now);
        if let Some(path) = &cfg.reg_file {
            core.persist(now, path, Persist::IfDue);
        }
    }
}

/// The sockets and the preallocated buffers the loop works with.
struct Shell {
    socks: Vec<UdpSocket>,
    names: Vec<String>,
    /// Legs that may have datagrams waiting.
    ready: [bool; MAX_LEGS],
    rx: Box<[u8]>,
    tx: Box<[u8]>,
    limiter: Limiter,
    /// The relay's sockets, with `--nat`.
    media: Option<MediaSockets>,
    /// The DNS source-port pool, and which of them may have answers.
    dns: Vec<UdpSocket>,
    dns_ready: [bool; MAX_DNS_SOCKETS],
}

impl Shell {
    fn new(socks: Vec<UdpSocket>, names: Vec<String>) -> Shell {
        Shell {
            socks,
            names,
            ready: [false; MAX_LEGS],
            rx: vec![0; BUF_LEN].into_boxed_slice(),
            tx: vec![0; BUF_LEN].into_boxed_slice(),
            limiter: Limiter::new(10, 10),
            media: None,
            dns: Vec::new(),
            dns_ready: [false; MAX_DNS_SOCKETS],
        }
    }

    fn any_ready(&self) -> bool {
        self.ready.iter().any(|r| *r) || self.media.as_ref().is_some_and(MediaSockets::any_ready)
    }

    /// One round-robin turn: every ready leg up to its quota, then the
    /// core's timer if it is due.
    fn turn<C: Core>(&mut self, core: &mut C, now: Instant) {
        for leg in 0..self.socks.len() {
            if self.ready[leg] {
                self.ready[leg] = self.drain(core, now, leg);
            }
        }
        self.flush_dns(core, now);
        if let Some(m) = self.media.as_mut() {
            let limiter = &mut self.limiter;
            m.drain(
                &mut self.rx,
                |leg, pair, odd, src, data| core.relay(now, leg, pair, odd, src, data),
                |msg| {
                    if let Some(s) = limiter.report(now) {
                        warn!("{msg}{}", Suppressed(s));
                    }
                },
            );
        }
        for i in 0..self.dns.len() {
            if self.dns_ready[i] {
                self.dns_ready[i] = false;
                loop {
                    match self.dns[i].recv_from(&mut self.rx) {
                        Ok((n, src)) => core.handle_dns(now, i, src, &self.rx[..n]),
                        Err(e) if e.kind() == ErrorKind::Interrupted => {}
                        Err(_) => break,
                    }
                }
            }
        }
        if core.poll_timeout().is_some_and(|t| t <= now) {
            match self.media.as_mut() {
                Some(m) => core.handle_timeout(now, m),
                None => core.handle_timeout(now, &mut NoSockets),
            }
        }
        self.flush_dns(core, now);
        if let Some(n) = self.limiter.flush(now) {
            warn!("{n} similar warnings suppressed");
        }
    }

    /// Sends what waited for DNS and is ready now, and the queries the
    /// resolver wants sent.
    fn flush_dns<C: Core>(&mut self, core: &mut C, now: Instant) {
        if self.dns.is_empty() {
            return;
        }
        loop {
            let t = match self.media.as_mut() {
                Some(m) => core.poll_parked(now, &mut self.tx, m),
                None => core.poll_parked(now, &mut self.tx, &mut NoSockets),
            };
            match t {
                Some(t) => self.send(now, t.leg, t),
                None => break,
            }
        }
        while let Some((i, dst, len)) = core.poll_dns(&mut self.tx) {
            if let (Some(sock), Some(q)) = (self.dns.get(i), self.tx.get(..len)) {
                if let Err(e) = sock.send_to(q, dst) {
                    if let Some(s) = self.limiter.report(now) {
                        warn!("DNS query to {dst} failed: {e}{}", Suppressed(s));
                    }
                }
            }
        }
    }

    /// Reads up to [`QUOTA`] datagrams from `leg`; true if it may have more.
    fn drain<C: Core>(&mut self, core: &mut C, now: Instant, leg: usize) -> bool {
        for _ in 0..QUOTA {
            match self.socks[leg].recv_from(&mut self.rx) {
                Ok((n, src)) => {
                    let t = match self.media.as_mut() {
                        Some(m) => core.handle(now, leg, src, &self.rx[..n], &mut self.tx, m),
                        None => {
                            core.handle(now, leg, src, &self.rx[..n], &mut self.tx, &mut NoSockets)
                        }
                    };
                    if let Some(t) = t {
                        self.send(now, leg, t);
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                // E.g. ECONNREFUSED left by an ICMP error for an earlier send.
                Err(e) => {
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

    fn send(&mut self, now: Instant, from: usize, t: Transmit) {
        let res = match (self.socks.get(t.leg), self.tx.get(..t.len)) {
            (Some(sock), Some(bytes)) => loop {
                match sock.send_to(bytes, t.dst) {
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    r => break r.map(drop),
                }
            },
            _ => Err(io::Error::new(
                ErrorKind::InvalidInput,
                "core returned a bad leg or length",
            )),
        };
        // UDP: a failed send is a lost datagram, which SIP retransmits.
        if let Err(e) = res {
            if let Some(s) = self.limiter.report(now) {
                let name = self.names.get(t.leg).unwrap_or(&self.names[from]);
                warn!("leg {name}: send to {} failed: {e}{}", t.dst, Suppressed(s));
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

/// A non-blocking UDP socket bound to `addr`, marked with `dscp`; on error,
/// the step that failed.
fn udp_socket(
    addr: SocketAddr,
    freebind: bool,
    dscp: libc::c_int,
    rcvbuf: libc::c_int,
) -> Result<UdpSocket, (&'static str, io::Error)> {
    let fail = |step, err| (step, err);
    let v6 = addr.is_ipv6();
    let domain = if v6 { libc::AF_INET6 } else { libc::AF_INET };
    let ty = libc::SOCK_DGRAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
    // SAFETY: a plain syscall with no pointers.
    let raw = unsafe { libc::socket(domain, ty, 0) };
    if raw < 0 {
        return Err(fail("create a socket", io::Error::last_os_error()));
    }
    // SAFETY: `raw` is a new descriptor that nothing else owns; OwnedFd
    // closes it on every error path below.
    let owned = unsafe { OwnedFd::from_raw_fd(raw) };
    let fd = owned.as_raw_fd();

    if v6 {
        // Keep IPv6 legs IPv6-only, so an IPv4 leg on the same port can bind.
        set_int(fd, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, 1)
            .map_err(|e| fail("set IPV6_V6ONLY", e))?;
    }
    if freebind {
        let r = if v6 {
            // Kernels before 4.15 lack IPV6_FREEBIND but honour IP_FREEBIND
            // on IPv6 sockets too.
            set_int(fd, libc::IPPROTO_IPV6, libc::IPV6_FREEBIND, 1).or_else(|e| {
                if e.raw_os_error() == Some(libc::ENOPROTOOPT) {
                    set_int(fd, libc::IPPROTO_IP, libc::IP_FREEBIND, 1)
                } else {
                    Err(e)
                }
            })
        } else {
            set_int(fd, libc::IPPROTO_IP, libc::IP_FREEBIND, 1)
        };
        r.map_err(|e| fail("set IP_FREEBIND", e))?;
    }
    // Marking is a courtesy to the router's QoS; not worth refusing to start.
    let (level, name) = if v6 {
        (libc::IPPROTO_IPV6, libc::IPV6_TCLASS)
    } else {
        (libc::IPPROTO_IP, libc::IP_TOS)
    };
    if let Err(e) = set_int(fd, level, name, dscp) {
        warn!("{addr}: cannot set DSCP: {e}");
    }
    // 0 keeps the kernel's default: setting 0 would give its minimum
    // (about two packets), and relay ports would drop bursts.
    if rcvbuf > 0 {
        if let Err(e) = set_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, rcvbuf) {
            debug!("{addr}: cannot set SO_RCVBUF: {e}");
        }
    }

    let r = match addr {
        SocketAddr::V4(a) => {
            let sa = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: `sa` is a valid sockaddr_in and the length is its size.
            unsafe {
                libc::bind(
                    fd,
                    (&raw const sa).cast(),
                    size_of::<libc::sockaddr_in>() as libc::socklen_t,
                )
            }
        }
        SocketAddr::V6(a) => {
            let sa = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: `sa` is a valid sockaddr_in6 and the length is its size.
            unsafe {
                libc::bind(
                    fd,
                    (&raw const sa).cast(),
                    size_of::<libc::sockaddr_in6>() as libc::socklen_t,
                )
            }
        }
    };
    if r != 0 {
        return Err(fail("bind", io::Error::last_os_error()));
    }
    // Already non-blocking (SOCK_NONBLOCK), as mio requires.
    Ok(UdpSocket::from_std(std::net::UdpSocket::from(owned)))
}

fn set_int(fd: RawFd, level: libc::c_int, name: libc::c_int, value: libc::c_int) -> io::Result<()> {
    // SAFETY: `value` outlives the call and the length is its size.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&raw const value).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// SIGINT and SIGTERM, blocked and read from a signalfd in the loop.
struct Signals {
    fd: OwnedFd,
}

impl Signals {
    fn new() -> io::Result<Signals> {
        // SAFETY: setting a disposition to SIG_IGN installs no handler code.
        if unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) } == libc::SIG_ERR {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: sigset_t is plain data; sigemptyset initialises it fully.
        let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: `set` is a valid sigset_t; SIGINT and SIGTERM are valid.
        unsafe {
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGINT);
            libc::sigaddset(&mut set, libc::SIGTERM);
        }
        // One thread, so the process mask is the thread's mask.
        // SAFETY: `set` is initialised; the old mask is not wanted.
        if unsafe { libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // A parent may have left them ignored (e.g. `&` in a script), and an
        // ignored signal is discarded before a signalfd can see it. Now that
        // they are blocked, the default action can never run.
        for sig in [libc::SIGINT, libc::SIGTERM] {
            // SAFETY: SIG_DFL installs no handler code.
            if unsafe { libc::signal(sig, libc::SIG_DFL) } == libc::SIG_ERR {
                return Err(io::Error::last_os_error());
            }
        }
        // SAFETY: `set` is initialised; -1 asks for a new descriptor.
        let raw = unsafe { libc::signalfd(-1, &set, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a new descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        Ok(Signals { fd })
    }

    /// Drains the signalfd; the name of a stop signal if one came.
    fn read_stop(&self) -> Option<&'static str> {
        loop {
            // SAFETY: signalfd_siginfo is plain data; all zeroes is valid.
            let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
            let len = size_of::<libc::signalfd_siginfo>();
            // SAFETY: `info` is writable for `len` bytes.
            let n = unsafe { libc::read(self.fd.as_raw_fd(), (&raw mut info).cast(), len) };
            if n < 0 {
                if io::Error::last_os_error().kind() == ErrorKind::Interrupted {
                    continue;
                }
                return None; // EAGAIN: drained
            }
            if n as usize != len {
                return None;
            }
            match info.ssi_signo as libc::c_int {
                libc::SIGINT => return Some("SIGINT"),
                libc::SIGTERM => return Some("SIGTERM"),
                _ => {}
            }
        }
    }
}

/// `2024-01-01T12:00:00.000Z`, without a date crate.
struct UtcStamp(SystemTime);

impl fmt::Display for UtcStamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self
            .0
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        let secs = d.as_secs();
        let (y, m, day) = civil_from_days((secs / 86_400) as i64);
        let s = secs % 86_400;
        write!(
            f,
            "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
            s / 3600,
            s / 60 % 60,
            s % 60,
            d.subsec_millis()
        )
    }
}

/// Days since 1970-01-01 to (year, month, day); Howard Hinnant's algorithm.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod test {
    use super::*;
    use std::net::UdpSocket as StdSocket;

    #[test]
    fn timestamps() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(11_017), (2000, 3, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_704_067_199_999);
        assert_eq!(UtcStamp(t).to_string(), "2023-12-31T23:59:59.999Z");
    }

    #[test]
    fn start_errors_name_leg_and_cause() {
        let leg = |kind: ErrorKind| StartError::Leg {
            leg: "wan".into(),
            addr: "192.0.2.1:5060".parse().unwrap(),
            step: "bind",
            err: io::Error::from(kind),
        };
        let s = leg(ErrorKind::AddrInUse).to_string();
        assert_eq!(s, "leg wan: cannot bind 192.0.2.1:5060: port in use");
        let s = leg(ErrorKind::AddrNotAvailable).to_string();
        assert!(s.contains("address not available on this host"), "{s}");
        assert_eq!(
            leg(ErrorKind::AddrInUse).io_error().map(io::Error::kind),
            Some(ErrorKind::AddrInUse)
        );
    }

    #[test]
    fn leg_line() {
        let cfg = crate::config::parse_args(
            [
                "--leg",
                "x=[::1]:5060,net=::1/128+fd00::/8,media-ip=::2,freebind",
            ]
            .map(String::from),
        );
        let Ok(crate::config::Command::Run(cfg)) = cfg else {
            panic!("{cfg:?}");
        };
        assert_eq!(
            LegLine(&cfg.legs[0], cfg.leg_trusted(0)).to_string(),
            "leg x: listening on [::1]:5060, advertise [::1]:5060, trusted, \
             nets ::1/128+fd00::/8, media-ip ::2, freebind"
        );
    }

    /// Answers every datagram with itself, back to its source on the same
    /// leg, and counts what it saw per leg.
    #[derive(Default)]
    struct Echo {
        seen: [usize; MAX_LEGS],
        timer: Option<Instant>,
        fired: usize,
    }

    impl Core for Echo {
        fn handle(
            &mut self,
            _now: Instant,
            leg: usize,
            src: SocketAddr,
            data: &[u8],
            out: &mut [u8],
            _: &mut dyn RelaySockets,
        ) -> Option<Transmit> {
            self.seen[leg] += 1;
            out[..data.len()].copy_from_slice(data);
            Some(Transmit {
                leg,
                dst: src,
                len: data.len(),
            })
        }
        fn poll_timeout(&self) -> Option<Instant> {
            self.timer
        }
        fn handle_timeout(&mut self, _now: Instant, _: &mut dyn RelaySockets) {
            self.fired += 1;
            self.timer = None;
        }
    }

    fn shell(n: usize) -> (Shell, Vec<SocketAddr>) {
        let mut socks = Vec::new();
        let mut names = Vec::new();
        for i in 0..n {
            let s = StdSocket::bind("127.0.0.1:0").unwrap();
            s.set_nonblocking(true).unwrap();
            socks.push(UdpSocket::from_std(s));
            names.push(format!("leg{i}"));
        }
        let addrs = socks.iter().map(|s| s.local_addr().unwrap()).collect();
        (Shell::new(socks, names), addrs)
    }

    fn recv_all(s: &StdSocket) -> usize {
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut buf = [0u8; 64];
        let mut n = 0;
        while s.recv_from(&mut buf).is_ok() {
            n += 1;
        }
        n
    }

    #[test]
    fn quota_keeps_a_flood_from_starving_other_legs() {
        let (mut sh, addrs) = shell(2);
        let ua = StdSocket::bind("127.0.0.1:0").unwrap();
        for i in 0..100u32 {
            ua.send_to(&i.to_be_bytes(), addrs[0]).unwrap();
        }
        for i in 0..3u32 {
            ua.send_to(&i.to_be_bytes(), addrs[1]).unwrap();
        }
        let mut core = Echo::default();
        let now = Instant::from_secs(1);
        sh.ready[..2].fill(true);
        sh.turn(&mut core, now);
        assert_eq!(&core.seen[..2], &[QUOTA, 3]);
        assert_eq!(&sh.ready[..2], &[true, false]);
        assert!(sh.any_ready());
        sh.turn(&mut core, now);
        assert_eq!(&core.seen[..2], &[100, 3]);
        assert!(!sh.any_ready());
        assert_eq!(recv_all(&ua), 103);
    }

    #[test]
    fn failed_sends_and_bad_transmits_do_not_stop_the_leg() {
        struct Bad;
        impl Core for Bad {
            fn handle(
                &mut self,
                _: Instant,
                _: usize,
                src: SocketAddr,
                data: &[u8],
                _: &mut [u8],
                _: &mut dyn RelaySockets,
            ) -> Option<Transmit> {
                Some(match data {
                    b"leg" => Transmit {
                        leg: 7,
                        dst: src,
                        len: 1,
                    },
                    b"len" => Transmit {
                        leg: 0,
                        dst: src,
                        len: BUF_LEN + 1,
                    },
                    // An IPv6 destination from an IPv4 socket fails.
                    _ => Transmit {
                        leg: 0,
                        dst: "[::1]:9".parse().unwrap(),
                        len: 1,
                    },
                })
            }
            fn poll_timeout(&self) -> Option<Instant> {
                None
            }
            fn handle_timeout(&mut self, _: Instant, _: &mut dyn RelaySockets) {}
        }
        let (mut sh, addrs) = shell(1);
        let ua = StdSocket::bind("127.0.0.1:0").unwrap();
        for _ in 0..30 {
            for m in [&b"leg"[..], b"len", b"v6"] {
                ua.send_to(m, addrs[0]).unwrap();
            }
        }
        sh.ready[0] = true;
        sh.turn(&mut Bad, Instant::from_secs(1));
        sh.turn(&mut Bad, Instant::from_secs(1));
        assert!(!sh.any_ready());
        assert!(sh.limiter.suppressed > 0);
        // The leg still works.
        ua.send_to(b"ping", addrs[0]).unwrap();
        let mut core = Echo::default();
        sh.ready[0] = true;
        sh.turn(&mut core, Instant::from_secs(2));
        assert_eq!(core.seen[0], 1);
        assert_eq!(recv_all(&ua), 1);
    }

    #[test]
    fn refused_port_error_is_survived() {
        // Sending to a closed port makes the kernel report ECONNREFUSED on
        // the socket's next receive; the drain must carry on past it.
        let (mut sh, addrs) = shell(1);
        let closed = StdSocket::bind("127.0.0.1:0").unwrap();
        let dead = closed.local_addr().unwrap();
        drop(closed);
        sh.socks[0].connect(dead).unwrap();
        sh.socks[0].send(b"x").unwrap();
        std::thread::sleep(Duration::from_millis(50));
        let ua = StdSocket::bind("127.0.0.1:0").unwrap();
        let _ = ua.send_to(b"hello", addrs[0]);
        let mut core = Echo::default();
        sh.ready[0] = true;
        sh.turn(&mut core, Instant::from_secs(1));
        // Connected to `dead`, so ua's datagram is filtered; the error was
        // logged and the leg is not stuck.
        assert!(!sh.any_ready());
        assert_eq!(core.seen[0], 0);
        // One of the ten warnings was spent on it.
        let left = (0..20)
            .filter(|_| sh.limiter.report(Instant::from_secs(1)).is_some())
            .count();
        assert_eq!(left, 9);
    }

    #[test]
    fn due_timer_fires_once() {
        let (mut sh, _) = shell(1);
        let mut core = Echo {
            timer: Some(Instant::from_secs(5)),
            ..Echo::default()
        };
        sh.turn(&mut core, Instant::from_millis(4_999));
        assert_eq!(core.fired, 0);
        sh.turn(&mut core, Instant::from_secs(5));
        assert_eq!(core.fired, 1);
        sh.turn(&mut core, Instant::from_secs(6));
        assert_eq!(core.fired, 1);
    }
}
