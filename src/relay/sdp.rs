//! Writes an SDP body with its media pointed at relay ports: `c=` and `o=`
//! get the leg's media IP, `m=` and `a=rtcp` the relay ports; ICE lines go
//! (ICE peers would otherwise bypass or distrust the relay). Everything else
//! is copied as it was, so the same input and ports give the same bytes.

use crate::sdp::{Line, NetAddr, Sdp};
use crate::sip::{Cursor, Full};
use std::net::IpAddr;

/// Relay RTP port (even) per media index; None leaves the stream alone.
pub type Ports = [Option<u16>; super::MAX_MEDIA];

fn put_addr(c: &mut Cursor, src: &[u8], net: &NetAddr, ip: IpAddr) -> Result<(), Full> {
    // `IN IP4 a.b.c.d`: the type token and address are replaced together,
    // so the family may change between legs.
    c.put(if ip.is_ipv4() { b"IP4" } else { b"IP6" })?;
    c.put(src.get(net.addr_type.end..net.addr.start).ok_or(Full)?)?;
    c.put_fmt(format_args!("{ip}"))
}

pub fn rewrite(sdp: &Sdp, ip: IpAddr, ports: &Ports, out: &mut [u8]) -> Result<usize, Full> {
    let src = sdp.as_bytes();
    let mut c = Cursor::new(out);
    let mut media: Option<usize> = None;
    let mut media_port = 0u16;
    for line in sdp.lines() {
        let span = line.span();
        let port_of = |i: Option<usize>| i.and_then(|i| ports.get(i).copied().flatten());
        match line {
            Line::Ice { .. } => continue,
            Line::Origin { net, .. } if net.ip.is_some() => {
                c.put(src.get(span.start..net.addr_type.start).ok_or(Full)?)?;
                put_addr(&mut c, src, &net, ip)?;
                c.put(src.get(net.addr.end..span.end).ok_or(Full)?)?;
            }
            Line::Connection { net, level, .. } => {
                let idx = match level {
                    crate::sdp::Level::Session => None,
                    crate::sdp::Level::Media(i) => Some(i),
                };
                // Old-style hold (0.0.0.0) keeps its meaning; a section
                // we do not relay keeps its address.
                let keep = net.is_unspecified() || (idx.is_some() && port_of(idx).is_none());
                if keep {
                    c.put(src.get(span.range()).ok_or(Full)?)?;
                } else {
                    c.put(src.get(span.start..net.addr_type.start).ok_or(Full)?)?;
                    put_addr(&mut c, src, &net, ip)?;
                    c.put(src.get(net.addr.end..span.end).ok_or(Full)?)?;
                }
            }
            Line::Media {
                index,
                port,
                port_value,
                ..
            } => {
                media = Some(index);
                media_port = port_value;
                match port_of(media) {
                    Some(p) if port_value != 0 => {
                        c.put(src.get(span.start..port.start).ok_or(Full)?)?;
                        c.put_u32(u32::from(p))?;
                        c.put(src.get(port.end..span.end).ok_or(Full)?)?;
                    }
                    _ => c.put(src.get(span.range()).ok_or(Full)?)?,
                }
            }
            Line::Rtcp {
                port,
                port_value,
                net,
                ..
            } => match port_of(media) {
                Some(p) => {
                    // a=rtcp naming the RTP port itself means rtcp-mux.
                    let odd = u32::from(port_value != media_port);
                    c.put(src.get(span.start..port.start).ok_or(Full)?)?;
                    c.put_u32(u32::from(p) + odd)?;
                    match net {
                        Some(n) => {
                            c.put(src.get(port.end..n.addr_type.start).ok_or(Full)?)?;
                            put_addr(&mut c, src, &n, ip)?;
                            c.put(src.get(n.addr.end..span.end).ok_or(Full)?)?;
                        }
                        None => c.put(src.get(port.end..span.end).ok_or(Full)?)?,
                    }
                }
                None => c.put(src.get(span.range()).ok_or(Full)?)?,
            },
            _ => c.put(src.get(span.range()).ok_or(Full)?)?,
        }
    }
    // Trailing bytes the line view does not yield (blank lines) stay.
    let last = sdp.lines().last().map_or(0, |l| l.span().end);
    c.put(src.get(last..).ok_or(Full)?)?;
    Ok(c.len())
}
