//! The `edgesip` binary: arguments, logging, secret, then the daemon loop.

use std::process::ExitCode;

use edgesip::config::{parse_args, Command, USAGE};
use edgesip::{daemon, key, proxy::Proxy};
use log::warn;

/// Exit status for bad arguments and start-up failures.
const FAIL: u8 = 2;

fn main() -> ExitCode {
    let cfg = match parse_args(std::env::args().skip(1)) {
        Ok(Command::Run(cfg)) => cfg,
        Ok(Command::Help) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(Command::Version) => {
            println!("edgesip {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Err(e) => return fail(&e),
    };
    daemon::init_logger(cfg.log_level);

    let secret = match &cfg.key_file {
        Some(path) => match key::load_or_create(path) {
            Ok(s) => s,
            Err(e) => return fail(&e.to_string()),
        },
        None => match key::random_secret() {
            Ok(s) => {
                warn!("no --key-file: Contact tokens stop working when edgesip restarts");
                s
            }
            Err(e) => return fail(&format!("cannot read random bytes for the secret: {e}")),
        },
    };
    let proxy = match Proxy::new(&cfg, secret.as_bytes()) {
        Ok(p) => p,
        Err(e) => return fail(&e),
    };
    match daemon::run(cfg, proxy) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e.to_string()),
    }
}

/// The one line a failed start leaves on stderr.
fn fail(msg: &str) -> ExitCode {
    eprintln!("edgesip: {msg}");
    ExitCode::from(FAIL)
}
