//! STORE and UID STORE (RFC 3501 6.4.6), with RFC 7162's UNCHANGEDSINCE
//! and MODSEQ in the answers once CONDSTORE is enabled.

use crate::imap::cmd::append::uid_set;
use crate::imap::cmd::indexes;
use crate::imap::command::StoreRequest;
use crate::imap::session::{self, Done, Error, Result, Session};

pub fn store(s: &mut Session, r: &StoreRequest) -> Result<Done> {
    // RFC 7162 3.1: UNCHANGEDSINCE enables CONDSTORE.
    if r.unchanged_since.is_some() {
        s.enable_condstore()?;
    }
    let condstore = s.enabled.condstore;
    let sel = s.selected()?;
    let idx = indexes(sel.mailbox.as_ref(), &r.set, r.uid)?;
    if sel.mailbox.read_only() {
        return Err(Error::no_code("READ-ONLY", "Mailbox is read-only."));
    }
    let keywords_before = sel.mailbox.keywords();
    let (changed, modified) =
        sel.mailbox
            .store_if(&idx.to_vec(), r.op, &r.flags, r.unchanged_since)?;
    let mut out = Vec::new();
    if sel.mailbox.keywords() != keywords_before {
        // A new keyword: the client learns it from FLAGS (RFC 3501 7.2.6).
        session::write_flags_responses(&mut out, sel.mailbox.as_ref());
    }
    for i in idx.iter() {
        if modified.contains(&i) {
            continue; // RFC 7162 3.2: left alone, named in MODIFIED
        }
        // RFC 7162 3.2: with CONDSTORE on, a .SILENT STORE still tells the
        // new MODSEQ of each message it changed.
        let silent_modseq = r.silent && condstore && changed.contains(&i);
        if r.silent && !silent_modseq {
            continue;
        }
        let m = &sel.mailbox.message(i);
        out.extend_from_slice(format!("* {} FETCH (", i + 1).as_bytes());
        if r.uid {
            out.extend_from_slice(format!("UID {} ", m.uid).as_bytes());
        }
        if silent_modseq {
            out.extend_from_slice(format!("MODSEQ ({})", m.modseq).as_bytes());
        } else {
            out.extend_from_slice(b"FLAGS ");
            session::write_message_flags(&mut out, m);
            if condstore {
                session::write_modseq(&mut out, m);
            }
        }
        out.extend_from_slice(b")\r\n");
    }
    s.out.write_all(&out)?;
    if modified.is_empty() {
        return Done::ok("Store completed.");
    }
    let sel = s.selected()?;
    let names: Vec<u32> = modified
        .iter()
        .map(|&i| {
            if r.uid {
                sel.mailbox.uid(i)
            } else {
                u32::try_from(i + 1).unwrap_or(u32::MAX)
            }
        })
        .collect();
    Done::code(
        format!("MODIFIED {}", uid_set(&names)),
        "Conditional STORE failed.",
    )
}
