"""A tiny pcap reader (what tcpdump -w writes) and SIP/RTP classification.

UDP and TCP over IPv4/IPv6. A UDP datagram is one Pkt; TCP segments are
put back together per direction (by sequence number) and every complete SIP
message in the stream (framed by Content-Length, RFC 3261 18.3) becomes one
Pkt with proto "tcp", stamped with the time of its last segment; CRLF
keep-alives are skipped. Link types: Ethernet (1), Linux cooked v1 (113)
and v2 (276, tcpdump -i any).
"""
import ipaddress
import re
import socket
import struct

OUTGOING = 4  # sll packet type: sent by this host


class Pkt:
    __slots__ = ("ts", "src", "sport", "dst", "dport", "data", "pkttype", "_sip", "proto")

    def __init__(self, ts, src, sport, dst, dport, data, pkttype, proto="udp"):
        self.ts, self.src, self.sport, self.dst, self.dport = ts, src, sport, dst, dport
        self.data, self.pkttype, self._sip, self.proto = data, pkttype, 0, proto

    @property
    def sip(self):
        """The parsed SIP message, or None when this is not SIP."""
        if self._sip == 0:
            self._sip = Sip(self) if is_sip(self) else None
        return self._sip

    def __repr__(self):
        return (f"{self.ts:.3f} {self.proto} {fmt(self.src, self.sport)} > {fmt(self.dst, self.dport)} "
                f"{len(self.data)}B")


def fmt(ip, port):
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


class Reader:
    """Reads a pcap file that tcpdump -U is still writing: each poll() parses
    the complete records added since the last one."""

    def __init__(self, path):
        self.path, self.off, self.hdr, self.pkts = path, 0, None, []
        self.streams = {}   # (src, sport, dst, dport) -> [next seq or None, bytes buffered]
        self.segments = []  # every TCP segment with payload or SYN/FIN: (ts, src, sport, dst, dport, flags)

    def poll(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.off)
                buf = f.read()
        except OSError:
            return self.pkts
        pos = 0
        if self.hdr is None:
            if len(buf) < 24:
                return self.pkts
            magic = struct.unpack("<I", buf[:4])[0]
            if magic in (0xA1B2C3D4, 0xA1B23C4D):
                end = "<"
            elif magic in (0xD4C3B2A1, 0x4D3CB2A1):
                end = ">"
                magic = struct.unpack(">I", buf[:4])[0]
            else:
                raise ValueError(f"{self.path}: not a pcap file")
            linktype = struct.unpack(end + "I", buf[20:24])[0] & 0x0FFFFFFF
            self.hdr = (end, 1e9 if magic == 0xA1B23C4D else 1e6, linktype)
            pos = 24
        end, div, linktype = self.hdr
        while pos + 16 <= len(buf):
            sec, frac, incl, _orig = struct.unpack(end + "IIII", buf[pos:pos + 16])
            if pos + 16 + incl > len(buf):
                break
            p = _decode(linktype, buf[pos + 16:pos + 16 + incl], sec + frac / div)
            pos += 16 + incl
            if isinstance(p, tuple):
                self._tcp(*p)
            elif p:
                self.pkts.append(p)
        self.off += pos
        return self.pkts


    def _tcp(self, ts, src, sport, dst, dport, pkttype, seq, flags, data):
        key = (src, sport, dst, dport)
        if flags & 0x07 or data:
            self.segments.append((ts, src, sport, dst, dport, flags))
        st = self.streams.get(key)
        if flags & 0x02:  # SYN: a new connection on this 4-tuple
            self.streams[key] = [(seq + 1) & 0xFFFFFFFF, b""]
            return
        if not data:
            return
        if st is None:  # the capture started inside the connection
            st = self.streams[key] = [seq, b""]
        if (seq - st[0]) & 0xFFFFFFFF >= 0x80000000:  # a retransmission: keep what is new in it
            data = data[(st[0] - seq) & 0xFFFFFFFF:]
            if not data:
                return
            seq = st[0]
        st[0] = (seq + len(data)) & 0xFFFFFFFF  # a gap (none between namespaces) is taken as is
        buf = st[1] + data
        while True:
            stripped = buf.lstrip(b"\r\n")  # keep-alives (RFC 5626 4.4.1)
            end = stripped.find(b"\r\n\r\n")
            if end < 0:
                buf = stripped
                break
            m = re.search(rb"(?im)^(?:content-length|l)[ \t]*:[ \t]*(\d+)", stripped[:end + 2])
            n = end + 4 + (int(m.group(1)) if m else 0)
            if len(stripped) < n:
                buf = stripped
                break
            self.pkts.append(Pkt(ts, src, sport, dst, dport, stripped[:n], pkttype, "tcp"))
            buf = stripped[n:]
        st[1] = buf


def read(path):
    """All complete UDP packets and TCP-carried SIP messages in the file."""
    return Reader(path).poll()


def _decode(linktype, f, ts):
    pkttype = 0
    if linktype == 1:
        if len(f) < 14:
            return None
        proto, l3 = struct.unpack("!H", f[12:14])[0], 14
        if proto == 0x8100 and len(f) >= 18:
            proto, l3 = struct.unpack("!H", f[16:18])[0], 18
    elif linktype == 113:
        if len(f) < 16:
            return None
        pkttype = struct.unpack("!H", f[0:2])[0]
        proto, l3 = struct.unpack("!H", f[14:16])[0], 16
    elif linktype == 276:
        if len(f) < 20:
            return None
        proto, pkttype, l3 = struct.unpack("!H", f[0:2])[0], f[10], 20
    else:
        return None
    if proto == 0x0800:
        if len(f) < l3 + 20 or f[l3 + 9] not in (6, 17):
            return None
        l4 = f[l3 + 9]
        ihl = (f[l3] & 0x0F) * 4
        if struct.unpack("!H", f[l3 + 6:l3 + 8])[0] & 0x1FFF:
            return None  # a non-first fragment
        src = socket.inet_ntop(socket.AF_INET, f[l3 + 12:l3 + 16])
        dst = socket.inet_ntop(socket.AF_INET, f[l3 + 16:l3 + 20])
        u = l3 + ihl
        iplen = struct.unpack("!H", f[l3 + 2:l3 + 4])[0]
        ipend = l3 + iplen if iplen else len(f)  # 0 with TSO on a capture
    elif proto == 0x86DD:
        if len(f) < l3 + 40 or f[l3 + 6] not in (6, 17):
            return None
        l4 = f[l3 + 6]
        src = socket.inet_ntop(socket.AF_INET6, f[l3 + 8:l3 + 24])
        dst = socket.inet_ntop(socket.AF_INET6, f[l3 + 24:l3 + 40])
        u = l3 + 40
        plen = struct.unpack("!H", f[l3 + 4:l3 + 6])[0]
        ipend = u + plen if plen else len(f)
    else:
        return None
    if l4 == 6:
        if len(f) < u + 20:
            return None
        sport, dport, seq = struct.unpack("!HHI", f[u:u + 8])
        doff, flags = (f[u + 12] >> 4) * 4, f[u + 13]
        return (ts, src, sport, dst, dport, pkttype, seq, flags, f[u + doff:min(ipend, len(f))])
    if len(f) < u + 8:
        return None
    sport, dport, ulen = struct.unpack("!HHH", f[u:u + 6])
    return Pkt(ts, src, sport, dst, dport, f[u + 8:u + max(ulen, 8)], pkttype)


# -- classification ---------------------------------------------------------

_SIP_START = re.compile(rb"^(SIP/2\.0 \d{3}( .*)?|[A-Z]+ \S+ SIP/2\.0)\r?$")


def is_sip(p):
    return bool(_SIP_START.match(p.data[:300].split(b"\n", 1)[0]))


def is_rtp(p):
    d = p.data
    return (p.proto == "udp" and len(d) >= 12 and d[0] >> 6 == 2 and not (72 <= (d[1] & 0x7F) <= 76)
            and not is_sip(p))


def is_rtcp(p):
    d = p.data
    return len(d) >= 8 and d[0] >> 6 == 2 and 200 <= d[1] <= 204


COMPACT = {"v": "via", "f": "from", "t": "to", "i": "call-id", "m": "contact",
           "l": "content-length", "c": "content-type", "k": "supported",
           "s": "subject", "e": "content-encoding", "x": "session-expires",
           "o": "event", "r": "refer-to", "u": "allow-events"}


class Sip:
    """A parsed SIP message as it was on the wire."""

    def __init__(self, pkt):
        self.pkt = pkt
        raw = pkt.data.decode("utf-8", "replace")
        head, _, self.body = raw.partition("\r\n\r\n")
        lines = head.split("\r\n")
        self.start = lines[0]
        self.headers = []  # (lower-case full name, value), in order
        for line in lines[1:]:
            if line[:1] in (" ", "\t") and self.headers:
                n, v = self.headers[-1]
                self.headers[-1] = (n, v + " " + line.strip())
                continue
            name, _, value = line.partition(":")
            name = name.strip().lower()
            self.headers.append((COMPACT.get(name, name), value.strip()))
        parts = self.start.split(" ", 2)
        if parts[0] == "SIP/2.0":
            self.is_request, self.method, self.status = False, None, int(parts[1])
            self.ruri = None
        else:
            self.is_request, self.method, self.ruri, self.status = True, parts[0], parts[1], None
        cseq = self.hdr("cseq") or "0 ?"
        num, _, meth = cseq.partition(" ")
        self.cseq_num, self.cseq_method = int(num) if num.isdigit() else 0, meth.strip()

    def hdr(self, name):
        for n, v in self.headers:
            if n == name:
                return v
        return None

    def hdrs(self, name):
        """Every value of a header, comma-separated lists split (outside <>)."""
        out = []
        for n, v in self.headers:
            if n == name:
                out += split_list(v)
        return out

    @property
    def call_id(self):
        return self.hdr("call-id")

    def tag(self, which):
        v = self.hdr(which) or ""
        m = re.search(r";\s*tag=([^;>\s]+)", v.split(">")[-1] if ">" in v else v)
        return m.group(1) if m else None

    def short(self):
        what = f"{self.method} {self.ruri}" if self.is_request else f"{self.status} ({self.cseq_method})"
        return f"{fmt(self.pkt.src, self.pkt.sport)}>{fmt(self.pkt.dst, self.pkt.dport)} {what}"

    # SDP helpers
    def sdp(self):
        if "application/sdp" not in (self.hdr("content-type") or "") or not self.body.strip():
            return None
        return Sdp(self.body)


def split_list(v):
    out, depth, cur, q = [], 0, "", False
    for ch in v:
        if ch == '"':
            q = not q
        if not q and ch == "<":
            depth += 1
        if not q and ch == ">":
            depth -= 1
        if ch == "," and depth == 0 and not q:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur.strip())
    return out


class Sdp:
    def __init__(self, text):
        self.lines = [l.strip() for l in text.replace("\r", "").split("\n") if l.strip()]
        self.conn = None
        self.audio_port = None
        self.direction = "sendrecv"
        in_audio = False
        for l in self.lines:
            if l.startswith("c=") and (self.conn is None or in_audio):
                self.conn = l.split()[-1]
            elif l.startswith("m=audio"):
                in_audio = True
                self.audio_port = int(l.split()[1])
            elif l.startswith("m="):
                in_audio = False
            elif l in ("a=sendonly", "a=recvonly", "a=inactive", "a=sendrecv"):
                self.direction = l[2:]


def sip_messages(pkts):
    return [Sip(p) for p in pkts if is_sip(p)]


def in_net(ip, cidr):
    try:
        return ipaddress.ip_address(ip) in ipaddress.ip_network(cidr)
    except ValueError:
        return False
