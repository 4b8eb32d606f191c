//! MULTISEARCH (RFC 7377) against the built `imapd`, on Maildir and mbox:
//! `ESEARCH IN (sources) ...` searches every mailbox the sources name
//! (selected, inboxes, personal, subscribed, subtree, subtree-one,
//! mailboxes), with or without a selected mailbox, and answers each
//! mailbox where something matched with `* ESEARCH (TAG "t" MAILBOX m
//! UIDVALIDITY n) UID ...`; message numbers, `$` and SAVE are refused
//! outside the selected mailbox, and unknown scope options are BAD.

mod common;

use common::{home_on, imapd_on, ok, run, Server, BOTH};

/// The hierarchy separator the server uses.
fn separator(s: &mut Server) -> String {
    let r = run(s, "p", "LIST \"\" \"\"");
    ok(&r, "p");
    // * LIST (\Noselect) "." ""
    r[0].split('"').nth(1).expect("separator").to_string()
}

fn uid_validity(s: &mut Server, name: &str) -> String {
    let r = run(s, "v", &format!("STATUS \"{name}\" (UIDVALIDITY)"));
    ok(&r, "v");
    r[0].rsplit(' ')
        .next()
        .unwrap()
        .trim_end_matches(')')
        .to_string()
}

fn append(s: &mut Server, name: &str, subject: &str) {
    let msg = format!("Subject: {subject}\r\n\r\nbody\r\n");
    let r = run(
        s,
        "a",
        &format!("APPEND \"{name}\" {{{}+}}\r\n{msg}", msg.len()),
    );
    ok(&r, "a");
}

/// The untagged ESEARCH lines of `cmd`, which must end OK, sorted (the
/// order of a subtree's mailboxes is the store's).
fn esearch(s: &mut Server, cmd: &str) -> Vec<String> {
    let r = run(s, "t", cmd);
    ok(&r, "t");
    let mut lines = r[..r.len() - 1].to_vec();
    lines.sort();
    lines
}

fn sorted<const N: usize>(v: [String; N]) -> Vec<String> {
    let mut v = v.to_vec();
    v.sort();
    v
}

#[test]
fn esearch_searches_the_mailboxes_the_sources_name() {
    for b in BOTH {
        eprintln!("on {b:?}");
        let h = home_on(
            b,
            &[
                b"Subject: hello inbox\n\none\n",
                b"Subject: other\n\ntwo\n",
                b"Subject: hello again\n\nthree\n",
            ],
        );
        let mut s = imapd_on(b, &h);
        let r = run(&mut s, "c", "CAPABILITY");
        assert!(r[0].split(' ').any(|w| w == "MULTISEARCH"), "{r:?}");
        let sep = separator(&mut s);
        // An mbox folder is a file and cannot have children: Proj and
        // Proj/Other are parents only.
        let (work, sub, deep) = (
            "Work".to_string(),
            format!("Proj{sep}Sub"),
            format!("Proj{sep}Other{sep}Deep"),
        );
        for name in [&work, &sub, &deep] {
            ok(&run(&mut s, "m", &format!("CREATE \"{name}\"")), "m");
        }
        append(&mut s, &work, "gone");
        append(&mut s, &work, "hello work");
        append(&mut s, &sub, "hello sub");
        append(&mut s, &deep, "hello deep");
        append(&mut s, &deep, "no match");
        // UID 2 of Work becomes message 1: answers must be UIDs.
        ok(&run(&mut s, "x", &format!("SELECT \"{work}\"")), "x");
        ok(&run(&mut s, "x", "STORE 1 +FLAGS (\\Deleted)"), "x");
        ok(&run(&mut s, "x", "CLOSE"), "x");
        let (vi, vw, vs, vd) = (
            uid_validity(&mut s, "INBOX"),
            uid_validity(&mut s, &work),
            uid_validity(&mut s, &sub),
            uid_validity(&mut s, &deep),
        );
        let line = |name: &str, validity: &str, rest: &str| {
            format!("* ESEARCH (TAG \"t\" MAILBOX {name} UIDVALIDITY {validity}) UID {rest}")
        };

        // Authenticated state: every personal mailbox, those that match.
        assert_eq!(
            esearch(&mut s, "ESEARCH IN (personal) SUBJECT hello"),
            sorted([
                line("INBOX", &vi, "ALL 1,3"),
                line("Work", &vw, "ALL 2"),
                line(&sub, &vs, "ALL 1"),
                line(&deep, &vd, "ALL 1"),
            ])
        );
        // subtree-one: the children, not deeper; subtree: all below.
        assert_eq!(
            esearch(
                &mut s,
                "ESEARCH IN (subtree-one Proj) RETURN (MIN COUNT) SUBJECT hello"
            ),
            [line(&sub, &vs, "MIN 1 COUNT 1")]
        );
        assert_eq!(
            esearch(&mut s, "ESEARCH IN (subtree (Work Proj)) RETURN (MAX) ALL"),
            sorted([
                line("Work", &vw, "MAX 2"),
                line(&sub, &vs, "MAX 1"),
                line(&deep, &vd, "MAX 2"),
            ])
        );
        // Named mailboxes, one that does not exist left out; inboxes.
        assert_eq!(
            esearch(
                &mut s,
                "ESEARCH IN (mailboxes (Nope Work) inboxes) SUBJECT hello"
            ),
            sorted([line("INBOX", &vi, "ALL 1,3"), line("Work", &vw, "ALL 2")])
        );
        ok(&run(&mut s, "u", "SUBSCRIBE Work"), "u");
        assert_eq!(
            esearch(&mut s, "ESEARCH IN (subscribed) UID 1:*"),
            [line("Work", &vw, "ALL 2")]
        );
        // Nothing selected: no source, no answer; nothing matched, none.
        assert!(esearch(&mut s, "ESEARCH ALL").is_empty());
        assert!(esearch(&mut s, "ESEARCH IN (personal) SUBJECT absent").is_empty());

        // Selected: the default source, where message numbers, `$` and
        // SAVE mean something.
        ok(&run(&mut s, "s", "SELECT INBOX"), "s");
        assert_eq!(
            esearch(&mut s, "ESEARCH 2:3"),
            [line("INBOX", &vi, "ALL 2:3")]
        );
        assert!(esearch(&mut s, "ESEARCH RETURN (SAVE) SUBJECT hello").is_empty());
        assert_eq!(
            esearch(&mut s, "ESEARCH IN (selected) $"),
            [line("INBOX", &vi, "ALL 1,3")]
        );
        for bad in [
            "ESEARCH IN (personal) 1:2",
            "ESEARCH IN (personal) UID $",
            "ESEARCH IN (personal) RETURN (SAVE) ALL",
            "ESEARCH IN (personal (DEPTH 1)) ALL",
            "ESEARCH IN (everything) ALL",
            "ESEARCH IN () ALL",
        ] {
            let r = run(&mut s, "b", bad);
            assert!(r[0].starts_with("b BAD"), "{bad}: {r:?}");
        }
        ok(&run(&mut s, "l", "LOGOUT"), "l");
    }
}
