//! One untrusted datagram: `Message::parse` and every accessor, then the
//! real proxy (one leg, and two legs with a public one) forwards, answers
//! or drops it, and every outcome goes through the proxy checks. The
//! hand-written rewrite model this target once had gave way to the proxy.
//! The checks live in `checks.rs`, shared with `tests/fuzz_regressions.rs`,
//! which replays past findings (tests/data/fuzz-regressions/) in
//! `cargo test`. Every violation panics: there is no list of known issues.
#![no_main]

#[path = "checks.rs"]
mod checks;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The leg and source from a hash, so the datagram stays plain SIP.
    let pick = data.iter().fold(0u8, |h, b| h.wrapping_mul(31) ^ *b);
    checks::datagram(data, pick);
});
