//! Token buckets: one for log lines, a fixed table for per-source limits.
//! Both take `now` from the caller, like the rest of the core.

use crate::time::Instant;
use std::net::IpAddr;

/// A token bucket: `rate` events per second, bursts up to `burst`.
#[derive(Debug, Clone, Copy)]
pub struct Limiter {
    rate: u32,
    burst: u32,
    /// In thousandths of a token, so short intervals still refill.
    milli_tokens: u64,
    last: Instant,
    /// Events refused since the last allowed one.
    pub suppressed: u32,
}

impl Limiter {
    pub const fn new(rate: u32, burst: u32) -> Self {
        Limiter {
            rate,
            burst,
            milli_tokens: burst as u64 * 1000,
            last: Instant(0),
            suppressed: 0,
        }
    }

    fn refill(&mut self, now: Instant) {
        // A clock that went backwards neither panics nor refills.
        let ms = now.0.saturating_sub(self.last.0);
        self.last = self.last.max(now);
        let cap = u64::from(self.burst) * 1000;
        self.milli_tokens = (self.milli_tokens + ms * u64::from(self.rate)).min(cap);
    }

    pub fn allow(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.milli_tokens >= 1000 {
            self.milli_tokens -= 1000;
            true
        } else {
            self.suppressed = self.suppressed.saturating_add(1);
            false
        }
    }

    /// Takes and resets the count of refused events (for "N suppressed").
    pub fn take_suppressed(&mut self) -> u32 {
        core::mem::take(&mut self.suppressed)
    }

    /// For log lines: `Some(refused since the last allowed one)` when this
    /// one may be logged, `None` (and counted) when not.
    pub fn report(&mut self, now: Instant) -> Option<u32> {
        self.allow(now).then(|| self.take_suppressed())
    }

    /// The count of refused events, once a token allows reporting it.
    pub fn flush(&mut self, now: Instant) -> Option<u32> {
        self.refill(now);
        if self.suppressed == 0 || self.milli_tokens < 1000 {
            return None;
        }
        self.milli_tokens -= 1000;
        Some(self.take_suppressed())
    }

    pub fn has_token(&self) -> bool {
        self.milli_tokens >= 1000
    }
}

/// Appended to a log line: how many like it were dropped before it.
pub struct Suppressed(pub u32);

impl core::fmt::Display for Suppressed {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.0 {
            0 => Ok(()),
            n => write!(f, " ({n} similar warnings suppressed before this)"),
        }
    }
}

const SLOTS: usize = 256;

/// Per-source buckets in a fixed table. Two sources that hash to the same
/// slot take it over from each other, which only ever resets a bucket: an
/// attacker cannot grow the table.
pub struct SourceLimiter {
    slots: [(Option<IpAddr>, Limiter); SLOTS],
    template: Limiter,
}

impl SourceLimiter {
    pub fn new(rate: u32, burst: u32) -> Self {
        let template = Limiter::new(rate, burst);
        SourceLimiter {
            slots: [(None, template); SLOTS],
            template,
        }
    }

    pub fn allow(&mut self, ip: IpAddr, now: Instant) -> bool {
        self.slot(ip, now).allow(now)
    }

    /// Whether `ip` has budget left, without spending any.
    pub fn has_budget(&mut self, ip: IpAddr, now: Instant) -> bool {
        let mut probe = *self.slot(ip, now);
        probe.allow(now)
    }

    fn slot(&mut self, ip: IpAddr, now: Instant) -> &mut Limiter {
        let h = match ip {
            IpAddr::V4(a) => u32::from(a).wrapping_mul(0x9E37_79B1),
            IpAddr::V6(a) => {
                let v = u128::from(a);
                ((v >> 64) as u64 ^ v as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) as u32
            }
        };
        let slot = &mut self.slots[(h >> 24) as usize % SLOTS];
        if slot.0 != Some(ip) {
            *slot = (Some(ip), self.template);
            slot.1.last = now;
        }
        &mut slot.1
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn test_bucket_refills() {
        let mut l = Limiter::new(10, 3);
        let t = Instant(1000);
        assert!(l.allow(t) && l.allow(t) && l.allow(t));
        assert!(!l.allow(t));
        assert_eq!(l.take_suppressed(), 1);
        assert!(!l.allow(Instant(1050)));
        assert!(l.allow(Instant(1150)));
        assert!(l.allow(Instant(60_000)));
    }

    #[test]
    fn test_report_and_flush_count_what_was_refused() {
        let mut l = Limiter::new(10, 10);
        let t0 = Instant(100_000);
        for _ in 0..10 {
            assert_eq!(l.report(t0), Some(0));
        }
        for _ in 0..5 {
            assert_eq!(l.report(t0), None);
        }
        assert_eq!(l.flush(t0), None);
        // 100 ms later one token is back; it reports the five.
        assert_eq!(l.report(Instant(100_100)), Some(5));
        assert_eq!(l.report(Instant(100_100)), None);
        assert_eq!(l.flush(Instant(100_200)), Some(1));
        assert_eq!(l.flush(Instant(100_300)), None);
        // A long pause refills only up to the burst.
        for _ in 0..10 {
            assert_eq!(l.report(Instant(4_000_000)), Some(0));
        }
        assert_eq!(l.report(Instant(4_000_000)), None);
        // A clock that went backwards neither panics nor refills.
        assert_eq!(l.report(t0), None);
        assert_eq!(
            Suppressed(3).to_string(),
            " (3 similar warnings suppressed before this)"
        );
    }

    #[test]
    fn test_sources_are_independent() {
        let mut s = SourceLimiter::new(1, 2);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "2001:db8::1".parse().unwrap();
        let t = Instant(5000);
        assert!(s.allow(a, t) && s.allow(a, t));
        assert!(!s.allow(a, t));
        assert!(s.allow(b, t));
        assert!(s.allow(a, Instant(6000)));
        assert!(!s.has_budget(a, Instant(6000)));
        assert!(s.has_budget(a, Instant(7000)));
        assert!(s.has_budget(a, Instant(7000)), "has_budget spends nothing");
    }
}
