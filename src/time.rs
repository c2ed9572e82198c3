//! Time for the sans-IO core: the shell reads the clock once per wake-up and
//! passes it in, so the core never reads a clock and tests can use a fake one.

use core::ops::{Add, Sub};
use core::time::Duration;

/// Milliseconds on a monotonic clock with an arbitrary origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Instant(pub u64);

impl Instant {
    pub const fn from_millis(ms: u64) -> Self {
        Instant(ms)
    }

    pub const fn from_secs(s: u64) -> Self {
        Instant(s * 1000)
    }

    pub const fn millis(self) -> u64 {
        self.0
    }

    /// Time since `earlier`, or zero if `earlier` is later.
    pub fn since(self, earlier: Instant) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, d: Duration) -> Instant {
        Instant(self.0.saturating_add(d.as_millis() as u64))
    }
}

impl Sub<Duration> for Instant {
    type Output = Instant;
    fn sub(self, d: Duration) -> Instant {
        Instant(self.0.saturating_sub(d.as_millis() as u64))
    }
}
