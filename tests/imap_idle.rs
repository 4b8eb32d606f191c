//! IDLE woken by inotify(7): a delivery into `new/`, an MTA's append to an
//! mbox and another session's flag change reach an idling client at once,
//! long before the look IDLE also takes every 2 seconds
//! (`IDLE_CHECK_INTERVAL`): each is asserted to arrive within 1 second of
//! the change made right after IDLE began, which only the watch can do.
//! Latency itself is measured in `bench/idle_bench.py`, beside Dovecot.

mod common;

use std::io::Write;
use std::time::Duration;

use common::{home_on, imapd_on, run, Backend, Home, Server, BOTH};

const MSG: &[u8] = b"From: a@example.org\nSubject: hi\n\nbody\n";

/// Well before the 2 s look: only the watch gets the news there in time.
const SOON: Duration = Duration::from_millis(1000);

/// Adds a message the way an MTA does: Maildir tmp/ then new/; mbox under
/// the dotlock, appended at the end.
fn deliver(b: Backend, h: &Home, n: usize) {
    match b {
        Backend::Maildir => {
            h.deliver(None, &format!("{}.M{n}P9.test", 1_700_000_000 + n), MSG);
        }
        Backend::Mbox => {
            let p = h.path().join("spool/inbox");
            let mut f = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
            f.write_all(b"From mta@example.org Sat Nov 21 06:13:17 2026\n")
                .unwrap();
            f.write_all(MSG).unwrap();
            f.write_all(b"\n").unwrap();
        }
    }
}

fn idling(b: Backend, h: &Home) -> Server {
    let mut s = imapd_on(b, h);
    let r = run(&mut s, "s", "SELECT INBOX");
    assert!(r.last().unwrap().starts_with("s OK"), "{r:?}");
    s.send("i IDLE");
    assert!(s.line().starts_with("+ "));
    s
}

/// The next untagged line, within `SOON`.
fn soon(s: &mut Server, what: &str) -> String {
    s.try_line(SOON)
        .unwrap_or_else(|| panic!("{what}: nothing within {SOON:?}"))
        .trim_end()
        .to_string()
}

#[test]
fn a_delivery_wakes_idle_at_once() {
    for b in BOTH {
        let h = home_on(b, &[MSG]);
        let mut s = idling(b, &h);
        deliver(b, &h, 1);
        assert_eq!(soon(&mut s, "first delivery"), "* 2 EXISTS", "{b:?}");
        assert!(s.line().trim_end().ends_with(" RECENT"), "{b:?}");
        // And again: the watch stays.
        deliver(b, &h, 2);
        assert_eq!(soon(&mut s, "second delivery"), "* 3 EXISTS", "{b:?}");
        assert!(s.line().trim_end().ends_with(" RECENT"), "{b:?}");
        s.send("DONE");
        assert_eq!(s.line().trim_end(), "i OK Idle completed.", "{b:?}");
    }
}

#[test]
fn another_sessions_change_wakes_idle_at_once() {
    for b in BOTH {
        let h = home_on(b, &[MSG, MSG]);
        let mut s = idling(b, &h);
        let mut other = imapd_on(b, &h);
        run(&mut other, "o1", "SELECT INBOX");
        let r = run(&mut other, "o2", "STORE 2 +FLAGS.SILENT (\\Flagged)");
        assert!(r.last().unwrap().starts_with("o2 OK"), "{r:?}");
        let l = soon(&mut s, "flag change");
        assert!(
            l.starts_with("* 2 FETCH (") && l.contains("\\Flagged"),
            "{b:?}: {l}"
        );
        run(&mut other, "o4", "STORE 1 +FLAGS.SILENT (\\Deleted)");
        let r = run(&mut other, "o5", "EXPUNGE");
        assert!(r.last().unwrap().starts_with("o5 OK"), "{r:?}");
        let l = soon(&mut s, "expunge");
        assert!(
            l.starts_with("* 1 FETCH") || l == "* 1 EXPUNGE",
            "{b:?}: {l}"
        );
        s.send("DONE");
        let mut rest = vec![l];
        loop {
            let l = s.line().trim_end().to_string();
            let done = l.starts_with("i OK");
            rest.push(l);
            if done {
                break;
            }
        }
        assert!(rest.iter().any(|l| l == "* 1 EXPUNGE"), "{b:?}: {rest:?}");
    }
}
