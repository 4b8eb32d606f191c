//! OBJECTID (RFC 8474) against the built `imapd`, on Maildir and on mbox:
//! MAILBOXID in CREATE, SELECT and STATUS, kept through RENAME and new
//! after DELETE and CREATE; EMAILID the same for a message, its copy and
//! a later session, and equal to the SHA-256 of its BODY[] cut to 128
//! bits; THREADID the same for the messages of one conversation (from its
//! first Message-ID), in any mailbox; SEARCH EMAILID and THREADID (RFC
//! 8474 4-6).

mod common;

use common::{home_on as home, imapd_on as imapd, ok, run, search, Server, BOTH};
use sha2::{Digest, Sha256};

/// The id in `(...)` after `word` in the lines, if any.
fn id_after(r: &[String], word: &str) -> Option<String> {
    r.iter().find_map(|l| {
        let at = l.find(&format!("{word} ("))? + word.len() + 2;
        Some(l[at..].split(')').next()?.to_string())
    })
}

/// The MAILBOXID in `cmd`'s answer (STATUS, LIST-STATUS), which is OK.
fn status_id(s: &mut Server, cmd: &str) -> String {
    let r = run(s, "s", cmd);
    ok(&r, "s");
    id_after(&r, "MAILBOXID").unwrap_or_else(|| panic!("{r:?}"))
}

fn email_id(s: &mut Server, n: u32) -> String {
    let r = run(s, "e", &format!("FETCH {n} (EMAILID THREADID)"));
    ok(&r, "e");
    let line = r
        .iter()
        .find(|l| l.starts_with(&format!("* {n} FETCH")))
        .unwrap();
    assert!(line.contains("THREADID (T"), "{line}");
    id_after(&r, "EMAILID").unwrap_or_else(|| panic!("{r:?}"))
}

/// "M" and the hex of the first 16 octets of the SHA-256 of BODY[].
fn expected_email_id(s: &mut Server, n: u32) -> String {
    let r = s.command_bytes("b", &format!("FETCH {n} BODY.PEEK[]"));
    let line = r.iter().find(|l| l.starts_with(b"* ")).expect("FETCH");
    let open = line.iter().position(|&b| b == b'{').unwrap();
    let close = open + line[open..].iter().position(|&b| b == b'}').unwrap();
    let len: usize = std::str::from_utf8(&line[open + 1..close])
        .unwrap()
        .parse()
        .unwrap();
    let body = &line[close + 3..close + 3 + len];
    let sum = Sha256::digest(body);
    let hex: String = sum[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("M{hex}")
}

#[test]
fn mailbox_and_email_ids() {
    for b in BOTH {
        let h = home(
            b,
            &[
                b"Subject: one\r\n\r\nfirst\r\n",
                b"Subject: two\r\n\r\nsecond\r\n",
            ],
        );
        let mut s = imapd(b, &h);
        let r = run(&mut s, "c", "CAPABILITY");
        assert!(r[0].split(' ').any(|w| w == "OBJECTID"), "{r:?}");

        // MAILBOXID: CREATE says it, STATUS and SELECT say the same.
        let r = run(&mut s, "c", "CREATE Foo");
        ok(&r, "c");
        let foo = id_after(&r, "[MAILBOXID").unwrap_or_else(|| panic!("{b:?} {r:?}"));
        assert!(
            foo.len() <= 255
                && foo
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
        );
        assert_eq!(status_id(&mut s, "STATUS Foo (MESSAGES MAILBOXID)"), foo);
        let r = run(&mut s, "x", "SELECT INBOX");
        ok(&r, "x");
        let inbox = id_after(&r, "[MAILBOXID").unwrap_or_else(|| panic!("{r:?}"));
        assert_ne!(inbox, foo);
        assert_eq!(status_id(&mut s, "STATUS INBOX (MAILBOXID)"), inbox);
        // RENAME keeps it; a new mailbox of an old name gets a new one.
        ok(&run(&mut s, "r", "RENAME Foo Bar"), "r");
        assert_eq!(status_id(&mut s, "STATUS Bar (MAILBOXID)"), foo, "{b:?}");
        ok(&run(&mut s, "d", "DELETE Bar"), "d");
        let r = run(&mut s, "c", "CREATE Bar");
        let bar = id_after(&r, "[MAILBOXID").unwrap_or_else(|| panic!("{r:?}"));
        assert_ne!(bar, foo);
        // LIST-STATUS carries it too.
        let listed = status_id(&mut s, "LIST \"\" Bar RETURN (STATUS (MAILBOXID))");
        assert_eq!(listed, bar);
        let r = run(&mut s, "s", "STATUS Nowhere (MAILBOXID)");
        assert!(r.last().unwrap().starts_with("s NO"), "{r:?}");

        // EMAILID: what the content says, different for different mail,
        // the same after a flag change, in a copy and in a later session.
        let one = email_id(&mut s, 1);
        let two = email_id(&mut s, 2);
        assert_ne!(one, two);
        assert_eq!(one, expected_email_id(&mut s, 1), "{b:?}");
        ok(&run(&mut s, "t", "STORE 1 +FLAGS (\\Flagged $Work)"), "t");
        assert_eq!(email_id(&mut s, 1), one);
        assert_eq!(search(&mut s, &format!("EMAILID {one}")), "1");
        assert_eq!(
            search(&mut s, &format!("OR EMAILID {one} EMAILID {two}")),
            "1 2"
        );
        assert_eq!(search(&mut s, "EMAILID M0"), "");
        assert_eq!(search(&mut s, "THREADID T1"), "");
        ok(&run(&mut s, "y", "COPY 1 Bar"), "y");
        ok(&run(&mut s, "x", "SELECT Bar"), "x");
        assert_eq!(email_id(&mut s, 1), one, "{b:?}");
        for bad in ["EMAILID \"M 1\"", "THREADID \"\"", "EMAILID"] {
            let r = run(&mut s, "z", &format!("SEARCH {bad}"));
            assert!(r.last().unwrap().starts_with("z BAD"), "{bad}: {r:?}");
        }
        drop(s);
        let mut s = imapd(b, &h);
        let r = run(&mut s, "x", "EXAMINE INBOX");
        assert_eq!(
            id_after(&r, "[MAILBOXID").as_deref(),
            Some(&inbox[..]),
            "{r:?}"
        );
        assert_eq!(email_id(&mut s, 1), one);
        assert_eq!(email_id(&mut s, 2), two);
    }
}

/// "T" and the hex of the first 16 octets of the SHA-256 of `root`.
fn expected_thread_id(root: &[u8]) -> String {
    let hex: String = Sha256::digest(root)[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("T{hex}")
}

fn thread_id(s: &mut Server, n: u32) -> String {
    let r = run(s, "t", &format!("FETCH {n} THREADID"));
    ok(&r, "t");
    id_after(&r, "THREADID").unwrap_or_else(|| panic!("{r:?}"))
}

#[test]
fn thread_ids_follow_the_conversation() {
    for b in BOTH {
        let h = home(
            b,
            &[
                b"Message-ID: <a@example.org>\nSubject: start\n\nx\n",
                b"Message-ID: <b@example.org>\nIn-Reply-To: <a@example.org>\n\
References: <a@example.org>\nSubject: Re: start\n\nx\n",
                b"Message-ID: <c@example.org>\nReferences: <a@example.org>\n\t<b@example.org>\n\
Subject: Re: start\n\nx\n",
                b"Message-ID: <d@example.org>\nSubject: other\n\nx\n",
                b"Subject: no ids\n\nx\n",
                // Only its parent named, without References.
                b"Message-ID: <f@example.org>\nIn-Reply-To: <d@example.org>\nSubject: Re: other\n\nx\n",
            ],
        );
        let mut s = imapd(b, &h);
        ok(&run(&mut s, "x", "SELECT INBOX"), "x");
        let a = expected_thread_id(b"a@example.org");
        for n in 1..=3 {
            assert_eq!(thread_id(&mut s, n), a, "{b:?} {n}");
        }
        let d = expected_thread_id(b"d@example.org");
        assert_eq!(thread_id(&mut s, 4), d, "{b:?}");
        assert_eq!(thread_id(&mut s, 6), d, "{b:?}");
        // No ids: a thread of its own, named from its EMAILID.
        let e = email_id(&mut s, 5);
        assert_eq!(
            thread_id(&mut s, 5),
            expected_thread_id(e.as_bytes()),
            "{b:?}"
        );
        assert_eq!(search(&mut s, &format!("THREADID {a}")), "1 2 3", "{b:?}");
        assert_eq!(
            search(&mut s, &format!("NOT THREADID {a}")),
            "4 5 6",
            "{b:?}"
        );
        // A copy elsewhere is in the same thread.
        ok(&run(&mut s, "c", "CREATE Kept"), "c");
        ok(&run(&mut s, "c", "COPY 2 Kept"), "c");
        ok(&run(&mut s, "x", "SELECT Kept"), "x");
        assert_eq!(thread_id(&mut s, 1), a, "{b:?}");
    }
}
