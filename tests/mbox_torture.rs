//! mbox under fire: an MTA-like delivery process appending with dotlock +
//! fcntl (written here independently of our lock code, as procmail and
//! Postfix's local do it) while our store changes flags and expunges from
//! other processes; and rewrites killed with SIGKILL at random moments.
//! At the end every delivered, non-deleted message is there exactly once
//! and the file parses.
//!
//! The child roles are this test binary run again with an environment
//! variable naming the role.

use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use mailaccess::config::MboxLock;
use mailaccess::store::mbox::MboxStore;
use mailaccess::store::{flag, FlagOp, Flags, Mailbox, Store, StoreError};

const ROLE: &str = "MAILACCESS_MBOX_TORTURE_ROLE";
const DIR: &str = "MAILACCESS_MBOX_TORTURE_DIR";
const LOCKS: [MboxLock; 2] = [MboxLock::Dotlock, MboxLock::Fcntl];

/// Delivers like procmail: `PATH.lock` by O_EXCL (breaking none: our
/// sessions hold it for milliseconds), then open, fcntl lock, append the
/// message and the blank line that ends it (as procmail and Postfix do).
fn mta_deliver(spool: &Path, n: usize) {
    mta_deliver_padded(spool, n, 0);
}

/// `mta_deliver` with `pad` more body lines.
fn mta_deliver_padded(spool: &Path, n: usize, pad: usize) {
    let lock = PathBuf::from(format!("{}.lock", spool.display()));
    loop {
        match OpenOptions::new().write(true).create_new(true).open(&lock) {
            Ok(_) => break,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => panic!("dotlock: {e}"),
        }
    }
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(spool)
        .expect("open spool");
    rustix::fs::fcntl_lock(&f, rustix::fs::FlockOperation::LockExclusive).expect("fcntl");
    f.seek(SeekFrom::End(0)).expect("seek");
    // A body line that looks like a separator except for the blank line,
    // and one quoted by the MTA.
    write!(
        f,
        "From mta@example.org Sat Nov 21 06:13:17 2026\nSubject: n{n}\nX-Seq: {n}\n\n{}\n",
        body(n, pad)
    )
    .expect("append");
    f.sync_all().expect("fsync");
    drop(f);
    fs::remove_file(&lock).expect("unlock");
}

/// The body of message `n`.
fn body(n: usize, pad: usize) -> String {
    let mut b = format!("body {n}\nFrom someone Sat Nov 21 06:13:17 2026\n\n>From quoted\n");
    for i in 0..pad {
        b.push_str(&format!(
            "padding line {i} of message {n}, to make rewrites take a while\n"
        ));
    }
    b
}

/// The X-Seq numbers of all messages, through the store; each message's
/// bytes are checked against what was delivered.
fn seqs(mb: &mut Box<dyn Mailbox>) -> Vec<usize> {
    let mut out = Vec::new();
    for i in 0..mb.count() {
        let mut s = String::new();
        match mb.open_message(i) {
            Ok(mut r) => {
                r.read_to_string(&mut s).expect("read");
            }
            Err(StoreError::Expunged) => continue,
            Err(e) => panic!("open_message: {e}"),
        }
        let n: usize = s
            .lines()
            .find_map(|l| l.strip_prefix("X-Seq: "))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no X-Seq in {s:?}"));
        assert!(!s.contains("X-UID"), "status header served: {s}");
        let b = &s[s.find("\n\n").expect("body") + 2..];
        assert!(
            b == body(n, 0) || b == body(n, CRASH_PAD),
            "message {n} changed: {s:?}"
        );
        out.push(n);
    }
    out
}

fn open_store(dir: &Path) -> MboxStore {
    MboxStore::open_store(dir.join("mail"), dir.join("spool"), LOCKS.to_vec()).expect("store")
}

/// A child process that is killed and reaped when the test lets go of it,
/// also when the test fails: none is left running.
struct Kid(Child);

impl std::ops::Deref for Kid {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Kid {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Kid {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn child(role: &str, dir: &Path) -> Kid {
    Kid(Command::new(std::env::current_exe().expect("exe"))
        .args(["--exact", "child_role", "--nocapture", "--test-threads=1"])
        .env(ROLE, role)
        .env(DIR, dir)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn child"))
}

const DELIVERIES: usize = 300;

/// Body lines of each message in the crash test: 200 messages of ~20 KiB,
/// so that a rewrite takes long enough to be killed in the middle.
const CRASH_PAD: usize = 300;

/// Not a test of its own: the entry point of the child processes.
#[test]
fn child_role() {
    let (Ok(role), Ok(dir)) = (std::env::var(ROLE), std::env::var(DIR)) else {
        return;
    };
    let dir = PathBuf::from(dir);
    match role.as_str() {
        "deliver" => {
            for n in 0..DELIVERIES {
                mta_deliver(&dir.join("spool"), n);
                if n % 7 == 0 {
                    std::thread::sleep(Duration::from_millis(3));
                }
            }
        }
        "flagger" => {
            // Another session toggling \Flagged until told to stop.
            let mut s = open_store(&dir);
            let mut mb = s.open("INBOX", false).expect("open");
            while !dir.join("stop").exists() {
                match mb.sync(true) {
                    Ok(_) => {}
                    Err(StoreError::InUse) => continue,
                    Err(e) => panic!("flagger sync: {e}"),
                }
                let all: Vec<usize> = (0..mb.count()).collect();
                match mb.store(&all, FlagOp::Add, &flag_set(flag::FLAGGED)) {
                    Ok(_) | Err(StoreError::InUse) => {}
                    Err(e) => panic!("flagger store: {e}"),
                }
                let _ = mb.store(&all, FlagOp::Remove, &flag_set(flag::FLAGGED));
            }
        }
        "rewriter" => {
            // Killed at a random moment by the parent.
            let mut s = open_store(&dir);
            let mut mb = s.open("INBOX", false).expect("open");
            let mut k = 0;
            loop {
                k += 1;
                let all: Vec<usize> = (0..mb.count()).collect();
                let op = if k % 2 == 0 {
                    FlagOp::Add
                } else {
                    FlagOp::Remove
                };
                let _ = mb.store(&all, op, &flag_set(flag::SEEN | flag::ANSWERED));
                // Expunge the ones marked deletable (X-Seq divisible by 5).
                let _ = mb.expunge(None);
                let _ = mb.sync(true);
            }
        }
        other => panic!("unknown role {other}"),
    }
    std::process::exit(0);
}

fn flag_set(bits: u8) -> Flags {
    Flags {
        system: bits,
        keywords: Vec::new(),
    }
}

#[test]
fn deliveries_flag_changes_and_expunges_lose_nothing() {
    let t = tempfile::tempdir().expect("tempdir");
    let dir = t.path();
    let mut deliver = child("deliver", dir);
    let mut flagger = child("flagger", dir);
    let mut s = open_store(dir);
    let mut mb = s.open("INBOX", false).expect("open");
    let mut deleted = Vec::new();
    let start = Instant::now();
    let mut delivering = true;
    while delivering || start.elapsed() < Duration::from_secs(1) {
        if delivering {
            if let Some(st) = deliver.try_wait().expect("wait") {
                assert!(st.success());
                delivering = false;
            }
        }
        match mb.sync(true) {
            Ok(_) | Err(StoreError::InUse) => {}
            Err(e) => panic!("sync: {e}"),
        }
        let now = seqs(&mut mb);
        // Delete every third message we see, then expunge.
        let mut idx = Vec::new();
        for (i, n) in now.iter().enumerate() {
            if n % 3 == 0 && !mb.message(i).flags.has(flag::DELETED) {
                idx.push(i);
            }
        }
        match mb.store(&idx, FlagOp::Add, &flag_set(flag::DELETED)) {
            Ok(changed) => {
                for i in changed {
                    deleted.push(now[i]);
                }
            }
            Err(StoreError::InUse) => continue,
            Err(e) => panic!("store: {e}"),
        }
        match mb.expunge(None) {
            Ok(_) | Err(StoreError::InUse) => {}
            Err(e) => panic!("expunge: {e}"),
        }
    }
    assert!(deliver.wait().expect("deliver").success());
    fs::write(dir.join("stop"), "").expect("stop");
    assert!(flagger.wait().expect("flagger").success());
    mb.sync(true).expect("sync");
    mb.expunge(None).expect("final expunge");
    let fresh = s.open("INBOX", true).expect("reopen");
    let mut fresh = fresh;
    let got = seqs(&mut fresh);
    let mut count: HashMap<usize, usize> = HashMap::new();
    for n in &got {
        *count.entry(*n).or_default() += 1;
    }
    for n in 0..DELIVERIES {
        let want = usize::from(n % 3 != 0);
        assert_eq!(
            count.get(&n).copied().unwrap_or(0),
            want,
            "message {n}: {got:?}"
        );
    }
    assert!(deleted.iter().all(|n| n % 3 == 0));
    assert!(!deleted.is_empty());
    // UIDs ascending and unique.
    let uids: Vec<_> = fresh.collect_messages().iter().map(|m| m.uid).collect();
    assert!(uids.windows(2).all(|w| w[0] < w[1]), "{uids:?}");
}

#[test]
fn rewrites_killed_at_random_moments_lose_nothing() {
    let t = tempfile::tempdir().expect("tempdir");
    let dir = t.path();
    let n = 200;
    for i in 0..n {
        mta_deliver_padded(&dir.join("spool"), i, CRASH_PAD);
    }
    // Mark the deletable ones (X-Seq divisible by 5) \Deleted up front.
    {
        let mut s = open_store(dir);
        let mut mb = s.open("INBOX", false).expect("open");
        let now = seqs(&mut mb);
        let idx: Vec<usize> = (0..now.len()).filter(|&i| now[i] % 5 == 0).collect();
        mb.store(&idx, FlagOp::Add, &flag_set(flag::DELETED))
            .expect("store");
    }
    let mut rng: u64 = 0x2545_f491_4f6c_dd1d;
    let mut mid_write = 0;
    for round in 0..25 {
        let mut c = child("rewriter", dir);
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        std::thread::sleep(Duration::from_millis(5 + rng % 60));
        c.kill().expect("kill");
        c.wait().expect("wait");
        // A rewrite in progress leaves its redo journal (store/mbox/inplace.rs).
        if dir
            .join("mail/.imap/INBOX/mailaccess-mbox-rewrite")
            .exists()
        {
            mid_write += 1;
        }
        // The file parses and every non-deletable message is there once.
        let mut s = open_store(dir);
        let mut mb = s
            .open("INBOX", true)
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        let got = seqs(&mut mb);
        let mut count: HashMap<usize, usize> = HashMap::new();
        for x in &got {
            *count.entry(*x).or_default() += 1;
        }
        for i in 0..n {
            let c = count.get(&i).copied().unwrap_or(0);
            if i % 5 == 0 {
                assert!(c <= 1, "round {round}: message {i} twice");
            } else {
                assert_eq!(c, 1, "round {round}: message {i} lost or doubled");
            }
        }
    }
    eprintln!("{mid_write} of 25 kills hit a rewrite in progress");
    assert!(
        mid_write > 0,
        "no kill hit a rewrite: the test proved nothing"
    );
    // No temporary files pile up beside the spool (each rewrite cleans
    // what a killed one left).
    let mut s = open_store(dir);
    let mut mb = s.open("INBOX", false).expect("open");
    mb.store(&[0], FlagOp::Add, &flag_set(flag::FLAGGED))
        .expect("store");
    let left: Vec<_> = fs::read_dir(dir)
        .expect("dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|f| f.contains("mailaccess-") || f.ends_with(".lock"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
