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

    fn bytes(&self, i: usize) -> Option<&[u8]> {
        let len = self.slots.get(i)?.len;
        self.data.get(i * PARK_SLOT..i * PARK_SLOT + len)
    }

    /// A retransmission of a request that is already waiting.
    pub fn holds(&self, src: SocketAddr, bytes: &[u8]) -> bool {
        self.slots
            .iter()
            .enumerate()
            .any(|(i, s)| s.ticket.is_some() && s.src == src && self.bytes(i) == Some(bytes))
    }

    /// Keeps `bytes` until `ticket` finishes; false when full or too big.
    pub fn park(&mut self, ticket: Ticket, leg: usize, src: SocketAddr, bytes: &[u8]) -> bool {
        if bytes.len() > PARK_SLOT {
            return false;
        }
        let Some((i, slot)) = self
            .slots
            .iter_mut()
            .enumerate()
            .find(|(_, s)| s.ticket.is_none())
        else {
            return false;
        };
        let Some(dst) = self
            .data
            .get_mut(i * PARK_SLOT..i * PARK_SLOT + bytes.len())
        else {
            return false;
        };
        dst.copy_from_slice(bytes);
        *slot = Slot {
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
        let data = self.bytes(i)?;
        buf.get_mut(..data.len())?.copy_from_slice(data);
        let s = self.slots.get_mut(i)?;
        s.ticket = None;
        Some((s.leg, s.src, s.len))
    }
}
