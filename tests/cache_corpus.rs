//! The cache readers on hostile bytes, in `make test` (the fuzz target
//! `fuzz/fuzz_targets/cache_files.rs` runs the same functions for as long
//! as one likes): the committed seeds `fuzz/seeds/cache_files/`, fresh
//! seeds made by the current code (a Maildir session's ENVELOPE and
//! BODYSTRUCTURE cache, an mbox parse cache and the delta a flag change
//! writes beside it), and every truncation and single-bit flip of each.
//! Nothing may panic; each seed is read whole by its reader, and a parse
//! cache or delta cut short or with a flipped bit is never taken for a
//! good one.

use std::fs;
use std::path::{Path, PathBuf};

use mailaccess::config::MboxLock;
use mailaccess::store::mbox::{cache as mbox_cache, MboxStore, CONTROL_DIR};
use mailaccess::store::{cache, flag, FlagOp, Flags, NewMessage, Store};

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/cache_files")
}

fn append(s: &mut dyn Store, n: usize, body: &str) {
    let data = format!("From: a{n}@example.org\nSubject: message {n}\n\n{body}\n").into_bytes();
    let mut r = &data[..];
    let mut m = [NewMessage {
        flags: Flags::default(),
        internal_date: Some((1_700_000_000 + n as i64, 60)),
        data: &mut r,
        len: data.len() as u64,
    }];
    s.append("INBOX", &mut m).expect("append");
}

/// A Maildir cache; an mbox parse cache and its delta.
fn seeds() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let t = tempfile::tempdir().expect("tempdir");
    let root = t.path().join("Maildir");
    let mut s = mailaccess::store::maildir::Maildir::open_store(root.clone()).expect("store");
    for n in 0..3 {
        append(&mut s, n, "short");
    }
    let mut mb = s.open("INBOX", false).expect("open");
    for i in 0..3 {
        mb.cache(i, cache::Kind::Envelope, format!("(env {i})").as_bytes());
        mb.cache(i, cache::Kind::BodyStructure, b"(\"TEXT\" \"PLAIN\")");
    }
    mb.flush_cache();
    let maildir = fs::read(root.join(cache::CACHE_FILE)).expect("cache");

    let mroot = t.path().join("mail");
    let mut m = MboxStore::open_store(
        mroot.clone(),
        t.path().join("inbox"),
        vec![MboxLock::Dotlock, MboxLock::Fcntl],
    )
    .expect("mbox store");
    // Past MBOX_CACHE_MIN, so that the parse is cached.
    let body = "x".repeat(200_000);
    for n in 0..6 {
        append(&mut m, n, &body);
    }
    let mut mb = m.open("INBOX", false).expect("open mbox");
    let seen = Flags {
        system: flag::SEEN,
        keywords: vec!["Work".into()],
    };
    mb.store(&[1], FlagOp::Add, &seen).expect("store");
    drop(mb);
    let ctl = mroot.join(CONTROL_DIR).join("INBOX");
    let parse = fs::read(ctl.join(mbox_cache::CACHE_FILE)).expect("parse cache");
    let delta = fs::read(ctl.join(mbox_cache::DELTA_FILE)).expect("delta");
    (maildir, parse, delta)
}

#[test]
fn seeds_are_read_and_every_mutation_is_survived() {
    let (maildir, parse, delta) = seeds();
    assert_eq!(cache::read_any(&maildir), Some(6));
    // The flag change is in the delta, not yet in the cache.
    assert_eq!(mbox_cache::read_any(&parse, &delta), Some((6, 1)));
    assert_eq!(mbox_cache::read_any(&parse, b""), Some((6, 0)));
    for cut in 0..maildir.len() {
        let _ = cache::read_any(&maildir[..cut]);
    }
    for at in 0..maildir.len() {
        for bit in 0..8 {
            let mut d = maildir.clone();
            d[at] ^= 1 << bit;
            let _ = cache::read_any(&d);
        }
    }
    // The parse cache and its delta are checksummed: damage anywhere is
    // refused (the delta alone: the cache is read without it).
    for (name, data) in [("parse", &parse), ("delta", &delta)] {
        for cut in 0..data.len() {
            let d = &data[..cut];
            let got = if name == "parse" {
                mbox_cache::read_any(d, &delta)
            } else {
                mbox_cache::read_any(&parse, d)
            };
            assert!(name == "delta" || got.is_none(), "{name} cut at {cut} read");
            if name == "delta" {
                assert_ne!(got, Some((6, 1)), "delta cut at {cut} applied");
            }
        }
        // Every seventh octet, and the last ones (the checksum).
        let ats = (0..data.len())
            .step_by(7)
            .chain(data.len().saturating_sub(4)..data.len());
        for at in ats {
            for bit in 0..8 {
                let mut d = data.clone();
                d[at] ^= 1 << bit;
                let got = if name == "parse" {
                    mbox_cache::read_any(&d, &delta)
                } else {
                    mbox_cache::read_any(&parse, &d)
                };
                if name == "parse" {
                    assert!(
                        got.is_none(),
                        "parse cache with bit {bit} of {at} flipped read"
                    );
                } else {
                    // A damaged delta is not applied: the cache alone.
                    assert_ne!(
                        got,
                        Some((6, 1)),
                        "delta with bit {bit} of {at} flipped read"
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
    for e in fs::read_dir(&dir).expect("fuzz/seeds/cache_files") {
        let data = fs::read(e.expect("entry").path()).expect("read");
        let _ = cache::read_any(&data);
        let (c, d) = mailaccess::fuzz::split_pair(&data);
        let _ = mbox_cache::read_any(c, d);
        n += 1;
    }
    assert!(n >= 2, "the corpus in {} has {n} files", dir.display());
}

/// Writes the seeds into the committed corpus (run by hand after a format
/// change: `cargo test --test cache_corpus -- --ignored`).
#[test]
#[ignore]
fn write_seeds_into_the_corpus() {
    let (maildir, parse, delta) = seeds();
    fs::create_dir_all(corpus_dir()).expect("mkdir");
    fs::write(corpus_dir().join("seed-maildir-cache"), maildir).expect("write");
    let both = mailaccess::fuzz::join_pair(&parse, &delta);
    fs::write(corpus_dir().join("seed-mbox-parse-and-delta"), both).expect("write");
}
