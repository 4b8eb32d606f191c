//! IMAP commands as the grammar (`parse.rs`) hands them to the session: one
//! `CommandBody` variant per command of RFC 3501 / RFC 9051 and the
//! extensions we announce (SASL-IR, MULTIAPPEND, UNSELECT, UIDPLUS, MOVE,
//! IDLE, NAMESPACE, ID, ENABLE, STATUS=SIZE, CONDSTORE's HIGHESTMODSEQ).
//!
//! Everything here is already validated: mailbox names are UTF-8 with INBOX
//! spelled "INBOX", sequence sets contain no 0, flags are `store::Flags`.
//! Strings a session must decode with a CHARSET (SEARCH) stay raw bytes.

use std::fmt;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::ops::RangeInclusive;

use chrono::NaiveDate;

use crate::mime::Section;
use crate::store::{FlagOp, Flags};

/// RFC 3501 9 `command`: `tag SP command-body CRLF`.
#[derive(Debug)]
pub struct Command {
    pub tag: String,
    pub body: CommandBody,
}

/// LIST (RFC 3501 6.3.8) with the extended syntax of RFC 5258, the
/// SPECIAL-USE options of RFC 6154 and the STATUS return option of RFC
/// 5819.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListRequest {
    /// A mailbox (INBOX normalised).
    pub reference: String,
    /// Each `list-mailbox` as given, wildcards included.
    pub patterns: Vec<String>,
    /// Selection options.
    pub subscribed: bool,
    pub recursive_match: bool,
    pub special_use: bool,
    /// Return options.
    pub return_subscribed: bool,
    pub return_children: bool,
    pub return_special_use: bool,
    pub return_status: Option<Vec<StatusItem>>,
    /// Any of the extended syntax was used: the answer may carry extended
    /// data (CHILDINFO).
    pub extended: bool,
    /// XLIST (Gmail's, which Outlook and older clients use instead of
    /// SPECIAL-USE): `* XLIST`, `\Inbox` on INBOX, `\Spam` for `\Junk`.
    pub xlist: bool,
}

/// One variant per command, named after the RFC. `uid: true` means the
/// command came with the `UID` prefix (RFC 3501 6.4.8), so its set is a UID
/// set and its results are UIDs.
pub enum CommandBody {
    // --- Any state (RFC 3501 6.1) ---
    Capability,
    Noop,
    Logout,

    // --- Not authenticated (RFC 3501 6.2) ---
    StartTls,
    /// `mechanism` upper-cased; `initial_response` decoded from base64
    /// (RFC 4959 SASL-IR: `=` is an empty response, absent is `None`).
    Authenticate {
        mechanism: String,
        initial_response: Option<Vec<u8>>,
    },
    Login {
        userid: Vec<u8>,
        password: Vec<u8>,
    },

    // --- Authenticated (RFC 3501 6.3) ---
    Select {
        mailbox: String,
        params: SelectParams,
    },
    Examine {
        mailbox: String,
        params: SelectParams,
    },
    Create {
        mailbox: String,
        /// RFC 6154 `USE (...)`: the special uses asked for, as given.
        uses: Vec<String>,
    },
    Delete {
        mailbox: String,
    },
    Rename {
        from: String,
        to: String,
    },
    Subscribe {
        mailbox: String,
    },
    Unsubscribe {
        mailbox: String,
    },
    List(ListRequest),
    Lsub {
        reference: String,
        pattern: String,
    },
    Status {
        mailbox: String,
        items: Vec<StatusItem>,
    },
    /// One or more messages (RFC 3502 MULTIAPPEND).
    Append {
        mailbox: String,
        messages: Vec<AppendMessage>,
    },
    Namespace,
    Id(Option<Vec<(String, Option<String>)>>),
    Enable(Vec<String>),
    /// RFC 4978 `COMPRESS algorithm`.
    Compress(String),
    Idle,
    /// RFC 9208 `GETQUOTA quota-root`.
    GetQuota(String),
    /// RFC 9208 `GETQUOTAROOT mailbox`.
    GetQuotaRoot(String),
    /// RFC 9208 `SETQUOTA quota-root (...)`: always refused.
    SetQuota,
    /// RFC 5465 `NOTIFY NONE` (None) or `NOTIFY SET ...`.
    Notify(Option<NotifyRequest>),
    /// RFC 4467 `GENURLAUTH 1*(SP url-rump SP mechanism)`.
    GenUrlAuth(Vec<(String, String)>),
    /// RFC 4467 `RESETKEY [SP mailbox *(SP mechanism)]`.
    ResetKey {
        mailbox: Option<String>,
        mechanisms: Vec<String>,
    },
    /// RFC 4467 `URLFETCH 1*(SP url-full)`, with RFC 5524's parameters.
    UrlFetch(Vec<UrlFetchArg>),
    /// RFC 5267 `CANCELUPDATE 1*(SP quoted)`: the tags of the searches
    /// whose updates end.
    CancelUpdate(Vec<String>),
    /// RFC 7377 `ESEARCH [IN (sources)] [RETURN (...)] [CHARSET c] keys`:
    /// the search in each mailbox the sources name, answered in UIDs
    /// (`ret` is ALL when no RETURN was given).
    MultiSearch {
        sources: Vec<SearchSource>,
        ret: SearchReturn,
        charset: Option<String>,
        criteria: SearchKey,
    },

    // --- Selected (RFC 3501 6.4) ---
    Check,
    Close,
    Unselect,
    /// `uids` is `Some` for UID EXPUNGE (RFC 4315 2.1).
    Expunge {
        uids: Option<SequenceSet>,
    },
    /// `charset` as given (upper-cased); `criteria` is the AND of all keys
    /// (a single key is not wrapped in `And`).
    /// `ret`: RFC 4731 `RETURN (...)`, answered with ESEARCH.
    /// `order`: SORT or THREAD (RFC 5256), the same search with its
    /// results ordered.
    Search {
        charset: Option<String>,
        criteria: SearchKey,
        uid: bool,
        ret: Option<SearchReturn>,
        order: Option<Order>,
    },
    /// `items` with the macros ALL/FAST/FULL expanded. UID FETCH must also
    /// answer UID (RFC 3501 6.4.8) even when `items` lacks it; the session
    /// adds it.
    /// `changed_since`: the RFC 7162 `(CHANGEDSINCE n)` modifier;
    /// `vanished` its `VANISHED` modifier (UID FETCH only).
    Fetch {
        set: SequenceSet,
        items: Vec<FetchItem>,
        uid: bool,
        changed_since: Option<u64>,
        vanished: bool,
    },
    Store(StoreRequest),
    Copy {
        set: SequenceSet,
        mailbox: String,
        uid: bool,
    },
    /// RFC 6851.
    Move {
        set: SequenceSet,
        mailbox: String,
        uid: bool,
    },
}

impl CommandBody {
    /// The command's name as the RFC spells it, for log lines and for the
    /// `tag OK <NAME> completed` text.
    pub fn name(&self) -> &'static str {
        use CommandBody::*;
        match self {
            Capability => "CAPABILITY",
            Noop => "NOOP",
            Logout => "LOGOUT",
            StartTls => "STARTTLS",
            Authenticate { .. } => "AUTHENTICATE",
            Login { .. } => "LOGIN",
            Select { .. } => "SELECT",
            Examine { .. } => "EXAMINE",
            Create { .. } => "CREATE",
            Delete { .. } => "DELETE",
            Rename { .. } => "RENAME",
            Subscribe { .. } => "SUBSCRIBE",
            Unsubscribe { .. } => "UNSUBSCRIBE",
            List(r) if r.xlist => "XLIST",
            List(_) => "LIST",
            Lsub { .. } => "LSUB",
            Status { .. } => "STATUS",
            Append { .. } => "APPEND",
            Namespace => "NAMESPACE",
            Id(_) => "ID",
            Enable(_) => "ENABLE",
            Compress(_) => "COMPRESS",
            Idle => "IDLE",
            MultiSearch { .. } => "ESEARCH",
            CancelUpdate(_) => "CANCELUPDATE",
            Notify(_) => "NOTIFY",
            GenUrlAuth(_) => "GENURLAUTH",
            ResetKey { .. } => "RESETKEY",
            UrlFetch(_) => "URLFETCH",
            GetQuota(_) => "GETQUOTA",
            GetQuotaRoot(_) => "GETQUOTAROOT",
            SetQuota => "SETQUOTA",
            Check => "CHECK",
            Close => "CLOSE",
            Unselect => "UNSELECT",
            Expunge { .. } => "EXPUNGE",
            Search {
                order: Some(Order::Sort(_)),
                ..
            } => "SORT",
            Search {
                order: Some(Order::Thread(_)),
                ..
            } => "THREAD",
            Search { .. } => "SEARCH",
            Fetch { .. } => "FETCH",
            Store(_) => "STORE",
            Copy { .. } => "COPY",
            Move { .. } => "MOVE",
        }
    }
}

impl CommandBody {
    /// Whether the command refers to messages by sequence number, so that
    /// no untagged EXPUNGE may be sent while it runs (RFC 3501 7.4.1;
    /// Dovecot's COMMAND_FLAG_USES_SEQS). A UID SEARCH whose criteria
    /// contain a sequence set uses them too.
    pub fn uses_sequence_numbers(&self) -> bool {
        match self {
            CommandBody::Fetch { uid, .. }
            | CommandBody::Store(StoreRequest { uid, .. })
            | CommandBody::Copy { uid, .. }
            | CommandBody::Move { uid, .. } => !uid,
            CommandBody::Search { uid, criteria, .. } => !uid || criteria.has_sequence_set(),
            CommandBody::MultiSearch { criteria, .. } => criteria.has_sequence_set(),
            _ => false,
        }
    }
}

/// RFC 5256 `sort-key`, with RFC 5957's DISPLAYFROM and DISPLAYTO.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortKey {
    Arrival,
    Cc,
    Date,
    From,
    Size,
    Subject,
    To,
    DisplayFrom,
    DisplayTo,
}

/// How SORT or THREAD orders what a search found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Order {
    Sort(Vec<SortCriterion>),
    Thread(ThreadAlgorithm),
}

/// RFC 5256 `thread-alg`s we know.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThreadAlgorithm {
    OrderedSubject,
    References,
    /// REFERENCES without gathering by subject, threads in the order of
    /// their newest message (draft-ietf-morg-inthread, as Dovecot has it).
    Refs,
}

/// RFC 5256 `sort-criterion = ["REVERSE" SP] sort-key`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SortCriterion {
    pub reverse: bool,
    pub key: SortKey,
}

/// RFC 4731 `search-return-opts`: what an ESEARCH answer holds. `RETURN
/// ()` is ALL.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SearchReturn {
    pub min: bool,
    pub max: bool,
    pub all: bool,
    pub count: bool,
    /// RFC 5182 SAVE: the result is kept for `$`.
    pub save: bool,
    /// RFC 5267 UPDATE: the result is kept live, its changes sent as
    /// `ADDTO` and `REMOVEFROM` until CANCELUPDATE or another SELECT.
    pub update: bool,
    /// RFC 5267 PARTIAL low:high: the results at those positions (from 1).
    pub partial: Option<(u32, u32)>,
}

impl SearchReturn {
    /// Whether any result data is asked for (SAVE and UPDATE alone ask
    /// for none at once).
    pub fn answers(&self) -> bool {
        self.min || self.max || self.all || self.count || self.partial.is_some()
    }
}

/// RFC 7377 `filter-mailboxes` (RFC 5465's, `selected-delayed` being
/// `selected` here): which mailboxes ESEARCH searches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SearchSource {
    Selected,
    Inboxes,
    Personal,
    Subscribed,
    /// The mailboxes and every mailbox below them.
    Subtree(Vec<String>),
    /// The mailboxes and their children.
    SubtreeOne(Vec<String>),
    Mailboxes(Vec<String>),
}

/// RFC 4466 `select-params` we know: RFC 7162 `CONDSTORE` and `QRESYNC`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SelectParams {
    pub condstore: bool,
    pub qresync: Option<QresyncParam>,
}

/// RFC 7162 `qresync-param = "QRESYNC" SP "(" uidvalidity SP
/// mod-sequence-value [SP known-uids] [SP seq-match-data] ")"`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QresyncParam {
    pub uid_validity: u32,
    pub modseq: u64,
    pub known_uids: Option<SequenceSet>,
    /// `(known-sequence-set known-uid-set)`: lets a server without a
    /// complete history narrow VANISHED (EARLIER); ours is complete, so
    /// it is checked and not needed.
    pub seq_match: Option<(SequenceSet, SequenceSet)>,
}

/// RFC 3501 6.4.6 STORE / UID STORE, with RFC 7162's modifier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreRequest {
    pub set: SequenceSet,
    pub op: FlagOp,
    /// The `.SILENT` suffix.
    pub silent: bool,
    pub flags: Flags,
    pub uid: bool,
    /// RFC 7162 `(UNCHANGEDSINCE n)`.
    pub unchanged_since: Option<u64>,
}

impl SearchKey {
    /// Whether a bare sequence set (message numbers) occurs anywhere in
    /// the key.
    pub fn has_sequence_set(&self) -> bool {
        self.any(&|k| matches!(k, SearchKey::SequenceSet(_)))
    }

    /// Whether RFC 5182's `$` occurs in any set of the key.
    pub fn has_saved(&self) -> bool {
        self.any(&|k| matches!(k, SearchKey::SequenceSet(s) | SearchKey::Uid(s) if s.has_saved()))
    }

    /// Whether RFC 7162 MODSEQ occurs anywhere in the key.
    pub fn has_modseq(&self) -> bool {
        self.any(&|k| matches!(k, SearchKey::ModSeq(_)))
    }

    /// Calls `f` on every set in the key: (the set, whether it is UIDs).
    pub fn for_each_set(&mut self, f: &mut dyn FnMut(&mut SequenceSet, bool)) {
        match self {
            SearchKey::SequenceSet(s) => f(s, false),
            SearchKey::Uid(s) => f(s, true),
            SearchKey::Not(k) => k.for_each_set(f),
            SearchKey::Or(a, b) => {
                a.for_each_set(f);
                b.for_each_set(f);
            }
            SearchKey::And(v) => v.iter_mut().for_each(|k| k.for_each_set(f)),
            _ => {}
        }
    }

    /// Whether `f` holds for the key or any key inside it.
    fn any(&self, f: &dyn Fn(&SearchKey) -> bool) -> bool {
        f(self)
            || match self {
                SearchKey::Not(k) => k.any(f),
                SearchKey::Or(a, b) => a.any(f) || b.any(f),
                SearchKey::And(v) => v.iter().any(|k| k.any(f)),
                _ => false,
            }
    }
}

/// RFC 5465 `notify-set = "SET" [SP "STATUS"] SP event-groups`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotifyRequest {
    /// `STATUS`: the watched mailboxes' STATUS at once.
    pub status: bool,
    pub groups: Vec<NotifyGroup>,
}

/// RFC 5465 `event-group = "(" filter-mailboxes SP events ")"`; `events`
/// empty is `NONE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotifyGroup {
    pub filter: NotifyFilter,
    pub events: Vec<NotifyEvent>,
}

/// RFC 5465 `filter-mailboxes`; names as the store names them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotifyFilter {
    Selected,
    SelectedDelayed,
    Inboxes,
    Personal,
    Subscribed,
    Subtree(Vec<String>),
    Mailboxes(Vec<String>),
}

/// RFC 5465 `event`; any other atom is `Other` (refused with BADEVENT).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotifyEvent {
    /// With the FETCH attributes to send of each new message.
    MessageNew(Vec<FetchItem>),
    MessageExpunge,
    FlagChange,
    MailboxName,
    SubscriptionChange,
    Other(String),
}

/// One URL of URLFETCH: `params` is None for RFC 4467's plain form,
/// else RFC 5524's `"(" url-full *(SP url-fetch-param) ")"`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UrlFetchArg {
    pub url: String,
    pub params: Option<UrlFetchParams>,
}

/// RFC 5524 `url-fetch-param`s given (BODY and BINARY exclude each
/// other).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UrlFetchParams {
    pub body: bool,
    pub binary: bool,
    pub body_part_structure: bool,
}

/// Written by hand so that a password or SASL response never reaches a log
/// through `{:?}`.
impl fmt::Debug for CommandBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use CommandBody::*;
        match self {
            Capability | Noop | Logout | StartTls | Namespace | Idle | Check | Close | Unselect
            | SetQuota => f.write_str(self.name()),
            Authenticate {
                mechanism,
                initial_response,
            } => f
                .debug_struct("Authenticate")
                .field("mechanism", mechanism)
                .field(
                    "initial_response",
                    &initial_response.as_ref().map(|_| "<redacted>"),
                )
                .finish(),
            Login { userid, .. } => f
                .debug_struct("Login")
                .field("userid", &String::from_utf8_lossy(userid))
                .field("password", &"<redacted>")
                .finish(),
            Select { mailbox, params } => f
                .debug_struct("Select")
                .field("mailbox", mailbox)
                .field("params", params)
                .finish(),
            Examine { mailbox, params } => f
                .debug_struct("Examine")
                .field("mailbox", mailbox)
                .field("params", params)
                .finish(),
            Create { mailbox, uses } => f
                .debug_struct("Create")
                .field("mailbox", mailbox)
                .field("uses", uses)
                .finish(),
            Delete { mailbox } => f.debug_struct("Delete").field("mailbox", mailbox).finish(),
            Rename { from, to } => f
                .debug_struct("Rename")
                .field("from", from)
                .field("to", to)
                .finish(),
            Subscribe { mailbox } => f
                .debug_struct("Subscribe")
                .field("mailbox", mailbox)
                .finish(),
            Unsubscribe { mailbox } => f
                .debug_struct("Unsubscribe")
                .field("mailbox", mailbox)
                .finish(),
            List(r) => r.fmt(f),
            Lsub { reference, pattern } => f
                .debug_struct("Lsub")
                .field("reference", reference)
                .field("pattern", pattern)
                .finish(),
            Status { mailbox, items } => f
                .debug_struct("Status")
                .field("mailbox", mailbox)
                .field("items", items)
                .finish(),
            Append { mailbox, messages } => f
                .debug_struct("Append")
                .field("mailbox", mailbox)
                .field("messages", messages)
                .finish(),
            Id(params) => f.debug_tuple("Id").field(params).finish(),
            Enable(caps) => f.debug_tuple("Enable").field(caps).finish(),
            Compress(a) => f.debug_tuple("Compress").field(a).finish(),
            Expunge { uids } => f.debug_struct("Expunge").field("uids", uids).finish(),
            Search {
                charset,
                criteria,
                uid,
                ret,
                order,
            } => f
                .debug_struct("Search")
                .field("charset", charset)
                .field("criteria", criteria)
                .field("uid", uid)
                .field("ret", ret)
                .field("order", order)
                .finish(),
            CancelUpdate(tags) => f.debug_tuple("CancelUpdate").field(tags).finish(),
            Notify(r) => f.debug_tuple("Notify").field(r).finish(),
            // A URL's token is an authorization: never in a log.
            GenUrlAuth(urls) => write!(f, "GenUrlAuth({} URLs)", urls.len()),
            UrlFetch(urls) => write!(f, "UrlFetch({} URLs)", urls.len()),
            ResetKey {
                mailbox,
                mechanisms,
            } => f
                .debug_struct("ResetKey")
                .field("mailbox", mailbox)
                .field("mechanisms", mechanisms)
                .finish(),
            GetQuota(root) => f.debug_tuple("GetQuota").field(root).finish(),
            GetQuotaRoot(mailbox) => f.debug_tuple("GetQuotaRoot").field(mailbox).finish(),
            MultiSearch {
                sources,
                ret,
                charset,
                criteria,
            } => f
                .debug_struct("MultiSearch")
                .field("sources", sources)
                .field("ret", ret)
                .field("charset", charset)
                .field("criteria", criteria)
                .finish(),
            Fetch {
                set,
                items,
                uid,
                changed_since,
                vanished,
            } => f
                .debug_struct("Fetch")
                .field("set", set)
                .field("items", items)
                .field("uid", uid)
                .field("changed_since", changed_since)
                .field("vanished", vanished)
                .finish(),
            Store(r) => f.debug_tuple("Store").field(r).finish(),
            Copy { set, mailbox, uid } => f
                .debug_struct("Copy")
                .field("set", set)
                .field("mailbox", mailbox)
                .field("uid", uid)
                .finish(),
            Move { set, mailbox, uid } => f
                .debug_struct("Move")
                .field("set", set)
                .field("mailbox", mailbox)
                .field("uid", uid)
                .finish(),
        }
    }
}

/// RFC 3501 9 `status-att`, plus RFC 8438 SIZE, RFC 7162 HIGHESTMODSEQ
/// and RFC 7889 APPENDLIMIT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusItem {
    Messages,
    Recent,
    UidNext,
    UidValidity,
    Unseen,
    Size,
    HighestModSeq,
    AppendLimit,
    /// RFC 8474 4.3.
    MailboxId,
    /// RFC 9051 6.3.11: the number of messages with `\Deleted`.
    Deleted,
    /// RFC 9208 4.2: the octets EXPUNGE would free (their RFC822.SIZE).
    DeletedStorage,
}

/// One message of an APPEND (RFC 3502 `append-message`).
#[derive(Debug)]
pub struct AppendMessage {
    pub flags: Flags,
    /// RFC 3501 `date-time`: seconds since the epoch and the zone in minutes
    /// east of UTC; `None` means "now".
    pub date: Option<(i64, i32)>,
    pub data: Literal,
    /// Sent as RFC 3516 `literal8`: binary content, to be kept octet for
    /// octet or refused.
    pub binary: bool,
    /// RFC 4469 `CATENATE (...)`: the message is these parts put
    /// together (`data` is then empty).
    pub catenate: Option<Vec<CatPart>>,
}

/// RFC 4469 `cat-part = text-literal / url`.
#[derive(Debug)]
pub enum CatPart {
    /// `"TEXT" SP literal`: octets as given.
    Text(Literal),
    /// `"URL" SP astring`: a message or part of one already stored.
    Url(String),
}

/// The octets of an APPEND message literal: small ones in memory, larger
/// ones in a spool file (positioned at its start) so that memory does not
/// grow with message size.
pub enum Literal {
    Memory(Vec<u8>),
    /// The file and the number of octets in it.
    File(File, u64),
}

/// Only the length: a message does not belong in a log line.
impl fmt::Debug for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Memory(v) => write!(f, "Memory({} octets)", v.len()),
            Literal::File(_, n) => write!(f, "File({n} octets)"),
        }
    }
}

impl Literal {
    pub fn len(&self) -> u64 {
        match self {
            Literal::Memory(v) => v.len() as u64,
            Literal::File(_, n) => *n,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A reader over the octets from the start, for `store::NewMessage`.
    pub fn reader(&mut self) -> io::Result<Box<dyn Read + '_>> {
        match self {
            Literal::Memory(v) => Ok(Box::new(&v[..])),
            Literal::File(f, n) => {
                f.seek(SeekFrom::Start(0))?;
                Ok(Box::new(Read::take(f, *n)))
            }
        }
    }
}

/// RFC 3501 9 `seq-number`: a number (never 0) or `*`, the largest number in
/// use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeqNumber {
    Value(u32),
    Star,
    /// RFC 5182 `$`, the saved search result: stands as `($, $)` for the
    /// whole result until `SequenceSet::fill_saved` replaces it, and names
    /// nothing if it is not replaced.
    Saved,
}

impl SeqNumber {
    fn resolve(self, max: u32) -> u32 {
        match self {
            SeqNumber::Value(n) => n,
            SeqNumber::Star => max,
            SeqNumber::Saved => 0,
        }
    }
}

/// RFC 3501 9 `sequence-set`: comma-separated numbers and ranges, as given.
/// A single number is a range with `from == to`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SequenceSet(pub Vec<(SeqNumber, SeqNumber)>);

impl SequenceSet {
    /// The set as sorted, merged ranges within `1..=max`, where `max` is the
    /// largest number in use (message count, or highest UID). RFC 3501
    /// 6.4.8/9: `*` is `max`, `n:m` is `m:n`, and a range reaching past the
    /// end covers up to `max` (`UID 900:*` with 500 the highest UID is
    /// `500:900`, i.e. UID 500).
    pub fn ranges(&self, max: u32) -> Vec<RangeInclusive<u32>> {
        let mut r: Vec<(u32, u32)> = self
            .0
            .iter()
            .filter_map(|&(a, b)| {
                let (a, b) = (a.resolve(max), b.resolve(max));
                let (lo, hi) = (a.min(b).max(1), a.max(b).min(max));
                (lo <= hi).then_some((lo, hi))
            })
            .collect();
        r.sort_unstable();
        let mut out: Vec<RangeInclusive<u32>> = Vec::with_capacity(r.len());
        for (lo, hi) in r {
            match out.last_mut() {
                Some(last) if lo <= last.end().saturating_add(1) => {
                    if hi > *last.end() {
                        *last = *last.start()..=hi;
                    }
                }
                _ => out.push(lo..=hi),
            }
        }
        out
    }

    /// Whether `n` is in `ranges` (as `ranges` gives them: sorted, merged),
    /// in O(log ranges).
    pub fn in_ranges(ranges: &[RangeInclusive<u32>], n: u32) -> bool {
        let i = ranges.partition_point(|r| *r.end() < n);
        ranges.get(i).is_some_and(|r| r.contains(&n))
    }

    /// Every number of the set within `1..=max`, ascending, each once.
    /// For UID sets prefer `contains` or `ranges`: `1:*` over a mailbox
    /// whose highest UID is large yields many numbers that are not in use.
    pub fn iter(&self, max: u32) -> impl Iterator<Item = u32> {
        self.ranges(max).into_iter().flatten()
    }

    /// Whether `n` is in the set, `*` being `max`. Looks at every range:
    /// for many lookups, resolve once with `ranges` and use `in_ranges`.
    pub fn contains(&self, n: u32, max: u32) -> bool {
        n != 0
            && self.0.iter().any(|&(a, b)| {
                let (a, b) = (a.resolve(max), b.resolve(max));
                a.min(b) <= n && n <= a.max(b)
            })
    }

    /// Whether `$` (RFC 5182) is in the set.
    pub fn has_saved(&self) -> bool {
        self.0.iter().any(|&(a, _)| a == SeqNumber::Saved)
    }

    /// `$` replaced by `numbers` (ascending): the saved result as message
    /// numbers or UIDs, as the command uses them.
    pub fn fill_saved(&mut self, numbers: &[u32]) {
        if !self.has_saved() {
            return;
        }
        let mut out: Vec<(SeqNumber, SeqNumber)> = Vec::new();
        for &(a, b) in &self.0 {
            if a != SeqNumber::Saved {
                out.push((a, b));
                continue;
            }
            for &n in numbers {
                match out.last_mut() {
                    Some((_, SeqNumber::Value(end))) if end.checked_add(1) == Some(n) => {
                        *end = n;
                    }
                    _ => out.push((SeqNumber::Value(n), SeqNumber::Value(n))),
                }
            }
        }
        self.0 = out;
    }

    /// The largest explicit number in the set (ignoring `*`), so that a
    /// session can refuse sequence numbers past the end (RFC 3501 9:
    /// "invalid message sequence number") while letting UIDs past the end
    /// pass.
    pub fn max_number(&self) -> Option<u32> {
        self.0
            .iter()
            .flat_map(|&(a, b)| [a, b])
            .filter_map(|s| match s {
                SeqNumber::Value(n) => Some(n),
                SeqNumber::Star | SeqNumber::Saved => None,
            })
            .max()
    }
}

/// RFC 3501 6.4.4 / 9 `search-key`. Strings are raw octets for the session
/// to decode with the CHARSET; dates are calendar dates (no zone, RFC 3501
/// says to compare in the server's view of the message's date).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SearchKey {
    All,
    Answered,
    Bcc(Vec<u8>),
    Before(NaiveDate),
    Body(Vec<u8>),
    Cc(Vec<u8>),
    Deleted,
    Draft,
    Flagged,
    From(Vec<u8>),
    /// Field name (ASCII) and the string to look for in its value.
    Header(String, Vec<u8>),
    Keyword(String),
    Larger(u64),
    New,
    Not(Box<SearchKey>),
    Old,
    On(NaiveDate),
    Or(Box<SearchKey>, Box<SearchKey>),
    Recent,
    Seen,
    SentBefore(NaiveDate),
    SentOn(NaiveDate),
    SentSince(NaiveDate),
    Since(NaiveDate),
    /// RFC 8514 `SAVEDBEFORE`, `SAVEDON`, `SAVEDSINCE`: by the save date,
    /// or the internal date where the mailbox keeps none.
    SavedBefore(NaiveDate),
    SavedOn(NaiveDate),
    SavedSince(NaiveDate),
    /// RFC 8514 `SAVEDATESUPPORTED`: every message where the mailbox keeps
    /// save dates, none elsewhere.
    SaveDateSupported,
    /// RFC 8474 6 `EMAILID objectid`, `THREADID objectid`.
    EmailId(String),
    ThreadId(String),
    /// RFC 5032 `OLDER n`, `YOUNGER n`: an internal date at least / at
    /// most `n` seconds before the search.
    Older(u32),
    Younger(u32),
    Smaller(u64),
    Subject(Vec<u8>),
    Text(Vec<u8>),
    To(Vec<u8>),
    Uid(SequenceSet),
    /// RFC 7162 `MODSEQ [entry-name entry-type] n`: changed at or after
    /// modseq `n` (the entry, one flag's, is answered by the message's
    /// modseq: we keep one per message, as RFC 7162 3.1.5 allows).
    ModSeq(u64),
    Unanswered,
    Undeleted,
    Undraft,
    Unflagged,
    Unkeyword(String),
    Unseen,
    /// A bare sequence set: message sequence numbers.
    SequenceSet(SequenceSet),
    /// A parenthesised list, or the top-level list of several keys: all
    /// must match.
    And(Vec<SearchKey>),
}

/// RFC 3501 9 `"<" number "." nz-number ">"`: (origin, length) of a
/// partial fetch; length is never 0.
pub type Partial = (u32, u32);

/// RFC 3501 6.4.5 / 9 `fetch-att`. The macros ALL, FAST and FULL are
/// expanded by the parser.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FetchItem {
    Envelope,
    Flags,
    InternalDate,
    /// `RFC822`: `BODY[]`, sets `\Seen`, answered as `RFC822`.
    Rfc822,
    /// `RFC822.HEADER`: `BODY.PEEK[HEADER]`, answered as `RFC822.HEADER`.
    Rfc822Header,
    Rfc822Size,
    /// `RFC822.TEXT`: `BODY[TEXT]`, sets `\Seen`, answered as `RFC822.TEXT`.
    Rfc822Text,
    /// `BODY` without a section: the non-extensible BODYSTRUCTURE.
    Body,
    BodyStructure,
    Uid,
    /// RFC 7162 `MODSEQ`.
    ModSeq,
    /// RFC 8970 `PREVIEW` (with or without `(LAZY)`: the preview is always
    /// made, a few KB read at most).
    Preview,
    /// RFC 8514 `SAVEDATE`: when the message was saved into this mailbox,
    /// NIL where the mailbox keeps no save dates.
    SaveDate,
    /// RFC 8474 `EMAILID` and `THREADID`.
    EmailId,
    ThreadId,
    /// `BODY[section]<partial>` or `BODY.PEEK[...]`; `partial` is
    /// (origin, length), length never 0.
    BodySection {
        peek: bool,
        section: Section,
        partial: Option<Partial>,
    },
    /// RFC 3516 `BINARY[part]<partial>` or `BINARY.PEEK[...]`: the part's
    /// content with its Content-Transfer-Encoding taken off; `part` is
    /// `section-binary`'s part numbers (empty = the whole message).
    Binary {
        peek: bool,
        part: Vec<u32>,
        partial: Option<Partial>,
    },
    /// RFC 3516 `BINARY.SIZE[part]`: the octets `BINARY[part]` would send.
    BinarySize {
        part: Vec<u32>,
    },
}

impl FetchItem {
    /// For the items that return message octets: whether fetching them
    /// sets `\Seen` (RFC 3501 6.4.5: everything but `.PEEK` and
    /// `RFC822.HEADER`) and the section they are the same as.
    pub fn section(&self) -> Option<(bool, Section, Option<Partial>)> {
        use crate::mime::SectionText;
        let whole = |text| Section {
            part: Vec::new(),
            text,
        };
        match self {
            FetchItem::Rfc822 => Some((true, whole(None), None)),
            FetchItem::Rfc822Header => Some((false, whole(Some(SectionText::Header)), None)),
            FetchItem::Rfc822Text => Some((true, whole(Some(SectionText::Text)), None)),
            FetchItem::BodySection {
                peek,
                section,
                partial,
            } => Some((!peek, section.clone(), *partial)),
            _ => None,
        }
    }

    /// Whether fetching the item sets `\Seen` (RFC 3501 6.4.5, RFC 3516
    /// 4.2: the items that send message octets, but the `.PEEK` forms and
    /// `RFC822.HEADER`).
    pub fn sets_seen(&self) -> bool {
        match self {
            FetchItem::Binary { peek, .. } => !peek,
            _ => self.section().is_some_and(|(seen, _, _)| seen),
        }
    }

    /// The item's name as a FETCH response gives it (RFC 3501 7.4.2
    /// `msg-att`): `BODY.PEEK[...]` is answered as `BODY[...]`, a partial
    /// as `<origin>` only, `RFC822.*` under their own names.
    pub fn echo(&self, out: &mut Vec<u8>) {
        use crate::mime::SectionText;
        let name: &[u8] = match self {
            FetchItem::Envelope => b"ENVELOPE",
            FetchItem::Flags => b"FLAGS",
            FetchItem::InternalDate => b"INTERNALDATE",
            FetchItem::Rfc822 => b"RFC822",
            FetchItem::Rfc822Header => b"RFC822.HEADER",
            FetchItem::Rfc822Size => b"RFC822.SIZE",
            FetchItem::Rfc822Text => b"RFC822.TEXT",
            FetchItem::Body => b"BODY",
            FetchItem::BodyStructure => b"BODYSTRUCTURE",
            FetchItem::Uid => b"UID",
            FetchItem::ModSeq => b"MODSEQ",
            FetchItem::Preview => b"PREVIEW",
            FetchItem::SaveDate => b"SAVEDATE",
            FetchItem::EmailId => b"EMAILID",
            FetchItem::ThreadId => b"THREADID",
            FetchItem::Binary { part, partial, .. } => {
                out.extend_from_slice(b"BINARY");
                echo_part(out, part);
                if let Some((origin, _)) = partial {
                    out.extend_from_slice(format!("<{origin}>").as_bytes());
                }
                return;
            }
            FetchItem::BinarySize { part } => {
                out.extend_from_slice(b"BINARY.SIZE");
                echo_part(out, part);
                return;
            }
            FetchItem::BodySection {
                section, partial, ..
            } => {
                out.extend_from_slice(b"BODY[");
                let mut first = true;
                for p in &section.part {
                    if !first {
                        out.push(b'.');
                    }
                    first = false;
                    out.extend_from_slice(p.to_string().as_bytes());
                }
                if let Some(text) = &section.text {
                    if !first {
                        out.push(b'.');
                    }
                    match text {
                        SectionText::Header => out.extend_from_slice(b"HEADER"),
                        SectionText::Text => out.extend_from_slice(b"TEXT"),
                        SectionText::Mime => out.extend_from_slice(b"MIME"),
                        SectionText::HeaderFields { not, fields } => {
                            out.extend_from_slice(if *not {
                                b"HEADER.FIELDS.NOT ("
                            } else {
                                b"HEADER.FIELDS ("
                            });
                            for (i, f) in fields.iter().enumerate() {
                                if i > 0 {
                                    out.push(b' ');
                                }
                                crate::imap::response::astring(out, f.as_bytes());
                            }
                            out.push(b')');
                        }
                    }
                }
                out.push(b']');
                if let Some((origin, _)) = partial {
                    out.extend_from_slice(format!("<{origin}>").as_bytes());
                }
                return;
            }
        };
        out.extend_from_slice(name);
    }
}

/// RFC 3516 `section-binary = "[" [section-part] "]"`.
fn echo_part(out: &mut Vec<u8>, part: &[u32]) {
    out.push(b'[');
    for (i, p) in part.iter().enumerate() {
        if i > 0 {
            out.push(b'.');
        }
        out.extend_from_slice(p.to_string().as_bytes());
    }
    out.push(b']');
}

#[cfg(test)]
mod tests {
    use super::*;
    use SeqNumber::{Star, Value};

    fn set(v: &[(SeqNumber, SeqNumber)]) -> SequenceSet {
        SequenceSet(v.to_vec())
    }

    #[test]
    fn sequence_set_resolves_star_and_reversed_ranges() {
        let s = set(&[(Value(1), Star)]);
        assert_eq!(s.iter(5).collect::<Vec<_>>(), [1, 2, 3, 4, 5]);
        let s = set(&[(Star, Value(4))]);
        assert_eq!(s.iter(6).collect::<Vec<_>>(), [4, 5, 6]);
        let s = set(&[(Value(5), Value(2))]);
        assert_eq!(s.iter(10).collect::<Vec<_>>(), [2, 3, 4, 5]);
        assert!(s.contains(3, 10) && !s.contains(6, 10));
        // UID 900:* with 500 the highest UID in use is 500:900.
        let s = set(&[(Value(900), Star)]);
        assert_eq!(s.iter(500).collect::<Vec<_>>(), [500]);
        assert!(s.contains(500, 500) && !s.contains(499, 500));
        // Past the end, merged, deduplicated.
        let s = set(&[
            (Value(3), Value(8)),
            (Value(1), Value(1)),
            (Value(2), Value(4)),
        ]);
        assert_eq!(s.iter(5).collect::<Vec<_>>(), [1, 2, 3, 4, 5]);
        assert_eq!(s.ranges(5), vec![1..=5]);
        assert_eq!(s.max_number(), Some(8));
        assert_eq!(set(&[(Star, Star)]).iter(0).count(), 0);
        assert_eq!(
            set(&[(Value(1), Value(u32::MAX))]).ranges(u32::MAX).len(),
            1
        );
    }

    /// `in_ranges` over `ranges` answers as `contains` for every number in
    /// use, on random sets of many ranges (stars, reversed, overlapping).
    #[test]
    fn resolved_ranges_answer_as_contains() {
        let mut rng: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |m: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % m
        };
        for _ in 0..200 {
            let max = 1 + next(300) as u32;
            let v: Vec<(SeqNumber, SeqNumber)> = (0..next(40))
                .map(|_| {
                    let mut n = || match next(10) {
                        0 => Star,
                        _ => Value(1 + next(u64::from(max) + 20) as u32),
                    };
                    (n(), n())
                })
                .collect();
            let s = set(&v);
            let r = s.ranges(max);
            for n in 1..=max {
                assert_eq!(
                    SequenceSet::in_ranges(&r, n),
                    s.contains(n, max),
                    "{v:?} {n}"
                );
            }
        }
    }

    #[test]
    fn sequence_number_users() {
        // RFC 5182 `$`: replaced by the saved numbers, runs joined; names
        // nothing when not replaced.
        let mut saved = SequenceSet(vec![
            (Value(9), Value(9)),
            (SeqNumber::Saved, SeqNumber::Saved),
        ]);
        assert!(saved.ranges(100).len() == 1 && saved.has_saved());
        saved.fill_saved(&[2, 3, 4, 7]);
        assert!(!saved.has_saved());
        assert_eq!(saved.ranges(100), vec![2..=4, 7..=7, 9..=9]);
        let set = SequenceSet(vec![(Value(1), Star)]);
        let search = |uid, criteria| CommandBody::Search {
            charset: None,
            criteria,
            uid,
            ret: None,
            order: None,
        };
        assert!(search(false, SearchKey::All).uses_sequence_numbers());
        assert!(!search(true, SearchKey::All).uses_sequence_numbers());
        let nested = SearchKey::Or(
            Box::new(SearchKey::Seen),
            Box::new(SearchKey::Not(Box::new(SearchKey::SequenceSet(
                set.clone(),
            )))),
        );
        assert!(search(true, nested).uses_sequence_numbers());
        assert!(!search(true, SearchKey::Uid(set.clone())).uses_sequence_numbers());
        let fetch = |uid| CommandBody::Fetch {
            set: set.clone(),
            items: vec![],
            uid,
            changed_since: None,
            vanished: false,
        };
        assert!(fetch(false).uses_sequence_numbers());
        assert!(!fetch(true).uses_sequence_numbers());
        assert!(!CommandBody::Noop.uses_sequence_numbers());
        assert!(!CommandBody::Expunge { uids: None }.uses_sequence_numbers());
    }

    #[test]
    fn debug_redacts_secrets() {
        let c = CommandBody::Login {
            userid: b"joe".to_vec(),
            password: b"hunter2".to_vec(),
        };
        let s = format!("{c:?}");
        assert!(s.contains("joe") && !s.contains("hunter2"), "{s}");
        let c = CommandBody::Authenticate {
            mechanism: "PLAIN".into(),
            initial_response: Some(b"\0joe\0hunter2".to_vec()),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn echo_names() {
        let e = |i: FetchItem| {
            let mut o = Vec::new();
            i.echo(&mut o);
            String::from_utf8(o).unwrap()
        };
        use crate::mime::SectionText;
        assert_eq!(
            e(FetchItem::BodySection {
                peek: true,
                section: Section {
                    part: vec![1, 2],
                    text: Some(SectionText::HeaderFields {
                        not: true,
                        fields: vec!["From".into(), "To".into()]
                    })
                },
                partial: Some((10, 20))
            }),
            "BODY[1.2.HEADER.FIELDS.NOT (From To)]<10>"
        );
        assert_eq!(
            e(FetchItem::BodySection {
                peek: false,
                section: Section::default(),
                partial: None
            }),
            "BODY[]"
        );
        assert_eq!(e(FetchItem::Rfc822Header), "RFC822.HEADER");
    }
}
