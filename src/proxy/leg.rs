//! Legs as the core sees them: fixed-size copies of the configuration, the
//! own-address test and the outgoing-leg choice.

use crate::config::{Cidr, Config};
use crate::limits::{MAX_LEGS, MAX_NETS};
use crate::sip::{parse_ip, Cursor};
use std::net::{IpAddr, SocketAddr};

pub struct Leg {
    pub name: heapless::String<16>,
    pub addr: SocketAddr,
    /// Advertised host (IPv6 without brackets), lower case.
    pub adv_host: heapless::String<64>,
    pub adv_port: u16,
    /// `host[:port]` as written into Via and Record-Route: IPv6 in
    /// brackets, port 5060 left out as Net::SIP does.
    pub adv_text: heapless::String<72>,
    pub nets: heapless::Vec<Cidr, MAX_NETS>,
    pub trusted: bool,
    /// Which transports it listens on.
    pub udp: bool,
    pub tcp: bool,
}

impl Leg {
    /// Whether `host:port` (as found in a URI or Via) names this leg.
    pub fn is_own(&self, host: &[u8], port: u16) -> bool {
        if host.eq_ignore_ascii_case(self.adv_host.as_bytes()) && port == self.adv_port {
            return true;
        }
        port == self.addr.port() && parse_ip(host) == Some(self.addr.ip())
    }

    /// Longest `net=` prefix containing `ip`.
    fn net_match(&self, ip: IpAddr) -> Option<u8> {
        self.nets
            .iter()
            .filter(|n| n.contains(ip))
            .map(|n| n.prefix)
            .max()
    }
}

pub fn build(cfg: &Config) -> Result<heapless::Vec<Leg, MAX_LEGS>, String> {
    let mut legs = heapless::Vec::new();
    for (i, spec) in cfg.legs.iter().enumerate() {
        let mut name = heapless::String::new();
        name.push_str(&spec.name)
            .map_err(|_| format!("leg name {:?} is too long", spec.name))?;
        let mut adv_host = heapless::String::new();
        adv_host
            .push_str(&spec.advertise_host.to_ascii_lowercase())
            .map_err(|_| format!("advertise host of leg {} is too long", spec.name))?;
        let mut buf = [0u8; 72];
        let mut c = Cursor::new(&mut buf);
        let v6 = spec.advertise_host.contains(':');
        let text = if spec.advertise_port == 5060 {
            if v6 {
                c.put_fmt(format_args!("[{}]", adv_host))
            } else {
                c.put(adv_host.as_bytes())
            }
        } else if v6 {
            c.put_fmt(format_args!("[{}]:{}", adv_host, spec.advertise_port))
        } else {
            c.put_fmt(format_args!("{}:{}", adv_host, spec.advertise_port))
        };
        text.map_err(|_| format!("advertise of leg {} is too long", spec.name))?;
        let mut adv_text = heapless::String::new();
        adv_text
            .push_str(core::str::from_utf8(c.written()).unwrap_or_default())
            .map_err(|_| format!("advertise of leg {} is too long", spec.name))?;
        let mut nets = heapless::Vec::new();
        for n in &spec.nets {
            nets.push(*n)
                .map_err(|_| format!("leg {} has more than {MAX_NETS} nets", spec.name))?;
        }
        let leg = Leg {
            name,
            addr: spec.addr,
            adv_host,
            adv_port: spec.advertise_port,
            adv_text,
            nets,
            trusted: cfg.leg_trusted(i),
            udp: spec.transport.udp(),
            tcp: spec.transport.tcp(),
        };
        legs.push(leg)
            .map_err(|_| format!("more than {MAX_LEGS} legs"))?;
    }
    if legs.is_empty() {
        return Err("no legs".into());
    }
    Ok(legs)
}

/// The outgoing leg for a destination (issue rules, in order): the only
/// leg; the longest `net=` match; the first leg without `net=` other than
/// the incoming one; the incoming leg. Legs of the other IP family are
/// never chosen.
pub fn choose(legs: &[Leg], dst: IpAddr, incoming: usize) -> Option<usize> {
    let family = |l: &Leg| l.addr.is_ipv4() == dst.is_ipv4();
    if let [only] = legs {
        return family(only).then_some(0);
    }
    let by_net = legs
        .iter()
        .enumerate()
        .filter(|(_, l)| family(l))
        .filter_map(|(i, l)| l.net_match(dst).map(|p| (p, i)))
        .max_by_key(|(p, i)| (*p, core::cmp::Reverse(*i)));
    if let Some((_, i)) = by_net {
        return Some(i);
    }
    legs.iter()
        .enumerate()
        .find(|(i, l)| *i != incoming && l.nets.is_empty() && family(l))
        .map(|(i, _)| i)
        .or_else(|| legs.get(incoming).filter(|l| family(l)).map(|_| incoming))
}
