use super::scan::{is_lws, is_token, quoted_len};

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
    pub fn valid(s: &'b [u8]) -> bool {
        Params::new(s).all(|p| p.is_ok())
    }

    /// The first parameter named `name` (case-insensitive).
    pub fn find(s: &'b [u8], name: &[u8]) -> Option<Param<'b>> {
        Params::new(s)
            .map_while(Result::ok)
            .find(|p| p.name.eq_ignore_ascii_case(name))
    }

    fn skip_lws(&mut self) {
        while self.s.get(self.i).is_some_and(|b| is_lws(*b)) {
            self.i += 1;
        }
    }

    fn parse_one(&mut self) -> Result<Param<'b>, ()> {
        if self.s.get(self.i) != Some(&b';') {
            return Err(());
        }
        self.i += 1;
        self.skip_lws();
        let start = self.i;
        while self.s.get(self.i).is_some_and(|b| is_token(*b)) {
            self.i += 1;
        }
        let name = &self.s[start..self.i];
        if name.is_empty() {
            return Err(());
        }
        let name_end = self.i;
        self.skip_lws();
        if self.s.get(self.i) != Some(&b'=') {
            self.i = name_end;
            return Ok(Param {
                name,
                value: None,
                raw: name,
            });
        }
        self.i += 1;
        self.skip_lws();
        let vstart = self.i;
        let rest = &self.s[vstart..];
        let vlen = if rest.first() == Some(&b'"') {
            quoted_len(rest).ok_or(())?
        } else {
            rest.iter()
                .take_while(|b| !is_lws(**b) && !matches!(**b, b';' | b',' | b'"'))
                .count()
        };
        if vlen == 0 {
            return Err(());
        }
        self.i = vstart + vlen;
        Ok(Param {
            name,
            value: Some(&self.s[vstart..self.i]),
            raw: &self.s[start..self.i],
        })
    }
}

impl<'b> Iterator for Params<'b> {
    type Item = Result<Param<'b>, ()>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        self.skip_lws();
        if self.i >= self.s.len() {
            return None;
        }
        let r = self.parse_one();
        if r.is_err() {
            self.failed = true;
        }
        Some(r)
    }
}

#[cfg(test)]
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
