//! Shared by the benchmark binaries (`loadgen`, `floor`, `rtpblast`), which
//! include it with `#[path = "../tools/mod.rs"] mod tools;`: it is not part
//! of the bench library (`src/lib.rs`), so the wire benchmark never builds
//! it. Linux only (recvmmsg/sendmmsg, /proc).

#![allow(dead_code)]

pub mod args;
pub mod net;
pub mod proc;
pub mod sip;

use std::time::Instant;

/// Nanoseconds since `t0`.
pub fn ns_since(t0: Instant) -> u64 {
    t0.elapsed().as_nanos() as u64
}

/// The `q` quantile (0..=1) of sorted samples, 0 when there are none.
pub fn quantile(sorted: &[u32], q: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// A flat JSON object written by hand (the benchmark has no serde).
#[derive(Default)]
pub struct Json {
    s: String,
}

impl Json {
    pub fn new() -> Json {
        Json { s: String::new() }
    }
    fn key(&mut self, k: &str) {
        self.s.push(if self.s.is_empty() { '{' } else { ',' });
        self.s.push('"');
        self.s.push_str(k);
        self.s.push_str("\":");
    }
    pub fn str(mut self, k: &str, v: &str) -> Json {
        self.key(k);
        self.s.push('"');
        for c in v.chars() {
            match c {
                '"' => self.s.push_str("\\\""),
                '\\' => self.s.push_str("\\\\"),
                '\n' => self.s.push_str("\\n"),
                c if (c as u32) < 0x20 => {}
                c => self.s.push(c),
            }
        }
        self.s.push('"');
        self
    }
    pub fn num(mut self, k: &str, v: f64) -> Json {
        self.key(k);
        if v.is_finite() {
            if v == v.trunc() && v.abs() < 1e15 {
                self.s.push_str(&format!("{}", v as i64));
            } else {
                self.s.push_str(&format!("{v:.4}"));
            }
        } else {
            self.s.push_str("null");
        }
        self
    }
    pub fn int(self, k: &str, v: u64) -> Json {
        self.num(k, v as f64)
    }
    pub fn bool(mut self, k: &str, v: bool) -> Json {
        self.key(k);
        self.s.push_str(if v { "true" } else { "false" });
        self
    }
    pub fn finish(mut self) -> String {
        if self.s.is_empty() {
            self.s.push('{');
        }
        self.s.push('}');
        self.s
    }
}

/// Lowers the timer slack so sub-millisecond waits are not rounded up to
/// the default 50 µs.
pub fn tight_timers() {
    // SAFETY: prctl with integer arguments only.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0);
    }
}
