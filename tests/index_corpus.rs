//! The index readers on hostile bytes, in `make test` (the fuzz target
//! `fuzz/fuzz_targets/index_files.rs` runs the same function for as long
//! as one likes): the committed seeds `fuzz/seeds/index_files/`, fresh
//! seeds made by the current code (a main file, a log with every kind of
//! record, a text index), and every truncation and single-bit flip of
//! each seed. Nothing may panic; each seed is accepted by its reader and
//! damage to the main file is never accepted.

use std::fs;
use std::path::{Path, PathBuf};

use mailaccess::store::index::{self, read_any, Index, INDEX_FILE, LOG_FILE};
use mailaccess::store::lock::Lock;
use mailaccess::store::maildir::Maildir;
use mailaccess::store::{flag, FlagOp, Flags, NewMessage, Store};

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/index_files")
}

/// A main file and a log holding appends, flag changes with keywords,
/// an expunge, a date and state records, as a real mailbox makes them.
fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let t = tempfile::tempdir().expect("tempdir");
    let root = t.path().join("Maildir");
    let mut s = Maildir::open_store(root.clone()).expect("store");
    for n in 0..4 {
        let data = format!("Subject: {n}\n\nbody {n}\n").into_bytes();
        let mut r = &data[..];
        let mut m = [NewMessage {
            flags: Flags::default(),
            internal_date: Some((1_700_000_000 + n, 120)),
            data: &mut r,
            len: data.len() as u64,
        }];
        s.append("INBOX", &mut m).expect("append");
    }
    let mut mb = s.open("INBOX", false).expect("open");
    mb.store(
        &[0, 2],
        FlagOp::Add,
        &Flags {
            system: flag::SEEN | flag::DELETED,
            keywords: vec!["$Junk".into(), "Work".into()],
        },
    )
    .expect("store");
    mb.expunge(None).expect("expunge");
    drop(mb);
    // A date read after the message was recorded without one (a big
    // first open leaves them all so): a date record.
    {
        let _lock = Lock::exclusive(&root.join(index::LOCK_FILE)).expect("lock");
        let (mut ix, snap) = Index::load(&root).expect("load").expect("index");
        let mut e = ix.get(0);
        e.date = index::DATE_UNKNOWN;
        e.modseq = ix.bump();
        ix.set(0, e);
        let snap = ix.save(&root, snap.as_ref()).expect("save");
        ix.save_dates(&root, Some(&snap), vec![(ix.uid_at(0), 1_700_000_009)])
            .expect("date");
    }
    let log = fs::read(root.join(LOG_FILE)).expect("log");
    // Then fold it all into the main file, as a commit past the log's
    // bound does.
    {
        let _lock = Lock::exclusive(&root.join(index::LOCK_FILE)).expect("lock");
        let (mut ix, _) = Index::load(&root).expect("load").expect("index");
        ix.save(&root, None).expect("fold");
    }
    let main = fs::read(root.join(INDEX_FILE)).expect("main");
    assert!(main.len() > 200, "main file of {} octets", main.len());

    let text = b"mailaccess-index 2\nuidvalidity 7\nuidnext 4\nhighestmodseq 9\nfirstrecent 4\n\
keywords 1\nJunk\nmessages 2\n1 3 120 1700000000 -300 ST 0 1700000000.M1P1.host\n\
3 9 99 1700000001 60 - - 1700000001.M2P1.host\n"
        .to_vec();
    vec![("main", main), ("log", log), ("text-unsummed", text)]
}

#[test]
fn seeds_are_read_and_every_mutation_is_survived() {
    for (name, data) in seeds() {
        let accepted = read_any(&data);
        if name != "text-unsummed" {
            assert_eq!(accepted, 1, "{name} not accepted by its reader");
        }
        for cut in 0..data.len() {
            let _ = read_any(&data[..cut]);
        }
        for at in 0..data.len() {
            for bit in 0..8 {
                let mut d = data.clone();
                d[at] ^= 1 << bit;
                let n = read_any(&d);
                if name == "main" {
                    assert_eq!(
                        n, 0,
                        "main file with bit {bit} of octet {at} flipped accepted"
                    );
                }
            }
        }
    }
}

#[test]
fn committed_corpus_is_survived() {
    let dir = corpus_dir();
    let mut n = 0;
    for e in fs::read_dir(&dir).expect("fuzz/seeds/index_files") {
        let path = e.expect("entry").path();
        let data = fs::read(&path).expect("read");
        let accepted = read_any(&data);
        // Main files of every format still read (format 3 had no expunge
        // history).
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        if name.is_some_and(|n| n.starts_with("seed-main")) {
            assert_eq!(accepted, 1, "{} not read", path.display());
        }
        n += 1;
    }
    assert!(n >= 3, "the corpus in {} has {n} files", dir.display());
}

/// Writes the seeds into the committed corpus (run by hand after a format
/// change: `cargo test --test index_corpus -- --ignored`).
#[test]
#[ignore]
fn write_seeds_into_the_corpus() {
    for (name, data) in seeds() {
        fs::write(corpus_dir().join(format!("seed-{name}")), data).expect("write");
    }
}
