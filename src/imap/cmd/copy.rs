//! COPY (RFC 3501 6.4.7) with COPYUID (RFC 4315), and MOVE (RFC 6851).

use crate::imap::cmd::{append::uid_set, indexes};
use crate::imap::command::SequenceSet;
use crate::imap::session::{Done, Error, Result, Session};
use crate::store::{flag, FlagOp, Flags, StoreError};

pub fn copy(s: &mut Session, set: &SequenceSet, dest: &str, uid: bool, mv: bool) -> Result<Done> {
    let sel = s.selected()?;
    let idx = indexes(sel.mailbox.as_ref(), set, uid)?;
    let done = if mv {
        "Move completed."
    } else {
        "Copy completed."
    };
    if idx.is_empty() {
        return Done::ok(format!("No messages found. {done}"));
    }
    if mv && sel.mailbox.read_only() {
        return Err(Error::no_code("READ-ONLY", "Mailbox is read-only."));
    }
    let idx = idx.to_vec();
    let src_uids: Vec<u32> = idx.iter().map(|&i| sel.mailbox.uid(i)).collect();
    let appended = match sel.mailbox.copy(&idx, dest) {
        Ok(a) => a,
        Err(StoreError::NotFound) => {
            return Err(Error::no_code("TRYCREATE", "Mailbox doesn't exist"))
        }
        Err(e) => return Err(e.into()),
    };
    let code = format!(
        "COPYUID {} {} {}",
        appended.uid_validity,
        uid_set(&src_uids),
        uid_set(&appended.uids)
    );
    if !mv {
        return Done::code(code, done);
    }
    // RFC 6851 3.3: COPYUID goes in an untagged OK before the EXPUNGEs.
    s.out
        .write_all(format!("* OK [{code}] Moved UIDs.\r\n").as_bytes())?;
    let sel = s.selected()?;
    let deleted = Flags {
        system: flag::DELETED,
        keywords: Vec::new(),
    };
    sel.mailbox.store(&idx, FlagOp::Add, &deleted)?;
    super::expunge::expunge_reported(s, Some(&src_uids))?;
    Done::ok(done)
}
