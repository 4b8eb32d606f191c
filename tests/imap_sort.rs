//! SORT (RFC 5256), SORT=DISPLAY (RFC 5957) and ESORT (RFC 5267) against
//! Dovecot 2.3 on the same Maildir: every sort key, REVERSE, several keys,
//! search criteria, UID SORT and RETURN must give Dovecot's answer line
//! for line. Messages are made to exercise the rules: base subjects
//! ("Re:", "Fwd:", "(fwd)", "[blob]", "[fwd: ...]", encoded words), the
//! first address's local part (a group's name, as ENVELOPE gives it;
//! comments; none at all), the sent date (zones, missing or unreadable:
//! then the arrival time), ties (kept in mailbox order, REVERSE or not).
//! The same messages in an mbox, arriving at the same times (its From
//! lines), give our Maildir answers.
//!
//! Needs root and Debian's dovecot-imapd (`make test` installs it).

mod common;
#[path = "common/dovecot.rs"]
mod dovecot;

use std::time::{Duration, SystemTime};

use common::{home_arrived, home_on, imapd_on, run, run_script, Backend};

/// (Subject, From, To, Cc, Date) of a message; `None` leaves the field
/// out.
type Fields = (
    Option<&'static str>,
    Option<&'static str>,
    Option<&'static str>,
    Option<&'static str>,
    Option<&'static str>,
);

/// The messages. Bodies differ in length, so SIZE orders them too.
const MESSAGES: &[Fields] = &[
    (
        Some("Re: alpha"),
        Some("Zed <zed@x.org>"),
        Some("b@y.org"),
        None,
        Some("Mon, 02 Jan 2023 10:00:00 +0000"),
    ),
    (
        Some("alpha"),
        Some("amy@x.org"),
        Some("Carl <carl@z.org>"),
        Some("dan@x.org"),
        Some("Mon, 02 Jan 2023 09:00:00 -0800"),
    ),
    (
        Some("Fwd: Beta (fwd)"),
        Some("\"Bob\" <bob@x.org>"),
        Some("undisclosed-recipients:;"),
        Some("Eve <eve@x.org>, amy@x.org"),
        Some("Sun, 01 Jan 2023 23:00:00 +0000"),
    ),
    (
        Some("[list] Re: beta"),
        Some("carl@x.org (Carl C)"),
        Some("team: ann@x.org, bo@x.org;"),
        None,
        Some("Tue, 03 Jan 2023 08:00:00 +0100"),
    ),
    (None, Some("bob@x.org"), None, None, None),
    (
        Some("=?UTF-8?Q?Re=3A_gamma?="),
        Some("=?UTF-8?Q?Ann?= <ann@x.org>"),
        Some("zoe@x.org"),
        Some("carl@x.org"),
        Some("garbage, not a date"),
    ),
    (
        Some("[PATCH] delta"),
        Some("Dan <dan@x.org>"),
        Some("Amy <amy@x.org>"),
        None,
        Some("Wed, 04 Jan 2023 12:00:00 +0000"),
    ),
    (
        Some("[PATCH]"),
        Some("Dan <dan@x.org>"),
        Some("bob@x.org"),
        Some("zed@x.org"),
        Some("Wed, 04 Jan 2023 12:00:00 +0000"),
    ),
    (
        Some("re: RE: Alpha"),
        Some("AMY@x.org"),
        Some("Bob <bob@x.org>"),
        None,
        Some("Thu, 05 Jan 2023 00:00:00 +0000"),
    ),
    (
        Some("[fwd: Re: beta]"),
        Some("<eve@x.org>"),
        Some("carl@x.org"),
        Some("ann@x.org"),
        Some("Fri, 06 Jan 2023 00:00:00 +1400"),
    ),
    (
        Some("Rework: not a reply"),
        Some("Eve <eve@x.org>"),
        Some("\"Amy A\" <amy@x.org>"),
        None,
        Some("Fri, 06 Jan 2023 00:00:00 -1200"),
    ),
    (
        Some("alpha"),
        Some("amy@x.org"),
        Some("Carl <carl@z.org>"),
        Some("dan@x.org"),
        Some("Mon, 02 Jan 2023 09:00:00 -0800"),
    ),
    (
        Some("  Re:   [x]  Fw: epsilon  "),
        Some("zed@x.org"),
        None,
        Some("bob@x.org"),
        Some("Sat, 07 Jan 2023 00:00:00 +0000"),
    ),
    (
        Some("(fwd)"),
        Some("fred@x.org"),
        Some("fred@x.org"),
        None,
        Some("Sat, 07 Jan 2023 00:00:00 +0000"),
    ),
];

fn message(i: usize) -> Vec<u8> {
    let (subject, from, to, cc, date) = MESSAGES[i];
    let mut m = String::new();
    for (name, v) in [
        ("Subject", subject),
        ("From", from),
        ("To", to),
        ("Cc", cc),
        ("Date", date),
    ] {
        if let Some(v) = v {
            m.push_str(&format!("{name}: {v}\n"));
        }
    }
    m.push_str(&format!("Message-ID: <m{i}@x.org>\n\n"));
    // Sizes neither in message order nor all different.
    m.push_str(&"body line\n".repeat((i * 7) % 5 + 1));
    m.into_bytes()
}

/// Arrival times: neither in message order nor all different.
fn arrival(i: usize) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + ((i as u64 * 5) % 7) * 3600)
}

const COMMANDS: &[&str] = &[
    "SORT (ARRIVAL) UTF-8 ALL",
    "SORT (REVERSE ARRIVAL) UTF-8 ALL",
    "SORT (DATE) UTF-8 ALL",
    "SORT (REVERSE DATE) UTF-8 ALL",
    "SORT (FROM) UTF-8 ALL",
    "SORT (REVERSE FROM) UTF-8 ALL",
    "SORT (TO) UTF-8 ALL",
    "SORT (CC) UTF-8 ALL",
    "SORT (SUBJECT) UTF-8 ALL",
    "SORT (REVERSE SUBJECT) UTF-8 ALL",
    "SORT (SIZE) UTF-8 ALL",
    "SORT (REVERSE SIZE) UTF-8 ALL",
    "SORT (DISPLAYFROM) UTF-8 ALL",
    "SORT (DISPLAYTO) UTF-8 ALL",
    "SORT (SUBJECT REVERSE DATE) UTF-8 ALL",
    "SORT (REVERSE SUBJECT FROM SIZE) US-ASCII ALL",
    "SORT (CC TO SUBJECT) UTF-8 ALL",
    "SORT (SUBJECT) US-ASCII NOT SUBJECT beta",
    "SORT (FROM) UTF-8 OR FROM amy TO carl",
    "SORT (SUBJECT) UTF-8 SUBJECT nothing-matches",
    "UID SORT (SIZE) UTF-8 UID 3:12",
    "UID SORT (REVERSE DATE) UTF-8 2:9",
    "SORT RETURN (MIN MAX COUNT) (SUBJECT) UTF-8 ALL",
    "SORT RETURN (COUNT) (DATE) UTF-8 SUBJECT alpha",
    "UID SORT RETURN (MIN MAX) (REVERSE SIZE) UTF-8 ALL",
    "SORT RETURN (MIN) (FROM) UTF-8 SUBJECT nothing-matches",
    "SORT RETURN (ALL) (ARRIVAL) UTF-8 ALL",
    "SORT RETURN (ALL COUNT) (SUBJECT) UTF-8 1:9",
    "SORT RETURN () (REVERSE SIZE) UTF-8 ALL",
];

/// The untagged answer of each command (and any failure). An ESEARCH's
/// return data come in any order (RFC 4731 3.1): they are put in one.
fn answers(out: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(out)
        .lines()
        .filter(|l| {
            l.starts_with("* SORT")
                || l.starts_with("* ESEARCH")
                || l.contains(" BAD ")
                || l.contains(" NO ")
        })
        .map(|l| match l.trim_end().strip_prefix("* ESEARCH ") {
            Some(rest) => {
                let (head, data) = match rest.find(')') {
                    Some(p) => rest.split_at(p + 1),
                    None => (rest, ""),
                };
                let words: Vec<&str> = data.split_whitespace().collect();
                let (uid, words) = match words.first() {
                    Some(&"UID") => (" UID", &words[1..]),
                    _ => ("", &words[..]),
                };
                let mut pairs: Vec<String> = words.chunks(2).map(|p| p.join(" ")).collect();
                pairs.sort();
                format!("* ESEARCH {head}{uid} {}", pairs.join(" "))
            }
            None => l.trim_end().to_string(),
        })
        .collect()
}

fn script() -> String {
    common::select_script(COMMANDS)
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
    answers(run_script(&mut s, &script()).join("\r\n").as_bytes())
}

fn dovecot() -> Vec<String> {
    dovecot::require();
    let dir = tempfile::tempdir().expect("tempdir");
    dovecot::maildir_arrived(dir.path(), &arrived());
    answers(&dovecot::run(dir.path(), script().as_bytes()))
}

#[test]
fn sort_answers_as_dovecot_does() {
    common::assert_same_answers(COMMANDS, &ours(Backend::Maildir), &dovecot());
}

#[test]
fn mbox_sorts_as_maildir_does() {
    common::assert_same_answers(COMMANDS, &ours(Backend::Mbox), &ours(Backend::Maildir));
}

#[test]
fn sort_syntax_errors_are_bad() {
    let h = home_on(Backend::Maildir, &[b"Subject: a\n\nx\n"]);
    let mut s = imapd_on(Backend::Maildir, &h);
    run(&mut s, "s", "SELECT INBOX");
    common::assert_all_bad(
        &mut s,
        &[
            "SORT (SUBJECT) ALL",
            "SORT () UTF-8 ALL",
            "SORT (REVERSE) UTF-8 ALL",
            "SORT (NAME) UTF-8 ALL",
            "SORT SUBJECT UTF-8 ALL",
            "SORT (SUBJECT) UTF-8",
        ],
    );
    let r = run(&mut s, "n", "SORT (SUBJECT) KOI8-XYZ ALL");
    assert!(r.last().unwrap().starts_with("n NO [BADCHARSET"), "{r:?}");
}

/// RFC 5182 with RFC 5267: SORT ... RETURN (SAVE) keeps the messages found
/// (a set: `$` names them in mailbox order), and answers nothing itself.
#[test]
fn sort_save_keeps_the_messages_found() {
    let h = home_arrived(Backend::Maildir, &arrived());
    let mut s = imapd_on(Backend::Maildir, &h);
    run(&mut s, "s", "SELECT INBOX");
    let sorted = run(&mut s, "a", "SORT (REVERSE DATE) UTF-8 SUBJECT alpha");
    // 2 and 12 were sent at the same time: mailbox order, REVERSE or not.
    assert_eq!(sorted[0], "* SORT 9 2 12 1", "{sorted:?}");
    let saved = run(
        &mut s,
        "b",
        "SORT RETURN (SAVE) (REVERSE DATE) UTF-8 SUBJECT alpha",
    );
    assert_eq!(saved.len(), 1, "{saved:?}");
    assert!(saved[0].starts_with("b OK"), "{saved:?}");
    let r = run(&mut s, "c", "SEARCH $");
    assert_eq!(r[0], "* SEARCH 1 2 9 12", "{r:?}");
    let r = run(&mut s, "d", "SORT (SIZE) UTF-8 $");
    assert!(
        r[0].starts_with("* SORT ") && r[0].split(' ').count() == 6,
        "{r:?}"
    );
}

/// The values SORT orders by are kept in the mailbox's cache: a second
/// session sorts the same with every message file unreadable to it.
#[test]
fn a_second_session_sorts_from_the_cache() {
    use std::os::unix::fs::PermissionsExt;
    // SELECT and the commands whose search reads no message (ALL, sets),
    // no LOGOUT.
    let script: String = script()
        .lines()
        .filter(|l| {
            l.starts_with('s') || (l.starts_with('t') && (l.ends_with(" ALL") || l.contains(':')))
        })
        .map(|l| format!("{l}\r\n"))
        .collect();
    assert!(script.lines().count() > 20, "{script}");
    let h = home_arrived(Backend::Maildir, &arrived());
    let first = {
        let mut s = imapd_on(Backend::Maildir, &h);
        answers(run_script(&mut s, &script).join("\r\n").as_bytes())
    };
    for sub in ["cur", "new"] {
        for e in std::fs::read_dir(h.maildir().join(sub)).unwrap() {
            let p = e.unwrap().path();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o000)).unwrap();
        }
    }
    let mut s = imapd_on(Backend::Maildir, &h);
    let second = answers(run_script(&mut s, &script).join("\r\n").as_bytes());
    assert_eq!(second, first);
    // Without the cache the files would be needed: a FETCH of one says so.
    let r = run(&mut s, "f", "FETCH 1 BODY.PEEK[HEADER.FIELDS (SUBJECT)]");
    assert!(!r.last().unwrap().starts_with("f OK"), "{r:?}");
}

/// Every message's SORT value is kept in order in a sort index per key
/// (`mailaccess-sort-<key>` beside the cache): new mail is merged in,
/// expunged messages leave, and a damaged file is only rebuilt.
#[test]
fn the_sort_index_follows_the_mailbox() {
    for b in [Backend::Maildir, Backend::Mbox] {
        let h = home_on(
            b,
            &[
                b"Subject: banana\n\nx\n",
                b"Subject: cherry\n\nx\n",
                b"Subject: apple\n\nx\n",
            ],
        );
        let sort = |h: &common::Home, want: &str| {
            let mut s = imapd_on(b, h);
            let r = run_script(&mut s, "s SELECT INBOX\r\nt SORT (SUBJECT) UTF-8 ALL\r\n");
            assert!(r.contains(&want.to_string()), "{b:?} {want}: {r:?}");
        };
        sort(&h, "* SORT 3 1 2");
        let index = find(h.path(), "mailaccess-sort-subject")
            .unwrap_or_else(|| panic!("{b:?}: no sort index"));
        let made = std::fs::read(&index).unwrap();
        assert!(made.starts_with(b"mailaccess-sort 2 "), "{b:?}");
        // An MTA delivers; the next SORT places it, and the index grows.
        common::deliver_inbox(b, &h, "1100000000.M9P1.test", b"Subject: blueberry\n\nx\n");
        sort(&h, "* SORT 3 1 4 2");
        assert!(std::fs::read(&index).unwrap().len() > made.len(), "{b:?}");
        // Damage: garbage, then a torn file; SORT is right and rebuilds.
        std::fs::write(&index, b"mailaccess-sort 2 garbage\n\x01\x02").unwrap();
        sort(&h, "* SORT 3 1 4 2");
        let whole = std::fs::read(&index).unwrap();
        std::fs::write(&index, &whole[..whole.len() - 3]).unwrap();
        sort(&h, "* SORT 3 1 4 2");
        assert_eq!(std::fs::read(&index).unwrap(), whole, "{b:?}");
        // An expunged message leaves the index.
        let mut s = imapd_on(b, &h);
        let r = run_script(
            &mut s,
            "s SELECT INBOX\r\nx STORE 1 +FLAGS (\\Deleted)\r\ny EXPUNGE\r\n\
             t SORT (REVERSE SUBJECT) UTF-8 ALL\r\n",
        );
        assert!(r.contains(&"* SORT 1 3 2".to_string()), "{b:?} {r:?}");
        assert!(std::fs::read(&index).unwrap().len() < whole.len(), "{b:?}");
    }
}

/// The first file called `name` under `dir`.
fn find(dir: &std::path::Path, name: &str) -> Option<std::path::PathBuf> {
    for e in std::fs::read_dir(dir).ok()? {
        let p = e.ok()?.path();
        if p.file_name().is_some_and(|n| n == name) {
            return Some(p);
        }
        if p.is_dir() && !p.is_symlink() {
            if let Some(f) = find(&p, name) {
                return Some(f);
            }
        }
    }
    None
}
