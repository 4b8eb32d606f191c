//! An mbox INBOX in Debian's mail spool (issue 18): `/var/mail` as Debian
//! sets it up (root:mail, mode 2775), spool files USER:mail 0660 made by
//! a real local delivery agent (procmail, which takes the dotlock and an
//! fcntl lock, as Debian's MTAs do), and imapd started as root as xinetd
//! starts it (PAM login, drop to the user).
//!
//! * `mail_privileged_group = mail` (the default): the session keeps the
//!   group only as its saved set-group-ID (from /proc: not effective, not
//!   supplementary), uses it for the dotlock, and STORE, EXPUNGE and APPEND
//!   work while procmail delivers at the same time: nothing lost or doubled.
//! * without the group, or started as the user (who cannot gain it): the
//!   spool's messages are shown `[READ-ONLY]`, never an empty INBOX.
//!
//! Needs root, procmail and the PAM users of `login_support`
//! (`make test` provides them); uses `/var/mail/malt-alice` and removes it.

mod common;
mod login_support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use common::Server;
use login_support::*;

/// The tests share ALICE's spool file: one at a time.
static SPOOL: Mutex<()> = Mutex::new(());

const SPOOL_DIR: &str = "/var/mail";
const PROCMAIL: &str = "/usr/bin/procmail";
const POP3D: &str = env!("CARGO_BIN_EXE_pop3d");

fn spool_file() -> PathBuf {
    Path::new(SPOOL_DIR).join(ALICE)
}

/// Debian's spool directory, checked rather than changed.
fn require_debian_spool() {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(SPOOL_DIR).expect("/var/mail is missing");
    assert_eq!(
        m.uid(),
        0,
        "/var/mail must be owned by root, as Debian has it"
    );
    assert_eq!(
        m.gid(),
        gid_of_group("mail"),
        "/var/mail must be group mail"
    );
    assert_eq!(m.mode() & 0o7777, 0o2775, "/var/mail must be mode 2775");
    assert!(
        Path::new(PROCMAIL).exists(),
        "procmail is missing: run scripts/test-deps.sh"
    );
}

/// Delivers one message to ALICE's spool with procmail as the MTA runs it.
fn deliver(n: usize) {
    let mut c = Command::new(PROCMAIL)
        .args(["-d", ALICE])
        .stdin(Stdio::piped())
        .spawn()
        .expect("procmail");
    std::io::Write::write_all(
        c.stdin.as_mut().unwrap(),
        format!(
            "From: mta@example.org\nSubject: delivery {n}\nMessage-ID: <d{n}@test>\n\nbody {n}\n"
        )
        .as_bytes(),
    )
    .unwrap();
    drop(c.stdin.take());
    assert!(c.wait().unwrap().success(), "procmail delivery {n}");
}

/// A fresh spool file with `n` messages, and ALICE's mail root.
fn fresh(s: &Setup, n: usize) -> String {
    let _ = std::fs::remove_file(spool_file());
    for i in 0..n {
        deliver(i);
    }
    let root = s.mail().join(ALICE).join("mail");
    std::fs::create_dir_all(&root).unwrap();
    sh(&format!(
        "chown -R {ALICE}: '{}'",
        s.mail().join(ALICE).display()
    ));
    format!(
        "mail_location=mbox:{}/%u/mail:INBOX={SPOOL_DIR}/%u",
        s.mail().display()
    )
}

fn login(srv: &mut Server) {
    greeting(srv);
    let r = srv.command("l", &format!("LOGIN {ALICE} \"{PASSWORD}\""));
    assert!(tagged(&r, "l").starts_with("l OK"), "{r:?}");
}

/// The Subject numbers in the spool file, counted.
fn subjects_in_spool() -> HashMap<String, usize> {
    let text = std::fs::read_to_string(spool_file()).unwrap();
    let mut out = HashMap::new();
    for l in text.lines() {
        if let Some(s) = l.strip_prefix("Subject: ") {
            *out.entry(s.to_string()).or_default() += 1;
        }
    }
    out
}

/// Expunges delivery `n` (found by its Message-ID).
fn expunge(srv: &mut Server, n: usize) {
    let r = srv.command(
        "q",
        &format!("UID SEARCH HEADER Message-ID \"<d{n}@test>\""),
    );
    let uid = r[0].trim().rsplit(' ').next().unwrap().to_string();
    assert!(uid.parse::<u32>().is_ok(), "{r:?}");
    let r = srv.command("x", &format!("UID STORE {uid} +FLAGS.SILENT (\\Deleted)"));
    assert!(tagged(&r, "x").starts_with("x OK"), "{r:?}");
    let r = srv.command("y", "EXPUNGE");
    assert!(tagged(&r, "y").starts_with("y OK"), "{r:?}");
}

#[test]
fn privileged_group_lets_a_root_started_session_change_the_spool() {
    let _one = SPOOL.lock().unwrap_or_else(|e| e.into_inner());
    pam_users();
    require_debian_spool();
    let s = Setup::new();
    let loc = fresh(&s, 3);
    let mail_gid = gid_of_group("mail");
    let before = std::fs::metadata(spool_file()).unwrap();
    let mut srv = Server::start(s.imapd_loopback(&[&loc]));
    login(&mut srv);
    let r = srv.command("s", "SELECT INBOX");
    assert!(r.contains(&"* 3 EXISTS\r\n".to_string()), "{r:?}");
    assert!(tagged(&r, "s").starts_with("s OK [READ-WRITE]"), "{r:?}");
    // The group is the saved set-group-ID only.
    let ids = ids(srv.child.id());
    let (_, alice_gid) = uid_of(ALICE).unwrap();
    assert_eq!(
        ids.gid,
        [alice_gid, alice_gid, mail_gid, alice_gid],
        "{ids:?}"
    );
    assert!(!ids.groups.contains(&mail_gid), "{ids:?}");

    // procmail delivers while the session stores, expunges and appends.
    let mta = std::thread::spawn(|| {
        for n in 100..130 {
            deliver(n);
            std::thread::sleep(Duration::from_millis(10));
        }
    });
    let mut appended = 0;
    for round in 0..30 {
        let r = srv.command("f", "STORE 1:* +FLAGS.SILENT (\\Seen)");
        assert!(tagged(&r, "f").starts_with("f OK"), "round {round}: {r:?}");
        if round == 10 || round == 20 {
            // Our own deliveries 0 and 1 go while procmail appends.
            expunge(&mut srv, round / 10 - 1);
        }
        let msg = format!("Subject: appended {round}\r\n\r\nx\r\n");
        srv.write(format!("a APPEND INBOX {{{}+}}\r\n{msg}\r\n", msg.len()).as_bytes());
        let r = srv.until_tagged("a");
        assert!(tagged(&r, "a").starts_with("a OK"), "round {round}: {r:?}");
        appended += 1;
        let r = srv.command("n", "NOOP");
        assert!(tagged(&r, "n").starts_with("n OK"), "{r:?}");
    }
    mta.join().unwrap();
    logout(&mut srv);

    let got = subjects_in_spool();
    let mut want: Vec<String> = (2..3)
        .chain(100..130)
        .map(|n| format!("delivery {n}"))
        .collect();
    want.extend((0..appended).map(|n| format!("appended {n}")));
    for w in &want {
        assert_eq!(got.get(w), Some(&1), "{w}: {got:?}");
    }
    assert_eq!(got.len(), want.len(), "{got:?}");
    assert!(!Path::new(&format!("{}.lock", spool_file().display())).exists());
    // Rewritten in place: the same file, owner, group and mode.
    use std::os::unix::fs::MetadataExt;
    let after = std::fs::metadata(spool_file()).unwrap();
    let id = |m: &std::fs::Metadata| (m.ino(), m.uid(), m.gid(), m.mode());
    assert_eq!(id(&after), id(&before));
    assert_eq!(before.gid(), mail_gid);
    let _ = std::fs::remove_file(spool_file());
}

/// Without the group (configured off, or a session started as the user),
/// the spool cannot be locked for writing: its messages are shown
/// read-only, and the log says why.
#[test]
fn spool_without_the_group_is_shown_read_only() {
    let _one = SPOOL.lock().unwrap_or_else(|e| e.into_inner());
    pam_users();
    require_debian_spool();
    let s = Setup::new();
    let loc = fresh(&s, 2);
    let before = std::fs::read(spool_file()).unwrap();

    let mut srv = Server::start(s.imapd_loopback(&[&loc, "mail_privileged_group="]));
    login(&mut srv);
    let r = srv.command("s", "SELECT INBOX");
    assert!(r.contains(&"* 2 EXISTS\r\n".to_string()), "{r:?}");
    assert!(tagged(&r, "s").starts_with("s OK [READ-ONLY]"), "{r:?}");
    let r = srv.command("f", "FETCH 1:* BODY.PEEK[HEADER.FIELDS (SUBJECT)]");
    assert!(
        r[0].contains("delivery 0") && r[1].contains("delivery 1"),
        "{r:?}"
    );
    let r = srv.command("t", "STORE 1 +FLAGS (\\Seen)");
    assert!(tagged(&r, "t").starts_with("t NO [READ-ONLY]"), "{r:?}");
    logout(&mut srv);
    assert!(
        s.log()
            .contains("opened read-only: cannot create the dotlock"),
        "{}",
        s.log()
    );

    // Started as the user (ssh, a tunnel): no way to the group.
    let home = s.mail().join(ALICE);
    let as_user = |server: &str| {
        let mut cmd = Command::new("setpriv");
        cmd.args([
            &format!("--reuid={ALICE}"),
            &format!("--regid={ALICE}"),
            "--init-groups",
            server,
            "-c",
            "/dev/null",
            "-o",
            &format!("log_path={}", s.log_path().display()),
            "-o",
            &format!(
                "mail_location=mbox:{}/mail:INBOX={}",
                home.display(),
                spool_file().display()
            ),
        ]);
        // setpriv itself execs the server (`env` would, as the user, not
        // be let into a checkout under a 0700 directory such as mktemp's).
        cmd.env_clear().env("HOME", &home);
        cmd
    };
    let mut srv = Server::start(as_user(IMAPD));
    assert!(srv.line().starts_with("* PREAUTH"));
    let r = srv.command("s", "SELECT INBOX");
    assert!(r.contains(&"* 2 EXISTS\r\n".to_string()), "{r:?}");
    assert!(tagged(&r, "s").starts_with("s OK [READ-ONLY]"), "{r:?}");
    logout(&mut srv);
    // pop3d the same way: the messages are there, DELE says it cannot be.
    let mut srv = Server::start(as_user(POP3D));
    assert!(srv.line().starts_with("+OK"));
    srv.write(b"STAT\r\nDELE 1\r\nQUIT\r\n");
    assert!(srv.line().starts_with("+OK 2 "));
    assert!(srv.line().starts_with("-ERR [SYS/PERM]"));
    assert!(srv.line().starts_with("+OK"));
    assert_eq!(
        std::fs::read(spool_file()).unwrap(),
        before,
        "the spool was changed"
    );
    let _ = std::fs::remove_file(spool_file());
}
