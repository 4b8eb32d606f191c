//! CONTEXT=SEARCH and CONTEXT=SORT (RFC 5267) against the built `imapd`,
//! on Maildir and mbox: `RETURN (PARTIAL low:high)`, and searches kept
//! live with `RETURN (UPDATE)`: flag changes, new messages and expunges,
//! this session's and another's, reach the client as `ADDTO` and
//! `REMOVEFROM` (message numbers, or UIDs for UID SEARCH; position 0 for
//! SEARCH, places in the sorted result for SORT; a removal by expunge
//! before its EXPUNGE), until CANCELUPDATE; past the limit, `NOUPDATE`.

mod common;

use common::{home_on, imapd_on, ok, run, Backend, Server, BOTH};

/// The untagged lines of `cmd`, which must end OK.
fn untagged(s: &mut Server, cmd: &str) -> Vec<String> {
    let r = run(s, "t", cmd);
    ok(&r, "t");
    r[..r.len() - 1].to_vec()
}

/// Only the ESEARCH lines among `lines`.
fn esearch(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter(|l| l.starts_with("* ESEARCH"))
        .cloned()
        .collect()
}

fn home(b: Backend) -> common::Home {
    let msgs: Vec<Vec<u8>> = (1..=5)
        .map(|i| format!("Subject: m{i}\n\nbody {i}\n").into_bytes())
        .collect();
    let refs: Vec<&[u8]> = msgs.iter().map(|m| &m[..]).collect();
    home_on(b, &refs)
}

#[test]
fn partial_results() {
    for b in BOTH {
        eprintln!("on {b:?}");
        let h = home(b);
        let mut s = imapd_on(b, &h);
        let r = run(&mut s, "c", "CAPABILITY");
        for cap in ["CONTEXT=SEARCH", "CONTEXT=SORT"] {
            assert!(r[0].split(' ').any(|w| w == cap), "{cap}: {r:?}");
        }
        ok(&run(&mut s, "s", "SELECT INBOX"), "s");
        for (cmd, want) in [
            (
                "SEARCH RETURN (PARTIAL 2:3) ALL",
                "* ESEARCH (TAG \"t\") PARTIAL (2:3 2:3)",
            ),
            (
                "UID SEARCH RETURN (PARTIAL 4:100 COUNT) ALL",
                "* ESEARCH (TAG \"t\") UID COUNT 5 PARTIAL (4:100 4:5)",
            ),
            (
                "SEARCH RETURN (PARTIAL 10:20) ALL",
                "* ESEARCH (TAG \"t\") PARTIAL (10:20 NIL)",
            ),
            // In the sorted order.
            (
                "SORT RETURN (PARTIAL 2:4) (REVERSE SUBJECT) UTF-8 ALL",
                "* ESEARCH (TAG \"t\") PARTIAL (2:4 4,3,2)",
            ),
            // CONTEXT alone is a hint: ALL.
            (
                "SEARCH RETURN (CONTEXT) 2:3",
                "* ESEARCH (TAG \"t\") ALL 2:3",
            ),
        ] {
            assert_eq!(untagged(&mut s, cmd), [want], "{cmd}");
        }
        for bad in [
            "SEARCH RETURN (PARTIAL 0:2) ALL",
            "SEARCH RETURN (PARTIAL 1) ALL",
            "SEARCH RETURN (PARTIAL -1:-2) ALL",
            "ESEARCH IN (personal) RETURN (UPDATE) ALL",
            "CANCELUPDATE",
            "CANCELUPDATE t",
        ] {
            let r = run(&mut s, "b", bad);
            assert!(r[0].starts_with("b BAD"), "{bad}: {r:?}");
        }
    }
}

#[test]
fn updates_follow_the_mailbox() {
    for b in BOTH {
        eprintln!("on {b:?}");
        let h = home(b);
        let mut s = imapd_on(b, &h);
        ok(&run(&mut s, "s", "SELECT INBOX"), "s");
        // Messages 1 and 2 go: UIDs 3:5 are messages 1:3.
        ok(
            &run(&mut s, "x", "STORE 1:2 +FLAGS.SILENT (\\Deleted)"),
            "x",
        );
        ok(&run(&mut s, "x", "EXPUNGE"), "x");
        let r = run(&mut s, "d", "SEARCH RETURN (UPDATE ALL) UNSEEN");
        assert_eq!(r[0], "* ESEARCH (TAG \"d\") ALL 1:3");
        let r = run(&mut s, "e", "UID SEARCH RETURN (UPDATE COUNT) UNSEEN");
        assert_eq!(r[0], "* ESEARCH (TAG \"e\") UID COUNT 3");
        // m5, m4, m3: messages 3, 2, 1.
        let r = run(
            &mut s,
            "f",
            "SORT RETURN (UPDATE ALL) (REVERSE SUBJECT) UTF-8 UNSEEN",
        );
        assert_eq!(r[0], "* ESEARCH (TAG \"f\") ALL 3,2,1");

        // Our own flag change takes m3 out: at place 3 of the sort.
        let r = untagged(&mut s, "STORE 1 +FLAGS.SILENT (\\Seen)");
        assert_eq!(
            esearch(&r),
            [
                "* ESEARCH (TAG \"d\") REMOVEFROM (0 1)",
                "* ESEARCH (TAG \"e\") UID REMOVEFROM (0 3)",
                "* ESEARCH (TAG \"f\") REMOVEFROM (3 1)",
            ]
        );
        // A new message (m0, message 4, UID 6), after its EXISTS; it
        // sorts last.
        let msg = "Subject: m0\r\n\r\nhi\r\n";
        let r = untagged(&mut s, &format!("APPEND INBOX {{{}+}}\r\n{msg}", msg.len()));
        let exists = r.iter().position(|l| l == "* 4 EXISTS").expect("EXISTS");
        assert_eq!(
            r[exists + 1..]
                .iter()
                .filter(|l| l.starts_with("* ESEARCH"))
                .cloned()
                .collect::<Vec<_>>(),
            [
                "* ESEARCH (TAG \"d\") ADDTO (0 4)",
                "* ESEARCH (TAG \"e\") UID ADDTO (0 6)",
                "* ESEARCH (TAG \"f\") ADDTO (3 4)",
            ]
        );
        // An expunge: removed first, by the numbers it had, then EXPUNGE.
        ok(&run(&mut s, "x", "STORE 2 +FLAGS.SILENT (\\Deleted)"), "x");
        let r = untagged(&mut s, "EXPUNGE");
        assert_eq!(
            r,
            [
                "* ESEARCH (TAG \"d\") REMOVEFROM (0 2)",
                "* ESEARCH (TAG \"e\") UID REMOVEFROM (0 4)",
                "* ESEARCH (TAG \"f\") REMOVEFROM (2 2)",
                "* 2 EXPUNGE",
            ]
        );
        // Another session's change reaches us at the next command.
        ok(&run(&mut s, "c", "CANCELUPDATE \"d\" \"e\""), "c");
        let mut other = imapd_on(b, &h);
        ok(&run(&mut other, "s", "SELECT INBOX"), "s");
        ok(&run(&mut other, "x", "STORE 1 -FLAGS (\\Seen)"), "x");
        ok(&run(&mut other, "l", "LOGOUT"), "l");
        // m5 (2), m3 (1), m0 (3): m3 back at place 2; d and e are gone.
        assert_eq!(
            esearch(&untagged(&mut s, "NOOP")),
            ["* ESEARCH (TAG \"f\") ADDTO (2 1)"]
        );
        assert!(esearch(&untagged(&mut s, "NOOP")).is_empty());
        // A new SELECT ends them all.
        ok(&run(&mut s, "s", "SELECT INBOX"), "s");
        ok(&run(&mut s, "x", "STORE 1:* +FLAGS (\\Seen)"), "x");
        assert!(esearch(&untagged(&mut s, "NOOP")).is_empty());
        ok(&run(&mut s, "l", "LOGOUT"), "l");
    }
}

#[test]
fn too_many_live_searches_get_noupdate() {
    let b = Backend::Maildir;
    let h = home(b);
    let mut s = imapd_on(b, &h);
    ok(&run(&mut s, "s", "SELECT INBOX"), "s");
    let max = mailaccess::limits::SEARCH_CONTEXTS_MAX;
    for i in 0..max {
        let r = run(&mut s, &format!("u{i}"), "SEARCH RETURN (UPDATE) UNSEEN");
        assert!(!r.iter().any(|l| l.contains("NOUPDATE")), "{r:?}");
    }
    let r = run(&mut s, "over", "SEARCH RETURN (UPDATE ALL) UNSEEN");
    assert_eq!(
        r,
        [
            "* ESEARCH (TAG \"over\") ALL 1:5",
            "* NO [NOUPDATE \"over\"] Too many searches kept up to date",
            "over OK Search completed.",
        ]
    );
    // The same tag again replaces its search rather than adding one.
    let r = run(&mut s, "u0", "SEARCH RETURN (UPDATE) UNSEEN");
    assert!(!r.iter().any(|l| l.contains("NOUPDATE")), "{r:?}");
    let r = untagged(&mut s, "STORE 1 +FLAGS.SILENT (\\Seen)");
    assert_eq!(esearch(&r).len(), max, "{r:?}");
}
