//! SEARCHRES (RFC 5182) against the built `imapd`, on Maildir and on mbox:
//! `SEARCH RETURN (SAVE)` keeps the result for `$` in FETCH, STORE, COPY,
//! SEARCH and their UID forms; with MIN or MAX alone only those are kept;
//! an expunged message leaves the saved set; SELECT and a failed SEARCH
//! empty it.

mod common;

use common::{home_on as home, imapd_on as imapd, ok, run, Server, BOTH};

/// The numbers after `* SEARCH`.
fn searched(r: &[String]) -> String {
    r.iter()
        .find(|l| l.starts_with("* SEARCH"))
        .map(|l| l["* SEARCH".len()..].trim().to_string())
        .unwrap_or_default()
}

/// The `UID n` of each FETCH line, in order.
fn fetched_uids(r: &[String]) -> Vec<u32> {
    r.iter()
        .filter(|l| l.contains(" FETCH ("))
        .filter_map(|l| {
            let at = l.find("UID ")? + 4;
            l[at..].split([' ', ')']).next()?.parse().ok()
        })
        .collect()
}

fn uids_of(s: &mut Server, set: &str) -> Vec<u32> {
    let r = run(s, "f", &format!("FETCH {set} (UID)"));
    ok(&r, "f");
    fetched_uids(&r)
}

#[test]
fn saved_results_in_every_command() {
    let msg = b"From: a@example.org\nSubject: s\n\nbody\n".as_slice();
    for b in BOTH {
        let h = home(b, &[msg; 6]);
        let mut s = imapd(b, &h);
        ok(&run(&mut s, "a", "SELECT INBOX"), "a");
        ok(&run(&mut s, "b", "CREATE Other"), "b");
        ok(&run(&mut s, "c", "STORE 2,4,5 +FLAGS (\\Flagged)"), "c");
        // Nothing saved yet: $ names no message.
        assert!(uids_of(&mut s, "$").is_empty(), "{b:?}");

        // SAVE alone answers nothing but OK.
        let r = run(&mut s, "d", "SEARCH RETURN (SAVE) FLAGGED");
        ok(&r, "d");
        assert_eq!(r.len(), 1, "{b:?}: {r:?}");
        assert_eq!(uids_of(&mut s, "$"), [2, 4, 5], "{b:?}");
        let r = run(&mut s, "e", "UID FETCH $ (FLAGS)");
        ok(&r, "e");
        assert_eq!(fetched_uids(&r), [2, 4, 5]);
        ok(&run(&mut s, "g", "STORE $ +FLAGS.SILENT (\\Seen)"), "g");
        assert_eq!(searched(&run(&mut s, "h", "SEARCH SEEN")), "2 4 5");
        assert_eq!(searched(&run(&mut s, "i", "SEARCH $ UID 4:*")), "4 5");
        assert_eq!(
            searched(&run(&mut s, "j", "UID SEARCH OR UID $ 1")),
            "1 2 4 5"
        );
        assert_eq!(uids_of(&mut s, "1,$"), [1, 2, 4, 5]);
        let r = run(&mut s, "k", "COPY $ Other");
        ok(&r, "k");
        let r = run(&mut s, "l", "STATUS Other (MESSAGES)");
        assert!(r[0].ends_with("(MESSAGES 3)"), "{r:?}");

        // MIN and MAX alone keep just those; with ALL, everything.
        let r = run(&mut s, "m", "UID SEARCH RETURN (SAVE MIN MAX) FLAGGED");
        ok(&r, "m");
        assert!(r[0].ends_with("UID MIN 2 MAX 5"), "{r:?}");
        assert_eq!(uids_of(&mut s, "$"), [2, 5]);
        let r = run(&mut s, "n", "SEARCH RETURN (SAVE MIN ALL) FLAGGED");
        ok(&r, "n");
        assert_eq!(uids_of(&mut s, "$"), [2, 4, 5]);

        // An expunged message leaves the set; the others keep their UIDs.
        ok(&run(&mut s, "o", "UID STORE 4 +FLAGS (\\Deleted)"), "o");
        ok(&run(&mut s, "p", "EXPUNGE"), "p");
        assert_eq!(uids_of(&mut s, "$"), [2, 5], "{b:?}");

        // A failed SEARCH ... SAVE empties it.
        let r = run(&mut s, "q", "SEARCH RETURN (SAVE) CHARSET X-NONE FLAGGED");
        assert!(r.last().unwrap().starts_with("q NO [BADCHARSET"), "{r:?}");
        assert!(uids_of(&mut s, "$").is_empty());
        // So does SELECT.
        ok(&run(&mut s, "r", "SEARCH RETURN (SAVE) ALL"), "r");
        assert_eq!(uids_of(&mut s, "$").len(), 5);
        ok(&run(&mut s, "s", "SELECT INBOX"), "s");
        assert!(uids_of(&mut s, "$").is_empty());
    }
}
