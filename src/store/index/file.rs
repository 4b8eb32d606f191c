//! The index's main file, `mailaccess.index`: the state as of the start of
//! its log. Little-endian; every section has its own checksum, so that it
//! is read as a stream (a few buffers, never the whole file):
//!
//! ```text
//! header   128 octets: magic "mlaidx\0\x05", uidvalidity u32, uidnext u32,
//!          firstrecent u32, count u32, highestmodseq u64, log id u64,
//!          keyword-section length u32, position-section length u32,
//!          name-section length u32, history-section length u32, new/ and
//!          cur/ times at the last full scan i64 x 2 (`Index::scanned`),
//!          FNV-1a 64 of each of the first four sections below, the modseq
//!          the history starts from u64 (`Index::vanished_from`), the sum of
//!          the history section, the sum of the 120 octets before it
//! records  count x 48 octets, UID order: uid u32, system flags u8, place u8
//!          (1: the file is in new/, 0: in cur/), name length u16, zone
//!          (minutes east) i32, name offset u32, modseq u64, CRLF size u64,
//!          internal date i64, keyword-position offset u32 (in u16 units),
//!          count u16, 0 u16
//! keywords per table slot: length u16, the keyword ("" = unused slot)
//! positions u16 keyword-table positions, the records' lists in record order
//! names    the Maildir file names, in record order
//! history  the expunge history (`Index::vanished`), 16 octets a run: first
//!          UID u32, last UID u32, modseq u64
//! ```
//!
//! Every sum is `sum64` (`store::sum`), a word at a time. Format 4 (magic
//! ending `\x04`) is the same with FNV-1a 64 an octet at a time, which
//! took a third of a warm SELECT of 100,000 messages to check. Format 3
//! (`\x03`, FNV-1a too, the history-section length, its start and
//! checksum 0) kept no expunge history; it is read as one whose history
//! starts at its HIGHESTMODSEQ. Both are read, and replaced at the next
//! fold.
//!
//! Fixed-size records keep a message's place computable, so that a later
//! reader can map the file and read one record without parsing the rest.

use std::path::Path;

use super::entries::{Base, Entries, Source, RECORD};
use super::{valid_base, valid_keyword, Entry, Index, Vanished};
use crate::limits::{KEYWORDS_MAX, MESSAGES_MAX, STREAM_BUFFER};
use crate::store::sum::{sum64, Sum64};
use crate::store::{Result, StoreError};

pub const INDEX_FILE: &str = "mailaccess.index";
const MAGIC: &[u8; 8] = b"mlaidx\0\x05";
/// The format summed an octet at a time.
const MAGIC_4: &[u8; 8] = b"mlaidx\0\x04";
/// The format before the expunge history.
const MAGIC_3: &[u8; 8] = b"mlaidx\0\x03";
const HEADER: usize = 128;
const RUN: usize = 16;
/// Where the header's own checksum is.
const HEADER_SUM: usize = HEADER - 8;

/// Writes `ix` as the main file (new file, fsync, rename, fsync the
/// directory); returns its length.
pub fn write(dir: &Path, ix: &Index, log_id: u64) -> Result<u64> {
    // The header and the sections written one after the other: the file
    // is never in memory twice (an mbox's first index of 50,000 messages
    // is 2.5 MB).
    let parts = encode_parts(ix, log_id)?;
    crate::store::open::replace_with(&dir.join(INDEX_FILE), true, |f| {
        parts
            .iter()
            .try_for_each(|p| std::io::Write::write_all(f, p))
    })?;
    Ok(parts.iter().map(|p| p.len() as u64).sum())
}

/// Reads and checks the main file: the index, its log's id and the file's
/// length. `Ok(None)`: there is none.
pub fn read(dir: &Path) -> Result<Option<(Index, u64, u64)>> {
    let Some(f) = super::open_file(&dir.join(INDEX_FILE))? else {
        return Ok(None);
    };
    let len = f.metadata()?.len();
    decode(Source::File(f), len)
        .map(|(ix, id)| Some((ix, id, len)))
        .map_err(|e| match e {
            Bad::Io(e) => StoreError::Io(e),
            Bad::Data(why) => StoreError::Corrupt(format!("index: {why}")),
        })
}

/// Why a main file was not read.
pub(super) enum Bad {
    Io(std::io::Error),
    Data(&'static str),
}

impl From<&'static str> for Bad {
    fn from(why: &'static str) -> Bad {
        Bad::Data(why)
    }
}

/// What the main file is read from: the file (pread) or, for the fuzz
/// target, bytes.
pub(super) trait At {
    fn read_at(&self, buf: &mut [u8], off: u64) -> std::io::Result<usize>;
}

impl At for std::fs::File {
    fn read_at(&self, buf: &mut [u8], off: u64) -> std::io::Result<usize> {
        std::os::unix::fs::FileExt::read_at(self, buf, off)
    }
}

impl At for [u8] {
    fn read_at(&self, buf: &mut [u8], off: u64) -> std::io::Result<usize> {
        let off = usize::try_from(off).unwrap_or(usize::MAX).min(self.len());
        let n = buf.len().min(self.len() - off);
        buf[..n].copy_from_slice(&self[off..off + n]);
        Ok(n)
    }
}

/// Reads `buf.len()` octets at `at`, or as many as there are before the
/// end; returns how many.
pub(super) fn fill_at<A: At + ?Sized>(src: &A, buf: &mut [u8], at: u64) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match src.read_at(&mut buf[got..], at + got as u64) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// One section read front to back through a small buffer, its checksum
/// kept as it goes.
struct Stream<'a, A: At + ?Sized> {
    src: &'a A,
    /// File offset of `buf[0]`.
    at: u64,
    end: u64,
    buf: Vec<u8>,
    pos: usize,
    sum: Summing,
}

/// A running checksum of the format being read (see the module comment).
#[derive(Clone)]
enum Summing {
    /// Formats 3 and 4: FNV-1a 64, an octet at a time.
    Octets(u64),
    Words(Sum64),
}

impl Summing {
    fn new(words: bool) -> Summing {
        if words {
            Summing::Words(Sum64::new())
        } else {
            Summing::Octets(crate::store::sum::FNV_START)
        }
    }

    fn update(&mut self, data: &[u8]) {
        match self {
            Summing::Octets(h) => *h = crate::store::sum::fnv1a_more(*h, data),
            Summing::Words(s) => s.update(data),
        }
    }

    fn value(&self) -> u64 {
        match self {
            Summing::Octets(h) => *h,
            Summing::Words(s) => s.clone().finish(),
        }
    }

    /// The sum of `data` alone.
    fn of(words: bool, data: &[u8]) -> u64 {
        let mut s = Summing::new(words);
        s.update(data);
        s.value()
    }
}

impl<'a, A: At + ?Sized> Stream<'a, A> {
    fn new(src: &'a A, at: u64, len: u64, words: bool) -> Stream<'a, A> {
        Stream {
            src,
            at,
            end: at + len,
            buf: Vec::new(),
            pos: 0,
            sum: Summing::new(words),
        }
    }

    /// The next `n` octets of the section.
    fn take(&mut self, n: usize) -> std::result::Result<&[u8], Bad> {
        if self.buf.len() - self.pos < n {
            self.at += self.pos as u64;
            self.buf.drain(..self.pos);
            self.pos = 0;
            let want = (STREAM_BUFFER.max(n) as u64).min(self.end - self.at) as usize;
            let have = self.buf.len();
            if want < n {
                return Err(Bad::Data("truncated"));
            }
            self.buf.resize(want, 0);
            let at = self.at + have as u64;
            if fill_at(self.src, &mut self.buf[have..], at).map_err(Bad::Io)? < want - have {
                return Err(Bad::Data("truncated"));
            }
            // Summed as read, a buffer at a time: `finish` checks that all
            // of it was taken.
            self.sum.update(&self.buf[have..]);
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    /// The next `len` octets of the section, given to `each` a buffer at a
    /// time, each piece a whole number of `unit`s.
    fn pieces(
        &mut self,
        len: usize,
        unit: usize,
        mut each: impl FnMut(&[u8]) -> std::result::Result<(), Bad>,
    ) -> std::result::Result<(), Bad> {
        let most = (STREAM_BUFFER / unit).max(1) * unit;
        let mut left = len;
        while left > 0 {
            let n = left.min(most);
            each(self.take(n)?)?;
            left -= n;
        }
        Ok(())
    }

    /// Checks that the whole section was read and its checksum is `want`.
    fn finish(&self, want: u64) -> std::result::Result<(), Bad> {
        if self.at + self.pos as u64 != self.end {
            return Err(Bad::Data("section longer than its records"));
        }
        if self.sum.value() != want {
            return Err(Bad::Data("checksum mismatch"));
        }
        Ok(())
    }
}

fn u16_of(n: usize) -> Result<u16> {
    u16::try_from(n).map_err(|_| StoreError::Limit("index field too long"))
}

fn u32_of(n: usize) -> Result<u32> {
    u32::try_from(n).map_err(|_| StoreError::Limit("index too large"))
}

pub(super) fn encode(ix: &Index, log_id: u64) -> Result<Vec<u8>> {
    Ok(encode_parts(ix, log_id)?.concat())
}

/// The main file in its parts: the header, then the records, keywords,
/// positions, names and history sections.
fn encode_parts(ix: &Index, log_id: u64) -> Result<[Vec<u8>; 6]> {
    let mut records = Vec::with_capacity(ix.len() * RECORD);
    let mut positions: Vec<u8> = Vec::new();
    let mut names: Vec<u8> = Vec::with_capacity(ix.len() * 48);
    let mut dates = ix.folded_dates.iter().peekable();
    for mut e in ix.iter() {
        while let Some(&(uid, date)) = dates.next_if(|d| d.0 <= e.uid) {
            if uid == e.uid && e.date == super::DATE_UNKNOWN {
                e.date = date;
            }
        }
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
    let mut history = Vec::with_capacity(ix.vanished.len() * RUN);
    for v in &ix.vanished {
        history.extend_from_slice(&v.lo.to_le_bytes());
        history.extend_from_slice(&v.hi.to_le_bytes());
        history.extend_from_slice(&v.modseq.to_le_bytes());
    }
    let mut out = Vec::with_capacity(HEADER);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&ix.uid_validity.to_le_bytes());
    out.extend_from_slice(&ix.uid_next.to_le_bytes());
    out.extend_from_slice(&ix.first_recent.to_le_bytes());
    out.extend_from_slice(&u32_of(ix.len())?.to_le_bytes());
    out.extend_from_slice(&ix.highest_modseq.to_le_bytes());
    out.extend_from_slice(&log_id.to_le_bytes());
    out.extend_from_slice(&u32_of(keywords.len())?.to_le_bytes());
    out.extend_from_slice(&u32_of(positions.len())?.to_le_bytes());
    out.extend_from_slice(&u32_of(names.len())?.to_le_bytes());
    out.extend_from_slice(&u32_of(history.len())?.to_le_bytes());
    for t in ix.scanned {
        out.extend_from_slice(&t.to_le_bytes());
    }
    for section in [&records, &keywords, &positions, &names] {
        out.extend_from_slice(&sum64(section).to_le_bytes());
    }
    out.extend_from_slice(&ix.vanished_from.to_le_bytes());
    out.extend_from_slice(&sum64(&history).to_le_bytes());
    let sum = sum64(&out);
    out.extend_from_slice(&sum.to_le_bytes());
    Ok([out, records, keywords, positions, names, history])
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

/// One record of the main file as stored (the layout in the module
/// comment), read by `decode` when the file is opened and by `entries.rs`
/// each time an entry is asked for.
pub(super) struct RawRecord {
    pub uid: u32,
    pub system: u8,
    pub new: bool,
    pub name_len: usize,
    pub zone: i32,
    pub name_off: usize,
    pub modseq: u64,
    pub size: u64,
    pub date: i64,
    pub kw_off: usize,
    pub kw_n: usize,
}

impl RawRecord {
    pub(super) fn parse(r: &[u8]) -> std::result::Result<RawRecord, &'static str> {
        // Fixed offsets in a fixed-size array: no bounds check per field
        // (the main file's records are read 100,000 at a time at SELECT).
        let r: &[u8; RECORD] = r.try_into().map_err(|_| "truncated")?;
        let u16_at = |i: usize| u16::from_le_bytes([r[i], r[i + 1]]);
        let u32_at = |i: usize| u32::from_le_bytes([r[i], r[i + 1], r[i + 2], r[i + 3]]);
        let u64_at = |i: usize| u64::from(u32_at(i)) | u64::from(u32_at(i + 4)) << 32;
        let new = match r[5] {
            0 => false,
            1 => true,
            _ => return Err("bad place"),
        };
        Ok(RawRecord {
            uid: u32_at(0),
            system: r[4],
            new,
            name_len: usize::from(u16_at(6)),
            zone: u32_at(8) as i32,
            name_off: u32_at(12) as usize,
            modseq: u64_at(16),
            size: u64_at(24),
            date: u64_at(32) as i64,
            kw_off: u32_at(40) as usize,
            kw_n: usize::from(u16_at(44)),
        })
    }
}

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
    check_values(ix, ix.last_uid(), e.uid, e.modseq, e.zone, &e.name)
}

/// `check_entry` on the values of a record that follows UID `last`.
fn check_values(
    ix: &Index,
    last: u32,
    uid: u32,
    modseq: u64,
    zone: i32,
    name: &str,
) -> std::result::Result<(), &'static str> {
    check_numbers(ix, last, uid, modseq, zone)?;
    if !valid_base(name) {
        return Err("message record out of order or range");
    }
    Ok(())
}

/// `check_values` but for the name (the main file checks its names
/// section as a whole).
fn check_numbers(
    ix: &Index,
    last: u32,
    uid: u32,
    modseq: u64,
    zone: i32,
) -> std::result::Result<(), &'static str> {
    if last >= uid
        || uid == 0
        || uid >= ix.uid_next
        || modseq > ix.highest_modseq
        || zone.unsigned_abs() > 24 * 60
    {
        return Err("message record out of order or range");
    }
    Ok(())
}

/// Checks a run of the expunge history against the index it goes into
/// (after its last run, the messages all read): no message's UID is in it,
/// and one lies between it and the run before.
fn check_vanished(ix: &Index, v: &Vanished) -> std::result::Result<(), &'static str> {
    let after = ix.vanished.last().map_or(0, |p| p.hi);
    if v.lo == 0
        || v.lo > v.hi
        || v.hi >= ix.uid_next
        || v.lo <= after
        || v.modseq > ix.highest_modseq
        || ix.live_between(v.lo - 1, v.hi + 1)
        || (after != 0 && !ix.live_between(after, v.lo))
    {
        return Err("expunge history out of order or range");
    }
    Ok(())
}

/// Reads a main file of `len` octets from `src`: the index and its log's
/// id. Every section is read and checked; the records and names stay in
/// `src`, which the index keeps (`entries.rs`).
pub(super) fn decode(source: Source, len: u64) -> std::result::Result<(Index, u64), Bad> {
    let src = &source;
    let mut head = [0u8; HEADER];
    if len < HEADER as u64 || src.read_at(&mut head, 0).map_err(Bad::Io)? != HEADER {
        return Err(Bad::Data("truncated"));
    }
    let mut h = Cursor::new(&head);
    let (version_3, words) = match h.take(8)? {
        m if m == MAGIC => (false, true),
        m if m == MAGIC_4 => (false, false),
        m if m == MAGIC_3 => (true, false),
        _ => return Err(Bad::Data("unknown format")),
    };
    if u64::from_le_bytes(head[HEADER_SUM..].try_into().map_err(|_| "truncated")?)
        != Summing::of(words, &head[..HEADER_SUM])
    {
        return Err(Bad::Data("header checksum mismatch"));
    }
    let mut ix = Index::new(h.u32()?);
    ix.uid_next = h.u32()?;
    ix.first_recent = h.u32()?;
    let count = h.u32()? as usize;
    ix.highest_modseq = h.u64()?;
    let log_id = h.u64()?;
    let kw_len = u64::from(h.u32()?);
    let pos_len = u64::from(h.u32()?);
    let names_len = u64::from(h.u32()?);
    let history_len = u64::from(h.u32()?);
    ix.scanned = [h.i64()?, h.i64()?];
    let sums = [h.u64()?, h.u64()?, h.u64()?, h.u64()?];
    ix.vanished_from = h.u64()?;
    let mut history_sum = h.u64()?;
    if version_3 {
        if history_len != 0 || ix.vanished_from != 0 || history_sum != 0 {
            return Err(Bad::Data("bad header values"));
        }
        ix.vanished_from = ix.highest_modseq;
        history_sum = Summing::of(words, &[]);
    }
    check_header(&ix)?;
    if ix.vanished_from > ix.highest_modseq {
        return Err(Bad::Data("bad header values"));
    }
    if count > MESSAGES_MAX {
        return Err(Bad::Data("too many messages"));
    }
    let rec_len = (count * RECORD) as u64;
    if HEADER as u64 + rec_len + kw_len + pos_len + names_len + history_len != len
        || pos_len % 2 != 0
        || history_len % RUN as u64 != 0
        || history_len > (count as u64 + 1) * RUN as u64
    {
        return Err(Bad::Data("section lengths do not add up"));
    }
    let mut at = HEADER as u64;
    let mut records = Stream::new(src, at, rec_len, words);
    at += rec_len;
    let mut kw = Stream::new(src, at, kw_len, words);
    at += kw_len;
    let mut positions = Stream::new(src, at, pos_len, words);
    at += pos_len;
    let mut names = Stream::new(src, at, names_len, words);
    at += names_len;
    let mut history = Stream::new(src, at, history_len, words);
    let mut kw_read = 0;
    while kw_read < kw_len {
        if ix.keywords.len() >= KEYWORDS_MAX {
            return Err(Bad::Data("too many keywords"));
        }
        let n = usize::from(u16::from_le_bytes(
            kw.take(2)?.try_into().map_err(|_| "truncated")?,
        ));
        let k = std::str::from_utf8(kw.take(n)?).map_err(|_| "bad keyword")?;
        if !k.is_empty() && !valid_keyword(k) {
            return Err(Bad::Data("bad keyword"));
        }
        ix.keywords.push(k.to_string());
        kw_read += 2 + n as u64;
    }
    kw.finish(sums[1])?;
    let mut uids: Vec<u32> = Vec::with_capacity(count);
    let (mut name_at, mut kw_at) = (0usize, 0usize);
    records.pieces(count * RECORD, RECORD, |piece| {
        for raw in piece.chunks_exact(RECORD) {
            let r = RawRecord::parse(raw)?;
            // Names and keyword lists are in record order, one after another;
            // both sections are checked whole below.
            if r.name_off != name_at || r.kw_off != kw_at {
                return Err(Bad::Data("records out of order"));
            }
            if !(1..=super::BASE_MAX).contains(&r.name_len) {
                return Err(Bad::Data("bad name"));
            }
            name_at += r.name_len;
            kw_at += r.kw_n;
            if r.system & !super::ALL_SYSTEM != 0 {
                return Err(Bad::Data("bad flags"));
            }
            let last = uids.last().copied().unwrap_or(0);
            check_numbers(&ix, last, r.uid, r.modseq, r.zone)?;
            uids.push(r.uid);
        }
        Ok(())
    })?;
    records.finish(sums[0])?;
    if kw_at as u64 * 2 != pos_len || name_at as u64 != names_len {
        return Err(Bad::Data("section lengths do not add up"));
    }
    // Every keyword position names a keyword of the table.
    let mut all_positions = Vec::with_capacity(kw_at);
    positions.pieces(kw_at * 2, 2, |piece| {
        for p in piece.chunks_exact(2) {
            let p = u16::from_le_bytes([p[0], p[1]]);
            if ix.keywords.get(usize::from(p)).is_none_or(|k| k.is_empty()) {
                return Err(Bad::Data("bad flags"));
            }
            all_positions.push(p);
        }
        Ok(())
    })?;
    positions.finish(sums[2])?;
    // The names, one after another, are each a valid base name (their
    // lengths checked above): the section holds only what one may.
    names.pieces(name_at, 1, |piece| {
        match piece.iter().copied().all(super::base_octet) {
            true => Ok(()),
            false => Err(Bad::Data("bad name")),
        }
    })?;
    names.finish(sums[3])?;
    ix.entries = Entries::of_uids(uids);
    for _ in 0..history_len / RUN as u64 {
        let mut c = Cursor::new(history.take(RUN)?);
        let v = Vanished {
            lo: c.u32()?,
            hi: c.u32()?,
            modseq: c.u64()?,
        };
        check_vanished(&ix, &v)?;
        ix.vanished.push(v);
    }
    history.finish(history_sum)?;
    let base = Base {
        records_at: HEADER as u64,
        names_at: HEADER as u64 + rec_len + kw_len + pos_len,
        names_len,
        count,
        highest_modseq: ix.highest_modseq,
        keywords: ix.keywords.clone(),
        positions: all_positions,
        source,
    };
    ix.entries.attach(base);
    Ok((ix, log_id))
}
