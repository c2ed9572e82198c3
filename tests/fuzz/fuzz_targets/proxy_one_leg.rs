//! A short script of datagrams, relay packets, timers and DNS answers driving a
//! real `Proxy` with one trusted leg, the registrar and the NAT
//! helper on. The script format and the checks are in `checks.rs`
//! (`check/script.rs`, `check/outcome.rs`), shared with
//! `tests/fuzz_regressions.rs`.
#![no_main]

#[path = "checks.rs"]
mod checks;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    checks::script::run_script(checks::setup::Setup::OneLeg, data);
});
