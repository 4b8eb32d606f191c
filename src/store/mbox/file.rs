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
//! a change whose status lines outgrow their padding moves the rest of the
//! file once (modseqs are in the storage engine's index: `modseq.rs`).
//!
//! A `Snapshot` has 32 octets a message (`Entry`), read from the parse
//! cache a window at a time when there is one (`entries.rs`), else in the
//! heap; where a message's header ends and which fields are hidden is read
//! again from the file when it is served or rewritten (`Map::msg`). Octets are read through
//! the map only for the many small messages of a parse; the rest with
//! pread (`Map::read_at`), see DESIGN.md 4b. On Linux 6.18 one touch of a
//! mapped page maps the whole page-cache folio it is in (up to 2 MB, as
//! readahead made it): so the message a grown file's parse reads again
//! (`parse::message_read`) and every message served or checked are read
//! with pread, not through the map.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use memmap2::Mmap;

/// The page size madvise(2) works in (x86-64 and arm64 Linux).
const PAGE: usize = 4096;

use super::entries::Entries;
use super::parse::{self, Msg, ReadAt};
use super::{cache, inplace};
use crate::config::MboxLock;
use crate::limits::{
    APPEND_MAX, CONTROL_FILE_MAX, KEYWORDS_MAX, MBOX_CACHE_MIN, MBOX_FILE_MAX, MBOX_PARSE_PIECE,
    MBOX_RELEASE_STEP, MBOX_SCAN_MAPPED,
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

/// One message as the file holds it, packed: 32 octets (issue 20; Dovecot's
/// mapped index costs about 45 a message). Where its header, body and
/// hidden fields are is read again from the file when needed
/// (`Snapshot::msg`); its keywords, which most messages have none of, are
/// in `Snapshot::kw`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Where its `From ` line starts (the low `SPAN_BITS` bits), and above
    /// that the high octets of `len` (at `LEN_HIGH`) and `size` (at
    /// `SIZE_HIGH`): each of the three has `SPAN_BITS` bits.
    pos: u64,
    /// The low 32 bits of the length from its start to where its body
    /// ends (the separator's `sep` octets follow).
    len: u32,
    /// The low 32 bits of RFC822.SIZE: the served octets with CRLF line
    /// ends.
    size: u32,
    /// The `From ` line's date (seconds) above 16 bits of zone (minutes
    /// east).
    when: i64,
    /// The UID (while a parse gathers them, the file's `X-UID` or 0).
    pub uid: Uid,
    /// System flags as the session has them, and as the file says them.
    system: u8,
    file_system: u8,
    /// `OLD`, `FILE_OLD`, `PERSISTED`, the separator's length, `EMPTY`,
    /// `CRLF`.
    bits: u8,
}

/// Bits of an entry's start, length and size: 1 TB, past any mbox we
/// parse and its size with every LF counted as CRLF.
const SPAN_BITS: u32 = 40;
const SPAN_MAX: u64 = (1 << SPAN_BITS) - 1;
const LEN_HIGH: u32 = SPAN_BITS;
const SIZE_HIGH: u32 = SPAN_BITS + 8;
const _: () = assert!(2 * crate::limits::MBOX_FILE_MAX <= SPAN_MAX);

/// `Status: O` as the session has it (not `\Recent`).
const OLD: u8 = 1;
/// `Status: O` is in the file.
const FILE_OLD: u8 = 2;
/// The file's `X-UID` is this entry's UID.
const PERSISTED: u8 = 4;
/// Two bits: the separator's length.
const SEP_SHIFT: u8 = 3;
/// The body is empty.
const EMPTY: u8 = 32;
/// Lines end in CRLF (judged by the `From ` line).
const CRLF: u8 = 64;

impl Entry {
    /// The entry of a message a parse found, whose separator takes `sep`
    /// octets; the session's flags are the file's, its UID the file's
    /// `X-UID` (0: none) until UIDs are given.
    pub fn of(m: &Msg, sep: usize) -> Entry {
        let sep = sep.min(3) as u8;
        let mut e = Entry {
            pos: 0,
            len: 0,
            size: 0,
            when: pack_date(m.date, m.zone),
            uid: m.uid.unwrap_or(0),
            system: m.flags.system,
            file_system: m.flags.system,
            bits: if m.old { OLD | FILE_OLD } else { 0 }
                | sep << SEP_SHIFT
                | if m.body.is_empty() { EMPTY } else { 0 }
                | if m.crlf { CRLF } else { 0 },
        };
        e.set_span(m.from.start as u64, m.body.end as u64);
        e
    }

    /// Sets where it starts and where its body ends (each below
    /// `SPAN_MAX`, as in any file we parse).
    fn set_span(&mut self, start: u64, end: u64) {
        let len = end.saturating_sub(start).min(SPAN_MAX);
        self.pos = (self.pos & !(0xff << LEN_HIGH | SPAN_MAX))
            | start.min(SPAN_MAX)
            | (len >> 32) << LEN_HIGH;
        self.len = len as u32;
    }

    /// RFC822.SIZE: the served octets with CRLF line ends.
    pub fn size(&self) -> u64 {
        (self.pos >> SIZE_HIGH & 0xff) << 32 | u64::from(self.size)
    }

    pub fn set_size(&mut self, size: u64) {
        let size = size.min(SPAN_MAX);
        self.pos = (self.pos & !(0xff << SIZE_HIGH)) | (size >> 32) << SIZE_HIGH;
        self.size = size as u32;
    }

    /// The fields the parse cache keeps (the file says what the session
    /// has): UID, system flags, bits, and size, start, end and date.
    pub fn record(&self) -> (Uid, u8, u8, [u64; 4]) {
        let bits = self.bits & !FILE_OLD;
        let fields = [
            self.size(),
            self.start() as u64,
            self.end() as u64,
            self.when as u64,
        ];
        (self.uid, self.system, bits, fields)
    }

    /// The entry of a record of the parse cache (`record`), if it is one.
    pub fn from_record(uid: Uid, system: u8, bits: u8, f: [u64; 4]) -> Option<Entry> {
        let known = OLD | PERSISTED | 3 << SEP_SHIFT | EMPTY | CRLF;
        let [size, start, end, when] = f;
        if bits & !known != 0 || bits >> SEP_SHIFT & 3 == 3 || start >= end || end > SPAN_MAX {
            return None;
        }
        usize::try_from(end.checked_add(2)?).ok()?;
        let mut e = Entry {
            pos: 0,
            len: 0,
            size: 0,
            when: when as i64,
            uid,
            system,
            file_system: system,
            bits: if bits & OLD != 0 {
                bits | FILE_OLD
            } else {
                bits
            },
        };
        e.set_span(start, end);
        e.set_size(size);
        (e.size() == size).then_some(e)
    }

    pub fn start(&self) -> usize {
        (self.pos & SPAN_MAX) as usize
    }

    /// The entry of a message nowhere in any file we parse (past
    /// `MBOX_FILE_MAX`): what a record that cannot be read becomes.
    pub fn nowhere() -> Entry {
        let mut e = Entry {
            pos: 0,
            len: 0,
            size: 0,
            when: 0,
            uid: 0,
            system: 0,
            file_system: 0,
            bits: 0,
        };
        e.set_span(SPAN_MAX - 1, SPAN_MAX);
        e
    }

    /// Where its body ends.
    pub fn end(&self) -> usize {
        let len = (self.pos >> LEN_HIGH & 0xff) << 32 | u64::from(self.len);
        self.start() + len as usize
    }

    /// The octets of its separator (0-2), after `end`.
    pub fn sep(&self) -> usize {
        usize::from(self.bits >> SEP_SHIFT & 3)
    }

    /// The session's system flag `bit`.
    pub fn has(&self, bit: u8) -> bool {
        self.system & bit != 0
    }

    pub fn old(&self) -> bool {
        self.bits & OLD != 0
    }

    pub fn set_old(&mut self) {
        self.bits |= OLD;
    }

    pub fn persisted(&self) -> bool {
        self.bits & PERSISTED != 0
    }

    pub fn date(&self) -> i64 {
        self.when >> 16
    }

    pub fn zone(&self) -> i32 {
        i32::from(self.when as u16 as i16)
    }
}

/// Whether `e`'s flags in the session (keywords in `kw`) are what the file
/// says.
fn flags_said(e: &Entry, kw: &BTreeMap<Uid, Keywords>) -> bool {
    e.system == e.file_system && kw.get(&e.uid).is_none_or(|k| k[0] == k[1])
}

/// Whether the file says all that `e` has in the session: its UID, flags
/// and `Status: O`.
fn said(e: &Entry, kw: &BTreeMap<Uid, Keywords>) -> bool {
    e.persisted() && e.old() == (e.bits & FILE_OLD != 0) && flags_said(e, kw)
}

/// A date and zone as `Entry::when` keeps them.
fn pack_date(date: i64, zone: i32) -> i64 {
    date.clamp(-(1 << 47), (1 << 47) - 1) << 16 | i64::from(zone as i16 as u16)
}

/// A message's keywords: as the session has them, and as the file says
/// them.
pub type Keywords = [Vec<String>; 2];

/// The file's messages and state, read under a lock.
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub stamp: Option<Stamp>,
    pub uid_validity: u32,
    pub uid_next: Uid,
    /// The file's `X-IMAPbase` says what `uid_validity` says.
    pub base_ok: bool,
    pub keywords: Vec<String>,
    pub entries: Entries,
    /// The keywords of the messages that have any (by UID).
    pub kw: BTreeMap<Uid, Keywords>,
    /// Checksums of the first and the last message's From line and header
    /// (`0, 0` when empty): recognise the file when it has grown, or when
    /// a cached index claims to describe it.
    pub check: (u64, u64),
}

use crate::store::sum::fnv1a;

/// The checksum of one entry's From line and header as `data` holds them
/// (0 if `data` does not hold it there).
fn entry_sum(map: &Map, e: Option<Entry>) -> u64 {
    e.and_then(|e| map.msg_and_head(&e))
        .map_or(0, |(_, head)| fnv1a(&head))
}

/// Whether `p` describes the file of octets `data` and version `stamp`.
fn is_version(map: &Map, stamp: &Stamp, p: &Snapshot) -> bool {
    p.stamp.as_ref() == Some(stamp) && check_of(map, &p.entries) == p.check
}

pub fn check_of(map: &Map, entries: &Entries) -> (u64, u64) {
    (
        entry_sum(map, entries.first()),
        entry_sum(map, entries.last()),
    )
}

impl Snapshot {
    /// Whether a read-write session must write the file: UIDs not yet in
    /// it, messages nobody has claimed as `\Recent`, or no `X-IMAPbase`.
    pub fn needs_write(&self) -> bool {
        !self.entries.is_empty()
            && (!self.base_ok
                || self
                    .entries
                    .maybe_unsaid()
                    .any(|e| !e.persisted() || !e.old()))
    }

    /// Whether some UID is not in the file yet (or `X-IMAPbase` is
    /// missing): the file must be written before UIDs are handed out for
    /// good, or appended to.
    pub fn uids_unwritten(&self) -> bool {
        !self.entries.is_empty()
            && (!self.base_ok || self.entries.maybe_unsaid().any(|e| !e.persisted()))
    }

    pub fn find(&self, uid: Uid) -> Option<usize> {
        self.entries.find(uid)
    }

    /// Entry `i`'s message as `map`, of the file this describes, holds
    /// it; `Corrupt` when it does not hold one there.
    pub fn msg(&self, i: usize, map: &Map) -> Result<Msg> {
        let e = self.entries.get(i).ok_or(StoreError::InUse)?;
        map.msg(&e)
            .ok_or_else(|| StoreError::Corrupt("mbox message not where it was".into()))
    }

    /// Entry `i`'s flags as the session has them.
    pub fn flags(&self, i: usize) -> Flags {
        self.flags_of(&self.entries.at(i))
    }

    pub fn flags_of(&self, e: &Entry) -> Flags {
        Flags {
            system: e.system,
            keywords: self.keywords_of(e, 0).to_vec(),
        }
    }

    /// Entry `i`'s flags as the file says them.
    pub fn file_flags(&self, i: usize) -> Flags {
        let e = self.entries.at(i);
        Flags {
            system: e.file_system,
            keywords: self.keywords_of(&e, 1).to_vec(),
        }
    }

    /// `e`'s keywords as the session has them (`which` 0) or as the file
    /// says them (1).
    pub fn keywords_of(&self, e: &Entry, which: usize) -> &[String] {
        self.kw.get(&e.uid).map_or(&[], |k| &k[which][..])
    }

    /// Gives entry `i` the flags `f` in the session.
    pub fn set_flags(&mut self, i: usize, f: Flags) {
        let uid = self.entries.at(i).uid;
        self.entries.update(i, |e| e.system = f.system);
        self.set_keywords(uid, 0, f.keywords);
    }

    /// Applies a STORE operation to entry `i`'s flags in the session;
    /// whether they changed.
    pub fn apply(&mut self, i: usize, op: crate::store::FlagOp, f: &Flags) -> bool {
        let mut flags = self.flags(i);
        let changed = flags.apply(op, f);
        if changed {
            self.set_flags(i, flags);
        }
        changed
    }

    /// Sets one of a message's keyword lists (`which`: 0 the session's, 1
    /// the file's); a message with none in either has no `kw` entry.
    fn set_keywords(&mut self, uid: Uid, which: usize, k: Vec<String>) {
        match self.kw.get_mut(&uid) {
            Some(kw) => {
                kw[which] = k;
                if kw.iter().all(Vec::is_empty) {
                    self.kw.remove(&uid);
                }
            }
            None if !k.is_empty() => {
                let mut kw = Keywords::default();
                kw[which] = k;
                self.kw.insert(uid, kw);
            }
            None => {}
        }
    }

    /// The indices of the entries whose flags or `Status: O` the file may
    /// not say as the session has them, ascending: every index, or (when
    /// the entries are read from a cache whose records all say theirs)
    /// those changed, new, or with other keywords. A STORE on a big
    /// mailbox then looks at a few entries, not all.
    pub fn unsaid(&self) -> Vec<usize> {
        let Some(mut v) = self.entries.suspects() else {
            return (0..self.entries.len()).collect();
        };
        for (uid, k) in &self.kw {
            if k[0] != k[1] {
                v.extend(self.find(*uid));
            }
        }
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Whether entry `i`'s flags in the session are what the file says.
    pub fn flags_said(&self, i: usize) -> bool {
        flags_said(&self.entries.at(i), &self.kw)
    }

    /// Drops the entries `keep` says no to, with their keywords.
    pub fn retain(&mut self, mut keep: impl FnMut(&Entry) -> bool) {
        let kw = &mut self.kw;
        self.entries.retain(|e| {
            let k = keep(e);
            if !k {
                kw.remove(&e.uid);
            }
            k
        });
    }
}

/// A read-only memory map of the locked file, or nothing for an empty one,
/// how far `release_before` has let it go, and the file (a second
/// descriptor) for reading a header without the map (`msg`).
pub struct Map(Option<Mmap>, std::cell::Cell<usize>, Option<File>);

impl Map {
    pub fn new(file: &File) -> Result<Map> {
        let len = file.metadata()?.len();
        if len == 0 {
            return Ok(Map(None, Default::default(), None));
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
        Ok(Map(Some(m), Default::default(), file.try_clone().ok()))
    }

    /// Entry `e`'s message, its header read with pread(2) rather than
    /// through the map (`parse::reparse_read`: a session that serves or
    /// checks one message of a big mbox maps none of its pages), through
    /// the map when that cannot be (a header past `MIME_HEADER_MAX`).
    pub fn msg(&self, e: &Entry) -> Option<Msg> {
        self.msg_and_head(e).map(|(m, _)| m)
    }

    /// `msg`, with the octets of its From line and header.
    fn msg_and_head(&self, e: &Entry) -> Option<(Msg, std::borrow::Cow<'_, [u8]>)> {
        let len = self.data().len();
        if e.end().checked_add(e.sep()).is_none_or(|n| n > len) {
            return None;
        }
        let read = |buf: &mut [u8], at: u64| self.read_at(buf, at);
        if let Some((m, mut head)) = parse::reparse_read(&read, e.start(), e.end(), e.sep()) {
            head.truncate(m.header.end - m.from.start);
            return Some((m, head.into()));
        }
        let m = parse::reparse(self.data(), e.start(), e.end(), e.sep())?;
        let head = self.data().get(m.from.start..m.header.end)?;
        Some((m, head.into()))
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
        if self.dont_need(from, to) {
            self.1.set(to);
        }
    }

    /// Drops the pages of `from..to` (page-aligned, inside the map) from
    /// the resident set; whether that was done.
    fn dont_need(&self, from: usize, to: usize) -> bool {
        let Some(m) = &self.0 else {
            return false;
        };
        // SAFETY: a shared, read-only mapping of a file: dropping its pages
        // loses nothing, the next read of them reads the file again. Slices
        // of it held meanwhile see the same octets.
        #[allow(unsafe_code)]
        let r = unsafe {
            m.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, from, to - from)
        };
        r.is_ok()
    }

    pub fn data(&self) -> &[u8] {
        self.0.as_deref().unwrap_or(&[])
    }

    /// pread(2) of the mapped file: fills `buf` from `at`.
    pub fn read_at(&self, buf: &mut [u8], at: u64) -> io::Result<()> {
        match &self.2 {
            Some(f) => std::os::unix::fs::FileExt::read_exact_at(f, buf, at),
            None => Err(io::ErrorKind::Unsupported.into()),
        }
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
        crate::store::objectid::MAILBOXID_FILE,
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
        let current = |p: &Snapshot| is_version(map, &stamp, p);
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
        let mut snap = self.parse(map, stamp, prev)?;
        if data.len() as u64 >= MBOX_CACHE_MIN {
            cache::save(&self.ctl, &mut snap);
        }
        Ok(snap)
    }

    fn parse(&self, map: &Map, stamp: Stamp, prev: Option<&mut Snapshot>) -> Result<Snapshot> {
        let data = map.data();
        let release = &|pos| map.release_before(pos);
        let read_at = |buf: &mut [u8], at: u64| map.read_at(buf, at);
        // What is needed of `prev` after its entries may have moved.
        let prev_state = prev.as_deref().map(|p| (p.uid_validity, p.uid_next));
        let mut entries = Entries::default();
        let corrupt =
            |e: parse::NotMbox| StoreError::Corrupt(format!("{}: {}", self.path.display(), e.0));
        // The file's keywords of the messages that have any: (index, keywords).
        let mut kws: Vec<(usize, Vec<String>)> = Vec::new();
        // Each message as an entry; sizes and UIDs are given below.
        let mut push = |entries: &mut dyn FnMut(Entry) -> usize, m: Msg, next: usize| {
            let i = entries(Entry::of(&m, next - m.body.end));
            if !m.flags.keywords.is_empty() {
                kws.push((i, m.flags.keywords));
            }
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
                check_of(map, &p.entries) == p.check && entry_sum(map, Some(l)) != 0
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
                let last_from = p.entries.last().map_or(0, |e| e.start());
                // Indexes from the earlier messages on (all but the last).
                let at = p.entries.len() - 1;
                // The last known message is read again (mail appended
                // without a blank line before it continues it), from where
                // the file ended on.
                let resume = p.stamp.as_ref().map_or(0, |s| s.size as usize);
                let tail_base = parse::parse_each(
                    data,
                    last_from,
                    resume,
                    Some(&read_at),
                    release,
                    &mut |m, next| {
                        push(
                            &mut |e| {
                                tail.push(e);
                                at + tail.len() - 1
                            },
                            m,
                            next,
                        )
                    },
                )
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
                let mut n = 0;
                let base =
                    parse::parse_each(data, 0, 0, Some(&read_at), release, &mut |m, next| {
                        if pieces.last().is_none_or(|p| p.len() == MBOX_PARSE_PIECE) {
                            pieces.push(Vec::with_capacity(MBOX_PARSE_PIECE));
                        }
                        if let Some(p) = pieces.last_mut() {
                            push(
                                &mut |e| {
                                    p.push(e);
                                    n += 1;
                                    n - 1
                                },
                                m,
                                next,
                            );
                        }
                    })
                    .map_err(corrupt)?;
                let mut all = Vec::with_capacity(pieces.iter().map(Vec::len).sum());
                for p in pieces {
                    all.extend(p);
                }
                entries = Entries::from(all);
                base
            }
        };
        let state = read_state(&self.ctl);
        let mut old_file_kw = Vec::new();
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
            let old_kw;
            (entries, old_kw) = if p.entries.iter().all(|e| e.persisted()) {
                p.stamp = None;
                (std::mem::take(&mut p.entries), std::mem::take(&mut p.kw))
            } else {
                (p.entries.clone(), p.kw.clone())
            };
            // The last known message: its size stays when it still ends
            // where it did.
            if let (Some(last), Some(again)) = (entries.pop(), tail.first_mut()) {
                if (last.start(), last.end()) == (again.start(), again.end()) {
                    again.set_size(last.size());
                }
            }
            // What the file says of the earlier messages, read again where
            // the UID is not in it (the X-UID it may have).
            for i in 0..entries.len() {
                let e = entries.at(i);
                let file_kw = old_kw.get(&e.uid).map(|k| k[1].clone());
                if !e.persisted() {
                    entries.update(i, |e| {
                        e.uid = parse::reparse(data, e.start(), e.end(), e.sep())
                            .and_then(|m| m.uid)
                            .unwrap_or(0);
                    });
                }
                if let Some(k) = file_kw.filter(|k| !k.is_empty()) {
                    old_file_kw.push((i, k));
                }
            }
            // In index order: the earlier messages', then the new ones'.
            old_file_kw.append(&mut kws);
            kws = old_file_kw;
            new_from = entries.len() + 1;
            sized = entries.len();
            entries.append(&mut tail);
        }
        // A second pass, after the parse's: the map lets each go as it
        // passes.
        for i in sized..entries.len() {
            let e = entries.at(i);
            if e.size() != 0 {
                continue;
            }
            if let Some(m) = parse::reparse(data, e.start(), e.end(), e.sep()) {
                // A big message is counted with pread, not through the map.
                let read = (m.body.len() > MBOX_SCAN_MAPPED).then(|| m.size_read(&read_at));
                let size = read
                    .flatten()
                    .unwrap_or_else(|| m.size_releasing(data, release));
                entries.update(i, |e| e.set_size(size));
            }
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
        let mut kw = BTreeMap::new();
        let mut kws = kws.into_iter().peekable();
        for i in 0..entries.len() {
            let was = entries.at(i);
            let mut e = was;
            let file_kw = kws.next_if(|(k, _)| *k == i).map(|(_, k)| k);
            let (uid, persisted) = match Some(e.uid).filter(|&u| u > 0) {
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
            e.uid = uid;
            e.bits &= !(PERSISTED | OLD);
            if persisted {
                e.bits |= PERSISTED;
            }
            if e.bits & FILE_OLD != 0 {
                e.bits |= OLD;
            }
            e.system = e.file_system;
            if e != was {
                entries.set(i, e);
            }
            if let Some(k) = file_kw {
                for k in &k {
                    add_kw(k);
                }
                kw.insert(uid, [k.clone(), k]);
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
            check: check_of(map, &entries),
            entries,
            kw,
        })
    }

    /// Whether `snap` describes the locked file as it is (its version and
    /// the checksums of its first and last message).
    pub fn is_current(&self, guard: &MboxGuard, map: &Map, snap: &Snapshot) -> Result<bool> {
        let stamp = Stamp::of(&guard.file().metadata()?);
        Ok(map.data().len() as u64 == stamp.size && is_version(map, &stamp, snap))
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
        let read_at = |buf: &mut [u8], at: u64| map.read_at(buf, at);
        let mut out = Counter::new(journal.writer(data.len() as u64, &read_at), 0);
        let uid_last = snap.uid_next.saturating_sub(1);
        let Snapshot {
            uid_validity,
            keywords,
            entries,
            kw,
            ..
        } = &mut *snap;
        // The entries written anew (the others' octets stay where they
        // are), and whether any message moved.
        let mut touched = Vec::new();
        let mut moved = false;
        let r = (|| -> io::Result<()> {
            for i in 0..entries.len() {
                let e = &entries.at(i);
                let here = out.n == e.start();
                let next = entries.get(i + 1);
                if let Some(span) = unchanged_span(e, next.as_ref(), kw).filter(|_| i > 0 && here) {
                    if out.skip(span)? {
                        continue;
                    }
                }
                moved |= !here;
                touched.push(i);
                let base = (i == 0).then_some((*uid_validity, uid_last, &keywords[..]));
                let m = parse::reparse(data, e.start(), e.end(), e.sep()).ok_or_else(|| {
                    io::Error::new(io::ErrorKind::InvalidData, "mbox message not where it was")
                })?;
                let k = kw.get(&e.uid).map(|k| k[0].clone()).unwrap_or_default();
                // The next entries still say where their old octets are.
                let new = write_entry(&mut out, (data, &read_at), e, &m, &k, base, &|p| {
                    map.release_before(p)
                })?;
                entries.set(i, new);
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
        // The file now says each message's keywords as the session has them.
        let mut kw = std::mem::take(&mut snap.kw);
        kw.retain(|_, k| {
            k[1] = k[0].clone();
            !k[0].is_empty()
        });
        *snap = self.load_file(
            guard.file(),
            &newmap,
            snap,
            (written, kw),
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
        (entries, kw): (Entries, BTreeMap<Uid, Keywords>),
        touched: Option<&[usize]>,
    ) -> Result<Snapshot> {
        let stamp = Stamp::of(&f.metadata()?);
        let data = map.data();
        let bad = || StoreError::Corrupt("rewritten file does not parse back".into());
        if (data.len() as u64) < MBOX_CACHE_MIN {
            let p = parse::parse(data).map_err(|_| bad())?;
            if p.messages.len() != entries.len()
                || p.messages.iter().zip(entries.iter()).any(|(m, e)| {
                    parse::reparse(data, e.start(), e.end(), e.sep()).as_ref() != Some(m)
                })
            {
                return Err(bad());
            }
        } else {
            // The From line of each message written (of each, without
            // `touched`) must be where it was put.
            let misplaced = |i: usize| {
                let at = entries.at(i).start();
                let bad = parse::from_line(data, at).is_none();
                map.release_before(at);
                bad
            };
            let moved = match touched {
                Some(t) => t.iter().any(|&i| misplaced(i)),
                None => (0..entries.len()).any(misplaced),
            };
            if moved || entries.last().map_or(0, |e| e.end() + e.sep()) > data.len() {
                return Err(bad());
            }
        }
        let mut snap = Snapshot {
            stamp: Some(stamp),
            uid_validity: written.uid_validity,
            uid_next: written.uid_next,
            base_ok: !entries.is_empty(),
            keywords: written.keywords.clone(),
            check: check_of(map, &entries),
            entries,
            kw,
        };
        if data.len() as u64 >= MBOX_CACHE_MIN {
            cache::save_change(&self.ctl, written.stamp.as_ref(), &mut snap, touched);
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
            // A blank line must separate the last message from ours. The
            // file's last octets are read with pread, not through the map,
            // whose page could bring a large page-cache folio (issue 20).
            let mut tail = [0u8; 3];
            let tail = &mut tail[3 - data.len().min(3)..];
            std::os::unix::fs::FileExt::read_exact_at(guard.file(), tail, end - tail.len() as u64)?;
            let data: &[u8] = tail;
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
    pub fn new(data: &'a [u8], m: &Msg) -> (Segments<'a>, u64) {
        let ranges = m.served();
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
fn unchanged_span(e: &Entry, next: Option<&Entry>, kw: &BTreeMap<Uid, Keywords>) -> Option<usize> {
    let eol = if e.bits & CRLF != 0 { 2 } else { 1 };
    let next = next?.start();
    (said(e, kw) && e.bits & EMPTY == 0 && e.end() + eol == next).then(|| next - e.start())
}

/// Writes one message with fresh status headers (and `X-IMAPbase` when
/// `base` is given: UIDVALIDITY, last UID, keywords), ending with the
/// blank separator line; returns the entry it now is. `m` is `e`'s
/// message, `keywords` its keywords in the session.
fn write_entry<W: Write + Skip>(
    out: &mut Counter<W>,
    (data, read_at): (&[u8], ReadAt<'_>),
    e: &Entry,
    m: &Msg,
    keywords: &[String],
    base: Option<(u32, Uid, &[String])>,
    release: &dyn Fn(usize),
) -> io::Result<Entry> {
    let eol: &[u8] = if m.crlf { b"\r\n" } else { b"\n" };
    let eol_s = if m.crlf { "\r\n" } else { "\n" };
    // Line ends we add inside what clients see: each makes it 2 larger.
    let mut added = 0u64;
    let from_start = out.n;
    let from = &data[m.from.clone()];
    out.write_all(from)?;
    if !from.ends_with(b"\n") {
        out.write_all(eol)?;
    }
    let fields_end = m.header.end - m.blank;
    let mut at = m.header.start;
    let mut wrote_any = false;
    let mut last_byte = b'\n';
    for h in m
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
    if e.has(flag::SEEN) {
        status.push('R');
    }
    if e.old() {
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
        if e.has(bit) {
            xs.push(c);
        }
    }
    if !xs.is_empty() {
        lines.push(format!("X-Status: {xs}"));
    }
    let keywords_line = lines.len();
    lines.push(format!("X-Keywords: {}", keywords.join(" ")));
    let body = &data[m.body.clone()];
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
    let room = match m.hidden.single() {
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
    for l in &lines {
        out.write_all(l.as_bytes())?;
        out.write_all(eol)?;
    }
    // A message without the blank line (header only) stays without it.
    if m.blank > 0 {
        out.write_all(&data[fields_end..m.header.end])?;
    } else if !body.is_empty() {
        out.write_all(eol)?;
        added += 1;
    }
    let body_start = out.n;
    // A body that stays where it was is the same octets: not read at all
    // (a flag change in a big mbox touches the changed headers only).
    if body_start == m.body.start && out.skip(body.len())? {
        release(m.body.end);
    } else {
        // A big body is copied with pread, not through the map (issue 20).
        let mut buf = Vec::new();
        if body.len() > MBOX_SCAN_MAPPED {
            buf.resize(crate::limits::MBOX_COPY_CHUNK, 0);
        }
        let mut at = m.body.start;
        while at < m.body.end {
            let n = crate::limits::MBOX_COPY_CHUNK.min(m.body.end - at);
            let read = buf.get_mut(..n);
            match read.and_then(|b| read_at(b, at as u64).ok().map(|()| &*b)) {
                Some(b) => out.write_all(b)?,
                None => out.write_all(&data[at..at + n])?,
            }
            at += n;
            release(at);
        }
    }
    if fix_end {
        out.write_all(eol)?;
        added += 1;
    }
    let body_end = out.n;
    out.write_all(eol)?;
    let mut bits = (e.bits & OLD) | PERSISTED | u8::try_from(eol.len()).unwrap_or(1) << SEP_SHIFT;
    if e.old() {
        bits |= FILE_OLD;
    }
    if body_end == body_start {
        bits |= EMPTY;
    }
    if m.crlf {
        bits |= CRLF;
    }
    let mut written = Entry {
        pos: 0,
        len: 0,
        size: 0,
        when: e.when,
        uid: e.uid,
        system: e.system,
        file_system: e.system,
        bits,
    };
    written.set_span(from_start as u64, body_end as u64);
    written.set_size(e.size() + 2 * added);
    Ok(written)
}

/// An anonymous temporary file (O_TMPFILE: nothing is left behind if the
/// process dies) for a message too big to copy into memory.
pub fn anonymous_file() -> Result<File> {
    Ok(crate::store::open::anonymous()?)
}

/// The served bytes of one message (of `size` octets) of the file `f`,
/// read with pread(2): not through a map, whose pages (and the large
/// page-cache folios they may be part of) would count in the session's
/// memory (issue 20).
pub fn served(f: &File, m: &Msg, size: u64) -> io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    for r in m.served() {
        let at = out.len();
        out.resize(at + r.len(), 0);
        std::os::unix::fs::FileExt::read_exact_at(f, &mut out[at..], r.start as u64)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::{MBOX_FILE_MAX, MBOX_FROM_LINE_MAX, MIME_HEADER_MAX};

    /// An entry is 32 octets and keeps starts, lengths and sizes past
    /// 4 GB whole (a 16 GB mbox; a 5 GB message), through the parse
    /// cache's record too; a record beyond them is refused.
    #[test]
    fn an_entry_is_32_octets_and_keeps_big_offsets() {
        assert_eq!(std::mem::size_of::<Entry>(), 32);
        let g = 1u64 << 30;
        for (start, end, size) in [
            (0, 1, 0),
            (15 * g, 15 * g + 100, 5 * g),
            (3 * g, 8 * g + 7, 10 * g + 1),
            (MBOX_FILE_MAX - 2, MBOX_FILE_MAX - 1, 2 * MBOX_FILE_MAX),
        ] {
            let e = Entry::from_record(9, flag::SEEN, OLD | 2 << SEP_SHIFT, [size, start, end, 77])
                .expect("record");
            assert_eq!(
                (e.start() as u64, e.end() as u64, e.size()),
                (start, end, size)
            );
            assert_eq!(
                (e.uid, e.sep(), e.has(flag::SEEN), e.old()),
                (9, 2, true, true)
            );
            let mut again = e;
            again.set_size(size + 1);
            assert_eq!((again.start() as u64, again.end() as u64), (start, end));
            assert_eq!(again.size(), size + 1);
            let (_, _, _, fields) = e.record();
            assert_eq!(fields, [size, start, end, 77]);
        }
        let past = SPAN_MAX + 1;
        for f in [[past, 0, 1, 0], [0, 0, past, 0]] {
            assert_eq!(Entry::from_record(1, 0, 0, f), None, "{f:?}");
        }
    }

    /// Pieces an mbox is made of, including the awkward ones.
    const PIECES: [&str; 16] = [
        "From a Sat Nov 21 06:13:17 2026\n",
        "From b Sat Nov 21 06:13:17 2026\r\n",
        "\n",
        "\r\n",
        "Subject: x\n",
        "X-UID: 7\n",
        "Status: RO\n",
        "X-Keywords: a b\n",
        "X-Status: AF\n",
        "Content-Length: 5\n",
        "Content-Length: 0\n",
        " folded\n",
        "From here\n",
        ">From quoted\n",
        "body line\n",
        "no newline",
    ];

    /// Each message with its entry (UIDs from 1, all claimed and
    /// persisted).
    fn entries_of(data: &[u8]) -> Option<Vec<(Entry, Msg)>> {
        let p = parse::parse(data).ok()?;
        let starts: Vec<usize> = p.messages.iter().map(|m| m.from.start).collect();
        Some(
            p.messages
                .into_iter()
                .enumerate()
                .map(|(i, m)| {
                    let next = starts.get(i + 1).copied().unwrap_or(data.len());
                    let mut e = Entry::of(&m, next - m.body.end);
                    e.uid = i as u32 + 1;
                    e.bits |= OLD | FILE_OLD | PERSISTED;
                    e.set_size(m.size(data));
                    (e, m)
                })
                .collect(),
        )
    }

    /// Random mboxes: each message read again from where the parse found
    /// it (`reparse`, as an entry keeps it) is the message the parse
    /// found, hidden fields and flags included; a place that is not a
    /// message is refused, never a panic.
    #[test]
    fn a_message_read_again_is_the_message_parsed() {
        let mut rng: u64 = 0x2545_f491_4f6c_dd1d;
        let mut checked = 0;
        for _ in 0..3000 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let mut f = String::from(PIECES[(rng % 2) as usize]);
            for k in 0..(rng % 30) {
                f.push_str(PIECES[((rng >> (k % 48)) as usize + k as usize) % PIECES.len()]);
            }
            let data = f.as_bytes();
            let Some(entries) = entries_of(data) else {
                continue;
            };
            for (e, m) in &entries {
                assert!(e.sep() <= 2, "{f:?}");
                let again = parse::reparse(data, e.start(), e.end(), e.sep());
                assert_eq!(again.as_ref(), Some(m), "{f:?}");
                let read = parse::reparse_read(&read_from(data), e.start(), e.end(), e.sep())
                    .map(|(m, _)| m);
                assert_eq!(read.as_ref(), Some(m), "{f:?}");
                checked += 1;
            }
            for (start, end, sep) in [(1, 5, 0), (0, data.len(), 1), (data.len(), data.len(), 0)] {
                assert_eq!(parse::reparse(data, start, end, sep), None, "{f:?}");
            }
        }
        assert!(checked > 3000, "{checked}");
    }

    /// pread(2) of `data`, as the file holds it.
    fn read_from(data: &[u8]) -> impl Fn(&mut [u8], u64) -> io::Result<()> + '_ {
        |buf: &mut [u8], at: u64| {
            let at = at as usize;
            let src = data
                .get(at..at + buf.len())
                .ok_or(io::ErrorKind::UnexpectedEof)?;
            buf.copy_from_slice(src);
            Ok(())
        }
    }

    /// A body's end found with pread a small window at a time is where the
    /// scan through the map finds it, whatever the window cuts (lines,
    /// separators, From lines); its size read with pread is the size.
    #[test]
    fn a_body_scanned_with_pread_ends_where_the_parse_says() {
        let mut rng: u64 = 0x0123_4567_89ab_cdef;
        let long = "x".repeat(1500);
        let mut checked = 0;
        for _ in 0..300 {
            let mut f = String::from(PIECES[0]);
            for k in 0..(40 + rng % 60) {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                match rng % 5 {
                    0 => f.push_str(&long[..(rng >> 8) as usize % long.len()]),
                    _ => f.push_str(PIECES[((rng >> 20) as usize + k as usize) % PIECES.len()]),
                }
            }
            let data = f.as_bytes();
            let Some(entries) = entries_of(data) else {
                continue;
            };
            for (_, m) in &entries {
                for window in [16, 100, 4096] {
                    let got = parse::scan_end_read(
                        data.len(),
                        m.body.start,
                        m.body.start,
                        &read_from(data),
                        window,
                    );
                    let mapped = parse::scan_end_mapped(data, m.body.start);
                    assert_eq!(got, Some(mapped), "{window} {f:?}");
                }
                assert_eq!(m.size_read(&read_from(data)), Some(m.size(data)));
                checked += 1;
            }
        }
        assert!(checked > 300, "{checked}");
    }

    /// A header longer than the first read is read in growing pieces, up
    /// to the blank line and room after it; one past `MIME_HEADER_MAX` is
    /// left to the map (None); a body is never read.
    #[test]
    fn a_long_header_is_read_again_in_pieces() {
        for (lines, blank_then) in [
            (10, "\n"),
            (150, "\n"),
            (150, ""),
            (400, "\n"),
            (6000, "\n"),
        ] {
            let mut f = String::from("From a Sat Nov 21 06:13:17 2026\n");
            for i in 0..lines {
                f.push_str(&format!("X-Long-{i}: {}\n", "v".repeat(40)));
            }
            f.push_str("X-Keywords: late\nStatus: RO\n");
            f.push_str(blank_then);
            f.push_str(&"body line\n".repeat(2000));
            f.push_str("\nFrom b Sat Nov 21 06:13:17 2026\nSubject: b\n\nb\n");
            let data = f.as_bytes();
            let entries = entries_of(data).expect("parse");
            assert_eq!(entries.len(), 2);
            let (e, m) = &entries[0];
            assert!(m.flags.has_keyword("late") && m.old, "{lines}");
            // Reads past the header end are counted.
            let far = std::cell::Cell::new(0usize);
            let read = |buf: &mut [u8], at: u64| {
                far.set(far.get().max(at as usize + buf.len()));
                read_from(data)(buf, at)
            };
            let again = parse::reparse_read(&read, e.start(), e.end(), e.sep()).map(|(m, _)| m);
            if m.header.len() > MIME_HEADER_MAX {
                assert_eq!(again, None);
            } else {
                assert_eq!(again.as_ref(), Some(m), "{lines}");
                assert!(far.get() <= 2 * (m.header.end + MBOX_FROM_LINE_MAX).max(2048));
            }
        }
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
            for (i, (e, m)) in entries.iter().enumerate() {
                let base = (i == 0).then_some((5, entries.len() as u32, &[][..]));
                let k = &m.flags.keywords;
                let src = (data, &read_from(data) as ReadAt<'_>);
                placed.push(write_entry(&mut out, src, e, m, k, base, &|_| {}).expect("write"));
            }
            let out = out.inner;
            let again = entries_of(&out).unwrap_or_else(|| panic!("unparsable: {f:?}"));
            // Where the writer says it put things is where the parser finds
            // them, sizes included; read again from there, each is the
            // message the parser finds.
            for (p, (a, m)) in placed.iter().zip(&again) {
                assert_eq!(p, a, "{f:?}");
                let back = parse::reparse(&out, p.start(), p.end(), p.sep());
                assert_eq!(back.as_ref(), Some(m), "{f:?}");
            }
            assert_eq!(
                again.len(),
                entries.len(),
                "{f:?}\n=> {:?}",
                String::from_utf8_lossy(&out)
            );
            let served = |data: &[u8], m: &Msg| {
                let mut v = Vec::new();
                Segments::new(data, m).0.read_to_end(&mut v).map(|_| v)
            };
            for ((_, am), (b, bm)) in entries.iter().zip(&again) {
                let sa = served(data, am).expect("read");
                let sb = served(&out, bm).expect("read");
                if sa.ends_with(b"\n") || sa.is_empty() {
                    assert_eq!(sa, sb, "{f:?}");
                } else {
                    assert!(sb.starts_with(&sa), "{f:?}");
                }
                assert_eq!(bm.flags, am.flags, "{f:?}");
                assert_eq!(bm.uid, Some(b.uid), "{f:?}");
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
