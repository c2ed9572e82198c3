#!/usr/bin/env bash
# Cross-build edgesip for router CPUs and run the whole test suite under
# qemu-user.
#
#   board/qemu/test.sh [musl|glibc] [TARGET...]
#
# musl (default): the binaries OpenWrt routers run, static, linked by Zig's
#   bundled musl (board/musl/zig-cc; Zig comes from PyPI's `ziglang`):
#   armv7-unknown-linux-musleabihf, aarch64-unknown-linux-musl,
#   mipsel-unknown-linux-musl, mips-unknown-linux-musl.  Static binaries need
#   no sysroot under qemu.  The shipped build (profile router; std without
#   the backtrace feature) is checked with `file` (statically linked,
#   stripped, machine, byte order) and its size reported.
# glibc: the glibc twins (same ISA, word size and byte order), linked by
#   Debian's cross gcc against Debian's cross glibc, run with qemu -L.
# No TARGET: all four of the set.  Debian's rustc-web builds std from
# rust-web-src (-Zbuild-std) for every target.
#
# Environment knobs (all optional):
#   EDGESIP_QEMU_SET         musl | glibc (the first argument wins)
#   CARGO_TARGET_DIR         keep it between runs: std is rebuilt when it is cold
#   EDGESIP_QEMU_STD         build (default) | prebuilt   (glibc only, see std_route below)
#   EDGESIP_QEMU_TIMEOUT     seconds allowed for one target's `cargo test`,
#                            build included (1800)
#   EDGESIP_QEMU_VERBOSE=1   stream cargo's output instead of keeping it in logs
#   EDGESIP_ZIG              the zig binary to link with (default: see board/musl/zig-cc)
#   EDGESIP_QEMU_PROFILE     profile of the size build (default: router, what routers ship)
set -euo pipefail

MUSL_TARGETS=(armv7-unknown-linux-musleabihf aarch64-unknown-linux-musl
              mipsel-unknown-linux-musl mips-unknown-linux-musl)
GLIBC_TARGETS=(armv7-unknown-linux-gnueabihf aarch64-unknown-linux-gnu
               mipsel-unknown-linux-gnu mips-unknown-linux-gnu)
# Where board/musl/zig-cc looks for the PyPI ziglang package, and its version.
ZIG_DIR=/var/tmp/edgesip-zig
ZIG_VERSION=0.17.1

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"

# Debian's toolchain, for this script only: ~/.cargo/bin (rustup) stays first
# in PATH for everybody else, and .cargo/config.toml has no build.rustc.
# RUSTC_BOOTSTRAP=1 unlocks -Zbuild-std on this stable compiler.
# RUST_BACKTRACE=1 makes panicking tests under qemu ~15x slower.
CARGO=/usr/bin/cargo
export RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc RUSTC_BOOTSTRAP=1 RUST_BACKTRACE=0
# Tests that need host-only tools (sipp, perl, ...) skip themselves on this.
export EDGESIP_QEMU=1
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
STD_ROUTE=${EDGESIP_QEMU_STD:-build}
TEST_TIMEOUT=${EDGESIP_QEMU_TIMEOUT:-1800}
VERBOSE=${EDGESIP_QEMU_VERBOSE:-0}
LOG_DIR=$TARGET_DIR/qemu-logs

die() { echo "test.sh: $*" >&2; exit 2; }

is_musl() { case $1 in *-musl*) return 0 ;; *) return 1 ;; esac; }
# GNU triple of the cross gcc/glibc, qemu binary and Debian arch per target.
gnu_triple() {
    case $1 in
        armv7-unknown-linux-gnueabihf) echo arm-linux-gnueabihf ;;
        aarch64-unknown-linux-gnu)     echo aarch64-linux-gnu ;;
        mipsel-unknown-linux-gnu)      echo mipsel-linux-gnu ;;
        mips-unknown-linux-gnu)        echo mips-linux-gnu ;;
        *-musl*) [ -e "$ROOT/board/musl/$1-cc" ] && echo "$1" ;;
        *) return 1 ;;
    esac
}
# What `file` says about a correct binary of the target.
file_machine() {
    case $1 in
        armv7-*) echo "32-bit LSB .*ARM" ;; aarch64-*) echo "64-bit LSB .*ARM aarch64" ;;
        mipsel-*) echo "32-bit LSB .*MIPS" ;; mips-*) echo "32-bit MSB .*MIPS" ;;
    esac
}
qemu_bin() {
    case $1 in
        armv7-*) echo qemu-arm ;; aarch64-*) echo qemu-aarch64 ;;
        mipsel-*) echo qemu-mipsel ;; mips-*) echo qemu-mips ;;
    esac
}
deb_arch() {
    case $1 in
        armv7-*) echo armhf ;; aarch64-*) echo arm64 ;;
        mipsel-*) echo mipsel ;; mips-*) echo mips ;;
    esac
}

# --- packages: install only what is missing, so reruns cost nothing -------
pkg_installed() {
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]
}
ensure_packages() {
    local want=(rustc-web cargo-web rust-web-src qemu-user file) missing=() p t
    # libc6-dev-*-cross is only a Recommends of the cross gcc, and we install
    # without recommends: without it the link fails on missing crti.o.
    for t in "$@"; do
        if is_musl "$t"; then
            # pip, for Zig, only where neither zig nor pip is there.
            command -v zig >/dev/null || [ -x "$ZIG_DIR/ziglang/zig" ] ||
                python3 -m pip --version >/dev/null 2>&1 || want+=(python3-pip)
        else
            want+=("gcc-$(gnu_triple "$t")" "libc6-dev-$(deb_arch "$t")-cross")
        fi
    done
    for p in "${want[@]}"; do pkg_installed "$p" || missing+=("$p"); done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "== installing: ${missing[*]}"
    [ "$(id -u)" -eq 0 ] || die "need root to apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    local log
    log=$(mktemp)
    # A flaky index (seen: armhf security) makes update fail while the
    # packages we need are still installable, so only install decides.
    apt-get update -q >"$log" 2>&1 || echo "   (apt-get update reported errors; trying the install anyway)"
    if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$log" 2>&1; then
        tail -n 30 "$log" >&2
        rm -f "$log"
        die "apt-get install ${missing[*]} failed"
    fi
    rm -f "$log"
}

# Zig, the musl linker (board/musl/zig-cc finds it in $ZIG_DIR): PyPI's
# ziglang wheel holds the zig binary and its bundled musl for every target.
# --target installs outside any Python environment (and is allowed on
# Debian's externally managed Python).
ensure_zig() {
    [ -n "${EDGESIP_ZIG:-}" ] && return 0
    command -v zig >/dev/null && return 0
    [ "$("$ZIG_DIR/ziglang/zig" version 2>/dev/null)" = "$ZIG_VERSION" ] && return 0
    echo "== installing ziglang==$ZIG_VERSION (PyPI) into $ZIG_DIR"
    rm -rf "$ZIG_DIR"
    python3 -m pip install -q --disable-pip-version-check --no-warn-script-location \
        --target "$ZIG_DIR" "ziglang==$ZIG_VERSION" || die "pip install ziglang failed"
    "$ZIG_DIR/ziglang/zig" version >/dev/null || die "$ZIG_DIR/ziglang/zig does not run"
}

# --- std route ---------------------------------------------------------------
# "build" (default): -Zbuild-std compiles std from rust-web-src for every
#   target.  Works for all four; costs 1-3 min per target and profile when
#   the target dir is cold, nothing when warm.  The size build always
#   takes this route so its size is the real one (std rebuilt with our
#   opt-level and panic=abort).
# "prebuilt": the test build of armv7/aarch64 uses Debian's
#   libstd-rust-web-dev:<arch> instead (saves the cold std build of the test
#   profile).  The .deb is fetched with a private apt state (the system's apt
#   lists and architectures are untouched) and only its rlibs are copied into
#   rustc's sysroot, with a version stamp; it is never apt-installed, which
#   would drag in a foreign libc6 that makes threads spin forever under qemu.
#   Any failure (e.g. the armhf security index being inconsistent) falls back
#   to build-std.
std_libdir() { echo "$("$RUSTC" --print sysroot)/lib/rustlib/$1/lib"; }
prebuilt_std_ready() {
    local dir ver
    dir=$(std_libdir "$1")
    ver=$(dpkg-query -W -f='${Version}' rustc-web)
    [ "$(cat "$dir/.edgesip-debian-std" 2>/dev/null)" = "$ver" ]
}
fetch_prebuilt_std() {
    local target=$1 arch ver tmp dir
    arch=$(deb_arch "$target")
    case $arch in armhf | arm64) ;; *) return 1 ;; esac
    prebuilt_std_ready "$target" && return 0
    dir=$(std_libdir "$target")
    # Only replace a std we put there ourselves (stamped, older rustc-web):
    # stale rlibs next to new ones give "multiple candidates for std".
    if [ -d "$dir" ] && [ ! -f "$dir/.edgesip-debian-std" ]; then
        echo "   $dir exists but was not made by this script; using -Zbuild-std"
        return 1
    fi
    ver=$(dpkg-query -W -f='${Version}' rustc-web) || return 1
    tmp=$(mktemp -d)
    mkdir -p "$tmp/lists/partial" "$tmp/archives/partial"
    local opts=(-o "Dir::State::Lists=$tmp/lists" -o "Dir::Cache::archives=$tmp/archives"
                -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache=
                -o APT::Architectures::=amd64 -o "APT::Architectures::=$arch"
                -o APT::Sandbox::User=root)
    echo "== fetching libstd-rust-web-dev:$arch=$ver (unpacked, not installed)"
    # update may report a broken index of another suite and still be usable.
    apt-get "${opts[@]}" update -q >"$tmp/log" 2>&1 || true
    if (cd "$tmp" && apt-get "${opts[@]}" download "libstd-rust-web-dev:$arch=$ver") >>"$tmp/log" 2>&1 &&
        dpkg-deb -x "$tmp"/libstd-rust-web-dev_*.deb "$tmp/root" &&
        [ -d "$tmp/root/usr/lib/rustlib/$target/lib" ]; then
        rm -rf "$dir"
        mkdir -p "$(dirname "$dir")"
        cp -r "$tmp/root/usr/lib/rustlib/$target/lib" "$dir"
        echo "$ver" >"$dir/.edgesip-debian-std"
        rm -rf "$tmp"
        return 0
    fi
    echo "   prebuilt std unavailable; falling back to -Zbuild-std. apt said:"
    grep -E '^(E|W):' "$tmp/log" | tail -n 5 | sed 's/^/   /' || true
    rm -rf "$tmp"
    return 1
}

# Run a command with its output kept in a log (or streamed when VERBOSE=1).
logged() {
    local log=$1; shift
    if [ "$VERBOSE" = 1 ]; then "$@" 2>&1 | tee "$log"; return "${PIPESTATUS[0]}"
    else "$@" >"$log" 2>&1; fi
}

# --- one target ------------------------------------------------------------------
declare -A R_STATUS R_PASSED R_FAILED R_TIME R_BUILD R_TEST R_SIZE
# Elapsed seconds since $1, for the step lines.
since() { echo $(( $(date +%s) - $1 ))s; }
run_target() {
    local t=$1 qemu start mid end bin size rc=0 test_std=(-Zbuild-std) build_std
    qemu=$(qemu_bin "$t")
    # Integration tests that spawn the edgesip binary prefix it with this
    # (no binfmt_misc here, so a foreign ELF cannot be exec'd directly).
    if is_musl "$t"; then
        export EDGESIP_TEST_RUNNER=$qemu
        # std without the backtrace feature (nothing to symbolise with
        # panic=abort and a stripped binary), with core's and alloc's
        # smaller algorithms (optimize_for_size).  The linker flags are in
        # .cargo/config.toml ([target.*-musl*] rustflags).
        build_std=("-Zbuild-std=std,panic_abort" -Zbuild-std-features=optimize_for_size)
    else
        EDGESIP_TEST_RUNNER="$qemu -L /usr/$(gnu_triple "$t")"; export EDGESIP_TEST_RUNNER
        build_std=("-Zbuild-std=std,panic_abort")
    fi
    local profile=${EDGESIP_QEMU_PROFILE:-router}
    R_STATUS[$t]=FAIL R_PASSED[$t]=0 R_FAILED[$t]=- R_SIZE[$t]=- R_BUILD[$t]=- R_TEST[$t]=-
    echo "== $t ($EDGESIP_TEST_RUNNER)"
    start=$(date +%s)

    if ! logged "$LOG_DIR/$t-$profile.log" \
        nice -n 10 "$CARGO" build --profile "$profile" "${build_std[@]}" --target "$t"; then
        echo "!! $profile build failed for $t; last lines of $LOG_DIR/$t-$profile.log:"
        tail -n 60 "$LOG_DIR/$t-$profile.log"
        R_TIME[$t]=$(( $(date +%s) - start )); return 1
    fi
    mid=$(date +%s); R_BUILD[$t]=$((mid - start))
    echo "   $profile build: $(since "$start")"
    bin=$TARGET_DIR/$t/$profile/edgesip
    if is_musl "$t"; then
        # The profile strips; `file` proves it, and the link.
        local what
        what=$(file -b "$bin")
        echo "   file: $what"
        case $what in
            *"statically linked"*", stripped"*) ;;
            *) echo "!! $t: not a stripped static binary"; R_TIME[$t]=$((mid - start)); return 1 ;;
        esac
        if ! grep -Eq "$(file_machine "$t")" <<<"$what"; then
            echo "!! $t: wrong machine or byte order (want /$(file_machine "$t")/)"
            R_TIME[$t]=$((mid - start)); return 1
        fi
    else
        # Strip a copy anyway so the number is the stripped size whatever
        # the profile says.
        "$(gnu_triple "$t")-strip" -o "$bin.stripped" "$bin"
        bin=$bin.stripped
    fi
    size=$(stat -c %s "$bin")
    R_SIZE[$t]=$size
    printf '   %s binary (stripped): %d bytes = %d.%d KiB\n' "$profile" \
        "$size" $((size / 1024)) $((size * 10 / 1024 % 10))

    if ! is_musl "$t" && [ "$STD_ROUTE" = prebuilt ] && fetch_prebuilt_std "$t"; then test_std=(); fi
    # --no-fail-fast: one failing test binary must not hide the others.
    logged "$LOG_DIR/$t-test.log" timeout -k 10 "$TEST_TIMEOUT" \
        nice -n 10 "$CARGO" test --no-fail-fast "${test_std[@]}" --target "$t" || rc=$?
    end=$(date +%s); R_TEST[$t]=$((end - mid)) R_TIME[$t]=$((end - start))
    echo "   cargo test (build + run under $qemu): $(since "$mid")"
    # Sum "test result: ok. N passed; M failed; ..." over all test binaries.
    R_PASSED[$t]=$(awk '/^test result:/ { for (i = 1; i < NF; i++) if ($(i+1) ~ /^passed/) n += $i }
                        END { print n + 0 }' "$LOG_DIR/$t-test.log")
    R_FAILED[$t]=$(awk '/^test result:/ { for (i = 1; i < NF; i++) if ($(i+1) ~ /^failed/) n += $i }
                        END { print n + 0 }' "$LOG_DIR/$t-test.log")
    if [ "$rc" -ne 0 ]; then
        [ "$rc" -eq 124 ] && echo "!! cargo test timed out after ${TEST_TIMEOUT}s"
        echo "!! cargo test failed for $t (exit $rc); $LOG_DIR/$t-test.log:"
        # The failing tests' own output first: with --no-fail-fast the
        # binaries that ran after them would push it out of a plain tail.
        [ "$VERBOSE" = 1 ] || {
            awk '/^failures:$/ { on = 1 } on { print } /^test result:/ { on = 0 }' "$LOG_DIR/$t-test.log" | head -n 200
            grep -v '^ *Compiling ' "$LOG_DIR/$t-test.log" | tail -n 40
        }
        return 1
    fi
    grep '^test result:' "$LOG_DIR/$t-test.log" | sed 's/^/   /'
    R_STATUS[$t]=PASS
}

# --- main ---------------------------------------------------------------------------
SET=${EDGESIP_QEMU_SET:-musl}
case ${1:-} in musl | glibc) SET=$1; shift ;; esac
targets=("$@")
case $SET in
    musl) [ ${#targets[@]} -gt 0 ] || targets=("${MUSL_TARGETS[@]}") ;;
    glibc) [ ${#targets[@]} -gt 0 ] || targets=("${GLIBC_TARGETS[@]}") ;;
    *) die "EDGESIP_QEMU_SET must be musl or glibc" ;;
esac
for t in "${targets[@]}"; do
    [ -n "$(gnu_triple "$t" || true)" ] ||
        die "unknown target '$t' (known: ${MUSL_TARGETS[*]} ${GLIBC_TARGETS[*]})"
done
case $STD_ROUTE in build | prebuilt) ;; *) die "EDGESIP_QEMU_STD must be build or prebuilt" ;; esac

T0=$(date +%s)
ensure_packages "${targets[@]}"
for t in "${targets[@]}"; do is_musl "$t" && { ensure_zig; break; }; done
mkdir -p "$LOG_DIR"
echo "== packages ready: $(since "$T0")"
echo "== $("$RUSTC" --version), std route: $STD_ROUTE, target dir: $TARGET_DIR"

failed=0
for t in "${targets[@]}"; do
    run_target "$t" || failed=$((failed + 1))
done

echo
printf '%-31s %-6s %6s %6s %8s %8s %8s %10s %8s\n' \
    target result passed failed build_s test_s total_s size_B size_KiB
for t in "${targets[@]}"; do
    kib=-
    [ "${R_SIZE[$t]}" = - ] || kib=$(awk -v s="${R_SIZE[$t]}" 'BEGIN { printf "%.1f", s / 1024 }')
    printf '%-31s %-6s %6s %6s %8s %8s %8s %10s %8s\n' "$t" "${R_STATUS[$t]}" "${R_PASSED[$t]}" \
        "${R_FAILED[$t]}" "${R_BUILD[$t]}" "${R_TEST[$t]}" "${R_TIME[$t]}" "${R_SIZE[$t]}" "$kib"
done
echo "all targets: $(since "$T0")"
echo "targets: $(( ${#targets[@]} - failed )) passed, $failed failed"
[ "$failed" -eq 0 ]
