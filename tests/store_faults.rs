//! Faults behind the parser (issue 18): files in a Maildir that are not what
//! they should be (a FIFO, a directory, a symbolic link, a file we may not
//! read) never hang a session, never serve another file, and cost only the
//! message concerned: the other messages are answered and the session goes
//! on. Every wait is bounded by the harness's response timeout, so a hang
//! fails the test instead of stalling it.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::{server_command, Home, Server};

fn message(n: u32, body: &str) -> Vec<u8> {
    format!("From: a@example.org\nSubject: message {n}\n\n{body}\n").into_bytes()
}

/// A Maildir with three messages, opened once so they are in cur/ and
/// indexed.
fn home_with_three() -> Home {
    let h = Home::new();
    for n in 1..=3 {
        h.deliver(
            None,
            &format!("100000000{n}.M{n}P1.test"),
            &message(n, "hello"),
        );
    }
    let mut s = Server::imapd(&h);
    s.line();
    let r = s.command("a", "SELECT INBOX");
    assert!(r.last().unwrap().starts_with("a OK"), "{r:?}");
    s.command("b", "LOGOUT");
    h
}

/// The file of message `n` (by its delivery name), wherever it is now.
fn file_of(h: &Home, n: u32) -> PathBuf {
    for sub in ["cur", "new"] {
        for e in std::fs::read_dir(h.maildir().join(sub)).unwrap() {
            let e = e.unwrap();
            if e.file_name()
                .to_string_lossy()
                .starts_with(&format!("100000000{n}."))
            {
                return e.path();
            }
        }
    }
    panic!("message {n} not found");
}

/// Replaces the file `p` with a directory.
fn make_dir(p: &Path) {
    std::fs::remove_file(p).unwrap();
    std::fs::create_dir(p).unwrap();
    chown_like(p, p.parent().unwrap());
}

fn mkfifo(p: &Path) {
    let _ = std::fs::remove_file(p);
    rustix::fs::mkfifoat(rustix::fs::CWD, p, rustix::fs::Mode::from_raw_mode(0o600)).unwrap();
    let h_owner = p.parent().unwrap();
    chown_like(p, h_owner);
}

/// Gives `p` the owner of `like` (the test user, when run as root).
fn chown_like(p: &Path, like: &Path) {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(like).unwrap();
    rustix::fs::chownat(
        rustix::fs::CWD,
        p,
        Some(rustix::fs::Uid::from_raw(m.uid())),
        Some(rustix::fs::Gid::from_raw(m.gid())),
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    )
    .unwrap();
}

fn selected(h: &Home) -> Server {
    let mut s = Server::imapd(h);
    s.line();
    let r = s.command("s", "SELECT INBOX");
    assert!(r.last().unwrap().starts_with("s OK"), "{r:?}");
    s
}

/// FETCH 1:3 BODY[] with message 2 broken: messages 1 and 3 are answered,
/// the tagged answer is NO [UNAVAILABLE], and the session goes on.
fn fetch_survives(s: &mut Server, item: &str) {
    let r = s.command("f", &format!("FETCH 1:3 {item}"));
    let text = r.join("");
    assert!(text.contains("* 1 FETCH"), "{r:?}");
    assert!(text.contains("* 3 FETCH"), "{r:?}");
    assert!(!text.contains("* 2 FETCH"), "{r:?}");
    assert!(!text.contains("root:"), "another file was served: {r:?}");
    assert!(r.last().unwrap().starts_with("f NO [UNAVAILABLE]"), "{r:?}");
    let r = s.command("n", "NOOP");
    assert!(r.last().unwrap().starts_with("n OK"), "{r:?}");
    let r = s.command("g", "FETCH 3 BODY.PEEK[TEXT]");
    assert!(r.join("").contains("hello"), "{r:?}");
}

#[test]
fn a_fifo_in_place_of_a_message_does_not_hang_fetch() {
    let h = home_with_three();
    let mut s = selected(&h);
    mkfifo(&file_of(&h, 2));
    fetch_survives(&mut s, "BODY.PEEK[]");
    fetch_survives(&mut s, "ENVELOPE");
}

#[test]
fn a_directory_in_place_of_a_message_is_a_no_for_that_message() {
    let h = home_with_three();
    let mut s = selected(&h);
    make_dir(&file_of(&h, 2));
    fetch_survives(&mut s, "BODY.PEEK[]");
    fetch_survives(&mut s, "RFC822");
}

#[test]
fn an_unreadable_message_is_a_no_for_that_message() {
    assert!(
        common::is_root(),
        "needs root (make test): the server must run as another user than the file's owner"
    );
    let h = home_with_three();
    let mut s = selected(&h);
    let f = file_of(&h, 2);
    // Owned by root, mode 0600: the session (mailtest) may not read it.
    rustix::fs::chownat(
        rustix::fs::CWD,
        &f,
        Some(rustix::fs::Uid::ROOT),
        Some(rustix::fs::Gid::ROOT),
        rustix::fs::AtFlags::empty(),
    )
    .unwrap();
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
    fetch_survives(&mut s, "BODY.PEEK[]");
    fetch_survives(&mut s, "BODY.PEEK[HEADER.FIELDS (SUBJECT)]");
    // SEARCH answers for the others and says its answer is partial.
    let r = s.command("t", "SEARCH BODY hello");
    assert!(r.contains(&"* SEARCH 1 3\r\n".to_string()), "{r:?}");
    assert!(r.last().unwrap().starts_with("t NO [UNAVAILABLE]"), "{r:?}");
    // So do SORT and THREAD, which search first.
    let r = s.command("o", "SORT (ARRIVAL) UTF-8 BODY hello");
    assert!(r.contains(&"* SORT 1 3\r\n".to_string()), "{r:?}");
    assert!(r.last().unwrap().starts_with("o NO [UNAVAILABLE]"), "{r:?}");
    let r = s.command("h", "THREAD ORDEREDSUBJECT UTF-8 BODY hello");
    assert!(
        r[0].starts_with("* THREAD (1") && r[0].contains('3'),
        "{r:?}"
    );
    assert!(r.last().unwrap().starts_with("h NO [UNAVAILABLE]"), "{r:?}");
}

#[test]
fn a_large_message_that_cannot_be_read_is_a_no_too() {
    // Above FETCH_STREAM_ABOVE the body is streamed: nothing may be written
    // for it before the file has been read.
    let h = Home::new();
    let big = message(2, &"x".repeat(3 * 1024 * 1024));
    h.deliver(None, "1000000001.M1P1.test", &message(1, "hello"));
    h.deliver(None, "1000000002.M2P1.test", &big);
    h.deliver(None, "1000000003.M3P1.test", &message(3, "hello"));
    let mut s = selected(&h);
    make_dir(&file_of(&h, 2));
    fetch_survives(&mut s, "BODY.PEEK[]");
}

#[test]
fn a_symlink_in_place_of_a_message_serves_nothing() {
    let h = home_with_three();
    let mut s = selected(&h);
    let f = file_of(&h, 2);
    std::fs::remove_file(&f).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", &f).unwrap();
    fetch_survives(&mut s, "BODY.PEEK[]");
    // Delivered as a symlink before SELECT: not a message at all.
    let h = Home::new();
    h.deliver(None, "1000000001.M1P1.test", &message(1, "hello"));
    std::os::unix::fs::symlink("/etc/passwd", h.maildir().join("new/1000000002.M2P1.test"))
        .unwrap();
    let mut s = Server::imapd(&h);
    s.line();
    let r = s.command("s", "SELECT INBOX");
    assert!(r.contains(&"* 1 EXISTS\r\n".to_string()), "{r:?}");
    let r = s.command("f", "FETCH 1:* BODY.PEEK[]");
    assert!(!r.join("").contains("root:"), "{r:?}");
}

#[test]
fn fifos_in_place_of_index_lock_and_keywords_files_do_not_hang_select() {
    let h = home_with_three();
    for f in [
        "mailaccess-index",
        "mailaccess.index",
        "mailaccess.index.log",
        "mailaccess-index.lock",
        "dovecot-keywords",
        "mailaccess-store.lock",
    ] {
        mkfifo(&h.maildir().join(f));
    }
    let mut s = Server::imapd(&h);
    s.line();
    let r = s.command("s", "SELECT INBOX");
    assert!(r.last().unwrap().starts_with("s OK"), "{r:?}");
    assert!(r.contains(&"* 3 EXISTS\r\n".to_string()), "{r:?}");
    let r = s.command("l", "LIST \"\" *");
    assert!(r.last().unwrap().starts_with("l OK"), "{r:?}");
    let r = s.command("c", "CREATE Other");
    assert!(r.last().unwrap().starts_with("c OK"), "{r:?}");
    let r = s.command("t", "STORE 1 +FLAGS (\\Flagged)");
    assert!(r.last().unwrap().starts_with("t OK"), "{r:?}");
}

#[test]
fn a_planted_lock_symlink_writes_nothing_outside_the_maildir() {
    let h = home_with_three();
    let outside = tempfile::tempdir().unwrap();
    std::fs::set_permissions(outside.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let target = outside.path().join("victim");
    let lock = h.maildir().join("mailaccess-index.lock");
    let _ = std::fs::remove_file(&lock);
    std::os::unix::fs::symlink(&target, &lock).unwrap();
    chown_like(&lock, &h.maildir());
    let mut s = selected(&h);
    let r = s.command("t", "STORE 1 +FLAGS (\\Flagged)");
    assert!(r.last().unwrap().starts_with("t OK"), "{r:?}");
    assert!(!target.exists(), "the lock was created through the link");
}

#[test]
fn a_symlinked_maildir_root_is_followed() {
    let h = Home::new();
    let real = h.path().join("real-maildir");
    std::fs::rename(h.maildir(), &real).unwrap();
    std::os::unix::fs::symlink(&real, h.maildir()).unwrap();
    chown_like(&h.maildir(), &real);
    std::fs::write(real.join("new/1000000001.M1P1.test"), message(1, "hello")).unwrap();
    h.fix_owner();
    let mut s = Server::imapd(&h);
    assert!(s.line().starts_with("* PREAUTH"));
    let r = s.command("s", "SELECT INBOX");
    assert!(r.contains(&"* 1 EXISTS\r\n".to_string()), "{r:?}");
    let r = s.command("f", "FETCH 1 BODY.PEEK[TEXT]");
    assert!(r.join("").contains("hello"), "{r:?}");
}

#[test]
fn pop3_retr_of_a_broken_message_is_an_err_and_the_session_goes_on() {
    let h = home_with_three();
    let mut s = Server::start(server_command(env!("CARGO_BIN_EXE_pop3d"), &h, &[]));
    assert!(s.line().starts_with("+OK"));
    make_dir(&file_of(&h, 2));
    s.send("RETR 2");
    assert!(s.line().starts_with("-ERR"));
    s.send("TOP 2 0");
    assert!(s.line().starts_with("-ERR"));
    mkfifo(&file_of(&h, 1));
    s.send("RETR 1");
    assert!(s.line().starts_with("-ERR"));
    s.send("RETR 3");
    assert!(s.line().starts_with("+OK"));
    let mut body = String::new();
    loop {
        let l = s.line();
        if l == ".\r\n" {
            break;
        }
        body.push_str(&l);
    }
    assert!(body.contains("message 3"), "{body}");
    s.send("QUIT");
    assert!(s.line().starts_with("+OK"));
}
