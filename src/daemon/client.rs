//! `edgesip status [--json | --prometheus] [--control PATH]`: asks a
//! running edgesip on its control socket and prints the answer: a table
//! for a person, one JSON object for LuCI and scripts, or the Prometheus
//! text format. It runs apart from the daemon, so it may allocate.

use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::path::PathBuf;
use std::time::Duration;

use crate::status::MAX_ANSWER;

/// Where the OpenWrt package puts the socket.
pub const DEFAULT_CONTROL: &str = "/var/run/edgesip/control";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Text,
    Json,
    Prometheus,
}

/// Runs the subcommand with its arguments (after `status`); the text to
/// print, or a one-line error.
pub fn run(args: impl Iterator<Item = String>) -> Result<String, String> {
    let mut format = Format::Text;
    let mut path = PathBuf::from(DEFAULT_CONTROL);
    let mut args = args;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--json" => format = Format::Json,
            "--prometheus" => format = Format::Prometheus,
            "--control" => {
                path = args
                    .next()
                    .filter(|p| !p.is_empty())
                    .ok_or("--control needs a path")?
                    .into();
            }
            _ => match a.strip_prefix("--control=") {
                Some(p) if !p.is_empty() => path = p.into(),
                _ => return Err(format!("status: unknown argument {a:?}; try --help")),
            },
        }
    }
    let ask = Asker::new(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let shown = path.display();
    let ask = |req: &str| ask.ask(req).map_err(|e| format!("{shown}: {e}"));
    match format {
        Format::Prometheus => ask("summary prometheus").map(|(_, b)| b),
        Format::Text => {
            let mut out = ask("summary text")?.1;
            for table in ["bindings", "calls", "registrations"] {
                let rows = all(&ask, table, "text", "")?;
                if !rows.is_empty() {
                    out.push('\n');
                    out.push_str(&rows);
                }
            }
            Ok(out)
        }
        Format::Json => {
            let summary = ask("summary json")?.1;
            let mut out = summary
                .trim_end()
                .strip_suffix('}')
                .ok_or("the summary is not a JSON object")?
                .to_string();
            for table in ["bindings", "calls", "registrations"] {
                let items = all(&ask, table, "json", ",")?;
                out.push_str(&format!(",\"{table}\":[{items}]"));
            }
            out.push_str("}\n");
            Ok(out)
        }
    }
}

/// Every part of a table, from record 0 until `end`; JSON parts are joined
/// with `sep`.
fn all(
    ask: &impl Fn(&str) -> Result<(Option<usize>, String), String>,
    table: &str,
    format: &str,
    sep: &str,
) -> Result<String, String> {
    let mut out = String::new();
    let mut from = 0;
    loop {
        let (next, body) = ask(&format!("{table} {format} {from}"))?;
        if !out.is_empty() && !body.is_empty() {
            out.push_str(sep);
        }
        out.push_str(&body);
        match next {
            Some(n) if n > from => from = n,
            Some(_) => return Err(format!("{table}: a record too large for one answer")),
            None => return Ok(out),
        }
    }
}

/// A socket of our own, in the abstract namespace (no file to clean up),
/// connected to the daemon's.
struct Asker {
    sock: UnixDatagram,
}

impl Asker {
    fn new(path: &std::path::Path) -> io::Result<Asker> {
        let name = format!("edgesip-status-{}", std::process::id());
        let me = SocketAddr::from_abstract_name(name.as_bytes())?;
        let sock = UnixDatagram::bind_addr(&me)?;
        sock.connect(path)?;
        sock.set_read_timeout(Some(Duration::from_secs(2)))?;
        Ok(Asker { sock })
    }

    /// Sends one request; the answer's `next N` (or `None` for `end`) and
    /// its body.
    fn ask(&self, req: &str) -> io::Result<(Option<usize>, String)> {
        self.sock.send(req.as_bytes())?;
        let mut buf = vec![0u8; MAX_ANSWER + 64];
        let n = self.sock.recv(&mut buf).map_err(|e| {
            if e.kind() == io::ErrorKind::WouldBlock {
                io::Error::new(io::ErrorKind::TimedOut, "no answer from edgesip")
            } else {
                e
            }
        })?;
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        let (head, body) = text.split_once('\n').unwrap_or((&text, ""));
        let next = match head {
            "end" => None,
            h => match h.strip_prefix("next ").and_then(|n| n.parse().ok()) {
                Some(n) => Some(n),
                None => return Err(io::Error::other(head.to_string())),
            },
        };
        Ok((next, body.to_string()))
    }
}
