use super::*;
use std::fs;

pub(super) fn sample() -> Index {
    let mut ix = Index::new(42);
    ix.add_keyword("$Forwarded").expect("kw");
    ix.add_keyword("Junk").expect("kw");
    let mut flags = Flags {
        system: flag::SEEN | flag::DELETED,
        keywords: vec![],
    };
    flags.insert_keyword("Junk");
    for uid in 1..4 {
        let m = ix.bump();
        ix.entries.push(Entry {
            uid,
            modseq: m,
            size: 100 + u64::from(uid),
            date: 1_700_000_000,
            zone: -300,
            flags: flags.clone(),
            name: format!("1700000000.M{uid}P1.host,S=10,W=12").into(),
            new: false,
        });
    }
    ix.uid_next = 4;
    ix
}

fn entry(ix: &mut Index, base: &str) -> Entry {
    let uid = ix.uid_next;
    ix.uid_next += 1;
    Entry {
        uid,
        modseq: ix.bump(),
        size: 7,
        date: 1_700_000_100,
        zone: 60,
        flags: Flags::default(),
        name: format!("{base}:2,").into(),
        new: false,
    }
}

/// One commit of each kind of change, on top of `ix`.
fn changed(mut ix: Index) -> Index {
    let k = ix.find(2).expect("uid 2");
    ix.add_keyword("Work").expect("kw");
    let modseq = ix.bump();
    edit(&mut ix, k, |e| {
        e.flags.insert_keyword("Work");
        e.flags.system |= flag::FLAGGED;
        e.modseq = modseq;
    });
    assert_eq!(ix.expunge(|uid| uid == 1), 1);
    let e = entry(&mut ix, "1700000100.M9P1.host");
    ix.entries.push(e);
    ix.first_recent = ix.uid_next;
    ix
}

/// Changes entry `k` as `f` says.
fn edit(ix: &mut Index, k: usize, f: impl FnOnce(&mut Entry)) {
    let mut e = ix.get(k);
    f(&mut e);
    ix.set(k, e);
}

/// Takes entries out without keeping them in the expunge history.
fn forget(ix: &mut Index, gone: impl FnMut(Uid) -> bool) {
    ix.entries.remove_where(gone);
}

fn bytes(b: &[u8]) -> entries::Source {
    entries::Source::Bytes(b.to_vec())
}

fn load(dir: &Path) -> (Index, Option<Snapshot>) {
    Index::load(dir).expect("load").expect("an index")
}

fn len(p: PathBuf) -> u64 {
    fs::metadata(p).expect("stat").len()
}

use std::path::PathBuf;

#[test]
fn round_trip_through_main_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ix = sample();
    ix.save(dir.path(), None).expect("save");
    let (got, snap) = load(dir.path());
    assert_eq!(got, ix);
    assert!(snap.is_some());
}

#[test]
fn a_commit_appends_what_changed_and_leaves_the_main_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    sample().save(dir.path(), None).expect("save");
    let main = fs::read(dir.path().join(INDEX_FILE)).expect("main");
    let (ix, snap) = load(dir.path());
    let log_before = len(dir.path().join(LOG_FILE));
    let mut after = changed(ix);
    let snap2 = after.save(dir.path(), snap.as_ref()).expect("save");
    assert_eq!(fs::read(dir.path().join(INDEX_FILE)).expect("main"), main);
    let grew = len(dir.path().join(LOG_FILE)) - log_before;
    assert!(grew > 0 && grew < 300, "log grew by {grew}");
    let (mut got, _) = load(dir.path());
    assert_eq!(got, after);
    // Nothing changed: nothing written.
    got.save(dir.path(), Some(&snap2)).expect("save");
    assert_eq!(len(dir.path().join(LOG_FILE)) - log_before, grew);
}

#[test]
fn one_flag_change_in_a_big_index_writes_one_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ix = Index::new(7);
    for n in 0..20_000 {
        let e = entry(&mut ix, &format!("1700000000.M{n}P1.host,S=10,W=12"));
        ix.entries.push(e);
    }
    ix.save(dir.path(), None).expect("save");
    let main = len(dir.path().join(INDEX_FILE));
    let (mut ix, snap) = load(dir.path());
    let before = len(dir.path().join(LOG_FILE));
    let modseq = ix.bump();
    edit(&mut ix, 12_345, |e| {
        e.flags.system |= flag::SEEN;
        e.modseq = modseq;
    });
    ix.save(dir.path(), snap.as_ref()).expect("save");
    let wrote = len(dir.path().join(LOG_FILE)) - before;
    assert!(wrote < 128, "one flag change wrote {wrote} octets");
    assert!(main > 1_000_000, "main file {main}");
    assert_eq!(load(dir.path()).0, ix);
}

/// Dates read after the entries were saved as `DATE_UNKNOWN`: a few are
/// log records (the main file stays as it is), those of most of a big
/// index are written by a fold; either way a reload has them, no modseq
/// moves, and a date already known is never replaced.
#[test]
fn learned_dates_are_saved_by_log_or_by_fold() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ix = Index::new(7);
    for n in 0..50_000 {
        let mut e = entry(&mut ix, &format!("1700000000.M{n}P1.host,S=10,W=12"));
        if e.uid != 8 {
            e.date = DATE_UNKNOWN;
        }
        ix.entries.push(e);
    }
    ix.save(dir.path(), None).expect("save");
    let main = fs::read(dir.path().join(INDEX_FILE)).expect("main");
    let modseqs: Vec<ModSeq> = (0..50_000).map(|k| ix.modseq_at(k)).collect();
    let highest = ix.highest_modseq;

    let (mut ix, snap) = load(dir.path());
    let log_before = len(dir.path().join(LOG_FILE));
    ix.save_dates(dir.path(), snap.as_ref(), vec![(3, 1_000), (8, 2_000)])
        .expect("save");
    assert_eq!(fs::read(dir.path().join(INDEX_FILE)).expect("main"), main);
    assert!(len(dir.path().join(LOG_FILE)) - log_before < 128);
    let (mut got, snap) = load(dir.path());
    assert_eq!(got, ix);
    assert_eq!(got.get(2).date, 1_000);
    assert_eq!(got.get(7).date, 1_700_000_100);
    assert_eq!(got.get(3).date, DATE_UNKNOWN);
    assert_eq!(got.highest_modseq, highest);

    let all = (1..=50_000).map(|u| (u, i64::from(u) * 10)).collect();
    let s = got
        .save_dates(dir.path(), snap.as_ref(), all)
        .expect("fold");
    assert_eq!(s.log_end, log::HEADER_LEN);
    let (got, _) = load(dir.path());
    for (k, &modseq) in modseqs.iter().enumerate() {
        let want = match k {
            2 => 1_000,
            7 => 1_700_000_100,
            _ => (k as i64 + 1) * 10,
        };
        assert_eq!(got.get(k).date, want, "entry {k}");
        assert_eq!(got.modseq_at(k), modseq);
    }
    assert_eq!(got.highest_modseq, highest);
}

#[test]
fn the_log_is_folded_past_its_bound() {
    let dir = tempfile::tempdir().expect("tempdir");
    sample().save(dir.path(), None).expect("save");
    let (mut ix, mut snap) = load(dir.path());
    let mut folded = false;
    for n in 0..3000 {
        let e = entry(&mut ix, &format!("1700000200.M{n}P2.host"));
        ix.entries.push(e);
        let s = ix.save(dir.path(), snap.as_ref()).expect("save");
        folded |= s.log_end == log::HEADER_LEN;
        snap = Some(s);
        let bound =
            (len(dir.path().join(INDEX_FILE)) / 2).clamp(INDEX_LOG_FOLD_MIN, INDEX_LOG_FOLD_MAX);
        assert!(len(dir.path().join(LOG_FILE)) <= bound + 200);
    }
    assert!(folded);
    assert_eq!(load(dir.path()).0, ix);
}

#[test]
fn every_truncation_and_bit_flip_of_the_main_file_is_refused() {
    let data = file::encode(&sample(), 99).expect("encode");
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join(INDEX_FILE);
    for n in 0..data.len() {
        fs::write(&p, &data[..n]).expect("write");
        assert!(
            matches!(Index::load(dir.path()), Err(StoreError::Corrupt(_))),
            "cut at {n}"
        );
    }
    for n in 0..data.len() {
        let mut d = data.clone();
        d[n] ^= 0x10;
        fs::write(&p, &d).expect("write");
        assert!(Index::load(dir.path()).is_err(), "flip at {n} accepted");
    }
}

/// A log cut anywhere (a crash mid-commit) loads; no UID is given to
/// another message and UIDNEXT never goes back.
#[test]
fn a_log_cut_anywhere_loads_and_keeps_every_uid() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut first = sample();
    first.save(dir.path(), None).expect("save");
    let (ix, snap) = load(dir.path());
    let mut after = changed(ix);
    after.save(dir.path(), snap.as_ref()).expect("save");
    let log = fs::read(dir.path().join(LOG_FILE)).expect("log");
    let p = dir.path().join(LOG_FILE);
    let known: Vec<(Uid, String)> = first
        .iter()
        .chain(after.iter())
        .map(|e| (e.uid, e.name.to_string()))
        .collect();
    for cut in log::HEADER_LEN as usize..=log.len() {
        fs::write(&p, &log[..cut]).expect("write");
        let (got, snap) = load(dir.path());
        assert!(got.uid_next >= first.uid_next, "cut {cut}");
        for e in got.iter() {
            assert!(
                known.contains(&(e.uid, e.name.to_string())),
                "cut {cut}: {e:?}"
            );
        }
        // The next commit drops the tail and the result loads cleanly.
        let mut next = got.clone();
        next.highest_modseq += 1;
        next.save(dir.path(), snap.as_ref()).expect("save");
        let (again, _) = load(dir.path());
        assert_eq!(again, next, "cut {cut}");
    }
}

#[test]
fn damage_before_the_end_of_the_log_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    sample().save(dir.path(), None).expect("save");
    let (ix, snap) = load(dir.path());
    let mut after = changed(ix);
    let snap = after.save(dir.path(), snap.as_ref()).expect("save");
    let mut more = after.clone();
    let modseq = more.bump();
    edit(&mut more, 0, |e| {
        e.flags.system ^= flag::SEEN;
        e.modseq = modseq;
    });
    more.save(dir.path(), Some(&snap)).expect("save");
    let p = dir.path().join(LOG_FILE);
    let log = fs::read(&p).expect("log");
    let mut d = log.clone();
    d[log::HEADER_LEN as usize + 9] ^= 0x04;
    fs::write(&p, &d).expect("write");
    assert!(matches!(
        Index::load(dir.path()),
        Err(StoreError::Corrupt(_))
    ));
}

#[test]
fn a_log_of_another_main_file_is_ignored() {
    let dir = tempfile::tempdir().expect("tempdir");
    sample().save(dir.path(), None).expect("save");
    let (mut ix, snap) = load(dir.path());
    changed(ix.clone())
        .save(dir.path(), snap.as_ref())
        .expect("save");
    let log = fs::read(dir.path().join(LOG_FILE)).expect("log");
    // A fold cut short after the main file's rename: the old log stays.
    ix.save(dir.path(), None).expect("fold");
    fs::write(dir.path().join(LOG_FILE), log).expect("write");
    let (got, snap) = load(dir.path());
    assert_eq!(got, ix);
    assert!(snap.is_none(), "the next save must start a new log");
}

#[test]
fn the_text_index_is_migrated_and_removed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ix = sample();
    fs::write(dir.path().join(TEXT_INDEX_FILE), text::serialize(&ix)).expect("write");
    // It kept no expunge history.
    ix.vanished_from = ix.highest_modseq;
    let (mut got, snap) = load(dir.path());
    assert_eq!(got, ix);
    assert!(snap.is_none());
    got.save(dir.path(), None).expect("save");
    assert!(!dir.path().join(TEXT_INDEX_FILE).exists());
    assert_eq!(load(dir.path()).0, ix);
}

#[test]
fn a_renamed_keyword_slot_writes_a_new_main_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    sample().save(dir.path(), None).expect("save");
    let (mut ix, snap) = load(dir.path());
    for k in 0..ix.len() {
        edit(&mut ix, k, |e| e.flags.remove_keyword("Junk"));
    }
    ix.keywords[1] = "Other".into();
    ix.bump();
    let s = ix.save(dir.path(), snap.as_ref()).expect("save");
    assert_eq!(s.log_end, log::HEADER_LEN);
    assert_eq!(load(dir.path()).0, ix);
}

#[test]
fn every_log_record_round_trips() {
    let mut e = entry(&mut Index::new(1), "x.y");
    e.flags.system = flag::SEEN;
    let records = [
        log::Record::Append(e, vec![3, 0]),
        log::Record::Flags {
            uid: 5,
            modseq: 9,
            system: flag::DRAFT,
            keywords: vec![1],
            new: true,
            name: "a.b:2,D".into(),
        },
        log::Record::Expunge(4, 10),
        log::Record::Keyword(2, "Junk".into()),
        log::Record::State {
            uid_next: 9,
            first_recent: 3,
            highest_modseq: 11,
            scanned: [5, -1],
        },
        log::Record::Date(5, -3),
    ];
    for r in records {
        let data = log::encode_for_test(&r);
        assert_eq!(log::decode_for_test(&data), Ok((r, data.len())));
    }
}

/// A save from a snapshot older than the log (a caller that did not
/// reload) is refused and cuts nothing.
#[test]
fn a_stale_snapshot_never_cuts_anothers_records() {
    let dir = tempfile::tempdir().expect("tempdir");
    sample().save(dir.path(), None).expect("save");
    let (a, sa) = load(dir.path());
    let (mut b, sb) = load(dir.path());
    let mut after = changed(a);
    after.save(dir.path(), sa.as_ref()).expect("save");
    let log = fs::read(dir.path().join(LOG_FILE)).expect("log");
    let modseq = b.bump();
    edit(&mut b, 0, |e| e.modseq = modseq);
    assert!(b.save(dir.path(), sb.as_ref()).is_err());
    assert_eq!(fs::read(dir.path().join(LOG_FILE)).expect("log"), log);
    assert_eq!(load(dir.path()).0, after);
}

#[test]
fn uid_validity_strictly_increases() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = new_uid_validity(dir.path()).expect("a");
    let b = new_uid_validity(dir.path()).expect("b");
    let c = new_uid_validity(dir.path()).expect("c");
    assert!(a < b && b < c);
}

/// An index of messages with UIDs 1..=n.
fn numbered(n: u32) -> Index {
    let mut ix = Index::new(9);
    for k in 0..n {
        let e = entry(&mut ix, &format!("1700000000.M{k}P1.host"));
        ix.entries.push(e);
    }
    ix
}

fn runs(ix: &Index) -> Vec<(Uid, Uid, ModSeq)> {
    ix.vanished.iter().map(|v| (v.lo, v.hi, v.modseq)).collect()
}

#[test]
fn expunged_uids_join_the_run_no_message_separates_them_from() {
    let mut ix = numbered(10);
    let m1 = {
        ix.expunge(|uid| uid == 3);
        ix.highest_modseq
    };
    ix.expunge(|uid| uid == 5);
    let m2 = ix.highest_modseq;
    assert_eq!(runs(&ix), [(3, 3, m1), (5, 5, m2)]);
    // 4 was all that kept them apart.
    ix.expunge(|uid| uid == 4);
    let m3 = ix.highest_modseq;
    assert_eq!(runs(&ix), [(3, 5, m3)]);
    // Two at once, one of them the last message.
    ix.expunge(|uid| uid == 8 || uid == 10);
    let m4 = ix.highest_modseq;
    assert_eq!(runs(&ix), [(3, 5, m3), (8, 8, m4), (10, 10, m4)]);
    assert_eq!(ix.last_uid(), 10);
    assert_eq!(ix.vanished_since(m3 - 1), [3..=5, 8..=8, 10..=10]);
    assert_eq!(ix.vanished_since(m3), [8..=8, 10..=10]);
    assert!(ix.vanished_since(m4).is_empty());
    // Every message gone: one run, never more runs than messages + 1.
    ix.expunge(|_| true);
    assert_eq!(runs(&ix), [(1, 10, ix.highest_modseq)]);
    // A history that starts later answers with every UID that is no
    // message's, whatever was asked.
    let mut ix = numbered(6);
    ix.expunge(|uid| uid == 2);
    ix.vanished_from = ix.highest_modseq;
    forget(&mut ix, |uid| uid == 4);
    assert_eq!(ix.vanished_since(0), [2..=2, 4..=4]);
    assert!(ix.vanished_since(ix.highest_modseq).is_empty());
}

#[test]
fn the_expunge_history_survives_log_and_fold() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ix = numbered(2000);
    ix.expunge(|uid| uid % 3 == 0 && uid < 100);
    ix.save(dir.path(), None).expect("save");
    let (mut ix, snap) = load(dir.path());
    assert_eq!(ix.vanished.len(), 33);
    // A second session replays the log: the same runs, the same modseqs.
    ix.expunge(|uid| uid == 1 || uid == 2 || uid == 500);
    let snap = ix.save(dir.path(), snap.as_ref()).expect("save");
    let (got, _) = load(dir.path());
    assert_eq!(runs(&got), runs(&ix));
    assert_eq!(got.vanished[0].lo, 1);
    // Folded (many commits): the main file keeps it.
    let main = fs::read(dir.path().join(INDEX_FILE)).expect("main");
    let mut snap = Some(snap);
    let mut ix = got;
    let mut n = 0;
    while fs::read(dir.path().join(INDEX_FILE)).expect("main") == main {
        assert!(n < 1900, "never folded");
        let k = ix.len() - 1 - n;
        let modseq = ix.bump();
        edit(&mut ix, k, |e| {
            e.flags.system ^= flag::SEEN;
            e.modseq = modseq;
        });
        snap = Some(ix.save(dir.path(), snap.as_ref()).expect("save"));
        n += 1;
    }
    let (got, _) = load(dir.path());
    assert_eq!(runs(&got), runs(&ix));
    assert_eq!(got, ix);
}

/// Sets the sums of main file `data` for what it now holds: `sum64`
/// (format 5) or FNV-1a an octet at a time (3 and 4).
fn resum(data: &mut [u8], words: bool) {
    let sum = |d: &[u8]| {
        if words {
            crate::store::sum::sum64(d)
        } else {
            crate::store::sum::fnv1a(d)
        }
    };
    let n = |d: &[u8], at: usize| u32::from_le_bytes(d[at..at + 4].try_into().expect("4")) as usize;
    let lens = [n(data, 20) * 48, n(data, 40), n(data, 44), n(data, 48)];
    let mut at = 128;
    for (i, len) in lens.into_iter().enumerate() {
        let s = sum(&data[at..at + len]);
        data[72 + 8 * i..80 + 8 * i].copy_from_slice(&s.to_le_bytes());
        at += len;
    }
    let s = sum(&data[at..at + n(data, 52)]);
    data[112..120].copy_from_slice(&s.to_le_bytes());
    let s = sum(&data[..120]);
    data[120..128].copy_from_slice(&s.to_le_bytes());
}

/// `data`, a main file of format 5, as formats 3 and 4 had it: every sum
/// FNV-1a an octet at a time, the magic ending in `v`; format 3 without
/// the history fields (zero).
fn as_octet_format(data: &mut [u8], v: u8) {
    data[7] = v;
    if v == 3 {
        data[104..112].fill(0);
    }
    resum(data, false);
    if v == 3 {
        data[112..120].fill(0);
        let s = crate::store::sum::fnv1a(&data[..120]);
        data[120..128].copy_from_slice(&s.to_le_bytes());
    }
}

#[test]
fn what_the_sums_pass_but_no_writer_makes_is_refused() {
    let ix = sample();
    let good = file::encode(&ix, 5).expect("encode");
    assert!(file::decode(bytes(&good), good.len() as u64).is_ok());
    let n = |d: &[u8], at: usize| u32::from_le_bytes(d[at..at + 4].try_into().expect("4")) as usize;
    let records_end = 128 + n(&good, 20) * 48;
    let positions_at = records_end + n(&good, 40);
    let names_at = positions_at + n(&good, 44);
    let refused = |edit: &dyn Fn(&mut Vec<u8>)| {
        let mut d = good.clone();
        edit(&mut d);
        resum(&mut d, true);
        file::decode(bytes(&d), d.len() as u64).is_err()
    };
    // A name with a `/`, a space, or a NUL.
    for c in [b'/', b' ', 0] {
        assert!(refused(&|d| d[names_at + 3] = c), "octet {c}");
    }
    // A keyword position past the table, and one naming no keyword.
    assert!(refused(
        &|d| d[positions_at..positions_at + 2].copy_from_slice(&99u16.to_le_bytes())
    ));
    // The first record's name of length 0 (the next starting where it did).
    assert!(refused(&|d| {
        d[128 + 6..128 + 8].copy_from_slice(&0u16.to_le_bytes());
    }));
    // Unknown system flag bits.
    assert!(refused(&|d| d[128 + 4] |= 0x80));
}

#[test]
fn a_format_4_main_file_is_read_and_replaced_by_format_5_at_the_next_fold() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ix = numbered(5);
    ix.expunge(|uid| uid == 2);
    let mut data = file::encode(&ix, 5).expect("encode");
    as_octet_format(&mut data, 4);
    // Format 5's sums do not pass for format 4's, nor the other way.
    let mut wrong = data.clone();
    wrong[7] = 5;
    assert!(file::decode(bytes(&wrong), wrong.len() as u64).is_err());
    fs::write(dir.path().join(INDEX_FILE), &data).expect("write");
    let (mut got, _) = load(dir.path());
    assert_eq!(got, ix);
    got.save(dir.path(), None).expect("save");
    let now = fs::read(dir.path().join(INDEX_FILE)).expect("main");
    assert_eq!(&now[..8], b"mlaidx\0\x05");
    assert_eq!(load(dir.path()).0, ix);
}

#[test]
fn a_format_3_main_file_is_read_with_a_history_from_its_highest_modseq() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ix = sample();
    let mut data = file::encode(&ix, 5).expect("encode");
    as_octet_format(&mut data, 3);
    fs::write(dir.path().join(INDEX_FILE), &data).expect("write");
    let (got, _) = load(dir.path());
    assert_eq!(got.entries, ix.entries);
    assert_eq!(got.get(2).name, ix.get(2).name);
    assert!(got.vanished.is_empty());
    assert_eq!(got.vanished_from, ix.highest_modseq);
    // Nothing known from before: every UID below UIDNEXT not a message's.
    let mut got = got;
    got.uid_next = 9;
    assert_eq!(got.vanished_since(0), [4..=8]);
}

#[test]
fn a_history_naming_a_message_is_refused() {
    let mut ix = numbered(5);
    ix.expunge(|uid| uid == 2);
    let good = file::encode(&ix, 5).expect("encode");
    assert!(file::decode(bytes(&good), good.len() as u64).is_ok());
    // The same file claiming 2..=3 vanished while 3 is a message.
    let mut bad = ix.clone();
    bad.vanished[0].hi = 3;
    let data = file::encode(&bad, 5).expect("encode");
    assert!(file::decode(bytes(&data), data.len() as u64).is_err());
    // Two runs with no message between them.
    let mut bad = numbered(5);
    forget(&mut bad, |uid| uid == 2 || uid == 3);
    bad.vanished = vec![
        Vanished {
            lo: 2,
            hi: 2,
            modseq: 1,
        },
        Vanished {
            lo: 3,
            hi: 3,
            modseq: 1,
        },
    ];
    let data = file::encode(&bad, 5).expect("encode");
    assert!(file::decode(bytes(&data), data.len() as u64).is_err());
}

#[test]
fn entries_are_read_from_the_main_file_and_damage_after_the_load_is_no_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ix = Index::new(7);
    for n in 0..5000 {
        let e = entry(&mut ix, &format!("1700000000.M{n}P1.host,S=10,W=12"));
        ix.push(e);
    }
    ix.save(dir.path(), None).expect("save");
    let (got, _) = load(dir.path());
    // Read back out of order, across the block boundaries.
    for k in [4999, 0, 2500, 1365, 1364, 4000, 1] {
        assert_eq!(got.get(k), ix.get(k), "entry {k}");
        assert_eq!(got.get_without_name(k).flags, ix.get(k).flags);
        assert!(got.get_without_name(k).name.is_empty());
    }
    // Someone overwrites the file in place (we never do): the records
    // read afterwards are refused, not trusted, and nothing panics.
    let p = dir.path().join(INDEX_FILE);
    let len = fs::metadata(&p).expect("stat").len() as usize;
    let f = fs::OpenOptions::new().write(true).open(&p).expect("open");
    std::os::unix::fs::FileExt::write_at(&f, &vec![0xff; len], 0).expect("write");
    let fresh = Index::load(dir.path());
    assert!(fresh.is_err(), "a damaged file loads");
    let mut fallback = 0;
    for k in 0..got.len() {
        let e = got.get(k);
        assert_eq!(e.uid, ix.uid_at(k));
        if e.name.is_empty() {
            fallback += 1;
        }
    }
    assert!(fallback > 0, "damage went unseen");
}

#[test]
fn modseq_at_reads_the_main_file_record_or_the_change() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ix = sample();
    // Distinct modseqs, so that a field read from the wrong offset shows.
    for k in 0..ix.len() {
        let m = ix.bump();
        edit(&mut ix, k, |e| e.modseq = m);
    }
    ix.save(dir.path(), None).expect("save");
    let (mut got, _) = load(dir.path());
    for k in 0..got.len() {
        assert_eq!(got.modseq_at(k), ix.get(k).modseq, "entry {k}");
    }
    let m = got.bump();
    edit(&mut got, 1, |e| e.modseq = m);
    assert_eq!(got.modseq_at(1), m);
    assert_eq!(got.modseq_at(0), ix.get(0).modseq);
}
