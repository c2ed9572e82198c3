//! CPU time and memory of a process tree, from /proc.

use std::fs;

/// Clock ticks per second of /proc/<pid>/stat (USER_HZ).
pub fn clk_tck() -> u64 {
    // SAFETY: sysconf has no memory effects.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

/// `pid` and every live descendant.
pub fn tree(root: u32) -> Vec<u32> {
    let mut parent: Vec<(u32, u32)> = Vec::new();
    if let Ok(rd) = fs::read_dir("/proc") {
        for e in rd.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            if let Some(st) = stat_fields(pid) {
                if let Some(pp) = st.get(1).and_then(|s| s.parse().ok()) {
                    parent.push((pid, pp));
                }
            }
        }
    }
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() {
        let p = out[i];
        for &(c, pp) in &parent {
            if pp == p && !out.contains(&c) {
                out.push(c);
            }
        }
        i += 1;
    }
    out
}

/// The fields of /proc/<pid>/stat after the command name: index 0 is the
/// state (field 3), 1 the ppid, 11 utime (field 14), 12 stime.
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

/// CPU used so far by a tree: utime+stime (ticks) and the scheduler's
/// nanosecond run time (/proc/<pid>/task/*/schedstat), summed.
#[derive(Clone, Copy, Debug, Default)]
pub struct Cpu {
    pub ticks: u64,
    pub sched_ns: u64,
}

impl Cpu {
    /// Seconds from utime+stime.
    pub fn secs_since(&self, before: &Cpu) -> f64 {
        self.ticks.saturating_sub(before.ticks) as f64 / clk_tck() as f64
    }
    /// Seconds from schedstat.
    pub fn sched_secs_since(&self, before: &Cpu) -> f64 {
        self.sched_ns.saturating_sub(before.sched_ns) as f64 / 1e9
    }
}

pub fn cpu_of(pid: u32) -> Cpu {
    let mut c = Cpu::default();
    if let Some(f) = stat_fields(pid) {
        let u: u64 = f.get(11).and_then(|s| s.parse().ok()).unwrap_or(0);
        let s: u64 = f.get(12).and_then(|s| s.parse().ok()).unwrap_or(0);
        c.ticks = u + s;
    }
    if let Ok(rd) = fs::read_dir(format!("/proc/{pid}/task")) {
        for e in rd.flatten() {
            let p = e.path().join("schedstat");
            if let Ok(s) = fs::read_to_string(p) {
                c.sched_ns += s
                    .split_whitespace()
                    .next()
                    .and_then(|x| x.parse::<u64>().ok())
                    .unwrap_or(0);
            }
        }
    }
    c
}

/// CPU of `root` and its descendants; `None` for pid 0 (nothing watched).
pub fn tree_cpu(root: u32) -> Cpu {
    let mut c = Cpu::default();
    if root == 0 {
        return c;
    }
    for p in tree(root) {
        let x = cpu_of(p);
        c.ticks += x.ticks;
        c.sched_ns += x.sched_ns;
    }
    c
}

/// Memory of a tree, KiB: peak and current RSS summed over its processes
/// (shared pages count once per process) and PSS (shared pages split).
#[derive(Clone, Copy, Debug, Default)]
pub struct Mem {
    pub procs: u32,
    pub hwm_kb: u64,
    pub rss_kb: u64,
    pub pss_kb: u64,
    /// RSS split: anonymous (heap, stacks, buffers) and file-backed (the
    /// binary and shared libraries).
    pub anon_kb: u64,
    pub file_kb: u64,
}

fn kb_field(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|x| x.parse().ok())
        .unwrap_or(0)
}

pub fn tree_mem(root: u32) -> Mem {
    let mut m = Mem::default();
    if root == 0 {
        return m;
    }
    for p in tree(root) {
        let Ok(st) = fs::read_to_string(format!("/proc/{p}/status")) else {
            continue;
        };
        m.procs += 1;
        m.hwm_kb += kb_field(&st, "VmHWM:");
        m.rss_kb += kb_field(&st, "VmRSS:");
        m.anon_kb += kb_field(&st, "RssAnon:");
        m.file_kb += kb_field(&st, "RssFile:");
        if let Ok(r) = fs::read_to_string(format!("/proc/{p}/smaps_rollup")) {
            m.pss_kb += kb_field(&r, "Pss:");
        }
    }
    m
}

/// CPU seconds this process has used (utime+stime, all threads).
pub fn self_cpu_secs() -> f64 {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid rusage for the call to fill.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}
