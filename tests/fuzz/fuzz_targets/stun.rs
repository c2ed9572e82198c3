//! The `stun` target; its input format and checks are documented in
//! `check/stun.rs`, shared with `tests/fuzz_regressions.rs` through `checks.rs`.
#![no_main]

#[path = "checks.rs"]
mod checks;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    checks::stun::stun(data);
});
