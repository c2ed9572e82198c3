//! The status writer on the sans-IO core: what `edgesip status` shows,
//! from a core whose counters and tables the test filled itself.

mod common;

use common::harness::{leg, proxy_cfg, relay_config, Net};
use edgesip::registrar::RegistrarConfig;
use edgesip::status::{self, MAX_ANSWER};
use edgesip::time::Instant;
use std::io::Write;
use std::process::{Command, Stdio};

/// Legs a (LAN) and b (WAN), the NAT helper, a registrar for example.com.
fn net() -> Net {
    Net::new(proxy_cfg(
        vec![
            leg("lan", "127.0.0.1:5060", &["127.0.0.1/32"]),
            leg("wan", "127.0.0.2:5060", &[]),
        ],
        |c| {
            c.nat = Some(relay_config(8));
            c.registrar = Some(RegistrarConfig {
                domains: vec!["example.com".into()],
                ..RegistrarConfig::default()
            });
        },
    ))
}

fn register(n: &mut Net, user: &str, port: u16) {
    let reg = format!(
        "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{user}\r\n\
From: <sip:{user}@example.com>;tag=r\r\nTo: <sip:{user}@example.com>\r\nCall-ID: {user}-reg\r\n\
CSeq: 1 REGISTER\r\nContact: <sip:{user}@127.0.0.1:{port}>\r\nContent-Length: 0\r\n\r\n"
    );
    let o = n.send(0, &format!("127.0.0.1:{port}"), &reg).unwrap();
    assert_eq!(o.first_line(), "SIP/2.0 200 OK");
}

/// A relayed call from the LAN to 127.0.0.3, 7 packets one way, 3 back.
fn relayed_call(n: &mut Net) {
    let sdp = |ip: &str, port: u16| {
        format!("v=0\r\no=x 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0\r\n")
    };
    let with = |head: String, body: String| {
        format!(
            "{head}Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    let inv = with(
        "INVITE sip:bob@127.0.0.3:5072 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5071;branch=z9hG4bKc1\r\n\
Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=a\r\nTo: <sip:bob@example.org>\r\n\
Call-ID: call-1\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@127.0.0.1:5071>\r\n"
            .into(),
        sdp("127.0.0.1", 40000),
    );
    let at_uas = n.send(0, "127.0.0.1:5071", &inv).unwrap();
    let ok = common::sip::answer(
        at_uas.text.as_bytes(),
        "200 OK",
        "b",
        "Contact: <sip:bob@127.0.0.3:5072>\r\n",
        &sdp("127.0.0.3", 30000),
    );
    let back = n.send(1, "127.0.0.3:5072", &ok).unwrap();
    let port = |body: &str| -> u16 {
        body.lines()
            .find_map(|l| l.strip_prefix("m=audio ")?.split(' ').next()?.parse().ok())
            .unwrap()
    };
    let (to_a, to_b) = (port(&back.body()), port(&at_uas.body()));
    let rtp = [0x80u8, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xaa];
    for _ in 0..7 {
        assert!(n.rtp(0, to_a, "127.0.0.1:40000", &rtp).is_some());
    }
    for _ in 0..3 {
        assert!(n.rtp(1, to_b, "127.0.0.3:30000", &rtp).is_some());
    }
}

/// One answer of the writer, as text, into a buffer of `size`.
fn ask(n: &Net, now: Instant, req: &str, size: usize) -> (Option<usize>, String) {
    let mut out = vec![0u8; size];
    let len = status::answer(&n.p, None, now, req.as_bytes(), &mut out);
    let text = String::from_utf8(out[..len].to_vec()).unwrap();
    let (head, body) = text.split_once('\n').unwrap();
    let next = match head {
        "end" => None,
        h => Some(h.strip_prefix("next ").unwrap().parse().unwrap()),
    };
    (next, body.to_string())
}

/// A whole table through answers of `size`, and how many parts it took.
fn whole(n: &Net, now: Instant, table: &str, format: &str, size: usize) -> (String, usize) {
    let (mut out, mut from, mut parts) = (String::new(), 0, 0);
    loop {
        let (next, body) = ask(n, now, &format!("{table} {format} {from}"), size);
        if format == "json" && !out.is_empty() && !body.is_empty() {
            out.push(',');
        }
        out += &body;
        parts += 1;
        match next {
            Some(k) => from = k,
            None => return (out, parts),
        }
    }
}

/// Checks `text` with Python's strict JSON parser and returns what
/// `expr` (Python, over the parsed value `j`) prints.
fn python_json(text: &str, expr: &str) -> String {
    let mut child = Command::new("python3")
        .args([
            "-c",
            &format!(
                "import json,sys\nj=json.loads(sys.stdin.read(), parse_constant=lambda c: 1/0)\nprint(({expr}))"
            ),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "not JSON: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn the_summary_shows_counters_legs_relay_and_registrar() {
    let mut n = net();
    register(&mut n, "alice", 6000);
    relayed_call(&mut n);
    let now = Instant::from_secs(3605);
    let (next, text) = ask(&n, now, "summary text", MAX_ANSWER);
    assert_eq!(next, None);
    assert!(text.starts_with("edgesip "), "{text}");
    assert!(text.contains(", up 01:00:05\n"), "{text}");
    assert!(
        text.contains("\nlan             127.0.0.1:5060         trusted 127.0.0.1"),
        "{text}"
    );
    assert!(
        text.contains("\nwan             127.0.0.2:5060         public  127.0.0.2"),
        "{text}"
    );
    assert!(
        text.contains("forwarded   requests 1  responses 1\n"),
        "{text}"
    );
    assert!(text.contains("answered    200 x1"), "{text}");
    assert!(text.contains("REGISTER    updated 1"), "{text}");
    assert!(
        text.contains("relay       calls 1 (peak 1, max 8)"),
        "{text}"
    );
    assert!(text.contains("packets relayed 10"), "{text}");
    assert!(text.contains("registrar   bindings 1 of 256\n"), "{text}");
    assert!(text.lines().all(|l| l.len() <= 80), "{text}");

    let (_, json) = ask(&n, now, "summary json", MAX_ANSWER);
    let keys = python_json(&json, "sorted(j.keys())");
    assert_eq!(
        keys,
        "['answered', 'legs', 'outcomes', 'register', 'registrar', 'relay', \
         'requests_forwarded', 'responses_forwarded', 'uptime_s', 'version']"
    );
    assert_eq!(
        python_json(
            &json,
            "(j['uptime_s'], j['legs'][0]['name'], j['legs'][0]['datagrams_in'], \
             j['relay']['calls'], j['relay']['relayed'], j['registrar']['bindings'], \
             j['answered']['200'], j['register']['updated'])"
        ),
        "(3605, 'lan', 2, 1, 10, 1, 1, 1)"
    );

    let (_, prom) = ask(&n, now, "summary prometheus", MAX_ANSWER);
    assert!(prom.contains("edgesip_uptime_seconds 3605\n"), "{prom}");
    assert!(
        prom.contains("edgesip_datagrams_in_total{leg=\"lan\"} 2\n"),
        "{prom}"
    );
    assert!(prom.contains("edgesip_relay_packets_total 10\n"), "{prom}");
    assert!(prom.contains("# TYPE edgesip_outcomes_total counter\n"));
    // Every sample line is `name{labels} value` or `name value`.
    for l in prom.lines().filter(|l| !l.starts_with('#')) {
        let (name, value) = l.rsplit_once(' ').unwrap();
        assert!(name.starts_with("edgesip_"), "{l}");
        value.parse::<u64>().unwrap();
    }
}

#[test]
fn tables_show_the_binding_and_the_call() {
    let mut n = net();
    register(&mut n, "alice", 6000);
    relayed_call(&mut n);
    let now = Instant::from_secs(70);
    let (bindings, _) = whole(&n, now, "bindings", "text", MAX_ANSWER);
    let rows: Vec<&str> = bindings.lines().collect();
    assert_eq!(rows.len(), 2, "{bindings}");
    assert!(rows[0].starts_with("AoR "), "{bindings}");
    assert!(
        rows[1].starts_with(
            "sip:alice@example.com     sip:alice@127.0.0.1:6000      127.0.0.1:6000        lan   "
        ),
        "{bindings}"
    );
    let (calls, _) = whole(&n, now, "calls", "text", MAX_ANSWER);
    assert!(calls.contains("lan/wan"), "{calls}");
    assert!(calls.contains("127.0.0.1:40000 127.0.0.3:30000"), "{calls}");
    assert!(calls.trim_end().ends_with("7/3"), "{calls}");

    let (json, _) = whole(&n, now, "calls", "json", MAX_ANSWER);
    assert_eq!(
        python_json(
            &format!("[{json}]"),
            "(len(j), j[0]['legs'], j[0]['streams'][0]['packets'], j[0]['streams'][0]['latched'])"
        ),
        "(1, ['lan', 'wan'], [7, 3], ['127.0.0.1:40000', '127.0.0.3:30000'])"
    );
    let (json, _) = whole(&n, now, "bindings", "json", MAX_ANSWER);
    assert_eq!(
        python_json(
            &format!("[{json}]"),
            "sorted(j[0].keys()), j[0]['aor'], j[0]['expires_s']"
        ),
        "(['aor', 'contact', 'expires_s', 'leg', 'source'], 'sip:alice@example.com', 3540)"
    );
    // An empty table is empty: no heading either.
    assert_eq!(whole(&n, now, "registrations", "text", MAX_ANSWER).0, "");
}

#[test]
fn a_table_larger_than_one_answer_comes_in_parts_that_reassemble() {
    let mut n = net();
    for i in 0..120 {
        register(&mut n, &format!("user{i:03}"), 6000 + i);
    }
    let now = Instant::from_secs(5);
    let (one, parts) = whole(&n, now, "bindings", "text", MAX_ANSWER);
    assert_eq!(parts, 1);
    assert_eq!(one.lines().count(), 121);
    for size in [512, 1500, 4096] {
        let (text, parts) = whole(&n, now, "bindings", "text", size);
        assert!(parts > 1, "{size}");
        assert_eq!(text, one, "{size}");
        let (json, parts) = whole(&n, now, "bindings", "json", size);
        assert!(parts > 1);
        assert_eq!(
            python_json(
                &format!("[{json}]"),
                "len(j), len(set(b['aor'] for b in j))"
            ),
            "(120, 120)"
        );
    }
    // A bad request gets an error line, not a guess.
    let mut out = [0u8; 256];
    let len = status::answer(&n.p, None, now, b"bindings xml", &mut out);
    assert!(out[..len].starts_with(b"error"));
}

#[test]
fn json_escapes_what_phones_send() {
    let mut n = net();
    // A Latin-1 byte, a quote and a backslash in the user part.
    // The AoR's user part, unescaped, holds a quote, a backslash and a
    // Latin-1 byte.
    let reg = "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:6001;branch=z9hG4bKx\r\n\
From: <sip:j%22%5Co%E9@example.com>;tag=r\r\nTo: <sip:j%22%5Co%E9@example.com>\r\nCall-ID: x-reg\r\n\
CSeq: 1 REGISTER\r\nContact: <sip:jo@127.0.0.1:6001>\r\nContent-Length: 0\r\n\r\n";
    assert_eq!(
        n.send(0, "127.0.0.1:6001", reg).unwrap().first_line(),
        "SIP/2.0 200 OK"
    );
    let (json, _) = whole(&n, Instant::from_secs(1), "bindings", "json", MAX_ANSWER);
    assert!(
        json.contains(r#""aor":"sip:j\"\\o\u00e9@example.com""#),
        "{json}"
    );
    assert_eq!(
        python_json(
            &format!("[{json}]"),
            "j[0]['aor'] == 'sip:j\"\\\\o\\xe9@example.com'"
        ),
        "True"
    );
}

/// With a TCP leg, the summary has the connection table in every format.
#[test]
fn the_summary_shows_tcp_connections() {
    let n = Net::new(common::harness::proxy_cfg(
        vec![common::harness::leg("lan", "127.0.0.1:5060", &[])],
        |_| {},
    ));
    let tcp = edgesip::stream::TcpStats {
        open: 3,
        capacity: 64,
        accepted: 10,
        refused_full: 2,
        refused_source: 1,
        closed: 7,
        ..Default::default()
    };
    let get = |req: &str, tcp: Option<&edgesip::stream::TcpStats>| {
        let mut out = vec![0u8; 65_536];
        let len = status::answer(&n.p, tcp, Instant::from_secs(5), req.as_bytes(), &mut out);
        String::from_utf8(out[..len].to_vec()).unwrap()
    };
    let text = get("summary text", Some(&tcp));
    assert!(
        text.contains("tcp         connections 3 of 64  accepted 10"),
        "{text}"
    );
    assert!(text.contains("refused: full 2, per source 1"), "{text}");
    assert!(!get("summary text", None).contains("tcp "));
    let json = get("summary json", Some(&tcp));
    assert!(
        json.contains("\"tcp\":{\"connections\":3,\"max\":64,"),
        "{json}"
    );
    let prom = get("summary prometheus", Some(&tcp));
    assert!(prom.contains("edgesip_tcp_connections 3\n"), "{prom}");
    assert!(
        prom.contains("edgesip_tcp_refused_total{why=\"full\"} 2\n"),
        "{prom}"
    );
}
