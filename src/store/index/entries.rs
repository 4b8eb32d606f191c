//! How an index keeps its entries (DESIGN.md 4, the selected view). The
//! records of the main file the index was read from stay in that file and
//! are read by pread, a block at a time, when asked for; the heap holds
//! their UIDs (4 octets a message), their keyword positions, and whole
//! entries only for what changed since the file was written or came after
//! it. A session that reads FLAGS of 100,000 messages thus holds 400 kB of
//! them, not 15 MB.
//!
//! The file is never changed in place (a fold writes a new one and renames
//! it over), so the records read later are the ones checked when it was
//! opened; a read that fails anyway (an I/O error, or a file changed by
//! hand) gives an entry with no flags and no name, whose file is then not
//! found, and the mailbox is looked at again.

use std::borrow::Cow;
use std::cell::RefCell;
use std::sync::Arc;

use rustc_hash::FxHashMap as HashMap;

use super::file::{fill_at, At, RawRecord};
use super::{Entry, Flags, ModSeq, Uid};
use crate::limits::STREAM_BUFFER;

/// Octets of one record in the main file (see `file.rs`).
pub(super) const RECORD: usize = 48;
/// Where a record's system flags are in it (after the UID), and its
/// modseq (after flags, place, name length, zone and name offset).
const SYSTEM_AT: usize = 4;
const MODSEQ_AT: usize = 16;

/// Where a main file's records are read from.
#[derive(Debug)]
pub(super) enum Source {
    File(std::fs::File),
    /// For the fuzz target and tests.
    Bytes(Vec<u8>),
}

impl At for Source {
    fn read_at(&self, buf: &mut [u8], off: u64) -> std::io::Result<usize> {
        match self {
            Source::File(f) => f.read_at(buf, off),
            Source::Bytes(b) => b.as_slice().read_at(buf, off),
        }
    }
}

/// The main file an index was read from, as far as its entries need it.
#[derive(Debug)]
pub(super) struct Base {
    pub source: Source,
    /// File offsets of record 0 and of the names section, its length.
    pub records_at: u64,
    pub names_at: u64,
    pub names_len: u64,
    pub count: usize,
    /// No record has a higher modseq (the file's HIGHESTMODSEQ).
    pub highest_modseq: ModSeq,
    /// The keyword table the records' positions refer to.
    pub keywords: Vec<String>,
    /// The positions section.
    pub positions: Vec<u16>,
}

impl Base {
    fn record(&self, buf: &Block, n: usize, with_name: Option<&Block>) -> Option<Entry> {
        let at = self.records_at + (n * RECORD) as u64;
        let end = self.records_at + (self.count * RECORD) as u64;
        let rec = buf
            .read(&self.source, at, RECORD, end, RawRecord::parse)?
            .ok()?;
        let mut e = self.entry(&rec)?;
        if let Some(names) = with_name {
            let at = self.names_at + rec.name_off as u64;
            let end = self.names_at + self.names_len;
            e.name = names.read(&self.source, at, rec.name_len, end, |b| {
                std::str::from_utf8(b)
                    .ok()
                    .filter(|n| super::valid_base(n))
                    .map(|n| Cow::Owned(n.to_string()))
            })??;
        }
        Some(e)
    }

    /// `f` of record `n` as stored, if its UID is `uid` (as `record`
    /// checks): one field read without the rest.
    fn field<T>(
        &self,
        buf: &Block,
        n: usize,
        uid: Uid,
        f: impl FnOnce(&[u8]) -> Option<T>,
    ) -> Option<T> {
        let at = self.records_at + (n * RECORD) as u64;
        let end = self.records_at + (self.count * RECORD) as u64;
        buf.read(&self.source, at, RECORD, end, |r| {
            (Uid::from_le_bytes(r[..4].try_into().ok()?) == uid).then(|| f(r))?
        })?
    }

    /// The entry of record `r`, but for its name (left empty).
    fn entry(&self, r: &RawRecord) -> Option<Entry> {
        let mut flags = Flags {
            system: r.system,
            keywords: Vec::new(),
        };
        for &p in self
            .positions
            .get(r.kw_off..r.kw_off.checked_add(r.kw_n)?)?
        {
            match self.keywords.get(usize::from(p)) {
                Some(k) if !k.is_empty() => flags.insert_keyword(k),
                _ => return None,
            }
        }
        Some(Entry {
            uid: r.uid,
            modseq: r.modseq,
            size: r.size,
            date: r.date,
            zone: r.zone,
            flags,
            name: Cow::Borrowed(""),
            new: r.new,
        })
    }
}

/// The last block read of one section: reading entries in order costs one
/// pread per `STREAM_BUFFER`, not one per entry.
#[derive(Clone, Debug, Default)]
struct Block(RefCell<(u64, Vec<u8>)>);

impl Block {
    /// Calls `f` on the `len` octets at `at` (before `end`, the section's
    /// end); `None` when they cannot be read.
    fn read<R>(
        &self,
        src: &Source,
        at: u64,
        len: usize,
        end: u64,
        f: impl FnOnce(&[u8]) -> R,
    ) -> Option<R> {
        let mut b = self.0.borrow_mut();
        let (start, data) = &mut *b;
        let inside = at >= *start && at + len as u64 <= *start + data.len() as u64;
        if !inside {
            let want = (STREAM_BUFFER.max(len) as u64).min(end.checked_sub(at)?) as usize;
            if want < len {
                return None;
            }
            data.resize(want, 0);
            let got = fill_at(src, data, at).unwrap_or(0);
            data.truncate(got);
            *start = at;
            if got < len {
                data.clear();
                return None;
            }
        }
        let from = (at - *start) as usize;
        Some(f(&data[from..from + len]))
    }
}

/// The entries of an index, in UID order.
#[derive(Clone, Debug, Default)]
pub(super) struct Entries {
    base: Option<Arc<Base>>,
    /// UIDs of the base's records that are still entries, ascending;
    /// shared (`shared_uids`) with the snapshot and the session's view
    /// until one of them changes.
    base_uids: Arc<Vec<Uid>>,
    /// The record number of each of those; `None` while nothing was
    /// removed (record n is entry n).
    base_slots: Option<Vec<u32>>,
    /// Base entries changed since, by record number.
    changed: HashMap<u32, Entry>,
    /// Entries after the base's, UIDs above them all.
    tail: Vec<Entry>,
    records: Block,
    names: Block,
}

impl PartialEq for Entries {
    fn eq(&self, other: &Entries) -> bool {
        self.len() == other.len() && (0..self.len()).all(|k| self.get(k) == other.get(k))
    }
}

impl Eq for Entries {}

impl Entries {
    pub fn from_vec(tail: Vec<Entry>) -> Entries {
        Entries {
            tail,
            ..Entries::default()
        }
    }

    /// The records of a base (attached later) with these UIDs.
    pub fn of_uids(uids: Vec<Uid>) -> Entries {
        Entries {
            base_uids: Arc::new(uids),
            ..Entries::default()
        }
    }

    /// The base file whose records `of_uids` named.
    pub fn attach(&mut self, base: Base) {
        debug_assert_eq!(base.count, self.base_uids.len());
        self.base = Some(Arc::new(base));
    }

    pub fn len(&self) -> usize {
        self.base_uids.len() + self.tail.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn slot(&self, k: usize) -> u32 {
        match &self.base_slots {
            Some(s) => s[k],
            None => k as u32,
        }
    }

    /// Every entry's UID, ascending: the base's own list when nothing
    /// follows it (one list of 100,000 UIDs, not three).
    pub fn shared_uids(&self) -> Arc<Vec<Uid>> {
        if self.tail.is_empty() {
            return Arc::clone(&self.base_uids);
        }
        Arc::new((0..self.len()).map(|k| self.uid(k)).collect())
    }

    pub fn uid(&self, k: usize) -> Uid {
        match k.checked_sub(self.base_uids.len()) {
            None => self.base_uids[k],
            Some(t) => self.tail[t].uid,
        }
    }

    pub fn last_uid(&self) -> Option<Uid> {
        self.tail
            .last()
            .map(|e| e.uid)
            .or(self.base_uids.last().copied())
    }

    /// Entry `k`; without `with_name`, its name may be left empty (it is
    /// read from the file only when asked for).
    pub fn get_with(&self, k: usize, with_name: bool) -> Entry {
        let Some(t) = k.checked_sub(self.base_uids.len()) else {
            let slot = self.slot(k);
            if let Some(e) = self.changed.get(&slot) {
                return e.clone();
            }
            let names = with_name.then_some(&self.names);
            return self
                .base
                .as_ref()
                .and_then(|b| b.record(&self.records, slot as usize, names))
                .filter(|e| e.uid == self.base_uids[k])
                .unwrap_or_else(|| Entry {
                    uid: self.base_uids[k],
                    modseq: 0,
                    size: 0,
                    date: 0,
                    zone: 0,
                    flags: Flags::default(),
                    name: Cow::Borrowed(""),
                    new: false,
                });
        };
        self.tail[t].clone()
    }

    pub fn get(&self, k: usize) -> Entry {
        self.get_with(k, true)
    }

    /// Entry `k`'s modseq: of a record as the base has it, only its UID
    /// and modseq are read (FETCH asks this of every message).
    pub fn modseq(&self, k: usize) -> ModSeq {
        self.field(
            k,
            |e| e.modseq,
            |r| {
                Some(ModSeq::from_le_bytes(
                    r[MODSEQ_AT..MODSEQ_AT + 8].try_into().ok()?,
                ))
            },
        )
    }

    /// Entry `k`'s system flags (`flag::SEEN` and the rest), read alone
    /// as `modseq` is: SELECT asks for them of every message.
    pub fn system(&self, k: usize) -> u8 {
        self.field(k, |e| e.flags.system, |r| Some(r[SYSTEM_AT]))
    }

    /// One value of entry `k`: from the entry where it is held whole
    /// (changed, or after the base), else from its record as stored
    /// (`Default` where that cannot be read, as `get_with` gives).
    fn field<T: Default>(
        &self,
        k: usize,
        of_entry: impl FnOnce(&Entry) -> T,
        of_record: impl FnOnce(&[u8]) -> Option<T>,
    ) -> T {
        let Some(t) = k.checked_sub(self.base_uids.len()) else {
            let slot = self.slot(k);
            if let Some(e) = self.changed.get(&slot) {
                return of_entry(e);
            }
            return self
                .base
                .as_ref()
                .and_then(|b| b.field(&self.records, slot as usize, self.base_uids[k], of_record))
                .unwrap_or_default();
        };
        of_entry(&self.tail[t])
    }

    pub fn set(&mut self, k: usize, e: Entry) {
        match k.checked_sub(self.base_uids.len()) {
            None => {
                let slot = self.slot(k);
                self.changed.insert(slot, e);
            }
            Some(t) => self.tail[t] = e,
        }
    }

    pub fn push(&mut self, e: Entry) {
        self.tail.push(e);
    }

    /// Removes entry `k`; returns it.
    pub fn remove(&mut self, k: usize) -> Entry {
        let e = self.get(k);
        match k.checked_sub(self.base_uids.len()) {
            None => {
                let n = self.base_uids.len() as u32;
                let slots = self.base_slots.get_or_insert_with(|| (0..n).collect());
                let slot = slots.remove(k);
                Arc::make_mut(&mut self.base_uids).remove(k);
                self.changed.remove(&slot);
            }
            Some(t) => {
                self.tail.remove(t);
            }
        }
        e
    }

    /// Removes the entries whose UIDs `gone` picks, in one pass; returns
    /// them (only those are read from the file).
    pub fn remove_where(&mut self, mut gone: impl FnMut(Uid) -> bool) -> Vec<Entry> {
        let mut out = Vec::new();
        let nb = self.base_uids.len();
        let mut keep = vec![true; nb];
        for (k, keep) in keep.iter_mut().enumerate() {
            if gone(self.base_uids[k]) {
                *keep = false;
                out.push(self.get(k));
            }
        }
        if !out.is_empty() {
            let n = nb as u32;
            let slots = self.base_slots.take().unwrap_or_else(|| (0..n).collect());
            let (mut uids, mut kept) = (Vec::new(), Vec::new());
            for (k, &keep) in keep.iter().enumerate() {
                if keep {
                    uids.push(self.base_uids[k]);
                    kept.push(slots[k]);
                } else {
                    self.changed.remove(&slots[k]);
                }
            }
            self.base_uids = Arc::new(uids);
            self.base_slots = Some(kept);
        }
        let tail = std::mem::take(&mut self.tail);
        for e in tail {
            if gone(e.uid) {
                out.push(e);
            } else {
                self.tail.push(e);
            }
        }
        out
    }

    /// Where `uid` is.
    pub fn find(&self, uid: Uid) -> Option<usize> {
        match self.base_uids.binary_search(&uid) {
            Ok(k) => Some(k),
            Err(_) => self
                .tail
                .binary_search_by_key(&uid, |e| e.uid)
                .ok()
                .map(|t| self.base_uids.len() + t),
        }
    }

    /// Where the first entry with a UID above `uid` is.
    pub fn after(&self, uid: Uid) -> usize {
        let b = self.base_uids.partition_point(|&u| u <= uid);
        if b < self.base_uids.len() {
            return b;
        }
        b + self.tail.partition_point(|e| e.uid <= uid)
    }

    /// UIDs and modseqs of the entries with a modseq above `modseq`, in UID
    /// order. Records still as the base has them are not read when the
    /// base holds none that high.
    pub fn newer_than(&self, modseq: ModSeq) -> Vec<(Uid, ModSeq)> {
        let base_high = self.base.as_ref().map_or(0, |b| b.highest_modseq);
        if modseq >= base_high {
            return self
                .newer()
                .into_iter()
                .filter(|e| e.modseq > modseq)
                .map(|e| (e.uid, e.modseq))
                .collect();
        }
        (0..self.len())
            .map(|k| (self.uid(k), self.modseq(k)))
            .filter(|&(_, m)| m > modseq)
            .collect()
    }

    /// The entries that may have a modseq above what the base file holds:
    /// the changed ones and those after the base, in UID order.
    pub fn newer(&self) -> Vec<&Entry> {
        let mut out: Vec<&Entry> = self.changed.values().collect();
        out.sort_unstable_by_key(|e| e.uid);
        out.extend(&self.tail);
        out
    }
}
