//! Store-level tests: `C:`-style operations through the traits, checked
//! against the file's bytes.

use std::fs;
use std::io::{Read, Write};
use std::path::Path;

use super::*;
use crate::store::{FlagOp, Flags};

const LOCKS: [MboxLock; 2] = [MboxLock::Dotlock, MboxLock::Fcntl];

fn store() -> (tempfile::TempDir, MboxStore) {
    let t = tempfile::tempdir().expect("tempdir");
    let s = MboxStore::open_store(
        t.path().join("mail"),
        t.path().join("inbox"),
        LOCKS.to_vec(),
    )
    .expect("store");
    (t, s)
}

fn flags(system: u8, kw: &[&str]) -> Flags {
    let mut f = Flags {
        system,
        keywords: Vec::new(),
    };
    for k in kw {
        f.insert_keyword(k);
    }
    f
}

fn append(s: &mut MboxStore, name: &str, body: &str, f: Flags) -> Appended {
    let mut data = body.as_bytes();
    let len = data.len() as u64;
    s.append(
        name,
        &mut [NewMessage {
            flags: f,
            internal_date: Some((1_700_000_000, 0)),
            data: &mut data,
            len,
        }],
    )
    .expect("append")
}

fn fetch(mb: &mut Box<dyn Mailbox>, i: usize) -> String {
    let mut s = String::new();
    mb.open_message(i)
        .expect("open")
        .read_to_string(&mut s)
        .expect("read");
    s
}

/// What an MTA does: dotlock + fcntl, append a From line, the message and
/// a blank line.
fn deliver(path: &Path, body: &str) {
    let g = MboxGuard::lock(path, &LOCKS, true, std::time::Duration::from_secs(5)).expect("lock");
    let mut f = g.file();
    use std::io::{Seek, SeekFrom};
    f.seek(SeekFrom::End(0)).expect("seek");
    // The message, then the blank line that ends it, as Postfix writes.
    write!(f, "From mta@example.org Sat Nov 21 06:13:17 2026\n{body}\n").expect("write");
}

use crate::store::lock::MboxGuard;

#[test]
fn append_fetch_and_reopen_keep_uids_flags_and_hide_status_headers() {
    let (t, mut s) = store();
    let a = append(
        &mut s,
        "INBOX",
        "Subject: one\r\n\r\nFrom me\r\nbody\r\n",
        flags(flag::SEEN, &["$Work"]),
    );
    let b = append(
        &mut s,
        "INBOX",
        "Subject: two\r\n\r\nx\r\n",
        Flags::default(),
    );
    assert_eq!((a.uids.clone(), b.uids.clone()), (vec![1], vec![2]));
    assert_eq!(a.uid_validity, b.uid_validity);
    let raw = fs::read_to_string(t.path().join("inbox")).expect("read");
    assert!(raw.starts_with("From MAILER-DAEMON "), "{raw}");
    assert!(raw.contains("X-IMAPbase: "), "{raw}");
    assert!(raw.contains("X-UID: 2\n"), "{raw}");
    assert!(raw.contains("\n>From me\n"), "{raw}");
    let mut mb = s.open("INBOX", false).expect("open");
    assert_eq!(mb.uid_validity(), a.uid_validity);
    assert_eq!(mb.count(), 2);
    assert_eq!(mb.message(0).flags, flags(flag::SEEN, &["$Work"]));
    let m1 = fetch(&mut mb, 0);
    assert_eq!(m1, "Subject: one\n\n>From me\nbody\n");
    assert_eq!(
        mb.message(0).size,
        crate::mime::crlf::crlf_size(m1.as_bytes()).octets
    );
    assert_eq!(fetch(&mut mb, 1), "Subject: two\n\nx\n");
    assert_eq!(mb.uid_next(), 3);
    // SELECT took \Recent; a second session does not get it.
    assert!(mb.collect_messages().iter().all(|m| m.recent));
    let mb2 = s.open("INBOX", false).expect("open");
    assert!(mb2.collect_messages().iter().all(|m| !m.recent));
    assert_eq!(
        mb2.collect_messages()
            .iter()
            .map(|m| m.uid)
            .collect::<Vec<_>>(),
        vec![1, 2]
    );
}

#[test]
fn store_writes_status_headers_seen_by_other_sessions() {
    let (t, mut s) = store();
    append(&mut s, "INBOX", "Subject: a\n\nA\n", Flags::default());
    append(&mut s, "INBOX", "Subject: b\n\nB\n", Flags::default());
    let mut one = s.open("INBOX", false).expect("open");
    let mut two = s.open("INBOX", false).expect("open");
    let changed = one
        .store(
            &[0, 1],
            FlagOp::Add,
            &flags(
                flag::ANSWERED | flag::FLAGGED | flag::DRAFT | flag::DELETED | flag::SEEN,
                &["Junk"],
            ),
        )
        .expect("store");
    assert_eq!(changed, vec![0, 1]);
    let raw = fs::read_to_string(t.path().join("inbox")).expect("read");
    assert!(raw.contains("Status: RO\n"), "{raw}");
    assert!(raw.contains("X-Status: AFTD\n"), "{raw}");
    // Padded: room for later changes in place.
    assert!(raw.contains("X-Keywords: Junk   "), "{raw}");
    assert!(raw.contains(" 0000000002 Junk\n"), "{raw}");
    // Invisible to clients, and sizes unchanged.
    assert_eq!(fetch(&mut one, 0), "Subject: a\n\nA\n");
    let c = two.sync(true).expect("sync");
    assert_eq!(c.flags, vec![1, 2]);
    assert!(c.keywords_changed);
    assert_eq!(two.message(1).flags, one.message(1).flags);
    assert_eq!(two.message(0).size, one.message(0).size);
    one.store(&[0], FlagOp::Remove, &flags(flag::DELETED, &["Junk"]))
        .expect("store");
    let seqs = one.expunge(None).expect("expunge");
    assert_eq!(seqs, vec![2]);
    let c = two.sync(true).expect("sync");
    assert_eq!(c.expunged, vec![2]);
    assert_eq!(c.flags, vec![1]);
    assert_eq!(fetch(&mut two, 0), "Subject: a\n\nA\n");
    let reopened = s.open("INBOX", true).expect("open");
    assert_eq!(reopened.count(), 1);
    assert_eq!(reopened.message(0).uid, 1);
    assert_eq!(reopened.uid_next(), 3, "the expunged UID is never reused");
}

#[test]
fn external_delivery_gets_uids_written_once() {
    let (t, mut s) = store();
    let inbox = t.path().join("inbox");
    deliver(&inbox, "Subject: d1\n\nbody 1\n");
    let mut ro = s.open("INBOX", true).expect("examine");
    assert_eq!(ro.message(0).uid, 1);
    assert!(ro.message(0).recent, "EXAMINE shows \\Recent, as SELECT");
    assert_eq!(s.status("INBOX").expect("status").recent, 1);
    let mut rw = s.open("INBOX", false).expect("select");
    assert_eq!(rw.message(0).uid, 1);
    assert!(rw.message(0).recent);
    assert!(fs::read_to_string(&inbox)
        .expect("read")
        .contains("X-UID: 1\n"));
    deliver(&inbox, "Subject: d2\n\nFrom the MTA\n");
    let c = rw.sync(true).expect("sync");
    assert_eq!((c.exists, c.recent), (Some(2), Some(2)));
    assert_eq!(rw.message(1).uid, 2);
    let c = ro.sync(true).expect("sync");
    assert_eq!(c.exists, Some(2));
    assert_eq!(ro.message(1).uid, 2);
    assert_eq!(fetch(&mut ro, 1), "Subject: d2\n\nFrom the MTA\n");
    // Nothing changed: nothing to report.
    assert!(rw.sync(true).expect("sync").is_empty());
}

#[test]
fn rewrite_by_another_program_changing_uidvalidity_is_an_error() {
    let (t, mut s) = store();
    append(&mut s, "INBOX", "Subject: a\n\nA\n", Flags::default());
    let mut mb = s.open("INBOX", false).expect("open");
    let inbox = t.path().join("inbox");
    let raw = fs::read_to_string(&inbox).expect("read");
    let v = mb.uid_validity();
    fs::write(
        &inbox,
        raw.replace(&format!("X-IMAPbase: {v} "), "X-IMAPbase: 12345 "),
    )
    .expect("write");
    assert!(matches!(mb.sync(true), Err(StoreError::Corrupt(_))));
}

#[test]
fn dovecot_written_file_keeps_its_uids() {
    // As Dovecot 2.3 wrote it (see tests/mbox_dovecot.rs for the live run).
    let f = "From mailaccess-test@vm  Sat Nov 21 06:13:17 2026\nSubject: one\nFrom: a@b\nX-IMAPbase: 1795241597 0000000009 $Work Junk\nX-UID: 4\nStatus: R\nX-Keywords: Junk                                            \nContent-Length: 17\nX-Status: D\n\nbody one\nFrom me\n\nFrom mailaccess-test@vm  Sat Nov 21 06:13:17 2026\nSubject: two\nX-UID: 7\nStatus: RO\nX-Status: AF\nX-Keywords: $Work                                                                       \nContent-Length: 20\n\nFrom the start\nline\n\n";
    let (t, mut s) = store();
    fs::write(t.path().join("inbox"), f).expect("write");
    let mut mb = s.open("INBOX", true).expect("open");
    assert_eq!(mb.uid_validity(), 1_795_241_597);
    assert_eq!(mb.uid_next(), 10);
    let uids: Vec<_> = mb.collect_messages().iter().map(|m| m.uid).collect();
    assert_eq!(uids, vec![4, 7]);
    assert_eq!(
        mb.message(0).flags,
        flags(flag::SEEN | flag::DELETED, &["Junk"])
    );
    assert_eq!(
        mb.message(1).flags,
        flags(flag::ANSWERED | flag::FLAGGED | flag::SEEN, &["$Work"])
    );
    assert_eq!(
        fetch(&mut mb, 0),
        "Subject: one\nFrom: a@b\n\nbody one\nFrom me\n"
    );
    assert_eq!(mb.message(0).size, 46, "Dovecot's RFC822.SIZE");
    assert_eq!(mb.message(1).size, 38);
    // Rewritten by us, still the same UIDs.
    let mut rw = s.open("INBOX", false).expect("open");
    rw.store(&[1], FlagOp::Add, &flags(flag::DRAFT, &[]))
        .expect("store");
    let again = s.open("INBOX", true).expect("open");
    assert_eq!(
        again
            .collect_messages()
            .iter()
            .map(|m| m.uid)
            .collect::<Vec<_>>(),
        vec![4, 7]
    );
    assert_eq!(again.uid_next(), 10);
    assert_eq!(again.uid_validity(), 1_795_241_597);
}

#[test]
fn emptied_mailbox_keeps_uidvalidity_and_uidnext() {
    let (_t, mut s) = store();
    s.create("box").expect("create");
    append(
        &mut s,
        "box",
        "Subject: a\n\nA\n",
        flags(flag::DELETED, &[]),
    );
    let mut mb = s.open("box", false).expect("open");
    let v = mb.uid_validity();
    assert_eq!(mb.expunge(None).expect("expunge"), vec![1]);
    let st = s.status("box").expect("status");
    assert_eq!((st.messages, st.uid_next, st.uid_validity), (0, 2, v));
    let b = append(&mut s, "box", "Subject: b\n\nB\n", Flags::default());
    assert_eq!(b.uids, vec![2]);
    s.delete("box").expect("delete");
    s.create("box").expect("create");
    assert_ne!(s.status("box").expect("status").uid_validity, v);
}

#[test]
fn missing_spool_is_an_empty_inbox() {
    let (t, mut s) = store();
    let mb = s.open("INBOX", false).expect("open");
    assert_eq!(mb.count(), 0);
    assert!(!t.path().join("inbox").exists());
    append(&mut s, "INBOX", "Subject: a\n\nA\n", Flags::default());
    assert!(t.path().join("inbox").exists());
}

#[test]
fn folders_create_list_rename_delete_subscribe() {
    let (t, mut s) = store();
    s.create("a/b").expect("create");
    s.create("c/").expect("create dir");
    s.create("Entw&APw-rfe").expect("create");
    assert!(matches!(s.create("a/b"), Err(StoreError::AlreadyExists)));
    assert!(matches!(s.create("a/b/c"), Err(StoreError::NotAllowed(_))));
    let l = s.list().expect("list");
    let names: Vec<_> = l
        .iter()
        .map(|i| (i.name.as_str(), i.noselect, i.has_children))
        .collect();
    assert_eq!(
        names,
        vec![
            ("Entw&APw-rfe", false, false),
            ("INBOX", false, false),
            ("a", true, true),
            ("a/b", false, false),
            ("c", true, false),
        ]
    );
    append(&mut s, "a/b", "Subject: x\n\nx\n", Flags::default());
    let v = s.status("a/b").expect("status").uid_validity;
    s.rename("a", "z/y").expect("rename");
    assert!(t.path().join("mail/z/y/b").is_file());
    let st = s.status("z/y/b").expect("status");
    assert_eq!((st.messages, st.uid_validity), (1, v));
    // The state moved along, modseqs included (STATUS brought them).
    let ctl = t.path().join("mail/.imap/z/y/b");
    assert!(ctl.join(crate::store::index::INDEX_FILE).is_file());
    assert!(matches!(s.delete("z/y"), Err(StoreError::HasChildren)));
    assert!(matches!(
        s.rename("z/y/b", "Entw&APw-rfe/x"),
        Err(StoreError::NotAllowed(_))
    ));
    s.delete("z/y/b").expect("delete");
    assert!(!ctl.exists(), "DELETE leaves no state behind");
    s.delete("z/y").expect("delete dir");
    s.subscribe("z/y/b").expect("subscribe");
    s.subscribe("INBOX").expect("subscribe");
    assert_eq!(
        fs::read_to_string(t.path().join("mail/.subscriptions")).expect("read"),
        "V\t2\n\nz\ty\tb\nINBOX\n"
    );
    assert_eq!(s.subscriptions().expect("subs"), vec!["z/y/b", "INBOX"]);
    s.unsubscribe("z/y/b").expect("unsubscribe");
    assert_eq!(s.subscriptions().expect("subs"), vec!["INBOX"]);
}

#[test]
fn rename_inbox_moves_messages_and_keeps_inbox() {
    let (_t, mut s) = store();
    append(&mut s, "INBOX", "Subject: a\n\nA\n", Flags::default());
    let v = s.status("INBOX").expect("status").uid_validity;
    s.rename("INBOX", "old").expect("rename");
    let st = s.status("INBOX").expect("status");
    assert_eq!((st.messages, st.uid_validity, st.uid_next), (0, v, 2));
    assert_eq!(s.status("old").expect("status").messages, 1);
}

#[test]
fn hostile_names_never_leave_the_root() {
    let (t, mut s) = store();
    for bad in [
        "../x",
        "a/../../x",
        "/etc/passwd",
        ".imap",
        "a/.hidden",
        "~x",
        "x.lock",
        "a//b",
        "INBOX/x",
        "a\tb",
    ] {
        assert!(s.create(bad).is_err(), "{bad}");
        assert!(s.open(bad, true).is_err(), "{bad}");
    }
    let outside = t.path().join("outside");
    fs::create_dir(&outside).expect("mkdir");
    fs::write(outside.join("box"), "").expect("write");
    std::os::unix::fs::symlink(&outside, t.path().join("mail/link")).expect("symlink");
    assert!(s.open("link/box", true).is_err());
    assert!(s.create("link/new").is_err());
    assert!(!outside.join("new").exists());
    assert!(s
        .list()
        .expect("list")
        .iter()
        .all(|i| !i.name.starts_with("link")));
}

#[test]
fn held_dotlock_gives_in_use_and_stale_one_is_broken() {
    let (t, _s) = store();
    let inbox = t.path().join("inbox");
    fs::write(&inbox, "").expect("write");
    let lock = t.path().join("inbox.lock");
    fs::write(&lock, "1").expect("write");
    let start = std::time::Instant::now();
    let r = MboxGuard::lock(&inbox, &LOCKS, true, std::time::Duration::from_millis(300));
    assert!(matches!(r, Err(StoreError::InUse)));
    assert!(start.elapsed() < std::time::Duration::from_secs(5));
    // Ten minutes old: left by a dead process.
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(600);
    fs::File::options()
        .write(true)
        .open(&lock)
        .expect("open")
        .set_modified(old)
        .expect("mtime");
    let g = MboxGuard::lock(&inbox, &LOCKS, true, std::time::Duration::from_millis(300))
        .expect("stale lock broken");
    assert!(lock.exists());
    drop(g);
    assert!(!lock.exists());
    let names: Vec<_> = fs::read_dir(t.path())
        .expect("dir")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(
        names.iter().all(|n| !n.to_string_lossy().contains(".lk")),
        "{names:?}"
    );
}

#[test]
fn copy_keeps_flags_and_dates() {
    let (_t, mut s) = store();
    s.create("dst").expect("create");
    append(
        &mut s,
        "INBOX",
        "Subject: a\n\nA\n",
        flags(flag::FLAGGED, &["kw"]),
    );
    let mut mb = s.open("INBOX", false).expect("open");
    let r = mb.copy(&[0], "dst").expect("copy");
    assert_eq!(r.uids, vec![1]);
    let mut d = s.open("dst", true).expect("open");
    assert_eq!(d.message(0).flags, flags(flag::FLAGGED, &["kw"]));
    assert_eq!(d.message(0).internal_date, 1_700_000_000);
    assert_eq!(fetch(&mut d, 0), "Subject: a\n\nA\n");
    assert!(matches!(mb.copy(&[0], "nope"), Err(StoreError::NotFound)));
}

#[test]
fn unquoted_separator_in_a_body_survives_our_rewrites() {
    // Dovecot stores bodies unquoted and relies on Content-Length.
    let body = "x\n\nFrom bob Sat Nov 21 06:13:17 2026\ny\n";
    let f = format!(
        "From a Sat Nov 21 06:13:17 2026\nX-IMAPbase: 5 0000000002\nX-UID: 1\nContent-Length: {}\n\n{body}\nFrom a Sat Nov 21 06:13:17 2026\nX-UID: 2\n\nz\n",
        body.len()
    );
    let (t, mut s) = store();
    fs::write(t.path().join("inbox"), f).expect("write");
    let mut mb = s.open("INBOX", false).expect("open");
    assert_eq!(mb.count(), 2);
    let size = mb.message(0).size;
    for _ in 0..3 {
        mb.store(&[0, 1], FlagOp::Add, &flags(flag::SEEN, &[]))
            .expect("store");
        mb.store(&[0], FlagOp::Remove, &flags(flag::SEEN, &[]))
            .expect("store");
    }
    let mut again = s.open("INBOX", true).expect("open");
    assert_eq!(again.count(), 2);
    assert_eq!(again.message(0).size, size);
    assert_eq!(fetch(&mut again, 0), format!("\n{body}"));
}

/// An mbox of `n` messages of about 4 KiB with X-UIDs 1..=n.
fn big_mbox(n: u32) -> String {
    let mut f = String::new();
    for i in 1..=n {
        f.push_str("From a Sat Nov 21 06:13:17 2026\n");
        if i == 1 {
            f.push_str(&format!("X-IMAPbase: 77 {n:010}\n"));
        }
        f.push_str(&format!("Subject: m{i}\nX-UID: {i:04}\nStatus: RO\n\n"));
        for _ in 0..64 {
            f.push_str("0123456789012345678901234567890123456789012345678901234567890123\n");
        }
        f.push('\n');
    }
    f
}

#[test]
fn reopening_a_big_unchanged_mbox_uses_the_cache() {
    let (t, mut s) = store();
    let inbox = t.path().join("inbox");
    fs::write(&inbox, big_mbox(300)).expect("write");
    let mb = s.open("INBOX", true).expect("open");
    assert_eq!(mb.message(149).uid, 150);
    assert!(t
        .path()
        .join("mail/.imap/INBOX")
        .join(cache::CACHE_FILE)
        .exists());
    // Change a message in the middle without changing size or time: only a
    // parse would see it, so the cache is what was used.
    let mtime = fs::metadata(&inbox)
        .and_then(|m| m.modified())
        .expect("mtime");
    let raw = fs::read_to_string(&inbox).expect("read");
    fs::write(&inbox, raw.replace("X-UID: 0150\n", "X-UID: 0999\n")).expect("write");
    fs::File::options()
        .write(true)
        .open(&inbox)
        .expect("open")
        .set_modified(mtime)
        .expect("mtime");
    let mb = s.open("INBOX", true).expect("open");
    assert_eq!(mb.message(149).uid, 150, "the cache was not used");
    // A delivery: parsed from the last message on, new UID.
    deliver(&inbox, "Subject: new\n\nnew\n");
    let mut mb = s.open("INBOX", true).expect("open");
    assert_eq!(mb.count(), 301);
    assert_eq!(mb.message(300).uid, 301);
    assert_eq!(fetch(&mut mb, 300), "Subject: new\n\nnew\n");
    // A damaged cache is ignored: the first record's UID made 2.
    let c = t.path().join("mail/.imap/INBOX").join(cache::CACHE_FILE);
    let mut data = fs::read(&c).expect("cache");
    let records = data
        .iter()
        .enumerate()
        .filter(|(_, &b)| b == b'\n')
        .nth(4)
        .expect("five text lines")
        .0
        + 1;
    assert_eq!(data[records..records + 4], 1u32.to_le_bytes());
    data[records] = 2;
    fs::write(&c, &data).expect("write");
    fs::write(&inbox, big_mbox(300)).expect("write");
    let mb = s.open("INBOX", true).expect("open");
    assert_eq!(mb.message(0).uid, 1);
    assert_eq!(mb.count(), 300);
    // A cache of a format before (the text of version 1) is not read, though it
    // names this very file; the file is parsed and the cache written anew.
    let good = fs::read(&c).expect("cache");
    let stamp = String::from_utf8_lossy(&good)
        .lines()
        .nth(1)
        .expect("stamp")
        .to_string();
    let old = format!(
        "mailaccess-mbox-index 1\n{stamp}\nstate 1 2 1 0 0\nkw\nm 7 0 1 1 10 0 5 6 6 9 0 0 0 1 -\n"
    );
    fs::write(&c, old).expect("write");
    let mb = s.open("INBOX", true).expect("open");
    assert_eq!((mb.count(), mb.message(0).uid), (300, 1));
    assert!(fs::read(&c)
        .expect("cache")
        .starts_with(b"mailaccess-mbox-index 4\n"));
}

#[test]
fn big_message_is_served_from_a_file_not_memory() {
    let (_t, mut s) = store();
    let body = "x".repeat(70) + "\r\n";
    let msg = format!("Subject: big\r\n\r\n{}", body.repeat(20_000));
    append(&mut s, "INBOX", &msg, Flags::default());
    let mut mb = s.open("INBOX", true).expect("open");
    assert_eq!(mb.message(0).size, msg.len() as u64);
    let got = fetch(&mut mb, 0);
    assert_eq!(got.len() + 20_002, msg.len());
    assert_eq!(crate::mime::crlf::to_crlf(got.as_bytes()), msg.as_bytes());
}

#[test]
fn deleted_folder_ends_the_selection_but_a_vanished_spool_is_empty() {
    let (t, mut s) = store();
    s.create("f").expect("create");
    append(&mut s, "f", "Subject: a\n\nA\n", Flags::default());
    append(&mut s, "INBOX", "Subject: a\n\nA\n", Flags::default());
    let mut f = s.open("f", false).expect("open");
    let mut inbox = s.open("INBOX", false).expect("open");
    s.delete("f").expect("delete");
    assert!(matches!(f.sync(true), Err(StoreError::NotFound)));
    fs::remove_file(t.path().join("inbox")).expect("rm");
    let c = inbox.sync(true).expect("sync");
    assert_eq!(c.expunged, vec![1]);
}

#[test]
fn examine_writes_uids_so_a_vanished_message_never_gives_its_uid_away() {
    let (t, mut s) = store();
    let inbox = t.path().join("inbox");
    deliver(&inbox, "Subject: one\n\n1\n");
    deliver(&inbox, "Subject: two\n\n2\n");
    let ro = s.open("INBOX", true).expect("examine");
    assert_eq!(
        ro.collect_messages()
            .iter()
            .map(|m| m.uid)
            .collect::<Vec<_>>(),
        vec![1, 2]
    );
    let raw = fs::read_to_string(&inbox).expect("read");
    assert!(raw.contains("X-UID: 2\n"), "{raw}");
    assert!(
        !raw.contains("Status: O"),
        "EXAMINE must not take \\Recent: {raw}"
    );
    // Another program removes message 2, then mail arrives.
    let cut = raw.rfind("From mta@").expect("second");
    fs::write(&inbox, &raw[..cut]).expect("write");
    deliver(&inbox, "Subject: three\n\n3\n");
    let mb = s.open("INBOX", true).expect("examine");
    assert_eq!(
        mb.collect_messages()
            .iter()
            .map(|m| m.uid)
            .collect::<Vec<_>>(),
        vec![1, 3]
    );
}

#[test]
fn spool_inside_the_root_is_only_inbox() {
    let t = tempfile::tempdir().expect("tempdir");
    let root = t.path().join("mail");
    let mut s =
        MboxStore::open_store(root.clone(), root.join("inbox"), LOCKS.to_vec()).expect("store");
    append(&mut s, "INBOX", "Subject: a\n\nA\n", Flags::default());
    let names: Vec<_> = s
        .list()
        .expect("list")
        .into_iter()
        .map(|i| i.name)
        .collect();
    assert_eq!(names, vec!["INBOX"]);
}

#[test]
fn in_place_rewrite_by_mutt_is_reported_as_expunge_and_flags() {
    let (t, mut s) = store();
    for b in ["A", "B", "C"] {
        append(
            &mut s,
            "INBOX",
            &format!("Subject: {b}\n\n{b}\n"),
            Flags::default(),
        );
    }
    let mut mb = s.open("INBOX", false).expect("open");
    let inbox = t.path().join("inbox");
    // mutt: same file (truncate and write), message B deleted, A flagged,
    // the From lines and the headers it does not know kept (X-UID,
    // X-IMAPbase). C is as it was: only A's flags are news.
    let v = mb.uid_validity();
    let new = format!(
        "From x Tue Nov 14 22:13:20 2023\nSubject: A\nX-IMAPbase: {v} 0000000003\nX-UID: 1\n\
         Status: O\nX-Status: F\n\nA\n\nFrom x Tue Nov 14 22:13:20 2023\nSubject: C\nX-UID: 3\n\
         Status: O\n\nC\n\n"
    );
    let ino = fs::metadata(&inbox)
        .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
        .expect("ino");
    fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&inbox)
        .and_then(|mut f| f.write_all(new.as_bytes()))
        .expect("rewrite");
    assert_eq!(
        fs::metadata(&inbox)
            .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
            .expect("ino"),
        ino
    );
    let c = mb.sync(true).expect("sync");
    assert_eq!(c.expunged, vec![2], "{new}");
    assert_eq!(c.flags, vec![1]);
    assert!(mb.message(0).flags.has(flag::FLAGGED));
    assert_eq!(
        mb.collect_messages()
            .iter()
            .map(|m| m.uid)
            .collect::<Vec<_>>(),
        vec![1, 3]
    );
    assert_eq!(fetch(&mut mb, 0), "Subject: A\n\nA\n");
    assert_eq!(fetch(&mut mb, 1), "Subject: C\n\nC\n");
}

/// Timings on a 100 MB spool (run by hand: `cargo test --release --lib
/// bench_big_mbox -- --ignored --nocapture`).
#[test]
#[ignore = "a benchmark, not a test: run by hand (see above)"]
fn bench_big_mbox() {
    let (t, mut s) = store();
    let inbox = t.path().join("inbox");
    let one = big_mbox(1);
    let mut f = String::with_capacity(one.len() * 25_000);
    f.push_str(&big_mbox(25_000));
    fs::write(&inbox, &f).expect("write");
    let time = |what: &str, start: std::time::Instant| {
        println!("{what}: {:?}", start.elapsed());
    };
    let st = std::time::Instant::now();
    let mb = s.open("INBOX", true).expect("open");
    time("first open (parse, write cache)", st);
    assert_eq!(mb.count(), 25_000);
    let st = std::time::Instant::now();
    let mut mb = s.open("INBOX", true).expect("open");
    time("second open (cache)", st);
    deliver(&inbox, "Subject: new\n\nnew\n");
    let st = std::time::Instant::now();
    mb.sync(true).expect("sync");
    time("sync after a delivery", st);
    let st = std::time::Instant::now();
    mb.sync(true).expect("sync");
    time("sync, nothing changed", st);
    let mut rw = s.open("INBOX", false).expect("open");
    let st = std::time::Instant::now();
    rw.store(&[5], FlagOp::Add, &flags(flag::FLAGGED, &[]))
        .expect("store");
    time("STORE one flag (rewrite 100 MB)", st);
}

#[test]
fn append_to_a_crlf_file_leaves_its_last_message_alone() {
    let (t, mut s) = store();
    let inbox = t.path().join("inbox");
    fs::write(
        &inbox,
        "From a Sat Nov 21 06:13:17 2026\r\nSubject: a\r\n\r\nA\r\n\r\n",
    )
    .expect("write");
    let before = s.open("INBOX", true).expect("open").message(0).size;
    append(&mut s, "INBOX", "Subject: b\r\n\r\nB\r\n", Flags::default());
    let mut mb = s.open("INBOX", true).expect("open");
    assert_eq!(mb.message(0).size, before);
    assert_eq!(fetch(&mut mb, 0), "Subject: a\r\n\r\nA\r\n");
    assert_eq!(fetch(&mut mb, 1), "Subject: b\n\nB\n");
}

#[test]
fn appended_status_fields_of_a_client_are_dropped() {
    let (_t, mut s) = store();
    append(
        &mut s,
        "INBOX",
        "X-UID: 99\r\nSubject: a\r\nX-Status: D\r\nX-Keywords: evil\r\n  more\r\nStatus: RO\r\nX-IMAPbase: 1 99\r\n\r\nbody\r\n",
        Flags::default(),
    );
    append(&mut s, "INBOX", "Subject: header only", Flags::default());
    append(&mut s, "INBOX", "", flags(flag::SEEN, &[]));
    append(&mut s, "INBOX", "\r\nno header\r\n", Flags::default());
    let mut mb = s.open("INBOX", true).expect("open");
    let uids: Vec<_> = mb.collect_messages().iter().map(|m| m.uid).collect();
    assert_eq!(uids, vec![1, 2, 3, 4]);
    assert_eq!(mb.message(0).flags, Flags::default());
    assert_eq!(s.status("INBOX").expect("status").recent, 4);
    assert_eq!(fetch(&mut mb, 0), "Subject: a\n\nbody\n");
    assert_eq!(fetch(&mut mb, 1), "Subject: header only\n");
    assert_eq!(fetch(&mut mb, 2), "");
    assert_eq!(mb.message(2).flags, flags(flag::SEEN, &[]));
    assert_eq!(fetch(&mut mb, 3), "\nno header\n");
    assert_eq!(mb.message(3).size, 13);
}

#[test]
fn copied_x_uid_of_an_expunged_uid_is_not_reused() {
    let (t, mut s) = store();
    for b in ["A", "B", "C"] {
        append(
            &mut s,
            "INBOX",
            &format!("Subject: {b}\n\n{b}\n"),
            flags(flag::DELETED, &[]),
        );
    }
    let mut mb = s.open("INBOX", false).expect("open");
    mb.store(&[0], FlagOp::Remove, &flags(flag::DELETED, &[]))
        .expect("store");
    assert_eq!(mb.expunge(None).expect("expunge"), vec![3, 2]);
    // Another program appends a message carrying an old X-UID.
    deliver(&t.path().join("inbox"), "Subject: copy\nX-UID: 2\n\nx\n");
    let c = mb.sync(true).expect("sync");
    assert_eq!(c.exists, Some(2));
    assert_eq!(mb.message(1).uid, 4);
}

#[test]
fn dotlock_of_a_dead_local_process_is_broken_at_once() {
    let (t, _s) = store();
    let inbox = t.path().join("inbox");
    fs::write(&inbox, "").expect("write");
    let host = fs::read_to_string("/proc/sys/kernel/hostname").expect("hostname");
    // A pid above the kernel's pid_max limit never runs.
    fs::write(
        t.path().join("inbox.lock"),
        format!("99999999:{}\n", host.trim()),
    )
    .expect("lock");
    let start = std::time::Instant::now();
    let g = MboxGuard::lock(&inbox, &LOCKS, true, std::time::Duration::from_secs(5));
    assert!(g.is_ok());
    assert!(start.elapsed() < std::time::Duration::from_secs(1));
    drop(g);
    // Another host's lock is not ours to judge: it waits.
    fs::write(t.path().join("inbox.lock"), "99999999:elsewhere\n").expect("lock");
    let g = MboxGuard::lock(&inbox, &LOCKS, true, std::time::Duration::from_millis(200));
    assert!(matches!(g, Err(StoreError::InUse)));
}

/// Octets this thread has passed to write(2) and pwrite(2) so far.
fn written_by_this_thread() -> u64 {
    thread_io("wchar")
}

/// A counter of `/proc/thread-self/io`.
fn thread_io(field: &str) -> u64 {
    let io = fs::read_to_string("/proc/thread-self/io").expect("/proc/thread-self/io");
    io.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(": "))
        .and_then(|v| v.parse().ok())
        .expect(field)
}

/// A flag change that fits the padding of its message's status lines
/// rewrites them in place: a few hundred octets written to the journal and
/// the file, not the rest of a 2 MB mbox; one that does not fit moves the
/// rest, once, and leaves new padding. The parse cache gets a delta of the
/// changed messages, not a new copy of itself.
#[test]
fn a_flag_change_is_written_in_place() {
    let (t, mut s) = store();
    // Text that differs wherever it is shifted to.
    let body = |n: usize| {
        let text: String = (0..2000)
            .map(|k| char::from(b'a' + ((k * 7 + n * 13 + k / 26) % 26) as u8))
            .collect();
        format!("Subject: m{n}\n\n{text}\n")
    };
    for n in 0..1000 {
        append(&mut s, "INBOX", &body(n), Flags::default());
    }
    let size = fs::metadata(t.path().join("inbox")).expect("stat").len();
    assert!(size > 2_000_000, "{size}");
    let mut mb = s.open("INBOX", false).expect("open");
    // APPEND left room too: the first change stays in place as well.
    for (i, f) in [
        (0, flags(flag::FLAGGED, &[])),
        (1, flags(flag::SEEN, &[])),
        (500, flags(flag::ANSWERED | flag::DELETED, &["Junk"])),
        (0, flags(flag::SEEN | flag::DRAFT, &["$Work"])),
    ] {
        let before = written_by_this_thread();
        mb.store(&[i], FlagOp::Add, &f).expect("store");
        let wrote = written_by_this_thread() - before;
        assert!(wrote < 4096, "STORE on message {i} wrote {wrote} octets");
    }
    let now = fs::metadata(t.path().join("inbox")).expect("stat").len();
    assert_eq!(now, size, "nothing moved");
    // Every other session and a fresh open see the flags.
    let again = s.open("INBOX", true).expect("open");
    assert!(again.message(500).flags.has(flag::DELETED));
    assert_eq!(again.message(500).flags.keywords, ["Junk"]);
    assert!(again.message(0).flags.has(flag::DRAFT | flag::FLAGGED));
    assert_eq!(fetch(&mut mb, 0), body(0));
    // A fresh open reads the cache and its delta, not the file: the flags
    // it shows are those of the delta.
    let ctl = t.path().join("mail/.imap/INBOX");
    assert!(ctl.join(cache::DELTA_FILE).exists());
    let cached = cache::load(&ctl).expect("cache and delta");
    assert!(cached.entries.at(500).has(flag::DELETED));
    assert_eq!(cached.flags(0).keywords, ["$Work"]);
    assert_eq!(cached.file_flags(0).keywords, ["$Work"]);
    // And the file itself says it all (bodies untouched, skipped unread):
    // parsed afresh, without the cache.
    fs::remove_file(ctl.join(cache::CACHE_FILE)).expect("rm cache");
    let mut fresh = s.open("INBOX", true).expect("open");
    assert!(fresh.message(500).flags.has(flag::ANSWERED | flag::DELETED));
    assert!(fresh.message(1).flags.has(flag::SEEN));
    assert_eq!(fresh.message(0).flags.keywords, ["$Work"]);
    for n in [0, 1, 2, 499, 500, 501, 999] {
        assert_eq!(fetch(&mut fresh, n), body(n), "message {n}");
    }
    // Too many keywords for the padding: the rest moves, once.
    let many: Vec<String> = (0..12).map(|n| format!("keyword{n}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let before = written_by_this_thread();
    mb.store(&[2], FlagOp::Add, &flags(0, &many))
        .expect("store");
    let wrote = written_by_this_thread() - before;
    assert!(wrote > 1_000_000, "{wrote}");
    let before = written_by_this_thread();
    mb.store(&[2], FlagOp::Remove, &flags(0, &many[..3]))
        .expect("store");
    let wrote = written_by_this_thread() - before;
    assert!(wrote < 4096, "{wrote}");
    assert_eq!(
        s.open("INBOX", true)
            .expect("open")
            .message(2)
            .flags
            .keywords
            .len(),
        9
    );
}

/// The parse cache's delta: folded into a new cache once it names more
/// than its share of the messages; a damaged delta, or one of another
/// cache, is not used (the file is parsed instead, and says the truth).
#[test]
fn the_cache_delta_folds_and_is_never_trusted_blindly() {
    let (t, mut s) = store();
    let inbox = t.path().join("inbox");
    fs::write(&inbox, big_mbox(300)).expect("write");
    let ctl = t.path().join("mail/.imap/INBOX");
    let mut mb = s.open("INBOX", false).expect("open");
    // The first change writes status lines everywhere: a whole cache.
    mb.store(&[0], FlagOp::Add, &flags(flag::FLAGGED, &[]))
        .expect("store");
    assert!(!ctl.join(cache::DELTA_FILE).exists());
    let draft = flags(flag::DRAFT, &[]);
    mb.store(&[7], FlagOp::Add, &draft).expect("store");
    assert!(ctl.join(cache::DELTA_FILE).exists());
    // A damaged delta: not used; the open parses and finds the flags.
    let d = fs::read(ctl.join(cache::DELTA_FILE)).expect("delta");
    let mut bad = d.clone();
    let at = bad.len() / 2;
    bad[at] ^= 1;
    fs::write(ctl.join(cache::DELTA_FILE), &bad).expect("write");
    assert!(cache::load(&ctl).is_none_or(|c| c.stamp != file::Stamp::at(&inbox)));
    let again = s.open("INBOX", true).expect("open");
    assert!(again.message(7).flags.has(flag::DRAFT));
    // More changes than a delta holds (256): folded into a new cache.
    let all: Vec<usize> = (0..300).collect();
    mb.store(&all, FlagOp::Add, &draft).expect("store");
    assert!(!ctl.join(cache::DELTA_FILE).exists());
    let c = cache::load(&ctl).expect("cache");
    assert_eq!(c.stamp, file::Stamp::at(&inbox));
    assert!(c.entries.iter().all(|e| e.has(flag::DRAFT)));
}

/// Octets this thread has passed to read(2) and pread(2) so far.
fn read_by_this_thread() -> u64 {
    thread_io("rchar")
}

/// A flag change in a big mbox already in our layout writes the changed
/// message's status lines (and the first message's X-IMAPbase) and nothing
/// else: the other messages' octets are not even compared, and the parse
/// cache is not read, only its delta extended. What the cache and delta
/// then say is what a parse of the file says.
#[test]
fn a_flag_change_touches_only_its_message() {
    let (t, mut s) = store();
    let inbox = t.path().join("inbox");
    fs::write(&inbox, big_mbox(600)).expect("write");
    let ctl = t.path().join("mail/.imap/INBOX");
    let mut mb = s.open("INBOX", false).expect("open");
    // Our status lines everywhere (a whole rewrite), then a delta.
    mb.store(&[0], FlagOp::Add, &flags(flag::FLAGGED, &[]))
        .expect("store");
    mb.store(&[1], FlagOp::Add, &flags(flag::DRAFT, &[]))
        .expect("store");
    let cache_len = fs::metadata(ctl.join(cache::CACHE_FILE))
        .expect("cache")
        .len();
    assert!(cache_len > 600 * 40, "{cache_len}");
    let old = fs::read(&inbox).expect("read");
    let at = |data: &[u8], what: &str| {
        data.windows(what.len())
            .position(|w| w == what.as_bytes())
            .expect(what)
    };
    let cache_before = fs::read(ctl.join(cache::CACHE_FILE)).expect("cache");
    let read = read_by_this_thread();
    mb.store(&[300], FlagOp::Add, &flags(flag::ANSWERED, &["Later"]))
        .expect("store");
    // The headers of the first, the last and the changed message are read
    // (pread: 2 KB for a header, a page around what is rewritten), and the
    // session's entries from the parse cache (40 octets a message) by each
    // pass over them (at most four), not the other messages (2.6 MB); the
    // parse cache stays as it was (its delta grows).
    let read = read_by_this_thread() - read;
    let budget = (64 << 10) + 4 * cache_len;
    assert!(read < budget, "the STORE read {read} octets");
    assert!(fs::read(ctl.join(cache::CACHE_FILE)).expect("cache") == cache_before);
    assert!(ctl.join(cache::DELTA_FILE).exists());
    let new = fs::read(&inbox).expect("read");
    assert_eq!(old.len(), new.len());
    let (second, mine) = (at(&old, "Subject: m2\n"), at(&old, "Subject: m301\n"));
    for (p, (a, b)) in old.iter().zip(&new).enumerate() {
        assert!(
            a == b || p < second || (mine..mine + 400).contains(&p),
            "octet {p} changed"
        );
    }
    assert!(old != new);
    // Cache and delta against a parse of the file, message by message.
    let cached = s.open("INBOX", true).expect("open");
    fs::remove_file(ctl.join(cache::CACHE_FILE)).expect("rm cache");
    let parsed = s.open("INBOX", true).expect("open");
    assert_eq!(cached.count(), 600);
    for i in 0..600 {
        assert_eq!(cached.message(i), parsed.message(i), "message {i}");
    }
    assert!(parsed.message(300).flags.has(flag::ANSWERED));
    assert_eq!(parsed.message(300).flags.keywords, ["Later"]);
    assert!(parsed.message(1).flags.has(flag::DRAFT));
}

/// Modseqs of one mailbox, by message.
fn modseqs(mb: &dyn Mailbox) -> Vec<u64> {
    (0..mb.count()).map(|i| mb.message(i).modseq).collect()
}

/// Every change gets a modseq above all before it, whoever makes it: a
/// STORE (seen by the other session's sync with the same modseq), a
/// delivery, another program rewriting a Status line, an EXPUNGE (kept in
/// the expunge history); an unchanged file costs no write of the index.
#[test]
fn every_change_to_an_mbox_gets_a_modseq() {
    let (t, mut s) = store();
    for n in 0..3 {
        append(
            &mut s,
            "INBOX",
            &format!("Subject: m{n}\n\nbody\n"),
            Flags::default(),
        );
    }
    let mut a = s.open("INBOX", false).expect("open");
    let mut b = s.open("INBOX", false).expect("open");
    let first = modseqs(a.as_ref());
    assert_eq!(first, modseqs(b.as_ref()));
    assert_eq!(a.highest_modseq(), *first.iter().max().expect("3"));
    assert_eq!(
        s.status("INBOX").expect("status").highest_modseq,
        a.highest_modseq()
    );

    // A STORE: that message alone, above everything; the other session's
    // sync reports the same modseq.
    a.store(&[1], FlagOp::Add, &flags(flag::FLAGGED, &[]))
        .expect("store");
    let after = modseqs(a.as_ref());
    assert!(
        after[1] > a.highest_modseq() - 1 && after[1] > first[2],
        "{after:?}"
    );
    assert_eq!((after[0], after[2]), (first[0], first[2]));
    b.sync(true).expect("sync");
    assert_eq!(modseqs(b.as_ref()), after);
    assert_eq!(s.status("INBOX").expect("status").highest_modseq, after[1]);

    // Nothing changed: the index is not written again.
    let ctl = t.path().join("mail/.imap/INBOX");
    let log = ctl.join(crate::store::index::LOG_FILE);
    let size = fs::metadata(&log).expect("log").len();
    drop(s.open("INBOX", true).expect("open"));
    assert_eq!(fs::metadata(&log).expect("log").len(), size);

    // Another program turns a Status line into another of the same size.
    let inbox = t.path().join("inbox");
    let data = fs::read(&inbox).expect("read");
    let at = data
        .windows(11)
        .position(|w| w == b"Subject: m2")
        .expect("m2");
    let status = at
        + data[at..]
            .windows(8)
            .position(|w| w == b"Status: ")
            .expect("status");
    let mut changed = data.clone();
    assert_eq!(changed[status + 8], b'O');
    changed[status + 8] = b'R'; // \Seen (and claimed again)
    fs::write(&inbox, &changed).expect("write");
    a.sync(true).expect("sync");
    let third = modseqs(a.as_ref());
    assert!(a.message(2).flags.has(flag::SEEN));
    assert!(third[2] > after[1], "{third:?}");
    assert_eq!(third[..2], after[..2]);

    // A delivery, then an EXPUNGE: above again, and in the history.
    deliver(&inbox, "Subject: m3\n\nnew\n");
    a.sync(true).expect("sync");
    assert_eq!(a.count(), 4);
    assert!(a.message(3).modseq > third[2]);
    a.store(&[0], FlagOp::Add, &flags(flag::DELETED, &[]))
        .expect("store");
    let gone_uid = a.message(0).uid;
    a.expunge(None).expect("expunge");
    let top = a.highest_modseq();
    assert!(top > a.message(2).modseq);
    let (ix, _) = crate::store::index::Index::load(&ctl)
        .expect("load")
        .expect("index");
    assert_eq!(ix.vanished_since(top - 1), [gone_uid..=gone_uid]);
    assert!(ix.vanished_since(top).is_empty());
}

/// A lost index starts again above every modseq the old one handed out:
/// the UIDVALIDITY is the file's and stays, so the modseqs must not fall.
#[test]
fn a_lost_mbox_index_never_lowers_modseqs() {
    let (t, mut s) = store();
    append(&mut s, "INBOX", "Subject: m\n\nbody\n", Flags::default());
    let mut a = s.open("INBOX", false).expect("open");
    for _ in 0..5 {
        a.store(&[0], FlagOp::Add, &flags(flag::FLAGGED, &[]))
            .expect("store");
        a.store(&[0], FlagOp::Remove, &flags(flag::FLAGGED, &[]))
            .expect("store");
    }
    let before = a.highest_modseq();
    let ctl = t.path().join("mail/.imap/INBOX");
    fs::remove_file(ctl.join(crate::store::index::INDEX_FILE)).expect("rm");
    let _ = fs::remove_file(ctl.join(crate::store::index::LOG_FILE));
    let b = s.open("INBOX", false).expect("open");
    assert!(
        b.message(0).modseq > before,
        "{} <= {before}",
        b.message(0).modseq
    );
    assert_eq!(b.uid_validity(), a.uid_validity());
    // A damaged one likewise: not trusted, started again above.
    let before = b.highest_modseq();
    let main = ctl.join(crate::store::index::INDEX_FILE);
    let mut bytes = fs::read(&main).expect("index");
    let at = bytes.len() / 2;
    bytes[at] ^= 0x55;
    fs::write(&main, bytes).expect("write");
    let c = s.open("INBOX", false).expect("open");
    assert!(
        c.message(0).modseq > before,
        "{} <= {before}",
        c.message(0).modseq
    );
    assert_eq!(c.message(0).uid, b.message(0).uid);
}

/// A rewrite edits the session's own snapshot in place; when it fails
/// (here before anything is written: its control directory is a file),
/// the session reads the file again instead of keeping the edit it holds.
#[test]
fn a_failed_rewrite_leaves_the_session_with_the_file_as_it_is() {
    let (t, mut s) = store();
    for b in ["A", "B", "C"] {
        append(
            &mut s,
            "INBOX",
            &format!("Subject: {b}\n\nB{b}\n"),
            Flags::default(),
        );
    }
    let mut mb = s.open("INBOX", false).expect("open");
    let ctl = t.path().join("mail/.imap/INBOX");
    let aside = t.path().join("aside");
    fs::rename(&ctl, &aside).expect("move aside");
    fs::write(&ctl, "").expect("a file in its place");
    let r = mb.store(&[1], FlagOp::Add, &flags(flag::FLAGGED, &[]));
    assert!(r.is_err(), "{r:?}");
    assert!(!mb.message(1).flags.has(flag::FLAGGED));
    fs::remove_file(&ctl).expect("rm");
    fs::rename(&aside, &ctl).expect("move back");
    // What this session says is what a new session reads from the file.
    let other = s.open("INBOX", true).expect("other");
    for i in 0..3 {
        let (a, b) = (mb.message(i), other.message(i));
        assert_eq!((a.uid, a.size, &a.flags), (b.uid, b.size, &b.flags), "{i}");
    }
    assert_eq!(fetch(&mut mb, 1), "Subject: B\n\nBB\n");
    mb.store(&[2], FlagOp::Add, &flags(flag::SEEN, &[]))
        .expect("store again");
    let other = s.open("INBOX", true).expect("other");
    assert!(other.message(2).flags.has(flag::SEEN));
    assert!(!other.message(1).flags.has(flag::FLAGGED));
    assert_eq!(fetch(&mut mb, 2), "Subject: C\n\nBC\n");
}

/// A file that only grew (mail delivered) is read from its last known
/// message on: the earlier messages keep their keywords, in the session
/// and as the file has them, and a new message's keywords are read; the
/// next rewrite writes them all where they were.
#[test]
fn keywords_survive_a_grown_file() {
    let (t, mut s) = store();
    let inbox = t.path().join("inbox");
    fs::write(&inbox, big_mbox(600)).expect("write");
    let mut mb = s.open("INBOX", false).expect("open");
    mb.store(&[3], FlagOp::Add, &flags(flag::FLAGGED, &["Work"]))
        .expect("store");
    mb.store(&[599], FlagOp::Add, &flags(0, &["Last"]))
        .expect("store");
    let mut other = s.open("INBOX", false).expect("open");
    deliver(&inbox, "X-Keywords: Later\nSubject: new\n\nnew\n");
    let c = mb.sync(true).expect("sync");
    assert_eq!(mb.count(), 601);
    assert!(c.expunged.is_empty());
    assert_eq!(mb.message(3).flags.keywords, ["Work"]);
    assert!(mb.message(3).flags.has(flag::FLAGGED));
    assert_eq!(mb.message(599).flags.keywords, ["Last"]);
    assert_eq!(mb.message(600).flags.keywords, ["Later"]);
    assert!(mb.message(4).flags.keywords.is_empty());
    // A change elsewhere rewrites the file; what it wrote is read back.
    mb.store(&[10], FlagOp::Add, &flags(0, &["Work"]))
        .expect("store");
    other.sync(true).expect("sync");
    for (i, k) in [(3, "Work"), (10, "Work"), (599, "Last"), (600, "Later")] {
        assert_eq!(other.message(i).flags.keywords, [k], "{i}");
    }
    fs::remove_dir_all(t.path().join("mail/.imap")).expect("rm state");
    let fresh = s.open("INBOX", true).expect("open");
    for (i, k) in [(3, "Work"), (10, "Work"), (599, "Last"), (600, "Later")] {
        assert_eq!(fresh.message(i).flags.keywords, [k], "{i}");
    }
    assert!(fresh.message(4).flags.keywords.is_empty());
}

/// A file that grew is read from where it ended: mail appended after a
/// last message without its blank line (here even mid-line) continues that
/// message (as a fresh parse says), mail after a blank line is new; each
/// time the session sees what a parse of the whole file sees, sizes
/// included.
#[test]
fn a_grown_file_is_read_from_where_it_ended() {
    let (t, mut s) = store();
    let inbox = t.path().join("inbox");
    let mut f = big_mbox(600);
    f.truncate(f.len() - 2); // the last line without its end, no blank line
    fs::write(&inbox, &f).expect("write");
    let mut mb = s.open("INBOX", false).expect("open");
    let sizes = |mb: &dyn Mailbox| -> Vec<(u32, u64)> {
        (0..mb.count())
            .map(|i| (mb.message(i).uid, mb.message(i).size))
            .collect()
    };
    let fresh = |s: &mut MboxStore| {
        fs::remove_dir_all(t.path().join("mail/.imap")).expect("rm state");
        s.open("INBOX", true).expect("open")
    };
    let append = |what: &str| {
        fs::OpenOptions::new()
            .append(true)
            .open(&inbox)
            .and_then(|mut f| f.write_all(what.as_bytes()))
            .expect("append");
    };
    let last = mb.message(599).size;
    // Not after a blank line: the last message goes on.
    append("4567\nFrom mta@example.org Sat Nov 21 06:13:17 2026\nSubject: more\n");
    mb.sync(true).expect("sync");
    assert_eq!(mb.count(), 600);
    // "4567\n", the From line and the Subject line, each LF as CRLF.
    assert_eq!(mb.message(599).size, last + 5 + 46 + 14 + 3);
    assert!(fetch(&mut mb, 599)
        .ends_with("01234567\nFrom mta@example.org Sat Nov 21 06:13:17 2026\nSubject: more\n"));
    assert_eq!(sizes(&*mb), sizes(&*fresh(&mut s)));
    // After a blank line: a new message.
    let mut mb = s.open("INBOX", false).expect("open");
    append("\nFrom mta@example.org Sat Nov 21 06:13:17 2026\nSubject: new\n\nnew\n");
    mb.sync(true).expect("sync");
    assert_eq!(mb.count(), 601);
    assert_eq!(fetch(&mut mb, 600), "Subject: new\n\nnew\n");
    assert_eq!(sizes(&*mb), sizes(&*fresh(&mut s)));
}

#[test]
fn changes_on_entries_read_from_the_cache_are_written() {
    // Past MBOX_CACHE_MIN and over more than one window of entries: a
    // session reads them from the parse cache (store/mbox/entries.rs) and
    // a STORE looks only at what it changed (`Snapshot::unsaid`).
    let (t, mut s) = store();
    let inbox = t.path().join("inbox");
    let n = crate::limits::MBOX_ENTRIES_WINDOW as u32 + 300;
    fs::write(&inbox, big_mbox(n)).expect("write");
    drop(s.open("INBOX", false).expect("first open writes the cache"));
    let last = n as usize - 1;
    let mut mb = s.open("INBOX", false).expect("open");
    let w = crate::limits::MBOX_ENTRIES_WINDOW;
    let before: Vec<_> = [5, last, w].iter().map(|&i| mb.message(i).modseq).collect();
    // A keyword alone, a system flag alone, on both sides of a window.
    mb.store(&[5], FlagOp::Add, &flags(0, &["Later"]))
        .expect("store");
    mb.store(&[last], FlagOp::Add, &flags(flag::FLAGGED, &[]))
        .expect("store");
    mb.store(&[w], FlagOp::Add, &flags(flag::ANSWERED, &["Work"]))
        .expect("store");
    drop(mb);
    let mb = s.open("INBOX", true).expect("again");
    assert_eq!(mb.message(5).flags.keywords, vec!["Later".to_string()]);
    assert!(mb.message(last).flags.has(flag::FLAGGED));
    assert!(mb.message(w).flags.has(flag::ANSWERED));
    assert_eq!(mb.message(w).flags.keywords, vec!["Work".to_string()]);
    // Each change has a new modseq (CONDSTORE), a keyword alone too.
    for (n, i) in [5, last, w].into_iter().enumerate() {
        assert!(mb.message(i).modseq > before[n], "message {i}'s modseq");
    }
    for i in [0, 4, 6, w - 1, w + 1, last - 1] {
        // As `big_mbox` wrote them: `Status: RO`.
        assert_eq!(mb.message(i).flags, flags(flag::SEEN, &[]), "message {i}");
    }
    // And what the file says, parsed afresh without the cache.
    let ctl = t.path().join("mail/.imap/INBOX");
    fs::remove_file(ctl.join(cache::CACHE_FILE)).expect("rm cache");
    let _ = fs::remove_file(ctl.join(cache::DELTA_FILE));
    let mb = s.open("INBOX", true).expect("parsed");
    assert_eq!(mb.message(5).flags.keywords, vec!["Later".to_string()]);
    assert!(mb.message(last).flags.has(flag::FLAGGED));
    assert_eq!(mb.message(w).flags.keywords, vec!["Work".to_string()]);
}
