//! Maildir++ storage.
//!
//! Layout (as Dovecot and Courier use it): INBOX is the root (`~/Maildir`),
//! folder "A.B" is `root/.A.B` with `cur/ new/ tmp/` and a `maildirfolder`
//! file; folder names on disk are the modified UTF-7 wire names. Flags live
//! in the `:2,` suffix (D F R S T; P and other unknown capitals are kept as
//! they are; keywords are the letters a-z numbered by `dovecot-keywords`,
//! more than 26 keywords are kept only in our index). `subscriptions` holds
//! one subscribed name per line.
//!
//! UIDs, modseqs, sizes and INTERNALDATEs are kept in the index of
//! each mailbox directory (`index/`: a main file and its log), so opening a mailbox reads
//! directory entries and that file only: a message file is read once, when
//! it is first seen and its name has no `W=` size.
//!
//! Locking: every read-modify-write of a mailbox's index and every rename we
//! make inside it happens under that mailbox's lock (`lock.rs`), taken for
//! the duration of one operation, never for a session. Namespace changes
//! (create, delete, rename, subscriptions) take the store lock. Other
//! programs (MTAs, mutt) take no lock; every scan therefore compares the
//! files with the index and trusts the files.
//!
//! Delivery (APPEND, COPY): tmp/ + fsync + rename (or a hard link for COPY)
//! into new/ (no flags, so that one session gets `\Recent`) or cur/ (with
//! flags), names `<time>.M<usec>P<pid>Q<n>.<host>,S=<size>,W=<crlf size>`.
//! The index is written last: a crash before that leaves the files, which
//! the next scan finds as new messages; nothing is lost.
//!
//! Line ends: APPEND stores messages with LF line ends (CRLF turned into
//! LF, as Dovecot and every Maildir MUA expect). `open_message` gives the
//! bytes as stored; `Message::size` is the CRLF size (`W=`), so FETCH must
//! turn each bare LF into CRLF when it sends a body.
//!
//! Create without parents: Maildir++ is flat, so "a.b" needs no "a" on disk;
//! LIST then shows "a" as `\Noselect \HasChildren`, as Dovecot does.

use std::cell::{OnceCell, RefCell};
use std::collections::BTreeMap;

// Fast hashing for the per-message maps of a scan: the keys are file names
// in the user's own Maildir, so SipHash's flood resistance buys nothing.
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::courier;
use super::index::{self, valid_base, Entry, Index, DATE_UNKNOWN, SYSTEM_LETTERS};
use super::lock::Lock;
use super::names::{self, is_inbox, SEPARATOR};
use super::open::read_small;
use super::quota;
use super::view::View;
use super::{
    flag, Appended, Changes, FlagOp, Flags, Mailbox, MailboxInfo, Message, MessageRead, ModSeq,
    NewMessage, Result, Status, Store, StoreError, Uid,
};
use crate::limits::{
    APPEND_MAX, CONTROL_FILE_MAX, INDEX_FILE_MAX, KEYWORDS_MAX, MAILBOXES_MAX, MAILDIR_TMP_STALE,
    MESSAGES_MAX, STREAM_BUFFER,
};

const KEYWORDS_FILE: &str = "dovecot-keywords";
const SUBSCRIPTIONS_FILE: &str = "subscriptions";
/// POP3 UIDLs kept from the server before us (`write_pop3_uidls`).
const POP3_UIDL_FILE: &str = "mailaccess-pop3-uidl";
const MAILDIRFOLDER: &str = "maildirfolder";
const STORE_LOCK_FILE: &str = "mailaccess-store.lock";
/// Maildir file names carry keywords as the letters a-z.
const LETTERS: usize = 26;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sub {
    New,
    Cur,
}

impl Sub {
    fn dir(self) -> &'static str {
        match self {
            Sub::New => "new",
            Sub::Cur => "cur",
        }
    }
}

fn mkdir(p: &Path) -> io::Result<()> {
    match fs::DirBuilder::new().mode(0o700).create(p) {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && is_real_dir(p) => Ok(()),
        r => r,
    }
}

/// A directory, and not a symbolic link to one.
fn is_real_dir(p: &Path) -> bool {
    fs::symlink_metadata(p)
        .map(|m| m.file_type().is_dir())
        .unwrap_or(false)
}

fn make_maildir(dir: &Path) -> io::Result<()> {
    mkdir(dir)?;
    for s in ["cur", "new", "tmp"] {
        mkdir(&dir.join(s))?;
    }
    Ok(())
}

/// `base` and the letters after `:2,` (empty without an info part).
fn split_name(name: &str) -> (&str, &str) {
    match name.split_once(':') {
        Some((base, info)) => (base, info.strip_prefix("2,").unwrap_or("")),
        None => (name, ""),
    }
}

/// The `S=` size (octets as stored) of a file name, if it says it.
pub(super) fn stored_size(name: &str) -> Option<u64> {
    size_field(split_name(name).0, 'S')
}

/// The `S=`/`W=` field of a base name (`...,S=1234,W=1260`).
fn size_field(base: &str, key: char) -> Option<u64> {
    base.split(',').skip(1).find_map(|p| {
        p.strip_prefix(key)
            .and_then(|v| v.strip_prefix('='))
            .and_then(|v| v.parse().ok())
    })
}

/// A Maildir file name as `reconcile` and STORE read and write it, for the
/// fuzz target and the corpus test (`mailaccess::fuzz`): the base and
/// its `:2,` letters, the `S=`/`W=` sizes, the flags the letters say
/// (against a keyword table) and the letters written back for them. Panics
/// when the letters written back are not sorted, repeat a letter, or lose
/// a flag, which would rename a file to a name that says something else.
pub fn read_any_name(name: &str) {
    let (base, letters) = split_name(name);
    let _ = (size_field(base, 'S'), size_field(base, 'W'));
    let table: Vec<String> = ["$Junk", "", "Work"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let flags = disk_flags(letters, &Flags::default(), &table);
    let back = letters_for(&flags, &table, letters);
    assert!(
        back.as_bytes().windows(2).all(|w| w[0] < w[1]),
        "{name:?}: letters {back:?} not sorted or repeated"
    );
    assert_eq!(
        disk_flags(&back, &Flags::default(), &table),
        flags,
        "{name:?}: {back:?} says other flags"
    );
}

/// Flags a file name says, plus the keywords only the index can hold.
fn disk_flags(letters: &str, index_flags: &Flags, table: &[String]) -> Flags {
    let mut f = Flags::default();
    for c in letters.chars() {
        if let Some((bit, _)) = SYSTEM_LETTERS.iter().find(|(_, l)| *l == c) {
            f.system |= bit;
        } else if c.is_ascii_lowercase() {
            let pos = usize::from(c as u8 - b'a');
            if let Some(k) = table.get(pos).filter(|k| !k.is_empty()) {
                f.insert_keyword(k);
            }
        }
    }
    for k in &index_flags.keywords {
        let pos = table
            .iter()
            .position(|x| !x.is_empty() && x.eq_ignore_ascii_case(k));
        if pos.is_none_or(|p| p >= LETTERS) {
            f.insert_keyword(k);
        }
    }
    f
}

/// The `:2,` letters for `flags`, keeping letters we do not interpret
/// (capitals such as P, "passed", and keyword letters `dovecot-keywords`
/// does not define) from the old letters; in ASCII order as Maildir
/// requires.
fn letters_for(flags: &Flags, table: &[String], old: &str) -> String {
    let undefined = |c: char| {
        c.is_ascii_lowercase()
            && table
                .get(usize::from(c as u8 - b'a'))
                .is_none_or(|k| k.is_empty())
    };
    let mut v: Vec<char> = old
        .chars()
        .filter(|&c| {
            (c.is_ascii_uppercase() && !SYSTEM_LETTERS.iter().any(|(_, l)| *l == c)) || undefined(c)
        })
        .collect();
    for (bit, c) in SYSTEM_LETTERS {
        if flags.has(bit) {
            v.push(c);
        }
    }
    for k in &flags.keywords {
        if let Some(p) = table
            .iter()
            .position(|x| !x.is_empty() && x.eq_ignore_ascii_case(k))
            .filter(|&p| p < LETTERS)
        {
            v.push(char::from(b'a' + p as u8));
        }
    }
    v.sort_unstable();
    v.dedup();
    v.into_iter().collect()
}

/// Keywords spelled as the mailbox's table spells them.
fn canonical(flags: &Flags, table: &[String]) -> Flags {
    let mut f = Flags {
        system: flags.system,
        keywords: Vec::new(),
    };
    for k in &flags.keywords {
        match table.iter().find(|x| x.eq_ignore_ascii_case(k)) {
            Some(t) => f.insert_keyword(t),
            None => f.insert_keyword(k),
        }
    }
    f
}

/// Reads `new/` then `cur/` (in that order, so that a message moved from
/// new/ to cur/ meanwhile is seen at least once), calling `each` with
/// every message file's name, whether it is in new/, and its directory
/// entry (whose `metadata` is an `lstat` relative to the directory, with
/// no walk of the whole path).
fn scan(dir: &Path, mut each: impl FnMut(String, bool, &fs::DirEntry)) -> Result<()> {
    for sub in [Sub::New, Sub::Cur] {
        for entry in fs::read_dir(dir.join(sub.dir()))? {
            let entry = entry?;
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            let (base, _) = split_name(&name);
            if name.starts_with('.') || !valid_base(base) {
                continue;
            }
            each(name, sub == Sub::New, &entry);
        }
    }
    Ok(())
}

/// Whether `dir` holds nothing (or cannot be read: then the caller looks
/// the long way). An empty new/ holds no message the index places there,
/// so the index need not be read through to know.
fn dir_is_empty(dir: &Path) -> bool {
    fs::read_dir(dir).is_ok_and(|mut d| d.next().is_none())
}

/// The time (seconds since the epoch) a Maildir name begins with: when
/// the file was delivered into its folder (`unique_base`, every MDA's,
/// mbsync's and offlineimap's); a flag change keeps it.
fn name_time(name: &str) -> Option<i64> {
    let digits = name.bytes().take_while(u8::is_ascii_digit).count();
    name[..digits].parse::<i64>().ok().filter(|&t| t > 0)
}

/// The date `learned` (in UID order) holds for `uid`, or where it goes.
fn learned(list: &[(Uid, i64)], uid: Uid) -> std::result::Result<i64, usize> {
    list.binary_search_by_key(&uid, |l| l.0).map(|k| list[k].1)
}

/// The subdirectory of a file that is in new/ or not.
fn place(new: bool) -> Sub {
    if new {
        Sub::New
    } else {
        Sub::Cur
    }
}

/// RFC822.SIZE of a stored file: its length plus one CR for every bare LF.
fn crlf_size(path: &Path) -> io::Result<u64> {
    let mut f = crate::store::open::read(path)?;
    let mut buf = vec![0u8; STREAM_BUFFER];
    let mut size = 0u64;
    let mut prev = 0u8;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(size);
        }
        for &b in &buf[..n] {
            if b == b'\n' && prev != b'\r' {
                size += 1;
            }
            prev = b;
        }
        size += n as u64;
    }
}

/// Reads a whole small text file, refusing one larger than `max`.
/// `dovecot-keywords`: "<number> <keyword>" lines, numbers 0-25.
fn read_keyword_file(dir: &Path) -> Result<Option<Vec<String>>> {
    let text = match read_small(&dir.join(KEYWORDS_FILE), CONTROL_FILE_MAX) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.kind() == io::ErrorKind::InvalidData => return Ok(None),
        Err(e) => return Err(StoreError::Io(e)),
    };
    let mut table = vec![String::new(); LETTERS];
    for line in text.lines() {
        let Some((n, k)) = line.split_once(' ') else {
            continue;
        };
        if let Ok(n) = n.parse::<usize>() {
            if n < LETTERS && index::valid_keyword(k) && !table.iter().any(|x| x == k) {
                table[n] = k.to_string();
            }
        }
    }
    while table.last().is_some_and(|k| k.is_empty()) {
        table.pop();
    }
    Ok(Some(table))
}

fn write_keyword_file(dir: &Path, table: &[String]) -> Result<()> {
    let mut s = String::new();
    for (n, k) in table.iter().enumerate().take(LETTERS) {
        if !k.is_empty() {
            s.push_str(&format!("{n} {k}\n"));
        }
    }
    Ok(super::open::replace(
        &dir.join(KEYWORDS_FILE),
        s.as_bytes(),
        true,
    )?)
}

/// Makes the index's keyword table agree with `dovecot-keywords` (which
/// decides what the letters a-z mean); returns whether the table changed.
fn merge_keyword_file(ix: &mut Index, dir: &Path) -> Result<bool> {
    let Some(file) = read_keyword_file(dir)? else {
        return Ok(false);
    };
    let mut table = file;
    for k in &ix.keywords {
        if !k.is_empty() && !table.iter().any(|x| x.eq_ignore_ascii_case(k)) {
            if table.len() < LETTERS {
                table.resize(LETTERS, String::new());
            }
            table.push(k.clone());
        }
    }
    if table != ix.keywords {
        ix.keywords = table;
        return Ok(true);
    }
    Ok(false)
}

/// `dir`'s index for a delivery, under the lock: read, not reconciled with
/// the files (a delivery needs only the next UID and the keyword table;
/// the next look at the mailbox reconciles), so that an APPEND costs what
/// it writes, not a scan of the mailbox. A missing, old-format or damaged
/// index is made by a full refresh instead. Nothing in it is `\\Recent`.
fn load_index(root: &Path, dir: &Path) -> Result<Refreshed> {
    if let Ok(Some((mut index, snapshot @ Some(_)))) = Index::load(dir) {
        merge_keyword_file(&mut index, dir)?;
        return Ok(Refreshed {
            took_recent: false,
            index,
            snapshot,
            recent_from: Uid::MAX,
        });
    }
    refresh(root, dir, false)
}

/// What a STORE did so far: the indexes whose flags changed, and those
/// left alone under UNCHANGEDSINCE (RFC 7162 `MODIFIED`).
#[derive(Default)]
struct Done {
    changed: Vec<usize>,
    modified: Vec<usize>,
}

/// A mailbox's files and index, brought into agreement under its lock.
#[derive(Debug)]
struct Refreshed {
    /// Made with `take_recent` (see `refresh`).
    took_recent: bool,
    index: Index,
    /// What the index files hold now (`None`: not in the current format).
    snapshot: Option<index::Snapshot>,
    /// Messages from this UID on are `\Recent` for this view: those whose
    /// `\Recent` this call took (read-write), or that nobody has taken yet
    /// (read-only, which shows them as SELECT would and takes nothing,
    /// RFC 3501 6.3.2).
    recent_from: Uid,
}

fn lock_mailbox(dir: &Path) -> Result<Lock> {
    Lock::exclusive(&dir.join(index::LOCK_FILE))
}

/// Reconciles `dir`'s index with its files; the caller holds the lock.
/// With `take_recent`, messages in new/ are moved to cur/ first and the
/// `\Recent` of every message added since the last read-write look is
/// taken; `recent` reports them.
fn refresh(root: &Path, dir: &Path, take_recent: bool) -> Result<Refreshed> {
    refresh_from(root, dir, take_recent, None, false)
}

/// `refresh`, starting from what this session knew (`prior`): with
/// `trust_prior`, the commits of other sessions since are read from the
/// log, not the whole index (unless the log was folded meanwhile). The
/// entries of `prior` that are gone are left in `Index::dropped`.
fn refresh_from(
    root: &Path,
    dir: &Path,
    take_recent: bool,
    prior: Option<Refreshed>,
    trust_prior: bool,
) -> Result<Refreshed> {
    let mut changed = false;
    let mut imported: HashMap<String, Uid> = HashMap::default();
    let mut courier_keywords = HashMap::default();
    let mut pop3_uidls = HashMap::default();
    let mut snapshot = None;
    // What this session knew, when the log cannot bring it up to date:
    // its entries that the index loaded instead lacks are dropped.
    let mut stale = None;
    let caught_up = match prior {
        Some(Refreshed {
            index: mut ix,
            snapshot: Some(mut snap),
            ..
        }) if trust_prior => {
            // Damage found on the way is found again, and handled, by a load.
            if matches!(ix.catch_up(dir, &mut snap), Ok(true)) {
                Some((ix, snap))
            } else {
                stale = Some(ix);
                None
            }
        }
        Some(p) => {
            stale = Some(p.index);
            None
        }
        None => None,
    };
    let loaded = match caught_up {
        Some((ix, snap)) => Ok(Some((ix, Some(snap)))),
        None => Index::load(dir),
    };
    let loaded = loaded.map(|l| {
        l.map(|(mut ix, snap)| {
            if let Some(mut old) = stale.filter(|o| o.uid_validity == ix.uid_validity) {
                let mut dropped = std::mem::take(&mut old.dropped.0);
                let gone = old
                    .iter_without_names()
                    .filter(|e| ix.find(e.uid).is_none());
                dropped.extend(gone);
                ix.dropped.0.splice(0..0, dropped);
            }
            (ix, snap)
        })
    });
    let mut ix = match loaded {
        Ok(Some((ix, snap))) => {
            changed |= snap.is_none();
            snapshot = snap;
            ix
        }
        Ok(None) => {
            changed = true;
            let ix = match read_dovecot_uidlist(dir) {
                Some(list) => {
                    let mut ix = Index::new(list.uid_validity);
                    ix.uid_next = list.uid_next;
                    ix.highest_modseq = crate::limits::IMPORTED_MODSEQ_FROM;
                    // What Dovecot expunged is not known.
                    ix.vanished_from = ix.highest_modseq;
                    imported = list.uids;
                    pop3_uidls = list.pop3;
                    ix
                }
                None => match courier::read_uiddb(dir) {
                    Some((uid_validity, uid_next, uids)) => {
                        let mut ix = Index::new(uid_validity);
                        ix.uid_next = uid_next;
                        ix.highest_modseq = crate::limits::IMPORTED_MODSEQ_FROM;
                        // What Courier expunged is not known.
                        ix.vanished_from = ix.highest_modseq;
                        imported = uids;
                        ix
                    }
                    None => Index::new(index::new_uid_validity(root)?),
                },
            };
            courier_keywords = courier::read_keywords(dir);
            if pop3_uidls.is_empty() {
                pop3_uidls = courier::read_pop3_uidls(dir);
            }
            ix
        }
        Err(StoreError::Corrupt(why)) => {
            // Never trust a damaged index with UIDs: start over under a new
            // UIDVALIDITY so that no message has two UIDs under one.
            log::warn!(
                "{}: {why}; rebuilding with a new UIDVALIDITY",
                dir.display()
            );
            changed = true;
            Index::new(index::new_uid_validity(root)?)
        }
        Err(e) => return Err(e),
    };
    let table_changed = merge_keyword_file(&mut ix, dir)?;
    changed |= table_changed;

    // Nothing to read when new/ and cur/ have not changed since a scan
    // that saw them settled (and nothing in new/ is to be moved to cur/).
    let quick = !table_changed
        && ix.scanned[0] != 0
        && dir_times(dir) == ix.scanned
        && !(take_recent
            && !dir_is_empty(&dir.join("new"))
            && ix.iter_without_names().any(|e| e.new));
    if !quick {
        changed |= reconcile(dir, &mut ix, &imported, table_changed, take_recent)?;
    }
    if !courier_keywords.is_empty() {
        changed |= import_keywords(dir, &mut ix, &courier_keywords)?;
    }
    if !pop3_uidls.is_empty() {
        write_pop3_uidls(dir, &ix, &pop3_uidls)?;
    }
    // RFC 3501 2.3.2: every message added since the last read-write look is
    // \Recent to this session alone: it raises firstrecent under the lock.
    // Delivered by an MTA, APPENDed or COPYed, with flags or without.
    let recent_from = ix.first_recent;
    if take_recent && ix.first_recent != ix.uid_next {
        ix.first_recent = ix.uid_next;
        changed = true;
    }
    if changed {
        snapshot = Some(ix.save(dir, snapshot.as_ref())?);
    }
    Ok(Refreshed {
        took_recent: take_recent,
        snapshot,
        index: ix,
        recent_from,
    })
}

/// Keeps the POP3 UIDLs the previous server gave (`pop3_uidls`, by base
/// name) in `POP3_UIDL_FILE`, by UID: `<uid> <uidl>` lines. Only UIDLs
/// RFC 1939 allows (1 to 70 characters 0x21-0x7E) are kept.
fn write_pop3_uidls(dir: &Path, ix: &Index, pop3_uidls: &HashMap<String, String>) -> Result<()> {
    let mut text = String::new();
    for e in ix.iter() {
        if let Some(u) = pop3_uidls.get(e.base()).filter(|u| valid_uidl(u)) {
            text.push_str(&format!("{} {u}\n", e.uid));
        }
    }
    Ok(super::open::replace(
        &dir.join(POP3_UIDL_FILE),
        text.as_bytes(),
        true,
    )?)
}

fn valid_uidl(u: &str) -> bool {
    (1..=70).contains(&u.len()) && u.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

/// The POP3 UIDLs kept from the previous server, by UID (empty when none).
fn read_pop3_uidls(dir: &Path) -> HashMap<Uid, String> {
    let Ok(text) = read_small(&dir.join(POP3_UIDL_FILE), INDEX_FILE_MAX) else {
        return HashMap::default();
    };
    text.lines()
        .filter_map(|l| {
            let (uid, u) = l.split_once(' ')?;
            Some((uid.parse().ok()?, u.to_string())).filter(|(_, u)| valid_uidl(u))
        })
        .collect()
}

/// Gives the messages in cur/ the keywords Courier kept for them
/// (`courier::read_keywords`): added to the keyword table (and
/// `dovecot-keywords`, first, so that the letters mean something to
/// whoever reads them), then to each file's name, as a STORE would.
/// Returns whether `ix` changed.
fn import_keywords(
    dir: &Path,
    ix: &mut Index,
    keywords: &HashMap<String, Vec<String>>,
) -> Result<bool> {
    let table_before = ix.keywords.clone();
    for kws in keywords.values() {
        for k in kws {
            if let Err(e) = ix.add_keyword(k) {
                log::warn!("{}: Courier keyword {k} not imported: {e}", dir.display());
            }
        }
    }
    if ix.keywords[..ix.keywords.len().min(LETTERS)]
        != table_before[..table_before.len().min(LETTERS)]
    {
        write_keyword_file(dir, &ix.keywords)?;
    }
    let mut changed = ix.keywords != table_before;
    for k in 0..ix.len() {
        let mut e = ix.get(k);
        let Some(kws) = keywords.get(e.base()).filter(|_| !e.new) else {
            continue;
        };
        let mut flags = e.flags.clone();
        for kw in kws.iter().filter(|kw| ix.keyword_pos(kw).is_some()) {
            flags.insert_keyword(kw);
        }
        let flags = canonical(&flags, &ix.keywords);
        if flags == e.flags {
            continue;
        }
        let (base, old_letters) = split_name(&e.name);
        let name = format!(
            "{base}:2,{}",
            letters_for(&flags, &ix.keywords, old_letters)
        );
        let cur = dir.join("cur");
        match fs::rename(cur.join(&*e.name), cur.join(&name)) {
            Ok(()) => {}
            // Gone or renamed meanwhile: it keeps what its name says.
            Err(err) => {
                log::warn!(
                    "{}: keywords of {} not imported: {err}",
                    dir.display(),
                    e.name
                );
                continue;
            }
        }
        e.modseq = ix.bump();
        e.flags = flags;
        e.name = name.into();
        ix.set(k, e);
        changed = true;
    }
    Ok(changed)
}

/// Times of new/ and cur/ (ns since the epoch; 0 when unknown), as
/// `Index::scanned` keeps them.
fn dir_times(dir: &Path) -> [i64; 2] {
    ["new", "cur"].map(|d| {
        fs::metadata(dir.join(d))
            .map(|m| m.mtime() * 1_000_000_000 + m.mtime_nsec())
            .unwrap_or(0)
    })
}

/// Reads new/ and cur/ whole and makes `ix` say what they hold: renamed
/// files (flags changed by other programs), removed ones, new ones (with
/// `imported` UIDs first). With `take_recent`, new/ is moved to cur/ first.
/// Records the directories' times for the next open when they had stood
/// for a settling time. Returns whether `ix` changed.
fn reconcile(
    dir: &Path,
    ix: &mut Index,
    imported: &HashMap<String, Uid>,
    table_changed: bool,
    take_recent: bool,
) -> Result<bool> {
    let mut changed = false;
    if take_recent {
        for entry in fs::read_dir(dir.join("new"))? {
            let Ok(name) = entry?.file_name().into_string() else {
                continue;
            };
            let (base, _) = split_name(&name);
            if name.starts_with('.') || !valid_base(base) {
                continue;
            }
            let target = if name.contains(':') {
                name.clone()
            } else {
                format!("{name}:2,")
            };
            // The Maildir convention: a reader moves new/ to cur/. Who gets
            // \Recent is decided by the index's firstrecent, below.
            match fs::rename(dir.join("new").join(&name), dir.join("cur").join(&target)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                // One odd file (a name too long for ":2,") must not make the
                // whole mailbox unusable: it stays in new/, not \Recent.
                Err(e) => log::warn!("{}: cannot move {name} to cur/: {e}", dir.display()),
            }
        }
    }

    // Taken before the scan: a change while we read makes them differ.
    let times = dir_times(dir);
    let started = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
    let mut seen = vec![false; ix.len()];
    let mut moved: Vec<(usize, String, bool)> = Vec::new();
    // New files: name, place, and whether readdir's type said a regular
    // file. Their mtimes (INTERNALDATE) are left `DATE_UNKNOWN` for the
    // first command that needs one: an lstat of each file was a sixth of
    // a first open.
    type Fresh = (String, bool, Option<bool>);
    let mut fresh: HashMap<String, Fresh> = HashMap::default();
    {
        let known: Vec<(String, bool)> = ix.iter().map(|e| (e.name.into_owned(), e.new)).collect();
        let by_base: HashMap<&str, usize> = known
            .iter()
            .enumerate()
            .map(|(k, (name, _))| (split_name(name).0, k))
            .collect();
        let mut look = |seen: &mut Vec<bool>| -> Result<()> {
            scan(dir, |name, new, entry| {
                let (base, _) = split_name(&name);
                match by_base.get(base) {
                    Some(&k) => {
                        let (was, was_new) = &known[k];
                        // In both places (moved to cur/ while we read):
                        // cur/, read last, wins.
                        if *was != name || *was_new != new || (seen[k] && !new) {
                            moved.push((k, name, new));
                        }
                        seen[k] = true;
                    }
                    None => {
                        let base = base.to_string();
                        match fresh.get(&base) {
                            Some((_, false, _)) if new => {}
                            _ => {
                                let is_file = entry.file_type().ok().map(|t| t.is_file());
                                fresh.insert(base, (name, new, is_file));
                            }
                        }
                    }
                }
            })
        };
        look(&mut seen)?;
        if seen.iter().any(|s| !s) {
            // readdir may miss a file that another program renames while
            // we read (a flag change by mutt); look once more before
            // calling it expunged.
            let mut again = vec![false; seen.len()];
            look(&mut again)?;
            for (s, a) in seen.iter_mut().zip(again) {
                *s |= a;
            }
        }
    }
    // Stable: of two sightings of one file, the later one wins.
    moved.sort_by_key(|m| m.0);
    let mut moved = moved.into_iter().peekable();
    let mut gone = Vec::new();
    for (k, &seen) in seen.iter().enumerate() {
        let mut renamed = None;
        while let Some((_, name, new)) = moved.next_if(|m| m.0 == k) {
            renamed = Some((name, new));
        }
        if !seen {
            // Gone (expunged by another program): taken out below.
            gone.push(ix.uid_at(k));
            changed = true;
            continue;
        }
        if renamed.is_none() && !table_changed {
            continue;
        }
        let mut e = ix.get(k);
        let was_renamed = renamed.is_some();
        if let Some((name, new)) = renamed {
            e.name = name.into();
            e.new = new;
        }
        let (_, letters) = split_name(&e.name);
        let fl = disk_flags(letters, &e.flags, &ix.keywords);
        if fl != e.flags || was_renamed {
            e.flags = fl;
            e.modseq = ix.bump();
            ix.set(k, e);
            changed = true;
        }
    }
    // UID order: a binary search finds them.
    ix.expunge(|uid| gone.binary_search(&uid).is_ok());

    // Maildir names start with the delivery time: name order is arrival
    // order, near enough.
    // Files Dovecot knew come first, in its UID order, and keep its UIDs.
    let mut fresh: Vec<(Uid, String, Fresh)> = fresh
        .into_iter()
        .map(|(b, f)| (imported.get(&b).copied().unwrap_or(Uid::MAX), b, f))
        .collect();
    fresh.sort_unstable_by(|x, y| (x.0, &x.1).cmp(&(y.0, &y.1)));
    // A few new files (a delivery since the last look) are dated now: a
    // date read later would cost a commit of its own.
    let lazy = fresh.len() > crate::limits::MAILDIR_DATES_LATER_FROM;
    for (imported_uid, base, (name, new, is_file)) in fresh {
        if ix.len() >= MESSAGES_MAX || ix.uid_next == Uid::MAX {
            log::warn!("{}: message limit reached", dir.display());
            break;
        }
        let path = || dir.join(place(new).dir()).join(&name);
        // A file that vanished (renamed meanwhile: the next scan finds it)
        // or cannot be read gets no UID yet; one bad file must not make the
        // whole mailbox unusable.
        let looked = match is_file {
            Some(is_file) if lazy => Ok((is_file, DATE_UNKNOWN)),
            _ => fs::symlink_metadata(path()).map(|m| (m.file_type().is_file(), m.mtime())),
        };
        let (is_file, date) = match looked {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => {
                log::warn!("{}: {e}", path().display());
                continue;
            }
        };
        if !is_file {
            continue;
        }
        let size = match size_field(&base, 'W') {
            Some(w) => w,
            None => match crlf_size(&path()) {
                Ok(s) => s,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => {
                    log::warn!("{}: {e}", path().display());
                    continue;
                }
            },
        };
        let (_, letters) = split_name(&name);
        let flags = disk_flags(letters, &Flags::default(), &ix.keywords);
        let uid = match imported_uid {
            // Uid::MAX (not imported) is never below uid_next.
            u if ix.last_uid() < u && u < ix.uid_next => u,
            _ => {
                ix.uid_next += 1;
                ix.uid_next - 1
            }
        };
        let modseq = ix.bump();
        ix.push(Entry {
            uid,
            modseq,
            size,
            date,
            zone: 0,
            flags,
            name: name.into(),
            new,
        });
        changed = true;
    }
    let settle = i64::try_from(crate::limits::MAILDIR_STAMP_SETTLE.as_nanos()).unwrap_or(i64::MAX);
    let settled = times
        .iter()
        .all(|&t| t != 0 && t.saturating_add(settle) < started);
    let record = if settled { times } else { [0, 0] };
    if ix.scanned != record {
        ix.scanned = record;
        changed = true;
    }
    Ok(changed)
}

/// What a `dovecot-uidlist` says.
struct UidList {
    uid_validity: u32,
    uid_next: Uid,
    uids: HashMap<String, Uid>,
    /// Base name -> POP3 UIDL, from `P` fields (kept by a migration).
    pop3: HashMap<String, String>,
}

/// Reads Dovecot's `dovecot-uidlist` (versions 1 and 3), so that users
/// moving from Dovecot keep their UIDVALIDITY and UIDs. Used only when a
/// mailbox has no index of ours yet; anything doubtful means "no list".
///
/// Version 3: a header `3 V<uidvalidity> N<nextuid> ...`, then lines
/// `<uid> [<ext fields>] :<file name>`. Version 1: `1 <uidvalidity>
/// <nextuid>`, then `<uid> <file name>`.
fn read_dovecot_uidlist(dir: &Path) -> Option<UidList> {
    let text = read_small(&dir.join("dovecot-uidlist"), INDEX_FILE_MAX).ok()?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next()?.split(' ').collect();
    let (version, uid_validity, mut uid_next) = match header.as_slice() {
        ["1", v, n, ..] => (1, v.parse().ok()?, n.parse().ok()?),
        ["3", rest @ ..] => {
            let field = |k: char| {
                rest.iter()
                    .find_map(|f| f.strip_prefix(k))
                    .and_then(|v| v.parse::<u32>().ok())
            };
            (3, field('V')?, field('N')?)
        }
        _ => return None,
    };
    if uid_validity == 0 || uid_next == 0 {
        return None;
    }
    let mut uids = HashMap::default();
    let mut pop3 = HashMap::default();
    for line in lines {
        let (uid, rest) = line.split_once(' ')?;
        let uid: Uid = uid.parse().ok()?;
        let name = if version == 3 {
            // Extension fields, then " :" and the name.
            let (ext, name) = match rest.strip_prefix(':') {
                Some(name) => ("", name),
                None => rest.split_once(" :")?,
            };
            if let Some(p) = ext.split(' ').find_map(|f| f.strip_prefix('P')) {
                let (base, _) = split_name(name);
                pop3.insert(base.to_string(), p.to_string());
            }
            name
        } else {
            rest
        };
        let (base, _) = split_name(name);
        if uid == 0 || !valid_base(base) || uids.len() >= MESSAGES_MAX {
            return None;
        }
        uid_next = uid_next.max(uid.checked_add(1)?);
        uids.insert(base.to_string(), uid);
    }
    Some(UidList {
        uid_validity,
        uid_next,
        uids,
        pop3,
    })
}

static DELIVERY_COUNTER: AtomicU64 = AtomicU64::new(0);

fn hostname() -> &'static str {
    static HOST: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HOST.get_or_init(read_hostname)
}

fn read_hostname() -> String {
    let h: String = crate::config::host_name()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    if h.is_empty() {
        "localhost".to_string()
    } else {
        h
    }
}

/// A new unique base name (without the size fields).
fn unique_base() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    let n = DELIVERY_COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(
        "{}.M{}P{}Q{}.{}",
        now.as_secs(),
        now.subsec_micros(),
        std::process::id(),
        n,
        hostname()
    )
}

fn set_mtime(path: &Path, secs: i64) -> io::Result<()> {
    let d = Duration::from_secs(secs.unsigned_abs());
    let t = if secs >= 0 {
        UNIX_EPOCH.checked_add(d)
    } else {
        UNIX_EPOCH.checked_sub(d)
    }
    .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "date out of range"))?;
    crate::store::open::regular(path, OpenOptions::new().write(true))?.set_modified(t)
}

/// Writes `len` octets from `data` into a new file `path`, CRLF turned into
/// LF as Maildir programs expect; returns (stored size, CRLF size).
fn write_message(data: &mut dyn Read, len: u64, path: &Path) -> Result<(u64, u64)> {
    let mut f = crate::store::open::regular(
        path,
        OpenOptions::new().write(true).create_new(true).mode(0o600),
    )?;
    let mut buf = vec![0u8; STREAM_BUFFER];
    let mut out = Vec::with_capacity(STREAM_BUFFER + 1);
    let mut left = len;
    let (mut stored, mut crlf) = (0u64, 0u64);
    let mut pending_cr = false;
    let mut last = 0u8;
    while left > 0 {
        let want = usize::try_from(left.min(buf.len() as u64)).unwrap_or(buf.len());
        let n = data.read(&mut buf[..want])?;
        if n == 0 {
            return Err(StoreError::Io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "message shorter than announced",
            )));
        }
        left -= n as u64;
        out.clear();
        for &b in &buf[..n] {
            if pending_cr {
                pending_cr = false;
                if b != b'\n' {
                    out.push(b'\r');
                }
            }
            if b == b'\r' {
                pending_cr = true;
            } else {
                out.push(b);
            }
        }
        // RFC822.SIZE counts a CR for every LF not already preceded by
        // one, as FETCH will send it (CR CR LF is stored as CR LF).
        for &b in &out {
            if b == b'\n' && last != b'\r' {
                crlf += 1;
            }
            last = b;
        }
        stored += out.len() as u64;
        f.write_all(&out)?;
    }
    if pending_cr {
        f.write_all(b"\r")?;
        stored += 1;
    }
    f.sync_all()?;
    Ok((stored, stored + crlf))
}

/// A message ready to be put into a mailbox.
struct Prepared {
    /// Either a finished file in tmp/ to rename, or a file to hard-link.
    tmp: Option<PathBuf>,
    link_from: Option<PathBuf>,
    base: String,
    size: u64,
    date: i64,
    zone: i32,
    flags: Flags,
}

/// Copies `src` through `dir/tmp` to `target` (when a hard link fails,
/// e.g. across file systems).
fn copy_via_tmp(src: &Path, dir: &Path, target: &Path, date: i64) -> Result<()> {
    let tmp = dir.join("tmp").join(unique_base());
    let r = (|| -> Result<()> {
        let mut from = crate::store::open::read(src)?;
        let mut to = crate::store::open::regular(
            &tmp,
            OpenOptions::new().write(true).create_new(true).mode(0o600),
        )?;
        io::copy(&mut from, &mut to)?;
        to.sync_all()?;
        drop(to);
        set_mtime(&tmp, date)?;
        fs::rename(&tmp, target)?;
        Ok(())
    })();
    if r.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    r
}

/// Puts prepared messages into `dir` and gives them UIDs, all or none.
fn commit(root: &Path, dir: &Path, prepared: &[Prepared]) -> Result<Appended> {
    let _lock = lock_mailbox(dir)?;
    let mut r = load_index(root, dir)?;
    let table_before = r.index.keywords.clone();
    for p in prepared {
        for k in &p.flags.keywords {
            r.index.add_keyword(k)?;
        }
    }
    if r.index.keywords[..r.index.keywords.len().min(LETTERS)]
        != table_before[..table_before.len().min(LETTERS)]
    {
        write_keyword_file(dir, &r.index.keywords)?;
    }
    let mut placed: Vec<PathBuf> = Vec::new();
    let mut uids = Vec::new();
    let result = (|| -> Result<()> {
        for p in prepared {
            if r.index.len() >= MESSAGES_MAX || r.index.uid_next == Uid::MAX {
                return Err(StoreError::Limit("too many messages in mailbox"));
            }
            let flags = canonical(&p.flags, &r.index.keywords);
            let (sub, name) = if flags == Flags::default() {
                (Sub::New, p.base.clone())
            } else {
                let l = letters_for(&flags, &r.index.keywords, "");
                (Sub::Cur, format!("{}:2,{l}", p.base))
            };
            let target = dir.join(sub.dir()).join(&name);
            if let Some(src) = &p.link_from {
                if let Err(e) = fs::hard_link(src, &target) {
                    // Renamed by another session meanwhile: link it where
                    // it is now; gone for good: expunged.
                    let src = if e.kind() == io::ErrorKind::NotFound {
                        relocate(src).ok_or(StoreError::Expunged)?
                    } else {
                        src.clone()
                    };
                    if fs::hard_link(&src, &target).is_err() {
                        copy_via_tmp(&src, dir, &target, p.date)?;
                    }
                }
            } else if let Some(tmp) = &p.tmp {
                fs::rename(tmp, &target)?;
            }
            placed.push(target);
            let uid = r.index.uid_next;
            r.index.uid_next += 1;
            let modseq = r.index.bump();
            r.index.push(Entry {
                uid,
                modseq,
                size: p.size,
                date: p.date,
                zone: p.zone,
                flags,
                name: name.clone().into(),
                new: sub == Sub::New,
            });
            uids.push(uid);
        }
        // The renames and links are durable before the index says so.
        for sub in [Sub::New, Sub::Cur] {
            File::open(dir.join(sub.dir()))?.sync_all()?;
        }
        r.index.save(dir, r.snapshot.as_ref())?;
        Ok(())
    })();
    if let Err(e) = result {
        for p in placed {
            let _ = fs::remove_file(p);
        }
        return Err(e);
    }
    Ok(Appended {
        uid_validity: r.index.uid_validity,
        uids,
    })
}

/// Removes tmp/ files left by crashed deliveries.
fn clean_tmp(dir: &Path) {
    let Ok(rd) = fs::read_dir(dir.join("tmp")) else {
        return;
    };
    // By ctime, not mtime: APPEND sets a file's mtime to the message's
    // internal date (often years ago) before renaming it out of tmp/, and
    // a file in flight must never look stale. ctime is the last change of
    // the inode, which setting the mtime is too.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    for entry in rd.flatten() {
        let old = entry
            .metadata()
            .is_ok_and(|m| now.saturating_sub(m.ctime()) > MAILDIR_TMP_STALE.as_secs() as i64);
        if old && entry.file_type().is_ok_and(|t| t.is_file()) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// A `NotFound` while delivering into `dir` is `[TRYCREATE]` only when the
/// mailbox itself is gone. Otherwise one of our own files vanished under us
/// (removed by another program): a server error, never "create the mailbox
/// and try again".
fn delivery_error(dir: &Path, e: StoreError) -> StoreError {
    match e {
        StoreError::NotFound if is_real_dir(&dir.join("tmp")) => StoreError::Io(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{}: a file of this delivery vanished", dir.display()),
        )),
        e => e,
    }
}

/// Where the message file `src` (of some mailbox's new/ or cur/) is now, if
/// another session renamed it (new flags, new/ to cur/) since we looked.
fn relocate(src: &Path) -> Option<PathBuf> {
    let dir = src.parent()?.parent()?;
    let name = src.file_name()?.to_str()?;
    let (base, _) = split_name(name);
    let mut found = None;
    scan(dir, |n, new, _| {
        if split_name(&n).0 == base {
            found = Some(dir.join(place(new).dir()).join(n));
        }
    })
    .ok()?;
    found
}

/// One user's Maildir++ tree.
#[derive(Debug)]
pub struct Maildir {
    root: PathBuf,
}

impl Maildir {
    /// Opens (creating if missing, mode 0700) the Maildir at `root`, which
    /// is also INBOX.
    pub fn open_store(root: PathBuf) -> Result<Maildir> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&root)?;
        // Administrators link ~/Maildir elsewhere: the root itself may be a
        // symbolic link (inside the tree none is followed).
        let root = fs::canonicalize(&root)?;
        make_maildir(&root)?;
        let store = Maildir { root };
        store.clean_staging();
        Ok(store)
    }

    /// Removes staging directories (`.~create.*`, `.~delete.*`,
    /// `.~rename.*`) that a crash left behind. None ever holds a message:
    /// create and rename stage only an empty Maildir and its index, delete
    /// stages what is being deleted. Only old ones are touched, so that an
    /// operation in progress in another process is never disturbed.
    fn clean_staging(&self) {
        let Ok(rd) = fs::read_dir(&self.root) else {
            return;
        };
        let now = SystemTime::now();
        for entry in rd.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                continue;
            };
            if !["create", "delete", "rename"]
                .iter()
                .any(|w| name.starts_with(&format!(".~{w}.")))
            {
                continue;
            }
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| now.duration_since(t).ok())
                .is_some_and(|age| age > MAILDIR_TMP_STALE);
            if old && entry.file_type().is_ok_and(|t| t.is_dir()) {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directory of a (validated) name; does not check it exists.
    fn path_of(&self, name: &str) -> Result<PathBuf> {
        if is_inbox(name) {
            return Ok(self.root.clone());
        }
        names::validate(name).map_err(StoreError::BadName)?;
        Ok(self.root.join(format!(".{name}")))
    }

    /// The directory of an existing selectable mailbox. A symbolic link is
    /// never followed: it could lead out of the tree.
    fn selectable(&self, name: &str) -> Result<PathBuf> {
        let p = self.path_of(name)?;
        let m = fs::symlink_metadata(&p)?;
        if m.file_type().is_symlink() {
            return Err(StoreError::NotAllowed("mailbox is a symbolic link"));
        }
        if !m.is_dir()
            || !["cur", "new", "tmp"]
                .iter()
                .all(|s| is_real_dir(&p.join(s)))
        {
            return Err(StoreError::NotFound);
        }
        Ok(p)
    }

    fn store_lock(&self) -> Result<Lock> {
        Lock::exclusive(&self.root.join(STORE_LOCK_FILE))
    }

    /// Folder directories: wire name -> selectable. Symbolic links, names
    /// that are not valid wire names and our own staging dirs are skipped.
    fn folders(&self) -> Result<BTreeMap<String, bool>> {
        let mut out = BTreeMap::new();
        for entry in fs::read_dir(&self.root)? {
            let entry = entry?;
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            let Some(wire) = name.strip_prefix('.') else {
                continue;
            };
            if names::validate(wire).is_err() || is_inbox(wire) {
                continue;
            }
            if !entry.file_type()?.is_dir() {
                continue;
            }
            if out.len() >= MAILBOXES_MAX {
                log::warn!("{}: too many mailboxes, rest ignored", self.root.display());
                break;
            }
            let p = entry.path();
            let sel = ["cur", "new", "tmp"]
                .iter()
                .all(|s| is_real_dir(&p.join(s)));
            out.insert(wire.to_string(), sel);
        }
        Ok(out)
    }

    /// A staging directory name in the root that LIST never shows (a
    /// component starting with `~` is not a valid name).
    fn staging(&self, what: &str) -> PathBuf {
        let n = DELIVERY_COUNTER.fetch_add(1, Ordering::Relaxed);
        self.root
            .join(format!(".~{what}.{}.{n}", std::process::id()))
    }

    /// Creates a selectable mailbox directory with a fresh index, built
    /// aside and renamed into place.
    fn create_dir(&self, path: &Path) -> Result<()> {
        if path.exists() {
            // A \Noselect placeholder left by DELETE: make it selectable.
            make_maildir(path)?;
            File::create(path.join(MAILDIRFOLDER))?;
            return Ok(());
        }
        let st = self.staging("create");
        let r = (|| -> Result<()> {
            make_maildir(&st)?;
            File::create(st.join(MAILDIRFOLDER))?;
            Index::new(index::new_uid_validity(&self.root)?).save(&st, None)?;
            fs::rename(&st, path)?;
            Ok(())
        })();
        if r.is_err() {
            let _ = fs::remove_dir_all(&st);
        }
        r
    }

    fn read_subscriptions(&self) -> Result<Vec<String>> {
        match read_small(&self.root.join(SUBSCRIPTIONS_FILE), CONTROL_FILE_MAX) {
            Ok(t) => Ok(t
                .lines()
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect()),
            // Never written by us: Courier's, if the user comes from it
            // (the next SUBSCRIBE or UNSUBSCRIBE writes ours from them).
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Ok(courier::read_subscriptions(&self.root).unwrap_or_default())
            }
            Err(e) => Err(StoreError::Io(e)),
        }
    }

    fn write_subscriptions(&self, subs: &[String]) -> Result<()> {
        let mut s = String::new();
        for n in subs {
            s.push_str(n);
            s.push('\n');
        }
        Ok(super::open::replace(
            &self.root.join(SUBSCRIPTIONS_FILE),
            s.as_bytes(),
            true,
        )?)
    }

    /// RFC 3501 6.3.5: INBOX's messages move to a new mailbox `to` (keeping
    /// their UIDs under the new mailbox's own new UIDVALIDITY); INBOX stays,
    /// empty, with its UIDVALIDITY and UIDNEXT.
    fn rename_inbox(&mut self, to: &str) -> Result<()> {
        let target = self.path_of(to)?;
        let _store = self.store_lock()?;
        if fs::symlink_metadata(&target).is_ok() {
            return Err(StoreError::AlreadyExists);
        }
        let _inbox = lock_mailbox(&self.root)?;
        let mut r = refresh(&self.root, &self.root, false)?;
        let st = self.staging("rename");
        make_maildir(&st)?;
        File::create(st.join(MAILDIRFOLDER))?;
        // Held across the directory rename: the lock is on the file, which
        // moves with it, so no session indexes the target half-filled.
        let _target = lock_mailbox(&st)?;
        let mut tix = r.index.clone();
        tix.uid_validity = index::new_uid_validity(&self.root)?;
        tix.save(&st, None)?;
        if let Some(table) = read_keyword_file(&self.root)? {
            write_keyword_file(&st, &table)?;
        }
        fs::rename(&st, &target)?;
        // From here the messages are in one of the two places at every
        // instant; a crash leaves some in each, both indexed.
        for e in r.index.iter() {
            let sub = place(e.new).dir();
            let from = self.root.join(sub).join(&*e.name);
            let to = target.join(sub).join(&*e.name);
            match fs::rename(from, to) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(StoreError::Io(e)),
            }
        }
        r.index.expunge(|_| true);
        r.index.bump();
        r.index.save(&self.root, r.snapshot.as_ref())?;
        Ok(())
    }
}

impl Store for Maildir {
    fn separator(&self) -> char {
        SEPARATOR
    }

    fn control_dir(&self) -> Option<PathBuf> {
        Some(self.root.clone())
    }

    fn watch_paths(&self, name: Option<&str>) -> Vec<PathBuf> {
        match name {
            // Folders are the root's entries; `subscriptions` is there too.
            None => vec![self.root.clone()],
            Some(n) => match self.path_of(n) {
                Ok(dir) => vec![dir.join("new"), dir.join("cur"), dir],
                Err(_) => Vec::new(),
            },
        }
    }

    fn list(&mut self) -> Result<Vec<MailboxInfo>> {
        let mut all = self.folders()?;
        all.insert("INBOX".to_string(), true);
        Ok(super::with_parents(all, SEPARATOR))
    }

    fn create(&mut self, name: &str) -> Result<()> {
        // RFC 3501 6.3.3: a trailing separator only declares the intent to
        // create children.
        let name = name.strip_suffix(SEPARATOR).unwrap_or(name);
        if is_inbox(name) {
            return Err(StoreError::AlreadyExists);
        }
        let path = self.path_of(name)?;
        let _store = self.store_lock()?;
        match fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() || !m.is_dir() => {
                return Err(StoreError::AlreadyExists)
            }
            Ok(_) if self.selectable(name).is_ok() => return Err(StoreError::AlreadyExists),
            _ => {}
        }
        self.create_dir(&path)
    }

    fn quota(&mut self) -> Result<Option<quota::Quota>> {
        let maildirsize = quota::read(&self.root)?;
        Ok(quota::with_filesystem(
            maildirsize,
            quota::filesystem(&self.root),
        ))
    }

    fn delete(&mut self, name: &str) -> Result<()> {
        if is_inbox(name) {
            return Err(StoreError::NotAllowed("INBOX cannot be deleted"));
        }
        let path = self.path_of(name)?;
        let _store = self.store_lock()?;
        let folders = self.folders()?;
        let prefix = format!("{name}{SEPARATOR}");
        let has_children = folders.keys().any(|n| n.starts_with(&prefix));
        let m = match fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(_) if has_children => return Err(StoreError::HasChildren),
            Err(_) => return Err(StoreError::NotFound),
        };
        if m.file_type().is_symlink() {
            // Remove the link itself, never what it points at.
            fs::remove_file(&path)?;
            return Ok(());
        }
        if !m.is_dir() {
            return Err(StoreError::NotFound);
        }
        if has_children && !folders.get(name).copied().unwrap_or(false) {
            return Err(StoreError::HasChildren);
        }
        // Out of sight first (one rename), then removed.
        let st = self.staging("delete");
        fs::rename(&path, &st)?;
        if has_children {
            // RFC 3501 6.3.4: the name stays, \Noselect, for its children.
            mkdir(&path)?;
        }
        fs::remove_dir_all(&st)?;
        // Its messages leave the Maildir++ quota's use.
        quota::recount_now(&self.root);
        Ok(())
    }

    fn rename(&mut self, from: &str, to: &str) -> Result<()> {
        if is_inbox(to) {
            return Err(StoreError::AlreadyExists);
        }
        names::validate(to).map_err(StoreError::BadName)?;
        if is_inbox(from) {
            return self.rename_inbox(to);
        }
        let from_path = self.path_of(from)?;
        let _store = self.store_lock()?;
        let folders = self.folders()?;
        let prefix = format!("{from}{SEPARATOR}");
        let mut moves: Vec<(String, String)> = Vec::new();
        if let Ok(m) = fs::symlink_metadata(&from_path) {
            if m.file_type().is_symlink() {
                return Err(StoreError::NotAllowed("mailbox is a symbolic link"));
            }
            moves.push((from.to_string(), to.to_string()));
        }
        for n in folders.keys().filter(|n| n.starts_with(&prefix)) {
            moves.push((n.clone(), format!("{to}{}", &n[from.len()..])));
        }
        if moves.is_empty() {
            return Err(StoreError::NotFound);
        }
        for (_, new) in &moves {
            let p = self.path_of(new)?;
            if fs::symlink_metadata(&p).is_ok() {
                return Err(StoreError::AlreadyExists);
            }
        }
        // Each folder is its own directory (Maildir++ is flat); its index
        // moves with it, so UIDs and UIDVALIDITY survive the rename.
        for (old, new) in &moves {
            fs::rename(self.path_of(old)?, self.path_of(new)?)?;
        }
        Ok(())
    }

    fn subscribe(&mut self, name: &str) -> Result<()> {
        let name = if is_inbox(name) { "INBOX" } else { name };
        names::validate(name).map_err(StoreError::BadName)?;
        let _store = self.store_lock()?;
        let mut subs = self.read_subscriptions()?;
        if !subs.iter().any(|s| s == name) {
            subs.push(name.to_string());
            self.write_subscriptions(&subs)?;
        }
        Ok(())
    }

    fn unsubscribe(&mut self, name: &str) -> Result<()> {
        let name = if is_inbox(name) { "INBOX" } else { name };
        let _store = self.store_lock()?;
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
        Ok(super::objectid::mailbox_id(&self.selectable(name)?)?)
    }

    fn status(&mut self, name: &str) -> Result<Status> {
        let dir = self.selectable(name)?;
        let _lock = lock_mailbox(&dir)?;
        let r = refresh(&self.root, &dir, false)?;
        let ix = &r.index;
        let len = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        // One pass over the records.
        let (mut unseen, mut deleted, mut size, mut deleted_size) = (0, 0, 0, 0);
        for e in ix.iter_without_names() {
            unseen += usize::from(!e.flags.has(flag::SEEN));
            size += e.size;
            if e.flags.has(flag::DELETED) {
                deleted += 1;
                deleted_size += e.size;
            }
        }
        Ok(Status {
            messages: len(ix.len()),
            recent: len(ix.len() - ix.after(r.recent_from.saturating_sub(1))),
            uid_next: ix.uid_next,
            uid_validity: ix.uid_validity,
            unseen: len(unseen),
            highest_modseq: ix.highest_modseq,
            size,
            deleted: len(deleted),
            deleted_size,
        })
    }

    fn open(&mut self, name: &str, read_only: bool) -> Result<Box<dyn Mailbox>> {
        let dir = self.selectable(name)?;
        Ok(Box::new(MaildirMailbox::open(
            self.root.clone(),
            dir,
            read_only,
        )?))
    }

    fn append(&mut self, name: &str, messages: &mut [NewMessage<'_>]) -> Result<Appended> {
        let dir = self.selectable(name)?;
        // RFC 9208 [OVERQUOTA] before anything is written.
        let total: u64 = messages.iter().map(|m| m.len).sum();
        quota::check(&self.root, total, messages.len() as u64)?;
        let mut prepared: Vec<Prepared> = Vec::with_capacity(messages.len());
        let r = (|| -> Result<Appended> {
            for m in messages.iter_mut() {
                if m.len > APPEND_MAX {
                    return Err(StoreError::Limit("message too large"));
                }
                let base = unique_base();
                let tmp = dir.join("tmp").join(&base);
                // Recorded before writing so that a failure removes it.
                prepared.push(Prepared {
                    tmp: Some(tmp.clone()),
                    link_from: None,
                    base: String::new(),
                    size: 0,
                    date: 0,
                    zone: 0,
                    flags: m.flags.clone(),
                });
                let (stored, crlf) = write_message(m.data, m.len, &tmp)?;
                let (date, zone) = m.internal_date.unwrap_or_else(|| {
                    let now = chrono::Local::now();
                    (now.timestamp(), now.offset().local_minus_utc() / 60)
                });
                set_mtime(&tmp, date)?;
                if let Some(p) = prepared.last_mut() {
                    p.base = format!("{base},S={stored},W={crlf}");
                    p.size = crlf;
                    p.date = date;
                    p.zone = zone;
                }
            }
            let appended = commit(&self.root, &dir, &prepared)?;
            record_quota(&self.root, &prepared);
            Ok(appended)
        })()
        .map_err(|e| delivery_error(&dir, e));
        if r.is_err() {
            for p in &prepared {
                if let Some(t) = &p.tmp {
                    let _ = fs::remove_file(t);
                }
            }
        }
        r
    }
}

/// The stored size of a message about to be committed (its `S=`, or its
/// file's length).
fn stored_of(p: &Prepared) -> u64 {
    size_field(&p.base, 'S')
        .or_else(|| {
            let f = p.tmp.as_ref().or(p.link_from.as_ref())?;
            fs::metadata(f).ok().map(|m| m.len())
        })
        .unwrap_or(0)
}

/// Notes the committed messages in the Maildir++ quota's use.
fn record_quota(root: &Path, prepared: &[Prepared]) {
    let bytes: u64 = prepared.iter().map(stored_of).sum();
    quota::record(
        root,
        i64::try_from(bytes).unwrap_or(i64::MAX),
        prepared.len() as i64,
    );
}

/// One open Maildir mailbox and this session's view of it.
#[derive(Debug)]
pub struct MaildirMailbox {
    root: PathBuf,
    dir: PathBuf,
    read_only: bool,
    uid_validity: u32,
    uid_next: Uid,
    highest_modseq: ModSeq,
    /// The keyword table as last reported (by open or sync).
    keywords: Vec<String>,
    /// What the client was told; the rest of each message is in `state`.
    view: View,
    /// Highest UID ever in the view: anything above is new.
    last_uid: Uid,
    /// The stamp of the files when `state` was last known to match them,
    /// and when it was taken: lets a command skip the directory scan and
    /// the index read when nothing changed.
    seen: Option<(Stamp, SystemTime)>,
    /// The index and the files as of `seen`. `None` only after a look at
    /// the mailbox failed; the next command looks again.
    state: Option<Refreshed>,
    /// `state` may say what the files do not (a change failed half-way):
    /// the next look reads the index again instead of catching up.
    stale: bool,
    /// The view holds messages removed on disk but not yet reported.
    held_back: bool,
    /// ENVELOPE/BODYSTRUCTURE cache (DESIGN.md 5).
    cache: super::cache::Cache,
    /// POP3 UIDLs kept from the previous server, by UID.
    pop3_uidls: HashMap<Uid, String>,
    /// Flag changes are kept in the index at once and given to the file
    /// names by `flush_renames` (a session calls it when the client's
    /// pipeline drains): a `STORE +FLAGS \Deleted` and the EXPUNGE after
    /// it renames nothing, as with Dovecot.
    defer_renames: bool,
    /// Messages whose name does not yet show their flags.
    pending_renames: Vec<Uid>,
    /// new/ and cur/, opened at the first message read or date looked up
    /// (`sub_dirs`): each message is then opened by its name alone
    /// (`open::read_at`). Empty inside if they could not be opened.
    sub_dirs: OnceCell<Option<[fs::File; 2]>>,
    /// INTERNALDATEs read by `internal_date` for messages the index holds
    /// as `DATE_UNKNOWN`, in UID order (`learned`), until `save_dates`
    /// gives them to the index.
    learned_dates: RefCell<Vec<(Uid, i64)>>,
}

/// What a sync reads, as `stat` shows it: new/, cur/, the index log and
/// the keyword file (modification time, size, inode). Any delivery, flag
/// change (rename), expunge (unlink), commit (the log grows) or fold (a new
/// log) by another process changes at least one of them.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Stamp([Option<(SystemTime, u64, u64)>; 4]);

impl Stamp {
    fn of(dir: &Path) -> Stamp {
        let m = |p: PathBuf| {
            fs::metadata(p)
                .and_then(|m| Ok((m.modified()?, m.len(), m.ino())))
                .ok()
        };
        Stamp([
            m(dir.join("new")),
            m(dir.join("cur")),
            m(dir.join(index::LOG_FILE)),
            m(dir.join(KEYWORDS_FILE)),
        ])
    }

    /// True when `self` was taken at `at` and every time in it was at least
    /// a second older: a later change within the same timestamp tick
    /// cannot then hide behind an unchanged time.
    fn settled(&self, at: SystemTime) -> bool {
        self.0.iter().flatten().all(|(t, _, _)| {
            t.checked_add(crate::limits::MAILDIR_STAMP_SETTLE)
                .is_some_and(|t| t < at)
        })
    }

    /// Until a second after its newest time, an unsettled stamp is taken
    /// as it is (a change of another program in the same tick is found by
    /// the look after that, as Dovecot does): a burst of our own changes
    /// must not cost a scan each.
    fn young(&self, now: SystemTime) -> bool {
        self.0.iter().flatten().any(|(t, _, _)| {
            t.checked_add(crate::limits::MAILDIR_STAMP_SETTLE)
                .is_some_and(|t| now < t)
        })
    }
}

/// Message `e` of the index as the view shows it.
fn message_of(e: &Entry, recent: bool) -> Message {
    Message {
        uid: e.uid,
        flags: e.flags.clone(),
        recent,
        modseq: e.modseq,
        internal_date: e.date,
        internal_date_zone: e.zone,
        size: e.size,
    }
}

impl MaildirMailbox {
    fn open(root: PathBuf, dir: PathBuf, read_only: bool) -> Result<MaildirMailbox> {
        if !read_only {
            clean_tmp(&dir);
        }
        let (r, seen) = {
            let _lock = lock_mailbox(&dir)?;
            let r = refresh(&root, &dir, !read_only)?;
            (r, (Stamp::of(&dir), SystemTime::now()))
        };
        let mut mb = MaildirMailbox {
            seen: Some(seen),
            state: None,
            stale: false,
            held_back: false,
            cache: super::cache::Cache::new(&dir, r.index.uid_validity),
            pop3_uidls: read_pop3_uidls(&dir),
            root,
            dir,
            read_only,
            uid_validity: r.index.uid_validity,
            uid_next: r.index.uid_next,
            highest_modseq: r.index.highest_modseq,
            keywords: r.index.keywords.clone(),
            view: View::default(),
            last_uid: 0,
            defer_renames: false,
            pending_renames: Vec::new(),
            sub_dirs: OnceCell::new(),
            learned_dates: RefCell::default(),
        };
        // The view starts as the index's own list of UIDs, not a copy.
        let uids = r.index.shared_uids();
        mb.last_uid = uids.last().copied().unwrap_or(0);
        mb.view = View::of(uids, r.index.highest_modseq, r.recent_from);
        mb.keep_state(r);
        Ok(mb)
    }

    fn push(&mut self, uid: Uid, r: &Refreshed) {
        self.view.push(uid, uid >= r.recent_from);
        self.last_uid = uid;
    }

    /// Makes `r` the state: the entries it dropped that the view still
    /// shows become the view's ghosts.
    fn keep_state(&mut self, mut r: Refreshed) {
        self.take_dropped(&mut r);
        self.state = Some(r);
    }

    fn take_dropped(&mut self, r: &mut Refreshed) {
        for e in std::mem::take(&mut r.index.dropped.0) {
            let recent = self.view.is_recent(e.uid);
            let mut m = message_of(&e, recent);
            if m.internal_date == DATE_UNKNOWN {
                // Its file is gone: the date this session read, else the
                // delivery time its name begins with.
                m.internal_date = learned(self.learned_dates.get_mut(), e.uid)
                    .unwrap_or_else(|_| name_time(&e.name).unwrap_or(0));
            }
            self.view.add_ghost(m);
        }
    }

    /// After a change failed half-way: `r` is kept for what the view
    /// shows, and the next look reads the files again.
    fn keep_stale(&mut self, r: Refreshed) {
        self.keep_state(r);
        self.stale = true;
        self.seen = None;
    }

    /// Whether `stamp`, taken now, says the files are as `state` has them.
    fn trusted(&self, stamp: &Stamp) -> bool {
        self.state.is_some()
            && self.seen.as_ref().is_some_and(|(seen, at)| {
                seen == stamp && (seen.settled(*at) || seen.young(SystemTime::now()))
            })
    }

    /// Takes the mailbox lock and makes `state` match the files: as it is
    /// when nothing changed since it was taken (unless `force`), by a full
    /// refresh otherwise. Returns the lock and the state, taken out of
    /// `self` until `settle` puts it back.
    fn lock_state(&mut self, take_recent: bool, force: bool) -> Result<(Lock, Refreshed)> {
        let lock = lock_mailbox(&self.dir)?;
        if !force && self.trusted(&Stamp::of(&self.dir)) {
            if let Some(r) = self.state.take() {
                // New messages seen by a look that took no \Recent must be
                // looked at again by one that does.
                let unseen = r.index.after(self.last_uid) < r.index.len();
                if !take_recent || r.took_recent || !unseen {
                    return Ok((lock, r));
                }
                self.state = Some(r);
            }
        }
        let trust = !std::mem::take(&mut self.stale);
        let mut r = refresh_from(&self.root, &self.dir, take_recent, self.state.take(), trust)?;
        self.take_dropped(&mut r);
        if r.index.uid_validity != self.uid_validity {
            return Err(StoreError::Corrupt(
                "UIDVALIDITY changed; the mailbox must be selected again".into(),
            ));
        }
        Ok((lock, r))
    }

    /// Whether `state` holds what the view has not reported: a look under
    /// the lock for this session's own change (a STORE, an EXPUNGE) also
    /// took in other sessions' flag changes, expunges and new mail, and the
    /// files then match `state`, so the next sync cannot rely on them
    /// having changed.
    fn state_has_news(&self) -> bool {
        let Some(r) = &self.state else {
            return false;
        };
        let known = r.index.after(self.last_uid);
        known < r.index.len()
            || known != self.view.len()
            || r.index
                .newer_than(self.view.told_at())
                .into_iter()
                .any(|(uid, modseq)| uid <= self.last_uid && self.view.is_news(uid, modseq))
    }

    /// Records the files' stamp as of now as the one `state` matches; the
    /// caller holds the lock (so no other session can commit meanwhile).
    fn mark_seen(&mut self) {
        self.seen = Some((Stamp::of(&self.dir), SystemTime::now()));
    }

    /// STORE on the messages at `indexes` with the lock held and `r`
    /// current; records in `done` the indexes whose flags changed and
    /// those whose modseq was above `since`, and returns those whose file
    /// was not where `r` said.
    fn store_locked(
        &mut self,
        r: &mut Refreshed,
        indexes: &[usize],
        op: FlagOp,
        flags: &Flags,
        since: Option<ModSeq>,
        done: &mut Done,
    ) -> Result<Vec<usize>> {
        let ix = &mut r.index;
        let table_before = ix.keywords.clone();
        if op != FlagOp::Remove {
            for k in &flags.keywords {
                ix.add_keyword(k)?;
            }
        }
        if ix.keywords[..ix.keywords.len().min(LETTERS)]
            != table_before[..table_before.len().min(LETTERS)]
        {
            write_keyword_file(&self.dir, &ix.keywords)?;
        }
        let mut dirty = ix.keywords != table_before;
        let mut missing = Vec::new();
        for &i in indexes {
            let Some(uid) = self.view.get(i) else {
                continue;
            };
            let Some(k) = ix.find(uid) else {
                continue; // gone; the next sync reports it
            };
            let mut e = ix.get(k);
            if since.is_some_and(|n| e.modseq > n) {
                done.modified.push(i);
                continue;
            }
            let mut nf = e.flags.clone();
            if nf.apply(op, flags) {
                nf = canonical(&nf, &ix.keywords);
                let (base, old_letters) = split_name(&e.name);
                let name = format!("{base}:2,{}", letters_for(&nf, &ix.keywords, old_letters));
                let from = self.dir.join(place(e.new).dir()).join(&*e.name);
                let to = self.dir.join("cur").join(&name);
                if from != to && self.defer_renames {
                    // The index says it now; the name when the pipeline
                    // drains (`flush_renames`).
                    self.pending_renames.push(uid);
                } else if from != to {
                    match fs::rename(&from, &to) {
                        Ok(()) => {}
                        Err(e) if e.kind() == io::ErrorKind::NotFound => {
                            missing.push(i);
                            continue;
                        }
                        Err(e) => return Err(StoreError::Io(e)),
                    }
                    e.name = name.into();
                    e.new = false;
                }
                e.modseq = ix.bump();
                e.flags = nf;
                ix.set(k, e.clone());
                dirty = true;
            }
            if self.view.is_news(uid, e.modseq) {
                self.view.tell(uid, e.modseq);
                done.changed.push(i);
            }
        }
        if dirty {
            r.snapshot = Some(ix.save(&self.dir, r.snapshot.as_ref())?);
        }
        // The caller reports new keywords itself (FLAGS before the FETCH
        // that uses them), so sync must not report them again.
        self.keywords = ix.keywords.clone();
        self.highest_modseq = ix.highest_modseq;
        Ok(missing)
    }

    /// Renames each file whose flags changed since its name was given, so
    /// that other Maildir programs see them; the index keeps the new name
    /// (under the same modseq: no flag changed). A file another program
    /// renamed meanwhile keeps that program's name and flags.
    fn rename_pending(&mut self) -> Result<()> {
        let mut pending = std::mem::take(&mut self.pending_renames);
        if pending.is_empty() || self.read_only {
            return Ok(());
        }
        pending.sort_unstable();
        pending.dedup();
        let (_lock, mut r) = self.lock_state(false, false)?;
        let mut renamed = false;
        let mut failed = None;
        for uid in pending {
            let Some(k) = r.index.find(uid) else {
                continue; // expunged since
            };
            let mut e = r.index.get(k);
            let (base, old_letters) = split_name(&e.name);
            let letters = letters_for(&e.flags, &r.index.keywords, old_letters);
            let name = format!("{base}:2,{letters}");
            let from = self.dir.join(place(e.new).dir()).join(&*e.name);
            let to = self.dir.join("cur").join(&name);
            if from == to {
                continue;
            }
            match fs::rename(&from, &to) {
                Ok(()) => {
                    e.name = name.into();
                    e.new = false;
                    r.index.set_renamed(k, e);
                    renamed = true;
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    failed = Some(StoreError::Io(e));
                    break;
                }
            }
        }
        let saved = if renamed {
            r.index.save(&self.dir, r.snapshot.as_ref()).map(Some)
        } else {
            Ok(None)
        };
        self.keep_saved(r, saved)?;
        failed.map_or(Ok(()), Err)
    }

    /// Ends a change made under the lock to `r` that no client is told of
    /// (renames, dates) and `saved` (if it was): keeps `r`, as stale if
    /// the save failed.
    fn keep_saved(
        &mut self,
        mut r: Refreshed,
        saved: Result<Option<index::Snapshot>>,
    ) -> Result<()> {
        match saved {
            Ok(snapshot) => {
                if snapshot.is_some() {
                    r.snapshot = snapshot;
                }
                self.mark_seen();
                self.keep_state(r);
                Ok(())
            }
            Err(e) => {
                self.keep_stale(r);
                Err(e)
            }
        }
    }

    /// new/ and cur/, opened once (`None` if they cannot be).
    fn sub_dirs(&self) -> Option<&[fs::File; 2]> {
        self.sub_dirs
            .get_or_init(|| {
                let open = |sub: Sub| crate::store::open::directory(&self.dir.join(sub.dir()));
                match (open(Sub::New), open(Sub::Cur)) {
                    (Ok(new), Ok(cur)) => Some([new, cur]),
                    _ => None,
                }
            })
            .as_ref()
    }

    /// The INTERNALDATE of entry `e`, which the index holds as
    /// `DATE_UNKNOWN`: its file's mtime, read once a session and kept by
    /// `save_dates`. A file renamed by another program since the last look
    /// (the next look finds it) answers the delivery time its name begins
    /// with, for now.
    fn unknown_date(&self, e: &Entry) -> i64 {
        let at = match learned(&self.learned_dates.borrow(), e.uid) {
            Ok(d) => return d,
            Err(at) => at,
        };
        let looked = match self.sub_dirs() {
            Some([new, cur]) => {
                crate::store::open::mtime_at(if e.new { new } else { cur }, &e.name)
            }
            None => fs::symlink_metadata(self.dir.join(place(e.new).dir()).join(&*e.name))
                .map(|m| m.mtime()),
        };
        match looked {
            Ok(t) => {
                self.learned_dates.borrow_mut().insert(at, (e.uid, t));
                t
            }
            Err(_) => name_time(&e.name).unwrap_or(0),
        }
    }

    /// Gives the index the dates `unknown_date` read, so that no later
    /// session reads them again (a read-only session keeps them itself).
    fn save_dates(&mut self) -> Result<()> {
        if self.read_only || self.learned_dates.get_mut().is_empty() {
            return Ok(());
        }
        let learned = std::mem::take(self.learned_dates.get_mut());
        let (_lock, mut r) = self.lock_state(false, false)?;
        let saved = r
            .index
            .save_dates(&self.dir, r.snapshot.as_ref(), learned)
            .map(Some);
        self.keep_saved(r, saved)
    }

    /// The path of message `index` as the state has it; with `force` (the
    /// file was not there), after looking at the mailbox again.
    fn locate(&mut self, index: usize, force: bool) -> Result<PathBuf> {
        let (sub, name) = self.locate_name(index, force)?;
        Ok(self.dir.join(sub.dir()).join(&*name))
    }

    /// `locate`, as the subdirectory and the file's name in it.
    fn locate_name(
        &mut self,
        index: usize,
        force: bool,
    ) -> Result<(Sub, std::borrow::Cow<'static, str>)> {
        let uid = self.view.get(index).ok_or(StoreError::Expunged)?;
        if force || self.state.is_none() {
            let (_lock, r) = self.lock_state(false, force)?;
            self.mark_seen();
            self.keep_state(r);
        }
        let r = self.state.as_ref().ok_or(StoreError::Expunged)?;
        let e = r.index.get(r.index.find(uid).ok_or(StoreError::Expunged)?);
        Ok((place(e.new), e.name.clone()))
    }

    /// Where view message `index` (UID `uid`) is in the index: the view is
    /// usually the index itself, so the same place is tried first.
    fn index_position(&self, index: usize, uid: Uid) -> Option<usize> {
        let r = self.state.as_ref()?;
        if index < r.index.len() && r.index.uid_at(index) == uid {
            Some(index)
        } else {
            r.index.find(uid)
        }
    }

    fn table_keywords(table: &[String]) -> Vec<String> {
        table.iter().filter(|k| !k.is_empty()).cloned().collect()
    }
}

impl Drop for MaildirMailbox {
    /// A mailbox closed with flag changes not yet in the names gives them
    /// their names now.
    fn drop(&mut self) {
        if let Err(e) = self.rename_pending() {
            log::warn!(
                "{}: flag changes not in the file names: {e}",
                self.dir.display()
            );
        }
        if let Err(e) = self.save_dates() {
            log::warn!("{}: internal dates not kept: {e}", self.dir.display());
        }
    }
}

impl Mailbox for MaildirMailbox {
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
        self.highest_modseq
    }

    fn changed_since(&self, since: ModSeq) -> Vec<usize> {
        let Some(r) = &self.state else {
            return Vec::new();
        };
        // The index's changes, then their places in the view (a ghost, an
        // expunge not reported yet, is not in the index: it answers as it
        // was).
        let mut out: Vec<usize> = r
            .index
            .newer_than(since)
            .into_iter()
            .filter_map(|(uid, _)| self.view.find(uid).ok())
            .collect();
        out.sort_unstable();
        out
    }

    fn vanished_since(&self, since: ModSeq) -> Vec<std::ops::RangeInclusive<Uid>> {
        self.state
            .as_ref()
            .map_or_else(Vec::new, |r| r.index.vanished_since(since))
    }

    fn count(&self) -> usize {
        self.view.len()
    }

    fn seen_recent(&self, index: usize) -> (bool, bool) {
        let uid = self.view.uid(index);
        if let Some(g) = self.view.ghost(uid) {
            return (g.flags.has(flag::SEEN), g.recent);
        }
        let system = self.state.as_ref().and_then(|r| {
            self.index_position(index, uid)
                .map(|k| r.index.system_at(k))
        });
        (
            system.is_some_and(|s| s & flag::SEEN != 0),
            self.view.is_recent(uid),
        )
    }

    fn message(&self, index: usize) -> Message {
        let uid = self.view.uid(index);
        if let Some(g) = self.view.ghost(uid) {
            return g.clone();
        }
        let recent = self.view.is_recent(uid);
        let entry = self.state.as_ref().and_then(|r| {
            self.index_position(index, uid)
                .map(|k| r.index.get_without_name(k))
        });
        match entry {
            Some(e) => message_of(&e, recent),
            // Only after a look at the mailbox failed (the command that
            // looked was answered NO): the UID and nothing else.
            None => Message {
                uid,
                flags: Flags::default(),
                recent,
                modseq: 0,
                internal_date: 0,
                internal_date_zone: 0,
                size: 0,
            },
        }
    }

    fn internal_date(&self, index: usize) -> (i64, i32) {
        let m = self.message(index);
        if m.internal_date != DATE_UNKNOWN {
            return (m.internal_date, m.internal_date_zone);
        }
        let uid = self.view.uid(index);
        let entry = self
            .state
            .as_ref()
            .and_then(|r| self.index_position(index, uid).map(|k| r.index.get(k)));
        // A message expunged by another program before its date was read
        // has no file left to read it from.
        let date = entry.map_or(0, |e| self.unknown_date(&e));
        (date, m.internal_date_zone)
    }

    /// RFC 8514: the time a Maildir file name starts with, its leading
    /// digits (`unique_base`, every MDA's, mbsync's and offlineimap's:
    /// when it was delivered into this folder, also by our COPY and
    /// APPEND; a flag change keeps it); the internal date (the file's
    /// mtime at delivery) for a name without one.
    fn save_date(&self, index: usize) -> Option<i64> {
        let uid = self.view.uid(index);
        if self.view.ghost(uid).is_some() {
            return None;
        }
        let r = self.state.as_ref()?;
        let e = r.index.get(self.index_position(index, uid)?);
        Some(name_time(&e.name).unwrap_or_else(|| match e.date {
            DATE_UNKNOWN => self.unknown_date(&e),
            d => d,
        }))
    }

    fn uid(&self, index: usize) -> Uid {
        self.view.uid(index)
    }

    fn find_uid(&self, uid: Uid) -> std::result::Result<usize, usize> {
        self.view.find(uid)
    }

    fn keywords(&self) -> Vec<String> {
        Self::table_keywords(&self.keywords)
    }

    fn can_create_keywords(&self) -> bool {
        self.keywords().len() < KEYWORDS_MAX
    }

    fn sync(&mut self, allow_expunge: bool) -> Result<Changes> {
        // DESIGN.md 5: a command on a quiet mailbox costs four stats, not a
        // scan of every file name and a read of the index.
        if !self.held_back && self.trusted(&Stamp::of(&self.dir)) && !self.state_has_news() {
            return Ok(Changes::default());
        }
        let (lock, r) = self.lock_state(!self.read_only, false)?;
        self.mark_seen();
        drop(lock);
        self.held_back = false;
        let mut changes = Changes::default();
        let old_recent = self.view.recent_count();
        let mut flag_uids = Vec::new();
        let mut removed = Vec::new();
        let mut held_back = false;
        self.view.retain(|pos, uid| match r.index.find(uid) {
            Some(_) => true,
            None if allow_expunge => {
                removed.push(pos);
                changes.vanished.push(uid);
                false
            }
            None => {
                held_back = true;
                true
            }
        });
        self.held_back = held_back;
        changes.held_back = held_back;
        for (uid, modseq) in r.index.newer_than(self.view.told_at()) {
            if uid <= self.last_uid && self.view.is_news(uid, modseq) {
                flag_uids.push(uid);
            }
        }
        self.view.tell_all(r.index.highest_modseq);
        // Highest first: each number is then valid when it is sent.
        if !removed.is_empty() {
            self.cache.expunged();
        }
        changes.expunged = removed
            .iter()
            .rev()
            .map(|&p| u32::try_from(p + 1).unwrap_or(u32::MAX))
            .collect();
        let mut added = 0;
        for k in r.index.after(self.last_uid)..r.index.len() {
            self.push(r.index.uid_at(k), &r);
            added += 1;
        }
        for uid in flag_uids {
            if let Ok(p) = self.view.find(uid) {
                changes.flags.push(u32::try_from(p + 1).unwrap_or(u32::MAX));
            }
        }
        let len = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        if added > 0 {
            changes.exists = Some(len(self.view.len()));
        }
        let recent = self.view.recent_count();
        if changes.exists.is_some() || recent != old_recent {
            changes.recent = Some(len(recent));
        }
        if Self::table_keywords(&r.index.keywords) != self.keywords() {
            changes.keywords_changed = true;
        }
        self.keywords = r.index.keywords.clone();
        self.uid_next = r.index.uid_next;
        self.highest_modseq = r.index.highest_modseq;
        self.keep_state(r);
        Ok(changes)
    }

    fn open_message(&mut self, index: usize) -> Result<Box<dyn MessageRead>> {
        for attempt in 0..2 {
            let (sub, name) = self.locate_name(index, attempt > 0)?;
            let opened = match self.sub_dirs() {
                Some([new, cur]) => {
                    crate::store::open::read_at(if sub == Sub::New { new } else { cur }, &name)
                }
                None => crate::store::open::read(&self.dir.join(sub.dir()).join(&*name)),
            };
            match opened {
                Ok(f) => return Ok(Box::new(super::MessageFile(f))),
                // Renamed by another program since: look again.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(StoreError::Unreadable(format!(
                        "{}/{}/{name}: {e}",
                        self.dir.display(),
                        sub.dir()
                    )))
                }
            }
        }
        Err(StoreError::Expunged)
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
        let mut done = Done::default();
        let mut pending = indexes.to_vec();
        // The state in memory names each file as it was; a file another
        // program renamed since is not found (rename is atomic), and then
        // the mailbox is looked at again, once, for those messages.
        for attempt in 0..2 {
            let (_lock, mut r) = self.lock_state(false, attempt > 0)?;
            let result = self.store_locked(&mut r, &pending, op, flags, since, &mut done);
            let missing = match result {
                Ok(m) => m,
                Err(e) => {
                    self.keep_stale(r);
                    return Err(e);
                }
            };
            self.mark_seen();
            self.keep_state(r);
            pending = missing;
            if pending.is_empty() {
                break;
            }
        }
        done.changed.sort_unstable();
        done.changed.dedup();
        Ok((done.changed, done.modified))
    }

    fn expunge(&mut self, uids: Option<&[Uid]>) -> Result<Vec<u32>> {
        if self.read_only {
            return Err(StoreError::NotAllowed("mailbox is read-only"));
        }
        let only: Option<HashSet<Uid>> = uids.map(|u| u.iter().copied().collect());
        let mut removed = Vec::new();
        // The stored sizes of the files removed, for the quota's use.
        let mut freed: Vec<u64> = Vec::new();
        for attempt in 0..2 {
            let (_lock, mut r) = self.lock_state(false, attempt > 0)?;
            let mut gone_uids = HashSet::default();
            let mut renamed = false;
            let mut failed = None;
            removed.clear();
            for (i, &uid) in self.view.uids().iter().enumerate() {
                if only.as_ref().is_some_and(|s| !s.contains(&uid)) {
                    continue;
                }
                match r.index.find(uid) {
                    Some(k) => {
                        let e = r.index.get(k);
                        if !e.flags.has(flag::DELETED) {
                            continue;
                        }
                        let path = self.dir.join(place(e.new).dir()).join(&*e.name);
                        let size = stored_size(&e.name)
                            .or_else(|| fs::symlink_metadata(&path).ok().map(|m| m.len()));
                        match fs::remove_file(&path) {
                            Ok(()) => freed.push(size.unwrap_or(0)),
                            // Renamed by another program (its flags may have
                            // changed): look again before deciding.
                            Err(e) if e.kind() == io::ErrorKind::NotFound && attempt == 0 => {
                                renamed = true;
                                continue;
                            }
                            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                            Err(e) => {
                                failed = Some(StoreError::Io(e));
                                break;
                            }
                        }
                        gone_uids.insert(uid);
                    }
                    // Expunged by another, after it was \Deleted here.
                    None if self
                        .view
                        .ghost(uid)
                        .is_some_and(|g| g.flags.has(flag::DELETED)) => {}
                    None => continue,
                }
                removed.push(i);
            }
            if !gone_uids.is_empty() {
                r.index.expunge(|uid| gone_uids.contains(&uid));
                // The unlinks are not fsynced (as Dovecot does): a power
                // failure may bring an expunged message back, under a new
                // UID, never lose one.
                let saved = r.index.save(&self.dir, r.snapshot.as_ref());
                match saved {
                    Ok(snap) => r.snapshot = Some(snap),
                    Err(e) => failed = failed.or(Some(e)),
                }
            }
            if let Some(e) = failed {
                self.keep_stale(r);
                return Err(e);
            }
            self.highest_modseq = r.index.highest_modseq;
            self.mark_seen();
            self.keep_state(r);
            if !renamed {
                break;
            }
        }
        let bytes: u64 = freed.iter().sum();
        quota::record(
            &self.root,
            -i64::try_from(bytes).unwrap_or(i64::MAX),
            -(freed.len() as i64),
        );
        // Highest first: each number is then valid when it is sent.
        let seqs = removed
            .iter()
            .rev()
            .map(|&i| u32::try_from(i + 1).unwrap_or(u32::MAX))
            .collect();
        if !removed.is_empty() {
            self.cache.expunged();
        }
        let mut gone = removed.into_iter().peekable();
        self.view.retain(|i, _| gone.next_if_eq(&i).is_none());
        Ok(seqs)
    }

    fn copy(&mut self, indexes: &[usize], dest: &str) -> Result<Appended> {
        let store = Maildir {
            root: self.root.clone(),
        };
        let ddir = store.selectable(dest)?;
        let mut prepared = Vec::with_capacity(indexes.len());
        for &i in indexes {
            let path = self.locate(i, false)?;
            let m = self.message(i);
            let (date, zone) = self.internal_date(i);
            let file = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            let stored = size_field(split_name(file).0, 'S');
            let mut base = unique_base();
            if let Some(s) = stored {
                base.push_str(&format!(",S={s}"));
            }
            base.push_str(&format!(",W={}", m.size));
            prepared.push(Prepared {
                tmp: None,
                link_from: Some(path),
                base,
                size: m.size,
                date,
                zone,
                flags: m.flags.clone(),
            });
        }
        let total = prepared.iter().map(stored_of).sum();
        quota::check(&self.root, total, prepared.len() as u64)?;
        let appended =
            commit(&self.root, &ddir, &prepared).map_err(|e| delivery_error(&ddir, e))?;
        record_quota(&self.root, &prepared);
        Ok(appended)
    }

    fn cache_dir(&self) -> Option<std::path::PathBuf> {
        Some(self.cache.dir().to_path_buf())
    }

    fn cached(&mut self, index: usize, kind: super::cache::Kind) -> Option<Vec<u8>> {
        let uid = self.view.get(index)?;
        self.cache.get(uid, kind)
    }

    fn cache(&mut self, index: usize, kind: super::cache::Kind, data: &[u8]) {
        if let Some(uid) = self.view.get(index) {
            self.cache.put(uid, kind, data, &self.view.live());
        }
    }

    fn pop3_uidl(&self, index: usize) -> Option<String> {
        let uid = self.view.get(index)?;
        self.pop3_uidls.get(&uid).cloned()
    }

    fn defer_renames(&mut self) {
        self.defer_renames = true;
    }

    fn renames_deferred(&self) -> bool {
        !self.pending_renames.is_empty()
    }

    fn flush_renames(&mut self) -> Result<()> {
        self.rename_pending()
    }

    fn watch_paths(&self) -> Vec<PathBuf> {
        // Deliveries into new/, renames in cur/, and the index and its
        // log beside them (other sessions' changes).
        vec![self.dir.join("new"), self.dir.join("cur"), self.dir.clone()]
    }

    fn flush_cache(&mut self) {
        // A read-only session may still cache: the data is the same for
        // every session and costs nothing but the file.
        self.cache.flush(&self.view.live());
        if let Err(e) = self.save_dates() {
            log::warn!("{}: internal dates not kept: {e}", self.dir.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Maildir) {
        let t = tempfile::tempdir().expect("tempdir");
        let s = Maildir::open_store(t.path().join("Maildir")).expect("open_store");
        (t, s)
    }

    fn append(s: &mut Maildir, name: &str, body: &str, flags: Flags) -> Appended {
        let mut data = body.as_bytes();
        let mut m = [NewMessage {
            flags,
            internal_date: Some((1_000_000_000, 60)),
            data: &mut data,
            len: body.len() as u64,
        }];
        s.append(name, &mut m).expect("append")
    }

    fn deliver(dir: &Path, name: &str, body: &str) {
        fs::write(dir.join("tmp").join(name), body).expect("write");
        fs::rename(dir.join("tmp").join(name), dir.join("new").join(name)).expect("rename");
    }

    fn seen() -> Flags {
        Flags {
            system: flag::SEEN,
            keywords: vec![],
        }
    }

    fn cur_names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir.join("cur"))
            .expect("cur")
            .map(|e| e.expect("entry").file_name().into_string().expect("utf8"))
            .collect();
        // In delivery order: by the seconds and microseconds of the name
        // (`M92939` comes before `M101724`, which plain sorting reverses).
        v.sort_by_key(|n| {
            let mut p = n.split('.');
            let secs = p.next().and_then(|x| x.parse::<u64>().ok());
            let usecs = p
                .next()
                .and_then(|x| x.strip_prefix('M'))
                .map(|x| {
                    x.chars()
                        .take_while(char::is_ascii_digit)
                        .collect::<String>()
                })
                .and_then(|x| x.parse::<u64>().ok());
            (secs, usecs, n.clone())
        });
        v
    }

    fn with(system: u8) -> Flags {
        Flags {
            system,
            keywords: vec![],
        }
    }

    /// Right after our own change the state in memory is used without a
    /// scan; a file another program renamed meanwhile is found again
    /// (rename and unlink fail on the old name), and its flags are kept.
    #[test]
    fn store_and_expunge_after_another_program_renamed_the_file() {
        let (_t, mut s) = store();
        let root = s.root().to_path_buf();
        append(&mut s, "INBOX", "a\n", seen());
        append(&mut s, "INBOX", "b\n", with(flag::DELETED));
        let mut a = s.open("INBOX", false).expect("a");
        a.store(&[0], FlagOp::Add, &with(flag::FLAGGED))
            .expect("store");
        let names = cur_names(&root);
        assert!(
            names[0].ends_with(":2,FS") && names[1].ends_with(":2,T"),
            "{names:?}"
        );
        // mutt takes \Seen from the first and \Deleted from the second.
        let first = names[0].trim_end_matches('S').to_string();
        let second = names[1].trim_end_matches('T').to_string();
        fs::rename(
            root.join("cur").join(&names[0]),
            root.join("cur").join(&first),
        )
        .expect("rename");
        fs::rename(
            root.join("cur").join(&names[1]),
            root.join("cur").join(&second),
        )
        .expect("rename");
        a.store(&[0], FlagOp::Add, &with(flag::ANSWERED))
            .expect("store");
        assert!(a.expunge(None).expect("expunge").is_empty());
        let names = cur_names(&root);
        assert!(names[0].ends_with(":2,FR"), "{names:?}");
        assert_eq!(names[1], second);
        assert_eq!(a.count(), 2);
        let b = s.open("INBOX", true).expect("b");
        assert_eq!(b.message(0).flags, with(flag::FLAGGED | flag::ANSWERED));
        assert_eq!(b.message(1).flags, Flags::default());
    }

    /// Commits of two sessions within one clock tick: each sees the
    /// other's and none is lost. The tick is made by putting the times
    /// back; the log's size, in the stamp, still tells.
    #[test]
    fn two_sessions_committing_in_one_tick_lose_nothing() {
        let (_t, mut s) = store();
        let root = s.root().to_path_buf();
        for body in ["a\n", "b\n", "c\n"] {
            append(&mut s, "INBOX", body, Flags::default());
        }
        let mut a = s.open("INBOX", false).expect("a");
        let mut b = s.open("INBOX", false).expect("b");
        let times = |root: &Path| -> Vec<SystemTime> {
            ["cur", "new", index::LOG_FILE]
                .iter()
                .map(|p| {
                    fs::metadata(root.join(p))
                        .and_then(|m| m.modified())
                        .expect("stat")
                })
                .collect()
        };
        let put_back = |root: &Path, t: &[SystemTime]| {
            for (p, t) in ["cur", "new", index::LOG_FILE].iter().zip(t) {
                File::open(root.join(p))
                    .and_then(|f| f.set_modified(*t))
                    .expect("utime");
            }
        };
        for _ in 0..5 {
            a.store(&[0], FlagOp::Add, &with(flag::FLAGGED)).expect("a");
            let t = times(&root);
            b.store(&[1], FlagOp::Add, &with(flag::SEEN)).expect("b");
            put_back(&root, &t);
            a.store(&[2], FlagOp::Add, &with(flag::DRAFT)).expect("a");
            let t = times(&root);
            b.store(&[0], FlagOp::Remove, &with(flag::FLAGGED))
                .expect("b");
            put_back(&root, &t);
            let ca = a.sync(true).expect("a sync");
            assert_eq!(ca.flags, vec![1, 2], "{ca:?}");
            a.store(&[1], FlagOp::Remove, &with(flag::SEEN)).expect("a");
            a.store(&[2], FlagOp::Remove, &with(flag::DRAFT))
                .expect("a");
            b.sync(true).expect("b sync");
        }
        a.store(&[2], FlagOp::Add, &with(flag::DRAFT)).expect("a");
        let c = s.open("INBOX", true).expect("c");
        let got: Vec<u8> = c
            .collect_messages()
            .iter()
            .map(|m| m.flags.system)
            .collect();
        assert_eq!(got, vec![0, 0, flag::DRAFT]);
    }

    /// An open reads new/ and cur/ only when their times differ from
    /// those of the last scan that saw them settled.
    #[test]
    fn open_skips_the_scan_while_the_directories_are_unchanged() {
        let (_t, mut s) = store();
        let root = s.root().to_path_buf();
        append(&mut s, "INBOX", "a\n", seen());
        append(&mut s, "INBOX", "b\n", seen());
        let past = SystemTime::now() - Duration::from_secs(60);
        let set = |d: &str, t: SystemTime| {
            File::open(root.join(d))
                .and_then(|f| f.set_modified(t))
                .expect("utime");
        };
        set("new", past);
        set("cur", past);
        assert_eq!(s.open("INBOX", false).expect("open").count(), 2);
        // A file slipped in without changing the times: not seen, so the
        // directories were not read.
        fs::write(root.join("cur/3000.M1P1.host:2,S"), "c\n").expect("write");
        set("cur", past);
        assert_eq!(s.open("INBOX", false).expect("open").count(), 2);
        // Any change of the times: read again.
        set("cur", past + Duration::from_secs(1));
        assert_eq!(s.open("INBOX", false).expect("open").count(), 3);
        fs::write(root.join("tmp/x"), "d\n").expect("write");
        fs::rename(root.join("tmp/x"), root.join("new/4000.M1P1.host")).expect("rename");
        assert_eq!(s.open("INBOX", false).expect("open").count(), 4);
    }

    /// A Maildir indexed by an earlier version (the text index, base
    /// names only) keeps its UIDVALIDITY and every UID, and its flags
    /// come from the file names.
    #[test]
    fn the_text_index_of_earlier_versions_is_converted() {
        let (_t, s) = store();
        let root = s.root().to_path_buf();
        for (n, flags) in [(1, "S"), (2, "FS"), (3, "")] {
            fs::write(
                root.join(format!("cur/100{n}.M{n}P1.host,W=3:2,{flags}")),
                "x\n",
            )
            .expect("write");
        }
        let text = "mailaccess-index 2\nuidvalidity 777\nuidnext 40\nhighestmodseq 9\n\
firstrecent 40\nkeywords 0\nmessages 3\n\
5 3 3 1000 0 S - 1001.M1P1.host,W=3\n\
17 4 3 1000 0 - - 1002.M2P1.host,W=3\n\
30 5 3 1000 0 - - 1003.M3P1.host,W=3\n";
        let sum = {
            let mut h: u64 = 0xcbf2_9ce4_8422_2325;
            for &b in text.as_bytes() {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0000_0100_0000_01b3);
            }
            h
        };
        fs::write(
            root.join(index::TEXT_INDEX_FILE),
            format!("{text}end {sum:016x}\n"),
        )
        .expect("write");
        let mut s = s;
        let mb = s.open("INBOX", false).expect("open");
        assert_eq!(mb.uid_validity(), 777);
        let got: Vec<(Uid, u8)> = mb
            .collect_messages()
            .iter()
            .map(|m| (m.uid, m.flags.system))
            .collect();
        assert_eq!(
            got,
            vec![(5, flag::SEEN), (17, flag::FLAGGED | flag::SEEN), (30, 0)]
        );
        assert!(!root.join(index::TEXT_INDEX_FILE).exists());
        assert!(mb.highest_modseq() > 9);
        drop(mb);
        let again = s.open("INBOX", true).expect("open");
        assert_eq!(again.uid_validity(), 777);
        assert_eq!(again.message(2).uid, 30);
    }

    /// One session follows another's commits from the log, across the
    /// folds that the other's many changes cause, and ends with the same
    /// flags, UIDs and modseqs as a fresh open.
    #[test]
    fn a_session_follows_anothers_log_across_folds() {
        let (_t, mut s) = store();
        let root = s.root().to_path_buf();
        for n in 0..50 {
            append(&mut s, "INBOX", &format!("m{n}\n"), Flags::default());
        }
        let mut a = s.open("INBOX", false).expect("a");
        let mut b = s.open("INBOX", false).expect("b");
        let log_id =
            |root: &Path| fs::read(root.join(index::LOG_FILE)).expect("log")[8..16].to_vec();
        let first_log = log_id(&root);
        let mut folds = 0;
        let mut last_log = first_log.clone();
        for i in 0..2000 {
            let bit = if i % 3 == 0 {
                flag::SEEN
            } else {
                flag::FLAGGED
            };
            let op = if (i / 50) % 2 == 0 {
                FlagOp::Add
            } else {
                FlagOp::Remove
            };
            b.store(&[i % 50], op, &with(bit)).expect("b store");
            let now = log_id(&root);
            if now != last_log {
                folds += 1;
                last_log = now;
            }
            if i % 37 == 0 {
                a.sync(true).expect("a sync");
                let fa: Vec<(Uid, u8, ModSeq)> = a
                    .collect_messages()
                    .iter()
                    .map(|m| (m.uid, m.flags.system, m.modseq))
                    .collect();
                let fb: Vec<(Uid, u8, ModSeq)> = b
                    .collect_messages()
                    .iter()
                    .map(|m| (m.uid, m.flags.system, m.modseq))
                    .collect();
                assert_eq!(fa, fb, "after change {i}");
            }
        }
        assert!(folds >= 2, "{folds} folds: the test proved little");
        a.sync(true).expect("a sync");
        let fresh = s.open("INBOX", true).expect("fresh");
        let f: Vec<(Uid, u8, ModSeq)> = fresh
            .collect_messages()
            .iter()
            .map(|m| (m.uid, m.flags.system, m.modseq))
            .collect();
        let fa: Vec<(Uid, u8, ModSeq)> = a
            .collect_messages()
            .iter()
            .map(|m| (m.uid, m.flags.system, m.modseq))
            .collect();
        assert_eq!(fa, f);
        assert_eq!(a.highest_modseq(), fresh.highest_modseq());
    }

    /// APPEND reads the index without scanning the mailbox: a message an
    /// MTA delivered meanwhile still gets its own UID at the next look.
    #[test]
    fn append_beside_a_delivery_gives_each_its_own_uid() {
        let (_t, mut s) = store();
        let root = s.root().to_path_buf();
        append(&mut s, "INBOX", "a\n", Flags::default());
        let mut a = s.open("INBOX", false).expect("a");
        deliver(&root, "3000.M1P1.host", "mta\n");
        let got = append(&mut s, "INBOX", "b\n", seen());
        let c = a.sync(true).expect("sync");
        assert_eq!(c.exists, Some(3));
        let uids: Vec<Uid> = a.collect_messages().iter().map(|m| m.uid).collect();
        assert!(uids.windows(2).all(|w| w[0] < w[1]), "{uids:?}");
        assert!(uids.contains(&got.uids[0]));
    }

    #[test]
    fn quiet_sync_skips_the_scan_but_sees_changes() {
        let (t, mut s) = store();
        append(&mut s, "INBOX", "Subject: a\r\n\r\nx\r\n", seen());
        let dir = t.path().join("Maildir");
        let mut mb = s.open("INBOX", false).expect("open");
        // Let the directory times settle, then look once so the stamp is
        // taken on a settled mailbox.
        std::thread::sleep(crate::limits::MAILDIR_STAMP_SETTLE + Duration::from_millis(100));
        assert!(mb.sync(true).expect("sync").is_empty());
        // Damage the index but keep its time: a sync that read it would
        // rebuild under a new UIDVALIDITY and fail; a skipping one cannot see it.
        let ix = dir.join(index::INDEX_FILE);
        let mtime = fs::metadata(&ix).and_then(|m| m.modified()).expect("mtime");
        let len = fs::metadata(&ix).expect("meta").len();
        fs::write(&ix, vec![b'x'; len as usize]).expect("damage");
        File::options()
            .write(true)
            .open(&ix)
            .and_then(|f| f.set_modified(mtime))
            .expect("set mtime");
        assert!(mb.sync(true).expect("skipped sync").is_empty());
        // A delivery changes new/'s time: the next sync scans and finds it,
        // reading only the log after what it knew (not the main file).
        deliver(&dir, "9.M9.x", "Subject: b\n\ny\n");
        assert_eq!(mb.sync(true).expect("sync").exists, Some(2));
        // A fresh open reads the main file, finds the damage and rebuilds
        // under a new UIDVALIDITY; the session then learns of it.
        let v = mb.uid_validity();
        assert!(s.open("INBOX", true).expect("fresh").uid_validity() > v);
        deliver(&dir, "10.M10.x", "Subject: c\n\nz\n");
        assert!(matches!(mb.sync(true), Err(StoreError::Corrupt(_))));
    }

    #[test]
    fn uids_stable_across_reopen() {
        let (_t, mut s) = store();
        let a = append(&mut s, "INBOX", "Subject: a\r\n\r\nx\r\n", Flags::default());
        let b = append(&mut s, "INBOX", "Subject: b\r\n\r\ny\r\n", seen());
        assert_eq!(a.uids, vec![1]);
        assert_eq!(b.uids, vec![2]);
        assert_eq!(a.uid_validity, b.uid_validity);
        let mb = s.open("INBOX", false).expect("open");
        let uids: Vec<Uid> = mb.collect_messages().iter().map(|m| m.uid).collect();
        assert_eq!(uids, vec![1, 2]);
        assert_eq!(mb.message(0).size, 17);
        assert_eq!(mb.internal_date(0).0, 1_000_000_000);
        assert_eq!(mb.message(0).internal_date_zone, 60);
        assert!(mb.message(1).flags.has(flag::SEEN));
        let v = mb.uid_validity();
        drop(mb);
        let mut s2 = Maildir::open_store(s.root().to_path_buf()).expect("reopen");
        let mut mb = s2.open("inbox", false).expect("open");
        assert_eq!(mb.uid_validity(), v);
        assert_eq!(
            mb.collect_messages()
                .iter()
                .map(|m| m.uid)
                .collect::<Vec<_>>(),
            vec![1, 2]
        );
        let mut body = String::new();
        mb.open_message(0)
            .expect("open_message")
            .read_to_string(&mut body)
            .expect("read");
        assert_eq!(body, "Subject: a\n\nx\n");
    }

    #[test]
    fn uidvalidity_changes_on_delete_and_create() {
        let (_t, mut s) = store();
        s.create("Work").expect("create");
        let v1 = s.status("Work").expect("status").uid_validity;
        append(&mut s, "Work", "a\r\n", Flags::default());
        s.delete("Work").expect("delete");
        assert!(matches!(s.status("Work"), Err(StoreError::NotFound)));
        s.create("Work").expect("create again");
        let st = s.status("Work").expect("status");
        assert!(st.uid_validity > v1);
        assert_eq!(st.messages, 0);
        assert!(matches!(s.create("Work"), Err(StoreError::AlreadyExists)));
        assert!(matches!(s.create("inbox"), Err(StoreError::AlreadyExists)));
        assert!(matches!(s.delete("INBOX"), Err(StoreError::NotAllowed(_))));
    }

    #[test]
    fn external_delivery_flag_change_and_unlink() {
        let (_t, mut s) = store();
        let root = s.root().to_path_buf();
        let mut mb = s.open("INBOX", false).expect("open");
        assert!(mb.count() == 0);
        deliver(&root, "1000.M1P1.host", "a\n");
        deliver(&root, "1001.M1P1.host", "bb\n");
        let c = mb.sync(true).expect("sync");
        assert_eq!(c.exists, Some(2));
        assert_eq!(c.recent, Some(2));
        assert_eq!(mb.message(1).size, 4);
        assert!(mb.collect_messages().iter().all(|m| m.recent));
        // mutt marks the first one seen
        let names = cur_names(&root);
        assert_eq!(names[0], "1000.M1P1.host:2,");
        fs::rename(
            root.join("cur").join(&names[0]),
            root.join("cur/1000.M1P1.host:2,S"),
        )
        .expect("rename");
        let before = mb.highest_modseq();
        let c = mb.sync(true).expect("sync");
        assert_eq!(c.flags, vec![1]);
        assert_eq!(c.exists, None);
        assert!(mb.message(0).flags.has(flag::SEEN));
        assert!(mb.highest_modseq() > before);
        assert!(mb.message(0).modseq > before);
        // and deletes the second
        fs::remove_file(root.join("cur/1001.M1P1.host:2,")).expect("unlink");
        let c = mb.sync(false).expect("sync");
        assert!(c.expunged.is_empty());
        assert_eq!(mb.count(), 2);
        // Until its EXPUNGE is sent, it answers as it did.
        let ghost = mb.message(1);
        assert_eq!((ghost.uid, ghost.size, ghost.recent), (2, 4, true));
        assert!(matches!(mb.open_message(1), Err(StoreError::Expunged)));
        let c = mb.sync(true).expect("sync");
        assert_eq!(c.expunged, vec![2]);
        assert_eq!(mb.count(), 1);
        assert!(mb.sync(true).expect("sync").is_empty());
        // In the expunge history, after the flag change.
        let (ix, _) = Index::load(&root).expect("load").expect("index");
        assert_eq!(ix.vanished_since(mb.message(0).modseq), [2..=2]);
        assert!(ix.vanished_since(ix.highest_modseq).is_empty());
    }

    #[test]
    fn a_message_expunged_by_another_session_answers_until_reported() {
        let (_t, mut s) = store();
        for body in ["one\r\n", "two two\r\n", "three\r\n"] {
            append(&mut s, "INBOX", body, Flags::default());
        }
        let mut a = s.open("INBOX", false).expect("a");
        let mut b = s.open("INBOX", false).expect("b");
        let deleted = Flags {
            system: flag::DELETED,
            keywords: vec![],
        };
        b.store(&[1], FlagOp::Add, &deleted).expect("store");
        assert_eq!(a.sync(true).expect("a sync").flags, vec![2]);
        let before = a.message(1);
        assert!(before.flags.has(flag::DELETED));
        assert_eq!(b.expunge(None).expect("expunge"), vec![2]);
        // FETCH, STORE and SEARCH may not report an expunge: a holds it.
        let c = a.sync(false).expect("a sync");
        assert!(c.expunged.is_empty());
        assert_eq!(a.count(), 3);
        assert_eq!(a.message(1), before);
        assert_eq!(a.message(2).size, 7);
        // A's own EXPUNGE reports it: it was \Deleted when a last saw it.
        assert_eq!(a.expunge(None).expect("a expunge"), vec![2]);
        assert_eq!(a.count(), 2);
        assert_eq!(
            a.collect_messages()
                .iter()
                .map(|m| m.uid)
                .collect::<Vec<_>>(),
            [1, 3]
        );
        assert!(a.sync(true).expect("a sync").is_empty());
        // One removed on disk by another program, then reported by a sync.
        let root = s.root().to_path_buf();
        let name = cur_names(&root).remove(0);
        fs::remove_file(root.join("cur").join(name)).expect("unlink");
        assert!(a.sync(false).expect("a sync").expunged.is_empty());
        assert_eq!(a.message(0).size, 5);
        assert_eq!(a.sync(true).expect("a sync").expunged, vec![1]);
        assert_eq!(a.message(0).uid, 3);
    }

    /// The other session's expunge reaches this one through a folded log:
    /// the index is read again, and the expunged message still answers
    /// from what this session knew until its EXPUNGE is sent.
    #[test]
    fn a_message_expunged_before_a_fold_is_a_ghost_after_the_reload() {
        let (_t, mut s) = store();
        let root = s.root().to_path_buf();
        for n in 0..20 {
            append(
                &mut s,
                "INBOX",
                &format!("m{n} {}\n", "x".repeat(n)),
                Flags::default(),
            );
        }
        let mut a = s.open("INBOX", false).expect("a");
        let mut b = s.open("INBOX", false).expect("b");
        let before = a.message(4);
        b.store(&[4], FlagOp::Add, &with(flag::DELETED))
            .expect("store");
        b.expunge(None).expect("expunge");
        let log_id = || fs::read(root.join(index::LOG_FILE)).expect("log")[8..16].to_vec();
        let first = log_id();
        let mut i = 0;
        while log_id() == first {
            assert!(i < 20_000, "never folded");
            b.store(&[i % 19], FlagOp::Add, &with(flag::FLAGGED))
                .expect("store");
            b.store(&[i % 19], FlagOp::Remove, &with(flag::FLAGGED))
                .expect("store");
            i += 1;
        }
        let c = a.sync(false).expect("a sync");
        assert!(c.expunged.is_empty());
        assert_eq!(a.count(), 20);
        let ghost = a.message(4);
        assert_eq!(
            (ghost.uid, ghost.size, ghost.flags.system),
            (before.uid, before.size, 0)
        );
        assert!(matches!(a.open_message(4), Err(StoreError::Expunged)));
        assert_eq!(a.sync(true).expect("a sync").expunged, vec![5]);
        assert_eq!(a.count(), 19);
        assert_eq!(a.message(4).uid, before.uid + 1);
    }

    /// A message whose date was never read, removed by another program
    /// before this session may report it: its ghost answers the time its
    /// name begins with; one whose date this session read, that date.
    #[test]
    fn a_ghost_of_an_undated_message_has_its_names_time() {
        let (_t, mut s) = store();
        let root = s.root().to_path_buf();
        for n in 0..=crate::limits::MAILDIR_DATES_LATER_FROM {
            let secs = 1_100_000_000 + n as i64;
            let path = root.join("cur").join(format!("{secs}.M{n:05}P1.host:2,S"));
            fs::write(&path, "Subject: x\n\nbody\n").expect("write");
            set_mtime(&path, secs + 5).expect("mtime");
        }
        let mut a = s.open("INBOX", false).expect("open");
        assert_eq!(a.internal_date(1).0, 1_100_000_006);
        for name in cur_names(&root).into_iter().take(2) {
            fs::remove_file(root.join("cur").join(name)).expect("rm");
        }
        let c = a.sync(false).expect("sync");
        assert!(c.expunged.is_empty() && c.held_back);
        assert_eq!(a.internal_date(0).0, 1_100_000_000);
        assert_eq!(a.internal_date(1).0, 1_100_000_006);
        assert_eq!(a.sync(true).expect("sync").expunged.len(), 2);
    }

    #[test]
    fn open_message_follows_rename() {
        let (_t, mut s) = store();
        let root = s.root().to_path_buf();
        append(&mut s, "INBOX", "hello\r\n", seen());
        let mut mb = s.open("INBOX", false).expect("open");
        let name = cur_names(&root).remove(0);
        let (base, _) = split_name(&name);
        fs::rename(
            root.join("cur").join(&name),
            root.join("cur").join(format!("{base}:2,FS")),
        )
        .expect("rename");
        let mut body = String::new();
        mb.open_message(0)
            .expect("found")
            .read_to_string(&mut body)
            .expect("read");
        assert_eq!(body, "hello\n");
    }

    #[test]
    fn two_sessions_see_each_other_and_recent_goes_to_one() {
        let (_t, mut s) = store();
        let root = s.root().to_path_buf();
        let mut a = s.open("INBOX", false).expect("a");
        let mut b = s.open("INBOX", false).expect("b");
        let mut ro = s.open("INBOX", true).expect("ro");
        deliver(&root, "2000.M1P1.host", "x\n");
        // EXAMINE sees it as \Recent too, without taking it.
        let cro = ro.sync(true).expect("ro sync");
        assert_eq!(cro.exists, Some(1));
        assert_eq!(cro.recent, Some(1));
        let ca = a.sync(true).expect("a sync");
        let cb = b.sync(true).expect("b sync");
        assert_eq!(ca.exists, Some(1));
        assert_eq!(cb.exists, Some(1));
        assert_eq!(ca.recent, Some(1));
        assert_eq!(cb.recent, Some(0));
        assert_eq!(a.message(0).uid, b.message(0).uid);
        // a's STORE is reported to b, not to a
        let changed = a
            .store(
                &[0],
                FlagOp::Add,
                &Flags {
                    system: flag::FLAGGED,
                    keywords: vec!["Junk".into()],
                },
            )
            .expect("store");
        assert_eq!(changed, vec![0]);
        assert!(a.message(0).flags.has_keyword("junk"));
        let ca = a.sync(true).expect("a sync");
        assert!(ca.flags.is_empty());
        let cb = b.sync(true).expect("b sync");
        assert_eq!(cb.flags, vec![1]);
        assert!(cb.keywords_changed);
        assert!(b.message(0).flags.has(flag::FLAGGED));
        assert_eq!(b.keywords(), vec!["Junk".to_string()]);
        assert_eq!(
            fs::read_to_string(root.join(KEYWORDS_FILE)).expect("kw"),
            "0 Junk\n"
        );
        assert_eq!(cur_names(&root), vec!["2000.M1P1.host:2,Fa".to_string()]);
        // letters nobody defined, and P (passed), survive our renames
        fs::rename(
            root.join("cur/2000.M1P1.host:2,Fa"),
            root.join("cur/2000.M1P1.host:2,FPaz"),
        )
        .expect("rename");
        a.store(&[0], FlagOp::Add, &seen()).expect("store");
        assert_eq!(cur_names(&root), vec!["2000.M1P1.host:2,FPSaz".to_string()]);
        b.sync(true).expect("b sync");
        // b expunges; a hears of it
        b.store(
            &[0],
            FlagOp::Add,
            &Flags {
                system: flag::DELETED,
                keywords: vec![],
            },
        )
        .expect("store");
        assert_eq!(b.expunge(None).expect("expunge"), vec![1]);
        assert!(b.count() == 0);
        assert_eq!(a.sync(true).expect("a sync").expunged, vec![1]);
        assert!(matches!(
            ro.store(&[0], FlagOp::Add, &seen()),
            Err(StoreError::NotAllowed(_))
        ));
    }

    #[test]
    fn uid_expunge_only_touches_given_uids() {
        let (_t, mut s) = store();
        let del = Flags {
            system: flag::DELETED,
            keywords: vec![],
        };
        for _ in 0..3 {
            append(&mut s, "INBOX", "m\r\n", del.clone());
        }
        let mut mb = s.open("INBOX", false).expect("open");
        let before = mb.highest_modseq();
        assert_eq!(mb.expunge(Some(&[1, 3])).expect("expunge"), vec![3, 1]);
        assert_eq!(
            mb.collect_messages()
                .iter()
                .map(|m| m.uid)
                .collect::<Vec<_>>(),
            vec![2]
        );
        let (ix, _) = Index::load(s.root()).expect("load").expect("index");
        assert_eq!(ix.vanished_since(before), [1..=1, 3..=3]);
    }

    #[test]
    fn damaged_index_gets_new_uidvalidity() {
        let (_t, mut s) = store();
        let root = s.root().to_path_buf();
        append(&mut s, "INBOX", "a\r\n", Flags::default());
        append(&mut s, "INBOX", "b\r\n", Flags::default());
        let v = s.status("INBOX").expect("status").uid_validity;
        let ixp = root.join(index::INDEX_FILE);
        let data = fs::read(&ixp).expect("read");
        fs::write(&ixp, &data[..data.len() / 2]).expect("truncate");
        let st = s.status("INBOX").expect("status");
        assert!(st.uid_validity > v);
        assert_eq!(st.messages, 2);
        fs::write(&ixp, b"\xff\x00garbage").expect("garbage");
        let mb = s.open("INBOX", false).expect("open");
        assert!(mb.uid_validity() > st.uid_validity);
        assert_eq!(mb.count(), 2);
    }

    #[test]
    fn hostile_names_never_leave_the_root() {
        let (t, mut s) = store();
        for bad in [
            "..", "../x", "a/b", "/etc", ".hidden", "a..b", "~x", "a..", "&AC8-x",
        ] {
            assert!(
                matches!(s.create(bad), Err(StoreError::BadName(_))),
                "{bad} accepted"
            );
        }
        // A symlinked folder leading out of the tree is never followed.
        let outside = t.path().join("outside");
        make_maildir(&outside).expect("outside");
        std::os::unix::fs::symlink(&outside, s.root().join(".Evil")).expect("symlink");
        assert!(s.open("Evil", false).is_err());
        assert!(s.status("Evil").is_err());
        let mut data: &[u8] = b"x";
        assert!(s
            .append(
                "Evil",
                &mut [NewMessage {
                    flags: Flags::default(),
                    internal_date: None,
                    data: &mut data,
                    len: 1,
                }]
            )
            .is_err());
        assert!(!s.list().expect("list").iter().any(|i| i.name == "Evil"));
        s.delete("Evil").expect("delete removes the link only");
        assert!(outside.join("cur").is_dir());
    }

    #[test]
    fn list_shows_parents_and_children() {
        let (_t, mut s) = store();
        s.create("a.b.c").expect("create");
        s.create("Sent").expect("create");
        let l = s.list().expect("list");
        let get = |n: &str| l.iter().find(|i| i.name == n).cloned().expect(n);
        assert!(get("a").noselect && get("a").has_children);
        assert!(get("a.b").noselect);
        assert!(!get("a.b.c").noselect && !get("a.b.c").has_children);
        assert!(!get("INBOX").noselect);
        // DELETE of a mailbox with children leaves it \Noselect
        s.create("a").expect("create parent");
        append(&mut s, "a", "x\r\n", Flags::default());
        s.delete("a").expect("delete");
        let l = s.list().expect("list");
        assert!(l.iter().any(|i| i.name == "a" && i.noselect));
        assert!(matches!(s.delete("a"), Err(StoreError::HasChildren)));
        s.subscribe("a.b.c").expect("sub");
        s.subscribe("inbox").expect("sub");
        assert_eq!(s.subscriptions().expect("subs"), vec!["a.b.c", "INBOX"]);
        s.unsubscribe("a.b.c").expect("unsub");
        assert_eq!(s.subscriptions().expect("subs"), vec!["INBOX"]);
    }

    #[test]
    fn rename_keeps_uids_and_moves_children() {
        let (_t, mut s) = store();
        s.create("a").expect("create");
        s.create("a.x").expect("create");
        s.create("b").expect("create");
        append(&mut s, "a", "1\r\n", Flags::default());
        append(&mut s, "a", "2\r\n", Flags::default());
        let st = s.status("a").expect("status");
        assert!(matches!(s.rename("a", "b"), Err(StoreError::AlreadyExists)));
        assert!(matches!(s.rename("nope", "c"), Err(StoreError::NotFound)));
        s.rename("a", "c").expect("rename");
        assert!(matches!(s.status("a"), Err(StoreError::NotFound)));
        let st2 = s.status("c").expect("status");
        assert_eq!(st2.uid_validity, st.uid_validity);
        assert_eq!(st2.uid_next, 3);
        assert!(s.status("c.x").is_ok());
        assert!(s.status("a.x").is_err());
    }

    #[test]
    fn rename_inbox_moves_messages() {
        let (_t, mut s) = store();
        append(&mut s, "INBOX", "1\r\n", Flags::default());
        append(&mut s, "INBOX", "2\r\n", seen());
        s.create("INBOX.child").expect("create");
        let before = s.status("INBOX").expect("status");
        s.rename("INBOX", "Old").expect("rename");
        let inbox = s.status("INBOX").expect("status");
        assert_eq!(inbox.messages, 0);
        assert_eq!(inbox.uid_validity, before.uid_validity);
        assert_eq!(inbox.uid_next, before.uid_next);
        let old = s.status("Old").expect("status");
        assert_eq!(old.messages, 2);
        assert_ne!(old.uid_validity, before.uid_validity);
        assert!(s.status("INBOX.child").is_ok());
        let mb = s.open("Old", true).expect("open");
        assert_eq!(
            mb.collect_messages()
                .iter()
                .map(|m| m.uid)
                .collect::<Vec<_>>(),
            vec![1, 2]
        );
        let a = append(&mut s, "INBOX", "3\r\n", Flags::default());
        assert_eq!(a.uids, vec![3]);
    }

    struct Failing;
    impl Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::Error::other("client went away"))
        }
    }

    #[test]
    fn append_is_all_or_none() {
        let (_t, mut s) = store();
        let root = s.root().to_path_buf();
        let mut ok: &[u8] = b"fine\r\n";
        let mut short: &[u8] = b"abc";
        let mut failing = Failing;
        for bad in [&mut short as &mut dyn Read, &mut failing] {
            let mut ok2: &[u8] = ok;
            let mut msgs = [
                NewMessage {
                    flags: Flags::default(),
                    internal_date: None,
                    data: &mut ok2,
                    len: 6,
                },
                NewMessage {
                    flags: Flags::default(),
                    internal_date: None,
                    data: bad,
                    len: 10,
                },
            ];
            assert!(s.append("INBOX", &mut msgs).is_err());
        }
        assert_eq!(s.status("INBOX").expect("status").messages, 0);
        assert_eq!(fs::read_dir(root.join("tmp")).expect("tmp").count(), 0);
        assert_eq!(fs::read_dir(root.join("new")).expect("new").count(), 0);
        let mut ok2: &[u8] = b"x\r\n";
        let mut msgs = [
            NewMessage {
                flags: seen(),
                internal_date: None,
                data: &mut ok,
                len: 6,
            },
            NewMessage {
                flags: Flags::default(),
                internal_date: None,
                data: &mut ok2,
                len: 3,
            },
        ];
        let a = s.append("INBOX", &mut msgs).expect("append");
        assert_eq!(a.uids, vec![1, 2]);
        assert!(matches!(
            s.append("Nope", &mut []),
            Err(StoreError::NotFound)
        ));
    }

    #[test]
    fn copy_keeps_flags_and_dates() {
        let (_t, mut s) = store();
        s.create("Dest").expect("create");
        let mut fl = seen();
        fl.insert_keyword("$Label1");
        append(&mut s, "INBOX", "body\r\n", fl.clone());
        let mut mb = s.open("INBOX", false).expect("open");
        let a = mb.copy(&[0], "Dest").expect("copy");
        assert_eq!(a.uids, vec![1]);
        assert!(matches!(mb.copy(&[0], "Nope"), Err(StoreError::NotFound)));
        let d = s.open("Dest", false).expect("open");
        let m = &d.message(0);
        assert_eq!(m.flags, fl);
        assert_eq!(m.internal_date, 1_000_000_000);
        assert_eq!(m.size, mb.message(0).size);
    }

    /// A look that finds many new files (a first open) reads no file's
    /// mtime: the INTERNALDATE is read when first asked for, kept in the
    /// index by the session, and read from there by the next one (a later
    /// touch of the file changes nothing, as for a date known at
    /// delivery). A copy of a message never dated takes its date along.
    /// A few new files are dated at once.
    #[test]
    fn internal_date_read_when_asked_and_kept() {
        let (_t, mut s) = store();
        s.create("Dest").expect("create");
        let root = s.root().to_path_buf();
        let many = crate::limits::MAILDIR_DATES_LATER_FROM + 1;
        for n in 0..many {
            let secs = 1_100_000_000 + n as i64;
            let path = root.join("cur").join(format!("{secs}.M{n:05}P1.host:2,S"));
            fs::write(&path, format!("Subject: {n}\n\nbody\n")).expect("write");
            set_mtime(&path, secs + 5).expect("mtime");
        }
        {
            let mut mb = s.open("INBOX", false).expect("open");
            assert_eq!(mb.message(0).internal_date, DATE_UNKNOWN);
            // Asked for out of UID order, and again.
            assert_eq!(mb.internal_date(3).0, 1_100_000_008);
            assert_eq!(mb.internal_date(1).0, 1_100_000_006);
            assert_eq!(mb.internal_date(3).0, 1_100_000_008);
            // The first one is never asked for in this session.
            mb.flush_cache();
        }
        for name in cur_names(&root) {
            set_mtime(&root.join("cur").join(name), 7).expect("touch");
        }
        let late = root.join("new").join("1200000000.M1P2.host");
        fs::write(&late, "Subject: late\n\nbody\n").expect("deliver");
        set_mtime(&late, 1_200_000_003).expect("mtime");
        let mut mb = s.open("INBOX", false).expect("open");
        assert_eq!(mb.message(1).internal_date, 1_100_000_006);
        assert_eq!(mb.message(3).internal_date, 1_100_000_008);
        assert_eq!(mb.message(2).internal_date, DATE_UNKNOWN);
        assert_eq!(mb.message(0).internal_date, DATE_UNKNOWN);
        assert_eq!(mb.message(many).internal_date, 1_200_000_003);
        assert_eq!(mb.internal_date(0).0, 7);
        mb.copy(&[0], "Dest").expect("copy");
        let d = s.open("Dest", false).expect("open");
        assert_eq!(d.internal_date(0).0, 7);
        assert_eq!(d.message(0).internal_date, 7);
    }

    #[test]
    fn many_keywords_beyond_letters_kept_in_index() {
        let (_t, mut s) = store();
        append(&mut s, "INBOX", "x\r\n", Flags::default());
        let mut mb = s.open("INBOX", false).expect("open");
        let mut all = Flags::default();
        for i in 0..30 {
            all.insert_keyword(&format!("k{i}"));
        }
        mb.store(&[0], FlagOp::Add, &all).expect("store");
        drop(mb);
        let mb = s.open("INBOX", false).expect("open");
        assert_eq!(mb.message(0).flags.keywords.len(), 30);
    }

    #[test]
    fn dovecot_uidlist_imported() {
        let (_t, mut s) = store();
        let root = s.root().to_path_buf();
        fs::write(root.join("cur/100.M1P1.host,S=2,W=3:2,S"), "a\n").expect("w");
        fs::write(root.join("cur/101.M1P1.host:2,"), "bb\n").expect("w");
        fs::write(root.join("new/102.M1P1.host"), "c\n").expect("w");
        fs::write(
            root.join("dovecot-uidlist"),
            // A POP3 UIDL kept by a migration (with a colon in it), and
            // one RFC 1939 does not allow (too long): not kept.
            format!(
                "3 V1234 N20 Gabc\n7 W3 Pold:uidl-7 :100.M1P1.host,S=2,W=3\n12 P{} :101.M1P1.host\n",
                "x".repeat(71)
            ),
        )
        .expect("w");
        let mb = s.open("INBOX", false).expect("open");
        assert_eq!(mb.uid_validity(), 1234);
        let uids: Vec<Uid> = mb.collect_messages().iter().map(|m| m.uid).collect();
        assert_eq!(uids, vec![7, 12, 20]);
        assert_eq!(mb.uid_next(), 21);
        assert_eq!(mb.pop3_uidl(0).as_deref(), Some("old:uidl-7"));
        assert_eq!(mb.pop3_uidl(1), None);
        assert_eq!(mb.pop3_uidl(2), None);
        // Modseqs start above any a client of Dovecot holds; what was
        // expunged before is not known, so every UID that is no message's
        // counts as expunged since any modseq from before.
        let from = crate::limits::IMPORTED_MODSEQ_FROM;
        assert!(mb.collect_messages().iter().all(|m| m.modseq > from));
        assert!(mb.highest_modseq() > from);
        let (ix, _) = Index::load(&root).expect("load").expect("index");
        assert_eq!(ix.vanished_since(5000), [1..=6, 8..=11, 13..=19]);
        // Kept once imported: the next open reads our index, not the list.
        fs::remove_file(root.join("dovecot-uidlist")).expect("rm");
        let mb = s.open("INBOX", false).expect("open");
        assert_eq!(mb.pop3_uidl(0).as_deref(), Some("old:uidl-7"));
    }

    /// One thread appends while another session syncs and flags: every
    /// message ends up with one UID, the same in both views.
    #[test]
    fn concurrent_append_and_sync() {
        let (_t, s) = store();
        let root = s.root().to_path_buf();
        let r2 = root.clone();
        let writer = std::thread::spawn(move || {
            let mut s = Maildir::open_store(r2).expect("store");
            for i in 0..40 {
                let body = format!("m{i}\r\n");
                let mut data = body.as_bytes();
                let mut m = [NewMessage {
                    flags: Flags::default(),
                    internal_date: None,
                    data: &mut data,
                    len: body.len() as u64,
                }];
                s.append("INBOX", &mut m).expect("append");
            }
        });
        let mut s2 = Maildir::open_store(root.clone()).expect("store");
        let mut mb = s2.open("INBOX", false).expect("open");
        for _ in 0..40 {
            mb.sync(true).expect("sync");
            let n = mb.count();
            if n > 0 {
                mb.store(&[n - 1], FlagOp::Add, &seen()).expect("store");
            }
        }
        writer.join().expect("join");
        mb.sync(true).expect("sync");
        let uids: Vec<Uid> = mb.collect_messages().iter().map(|m| m.uid).collect();
        assert_eq!(uids, (1..=40).collect::<Vec<_>>());
        let other = s2.open("INBOX", true).expect("open");
        assert_eq!(
            other.collect_messages(),
            mb.collect_messages()
                .iter()
                .map(|m| Message {
                    recent: false,
                    ..m.clone()
                })
                .collect::<Vec<_>>()
        );
    }

    /// A file in flight in tmp/ whose mtime is already the message's old
    /// internal date is not a leftover: only its ctime says how old it is.
    #[test]
    fn tmp_cleanup_keeps_a_file_with_an_old_mtime() {
        let (_t, mut s) = store();
        let root = s.root().to_path_buf();
        let f = root.join("tmp/1549605145.M1P9.host");
        fs::write(&f, "in flight").expect("w");
        set_mtime(&f, 1_549_605_145).expect("mtime");
        append(&mut s, "INBOX", "a\r\n", Flags::default());
        s.open("INBOX", false).expect("open");
        clean_tmp(&root);
        assert!(f.exists(), "a file in flight was removed");
    }

    /// What a crash leaves (a half-written tmp/ file, an unrenamed index
    /// file) is never taken for a message or an index.
    #[test]
    fn crash_leftovers_are_ignored() {
        let (_t, mut s) = store();
        let root = s.root().to_path_buf();
        append(&mut s, "INBOX", "a\r\n", Flags::default());
        let v = s.status("INBOX").expect("status").uid_validity;
        fs::write(root.join("tmp/123.M1P9.host"), "half a mess").expect("w");
        fs::write(
            root.join("mailaccess-index.tmp"),
            "mailaccess-index 1\nuidval",
        )
        .expect("w");
        let mb = s.open("INBOX", false).expect("open");
        assert_eq!(mb.uid_validity(), v);
        assert_eq!(mb.count(), 1);
        assert!(
            root.join("tmp/123.M1P9.host").exists(),
            "fresh tmp file kept"
        );
    }

    /// A file without W= is read once for its size, then the index answers.
    #[test]
    fn size_counted_once_then_cached() {
        let (_t, mut s) = store();
        let root = s.root().to_path_buf();
        fs::write(root.join("cur/100.M1P1.host:2,"), "a\nb\n").expect("w");
        assert_eq!(s.open("INBOX", false).expect("open").message(0).size, 6);
        fs::write(root.join("cur/100.M1P1.host:2,"), "much longer now\n").expect("w");
        assert_eq!(s.open("INBOX", false).expect("open").message(0).size, 6);
    }

    /// SELECT must not read message files: 20,000 files whose names say
    /// W=1234 but which hold 1 byte. Had any been read for its size, the
    /// size would be 1 or 2, not 1234.
    #[test]
    fn opening_big_mailbox_reads_no_message_file() {
        let (_t, mut s) = store();
        let root = s.root().to_path_buf();
        for i in 0..20_000 {
            fs::write(
                root.join("cur").join(format!(
                    "{}.M{i}P1.host,S=1200,W=1234:2,S",
                    1_600_000_000 + i
                )),
                "x",
            )
            .expect("write");
        }
        let mut mb = s.open("INBOX", false).expect("open");
        assert_eq!(mb.count(), 20_000);
        assert!(mb.collect_messages().iter().all(|m| m.size == 1234));
        assert_eq!(mb.message(19_999).uid, 20_000);
        assert!(mb.sync(true).expect("sync").is_empty());
        let st = s.status("INBOX").expect("status");
        assert_eq!(st.size, 20_000 * 1234);
        assert_eq!(st.unseen, 0);
    }
}
