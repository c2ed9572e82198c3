//! Replays, in plain `cargo test` and without libFuzzer, everything the
//! fuzz targets ever found (tests/data/fuzz-regressions/) and their seed
//! corpora (tests/fuzz/seeds/) through the targets' own checks
//! (`tests/fuzz/fuzz_targets/checks.rs`): the real proxy with one leg and
//! with two (a public one), the registrar and the NAT helper on, DNS
//! answers, tokens and STUN.
//!
//! - `tests/data/fuzz-regressions/*.sip|*.bin`: single datagrams (the
//!   `parse_rewrite` target's findings F1-F6): each goes to both proxies,
//!   on every leg from every source, and what `Message::parse` says about
//!   it since its fix is pinned in [`EXPECTED`];
//! - `tests/data/fuzz-regressions/<target>/*`: inputs of that target,
//!   replayed through it.

#[path = "fuzz/fuzz_targets/checks.rs"]
mod checks;

use checks::script::Run;
use checks::setup::{Setup, SOURCES};
use edgesip::output::Why;
use edgesip::sip::{Error, HeaderName, Message};
use std::fs;
use std::path::{Path, PathBuf};

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

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The files in `dir` (not its folders), sorted; with `exts`, only those.
fn files(dir: &Path, exts: &[&str]) -> Vec<(String, Vec<u8>)> {
    let Ok(rd) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<(String, Vec<u8>)> = rd
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .filter(|p| {
            let ext = p.extension().and_then(|x| x.to_str()).unwrap_or_default();
            exts.is_empty() || exts.contains(&ext)
        })
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            !name.starts_with('.') && !name.ends_with(".md") && !name.ends_with(".py")
        })
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let data = fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (name, data)
        })
        .collect();
    files.sort();
    files
}

/// Runs `data` through fuzz target `target`'s checks.
fn replay(target: &str, data: &[u8]) {
    match target {
        "parse_rewrite" => {
            checks::datagram(data, 0);
        }
        "parse_sdp" => checks::common::exercise_sdp(None, data),
        "proxy_one_leg" => checks::script::run_script(Setup::OneLeg, data),
        "proxy_two_legs" => checks::script::run_script(Setup::TwoLegs, data),
        "dns_response" => checks::dns::dns_response(data),
        "token_decode" => checks::token::token_decode(data),
        "stun" => checks::stun::stun(data),
        t => panic!("no fuzz target {t}"),
    }
}

const TARGETS: &[&str] = &[
    "parse_rewrite",
    "parse_sdp",
    "proxy_one_leg",
    "proxy_two_legs",
    "dns_response",
    "token_decode",
    "stun",
];

#[test]
fn test_fuzz_findings_pass_the_fuzz_checks() {
    let dir = root().join("tests/data/fuzz-regressions");
    let files = files(&dir, &["sip", "bin"]);
    assert!(files.len() >= 10, "only {} inputs found", files.len());
    for (name, data) in &files {
        eprintln!("replaying {name}");
        // Both legs, every source (`pick` = leg | source << 4).
        let mut parsed = false;
        for pick in 0..=255u8 {
            if usize::from(pick >> 4) < SOURCES.len() && pick & 0x0e == 0 {
                parsed = checks::datagram(data, pick);
            }
        }
        if let Some((_, want)) = EXPECTED.iter().find(|(n, _)| n == name) {
            assert_eq!(Message::parse(data).map(|_| ()), *want, "{name}");
            assert_eq!(parsed, want.is_ok(), "{name}");
        }
    }
    for (name, _) in EXPECTED {
        assert!(files.iter().any(|(n, _)| n == name), "{name} is missing");
    }
}

#[test]
fn test_fuzz_target_findings_pass_their_checks() {
    for target in TARGETS {
        let dir = root().join("tests/data/fuzz-regressions").join(target);
        for (name, data) in files(&dir, &[]) {
            eprintln!("replaying {target}/{name}");
            replay(target, &data);
        }
    }
}

#[test]
fn test_fuzz_seeds_pass_their_checks() {
    let mut n = 0;
    for target in TARGETS {
        let dir = root().join("tests/fuzz/seeds").join(target);
        for (name, data) in files(&dir, &[]) {
            eprintln!("seed {target}/{name}");
            replay(target, &data);
            n += 1;
        }
    }
    assert!(n >= 10, "only {n} seeds");
}

/// A seed script, run step by step, so a test can look at the proxy.
fn run_seed(setup: Setup, target: &str, name: &str) -> Run {
    let path = root().join("tests/fuzz/seeds").join(target).join(name);
    let data = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut run = Run::new(setup);
    for step in checks::script::steps(&data) {
        run.step(step);
    }
    run
}

/// The seeds reach what they are for: a script's placeholders really
/// answer the proxy (responses with `$V` verify, requests to `$C` are
/// tokens that decode, `$A` passes the digest), media is relayed both
/// ways, and DNS answers get a parked request out.
#[test]
fn test_fuzz_seeds_reach_deep() {
    let clean = |s: &edgesip::proxy::Stats| {
        assert_eq!(
            (
                s.counted(Why::BadToken(None)),
                s.counted(Why::BadBranch),
                s.counted(Why::Malformed(Error::BodyTruncated)),
                s.dropped
            ),
            (0, 0, 0, 0),
            "{s:?}"
        );
    };
    // INVITE, 100, 180, 200, ACK to the callee's token, BYE from the WAN
    // to the caller's token and its 200; RTP both ways.
    let mut run = run_seed(Setup::TwoLegs, "proxy_two_legs", "call-lan-to-wan");
    let s = run.proxy.stats().clone();
    clean(&s);
    assert_eq!(
        (s.requests_forwarded, s.responses_forwarded),
        (3, 4),
        "{s:?}"
    );
    let relay = run.proxy.relay_table().unwrap().stats().clone();
    assert_eq!(relay.relayed, 3, "{relay:?}");
    run.finish();

    // 401, then 200 with `$A`; the WAN's INVITE for the AoR goes to the
    // binding; its 200, ACK, BYE from the LAN and its 200.
    let mut run = run_seed(
        Setup::TwoLegs,
        "proxy_two_legs",
        "register-then-call-from-wan",
    );
    let s = run.proxy.stats().clone();
    clean(&s);
    assert_eq!(s.replies_sent, 2, "{s:?}");
    assert_eq!(
        (s.requests_forwarded, s.responses_forwarded),
        (3, 2),
        "{s:?}"
    );
    assert_eq!(run.proxy.registrar_mut().unwrap().len(), 1);
    assert_eq!(run.proxy.relay_table().unwrap().stats().relayed, 2);

    // REGISTER with the provider, its 200 (the token turned back), an
    // INVITE from the WAN for that token, 180, CANCEL, 487.
    let run = run_seed(
        Setup::TwoLegs,
        "proxy_two_legs",
        "register-with-provider-and-cancel",
    );
    let s = run.proxy.stats().clone();
    clean(&s);
    assert_eq!(
        (s.requests_forwarded, s.responses_forwarded),
        (3, 3),
        "{s:?}"
    );

    // The INVITE waits for NAPTR, SRV and A answers, then goes on.
    let run = run_seed(Setup::OneLeg, "proxy_one_leg", "call-via-dns");
    let s = run.proxy.stats().clone();
    assert_eq!(s.counted(Why::DnsWait), 1, "{s:?}");
    assert_eq!(
        (s.requests_forwarded, s.responses_forwarded),
        (2, 1),
        "{s:?}"
    );
}

/// A script from tests/data/fuzz-regressions/<target>/, run step by step.
fn run_finding(setup: Setup, target: &str, name: &str) -> Run {
    let path = root()
        .join("tests/data/fuzz-regressions")
        .join(target)
        .join(name);
    let data = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut run = Run::new(setup);
    for step in checks::script::steps(&data) {
        run.step(step);
    }
    run
}

/// P1: a provider's 200 to a REGISTER lists our token as an addr-spec
/// without brackets (`Contact: sip:b...@wan;expires=300`); turned back into
/// the phone's `sip:4930@192.168.1.22:5060;transport=udp`, the URI's
/// `;transport=udp` read as a header parameter of the Contact. The URI is
/// bracketed now.
#[test]
fn test_p1_an_unwrapped_contact_keeps_its_uri_parameters() {
    let run = run_finding(
        Setup::TwoLegs,
        "proxy_two_legs",
        "P1-unbracketed-contact-unwrapped.bin",
    );
    let out = run.last_out().expect("the 200 went to the phone");
    let m = Message::parse(out).unwrap();
    assert_eq!(m.status(), Some(200));
    let c = m.header(HeaderName::Contact).unwrap();
    assert_eq!(
        c.value,
        b"<sip:4930@192.168.1.22:5060;transport=udp>;expires=300"
    );
}
