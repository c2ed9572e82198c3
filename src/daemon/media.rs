//! The relay's sockets: one UDP socket per relay port, bound when the core
//! takes a pair and closed when it frees it, so an idle router holds no
//! media sockets. Slots are preallocated for every (leg, pair, port).

use super::sys::{udp_socket, RecvBatch, BATCH};
use super::QUOTA;
use crate::output::{Socket, Transmit};
use crate::relay::RelaySockets;
use log::warn;
use mio::net::UdpSocket;
use mio::{Interest, Registry, Token};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;

/// DSCP EF (expedited forwarding) for relayed RTP, as a TOS byte.
const DSCP_EF: libc::c_int = 0xb8;
/// Media needs no deep queue; the default buffer is enough.
const RCVBUF: libc::c_int = 0;

pub struct MediaSockets {
    /// `None` without `--nat`: there are no slots, and nothing opens.
    registry: Option<Registry>,
    /// First token of the media sockets; slot `i` has `Token(base + i)`.
    base: usize,
    port_lo: u16,
    pairs: u16,
    bind_ips: Vec<IpAddr>,
    freebind: Vec<bool>,
    socks: Vec<Option<UdpSocket>>,
    /// Sockets that may have datagrams waiting, and the flags behind it.
    ready: Vec<usize>,
    queued: Vec<bool>,
}

impl MediaSockets {
    pub fn new(
        registry: Registry,
        base: usize,
        port_lo: u16,
        pairs: u16,
        legs: &[(IpAddr, bool)],
    ) -> MediaSockets {
        let n = legs.len() * usize::from(pairs) * 2;
        MediaSockets {
            registry: Some(registry),
            base,
            port_lo,
            pairs,
            bind_ips: legs.iter().map(|l| l.0).collect(),
            freebind: legs.iter().map(|l| l.1).collect(),
            socks: (0..n).map(|_| None).collect(),
            ready: Vec::with_capacity(n),
            queued: vec![false; n],
        }
    }

    /// No relay sockets: a daemon without `--nat`.
    pub fn none() -> MediaSockets {
        MediaSockets {
            registry: None,
            base: 0,
            port_lo: 0,
            pairs: 0,
            bind_ips: Vec::new(),
            freebind: Vec::new(),
            socks: Vec::new(),
            ready: Vec::new(),
            queued: Vec::new(),
        }
    }

    fn index(&self, leg: usize, pair: u16, odd: bool) -> usize {
        (leg * usize::from(self.pairs) + usize::from(pair)) * 2 + usize::from(odd)
    }

    fn decode(&self, i: usize) -> (usize, u16, bool) {
        let p = usize::from(self.pairs);
        (i / 2 / p, ((i / 2) % p) as u16, i % 2 == 1)
    }

    /// The socket slot behind a token, if it is one of ours.
    pub fn slot_of(&self, t: Token) -> Option<usize> {
        t.0.checked_sub(self.base).filter(|i| *i < self.socks.len())
    }

    pub fn mark_ready(&mut self, i: usize) {
        if !self.queued[i] {
            self.queued[i] = true;
            // Within the capacity reserved in `new`: no allocation.
            self.ready.push(i);
        }
    }

    pub fn any_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    /// Reads every ready socket up to the quota, [`BATCH`] packets per
    /// system call, relaying through `relay`. Sockets with more waiting
    /// stay in the ready list.
    pub fn drain(
        &mut self,
        rx: &mut RecvBatch,
        mut relay: impl FnMut(usize, u16, bool, SocketAddr, &[u8]) -> Option<Transmit>,
        mut warn_limited: impl FnMut(&dyn std::fmt::Display),
    ) {
        let mut k = 0;
        while k < self.ready.len() {
            let i = self.ready[k];
            let (leg, pair, odd) = self.decode(i);
            let mut read = 0;
            while read < QUOTA {
                let Some(sock) = self.socks[i].as_ref() else {
                    break;
                };
                match rx.recv(sock.as_raw_fd()) {
                    Ok(n) => {
                        for pkt in 0..n {
                            let Some((src, data)) = rx.get(pkt) else {
                                continue;
                            };
                            let Some(Transmit {
                                socket:
                                    Socket::Relay {
                                        leg: l,
                                        pair: p,
                                        odd: o,
                                    },
                                dst,
                                len,
                            }) = relay(leg, pair, odd, src, data)
                            else {
                                continue;
                            };
                            let j = self.index(l, p, o);
                            if let (Some(Some(out)), Some(bytes)) =
                                (self.socks.get(j), data.get(..len))
                            {
                                if let Err(e) = out.send_to(bytes, dst) {
                                    warn_limited(&format_args!("relay send to {dst} failed: {e}"));
                                }
                            }
                        }
                        // A short batch: the queue is empty.
                        if n < BATCH {
                            break;
                        }
                        read += n;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        read += 1;
                        warn_limited(&format_args!("relay receive failed: {e}"));
                    }
                }
            }
            let more = read >= QUOTA;
            if more && self.socks[i].is_some() {
                k += 1;
            } else {
                self.queued[i] = false;
                self.ready.swap_remove(k);
            }
        }
    }
}

impl RelaySockets for MediaSockets {
    fn open(&mut self, leg: usize, pair: u16) -> bool {
        let (Some(&ip), Some(registry)) = (self.bind_ips.get(leg), self.registry.as_ref()) else {
            return false;
        };
        let port = self.port_lo + 2 * pair;
        let mut opened: [Option<UdpSocket>; 2] = [None, None];
        for (odd, slot) in opened.iter_mut().enumerate() {
            let addr = SocketAddr::new(ip, port + odd as u16);
            match udp_socket(addr, self.freebind[leg], DSCP_EF, RCVBUF) {
                Ok(s) => *slot = Some(s),
                // In use by someone else: the core tries the next pair.
                Err(_) => return false,
            }
        }
        for (odd, s) in opened.into_iter().enumerate() {
            let i = self.index(leg, pair, odd == 1);
            let Some(mut s) = s else { return false };
            if let Err(e) = registry.register(&mut s, Token(self.base + i), Interest::READABLE) {
                warn!("cannot watch relay port {}: {e}", port + odd as u16);
                self.close(leg, pair);
                return false;
            }
            self.socks[i] = Some(s);
        }
        true
    }

    fn close(&mut self, leg: usize, pair: u16) {
        for odd in [false, true] {
            let i = self.index(leg, pair, odd);
            if let (Some(mut s), Some(r)) = (
                self.socks.get_mut(i).and_then(Option::take),
                self.registry.as_ref(),
            ) {
                let _ = r.deregister(&mut s);
            }
        }
    }
}
