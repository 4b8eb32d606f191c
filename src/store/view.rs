//! A session's view of its selected mailbox (DESIGN.md 4, the selected
//! view): which messages its client has been told of, in sequence order,
//! at a few octets a message. The rest of a message (flags, size, dates)
//! is read from the backend's state when asked for; the view keeps only
//! what the state cannot give back:
//!
//! * each message's UID (sequence number n is position n-1), and the
//!   modseq up to which every change was reported (`told_at`), with the
//!   modseqs of the session's own changes reported since: a sync reports a
//!   FETCH for exactly the messages whose modseq moved on;
//! * the UIDs whose `\Recent` this session holds, as runs;
//! * ghosts: a copy of each message that left the state (expunged by
//!   another session or program) before this view could report its
//!   EXPUNGE (RFC 3501 7.4.1 forbids that during FETCH, STORE and SEARCH),
//!   so that it still answers as it did until then.

use std::collections::HashMap;
use std::sync::Arc;

use super::{Message, ModSeq, Uid};

#[derive(Debug, Default)]
pub struct View {
    /// Shared with the index it was made from (`of`) until either changes.
    uids: Arc<Vec<Uid>>,
    /// Every change up to this modseq was reported.
    told_at: ModSeq,
    /// Changes above `told_at` reported since (the session's own STOREs).
    told: HashMap<Uid, ModSeq>,
    /// Runs `lo..=hi` of UIDs whose `\Recent` is this view's: a UID of the
    /// view in a run is `\Recent`, others are not (a run may span UIDs
    /// that are not in the view).
    recent: Vec<(Uid, Uid)>,
    /// The last message pushed was `\Recent`: the next may extend its run.
    run_open: bool,
    ghosts: HashMap<Uid, Message>,
}

impl View {
    /// An empty view of a mailbox whose changes up to `told_at` need not
    /// be reported.
    pub fn with_capacity(n: usize, told_at: ModSeq) -> View {
        View {
            uids: Arc::new(Vec::with_capacity(n)),
            told_at,
            ..View::default()
        }
    }

    /// A view of `uids` (ascending), as if each were pushed in turn, those
    /// from `recent_from` on as `\Recent`: the list is not copied.
    pub fn of(uids: Arc<Vec<Uid>>, told_at: ModSeq, recent_from: Uid) -> View {
        let first = uids.partition_point(|&u| u < recent_from);
        let recent = match (uids.get(first), uids.last()) {
            (Some(&lo), Some(&hi)) => vec![(lo, hi)],
            _ => Vec::new(),
        };
        View {
            run_open: !recent.is_empty(),
            recent,
            uids,
            told_at,
            ..View::default()
        }
    }

    pub fn len(&self) -> usize {
        self.uids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.uids.is_empty()
    }

    /// The UIDs in sequence order (ascending).
    pub fn uids(&self) -> &[Uid] {
        &self.uids
    }

    /// The UID of position `i`; panics past the end, as indexing does.
    pub fn uid(&self, i: usize) -> Uid {
        self.uids[i]
    }

    pub fn get(&self, i: usize) -> Option<Uid> {
        self.uids.get(i).copied()
    }

    /// Where `uid` is (`Ok`) or would go (`Err`).
    pub fn find(&self, uid: Uid) -> std::result::Result<usize, usize> {
        self.uids.binary_search(&uid)
    }

    /// The modseq up to which every change was reported.
    pub fn told_at(&self) -> ModSeq {
        self.told_at
    }

    /// Whether `uid` at `modseq` is news to the client.
    pub fn is_news(&self, uid: Uid, modseq: ModSeq) -> bool {
        modseq > self.told_at && self.told.get(&uid) != Some(&modseq)
    }

    /// `uid` at `modseq` was reported.
    pub fn tell(&mut self, uid: Uid, modseq: ModSeq) {
        if modseq > self.told_at {
            self.told.insert(uid, modseq);
        }
    }

    /// Every change up to `modseq` was reported.
    pub fn tell_all(&mut self, modseq: ModSeq) {
        self.told_at = self.told_at.max(modseq);
        self.told.clear();
    }

    /// Adds a message above every UID in the view.
    pub fn push(&mut self, uid: Uid, recent: bool) {
        debug_assert!(self.uids.last().is_none_or(|&u| u < uid));
        Arc::make_mut(&mut self.uids).push(uid);
        if recent {
            match self.recent.last_mut() {
                Some(run) if self.run_open => run.1 = uid,
                _ => self.recent.push((uid, uid)),
            }
        }
        self.run_open = recent;
    }

    /// Whether `uid`'s `\Recent` is this view's.
    pub fn is_recent(&self, uid: Uid) -> bool {
        let at = self.recent.partition_point(|r| r.1 < uid);
        self.recent.get(at).is_some_and(|r| r.0 <= uid)
    }

    /// How many messages of the view are `\Recent` (RECENT).
    pub fn recent_count(&self) -> usize {
        self.recent
            .iter()
            .map(|&(lo, hi)| {
                self.uids.partition_point(|&u| u <= hi) - self.uids.partition_point(|&u| u < lo)
            })
            .sum()
    }

    /// Keeps the positions `keep` says yes to (in order), and forgets the
    /// ghosts of the others.
    pub fn retain(&mut self, mut keep: impl FnMut(usize, Uid) -> bool) {
        let mut to = 0;
        let uids = Arc::make_mut(&mut self.uids);
        for from in 0..uids.len() {
            let uid = uids[from];
            if keep(from, uid) {
                uids[to] = uid;
                to += 1;
            } else {
                self.ghosts.remove(&uid);
                self.told.remove(&uid);
            }
        }
        uids.truncate(to);
    }

    /// A message that left the state while still in the view, as it was
    /// then: kept until its EXPUNGE is reported. Ignored for a UID the
    /// view does not hold.
    pub fn add_ghost(&mut self, m: Message) {
        if self.find(m.uid).is_ok() {
            self.ghosts.entry(m.uid).or_insert(m);
        }
    }

    pub fn ghost(&self, uid: Uid) -> Option<&Message> {
        self.ghosts.get(&uid)
    }

    /// The UIDs of the view and anything above: what a cache keeps items of.
    pub fn live(&self) -> impl Fn(Uid) -> bool + '_ {
        let last = self.uids.last().copied().unwrap_or(0);
        move |uid| uid > last || self.uids.binary_search(&uid).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(uid: Uid) -> Message {
        Message {
            uid,
            flags: Default::default(),
            recent: false,
            modseq: 1,
            internal_date: 0,
            internal_date_zone: 0,
            size: 0,
        }
    }

    #[test]
    fn recent_runs_cover_only_what_was_pushed_recent() {
        let mut v = View::default();
        for (uid, r) in [
            (1, false),
            (2, true),
            (3, true),
            (5, false),
            (7, true),
            (9, true),
        ] {
            v.push(uid, r);
        }
        let recent: Vec<Uid> = v
            .uids()
            .iter()
            .copied()
            .filter(|&u| v.is_recent(u))
            .collect();
        assert_eq!(recent, [2, 3, 7, 9]);
        assert!(!v.is_recent(5) && !v.is_recent(1) && !v.is_recent(10));
        // A view made of a list at once says what pushing each would.
        let uids = Arc::new(vec![1, 2, 5, 7, 9]);
        for from in [0, 2, 6, 10] {
            let mut pushed = View::default();
            for &u in uids.iter() {
                pushed.push(u, u >= from);
            }
            let mut made = View::of(Arc::clone(&uids), 0, from);
            assert_eq!(made.recent, pushed.recent, "from {from}");
            assert_eq!(made.recent_count(), pushed.recent_count());
            made.push(11, true);
            pushed.push(11, true);
            assert_eq!(made.recent, pushed.recent, "from {from}, then 11");
            assert_eq!(made.uids(), pushed.uids());
        }
        // The list it was made of is not changed by the push.
        assert_eq!(*uids, [1, 2, 5, 7, 9]);
        assert_eq!(v.recent_count(), 4);
        v.retain(|_, u| u != 3 && u != 9);
        assert_eq!(v.uids(), [1, 2, 5, 7]);
        assert_eq!(v.recent_count(), 2);
        v.push(10, true);
        assert!(v.is_recent(10));
        assert_eq!(v.recent_count(), 3);
    }

    #[test]
    fn news_is_what_moved_past_what_was_told() {
        let mut v = View::with_capacity(3, 10);
        for uid in 1..=3 {
            v.push(uid, false);
        }
        assert!(!v.is_news(1, 10) && v.is_news(1, 11));
        v.tell(2, 12);
        assert!(!v.is_news(2, 12) && v.is_news(2, 13) && v.is_news(3, 12));
        v.tell_all(13);
        assert!(!v.is_news(3, 13) && v.is_news(2, 14));
        v.tell_all(5); // never back
        assert_eq!(v.told_at(), 13);
    }

    #[test]
    fn retain_drops_ghosts() {
        let mut v = View::default();
        for uid in 1..=5 {
            v.push(uid, false);
        }
        v.add_ghost(msg(2));
        v.add_ghost(msg(4));
        v.add_ghost(msg(9)); // not in the view: ignored
        assert!(v.ghost(9).is_none());
        v.retain(|i, _| i != 1);
        assert_eq!(v.uids(), [1, 3, 4, 5]);
        assert!(v.ghost(2).is_none());
        assert_eq!(v.ghost(4).map(|m| m.uid), Some(4));
        assert_eq!(v.find(4), Ok(2));
        assert_eq!(v.find(2), Err(1));
    }

    #[test]
    fn live_is_the_view_and_anything_above() {
        let mut v = View::default();
        for uid in [2, 5, 9] {
            v.push(uid, false);
        }
        let live = v.live();
        assert!(live(2) && live(5) && live(9) && live(10));
        assert!(!live(1) && !live(3));
        assert!(View::default().live()(1));
    }
}
