//! CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE (RFC 3501 6.3.3-6.3.7).

use crate::imap::session::{self, Done, Error, Result, Selected, Session, State};
use crate::store::{special_use, Changes};

pub fn create(s: &mut Session, name: &str, uses: &[String]) -> Result<Done> {
    // RFC 3501 6.3.3: a trailing separator says the client intends to
    // create children under it; the store decides what that means (an
    // mbox store makes a directory, Maildir++ a folder).
    let store = s.store()?;
    let sep = store.separator();
    let bare = name.strip_suffix(sep).unwrap_or(name);
    if bare.eq_ignore_ascii_case("INBOX") {
        return Err(Error::no_code("ALREADYEXISTS", "Mailbox already exists"));
    }
    refuse_wildcards(bare)?;
    // RFC 6154 3: a use we cannot give, or nowhere to keep it, and the
    // mailbox is not made.
    let mut known = Vec::new();
    for u in uses {
        match special_use::canonical(u) {
            Some(c) if !known.contains(&c) => known.push(c),
            Some(_) => {}
            None => {
                return Err(Error::no_code(
                    "USEATTR",
                    "That special use is not supported here.",
                ))
            }
        }
    }
    let ctl = store.control_dir();
    if !known.is_empty() && ctl.is_none() {
        return Err(Error::no_code("USEATTR", "No special uses here."));
    }
    store.create(name)?;
    if let (Some(ctl), false) = (ctl, known.is_empty()) {
        if let Err(e) = special_use::set(&ctl, bare, &known) {
            // Made, but its use not kept: undo, so that the answer is true.
            log::error!("{}: {e}", ctl.display());
            let _ = store.delete(bare);
            return Err(Error::no_code(
                "SERVERBUG",
                "The special use could not be kept.",
            ));
        }
    }
    // RFC 8474 4.1: the new mailbox's MAILBOXID (none for a name that
    // only made a parent).
    match store.mailbox_id(bare) {
        Ok(id) => Done::code(format!("MAILBOXID ({id})"), "Create completed."),
        Err(_) => Done::ok("Create completed."),
    }
}

/// RFC 3501 5.1: `%` and `*` in a name could never be matched on their
/// own by LIST, so a new name may not contain them (Dovecot refuses them
/// too). A folder another program made with one still opens.
fn refuse_wildcards(name: &str) -> Result<()> {
    if name.contains(['%', '*']) {
        return Err(Error::no_code(
            "CANNOT",
            "Mailbox names may not contain the LIST wildcards % or *.",
        ));
    }
    Ok(())
}

pub fn delete(s: &mut Session, name: &str) -> Result<Done> {
    if name.eq_ignore_ascii_case("INBOX") {
        return Err(Error::no_code("CANNOT", "INBOX can't be deleted."));
    }
    // Deleting the selected mailbox deselects it first, so that the session
    // never holds a mailbox that no longer exists.
    if let State::Selected(sel) = &s.state {
        if sel.name == name {
            s.state = State::Authenticated;
        }
    }
    let store = s.store()?;
    store.delete(name)?;
    if let Some(ctl) = store.control_dir() {
        if let Err(e) = special_use::deleted(&ctl, name) {
            log::warn!("{}: {e}", ctl.display());
        }
    }
    Done::ok("Delete completed.")
}

pub fn rename(s: &mut Session, from: &str, to: &str) -> Result<Done> {
    if to.eq_ignore_ascii_case("INBOX") {
        return Err(Error::no_code(
            "ALREADYEXISTS",
            "Target mailbox already exists",
        ));
    }
    refuse_wildcards(to)?;
    let store = s.store()?;
    let sep = store.separator();
    // A mailbox cannot become its own descendant: hierarchical stores would
    // loop, and with flat Maildir++ names the result (z.q -> z.q.r.s.q) is
    // never what was meant. Dovecot refuses it the same way.
    if to.starts_with(&format!("{from}{sep}")) {
        return Err(Error::no_code(
            "CANNOT",
            "Can't rename a mailbox under itself.",
        ));
    }
    store.rename(from, to)?;
    if let Some(ctl) = store.control_dir() {
        if let Err(e) = special_use::renamed(&ctl, from, to, sep) {
            log::warn!("{}: {e}", ctl.display());
        }
    }
    // The selected mailbox (or one under the renamed one) now lives under a
    // new name: reopen it there, so the session goes on. INBOX is special
    // (RFC 3501 6.3.5): its messages move away and it stays, which the next
    // sync reports as EXPUNGEs.
    let State::Selected(sel) = &s.state else {
        return Done::ok("Rename completed.");
    };
    let new_name = if from.eq_ignore_ascii_case("INBOX") {
        None
    } else if sel.name == from {
        Some(to.to_string())
    } else {
        sel.name
            .strip_prefix(&format!("{from}{sep}"))
            .map(|rest| format!("{to}{sep}{rest}"))
    };
    if let Some(new_name) = new_name {
        reopen(s, new_name)?;
    }
    Done::ok("Rename completed.")
}

/// Opens the selected mailbox again under `name`. The client's view must
/// survive: the same UIDs in the same order, and only new messages after
/// them (reported as EXISTS); anything else ends the session.
fn reopen(s: &mut Session, name: String) -> Result<()> {
    let on = s.enabled;
    let (Some(store), State::Selected(sel)) = (s.store.as_deref_mut(), &mut s.state) else {
        return Ok(());
    };
    let gone = || Error::Bye("Selected mailbox was renamed, please select it again.".into());
    let mailbox = store
        .open(&name, sel.mailbox.read_only())
        .map_err(|_| gone())?;
    let (old, new) = (sel.mailbox.count(), mailbox.count());
    let same = new >= old && (0..old).all(|i| sel.mailbox.uid(i) == mailbox.uid(i));
    if !same {
        return Err(gone());
    }
    let mut out = Vec::new();
    if new > old {
        let recent = (0..new).filter(|&i| mailbox.message(i).recent).count();
        let changes = Changes {
            exists: Some(u32::try_from(new).unwrap_or(u32::MAX)),
            recent: Some(u32::try_from(recent).unwrap_or(0)),
            ..Changes::default()
        };
        session::write_changes(&mut out, mailbox.as_ref(), &changes, on);
    }
    *sel = Selected::new(name, mailbox);
    s.out.write_all(&out)?;
    Ok(())
}

pub fn subscribe(s: &mut Session, name: &str) -> Result<Done> {
    s.store()?.subscribe(name)?;
    Done::ok("Subscribe completed.")
}

pub fn unsubscribe(s: &mut Session, name: &str) -> Result<Done> {
    s.store()?.unsubscribe(name)?;
    Done::ok("Unsubscribe completed.")
}
