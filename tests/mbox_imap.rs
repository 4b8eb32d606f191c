//! Transcript tests of the built `imapd` on an mbox store
//! (`mail_location = mbox:~/mail:INBOX=~/spool/inbox`): the spool as an MTA
//! writes it, status headers never shown, sizes as Dovecot counts them,
//! `/` as the separator.

mod common;

use common::{transcript, Home, Server};

const SPOOL: &str = "From alice@example.org Mon Feb  7 21:52:25 1994\n\
From: Alice <alice@example.org>\n\
Subject: Hello\n\
\n\
Hi Bob,\n\
From here on\n\
>From quoted\n\
\n\
From carol@example.org Tue Feb  8 10:00:00 1994\n\
From: Carol <carol@example.org>\n\
Subject: Two\n\
\n\
two\n";

fn mbox_home() -> Home {
    let h = Home::new();
    std::fs::create_dir_all(h.path().join("spool")).expect("mkdir");
    std::fs::create_dir_all(h.path().join("mail")).expect("mkdir");
    std::fs::write(h.path().join("spool/inbox"), SPOOL).expect("spool");
    h.fix_owner();
    h
}

fn imapd(h: &Home) -> Server {
    common::mbox_imapd(h)
}

#[test]
fn select_fetch_store_expunge_on_the_spool() {
    let h = mbox_home();
    let mut s = imapd(&h);
    transcript(
        &mut s,
        r"
        S: * PREAUTH {}
        C: a1 SELECT INBOX
        S: * FLAGS (\Answered \Flagged \Deleted \Seen \Draft)
        S: * OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft \*)] Flags permitted.
        S: * 2 EXISTS
        S: * 2 RECENT
        S: * OK [UNSEEN 1] First unseen.
        S: * OK [UIDVALIDITY {}] UIDs valid
        S: * OK [UIDNEXT 3] Predicted next UID
        S: * OK [MAILBOXID ({})] Ok
        S: a1 OK [READ-WRITE] Select completed.
        C: a2 FETCH 1:* (UID FLAGS RFC822.SIZE)
        S: * 1 FETCH (UID 1 FLAGS (\Recent) RFC822.SIZE 88)
        S: * 2 FETCH (UID 2 FLAGS (\Recent) RFC822.SIZE 54)
        S: a2 OK Fetch completed.
        C: a3 FETCH 1 BODY.PEEK[]
        S: * 1 FETCH (BODY[] {88}\r\nFrom: Alice <alice@example.org>\r\nSubject: Hello\r\n\r\nHi Bob,\r\nFrom here on\r\n>From quoted\r\n)
        S: a3 OK Fetch completed.
        C: a4 STORE 1 +FLAGS (\Flagged $Work)
        S: * FLAGS (\Answered \Flagged \Deleted \Seen \Draft $Work)
        S: * OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft $Work \*)] Flags permitted.
        S: * 1 FETCH (FLAGS (\Flagged $Work \Recent))
        S: a4 OK Store completed.
        C: a5 FETCH 1 (RFC822.SIZE BODY.PEEK[HEADER])
        S: * 1 FETCH (RFC822.SIZE 88 BODY[HEADER] {51}\r\nFrom: Alice <alice@example.org>\r\nSubject: Hello\r\n\r\n)
        S: a5 OK Fetch completed.
        C: a6 STORE 2 +FLAGS.SILENT (\Deleted)
        S: a6 OK Store completed.
        C: a7 EXPUNGE
        S: * 2 EXPUNGE
        S: a7 OK Expunge completed.
        C: a8 APPEND INBOX (\Seen) {17+}
        C: Subject: new\r\n\r\nx
        S: * 2 EXISTS
        S: * 2 RECENT
        S: a8 OK [APPENDUID {} 3] Append completed.
        C: a9 UID FETCH 3 (FLAGS BODY[])
        S: * 2 FETCH (UID 3 FLAGS (\Seen \Recent) BODY[] {19}\r\nSubject: new\r\n\r\nx\r\n)
        S: a9 OK Fetch completed.
        C: b1 LOGOUT
        S: * BYE Logging out
        S: b1 OK Logout completed.
        ",
    );
    assert_eq!(s.wait(), Some(0));
    let raw = std::fs::read_to_string(h.path().join("spool/inbox")).expect("spool");
    assert!(
        // Padded: room for the next flag change in place.
        raw.contains("X-UID: 1\n") && raw.contains("X-Keywords: $Work   "),
        "{raw}"
    );
    assert!(!raw.contains("Subject: Two"), "{raw}");
}

#[test]
fn folders_with_slash_separator() {
    let h = mbox_home();
    let mut s = imapd(&h);
    transcript(
        &mut s,
        r#"
        S: * PREAUTH {}
        C: a1 CREATE Archive/2024
        S: a1 OK {}Create completed.
        C: a2 LIST "" "*"
        S: * LIST (\Noselect \HasChildren) "/" Archive
        S: * LIST (\Noinferiors) "/" Archive/2024
        S: * LIST (\HasNoChildren) "/" INBOX
        S: a2 OK List completed.
        C: a3 SELECT INBOX
        S: {}
        S: {}
        S: {}
        S: {}
        S: {}
        S: {}
        S: {}
        S: * OK [MAILBOXID ({})] Ok
        S: a3 OK [READ-WRITE] Select completed.
        C: a4 COPY 1:2 Archive/2024
        S: a4 OK [COPYUID {} 1:2 1:2] Copy completed.
        C: a5 STATUS Archive/2024 (MESSAGES UIDNEXT)
        S: * STATUS Archive/2024 (MESSAGES 2 UIDNEXT 3)
        S: a5 OK Status completed.
        C: a6 RENAME Archive Old
        S: a6 OK Rename completed.
        C: a7 LIST "" "%/%"
        S: * LIST (\Noinferiors) "/" Old/2024
        S: a7 OK List completed.
        C: a8 DELETE Old/2024
        S: a8 OK Delete completed.
        C: a9 CREATE ../escape
        S: a9 NO {}
        C: b1 LOGOUT
        S: * BYE Logging out
        S: b1 OK Logout completed.
        "#,
    );
    assert_eq!(s.wait(), Some(0));
    assert!(h.path().join("mail/Old").is_dir());
    assert!(!h.path().join("escape").exists());
}

/// What an MTA does to the spool: dotlock, fcntl, append, blank line.
fn deliver(h: &Home, subject: &str) {
    use std::io::Write;
    let spool = h.path().join("spool/inbox");
    let lock = h.path().join("spool/inbox.lock");
    loop {
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&lock)
        {
            Ok(_) => break,
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(2)),
        }
    }
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&spool)
        .expect("spool");
    rustix::fs::fcntl_lock(&f, rustix::fs::FlockOperation::LockExclusive).expect("fcntl");
    write!(
        f,
        "From mta@example.org Sat Nov 21 06:13:17 2026\nSubject: {subject}\n\n{subject}\n\n"
    )
    .expect("append");
    drop(f);
    std::fs::remove_file(&lock).expect("unlock");
}

fn select(s: &mut Server) {
    assert!(s.line().starts_with("* PREAUTH"));
    let r = s.command("s1", "SELECT INBOX");
    assert!(r.last().is_some_and(|l| l.starts_with("s1 OK")), "{r:?}");
}

#[test]
fn two_sessions_and_an_mta_see_each_other() {
    let h = mbox_home();
    let mut one = imapd(&h);
    let mut two = imapd(&h);
    select(&mut one);
    select(&mut two);
    deliver(&h, "three");
    let r = one.command("a1", "NOOP");
    assert_eq!(r[0].trim_end(), "* 3 EXISTS", "{r:?}");
    // One's SELECT took the first two, its NOOP the new one.
    assert_eq!(r[1].trim_end(), "* 3 RECENT", "{r:?}");
    let r = two.command("b1", "NOOP");
    assert_eq!(r[0].trim_end(), "* 3 EXISTS", "{r:?}");
    assert_eq!(
        r[1].trim_end(),
        "* 0 RECENT",
        "\\Recent goes to one session: {r:?}"
    );
    let r = one.command("a2", "UID STORE 1 +FLAGS.SILENT (\\Deleted)");
    assert!(r[0].starts_with("a2 OK"), "{r:?}");
    let r = one.command("a3", "EXPUNGE");
    assert_eq!(r[0].trim_end(), "* 1 EXPUNGE", "{r:?}");
    let r = two.command("b2", "NOOP");
    assert_eq!(r[0].trim_end(), "* 1 EXPUNGE", "{r:?}");
    let r = two.command(
        "b3",
        "UID FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])",
    );
    assert!(
        r[0].contains("UID 2 ") && r[0].contains("Subject: Two"),
        "{r:?}"
    );
    assert!(
        r[1].contains("UID 3 ") && r[1].contains("Subject: three"),
        "{r:?}"
    );
    // IDLE sees the next delivery.
    two.send("i1 IDLE");
    assert!(two.line().starts_with("+ "));
    deliver(&h, "four");
    assert_eq!(two.line().trim_end(), "* 3 EXISTS");
    assert_eq!(two.line().trim_end(), "* 1 RECENT");
    two.send("DONE");
    assert_eq!(two.line().trim_end(), "i1 OK Idle completed.");
    one.command("a4", "NOOP");
    let r = one.command("a5", "UID SEARCH SUBJECT four");
    assert_eq!(
        r.iter()
            .find(|l| l.starts_with("* SEARCH"))
            .map(|l| l.trim_end()),
        Some("* SEARCH 4"),
        "{r:?}"
    );
}

#[test]
fn spool_directory_without_write_permission_is_read_only_in_effect() {
    if !common::is_root() {
        return; // the server would run as the owner of everything
    }
    // /var/mail without mail_privileged_group: the user may read and write
    // the spool file but may not create the dotlock beside it, so the
    // mailbox is selected read-only (RFC 3501 6.3.1), its messages shown.
    let h = mbox_home();
    let mut s = imapd(&h);
    transcript(&mut s, "S: * PREAUTH {}\nC: a0 SELECT INBOX\nS: {}\nS: {}\nS: {}\nS: {}\nS: {}\nS: {}\nS: {}\nS: * OK [MAILBOXID ({})] Ok\nS: a0 OK {}\nC: a00 LOGOUT\nS: {}\nS: a00 OK {}");
    assert_eq!(s.wait(), Some(0));
    let spool = h.path().join("spool");
    let st = std::process::Command::new("chown")
        .args(["root:root"])
        .arg(&spool)
        .status()
        .expect("chown");
    assert!(st.success());
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&spool, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let mut s = imapd(&h);
    transcript(
        &mut s,
        r"
        S: * PREAUTH {}
        C: a1 SELECT INBOX
        S: {}
        S: {}
        S: * 2 EXISTS
        S: {}
        S: {}
        S: {}
        S: {}
        S: * OK [MAILBOXID ({})] Ok
        S: a1 OK [READ-ONLY] Select completed.
        C: a2 FETCH 1:* (UID)
        S: * 1 FETCH (UID 1)
        S: * 2 FETCH (UID 2)
        S: a2 OK Fetch completed.
        C: a3 STORE 1 +FLAGS (\Flagged)
        S: a3 NO [READ-ONLY] Mailbox is read-only.
        C: a4 LOGOUT
        S: * BYE Logging out
        S: a4 OK Logout completed.
        ",
    );
}
