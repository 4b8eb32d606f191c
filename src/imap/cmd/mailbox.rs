//! CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE (RFC 3501 6.3.3-6.3.7).

use crate::imap::session::{Done, Error, Result, Session, State};

pub fn create(s: &mut Session, name: &str) -> Result<Done> {
    // RFC 3501 6.3.3: a trailing separator only says the client intends to
    // create children under it.
    let store = s.store()?;
    let sep = store.separator();
    let name = name.strip_suffix(sep).unwrap_or(name);
    if name.eq_ignore_ascii_case("INBOX") {
        return Err(Error::no_code("ALREADYEXISTS", "Mailbox already exists"));
    }
    store.create(name)?;
    Done::ok("Create completed.")
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
    s.store()?.delete(name)?;
    Done::ok("Delete completed.")
}

pub fn rename(s: &mut Session, from: &str, to: &str) -> Result<Done> {
    if to.eq_ignore_ascii_case("INBOX") {
        return Err(Error::no_code(
            "ALREADYEXISTS",
            "Target mailbox already exists",
        ));
    }
    let store = s.store()?;
    let sep = store.separator();
    store.rename(from, to)?;
    // The selected mailbox (or one under the renamed one) keeps its open
    // files but now has a new name: STATUS and DELETE must know it by that
    // name. INBOX is special (RFC 3501 6.3.5): its messages move, it stays.
    if let State::Selected(sel) = &mut s.state {
        if !from.eq_ignore_ascii_case("INBOX") {
            if sel.name == from {
                sel.name = to.to_string();
            } else if let Some(rest) = sel.name.strip_prefix(&format!("{from}{sep}")) {
                sel.name = format!("{to}{sep}{rest}");
            }
        }
    }
    Done::ok("Rename completed.")
}

pub fn subscribe(s: &mut Session, name: &str) -> Result<Done> {
    s.store()?.subscribe(name)?;
    Done::ok("Subscribe completed.")
}

pub fn unsubscribe(s: &mut Session, name: &str) -> Result<Done> {
    s.store()?.unsubscribe(name)?;
    Done::ok("Unsubscribe completed.")
}
