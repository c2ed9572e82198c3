//! Requests waiting for DNS: a copy of each datagram in a fixed slot, with
//! its leg and source, until its lookup finishes.

use crate::dns::Ticket;
use std::net::SocketAddr;

use crate::limits::PARK_SLOT;

#[derive(Clone, Copy)]
struct Slot {
    ticket: Option<Ticket>,
    leg: usize,
    src: SocketAddr,
    len: usize,
}

pub struct Parked {
    slots: Vec<Slot>,
    /// `slots.len()` areas of [`PARK_SLOT`] bytes; untouched pages of a
    /// zeroed allocation cost no memory until used.
    data: Vec<u8>,
}

impl Parked {
    pub fn new(n: usize) -> Parked {
        let empty = Slot {
            ticket: None,
            leg: 0,
            src: SocketAddr::from(([0, 0, 0, 0], 0)),
            len: 0,
        };
        Parked {
            slots: vec![empty; n],
            data: vec![0; n * PARK_SLOT],
        }
    }

    fn bytes(&self, i: usize) -> &[u8] {
        &self.data[i * PARK_SLOT..i * PARK_SLOT + self.slots[i].len]
    }

    /// A retransmission of a request that is already waiting.
    pub fn holds(&self, src: SocketAddr, bytes: &[u8]) -> bool {
        (0..self.slots.len()).any(|i| {
            self.slots[i].ticket.is_some() && self.slots[i].src == src && self.bytes(i) == bytes
        })
    }

    /// Keeps `bytes` until `ticket` finishes; false when full or too big.
    pub fn park(&mut self, ticket: Ticket, leg: usize, src: SocketAddr, bytes: &[u8]) -> bool {
        if bytes.len() > PARK_SLOT {
            return false;
        }
        let Some(i) = self.slots.iter().position(|s| s.ticket.is_none()) else {
            return false;
        };
        self.data[i * PARK_SLOT..i * PARK_SLOT + bytes.len()].copy_from_slice(bytes);
        self.slots[i] = Slot {
            ticket: Some(ticket),
            leg,
            src,
            len: bytes.len(),
        };
        true
    }

    /// Takes the request waiting for `ticket`, copying it into `buf`.
    pub fn take(&mut self, ticket: Ticket, buf: &mut [u8]) -> Option<(usize, SocketAddr, usize)> {
        let i = self.slots.iter().position(|s| s.ticket == Some(ticket))?;
        let s = self.slots[i];
        buf.get_mut(..s.len)?.copy_from_slice(self.bytes(i));
        self.slots[i].ticket = None;
        Some((s.leg, s.src, s.len))
    }
}
