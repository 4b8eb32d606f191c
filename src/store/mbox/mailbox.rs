//! One open mbox mailbox and a session's view of it.
//!
//! The locks are held only while the file is read or written, never
//! between commands. `sync` costs one `stat` when the file is unchanged.

use std::collections::HashSet;
use std::io::{Cursor, Seek, SeekFrom};

use super::file::{self, Ctx, Map, Snapshot, Stamp};
use super::modseq::Modseqs;
use crate::limits::{KEYWORDS_MAX, MBOX_MESSAGE_MEMORY_MAX};
use crate::store::lock::MboxGuard;
use crate::store::{
    flag, Appended, Changes, FlagOp, Flags, Mailbox, Message, MessageRead, ModSeq, Result,
    StoreError, Uid,
};

/// Finds the file of a COPY destination in the same store.
pub type DestFn = Box<dyn Fn(&str) -> Result<Ctx>>;

pub struct MboxMailbox {
    ctx: Ctx,
    read_only: bool,
    uid_validity: u32,
    uid_next: Uid,
    keywords: Vec<String>,
    view: Vec<Message>,
    /// The file as last read (offsets by UID); may be newer than the view.
    current: Snapshot,
    /// The file version the view reflects.
    seen: Option<Stamp>,
    /// Messages removed from the file but kept in the view.
    held_back: bool,
    /// Highest UID in the view: anything above is new.
    last_uid: Uid,
    /// Messages this session claimed (`Status: O`) in a rewrite before they
    /// entered the view: `\Recent` here when they do.
    claimed: HashSet<Uid>,
    /// Opens the destination of COPY.
    pub(super) dest: DestFn,
    /// ENVELOPE/BODYSTRUCTURE cache beside our state (DESIGN.md 5).
    cache: crate::store::cache::Cache,
    /// The index that keeps the messages' modseqs, agreeing with `current`.
    modseqs: Modseqs,
}

fn len32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl MboxMailbox {
    pub(super) fn open(ctx: Ctx, read_only: bool, dest: DestFn) -> Result<MboxMailbox> {
        if !read_only {
            // Once a session, not at every rewrite: a big spool directory
            // is read whole.
            file::clean_leftovers(&ctx.path);
        }
        let mut modseqs = Modseqs::new(&ctx.ctl);
        let (snap, recent) = read(&ctx, !read_only, None, Some(&mut modseqs))?;
        let uid_validity = snap.uid_validity;
        let mut mb = MboxMailbox {
            uid_validity: snap.uid_validity,
            uid_next: snap.uid_next,
            keywords: snap.keywords.clone(),
            view: Vec::with_capacity(snap.entries.len()),
            seen: snap.stamp.clone(),
            current: snap,
            held_back: false,
            last_uid: 0,
            claimed: HashSet::new(),
            read_only,
            cache: crate::store::cache::Cache::new(&ctx.ctl, uid_validity),
            ctx,
            dest,
            modseqs,
        };
        for (k, e) in mb.current.entries.iter().enumerate() {
            let modseq = mb.modseqs.at(k, e.uid);
            mb.view.push(message(e, recent.contains(&e.uid), modseq));
        }
        mb.last_uid = mb.view.last().map_or(0, |m| m.uid);
        Ok(mb)
    }

    fn check_validity(&self, snap: &Snapshot) -> Result<()> {
        if snap.uid_validity != self.uid_validity {
            return Err(StoreError::Corrupt(
                "UIDVALIDITY changed; the mailbox must be selected again".into(),
            ));
        }
        Ok(())
    }

    /// Changes the file under the write lock: `edit` gets a fresh snapshot
    /// and the modseqs of its messages, and says whether it changed
    /// anything; then the file is rewritten.
    fn modify(&mut self, edit: impl FnOnce(&mut Snapshot, &Modseqs) -> bool) -> Result<Snapshot> {
        let guard = self.ctx.lock(true)?;
        let map = Map::new(guard.file())?;
        let mut snap = self.ctx.load(&guard, &map, Some(&self.current))?;
        self.check_validity(&snap)?;
        self.modseqs.update(&snap)?;
        let before = super::modseq::digest(&snap);
        let mut changed = Vec::new();
        if edit(&mut snap, &self.modseqs) || snap.needs_write() {
            // What the edit changed: the file still says the old flags.
            changed.extend(
                snap.entries
                    .iter()
                    .filter(|e| e.flags != e.msg.flags)
                    .map(|e| e.uid),
            );
            for e in &mut snap.entries {
                if !e.old && e.uid > self.last_uid {
                    self.claimed.insert(e.uid);
                }
                e.old = true;
            }
            snap = self.ctx.rewrite(&guard, map, &snap)?;
        }
        // Under the mbox lock, so that the index takes the file's versions
        // in their order. The file changed already: a failure here leaves
        // the modseqs to the next look (the index names the version it
        // agrees with).
        if let Err(e) = self.modseqs.update_after(&snap, before, &changed) {
            log::warn!("{}: modseqs not updated: {e}", self.ctx.path.display());
        }
        drop(guard);
        self.current = snap.clone();
        Ok(snap)
    }
}

fn message(e: &file::Entry, recent: bool, modseq: ModSeq) -> Message {
    Message {
        uid: e.uid,
        flags: e.flags.clone(),
        recent,
        modseq,
        internal_date: e.msg.date,
        internal_date_zone: e.msg.zone,
        size: e.size,
    }
}

/// Reads the file. UIDs not yet in it are written by any session (as
/// Dovecot does), so that every session shows the same UIDs even when
/// unwritten messages later disappear; with `claim` (a read-write session)
/// messages nobody has seen get `Status: O` too and are returned as this
/// session's `\Recent`. A read-only session (EXAMINE) is shown the
/// unclaimed ones as `\Recent` and takes none (RFC 3501 6.3.2: the same
/// output as SELECT), as the Maildir store does; STATUS counts them too.
/// A missing INBOX is empty. `modseqs`, if given, is brought into
/// agreement with the version read while its lock is still held, so that
/// the index takes the file's versions in their order.
pub(super) fn read(
    ctx: &Ctx,
    claim: bool,
    prev: Option<&Snapshot>,
    modseqs: Option<&mut Modseqs>,
) -> Result<(Snapshot, HashSet<Uid>)> {
    let (snap, recent, guard) = read_locked(ctx, claim, prev)?;
    if let Some(m) = modseqs {
        m.update(&snap)?;
    }
    drop(guard);
    Ok((snap, recent))
}

/// `read`, returning the lock it read under (none for a missing INBOX).
fn read_locked(
    ctx: &Ctx,
    claim: bool,
    prev: Option<&Snapshot>,
) -> Result<(Snapshot, HashSet<Uid>, Option<MboxGuard>)> {
    let must_write = |s: &Snapshot| s.uids_unwritten() || (claim && s.needs_write());
    let unclaimed = |s: &Snapshot| -> HashSet<Uid> {
        s.entries.iter().filter(|e| !e.old).map(|e| e.uid).collect()
    };
    let guard = match ctx.lock(false) {
        Ok(g) => g,
        Err(StoreError::NotFound) if ctx.inbox => return Ok((empty(ctx)?, HashSet::new(), None)),
        Err(e) => return Err(e),
    };
    let map = Map::new(guard.file())?;
    let snap = ctx.load(&guard, &map, prev)?;
    if !must_write(&snap) {
        let recent = unclaimed(&snap);
        drop(map);
        return Ok((snap, recent, Some(guard)));
    }
    drop(map);
    drop(guard);
    let guard = match ctx.lock(true) {
        Ok(g) => g,
        // Busy, or a spool we may read but not lock for writing: serve the
        // file as it is, UIDs as computed (every session computes the same
        // unless unwritten messages vanish meanwhile), a read-write session
        // showing the unclaimed messages as \Recent without taking them.
        Err(e @ (StoreError::InUse | StoreError::NotAllowed(_))) => {
            log::warn!("{}: cannot write UIDs: {e}", ctx.path.display());
            let recent = unclaimed(&snap);
            return Ok((snap, recent, None));
        }
        Err(e) => return Err(e),
    };
    let map = Map::new(guard.file())?;
    let mut snap = ctx.load(&guard, &map, prev)?;
    let mut recent = if claim {
        HashSet::new()
    } else {
        unclaimed(&snap)
    };
    if must_write(&snap) {
        if claim {
            for e in &mut snap.entries {
                if !e.old {
                    recent.insert(e.uid);
                    e.old = true;
                }
            }
        }
        snap = ctx.rewrite(&guard, map, &snap)?;
    }
    Ok((snap, recent, Some(guard)))
}

/// The state of a mailbox whose file does not exist (a spool before the
/// first delivery).
fn empty(ctx: &Ctx) -> Result<Snapshot> {
    let (uid_validity, uid_next) = file::ensure_state(ctx)?;
    Ok(Snapshot {
        stamp: None,
        uid_validity,
        uid_next,
        base_ok: false,
        keywords: Vec::new(),
        entries: Vec::new(),
        check: (0, 0),
    })
}

impl Mailbox for MboxMailbox {
    fn read_only(&self) -> bool {
        self.read_only
    }

    fn uid_validity(&self) -> u32 {
        self.uid_validity
    }

    fn uid_next(&self) -> Uid {
        self.uid_next
    }

    fn highest_modseq(&self) -> ModSeq {
        self.modseqs.highest()
    }

    fn changed_since(&self, since: ModSeq) -> Vec<usize> {
        self.view
            .iter()
            .enumerate()
            .filter(|(_, m)| m.modseq > since)
            .map(|(i, _)| i)
            .collect()
    }

    fn vanished_since(&self, since: ModSeq) -> Vec<std::ops::RangeInclusive<Uid>> {
        self.modseqs.vanished_since(since)
    }

    fn count(&self) -> usize {
        self.view.len()
    }

    fn message(&self, index: usize) -> Message {
        self.view[index].clone()
    }

    fn uid(&self, index: usize) -> Uid {
        self.view[index].uid
    }

    fn keywords(&self) -> Vec<String> {
        self.keywords.clone()
    }

    fn can_create_keywords(&self) -> bool {
        self.keywords.len() < KEYWORDS_MAX
    }

    fn sync(&mut self, allow_expunge: bool) -> Result<Changes> {
        let now = Stamp::at(&self.ctx.path);
        if !self.held_back && now == self.seen && self.current.stamp == now {
            return Ok(Changes::default());
        }
        let (snap, recent) = read(
            &self.ctx,
            !self.read_only,
            Some(&self.current),
            Some(&mut self.modseqs),
        )?;
        self.check_validity(&snap)?;
        self.seen = snap.stamp.clone();
        self.held_back = false;
        let mut changes = Changes::default();
        let old_recent = self.view.iter().filter(|m| m.recent).count();
        let mut flag_uids = Vec::new();
        let mut removed = Vec::new();
        let view = std::mem::take(&mut self.view);
        for (pos, mut m) in view.into_iter().enumerate() {
            match snap.find(m.uid) {
                Some(k) => {
                    let e = &snap.entries[k];
                    if e.flags != m.flags {
                        m.flags = e.flags.clone();
                        flag_uids.push(m.uid);
                    }
                    m.size = e.size;
                    m.modseq = self.modseqs.at(k, m.uid);
                }
                None if allow_expunge => {
                    removed.push(pos);
                    changes.vanished.push(m.uid);
                    continue;
                }
                None => self.held_back = true,
            }
            self.view.push(m);
        }
        if !removed.is_empty() {
            self.cache.expunged();
        }
        changes.expunged = removed.iter().rev().map(|&p| len32(p + 1)).collect();
        changes.held_back = self.held_back;
        let first_new = snap.entries.partition_point(|e| e.uid <= self.last_uid);
        let mut added = 0;
        for (k, e) in snap.entries.iter().enumerate().skip(first_new) {
            let r = recent.contains(&e.uid) || self.claimed.remove(&e.uid);
            self.view.push(message(e, r, self.modseqs.at(k, e.uid)));
            self.last_uid = e.uid;
            added += 1;
        }
        for uid in flag_uids {
            if let Ok(p) = self.view.binary_search_by_key(&uid, |m| m.uid) {
                changes.flags.push(len32(p + 1));
            }
        }
        if added > 0 {
            changes.exists = Some(len32(self.view.len()));
        }
        let now_recent = self.view.iter().filter(|m| m.recent).count();
        if changes.exists.is_some() || now_recent != old_recent {
            changes.recent = Some(len32(now_recent));
        }
        if snap.keywords != self.keywords {
            changes.keywords_changed = true;
            self.keywords = snap.keywords.clone();
        }
        self.uid_next = snap.uid_next;
        self.current = snap;
        Ok(changes)
    }

    fn open_message(&mut self, index: usize) -> Result<Box<dyn MessageRead>> {
        let uid = self.view.get(index).ok_or(StoreError::Expunged)?.uid;
        // A copy taken under the lock: mutt rewrites files in place, so
        // offsets are only good while the lock is held.
        let guard = self.ctx.lock(false)?;
        let map = Map::new(guard.file())?;
        let now = file::Stamp::at(&self.ctx.path);
        if self.current.stamp != now || now.is_none() {
            let snap = self.ctx.load(&guard, &map, Some(&self.current))?;
            self.check_validity(&snap)?;
            self.current = snap;
        }
        let k = self.current.find(uid).ok_or(StoreError::Expunged)?;
        let e = &self.current.entries[k];
        if e.size <= MBOX_MESSAGE_MEMORY_MAX {
            return Ok(Box::new(Cursor::new(file::served(map.data(), e))));
        }
        // A big message goes to an anonymous file rather than memory.
        // Copied with pread(2), not through the map: mapped pages would
        // count in this process's memory as they pass (issue 20).
        drop(map);
        let mut f = file::anonymous_file()?;
        let mut at = 0u64;
        for r in e.msg.served() {
            let len = (r.end - r.start) as u64;
            super::inplace::copy_at(guard.file(), r.start as u64, &f, at, len)?;
            at += len;
        }
        f.seek(SeekFrom::Start(0))?;
        Ok(Box::new(f))
    }

    fn store_if(
        &mut self,
        indexes: &[usize],
        op: FlagOp,
        flags: &Flags,
        since: Option<ModSeq>,
    ) -> Result<(Vec<usize>, Vec<usize>)> {
        if self.read_only {
            return Err(StoreError::NotAllowed("mailbox is read-only"));
        }
        let uids: Vec<(usize, Uid)> = indexes
            .iter()
            .filter_map(|&i| self.view.get(i).map(|m| (i, m.uid)))
            .collect();
        if op != FlagOp::Remove {
            let mut all = self.keywords.clone();
            for k in &flags.keywords {
                if !all.iter().any(|x| x.eq_ignore_ascii_case(k)) {
                    all.push(k.clone());
                }
            }
            if all.len() > KEYWORDS_MAX {
                return Err(StoreError::Limit("too many keywords"));
            }
        }
        let mut modified = Vec::new();
        let snap = self.modify(|snap, modseqs| {
            let mut changed = false;
            for &(i, uid) in &uids {
                if let Some(k) = snap.find(uid) {
                    if since.is_some_and(|n| modseqs.at(k, uid) > n) {
                        modified.push(i);
                        continue;
                    }
                    changed |= snap.entries[k].flags.apply(op, flags);
                }
            }
            if op != FlagOp::Remove {
                for k in &flags.keywords {
                    if !snap.keywords.iter().any(|x| x.eq_ignore_ascii_case(k)) {
                        snap.keywords.push(k.clone());
                        changed = true;
                    }
                }
            }
            changed
        })?;
        let mut changed = Vec::new();
        for (i, uid) in uids {
            // Left alone: what another session changed there is news for
            // the next sync to report, not this STORE.
            if modified.contains(&i) {
                continue;
            }
            let Some(k) = snap.find(uid) else {
                continue; // gone; the next sync reports it
            };
            let e = &snap.entries[k];
            if let Some(m) = self.view.get_mut(i) {
                if m.flags != e.flags {
                    m.flags = e.flags.clone();
                    m.modseq = self.modseqs.at(k, uid);
                    changed.push(i);
                }
            }
        }
        // The caller reports new keywords itself.
        self.keywords = snap.keywords.clone();
        Ok((changed, modified))
    }

    fn expunge(&mut self, uids: Option<&[Uid]>) -> Result<Vec<u32>> {
        if self.read_only {
            return Err(StoreError::NotAllowed("mailbox is read-only"));
        }
        let only: Option<HashSet<Uid>> = uids.map(|u| u.iter().copied().collect());
        let wanted: HashSet<Uid> = self
            .view
            .iter()
            .filter(|m| only.as_ref().is_none_or(|s| s.contains(&m.uid)))
            .map(|m| m.uid)
            .collect();
        let mut gone = HashSet::new();
        let snap = self.modify(|snap, _| {
            let before = snap.entries.len();
            snap.entries.retain(|e| {
                let del = wanted.contains(&e.uid) && e.flags.has(flag::DELETED);
                if del {
                    gone.insert(e.uid);
                }
                !del
            });
            snap.entries.len() != before
        })?;
        let mut removed = Vec::new();
        for (i, m) in self.view.iter().enumerate() {
            if !wanted.contains(&m.uid) {
                continue;
            }
            let vanished = snap.find(m.uid).is_none() && m.flags.has(flag::DELETED);
            if gone.contains(&m.uid) || vanished {
                removed.push(i);
            }
        }
        if !removed.is_empty() {
            self.cache.expunged();
        }
        let mut seqs = Vec::with_capacity(removed.len());
        for &i in removed.iter().rev() {
            self.view.remove(i);
            seqs.push(len32(i + 1));
        }
        self.uid_next = self.uid_next.max(snap.uid_next);
        Ok(seqs)
    }

    fn copy(&mut self, indexes: &[usize], dest: &str) -> Result<Appended> {
        let dctx = (self.dest)(dest)?;
        // Each message is taken (under this mailbox's lock) before the
        // destination is locked: the two may be the same file.
        let mut taken = Vec::with_capacity(indexes.len());
        for &i in indexes {
            let m = self.view.get(i).ok_or(StoreError::Expunged)?.clone();
            let mut r = self.open_message(i)?;
            let len = r.seek(SeekFrom::End(0))?;
            r.seek(SeekFrom::Start(0))?;
            taken.push((r, len, m));
        }
        let mut msgs: Vec<file::Incoming<'_>> = taken
            .iter_mut()
            .map(|(r, len, m)| file::Incoming {
                data: r,
                len: *len,
                flags: m.flags.clone(),
                date: m.internal_date,
                zone: m.internal_date_zone,
            })
            .collect();
        super::append_to(&dctx, &mut msgs)
    }

    fn cached(&mut self, index: usize, kind: crate::store::cache::Kind) -> Option<Vec<u8>> {
        let uid = self.view.get(index)?.uid;
        self.cache.get(uid, kind)
    }

    fn cache(&mut self, index: usize, kind: crate::store::cache::Kind, data: &[u8]) {
        if let Some(m) = self.view.get(index) {
            self.cache
                .put(m.uid, kind, data, &crate::store::cache::live_in(&self.view));
        }
    }

    fn flush_cache(&mut self) {
        self.cache.flush(&crate::store::cache::live_in(&self.view));
    }
}
