//! The registrar's bindings file on disk: written through `PATH.tmp` and a
//! rename, read at start-up, set aside when it does not parse. The text
//! format is the registrar's (`registrar::persist`).

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use log::{info, warn};

use crate::registrar::Registrar;
use crate::time::Instant;

/// The wall clock in unix seconds: the file stores wall-clock times,
/// because the core's [`Instant`] does not survive a reboot.
pub fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Saves to `path` through `path.tmp` and a rename, so a crash leaves the
/// old file or the new one. No fsync: the file lives on tmpfs and flash
/// must not wear. The table counts as saved only when the rename worked.
pub fn save_file(reg: &mut Registrar, now: Instant, wall: u64, path: &Path) -> io::Result<()> {
    let tmp = with_suffix(path, ".tmp");
    let mut w = io::BufWriter::new(std::fs::File::create(&tmp)?);
    reg.write_bindings(now, wall, &mut w)?;
    w.flush()?;
    drop(w);
    std::fs::rename(&tmp, path)?;
    reg.mark_saved(now);
    Ok(())
}

/// Loads `path` if it exists and arms saving; returns how many bindings
/// were loaded. Never fatal: a file that cannot be parsed is logged and
/// moved to `path.corrupt`.
pub fn load_file(reg: &mut Registrar, now: Instant, wall: u64, path: &Path) -> usize {
    let text = match std::fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes).map_err(|_| "not UTF-8".to_string()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            reg.mark_saved(now);
            return 0;
        }
        Err(e) => {
            warn!("registrar: cannot read {}: {e}", path.display());
            reg.mark_saved(now);
            return 0;
        }
    };
    match text.and_then(|t| reg.load(now, wall, &t)) {
        Ok(n) => {
            if n == reg.capacity() {
                warn!("registrar: table full after {n} saved bindings; the rest were dropped");
            }
            n
        }
        Err(e) => {
            let aside = with_suffix(path, ".corrupt");
            warn!(
                "registrar: {}: {e}; moved to {}",
                path.display(),
                aside.display()
            );
            if let Err(e) = std::fs::rename(path, &aside) {
                warn!("registrar: cannot move {}: {e}", path.display());
            }
            reg.mark_saved(now);
            0
        }
    }
}

/// When to touch the file: at start-up, when a save is due, at shutdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persist {
    Load,
    IfDue,
    Final,
}

/// Loads or saves `reg` at `path`, as `when` says; saves only when due
/// unless `Final`.
pub fn persist(reg: &mut Registrar, now: Instant, path: &Path, when: Persist) {
    match when {
        Persist::Load => {
            let n = load_file(reg, now, unix_secs(), path);
            info!("registrar: {n} bindings loaded from {}", path.display());
        }
        Persist::IfDue if !reg.save_due(now) => {}
        _ => {
            if let Err(e) = save_file(reg, now, unix_secs(), path) {
                warn!("registrar: cannot save {}: {e}", path.display());
            }
        }
    }
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    s.into()
}
