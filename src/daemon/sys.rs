//! The system calls of the shell, and every `unsafe` block they need:
//! sockets with the options libc alone can set (IP_FREEBIND, DSCP,
//! IPV6_V6ONLY, SO_RCVBUF), the signalfd for SIGINT and SIGTERM, and the
//! open-file limit.

use std::io::{self, ErrorKind};
use std::mem::size_of;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use log::{debug, warn};
use mio::net::{TcpListener, TcpStream, UdpSocket};

use crate::relay::RelayConfig;

/// A Unix datagram socket bound at `path` with mode 0600: the umask is
/// 177 while it binds (one thread: nothing else creates files meanwhile).
pub fn bind_private(path: &std::path::Path) -> io::Result<std::os::unix::net::UnixDatagram> {
    // SAFETY: umask only swaps the process's file mode mask.
    let old = unsafe { libc::umask(0o177) };
    let r = std::os::unix::net::UnixDatagram::bind(path);
    // SAFETY: as above, restoring the mask.
    unsafe { libc::umask(old) };
    r
}

/// Makes sure the worst case of relay sockets fits RLIMIT_NOFILE: raises
/// the soft limit when the hard one allows, else refuses to start.
/// `spare` counts the descriptors beyond the relay's. Returns the new
/// limit when it was raised.
pub fn ensure_fd_limit(nat: &RelayConfig, spare: u64) -> Result<Option<u64>, String> {
    let need = nat.max_sockets() as u64 + spare;
    // rlim_t is 32 bits on some routers' ABIs.
    let need_r = libc::rlim_t::try_from(need).unwrap_or(libc::rlim_t::MAX);
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid rlimit for the call to fill.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Ok(None);
    }
    if lim.rlim_cur >= need_r {
        return Ok(None);
    }
    if lim.rlim_max < need_r {
        return Err(format!(
            "--max-calls {} needs {need} file descriptors, but the limit is {} \
             (raise ulimit -n, or lower --max-calls)",
            nat.max_calls, lim.rlim_max
        ));
    }
    lim.rlim_cur = need_r;
    // SAFETY: `lim` is a valid rlimit.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
        return Err(format!(
            "cannot raise the file descriptor limit to {need}: {}",
            io::Error::last_os_error()
        ));
    }
    Ok(Some(need))
}

/// A non-blocking UDP socket bound to `addr`, marked with `dscp`; on error,
/// the step that failed.
pub fn udp_socket(
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

    let r = bind_fd(fd, addr);
    if r != 0 {
        return Err(fail("bind", io::Error::last_os_error()));
    }
    // Already non-blocking (SOCK_NONBLOCK), as mio requires.
    Ok(UdpSocket::from_std(std::net::UdpSocket::from(owned)))
}

/// bind(2) of `fd` to `addr`; the call's return value.
fn bind_fd(fd: RawFd, addr: SocketAddr) -> libc::c_int {
    // SAFETY: `sa` points to a valid sockaddr of `len` bytes for the call.
    with_sockaddr(addr, |sa, len| unsafe { libc::bind(fd, sa, len) })
}

/// connect(2) of `fd` to `addr`; the call's return value.
fn connect_fd(fd: RawFd, addr: SocketAddr) -> libc::c_int {
    // SAFETY: as in `bind_fd`.
    with_sockaddr(addr, |sa, len| unsafe { libc::connect(fd, sa, len) })
}

/// Calls `f` with `addr` as a C sockaddr and its length.
fn with_sockaddr(
    addr: SocketAddr,
    f: impl FnOnce(*const libc::sockaddr, libc::socklen_t) -> libc::c_int,
) -> libc::c_int {
    match addr {
        SocketAddr::V4(a) => {
            let sa = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            f(
                (&raw const sa).cast(),
                size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
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
            f(
                (&raw const sa).cast(),
                size_of::<libc::sockaddr_in6>() as libc::socklen_t,
            )
        }
    }
}

/// A new non-blocking, close-on-exec socket of `addr`'s family.
fn new_socket(addr: SocketAddr, ty: libc::c_int) -> io::Result<OwnedFd> {
    let domain = if addr.is_ipv6() {
        libc::AF_INET6
    } else {
        libc::AF_INET
    };
    // SAFETY: a plain syscall with no pointers.
    let raw = unsafe { libc::socket(domain, ty | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// A leg's TCP listening socket: SO_REUSEADDR (a restart need not wait
/// for TIME_WAIT), IPv6-only on IPv6, DSCP as for UDP.
pub fn tcp_listener(
    addr: SocketAddr,
    freebind: bool,
    dscp: libc::c_int,
    backlog: libc::c_int,
) -> Result<TcpListener, (&'static str, io::Error)> {
    let owned = new_socket(addr, libc::SOCK_STREAM).map_err(|e| ("create a socket", e))?;
    let fd = owned.as_raw_fd();
    set_int(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1).map_err(|e| ("set SO_REUSEADDR", e))?;
    if addr.is_ipv6() {
        set_int(fd, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, 1)
            .map_err(|e| ("set IPV6_V6ONLY", e))?;
    }
    if freebind {
        set_int(fd, libc::IPPROTO_IP, libc::IP_FREEBIND, 1).map_err(|e| ("set IP_FREEBIND", e))?;
    }
    let (level, name) = if addr.is_ipv6() {
        (libc::IPPROTO_IPV6, libc::IPV6_TCLASS)
    } else {
        (libc::IPPROTO_IP, libc::IP_TOS)
    };
    let _ = set_int(fd, level, name, dscp);
    if bind_fd(fd, addr) != 0 {
        return Err(("bind", io::Error::last_os_error()));
    }
    // SAFETY: a plain syscall on a descriptor we own.
    if unsafe { libc::listen(fd, backlog) } != 0 {
        return Err(("listen", io::Error::last_os_error()));
    }
    Ok(TcpListener::from_std(std::net::TcpListener::from(owned)))
}

/// A non-blocking connect from `local` (any port) to `dst`: the stream
/// is writable once connected (or failed, which `take_error` tells).
pub fn tcp_connect(
    local: std::net::IpAddr,
    dst: SocketAddr,
    dscp: libc::c_int,
) -> io::Result<TcpStream> {
    let owned = new_socket(dst, libc::SOCK_STREAM)?;
    let fd = owned.as_raw_fd();
    let (level, name) = if dst.is_ipv6() {
        (libc::IPPROTO_IPV6, libc::IPV6_TCLASS)
    } else {
        (libc::IPPROTO_IP, libc::IP_TOS)
    };
    let _ = set_int(fd, level, name, dscp);
    set_int(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1)?;
    if !local.is_unspecified() && bind_fd(fd, SocketAddr::new(local, 0)) != 0 {
        return Err(io::Error::last_os_error());
    }
    if connect_fd(fd, dst) != 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINPROGRESS) {
            return Err(e);
        }
    }
    Ok(TcpStream::from_std(std::net::TcpStream::from(owned)))
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
pub struct Signals {
    fd: OwnedFd,
}

impl AsRawFd for Signals {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl Signals {
    pub fn new() -> io::Result<Signals> {
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
    pub fn read_stop(&self) -> Option<&'static str> {
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

/// Datagrams read per `recvmmsg`. Each has a whole `MAX_DATAGRAM` buffer;
/// the pages are touched only as far as datagrams fill them.
pub const BATCH: usize = 4;

/// Receive buffers for `recvmmsg`: one call reads up to [`BATCH`]
/// datagrams, and a short batch proves the queue was empty, so the
/// `recvfrom` that would only say EAGAIN is not needed (an edge-triggered
/// socket reports the next arrival again).
pub struct RecvBatch {
    bufs: Box<[u8]>,
    addrs: [libc::sockaddr_storage; BATCH],
    got: [(usize, Option<SocketAddr>); BATCH],
    count: usize,
}

impl RecvBatch {
    pub fn new() -> RecvBatch {
        RecvBatch {
            bufs: vec![0; BATCH * crate::limits::MAX_DATAGRAM].into_boxed_slice(),
            // SAFETY: sockaddr_storage is plain data; all zeroes is valid.
            addrs: unsafe { std::mem::zeroed() },
            got: [(0, None); BATCH],
            count: 0,
        }
    }

    /// The first buffer, for sockets read one datagram at a time.
    pub fn buf(&mut self) -> &mut [u8] {
        let n = crate::limits::MAX_DATAGRAM.min(self.bufs.len());
        self.bufs.get_mut(..n).unwrap_or_default()
    }

    /// Reads what `fd` has, up to [`BATCH`] datagrams: how many. Fewer than
    /// [`BATCH`] means the queue is empty now; none is `WouldBlock`.
    pub fn recv(&mut self, fd: RawFd) -> io::Result<usize> {
        let size = crate::limits::MAX_DATAGRAM;
        // SAFETY: iovec and mmsghdr are plain data; all zeroes is valid.
        let mut iov: [libc::iovec; BATCH] = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        let mut hdrs: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
        for (i, ((v, h), a)) in iov
            .iter_mut()
            .zip(hdrs.iter_mut())
            .zip(self.addrs.iter_mut())
            .enumerate()
        {
            let Some(buf) = self.bufs.get_mut(i * size..(i + 1) * size) else {
                return Err(io::Error::from(ErrorKind::InvalidInput));
            };
            v.iov_base = buf.as_mut_ptr().cast();
            v.iov_len = buf.len();
            h.msg_hdr.msg_name = (a as *mut libc::sockaddr_storage).cast();
            h.msg_hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_hdr.msg_iov = v;
            h.msg_hdr.msg_iovlen = 1;
        }
        // SAFETY: every header points at its own iovec and address, and
        // every iovec at its own `size` bytes of `bufs`; all outlive the
        // call, and the kernel writes no more than the lengths given.
        let r = unsafe {
            libc::recvmmsg(
                fd,
                hdrs.as_mut_ptr(),
                BATCH as libc::c_uint,
                libc::MSG_DONTWAIT as _,
                std::ptr::null_mut(),
            )
        };
        if r < 0 {
            self.count = 0;
            return Err(io::Error::last_os_error());
        }
        let n = (r as usize).min(BATCH);
        for ((g, h), a) in self.got.iter_mut().zip(&hdrs).zip(&self.addrs).take(n) {
            *g = ((h.msg_len as usize).min(size), socket_addr(a));
        }
        self.count = n;
        Ok(n)
    }

    /// Datagram `i` of the last batch and where it came from; `None` for a
    /// source that is not IPv4 or IPv6.
    pub fn get(&self, i: usize) -> Option<(SocketAddr, &[u8])> {
        let (len, src) = *self.got.get(i).filter(|_| i < self.count)?;
        let start = i * crate::limits::MAX_DATAGRAM;
        Some((src?, self.bufs.get(start..start + len)?))
    }
}

/// The address the kernel wrote into `a`.
fn socket_addr(a: &libc::sockaddr_storage) -> Option<SocketAddr> {
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};
    match libc::c_int::from(a.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says it holds a sockaddr_in, which is
            // smaller than sockaddr_storage and less strictly aligned.
            let s = unsafe { &*(a as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            let ip = Ipv4Addr::from(u32::from_be(s.sin_addr.s_addr));
            Some(SocketAddr::V4(SocketAddrV4::new(
                ip,
                u16::from_be(s.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: as above, for sockaddr_in6.
            let s = unsafe { &*(a as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            let ip = Ipv6Addr::from(s.sin6_addr.s6_addr);
            Some(SocketAddr::V6(SocketAddrV6::new(
                ip,
                u16::from_be(s.sin6_port),
                s.sin6_flowinfo,
                s.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// The daemon's allocator: blocks of a page or more come straight from
/// `mmap` (and go back with `munmap`), everything smaller from the system
/// allocator. The tables are allocated once at start-up and zeroed; fresh
/// anonymous pages are zero already and cost no memory until touched, so a
/// table of 64 calls or a connection's buffers stay out of RSS until used.
/// musl's `calloc` clears such blocks itself (touching every page); glibc
/// does the same for blocks it reuses. Nothing allocates once the loop
/// runs, so the system calls here happen at start-up only.
pub struct PageAlloc;

const PAGE: usize = 4096;

fn by_pages(l: std::alloc::Layout) -> bool {
    l.size() >= PAGE && l.align() <= PAGE
}

// SAFETY: large blocks are page-aligned anonymous mappings of at least the
// layout's size, unmapped with the same size; the rest is the system
// allocator's, under the caller's contract.
unsafe impl std::alloc::GlobalAlloc for PageAlloc {
    unsafe fn alloc(&self, l: std::alloc::Layout) -> *mut u8 {
        if !by_pages(l) {
            // SAFETY: the caller's contract.
            return unsafe { std::alloc::System.alloc(l) };
        }
        // SAFETY: a new private anonymous mapping; no pointer is passed in.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                l.size(),
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            std::ptr::null_mut()
        } else {
            p.cast()
        }
    }

    unsafe fn alloc_zeroed(&self, l: std::alloc::Layout) -> *mut u8 {
        if by_pages(l) {
            // SAFETY: as above; anonymous mappings are zero-filled.
            unsafe { self.alloc(l) }
        } else {
            // SAFETY: the caller's contract.
            unsafe { std::alloc::System.alloc_zeroed(l) }
        }
    }

    unsafe fn dealloc(&self, p: *mut u8, l: std::alloc::Layout) {
        if by_pages(l) {
            // SAFETY: `p` came from our mmap of `l.size()` bytes.
            unsafe {
                libc::munmap(p.cast(), l.size());
            }
        } else {
            // SAFETY: the caller's contract.
            unsafe { std::alloc::System.dealloc(p, l) }
        }
    }
}
