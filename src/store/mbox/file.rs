//! One mbox file under its locks: reading it into a `Snapshot`, rewriting
//! it, appending to it.
//!
//! State lives in the file, as UW-IMAP and Dovecot keep it: `X-IMAPbase:
//! UIDVALIDITY LASTUID KEYWORDS` in the first message, `X-UID`, `Status`
//! (R = \Seen, O = not \Recent), `X-Status` (A, F, T, D) and `X-Keywords`
//! in each. A small state file `ROOT/.imap/NAME/mailaccess-mbox-state`
//! ("UIDVALIDITY UIDNEXT") keeps them while the file is empty or has no
//! `X-IMAPbase` yet (an MTA created it), so that an emptied mailbox keeps
//! its UIDVALIDITY and never reuses a UID.
//!
//! UIDs of messages without a valid `X-UID` (new deliveries) are assigned
//! in file order from the highest UID ever used, and the first session to
//! see them writes them into the file (as Dovecot does); a read-write
//! session also writes `Status: O` on messages nobody has seen, which makes
//! them its `\Recent`. Each rewritten message gets `Content-Length` (as
//! Dovecot writes it), so a body line that looks like a separator never
//! splits it.
//!
//! Rewrites go in place from the first octet that changes, through a redo
//! journal in the control directory (`inplace.rs`): a `kill -9` at any
//! instant loses nothing, the next lock finishes the rewrite before anyone
//! reads the file, and the file keeps its inode, owner, group and mode
//! (a user cannot create files in Debian's `/var/mail`). Appends write at
//! the end under the lock and fsync; a failed append truncates back to the
//! old end.
//!
//! Lock order: the dotlock `PATH.lock` first (NFS-safe: link(2) of a unique
//! file, stale after `MBOX_DOTLOCK_STALE` or when its `PID:HOST` is dead),
//! then the file is opened, then fcntl/flock/lockf in the configured order
//! (`store::lock::MboxGuard`). Reads take only the kernel locks, shared.
//! Every wait is bounded by `LOCK_WAIT_MAX` (then `[INUSE]`). Locks are held
//! only while the file is read or written, never between commands.
//!
//! Known limits: a message stored without a final newline gains one when
//! written again or when mail is appended after it (Dovecot does the same);
//! modseqs are not stored (every message reports 1); a change near the
//! start of a big file rewrites everything after it (Dovecot keeps padding
//! in the headers to change flags without moving the rest).

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use memmap2::Mmap;

/// The page size madvise(2) works in (x86-64 and arm64 Linux).
const PAGE: usize = 4096;

use super::parse::{self, Msg};
use super::{cache, inplace};
use crate::config::MboxLock;
use crate::limits::{
    APPEND_MAX, CONTROL_FILE_MAX, KEYWORDS_MAX, MBOX_CACHE_MIN, MBOX_FILE_MAX, MBOX_PARSE_PIECE,
    MBOX_RELEASE_STEP,
};
use crate::store::lock::MboxGuard;
use crate::store::{flag, index, Flags, Result, StoreError, Uid};

/// Our state file in the mailbox's control directory.
pub const STATE_FILE: &str = "mailaccess-mbox-state";

/// Where one mailbox's file and control directory are.
#[derive(Clone, Debug)]
pub struct Ctx {
    pub path: PathBuf,
    /// `ROOT/.imap/NAME`: our state file (Dovecot keeps its index there).
    pub ctl: PathBuf,
    /// `ROOT/.imap`: the store-wide UIDVALIDITY counter.
    pub ctl_root: PathBuf,
    pub locks: Vec<MboxLock>,
    pub wait: Duration,
    /// INBOX, whose missing file (a spool before the first delivery, or
    /// removed when emptied) is an empty mailbox; a missing folder file
    /// was deleted or renamed.
    pub inbox: bool,
}

/// What identifies one version of the file: a change to any of these
/// means another look.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stamp {
    dev: u64,
    ino: u64,
    pub size: u64,
    mtime: i64,
    mtime_ns: i64,
}

impl Stamp {
    fn of(m: &fs::Metadata) -> Stamp {
        Stamp {
            dev: m.dev(),
            ino: m.ino(),
            size: m.len(),
            mtime: m.mtime(),
            mtime_ns: m.mtime_nsec(),
        }
    }

    pub fn fields(&self) -> String {
        format!(
            "{} {} {} {} {}",
            self.dev, self.ino, self.size, self.mtime, self.mtime_ns
        )
    }

    pub fn from_fields(s: &str) -> Option<Stamp> {
        let mut w = s.split(' ').map(|x| x.parse::<i64>().ok());
        let mut n = || w.next().flatten();
        Some(Stamp {
            dev: u64::try_from(n()?).ok()?,
            ino: u64::try_from(n()?).ok()?,
            size: u64::try_from(n()?).ok()?,
            mtime: n()?,
            mtime_ns: n()?,
        })
    }

    /// The stamp of the file at `path` now (None: missing).
    pub fn at(path: &Path) -> Option<Stamp> {
        fs::symlink_metadata(path).ok().map(|m| Stamp::of(&m))
    }
}

/// One message as the file holds it.
#[derive(Clone, Debug)]
pub struct Entry {
    pub uid: Uid,
    pub flags: Flags,
    /// `Status: O` is in the file.
    pub old: bool,
    /// The file's `X-UID` is this entry's UID.
    pub persisted: bool,
    pub size: u64,
    pub msg: Msg,
}

/// The file's messages and state, read under a lock.
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub stamp: Option<Stamp>,
    pub uid_validity: u32,
    pub uid_next: Uid,
    /// The file's `X-IMAPbase` says what `uid_validity` says.
    pub base_ok: bool,
    pub keywords: Vec<String>,
    pub entries: Vec<Entry>,
    /// Checksums of the first and the last message's From line and header
    /// (`0, 0` when empty): recognise the file when it has grown, or when
    /// a cached index claims to describe it.
    pub check: (u64, u64),
}

fn fnv1a(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The checksum of one entry's From line and header as `data` holds them
/// (0 if `data` is too short).
fn entry_sum(data: &[u8], e: Option<&Entry>) -> u64 {
    e.and_then(|e| data.get(e.msg.from.start..e.msg.header.end))
        .map_or(0, fnv1a)
}

/// Whether `p` describes the file of octets `data` and version `stamp`.
fn is_version(data: &[u8], stamp: &Stamp, p: &Snapshot) -> bool {
    p.stamp.as_ref() == Some(stamp) && check_of(data, &p.entries) == p.check
}

pub fn check_of(data: &[u8], entries: &[Entry]) -> (u64, u64) {
    (
        entry_sum(data, entries.first()),
        entry_sum(data, entries.last()),
    )
}

impl Snapshot {
    /// Whether a read-write session must write the file: UIDs not yet in
    /// it, messages nobody has claimed as `\Recent`, or no `X-IMAPbase`.
    pub fn needs_write(&self) -> bool {
        !self.entries.is_empty()
            && (!self.base_ok || self.entries.iter().any(|e| !e.persisted || !e.old))
    }

    /// Whether some UID is not in the file yet (or `X-IMAPbase` is
    /// missing): the file must be written before UIDs are handed out for
    /// good, or appended to.
    pub fn uids_unwritten(&self) -> bool {
        !self.entries.is_empty() && (!self.base_ok || self.entries.iter().any(|e| !e.persisted))
    }

    pub fn find(&self, uid: Uid) -> Option<usize> {
        self.entries.binary_search_by_key(&uid, |e| e.uid).ok()
    }
}

/// A read-only memory map of the locked file, or nothing for an empty one,
/// and how far `release_before` has let it go.
pub struct Map(Option<Mmap>, std::cell::Cell<usize>);

impl Map {
    pub fn new(file: &File) -> Result<Map> {
        let len = file.metadata()?.len();
        if len == 0 {
            return Ok(Map(None, Default::default()));
        }
        if len > MBOX_FILE_MAX {
            return Err(StoreError::Limit("mbox file too large"));
        }
        // SAFETY: the map is read-only and lives only while the caller holds
        // the mbox locks, so cooperating programs neither write nor truncate
        // the file meanwhile; our own in-place rewrite holds the write lock
        // (no other session maps the file) and takes its own map by value.
        // A program ignoring the locks could truncate it and make a read
        // fault, which is the documented hazard of mapping shared files;
        // this is the one memory map DESIGN.md allows here.
        #[allow(unsafe_code)]
        let m = unsafe { Mmap::map(file)? };
        Ok(Map(Some(m), Default::default()))
    }

    /// Says that `data()[..pos]` is not needed for now: its pages leave
    /// this process's resident set (they stay in the page cache, and a
    /// later read faults them in again), so going through a big mbox costs
    /// a window of memory, not the file's size (issue 20). Passes go
    /// forward: only what lies between the last call and `pos` is let go,
    /// unless `pos` is behind it (a new pass), which starts over from 0.
    pub fn release_before(&self, pos: usize) {
        let Some(m) = &self.0 else {
            return;
        };
        let to = pos.min(m.len()) & !(PAGE - 1);
        let done = self.1.get();
        let from = if to < done { 0 } else { done };
        // In steps, not a system call for every small message passed.
        if to <= from || to - from < MBOX_RELEASE_STEP {
            return;
        }
        // SAFETY: a shared, read-only mapping of a file: dropping its pages
        // loses nothing, the next read of them reads the file again. Slices
        // of it held meanwhile see the same octets.
        #[allow(unsafe_code)]
        let r = unsafe {
            m.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, from, to - from)
        };
        if r.is_ok() {
            self.1.set(to);
        }
    }

    pub fn data(&self) -> &[u8] {
        self.0.as_deref().unwrap_or(&[])
    }
}

pub fn read_state(ctl: &Path) -> Option<(u32, Uid)> {
    let mut s = String::new();
    crate::store::open::read(&ctl.join(STATE_FILE))
        .ok()?
        .take(CONTROL_FILE_MAX)
        .read_to_string(&mut s)
        .ok()?;
    let mut it = s.split_ascii_whitespace();
    let v = it.next()?.parse().ok()?;
    let n = it.next()?.parse().ok()?;
    Some((v, n))
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

fn write_state(ctl: &Path, uid_validity: u32, uid_next: Uid) -> Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(ctl)?;
    let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = ctl.join(format!("{STATE_FILE}.{}.{n}.tmp", std::process::id()));
    let r = (|| -> io::Result<()> {
        let mut f = crate::store::open::regular(
            &tmp,
            OpenOptions::new().write(true).create_new(true).mode(0o600),
        )?;
        writeln!(f, "{uid_validity} {uid_next}")?;
        f.sync_all()?;
        fs::rename(&tmp, ctl.join(STATE_FILE))
    })();
    if r.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    Ok(r?)
}

/// Forgets a mailbox's state (DELETE), so a new one gets a new UIDVALIDITY:
/// our files in its control directory, and the directory when nothing else
/// (a sub-folder's) is left in it.
pub fn remove_state(ctl: &Path) {
    for f in [
        STATE_FILE,
        cache::CACHE_FILE,
        cache::DELTA_FILE,
        index::INDEX_FILE,
        index::LOG_FILE,
        index::LOCK_FILE,
        crate::store::cache::CACHE_FILE,
    ] {
        let _ = fs::remove_file(ctl.join(f));
    }
    let _ = fs::remove_dir(ctl);
}

/// The state of a mailbox, created if it has none: two sessions opening a
/// new spool at once must agree on one UIDVALIDITY, so the file is made
/// aside and linked into place, which fails if another one got there first.
pub fn ensure_state(ctx: &Ctx) -> Result<(u32, Uid)> {
    if let Some(s) = read_state(&ctx.ctl) {
        return Ok(s);
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&ctx.ctl)?;
    let v = index::new_uid_validity(&ctx.ctl_root)?;
    let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = ctx
        .ctl
        .join(format!("{STATE_FILE}.{}.{n}.new", std::process::id()));
    let r = (|| -> io::Result<()> {
        let mut f = crate::store::open::regular(
            &tmp,
            OpenOptions::new().write(true).create_new(true).mode(0o600),
        )?;
        writeln!(f, "{v} 1")?;
        f.sync_all()?;
        match fs::hard_link(&tmp, ctx.ctl.join(STATE_FILE)) {
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => Err(e),
            _ => Ok(()),
        }
    })();
    let _ = fs::remove_file(&tmp);
    r?;
    read_state(&ctx.ctl).ok_or_else(|| StoreError::Corrupt("unreadable mbox state file".into()))
}

/// Gives a new (empty) mailbox its UIDVALIDITY.
pub fn new_state(ctx: &Ctx) -> Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&ctx.ctl_root)?;
    let v = index::new_uid_validity(&ctx.ctl_root)?;
    write_state(&ctx.ctl, v, 1)
}

impl Ctx {
    /// Locks the file: `write` for rewrites and appends.
    /// A spool directory we may not create the dotlock in (no
    /// `mail_privileged_group`) is `NotAllowed`, which the client sees as
    /// `[CANNOT]`, not an internal error.
    /// A rewrite that was cut short (`inplace`) is finished first, under
    /// the write lock, so that nobody reads a half-written file.
    pub fn lock(&self, write: bool) -> Result<MboxGuard> {
        let guard = self.lock_file(write)?;
        if !inplace::pending(&self.ctl) {
            return Ok(guard);
        }
        if write {
            inplace::recover(&self.ctl, &self.path, guard.file())?;
            return Ok(guard);
        }
        drop(guard);
        {
            let w = self.lock_file(true)?;
            inplace::recover(&self.ctl, &self.path, w.file())?;
        }
        self.lock_file(false)
    }

    /// Why this session cannot change the file, if it cannot: no write
    /// permission on it, or (with dotlocks) none to create the dotlock in
    /// its directory and no `mail_privileged_group` to do it with (a
    /// session started as the user on Debian's `/var/mail`). Such a
    /// mailbox is opened read-only rather than failing every change.
    pub fn unwritable(&self) -> Option<String> {
        use rustix::fs::{accessat, Access, AtFlags, CWD};
        let can = |p: &Path, a: Access| accessat(CWD, p, a, AtFlags::EACCESS).is_ok();
        if self.path.exists() && !can(&self.path, Access::WRITE_OK) {
            return Some(format!("no write permission on {}", self.path.display()));
        }
        let dir = self.path.parent().unwrap_or(Path::new("."));
        if self.locks.contains(&MboxLock::Dotlock)
            && !can(dir, Access::WRITE_OK | Access::EXEC_OK)
            && !crate::privsep::has_privileged_group()
        {
            return Some(format!(
                "cannot create the dotlock in {} (no mail_privileged_group)",
                dir.display()
            ));
        }
        None
    }

    fn lock_file(&self, write: bool) -> Result<MboxGuard> {
        match MboxGuard::lock(&self.path, &self.locks, write, self.wait) {
            Err(StoreError::Io(e)) if write && e.kind() == io::ErrorKind::PermissionDenied => Err(
                StoreError::NotAllowed("no permission to lock the mailbox file for writing"),
            ),
            r => r,
        }
    }

    /// Reads the locked file. `prev`, a snapshot of an earlier version,
    /// lets a file that only grew be parsed from its last known message.
    /// `prev`, an earlier version, may give its entries to the result
    /// (when the file only grew): it then describes no file (`stamp`
    /// None) and is to be replaced by what this returns.
    pub fn load(
        &self,
        guard: &MboxGuard,
        map: &Map,
        prev: Option<&mut Snapshot>,
    ) -> Result<Snapshot> {
        let stamp = Stamp::of(&guard.file().metadata()?);
        let data = map.data();
        if data.len() as u64 != stamp.size {
            return Err(StoreError::InUse);
        }
        let current = |p: &Snapshot| is_version(data, &stamp, p);
        // A fresh open starts from the cache of an earlier parse, if any
        // (and takes it whole when it describes this version).
        let mut cached;
        let prev = match prev {
            Some(p) if current(p) => return Ok(p.clone()),
            Some(p) => Some(p),
            None => match cache::load(&self.ctl) {
                Some(c) if current(&c) => return Ok(c),
                c => {
                    cached = c;
                    cached.as_mut()
                }
            },
        };
        let snap = self.parse(data, stamp, prev, &|pos| map.release_before(pos))?;
        if data.len() as u64 >= MBOX_CACHE_MIN {
            cache::save(&self.ctl, &snap);
        }
        Ok(snap)
    }

    fn parse(
        &self,
        data: &[u8],
        stamp: Stamp,
        prev: Option<&mut Snapshot>,
        release: &dyn Fn(usize),
    ) -> Result<Snapshot> {
        // What is needed of `prev` after its entries may have moved.
        let prev_state = prev.as_deref().map(|p| (p.uid_validity, p.uid_next));
        let mut entries: Vec<Entry> = Vec::new();
        let corrupt =
            |e: parse::NotMbox| StoreError::Corrupt(format!("{}: {}", self.path.display(), e.0));
        // Each message as an entry; sizes and UIDs are given below.
        let push = |entries: &mut Vec<Entry>, m: Msg| {
            entries.push(Entry {
                uid: 0,
                flags: m.flags.clone(),
                old: m.old,
                persisted: false,
                size: 0,
                msg: m,
            });
        };
        // Entries from here on are new and have no size yet.
        let mut sized = 0;
        // Messages from this index on are new since `prev`: an X-UID below
        // `prev`'s UIDNEXT on one of them was copied from elsewhere (a UID
        // we handed out and expunged must never come back).
        let mut new_from = usize::MAX;
        // A file that only grew (new mail appended) keeps its messages:
        // parse from the last known one, whose From line and header, and
        // the first one's, must still be where they were. Any other change
        // (same size or smaller, another inode) is a full parse. Known
        // blind spot: another program changing a middle message in place
        // without changing its size, then mail arriving before we look,
        // shows that message's old flags until the next full parse.
        let grown = |p: &Snapshot| {
            p.stamp.as_ref().is_some_and(|ps| {
                ps.dev == stamp.dev && ps.ino == stamp.ino && ps.size < stamp.size
            }) && p.entries.last().is_some_and(|l| {
                check_of(data, &p.entries) == p.check && entry_sum(data, Some(l)) != 0
            })
        };
        // The earlier version's entries are taken over only after every
        // step that can fail but the last (UIDs running out): an error
        // leaves `prev` as it was.
        let grown_from = match prev {
            Some(p) if grown(p) => Some(p),
            _ => None,
        };
        let mut tail = Vec::new();
        let base = match grown_from.as_deref() {
            Some(p) => {
                let last_from = p.entries.last().map_or(0, |l| l.msg.from.start);
                let tail_base = parse::parse_each(data, last_from, release, &mut |m| tail.push(m))
                    .map_err(corrupt)?;
                if last_from == 0 {
                    tail_base
                } else {
                    p.base_ok.then(|| parse::Base {
                        uid_validity: p.uid_validity,
                        uid_last: 0,
                        keywords: p.keywords.clone(),
                    })
                }
            }
            None => {
                // Gathered in pieces, then put in one array of exactly
                // their number: an array grown by doubling would leave its
                // earlier copies in the heap, as resident as the last.
                let mut pieces: Vec<Vec<Entry>> = Vec::new();
                let base = parse::parse_each(data, 0, release, &mut |m| {
                    if pieces.last().is_none_or(|p| p.len() == MBOX_PARSE_PIECE) {
                        pieces.push(Vec::with_capacity(MBOX_PARSE_PIECE));
                    }
                    if let Some(p) = pieces.last_mut() {
                        push(p, m);
                    }
                })
                .map_err(corrupt)?;
                entries.reserve_exact(pieces.iter().map(Vec::len).sum());
                for p in pieces {
                    entries.extend(p);
                }
                base
            }
        };
        let state = read_state(&self.ctl);
        let uid_validity = match (&base, state) {
            (Some(b), _) => b.uid_validity,
            (None, Some((v, _))) => v,
            (None, None) => ensure_state(self)?.0,
        };
        let mut floor = base.as_ref().map_or(0, |b| b.uid_last);
        if let Some((v, n)) = state {
            if v == uid_validity {
                floor = floor.max(n.saturating_sub(1));
            }
        }
        if let Some(p) = grown_from {
            // The earlier messages (all but the last, read again) are
            // taken as they are: moved when every UID is in the file
            // (then none of them can change), copied otherwise.
            entries = if p.entries.iter().all(|e| e.persisted) {
                p.stamp = None;
                std::mem::take(&mut p.entries)
            } else {
                p.entries.clone()
            };
            entries.pop();
            new_from = entries.len() + 1;
            sized = entries.len();
            entries.reserve(tail.len());
            for m in tail {
                push(&mut entries, m);
            }
        }
        // A second pass, after the parse's: the map lets each go as it
        // passes.
        for e in &mut entries[sized..] {
            e.size = e.msg.size_releasing(data, release);
        }
        let prev_next = match prev_state {
            Some((v, next)) if v == uid_validity => {
                floor = floor.max(next.saturating_sub(1));
                next
            }
            _ => 0,
        };
        let mut keywords: Vec<String> = Vec::new();
        let mut add_kw = |k: &str| {
            if !keywords.iter().any(|x| x.eq_ignore_ascii_case(k)) && keywords.len() < KEYWORDS_MAX
            {
                keywords.push(k.to_string());
            }
        };
        for k in base.iter().flat_map(|b| b.keywords.iter()) {
            add_kw(k);
        }
        let mut last: Uid = 0;
        for (i, e) in entries.iter_mut().enumerate() {
            let (uid, persisted) = match e.msg.uid {
                Some(u) if u > last && (i < new_from || u >= prev_next) => (u, true),
                _ => {
                    let u = last
                        .max(floor)
                        .checked_add(1)
                        .ok_or(StoreError::Limit("UIDs exhausted"))?;
                    (u, false)
                }
            };
            last = uid;
            (e.uid, e.persisted, e.old) = (uid, persisted, e.msg.old);
            if e.flags != e.msg.flags {
                e.flags = e.msg.flags.clone();
            }
            for k in &e.msg.flags.keywords {
                add_kw(k);
            }
        }
        let uid_next = last
            .max(floor)
            .checked_add(1)
            .ok_or(StoreError::Limit("UIDs exhausted"))?;
        Ok(Snapshot {
            stamp: Some(stamp),
            uid_validity,
            uid_next,
            base_ok: base.is_some(),
            keywords,
            check: check_of(data, &entries),
            entries,
        })
    }

    /// Whether `snap` describes the locked file as it is (its version and
    /// the checksums of its first and last message).
    pub fn is_current(&self, guard: &MboxGuard, map: &Map, snap: &Snapshot) -> Result<bool> {
        let stamp = Stamp::of(&guard.file().metadata()?);
        Ok(map.data().len() as u64 == stamp.size && is_version(map.data(), &stamp, snap))
    }

    /// Makes `snap` describe the locked file: left alone (nothing copied)
    /// when it does already, else read again with `snap` as the earlier
    /// version (`load`); a `snap` of no version is read afresh.
    pub fn refresh(&self, guard: &MboxGuard, map: &Map, snap: &mut Snapshot) -> Result<()> {
        if snap.stamp.is_some() && self.is_current(guard, map, snap)? {
            return Ok(());
        }
        let known = snap.stamp.is_some();
        *snap = self.load(guard, map, known.then_some(&mut *snap))?;
        Ok(())
    }

    /// Rewrites the file in place to hold `snap`'s entries with their
    /// flags and UIDs, under the write lock `guard`, through the redo
    /// journal of `inplace` (from the first octet that changes). Takes the
    /// caller's map of the file: nobody may read one while it changes.
    /// `snap` becomes the snapshot of the new file, each entry replaced as
    /// it is written (a big mbox is never held twice). After an error it
    /// describes no file (`stamp` None, perhaps fewer entries): the caller
    /// reads the file again before using it.
    pub fn rewrite(&self, guard: &MboxGuard, map: Map, snap: &mut Snapshot) -> Result<()> {
        let r = self.rewrite_entries(guard, map, snap);
        if r.is_err() {
            snap.stamp = None;
        }
        r
    }

    fn rewrite_entries(&self, guard: &MboxGuard, map: Map, snap: &mut Snapshot) -> Result<()> {
        let old_meta = guard.file().metadata()?;
        if Some(Stamp::of(&old_meta)) != snap.stamp {
            return Err(StoreError::InUse);
        }
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.ctl)?;
        let journal = inplace::Journal::create(&self.ctl)?;
        let data = map.data();
        let mut out = Counter::new(journal.writer(data), 0);
        let uid_last = snap.uid_next.saturating_sub(1);
        let (uid_validity, keywords) = (snap.uid_validity, &snap.keywords);
        let entries = &mut snap.entries;
        // The entries written anew (the others' octets stay where they
        // are), and whether any message moved.
        let mut touched = Vec::new();
        let mut moved = false;
        let r = (|| -> io::Result<()> {
            for i in 0..entries.len() {
                let e = &entries[i];
                let here = out.n == e.msg.from.start;
                let next = entries.get(i + 1);
                if let Some(span) = unchanged_span(e, next).filter(|_| i > 0 && here) {
                    if out.skip(span)? {
                        continue;
                    }
                }
                moved |= !here;
                touched.push(i);
                let base = (i == 0).then_some((uid_validity, uid_last, &keywords[..]));
                // The next entries still say where their old octets are.
                entries[i] = write_entry(&mut out, data, e, base, &|p| map.release_before(p))?;
            }
            out.flush()
        })();
        // The same messages at the same places (flags changed in place):
        // only the touched entries can differ from the old version's.
        let same = !moved && out.n == data.len();
        if let Err(e) = r {
            drop(out);
            journal.discard();
            return Err(e.into());
        }
        let sealed = match journal.finish(out.into_inner(), &old_meta) {
            Ok(t) => journal.seal(t),
            Err(e) => {
                journal.discard();
                return Err(e);
            }
        };
        // Under the lock nothing may have changed; a program that ignores
        // our locks and appended meanwhile must not lose mail.
        if Stamp::of(&guard.file().metadata()?) != Stamp::of(&old_meta)
            || Stamp::at(&self.path).map(|s| (s.dev, s.ino))
                != Some((old_meta.dev(), old_meta.ino()))
        {
            if let Some(s) = sealed {
                s.discard();
            }
            return Err(StoreError::InUse);
        }
        drop(map);
        if let Some(s) = sealed {
            s.apply(guard.file())?;
        }
        write_state(&self.ctl, snap.uid_validity, snap.uid_next)?;
        let newmap = Map::new(guard.file())?;
        let written = std::mem::take(&mut snap.entries);
        *snap = self.load_file(
            guard.file(),
            &newmap,
            snap,
            written,
            same.then_some(&touched[..]),
        )?;
        Ok(())
    }

    /// The snapshot of a file we just wrote (`entries` as `write_entry`
    /// placed them) and still hold open. The layout is checked: in full by
    /// parsing for small files, by the From line of each message written
    /// for big ones (the randomised round-trip test keeps writer and parser
    /// in agreement). `touched`: the same messages as the version before
    /// at the same places, and which of them were written (the others are
    /// the old octets, not read again).
    fn load_file(
        &self,
        f: &File,
        map: &Map,
        written: &Snapshot,
        entries: Vec<Entry>,
        touched: Option<&[usize]>,
    ) -> Result<Snapshot> {
        let stamp = Stamp::of(&f.metadata()?);
        let data = map.data();
        let bad = || StoreError::Corrupt("rewritten file does not parse back".into());
        if (data.len() as u64) < MBOX_CACHE_MIN {
            let p = parse::parse(data).map_err(|_| bad())?;
            if p.messages.len() != entries.len()
                || p.messages.iter().zip(&entries).any(|(m, e)| {
                    m.from != e.msg.from || m.body != e.msg.body || m.hidden != e.msg.hidden
                })
            {
                return Err(bad());
            }
        } else {
            // The From line of each message written (of each, without
            // `touched`) must be where it was put.
            let misplaced = |i: usize| {
                let at = entries[i].msg.from.start;
                let bad = parse::from_line(data, at).is_none();
                map.release_before(at);
                bad
            };
            let moved = match touched {
                Some(t) => t.iter().any(|&i| misplaced(i)),
                None => (0..entries.len()).any(misplaced),
            };
            if moved || entries.last().map_or(0, |e| e.msg.body.end) > data.len() {
                return Err(bad());
            }
        }
        let snap = Snapshot {
            stamp: Some(stamp),
            uid_validity: written.uid_validity,
            uid_next: written.uid_next,
            base_ok: !entries.is_empty(),
            keywords: written.keywords.clone(),
            check: check_of(data, &entries),
            entries,
        };
        if data.len() as u64 >= MBOX_CACHE_MIN {
            cache::save_change(&self.ctl, written.stamp.as_ref(), &snap, touched);
        }
        Ok(snap)
    }

    /// Appends messages at the end of the locked file, with UIDs from
    /// `snap.uid_next`, streaming each from its reader; all or nothing.
    /// `snap` must have no UID unwritten (UIDs stay ascending in the file).
    pub fn append(
        &self,
        guard: &MboxGuard,
        map: &Map,
        snap: &Snapshot,
        messages: &mut [Incoming<'_>],
    ) -> Result<Vec<Uid>> {
        let data = map.data();
        let mut f = guard.file();
        let end = f.seek(SeekFrom::End(0))?;
        if end != data.len() as u64 {
            return Err(StoreError::InUse);
        }
        let count = u32::try_from(messages.len()).map_err(|_| StoreError::Limit("too many"))?;
        let last = snap
            .uid_next
            .checked_add(count)
            .ok_or(StoreError::Limit("UIDs exhausted"))?
            - 1;
        let mut uids = Vec::with_capacity(messages.len());
        let r = (|| -> Result<()> {
            let mut out = BufWriter::with_capacity(1 << 16, &mut f);
            // A blank line must separate the last message from ours.
            let sep: &[u8] =
                if data.is_empty() || data.ends_with(b"\n\n") || data.ends_with(b"\n\r\n") {
                    b""
                } else if data.ends_with(b"\n") {
                    b"\n"
                } else {
                    b"\n\n"
                };
            out.write_all(sep)?;
            for (i, m) in messages.iter_mut().enumerate() {
                if m.len > APPEND_MAX {
                    return Err(StoreError::Limit("message too large"));
                }
                let uid = snap.uid_next + i as u32;
                let base = (data.is_empty() && i == 0)
                    .then(|| (snap.uid_validity, last, &snap.keywords[..]));
                write_new(&mut out, m, uid, base)?;
                uids.push(uid);
            }
            out.flush()?;
            drop(out);
            f.sync_data()?;
            write_state(&self.ctl, snap.uid_validity, last + 1)?;
            Ok(())
        })();
        if r.is_err() {
            // All or nothing: cut back to where the file ended.
            let _ = guard.file().set_len(end);
            let _ = guard.file().sync_data();
        }
        r.map(|()| uids)
    }
}

/// A message to append: `len` octets from `data`, as a client gave them.
pub struct Incoming<'a> {
    pub data: &'a mut dyn Read,
    pub len: u64,
    pub flags: Flags,
    /// INTERNALDATE (seconds, zone minutes east), written as the `From `
    /// line's date.
    pub date: i64,
    pub zone: i32,
}

/// Served bytes of a message read straight from the map (RENAME INBOX).
pub struct Segments<'a> {
    data: &'a [u8],
    ranges: std::vec::IntoIter<std::ops::Range<usize>>,
    cur: &'a [u8],
}

impl<'a> Segments<'a> {
    pub fn new(data: &'a [u8], e: &Entry) -> (Segments<'a>, u64) {
        let ranges = e.msg.served();
        let len = ranges.iter().map(|r| (r.end - r.start) as u64).sum();
        (
            Segments {
                data,
                ranges: ranges.into_iter(),
                cur: &[],
            },
            len,
        )
    }
}

impl Read for Segments<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.cur.is_empty() {
            match self.ranges.next() {
                Some(r) => self.cur = self.data.get(r).unwrap_or_default(),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur[..n]);
        self.cur = &self.cur[n..];
        Ok(n)
    }
}

/// Writes a client's message as one mbox message, streaming it: a `From `
/// line with its INTERNALDATE, LF line ends (as MTAs store mail), every
/// line starting with `From ` quoted as `>From ` (mboxo, as Postfix and
/// procmail write, so that no reader, however lax, splits it), the
/// client's own status fields dropped (they would set flags), ours
/// added at the end of the header, and the blank separator line.
fn write_new(
    out: &mut impl Write,
    m: &mut Incoming<'_>,
    uid: Uid,
    base: Option<(u32, Uid, &[String])>,
) -> Result<()> {
    let mut r = io::BufReader::with_capacity(1 << 16, (&mut *m.data).take(m.len));
    writeln!(
        out,
        "From MAILER-DAEMON {}",
        parse::format_from_date(m.date, m.zone)
    )?;
    let mut line = Vec::new();
    let mut got = 0u64;
    let mut last = b'\n';
    let put = |out: &mut dyn Write, line: &mut Vec<u8>, last: &mut u8| -> io::Result<()> {
        if line.ends_with(b"\r\n") {
            line.truncate(line.len() - 2);
            line.push(b'\n');
        }
        if line.starts_with(b"From ") {
            out.write_all(b">")?;
        }
        out.write_all(line)?;
        if let Some(&b) = line.last() {
            *last = b;
        }
        Ok(())
    };
    let mut blank = false;
    let mut hidden = false;
    let mut first = true;
    loop {
        line.clear();
        let n = io::BufRead::read_until(&mut r, b'\n', &mut line)?;
        got += n as u64;
        if n == 0 {
            break;
        }
        if line == b"\n" || line == b"\r\n" {
            blank = true;
            break;
        }
        let cont = !first && (line[0] == b' ' || line[0] == b'\t');
        first = false;
        if !cont {
            let name = line.split(|&b| b == b':').next().unwrap_or_default();
            hidden = parse::HIDDEN
                .iter()
                .any(|h| h.as_bytes().eq_ignore_ascii_case(name));
        }
        if !hidden {
            put(out, &mut line, &mut last)?;
        }
    }
    if last != b'\n' {
        out.write_all(b"\n")?;
    }
    if let Some((v, l, kws)) = base {
        write!(out, "X-IMAPbase: {v} {l:010}")?;
        for k in kws {
            write!(out, " {k}")?;
        }
        out.write_all(b"\n")?;
    }
    writeln!(out, "X-UID: {uid}")?;
    if m.flags.has(flag::SEEN) {
        out.write_all(b"Status: R\n")?;
    }
    let mut xs = String::new();
    for (bit, c) in [
        (flag::ANSWERED, 'A'),
        (flag::FLAGGED, 'F'),
        (flag::DRAFT, 'T'),
        (flag::DELETED, 'D'),
    ] {
        if m.flags.has(bit) {
            xs.push(c);
        }
    }
    if !xs.is_empty() {
        writeln!(out, "X-Status: {xs}")?;
    }
    // Padded as `write_entry` pads, with room for the Content-Length line
    // a rewrite adds: the first flag change stays in place.
    let pad = crate::limits::MBOX_STATUS_PADDING + "Content-Length: \n".len() + 20;
    writeln!(out, "X-Keywords: {}{:pad$}", m.flags.keywords.join(" "), "")?;
    last = b'\n';
    if blank {
        out.write_all(b"\n")?;
        loop {
            line.clear();
            let n = io::BufRead::read_until(&mut r, b'\n', &mut line)?;
            got += n as u64;
            if n == 0 {
                break;
            }
            put(out, &mut line, &mut last)?;
        }
    }
    if last != b'\n' {
        out.write_all(b"\n")?;
    }
    out.write_all(b"\n")?;
    if got != m.len {
        return Err(StoreError::Io(io::ErrorKind::UnexpectedEof.into()));
    }
    Ok(())
}

/// Removes what killed processes left next to the mbox at `path`: dotlock
/// link files older than a minute, and the new file of a rewrite by an
/// older version of this program (which wrote one and renamed it; a
/// version still doing so only fails its rename, the old file intact).
pub fn clean_leftovers(path: &Path) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else {
        return;
    };
    let Ok(rd) = fs::read_dir(dir) else {
        return;
    };
    let ours = format!(".{name}.mailaccess-");
    let lk = format!(".{name}.lk");
    for e in rd.flatten() {
        let f = e.file_name();
        let Some(f) = f.to_str() else {
            continue;
        };
        let old = || {
            e.metadata()
                .ok()
                .and_then(|m| m.modified().ok())
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|a| a > Duration::from_secs(60))
        };
        if (f.starts_with(&ours) && f.ends_with(".tmp")) || (f.starts_with(&lk) && old()) {
            let _ = fs::remove_file(e.path());
        }
    }
}

/// A writer that counts what went through it: the offsets of what
/// `write_entry` writes, so a rewritten file needs no second parse.
pub struct Counter<W: Write> {
    inner: W,
    pub n: usize,
}

impl<W: Write> Counter<W> {
    pub fn new(inner: W, start: usize) -> Counter<W> {
        Counter { inner, n: start }
    }

    pub fn into_inner(self) -> W {
        self.inner
    }
}

/// A writer of a new version of a file that can be told that the next
/// octets are the old file's at the same place, without being given them.
pub trait Skip {
    /// Takes `n` such octets; `false` when this writer needs the octets
    /// themselves (then nothing was taken).
    fn skip(&mut self, _n: usize) -> io::Result<bool> {
        Ok(false)
    }
}

impl Skip for Vec<u8> {}

impl<W: Write + Skip> Counter<W> {
    /// `Skip::skip` through the counter.
    fn skip(&mut self, n: usize) -> io::Result<bool> {
        let skipped = self.inner.skip(n)?;
        if skipped {
            self.n += n;
        }
        Ok(skipped)
    }
}

impl<W: Write> Write for Counter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let k = self.inner.write(buf)?;
        self.n += k;
        Ok(k)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The length of entry `e`'s octets with its separator, when they already
/// say what `e` says (UID, flags, `Status: O`) and the entry `next` follows
/// right after one blank line: a rewrite that finds the entry where it was
/// leaves those octets as they are, without reading them. (The parse only
/// starts a message after a blank line, so the body before it ends in a
/// line end, as `write_entry` would end it.)
fn unchanged_span(e: &Entry, next: Option<&Entry>) -> Option<usize> {
    let m = &e.msg;
    let eol = if m.crlf { 2 } else { 1 };
    let said = e.persisted && m.uid == Some(e.uid) && m.flags == e.flags && m.old == e.old;
    let next = next?.msg.from.start;
    (said && !m.body.is_empty() && m.body.end + eol == next).then(|| next - m.from.start)
}

/// Writes one message with fresh status headers (and `X-IMAPbase` when
/// `base` is given: UIDVALIDITY, last UID, keywords), ending with the
/// blank separator line; returns where its parts now are and its size.
fn write_entry<W: Write + Skip>(
    out: &mut Counter<W>,
    data: &[u8],
    e: &Entry,
    base: Option<(u32, Uid, &[String])>,
    release: &dyn Fn(usize),
) -> io::Result<Entry> {
    let eol: &[u8] = if e.msg.crlf { b"\r\n" } else { b"\n" };
    let eol_s = if e.msg.crlf { "\r\n" } else { "\n" };
    // Line ends we add inside what clients see: each makes it 2 larger.
    let mut added = 0u64;
    let from_start = out.n;
    let from = &data[e.msg.from.clone()];
    out.write_all(from)?;
    if !from.ends_with(b"\n") {
        out.write_all(eol)?;
    }
    let header_start = out.n;
    let fields_end = e.msg.header.end - e.msg.blank;
    let mut at = e.msg.header.start;
    let mut wrote_any = false;
    let mut last_byte = b'\n';
    for h in e
        .msg
        .hidden
        .iter()
        .chain(std::iter::once(fields_end..fields_end))
    {
        if h.start > at {
            let seg = &data[at..h.start];
            out.write_all(seg)?;
            wrote_any = true;
            last_byte = seg[seg.len() - 1];
        }
        at = h.end.max(at);
    }
    if wrote_any && last_byte != b'\n' {
        out.write_all(eol)?;
        added += 1;
    }
    // The status lines, written together at the end of the header; the
    // X-Keywords line is always there and padded with spaces, so that the
    // next change of flags finds room where they are.
    let mut lines: Vec<String> = Vec::with_capacity(6);
    if let Some((v, last, kws)) = base {
        let mut t = format!("X-IMAPbase: {v} {last:010}");
        for k in kws {
            t.push(' ');
            t.push_str(k);
        }
        lines.push(t);
    }
    lines.push(format!("X-UID: {}", e.uid));
    let mut status = String::new();
    if e.flags.has(flag::SEEN) {
        status.push('R');
    }
    if e.old {
        status.push('O');
    }
    if !status.is_empty() {
        lines.push(format!("Status: {status}"));
    }
    let mut xs = String::new();
    for (bit, c) in [
        (flag::ANSWERED, 'A'),
        (flag::FLAGGED, 'F'),
        (flag::DRAFT, 'T'),
        (flag::DELETED, 'D'),
    ] {
        if e.flags.has(bit) {
            xs.push(c);
        }
    }
    if !xs.is_empty() {
        lines.push(format!("X-Status: {xs}"));
    }
    let keywords_line = lines.len();
    lines.push(format!("X-Keywords: {}", e.flags.keywords.join(" ")));
    let body = &data[e.msg.body.clone()];
    let fix_end = !body.is_empty() && !body.ends_with(b"\n");
    // As Dovecot writes it: a body holding an unquoted line that looks like
    // a separator (Dovecot does not quote them) stays one message for us,
    // Dovecot and mutt, and its bytes, so its RFC822.SIZE, never change.
    let len = body.len() + if fix_end { eol.len() } else { 0 };
    lines.push(format!("Content-Length: {len}"));
    let _ = eol_s;
    // As long as the old lines (ours, written together at the end of the
    // header) had room, the new ones take exactly their place.
    let needed: usize = lines.iter().map(|l| l.len() + eol.len()).sum();
    // Runs next to each other are one (`parse::Hidden`).
    let room = match e.msg.hidden.single() {
        Some(r) if r.end == fields_end => r.end - r.start,
        _ => 0,
    };
    let target = if room >= needed {
        room
    } else {
        needed + crate::limits::MBOX_STATUS_PADDING
    };
    let pad = target - needed;
    lines[keywords_line].extend(std::iter::repeat_n(' ', pad));
    let mut hidden = parse::Hidden::default();
    for l in &lines {
        let start = out.n;
        out.write_all(l.as_bytes())?;
        out.write_all(eol)?;
        hidden.push(start..out.n);
    }
    // A message without the blank line (header only) stays without it.
    let mut blank = 0;
    if e.msg.blank > 0 {
        out.write_all(&data[fields_end..e.msg.header.end])?;
        blank = e.msg.blank;
    } else if !body.is_empty() {
        out.write_all(eol)?;
        blank = eol.len();
        added += 1;
    }
    let body_start = out.n;
    // A body that stays where it was is the same octets: not read at all
    // (a flag change in a big mbox touches the changed headers only).
    if body_start == e.msg.body.start && out.skip(body.len())? {
        release(e.msg.body.end);
    } else {
        let mut at = e.msg.body.start;
        for chunk in body.chunks(crate::limits::MBOX_COPY_CHUNK) {
            out.write_all(chunk)?;
            at += chunk.len();
            release(at);
        }
    }
    if fix_end {
        out.write_all(eol)?;
        added += 1;
    }
    let body_end = out.n;
    out.write_all(eol)?;
    Ok(Entry {
        uid: e.uid,
        flags: e.flags.clone(),
        old: e.old,
        persisted: true,
        size: e.size + 2 * added,
        msg: Msg {
            from: from_start..header_start,
            header: header_start..body_start,
            body: body_start..body_end,
            hidden,
            uid: Some(e.uid),
            flags: e.flags.clone(),
            old: e.old,
            date: e.msg.date,
            zone: e.msg.zone,
            crlf: e.msg.crlf,
            blank,
        },
    })
}

/// An anonymous temporary file (O_TMPFILE: nothing is left behind if the
/// process dies) for a message too big to copy into memory.
pub fn anonymous_file() -> Result<File> {
    Ok(crate::store::open::anonymous()?)
}

/// The served bytes of one entry.
pub fn served(data: &[u8], e: &Entry) -> Vec<u8> {
    let mut out = Vec::with_capacity(e.size as usize);
    for r in e.msg.served() {
        if let Some(s) = data.get(r) {
            out.extend_from_slice(s);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pieces an mbox is made of, including the awkward ones.
    const PIECES: [&str; 14] = [
        "From a Sat Nov 21 06:13:17 2026\n",
        "From b Sat Nov 21 06:13:17 2026\r\n",
        "\n",
        "\r\n",
        "Subject: x\n",
        "X-UID: 7\n",
        "Status: RO\n",
        "X-Keywords: a b\n",
        "Content-Length: 5\n",
        " folded\n",
        "From here\n",
        ">From quoted\n",
        "body line\n",
        "no newline",
    ];

    fn entries_of(data: &[u8]) -> Option<Vec<Entry>> {
        let p = parse::parse(data).ok()?;
        Some(
            p.messages
                .into_iter()
                .enumerate()
                .map(|(i, m)| Entry {
                    uid: i as u32 + 1,
                    flags: m.flags.clone(),
                    old: true,
                    persisted: true,
                    size: m.size(data),
                    msg: m,
                })
                .collect(),
        )
    }

    /// Random mboxes: parsing never panics, and writing the messages with
    /// our headers and parsing that gives the same messages, bytes and
    /// sizes (a message gains a final newline only if it had none).
    #[test]
    fn rewrite_round_trips_random_files() {
        let mut rng: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        for _ in 0..3000 {
            let mut f = String::from(PIECES[(next() % 2) as usize]);
            for _ in 0..(next() % 30) {
                f.push_str(PIECES[(next() % PIECES.len() as u64) as usize]);
            }
            let data = f.as_bytes();
            let Some(entries) = entries_of(data) else {
                continue;
            };
            let mut out = Counter::new(Vec::new(), 0);
            let mut placed = Vec::new();
            for (i, e) in entries.iter().enumerate() {
                let base = (i == 0).then_some((5, entries.len() as u32, &[][..]));
                placed.push(write_entry(&mut out, data, e, base, &|_| {}).expect("write"));
            }
            let out = out.inner;
            let again = entries_of(&out).unwrap_or_else(|| panic!("unparsable: {f:?}"));
            // Where the writer says it put things is where the parser finds
            // them, sizes included.
            for (p, a) in placed.iter().zip(&again) {
                assert_eq!(p.msg, a.msg, "{f:?}");
                assert_eq!(p.size, a.size, "{f:?}");
            }
            assert_eq!(
                again.len(),
                entries.len(),
                "{f:?}\n=> {:?}",
                String::from_utf8_lossy(&out)
            );
            for (a, b) in entries.iter().zip(&again) {
                let sa = served(data, a);
                let sb = served(&out, b);
                if sa.ends_with(b"\n") || sa.is_empty() {
                    assert_eq!(sa, sb, "{f:?}");
                } else {
                    assert!(sb.starts_with(&sa), "{f:?}");
                }
                assert_eq!(b.msg.flags, a.msg.flags, "{f:?}");
                assert_eq!(b.msg.uid, Some(b.uid), "{f:?}");
            }
        }
    }
}

#[cfg(test)]
mod release_tests {
    use super::*;

    /// Resident kB of the mapping that holds `addr` (/proc/self/smaps),
    /// so that other tests running meanwhile do not count.
    fn rss_of(addr: usize) -> u64 {
        let s = fs::read_to_string("/proc/self/smaps").unwrap();
        let mut inside = false;
        for l in s.lines() {
            if let Some((range, _)) = l.split_once(' ') {
                if let Some((a, b)) = range.split_once('-') {
                    if let (Ok(a), Ok(b)) =
                        (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16))
                    {
                        inside = (a..b).contains(&addr);
                        continue;
                    }
                }
            }
            if let Some(v) = l.strip_prefix("Rss:").filter(|_| inside) {
                return v.trim().trim_end_matches("kB").trim().parse().unwrap();
            }
        }
        panic!("no mapping at {addr:x}");
    }

    /// Pages let go by `release_before` leave the resident set.
    #[test]
    fn released_pages_leave_the_resident_set() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("big");
        fs::write(&p, vec![b'x'; 32 << 20]).unwrap();
        let f = File::open(&p).unwrap();
        let map = Map::new(&f).unwrap();
        let at = map.data().as_ptr() as usize;
        let sum: u64 = map.data().iter().step_by(4096).map(|&b| u64::from(b)).sum();
        assert!(sum > 0);
        let touched = rss_of(at);
        map.release_before(map.data().len());
        let after = rss_of(at);
        assert!(touched >= 31 * 1024, "{touched}");
        assert!(after < 1024, "{touched} {after}");
    }
}
