//! Registrations that phones made through us with a provider, learnt from
//! the 200 OKs to REGISTER that pass: so a person sees that the phone did
//! register, even when the registrar is not ours. A fixed table; the
//! oldest entry makes room.

use crate::limits::MAX_AOR;
use crate::sip::{HeaderName, Message};
use crate::time::Instant;
use core::time::Duration;
use std::net::SocketAddr;

/// Registrations remembered at once.
pub const SLOTS: usize = 32;

/// One AoR registered with one provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    pub aor: heapless::Vec<u8, MAX_AOR>,
    /// Where the 200 OK came from.
    pub provider: SocketAddr,
    pub expires: Instant,
    seen: Instant,
}

pub struct Registrations {
    slots: [Option<Registration>; SLOTS],
}

impl Default for Registrations {
    fn default() -> Registrations {
        Registrations {
            slots: core::array::from_fn(|_| None),
        }
    }
}

impl Registrations {
    /// A 200 OK to a REGISTER from `provider`, on its way to the phone.
    pub fn note(&mut self, now: Instant, provider: SocketAddr, m: &Message) {
        let Some(to) = m.to() else { return };
        let Ok(aor) = heapless::Vec::from_slice(to.uri.raw) else {
            return;
        };
        // The longest expiry the registrar granted; none left: gone.
        let header = m.expires();
        let secs = m
            .addrs(HeaderName::Contact)
            .filter_map(|(_, c)| c.expires().or(header))
            .max()
            .unwrap_or(0);
        let at = self.slots.iter().position(|s| {
            s.as_ref()
                .is_some_and(|r| r.aor == aor && r.provider == provider)
        });
        if secs == 0 {
            if let Some(s) = at.and_then(|i| self.slots.get_mut(i)) {
                *s = None;
            }
            return;
        }
        let slot = at
            .or_else(|| self.slots.iter().position(Option::is_none))
            .or_else(|| {
                self.slots
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, s)| s.as_ref().map(|r| r.seen))
                    .map(|(i, _)| i)
            });
        if let Some(s) = slot.and_then(|i| self.slots.get_mut(i)) {
            *s = Some(Registration {
                aor,
                provider,
                expires: now + Duration::from_secs(u64::from(secs)),
                seen: now,
            });
        }
    }

    /// The registrations not yet expired, for `edgesip status`.
    pub fn live(&self, now: Instant) -> impl Iterator<Item = &Registration> + '_ {
        self.slots.iter().flatten().filter(move |r| r.expires > now)
    }
}
