//! Deterministic SRV and NAPTR choice: a stateless proxy must send a CANCEL
//! or an ACK where its INVITE went, with no memory of the INVITE. So choices
//! depend only on the record contents and a hash of the transaction, never
//! on the order a server happened to list them in (servers rotate it).

use core::cmp::Ordering;

use super::wire::{Naptr, Srv};

/// RFC 3263 §4.1: SIP over UDP.
pub const SERVICE_SIP_D2U: &[u8] = b"SIP+D2U";
/// RFC 3263 §4.1: SIP over TCP.
pub const SERVICE_SIP_D2T: &[u8] = b"SIP+D2T";

/// The transports we resolve for (no TLS or SCTP legs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    Udp,
    Tcp,
}

impl Transport {
    /// The NAPTR service field that names it.
    pub fn service(self) -> &'static [u8] {
        match self {
            Transport::Udp => SERVICE_SIP_D2U,
            Transport::Tcp => SERVICE_SIP_D2T,
        }
    }

    /// The SRV label of `_sip._<proto>.<host>` (RFC 3263 §4.1).
    pub fn srv_label(self) -> &'static [u8] {
        match self {
            Transport::Udp => b"_udp",
            Transport::Tcp => b"_tcp",
        }
    }

    /// The transport a usable NAPTR's service field names.
    pub fn of_service(service: &[u8]) -> Option<Transport> {
        [Transport::Udp, Transport::Tcp]
            .into_iter()
            .find(|t| service.eq_ignore_ascii_case(t.service()))
    }
}

/// What SRV selection looks at: a small copy of an [`Srv`] so callers can
/// keep cached records in any form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SrvChoice<'a> {
    pub priority: u16,
    pub weight: u16,
    pub port: u16,
    /// Target host as lower-case dotted text; empty for the root (".").
    pub target: &'a [u8],
}

impl<'a> From<&'a Srv> for SrvChoice<'a> {
    fn from(srv: &'a Srv) -> SrvChoice<'a> {
        SrvChoice {
            priority: srv.priority,
            weight: srv.weight,
            port: srv.port,
            target: srv.target.as_bytes(),
        }
    }
}

/// Picks one SRV record (RFC 2782), as an index into `records`.
///
/// Only the lowest-priority group counts; within it, records are put in a
/// canonical order (target, port, weight) and `hash % total_weight` walks
/// their cumulative weights. Unlike RFC 2782's random draw, a weight-0
/// record is never picked while its group has weight. If all weights are 0
/// the pick is `hash % count`. Targets of "." (service not offered) are
/// never picked. `None` if nothing is left.
///
/// The same `hash` and the same set of records give the same record in any
/// order; failover to lower priorities is the caller's business.
pub fn select_srv(records: &[SrvChoice<'_>], hash: u32) -> Option<usize> {
    let usable = |r: &SrvChoice<'_>| !r.target.is_empty();
    let priority = records
        .iter()
        .filter(|r| usable(r))
        .map(|r| r.priority)
        .min()?;
    let keep = |r: &SrvChoice<'_>| usable(r) && r.priority == priority;
    let cmp = |a: &SrvChoice<'_>, b: &SrvChoice<'_>| {
        (a.target, a.port, a.weight).cmp(&(b.target, b.port, b.weight))
    };
    let mut order = in_order(records, &keep, &cmp);
    let group = records.iter().filter(|r| keep(r));
    let total: u64 = group.clone().map(|r| u64::from(r.weight)).sum();
    if total == 0 {
        let count = group.count() as u64;
        return order.nth((u64::from(hash) % count) as usize);
    }
    let mut pick = u64::from(hash) % total;
    for i in order {
        let weight = u64::from(records.get(i)?.weight);
        if pick < weight {
            return Some(i);
        }
        pick -= weight;
    }
    None
}

/// RFC 3263 §4.1 usability: terminal flag "S", exactly one of `services`
/// (e.g. [`SERVICE_SIP_D2U`]), both case-insensitive, and a replacement
/// (the SRV name to query) rather than a regexp.
pub fn naptr_usable(naptr: &Naptr<'_>, services: &[&[u8]]) -> bool {
    naptr.flags.eq_ignore_ascii_case(b"s")
        && services
            .iter()
            .any(|s| naptr.services.eq_ignore_ascii_case(s))
        && naptr.regexp.is_empty()
        && !naptr.replacement.is_root()
}

/// Writes the indices of the usable records (see [`naptr_usable`]) into
/// `out`, best first by (order, preference), ties by replacement name;
/// returns how many were written (at most `out.len()`).
pub fn order_naptr(records: &[Naptr<'_>], services: &[&[u8]], out: &mut [usize]) -> usize {
    let keep = |n: &Naptr<'_>| naptr_usable(n, services);
    let cmp = |a: &Naptr<'_>, b: &Naptr<'_>| {
        (a.order, a.preference, a.replacement.as_bytes()).cmp(&(
            b.order,
            b.preference,
            b.replacement.as_bytes(),
        ))
    };
    let mut written = 0;
    for (slot, i) in out.iter_mut().zip(in_order(records, &keep, &cmp)) {
        *slot = i;
        written += 1;
    }
    written
}

/// Indices of the kept items in ascending `cmp` order, ties by index,
/// without allocating: each step rescans, which is fine for the few dozen
/// records a 1232-byte answer holds.
fn in_order<'s, T>(
    items: &'s [T],
    keep: &'s impl Fn(&T) -> bool,
    cmp: &'s impl Fn(&T, &T) -> Ordering,
) -> impl Iterator<Item = usize> + 's {
    let next_after = move |prev: Option<usize>| {
        let mut best: Option<(usize, &T)> = None;
        let prev = prev.and_then(|p| Some((p, items.get(p)?)));
        for (i, item) in items.iter().enumerate() {
            let after = |(j, other): (usize, &T)| cmp(item, other).then(i.cmp(&j));
            if !keep(item)
                || prev.is_some_and(|p| after(p) != Ordering::Greater)
                || best.is_some_and(|b| after(b) != Ordering::Less)
            {
                continue;
            }
            best = Some((i, item));
        }
        best.map(|(i, _)| i)
    };
    core::iter::successors(next_after(None), move |&p| next_after(Some(p)))
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod test {
    use super::*;
    use crate::dns::Name;

    fn srv<'a>(priority: u16, weight: u16, target: &'a str) -> SrvChoice<'a> {
        SrvChoice {
            priority,
            weight,
            port: 5060,
            target: target.as_bytes(),
        }
    }

    fn picks(records: &[SrvChoice<'_>], range: core::ops::Range<u32>) -> Vec<&'static str> {
        range
            .map(|h| {
                let i = select_srv(records, h).unwrap();
                match records[i].target {
                    b"a" => "a",
                    b"b" => "b",
                    b"c" => "c",
                    b"d" => "d",
                    _ => "?",
                }
            })
            .collect()
    }

    #[test]
    fn lowest_priority_wins() {
        let records = [
            srv(20, 100, "a"),
            srv(10, 0, "b"),
            srv(10, 0, "c"),
            srv(30, 5, "d"),
        ];
        for h in 0..50 {
            let i = select_srv(&records, h).unwrap();
            assert!(i == 1 || i == 2, "hash {h} picked {i}");
        }
        assert_eq!(select_srv(&[], 7), None);
    }

    #[test]
    fn weights_distribute_over_hashes() {
        let records = [
            srv(1, 60, "c"),
            srv(1, 10, "a"),
            srv(1, 30, "b"),
            srv(2, 99, "d"),
        ];
        let got = picks(&records, 0..100);
        // Canonical order a, b, c: hashes 0..10 -> a, 10..40 -> b, 40..100 -> c.
        assert!(got[..10].iter().all(|&t| t == "a"));
        assert!(got[10..40].iter().all(|&t| t == "b"));
        assert!(got[40..].iter().all(|&t| t == "c"));
        // The pattern repeats modulo the total weight.
        assert_eq!(picks(&records, 100..200), got);
        assert_eq!(picks(&records, u32::MAX - 3..u32::MAX).len(), 3);
    }

    #[test]
    fn deterministic_whatever_the_order() {
        let a = [
            srv(1, 5, "a"),
            srv(1, 7, "b"),
            srv(1, 0, "c"),
            srv(1, 3, "d"),
        ];
        let b = [a[3], a[1], a[2], a[0]];
        let c = [a[2], a[0], a[3], a[1]];
        for h in (0..1000).chain([u32::MAX, 0xDEAD_BEEF]) {
            let ta = a[select_srv(&a, h).unwrap()].target;
            assert_eq!(b[select_srv(&b, h).unwrap()].target, ta);
            assert_eq!(c[select_srv(&c, h).unwrap()].target, ta);
            assert_eq!(select_srv(&a, h), select_srv(&a, h));
            // Weight 0 loses to any weight in its group.
            assert_ne!(ta, b"c");
        }
    }

    #[test]
    fn zero_weights_and_root_targets() {
        let records = [srv(1, 0, "b"), srv(1, 0, "a"), srv(1, 0, "c")];
        assert_eq!(picks(&records, 0..6), ["a", "b", "c", "a", "b", "c"]);
        // "." means the service is not offered: never picked.
        let records = [srv(0, 100, ""), srv(5, 0, "a")];
        assert_eq!(select_srv(&records, 0), Some(1));
        assert_eq!(select_srv(&[srv(0, 1, "")], 0), None);
        // Same target on two ports is still two choices.
        let mut two = [srv(1, 1, "a"), srv(1, 1, "a")];
        two[1].port = 5080;
        assert_eq!(select_srv(&two, 0), Some(0));
        assert_eq!(select_srv(&two, 1), Some(1));
        let from = Srv {
            priority: 1,
            weight: 2,
            port: 3,
            target: Name::from_text(b"Sip.Example.test").unwrap(),
        };
        assert_eq!(SrvChoice::from(&from).target, b"sip.example.test");
    }

    fn naptr<'a>(order: u16, pref: u16, flags: &'a [u8], svc: &'a [u8], repl: &[u8]) -> Naptr<'a> {
        Naptr {
            order,
            preference: pref,
            flags,
            services: svc,
            regexp: b"",
            replacement: Name::from_text(repl).unwrap(),
        }
    }

    #[test]
    fn naptr_order_and_filter() {
        let mut records = [
            naptr(20, 10, b"s", b"SIP+D2U", b"_sip._udp.late.test"),
            naptr(10, 50, b"S", b"sip+d2u", b"_sip._udp.b.test"),
            naptr(10, 50, b"s", b"SIP+D2U", b"_sip._udp.a.test"),
            naptr(5, 10, b"s", b"SIP+D2T", b"_sip._tcp.example.test"),
            naptr(1, 1, b"u", b"SIP+D2U", b"x.test"),
            naptr(10, 20, b"s", b"SIP+D2U", b"_sip._udp.first.test"),
            naptr(0, 0, b"s", b"SIP+D2U", b"_sip._udp.regexp.test"),
        ];
        records[6].regexp = b"!^.*$!sip:x@y!";
        let mut out = [usize::MAX; 8];
        let n = order_naptr(&records, &[SERVICE_SIP_D2U], &mut out);
        assert_eq!(&out[..n], &[5, 2, 1, 0]);
        let mut two = [0; 2];
        assert_eq!(order_naptr(&records, &[SERVICE_SIP_D2U], &mut two), 2);
        assert_eq!(two, [5, 2]);
        let n = order_naptr(&records, &[b"SIP+D2T"], &mut out);
        assert_eq!(&out[..n], &[3]);
        // Both transports: one order over all of them.
        let n = order_naptr(&records, &[SERVICE_SIP_D2U, SERVICE_SIP_D2T], &mut out);
        assert_eq!(&out[..n], &[3, 5, 2, 1, 0]);
        assert_eq!(order_naptr(&[], &[SERVICE_SIP_D2U], &mut out), 0);
        assert!(!naptr_usable(&records[4], &[SERVICE_SIP_D2U]));
        assert_eq!(Transport::of_service(b"sip+d2t"), Some(Transport::Tcp));
        assert_eq!(Transport::of_service(b"SIP+D2S"), None);
    }
}
