//! RFC 3501 edge cases, each checked against what the RFC's ABNF and text
//! demand (and, where the RFC leaves room, what Dovecot answers): sequence
//! sets, nested body parts, partial fetches, echo names, macros, read-only
//! mailboxes, CLOSE vs UNSELECT, MULTIAPPEND, large and interrupted APPENDs,
//! STATUS, LSUB, RENAME/DELETE with children, mailbox names, a damaged
//! index, IDLE, NAMESPACE, ID, ENABLE. Every session must leave stderr empty.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use common::{transcript, Home, Server};

const SIMPLE: &[u8] = b"From: Alice <alice@example.org>\n\
To: Bob <bob@example.org>\n\
Subject: Hello\n\
Date: Mon, 7 Feb 1994 21:52:25 -0800\n\
Message-ID: <1@example.org>\n\
\n\
Hi Bob,\n\
how are you?\n";

/// multipart/mixed: 1 text/plain, 2 message/rfc822 whose body is a
/// multipart/mixed of 2.1 message/rfc822 (a plain message) and 2.2
/// text/plain.
const NESTED: &[u8] = b"From: A <a@example.org>\n\
Subject: outer\n\
MIME-Version: 1.0\n\
Content-Type: multipart/mixed; boundary=\"o\"\n\
\n\
--o\n\
Content-Type: text/plain\n\
\n\
first\n\
--o\n\
Content-Type: message/rfc822\n\
\n\
From: B <b@example.org>\n\
Subject: middle\n\
MIME-Version: 1.0\n\
Content-Type: multipart/mixed; boundary=\"m\"\n\
\n\
--m\n\
Content-Type: message/rfc822\n\
\n\
From: C <c@example.org>\n\
Subject: inner\n\
\n\
inner body\n\
\n\
--m\n\
Content-Type: text/plain\n\
\n\
last\n\
--m--\n\
\n\
--o--\n";

fn home_with(messages: &[&[u8]]) -> Home {
    let h = Home::new();
    for (i, m) in messages.iter().enumerate() {
        h.deliver(None, &format!("{}.M{i}P1.test", 1_000_000_001 + i), m);
    }
    h
}

/// Starts imapd, reads the greeting and selects (or examines) `mailbox`.
fn open(h: &Home, cmd: &str) -> Server {
    let mut s = Server::imapd(h);
    assert!(s.line().starts_with("* PREAUTH "));
    let r = s.command("s0", cmd);
    assert!(r.last().unwrap().starts_with("s0 OK"), "{r:?}");
    s
}

/// LOGOUT, a clean exit, and nothing on stderr.
fn finish(mut s: Server) {
    transcript(
        &mut s,
        "C: z9 LOGOUT\nS: * BYE Logging out\nS: z9 OK Logout completed.",
    );
    assert_eq!(s.wait(), Some(0));
    assert_eq!(s.stderr(), "", "nothing may reach stderr");
}

/// Every path under `dir` (files and directories), for before/after checks.
fn tree(dir: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p.clone());
            }
            out.insert(p.strip_prefix(dir).unwrap().display().to_string());
        }
    }
    out
}

/// Message files of a Maildir folder (`cur/`, `new/` and `tmp/`).
fn message_files(folder: &Path) -> Vec<String> {
    let mut v = Vec::new();
    for sub in ["cur", "new", "tmp"] {
        for e in std::fs::read_dir(folder.join(sub)).unwrap() {
            v.push(format!(
                "{sub}/{}",
                e.unwrap().file_name().to_string_lossy()
            ));
        }
    }
    v
}

#[test]
fn sequence_sets_past_the_end_are_bad_uid_sets_are_not() {
    let h = home_with(&[SIMPLE, SIMPLE, SIMPLE]);
    let mut s = open(&h, "SELECT INBOX");
    // RFC 3501 9 seq-number: a number past EXISTS is BAD, also as the far
    // end of a range, in either order; UID ranges past the end are fine.
    transcript(
        &mut s,
        r"
        C: a1 FETCH *:4 UID
        S: a1 BAD Error in IMAP command: Invalid messageset
        C: a2 FETCH 5:2 UID
        S: a2 BAD Error in IMAP command: Invalid messageset
        C: a3 FETCH 4 UID
        S: a3 BAD Error in IMAP command: Invalid messageset
        C: a4 STORE 2:9 +FLAGS (\Flagged)
        S: a4 BAD Error in IMAP command: Invalid messageset
        C: a5 COPY 1,7 INBOX
        S: a5 BAD Error in IMAP command: Invalid messageset
        C: a6 FETCH 3:2 UID
        S: * 2 FETCH (UID 2)
        S: * 3 FETCH (UID 3)
        S: a6 OK Fetch completed.
        C: a7 FETCH *:2,1,1 UID
        S: * 1 FETCH (UID 1)
        S: * 2 FETCH (UID 2)
        S: * 3 FETCH (UID 3)
        S: a7 OK Fetch completed.
        C: a8 UID FETCH 2:99 UID
        S: * 2 FETCH (UID 2)
        S: * 3 FETCH (UID 3)
        S: a8 OK Fetch completed.
        C: a9 UID FETCH 99 UID
        S: a9 OK Fetch completed.
        C: b1 UID FETCH 99:* FLAGS
        S: * 3 FETCH (UID 3 FLAGS (\Recent))
        S: b1 OK Fetch completed.
        C: b2 UID STORE 50:60 +FLAGS (\Flagged)
        S: b2 OK Store completed.
        C: b3 FETCH 0 UID
        S: b3 BAD {}
        C: b4 UID FETCH 0:* UID
        S: b4 BAD {}
        C: b5 FETCH 1 UID
        S: * 1 FETCH (UID 1)
        S: b5 OK Fetch completed.
        ",
    );
    finish(s);
}

#[test]
fn sets_on_an_empty_mailbox() {
    let h = Home::new();
    let mut s = open(&h, "SELECT INBOX");
    // RFC 3501 9: `*` in an empty mailbox is BAD by sequence number; as a
    // UID it names nothing.
    transcript(
        &mut s,
        r"
        C: a1 UID FETCH * UID
        S: a1 OK Fetch completed.
        C: a2 UID FETCH 1:* (FLAGS)
        S: a2 OK Fetch completed.
        C: a3 FETCH * UID
        S: a3 BAD Error in IMAP command: Invalid messageset
        C: a4 FETCH 1:* UID
        S: a4 BAD Error in IMAP command: Invalid messageset
        C: a5 STORE 1 +FLAGS (\Seen)
        S: a5 BAD Error in IMAP command: Invalid messageset
        C: a6 UID STORE 1:* +FLAGS (\Seen)
        S: a6 OK Store completed.
        C: a7 UID COPY 1:* INBOX
        S: a7 OK No messages found. Copy completed.
        C: a8 UID SEARCH ALL
        S: * SEARCH
        S: a8 OK Search completed.
        C: a9 UID EXPUNGE 1:*
        S: a9 OK Expunge completed.
        ",
    );
    finish(s);
}

#[test]
fn nested_message_parts() {
    let h = home_with(&[NESTED]);
    let mut s = open(&h, "EXAMINE INBOX");
    // RFC 3501 6.4.5: HEADER and TEXT of a message/rfc822 part are those of
    // the encapsulated message; 2.1 is the first part of its multipart; a
    // part that does not exist is an empty literal (as Dovecot).
    transcript(
        &mut s,
        r#"
        C: a1 FETCH 1 (BODY[2.1.HEADER] BODY[2.1.TEXT] BODY[2.HEADER])
        S: * 1 FETCH (BODY[2.1.HEADER] {43}\r\nFrom: C <c@example.org>\r\nSubject: inner\r\n\r\n BODY[2.1.TEXT] {12}\r\ninner body\r\n BODY[2.HEADER] {108}\r\nFrom: B <b@example.org>\r\nSubject: middle\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="m"\r\n\r\n)
        S: a1 OK Fetch completed.
        C: a2 FETCH 1 BODY[2.TEXT]
        S: * 1 FETCH (BODY[2.TEXT] {140}\r\n--m\r\nContent-Type: message/rfc822\r\n\r\nFrom: C <c@example.org>\r\nSubject: inner\r\n\r\ninner body\r\n\r\n--m\r\nContent-Type: text/plain\r\n\r\nlast\r\n--m--\r\n)
        S: a2 OK Fetch completed.
        C: a3 FETCH 1 (BODY[2.1] BODY[2.2] BODY[2.1.1] BODY[2.MIME] BODY[2.1.MIME])
        S: * 1 FETCH (BODY[2.1] {55}\r\nFrom: C <c@example.org>\r\nSubject: inner\r\n\r\ninner body\r\n BODY[2.2] {4}\r\nlast BODY[2.1.1] {12}\r\ninner body\r\n BODY[2.MIME] {32}\r\nContent-Type: message/rfc822\r\n\r\n BODY[2.1.MIME] {32}\r\nContent-Type: message/rfc822\r\n\r\n)
        S: a3 OK Fetch completed.
        C: a4 FETCH 1 (BODY[3] BODY[2.3] BODY[1.TEXT] BODY[2.1.HEADER.FIELDS (Subject)])
        S: * 1 FETCH (BODY[3] {0}\r\n BODY[2.3] {0}\r\n BODY[1.TEXT] {0}\r\n BODY[2.1.HEADER.FIELDS (Subject)] {18}\r\nSubject: inner\r\n\r\n)
        S: a4 OK Fetch completed.
        C: a5 FETCH 1 FLAGS
        S: * 1 FETCH (FLAGS (\Recent))
        S: a5 OK Fetch completed.
        "#,
    );
    finish(s);
}

#[test]
fn partial_fetches_beyond_the_end() {
    let h = home_with(&[NESTED]);
    let mut s = open(&h, "EXAMINE INBOX");
    // RFC 3501 6.4.5: an origin past the end gives an empty string; a
    // length past the end is cut; the echo names the origin only.
    transcript(
        &mut s,
        r#"
        C: a1 FETCH 1 (BODY[TEXT]<0.5> BODY[]<10000.5> BODY[2.1.TEXT]<4.100>)
        S: * 1 FETCH (BODY[TEXT]<0> {5}\r\n--o\r\n BODY[]<10000> {0}\r\n BODY[2.1.TEXT]<4> {8}\r\nr body\r\n)
        S: a1 OK Fetch completed.
        C: a2 FETCH 1 (BODY[2.1.TEXT]<11.100> BODY[2.1.TEXT]<12.1> BODY[3]<1.2>)
        S: * 1 FETCH (BODY[2.1.TEXT]<11> {1}\r\n{} BODY[2.1.TEXT]<12> {0}\r\n BODY[3]<1> {0}\r\n)
        S: a2 OK Fetch completed.
        C: a3 FETCH 1 (RFC822.SIZE BODY.PEEK[]<4294967295.4294967295>)
        S: * 1 FETCH (RFC822.SIZE 441 BODY[]<4294967295> {0}\r\n)
        S: a3 OK Fetch completed.
        C: a4 FETCH 1 BODY[]<0.0>
        S: a4 BAD {}
        C: a5 FETCH 1 BODY[]<10>
        S: a5 BAD {}
        "#,
    );
    finish(s);
}

#[test]
fn rfc822_items_echo_their_own_names() {
    let h = home_with(&[SIMPLE, SIMPLE]);
    let mut s = open(&h, "SELECT INBOX");
    // RFC 3501 7.4.2: RFC822.HEADER does not set \Seen (it is
    // BODY.PEEK[HEADER]); RFC822.TEXT and RFC822 do, and the response says
    // so with FLAGS.
    transcript(
        &mut s,
        r#"
        C: a1 FETCH 1 RFC822.HEADER
        S: * 1 FETCH (RFC822.HEADER {{}}\r\nFrom: Alice <alice@example.org>\r\n{}Message-ID: <1@example.org>\r\n\r\n)
        S: a1 OK Fetch completed.
        C: a2 FETCH 1 FLAGS
        S: * 1 FETCH (FLAGS (\Recent))
        S: a2 OK Fetch completed.
        C: a3 FETCH 1 RFC822.TEXT
        S: * 1 FETCH (RFC822.TEXT {23}\r\nHi Bob,\r\nhow are you?\r\n FLAGS (\Seen \Recent))
        S: a3 OK Fetch completed.
        C: a4 FETCH 2 (RFC822.SIZE RFC822)
        S: * 2 FETCH (RFC822.SIZE 168 RFC822 {168}\r\nFrom: Alice{}how are you?\r\n FLAGS (\Seen \Recent))
        S: a4 OK Fetch completed.
        C: a5 FETCH 1:2 (FLAGS RFC822)
        S: * 1 FETCH (FLAGS (\Seen \Recent) RFC822 {168}\r\n{})
        S: * 2 FETCH (FLAGS (\Seen \Recent) RFC822 {168}\r\n{})
        S: a5 OK Fetch completed.
        "#,
    );
    finish(s);
}

#[test]
fn body_bodystructure_and_macros() {
    let h = home_with(&[NESTED, SIMPLE]);
    let mut s = open(&h, "EXAMINE INBOX");
    // BODY is BODYSTRUCTURE without the extension data (RFC 3501 7.4.2);
    // ALL, FAST and FULL expand to their items in the RFC's order (6.4.5).
    transcript(
        &mut s,
        r#"
        C: a1 FETCH 1 (BODY BODYSTRUCTURE)
        S: * 1 FETCH (BODY (("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 5 0)("message" "rfc822" NIL NIL NIL "7bit" 248 (NIL "middle" (("B" NIL "b" "example.org")) (("B" NIL "b" "example.org")) (("B" NIL "b" "example.org")) NIL NIL NIL NIL NIL) (("message" "rfc822" NIL NIL NIL "7bit" 55 (NIL "inner" (("C" NIL "c" "example.org")) (("C" NIL "c" "example.org")) (("C" NIL "c" "example.org")) NIL NIL NIL NIL NIL) ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 12 1) 4)("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 4 0) "mixed") 18) "mixed") BODYSTRUCTURE (("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 5 0 NIL NIL NIL NIL)("message" "rfc822" NIL NIL NIL "7bit" 248 (NIL "middle" (("B" NIL "b" "example.org")) (("B" NIL "b" "example.org")) (("B" NIL "b" "example.org")) NIL NIL NIL NIL NIL) (("message" "rfc822" NIL NIL NIL "7bit" 55 (NIL "inner" (("C" NIL "c" "example.org")) (("C" NIL "c" "example.org")) (("C" NIL "c" "example.org")) NIL NIL NIL NIL NIL) ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 12 1 NIL NIL NIL NIL) 4 NIL NIL NIL NIL)("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 4 0 NIL NIL NIL NIL) "mixed" ("boundary" "m") NIL NIL NIL) 18 NIL NIL NIL NIL) "mixed" ("boundary" "o") NIL NIL NIL))
        S: a1 OK Fetch completed.
        C: a2 FETCH 2 FAST
        S: * 2 FETCH (FLAGS (\Recent) INTERNALDATE "{}" RFC822.SIZE 168)
        S: a2 OK Fetch completed.
        C: a3 FETCH 2 ALL
        S: * 2 FETCH (FLAGS (\Recent) INTERNALDATE "{}" RFC822.SIZE 168 ENVELOPE ("Mon, 7 Feb 1994 21:52:25 -0800" "Hello" (("Alice" NIL "alice" "example.org")) (("Alice" NIL "alice" "example.org")) (("Alice" NIL "alice" "example.org")) (("Bob" NIL "bob" "example.org")) NIL NIL NIL "<1@example.org>"))
        S: a3 OK Fetch completed.
        C: a4 FETCH 2 FULL
        S: * 2 FETCH (FLAGS (\Recent) INTERNALDATE "{}" RFC822.SIZE 168 ENVELOPE ({}) BODY ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 23 2))
        S: a4 OK Fetch completed.
        C: a5 FETCH 2 (FULL)
        S: a5 BAD {}
        C: a6 UID FETCH 2 FAST
        S: * 2 FETCH (UID 2 FLAGS (\Recent) INTERNALDATE "{}" RFC822.SIZE 168)
        S: a6 OK Fetch completed.
        "#,
    );
    finish(s);
}

#[test]
fn examine_never_sets_seen() {
    let h = home_with(&[SIMPLE, SIMPLE]);
    let mut s = open(&h, "EXAMINE INBOX");
    transcript(
        &mut s,
        r"
        C: a1 FETCH 1 (BODY[] RFC822.TEXT BODY[TEXT]<0.3>)
        S: * 1 FETCH (BODY[] {168}\r\n{} RFC822.TEXT {23}\r\n{} BODY[TEXT]<0> {3}\r\nHi )
        S: a1 OK Fetch completed.
        C: a2 FETCH 2 RFC822
        S: * 2 FETCH (RFC822 {168}\r\n{})
        S: a2 OK Fetch completed.
        C: a3 FETCH 1:2 FLAGS
        S: * 1 FETCH (FLAGS (\Recent))
        S: * 2 FETCH (FLAGS (\Recent))
        S: a3 OK Fetch completed.
        C: a4 STATUS INBOX (UNSEEN)
        S: * STATUS INBOX (UNSEEN 2)
        S: a4 OK Status completed.
        C: a5 UNSELECT
        S: a5 OK Unselect completed.
        C: a6 STATUS INBOX (UNSEEN)
        S: * STATUS INBOX (UNSEEN 2)
        S: a6 OK Status completed.
        ",
    );
    finish(s);
    // Not on disk either.
    assert!(message_files(&h.maildir())
        .iter()
        .all(|f| !f.contains(":2,S")));
}

#[test]
fn read_only_mailbox_refuses_changes() {
    let h = home_with(&[SIMPLE, SIMPLE]);
    let before = message_files(&h.maildir());
    let mut s = open(&h, "EXAMINE INBOX");
    transcript(
        &mut s,
        r"
        C: a1 STORE 1 +FLAGS (\Deleted)
        S: a1 NO [READ-ONLY] Mailbox is read-only.
        C: a2 UID STORE 1:* FLAGS.SILENT (\Seen)
        S: a2 NO [READ-ONLY] Mailbox is read-only.
        C: a3 EXPUNGE
        S: a3 NO [READ-ONLY] Mailbox is read-only.
        C: a4 UID EXPUNGE 1:*
        S: a4 NO [READ-ONLY] Mailbox is read-only.
        C: a5 MOVE 1 INBOX
        S: a5 NO [READ-ONLY] Mailbox is read-only.
        C: a6 UID MOVE 1:2 INBOX
        S: a6 NO [READ-ONLY] Mailbox is read-only.
        C: a7 CREATE Copies
        S: a7 OK {}Create completed.
        C: a8 COPY 1:2 Copies
        S: a8 OK [COPYUID {} 1:2 1:2] Copy completed.
        C: a9 FETCH 1:2 FLAGS
        S: * 1 FETCH (FLAGS (\Recent))
        S: * 2 FETCH (FLAGS (\Recent))
        S: a9 OK Fetch completed.
        C: b1 CLOSE
        S: b1 OK Close completed.
        ",
    );
    finish(s);
    assert_eq!(message_files(&h.maildir()), before, "INBOX was changed");
}

#[test]
fn close_expunges_silently_unselect_does_not_expunge() {
    let h = home_with(&[SIMPLE, SIMPLE, SIMPLE]);
    let mut s = open(&h, "SELECT INBOX");
    transcript(
        &mut s,
        r"
        C: a1 STORE 1 +FLAGS.SILENT (\Deleted)
        S: a1 OK Store completed.
        C: a2 UNSELECT
        S: a2 OK Unselect completed.
        C: a3 STATUS INBOX (MESSAGES)
        S: * STATUS INBOX (MESSAGES 3)
        S: a3 OK Status completed.
        C: a4 SELECT INBOX
        S: * FLAGS {}
        S: * OK [PERMANENTFLAGS {}
        S: * 3 EXISTS
        S: * 0 RECENT
        S: * OK [UNSEEN 1] {}
        S: * OK [UIDVALIDITY {}
        S: * OK [UIDNEXT 4] {}
        S: * OK [MAILBOXID ({})] Ok
        S: a4 OK [READ-WRITE] Select completed.
        C: a5 STORE 2 +FLAGS.SILENT (\Deleted)
        S: a5 OK Store completed.
        C: a6 CLOSE
        S: a6 OK Close completed.
        C: a7 FETCH 1 UID
        S: a7 BAD No mailbox selected.
        C: a8 STATUS INBOX (MESSAGES UIDNEXT)
        S: * STATUS INBOX (MESSAGES 1 UIDNEXT 4)
        S: a8 OK Status completed.
        C: a9 CLOSE
        S: a9 BAD No mailbox selected.
        C: b1 UNSELECT
        S: b1 BAD No mailbox selected.
        ",
    );
    finish(s);
}

#[test]
fn multiappend_is_all_or_none() {
    let h = Home::new();
    let mut s = open(&h, "CREATE Box");
    // The second message is empty: nothing of the command may be stored.
    s.write(b"a1 APPEND Box (\\Seen) {3+}\r\nabc {0+}\r\n\r\n");
    transcript(
        &mut s,
        r"
        S: a1 NO Can't save a zero byte message.
        C: a2 STATUS Box (MESSAGES UIDNEXT)
        S: * STATUS Box (MESSAGES 0 UIDNEXT 1)
        S: a2 OK Status completed.
        ",
    );
    let box_dir = h.maildir().join(".Box");
    assert_eq!(message_files(&box_dir), Vec::<String>::new());
    // A good MULTIAPPEND: one command, consecutive UIDs (RFC 3502, 4315).
    s.write(b"a3 APPEND Box (\\Seen) {3+}\r\nabc (\\Flagged) \"05-Mar-2020 10:11:12 +0100\" {4+}\r\ndefg\r\n");
    transcript(
        &mut s,
        r#"
        S: a3 OK [APPENDUID {} 1:2] Append completed.
        C: a4 EXAMINE Box
        S: {}
        S: {}
        S: * 2 EXISTS
        S: * 2 RECENT
        S: * OK [UNSEEN 2] First unseen.
        S: {}
        S: {}
        S: * OK [MAILBOXID ({})] Ok
        S: a4 OK [READ-ONLY] Examine completed.
        C: a5 FETCH 1:2 (FLAGS INTERNALDATE BODY[])
        S: * 1 FETCH (FLAGS (\Seen \Recent) INTERNALDATE "{}" BODY[] {3}\r\nabc)
        S: * 2 FETCH (FLAGS (\Flagged \Recent) INTERNALDATE "05-Mar-2020 10:11:12 +0100" BODY[] {4}\r\ndefg)
        S: a5 OK Fetch completed.
        "#,
    );
    finish(s);
}

#[test]
fn append_to_the_selected_mailbox_reports_exists_first() {
    let h = home_with(&[SIMPLE]);
    let mut s = open(&h, "SELECT INBOX");
    // RFC 3501 6.3.11: the server SHOULD send EXISTS for the new message
    // before the tagged OK.
    transcript(
        &mut s,
        r"
        C: a1 APPEND INBOX {5+}
        C: hello
        S: * 2 EXISTS
        S: * {} RECENT
        S: a1 OK [APPENDUID {} 2] Append completed.
        C: a2 APPEND INBOX {2}
        S: + {}
        C: hi {2+}
        C: yo
        S: * 4 EXISTS
        S: * {} RECENT
        S: a2 OK [APPENDUID {} 3:4] Append completed.
        C: a3 FETCH 2:4 BODY.PEEK[]
        S: * 2 FETCH (BODY[] {5}\r\nhello)
        S: * 3 FETCH (BODY[] {2}\r\nhi)
        S: * 4 FETCH (BODY[] {2}\r\nyo)
        S: a3 OK Fetch completed.
        C: a4 APPEND Nowhere {1+}
        C: x
        S: a4 NO [TRYCREATE] {}
        ",
    );
    finish(s);
}

/// Five megabytes of varied lines, CRLF, with some 8-bit octets.
fn big_message() -> Vec<u8> {
    let mut m = b"From: big@example.org\r\nSubject: big\r\n\r\n".to_vec();
    let mut i: u32 = 0;
    while m.len() < 5 * 1024 * 1024 {
        m.extend_from_slice(
            format!("line {i} {}\u{e4}\r\n", "x".repeat((i % 97) as usize)).as_bytes(),
        );
        i += 1;
    }
    m
}

#[test]
fn large_append_reads_back_byte_for_byte() {
    let h = Home::new();
    let mut s = Server::imapd(&h);
    s.line();
    let msg = big_message();
    s.write(format!("a1 APPEND INBOX {{{}}}\r\n", msg.len()).as_bytes());
    assert!(s.line().starts_with("+ "));
    // In pieces, as a network would deliver it.
    for chunk in msg.chunks(256 * 1024) {
        s.write(chunk);
    }
    s.write(b"\r\n");
    let r = s.until_tagged("a1");
    assert!(r.last().unwrap().starts_with("a1 OK [APPENDUID "), "{r:?}");
    let r = s.command("a2", "EXAMINE INBOX");
    assert!(r.iter().any(|l| l == "* 1 EXISTS\r\n"), "{r:?}");
    let r = s.command("a3", "FETCH 1 (RFC822.SIZE BODY.PEEK[])");
    let head = format!(
        "* 1 FETCH (RFC822.SIZE {n} BODY[] {{{n}}}\r\n",
        n = msg.len()
    );
    let l = &r[0];
    assert!(l.starts_with(&head), "{}", &l[..80.min(l.len())]);
    assert_eq!(&l.as_bytes()[head.len()..head.len() + msg.len()], &msg[..]);
    assert_eq!(&l[head.len() + msg.len()..], ")\r\n");
    // A partial from the middle of the streamed message.
    let r = s.command("a4", "FETCH 1 BODY.PEEK[]<3000000.20>");
    let want = format!(
        "* 1 FETCH (BODY[]<3000000> {{20}}\r\n{})\r\n",
        String::from_utf8_lossy(&msg[3_000_000..3_000_020])
    );
    assert_eq!(r[0], want);
    finish(s);
}

#[test]
fn client_vanishing_mid_append_leaves_nothing() {
    for (literal, sync) in [
        ("{5000000+}", false),
        ("{5000000}", true),
        ("{100+}", false),
        // MULTIAPPEND: the first message is complete, the second is not.
        ("{3+}\r\nabc {5000000+}", false),
    ] {
        let h = home_with(&[SIMPLE]);
        let before = tree(h.path());
        let mut s = Server::imapd(&h);
        s.line();
        transcript(&mut s, "C: a0 SELECT INBOX");
        s.until_tagged("a0");
        s.write(format!("a1 APPEND INBOX (\\Seen) {literal}\r\n").as_bytes());
        if sync {
            assert!(s.line().starts_with("+ "));
        }
        s.write(&[b'x'; 50]);
        s.write(&vec![b'y'; 40_000]);
        s.close_input();
        assert_eq!(s.wait(), Some(0), "{literal}: unclean exit");
        assert_eq!(s.stderr(), "", "{literal}: stderr");
        let mut after = tree(h.path());
        // Selecting INBOX may take the new message to cur/ and write the
        // index; nothing else may appear.
        after.retain(|p| !before.contains(p));
        after.retain(|p| !p.starts_with("Maildir/mailaccess") && !p.starts_with("Maildir/cur/"));
        assert!(after.is_empty(), "{literal}: left behind: {after:?}");
        assert_eq!(
            message_files(&h.maildir()).len(),
            1,
            "{literal}: {:?}",
            message_files(&h.maildir())
        );
    }
}

#[test]
fn status_of_every_item() {
    let h = home_with(&[SIMPLE, SIMPLE]);
    let mut s = Server::imapd(&h);
    s.line();
    transcript(
        &mut s,
        r#"
        C: a1 STATUS INBOX (MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN SIZE)
        S: * STATUS INBOX (MESSAGES 2 RECENT 2 UIDNEXT 3 UIDVALIDITY {} UNSEEN 2 SIZE 336)
        S: a1 OK Status completed.
        C: a2 STATUS inbox (SIZE UNSEEN)
        S: * STATUS INBOX (SIZE 336 UNSEEN 2)
        S: a2 OK Status completed.
        C: a3 STATUS INBOX ()
        S: a3 BAD {}
        C: a4 STATUS INBOX (BOGUS)
        S: a4 BAD {}
        C: a5 STATUS Nowhere (MESSAGES)
        S: a5 NO [NONEXISTENT] {}
        C: a6 SELECT INBOX
        S: {}
        S: {}
        S: {}
        S: * 2 RECENT
        S: {}
        S: {}
        S: {}
        S: * OK [MAILBOXID ({})] Ok
        S: a6 OK [READ-WRITE] Select completed.
        C: a7 STORE 1 +FLAGS.SILENT (\Seen)
        S: a7 OK Store completed.
        C: a8 STATUS INBOX (MESSAGES RECENT UNSEEN)
        S: * STATUS INBOX (MESSAGES 2 RECENT 2 UNSEEN 1)
        S: a8 OK Status completed.
        C: a9 CREATE "Sp ace"
        S: a9 OK {}Create completed.
        C: b1 STATUS "Sp ace" (MESSAGES UIDNEXT SIZE)
        S: * STATUS "Sp ace" (MESSAGES 0 UIDNEXT 1 SIZE 0)
        S: b1 OK Status completed.
        "#,
    );
    finish(s);
}

#[test]
fn lsub_shows_a_noselect_parent_only_where_percent_stops() {
    let h = Home::new();
    let mut s = Server::imapd(&h);
    s.line();
    // RFC 3501 6.3.9: with `%`, a level whose children are subscribed but
    // which is not itself subscribed is listed as \Noselect; with `*` the
    // subscribed names are listed and the parents are not.
    transcript(
        &mut s,
        r#"
        C: a1 CREATE a.b.c
        S: a1 OK {}Create completed.
        C: a2 SUBSCRIBE a.b.c
        S: a2 OK Subscribe completed.
        C: a3 LSUB "" "%"
        S: * LSUB (\Noselect) "." a
        S: a3 OK Lsub completed.
        C: a4 LSUB "" "*"
        S: * LSUB () "." a.b.c
        S: a4 OK Lsub completed.
        C: a5 LSUB "" "a.%"
        S: * LSUB (\Noselect) "." a.b
        S: a5 OK Lsub completed.
        C: a6 LSUB "a." "%"
        S: * LSUB (\Noselect) "." a.b
        S: a6 OK Lsub completed.
        C: a7 LSUB "" "a.b.%"
        S: * LSUB () "." a.b.c
        S: a7 OK Lsub completed.
        C: a8 SUBSCRIBE a
        S: a8 OK Subscribe completed.
        C: a9 LSUB "" "%"
        S: * LSUB () "." a
        S: a9 OK Lsub completed.
        C: b1 LSUB "" "nothing*"
        S: b1 OK Lsub completed.
        "#,
    );
    finish(s);
}

#[test]
fn rename_and_delete_with_children() {
    let h = Home::new();
    let mut s = Server::imapd(&h);
    s.line();
    transcript(
        &mut s,
        r#"
        C: a1 CREATE p
        S: a1 OK {}Create completed.
        C: a2 CREATE p.q.r
        S: a2 OK {}Create completed.
        C: a3 APPEND p {3+}
        C: abc
        S: a3 OK [APPENDUID {} 1] Append completed.
        C: a4 RENAME p z
        S: a4 OK Rename completed.
        C: a5 LIST "" "*"
        S: * LIST (\HasNoChildren) "." INBOX
        S: * LIST (\HasChildren) "." z
        S: * LIST (\Noselect \HasChildren) "." z.q
        S: * LIST (\HasNoChildren) "." z.q.r
        S: a5 OK List completed.
        C: a6 STATUS z (MESSAGES)
        S: * STATUS z (MESSAGES 1)
        S: a6 OK Status completed.
        C: a7 RENAME z z.q.r.s
        S: a7 NO [CANNOT] Can't rename a mailbox under itself.
        C: a8 RENAME z.q.r z
        S: a8 NO [ALREADYEXISTS] {}
        C: a9 DELETE z
        S: a9 OK Delete completed.
        C: b1 LIST "" "*"
        S: * LIST (\HasNoChildren) "." INBOX
        S: * LIST (\Noselect \HasChildren) "." z
        S: * LIST (\Noselect \HasChildren) "." z.q
        S: * LIST (\HasNoChildren) "." z.q.r
        S: b1 OK List completed.
        C: b2 SELECT z
        S: b2 NO {}
        C: b3 DELETE z
        S: b3 NO {}
        C: b4 DELETE z.q.r
        S: b4 OK Delete completed.
        C: b5 LIST "" "*"
        S: * LIST (\HasNoChildren) "." INBOX
        S: * LIST (\Noselect \HasNoChildren) "." z
        S: b5 OK List completed.
        C: b6 DELETE z
        S: b6 OK Delete completed.
        C: b7 LIST "" "*"
        S: * LIST (\HasNoChildren) "." INBOX
        S: b7 OK List completed.
        "#,
    );
    finish(s);
}

#[test]
fn renaming_the_selected_mailbox_keeps_the_session() {
    let h = Home::new();
    let mut s = Server::imapd(&h);
    s.line();
    transcript(
        &mut s,
        r#"
        C: a1 CREATE f.sub
        S: a1 OK {}Create completed.
        C: a2 APPEND f.sub {3+}
        C: abc
        S: a2 OK {}
        C: a3 SELECT f.sub
        S: {}
        S: {}
        S: * 1 EXISTS
        S: {}
        S: {}
        S: {}
        S: {}
        S: * OK [MAILBOXID ({})] Ok
        S: a3 OK [READ-WRITE] Select completed.
        C: a4 RENAME f g
        S: a4 OK Rename completed.
        C: a5 FETCH 1 (UID BODY.PEEK[])
        S: * 1 FETCH (UID 1 BODY[] {3}\r\nabc)
        S: a5 OK Fetch completed.
        C: a6 STATUS f.sub (MESSAGES)
        S: a6 NO [NONEXISTENT] {}
        C: a7 STATUS g.sub (MESSAGES)
        S: * STATUS g.sub (MESSAGES 1)
        S: a7 OK Status completed.
        C: a8 RENAME g.sub h
        S: a8 OK Rename completed.
        C: a9 NOOP
        S: a9 OK NOOP completed.
        C: b1 APPEND h {2+}
        C: de
        S: * 2 EXISTS
        S: {}
        S: b1 OK {}
        "#,
    );
    finish(s);
}

#[test]
fn selected_mailbox_deleted_by_another_session_ends_with_bye() {
    let h = Home::new();
    let mut a = Server::imapd(&h);
    a.line();
    transcript(&mut a, "C: a1 CREATE Box\nS: a1 OK {}Create completed.");
    a.command("a2", "SELECT Box");
    let mut b = Server::imapd(&h);
    b.line();
    transcript(&mut b, "C: b1 DELETE Box\nS: b1 OK Delete completed.");
    finish(b);
    // Whether the command itself succeeds (NOOP) or not (a FETCH of a
    // message that is no longer there), the session ends with BYE.
    transcript(&mut a, "C: a3 FETCH 1 UID\nS: * BYE {}");
    assert_eq!(a.wait(), Some(0));
    assert_eq!(a.stderr(), "");
    let mut a = Server::imapd(&h);
    a.line();
    transcript(&mut a, "C: a1 CREATE Box\nS: a1 OK {}Create completed.");
    a.command("a2", "SELECT Box");
    let mut b = Server::imapd(&h);
    b.line();
    transcript(&mut b, "C: b1 RENAME Box Other\nS: b1 OK Rename completed.");
    finish(b);
    transcript(&mut a, "C: a3 NOOP\nS: * BYE {}");
    assert_eq!(a.wait(), Some(0));
    assert_eq!(a.stderr(), "");
}

#[test]
fn mailbox_names_are_modified_utf7() {
    let h = Home::new();
    let mut s = Server::imapd(&h);
    s.line();
    // RFC 3501 5.1.3: names go out exactly as created, in modified UTF-7.
    transcript(
        &mut s,
        r#"
        C: a1 CREATE "K&AOQ-se"
        S: a1 OK {}Create completed.
        C: a2 CREATE "&ZeVnLIqe-.&ZeVnLIqe- x"
        S: a2 OK {}Create completed.
        C: a3 LIST "" "*"
        S: * LIST (\Noselect \HasChildren) "." &ZeVnLIqe-
        S: * LIST (\HasNoChildren) "." "&ZeVnLIqe-.&ZeVnLIqe- x"
        S: * LIST (\HasNoChildren) "." INBOX
        S: * LIST (\HasNoChildren) "." K&AOQ-se
        S: a3 OK List completed.
        C: a4 STATUS "K&AOQ-se" (MESSAGES UIDNEXT)
        S: * STATUS K&AOQ-se (MESSAGES 0 UIDNEXT 1)
        S: a4 OK Status completed.
        C: a5 LIST "" "K&AOQ-%"
        S: * LIST (\HasNoChildren) "." K&AOQ-se
        S: a5 OK List completed.
        C: a6 SELECT "&ZeVnLIqe-.&ZeVnLIqe- x"
        S: {}
        S: {}
        S: * 0 EXISTS
        S: {}
        S: {}
        S: {}
        S: * OK [MAILBOXID ({})] Ok
        S: a6 OK [READ-WRITE] Select completed.
        C: a7 STATUS "&ZeVnLIqe-.&ZeVnLIqe- x" (MESSAGES)
        S: * STATUS "&ZeVnLIqe-.&ZeVnLIqe- x" (MESSAGES 0)
        S: a7 OK Status completed.
        "#,
    );
    finish(s);
}

#[test]
fn hostile_names_get_no_and_touch_nothing() {
    let h = home_with(&[SIMPLE]);
    let mut s = Server::imapd(&h);
    s.line();
    transcript(&mut s, "C: a0 CREATE Real\nS: a0 OK {}Create completed.");
    let before = tree(h.path());
    let names = [
        "..", "../x", ".", "a/b", "/etc", "~", "~root", "a.~b", "&Jjo", "&AGE-", "&", "a..b", ".x",
        "&-&", "&AOQ", "&A-",
    ];
    let mut n = 0;
    for name in names {
        let q = format!("\"{}\"", name.replace('\\', "\\\\"));
        for cmd in [
            format!("CREATE {q}"),
            format!("SELECT {q}"),
            format!("EXAMINE {q}"),
            format!("DELETE {q}"),
            format!("RENAME Real {q}"),
            format!("RENAME {q} Other"),
            format!("STATUS {q} (MESSAGES)"),
            format!("APPEND {q} {{1+}}\r\nx"),
            format!("SUBSCRIBE {q}"),
        ] {
            n += 1;
            let tag = format!("h{n}");
            let r = s.command(&tag, &cmd);
            let last = r.last().unwrap();
            assert!(
                last.starts_with(&format!("{tag} NO ")) || last.starts_with(&format!("{tag} BAD ")),
                "{cmd}: {r:?}"
            );
            assert!(!r.iter().any(|l| l.starts_with("* BYE")), "{cmd}: {r:?}");
        }
        // The session is still selected nowhere and healthy.
        let r = s.command("p", "NOOP");
        assert_eq!(r, ["p OK NOOP completed.\r\n"], "after {name}");
    }
    let r = s.command("l", "LIST \"\" \"*\"");
    assert_eq!(r.len(), 3, "{r:?}");
    finish(s);
    let mut after = tree(h.path());
    // Opening INBOX for APPEND's sake is no change; creating folders is.
    after.retain(|p| !p.starts_with("Maildir/mailaccess"));
    let mut before = before;
    before.retain(|p| !p.starts_with("Maildir/mailaccess"));
    assert_eq!(before, after);
}

#[test]
fn damaged_index_never_renumbers_under_the_same_uidvalidity() {
    let h = home_with(&[SIMPLE, SIMPLE, SIMPLE, SIMPLE]);
    // Give the messages UIDs 1, 3, 4 (2 expunged), and remember them.
    let mut s = open(&h, "SELECT INBOX");
    transcript(
        &mut s,
        r"
        C: a1 STORE 2 +FLAGS.SILENT (\Deleted)
        S: a1 OK Store completed.
        C: a2 EXPUNGE
        S: * 2 EXPUNGE
        S: a2 OK Expunge completed.
        ",
    );
    finish(s);
    let uids = |h: &Home| -> (u32, Vec<String>) {
        let mut s = Server::imapd(h);
        s.line();
        let r = s.command("x1", "EXAMINE INBOX");
        let v = r
            .iter()
            .find_map(|l| l.strip_prefix("* OK [UIDVALIDITY "))
            .and_then(|l| l.split(']').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no UIDVALIDITY: {r:?}"));
        // Pair each UID with the message's file name via its size and
        // INTERNALDATE: all messages are alike, so the UIDs must match
        // in order.
        let r = s.command("x2", "FETCH 1:* UID");
        finish(s);
        (v, r)
    };
    let (validity, mut good) = uids(&h);
    assert_eq!(
        good,
        [
            "* 1 FETCH (UID 1)\r\n",
            "* 2 FETCH (UID 3)\r\n",
            "* 3 FETCH (UID 4)\r\n",
            "x2 OK Fetch completed.\r\n"
        ]
    );
    let mut last_validity = validity;
    // The main file and its log, each damaged in every way below.
    for name in ["mailaccess.index", "mailaccess.index.log"] {
        // Changes for the log to hold.
        let mut s = open(&h, "SELECT INBOX");
        for (tag, op) in [("f1", "+"), ("f2", "-")] {
            let r = s.command(tag, &format!("STORE 1 {op}FLAGS.SILENT (\\Seen)"));
            assert!(r.last().unwrap().starts_with(&format!("{tag} OK")), "{r:?}");
        }
        finish(s);
        let index = h.maildir().join(name);
        let original = std::fs::read(&index).unwrap();
        let mut garbage: Vec<Vec<u8>> = vec![
            Vec::new(),
            b"\0\0\0\0".to_vec(),
            vec![0xff; 4096],
            b"mailaccess-index 1\nuidvalidity 1\nuidnext 99999999999999999999\n".to_vec(),
        ];
        for cut in [
            1,
            10,
            original.len() / 2,
            original.len() - 20,
            original.len() - 1,
        ] {
            garbage.push(original[..cut].to_vec());
        }
        for at in [original.len() / 2, original.len() - 9, 30] {
            let mut flipped = original.clone();
            flipped[at] ^= 0x02;
            garbage.push(flipped);
        }
        for g in garbage {
            std::fs::write(&index, &g).unwrap();
            h.fix_owner();
            let (v, got) = uids(&h);
            if v == last_validity {
                assert_eq!(got, good, "UIDs changed under UIDVALIDITY {v}");
            } else {
                assert!(v > last_validity, "UIDVALIDITY went back: {v}");
                last_validity = v;
                good = got;
            }
        }
    }
}

#[test]
fn idle_done_and_bad_continuation() {
    let h = home_with(&[SIMPLE]);
    let mut s = open(&h, "SELECT INBOX");
    transcript(
        &mut s,
        r"
        C: a1 IDLE
        S: + idling
        C: DONE
        S: a1 OK Idle completed.
        C: a2 IDLE
        S: + idling
        C: done
        S: a2 OK Idle completed.
        C: a3 IDLE
        S: + idling
        C: a4 NOOP
        S: a3 BAD Expected DONE.
        C: a5 NOOP
        S: a5 OK NOOP completed.
        C: a6 IDLE
        S: + idling
        ",
    );
    h.deliver(None, "1000000099.M9P9.test", SIMPLE);
    transcript(
        &mut s,
        r"
        S: * 2 EXISTS
        S: * 2 RECENT
        C: DONE
        S: a6 OK Idle completed.
        ",
    );
    // The client goes away while idling: a clean end, nothing on stderr.
    transcript(&mut s, "C: a7 IDLE\nS: + idling");
    s.close_input();
    let rest = s.try_line(Duration::from_secs(10));
    assert!(
        rest.as_deref().is_none_or(|l| l.starts_with("* BYE")),
        "{rest:?}"
    );
    assert_eq!(s.wait(), Some(0));
    assert_eq!(s.stderr(), "");
}

#[test]
fn namespace_id_enable_capability() {
    let h = Home::new();
    let mut s = Server::imapd(&h);
    s.line();
    transcript(
        &mut s,
        r#"
        C: a1 NAMESPACE
        S: * NAMESPACE (("" ".")) NIL NIL
        S: a1 OK Namespace completed.
        C: a2 ID NIL
        S: * ID ("name" "mailaccess" "version" "{}")
        S: a2 OK ID completed.
        C: a3 ID ("name" "mutt" "version" NIL)
        S: * ID ("name" "mailaccess" "version" "{}")
        S: a3 OK ID completed.
        C: a4 ID ("name")
        S: a4 BAD {}
        C: a5 ENABLE CONDSTORE UTF8=ACCEPT
        S: * ENABLED CONDSTORE UTF8=ACCEPT
        S: a5 OK ENABLE completed.
        C: a6 ENABLE
        S: a6 BAD {}
        C: a7 CAPABILITY
        S: * CAPABILITY IMAP4rev1 IMAP4rev2 LITERAL+ SASL-IR ID ENABLE IDLE NAMESPACE UNSELECT UIDPLUS MOVE CHILDREN MULTIAPPEND STATUS=SIZE CONDSTORE QRESYNC ESEARCH LIST-EXTENDED LIST-STATUS SPECIAL-USE CREATE-SPECIAL-USE WITHIN SEARCHRES XLIST PREVIEW SORT SORT=DISPLAY ESORT SAVEDATE OBJECTID QUOTA QUOTA=RES-STORAGE QUOTA=RES-MESSAGE UTF8=ACCEPT CATENATE URL-PARTIAL URLAUTH URLAUTH=BINARY NOTIFY COMPRESS=DEFLATE BINARY MULTISEARCH CONTEXT=SEARCH CONTEXT=SORT I18NLEVEL=1 THREAD=ORDEREDSUBJECT THREAD=REFERENCES THREAD=REFS APPENDLIMIT=268435456
        S: a7 OK Capability completed.
        C: a9 ENABLE CONDSTORE
        S: * ENABLED
        S: a9 OK ENABLE completed.
        C: a8 LIST "" ""
        S: * LIST (\Noselect) "." ""
        S: a8 OK List completed.
        "#,
    );
    finish(s);
}

/// Found in review, in `src/imap/frame.rs` (not this file's to fix): a
/// literal whose last octet is CR, followed by a bare LF ending the line,
/// makes `read_line_into` pop the literal's CR and then underflow
/// `buf.len() - start` (debug) or slice past the end (release): the
/// process panics (exit 101) instead of answering. Enable once fixed.
#[test]
fn literal_ending_in_cr_before_bare_lf() {
    let h = Home::new();
    let mut s = Server::imapd(&h);
    s.line();
    s.write(b"a1 CREATE {2+}\r\nK\r\n");
    let l = s.line();
    assert!(l.starts_with("a1 NO ") || l.starts_with("a1 BAD "), "{l}");
    finish(s);
}
