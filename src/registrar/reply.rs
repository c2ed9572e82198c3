//! Writing the registrar's responses into the caller's buffer.

use super::register::Answer;
use super::store::Binding;
use super::{secs, Registrar, MAX_PER_AOR, RETRY_AFTER_SECS};
use super::{Note, Registered};
use crate::sip::status::{self, Status};
use crate::sip::{unsupported, write_response, Cursor, Full, HeaderName, Message, Reply};
use crate::time::Instant;
use std::net::SocketAddr;

impl Registrar {
    /// Writes the answer to the REGISTER `m`; [`Full`] when `out` cannot
    /// hold it. Every header line fits in 600 bytes: the realm is at most
    /// 256.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn write_answer(
        &self,
        now: Instant,
        answer: Answer,
        realm: &[u8],
        m: &Message,
        tag: Option<&[u8]>,
        src: SocketAddr,
        out: &mut [u8],
    ) -> Result<Registered, Full> {
        let note = answer.note();
        let mut line = [0u8; 600];
        let mut c = Cursor::new(&mut line);
        let st = match answer {
            Answer::Ok(aor) => return self.write_ok(now, &aor, m, tag, src, out),
            Answer::Plain(st, _) => return write(m, tag, src, (st, note), &[], out),
            Answer::Challenge { stale, .. } => {
                let call_id = m.call_id().unwrap_or_default();
                let nonce = self.nonces.make(secs(now), src.ip(), realm, call_id);
                let _ = challenge(&mut c, realm, &nonce, stale);
                status::UNAUTHORIZED
            }
            Answer::TooBrief => {
                let _ = c
                    .put(b"Min-Expires: ")
                    .and_then(|_| c.put_u32(self.min_expires));
                status::INTERVAL_TOO_BRIEF
            }
            Answer::OutOfOrder => {
                let _ = c
                    .put(b"Retry-After: ")
                    .and_then(|_| c.put_u32(RETRY_AFTER_SECS));
                status::SERVER_INTERNAL_ERROR
            }
            Answer::BadExtension => {
                let _ = unsupported(&mut c, m, HeaderName::Require);
                status::BAD_EXTENSION
            }
        };
        write(m, tag, src, (st, note), &[c.written()], out)
    }

    /// 200 OK with a Contact line per binding. The lines are formatted in
    /// the back half of `out`, the response written into the front half.
    pub(super) fn write_ok(
        &self,
        now: Instant,
        aor: &[u8],
        m: &Message,
        tag: Option<&[u8]>,
        src: SocketAddr,
        out: &mut [u8],
    ) -> Result<Registered, Full> {
        let n = {
            let half = out.len() / 2;
            let (head, tail) = out.split_at_mut(half);
            let mut lines: heapless::Vec<&[u8], MAX_PER_AOR> = heapless::Vec::new();
            let mut rest: &mut [u8] = tail;
            for (_, b) in self.store.of_aor(aor, now) {
                let mut c = Cursor::new(&mut *rest);
                let ok = contact_line(&mut c, b, now).is_ok();
                let n = c.len();
                if !ok || lines.is_full() {
                    break;
                }
                let (line, r) = core::mem::take(&mut rest).split_at_mut(n);
                rest = r;
                let _ = lines.push(&*line);
            }
            write(m, tag, src, (status::OK, Note::Updated), &lines, head)
        };
        // The request's own headers filled half the buffer: say so in all
        // of it.
        n.or_else(|Full| {
            let st = (status::SERVER_INTERNAL_ERROR, Note::TooLong);
            write(m, tag, src, st, &[], out)
        })
    }
}

fn contact_line(c: &mut Cursor, b: &Binding, now: Instant) -> Result<(), Full> {
    let left = b.expires.0.saturating_sub(now.0).div_ceil(1000);
    c.put(b"Contact: <")?;
    c.put(b.uri())?;
    c.put(b">;expires=")?;
    c.put_u32(u32::try_from(left).unwrap_or(u32::MAX))?;
    if !b.instance().is_empty() {
        c.put(b";+sip.instance=")?;
        c.put(b.instance())?;
    }
    Ok(())
}

fn challenge(c: &mut Cursor, realm: &[u8], nonce: &[u8], stale: bool) -> Result<(), Full> {
    c.put(b"WWW-Authenticate: Digest realm=\"")?;
    c.put(realm)?;
    c.put(b"\", nonce=\"")?;
    c.put(nonce)?;
    c.put(b"\", algorithm=MD5, qop=\"auth\"")?;
    if stale {
        c.put(b", stale=true")?;
    }
    Ok(())
}

/// Writes a response; [`Full`] when `out` cannot hold even that.
fn write(
    m: &Message,
    to_tag: Option<&[u8]>,
    src: SocketAddr,
    (st, note): (Status, Note),
    extra: &[&[u8]],
    out: &mut [u8],
) -> Result<Registered, Full> {
    let reply = Reply {
        code: st.code,
        reason: st.reason.as_bytes(),
        to_tag,
        source: Some(src),
        extra,
    };
    let len = write_response(m, &reply, out).map_err(|_| Full)?;
    Ok(Registered {
        len,
        code: st.code,
        note,
    })
}
