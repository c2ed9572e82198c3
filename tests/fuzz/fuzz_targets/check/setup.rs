//! The proxies the fuzz targets drive: one trusted LAN leg, or a LAN leg
//! and a public WAN leg, each with the registrar (a domain and an auth
//! file), the NAT helper and `--route`s. The two-leg proxy has an
//! `--upstream`; the one-leg proxy has a resolver instead (a fixed server:
//! the core never does I/O, the script answers its queries; a route to a
//! name from /etc/hosts) and `--force-rewrite`, so Contact tokens are
//! minted there too.

use edgesip::config::{Cidr, Config, LegSpec, Route};
use edgesip::cx::RelaySockets;
use edgesip::dns::ResolverConfig;
use edgesip::proxy::Proxy;
use edgesip::registrar::{parse_auth_file, RegistrarConfig};
use edgesip::relay::RelayConfig;
use md5::{Digest, Md5};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

/// The key behind tokens, branches, tags and nonces.
pub const SECRET: &[u8] = b"edgesip fuzz secret, 32 bytes...";
/// The relay's port range: 50 pairs.
pub const RELAY_LO: u16 = 20000;
pub const RELAY_HI: u16 = 20099;
pub const RELAY_PAIRS: u16 = 50;
/// A pair the relay finds taken by someone else (it tries the next one).
pub const BUSY_PAIR: u16 = 3;
/// The registrar's domain, and the one user whose password the script
/// knows (`$A` answers its challenges).
pub const DOMAIN: &str = "example.com";
pub const USER: &str = "alice";
pub const PASSWORD: &str = "secret";
/// The resolver's server (one-leg proxy only).
pub const DNS_SERVER: &str = "192.168.1.53:53";

/// Where datagrams come from: the script picks one by index. Some are
/// inside the LAN's `net=`, some outside; on the public leg every one of
/// them is an attacker.
pub const SOURCES: [&str; 16] = [
    "192.168.1.20:5060",  // 0 phone A
    "192.168.1.21:5062",  // 1 phone B
    "192.168.1.22:40000", // 2 phone C, behind a NAT of its own
    "192.168.1.10:5070",  // 3 the PBX (--route pbx.example)
    "10.9.9.9:5060",      // 4 outside every net
    "127.0.0.1:5060",     // 5 loopback
    "[fd00::20]:5060",    // 6 IPv6
    "192.168.1.1:5060",   // 7 our own LAN address
    "203.0.113.5:5060",   // 8 the provider
    "203.0.113.5:5080",   // 9 the provider, another port
    "198.51.100.7:5060",  // 10 an attacker
    "198.51.100.8:34567", // 11 an attacker behind NAT
    "203.0.113.1:5060",   // 12 our own WAN address
    "[2001:db8::5]:5060", // 13 IPv6 on the internet
    "203.0.113.9:5060",   // 14 the --upstream proxy
    "192.168.1.53:53",    // 15 the DNS server
];

pub fn sources() -> &'static [SocketAddr; 16] {
    static S: OnceLock<[SocketAddr; 16]> = OnceLock::new();
    S.get_or_init(|| SOURCES.map(|s| s.parse().expect("source")))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setup {
    /// `lan=192.168.1.1:5060,net=192.168.1.0/24`, `--force-rewrite`, DNS.
    OneLeg,
    /// That LAN leg and `wan=203.0.113.1:5060`, public.
    TwoLegs,
}

fn leg(name: &str, addr: &str, nets: &[&str]) -> LegSpec {
    let nets: Vec<Cidr> = nets.iter().map(|n| n.parse().expect("net")).collect();
    LegSpec::new(name, addr.parse().expect("leg address"), &nets)
}

fn md5_hex(s: &str) -> String {
    Md5::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn route(domain: &str, host: &str, port: Option<u16>) -> Route {
    Route {
        domain: domain.into(),
        host: host.into(),
        port,
    }
}

fn build(setup: Setup) -> Config {
    let mut legs = vec![leg("lan", "192.168.1.1:5060", &["192.168.1.0/24"])];
    if setup == Setup::TwoLegs {
        legs.push(leg("wan", "203.0.113.1:5060", &[]));
    }
    let mut cfg = Config::with_legs(legs);
    cfg.force_rewrite = setup == Setup::OneLeg;
    cfg.nat = Some(RelayConfig {
        port_lo: RELAY_LO,
        port_hi: RELAY_HI,
        max_calls: 4,
        max_per_source: Some(2),
        media_timeout: Duration::from_secs(120),
        hold_timeout: Duration::from_secs(7200),
    });
    // An auth file: a password, and an HA1 for another user.
    let auth = format!(
        "{USER}:{PASSWORD}\nbob:{DOMAIN}:{}\n",
        md5_hex(&format!("bob:{DOMAIN}:hunter2"))
    );
    cfg.registrar = Some(RegistrarConfig {
        domains: vec![DOMAIN.into()],
        capacity: 8,
        min_expires: 60,
        max_expires: 3600,
        users: Some(parse_auth_file(&auth).expect("auth file")),
        realm: None,
        aliases: Vec::new(),
    });
    cfg.routes = vec![
        route("pbx.example", "192.168.1.10", Some(5070)),
        route("provider.example", "203.0.113.5", None),
    ];
    if setup == Setup::TwoLegs {
        cfg.routes
            .push(route("*.voip.example", "192.168.1.11", None));
        cfg.upstream = Some(("203.0.113.9".into(), Some(5060)));
    } else {
        // A route to a name from /etc/hosts; host names go to DNS.
        cfg.routes
            .push(route("*.voip.example", "pbx.lan", Some(5070)));
        cfg.dns = Some(ResolverConfig {
            server: DNS_SERVER.parse().expect("dns server"),
            cache: 16,
            pending: 4,
            sockets: 8,
            hosts: vec![("pbx.lan".into(), "192.168.1.10".parse().expect("ip"))],
        });
    }
    cfg
}

impl Setup {
    pub fn config(self) -> &'static Config {
        static ONE: OnceLock<Config> = OnceLock::new();
        static TWO: OnceLock<Config> = OnceLock::new();
        match self {
            Setup::OneLeg => ONE.get_or_init(|| build(self)),
            Setup::TwoLegs => TWO.get_or_init(|| build(self)),
        }
    }

    /// A fresh proxy: every input starts from the same state, so a finding
    /// replays exactly (building one costs microseconds).
    pub fn proxy(self) -> Proxy {
        Proxy::new(self.config(), SECRET, 7).expect("the fuzz configuration builds")
    }

    pub fn has_dns(self) -> bool {
        self.config().dns.is_some()
    }

    pub fn routes(self) -> Vec<SocketAddr> {
        self.config()
            .routes
            .iter()
            .filter_map(|r| {
                Some(SocketAddr::new(
                    r.host.parse().ok()?,
                    r.port.unwrap_or(5060),
                ))
            })
            .collect()
    }
}

/// The shell's relay sockets as a set of open (leg, pair). Opening an open
/// pair, closing a closed one or naming a pair outside the range fails the
/// check; [`BUSY_PAIR`] is taken by someone else.
pub struct FakeSockets {
    pub legs: usize,
    pub open: BTreeSet<(usize, u16)>,
    /// The first misuse, reported by the script after the call.
    pub fault: Option<String>,
}

impl FakeSockets {
    pub fn new(legs: usize) -> FakeSockets {
        FakeSockets {
            legs,
            open: BTreeSet::new(),
            fault: None,
        }
    }

    fn fault(&mut self, s: String) {
        self.fault.get_or_insert(s);
    }
}

impl RelaySockets for FakeSockets {
    fn open(&mut self, leg: usize, pair: u16) -> bool {
        if leg >= self.legs || pair >= RELAY_PAIRS {
            self.fault(format!("relay opened ({leg}, {pair}), outside the range"));
            return false;
        }
        if pair == BUSY_PAIR {
            return false;
        }
        if !self.open.insert((leg, pair)) {
            self.fault(format!("relay opened ({leg}, {pair}) twice"));
        }
        true
    }

    fn close(&mut self, leg: usize, pair: u16) {
        if !self.open.remove(&(leg, pair)) {
            self.fault(format!("relay closed ({leg}, {pair}), which is not open"));
        }
    }
}
