//! APPEND (RFC 3501 6.3.11) with MULTIAPPEND (RFC 3502) and APPENDUID
//! (RFC 4315).

use std::io::Read;

use crate::imap::command::AppendMessage;
use crate::imap::session::{Done, Error, Result, Session};
use crate::store::{NewMessage, StoreError};

pub fn append(s: &mut Session, name: &str, mut messages: Vec<AppendMessage>) -> Result<Done> {
    // NewMessage borrows a reader, which borrows the literal: collect the
    // plain fields first, then the readers.
    // A zero-octet message is no message (Dovecot refuses it too); refusing
    // it before anything is written keeps MULTIAPPEND all-or-none (RFC 3502
    // 6.3.11).
    if messages.iter().any(|m| m.data.is_empty()) {
        return Err(Error::no("Can't save a zero byte message."));
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
    fn uid_sets() {
        assert_eq!(super::uid_set(&[1, 2, 3, 5, 7, 8]), "1:3,5,7:8");
        assert_eq!(super::uid_set(&[4]), "4");
        assert_eq!(super::uid_set(&[]), "");
    }
}
