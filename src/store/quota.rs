//! Maildir++ quota: the `maildirsize` file at the top of a Maildir, as
//! Courier's `maildirmake -q`, maildrop, `deliverquota` and Dovecot's
//! `quota = maildir` write and read it (RFC 9208 QUOTA's data):
//!
//! ```text
//! 1000000S,100C          the limits: octets (S) and messages (C)
//!           0            0    then lines of changes: octets, messages
//!          18            1    (a delivery; an expunge writes negatives)
//! ```
//!
//! The use is the sum of the lines. Each change is one appended line (one
//! write(2) with O_APPEND, as the other programs do). When the file has
//! grown past `MAILDIRSIZE_RECOUNT` octets, or a line cannot be read, the
//! use is counted again from the messages of every folder (their `S=`
//! size, or the file's) and the file replaced by the limits and that one
//! line; a user without the file has no quota.

use std::fs;
use std::io::Write;
use std::path::Path;

use super::{open, Result, StoreError};
use crate::limits::{MAILDIRSIZE_FILE_MAX, MAILDIRSIZE_RECOUNT};

pub const MAILDIRSIZE: &str = "maildirsize";

/// A user's limits and use; each resource `None` when it has no limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Quota {
    /// (octets used, octet limit)
    pub storage: Option<(u64, u64)>,
    /// (messages, message limit)
    pub messages: Option<(u64, u64)>,
}

/// The quota of the Maildir at `root`; `None` without a `maildirsize`
/// (or with one that sets no limit).
pub fn read(root: &Path) -> Result<Option<Quota>> {
    let path = root.join(MAILDIRSIZE);
    let text = match open::read_small(&path, MAILDIRSIZE_FILE_MAX) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        // Grown past all bounds, or not a file: counted again below.
        Err(_) => String::new(),
    };
    let mut lines = text.lines();
    let limits = match lines.next().and_then(limits) {
        Some(l) => l,
        None if text.is_empty() => match recover_limits(&path) {
            Some(l) => l,
            None => return Ok(None),
        },
        None => return Ok(None),
    };
    if limits == (None, None) {
        return Ok(None);
    }
    let sum = lines.try_fold((0i64, 0i64), |(b, c), l| {
        let mut w = l.split_whitespace().map(str::parse::<i64>);
        match (w.next(), w.next(), w.next()) {
            (Some(Ok(x)), Some(Ok(y)), None) => Some((b.saturating_add(x), c.saturating_add(y))),
            _ => None,
        }
    });
    let (bytes, count) = match sum {
        Some(s) if text.len() as u64 <= MAILDIRSIZE_RECOUNT => s,
        _ => recount(root, limits)?,
    };
    let used = |n: i64| u64::try_from(n).unwrap_or(0);
    Ok(Some(Quota {
        storage: limits.0.map(|l| (used(bytes), l)),
        messages: limits.1.map(|l| (used(count), l)),
    }))
}

/// Refuses (`OverQuota`) adding `bytes` in `count` messages to the
/// Maildir at `root` when that would pass one of its limits.
pub fn check(root: &Path, bytes: u64, count: u64) -> Result<()> {
    let Some(q) = read(root)? else {
        return Ok(());
    };
    let over = |r: Option<(u64, u64)>, add: u64| r.is_some_and(|(u, l)| u.saturating_add(add) > l);
    if over(q.storage, bytes) || over(q.messages, count) {
        return Err(StoreError::OverQuota);
    }
    Ok(())
}

/// Notes a change of `bytes` in `count` messages (negative for an
/// expunge) in the Maildir's `maildirsize`, when it has one. A failure is
/// logged: the next recount puts it right.
pub fn record(root: &Path, bytes: i64, count: i64) {
    if (bytes, count) == (0, 0) {
        return;
    }
    let path = root.join(MAILDIRSIZE);
    let r = open::regular(&path, fs::OpenOptions::new().append(true))
        .and_then(|mut f| f.write_all(format!("{bytes:>12} {count:>12}\n").as_bytes()));
    match r {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => log::warn!("{}: {e}", path.display()),
    }
}

/// After a change `record` cannot describe (a folder deleted): the use
/// counted again, if the Maildir has a quota.
pub fn recount_now(root: &Path) {
    let path = root.join(MAILDIRSIZE);
    if let Ok(text) = open::read_small(&path, MAILDIRSIZE_FILE_MAX) {
        if let Some(l) = text.lines().next().and_then(limits) {
            if let Err(e) = recount(root, l) {
                log::warn!("{}: {e}", path.display());
            }
        }
    }
}

/// The first line: `<n>S` and `<n>C` separated by commas (either may be
/// missing; other letters, such as Courier's old `<n>M`, are ignored).
fn limits(line: &str) -> Option<(Option<u64>, Option<u64>)> {
    let mut out = (None, None);
    for part in line.trim().split(',').filter(|p| !p.is_empty()) {
        let (n, unit) = part.split_at(part.len().checked_sub(1)?);
        let n: u64 = n.parse().ok()?;
        match unit {
            "S" => out.0 = Some(n),
            "C" => out.1 = Some(n),
            _ => {}
        }
    }
    Some(out)
}

/// The limits of a file too large to read whole: its first line.
fn recover_limits(path: &Path) -> Option<(Option<u64>, Option<u64>)> {
    let f = open::read(path).ok()?;
    let mut first = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(std::io::Read::take(
            f,
            crate::limits::MAILDIRSIZE_LIMITS_LINE_MAX,
        )),
        &mut first,
    )
    .ok()?;
    limits(&first)
}

/// Counts the use from the messages and writes the file anew: the
/// limits, then one line of the totals.
fn recount(root: &Path, limits: (Option<u64>, Option<u64>)) -> Result<(i64, i64)> {
    let mut first = Vec::new();
    if let Some(s) = limits.0 {
        first.push(format!("{s}S"));
    }
    if let Some(c) = limits.1 {
        first.push(format!("{c}C"));
    }
    let first = first.join(",");
    let (mut bytes, mut count) = (0i64, 0i64);
    let mut folders = vec![root.to_path_buf()];
    for e in fs::read_dir(root)?.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') && name != "." && name != ".." && e.file_type()?.is_dir() {
            folders.push(e.path());
        }
    }
    for folder in folders {
        for sub in ["cur", "new"] {
            let Ok(entries) = fs::read_dir(folder.join(sub)) else {
                continue;
            };
            for e in entries.flatten() {
                let name = e.file_name();
                let name = name.to_string_lossy();
                if name.starts_with('.') {
                    continue;
                }
                let size = stored_size(&name)
                    .or_else(|| e.metadata().ok().filter(|m| m.is_file()).map(|m| m.len()));
                if let Some(s) = size {
                    bytes = bytes.saturating_add(i64::try_from(s).unwrap_or(i64::MAX));
                    count += 1;
                }
            }
        }
    }
    let data = format!("{first}\n{bytes:>12} {count:>12}\n");
    open::replace(&root.join(MAILDIRSIZE), data.as_bytes(), false)?;
    Ok((bytes, count))
}

/// The `,S=<octets>` of a Maildir++ file name (the Maildir store's own
/// reading of names).
pub fn stored_size(name: &str) -> Option<u64> {
    super::maildir::stored_size(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn maildir(root: &Path, files: &[(&str, &str, usize)]) {
        for sub in ["cur", "new", "tmp"] {
            fs::create_dir_all(root.join(sub)).unwrap();
        }
        for (folder, name, len) in files {
            let dir = if folder.is_empty() {
                root.to_path_buf()
            } else {
                root.join(folder)
            };
            fs::create_dir_all(dir.join("cur")).unwrap();
            fs::write(dir.join("cur").join(name), vec![b'x'; *len]).unwrap();
        }
    }

    #[test]
    fn sums_lines_checks_limits_and_recounts() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        maildir(
            root,
            &[
                ("", "1.a,S=100:2,S", 5),
                ("", "2.b:2,", 7),
                (".Sent", "3.c,S=50", 1),
            ],
        );
        assert_eq!(read(root).unwrap(), None);
        record(root, 10, 1);
        assert!(!root.join(MAILDIRSIZE).exists());
        fs::write(
            root.join(MAILDIRSIZE),
            "1000S,4C\n           0            0\n",
        )
        .unwrap();
        record(root, 150, 2);
        let q = read(root).unwrap().unwrap();
        assert_eq!(q.storage, Some((150, 1000)));
        assert_eq!(q.messages, Some((2, 4)));
        check(root, 850, 2).unwrap();
        assert!(matches!(check(root, 851, 1), Err(StoreError::OverQuota)));
        assert!(matches!(check(root, 1, 3), Err(StoreError::OverQuota)));
        record(root, -150, -2);
        assert_eq!(read(root).unwrap().unwrap().storage, Some((0, 1000)));
        // A damaged line: counted from the files (S= where named).
        let mut f = fs::OpenOptions::new()
            .append(true)
            .open(root.join(MAILDIRSIZE))
            .unwrap();
        f.write_all(b"garbage\n").unwrap();
        let q = read(root).unwrap().unwrap();
        assert_eq!(q.storage, Some((157, 1000)));
        assert_eq!(q.messages, Some((3, 4)));
        let text = fs::read_to_string(root.join(MAILDIRSIZE)).unwrap();
        assert!(text.starts_with("1000S,4C\n"), "{text}");
        assert_eq!(text.lines().count(), 2, "{text}");
        // Grown past the bound: counted again too.
        let mut big = String::from("1000S\n");
        while (big.len() as u64) <= MAILDIRSIZE_RECOUNT {
            big.push_str("  1 1\n");
        }
        fs::write(root.join(MAILDIRSIZE), big).unwrap();
        let q = read(root).unwrap().unwrap();
        assert_eq!(
            q,
            Quota {
                storage: Some((157, 1000)),
                messages: None
            }
        );
    }

    #[test]
    fn limit_lines() {
        assert_eq!(limits("1000000S,100C"), Some((Some(1000000), Some(100))));
        assert_eq!(limits("5000S"), Some((Some(5000), None)));
        assert_eq!(limits("100C,2000000M"), Some((None, Some(100))));
        assert_eq!(limits("x"), None);
        assert_eq!(stored_size("123.M1P2.host,S=4567,W=4600:2,S"), Some(4567));
        assert_eq!(stored_size("123.M1P2.host:2,S"), None);
    }
}
