//! IMAP4rev2 (RFC 9051) against the built `imapd`, on Maildir and mbox:
//! advertised beside IMAP4rev1 and switched on by `ENABLE IMAP4rev2`;
//! then no `\Recent` anywhere (FLAGS, SELECT, new mail's EXISTS, STATUS
//! RECENT and the RECENT, NEW and OLD search keys are BAD), no `[UNSEEN
//! n]`, a LIST response at SELECT, SEARCH answered by ESEARCH, STATUS
//! DELETED, UTF-8 mailbox names. A session that does not enable it keeps
//! IMAP4rev1's answers.

mod common;

use common::{home_on, imapd_on, ok, run, Server, BOTH};

fn untagged(s: &mut Server, tag: &str, cmd: &str) -> Vec<String> {
    let r = run(s, tag, cmd);
    ok(&r, tag);
    r[..r.len() - 1].to_vec()
}

#[test]
fn imap4rev2_when_enabled() {
    for b in BOTH {
        eprintln!("on {b:?}");
        let h = home_on(b, &[b"Subject: one\n\nx\n", b"Subject: two\n\nx\n"]);
        let mut s = imapd_on(b, &h);
        let r = run(&mut s, "c", "CAPABILITY");
        let caps: Vec<&str> = r[0].split(' ').collect();
        assert!(
            caps.contains(&"IMAP4rev1") && caps.contains(&"IMAP4rev2"),
            "{r:?}"
        );
        assert_eq!(
            untagged(&mut s, "e", "ENABLE IMAP4rev2"),
            ["* ENABLED IMAP4rev2"]
        );
        ok(&run(&mut s, "m", "CREATE \"\u{e9}t\u{e9}\""), "m");
        let r = untagged(&mut s, "s", "SELECT INBOX");
        assert!(r.contains(&"* 2 EXISTS".to_string()), "{r:?}");
        assert!(
            r.iter()
                .any(|l| l.starts_with("* LIST () ") && l.ends_with(" INBOX")),
            "{r:?}"
        );
        assert!(
            !r.iter()
                .any(|l| l.contains("RECENT") || l.contains("[UNSEEN")),
            "{r:?}"
        );
        assert_eq!(
            untagged(&mut s, "f", "FETCH 1:* FLAGS"),
            ["* 1 FETCH (FLAGS ())", "* 2 FETCH (FLAGS ())"]
        );
        assert_eq!(
            untagged(&mut s, "q", "SEARCH SUBJECT two"),
            ["* ESEARCH (TAG \"q\") ALL 2"]
        );
        assert_eq!(
            untagged(&mut s, "q", "UID SEARCH SUBJECT none"),
            ["* ESEARCH (TAG \"q\") UID"]
        );
        for bad in [
            "SEARCH RECENT",
            "SEARCH NEW",
            "SEARCH OLD",
            "STATUS INBOX (RECENT)",
        ] {
            let r = run(&mut s, "b", bad);
            assert!(r[0].starts_with("b BAD"), "{bad}: {r:?}");
        }
        ok(&run(&mut s, "x", "STORE 2 +FLAGS.SILENT (\\Deleted)"), "x");
        // RFC 9208 DELETED-STORAGE: the RFC822.SIZE of message 2.
        let size = untagged(&mut s, "z", "FETCH 2 RFC822.SIZE")[0]
            .trim_start_matches("* 2 FETCH (RFC822.SIZE ")
            .trim_end_matches(')')
            .to_string();
        assert_eq!(
            untagged(
                &mut s,
                "t",
                "STATUS INBOX (MESSAGES DELETED DELETED-STORAGE)"
            ),
            [format!(
                "* STATUS INBOX (MESSAGES 2 DELETED 1 DELETED-STORAGE {size})"
            )]
        );
        ok(&run(&mut s, "u", "UNSELECT"), "u");
        assert_eq!(
            untagged(&mut s, "t", "STATUS INBOX (DELETED DELETED-STORAGE)"),
            [format!("* STATUS INBOX (DELETED 1 DELETED-STORAGE {size})")]
        );
        ok(&run(&mut s, "s", "SELECT INBOX"), "s");
        // New mail: EXISTS alone.
        common::deliver_inbox(b, &h, "1200000000.M1P1.test", b"Subject: new\n\nx\n");
        let r = untagged(&mut s, "n", "NOOP");
        assert_eq!(r, ["* 3 EXISTS"], "{r:?}");
        // Names in UTF-8.
        let r = untagged(&mut s, "l", "LIST \"\" %");
        assert_eq!(r.len(), 2, "{r:?}");
        assert!(r.iter().any(|l| l.ends_with(" INBOX")), "{r:?}");
        assert!(r.iter().any(|l| l.ends_with(" \"\u{e9}t\u{e9}\"")), "{r:?}");

        // IMAP4rev1 as before in a session that did not enable it.
        let mut old = imapd_on(b, &h);
        let r = untagged(&mut old, "s", "SELECT INBOX");
        assert!(r.iter().any(|l| l.ends_with(" RECENT")), "{r:?}");
        assert!(r.iter().any(|l| l.starts_with("* OK [UNSEEN ")), "{r:?}");
        assert_eq!(
            untagged(&mut old, "q", "SEARCH SUBJECT two"),
            ["* SEARCH 2"]
        );
        ok(&run(&mut old, "r", "SEARCH RECENT"), "r");
    }
}

/// RFC 9051's response codes and SELECT's `[CLOSED]` in an IMAP4rev2
/// session; the commands and FETCH items it dropped (CHECK, LSUB,
/// RFC822.HEADER) still answered, as its Appendix E leaves a server free
/// to do for older clients.
#[test]
fn imap4rev2_codes_and_what_it_dropped() {
    for b in BOTH {
        eprintln!("on {b:?}");
        let h = home_on(b, &[b"Subject: one\n\nx\n"]);
        let mut s = imapd_on(b, &h);
        ok(&run(&mut s, "e", "ENABLE IMAP4rev2"), "e");
        let sep = untagged(&mut s, "l", "LIST \"\" \"\"")[0]
            .split('"')
            .nth(1)
            .unwrap()
            .to_string();
        ok(&run(&mut s, "c", &format!("CREATE top{sep}child")), "c");
        // The parent is \Noselect with a child: NO [HASCHILDREN], and
        // both are still there.
        let r = run(&mut s, "d", "DELETE top");
        assert!(r[0].starts_with("d NO [HASCHILDREN] "), "{r:?}");
        let r = untagged(&mut s, "l", "LIST \"\" top*");
        assert_eq!(r.len(), 2, "{r:?}");
        ok(&run(&mut s, "d", &format!("DELETE top{sep}child")), "d");

        ok(&run(&mut s, "s", "SELECT INBOX"), "s");
        let r = untagged(&mut s, "s", "EXAMINE INBOX");
        assert!(r[0].starts_with("* OK [CLOSED]"), "{r:?}");
        ok(&run(&mut s, "k", "CHECK"), "k");
        ok(&run(&mut s, "k", "LSUB \"\" *"), "k");
        let r = run(&mut s, "f", "FETCH 1 RFC822.HEADER");
        assert!(r[0].starts_with("* 1 FETCH (RFC822.HEADER {"), "{r:?}");
    }
}
