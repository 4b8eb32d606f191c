//! Modseqs and the expunge history of an mbox (RFC 7162), kept by the
//! storage engine's index (`store::index`, the same files as a Maildir's:
//! `mailaccess.index` and its log) in the mailbox's control directory
//! `ROOT/.imap/NAME/`.
//!
//! The mbox file stays the truth for UIDs and flags (its `X-UID`, `Status`,
//! `X-Status` and `X-Keywords`); the index follows it. Each version of the
//! file a session reads is brought into the index under the index's lock
//! before anything of it is shown: a message new to the index gets the
//! next modseq, one whose flags differ from the index's gets the next
//! modseq, one gone from the file is expunged (into the history). So a
//! change by any path (a STORE of this or another session, a POP3 session,
//! mutt or another program rewriting the file) has a modseq before a
//! client sees it. The index names the file version it agrees with in
//! `Index::scanned` (a digest of the file's stamp and checksums): a session
//! reading a version the index already agrees with reads no entry.
//!
//! A lost or damaged index cannot take a new UIDVALIDITY (that is in the
//! file); a new one starts its modseqs above any an earlier one can have
//! handed out (`fresh_modseq`), with no history before.

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use super::file::Snapshot;
use crate::store::index::{self, Entry, Index};
use crate::store::lock::Lock;
use crate::store::{Flags, ModSeq, Result, StoreError, Uid};

/// The name each mbox entry has in the index (the field holds a Maildir
/// file's name; an mbox message is found by the parse, not by it).
const NAME: &str = "mbox";

/// One mailbox's index as this session last agreed with it.
pub struct Modseqs {
    dir: PathBuf,
    index: Index,
    /// What the index files held then (`None`: nothing read or written).
    files: Option<index::Snapshot>,
}

impl Modseqs {
    /// The index of the control directory `dir`, read at the first
    /// `update`.
    pub fn new(dir: &Path) -> Modseqs {
        Modseqs {
            dir: dir.to_path_buf(),
            index: Index::new(0),
            files: None,
        }
    }

    /// Brings the index into agreement with `snap`, a version of the file
    /// read under its lock, whose entries then have their modseqs at the
    /// same positions (`at`).
    pub fn update(&mut self, snap: &Snapshot) -> Result<()> {
        self.update_from(snap, None)
    }

    /// `update` after this session changed the file from the version of
    /// digest `before` (`digest`), where only the messages of `changed` can
    /// have other flags and some may be gone: when the index agreed with
    /// that version, only those are looked at, not every entry.
    pub fn update_after(
        &mut self,
        snap: &Snapshot,
        before: [i64; 2],
        changed: &[Uid],
    ) -> Result<()> {
        self.update_from(snap, Some((before, changed)))
    }

    fn update_from(&mut self, snap: &Snapshot, hint: Option<([i64; 2], &[Uid])>) -> Result<()> {
        let digest = digest(snap);
        if self.files.is_some()
            && self.index.scanned == digest
            && self.index.uid_validity == snap.uid_validity
        {
            return Ok(());
        }
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)?;
        let _lock = Lock::exclusive(&self.dir.join(index::LOCK_FILE))?;
        let caught_up = match self.files.as_mut() {
            Some(f) => matches!(self.index.catch_up(&self.dir, f), Ok(true)),
            None => false,
        };
        if !caught_up || self.index.uid_validity != snap.uid_validity {
            self.load(snap.uid_validity)?;
        }
        if self.index.scanned != digest || self.files.is_none() {
            match hint.filter(|(before, _)| self.files.is_some() && self.index.scanned == *before) {
                Some((_, changed)) => reconcile_some(&mut self.index, snap, changed)?,
                None => reconcile(&mut self.index, snap)?,
            }
            self.index.scanned = digest;
            self.files = Some(self.index.save(&self.dir, self.files.as_ref())?);
        }
        // Kept by nobody: a session reports expunges from the file.
        self.index.dropped.0.clear();
        Ok(())
    }

    /// Reads the index files, or starts a new index where there are none,
    /// they are damaged or of another UIDVALIDITY.
    fn load(&mut self, uid_validity: u32) -> Result<()> {
        let loaded = match Index::load(&self.dir) {
            Ok(Some((ix, files))) if ix.uid_validity == uid_validity => Some((ix, files)),
            Ok(_) => None,
            Err(StoreError::Corrupt(why)) => {
                log::warn!("{}: {why}; modseqs start anew", self.dir.display());
                None
            }
            Err(e) => return Err(e),
        };
        match loaded {
            Some((ix, files)) => {
                self.index = ix;
                self.files = files;
            }
            None => {
                let mut ix = Index::new(uid_validity);
                ix.highest_modseq = fresh_modseq().max(self.index.highest_modseq);
                // What was expunged before is not known.
                ix.vanished_from = ix.highest_modseq;
                self.index = ix;
                self.files = None;
            }
        }
        Ok(())
    }

    pub fn highest(&self) -> ModSeq {
        self.index.highest_modseq
    }

    /// `Index::vanished_since` of the index as last agreed.
    pub fn vanished_since(&self, since: ModSeq) -> Vec<std::ops::RangeInclusive<Uid>> {
        self.index.vanished_since(since)
    }

    /// The modseq of `uid`, the entry at position `k` of the snapshot last
    /// given to `update`; the highest when that update did not go through.
    pub fn at(&self, k: usize, uid: Uid) -> ModSeq {
        if k < self.index.len() && self.index.uid_at(k) == uid {
            self.index.modseq_at(k)
        } else {
            self.index.highest_modseq
        }
    }
}

/// The first modseq of a new index: the time in microseconds. An index
/// lost and made again starts above every modseq the old one handed out,
/// which took one change each (a write of the file), far fewer than one a
/// microsecond.
fn fresh_modseq() -> ModSeq {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros());
    ModSeq::try_from(now).unwrap_or(ModSeq::MAX / 2)
}

/// What names a version of the file in `Index::scanned`.
pub fn digest(snap: &Snapshot) -> [i64; 2] {
    let stamp = snap.stamp.as_ref().map_or_else(String::new, |s| s.fields());
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in stamp.bytes().chain(snap.entries.len().to_le_bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // Never the 0 of "not known".
    let as_i64 = |x: u64| i64::from_ne_bytes(x.to_ne_bytes()) | 1;
    [
        as_i64(h),
        as_i64(snap.check.0 ^ snap.check.1.rotate_left(17)),
    ]
}

/// The same flags, keywords compared without regard to case.
fn same_flags(a: &Flags, b: &Flags) -> bool {
    a.system == b.system
        && a.keywords.len() == b.keywords.len()
        && a.keywords
            .iter()
            .zip(&b.keywords)
            .all(|(x, y)| x.eq_ignore_ascii_case(y))
}

/// Whether index entry `o` says what file entry `e` says.
fn agrees(o: &Entry, e: &super::file::Entry, flags: &Flags) -> bool {
    same_flags(&o.flags, flags) && o.size == e.size() && o.date == e.date() && o.zone == e.zone()
}

/// `reconcile` where `ix` held the messages of `snap` (some perhaps gone
/// since) and only those of `changed` can differ.
fn reconcile_some(ix: &mut Index, snap: &Snapshot, changed: &[Uid]) -> Result<()> {
    // As many: none gone (no look at each).
    if ix.len() != snap.entries.len() {
        ix.expunge(|uid| snap.find(uid).is_none());
    }
    if ix.len() != snap.entries.len() {
        return reconcile(ix, snap);
    }
    for &uid in changed {
        let (Some(k), Some(i)) = (ix.find(uid), snap.find(uid)) else {
            continue;
        };
        let (e, flags) = (&snap.entries.at(i), snap.flags(i));
        if !agrees(&ix.get_without_name(k), e, &flags) {
            let entry = entry_of(ix, e, flags)?;
            ix.set(k, entry);
        }
    }
    Ok(())
}

/// The index entry for file entry `e` at a new modseq.
fn entry_of(ix: &mut Index, e: &super::file::Entry, flags: Flags) -> Result<Entry> {
    for kw in &flags.keywords {
        ix.add_keyword(kw)?;
    }
    Ok(Entry {
        uid: e.uid,
        modseq: ix.bump(),
        size: e.size(),
        date: e.date(),
        zone: e.zone(),
        flags,
        name: NAME.into(),
        new: false,
    })
}

/// Makes `ix` hold `snap`'s messages, each change at a new modseq.
fn reconcile(ix: &mut Index, snap: &Snapshot) -> Result<()> {
    ix.expunge(|uid| snap.find(uid).is_none());
    let mut k = 0;
    for (i, e) in snap.entries.iter().enumerate() {
        let flags = snap.flags(i);
        let known = k < ix.len() && ix.uid_at(k) == e.uid;
        if known && agrees(&ix.get_without_name(k), &e, &flags) {
            k += 1;
            continue;
        }
        if !known && k < ix.len() {
            // Below a UID the index has: cannot be put in order. Cannot
            // happen while UIDs ascend in the file; start over, above.
            let floor = ix.highest_modseq;
            *ix = Index::new(snap.uid_validity);
            ix.highest_modseq = fresh_modseq().max(floor);
            ix.vanished_from = ix.highest_modseq;
            return reconcile(ix, snap);
        }
        let entry = entry_of(ix, &e, flags)?;
        if known {
            ix.set(k, entry);
        } else {
            ix.push(entry);
        }
        k += 1;
    }
    ix.uid_next = ix.uid_next.max(snap.uid_next);
    Ok(())
}
