//! The index's main file, `mailaccess.index`: the state as of the start of
//! its log. Little-endian, checksummed as a whole:
//!
//! ```text
//! header   80 octets: magic "mlaidx\0\x02", uidvalidity u32, uidnext u32,
//!          firstrecent u32, count u32, highestmodseq u64, log id u64,
//!          keyword-section length u32, position-section length u32,
//!          name-section length u32, new/ and cur/ times at the last full
//!          scan i64 x 2 (`Index::scanned`), 12 zero octets
//! records  count x 48 octets, UID order: uid u32, system flags u8, place u8
//!          (1: the file is in new/, 0: in cur/),
//!          name length u16, zone (minutes east) i32, name offset u32,
//!          modseq u64, CRLF size u64, internal date i64,
//!          keyword-position offset u32 (in u16 units), count u16, 0 u16
//! keywords per table slot: length u16, the keyword ("" = unused slot)
//! positions u16 keyword-table positions, the records' lists one after another
//! names    the Maildir file names, one after another
//! trailer  FNV-1a 64 of every octet before it
//! ```
//!
//! Fixed-size records keep a message's place computable, so that a later
//! reader can map the file and read one record without parsing the rest.

use std::path::Path;

use super::{valid_base, valid_keyword, Entry, Index};
use crate::limits::{KEYWORDS_MAX, MESSAGES_MAX};
use crate::store::{Result, StoreError};

pub const INDEX_FILE: &str = "mailaccess.index";
const MAGIC: &[u8; 8] = b"mlaidx\0\x02";
const HEADER: usize = 80;
const RECORD: usize = 48;
const TRAILER: usize = 8;

/// Writes `ix` as the main file (new file, fsync, rename, fsync the
/// directory); returns its length.
pub fn write(dir: &Path, ix: &Index, log_id: u64) -> Result<u64> {
    let data = encode(ix, log_id)?;
    crate::store::open::replace(&dir.join(INDEX_FILE), &data, true)?;
    Ok(data.len() as u64)
}

/// Reads and checks the main file: the index, its log's id and the file's
/// length. `Ok(None)`: there is none.
pub fn read(dir: &Path) -> Result<Option<(Index, u64, u64)>> {
    let Some(buf) = super::read_file(&dir.join(INDEX_FILE))? else {
        return Ok(None);
    };
    let len = buf.len() as u64;
    decode(&buf)
        .map(|(ix, id)| Some((ix, id, len)))
        .map_err(|why| StoreError::Corrupt(format!("index: {why}")))
}

fn u16_of(n: usize) -> Result<u16> {
    u16::try_from(n).map_err(|_| StoreError::Limit("index field too long"))
}

fn u32_of(n: usize) -> Result<u32> {
    u32::try_from(n).map_err(|_| StoreError::Limit("index too large"))
}

pub(super) fn encode(ix: &Index, log_id: u64) -> Result<Vec<u8>> {
    let mut records = Vec::with_capacity(ix.entries.len() * RECORD);
    let mut positions: Vec<u8> = Vec::new();
    let mut names: Vec<u8> = Vec::with_capacity(ix.entries.len() * 48);
    for e in &ix.entries {
        let kws = ix.positions(&e.flags);
        let kw_off = u32_of(positions.len() / 2)?;
        for p in &kws {
            positions.extend_from_slice(&p.to_le_bytes());
        }
        records.extend_from_slice(&e.uid.to_le_bytes());
        records.push(e.flags.system);
        records.push(u8::from(e.new));
        records.extend_from_slice(&u16_of(e.name.len())?.to_le_bytes());
        records.extend_from_slice(&e.zone.to_le_bytes());
        records.extend_from_slice(&u32_of(names.len())?.to_le_bytes());
        records.extend_from_slice(&e.modseq.to_le_bytes());
        records.extend_from_slice(&e.size.to_le_bytes());
        records.extend_from_slice(&e.date.to_le_bytes());
        records.extend_from_slice(&kw_off.to_le_bytes());
        records.extend_from_slice(&u16_of(kws.len())?.to_le_bytes());
        records.extend_from_slice(&[0, 0]);
        names.extend_from_slice(e.name.as_bytes());
    }
    let mut keywords = Vec::new();
    for k in &ix.keywords {
        keywords.extend_from_slice(&u16_of(k.len())?.to_le_bytes());
        keywords.extend_from_slice(k.as_bytes());
    }
    let mut out = Vec::with_capacity(
        HEADER + records.len() + keywords.len() + positions.len() + names.len() + TRAILER,
    );
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&ix.uid_validity.to_le_bytes());
    out.extend_from_slice(&ix.uid_next.to_le_bytes());
    out.extend_from_slice(&ix.first_recent.to_le_bytes());
    out.extend_from_slice(&u32_of(ix.entries.len())?.to_le_bytes());
    out.extend_from_slice(&ix.highest_modseq.to_le_bytes());
    out.extend_from_slice(&log_id.to_le_bytes());
    out.extend_from_slice(&u32_of(keywords.len())?.to_le_bytes());
    out.extend_from_slice(&u32_of(positions.len())?.to_le_bytes());
    out.extend_from_slice(&u32_of(names.len())?.to_le_bytes());
    for t in ix.scanned {
        out.extend_from_slice(&t.to_le_bytes());
    }
    out.resize(HEADER, 0);
    out.extend_from_slice(&records);
    out.extend_from_slice(&keywords);
    out.extend_from_slice(&positions);
    out.extend_from_slice(&names);
    let sum = super::text::fnv1a(&out);
    out.extend_from_slice(&sum.to_le_bytes());
    Ok(out)
}

/// A bounds-checked little-endian reader over one section.
pub(super) struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(super) fn new(data: &'a [u8]) -> Cursor<'a> {
        Cursor { data, pos: 0 }
    }

    pub(super) fn take(&mut self, n: usize) -> std::result::Result<&'a [u8], &'static str> {
        let end = self.pos.checked_add(n).ok_or("truncated")?;
        let s = self.data.get(self.pos..end).ok_or("truncated")?;
        self.pos = end;
        Ok(s)
    }

    pub(super) fn done(&self) -> bool {
        self.pos == self.data.len()
    }

    pub(super) fn u8(&mut self) -> std::result::Result<u8, &'static str> {
        Ok(self.take(1)?[0])
    }
}

macro_rules! le {
    ($name:ident, $t:ty) => {
        impl Cursor<'_> {
            pub(super) fn $name(&mut self) -> std::result::Result<$t, &'static str> {
                let b = self.take(std::mem::size_of::<$t>())?;
                Ok(<$t>::from_le_bytes(b.try_into().map_err(|_| "truncated")?))
            }
        }
    };
}
le!(u16, u16);
le!(u32, u32);
le!(i32, i32);
le!(u64, u64);
le!(i64, i64);

/// Checks the index's invariants on values read from disk: the same ones a
/// log replay keeps.
pub(super) fn check_header(ix: &Index) -> std::result::Result<(), &'static str> {
    if ix.uid_validity == 0
        || !modseq_ok(ix.highest_modseq)
        || ix.uid_next == 0
        || ix.first_recent == 0
        || ix.first_recent > ix.uid_next
    {
        return Err("bad header values");
    }
    Ok(())
}

/// RFC 7162: modseqs are 63-bit; room is left to count up from any we
/// accept.
pub(super) fn modseq_ok(m: u64) -> bool {
    m < 1 << 62
}

/// Checks one entry against the index it goes into (after the last one).
pub(super) fn check_entry(ix: &Index, e: &Entry) -> std::result::Result<(), &'static str> {
    if ix.entries.last().is_some_and(|l| l.uid >= e.uid)
        || e.uid == 0
        || e.uid >= ix.uid_next
        || e.modseq > ix.highest_modseq
        || e.zone.unsigned_abs() > 24 * 60
        || !valid_base(&e.name)
    {
        return Err("message record out of order or range");
    }
    Ok(())
}

pub(super) fn decode(buf: &[u8]) -> std::result::Result<(Index, u64), &'static str> {
    if buf.len() < HEADER + TRAILER {
        return Err("truncated");
    }
    let (body, sum) = buf.split_at(buf.len() - TRAILER);
    if u64::from_le_bytes(sum.try_into().map_err(|_| "truncated")?) != super::text::fnv1a(body) {
        return Err("checksum mismatch");
    }
    let mut h = Cursor::new(&body[..HEADER]);
    if h.take(8)? != MAGIC {
        return Err("unknown format");
    }
    let mut ix = Index::new(h.u32()?);
    ix.uid_next = h.u32()?;
    ix.first_recent = h.u32()?;
    let count = h.u32()? as usize;
    ix.highest_modseq = h.u64()?;
    let log_id = h.u64()?;
    let kw_len = h.u32()? as usize;
    let pos_len = h.u32()? as usize;
    let names_len = h.u32()? as usize;
    ix.scanned = [h.i64()?, h.i64()?];
    check_header(&ix)?;
    if count > MESSAGES_MAX {
        return Err("too many messages");
    }
    let mut rest = Cursor::new(&body[HEADER..]);
    let records = rest.take(count.checked_mul(RECORD).ok_or("truncated")?)?;
    let mut kw = Cursor::new(rest.take(kw_len)?);
    let positions = rest.take(pos_len)?;
    let names = rest.take(names_len)?;
    if !rest.done() || pos_len % 2 != 0 {
        return Err("section lengths do not add up");
    }
    while !kw.done() {
        if ix.keywords.len() >= KEYWORDS_MAX {
            return Err("too many keywords");
        }
        let n = usize::from(kw.u16()?);
        let k = std::str::from_utf8(kw.take(n)?).map_err(|_| "bad keyword")?;
        if !k.is_empty() && !valid_keyword(k) {
            return Err("bad keyword");
        }
        ix.keywords.push(k.to_string());
    }
    ix.entries.reserve_exact(count);
    let mut kws = Vec::new();
    for r in records.chunks_exact(RECORD) {
        let mut c = Cursor::new(r);
        let uid = c.u32()?;
        let system = c.u8()?;
        let place = c.u8()?;
        if place > 1 {
            return Err("bad place");
        }
        let name_len = usize::from(c.u16()?);
        let zone = c.i32()?;
        let name_off = c.u32()? as usize;
        let modseq = c.u64()?;
        let size = c.u64()?;
        let date = c.i64()?;
        let kw_off = c.u32()? as usize * 2;
        let kw_n = usize::from(c.u16()?) * 2;
        let name = names
            .get(name_off..name_off.checked_add(name_len).ok_or("bad name")?)
            .ok_or("bad name")?;
        let name = std::str::from_utf8(name).map_err(|_| "bad name")?;
        let list = positions
            .get(kw_off..kw_off.checked_add(kw_n).ok_or("bad keywords")?)
            .ok_or("bad keywords")?;
        kws.clear();
        kws.extend(
            list.chunks_exact(2)
                .map(|p| u16::from_le_bytes([p[0], p[1]])),
        );
        let flags = ix.flags_of(system, &kws).ok_or("bad flags")?;
        let e = Entry {
            uid,
            modseq,
            size,
            date,
            zone,
            flags,
            name: name.to_string(),
            new: place == 1,
        };
        check_entry(&ix, &e)?;
        ix.entries.push(e);
    }
    Ok((ix, log_id))
}
