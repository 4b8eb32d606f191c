//! SELECT, EXAMINE (RFC 3501 6.3.1, 6.3.2), CLOSE (6.4.2), UNSELECT
//! (RFC 3691).

use crate::imap::cmd::qresync;
use crate::imap::command::SelectParams;
use crate::imap::session::{self, Done, Error, Result, Selected, Session, State};

/// `params`: RFC 7162's `(CONDSTORE)`, which enables CONDSTORE (SELECT
/// then says the mailbox's HIGHESTMODSEQ), and `(QRESYNC (...))`, which
/// needs ENABLE QRESYNC first and adds what changed since the client's
/// modseq (`qresync::resync`).
pub fn select(s: &mut Session, name: &str, read_only: bool, params: &SelectParams) -> Result<Done> {
    // RFC 7162 3.2.5: the parameter without ENABLE QRESYNC is BAD, and
    // changes nothing.
    if params.qresync.is_some() && !s.enabled.qresync {
        return Err(Error::Bad("QRESYNC is not enabled".into()));
    }
    // RFC 3501 6.3.1: a failed SELECT leaves no mailbox selected, so the old
    // one is closed first (without expunging); RFC 7162 3.2.11 says so with
    // [CLOSED] (as Dovecot, whether or not QRESYNC is enabled).
    if matches!(s.state, State::Selected(_)) {
        s.state = State::Authenticated;
        s.out
            .write_all(b"* OK [CLOSED] Previous mailbox closed.\r\n")?;
    }
    if params.condstore {
        s.enable_condstore()?;
    }
    let mut mailbox = s.store()?.open(name, read_only)?;
    // Flag changes reach the files when the client's pipeline drains
    // (`Session::command`): a STORE \Deleted and its EXPUNGE rename nothing.
    mailbox.defer_renames();
    let mut out = Vec::new();
    session::write_flags_responses(&mut out, mailbox.as_ref());
    let count = mailbox.count();
    let (mut recent, mut unseen) = (0, None);
    for i in 0..count {
        let (seen, is_recent) = mailbox.seen_recent(i);
        recent += usize::from(is_recent);
        if unseen.is_none() && !seen {
            unseen = Some(i);
        }
    }
    out.extend_from_slice(format!("* {count} EXISTS\r\n").as_bytes());
    // RFC 9051 E: IMAP4rev2 has neither RECENT nor [UNSEEN n], and says
    // the mailbox's name in a LIST response (6.3.2).
    let rev2 = crate::imap::response::imap4rev2();
    if rev2 {
        let sep = s.store()?.separator();
        out.extend_from_slice(format!("* LIST () \"{sep}\" ").as_bytes());
        crate::imap::response::mailbox(&mut out, name);
        out.extend_from_slice(b"\r\n");
    } else {
        out.extend_from_slice(format!("* {recent} RECENT\r\n").as_bytes());
        if let Some(first) = unseen {
            out.extend_from_slice(
                format!("* OK [UNSEEN {}] First unseen.\r\n", first + 1).as_bytes(),
            );
        }
    }
    out.extend_from_slice(
        format!(
            "* OK [UIDVALIDITY {}] UIDs valid\r\n* OK [UIDNEXT {}] Predicted next UID\r\n",
            mailbox.uid_validity(),
            mailbox.uid_next()
        )
        .as_bytes(),
    );
    if s.enabled.condstore {
        out.extend_from_slice(
            format!(
                "* OK [HIGHESTMODSEQ {}] Highest\r\n",
                mailbox.highest_modseq()
            )
            .as_bytes(),
        );
    }
    if let Some(q) = &params.qresync {
        qresync::resync(&mut out, mailbox.as_ref(), q);
    }
    // RFC 8474 4.2, last before the tagged answer; a mailbox whose id
    // cannot be kept (a directory we may not write) opens without one.
    match s.store()?.mailbox_id(name) {
        Ok(id) => out.extend_from_slice(format!("* OK [MAILBOXID ({id})] Ok\r\n").as_bytes()),
        Err(e) => log::warn!("{name}: no MAILBOXID: {e}"),
    }
    s.out.write_all(&out)?;
    let ro = mailbox.read_only();
    s.state = State::Selected(Selected::new(name.to_string(), mailbox));
    let text = if read_only {
        "Examine completed."
    } else {
        "Select completed."
    };
    if ro {
        Done::code("READ-ONLY", text)
    } else {
        Done::code("READ-WRITE", text)
    }
}

/// RFC 3501 6.4.2: expunge silently (no untagged EXPUNGE) unless read-only,
/// then leave the selected state.
pub fn close(s: &mut Session) -> Result<Done> {
    let sel = s.selected()?;
    let result = if sel.mailbox.read_only() {
        Ok(Vec::new())
    } else {
        sel.mailbox.expunge(None)
    };
    s.state = State::Authenticated;
    result.map_err(Error::from)?;
    Done::ok("Close completed.")
}

pub fn unselect(s: &mut Session) -> Result<Done> {
    s.selected()?;
    s.state = State::Authenticated;
    Done::ok("Unselect completed.")
}
