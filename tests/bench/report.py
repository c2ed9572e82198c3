#!/usr/bin/env python3
"""Turns run.sh's measurements (one JSON object per line) into the Markdown
report and the SVG chart. No dependencies beyond the standard library.

    report.py RESULTS.jsonl OUT.md OUT.svg
"""
import json
import math
import statistics
import sys
from collections import OrderedDict, defaultdict

EDGESIP_1 = "edgesip 1 leg"
EDGESIP_2 = "edgesip 2 legs"
KAM_TLSF = "Kamailio TLSF"
KAM_QM = "Kamailio default (qm)"
NETSIP_1 = "Net::SIP 1 leg"
NETSIP_2 = "Net::SIP 2 legs"
EDGESIP_NAT = "edgesip 2 legs --nat"
FLOOR = "floor"
FLOOR_B = "floor (blocking)"
# The capacity rows: (small, large) pairs of the same flows.
# The large relay table is 4096 calls where the open-file limit allows
# (run.sh picks the largest that fits): matched by this prefix.
BIG_NAT = "edgesip --nat --max-calls "
CAPACITY = (("edgesip --nat --max-calls 64", BIG_NAT),
            ("edgesip --registrar, 100 bindings", "edgesip --registrar, 10,000 bindings"))
# Below this many clock ticks (10 ms each) of utime+stime, the nanosecond
# sum_exec_runtime from /proc/<pid>/task/*/schedstat is used instead.
MIN_TICKS_S = 1.0


def load(path):
    recs = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                try:
                    recs.append(json.loads(line))
                except json.JSONDecodeError:
                    pass
    return recs


def fmt(x, digits=None):
    if x is None:
        return "–"
    if isinstance(x, str):
        return x
    if digits is not None:
        return f"{x:,.{digits}f}"
    ax = abs(x)
    if float(x).is_integer() and ax < 1e15:
        return f"{int(x):,}"
    if ax >= 1000:
        return f"{x:,.0f}"
    if ax >= 100:
        return f"{x:.0f}"
    if ax >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def kib(x):
    return "–" if x is None else f"{x:,} KiB"


def mib(x):
    return "–" if x is None else f"{x / 1024:.2f} MiB"


def split(m):
    if m.get("anon_kb") is None:
        return "–"
    return f"{m['anon_kb']:,} / {m['file_kb']:,} KiB"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def rfmt(r):
    return "–" if r is None else f"{r:.2f}x"


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def cpu_per(rec, what):
    """CPU µs per `what` ("msg" or "call") and whether schedstat was used."""
    if rec.get("cpu_s", 0) >= MIN_TICKS_S:
        return rec.get(f"cpu_us_per_{what}"), False
    return rec.get(f"sched_us_per_{what}"), True


def table(head, rows):
    out = ["| " + " | ".join(head) + " |", "|" + "|".join(" --- " for _ in head) + "|"]
    for r in rows:
        out.append("| " + " | ".join(str(c) for c in r) + " |")
    return "\n".join(out)


def main():
    src, out_md, out_svg = sys.argv[1:4]
    recs = load(src)
    meta = next((r for r in recs if r.get("kind") == "meta"), {})
    end = next((r for r in recs if r.get("kind") == "end"), {})
    notes = [r["text"] for r in recs if r.get("kind") == "note"]
    size = next((r for r in recs if r.get("kind") == "size"), None)
    smoke = meta.get("mode") == "smoke"

    labels = list(OrderedDict.fromkeys(
        r["label"] for r in recs if r.get("kind") in ("ramp", "fixed") and r.get("label")))
    ramp = {r["label"]: r for r in recs if r.get("kind") == "ramp"}
    fixed = defaultdict(list)
    for r in recs:
        if r.get("kind") == "fixed":
            fixed[(r["label"], r.get("tag", ""))].append(r)
    mem = {}
    for r in recs:
        if r.get("kind") == "mem":
            mem[(r["label"], r.get("tag", ""))] = r

    def fx(label, tag):
        """Medians over the rounds of a fixed-rate run."""
        rs = fixed.get((label, tag))
        if not rs:
            return None
        per_msg = [cpu_per(r, "msg") for r in rs]
        per_call = [cpu_per(r, "call") for r in rs]
        return {
            "rate": rs[0].get("rate"),
            "rounds": len(rs),
            "calls": sum(r.get("calls", 0) for r in rs),
            "failed": sum(r.get("failed", 0) for r in rs),
            "us_msg": median([x for x, _ in per_msg]),
            "us_msg_min": min((x for x, _ in per_msg if x is not None), default=None),
            "us_msg_max": max((x for x, _ in per_msg if x is not None), default=None),
            "sched": any(s for _, s in per_msg),
            "us_call": median([x for x, _ in per_call]),
            "inv50": median([r.get("invite_p50_us") for r in rs]),
            "inv99": median([r.get("invite_p99_us") for r in rs]),
            "bye50": median([r.get("bye_p50_us") for r in rs]),
            "bye99": median([r.get("bye_p99_us") for r in rs]),
            "msgs_call": median([r.get("msgs_per_call") for r in rs]),
            "got100": sum(r.get("got_100", 0) for r in rs),
        }

    def peak(label):
        """Peak RSS (sum of VmHWM over the process tree) and PSS, at the end."""
        m = mem.get((label, "end")) or mem.get((label, "idle"))
        hwm = max([x.get("hwm_kb", 0) for (l, _), x in mem.items() if l == label] +
                  [r.get("hwm_kb", 0) for r in recs if r.get("label") == label and r.get("kind") in ("ramp", "fixed")] or [0])
        return (hwm or None), (m or {}).get("pss_kb"), (m or {}).get("procs")

    L = []
    L.append("# edgesip side-by-side benchmark" + (" (smoke)" if smoke else ""))
    L.append("")
    L.append(f"- date: {meta.get('date', '?')}; run took {end.get('seconds', '?')} s")
    L.append(f"- CPU: {meta.get('cpu', '?')}, {meta.get('cores', '?')} cores; kernel {meta.get('kernel', '?')}; "
             f"edgesip {meta.get('git', '?')}")
    L.append(f"- command: `{meta.get('command', '?')}` (mode {meta.get('mode', '?')})")
    L.append(f"- proxy pinned to core {meta.get('proxy_cpu', '?')}, load generator to core "
             f"{meta.get('loadgen_cpu', '?')} (taskset); load average {meta.get('loadavg_start', '?')} at the start, "
             f"{end.get('loadavg_end', '?')} at the end")
    if notes:
        L.append("")
        L.append("**Notes from this run:**")
        for n in notes:
            L.append(f"- {n}")

    # ---------------------------------------------------------------- smoke
    if smoke:
        rows = []
        for lab in labels:
            for r in fixed.get((lab, "smoke"), []):
                us, sch = cpu_per(r, "msg")
                rows.append([lab, fmt(r.get("rate")), r.get("calls"), r.get("ok"), r.get("failed"),
                             fmt(r.get("msgs_per_s")), fmt(us) + ("†" if sch else ""),
                             f"{r.get('invite_p50_us')} / {r.get('invite_p99_us')}",
                             f"{r.get('bye_p50_us')} / {r.get('bye_p99_us')}", kib(r.get("hwm_kb"))])
        L.append("")
        L.append(table(["proxy", "calls/s", "calls", "ok", "failed", "msgs/s", "CPU µs/msg",
                        "INVITE→200 p50 / p99 µs", "BYE→200 p50 / p99 µs", "peak RSS"], rows))
        L.append("")
        L.append("† from schedstat (ns) because utime+stime had fewer than 100 ticks.")
        write(out_md, L)
        return

    # ------------------------------------------------------------- capacity
    L.append("")
    L.append("## SIP: capacity (ramp to the highest rate with zero failed calls)")
    L.append("")
    L.append("Each proxy alone, rates doubling from a start until a step fails (a lost message is a failed call; "
             "a failed step is tried once more), then bisected. The CPU figures are of the best step: "
             "utime+stime of the whole process tree over the step, per completed call and per message "
             "forwarded (7 per call). *calls/s per core* = 10⁶ / CPU µs per call: what one fully busy core would carry.")
    L.append("")
    rows = []
    for lab in labels:
        r = ramp.get(lab)
        if not r:
            continue
        lim = ""
        if r.get("fail_loadgen_bound"):
            lim = " (load generator's limit)"
        rows.append([
            lab,
            fmt(r.get("max_cps")) + lim,
            fmt(r.get("msgs_per_s")),
            fmt(r.get("proxy_cpu_pct"), 0) + " %",
            fmt(r.get("loadgen_cpu_pct"), 0) + " %",
            fmt(r.get("cpu_us_per_call")),
            fmt(r.get("cpu_us_per_msg")),
            fmt(1e6 / r["cpu_us_per_call"]) if r.get("cpu_us_per_call") else "–",
            f"{r.get('invite_p50_us', '–')} / {r.get('invite_p99_us', '–')}",
        ])
    L.append(table(["proxy", "max calls/s", "msgs/s", "proxy CPU", "loadgen CPU", "CPU µs/call",
                    "CPU µs/msg", "calls/s per core", "INVITE→200 p50 / p99 µs"], rows))
    fr = ramp.get("floor")
    if fr and fr.get("max_cps"):
        lgp = fr.get("loadgen_cpu_pct") or 0
        L.append("")
        L.append(f"The load generator's own ceiling is the floor's row: {fmt(fr['max_cps'])} calls/s "
                 f"({fmt(fr.get('msgs_per_s'))} messages/s) with the generator at {fmt(lgp, 0)} % of its core"
                 + (f", i.e. about {fmt(round(fr['max_cps'] * 100 / lgp, -2))} calls/s if it had the core to itself"
                    if lgp > 0 else "")
                 + ". Where neither the proxy nor the generator is near 100 %, steps failed on scheduling "
                 "stalls of this shared virtual machine (messages lost from full socket buffers), so the max "
                 "rates are lower bounds; *calls/s per core* does not depend on that.")

    # ---------------------------------------------------------- fixed rates
    for tag, title in (("low", "a low rate every proxy sustains"),
                       ("moderate", "a moderate rate for the native proxies"),
                       ("high", "a high rate for the proxies that carry it")):
        rows = []
        for lab in labels:
            f = fx(lab, tag)
            if not f:
                continue
            rows.append([
                lab, fmt(f["rate"]), f"{f['calls']} / {f['failed']}",
                fmt(f["us_msg"]) + ("†" if f["sched"] else "") +
                (f" ({fmt(f['us_msg_min'])}–{fmt(f['us_msg_max'])})" if f["rounds"] > 1 else ""),
                fmt(f["us_call"]),
                f"{fmt(f['inv50'])} / {fmt(f['inv99'])}",
                f"{fmt(f['bye50'])} / {fmt(f['bye99'])}",
            ])
        if rows:
            L.append("")
            L.append(f"## SIP: fixed rate, {title}")
            L.append("")
            L.append("Medians over rounds in which the proxies took turns (A B C … A B C …); CPU µs/msg shows the "
                     "range over the rounds in brackets. Latency is measured by the load generator (its own "
                     "queueing included): INVITE sent → 200 received, BYE sent → 200 received.")
            L.append("")
            L.append(table(["proxy", "calls/s", "calls / failed", "CPU µs/msg", "CPU µs/call",
                            "INVITE→200 p50 / p99 µs", "BYE→200 p50 / p99 µs"], rows))
    L.append("")
    L.append("† utime+stime had fewer than 100 ticks (10 ms each) over a round, so the round's CPU is "
             "sum_exec_runtime from /proc/<pid>/task/*/schedstat, the nanosecond counter that utime+stime are "
             "scaled to.")

    # --------------------------------------------------------------- memory
    L.append("")
    L.append("## SIP: memory")
    L.append("")
    L.append("Peak RSS is VmHWM from /proc/<pid>/status summed over the process tree (shared pages counted in "
             "every process); PSS is from smaps_rollup (shared pages split), after the load.")
    L.append("")
    rows = []
    for lab in labels:
        hwm, pss, procs = peak(lab)
        idle = mem.get((lab, "idle"), {})
        endm = mem.get((lab, "end"), {})
        rows.append([lab, procs or "–", kib(idle.get("rss_kb")), kib(hwm), mib(hwm), kib(pss),
                     f"{kib(endm.get('anon_kb'))} / {kib(endm.get('file_kb'))}" if endm.get("anon_kb") is not None else "–"])
    L.append(table(["proxy", "processes", "RSS idle", "peak RSS", "", "PSS after load",
                    "RSS anonymous / file-backed after load"], rows))

    # --------------------------------------------------------------- ratios
    def us_msg(label, tag):
        f = fx(label, tag)
        return f["us_msg"] if f else None

    def work(label, tag):
        a, b = us_msg(label, tag), us_msg("floor", tag)
        return None if a is None or b is None else a - b

    def ramp_msg(label):
        r = ramp.get(label)
        return r.get("cpu_us_per_msg") if r else None

    L.append("")
    L.append("## Ratios")
    L.append("")
    L.append("Other / edgesip: above 1 means edgesip uses less. The floor row is edgesip / floor (the overhead "
             "of the SIP work over a bare recv+send loop).")
    L.append("")
    rows = []
    fl = FLOOR
    pairs = [(EDGESIP_1, fl), (EDGESIP_2, fl), (EDGESIP_1, FLOOR_B), (EDGESIP_2, FLOOR_B), (EDGESIP_NAT, EDGESIP_2)]
    pairs += [(o, m) for o, m in ((KAM_TLSF, EDGESIP_1), (KAM_QM, EDGESIP_1), (NETSIP_1, EDGESIP_1),
                                  (NETSIP_2, EDGESIP_2)) if o in labels]
    for a, b in pairs:
        if a not in labels or b not in labels:
            continue
        rows.append([f"{a} / {b}",
                     rfmt(ratio(ramp_msg(a), ramp_msg(b))),
                     rfmt(ratio(us_msg(a, "high"), us_msg(b, "high"))),
                     rfmt(ratio(us_msg(a, "moderate"), us_msg(b, "moderate"))),
                     rfmt(ratio(us_msg(a, "low"), us_msg(b, "low"))),
                     rfmt(ratio(peak(a)[0], peak(b)[0])), rfmt(ratio(peak(a)[1], peak(b)[1]))])
    L.append(table(["", "CPU/msg at max rate", f"at {fmt(TOP(fx, EDGESIP_1))} calls/s",
                    f"at {fmt(HI(fx, EDGESIP_1))} calls/s", f"at {fmt(LOWR(fx, EDGESIP_1))} calls/s",
                    "peak RSS", "PSS"], rows))

    # ------------------------------------------------------------ capacity
    cap_rows = []
    for small, large in CAPACITY:
        if large == BIG_NAT:
            large = next((x for x in labels if x.startswith(BIG_NAT) and x != small), large)
        a, b = fx(small, "moderate"), fx(large, "moderate")
        if not a or not b:
            continue
        cap_rows.append((small, large, a, b, ratio(b["us_msg"], a["us_msg"])))
    if cap_rows:
        L.append("")
        L.append("## Cost against capacity")
        L.append("")
        L.append("The same flows at the moderate rate through small and large tables (the registrar's filled "
                 "with registered users before the calls; the calls are addressed by IP, so what is measured "
                 "is the per-message and per-wake-up work of a full table, not a lookup).")
        L.append("")
        rows = []
        for small, large, a, b, r in cap_rows:
            rows.append([small, fmt(a["us_msg"]), f"{a['calls']} / {a['failed']}", large, fmt(b["us_msg"]),
                         f"{b['calls']} / {b['failed']}", rfmt(r)])
        L.append(table(["small", "CPU µs/msg", "calls / failed", "large", "CPU µs/msg", "calls / failed",
                        "large / small"], rows))

    L.append("")
    L.append("**SIP work per message**: CPU µs per message minus the floor's at the same rate (what is left once "
             "the event loop and the two system calls per message are taken out), and its ratio to edgesip's.")
    L.append("")
    rows = []
    for lab in labels:
        if lab in (fl, FLOOR_B):
            continue
        wl, wm = work(lab, "low"), work(lab, "moderate")
        mine = EDGESIP_2 if "2 legs" in lab and not lab.startswith("edgesip") else EDGESIP_1
        rows.append([lab, fmt(wl), rfmt(ratio(wl, work(mine, "low"))) if not lab.startswith("edgesip") else "",
                     fmt(wm), rfmt(ratio(wm, work(mine, "moderate"))) if not lab.startswith("edgesip") else ""])
    L.append(table(["proxy", f"µs/msg at {fmt(LOWR(fx, EDGESIP_1))} calls/s", "/ edgesip's",
                    f"µs/msg at {fmt(HI(fx, EDGESIP_1))} calls/s", "/ edgesip's"], rows))

    # --------------------------------------------------------- SIP over TCP
    sipp = defaultdict(list)
    for r in recs:
        if r.get("kind") == "sipp":
            sipp[r["label"]].append(r)

    def sipp_us(label):
        rs = sipp.get(label)
        if not rs:
            return None
        per = [r["cpu_ns"] / 1000 / (r["calls"] * r["msgs_per_call"]) for r in rs if r.get("calls")]
        return median(per) if per else None

    if sipp:
        L.append("")
        L.append("## SIP over TCP next to UDP (SIPp)")
        L.append("")
        L.append("SIPp's built-in UAC and UAS (`-t t1`: one connection each side; `-t u1` for UDP) at a fixed "
                 "rate through each proxy, taking turns. edgesip over TCP: leg a `tcp`, leg b `tcp-only`; "
                 "Kamailio over TCP: the same stateless script with `-A WITH_TCP` (one TCP worker). CPU is the "
                 "proxy tree's schedstat run time over the UAC's run, per message (6 per call: SIPp's UAS "
                 "sends no 100); medians over the rounds.")
        L.append("")
        rows = []
        for lab, rs in sipp.items():
            rows.append([lab, fmt(rs[0].get("rate")), f"{sum(r.get('calls', 0) for r in rs)} / "
                         f"{sum(r.get('failed', 0) for r in rs)}", fmt(sipp_us(lab))])
        L.append(table(["proxy", "calls/s", "calls / failed", "CPU µs/msg"], rows))
        L.append("")
        rows = []
        for a, b in (("edgesip 2 legs, TCP", "edgesip 2 legs, UDP"), ("Kamailio TLSF, TCP", "Kamailio TLSF, UDP"),
                     ("Kamailio TLSF, UDP", "edgesip 2 legs, UDP"), ("Kamailio TLSF, TCP", "edgesip 2 legs, TCP")):
            rows.append([f"{a} / {b}", rfmt(ratio(sipp_us(a), sipp_us(b)))])
        L.append(table(["", "CPU per message"], rows))

    # ------------------------------------------------------------------ RTP
    rtp = defaultdict(dict)
    for r in recs:
        if r.get("kind") == "rtp" and "error" not in r:
            rtp[r["label"]][r.get("tag", "blast")] = r
    L.append("")
    L.append("## RTP relay (172-byte packets, both ways)")
    L.append("")
    L.append("Calls set up first (edgesip: INVITE/200 with SDP through `--nat`; rtpengine: ng offer/answer; the "
             "floor: fixed socket pairs), then a closed-loop blast (at most 4,096 packets in flight) and a run "
             "paced at 20,000 packets/s (200 G.711 calls). ns/packet = relay CPU (utime+stime, tree) / packets "
             "relayed; packets/s per core = 10⁹ / ns per packet; G.711 calls per core = that / 100 (50 packets/s "
             "each way).")
    L.append("")
    rows = []
    for lab, phases in rtp.items():
        for tag in ("blast", "paced"):
            r = phases.get(tag)
            if not r:
                continue
            ns = r.get("ns_per_pkt") if r.get("cpu_s", 0) >= MIN_TICKS_S else r.get("sched_ns_per_pkt")
            sch = r.get("cpu_s", 0) < MIN_TICKS_S
            per_core = 1e9 / ns if ns else None
            rows.append([lab, tag, r.get("sessions"), fmt(r.get("pps")), r.get("lost"), fmt(r.get("cpu_pct"), 0) + " %",
                         fmt(ns) + ("†" if sch else ""), fmt(per_core), fmt(per_core / 100 if per_core else None),
                         kib(r.get("hwm_kb"))])
    L.append(table(["relay", "run", "calls", "packets/s relayed", "lost", "relay CPU", "CPU ns/packet",
                    "packets/s per core", "G.711 calls per core", "peak RSS"], rows))

    def rtp_ns(label, tag):
        r = rtp.get(label, {}).get(tag)
        if not r:
            return None
        return r.get("ns_per_pkt") if r.get("cpu_s", 0) >= MIN_TICKS_S else r.get("sched_ns_per_pkt")

    L.append("")
    rows = []
    for tag in ("blast", "paced"):
        rows.append([tag, rfmt(ratio(rtp_ns("edgesip", tag), rtp_ns("floor", tag))),
                     rfmt(ratio(rtp_ns("rtpengine (userspace)", tag), rtp_ns("edgesip", tag)))])
    L.append(table(["run", "edgesip / floor (ns per packet)", "rtpengine / edgesip"], rows))

    # ------------------------------------------------------ memory at scale
    L.append("")
    L.append("## edgesip memory at scale")
    L.append("")
    rows = []
    m = mem.get((EDGESIP_1, "idle"))
    if m:
        rows.append(["idle, one leg (`--leg 127.0.0.1:P`)", kib(m.get("rss_kb")), kib(m.get("hwm_kb")), kib(m.get("pss_kb")), split(m)])
    for (lab, tag), m in mem.items():
        if lab.startswith("edgesip --registrar") and tag == "mem-idle":
            rows.append([f"`{lab[8:]}`, idle", kib(m.get("rss_kb")), kib(m.get("hwm_kb")), kib(m.get("pss_kb")), split(m)])
    for r in recs:
        if r.get("kind") == "register":
            rows.append([f"`{r['label'][8:]}`, {r.get('registered')} of {r.get('users')} users registered "
                         f"({fmt(r.get('cpu_us_per_register'))} µs CPU each)",
                         kib(r.get("rss_kb")), kib(r.get("hwm_kb")), kib(r.get("pss_kb")), split(r)])
    for (lab, tag), m in mem.items():
        if lab.startswith("edgesip --nat"):
            what = "idle" if tag == "mem-idle" else "all calls up, after the RTP runs"
            rows.append([f"`{lab[8:]}`, {what}", kib(m.get("rss_kb")), kib(m.get("hwm_kb")), kib(m.get("pss_kb")), split(m)])
    L.append(table(["configuration", "RSS", "peak RSS (VmHWM)", "PSS", "RSS anonymous / file-backed"], rows))
    if size:
        L.append("")
        L.append(f"Release binary (`strip = true` in the release profile; x86_64): {size['bytes']:,} bytes; "
                 f"after `strip` again: {size['stripped_bytes']:,} bytes ({size['stripped_bytes'] / 1024:.0f} KiB).")

    # ---------------------------------------------------------------- goals
    L.append("")
    L.append("## Goals")
    L.append("")
    rows = []

    def verdict(checks):
        """[(where, ok)] -> "met" / "**not met**" / a mix naming where."""
        known = [(w, ok) for w, ok in checks if ok is not None]
        if not known:
            return "–"
        if all(ok for _, ok in known):
            return "met"
        if not any(ok for _, ok in known):
            return "**not met**"
        return "; ".join(f"{'met' if ok else '**not met**'} {w}" for w, ok in known)

    def le(x, t):
        return None if x is None else x <= t

    def ge(x, t):
        return None if x is None else x >= t

    top_r, hi_r, lo_r = fmt(TOP(fx, EDGESIP_1)), fmt(HI(fx, EDGESIP_1)), fmt(LOWR(fx, EDGESIP_1))

    def at_rates(a, b, test, tags=("high", "moderate")):
        """(text, checks) for a/b at the fixed rates in tags and at max rate."""
        names = {"high": top_r, "moderate": hi_r, "low": lo_r}
        parts, checks = [], []
        for t in tags:
            r = ratio(us_msg(a, t), us_msg(b, t))
            parts.append(f"{rfmt(r)} at {names[t]} calls/s")
            checks.append((f"at {names[t]}/s", test(r)))
        r = ratio(ramp_msg(a), ramp_msg(b))
        parts.append(f"{rfmt(r)} at each one's max rate")
        checks.append(("at max rate", test(r)))
        return ", ".join(parts), checks

    for floor in (FLOOR, FLOOR_B):
        for mine in (EDGESIP_1, EDGESIP_2):
            text, checks = at_rates(mine, floor, lambda r: le(r, 1.3))
            rows.append([f"{mine} CPU per message vs {floor}", "≤ 1.3x", text, verdict(checks)])
    text, checks = at_rates(KAM_TLSF, EDGESIP_1, lambda r: ge(r, 2), ("high", "moderate", "low"))
    rows.append(["Kamailio TLSF CPU per message / edgesip's (1 leg)", "≥ 2x", text, verdict(checks)])
    text, checks = at_rates(EDGESIP_NAT, EDGESIP_2, lambda r: le(r, 1.5))
    rows.append(["`--nat` call setup CPU per message / plain forwarding (2 legs)", "≤ 1.5x", text, verdict(checks)])
    for small, large, a, b, r in cap_rows:
        rows.append([f"CPU per message, {large[8:]} / {small[8:]}", "≈ 1x (≤ 1.1x)",
                     f"{rfmt(r)} ({fmt(b['us_msg'])} / {fmt(a['us_msg'])} µs at {hi_r} calls/s)",
                     verdict([("", le(r, 1.1))])])
    n_low = [ratio(us_msg(a, "low"), us_msg(b, "low")) for a, b in ((NETSIP_1, EDGESIP_1), (NETSIP_2, EDGESIP_2))]
    n_max = [ratio(ramp_msg(a), ramp_msg(b)) for a, b in ((NETSIP_1, EDGESIP_1), (NETSIP_2, EDGESIP_2))]
    n_work = [ratio(work(a, "low"), work(b, "low")) for a, b in ((NETSIP_1, EDGESIP_1), (NETSIP_2, EDGESIP_2))]

    def mn(xs):
        xs = [x for x in xs if x is not None]
        return min(xs) if xs else None
    rows.append(["Net::SIP CPU per message / edgesip's (1 leg / 2 legs)", "≥ 50x",
                 f"{rfmt(n_low[0])} / {rfmt(n_low[1])} at {lo_r} calls/s; {rfmt(n_max[0])} / {rfmt(n_max[1])} at "
                 f"each one's max rate; SIP work alone (minus the floor) at {lo_r} calls/s: "
                 f"{rfmt(n_work[0])} / {rfmt(n_work[1])}",
                 verdict([(f"at {lo_r}/s", ge(mn(n_low), 50)), ("at max rate", ge(mn(n_max), 50)),
                          ("on SIP work", ge(mn(n_work), 50))])])
    hw = [peak(x)[0] for x in (EDGESIP_1, EDGESIP_2) if peak(x)[0]]
    rows.append(["edgesip peak RSS", "< 2 MiB (2,048 KiB)",
                 ", ".join(f"{kib(peak(x)[0])} ({x[8:]})" for x in (EDGESIP_1, EDGESIP_2) if peak(x)[0]) +
                 f"; the floor: {kib(peak(fl)[0])}",
                 verdict([("", None if not hw else max(hw) < 2048)])])
    r_b = ratio(rtp_ns("edgesip", "blast"), rtp_ns("floor", "blast"))
    r_p = ratio(rtp_ns("edgesip", "paced"), rtp_ns("floor", "paced"))
    rows.append(["edgesip relay CPU per packet vs recv+send (the floor)", "≤ 1.1x blast, ≤ 1.3x paced",
                 f"{rfmt(r_b)} (blast), {rfmt(r_p)} (paced)",
                 verdict([("blast", le(r_b, 1.1)), ("paced", le(r_p, 1.3))])])
    L.append(table(["goal", "target", "measured", ""], rows))

    L.append("")
    L.append("## How it was measured")
    L.append("")
    L.append("- `loadgen` (tests/bench/src/bin/loadgen.rs) plays INVITE/100/180/200/ACK/BYE/200 with the UAC and "
             "the UAS in one process, 4 UDP sockets per side, recvmmsg/sendmmsg batches, no retransmissions; "
             "the UAS answers to the packet's source, echoing Via, Record-Route, From, To (+tag), Call-ID and "
             "CSeq; the UAC sends ACK and BYE to the 200's Contact with the Record-Route set reversed. A call "
             "fails on any missing message (100 is counted but not required), an error answer or a timeout "
             "(1 s in the ramps, 2 s at the fixed rates). Messages through the proxy = datagrams the UAC and UAS received. Calls are held 500 ms "
             "(100 ms with `--nat`).")
    L.append("- The floor (`floor.rs`) is edgesip's mio loop (edge-triggered, 64 datagrams per socket per turn, "
             "one recv_from and one send_to each, 256 KiB receive buffer) relaying between fixed peers; the same "
             "call flows run through it, so its max rate is the load generator's own ceiling on this machine. "
             "The blocking floor (`floor --blocking`) is the physical one: a blocking recv_from and a send_to "
             "per datagram on one socket, no event loop at all.")
    L.append("- Kamailio: tests/bench/peers/kamailio-stateless.cfg (rr module only: loose_route(), record_route(), "
             "forward(); no tm, no database), `-n 1` (one UDP worker; the tree also has the main, timer and "
             "slow-timer processes, all counted). Net::SIP: tests/bench/peers/netsip_proxy.pl "
             "(Net::SIP::StatelessProxy; with two legs the first leg only delivers to 127.0.0.1, so calls to "
             "the UAS cross legs and Contacts are rewritten).")
    L.append("- CPU: utime+stime from /proc/<pid>/stat of every process in the tree, read before and after each "
             "step. The machine is shared and virtualised: absolute rates move with the neighbours' load, "
             "ratios from the same run much less.")
    write(out_md, L)

    # ---------------------------------------------------------------- chart
    lo_r = fmt(LOWR(fx, EDGESIP_1))
    bars1 = []
    for lab in labels:
        f = fx(lab, "low")
        r = ramp.get(lab)
        vals = []
        if r and r.get("cpu_us_per_call"):
            vals.append((f"at its max rate ({fmt(r.get('max_cps'))}/s)", r["cpu_us_per_call"], 1.0))
        if f and f["us_call"]:
            vals.append((f"at {lo_r} calls/s", f["us_call"], 0.55))
        if vals:
            bars1.append((lab, vals))
    bars2 = []
    for lab in rtp:
        vals = []
        for tag, op in (("blast", 1.0), ("paced", 0.55)):
            ns = rtp_ns(lab, tag)
            if ns:
                vals.append((tag, 1e9 / ns, op))
        if vals:
            bars2.append((lab, vals))
    svg_chart(out_svg, bars1, bars2)


def TOP(fx, label):
    f = fx(label, "high")
    return f["rate"] if f else None


def HI(fx, label):
    f = fx(label, "moderate")
    return f["rate"] if f else None


def LOWR(fx, label):
    f = fx(label, "low")
    return f["rate"] if f else None


def write(path, lines):
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def esc(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def svg_chart(path, bars1, bars2):
    """Two horizontal bar charts: CPU µs per call per proxy (log scale; dark:
    at its max rate, light: at the common low rate), and relay packets/s per
    core (dark: blast, light: paced)."""
    W, left, right, sub, gap, top = 920, 200, 190, 15, 8, 50
    parts = []
    y = 20
    colors = {"edgesip": "#1f77b4", "floor": "#7f7f7f", "Kamailio": "#2ca02c", "Net::SIP": "#d62728",
              "rtpengine": "#9467bd"}

    def color(lab):
        for k, c in colors.items():
            if lab.startswith(k):
                return c
        return "#8c564b"

    def panel(title, legend, bars, log, unit):
        nonlocal y
        if not bars:
            return
        parts.append(f'<text x="10" y="{y + 16}" font-size="15" font-weight="bold">{esc(title)}</text>')
        parts.append(f'<text x="10" y="{y + 34}" font-size="12" fill="#444">{esc(legend)}</text>')
        y += top
        allv = [v for _, vals in bars for _, v, _ in vals]
        vmax, vmin = max(allv), min(allv)
        width = W - left - right
        if log:
            lo = 10 ** math.floor(math.log10(max(vmin, 1e-9)))
            hi = 10 ** math.ceil(math.log10(vmax))
            if hi <= lo:
                hi = lo * 10

            def scale(v):
                return width * (math.log10(max(v, lo)) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))
            ticks, t = [], lo
            while t <= hi * 1.0001:
                ticks.append(t)
                t *= 10
        else:
            hi = vmax * 1.1

            def scale(v):
                return width * v / hi
            step = 10 ** math.floor(math.log10(hi))
            if hi / step < 4:
                step /= 2
            ticks = [i * step for i in range(int(hi / step) + 1)]
        h = sum(sub * len(vals) + gap for _, vals in bars)
        for t in ticks:
            x = left + scale(t)
            parts.append(f'<line x1="{x:.1f}" y1="{y}" x2="{x:.1f}" y2="{y + h}" stroke="#ddd"/>')
            parts.append(f'<text x="{x:.1f}" y="{y + h + 14}" font-size="11" text-anchor="middle" fill="#555">'
                         f'{fmt(t)}</text>')
        yy = y
        for lab, vals in bars:
            parts.append(f'<text x="{left - 8}" y="{yy + sub * len(vals) / 2 + 5:.1f}" font-size="13" '
                         f'text-anchor="end">{esc(lab)}</text>')
            for name, v, op in vals:
                wbar = max(scale(v), 1)
                parts.append(f'<rect x="{left}" y="{yy + 1}" width="{wbar:.1f}" height="{sub - 2}" '
                             f'fill="{color(lab)}" fill-opacity="{op}"/>')
                parts.append(f'<text x="{left + wbar + 5:.1f}" y="{yy + sub - 3}" font-size="11">'
                             f'{fmt(v)} {unit} {esc(name)}</text>')
                yy += sub
            yy += gap
        y += h + 40

    panel("SIP: proxy CPU per call (µs, utime+stime of the process tree; log scale, lower is better)",
          "dark: at the proxy's own max rate; light: at the low rate every proxy sustains", bars1, True, "µs")
    panel("RTP relay: packets/s per core (10⁹ / CPU ns per packet; higher is better)",
          "dark: closed-loop blast; light: paced at 20,000 packets/s", bars2, False, "pps")
    if not parts:
        parts.append('<text x="10" y="30" font-size="14">no data</text>')
        y = 50
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{y}" viewBox="0 0 {W} {y}" '
           f'font-family="sans-serif"><rect width="100%" height="100%" fill="white"/>' + "".join(parts) + "</svg>\n")
    with open(path, "w") as f:
        f.write(svg)


if __name__ == "__main__":
    main()
