//! APPEND (RFC 3501 6.3.11) with MULTIAPPEND (RFC 3502) and APPENDUID
//! (RFC 4315).

use std::io::Read;

use crate::imap::command::AppendMessage;
use crate::imap::session::{Done, Error, Result, Session};
use crate::store::{NewMessage, StoreError};

pub fn append(s: &mut Session, name: &str, mut messages: Vec<AppendMessage>) -> Result<Done> {
    // RFC 4469 CATENATE: each such message put together first, so that a
    // bad URL stores nothing.
    for m in messages.iter_mut() {
        if let Some(parts) = m.catenate.take() {
            m.data = super::catenate::assemble(s, parts)?;
        }
    }
    // NewMessage borrows a reader, which borrows the literal: collect the
    // plain fields first, then the readers.
    // A zero-octet message is no message (Dovecot refuses it too); refusing
    // it before anything is written keeps MULTIAPPEND all-or-none (RFC 3502
    // 6.3.11).
    if messages.iter().any(|m| m.data.is_empty()) {
        return Err(Error::no("Can't save a zero byte message."));
    }
    // RFC 3516 4.4: binary content is kept unchanged or refused.
    for m in messages.iter_mut().filter(|m| m.binary) {
        if !kept_unchanged(&mut m.data.reader()?)? {
            return Err(Error::no_code(
                "UNKNOWN-CTE",
                "This binary message cannot be stored unchanged; send it with base64 parts.",
            ));
        }
    }
    let mut metas = Vec::new();
    for m in messages.iter_mut() {
        metas.push((m.flags.clone(), m.date, m.data.len()));
    }
    let mut boxed: Vec<Box<dyn Read + '_>> = Vec::new();
    for m in messages.iter_mut() {
        boxed.push(m.data.reader()?);
    }
    let mut news: Vec<NewMessage<'_>> = boxed
        .iter_mut()
        .zip(metas)
        .map(|(r, (flags, date, len))| NewMessage {
            flags,
            internal_date: date,
            data: r.as_mut(),
            len,
        })
        .collect();
    let appended = match s.store()?.append(name, &mut news) {
        Ok(a) => a,
        // RFC 3501 6.3.11: the client may CREATE and try again.
        Err(StoreError::NotFound) => {
            return Err(Error::no_code("TRYCREATE", "Mailbox doesn't exist"));
        }
        Err(e) => return Err(e.into()),
    };
    Done::code(
        format!(
            "APPENDUID {} {}",
            appended.uid_validity,
            uid_set(&appended.uids)
        ),
        "Append completed.",
    )
}

/// Whether both stores give these octets back as they are. Both keep
/// messages with LF line ends and send each line end as CRLF (DESIGN.md
/// 5), so CRLF and lone CRs come back unchanged, but a bare LF comes back
/// as CRLF and CR CR LF as CR LF; mbox also quotes a line that starts
/// with `From ` as `>From ` and ends a message without a line end with
/// one. NUL is kept (BINARY sends it).
fn kept_unchanged(r: &mut dyn Read) -> std::io::Result<bool> {
    const FROM: &[u8] = b"From ";
    let mut buf = vec![0u8; crate::limits::STREAM_BUFFER];
    // The two octets before the current one, and how much of `From `
    // the current line starts with (None once it cannot).
    let (mut before, mut last) = (0u8, b'\n');
    let mut from = Some(0usize);
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => return Ok(last == b'\n'),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        for &c in &buf[..n] {
            if c == b'\n' && (last != b'\r' || before == b'\r') {
                return Ok(false);
            }
            from = match from {
                Some(i) if FROM[i] == c && i + 1 == FROM.len() => return Ok(false),
                Some(i) if FROM[i] == c => Some(i + 1),
                _ if c == b'\n' => Some(0),
                _ => None,
            };
            (before, last) = (last, c);
        }
    }
}

/// RFC 4315 `uid-set`: ascending runs written as ranges.
pub fn uid_set(uids: &[u32]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < uids.len() {
        let start = uids[i];
        let mut end = start;
        while i + 1 < uids.len() && uids[i + 1] == end.wrapping_add(1) {
            i += 1;
            end = uids[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn binary_content_kept_or_refused() {
        let kept = |s: &[u8]| super::kept_unchanged(&mut &s[..]).unwrap();
        assert!(kept(b"a\r\nb\0\xff\rc\r\n"));
        assert!(kept(b"a\r\n>From x\r\nFrom\r\n x From y\r\n"));
        assert!(!kept(b"a\r\nb\nc\r\n"));
        assert!(!kept(b"\n"));
        assert!(!kept(b"a\r\r\n"));
        assert!(!kept(b"a\r\nFrom me\r\n"));
        assert!(!kept(b"From me\r\n"));
        assert!(!kept(b"no line end"));
    }

    #[test]
    fn uid_sets() {
        assert_eq!(super::uid_set(&[1, 2, 3, 5, 7, 8]), "1:3,5,7:8");
        assert_eq!(super::uid_set(&[4]), "4");
        assert_eq!(super::uid_set(&[]), "");
    }
}
