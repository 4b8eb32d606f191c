//! A mailbox's sort index (issue 12): for one SORT key, every message's
//! value in sorted order, so that a SORT on a mailbox sorted before reads
//! one small file and orders numbers, instead of reading every message's
//! keys from the item cache and comparing strings.
//!
//! One file per key, `mailaccess-sort-<key>` beside the cache:
//!
//! ```text
//! mailaccess-sort 2 <uidvalidity> <count>\n
//! <count> records: uid (u32 LE), length (u16 LE), value
//! ```
//!
//! in ascending (value, uid) order. A value is what SORT compares: a
//! string's `i;unicode-casemap` key, cut at `SORT_VALUE_MAX` octets, or a
//! date as 8 octets that order as the number does. Messages with equal
//! values get one rank; SORT keeps them in mailbox order.
//!
//! It is a cache: a file that is missing, of another UIDVALIDITY or
//! damaged is rebuilt; messages it lacks (new mail) are added, and its
//! records of expunged messages dropped, when it is written again
//! (replaced whole through a temporary file, without fsync: a crash costs
//! a rebuild). Two sessions that both add write the same content; the
//! last rename wins.

use std::path::Path;

use super::{open, Uid};
use crate::limits::{SORT_INDEX_FILE_MAX, SORT_VALUE_MAX};

/// 2: the values of `Keys` version 2 (sort.rs); a file of 1 is rebuilt.
const MAGIC: &str = "mailaccess-sort 2";

/// One key's values, sorted: in one buffer, so that an index of 100,000
/// messages is two allocations, not 100,000.
pub struct SortIndex {
    /// The values, one after another (the file as read, then what was
    /// added).
    data: Vec<u8>,
    /// Each value's place in `data` and its UID, in ascending (value, uid)
    /// order.
    records: Vec<Record>,
    /// Records were added or dropped since the file was read.
    changed: bool,
}

#[derive(Clone, Copy)]
struct Record {
    at: u32,
    len: u16,
    uid: Uid,
}

/// A date (or any number) as a value whose octets order as it does.
pub fn number_value(n: i64) -> Vec<u8> {
    ((n as u64) ^ (1 << 63)).to_be_bytes().to_vec()
}

/// A string value, cut to `SORT_VALUE_MAX` octets.
pub fn text_value(mut v: Vec<u8>) -> Vec<u8> {
    v.truncate(SORT_VALUE_MAX);
    v
}

impl SortIndex {
    /// An index with no values (a mailbox that keeps no caches).
    pub fn empty() -> SortIndex {
        SortIndex {
            data: Vec::new(),
            records: Vec::new(),
            changed: false,
        }
    }

    /// The index of `key` in `dir` for `uid_validity`; empty when there is
    /// none to trust.
    pub fn load(dir: &Path, key: &str, uid_validity: u32) -> SortIndex {
        let read = std::fs::metadata(file(dir, key))
            .ok()
            .filter(|m| m.len() <= SORT_INDEX_FILE_MAX)
            .and_then(|_| open::read(&file(dir, key)).ok())
            .and_then(|mut f| {
                let mut data = Vec::new();
                std::io::Read::read_to_end(&mut f, &mut data).ok()?;
                let records = parse(&data, uid_validity)?;
                Some(SortIndex {
                    data,
                    records,
                    changed: false,
                })
            });
        read.unwrap_or_else(SortIndex::empty)
    }

    fn value(&self, r: &Record) -> &[u8] {
        &self.data[r.at as usize..r.at as usize + usize::from(r.len)]
    }

    /// The UIDs it has values for, ascending.
    pub fn uids(&self) -> Vec<Uid> {
        let mut u: Vec<Uid> = self.records.iter().map(|r| r.uid).collect();
        u.sort_unstable();
        u
    }

    /// Adds the values of messages it lacks, and drops the records of
    /// the UIDs in `gone` (ascending).
    pub fn update(&mut self, mut added: Vec<(Vec<u8>, Uid)>, gone: &[Uid]) {
        if !gone.is_empty() {
            self.records.retain(|r| gone.binary_search(&r.uid).is_err());
            self.changed = true;
        }
        if added.is_empty() {
            return;
        }
        added.sort_unstable();
        let mut new = Vec::with_capacity(added.len());
        for (v, uid) in added {
            let v = text_value(v);
            let at = u32::try_from(self.data.len()).unwrap_or(u32::MAX);
            self.data.extend_from_slice(&v);
            new.push(Record {
                at,
                len: v.len() as u16,
                uid,
            });
        }
        let old = std::mem::take(&mut self.records);
        let mut merged = Vec::with_capacity(old.len() + new.len());
        let (mut a, mut b) = (old.into_iter().peekable(), new.into_iter().peekable());
        loop {
            let take_old = match (a.peek(), b.peek()) {
                (Some(x), Some(y)) => (self.value(x), x.uid) <= (self.value(y), y.uid),
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            merged.extend(if take_old { a.next() } else { b.next() });
        }
        self.records = merged;
        self.changed = true;
    }

    /// Each UID's rank: equal values, equal ranks; ascending with the
    /// value. `rank(uid)` for every UID the index has, through `set`.
    pub fn ranks(&self, mut set: impl FnMut(Uid, u32)) {
        let mut rank = 0u32;
        let mut prev: Option<&[u8]> = None;
        for r in &self.records {
            let v = self.value(r);
            if prev.is_some_and(|p| p != v) {
                rank += 1;
            }
            prev = Some(v);
            set(r.uid, rank);
        }
    }

    /// Writes the index back if it changed; a failure only costs the
    /// next SORT the same work.
    pub fn save(&self, dir: &Path, key: &str, uid_validity: u32) {
        if !self.changed {
            return;
        }
        let mut out = format!("{MAGIC} {uid_validity} {}\n", self.records.len()).into_bytes();
        for r in &self.records {
            out.extend_from_slice(&r.uid.to_le_bytes());
            out.extend_from_slice(&r.len.to_le_bytes());
            out.extend_from_slice(self.value(r));
        }
        if out.len() as u64 > SORT_INDEX_FILE_MAX {
            return;
        }
        if let Err(e) = open::replace(&file(dir, key), &out, false) {
            log::warn!("{}: {e}", file(dir, key).display());
        }
    }
}

fn file(dir: &Path, key: &str) -> std::path::PathBuf {
    dir.join(format!("mailaccess-sort-{key}"))
}

/// The records of a file for `uid_validity`, if it is whole and in order;
/// their values stay in `data`.
fn parse(data: &[u8], uid_validity: u32) -> Option<Vec<Record>> {
    let nl = data.iter().position(|&c| c == b'\n')?;
    let head = std::str::from_utf8(&data[..nl]).ok()?;
    let rest = head.strip_prefix(MAGIC)?.strip_prefix(' ')?;
    let (validity, count) = rest.split_once(' ')?;
    if validity.parse::<u32>().ok()? != uid_validity {
        return None;
    }
    let count: usize = count.parse().ok()?;
    let mut at = nl + 1;
    let mut records: Vec<Record> = Vec::with_capacity(count.min((data.len() - at) / 6));
    let mut prev: Option<(&[u8], Uid)> = None;
    for _ in 0..count {
        let (uid, more) = data.get(at..)?.split_first_chunk::<4>()?;
        let (len, more) = more.split_first_chunk::<2>()?;
        let len = u16::from_le_bytes(*len);
        let v = more.get(..usize::from(len))?;
        let uid = u32::from_le_bytes(*uid);
        if prev.is_some_and(|p| p >= (v, uid)) {
            return None;
        }
        prev = Some((v, uid));
        records.push(Record {
            at: u32::try_from(at + 6).ok()?,
            len,
            uid,
        });
        at += 6 + usize::from(len);
    }
    (at == data.len()).then_some(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranks(ix: &SortIndex) -> Vec<(Uid, u32)> {
        let mut r = Vec::new();
        ix.ranks(|u, k| r.push((u, k)));
        r
    }

    #[test]
    fn values_kept_merged_and_trusted_only_whole() {
        let d = tempfile::tempdir().unwrap();
        let mut ix = SortIndex::load(d.path(), "subject", 7);
        assert!(ix.uids().is_empty());
        ix.update(
            vec![(b"B".to_vec(), 1), (b"A".to_vec(), 2), (b"B".to_vec(), 3)],
            &[],
        );
        ix.save(d.path(), "subject", 7);
        let mut ix = SortIndex::load(d.path(), "subject", 7);
        assert_eq!(ix.uids(), [1, 2, 3]);
        assert_eq!(ranks(&ix), [(2, 0), (1, 1), (3, 1)]);
        // New mail merged in, an expunged message dropped.
        ix.update(vec![(b"AB".to_vec(), 4)], &[2]);
        assert_eq!(ranks(&ix), [(4, 0), (1, 1), (3, 1)]);
        ix.save(d.path(), "subject", 7);
        assert_eq!(SortIndex::load(d.path(), "subject", 7).uids(), [1, 3, 4]);
        // Another UIDVALIDITY, a torn or disordered file: nothing.
        assert!(SortIndex::load(d.path(), "subject", 8).uids().is_empty());
        let path = d.path().join("mailaccess-sort-subject");
        let data = std::fs::read(&path).unwrap();
        std::fs::write(&path, &data[..data.len() - 1]).unwrap();
        assert!(SortIndex::load(d.path(), "subject", 7).uids().is_empty());
        let mut bad = b"mailaccess-sort 2 7 2\n".to_vec();
        for (u, v) in [(1u32, b"B"), (2, b"A")] {
            bad.extend_from_slice(&u.to_le_bytes());
            bad.extend_from_slice(&1u16.to_le_bytes());
            bad.extend_from_slice(v);
        }
        std::fs::write(&path, bad).unwrap();
        assert!(SortIndex::load(d.path(), "subject", 7).uids().is_empty());
    }

    #[test]
    fn numbers_order_as_their_values() {
        let mut v = [-5i64, 3, 0, i64::MIN, i64::MAX, -1];
        let mut by_value: Vec<Vec<u8>> = v.iter().map(|&n| number_value(n)).collect();
        v.sort_unstable();
        by_value.sort_unstable();
        let want: Vec<Vec<u8>> = v.iter().map(|&n| number_value(n)).collect();
        assert_eq!(by_value, want);
    }
}
