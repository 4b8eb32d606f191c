//! RFC 7162 CONDSTORE against the built `imapd`, on Maildir and on mbox:
//! the examples of sections 3.1 and 3.2 (SELECT (CONDSTORE), FETCH MODSEQ,
//! CHANGEDSINCE, STORE UNCHANGEDSINCE with MODIFIED, SEARCH MODSEQ, STATUS
//! HIGHESTMODSEQ, ENABLE), and a change by another session arriving with
//! its MODSEQ. Modseq values differ between the stores (an mbox index
//! starts at the time in microseconds), so the tests check how they
//! relate, as a client relies on them, not their numbers.

mod common;

use common::{home_on as home, imapd_on as imapd, ok, run, Backend, Server, BOTH};

const MSG: &[u8] = b"From: a@example.org\nSubject: s\n\nbody\n";

/// The number in `item (n)` or `[item n]` in `line`.
fn after(line: &str, item: &str) -> Option<u64> {
    let at = line.find(item)? + item.len();
    let digits: String = line[at..]
        .trim_start_matches([' ', '('])
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// `* n FETCH` lines of a response, as (n, line).
fn fetches(r: &[String]) -> Vec<(u32, String)> {
    r.iter()
        .filter(|l| l.contains(" FETCH ("))
        .map(|l| (after(l, "*").expect("seq") as u32, l.clone()))
        .collect()
}

/// MODSEQ of message `n` by FETCH.
fn modseq(s: &mut Server, n: u32) -> u64 {
    let r = run(s, "m", &format!("FETCH {n} (MODSEQ)"));
    ok(&r, "m");
    let (_, l) = fetches(&r)
        .into_iter()
        .find(|(k, _)| *k == n)
        .expect("fetch");
    after(&l, "MODSEQ").expect("MODSEQ")
}

fn session(b: Backend, n: usize) -> (common::Home, Server) {
    let msgs = vec![MSG; n];
    let h = home(b, &msgs);
    let s = imapd(b, &h);
    (h, s)
}

#[test]
fn select_fetch_store_search_status_as_rfc_7162_shows_them() {
    for b in BOTH {
        let (_h, mut s) = session(b, 3);
        // 3.1.2.1 / 3.1.8: HIGHESTMODSEQ in SELECT (CONDSTORE).
        let r = run(&mut s, "a", "SELECT INBOX (CONDSTORE)");
        ok(&r, "a");
        let h0 = r
            .iter()
            .find_map(|l| l.strip_prefix("* OK [HIGHESTMODSEQ "))
            .and_then(|l| after(l, ""))
            .unwrap_or_else(|| panic!("{b:?}: no HIGHESTMODSEQ in {r:?}"));
        // 3.1.3: FETCH MODSEQ; none is above HIGHESTMODSEQ.
        let r = run(&mut s, "b", "FETCH 1:* (FLAGS MODSEQ)");
        ok(&r, "b");
        let all: Vec<u64> = fetches(&r)
            .iter()
            .map(|(_, l)| after(l, "MODSEQ").expect("MODSEQ"))
            .collect();
        assert_eq!(all.len(), 3, "{b:?} {r:?}");
        assert_eq!(all.iter().max(), Some(&h0), "{b:?}");
        // A STORE answers FLAGS and the new MODSEQ, above all before.
        let r = run(&mut s, "c", "STORE 1 +FLAGS (\\Flagged)");
        ok(&r, "c");
        let f = fetches(&r);
        assert_eq!(f.len(), 1, "{b:?} {r:?}");
        assert!(f[0].1.contains("\\Flagged"), "{b:?} {r:?}");
        let m1 = after(&f[0].1, "MODSEQ").expect("MODSEQ");
        assert!(m1 > h0, "{b:?}: {m1} <= {h0}");
        // 3.1.4: CHANGEDSINCE names only what changed after it.
        let r = run(&mut s, "d", "UID FETCH 1:* (FLAGS) (CHANGEDSINCE)");
        assert!(r[0].starts_with("d BAD "), "{b:?} {r:?}");
        let r = run(
            &mut s,
            "d",
            &format!("FETCH 1:* (FLAGS) (CHANGEDSINCE {h0})"),
        );
        ok(&r, "d");
        let f = fetches(&r);
        assert_eq!(f.len(), 1, "{b:?} {r:?}");
        assert_eq!(f[0].0, 1);
        assert_eq!(after(&f[0].1, "MODSEQ"), Some(m1), "{b:?} {r:?}");
        // 3.2: UNCHANGEDSINCE passes, .SILENT still tells the MODSEQ.
        let r = run(
            &mut s,
            "e",
            &format!("STORE 2 (UNCHANGEDSINCE {h0}) +FLAGS.SILENT (\\Seen)"),
        );
        assert_eq!(r.last().unwrap(), "e OK Store completed.", "{b:?} {r:?}");
        let f = fetches(&r);
        assert_eq!(f.len(), 1, "{b:?} {r:?}");
        assert!(!f[0].1.contains("FLAGS"), "{b:?} {r:?}");
        let m2 = after(&f[0].1, "MODSEQ").expect("MODSEQ");
        assert!(m2 > m1);
        // Example 4: one passes, one fails: MODIFIED names the UID that
        // failed, and that message is left alone.
        let uid = |s: &mut Server, n: u32| {
            let r = run(s, "u", &format!("FETCH {n} (UID)"));
            after(&fetches(&r)[0].1, "UID").expect("UID")
        };
        let (u1, u2) = (uid(&mut s, 1), uid(&mut s, 2));
        let r = run(
            &mut s,
            "f",
            &format!("UID STORE {u1},{u2} (UNCHANGEDSINCE {m1}) +FLAGS.SILENT (\\Deleted)"),
        );
        assert_eq!(
            r.last().unwrap(),
            &format!("f OK [MODIFIED {u2}] Conditional STORE failed."),
            "{b:?} {r:?}"
        );
        let f = fetches(&r);
        assert_eq!(f.len(), 1, "{b:?} {r:?}");
        assert!(
            f[0].1.contains(&format!("UID {u1} MODSEQ (")),
            "{b:?} {r:?}"
        );
        let m3 = after(&f[0].1, "MODSEQ").expect("MODSEQ");
        assert!(m3 > m2);
        let r = run(&mut s, "g", "FETCH 2 (FLAGS)");
        assert!(!r[0].contains("\\Deleted"), "{b:?} {r:?}");
        // UNCHANGEDSINCE 0 always fails (3.2).
        let r = run(
            &mut s,
            "h",
            "STORE 3 (UNCHANGEDSINCE 0) +FLAGS (\\Answered)",
        );
        assert_eq!(r, ["h OK [MODIFIED 3] Conditional STORE failed."], "{b:?}");
        assert_eq!(
            modseq(&mut s, 3),
            all[2],
            "{b:?}: a failed STORE changes nothing"
        );
        // 3.1.5: SEARCH MODSEQ, with the highest modseq of what it found;
        // the entry name and type are accepted.
        let r = run(&mut s, "i", &format!("SEARCH MODSEQ {m2}"));
        assert_eq!(r[0], format!("* SEARCH 1 2 (MODSEQ {m3})"), "{b:?}");
        let r = run(
            &mut s,
            "j",
            &format!("SEARCH MODSEQ \"/flags/\\\\draft\" all {m2} SEEN"),
        );
        assert_eq!(r[0], format!("* SEARCH 2 (MODSEQ {m2})"), "{b:?}");
        let r = run(&mut s, "k", &format!("SEARCH MODSEQ {}", m3 + 1));
        assert_eq!(r[0], "* SEARCH", "{b:?}: nothing found, no MODSEQ");
        // An implicit \Seen (BODY[] without PEEK) is a change too: its
        // FETCH carries the new MODSEQ (3.2).
        let r = run(&mut s, "s", "FETCH 3 (BODY[TEXT])");
        ok(&r, "s");
        let seen = r
            .iter()
            .find(|l| l.starts_with("* 3 FETCH"))
            .expect("fetch");
        assert!(seen.contains("FLAGS (\\Seen"), "{b:?} {r:?}");
        let m4 =
            after(&r.join(" "), "MODSEQ").unwrap_or_else(|| panic!("{b:?}: no MODSEQ in {r:?}"));
        assert!(m4 > m3, "{b:?}");
        assert_eq!(modseq(&mut s, 3), m4, "{b:?}");
        // 3.1.7: STATUS HIGHESTMODSEQ.
        let r = run(&mut s, "l", "STATUS INBOX (HIGHESTMODSEQ)");
        assert_eq!(
            r[0],
            format!("* STATUS INBOX (HIGHESTMODSEQ {m4})"),
            "{b:?}"
        );
        ok(&run(&mut s, "z", "LOGOUT"), "z");
        assert_eq!(s.wait(), Some(0));
        assert_eq!(s.stderr(), "");
    }
}

/// 3.1: without an enabling command no MODSEQ is sent; the first enabling
/// command with a mailbox selected brings `* OK [HIGHESTMODSEQ]` at once;
/// then another session's change arrives with its MODSEQ (3.2), and a
/// later SELECT says HIGHESTMODSEQ by itself.
#[test]
fn enabling_mid_session_and_changes_of_others() {
    for b in BOTH {
        let (h, mut a) = session(b, 2);
        let r = run(&mut a, "a", "SELECT INBOX");
        ok(&r, "a");
        assert!(!r.iter().any(|l| l.contains("MODSEQ")), "{b:?} {r:?}");
        let r = run(&mut a, "b", "STORE 1 +FLAGS (\\Seen)");
        assert!(!r[0].contains("MODSEQ"), "{b:?} {r:?}");
        let r = run(&mut a, "c", "FETCH 2 (UID MODSEQ)");
        ok(&r, "c");
        let high = after(&r[0], "[HIGHESTMODSEQ").unwrap_or_else(|| panic!("{b:?} {r:?}"));
        assert!(r[0].starts_with("* OK [HIGHESTMODSEQ "), "{b:?} {r:?}");
        assert!(
            after(&r[1], "MODSEQ").is_some_and(|m| m <= high),
            "{b:?} {r:?}"
        );
        // Another session changes message 2.
        let mut other = imapd(b, &h);
        ok(&run(&mut other, "o1", "SELECT INBOX"), "o1");
        ok(&run(&mut other, "o2", "STORE 2 +FLAGS (\\Answered)"), "o2");
        ok(&run(&mut other, "o3", "LOGOUT"), "o3");
        let r = run(&mut a, "d", "NOOP");
        let f = fetches(&r);
        assert_eq!(f.len(), 1, "{b:?} {r:?}");
        assert!(f[0].1.contains("\\Answered"), "{b:?} {r:?}");
        let m = after(&f[0].1, "MODSEQ").unwrap_or_else(|| panic!("{b:?} {r:?}"));
        assert!(m > high, "{b:?}");
        // ENABLE again enables nothing new.
        assert_eq!(run(&mut a, "e", "ENABLE CONDSTORE")[0], "* ENABLED");
        let r = run(&mut a, "f", "EXAMINE INBOX");
        assert!(
            r.contains(&format!("* OK [HIGHESTMODSEQ {m}] Highest")),
            "{b:?} {r:?}"
        );
        ok(&run(&mut a, "z", "LOGOUT"), "z");
    }
}

/// UIDVALIDITY and HIGHESTMODSEQ of a SELECT's response.
fn selected_state(r: &[String]) -> (u64, u64) {
    let code = |name: &str| {
        r.iter()
            .find_map(|l| l.strip_prefix(&format!("* OK [{name} ")))
            .and_then(|l| after(l, ""))
            .unwrap_or_else(|| panic!("no {name} in {r:?}"))
    };
    (code("UIDVALIDITY"), code("HIGHESTMODSEQ"))
}

/// RFC 7162 3.2.5 and 3.2.6: a client that was away learns, in its
/// SELECT (QRESYNC ...) or a UID FETCH (CHANGEDSINCE n VANISHED), what was
/// expunged (VANISHED (EARLIER)) and what changed (FETCH UID FLAGS
/// MODSEQ) since its modseq, only for its known UIDs when it names them;
/// with QRESYNC enabled an EXPUNGE is reported as VANISHED (3.2.10), and
/// reselecting says [CLOSED] (3.2.11).
#[test]
fn qresync_resynchronises_a_client_that_was_away() {
    for b in BOTH {
        let (h, mut s) = session(b, 5);
        assert_eq!(run(&mut s, "a", "ENABLE QRESYNC")[0], "* ENABLED QRESYNC");
        let r = run(&mut s, "b", "SELECT INBOX");
        ok(&r, "b");
        let (v, h0) = selected_state(&r);
        // While the client is away: \Seen on 1, 2 and 4 expunged.
        let mut other = imapd(b, &h);
        ok(&run(&mut other, "o1", "ENABLE QRESYNC"), "o1");
        ok(&run(&mut other, "o2", "SELECT INBOX"), "o2");
        ok(
            &run(&mut other, "o3", "STORE 1 +FLAGS.SILENT (\\Seen)"),
            "o3",
        );
        ok(
            &run(&mut other, "o4", "STORE 2,4 +FLAGS.SILENT (\\Deleted)"),
            "o4",
        );
        let r = run(&mut other, "o5", "EXPUNGE");
        assert_eq!(r, ["* VANISHED 2,4", "o5 OK Expunge completed."], "{b:?}");
        ok(&run(&mut other, "o6", "LOGOUT"), "o6");
        // The first session is told too, as VANISHED.
        let r = run(&mut s, "c", "NOOP");
        assert!(r.contains(&"* VANISHED 2,4".to_string()), "{b:?} {r:?}");
        assert!(!r.iter().any(|l| l.contains("EXPUNGE")), "{b:?} {r:?}");
        ok(&run(&mut s, "d", "LOGOUT"), "d");

        // A new session of the client that was away.
        let mut s = imapd(b, &h);
        let r = run(&mut s, "e", &format!("SELECT INBOX (QRESYNC ({v} {h0}))"));
        assert!(
            r[0].starts_with("e BAD "),
            "{b:?}: QRESYNC not enabled: {r:?}"
        );
        ok(&run(&mut s, "f", "ENABLE QRESYNC"), "f");
        let r = run(&mut s, "g", &format!("SELECT INBOX (QRESYNC ({v} {h0}))"));
        ok(&r, "g");
        assert!(r.contains(&"* 3 EXISTS".to_string()), "{b:?} {r:?}");
        let at = |l: &str| r.iter().position(|x| x.starts_with(l));
        let gone = at("* VANISHED (EARLIER) 2,4").unwrap_or_else(|| panic!("{b:?} {r:?}"));
        let f = fetches(&r);
        assert_eq!(f.len(), 1, "{b:?} {r:?}");
        assert!(
            f[0].1
                .starts_with("* 1 FETCH (UID 1 FLAGS (\\Seen) MODSEQ ("),
            "{b:?} {r:?}"
        );
        assert!(after(&f[0].1, "MODSEQ").expect("MODSEQ") > h0);
        assert!(
            gone < at("* 1 FETCH").expect("fetch"),
            "VANISHED first: {r:?}"
        );
        // Known UIDs narrow both; [CLOSED] for the mailbox left.
        let r = run(
            &mut s,
            "h",
            &format!("SELECT INBOX (QRESYNC ({v} {h0} 3:5))"),
        );
        ok(&r, "h");
        assert_eq!(r[0], "* OK [CLOSED] Previous mailbox closed.", "{b:?}");
        assert!(
            r.contains(&"* VANISHED (EARLIER) 4".to_string()),
            "{b:?} {r:?}"
        );
        assert!(fetches(&r).is_empty(), "{b:?} {r:?}");
        // The same by UID FETCH ... (CHANGEDSINCE n VANISHED).
        let r = run(
            &mut s,
            "i",
            &format!("UID FETCH 1:* (FLAGS) (CHANGEDSINCE {h0} VANISHED)"),
        );
        ok(&r, "i");
        assert_eq!(r[0], "* VANISHED (EARLIER) 2,4", "{b:?} {r:?}");
        assert_eq!(fetches(&r).len(), 1, "{b:?} {r:?}");
        let r = run(
            &mut s,
            "j",
            &format!("UID FETCH 3:5 (FLAGS) (CHANGEDSINCE {h0} VANISHED)"),
        );
        assert_eq!(
            r,
            ["* VANISHED (EARLIER) 4", "j OK Fetch completed."],
            "{b:?}"
        );
        for bad in [
            "UID FETCH 1:* (FLAGS) (VANISHED)".to_string(),
            format!("FETCH 1:* (FLAGS) (CHANGEDSINCE {h0} VANISHED)"),
        ] {
            assert!(
                run(&mut s, "k", &bad)[0].starts_with("k BAD "),
                "{b:?} {bad}"
            );
        }
        // Another UIDVALIDITY: nothing to resynchronise from.
        let r = run(
            &mut s,
            "l",
            &format!("EXAMINE INBOX (QRESYNC ({} {h0}))", v + 1),
        );
        ok(&r, "l");
        assert!(!r.iter().any(|l| l.contains("VANISHED")), "{b:?} {r:?}");
        assert!(fetches(&r).is_empty(), "{b:?} {r:?}");
        // MOVE reports VANISHED too.
        ok(&run(&mut s, "m", "CREATE Trash"), "m");
        ok(&run(&mut s, "n", "SELECT INBOX"), "n");
        let r = run(&mut s, "o", "MOVE 2 Trash");
        ok(&r, "o");
        assert!(r.contains(&"* VANISHED 3".to_string()), "{b:?} {r:?}");
        assert!(!r.iter().any(|l| l.contains("EXPUNGE")), "{b:?} {r:?}");
        ok(&run(&mut s, "z", "LOGOUT"), "z");
        assert_eq!(s.wait(), Some(0));
        assert_eq!(s.stderr(), "");
    }
}

/// RFC 7162 3.2: while an expunge by another session is held back (a
/// FETCH by sequence number may not see EXPUNGE or VANISHED), a flag
/// change of a higher modseq still goes out, and with it an untagged
/// HIGHESTMODSEQ below the expunge's, so that a client cut off then does
/// not resynchronise from past the expunge. The expunge follows at the
/// next command that allows it.
#[test]
fn a_held_back_expunge_keeps_the_told_highestmodseq_below_it() {
    for b in BOTH {
        let (h, mut s) = session(b, 3);
        ok(&run(&mut s, "a", "ENABLE QRESYNC"), "a");
        let r = run(&mut s, "b", "SELECT INBOX");
        let (v, h0) = selected_state(&r);
        let mut other = imapd(b, &h);
        ok(&run(&mut other, "o1", "SELECT INBOX"), "o1");
        ok(
            &run(&mut other, "o2", "STORE 2 +FLAGS.SILENT (\\Deleted)"),
            "o2",
        );
        ok(&run(&mut other, "o3", "EXPUNGE"), "o3");
        ok(
            &run(&mut other, "o4", "STORE 1 +FLAGS.SILENT (\\Flagged)"),
            "o4",
        );
        ok(&run(&mut other, "o5", "LOGOUT"), "o5");
        let r = run(&mut s, "c", "FETCH 3 (UID)");
        ok(&r, "c");
        assert!(!r.iter().any(|l| l.contains("VANISHED")), "{b:?} {r:?}");
        let flagged = r
            .iter()
            .find(|l| l.starts_with("* 1 FETCH") && l.contains("\\Flagged"))
            .unwrap_or_else(|| panic!("{b:?} {r:?}"));
        let m = after(flagged, "MODSEQ").expect("MODSEQ");
        assert!(m > h0 + 1, "{b:?}: the expunge came first");
        let told = r
            .iter()
            .find_map(|l| l.strip_prefix("* OK [HIGHESTMODSEQ "))
            .and_then(|l| after(l, ""))
            .unwrap_or_else(|| panic!("{b:?}: no HIGHESTMODSEQ in {r:?}"));
        assert_eq!(told, h0, "{b:?}: below the held-back expunge");
        // STATUS of the selected mailbox says the same; the expunge
        // follows it, as the command allows.
        let r = run(&mut s, "d", "STATUS INBOX (HIGHESTMODSEQ)");
        assert_eq!(
            r,
            [
                format!("* STATUS INBOX (HIGHESTMODSEQ {h0})"),
                "* VANISHED 2".to_string(),
                "d OK Status completed.".to_string()
            ],
            "{b:?}"
        );
        ok(&run(&mut s, "z", "LOGOUT"), "z");
        // A client cut off after that FETCH resynchronises from what it
        // was told, and misses nothing.
        let mut s = imapd(b, &h);
        ok(&run(&mut s, "e", "ENABLE QRESYNC"), "e");
        let r = run(&mut s, "f", &format!("SELECT INBOX (QRESYNC ({v} {told}))"));
        assert!(
            r.contains(&"* VANISHED (EARLIER) 2".to_string()),
            "{b:?} {r:?}"
        );
        assert!(
            r.iter()
                .any(|l| l.starts_with("* 1 FETCH (UID 1 FLAGS (\\Flagged)")),
            "{b:?} {r:?}"
        );
    }
}

/// pop3d on `h`'s store of backend `b`.
fn pop3d(b: Backend, h: &common::Home) -> Server {
    let loc = format!(
        "mail_location=mbox:{0}/mail:INBOX={0}/spool/inbox",
        h.path().display()
    );
    let extra: Vec<&str> = match b {
        Backend::Maildir => vec![],
        Backend::Mbox => vec!["-o", &loc],
    };
    Server::start(common::server_command(
        env!("CARGO_BIN_EXE_pop3d"),
        h,
        &extra,
    ))
}

/// Another program marks message `n` (1-based) read: mutt renames the
/// Maildir file; for mbox, it rewrites the Status line in place.
fn read_by_another_program(b: Backend, h: &common::Home, n: usize) {
    match b {
        Backend::Maildir => {
            let cur = h.maildir().join("cur");
            let mut names: Vec<_> = std::fs::read_dir(&cur)
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect();
            names.sort();
            let name = &names[n - 1];
            let base = name.split(':').next().unwrap();
            std::fs::rename(cur.join(name), cur.join(format!("{base}:2,S"))).unwrap();
        }
        Backend::Mbox => {
            let path = h.path().join("spool/inbox");
            let mut data = std::fs::read(&path).unwrap();
            let starts: Vec<usize> = data
                .windows(5)
                .enumerate()
                .filter(|(i, w)| *w == b"From " && (*i == 0 || data[i - 1] == b'\n'))
                .map(|(i, _)| i)
                .collect();
            let at = starts[n - 1]
                + data[starts[n - 1]..]
                    .windows(9)
                    .position(|w| w == b"Status: O")
                    .expect("Status: O");
            data[at + 8] = b'R';
            std::fs::write(&path, data).unwrap();
        }
    }
}

/// RFC 7162 3.1 / issue 11: every path that changes a message moves its
/// modseq and the expunge history: POP3 DELE (at QUIT) and RETR (its
/// \Seen), another program marking a message read. A client that
/// resynchronises from before gets exactly those; a client that never
/// enabled CONDSTORE sees no MODSEQ and no VANISHED anywhere.
#[test]
fn every_path_moves_modseqs_and_only_enabled_clients_see_them() {
    for b in BOTH {
        let (h, mut s) = session(b, 4);
        ok(&run(&mut s, "a", "ENABLE QRESYNC"), "a");
        let r = run(&mut s, "b", "SELECT INBOX");
        let (v, h0) = selected_state(&r);
        ok(&run(&mut s, "c", "LOGOUT"), "c");
        // A plain client, never enabling anything, watches.
        let mut plain = imapd(b, &h);
        ok(&run(&mut plain, "p1", "SELECT INBOX"), "p1");

        // POP3: message 1 read, message 2 deleted.
        let mut p = pop3d(b, &h);
        assert!(p.line().starts_with("+OK"));
        for cmd in ["RETR 1", "DELE 2"] {
            p.send(cmd);
            let l = p.line();
            assert!(l.starts_with("+OK"), "{b:?} {cmd}: {l}");
            if cmd.starts_with("RETR") {
                while p.line().trim_end() != "." {}
            }
        }
        p.send("QUIT");
        assert!(p.line().starts_with("+OK"));
        // Another program marks message 3 read (now the second of three).
        read_by_another_program(b, &h, 2);

        let r = run(&mut plain, "p2", "NOOP");
        assert!(
            r.iter()
                .all(|l| !l.contains("MODSEQ") && !l.contains("VANISHED")),
            "{b:?} {r:?}"
        );
        assert!(r.contains(&"* 2 EXPUNGE".to_string()), "{b:?} {r:?}");
        ok(&run(&mut plain, "p3", "STORE 1 +FLAGS (\\Flagged)"), "p3");
        ok(&run(&mut plain, "p4", "STORE 3 +FLAGS (\\Deleted)"), "p4");
        let r = run(&mut plain, "p5", "EXPUNGE");
        assert_eq!(r, ["* 3 EXPUNGE", "p5 OK Expunge completed."], "{b:?}");
        ok(&run(&mut plain, "p6", "LOGOUT"), "p6");

        // The client that was away gets exactly that.
        let mut s = imapd(b, &h);
        ok(&run(&mut s, "d", "ENABLE QRESYNC"), "d");
        let r = run(&mut s, "e", &format!("SELECT INBOX (QRESYNC ({v} {h0}))"));
        ok(&r, "e");
        assert!(
            r.contains(&"* VANISHED (EARLIER) 2,4".to_string()),
            "{b:?} {r:?}"
        );
        let f = fetches(&r);
        assert_eq!(f.len(), 2, "{b:?} {r:?}");
        assert!(
            f[0].1
                .starts_with("* 1 FETCH (UID 1 FLAGS (\\Flagged \\Seen) MODSEQ ("),
            "{b:?} {r:?}"
        );
        assert!(
            f[1].1
                .starts_with("* 2 FETCH (UID 3 FLAGS (\\Seen) MODSEQ ("),
            "{b:?} {r:?}"
        );
        ok(&run(&mut s, "z", "LOGOUT"), "z");
    }
}

/// RFC 7162 3.2: UNCHANGEDSINCE is checked against the message as the
/// mailbox holds it then, not as this session last saw it: a change by
/// another session in between makes the STORE fail for that message
/// (MODIFIED), which is left alone, and the other session's change is
/// reported with its MODSEQ in the same response.
#[test]
fn unchangedsince_sees_another_sessions_change_in_between() {
    for b in BOTH {
        let (h, mut s) = session(b, 2);
        let (_, m1) = selected_state(&run(&mut s, "a", "SELECT INBOX (CONDSTORE)"));
        let mut other = imapd(b, &h);
        ok(&run(&mut other, "o1", "SELECT INBOX"), "o1");
        ok(
            &run(&mut other, "o2", "STORE 1 +FLAGS.SILENT (\\Answered)"),
            "o2",
        );
        ok(&run(&mut other, "o3", "LOGOUT"), "o3");
        let r = run(
            &mut s,
            "b",
            &format!("STORE 1:2 (UNCHANGEDSINCE {m1}) +FLAGS (\\Seen)"),
        );
        assert_eq!(
            r.last().unwrap(),
            "b OK [MODIFIED 1] Conditional STORE failed.",
            "{b:?} {r:?}"
        );
        let f = fetches(&r);
        let one = f
            .iter()
            .find(|(n, _)| *n == 1)
            .map(|(_, l)| l)
            .unwrap_or_else(|| panic!("{b:?}: no news of 1 in {r:?}"));
        assert!(
            one.contains("\\Answered") && !one.contains("\\Seen"),
            "{b:?} {r:?}"
        );
        assert!(after(one, "MODSEQ").expect("MODSEQ") > m1, "{b:?}");
        let two = f
            .iter()
            .find(|(n, _)| *n == 2)
            .map(|(_, l)| l)
            .expect("2 stored");
        assert!(two.contains("\\Seen"), "{b:?} {r:?}");
        ok(&run(&mut s, "z", "LOGOUT"), "z");
    }
}

/// RFC 4731 ESEARCH (SEARCH RETURN (...)) on both stores, and its RFC 7162
/// 3.1.5 MODSEQ: the highest modseq of the messages the answer names.
#[test]
fn esearch_answers_min_max_count_all_and_modseq() {
    for b in BOTH {
        let (_h, mut s) = session(b, 5);
        ok(&run(&mut s, "a", "SELECT INBOX"), "a");
        ok(&run(&mut s, "b", "STORE 2,4 +FLAGS.SILENT (\\Seen)"), "b");
        let r = run(&mut s, "c", "SEARCH RETURN (MIN MAX COUNT) UNSEEN");
        assert_eq!(
            r,
            [
                "* ESEARCH (TAG \"c\") MIN 1 MAX 5 COUNT 3",
                "c OK Search completed."
            ],
            "{b:?}"
        );
        let r = run(&mut s, "d", "UID SEARCH RETURN () UNSEEN");
        assert_eq!(r[0], "* ESEARCH (TAG \"d\") UID ALL 1,3,5", "{b:?}");
        let r = run(&mut s, "e", "SEARCH RETURN (COUNT ALL) DELETED");
        assert_eq!(
            r[0], "* ESEARCH (TAG \"e\") COUNT 0",
            "{b:?}: nothing found"
        );
        // SAVE alone (RFC 5182, tests/imap_searchres.rs) answers only OK.
        let r = run(&mut s, "f", "SEARCH RETURN (SAVE) ALL");
        assert_eq!(r, ["f OK Search completed."], "{b:?}");
        // With MODSEQ: the highest modseq among what the answer names.
        let m2 = modseq(&mut s, 2);
        let m4 = modseq(&mut s, 4);
        let r = run(
            &mut s,
            "g",
            &format!("SEARCH RETURN (ALL) MODSEQ {}", m2.min(m4)),
        );
        assert_eq!(
            r[0],
            format!("* ESEARCH (TAG \"g\") ALL 2,4 MODSEQ {}", m2.max(m4)),
            "{b:?}"
        );
        let r = run(
            &mut s,
            "h",
            &format!("SEARCH RETURN (MIN) MODSEQ {}", m2.min(m4)),
        );
        assert_eq!(
            r[0],
            format!("* ESEARCH (TAG \"h\") MIN 2 MODSEQ {m2}"),
            "{b:?}"
        );
        ok(&run(&mut s, "z", "LOGOUT"), "z");
    }
}
