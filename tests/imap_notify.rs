//! NOTIFY (RFC 5465) against the built `imapd`, on Maildir and mbox, with
//! two sessions and an MTA: the session that set NOTIFY is told, without
//! asking, of a delivery into the selected mailbox (EXISTS and the FETCH
//! attributes of MessageNew), of another session's flag change and
//! expunge there (at once with SELECTED, at the next command with
//! SELECTED-DELAYED), of messages added to another mailbox (STATUS), of
//! mailboxes made, renamed and deleted (LIST, OLDNAME, \NonExistent) and
//! subscribed (LIST \Subscribed), during IDLE too; NOTIFY SET STATUS
//! answers at once; NOTIFY NONE stops it all; bad requests get BAD, and
//! unsupported events `NO [BADEVENT]`.
//!
//! Needs root to run the servers as the test user (`make test`).

mod common;

use std::time::Duration;

use common::{deliver_inbox, home_on, imapd_on, ok, run, Backend, Server, BOTH};

const FIRST: &[u8] = b"From: a@example.org\nSubject: first\n\nbody one\n";
const SECOND: &[u8] = b"From: b@example.org\nSubject: second\n\nbody two\n";

/// Reads lines until one for which `want` holds (each bounded by the
/// harness's response timeout); every line read.
fn until(s: &mut Server, what: &str, want: impl Fn(&str) -> bool) -> Vec<String> {
    let mut seen = Vec::new();
    loop {
        let l = s.line();
        let done = want(&l);
        seen.push(l);
        if done {
            return seen;
        }
        assert!(seen.len() < 50, "no {what} in {seen:?}");
    }
}

/// `other` files a message in Other.
fn file_one(other: &mut Server) {
    let msg = "Subject: filed\r\n\r\nx\r\n";
    let r = run(
        other,
        "p",
        &format!("APPEND Other {{{}+}}\r\n{msg}", msg.len()),
    );
    ok(&r, "p");
}

/// The next STATUS of Other that `a` is told.
fn status_of_other(a: &mut Server) -> String {
    let seen = until(a, "STATUS of Other", |l| l.starts_with("* STATUS Other"));
    seen.last().unwrap().clone()
}

/// Nothing arrives unasked for a while.
fn quiet(s: &mut Server) {
    if let Some(l) = s.try_line(Duration::from_millis(600)) {
        panic!("unasked: {l:?}");
    }
}

/// The hierarchy separator, from `LIST "" ""`.
fn separator(s: &mut Server) -> char {
    let r = run(s, "l", "LIST \"\" \"\"");
    r[0].split('"')
        .nth(1)
        .and_then(|x| x.chars().next())
        .unwrap()
}

#[test]
fn notify_tells_of_changes_as_they_happen() {
    for b in BOTH {
        let h = home_on(b, &[FIRST]);
        let mut a = imapd_on(b, &h);
        let mut other = imapd_on(b, &h);
        ok(&run(&mut other, "c", "CREATE Other"), "c");
        let sep = separator(&mut a);
        ok(&run(&mut a, "s", "SELECT INBOX"), "s");
        let r = run(
            &mut a,
            "n",
            "NOTIFY SET (selected (MessageNew (UID BODY.PEEK[HEADER.FIELDS (SUBJECT)]) MessageExpunge FlagChange)) \
             (personal (MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange))",
        );
        assert_eq!(r, ["n OK NOTIFY completed."], "{b:?}");
        quiet(&mut a);

        // An MTA's delivery into the selected mailbox.
        deliver_inbox(b, &h, "1000000009.M9P9.test", SECOND);
        let seen = until(&mut a, "FETCH of the new message", |l| {
            l.starts_with("* 2 FETCH")
        });
        assert!(
            seen.iter().any(|l| l == "* 2 EXISTS\r\n"),
            "{b:?}: {seen:?}"
        );
        let fetch = seen.last().unwrap();
        assert!(fetch.contains("UID 2"), "{fetch}");
        assert!(fetch.contains("Subject: second"), "{fetch}");

        // Another session's flag change and expunge there.
        ok(&run(&mut other, "s", "SELECT INBOX"), "s");
        ok(&run(&mut other, "f", "STORE 1 +FLAGS (\\Seen)"), "f");
        let seen = until(&mut a, "the flag change", |l| l.starts_with("* 1 FETCH"));
        assert!(seen.last().unwrap().contains("\\Seen"), "{b:?}: {seen:?}");
        ok(&run(&mut other, "d", "STORE 1 +FLAGS (\\Deleted)"), "d");
        ok(&run(&mut other, "e", "EXPUNGE"), "e");
        until(&mut a, "the expunge", |l| l == "* 1 EXPUNGE\r\n");

        // Another mailbox: new messages, as STATUS.
        file_one(&mut other);
        assert_eq!(
            status_of_other(&mut a),
            "* STATUS Other (MESSAGES 1 UIDNEXT 2 UNSEEN 1)\r\n",
            "{b:?}"
        );

        // Mailboxes made, renamed, deleted, subscribed and unsubscribed.
        for (cmd, want) in [
            ("CREATE New", "() \"{sep}\" New"),
            ("RENAME New Newer", "() \"{sep}\" Newer (\"OLDNAME\" (New))"),
            ("DELETE Newer", "(\\NonExistent) \"{sep}\" Newer"),
            ("SUBSCRIBE Other", "(\\Subscribed) \"{sep}\" Other"),
            ("UNSUBSCRIBE Other", "() \"{sep}\" Other"),
        ] {
            ok(&run(&mut other, "m", cmd), "m");
            let seen = until(&mut a, cmd, |l| l.starts_with("* LIST"));
            let want = format!("* LIST {}\r\n", want.replace("{sep}", &sep.to_string()));
            assert_eq!(seen.last().unwrap(), &want, "{b:?} {cmd}");
        }

        // During IDLE too.
        a.send("i IDLE");
        assert!(a.line().starts_with("+ "));
        file_one(&mut other);
        assert_eq!(
            status_of_other(&mut a),
            "* STATUS Other (MESSAGES 2 UIDNEXT 3 UNSEEN 2)\r\n",
            "{b:?}"
        );
        a.send("DONE");
        until(&mut a, "the end of IDLE", |l| l.starts_with("i OK"));

        // NOTIFY NONE: nothing more unasked.
        ok(&run(&mut a, "x", "NOTIFY NONE"), "x");
        file_one(&mut other);
        deliver_inbox(b, &h, "1000000010.M10P9.test", FIRST);
        quiet(&mut a);
        ok(&run(&mut a, "z", "LOGOUT"), "z");
        ok(&run(&mut other, "z", "LOGOUT"), "z");
    }
}

#[test]
fn selected_delayed_holds_expunges_back() {
    for b in BOTH {
        let h = home_on(b, &[FIRST, SECOND]);
        let mut a = imapd_on(b, &h);
        let mut other = imapd_on(b, &h);
        ok(&run(&mut a, "s", "SELECT INBOX"), "s");
        let r = run(
            &mut a,
            "n",
            "NOTIFY SET (selected-delayed (MessageNew MessageExpunge))",
        );
        assert_eq!(r, ["n OK NOTIFY completed."]);
        ok(&run(&mut other, "s", "SELECT INBOX"), "s");
        ok(
            &run(&mut other, "d", "STORE 1 +FLAGS.SILENT (\\Deleted)"),
            "d",
        );
        ok(&run(&mut other, "e", "EXPUNGE"), "e");
        deliver_inbox(b, &h, "1000000009.M9P9.test", SECOND);
        // The new message is told at once; the expunge waits.
        let seen = until(&mut a, "EXISTS and RECENT", |l| l.ends_with(" RECENT\r\n"));
        assert!(
            seen.contains(&"* 3 EXISTS\r\n".to_string()),
            "{b:?}: {seen:?}"
        );
        assert!(
            !seen.iter().any(|l| l.contains("EXPUNGE")),
            "{b:?}: {seen:?}"
        );
        quiet(&mut a);
        let r = run(&mut a, "f", "FETCH 1 UID");
        assert!(!r.iter().any(|l| l.contains("EXPUNGE")), "{b:?}: {r:?}");
        let r = run(&mut a, "o", "NOOP");
        assert!(r.contains(&"* 1 EXPUNGE".to_string()), "{b:?}: {r:?}");
    }
}

#[test]
fn notify_set_status_and_refusals() {
    let b = Backend::Maildir;
    let h = home_on(b, &[FIRST]);
    let mut a = imapd_on(b, &h);
    ok(&run(&mut a, "c", "CREATE Other"), "c");
    let r = run(
        &mut a,
        "n",
        "NOTIFY SET STATUS (personal (MessageNew MessageExpunge))",
    );
    assert_eq!(r.len(), 3, "{r:?}");
    assert!(
        r[0].starts_with("* STATUS INBOX (MESSAGES 1 UIDNEXT 2 UIDVALIDITY ")
            && r[0].ends_with(" UNSEEN 1)"),
        "{r:?}"
    );
    assert!(
        r[1].starts_with("* STATUS Other (MESSAGES 0 UIDNEXT 1 UIDVALIDITY ")
            && r[1].ends_with(" UNSEEN 0)"),
        "{r:?}"
    );
    assert_eq!(r[2], "n OK NOTIFY completed.");
    let r = run(
        &mut a,
        "e",
        "NOTIFY SET (personal (MessageNew MessageExpunge AnnotationChange))",
    );
    assert_eq!(
        r,
        ["e NO [BADEVENT (AnnotationChange)] Unsupported NOTIFY events."]
    );
    for bad in [
        "NOTIFY",
        "NOTIFY SET",
        "NOTIFY SET (personal (MessageNew))",
        "NOTIFY SET (personal (FlagChange))",
        "NOTIFY SET (selected (MessageNew MessageExpunge)) (selected-delayed NONE)",
        "NOTIFY SET (personal (MessageNew (UID) MessageExpunge))",
        "NOTIFY SET (nowhere (MessageNew MessageExpunge))",
        "NOTIFY SET (subtree (MessageNew MessageExpunge))",
        "NOTIFY BOGUS",
    ] {
        let r = run(&mut a, "x", bad);
        assert!(r[0].starts_with("x BAD"), "{bad}: {r:?}");
    }
}
