"""One run of the suite: the namespaces, the captures, and the programs a
flow needs, started on demand and all stopped (by pid) at the end."""
import math
import os
import struct
import time
import wave

from . import netns, peers, topology as T
from .netns import Proc
from .peers import PhoneSpec, SetupError

L4, W4 = T.EDGE_LAN4, T.HOSTS["prov"][1]

# name: the account and where it lives. Passwords match kamailio/provider.cfg.
PHONES = {s.name: s for s in [
    # Registered at the provider through edgesip (outbound proxy = LAN leg).
    # alice refreshes every 10 s so the register flow sees a refresh quickly.
    PhoneSpec("alice", "alice", "192.168.1.10", 5060, "sip:alice@provider.test",
              f"sip:{L4}", "alice-pw", regint=10, cons=5555, rtp=10000),
    PhoneSpec("bob", "bob", "192.168.1.11", 5060, "sip:bob@provider.test",
              f"sip:{L4}", "bob-pw", regint=300, cons=5555, rtp=10100),
    PhoneSpec("carol", "carol", T.CAROL4, 5060, "sip:carol@provider.test",
              f"sip:{L4}", "carol-pw", regint=60, cons=5555, rtp=10200),
    # Registered directly at the provider, on the WAN.
    PhoneSpec("wphone", "wphone", "203.0.113.20", 5060, "sip:wphone@provider.test",
              f"sip:{W4}", "wphone-pw", regint=300, cons=5555, rtp=10300),
    # Registered at edgesip's own registrar (--registrar example.com).
    PhoneSpec("alice-ex", "alice", "192.168.1.10", 5070, "sip:alice@example.com",
              f"sip:{L4}", None, regint=300, cons=5556, rtp=10400),
    PhoneSpec("bob-ex", "bob", "192.168.1.11", 5070, "sip:bob@example.com",
              f"sip:{L4}", None, regint=300, cons=5556, rtp=10500),
    # IPv6: through edgesip's IPv6 legs, and directly at the provider.
    PhoneSpec("alice6", "alice", "fd00:1::10", 5080, "sip:alice6@provider.test",
              f"sip:[{T.EDGE_LAN6}]", "alice6-pw", regint=300, cons=5557, rtp=10600, af=6),
    PhoneSpec("wphone6", "wphone", "2001:db8::20", 5080, "sip:wphone6@provider.test",
              f"sip:[{T.HOSTS['prov'][2]}]", "wphone6-pw", regint=300, cons=5557, rtp=10700, af=6),
    # Flow "tcp": the TCP-only provider. alice-tcp is a UDP phone behind
    # edgesip (whose WAN leg is tcp-only); wphone-tcp registers directly
    # over TCP. alice-tcp refreshes every 10 s, so the calls see a refresh.
    PhoneSpec("alice-tcp", "alice", "192.168.1.10", 5090, "sip:alice@provider.test",
              f"sip:{L4}", "alice-pw", regint=10, cons=5558, rtp=10800),
    PhoneSpec("wphone-tcp", "wphone", "203.0.113.20", 5090, "sip:wphone@provider.test",
              f"sip:{W4};transport=tcp", "wphone-pw", regint=300, cons=5558, rtp=10900),
]}

# What each phone needs running before it can register.
NEEDS = {"alice": ("kam", "v4"), "bob": ("kam", "v4"), "carol": ("kam", "v4"),
         "wphone": ("kam",), "alice-ex": ("v4",), "bob-ex": ("v4",),
         "alice6": ("kam", "v6"), "wphone6": ("kam",),
         "alice-tcp": ("kamtcp", "tcp"), "wphone-tcp": ("kamtcp",)}

# edgesip instances that cannot run at the same time (the same LAN socket).
EDGE_CONFLICTS = {"v4": ("tcp",), "tcp": ("v4",), "v6": ()}


def _kam_kind(variant):
    return "kamtcp" if variant == "tcp" else "kam"

CAPTURES = {"edge": "any", "nat": "any", "alice": "eth0", "bob": "eth0", "carol": "eth0",
            "lsipp": "eth0", "prov": "eth0", "wphone": "eth0", "wsipp": "eth0"}


class Run:
    def __init__(self, dir, edgesip_bin):
        self.dir, self.bin = dir, edgesip_bin
        self.procs = []          # every Proc started, in order
        self.caps = {}
        self.kam = None
        self.edges = {}          # variant -> Edgesip
        self.edge_deaths = []    # (variant, exit status, log tail) of unexpected exits
        self.phones = {}
        self.wav = os.path.join(dir, "tone-8k.wav")
        self.t_start = time.time()

    # -- processes ------------------------------------------------------------

    def spawn(self, name, ns, argv):
        n, i = name, 1
        while any(p.name == n for p in self.procs):
            i += 1
            n = f"{name}.{i}"
        p = Proc(n, ns, argv, os.path.join(self.dir, f"{n}.log"))
        self.procs.append(p)
        return p

    def setup(self):
        stale = netns.clean_stale()
        if stale:
            print(f"# removed stale namespaces from an earlier run: {' '.join(stale)}", flush=True)
        T.build()
        # An 8 kHz mono 16-bit WAV: a 440 Hz tone, 40 s (calls are shorter).
        with wave.open(self.wav, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(8000)
            w.writeframes(b"".join(struct.pack("<h", int(6000 * math.sin(2 * math.pi * 440 * i / 8000)))
                                   for i in range(8000 * 40)))
        for host, iface in CAPTURES.items():
            self.caps[host] = peers.Capture(self, host, iface)

    def teardown(self):
        """Stop everything we started, newest first, by pid; delete the namespaces."""
        status = {}
        for p in reversed(self.procs):
            status[p.name] = p.stop()
        left = T.destroy()
        return status, left

    # -- what flows ask for ---------------------------------------------------

    def kamailio(self, variant="rr"):
        if self.kam and self.kam.variant == variant and self.kam.proc.alive():
            return self.kam
        # usrloc lives in memory: phones registered at the old instance
        # register again at the new one (stopped first, so they can still
        # unregister); phones of the other transport are stopped and start
        # again when a flow asks for them.
        old = [n for n in self.phones if "kam" in NEEDS[n] or "kamtcp" in NEEDS[n]]
        restart = [n for n in old if _kam_kind(variant) in NEEDS[n]]
        for n in old:
            self.stop_phone(n)
        if self.kam:
            self.kam.proc.stop()
        self.kam = peers.Kamailio(self, variant)
        for n in restart:
            self.phone(n)
        return self.kam

    def edgesip(self, variant="v4"):
        e = self.edges.get(variant)
        if e and e.proc.alive():
            return e
        if e:
            self.edge_deaths.append((variant, e.proc.p.returncode, e.proc.log()[-600:]))
        for other in EDGE_CONFLICTS[variant]:
            self.stop_edgesip(other)
        self.edges[variant] = peers.Edgesip(self, variant, self.bin)
        return self.edges[variant]

    def stop_edgesip(self, variant):
        """Stop one edgesip (SIGTERM; its exit status is checked at the end)
        and the phones that register through it."""
        e = self.edges.get(variant)
        if not e:
            return
        for n in [n for n in self.phones if variant in NEEDS[n]]:
            self.stop_phone(n)
        if not e.proc.alive():
            self.edge_deaths.append((variant, e.proc.p.returncode, e.proc.log()[-600:]))
        e.proc.stop()
        del self.edges[variant]

    def phone(self, name):
        ph = self.phones.get(name)
        if ph and ph.proc.alive():
            return ph
        for need in NEEDS[name]:
            if need == "kam":
                self.kamailio(self.kam.variant if self.kam and self.kam.variant != "tcp" else "rr")
            elif need == "kamtcp":
                self.kamailio("tcp")
            else:
                self.edgesip(need)
        since = 0
        ph = peers.Phone(self, PHONES[name])
        self.phones[name] = ph
        ph.wait_registered(since)
        return ph

    def stop_phone(self, name):
        ph = self.phones.pop(name, None)
        if ph:
            ph.cmd("/quit")
            peers.wait_for(lambda: not ph.proc.alive(), 3)
            ph.proc.stop()

    def restart_phone(self, name):
        self.stop_phone(name)
        return self.phone(name)

    def idle(self, *names):
        """Hang up whatever a flow left behind on these phones."""
        for n in names:
            ph = self.phones.get(n)
            if ph and ph.proc.alive():
                ph.cmd("/hangup")
                ph.cmd("/hangup")
        time.sleep(0.3)

    def check_edges(self):
        for v, e in list(self.edges.items()):
            if not e.proc.alive():
                self.edge_deaths.append((v, e.proc.p.returncode, e.proc.log()[-600:]))
                del self.edges[v]
