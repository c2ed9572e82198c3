//! Start-up configuration. Parsing the command line allocates; nothing here
//! runs after start-up.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

/// Most legs a proxy can have.
pub const MAX_LEGS: usize = 8;
/// Most `net=` entries per leg.
pub const MAX_NETS: usize = 8;

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
}

/// The whole daemon configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub legs: Vec<LegSpec>,
    pub log_level: log::LevelFilter,
    /// Rewrite Contacts even when a message leaves on the leg it came in on.
    pub force_rewrite: bool,
    /// Put the observed source of a client behind NAT into its tokens.
    pub nat_contacts: bool,
    /// Where the secret lives; `None`: a new random secret per process.
    pub key_file: Option<std::path::PathBuf>,
}

impl Config {
    /// A configuration with these legs and every option at its default.
    pub fn with_legs(legs: Vec<LegSpec>) -> Config {
        Config {
            legs,
            log_level: log::LevelFilter::Info,
            force_rewrite: false,
            nat_contacts: true,
            key_file: None,
        }
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
