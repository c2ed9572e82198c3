#!/usr/bin/env bash
# The side-by-side benchmark: edgesip against a floor (the same event loop
# with the SIP work taken out), Kamailio (pure stateless, TLSF and default
# allocators) and Net::SIP's StatelessProxy; edgesip's RTP relay against the
# floor's recv+send loop and rtpengine (userspace); edgesip's memory at idle,
# with 1,000 registrations and with --max-calls calls up; the binary size.
#
#   tests/bench/run.sh            full run, under 10 minutes; installs missing
#                                 Debian packages (kamailio, libnet-sip-perl,
#                                 rtpengine-daemon, python3) when root
#   tests/bench/run.sh --quick    the same with shorter steps (~4-5 minutes)
#   tests/bench/run.sh --smoke    ~20 s once built: floor and edgesip only, a
#                                 low fixed rate, no installs; fails (exit 1)
#                                 on any failed call. What CI runs.
#
# Output: a Markdown report on stdout and in tests/bench/results/latest.md
# (--smoke: results/smoke.md), a chart in results/latest.svg (not for
# --smoke), and the raw measurements (one JSON object per line) in
# results/latest.jsonl (smoke.jsonl).
#
# Only loopback addresses are used (127.0.0.1 for callers and leg A,
# 127.0.0.2 for leg B, 127.0.0.3 for callees). The proxy under test runs on
# core $PROXY_CPU (default 1), the load generator on core $LOADGEN_CPU
# (default 0), each with taskset. Every process this script starts is
# stopped by it, by pid, on every exit path; every step has a time limit.
# The machine may be shared: read ratios between numbers of the same run
# rather than absolute figures, and see the notes in the report.
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
MODE=full
for arg in "$@"; do
  case "$arg" in
    --smoke) MODE=smoke ;;
    --quick) MODE=quick ;;
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $arg (try --help)" >&2; exit 2 ;;
  esac
done
CMDLINE="tests/bench/run.sh${*:+ $*}"
PROXY_CPU=${PROXY_CPU:-1}
LOADGEN_CPU=${LOADGEN_CPU:-0}
if [ "$(nproc)" -lt 2 ]; then PROXY_CPU=0; LOADGEN_CPU=0; fi

# ---------------------------------------------------------------- settings
case $MODE in
  # LOW_RATE: calls/s that every proxy sustains, Net::SIP with two legs
  # included (its maximum is ~60-140 here); HI_RATE: a moderate rate for
  # the native proxies, well under the slowest one's maximum (Kamailio
  # with q_malloc: ~700-1,300 here, depending on the neighbours' load).
  # TOP_RATE: a high fixed rate for the proxies that carry it (not
  # Kamailio with q_malloc); below the load generator's ceiling here.
  full)  STEP=2;   BISECT=3; RETRIES=1; LOW_RATE=20; LOW_DUR=4
         HI_RATE=300; HI_DUR=3; TOP_RATE=2000; TOP_DUR=3; REPS=3; RTP_SESSIONS=500; RTP_DUR=4 ;;
  quick) STEP=1;   BISECT=2; RETRIES=1; LOW_RATE=20; LOW_DUR=3
         HI_RATE=300; HI_DUR=2; TOP_RATE=2000; TOP_DUR=2; REPS=3; RTP_SESSIONS=500; RTP_DUR=2 ;;
  smoke) SMOKE_RATE=200; SMOKE_DUR=3 ;;
esac
PACED_PPS=20000        # 200 G.711 calls: 50 packets/s each way
# --nat --max-calls N needs N x 16 + 32 descriptors: 65,568 for the large
# table of 4096 calls. Root may raise the hard limit; where it cannot (a
# container's is often 20,000), the large table is the largest power of two
# that fits, and its label says which.
BIG_CALLS=4096
if [ "$MODE" != smoke ]; then
  ulimit -Hn 70000 2>/dev/null; ulimit -n 70000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
  while [ $((BIG_CALLS * 16 + 64)) -gt "$(ulimit -n)" ] && [ "$BIG_CALLS" -gt 128 ]; do
    BIG_CALLS=$((BIG_CALLS / 2))
  done
  [ "$BIG_CALLS" = 4096 ] ||
    echo "run.sh: open files limited to $(ulimit -n): the large relay table is --max-calls $BIG_CALLS" >&2
fi
SIPP_RATE=300          # SIP over TCP next to UDP: SIPp at this rate...
SIPP_CALLS=900         # ...for this many calls per round
REG_USERS=1000

RESULTS=$HERE/results
mkdir -p "$RESULTS"
if [ "$MODE" = smoke ]; then OUT=smoke; else OUT=latest; fi
JSONL=$RESULTS/$OUT.jsonl
: > "$JSONL"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/edgesip-bench.XXXXXX")
BIN=$HERE/target/release
# EDGESIP_BIN: benchmark another build of edgesip instead (e.g. one with
# symbols for perf); the release build is still made and its size reported.
EDGESIP=${EDGESIP_BIN:-$ROOT/target/release/edgesip}
RELEASE_BIN=$ROOT/target/release/edgesip
FAILED=0

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
note() { log "note: $*"; python3 -c 'import json,sys; print(json.dumps({"kind":"note","text":sys.argv[1]}))' "$*" >> "$JSONL" 2>/dev/null \
  || printf '{"kind":"note","text":"%s"}\n' "${*//\"/\'}" >> "$JSONL"; }
record() { # a JSON line from a tool, if it is one
  local line
  line=$(grep '^{' | tail -n 1)
  if [ -n "$line" ]; then echo "$line" >> "$JSONL"; echo "$line"; fi
}

# ------------------------------------------------------- processes we start
PIDS=()
start() { # LOGFILE CMD...: starts CMD pinned to the proxy core; sets PID
  local logf=$1; shift
  taskset -c "$PROXY_CPU" "$@" > "$logf" 2>&1 < /dev/null &
  PID=$!
  PIDS+=("$PID")
}
descendants() { # PID: its descendants, deepest last
  local c
  for c in $(pgrep -P "$1" 2>/dev/null); do echo "$c"; descendants "$c"; done
}
stop() { # PID: TERM, wait up to 5 s, then KILL; the same for any child left
  local pid=$1 kids i
  kids=$(descendants "$pid")
  kill -TERM "$pid" 2>/dev/null
  for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  for i in $kids; do kill -KILL "$i" 2>/dev/null; done
  local keep=() p
  for p in "${PIDS[@]}"; do [ "$p" != "$pid" ] && keep+=("$p"); done
  PIDS=("${keep[@]+"${keep[@]}"}")
}
cleanup() {
  local p
  for p in "${PIDS[@]+"${PIDS[@]}"}"; do stop "$p"; done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

hexaddr() { local a b c d; IFS=. read -r a b c d <<< "$1"; printf '%02X%02X%02X%02X:%04X' "$d" "$c" "$b" "$a" "$2"; }
# IP PORT PID [SECS]: waits until something has bound IP:PORT (UDP) while
# PID lives; false if PID died or time ran out.
wait_bound() {
  local hex i
  hex=$(hexaddr "$1" "$2")
  for i in $(seq $((${4:-10} * 20))); do
    kill -0 "$3" 2>/dev/null || return 1
    grep -q " $hex " /proc/net/udp && return 0
    sleep 0.05
  done
  return 1
}
port_range_free() { # LO HI: no UDP socket on any address in [LO, HI]
  local sl addr rest p
  while read -r sl addr rest; do
    [ "$sl" = sl ] && continue
    p=$((16#${addr#*:}))
    [ "$p" -ge "$1" ] && [ "$p" -le "$2" ] && return 1
  done < /proc/net/udp
  return 0
}
lg() { # load generator, pinned to its core, with a time limit
  timeout -k 5 "${LG_TIMEOUT:-300}" taskset -c "$LOADGEN_CPU" "$BIN/loadgen" "$@"
}

# ------------------------------------------------------------------ ports
# One block of 7,000 ports below the ephemeral range, free on every address:
#   P+0..9 and P+14..16 proxies, P+10.. loadgen UAC, P+20.. UAS, P+30 RTP
#   endpoints, P+40/41 rtpengine control, P+1000.. floor media, P+2000..
#   edgesip relay, P+5000.. the capacity rows' relays during the SIP runs,
#   then rtpengine media.
P=
for try in $(seq 40); do
  cand=$((10000 + (RANDOM % 16) * 1000))
  if port_range_free "$cand" $((cand + 6999)); then P=$cand; break; fi
done
[ -n "$P" ] || { echo "run.sh: no free block of UDP ports" >&2; exit 1; }
UAC_PORT=$((P + 10)); UAS_PORT=$((P + 20)); NSOCK=4
LGA=(--uac-ip 127.0.0.1 --uac-port "$UAC_PORT" --uas-ip 127.0.0.3 --uas-port "$UAS_PORT" --sockets "$NSOCK")

# ------------------------------------------------------------------ setup
T0=$(date +%s)
log "mode $MODE, ports $P-$((P + 6999)), proxy on core $PROXY_CPU, load generator on core $LOADGEN_CPU"
if [ "$MODE" != smoke ] && [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null; then
  need=()
  command -v kamailio > /dev/null || need+=(kamailio)
  perl -MNet::SIP -e 1 2> /dev/null || need+=(libnet-sip-perl)
  command -v rtpengine > /dev/null || need+=(rtpengine-daemon)
  command -v python3 > /dev/null || need+=(python3)
  if [ ${#need[@]} -gt 0 ]; then
    log "installing ${need[*]}"
    # Keep the packages' init scripts from starting daemons of their own.
    made_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && made_policy=1
    fi
    export DEBIAN_FRONTEND=noninteractive
    { timeout 300 apt-get update -qq && timeout 300 apt-get install -y -qq --no-install-recommends "${need[@]}"; } > "$WORK/apt.log" 2>&1 \
      || note "apt-get install ${need[*]} failed: $(tail -n 2 "$WORK/apt.log" | tr '\n' ' ')"
    [ "$made_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
  fi
fi
command -v python3 > /dev/null || { echo "run.sh: python3 is needed for the report" >&2; exit 1; }

log "building edgesip (release) and the bench binaries"
(cd "$ROOT" && nice cargo build --release --quiet) || { echo "run.sh: edgesip build failed" >&2; exit 1; }
(cd "$HERE" && nice cargo build --release --quiet --bins) || { echo "run.sh: bench build failed" >&2; exit 1; }

python3 - "$JSONL" "$MODE" "$CMDLINE" "$PROXY_CPU" "$LOADGEN_CPU" "$(cd "$ROOT" && git rev-parse --short HEAD 2> /dev/null || echo '?')" << 'EOF'
import json, os, platform, sys, time
path, mode, cmd, pcpu, lcpu, rev = sys.argv[1:]
model = "?"
for line in open("/proc/cpuinfo"):
    if line.startswith("model name"):
        model = line.split(":", 1)[1].strip(); break
load = open("/proc/loadavg").read().split()[:3]
with open(path, "a") as f:
    f.write(json.dumps({"kind": "meta", "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "cpu": model,
        "cores": os.cpu_count(), "kernel": platform.release(), "command": cmd, "mode": mode,
        "proxy_cpu": pcpu, "loadgen_cpu": lcpu, "git": rev, "loadavg_start": " ".join(load)}) + "\n")
EOF
{
  echo "{\"kind\":\"size\",\"label\":\"edgesip\",\"bytes\":$(stat -c %s "$RELEASE_BIN"),\"stripped_bytes\":$(strip -o "$WORK/edgesip.stripped" "$RELEASE_BIN" 2> /dev/null && stat -c %s "$WORK/edgesip.stripped" || stat -c %s "$RELEASE_BIN")}"
} >> "$JSONL"

# --------------------------------------------------------- the SIP targets
# Each: a label, the address the UAC sends to, how to start it, and the
# first rate of its ramp.
# RAMP0 "-" : no ramp, the fixed rates only (the capacity rows); REGS[L]:
# bindings registered before its runs; TOP[L]: it runs at TOP_RATE too.
declare -A ADDR START RAMP0 HOLD SDP PIDOF REGS TOP
LABELS=()
target() { LABELS+=("$1"); ADDR[$1]=$2; RAMP0[$1]=$3; HOLD[$1]=$4; SDP[$1]=$5; START[$1]=$6; }
FLOOR_PAIRS="127.0.0.1:$UAC_PORT,127.0.0.3:$UAS_PORT,$NSOCK"
target "floor"               "127.0.0.1:$((P + 0))" 1000 500 "" \
  "$BIN/floor --listen 127.0.0.1:$((P + 0)) --pairs $FLOOR_PAIRS"
if [ "$MODE" != smoke ]; then
  target "floor (blocking)"  "127.0.0.1:$((P + 8))" 1000 500 "" \
    "$BIN/floor --blocking --listen 127.0.0.1:$((P + 8)) --pairs $FLOOR_PAIRS"
fi
target "edgesip 1 leg"       "127.0.0.1:$((P + 1))" 1000 500 "" \
  "$EDGESIP --log-level warn --leg 127.0.0.1:$((P + 1))"
target "edgesip 2 legs"      "127.0.0.1:$((P + 2))" 1000 500 "" \
  "$EDGESIP --log-level warn --leg a=127.0.0.1:$((P + 2)),net=127.0.0.1/32 --leg b=127.0.0.2:$((P + 2))"
if [ "$MODE" != smoke ]; then
  target "edgesip 2 legs --nat" "127.0.0.1:$((P + 3))" 500 100 "--sdp" \
    "$EDGESIP --log-level warn --leg a=127.0.0.1:$((P + 3)),net=127.0.0.1/32 --leg b=127.0.0.2:$((P + 3)) --nat --rtp-ports $((P + 2000))-$((P + 4999)) --max-calls 1000"
  # Cost must not grow with capacity: the same flows with small and large
  # tables (relay calls; registrar bindings, all of them filled).
  target "edgesip --nat --max-calls 64" "127.0.0.1:$((P + 9))" - 100 "--sdp" \
    "$EDGESIP --log-level warn --leg a=127.0.0.1:$((P + 9)),net=127.0.0.1/32 --leg b=127.0.0.2:$((P + 9)) --nat --rtp-ports $((P + 5000))-$((P + 5499)) --max-calls 64"
  target "edgesip --nat --max-calls $BIG_CALLS" "127.0.0.1:$((P + 14))" - 100 "--sdp" \
    "$EDGESIP --log-level warn --leg a=127.0.0.1:$((P + 14)),net=127.0.0.1/32 --leg b=127.0.0.2:$((P + 14)) --nat --rtp-ports $((P + 5500))-$((P + 6999)) --max-calls $BIG_CALLS"
  target "edgesip --registrar, 100 bindings" "127.0.0.1:$((P + 15))" - 500 "" \
    "$EDGESIP --log-level warn --leg 127.0.0.1:$((P + 15)) --registrar example.com --reg-max 100"
  REGS["edgesip --registrar, 100 bindings"]=100
  target "edgesip --registrar, 10,000 bindings" "127.0.0.1:$((P + 16))" - 500 "" \
    "$EDGESIP --log-level warn --leg 127.0.0.1:$((P + 16)) --registrar example.com --reg-max 10000"
  REGS["edgesip --registrar, 10,000 bindings"]=10000
  if command -v kamailio > /dev/null; then
    mkdir -p "$WORK/kam-tlsf" "$WORK/kam-qm"
    target "Kamailio TLSF"     "127.0.0.1:$((P + 4))" 1000 500 "" \
      "kamailio -f $HERE/peers/kamailio-stateless.cfg -l udp:127.0.0.1:$((P + 4)) -DD -E -n 1 -x tlsf -X tlsf -w $WORK/kam-tlsf -Y $WORK/kam-tlsf -P $WORK/kam-tlsf/pid"
    target "Kamailio default (qm)" "127.0.0.1:$((P + 5))" 1000 500 "" \
      "kamailio -f $HERE/peers/kamailio-stateless.cfg -l udp:127.0.0.1:$((P + 5)) -DD -E -n 1 -w $WORK/kam-qm -Y $WORK/kam-qm -P $WORK/kam-qm/pid"
  else
    note "Kamailio is not installed (apt-get install kamailio): its rows are missing"
  fi
  if perl -MNet::SIP -e 1 2> /dev/null; then
    target "Net::SIP 1 leg"    "127.0.0.1:$((P + 6))" 10 500 "" \
      "perl $HERE/peers/netsip_proxy.pl 127.0.0.1:$((P + 6))"
    target "Net::SIP 2 legs"   "127.0.0.1:$((P + 7))" 10 500 "" \
      "perl $HERE/peers/netsip_proxy.pl 127.0.0.1:$((P + 7)),net=127.0.0.1 127.0.0.2:$((P + 7))"
  else
    note "Net::SIP is not installed (apt-get install libnet-sip-perl): its rows are missing"
  fi
fi

# Start them all (idle ones cost nothing), so that the fixed-rate runs can
# take turns: A B C ... A B C, and slow changes in the machine's load fall
# on every proxy alike.
UP=()
for L in "${LABELS[@]}"; do
  f=$WORK/$(echo "$L" | tr -c 'A-Za-z0-9' _).log
  # shellcheck disable=SC2086
  start "$f" ${START[$L]}
  PIDOF[$L]=$PID
  ip=${ADDR[$L]%:*}; port=${ADDR[$L]#*:}
  if wait_bound "$ip" "$port" "$PID" 15; then
    UP+=("$L")
  else
    note "$L did not start: $(tail -n 3 "$f" | tr '\n' ' ')"
    stop "$PID"
    [ "$MODE" = smoke ] && FAILED=1
  fi
done
sleep 0.5
for L in "${UP[@]}"; do
  lg --pid "${PIDOF[$L]}" --mem-only --label "$L" --tag idle | record > /dev/null
done
for L in "${UP[@]}"; do
  [ -n "${REGS[$L]:-}" ] || continue
  log "$L: registering ${REGS[$L]} users"
  lg --proxy "${ADDR[$L]}" "${LGA[@]}" --pid "${PIDOF[$L]}" --register "${REGS[$L]}" --domain example.com \
    --label "$L" --tag register 2> /dev/null | record > /dev/null || note "$L: registering failed"
done
for L in floor "floor (blocking)" "edgesip 1 leg" "edgesip 2 legs" "edgesip 2 legs --nat" "Kamailio TLSF"; do TOP[$L]=1; done

if [ "$MODE" = smoke ]; then
  for L in "${UP[@]}"; do
    log "$L: $SMOKE_RATE calls/s for $SMOKE_DUR s"
    out=$(lg --proxy "${ADDR[$L]}" "${LGA[@]}" --pid "${PIDOF[$L]}" --label "$L" --tag smoke \
      --rate "$SMOKE_RATE" --duration "$SMOKE_DUR" --hold 200 ${SDP[$L]} | record)
    echo "$out" | grep -q '"pass":true' || { log "$L: FAILED calls"; FAILED=1; }
  done
else
  # Capacity: each alone, ramping until calls fail.
  for L in "${UP[@]}"; do
    [ "${RAMP0[$L]}" = - ] && continue
    log "$L: ramp from ${RAMP0[$L]} calls/s"
    lg --proxy "${ADDR[$L]}" "${LGA[@]}" --pid "${PIDOF[$L]}" --label "$L" --tag ramp \
      --ramp "${RAMP0[$L]}" --step "$STEP" --bisect "$BISECT" --retries "$RETRIES" --timeout 1000 \
      --hold "${HOLD[$L]}" ${SDP[$L]} 2> "$WORK/ramp.err" | record > /dev/null \
      || note "$L: the ramp did not finish"
    grep -E '^\[' "$WORK/ramp.err" | sed 's/^/    /' >&2
  done
  # Fixed rates, taking turns: a low rate every proxy sustains (Net::SIP
  # with two legs included), and a moderate one for the native proxies.
  for rep in $(seq "$REPS"); do
    for L in "${UP[@]}"; do
      [ "${RAMP0[$L]}" = - ] && continue
      log "$L: $LOW_RATE calls/s for $LOW_DUR s (round $rep)"
      lg --proxy "${ADDR[$L]}" "${LGA[@]}" --pid "${PIDOF[$L]}" --label "$L" --tag low \
        --rate "$LOW_RATE" --duration "$LOW_DUR" --hold "${HOLD[$L]}" ${SDP[$L]} 2> /dev/null | record > /dev/null
    done
    for L in "${UP[@]}"; do
      case $L in Net::SIP*) continue ;; esac
      log "$L: $HI_RATE calls/s for $HI_DUR s (round $rep)"
      lg --proxy "${ADDR[$L]}" "${LGA[@]}" --pid "${PIDOF[$L]}" --label "$L" --tag moderate \
        --rate "$HI_RATE" --duration "$HI_DUR" --hold "${HOLD[$L]}" ${SDP[$L]} 2> /dev/null | record > /dev/null
    done
    for L in "${UP[@]}"; do
      [ -n "${TOP[$L]:-}" ] || continue
      log "$L: $TOP_RATE calls/s for $TOP_DUR s (round $rep)"
      lg --proxy "${ADDR[$L]}" "${LGA[@]}" --pid "${PIDOF[$L]}" --label "$L" --tag high \
        --rate "$TOP_RATE" --duration "$TOP_DUR" --hold "${HOLD[$L]}" ${SDP[$L]} 2> /dev/null | record > /dev/null
    done
  done
fi
for L in "${UP[@]}"; do
  lg --pid "${PIDOF[$L]}" --mem-only --label "$L" --tag end | record > /dev/null
  stop "${PIDOF[$L]}"
done

# ----------------------------------------------------------- SIP over TCP
# SIPp's built-in UAC and UAS (one connection each side with -t t1) at a
# fixed rate through edgesip and Kamailio TLSF, each over UDP and over TCP,
# taking turns. The proxy's CPU is the nanosecond run time of its process
# tree (schedstat); a call is 6 messages through the proxy (SIPp's UAS
# sends no 100).
tree_ns() { # PID: schedstat nanoseconds of the process tree
  local total=0 p t ns rest
  for p in "$1" $(descendants "$1"); do
    for t in /proc/"$p"/task/*/schedstat; do
      read -r ns rest < "$t" 2> /dev/null && total=$((total + ns))
    done
  done
  echo "$total"
}
wait_listen() { # IP PORT PID: until something listens on IP:PORT (TCP)
  local hex i
  hex=$(hexaddr "$1" "$2")
  for i in $(seq 200); do
    kill -0 "$3" 2>/dev/null || return 1
    grep -q " $hex 00000000:0000 0A " /proc/net/tcp && return 0
    sleep 0.05
  done
  return 1
}
if [ "$MODE" != smoke ] && command -v sipp > /dev/null; then
  declare -A TADDR TPROTO TSTART TPID
  TLABELS=()
  ttarget() { TLABELS+=("$1"); TADDR[$1]=$2; TPROTO[$1]=$3; TSTART[$1]=$4; }
  ttarget "edgesip 2 legs, UDP" "127.0.0.1:$((P + 50))" u1 \
    "$EDGESIP --log-level warn --leg a=127.0.0.1:$((P + 50)),net=127.0.0.1/32 --leg b=127.0.0.2:$((P + 50))"
  ttarget "edgesip 2 legs, TCP" "127.0.0.1:$((P + 51))" t1 \
    "$EDGESIP --log-level warn --leg a=127.0.0.1:$((P + 51)),net=127.0.0.1/32,tcp --leg b=127.0.0.2:$((P + 51)),tcp-only"
  if command -v kamailio > /dev/null; then
    mkdir -p "$WORK/kam-udp" "$WORK/kam-tcp"
    ttarget "Kamailio TLSF, UDP" "127.0.0.1:$((P + 52))" u1 \
      "kamailio -f $HERE/peers/kamailio-stateless.cfg -l udp:127.0.0.1:$((P + 52)) -DD -E -n 1 -x tlsf -X tlsf -w $WORK/kam-udp -Y $WORK/kam-udp -P $WORK/kam-udp/pid"
    ttarget "Kamailio TLSF, TCP" "127.0.0.1:$((P + 53))" t1 \
      "kamailio -f $HERE/peers/kamailio-stateless.cfg -A WITH_TCP -l tcp:127.0.0.1:$((P + 53)) -DD -E -n 1 -x tlsf -X tlsf -w $WORK/kam-tcp -Y $WORK/kam-tcp -P $WORK/kam-tcp/pid"
  fi
  TUP=()
  for L in "${TLABELS[@]}"; do
    f=$WORK/$(echo "$L" | tr -c 'A-Za-z0-9' _).log
    # shellcheck disable=SC2086
    start "$f" ${TSTART[$L]}
    TPID[$L]=$PID
    ip=${TADDR[$L]%:*}; port=${TADDR[$L]#*:}
    if [ "${TPROTO[$L]}" = t1 ]; then ok_up() { wait_listen "$@"; }; else ok_up() { wait_bound "$@"; }; fi
    if ok_up "$ip" "$port" "$PID"; then TUP+=("$L"); else note "$L did not start: $(tail -n 3 "$f" | tr '\n' ' ')"; stop "$PID"; fi
  done
  NRUN=0
  for rep in $(seq "$REPS"); do
    for L in "${TUP[@]}"; do
      log "$L: SIPp, $SIPP_RATE calls/s, $SIPP_CALLS calls (round $rep)"
      uasp=$((P + 100 + 2 * NRUN)); uacp=$((P + 101 + 2 * NRUN)); NRUN=$((NRUN + 1))
      taskset -c "$LOADGEN_CPU" sipp -sn uas -i 127.0.0.3 -p "$uasp" -t "${TPROTO[$L]}" -nostdin > /dev/null 2>&1 < /dev/null &
      UP_PID=$!; PIDS+=("$UP_PID")
      sleep 0.3
      before=$(tree_ns "${TPID[$L]}")
      t0=$(date +%s%N)
      timeout -k 5 120 taskset -c "$LOADGEN_CPU" sipp -sn uac "127.0.0.3:$uasp" -rsa "${TADDR[$L]}" -i 127.0.0.1 -p "$uacp" \
        -t "${TPROTO[$L]}" -r "$SIPP_RATE" -m "$SIPP_CALLS" -d 100 -timeout 60s -nostdin \
        -trace_screen -screen_file "$WORK/sipp.screen" > /dev/null 2>&1 < /dev/null
      after=$(tree_ns "${TPID[$L]}")
      t1=$(date +%s%N)
      stop "$UP_PID"
      okc=$(grep -E '^ +Successful call' "$WORK/sipp.screen" | tail -n 1 | awk -F'|' '{gsub(/ /,"",$3); print $3}')
      flc=$(grep -E '^ +Failed call' "$WORK/sipp.screen" | tail -n 1 | awk -F'|' '{gsub(/ /,"",$3); print $3}')
      echo "{\"kind\":\"sipp\",\"label\":\"$L\",\"transport\":\"${TPROTO[$L]}\",\"rate\":$SIPP_RATE,\"calls\":${okc:-0},\"failed\":${flc:-0},\"cpu_ns\":$((after - before)),\"wall_ns\":$((t1 - t0)),\"msgs_per_call\":6}" >> "$JSONL"
      rm -f "$WORK/sipp.screen"
    done
  done
  for L in "${TUP[@]}"; do stop "${TPID[$L]}"; done
elif [ "$MODE" != smoke ]; then
  note "sipp is not installed (apt-get install sip-tester): no SIP over TCP rows"
fi

# ------------------------------------------------------------- RTP relay
if [ "$MODE" != smoke ]; then
  S=$RTP_SESSIONS
  CALLER=127.0.0.1:$((P + 30)); CALLEE=127.0.0.3:$((P + 30))
  blast() { # LABEL PID rtpblast-args...: a closed-loop blast, then a paced run
    local label=$1 pid=$2; shift 2
    timeout -k 5 120 taskset -c "$LOADGEN_CPU" "$BIN/rtpblast" "$@" --sessions "$S" --caller "$CALLER" --callee "$CALLEE" \
      --duration "$RTP_DUR" --window 4096 --phases blast,paced --pps "$PACED_PPS" --pid "$pid" --label "$label" \
      > "$WORK/rtp.out" 2>> "$WORK/rtp.err" || note "$label: rtpblast failed: $(tail -n 1 "$WORK/rtp.err")"
    grep '^{' "$WORK/rtp.out" >> "$JSONL"
    grep -F "[$label]" "$WORK/rtp.err" | sed 's/^/    /' >&2
  }
  log "RTP: edgesip --nat, $S calls"
  start "$WORK/relay.log" "$EDGESIP" --log-level warn --leg "a=127.0.0.1:$((P + 1)),net=127.0.0.1/32" \
    --leg "b=127.0.0.2:$((P + 1))" --nat --rtp-ports "$((P + 2000))-$((P + 4999))" --max-calls "$S"
  RP=$PID
  if wait_bound 127.0.0.2 $((P + 1)) "$RP"; then
    lg --pid "$RP" --mem-only --label "edgesip --nat --max-calls $S" --tag mem-idle | record > /dev/null
    blast "edgesip" "$RP" --sip "127.0.0.1:$((P + 1)),127.0.0.2:$((P + 1))"
    # The calls stay up (no BYE): the relay now holds --max-calls calls.
    lg --pid "$RP" --mem-only --label "edgesip --nat --max-calls $S" --tag mem-active | record > /dev/null
  else
    note "edgesip --nat did not start: $(tail -n 3 "$WORK/relay.log" | tr '\n' ' ')"
  fi
  stop "$RP"

  log "RTP: floor, $S socket pairs"
  start "$WORK/floor-media.log" "$BIN/floor" --media "$S" --media-a "127.0.0.1:$((P + 1000))" \
    --media-b "127.0.0.2:$((P + 1000))" --peer-a "$CALLER" --peer-b "$CALLEE"
  FP=$PID
  if wait_bound 127.0.0.2 $((P + 1000 + 2 * (S - 1))) "$FP"; then
    blast "floor" "$FP" --floor "127.0.0.1:$((P + 1000)),127.0.0.2:$((P + 1000))"
  else
    note "the floor's media mode did not start"
  fi
  stop "$FP"

  if command -v rtpengine > /dev/null; then
    log "RTP: rtpengine (userspace), $S calls"
    start "$WORK/rtpengine.log" rtpengine --table=-1 --interface=127.0.0.1 --listen-ng="127.0.0.1:$((P + 40))" \
      --listen-cli="127.0.0.1:$((P + 41))" --foreground --log-stderr --log-level=3 \
      --port-min=$((P + 5000)) --port-max=$((P + 6999)) --num-threads=1 --timeout=600
    EP=$PID
    if wait_bound 127.0.0.1 $((P + 40)) "$EP" 15; then
      blast "rtpengine (userspace)" "$EP" --rtpengine "127.0.0.1:$((P + 40))"
    else
      note "rtpengine did not start: $(grep -v '^$' "$WORK/rtpengine.log" | tail -n 2 | tr '\n' ' ')"
    fi
    stop "$EP"
  else
    note "rtpengine is not installed (apt-get install rtpengine-daemon): no rtpengine row"
  fi

  # ---------------------------------------------------- memory at scale
  log "memory: idle, and $REG_USERS registrations"
  start "$WORK/reg.log" "$EDGESIP" --log-level warn --leg "127.0.0.1:$((P + 1))" \
    --registrar example.com --reg-max "$REG_USERS"
  GP=$PID
  if wait_bound 127.0.0.1 $((P + 1)) "$GP"; then
    sleep 0.3
    lg --pid "$GP" --mem-only --label "edgesip --registrar --reg-max $REG_USERS" --tag mem-idle | record > /dev/null
    lg --proxy "127.0.0.1:$((P + 1))" "${LGA[@]}" --pid "$GP" --register "$REG_USERS" --domain example.com \
      --label "edgesip --registrar --reg-max $REG_USERS" --tag register 2> /dev/null | record > /dev/null
  else
    note "edgesip --registrar did not start"
  fi
  stop "$GP"
fi

# ------------------------------------------------------------------ report
END=$(date +%s)
echo "{\"kind\":\"end\",\"seconds\":$((END - T0)),\"loadavg_end\":\"$(cut -d' ' -f1-3 /proc/loadavg)\"}" >> "$JSONL"
python3 "$HERE/report.py" "$JSONL" "$RESULTS/$OUT.md" "$RESULTS/$OUT.svg" || FAILED=1
cat "$RESULTS/$OUT.md"
if [ "$MODE" = smoke ]; then
  if [ "$FAILED" = 0 ]; then log "smoke: passed"; else log "smoke: FAILED"; fi
fi
exit "$FAILED"
