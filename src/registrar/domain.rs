//! Which hosts the registrar answers for (RFC 3261 §10.3 step 1).

use crate::sip::parse_ip;
use crate::sip::scan::trim;
use std::net::IpAddr;

pub struct Domains {
    /// `*` was configured: REGISTERs for any domain are ours.
    pub any: bool,
    /// Lower case, no trailing dot.
    names: Vec<String>,
    aliases: Vec<String>,
    alias_ips: Vec<IpAddr>,
}

fn clean(s: &str) -> String {
    s.trim().trim_end_matches('.').to_ascii_lowercase()
}

impl Domains {
    pub fn new(domains: &[String], aliases: &[String]) -> Self {
        let names: Vec<String> = domains
            .iter()
            .map(|d| clean(d).trim_start_matches("*.").to_string())
            .filter(|d| !d.is_empty() && d != "*")
            .collect();
        let any = domains.iter().any(|d| d.trim() == "*");
        let aliases: Vec<String> = aliases
            .iter()
            .map(|a| clean(a).trim_matches(['[', ']']).to_string())
            .filter(|a| !a.is_empty())
            .collect();
        let alias_ips = aliases
            .iter()
            .filter_map(|a| parse_ip(a.as_bytes()))
            .collect();
        Domains {
            any,
            names,
            aliases,
            alias_ips,
        }
    }

    /// A configured domain, or a subdomain of one at a dot boundary:
    /// `sip.example.com` is under `example.com`, `notexample.com` is not.
    fn in_domain(&self, host: &[u8]) -> bool {
        let host = host_of(host);
        self.names.iter().any(|d| {
            let d = d.as_bytes();
            host.eq_ignore_ascii_case(d)
                || host
                    .len()
                    .checked_sub(d.len())
                    .and_then(|i| host.split_at_checked(i))
                    .is_some_and(|(head, tail)| {
                        head.last() == Some(&b'.') && tail.eq_ignore_ascii_case(d)
                    })
        })
    }

    fn is_alias(&self, host: &[u8]) -> bool {
        let host = host_of(host);
        match parse_ip(host) {
            // IPv6 has many spellings; compare addresses.
            Some(ip) => self.alias_ips.contains(&ip.to_canonical()) || self.alias_ips.contains(&ip),
            None => self
                .aliases
                .iter()
                .any(|a| host.eq_ignore_ascii_case(a.as_bytes())),
        }
    }

    /// Named explicitly: a configured domain, a subdomain of one, or an
    /// alias. `*` does not count.
    pub fn claims(&self, host: &[u8]) -> bool {
        self.in_domain(host) || self.is_alias(host)
    }

    /// A REGISTER for this host is ours.
    pub fn accepts(&self, host: &[u8]) -> bool {
        self.any || self.claims(host)
    }

    /// The host an AoR is stored under: an alias (an address of ours) means
    /// the first configured domain, so `alice@192.168.1.1` and
    /// `alice@example.com` are one AoR.
    pub fn canonical<'a>(&'a self, host: &'a [u8]) -> &'a [u8] {
        let host = host_of(host);
        match self.names.first() {
            Some(first) if !self.in_domain(host) && self.is_alias(host) => first.as_bytes(),
            _ => host,
        }
    }
}

/// The host without brackets or a trailing dot.
fn host_of(h: &[u8]) -> &[u8] {
    let h = trim(h);
    let h = h.strip_suffix(b".").unwrap_or(h);
    match h {
        [b'[', inner @ .., b']'] => inner,
        _ => h,
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn d(domains: &[&str], aliases: &[&str]) -> Domains {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        Domains::new(&s(domains), &s(aliases))
    }

    #[test]
    fn test_dot_boundary() {
        let ds = d(&["Example.COM"], &[]);
        assert!(ds.accepts(b"example.com"));
        assert!(ds.accepts(b"EXAMPLE.com."));
        assert!(ds.accepts(b"sip.example.com"));
        assert!(ds.accepts(b"a.b.example.com"));
        assert!(!ds.accepts(b"notexample.com"));
        assert!(!ds.accepts(b"example.com.evil"));
        assert!(!ds.accepts(b"com"));
        assert!(!ds.accepts(b".example.com.x"));
        assert!(!ds.any);
    }

    #[test]
    fn test_aliases_and_star() {
        let ds = d(
            &["example.com"],
            &["192.168.1.1", "2001:db8::1", "router.lan"],
        );
        assert!(ds.accepts(b"192.168.1.1"));
        assert!(ds.accepts(b"2001:DB8:0:0::1"));
        assert!(ds.accepts(b"Router.LAN"));
        assert!(!ds.accepts(b"sub.router.lan"), "aliases match exactly");
        assert!(!ds.accepts(b"192.168.1.2"));
        assert_eq!(ds.canonical(b"192.168.1.1"), b"example.com");
        assert_eq!(ds.canonical(b"sip.example.com"), b"sip.example.com");
        assert_eq!(ds.canonical(b"other.org"), b"other.org");

        let any = d(&["*"], &["10.0.0.1"]);
        assert!(any.any);
        assert!(any.accepts(b"anything.example"));
        assert!(!any.claims(b"anything.example"));
        assert!(any.claims(b"10.0.0.1"));
        assert_eq!(any.canonical(b"10.0.0.1"), b"10.0.0.1");
        assert!(!d(&[], &[]).accepts(b"example.com"));
    }
}
