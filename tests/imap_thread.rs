//! THREAD=ORDEREDSUBJECT, THREAD=REFERENCES (RFC 5256) and THREAD=REFS
//! (REFERENCES without gathering by subject, threads in the order of
//! their newest message) against Dovecot
//! 2.3 on the same Maildir, answer for answer: chains through References,
//! In-Reply-To alone, a parent that is missing (a dummy at the root with
//! several children), replies gathered under their subject's first
//! message, two replies under a new dummy, a duplicate Message-ID, a
//! References loop, messages without IDs, dates out of mailbox order;
//! with search criteria and as UID THREAD. The same messages in an mbox
//! give our Maildir answers.
//!
//! Needs root and Debian's dovecot-imapd (`make test` installs it).

mod common;
#[path = "common/dovecot.rs"]
mod dovecot;

use std::time::{Duration, SystemTime};

use common::{home_arrived, home_on, imapd_on, run, run_script, Backend};

/// (Subject, Message-ID, References, In-Reply-To, Date) of a message.
type Fields = (
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
    Option<&'static str>,
    &'static str,
);

const MESSAGES: &[Fields] = &[
    // 1-4: a chain, one reply by In-Reply-To only.
    (
        "plans",
        Some("<a@x>"),
        None,
        None,
        "Mon, 02 Jan 2023 10:00:00 +0000",
    ),
    (
        "Re: plans",
        Some("<b@x>"),
        Some("<a@x>"),
        None,
        "Mon, 02 Jan 2023 11:00:00 +0000",
    ),
    (
        "Re: plans",
        Some("<c@x>"),
        Some("<a@x> <b@x>"),
        None,
        "Mon, 02 Jan 2023 12:00:00 +0000",
    ),
    (
        "Re: plans",
        Some("<d@x>"),
        None,
        Some("<a@x> <zz@x>"),
        "Mon, 02 Jan 2023 09:30:00 -0200",
    ),
    // 5-6: their parent is not here.
    (
        "Re: lost",
        Some("<e@x>"),
        Some("<gone@x>"),
        None,
        "Tue, 03 Jan 2023 10:00:00 +0000",
    ),
    (
        "Re: lost",
        Some("<f@x>"),
        Some("<gone@x>"),
        None,
        "Tue, 03 Jan 2023 09:00:00 +0000",
    ),
    // 7-8: gathered by subject; 9-10: two replies, siblings.
    (
        "Meeting",
        Some("<g@x>"),
        None,
        None,
        "Wed, 04 Jan 2023 10:00:00 +0000",
    ),
    (
        "Re: Meeting",
        Some("<h@x>"),
        None,
        None,
        "Wed, 04 Jan 2023 08:00:00 +0000",
    ),
    (
        "Re: lunch",
        Some("<i@x>"),
        None,
        None,
        "Thu, 05 Jan 2023 10:00:00 +0000",
    ),
    (
        "Re: lunch",
        Some("<j@x>"),
        None,
        None,
        "Thu, 05 Jan 2023 11:00:00 +0000",
    ),
    // 11: the ID of 1 again; 12-13: a loop.
    (
        "copy",
        Some("<a@x>"),
        None,
        None,
        "Fri, 06 Jan 2023 10:00:00 +0000",
    ),
    (
        "loop",
        Some("<l@x>"),
        Some("<m@x>"),
        None,
        "Sat, 07 Jan 2023 10:00:00 +0000",
    ),
    (
        "loop",
        Some("<m@x>"),
        Some("<l@x>"),
        None,
        "Sat, 07 Jan 2023 11:00:00 +0000",
    ),
    // 14-15: no IDs; 16: a reply to 14's subject; 17: deep under 2.
    ("alone", None, None, None, "Sun, 08 Jan 2023 10:00:00 +0000"),
    ("alone", None, None, None, "Sun, 08 Jan 2023 09:00:00 +0000"),
    (
        "Fwd: alone",
        Some("<p@x>"),
        None,
        None,
        "Sun, 08 Jan 2023 11:00:00 +0000",
    ),
    (
        "Re: plans",
        Some("<q@x>"),
        Some("<a@x> <b@x> <c@x>"),
        None,
        "Mon, 02 Jan 2023 08:00:00 +0000",
    ),
    // 18: no date: its arrival time.
    ("plans", Some("<r@x>"), None, None, "not a date"),
    // 19: a late reply in 1's thread (REFS puts that thread last).
    (
        "Re: plans",
        Some("<s@x>"),
        Some("<a@x> <d@x>"),
        None,
        "Tue, 10 Jan 2023 10:00:00 +0000",
    ),
];

fn message(i: usize) -> Vec<u8> {
    let (subject, id, refs, irt, date) = MESSAGES[i];
    let mut m = format!("Subject: {subject}\nFrom: someone@x.org\nDate: {date}\n");
    for (name, v) in [
        ("Message-ID", id),
        ("References", refs),
        ("In-Reply-To", irt),
    ] {
        if let Some(v) = v {
            m.push_str(&format!("{name}: {v}\n"));
        }
    }
    m.push_str("\nbody\n");
    m.into_bytes()
}

fn arrival(i: usize) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_672_000_000 + i as u64 * 60)
}

const COMMANDS: &[&str] = &[
    "THREAD ORDEREDSUBJECT UTF-8 ALL",
    "THREAD REFERENCES UTF-8 ALL",
    "UID THREAD REFERENCES UTF-8 ALL",
    "THREAD REFERENCES UTF-8 NOT SUBJECT loop",
    "THREAD ORDEREDSUBJECT US-ASCII SUBJECT plans",
    "UID THREAD ORDEREDSUBJECT UTF-8 UID 2:12",
    "THREAD REFERENCES UTF-8 SUBJECT nothing-matches",
    "THREAD REFS UTF-8 ALL",
    "UID THREAD REFS UTF-8 NOT SUBJECT loop",
];

fn script() -> String {
    common::select_script(COMMANDS)
}

fn answers(out: &str) -> Vec<String> {
    out.lines()
        .filter(|l| l.starts_with("* THREAD") || l.contains(" BAD ") || l.contains(" NO "))
        .map(|l| l.trim_end().to_string())
        .collect()
}

/// `MESSAGES`, each with its arrival time.
fn arrived() -> Vec<(Vec<u8>, SystemTime)> {
    (0..MESSAGES.len())
        .map(|i| (message(i), arrival(i)))
        .collect()
}

fn ours(b: Backend) -> Vec<String> {
    let h = home_arrived(b, &arrived());
    let mut s = imapd_on(b, &h);
    answers(&run_script(&mut s, &script()).join("\n"))
}

fn dovecot() -> Vec<String> {
    dovecot::require();
    let dir = tempfile::tempdir().expect("tempdir");
    dovecot::maildir_arrived(dir.path(), &arrived());
    answers(&String::from_utf8_lossy(&dovecot::run(
        dir.path(),
        script().as_bytes(),
    )))
}

#[test]
fn thread_answers_as_dovecot_does() {
    common::assert_same_answers(COMMANDS, &ours(Backend::Maildir), &dovecot());
}

#[test]
fn mbox_threads_as_maildir_does() {
    common::assert_same_answers(COMMANDS, &ours(Backend::Mbox), &ours(Backend::Maildir));
}

#[test]
fn thread_syntax_errors_are_bad() {
    let h = home_on(Backend::Maildir, &[b"Subject: a\n\nx\n"]);
    let mut s = imapd_on(Backend::Maildir, &h);
    run(&mut s, "s", "SELECT INBOX");
    common::assert_all_bad(
        &mut s,
        &[
            "THREAD REFERENCES ALL",
            "THREAD ORDEREDSUBJECT UTF-8",
            "THREAD SOMETHING UTF-8 ALL",
            "THREAD (REFERENCES) UTF-8 ALL",
        ],
    );
    let r = run(&mut s, "n", "THREAD REFERENCES KOI8-XYZ ALL");
    assert!(r.last().unwrap().starts_with("n NO [BADCHARSET"), "{r:?}");
    let r = run(&mut s, "t", "THREAD REFERENCES UTF-8 ALL");
    assert_eq!(r[0], "* THREAD (1)", "{r:?}");
}
