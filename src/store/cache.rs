//! A mailbox's cache of data that is costly to compute and never changes
//! for a given message (DESIGN.md 5): ENVELOPE, BODY, BODYSTRUCTURE and
//! the header values SORT and THREAD order by,
//! kept per UID so `FETCH 1:* ENVELOPE` on a mailbox seen before opens no
//! message file.
//!
//! The file (`mailaccess-cache` beside the index) is append-only:
//!
//! ```text
//! mailaccess-cache 2 <uidvalidity>\n
//! <uid> <kind> <length>\n<length octets>\n      (one record per item)
//! ```
//!
//! It is a cache: anything wrong with it (another UIDVALIDITY, a torn
//! record at the end after a crash, garbage) only costs recomputing. A
//! damaged tail is cut off; a file of another UIDVALIDITY, or one grown
//! past `CACHE_FILE_MAX`, is started anew. Appends happen under an flock
//! of the file (`mailaccess-cache.lock`), in one write each batch.
//!
//! **Compaction**: when at least half of a file of `CACHE_COMPACT_MIN` or
//! more is items of expunged messages, the appending session writes a new
//! file with the rest (streamed item by item, fsynced) and renames it over
//! the old one; starting anew is the same with nothing kept. A session
//! still reading the old file keeps reading it (its offsets stay true of
//! that inode) and takes the new one in at its next append. A crash leaves
//! the old file or the new one, and a `.tmp` file that the next compaction
//! removes.
//!
//! Never read whole: the first `get` reads the record headers once (a
//! streaming pass) into an index of offsets, and each item is read with
//! pread(2) when asked for; other sessions' appends are taken in from the
//! position this one read up to. Items computed here are appended in
//! batches of `CACHE_FLUSH_EVERY` octets, so a first `FETCH 1:* ENVELOPE`
//! does not hold them all.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::lock::Lock;
use super::Uid;
use crate::limits::{
    CACHE_COMPACT_MIN, CACHE_FILE_MAX, CACHE_FLUSH_EVERY, CACHE_ITEM_MAX, CACHE_RECORD_HEADER_MAX,
    STREAM_BUFFER,
};

pub const CACHE_FILE: &str = "mailaccess-cache";
/// The version says how the items were computed: 2 since ENVELOPE stopped
/// taking a comment inside `<...>` as the display name.
const MAGIC: &str = "mailaccess-cache 2";

/// What is cached about a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Envelope,
    Body,
    BodyStructure,
    /// What SORT and THREAD take from the header (`imap::cmd::sort::Keys`).
    SortKeys,
    /// RFC 8474 EMAILID (`store::objectid::email_id`).
    EmailId,
    /// RFC 8970 PREVIEW, as FETCH sends it (an IMAP string).
    Preview,
}

impl Kind {
    fn letter(self) -> u8 {
        match self {
            Kind::Envelope => b'E',
            Kind::Body => b'B',
            Kind::BodyStructure => b'S',
            Kind::SortKeys => b'T',
            Kind::EmailId => b'I',
            Kind::Preview => b'P',
        }
    }

    fn from_letter(c: &[u8]) -> Option<Kind> {
        match c {
            b"E" => Some(Kind::Envelope),
            b"B" => Some(Kind::Body),
            b"S" => Some(Kind::BodyStructure),
            b"T" => Some(Kind::SortKeys),
            b"I" => Some(Kind::EmailId),
            b"P" => Some(Kind::Preview),
            _ => None,
        }
    }
}

/// Where each cached item is in the file: offset and length.
type Offsets = HashMap<(Uid, Kind), (u64, u32)>;

/// A mailbox's cache: an index of the file, items read when asked for.
#[derive(Debug)]
pub struct Cache {
    path: PathBuf,
    uid_validity: u32,
    /// The file as first opened, if it is ours (header of this UIDVALIDITY).
    file: Option<File>,
    loaded: bool,
    offsets: Offsets,
    /// The good part of the file read so far ends here.
    end: u64,
    /// Computed here, not yet appended.
    pending: HashMap<(Uid, Kind), Vec<u8>>,
    pending_len: usize,
    /// The file's length when this session last looked through its items
    /// for dead ones: it looks again only once the file has doubled or
    /// messages were expunged (`expunged`), so that a first `FETCH 1:*
    /// ENVELOPE`, which flushes many times, does not look through every
    /// item at each flush.
    dead_checked: u64,
}

impl Cache {
    /// The directory the cache is in, where other per-mailbox caches go
    /// too (`sortindex`).
    pub fn dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }

    pub fn new(dir: &Path, uid_validity: u32) -> Cache {
        Cache {
            path: dir.join(CACHE_FILE),
            uid_validity,
            file: None,
            loaded: false,
            offsets: HashMap::new(),
            end: 0,
            pending: HashMap::new(),
            pending_len: 0,
            dead_checked: 0,
        }
    }

    /// Messages left the mailbox: the next flush looks for dead items.
    pub fn expunged(&mut self) {
        self.dead_checked = 0;
    }

    /// The item, read from the file (or from what waits to be written).
    pub fn get(&mut self, uid: Uid, kind: Kind) -> Option<Vec<u8>> {
        if !self.loaded {
            self.loaded = true;
            if let Ok(f) = crate::store::open::read(&self.path) {
                if let Some((offsets, end)) = scan(&f, self.uid_validity, 0, Offsets::new()) {
                    self.offsets = offsets;
                    self.end = end;
                    self.file = Some(f);
                }
            }
        }
        if let Some(&(at, len)) = self.offsets.get(&(uid, kind)) {
            let mut buf = vec![0u8; len as usize];
            let f = self.file.as_ref()?;
            return f.read_exact_at(&mut buf, at).ok().map(|()| buf);
        }
        self.pending.get(&(uid, kind)).cloned()
    }

    /// Keeps `data` for the next flush; `live` says which UIDs are still
    /// messages (`live_in`), for the compaction a flush may do.
    pub fn put(&mut self, uid: Uid, kind: Kind, data: &[u8], live: &dyn Fn(Uid) -> bool) {
        if data.len() > CACHE_ITEM_MAX
            || self.offsets.contains_key(&(uid, kind))
            || self.pending.contains_key(&(uid, kind))
        {
            return;
        }
        self.pending.insert((uid, kind), data.to_vec());
        self.pending_len += data.len() + 32;
        if self.pending_len >= CACHE_FLUSH_EVERY {
            self.flush(live);
        }
    }

    /// Appends what was computed since the last flush, compacting the file
    /// first when expunged messages' items fill half of it. Failure is not
    /// an error: the cache only saves work.
    pub fn flush(&mut self, live: &dyn Fn(Uid) -> bool) {
        if self.pending.is_empty() {
            return;
        }
        let pending = std::mem::take(&mut self.pending);
        self.pending_len = 0;
        if let Err(e) = self.append(&pending, live) {
            log::debug!("{}: {e}", self.path.display());
        }
    }

    /// Appends `records` under the file's lock, after taking in what other
    /// sessions appended since this one read, and records where they went.
    fn append(
        &mut self,
        records: &HashMap<(Uid, Kind), Vec<u8>>,
        live: &dyn Fn(Uid) -> bool,
    ) -> std::io::Result<()> {
        let _lock = Lock::exclusive(&self.path.with_extension("lock"))
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let mut f = crate::store::open::read_write(&self.path)?;
        let len = f.metadata()?.len();
        // The file this session indexed is still the one there (same inode,
        // not shorter): read on from where this session stopped.
        let same = match (&self.file, f.metadata()) {
            (Some(old), Ok(m)) => {
                old.metadata().is_ok_and(|o| o.ino() == m.ino()) && len >= self.end
            }
            _ => false,
        };
        let known = if same {
            Some((std::mem::take(&mut self.offsets), self.end))
        } else {
            None
        };
        // Start anew on another UIDVALIDITY, on growth past the limit, or on
        // a file that is not ours; cut a torn tail off otherwise.
        let scanned = match known {
            Some((offsets, end)) => scan(&f, self.uid_validity, end, offsets),
            None => scan(&f, self.uid_validity, 0, Offsets::new()),
        };
        let (offsets, good) = match scanned {
            Some((o, good)) if len < CACHE_FILE_MAX => (o, good),
            _ => (Offsets::new(), 0),
        };
        // Only a file big enough to compact is looked through for dead
        // items (a record's header line is about 16 octets).
        let mostly_dead = good >= CACHE_COMPACT_MIN.max(self.dead_checked.saturating_mul(2)) && {
            self.dead_checked = good;
            let dead: u64 = offsets
                .iter()
                .filter(|((uid, _), _)| !live(*uid))
                .map(|(_, &(_, n))| u64::from(n) + 16)
                .sum();
            dead * 2 >= good
        };
        if good == 0 || mostly_dead {
            let mut keep: Vec<_> = offsets.into_iter().filter(|((u, _), _)| live(*u)).collect();
            // File order: the old file is read front to back.
            keep.sort_unstable_by_key(|(_, (at, _))| *at);
            return self.rewrite(&f, keep, records);
        }
        self.offsets = offsets;
        if good < len {
            f.set_len(good)?;
        }
        let mut at = f.seek(SeekFrom::End(0))?;
        let mut out = Vec::new();
        // Noted only once written: a failed write must not leave offsets
        // where another session's items will go.
        let mut written = Offsets::new();
        for (key, data) in records {
            if !self.offsets.contains_key(key) {
                write_item(&mut out, &mut written, &mut at, *key, data)?;
            }
        }
        f.write_all(&out)?;
        self.offsets.extend(written);
        self.end = at;
        self.file = Some(f);
        self.loaded = true;
        Ok(())
    }
}

impl Cache {
    /// Writes a new file holding the `keep` items of `old` and `records`,
    /// and renames it over the old one (the caller holds the lock).
    fn rewrite(
        &mut self,
        old: &File,
        keep: Vec<((Uid, Kind), (u64, u32))>,
        records: &HashMap<(Uid, Kind), Vec<u8>>,
    ) -> std::io::Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        // What a compaction killed midway left (we hold the lock: no other
        // compaction is running).
        for e in std::fs::read_dir(dir)?.flatten() {
            let name = e.file_name();
            let name = name.to_string_lossy();
            if name.starts_with(&format!("{CACHE_FILE}.")) && name.ends_with(".tmp") {
                let _ = std::fs::remove_file(e.path());
            }
        }
        let tmp = dir.join(format!("{CACHE_FILE}.{}.tmp", std::process::id()));
        let f = crate::store::open::regular(
            &tmp,
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .mode(0o600),
        )?;
        let r = (|| {
            let mut offsets = Offsets::new();
            let mut w = std::io::BufWriter::with_capacity(STREAM_BUFFER, &f);
            let mut at = header(self.uid_validity).len() as u64;
            w.write_all(header(self.uid_validity).as_bytes())?;
            let mut buf = Vec::new();
            for (key, (from, len)) in keep {
                buf.resize(len as usize, 0);
                old.read_exact_at(&mut buf, from)?;
                write_item(&mut w, &mut offsets, &mut at, key, &buf)?;
            }
            for (key, data) in records {
                if !offsets.contains_key(key) {
                    write_item(&mut w, &mut offsets, &mut at, *key, data)?;
                }
            }
            w.flush()?;
            drop(w);
            // Durable before it takes the old one's place: a crash must
            // not leave a file whose items read back as zeros.
            f.sync_data()?;
            std::fs::rename(&tmp, &self.path)?;
            Ok((offsets, at))
        })();
        match r {
            Ok((offsets, end)) => {
                self.offsets = offsets;
                self.end = end;
                self.file = Some(f);
                self.loaded = true;
                Ok(())
            }
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                Err(e)
            }
        }
    }
}

/// Writes one record at `at` through `w` and notes where its item went.
fn write_item(
    w: &mut impl Write,
    offsets: &mut Offsets,
    at: &mut u64,
    key: (Uid, Kind),
    data: &[u8],
) -> std::io::Result<()> {
    let head = format!("{} {} {}\n", key.0, key.1.letter() as char, data.len());
    w.write_all(head.as_bytes())?;
    w.write_all(data)?;
    w.write_all(b"\n")?;
    offsets.insert(key, (*at + head.len() as u64, data.len() as u32));
    *at += (head.len() + data.len() + 1) as u64;
    Ok(())
}

/// Reads `data` (any bytes) as a cache file of the UIDVALIDITY its first
/// line names, then every item it indexes; for the fuzz target and the
/// corpus test (`tests/index_corpus.rs`). Damage is refused or cut off,
/// never a panic. Returns how many items were read, if it is a cache.
pub fn read_any(data: &[u8]) -> Option<usize> {
    let first = data.split(|&c| c == b'\n').next()?;
    let uid_validity = std::str::from_utf8(first)
        .ok()?
        .strip_prefix(MAGIC)?
        .trim()
        .parse()
        .ok()?;
    let (offsets, end) = scan(std::io::Cursor::new(data), uid_validity, 0, Offsets::new())?;
    let mut n = 0;
    for &(at, len) in offsets.values() {
        let item = data.get(at as usize..at as usize + len as usize)?;
        if at < end && item.len() == len as usize {
            n += 1;
        }
    }
    Some(n)
}

fn header(uid_validity: u32) -> String {
    format!("{MAGIC} {uid_validity}\n")
}

/// Reads the record headers of `f` from `from` (0: from its own header,
/// which must be of this UIDVALIDITY) into `offsets`, skipping the items;
/// returns them and the offset where the good part ends. `None`: not a
/// cache of this UIDVALIDITY.
fn scan<R: Read + Seek>(
    f: R,
    uid_validity: u32,
    from: u64,
    mut offsets: Offsets,
) -> Option<(Offsets, u64)> {
    let mut r = BufReader::with_capacity(STREAM_BUFFER, f);
    r.seek(SeekFrom::Start(from)).ok()?;
    let mut pos = from;
    let mut line = Vec::new();
    if from == 0 {
        let h = header(uid_validity);
        let mut got = vec![0u8; h.len()];
        r.read_exact(&mut got).ok()?;
        if got != h.as_bytes() {
            return None;
        }
        pos = h.len() as u64;
    }
    loop {
        line.clear();
        // A record header is short; a longer line is garbage.
        let n = Read::by_ref(&mut r)
            .take(CACHE_RECORD_HEADER_MAX)
            .read_until(b'\n', &mut line)
            .ok()?;
        if n == 0 || line.last() != Some(&b'\n') {
            break;
        }
        let mut fields = line[..n - 1].split(|&c| c == b' ');
        let (Some(uid), Some(kind), Some(len), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            break;
        };
        let uid: Option<Uid> = std::str::from_utf8(uid).ok().and_then(|s| s.parse().ok());
        let len: Option<usize> = std::str::from_utf8(len).ok().and_then(|s| s.parse().ok());
        let (Some(uid), Some(kind), Some(len)) = (uid, Kind::from_letter(kind), len) else {
            break;
        };
        if len > CACHE_ITEM_MAX {
            break;
        }
        let start = pos + n as u64;
        if r.seek_relative(len as i64).is_err() {
            break;
        }
        let mut nl = [0u8; 1];
        if r.read_exact(&mut nl).is_err() || nl[0] != b'\n' {
            break;
        }
        offsets.insert((uid, kind), (start, len as u32));
        pos = start + len as u64 + 1;
    }
    Some((offsets, pos))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::OpenOptions;

    /// Every UID a message: nothing to compact away.
    const ALL: &dyn Fn(Uid) -> bool = &|_| true;

    fn item(uid: Uid) -> Vec<u8> {
        format!("(envelope of {uid})").repeat(100).into_bytes()
    }

    fn file_len(d: &Path) -> u64 {
        std::fs::metadata(d.join(CACHE_FILE)).unwrap().len()
    }

    /// Items of expunged messages are dropped once they fill half the
    /// file; a session reading the old file meanwhile keeps getting the
    /// right items, and takes the new file in at its next append.
    #[test]
    fn expunged_items_are_compacted_away() {
        let d = tempfile::tempdir().unwrap();
        let n = (3 * CACHE_COMPACT_MIN / item(1).len() as u64) as Uid;
        let mut a = Cache::new(d.path(), 5);
        for uid in 1..=n {
            a.put(uid, Kind::Envelope, &item(uid), ALL);
        }
        a.flush(ALL);
        let full = file_len(d.path());
        assert!(full > 2 * CACHE_COMPACT_MIN, "{full}");
        let mut b = Cache::new(d.path(), 5);
        assert_eq!(b.get(n, Kind::Envelope), Some(item(n)));
        let inode = std::fs::metadata(d.path().join(CACHE_FILE)).unwrap().ino();
        // A third of the messages expunged: not yet.
        let live = |uid: Uid| uid > n / 3;
        a.expunged();
        a.put(n + 1, Kind::Envelope, &item(n + 1), &live);
        a.flush(&live);
        assert!(file_len(d.path()) > full);
        // Two thirds: compacted into a new file, once the session hears of
        // the expunges.
        let live = |uid: Uid| uid > 2 * n / 3;
        a.put(n + 2, Kind::Envelope, &item(n + 2), &live);
        a.flush(&live);
        assert!(file_len(d.path()) > full);
        a.expunged();
        a.put(n + 4, Kind::Envelope, &item(n + 4), &live);
        a.flush(&live);
        let after = file_len(d.path());
        assert!(after < full / 2, "{after} of {full}");
        assert_ne!(
            std::fs::metadata(d.path().join(CACHE_FILE)).unwrap().ino(),
            inode
        );
        let mut c = Cache::new(d.path(), 5);
        for uid in [1, n / 3, 2 * n / 3] {
            assert_eq!(c.get(uid, Kind::Envelope), None, "{uid}");
        }
        for uid in [2 * n / 3 + 1, n, n + 1, n + 2] {
            assert_eq!(c.get(uid, Kind::Envelope), Some(item(uid)), "{uid}");
        }
        // b still reads the old file, right items, old ones included.
        assert_eq!(b.get(1, Kind::Envelope), Some(item(1)));
        assert_eq!(b.get(n - 1, Kind::Envelope), Some(item(n - 1)));
        // and after its next append reads the new one, with a's items.
        b.put(n + 3, Kind::Body, b"b", &live);
        b.flush(&live);
        assert_eq!(b.get(n + 2, Kind::Envelope), Some(item(n + 2)));
        assert_eq!(c.get(n + 3, Kind::Body), None, "c read the file before");
        assert_eq!(
            Cache::new(d.path(), 5).get(n + 3, Kind::Body).as_deref(),
            Some(&b"b"[..])
        );
        // No .tmp file is left.
        let left: Vec<_> = std::fs::read_dir(d.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[test]
    fn round_trip_and_damage() {
        let d = tempfile::tempdir().unwrap();
        let mut c = Cache::new(d.path(), 7);
        assert!(c.get(1, Kind::Envelope).is_none());
        c.put(1, Kind::Envelope, b"(NIL \"a\nb\" NIL)", ALL);
        c.put(2, Kind::BodyStructure, b"", ALL);
        c.flush(ALL);
        let mut c = Cache::new(d.path(), 7);
        assert_eq!(
            c.get(1, Kind::Envelope).as_deref(),
            Some(&b"(NIL \"a\nb\" NIL)"[..])
        );
        assert_eq!(c.get(2, Kind::BodyStructure).as_deref(), Some(&b""[..]));
        assert!(c.get(1, Kind::Body).is_none());
        // Another UIDVALIDITY sees nothing.
        assert!(Cache::new(d.path(), 8).get(1, Kind::Envelope).is_none());
        // A torn tail is ignored, then cut off by the next append.
        let path = d.path().join(CACHE_FILE);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"3 E 100\nshort").unwrap();
        let mut c = Cache::new(d.path(), 7);
        assert!(c.get(3, Kind::Envelope).is_none());
        c.put(4, Kind::Body, b"x", ALL);
        c.flush(ALL);
        let mut c = Cache::new(d.path(), 7);
        assert_eq!(c.get(4, Kind::Body).as_deref(), Some(&b"x"[..]));
        assert_eq!(
            c.get(1, Kind::Envelope).as_deref(),
            Some(&b"(NIL \"a\nb\" NIL)"[..])
        );
        // Garbage instead of a header: started anew, no panic.
        std::fs::write(&path, b"\xff\xfe garbage").unwrap();
        let mut c = Cache::new(d.path(), 7);
        assert!(c.get(1, Kind::Envelope).is_none());
        c.put(5, Kind::Envelope, b"e", ALL);
        c.flush(ALL);
        assert_eq!(
            Cache::new(d.path(), 7).get(5, Kind::Envelope).as_deref(),
            Some(&b"e"[..])
        );
    }

    #[test]
    fn hostile_lengths_do_not_panic() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join(CACHE_FILE);
        for body in [
            &b"1 E 99999999999999999999\n"[..],
            b"1 E 18446744073709551615\nx\n",
            b"1 Q 1\nx\n",
            b"\n\n\n",
            b"1 E 5\nab\n",
        ] {
            let mut buf = header(1).into_bytes();
            buf.extend_from_slice(body);
            std::fs::write(&path, &buf).unwrap();
            let f = File::open(&path).unwrap();
            let (items, end) = scan(&f, 1, 0, Offsets::new()).unwrap();
            assert!(items.is_empty());
            assert_eq!(end, header(1).len() as u64);
        }
    }

    /// Two sessions append; each sees its own items and, after its next
    /// append, the other's; nothing is read whole.
    #[test]
    fn sessions_take_in_each_others_appends() {
        let d = tempfile::tempdir().unwrap();
        let mut a = Cache::new(d.path(), 3);
        let mut b = Cache::new(d.path(), 3);
        assert!(a.get(1, Kind::Envelope).is_none());
        assert!(b.get(1, Kind::Envelope).is_none());
        a.put(1, Kind::Envelope, b"one", ALL);
        a.flush(ALL);
        b.put(2, Kind::Body, b"two", ALL);
        b.flush(ALL);
        assert_eq!(b.get(1, Kind::Envelope).as_deref(), Some(&b"one"[..]));
        a.put(3, Kind::Envelope, b"three", ALL);
        a.flush(ALL);
        assert_eq!(a.get(2, Kind::Body).as_deref(), Some(&b"two"[..]));
        let mut c = Cache::new(d.path(), 3);
        for (uid, kind, want) in [
            (1, Kind::Envelope, &b"one"[..]),
            (2, Kind::Body, b"two"),
            (3, Kind::Envelope, b"three"),
        ] {
            assert_eq!(c.get(uid, kind).as_deref(), Some(want));
        }
    }

    /// Many puts are written in batches, not held until the end.
    #[test]
    fn puts_are_written_in_batches() {
        let d = tempfile::tempdir().unwrap();
        let mut c = Cache::new(d.path(), 3);
        let item = vec![b'e'; 1000];
        for uid in 1..=(3 * CACHE_FLUSH_EVERY / 1000) as u32 {
            c.put(uid, Kind::Envelope, &item, ALL);
        }
        let written = std::fs::metadata(d.path().join(CACHE_FILE)).unwrap().len();
        assert!(written as usize >= 2 * CACHE_FLUSH_EVERY, "{written}");
        assert!(c.pending_len < CACHE_FLUSH_EVERY);
        assert_eq!(c.get(1, Kind::Envelope), Some(item));
    }
}
