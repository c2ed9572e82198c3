//! TEMPORARY stub of the proxy core's API, so the daemon shell builds and
//! runs; the real sans-IO core replaces this file. It forwards nothing.

use crate::config::Config;
use crate::time::Instant;
use std::net::SocketAddr;

/// One datagram to send; the bytes are `out[..len]` of the buffer given to
/// [`Proxy::handle`].
pub struct Transmit {
    pub leg: usize,
    pub dst: SocketAddr,
    pub len: usize,
}

pub struct Proxy {
    _legs: usize,
}

impl Proxy {
    pub fn new(cfg: &Config, secret: &[u8]) -> Result<Proxy, String> {
        let _ = secret;
        Ok(Proxy {
            _legs: cfg.legs.len(),
        })
    }

    /// One datagram in; at most one datagram out (written into `out`).
    pub fn handle(
        &mut self,
        now: Instant,
        leg: usize,
        src: SocketAddr,
        data: &[u8],
        out: &mut [u8],
    ) -> Option<Transmit> {
        let _ = (now, leg, src, data, out);
        None
    }

    /// When the core next needs `handle_timeout`; None = never.
    pub fn poll_timeout(&self) -> Option<Instant> {
        None
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        let _ = now;
    }
}
