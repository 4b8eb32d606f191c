//! Two "hosts" serving one user's Maildir at once, as two servers on one
//! shared directory tree would (README "More than one server"): xinetd on
//! 127.0.0.2 and on 127.0.0.3, each running imapd through PAM on the same
//! Maildir. While a session on each host APPENDs, STOREs and EXPUNGEs, and
//! procmail (the MTA's delivery agent) delivers into the same Maildir, an
//! IDLE session on the second host watches. Afterwards both hosts list the
//! same messages under the same UIDs with the same flags: every message
//! appended or delivered is there once, exactly the expunged ones are gone,
//! and the IDLE session was told of the first host's work. Needs root,
//! xinetd and procmail (`make test`).

mod deploy_common;

use std::collections::BTreeMap;
use std::io::Write;
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use deploy_common::*;

const HOSTS: [&str; 2] = ["127.0.0.2", "127.0.0.3"];
const PROCMAIL: &str = "/usr/bin/procmail";
/// Messages each of the three writers adds.
const EACH: usize = 25;

struct Shared {
    _hosts: Vec<Daemon>,
    _logs: Vec<Log>,
    dir: tempfile::TempDir,
    port: u16,
}

impl Shared {
    fn maildir(&self) -> std::path::PathBuf {
        self.dir.path().join("Maildir")
    }
}

fn setup() -> Shared {
    require_tool(PROCMAIL);
    pam_user();
    let dir = tempfile::Builder::new()
        .prefix("mailaccess-shared")
        .tempdir()
        .unwrap();
    let md = dir.path().join("Maildir");
    for d in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(md.join(d)).unwrap();
    }
    std::fs::write(dir.path().join("procmailrc"), ":0\n./\n").unwrap();
    sh(&format!(
        "chown -R {USER}: {0} && chmod 755 {0}",
        dir.path().display()
    ));
    let port = free_port();
    let mut hosts = Vec::new();
    let mut logs = Vec::new();
    for addr in HOSTS {
        let log = Log::new();
        let args = format!(
            "{} -o mail_location=maildir:{}",
            base_args(PAM_IMAP, &log).join(" "),
            md.display()
        );
        let x = xinetd(&[xinetd_service_at("xinetd.d/imap", addr, port, IMAPD, &args)]);
        wait_started(&x);
        hosts.push(x);
        logs.push(log);
    }
    Shared {
        _hosts: hosts,
        _logs: logs,
        dir,
        port,
    }
}

/// A logged-in session on `host` with INBOX selected.
fn session(s: &Shared, host: &str) -> Client<TcpStream> {
    let t = TcpStream::connect((host, s.port)).expect("connect");
    t.set_read_timeout(Some(WAIT)).unwrap();
    let mut c = Client::new(t);
    assert!(c.line().starts_with("* OK"));
    let r = c.command("l", &format!("LOGIN {USER} {PASSWORD}"));
    assert!(r.last().unwrap().starts_with("l OK"), "{r:?}");
    let r = c.command("s", "SELECT INBOX");
    assert!(r.last().unwrap().starts_with("s OK"), "{r:?}");
    c
}

fn ok(c: &mut Client<TcpStream>, cmd: &str) -> Vec<String> {
    let r = c.command("t", cmd);
    assert!(r.last().unwrap().starts_with("t OK"), "{cmd}: {r:?}");
    r
}

fn append(c: &mut Client<TcpStream>, subject: &str) {
    let msg = format!("From: w@example.org\r\nSubject: {subject}\r\n\r\nbody of {subject}\r\n");
    c.send(&format!("a APPEND INBOX {{{}+}}\r\n{msg}\r\n", msg.len()));
    let r = c.until("a ");
    assert!(r.last().unwrap().starts_with("a OK"), "{r:?}");
}

/// One host's writer: appends `EACH` messages named `who`-N, marking each
/// earlier one of its own \Seen, and the even ones \Deleted; expunges
/// every few rounds (the other host's \Deleted ones go too).
fn writer(s: &Shared, host: &str, who: &'static str) {
    let mut c = session(s, host);
    for i in 0..EACH {
        append(&mut c, &format!("{who}-{i}"));
        let r = ok(&mut c, &format!("UID SEARCH SUBJECT {who}-{i}"));
        let uid = r
            .iter()
            .find_map(|l| l.strip_prefix("* SEARCH "))
            .and_then(|u| u.trim().split(' ').next_back().map(str::to_string))
            .unwrap_or_else(|| panic!("{who}-{i} not found: {r:?}"));
        let flags = if i % 2 == 0 {
            "(\\Seen \\Deleted)"
        } else {
            "(\\Seen)"
        };
        ok(&mut c, &format!("UID STORE {uid} +FLAGS.SILENT {flags}"));
        if i % 5 == 4 {
            ok(&mut c, "EXPUNGE");
        }
    }
    ok(&mut c, "EXPUNGE");
    ok(&mut c, "LOGOUT");
}

/// procmail delivering `EACH` messages, as the MTA runs it for the user.
fn mta(s: &Shared) {
    for i in 0..EACH {
        let mut p = Command::new("setpriv")
            .args([
                "--reuid",
                USER,
                "--regid",
                USER,
                "--init-groups",
                PROCMAIL,
                "-m",
            ])
            .arg(format!("MAILDIR={}", s.maildir().display()))
            .arg(s.dir.path().join("procmailrc"))
            .stdin(Stdio::piped())
            .spawn()
            .expect("procmail");
        p.stdin
            .take()
            .unwrap()
            .write_all(format!("From: mta@example.org\nSubject: M-{i}\n\nbody {i}\n").as_bytes())
            .unwrap();
        assert!(p.wait().unwrap().success(), "procmail {i}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// What a host lists: UID -> (subject, flags).
fn listing(s: &Shared, host: &str) -> BTreeMap<u32, (String, String)> {
    let mut c = session(s, host);
    let r = ok(
        &mut c,
        "UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])",
    );
    let mut out = BTreeMap::new();
    let mut i = 0;
    while i < r.len() {
        let l = &r[i];
        if let Some(rest) = l.split_once(" FETCH (").map(|x| x.1) {
            let uid: u32 = rest
                .split("UID ")
                .nth(1)
                .and_then(|x| x.split([' ', ')']).next())
                .and_then(|x| x.parse().ok())
                .unwrap_or_else(|| panic!("no UID in {l}"));
            // Without \Recent: it is the session's (RFC 3501 2.3.2), and
            // which host's listing is first to see the last delivery is
            // a race.
            let flags = rest
                .split("FLAGS (")
                .nth(1)
                .and_then(|x| x.split(')').next())
                .unwrap()
                .split(' ')
                .filter(|f| !f.is_empty() && *f != "\\Recent")
                .collect::<Vec<_>>()
                .join(" ");
            let subject = r[i + 1].trim().trim_start_matches("Subject: ").to_string();
            assert!(
                out.insert(uid, (subject, flags)).is_none(),
                "UID {uid} twice"
            );
            i += 1;
        }
        i += 1;
    }
    ok(&mut c, "LOGOUT");
    out
}

#[test]
fn two_hosts_and_an_mta_on_one_maildir() {
    let s = setup();
    // IDLE on the second host before anything changes.
    let mut idle = session(&s, HOSTS[1]);
    idle.send("i IDLE\r\n");
    assert!(idle.line().starts_with("+ "));

    std::thread::scope(|sc| {
        sc.spawn(|| writer(&s, HOSTS[0], "A"));
        sc.spawn(|| writer(&s, HOSTS[1], "B"));
        sc.spawn(|| mta(&s));
    });

    // The idler heard of new mail while the others worked (an EXISTS), and
    // is told everything once it asks.
    let end = Instant::now() + WAIT;
    let mut heard = Vec::new();
    while Instant::now() < end {
        let l = idle.line();
        let exists = l.ends_with(" EXISTS\r\n");
        heard.push(l);
        if exists {
            break;
        }
    }
    assert!(
        heard.iter().any(|l| l.ends_with(" EXISTS\r\n")),
        "{heard:?}"
    );
    idle.send("DONE\r\n");
    idle.until("i ");

    let a = listing(&s, HOSTS[0]);
    let b = listing(&s, HOSTS[1]);
    assert_eq!(a, b, "the two hosts disagree");
    // The odd A-n and B-n (never \Deleted) and every delivery, once each.
    let mut want: Vec<String> = (0..EACH)
        .filter(|i| i % 2 == 1)
        .flat_map(|i| [format!("A-{i}"), format!("B-{i}")])
        .chain((0..EACH).map(|i| format!("M-{i}")))
        .collect();
    want.sort();
    let mut got: Vec<String> = a.values().map(|(subject, _)| subject.clone()).collect();
    got.sort();
    assert_eq!(got, want);
    for (uid, (subject, flags)) in &a {
        let seen = flags.split(' ').any(|f| f == "\\Seen");
        assert_eq!(
            seen,
            !subject.starts_with("M-"),
            "UID {uid} {subject} {flags}"
        );
        assert!(!flags.contains("\\Deleted"), "UID {uid} {subject} {flags}");
    }
    // The idler's own view agrees.
    let r = ok(&mut idle, "UID SEARCH ALL");
    let uids: Vec<u32> = r
        .iter()
        .find_map(|l| l.strip_prefix("* SEARCH"))
        .unwrap()
        .split_whitespace()
        .map(|u| u.parse().unwrap())
        .collect();
    assert_eq!(uids, a.keys().copied().collect::<Vec<_>>());

    // One more message on the first host, while the second one idles: its
    // EXISTS arrives (inotify on a local tree; polling on NFS).
    idle.send("i IDLE\r\n");
    assert!(idle.line().starts_with("+ "));
    let mut other = session(&s, HOSTS[0]);
    append(&mut other, "late");
    let want = format!("* {} EXISTS\r\n", uids.len() + 1);
    let mut heard = Vec::new();
    while !heard.contains(&want) {
        heard.push(idle.try_line().unwrap_or_else(|| panic!("{heard:?}")));
    }
    idle.send("DONE\r\n");
    idle.until("i ");
}
