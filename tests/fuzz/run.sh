#!/usr/bin/env bash
# Fuzzes the SIP wire layer with cargo-fuzz (libFuzzer).
#
#   tests/fuzz/run.sh [SECONDS] [TARGET...]
#
# Runs each target (default: parse_rewrite and parse_sdp) for SECONDS
# (default 60). The corpus is seeded from tests/data/rfc4475 into
# tests/fuzz/corpus/<target>/ (not committed); crashes land in
# tests/fuzz/artifacts/<target>/ and make the script exit non-zero.
#
# cargo-fuzz needs unstable rustc flags (-Zsanitizer, coverage passes). On a
# stable toolchain RUSTC_BOOTSTRAP=1 unlocks them; a nightly works too
# (TOOLCHAIN=nightly). Environment knobs:
#   SANITIZER=address|none   (default address; none if ASan is unavailable)
#   TOOLCHAIN=<rustup name>  (default: the active toolchain)
#   FUZZ_ARGS="..."          extra libFuzzer flags
#
# A crash input worth keeping goes into tests/data/fuzz-regressions/, which
# tests/fuzz_regressions.rs replays in plain `cargo test`.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
seconds="${1:-60}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(parse_rewrite parse_sdp)
sanitizer="${SANITIZER:-address}"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "run.sh: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

cargo_fuzz() {
    if [ -n "${TOOLCHAIN:-}" ]; then
        nice env RUSTC_BOOTSTRAP=1 cargo "+$TOOLCHAIN" fuzz "$@"
    else
        nice env RUSTC_BOOTSTRAP=1 cargo fuzz "$@"
    fi
}

seed() {
    local target="$1" dir="$here/corpus/$1"
    mkdir -p "$dir"
    case "$target" in
    parse_rewrite)
        cp -n "$root"/tests/data/rfc4475/*.dat "$dir"/
        ;;
    parse_sdp)
        # "<Content-Type>\n<body>" for each torture message with a body.
        if command -v python3 >/dev/null; then
            python3 - "$root/tests/data/rfc4475" "$dir" <<'PY'
import os, re, sys
src, dst = sys.argv[1], sys.argv[2]
for name in sorted(os.listdir(src)):
    if not name.endswith(".dat"):
        continue
    raw = open(os.path.join(src, name), "rb").read()
    m = re.search(rb"\r?\n\r?\n", raw)
    if not m or m.end() >= len(raw):
        continue
    head, body = raw[:m.start()], raw[m.end():]
    ct = re.search(rb"(?im)^(?:content-type|c)[ \t]*:[ \t]*([^\r\n]*)", head)
    out = (ct.group(1) if ct else b"") + b"\n" + body
    with open(os.path.join(dst, name[:-4] + ".sdp"), "wb") as f:
        f.write(out)
PY
        fi
        printf 'application/sdp\nv=0\r\no=- 1 1 IN IP4 10.0.0.5\r\ns=-\r\nc=IN IP4 10.0.0.5\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 8\r\na=rtcp:4001 IN IP4 10.0.0.5\r\na=sendonly\r\nm=video 0 RTP/AVP 96\r\na=rtcp-mux\r\na=candidate:1 1 UDP 1 10.0.0.5 4000 typ host\r\n' \
            >"$dir/seed_offer.sdp"
        printf 'multipart/mixed;boundary=b1\n--b1\r\nContent-Type: application/sdp\r\n\r\nv=0\r\no=- 1 1 IN IP6 ::1\r\nc=IN IP6 ::1\r\nm=audio 5004 RTP/AVP 0\r\n\r\n--b1--\r\n' \
            >"$dir/seed_multipart.sdp"
        ;;
    esac
}

cd "$here"
status=0
for t in "${targets[@]}"; do
    seed "$t"
    echo "run.sh: fuzzing $t for ${seconds}s (sanitizer: $sanitizer)" >&2
    cargo_fuzz run --fuzz-dir "$here" --sanitizer "$sanitizer" --debug-assertions "$t" -- \
        -max_total_time="$seconds" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
        -dict="$here/sip.dict" -print_final_stats=1 ${FUZZ_ARGS:-} || status=$?
    [ "$status" -eq 0 ] || break
done
exit "$status"
