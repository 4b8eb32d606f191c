//! STORE and UID STORE (RFC 3501 6.4.6).

use crate::imap::cmd::indexes;
use crate::imap::command::SequenceSet;
use crate::imap::session::{self, Done, Error, Result, Session};
use crate::store::{FlagOp, Flags};

pub fn store(
    s: &mut Session,
    set: &SequenceSet,
    op: FlagOp,
    silent: bool,
    flags: &Flags,
    uid: bool,
) -> Result<Done> {
    let sel = s.selected()?;
    let idx = indexes(sel.mailbox.as_ref(), set, uid)?;
    if sel.mailbox.read_only() {
        return Err(Error::no_code("READ-ONLY", "Mailbox is read-only."));
    }
    let keywords_before = sel.mailbox.keywords();
    sel.mailbox.store(&idx.to_vec(), op, flags)?;
    let mut out = Vec::new();
    if sel.mailbox.keywords() != keywords_before {
        // A new keyword: the client learns it from FLAGS (RFC 3501 7.2.6).
        session::write_flags_responses(&mut out, sel.mailbox.as_ref());
    }
    if !silent {
        for i in idx.iter() {
            let m = &sel.mailbox.message(i);
            out.extend_from_slice(format!("* {} FETCH (", i + 1).as_bytes());
            if uid {
                out.extend_from_slice(format!("UID {} ", m.uid).as_bytes());
            }
            out.extend_from_slice(b"FLAGS ");
            session::write_message_flags(&mut out, m);
            out.extend_from_slice(b")\r\n");
        }
    }
    s.out.write_all(&out)?;
    Done::ok("Store completed.")
}
