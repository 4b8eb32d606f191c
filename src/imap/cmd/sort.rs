//! SORT and UID SORT (RFC 5256), with RFC 5957's DISPLAYFROM and
//! DISPLAYTO; the search itself and the answer are `search::search`'s.
//!
//! What a message is sorted and threaded by is taken from its header block
//! once (`Keys`) and kept in the mailbox's cache (`Kind::SortKeys`), so a
//! second SORT or THREAD reads no message file; ARRIVAL and SIZE come
//! from the state. SORT keeps each key's values in order in a sort index
//! (`store::sortindex`), so a later SORT by it reads one small file and
//! orders ranks. Strings compare under `i;unicode-casemap` (RFC 5255
//! I18NLEVEL=1, `mime::casemap`): by their keys' octets, so case and the
//! Unicode forms of one letter do not matter. Messages
//! equal under every key stay in mailbox order, REVERSE or not (RFC 5256
//! 3: "sorted in the order they appear in the mailbox").

use std::cmp::Ordering;

use crate::imap::command::{SortCriterion, SortKey};
use crate::mime;
use crate::mime::imap::address::{parse_list, Address};
use crate::store::cache::Kind;
use crate::store::sortindex::{self, SortIndex};
use crate::store::{Mailbox, Message, StoreError, Uid};

/// What SORT and THREAD take from a message's header block.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Keys {
    /// The Date field in UTC, when it can be read.
    pub date: Option<i64>,
    /// The base subject (RFC 5256 2.1), and whether the subject is a
    /// reply or a forward.
    pub subject: String,
    pub reply: bool,
    /// The addr-mailbox of the first From, To and Cc address.
    pub from: Vec<u8>,
    pub to: Vec<u8>,
    pub cc: Vec<u8>,
    /// RFC 5957 3's display value of the first From and To address.
    pub display_from: String,
    pub display_to: String,
    /// The Message-ID, and the References (In-Reply-To's first ID when
    /// there is no References field).
    pub id: Option<Vec<u8>>,
    pub references: Vec<Vec<u8>>,
}

/// The cache form's version: 2 since an address without a local part
/// compares as ENVELOPE shows it (`MISSING_MAILBOX`) and a zone without
/// white space before it makes no date. Keys cached in another are made
/// again from the header.
const KEYS_VERSION: u8 = 2;

impl Keys {
    /// The keys of the header block `header`.
    pub fn of(header: &[u8]) -> Keys {
        let fields = mime::header::fields(header, 0..header.len());
        let field = |name: &str| mime::header::first(&fields, name);
        let first = |name: &str| field(name).and_then(|v| parse_list(v).into_iter().next());
        let mailbox = |a: &Option<Address>| {
            a.as_ref()
                .and_then(|a| a.shown_mailbox().map(<[u8]>::to_vec))
                .unwrap_or_default()
        };
        let (from, to) = (first("from"), first("to"));
        let (subject, reply) = base_subject_and_reply(
            &field("subject")
                .map(mime::decode::header_value)
                .unwrap_or_default(),
        );
        let references = match field("references") {
            Some(v) => msg_ids(v),
            None => field("in-reply-to")
                .map(msg_ids)
                .unwrap_or_default()
                .into_iter()
                .take(1)
                .collect(),
        };
        Keys {
            date: field("date")
                .and_then(|v| mime::date::parse_rfc2822(&String::from_utf8_lossy(v)))
                .map(|(secs, _)| secs),
            subject,
            reply,
            from: mailbox(&from),
            to: mailbox(&to),
            cc: mailbox(&first("cc")),
            display_from: display(from.as_ref()),
            display_to: display(to.as_ref()),
            id: field("message-id").and_then(|v| msg_ids(v).into_iter().next()),
            references,
        }
    }

    /// RFC 5256: the sent date, or the internal date of message `index`
    /// when there is none.
    pub fn sent_date(&self, mailbox: &dyn Mailbox, index: usize) -> i64 {
        self.date.unwrap_or_else(|| mailbox.internal_date(index).0)
    }

    /// The cache's form: a version octet, then each field (strings with a
    /// 4-octet length, the date behind a presence octet).
    fn encode(&self) -> Vec<u8> {
        let mut out = vec![KEYS_VERSION];
        let mut put = |b: &[u8]| {
            out.extend_from_slice(&(b.len() as u32).to_le_bytes());
            out.extend_from_slice(b);
        };
        match self.date {
            Some(d) => put(&d.to_le_bytes()),
            None => put(&[]),
        }
        put(self.subject.as_bytes());
        put(&[u8::from(self.reply)]);
        for b in [&self.from, &self.to, &self.cc] {
            put(b);
        }
        put(self.display_from.as_bytes());
        put(self.display_to.as_bytes());
        put(self.id.as_deref().unwrap_or_default());
        put(&[u8::from(self.id.is_some())]);
        put(&(self.references.len() as u32).to_le_bytes());
        for r in &self.references {
            put(r);
        }
        out
    }

    /// `encode`'s inverse; None for anything else (then recomputed).
    fn decode(b: &[u8]) -> Option<Keys> {
        let (&version, mut rest) = b.split_first()?;
        if version != KEYS_VERSION {
            return None;
        }
        let mut take = || -> Option<Vec<u8>> {
            let (len, more) = rest.split_first_chunk::<4>()?;
            let (v, more) = more.split_at_checked(u32::from_le_bytes(*len) as usize)?;
            rest = more;
            Some(v.to_vec())
        };
        let date = take()?;
        let date = match date.len() {
            0 => None,
            _ => Some(i64::from_le_bytes(date.try_into().ok()?)),
        };
        let text = |v: Vec<u8>| String::from_utf8(v).ok();
        let subject = text(take()?)?;
        let reply = take()? == [1];
        let (from, to, cc) = (take()?, take()?, take()?);
        let (display_from, display_to) = (text(take()?)?, text(take()?)?);
        let id = take()?;
        let id = (take()? == [1]).then_some(id);
        let n = u32::from_le_bytes(take()?.try_into().ok()?);
        let references = (0..n).map(|_| take()).collect::<Option<Vec<_>>>()?;
        if !rest.is_empty() {
            return None;
        }
        Some(Keys {
            date,
            subject,
            reply,
            from,
            to,
            cc,
            display_from,
            display_to,
            id,
            references,
        })
    }
}

/// The keys of message `i` (`m`): from the cache, or read from its header
/// block and offered to the cache. A message gone, or whose file cannot
/// be read (logged), has the keys of an empty header, not cached.
pub fn keys(mailbox: &mut dyn Mailbox, i: usize, m: &Message) -> Result<Keys, StoreError> {
    if let Some(k) = mailbox
        .cached(i, Kind::SortKeys)
        .and_then(|b| Keys::decode(&b))
    {
        return Ok(k);
    }
    let header = match mailbox.open_message(i) {
        Ok(mut r) => match mime::header::read_block(&mut r) {
            Ok(h) => h,
            Err(e) => {
                log::warn!("message {}: {e}", m.uid);
                return Ok(Keys::default());
            }
        },
        Err(StoreError::Expunged | StoreError::NotFound) => return Ok(Keys::default()),
        Err(StoreError::Unreadable(why)) => {
            log::warn!("{why}");
            return Ok(Keys::default());
        }
        Err(e) => return Err(e),
    };
    let k = Keys::of(&header);
    mailbox.cache(i, Kind::SortKeys, &k.encode());
    Ok(k)
}

/// The order of the messages at `indexes` of `mailbox` under `criteria`,
/// as positions in `indexes`, which must be in mailbox order. ARRIVAL and
/// SIZE come from the view, every other key as ranks from its sort index.
pub fn order(
    mailbox: &mut dyn Mailbox,
    indexes: &[usize],
    criteria: &[SortCriterion],
) -> Result<Vec<usize>, StoreError> {
    // One key the sort index ranks: a counting sort by rank.
    if let [c] = criteria {
        if let Some(name) = index_name(c.key) {
            let r = ranks(mailbox, c.key, name)?;
            let keys: Vec<u32> = indexes
                .iter()
                .map(|&i| r.get(i).copied().unwrap_or(u32::MAX))
                .collect();
            return Ok(by_rank(&keys, c.reverse));
        }
    }
    // Message p's number for criterion k at p * n + k.
    let n = criteria.len();
    let mut values: Vec<i64> = vec![0; indexes.len() * n];
    for (k, c) in criteria.iter().enumerate() {
        let ranks = match index_name(c.key) {
            Some(name) => Some(ranks(mailbox, c.key, name)?),
            None => None,
        };
        for (p, &i) in indexes.iter().enumerate() {
            values[p * n + k] = match (&ranks, c.key) {
                (Some(r), _) => i64::from(r.get(i).copied().unwrap_or(u32::MAX)),
                (None, SortKey::Arrival) => mailbox.internal_date(i).0,
                (None, _) => i64::try_from(mailbox.message(i).size).unwrap_or(i64::MAX),
            };
        }
    }
    let mut order: Vec<usize> = (0..indexes.len()).collect();
    // Ties end in mailbox order, so the order is total: no stable sort
    // is needed.
    order.sort_unstable_by(|&a, &b| {
        for (k, c) in criteria.iter().enumerate() {
            let o = values[a * n + k].cmp(&values[b * n + k]);
            let o = if c.reverse { o.reverse() } else { o };
            if o != Ordering::Equal {
                return o;
            }
        }
        a.cmp(&b)
    });
    Ok(order)
}

/// The positions of `keys` in ascending order of key (descending with
/// `reverse`), equal keys in ascending position: a counting sort, as
/// ranks are dense (`u32::MAX`, no rank, is past them all).
fn by_rank(keys: &[u32], reverse: bool) -> Vec<usize> {
    let top = keys
        .iter()
        .copied()
        .filter(|&k| k != u32::MAX)
        .max()
        .map_or(0, |m| m as usize + 1);
    let bucket = |k: u32| {
        let b = if k == u32::MAX { top } else { k as usize };
        if reverse {
            top - b
        } else {
            b
        }
    };
    let mut next = vec![0usize; top + 2];
    for &k in keys {
        next[bucket(k) + 1] += 1;
    }
    for b in 1..next.len() {
        next[b] += next[b - 1];
    }
    let mut out = vec![0; keys.len()];
    for (p, &k) in keys.iter().enumerate() {
        let b = bucket(k);
        out[next[b]] = p;
        next[b] += 1;
    }
    out
}

/// Every message's rank under `key` (equal values, equal ranks), by
/// message index: from the mailbox's sort index, to which the messages it
/// lacks are added first (their keys from the item cache or their
/// header), and from which expunged ones are dropped.
fn ranks(mailbox: &mut dyn Mailbox, key: SortKey, name: &str) -> Result<Vec<u32>, StoreError> {
    let dir = mailbox.cache_dir();
    let validity = mailbox.uid_validity();
    let mut ix = match &dir {
        Some(d) => SortIndex::load(d, name, validity),
        None => SortIndex::empty(),
    };
    let have = ix.uids();
    // The view's UIDs, ascending, looked up once.
    let view: Vec<Uid> = (0..mailbox.count()).map(|i| mailbox.uid(i)).collect();
    // One walk of both, in UID order: what the index lacks, and what it
    // has that the view does not (expunged). Records past the view's last
    // UID are another session's newer mail: kept.
    let (mut missing, mut gone) = (Vec::new(), Vec::new());
    let mut had = have.iter().copied().peekable();
    for (i, &uid) in view.iter().enumerate() {
        while let Some(u) = had.next_if(|&u| u < uid) {
            gone.push(u);
        }
        if had.next_if_eq(&uid).is_none() {
            missing.push(i);
        }
    }
    let mut added = Vec::with_capacity(missing.len());
    for i in missing {
        let m = mailbox.message(i);
        let k = keys(mailbox, i, &m)?;
        added.push((value(key, &*mailbox, i, &m, &k), m.uid));
    }
    mailbox.flush_cache();
    ix.update(added, &gone);
    if let Some(d) = &dir {
        ix.save(d, name, validity);
    }
    let mut ranks = vec![u32::MAX; view.len()];
    let at = positions(&view);
    ix.ranks(|u, r| {
        if let Some(i) = at(u) {
            ranks[i] = r;
        }
    });
    Ok(ranks)
}

/// Where each UID is in `view` (ascending): a table by UID where the
/// UIDs lie close together (a mailbox with few expunged: one lookup a
/// message, not a binary search), else a binary search.
fn positions(view: &[Uid]) -> impl Fn(Uid) -> Option<usize> + '_ {
    let first = view.first().copied().unwrap_or(0);
    let span = view.last().map_or(0, |&l| (l - first) as usize + 1);
    let table = (span
        <= view
            .len()
            .saturating_mul(crate::limits::SORT_UID_TABLE_SPAN))
    .then(|| {
        let mut t = vec![u32::MAX; span];
        for (i, &u) in view.iter().enumerate() {
            t[(u - first) as usize] = i as u32;
        }
        t
    });
    move |u: Uid| match &table {
        Some(t) => u
            .checked_sub(first)
            .and_then(|d| t.get(d as usize))
            .filter(|&&i| i != u32::MAX)
            .map(|&i| i as usize),
        None => view.binary_search(&u).ok(),
    }
}

/// The name of `key`'s sort index; None for ARRIVAL and SIZE, which the
/// view has.
fn index_name(key: SortKey) -> Option<&'static str> {
    Some(match key {
        SortKey::Cc => "cc",
        SortKey::Date => "date",
        SortKey::From => "from",
        SortKey::Subject => "subject",
        SortKey::To => "to",
        SortKey::DisplayFrom => "displayfrom",
        SortKey::DisplayTo => "displayto",
        SortKey::Arrival | SortKey::Size => return None,
    })
}

/// A message's value for `key` in the sort index (`sortindex`): strings
/// by their `i;unicode-casemap` key, the date as a number.
fn value(key: SortKey, mailbox: &dyn Mailbox, i: usize, m: &Message, k: &Keys) -> Vec<u8> {
    let text = |b: &[u8]| sortindex::text_value(fold(b));
    match key {
        SortKey::Arrival => sortindex::number_value(mailbox.internal_date(i).0),
        SortKey::Size => sortindex::number_value(i64::try_from(m.size).unwrap_or(i64::MAX)),
        SortKey::Date => sortindex::number_value(k.sent_date(mailbox, i)),
        // The addr-mailbox of the first address as ENVELOPE gives it (RFC
        // 5256 3): a group's start, its name, counts, as in Dovecot.
        SortKey::From => text(&k.from),
        SortKey::To => text(&k.to),
        SortKey::Cc => text(&k.cc),
        SortKey::Subject => text(k.subject.as_bytes()),
        SortKey::DisplayFrom => text(k.display_from.as_bytes()),
        SortKey::DisplayTo => text(k.display_to.as_bytes()),
    }
}

/// The `<...>` message identifiers of a field, in order.
fn msg_ids(v: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = v;
    while let Some(open) = rest.iter().position(|&c| c == b'<') {
        let Some(close) = rest[open..].iter().position(|&c| c == b'>') else {
            break;
        };
        let id: Vec<u8> = rest[open + 1..open + close]
            .iter()
            .copied()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        if !id.is_empty() {
            out.push(id);
        }
        rest = &rest[open + close + 1..];
    }
    out
}

/// RFC 5957 3: the display name (decoded) when there is a non-empty one,
/// else the addr-spec, else the empty string.
fn display(a: Option<&Address>) -> String {
    let Some(a) = a else {
        return String::new();
    };
    let name = a
        .name
        .as_deref()
        .map(mime::decode::header_value)
        .unwrap_or_default();
    if !name.trim().is_empty() {
        return name.trim().to_string();
    }
    let text = |b: &Option<Vec<u8>>| {
        String::from_utf8_lossy(b.as_deref().unwrap_or_default()).into_owned()
    };
    let mailbox = String::from_utf8_lossy(a.shown_mailbox().unwrap_or_default());
    format!("{mailbox}@{}", text(&a.host))
}

/// `i;unicode-casemap` (RFC 5051, I18NLEVEL=1): `mime::casemap::key_of`.
pub fn fold(s: &[u8]) -> Vec<u8> {
    mime::casemap::key_of(s)
}

/// RFC 5256 2.1: the base subject of a decoded Subject.
pub fn base_subject(decoded: &str) -> String {
    base_subject_and_reply(decoded).0
}

/// `base_subject`, and whether the subject is a reply or a forward (the
/// extraction took off a "Re:"-like leader, a "(fwd)" or a "[fwd: ]").
pub fn base_subject_and_reply(decoded: &str) -> (String, bool) {
    let mut reply = false;
    // (1) Tabs and line ends as spaces, runs of spaces as one.
    let mut s = String::with_capacity(decoded.len());
    for c in decoded.chars() {
        let c = if matches!(c, '\t' | '\r' | '\n') {
            ' '
        } else {
            c
        };
        if c == ' ' && s.ends_with(' ') {
            continue;
        }
        s.push(c);
    }
    loop {
        // (2) Trailing "(fwd)" and white space, repeatedly.
        loop {
            let t = s.trim_end_matches(' ');
            let n = t.len();
            if n >= 5 && t.as_bytes()[n - 5..].eq_ignore_ascii_case(b"(fwd)") {
                s.truncate(n - 5);
                reply = true;
            } else {
                s.truncate(n);
                break;
            }
        }
        // (3) to (5): leaders ("Re:", "Fwd: ", "[blob] Fw[x]:", spaces),
        // and a leading blob when something is left after it.
        loop {
            let at = leader(s.as_bytes()).or_else(|| {
                blob(s.as_bytes())
                    .filter(|&n| !s[n..].trim().is_empty())
                    .map(|n| (n, false))
            });
            match at {
                Some((n, refwd)) if n > 0 => {
                    reply |= refwd;
                    s.drain(..n).for_each(drop);
                }
                _ => break,
            }
        }
        // (6) "[fwd:" subject "]": the subject, then from (2) again.
        let b = s.as_bytes();
        if b.len() >= 6 && b[..5].eq_ignore_ascii_case(b"[fwd:") && b.ends_with(b"]") {
            s = s[5..s.len() - 1].to_string();
            reply = true;
            continue;
        }
        return (s, reply);
    }
}

/// The length of a `subj-leader = (*subj-blob subj-refwd) / WSP` at the
/// start of `s`, and whether it is a `subj-refwd`.
fn leader(s: &[u8]) -> Option<(usize, bool)> {
    if s.first() == Some(&b' ') {
        return Some((1, false));
    }
    let mut at = 0;
    while let Some(n) = blob(&s[at..]) {
        at += n;
    }
    // subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":"
    let rest = &s[at..];
    let word = if rest.len() >= 3 && rest[..3].eq_ignore_ascii_case(b"fwd") {
        3
    } else if rest.len() >= 2
        && (rest[..2].eq_ignore_ascii_case(b"re") || rest[..2].eq_ignore_ascii_case(b"fw"))
    {
        2
    } else {
        return None;
    };
    at += word;
    while s.get(at) == Some(&b' ') {
        at += 1;
    }
    if let Some(n) = blob(&s[at..]) {
        at += n;
    }
    (s.get(at) == Some(&b':')).then_some((at + 1, true))
}

/// The length of a `subj-blob = "[" *BLOBCHAR "]" *WSP` at the start of
/// `s` (BLOBCHAR: anything but the brackets).
fn blob(s: &[u8]) -> Option<usize> {
    if s.first() != Some(&b'[') {
        return None;
    }
    let close = s[1..].iter().position(|&c| c == b']' || c == b'[')?;
    if s[1 + close] != b']' {
        return None;
    }
    let mut at = close + 2;
    while s.get(at) == Some(&b' ') {
        at += 1;
    }
    Some(at)
}

#[cfg(test)]
mod tests {
    use super::{base_subject, by_rank, msg_ids, positions, Keys};

    #[test]
    fn positions_are_found_by_table_and_by_search() {
        // Close together (a table) and far apart (a binary search).
        for view in [vec![3, 4, 6, 7], vec![1, 1000, 5000]] {
            let at = positions(&view);
            for (i, &u) in view.iter().enumerate() {
                assert_eq!(at(u), Some(i), "{view:?}");
            }
            for u in [0, 2, 5, 8, 999, 6000] {
                assert_eq!(at(u), None, "{u} in {view:?}");
            }
        }
        assert_eq!(positions(&[])(1), None);
    }

    #[test]
    fn the_counting_sort_keeps_ties_in_mailbox_order_both_ways() {
        let keys = [2, 0, u32::MAX, 2, 1, 0];
        assert_eq!(by_rank(&keys, false), [1, 5, 4, 0, 3, 2]);
        assert_eq!(by_rank(&keys, true), [2, 0, 3, 4, 1, 5]);
        assert_eq!(by_rank(&[], true), Vec::<usize>::new());
    }

    #[test]
    fn message_ids_are_read_in_order() {
        assert_eq!(
            msg_ids(b" <a@b>\r\n <c@d> junk <e\r\n @f> <>"),
            vec![b"a@b".to_vec(), b"c@d".to_vec(), b"e@f".to_vec()]
        );
        assert!(msg_ids(b"none here").is_empty());
    }

    #[test]
    fn keys_round_trip_through_the_cache_form() {
        let k = Keys::of(
            b"Subject: Re: [x] hello\r\nFrom: \"A, B\" <ab@x.org>\r\nTo: team: c@x.org;\r\n\
Date: Mon, 02 Jan 2023 10:00:00 +0100\r\nMessage-ID: <m@x>\r\nIn-Reply-To: <p@x> <q@x>\r\n\r\n",
        );
        assert_eq!(k.subject, "hello");
        assert!(k.reply);
        assert_eq!(
            (k.from.as_slice(), k.to.as_slice(), k.cc.as_slice()),
            (&b"ab"[..], &b"team"[..], &b""[..])
        );
        assert_eq!(k.display_from, "A, B");
        assert_eq!(k.date, Some(1_672_650_000));
        assert_eq!(k.id.as_deref(), Some(&b"m@x"[..]));
        assert_eq!(k.references, vec![b"p@x".to_vec()]);
        assert_eq!(Keys::decode(&k.encode()), Some(k.clone()));
        let empty = Keys::default();
        assert_eq!(Keys::decode(&empty.encode()), Some(empty));
        // Damage is refused, not misread.
        let e = k.encode();
        for cut in 0..e.len() {
            assert_eq!(Keys::decode(&e[..cut]), None, "{cut}");
        }
        assert_eq!(Keys::decode(&[&e[..], b"x"].concat()), None);
    }

    #[test]
    fn base_subjects_as_rfc_5256_extracts_them() {
        for (subject, base) in [
            ("hello", "hello"),
            ("Re: hello", "hello"),
            ("RE:  re:Re: hello", "hello"),
            ("Fwd: Re: hello (fwd)", "hello"),
            ("Fw: hello (FWD) (fwd)  ", "hello"),
            ("[list] Re: hello", "hello"),
            ("Re[2]: hello", "hello"),
            ("Re [list]: hello", "hello"),
            ("[PATCH] fix it", "fix it"),
            ("[PATCH]", "[PATCH]"),
            ("[a][b] Re: [c] x", "x"),
            ("[fwd: Re: hello]", "hello"),
            ("[Fwd: [fwd: hello] (fwd)]", "hello"),
            ("Re: (fwd)", ""),
            ("  \t lots \t  of   space  ", "lots of space"),
            ("Rework: not a reply", "Rework: not a reply"),
            ("Reply: x", "Reply: x"),
            ("Résumé: Re: x", "Résumé: Re: x"),
            ("", ""),
        ] {
            assert_eq!(base_subject(subject), base, "{subject:?}");
        }
    }
}
