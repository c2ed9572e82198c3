//! The logger: one line per record, level and message, with a UTC time
//! stamp of its own only when stderr is a terminal (under procd, logd adds
//! one); and the log lines for what the core reports.

use std::fmt;
use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::time::SystemTime;

use log::{debug, info, warn};

use crate::output::{Level, Outcome};
use crate::ratelimit::{Limiter, Suppressed};
use crate::time::Instant;

/// Sets up the global logger: `level` unless RUST_LOG is set, one line per
/// record, with a UTC time stamp when stderr is a terminal.
pub fn init_logger(level: log::LevelFilter) {
    let mut b = env_logger::Builder::new();
    if std::env::var_os("RUST_LOG").is_some() {
        b.parse_env("RUST_LOG");
    } else {
        b.filter_level(level);
    }
    if std::io::stderr().is_terminal() {
        b.format(|buf, rec| {
            let now = UtcStamp(SystemTime::now());
            writeln!(buf, "{now} {:<5} {}", rec.level(), rec.args())
        });
    } else {
        b.format(|buf, rec| writeln!(buf, "{:<5} {}", rec.level(), rec.args()));
    }
    b.init();
}

/// Logs what became of a datagram from `src` on leg `leg`: warnings through
/// `limiter`, so a flood is counted rather than written, the rest at debug.
pub fn outcome(limiter: &mut Limiter, now: Instant, leg: &str, src: SocketAddr, o: &Outcome) {
    let Some(why) = o.why() else { return };
    let answered = match o {
        Outcome::Answered { code, .. } if *code != 0 => Some(*code),
        _ => None,
    };
    match why.level() {
        Level::Warn => {
            if let Some(n) = limiter.report(now) {
                let s = Suppressed(n);
                match answered {
                    Some(code) => warn!("leg {leg}: {src}: answered {code}: {why}{s}"),
                    None => warn!("leg {leg}: {src}: {why}{s}"),
                }
            }
        }
        Level::Debug => match answered {
            Some(code) => debug!("leg {leg}: {src}: answered {code}: {why}"),
            None => debug!("leg {leg}: {src}: {why}"),
        },
    }
}

/// A line for something a person reading `logread` wants to see: a
/// registration added, removed or expired at our registrar, a lockout.
pub fn event(e: &crate::registrar::Event) {
    use crate::registrar::EventKind;
    let aor = String::from_utf8_lossy(&e.aor);
    match e.kind {
        EventKind::Bound => info!("registrar: {aor} registered from {}", e.source),
        EventKind::Removed => info!("registrar: {aor} unregistered from {}", e.source),
        EventKind::Expired => info!("registrar: {aor} expired (last from {})", e.source),
        EventKind::Lockout => warn!(
            "registrar: {} locked out for 10 minutes after 10 failed digests (user {aor:?})",
            e.source.ip()
        ),
    }
}

/// `2024-01-01T12:00:00.000Z`, without a date crate.
pub struct UtcStamp(pub SystemTime);

impl fmt::Display for UtcStamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self
            .0
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        let secs = d.as_secs();
        let (y, m, day) = civil_from_days((secs / 86_400) as i64);
        let s = secs % 86_400;
        write!(
            f,
            "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
            s / 3600,
            s / 60 % 60,
            s % 60,
            d.subsec_millis()
        )
    }
}

/// Days since 1970-01-01 to (year, month, day); Howard Hinnant's algorithm.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod test {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(11_017), (2000, 3, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_704_067_199_999);
        assert_eq!(UtcStamp(t).to_string(), "2023-12-31T23:59:59.999Z");
    }
}
