//! tests/imap_transcripts.rs run against an mbox store
//! (`mail_location = mbox:~/mail:INBOX=~/spool/inbox`): the same
//! transcripts, changed only where mbox differs from Maildir, each
//! difference marked `mbox:`.

mod common;

use common::{transcript, Home, Server};

/// The mbox spool as an MTA writes it: each message after a `From ` line
/// and followed by a blank line.
fn spool(msgs: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in msgs {
        out.extend_from_slice(b"From mta@example.org Sat Nov 21 06:13:17 2026\n");
        out.extend_from_slice(m);
        out.extend_from_slice(b"\n");
    }
    out
}

fn mbox_home(msgs: &[&[u8]]) -> Home {
    let h = Home::new();
    std::fs::create_dir_all(h.path().join("spool")).expect("mkdir");
    std::fs::create_dir_all(h.path().join("mail")).expect("mkdir");
    std::fs::write(h.path().join("spool/inbox"), spool(msgs)).expect("spool");
    h.fix_owner();
    h
}

fn imapd(h: &Home) -> Server {
    common::mbox_imapd(h)
}

const MSG1: &[u8] = b"From: Alice <alice@example.org>\n\
To: Bob <bob@example.org>\n\
Subject: Hello\n\
Date: Mon, 7 Feb 1994 21:52:25 -0800\n\
Message-ID: <1@example.org>\n\
\n\
Hi Bob,\n\
how are you?\n";

const MSG2: &[u8] = b"From: Carol <carol@example.org>\n\
To: Bob <bob@example.org>\n\
Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?=\n\
Date: Tue, 8 Feb 1994 10:00:00 +0100\n\
MIME-Version: 1.0\n\
Content-Type: multipart/mixed; boundary=\"xyz\"\n\
\n\
--xyz\n\
Content-Type: text/plain; charset=utf-8\n\
Content-Transfer-Encoding: quoted-printable\n\
\n\
Sch=C3=B6ne Gr=C3=BC=C3=9Fe aus K=C3=B6ln\n\
--xyz\n\
Content-Type: application/octet-stream; name=\"a.bin\"\n\
Content-Transfer-Encoding: base64\n\
\n\
AAECAw==\n\
--xyz--\n";

fn home_with_two() -> Home {
    mbox_home(&[MSG1, MSG2])
}

#[test]
fn greeting_capability_noop_logout() {
    let h = mbox_home(&[]);
    let mut s = imapd(&h);
    transcript(
        &mut s,
        r"
        S: * PREAUTH [CAPABILITY IMAP4rev1 {}] Logged in as {}
        C: a1 CAPABILITY
        S: * CAPABILITY IMAP4rev1 IMAP4rev2 LITERAL+ {}
        S: a1 OK Capability completed.
        C: a2 NOOP
        S: a2 OK NOOP completed.
        C: a3 LOGOUT
        S: * BYE Logging out
        S: a3 OK Logout completed.
        ",
    );
    assert_eq!(s.wait(), Some(0));
    assert_eq!(s.stderr(), "", "nothing may reach stderr");
}

#[test]
fn select_examine_status() {
    let h = home_with_two();
    let mut s = imapd(&h);
    transcript(
        &mut s,
        r"
        S: * PREAUTH {}
        C: a1 EXAMINE INBOX
        S: * FLAGS (\Answered \Flagged \Deleted \Seen \Draft)
        S: * OK [PERMANENTFLAGS ()] Read-only mailbox.
        S: * 2 EXISTS
        S: * 2 RECENT
        S: * OK [UNSEEN 1] First unseen.
        S: * OK [UIDVALIDITY {}] UIDs valid
        S: * OK [UIDNEXT 3] Predicted next UID
        S: * OK [MAILBOXID ({})] Ok
        S: a1 OK [READ-ONLY] Examine completed.
        C: a2 SELECT inbox
        S: * OK [CLOSED] Previous mailbox closed.
        S: * FLAGS (\Answered \Flagged \Deleted \Seen \Draft)
        S: * OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft \*)] Flags permitted.
        S: * 2 EXISTS
        S: * 2 RECENT
        S: * OK [UNSEEN 1] First unseen.
        S: * OK [UIDVALIDITY {}] UIDs valid
        S: * OK [UIDNEXT 3] Predicted next UID
        S: * OK [MAILBOXID ({})] Ok
        S: a2 OK [READ-WRITE] Select completed.
        C: a3 STATUS INBOX (MESSAGES RECENT UIDNEXT UNSEEN)
        S: * STATUS INBOX (MESSAGES 2 RECENT 2 UIDNEXT 3 UNSEEN 2)
        S: a3 OK Status completed.
        C: a4 SELECT Nonexistent
        S: * OK [CLOSED] Previous mailbox closed.
        S: a4 NO [NONEXISTENT] {}
        C: a5 FETCH 1 FLAGS
        S: a5 BAD No mailbox selected.
        ",
    );
}

#[test]
fn fetch_items() {
    let h = home_with_two();
    let mut s = imapd(&h);
    transcript(
        &mut s,
        r#"
        S: * PREAUTH {}
        C: a1 SELECT INBOX
        S: {}
        S: {}
        S: {}
        S: {}
        S: {}
        S: {}
        S: {}
        S: * OK [MAILBOXID ({})] Ok
        S: a1 OK [READ-WRITE] Select completed.
        C: a2 FETCH 1 (UID FLAGS RFC822.SIZE)
        S: * 1 FETCH (UID 1 FLAGS (\Recent) RFC822.SIZE 168)
        S: a2 OK Fetch completed.
        C: a3 FETCH 1 ENVELOPE
        S: * 1 FETCH (ENVELOPE ("Mon, 7 Feb 1994 21:52:25 -0800" "Hello" (("Alice" NIL "alice" "example.org")) (("Alice" NIL "alice" "example.org")) (("Alice" NIL "alice" "example.org")) (("Bob" NIL "bob" "example.org")) NIL NIL NIL "<1@example.org>"))
        S: a3 OK Fetch completed.
        C: a4 FETCH 1 BODY.PEEK[HEADER.FIELDS (Subject)]
        S: * 1 FETCH (BODY[HEADER.FIELDS (Subject)] {18}\r\nSubject: Hello\r\n\r\n)
        S: a4 OK Fetch completed.
        C: a5 FETCH 1 BODY[TEXT]
        S: * 1 FETCH (BODY[TEXT] {23}\r\nHi Bob,\r\nhow are you?\r\n FLAGS (\Seen \Recent))
        S: a5 OK Fetch completed.
        C: a6 FETCH 1 BODY.PEEK[TEXT]<4.10>
        S: * 1 FETCH (BODY[TEXT]<4> {10}\r\nob,\r\nhow a)
        S: a6 OK Fetch completed.
        C: a7 UID FETCH 2 (BODYSTRUCTURE)
        S: * 2 FETCH (UID 2 BODYSTRUCTURE (("text" "plain" ("charset" "utf-8") NIL NIL "quoted-printable" 41 0 NIL NIL NIL NIL)("application" "octet-stream" ("name" "a.bin") NIL NIL "base64" 8 NIL NIL NIL NIL) "mixed" ("boundary" "xyz") NIL NIL NIL))
        S: a7 OK Fetch completed.
        C: a8 FETCH 2 (BODY.PEEK[1] BODY.PEEK[2.MIME])
        S: * 2 FETCH (BODY[1] {41}\r\nSch=C3=B6ne Gr=C3=BC=C3=9Fe aus K=C3=B6ln BODY[2.MIME] {{}}\r\nContent-Type: application/octet-stream; name="a.bin"\r\nContent-Transfer-Encoding: base64\r\n\r\n)
        S: a8 OK Fetch completed.
        C: a9 FETCH 1:* INTERNALDATE
        S: * 1 FETCH (INTERNALDATE "{}")
        S: * 2 FETCH (INTERNALDATE "{}")
        S: a9 OK Fetch completed.
        C: a10 FETCH 3 FLAGS
        S: a10 BAD {}
        C: a11 FETCH 1 (BOGUS)
        S: a11 BAD {}
        "#,
    );
}

#[test]
fn store_search_expunge() {
    let h = home_with_two();
    let mut s = imapd(&h);
    transcript(
        &mut s,
        r#"
        S: * PREAUTH {}
        C: a1 SELECT INBOX
        S: {}
        S: {}
        S: {}
        S: {}
        S: {}
        S: {}
        S: {}
        S: * OK [MAILBOXID ({})] Ok
        S: a1 OK [READ-WRITE] Select completed.
        C: a2 STORE 1 +FLAGS (\Flagged $Important)
        S: * FLAGS (\Answered \Flagged \Deleted \Seen \Draft $Important)
        S: * OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft $Important \*)] Flags permitted.
        S: * 1 FETCH (FLAGS (\Flagged $Important \Recent))
        S: a2 OK Store completed.
        C: a3 SEARCH FLAGGED
        S: * SEARCH 1
        S: a3 OK Search completed.
        C: a4 SEARCH KEYWORD $important
        S: * SEARCH 1
        S: a4 OK Search completed.
        C: a5 SEARCH SUBJECT "grüße"
        S: * SEARCH 2
        S: a5 OK Search completed.
        C: a6 SEARCH CHARSET UTF-8 BODY {5+}
        C: Köln
        S: * SEARCH 2
        S: a6 OK Search completed.
        C: a7 UID SEARCH OR FROM alice TO nobody
        S: * SEARCH 1
        S: a7 OK Search completed.
        C: a8 SEARCH CHARSET KOI8-R BODY x
        S: * SEARCH
        S: a8 OK Search completed.
        C: a9 SEARCH CHARSET X-UNKNOWN BODY x
        S: a9 NO [BADCHARSET (US-ASCII UTF-8)] Unsupported charset
        C: a10 SEARCH SENTBEFORE 8-Feb-1994 NOT DELETED
        S: * SEARCH 1
        S: a10 OK Search completed.
        C: a11 STORE 1:2 +FLAGS.SILENT (\Deleted)
        S: a11 OK Store completed.
        C: a12 STORE 2 -FLAGS (\Deleted)
        S: * 2 FETCH (FLAGS (\Recent))
        S: a12 OK Store completed.
        C: a13 EXPUNGE
        S: * 1 EXPUNGE
        S: a13 OK Expunge completed.
        C: a14 FETCH 1 UID
        S: * 1 FETCH (UID 2)
        S: a14 OK Fetch completed.
        "#,
    );
}

// mbox: "/" is the hierarchy separator (as Dovecot and UW-IMAP show mbox
// folders), so "a/b" is a valid name here; "a//b" is the invalid one. A
// mailbox is a file and cannot have children (as in Dovecot's mbox): the
// parent is created as a directory by creating the child, and is \Noselect.
// (The session strips a trailing separator before the store sees it, so
// "CREATE Work/" makes a mailbox file, unlike Dovecot's directory.)
#[test]
fn mailbox_management() {
    let h = home_with_two();
    let mut s = imapd(&h);
    transcript(
        &mut s,
        r#"
        S: * PREAUTH {}
        C: a1 CREATE Work/Projects
        S: a1 OK {}Create completed.
        C: a2 CREATE Work/Projects
        S: a2 NO [ALREADYEXISTS] {}
        C: a3 CREATE "K&AOQ-se"
        S: a3 OK {}Create completed.
        C: a4 LIST "" "*"
        S: * LIST (\HasNoChildren) "/" INBOX
        S: * LIST (\Noinferiors) "/" K&AOQ-se
        S: * LIST (\Noselect \HasChildren) "/" Work
        S: * LIST (\Noinferiors) "/" Work/Projects
        S: a4 OK List completed.
        C: a5 LIST "" "%"
        S: * LIST (\HasNoChildren) "/" INBOX
        S: * LIST (\Noinferiors) "/" K&AOQ-se
        S: * LIST (\Noselect \HasChildren) "/" Work
        S: a5 OK List completed.
        C: a6 LIST "" ""
        S: * LIST (\Noselect) "/" ""
        S: a6 OK List completed.
        C: a7 CREATE Work
        S: a7 NO [ALREADYEXISTS] {}
        C: a8 CREATE "K&Jjo"
        S: a8 NO {}
        C: a9 CREATE "../etc"
        S: a9 NO {}
        C: a10 CREATE "a//b"
        S: a10 NO {}
        C: a11 CREATE "~root"
        S: a11 NO {}
        C: a12 RENAME Work Play
        S: a12 OK Rename completed.
        C: a13 LIST "" "Play*"
        S: * LIST (\Noselect \HasChildren) "/" Play
        S: * LIST (\Noinferiors) "/" Play/Projects
        S: a13 OK List completed.
        C: a14 SUBSCRIBE Play
        S: a14 OK Subscribe completed.
        C: a15 LSUB "" "*"
        S: * LSUB () "/" Play
        S: a15 OK Lsub completed.
        C: a16 UNSUBSCRIBE Play
        S: a16 OK Unsubscribe completed.
        C: a17 LSUB "" "*"
        S: a17 OK Lsub completed.
        C: a18 DELETE Play/Projects
        S: a18 OK Delete completed.
        C: a19 DELETE INBOX
        S: a19 NO {}
        C: a20 RENAME INBOX Old
        S: a20 OK Rename completed.
        C: a21 STATUS Old (MESSAGES)
        S: * STATUS Old (MESSAGES 2)
        S: a21 OK Status completed.
        C: a22 STATUS INBOX (MESSAGES UIDNEXT)
        S: * STATUS INBOX (MESSAGES 0 UIDNEXT 3)
        S: a22 OK Status completed.
        "#,
    );
}

// mbox: a message stored without a final newline gets one (Dovecot does
// the same): RFC822.SIZE 9, not 7. (The INTERNALDATE and its zone are kept
// on the From line: "Thu Mar  5 10:11:12 2020 +0100".)
#[test]
fn append_copy_move() {
    let h = home_with_two();
    let mut s = imapd(&h);
    transcript(
        &mut s,
        r#"
        S: * PREAUTH {}
        C: a1 APPEND Drafts (\Draft) {5+}
        C: hello
        S: a1 NO [TRYCREATE] {}
        C: a2 CREATE Drafts
        S: a2 OK {}Create completed.
        C: a3 APPEND Drafts (\Draft) "05-Mar-2020 10:11:12 +0100" {7}
        S: + {}
        C: Hi\r\nyou
        S: a3 OK [APPENDUID {} 1] Append completed.
        C: a4 SELECT Drafts
        S: {}
        S: {}
        S: * 1 EXISTS
        S: * 1 RECENT
        S: {}
        S: {}
        S: {}
        S: * OK [MAILBOXID ({})] Ok
        S: a4 OK [READ-WRITE] Select completed.
        C: a5 FETCH 1 (FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[])
        S: * 1 FETCH (FLAGS (\Draft \Recent) INTERNALDATE "05-Mar-2020 10:11:12 +0100" RFC822.SIZE 9 BODY[] {9}\r\nHi\r\nyou\r\n)
        S: a5 OK Fetch completed.
        C: a6 SELECT INBOX
        S: * OK [CLOSED] Previous mailbox closed.
        S: {}
        S: {}
        S: {}
        S: {}
        S: {}
        S: {}
        S: {}
        S: * OK [MAILBOXID ({})] Ok
        S: a6 OK [READ-WRITE] Select completed.
        C: a7 COPY 1:2 Drafts
        S: a7 OK [COPYUID {} 1:2 2:3] Copy completed.
        C: a8 UID MOVE 2 Drafts
        S: * OK [COPYUID {} 2 4] Moved UIDs.
        S: * 2 EXPUNGE
        S: a8 OK Move completed.
        C: a9 COPY 1 Nowhere
        S: a9 NO [TRYCREATE] {}
        C: a10 STATUS Drafts (MESSAGES UIDNEXT)
        S: * STATUS Drafts (MESSAGES 4 UIDNEXT 5)
        S: a10 OK Status completed.
        "#,
    );
}

#[test]
fn bad_input_keeps_session() {
    let h = mbox_home(&[]);
    let mut s = imapd(&h);
    transcript(
        &mut s,
        r#"
        S: * PREAUTH {}
        C: a1 FROBNICATE
        S: a1 BAD {}
        C: a2 SELECT
        S: a2 BAD {}
        C: a3 LOGIN a b
        S: a3 BAD {}
        C: a4 NOOP
        S: a4 OK NOOP completed.
        "#,
    );
    // An over-long line is refused and the session goes on.
    let long = format!("a5 NOOP {}", "x".repeat(100_000));
    s.send(&long);
    let l = s.line();
    assert!(l.starts_with("a5 BAD") || l.starts_with("* BAD"), "{l}");
    transcript(&mut s, "C: a6 NOOP\nS: a6 OK NOOP completed.");
    // A literal over the limit is refused before it is read.
    transcript(
        &mut s,
        "C: a7 CREATE {999999999}\nS: a7 BAD {}\nC: a8 NOOP\nS: a8 OK NOOP completed.",
    );
}

#[test]
fn too_many_bad_commands_end_the_session() {
    let h = mbox_home(&[]);
    let mut s = imapd(&h);
    s.line();
    // Pipelined: the server must answer each with BAD, then say BYE and
    // close after IMAP_BAD_COMMANDS_MAX of them.
    let mut all = String::new();
    for i in 0..50 {
        all.push_str(&format!("x{i} NONSENSE\r\n"));
    }
    s.write(all.as_bytes());
    let mut bad = 0;
    let mut bye = false;
    while let Some(l) = s.try_line(std::time::Duration::from_secs(10)) {
        if l.starts_with("* BYE") {
            bye = true;
        } else if l.contains(" BAD ") {
            assert!(!bye, "BAD after BYE: {l}");
            bad += 1;
        }
    }
    assert!(bye, "no BYE after many bad commands");
    assert_eq!(bad, mailaccess::limits::IMAP_BAD_COMMANDS_MAX);
    assert_eq!(s.wait(), Some(0));
}

#[test]
fn appended_and_copied_messages_are_recent() {
    // RFC 3501 6.3.11: \Recent is set on an appended message whatever
    // flags it is given; 6.4.7: a copy SHOULD be \Recent too.
    let h = home_with_two();
    let mut s = imapd(&h);
    transcript(
        &mut s,
        r#"
        S: * PREAUTH {}
        C: a1 SELECT INBOX
        S: {}
        S: {}
        S: {}
        S: * 2 RECENT
        S: {}
        S: {}
        S: {}
        S: * OK [MAILBOXID ({})] Ok
        S: a1 OK [READ-WRITE] Select completed.
        C: a2 APPEND INBOX (\Seen) {3+}
        C: hi!
        S: * 3 EXISTS
        S: * 3 RECENT
        S: a2 OK [APPENDUID {} 3] Append completed.
        C: a3 FETCH 3 FLAGS
        S: * 3 FETCH (FLAGS (\Seen \Recent))
        S: a3 OK Fetch completed.
        C: a4 COPY 1 INBOX
        S: * 4 EXISTS
        S: * 4 RECENT
        S: a4 OK [COPYUID {} 1 4] Copy completed.
        "#,
    );
    // A second session sees none of them as recent: they were this one's.
    let mut t = imapd(&h);
    transcript(
        &mut t,
        "S: * PREAUTH {}\nC: b1 EXAMINE INBOX\nS: {}\nS: {}\nS: * 4 EXISTS\nS: * 0 RECENT",
    );
}
