//! The Maildir index under SIGKILL: a child process runs STOREs, APPENDs
//! or EXPUNGEs in a loop (through the store, as a session does) and is
//! killed at a random moment, 50 times for each. It writes a line before
//! each operation and another once the store acknowledged it (what a
//! client would have been told). After each kill, a fresh look checks:
//! UIDVALIDITY is unchanged and no message changed UID; every acknowledged
//! APPEND is there with its UID, every acknowledged EXPUNGE is gone, every
//! acknowledged flag is set, the expunge history names every expunged
//! UID and no present one; only the one operation in flight may have
//! gone either way. Log folds happen along the way (every few hundred
//! changes on this mailbox); a fourth child does nothing but fold, so
//! that kills land in the middle of one (they are counted).
//!
//! The cache gets the same treatment: a fifth child appends items in
//! batches while every earlier batch counts as expunged, so the file is
//! compacted every few batches; after each kill, every item the cache
//! holds is the right one for its UID, the last acknowledged batch is all
//! there, and no more than one `.tmp` file is ever left.
//!
//! The child is this test binary run again with an environment variable
//! naming the role.

use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use mailaccess::store::cache::{Cache, Kind, CACHE_FILE};
use mailaccess::store::index::{self, Index};
use mailaccess::store::lock::Lock;
use mailaccess::store::maildir::Maildir;
use mailaccess::store::{flag, FlagOp, Flags, NewMessage, Store};

const ROLE: &str = "MAILACCESS_MAILDIR_CRASH_ROLE";
const DIR: &str = "MAILACCESS_MAILDIR_CRASH_DIR";
const SEED: &str = "MAILACCESS_MAILDIR_CRASH_SEED";
const KILLS: usize = 50;
const MESSAGES: usize = 200;
/// The flags the test plays with.
const WATCHED: u8 = flag::FLAGGED | flag::SEEN | flag::DELETED;

fn store(dir: &Path) -> Maildir {
    Maildir::open_store(dir.join("Maildir")).expect("open store")
}

fn message(seq: usize) -> Vec<u8> {
    format!("Subject: message {seq}\nX-Seq: {seq}\n\nbody of {seq}\n").into_bytes()
}

fn append(s: &mut Maildir, seq: usize) -> u32 {
    let data = message(seq);
    let mut r = &data[..];
    let mut m = [NewMessage {
        flags: Flags::default(),
        internal_date: None,
        data: &mut r,
        len: data.len() as u64,
    }];
    s.append("INBOX", &mut m).expect("append").uids[0]
}

fn only(bit: u8) -> Flags {
    Flags {
        system: bit,
        keywords: vec![],
    }
}

fn next(rng: &mut u64) -> u64 {
    *rng ^= *rng << 13;
    *rng ^= *rng >> 7;
    *rng ^= *rng << 17;
    *rng
}

/// Appends one line to the acknowledgement file in one write(2), so a
/// kill never leaves half a line.
fn note(acks: &mut fs::File, line: String) {
    acks.write_all(format!("{line}\n").as_bytes())
        .expect("note");
}

/// Not a test of its own: the entry point of the child processes.
#[test]
fn child_role() {
    let (Ok(role), Ok(dir), Ok(seed)) =
        (std::env::var(ROLE), std::env::var(DIR), std::env::var(SEED))
    else {
        return;
    };
    let dir = PathBuf::from(dir);
    let seed = seed.parse::<u64>().expect("seed");
    let mut rng: u64 = seed | 1;
    let mut acks = OpenOptions::new()
        .append(true)
        .create(true)
        .open(dir.join("acks"))
        .expect("acks");
    if role == "compact" {
        compact_child(&dir, seed as u32, &mut acks);
    }
    let mut s = store(&dir);
    let mut mb = s.open("INBOX", false).expect("open");
    let mut seq = 100_000 * (rng % 1000) as usize;
    loop {
        match role.as_str() {
            "store" => {
                let i = (next(&mut rng) % mb.count() as u64) as usize;
                let bit = if next(&mut rng) % 2 == 0 {
                    flag::FLAGGED
                } else {
                    flag::SEEN
                };
                let m = &mb.message(i);
                let (uid, before) = (m.uid, m.flags.system);
                let op = if before & bit == 0 {
                    FlagOp::Add
                } else {
                    FlagOp::Remove
                };
                let after = (before ^ bit) & WATCHED;
                note(&mut acks, format!("B F {uid} {after}"));
                mb.store(&[i], op, &only(bit)).expect("store");
                note(&mut acks, format!("K F {uid} {after}"));
            }
            "append" => {
                seq += 1;
                note(&mut acks, format!("B A {seq}"));
                let uid = append(&mut s, seq);
                note(&mut acks, format!("K A {seq} {uid}"));
            }
            "expunge" => {
                mb.sync(true).expect("sync");
                let n = mb.count();
                if n <= MESSAGES / 2 {
                    // Keep something to expunge: refill.
                    seq += 1;
                    note(&mut acks, format!("B A {seq}"));
                    let uid = append(&mut s, seq);
                    note(&mut acks, format!("K A {seq} {uid}"));
                    continue;
                }
                let i = (next(&mut rng) % n as u64) as usize;
                let uid = mb.message(i).uid;
                let after = (mb.message(i).flags.system | flag::DELETED) & WATCHED;
                note(&mut acks, format!("B F {uid} {after}"));
                mb.store(&[i], FlagOp::Add, &only(flag::DELETED))
                    .expect("store");
                note(&mut acks, format!("K F {uid} {after}"));
                note(&mut acks, format!("B E {uid}"));
                mb.expunge(Some(&[uid])).expect("expunge");
                note(&mut acks, format!("K E {uid}"));
            }
            "fold" => {
                // What a commit past the log's bound does: a new main file
                // and a new log, under the mailbox lock.
                let md = dir.join("Maildir");
                let _lock = Lock::exclusive(&md.join(index::LOCK_FILE)).expect("lock");
                let (mut ix, _) = Index::load(&md).expect("load").expect("an index");
                ix.bump();
                note(&mut acks, "B M".into());
                ix.save(&md, None).expect("fold");
                note(&mut acks, "K M".into());
            }
            other => panic!("unknown role {other}"),
        }
    }
}

const CACHE_VALIDITY: u32 = 77;
const BATCH: u32 = 100;

fn cache_item(uid: u32) -> Vec<u8> {
    format!("(item of {uid})").repeat(150).into_bytes()
}

/// Caches batches of items from UID `base` on, each batch leaving only
/// itself alive (as if every message before it had been expunged).
fn compact_child(dir: &Path, mut base: u32, acks: &mut fs::File) -> ! {
    let mut cache = Cache::new(&dir.join("Maildir"), CACHE_VALIDITY);
    loop {
        let first = base;
        let live = move |uid: u32| uid >= first;
        // Every earlier batch's messages are gone now, as a mailbox tells
        // its cache after an expunge.
        cache.expunged();
        note(acks, format!("B C {base}"));
        for uid in base..base + BATCH {
            cache.put(uid, Kind::Envelope, &cache_item(uid), &live);
        }
        cache.flush(&live);
        note(acks, format!("K C {base}"));
        base += BATCH;
    }
}

fn child(role: &str, dir: &Path, seed: u64) -> Child {
    Command::new(std::env::current_exe().expect("exe"))
        .args(["--exact", "child_role", "--nocapture", "--test-threads=1"])
        .env(ROLE, role)
        .env(DIR, dir)
        .env(SEED, seed.to_string())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn child")
}

/// What the files say now: UIDVALIDITY and, per UID, the message's X-Seq
/// and its watched flags.
fn look(dir: &Path) -> (u32, HashMap<u32, (usize, u8)>) {
    let mut s = store(dir);
    let mut mb = s.open("INBOX", true).expect("open after kill");
    let mut out = HashMap::new();
    for i in 0..mb.count() {
        let m = mb.message(i);
        let mut text = String::new();
        mb.open_message(i)
            .expect("message file")
            .read_to_string(&mut text)
            .expect("read");
        let seq: usize = text
            .lines()
            .find_map(|l| l.strip_prefix("X-Seq: "))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no X-Seq in {text:?}"));
        assert!(
            out.insert(m.uid, (seq, m.flags.system & WATCHED)).is_none(),
            "UID {} twice",
            m.uid
        );
    }
    (mb.uid_validity(), out)
}

/// The model: per UID the X-Seq it must hold and the flags it must have
/// (with the flags it may have instead, if an operation was in flight).
struct Model {
    uid_validity: u32,
    seq_of: HashMap<u32, usize>,
    flags: HashMap<u32, u8>,
}

impl Model {
    /// Checks the files against the model and the child's notes, then
    /// takes what the files say as the new model.
    fn check(&mut self, dir: &Path, round: &str) {
        let notes = fs::read_to_string(dir.join("acks")).unwrap_or_default();
        let _ = fs::remove_file(dir.join("acks"));
        let mut flags = self.flags.clone();
        let mut may_flags: HashMap<u32, u8> = HashMap::new();
        let mut expunged = Vec::new();
        let mut may_be_gone = None;
        let mut appended: HashMap<usize, u32> = HashMap::new();
        let mut may_be_appended = None;
        let lines: Vec<&str> = notes.lines().collect();
        for (n, line) in lines.iter().enumerate() {
            let w: Vec<&str> = line.split(' ').collect();
            let last = n + 1 == lines.len();
            match (w[0], w[1]) {
                ("B", "F") if last => {
                    may_flags.insert(w[2].parse().unwrap(), w[3].parse().unwrap());
                }
                ("K", "F") => {
                    flags.insert(w[2].parse().unwrap(), w[3].parse().unwrap());
                }
                ("B", "E") if last => may_be_gone = Some(w[2].parse::<u32>().unwrap()),
                ("K", "E") => expunged.push(w[2].parse::<u32>().unwrap()),
                ("B", "A") if last => may_be_appended = Some(w[2].parse::<usize>().unwrap()),
                ("K", "A") => {
                    let uid: u32 = w[3].parse().unwrap();
                    appended.insert(w[2].parse().unwrap(), uid);
                    flags.insert(uid, 0);
                }
                _ => {}
            }
        }
        let (validity, now) = look(dir);
        assert_eq!(validity, self.uid_validity, "{round}: UIDVALIDITY changed");
        for (seq, uid) in &appended {
            self.seq_of.insert(*uid, *seq);
            if expunged.contains(uid) || may_be_gone == Some(*uid) {
                continue; // appended, then expunged
            }
            assert_eq!(
                now.get(uid).map(|x| x.0),
                Some(*seq),
                "{round}: acknowledged APPEND of {seq} as UID {uid} lost"
            );
        }
        // The expunge history (QRESYNC's VANISHED) names every UID
        // acknowledged expunged, and no message's.
        let (ix, _) = Index::load(&dir.join("Maildir"))
            .expect("load")
            .expect("index");
        let vanished = ix.vanished_since(0);
        let in_history = |uid: u32| vanished.iter().any(|r| r.contains(&uid));
        for uid in &expunged {
            assert!(
                !now.contains_key(uid),
                "{round}: expunged UID {uid} is back"
            );
            assert!(
                in_history(*uid),
                "{round}: expunged UID {uid} not in the history"
            );
            flags.remove(uid);
        }
        for uid in now.keys() {
            assert!(
                !in_history(*uid),
                "{round}: UID {uid} both here and vanished"
            );
        }
        for (uid, (seq, got)) in &now {
            match self.seq_of.get(uid) {
                Some(s) => assert_eq!(s, seq, "{round}: UID {uid} now holds another message"),
                None => {
                    assert_eq!(
                        Some(*seq),
                        may_be_appended,
                        "{round}: UID {uid} ({seq}) from nowhere"
                    );
                    self.seq_of.insert(*uid, *seq);
                    flags.insert(*uid, *got);
                }
            }
            let want = flags.get(uid).copied().unwrap_or(0);
            assert!(
                *got == want || may_flags.get(uid) == Some(got),
                "{round}: UID {uid} has flags {got}, acknowledged {want}"
            );
        }
        for uid in flags.keys() {
            assert!(
                now.contains_key(uid) || may_be_gone == Some(*uid),
                "{round}: UID {uid} lost"
            );
        }
        self.flags = now.iter().map(|(u, (_, f))| (*u, *f)).collect();
    }
}

fn killed_at_random(role: &str, seed: u64) {
    let t = tempfile::tempdir().expect("tempdir");
    let dir = t.path();
    let mut s = store(dir);
    for seq in 0..MESSAGES {
        append(&mut s, seq);
    }
    let (uid_validity, now) = look(dir);
    let mut model = Model {
        uid_validity,
        seq_of: now.iter().map(|(u, (s, _))| (*u, *s)).collect(),
        flags: now.iter().map(|(u, (_, f))| (*u, *f)).collect(),
    };
    let mut rng = seed;
    let mut mid_fold = 0;
    let mut acknowledged = 0;
    for round in 0..KILLS {
        let mut c = child(role, dir, next(&mut rng));
        std::thread::sleep(Duration::from_millis(30 + next(&mut rng) % 300));
        c.kill().expect("kill");
        c.wait().expect("wait");
        // A fold in progress leaves its new log or main file beside.
        if fs::read_dir(dir.join("Maildir"))
            .expect("dir")
            .flatten()
            .any(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                n.starts_with("mailaccess.index") && (n.ends_with(".new") || n.ends_with(".tmp"))
            })
        {
            mid_fold += 1;
        }
        acknowledged += fs::read_to_string(dir.join("acks"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with('K'))
            .count();
        model.check(dir, &format!("{role} round {round}"));
    }
    eprintln!(
        "{role}: {KILLS} kills, {acknowledged} acknowledged operations, {mid_fold} kills in a fold"
    );
    assert!(
        acknowledged > KILLS,
        "{role}: the children did almost nothing"
    );
    if role == "fold" {
        assert!(mid_fold > 0, "no kill hit a fold: the test proved nothing");
    }
}

#[test]
fn stores_killed_at_random_lose_nothing_acknowledged() {
    killed_at_random("store", 0x9e37_79b9_7f4a_7c15);
}

#[test]
fn appends_killed_at_random_lose_nothing_acknowledged() {
    killed_at_random("append", 0x2545_f491_4f6c_dd1d);
}

#[test]
fn expunges_killed_at_random_lose_nothing_acknowledged() {
    killed_at_random("expunge", 0xd1b5_4a32_d192_ed03);
}

#[test]
fn folds_killed_at_random_lose_nothing() {
    killed_at_random("fold", 0x94d0_49bb_1331_11eb);
}

#[test]
fn cache_compactions_killed_at_random_serve_no_wrong_item() {
    let t = tempfile::tempdir().expect("tempdir");
    let dir = t.path();
    fs::create_dir_all(dir.join("Maildir")).expect("mkdir");
    let mut rng: u64 = 0x7f4a_7c15_9e37_79b9;
    let (mut mid_compaction, mut batches, mut most_tmp) = (0, 0, 0);
    for round in 0..KILLS as u64 {
        let base = 1 + round * 10_000_000;
        let mut c = child("compact", dir, base);
        std::thread::sleep(Duration::from_millis(30 + next(&mut rng) % 300));
        c.kill().expect("kill");
        c.wait().expect("wait");
        let tmp = fs::read_dir(dir.join("Maildir"))
            .expect("dir")
            .flatten()
            .filter(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                n.starts_with(&format!("{CACHE_FILE}.")) && n.ends_with(".tmp")
            })
            .count();
        if tmp > 0 {
            mid_compaction += 1;
        }
        most_tmp = most_tmp.max(tmp);
        let notes = fs::read_to_string(dir.join("acks")).unwrap_or_default();
        let _ = fs::remove_file(dir.join("acks"));
        let lines: Vec<&str> = notes.lines().collect();
        batches += lines.iter().filter(|l| l.starts_with("K C")).count();
        let mut cache = Cache::new(&dir.join("Maildir"), CACHE_VALIDITY);
        let last_base: u32 = lines
            .iter()
            .rev()
            .find_map(|l| l.strip_prefix("B C "))
            .map_or(base as u32, |b| b.parse().expect("base"));
        for uid in base as u32..last_base + BATCH {
            if let Some(got) = cache.get(uid, Kind::Envelope) {
                assert_eq!(got, cache_item(uid), "round {round}: UID {uid} wrong item");
            }
        }
        // Nothing in flight after it: the last acknowledged batch is there.
        if let Some(b) = lines.last().and_then(|l| l.strip_prefix("K C ")) {
            let b: u32 = b.parse().expect("base");
            for uid in b..b + BATCH {
                assert_eq!(
                    cache.get(uid, Kind::Envelope),
                    Some(cache_item(uid)),
                    "round {round}: acknowledged UID {uid} lost"
                );
            }
        }
    }
    eprintln!(
        "compact: {KILLS} kills, {batches} acknowledged batches, {mid_compaction} kills in a compaction"
    );
    assert!(batches > KILLS, "the children did almost nothing");
    assert!(
        mid_compaction > 0,
        "no kill hit a compaction: the test proved nothing"
    );
    assert!(
        most_tmp <= 1,
        "{most_tmp} .tmp files left: leftovers not removed"
    );
}
