//! The command line: options and leg SPECs into [`Options`]. Start-up
//! only, so it may allocate; the files it needs come through a reader the
//! caller passes, which keeps the parser testable without the machine's
//! `/etc`.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;

use crate::config::{Cidr, Config, LegSpec, Route, Transports};
use crate::limits::{
    DEFAULT_DNS_CACHE, MAX_LEGS, MAX_NAME_LEN, MAX_NETS, MIN_DNS_SOCKETS, PENDING_LOOKUPS,
};
use crate::registrar::{parse_auth_file, RegistrarConfig};
use crate::relay::RelayConfig;
use crate::stream::StreamConfig;

/// Reads a whole text file; `std::fs::read_to_string` in the daemon.
pub type Reader<'a> = &'a mut dyn FnMut(&str) -> io::Result<String>;

/// The leg used when no `--leg` is given.
pub const DEFAULT_LEG: &str = "lan=127.0.0.1:5060";

/// Everything the command line sets: the core's [`Config`] and what only
/// the shell uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub cfg: Config,
    pub log_level: log::LevelFilter,
    /// Where the secret lives; `None`: a new random secret per process.
    pub key_file: Option<PathBuf>,
    /// `--reg-file`: where bindings persist across restarts.
    pub reg_file: Option<PathBuf>,
    /// `--control PATH`: the socket `edgesip status` asks.
    pub control: Option<PathBuf>,
}

/// The `--help` text.
pub const USAGE: &str = "\
Usage: edgesip [--leg SPEC]... [--log-level LEVEL] [--key-file PATH] [--control PATH]
               [--force-rewrite] [--nat-contacts | --no-nat-contacts]
               [--nat] [--rtp-ports LO-HI] [--max-calls N] [--max-calls-per-source N]
               [--media-timeout SECS] [--hold-timeout SECS]
               [--registrar DOMAIN]... [--reg-max N] [--reg-expires MIN-MAX]
               [--reg-file PATH] [--auth-file PATH] [--auth-realm REALM]
               [--route DOMAIN=HOST[:PORT]]... [--upstream URI]
               [--dns IP[:PORT]] [--dns-cache N]
               [--tcp-max N] [--tcp-per-source N] [--tcp-idle SECS] [--tcp-large]
               [--help] [--version]

A small stateless SIP proxy for routers.

Options:
  --leg SPEC         a leg (socket) to serve, up to 8; default lan=127.0.0.1:5060
  --log-level LEVEL  off, error, warn, info, debug or trace (default info);
                     RUST_LOG overrides it when set
  --key-file PATH    secret for Contact tokens and branches, created (0600) if
                     missing, so tokens survive restarts; default: a new
                     random secret per process
  --force-rewrite    rewrite Contacts even when a message leaves on the leg
                     it came in on (keeps edgesip in the path)
  --nat-contacts     put the observed source of a client behind NAT into its
                     Contact token and send to it (the default)
  --no-nat-contacts  send to the address in the Contact instead
  --nat              relay media of calls that cross legs (NAT helper)
  --rtp-ports LO-HI  relay port range (default 16384-16999)
  --max-calls N      calls the relay holds at once, forks included (default 64)
  --max-calls-per-source N
                     calls one source on a public leg may hold at once
                     (default: a quarter of --max-calls, at least 1)
  --media-timeout S  end a relayed call after S seconds without media (120)
  --hold-timeout S   the same for calls on hold both ways (7200)
  --route D=HOST[:P] send requests for domain D (exact, *.parent, or *)
                     to HOST[:P] (repeatable)
  --upstream URI     outbound proxy for requests routed by Request-URI
  --dns IP[:PORT]    DNS server (default: first nameserver in /etc/resolv.conf)
  --dns-cache N      DNS cache entries (default 128)
  --registrar DOMAIN answer REGISTER for DOMAIN (repeatable; * = any)
  --reg-max N        bindings the registrar holds (default 256)
  --reg-expires A-B  accepted expiry range in seconds (default 60-3600)
  --reg-file PATH    keep bindings across restarts (put it on tmpfs)
  --auth-file PATH   digest users, lines user:password or user:realm:HA1
  --auth-realm REALM digest realm (default: the REGISTER's domain)
  --tcp-max N        TCP connections in all, accepted and outgoing (default 64)
  --tcp-per-source N TCP connections one address may hold (default 8)
  --tcp-idle SECS    close a TCP connection idle this long (default 600)
  --tcp-large        requests over 1,300 bytes leave over TCP where the
                     outgoing leg has it (else UDP, fragmented by IP)
  --control PATH     serve `edgesip status` on a Unix socket at PATH (0600)
  --help             print this help and exit
  --version          print the version and exit

SPEC = [NAME=]IP:PORT[,advertise=HOST[:PORT]][,net=CIDR[+CIDR...]][,trusted|,public][,freebind][,media-ip=IP][,tcp|,tcp-only]
  NAME                   1-15 of A-Z a-z 0-9 _ -; default leg0, leg1, ... by position
  IP:PORT                address to bind; IPv6 in brackets ([::1]:5060); port not 0
  advertise=HOST[:PORT]  name or IP put in Via, Record-Route and Contact; default
                         the bound IP and port (required when binding 0.0.0.0 or [::])
  net=CIDR[+CIDR...]     networks this leg serves, up to 8; such a leg is trusted
  trusted, public        override trust (default: trusted if the leg has net=,
                         or if no leg has net=)
  freebind               bind even if the IP is not (yet) on this host
  media-ip=IP            IP written into SDP for relayed media; default the bound IP
  tcp, tcp-only          SIP over TCP as well as UDP on IP:PORT, or TCP alone

Status of a running edgesip (a subcommand):
  edgesip status [--json | --prometheus] [--control PATH]
                     PATH defaults to /var/run/edgesip/control

Example:
  edgesip --leg lan=192.168.1.1:5060,net=192.168.1.0/24 --leg wan=203.0.113.7:5060,public
";

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)] // made once, at start-up
pub enum Command {
    Run(Options),
    Help,
    Version,
}

/// Parses the arguments (without argv[0]). The files the options name
/// (and `/etc/resolv.conf`, `/etc/hosts`) are read through `read`, so the
/// caller decides what a file read is. Errors are one line, fit for
/// `edgesip: <error>`; user text in them is quoted with escapes.
pub fn parse_args<I: IntoIterator<Item = String>>(
    args: I,
    read: Reader,
) -> Result<Command, String> {
    let mut legs: Vec<LegSpec> = Vec::new();
    let mut opts = Options {
        cfg: Config::with_legs(Vec::new()),
        log_level: log::LevelFilter::Info,
        key_file: None,
        reg_file: None,
        control: None,
    };
    let cfg = &mut opts.cfg;
    let mut nat = false;
    let mut relay = RelayConfig::default();
    let mut reg = crate::registrar::RegistrarConfig::default();
    let mut dns_server: Option<SocketAddr> = None;
    let mut dns_cache = DEFAULT_DNS_CACHE;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (opt, inline) = match arg.split_once('=') {
            Some((o, v)) if o.starts_with("--") => (o, Some(v)),
            _ => (arg.as_str(), None),
        };
        match opt {
            "--help" | "-h" | "--version" | "-V" if inline.is_some() => {
                return Err(format!("{opt} takes no value"));
            }
            "--help" | "-h" => return Ok(Command::Help),
            "--version" | "-V" => return Ok(Command::Version),
            "--force-rewrite" | "--nat-contacts" | "--no-nat-contacts" if inline.is_some() => {
                return Err(format!("{opt} takes no value"));
            }
            "--force-rewrite" => cfg.force_rewrite = true,
            "--tcp-large" if inline.is_some() => return Err("--tcp-large takes no value".into()),
            "--tcp-large" => cfg.tcp_large = true,
            "--nat" if inline.is_some() => return Err("--nat takes no value".into()),
            "--nat" => nat = true,
            "--nat-contacts" => cfg.nat_contacts = true,
            "--no-nat-contacts" => cfg.nat_contacts = false,
            "--route" | "--upstream" | "--dns" | "--dns-cache" => {
                let value = match inline {
                    Some(v) => v.to_string(),
                    None => match args.next() {
                        Some(v) if !v.starts_with("--") => v,
                        _ => return Err(format!("{opt} needs a value; try --help")),
                    },
                };
                match opt {
                    "--route" => cfg.routes.push(parse_route(&value)?),
                    "--upstream" => cfg.upstream = Some(parse_upstream(&value)?),
                    "--dns" => dns_server = Some(parse_dns(&value)?),
                    _ => {
                        dns_cache = value
                            .parse::<usize>()
                            .ok()
                            .filter(|n| (4..=65_536).contains(n))
                            .ok_or_else(|| format!("--dns-cache {value:?}: expected 4 to 65536"))?
                    }
                }
            }
            "--registrar" | "--reg-max" | "--reg-expires" | "--reg-file" | "--auth-file"
            | "--auth-realm" => {
                let value = match inline {
                    Some(v) => v.to_string(),
                    None => match args.next() {
                        Some(v) if !v.starts_with("--") => v,
                        _ => return Err(format!("{opt} needs a value; try --help")),
                    },
                };
                registrar_opt(&mut reg, &mut opts.reg_file, read, opt, &value)?;
            }
            "--rtp-ports"
            | "--max-calls"
            | "--max-calls-per-source"
            | "--media-timeout"
            | "--hold-timeout" => {
                let value = match inline {
                    Some(v) => v.to_string(),
                    None => match args.next() {
                        Some(v) if !v.starts_with("--") => v,
                        _ => return Err(format!("{opt} needs a value; try --help")),
                    },
                };
                relay_opt(&mut relay, opt, &value)?;
            }
            "--tcp-max" | "--tcp-per-source" | "--tcp-idle" => {
                let value = match inline {
                    Some(v) => v.to_string(),
                    None => match args.next() {
                        Some(v) if !v.starts_with("--") => v,
                        _ => return Err(format!("{opt} needs a value; try --help")),
                    },
                };
                tcp_opt(&mut cfg.tcp, opt, &value)?;
            }
            "--leg" | "--log-level" | "--key-file" | "--control" => {
                let value = match inline {
                    Some(v) => v.to_string(),
                    // An option where the value should be means the value was forgotten.
                    None => match args.next() {
                        Some(v) if !v.starts_with("--") => v,
                        _ => return Err(format!("{opt} needs a value; try --help")),
                    },
                };
                if opt == "--log-level" {
                    opts.log_level = parse_level(&value)?;
                    continue;
                }
                if opt == "--control" {
                    if value.is_empty() {
                        return Err("--control needs a path".into());
                    }
                    opts.control = Some(value.into());
                    continue;
                }
                if opt == "--key-file" {
                    if value.is_empty() {
                        return Err("--key-file needs a path".into());
                    }
                    opts.key_file = Some(value.into());
                    continue;
                }
                if legs.len() == MAX_LEGS {
                    return Err(format!("too many legs: at most {MAX_LEGS}"));
                }
                let leg =
                    parse_leg(&value, legs.len()).map_err(|e| format!("--leg {value:?}: {e}"))?;
                legs.push(leg);
            }
            _ if opt.starts_with('-') => {
                return Err(format!("unknown option {arg:?}; try --help"));
            }
            _ => return Err(format!("unexpected argument {arg:?}; try --help")),
        }
    }
    if legs.is_empty() {
        legs.push(parse_leg(DEFAULT_LEG, 0)?);
    }
    for (i, leg) in legs.iter().enumerate() {
        if let Some(other) = legs[..i].iter().find(|o| o.name == leg.name) {
            return Err(format!("two legs are named {:?}", other.name));
        }
        if legs[..i].iter().any(|o| o.addr == leg.addr) {
            return Err(format!("two legs bind {}", leg.addr));
        }
    }
    cfg.legs = legs;
    if nat {
        cfg.nat = Some(relay);
    }
    let server = match dns_server {
        Some(s) => s,
        None => {
            let text = read("/etc/resolv.conf")
                .map_err(|e| format!("cannot read /etc/resolv.conf ({e}); give --dns IP"))?;
            crate::dns::conf::parse_resolv_conf(&text)
                .ok_or("no usable nameserver in /etc/resolv.conf; give --dns IP")?
        }
    };
    // /etc/hosts is optional; names it lists need no query.
    let hosts = read("/etc/hosts")
        .map(|t| crate::dns::conf::parse_hosts(&t))
        .unwrap_or_default();
    cfg.dns = Some(crate::dns::ResolverConfig {
        server,
        cache: dns_cache,
        pending: PENDING_LOOKUPS,
        sockets: MIN_DNS_SOCKETS,
        hosts,
    });
    if !reg.domains.is_empty() {
        reg.validate()?;
        cfg.registrar = Some(reg);
    } else if reg.users.is_some() || opts.reg_file.is_some() {
        return Err("--auth-file and --reg-file need --registrar DOMAIN".into());
    }
    Ok(Command::Run(opts))
}

fn parse_host_port(s: &str, what: &str) -> Result<(String, Option<u16>), String> {
    let bad = || format!("{what} {s:?}: expected HOST[:PORT]");
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (h, after) = rest.split_once(']').ok_or_else(bad)?;
        h.parse::<std::net::Ipv6Addr>().map_err(|_| bad())?;
        match after.strip_prefix(':') {
            Some(p) => (h.to_string(), Some(p)),
            None if after.is_empty() => (h.to_string(), None),
            None => return Err(bad()),
        }
    } else {
        match s.split_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (s.to_string(), None),
        }
    };
    let port = match port {
        Some(p) => Some(p.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(bad)?),
        None => None,
    };
    let ok = !host.is_empty()
        && (host.parse::<IpAddr>().is_ok()
            || host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b)));
    if !ok {
        return Err(bad());
    }
    Ok((host.to_ascii_lowercase(), port))
}

fn parse_route(v: &str) -> Result<Route, String> {
    let (domain, target) = v
        .split_once('=')
        .ok_or_else(|| format!("--route {v:?}: expected DOMAIN=HOST[:PORT]"))?;
    let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
    let name = domain.strip_prefix("*.").unwrap_or(&domain);
    let ok = domain == "*"
        || (!name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b)));
    if !ok {
        return Err(format!("--route {v:?}: bad domain {domain:?}"));
    }
    let (host, port) = parse_host_port(target, "--route")?;
    Ok(Route { domain, host, port })
}

fn parse_upstream(v: &str) -> Result<(String, Option<u16>), String> {
    // A URI (sip:host[:port][;params]) or a bare host[:port].
    let rest = v.strip_prefix("sip:").unwrap_or(v);
    if v.starts_with("sips:") || rest.contains('@') {
        return Err(format!("--upstream {v:?}: expected sip:HOST[:PORT]"));
    }
    let hostport = rest.split(';').next().unwrap_or_default();
    parse_host_port(hostport, "--upstream")
}

fn parse_dns(v: &str) -> Result<SocketAddr, String> {
    if let Ok(a) = v.parse::<SocketAddr>() {
        return Ok(a);
    }
    v.parse::<IpAddr>()
        .map(|ip| SocketAddr::new(ip, 53))
        .map_err(|_| format!("--dns {v:?}: expected IP[:PORT]"))
}

fn registrar_opt(
    r: &mut RegistrarConfig,
    reg_file: &mut Option<PathBuf>,
    read: Reader,
    opt: &str,
    v: &str,
) -> Result<(), String> {
    match opt {
        "--registrar" => {
            let d = v.trim().trim_end_matches('.').to_ascii_lowercase();
            let ok = d == "*"
                || (!d.is_empty()
                    && d.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b)));
            if !ok {
                return Err(format!("--registrar {v:?}: expected a domain name or *"));
            }
            r.domains.push(d);
        }
        "--reg-max" => {
            r.capacity = v
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=100_000).contains(n))
                .ok_or_else(|| format!("--reg-max {v:?}: expected 1 to 100000"))?;
        }
        "--reg-expires" => {
            let (lo, hi) =
                RegistrarConfig::parse_expires(v).map_err(|e| format!("--reg-expires: {e}"))?;
            r.min_expires = lo;
            r.max_expires = hi;
        }
        "--reg-file" => *reg_file = Some(v.into()),
        "--auth-file" => {
            let text = read(v).map_err(|e| format!("--auth-file {v:?}: {e}"))?;
            let users = parse_auth_file(&text).map_err(|e| format!("--auth-file {v:?}: {e}"))?;
            r.users = Some(users);
        }
        _ => r.realm = Some(v.to_string()),
    }
    Ok(())
}

fn tcp_opt(t: &mut StreamConfig, opt: &str, v: &str) -> Result<(), String> {
    let (lo, hi) = match opt {
        "--tcp-max" => (1, 4096),
        "--tcp-per-source" => (1, 4096),
        _ => (10, 86_400),
    };
    let n = v
        .parse::<usize>()
        .ok()
        .filter(|n| (lo..=hi).contains(n))
        .ok_or_else(|| format!("{opt} {v:?}: expected {lo} to {hi}"))?;
    match opt {
        "--tcp-max" => t.max = n,
        "--tcp-per-source" => t.per_source = n,
        _ => t.idle = std::time::Duration::from_secs(n as u64),
    }
    Ok(())
}

fn relay_opt(r: &mut RelayConfig, opt: &str, v: &str) -> Result<(), String> {
    let secs = |v: &str| {
        v.parse::<u64>()
            .ok()
            .filter(|s| (1..=86_400).contains(s))
            .map(std::time::Duration::from_secs)
            .ok_or_else(|| format!("{opt} {v:?}: expected 1 to 86400 seconds"))
    };
    match opt {
        "--rtp-ports" => {
            let (lo, hi) = v
                .split_once('-')
                .and_then(|(a, b)| Some((a.parse::<u16>().ok()?, b.parse::<u16>().ok()?)))
                .ok_or_else(|| format!("--rtp-ports {v:?}: expected LO-HI"))?;
            // Pairs start on an even port: RTP even, RTCP odd (RFC 3550).
            let lo = lo + lo % 2;
            if lo < 1024 || hi <= lo {
                return Err(format!(
                    "--rtp-ports {v:?}: need 1024 <= LO < HI, with room for one even/odd pair"
                ));
            }
            r.port_lo = lo;
            r.port_hi = hi;
        }
        "--max-calls-per-source" => {
            r.max_per_source = Some(
                v.parse::<usize>()
                    .ok()
                    .filter(|n| (1..=4096).contains(n))
                    .ok_or_else(|| format!("--max-calls-per-source {v:?}: expected 1 to 4096"))?,
            );
        }
        "--max-calls" => {
            r.max_calls = v
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=4096).contains(n))
                .ok_or_else(|| format!("--max-calls {v:?}: expected 1 to 4096"))?;
        }
        "--media-timeout" => r.media_timeout = secs(v)?,
        _ => r.hold_timeout = secs(v)?,
    }
    Ok(())
}

fn parse_level(s: &str) -> Result<log::LevelFilter, String> {
    s.parse()
        .map_err(|_| format!("--log-level {s:?}: expected off, error, warn, info, debug or trace"))
}

/// Parses one SPEC (see [`USAGE`]); `index` is the leg's position, for the
/// default name. Errors describe the problem without the SPEC.
pub fn parse_leg(spec: &str, index: usize) -> Result<LegSpec, String> {
    let mut parts = spec.split(',');
    let head = parts.next().unwrap_or_default();
    let (name, addr) = match head.split_once('=') {
        Some((name, addr)) => (check_name(name)?.to_string(), addr),
        None => (format!("leg{index}"), head),
    };
    let addr = parse_bind_addr(addr)?;
    let mut leg = LegSpec {
        name,
        addr,
        advertise_host: addr.ip().to_string(),
        advertise_port: addr.port(),
        nets: Vec::new(),
        trust: None,
        freebind: false,
        media_ip: None,
        transport: Transports::Udp,
    };
    let (mut advertise, mut net, mut freebind, mut tcp) = (false, false, false, false);
    for opt in parts {
        let (key, value) = match opt.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (opt, None),
        };
        let once = |seen: &mut bool| {
            if std::mem::replace(seen, true) {
                Err(format!("{key} given twice"))
            } else {
                Ok(())
            }
        };
        match (key, value) {
            ("advertise", Some(v)) => {
                once(&mut advertise)?;
                (leg.advertise_host, leg.advertise_port) = parse_advertise(v, addr.port())?;
            }
            ("net", Some(v)) => {
                once(&mut net)?;
                leg.nets = parse_nets(v, addr.is_ipv4())?;
            }
            ("media-ip", Some(v)) => {
                if leg.media_ip.is_some() {
                    return Err("media-ip given twice".into());
                }
                let ip: IpAddr = v
                    .parse()
                    .map_err(|_| format!("media-ip={v:?}: not an IP address"))?;
                if ip.is_unspecified() {
                    return Err(format!("media-ip={ip}: need a real address"));
                }
                leg.media_ip = Some(ip);
            }
            ("trusted" | "public", None) => {
                if leg.trust.is_some() {
                    return Err("give trusted or public at most once".into());
                }
                leg.trust = Some(key == "trusted");
            }
            ("freebind", None) => {
                once(&mut freebind)?;
                leg.freebind = true;
            }
            ("tcp" | "tcp-only", None) => {
                if std::mem::replace(&mut tcp, true) {
                    return Err("give tcp or tcp-only at most once".into());
                }
                leg.transport = if key == "tcp" {
                    Transports::UdpTcp
                } else {
                    Transports::TcpOnly
                };
            }
            ("advertise" | "net" | "media-ip", None) => {
                return Err(format!("{key}= needs a value"));
            }
            ("trusted" | "public" | "freebind" | "tcp" | "tcp-only", Some(_)) => {
                return Err(format!("{key} takes no value"));
            }
            ("", None) => return Err("empty option (stray comma?)".into()),
            _ => return Err(format!("unknown option {opt:?}")),
        }
    }
    // Via and Record-Route need an address peers can reach.
    if addr.ip().is_unspecified() && !advertise {
        return Err(format!(
            "binding the wildcard address {} needs advertise=HOST",
            addr.ip()
        ));
    }
    Ok(leg)
}

fn check_name(name: &str) -> Result<&str, String> {
    let ok = (1..=MAX_NAME_LEN).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(name)
    } else {
        Err(format!(
            "bad leg name {name:?}: use 1-{MAX_NAME_LEN} of A-Z a-z 0-9 _ -"
        ))
    }
}

fn parse_bind_addr(s: &str) -> Result<SocketAddr, String> {
    let addr: SocketAddr = s.parse().map_err(|_| {
        if s.parse::<IpAddr>().is_ok() {
            format!("{s:?} has no port: write IP:PORT, or [IP]:PORT for IPv6")
        } else {
            format!("expected [NAME=]IP:PORT ([IP]:PORT for IPv6), got {s:?}")
        }
    })?;
    if addr.port() == 0 {
        return Err("port 0 is not allowed: edgesip needs a fixed port".into());
    }
    Ok(addr)
}

/// `HOST[:PORT]`, IPv6 in brackets; the host is returned without them.
fn parse_advertise(s: &str, default_port: u16) -> Result<(String, u16), String> {
    let bad = |why: &str| format!("advertise={s:?}: {why}");
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (ip, after) = rest.split_once(']').ok_or_else(|| bad("missing ]"))?;
        let ip: Ipv6Addr = ip.parse().map_err(|_| bad("not an IPv6 address in [ ]"))?;
        let port = match after {
            "" => None,
            p => Some(
                p.strip_prefix(':')
                    .ok_or_else(|| bad("expected :PORT after ]"))?,
            ),
        };
        (ip.to_string(), port)
    } else {
        let (host, port) = match s.split_once(':') {
            Some((_, p)) if p.contains(':') => {
                return Err(bad("IPv6 needs brackets: advertise=[IP]:PORT"));
            }
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        };
        if !valid_host(host) {
            return Err(bad("not a host name or IPv4 address"));
        }
        (host.to_string(), port)
    };
    let port = match port {
        None => default_port,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| bad("port must be 1-65535"))?,
    };
    Ok((host, port))
}

/// A DNS name (RFC 1123 labels) or a dotted IPv4 address.
fn valid_host(h: &str) -> bool {
    let labels_ok = (1..=253).contains(&h.len())
        && h.split('.').all(|l| {
            (1..=63).contains(&l.len())
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        });
    // No top-level domain is numeric, so a numeric last label means an IPv4.
    let numeric = h
        .rsplit('.')
        .next()
        .is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()));
    labels_ok && (!numeric || h.parse::<Ipv4Addr>().is_ok())
}

fn parse_nets(s: &str, v4: bool) -> Result<Vec<Cidr>, String> {
    let mut nets = Vec::new();
    for part in s.split('+') {
        if nets.len() == MAX_NETS {
            return Err(format!("net=: at most {MAX_NETS} networks"));
        }
        let cidr: Cidr = part.parse().map_err(|e| format!("net=: {e}"))?;
        // The socket only sees its own family, so such a net never matches.
        if cidr.addr.is_ipv4() != v4 {
            let family = if v4 { "an IPv4" } else { "an IPv6" };
            return Err(format!(
                "net={cidr}: other address family than {family} leg"
            ));
        }
        nets.push(cidr);
    }
    Ok(nets)
}

#[cfg(test)]
mod parse_test {
    use super::*;

    /// The machine's files stand in for nothing: a resolv.conf naming
    /// 192.0.2.53 and no other file.
    fn fake_files(path: &str) -> io::Result<String> {
        match path {
            "/etc/resolv.conf" => Ok("nameserver 192.0.2.53\n".into()),
            _ => Err(io::ErrorKind::NotFound.into()),
        }
    }

    fn args(a: &[&str]) -> Result<Command, String> {
        parse_args(a.iter().map(|s| s.to_string()), &mut fake_files)
    }

    fn options(a: &[&str]) -> Options {
        match args(a) {
            Ok(Command::Run(o)) => o,
            other => panic!("{a:?}: {other:?}"),
        }
    }

    fn config(a: &[&str]) -> Config {
        options(a).cfg
    }

    fn leg(spec: &str) -> LegSpec {
        let mut c = config(&["--leg", spec]);
        assert_eq!(c.legs.len(), 1);
        c.legs.remove(0)
    }

    fn leg_err(spec: &str) -> String {
        let e = args(&["--leg", spec]).expect_err(spec);
        assert!(!e.contains('\n'), "{e}");
        e
    }

    #[test]
    fn defaults() {
        let o = options(&[]);
        assert_eq!(o.log_level, log::LevelFilter::Info);
        let c = o.cfg;
        assert_eq!(
            c.dns.as_ref().map(|d| d.server),
            "192.0.2.53:53".parse().ok()
        );
        assert_eq!(c.dns.as_ref().map(|d| d.cache), Some(128));
        assert!(c.nat.is_none() && c.registrar.is_none() && c.routes.is_empty());
        assert_eq!(c.legs.len(), 1);
        let l = &c.legs[0];
        assert_eq!(l.name, "lan");
        assert_eq!(l.addr, "127.0.0.1:5060".parse().unwrap());
        assert_eq!(l.advertise_host, "127.0.0.1");
        assert_eq!(l.advertise_port, 5060);
        assert!(l.nets.is_empty());
        assert_eq!(l.trust, None);
        assert!(!l.freebind);
        assert_eq!(l.media_ip, None);
        assert!(c.leg_trusted(0));
    }

    #[test]
    fn help_and_version() {
        assert_eq!(args(&["--help"]), Ok(Command::Help));
        assert_eq!(args(&["-h"]), Ok(Command::Help));
        assert_eq!(args(&["--version"]), Ok(Command::Version));
        assert_eq!(args(&["-V"]), Ok(Command::Version));
        assert_eq!(args(&["--leg", "127.0.0.1:1", "--help"]), Ok(Command::Help));
        assert!(args(&["--help=yes"]).is_err());
        assert!(USAGE.contains("SPEC = [NAME=]IP:PORT[,advertise=HOST[:PORT]]"));
    }

    #[test]
    fn log_levels() {
        for (s, l) in [
            ("off", log::LevelFilter::Off),
            ("error", log::LevelFilter::Error),
            ("warn", log::LevelFilter::Warn),
            ("info", log::LevelFilter::Info),
            ("debug", log::LevelFilter::Debug),
            ("trace", log::LevelFilter::Trace),
        ] {
            assert_eq!(options(&["--log-level", s]).log_level, l);
            assert_eq!(options(&[&format!("--log-level={s}")]).log_level, l);
        }
        let e = args(&["--log-level", "loud"]).unwrap_err();
        assert!(e.contains("loud") && e.contains("trace"), "{e}");
        assert!(args(&["--log-level"])
            .unwrap_err()
            .contains("needs a value"));
        assert!(args(&["--log-level="]).is_err());
        // The last one wins.
        let o = options(&["--log-level", "warn", "--log-level", "debug"]);
        assert_eq!(o.log_level, log::LevelFilter::Debug);
    }

    #[test]
    fn option_errors() {
        let e = args(&["--bogus"]).unwrap_err();
        assert!(e.contains("unknown option") && e.contains("--bogus"), "{e}");
        assert!(args(&["-x"]).unwrap_err().contains("unknown option"));
        assert!(args(&["--bogus=1"]).unwrap_err().contains("unknown option"));
        let e = args(&["127.0.0.1:5060"]).unwrap_err();
        assert!(e.contains("unexpected argument"), "{e}");
        assert!(args(&["--leg"])
            .unwrap_err()
            .contains("--leg needs a value"));
        assert!(args(&["--leg", "--log-level", "info"])
            .unwrap_err()
            .contains("--leg needs a value"));
        assert!(args(&["--leg="]).is_err());
        assert!(args(&["--leg", ""]).is_err());
    }

    #[test]
    fn leg_forms() {
        let l = leg("127.0.0.1:5070");
        assert_eq!(l.name, "leg0");
        assert_eq!(l.addr, "127.0.0.1:5070".parse().unwrap());
        assert_eq!(
            (l.advertise_host.as_str(), l.advertise_port),
            ("127.0.0.1", 5070)
        );
        let c = config(&["--leg=a=127.0.0.1:5070"]);
        assert_eq!(c.legs[0].name, "a");
        let c = config(&[
            "--leg",
            "10.0.0.1:5060",
            "--leg=wan=10.0.0.2:5060",
            "--leg",
            "10.0.0.3:5060",
        ]);
        let names: Vec<_> = c.legs.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["leg0", "wan", "leg2"]);
    }

    #[test]
    fn leg_names() {
        for good in ["a", "LAN_1", "wan-2", "x23456789012345", "0"] {
            assert_eq!(leg(&format!("{good}=127.0.0.1:5060")).name, good);
        }
        for bad in ["", "x234567890123456", "a.b", "a b", "ü", "a/b", "a:b"] {
            let e = leg_err(&format!("{bad}=127.0.0.1:5060"));
            assert!(e.contains("leg name"), "{bad}: {e}");
        }
        let e = args(&["--leg", "a=127.0.0.1:1", "--leg", "a=127.0.0.1:2"]).unwrap_err();
        assert!(e.contains("two legs are named \"a\""), "{e}");
        // An explicit name may clash with a default one.
        let e = args(&["--leg", "leg1=127.0.0.1:1", "--leg", "127.0.0.1:2"]).unwrap_err();
        assert!(e.contains("\"leg1\""), "{e}");
        let e = args(&["--leg", "a=127.0.0.1:1", "--leg", "b=127.0.0.1:1"]).unwrap_err();
        assert!(e.contains("two legs bind 127.0.0.1:1"), "{e}");
    }

    #[test]
    fn leg_count() {
        let mut a = Vec::new();
        for i in 0..MAX_LEGS {
            a.push(format!("--leg=127.0.0.1:{}", 5060 + i));
        }
        let refs: Vec<&str> = a.iter().map(String::as_str).collect();
        assert_eq!(config(&refs).legs.len(), MAX_LEGS);
        a.push("--leg=127.0.0.1:6000".into());
        let refs: Vec<&str> = a.iter().map(String::as_str).collect();
        assert!(args(&refs).unwrap_err().contains("at most 8"));
    }

    #[test]
    fn bind_addresses() {
        let l = leg("v6=[::1]:5060");
        assert_eq!(l.addr, "[::1]:5060".parse().unwrap());
        assert_eq!(l.advertise_host, "::1");
        assert_eq!(l.advertise_port, 5060);
        assert!(leg_err("127.0.0.1:0").contains("port 0"));
        assert!(leg_err("[::1]:0").contains("port 0"));
        assert!(leg_err("127.0.0.1").contains("no port"));
        assert!(leg_err("[::1]").contains("expected"));
        assert!(leg_err("::1:5060").contains("[IP]:PORT"));
        assert!(leg_err("nonsense").contains("expected [NAME=]IP:PORT"));
        assert!(leg_err("127.0.0.1:65536").contains("expected"));
        assert!(leg_err("localhost:5060").contains("expected"));
        assert!(leg_err("a=").contains("expected"));
        let e = leg_err("0.0.0.0:5060");
        assert!(e.contains("wildcard") && e.contains("advertise"), "{e}");
        assert!(leg_err("[::]:5060").contains("wildcard"));
        let l = leg("0.0.0.0:5060,advertise=sip.example.org");
        assert_eq!(l.advertise_host, "sip.example.org");
        assert_eq!(l.advertise_port, 5060);
    }

    #[test]
    fn advertise_forms() {
        let adv = |spec: &str| {
            let l = leg(spec);
            (l.advertise_host, l.advertise_port)
        };
        let a = |h: &str, p| (h.to_string(), p);
        assert_eq!(
            adv("127.0.0.1:5060,advertise=203.0.113.7"),
            a("203.0.113.7", 5060)
        );
        assert_eq!(
            adv("127.0.0.1:5060,advertise=203.0.113.7:5080"),
            a("203.0.113.7", 5080)
        );
        assert_eq!(
            adv("127.0.0.1:5060,advertise=sip.example.org"),
            a("sip.example.org", 5060)
        );
        assert_eq!(
            adv("127.0.0.1:5060,advertise=Sip-1.example.org:7"),
            a("Sip-1.example.org", 7)
        );
        assert_eq!(adv("127.0.0.1:5060,advertise=router"), a("router", 5060));
        assert_eq!(
            adv("[::1]:5060,advertise=[2001:DB8::1]"),
            a("2001:db8::1", 5060)
        );
        assert_eq!(
            adv("[::1]:5060,advertise=[2001:db8::1]:5070"),
            a("2001:db8::1", 5070)
        );
        for bad in [
            "advertise=",
            "advertise",
            "advertise=2001:db8::1",
            "advertise=[2001:db8::1",
            "advertise=[2001:db8::1]5070",
            "advertise=[example.org]",
            "advertise=host:0",
            "advertise=host:70000",
            "advertise=host:",
            "advertise=:5060",
            "advertise=-bad.example",
            "advertise=a..b",
            "advertise=under_score.example",
            "advertise=999.1.1.1",
            "advertise=1.2.3",
            "advertise=a,advertise=b",
        ] {
            let e = leg_err(&format!("127.0.0.1:5060,{bad}"));
            assert!(e.contains("advertise"), "{bad}: {e}");
        }
    }

    #[test]
    fn nets() {
        let l = leg("127.0.0.1:5060,net=192.168.1.0/24+10.0.0.0/8+172.16.0.5");
        let want: Vec<Cidr> = ["192.168.1.0/24", "10.0.0.0/8", "172.16.0.5/32"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        assert_eq!(l.nets, want);
        let l = leg("[::1]:5060,net=2001:db8::/32+fd00::/8");
        assert_eq!(l.nets.len(), 2);
        let nine = ["10.0.0.1"; MAX_NETS + 1].join("+");
        assert!(leg_err(&format!("127.0.0.1:5060,net={nine}")).contains("at most 8"));
        let eight = ["10.0.0.1"; MAX_NETS].join("+");
        assert_eq!(leg(&format!("127.0.0.1:5060,net={eight}")).nets.len(), 8);
        for bad in [
            "net=",
            "net",
            "net=10.0.0.0/33",
            "net=10.0.0.0/8+",
            "net=+10.0.0.0/8",
            "net=10.0.0.0/8,10.1.0.0/16",
            "net=hello",
            "net=2001:db8::/32",
            "net=10.0.0.0/8,net=10.0.0.0/8",
        ] {
            leg_err(&format!("127.0.0.1:5060,{bad}"));
        }
        assert!(leg_err("[::1]:5060,net=10.0.0.0/8").contains("family"));
        // A leg with net= is trusted; one without is then public.
        let c = config(&[
            "--leg=lan=127.0.0.1:5060,net=192.168.0.0/16",
            "--leg=wan=127.0.0.2:5060",
        ]);
        assert!(c.leg_trusted(0));
        assert!(!c.leg_trusted(1));
    }

    #[test]
    fn flags() {
        let l = leg("127.0.0.1:5060,trusted");
        assert_eq!(l.trust, Some(true));
        let l = leg("127.0.0.1:5060,public");
        assert_eq!(l.trust, Some(false));
        let c = config(&["--leg=127.0.0.1:5060,public"]);
        assert!(!c.leg_trusted(0));
        let l = leg("127.0.0.1:5060,freebind");
        assert!(l.freebind);
        let l = leg("127.0.0.1:5060,media-ip=192.0.2.5");
        assert_eq!(l.media_ip, Some("192.0.2.5".parse().unwrap()));
        let l = leg("[::1]:5060,media-ip=2001:db8::5");
        assert_eq!(l.media_ip, Some("2001:db8::5".parse().unwrap()));
        let l =
            leg("x=127.0.0.1:5060,freebind,public,media-ip=192.0.2.5,net=10.0.0.0/8,advertise=h");
        assert!(l.freebind);
        assert_eq!(l.trust, Some(false));
        assert_eq!(l.nets.len(), 1);
        assert_eq!(l.advertise_host, "h");
        assert_eq!(leg("127.0.0.1:5060").transport, Transports::Udp);
        assert_eq!(leg("127.0.0.1:5060,tcp").transport, Transports::UdpTcp);
        let l = leg("127.0.0.1:5060,tcp-only,public");
        assert_eq!(l.transport, Transports::TcpOnly);
        assert!(l.to_string().ends_with(",public,tcp-only"), "{l}");
        let c = config(&[
            "--tcp-max",
            "5",
            "--tcp-per-source=2",
            "--tcp-idle",
            "30",
            "--tcp-large",
        ]);
        assert_eq!(
            (c.tcp.max, c.tcp.per_source, c.tcp.idle.as_secs()),
            (5, 2, 30)
        );
        assert!(c.tcp_large);
        for bad in [
            ["--tcp-max", "0"],
            ["--tcp-per-source", "x"],
            ["--tcp-idle", "5"],
        ] {
            assert!(args(&bad).is_err(), "{bad:?}");
        }
        for bad in [
            "tcp,tcp-only",
            "tcp,tcp",
            "tcp=1",
            "tcp-only=yes",
            "trusted,public",
            "public,trusted",
            "trusted,trusted",
            "trusted=1",
            "public=yes",
            "freebind=1",
            "freebind,freebind",
            "media-ip=",
            "media-ip",
            "media-ip=host",
            "media-ip=0.0.0.0",
            "media-ip=1.2.3.4,media-ip=1.2.3.4",
            "bogus=1",
            "bogus",
            "",
            "TRUSTED",
        ] {
            leg_err(&format!("a=127.0.0.1:5060,{bad}"));
        }
        assert!(leg_err("a=127.0.0.1:5060,bogus=1").contains("unknown option \"bogus=1\""));
        assert!(leg_err("a=127.0.0.1:5060,").contains("empty option"));
    }

    #[test]
    fn display_round_trips() {
        for spec in [
            "lan=127.0.0.1:5060",
            "x=[::1]:5060,advertise=[2001:db8::1]:5070,net=2001:db8::/32,trusted,freebind",
            "w=192.0.2.1:5060,advertise=sip.example.org:5080,net=10.0.0.0/8+192.168.0.0/16,public,media-ip=192.0.2.9",
        ] {
            let l = leg(spec);
            assert_eq!(parse_leg(&l.to_string(), 0).unwrap(), l, "{spec}");
        }
        assert_eq!(
            leg("lan=127.0.0.1:5060").to_string(),
            "lan=127.0.0.1:5060,advertise=127.0.0.1:5060"
        );
    }

    const GARBAGE: &[&str] = &[
        "",
        " ",
        "=",
        ",",
        ":",
        "[",
        "]",
        "[]",
        "[]:",
        "[::1",
        "[::1]",
        "[::1]:",
        "[::1]:x",
        "[::1]:5060x",
        "a=",
        "=127.0.0.1:5060",
        "==",
        "a==127.0.0.1:5060",
        "a=b=c",
        "127.0.0.1:",
        ":5060",
        "127.0.0.1:-1",
        "127.0.0.1:+5060",
        "127.0.0.1:5060,",
        "127.0.0.1:5060,,",
        "127.0.0.1:5060,=",
        "127.0.0.1:5060,advertise=[",
        "127.0.0.1:5060,advertise=[]",
        "127.0.0.1:5060,advertise=[]:1",
        "127.0.0.1:5060,advertise=[::1]:",
        "127.0.0.1:5060,advertise=ü",
        "127.0.0.1:5060,advertise=üü:5",
        "127.0.0.1:5060,net=/",
        "127.0.0.1:5060,net=1.2.3.4/",
        "127.0.0.1:5060,net=/8",
        "127.0.0.1:5060,net=++",
        "127.0.0.1:5060,net=1.2.3.4/ü",
        "127.0.0.1:5060,media-ip=ü",
        "ü=127.0.0.1:5060",
        "ü",
        "\u{0}",
        "\n",
        "--",
        "-",
        "--=",
        "--leg",
        "--leg=",
        "🦀=[::1]:5060",
        "[fe80::1%eth0]:5060",
        "[fe80::1%1]:5060",
        "127.0.0.1:5060\n",
        "1.2.3.4.5:6",
        "255.255.255.255:65535",
        "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535",
    ];

    #[test]
    fn garbage_never_panics() {
        for g in GARBAGE {
            for a in [
                vec![g.to_string()],
                vec!["--leg".into(), g.to_string()],
                vec![format!("--leg={g}")],
                vec!["--log-level".into(), g.to_string()],
                vec![format!("--log-level={g}")],
                vec!["--leg".into(), format!("n=127.0.0.1:5060,{g}")],
            ] {
                if let Err(e) = parse_args(a.clone(), &mut fake_files) {
                    assert!(!e.contains('\n'), "{a:?}: {e:?}");
                }
            }
        }
    }

    #[test]
    fn random_specs_never_panic() {
        // Fixed-seed xorshift over an alphabet of the grammar's characters.
        const ALPHABET: &[char] = &[
            '[', ']', ':', '.', ',', '=', '+', '/', '0', '1', '5', '9', 'a', 'f', 'z', '-', '_',
            '%', 'ü', ' ', 'n', 'e', 't',
        ];
        const WORDS: &[&str] = &[
            "advertise=",
            "net=",
            "media-ip=",
            "trusted",
            "public",
            "freebind",
            "127.0.0.1",
            "::1",
            ":5060",
            "10.0.0.0/8",
        ];
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |n: usize| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n as u64) as usize
        };
        for _ in 0..20_000 {
            let mut s = String::new();
            for _ in 0..next(12) {
                if next(3) == 0 {
                    s.push_str(WORDS[next(WORDS.len())]);
                } else {
                    s.push(ALPHABET[next(ALPHABET.len())]);
                }
            }
            if let Ok(Command::Run(o)) =
                parse_args(["--leg".to_string(), s.clone()], &mut fake_files)
            {
                let l = &o.cfg.legs[0];
                assert_ne!(l.addr.port(), 0, "{s}");
                assert_eq!(parse_leg(&l.to_string(), 0).as_ref(), Ok(l), "{s}");
            }
        }
    }
}
