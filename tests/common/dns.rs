//! A small DNS server for the tests, on loopback: answers A, SRV and NAPTR
//! from a fixed zone, NXDOMAIN (with an SOA) for unknown names, and records
//! every question it gets. It can also stay silent or answer with a wrong
//! ID, to test timeouts and spoofing.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

#[derive(Clone, Debug)]
pub enum Rec {
    A(&'static str, Ipv4Addr),
    /// name, priority, weight, port, target
    Srv(&'static str, u16, u16, u16, &'static str),
    /// name, order, preference, service, replacement
    Naptr(&'static str, u16, u16, &'static str, &'static str),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Answer,
    Silent,
    /// Answers, but with the ID off by one: a spoof that must be ignored.
    WrongId,
}

pub struct DnsServer {
    addr: SocketAddr,
    queries: Arc<Mutex<Vec<(String, u16)>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

const TTL: u32 = 60;

fn name_wire(name: &str, out: &mut Vec<u8>) {
    for label in name
        .trim_end_matches('.')
        .split('.')
        .filter(|l| !l.is_empty())
    {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
}

fn rr(out: &mut Vec<u8>, name: &str, rtype: u16, ttl: u32, rdata: &[u8]) {
    name_wire(name, out);
    out.extend_from_slice(&rtype.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&ttl.to_be_bytes());
    out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    out.extend_from_slice(rdata);
}

/// (question name lower-case, qtype, end of question) of a query.
fn question(q: &[u8]) -> Option<(String, u16, usize)> {
    let mut i = 12;
    let mut name = String::new();
    loop {
        let len = *q.get(i)? as usize;
        i += 1;
        if len == 0 {
            break;
        }
        if !name.is_empty() {
            name.push('.');
        }
        name.push_str(&String::from_utf8_lossy(q.get(i..i + len)?).to_ascii_lowercase());
        i += len;
    }
    let qtype = u16::from_be_bytes([*q.get(i)?, *q.get(i + 1)?]);
    Some((name, qtype, i + 4))
}

fn answer(q: &[u8], zone: &[Rec], ttl: u32) -> Option<Vec<u8>> {
    let (name, qtype, qend) = question(q)?;
    let mut answers = Vec::new();
    let mut count = 0u16;
    let mut known = false;
    for r in zone {
        let (n, t, data) = match r {
            Rec::A(n, ip) => (*n, 1u16, ip.octets().to_vec()),
            Rec::Srv(n, p, w, port, target) => {
                let mut d = Vec::new();
                d.extend_from_slice(&p.to_be_bytes());
                d.extend_from_slice(&w.to_be_bytes());
                d.extend_from_slice(&port.to_be_bytes());
                name_wire(target, &mut d);
                (*n, 33, d)
            }
            Rec::Naptr(n, order, pref, service, repl) => {
                let mut d = Vec::new();
                d.extend_from_slice(&order.to_be_bytes());
                d.extend_from_slice(&pref.to_be_bytes());
                for s in ["s", service, ""] {
                    d.push(s.len() as u8);
                    d.extend_from_slice(s.as_bytes());
                }
                name_wire(repl, &mut d);
                (*n, 35, d)
            }
        };
        if n.eq_ignore_ascii_case(&name) {
            known = true;
            if t == qtype {
                rr(&mut answers, n, t, ttl, &data);
                count += 1;
            }
        }
    }
    let mut out = q[..2].to_vec();
    let rcode = if known { 0 } else { 3 };
    out.extend_from_slice(&[0x81, 0x80 | rcode]);
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&count.to_be_bytes());
    out.extend_from_slice(&u16::from(count == 0).to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes());
    out.extend_from_slice(&q[12..qend]);
    out.extend_from_slice(&answers);
    if count == 0 {
        // Negative answers carry an SOA whose minimum is the negative TTL.
        let mut soa = Vec::new();
        name_wire("ns.test", &mut soa);
        name_wire("admin.test", &mut soa);
        for v in [1u32, 3600, 600, 86400, 30] {
            soa.extend_from_slice(&v.to_be_bytes());
        }
        rr(&mut out, "test", 6, 30, &soa);
    }
    Some(out)
}

impl DnsServer {
    pub fn start(zone: Vec<Rec>, mode: Mode) -> DnsServer {
        DnsServer::start_ttl(zone, mode, TTL)
    }

    pub fn start_ttl(zone: Vec<Rec>, mode: Mode, ttl: u32) -> DnsServer {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("bind the test DNS server");
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let addr = sock.local_addr().unwrap();
        let queries = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (q, st) = (Arc::clone(&queries), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while !st.load(Ordering::Relaxed) {
                let Ok((n, from)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                let Some((name, qtype, _)) = question(&buf[..n]) else {
                    continue;
                };
                q.lock().unwrap().push((name, qtype));
                if mode == Mode::Silent {
                    continue;
                }
                if let Some(mut a) = answer(&buf[..n], &zone, ttl) {
                    if mode == Mode::WrongId {
                        a[1] = a[1].wrapping_add(1);
                    }
                    let _ = sock.send_to(&a, from);
                }
            }
        });
        DnsServer {
            addr,
            queries,
            stop,
            thread: Some(thread),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every (name, qtype) asked so far.
    pub fn queries(&self) -> Vec<(String, u16)> {
        self.queries.lock().unwrap().clone()
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
