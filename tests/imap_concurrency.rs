//! Two sessions on one mailbox, and other programs changing the Maildir
//! under a session: flags, expunges and appends by one are reported to the
//! other, EXPUNGE only where RFC 3501 7.4.1 allows, `\Recent` to one only.

mod common;

use common::{transcript, Home, Server};

const MSG: &[u8] = b"From: a@example.org\nSubject: s\n\nbody\n";

fn selected(h: &Home) -> Server {
    let mut s = Server::imapd(h);
    s.line();
    let r = s.command("s", "SELECT INBOX");
    assert!(r.last().unwrap().starts_with("s OK [READ-WRITE]"), "{r:?}");
    s
}

#[test]
fn changes_by_one_session_reach_the_other() {
    let h = Home::new();
    h.deliver(None, "1.M1.test", MSG);
    h.deliver(None, "2.M2.test", MSG);
    let mut a = selected(&h);
    let mut b = selected(&h);
    // \Recent went to exactly one of them.
    let ra = a.command("r", "SEARCH RECENT");
    let rb = b.command("r", "SEARCH RECENT");
    assert_eq!(
        [ra[0].as_str(), rb[0].as_str()]
            .iter()
            .filter(|l| l.trim_end() == "* SEARCH 1 2")
            .count(),
        1,
        "{ra:?} {rb:?}"
    );
    assert!(
        [ra[0].trim_end(), rb[0].trim_end()].contains(&"* SEARCH"),
        "{ra:?} {rb:?}"
    );

    transcript(
        &mut a,
        r"
        C: a1 STORE 1 +FLAGS.SILENT (\Flagged)
        S: a1 OK Store completed.
        C: a2 APPEND INBOX {4+}
        C: new!
        S: * 3 EXISTS
        S: {}
        S: a2 OK [APPENDUID {} 3] Append completed.
        ",
    );
    transcript(
        &mut b,
        r"
        C: b1 NOOP
        S: * 3 EXISTS
        S: * {} RECENT
        S: * 1 FETCH (UID 1 FLAGS (\Flagged{}))
        S: b1 OK NOOP completed.
        ",
    );
    // An expunge by A is held back from B's FETCH, and given at NOOP.
    transcript(
        &mut a,
        r"
        C: a3 STORE 2 +FLAGS.SILENT (\Deleted)
        S: a3 OK Store completed.
        C: a4 EXPUNGE
        S: * 2 EXPUNGE
        S: a4 OK Expunge completed.
        ",
    );
    let r = b.command("b2", "FETCH 1 (UID)");
    assert!(
        r.iter().all(|l| !l.contains("EXPUNGE")),
        "EXPUNGE during FETCH: {r:?}"
    );
    let r = b.command("b3", "SEARCH ALL");
    assert!(
        r.iter().all(|l| !l.contains("EXPUNGE")),
        "EXPUNGE during SEARCH: {r:?}"
    );
    let r = b.command("b4", "NOOP");
    assert!(r.iter().any(|l| l.trim_end() == "* 2 EXPUNGE"), "{r:?}");
    // Sequence numbers now agree between the two sessions.
    let ua = a.command("u", "FETCH 1:* (UID)");
    let ub = b.command("u", "FETCH 1:* (UID)");
    assert_eq!(ua, ub);
}

#[test]
fn other_programs_changing_the_maildir() {
    let h = Home::new();
    h.deliver(None, "1.M1.test", MSG);
    let mut s = selected(&h);
    // An MTA delivers.
    h.deliver(None, "2.M2.test", MSG);
    transcript(
        &mut s,
        r"
        C: a1 NOOP
        S: * 2 EXISTS
        S: * 2 RECENT
        S: a1 OK NOOP completed.
        ",
    );
    // mutt marks message 1 as read by renaming its file.
    let cur = h.maildir().join("cur");
    let f = std::fs::read_dir(&cur)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("1.M1"))
        .expect("message 1 moved to cur/");
    let name = f.file_name().unwrap().to_string_lossy().into_owned();
    let base = name.split(':').next().unwrap();
    std::fs::rename(&f, cur.join(format!("{base}:2,S"))).unwrap();
    transcript(
        &mut s,
        r"
        C: a2 CHECK
        S: * 1 FETCH (UID 1 FLAGS (\Seen \Recent))
        S: a2 OK CHECK completed.
        ",
    );
    // mutt deletes message 1: EXPUNGE on the next command that allows it.
    std::fs::remove_file(cur.join(format!("{base}:2,S"))).unwrap();
    let r = s.command("a3", "FETCH 1:* UID");
    assert!(r.iter().all(|l| !l.contains("EXPUNGE")), "{r:?}");
    transcript(
        &mut s,
        r"
        C: a4 NOOP
        S: * 1 EXPUNGE
        S: a4 OK NOOP completed.
        C: a5 FETCH 1 (UID)
        S: * 1 FETCH (UID 2)
        S: a5 OK Fetch completed.
        ",
    );
}

#[test]
fn idle_reports_new_mail() {
    let h = Home::new();
    let mut s = selected(&h);
    s.send("i1 IDLE");
    assert!(s.line().starts_with("+ "));
    h.deliver(None, "9.M9.test", MSG);
    let l = s.line();
    assert_eq!(l.trim_end(), "* 1 EXISTS");
    assert_eq!(s.line().trim_end(), "* 1 RECENT");
    s.send("DONE");
    assert_eq!(s.line().trim_end(), "i1 OK Idle completed.");
}

/// A STORE looks at the mailbox under its lock and so takes in what others
/// did meanwhile (another session's flag change, an MTA's delivery): that
/// is still reported, with the STORE or at the next command, on both
/// stores. (The Maildir store once recorded the files as seen after its
/// own change and then stayed quiet about them.)
#[test]
fn what_a_store_takes_in_is_still_reported() {
    for b in common::BOTH {
        let h = common::home_on(b, &[MSG, MSG]);
        let mut a = common::imapd_on(b, &h);
        let r = a.command("s", "SELECT INBOX");
        assert!(r.last().unwrap().starts_with("s OK"), "{r:?}");
        let mut other = common::imapd_on(b, &h);
        other.command("o1", "SELECT INBOX");
        other.command("o2", "STORE 2 +FLAGS (\\Answered)");
        other.command("o3", "LOGOUT");
        match b {
            common::Backend::Maildir => {
                h.deliver(None, "3.M3.test", MSG);
            }
            common::Backend::Mbox => {
                let p = h.path().join("spool/inbox");
                let mut data = std::fs::read(&p).unwrap();
                data.extend_from_slice(b"From mta@example.org Sat Nov 21 06:13:17 2026\n");
                data.extend_from_slice(MSG);
                data.extend_from_slice(b"\n");
                std::fs::write(&p, data).unwrap();
            }
        }
        let mut seen: Vec<String> = a.command("t", "STORE 1 +FLAGS (\\Seen)");
        seen.extend(a.command("n", "NOOP"));
        let text = seen.join("");
        assert!(text.contains("* 3 EXISTS"), "{b:?} {seen:?}");
        assert!(
            seen.iter()
                .any(|l| l.starts_with("* 2 FETCH") && l.contains("\\Answered")),
            "{b:?} {seen:?}"
        );
    }
}
