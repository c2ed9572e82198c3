//! floor: edgesip's event loop with the SIP work taken out. The same shape
//! as src/daemon: one thread, one mio `Poll` (edge-triggered), buffers
//! allocated once, up to 64 datagrams per socket per turn, one `recv_from`
//! and one `send_to` per datagram, a 256 KiB receive buffer on the SIP
//! socket. What it does with a datagram is a table lookup: it relays between
//! fixed peers.
//!
//! SIP mode (`--listen`): one socket; a datagram from peer X goes to its
//! partner, with pairs UAC_BASE+i <-> UAS_BASE+i given by `--pairs`. The
//! load generator's call flows run through it unchanged (it needs no
//! Record-Route or Via).
//!
//! Media mode (`--media N`): 2N sockets like the relay's, A_i on
//! `--media-a` base + 2i and B_i on `--media-b` base + 2i; a packet on A_i
//! leaves B_i for `--peer-b`, a packet on B_i leaves A_i for `--peer-a`.
//!
//! `--blocking` (SIP mode only): the physical floor, with no event loop at
//! all: a blocking `recv_from` and a `send_to` per datagram on the one
//! socket. What is left is the kernel's cost of a datagram in and out.
//!
//! Stops on SIGTERM/SIGINT (default action).

#[path = "../tools/mod.rs"]
mod tools;

use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::{SocketAddr, SocketAddrV4};
use std::os::fd::{AsRawFd, FromRawFd};

use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token};
use tools::args::Args;

const USAGE: &str = "\
floor: a recv+send forwarder between fixed peers, on edgesip's loop shape

  --listen IP:PORT       the SIP socket
  --pairs A_IP:A_PORT,B_IP:B_PORT,N
                         peers A_PORT+i <-> B_PORT+i for i < N (repeatable)
  --media N              N relay socket pairs
  --media-a IP:PORT      first A-side socket (ports step by 2)
  --media-b IP:PORT      first B-side socket
  --peer-a IP:PORT       where packets arriving on B sockets go
  --peer-b IP:PORT       where packets arriving on A sockets go
  --blocking             SIP mode without mio: blocking recv_from + send_to
";

const QUOTA: usize = 64;
const BUF_LEN: usize = 65_535;
const EVENTS: usize = 64;
const RCVBUF: libc::c_int = 256 * 1024;

fn bind(addr: SocketAddrV4, rcvbuf: libc::c_int) -> UdpSocket {
    UdpSocket::from_std(bind_std(addr, rcvbuf))
}

fn bind_std(addr: SocketAddrV4, rcvbuf: libc::c_int) -> std::net::UdpSocket {
    let s = tools::net::Udp::bind(addr, 0).unwrap_or_else(|e| {
        eprintln!("floor: bind {addr}: {e}");
        std::process::exit(2)
    });
    if rcvbuf > 0 {
        // SAFETY: `v` outlives the call; the length is its size.
        unsafe {
            libc::setsockopt(
                s.fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                (&raw const rcvbuf).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }
    // Hand the descriptor to std's socket.
    let fd = s.fd();
    std::mem::forget(s);
    // SAFETY: `fd` is a bound, non-blocking UDP socket that we now own.
    unsafe { std::net::UdpSocket::from_raw_fd(fd) }
}

/// The physical floor: no readiness, no batching, nothing but the two calls.
fn blocking(listen: SocketAddrV4, pairs: &HashMap<SocketAddr, SocketAddr>) -> ! {
    let s = bind_std(listen, RCVBUF);
    s.set_nonblocking(false).expect("blocking socket");
    eprintln!("floor: blocking on {listen}");
    let mut rx = vec![0u8; BUF_LEN].into_boxed_slice();
    loop {
        let (n, src) = match s.recv_from(&mut rx) {
            Ok(r) => r,
            Err(_) => continue,
        };
        if let Some(dst) = pairs.get(&src) {
            let _ = s.send_to(&rx[..n], dst);
        }
    }
}

fn main() {
    let a = Args::parse("floor", USAGE, &["blocking"]);
    let mut socks: Vec<UdpSocket> = Vec::new();
    // Per socket: a fixed (out socket, destination), or the pair table.
    let mut route: Vec<Option<(usize, SocketAddr)>> = Vec::new();
    let mut pairs: HashMap<SocketAddr, SocketAddr> = HashMap::new();

    if let Some(listen) = a.opt::<SocketAddrV4>("listen") {
        if !a.flag("blocking") {
            socks.push(bind(listen, RCVBUF));
            route.push(None);
        }
        for p in a.all("pairs") {
            let f: Vec<&str> = p.split(',').collect();
            if f.len() != 3 {
                a.die(&format!("bad --pairs {p}"));
            }
            let x: SocketAddrV4 = f[0].parse().unwrap_or_else(|_| a.die("bad --pairs"));
            let y: SocketAddrV4 = f[1].parse().unwrap_or_else(|_| a.die("bad --pairs"));
            let n: u16 = f[2].parse().unwrap_or_else(|_| a.die("bad --pairs"));
            for i in 0..n {
                let xi = SocketAddr::V4(SocketAddrV4::new(*x.ip(), x.port() + i));
                let yi = SocketAddr::V4(SocketAddrV4::new(*y.ip(), y.port() + i));
                pairs.insert(xi, yi);
                pairs.insert(yi, xi);
            }
        }
    }
    if a.flag("blocking") {
        match a.opt::<SocketAddrV4>("listen") {
            Some(listen) => blocking(listen, &pairs),
            None => a.die("--blocking needs --listen"),
        }
    }
    let media: usize = a.get("media", 0);
    if media > 0 {
        let ma: SocketAddrV4 = a.req("media-a");
        let mb: SocketAddrV4 = a.req("media-b");
        let pa: SocketAddrV4 = a.req("peer-a");
        let pb: SocketAddrV4 = a.req("peer-b");
        for i in 0..media {
            let base = socks.len();
            let off = 2 * i as u16;
            socks.push(bind(SocketAddrV4::new(*ma.ip(), ma.port() + off), 0));
            socks.push(bind(SocketAddrV4::new(*mb.ip(), mb.port() + off), 0));
            route.push(Some((base + 1, SocketAddr::V4(pb))));
            route.push(Some((base, SocketAddr::V4(pa))));
        }
    }
    if socks.is_empty() {
        a.die("nothing to do: give --listen or --media");
    }

    let mut poll = Poll::new().expect("poll");
    for (i, s) in socks.iter_mut().enumerate() {
        poll.registry()
            .register(s, Token(i), Interest::READABLE)
            .expect("register");
    }
    eprintln!(
        "floor: listening on {} sockets (first {})",
        socks.len(),
        socks[0]
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default()
    );
    let mut events = Events::with_capacity(EVENTS);
    let mut rx = vec![0u8; BUF_LEN].into_boxed_slice();
    let mut ready = vec![false; socks.len()];
    let mut ready_list: Vec<usize> = Vec::with_capacity(socks.len());
    let (mut relayed, mut dropped) = (0u64, 0u64);
    loop {
        let timeout = if ready_list.is_empty() {
            None
        } else {
            Some(std::time::Duration::ZERO)
        };
        match poll.poll(&mut events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => panic!("poll: {e}"),
        }
        for ev in events.iter() {
            let i = ev.token().0;
            if !ready[i] {
                ready[i] = true;
                ready_list.push(i);
            }
        }
        // One turn: every ready socket up to its quota.
        let mut k = 0;
        while k < ready_list.len() {
            let i = ready_list[k];
            let mut more = true;
            for _ in 0..QUOTA {
                match socks[i].recv_from(&mut rx) {
                    Ok((n, src)) => {
                        let (out, dst) = match route[i] {
                            Some(r) => r,
                            None => match pairs.get(&src) {
                                Some(d) => (i, *d),
                                None => {
                                    dropped += 1;
                                    continue;
                                }
                            },
                        };
                        loop {
                            match socks[out].send_to(&rx[..n], dst) {
                                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                                _ => break,
                            }
                        }
                        relayed += 1;
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        more = false;
                        break;
                    }
                    Err(_) => {}
                }
            }
            if more {
                k += 1;
            } else {
                ready[i] = false;
                ready_list.swap_remove(k);
            }
        }
        let _ = (relayed, dropped, socks[0].as_raw_fd());
    }
}
