"""The flows of the interop suite. Each flow asserts what RFC 3261 (and
RFC 3581/3264/4028) says the far end must receive, from the far end's own
capture and log; none reads what edgesip says it did."""
import os
import time

from . import pcap, topology as T
from .calls import STEP, Call, View, summary, uri_of, is_relay
from .peers import SetupError, sipp, wait_for

FLOWS = []


def flow(name, doc):
    def deco(fn):
        FLOWS.append((name, doc, fn))
        return fn
    return deco


class Ctx:
    def __init__(self, run, name, report):
        self.run, self.name, self.report = run, name, report
        self.kam_mark = run.kam.proc.log_size() if run.kam else 0
        self.t0 = time.time()

    def check(self, what, ok, why=""):
        self.report(f"{self.name}: {what}", bool(ok), why)

    def view(self, phone):
        return View(self.run, self.run.phone(phone))

    def kam(self, variant="rr"):
        k = self.run.kamailio(variant)
        self.kam_mark = k.proc.log_size()
        return k


def edge_self_packets(run, t0, t1=None):
    """Packets edgesip sent to one of its own addresses (RTP loops, SIP to itself)."""
    return [p for p in run.caps["edge"].pkts(t0, t1)
            if p.src in T.EDGE_ADDRS and p.dst in T.EDGE_ADDRS and p.pkttype == pcap.OUTGOING]


# -- registration -------------------------------------------------------------

@flow("register", "REGISTER through edgesip to the provider with digest; a refresh keeps one binding")
def register(ctx):
    run = ctx.run
    kam = ctx.kam("rr")
    run.edgesip("v4")
    run.stop_phone("alice")
    t0 = time.time()
    ctx.kam_mark = kam.proc.log_size()
    a = ctx.view("alice")
    wait_for(lambda: [m for m in a.rx(t0) if m.status == 200], STEP)  # the capture lags the log
    regs = [m for m in a.tx(t0) if m.method == "REGISTER"]
    callid = regs[0].call_id if regs else None
    own_contact = uri_of(regs[0].hdr("contact")) if regs else None
    rx = [r for r in kam.rx(ctx.kam_mark) if r["method"] == "REGISTER" and r.get("callid") == callid]
    chal = kam.lines("AUTH-CHALLENGE user=<alice>", ctx.kam_mark)
    okl = kam.lines("AUTH-OK user=<alice>", ctx.kam_mark)
    ctx.check("the provider receives alice's REGISTER from edgesip's WAN leg, challenges it, and accepts the digest answer",
              rx and all(r["src"] == f"{T.EDGE_WAN4}:5060" for r in rx) and chal and okl,
              f"provider got {[(r['src'], r.get('auth')) for r in rx]}, challenges {len(chal)}, accepted {len(okl)}")
    contacts = {r.get("contact") for r in rx}
    ctx.check("the Contact the provider receives is a token at edgesip's WAN leg, not the private address",
              contacts and all(c and c.startswith("<sip:b") and f"@{T.EDGE_WAN4}>" in c for c in contacts),
              f"provider got Contact {sorted(c or '' for c in contacts)}")
    ok = [m for m in a.rx(t0, callid) if m.status == 200 and m.cseq_method == "REGISTER"]
    back = ok and own_contact in [uri_of(c) for c in ok[-1].hdrs("contact")]
    ctx.check("alice receives the 200 OK listing her own Contact (the token turned back)",
              back and a.ph.registered(),
              f"alice got {summary(a.rx(t0, callid))}, Contact {ok[-1].hdrs('contact') if ok else None}, "
              f"her own is {own_contact}")
    # alice refreshes every 10 s (regint=10).
    saved = wait_for(lambda: len([r for r in kam.rx(ctx.kam_mark) if r["method"] == "REGISTER"
                                  and r.get("callid") == callid and r.get("auth") == "alice"]) >= 2,
                     a.ph.spec.regint + 4, 0.25)
    time.sleep(0.3)
    rx = [r for r in kam.rx(ctx.kam_mark) if r["method"] == "REGISTER" and r.get("callid") == callid]
    contacts = {r.get("contact") for r in rx}
    binds = kam.bindings("alice")
    ctx.check("a refresh (same Call-ID, next CSeq) reaches the provider with the same Contact; usrloc holds one binding",
              saved and len(contacts) == 1 and len(binds) == 1,
              f"{len(rx)} REGISTERs, Contacts {sorted(c or '' for c in contacts)}, kamcmd ul.dump: alice -> {binds}")


# -- calls through a record-routing provider ----------------------------------

def full_call(ctx, caller, callee, uri, label, holds=True, bye_from="caller", relayed=True):
    a, b = ctx.view(caller), ctx.view(callee)
    c = Call(ctx, a, b, uri, label, relayed)
    if c.start():
        time.sleep(1.0)
        if holds:
            c.reinvite(a, True)
            c.reinvite(a, False)
            c.reinvite(b, True)
            c.reinvite(b, False)
            time.sleep(0.8)
        c.bye(a if bye_from == "caller" else b)
        c.media()
        if holds:
            c.no_record_route_in_dialog()
    ctx.run.idle(caller, callee)
    return c


@flow("wan-lan", "WAN phone calls a LAN phone: ACK, hold/resume from both sides, BYE from both sides")
def wan_lan(ctx):
    ctx.kam("rr")
    full_call(ctx, "wphone", "alice", "sip:alice@provider.test", "call 1 wphone->alice")
    full_call(ctx, "wphone", "alice", "sip:alice@provider.test", "call 2 wphone->alice",
              holds=False, bye_from="callee")


@flow("lan-wan", "LAN phone calls the WAN phone: ACK, hold/resume from both sides, BYE from both sides")
def lan_wan(ctx):
    ctx.kam("rr")
    full_call(ctx, "alice", "wphone", "sip:wphone@provider.test", "call 1 alice->wphone")
    full_call(ctx, "alice", "wphone", "sip:wphone@provider.test", "call 2 alice->wphone",
              holds=False, bye_from="callee")


def ringing(ctx, caller, callee, uri, label):
    """Dial with the callee in manual answer mode; returns the Call once the
    caller got 180 (or None)."""
    a, b = ctx.view(caller), ctx.view(callee)
    b.ph.cmd("/answermode manual")
    c = Call(ctx, a, b, uri, label)
    c.a_log, c.b_log = a.ph.log_size(), b.ph.log_size()
    if not c.dial(expect_answer=False):
        return None
    r = wait_for(lambda: [m for m in a.rx(c.t0, c.callid) if m.status == 180], STEP)
    c.check(f"{a.name} gets 180 Ringing", bool(r), f"{a.name} received {summary(a.rx(c.t0, c.callid))}")
    return c


def final_and_ack(c, status, what):
    """The caller must get the final response `status`; the callee (which
    sent it) must get the ACK for it, from its own previous hop."""
    a, b = c.a, c.b
    fin = wait_for(lambda: [m for m in a.rx(c.t0, c.callid) if m.status == status], STEP)
    sent = [m for m in b.tx(c.t0, c.callid) if m.status == status]
    ack = wait_for(lambda: [m for m in b.rx(c.t0, c.callid) if m.method == "ACK"], STEP)
    # Without an ACK the UAS retransmits its final response (RFC 3261 17.2.1).
    time.sleep(0.8)
    again = [m for m in b.tx(c.t0, c.callid) if m.status == status]
    c.check(f"{what}: {a.name} gets the {status}, and {b.name} gets the ACK for it (no retransmission)",
            fin and ack and len(again) == 1,
            f"{a.name} received {summary(a.rx(c.t0, c.callid))}; {b.name} sent {summary(b.tx(c.t0, c.callid))}, "
            f"received {summary(b.rx(c.t0, c.callid))}")
    return bool(fin)


@flow("cancel", "CANCEL of a ringing call, LAN->WAN and WAN->LAN")
def cancel(ctx):
    ctx.kam("rr")
    for caller, callee, uri in (("alice", "wphone", "sip:wphone@provider.test"),
                                ("wphone", "alice", "sip:alice@provider.test")):
        c = ringing(ctx, caller, callee, uri, f"CANCEL {caller}->{callee}")
        if c:
            t = time.time()
            c.a.ph.cmd("/hangup")
            got = wait_for(lambda: [m for m in c.b.rx(t, c.callid) if m.method == "CANCEL"], STEP)
            ok = wait_for(lambda: [m for m in c.b.tx(t, c.callid) if m.status == 200 and m.cseq_method == "CANCEL"], 1)
            c.check(f"the CANCEL reaches {callee} (and it answers 200)", got and ok,
                    f"{callee} received {summary(c.b.rx(t, c.callid))}" + c.kam_evidence())
            final_and_ack(c, 487, "after the CANCEL")
        ctx.run.phones[callee].cmd("/answermode auto")
        ctx.run.idle(caller, callee)


@flow("busy", "486 Busy from the callee, LAN->WAN and WAN->LAN")
def busy(ctx):
    ctx.kam("rr")
    for caller, callee, uri in (("alice", "wphone", "sip:wphone@provider.test"),
                                ("wphone", "alice", "sip:alice@provider.test")):
        c = ringing(ctx, caller, callee, uri, f"486 {caller}->{callee}")
        if c:
            c.b.ph.cmd("/hangup")  # baresip rejects a ringing call with 486
            final_and_ack(c, 486, "reject")
        ctx.run.phones[callee].cmd("/answermode auto")
        ctx.run.idle(caller, callee)


@flow("notfound", "404 from the provider for an unknown user; the ACK for it reaches the provider")
def notfound(ctx):
    kam = ctx.kam("rr")
    a = ctx.view("alice")
    t = time.time()
    a.ph.cmd("/dial sip:nobody@provider.test")
    r = wait_for(lambda: [m for m in a.rx(t) if m.status == 404 and m.cseq_method == "INVITE"], STEP)
    callid = r[0].call_id if r else None
    ack = wait_for(lambda: [x for x in kam.rx(ctx.kam_mark) if x["method"] == "ACK" and x.get("callid") == callid
                            and x.get("src") == f"{T.EDGE_WAN4}:5060"], STEP) if r else None
    ctx.check("alice gets the provider's 404, and the provider gets the ACK for it from edgesip",
              r and ack, f"alice received {summary(a.rx(t))}; provider got ACK: {bool(ack)}")
    ctx.run.idle("alice")


# -- hairpin, NAT ---------------------------------------------------------------

@flow("hairpin", "LAN phone calls a LAN phone through the provider (LAN->provider->LAN)")
def hairpin(ctx):
    run = ctx.run
    ctx.kam("rr")
    run.phone("bob")
    t0 = time.time()
    c = full_call(ctx, "alice", "bob", "sip:bob@provider.test", "hairpin alice->bob", holds=False)
    loops = edge_self_packets(run, t0)
    ctx.check("hairpin: no packet from edgesip to edgesip (media or signalling)", not loops,
              f"{len(loops)} packets, e.g. {loops[:3]}")


@flow("nat", "a LAN phone behind its own NAT (nftables masquerade): register, calls both ways, media")
def nat(ctx):
    run = ctx.run
    kam = ctx.kam("rr")
    run.edgesip("v4")
    run.stop_phone("carol")
    t0 = time.time()
    ctx.kam_mark = kam.proc.log_size()
    cv = ctx.view("carol")
    wait_for(lambda: [m for m in cv.rx(t0) if m.status == 200], STEP)  # the capture lags the log
    regs = [m for m in cv.tx(t0) if m.method == "REGISTER"]
    via = regs[0].hdr("via") if regs else ""
    binds = kam.bindings("carol")
    ctx.check("carol (Via/Contact 10.0.0.10, behind masquerade) registers through edgesip; "
              "the provider stores a token at edgesip's WAN leg",
              T.CAROL4 in via and cv.ph.registered() and len(binds) == 1 and f"@{T.EDGE_WAN4}" in binds[0],
              f"carol's Via {via}; ul.dump carol -> {binds}")
    windows = []
    for caller, callee, uri in (("wphone", "carol", "sip:carol@provider.test"),
                                ("carol", "wphone", "sip:wphone@provider.test")):
        t1 = time.time()
        full_call(ctx, caller, callee, uri, f"nat {caller}->{callee}", holds=False, bye_from="caller")
        windows.append((f"{caller}->{callee}", t1, time.time()))
    # RTP edgesip sends toward carol must go to her NAT's public address,
    # also before her first packet latches the relay: when carol calls,
    # wphone's media reaches edgesip before carol even has the 200 OK.
    problems, to_nat = [], 0
    for what, t1, t2 in windows:
        edge = run.caps["edge"].pkts(t1, t2)
        private = [p for p in edge if p.src in T.EDGE_ADDRS and pcap.in_net(p.dst, T.INNER4)]
        to_nat += len([p for p in edge if p.src == T.EDGE_LAN4 and p.dst == T.NAT_OUT4 and pcap.is_rtp(p)])
        if private:
            problems.append(f"call {what}: {len(private)} packets from edgesip to 10.0.0.0/24, first {private[:2]}")
    ctx.check("nat: edgesip never sends to carol's private SDP address (10.0.0.10), only to her NAT",
              not problems and to_nat, "; ".join(problems) + f"; {to_nat} RTP packets to her NAT {T.NAT_OUT4}")


# -- edgesip's own registrar, --route, --upstream --------------------------------

@flow("registrar", "two LAN phones registered at edgesip's registrar call each other and out via --route / --upstream")
def registrar(ctx):
    run = ctx.run
    kam = ctx.kam("rr")
    run.edgesip("v4")
    for n in ("alice-ex", "bob-ex"):
        run.stop_phone(n)
    t0 = time.time()
    views = [ctx.view("alice-ex"), ctx.view("bob-ex")]
    for v in views:
        wait_for(lambda: [m for m in v.rx(t0) if m.status == 200], STEP)
        ok = [m for m in v.rx(t0) if m.status == 200 and m.cseq_method == "REGISTER"
              and m.pkt.src == T.EDGE_LAN4]
        tx = [m for m in v.tx(t0) if m.method == "REGISTER"]
        own = uri_of(tx[0].hdr("contact")) if tx else None
        ctx.check(f"{v.name} ({v.spec.aor}) registers at edgesip; the 200 OK lists its Contact",
                  ok and own in [uri_of(x) for x in ok[-1].hdrs("contact")],
                  f"{v.name} received {summary(v.rx(t0))}")
    # Both on the LAN leg: edgesip forwards, but does not relay their media.
    full_call(ctx, "alice-ex", "bob-ex", "sip:bob@example.com", "registrar alice->bob", holds=False, relayed=False)
    full_call(ctx, "bob-ex", "alice-ex", "sip:alice@example.com", "registrar bob->alice", holds=False, relayed=False)
    # The control: the same two phones by address, no registrar lookup.
    full_call(ctx, "alice-ex", "bob-ex", f"sip:bob@{views[1].ip}:{views[1].port}",
              "LAN alice->bob by address", holds=True, relayed=False)
    for uri, how in (("sip:wphone@provider.test", "--route"), ("sip:wphone@upstream.test", "--upstream")):
        mark = kam.proc.log_size()
        c = full_call(ctx, "alice-ex", "wphone", uri, f"registrar alice out via {how}", holds=False)
        got = [r for r in kam.rx(mark) if r["method"] == "INVITE" and r.get("ruri") == uri
               and r.get("src") == f"{T.EDGE_WAN4}:5060"]
        ctx.check(f"registrar alice out via {how}: the provider receives the INVITE for {uri} from edgesip",
                  bool(got), f"provider got {[(r['method'], r.get('ruri'), r.get('src')) for r in kam.rx(mark)][:4]}")
    a = views[0]
    t = time.time()
    mark = kam.proc.log_size()
    a.ph.cmd("/dial sip:nobody@example.com")
    r = wait_for(lambda: [m for m in a.rx(t) if m.status == 404 and m.pkt.src == T.EDGE_LAN4], STEP)
    fwd = [x for x in kam.rx(mark) if x["method"] == "INVITE" and "nobody@example.com" in (x.get("ruri") or "")]
    ctx.check("registrar: a call to an AoR of ours without a binding gets 404 from edgesip itself (not forwarded)",
              r and not fwd, f"alice-ex received {summary(a.rx(t))}"
              + (f"; the provider got INVITE {fwd[0].get('ruri')} from {fwd[0].get('src')} and answered it" if fwd else ""))
    run.idle("alice-ex")


# -- UPDATE and session timers (sipp) ---------------------------------------------

@flow("sipp", "UPDATE (with and without SDP) from both sides and session timers (RFC 3311, RFC 4028), sipp LAN->WAN")
def sipp_update(ctx):
    run = ctx.run
    ctx.kam("rr")
    run.edgesip("v4")
    t0 = time.time()
    uas = sipp(run, "uas", "wsipp", T.HOSTS["wsipp"][1], "uas_update.xml", timeout=25)
    time.sleep(0.5)
    uac = sipp(run, "uac", "lsipp", T.HOSTS["lsipp"][1], "uac_update.xml",
               target=f"{T.EDGE_LAN4}:5060", extra=["-s", "uas"], timeout=25)
    wait_for(lambda: not uac.alive() and not uas.alive(), 30, 0.2)
    for p in (uac, uas):
        if p.alive():
            p.stop()
    rc_uac, rc_uas = uac.p.returncode, uas.p.returncode
    lc, wc = run.caps["lsipp"], run.caps["wsipp"]
    L, W = T.HOSTS["lsipp"][1], T.HOSTS["wsipp"][1]
    at_uas = [m for m in wc.sip(t0) if m.pkt.dst == W]
    at_uac = [m for m in lc.sip(t0) if m.pkt.dst == L]
    from_uac = [m for m in lc.sip(t0) if m.pkt.src == L and m.is_request]
    callid = from_uac[0].call_id if from_uac else None

    def lost(method):
        """Where the UAC's `method` went: what it sent, what the provider got."""
        sent = [m for m in from_uac if m.method == method]
        got = [r for r in ctx.run.kam.rx(ctx.kam_mark) if r.get("callid") == callid and r["method"] == method
               and r.get("src") == f"{T.EDGE_WAN4}:5060"]
        return (f"; the UAC sent {method} {sent[0].ruri} Route {sent[0].hdrs('route')}" if sent else
                f"; the UAC sent no {method}") + (
            f"; the provider got {method} ruri={got[0].get('ruri')} from {got[0].get('src')} "
            f"route={got[0].get('route')} (x{len(got)})" if got else f"; the provider got no {method} from edgesip")
    inv = [m for m in at_uas if m.method == "INVITE"]
    ctx.check("sipp: the INVITE with Session-Expires/Min-SE/Supported: timer reaches the UAS unchanged",
              inv and inv[0].hdr("session-expires") == "90;refresher=uac" and inv[0].hdr("min-se") == "90"
              and "timer" in (inv[0].hdr("supported") or ""),
              f"UAS got {summary(at_uas)}; Session-Expires={inv and inv[0].hdr('session-expires')}")
    ok = [m for m in at_uac if m.status == 200 and m.cseq_method == "INVITE"]
    ctx.check("sipp: the 200 OK with Session-Expires and Require: timer reaches the UAC",
              ok and ok[0].hdr("session-expires") == "90;refresher=uac" and "timer" in (ok[0].hdr("require") or ""),
              f"UAC got {summary(at_uac)}")
    contact_uas = uri_of(ok[0].hdr("contact")) if ok else None
    sent_ok = [m for m in wc.sip(t0) if m.pkt.src == W and m.status == 200 and m.cseq_method == "INVITE"]
    uas_contact = uri_of(sent_ok[0].hdr("contact")) if sent_ok else None
    ack = [m for m in at_uas if m.method == "ACK"]
    ctx.check("sipp: the ACK reaches the UAS at its Contact", ack and ack[0].ruri == uas_contact,
              f"UAS got {summary(at_uas)}; UAS Contact {uas_contact}" + lost("ACK"))
    upd = [m for m in at_uas if m.method == "UPDATE"]
    inv_sdp = inv[0].sdp() if inv else None
    u_sdp = upd[0].sdp() if upd else None
    ctx.check("sipp: the UAC's UPDATE with SDP (hold) reaches the UAS at its Contact, offering the same relay port",
              upd and upd[0].ruri == uas_contact and u_sdp and inv_sdp and u_sdp.conn == T.EDGE_WAN4
              and u_sdp.audio_port == inv_sdp.audio_port and u_sdp.direction == "sendonly",
              f"UAS got {summary(at_uas)}" + (f"; UPDATE {upd[0].ruri} c={u_sdp and u_sdp.conn} "
                                              f"port {u_sdp and u_sdp.audio_port} (INVITE port "
                                              f"{inv_sdp and inv_sdp.audio_port})" if upd else lost("UPDATE")))
    refresh = [m for m in upd if not m.sdp()]
    ctx.check("sipp: the UAC's session refresh (UPDATE without SDP, Session-Expires) reaches the UAS",
              refresh and refresh[0].hdr("session-expires"), f"UAS got {len(upd)} UPDATEs" + lost("UPDATE"))
    sent_uac = [m for m in lc.sip(t0) if m.pkt.src == L and m.is_request and m.method == "INVITE"]
    uac_contact = uri_of(sent_uac[0].hdr("contact")) if sent_uac else None
    upd_uac = [m for m in at_uac if m.method == "UPDATE"]
    us = upd_uac[0].sdp() if upd_uac else None
    ok_sdp = ok[0].sdp() if ok else None
    ctx.check("sipp: the UAS's UPDATE with SDP reaches the UAC at its Contact, on the same LAN relay port as the 200 OK",
              upd_uac and upd_uac[0].ruri == uac_contact and us and ok_sdp and us.conn == T.EDGE_LAN4
              and us.audio_port == ok_sdp.audio_port,
              f"UAC got {summary(at_uac)}; UAC Contact {uac_contact}"
              + (f"; UPDATE {upd_uac[0].ruri} c={us and us.conn} port {us and us.audio_port} (200 OK port "
                 f"{ok_sdp and ok_sdp.audio_port})" if upd_uac else ""))
    bye = [m for m in at_uas if m.method == "BYE"]
    ctx.check("sipp: the UAC's BYE reaches the UAS", bye and bye[0].ruri == uas_contact,
              f"UAS got {summary(at_uas)}" + lost("BYE"))
    ctx.check("sipp: every message both scenarios wait for arrives in time (sipp exit status 0)",
              rc_uac == 0 and rc_uas == 0,
              f"uac exit {rc_uac}, uas exit {rc_uas} (receive timeouts; sipp-*.err in the kept logs)")


# -- IPv6 --------------------------------------------------------------------------

@flow("ipv6", "one call over IPv6 legs (fd00:1::/64 LAN, 2001:db8::/64 WAN)")
def ipv6(ctx):
    run = ctx.run
    kam = ctx.kam("rr")
    run.edgesip("v6")
    run.stop_phone("alice6")
    ctx.kam_mark = kam.proc.log_size()
    t0 = time.time()
    a = ctx.view("alice6")
    wait_for(lambda: [m for m in a.rx(t0) if m.status == 200], STEP)
    run.phone("wphone6")
    regs = [m for m in a.tx(t0) if m.method == "REGISTER"]
    callid = regs[0].call_id if regs else None
    rx = [r for r in kam.rx(ctx.kam_mark) if r["method"] == "REGISTER" and r.get("callid") == callid]
    binds = kam.bindings("alice6")
    ctx.check("ipv6: alice6 registers through edgesip's IPv6 legs; the provider stores a token at [2001:db8::1]",
              rx and all(r["src"] == f"{T.EDGE_WAN6}:5060" for r in rx) and len(binds) == 1
              and f"@[{T.EDGE_WAN6}]" in binds[0], f"provider got REGISTER from {[r['src'] for r in rx]}; "
              f"ul.dump alice6 -> {binds}")
    full_call(ctx, "wphone6", "alice6", "sip:alice6@provider.test", "ipv6 wphone6->alice6", holds=True)


# -- a provider that does not record-route ------------------------------------------

@flow("norr", "the provider without record_route(): in-dialog requests go phone to phone through edgesip only")
def norr(ctx):
    run = ctx.run
    kam = ctx.kam("norr")
    for caller, callee, uri, bye in (("alice", "wphone", "sip:wphone@provider.test", "caller"),
                                     ("wphone", "alice", "sip:alice@provider.test", "callee")):
        mark = kam.proc.log_size()
        c = full_call(ctx, caller, callee, uri, f"no-RR {caller}->{callee}", holds=True, bye_from=bye)
        if not c.callid:
            continue
        first = _first_cseq(c)
        indialog = [r for r in kam.rx(mark) if r.get("callid") == c.callid
                    and not (r["method"] in ("INVITE", "CANCEL") and r.get("cseq", "").split()[:1] == [str(first)])]
        ctx.check(f"no-RR {caller}->{callee}: the provider sees no in-dialog request (it did not record-route)",
                  not indialog, f"provider got {[(r['method'], r.get('ruri'), r.get('src')) for r in indialog][:4]}")
        w = c.b if callee == "wphone" else c.a
        reqs = [m for m in w.rx(c.t0, c.callid) if m.is_request and m.tag("to")]
        ctx.check(f"no-RR {caller}->{callee}: wphone gets alice's in-dialog requests straight from edgesip's WAN leg",
                  reqs and all(m.pkt.src == T.EDGE_WAN4 for m in reqs),
                  f"wphone received {summary(w.rx(c.t0, c.callid))}" + c.kam_evidence())


def _first_cseq(c):
    inv = [m for m in c.a.tx(c.t0, c.callid) if m.method == "INVITE" and not m.tag("to")]
    return inv[0].cseq_num if inv else -1


# -- SIP over TCP toward a TCP-only provider ---------------------------------------

def _from_edge(r):
    return (r.get("src") or "").startswith(T.EDGE_WAN4 + ":")


@flow("tcp", "the provider on TCP only, edgesip's WAN leg tcp-only, a UDP phone behind it: register, "
             "calls hung up by each side, sipp over TCP (-t t1) calling the phone")
def tcp(ctx):
    run = ctx.run
    kam = ctx.kam("tcp")
    run.edgesip("tcp")
    run.stop_phone("alice-tcp")
    t0 = time.time()
    ctx.kam_mark = kam.proc.log_size()
    mark = ctx.kam_mark
    a = ctx.view("alice-tcp")
    wait_for(lambda: [m for m in a.rx(t0) if m.status == 200], STEP)  # the capture lags the log
    regs = [m for m in a.tx(t0) if m.method == "REGISTER"]
    callid = regs[0].call_id if regs else None
    own_contact = uri_of(regs[0].hdr("contact")) if regs else None
    rx = [r for r in kam.rx(mark) if r["method"] == "REGISTER" and r.get("callid") == callid]
    chal = kam.lines("AUTH-CHALLENGE user=<alice>", mark)
    okl = kam.lines("AUTH-OK user=<alice>", mark)
    ctx.check("the TCP-only provider receives alice's REGISTER from edgesip's WAN leg over TCP, challenges it, "
              "and accepts the digest answer",
              rx and all(_from_edge(r) and r.get("proto") == "tcp" for r in rx) and chal and okl,
              f"provider got {[(r['src'], r.get('proto'), r.get('auth')) for r in rx]}, challenges {len(chal)}, "
              f"accepted {len(okl)}")
    contacts = {r.get("contact") for r in rx}
    ctx.check("the Contact the provider receives is a token at edgesip's WAN leg with ;transport=tcp",
              contacts and all(c and c.startswith("<sip:b") and f"@{T.EDGE_WAN4};transport=tcp>" in c
                               for c in contacts),
              f"provider got Contact {sorted(c or '' for c in contacts)}")
    at_prov = [m for m in run.caps["prov"].sip(t0) if m.pkt.dst == T.HOSTS["prov"][1]
               and m.method == "REGISTER" and m.call_id == callid]
    vias = [m.hdr("via") or "" for m in at_prov]
    ctx.check("the REGISTER on the provider's wire is on a TCP connection from edgesip, Via SIP/2.0/TCP 203.0.113.1",
              at_prov and all(m.pkt.proto == "tcp" and m.pkt.src == T.EDGE_WAN4 for m in at_prov)
              and all(v.startswith(f"SIP/2.0/TCP {T.EDGE_WAN4}") for v in vias),
              f"provider's wire: {summary(at_prov)}, top Vias {vias[:2]}")
    ok = [m for m in a.rx(t0, callid) if m.status == 200 and m.cseq_method == "REGISTER"]
    back = ok and own_contact in [uri_of(c) for c in ok[-1].hdrs("contact")]
    ctx.check("alice (UDP) receives the 200 OK listing her own Contact (the token turned back)",
              back and a.ph.registered(),
              f"alice got {summary(a.rx(t0, callid))}, Contact {ok[-1].hdrs('contact') if ok else None}, "
              f"her own is {own_contact}")

    ctx.view("wphone-tcp")
    calls = [
        full_call(ctx, "alice-tcp", "wphone-tcp", "sip:wphone@provider.test",
                  "tcp call 1 alice->wphone, alice hangs up", holds=True, bye_from="caller"),
        full_call(ctx, "alice-tcp", "wphone-tcp", "sip:wphone@provider.test",
                  "tcp call 2 alice->wphone, wphone hangs up", holds=False, bye_from="callee"),
        full_call(ctx, "wphone-tcp", "alice-tcp", "sip:alice@provider.test",
                  "tcp call 3 wphone->alice, alice hangs up", holds=False, bye_from="callee"),
    ]
    for c in calls:
        if not c.callid:
            continue
        got = [r for r in kam.rx(mark) if r.get("callid") == c.callid]
        reps = [r for r in kam.rx_replies(mark) if r.get("callid") == c.callid]
        mine = [r for r in got + reps if _from_edge(r)]
        bad = [f"{r['method']} {r.get('cseq')} src={r.get('src')} proto={r.get('proto')}"
               for r in got + reps if r.get("proto") != "tcp"]
        byes = [r for r in got if r["method"] == "BYE"]
        bye_ok = [r for r in reps if r.get("cseq", "").endswith("BYE") and r["what"] == "200"]
        ctx.check(f"{c.label}: the provider's log has every request and reply of the call over TCP "
                  f"(edgesip's ones from 203.0.113.1), the BYE and its 200 OK included",
                  mine and not bad and byes and bye_ok,
                  f"{len(got)} requests, {len(reps)} replies, {len(mine)} from edgesip; not TCP: {bad[:4]}; "
                  f"BYE {[(r.get('src'), r.get('proto')) for r in byes]}, "
                  f"200(BYE) {[(r.get('src'), r.get('proto')) for r in bye_ok]}")
    c = calls[0]
    if c.callid:
        # $hdr(Record-Route) in the provider's log is the first header only:
        # the pair is read from the provider's wire.
        inv = [m for m in run.caps["prov"].sip(c.t0) if m.call_id == c.callid and m.method == "INVITE"
               and m.pkt.src == T.EDGE_WAN4 and not m.tag("to")]
        rr = inv[0].hdrs("record-route") if inv else None
        ct = inv[0].hdr("contact") if inv else None
        via = inv[0].hdr("via") if inv else None
        ctx.check("the INVITE reaches the provider over TCP with Record-Route <sip:203.0.113.1;transport=tcp;lr>, "
                  "<sip:192.168.1.1;lr> (RFC 5658), Via SIP/2.0/TCP and a Contact token with ;transport=tcp",
                  inv and inv[0].pkt.proto == "tcp"
                  and rr == [f"<sip:{T.EDGE_WAN4};transport=tcp;lr>", f"<sip:{T.EDGE_LAN4};lr>"]
                  and via and via.startswith(f"SIP/2.0/TCP {T.EDGE_WAN4}")
                  and ct and f"@{T.EDGE_WAN4};transport=tcp>" in ct,
                  f"provider's wire: {summary(inv)} Record-Route {rr}, Via {via}, Contact {ct}")

    # sipp over TCP on the WAN calls the UDP phone through the provider.
    t1 = time.time()
    smark = kam.proc.log_size()
    uac = sipp(run, "uac-tcp", "wsipp", T.HOSTS["wsipp"][1], "uac_tcp.xml",
               target=f"{T.HOSTS['prov'][1]}:5060", extra=["-t", "t1", "-s", "alice"], timeout=15)
    wait_for(lambda: not uac.alive(), 18, 0.2)
    if uac.alive():
        uac.stop()
    rc = uac.p.returncode
    wait_for(lambda: [m for m in a.rx(t1) if m.method == "BYE"], STEP)
    got = [m for m in a.rx(t1) if m.is_request]
    scid = got[0].call_id if got else None
    sent = [m for m in a.tx(t1, scid)]
    inv = [m for m in got if m.method == "INVITE"]
    a_ok = [m for m in sent if m.status == 200 and m.cseq_method == "INVITE"]
    a_contact = uri_of(a_ok[0].hdr("contact")) if a_ok else None
    ack = [m for m in got if m.method == "ACK"]
    bye = [m for m in got if m.method == "BYE"]
    bye_ok = [m for m in sent if m.status == 200 and m.cseq_method == "BYE"]
    at_sipp = [m for m in run.caps["wsipp"].sip(t1) if m.pkt.dst == T.HOSTS["wsipp"][1]]
    udp_sipp = [m for m in run.caps["wsipp"].sip(t1) if m.pkt.proto != "tcp"]
    ctx.check("sipp -t t1 (WAN) calls alice: INVITE, ACK at her Contact and BYE reach alice over UDP; "
              "the 200 OKs reach sipp over TCP; sipp exits 0",
              rc == 0 and inv and a_ok and ack and ack[0].ruri == a_contact and bye and bye[0].ruri == a_contact
              and bye_ok and [m for m in at_sipp if m.status == 200 and m.cseq_method == "BYE"] and not udp_sipp,
              f"sipp exit {rc}; alice received {summary(got)}, sent {summary(sent)}; sipp received "
              f"{summary(at_sipp)}; SIP over UDP at sipp: {len(udp_sipp)}"
              + "; provider: " + ", ".join(f"{r['method']} {r.get('src')}/{r.get('proto')}"
                                           for r in kam.rx(smark) if r.get("callid") == scid))

    # The registration: refreshed during the calls, one binding in usrloc.
    wait_for(lambda: len([r for r in kam.rx(mark) if r["method"] == "REGISTER"
                          and r.get("callid") == callid and r.get("auth") == "alice"]) >= 2,
             a.ph.spec.regint + 4, 0.25)
    rx = [r for r in kam.rx(mark) if r["method"] == "REGISTER" and r.get("callid") == callid]
    contacts = {r.get("contact") for r in rx}
    binds = kam.bindings("alice")
    ctx.check("a refresh (same Call-ID) reaches the provider over TCP with the same Contact; "
              "kamcmd ul.dump holds one binding, the token with ;transport=tcp",
              len([r for r in rx if r.get("auth") == "alice"]) >= 2 and len(contacts) == 1
              and all(r.get("proto") == "tcp" for r in rx)
              and len(binds) == 1 and binds[0].endswith(f"@{T.EDGE_WAN4};transport=tcp"),
              f"{len(rx)} REGISTERs ({[r.get('proto') for r in rx]}), Contacts {sorted(c or '' for c in contacts)}, "
              f"kamcmd ul.dump: alice -> {binds}")

    # The WAN wire: SIP between edgesip and the provider over TCP only.
    P = T.HOSTS["prov"][1]
    edge = run.caps["edge"].pkts(t0)
    pair = [p for p in edge if {p.src, p.dst} == {T.EDGE_WAN4, P}]
    udp = [p for p in pair if p.proto == "udp" and (p.sip or 5060 in (p.sport, p.dport))]
    tcpm = [p for p in pair if p.proto == "tcp"]
    prov_udp = [p for p in run.caps["prov"].pkts(t0) if p.proto == "udp" and p.sip]
    ctx.check("tcpdump: between edgesip and the provider SIP went over TCP only (no UDP SIP on either wire)",
              tcpm and not udp and not prov_udp,
              f"{len(tcpm)} SIP messages over TCP, {len(udp)} UDP SIP packets at edgesip (e.g. {udp[:2]}), "
              f"{len(prov_udp)} UDP SIP packets at the provider (e.g. {prov_udp[:2]})")
