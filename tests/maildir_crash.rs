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

use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::Duration;

use mailaccess::store::cache::{Cache, Kind, CACHE_FILE};
use mailaccess::store::index::{self, Index};
use mailaccess::store::lock::Lock;
use mailaccess::store::maildir::Maildir;

mod crash_model;
use crash_model::{append, kill_rounds, next, note, spawn, Worker, KILLS};

const ROLE: &str = "MAILACCESS_MAILDIR_CRASH_ROLE";
const DIR: &str = "MAILACCESS_MAILDIR_CRASH_DIR";
const SEED: &str = "MAILACCESS_MAILDIR_CRASH_SEED";
const MESSAGES: usize = 200;
fn store(dir: &Path) -> Maildir {
    Maildir::open_store(dir.join("Maildir")).expect("open store")
}

fn message(seq: usize) -> Vec<u8> {
    format!("Subject: message {seq}\nX-Seq: {seq}\n\nbody of {seq}\n").into_bytes()
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
    let mut acks = OpenOptions::new()
        .append(true)
        .create(true)
        .open(dir.join("acks"))
        .expect("acks");
    if role == "compact" {
        compact_child(&dir, seed as u32, &mut acks);
    }
    let mut s = store(&dir);
    let mut child = Worker::new(&mut s, &dir, seed, MESSAGES / 2, message);
    loop {
        if child.step(&role) {
            continue;
        }
        match role.as_str() {
            "fold" => {
                // What a commit past the log's bound does: a new main file
                // and a new log, under the mailbox lock.
                let md = dir.join("Maildir");
                let _lock = Lock::exclusive(&md.join(index::LOCK_FILE)).expect("lock");
                let (mut ix, _) = Index::load(&md).expect("load").expect("an index");
                ix.bump();
                note(&mut child.acks, "B M".into());
                ix.save(&md, None).expect("fold");
                note(&mut child.acks, "K M".into());
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
    spawn([ROLE, DIR, SEED], role, dir, seed)
}

fn killed_at_random(role: &str, seed: u64) {
    let t = tempfile::tempdir().expect("tempdir");
    let dir = t.path();
    let mut s = store(dir);
    for seq in 0..MESSAGES {
        append(&mut s, &message(seq));
    }
    let md = dir.join("Maildir");
    let (acknowledged, mid_fold) = kill_rounds(
        dir,
        role,
        seed,
        |seed| child(role, dir, seed),
        // A fold in progress leaves its new log or main file beside.
        || {
            fs::read_dir(&md).expect("dir").flatten().any(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                n.starts_with("mailaccess.index") && (n.ends_with(".new") || n.ends_with(".tmp"))
            })
        },
        || crash_model::look(&mut store(dir)),
        &md,
    );
    eprintln!(
        "{role}: {KILLS} kills, {acknowledged} acknowledged operations, {mid_fold} kills in a fold"
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
