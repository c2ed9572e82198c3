#!/usr/bin/env bash
# Fuzzes the core with cargo-fuzz (libFuzzer).
#
#   tests/fuzz/run.sh [SECONDS] [TARGET...]
#
# Runs each target for SECONDS (default 60), one after the other. Targets:
#   proxy_one_leg    scripts driving a real Proxy: one trusted leg, registrar,
#                    NAT helper, routes, DNS answers
#   proxy_two_legs   the same with a trusted LAN leg and a public WAN leg
#   parse_rewrite    one datagram: parse, accessors, both proxies
#   parse_sdp        find_sdp + Sdp::parse
#   dns_response     dns::Response::parse and the resolver's answer path
#   token_decode     token::decode, encode/decode round trips, Tokens
#   stun             STUN Binding requests through Proxy::handle
# Default: all of them. The input formats and the checks are documented in
# fuzz_targets/checks.rs and fuzz_targets/check/*.rs.
#
# The corpus is seeded into tests/fuzz/corpus/<target>/ (not committed) from
# tests/fuzz/seeds/<target>/ (written by seeds/make.py), the RFC 4475
# torture messages (as datagrams, and as one-step scripts for the proxy
# targets) and tests/data/fuzz-regressions/; crashes land in
# tests/fuzz/artifacts/<target>/ and make the script exit non-zero.
#
# cargo-fuzz needs unstable rustc flags (-Zsanitizer, coverage passes). On a
# stable toolchain RUSTC_BOOTSTRAP=1 unlocks them; a nightly works too
# (TOOLCHAIN=nightly). Environment knobs:
#   SANITIZER=address|none   (default address; none if ASan is unavailable)
#   TOOLCHAIN=<rustup name>  (default: the active toolchain)
#   FUZZ_ARGS="..."          extra libFuzzer flags (e.g. -jobs=1 -workers=1)
#
# Everything runs under nice: fuzzing shares the machine.
#
# A crash input worth keeping goes into tests/data/fuzz-regressions/<target>/
# (single datagrams of parse_rewrite at the top level), which
# tests/fuzz_regressions.rs replays in plain `cargo test`.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
seconds="${1:-60}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] ||
    targets=(proxy_one_leg proxy_two_legs parse_rewrite parse_sdp dns_response token_decode stun)
sanitizer="${SANITIZER:-address}"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "run.sh: installing cargo-fuzz" >&2
    nice cargo install cargo-fuzz --locked
fi

cargo_fuzz() {
    if [ -n "${TOOLCHAIN:-}" ]; then
        nice env RUSTC_BOOTSTRAP=1 cargo "+$TOOLCHAIN" fuzz "$@"
    else
        nice env RUSTC_BOOTSTRAP=1 cargo fuzz "$@"
    fi
}

# Copies the files of $1 (if any) into corpus folder $2.
copy_seeds() {
    [ -d "$1" ] || return 0
    find "$1" -maxdepth 1 -type f ! -name '*.py' ! -name '*.md' ! -name '.*' \
        -exec cp -n {} "$2"/ \;
}

seed() {
    local target="$1" dir="$here/corpus/$1"
    mkdir -p "$dir"
    copy_seeds "$here/seeds/$target" "$dir"
    copy_seeds "$root/tests/data/fuzz-regressions/$target" "$dir"
    case "$target" in
    parse_rewrite)
        cp -n "$root"/tests/data/rfc4475/*.dat "$dir"/
        copy_seeds "$root/tests/data/fuzz-regressions" "$dir"
        ;;
    proxy_one_leg | proxy_two_legs)
        # Each torture message as a one-step script: a datagram on leg 0
        # from phone A ("00"), and on leg 1 from an attacker ("8:").
        local f n
        for f in "$root"/tests/data/rfc4475/*.dat; do
            n="$(basename "$f" .dat)"
            [ -e "$dir/rfc-$n" ] || { printf '00'; cat "$f"; } >"$dir/rfc-$n"
            [ "$target" = proxy_one_leg ] || [ -e "$dir/rfc-wan-$n" ] ||
                { printf '8:'; cat "$f"; } >"$dir/rfc-wan-$n"
        done
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

max_len() {
    case "$1" in
    proxy_one_leg | proxy_two_legs) echo 16384 ;;
    dns_response | token_decode | stun) echo 2048 ;;
    *) echo 8192 ;;
    esac
}

cd "$here"
status=0
for t in "${targets[@]}"; do
    seed "$t"
    echo "run.sh: fuzzing $t for ${seconds}s (sanitizer: $sanitizer)" >&2
    cargo_fuzz run --fuzz-dir "$here" --sanitizer "$sanitizer" --debug-assertions "$t" -- \
        -max_total_time="$seconds" -max_len="$(max_len "$t")" -timeout=10 -rss_limit_mb=2048 \
        -dict="$here/sip.dict" -print_final_stats=1 ${FUZZ_ARGS:-} || status=$?
    [ "$status" -eq 0 ] || break
done
exit "$status"
