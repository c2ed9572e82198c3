"""What a phone really sent and received, from the capture in its own
namespace, and the call steps (dial, re-INVITE, BYE) with their checks."""
import re
import time

from . import pcap, topology as T
from .peers import RELAY_PORTS, wait_for

STEP = 2.5   # seconds to wait for a message that should arrive in milliseconds


def uri_of(header_value):
    """The URI inside a Contact/Route value: `<sip:x@y>;p` -> `sip:x@y`."""
    if not header_value:
        return None
    m = re.search(r"<([^>]*)>", header_value)
    return (m.group(1) if m else header_value.split(";")[0]).strip()


class View:
    """One phone's SIP and RTP as seen on the wire in its namespace."""

    def __init__(self, run, ph):
        self.run, self.ph, self.spec = run, ph, ph.spec
        self.cap = run.caps[ph.spec.host]
        self.ip, self.port = ph.spec.ip, ph.spec.port

    @property
    def name(self):
        return self.spec.name

    @property
    def tcp(self):
        """The phone talks SIP over TCP (its outbound proxy says so): its
        messages are on connections from and to any port of its address."""
        return "transport=tcp" in self.spec.outbound

    def rx(self, t0, callid=None):
        return [m for m in self.cap.sip(t0) if m.pkt.dst == self.ip
                and (m.pkt.proto == "tcp" if self.tcp else m.pkt.proto == "udp" and m.pkt.dport == self.port)
                and (callid is None or m.call_id == callid)]

    def tx(self, t0, callid=None):
        return [m for m in self.cap.sip(t0) if m.pkt.src == self.ip
                and (m.pkt.proto == "tcp" if self.tcp else m.pkt.proto == "udp" and m.pkt.sport == self.port)
                and (callid is None or m.call_id == callid)]

    def rtp(self, t0, t1=None):
        """(sent, received) RTP packets of this phone's RTP ports."""
        lo, hi = self.spec.rtp, self.spec.rtp + 99
        sent, recv = [], []
        for p in self.cap.pkts(t0, t1):
            if not pcap.is_rtp(p):
                continue
            if p.src == self.ip and lo <= p.sport <= hi:
                sent.append(p)
            elif p.dst == self.ip and lo <= p.dport <= hi:
                recv.append(p)
        return sent, recv

    def edge_ip(self):
        """edgesip's address on the leg that faces this phone."""
        if self.spec.af == 6:
            return T.EDGE_WAN6 if pcap.in_net(self.ip, T.WAN6) else T.EDGE_LAN6
        return T.EDGE_WAN4 if pcap.in_net(self.ip, T.WAN4) else T.EDGE_LAN4


def summary(msgs, limit=12):
    out = [f"{m.method or m.status}{'(' + m.cseq_method + ')' if not m.is_request else ''} "
           f"{pcap.fmt(m.pkt.src, m.pkt.sport)}>{pcap.fmt(m.pkt.dst, m.pkt.dport)}"
           f"{'/tcp' if m.pkt.proto == 'tcp' else ''}" for m in msgs]
    if len(out) > limit:
        out = out[:limit] + [f"... {len(out) - limit} more"]
    return "[" + ", ".join(out) + "]"


def is_relay(ip, port, edge_ip):
    return ip == edge_ip and RELAY_PORTS[0] <= port <= RELAY_PORTS[1]


class Call:
    """A call from `a` (caller) to `b` (callee) through edgesip, step by step.
    Every step records its checks in ctx and never raises on a failed check,
    so a flow runs to the end."""

    def __init__(self, ctx, a, b, uri, label, relayed=True):
        """relayed: the call crosses edgesip's legs, so media must go through
        its relay (--nat); False for a call between two phones on the same
        leg, whose media edgesip leaves alone (they reach each other)."""
        self.ctx, self.a, self.b, self.uri, self.label = ctx, a, b, uri, label
        self.relayed = relayed
        self.t0 = time.time()
        self.callid = None
        self.a_contact = self.b_contact = None
        self.media_t0 = None
        self.last_resume = None
        self.pending = set()  # phones whose last re-INVITE got no final answer

    def check(self, what, ok, why=""):
        self.ctx.check(f"{self.label}: {what}", ok, why)

    def kam_evidence(self):
        kam = self.ctx.run.kam
        if not kam or not self.callid:
            return ""
        rx = [r for r in kam.rx(self.ctx.kam_mark) if r.get("callid") == self.callid]
        if not rx:
            return "; the provider received nothing of this call"
        seen = {}
        for r in rx:
            k = f"{r['method']} {r.get('cseq', '').split(' ')[0]} ruri={r.get('ruri')} from {r.get('src')} route={r.get('route')}"
            seen[k] = seen.get(k, 0) + 1
        return "; the provider received " + ", ".join(
            k + (f" (x{n})" if n > 1 else "") for k, n in list(seen.items())[-5:])

    # -- set-up ---------------------------------------------------------------

    def dial(self, expect_answer=True):
        a, b = self.a, self.b
        a.ph.cmd(f"/dial {self.uri}")
        inv_a = wait_for(lambda: [m for m in a.tx(self.t0) if m.method == "INVITE" and not m.tag("to")], STEP)
        if not inv_a:
            self.check(f"{a.name} sends the INVITE", False, f"{a.name} sent {summary(a.tx(self.t0))}; "
                       + a.ph.log_tail())
            return False
        self.callid = inv_a[0].call_id
        self.a_contact = uri_of(inv_a[0].hdr("contact"))
        inv_b = wait_for(lambda: [m for m in b.rx(self.t0, self.callid) if m.method == "INVITE"
                                  and not m.tag("to")], STEP)
        sdp = inv_b[0].sdp() if inv_b else None
        self.check(f"the INVITE reaches {b.name}", bool(inv_b),
                   f"{b.name} received {summary(b.rx(self.t0, self.callid))}; {a.name} received "
                   f"{summary(a.rx(self.t0, self.callid))}" + self.kam_evidence())
        if not inv_b:
            return False
        if not expect_answer:
            return True
        ok200 = wait_for(lambda: [m for m in a.rx(self.t0, self.callid) if m.status == 200
                                  and m.cseq_method == "INVITE"], STEP)
        est = wait_for(lambda: "Call established" in a.ph.log(self.a_log), 1.0)
        self.check(f"{b.name} answers; the 200 OK reaches {a.name}, which logs 'Call established'",
                   bool(ok200) and bool(est),
                   f"{a.name} received {summary(a.rx(self.t0, self.callid))}; "
                   f"{a.name}: {a.ph.log_tail(self.a_log, 200)}")
        b200 = [m for m in b.tx(self.t0, self.callid) if m.status == 200 and m.cseq_method == "INVITE"]
        self.b_contact = uri_of(b200[0].hdr("contact")) if b200 else None
        # The SDP each side got names edgesip's relay on its own leg (or,
        # on one leg, the other phone itself).
        sb = sdp
        sa = ok200[0].sdp() if ok200 else None
        if self.relayed:
            good = (sb and is_relay(sb.conn, sb.audio_port, b.edge_ip()) and sa
                    and is_relay(sa.conn, sa.audio_port, a.edge_ip()))
            what = "each phone is offered edgesip's relay on its own leg (SDP c=/m=)"
        else:
            good = sb and sb.conn == a.ip and sa and sa.conn == b.ip
            what = "each phone is offered the other phone's own address (same leg: no relay)"
        self.check(what, bool(good),
                   f"{b.name} got c={sb and sb.conn} port {sb and sb.audio_port}, "
                   f"{a.name} got c={sa and sa.conn} port {sa and sa.audio_port}")
        self.media_t0 = time.time()
        if not ok200:
            return False
        self.expect_ack(ok200[0].cseq_num)
        return True

    def start(self):
        """Mark logs, then dial."""
        self.a_log, self.b_log = self.a.ph.log_size(), self.b.ph.log_size()
        return self.dial()

    def expect_ack(self, cseq):
        b = self.b
        ack = wait_for(lambda: [m for m in b.rx(self.t0, self.callid) if m.method == "ACK"
                                and m.cseq_num == cseq], STEP)
        est = ack and wait_for(lambda: "Call established" in b.ph.log(self.b_log), 1.0)
        self.check(f"the ACK reaches {b.name} at the Request-URI {b.name} put in its Contact; "
                   f"{b.name} logs 'Call established'",
                   bool(ack) and ack[0].ruri == self.b_contact and bool(est),
                   (f"{b.name} got ACK {ack[0].ruri}, its Contact is {self.b_contact}" if ack else
                    f"{b.name} received {summary(b.rx(self.t0, self.callid))}") + self.kam_evidence())

    # -- in-dialog --------------------------------------------------------------

    def peer(self, x):
        return self.b if x is self.a else self.a

    def contact_of(self, y):
        return self.b_contact if y is self.b else self.a_contact

    def reinvite(self, x, hold):
        """x puts the call on hold (or resumes it); y must get the re-INVITE
        with the right direction, x the 200 OK, y the ACK."""
        y = self.peer(x)
        t = time.time()
        want = "sendonly" if hold else "sendrecv"
        x.ph.cmd("/hold" if hold else "/resume")
        sent = wait_for(lambda: [m for m in x.tx(t, self.callid) if m.method == "INVITE"], STEP)
        what = f"{'hold' if hold else 'resume'} from {x.name}: {y.name} gets the re-INVITE ({want}) at its Contact, " \
               f"{x.name} the 200 OK, {y.name} the ACK"
        if not sent:
            why = (f"its previous re-INVITE is still unanswered" if x.name in self.pending else
                   f"{x.name} log: {x.ph.log_tail(self.a_log if x is self.a else self.b_log, 200)}")
            self.check(what, False, f"{x.name} sent no re-INVITE ({why})")
            return
        cseq = sent[0].cseq_num
        got = wait_for(lambda: [m for m in y.rx(t, self.callid) if m.method == "INVITE" and m.cseq_num == cseq], STEP)
        ok = wait_for(lambda: [m for m in x.rx(t, self.callid) if m.status == 200
                               and m.cseq_method == "INVITE" and m.cseq_num == cseq], STEP if got else 0.2)
        ack = wait_for(lambda: [m for m in y.rx(t, self.callid) if m.method == "ACK" and m.cseq_num == cseq],
                       STEP if ok else 0.2)
        sdp = got[0].sdp() if got else None
        problems = []
        if not got:
            problems.append(f"{y.name} never got it; {x.name} sent INVITE {sent[0].ruri} "
                            f"Route {sent[0].hdrs('route')}, received {summary(x.rx(t, self.callid))}"
                            + self.kam_evidence())
        else:
            if got[0].ruri != self.contact_of(y):
                problems.append(f"Request-URI {got[0].ruri} is not {y.name}'s Contact {self.contact_of(y)}")
            where_ok = (is_relay(sdp.conn, sdp.audio_port, y.edge_ip()) if self.relayed
                        else sdp.conn == x.ip) if sdp else False
            if not sdp or sdp.direction != want or not where_ok:
                problems.append(f"SDP at {y.name}: c={sdp and sdp.conn} port={sdp and sdp.audio_port} "
                                f"a={sdp and sdp.direction}")
        if got and not ok:
            problems.append(f"{x.name} got no 200 OK: {summary(x.rx(t, self.callid))}")
        if ok and not ack:
            problems.append(f"{y.name} got no ACK: {summary(y.rx(t, self.callid))}" + self.kam_evidence())
        self.check(what, not problems, "; ".join(problems))
        if not ok:
            self.pending.add(x.name)
        if not hold:
            self.last_resume = time.time()
        time.sleep(0.6)

    def bye(self, x):
        y = self.peer(x)
        t = time.time()
        ylog = self.b_log if y is self.b else self.a_log
        x.ph.cmd("/hangup")
        got = wait_for(lambda: [m for m in y.rx(t, self.callid) if m.method == "BYE"], STEP)
        ok = wait_for(lambda: [m for m in x.rx(t, self.callid) if m.status == 200 and m.cseq_method == "BYE"],
                      STEP if got else 0.2)
        closed = wait_for(lambda: re.search(r"session closed|terminated", y.ph.log(ylog)), 1.0 if got else 0.1)
        sent = [m for m in x.tx(t, self.callid) if m.method == "BYE"]
        problems = []
        if not got:
            problems.append(f"{y.name} never got it; {x.name} sent "
                            + (f"BYE {sent[0].ruri} Route {sent[0].hdrs('route')}" if sent else "no BYE")
                            + f", received {summary(x.rx(t, self.callid))}" + self.kam_evidence())
        elif got[0].ruri != self.contact_of(y):
            problems.append(f"Request-URI {got[0].ruri} is not {y.name}'s Contact {self.contact_of(y)}")
        if got and not ok:
            problems.append(f"{x.name} got no 200 OK for it")
        if got and not closed:
            problems.append(f"{y.name} did not log the end of the call")
        self.check(f"BYE from {x.name} reaches {y.name} (Request-URI = its Contact), the 200 OK comes back",
                   not problems, "; ".join(problems))
        self.t_end = time.time()
        # Whatever failed, leave both phones idle.
        time.sleep(0.2)
        y.ph.cmd("/hangup")

    # -- media and dialog hygiene ----------------------------------------------

    def media(self, min_pkts=25):
        """RTP both ways at both phones, only ever to and from edgesip's relay
        ports on the phone's own leg, never between the phones directly."""
        t0, t1 = self.media_t0 or self.t0, getattr(self, "t_end", None) or time.time()
        problems, counts = [], []
        for v in (self.a, self.b):
            sent, recv = v.rtp(t0, t1)
            e, peer = v.edge_ip(), self.peer(v)
            if self.relayed:
                bad_s = [p for p in sent if not is_relay(p.dst, p.dport, e)]
                bad_r = [p for p in recv if not is_relay(p.src, p.sport, e)]
            else:
                bad_s = [p for p in sent if p.dst != peer.ip]
                bad_r = [p for p in recv if p.src != peer.ip]
            counts.append(f"{v.name} sent {len(sent)} received {len(recv)}")
            if len(sent) < min_pkts or len(recv) < min_pkts:
                problems.append(f"{v.name}: too little RTP")
            if bad_s or bad_r:
                sample = (bad_s + bad_r)[0]
                problems.append(f"{v.name}: {len(bad_s)} sent / {len(bad_r)} received "
                                f"{'not via the relay' if self.relayed else 'not to/from ' + peer.name} "
                                f"(e.g. {sample})")
        stats = [f"{v.name} {v.ph.stats(self.a_log if v is self.a else self.b_log)[-1:]}" for v in (self.a, self.b)]
        self.check("media flows both ways through edgesip's relay ports only (counted on the wire)" if self.relayed
                   else "media flows both ways directly between the phones (counted on the wire)",
                   not problems, "; ".join(problems + counts) + "; phones' own stats (tx, rx): " + ", ".join(stats),
                   )
        if self.last_resume:
            problems = []
            for v in (self.a, self.b):
                sent, recv = v.rtp(self.last_resume + 0.3, t1)
                if len(sent) < 10 or len(recv) < 10:
                    problems.append(f"{v.name} sent {len(sent)} received {len(recv)}")
            self.check("media flows both ways again after the last resume", not problems, "; ".join(problems))

    def no_record_route_in_dialog(self):
        """RFC 3261 12.2 / 16.6 step 4: the route set is fixed when the dialog
        is created; a proxy records its route on dialog-creating requests only."""
        bad = []
        for v in (self.a, self.b):
            for m in v.rx(self.t0, self.callid):
                if m.is_request and m.tag("to") and m.method != "ACK" and m.hdrs("record-route"):
                    bad.append(f"{v.name} got {m.method} (CSeq {m.cseq_num}) with Record-Route "
                               f"{m.hdrs('record-route')}")
                elif m.is_request and m.tag("to") and m.method == "ACK" and m.hdrs("record-route"):
                    bad.append(f"{v.name} got ACK with Record-Route {m.hdrs('record-route')}")
        n = sum(1 for v in (self.a, self.b) for m in v.rx(self.t0, self.callid) if m.is_request and m.tag("to"))
        self.check("no Record-Route is added to in-dialog requests", n > 0 and not bad,
                   "; ".join(bad[:3]) if bad else ("no in-dialog request reached either phone" if n == 0 else ""))
