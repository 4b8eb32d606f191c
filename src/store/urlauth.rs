//! URLAUTH mailbox access keys (RFC 4467 2.2): 256 random bits per
//! mailbox, from which the INTERNAL mechanism's tokens are made
//! (`imap::cmd::urlauth`).
//!
//! They are kept in the user's control directory, in `mailaccess-urlauth`
//! (mode 0600, readable by the user only, like every file a session
//! makes): a line `MAILBOXID hex-key` per mailbox that has one. Keys are
//! found by MAILBOXID (RFC 8474), which RENAME keeps and a mailbox made
//! anew under an old name does not have: a URL of a deleted mailbox never
//! opens its successor. A key is made at the first GENURLAUTH of its
//! mailbox; RESETKEY removes it (one mailbox's, or all), so every URL made
//! with it fails from then on. Changes are made under a lock file, so two
//! sessions making the first key of a mailbox at once agree on it.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use super::lock::Lock;
use super::objectid::{hex, hex_decode, is_objectid, random_fill};
use crate::limits::URLAUTH_FILE_MAX;

/// The file of keys in the control directory.
pub const FILE: &str = "mailaccess-urlauth";

/// A mailbox access key.
pub type Key = [u8; 32];

/// The key of the mailbox `mailbox_id`; when it has none, a new one if
/// `create`, else None.
pub fn key(ctl: &Path, mailbox_id: &str, create: bool) -> io::Result<Option<Key>> {
    if let Some(k) = load(ctl).get(mailbox_id) {
        return Ok(Some(*k));
    }
    if !create {
        return Ok(None);
    }
    std::fs::create_dir_all(ctl)?;
    let _lock = Lock::exclusive(&ctl.join(format!("{FILE}.lock"))).map_err(io::Error::other)?;
    let mut keys = load(ctl);
    if let Some(k) = keys.get(mailbox_id) {
        return Ok(Some(*k));
    }
    let mut k = [0u8; 32];
    random_fill(&mut k)?;
    keys.insert(mailbox_id.to_string(), k);
    save(ctl, &keys)?;
    Ok(Some(k))
}

/// Removes the key of `mailbox_id`, or every key (RESETKEY).
pub fn reset(ctl: &Path, mailbox_id: Option<&str>) -> io::Result<()> {
    if !ctl.join(FILE).exists() {
        return Ok(());
    }
    let _lock = Lock::exclusive(&ctl.join(format!("{FILE}.lock"))).map_err(io::Error::other)?;
    let mut keys = load(ctl);
    match mailbox_id {
        Some(id) => {
            if keys.remove(id).is_none() {
                return Ok(());
            }
        }
        None => keys.clear(),
    }
    save(ctl, &keys)
}

/// The keys kept. A missing or unreadable file is no keys (every URL
/// then fails, which loses no mail); a line that is not `id hex-key` is
/// skipped.
fn load(ctl: &Path) -> BTreeMap<String, Key> {
    let text = super::open::read_small(&ctl.join(FILE), URLAUTH_FILE_MAX).unwrap_or_default();
    let mut keys = BTreeMap::new();
    for line in text.lines() {
        let Some((id, k)) = line.split_once(' ') else {
            continue;
        };
        let bytes = hex_decode(k).filter(|b| b.len() == 32);
        if let (true, Some(bytes)) = (is_objectid(id.as_bytes()), bytes) {
            let mut key = [0u8; 32];
            key.copy_from_slice(&bytes);
            keys.insert(id.to_string(), key);
        }
    }
    keys
}

fn save(ctl: &Path, keys: &BTreeMap<String, Key>) -> io::Result<()> {
    let mut text = String::new();
    for (id, k) in keys {
        text.push_str(id);
        text.push(' ');
        text.push_str(&hex(k));
        text.push('\n');
    }
    super::open::replace(&ctl.join(FILE), text.as_bytes(), true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn keys_are_made_kept_and_reset() {
        let dir = tempfile::tempdir().unwrap();
        let ctl = dir.path().join("ctl");
        assert_eq!(key(&ctl, "Fa", false).unwrap(), None);
        let a = key(&ctl, "Fa", true).unwrap().unwrap();
        let b = key(&ctl, "Fb", true).unwrap().unwrap();
        assert_ne!(a, b);
        assert_eq!(key(&ctl, "Fa", true).unwrap(), Some(a));
        assert_eq!(key(&ctl, "Fb", false).unwrap(), Some(b));
        let mode = std::fs::metadata(ctl.join(FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "keys readable by others: {mode:o}");
        reset(&ctl, Some("Fa")).unwrap();
        assert_eq!(key(&ctl, "Fa", false).unwrap(), None);
        assert_eq!(key(&ctl, "Fb", false).unwrap(), Some(b));
        let a2 = key(&ctl, "Fa", true).unwrap().unwrap();
        assert_ne!(a, a2);
        reset(&ctl, None).unwrap();
        assert_eq!(key(&ctl, "Fa", false).unwrap(), None);
        assert_eq!(key(&ctl, "Fb", false).unwrap(), None);
    }

    #[test]
    fn damaged_lines_are_no_keys() {
        let dir = tempfile::tempdir().unwrap();
        let good = "ab".repeat(32);
        std::fs::write(
            dir.path().join(FILE),
            format!(
                "Fok {good}\nFshort abab\nbad/id {good}\nFbad {}\n",
                "zz".repeat(32)
            ),
        )
        .unwrap();
        assert!(key(dir.path(), "Fok", false).unwrap().is_some());
        for id in ["Fshort", "bad/id", "Fbad"] {
            assert_eq!(key(dir.path(), id, false).unwrap(), None, "{id}");
        }
    }
}
