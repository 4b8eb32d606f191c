//! One open mbox mailbox and a session's view of it.
//!
//! The locks are held only while the file is read or written, never
//! between commands. `sync` costs one `stat` when the file is unchanged.

use std::borrow::Cow;
use std::collections::HashSet;
use std::io::{Cursor, Seek, SeekFrom};

use super::file::{self, Ctx, Map, Snapshot, Stamp};
use super::modseq::Modseqs;
use crate::limits::{KEYWORDS_MAX, MBOX_MESSAGE_MEMORY_MAX};
use crate::store::lock::MboxGuard;
use crate::store::view::View;
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
    /// The messages the client was told of (DESIGN.md 4, the selected
    /// view): their flags, sizes and dates are read from `current`, and a
    /// message that left the file before its EXPUNGE could be reported is
    /// the view's ghost.
    view: View,
    /// The file as last read (offsets by UID); may be newer than the view.
    current: Snapshot,
    /// The file version the view reflects.
    seen: Option<Stamp>,
    /// Messages removed from the file but kept in the view (as ghosts).
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
    /// Where in `current` the last `find_current` found its message.
    last_found: std::cell::Cell<usize>,
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
        let snap = snap.into_owned();
        let uid_validity = snap.uid_validity;
        let mut mb = MboxMailbox {
            uid_validity: snap.uid_validity,
            uid_next: snap.uid_next,
            keywords: snap.keywords.clone(),
            view: View::with_capacity(snap.entries.len(), modseqs.highest()),
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
            last_found: std::cell::Cell::new(0),
        };
        for e in mb.current.entries.iter() {
            mb.view.push(e.uid, recent.contains(&e.uid));
        }
        mb.last_uid = mb.view.uids().last().copied().unwrap_or(0);
        Ok(mb)
    }

    /// Message `uid` as `current` has it, if it is there.
    fn current_message(&self, uid: Uid) -> Option<Message> {
        let (k, e) = self.find_current(uid)?;
        Some(message_of(
            &self.current,
            &e,
            self.view.is_recent(uid),
            self.modseqs.at(k, uid),
        ))
    }

    /// Where `uid` is in `current`, and its entry. FETCH 1:* asks for each
    /// message in turn, so the one after the last found is tried before a
    /// search.
    fn find_current(&self, uid: Uid) -> Option<(usize, file::Entry)> {
        let next = self.last_found.get() + 1;
        let (k, e) = match self.current.entries.get(next) {
            Some(e) if e.uid == uid => (next, e),
            _ => {
                let k = self.current.find(uid)?;
                (k, self.current.entries.at(k))
            }
        };
        self.last_found.set(k);
        Some((k, e))
    }

    /// The modseq of message `uid` of the view (a ghost's as it left).
    fn modseq(&self, uid: Uid) -> ModSeq {
        match (self.view.ghost(uid), self.find_current(uid)) {
            (Some(g), _) => g.modseq,
            (None, Some((k, _))) => self.modseqs.at(k, uid),
            (None, None) => self.modseqs.highest(),
        }
    }

    /// Makes `snap` the current version of the file; the messages of the
    /// view it no longer holds become ghosts, as `current` showed them.
    fn replace_current(&mut self, snap: Snapshot) {
        let mut ghosts = Vec::new();
        {
            let mut next = snap.entries.iter().map(|e| e.uid).peekable();
            for &uid in self.view.uids() {
                while next.next_if(|&u| u < uid).is_some() {}
                if next.peek() != Some(&uid) && self.view.ghost(uid).is_none() {
                    ghosts.extend(self.current_message(uid));
                }
            }
        }
        for g in ghosts {
            self.view.add_ghost(g);
        }
        self.current = snap;
    }

    fn check_validity(uid_validity: u32, snap: &Snapshot) -> Result<()> {
        if snap.uid_validity != uid_validity {
            return Err(StoreError::Corrupt(
                "UIDVALIDITY changed; the mailbox must be selected again".into(),
            ));
        }
        Ok(())
    }

    /// Changes the file under the write lock: `edit` gets a fresh snapshot
    /// and the modseqs of its messages, and says whether it changed
    /// anything; then the file is rewritten.
    fn modify(&mut self, edit: impl FnOnce(&mut Snapshot, &Modseqs) -> bool) -> Result<()> {
        let guard = self.ctx.lock(true)?;
        let map = Map::new(guard.file())?;
        self.refresh(&guard, &map)?;
        self.modseqs.update(&self.current)?;
        let before = super::modseq::digest(&self.current);
        let mut changed = Vec::new();
        // Edited and rewritten in place: a big mbox is not held twice.
        if edit(&mut self.current, &self.modseqs) || self.current.needs_write() {
            // What the edit changed: the file still says the old flags.
            // One pass over those that may differ (an mbox session's
            // entries are read from its parse cache a window at a time).
            for i in self.current.unsaid() {
                if !self.current.flags_said(i) {
                    changed.push(self.current.entries.at(i).uid);
                }
                let entries = &mut self.current.entries;
                let e = entries.at(i);
                if !e.old() {
                    if e.uid > self.last_uid {
                        self.claimed.insert(e.uid);
                    }
                    entries.update(i, |e| e.set_old());
                }
            }
            if let Err(e) = self.ctx.rewrite(&guard, map, &mut self.current) {
                // `current` holds the edit the file may not: read it again.
                let fresh = Map::new(guard.file()).and_then(|m| self.ctx.load(&guard, &m, None));
                match fresh {
                    Ok(snap) => self.replace_current(snap),
                    Err(again) => log::warn!(
                        "{}: not read again after a failed rewrite: {again}",
                        self.ctx.path.display()
                    ),
                }
                return Err(e);
            }
        }
        // Under the mbox lock, so that the index takes the file's versions
        // in their order. The file changed already: a failure here leaves
        // the modseqs to the next look (the index names the version it
        // agrees with).
        if let Err(e) = self.modseqs.update_after(&self.current, before, &changed) {
            log::warn!("{}: modseqs not updated: {e}", self.ctx.path.display());
        }
        Ok(())
    }

    /// Brings `current` to the locked file's version: nothing is read or
    /// copied when it is that already; otherwise the view's messages the
    /// new version lacks become ghosts.
    fn refresh(&mut self, guard: &MboxGuard, map: &Map) -> Result<()> {
        if self.ctx.is_current(guard, map, &self.current)? {
            return Ok(());
        }
        let snap = self.ctx.load(guard, map, Some(&mut self.current))?;
        Self::check_validity(self.uid_validity, &snap)?;
        self.replace_current(snap);
        Ok(())
    }
}

/// Moves `k` forward to `uid`'s entry, or to where it would be (ascending
/// UIDs asked in ascending order: a walk over `entries`, not a search for
/// each); whether `uid` is there.
fn walk_to(entries: &super::entries::Entries, k: &mut usize, uid: Uid) -> bool {
    loop {
        match entries.get(*k) {
            Some(e) if e.uid < uid => *k += 1,
            Some(e) => return e.uid == uid,
            None => return false,
        }
    }
}

fn message_of(snap: &Snapshot, e: &file::Entry, recent: bool, modseq: ModSeq) -> Message {
    Message {
        uid: e.uid,
        flags: snap.flags_of(e),
        recent,
        modseq,
        internal_date: e.date(),
        internal_date_zone: e.zone(),
        size: e.size(),
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
/// the index takes the file's versions in their order. `prev` itself is
/// returned (borrowed, not copied) when it is the file's version and
/// needs no write.
pub(super) fn read<'a>(
    ctx: &Ctx,
    claim: bool,
    prev: Option<&'a mut Snapshot>,
    modseqs: Option<&mut Modseqs>,
) -> Result<(Cow<'a, Snapshot>, HashSet<Uid>)> {
    let (snap, recent, guard) = read_locked(ctx, claim, prev)?;
    if let Some(m) = modseqs {
        m.update(&snap)?;
    }
    drop(guard);
    Ok((snap, recent))
}

/// `read`, returning the lock it read under (none for a missing INBOX).
fn read_locked<'a>(
    ctx: &Ctx,
    claim: bool,
    prev: Option<&'a mut Snapshot>,
) -> Result<(Cow<'a, Snapshot>, HashSet<Uid>, Option<MboxGuard>)> {
    let must_write = |s: &Snapshot| s.uids_unwritten() || (claim && s.needs_write());
    let unclaimed = |s: &Snapshot| -> HashSet<Uid> {
        s.entries
            .maybe_unsaid()
            .filter(|e| !e.old())
            .map(|e| e.uid)
            .collect()
    };
    let guard = match ctx.lock(false) {
        Ok(g) => g,
        Err(StoreError::NotFound) if ctx.inbox => {
            return Ok((Cow::Owned(empty(ctx)?), HashSet::new(), None))
        }
        Err(e) => return Err(e),
    };
    let map = Map::new(guard.file())?;
    let prev = match prev {
        Some(p) if ctx.is_current(&guard, &map, p)? && !must_write(p) => {
            let p: &'a Snapshot = p;
            return Ok((Cow::Borrowed(p), unclaimed(p), Some(guard)));
        }
        other => other,
    };
    let mut snap = ctx.load(&guard, &map, prev)?;
    if !must_write(&snap) {
        let recent = unclaimed(&snap);
        drop(map);
        return Ok((Cow::Owned(snap), recent, Some(guard)));
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
            return Ok((Cow::Owned(snap), recent, None));
        }
        Err(e) => return Err(e),
    };
    let map = Map::new(guard.file())?;
    // The version just read, unless the file changed between the locks.
    ctx.refresh(&guard, &map, &mut snap)?;
    let mut recent = if claim {
        HashSet::new()
    } else {
        unclaimed(&snap)
    };
    if must_write(&snap) {
        if claim {
            let entries = &mut snap.entries;
            for i in 0..entries.len() {
                let e = entries.at(i);
                if !e.old() {
                    recent.insert(e.uid);
                    entries.update(i, |e| e.set_old());
                }
            }
        }
        ctx.rewrite(&guard, map, &mut snap)?;
    }
    Ok((Cow::Owned(snap), recent, Some(guard)))
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
        entries: Default::default(),
        kw: Default::default(),
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
        (0..self.view.len())
            .filter(|&i| self.modseq(self.view.uid(i)) > since)
            .collect()
    }

    fn vanished_since(&self, since: ModSeq) -> Vec<std::ops::RangeInclusive<Uid>> {
        self.modseqs.vanished_since(since)
    }

    fn count(&self) -> usize {
        self.view.len()
    }

    fn message(&self, index: usize) -> Message {
        let uid = self.view.uid(index);
        if let Some(g) = self.view.ghost(uid) {
            return g.clone();
        }
        // `replace_current` keeps every message of the view in `current`
        // or among the ghosts; the default is never reached.
        self.current_message(uid).unwrap_or(Message {
            uid,
            flags: Flags::default(),
            recent: false,
            modseq: self.modseqs.highest(),
            internal_date: 0,
            internal_date_zone: 0,
            size: 0,
        })
    }

    fn uid(&self, index: usize) -> Uid {
        self.view.uid(index)
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
            Some(&mut self.current),
            Some(&mut self.modseqs),
        )?;
        Self::check_validity(self.uid_validity, &snap)?;
        self.seen = snap.stamp.clone();
        let old_recent = self.view.recent_count();
        let keywords_changed = snap.keywords != self.keywords;
        self.uid_next = snap.uid_next;
        // Borrowed: `current` is the file's version already.
        if let Cow::Owned(snap) = snap {
            self.replace_current(snap);
        }
        let mut changes = Changes::default();
        let mut removed = Vec::new();
        let mut held_back = false;
        // The view's UIDs ascend, as `current`'s: a walk, not a search.
        let entries = &self.current.entries;
        let mut k = 0;
        self.view.retain(|pos, uid| {
            if walk_to(entries, &mut k, uid) {
                return true;
            }
            if allow_expunge {
                removed.push(pos);
                changes.vanished.push(uid);
            } else {
                held_back = true;
            }
            !allow_expunge
        });
        self.held_back = held_back;
        if !removed.is_empty() {
            self.cache.expunged();
        }
        changes.expunged = removed.iter().rev().map(|&p| len32(p + 1)).collect();
        changes.held_back = self.held_back;
        // Flag changes: the messages whose modseq is news to the client.
        // UIDs ascend in both the view and `current`: a walk, not a search
        // for each.
        let mut flag_uids = Vec::new();
        let entries = &self.current.entries;
        let mut k = 0;
        for &uid in self.view.uids() {
            if walk_to(entries, &mut k, uid) && self.view.is_news(uid, self.modseqs.at(k, uid)) {
                flag_uids.push(uid);
            }
        }
        self.view.tell_all(self.modseqs.highest());
        let first_new = self.current.entries.partition_point(|u| u <= self.last_uid);
        let mut added = 0;
        for e in (first_new..self.current.entries.len()).map(|i| self.current.entries.at(i)) {
            let r = recent.contains(&e.uid) || self.claimed.remove(&e.uid);
            self.view.push(e.uid, r);
            self.last_uid = e.uid;
            added += 1;
        }
        for uid in flag_uids {
            if let Ok(p) = self.view.find(uid) {
                changes.flags.push(len32(p + 1));
            }
        }
        if added > 0 {
            changes.exists = Some(len32(self.view.len()));
        }
        let now_recent = self.view.recent_count();
        if changes.exists.is_some() || now_recent != old_recent {
            changes.recent = Some(len32(now_recent));
        }
        if keywords_changed {
            changes.keywords_changed = true;
            self.keywords = self.current.keywords.clone();
        }
        Ok(changes)
    }

    fn open_message(&mut self, index: usize) -> Result<Box<dyn MessageRead>> {
        let uid = self.view.get(index).ok_or(StoreError::Expunged)?;
        // A copy taken under the lock: mutt rewrites files in place, so
        // offsets are only good while the lock is held.
        let guard = self.ctx.lock(false)?;
        let map = Map::new(guard.file())?;
        let now = file::Stamp::at(&self.ctx.path);
        if self.current.stamp != now || now.is_none() {
            self.refresh(&guard, &map)?;
            // Under the lock, so that the modseqs stay those of `current`.
            if let Err(e) = self.modseqs.update(&self.current) {
                log::warn!("{}: modseqs not updated: {e}", self.ctx.path.display());
            }
        }
        let k = self.current.find(uid).ok_or(StoreError::Expunged)?;
        let size = self.current.entries.at(k).size();
        let m = self.current.msg(k, &map)?;
        if size <= MBOX_MESSAGE_MEMORY_MAX {
            let data = file::served(guard.file(), &m, size)?;
            return Ok(Box::new(Cursor::new(data)));
        }
        // A big message goes to an anonymous file rather than memory.
        // Copied with pread(2), not through the map: mapped pages would
        // count in this process's memory as they pass (issue 20).
        drop(map);
        let mut f = file::anonymous_file()?;
        let mut at = 0u64;
        for r in m.served() {
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
            .filter_map(|&i| self.view.get(i).map(|uid| (i, uid)))
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
        self.modify(|snap, modseqs| {
            let mut changed = false;
            for &(i, uid) in &uids {
                if let Some(k) = snap.find(uid) {
                    if since.is_some_and(|n| modseqs.at(k, uid) > n) {
                        modified.push(i);
                        continue;
                    }
                    changed |= snap.apply(k, op, flags);
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
            let Some(k) = self.current.find(uid) else {
                continue; // gone; the next sync reports it
            };
            let modseq = self.modseqs.at(k, uid);
            if self.view.is_news(uid, modseq) {
                self.view.tell(uid, modseq);
                changed.push(i);
            }
        }
        // The caller reports new keywords itself.
        self.keywords = self.current.keywords.clone();
        Ok((changed, modified))
    }

    fn expunge(&mut self, uids: Option<&[Uid]>) -> Result<Vec<u32>> {
        if self.read_only {
            return Err(StoreError::NotAllowed("mailbox is read-only"));
        }
        let only: Option<HashSet<Uid>> = uids.map(|u| u.iter().copied().collect());
        let wanted: HashSet<Uid> = self
            .view
            .uids()
            .iter()
            .filter(|uid| only.as_ref().is_none_or(|s| s.contains(uid)))
            .copied()
            .collect();
        let mut gone = HashSet::new();
        self.modify(|snap, _| {
            let before = snap.entries.len();
            snap.retain(|e| {
                let del = wanted.contains(&e.uid) && e.has(flag::DELETED);
                if del {
                    gone.insert(e.uid);
                }
                !del
            });
            snap.entries.len() != before
        })?;
        // Ours, and those another program took out that were \Deleted
        // (the view's ghosts) as the client was last told.
        let mut removed = Vec::new();
        for (i, uid) in self.view.uids().iter().enumerate() {
            if !wanted.contains(uid) {
                continue;
            }
            let vanished = self.current.find(*uid).is_none()
                && self
                    .view
                    .ghost(*uid)
                    .is_some_and(|g| g.flags.has(flag::DELETED));
            if gone.contains(uid) || vanished {
                removed.push(i);
            }
        }
        if !removed.is_empty() {
            self.cache.expunged();
        }
        let seqs = removed.iter().rev().map(|&i| len32(i + 1)).collect();
        let mut gone_at = removed.into_iter().peekable();
        self.view.retain(|i, _| gone_at.next_if_eq(&i).is_none());
        self.uid_next = self.uid_next.max(self.current.uid_next);
        Ok(seqs)
    }

    fn copy(&mut self, indexes: &[usize], dest: &str) -> Result<Appended> {
        let dctx = (self.dest)(dest)?;
        // Each message is taken (under this mailbox's lock) before the
        // destination is locked: the two may be the same file.
        let mut taken = Vec::with_capacity(indexes.len());
        for &i in indexes {
            if i >= self.view.len() {
                return Err(StoreError::Expunged);
            }
            let m = self.message(i);
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
        // Into this same file: the snapshot in hand says its state.
        let known = (dctx.path == self.ctx.path).then_some(&self.current);
        super::append_to(&dctx, &mut msgs, known)
    }

    fn cache_dir(&self) -> Option<std::path::PathBuf> {
        Some(self.cache.dir().to_path_buf())
    }

    fn cached(&mut self, index: usize, kind: crate::store::cache::Kind) -> Option<Vec<u8>> {
        let uid = self.view.get(index)?;
        self.cache.get(uid, kind)
    }

    fn cache(&mut self, index: usize, kind: crate::store::cache::Kind, data: &[u8]) {
        if let Some(uid) = self.view.get(index) {
            self.cache.put(uid, kind, data, &self.view.live());
        }
    }

    fn watch_paths(&self) -> Vec<std::path::PathBuf> {
        // The file (an MTA's append, another program's rewrite) and our
        // state beside it (other sessions' changes).
        vec![self.ctx.path.clone(), self.ctx.ctl.clone()]
    }

    fn flush_cache(&mut self) {
        self.cache.flush(&self.view.live());
    }
}
