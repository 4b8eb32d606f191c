//! The index's transaction log, `mailaccess.index.log`: every change since
//! the main file was written, appended and fsynced by the commit that made
//! it. Little-endian:
//!
//! ```text
//! header  "mlailog\x01", the log id u64 (the main file names it),
//!         FNV-1a 64 of those 16 octets
//! record  0x52 0x4c, kind u8, payload length u32, payload,
//!         FNV-1a 64 of every octet of the record before it
//!   1 append   uid u32, modseq u64, size u64, date i64, zone i32,
//!              system flags u8, place u8 (1: new/), keyword count u16,
//!              positions u16..., name length u16, name
//!   2 flags    uid u32, modseq u64, system flags u8, place u8, count u16,
//!              positions, name length u16, name (the file as renamed)
//!   3 expunge  uid u32, modseq u64
//!   4 keyword  table position u16, length u16, keyword
//!   5 state    uidnext u32, firstrecent u32, highestmodseq u64, new/ and
//!              cur/ times of the last full scan i64 x 2 (ends every commit)
//!   6 date     uid u32, date i64: an INTERNALDATE read after the append
//!              recorded it unknown (`DATE_UNKNOWN`: a Maildir's first
//!              open leaves each file's mtime for its first reader)
//! ```
//!
//! A log whose header is not the main file's (a fold cut short) is ignored:
//! the main file already holds all of it. A record that fails its checksum
//! or does not fit is a torn tail if no valid record follows it anywhere
//! (a crash mid-commit: the commit was never acknowledged); it is dropped
//! and overwritten by the next commit. Anything else is damage.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::file::{check_entry, check_header, Cursor};
use super::{valid_base, valid_keyword, Entry, Index};
use crate::limits::{INDEX_FILE_MAX, INDEX_LOG_RECORD_MAX, KEYWORDS_MAX};
use crate::store::{ModSeq, Result, StoreError, Uid};

pub const LOG_FILE: &str = "mailaccess.index.log";
const MAGIC: &[u8; 8] = b"mlailog\x01";
pub const HEADER_LEN: u64 = 24;
const RECORD_MAGIC: [u8; 2] = [0x52, 0x4c];
/// Magic, kind, length before the payload; checksum after.
const FRAME: usize = 2 + 1 + 4 + 8;
/// Octets of a date record (kind 6).
pub const DATE_RECORD_LEN: usize = FRAME + 4 + 8;
/// The smallest append record: a torn tail of n octets can have handed
/// out at most n / this many UIDs.
const MIN_APPEND: usize = FRAME + 4 + 8 + 8 + 8 + 4 + 1 + 1 + 2 + 2 + 1;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    /// A new message and its keywords' table positions.
    Append(Entry, Vec<u16>),
    /// New flags of a message, and its file's name and place after the
    /// rename that set them.
    Flags {
        uid: Uid,
        modseq: ModSeq,
        system: u8,
        keywords: Vec<u16>,
        new: bool,
        name: String,
    },
    Expunge(Uid, ModSeq),
    Keyword(u16, String),
    State {
        uid_next: Uid,
        first_recent: Uid,
        highest_modseq: ModSeq,
        scanned: [i64; 2],
    },
    /// The INTERNALDATE of a message appended with `DATE_UNKNOWN`, as its
    /// first reader found it (no client is told: its modseq stays).
    Date(Uid, i64),
}

/// A fresh log id: random, so that a log is never taken for another's.
pub fn new_id() -> u64 {
    let mut b = [0u8; 8];
    if rustix::rand::getrandom(&mut b, rustix::rand::GetRandomFlags::empty()).is_err() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        b = (t ^ (u64::from(std::process::id()) << 32)).to_le_bytes();
    }
    u64::from_le_bytes(b)
}

fn header(id: u64) -> Vec<u8> {
    let mut h = MAGIC.to_vec();
    h.extend_from_slice(&id.to_le_bytes());
    let sum = crate::store::sum::fnv1a(&h);
    h.extend_from_slice(&sum.to_le_bytes());
    h
}

pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)?.sync_all()?;
    Ok(())
}

/// Writes an empty log for `id` beside the real one (fsynced); `install`
/// puts it in place.
pub fn create(dir: &Path, id: u64) -> Result<PathBuf> {
    // What a fold killed midway left (ours or another process's: we hold
    // the lock, so no other fold is running).
    for e in std::fs::read_dir(dir)?.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(super::INDEX_FILE) && (name.ends_with(".new") || name.ends_with(".tmp"))
        {
            let _ = std::fs::remove_file(e.path());
        }
    }
    let tmp = dir.join(format!("{LOG_FILE}.{}.new", std::process::id()));
    let f = crate::store::open::regular(
        &tmp,
        OpenOptions::new().write(true).create_new(true).mode(0o600),
    )?;
    f.write_all_at(&header(id), 0)?;
    f.sync_all()?;
    Ok(tmp)
}

pub fn install(dir: &Path, tmp: &Path) -> Result<()> {
    std::fs::rename(tmp, dir.join(LOG_FILE))?;
    sync_dir(dir)
}

fn encode(r: &Record) -> Vec<u8> {
    let mut p = Vec::with_capacity(64);
    let kws = |p: &mut Vec<u8>, k: &[u16]| {
        p.extend_from_slice(&(k.len() as u16).to_le_bytes());
        for x in k {
            p.extend_from_slice(&x.to_le_bytes());
        }
    };
    let kind = match r {
        Record::Append(e, k) => {
            p.extend_from_slice(&e.uid.to_le_bytes());
            p.extend_from_slice(&e.modseq.to_le_bytes());
            p.extend_from_slice(&e.size.to_le_bytes());
            p.extend_from_slice(&e.date.to_le_bytes());
            p.extend_from_slice(&e.zone.to_le_bytes());
            p.push(e.flags.system);
            p.push(u8::from(e.new));
            kws(&mut p, k);
            p.extend_from_slice(&(e.name.len() as u16).to_le_bytes());
            p.extend_from_slice(e.name.as_bytes());
            1
        }
        Record::Flags {
            uid,
            modseq,
            system,
            keywords,
            new,
            name,
        } => {
            p.extend_from_slice(&uid.to_le_bytes());
            p.extend_from_slice(&modseq.to_le_bytes());
            p.push(*system);
            p.push(u8::from(*new));
            kws(&mut p, keywords);
            p.extend_from_slice(&(name.len() as u16).to_le_bytes());
            p.extend_from_slice(name.as_bytes());
            2
        }
        Record::Expunge(uid, modseq) => {
            p.extend_from_slice(&uid.to_le_bytes());
            p.extend_from_slice(&modseq.to_le_bytes());
            3
        }
        Record::Keyword(pos, k) => {
            p.extend_from_slice(&pos.to_le_bytes());
            p.extend_from_slice(&(k.len() as u16).to_le_bytes());
            p.extend_from_slice(k.as_bytes());
            4
        }
        Record::State {
            uid_next,
            first_recent,
            highest_modseq,
            scanned,
        } => {
            p.extend_from_slice(&uid_next.to_le_bytes());
            p.extend_from_slice(&first_recent.to_le_bytes());
            p.extend_from_slice(&highest_modseq.to_le_bytes());
            for t in scanned {
                p.extend_from_slice(&t.to_le_bytes());
            }
            5
        }
        Record::Date(uid, date) => {
            p.extend_from_slice(&uid.to_le_bytes());
            p.extend_from_slice(&date.to_le_bytes());
            6
        }
    };
    let mut out = Vec::with_capacity(FRAME + p.len());
    out.extend_from_slice(&RECORD_MAGIC);
    out.push(kind);
    out.extend_from_slice(&(p.len() as u32).to_le_bytes());
    out.extend_from_slice(&p);
    let sum = crate::store::sum::fnv1a(&out);
    out.extend_from_slice(&sum.to_le_bytes());
    out
}

/// Parses the record at the start of `data`: it and its length, or why not.
fn decode(data: &[u8]) -> std::result::Result<(Record, usize), &'static str> {
    let mut c = Cursor::new(data);
    if c.take(2)? != RECORD_MAGIC {
        return Err("bad record magic");
    }
    let kind = c.u8()?;
    let len = c.u32()? as usize;
    if len > INDEX_LOG_RECORD_MAX {
        return Err("record too long");
    }
    let payload = c.take(len)?;
    let end = FRAME - 8 + len;
    if c.u64()? != crate::store::sum::fnv1a(&data[..end]) {
        return Err("checksum mismatch");
    }
    let mut c = Cursor::new(payload);
    let kws = |c: &mut Cursor| -> std::result::Result<Vec<u16>, &'static str> {
        let n = usize::from(c.u16()?);
        (0..n).map(|_| c.u16()).collect()
    };
    let place = |c: &mut Cursor| -> std::result::Result<bool, &'static str> {
        match c.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err("bad place"),
        }
    };
    let name = |c: &mut Cursor| -> std::result::Result<String, &'static str> {
        let n = usize::from(c.u16()?);
        let s = std::str::from_utf8(c.take(n)?).map_err(|_| "bad name")?;
        Ok(s.to_string())
    };
    let r = match kind {
        1 => {
            let uid = c.u32()?;
            let modseq = c.u64()?;
            let size = c.u64()?;
            let date = c.i64()?;
            let zone = c.i32()?;
            let system = c.u8()?;
            let new = place(&mut c)?;
            let k = kws(&mut c)?;
            let flags = crate::store::Flags {
                system,
                keywords: Vec::new(),
            };
            let e = Entry {
                uid,
                modseq,
                size,
                date,
                zone,
                flags,
                name: name(&mut c)?.into(),
                new,
            };
            Record::Append(e, k)
        }
        2 => Record::Flags {
            uid: c.u32()?,
            modseq: c.u64()?,
            system: c.u8()?,
            new: place(&mut c)?,
            keywords: kws(&mut c)?,
            name: name(&mut c)?,
        },
        3 => Record::Expunge(c.u32()?, c.u64()?),
        4 => {
            let pos = c.u16()?;
            let n = usize::from(c.u16()?);
            let k = std::str::from_utf8(c.take(n)?).map_err(|_| "bad keyword")?;
            Record::Keyword(pos, k.to_string())
        }
        5 => Record::State {
            uid_next: c.u32()?,
            first_recent: c.u32()?,
            highest_modseq: c.u64()?,
            scanned: [c.i64()?, c.i64()?],
        },
        6 => Record::Date(c.u32()?, c.i64()?),
        _ => return Err("unknown record"),
    };
    if !c.done() {
        return Err("record longer than its fields");
    }
    Ok((r, FRAME + len))
}

/// Applies one record to `ix`, checking it as the main file's reader
/// checks the same values.
fn apply(ix: &mut Index, r: Record) -> std::result::Result<(), &'static str> {
    let modseq = match &r {
        Record::Append(e, _) => e.modseq,
        Record::Flags { modseq, .. } | Record::Expunge(_, modseq) => *modseq,
        Record::Keyword(..) | Record::State { .. } | Record::Date(..) => 0,
    };
    if !super::file::modseq_ok(modseq) {
        return Err("modseq out of range");
    }
    match r {
        Record::Append(mut e, kws) => {
            e.flags = ix.flags_of(e.flags.system, &kws).ok_or("bad flags")?;
            ix.uid_next = ix.uid_next.max(e.uid.checked_add(1).ok_or("bad uid")?);
            ix.highest_modseq = ix.highest_modseq.max(e.modseq);
            check_entry(ix, &e)?;
            ix.entries.push(e);
        }
        Record::Flags {
            uid,
            modseq,
            system,
            keywords,
            new,
            name,
        } => {
            let flags = ix.flags_of(system, &keywords).ok_or("bad flags")?;
            let k = ix.find(uid).ok_or("flags of a message not in the index")?;
            if !valid_base(&name) {
                return Err("bad name");
            }
            let mut e = ix.entries.get(k);
            e.flags = flags;
            e.modseq = modseq;
            e.new = new;
            e.name = name.into();
            ix.entries.set(k, e);
            ix.highest_modseq = ix.highest_modseq.max(modseq);
        }
        Record::Date(uid, date) => {
            let k = ix.find(uid).ok_or("date of a message not in the index")?;
            let mut e = ix.entries.get(k);
            e.date = date;
            ix.entries.set(k, e);
        }
        Record::Expunge(uid, modseq) => {
            let k = ix
                .find(uid)
                .ok_or("expunge of a message not in the index")?;
            let e = ix.entries.remove(k);
            ix.dropped.0.push(e);
            ix.highest_modseq = ix.highest_modseq.max(modseq);
            ix.vanish(uid, modseq);
        }
        Record::Keyword(pos, k) => {
            let pos = usize::from(pos);
            if pos >= KEYWORDS_MAX || (!k.is_empty() && !valid_keyword(&k)) {
                return Err("bad keyword");
            }
            if ix.keywords.len() <= pos {
                ix.keywords.resize(pos + 1, String::new());
            }
            if !ix.keywords[pos].is_empty() && ix.keywords[pos] != k {
                return Err("keyword slot renamed");
            }
            ix.keywords[pos] = k;
        }
        Record::State {
            uid_next,
            first_recent,
            highest_modseq,
            scanned,
        } => {
            if uid_next < ix.uid_next || highest_modseq < ix.highest_modseq {
                return Err("counters went back");
            }
            ix.uid_next = uid_next;
            ix.first_recent = first_recent;
            ix.scanned = scanned;
            ix.highest_modseq = highest_modseq;
            check_header(ix)?;
        }
    }
    Ok(())
}

/// What a replay found.
pub struct Replayed {
    /// Where the next record goes.
    pub end: u64,
    /// A torn tail was dropped (and the counters raised past it).
    pub torn: bool,
}

/// Applies `dir`'s log to `ix`, loaded from the main file that names log
/// `id`. `Ok(None)`: there is no log of that id (the main file has it
/// all, and the next commit must start a new log).
pub fn replay(dir: &Path, id: u64, ix: &mut Index) -> Result<Option<Replayed>> {
    let Some(mut f) = open_log(dir, id, false)? else {
        return Ok(None);
    };
    let mut buf = Vec::new();
    Read::by_ref(&mut f)
        .take(INDEX_FILE_MAX)
        .read_to_end(&mut buf)?;
    replay_bytes(&buf, id, ix)
}

/// `replay` of a log's bytes.
pub fn replay_bytes(buf: &[u8], id: u64, ix: &mut Index) -> Result<Option<Replayed>> {
    if buf.len() < HEADER_LEN as usize || buf[..HEADER_LEN as usize] != header(id)[..] {
        return Ok(None);
    }
    replay_records(&buf[HEADER_LEN as usize..], HEADER_LEN, ix).map(Some)
}

/// Applies the records of `tail`, the log from offset `base` on.
fn replay_records(buf: &[u8], base: u64, ix: &mut Index) -> Result<Replayed> {
    let corrupt = |why: &str| StoreError::Corrupt(format!("index log: {why}"));
    let mut pos = 0;
    while pos < buf.len() {
        match decode(&buf[pos..]) {
            Ok((r, n)) => {
                apply(ix, r).map_err(corrupt)?;
                pos += n;
            }
            Err(why) => {
                let rest = &buf[pos..];
                let later = (1..rest.len())
                    .any(|i| rest[i..].starts_with(&RECORD_MAGIC) && decode(&rest[i..]).is_ok());
                if later {
                    return Err(corrupt(why));
                }
                // Counters past anything the lost commit could have
                // handed out: no UID or modseq is ever used twice.
                let most = u32::try_from(rest.len() / MIN_APPEND + 1).unwrap_or(u32::MAX);
                ix.uid_next = ix
                    .uid_next
                    .checked_add(most)
                    .ok_or_else(|| corrupt("UIDs exhausted"))?;
                ix.highest_modseq = ix
                    .highest_modseq
                    .checked_add(u64::from(most))
                    .filter(|&m| super::file::modseq_ok(m))
                    .ok_or_else(|| corrupt("modseqs exhausted"))?;
                return Ok(Replayed {
                    end: base + pos as u64,
                    torn: true,
                });
            }
        }
    }
    Ok(Replayed {
        end: base + pos as u64,
        torn: false,
    })
}

/// Opens the log if it is log `id` (for writing too with `write`).
fn open_log(dir: &Path, id: u64, write: bool) -> Result<Option<File>> {
    let f = match crate::store::open::regular(
        &dir.join(LOG_FILE),
        OpenOptions::new().read(true).write(write),
    ) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) if crate::store::open::is_not_regular(&e) => return Ok(None),
        Err(e) => return Err(StoreError::Io(e)),
    };
    let mut head = [0u8; HEADER_LEN as usize];
    if f.read_exact_at(&mut head, 0).is_err() || head[..] != header(id)[..] {
        return Ok(None);
    }
    Ok(Some(f))
}

/// Applies what log `id` holds from offset `at` on (the commits other
/// sessions made since this one read up to `at`). `Ok(None)`: the log is
/// not that log any more (folded meanwhile) or is shorter: read the index
/// again instead.
pub fn tail(dir: &Path, id: u64, at: u64, ix: &mut Index) -> Result<Option<Replayed>> {
    let Some(f) = open_log(dir, id, false)? else {
        return Ok(None);
    };
    let len = f.metadata()?.len();
    if len < at || len - at > INDEX_FILE_MAX {
        return Ok(None);
    }
    let mut buf = vec![0u8; (len - at) as usize];
    f.read_exact_at(&mut buf, at)?;
    replay_records(&buf, at, ix).map(Some)
}

/// Appends `records` at `at` (dropping a torn tail there); the new end.
/// A commit that hands out UIDs is fdatasynced before it returns (a
/// client is told of it next), so no UID is ever handed out twice; one of
/// flag changes or expunges is not (DESIGN.md 4: on Maildir the flags are
/// in the file names and the unlinks are what expunges, neither fsynced,
/// as Dovecot's `mail_fsync = optimized`; a power failure may bring back
/// an expunged message, never lose one). `Ok(None)`: the log is not log `id`
/// any more (removed by hand): the caller writes a new main file instead.
pub fn append(dir: &Path, id: u64, at: u64, records: &[Record]) -> Result<Option<u64>> {
    let Some(f) = open_log(dir, id, true)? else {
        return Ok(None);
    };
    let mut buf = Vec::new();
    for r in records {
        buf.extend_from_slice(&encode(r));
    }
    let len = f.metadata()?.len();
    if len != at {
        // Only a torn tail may be cut: records there are another commit's,
        // made after the caller's snapshot (a caller bug; never lose them).
        let mut next =
            vec![0u8; (len.saturating_sub(at) as usize).min(FRAME + INDEX_LOG_RECORD_MAX)];
        let n = f.read_at(&mut next, at)?;
        if len < at || decode(&next[..n]).is_ok() {
            return Err(StoreError::Corrupt(
                "index log changed since it was read".into(),
            ));
        }
        f.set_len(at)?;
    }
    f.write_all_at(&buf, at)?;
    if records.iter().any(|r| matches!(r, Record::Append(..))) {
        f.sync_data()?;
    }
    Ok(Some(at + buf.len() as u64))
}

#[cfg(test)]
pub(super) fn encode_for_test(r: &Record) -> Vec<u8> {
    encode(r)
}

#[cfg(test)]
pub(super) fn decode_for_test(data: &[u8]) -> std::result::Result<(Record, usize), &'static str> {
    decode(data)
}
