//! HTTP Digest for REGISTER (RFC 2617 with qop=auth, RFC 8760 MD5 only):
//! the auth file, stateless nonces and the Authorization check.

use crate::hmac::{hmac_md5, HmacKey};
use crate::sip::scan::{is_lws, is_token, quoted_len, trim};
use crate::sip::Elements;
use md5::{Digest, Md5};
use std::net::IpAddr;

/// How long a nonce is good for; after that it is stale.
pub const NONCE_LIFETIME_SECS: u32 = 300;
/// 8 hex digits of timestamp plus 16 of MAC.
pub const NONCE_LEN: usize = 24;

/// What the auth file holds for one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// `user:password`: good for any realm.
    Password(String),
    /// `user:realm:HA1`: only for that realm. HA1 is kept as lower-case
    /// hex, the form the digest hashes.
    Ha1 { realm: String, ha1: [u8; 32] },
}

/// One line of `--auth-file`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthUser {
    pub user: String,
    pub secret: Credential,
}

impl AuthUser {
    /// HA1 as lower-case hex for `realm`, or `None` when the stored HA1 is
    /// for another realm.
    pub(crate) fn ha1(&self, realm: &[u8]) -> Option<[u8; 32]> {
        match &self.secret {
            Credential::Password(p) => Some(hex32(
                Md5::new()
                    .chain_update(self.user.as_bytes())
                    .chain_update(b":")
                    .chain_update(realm)
                    .chain_update(b":")
                    .chain_update(p.as_bytes())
                    .finalize()
                    .into(),
            )),
            Credential::Ha1 { realm: r, ha1 } => (r.as_bytes() == realm).then_some(*ha1),
        }
    }
}

/// Parses the auth file: `user:password` or `user:realm:HA1` (32 hex
/// digits) per line, `#` comments and blank lines. Errors name the line.
pub fn parse_auth_file(text: &str) -> Result<Vec<AuthUser>, String> {
    let mut users: Vec<AuthUser> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (user, rest) = line
            .split_once(':')
            .ok_or_else(|| format!("line {n}: expected user:password or user:realm:HA1"))?;
        if user.is_empty() || user.bytes().any(|b| b.is_ascii_whitespace()) {
            return Err(format!("line {n}: bad user name"));
        }
        let secret = match rest.rsplit_once(':') {
            Some((realm, ha1)) if ha1.len() == 32 && ha1.bytes().all(|b| b.is_ascii_hexdigit()) => {
                if realm.is_empty() || realm.contains(['"', '\\']) {
                    return Err(format!("line {n}: bad realm"));
                }
                let mut h = [0u8; 32];
                h.copy_from_slice(ha1.to_ascii_lowercase().as_bytes());
                Credential::Ha1 {
                    realm: realm.to_string(),
                    ha1: h,
                }
            }
            _ if rest.is_empty() => return Err(format!("line {n}: empty password")),
            _ => Credential::Password(rest.to_string()),
        };
        let dup = users.iter().any(|u| {
            u.user == user
                && match (&u.secret, &secret) {
                    (Credential::Ha1 { realm: a, .. }, Credential::Ha1 { realm: b, .. }) => a == b,
                    _ => true,
                }
        });
        if dup {
            return Err(format!("line {n}: user {user:?} appears twice"));
        }
        users.push(AuthUser {
            user: user.to_string(),
            secret,
        });
    }
    Ok(users)
}

pub(crate) fn hex32(d: [u8; 16]) -> [u8; 32] {
    crate::hex::encode(&d)
}

/// What a nonce turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceState {
    /// Not one of ours, for another source or realm, or from the future.
    Invalid,
    Fresh,
    /// Ours, but older than [`NONCE_LIFETIME_SECS`].
    Stale,
}

/// Stateless nonces: `timestamp || HMAC(timestamp, source IP, realm,
/// Call-ID)`, so nothing is stored per challenge, and a nonce only works
/// from the address it was given to and for the Call-ID it was given for
/// (a UA keeps one Call-ID for its registrations, RFC 3261 §10.2): a
/// captured Authorization does not work in another registration.
pub struct Nonces {
    key: HmacKey,
}

impl Nonces {
    pub fn new(secret: &[u8]) -> Self {
        Nonces {
            key: HmacKey::new(&hmac_md5(secret, &[b"edgesip registrar nonce"])),
        }
    }

    fn mac(&self, ts: u32, ip: IpAddr, realm: &[u8], call_id: &[u8]) -> [u8; 16] {
        let mut s = self.key.stream();
        s.update(&ts.to_be_bytes());
        match ip.to_canonical() {
            IpAddr::V4(a) => s.update(&a.octets()),
            IpAddr::V6(a) => s.update(&a.octets()),
        };
        s.update(&(realm.len() as u32).to_be_bytes())
            .update(realm)
            .update(call_id);
        s.finish()
    }

    pub fn make(&self, now_secs: u32, ip: IpAddr, realm: &[u8], call_id: &[u8]) -> [u8; NONCE_LEN] {
        let mut out = [0u8; NONCE_LEN];
        let ts = hex32(u128::from(now_secs).to_be_bytes());
        out[..8].copy_from_slice(&ts[24..]);
        let mac = hex32(self.mac(now_secs, ip, realm, call_id));
        out[8..].copy_from_slice(&mac[..16]);
        out
    }

    pub fn check(
        &self,
        nonce: &[u8],
        now_secs: u32,
        ip: IpAddr,
        realm: &[u8],
        call_id: &[u8],
    ) -> NonceState {
        if nonce.len() != NONCE_LEN {
            return NonceState::Invalid;
        }
        let Some((ts_hex, mac_hex)) = nonce.split_at_checked(8) else {
            return NonceState::Invalid;
        };
        let Some(ts) = crate::hex::decode_u64(ts_hex).and_then(|t| u32::try_from(t).ok()) else {
            return NonceState::Invalid;
        };
        let want = hex32(self.mac(ts, ip, realm, call_id));
        if !ct_eq_ignore_case(mac_hex, &want[..16]) || ts > now_secs {
            return NonceState::Invalid;
        }
        if now_secs - ts > NONCE_LIFETIME_SECS {
            NonceState::Stale
        } else {
            NonceState::Fresh
        }
    }
}

/// Compares in time independent of where the first difference is, so a
/// response or MAC cannot be guessed byte by byte.
fn ct_eq_ignore_case(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).fold(0u8, |acc, (x, y)| {
            acc | (x.to_ascii_lowercase() ^ y.to_ascii_lowercase())
        }) == 0
}

/// The parameters of one `Digest` Authorization value. Values are as
/// written, without their quotes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Credentials<'b> {
    pub username: &'b [u8],
    pub realm: &'b [u8],
    pub nonce: &'b [u8],
    pub uri: &'b [u8],
    pub response: &'b [u8],
    pub algorithm: Option<&'b [u8]>,
    pub cnonce: Option<&'b [u8]>,
    pub qop: Option<&'b [u8]>,
    pub nc: Option<&'b [u8]>,
}

impl<'b> Credentials<'b> {
    /// Parses `Digest name=value, name="value", ...`; `None` for another
    /// scheme, bad syntax or a missing required parameter.
    pub fn parse(v: &'b [u8]) -> Option<Credentials<'b>> {
        let v = trim(v);
        let sp = v.iter().position(|b| is_lws(*b))?;
        let (scheme, rest) = v.split_at_checked(sp)?;
        if !scheme.eq_ignore_ascii_case(b"Digest") {
            return None;
        }
        let mut c = Credentials::default();
        for e in Elements::new(rest) {
            let eq = e.iter().position(|b| *b == b'=')?;
            let (name, val) = e.split_at_checked(eq)?;
            let name = trim(name);
            let val = trim(val.get(1..)?);
            if name.is_empty() || !name.iter().all(|b| is_token(*b)) {
                return None;
            }
            let val = if val.first() == Some(&b'"') {
                (quoted_len(val)? == val.len()).then(|| val.get(1..val.len() - 1))??
            } else if !val.is_empty() && val.iter().all(|b| is_token(*b)) {
                val
            } else {
                return None;
            };
            let is = |n: &[u8]| name.eq_ignore_ascii_case(n);
            if is(b"username") {
                c.username = val;
            } else if is(b"realm") {
                c.realm = val;
            } else if is(b"nonce") {
                c.nonce = val;
            } else if is(b"uri") {
                c.uri = val;
            } else if is(b"response") {
                c.response = val;
            } else if is(b"algorithm") {
                c.algorithm = Some(val);
            } else if is(b"cnonce") {
                c.cnonce = Some(val);
            } else if is(b"qop") {
                c.qop = Some(val);
            } else if is(b"nc") {
                c.nc = Some(val);
            }
        }
        let complete = [c.username, c.realm, c.nonce, c.uri, c.response]
            .iter()
            .all(|v| !v.is_empty());
        complete.then_some(c)
    }
}

/// HA2 and the final response for qop=auth (RFC 2617 §3.2.2.1).
pub fn response(
    ha1: &[u8; 32],
    nonce: &[u8],
    nc: &[u8],
    cnonce: &[u8],
    method: &[u8],
    uri: &[u8],
) -> [u8; 32] {
    let ha2 = hex32(
        Md5::new()
            .chain_update(method)
            .chain_update(b":")
            .chain_update(uri)
            .finalize()
            .into(),
    );
    hex32(
        Md5::new()
            .chain_update(ha1)
            .chain_update(b":")
            .chain_update(nonce)
            .chain_update(b":")
            .chain_update(nc)
            .chain_update(b":")
            .chain_update(cnonce)
            .chain_update(b":auth:")
            .chain_update(ha2)
            .finalize()
            .into(),
    )
}

/// Whether `given` (hex, any case) is the expected response.
pub fn response_matches(given: &[u8], want: &[u8; 32]) -> bool {
    ct_eq_ignore_case(given, want)
}

/// Undoes quoted-string escapes (`\"` → `"`) into `buf`.
pub fn unquote<'a>(v: &[u8], buf: &'a mut [u8]) -> Option<&'a [u8]> {
    let mut n = 0;
    let mut esc = false;
    for b in v {
        if !esc && *b == b'\\' {
            esc = true;
            continue;
        }
        esc = false;
        *buf.get_mut(n)? = *b;
        n += 1;
    }
    buf.get(..n)
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod test {
    use super::*;

    #[test]
    fn test_auth_file_forms_and_errors() {
        let text = "# users\n\nalice:secret\r\nbob:example.com:0123456789ABCDEF0123456789abcdef\n\
                    carol:pa:ss:word\n  dave:x  \n";
        let u = parse_auth_file(text).unwrap();
        assert_eq!(u.len(), 4);
        assert_eq!(u[0].secret, Credential::Password("secret".into()));
        assert_eq!(
            u[1].secret,
            Credential::Ha1 {
                realm: "example.com".into(),
                ha1: *b"0123456789abcdef0123456789abcdef"
            }
        );
        assert_eq!(u[2].secret, Credential::Password("pa:ss:word".into()));
        assert_eq!(u[3].user, "dave");
        for (bad, line) in [
            ("alice:a\nnocolon\n", "line 2:"),
            ("\n\n:pw\n", "line 3:"),
            ("alice:\n", "line 1:"),
            ("a:x\na:y\n", "line 2:"),
            (
                "a:r:0123456789abcdef0123456789abcdef\na:r:0123456789abcdef0123456789abcdef\n",
                "line 2:",
            ),
            ("a::0123456789abcdef0123456789abcdef\n", "line 1:"),
        ] {
            let e = parse_auth_file(bad).unwrap_err();
            assert!(e.starts_with(line), "{bad:?}: {e}");
        }
        // One user may have an HA1 per realm.
        let two = "a:r1:0123456789abcdef0123456789abcdef\na:r2:0123456789abcdef0123456789abcdef\n";
        assert_eq!(parse_auth_file(two).unwrap().len(), 2);
    }

    #[test]
    fn test_ha1_per_realm() {
        let u = AuthUser {
            user: "Mufasa".into(),
            secret: Credential::Password("Circle Of Life".into()),
        };
        let ha1 = u.ha1(b"testrealm@host.com").unwrap();
        let h = AuthUser {
            user: "Mufasa".into(),
            secret: Credential::Ha1 {
                realm: "testrealm@host.com".into(),
                ha1,
            },
        };
        assert_eq!(h.ha1(b"testrealm@host.com"), Some(ha1));
        assert_eq!(h.ha1(b"other"), None);
    }

    #[test]
    fn test_rfc2617_vector() {
        let v = b"Digest username=\"Mufasa\",\r\n realm=\"testrealm@host.com\",\
                  nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", uri=\"/dir/index.html\",\
                  qop=auth, nc=00000001, cnonce=\"0a4f113b\",\
                  response=\"6629fae49393a05397450978507c4ef1\",\
                  opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"";
        let c = Credentials::parse(v).unwrap();
        assert_eq!(c.username, b"Mufasa");
        assert_eq!(c.qop, Some(&b"auth"[..]));
        assert_eq!(c.nc, Some(&b"00000001"[..]));
        let u = AuthUser {
            user: "Mufasa".into(),
            secret: Credential::Password("Circle Of Life".into()),
        };
        let ha1 = u.ha1(c.realm).unwrap();
        let want = response(
            &ha1,
            c.nonce,
            c.nc.unwrap(),
            c.cnonce.unwrap(),
            b"GET",
            c.uri,
        );
        assert!(response_matches(c.response, &want));
        assert!(response_matches(b"6629FAE49393A05397450978507C4EF1", &want));
        assert!(!response_matches(
            b"6629fae49393a05397450978507c4ef0",
            &want
        ));
        assert!(!response_matches(b"6629fae4", &want));
    }

    #[test]
    fn test_credentials_errors() {
        let ok = b"Digest username=\"a\", realm=\"r\", nonce=\"n\", uri=\"sip:x\", response=\"00\"";
        assert!(Credentials::parse(ok).is_some());
        let q = b"Digest username=\"a,\\\"b\", realm=\"r\", nonce=\"n\", uri=\"sip:x\", response=\"00\"";
        let c = Credentials::parse(q).unwrap();
        assert_eq!(c.username, b"a,\\\"b");
        let mut buf = [0u8; 16];
        assert_eq!(unquote(c.username, &mut buf), Some(&b"a,\"b"[..]));
        assert_eq!(unquote(b"toolongforthebuffer", &mut buf), None);
        for bad in [
            &b"Basic dXNlcjpwYXNz"[..],
            b"Digest",
            b"Digest username=\"a\", realm=\"r\", nonce=\"n\", uri=\"sip:x\"",
            b"Digest username=\"a, realm=\"r\"",
            b"Digest username=a b, realm=r, nonce=n, uri=u, response=0",
            b"Digest =x, username=a, realm=r, nonce=n, uri=u, response=0",
            b"Digest username, realm=r, nonce=n, uri=u, response=0",
        ] {
            assert!(
                Credentials::parse(bad).is_none(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn test_nonces() {
        let n = Nonces::new(b"secret");
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let other: IpAddr = "192.0.2.8".parse().unwrap();
        let nonce = n.make(1000, ip, b"example.com", b"c1");
        assert!(nonce.iter().all(u8::is_ascii_hexdigit));
        assert_eq!(&nonce[..8], b"000003e8");
        assert_eq!(
            n.check(&nonce, 1000, ip, b"example.com", b"c1"),
            NonceState::Fresh
        );
        assert_eq!(
            n.check(&nonce, 1300, ip, b"example.com", b"c1"),
            NonceState::Fresh
        );
        assert_eq!(
            n.check(&nonce, 1301, ip, b"example.com", b"c1"),
            NonceState::Stale
        );
        assert_eq!(
            n.check(&nonce, 1000, other, b"example.com", b"c1"),
            NonceState::Invalid
        );
        assert_eq!(
            n.check(&nonce, 1000, ip, b"example.org", b"c1"),
            NonceState::Invalid
        );
        assert_eq!(
            n.check(&nonce, 999, ip, b"example.com", b"c1"),
            NonceState::Invalid
        );
        assert_eq!(
            Nonces::new(b"other").check(&nonce, 1000, ip, b"example.com", b"c1"),
            NonceState::Invalid
        );
        let mut forged = nonce;
        forged[7] = b'0';
        assert_eq!(
            n.check(&forged, 1000, ip, b"example.com", b"c1"),
            NonceState::Invalid
        );
        assert_eq!(
            n.check(b"xyz", 1000, ip, b"example.com", b"c1"),
            NonceState::Invalid
        );
        // Another Call-ID is another registration.
        assert_eq!(
            n.check(&nonce, 1000, ip, b"example.com", b"c2"),
            NonceState::Invalid
        );
        // An IPv4-mapped source is the same source.
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(
            n.check(&nonce, 1000, mapped, b"example.com", b"c1"),
            NonceState::Fresh
        );
    }
}
