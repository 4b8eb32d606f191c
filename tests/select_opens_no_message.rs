//! DESIGN 5: opening a mailbox, and FETCH of UID, FLAGS and RFC822.SIZE,
//! read only directory entries and the index, never a message file; a body
//! FETCH opens only the message it returns.
//!
//! Checked on the built imapd under `strace -f -e trace=open,openat`: every
//! open attempt of a path below `cur/` or `new/` (the directories themselves
//! are fine) is a message file read. This needs strace (Debian package
//! strace, installed by scripts/test-deps.sh); without it the test fails.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{server_command, Home, Server};

const STRACE: &str = "/usr/bin/strace";
const MESSAGES: usize = 20_000;

/// A small message; number `n` says so in its subject.
fn message(n: usize) -> Vec<u8> {
    format!(
        "From: Sender {n} <s{n}@example.org>\nTo: r@example.org\nSubject: message {n}\n\
         Date: Mon, 02 Jan 2023 10:00:00 +0000\nMessage-ID: <{n}@example.org>\n\nbody of message {n}\n"
    )
    .into_bytes()
}

/// `count` messages in cur/, named in arrival order; with `sizes`, the names
/// carry `S=` and `W=` as Dovecot's and our own deliveries write them.
fn fill(home: &Home, count: usize, sizes: bool) {
    let cur = home.maildir().join("cur");
    for n in 1..=count {
        let data = message(n);
        let fields = if sizes {
            let lf = data.iter().filter(|&&b| b == b'\n').count();
            format!(",S={},W={}", data.len(), data.len() + lf)
        } else {
            String::new()
        };
        let name = format!("{}.M{n}P1.test{fields}:2,S", 1_600_000_000 + n);
        std::fs::write(cur.join(name), data).unwrap();
    }
    home.fix_owner();
}

fn require_strace() {
    assert!(
        Path::new(STRACE).exists(),
        "{STRACE} is missing: install the Debian package strace (make test-deps does)"
    );
}

/// imapd as the tests run it, under strace writing every open to `log`.
fn traced_imapd(home: &Home, log: &Path) -> Server {
    let inner = server_command(env!("CARGO_BIN_EXE_imapd"), home, &[]);
    let mut c = Command::new(STRACE);
    c.args(["-f", "-y", "-s", "4096", "-e", "trace=open,openat", "-o"])
        .arg(log)
        .arg("--")
        .arg(inner.get_program())
        .args(inner.get_args());
    for (k, v) in inner.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    Server::start(c)
}

/// The path of every open/openat attempt in an strace log, resolved
/// against the directory descriptor strace `-y` shows.
fn opened_paths(log: &Path) -> Vec<PathBuf> {
    let text = std::fs::read_to_string(log).expect("reading the strace log");
    let mut out = Vec::new();
    for line in text.lines() {
        let Some(call) = ["openat(", "open("]
            .iter()
            .find_map(|c| line.find(c).map(|at| &line[at + c.len()..]))
        else {
            continue;
        };
        // openat(AT_FDCWD</cwd>, "path", ...) or openat(3</dir>, "name", ...)
        // or open("path", ...).
        let (dir, rest) = match call.find('"') {
            Some(q) => {
                let before = &call[..q];
                let dir = before
                    .find('<')
                    .and_then(|a| before.rfind('>').map(|b| &before[a + 1..b]));
                (dir, &call[q + 1..])
            }
            None => continue,
        };
        let Some(end) = rest.find('"') else {
            panic!("strace log line without a complete path: {line}");
        };
        let p = PathBuf::from(&rest[..end]);
        out.push(match dir {
            Some(d) if p.is_relative() => Path::new(d).join(p),
            _ => p,
        });
    }
    assert!(
        !out.is_empty(),
        "the strace log {} shows no open at all: was imapd traced?",
        log.display()
    );
    out
}

/// Opens of paths strictly below cur/ or new/ of `maildir`.
fn message_opens(log: &Path, maildir: &Path) -> Vec<PathBuf> {
    let cur = maildir.join("cur");
    let new = maildir.join("new");
    opened_paths(log)
        .into_iter()
        .filter(|p| (p.starts_with(&cur) && p != &cur) || (p.starts_with(&new) && p != &new))
        .collect()
}

/// One traced session: SELECT, `fetch`, LOGOUT; returns the FETCH responses
/// and the message files opened.
fn session(home: &Home, fetch: &str) -> (Vec<String>, Vec<PathBuf>) {
    let logdir = tempfile::tempdir().unwrap();
    let log = logdir.path().join("strace.log");
    let mut s = traced_imapd(home, &log);
    let greeting = s.line();
    assert!(greeting.starts_with("* PREAUTH"), "{greeting}");
    let r = s.command("s", "SELECT INBOX");
    assert!(r.last().unwrap().starts_with("s OK"), "{r:?}");
    let r = s.command("f", fetch);
    assert!(
        r.last().unwrap().starts_with("f OK"),
        "{fetch}: {:?}",
        r.last()
    );
    let l = s.command("l", "LOGOUT");
    assert!(l.last().unwrap().starts_with("l OK"), "{l:?}");
    assert_eq!(s.wait(), Some(0), "imapd under strace did not exit cleanly");
    let maildir = home.maildir().canonicalize().unwrap();
    (r, message_opens(&log, &maildir))
}

fn assert_no_message_opened(opens: &[PathBuf], what: &str) {
    assert!(
        opens.is_empty(),
        "{what}: imapd opened {} message file(s), e.g. {:?}; opening a mailbox and \
         FETCH (UID FLAGS RFC822.SIZE) must read only directory entries and the index",
        opens.len(),
        opens.iter().take(3).collect::<Vec<_>>()
    );
}

const META: &str = "FETCH 1:* (UID FLAGS RFC822.SIZE)";

#[test]
fn select_and_fetch_metadata_open_no_message_file() {
    require_strace();
    let home = Home::new();
    fill(&home, MESSAGES, true);

    // First open: builds the index from the file names alone.
    let (r, opens) = session(&home, META);
    assert_eq!(r.len(), MESSAGES + 1, "one FETCH response per message");
    let first = message(1);
    let size = first.len() + first.iter().filter(|&&b| b == b'\n').count();
    assert!(
        r[0].starts_with(&format!(
            // \Recent: the first read-write session to see them owns them.
            "* 1 FETCH (UID 1 FLAGS (\\Seen \\Recent) RFC822.SIZE {size})"
        )),
        "{}",
        r[0]
    );
    assert_no_message_opened(&opens, "first open (no index yet)");

    // Second open: the index exists.
    let (r, opens) = session(&home, META);
    assert_eq!(r.len(), MESSAGES + 1, "one FETCH response per message");
    assert_no_message_opened(&opens, "second open (index present)");

    // A body FETCH opens the one message it sends, once.
    let (r, opens) = session(&home, "FETCH 1 BODY.PEEK[]");
    assert!(r[0].contains("Subject: message 1\r\n"), "{}", r[0]);
    assert_eq!(
        opens.len(),
        1,
        "FETCH 1 BODY.PEEK[] must open exactly one message file, opened {opens:?}"
    );
    let name = opens[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with("1600000001.M1P1.test,"),
        "FETCH 1 opened the wrong file: {name}"
    );
}

/// Names without size fields (as Postfix and Exim deliver): the first open
/// may read the files to learn their CRLF sizes, but it records them in the
/// index, and every later open reads only the index.
#[test]
fn sizes_learned_once_are_kept_in_the_index() {
    require_strace();
    let home = Home::new();
    fill(&home, 2_000, false);
    let (r, _) = session(&home, META);
    assert_eq!(r.len(), 2_001, "one FETCH response per message");
    let (r, opens) = session(&home, META);
    assert_eq!(r.len(), 2_001, "one FETCH response per message");
    assert_no_message_opened(&opens, "second open of a Maildir without S=/W= names");
}
