//! `sdp::find_sdp` + `Sdp::parse` + the line and media views on untrusted
//! bytes. Input: `<Content-Type value>\n<body>`; an input whose first byte
//! is `\n` has no Content-Type at all.
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match data.iter().position(|b| *b == b'\n') {
        Some(0) => common::exercise_sdp(None, &data[1..]),
        Some(nl) => common::exercise_sdp(Some(&data[..nl]), &data[nl + 1..]),
        None => common::exercise_sdp(None, data),
    }
    // The body alone, as if Content-Type were application/sdp.
    if let Ok(sdp) = edgesip::sdp::Sdp::parse(data) {
        let _ = sdp.lines().count();
        let _ = sdp.media().count();
    }
});
