//! Shared helpers for the integration tests that run the real binary.
//!
//! Set `EDGESIP_TEST_RUNNER` (e.g. `qemu-mips -L /usr/mips-linux-gnu`) to run
//! a cross-built binary under an emulator; timeouts then grow fivefold.

// Each test crate uses a different subset of these helpers.
#![allow(dead_code)]

pub mod dns;
pub mod harness;
pub mod sip;

use std::io::Read;
use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How much slower than native the binary runs.
pub fn slowdown() -> u32 {
    if std::env::var_os("EDGESIP_TEST_RUNNER").is_some() {
        5
    } else {
        1
    }
}

/// `ms` milliseconds, scaled for an emulator.
pub fn scaled(ms: u64) -> Duration {
    Duration::from_millis(ms) * slowdown()
}

/// A command for the edgesip binary, behind the test runner if one is set.
pub fn edgesip_cmd(args: &[&str]) -> Command {
    let bin = env!("CARGO_BIN_EXE_edgesip");
    let runner = std::env::var("EDGESIP_TEST_RUNNER").unwrap_or_default();
    let mut words = runner.split_whitespace();
    let mut cmd = match words.next() {
        Some(prog) => {
            let mut c = Command::new(prog);
            c.args(words).arg(bin);
            c
        }
        None => Command::new(bin),
    };
    cmd.args(args).stdin(Stdio::null());
    cmd
}

/// Reads a pipe to its end on a thread, into a shared string.
pub fn capture(mut r: impl Read + Send + 'static) -> (Arc<Mutex<String>>, JoinHandle<()>) {
    let buf = Arc::new(Mutex::new(String::new()));
    let b = Arc::clone(&buf);
    let h = thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        while let Ok(n) = r.read(&mut chunk) {
            if n == 0 {
                break;
            }
            b.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&chunk[..n]));
        }
    });
    (buf, h)
}

/// What a run to completion left behind.
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Runs edgesip expecting it to exit by itself (within ~10 s).
pub fn run_to_exit(args: &[&str]) -> Finished {
    let mut child = edgesip_cmd(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn edgesip");
    let (out, out_h) = capture(child.stdout.take().unwrap());
    let (err, err_h) = capture(child.stderr.take().unwrap());
    let status = wait_until(&mut child, scaled(10_000)).unwrap_or_else(|| {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "edgesip {args:?} did not exit; stderr:\n{}",
            err.lock().unwrap()
        );
    });
    out_h.join().unwrap();
    err_h.join().unwrap();
    let stdout = out.lock().unwrap().clone();
    let stderr = err.lock().unwrap().clone();
    Finished {
        status,
        stdout,
        stderr,
    }
}

fn wait_until(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let end = Instant::now() + timeout;
    loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            return Some(s);
        }
        if Instant::now() >= end {
            return None;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// A running edgesip, killed on drop if still running.
pub struct Daemon {
    child: Child,
    stderr: Arc<Mutex<String>>,
    reader: Option<JoinHandle<()>>,
}

impl Daemon {
    /// Starts edgesip and waits until every leg has logged its start-up line.
    pub fn start(args: &[&str]) -> Daemon {
        let legs = args
            .iter()
            .filter(|a| **a == "--leg" || a.starts_with("--leg="))
            .count()
            .max(1);
        let mut child = edgesip_cmd(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn edgesip");
        let (stderr, reader) = capture(child.stderr.take().unwrap());
        let mut d = Daemon {
            child,
            stderr,
            reader: Some(reader),
        };
        let end = Instant::now() + scaled(10_000);
        loop {
            if d.stderr().matches(": listening on ").count() >= legs {
                return d;
            }
            if let Some(s) = d.child.try_wait().expect("try_wait") {
                panic!("edgesip {args:?} exited with {s}; stderr:\n{}", d.stderr());
            }
            if Instant::now() >= end {
                panic!("edgesip {args:?} did not start; stderr:\n{}", d.stderr());
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Everything it wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }

    /// Sends `sig` and waits for the exit.
    pub fn signal(&mut self, sig: libc::c_int) -> ExitStatus {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid fits pid_t");
        // SAFETY: kill has no memory effects; the pid is our unreaped child.
        let r = unsafe { libc::kill(pid, sig) };
        assert_eq!(r, 0, "kill: {}", std::io::Error::last_os_error());
        let status = wait_until(&mut self.child, scaled(10_000))
            .unwrap_or_else(|| panic!("edgesip ignored signal {sig}; stderr:\n{}", self.stderr()));
        if let Some(h) = self.reader.take() {
            h.join().unwrap();
        }
        status
    }

    /// SIGTERM, then the exit status.
    pub fn stop(&mut self) -> ExitStatus {
        self.signal(libc::SIGTERM)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A port free for both UDP and TCP on `ip` a moment ago, for a leg.
///
/// Picked below the kernel's ephemeral range: a port that `bind(0)` handed
/// out could be taken by another test's outgoing TCP connection before the
/// daemon binds it (seen under qemu: "port in use" on a `tcp` leg).
pub fn free_port(ip: &str) -> u16 {
    use std::net::TcpListener;
    use std::sync::atomic::{AtomicU16, Ordering};
    const LOW: u16 = 20_000;
    const SPAN: u16 = 12_000;
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32_768);
    let below = ephemeral_low >= LOW + SPAN;
    // Start each test process somewhere else, so that two runs side by side
    // rarely probe the same ports.
    let _ = NEXT.compare_exchange(
        0,
        (std::process::id() % u32::from(SPAN)) as u16 + 1,
        Ordering::Relaxed,
        Ordering::Relaxed,
    );
    for _ in 0..SPAN {
        let port = if below {
            LOW + NEXT.fetch_add(1, Ordering::Relaxed) % SPAN
        } else {
            UdpSocket::bind((ip, 0))
                .and_then(|s| s.local_addr())
                .unwrap_or_else(|e| panic!("bind {ip}:0: {e}"))
                .port()
        };
        let udp = UdpSocket::bind((ip, port));
        let tcp = TcpListener::bind((ip, port));
        if udp.is_ok() && tcp.is_ok() {
            return port;
        }
    }
    panic!("no free port on {ip}");
}

/// A user agent: one UDP socket on a loopback address.
pub struct Ua {
    sock: UdpSocket,
}

impl Ua {
    pub fn bind(ip: &str) -> Ua {
        let sock = UdpSocket::bind((ip, 0)).unwrap_or_else(|e| panic!("bind {ip}:0: {e}"));
        Ua { sock }
    }

    pub fn addr(&self) -> SocketAddr {
        self.sock.local_addr().unwrap()
    }

    pub fn send_to(&self, bytes: &[u8], to: SocketAddr) {
        let n = self.sock.send_to(bytes, to).expect("send_to");
        assert_eq!(n, bytes.len());
    }

    /// The next datagram, or None after 2 s (scaled).
    pub fn recv(&self) -> Option<(Vec<u8>, SocketAddr)> {
        self.recv_within(scaled(2_000))
    }

    /// The next datagram within `ms` milliseconds (scaled), if any.
    pub fn recv_within_ms(&self, ms: u64) -> Option<(Vec<u8>, SocketAddr)> {
        self.recv_within(scaled(ms))
    }

    fn recv_within(&self, t: Duration) -> Option<(Vec<u8>, SocketAddr)> {
        self.sock.set_read_timeout(Some(t)).unwrap();
        let mut buf = vec![0u8; 65_535];
        match self.sock.recv_from(&mut buf) {
            Ok((n, from)) => {
                buf.truncate(n);
                Some((buf, from))
            }
            Err(_) => None,
        }
    }

    /// Panics if a datagram arrives within `ms` (scaled).
    pub fn expect_nothing(&self, ms: u64) {
        if let Some((d, from)) = self.recv_within(scaled(ms)) {
            panic!(
                "unexpected datagram from {from}: {:?}",
                String::from_utf8_lossy(&d)
            );
        }
    }
}
