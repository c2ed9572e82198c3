//! Replays the inputs that fuzzing once found (tests/data/fuzz-regressions/)
//! through the checks of the `parse_rewrite` fuzz target: parse; when the
//! message is valid, the proxy-like rewrite must parse again, and a
//! stateless response must parse and carry a usable To tag. The checks are
//! the fuzz target's own (`tests/fuzz/fuzz_targets/checks.rs`).

#[path = "fuzz/fuzz_targets/checks.rs"]
mod checks;

use edgesip::sip::{Error, HeaderName, Message, MAX_DATAGRAM};
use std::fs;
use std::path::PathBuf;

/// What `Message::parse` says about each finding since its fix. A file not
/// listed here is still replayed through the checks.
const EXPECTED: &[(&str, Result<(), Error>)] = &[
    // F1: a repeated Content-Length, even with the same value, is refused
    // (it once made a new body update one copy only).
    (
        "F1-duplicate-content-length.sip",
        Err(Error::Conflict(HeaderName::ContentLength)),
    ),
    // F2: a To tag without a value is malformed.
    (
        "F2-to-tag-without-value.sip",
        Err(Error::Malformed(HeaderName::To)),
    ),
    // F3: a repeated received/rport makes the Via malformed.
    (
        "F3-repeated-received-set_via_param.sip",
        Err(Error::Malformed(HeaderName::Via)),
    ),
    (
        "F3-repeated-rport-set_via_param.sip",
        Err(Error::Malformed(HeaderName::Via)),
    ),
    // F4: a repeated Max-Forwards, even with the same value, is refused
    // (forwarding once decremented only the first).
    (
        "F4-duplicate-max-forwards-proxy.sip",
        Err(Error::Conflict(HeaderName::MaxForwards)),
    ),
    // F5: 127 header lines, whose rewrite would make 129 (emit refuses
    // that: sip::rewrite's test_no_more_header_lines_than_a_parse_accepts);
    // this input also holds control characters, refused since the parse
    // became strict.
    (
        "F5-raw-crash-too-many-headers-after-rewrite.bin",
        Err(Error::ControlChar),
    ),
    // F6: 26 copies of Max-Forwards, one edit each, more than a rewriter
    // holds; since a second Max-Forwards is refused (and this input holds
    // control characters) it no longer parses.
    (
        "F6-raw-crash-more-edits-than-max-edits.bin",
        Err(Error::ControlChar),
    ),
];

fn inputs() -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/fuzz-regressions");
    let mut files: Vec<(String, Vec<u8>)> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| matches!(p.extension().and_then(|x| x.to_str()), Some("sip" | "bin")))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let data = fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (name, data)
        })
        .collect();
    files.sort();
    files
}

#[test]
fn test_fuzz_findings_pass_the_fuzz_checks() {
    let files = inputs();
    assert!(files.len() >= 10, "only {} inputs found", files.len());
    let mut out = vec![0u8; MAX_DATAGRAM];
    let mut resp = vec![0u8; MAX_DATAGRAM];
    for (name, data) in &files {
        eprintln!("replaying {name}");
        let parsed = checks::check_input(data, &mut out, &mut resp);
        if let Some((_, want)) = EXPECTED.iter().find(|(n, _)| n == name) {
            assert_eq!(Message::parse(data).map(|_| ()), *want, "{name}");
            assert_eq!(parsed, want.is_ok(), "{name}");
        }
    }
    for (name, _) in EXPECTED {
        assert!(files.iter().any(|(n, _)| n == name), "{name} is missing");
    }
}

/// The raw crash inputs are replayed too, and each also under both parities
/// of its length (the harness picks `write_with_source` or `set_via_param`
/// by it).
#[test]
fn test_fuzz_findings_both_via_rewrites() {
    let mut out = vec![0u8; MAX_DATAGRAM];
    let mut resp = vec![0u8; MAX_DATAGRAM];
    for (name, data) in inputs() {
        let mut longer = data.clone();
        longer.push(b'\n');
        eprintln!("replaying {name} + LF");
        checks::check_input(&longer, &mut out, &mut resp);
    }
}
