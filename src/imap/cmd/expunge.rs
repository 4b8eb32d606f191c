//! EXPUNGE (RFC 3501 6.4.3) and UID EXPUNGE (RFC 4315 2.1).

use crate::imap::cmd::indexes;
use crate::imap::command::SequenceSet;
use crate::imap::session::{Done, Error, Result, Session};

pub fn expunge(s: &mut Session, uids: Option<&SequenceSet>) -> Result<Done> {
    let sel = s.selected()?;
    if sel.mailbox.read_only() {
        return Err(Error::no_code("READ-ONLY", "Mailbox is read-only."));
    }
    let only: Option<Vec<u32>> = match uids {
        Some(set) => {
            let mb = sel.mailbox.as_ref();
            Some(indexes(mb, set, true)?.iter().map(|i| mb.uid(i)).collect())
        }
        None => None,
    };
    let expunged = sel.mailbox.expunge(only.as_deref())?;
    let mut out = Vec::new();
    for seq in expunged {
        out.extend_from_slice(format!("* {seq} EXPUNGE\r\n").as_bytes());
    }
    s.out.write_all(&out)?;
    Done::ok("Expunge completed.")
}
