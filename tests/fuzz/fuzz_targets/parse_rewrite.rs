//! Untrusted datagram -> `Message::parse` -> every accessor -> a proxy-like
//! rewrite -> `emit`, and a stateless response with `write_response`.
//! The checks live in `checks.rs`, shared with `tests/fuzz_regressions.rs`,
//! which replays past findings (tests/data/fuzz-regressions/) in
//! `cargo test`. Every violation panics: there is no list of known issues.
#![no_main]

#[path = "checks.rs"]
mod checks;

use edgesip::sip::MAX_DATAGRAM;
use libfuzzer_sys::fuzz_target;
use std::cell::RefCell;

thread_local! {
    /// Send buffers, reused across runs as the proxy reuses its own.
    static BUFS: RefCell<(Vec<u8>, Vec<u8>)> =
        RefCell::new((vec![0u8; MAX_DATAGRAM], vec![0u8; MAX_DATAGRAM]));
}

fuzz_target!(|data: &[u8]| {
    BUFS.with_borrow_mut(|(out, resp)| {
        checks::check_input(data, out, resp);
    });
});
