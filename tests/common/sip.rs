//! Building the answers a scripted UA gives, shared by the tests.

use edgesip::sip::{HeaderName, Message};

/// The response a UA sends to `req`: its Vias, Record-Routes, From, Call-ID
/// and CSeq lines copied as received, To with `to_tag` added when it has
/// none, then `extra` (complete header lines, each ending in CRLF) and an
/// SDP body when `sdp` is not empty.
pub fn answer(req: &[u8], status: &str, to_tag: &str, extra: &str, sdp: &str) -> String {
    let m = Message::parse(req).expect("the request parses");
    let mut s = format!("SIP/2.0 {status}\r\n");
    for h in m.headers() {
        match h.name {
            HeaderName::Via
            | HeaderName::RecordRoute
            | HeaderName::From
            | HeaderName::CallId
            | HeaderName::CSeq => s += &String::from_utf8_lossy(h.line),
            HeaderName::To if m.to().and_then(|t| t.tag()).is_some() => {
                s += &String::from_utf8_lossy(h.line)
            }
            HeaderName::To => {
                s += &format!("To: {};tag={to_tag}\r\n", String::from_utf8_lossy(h.value))
            }
            _ => {}
        }
    }
    s += extra;
    if sdp.is_empty() {
        s + "Content-Length: 0\r\n\r\n"
    } else {
        s + &format!(
            "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        )
    }
}

/// `Contact: <uri>` as a header line, or nothing for an empty `uri`.
pub fn contact(uri: &str) -> String {
    if uri.is_empty() {
        String::new()
    } else {
        format!("Contact: <{uri}>\r\n")
    }
}
