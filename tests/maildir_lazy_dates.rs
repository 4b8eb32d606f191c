//! INTERNALDATE on a Maildir whose first open found many new files
//! (issue 10: no file's mtime is read then): FETCH INTERNALDATE, SEARCH
//! SINCE/BEFORE and SORT (ARRIVAL) read each date when first asked and say
//! each file's mtime (RFC 3501 2.3.3, as Dovecot does for Maildir); the
//! dates read are kept, so a later change of a file's mtime changes
//! nothing, while a date never asked for is read when it first is.

mod common;

use std::time::{Duration, UNIX_EPOCH};

use common::*;

const BASE: u64 = 1_500_000_000;
/// Above the number of new files a look dates at once.
const N: usize = mailaccess::limits::MAILDIR_DATES_LATER_FROM + 200;

/// Message i (0-based) arrived one hour before message i - 1.
fn mtime(i: usize) -> u64 {
    BASE - i as u64 * 3600
}

fn date_time(secs: u64) -> String {
    chrono::DateTime::from_timestamp(secs as i64, 0)
        .expect("time")
        .format("%d-%b-%Y %H:%M:%S +0000")
        .to_string()
}

fn home() -> Home {
    let h = Home::new();
    for i in 0..N {
        let p = h
            .maildir()
            .join("new")
            .join(format!("{}.M{i:05}P1.test", 1_400_000_000 + i));
        std::fs::write(&p, format!("Subject: {i}\n\nbody {i}\n")).expect("write");
        set_mtime(&p, UNIX_EPOCH + Duration::from_secs(mtime(i)));
    }
    h.fix_owner();
    h
}

fn touch_all(h: &Home, secs: u64) {
    for sub in ["cur", "new"] {
        for e in std::fs::read_dir(h.maildir().join(sub)).expect("dir") {
            set_mtime(
                &e.expect("entry").path(),
                UNIX_EPOCH + Duration::from_secs(secs),
            );
        }
    }
}

/// INTERNALDATE of every message, by sequence number.
fn dates(s: &mut Server) -> Vec<String> {
    let r = s.command("f", "FETCH 1:* (INTERNALDATE)");
    ok(&r, "f");
    let out: Vec<String> = r
        .iter()
        .filter(|l| l.contains(" FETCH "))
        .map(|l| {
            let at = l.find("INTERNALDATE \"").expect(l) + "INTERNALDATE \"".len();
            l[at..at + 26].to_string()
        })
        .collect();
    assert_eq!(out.len(), N);
    out
}

#[test]
fn dates_are_read_when_asked_and_kept() {
    let h = home();
    let mut s = Server::imapd(&h);
    s.line();
    ok(&s.command("a", "SELECT INBOX"), "a");
    let got = dates(&mut s);
    for (i, d) in got.iter().enumerate() {
        assert_eq!(*d, date_time(mtime(i)), "message {}", i + 1);
    }
    // SINCE the day of message 100's arrival: it and those before it.
    let day = chrono::DateTime::from_timestamp(mtime(100) as i64, 0)
        .expect("time")
        .format("%d-%b-%Y")
        .to_string();
    let since = search(&mut s, &format!("SINCE {day}"));
    let n_since = since.split_whitespace().count();
    let want = (0..N)
        .filter(|&i| mtime(i) / 86400 >= mtime(100) / 86400)
        .count();
    assert_eq!(n_since, want);
    let before = search(&mut s, &format!("BEFORE {day}"));
    assert_eq!(before.split_whitespace().count(), N - want);
    // Arrival order is the reverse of the names'.
    let r = s.command("o", "SORT (ARRIVAL) UTF-8 ALL");
    ok(&r, "o");
    let sorted: Vec<usize> = r[0]
        .trim_start_matches("* SORT ")
        .split_whitespace()
        .map(|n| n.parse().expect("number"))
        .collect();
    assert_eq!(sorted, (1..=N).rev().collect::<Vec<_>>());
    ok(&s.command("z", "LOGOUT"), "z");
    s.wait();

    // The dates were kept: a later touch of every file changes none.
    touch_all(&h, BASE + 86400 * 30);
    let mut s = Server::imapd(&h);
    s.line();
    ok(&s.command("a", "SELECT INBOX"), "a");
    assert_eq!(dates(&mut s), got);
    ok(&s.command("z", "LOGOUT"), "z");
    s.wait();
}

#[test]
fn a_date_never_asked_for_is_read_when_it_first_is() {
    let h = home();
    let mut s = Server::imapd(&h);
    s.line();
    ok(&s.command("a", "SELECT INBOX"), "a");
    ok(&s.command("e", "FETCH 1:* (FLAGS ENVELOPE)"), "e");
    ok(&s.command("z", "LOGOUT"), "z");
    s.wait();
    // Touched after the first open, before any INTERNALDATE was read: the
    // file's mtime now is the date.
    touch_all(&h, BASE + 7200);
    let mut s = Server::imapd(&h);
    s.line();
    ok(&s.command("a", "SELECT INBOX"), "a");
    assert!(dates(&mut s).iter().all(|d| *d == date_time(BASE + 7200)));
    ok(&s.command("z", "LOGOUT"), "z");
    s.wait();
}
