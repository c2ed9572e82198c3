//! Header names (long and compact forms, one table load to recognise) and
//! the comma-separated elements of a header value, split outside quotes and
//! angle brackets.

use super::scan::{eq_name, find_unquoted, trim};

macro_rules! header_names {
    ($( $v:ident = $long:literal $(| $compact:literal)? , multi: $multi:literal; )*) => {
        /// Header names edgesip knows; anything else is `Other` and is copied
        /// through untouched.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum HeaderName {
            $( $v, )*
            Other,
        }

        impl HeaderName {
            /// The canonical long name, as edgesip writes it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( HeaderName::$v => $long, )*
                    HeaderName::Other => "(other)",
                }
            }

            /// Whether RFC 3261 allows several comma-separated values.
            pub fn is_multi(self) -> bool {
                match self {
                    $( HeaderName::$v => $multi, )*
                    HeaderName::Other => false,
                }
            }

            /// Case-insensitive lookup, with the compact forms of RFC 3261
            /// §7.3.3 and their registered extensions. One table load for a
            /// compact form; otherwise a hash of the length and the first
            /// and last bytes picks at most four names to compare.
            #[inline]
            pub fn from_bytes(name: &[u8]) -> HeaderName {
                match name {
                    [] => HeaderName::Other,
                    [c] => COMPACT.get(usize::from(*c)).copied().unwrap_or(HeaderName::Other),
                    [first, .., last] => {
                        let Some(bucket) = BUCKETS.get(name_hash(name.len(), *first, *last))
                        else {
                            return HeaderName::Other;
                        };
                        for &i in bucket {
                            let Some((v, long)) = LONG.get(i as usize) else {
                                break;
                            };
                            if eq_name(name, long.as_bytes()) {
                                return *v;
                            }
                        }
                        HeaderName::Other
                    }
                }
            }
        }

        /// Every known name with its long form.
        const LONG: &[(HeaderName, &str)] = &[ $( (HeaderName::$v, $long), )* ];

        /// The compact forms, upper and lower case.
        const COMPACT: [HeaderName; 256] = {
            let mut t = [HeaderName::Other; 256];
            let mut rest: &mut [HeaderName] = &mut t;
            let mut b = 0u8;
            while let [slot, tail @ ..] = rest {
                $( $(
                    let c = $compact.as_bytes();
                    assert!(c.len() == 1);
                    if matches!(c, [c] if c.eq_ignore_ascii_case(&b)) {
                        *slot = HeaderName::$v;
                    }
                )? )*
                b = b.wrapping_add(1);
                rest = tail;
            }
            t
        };
    };
}

/// How many `HeaderName`s there are, `Other` included; `name as usize` is
/// below it.
pub(crate) const NAME_COUNT: usize = LONG.len() + 1;

/// Names per hash bucket; the table below fails to build (a compile error)
/// if a new name would overflow one.
const BUCKET: usize = 4;
const BUCKETS_LEN: usize = 32;

/// Chosen so that no bucket holds more than two of today's names.
#[inline(always)]
const fn name_hash(len: usize, first: u8, last: u8) -> usize {
    (len + (first & 0x1f) as usize * 13 + (last & 0x1f) as usize * 21) % BUCKETS_LEN
}

/// Indices into `LONG` per bucket; `u8::MAX` marks an empty slot.
const BUCKETS: [[u8; BUCKET]; BUCKETS_LEN] = {
    let mut t = [[u8::MAX; BUCKET]; BUCKETS_LEN];
    let mut names = LONG;
    let mut i = 0;
    while let [(_, long), more @ ..] = names {
        let n = long.as_bytes();
        let h = match (n.first(), n.last()) {
            (Some(first), Some(last)) => name_hash(n.len(), *first, *last),
            _ => BUCKETS_LEN, // no bucket: fails below
        };
        let mut slots: &mut [u8] = match t.split_at_mut_checked(h) {
            Some((_, [row, ..])) => row,
            _ => &mut [],
        };
        let mut placed = false;
        while let [slot, rest @ ..] = slots {
            if *slot == u8::MAX {
                *slot = i as u8;
                placed = true;
                break;
            }
            slots = rest;
        }
        assert!(placed, "header name hash bucket overflow");
        i += 1;
        names = more;
    }
    t
};

header_names! {
    Via = "Via" | "v", multi: true;
    From = "From" | "f", multi: false;
    To = "To" | "t", multi: false;
    CallId = "Call-ID" | "i", multi: false;
    CSeq = "CSeq", multi: false;
    MaxForwards = "Max-Forwards", multi: false;
    Contact = "Contact" | "m", multi: true;
    Route = "Route", multi: true;
    RecordRoute = "Record-Route", multi: true;
    ContentLength = "Content-Length" | "l", multi: false;
    ContentType = "Content-Type" | "c", multi: false;
    ContentEncoding = "Content-Encoding" | "e", multi: true;
    ContentLanguage = "Content-Language", multi: true;
    Expires = "Expires", multi: false;
    MinExpires = "Min-Expires", multi: false;
    ProxyRequire = "Proxy-Require", multi: true;
    Require = "Require", multi: true;
    Supported = "Supported" | "k", multi: true;
    Unsupported = "Unsupported", multi: true;
    Allow = "Allow", multi: true;
    Accept = "Accept", multi: true;
    AcceptEncoding = "Accept-Encoding", multi: true;
    AcceptLanguage = "Accept-Language", multi: true;
    AlertInfo = "Alert-Info", multi: true;
    CallInfo = "Call-Info", multi: true;
    ErrorInfo = "Error-Info", multi: true;
    InReplyTo = "In-Reply-To", multi: true;
    Warning = "Warning", multi: true;
    Path = "Path", multi: true;
    Subject = "Subject" | "s", multi: false;
    Event = "Event" | "o", multi: false;
    ReferTo = "Refer-To" | "r", multi: false;
    AllowEvents = "Allow-Events" | "u", multi: true;
    SessionExpires = "Session-Expires" | "x", multi: false;
    Authorization = "Authorization", multi: false;
    ProxyAuthorization = "Proxy-Authorization", multi: false;
    WwwAuthenticate = "WWW-Authenticate", multi: false;
    ProxyAuthenticate = "Proxy-Authenticate", multi: false;
    RetryAfter = "Retry-After", multi: false;
}

/// Iterates the comma-separated elements of a header value. Commas inside
/// quoted strings or `<...>` do not split. Elements are trimmed of LWS and
/// may be empty (`a,,b`), which validators reject.
#[derive(Debug, Clone)]
pub struct Elements<'b> {
    rest: Option<&'b [u8]>,
}

impl<'b> Elements<'b> {
    pub fn new(value: &'b [u8]) -> Self {
        Elements { rest: Some(value) }
    }
}

impl<'b> Iterator for Elements<'b> {
    type Item = &'b [u8];

    fn next(&mut self) -> Option<&'b [u8]> {
        let rest = self.rest?;
        match find_unquoted(rest, b',') {
            Some(i) => {
                let (elem, after) = rest.split_at_checked(i)?;
                self.rest = after.get(1..);
                Some(trim(elem))
            }
            None => {
                self.rest = None;
                Some(trim(rest))
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod test {
    use super::*;

    #[test]
    fn test_names_and_compact_forms() {
        let cases: &[(&[u8], HeaderName)] = &[
            (b"Via", HeaderName::Via),
            (b"v", HeaderName::Via),
            (b"VIA", HeaderName::Via),
            (b"i", HeaderName::CallId),
            (b"call-id", HeaderName::CallId),
            (b"m", HeaderName::Contact),
            (b"e", HeaderName::ContentEncoding),
            (b"l", HeaderName::ContentLength),
            (b"L", HeaderName::ContentLength),
            (b"c", HeaderName::ContentType),
            (b"f", HeaderName::From),
            (b"s", HeaderName::Subject),
            (b"k", HeaderName::Supported),
            (b"t", HeaderName::To),
            (b"o", HeaderName::Event),
            (b"r", HeaderName::ReferTo),
            (b"u", HeaderName::AllowEvents),
            (b"x", HeaderName::SessionExpires),
            (b"MaX-fOrWaRdS", HeaderName::MaxForwards),
            (b"Record-Route", HeaderName::RecordRoute),
            (b"C%6Fntact", HeaderName::Other),
            (b"X-A-Very-Long-Extension-Header-Name", HeaderName::Other),
        ];
        for (raw, want) in cases {
            assert_eq!(HeaderName::from_bytes(raw), *want, "{raw:?}");
        }
        assert!(HeaderName::Via.is_multi());
        assert_eq!(HeaderName::from_bytes(b""), HeaderName::Other);
        assert_eq!(HeaderName::from_bytes(b"z"), HeaderName::Other);
        assert_eq!(HeaderName::from_bytes(b"Vib"), HeaderName::Other);
        assert_eq!(HeaderName::from_bytes(b"Fro"), HeaderName::Other);
        assert!(!HeaderName::From.is_multi());
    }

    #[test]
    fn test_every_name_round_trips() {
        assert_eq!(NAME_COUNT, HeaderName::Other as usize + 1);
        for (v, long) in LONG {
            assert!((*v as usize) < NAME_COUNT);
            // What eq_name needs of the names it compares against.
            assert!(long.bytes().all(|b| b.is_ascii_alphabetic() || b == b'-'));
            assert_eq!(v.as_str(), *long);
            assert_eq!(HeaderName::from_bytes(long.as_bytes()), *v);
            let upper = long.to_ascii_uppercase();
            assert_eq!(HeaderName::from_bytes(upper.as_bytes()), *v);
            let lower = long.to_ascii_lowercase();
            assert_eq!(HeaderName::from_bytes(lower.as_bytes()), *v);
            // One byte more or less, or one changed, is another header.
            if long.len() > 2 {
                assert_eq!(
                    HeaderName::from_bytes(&lower.as_bytes()[1..]),
                    HeaderName::Other
                );
            }
            assert_eq!(
                HeaderName::from_bytes(format!("{lower}x").as_bytes()),
                HeaderName::Other
            );
            let mut changed = lower.into_bytes();
            changed[1] ^= 0x01;
            assert_eq!(HeaderName::from_bytes(&changed), HeaderName::Other);
        }
        let compact: usize = (0..=255u8)
            .filter(|c| COMPACT[*c as usize] != HeaderName::Other)
            .count();
        assert_eq!(compact, 2 * 14);
    }

    #[test]
    fn test_elements_respect_quotes_and_angles() {
        let v = b"\"Doe, John\" <sip:a@b;x=1,2>;q=1 ,  <sip:c@d> , \"q\\\",\" <sip:e@f>";
        let got: Vec<&[u8]> = Elements::new(v).collect();
        assert_eq!(
            got,
            vec![
                &b"\"Doe, John\" <sip:a@b;x=1,2>;q=1"[..],
                b"<sip:c@d>",
                b"\"q\\\",\" <sip:e@f>"
            ]
        );
        let folded = b"SIP/2.0/UDP a;branch=z9hG4bK1 ,\r\n SIP/2.0/UDP b";
        assert_eq!(Elements::new(folded).count(), 2);
        let empty: Vec<&[u8]> = Elements::new(b"a,,b").collect();
        assert_eq!(empty, vec![&b"a"[..], b"", b"b"]);
    }
}
