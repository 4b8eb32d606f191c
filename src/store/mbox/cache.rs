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
//!
//! A rewrite in place (flags changed, the same messages) writes only the
//! entries that changed, into `mailaccess-mbox-index.delta`: its `base`
//! line names the cache's stamp, then come the new stamp, state and
//! keyword lines and the changed `m` lines, and a checksum. A delta of
//! another cache is ignored; one past a sixteenth of the messages is
//! folded into a new cache.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::{self};
use std::io::Read;
use std::path::Path;

use super::file::{Entry, Snapshot, Stamp};
use super::parse::Msg;
use crate::limits::{INDEX_FILE_MAX, MBOX_CACHE_DELTA_MIN};
use crate::store::{flag, index::valid_keyword, Flags};

pub const CACHE_FILE: &str = "mailaccess-mbox-index";
const MAGIC: &str = "mailaccess-mbox-index 1";
/// Changes since the cache was written whole (`save_change`).
pub const DELTA_FILE: &str = "mailaccess-mbox-index.delta";
const DELTA_MAGIC: &str = "mailaccess-mbox-delta 1";

fn fnv1a(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The header lines of the cache and of a delta: stamp, state, keywords.
fn head(s: &mut String, st: &Stamp, snap: &Snapshot) {
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
}

/// One `m` line.
fn entry_line(s: &mut String, e: &Entry) {
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

/// Writes `text` and its checksum line as `file` in `ctl`. No fsync:
/// after a crash the checksum refuses a torn file, and a lost one costs a
/// parse.
fn write_summed(ctl: &Path, file: &str, mut text: String) {
    let sum = fnv1a(text.as_bytes());
    let _ = writeln!(text, "sum {sum}");
    let _ = fs::DirBuilder::new()
        .recursive(true)
        .create(ctl)
        .and_then(|()| crate::store::open::replace(&ctl.join(file), text.as_bytes(), false));
}

/// Writes the cache for `snap` (best effort: a cache that cannot be
/// written is only a slower next open), and no delta.
pub fn save(ctl: &Path, snap: &Snapshot) {
    let Some(st) = &snap.stamp else {
        return;
    };
    let mut s = String::with_capacity(128 + snap.entries.len() * 96);
    let _ = writeln!(s, "{MAGIC}");
    head(&mut s, st, snap);
    for e in &snap.entries {
        entry_line(&mut s, e);
    }
    write_summed(ctl, CACHE_FILE, s);
    let _ = fs::remove_file(ctl.join(DELTA_FILE));
}

/// Records a rewrite of the file from the version of stamp `before` to
/// `after`. `touched`: `after` holds the same messages as that version at
/// the same places, and only the entries of these indices were written
/// (the others are that version's, unchanged). When the cache and delta on
/// disk describe that version, the touched entries go into the delta file
/// `DELTA_FILE` (merged with the delta already there): a STORE on a big
/// mbox writes a few lines and reads neither the cache nor the other
/// entries. Otherwise, or when the delta would pass a sixteenth of the
/// messages (`MBOX_CACHE_DELTA_MIN` at least), the whole cache.
pub fn save_change(
    ctl: &Path,
    before: Option<&Stamp>,
    after: &Snapshot,
    touched: Option<&[usize]>,
) {
    let (Some(st), Some(before), Some(touched)) = (&after.stamp, before, touched) else {
        return save(ctl, after);
    };
    let Some((cache_st, delta)) = current(ctl).filter(|(_, d)| d.stamp.as_ref() == Some(before))
    else {
        return save(ctl, after);
    };
    let mut lines = delta.lines;
    for e in touched.iter().filter_map(|&i| after.entries.get(i)) {
        let mut l = String::new();
        entry_line(&mut l, e);
        lines.insert(e.uid, l);
    }
    if lines.len() > MBOX_CACHE_DELTA_MIN.max(after.entries.len() / 16) {
        return save(ctl, after);
    }
    let mut s = String::with_capacity(128 + lines.len() * 96);
    let _ = writeln!(s, "{DELTA_MAGIC}");
    let _ = writeln!(s, "base {}", cache_st.fields());
    head(&mut s, st, after);
    for l in lines.values() {
        s.push_str(l);
    }
    write_summed(ctl, DELTA_FILE, s);
}

/// What the delta file holds: the file version it brings the cache to,
/// and its `m` lines by UID.
struct Delta {
    stamp: Option<Stamp>,
    state: String,
    kw: String,
    lines: BTreeMap<u32, String>,
}

/// Reads a whole, checksummed file of `ctl`.
fn read_summed(ctl: &Path, file: &str) -> Option<String> {
    let mut s = String::new();
    crate::store::open::read(&ctl.join(file))
        .ok()?
        .take(INDEX_FILE_MAX)
        .read_to_string(&mut s)
        .ok()?;
    summed(s)
}

/// `s` without its checksum line, if the checksum is right.
fn summed(mut s: String) -> Option<String> {
    let body_end = s.rfind("sum ")?;
    // Exactly as `write_summed` ends it: digits and a line end.
    let digits = s[body_end + 4..].strip_suffix('\n')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let sum: u64 = digits.parse().ok()?;
    if fnv1a(&s.as_bytes()[..body_end]) != sum {
        return None;
    }
    s.truncate(body_end);
    Some(s)
}

/// The cache's stamp, and the delta over it (an empty one when there is
/// none or it is not of this cache): together, the file version the two
/// describe.
fn current(ctl: &Path) -> Option<(Stamp, Delta)> {
    // The cache's first two lines only.
    let mut head = [0u8; 256];
    let f = crate::store::open::read(&ctl.join(CACHE_FILE)).ok()?;
    let n = std::os::unix::fs::FileExt::read_at(&f, &mut head, 0).ok()?;
    let text = std::str::from_utf8(&head[..n]).ok()?;
    let mut lines = text.lines();
    if lines.next()? != MAGIC {
        return None;
    }
    let base = Stamp::from_fields(lines.next()?.strip_prefix("stamp ")?)?;
    let delta = read_delta(ctl, &base).unwrap_or_else(|| Delta {
        stamp: Some(base.clone()),
        state: String::new(),
        kw: String::new(),
        lines: BTreeMap::new(),
    });
    Some((base, delta))
}

/// The delta over the cache of stamp `base`, if there is a whole one.
fn read_delta(ctl: &Path, base: &Stamp) -> Option<Delta> {
    parse_delta(&read_summed(ctl, DELTA_FILE)?, base)
}

fn parse_delta(s: &str, base: &Stamp) -> Option<Delta> {
    let mut lines = s.lines();
    if lines.next()? != DELTA_MAGIC
        || Stamp::from_fields(lines.next()?.strip_prefix("base ")?)? != *base
    {
        return None;
    }
    let stamp = Stamp::from_fields(lines.next()?.strip_prefix("stamp ")?)?;
    let state = lines.next()?.strip_prefix("state ")?.to_string();
    let kw = lines.next()?.strip_prefix("kw")?.to_string();
    let mut out = BTreeMap::new();
    for l in lines {
        let uid = l.strip_prefix("m ")?.split(' ').next()?.parse().ok()?;
        out.insert(uid, format!("{l}\n"));
    }
    Some(Delta {
        stamp: Some(stamp),
        state,
        kw,
        lines: out,
    })
}

/// Reads the cache, if it is whole; the caller checks it against the file.
pub fn load(ctl: &Path) -> Option<Snapshot> {
    let s = read_summed(ctl, CACHE_FILE)?;
    parse(&s, |base| read_delta(ctl, base))
}

/// Reads `cache` and `delta` (any bytes) as the cache and its delta file;
/// for the fuzz target and the corpus test (`tests/index_corpus.rs`).
/// Damage is refused, never a panic. Returns how many messages were read
/// and how many of them are `\Seen`, if any were.
pub fn read_any(cache: &[u8], delta: &[u8]) -> Option<(usize, usize)> {
    let text = |b: &[u8]| String::from_utf8(b.to_vec()).ok().and_then(summed);
    let delta = text(delta);
    let snap = parse(&text(cache)?, |base| parse_delta(delta.as_ref()?, base))?;
    let seen = snap.entries.iter().filter(|e| e.flags.has(flag::SEEN));
    Some((snap.entries.len(), seen.count()))
}

/// The cache's text, with the delta `delta` finds over its stamp.
fn parse(s: &str, delta: impl FnOnce(&Stamp) -> Option<Delta>) -> Option<Snapshot> {
    let mut lines = s.lines();
    if lines.next()? != MAGIC {
        return None;
    }
    let mut stamp = Stamp::from_fields(lines.next()?.strip_prefix("stamp ")?)?;
    let mut state = lines.next()?.strip_prefix("state ")?.to_string();
    let mut kw = lines.next()?.strip_prefix("kw")?.to_string();
    let delta = delta(&stamp);
    if let Some(d) = &delta {
        stamp = d.stamp.clone()?;
        state = d.state.clone();
        kw = d.kw.clone();
    }
    let mut st = state.split(' ');
    let mut n = || -> Option<u64> { st.next()?.parse().ok() };
    let uid_validity = u32::try_from(n()?).ok()?;
    let uid_next = u32::try_from(n()?).ok()?;
    let base_ok = n()? == 1;
    let check = (n()?, n()?);
    let keywords: Vec<String> = kw
        .split(' ')
        .filter(|k| !k.is_empty())
        .map(str::to_string)
        .collect();
    if !keywords.iter().all(|k| valid_keyword(k)) {
        return None;
    }
    let mut entries: Vec<Entry> = Vec::new();
    let mut changed = delta.map(|d| d.lines).unwrap_or_default();
    for l in lines {
        let mut e = entry(l.strip_prefix("m ")?)?;
        if let Some(d) = changed.remove(&e.uid) {
            e = entry(d.trim_end().strip_prefix("m ")?)?;
        }
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
    if !changed.is_empty() {
        return None; // a delta naming messages the cache has not
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
