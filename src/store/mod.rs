//! Mail storage: one user's mailboxes (`Store`) and one open mailbox
//! (`Mailbox`). Maildir and mbox implement both; the IMAP and POP3 code use
//! only these traits. Nothing here knows IMAP syntax: names arrive as
//! validated wire names (modified UTF-7, `.`-separated), flags as `Flags`.

pub mod cache;
pub mod courier;
pub mod empty;
pub mod index;
pub mod lock;
pub mod maildir;
pub mod mbox;
pub mod names;
pub mod objectid;
pub mod open;
pub mod quota;
pub mod sortindex;
pub mod special_use;
pub mod sum;
pub mod urlauth;
pub mod view;

use std::fmt;
use std::io::{self, Read};

/// RFC 3501 2.3.1.1: a 32-bit unique identifier, never 0.
pub type Uid = u32;

/// RFC 7162: a 63-bit modification sequence, 0 meaning "none yet".
pub type ModSeq = u64;

/// The system flags, as bits. `\Recent` is not a flag that can be stored:
/// it is `Message::recent`, owned by exactly one session.
pub mod flag {
    pub const SEEN: u8 = 1;
    pub const ANSWERED: u8 = 2;
    pub const FLAGGED: u8 = 4;
    pub const DELETED: u8 = 8;
    pub const DRAFT: u8 = 16;
    /// All system flags, in the order IMAP lists them.
    pub const ALL: [(u8, &str); 5] = [
        (ANSWERED, "\\Answered"),
        (FLAGGED, "\\Flagged"),
        (DELETED, "\\Deleted"),
        (SEEN, "\\Seen"),
        (DRAFT, "\\Draft"),
    ];
}

/// A message's stored flags: system flag bits plus keywords. Keywords are
/// compared without regard to case (RFC 3501 2.3.2 flags are atoms matched
/// case-insensitively); the first spelling seen is kept.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Flags {
    pub system: u8,
    /// Sorted by lower-case form, no duplicates (case-insensitively).
    pub keywords: Vec<String>,
}

impl Flags {
    pub fn has(&self, bit: u8) -> bool {
        self.system & bit != 0
    }

    pub fn has_keyword(&self, k: &str) -> bool {
        self.keywords.iter().any(|x| x.eq_ignore_ascii_case(k))
    }

    pub fn insert_keyword(&mut self, k: &str) {
        if !self.has_keyword(k) {
            self.keywords.push(k.to_string());
            self.keywords.sort_by_key(|a| a.to_ascii_lowercase());
        }
    }

    pub fn remove_keyword(&mut self, k: &str) {
        self.keywords.retain(|x| !x.eq_ignore_ascii_case(k));
    }

    /// Applies a STORE-style operation; returns whether anything changed.
    pub fn apply(&mut self, op: FlagOp, other: &Flags) -> bool {
        let before = self.clone();
        match op {
            FlagOp::Replace => {
                self.system = other.system;
                self.keywords.clear();
                for k in &other.keywords {
                    self.insert_keyword(k);
                }
            }
            FlagOp::Add => {
                self.system |= other.system;
                for k in &other.keywords {
                    self.insert_keyword(k);
                }
            }
            FlagOp::Remove => {
                self.system &= !other.system;
                for k in &other.keywords {
                    self.remove_keyword(k);
                }
            }
        }
        *self != before
    }
}

/// STORE's three operations (RFC 3501 6.4.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlagOp {
    Replace,
    Add,
    Remove,
}

/// One message as a session sees it. Sequence number n is `message(n-1)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub uid: Uid,
    pub flags: Flags,
    /// RFC 3501 2.3.2 `\Recent`: true in exactly one session.
    pub recent: bool,
    pub modseq: ModSeq,
    /// INTERNALDATE: seconds since the epoch, plus the zone it was given in
    /// (minutes east of UTC) so that it is shown as the client gave it.
    /// `index::DATE_UNKNOWN` where the store reads it only when asked:
    /// what shows or compares it takes it from `Mailbox::internal_date`.
    pub internal_date: i64,
    pub internal_date_zone: i32,
    /// RFC822.SIZE: octets of the message with CRLF line ends, which is what
    /// FETCH BODY[] sends.
    pub size: u64,
}

/// What `Mailbox::sync` found changed since the last sync, in the form the
/// protocol needs to report it. Sequence numbers are those in force when each
/// item is reported, so `expunged` can be sent in order as it stands
/// (RFC 3501 7.4.1: each EXPUNGE renumbers the ones after it).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// Sequence numbers to report as EXPUNGE, in reporting order.
    pub expunged: Vec<u32>,
    /// The UIDs of those messages, ascending (RFC 7162 VANISHED).
    pub vanished: Vec<Uid>,
    /// Set when the number of messages differs from the last report
    /// (after the expunges above): the new EXISTS count.
    pub exists: Option<u32>,
    /// Set when EXISTS is set or the recent count changed: the RECENT count.
    pub recent: Option<u32>,
    /// Sequence numbers (after the expunges and additions) whose flags were
    /// changed by another session or program.
    pub flags: Vec<u32>,
    /// The keywords of the mailbox changed: a new FLAGS response is due.
    pub keywords_changed: bool,
    /// Messages expunged by others are still in the view, their EXPUNGE
    /// left for a sync that allows it.
    pub held_back: bool,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        *self == Changes::default()
    }
}

/// A mailbox as LIST shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailboxInfo {
    /// Wire name: modified UTF-7, `.` separated, INBOX spelled "INBOX".
    pub name: String,
    /// Exists only as a parent of others (RFC 3501 `\Noselect`).
    pub noselect: bool,
    /// Can never have children (RFC 3501 `\Noinferiors`): an mbox folder
    /// is a file.
    pub noinferiors: bool,
    pub has_children: bool,
    /// New mail since last looked at, if the store can tell cheaply
    /// (`Some(true)` = `\Marked`, `Some(false)` = `\Unmarked`).
    pub marked: Option<bool>,
}

/// STATUS items (RFC 3501 6.3.10), all of which a store can give cheaply.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Status {
    pub messages: u32,
    pub recent: u32,
    pub uid_next: Uid,
    pub uid_validity: u32,
    pub unseen: u32,
    pub highest_modseq: ModSeq,
    /// Total RFC822.SIZE of all messages (RFC 8438 STATUS=SIZE).
    pub size: u64,
    /// Messages with `\Deleted` (RFC 9051 STATUS DELETED).
    pub deleted: u32,
    /// Their total RFC822.SIZE (RFC 9208 STATUS DELETED-STORAGE).
    pub deleted_size: u64,
}

/// The outcome of APPEND/COPY, for UIDPLUS (RFC 4315) response codes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Appended {
    pub uid_validity: u32,
    pub uids: Vec<Uid>,
}

/// A message being appended.
pub struct NewMessage<'a> {
    pub flags: Flags,
    /// Seconds since the epoch and zone in minutes east; `None` = now.
    pub internal_date: Option<(i64, i32)>,
    /// The message octets; exactly `len` of them.
    pub data: &'a mut dyn Read,
    pub len: u64,
}

/// A readable message: its raw stored bytes (line ends as stored).
pub trait MessageRead: Read + io::Seek + Send {}
impl<T: Read + io::Seek + Send> MessageRead for T {}

/// A message file as `Mailbox::open_message` gives it: every read error is
/// marked as a fault of this message (`is_message_fault`), so that the
/// protocol answers NO for this message and goes on, where an error on the
/// client's connection ends the session (DESIGN.md 3, errors).
pub struct MessageFile<R>(pub R);

impl<R: Read> Read for MessageFile<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf).map_err(message_fault)
    }
}

impl<R: io::Seek> io::Seek for MessageFile<R> {
    fn seek(&mut self, pos: io::SeekFrom) -> io::Result<u64> {
        self.0.seek(pos).map_err(message_fault)
    }
}

/// What a read error of a message file carries inside its `io::Error`.
#[derive(Debug)]
struct MessageFault(io::Error);

impl fmt::Display for MessageFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "reading a message file: {}", self.0)
    }
}

impl std::error::Error for MessageFault {}

fn message_fault(e: io::Error) -> io::Error {
    if is_message_fault(&e) {
        return e;
    }
    io::Error::new(e.kind(), MessageFault(e))
}

/// Whether `e` came from reading a message file (see `MessageFile`).
pub fn is_message_fault(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|i| i.is::<MessageFault>())
}

/// Storage errors. Each says what a client should be told; `Io` and
/// `Corrupt` are also logged.
#[derive(Debug)]
pub enum StoreError {
    /// The mailbox does not exist (IMAP `[NONEXISTENT]` / `[TRYCREATE]`).
    NotFound,
    /// CREATE/RENAME target exists (`[ALREADYEXISTS]`).
    AlreadyExists,
    /// The name is not acceptable (hostile, invalid mUTF-7, too long).
    BadName(&'static str),
    /// The operation is not allowed (DELETE INBOX, write to read-only).
    NotAllowed(&'static str),
    /// DELETE of a `\\Noselect` name with children (RFC 9051
    /// `[HASCHILDREN]`): only its children can be deleted.
    HasChildren,
    /// A limit of `limits.rs` was hit.
    Limit(&'static str),
    /// The user's quota (`quota`) would be passed (`[OVERQUOTA]`).
    OverQuota,
    /// The message no longer exists (expunged by another program).
    Expunged,
    /// Another process holds a lock we need (`[INUSE]`).
    InUse,
    /// A file was not what it should be; the store recovered what it could.
    Corrupt(String),
    /// One message's file cannot be read (EIO, EACCES, a directory, a FIFO
    /// or a symbolic link where the file should be): that message fails,
    /// the session goes on. The text is for the log, not the client.
    Unreadable(String),
    Io(io::Error),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::NotFound => f.write_str("Mailbox doesn't exist"),
            StoreError::AlreadyExists => f.write_str("Mailbox already exists"),
            StoreError::BadName(why) => write!(f, "Invalid mailbox name: {why}"),
            StoreError::NotAllowed(why) => f.write_str(why),
            StoreError::HasChildren => {
                f.write_str("Mailbox has inferior hierarchical names and is \\Noselect")
            }
            StoreError::Limit(why) => write!(f, "Limit exceeded: {why}"),
            StoreError::OverQuota => f.write_str("Quota exceeded"),
            StoreError::Expunged => f.write_str("Message has been expunged"),
            StoreError::InUse => f.write_str("Mailbox is locked by another process"),
            StoreError::Corrupt(why) => write!(f, "Mailbox data is damaged: {why}"),
            StoreError::Unreadable(why) => write!(f, "Message cannot be read: {why}"),
            StoreError::Io(e) => write!(f, "Internal error: {e}"),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<io::Error> for StoreError {
    fn from(e: io::Error) -> Self {
        match e.kind() {
            _ if is_message_fault(&e) => StoreError::Unreadable(e.to_string()),
            // The file system's quota (quotactl(2)) stopped a write.
            io::ErrorKind::QuotaExceeded => StoreError::OverQuota,
            // A component of the path is a file: a mailbox file has no
            // children (mbox), so the name does not exist.
            io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => StoreError::NotFound,
            _ => StoreError::Io(e),
        }
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// LIST's view of a store: the mailboxes that exist (name -> selectable),
/// completed with every parent level as `\Noselect` where it is not a
/// mailbox itself (RFC 3501 6.3.8), and `\HasChildren` where it has any.
pub fn with_parents(
    mut all: std::collections::BTreeMap<String, bool>,
    sep: char,
) -> Vec<MailboxInfo> {
    let mut parents = std::collections::BTreeSet::new();
    for name in all.keys() {
        for (i, _) in name.match_indices(sep) {
            parents.insert(name[..i].to_string());
        }
    }
    for p in &parents {
        all.entry(p.clone()).or_insert(false);
    }
    all.into_iter()
        .map(|(name, selectable)| MailboxInfo {
            has_children: parents.contains(&name),
            noselect: !selectable,
            noinferiors: false,
            marked: None,
            name,
        })
        .collect()
}

/// One user's mailboxes. Names are wire names (modified UTF-7, `.` as the
/// hierarchy separator); "INBOX" in any case is the inbox.
pub trait Store {
    /// The hierarchy separator shown in LIST.
    fn separator(&self) -> char;
    /// The directory for the user's own state of the store (subscriptions
    /// aside): the special-use file. None: nothing can be kept.
    fn control_dir(&self) -> Option<std::path::PathBuf> {
        None
    }
    /// The user's quota (RFC 9208): a Maildir's `maildirsize` and the file
    /// system's (`quota::filesystem`); None when there is none.
    fn quota(&mut self) -> Result<Option<quota::Quota>> {
        Ok(None)
    }
    /// RFC 8474 MAILBOXID of an existing mailbox (`objectid::mailbox_id`).
    fn mailbox_id(&mut self, _name: &str) -> Result<String> {
        Err(StoreError::NotFound)
    }
    /// Files and directories whose change may be news of mailbox `name`
    /// (its messages), or with None of the mailboxes and subscriptions:
    /// NOTIFY watches them (`Mailbox::watch_paths` for the selected one).
    fn watch_paths(&self, _name: Option<&str>) -> Vec<std::path::PathBuf> {
        Vec::new()
    }
    /// Every mailbox, including `\Noselect` parents.
    fn list(&mut self) -> Result<Vec<MailboxInfo>>;
    fn create(&mut self, name: &str) -> Result<()>;
    fn delete(&mut self, name: &str) -> Result<()>;
    /// RFC 3501 6.3.5: renaming INBOX moves its messages into a new mailbox
    /// and leaves INBOX empty; renaming a mailbox renames its children.
    fn rename(&mut self, from: &str, to: &str) -> Result<()>;
    fn subscribe(&mut self, name: &str) -> Result<()>;
    fn unsubscribe(&mut self, name: &str) -> Result<()>;
    fn subscriptions(&mut self) -> Result<Vec<String>>;
    fn status(&mut self, name: &str) -> Result<Status>;
    /// Opens a mailbox; `read_only` is EXAMINE (and never takes `\Recent`).
    fn open(&mut self, name: &str, read_only: bool) -> Result<Box<dyn Mailbox>>;
    /// Appends messages atomically (all or none, RFC 3502).
    fn append(&mut self, name: &str, messages: &mut [NewMessage<'_>]) -> Result<Appended>;
}

/// One open mailbox and the session's view of it.
pub trait Mailbox {
    fn read_only(&self) -> bool;
    fn uid_validity(&self) -> u32;
    fn uid_next(&self) -> Uid;
    fn highest_modseq(&self) -> ModSeq;
    /// How many messages the session's view holds (EXISTS). Sequence
    /// number n is index n-1 of the view.
    fn count(&self) -> usize;
    /// Message `index` (0-based) of the view, built on demand: the view
    /// need not hold a `Message` per message (DESIGN.md 4, the selected
    /// view). Panics past `count()`, as indexing does.
    fn message(&self, index: usize) -> Message;
    /// INTERNALDATE of message `index` and its zone (minutes east), read
    /// now if `message` left it unknown (a Maildir's first open reads no
    /// file's mtime until a command needs it).
    fn internal_date(&self, index: usize) -> (i64, i32) {
        let m = self.message(index);
        (m.internal_date, m.internal_date_zone)
    }
    /// The UID of message `index`, without the rest.
    fn uid(&self, index: usize) -> Uid {
        self.message(index).uid
    }
    /// Whether message `index` has `\Seen`, and whether it is `\Recent`
    /// to this session, without the rest: SELECT asks this of every
    /// message.
    fn seen_recent(&self, index: usize) -> (bool, bool) {
        let m = self.message(index);
        (m.flags.has(flag::SEEN), m.recent)
    }
    /// Where `uid` is in the view (`Ok`), or where it would go (`Err`):
    /// the view is in UID order.
    fn find_uid(&self, uid: Uid) -> std::result::Result<usize, usize> {
        let (mut lo, mut hi) = (0, self.count());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.uid(mid).cmp(&uid) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Ok(mid),
            }
        }
        Err(lo)
    }
    /// Every message of the view, one by one: for tests and other callers
    /// that need them all at once (a session streams them instead).
    fn collect_messages(&self) -> Vec<Message> {
        (0..self.count()).map(|i| self.message(i)).collect()
    }
    /// RFC 7162 3.2.5.2: the UIDs expunged after modseq `since`, as sorted
    /// ranges; where the history does not reach back that far, every UID
    /// below UIDNEXT that is no message's (more than were expunged since,
    /// which the RFC allows). May name UIDs the view still holds (their
    /// expunge not reported yet): the caller leaves those out.
    fn vanished_since(&self, since: ModSeq) -> Vec<std::ops::RangeInclusive<Uid>>;
    /// The indexes of the view's messages whose modseq is above `since`,
    /// ascending (RFC 7162 CHANGEDSINCE, QRESYNC): by default a look at
    /// each message; a store with an index finds them from it.
    fn changed_since(&self, since: ModSeq) -> Vec<usize> {
        (0..self.count())
            .filter(|&i| self.message(i).modseq > since)
            .collect()
    }
    /// Keywords defined in this mailbox, for FLAGS and PERMANENTFLAGS.
    fn keywords(&self) -> Vec<String>;
    /// Whether new keywords may still be created (PERMANENTFLAGS `\*`).
    fn can_create_keywords(&self) -> bool;
    /// Looks at the files again and updates the view. With `allow_expunge`
    /// false, messages removed by others stay in the view (their data may be
    /// gone) until a later sync that allows it.
    fn sync(&mut self, allow_expunge: bool) -> Result<Changes>;
    /// The stored bytes of message `index` (0-based), line ends as stored.
    fn open_message(&mut self, index: usize) -> Result<Box<dyn MessageRead>>;
    /// Changes flags of the given messages (0-based indexes); returns the
    /// indexes whose flags actually changed. Our own changes are not
    /// reported again by `sync`.
    fn store(&mut self, indexes: &[usize], op: FlagOp, flags: &Flags) -> Result<Vec<usize>> {
        self.store_if(indexes, op, flags, None)
            .map(|(changed, _)| changed)
    }
    /// `store`, and with `since` RFC 7162 `UNCHANGEDSINCE`: a message whose
    /// modseq, as the mailbox holds it under its lock, is above `since` is
    /// left alone and named in the second list (the `MODIFIED` set); the
    /// first is what `store` returns for the others.
    fn store_if(
        &mut self,
        indexes: &[usize],
        op: FlagOp,
        flags: &Flags,
        since: Option<ModSeq>,
    ) -> Result<(Vec<usize>, Vec<usize>)>;
    /// From now on a flag change may reach the store's files later than
    /// its index (`flush_renames` gives it to them): for a session, which
    /// flushes when the client's pipeline drains.
    fn defer_renames(&mut self) {}
    /// Whether flag changes wait for `flush_renames`.
    fn renames_deferred(&self) -> bool {
        false
    }
    /// Gives the files the flag changes deferred so far.
    fn flush_renames(&mut self) -> Result<()> {
        Ok(())
    }
    /// Removes messages with `\Deleted` (only those whose UID is in `uids`,
    /// when given: UID EXPUNGE). Returns the sequence numbers in reporting
    /// order, like `Changes::expunged`, and updates the view.
    fn expunge(&mut self, uids: Option<&[Uid]>) -> Result<Vec<u32>>;
    /// Copies messages (0-based indexes) into another mailbox of the same
    /// store, keeping flags and internal dates.
    fn copy(&mut self, indexes: &[usize], dest: &str) -> Result<Appended>;
    /// Cached derived data of message `index` (DESIGN.md 5), when the store
    /// keeps a cache and has it.
    /// Where the mailbox's caches are (the item cache, `sortindex`); None
    /// where it keeps none.
    fn cache_dir(&self) -> Option<std::path::PathBuf> {
        None
    }
    fn cached(&mut self, _index: usize, _kind: cache::Kind) -> Option<Vec<u8>> {
        None
    }
    /// Offers derived data of message `index` for the cache.
    fn cache(&mut self, _index: usize, _kind: cache::Kind, _data: &[u8]) {}
    /// Writes what was offered to the cache since the last call.
    fn flush_cache(&mut self) {}
    /// Files and directories whose change may be news for this mailbox
    /// (a delivery, another session's change): IDLE watches them.
    fn watch_paths(&self) -> Vec<std::path::PathBuf> {
        Vec::new()
    }
    /// RFC 8514: when message `index` was saved into this mailbox
    /// (seconds since the epoch); None where the store keeps no save dates
    /// (then FETCH SAVEDATE is NIL and SEARCH SAVED* uses INTERNALDATE).
    fn save_date(&self, _index: usize) -> Option<i64> {
        None
    }
    /// The POP3 UIDL the server before us gave message `index`, when the
    /// store kept it (a mailbox moved from Courier or Dovecot).
    fn pop3_uidl(&self, _index: usize) -> Option<String> {
        None
    }
}
