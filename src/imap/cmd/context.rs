//! RFC 5267 CONTEXT=SEARCH and CONTEXT=SORT: a SEARCH or SORT with
//! `RETURN (UPDATE)` stays live in the selected mailbox, and the session
//! tells the client how its result changes, as `* ESEARCH (TAG "t") [UID]
//! REMOVEFROM (...) ADDTO (...)`, at the points where it reports other
//! changes (after each command, during IDLE), until CANCELUPDATE or
//! another SELECT, as Dovecot does:
//!
//! * a message of the result about to be expunged is removed (REMOVEFROM)
//!   before its EXPUNGE, while its number still names it (`expunged`);
//! * after any change to the mailbox (new messages, flags, expunges: its
//!   count, UIDNEXT or HIGHESTMODSEQ moved) the search runs again and the
//!   difference is sent (`refresh`). Its cost is one SEARCH per live
//!   context per change, bounded by `SEARCH_CONTEXTS_MAX`.
//!
//! Numbers are UIDs for UID SEARCH and UID SORT, message numbers
//! otherwise. Positions are 0 for SEARCH, whose results are in ascending
//! order; for SORT they are places in the sorted result (from 1): removals
//! at their places before, from the last up, so each leaves the places of
//! those before it; then additions at their places after, from the first.

use std::collections::{HashMap, HashSet};

use crate::imap::cmd::append::uid_set;
use crate::imap::command::{SearchKey, SortCriterion};
use crate::imap::session::{Result, Selected};
use crate::limits::SEARCH_CONTEXTS_MAX;
use crate::store::{Mailbox, Uid};

/// One live search.
pub struct SearchContext {
    tag: String,
    uid: bool,
    charset: String,
    criteria: SearchKey,
    /// SORT's criteria; `None` for SEARCH.
    sort: Option<Vec<SortCriterion>>,
    /// The result as UIDs, in its order.
    uids: Vec<Uid>,
    /// The mailbox's (count, UIDNEXT, HIGHESTMODSEQ) when `uids` was made.
    seen: (usize, Uid, u64),
}

fn state(mailbox: &dyn Mailbox) -> (usize, Uid, u64) {
    (
        mailbox.count(),
        mailbox.uid_next(),
        mailbox.highest_modseq(),
    )
}

/// Keeps a search that asked for UPDATE; `uids` is its result in its
/// order. Past `SEARCH_CONTEXTS_MAX` the search is not kept and the
/// client is told so (RFC 5267 4.2 `NOUPDATE`) in the untagged line
/// returned.
pub fn keep(
    sel: &mut Selected,
    (tag, uid): (&str, bool),
    (charset, criteria, sort): (&str, &SearchKey, Option<&[SortCriterion]>),
    uids: Vec<Uid>,
) -> Option<Vec<u8>> {
    sel.contexts.retain(|c| c.tag != tag);
    if sel.contexts.len() >= SEARCH_CONTEXTS_MAX {
        return Some(
            format!("* NO [NOUPDATE \"{tag}\"] Too many searches kept up to date\r\n").into_bytes(),
        );
    }
    let seen = state(sel.mailbox.as_ref());
    sel.contexts.push(SearchContext {
        tag: tag.to_string(),
        uid,
        charset: charset.to_string(),
        criteria: criteria.clone(),
        sort: sort.map(<[SortCriterion]>::to_vec),
        uids,
        seen,
    });
    None
}

/// RFC 5267 CANCELUPDATE: the searches with these tags are no longer kept.
pub fn cancel(sel: &mut Selected, tags: &[String]) {
    sel.contexts.retain(|c| !tags.contains(&c.tag));
}

/// REMOVEFROM lines for the messages about to be reported expunged, given
/// as (message number before the expunge, UID); to be sent before their
/// EXPUNGE responses.
pub fn expunged(contexts: &mut [SearchContext], gone: &[(u32, Uid)]) -> Vec<u8> {
    let mut out = Vec::new();
    if gone.is_empty() {
        return out;
    }
    let numbers: HashMap<Uid, u32> = gone.iter().map(|&(seq, uid)| (uid, seq)).collect();
    for c in contexts.iter_mut() {
        let removed: Vec<(usize, u32)> = c
            .uids
            .iter()
            .enumerate()
            .filter_map(|(p, u)| numbers.get(u).map(|&seq| (p, if c.uid { *u } else { seq })))
            .collect();
        if removed.is_empty() {
            continue;
        }
        c.uids.retain(|u| !numbers.contains_key(u));
        out.extend_from_slice(&c.line(&removed, &[]));
    }
    out
}

/// Runs each live search again if the mailbox changed since its result
/// was made, and returns the lines that tell the client the difference.
pub fn refresh(sel: &mut Selected) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let now = state(sel.mailbox.as_ref());
    let mailbox = sel.mailbox.as_mut();
    for c in sel.contexts.iter_mut() {
        if c.seen == now {
            continue;
        }
        let found = super::search::find(mailbox, &c.criteria, &c.charset, true)?;
        let mut uids: Vec<Uid> = found.hits.iter().map(|&(u, _)| u).collect();
        if let Some(criteria) = &c.sort {
            let order = super::sort::order(mailbox, &found.indexes, criteria)?;
            uids = order.into_iter().map(|p| uids[p]).collect();
        }
        let number = |u: Uid| -> Option<u32> {
            if c.uid {
                Some(u)
            } else {
                mailbox.find_uid(u).ok().map(|i| i as u32 + 1)
            }
        };
        let (old, new): (HashSet<Uid>, HashSet<Uid>) = (
            c.uids.iter().copied().collect(),
            uids.iter().copied().collect(),
        );
        // Those gone from the view were reported by their EXPUNGE.
        let removed: Vec<(usize, u32)> = c
            .uids
            .iter()
            .enumerate()
            .filter(|(_, u)| !new.contains(u))
            .filter_map(|(p, &u)| number(u).map(|n| (p, n)))
            .collect();
        let added: Vec<(usize, u32)> = uids
            .iter()
            .enumerate()
            .filter(|(_, u)| !old.contains(u))
            .filter_map(|(p, &u)| number(u).map(|n| (p, n)))
            .collect();
        c.uids = uids;
        c.seen = now;
        if !(removed.is_empty() && added.is_empty()) {
            out.extend_from_slice(&c.line(&removed, &added));
        }
    }
    Ok(out)
}

impl SearchContext {
    /// `* ESEARCH (TAG "t") [UID] [REMOVEFROM (...)] [ADDTO (...)]`;
    /// `removed` and `added` are (place in the result from 0, number).
    fn line(&self, removed: &[(usize, u32)], added: &[(usize, u32)]) -> Vec<u8> {
        let mut line = format!("* ESEARCH (TAG \"{}\")", self.tag).into_bytes();
        if self.uid {
            line.extend_from_slice(b" UID");
        }
        for (name, items, removal) in [("REMOVEFROM", removed, true), ("ADDTO", added, false)] {
            if items.is_empty() {
                continue;
            }
            line.extend_from_slice(format!(" {name} (").as_bytes());
            if self.sort.is_none() {
                let mut numbers: Vec<u32> = items.iter().map(|&(_, n)| n).collect();
                numbers.sort_unstable();
                line.extend_from_slice(format!("0 {}", uid_set(&numbers)).as_bytes());
            } else {
                let mut items = items.to_vec();
                items.sort_unstable();
                if removal {
                    items.reverse();
                }
                let pairs: Vec<String> = items
                    .iter()
                    .map(|&(p, n)| format!("{} {n}", p + 1))
                    .collect();
                line.extend_from_slice(pairs.join(" ").as_bytes());
            }
            line.push(b')');
        }
        line.extend_from_slice(b"\r\n");
        line
    }
}
