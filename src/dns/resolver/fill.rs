//! Turns one checked answer into cache entries: the question's own answer
//! (positive or negative), then what the additional section adds for the
//! next steps of the chain (SRV for NAPTR replacements, addresses for SRV
//! targets). Additional records are only taken for names the answer itself
//! points at, and never replace a fresh entry: they rank below answers
//! (RFC 2181 §5.4.1).

use std::net::IpAddr;

use super::cache::{push_sorted, Cache, SrvRec, Value, MAX_ADDRS, MAX_NAPTR, MAX_SRV};
use crate::dns::{
    clamp_ttl, naptr_usable, order_naptr, Name, Naptr, Negative, QType, RData, Records, Response,
    Transport, MIN_TTL, SERVICE_SIP_D2T, SERVICE_SIP_D2U,
};
use crate::time::Instant;

/// Usable NAPTRs looked at per answer; only usable ones are collected, and
/// a real SIP domain has one or two.
const MAX_NAPTR_SEEN: usize = 16;
/// CNAME links followed for the TTL, as [`Response::canonical_name`] does.
const MAX_CNAME_CHAIN: usize = 8;

/// The cache and the counter its inserts bump.
pub(crate) struct CacheFill<'c> {
    pub cache: &'c mut Cache,
    pub now: Instant,
    pub evictions: &'c mut u64,
}

impl CacheFill<'_> {
    /// The answer to the question: someone waits for it, so it may use
    /// the scratch slot.
    fn put(&mut self, name: &Name, qtype: QType, ttl: u32, value: Value) {
        let ttl = clamp_ttl(ttl);
        self.cache
            .insert(self.now, name, qtype, ttl, value, true, self.evictions);
    }

    /// Glue goes in only where nothing fresh is cached, and never to the
    /// scratch slot, which holds the answer.
    fn put_glue(&mut self, name: &Name, qtype: QType, ttl: u32, value: Value) {
        if self.cache.find(name, qtype, self.now).is_none() {
            let ttl = clamp_ttl(ttl);
            self.cache
                .insert(self.now, name, qtype, ttl, value, false, self.evictions);
        }
    }
}

/// Caches `resp`, the checked answer to its own question.
pub(crate) fn store(fill: &mut CacheFill<'_>, resp: &Response<'_>) {
    let qname = *resp.qname();
    let qtype = resp.qtype();
    let chain = chain_ttl(resp);
    let (value, ttl) = match qtype {
        QType::A | QType::Aaaa => {
            let (ips, ttl) = addresses(resp.matching());
            (Value::Addrs(ips), ttl)
        }
        QType::Srv => {
            let (recs, ttl) = srvs(resp.matching());
            (Value::Srv(recs), ttl)
        }
        QType::Naptr => {
            let (names, ttl) = naptrs(resp);
            (Value::Naptr(names), ttl)
        }
    };
    let ttl = ttl.map(|t| t.min(chain));
    match (is_empty(&value), ttl) {
        (false, Some(ttl)) => {
            fill.put(&qname, qtype, ttl, value.clone());
        }
        (_, seen) => {
            // NXDOMAIN, NODATA, or (truncated, or no usable NAPTR) nothing
            // we can use: all mean "go to the next fallback". Without an
            // SOA the shortest TTL still stops a query per request.
            let kind = resp.negative().unwrap_or(Negative::NoData);
            let ttl = resp.negative_ttl().or(seen).unwrap_or(MIN_TTL);
            fill.put(&qname, qtype, ttl, Value::Negative(kind));
            return;
        }
    }
    match &value {
        Value::Naptr(names) => {
            for (name, _) in names {
                let (recs, ttl) = srvs(owned_by(resp.additional(), name));
                if let (false, Some(ttl)) = (recs.is_empty(), ttl) {
                    glue_addresses(fill, resp, &recs);
                    fill.put_glue(name, QType::Srv, ttl, Value::Srv(recs));
                }
            }
        }
        Value::Srv(recs) => glue_addresses(fill, resp, recs),
        _ => {}
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Negative(_) => true,
        Value::Addrs(x) => x.is_empty(),
        Value::Srv(x) => x.is_empty(),
        Value::Naptr(x) => x.is_empty(),
    }
}

/// The additional section's A and AAAA records for each SRV target.
fn glue_addresses(fill: &mut CacheFill<'_>, resp: &Response<'_>, recs: &[SrvRec]) {
    for (i, rec) in recs.iter().enumerate() {
        let target = &rec.target;
        // Two records may share a target; one pass per name is enough.
        if target.is_root() || recs.iter().take(i).any(|r| r.target == *target) {
            continue;
        }
        for qtype in [QType::A, QType::Aaaa] {
            let of_type =
                owned_by(resp.additional(), target).filter(move |r| r.data.rtype() == qtype.code());
            if let (ips, Some(ttl)) = addresses(of_type) {
                fill.put_glue(target, qtype, ttl, Value::Addrs(ips));
            }
        }
    }
}

fn owned_by<'p, 'n>(
    records: Records<'p>,
    owner: &'n Name,
) -> impl Iterator<Item = crate::dns::Record<'p>> + 'n
where
    'p: 'n,
{
    records.filter(move |r| r.name == *owner)
}

/// The addresses among `records`, and their lowest TTL (`None`: none).
fn addresses<'p>(
    records: impl Iterator<Item = crate::dns::Record<'p>>,
) -> (heapless::Vec<IpAddr, MAX_ADDRS>, Option<u32>) {
    let mut ips = heapless::Vec::new();
    let mut ttl = None;
    for r in records {
        let ip = match r.data {
            RData::A(a) => IpAddr::V4(a),
            RData::Aaaa(a) => IpAddr::V6(a),
            _ => continue,
        };
        push_sorted(&mut ips, ip);
        ttl = Some(ttl.map_or(r.ttl, |t: u32| t.min(r.ttl)));
    }
    (ips, ttl)
}

/// The SRV records among `records`, and their lowest TTL.
fn srvs<'p>(
    records: impl Iterator<Item = crate::dns::Record<'p>>,
) -> (heapless::Vec<SrvRec, MAX_SRV>, Option<u32>) {
    let mut recs = heapless::Vec::new();
    let mut ttl = None;
    for r in records {
        if let RData::Srv(s) = r.data {
            let rec = SrvRec {
                priority: s.priority,
                weight: s.weight,
                port: s.port,
                target: s.target,
            };
            push_sorted(&mut recs, rec);
            ttl = Some(ttl.map_or(r.ttl, |t: u32| t.min(r.ttl)));
        }
    }
    (recs, ttl)
}

/// The usable SIP+D2U and SIP+D2T replacements in NAPTR order (the walk
/// skips the transports we have no leg for), and the lowest TTL of all the
/// NAPTRs (a set with none usable is cached as NODATA for it).
fn naptrs(resp: &Response<'_>) -> (heapless::Vec<(Name, Transport), MAX_NAPTR>, Option<u32>) {
    const SERVICES: [&[u8]; 2] = [SERVICE_SIP_D2U, SERVICE_SIP_D2T];
    let mut usable = heapless::Vec::<Naptr<'_>, MAX_NAPTR_SEEN>::new();
    let mut ttl = None;
    for r in resp.matching() {
        if let RData::Naptr(n) = r.data {
            ttl = Some(ttl.map_or(r.ttl, |t: u32| t.min(r.ttl)));
            if naptr_usable(&n, &SERVICES) {
                let _ = usable.push(n);
            }
        }
    }
    let mut order = [0usize; MAX_NAPTR];
    let count = order_naptr(&usable, &SERVICES, &mut order);
    let mut names = heapless::Vec::new();
    for i in order.iter().take(count) {
        if let Some(n) = usable.get(*i) {
            if let Some(t) = Transport::of_service(n.services) {
                let _ = names.push((n.replacement, t));
            }
        }
    }
    (names, ttl)
}

/// The lowest TTL along the answer's CNAME chain (`u32::MAX` without one):
/// the cached result may not outlive any link.
fn chain_ttl(resp: &Response<'_>) -> u32 {
    let mut name = *resp.qname();
    let mut ttl = u32::MAX;
    for _ in 0..MAX_CNAME_CHAIN {
        let link = resp.answers().find_map(|r| match r.data {
            RData::Cname(target) if r.name == name => Some((target, r.ttl)),
            _ => None,
        });
        match link {
            Some((target, t)) => {
                name = target;
                ttl = ttl.min(t);
            }
            None => break,
        }
    }
    ttl
}
