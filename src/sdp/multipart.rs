//! Where the SDP is in a SIP body: the whole body for `application/sdp`,
//! or the first `application/sdp` part of a `multipart/*` body.

// Packet bytes are untrusted: keep every access checked.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use core::ops::Range;

use super::{SdpError, Span};

// ---------------------------------------------------------------------------
// Locating the SDP in a SIP body.

/// Span of the SDP inside `body`, given the SIP Content-Type header value.
///
/// Absent/empty Content-Type or `application/sdp` means the whole body;
/// `multipart/*` is searched for its single `application/sdp` part (nested
/// multiparts are not descended into); other types, or an empty SDP, give
/// `None`.
pub fn find_sdp(
    content_type: Option<&[u8]>,
    body: &[u8],
) -> Result<Option<Range<usize>>, SdpError> {
    let ct = content_type.unwrap_or_default().trim_ascii();
    let whole = (!body.is_empty()).then_some(0..body.len());
    if ct.is_empty() {
        return Ok(whole);
    }
    let Some((ty, sub, params)) = media_type(ct) else {
        return Ok(None);
    };
    if is_sdp_type(ty, sub) {
        return Ok(whole);
    }
    if !ty.eq_ignore_ascii_case(b"multipart") {
        return Ok(None);
    }
    let boundary = param(params, b"boundary").ok_or(SdpError::BadMultipart)?;
    // Quoted-pair escapes cannot occur in a valid boundary (RFC 2046 bchars).
    if boundary.is_empty() || boundary.contains(&b'\\') {
        return Err(SdpError::BadMultipart);
    }
    multipart_sdp(body, boundary)
}

fn is_sdp_type(ty: &[u8], sub: &[u8]) -> bool {
    ty.eq_ignore_ascii_case(b"application") && sub.eq_ignore_ascii_case(b"sdp")
}

/// Splits `type/subtype;params` into trimmed type, subtype and raw params.
fn media_type(v: &[u8]) -> Option<(&[u8], &[u8], &[u8])> {
    let semi = v.iter().position(|&b| b == b';').unwrap_or(v.len());
    let (mt, params) = v.split_at_checked(semi)?;
    let slash = mt.iter().position(|&b| b == b'/')?;
    let (ty, sub) = mt.split_at_checked(slash)?;
    let sub = sub.get(1..)?;
    Some((ty.trim_ascii(), sub.trim_ascii(), params))
}

/// Value of parameter `name` in `; a=b; c="d"`, unquoted; None if absent or
/// the list is malformed.
fn param<'p>(mut p: &'p [u8], name: &[u8]) -> Option<&'p [u8]> {
    loop {
        p = p.trim_ascii_start().strip_prefix(b";")?.trim_ascii_start();
        let n_end = p
            .iter()
            .position(|&b| b == b'=' || b == b';')
            .unwrap_or(p.len());
        let (n, rest) = p.split_at_checked(n_end)?;
        let Some(rest) = rest.strip_prefix(b"=") else {
            p = rest; // valueless parameter
            continue;
        };
        let rest = rest.trim_ascii_start();
        let (value, after) = if let Some(q) = rest.strip_prefix(b"\"") {
            let close = quoted_end(q)?;
            (q.get(..close)?, q.get(close.checked_add(1)?..)?)
        } else {
            let end = rest
                .iter()
                .position(|&b| b == b';' || b.is_ascii_whitespace())
                .unwrap_or(rest.len());
            rest.split_at_checked(end)?
        };
        if n.trim_ascii().eq_ignore_ascii_case(name) {
            return Some(value);
        }
        p = after;
    }
}

/// Index of the closing quote, skipping quoted-pairs.
fn quoted_end(q: &[u8]) -> Option<usize> {
    let mut i = 0;
    while let Some(&b) = q.get(i) {
        match b {
            b'"' => return Some(i),
            b'\\' => i = i.checked_add(2)?,
            _ => i = i.checked_add(1)?,
        }
    }
    None
}

/// Walks the RFC 2046 delimiter lines and returns the one SDP part's content.
fn multipart_sdp(body: &[u8], boundary: &[u8]) -> Result<Option<Range<usize>>, SdpError> {
    let mut pos = 0;
    let mut part: Option<usize> = None;
    let mut found: Option<Range<usize>> = None;
    while pos < body.len() {
        let line_end = find(body, pos, b'\n').map_or(body.len(), |nl| nl.saturating_add(1));
        let line = body.get(pos..line_end).unwrap_or_default();
        if let Some(close) = delimiter(line, boundary) {
            if let Some(start) = part {
                // The line break before a delimiter belongs to the delimiter.
                let mut end = pos;
                if end > start && body.get(end.wrapping_sub(1)) == Some(&b'\n') {
                    end -= 1;
                    if end > start && body.get(end.wrapping_sub(1)) == Some(&b'\r') {
                        end -= 1;
                    }
                }
                if let Some(content) = sdp_part(body, start, end) {
                    if found.is_some() {
                        return Err(SdpError::MultipleSdp);
                    }
                    found = Some(content);
                }
            }
            if close {
                return Ok(found.filter(|r| !r.is_empty()));
            }
            part = Some(line_end);
        }
        pos = line_end;
    }
    Err(SdpError::BadMultipart)
}

/// `Some(is_close)` if `line` is `--boundary[--]` plus padding and line end.
fn delimiter(line: &[u8], boundary: &[u8]) -> Option<bool> {
    let rest = line.strip_prefix(b"--")?.strip_prefix(boundary)?;
    let (close, rest) = match rest.strip_prefix(b"--") {
        Some(r) => (true, r),
        None => (false, rest),
    };
    let rest = rest.strip_suffix(b"\n").unwrap_or(rest);
    let rest = rest.strip_suffix(b"\r").unwrap_or(rest);
    rest.iter()
        .all(|&b| b == b' ' || b == b'\t')
        .then_some(close)
}

/// Content range of the part `body[start..end]` if its type is application/sdp.
/// A part without Content-Type is text/plain (RFC 2046) and is skipped.
fn sdp_part(body: &[u8], start: usize, end: usize) -> Option<Range<usize>> {
    let mut pos = start;
    let mut ct: Option<Span> = None;
    let mut in_ct = false;
    let content = loop {
        if pos >= end {
            break end; // headers only, no content
        }
        let nl = find(body, pos, b'\n').filter(|&nl| nl < end);
        let line_end = nl.map_or(end, |nl| nl.saturating_add(1));
        let text = body.get(pos..line_end).unwrap_or_default().trim_ascii_end();
        if text.is_empty() {
            break line_end;
        }
        let text_end = pos.saturating_add(text.len());
        if text.first().is_some_and(|&b| b == b' ' || b == b'\t') {
            // Folded header: extend the value if it is Content-Type's.
            if let (true, Some(s)) = (in_ct, ct.as_mut()) {
                s.end = text_end;
            }
        } else if let Some(colon) = text.iter().position(|&b| b == b':') {
            let name = text.get(..colon).unwrap_or_default().trim_ascii();
            in_ct = name.eq_ignore_ascii_case(b"content-type");
            if in_ct {
                ct = Some(Span::new(
                    pos.saturating_add(colon).saturating_add(1),
                    text_end,
                ));
            }
        } else {
            in_ct = false;
        }
        pos = line_end;
    };
    let (ty, sub, _) = media_type(ct?.of(body).trim_ascii())?;
    is_sdp_type(ty, sub).then_some(content..end.max(content))
}

pub(super) fn find(buf: &[u8], from: usize, byte: u8) -> Option<usize> {
    let i = buf.get(from..)?.iter().position(|&b| b == byte)?;
    from.checked_add(i)
}

// ---------------------------------------------------------------------------
// Line view.
