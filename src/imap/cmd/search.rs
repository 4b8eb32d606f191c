//! SEARCH and UID SEARCH (RFC 3501 6.4.4).
//!
//! Strings are compared as Unicode text under `i;unicode-casemap` (RFC
//! 5051, `mime::casemap`; I18NLEVEL=1, RFC 5255), after decoding
//! the message (MIME encoded-words in headers, base64 and quoted-printable
//! bodies, every charset encoding_rs knows) and the client's strings (from
//! the CHARSET given). Message files are opened only when a key needs
//! content, and only as far as it needs: headers or the whole message.

use std::io::{Read, Write};
use std::ops::RangeInclusive;

use chrono::{Datelike, FixedOffset, NaiveDate, TimeZone};

use crate::imap::command::{Order, SearchKey, SearchReturn, SearchSource, SequenceSet};
use crate::imap::session::{self, Done, Error, Result, Session, State};
use crate::limits;
use crate::mime;
use crate::mime::source::FileSource;
use crate::store::{flag, Mailbox, Message, MessageRead, StoreError};

/// What a key needs to read of a message.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Need {
    Nothing,
    Header,
    Whole,
}

fn need(k: &SearchKey) -> Need {
    use SearchKey::*;
    match k {
        Bcc(_) | Cc(_) | From(_) | Header(..) | Subject(_) | To(_) | SentBefore(_) | SentOn(_)
        | SentSince(_) => Need::Header,
        Body(_) | Text(_) => Need::Whole,
        Not(k) => need(k),
        Or(a, b) => need(a).max(need(b)),
        And(ks) => ks.iter().map(need).max().unwrap_or(Need::Nothing),
        _ => Need::Nothing,
    }
}

/// A search key with its strings decoded to `casemap::key`s once, before
/// looking at any message.
enum Key {
    Flag(u8, bool),
    Keyword(String, bool),
    Recent(bool),
    New,
    /// Resolved against the mailbox (`SequenceSet::ranges`), searched in
    /// O(log ranges) per message.
    Seq(Vec<RangeInclusive<u32>>),
    Uid(Vec<RangeInclusive<u32>>),
    /// RFC 7162 MODSEQ: changed at or after this modseq.
    ModSeq(u64),
    Size(bool, u64),
    Date(DateField, std::cmp::Ordering, NaiveDate),
    /// RFC 5032: the internal date at or before (OLDER) or at or after
    /// (YOUNGER) this time, as Dovecot compares.
    Time(std::cmp::Ordering, i64),
    Header(String, String),
    /// FROM, TO, CC, BCC: the field's addresses (see `address_text`).
    Address(&'static str, String),
    Body(String),
    Text(String),
    Not(Box<Key>),
    Or(Box<Key>, Box<Key>),
    And(Vec<Key>),
    All,
    /// RFC 8514 SAVEDATESUPPORTED.
    SaveDateSupported,
    /// RFC 8474 EMAILID.
    EmailId(String),
    /// RFC 8474 THREADID.
    ThreadId(String),
}

#[derive(Clone, Copy)]
enum DateField {
    Internal,
    Sent,
    /// RFC 8514: the save date, the internal date where there is none.
    Saved,
}

/// The largest sequence number and UID in use, for `*` and ranges.
#[derive(Clone, Copy)]
struct Max {
    seq: u32,
    uid: u32,
}

fn compile(k: &SearchKey, charset: &str, max: Max) -> Result<Key> {
    use std::cmp::Ordering::*;
    use SearchKey as S;
    let text = |b: &[u8]| -> Result<String> {
        let s = if charset.eq_ignore_ascii_case("UTF-8") || charset.eq_ignore_ascii_case("US-ASCII")
        {
            String::from_utf8_lossy(b).into_owned()
        } else {
            mime::decode::charset(charset, b).ok_or_else(badcharset)?
        };
        Ok(mime::casemap::key(&s))
    };
    Ok(match k {
        S::All => Key::All,
        S::Answered => Key::Flag(flag::ANSWERED, true),
        S::Unanswered => Key::Flag(flag::ANSWERED, false),
        S::Deleted => Key::Flag(flag::DELETED, true),
        S::Undeleted => Key::Flag(flag::DELETED, false),
        S::Draft => Key::Flag(flag::DRAFT, true),
        S::Undraft => Key::Flag(flag::DRAFT, false),
        S::Flagged => Key::Flag(flag::FLAGGED, true),
        S::Unflagged => Key::Flag(flag::FLAGGED, false),
        S::Seen => Key::Flag(flag::SEEN, true),
        S::Unseen => Key::Flag(flag::SEEN, false),
        S::Keyword(k) => Key::Keyword(k.clone(), true),
        S::Unkeyword(k) => Key::Keyword(k.clone(), false),
        S::Recent => Key::Recent(true),
        S::Old => Key::Recent(false),
        S::New => Key::New,
        S::SequenceSet(s) => Key::Seq(s.ranges(max.seq)),
        S::Uid(s) => Key::Uid(s.ranges(max.uid)),
        S::ModSeq(n) => Key::ModSeq(*n),
        S::Larger(n) => Key::Size(true, *n),
        S::Smaller(n) => Key::Size(false, *n),
        S::Before(d) => Key::Date(DateField::Internal, Less, *d),
        S::On(d) => Key::Date(DateField::Internal, Equal, *d),
        S::Since(d) => Key::Date(DateField::Internal, Greater, *d),
        S::Older(n) => Key::Time(Less, chrono::Utc::now().timestamp() - i64::from(*n)),
        S::Younger(n) => Key::Time(Greater, chrono::Utc::now().timestamp() - i64::from(*n)),
        S::SentBefore(d) => Key::Date(DateField::Sent, Less, *d),
        S::SentOn(d) => Key::Date(DateField::Sent, Equal, *d),
        S::SentSince(d) => Key::Date(DateField::Sent, Greater, *d),
        S::SavedBefore(d) => Key::Date(DateField::Saved, Less, *d),
        S::SavedOn(d) => Key::Date(DateField::Saved, Equal, *d),
        S::SavedSince(d) => Key::Date(DateField::Saved, Greater, *d),
        S::SaveDateSupported => Key::SaveDateSupported,
        S::EmailId(id) => Key::EmailId(id.clone()),
        S::ThreadId(id) => Key::ThreadId(id.clone()),
        S::Bcc(s) => Key::Address("bcc", text(s)?),
        S::Cc(s) => Key::Address("cc", text(s)?),
        S::From(s) => Key::Address("from", text(s)?),
        S::To(s) => Key::Address("to", text(s)?),
        S::Subject(s) => Key::Header("subject".into(), text(s)?),
        S::Header(f, s) => Key::Header(f.to_ascii_lowercase(), text(s)?),
        S::Body(s) => Key::Body(text(s)?),
        S::Text(s) => Key::Text(text(s)?),
        S::Not(k) => Key::Not(Box::new(compile(k, charset, max)?)),
        S::Or(a, b) => Key::Or(
            Box::new(compile(a, charset, max)?),
            Box::new(compile(b, charset, max)?),
        ),
        S::And(ks) => Key::And(
            ks.iter()
                .map(|k| compile(k, charset, max))
                .collect::<Result<_>>()?,
        ),
    })
}

fn badcharset() -> Error {
    Error::no_code("BADCHARSET (US-ASCII UTF-8)", "Unsupported charset")
}

/// SEARCH; SORT and THREAD when `order` says so: the same search, its
/// results in the order of `sort::order`, answered `* SORT` (or ESEARCH
/// for RETURN: MIN and MAX the first and last in that order, ALL in it),
/// or as threads (`thread::thread`).
pub fn search(
    s: &mut Session,
    charset: Option<&str>,
    criteria: &SearchKey,
    uid: bool,
    (tag, ret, order): (&str, Option<SearchReturn>, Option<&Order>),
) -> Result<Done> {
    // RFC 9051 6.4.4: in IMAP4rev2 SEARCH is answered by ESEARCH, ALL
    // when no RETURN option says otherwise.
    let ret = match ret {
        None if order.is_none() && crate::imap::response::imap4rev2() => Some(SearchReturn {
            all: true,
            ..SearchReturn::default()
        }),
        r => r,
    };
    // RFC 5182 2.1: a SEARCH ... SAVE that fails leaves the empty set.
    if let (Some(true), State::Selected(sel)) = (ret.map(|r| r.save), &mut s.state) {
        sel.saved.clear();
    }
    let charset = known_charset(charset)?;
    // RFC 7162 3.1.5: MODSEQ enables CONDSTORE, and the answer then ends
    // with the highest modseq of the messages found.
    let by_modseq = criteria.has_modseq();
    if by_modseq {
        s.enable_condstore()?;
    }
    let out: &mut dyn std::io::Write = &mut *s.out;
    let State::Selected(sel) = &mut s.state else {
        return Err(Error::Bad("No mailbox selected".into()));
    };
    let mailbox = sel.mailbox.as_mut();
    let Found {
        hits: mut found,
        indexes,
        unreadable,
    } = find(mailbox, criteria, charset, uid)?;
    if let Some(Order::Sort(criteria)) = order {
        let order = super::sort::order(mailbox, &indexes, criteria)?;
        found = order.into_iter().map(|p| found[p]).collect();
    }
    let threads = match order {
        Some(Order::Thread(algorithm)) => {
            let numbers: Vec<u32> = found.iter().map(|&(n, _)| n).collect();
            Some(super::thread::thread(
                mailbox, &indexes, &numbers, *algorithm,
            )?)
        }
        _ => None,
    };
    // RFC 5182 2.1: SAVE keeps the result as UIDs (only the MIN and MAX
    // messages when no ALL or COUNT was asked for); a SEARCH that fails
    // leaves the empty set.
    if let Some(r) = ret.filter(|r| r.save && unreadable == 0) {
        let keep = saved(r, &found);
        sel.saved = if uid {
            keep
        } else {
            keep.iter()
                .map(|&n| sel.mailbox.uid(n as usize - 1))
                .collect()
        };
    }
    let mut line = match ret {
        None if threads.is_some() => threads.unwrap_or_default(),
        // SAVE alone: no answer but the tagged one.
        Some(r) if r.save && !r.answers() => Vec::new(),
        None => {
            let mut line = if order.is_some() {
                b"* SORT".to_vec()
            } else {
                b"* SEARCH".to_vec()
            };
            for (n, _) in &found {
                let _ = write!(line, " {n}");
            }
            let highest = found.iter().map(|&(_, m)| m).max();
            if let (true, Some(h)) = (by_modseq, highest) {
                line.extend_from_slice(format!(" (MODSEQ {h})").as_bytes());
            }
            line.extend_from_slice(b"\r\n");
            line
        }
        Some(r) => esearch(&correlator(tag, None), uid, r, &found, by_modseq),
    };
    // RFC 5267 UPDATE: the result, as UIDs in its order, is kept live.
    if ret.is_some_and(|r| r.update) {
        let uids = found
            .iter()
            .map(|&(n, _)| {
                if uid {
                    n
                } else {
                    sel.mailbox.uid(n as usize - 1)
                }
            })
            .collect();
        let sort = match order {
            Some(Order::Sort(c)) => Some(&c[..]),
            _ => None,
        };
        if let Some(no) = super::context::keep(sel, (tag, uid), (charset, criteria, sort), uids) {
            line.extend_from_slice(&no);
        }
    }
    out.write_all(&line)?;
    if unreadable > 0 {
        return Err(Error::no_code(
            session::UNAVAILABLE,
            "Some messages cannot be read now and were not searched; see the server log.",
        ));
    }
    Done::ok(if let Some(Order::Thread(_)) = order {
        "Thread completed."
    } else if order.is_some() {
        "Sort completed."
    } else {
        "Search completed."
    })
}

/// The SEARCH charset, checked: BADCHARSET unless we can decode it.
fn known_charset(charset: Option<&str>) -> Result<&str> {
    let charset = charset.unwrap_or("US-ASCII");
    if !charset.eq_ignore_ascii_case("UTF-8")
        && !charset.eq_ignore_ascii_case("US-ASCII")
        && mime::decode::charset(charset, b"").is_none()
    {
        return Err(badcharset());
    }
    Ok(charset)
}

/// What one mailbox's search found: each match (its number, or UID with
/// `uid`) and its modseq, in mailbox order; where each is in the mailbox
/// (for SORT and THREAD); how many messages could not be read.
pub(super) struct Found {
    pub hits: Vec<(u32, u64)>,
    pub indexes: Vec<usize>,
    pub unreadable: usize,
}

/// Searches every message of `mailbox` for `criteria` (its strings in
/// `charset`, checked by `known_charset`).
pub(super) fn find(
    mailbox: &mut dyn Mailbox,
    criteria: &SearchKey,
    charset: &str,
    uid: bool,
) -> Result<Found> {
    let want = need(criteria);
    let count = mailbox.count();
    let max = Max {
        seq: u32::try_from(count).unwrap_or(u32::MAX),
        uid: count.checked_sub(1).map_or(0, |last| mailbox.uid(last)),
    };
    let key = compile(criteria, charset, max)?;
    let mut found = Found {
        hits: Vec::new(),
        indexes: Vec::new(),
        unreadable: 0,
    };
    // ALL (what SORT and THREAD search most) needs nothing of a message
    // but its UID; the modseqs are read only for a search with MODSEQ.
    if *criteria == SearchKey::All {
        found.indexes = (0..count).collect();
        found.hits = (0..count)
            .map(|i| (if uid { mailbox.uid(i) } else { i as u32 + 1 }, 0))
            .collect();
        return Ok(found);
    }
    for i in 0..count {
        let m = mailbox.message(i);
        let mut content = Content::new(want, m.size);
        let ctx = Ctx { seq: i as u32 + 1 };
        match matches(&key, &m, &ctx, &mut content, mailbox, i) {
            Ok(true) => {
                found
                    .hits
                    .push((if uid { m.uid } else { i as u32 + 1 }, m.modseq));
                found.indexes.push(i);
            }
            Ok(false) => {}
            // A message removed under us simply does not match.
            Err(StoreError::Expunged) | Err(StoreError::NotFound) => {}
            // A file that cannot be read does not match; the others are
            // still searched and the tagged NO says the result is partial.
            Err(StoreError::Unreadable(why)) => {
                log::warn!("{why}");
                found.unreadable += 1;
            }
            Err(e) => return Err(e.into()),
        }
    }
    // EMAILIDs computed for `SEARCH EMAILID` go to the cache.
    mailbox.flush_cache();
    Ok(found)
}

/// RFC 5182 2.1: what SAVE keeps of a result, as an ascending set: only
/// the MIN and MAX messages when no ALL or COUNT was asked for.
fn saved(r: SearchReturn, found: &[(u32, u64)]) -> Vec<u32> {
    let mut keep: Vec<u32> = if r.all || r.count || !(r.min || r.max) {
        found.iter().map(|&(n, _)| n).collect()
    } else {
        let ends = [
            found.first().filter(|_| r.min),
            found.last().filter(|_| r.max),
        ];
        ends.into_iter().flatten().map(|&(n, _)| n).collect()
    };
    // SORT found them in its own order.
    keep.sort_unstable();
    keep.dedup();
    keep
}

/// RFC 7377 ESEARCH (MULTISEARCH): the search in each mailbox `sources`
/// names, in the order they name them, each answered by an ESEARCH
/// response in UIDs with the mailbox and its UIDVALIDITY (RFC 7377 2.1);
/// a mailbox where nothing matched gets none. A mailbox that does not
/// exist or cannot be selected is left out. Message numbers and `$` mean
/// something only in the selected mailbox, so criteria with them are BAD
/// for any other, as is SAVE.
pub fn multisearch(
    s: &mut Session,
    tag: &str,
    sources: &[SearchSource],
    ret: SearchReturn,
    (charset, criteria): (Option<&str>, &SearchKey),
) -> Result<Done> {
    let charset = known_charset(charset)?;
    let selected = match &s.state {
        State::Selected(sel) => Some(sel.name.clone()),
        _ => None,
    };
    let names = source_names(s, sources, selected.as_deref())?;
    let elsewhere = names.iter().any(|n| Some(n) != selected.as_ref());
    if ret.update {
        return Err(Error::Bad("UPDATE only with SEARCH and SORT".into()));
    }
    if ret.save && sources != [SearchSource::Selected] {
        return Err(Error::Bad(
            "SAVE only with the selected mailbox as the only source".into(),
        ));
    }
    if elsewhere && (criteria.has_sequence_set() || criteria.has_saved()) {
        return Err(Error::Bad(
            "Message numbers and $ name messages of the selected mailbox only".into(),
        ));
    }
    let by_modseq = criteria.has_modseq();
    if by_modseq {
        s.enable_condstore()?;
    }
    let mut unreadable = 0;
    for name in &names {
        let (found, validity) = match &mut s.state {
            State::Selected(sel) if Some(name) == selected.as_ref() => {
                let found = find(sel.mailbox.as_mut(), criteria, charset, true)?;
                if ret.save && found.unreadable == 0 {
                    sel.saved = saved(ret, &found.hits);
                }
                (found, sel.mailbox.uid_validity())
            }
            _ => {
                let mut mailbox = match s.store()?.open(name, true) {
                    Ok(m) => m,
                    Err(StoreError::NotFound) => continue,
                    Err(e) => return Err(e.into()),
                };
                let found = find(mailbox.as_mut(), criteria, charset, true)?;
                (found, mailbox.uid_validity())
            }
        };
        unreadable += found.unreadable;
        // SAVE alone asks for no answer but the tagged one.
        if found.hits.is_empty() || !ret.answers() {
            continue;
        }
        let line = esearch(
            &correlator(tag, Some((name, validity))),
            true,
            ret,
            &found.hits,
            by_modseq,
        );
        s.out.write_all(&line)?;
    }
    if unreadable > 0 {
        return Err(Error::no_code(
            session::UNAVAILABLE,
            "Some messages cannot be read now and were not searched; see the server log.",
        ));
    }
    Done::ok("Search completed.")
}

/// The mailboxes RFC 7377's sources name (RFC 5465 6), each once, in the
/// order named; only those that exist and can be selected.
fn source_names(
    s: &mut Session,
    sources: &[SearchSource],
    selected: Option<&str>,
) -> Result<Vec<String>> {
    // The default source needs no listing: the selected mailbox exists.
    if sources.iter().all(|s| *s == SearchSource::Selected) {
        return Ok(selected.map(str::to_string).into_iter().collect());
    }
    let store = s.store()?;
    let sep = store.separator();
    let all: Vec<String> = store
        .list()?
        .into_iter()
        .filter(|m| !m.noselect)
        .map(|m| m.name)
        .collect();
    let subscribed = if sources.contains(&SearchSource::Subscribed) {
        store.subscriptions()?
    } else {
        Vec::new()
    };
    let under = |parent: &str, name: &str, one: bool| {
        name.strip_prefix(parent)
            .and_then(|r| r.strip_prefix(sep))
            .is_some_and(|r| !one || !r.contains(sep))
    };
    let mut names: Vec<String> = Vec::new();
    for source in sources {
        let named: Vec<&String> = match source {
            SearchSource::Selected => all
                .iter()
                .filter(|n| Some(n.as_str()) == selected)
                .collect(),
            SearchSource::Inboxes => all.iter().filter(|n| *n == "INBOX").collect(),
            SearchSource::Personal => all.iter().collect(),
            SearchSource::Subscribed => all.iter().filter(|n| subscribed.contains(n)).collect(),
            SearchSource::Mailboxes(list) => all.iter().filter(|n| list.contains(n)).collect(),
            SearchSource::Subtree(list) | SearchSource::SubtreeOne(list) => {
                let one = matches!(source, SearchSource::SubtreeOne(_));
                all.iter()
                    .filter(|n| list.iter().any(|p| *n == p || under(p, n, one)))
                    .collect()
            }
        };
        for n in named {
            if !names.contains(n) {
                names.push(n.clone());
            }
        }
    }
    Ok(names)
}

/// RFC 4466 `search-correlator`: `(TAG "t")`, with RFC 7377's `MAILBOX
/// name UIDVALIDITY n` for ESEARCH.
fn correlator(tag: &str, mailbox: Option<(&str, u32)>) -> Vec<u8> {
    let mut c = format!("(TAG \"{tag}\"").into_bytes();
    if let Some((name, validity)) = mailbox {
        c.extend_from_slice(b" MAILBOX ");
        crate::imap::response::mailbox(&mut c, name);
        c.extend_from_slice(format!(" UIDVALIDITY {validity}").as_bytes());
    }
    c.push(b')');
    c
}

/// RFC 4731 `* ESEARCH correlator [UID] [MIN n] [MAX n] [COUNT n] [ALL
/// set]`, with RFC 7162 3.1.5's `MODSEQ n` when MODSEQ was searched: the
/// highest modseq of the messages the answer names (all of them for ALL
/// or COUNT, else the MIN and MAX ones). Nothing found: no MIN, MAX, ALL
/// nor MODSEQ, and COUNT 0.
fn esearch(
    correlator: &[u8],
    uid: bool,
    r: SearchReturn,
    found: &[(u32, u64)],
    by_modseq: bool,
) -> Vec<u8> {
    let mut line = b"* ESEARCH ".to_vec();
    line.extend_from_slice(correlator);
    if uid {
        line.extend_from_slice(b" UID");
    }
    let (first, last) = (found.first(), found.last());
    if let (true, Some((n, _))) = (r.min, first) {
        line.extend_from_slice(format!(" MIN {n}").as_bytes());
    }
    if let (true, Some((n, _))) = (r.max, last) {
        line.extend_from_slice(format!(" MAX {n}").as_bytes());
    }
    if r.count {
        line.extend_from_slice(format!(" COUNT {}", found.len()).as_bytes());
    }
    // RFC 5267 4.4: `PARTIAL (low:high set)`, the results at those
    // places (from 1, in the result's order), NIL for none.
    if let Some((low, high)) = r.partial {
        let from = (low as usize - 1).min(found.len());
        let to = (high as usize).min(found.len());
        let numbers: Vec<u32> = found[from..to].iter().map(|&(n, _)| n).collect();
        let set = if numbers.is_empty() {
            "NIL".to_string()
        } else {
            super::append::uid_set(&numbers)
        };
        line.extend_from_slice(format!(" PARTIAL ({low}:{high} {set})").as_bytes());
    }
    if r.all && !found.is_empty() {
        let numbers: Vec<u32> = found.iter().map(|&(n, _)| n).collect();
        line.extend_from_slice(format!(" ALL {}", super::append::uid_set(&numbers)).as_bytes());
    }
    let named = if r.all || r.count {
        found.iter().map(|&(_, m)| m).max()
    } else {
        let ends = [r.min.then_some(first), r.max.then_some(last)];
        ends.into_iter().flatten().flatten().map(|&(_, m)| m).max()
    };
    if let (true, Some(h)) = (by_modseq, named) {
        line.extend_from_slice(format!(" MODSEQ {h}").as_bytes());
    }
    line.extend_from_slice(b"\r\n");
    line
}

struct Ctx {
    seq: u32,
}

/// A message's content, read and decoded at most once per message. A
/// large one is not read into memory: `raw` is then its header block and
/// `file` a window on it, whose text is decoded as it is searched.
struct Content {
    want: Need,
    size: u64,
    raw: Option<Vec<u8>>,
    part: Option<mime::Part>,
    file: Option<FileSource<Box<dyn MessageRead>>>,
    body_text: Option<String>,
    full_text: Option<String>,
}

impl Content {
    fn new(want: Need, size: u64) -> Content {
        Content {
            want,
            size,
            raw: None,
            part: None,
            file: None,
            body_text: None,
            full_text: None,
        }
    }

    fn load(
        &mut self,
        mailbox: &mut dyn Mailbox,
        index: usize,
    ) -> std::result::Result<(), StoreError> {
        if self.raw.is_none() {
            let mut r = mailbox.open_message(index)?;
            if self.want == Need::Whole && self.size > limits::FETCH_STREAM_ABOVE {
                let src = FileSource::new(r)?;
                let part = mime::parse_source(&src);
                if let Some(e) = src.take_error() {
                    return Err(e.into());
                }
                self.raw = Some(part.header_bytes(&src).into_owned());
                self.part = Some(part);
                self.file = Some(src);
                return Ok(());
            }
            let v = if self.want == Need::Header {
                mime::header::read_block(&mut r)?
            } else {
                let mut v = Vec::new();
                r.read_to_end(&mut v)?;
                v
            };
            self.part = Some(mime::parse(&v));
            self.raw = Some(v);
        }
        Ok(())
    }
}

fn matches(
    key: &Key,
    m: &Message,
    ctx: &Ctx,
    c: &mut Content,
    mailbox: &mut dyn Mailbox,
    index: usize,
) -> std::result::Result<bool, StoreError> {
    Ok(match key {
        Key::All => true,
        Key::SaveDateSupported => mailbox.save_date(index).is_some(),
        Key::EmailId(id) => crate::store::objectid::email_id(mailbox, index)? == *id,
        Key::ThreadId(id) => super::thread::thread_id(mailbox, index)? == *id,
        Key::Flag(bit, want) => m.flags.has(*bit) == *want,
        Key::Keyword(k, want) => m.flags.has_keyword(k) == *want,
        Key::Recent(want) => m.recent == *want,
        Key::New => m.recent && !m.flags.has(flag::SEEN),
        Key::Seq(r) => SequenceSet::in_ranges(r, ctx.seq),
        Key::Uid(r) => SequenceSet::in_ranges(r, m.uid),
        Key::ModSeq(n) => m.modseq >= *n,
        Key::Size(larger, n) => {
            if *larger {
                m.size > *n
            } else {
                m.size < *n
            }
        }
        Key::Time(ord, at) => mailbox.internal_date(index).0.cmp(at) != ord.reverse(),
        Key::Date(field, ord, date) => {
            let day = match field {
                DateField::Internal => {
                    let (d, z) = mailbox.internal_date(index);
                    day_of(d, z)
                }
                // RFC 8514 4.3: "disregarding time and timezone", of a
                // save date kept in UTC; the internal date where the
                // mailbox keeps none.
                DateField::Saved => match mailbox.save_date(index) {
                    Some(t) => day_of(t, 0),
                    None => {
                        let (d, z) = mailbox.internal_date(index);
                        day_of(d, z)
                    }
                },
                DateField::Sent => {
                    c.load(mailbox, index)?;
                    sent_date(c)
                }
            };
            match day {
                // RFC 3501: SINCE is "within or later than" the date.
                Some(d) => match ord {
                    std::cmp::Ordering::Greater => d >= *date,
                    o => d.cmp(date) == *o,
                },
                None => false,
            }
        }
        Key::Header(field, needle) => {
            c.load(mailbox, index)?;
            header_contains(c, field, needle)
        }
        Key::Address(field, needle) => {
            c.load(mailbox, index)?;
            address_contains(c, field, needle)
        }
        Key::Body(needle) => {
            c.load(mailbox, index)?;
            text_contains(c, needle, false)?
        }
        Key::Text(needle) => {
            c.load(mailbox, index)?;
            text_contains(c, needle, true)?
        }
        Key::Not(k) => !matches(k, m, ctx, c, mailbox, index)?,
        Key::Or(a, b) => {
            matches(a, m, ctx, c, mailbox, index)? || matches(b, m, ctx, c, mailbox, index)?
        }
        Key::And(ks) => {
            for k in ks {
                if !matches(k, m, ctx, c, mailbox, index)? {
                    return Ok(false);
                }
            }
            true
        }
    })
}

fn day_of(secs: i64, zone_minutes: i32) -> Option<NaiveDate> {
    let zone = FixedOffset::east_opt(zone_minutes * 60)?;
    let t = zone.timestamp_opt(secs, 0).single()?;
    NaiveDate::from_ymd_opt(t.year(), t.month(), t.day())
}

fn sent_date(c: &Content) -> Option<NaiveDate> {
    let (raw, part) = (c.raw.as_ref()?, c.part.as_ref()?);
    let value = header_values(raw, part, "date").into_iter().next()?;
    let (secs, zone) = mime::date::parse_rfc2822(&String::from_utf8_lossy(value))?;
    day_of(secs, zone)
}

/// A header field whose decoded value contains `needle`. RFC 3501: HEADER
/// with an empty string matches every message that has the field.
fn header_contains(c: &Content, field: &str, needle: &str) -> bool {
    let (Some(raw), Some(part)) = (&c.raw, &c.part) else {
        return false;
    };
    header_values(raw, part, field).into_iter().any(|v| {
        needle.is_empty() || mime::casemap::key(&mime::decode::header_value(v)).contains(needle)
    })
}

/// An address field one of whose addresses, written without comments and
/// folding (RFC 5322 3.2.2) as `display name <local@domain>` (or
/// `<local@domain>`), contains
/// `needle` (as Dovecot matches FROM/TO/CC/BCC). A value with no address
/// that can be parsed is matched as text.
fn address_contains(c: &Content, field: &str, needle: &str) -> bool {
    let (Some(raw), Some(part)) = (&c.raw, &c.part) else {
        return false;
    };
    header_values(raw, part, field)
        .into_iter()
        .any(|v| needle.is_empty() || mime::casemap::key(&address_text(v)).contains(needle))
}

fn address_text(value: &[u8]) -> String {
    use mime::imap::address::parse_list;
    let list = parse_list(value);
    if list.is_empty() {
        return mime::decode::header_value(value);
    }
    let mut out = String::new();
    for a in list {
        let text = |b: &Option<Vec<u8>>| {
            String::from_utf8_lossy(b.as_deref().unwrap_or_default()).into_owned()
        };
        match (&a.name, &a.mailbox, &a.host) {
            // A group's end.
            (None, None, None) => out.push(';'),
            // A group's start: its name.
            (None, Some(_), None) if a.route.is_none() => {
                out.push_str(&text(&a.mailbox));
                out.push_str(": ");
            }
            _ => {
                if let Some(n) = &a.name {
                    out.push_str(&mime::decode::header_value(n));
                    out.push(' ');
                }
                out.push_str(&format!("<{}@{}>", text(&a.mailbox), text(&a.host)));
                out.push_str(", ");
            }
        }
    }
    out
}

/// TEXT (`headers`: every header and the body text,
/// `mime::decode::full_text`) or BODY (the decoded text of the parts,
/// `mime::decode::body_text`).
fn text_contains(
    c: &mut Content,
    needle: &str,
    headers: bool,
) -> std::result::Result<bool, StoreError> {
    if let (Some(src), Some(part)) = (&c.file, &c.part) {
        return streamed_contains(src, part, headers, needle);
    }
    let (slot, decode): (_, fn(&[u8], &mime::Part) -> String) = if headers {
        (&mut c.full_text, mime::decode::full_text)
    } else {
        (&mut c.body_text, mime::decode::body_text)
    };
    Ok(decoded_contains(&c.raw, &c.part, slot, decode, needle))
}

/// Looks for `needle` in a large message's text as it is decoded, a
/// window at a time (`mime::decode::stream_text`), in bounded memory.
fn streamed_contains(
    src: &FileSource<Box<dyn MessageRead>>,
    part: &mime::Part,
    headers: bool,
    needle: &str,
) -> std::result::Result<bool, StoreError> {
    let mut finder = Finder::new(needle);
    mime::decode::stream_text(src, part, headers, &mut |piece| finder.feed(piece));
    if let Some(e) = src.take_error() {
        return Err(e.into());
    }
    Ok(finder.found)
}

/// A case-insensitive substring search over text given in pieces: the end
/// of what was seen (one character less than the needle) is kept, so that
/// a match across two pieces is found.
struct Finder<'n> {
    needle: &'n str,
    keep: usize,
    tail: String,
    found: bool,
}

impl<'n> Finder<'n> {
    /// `needle` is already a `casemap::key`.
    fn new(needle: &'n str) -> Finder<'n> {
        Finder {
            needle,
            keep: needle.chars().count().saturating_sub(1),
            tail: String::new(),
            found: needle.is_empty(),
        }
    }

    fn feed(&mut self, piece: &str) {
        if self.found {
            return;
        }
        self.tail.push_str(&mime::casemap::key(piece));
        if self.tail.contains(self.needle) {
            self.found = true;
            return;
        }
        // Keep the last `keep` characters.
        let cut = match self.keep {
            0 => self.tail.len(),
            k => self
                .tail
                .char_indices()
                .rev()
                .nth(k - 1)
                .map_or(0, |(i, _)| i),
        };
        self.tail.drain(..cut);
    }
}

/// Whether `decode` of the message, made a `casemap::key` once per
/// message and kept in `slot`, contains `needle`.
fn decoded_contains(
    raw: &Option<Vec<u8>>,
    part: &Option<mime::Part>,
    slot: &mut Option<String>,
    decode: fn(&[u8], &mime::Part) -> String,
    needle: &str,
) -> bool {
    if slot.is_none() {
        let (Some(raw), Some(part)) = (raw, part) else {
            return false;
        };
        *slot = Some(mime::casemap::key(&decode(raw, part)));
    }
    slot.as_deref().is_some_and(|t| t.contains(needle))
}

/// The raw values of the header fields called `name`, in message order.
fn header_values<'r>(raw: &'r [u8], part: &mime::Part, name: &str) -> Vec<&'r [u8]> {
    mime::header::fields(raw, part.header.clone())
        .into_iter()
        .filter(|f| f.name.eq_ignore_ascii_case(name.as_bytes()))
        .map(|f| f.value)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::Finder;

    /// A match split across two pieces at any character is found; text
    /// without it is not.
    #[test]
    fn finder_finds_matches_across_pieces() {
        let text = "Some Text with Caf\u{e9}-N\u{c9}EDLE inside, and more";
        // The needle as `compile` makes it: its casemap key.
        for needle in ["caf\u{e9}-n\u{e9}edle", "t", "more", "some text"] {
            let needle = &crate::mime::casemap::key(needle);
            let cuts: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
            for &a in &cuts {
                for &b in cuts.iter().filter(|&&b| b >= a) {
                    let mut f = Finder::new(needle);
                    for piece in [&text[..a], &text[a..b], &text[b..]] {
                        f.feed(piece);
                    }
                    assert!(f.found, "{needle:?} cut at {a} and {b}");
                }
            }
        }
        let mut f = Finder::new("absent");
        for piece in text.split_inclusive(' ') {
            f.feed(piece);
        }
        assert!(!f.found);
    }
}
