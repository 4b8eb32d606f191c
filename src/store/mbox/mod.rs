//! mbox storage: INBOX is the spool file (`/var/mail/USER`), folders are
//! files under the mail root (`~/mail`), sub-folders in directories.
//!
//! Layout as Dovecot's and UW-IMAP's mbox: the hierarchy separator is `/`
//! and a wire name is the path under the root (modified UTF-7 per
//! component, checked with `store::names`); a directory is a `\Noselect`
//! parent, a file a mailbox (which cannot have children). Subscriptions are
//! in `ROOT/.subscriptions` (Dovecot's file and format); our state files in
//! `ROOT/.imap/NAME/` (where Dovecot keeps its mbox indexes). Names whose
//! components start with `.` or `~` or end in `.lock` are never mailboxes,
//! and symbolic links inside the root are never followed.
//!
//! Files: `mailaccess-mbox-state` (UIDVALIDITY and UIDNEXT of an empty or
//! new file), `mailaccess-mbox-index` (a cache of the parse of files
//! over `MBOX_CACHE_MIN`, see `cache.rs`) and the engine's index of
//! modseqs (`modseq.rs`) in `ROOT/.imap/NAME/`, INBOX's in
//! `ROOT/.imap/INBOX/`; the store-wide UIDVALIDITY counter of
//! `store::index` in `ROOT/.imap/`.
//!
//! See `file.rs` for the file format, locking and how files are written,
//! `parse.rs` for how they are read.

pub mod cache;
pub mod entries;
pub mod file;
pub mod inplace;
pub mod mailbox;
pub mod modseq;
pub mod parse;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use self::file::{Ctx, Incoming, Map, Snapshot};
use self::mailbox::MboxMailbox;
use crate::config::MboxLock;
use crate::limits::{
    CONTROL_FILE_MAX, IMAP_APPEND_MESSAGES_MAX, LOCK_WAIT_MAX, MAILBOXES_MAX, MAILBOX_DEPTH_MAX,
    MAILBOX_NAME_MAX,
};
use crate::store::names::{self, is_inbox};
use crate::store::{
    flag, Appended, Mailbox, MailboxInfo, NewMessage, Result, Status, Store, StoreError,
};

/// The hierarchy separator, as Dovecot's and UW-IMAP's mbox show it.
pub const SEPARATOR: char = '/';

/// Dovecot's subscription file for mbox (it lives among the mailboxes, so
/// it is a dot file).
pub const SUBSCRIPTIONS_FILE: &str = ".subscriptions";

/// Our control directory under the root (shared with Dovecot's indexes).
pub const CONTROL_DIR: &str = ".imap";

pub struct MboxStore {
    root: PathBuf,
    inbox: PathBuf,
    locks: Vec<MboxLock>,
}

/// Checks a wire name: `/`-separated components, each a valid name for
/// `names::validate` (so no `.` or `~` at the start, valid mUTF-7, no
/// control characters), none ending in `.lock` (a dotlock's name).
pub fn validate(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > MAILBOX_NAME_MAX {
        return Err(StoreError::BadName("empty or too long"));
    }
    let mut depth = 0;
    for comp in name.split(SEPARATOR) {
        depth += 1;
        names::validate(comp).map_err(StoreError::BadName)?;
        if comp.starts_with('.') || comp.ends_with(".lock") {
            return Err(StoreError::BadName("reserved component"));
        }
    }
    if depth > MAILBOX_DEPTH_MAX {
        return Err(StoreError::BadName("hierarchy too deep"));
    }
    if name.split(SEPARATOR).next().is_some_and(is_inbox) {
        return Err(StoreError::BadName("INBOX cannot have children"));
    }
    Ok(())
}

fn mkdirs(p: &Path) -> io::Result<()> {
    fs::DirBuilder::new().recursive(true).mode(0o700).create(p)
}

impl MboxStore {
    /// The store with folders under `root` (created, mode 0700, if
    /// missing) and INBOX at `inbox`.
    pub fn open_store(root: PathBuf, inbox: PathBuf, locks: Vec<MboxLock>) -> Result<MboxStore> {
        mkdirs(&root)?;
        Ok(MboxStore { root, inbox, locks })
    }

    /// The file of a (validated) name, refusing symbolic links on the way.
    fn path_of(&self, name: &str) -> Result<PathBuf> {
        if is_inbox(name) {
            return Ok(self.inbox.clone());
        }
        validate(name)?;
        let mut p = self.root.clone();
        for comp in name.split(SEPARATOR) {
            p.push(comp);
            if fs::symlink_metadata(&p).is_ok_and(|m| m.file_type().is_symlink()) {
                return Err(StoreError::NotAllowed("mailbox is a symbolic link"));
            }
        }
        Ok(p)
    }

    fn ctl_of(&self, name: &str) -> PathBuf {
        let n = if is_inbox(name) { "INBOX" } else { name };
        self.root.join(CONTROL_DIR).join(n)
    }

    fn ctx(&self, name: &str) -> Result<Ctx> {
        Ok(Ctx {
            path: self.path_of(name)?,
            ctl: self.ctl_of(name),
            ctl_root: self.root.join(CONTROL_DIR),
            locks: self.locks.clone(),
            wait: LOCK_WAIT_MAX,
            inbox: is_inbox(name),
        })
    }

    /// Creates the directories above a mailbox path; a mailbox file on the
    /// way cannot hold children.
    fn make_parents(&self, path: &Path) -> Result<()> {
        let Some(parent) = path.parent() else {
            return Ok(());
        };
        let mut p = parent;
        while p != self.root && p.starts_with(&self.root) {
            if fs::symlink_metadata(p).is_ok_and(|m| !m.is_dir()) {
                return Err(StoreError::NotAllowed(
                    "a mailbox file cannot have children",
                ));
            }
            p = p.parent().unwrap_or(&self.root);
        }
        Ok(mkdirs(parent)?)
    }

    /// The context of an existing mailbox file (INBOX always exists).
    fn selectable(&self, name: &str) -> Result<Ctx> {
        let ctx = self.ctx(name)?;
        if !is_inbox(name) {
            let m = fs::symlink_metadata(&ctx.path)?;
            if !m.is_file() {
                return Err(StoreError::NotFound);
            }
        }
        Ok(ctx)
    }

    /// Every mailbox under the root: wire name -> selectable (file).
    fn walk(&self) -> Result<BTreeMap<String, bool>> {
        let mut out = BTreeMap::new();
        let mut stack = vec![(self.root.clone(), String::new(), 0usize)];
        while let Some((dir, prefix, depth)) = stack.pop() {
            let rd = match fs::read_dir(&dir) {
                Ok(r) => r,
                Err(e) if depth > 0 => {
                    log::warn!("{}: {e}", dir.display());
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            for entry in rd {
                let entry = entry?;
                let Ok(comp) = entry.file_name().into_string() else {
                    continue;
                };
                let name = format!("{prefix}{comp}");
                if validate(&name).is_err() {
                    continue;
                }
                let t = entry.file_type()?;
                if entry.path() == self.inbox {
                    continue; // the spool kept under the root is INBOX
                }
                if t.is_dir() {
                    if depth + 1 < MAILBOX_DEPTH_MAX {
                        stack.push((entry.path(), format!("{name}{SEPARATOR}"), depth + 1));
                    }
                    out.insert(name, false);
                } else if t.is_file() {
                    out.insert(name, true);
                }
                if out.len() >= MAILBOXES_MAX {
                    log::warn!("{}: too many mailboxes, rest ignored", self.root.display());
                    return Ok(out);
                }
            }
        }
        Ok(out)
    }

    fn read_subscriptions(&self) -> Result<Vec<String>> {
        let mut s = String::new();
        match crate::store::open::read(&self.root.join(SUBSCRIPTIONS_FILE)) {
            Ok(f) => {
                f.take(CONTROL_FILE_MAX).read_to_string(&mut s)?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        }
        // Dovecot 2.3 writes "V\t2\n\n" then names with TAB between
        // hierarchy levels; older files are one name per line.
        let mut lines = s.lines().peekable();
        let v2 = lines.peek() == Some(&"V\t2");
        if v2 {
            for l in lines.by_ref() {
                if l.is_empty() {
                    break;
                }
            }
        }
        Ok(lines
            .filter(|l| !l.is_empty())
            .map(|l| {
                if v2 {
                    l.replace('\t', "/")
                } else {
                    l.to_string()
                }
            })
            .collect())
    }

    fn write_subscriptions(&self, subs: &[String]) -> Result<()> {
        let mut s = String::from("V\t2\n\n");
        for n in subs {
            s.push_str(&n.replace(SEPARATOR, "\t"));
            s.push('\n');
        }
        Ok(crate::store::open::replace(
            &self.root.join(SUBSCRIPTIONS_FILE),
            s.as_bytes(),
            true,
        )?)
    }

    /// RFC 3501 6.3.5: INBOX's messages move to `to`; INBOX stays, empty,
    /// with its UIDVALIDITY and UIDNEXT.
    fn rename_inbox(&mut self, to: &str) -> Result<()> {
        let tctx = self.ctx(to)?;
        if fs::symlink_metadata(&tctx.path).is_ok() {
            return Err(StoreError::AlreadyExists);
        }
        let ictx = self.ctx("INBOX")?;
        let guard = ictx.lock(true)?;
        let map = Map::new(guard.file())?;
        let snap = ictx.load(&guard, &map, None)?;
        let mut segs: Vec<(file::Segments<'_>, u64)> = (0..snap.entries.len())
            .map(|i| Ok(file::Segments::new(map.data(), &snap.msg(i, &map)?)))
            .collect::<Result<_>>()?;
        let mut msgs: Vec<Incoming<'_>> = segs
            .iter_mut()
            .zip(snap.entries.iter())
            .map(|((r, len), e)| Incoming {
                data: r,
                len: *len,
                flags: snap.flags_of(&e),
                date: e.date(),
                zone: e.zone(),
            })
            .collect();
        self.create(to)?;
        // Copied (and fsynced) before INBOX is emptied: a crash between the
        // two leaves the messages in both places, never in neither.
        append_to(&tctx, &mut msgs, None)?;
        drop(msgs);
        drop(segs);
        let mut empty = snap;
        empty.retain(|_| false);
        ictx.rewrite(&guard, map, &mut empty)?;
        Ok(())
    }
}

/// Appends messages to the mailbox of `ctx` (creating the file, as a spool
/// may be missing before the first delivery): all or none. `known`, a
/// session's snapshot of the same file, is used instead of reading the
/// file's state again when it is the file's version (a COPY within one
/// big mbox then holds its messages once, not twice).
pub(crate) fn append_to(
    ctx: &Ctx,
    msgs: &mut [Incoming<'_>],
    known: Option<&Snapshot>,
) -> Result<Appended> {
    if msgs.len() > IMAP_APPEND_MESSAGES_MAX {
        return Err(StoreError::Limit("too many messages"));
    }
    for _ in 0..2 {
        let guard = ctx.lock(true)?;
        let map = Map::new(guard.file())?;
        let snap = match known {
            Some(k) if ctx.is_current(&guard, &map, k)? => Cow::Borrowed(k),
            _ => Cow::Owned(ctx.load(&guard, &map, None)?),
        };
        if snap.uids_unwritten() {
            // UIDs must stay ascending in the file: write the ones given to
            // new deliveries first, then append to the new file.
            ctx.rewrite(&guard, map, &mut snap.into_owned())?;
            continue;
        }
        let uids = ctx.append(&guard, &map, &snap, msgs)?;
        return Ok(Appended {
            uid_validity: snap.uid_validity,
            uids,
        });
    }
    Err(StoreError::InUse)
}

impl Store for MboxStore {
    /// The file system's quota on the mail root (mbox has no `maildirsize`).
    fn quota(&mut self) -> Result<Option<crate::store::quota::Quota>> {
        let fs = crate::store::quota::filesystem(&self.root);
        Ok(crate::store::quota::with_filesystem(None, fs))
    }

    fn control_dir(&self) -> Option<PathBuf> {
        Some(self.root.join(CONTROL_DIR))
    }

    fn watch_paths(&self, name: Option<&str>) -> Vec<PathBuf> {
        match name {
            // Top-level folders and the control directory (subscriptions,
            // each mailbox's state); folders nested deeper are looked at
            // every NOTIFY_CHECK_INTERVAL.
            None => vec![self.root.clone(), self.root.join(CONTROL_DIR)],
            Some(n) => match self.path_of(n) {
                Ok(file) => vec![file, self.ctl_of(n)],
                Err(_) => Vec::new(),
            },
        }
    }

    fn separator(&self) -> char {
        SEPARATOR
    }

    fn list(&mut self) -> Result<Vec<MailboxInfo>> {
        let mut all = self.walk()?;
        all.insert("INBOX".to_string(), true);
        let mut list = super::with_parents(all, SEPARATOR);
        // A folder is a file, which can hold no folders (Dovecot shows
        // these \NoInferiors too); INBOX, the spool, is left as it is.
        for mb in &mut list {
            mb.noinferiors = !mb.noselect && !mb.has_children && !is_inbox(&mb.name);
        }
        Ok(list)
    }

    fn create(&mut self, name: &str) -> Result<()> {
        // RFC 3501 6.3.3: a trailing separator asks for a parent only.
        let (name, dir_only) = match name.strip_suffix(SEPARATOR) {
            Some(n) => (n, true),
            None => (name, false),
        };
        if is_inbox(name) {
            return Err(StoreError::AlreadyExists);
        }
        let path = self.path_of(name)?;
        if fs::symlink_metadata(&path).is_ok() {
            return Err(StoreError::AlreadyExists);
        }
        self.make_parents(&path)?;
        if dir_only {
            fs::DirBuilder::new().mode(0o700).create(&path)?;
            return Ok(());
        }
        let ctx = self.ctx(name)?;
        file::remove_state(&ctx.ctl);
        file::new_state(&ctx)?;
        match crate::store::open::regular(
            &path,
            OpenOptions::new().write(true).create_new(true).mode(0o600),
        ) {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(StoreError::AlreadyExists),
            Err(e) => Err(e.into()),
        }
    }

    fn delete(&mut self, name: &str) -> Result<()> {
        if is_inbox(name) {
            return Err(StoreError::NotAllowed("INBOX cannot be deleted"));
        }
        let path = self.path_of(name)?;
        let m = fs::symlink_metadata(&path)?;
        if m.is_dir() {
            return match fs::remove_dir(&path) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == io::ErrorKind::DirectoryNotEmpty => {
                    Err(StoreError::HasChildren)
                }
                Err(e) => Err(e.into()),
            };
        }
        // Under the lock, so that nobody is half-way through writing it.
        let ctx = self.ctx(name)?;
        let guard = ctx.lock(true)?;
        fs::remove_file(&path)?;
        drop(guard);
        file::remove_state(&ctx.ctl);
        Ok(())
    }

    fn rename(&mut self, from: &str, to: &str) -> Result<()> {
        if is_inbox(to) {
            return Err(StoreError::AlreadyExists);
        }
        validate(to)?;
        if is_inbox(from) {
            return self.rename_inbox(to);
        }
        let from_path = self.path_of(from)?;
        let to_path = self.path_of(to)?;
        fs::symlink_metadata(&from_path)?;
        if fs::symlink_metadata(&to_path).is_ok() {
            return Err(StoreError::AlreadyExists);
        }
        if to_path.starts_with(&from_path) {
            return Err(StoreError::NotAllowed("cannot move a mailbox into itself"));
        }
        self.make_parents(&to_path)?;
        fs::rename(&from_path, &to_path)?;
        // The state (UIDVALIDITY of an empty mailbox) moves along; a
        // directory's children's states are under the renamed state dir.
        let (fc, tc) = (self.ctl_of(from), self.ctl_of(to));
        if fc.exists() {
            if let Some(parent) = tc.parent() {
                mkdirs(parent)?;
            }
            let _ = fs::rename(fc, tc);
        }
        Ok(())
    }

    fn subscribe(&mut self, name: &str) -> Result<()> {
        let name = if is_inbox(name) { "INBOX" } else { name };
        if !is_inbox(name) {
            validate(name)?;
        }
        let mut subs = self.read_subscriptions()?;
        if !subs.iter().any(|s| s == name) {
            subs.push(name.to_string());
            self.write_subscriptions(&subs)?;
        }
        Ok(())
    }

    fn unsubscribe(&mut self, name: &str) -> Result<()> {
        let name = if is_inbox(name) { "INBOX" } else { name };
        let mut subs = self.read_subscriptions()?;
        let before = subs.len();
        subs.retain(|s| s != name);
        if subs.len() == before {
            return Err(StoreError::NotFound);
        }
        self.write_subscriptions(&subs)
    }

    fn subscriptions(&mut self) -> Result<Vec<String>> {
        self.read_subscriptions()
    }

    fn mailbox_id(&mut self, name: &str) -> Result<String> {
        let ctx = self.ctx(name)?;
        if !is_inbox(name) && !ctx.path.is_file() {
            return Err(StoreError::NotFound);
        }
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&ctx.ctl)?;
        Ok(crate::store::objectid::mailbox_id(&ctx.ctl)?)
    }

    fn status(&mut self, name: &str) -> Result<Status> {
        let ctx = self.selectable(name)?;
        let mut modseqs = modseq::Modseqs::new(&ctx.ctl);
        let (snap, _) = mailbox::read(&ctx, false, None, Some(&mut modseqs))?;
        let len = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        // One pass: the entries may be read from the parse cache.
        let (mut recent, mut unseen, mut deleted) = (0, 0, 0);
        let (mut size, mut deleted_size) = (0, 0);
        for e in snap.entries.iter() {
            recent += usize::from(!e.old());
            unseen += usize::from(!e.has(flag::SEEN));
            size += e.size();
            if e.has(flag::DELETED) {
                deleted += 1;
                deleted_size += e.size();
            }
        }
        Ok(Status {
            messages: len(snap.entries.len()),
            recent: len(recent),
            uid_next: snap.uid_next,
            uid_validity: snap.uid_validity,
            unseen: len(unseen),
            highest_modseq: modseqs.highest(),
            size,
            deleted: len(deleted),
            deleted_size,
        })
    }

    fn open(&mut self, name: &str, read_only: bool) -> Result<Box<dyn Mailbox>> {
        let ctx = self.selectable(name)?;
        let store = MboxStore {
            root: self.root.clone(),
            inbox: self.inbox.clone(),
            locks: self.locks.clone(),
        };
        let dest = Box::new(move |n: &str| store.selectable(n));
        // RFC 3501 6.3.1: a mailbox the session cannot change is selected
        // READ-ONLY, its messages shown, rather than refusing each change.
        let read_only = read_only
            || ctx.unwritable().is_some_and(|why| {
                log::warn!("{name}: opened read-only: {why}");
                true
            });
        Ok(Box::new(MboxMailbox::open(ctx, read_only, dest)?))
    }

    fn append(&mut self, name: &str, messages: &mut [NewMessage<'_>]) -> Result<Appended> {
        let ctx = self.selectable(name)?;
        let now = chrono::Local::now();
        let now = (now.timestamp(), now.offset().local_minus_utc() / 60);
        let mut msgs: Vec<Incoming<'_>> = messages
            .iter_mut()
            .map(|m| Incoming {
                len: m.len,
                flags: m.flags.clone(),
                date: m.internal_date.unwrap_or(now).0,
                zone: m.internal_date.unwrap_or(now).1,
                data: &mut *m.data,
            })
            .collect();
        append_to(&ctx, &mut msgs, None)
    }
}

#[cfg(test)]
mod tests;
