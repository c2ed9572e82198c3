//! The bindings file: a versioned text format, one binding per line.
//!
//! ```text
//! edgesip-registrar 1
//! b <aor> <contact-uri> <instance> <call-id-md5> <cseq> <expires> <source> <leg> <refreshed>
//! ```
//! Byte fields are %-escaped (anything but printable ASCII other than `%`)
//! so any bytes round-trip; `-` is an empty field. Times are unix seconds,
//! because [`Instant`] is monotonic and does not survive a reboot. This
//! runs outside the hot path and may allocate. Reading and writing the
//! file itself is the shell's (`daemon::persist`); here are text and
//! writers only.

use super::store::{aor_hash, Aor, Binding, MAX_BINDING};
use super::{Registrar, SAVE_INTERVAL};
use crate::time::Instant;
use std::io::{self, Write};
use std::net::SocketAddr;

pub const MAGIC: &str = "edgesip-registrar 1";

fn escape(w: &mut impl Write, field: &[u8]) -> io::Result<()> {
    if field.is_empty() {
        return w.write_all(b"-");
    }
    if field == b"-" {
        return w.write_all(b"%2D");
    }
    for &b in field {
        if b.is_ascii_graphic() && b != b'%' {
            w.write_all(&[b])?;
        } else {
            write!(w, "%{b:02X}")?;
        }
    }
    Ok(())
}

fn unescape(field: &str) -> Option<Vec<u8>> {
    if field == "-" {
        return Some(Vec::new());
    }
    let s = field.as_bytes();
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while let Some(&c) = s.get(i) {
        if c == b'%' {
            let mut b = [0u8; 1];
            crate::hex::decode(s.get(i + 1..i + 3)?, &mut b)?;
            out.push(b[0]);
            i += 3;
        } else {
            out.push(c);
            i += 1;
        }
    }
    Some(out)
}

/// Unix seconds of `t`, given that `now` is `wall` unix seconds.
fn to_unix(t: Instant, now: Instant, wall: u64) -> u64 {
    if t >= now {
        wall.saturating_add((t.0 - now.0).div_ceil(1000))
    } else {
        wall.saturating_sub((now.0 - t.0) / 1000)
    }
}

fn from_unix(u: u64, now: Instant, wall: u64) -> Instant {
    if u >= wall {
        Instant(now.0.saturating_add((u - wall).saturating_mul(1000)))
    } else {
        Instant(now.0.saturating_sub((wall - u).saturating_mul(1000)))
    }
}

pub fn write_binding(w: &mut impl Write, b: &Binding, now: Instant, wall: u64) -> io::Result<()> {
    w.write_all(b"b ")?;
    escape(w, &b.aor)?;
    w.write_all(b" ")?;
    escape(w, b.uri())?;
    w.write_all(b" ")?;
    escape(w, b.instance())?;
    w.write_all(b" ")?;
    w.write_all(&crate::hex::encode::<16, 32>(&b.call_id))?;
    writeln!(
        w,
        " {} {} {} {} {}",
        b.cseq,
        to_unix(b.expires, now, wall),
        b.source,
        b.leg,
        to_unix(b.refreshed, now, wall)
    )
}

fn parse_line(line: &str, now: Instant, wall: u64, max_expires: u32) -> Result<Binding, String> {
    let f: Vec<&str> = line.split(' ').collect();
    let [tag, aor, uri, inst, call_id, cseq, expires, source, leg, refreshed] = f[..] else {
        return Err(format!("{} fields, want 10", f.len()));
    };
    if tag != "b" {
        return Err(format!("unknown record {tag:?}"));
    }
    let bytes = |s: &str, what: &str| unescape(s).ok_or_else(|| format!("bad escape in {what}"));
    let aor_v = bytes(aor, "AoR")?;
    let aor = Aor::from_slice(&aor_v).map_err(|_| "AoR too long".to_string())?;
    let uri = bytes(uri, "contact")?;
    let inst = bytes(inst, "instance")?;
    if uri.is_empty() || aor.is_empty() {
        return Err("empty AoR or contact".into());
    }
    let mut contact = heapless::Vec::<u8, MAX_BINDING>::new();
    contact
        .extend_from_slice(&uri)
        .and_then(|_| contact.extend_from_slice(&inst))
        .map_err(|_| "contact too long".to_string())?;
    let mut cid = [0u8; 16];
    crate::hex::decode(call_id.as_bytes(), &mut cid).ok_or("bad Call-ID hash")?;
    let num = |s: &str, what: &str| s.parse::<u64>().map_err(|_| format!("bad {what}"));
    let expires_unix = num(expires, "expiry")?;
    // A wall clock that jumped back must not make a binding live for longer
    // than anyone may register for.
    let remaining = expires_unix
        .saturating_sub(wall)
        .min(u64::from(max_expires));
    Ok(Binding {
        aor_hash: aor_hash(&aor),
        aor,
        uri_len: uri.len(),
        contact,
        call_id: cid,
        cseq: u32::try_from(num(cseq, "CSeq")?).map_err(|_| "bad CSeq".to_string())?,
        expires: from_unix(wall.saturating_add(remaining), now, wall),
        source: source
            .parse::<SocketAddr>()
            .map_err(|_| "bad source address".to_string())?,
        leg: usize::try_from(num(leg, "leg")?).map_err(|_| "bad leg".to_string())?,
        refreshed: from_unix(num(refreshed, "refresh time")?, now, wall),
    })
}

/// Every live binding in `text`; an error names the first bad line.
pub fn parse(
    text: &str,
    now: Instant,
    wall: u64,
    max_expires: u32,
) -> Result<Vec<Binding>, String> {
    let mut lines = text.lines().enumerate();
    match lines.next() {
        Some((_, l)) if l.trim_end() == MAGIC => {}
        Some((_, l)) if l.starts_with("edgesip-registrar ") => {
            return Err(format!("line 1: unsupported version {l:?}"))
        }
        _ => return Err("line 1: not an edgesip registrar file".into()),
    }
    let mut out = Vec::new();
    for (i, l) in lines {
        let l = l.trim_end_matches('\r');
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let b =
            parse_line(l, now, wall, max_expires).map_err(|e| format!("line {}: {e}", i + 1))?;
        if b.live(now) {
            out.push(b);
        }
    }
    Ok(out)
}

impl Registrar {
    /// Bindings were added, changed or removed since the last save, and
    /// the last save is [`SAVE_INTERVAL`] old. Refreshes count: an expiry
    /// that was not saved loses the binding at a restart. Never true before
    /// the first load or save, so a shell without a file is not woken.
    pub fn save_due(&self, now: Instant) -> bool {
        self.persist
            && self.dirty_since.is_some()
            && self.last_save.is_none_or(|t| now >= t + SAVE_INTERVAL)
    }

    /// Arms saving without a file to load (none was there, or it was
    /// unreadable and set aside).
    pub fn mark_saved(&mut self, now: Instant) {
        self.persist = true;
        self.dirty_since = None;
        self.last_save = Some(now);
    }

    /// Writes every live binding, changing nothing; see [`Registrar::save`].
    pub fn write_bindings(
        &self,
        now: Instant,
        wall: u64,
        w: &mut impl std::io::Write,
    ) -> std::io::Result<()> {
        writeln!(w, "{}", MAGIC)?;
        for b in self.store.iter().filter(|b| b.live(now)) {
            write_binding(w, b, now, wall)?;
        }
        Ok(())
    }

    /// Writes every live binding; `wall_clock_unix_secs` is the wall clock
    /// at `now`. Marks the table clean and arms saving.
    pub fn save(
        &mut self,
        now: Instant,
        wall_clock_unix_secs: u64,
        w: &mut impl std::io::Write,
    ) -> std::io::Result<()> {
        self.write_bindings(now, wall_clock_unix_secs, w)?;
        self.mark_saved(now);
        Ok(())
    }

    /// Replaces the table with the bindings in `text`, dropping expired
    /// ones; returns how many were loaded. On error the table is unchanged.
    pub fn load(
        &mut self,
        now: Instant,
        wall_clock_unix_secs: u64,
        text: &str,
    ) -> Result<usize, String> {
        let bindings = parse(text, now, wall_clock_unix_secs, self.max_expires)?;
        self.store.clear();
        let mut n = 0;
        for b in bindings {
            if self.store.find(&b.aor, b.uri(), now).is_some() {
                continue;
            }
            // A full table keeps what fits; the caller sees the count.
            if self.store.insert(b).is_none() {
                break;
            }
            n += 1;
        }
        self.next_expiry = self.store.next_expiry();
        self.mark_saved(now);
        Ok(n)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod test {
    use super::*;

    #[test]
    fn test_escape_round_trip() {
        for f in [
            &b""[..],
            b"-",
            b"a b%c\n\0\xff\"<urn:x>\"",
            b"sip:alice@example.com",
        ] {
            let mut v = Vec::new();
            escape(&mut v, f).unwrap();
            let s = String::from_utf8(v).unwrap();
            assert!(!s.contains(' ') && !s.is_empty(), "{s}");
            assert_eq!(unescape(&s).unwrap(), f);
        }
        assert!(unescape("%4").is_none());
        assert!(unescape("%zz").is_none());
    }

    #[test]
    fn test_times() {
        let now = Instant::from_secs(100);
        assert_eq!(to_unix(Instant::from_secs(160), now, 1_000_000), 1_000_060);
        assert_eq!(to_unix(Instant::from_secs(40), now, 1_000_000), 999_940);
        assert_eq!(
            from_unix(1_000_060, now, 1_000_000),
            Instant::from_secs(160)
        );
        assert_eq!(from_unix(999_940, now, 1_000_000), Instant::from_secs(40));
        assert_eq!(from_unix(0, now, 1_000_000), Instant(0));
    }

    #[test]
    fn test_bad_lines() {
        let now = Instant::from_secs(1);
        assert!(parse("", now, 10, 60).is_err());
        assert!(parse("edgesip-registrar 2\n", now, 10, 60)
            .unwrap_err()
            .contains("version"));
        let e = parse("edgesip-registrar 1\n\nb x\n", now, 10, 60).unwrap_err();
        assert!(e.starts_with("line 3:"), "{e}");
        assert_eq!(
            parse("edgesip-registrar 1\n# none\n", now, 10, 60).unwrap(),
            vec![]
        );
        // Multi-byte text where hex belongs must not panic.
        let zeros = "0".repeat(32);
        let line = format!(
            "edgesip-registrar 1\nb sip:a@b sip:a@c - {}ééé 1 20 127.0.0.1:5060 0 5\n",
            &zeros[..26]
        );
        assert!(parse(&line, now, 10, 60).unwrap_err().contains("Call-ID"));
        let good =
            format!("edgesip-registrar 1\nb sip:a@b sip:a@c - {zeros} 1 20 127.0.0.1:5060 0 5\n");
        assert_eq!(parse(&good, now, 10, 60).unwrap().len(), 1);
        for bad in [
            "b sip:a@b sip:a@c - 00 1 20 127.0.0.1:5060 0 5",
            "b - sip:a@c - Z 1 20 127.0.0.1:5060 0 5",
            "b sip:a@b sip:a@c - Z x 20 127.0.0.1:5060 0 5",
            "b sip:a@b sip:a@c - Z 1 20 nowhere 0 5",
            "b sip:a@b sip:a@c - Z 1 20 127.0.0.1:5060 -1 5",
            "b sip:a@b sip:a@%c - Z 1 20 127.0.0.1:5060 0 5",
            "x sip:a@b sip:a@c - Z 1 20 127.0.0.1:5060 0 5",
            "b sip:a@b sip:a@c - Z 1 20 127.0.0.1:5060 0",
        ] {
            let text = format!("edgesip-registrar 1\n{}\n", bad.replace('Z', &zeros));
            let e = parse(&text, now, 10, 60).unwrap_err();
            assert!(e.starts_with("line 2:"), "{bad}: {e}");
        }
    }
}
