"""The test network: one namespace per host, two switched segments, a NAT.

    LAN 192.168.1.0/24, fd00:1::/64         WAN 203.0.113.0/24, 2001:db8::/64
    (switch esi-lan: bridge br0)             (switch esi-wan: bridge br0, the
                                              ISP gateway .254 / ::fe, a sink)
    esi-alice  .10  ::10  --+              +-- esi-prov   .10 ::10 Kamailio
    esi-bob    .11  ::11  --+-- lan0 .1 ---+-- esi-wphone .20 ::20 baresip
    esi-lsipp  .30        --+   esi-edge   +-- esi-wsipp  .30      sipp
    esi-nat    .50 (masquerade)  wan0 .1 --+
      | in0 10.0.0.1/24
    esi-carol 10.0.0.10 (behind its own NAT)

esi-edge (edgesip's router) does not forward packets, so media can only
cross between the segments through edgesip's relay. Its default route points
at the ISP gateway, so a packet it sends to an address it cannot reach (a
private address from an SDP) is still seen on the wire.
"""
from . import netns
from .netns import PREFIX, ip_batch, sh

LAN4, LAN6 = "192.168.1.0/24", "fd00:1::/64"
WAN4, WAN6 = "203.0.113.0/24", "2001:db8::/64"
INNER4 = "10.0.0.0/24"

EDGE_LAN4, EDGE_LAN6 = "192.168.1.1", "fd00:1::1"
EDGE_WAN4, EDGE_WAN6 = "203.0.113.1", "2001:db8::1"
GW4, GW6 = "203.0.113.254", "2001:db8::fe"
NAT_OUT4, NAT_IN4 = "192.168.1.50", "10.0.0.1"

# host -> (segment, IPv4, IPv6 or None); the NAT and edgesip are wired below.
HOSTS = {
    "alice": ("lan", "192.168.1.10", "fd00:1::10"),
    "bob": ("lan", "192.168.1.11", "fd00:1::11"),
    "lsipp": ("lan", "192.168.1.30", None),
    "prov": ("wan", "203.0.113.10", "2001:db8::10"),
    "wphone": ("wan", "203.0.113.20", "2001:db8::20"),
    "wsipp": ("wan", "203.0.113.30", None),
}
CAROL4 = "10.0.0.10"

ALL = ["lan", "wan", "edge", "nat", "carol"] + list(HOSTS)

# Every address edgesip owns: a packet between two of them is edgesip
# talking to itself.
EDGE_ADDRS = {EDGE_LAN4, EDGE_LAN6, EDGE_WAN4, EDGE_WAN6}


def ns(host):
    return PREFIX + host


def _sysctl(host, *kv):
    sh("sysctl", "-q", "-w", *kv, ns=ns(host))


def build():
    for h in ALL:
        sh("ip", "netns", "add", ns(h))
    # Switches: a bridge each, STP off, no forwarding delay.
    for seg in ("lan", "wan"):
        _sysctl(seg, "net.ipv6.conf.all.disable_ipv6=0")
        ip_batch(ns(seg), [
            "link set lo up",
            "link add br0 type bridge stp_state 0 forward_delay 0 mcast_snooping 0",
            "link set br0 up",
        ])
    ip_batch(ns("wan"), [
        f"addr add {GW4}/24 dev br0",
        f"addr add {GW6}/64 dev br0 nodad",
    ])

    def plug(host, ifname, seg, port):
        """veth: `ifname` inside host, `port` on the segment's bridge."""
        sh("ip", "link", "add", ifname, "netns", ns(host), "type", "veth",
           "peer", "name", port, "netns", ns(seg))
        ip_batch(ns(seg), [f"link set {port} master br0", f"link set {port} up"])

    for h, (seg, v4, v6) in HOSTS.items():
        plug(h, "eth0", seg, h)
        gw4, gw6 = (EDGE_LAN4, EDGE_LAN6) if seg == "lan" else (GW4, GW6)
        cmds = ["link set lo up", "link set eth0 up",
                f"addr add {v4}/24 dev eth0", f"route add default via {gw4}"]
        if v6:
            cmds += [f"addr add {v6}/64 dev eth0 nodad", f"route add ::/0 via {gw6}"]
        ip_batch(ns(h), cmds)

    plug("edge", "lan0", "lan", "edge")
    plug("edge", "wan0", "wan", "edge")
    ip_batch(ns("edge"), [
        "link set lo up", "link set lan0 up", "link set wan0 up",
        f"addr add {EDGE_LAN4}/24 dev lan0", f"addr add {EDGE_LAN6}/64 dev lan0 nodad",
        f"addr add {EDGE_WAN4}/24 dev wan0", f"addr add {EDGE_WAN6}/64 dev wan0 nodad",
        f"route add default via {GW4}", f"route add ::/0 via {GW6}",
    ])
    _sysctl("edge", "net.ipv4.ip_forward=0", "net.ipv6.conf.all.forwarding=0")

    # The NAT router in front of carol: outside on the LAN, inside a veth.
    plug("nat", "eth0", "lan", "nat")
    sh("ip", "link", "add", "in0", "netns", ns("nat"), "type", "veth",
       "peer", "name", "eth0", "netns", ns("carol"))
    ip_batch(ns("nat"), [
        "link set lo up", "link set eth0 up", "link set in0 up",
        f"addr add {NAT_OUT4}/24 dev eth0", f"addr add {NAT_IN4}/24 dev in0",
        f"route add default via {EDGE_LAN4}",
    ])
    ip_batch(ns("carol"), [
        "link set lo up", "link set eth0 up",
        f"addr add {CAROL4}/24 dev eth0", f"route add default via {NAT_IN4}",
    ])
    _sysctl("nat", "net.ipv4.ip_forward=1")
    # Real masquerading with random source ports, as many home NATs do.
    sh("nft", "-f", "-", ns=ns("nat"), input=(
        "table ip nat {\n"
        "  chain post { type nat hook postrouting priority 100; policy accept;\n"
        '    oifname "eth0" ip saddr 10.0.0.0/24 masquerade random\n'
        "  }\n"
        "}\n"))


def destroy():
    for h in ALL:
        sh("ip", "netns", "del", ns(h), check=False)
    return [n for n in netns.our_namespaces()]
