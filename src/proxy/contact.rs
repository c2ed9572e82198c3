//! Contact rewriting (Net::SIP's `rewrite_contact`, with its faults fixed):
//! a Contact leaving on another leg becomes `sip:b<TOKEN>@<outgoing leg>`,
//! and a request for that token goes back to the original contact through
//! the leg it came from. See [`token`](super::token) for the token itself.

use super::leg::Leg;
use super::token::{self, DefaultCipher, TokenError, MAX_PLAIN, MAX_TOKEN_LEN};
use super::token_cache::TokenCache;
use crate::sip::{Error, Full, HeaderName, Message, Rewriter, Uri};
use std::net::SocketAddr;

pub struct Tokens {
    cipher: DefaultCipher,
    /// Leg names joined by `|`: tokens bind to the set of legs, not to
    /// addresses, so a new WAN address keeps them valid.
    binding: heapless::Vec<u8, 160>,
    cache: TokenCache,
    pub force: bool,
    pub nat: bool,
}

/// A decoded token: the original contact (without `sip:`).
pub struct Back<'o> {
    pub in_leg: usize,
    pub out_leg: usize,
    pub nat: Option<SocketAddr>,
    pub contact: &'o [u8],
}

impl Tokens {
    pub fn new(secret: &[u8], legs: &[Leg], force: bool, nat: bool) -> Tokens {
        let mut binding = heapless::Vec::new();
        for (i, l) in legs.iter().enumerate() {
            if i > 0 {
                let _ = binding.push(b'|');
            }
            let _ = binding.extend_from_slice(l.name.as_bytes());
        }
        Tokens {
            cipher: DefaultCipher::new(&crate::hmac::hmac_md5(secret, &[b"edgesip tokens"])),
            binding,
            cache: TokenCache::new(crate::hmac::hmac_md5(secret, &[b"edgesip token cache"])),
            force,
            nat,
        }
    }

    /// Whether `uri` may be one of our tokens: our host and port, and a
    /// user part shaped like a token. `sip:bob@us` never is.
    pub fn is_candidate(legs: &[Leg], uri: &Uri) -> bool {
        uri.user.is_some_and(token::looks_like_token)
            && legs
                .iter()
                .any(|l| l.is_own(uri.host, uri.port_or_default()))
    }

    /// (Cache hits, misses) of token making and opening.
    pub fn cache_counts(&self) -> (u64, u64) {
        (self.cache.hits, self.cache.misses)
    }

    pub fn decode<'o>(
        &mut self,
        legs: &[Leg],
        user: &[u8],
        buf: &'o mut [u8; MAX_PLAIN],
    ) -> Result<Back<'o>, TokenError> {
        if let Some(h) = self.cache.opened(user, buf) {
            let contact = buf.get(..h.len).ok_or(TokenError::Malformed)?;
            return back(legs, h.in_leg, h.out_leg, h.nat, contact);
        }
        let d = token::decode(&self.cipher, &self.binding, user, buf)?;
        self.cache
            .insert(user, d.in_leg, d.out_leg, d.nat, d.contact);
        back(legs, d.in_leg, d.out_leg, d.nat, d.contact)
    }

    /// Rewrites every Contact of `m`, which came in on `in_leg` and leaves
    /// on `out_leg`: SIP URIs into tokens; `*`, `tel:` and the like stay.
    /// `nat` is the observed source of the sender when it is behind NAT.
    ///
    /// A token of ours that returns through the leg it left by is turned
    /// back into what it stood for only in a REGISTER's response (the phone
    /// sees its own binding) and in a 3xx (the targets are for the side the
    /// token came from). Anywhere else it is a hairpin (a call that went
    /// out to a provider and came back in): the token is wrapped into a
    /// new one, so the other side's requests still carry a token of ours
    /// when they return, which is what lets them in from a public leg. A
    /// token that does not decode here is left as it is.
    #[allow(clippy::too_many_arguments)]
    pub fn rewrite_contacts(
        &mut self,
        legs: &[Leg],
        rw: &mut Rewriter,
        m: &Message,
        in_leg: usize,
        out_leg: usize,
        nat: Option<SocketAddr>,
        out_tcp: bool,
    ) -> Result<(), Error> {
        let out = legs.get(out_leg).ok_or(Error::Overlap)?;
        for (_, c) in m.addrs(HeaderName::Contact) {
            let uri = c.uri;
            if !matches!(uri.scheme, crate::sip::Scheme::Sip) {
                continue;
            }
            if Self::is_candidate(legs, &uri) {
                let mut buf = [0u8; MAX_PLAIN];
                match self.decode(legs, uri.user.unwrap_or_default(), &mut buf) {
                    Ok(b) if b.out_leg == in_leg && unwraps(m) => {
                        // Without brackets, a `;`, `?` or `,` of the URI
                        // would read as the header's (RFC 3261 §20.10).
                        let bracket = !c.bracketed
                            && b.contact.iter().any(|x| matches!(x, b';' | b'?' | b','));
                        rw.replace(uri.raw, |w| {
                            if bracket {
                                w.put(b"<")?;
                            }
                            w.put(b"sip:")?;
                            w.put(b.contact)?;
                            if bracket {
                                w.put(b">")?;
                            }
                            Ok(())
                        })?;
                        continue;
                    }
                    Ok(b) if b.out_leg == in_leg => {}
                    _ => continue,
                }
            }
            // The URI without its scheme goes into the token.
            let Some(contact) = uri.raw.get(4..) else {
                continue;
            };
            let nat = if self.nat { nat } else { None };
            let mut tok = [0u8; MAX_TOKEN_LEN];
            let (i, o) = (in_leg as u8, out_leg as u8);
            let n = match self.cache.sealed(i, o, nat, contact, &mut tok) {
                Some(n) => n,
                None => {
                    let n =
                        token::encode(&self.cipher, &self.binding, i, o, nat, contact, &mut tok)
                            .map_err(|_| Error::Malformed(HeaderName::Contact))?;
                    let t = tok.get(..n).ok_or(Error::Malformed(HeaderName::Contact))?;
                    self.cache.insert(t, i, o, nat, contact);
                    n
                }
            };
            // Over TCP the peer must come back over TCP (and a parameter
            // needs the brackets, RFC 3261 §20.10).
            let bracket = out_tcp && !c.bracketed;
            rw.replace(uri.raw, |w| {
                if bracket {
                    w.put(b"<")?;
                }
                w.put(b"sip:")?;
                w.put(tok.get(..n).ok_or(Full)?)?;
                w.put(b"@")?;
                w.put(out.adv_text.as_bytes())?;
                if out_tcp {
                    w.put(b";transport=tcp")?;
                }
                if bracket {
                    w.put(b">")?;
                }
                Ok(())
            })?;
        }
        Ok(())
    }
}

fn back<'o>(
    legs: &[Leg],
    in_leg: u8,
    out_leg: u8,
    nat: Option<SocketAddr>,
    contact: &'o [u8],
) -> Result<Back<'o>, TokenError> {
    let (i, o) = (usize::from(in_leg), usize::from(out_leg));
    if i >= legs.len() || o >= legs.len() {
        return Err(TokenError::Malformed);
    }
    Ok(Back {
        in_leg: i,
        out_leg: o,
        nat,
        contact,
    })
}

/// Whether tokens in `m`'s Contacts go back to what they stood for: a
/// response to a REGISTER, or a redirection.
fn unwraps(m: &Message) -> bool {
    let Some(code) = m.status() else {
        return false;
    };
    (300..400).contains(&code) || m.cseq().is_some_and(|c| c.method == b"REGISTER")
}
