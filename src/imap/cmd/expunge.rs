//! EXPUNGE (RFC 3501 6.4.3) and UID EXPUNGE (RFC 4315 2.1).

use crate::imap::cmd::indexes;
use crate::imap::command::SequenceSet;
use crate::imap::session::{self, Done, Error, Result, Session};
use crate::store::Uid;

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
    expunge_reported(s, only.as_deref())?;
    Done::ok("Expunge completed.")
}

/// Expunges (the `\Deleted` messages among `only`, when given) and says
/// so: an EXPUNGE per message, or with QRESYNC one `* VANISHED` of their
/// UIDs (RFC 7162 3.2.10). For EXPUNGE, UID EXPUNGE and MOVE.
pub fn expunge_reported(s: &mut Session, only: Option<&[Uid]>) -> Result<()> {
    let qresync = s.enabled.qresync;
    let sel = s.selected()?;
    // The store reports sequence numbers highest first, each as the view
    // numbered them before: their UIDs are these.
    let before: Vec<Uid> = if qresync || !sel.contexts.is_empty() {
        (0..sel.mailbox.count())
            .map(|i| sel.mailbox.uid(i))
            .collect()
    } else {
        Vec::new()
    };
    let expunged = sel.mailbox.expunge(only)?;
    // RFC 5267: live searches lose them first, while the numbers name them.
    let gone: Vec<(u32, Uid)> = expunged
        .iter()
        .filter_map(|&seq| Some((seq, *before.get((seq as usize).checked_sub(1)?)?)))
        .collect();
    let mut out = crate::imap::cmd::context::expunged(&mut sel.contexts, &gone);
    if qresync {
        let mut uids: Vec<Uid> = expunged
            .iter()
            .filter_map(|&seq| before.get((seq as usize).checked_sub(1)?).copied())
            .collect();
        uids.sort_unstable();
        session::write_vanished(&mut out, false, &session::uid_ranges(&uids));
    } else {
        for seq in expunged {
            out.extend_from_slice(format!("* {seq} EXPUNGE\r\n").as_bytes());
        }
    }
    s.out.write_all(&out)?;
    Ok(())
}
