//! The mbox store under SIGKILL, as `maildir_crash.rs` does it for
//! Maildir: a child process runs STOREs, APPENDs or EXPUNGEs in a loop
//! (through the store, as a session does) and is killed at a random
//! moment, 50 times for each. It writes a line before each operation and
//! another once the store acknowledged it. After each kill, a fresh look
//! checks (`crash_model::Model`): UIDVALIDITY is unchanged and no message
//! changed UID; every acknowledged APPEND is there with its UID, every
//! acknowledged EXPUNGE is gone and in the expunge history of the modseq
//! index, every acknowledged flag is set; only the one operation in
//! flight may have gone either way.
//!
//! The mailbox is past `MBOX_CACHE_MIN` (200 messages of 8 KB), so every
//! session reads its entries from the parse cache (`store/mbox/entries.rs`)
//! and every rewrite writes the cache or its delta: the kills land in the
//! middle of rewrites of the file (its redo journal is counted), of the
//! parse cache, and of the modseq index.
//!
//! The child is this test binary run again with an environment variable
//! naming the role.

use std::path::{Path, PathBuf};

use mailaccess::config::MboxLock;
use mailaccess::store::mbox::{MboxStore, CONTROL_DIR};

mod crash_model;
use crash_model::{append, kill_rounds, spawn, Worker, KILLS};

const ROLE: &str = "MAILACCESS_MBOX_CRASH_ROLE";
const DIR: &str = "MAILACCESS_MBOX_CRASH_DIR";
const SEED: &str = "MAILACCESS_MBOX_CRASH_SEED";
const MESSAGES: usize = 200;

fn store(dir: &Path) -> MboxStore {
    MboxStore::open_store(
        dir.join("mail"),
        dir.join("spool"),
        vec![MboxLock::Dotlock, MboxLock::Fcntl],
    )
    .expect("open store")
}

/// A message of about 8 KB: 200 of them pass `MBOX_CACHE_MIN`.
fn message(seq: usize) -> Vec<u8> {
    let body = format!("line {seq} of a message long enough\n").repeat(200);
    format!("Subject: message {seq}\nX-Seq: {seq}\n\n{body}").into_bytes()
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
    let mut s = store(&dir);
    let seed = seed.parse().expect("seed");
    let mut child = Worker::new(&mut s, &dir, seed, MESSAGES / 2, message);
    while child.step(&role) {}
    panic!("unknown role {role}");
}

fn killed_at_random(role: &str, seed: u64) {
    let t = tempfile::tempdir().expect("tempdir");
    let dir = t.path();
    let mut s = store(dir);
    for seq in 0..MESSAGES {
        append(&mut s, &message(seq));
    }
    let ctl = dir.join("mail").join(CONTROL_DIR).join("INBOX");
    let look = || crash_model::look(&mut store(dir));
    look();
    assert!(
        ctl.join("mailaccess-mbox-index").exists(),
        "no parse cache: the mailbox is too small for this test"
    );
    let (acknowledged, mid_rewrite) = kill_rounds(
        dir,
        role,
        seed,
        |seed| spawn([ROLE, DIR, SEED], role, dir, seed),
        // A rewrite in progress leaves its redo journal (inplace.rs).
        || ctl.join("mailaccess-mbox-rewrite").exists(),
        look,
        &ctl,
    );
    eprintln!(
        "{role}: {KILLS} kills, {acknowledged} acknowledged operations, {mid_rewrite} kills in a rewrite"
    );
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
