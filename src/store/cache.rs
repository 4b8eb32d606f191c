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

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::lock::Lock;
use super::Uid;
use crate::limits::{CACHE_FILE_MAX, CACHE_ITEM_MAX};

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

/// Cached items by UID and kind.
type Items = HashMap<(Uid, Kind), Vec<u8>>;

/// A mailbox's cache, read at first use, written at `flush`.
#[derive(Debug)]
pub struct Cache {
    path: PathBuf,
    uid_validity: u32,
    loaded: bool,
    items: Items,
    pending: Vec<(Uid, Kind, Vec<u8>)>,
}

impl Cache {
    pub fn new(dir: &Path, uid_validity: u32) -> Cache {
        Cache {
            path: dir.join(CACHE_FILE),
            uid_validity,
            loaded: false,
            items: HashMap::new(),
            pending: Vec::new(),
        }
    }

    pub fn get(&mut self, uid: Uid, kind: Kind) -> Option<&[u8]> {
        if !self.loaded {
            self.loaded = true;
            self.items = load(&self.path, self.uid_validity).unwrap_or_default();
        }
        self.items.get(&(uid, kind)).map(|v| v.as_slice())
    }

    pub fn put(&mut self, uid: Uid, kind: Kind, data: &[u8]) {
        if data.len() > CACHE_ITEM_MAX || self.items.contains_key(&(uid, kind)) {
            return;
        }
        self.items.insert((uid, kind), data.to_vec());
        self.pending.push((uid, kind, data.to_vec()));
    }

    /// Appends what was computed since the last flush. Failure is not an
    /// error: the cache only saves work.
    pub fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let pending = std::mem::take(&mut self.pending);
        if let Err(e) = append(&self.path, self.uid_validity, &pending) {
            log::debug!("{}: {e}", self.path.display());
        }
    }
}

fn header(uid_validity: u32) -> String {
    format!("{MAGIC} {uid_validity}\n")
}

/// Reads every good record; `None` when the file is missing or of another
/// UIDVALIDITY.
fn load(path: &Path, uid_validity: u32) -> Option<Items> {
    let mut f = crate::store::open::read(path).ok()?;
    if f.metadata().ok()?.len() > CACHE_FILE_MAX {
        return None;
    }
    let mut buf = Vec::new();
    f.read_to_end(&mut buf).ok()?;
    let (items, _) = parse(&buf, uid_validity)?;
    Some(items)
}

/// The records of `buf` and the offset where the good part ends.
fn parse(buf: &[u8], uid_validity: u32) -> Option<(Items, usize)> {
    let h = header(uid_validity);
    if !buf.starts_with(h.as_bytes()) {
        return None;
    }
    let mut items = HashMap::new();
    let mut pos = h.len();
    while let Some(nl) = buf[pos..].iter().position(|&c| c == b'\n') {
        let line = &buf[pos..pos + nl];
        let mut f = line.split(|&c| c == b' ');
        let (Some(uid), Some(kind), Some(len), None) = (f.next(), f.next(), f.next(), f.next())
        else {
            break;
        };
        let uid: Option<Uid> = std::str::from_utf8(uid).ok().and_then(|s| s.parse().ok());
        let len: Option<usize> = std::str::from_utf8(len).ok().and_then(|s| s.parse().ok());
        let (Some(uid), Some(kind), Some(len)) = (uid, Kind::from_letter(kind), len) else {
            break;
        };
        let start = pos + nl + 1;
        let Some(end) = start.checked_add(len) else {
            break;
        };
        if len > CACHE_ITEM_MAX || buf.get(end) != Some(&b'\n') {
            break;
        }
        items.insert((uid, kind), buf[start..end].to_vec());
        pos = end + 1;
    }
    Some((items, pos))
}

fn append(path: &Path, uid_validity: u32, records: &[(Uid, Kind, Vec<u8>)]) -> std::io::Result<()> {
    let _lock = Lock::exclusive(&path.with_extension("lock"))
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let mut f = crate::store::open::read_write(path)?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf)?;
    // Start anew on another UIDVALIDITY, on growth past the limit, or on a
    // file that is not ours; cut a torn tail off otherwise.
    let good = match parse(&buf, uid_validity) {
        Some((_, end)) if (buf.len() as u64) < CACHE_FILE_MAX => end,
        _ => 0,
    };
    if good == 0 {
        f.set_len(0)?;
        f.seek(SeekFrom::Start(0))?;
        f.write_all(header(uid_validity).as_bytes())?;
    } else if good < buf.len() {
        f.set_len(good as u64)?;
    }
    f.seek(SeekFrom::End(0))?;
    let mut out = Vec::new();
    for (uid, kind, data) in records {
        out.extend_from_slice(format!("{uid} ").as_bytes());
        out.push(kind.letter());
        out.extend_from_slice(format!(" {}\n", data.len()).as_bytes());
        out.extend_from_slice(data);
        out.push(b'\n');
    }
    f.write_all(&out)
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
        assert_eq!(c.get(1, Kind::Envelope), Some(&b"(NIL \"a\nb\" NIL)"[..]));
        assert_eq!(c.get(2, Kind::BodyStructure), Some(&b""[..]));
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
        assert_eq!(c.get(4, Kind::Body), Some(&b"x"[..]));
        assert_eq!(c.get(1, Kind::Envelope), Some(&b"(NIL \"a\nb\" NIL)"[..]));
        // Garbage instead of a header: started anew, no panic.
        std::fs::write(&path, b"\xff\xfe garbage").unwrap();
        let mut c = Cache::new(d.path(), 7);
        assert!(c.get(1, Kind::Envelope).is_none());
        c.put(5, Kind::Envelope, b"e");
        c.flush();
        assert_eq!(
            Cache::new(d.path(), 7).get(5, Kind::Envelope),
            Some(&b"e"[..])
        );
    }

    #[test]
    fn hostile_lengths_do_not_panic() {
        for body in [
            &b"1 E 99999999999999999999\n"[..],
            b"1 E 18446744073709551615\nx\n",
            b"1 Q 1\nx\n",
            b"\n\n\n",
        ] {
            let mut buf = header(1).into_bytes();
            buf.extend_from_slice(body);
            let (items, _) = parse(&buf, 1).unwrap();
            assert!(items.is_empty());
        }
    }
}
