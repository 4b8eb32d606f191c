//! The sasldb reader against files written by the real `saslpasswd2`
//! (Debian 12 sasl2-bin, Berkeley DB 5.3), and against those files damaged
//! in every way we can think of.
//!
//! Needs /usr/sbin/saslpasswd2 and /usr/sbin/sasldblistusers2 (package
//! sasl2-bin; `scripts/test-deps.sh` installs it). Without them the tests
//! fail, they are not skipped: a reader tested only against itself proves
//! little. `-f FILE` is always given, so /etc/sasldb2 is never touched.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mailaccess::auth::sasldb::{Sasldb, SasldbError, USER_PASSWORD};

const SASLPASSWD2: &str = "/usr/sbin/saslpasswd2";
const SASLDBLISTUSERS2: &str = "/usr/sbin/sasldblistusers2";

fn require_tools() {
    for tool in [SASLPASSWD2, SASLDBLISTUSERS2] {
        assert!(
            Path::new(tool).exists(),
            "{tool} is missing: install sasl2-bin (scripts/test-deps.sh does)"
        );
    }
}

/// A temp dir holding one sasldb file.
struct Db {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Db {
    fn new() -> Db {
        require_tools();
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("sasldb2");
        Db { _dir: dir, path }
    }

    fn run(&self, args: &[&str], password: Option<&[u8]>) {
        let mut child = Command::new(SASLPASSWD2)
            .args(args)
            .arg("-f")
            .arg(&self.path)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run saslpasswd2");
        let mut stdin = child.stdin.take().expect("stdin");
        if let Some(pw) = password {
            stdin.write_all(pw).expect("write password");
        }
        drop(stdin);
        let out = child.wait_with_output().expect("saslpasswd2");
        assert!(
            out.status.success(),
            "saslpasswd2 {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `saslpasswd2 -c -p`: creates the user or sets a new password.
    fn set(&self, realm: &str, user: &str, password: &[u8]) {
        self.run(&["-c", "-p", "-u", realm, user], Some(password));
    }

    /// `saslpasswd2 -p` without -c: changes an existing user's password.
    fn change(&self, realm: &str, user: &str, password: &[u8]) {
        self.run(&["-p", "-u", realm, user], Some(password));
    }

    fn delete(&self, realm: &str, user: &str) {
        self.run(&["-d", "-u", realm, user], None);
    }

    fn open(&self) -> Sasldb {
        Sasldb::open(&self.path).expect("open sasldb")
    }

    fn password(&self, user: &str, realm: &str) -> Option<Vec<u8>> {
        self.open()
            .lookup(user, realm, USER_PASSWORD)
            .expect("lookup")
            .map(|s| s.as_bytes().to_vec())
    }

    /// `sasldblistusers2 -f`: `user@realm: property` lines.
    fn listed(&self) -> BTreeSet<(String, String)> {
        let out = Command::new(SASLDBLISTUSERS2)
            .arg("-f")
            .arg(&self.path)
            .output()
            .expect("run sasldblistusers2");
        assert!(out.status.success());
        String::from_utf8(out.stdout)
            .expect("utf-8 listing")
            .lines()
            .map(|line| {
                let (name, _prop) = line.rsplit_once(": ").expect("user: prop");
                let (user, realm) = name.rsplit_once('@').expect("user@realm");
                (user.to_string(), realm.to_string())
            })
            .collect()
    }

    fn users(&self) -> BTreeSet<(String, String)> {
        self.open().users().expect("users").into_iter().collect()
    }

    fn bytes(&self) -> Vec<u8> {
        std::fs::read(&self.path).expect("read sasldb")
    }
}

fn pair(user: &str, realm: &str) -> (String, String) {
    (user.to_string(), realm.to_string())
}

#[test]
fn one_user() {
    let db = Db::new();
    db.set("example.org", "alice", b"secret1");
    assert_eq!(db.password("alice", "example.org").unwrap(), b"secret1");
    assert_eq!(db.password("alice", "example.com"), None);
    assert_eq!(db.password("alic", "example.org"), None);
    assert_eq!(db.password("Alice", "example.org"), None);
    let s = db
        .open()
        .lookup("alice", "example.org", USER_PASSWORD)
        .unwrap()
        .unwrap();
    assert_eq!(format!("{s:?}"), "Secret(..)");
    assert!(s.ct_eq(b"secret1"));
    assert_eq!(db.users(), BTreeSet::from([pair("alice", "example.org")]));
    assert_eq!(db.users(), db.listed());
}

#[test]
fn trailing_newline_is_not_part_of_the_password() {
    let db = Db::new();
    db.set("r", "nl", b"abc\n");
    assert_eq!(db.password("nl", "r").unwrap(), b"abc");
}

/// Enough users to split buckets many times and fill many pages: checks
/// the hash function, the linear-hashing masks and the spares mapping on
/// a real file (`users` also checks every key is in its hash's bucket).
#[test]
fn many_users() {
    let db = Db::new();
    let n = 600;
    for i in 0..n {
        db.set(
            "example.org",
            &format!("user{i}"),
            format!("pw-{i}-{}", "x".repeat(i % 60)).as_bytes(),
        );
    }
    let sasldb = db.open();
    // Several doublings (spares[0..4] in use) and a bucket past the
    // highest, folded by the low mask: the Debug output is the only
    // window on the geometry.
    let geometry = format!("{sasldb:?}");
    let max_bucket: u32 = geometry
        .split("max_bucket: ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .and_then(|s| s.parse().ok())
        .expect("max_bucket in Debug");
    assert!(max_bucket >= 8, "{geometry}");
    assert!(!(max_bucket + 1).is_power_of_two(), "{geometry}");
    let sasldb = db.open();
    for i in 0..n {
        let pw = sasldb
            .lookup(&format!("user{i}"), "example.org", USER_PASSWORD)
            .unwrap()
            .unwrap_or_else(|| panic!("user{i} not found"));
        assert_eq!(
            pw.as_bytes(),
            format!("pw-{i}-{}", "x".repeat(i % 60)).as_bytes()
        );
    }
    assert_eq!(
        sasldb
            .lookup(&format!("user{n}"), "example.org", USER_PASSWORD)
            .unwrap(),
        None
    );
    let users = db.users();
    assert_eq!(users.len(), n);
    assert_eq!(users, db.listed());
}

#[test]
fn long_password_and_long_user_use_overflow_pages() {
    let db = Db::new();
    // saslpasswd2 keeps at most 2048 bytes of a piped password; 2000 is
    // past a quarter page, so BDB moves it to an overflow page.
    let long: Vec<u8> = (0..2000).map(|i| b'a' + (i % 26) as u8).collect();
    db.set("r", "long", &long);
    // A 5000-byte name makes a key that needs a chain of two pages.
    let user = "u".repeat(5000);
    db.set("r", &user, b"pw");
    db.set("r", "short", b"s");
    assert_eq!(db.password("long", "r").unwrap(), long);
    assert_eq!(db.password(&user, "r").unwrap(), b"pw");
    assert_eq!(db.password(&user[1..], "r"), None);
    assert_eq!(db.password("short", "r").unwrap(), b"s");
    assert_eq!(db.users(), db.listed());
    assert!(db.users().contains(&pair(&user, "r")));
}

#[test]
fn changed_password_is_seen() {
    let db = Db::new();
    db.set("r", "alice", b"old");
    db.set("r", "bob", b"bob");
    assert_eq!(db.password("alice", "r").unwrap(), b"old");
    db.change("r", "alice", b"new");
    assert_eq!(db.password("alice", "r").unwrap(), b"new");
    // From short to overflow and back.
    db.change("r", "alice", &[b'L'; 1500]);
    assert_eq!(db.password("alice", "r").unwrap(), [b'L'; 1500]);
    db.set("r", "alice", b"short again");
    assert_eq!(db.password("alice", "r").unwrap(), b"short again");
    assert_eq!(db.password("bob", "r").unwrap(), b"bob");
}

#[test]
fn deleted_user_is_gone_others_remain() {
    let db = Db::new();
    for i in 0..50 {
        db.set("r", &format!("u{i}"), format!("p{i}").as_bytes());
    }
    db.delete("r", "u7");
    db.delete("r", "u31");
    assert_eq!(db.password("u7", "r"), None);
    assert_eq!(db.password("u31", "r"), None);
    for i in (0..50).filter(|i| ![7, 31].contains(i)) {
        assert_eq!(
            db.password(&format!("u{i}"), "r").unwrap(),
            format!("p{i}").as_bytes()
        );
    }
    assert_eq!(db.users().len(), 48);
    assert_eq!(db.users(), db.listed());
    // Deleting everyone leaves an empty, still valid, database.
    for i in (0..50).filter(|i| ![7, 31].contains(i)) {
        db.delete("r", &format!("u{i}"));
    }
    assert!(db.users().is_empty());
    assert_eq!(db.password("u1", "r"), None);
}

#[test]
fn two_realms() {
    let db = Db::new();
    db.set("one.example", "alice", b"pw-one");
    db.set("two.example", "alice", b"pw-two");
    db.set("two.example", "bob", b"pw-bob");
    assert_eq!(db.password("alice", "one.example").unwrap(), b"pw-one");
    assert_eq!(db.password("alice", "two.example").unwrap(), b"pw-two");
    assert_eq!(db.password("bob", "two.example").unwrap(), b"pw-bob");
    assert_eq!(db.password("bob", "one.example"), None);
    assert_eq!(
        db.users(),
        BTreeSet::from([
            pair("alice", "one.example"),
            pair("alice", "two.example"),
            pair("bob", "two.example")
        ])
    );
}

#[test]
fn non_ascii_password_and_user() {
    let db = Db::new();
    let pw = "p\u{e4}ssw\u{f6}rd \u{20ac} \u{1f511}";
    db.set("example.org", "j\u{fc}rgen", pw.as_bytes());
    // Not UTF-8 at all: the password is bytes.
    db.set("example.org", "latin1", b"gr\xfcn\xff");
    assert_eq!(
        db.password("j\u{fc}rgen", "example.org").unwrap(),
        pw.as_bytes()
    );
    assert_eq!(
        db.password("latin1", "example.org").unwrap(),
        b"gr\xfcn\xff"
    );
    assert_eq!(db.password("jurgen", "example.org"), None);
}

#[test]
fn missing_and_foreign_files() {
    let db = Db::new();
    assert!(matches!(Sasldb::open(&db.path), Err(SasldbError::Io(_))));
    std::fs::write(&db.path, b"").unwrap();
    assert!(Sasldb::open(&db.path).unwrap_err().is_corrupt());
    std::fs::write(&db.path, b"alice:secret1\n").unwrap();
    assert!(matches!(Sasldb::open(&db.path), Err(SasldbError::NotHash)));
    std::fs::write(&db.path, std::fs::read("/bin/sh").unwrap()).unwrap();
    assert!(Sasldb::open(&db.path).is_err());
    assert!(Sasldb::open(db.path.parent().unwrap()).is_err());
    // A FIFO in its place: refused at once, not waited on.
    std::fs::remove_file(&db.path).unwrap();
    assert!(Command::new("mkfifo")
        .arg(&db.path)
        .status()
        .unwrap()
        .success());
    assert!(matches!(Sasldb::open(&db.path), Err(SasldbError::Io(_))));
}

/// A small xorshift generator: reproducible "random" damage.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Opens, looks up and lists; any outcome but a panic (or a hang) is fine.
fn exercise(bytes: Vec<u8>, names: &[(String, String)]) -> bool {
    match Sasldb::from_bytes(bytes) {
        Ok(db) => {
            for (user, realm) in names {
                let _ = db.lookup(user, realm, USER_PASSWORD);
            }
            let _ = db.users();
            true
        }
        Err(_) => false,
    }
}

fn hostile_sample() -> (Db, Vec<(String, String)>) {
    let db = Db::new();
    let mut names = Vec::new();
    for i in 0..120 {
        let user = format!("user{i}");
        db.set("example.org", &user, format!("password-{i}").as_bytes());
        names.push(pair(&user, "example.org"));
    }
    db.set("example.org", "long", &[b'L'; 2000]);
    let user = "u".repeat(5000);
    db.set("example.org", &user, b"pw");
    names.push(pair("long", "example.org"));
    names.push(pair(&user, "example.org"));
    names.push(pair("nobody", "example.org"));
    (db, names)
}

#[test]
fn truncated_files_never_panic() {
    let (db, names) = hostile_sample();
    let file = db.bytes();
    let page = 4096;
    assert_eq!(file.len() % page, 0);
    for len in (0..file.len()).step_by(page) {
        // Shorter than the meta page says: always refused.
        assert!(
            Sasldb::from_bytes(file[..len].to_vec()).is_err(),
            "cut at {len}"
        );
    }
    let mut rng = Rng(0x5a5d_b2b2_0001);
    for _ in 0..300 {
        let len = rng.below(file.len());
        assert!(
            Sasldb::from_bytes(file[..len].to_vec()).is_err(),
            "cut at {len}"
        );
        exercise(file[..len].to_vec(), &names);
    }
    assert!(exercise(file, &names));
}

#[test]
fn damaged_files_never_panic() {
    let (db, names) = hostile_sample();
    let file = db.bytes();
    let mut rng = Rng(0x5a5d_b2b2_0002);
    let mut opened = 0;
    for round in 0..3000 {
        let mut v = file.clone();
        let flips = 1 + rng.below(8);
        for _ in 0..flips {
            let at = if round % 2 == 0 {
                // Half the damage in the headers and item offsets, where
                // it matters most.
                let page = rng.below(v.len() / 4096);
                page * 4096 + rng.below(128)
            } else {
                rng.below(v.len())
            };
            v[at] = match rng.below(4) {
                0 => v[at] ^ (1 << rng.below(8)),
                1 => 0,
                2 => 0xff,
                _ => rng.next() as u8,
            };
        }
        if exercise(v, &names[names.len() - 4..]) {
            opened += 1;
        }
    }
    // Most damage is past the meta page, so most files still open.
    assert!(opened > 1000, "only {opened} opened");
}

/// A file caught half-written is re-read until it is whole again.
#[test]
fn lookup_retry_waits_out_a_rewrite() {
    let db = Db::new();
    db.set("r", "alice", b"secret");
    let whole = db.bytes();
    std::fs::write(&db.path, &whole[..whole.len() - 100]).unwrap();
    let path = db.path.clone();
    let fixer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(30));
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, &whole).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
    });
    let pw = Sasldb::lookup_retry(&db.path, "alice", "r", USER_PASSWORD).unwrap();
    fixer.join().unwrap();
    assert_eq!(pw.unwrap().as_bytes(), b"secret");

    // "No such user" is confirmed by a second read a moment later.
    let start = Instant::now();
    assert!(Sasldb::lookup_retry(&db.path, "bob", "r", USER_PASSWORD)
        .unwrap()
        .is_none());
    assert!(start.elapsed() >= Duration::from_millis(20));

    // Damage that stays: refused after a bounded wait.
    let whole = db.bytes();
    std::fs::write(&db.path, &whole[..whole.len() - 100]).unwrap();
    let start = Instant::now();
    let err = Sasldb::lookup_retry(&db.path, "alice", "r", USER_PASSWORD).unwrap_err();
    assert!(err.is_corrupt(), "{err}");
    assert!(start.elapsed() < Duration::from_secs(5));
}

/// Lookups of a user nobody touches while saslpasswd2 keeps adding and
/// changing others in place. Never a wrong password; misses are counted.
#[test]
fn lookups_during_updates() {
    let db = Arc::new(Db::new());
    db.set("r", "stable", b"stable-pw");
    let done = Arc::new(AtomicBool::new(false));
    let writer = {
        let (db, done) = (Arc::clone(&db), Arc::clone(&done));
        std::thread::spawn(move || {
            for i in 0..150 {
                db.set(
                    "r",
                    &format!("other{i}"),
                    format!("pw{i}").repeat(1 + i % 30).as_bytes(),
                );
            }
            done.store(true, Ordering::SeqCst);
        })
    };
    let (mut found, mut missed, mut failed) = (0, 0, 0);
    while !done.load(Ordering::SeqCst) {
        match Sasldb::lookup_retry(&db.path, "stable", "r", USER_PASSWORD) {
            Ok(Some(pw)) => {
                assert_eq!(pw.as_bytes(), b"stable-pw");
                found += 1;
            }
            Ok(None) => missed += 1,
            Err(e) => {
                eprintln!("lookup during update: {e}");
                failed += 1;
            }
        }
    }
    writer.join().unwrap();
    eprintln!("during updates: {found} found, {missed} missed, {failed} failed");
    assert!(found > 0);
    assert_eq!(db.password("stable", "r").unwrap(), b"stable-pw");
}

// Files saslpasswd2 cannot make: written by the DB 5.3 library itself with
// `db5.3_load` (package db5.3-util, installed by scripts/test-deps.sh):
// the other byte order, small pages, checksums, encryption, duplicates.

const DB_LOAD: &str = "/usr/bin/db5.3_load";

/// `db5.3_load -T` input: key and data lines, bytes outside printable
/// ASCII (and the backslash) as `\xx` hex.
fn db_load_text(pairs: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, v) in pairs {
        for item in [k, v] {
            for &b in item {
                if b.is_ascii_graphic() && b != b'\\' || b == b' ' {
                    out.push(b);
                } else {
                    out.extend_from_slice(format!("\\{b:02x}").as_bytes());
                }
            }
            out.push(b'\n');
        }
    }
    out
}

/// A hash database made by libdb from `pairs`, with `db_load -c` settings.
fn db_load(db: &Db, config: &[&str], password: Option<&str>, pairs: &[(Vec<u8>, Vec<u8>)]) {
    assert!(
        Path::new(DB_LOAD).exists(),
        "{DB_LOAD} is missing: install db5.3-util (scripts/test-deps.sh does)"
    );
    let mut cmd = Command::new(DB_LOAD);
    cmd.args(["-T", "-t", "hash"]);
    for c in config {
        cmd.args(["-c", c]);
    }
    if let Some(pw) = password {
        cmd.args(["-P", pw]);
    }
    let mut child = cmd
        .arg(&db.path)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run db5.3_load");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(&db_load_text(pairs))
        .expect("write db_load input");
    drop(stdin);
    let out = child.wait_with_output().expect("db5.3_load");
    assert!(
        out.status.success(),
        "db5.3_load {config:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn record(user: &str, realm: &str, password: &[u8]) -> (Vec<u8>, Vec<u8>) {
    (
        format!("{user}\0{realm}\0{USER_PASSWORD}").into_bytes(),
        password.to_vec(),
    )
}

/// Users with short, long (multi-page overflow) and binary passwords and
/// a few very long names.
fn records() -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut pairs = Vec::new();
    for i in 0..400 {
        let pw: Vec<u8> = match i % 50 {
            0 => (0..3000).map(|j| (j * 7 + i) as u8).collect(),
            1 => vec![0, 1, 2, 255, b'\\', b'\n'],
            _ => format!("pw{i}").into_bytes(),
        };
        let user = if i % 97 == 0 {
            format!("{i}-{}", "n".repeat(1500))
        } else {
            format!("user{i}")
        };
        pairs.push(record(&user, "example.org", &pw));
    }
    pairs
}

fn check_all(db: &Db, pairs: &[(Vec<u8>, Vec<u8>)]) {
    let sasldb = db.open();
    for (k, v) in pairs {
        let key = String::from_utf8(k.clone()).unwrap();
        let mut parts = key.split('\0');
        let (user, realm) = (parts.next().unwrap(), parts.next().unwrap());
        let pw = sasldb
            .lookup(user, realm, USER_PASSWORD)
            .unwrap()
            .unwrap_or_else(|| panic!("{user} not found in {sasldb:?}"));
        assert_eq!(pw.as_bytes(), v.as_slice(), "{user}");
    }
    assert_eq!(db.users().len(), pairs.len());
    assert_eq!(db.users(), db.listed());
}

#[test]
fn big_endian_file_from_libdb() {
    let db = Db::new();
    let pairs = records();
    db_load(&db, &["db_lorder=4321"], None, &pairs);
    assert_eq!(&db.bytes()[12..16], &[0, 6, 0x15, 0x61]);
    check_all(&db, &pairs);
    assert_eq!(db.password("user400", "example.org"), None);
}

#[test]
fn small_and_large_pages_from_libdb() {
    let pairs = records();
    for (size, order) in [("512", "1234"), ("512", "4321"), ("65536", "1234")] {
        let db = Db::new();
        let page_size = format!("db_pagesize={size}");
        let lorder = format!("db_lorder={order}");
        db_load(&db, &[&page_size, &lorder], None, &pairs);
        check_all(&db, &pairs);
    }
}

/// With `h_ffactor` and `h_nelem` set, libdb creates all buckets at once
/// but writes only the last page: the others stay zeros, which libdb (and
/// we) read as empty pages.
#[test]
fn preallocated_buckets_from_libdb() {
    let db = Db::new();
    let pairs: Vec<_> = records().into_iter().take(40).collect();
    db_load(&db, &["h_ffactor=8", "h_nelem=2000"], None, &pairs);
    let file = db.bytes();
    let zero_pages = file
        .chunks(4096)
        .filter(|p| p.iter().all(|&b| b == 0))
        .count();
    assert!(zero_pages > 100, "{zero_pages} zero pages");
    check_all(&db, &pairs);
}

#[test]
fn refuses_checksums_encryption_duplicates_subdatabases() {
    let pairs = vec![record("alice", "r", b"pw")];
    let unsupported = |db: &Db| match Sasldb::open(&db.path) {
        Err(SasldbError::Unsupported(what)) => what,
        other => panic!("expected Unsupported, got {other:?}"),
    };
    let db = Db::new();
    db_load(&db, &["chksum=1"], None, &pairs);
    assert!(unsupported(&db).contains("checksum"));
    let db = Db::new();
    db_load(&db, &[], Some("a passphrase"), &pairs);
    assert!(unsupported(&db).contains("encrypted"));
    let db = Db::new();
    db_load(&db, &["duplicates=1"], None, &pairs);
    assert!(unsupported(&db).contains("duplicate"));
    let db = Db::new();
    db_load(&db, &["database=users"], None, &pairs);
    assert!(unsupported(&db).contains("Btree"));
}
