//! `--reg-*` and `--auth-*` options, checked once at start-up.

use super::digest::AuthUser;
use super::MAX_REALM;

/// `--reg-*` and `--auth-*` options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrarConfig {
    /// Domains served; `*` means any.
    pub domains: Vec<String>,
    /// Bindings the table holds (`--reg-max`).
    pub capacity: usize,
    /// `--reg-expires MIN-MAX`.
    pub min_expires: u32,
    pub max_expires: u32,
    /// `--auth-file`: when set, every REGISTER must authenticate.
    pub users: Option<Vec<AuthUser>>,
    /// `--auth-realm`; default: the Request-URI host.
    pub realm: Option<String>,
    /// The legs' IPs and advertised names: hosts that mean "this registrar".
    pub aliases: Vec<String>,
}

impl Default for RegistrarConfig {
    fn default() -> Self {
        RegistrarConfig {
            domains: Vec::new(),
            capacity: 256,
            min_expires: 60,
            max_expires: 3600,
            users: None,
            realm: None,
            aliases: Vec::new(),
        }
    }
}

impl RegistrarConfig {
    /// Parses `MIN-MAX` as given to `--reg-expires`.
    pub fn parse_expires(s: &str) -> Result<(u32, u32), String> {
        let bad = || format!("bad expiry range {s:?}: want MIN-MAX in seconds");
        let (a, b) = s.split_once('-').ok_or_else(bad)?;
        let (min, max) = (
            a.trim().parse::<u32>().map_err(|_| bad())?,
            b.trim().parse::<u32>().map_err(|_| bad())?,
        );
        if min == 0 || min > max {
            return Err(bad());
        }
        Ok((min, max))
    }

    /// Checks what [`Registrar::new`](super::Registrar::new) would otherwise have to repair.
    pub fn validate(&self) -> Result<(), String> {
        if self.min_expires == 0 || self.min_expires > self.max_expires {
            return Err(format!(
                "registration expiry range {}-{} is empty",
                self.min_expires, self.max_expires
            ));
        }
        if let Some(r) = &self.realm {
            if !realm_ok(r) {
                return Err(format!(
                    "realm {r:?} must be printable, without '\"' or '\\'"
                ));
            }
        }
        Ok(())
    }
}

pub(super) fn realm_ok(r: &str) -> bool {
    !r.is_empty()
        && r.len() <= MAX_REALM
        && r.bytes()
            .all(|b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\')
}

#[cfg(test)]
mod test {
    use super::super::Registrar;
    use super::*;

    #[test]
    fn test_parse_expires_and_validate() {
        assert_eq!(RegistrarConfig::parse_expires("60-3600"), Ok((60, 3600)));
        assert_eq!(RegistrarConfig::parse_expires(" 30 - 30 "), Ok((30, 30)));
        for bad in ["60", "0-10", "100-10", "a-b", "-5"] {
            assert!(RegistrarConfig::parse_expires(bad).is_err(), "{bad}");
        }
        let mut cfg = RegistrarConfig::default();
        assert!(cfg.validate().is_ok());
        cfg.realm = Some("bad\"realm".into());
        assert!(cfg.validate().is_err());
        cfg.realm = Some("edgesip".into());
        cfg.min_expires = 4000;
        assert!(cfg.validate().is_err());
        // new() repairs instead of failing.
        cfg.realm = Some("x\\y".into());
        let r = Registrar::new(cfg, b"k");
        assert_eq!((r.min_expires, r.max_expires), (3600, 3600));
        assert!(r.realm.is_none());
    }
}
