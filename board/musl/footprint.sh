#!/usr/bin/env bash
# Memory footprint of a static musl edgesip: two loopback legs, --nat
# --registrar, default capacities; then (with room for them) 1,000
# registrations and 500 relayed calls.
#
#   board/musl/footprint.sh TARGET [BINARY]
#
# TARGET x86_64-unknown-linux-musl runs natively; the router targets run
# under qemu-user (qemu-arm, ...).  BINARY defaults to the router build in
# ${CARGO_TARGET_DIR:-target}/TARGET/router/edgesip (board/qemu/test.sh, or
# the same cargo command, builds it).  Under qemu-user the process measured
# is qemu's: its VmHWM and Rss include qemu itself, its host glibc, the
# translated-code cache and the guest's pages, so they are an upper bound,
# not the router's number; the guest's own anonymous memory is the part a
# router would see.
#
# Reads /proc/PID/status (VmHWM, VmRSS) and /proc/PID/smaps_rollup (Rss,
# Anonymous, Private_Dirty; file-backed = Rss - Anonymous).  The load phases
# use the benchmark's loadgen (tests/bench; built here if missing, or set
# LOADGEN).  Prints a table; never fails on a number (these are measurements,
# not tests).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
T=${1:?usage: footprint.sh TARGET [BINARY]}
BIN=${2:-${CARGO_TARGET_DIR:-$ROOT/target}/$T/router/edgesip}
[ -x "$BIN" ] || { echo "footprint.sh: no binary $BIN (build it first)" >&2; exit 2; }
BIN_REAL=$(readlink -f "$BIN")
# A freshly linked binary's pages are still dirty in the page cache and
# smaps counts them as Private_Dirty: write them back first.
sync
GUEST=0
case $T in armv7-* | mips-* | mipsel-*) GUEST=1 ;; esac
case $T in
    x86_64-*) RUNNER=() ;;
    armv7-*) RUNNER=(qemu-arm) ;; aarch64-*) RUNNER=(qemu-aarch64) ;;
    mipsel-*) RUNNER=(qemu-mipsel) ;; mips-*) RUNNER=(qemu-mips) ;;
    *) echo "footprint.sh: unknown target $T" >&2; exit 2 ;;
esac
REGS=${EDGESIP_FP_REGS:-1000}
CALLS=${EDGESIP_FP_CALLS:-500}
WORK=$(mktemp -d)
PID=
cleanup() { [ -z "$PID" ] || kill "$PID" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

LOADGEN=${LOADGEN:-$ROOT/tests/bench/target/release/loadgen}
if [ ! -x "$LOADGEN" ]; then
    echo "== building loadgen (tests/bench)"
    cargo build -q --release --manifest-path "$ROOT/tests/bench/Cargo.toml" --bin loadgen
fi

kib() { awk -v k="$1:" '$1 == k { print $2; exit }' "$2"; }
# row LABEL: one line of numbers for the running $PID, in KiB.
row() {
    local st=/proc/$PID/status sm=/proc/$PID/smaps_rollup rss anon
    rss=$(kib Rss "$sm") anon=$(kib Anonymous "$sm")
    printf '%-44s %8s %8s %8s %8s %8s %8s\n' "$1" "$(kib VmHWM "$st")" "$(kib VmRSS "$st")" \
        "$rss" "$(kib Private_Dirty "$sm")" "$anon" $((rss - anon))
    [ "$GUEST" = 0 ] || guest_row
}
# guest_row LABEL (32-bit guests under qemu-user only): the part of qemu's
# memory that is the guest's.  qemu reserves the guest's 4 GiB address space
# in one block; the guest binary is mapped at guest address 0x10000, so every
# mapping from there up to 4 GiB above the guest base is the guest's: its
# binary, heap, stack and mmaps, without qemu, its libraries and its
# translated code.  What a router would show, to the page.
guest_row() {
    local base hi lo addr k v rss=0 anon=0 pd=0 in=0
    base=$(grep -m1 -F " $BIN_REAL" "/proc/$PID/maps" | cut -d- -f1)
    [ -n "$base" ] || return 0
    lo=$((16#$base - 16#10000)) hi=$((16#$base - 16#10000 + (1 << 32)))
    while read -r k v _; do
        case $k in
        *-*:) ;;
        [0-9a-f]*-[0-9a-f]*) addr=$((16#${k%-*})); in=0; [ "$addr" -ge "$lo" ] && [ "$addr" -lt "$hi" ] && in=1 ;;
        Rss:) [ "$in" = 1 ] && rss=$((rss + v)) ;;
        Anonymous:) [ "$in" = 1 ] && anon=$((anon + v)) ;;
        Private_Dirty:) [ "$in" = 1 ] && pd=$((pd + v)) ;;
        esac
    done <"/proc/$PID/smaps"
    printf '%-44s %8s %8s %8s %8s %8s %8s\n' "  guest part of it" - - "$rss" "$pd" "$anon" $((rss - anon))
}
header() {
    printf '%-44s %8s %8s %8s %8s %8s %8s\n' "$T (KiB)" VmHWM VmRSS Rss Priv_Dirty Anon File
}

# start ARGS...: edgesip on two legs, a=127.0.0.1 (LAN, net=) and
# b=127.0.0.2; waits until both listen.
start() {
    P=$((20000 + RANDOM % 20000))
    "${RUNNER[@]}" "$BIN" --log-level info --leg "a=127.0.0.1:$P,net=127.0.0.1/32" --leg "b=127.0.0.2:$P" \
        --nat --registrar example.com "$@" >"$WORK/log" 2>&1 &
    PID=$!
    for _ in $(seq 100); do
        [ "$(grep -c 'listening on' "$WORK/log")" -ge 2 ] && { sleep 0.5; return 0; }
        kill -0 "$PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "edgesip did not start: $(tail -n 3 "$WORK/log")" >&2
    return 1
}
stop() { kill "$PID"; wait "$PID" || true; PID=; }

echo "== $(file -b "$BIN")"
echo "   ${RUNNER[*]:-native} $BIN"
header
start
row "idle, default capacities"
stop

start --reg-max "$REGS" --max-calls "$CALLS" --rtp-ports 40000-44999
row "idle, --reg-max $REGS --max-calls $CALLS"
"$LOADGEN" --proxy "127.0.0.1:$P" --register "$REGS" --domain example.com >"$WORK/reg.out" 2>"$WORK/reg.err" ||
    echo "   (loadgen --register failed)"
row "after $REGS registrations"
REG_LINE=$(tail -n 1 "$WORK/reg.err")
# CALLS calls at 100/s, each held 4 s longer than the ramp: all CALLS calls
# are up together for a while; measured in the middle of that.
secs=$(( (CALLS + 99) / 100 ))
"$LOADGEN" --proxy "127.0.0.1:$P" --uac-ip 127.0.0.1 --uas-ip 127.0.0.3 --sdp --rate 100 \
    --duration "$secs" --hold $(( (secs + 4) * 1000 )) --timeout 5000 >"$WORK/calls.out" 2>"$WORK/calls.err" &
LG=$!
sleep $((secs + 2))
row "$CALLS relayed calls up (+ registrations)"
wait "$LG" || echo "   (loadgen calls exited non-zero)"
row "calls ended"
stop
echo "   loadgen: $REG_LINE"
echo "   loadgen: $(tail -n 1 "$WORK/calls.err")"
