//! A cache of one mbox file's parse: message offsets, sizes, UIDs and
//! flags, in `ROOT/.imap/NAME/mailaccess-mbox-index`, so that opening an
//! unchanged (or only grown) large mbox reads no message.
//!
//! It is only a cache: it names the file version it describes (device,
//! inode, size, modification time) plus checksums of the first and last
//! message's From line and header, which are checked against the file
//! under the lock before anything in it is used; anything odd and the file
//! is parsed again. The text ends with a checksum line, so a torn write is
//! never read.
//!
//! ```text
//! mailaccess-mbox-index 1
//! stamp DEV INO SIZE MTIME MTIME_NS
//! state UIDVALIDITY UIDNEXT BASE_OK CHECK_FIRST CHECK_LAST
//! kw KEYWORD...
//! m UID SYSTEM OLD PERSISTED SIZE FROM_START FROM_END HEADER_END BODY_START BODY_END DATE ZONE CRLF BLANK HIDDEN KEYWORDS
//! sum FNV1A
//! ```
//! HIDDEN is `-` or `start-end,start-end`; the message's keywords follow
//! it, separated by spaces (a keyword holds no space).

use std::fmt::Write as _;
use std::fs::{self};
use std::io::Read;
use std::path::Path;

use super::file::{Entry, Snapshot, Stamp};
use super::parse::Msg;
use crate::limits::INDEX_FILE_MAX;
use crate::store::{index::valid_keyword, Flags};

pub const CACHE_FILE: &str = "mailaccess-mbox-index";
const MAGIC: &str = "mailaccess-mbox-index 1";

fn fnv1a(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Writes the cache for `snap` (best effort: a cache that cannot be
/// written is only a slower next open).
pub fn save(ctl: &Path, snap: &Snapshot) {
    let Some(st) = &snap.stamp else {
        return;
    };
    let mut s = String::with_capacity(128 + snap.entries.len() * 96);
    let _ = writeln!(s, "{MAGIC}");
    let _ = writeln!(s, "stamp {}", st.fields());
    let _ = writeln!(
        s,
        "state {} {} {} {} {}",
        snap.uid_validity,
        snap.uid_next,
        u8::from(snap.base_ok),
        snap.check.0,
        snap.check.1
    );
    s.push_str("kw");
    for k in &snap.keywords {
        s.push(' ');
        s.push_str(k);
    }
    s.push('\n');
    for e in &snap.entries {
        let m = &e.msg;
        let _ = write!(
            s,
            "m {} {} {} {} {} {} {} {} {} {} {} {} {} {} ",
            e.uid,
            e.flags.system,
            u8::from(e.old),
            u8::from(e.persisted),
            e.size,
            m.from.start,
            m.from.end,
            m.header.end,
            m.body.start,
            m.body.end,
            m.date,
            m.zone,
            u8::from(m.crlf),
            m.blank
        );
        if m.hidden.is_empty() {
            s.push('-');
        }
        for (i, h) in m.hidden.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            let _ = write!(s, "{}-{}", h.start, h.end);
        }
        for k in &e.flags.keywords {
            s.push(' ');
            s.push_str(k);
        }
        s.push('\n');
    }
    let _ = writeln!(s, "sum {}", fnv1a(s.as_bytes()));
    // No fsync: after a crash the checksum refuses a torn file, and a lost
    // one costs a parse.
    let _ = fs::DirBuilder::new()
        .recursive(true)
        .create(ctl)
        .and_then(|()| crate::store::open::replace(&ctl.join(CACHE_FILE), s.as_bytes(), false));
}

/// Reads the cache, if it is whole; the caller checks it against the file.
pub fn load(ctl: &Path) -> Option<Snapshot> {
    let mut s = String::new();
    crate::store::open::read(&ctl.join(CACHE_FILE))
        .ok()?
        .take(INDEX_FILE_MAX)
        .read_to_string(&mut s)
        .ok()?;
    let body_end = s.rfind("sum ")?;
    let sum: u64 = s[body_end + 4..].trim().parse().ok()?;
    if fnv1a(&s.as_bytes()[..body_end]) != sum {
        return None;
    }
    let mut lines = s[..body_end].lines();
    if lines.next()? != MAGIC {
        return None;
    }
    let stamp = Stamp::from_fields(lines.next()?.strip_prefix("stamp ")?)?;
    let mut st = lines.next()?.strip_prefix("state ")?.split(' ');
    let mut n = || -> Option<u64> { st.next()?.parse().ok() };
    let uid_validity = u32::try_from(n()?).ok()?;
    let uid_next = u32::try_from(n()?).ok()?;
    let base_ok = n()? == 1;
    let check = (n()?, n()?);
    let kw = lines.next()?.strip_prefix("kw")?;
    let keywords: Vec<String> = kw
        .split(' ')
        .filter(|k| !k.is_empty())
        .map(str::to_string)
        .collect();
    if !keywords.iter().all(|k| valid_keyword(k)) {
        return None;
    }
    let mut entries: Vec<Entry> = Vec::new();
    for l in lines {
        let e = entry(l.strip_prefix("m ")?)?;
        // Every range inside the file it describes, in order, UIDs
        // ascending: a cache is never trusted to index out of bounds.
        let after_prev = entries
            .last()
            .is_none_or(|p| p.msg.body.end <= e.msg.from.start && p.uid < e.uid);
        if !after_prev || e.msg.body.end as u64 > stamp.size {
            return None;
        }
        entries.push(e);
    }
    Some(Snapshot {
        stamp: Some(stamp),
        uid_validity,
        uid_next,
        base_ok,
        keywords,
        entries,
        check,
    })
}

fn entry(l: &str) -> Option<Entry> {
    let mut w = l.split(' ');
    let mut n = || -> Option<i64> { w.next()?.parse().ok() };
    let uid = u32::try_from(n()?).ok()?;
    let system = u8::try_from(n()?).ok()?;
    let old = n()? == 1;
    let persisted = n()? == 1;
    let size = u64::try_from(n()?).ok()?;
    let mut u = || -> Option<usize> { usize::try_from(n()?).ok() };
    let (fs, fe, he, bs, be) = (u()?, u()?, u()?, u()?, u()?);
    let date = n()?;
    let zone = i32::try_from(n()?).ok()?;
    let crlf = n()? == 1;
    let blank = usize::try_from(n()?).ok()?;
    let hidden_s = w.next()?;
    let mut hidden = Vec::new();
    if hidden_s != "-" {
        for h in hidden_s.split(',') {
            let (a, b) = h.split_once('-')?;
            let (a, b): (usize, usize) = (a.parse().ok()?, b.parse().ok()?);
            if a > b || a < fe || b > he {
                return None;
            }
            hidden.push(a..b);
        }
    }
    let mut flags = Flags {
        system,
        keywords: Vec::new(),
    };
    for k in w.filter(|k| !k.is_empty()) {
        if !valid_keyword(k) {
            return None;
        }
        flags.insert_keyword(k);
    }
    if !(fs < fe && fe <= he && he <= bs && bs <= be) {
        return None;
    }
    Some(Entry {
        uid,
        flags: flags.clone(),
        old,
        persisted,
        size,
        msg: Msg {
            from: fs..fe,
            header: fe..he,
            body: bs..be,
            hidden,
            uid: persisted.then_some(uid),
            flags,
            old,
            date,
            zone,
            crlf,
            blank,
        },
    })
}
