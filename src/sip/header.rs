use super::scan::{find_unquoted, trim};

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
            /// §7.3.3 and their registered extensions.
            pub fn from_bytes(name: &[u8]) -> HeaderName {
                $(
                    if name.eq_ignore_ascii_case($long.as_bytes())
                        $(|| name.eq_ignore_ascii_case($compact.as_bytes()))?
                    {
                        return HeaderName::$v;
                    }
                )*
                HeaderName::Other
            }
        }
    };
}

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
#[derive(Clone)]
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
                self.rest = Some(&rest[i + 1..]);
                Some(trim(&rest[..i]))
            }
            None => {
                self.rest = None;
                Some(trim(rest))
            }
        }
    }
}

#[cfg(test)]
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
        assert!(!HeaderName::From.is_multi());
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
