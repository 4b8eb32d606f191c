//! One file per command or family of commands; `dispatch` is the only place
//! that maps a parsed command to its handler.

pub mod any;
pub mod append;
pub mod catenate;
pub mod context;
pub mod copy;
pub mod expunge;
pub mod fetch;
pub mod idle;
pub mod list;
pub mod mailbox;
pub mod notify;
pub mod qresync;
pub mod quota;
pub mod search;
pub mod select;
pub mod sort;
pub mod status;
pub mod store;
pub mod thread;
pub mod urlauth;

use crate::conn::ClientInput;

use crate::imap::command::CommandBody;
use crate::imap::session::{Done, Error, Result, Session};

pub fn dispatch<R: ClientInput>(
    s: &mut Session,
    tag: &str,
    mut body: CommandBody,
    input: &mut R,
) -> Result<Done> {
    use CommandBody::*;
    if let crate::imap::session::State::Selected(sel) = &s.state {
        fill_saved(&mut body, sel);
    }
    match body {
        Capability => any::capability(s),
        Noop => any::noop(s),
        Logout => any::logout(s),
        Id(params) => any::id(s, params),
        Enable(caps) => any::enable(s, caps),
        Compress(algorithm) => any::compress(s, &algorithm),
        Namespace => any::namespace(s),
        // Login and STARTTLS reach here only where `allowed` let them, which
        // is before authentication; preauthenticated sessions never get here.
        StartTls | Authenticate { .. } | Login { .. } => {
            Err(Error::Bad("Already authenticated.".into()))
        }
        Select { mailbox, params } => select::select(s, &mailbox, false, &params),
        Examine { mailbox, params } => select::select(s, &mailbox, true, &params),
        Close => select::close(s),
        Unselect => select::unselect(s),
        Create { mailbox, uses } => mailbox::create(s, &mailbox, &uses),
        Delete { mailbox } => mailbox::delete(s, &mailbox),
        Rename { from, to } => mailbox::rename(s, &from, &to),
        Subscribe { mailbox } => mailbox::subscribe(s, &mailbox),
        Unsubscribe { mailbox } => mailbox::unsubscribe(s, &mailbox),
        List(r) => list::list(s, &r),
        Lsub { reference, pattern } => list::lsub(s, &reference, &pattern),
        Status { mailbox, items } => status::status(s, &mailbox, &items),
        Append { mailbox, messages } => append::append(s, &mailbox, messages),
        Check => any::check(s),
        Expunge { uids } => expunge::expunge(s, uids.as_ref()),
        Search {
            charset,
            criteria,
            uid,
            ret,
            order,
        } => search::search(
            s,
            charset.as_deref(),
            &criteria,
            uid,
            (tag, ret, order.as_ref()),
        ),
        Fetch {
            set,
            items,
            uid,
            changed_since,
            vanished,
        } => fetch::fetch(s, &set, &items, uid, (changed_since, vanished)),
        Store(r) => store::store(s, &r),
        Copy { set, mailbox, uid } => copy::copy(s, &set, &mailbox, uid, false),
        Move { set, mailbox, uid } => copy::copy(s, &set, &mailbox, uid, true),
        Idle => idle::idle(s, tag, input),
        GetQuota(root) => quota::get_quota(s, &root),
        GetQuotaRoot(mailbox) => quota::get_quota_root(s, &mailbox),
        SetQuota => quota::set_quota(s),
        Notify(req) => notify::notify(s, req),
        GenUrlAuth(urls) => urlauth::genurlauth(s, &urls),
        ResetKey {
            mailbox,
            mechanisms,
        } => urlauth::resetkey(s, mailbox.as_deref(), &mechanisms),
        UrlFetch(urls) => urlauth::urlfetch(s, &urls),
        CancelUpdate(tags) => {
            context::cancel(s.selected()?, &tags);
            Done::ok("Updates cancelled.")
        }
        MultiSearch {
            sources,
            ret,
            charset,
            criteria,
        } => search::multisearch(s, tag, &sources, ret, (charset.as_deref(), &criteria)),
    }
}

/// RFC 5182: `$` in the command's sets becomes the saved result, as UIDs
/// or as message numbers, whichever the set holds; saved messages expunged
/// since are left out.
fn fill_saved(body: &mut CommandBody, sel: &crate::imap::session::Selected) {
    use CommandBody::*;
    // Looked up once, and only for a command that has a `$`.
    let mut numbers: Option<(Vec<u32>, Vec<u32>)> = None;
    let mut fill = |set: &mut crate::imap::command::SequenceSet, uid: bool| {
        if set.has_saved() {
            let (uids, seqs) = numbers.get_or_insert_with(|| saved_numbers(sel));
            set.fill_saved(if uid { uids } else { seqs });
        }
    };
    match body {
        Fetch { set, uid, .. } | Copy { set, uid, .. } | Move { set, uid, .. } => fill(set, *uid),
        Store(r) => fill(&mut r.set, r.uid),
        Expunge { uids: Some(set) } => fill(set, true),
        Search { criteria, .. } => criteria.for_each_set(&mut fill),
        // RFC 7377: `$` only where the selected mailbox is the only source.
        MultiSearch {
            criteria, sources, ..
        } if sources[..] == [crate::imap::command::SearchSource::Selected] => {
            criteria.for_each_set(&mut fill)
        }
        _ => {}
    }
}

/// The saved result's messages still in the view: (UIDs, numbers).
fn saved_numbers(sel: &crate::imap::session::Selected) -> (Vec<u32>, Vec<u32>) {
    let mb = sel.mailbox.as_ref();
    sel.saved
        .iter()
        .filter_map(|&u| mb.find_uid(u).ok().map(|i| (u, i as u32 + 1)))
        .unzip()
}

/// Resolves a sequence set (or UID set) against the selected mailbox's view
/// into 0-based message indexes, in ascending order. A UID set names only
/// the UIDs that exist (RFC 3501 6.4.8: a UID range past the end, even on an
/// empty mailbox, is no error). A sequence set naming a number past the end,
/// or `*` in an empty mailbox, is a tagged BAD (RFC 3501 9 `seq-number`:
/// "a command that uses a message sequence number greater than the number
/// of messages in the selected mailbox" gets BAD, "This includes "*" if the
/// selected mailbox is empty"), as Dovecot answers it.
pub fn indexes(
    mailbox: &dyn crate::store::Mailbox,
    set: &crate::imap::command::SequenceSet,
    uid: bool,
) -> Result<Picked> {
    let count = mailbox.count();
    if uid {
        let Some(max) = count.checked_sub(1).map(|last| mailbox.uid(last)) else {
            return Ok(Picked::default());
        };
        let mut out = Picked::default();
        for r in set.ranges(max) {
            // The view is in UID order: the messages of a UID range are
            // the ones between where its ends would go.
            let start = mailbox.find_uid(*r.start()).unwrap_or_else(|at| at);
            let end = match mailbox.find_uid(*r.end()) {
                Ok(at) => at + 1,
                Err(at) => at,
            };
            out.add(start..end);
        }
        Ok(out)
    } else {
        let max = u32::try_from(count).unwrap_or(u32::MAX);
        let past_end = set.max_number().is_some_and(|n| n > max);
        if past_end || max == 0 {
            return Err(Error::Bad(
                "Error in IMAP command: Invalid messageset".into(),
            ));
        }
        let mut out = Picked::default();
        for r in set.ranges(max) {
            out.add(*r.start() as usize - 1..*r.end() as usize);
        }
        Ok(out)
    }
}

/// Message indexes a command acts on, ascending, each once: kept as
/// ranges, so that `1:*` on a big mailbox costs a few octets, not eight
/// a message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Picked(Vec<std::ops::Range<usize>>);

impl Picked {
    /// Adds `r`, which starts at or after every range added before.
    fn add(&mut self, r: std::ops::Range<usize>) {
        if r.is_empty() {
            return;
        }
        match self.0.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => self.0.push(r),
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.0.iter().flat_map(|r| r.clone())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn to_vec(&self) -> Vec<usize> {
        self.iter().collect()
    }

    /// The indexes `keep` keeps.
    pub fn filter(&self, mut keep: impl FnMut(usize) -> bool) -> Picked {
        let mut out = Picked::default();
        for i in self.iter().filter(|&i| keep(i)) {
            out.add(i..i + 1);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imap::command::{SeqNumber, SequenceSet};
    use crate::store::{flag, Flags, Mailbox, NewMessage, Store};

    /// A mailbox of UIDs 1..=8 with 3, 4 and 7 expunged: 1 2 5 6 8.
    fn mailbox() -> (tempfile::TempDir, Box<dyn Mailbox>) {
        let t = tempfile::tempdir().expect("tempdir");
        let mut s =
            crate::store::maildir::Maildir::open_store(t.path().join("Maildir")).expect("store");
        for n in 1..=8 {
            let body = format!("Subject: {n}\r\n\r\n{n}\r\n");
            let flags = Flags {
                system: if [3, 4, 7].contains(&n) {
                    flag::DELETED
                } else {
                    0
                },
                keywords: vec![],
            };
            let mut data = body.as_bytes();
            let len = data.len() as u64;
            let mut m = [NewMessage {
                flags,
                internal_date: None,
                data: &mut data,
                len,
            }];
            s.append("INBOX", &mut m).expect("append");
        }
        let mut mb = s.open("INBOX", false).expect("open");
        mb.expunge(None).expect("expunge");
        (t, mb)
    }

    fn set(ranges: &[(u32, Option<u32>)]) -> SequenceSet {
        let n = |v: Option<u32>| v.map_or(SeqNumber::Star, SeqNumber::Value);
        SequenceSet(
            ranges
                .iter()
                .map(|&(a, b)| (SeqNumber::Value(a), n(b)))
                .collect(),
        )
    }

    #[test]
    fn uid_sets_pick_the_messages_whose_uids_they_name() {
        let (_t, mb) = mailbox();
        let uids: Vec<u32> = (0..mb.count()).map(|i| mb.uid(i)).collect();
        assert_eq!(uids, [1, 2, 5, 6, 8]);
        let pick = |r: &[(u32, Option<u32>)]| indexes(mb.as_ref(), &set(r), true).expect("uid");
        assert_eq!(pick(&[(3, Some(4))]).to_vec(), Vec::<usize>::new());
        assert_eq!(pick(&[(2, Some(6))]).to_vec(), [1, 2, 3]);
        assert_eq!(
            pick(&[(6, Some(2)), (5, Some(5)), (8, None)]).to_vec(),
            [1, 2, 3, 4]
        );
        assert_eq!(pick(&[(1, None)]).to_vec(), [0, 1, 2, 3, 4]);
        // Past the end: the highest UID (RFC 3501 6.4.8).
        assert_eq!(pick(&[(100, None)]).to_vec(), [4]);
        assert_eq!(pick(&[(9, Some(100))]).to_vec(), Vec::<usize>::new());
    }

    #[test]
    fn sequence_sets_pick_each_number_once_in_order() {
        let (_t, mb) = mailbox();
        let pick = |r: &[(u32, Option<u32>)]| indexes(mb.as_ref(), &set(r), false);
        let got = pick(&[(4, Some(2)), (1, Some(1)), (3, None)]).expect("seq");
        assert_eq!(got.to_vec(), [0, 1, 2, 3, 4]);
        assert_eq!(got.0.len(), 1);
        assert_eq!(
            pick(&[(2, Some(2)), (4, Some(4))]).expect("seq").to_vec(),
            [1, 3]
        );
        assert!(matches!(pick(&[(6, Some(6))]), Err(Error::Bad(_))));
    }
}
