//! A cache of one mbox file's parse: message offsets, sizes, UIDs and
//! flags, in `ROOT/.imap/NAME/mailaccess-mbox-index`, so that opening an
//! unchanged (or only grown) large mbox reads no message.
//!
//! It is only a cache: it names the file version it describes (device,
//! inode, size, modification time) plus checksums of the first and last
//! message's From line and header, which are checked against the file
//! under the lock before anything in it is used; anything odd and the file
//! is parsed again. A few text lines, then one binary record a message,
//! then the checksum of everything before it, so a torn write is never
//! read:
//!
//! ```text
//! mailaccess-mbox-index 4
//! stamp DEV INO SIZE MTIME MTIME_NS
//! state UIDVALIDITY UIDNEXT BASE_OK CHECK_FIRST CHECK_LAST
//! kw KEYWORD...
//! count N
//! RECORD...  (N of 40 octets, little-endian, see `put_fixed`)
//! KEYWORDS   (of each record with any, in order, see `put_keywords`)
//! SUM        (8 octets: `sum64` of everything before it)
//! ```
//!
//! Binary and not text because a re-open of a big mbox reads the whole
//! cache: on 50,000 messages the text form (version 1) took half of the
//! open to read, check and parse. Version 4 keeps 40 octets a message
//! (where a message is, its size, date, UID and flags; its header is read
//! again from the file when needed) in records of one size, so that a
//! session reads its entries from the cache a window at a time instead of
//! holding them (`entries.rs`); version 3 had each record's keywords in
//! it, version 2 kept every part's place. An older cache is not read: the
//! file is parsed once more and the cache written again (UIDs are in the
//! file).
//!
//! A rewrite in place (flags changed, the same messages) writes only the
//! entries that changed, into `mailaccess-mbox-index.delta`: its `base`
//! line names the cache's stamp, then come the new stamp, state and
//! keyword lines and the changed records, and a checksum. A delta of
//! another cache is ignored; one past a sixteenth of the messages is
//! folded into a new cache.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::{self};
use std::io::{self, BufWriter, Read, Write};
use std::path::Path;
use std::sync::Arc;

use super::entries::{Entries, Records};
use super::file::{Entry, Snapshot, Stamp};
use crate::limits::{INDEX_FILE_MAX, MBOX_CACHE_DELTA_MIN, MBOX_CACHE_WINDOW, MBOX_ENTRIES_WINDOW};
use crate::store::sum::{sum64, Sum64};
use crate::store::Uid;
use crate::store::{flag, index::valid_keyword, Flags};

pub const CACHE_FILE: &str = "mailaccess-mbox-index";
const MAGIC: &str = "mailaccess-mbox-index 4";
/// Changes since the cache was written whole (`save_change`).
pub const DELTA_FILE: &str = "mailaccess-mbox-index.delta";
const DELTA_MAGIC: &str = "mailaccess-mbox-delta 3";

/// Writes through to `W`, summing what it writes.
struct SumWriter<W: Write> {
    w: W,
    sum: Sum64,
}

impl<W: Write> Write for SumWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.w.write(buf)?;
        self.sum.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.w.flush()
    }
}

/// A checksummed file (`write_summed`) of `len` octets, read a window at a
/// time: a cache of many messages is never in memory whole. The checksum
/// is known only at the end (`finish`): what was read must not be used
/// before.
struct Summed<R: Read> {
    r: R,
    /// Octets before the checksum not read yet.
    left: u64,
    buf: Vec<u8>,
    /// Where the reader is in `buf`.
    pos: usize,
    sum: Sum64,
    /// How much is read at least at a time.
    window: usize,
}

impl<R: Read> Summed<R> {
    fn new(r: R, len: u64) -> Option<Summed<R>> {
        Some(Summed {
            r,
            left: len.checked_sub(8)?,
            buf: Vec::new(),
            pos: 0,
            sum: Sum64::new(),
            window: MBOX_CACHE_WINDOW,
        })
    }

    /// The octets from the read position on: at least `n` of them, or all
    /// that are left.
    fn fill(&mut self, n: usize) -> Option<&[u8]> {
        if self.buf.len() - self.pos < n && self.left > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
            let want = n.max(self.window) - self.buf.len();
            let take = usize::try_from(self.left.min(want as u64)).ok()?;
            let at = self.buf.len();
            self.buf.resize(at + take, 0);
            self.r.read_exact(&mut self.buf[at..]).ok()?;
            self.sum.update(&self.buf[at..]);
            self.left -= take as u64;
        }
        Some(&self.buf[self.pos..])
    }

    /// The octets before the checksum not consumed yet.
    fn unread(&self) -> u64 {
        self.left + (self.buf.len() - self.pos) as u64
    }

    fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.buf.len());
    }

    /// At the end of what the checksum covers, whether it is right.
    fn finish(&mut self) -> Option<()> {
        if self.left > 0 || self.pos != self.buf.len() {
            return None;
        }
        let mut sum = [0u8; 8];
        self.r.read_exact(&mut sum).ok()?;
        let ours = std::mem::take(&mut self.sum).finish();
        (ours == u64::from_le_bytes(sum)).then_some(())
    }
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

/// One entry's record (`RECORD_FIXED` octets): UID (u32), system flags
/// (u8), bits (u8, as `Entry::record` gives them: `Status: O`, persisted,
/// the separator's length, empty body, CRLF), keyword count (u16), size,
/// start, body end (u64s), date and zone (i64, as `Entry` packs them).
/// None for what does not fit (the cache is not written).
fn put_fixed(out: &mut Vec<u8>, e: &Entry, keywords: usize) -> Option<()> {
    let (uid, system, bits, fields) = e.record();
    out.extend_from_slice(&uid.to_le_bytes());
    out.push(system);
    out.push(bits);
    out.extend_from_slice(&u16::try_from(keywords).ok()?.to_le_bytes());
    for f in fields {
        out.extend_from_slice(&f.to_le_bytes());
    }
    Some(())
}

/// A record's keywords: each as a u8 length and its octets.
fn put_keywords(out: &mut Vec<u8>, keywords: &[String]) -> Option<()> {
    for k in keywords {
        out.push(u8::try_from(k.len()).ok()?);
        out.extend_from_slice(k.as_bytes());
    }
    Some(())
}

/// A delta's record: the fixed part and the keywords after it.
fn put_entry(out: &mut Vec<u8>, e: &Entry, keywords: &[String]) -> Option<()> {
    put_fixed(out, e, keywords.len())?;
    put_keywords(out, keywords)
}

/// Writes the text lines `text`, the records `records` writes and their
/// checksum as `file` in `ctl`, through a buffer (a cache of many messages
/// is never in memory whole). No fsync: after a crash the checksum refuses
/// a torn file, and a lost one costs a parse. The file written (a second
/// descriptor, to read it again), if it was.
fn write_summed(
    ctl: &Path,
    file: &str,
    text: &str,
    records: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Option<fs::File> {
    let mut kept = None;
    fs::DirBuilder::new()
        .recursive(true)
        .create(ctl)
        .and_then(|()| {
            crate::store::open::replace_with(&ctl.join(file), false, |f| {
                kept = Some(f.try_clone()?);
                let mut w = SumWriter {
                    w: BufWriter::with_capacity(MBOX_CACHE_WINDOW, f),
                    sum: Sum64::new(),
                };
                w.write_all(text.as_bytes())?;
                records(&mut w)?;
                let sum = w.sum.finish();
                w.w.write_all(&sum.to_le_bytes())?;
                w.w.flush()
            })
        })
        .ok()
        .and(kept)
}

/// Writes the cache for `snap` (best effort: a cache that cannot be
/// written is only a slower next open), and no delta. When the file says
/// what the session has (as after a parse or a rewrite), `snap`'s entries
/// are then read from the cache written, not the heap.
pub fn save(ctl: &Path, snap: &mut Snapshot) {
    let Some(st) = &snap.stamp else {
        return;
    };
    let n = snap.entries.len();
    let mut s = String::with_capacity(128);
    let _ = writeln!(s, "{MAGIC}");
    head(&mut s, st, snap);
    let _ = writeln!(s, "count {n}");
    let mut marks = Vec::with_capacity(n.div_ceil(MBOX_ENTRIES_WINDOW));
    // Whether each record reads back as the entry it was written from,
    // and whether all are persisted and old.
    let mut faithful = true;
    let mut said = true;
    let snap_ = &*snap;
    // A cache that cannot say every entry is not written: the old one
    // (naming another version) goes, so that it is not read in vain.
    let written = write_summed(ctl, CACHE_FILE, &s, |w| {
        let bad = || io::Error::from(io::ErrorKind::InvalidData);
        let mut r = Vec::with_capacity(RECORD_FIXED);
        // The messages with keywords, whose keywords follow the records.
        let mut with_kw: Vec<Uid> = Vec::new();
        for (i, e) in snap_.entries.iter().enumerate() {
            r.clear();
            let k = snap_.keywords_of(&e, 0);
            put_fixed(&mut r, &e, k.len()).ok_or_else(bad)?;
            faithful &= fixed(&r) == Some(e);
            said &= e.persisted() && e.old();
            if i % MBOX_ENTRIES_WINDOW == 0 {
                marks.push(e.uid);
            }
            if !k.is_empty() {
                with_kw.push(e.uid);
            }
            w.write_all(&r)?;
        }
        for uid in with_kw {
            r.clear();
            put_keywords(&mut r, snap_.kw.get(&uid).map_or(&[], |k| &k[0][..])).ok_or_else(bad)?;
            w.write_all(&r)?;
        }
        Ok(())
    });
    match written {
        Some(f) if faithful && n > 0 => {
            let records = Records::new(f, s.len() as u64, n, RECORD_FIXED, fixed);
            snap.entries = Entries::over(Arc::new(records), marks, said);
        }
        Some(_) => {}
        None => {
            let _ = fs::remove_file(ctl.join(CACHE_FILE));
        }
    }
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
    after: &mut Snapshot,
    touched: Option<&[usize]>,
) {
    let (Some(st), Some(before), Some(touched)) = (&after.stamp, before, touched) else {
        return save(ctl, after);
    };
    let Some((cache_st, delta)) = current(ctl).filter(|(_, d)| d.stamp.as_ref() == Some(before))
    else {
        return save(ctl, after);
    };
    let mut records = delta.records;
    for e in touched.iter().filter_map(|&i| after.entries.get(i)) {
        let mut r = Vec::new();
        if put_entry(&mut r, &e, after.keywords_of(&e, 0)).is_none() {
            return save(ctl, after);
        }
        records.insert(e.uid, r);
    }
    if records.len() > MBOX_CACHE_DELTA_MIN.max(after.entries.len() / 16) {
        return save(ctl, after);
    }
    let mut s = String::with_capacity(256);
    let _ = writeln!(s, "{DELTA_MAGIC}");
    let _ = writeln!(s, "base {}", cache_st.fields());
    head(&mut s, st, after);
    write_summed(ctl, DELTA_FILE, &s, |w| {
        records.values().try_for_each(|r| w.write_all(r))
    });
}

/// What the delta file holds: the file version it brings the cache to,
/// and its records by UID.
struct Delta {
    stamp: Option<Stamp>,
    state: String,
    kw: String,
    records: BTreeMap<u32, Vec<u8>>,
}

/// Reads a whole, checksummed file of `ctl`.
fn read_summed(ctl: &Path, file: &str) -> Option<Vec<u8>> {
    let mut s = Vec::new();
    crate::store::open::read(&ctl.join(file))
        .ok()?
        .take(INDEX_FILE_MAX)
        .read_to_end(&mut s)
        .ok()?;
    summed(s)
}

/// `s` without its checksum, if the checksum is right.
fn summed(mut s: Vec<u8>) -> Option<Vec<u8>> {
    let body_end = s.len().checked_sub(8)?;
    let mut sum = [0u8; 8];
    sum.copy_from_slice(&s[body_end..]);
    if sum64(&s[..body_end]) != u64::from_le_bytes(sum) {
        return None;
    }
    s.truncate(body_end);
    Some(s)
}

/// The first `n` lines of `data` (text), and the octets after them.
fn lines(data: &[u8], n: usize) -> Option<(Vec<&str>, &[u8])> {
    let mut out = Vec::with_capacity(n);
    let mut rest = data;
    for _ in 0..n {
        let end = rest.iter().position(|&b| b == b'\n')?;
        out.push(std::str::from_utf8(&rest[..end]).ok()?);
        rest = &rest[end + 1..];
    }
    Some((out, rest))
}

/// The cache's stamp, and the delta over it (an empty one when there is
/// none or it is not of this cache): together, the file version the two
/// describe.
fn current(ctl: &Path) -> Option<(Stamp, Delta)> {
    // The cache's first two lines only.
    let mut head = [0u8; 256];
    let f = crate::store::open::read(&ctl.join(CACHE_FILE)).ok()?;
    let n = std::os::unix::fs::FileExt::read_at(&f, &mut head, 0).ok()?;
    let (l, _) = lines(&head[..n], 2)?;
    if l[0] != MAGIC {
        return None;
    }
    let base = Stamp::from_fields(l[1].strip_prefix("stamp ")?)?;
    let delta = read_delta(ctl, &base).unwrap_or_else(|| Delta {
        stamp: Some(base.clone()),
        state: String::new(),
        kw: String::new(),
        records: BTreeMap::new(),
    });
    Some((base, delta))
}

/// The delta over the cache of stamp `base`, if there is a whole one.
fn read_delta(ctl: &Path, base: &Stamp) -> Option<Delta> {
    parse_delta(&read_summed(ctl, DELTA_FILE)?, base)
}

fn parse_delta(s: &[u8], base: &Stamp) -> Option<Delta> {
    let (l, mut rest) = lines(s, 5)?;
    if l[0] != DELTA_MAGIC || Stamp::from_fields(l[1].strip_prefix("base ")?)? != *base {
        return None;
    }
    let stamp = Stamp::from_fields(l[2].strip_prefix("stamp ")?)?;
    let state = l[3].strip_prefix("state ")?.to_string();
    let kw = l[4].strip_prefix("kw")?.to_string();
    let mut out = BTreeMap::new();
    while !rest.is_empty() {
        let len = record_len(rest)?;
        let (r, more) = rest.split_at(len);
        let uid = u32::from_le_bytes(r[..4].try_into().ok()?);
        out.insert(uid, r.to_vec());
        rest = more;
    }
    Some(Delta {
        stamp: Some(stamp),
        state,
        kw,
        records: out,
    })
}

/// Reads the cache, if it is whole; the caller checks it against the file.
/// The file is read a window at a time (it is replaced by renaming, never
/// written in place, so the one opened stays whole), and the snapshot's
/// entries are read from it again when needed (`entries.rs`).
pub fn load(ctl: &Path) -> Option<Snapshot> {
    let f = crate::store::open::read(&ctl.join(CACHE_FILE)).ok()?;
    let len = f.metadata().ok()?.len();
    if len > INDEX_FILE_MAX {
        return None;
    }
    let keep = f.try_clone().ok()?;
    parse(
        &mut Summed::new(&f, len)?,
        |base| read_delta(ctl, base),
        Some(keep),
    )
}

/// Reads `cache` and `delta` (any bytes) as the cache and its delta file;
/// for the fuzz target and the corpus test (`tests/index_corpus.rs`).
/// Damage is refused, never a panic. Returns how many messages were read
/// and how many of them are `\Seen`, if any were.
pub fn read_any(cache: &[u8], delta: &[u8]) -> Option<(usize, usize)> {
    let delta = summed(delta.to_vec());
    let mut s = Summed::new(cache, cache.len() as u64)?;
    let snap = parse(&mut s, |base| parse_delta(delta.as_ref()?, base), None)?;
    let seen = snap.entries.iter().filter(|e| e.has(flag::SEEN));
    Some((snap.entries.len(), seen.count()))
}

/// The cache read from `s`, with the delta `delta` finds over its stamp;
/// nothing unless the checksum at its end is right. Its entries are read
/// again from `keep` (the file `s` reads) when given, else kept in the
/// heap.
fn parse<R: Read>(
    s: &mut Summed<R>,
    delta: impl FnOnce(&Stamp) -> Option<Delta>,
    keep: Option<fs::File>,
) -> Option<Snapshot> {
    let l = head_lines_n(s, 5)?;
    if l[0] != MAGIC {
        return None;
    }
    // Where the records start: after the text lines.
    let at: usize = l.iter().map(|l| l.len() + 1).sum();
    let mut stamp = Stamp::from_fields(l[1].strip_prefix("stamp ")?)?;
    let mut state = l[2].strip_prefix("state ")?;
    let mut kw = l[3].strip_prefix("kw")?;
    let n: usize = l[4].strip_prefix("count ")?.parse().ok()?;
    // Records that cannot all be in the file are refused before anything
    // is made for them.
    if n.checked_mul(RECORD_FIXED)? as u64 > s.unread() {
        return None;
    }
    let delta = delta(&stamp);
    if let Some(d) = &delta {
        stamp = d.stamp.clone()?;
        state = &d.state;
        kw = &d.kw;
    }
    let mut st = state.split(' ');
    let mut num = || -> Option<u64> { st.next()?.parse().ok() };
    let uid_validity = u32::try_from(num()?).ok()?;
    let uid_next = u32::try_from(num()?).ok()?;
    let base_ok = num()? == 1;
    let check = (num()?, num()?);
    let keywords: Vec<String> = kw
        .split(' ')
        .filter(|k| !k.is_empty())
        .map(str::to_string)
        .collect();
    if !keywords.iter().all(|k| valid_keyword(k)) {
        return None;
    }
    let mut kw = BTreeMap::new();
    let mut changed = delta.map(|d| d.records).unwrap_or_default();
    // The delta's entries (by index), the records with keywords (UID,
    // how many, whether the delta's replace them), each window's first
    // UID, and without `keep` every entry.
    let mut from_delta: Vec<(usize, Entry)> = Vec::new();
    let mut with_kw: Vec<(Uid, usize, bool)> = Vec::new();
    let mut marks = Vec::with_capacity(n.div_ceil(MBOX_ENTRIES_WINDOW));
    let mut all: Vec<Entry> = Vec::new();
    let mut prev: Option<Entry> = None;
    // Whether every record is persisted and old (delta or not: the
    // delta's entries are kept as changes).
    let mut said = true;
    for i in 0..n {
        let r = s.fill(RECORD_FIXED)?.get(..RECORD_FIXED)?;
        let mut e = fixed(r)?;
        said &= e.persisted() && e.old();
        let nkw = Fields(&r[6..8]).u16()?;
        s.consume(RECORD_FIXED);
        let replaced = changed.remove(&e.uid);
        if let Some(d) = &replaced {
            let (de, k) = entry(d)?;
            if de.uid != e.uid {
                return None;
            }
            if !k.is_empty() {
                kw.insert(e.uid, [k.clone(), k]);
            }
            e = de;
            from_delta.push((i, e));
        }
        if nkw > 0 {
            with_kw.push((e.uid, nkw, replaced.is_some()));
        }
        // Every message inside the file it describes, in order, UIDs
        // ascending: a cache is never trusted to index out of bounds.
        let after_prev = prev.is_none_or(|p| p.end() + p.sep() <= e.start() && p.uid < e.uid);
        if !after_prev || (e.end() + e.sep()) as u64 > stamp.size {
            return None;
        }
        if i % MBOX_ENTRIES_WINDOW == 0 {
            marks.push(e.uid);
        }
        if keep.is_none() {
            all.push(e);
        }
        prev = Some(e);
    }
    if !changed.is_empty() {
        return None; // a delta naming messages the cache has not
    }
    for (uid, nkw, replaced) in with_kw {
        let mut flags = Flags::default();
        for _ in 0..nkw {
            let len = usize::from(*s.fill(1)?.first()?);
            let k = s.fill(1 + len)?.get(1..1 + len)?;
            let k = std::str::from_utf8(k).ok()?;
            if !valid_keyword(k) {
                return None;
            }
            flags.insert_keyword(k);
            s.consume(1 + len);
        }
        if !replaced {
            kw.insert(uid, [flags.keywords.clone(), flags.keywords]);
        }
    }
    s.finish()?;
    let entries = match keep {
        Some(f) if n > 0 => {
            let records = Records::new(f, at as u64, n, RECORD_FIXED, fixed);
            let mut e = Entries::over(Arc::new(records), marks, said);
            for (i, d) in from_delta {
                e.set(i, d);
            }
            e
        }
        _ => Entries::from(all),
    };
    Some(Snapshot {
        stamp: Some(stamp),
        uid_validity,
        uid_next,
        base_ok,
        keywords,
        entries,
        kw,
        check,
    })
}

/// The first `n` lines of `s`.
fn head_lines_n<R: Read>(s: &mut Summed<R>, n: usize) -> Option<Vec<String>> {
    let mut want = 1024;
    loop {
        let avail = s.fill(want)?;
        if let Some((l, rest)) = lines(avail, n) {
            let used = avail.len() - rest.len();
            let l = l.into_iter().map(str::to_string).collect();
            s.consume(used);
            return Some(l);
        }
        if avail.len() < want {
            return None;
        }
        want *= 2;
    }
}

/// The fixed part of a record (`put_fixed`).
const RECORD_FIXED: usize = 4 + 1 + 1 + 2 + 8 * 4;

/// Reads a record's fields in order.
struct Fields<'a>(&'a [u8]);

impl Fields<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (a, b) = self.0.split_first_chunk::<N>()?;
        self.0 = b;
        Some(*a)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take::<1>()?[0])
    }
    fn u16(&mut self) -> Option<usize> {
        Some(usize::from(u16::from_le_bytes(self.take()?)))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take()?))
    }
}

/// The length of the record at the start of `r` (None: it runs past the
/// end).
fn record_len(r: &[u8]) -> Option<usize> {
    let mut f = Fields(r.get(6..RECORD_FIXED)?);
    let keywords = f.u16()?;
    let mut len = RECORD_FIXED;
    for _ in 0..keywords {
        len += 1 + usize::from(*r.get(len)?);
    }
    (len <= r.len()).then_some(len)
}

/// One record's fixed part (exactly `RECORD_FIXED` octets) as its entry.
fn fixed(r: &[u8]) -> Option<Entry> {
    // As one array: a session reads every record of a window this way.
    let r: &[u8; RECORD_FIXED] = r.try_into().ok()?;
    let word = |i: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&r[8 + 8 * i..16 + 8 * i]);
        u64::from_le_bytes(w)
    };
    let head = &r[..8];
    let uid = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
    let fields = [word(0), word(1), word(2), word(3)];
    Entry::from_record(uid, head[4], head[5], fields)
}

/// One record (exactly its octets): the entry and its keywords.
fn entry(r: &[u8]) -> Option<(Entry, Vec<String>)> {
    let mut f = Fields(r);
    let uid = u32::from_le_bytes(f.take()?);
    let system = f.u8()?;
    let bits = f.u8()?;
    let nkw = f.u16()?;
    let fields = [f.u64()?, f.u64()?, f.u64()?, f.u64()?];
    let mut flags = Flags {
        system,
        keywords: Vec::new(),
    };
    for _ in 0..nkw {
        let n = usize::from(f.u8()?);
        let (k, more) = f.0.split_at_checked(n)?;
        f.0 = more;
        let k = std::str::from_utf8(k).ok()?;
        if !valid_keyword(k) {
            return None;
        }
        flags.insert_keyword(k);
    }
    if !f.0.is_empty() {
        return None;
    }
    Some((
        Entry::from_record(uid, system, bits, fields)?,
        flags.keywords,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cache_read_through_a_small_window_is_checked_whole() {
        let mut file = b"line one\nline two\n".to_vec();
        file.extend((0..300u32).map(|i| i as u8));
        let sum = sum64(&file);
        file.extend_from_slice(&sum.to_le_bytes());
        let read = |bytes: &[u8]| {
            let mut s = Summed::new(bytes, bytes.len() as u64)?;
            s.window = 5;
            let l = head_lines_n(&mut s, 2)?;
            let mut n = 0;
            while !s.fill(7)?.is_empty() {
                let k = s.fill(7)?.len().min(7);
                s.consume(k);
                n += k;
            }
            s.finish()?;
            Some((l, n))
        };
        assert_eq!(
            read(&file),
            Some((vec!["line one".to_string(), "line two".to_string()], 300))
        );
        let mut bad = file.clone();
        bad[100] ^= 1;
        assert_eq!(read(&bad), None);
        assert_eq!(read(&file[..file.len() - 1]), None);
    }
}

#[cfg(test)]
mod window_tests {
    use super::*;
    use crate::store::flag;

    /// Entries of `n` messages 100 octets apart, odd UIDs, some `\Seen`.
    fn entries(n: usize) -> Vec<Entry> {
        (0..n)
            .map(|i| {
                let start = i as u64 * 100;
                let system = if i % 3 == 0 { flag::SEEN } else { 0 };
                // `Status: O`, the UID in the file, a one-octet separator.
                let bits = 1 | 4 | 1 << 3;
                let fields = [95, start, start + 90, (i as u64) << 16];
                Entry::from_record(2 * i as u32 + 1, system, bits, fields).expect("entry")
            })
            .collect()
    }

    #[test]
    fn entries_read_from_the_cache_are_the_entries_saved() {
        let t = tempfile::tempdir().expect("tempdir");
        let n = 3 * MBOX_ENTRIES_WINDOW + 17;
        let all = entries(n);
        let mbox = t.path().join("mbox");
        fs::File::create(&mbox)
            .and_then(|f| f.set_len(n as u64 * 100))
            .expect("mbox");
        let ctl = t.path().join("ctl");
        let kw = BTreeMap::from([(3, [vec!["Work".to_string()], vec!["Work".to_string()]])]);
        let mut snap = Snapshot {
            stamp: Stamp::at(&mbox),
            uid_validity: 7,
            uid_next: 2 * n as u32 + 1,
            base_ok: true,
            keywords: vec!["Work".into()],
            entries: Entries::from(all.clone()),
            kw: kw.clone(),
            check: (1, 2),
        };
        save(&ctl, &mut snap);
        assert!(
            snap.entries.is_windowed(),
            "saved, then read from the cache"
        );
        assert_eq!(snap.entries.iter().collect::<Vec<_>>(), all);
        let mut got = load(&ctl).expect("load");
        assert!(got.entries.is_windowed());
        assert_eq!(got.entries.iter().collect::<Vec<_>>(), all);
        assert_eq!(got.kw, kw);
        // Backwards too (a window read for each step back across one).
        for i in (0..n).rev() {
            assert_eq!(got.entries.at(i), all[i]);
        }
        let check = |e: &Entries, model: &[Entry]| {
            assert_eq!(e.len(), model.len());
            assert_eq!(e.iter().collect::<Vec<_>>(), model);
            for (i, m) in model.iter().enumerate() {
                assert_eq!(e.find(m.uid), Some(i), "UID {}", m.uid);
                assert_eq!(e.find(m.uid + 1), None);
                assert_eq!(e.partition_point(|u| u <= m.uid), i + 1);
                assert_eq!(e.partition_point(|u| u < m.uid), i);
            }
            assert_eq!(e.partition_point(|_| true), model.len());
            assert_eq!(e.find(0), None);
        };
        check(&got.entries, &all);
        // Changes stay in the session: at a window's first entry (whose
        // UID is the window's mark), inside one, the last popped, new ones
        // after.
        let mut model = all.clone();
        for i in [0, 5, MBOX_ENTRIES_WINDOW, 2 * MBOX_ENTRIES_WINDOW + 1] {
            got.entries.update(i, |e| e.set_size(1000 + i as u64));
            model[i].set_size(1000 + i as u64);
        }
        got.entries.set(6, model[6]);
        model[6].set_size(1);
        got.entries.set(6, model[6]);
        assert_ne!(got.entries.at(6), all[6]);
        model.pop();
        assert_eq!(got.entries.pop(), Some(all[n - 1]));
        let extra = entries(n + 2)[n - 1..].to_vec();
        for e in &extra {
            got.entries.push(*e);
            model.push(*e);
        }
        assert!(got.entries.is_windowed());
        check(&got.entries, &model);
        check(&got.entries.clone(), &model);
        // A change to most of them is kept in the heap.
        let mut many = load(&ctl).expect("load");
        for (i, mut e) in all.iter().copied().enumerate() {
            e.set_size(7);
            many.entries.set(i, e);
        }
        assert!(!many.entries.is_windowed());
        assert!(many.entries.iter().all(|e| e.size() == 7));
        // Retain leaves the heap's.
        got.entries.retain(|e| e.uid % 4 == 1);
        model.retain(|e| e.uid % 4 == 1);
        assert!(!got.entries.is_windowed());
        check(&got.entries, &model);
        // The cache replaced under a session is not read again: the
        // session keeps reading the file it checked.
        let kept = load(&ctl).expect("load");
        snap.entries = Entries::from(entries(5));
        save(&ctl, &mut snap);
        assert_eq!(kept.entries.iter().collect::<Vec<_>>(), all);
    }

    #[test]
    fn a_record_that_cannot_be_read_is_a_message_nowhere() {
        let t = tempfile::tempdir().expect("tempdir");
        let n = 2 * MBOX_ENTRIES_WINDOW;
        let mbox = t.path().join("mbox");
        fs::File::create(&mbox)
            .and_then(|f| f.set_len(n as u64 * 100))
            .expect("mbox");
        let ctl = t.path().join("ctl");
        let mut snap = Snapshot {
            stamp: Stamp::at(&mbox),
            uid_validity: 7,
            uid_next: 2 * n as u32 + 1,
            base_ok: true,
            keywords: Vec::new(),
            entries: Entries::from(entries(n)),
            kw: BTreeMap::new(),
            check: (1, 2),
        };
        save(&ctl, &mut snap);
        assert!(snap.entries.is_windowed());
        // Against the rules (the cache is replaced, never written in
        // place): the file cut short after it was checked.
        fs::OpenOptions::new()
            .write(true)
            .open(ctl.join(CACHE_FILE))
            .and_then(|f| f.set_len(100))
            .expect("truncate");
        let e = snap.entries.at(n - 1);
        assert_eq!(e, Entry::nowhere());
        assert!(e.start() as u64 > crate::limits::MBOX_FILE_MAX);
    }
}
