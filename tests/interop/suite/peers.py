"""The programs around edgesip: Kamailio, baresip, sipp, tcpdump, and
edgesip itself. Each runs in its host's namespace, logs to a file in the
run folder, and is stopped by its pid."""
import bisect
import os
import re
import socket
import subprocess
import time

from . import pcap, topology as T
from .netns import Proc, sh, socket_in

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RELAY_PORTS = (16384, 16999)  # edgesip's default --rtp-ports


class SetupError(Exception):
    pass


def wait_for(pred, timeout, step=0.05):
    """Poll pred() until it returns something true or timeout passes."""
    deadline = time.time() + timeout
    while True:
        v = pred()
        if v or time.time() >= deadline:
            return v
        time.sleep(step)


# -- tcpdump -----------------------------------------------------------------

class Capture:
    """tcpdump -w on one host (UDP and TCP), read while it is written."""

    def __init__(self, run, host, iface):
        self.host, self.path = host, os.path.join(run.dir, f"{host}.pcap")
        self.proc = run.spawn(f"tcpdump-{host}", T.ns(host), [
            "tcpdump", "-i", iface, "-n", "-U", "--immediate-mode", "-s", "0", "-Z", "root", "-w", self.path, "udp or tcp"])
        if not wait_for(lambda: "listening on" in self.proc.log(), 5):
            raise SetupError(f"tcpdump on {host} did not start: {self.proc.log()[-300:]}")
        self.reader = pcap.Reader(self.path)

    def pkts(self, t0=0.0, t1=None):
        ps = self.reader.poll()
        i = bisect.bisect_left(ps, t0, key=lambda p: p.ts)
        out = ps[i:]
        return out if t1 is None else [p for p in out if p.ts <= t1]

    def sip(self, t0=0.0, t1=None):
        return [p.sip for p in self.pkts(t0, t1) if p.sip]


# -- Kamailio ----------------------------------------------------------------

class Kamailio:
    CFG = os.path.join(HERE, "kamailio", "provider.cfg")
    CFG_TCP = os.path.join(HERE, "kamailio", "provider-tcp.cfg")

    def __init__(self, run, variant):
        self.variant = variant  # "rr", "norr" (both UDP) or "tcp" (TCP only, record-routes)
        d = os.path.join(run.dir, f"kamailio-{variant}")
        os.makedirs(d, exist_ok=True)
        argv = ["kamailio", "-f", self.CFG_TCP if variant == "tcp" else self.CFG, "-DD", "-E", "-n", "1",
                "-P", os.path.join(d, "kamailio.pid"), "-Y", d, "-w", d]
        if variant != "tcp":  # provider-tcp.cfg has its own listen= lines
            argv += ["-l", f"udp:{T.HOSTS['prov'][1]}:5060", "-l", f"udp:[{T.HOSTS['prov'][2]}]:5060"]
        if variant == "norr":
            argv += ["-A", "NO_RR"]
        self.proc = run.spawn(f"kamailio-{variant}", T.ns("prov"), argv)
        if not wait_for(lambda: self.rpc("core.uptime", check=False) is not None, 10, 0.2):
            raise SetupError(f"Kamailio did not start: {self.proc.log()[-800:]}")

    def rpc(self, *args, check=True):
        try:
            return sh("kamcmd", "-s", "udp:127.0.0.1:2046", *args, ns=T.ns("prov"), timeout=5)
        except Exception:
            if check:
                raise
            return None

    def bindings(self, user):
        """The Contact addresses usrloc holds for AoR `user` (kamcmd ul.dump)."""
        out, cur, res = self.rpc("ul.dump"), None, []
        for line in out.splitlines():
            line = line.strip()
            if line.startswith("AoR:"):
                cur = line.split(":", 1)[1].strip()
            elif line.startswith("Address:") and cur == user:
                res.append(line.split(":", 1)[1].strip())
        return res

    def rx(self, since=0):
        """The provider's own log of every request it received: dicts with
        method, ruri, src, callid, cseq, route, rr, contact, auth, c, m."""
        out = []
        for line in self.proc.log(since).splitlines():
            m = re.search(r"<script>: RX (\S+) (.*)", line)
            if m and m.group(1) != "RX-REPLY":
                out.append(_kv(m.group(1), m.group(2)))
        return out

    def rx_replies(self, since=0):
        out = []
        for line in self.proc.log(since).splitlines():
            m = re.search(r"<script>: RX-REPLY (\d+) (.*)", line)
            if m:
                out.append(_kv(m.group(1), m.group(2)))
        return out

    def lines(self, word, since=0):
        return [l.split("<script>: ", 1)[1] for l in self.proc.log(since).splitlines()
                if "<script>: " + word in l]


def _kv(first, rest):
    d = {"what": first}
    for k, v in re.findall(r"(\w+)=(<(?:[^<>]|<[^<>]*>)*>|\S+)", rest):
        d[k] = v[1:-1] if v.startswith("<") and v.endswith(">") else v
    for k in ("route", "rr", "contact", "auth"):
        if d.get(k) == "<null>":
            d[k] = None
    d["method"] = first
    return d


# -- edgesip -----------------------------------------------------------------

class Edgesip:
    def __init__(self, run, variant, binary):
        self.variant = variant
        key = os.path.join(run.dir, "edgesip.key")
        if variant in ("v4", "tcp"):
            # "tcp": the same router with its WAN leg TCP only, toward the
            # TCP-only provider (kamailio/provider-tcp.cfg).
            legs = [f"lan={T.EDGE_LAN4}:5060,net={T.LAN4}",
                    f"wan={T.EDGE_WAN4}:5060" + (",tcp-only" if variant == "tcp" else "")]
            extra = ["--registrar", "example.com",
                     "--route", f"provider.test={T.HOSTS['prov'][1]}",
                     "--upstream", f"sip:{T.HOSTS['prov'][1]}",
                     "--dns", "127.0.0.1:53"]
        else:
            legs = [f"lan6=[{T.EDGE_LAN6}]:5060,net={T.LAN6}", f"wan6=[{T.EDGE_WAN6}]:5060"]
            extra = ["--route", f"provider.test=[{T.HOSTS['prov'][2]}]", "--dns", "[::1]:53"]
        argv = [binary]
        for l in legs:
            argv += ["--leg", l]
        argv += ["--nat", "--key-file", key, "--log-level", "debug"] + extra
        self.argv = argv
        self.proc = run.spawn(f"edgesip-{variant}", T.ns("edge"), argv)
        if not wait_for(lambda: self.proc.log().count("listening on") >= len(legs) or not self.proc.alive(), 5):
            raise SetupError(f"edgesip did not start: {self.proc.log()[-500:]}")
        if not self.proc.alive():
            raise SetupError(f"edgesip exited at start: {self.proc.log()[-500:]}")


# -- baresip -----------------------------------------------------------------

class PhoneSpec:
    def __init__(self, name, host, ip, port, aor, outbound, password=None, regint=600,
                 cons=5555, rtp=10000, af=4):
        self.name, self.host, self.ip, self.port = name, host, ip, port
        self.aor, self.outbound, self.password, self.regint = aor, outbound, password, regint
        self.cons, self.rtp, self.af = cons, rtp, af

    @property
    def ns(self):
        return T.ns(self.host)

    @property
    def user(self):
        return self.aor.split(":", 1)[1].split("@", 1)[0]


class Phone:
    """A baresip 1.0 instance: one account, commands through the cons module."""

    def __init__(self, run, spec):
        self.spec, self.run = spec, run
        s = spec
        self.dir = os.path.join(run.dir, "phones", s.name)
        os.makedirs(self.dir, exist_ok=True)
        listen = f"[{s.ip}]:{s.port}" if s.af == 6 else f"{s.ip}:{s.port}"
        with open(os.path.join(self.dir, "config"), "w") as f:
            f.write(f"""poll_method epoll
sip_listen {listen}
call_local_timeout 120
call_max_calls 4
audio_player aubridge,nil
audio_source aufile,{run.wav}
audio_alert aubridge,nil
rtp_ports {s.rtp}-{s.rtp + 99}
rtp_stats yes
rtp_timeout 0
module_path /usr/lib/baresip/modules
module g711.so
module aufile.so
module aubridge.so
module cons.so
module_tmp account.so
module_app menu.so
cons_listen 127.0.0.1:{s.cons}
dns_server 127.0.0.1:53
""")
        params = [f'outbound="{s.outbound}"', f"regint={s.regint}", "answermode=auto"]
        if s.password:
            params.insert(0, f"auth_pass={s.password}")
        with open(os.path.join(self.dir, "accounts"), "w") as f:
            f.write(f"<{s.aor}>;" + ";".join(params) + "\n")
        for name in ("contacts",):
            open(os.path.join(self.dir, name), "w").close()
        argv = ["baresip", "-f", self.dir] + (["-6"] if s.af == 6 else ["-4"])
        self.proc = run.spawn(f"baresip-{s.name}", s.ns, argv)
        with socket_in(s.ns):
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        if not wait_for(lambda: "baresip is ready" in self.proc.log() or not self.proc.alive(), 5):
            raise SetupError(f"baresip {s.name} did not start: {self.proc.log()[-500:]}")
        if not self.proc.alive():
            raise SetupError(f"baresip {s.name} exited: {self.proc.log()[-500:]}")

    def registered(self, since=0):
        return re.search(r"\{0/(?:UDP|TCP)/v[46]\} 200 OK", self.proc.log(since))

    def wait_registered(self, since=0, timeout=6):
        if not wait_for(lambda: self.registered(since), timeout):
            raise SetupError(f"{self.spec.name} ({self.spec.aor}) did not register: "
                             + self.log_tail(since))

    def cmd(self, text):
        """Send one command line to the cons module (it echoes each key)."""
        try:
            while True:
                self.sock.recv(65535)
        except (socket.timeout, BlockingIOError):
            pass
        self.sock.sendto(text.encode() + b"\n", ("127.0.0.1", self.spec.cons))
        time.sleep(0.05)

    def log(self, since=0):
        return self.proc.log(since).replace("\r", "\n")

    def log_size(self):
        return self.proc.log_size()

    def log_tail(self, since=0, n=400):
        lines = [l for l in self.log(since).splitlines()
                 if l.strip() and "audio=" not in l and not l.startswith("/")]
        return " | ".join(lines)[-n:]

    def stats(self, since=0):
        """(tx, rx) packet counts from the statistics baresip prints at call end."""
        m = re.findall(r"packets:\s+(\d+)\s+(\d+)", self.log(since))
        return [(int(a), int(b)) for a, b in m]

    def contact(self, since=0):
        return None


# -- sipp --------------------------------------------------------------------

def sipp(run, name, host, ip, scenario, target=None, extra=(), timeout=20):
    """Start sipp in the background; returns its Proc (exit status = result)."""
    argv = ["sipp", "-sf", os.path.join(HERE, "sipp", scenario), "-i", ip, "-p", "5060",
            "-m", "1", "-nd", "-nostdin", "-timeout", str(timeout), "-timeout_error",
            "-trace_msg", "-message_file", os.path.join(run.dir, f"sipp-{name}.msg"),
            "-trace_err", "-error_file", os.path.join(run.dir, f"sipp-{name}.err"),
            "-trace_logs", "-log_file", os.path.join(run.dir, f"sipp-{name}.logs")] + list(extra)
    if target:
        argv.append(target)
    return run.spawn(f"sipp-{name}", T.ns(host), argv)
