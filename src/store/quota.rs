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
//!
//! The file system's own quota for the user (`filesystem`, quotactl(2))
//! is a STORAGE limit too, for Maildir and mbox alike: where both are
//! set the one with less room left is reported. The kernel enforces it
//! (a write fails with EDQUOT, which the store reports as `OverQuota`).

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

/// `Q_GETQUOTA` of `<linux/quota.h>` for user quotas: `QCMD(Q_GETQUOTA,
/// USRQUOTA)`, the command in the high bits above `SUBCMDSHIFT` (8).
const Q_GETQUOTA_USER: libc::c_uint = 0x0080_0007 << 8;
/// `QIF_BLIMITS`: `dqb_bhardlimit` and `dqb_bsoftlimit` are valid.
const QIF_BLIMITS: u32 = 1;
/// `QIF_SPACE`: `dqb_curspace` is valid.
const QIF_SPACE: u32 = 2;
/// The unit of the block limits (`QIF_DQBLKSIZE`).
const QIF_DQBLKSIZE: u64 = 1024;

/// The calling user's quota on the file system that holds `dir`: (octets
/// in use, octet limit), the hard limit or, when only that is set, the
/// soft one. Read by quotactl_fd(2) (Linux 5.14) on the directory, so no
/// device name is needed. `None` when the file system keeps no quota for
/// the user or cannot say (ESRCH, EOPNOTSUPP), or the kernel has no quota
/// support (ENOSYS).
pub fn filesystem(dir: &Path) -> Option<(u64, u64)> {
    use std::os::fd::AsRawFd;
    let f = fs::File::open(dir).ok()?;
    let fd = libc::c_uint::try_from(f.as_raw_fd()).ok()?;
    let uid = rustix::process::getuid().as_raw();
    let mut q = libc::dqblk {
        dqb_bhardlimit: 0,
        dqb_bsoftlimit: 0,
        dqb_curspace: 0,
        dqb_ihardlimit: 0,
        dqb_isoftlimit: 0,
        dqb_curinodes: 0,
        dqb_btime: 0,
        dqb_itime: 0,
        dqb_valid: 0,
    };
    // SAFETY: quotactl_fd(2) with Q_GETQUOTA writes one `struct if_dqblk`
    // (`libc::dqblk`, the same layout) to the address given, which is a
    // live, writable value of that type here; `fd` is open for the whole
    // call (`f` is dropped after it).
    #[allow(unsafe_code)]
    let r = unsafe {
        libc::syscall(
            libc::SYS_quotactl_fd,
            fd,
            Q_GETQUOTA_USER,
            uid,
            std::ptr::addr_of_mut!(q),
        )
    };
    drop(f);
    if r != 0 {
        return None;
    }
    from_dqblk(&q)
}

/// (octets in use, octet limit) of a user's quota as the kernel gives it.
fn from_dqblk(q: &libc::dqblk) -> Option<(u64, u64)> {
    if q.dqb_valid & (QIF_BLIMITS | QIF_SPACE) != QIF_BLIMITS | QIF_SPACE {
        return None;
    }
    let blocks = match q.dqb_bhardlimit {
        0 => q.dqb_bsoftlimit,
        hard => hard,
    };
    (blocks != 0).then(|| (q.dqb_curspace, blocks.saturating_mul(QIF_DQBLKSIZE)))
}

/// A user's quota: the `maildirsize` limits (`maildir`, of `read`) with
/// the file system's STORAGE limit (`fs`, of `filesystem`) beside them;
/// of two STORAGE limits the one with less room left.
pub fn with_filesystem(maildir: Option<Quota>, fs: Option<(u64, u64)>) -> Option<Quota> {
    let Some(fs) = fs else {
        return maildir;
    };
    let mut q = maildir.unwrap_or_default();
    let room = |(used, limit): (u64, u64)| limit.saturating_sub(used);
    q.storage = match q.storage {
        Some(m) if room(m) <= room(fs) => Some(m),
        _ => Some(fs),
    };
    Some(q)
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

    fn dqblk(hard: u64, soft: u64, space: u64, valid: u32) -> libc::dqblk {
        libc::dqblk {
            dqb_bhardlimit: hard,
            dqb_bsoftlimit: soft,
            dqb_curspace: space,
            dqb_ihardlimit: 0,
            dqb_isoftlimit: 0,
            dqb_curinodes: 0,
            dqb_btime: 0,
            dqb_itime: 0,
            dqb_valid: valid,
        }
    }

    #[test]
    fn the_kernels_quota_in_octets() {
        let all = 0x3f; // QIF_ALL
        assert_eq!(
            from_dqblk(&dqblk(100, 80, 5000, all)),
            Some((5000, 102_400))
        );
        // Only a soft limit: that one.
        assert_eq!(from_dqblk(&dqblk(0, 80, 5000, all)), Some((5000, 81_920)));
        // No limit, or limits the kernel did not fill in: no quota.
        assert_eq!(from_dqblk(&dqblk(0, 0, 5000, all)), None);
        assert_eq!(from_dqblk(&dqblk(100, 80, 5000, QIF_SPACE)), None);
        assert_eq!(from_dqblk(&dqblk(100, 80, 5000, QIF_BLIMITS)), None);
        assert_eq!(Q_GETQUOTA_USER, 0x8000_0700);
    }

    #[test]
    fn of_two_storage_limits_the_one_with_less_room() {
        let md = Quota {
            storage: Some((900, 1000)),
            messages: Some((3, 10)),
        };
        assert_eq!(with_filesystem(Some(md), None), Some(md));
        assert_eq!(with_filesystem(None, None), None);
        // The file system has more room left: the maildirsize limit.
        assert_eq!(with_filesystem(Some(md), Some((5000, 1_000_000))), Some(md));
        // Less: the file system's, messages still from maildirsize.
        let tight = with_filesystem(Some(md), Some((99_950, 100_000))).unwrap();
        assert_eq!(tight.storage, Some((99_950, 100_000)));
        assert_eq!(tight.messages, Some((3, 10)));
        // Only the file system's (mbox, or a Maildir without the file).
        let only = with_filesystem(None, Some((1, 2048))).unwrap();
        assert_eq!((only.storage, only.messages), (Some((1, 2048)), None));
    }

    #[test]
    fn edquot_is_over_quota() {
        let e = std::io::Error::from_raw_os_error(libc::EDQUOT);
        assert!(matches!(StoreError::from(e), StoreError::OverQuota));
    }

    #[test]
    fn no_file_system_quota_where_none_can_be_read() {
        // A path that is not there, and a file system without quotas
        // (tmpfs, /proc): no quota, no error.
        assert_eq!(filesystem(Path::new("/nonexistent/mail")), None);
        assert_eq!(filesystem(Path::new("/proc")), None);
    }

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
