//! What Courier-IMAP leaves in a Maildir, read once when a mailbox has no
//! index of ours yet, so that users moving from Courier keep their
//! UIDVALIDITY, UIDs, keywords and subscriptions (README "Moving from
//! Courier, Dovecot or UW-IMAP"). The formats, as Debian 12's
//! courier-imap 5.0.13 writes them (`tests/courier_import.rs` makes them
//! with Courier's own imapd):
//!
//! * `courierimapuiddb` in each mailbox: a header `1 <uidvalidity>
//!   <nextuid>`, then `<uid> <file name>` per message (the base name; an
//!   older Courier wrote the whole name, `:2,` and flags included);
//! * `courierimapkeywords/` in each mailbox: `:list` holds the keyword
//!   names, one a line, then an empty line, then `<base name>:<n> <n>...`
//!   (0-based positions in those names); a file named after a message's
//!   base name holds its keywords one a line, and replaces what `:list`
//!   says of it; a file `.<n>.<base name>` does the same where no plain one
//!   exists, the highest `<n>` winning;
//! * `courierimapsubscribed` at the root: one folder a line, as Courier
//!   names them on the wire (`INBOX.Sent` for our `Sent`);
//! * `courierpop3dsizelist` in INBOX, Courier pop3d's own numbering: a
//!   header `/3 <next> <uidvalidity>`, then `<file name> <size>
//!   <n>:<uidvalidity>:<flag>` per message, whose UIDL is
//!   `UID<n>-<uidvalidity>`.
//!
//! Anything doubtful means "nothing to import": the mailbox then gets a
//! new UIDVALIDITY, as it would without the files.

use rustc_hash::FxHashMap as HashMap;
use std::path::Path;

use super::index::{valid_base, valid_keyword};
use super::open::read_small;
use super::Uid;
use crate::limits::{CONTROL_FILE_MAX, INDEX_FILE_MAX, KEYWORDS_MAX, MESSAGES_MAX};

pub const UIDDB_FILE: &str = "courierimapuiddb";
pub const KEYWORDS_DIR: &str = "courierimapkeywords";
pub const SUBSCRIBED_FILE: &str = "courierimapsubscribed";
pub const POP3_SIZELIST_FILE: &str = "courierpop3dsizelist";

/// `courierimapuiddb`: UIDVALIDITY, the next UID, and base name -> UID.
pub fn read_uiddb(dir: &Path) -> Option<(u32, Uid, HashMap<String, Uid>)> {
    let text = read_small(&dir.join(UIDDB_FILE), INDEX_FILE_MAX).ok()?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next()?.split(' ').collect();
    let ["1", v, n] = header.as_slice() else {
        return None;
    };
    let (uid_validity, mut uid_next): (u32, Uid) = (v.parse().ok()?, n.parse().ok()?);
    if uid_validity == 0 || uid_next == 0 {
        return None;
    }
    let mut uids = HashMap::default();
    for line in lines.filter(|l| !l.is_empty()) {
        let (uid, name) = line.split_once(' ')?;
        let uid: Uid = uid.parse().ok()?;
        let base = name.split(':').next().unwrap_or_default();
        if uid == 0 || !valid_base(base) || uids.len() >= MESSAGES_MAX {
            return None;
        }
        uid_next = uid_next.max(uid.checked_add(1)?);
        uids.insert(base.to_string(), uid);
    }
    Some((uid_validity, uid_next, uids))
}

/// `courierimapkeywords/`: base name -> keywords, for every message that
/// has any. Keywords we could not store are left out.
pub fn read_keywords(dir: &Path) -> HashMap<String, Vec<String>> {
    let kdir = dir.join(KEYWORDS_DIR);
    let mut out: HashMap<String, Vec<String>> = HashMap::default();
    if let Ok(text) = read_small(&kdir.join(":list"), INDEX_FILE_MAX) {
        let mut lines = text.lines();
        let names: Vec<&str> = lines
            .by_ref()
            .take_while(|l| !l.is_empty())
            .take(KEYWORDS_MAX)
            .collect();
        for line in lines {
            let Some((base, list)) = line.rsplit_once(':') else {
                continue;
            };
            let kws: Vec<String> = list
                .split(' ')
                .filter_map(|n| names.get(n.parse::<usize>().ok()?))
                .map(|k| k.to_string())
                .collect();
            out.insert(base.to_string(), kws);
        }
    }
    // The update files: a plain one per message wins over `.<n>.` ones.
    let mut updates: HashMap<String, (Option<u64>, String)> = HashMap::default();
    for e in std::fs::read_dir(&kdir).into_iter().flatten().flatten() {
        let file = e.file_name().to_string_lossy().into_owned();
        let (rank, base) = match file.strip_prefix('.') {
            Some(rest) => match rest.split_once('.') {
                Some((n, base)) => match n.parse::<u64>() {
                    Ok(n) => (Some(n), base.to_string()),
                    Err(_) => continue,
                },
                None => continue,
            },
            None if file == ":list" => continue,
            None => (None, file.clone()),
        };
        if !valid_base(&base) || updates.len() >= MESSAGES_MAX {
            continue;
        }
        let better = match updates.get(&base) {
            None => true,
            Some((None, _)) => false,
            Some((Some(old), _)) => rank.is_none_or(|n| n > *old),
        };
        if better {
            updates.insert(base, (rank, file));
        }
    }
    for (base, (_, file)) in updates {
        let Ok(text) = read_small(&kdir.join(&file), CONTROL_FILE_MAX) else {
            continue;
        };
        let kws = text
            .lines()
            .filter(|k| !k.is_empty())
            .map(str::to_string)
            .collect();
        out.insert(base, kws);
    }
    out.retain(|_, kws| {
        kws.retain(|k| valid_keyword(k));
        !kws.is_empty()
    });
    out
}

/// `courierpop3dsizelist`: base name -> the UIDL Courier's pop3d gave.
pub fn read_pop3_uidls(dir: &Path) -> HashMap<String, String> {
    let mut out = HashMap::default();
    let Ok(text) = read_small(&dir.join(POP3_SIZELIST_FILE), INDEX_FILE_MAX) else {
        return out;
    };
    let mut lines = text.lines();
    if !lines.next().is_some_and(|h| h.starts_with("/3 ")) {
        log::warn!(
            "{}: {POP3_SIZELIST_FILE} of an unknown version: POP3 UIDLs not kept",
            dir.display()
        );
        return out;
    }
    for line in lines {
        let mut f = line.rsplitn(3, ' ');
        let (Some(id), Some(_size), Some(name)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        let mut id = id.split(':');
        let (Some(n), Some(v)) = (id.next(), id.next()) else {
            continue;
        };
        if n.parse::<u64>().is_err() || v.parse::<u64>().is_err() || out.len() >= MESSAGES_MAX {
            continue;
        }
        let base = name.split(':').next().unwrap_or_default();
        if valid_base(base) {
            out.insert(base.to_string(), format!("UID{n}-{v}"));
        }
    }
    out
}

/// `courierimapsubscribed`, in our names (`INBOX.Sent` -> `Sent`).
pub fn read_subscriptions(root: &Path) -> Option<Vec<String>> {
    let text = read_small(&root.join(SUBSCRIBED_FILE), CONTROL_FILE_MAX).ok()?;
    let mut out: Vec<String> = Vec::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let name = match line.split_once('.') {
            Some((inbox, rest)) if inbox.eq_ignore_ascii_case("INBOX") => rest,
            _ if line.eq_ignore_ascii_case("INBOX") => "INBOX",
            // Not in Courier's private namespace: not a folder of ours.
            _ => continue,
        };
        if super::names::validate(name).is_ok() && !out.iter().any(|n| n == name) {
            out.push(name.to_string());
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn uiddb_keywords_and_subscriptions_are_read() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        fs::write(
            d.join(UIDDB_FILE),
            "1 796537829 4\n1 1700000001.M1P1.host\n3 1700000003.M3P1.host:2,S\n",
        )
        .unwrap();
        let (v, next, uids) = read_uiddb(d).unwrap();
        assert_eq!((v, next), (796537829, 4));
        assert_eq!(uids["1700000001.M1P1.host"], 1);
        assert_eq!(uids["1700000003.M3P1.host"], 3);
        // A UID past the header's next one raises it; damage is refused.
        fs::write(d.join(UIDDB_FILE), "1 7 2\n9 a.host\n").unwrap();
        assert_eq!(read_uiddb(d).unwrap().1, 10);
        for bad in ["2 7 2\n", "1 0 2\n", "1 7 2\nx a.host\n", "1 7 2\n5 a/b\n"] {
            fs::write(d.join(UIDDB_FILE), bad).unwrap();
            assert!(read_uiddb(d).is_none(), "{bad:?}");
        }

        let k = d.join(KEYWORDS_DIR);
        fs::create_dir(&k).unwrap();
        fs::write(
            k.join(":list"),
            "$Work\nJunk\n\na.host:0 1\nb.host:1\nc.host:0\n",
        )
        .unwrap();
        // b: a plain update file wins over a numbered one of any rank.
        fs::write(k.join(".9.b.host"), "Old\n").unwrap();
        fs::write(k.join("b.host"), "$Label1\nJunk\n").unwrap();
        // c: the highest-numbered update.
        fs::write(k.join(".3.c.host"), "Three\n").unwrap();
        fs::write(k.join(".12.c.host"), "Twelve\n").unwrap();
        // d: an update that empties it.
        fs::write(
            k.join(":list"),
            "$Work\nJunk\n\na.host:0 1\nb.host:1\nc.host:0\nd.host:0\n",
        )
        .unwrap();
        fs::write(k.join("d.host"), "").unwrap();
        let kw = read_keywords(d);
        assert_eq!(kw["a.host"], ["$Work", "Junk"]);
        assert_eq!(kw["b.host"], ["$Label1", "Junk"]);
        assert_eq!(kw["c.host"], ["Twelve"]);
        assert!(!kw.contains_key("d.host"));

        fs::write(
            d.join(POP3_SIZELIST_FILE),
            "/3 3 1796537861\na.host:2,S 34 1:1796537861:0\nb.host:2, 34 2:1796537861:0\nbad\n",
        )
        .unwrap();
        let p = read_pop3_uidls(d);
        assert_eq!(p["a.host"], "UID1-1796537861");
        assert_eq!(p["b.host"], "UID2-1796537861");
        assert_eq!(p.len(), 2);

        fs::write(
            d.join(SUBSCRIBED_FILE),
            "INBOX.Sent\nINBOX\nINBOX.A.B\nother\n",
        )
        .unwrap();
        assert_eq!(read_subscriptions(d).unwrap(), ["Sent", "INBOX", "A.B"]);
    }
}
