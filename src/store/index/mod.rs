//! The per-mailbox index (DESIGN.md 4): UIDVALIDITY, UIDNEXT,
//! HIGHESTMODSEQ and, per message, its UID, modseq, CRLF size, INTERNALDATE,
//! flags and the backend's locator (the Maildir file name as last seen).
//!
//! On disk it is two files in the mailbox directory, both written only
//! under the mailbox lock (`LOCK_FILE`):
//!
//! * the main file `mailaccess.index` (`file.rs`): a header, fixed-size
//!   records, the keyword table and the names, with a checksum; replaced
//!   as a whole (new file, fsync, rename) only when the log is folded;
//! * the transaction log `mailaccess.index.log` (`log.rs`): the changes
//!   since, one checksummed record each (append, flags, expunge, keyword,
//!   counters), appended and fsynced by each commit. A commit writes what
//!   changed, not the mailbox.
//!
//! A main file that fails any check, or a log damaged anywhere but at its
//! torn tail, is never trusted: the caller builds a new index under a new,
//! strictly greater UIDVALIDITY, so no message ever has two UIDs under one.
//! A torn tail (a commit cut short by a crash, never acknowledged) is
//! dropped, and UIDNEXT and HIGHESTMODSEQ are raised past anything it could
//! have handed out. The first, text format (`text.rs`) is read once and
//! replaced.

mod entries;
mod file;
mod log;
mod text;

use entries::Entries;

use rustc_hash::FxHashSet as HashSet;
use std::borrow::Cow;
use std::io::Read;
use std::ops::RangeInclusive;
use std::path::Path;

use super::lock::Lock;
use super::{flag, Flags, ModSeq, Result, StoreError, Uid};
use crate::limits::{
    INDEX_FILE_MAX, INDEX_LOG_FOLD_MAX, INDEX_LOG_FOLD_MIN, KEYWORDS_MAX, KEYWORD_LEN_MAX,
};

pub use file::INDEX_FILE;
pub use log::LOG_FILE;
pub use text::TEXT_INDEX_FILE;
pub const LOCK_FILE: &str = "mailaccess-index.lock";

/// The store-wide record of the last UIDVALIDITY handed out.
pub const UIDVALIDITY_FILE: &str = "mailaccess-uidvalidity";
const UIDVALIDITY_LOCK: &str = "mailaccess-uidvalidity.lock";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub uid: Uid,
    pub modseq: ModSeq,
    /// RFC822.SIZE (CRLF line ends).
    pub size: u64,
    /// INTERNALDATE, seconds since the epoch, and its zone (minutes east);
    /// `DATE_UNKNOWN` until a reader needs it (`set_dated`).
    pub date: i64,
    pub zone: i32,
    pub flags: Flags,
    /// The file's name as last seen (base name, then `:2,` and flags);
    /// borrowed when every entry has the same (an mbox's), so that an
    /// index of many messages does not allocate it for each.
    pub name: Cow<'static, str>,
    /// The file was in new/ (else cur/).
    pub new: bool,
}

impl Entry {
    /// The file name up to its `:`: what stays when flags change.
    pub fn base(&self) -> &str {
        self.name.split(':').next().unwrap_or_default()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Index {
    pub uid_validity: u32,
    pub uid_next: Uid,
    pub highest_modseq: ModSeq,
    /// RFC 3501 2.3.2 `\Recent`: messages with a UID from here on have not
    /// been seen by any read-write session yet. The session that raises it
    /// (under the mailbox lock) owns their `\Recent`, as in Dovecot.
    pub first_recent: Uid,
    /// Modification times (ns since the epoch) of new/ and cur/ when they
    /// were last read whole, if they had then stood for a settling time
    /// (0: unknown). The same times at the next open mean that the
    /// directories hold what the index says, and they are not read.
    pub scanned: [i64; 2],
    /// Keyword table; position i < 26 is Maildir letter `a` + i. Empty
    /// strings are unused slots.
    pub keywords: Vec<String>,
    /// Sorted by UID. Outside this module, read and changed through
    /// `len`, `get`, `set`, `push` and `iter`: most stay in the main file
    /// (`entries.rs`).
    entries: Entries,
    /// The expunge history (RFC 7162 3.2.5.2): runs of expunged UIDs,
    /// sorted, with a message between any two (`vanish` joins them
    /// otherwise), so it never outgrows the mailbox and is never trimmed.
    pub vanished: Vec<Vanished>,
    /// Every expunge with a higher modseq is in `vanished`; older ones may
    /// not be (an index of the first formats kept none).
    pub vanished_from: ModSeq,
    /// The entries removed since the owner last took them: what a session
    /// keeps of messages it has not yet reported expunged.
    pub dropped: Dropped,
    /// UIDs whose file was renamed without a flag change (`set_renamed`:
    /// a flag change given to the name later): the next save writes them,
    /// though their modseq is not new.
    renamed: Vec<Uid>,
    /// UIDs whose `DATE_UNKNOWN` was replaced (`set_dated`): the next save
    /// writes their dates, though their modseq is not new.
    dated: HashSet<Uid>,
    /// Dates `save_dates` has the fold write into entries whose date is
    /// `DATE_UNKNOWN`, in UID order; empty but during that fold.
    folded_dates: Vec<(Uid, i64)>,
}

/// How long a log may grow before a commit folds it: replaying it should
/// not cost more than reading the main file it changes (half its size),
/// within fixed bounds.
fn log_bound(s: &Snapshot) -> u64 {
    (s.main_len / 2).clamp(INDEX_LOG_FOLD_MIN, INDEX_LOG_FOLD_MAX)
}

/// An `Entry::date` not read yet. A Maildir's first open would otherwise
/// lstat every file for its mtime, a sixth of the first open of a large
/// mailbox, for an INTERNALDATE most first sessions never ask for (Dovecot
/// also reads it when asked). The mailbox reads it when a command needs it
/// and keeps it with `Index::set_dated`.
pub const DATE_UNKNOWN: i64 = i64::MIN;

/// Entries an `Index` removed (`Index::dropped`): kept for its owner, not
/// part of the index's value, so never saved and never compared.
#[derive(Clone, Debug, Default)]
pub struct Dropped(pub Vec<Entry>);

impl PartialEq for Dropped {
    fn eq(&self, _: &Dropped) -> bool {
        true
    }
}

impl Eq for Dropped {}

/// UIDs `lo..=hi` are no message's; the last of them was expunged at
/// `modseq`. A run may include UIDs never handed out (a commit lost in a
/// crash): RFC 7162 lets VANISHED (EARLIER) name UIDs the client never had.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Vanished {
    pub lo: Uid,
    pub hi: Uid,
    pub modseq: ModSeq,
}

impl Index {
    pub fn new(uid_validity: u32) -> Index {
        Index {
            uid_validity,
            uid_next: 1,
            highest_modseq: 1,
            first_recent: 1,
            scanned: [0, 0],
            keywords: Vec::new(),
            entries: Entries::default(),
            vanished: Vec::new(),
            vanished_from: 0,
            dropped: Dropped::default(),
            renamed: Vec::new(),
            dated: HashSet::default(),
            folded_dates: Vec::new(),
        }
    }

    /// How many messages the index holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Entry `k`, in UID order; panics past `len()`, as indexing does.
    pub fn get(&self, k: usize) -> Entry {
        self.entries.get(k)
    }

    /// Entry `k` with an empty name: what a FETCH needs, without reading
    /// the name from the file.
    pub fn get_without_name(&self, k: usize) -> Entry {
        self.entries.get_with(k, false)
    }

    /// Every entry's UID, ascending, shared with the index where it can
    /// be (a view of the mailbox starts as this).
    pub fn shared_uids(&self) -> std::sync::Arc<Vec<Uid>> {
        self.entries.shared_uids()
    }

    /// The UID of entry `k`.
    pub fn uid_at(&self, k: usize) -> Uid {
        self.entries.uid(k)
    }

    /// The modseq of entry `k`.
    pub fn modseq_at(&self, k: usize) -> ModSeq {
        self.entries.modseq(k)
    }

    /// The system flags of entry `k`.
    pub fn system_at(&self, k: usize) -> u8 {
        self.entries.system(k)
    }

    /// The UIDs and modseqs of the entries changed after `modseq`, in UID
    /// order: only what changed since the main file was written is looked
    /// at, when that is all there can be.
    pub fn newer_than(&self, modseq: ModSeq) -> Vec<(Uid, ModSeq)> {
        self.entries.newer_than(modseq)
    }

    /// Every entry, in UID order.
    pub fn iter(&self) -> impl Iterator<Item = Entry> + '_ {
        (0..self.entries.len()).map(|k| self.entries.get(k))
    }

    /// Every entry, in UID order, with an empty name (`get_without_name`):
    /// for what needs the flags, sizes or places but no file.
    pub fn iter_without_names(&self) -> impl Iterator<Item = Entry> + '_ {
        (0..self.entries.len()).map(|k| self.entries.get_with(k, false))
    }

    /// Replaces entry `k` with `e`, which has the same UID.
    pub fn set(&mut self, k: usize, e: Entry) {
        debug_assert_eq!(self.entries.uid(k), e.uid);
        self.entries.set(k, e);
    }

    /// `set` of an entry whose name changed and nothing else (its modseq
    /// stays: no client is told of a change).
    pub fn set_renamed(&mut self, k: usize, e: Entry) {
        self.renamed.push(e.uid);
        self.set(k, e);
    }

    /// Gives entry `k`, whose date was `DATE_UNKNOWN`, the date a reader
    /// found (its modseq stays: no client is told of a change).
    pub fn set_dated(&mut self, k: usize, date: i64) {
        let mut e = self.entries.get(k);
        e.date = date;
        self.dated.insert(e.uid);
        self.set(k, e);
    }

    /// Adds `e`, whose UID is above every entry's.
    pub fn push(&mut self, e: Entry) {
        debug_assert!(self.entries.last_uid().is_none_or(|l| l < e.uid));
        self.entries.push(e);
    }

    /// Where the first entry with a UID above `uid` is.
    pub fn after(&self, uid: Uid) -> usize {
        self.entries.after(uid)
    }

    /// The highest UID a message has or had: a new message's must be above.
    pub fn last_uid(&self) -> Uid {
        let live = self.entries.last_uid().unwrap_or(0);
        live.max(self.vanished.last().map_or(0, |v| v.hi))
    }

    /// Removes the messages whose UIDs `gone` picks, at one new modseq,
    /// and keeps their UIDs in the expunge history (and the entries in
    /// `dropped`). Returns how many went.
    pub fn expunge(&mut self, gone: impl FnMut(Uid) -> bool) -> usize {
        let before = self.dropped.0.len();
        let removed = self.entries.remove_where(gone);
        self.dropped.0.extend(removed);
        let went = self.dropped.0.len() - before;
        if went > 0 {
            let modseq = self.bump();
            for k in before..self.dropped.0.len() {
                let uid = self.dropped.0[k].uid;
                self.vanish(uid, modseq);
            }
        }
        went
    }

    /// Records that `uid`, no longer a message here, was expunged at
    /// `modseq`: it joins the runs beside it that no message separates it
    /// from, their modseq the highest of theirs.
    fn vanish(&mut self, uid: Uid, modseq: ModSeq) {
        let at = self.vanished.partition_point(|v| v.hi < uid);
        if let Some(v) = self.vanished.get_mut(at).filter(|v| v.lo <= uid) {
            v.modseq = v.modseq.max(modseq);
            return;
        }
        let mut run = Vanished {
            lo: uid,
            hi: uid,
            modseq,
        };
        let (mut from, mut to) = (at, at);
        if let Some(v) = at.checked_sub(1).map(|k| self.vanished[k]) {
            if !self.live_between(v.hi, uid) {
                from -= 1;
                run.lo = v.lo;
                run.modseq = run.modseq.max(v.modseq);
            }
        }
        if let Some(&v) = self.vanished.get(at) {
            if !self.live_between(uid, v.lo) {
                to += 1;
                run.hi = v.hi;
                run.modseq = run.modseq.max(v.modseq);
            }
        }
        self.vanished.splice(from..to, [run]);
    }

    /// Whether a message has a UID strictly between `a` and `b`.
    fn live_between(&self, a: Uid, b: Uid) -> bool {
        let k = self.entries.after(a);
        k < self.entries.len() && self.entries.uid(k) < b
    }

    /// The modseq of `uid`'s expunge, if the history has it.
    fn vanished_modseq(&self, uid: Uid) -> Option<ModSeq> {
        let at = self.vanished.partition_point(|v| v.hi < uid);
        self.vanished
            .get(at)
            .filter(|v| v.lo <= uid)
            .map(|v| v.modseq)
    }

    /// The UIDs expunged after `since` (RFC 7162 VANISHED (EARLIER)), as
    /// sorted, disjoint ranges. Where the history does not reach back that
    /// far, every UID below UIDNEXT that is no message's: more than were
    /// expunged since, as RFC 7162 3.2.5.2 allows.
    pub fn vanished_since(&self, since: ModSeq) -> Vec<RangeInclusive<Uid>> {
        if since >= self.vanished_from {
            return self
                .vanished
                .iter()
                .filter(|v| v.modseq > since)
                .map(|v| v.lo..=v.hi)
                .collect();
        }
        let mut out = Vec::new();
        let mut next: Uid = 1;
        for k in 0..self.entries.len() {
            let uid = self.entries.uid(k);
            if uid > next {
                out.push(next..=uid - 1);
            }
            next = uid + 1;
        }
        if next < self.uid_next {
            out.push(next..=self.uid_next - 1);
        }
        out
    }

    /// Position of a keyword in the table (case-insensitive).
    pub fn keyword_pos(&self, k: &str) -> Option<usize> {
        self.keywords
            .iter()
            .position(|x| !x.is_empty() && x.eq_ignore_ascii_case(k))
    }

    /// Adds a keyword to the table if missing; returns its position.
    pub fn add_keyword(&mut self, k: &str) -> Result<usize> {
        if let Some(p) = self.keyword_pos(k) {
            return Ok(p);
        }
        if !valid_keyword(k) {
            return Err(StoreError::NotAllowed("invalid keyword"));
        }
        if let Some(p) = self.keywords.iter().position(|x| x.is_empty()) {
            self.keywords[p] = k.to_string();
            return Ok(p);
        }
        if self.keywords.len() >= KEYWORDS_MAX {
            return Err(StoreError::Limit("too many keywords in this mailbox"));
        }
        self.keywords.push(k.to_string());
        Ok(self.keywords.len() - 1)
    }

    pub fn bump(&mut self) -> ModSeq {
        self.highest_modseq += 1;
        self.highest_modseq
    }

    pub fn find(&self, uid: Uid) -> Option<usize> {
        self.entries.find(uid)
    }

    /// Reads `dir`'s index: the main file and the log after it (or the
    /// old text file). `Ok(None)`: there is none. With the snapshot, a
    /// later `save` appends only what changed; without it (the old format,
    /// or a log that is not the main file's), `save` writes a new main file.
    pub fn load(dir: &Path) -> Result<Option<(Index, Option<Snapshot>)>> {
        let Some((mut ix, log_id, main_len)) = file::read(dir)? else {
            return Ok(text::load(dir)?.map(|ix| (ix, None)));
        };
        let snap = log::replay(dir, log_id, &mut ix)?.map(|r| {
            let mut s = Snapshot::of(&ix, log_id, r.end, main_len);
            if r.torn {
                // Not yet on disk: the next commit writes the raised counters.
                s.uid_next = 0;
            }
            s
        });
        Ok(Some((ix, snap)))
    }

    /// Brings `self`, as `snap` says the files held it, up to date with the
    /// commits other sessions appended to the log since (the caller holds
    /// the lock): what changed is read, not the index. `Ok(false)`: the log
    /// was folded or replaced meanwhile; load the index again instead.
    pub fn catch_up(&mut self, dir: &Path, snap: &mut Snapshot) -> Result<bool> {
        if snap.uid_validity != self.uid_validity {
            return Ok(false);
        }
        let Some(r) = log::tail(dir, snap.log_id, snap.log_end, self)? else {
            return Ok(false);
        };
        *snap = Snapshot::of(self, snap.log_id, r.end, snap.main_len);
        if r.torn {
            snap.uid_next = 0;
        }
        Ok(true)
    }

    /// Makes the files say what `self` says. The caller holds the mailbox
    /// lock and loaded `since` under it. Every entry that changed since
    /// has a higher modseq than `since` knew (each change bumps it, as
    /// RFC 7162 needs anyway), so the changes are found by one walk.
    pub fn save(&mut self, dir: &Path, since: Option<&Snapshot>) -> Result<Snapshot> {
        let saved = self.save_since(dir, since);
        if saved.is_ok() {
            self.renamed.clear();
            self.dated.clear();
        }
        saved
    }

    fn save_since(&mut self, dir: &Path, since: Option<&Snapshot>) -> Result<Snapshot> {
        let Some(s) = since.filter(|s| s.uid_validity == self.uid_validity) else {
            return self.fold(dir);
        };
        let Some(records) = self.delta(s) else {
            return self.fold(dir);
        };
        if records.is_empty() {
            return Ok(Snapshot::of(self, s.log_id, s.log_end, s.main_len));
        }
        let Some(end) = log::append(dir, s.log_id, s.log_end, &records)? else {
            return self.fold(dir);
        };
        if end > log_bound(s) {
            return self.fold(dir);
        }
        Ok(Snapshot::of(self, s.log_id, end, s.main_len))
    }

    /// Gives the entries whose date is `DATE_UNKNOWN` the dates a reader
    /// found, `dates` in UID order, and saves as `save` does. Dates for
    /// most of a large mailbox (a first FETCH INTERNALDATE after a first
    /// open) would overflow the log in any case: they are written by a
    /// fold as it goes, none of those entries copied to the heap first.
    pub fn save_dates(
        &mut self,
        dir: &Path,
        since: Option<&Snapshot>,
        dates: Vec<(Uid, i64)>,
    ) -> Result<Snapshot> {
        let few = since.is_some_and(|s| {
            s.uid_validity == self.uid_validity
                && s.log_end + (dates.len() * log::DATE_RECORD_LEN) as u64 <= log_bound(s)
        });
        if few {
            for (uid, date) in dates {
                if let Some(k) = self.find(uid) {
                    if self.entries.get_with(k, false).date == DATE_UNKNOWN {
                        self.set_dated(k, date);
                    }
                }
            }
            return self.save(dir, since);
        }
        self.folded_dates = dates;
        // No snapshot: a fold.
        let saved = self.save(dir, None);
        self.folded_dates = Vec::new();
        saved
    }

    /// Writes a new main file and starts a new, empty log for it. The
    /// entries are then the new file's: what changed leaves the heap.
    fn fold(&mut self, dir: &Path) -> Result<Snapshot> {
        let log_id = log::new_id();
        // The new log first: a crash after the main file's rename leaves
        // the old log, whose id no longer matches, so it is ignored.
        let fresh = log::create(dir, log_id)?;
        let main_len = file::write(dir, self, log_id)?;
        log::install(dir, &fresh)?;
        // Under the lock nobody else writes it; should it not read back
        // as written, the entries stay as they are.
        if let Ok(Some((written, id, _))) = file::read(dir) {
            if id == log_id && written.entries.len() == self.entries.len() {
                self.entries = written.entries;
            }
        }
        match std::fs::remove_file(dir.join(TEXT_INDEX_FILE)) {
            Ok(()) => log::sync_dir(dir)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(StoreError::Io(e)),
        }
        Ok(Snapshot::of(self, log_id, log::HEADER_LEN, main_len))
    }

    /// The log records that turn `s` into `self`; `None` when only a new
    /// main file can (a keyword slot emptied or renamed).
    fn delta(&self, s: &Snapshot) -> Option<Vec<log::Record>> {
        let mut out = Vec::new();
        for (i, k) in self.keywords.iter().enumerate() {
            match s.keywords.get(i) {
                Some(old) if old == k => {}
                Some(old) if !old.is_empty() => return None,
                _ => out.push(log::Record::Keyword(i as u16, k.clone())),
            }
        }
        if self.keywords.len() < s.keywords.len() {
            return None;
        }
        // Expunged: in the snapshot, not here. Both lists are UID-sorted.
        let mut here = (0..self.entries.len())
            .map(|k| self.entries.uid(k))
            .peekable();
        for &uid in s.uids.iter() {
            while here.next_if(|&u| u < uid).is_some() {}
            if here.next_if(|&u| u == uid).is_none() {
                let modseq = self.vanished_modseq(uid);
                out.push(log::Record::Expunge(
                    uid,
                    modseq.unwrap_or(self.highest_modseq),
                ));
            }
        }
        // Entries still as the main file has them are older than any
        // snapshot: only the others can have changed since.
        for e in self.entries.newer().into_iter().filter(|e| {
            e.modseq > s.highest_modseq
                || self.renamed.contains(&e.uid)
                || self.dated.contains(&e.uid)
        }) {
            let kws = self.positions(&e.flags);
            if s.uids.binary_search(&e.uid).is_ok() {
                if self.dated.contains(&e.uid) {
                    out.push(log::Record::Date(e.uid, e.date));
                }
                if e.modseq <= s.highest_modseq && !self.renamed.contains(&e.uid) {
                    continue; // dated alone
                }
                out.push(log::Record::Flags {
                    uid: e.uid,
                    modseq: e.modseq,
                    system: e.flags.system,
                    keywords: kws,
                    new: e.new,
                    name: e.name.to_string(),
                });
            } else {
                out.push(log::Record::Append(e.clone(), kws));
            }
        }
        if !out.is_empty()
            || self.uid_next != s.uid_next
            || self.first_recent != s.first_recent
            || self.scanned != s.scanned
            || self.highest_modseq != s.highest_modseq
        {
            out.push(log::Record::State {
                uid_next: self.uid_next,
                first_recent: self.first_recent,
                scanned: self.scanned,
                highest_modseq: self.highest_modseq,
            });
        }
        Some(out)
    }

    /// Keyword-table positions of `flags`' keywords (all are in the table).
    fn positions(&self, flags: &Flags) -> Vec<u16> {
        flags
            .keywords
            .iter()
            .filter_map(|k| self.keyword_pos(k))
            .map(|p| p as u16)
            .collect()
    }

    /// Flags from system bits and keyword positions; `None` when a
    /// position is not a keyword of the table.
    fn flags_of(&self, system: u8, kws: &[u16]) -> Option<Flags> {
        if system & !ALL_SYSTEM != 0 {
            return None;
        }
        let mut flags = Flags {
            system,
            keywords: Vec::new(),
        };
        for &p in kws {
            match self.keywords.get(usize::from(p)) {
                Some(k) if !k.is_empty() => flags.insert_keyword(k),
                _ => return None,
            }
        }
        Some(flags)
    }
}

/// Reads `data` as each of the index's files in turn: the main file, a
/// log (its id taken from its own header) over an empty index, and the
/// first text format; for the fuzz target and the corpus test
/// (`tests/index_corpus.rs`). Damage is refused, never a panic. Returns
/// how many of the three readings accepted it.
pub fn read_any(data: &[u8]) -> usize {
    let mut accepted = 0;
    let bytes = entries::Source::Bytes(data.to_vec());
    if let Ok((ix, _)) = file::decode(bytes, data.len() as u64) {
        accepted += 1;
        let _ = file::encode(&ix, 1);
    }
    let id = data
        .get(8..16)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_le_bytes);
    let mut ix = Index::new(1);
    if let Ok(Some(_)) = log::replay_bytes(data, id, &mut ix) {
        accepted += 1;
        let _ = ix.delta(&Snapshot::of(&Index::new(1), id, 0, 0));
    }
    if text::parse(data).is_ok() {
        accepted += 1;
    }
    accepted
}

/// Opens an index file of at most `INDEX_FILE_MAX` octets. `Ok(None)`:
/// there is none. Anything but a regular file in its place, or a file too
/// large, is damage, rebuilt like any other.
fn open_file(path: &Path) -> Result<Option<std::fs::File>> {
    let f = match crate::store::open::read(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) if crate::store::open::is_not_regular(&e) => {
            return Err(StoreError::Corrupt(format!("index: {e}")))
        }
        Err(e) => return Err(StoreError::Io(e)),
    };
    if f.metadata()?.len() > INDEX_FILE_MAX {
        return Err(StoreError::Corrupt("index file too large".into()));
    }
    Ok(Some(f))
}

/// Reads a whole index file of at most `INDEX_FILE_MAX` octets.
/// `Ok(None)`: there is none. Anything but a regular file in its place is
/// damage, rebuilt like any other.
fn read_file(path: &Path) -> Result<Option<Vec<u8>>> {
    let Some(mut f) = open_file(path)? else {
        return Ok(None);
    };
    let mut buf = Vec::new();
    Read::by_ref(&mut f)
        .take(INDEX_FILE_MAX)
        .read_to_end(&mut buf)?;
    Ok(Some(buf))
}

/// Every system flag bit.
pub(super) const ALL_SYSTEM: u8 =
    flag::SEEN | flag::ANSWERED | flag::FLAGGED | flag::DELETED | flag::DRAFT;

/// What the files held when an `Index` was loaded or saved: lets `save`
/// append only the difference.
#[derive(Clone, Debug)]
pub struct Snapshot {
    log_id: u64,
    /// Where the next log record goes.
    log_end: u64,
    main_len: u64,
    uid_validity: u32,
    uid_next: Uid,
    first_recent: Uid,
    scanned: [i64; 2],
    highest_modseq: ModSeq,
    keywords: Vec<String>,
    uids: std::sync::Arc<Vec<Uid>>,
}

impl Snapshot {
    fn of(ix: &Index, log_id: u64, log_end: u64, main_len: u64) -> Snapshot {
        Snapshot {
            log_id,
            log_end,
            main_len,
            uid_validity: ix.uid_validity,
            uid_next: ix.uid_next,
            first_recent: ix.first_recent,
            scanned: ix.scanned,
            highest_modseq: ix.highest_modseq,
            keywords: ix.keywords.clone(),
            uids: ix.entries.shared_uids(),
        }
    }
}

/// System flags and their Maildir letters, in ASCII order.
pub const SYSTEM_LETTERS: [(u8, char); 5] = [
    (flag::DRAFT, 'D'),
    (flag::FLAGGED, 'F'),
    (flag::ANSWERED, 'R'),
    (flag::SEEN, 'S'),
    (flag::DELETED, 'T'),
];

/// An IMAP flag-keyword atom we are willing to store: it must also be safe
/// as a line of `dovecot-keywords` and a token of the index.
pub fn valid_keyword(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= KEYWORD_LEN_MAX
        && !k.starts_with('\\')
        && k.bytes()
            .all(|b| b > 0x20 && b < 0x7f && !b"(){%*\"\\]".contains(&b))
}

/// The longest file name a Linux filesystem takes (NAME_MAX).
pub(super) const BASE_MAX: usize = 255;

/// A file name we can keep in the index: one token of printable ASCII.
pub fn valid_base(b: &str) -> bool {
    !b.is_empty() && b.len() <= BASE_MAX && b.bytes().all(base_octet)
}

/// An octet a base name may hold: printable ASCII but space and `/`.
pub(super) fn base_octet(c: u8) -> bool {
    c > 0x20 && c < 0x7f && c != b'/'
}

/// Hands out a new UIDVALIDITY for `root`'s store: the current time in
/// seconds, but always strictly greater than any handed out before (kept in
/// `mailaccess-uidvalidity` under its own lock), so that a mailbox deleted
/// and re-created within one second still gets a new one.
pub fn new_uid_validity(root: &Path) -> Result<u32> {
    // Its own lock file: flock locks of one process on two descriptors
    // conflict, so this must not be a lock a caller may already hold.
    let _lock = Lock::exclusive(&root.join(UIDVALIDITY_LOCK))?;
    let path = root.join(UIDVALIDITY_FILE);
    let mut text = String::new();
    let read = crate::store::open::read(&path).and_then(|f| f.take(64).read_to_string(&mut text));
    let last: u32 = match read {
        Ok(_) => text.trim().parse().unwrap_or(0),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
        Err(e) => return Err(StoreError::Io(e)),
    };
    let now = chrono::Utc::now().timestamp();
    let now = u32::try_from(now).unwrap_or(u32::MAX);
    let v = now.max(
        last.checked_add(1)
            .ok_or(StoreError::Limit("UIDVALIDITY exhausted"))?,
    );
    crate::store::open::replace(&path, format!("{v}\n").as_bytes(), true)?;
    Ok(v)
}

#[cfg(test)]
mod tests;
