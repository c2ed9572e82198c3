//! The `edgesip` binary: arguments, logging, secret, sockets, then the loop.

use std::process::ExitCode;

use edgesip::daemon::cli::{parse_args, Command, USAGE};
use edgesip::daemon::{key, log, Daemon};
use edgesip::proxy::Proxy;

#[global_allocator]
static ALLOC: edgesip::daemon::PageAlloc = edgesip::daemon::PageAlloc;

/// Exit status for bad arguments and start-up failures.
const FAIL: u8 = 2;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1).peekable();
    if args.peek().map(String::as_str) == Some("status") {
        args.next();
        return match edgesip::daemon::client::run(args) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e),
        };
    }
    let opts = match parse_args(args, &mut |p| std::fs::read_to_string(p)) {
        Ok(Command::Run(opts)) => opts,
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
    log::init_logger(opts.log_level);

    let secret = match &opts.key_file {
        Some(path) => key::load_or_create(path).map_err(|e| e.to_string()),
        None => key::random_secret().map_err(|e| format!("cannot read random bytes: {e}")),
    };
    let seed = key::random_seed().map_err(|e| format!("cannot read random bytes: {e}"));
    let (secret, seed) = match (secret, seed) {
        (Ok(s), Ok(d)) => (s, d),
        (Err(e), _) | (_, Err(e)) => return fail(&e),
    };
    let proxy = match Proxy::new(&opts.cfg, secret.as_bytes(), seed) {
        Ok(p) => p,
        Err(e) => return fail(&e),
    };
    let daemon = match Daemon::start(&opts) {
        Ok(d) => d,
        Err(e) => return fail(&e.to_string()),
    };
    // Warnings only now: a start that fails says one thing.
    if opts.key_file.is_none() {
        ::log::warn!("no --key-file: Contact tokens stop working when edgesip restarts");
    }
    match daemon.run(proxy) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e.to_string()),
    }
}

/// The one line a failed start leaves on stderr.
fn fail(msg: &str) -> ExitCode {
    eprintln!("edgesip: {msg}");
    ExitCode::from(FAIL)
}
