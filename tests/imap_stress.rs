//! 50 concurrent sessions on one Maildir INBOX for 60 seconds (issue 18):
//! APPEND, STORE, SEARCH + STORE \Deleted + EXPUNGE, COPY, FETCH, IDLE,
//! while an MTA-style deliverer writes into new/ through tmp/. Before,
//! about a third of the APPENDs got `NO [TRYCREATE]`: another session's
//! tmp/ cleanup took a file in flight for a stale one (its mtime was the
//! internal date), and the rename's ENOENT became "Mailbox doesn't exist".
//!
//! It ends with no error at all (the only NO allowed is RFC 2180's
//! `[EXPUNGEISSUED]` for a message another session expunged), and every
//! appended and every delivered message present exactly once. Bounded:
//! `STRESS_SECONDS` (60) of work, then every session logs out; each
//! response is waited for at most the harness's timeout.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Home, Server};

const SESSIONS: usize = 50;
const STRESS_SECONDS: u64 = 60;

#[derive(Default)]
struct Tally {
    ops: HashMap<&'static str, usize>,
    errors: Vec<String>,
    expungeissued: usize,
}

/// A small xorshift generator: each session its own sequence, no crate.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Runs `cmd`, counts it, and records anything but OK (and RFC 2180's
/// EXPUNGEISSUED) as an error. Returns the response lines.
fn run(
    s: &mut Server,
    tally: &Mutex<Tally>,
    op: &'static str,
    tag: &str,
    cmd: &str,
) -> Vec<String> {
    let r = s.command(tag, cmd);
    let last = r.last().cloned().unwrap_or_default();
    let mut t = tally.lock().unwrap();
    *t.ops.entry(op).or_default() += 1;
    if last.starts_with(&format!("{tag} OK")) {
    } else if last.starts_with(&format!("{tag} NO [EXPUNGEISSUED]")) {
        t.expungeissued += 1;
    } else {
        t.errors.push(format!("{op}: {cmd:.60} -> {last}"));
    }
    if r.iter().any(|l| l.starts_with("* BYE")) {
        t.errors.push(format!("{op}: BYE: {r:?}"));
    }
    r
}

fn append_literal(marker: &str) -> String {
    let msg = format!(
        "From: stress@example.org\r\nSubject: keep {marker}\r\nMessage-ID: <{marker}@stress>\r\n\r\nbody of {marker}\r\n"
    );
    format!("{{{}+}}\r\n{msg}", msg.len())
}

fn session(
    h: &Home,
    id: usize,
    stop: &AtomicBool,
    tally: &Mutex<Tally>,
    appended: &Mutex<Vec<String>>,
) {
    let mut s = Server::imapd(h);
    s.line();
    run(&mut s, tally, "SELECT", "s", "SELECT INBOX");
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ ((id as u64 + 1) * 0x1000_0001));
    let mut n = 0usize;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let tag = format!("t{n}");
        match rng.below(8) {
            0 | 1 => {
                let marker = format!("s{id}-{n}");
                let flags = if rng.below(2) == 0 { "" } else { "(\\Seen) " };
                // Clients that copy mail in (mbsync, Thunderbird) give the
                // original, old internal date.
                let date = if rng.below(2) == 0 {
                    ""
                } else {
                    "\"07-Feb-2019 21:52:25 -0800\" "
                };
                run(
                    &mut s,
                    tally,
                    "APPEND",
                    &tag,
                    &format!("APPEND INBOX {flags}{date}{}", append_literal(&marker)),
                );
                appended.lock().unwrap().push(marker);
            }
            2 => {
                let flag = ["\\Flagged", "\\Seen", "\\Answered", "$Stress"][rng.below(4) as usize];
                let op = ["+", "-"][rng.below(2) as usize];
                // A few messages, as clients store flags (by UID: a UID
                // set may name messages that are gone, a sequence set not).
                let first = 1 + rng.below(4000);
                let last = first + rng.below(10);
                run(
                    &mut s,
                    tally,
                    "STORE",
                    &tag,
                    &format!("UID STORE {first}:{last} {op}FLAGS.SILENT ({flag})"),
                );
            }
            3 => {
                // Only the deliverer's "victim" messages are ever expunged.
                let r = run(&mut s, tally, "SEARCH", &tag, "UID SEARCH SUBJECT victim");
                let uids: Vec<&str> = r
                    .iter()
                    .find_map(|l| l.strip_prefix("* SEARCH"))
                    .map(|l| l.split_whitespace().collect())
                    .unwrap_or_default();
                if !uids.is_empty() {
                    let set = uids.join(",");
                    run(
                        &mut s,
                        tally,
                        "STORE",
                        &format!("{tag}d"),
                        &format!("UID STORE {set} +FLAGS.SILENT (\\Deleted)"),
                    );
                    run(
                        &mut s,
                        tally,
                        "EXPUNGE",
                        &format!("{tag}e"),
                        &format!("UID EXPUNGE {set}"),
                    );
                }
            }
            4 => {
                run(&mut s, tally, "COPY", &tag, "COPY 1:3 Copies");
            }
            5 => {
                run(
                    &mut s,
                    tally,
                    "FETCH",
                    &tag,
                    "FETCH 1:* (UID FLAGS RFC822.SIZE ENVELOPE)",
                );
            }
            6 => {
                run(&mut s, tally, "SEARCH", &tag, "SEARCH BODY body");
            }
            _ => {
                s.send(&format!("{tag} IDLE"));
                let l = s.line();
                assert!(l.starts_with("+ "), "IDLE: {l}");
                std::thread::sleep(Duration::from_millis(rng.below(200)));
                s.send("DONE");
                let r = s.until_tagged(&tag);
                let mut t = tally.lock().unwrap();
                *t.ops.entry("IDLE").or_default() += 1;
                if !r.last().unwrap().starts_with(&format!("{tag} OK")) {
                    t.errors.push(format!("IDLE -> {r:?}"));
                }
            }
        }
    }
    let r = s.command("z", "LOGOUT");
    assert!(r.last().unwrap().starts_with("z OK"), "{r:?}");
}

/// Writes messages as an MTA does (tmp/, then rename into new/), one
/// "keep" message for every three "victim" ones.
fn deliverer(h: &Home, stop: &AtomicBool, delivered: &Mutex<Vec<String>>) {
    let md = h.maildir();
    let mut n = 0usize;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let kind = if n % 4 == 0 { "keep" } else { "victim" };
        let marker = format!("mta-{n}");
        let name = format!("{}.M{n}P999.stress", 1_700_000_000 + n);
        let tmp = md.join("tmp").join(&name);
        std::fs::write(
            &tmp,
            format!("From: mta@example.org\nSubject: {kind} {marker}\n\nbody of {marker}\n"),
        )
        .unwrap();
        common::Home::chown_to_test_user(&tmp);
        std::fs::rename(&tmp, md.join("new").join(&name)).unwrap();
        if kind == "keep" {
            delivered.lock().unwrap().push(marker);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn fifty_sessions_for_a_minute_lose_nothing_and_fail_nothing() {
    let h = Arc::new(Home::new());
    {
        let mut s = Server::imapd(&h);
        s.line();
        let r = s.command("c", "CREATE Copies");
        assert!(r.last().unwrap().starts_with("c OK"), "{r:?}");
        // Something for the first COPYs and FETCHes.
        for i in 0..3 {
            let r = s.command(
                "a",
                &format!("APPEND INBOX {}", append_literal(&format!("seed{i}"))),
            );
            assert!(r.last().unwrap().starts_with("a OK"), "{r:?}");
        }
    }
    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let appended = Arc::new(Mutex::new(
        (0..3).map(|i| format!("seed{i}")).collect::<Vec<_>>(),
    ));
    let delivered = Arc::new(Mutex::new(Vec::new()));
    let finished = Arc::new(AtomicUsize::new(0));
    let mut threads = Vec::new();
    for id in 0..SESSIONS {
        let (h, stop, tally, appended, finished) = (
            h.clone(),
            stop.clone(),
            tally.clone(),
            appended.clone(),
            finished.clone(),
        );
        threads.push(std::thread::spawn(move || {
            session(&h, id, &stop, &tally, &appended);
            finished.fetch_add(1, Ordering::Relaxed);
        }));
    }
    let mta = {
        let (h, stop, delivered) = (h.clone(), stop.clone(), delivered.clone());
        std::thread::spawn(move || deliverer(&h, &stop, &delivered))
    };
    let start = Instant::now();
    std::thread::sleep(Duration::from_secs(STRESS_SECONDS));
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().expect("a session thread panicked");
    }
    mta.join().unwrap();
    let elapsed = start.elapsed();
    assert_eq!(finished.load(Ordering::Relaxed), SESSIONS);

    // Every appended and delivered "keep" message is there exactly once.
    let mut s = Server::imapd(&h);
    s.line();
    let r = s.command("s", "SELECT INBOX");
    assert!(r.last().unwrap().starts_with("s OK"), "{r:?}");
    let r = s.command("f", "FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT)])");
    let mut count: HashMap<String, usize> = HashMap::new();
    for l in &r {
        if let Some(i) = l.find("Subject: keep ") {
            let m = l[i + "Subject: keep ".len()..]
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_string();
            *count.entry(m).or_default() += 1;
        }
    }
    let appended = appended.lock().unwrap();
    let delivered = delivered.lock().unwrap();
    let t = tally.lock().unwrap();
    let mut wrong = Vec::new();
    for m in appended.iter().chain(delivered.iter()) {
        let c = count.get(m).copied().unwrap_or(0);
        if c != 1 {
            wrong.push(format!("{m}: {c}"));
        }
    }
    let total: usize = t.ops.values().sum();
    println!(
        "stress: {SESSIONS} sessions, {:.0} s, {total} commands {:?}, {} appended, {} delivered kept, {} EXPUNGEISSUED, {} errors",
        elapsed.as_secs_f64(),
        t.ops,
        appended.len(),
        delivered.len(),
        t.expungeissued,
        t.errors.len()
    );
    assert!(
        t.errors.is_empty(),
        "{} errors, first: {:?}",
        t.errors.len(),
        &t.errors[..t.errors.len().min(10)]
    );
    assert!(
        wrong.is_empty(),
        "messages not present exactly once: {wrong:?}"
    );
    assert!(appended.len() > SESSIONS, "too little work was done");
}
