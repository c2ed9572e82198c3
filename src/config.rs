//! The configuration the core is built from: legs, networks, trust, and the
//! settings of each part. Types only; the command line that fills them is
//! in `daemon::cli`. Made once at start-up, so these may allocate.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

/// An IP network, `addr/prefix`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

impl std::str::FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Cidr, String> {
        let (a, p) = s.split_once('/').unwrap_or((s, ""));
        let addr: IpAddr = a
            .parse()
            .map_err(|_| format!("bad network address {a:?}"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = if p.is_empty() {
            max
        } else {
            p.parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("bad prefix length in {s:?}"))?
        };
        Ok(Cidr { addr, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// One `--leg` as given on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegSpec {
    /// `leg0`, `leg1`... unless named.
    pub name: String,
    /// Where the socket binds.
    pub addr: SocketAddr,
    /// What goes into Via, Record-Route and rewritten Contacts: a name or an
    /// IP (IPv6 without brackets). Defaults to the bound IP.
    pub advertise_host: String,
    /// Defaults to the bound port.
    pub advertise_port: u16,
    /// Networks this leg serves; a leg with `net=` is trusted.
    pub nets: Vec<Cidr>,
    /// `,trusted` (Some(true)) or `,public` (Some(false)) overrides the
    /// default trust.
    pub trust: Option<bool>,
    /// Bind with IP_FREEBIND, so the address need not exist yet.
    pub freebind: bool,
    /// The IP written into SDP for relayed media; defaults to the bound IP.
    pub media_ip: Option<IpAddr>,
    /// UDP, TCP or both on the leg's address (`,tcp`, `,tcp-only`).
    pub transport: Transports,
}

/// What a leg listens on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transports {
    Udp,
    /// UDP and TCP on the same address and port.
    UdpTcp,
    TcpOnly,
}

impl Transports {
    pub fn udp(self) -> bool {
        self != Transports::TcpOnly
    }
    pub fn tcp(self) -> bool {
        self != Transports::Udp
    }
}

/// The whole daemon configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub legs: Vec<LegSpec>,
    /// Rewrite Contacts even when a message leaves on the leg it came in on.
    pub force_rewrite: bool,
    /// Put the observed source of a client behind NAT into its tokens.
    pub nat_contacts: bool,
    /// The NAT helper (`--nat`), with its relay settings.
    pub nat: Option<crate::relay::RelayConfig>,
    /// The registrar (`--registrar`), with its `--reg-*`/`--auth-*` settings.
    pub registrar: Option<crate::registrar::RegistrarConfig>,
    /// `--route DOMAIN=HOST[:PORT]`, in the order given.
    pub routes: Vec<Route>,
    /// `--upstream URI`: the outbound proxy, as host and port.
    pub upstream: Option<(String, Option<u16>)>,
    /// The resolver (`--dns`, `--dns-cache`, /etc/hosts). `None` in
    /// hand-built configs: host names get 503.
    pub dns: Option<crate::dns::ResolverConfig>,
    /// The TCP connection table (`--tcp-max`, `--tcp-per-source`,
    /// `--tcp-idle`); used when a leg has TCP.
    pub tcp: crate::stream::StreamConfig,
    /// `--tcp-large`: a request whose forwarded copy is over 1,300 bytes
    /// goes over TCP when its outgoing leg has TCP (RFC 3261 §18.1.1).
    pub tcp_large: bool,
}

/// A static route: requests for `domain` (`example.com`, `*.example.com` or
/// `*`) go to `host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub domain: String,
    pub host: String,
    pub port: Option<u16>,
}

impl Config {
    /// A configuration with these legs and every option at its default.
    pub fn with_legs(legs: Vec<LegSpec>) -> Config {
        Config {
            legs,
            force_rewrite: false,
            nat_contacts: true,
            nat: None,
            registrar: None,
            routes: Vec::new(),
            upstream: None,
            dns: None,
            tcp: crate::stream::StreamConfig::default(),
            tcp_large: false,
        }
    }
}

impl LegSpec {
    /// A leg bound to `addr`, advertising it, serving `nets`; everything
    /// else at its default.
    pub fn new(name: &str, addr: SocketAddr, nets: &[Cidr]) -> LegSpec {
        LegSpec {
            name: name.to_string(),
            addr,
            advertise_host: addr.ip().to_string(),
            advertise_port: addr.port(),
            nets: nets.to_vec(),
            trust: None,
            freebind: false,
            media_ip: None,
            transport: Transports::Udp,
        }
    }

    /// The IP written into SDP for media relayed on this leg: `media-ip=`,
    /// else the bound IP, else (bound to a wildcard) an IP `advertise=`.
    pub fn media_ip(&self) -> IpAddr {
        self.media_ip
            .or_else(|| Some(self.addr.ip()).filter(|ip| !ip.is_unspecified()))
            .or_else(|| self.advertise_host.parse().ok())
            .unwrap_or(self.addr.ip())
    }
}

impl Config {
    /// A leg is trusted when it has `net=`, or when no leg has `net=`;
    /// `,trusted` and `,public` override that.
    pub fn leg_trusted(&self, i: usize) -> bool {
        let leg = &self.legs[i];
        leg.trust
            .unwrap_or_else(|| !leg.nets.is_empty() || self.legs.iter().all(|l| l.nets.is_empty()))
    }
}

impl fmt::Display for LegSpec {
    /// The leg as a SPEC, with every default spelled out except trust.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={},advertise=", self.name, self.addr)?;
        if self.advertise_host.contains(':') {
            write!(f, "[{}]", self.advertise_host)?;
        } else {
            f.write_str(&self.advertise_host)?;
        }
        write!(f, ":{}", self.advertise_port)?;
        for (i, n) in self.nets.iter().enumerate() {
            f.write_str(if i == 0 { ",net=" } else { "+" })?;
            write!(f, "{n}")?;
        }
        match self.trust {
            Some(true) => f.write_str(",trusted")?,
            Some(false) => f.write_str(",public")?,
            None => {}
        }
        if self.freebind {
            f.write_str(",freebind")?;
        }
        if let Some(ip) = self.media_ip {
            write!(f, ",media-ip={ip}")?;
        }
        match self.transport {
            Transports::Udp => {}
            Transports::UdpTcp => f.write_str(",tcp")?,
            Transports::TcpOnly => f.write_str(",tcp-only")?,
        }
        Ok(())
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn test_cidr() {
        let n: Cidr = "192.168.1.0/24".parse().unwrap();
        assert!(n.contains("192.168.1.77".parse().unwrap()));
        assert!(!n.contains("192.168.2.1".parse().unwrap()));
        assert!(!n.contains("::1".parse().unwrap()));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
        let host: Cidr = "127.0.0.1".parse().unwrap();
        assert_eq!(host.prefix, 32);
        let v6: Cidr = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains("2001:db8:1::5".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("nonsense/8".parse::<Cidr>().is_err());
    }
}
