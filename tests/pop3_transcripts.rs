//! pop3d over pipes in preauthenticated mode (as `ssh host pop3d` runs
//! it), as the test user: every TRANSACTION command and response code as
//! `C:`/`S:` transcripts, the UPDATE state, the maildrop lock, and a POP3
//! session next to an IMAP one.

mod common;

use std::time::Duration;

use common::{server_command, Home, Server};

/// `common::transcript`, with a bare `S:` for an empty response line (the
/// end of a message header).
fn transcript(server: &mut Server, script: &str) {
    let script: Vec<String> = script
        .lines()
        .map(|l| {
            if l.trim() == "S:" {
                "S: ".to_string()
            } else {
                l.to_string()
            }
        })
        .collect();
    common::transcript(server, &script.join("\n"));
}

fn pop3d(h: &Home) -> Server {
    Server::start(server_command(env!("CARGO_BIN_EXE_pop3d"), h, &[]))
}

/// Octets of `m` with every bare LF counted as CRLF.
fn crlf_len(m: &[u8]) -> usize {
    m.len()
        + m.iter()
            .enumerate()
            .filter(|&(i, &c)| c == b'\n' && (i == 0 || m[i - 1] != b'\r'))
            .count()
}

/// Files left in the Maildir's new/ and cur/.
fn files(h: &Home) -> usize {
    ["new", "cur"]
        .iter()
        .map(|d| std::fs::read_dir(h.maildir().join(d)).unwrap().count())
        .sum()
}

/// Stored with bare LFs: goes out with CRLF; dots stuffed.
const M1: &[u8] =
    b"From: a@example.org\nSubject: one\n\nbody line\n.leading dot\n..two dots\n.\nend\n";
/// CRLF already, and no final line end.
const M2: &[u8] = b"Subject: two\r\n\r\nfirst\r\nsecond\r\nno final newline";
const M3: &[u8] = b"Subject: three\n\nx\n";

fn home3() -> Home {
    let h = Home::new();
    h.deliver(None, "1000.M1.test", M1);
    h.deliver(None, "1001.M2.test", M2);
    h.deliver(None, "1002.M3.test", M3);
    h
}

#[test]
fn stat_list_uidl_noop_capa() {
    let h = home3();
    let (s1, s2, s3) = (crlf_len(M1), crlf_len(M2), crlf_len(M3));
    let total = s1 + s2 + s3;
    let mut s = pop3d(&h);
    transcript(
        &mut s,
        &format!(
            r"
            S: +OK mailaccess POP3 ready, 3 messages.
            C: STAT
            S: +OK 3 {total}
            C: LIST
            S: +OK 3 messages ({total} octets)
            S: 1 {s1}
            S: 2 {s2}
            S: 3 {s3}
            S: .
            C: list 2
            S: +OK 2 {s2}
            C: UIDL
            S: +OK
            S: 1 00000001{{}}
            S: 2 00000002{{}}
            S: 3 00000003{{}}
            S: .
            C: UIDL 3
            S: +OK 3 00000003{{}}
            C: NOOP
            S: +OK
            C: CAPA
            S: +OK Capability list follows
            S: TOP
            S: RESP-CODES
            S: AUTH-RESP-CODE
            S: PIPELINING
            S: UIDL
            S: EXPIRE NEVER
            S: LOGIN-DELAY 0
            S: IMPLEMENTATION mailaccess
            S: .
            C: QUIT
            S: +OK Logging out.
            "
        ),
    );
    assert_eq!(s.wait(), Some(0));
    assert_eq!(s.stderr(), "");
}

#[test]
fn retr_is_crlf_and_byte_stuffed_with_exact_size() {
    let h = home3();
    let mut s = pop3d(&h);
    s.line();
    for (n, m) in [(1, M1), (2, M2), (3, M3)] {
        s.send(&format!("RETR {n}"));
        let first = s.line();
        assert_eq!(first, format!("+OK {} octets\r\n", crlf_len(m)));
        let mut body = Vec::new();
        loop {
            let l = s.line();
            if l == ".\r\n" {
                break;
            }
            assert!(l.ends_with("\r\n"), "{l:?}");
            // Undo the stuffing as a client does.
            body.extend_from_slice(l.strip_prefix('.').unwrap_or(&l).as_bytes());
        }
        // The message with CRLF line ends, and CRLF added before the
        // terminator where the message had no final line end.
        let mut want = String::from_utf8(m.to_vec())
            .unwrap()
            .replace("\r\n", "\n")
            .replace('\n', "\r\n");
        if !want.ends_with("\r\n") {
            assert_eq!(body.len(), crlf_len(m) + 2);
            want.push_str("\r\n");
        } else {
            assert_eq!(body.len(), crlf_len(m));
        }
        assert_eq!(String::from_utf8(body).unwrap(), want);
    }
    transcript(
        &mut s,
        r"
        C: RETR 1
        S: +OK {} octets
        S: From: a@example.org
        S: Subject: one
        S:
        S: body line
        S: ..leading dot
        S: ...two dots
        S: ..
        S: end
        S: .
        C: TOP 1 0
        S: +OK
        S: From: a@example.org
        S: Subject: one
        S:
        S: .
        C: TOP 1 2
        S: +OK
        S: From: a@example.org
        S: Subject: one
        S:
        S: body line
        S: ..leading dot
        S: .
        C: TOP 2 100
        S: +OK
        S: Subject: two
        S:
        S: first
        S: second
        S: no final newline
        S: .
        C: QUIT
        S: +OK Logging out.
        ",
    );
}

#[test]
fn dele_rset_and_update_at_quit() {
    let h = home3();
    let (s1, s2, s3) = (crlf_len(M1), crlf_len(M2), crlf_len(M3));
    let mut s = pop3d(&h);
    transcript(
        &mut s,
        &format!(
            r"
            S: +OK {{}}
            C: DELE 1
            S: +OK Message 1 deleted.
            C: DELE 1
            S: -ERR Message is deleted.
            C: RETR 1
            S: -ERR Message is deleted.
            C: TOP 1 0
            S: -ERR Message is deleted.
            C: LIST 1
            S: -ERR Message is deleted.
            C: UIDL 1
            S: -ERR Message is deleted.
            C: STAT
            S: +OK 2 {}
            C: LIST
            S: +OK 2 messages ({} octets)
            S: 2 {s2}
            S: 3 {s3}
            S: .
            C: RSET
            S: +OK Maildrop has 3 messages ({} octets).
            C: STAT
            S: +OK 3 {}
            ",
            s2 + s3,
            s2 + s3,
            s1 + s2 + s3,
            s1 + s2 + s3
        ),
    );
    // Without QUIT nothing is deleted.
    transcript(&mut s, "C: DELE 2\nS: +OK Message 2 deleted.");
    drop(s);
    assert_eq!(files(&h), 3);
    let mut s = pop3d(&h);
    transcript(
        &mut s,
        r"
        S: +OK mailaccess POP3 ready, 3 messages.
        C: DELE 1
        S: +OK Message 1 deleted.
        C: DELE 3
        S: +OK Message 3 deleted.
        C: QUIT
        S: +OK Logging out, 2 messages deleted.
        ",
    );
    assert_eq!(s.wait(), Some(0));
    assert_eq!(files(&h), 1);
    let mut s = pop3d(&h);
    transcript(
        &mut s,
        &format!(
            r"
            S: +OK mailaccess POP3 ready, 1 messages.
            C: LIST
            S: +OK 1 messages ({s2} octets)
            S: 1 {s2}
            S: .
            C: UIDL
            S: +OK
            S: 1 00000002{{}}
            S: .
            C: QUIT
            S: +OK Logging out.
            "
        ),
    );
}

#[test]
fn bad_input_is_refused() {
    let h = home3();
    let mut s = pop3d(&h);
    transcript(
        &mut s,
        r"
        S: +OK {}
        C: LIST 4294967297
        S: -ERR Invalid message number.
        C: LIST 4
        S: -ERR No such message.
        C: LIST 0
        S: -ERR No such message.
        C: RETR -1
        S: -ERR Invalid message number.
        C: RETR +1
        S: -ERR Invalid message number.
        C: DELE
        S: -ERR One message number expected.
        C: TOP 1
        S: -ERR TOP needs a message number and a line count.
        C: TOP 1 x
        S: -ERR Invalid line count.
        C: STAT 1
        S: -ERR Too many arguments.
        C: LAST
        S: -ERR Unknown command.
        C: USER mailtest
        S: -ERR Already logged in.
        C: PASS x
        S: -ERR Already logged in.
        C: STLS
        S: -ERR STLS is not available.
        C: NOOP
        S: +OK
        ",
    );
    // 256 octets with CRLF: one over RFC 2449's limit.
    s.send(&format!("NOOP {}", "x".repeat(249)));
    assert_eq!(s.line(), "-ERR Line too long.\r\n");
    s.send(&format!("NOOP{}", " ".repeat(249)));
    assert_eq!(s.line(), "+OK\r\n");
    s.write(b"NO\0OP\r\n");
    assert_eq!(s.line(), "-ERR NUL in command line.\r\n");
    s.send("QUIT");
    assert_eq!(s.line(), "+OK Logging out.\r\n");
}

#[test]
fn too_many_errors_close_the_session() {
    let h = Home::new();
    let mut s = pop3d(&h);
    s.line();
    for _ in 0..100 {
        s.send("BOGUS");
    }
    let mut errors = 0;
    while let Some(l) = s.try_line(Duration::from_secs(10)) {
        if l == "-ERR Too many invalid commands.\r\n" {
            break;
        }
        assert_eq!(l, "-ERR Unknown command.\r\n");
        errors += 1;
    }
    assert_eq!(errors, mailaccess::limits::POP3_BAD_COMMANDS_MAX);
    assert_eq!(s.try_line(Duration::from_secs(5)), None, "closed");
    // Nothing after the close: no further answers.
    assert_eq!(s.wait(), Some(1));
}

#[test]
fn pipelined_commands_are_answered_in_order() {
    let h = home3();
    let mut s = pop3d(&h);
    s.line();
    s.write(b"STAT\r\nLIST 1\r\nTOP 3 0\r\nNOOP\r\nQUIT\r\n");
    let want = [
        format!("+OK 3 {}", crlf_len(M1) + crlf_len(M2) + crlf_len(M3)),
        format!("+OK 1 {}", crlf_len(M1)),
        "+OK".into(),
        "Subject: three".into(),
        "".into(),
        ".".into(),
        "+OK".into(),
        "+OK Logging out.".into(),
    ];
    for w in want {
        assert_eq!(s.line(), format!("{w}\r\n"));
    }
}

#[test]
fn uidl_is_stable_across_sessions_imap_and_deliveries() {
    let h = home3();
    let uidls = |h: &Home| {
        let mut s = pop3d(h);
        s.line();
        s.send("UIDL");
        let mut v = Vec::new();
        assert_eq!(s.line(), "+OK\r\n");
        loop {
            let l = s.line();
            if l == ".\r\n" {
                break;
            }
            v.push(l.split_whitespace().nth(1).unwrap().to_string());
        }
        s.send("QUIT");
        s.line();
        s.wait();
        v
    };
    let first = uidls(&h);
    assert_eq!(first.len(), 3);
    for u in &first {
        assert_eq!(u.len(), 16);
        assert!(u.bytes().all(|c| c.is_ascii_hexdigit()), "{u}");
    }
    // IMAP takes the messages from new/ to cur/ and changes flags.
    let mut imap = Server::imapd(&h);
    imap.line();
    imap.command("a", "SELECT INBOX");
    imap.command("b", "STORE 1:* +FLAGS (\\Flagged)");
    imap.command("c", "LOGOUT");
    drop(imap);
    assert_eq!(
        std::fs::read_dir(h.maildir().join("new")).unwrap().count(),
        0
    );
    h.deliver(None, "2000.M4.test", b"Subject: four\n\nnew\n");
    let second = uidls(&h);
    assert_eq!(&second[..3], &first[..]);
    assert_eq!(second.len(), 4);
    assert!(!first.contains(&second[3]));
    assert_eq!(uidls(&h), second);
}

#[test]
fn retr_marks_seen_at_quit_top_does_not() {
    let h = home3();
    let mut s = pop3d(&h);
    s.line();
    s.send("RETR 1");
    while s.line() != ".\r\n" {}
    s.send("TOP 2 1");
    while s.line() != ".\r\n" {}
    s.send("QUIT");
    assert_eq!(s.line(), "+OK Logging out.\r\n");
    s.wait();
    let mut imap = Server::imapd(&h);
    imap.line();
    imap.command("a", "EXAMINE INBOX");
    let r = imap.command("b", "FETCH 1:3 FLAGS");
    assert!(r[0].contains("FLAGS (\\Seen"), "{r:?}");
    assert!(!r[1].contains("\\Seen"), "{r:?}");
    assert!(!r[2].contains("\\Seen"), "{r:?}");
}

#[test]
fn second_session_gets_in_use_and_a_killed_one_leaves_no_stale_lock() {
    let h = home3();
    let mut a = pop3d(&h);
    assert!(a.line().starts_with("+OK"));
    let mut b = pop3d(&h);
    assert_eq!(
        b.line(),
        "-ERR [IN-USE] The maildrop is in use by another POP3 session.\r\n"
    );
    assert_eq!(b.wait(), Some(1));
    // A pop3d killed in mid-session: its lock dies with it.
    transcript(&mut a, "C: DELE 1\nS: +OK Message 1 deleted.");
    a.child.kill().unwrap();
    a.child.wait().unwrap();
    let mut c = pop3d(&h);
    assert_eq!(c.line(), "+OK mailaccess POP3 ready, 3 messages.\r\n");
    transcript(&mut c, "C: QUIT\nS: +OK Logging out.");
}

#[test]
fn imap_session_sees_pop3_deletions_as_expunges() {
    let h = home3();
    let mut imap = Server::imapd(&h);
    imap.line();
    let r = imap.command("a", "SELECT INBOX");
    assert!(r.iter().any(|l| l == "* 3 EXISTS\r\n"), "{r:?}");
    // The IMAP session does not block POP3.
    let mut pop = pop3d(&h);
    transcript(
        &mut pop,
        r"
        S: +OK mailaccess POP3 ready, 3 messages.
        C: DELE 2
        S: +OK Message 2 deleted.
        C: QUIT
        S: +OK Logging out, 1 messages deleted.
        ",
    );
    pop.wait();
    transcript(
        &mut imap,
        r"
        C: b NOOP
        S: * 2 EXPUNGE
        S: b OK {}
        C: c FETCH 1:* (RFC822.SIZE)
        S: * 1 FETCH {}
        S: * 2 FETCH {}
        S: c OK {}
        ",
    );
}

#[test]
fn empty_maildrop_and_missing_maildir() {
    let h = Home::new();
    std::fs::remove_dir_all(h.maildir()).unwrap();
    let mut s = pop3d(&h);
    transcript(
        &mut s,
        r"
        S: +OK mailaccess POP3 ready, 0 messages.
        C: STAT
        S: +OK 0 0
        C: LIST
        S: +OK 0 messages (0 octets)
        S: .
        C: UIDL
        S: +OK
        S: .
        C: RETR 1
        S: -ERR No such message.
        C: QUIT
        S: +OK Logging out.
        ",
    );
}

#[test]
fn maildrop_that_cannot_be_opened_gets_sys_codes() {
    let h = Home::new();
    // A Maildir the user may not create: try again later ([SYS/TEMP]).
    let mut s = Server::start(server_command(
        env!("CARGO_BIN_EXE_pop3d"),
        &h,
        &["-o", "mail_location=maildir:/proc/mailaccess-no/Maildir"],
    ));
    assert_eq!(s.line(), "-ERR [SYS/TEMP] Cannot open the maildrop.\r\n");
    assert_eq!(s.wait(), Some(1));
    // An mbox location whose spool file does not exist yet is an empty
    // maildrop, not an error (the MTA creates the file on first delivery).
    let mut s = Server::start(server_command(
        env!("CARGO_BIN_EXE_pop3d"),
        &h,
        &[
            "-o",
            &format!(
                "mail_location=mbox:~/mail:INBOX={}/spool",
                h.path().display()
            ),
        ],
    ));
    assert_eq!(s.line(), "+OK mailaccess POP3 ready, 0 messages.\r\n");
    s.send("QUIT");
    assert_eq!(s.line(), "+OK Logging out.\r\n");
    assert_eq!(s.wait(), Some(0));
    assert_eq!(s.stderr(), "");
}

#[test]
fn stat_list_uidl_never_open_message_files() {
    let h = home3();
    let mut s = pop3d(&h);
    transcript(&mut s, "S: +OK {}\nC: QUIT\nS: +OK Logging out.");
    s.wait();
    // Now indexed: make every message unreadable to the server.
    use std::os::unix::fs::PermissionsExt;
    for d in ["cur", "new"] {
        for e in std::fs::read_dir(h.maildir().join(d)).unwrap() {
            let p = e.unwrap().path();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o000)).unwrap();
        }
    }
    let total = crlf_len(M1) + crlf_len(M2) + crlf_len(M3);
    let mut s = pop3d(&h);
    transcript(
        &mut s,
        &format!(
            r"
            S: +OK mailaccess POP3 ready, 3 messages.
            C: STAT
            S: +OK 3 {total}
            C: LIST 3
            S: +OK 3 {}
            C: UIDL 2
            S: +OK 2 00000002{{}}
            C: RETR 1
            S: -ERR [SYS/TEMP] Cannot read the message.
            C: QUIT
            S: +OK Logging out.
            ",
            crlf_len(M3)
        ),
    );
}
