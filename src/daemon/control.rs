//! The control socket (`--control PATH`): a Unix datagram socket in the
//! same poll, mode 0600, where `edgesip status` asks and the core's status
//! writer answers. One request line in, one datagram out; the buffers are
//! allocated once, and a client that does not read its answer loses it
//! rather than blocking the loop.

use std::io::{self, ErrorKind};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};

use crate::proxy::Proxy;
use crate::status::{self, MAX_ANSWER, MAX_REQUEST};
use crate::stream::TcpStats;
use crate::time::Instant;

pub struct Control {
    sock: UnixDatagram,
    path: PathBuf,
    request: [u8; MAX_REQUEST],
    answer: Box<[u8]>,
}

impl Control {
    /// Binds `path`, readable and writable by this user only. A socket
    /// left by an edgesip that was killed (nobody answers on it) is
    /// replaced, so procd's respawn works after a SIGKILL; a live socket,
    /// any other file, or a folder that does not exist is an error.
    pub fn bind(path: &Path) -> Result<Control, String> {
        let shown = path.display();
        if let Ok(meta) = path.symlink_metadata() {
            if !meta.file_type().is_socket() {
                return Err(format!(
                    "control socket {shown}: the path exists and is not a socket"
                ));
            }
            if !stale(path) {
                return Err(format!(
                    "control socket {shown}: another edgesip answers there"
                ));
            }
            std::fs::remove_file(path).map_err(|e| {
                format!("control socket {shown}: cannot remove the stale socket: {e}")
            })?;
        }
        let sock = super::sys::bind_private(path)
            .map_err(|e| format!("control socket {shown}: cannot bind: {e}"))?;
        sock.set_nonblocking(true)
            .map_err(|e| format!("control socket {shown}: {e}"))?;
        Ok(Control {
            sock,
            path: path.to_path_buf(),
            request: [0; MAX_REQUEST],
            answer: vec![0; MAX_ANSWER].into_boxed_slice(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Answers every request waiting, from the core's state at `now`.
    pub fn serve(&mut self, p: &Proxy, tcp: Option<&TcpStats>, now: Instant) -> io::Result<()> {
        loop {
            let (n, from) = match self.sock.recv_from(&mut self.request) {
                Ok(r) => r,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let req = self.request.get(..n).unwrap_or_default();
            let len = status::answer(p, tcp, now, req, &mut self.answer);
            // A client gone or not reading loses its answer.
            if let Some(a) = self.answer.get(..len) {
                let _ = self.sock.send_to_addr(a, &from);
            }
        }
    }
}

/// A socket nobody is bound to refuses a connect; one that accepts it has
/// a live daemon behind it.
fn stale(path: &Path) -> bool {
    let Ok(probe) = UnixDatagram::unbound() else {
        return false;
    };
    matches!(probe.connect(path), Err(e) if e.kind() == ErrorKind::ConnectionRefused)
}

impl AsRawFd for Control {
    fn as_raw_fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }
}

impl Drop for Control {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
