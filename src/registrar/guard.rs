//! What stands between the digest and an attacker: the nonce counts seen
//! (a captured Authorization cannot be replayed) and the failure budgets
//! (a password cannot be guessed at line rate). Fixed tables, allocated
//! once; nothing here grows with what the network sends.

use crate::time::Instant;
use core::time::Duration;
use std::net::IpAddr;

use super::digest::NONCE_LEN;

/// Nonces whose last `nc` we keep; the oldest is forgotten first.
pub const REPLAY_SLOTS: usize = 128;
/// Failed digests one source or one user may cause in [`FAIL_WINDOW`].
pub const FAIL_LIMIT: u8 = 10;
pub const FAIL_WINDOW: Duration = Duration::from_secs(600);
/// How long a source or a user that ran out of budget gets 403.
pub const LOCKOUT: Duration = Duration::from_secs(600);
/// Sources whose failures we count at once.
pub const SOURCE_SLOTS: usize = 64;

#[derive(Clone, Copy)]
struct Seen {
    nonce: [u8; NONCE_LEN],
    nc: u32,
    /// A hash of the request that used `nc`: its retransmission may use it
    /// again.
    request: u64,
    used: Instant,
}

fn fnv64(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, x| {
        (h ^ u64::from(*x)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The highest `nc` accepted per nonce (RFC 2617 §3.2.2: the count must
/// increase, so a replayed request is detected).
pub struct Replays {
    seen: Vec<Option<Seen>>,
}

impl Default for Replays {
    fn default() -> Replays {
        Replays {
            seen: vec![None; REPLAY_SLOTS],
        }
    }
}

impl Replays {
    /// Whether `nc` may be used with `nonce` now, in `request`: above
    /// every count seen for it, or the same count in the same request (a
    /// retransmission). Records it when so.
    pub fn accept(&mut self, now: Instant, nonce: &[u8], nc: u32, request: &[u8]) -> bool {
        let Ok(nonce) = <[u8; NONCE_LEN]>::try_from(nonce) else {
            return false;
        };
        let request = fnv64(request);
        let hit = self.seen.iter_mut().flatten().find(|s| s.nonce == nonce);
        if let Some(s) = hit {
            let again = nc == s.nc && request == s.request;
            if nc <= s.nc && !again {
                return false;
            }
            *s = Seen {
                nonce,
                nc,
                request,
                used: now,
            };
            return true;
        }
        let slot = match self.seen.iter().position(Option::is_none) {
            Some(i) => i,
            None => self
                .seen
                .iter()
                .enumerate()
                .min_by_key(|(_, s)| s.map(|s| s.used))
                .map_or(0, |(i, _)| i),
        };
        if let Some(s) = self.seen.get_mut(slot) {
            *s = Some(Seen {
                nonce,
                nc,
                request,
                used: now,
            });
        }
        true
    }
}

/// Failures in the current window, and a lockout.
#[derive(Clone, Copy, Default)]
pub struct Strikes {
    count: u8,
    since: Instant,
    locked_until: Option<Instant>,
}

impl Strikes {
    pub fn locked(&self, now: Instant) -> bool {
        self.locked_until.is_some_and(|t| now < t)
    }

    /// One more failure; true when it starts a lockout.
    pub fn fail(&mut self, now: Instant) -> bool {
        if self.locked(now) {
            return false;
        }
        if self.count == 0 || now >= self.since + FAIL_WINDOW {
            *self = Strikes {
                count: 0,
                since: now,
                locked_until: None,
            };
        }
        self.count = self.count.saturating_add(1);
        if self.count >= FAIL_LIMIT {
            self.locked_until = Some(now + LOCKOUT);
            self.count = 0;
            return true;
        }
        false
    }
}

/// Failure budgets per source address and per user of the auth file.
pub struct Lockouts {
    sources: Vec<(Option<IpAddr>, Strikes)>,
    /// One per auth-file user, by its index: only real users are counted,
    /// so names an attacker makes up cannot push them out.
    users: Vec<Strikes>,
}

impl Lockouts {
    pub fn new(users: usize) -> Lockouts {
        Lockouts {
            sources: vec![(None, Strikes::default()); SOURCE_SLOTS],
            users: vec![Strikes::default(); users],
        }
    }

    pub fn source_locked(&self, now: Instant, ip: IpAddr) -> bool {
        self.sources
            .iter()
            .any(|(a, s)| *a == Some(ip) && s.locked(now))
    }

    pub fn user_locked(&self, now: Instant, user: usize) -> bool {
        self.users.get(user).is_some_and(|s| s.locked(now))
    }

    /// A failed digest from `ip` for auth-file user `user` (if it names
    /// one); true when this failure locks the source or the user out.
    pub fn fail(&mut self, now: Instant, ip: IpAddr, user: Option<usize>) -> bool {
        let by_user = user
            .and_then(|u| self.users.get_mut(u))
            .is_some_and(|s| s.fail(now));
        let i = match self.sources.iter().position(|(a, _)| *a == Some(ip)) {
            Some(i) => i,
            // A new source takes a free slot, else the one whose window is
            // oldest and is not locked out.
            None => {
                let pick = self
                    .sources
                    .iter()
                    .enumerate()
                    .filter(|(_, (a, s))| a.is_none() || !s.locked(now))
                    .min_by_key(|(_, (a, s))| (a.is_some(), s.since))
                    .map(|(i, _)| i);
                let Some(i) = pick else {
                    return by_user;
                };
                if let Some(e) = self.sources.get_mut(i) {
                    *e = (Some(ip), Strikes::default());
                }
                i
            }
        };
        let by_source = self.sources.get_mut(i).is_some_and(|(_, s)| s.fail(now));
        by_user || by_source
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod test {
    use super::*;

    #[test]
    fn counts_must_increase_per_nonce() {
        let mut r = Replays::default();
        let t = Instant::from_secs(1);
        let n1 = [b'a'; NONCE_LEN];
        let n2 = [b'b'; NONCE_LEN];
        assert!(r.accept(t, &n1, 1, b"REGISTER 1"));
        assert!(r.accept(t, &n1, 1, b"REGISTER 1"), "a retransmission");
        assert!(
            !r.accept(t, &n1, 1, b"REGISTER 1 other contact"),
            "a replay"
        );
        assert!(r.accept(t, &n2, 1, b"x"), "another nonce has its own count");
        assert!(r.accept(t, &n1, 3, b"REGISTER 3"));
        assert!(!r.accept(t, &n1, 2, b"REGISTER 2"));
        assert!(!r.accept(t, b"short", 9, b"x"));
        // The oldest is forgotten when the table is full.
        for i in 0..REPLAY_SLOTS as u32 {
            let mut n = [b'c'; NONCE_LEN];
            n[..4].copy_from_slice(&i.to_be_bytes());
            assert!(r.accept(Instant::from_secs(2 + u64::from(i)), &n, 1, b"x"));
        }
        assert!(
            r.accept(Instant::from_secs(1000), &n1, 1, b"y"),
            "forgotten"
        );
    }

    #[test]
    fn ten_failures_lock_out_for_ten_minutes() {
        let mut l = Lockouts::new(2);
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let t = Instant::from_secs(100);
        for i in 0..9 {
            assert!(!l.fail(t, ip, Some(0)), "{i}");
        }
        assert!(!l.source_locked(t, ip) && !l.user_locked(t, 0));
        assert!(l.fail(t, ip, Some(0)), "the tenth locks out");
        assert!(l.source_locked(t, ip) && l.user_locked(t, 0));
        assert!(!l.user_locked(t, 1));
        assert!(!l.fail(t, ip, Some(0)), "reported once");
        let later = t + LOCKOUT;
        assert!(!l.source_locked(later, ip) && !l.user_locked(later, 0));
        // Failures spread wider than the window never lock out.
        let other: IpAddr = "192.0.2.8".parse().unwrap();
        for i in 0..30u64 {
            let at = later + Duration::from_secs(i * 70);
            assert!(!l.fail(at, other, None), "{i}");
        }
    }

    #[test]
    fn a_flood_of_sources_cannot_unlock_one() {
        let mut l = Lockouts::new(0);
        let t = Instant::from_secs(1);
        let bad: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..FAIL_LIMIT {
            l.fail(t, bad, None);
        }
        for i in 0..1000u32 {
            l.fail(t, IpAddr::from(i.to_be_bytes()), None);
        }
        assert!(l.source_locked(t, bad));
    }
}
