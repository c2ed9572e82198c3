//! IPv4 UDP sockets with batched I/O (recvmmsg/sendmmsg) and a
//! level-triggered epoll with nanosecond timeouts (epoll_pwait2).

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// Largest datagram the batch buffers hold.
pub const SLOT: usize = 4096;
/// Datagrams per recvmmsg/sendmmsg call.
pub const BATCH: usize = 64;

pub fn to_sockaddr(a: SocketAddrV4) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: a.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from_ne_bytes(a.ip().octets()),
        },
        sin_zero: [0; 8],
    }
}

pub fn from_sockaddr(sa: &libc::sockaddr_in) -> SocketAddrV4 {
    SocketAddrV4::new(
        Ipv4Addr::from(sa.sin_addr.s_addr.to_ne_bytes()),
        u16::from_be(sa.sin_port),
    )
}

fn setopt(fd: RawFd, level: libc::c_int, name: libc::c_int, v: libc::c_int) -> bool {
    // SAFETY: `v` outlives the call; the length is its size.
    unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&raw const v).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        ) == 0
    }
}

/// A non-blocking UDP socket bound to `addr` (port 0: any), with `buf`
/// bytes of send and receive buffer asked for (0: the defaults).
pub struct Udp {
    fd: OwnedFd,
    pub addr: SocketAddrV4,
}

impl Udp {
    pub fn bind(addr: SocketAddrV4, buf: i32) -> io::Result<Udp> {
        // SAFETY: plain syscall.
        let raw = unsafe {
            libc::socket(
                libc::AF_INET,
                libc::SOCK_DGRAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                0,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a new descriptor nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        if buf > 0 {
            // Past net.core.rmem_max/wmem_max when root (the *FORCE
            // options), else up to them.
            if !setopt(raw, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, buf) {
                setopt(raw, libc::SOL_SOCKET, libc::SO_RCVBUF, buf);
            }
            if !setopt(raw, libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, buf) {
                setopt(raw, libc::SOL_SOCKET, libc::SO_SNDBUF, buf);
            }
        }
        let sa = to_sockaddr(addr);
        // SAFETY: `sa` is a valid sockaddr_in of the given length.
        let r = unsafe {
            libc::bind(
                raw,
                (&raw const sa).cast(),
                size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
        let mut out: libc::sockaddr_in = unsafe { zeroed() };
        let mut len = size_of::<libc::sockaddr_in>() as libc::socklen_t;
        // SAFETY: `out` is writable for `len` bytes.
        unsafe { libc::getsockname(raw, (&raw mut out).cast(), &mut len) };
        Ok(Udp {
            fd,
            addr: from_sockaddr(&out),
        })
    }

    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// One datagram; false if it could not be sent now.
    pub fn send_to(&self, data: &[u8], dst: SocketAddrV4) -> bool {
        let sa = to_sockaddr(dst);
        // SAFETY: `data` and `sa` are valid for the lengths given.
        let n = unsafe {
            libc::sendto(
                self.fd(),
                data.as_ptr().cast(),
                data.len(),
                0,
                (&raw const sa).cast(),
                size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        };
        n >= 0
    }

    /// One datagram if one is waiting.
    pub fn recv_from(&self, buf: &mut [u8]) -> Option<(usize, SocketAddrV4)> {
        let mut sa: libc::sockaddr_in = unsafe { zeroed() };
        let mut len = size_of::<libc::sockaddr_in>() as libc::socklen_t;
        // SAFETY: `buf` and `sa` are writable for the lengths given.
        let n = unsafe {
            libc::recvfrom(
                self.fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                0,
                (&raw mut sa).cast(),
                &mut len,
            )
        };
        if n < 0 {
            return None;
        }
        Some((n as usize, from_sockaddr(&sa)))
    }
}

/// Receive side of batched I/O: up to [`BATCH`] datagrams per call.
pub struct RxBatch {
    bufs: Vec<u8>,
    addrs: Vec<libc::sockaddr_in>,
    iov: Vec<libc::iovec>,
    hdrs: Vec<libc::mmsghdr>,
    pub n: usize,
}

impl Default for RxBatch {
    fn default() -> Self {
        Self::new()
    }
}

impl RxBatch {
    pub fn new() -> RxBatch {
        RxBatch {
            bufs: vec![0; SLOT * BATCH],
            addrs: vec![unsafe { zeroed() }; BATCH],
            iov: vec![
                libc::iovec {
                    iov_base: std::ptr::null_mut(),
                    iov_len: 0
                };
                BATCH
            ],
            hdrs: vec![unsafe { zeroed() }; BATCH],
            n: 0,
        }
    }

    /// Reads what is waiting on `sock` (up to a batch); the count.
    pub fn recv(&mut self, sock: &Udp) -> usize {
        for i in 0..BATCH {
            self.iov[i] = libc::iovec {
                iov_base: self.bufs[i * SLOT..].as_mut_ptr().cast(),
                iov_len: SLOT,
            };
            let h = &mut self.hdrs[i].msg_hdr;
            h.msg_name = (&raw mut self.addrs[i]).cast();
            h.msg_namelen = size_of::<libc::sockaddr_in>() as libc::socklen_t;
            h.msg_iov = &raw mut self.iov[i];
            h.msg_iovlen = 1;
            h.msg_control = std::ptr::null_mut();
            h.msg_controllen = 0;
            h.msg_flags = 0;
            self.hdrs[i].msg_len = 0;
        }
        // SAFETY: every header points at live buffers of the stated sizes.
        let r = unsafe {
            libc::recvmmsg(
                sock.fd(),
                self.hdrs.as_mut_ptr(),
                BATCH as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        self.n = if r > 0 { r as usize } else { 0 };
        self.n
    }

    /// Datagram `i` of the last batch and its source.
    pub fn get(&self, i: usize) -> (&[u8], SocketAddrV4) {
        let len = self.hdrs[i].msg_len as usize;
        (
            &self.bufs[i * SLOT..i * SLOT + len.min(SLOT)],
            from_sockaddr(&self.addrs[i]),
        )
    }
}

/// A queue of datagrams for one socket, sent with sendmmsg.
pub struct TxQueue {
    data: Vec<u8>,
    msgs: Vec<(usize, usize, SocketAddrV4)>,
    addrs: Vec<libc::sockaddr_in>,
    iov: Vec<libc::iovec>,
    hdrs: Vec<libc::mmsghdr>,
    /// Datagrams the kernel refused (other than EAGAIN, which retries).
    pub errors: u64,
}

impl Default for TxQueue {
    fn default() -> Self {
        Self::new()
    }
}

impl TxQueue {
    pub fn new() -> TxQueue {
        TxQueue {
            data: Vec::with_capacity(1 << 16),
            msgs: Vec::with_capacity(256),
            addrs: vec![unsafe { zeroed() }; BATCH],
            iov: vec![
                libc::iovec {
                    iov_base: std::ptr::null_mut(),
                    iov_len: 0
                };
                BATCH
            ],
            hdrs: vec![unsafe { zeroed() }; BATCH],
            errors: 0,
        }
    }

    pub fn push(&mut self, bytes: &[u8], dst: SocketAddrV4) {
        let off = self.data.len();
        self.data.extend_from_slice(bytes);
        self.msgs.push((off, bytes.len(), dst));
    }

    pub fn len(&self) -> usize {
        self.msgs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.msgs.is_empty()
    }

    /// Sends what is queued; leaves what the kernel would not take now.
    /// Returns the number sent.
    pub fn flush(&mut self, sock: &Udp) -> usize {
        let mut done = 0;
        while done < self.msgs.len() {
            let n = (self.msgs.len() - done).min(BATCH);
            for i in 0..n {
                let (off, len, dst) = self.msgs[done + i];
                self.addrs[i] = to_sockaddr(dst);
                self.iov[i] = libc::iovec {
                    iov_base: self.data[off..].as_mut_ptr().cast(),
                    iov_len: len,
                };
                let h = &mut self.hdrs[i].msg_hdr;
                h.msg_name = (&raw mut self.addrs[i]).cast();
                h.msg_namelen = size_of::<libc::sockaddr_in>() as libc::socklen_t;
                h.msg_iov = &raw mut self.iov[i];
                h.msg_iovlen = 1;
                h.msg_control = std::ptr::null_mut();
                h.msg_controllen = 0;
                h.msg_flags = 0;
            }
            // SAFETY: headers point at live buffers of the stated sizes.
            let r =
                unsafe { libc::sendmmsg(sock.fd(), self.hdrs.as_mut_ptr(), n as libc::c_uint, 0) };
            if r < 0 {
                let e = io::Error::last_os_error();
                match e.raw_os_error() {
                    Some(libc::EAGAIN) | Some(libc::ENOBUFS) => break,
                    Some(libc::EINTR) => continue,
                    // E.g. ECONNREFUSED from an earlier ICMP: drop that one.
                    _ => {
                        self.errors += 1;
                        done += 1;
                        continue;
                    }
                }
            }
            done += r as usize;
            if (r as usize) < n {
                break;
            }
        }
        if done == self.msgs.len() {
            self.msgs.clear();
            self.data.clear();
        } else if done > 0 {
            self.msgs.drain(..done);
        }
        done
    }
}

/// A level-triggered epoll set of read interests.
pub struct Epoll {
    fd: OwnedFd,
    events: Vec<libc::epoll_event>,
}

impl Epoll {
    pub fn new() -> io::Result<Epoll> {
        // SAFETY: plain syscall.
        let raw = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Epoll {
            // SAFETY: a new descriptor.
            fd: unsafe { OwnedFd::from_raw_fd(raw) },
            events: vec![libc::epoll_event { events: 0, u64: 0 }; 256],
        })
    }

    pub fn add(&self, fd: RawFd, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: token,
        };
        // SAFETY: `ev` is valid for the call.
        if unsafe { libc::epoll_ctl(self.fd.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Waits up to `timeout` (nanosecond precision); the ready tokens.
    pub fn wait(&mut self, timeout: Duration, out: &mut Vec<u64>) {
        out.clear();
        let ts = libc::timespec {
            tv_sec: timeout.as_secs() as libc::time_t,
            tv_nsec: timeout.subsec_nanos() as libc::c_long,
        };
        // SAFETY: the event array is writable for its length; `ts` lives
        // through the call; no signal mask.
        let n = unsafe {
            libc::syscall(
                libc::SYS_epoll_pwait2,
                self.fd.as_raw_fd(),
                self.events.as_mut_ptr(),
                self.events.len() as libc::c_int,
                &ts as *const libc::timespec,
                std::ptr::null::<libc::sigset_t>(),
                0usize,
            )
        };
        for ev in self.events.iter().take(n.max(0) as usize) {
            out.push(ev.u64);
        }
    }
}

/// `IP:PORT`, or a die message.
pub fn parse_v4(s: &str) -> SocketAddrV4 {
    s.parse()
        .unwrap_or_else(|_| panic!("not an IPv4 address and port: {s}"))
}
