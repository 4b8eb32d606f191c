//! A mailbox's cache of data that is costly to compute and never changes
//! for a given message (DESIGN.md 5): ENVELOPE, BODY and BODYSTRUCTURE,
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
//! of the file, in one write each batch.
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
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

use super::lock::Lock;
use super::Uid;
use crate::limits::{
    CACHE_FILE_MAX, CACHE_FLUSH_EVERY, CACHE_ITEM_MAX, CACHE_RECORD_HEADER_MAX, STREAM_BUFFER,
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
}

impl Kind {
    fn letter(self) -> u8 {
        match self {
            Kind::Envelope => b'E',
            Kind::Body => b'B',
            Kind::BodyStructure => b'S',
        }
    }

    fn from_letter(c: &[u8]) -> Option<Kind> {
        match c {
            b"E" => Some(Kind::Envelope),
            b"B" => Some(Kind::Body),
            b"S" => Some(Kind::BodyStructure),
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
}

impl Cache {
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
        }
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

    pub fn put(&mut self, uid: Uid, kind: Kind, data: &[u8]) {
        if data.len() > CACHE_ITEM_MAX
            || self.offsets.contains_key(&(uid, kind))
            || self.pending.contains_key(&(uid, kind))
        {
            return;
        }
        self.pending.insert((uid, kind), data.to_vec());
        self.pending_len += data.len() + 32;
        if self.pending_len >= CACHE_FLUSH_EVERY {
            self.flush();
        }
    }

    /// Appends what was computed since the last flush. Failure is not an
    /// error: the cache only saves work.
    pub fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let pending = std::mem::take(&mut self.pending);
        self.pending_len = 0;
        if let Err(e) = self.append(&pending) {
            log::debug!("{}: {e}", self.path.display());
        }
    }

    /// Appends `records` under the file's lock, after taking in what other
    /// sessions appended since this one read, and records where they went.
    fn append(&mut self, records: &HashMap<(Uid, Kind), Vec<u8>>) -> std::io::Result<()> {
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
        self.offsets = offsets;
        if good == 0 {
            f.set_len(0)?;
            f.seek(SeekFrom::Start(0))?;
            f.write_all(header(self.uid_validity).as_bytes())?;
        } else if good < len {
            f.set_len(good)?;
        }
        let mut at = f.seek(SeekFrom::End(0))?;
        let mut out = Vec::new();
        for ((uid, kind), data) in records {
            if self.offsets.contains_key(&(*uid, *kind)) {
                continue;
            }
            let head = format!("{uid} {} {}\n", kind.letter() as char, data.len());
            out.extend_from_slice(head.as_bytes());
            self.offsets
                .insert((*uid, *kind), (at + out.len() as u64, data.len() as u32));
            out.extend_from_slice(data);
            out.push(b'\n');
        }
        f.write_all(&out)?;
        at += out.len() as u64;
        self.end = at;
        self.file = Some(f);
        self.loaded = true;
        Ok(())
    }
}

fn header(uid_validity: u32) -> String {
    format!("{MAGIC} {uid_validity}\n")
}

/// Reads the record headers of `f` from `from` (0: from its own header,
/// which must be of this UIDVALIDITY) into `offsets`, skipping the items;
/// returns them and the offset where the good part ends. `None`: not a
/// cache of this UIDVALIDITY.
fn scan(f: &File, uid_validity: u32, from: u64, mut offsets: Offsets) -> Option<(Offsets, u64)> {
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

    #[test]
    fn round_trip_and_damage() {
        let d = tempfile::tempdir().unwrap();
        let mut c = Cache::new(d.path(), 7);
        assert!(c.get(1, Kind::Envelope).is_none());
        c.put(1, Kind::Envelope, b"(NIL \"a\nb\" NIL)");
        c.put(2, Kind::BodyStructure, b"");
        c.flush();
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
        c.put(4, Kind::Body, b"x");
        c.flush();
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
        c.put(5, Kind::Envelope, b"e");
        c.flush();
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
        a.put(1, Kind::Envelope, b"one");
        a.flush();
        b.put(2, Kind::Body, b"two");
        b.flush();
        assert_eq!(b.get(1, Kind::Envelope).as_deref(), Some(&b"one"[..]));
        a.put(3, Kind::Envelope, b"three");
        a.flush();
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
            c.put(uid, Kind::Envelope, &item);
        }
        let written = std::fs::metadata(d.path().join(CACHE_FILE)).unwrap().len();
        assert!(written as usize >= 2 * CACHE_FLUSH_EVERY, "{written}");
        assert!(c.pending_len < CACHE_FLUSH_EVERY);
        assert_eq!(c.get(1, Kind::Envelope), Some(item));
    }
}
