//! RFC 7162 QRESYNC: the resynchronisation a SELECT/EXAMINE with the
//! QRESYNC parameter answers with, VANISHED (EARLIER) for UID FETCH's
//! VANISHED modifier, and `* VANISHED` in place of EXPUNGE once QRESYNC is
//! enabled (`session::write_vanished`).

use std::ops::RangeInclusive;

use crate::imap::command::QresyncParam;
use crate::imap::session;
use crate::store::{Mailbox, Uid};

/// The largest UID a client's `*` can mean here: the highest one handed
/// out, whether or not its message still exists (a UID set `1:*` of
/// VANISHED must reach the last expunged UIDs too).
pub fn max_uid(mb: &dyn Mailbox) -> Uid {
    let last = mb.count().checked_sub(1).map_or(0, |i| mb.uid(i));
    last.max(mb.uid_next().saturating_sub(1))
}

/// The UIDs expunged after `since` (RFC 7162 3.2.5.2, 3.2.6), within
/// `within` when given, and never one the view still holds (an expunge
/// not yet reported to this session).
pub fn vanished_earlier(
    mb: &dyn Mailbox,
    since: u64,
    within: Option<&[RangeInclusive<Uid>]>,
) -> Vec<RangeInclusive<Uid>> {
    let mut out = Vec::new();
    for r in mb.vanished_since(since) {
        let pieces: Vec<RangeInclusive<Uid>> = match within {
            None => vec![r],
            Some(k) => k
                .iter()
                .filter_map(|w| {
                    let (lo, hi) = ((*r.start()).max(*w.start()), (*r.end()).min(*w.end()));
                    (lo <= hi).then_some(lo..=hi)
                })
                .collect(),
        };
        for p in pieces {
            let mut lo = *p.start();
            let mut pos = mb.find_uid(lo).unwrap_or_else(|at| at);
            while pos < mb.count() && mb.uid(pos) <= *p.end() {
                let held = mb.uid(pos);
                if held > lo {
                    out.push(lo..=held - 1);
                }
                lo = held.saturating_add(1);
                pos += 1;
            }
            if lo <= *p.end() {
                out.push(lo..=*p.end());
            }
        }
    }
    out
}

/// The resynchronisation of SELECT/EXAMINE `(QRESYNC (...))` (RFC 7162
/// 3.2.5), after the usual responses: `* VANISHED (EARLIER)` for what was
/// expunged since the client's modseq, then `* n FETCH (UID FLAGS MODSEQ)`
/// for what changed since, both only for the client's known UIDs when it
/// gave them. Nothing when the UIDVALIDITY is not the client's (it must
/// start over).
pub fn resync(out: &mut Vec<u8>, mb: &dyn Mailbox, q: &QresyncParam) {
    if q.uid_validity != mb.uid_validity() {
        return;
    }
    let known = q.known_uids.as_ref().map(|s| s.ranges(max_uid(mb)));
    let gone = vanished_earlier(mb, q.modseq, known.as_deref());
    session::write_vanished(out, true, &gone);
    for i in mb.changed_since(q.modseq) {
        let m = mb.message(i);
        let wanted = known
            .as_deref()
            .is_none_or(|k| crate::imap::command::SequenceSet::in_ranges(k, m.uid));
        if wanted {
            out.extend_from_slice(format!("* {} FETCH (UID {} FLAGS ", i + 1, m.uid).as_bytes());
            session::write_message_flags(out, &m);
            session::write_modseq(out, &m);
            out.extend_from_slice(b")\r\n");
        }
    }
}
