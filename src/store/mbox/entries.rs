//! A snapshot's entries (`file::Entry`, one a message in file order),
//! kept so that a session's heap does not grow 32 octets a message.
//!
//! The entries a parse cache describes (`cache.rs`: one fixed-size record
//! a message) are not copied into the heap: they are read from the cache
//! file a window of `MBOX_ENTRIES_WINDOW` records at a time with pread, as
//! a Maildir session reads its index (issue 10, "the selected view"). The
//! heap holds the UID of every window's first record (for a search by UID
//! in one window read), the entries this session changed since (by index),
//! and the entries past the cache's (new mail, in the heap until the next
//! cache is written). A file without a cache (under `MBOX_CACHE_MIN`), and
//! one changed in most of its messages, keeps its entries in the heap.
//!
//! The cache file read is the one whose checksum was checked whole when it
//! was opened (`cache::load`) or the one this process wrote
//! (`cache::save`); it is replaced by renaming, never written in place, so
//! the descriptor held keeps reading what was checked. A record that does
//! not decode all the same (the file changed under us against the rules,
//! or a read failed) becomes an entry of a message nowhere in the file:
//! serving or rewriting it fails with `Corrupt`, never reads out of bounds.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use super::file::Entry;
use crate::limits::MBOX_ENTRIES_WINDOW;
use crate::store::Uid;

/// The records of a parse cache, read in place.
#[derive(Debug)]
pub struct Records {
    file: File,
    /// Where the first record starts.
    at: u64,
    /// How many records there are.
    n: usize,
    /// The size of a record.
    size: usize,
    /// Reads one record (exactly `size` octets).
    decode: fn(&[u8]) -> Option<Entry>,
}

impl Records {
    pub fn new(
        file: File,
        at: u64,
        n: usize,
        size: usize,
        decode: fn(&[u8]) -> Option<Entry>,
    ) -> Records {
        Records {
            file,
            at,
            n,
            size,
            decode,
        }
    }

    /// Records `first..first + count` (within `n`); a record that cannot
    /// be read is a message nowhere.
    fn read(&self, first: usize, count: usize) -> Vec<Entry> {
        let mut buf = vec![0u8; count * self.size];
        let at = self.at + (first * self.size) as u64;
        let ok = self.file.read_exact_at(&mut buf, at).is_ok();
        if !ok {
            log::warn!("mbox parse cache: records not read");
        }
        buf.chunks_exact(self.size)
            .map(|r| {
                ok.then(|| (self.decode)(r))
                    .flatten()
                    .unwrap_or_else(Entry::nowhere)
            })
            .collect()
    }
}

/// Entries `0..len` from `records` (the last window read cached).
#[derive(Debug)]
struct Base {
    records: Arc<Records>,
    len: usize,
    /// Every record has its UID in the file and `Status: O` (as after any
    /// read-write session): only changed and new entries can lack them.
    said: bool,
    /// The UID of each window's first entry (as changed here).
    marks: Vec<Uid>,
    /// The window last read: its first index and its entries.
    window: RefCell<(usize, Vec<Entry>)>,
}

impl Base {
    /// `f` of the records from `i` (below `len`) to the end of its window,
    /// as the file has them (without the session's changes).
    fn in_window<T>(&self, i: usize, f: impl FnOnce(&[Entry]) -> T) -> T {
        let mut w = self.window.borrow_mut();
        if !(w.0..w.0 + w.1.len()).contains(&i) {
            let first = i - i % MBOX_ENTRIES_WINDOW;
            let count = MBOX_ENTRIES_WINDOW.min(self.records.n - first);
            *w = (first, self.records.read(first, count));
        }
        let end = (w.0 + w.1.len()).min(self.len);
        f(w.1.get(i - w.0..end - w.0).unwrap_or(&[]))
    }
}

impl Clone for Base {
    fn clone(&self) -> Base {
        Base {
            records: Arc::clone(&self.records),
            len: self.len,
            said: self.said,
            marks: self.marks.clone(),
            window: RefCell::new((0, Vec::new())),
        }
    }
}

/// A snapshot's entries: index `i` is the `i`th message of the file.
#[derive(Clone, Debug, Default)]
pub struct Entries {
    base: Option<Base>,
    /// Entries of `base` changed since it was read, by index.
    changed: BTreeMap<usize, Entry>,
    /// The entries after `base`'s (all of them without one).
    more: Vec<Entry>,
    /// Some change gave an entry of `base` another UID (a parse giving
    /// UIDs): a search by UID cannot take the window's records as they are.
    uids_moved: bool,
}

impl From<Vec<Entry>> for Entries {
    fn from(more: Vec<Entry>) -> Entries {
        Entries {
            base: None,
            changed: BTreeMap::new(),
            more,
            uids_moved: false,
        }
    }
}

impl Entries {
    /// The entries `records` holds, whose every window's first UID is in
    /// `marks` (the caller read them all once, checking the file); `said`:
    /// every one of them is persisted and old (`Base::said`).
    pub fn over(records: Arc<Records>, marks: Vec<Uid>, said: bool) -> Entries {
        let len = records.n;
        debug_assert_eq!(marks.len(), len.div_ceil(MBOX_ENTRIES_WINDOW));
        Entries {
            base: Some(Base {
                records,
                len,
                said,
                marks,
                window: RefCell::new((0, Vec::new())),
            }),
            changed: BTreeMap::new(),
            more: Vec::new(),
            uids_moved: false,
        }
    }

    /// Whether the entries are read from a cache file (not in the heap).
    pub fn is_windowed(&self) -> bool {
        self.base.is_some()
    }

    fn base_len(&self) -> usize {
        self.base.as_ref().map_or(0, |b| b.len)
    }

    pub fn len(&self) -> usize {
        self.base_len() + self.more.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, i: usize) -> Option<Entry> {
        let Some(b) = &self.base else {
            return self.more.get(i).copied();
        };
        if i >= b.len {
            return self.more.get(i - b.len).copied();
        }
        if let Some(e) = self.changed.get(&i) {
            return Some(*e);
        }
        b.in_window(i, |w| w.first().copied())
    }

    /// Entry `i`, which must be there (as `v[i]` of a Vec).
    pub fn at(&self, i: usize) -> Entry {
        match self.get(i) {
            Some(e) => e,
            None => panic!("entry {i} of {}", self.len()),
        }
    }

    pub fn first(&self) -> Option<Entry> {
        self.get(0)
    }

    pub fn last(&self) -> Option<Entry> {
        self.len().checked_sub(1).and_then(|i| self.get(i))
    }

    pub fn iter(&self) -> impl Iterator<Item = Entry> + '_ {
        (0..self.len()).map(|i| self.at(i))
    }

    /// The entries that may lack their UID in the file or `Status: O`
    /// (all of them, unless the base's records have both): a pass that
    /// looks for those reads no record.
    pub fn maybe_unsaid(&self) -> Box<dyn Iterator<Item = Entry> + '_> {
        match &self.base {
            Some(b) if b.said => Box::new(
                self.changed
                    .values()
                    .copied()
                    .chain(self.more.iter().copied()),
            ),
            _ => Box::new(self.iter()),
        }
    }

    /// The indices of the entries that may differ from what the file
    /// says (changed by the session, or new) when the base's records are
    /// all said (`Base::said`); None when any entry may.
    pub fn suspects(&self) -> Option<Vec<usize>> {
        let b = self.base.as_ref().filter(|b| b.said)?;
        let mut v: Vec<usize> = self.changed.keys().copied().collect();
        v.extend(b.len..self.len());
        Some(v)
    }

    /// Makes entry `i` (which must be there) `e`.
    pub fn set(&mut self, i: usize, e: Entry) {
        if i < self.base_len() && self.get(i).is_some_and(|old| old.uid != e.uid) {
            self.uids_moved = true;
        }
        let Some(b) = &mut self.base else {
            self.more[i] = e;
            return;
        };
        if i >= b.len {
            self.more[i - b.len] = e;
            return;
        }
        if i % MBOX_ENTRIES_WINDOW == 0 {
            b.marks[i / MBOX_ENTRIES_WINDOW] = e.uid;
        }
        self.changed.insert(i, e);
        // A change to most of them is cheaper in one array.
        if self.changed.len() > b.len / 4 + MBOX_ENTRIES_WINDOW {
            self.in_heap();
        }
    }

    /// Changes entry `i` (which must be there) with `f`.
    pub fn update(&mut self, i: usize, f: impl FnOnce(&mut Entry)) {
        let old = self.at(i);
        let mut e = old;
        f(&mut e);
        if e != old {
            self.set(i, e);
        }
    }

    pub fn push(&mut self, e: Entry) {
        self.more.push(e);
    }

    pub fn append(&mut self, more: &mut Vec<Entry>) {
        self.more.append(more);
    }

    pub fn pop(&mut self) -> Option<Entry> {
        if !self.more.is_empty() {
            return self.more.pop();
        }
        let last = self.last()?;
        if let Some(b) = &mut self.base {
            b.len -= 1;
            b.marks.truncate(b.len.div_ceil(MBOX_ENTRIES_WINDOW));
            self.changed.remove(&b.len);
            if b.len == 0 {
                self.base = None;
            }
        }
        Some(last)
    }

    /// Keeps the entries `keep` says yes to (in the heap afterwards).
    pub fn retain(&mut self, keep: impl FnMut(&Entry) -> bool) {
        self.in_heap();
        self.more.retain(keep);
    }

    /// Reads every entry into the heap.
    fn in_heap(&mut self) {
        if self.base.is_none() {
            return;
        }
        let mut all = Vec::with_capacity(self.len());
        all.extend(self.iter());
        *self = Entries::from(all);
    }

    /// The index of the first entry whose UID `before` says no to (UIDs
    /// ascend, so those it says yes to come first).
    pub fn partition_point(&self, before: impl Fn(Uid) -> bool) -> usize {
        let Some(b) = &self.base else {
            return self.more.partition_point(|e| before(e.uid));
        };
        let windows = b.marks.partition_point(|&u| before(u));
        let (mut lo, mut hi) = match windows {
            0 => (0, 0),
            w => (
                (w - 1) * MBOX_ENTRIES_WINDOW,
                (w * MBOX_ENTRIES_WINDOW).min(b.len),
            ),
        };
        // The first of `lo..hi` it says no to (all after `hi` it does):
        // in the window itself when the session changed no UID (one
        // borrow, not one a step: SELECT and each sync look up every UID).
        if lo < hi && !self.uids_moved {
            lo += b.in_window(lo, |w| w.partition_point(|e| before(e.uid)));
        } else {
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                if before(self.at(mid).uid) {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
        }
        if lo < b.len {
            return lo;
        }
        b.len + self.more.partition_point(|e| before(e.uid))
    }

    /// Where the entry of `uid` is.
    pub fn find(&self, uid: Uid) -> Option<usize> {
        let i = self.partition_point(|u| u < uid);
        self.get(i).filter(|e| e.uid == uid).map(|_| i)
    }
}
