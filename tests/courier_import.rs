//! Moving from Courier-IMAP keeps UIDVALIDITY, UIDs, flags, keywords and
//! subscriptions: Debian 12's own Courier imapd (unpacked by
//! `scripts/test-deps.sh` into `/var/cache/mailaccess-test/courier`, as
//! `make test` does; Courier's packages conflict with Dovecot's) works on
//! a Maildir preauthenticated, then our store opens the same Maildir and
//! must show what Courier showed last.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

mod common {
    pub mod courier;
    pub mod dovecot;
}

use mailaccess::store::maildir::Maildir;
use mailaccess::store::{flag, Mailbox, Store};

/// Runs Courier's `program` (under the unpacked root) preauthenticated
/// on `maildir` with `input`; its output.
fn courier(maildir: &Path, program: &str, input: &str) -> String {
    let mut child = common::courier::command(program)
        .arg(".")
        .current_dir(maildir)
        .env("HOME", maildir)
        .env("MAILDIR", ".")
        .env("AUTHENTICATED", "courier-test")
        .env("IMAP_KEYWORDS", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("Courier server");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Courier's imapd on `maildir` with `commands`, each of which it must
/// accept; its output.
fn courier_imapd(maildir: &Path, commands: &[&str]) -> String {
    let mut input = String::new();
    for (n, c) in commands.iter().enumerate() {
        input.push_str(&format!("c{n} {c}\r\n"));
    }
    input.push_str("z LOGOUT\r\n");
    let text = courier(maildir, "usr/bin/imapd", &input);
    for (n, c) in commands.iter().enumerate() {
        assert!(
            text.contains(&format!("\r\nc{n} OK")),
            "Courier refused {c:?}:\n{text}"
        );
    }
    text
}

/// The unique-ids of a POP3 `UIDL` listing, sorted.
fn uidls(text: &str) -> Vec<String> {
    let mut out: Vec<String> = text
        .split("+OK")
        .nth(2)
        .unwrap_or_else(|| panic!("no UIDL listing in {text:?}"))
        .lines()
        .filter_map(|l| l.split_once(' ').map(|(_, u)| u.trim().to_string()))
        .collect();
    out.sort();
    out
}

/// A Maildir of `n` messages in new/, as an MTA leaves them.
fn delivered(dir: &Path, n: usize) -> PathBuf {
    let md = dir.join("Maildir");
    for d in ["cur", "new", "tmp"] {
        fs::create_dir_all(md.join(d)).expect("mkdir");
    }
    for k in 1..=n {
        fs::write(
            md.join(format!("new/17000000{k:02}.M{k}P1.host")),
            format!("From: a@example.org\nSubject: message {k}\n\nbody {k}\n"),
        )
        .expect("deliver");
    }
    md
}

/// `* n FETCH (UID u FLAGS (...))` lines: UID -> flags without `\Recent`,
/// sorted.
fn fetched(text: &str) -> BTreeMap<u32, Vec<String>> {
    let mut out = BTreeMap::new();
    for line in text.lines().filter(|l| l.contains(" FETCH (UID ")) {
        let rest = line.split(" FETCH (UID ").nth(1).expect("uid");
        let (uid, rest) = rest.split_once(' ').expect("flags");
        let flags = rest
            .trim_start_matches("FLAGS (")
            .trim_end_matches("))")
            .split(' ')
            .filter(|f| !f.is_empty() && *f != "\\Recent")
            .map(str::to_string);
        let mut flags: Vec<String> = flags.collect();
        flags.sort();
        out.insert(uid.parse().expect("uid"), flags);
    }
    out
}

fn uidvalidity(text: &str, mailbox: &str) -> u32 {
    let key = format!("* STATUS \"{mailbox}\" (UIDVALIDITY ");
    let line = text.lines().find(|l| l.starts_with(&key)).expect("STATUS");
    line[key.len()..]
        .trim_end_matches(')')
        .parse()
        .expect("number")
}

/// Our view of a mailbox in the form of `fetched`.
fn shown(mb: &dyn Mailbox) -> BTreeMap<u32, Vec<String>> {
    mb.collect_messages()
        .iter()
        .map(|m| (m.uid, ours(&m.flags)))
        .collect()
}

fn ours(flags: &mailaccess::store::Flags) -> Vec<String> {
    let mut out: Vec<String> = [
        (flag::ANSWERED, "\\Answered"),
        (flag::FLAGGED, "\\Flagged"),
        (flag::DELETED, "\\Deleted"),
        (flag::SEEN, "\\Seen"),
        (flag::DRAFT, "\\Draft"),
    ]
    .iter()
    .filter(|(b, _)| flags.system & b != 0)
    .map(|(_, n)| n.to_string())
    .chain(flags.keywords.iter().cloned())
    .collect();
    out.sort();
    out
}

#[test]
fn a_maildir_courier_worked_on_keeps_uids_flags_keywords_and_subscriptions() {
    let t = tempfile::tempdir().expect("tempdir");
    let md = delivered(t.path(), 6);
    let sent = "Subject: sent\r\n\r\nsent body\r\n";
    let append = format!("APPEND INBOX.Sent (\\Seen) {{{}}}\r\n{sent}", sent.len());
    courier_imapd(
        &md,
        &[
            "SELECT INBOX",
            "STORE 1 +FLAGS (\\Seen $Work)",
            "STORE 2 +FLAGS (\\Deleted)",
            "EXPUNGE",
            "STORE 3 +FLAGS (Junk \\Flagged)",
            "STORE 1 -FLAGS ($Work)",
            "STORE 1 +FLAGS (Later \\Answered)",
            "STORE 4 +FLAGS ($Work)",
            "CREATE INBOX.Sent",
            "SUBSCRIBE INBOX.Sent",
            "CREATE INBOX.Archive.2026",
            "SUBSCRIBE INBOX.Archive.2026",
            &append,
        ],
    );
    let text = courier_imapd(
        &md,
        &[
            "SELECT INBOX",
            "FETCH 1:* (UID FLAGS)",
            "STATUS INBOX (UIDVALIDITY)",
            "STATUS INBOX.Sent (UIDVALIDITY)",
            "SELECT INBOX.Sent",
            "UID FETCH 1:* (UID FLAGS)",
        ],
    );
    let (inbox_v, sent_v) = (
        uidvalidity(&text, "INBOX"),
        uidvalidity(&text, "INBOX.Sent"),
    );
    let (inbox_part, sent_part) = text.split_once("\r\nc4 ").expect("two SELECTs");
    let courier_inbox = fetched(inbox_part);
    let courier_sent = fetched(sent_part);
    assert_eq!(courier_inbox.len(), 5, "{text}");
    assert!(!courier_inbox.contains_key(&2), "UID 2 expunged");
    assert_eq!(courier_sent.len(), 1, "{text}");

    let mut store = Maildir::open_store(md.clone()).expect("store");
    for _ in 0..2 {
        // Twice: once importing, once from our own index.
        let mb = store.open("INBOX", false).expect("open INBOX");
        assert_eq!(mb.uid_validity(), inbox_v, "INBOX UIDVALIDITY");
        assert_eq!(
            shown(mb.as_ref()),
            courier_inbox,
            "INBOX as Courier showed it"
        );
        let sent = store.open("Sent", true).expect("open Sent");
        assert_eq!(sent.uid_validity(), sent_v, "Sent UIDVALIDITY");
        assert_eq!(
            shown(sent.as_ref()),
            courier_sent,
            "Sent as Courier showed it"
        );
        assert_eq!(
            store.subscriptions().expect("lsub"),
            ["Sent", "Archive.2026"]
        );
    }
    // The keywords are in the file names now, as every Maildir program
    // reading dovecot-keywords sees them.
    let table = fs::read_to_string(md.join("dovecot-keywords")).expect("keywords");
    assert!(table.contains("Junk") && table.contains("Later"), "{table}");
    // New mail after the move gets UIDs after Courier's.
    fs::write(md.join("new/1800000000.M9P1.host"), "Subject: new\n\nnew\n").expect("deliver");
    let mb = store.open("INBOX", false).expect("open INBOX");
    let last = mb.uid(mb.count() - 1);
    assert!(
        last > *courier_inbox.keys().last().expect("uids"),
        "new UID {last}"
    );
}

/// POP3 users moving from Courier: our pop3d gives every message the
/// UIDL Courier's pop3d gave it, so fetchmail and Outlook download
/// nothing again.
#[test]
fn pop3_users_moving_from_courier_keep_their_uidls() {
    let (uid, gid) = common::dovecot::ensure_user(common::dovecot::TEST_USER);
    let t = tempfile::tempdir().expect("tempdir");
    let md = delivered(t.path(), 4);
    // Courier's IMAP numbers them one way; its pop3d another (its own list).
    courier_imapd(
        &md,
        &["SELECT INBOX", "STORE 2 +FLAGS (\\Deleted)", "EXPUNGE"],
    );
    let theirs = uidls(&courier(
        &md,
        "usr/lib/courier/courier/courierpop3d",
        "UIDL\r\nQUIT\r\n",
    ));
    assert_eq!(theirs.len(), 3, "{theirs:?}");
    assert!(theirs.iter().all(|u| u.starts_with("UID")), "{theirs:?}");
    let st = Command::new("chown")
        .args(["-R", &format!("{uid}:{gid}")])
        .arg(t.path())
        .status()
        .expect("chown");
    assert!(st.success());
    let out = Command::new("setpriv")
        .args([
            &format!("--reuid={uid}"),
            &format!("--regid={gid}"),
            "--init-groups",
            "--",
            env!("CARGO_BIN_EXE_pop3d"),
            "-c",
            "/dev/null",
            "-o",
            &format!("mail_location=maildir:{}", md.display()),
        ])
        .env_clear()
        .env("USER", common::dovecot::TEST_USER)
        .env("HOME", t.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .and_then(|mut c| {
            c.stdin
                .take()
                .expect("stdin")
                .write_all(b"UIDL\r\nQUIT\r\n")?;
            c.wait_with_output()
        })
        .expect("our pop3d");
    let ours = uidls(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(ours, theirs, "our pop3d's UIDLs against Courier's");
}
