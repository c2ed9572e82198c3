#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets into this folder, one folder
per target (tests/fuzz/run.sh copies them into the corpus; cargo test
replays them through the checks, tests/fuzz_regressions.rs).

The proxy scripts follow the format of fuzz_targets/check/script.rs: steps
split at "\\n%%\\n", each `op arg payload`. The op and arg bytes are chosen
printable: op '0' (0x30) is a datagram on leg 0 one millisecond later,
'8' the same on leg 1; '5' and '=' relay packets on leg 0 and 1; '6' a
timeout; '7' a DNS answer. arg '0'..'?' picks source 0..15 of SOURCES.

    python3 tests/fuzz/seeds/make.py
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
SEP = b"\n%%\n"

# ops: kind | leg << 3 | clock step << 4 (step 3: 1 ms, 6: 1 s, 9: 6 s).
LAN, WAN = b"0", b"8"
LAN_LATER, WAN_LATER = b"`", b"h"  # 0x60, 0x68: one second later
RELAY_LAN, RELAY_WAN = b"5", b"="
TIMEOUT = b"6"
DNS = b"7"
REPLAY_LAN, REPLAY_WAN = b"4", b"<"

# source indices (setup.rs SOURCES)
PHONE_A, PHONE_B, PHONE_C, PBX, OUTSIDE = b"0", b"1", b"2", b"3", b"4"
PROVIDER, ATTACKER, ATTACKER_NAT = b"8", b":", b";"


def sip(start, headers, body=b""):
    """A message with CRLF line ends and a right Content-Length."""
    lines = [start] + headers
    if body:
        lines.append("Content-Type: application/sdp")
    lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def sdp(ip, port, extra=""):
    return (
        "v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n"
        "m=audio {port} RTP/AVP 0 8 101\r\na=rtcp:{rtcp}\r\na=sendrecv\r\n{extra}"
    ).format(ip=ip, port=port, rtcp=port + 1, extra=extra).encode()


def rtp(src, port, seq=1):
    return src + struct.pack(">H", port) + bytes([0x80, 0, 0, seq]) + b"\0\0\0\x10" + b"\x12\x34\x56\x78" + b"\xd5" * 20


def script(*steps):
    return SEP.join(steps)


def write(target, name, data):
    d = os.path.join(HERE, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


INVITE_A = sip(
    "INVITE sip:bob@203.0.113.5 SIP/2.0",
    [
        "Via: SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bKa1;rport",
        "Max-Forwards: 70",
        "From: \"Alice\" <sip:alice@example.com>;tag=at1",
        "To: <sip:bob@203.0.113.5>",
        "Call-ID: call1@192.168.1.20",
        "CSeq: 1 INVITE",
        "Contact: <sip:alice@192.168.1.20:5060>;+sip.instance=\"<urn:uuid:1>\"",
        "Allow: INVITE, ACK, BYE, CANCEL, OPTIONS",
        "User-Agent: fuzz phone",
    ],
    sdp("192.168.1.20", 4000, "a=candidate:1 1 UDP 1 192.168.1.20 4000 typ host\r\n"),
)


def response(code, reason, cseq, to_tag=None, contact=None, rr=True, body=b"", call="call1@192.168.1.20",
              frm="\"Alice\" <sip:alice@example.com>;tag=at1", to="<sip:bob@203.0.113.5>"):
    h = ["Via: $V", "Via: $W"]
    if rr:
        h.append("Record-Route: $R")
    h += [
        "From: " + frm,
        "To: " + to + (";tag=" + to_tag if to_tag else ""),
        "Call-ID: " + call,
        "CSeq: " + cseq,
    ]
    if contact:
        h.append("Contact: " + contact)
    return sip("SIP/2.0 %d %s" % (code, reason), h, body)


def two_legs():
    t = "proxy_two_legs"
    # A LAN phone calls out through the provider: INVITE, 100, 180, 200
    # (SDP both ways, relayed), ACK and media, BYE from the far end.
    write(t, "call-lan-to-wan", script(
        LAN + PHONE_A + INVITE_A,
        WAN + PROVIDER + response(100, "Trying", "1 INVITE", rr=False),
        WAN + PROVIDER + response(180, "Ringing", "1 INVITE", "bt1", "<sip:bob@203.0.113.5:5060>"),
        WAN_LATER + PROVIDER + response(200, "OK", "1 INVITE", "bt1", "<sip:bob@203.0.113.5:5060>",
                                         body=sdp("203.0.113.5", 30000)),
        LAN + PHONE_A + sip("ACK $C SIP/2.0", [
            "Via: SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bKa2;rport",
            "Route: $Q",
            "Max-Forwards: 70",
            "From: \"Alice\" <sip:alice@example.com>;tag=at1",
            "To: <sip:bob@203.0.113.5>;tag=bt1",
            "Call-ID: call1@192.168.1.20",
            "CSeq: 1 ACK",
        ]),
        RELAY_LAN + b"0" + rtp(PHONE_A, 4000),
        RELAY_WAN + b"0" + rtp(PROVIDER, 30000),
        RELAY_LAN + b"0" + rtp(PHONE_A, 4000, 2),
        WAN_LATER + PROVIDER + sip("BYE $C SIP/2.0", [
            "Via: SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bKp1",
            "Route: $R",
            "Max-Forwards: 69",
            "From: <sip:bob@203.0.113.5>;tag=bt1",
            "To: \"Alice\" <sip:alice@example.com>;tag=at1",
            "Call-ID: call1@192.168.1.20",
            "CSeq: 7 BYE",
        ]),
        LAN + PHONE_A + response(200, "OK", "7 BYE", rr=False, frm="<sip:bob@203.0.113.5>;tag=bt1",
                                 to="\"Alice\" <sip:alice@example.com>;tag=at1"),
    ))

    # A phone registers at our registrar (401, then $A), the provider
    # calls its AoR from the WAN, the phone answers and hangs up.
    reg = lambda cseq, auth: sip("REGISTER sip:example.com SIP/2.0", [
        "Via: SIP/2.0/UDP 192.168.1.21:5062;branch=z9hG4bKr%d;rport" % cseq,
        "Max-Forwards: 70",
        "From: <sip:alice@example.com>;tag=rt1",
        "To: <sip:alice@example.com>",
        "Call-ID: reg1@192.168.1.21",
        "CSeq: %d REGISTER" % cseq,
        "Contact: <sip:alice@192.168.1.21:5062>;expires=600",
    ] + (["Authorization: $A"] if auth else []))
    incoming = sip("INVITE sip:alice@example.com SIP/2.0", [
        "Via: SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bKi1",
        "Max-Forwards: 68",
        "From: <sip:+4930123@provider.example>;tag=pt1",
        "To: <sip:alice@example.com>",
        "Call-ID: in1@203.0.113.5",
        "CSeq: 10 INVITE",
        "Contact: <sip:+4930123@203.0.113.5:5060>",
    ], sdp("203.0.113.5", 30002))
    write(t, "register-then-call-from-wan", script(
        LAN + PHONE_B + reg(1, False),
        LAN + PHONE_B + reg(2, True),
        WAN_LATER + PROVIDER + incoming,
        LAN + PHONE_B + response(200, "OK", "10 INVITE", "lt9", "<sip:alice@192.168.1.21:5062>",
                                 body=sdp("192.168.1.21", 4010), call="in1@203.0.113.5",
                                 frm="<sip:+4930123@provider.example>;tag=pt1", to="<sip:alice@example.com>"),
        WAN + PROVIDER + sip("ACK $C SIP/2.0", [
            "Via: SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bKi2",
            "Route: $Q",
            "Max-Forwards: 68",
            "From: <sip:+4930123@provider.example>;tag=pt1",
            "To: <sip:alice@example.com>;tag=lt9",
            "Call-ID: in1@203.0.113.5",
            "CSeq: 10 ACK",
        ]),
        RELAY_WAN + b"0" + rtp(PROVIDER, 30002),
        RELAY_LAN + b"0" + rtp(PHONE_B, 4010),
        LAN_LATER + PHONE_B + sip("BYE $C SIP/2.0", [
            "Via: SIP/2.0/UDP 192.168.1.21:5062;branch=z9hG4bKb9;rport",
            "Route: $R",
            "Max-Forwards: 70",
            "From: <sip:alice@example.com>;tag=lt9",
            "To: <sip:+4930123@provider.example>;tag=pt1",
            "Call-ID: in1@203.0.113.5",
            "CSeq: 1 BYE",
        ]),
        WAN + PROVIDER + response(200, "OK", "1 BYE", rr=False, call="in1@203.0.113.5",
                                  frm="<sip:alice@example.com>;tag=lt9",
                                  to="<sip:+4930123@provider.example>;tag=pt1"),
    ))

    # A phone registers with the provider through us (a --route), the
    # provider's 200 lists its token (turned back for the phone), then an
    # incoming call for that token from the WAN, and a CANCEL.
    preg = sip("REGISTER sip:provider.example SIP/2.0", [
        "Via: SIP/2.0/UDP 192.168.1.22:5060;branch=z9hG4bKq1;rport",
        "Max-Forwards: 70",
        "From: <sip:4930@provider.example>;tag=q1",
        "To: <sip:4930@provider.example>",
        "Call-ID: preg@192.168.1.22",
        "CSeq: 1 REGISTER",
        "Contact: <sip:4930@192.168.1.22:5060;transport=udp>;expires=300",
    ])
    pinvite = sip("INVITE $C SIP/2.0", [
        "Via: SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bKpi1",
        "Record-Route: <sip:203.0.113.5;lr>",
        "Max-Forwards: 68",
        "From: <sip:+4940@provider.example>;tag=pf1",
        "To: <sip:4930@provider.example>",
        "Call-ID: pin1@203.0.113.5",
        "CSeq: 20 INVITE",
        "Contact: <sip:+4940@203.0.113.5>",
    ], sdp("203.0.113.5", 30004))
    pcancel = sip("CANCEL $C SIP/2.0", [
        "Via: SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bKpi1",
        "Max-Forwards: 68",
        "From: <sip:+4940@provider.example>;tag=pf1",
        "To: <sip:4930@provider.example>",
        "Call-ID: pin1@203.0.113.5",
        "CSeq: 20 CANCEL",
    ])
    write(t, "register-with-provider-and-cancel", script(
        b"\x30" + PHONE_C + preg,
        WAN + PROVIDER + response(200, "OK", "1 REGISTER", "pr1", "<$C>;expires=300", rr=False,
                                  call="preg@192.168.1.22", frm="<sip:4930@provider.example>;tag=q1",
                                  to="<sip:4930@provider.example>"),
        WAN_LATER + PROVIDER + pinvite,
        LAN + PHONE_C + response(180, "Ringing", "20 INVITE", "c18", "<sip:4930@192.168.1.22:5060>",
                                 call="pin1@203.0.113.5", frm="<sip:+4940@provider.example>;tag=pf1",
                                 to="<sip:4930@provider.example>"),
        WAN + PROVIDER + pcancel,
        LAN + PHONE_C + response(487, "Request Terminated", "20 INVITE", "c18", rr=False,
                                 call="pin1@203.0.113.5", frm="<sip:+4940@provider.example>;tag=pf1",
                                 to="<sip:4930@provider.example>"),
    ))

    # What the WAN may try: a LAN address, our own Route, a REGISTER
    # without credentials, OPTIONS to us, STUN, a forged response.
    probe = lambda ruri, extra=(): sip("INVITE %s SIP/2.0" % ruri, [
        "Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKx1",
        "Max-Forwards: 70",
        "From: <sip:x@198.51.100.7>;tag=x1",
        "To: <sip:y@192.168.1.20>",
        "Call-ID: probe@198.51.100.7",
        "CSeq: 1 INVITE",
        "Contact: <sip:x@198.51.100.7>",
    ] + list(extra))
    stun = b"\x00\x01\x00\x00\x21\x12\xa4\x42" + b"fuzztxid0001"
    write(t, "wan-probes", script(
        WAN + ATTACKER + probe("sip:y@192.168.1.20"),
        WAN + ATTACKER + probe("sip:y@192.168.1.20", ["Route: <sip:203.0.113.1;lr>, <sip:192.168.1.1;lr>"]),
        WAN + ATTACKER + probe("sip:192.168.1.1"),
        WAN + ATTACKER + probe("sip:alice@example.com"),
        WAN + ATTACKER + probe("sip:bAAAAAAAAAAAAAAAAAAAAAAAAAAAA@203.0.113.1"),
        WAN + ATTACKER + probe("sip:x@pbx.example"),
        WAN + ATTACKER_NAT + sip("REGISTER sip:example.com SIP/2.0", [
            "Via: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bKw1;rport",
            "From: <sip:alice@example.com>;tag=w1",
            "To: <sip:alice@example.com>",
            "Call-ID: wreg@10.0.0.9",
            "CSeq: 1 REGISTER",
            "Contact: <sip:alice@10.0.0.9:5060>",
        ]),
        WAN + ATTACKER + sip("OPTIONS sip:203.0.113.1 SIP/2.0", [
            "Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKo1",
            "From: <sip:x@198.51.100.7>;tag=o1",
            "To: <sip:203.0.113.1>",
            "Call-ID: opt@198.51.100.7",
            "CSeq: 1 OPTIONS",
        ]),
        WAN + ATTACKER + stun,
        LAN + PHONE_A + INVITE_A,
        WAN + ATTACKER + response(200, "OK", "1 INVITE", "bt1", "<sip:x@198.51.100.7>"),
        REPLAY_WAN + ATTACKER,
        REPLAY_LAN + PHONE_A,
    ))
    write("stun", "binding-request", b"\x0a" + stun)
    write("stun", "binding-request-v6", b"\x9d" + stun)


def one_leg():
    t = "proxy_one_leg"
    invite = sip("INVITE sip:bob@voip.remote.test SIP/2.0", [
        "Via: SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bKd1;rport",
        "Max-Forwards: 70",
        "From: <sip:alice@example.com>;tag=d1",
        "To: <sip:bob@voip.remote.test>",
        "Call-ID: dns1@192.168.1.20",
        "CSeq: 1 INVITE",
        "Contact: <sip:alice@192.168.1.20:5060>",
    ], sdp("192.168.1.20", 4000))
    nodata = b"\x81\x80\x00\x00\x00\x00\x00\x00"
    a_record = b"\x81\x80\x00\x01\x00\x00\x00\x00" + b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04" + bytes([192, 168, 1, 30])
    write(t, "call-via-dns", script(
        LAN + PHONE_A + invite,
        DNS + b"0" + nodata,
        DNS + b"0" + nodata,
        DNS + b"0" + a_record,
        LAN + b"0" + response(200, "OK", "1 INVITE", "r1", "<sip:bob@192.168.1.30>", call="dns1@192.168.1.20",
                              frm="<sip:alice@example.com>;tag=d1", to="<sip:bob@voip.remote.test>",
                              body=sdp("192.168.1.30", 5000)),
        LAN + PHONE_A + sip("ACK $C SIP/2.0", [
            "Via: SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bKd2;rport",
            "Route: $Q",
            "Max-Forwards: 70",
            "From: <sip:alice@example.com>;tag=d1",
            "To: <sip:bob@voip.remote.test>;tag=r1",
            "Call-ID: dns1@192.168.1.20",
            "CSeq: 1 ACK",
        ]),
        TIMEOUT + b"0",
    ))
    reg = lambda cseq, auth: sip("REGISTER sip:example.com SIP/2.0", [
        "Via: SIP/2.0/UDP 192.168.1.21:5062;branch=z9hG4bKs%d;rport" % cseq,
        "Max-Forwards: 70",
        "From: <sip:alice@example.com>;tag=s1",
        "To: <sip:alice@example.com>",
        "Call-ID: reg2@192.168.1.21",
        "CSeq: %d REGISTER" % cseq,
        "Contact: <sip:alice@192.168.1.21:5062>;expires=60",
    ] + (["Authorization: $A"] if auth else []))
    write(t, "register-and-call", script(
        LAN + PHONE_B + reg(1, False),
        LAN + PHONE_B + reg(2, True),
        LAN + PHONE_A + sip("INVITE sip:alice@example.com SIP/2.0", [
            "Via: SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bKe1;rport",
            "Max-Forwards: 70",
            "From: <sip:carol@example.com>;tag=e1",
            "To: <sip:alice@example.com>",
            "Call-ID: e1@192.168.1.20",
            "CSeq: 1 INVITE",
            "Contact: <sip:carol@192.168.1.20>",
        ], sdp("192.168.1.20", 4002)),
        LAN + PHONE_B + response(200, "OK", "1 INVITE", "e2", "<sip:alice@192.168.1.21:5062>", call="e1@192.168.1.20",
                                 frm="<sip:carol@example.com>;tag=e1", to="<sip:alice@example.com>"),
        LAN + PHONE_B + sip("BYE $C SIP/2.0", [
            "Via: SIP/2.0/UDP 192.168.1.21:5062;branch=z9hG4bKe3;rport",
            "Route: $R",
            "Max-Forwards: 70",
            "From: <sip:alice@example.com>;tag=e2",
            "To: <sip:carol@example.com>;tag=e1",
            "Call-ID: e1@192.168.1.20",
            "CSeq: 1 BYE",
        ]),
        LAN + PHONE_A + response(200, "OK", "1 BYE", rr=False, call="e1@192.168.1.20",
                                 frm="<sip:alice@example.com>;tag=e2", to="<sip:carol@example.com>;tag=e1"),
        b"\xf6" + PHONE_A,
    ))
    opt = lambda ruri: sip("OPTIONS %s SIP/2.0" % ruri, [
        "Via: SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bKk1;rport",
        "Max-Forwards: 70",
        "From: <sip:alice@example.com>;tag=k1",
        "To: <%s>" % ruri,
        "Call-ID: k1@192.168.1.20",
        "CSeq: 1 OPTIONS",
    ])
    write(t, "routes-and-keepalives", script(
        LAN + PHONE_A + opt("sip:192.168.1.1"),
        LAN + PHONE_A + opt("sip:x@pbx.example"),
        LAN + PHONE_A + opt("sip:x@a.voip.example"),
        LAN + PHONE_A + opt("sip:x@pbx.lan"),
        LAN + PHONE_A + opt("sip:x@198.51.100.1"),
        LAN + PHONE_A + b"\r\n\r\n",
        LAN + PHONE_A + b"\x00\x01\x00\x00\x21\x12\xa4\x42fuzztxid0002",
    ))


def dns():
    t = "dns_response"
    # sel 0: example.com A; header, then records after our question.
    header = b"\x12\x34\x81\x80\x00\x01\x00\x02\x00\x00\x00\x01"
    recs = (b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x0e\x10\x00\x04\xc0\x00\x02\x01"
            b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x01\x2c\x00\x04\xc0\x00\x02\x02"
            b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x00")
    write(t, "a-two-records", b"\x00" + header + recs)
    # sel 0x10 | 1: _sip._udp.example.com SRV.
    srv = (b"\xc0\x0c\x00\x21\x00\x01\x00\x00\x0e\x10\x00\x17\x00\x0a\x00\x05\x13\xc4"
           b"\x03sip\x07example\x03com\x00")
    write(t, "srv", b"\x11" + b"\x00\x01\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00" + srv)
    # NXDOMAIN with an SOA.
    soa = (b"\xc0\x0c\x00\x06\x00\x01\x00\x00\x00\x3c\x00\x16"
           b"\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x02\x00\x00\x00\x03\x00\x00\x00\x04\x00\x00\x00\x05")
    write(t, "nxdomain-soa", b"\x08" + b"\x00\x01\x81\x83\x00\x01\x00\x00\x00\x01\x00\x00" + soa)
    # Resolver mode (0x40): NAPTR for example.com, NODATA twice, then an A.
    a = b"\x81\x80\x00\x01\x00\x00\x00\x00" + b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04" + bytes([192, 0, 2, 7])
    nod = b"\x81\x80\x00\x00\x00\x00\x00\x00"
    write(t, "resolver-walk", b"\x40" + SEP.join([b"\x02" + nod, b"\x02" + nod, b"\x02" + a, b"\x00", b"\x51"]))
    srv_ans = b"\x81\x80\x00\x01\x00\x00\x00\x00" + srv
    write(t, "resolver-srv", b"\x40" + SEP.join([b"\x02" + nod, b"\x02" + srv_ans, b"\x02" + a, b"\x0a" + a]))


def tokens():
    t = "token_decode"
    write(t, "v4-nat", b"\x00\x01\x01\x07" + bytes([198, 51, 100, 8, 0x87, 0x07]) + b"alice@192.168.1.20:5060")
    write(t, "no-nat", b"\x01\x00\x00\x03" + b"bob@203.0.113.5;transport=udp")
    write(t, "v6-nat", b"\x00\x01\x02\x09" + bytes(range(16)) + b"\x13\xc4" + b"carol@[2001:db8::1]:5062")
    write(t, "token-text", b"bAEBAGAYDAMBQGAYDAMBQGAYDAMBQGAYDAMBQGAYDAMBQGAYDAMA")


def sdp_seeds():
    pass


two_legs()
one_leg()
dns()
tokens()
