//! `;name[=value]` parameter lists of URIs, Vias and name-addrs, walked in
//! place, one parameter at a time.

use super::scan::{quoted_len, span, LWS, PVALUE, TOKEN};

/// One `;name[=value]` parameter. `raw` spans `name` through the end of
/// `value`, so a rewriter can replace the whole parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Param<'b> {
    pub name: &'b [u8],
    pub value: Option<&'b [u8]>,
    pub raw: &'b [u8],
}

/// Iterates `;name[=value]` parameters with optional LWS around `;` and `=`.
/// Yields `Err(())` once, then stops, at the first malformed parameter.
#[derive(Clone)]
pub struct Params<'b> {
    s: &'b [u8],
    i: usize,
    failed: bool,
}

impl<'b> Params<'b> {
    pub fn new(s: &'b [u8]) -> Self {
        Params {
            s,
            i: 0,
            failed: false,
        }
    }

    /// True when every parameter is well formed.
    #[inline]
    pub fn valid(s: &'b [u8]) -> bool {
        s.is_empty() || Params::new(s).all(|p| p.is_ok())
    }

    /// The first parameter named `name` (case-insensitive).
    pub fn find(s: &'b [u8], name: &[u8]) -> Option<Param<'b>> {
        Params::new(s)
            .map_while(Result::ok)
            .find(|p| p.name.eq_ignore_ascii_case(name))
    }
}

/// One `;name[=value]` at `s[i]`, and where it ends. The name and value
/// are table runs over a local slice (no state through `&mut self`, which
/// kept the index in memory).
#[inline]
fn parse_one(s: &[u8], i: usize) -> Result<(Param<'_>, usize), ()> {
    if s.get(i) != Some(&b';') {
        return Err(());
    }
    let start = i + 1 + span(s.get(i + 1..).unwrap_or_default(), LWS);
    let name_end = start + span(s.get(start..).unwrap_or_default(), TOKEN);
    let name = s.get(start..name_end).ok_or(())?;
    if name.is_empty() {
        return Err(());
    }
    let eq = name_end + span(s.get(name_end..).unwrap_or_default(), LWS);
    if s.get(eq) != Some(&b'=') {
        let p = Param {
            name,
            value: None,
            raw: name,
        };
        return Ok((p, name_end));
    }
    let vstart = eq + 1 + span(s.get(eq + 1..).unwrap_or_default(), LWS);
    let rest = s.get(vstart..).ok_or(())?;
    let vlen = if rest.first() == Some(&b'"') {
        quoted_len(rest).ok_or(())?
    } else {
        span(rest, PVALUE)
    };
    if vlen == 0 {
        return Err(());
    }
    let end = vstart + vlen;
    let p = Param {
        name,
        value: Some(s.get(vstart..end).ok_or(())?),
        raw: s.get(start..end).ok_or(())?,
    };
    Ok((p, end))
}

impl<'b> Iterator for Params<'b> {
    type Item = Result<Param<'b>, ()>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let s = self.s;
        let i = self.i + span(s.get(self.i..).unwrap_or_default(), LWS);
        self.i = i;
        if i >= s.len() {
            return None;
        }
        match parse_one(s, i) {
            Ok((p, end)) => {
                self.i = end;
                Some(Ok(p))
            }
            Err(()) => {
                self.failed = true;
                Some(Err(()))
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod test {
    use super::*;

    #[test]
    fn test_params_with_lws_and_flags() {
        let s = b" ;   tag    = 1918181833n ;lr; q = 0.33;x=\"a;b\"";
        let got: Vec<_> = Params::new(s).map(|p| p.unwrap()).collect();
        assert_eq!(got.len(), 4);
        assert_eq!(got[0].name, b"tag");
        assert_eq!(got[0].value, Some(&b"1918181833n"[..]));
        assert_eq!(got[0].raw, b"tag    = 1918181833n");
        assert_eq!(got[1].name, b"lr");
        assert_eq!(got[1].value, None);
        assert_eq!(got[2].value, Some(&b"0.33"[..]));
        assert_eq!(got[3].value, Some(&b"\"a;b\""[..]));
        assert_eq!(
            Params::find(s, b"TAG").unwrap().value,
            Some(&b"1918181833n"[..])
        );
    }

    #[test]
    fn test_params_errors() {
        assert!(!Params::valid(b";;"));
        assert!(!Params::valid(b";a="));
        assert!(!Params::valid(b";a=\"open"));
        assert!(!Params::valid(b"junk"));
        assert!(Params::valid(b""));
        assert!(Params::valid(
            b";branch=z9hG4bK1;rport;received=[2001:db8::1]"
        ));
    }
}
