//! RFC 3263 §4 for UDP and TCP as a pure function of the cache: walk NAPTR
//! → SRV → A/AAAA as far as cached answers go, and either finish or name
//! the one query still needed. Every answer re-runs the walk from the top, so the
//! target depends only on the inputs and the cache: a CANCEL re-resolved
//! from the same cache lands where its INVITE went.

use std::net::{IpAddr, SocketAddr};

use super::cache::{Cache, SrvRec, Value, MAX_SRV};
use super::{Failure, Reach};
use crate::dns::{select_srv, Name, Negative, QType, SrvChoice, Transport};
use crate::time::Instant;

/// Cache slots one walk pins; a walk reading more (many failed SRV
/// targets) just leaves the rest unpinned.
pub(crate) const MAX_PINS: usize = 8;

/// RFC 3263 §4.2: the SIP default port when no SRV says otherwise.
pub(crate) const SIP_PORT: u16 = 5060;

/// Where a walk stopped. Returned by value and dropped at once; boxing
/// the name would allocate.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// The address, and the transport when a NAPTR or SRV record chose it
    /// (`None`: a plain address lookup; the URI's transport, else UDP).
    Done(Result<(SocketAddr, Option<Transport>), Failure>),
    /// This answer is missing (or expired) from the cache.
    Need(Name, QType),
}

/// The address lookup of one name.
#[allow(clippy::large_enum_variant)]
enum Addr {
    Ready(SocketAddr),
    Need(Name, QType),
    Negative(Negative),
}

/// What one SRV owner name gave.
#[allow(clippy::large_enum_variant)]
enum SrvOutcome {
    Step(Step),
    /// NXDOMAIN or NODATA: try the next fallback.
    NotFound,
    /// Records exist but no target has an address.
    Exhausted,
}

/// The inputs of a resolution, copied so a walk borrows nothing mutable.
#[derive(Clone, Copy)]
pub(crate) struct Inputs {
    pub host: Name,
    pub port: Option<u16>,
    pub hash: u32,
    pub reach: Reach,
}

pub(crate) struct Walker<'a> {
    pub cache: &'a Cache,
    pub hosts: &'a [(Name, IpAddr)],
    pub now: Instant,
    /// What is resolved, for whom.
    pub p: Inputs,
    /// Cache slots read, to pin while the resolution waits.
    pub used: heapless::Vec<usize, MAX_PINS>,
}

impl<'a> Walker<'a> {
    pub fn new(
        cache: &'a Cache,
        hosts: &'a [(Name, IpAddr)],
        now: Instant,
        p: &Inputs,
    ) -> Walker<'a> {
        Walker {
            cache,
            hosts,
            now,
            p: *p,
            used: heapless::Vec::new(),
        }
    }

    pub fn run(&mut self) -> Step {
        let p = self.p;
        let host = &p.host;
        if let Some(port) = p.port {
            // §4.2: an explicit port means no NAPTR and no SRV.
            return self.host_address(host, port);
        }
        // /etc/hosts names are local: no SRV for them.
        if let Some(ip) = self.in_hosts(host) {
            return Step::Done(Ok((SocketAddr::new(ip, SIP_PORT), None)));
        }
        let mut found = false;
        // §4.1: a transport in the URI asks for its SRV alone; else the
        // NAPTRs name transports and their order, and without a usable one
        // we ask SRV for each transport we have, UDP first.
        let naptr = match p.reach.transport {
            Some(_) => None,
            None => match self.get(host, QType::Naptr) {
                None => return Step::Need(*host, QType::Naptr),
                Some(Value::Naptr(names)) => Some(names),
                Some(_) => None,
            },
        };
        let mut usable = false;
        for (name, t) in naptr.into_iter().flatten() {
            if p.reach.has(*t) {
                usable = true;
                match self.srv(name, *t) {
                    SrvOutcome::Step(step) => return step,
                    SrvOutcome::NotFound => {}
                    SrvOutcome::Exhausted => found = true,
                }
            }
        }
        if !usable {
            let order = match p.reach.transport {
                Some(t) => [Some(t), None],
                None => {
                    [Transport::Udp, Transport::Tcp].map(|t| Some(t).filter(|t| p.reach.has(*t)))
                }
            };
            for t in order.into_iter().flatten() {
                let Some(name) = sip_srv(host, t) else {
                    continue;
                };
                match self.srv(&name, t) {
                    SrvOutcome::Step(step) => return step,
                    SrvOutcome::NotFound => {}
                    SrvOutcome::Exhausted => found = true,
                }
            }
        }
        if found {
            // §4.2 falls back to A records only when there are no SRVs.
            return Step::Done(Err(Failure::Unavailable));
        }
        self.host_address(host, SIP_PORT)
    }

    /// The final address step for the request's own host.
    fn host_address(&mut self, host: &Name, port: u16) -> Step {
        match self.address(host, port) {
            Addr::Ready(sa) => Step::Done(Ok((sa, None))),
            Addr::Need(name, qtype) => Step::Need(name, qtype),
            Addr::Negative(Negative::NxDomain) => Step::Done(Err(Failure::NxDomain)),
            Addr::Negative(Negative::NoData) => Step::Done(Err(Failure::Unavailable)),
        }
    }

    fn srv(&mut self, owner: &Name, t: Transport) -> SrvOutcome {
        match self.get(owner, QType::Srv) {
            None => SrvOutcome::Step(Step::Need(*owner, QType::Srv)),
            Some(Value::Srv(records)) => self.targets(records, t),
            Some(_) => SrvOutcome::NotFound,
        }
    }

    /// Picks among the SRV records with [`select_srv`]; a target with no
    /// address is set aside and the pick made again (RFC 2782 failover),
    /// so the lowest priority with a reachable target wins.
    fn targets(&mut self, records: &[SrvRec], t: Transport) -> SrvOutcome {
        let mut excluded = [false; MAX_SRV];
        loop {
            let mut choices = heapless::Vec::<SrvChoice<'_>, MAX_SRV>::new();
            let mut index = heapless::Vec::<usize, MAX_SRV>::new();
            for (i, r) in records.iter().enumerate() {
                if excluded.get(i) == Some(&false) {
                    let c = SrvChoice {
                        priority: r.priority,
                        weight: r.weight,
                        port: r.port,
                        target: r.target.as_bytes(),
                    };
                    let _ = (choices.push(c), index.push(i));
                }
            }
            let pick = select_srv(&choices, self.p.hash).and_then(|c| index.get(c).copied());
            let Some((i, rec)) = pick.and_then(|i| Some((i, records.get(i)?))) else {
                return SrvOutcome::Exhausted;
            };
            match self.address(&rec.target, rec.port) {
                Addr::Ready(sa) => return SrvOutcome::Step(Step::Done(Ok((sa, Some(t))))),
                Addr::Need(name, qtype) => return SrvOutcome::Step(Step::Need(name, qtype)),
                Addr::Negative(_) => {
                    if let Some(x) = excluded.get_mut(i) {
                        *x = true;
                    }
                }
            }
        }
    }

    /// A before AAAA when both families have legs; the other family only
    /// after NODATA, since NXDOMAIN covers every type.
    fn address(&mut self, name: &Name, port: u16) -> Addr {
        if let Some(ip) = self.in_hosts(name) {
            return Addr::Ready(SocketAddr::new(ip, port));
        }
        let families = [(self.p.reach.v4, QType::A), (self.p.reach.v6, QType::Aaaa)];
        for (_, qtype) in families.into_iter().filter(|f| f.0) {
            match self.get(name, qtype) {
                None => return Addr::Need(*name, qtype),
                Some(Value::Addrs(ips)) => {
                    // Sorted in the cache, so the pick ignores server order.
                    let n = ips.len().max(1);
                    let i = (self.p.hash.rotate_left(16) as usize) % n;
                    if let Some(ip) = ips.get(i) {
                        return Addr::Ready(SocketAddr::new(*ip, port));
                    }
                }
                Some(Value::Negative(Negative::NxDomain)) => {
                    return Addr::Negative(Negative::NxDomain)
                }
                Some(_) => {}
            }
        }
        Addr::Negative(Negative::NoData)
    }

    /// The first /etc/hosts address of a family we have legs for, A first.
    fn in_hosts(&self, name: &Name) -> Option<IpAddr> {
        let mine = |want: bool, v6: bool| {
            self.hosts
                .iter()
                .find(|(n, ip)| want && n == name && ip.is_ipv6() == v6)
                .map(|e| e.1)
        };
        mine(self.p.reach.v4, false).or_else(|| mine(self.p.reach.v6, true))
    }

    /// A cache lookup that remembers the slot read.
    fn get(&mut self, name: &Name, qtype: QType) -> Option<&'a Value> {
        let (slot, value) = self.cache.find(name, qtype, self.now)?;
        if !self.used.contains(&slot) {
            let _ = self.used.push(slot);
        }
        Some(value)
    }
}

/// `_sip._udp.<host>` or `_sip._tcp.<host>`, or `None` if that would be
/// too long a name.
pub(crate) fn sip_srv(host: &Name, t: Transport) -> Option<Name> {
    const SIP: &[u8] = b"_sip.";
    let mut buf = [0u8; 10 + 253];
    let host = host.as_bytes();
    let label = t.srv_label();
    let end = SIP.len() + label.len() + 1 + host.len();
    let dst = buf.get_mut(..end)?;
    let (p, rest) = dst.split_at_mut_checked(SIP.len())?;
    p.copy_from_slice(SIP);
    let (l, rest) = rest.split_at_mut_checked(label.len())?;
    l.copy_from_slice(label);
    let (dot, h) = rest.split_first_mut()?;
    *dot = b'.';
    h.copy_from_slice(host);
    Name::from_text(dst).ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod test {
    use super::*;

    #[test]
    fn sip_srv_names() {
        let n = Name::from_text(b"Example.test").unwrap();
        let udp = sip_srv(&n, Transport::Udp).unwrap();
        assert_eq!(udp.as_bytes(), b"_sip._udp.example.test");
        let tcp = sip_srv(&n, Transport::Tcp).unwrap();
        assert_eq!(tcp.as_bytes(), b"_sip._tcp.example.test");
        let long = [&[b'a'; 63][..], &[b'a'; 63], &[b'a'; 63], &[b'a'; 61]].join(&b'.');
        assert!(sip_srv(&Name::from_text(&long).unwrap(), Transport::Tcp).is_none());
    }
}
