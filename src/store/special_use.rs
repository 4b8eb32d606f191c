//! Special-use mailboxes (RFC 6154): which of the user's mailboxes hold
//! sent mail, drafts, deleted mail, junk and archives, so that every
//! client finds the same ones instead of making its own ("Sent Messages",
//! "Sent Items").
//!
//! What `CREATE name (USE (...))` set is kept per user in
//! `mailaccess-special-use` in the store's control directory, one line a
//! mailbox: its wire name and its uses, tab-separated. RENAME and DELETE
//! carry it along (`renamed`, `deleted`). A use that no kept mailbox has
//! goes to the first existing mailbox with a name other servers and
//! clients give it (`NAMES`), so migrated users keep their folders.

use std::collections::BTreeMap;
use std::path::Path;

use crate::limits::SPECIAL_USE_FILE_MAX;

pub const FILE: &str = "mailaccess-special-use";

/// Made once the special folders of a user's first login are: a folder
/// the user deletes later is not made again.
pub const MADE_FILE: &str = "mailaccess-special-made";

/// The uses a mailbox of ours can have. `\All` and `\Flagged` are virtual
/// mailboxes (every message, every flagged message) that we do not make.
pub const USES: [&str; 5] = ["\\Archive", "\\Drafts", "\\Junk", "\\Sent", "\\Trash"];

/// Names found for each use, in order of preference (compared without
/// case, at the top level or right under INBOX as in Courier's layout).
/// Pine's and Alpine's `sent-mail` and `postponed-msgs` are there for
/// users who come from UW-IMAP with their mbox folders.
const NAMES: [(&str, &[&str]); 5] = [
    (
        "\\Sent",
        &[
            "Sent",
            "Sent Messages",
            "Sent Items",
            "Sent Mail",
            "sent-mail",
        ],
    ),
    ("\\Drafts", &["Drafts", "Draft", "postponed-msgs"]),
    (
        "\\Trash",
        &["Trash", "Deleted Items", "Deleted Messages", "Bin"],
    ),
    ("\\Junk", &["Junk", "Spam", "Junk E-mail", "Junk Email"]),
    ("\\Archive", &["Archive", "Archives"]),
];

/// The use attribute spelled as we list it, if it is one of `USES`.
pub fn canonical(attr: &str) -> Option<&'static str> {
    USES.iter().copied().find(|u| u.eq_ignore_ascii_case(attr))
}

/// What is kept: mailbox name to uses. A missing or unreadable file is
/// nothing kept; a line that is not `name TAB uses` is skipped.
pub fn load(ctl: &Path) -> BTreeMap<String, Vec<&'static str>> {
    let text =
        crate::store::open::read_small(&ctl.join(FILE), SPECIAL_USE_FILE_MAX).unwrap_or_default();
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let Some((name, uses)) = line.split_once('\t') else {
            continue;
        };
        let uses: Vec<&'static str> = uses.split(' ').filter_map(canonical).collect();
        if !name.is_empty() && !uses.is_empty() {
            out.insert(name.to_string(), uses);
        }
    }
    out
}

fn save(ctl: &Path, kept: &BTreeMap<String, Vec<&'static str>>) -> std::io::Result<()> {
    let mut text = String::new();
    for (name, uses) in kept {
        text.push_str(name);
        text.push('\t');
        text.push_str(&uses.join(" "));
        text.push('\n');
    }
    std::fs::create_dir_all(ctl)?;
    crate::store::open::replace(&ctl.join(FILE), text.as_bytes(), true)
}

/// Keeps `uses` for the new mailbox `name`; another mailbox that had one
/// of them keeps it too (RFC 6154 allows several).
pub fn set(ctl: &Path, name: &str, uses: &[&'static str]) -> std::io::Result<()> {
    let mut kept = load(ctl);
    kept.insert(name.to_string(), uses.to_vec());
    save(ctl, &kept)
}

/// `from` (and the mailboxes under it) became `to`.
pub fn renamed(ctl: &Path, from: &str, to: &str, sep: char) -> std::io::Result<()> {
    let mut kept = load(ctl);
    let prefix = format!("{from}{sep}");
    let moved: Vec<String> = kept
        .keys()
        .filter(|k| *k == from || k.starts_with(&prefix))
        .cloned()
        .collect();
    if moved.is_empty() {
        return Ok(());
    }
    for old in moved {
        if let Some(uses) = kept.remove(&old) {
            kept.insert(format!("{to}{}", &old[from.len()..]), uses);
        }
    }
    save(ctl, &kept)
}

/// `name` is gone.
pub fn deleted(ctl: &Path, name: &str) -> std::io::Result<()> {
    let mut kept = load(ctl);
    if kept.remove(name).is_none() {
        return Ok(());
    }
    save(ctl, &kept)
}

/// The uses of each of the `existing` mailboxes: what is kept; then each
/// use no existing mailbox keeps goes to the first existing mailbox with
/// one of its `NAMES`.
pub fn resolve(
    kept: &BTreeMap<String, Vec<&'static str>>,
    existing: &[&str],
    sep: char,
) -> BTreeMap<String, Vec<&'static str>> {
    let mut out: BTreeMap<String, Vec<&'static str>> = BTreeMap::new();
    for name in existing {
        if let Some(uses) = kept.get(*name) {
            out.insert(name.to_string(), uses.clone());
        }
    }
    let inbox_prefix = format!("INBOX{sep}");
    for (usage, names) in NAMES {
        if out.values().any(|u| u.contains(&usage)) {
            continue;
        }
        let found = names.iter().find_map(|want| {
            existing.iter().find(|e| {
                let base = e.strip_prefix(inbox_prefix.as_str()).unwrap_or(e);
                base.eq_ignore_ascii_case(want)
            })
        });
        if let Some(name) = found {
            out.entry(name.to_string()).or_default().push(usage);
        }
    }
    out
}

/// At a user's first IMAP login (no `MADE_FILE` yet): each of `folders`
/// (a use and a wire name, `special_folders`) whose use no existing
/// mailbox has, kept or by a name other servers give it (`resolve`), is
/// made if missing, given the use and subscribed; then `MADE_FILE` says
/// so. Failures are logged and the login goes on; a store with nowhere to
/// keep uses makes none.
pub fn make_first(store: &mut dyn crate::store::Store, folders: &[(&'static str, String)]) {
    let Some(ctl) = store.control_dir() else {
        return;
    };
    if folders.is_empty() || ctl.join(MADE_FILE).exists() {
        return;
    }
    let sep = store.separator();
    let all = match store.list() {
        Ok(l) => l,
        Err(e) => return log::warn!("special folders: {e}"),
    };
    let existing: Vec<&str> = all
        .iter()
        .filter(|m| !m.noselect)
        .map(|m| m.name.as_str())
        .collect();
    let mut kept = load(&ctl);
    let uses = resolve(&kept, &existing, sep);
    let before = kept.clone();
    for (usage, name) in folders {
        if uses.values().any(|u| u.contains(usage)) {
            continue;
        }
        if !existing.contains(&name.as_str()) {
            if let Err(e) = store.create(name) {
                log::warn!("special folder {name}: {e}");
                continue;
            }
            if let Err(e) = store.subscribe(name) {
                log::warn!("special folder {name}: {e}");
            }
        }
        kept.entry(name.clone()).or_default().push(usage);
    }
    // One write of the uses, then the mark (`save` makes the directory).
    let saved = if kept == before {
        std::fs::create_dir_all(&ctl)
    } else {
        save(&ctl, &kept)
    };
    if let Err(e) =
        saved.and_then(|()| crate::store::open::replace(&ctl.join(MADE_FILE), b"", false))
    {
        log::warn!("special folders: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_recognised_unless_one_is_kept() {
        let kept = BTreeMap::new();
        let existing = ["INBOX", "Sent Items", "Sent", "Deleted Items", "INBOX.Spam"];
        let r = resolve(&kept, &existing, '.');
        assert_eq!(r.get("Sent"), Some(&vec!["\\Sent"]), "{r:?}");
        // Alpine's folders, as a UW-IMAP user has them.
        let alpine = resolve(&kept, &["INBOX", "sent-mail", "postponed-msgs"], '/');
        assert_eq!(alpine.get("sent-mail"), Some(&vec!["\\Sent"]));
        assert_eq!(alpine.get("postponed-msgs"), Some(&vec!["\\Drafts"]));
        assert_eq!(r.get("Sent Items"), None);
        assert_eq!(r.get("Deleted Items"), Some(&vec!["\\Trash"]));
        assert_eq!(r.get("INBOX.Spam"), Some(&vec!["\\Junk"]));
        let mut kept = BTreeMap::new();
        kept.insert("Sent Items".to_string(), vec!["\\Sent"]);
        kept.insert("Gone".to_string(), vec!["\\Drafts"]);
        let r = resolve(&kept, &existing, '.');
        assert_eq!(r.get("Sent Items"), Some(&vec!["\\Sent"]));
        assert_eq!(r.get("Sent"), None);
        assert_eq!(r.get("Gone"), None, "a kept name that does not exist");
    }

    #[test]
    fn kept_uses_follow_renames_and_deletes() {
        let t = tempfile::tempdir().expect("tempdir");
        let ctl = t.path().join("ctl");
        set(&ctl, "Outbox", &["\\Sent"]).expect("set");
        set(&ctl, "a/b", &["\\Archive", "\\Junk"]).expect("set");
        renamed(&ctl, "a", "z", '/').expect("rename");
        renamed(&ctl, "Out", "x", '/').expect("rename of a prefix only");
        let kept = load(&ctl);
        assert_eq!(kept.get("z/b"), Some(&vec!["\\Archive", "\\Junk"]));
        assert_eq!(kept.get("Outbox"), Some(&vec!["\\Sent"]));
        deleted(&ctl, "Outbox").expect("delete");
        assert_eq!(load(&ctl).len(), 1);
        // A damaged line is skipped, not trusted.
        std::fs::write(ctl.join(FILE), "no tab\nok\t\\Trash \\Bogus\n").expect("write");
        let kept = load(&ctl);
        assert_eq!(kept.len(), 1);
        assert_eq!(kept.get("ok"), Some(&vec!["\\Trash"]));
    }
}
