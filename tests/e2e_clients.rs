//! Real clients against the built imapd: Python's imaplib (IMAP4_stream),
//! mbsync (isync) syncing a Maildir both ways through `Tunnel`, neomutt
//! resynchronising with QRESYNC, Alpine sorting on the server (through
//! c-client's rsh path); all start imapd as a preauthenticated tunnel, as a
//! user's ssh would. aerc, which has no tunnel, threads on the server
//! through `imapd --listen` with a sasldb login.
//! Needs python3, the isync, neomutt, alpine and aerc packages, and root
//! for the listener (`make test` provides them).

mod common;
mod login_support;

use std::path::Path;
use std::process::Command;

use common::{home_on, server_command, Backend, Home, BOTH};

const MSG1: &[u8] = b"From: Alice <alice@example.org>\nTo: Bob <bob@example.org>\nSubject: Hello\n\nHi Bob,\nhow are you?\n";
const MSG2: &[u8] = b"From: Carol <carol@example.org>\nSubject: Second\nContent-Type: text/plain; charset=utf-8\n\nGr\xc3\xbc\xc3\x9fe aus K\xc3\xb6ln\n";

/// The shell command line that runs imapd for `home` (for clients that
/// take a command string).
fn shell_command(home: &Home) -> String {
    shell_command_with(home, &[])
}

/// `shell_command` with more arguments for imapd.
fn shell_command_with(home: &Home, extra: &[&str]) -> String {
    let c = server_command(env!("CARGO_BIN_EXE_imapd"), home, extra);
    let mut parts = vec![
        format!("HOME={}", home.path().display()),
        "exec".to_string(),
    ];
    parts.push(c.get_program().to_string_lossy().into_owned());
    for a in c.get_args() {
        parts.push(format!("'{}'", a.to_string_lossy().replace('\'', "'\\''")));
    }
    parts.join(" ")
}

#[test]
fn python_imaplib() {
    let h = Home::new();
    h.deliver(None, "1.M1.test", MSG1);
    h.deliver(None, "2.M2.test", MSG2);
    // Message 1 already read, as a user's earlier session left it.
    let cur = h.maildir().join("cur");
    std::fs::rename(h.maildir().join("new/1.M1.test"), cur.join("1.M1.test:2,S")).unwrap();
    client_script("imaplib_session.py", &[&shell_command(&h)]);
}

/// neomutt with `imap_qresync` and its header cache, the client issue 11
/// names: after another client flagged one message and expunged another,
/// its second look is a SELECT (QRESYNC ...), and what it then shows (the
/// messages it copies) is the mailbox as it is.
/// Needs neomutt (`scripts/test-deps.sh` installs it).
#[test]
fn neomutt_resynchronises_with_qresync() {
    for b in BOTH {
        let msgs: Vec<Vec<u8>> = (1..=3)
            .map(|n| format!("From: a@example.org\nSubject: m{n}\n\nbody {n}\n").into_bytes())
            .collect();
        let msgs: Vec<&[u8]> = msgs.iter().map(Vec::as_slice).collect();
        let h = home_on(b, &msgs);
        let loc = format!(
            "mail_location=mbox:{0}/mail:INBOX={0}/spool/inbox",
            h.path().display()
        );
        let cmd = match b {
            Backend::Maildir => shell_command(&h),
            Backend::Mbox => shell_command_with(&h, &["-o", &loc]),
        };
        let work = tempfile::tempdir().expect("tempdir");
        let work = work.path().to_str().expect("path");
        client_script("neomutt_qresync.py", &[&cmd, work]);
    }
}

fn count_files(dir: &Path) -> usize {
    ["cur", "new"]
        .iter()
        .map(|s| {
            std::fs::read_dir(dir.join(s))
                .map(|d| d.count())
                .unwrap_or(0)
        })
        .sum()
}

#[test]
fn mbsync_both_ways() {
    assert!(
        Path::new("/usr/bin/mbsync").exists(),
        "mbsync is missing: install isync (make test does)"
    );
    let h = Home::new();
    h.deliver(None, "1.M1.test", MSG1);
    h.deliver(None, "2.M2.test", MSG2);
    let local = tempfile::tempdir().unwrap();
    let rc = local.path().join("mbsyncrc");
    std::fs::create_dir_all(local.path().join("mail")).unwrap();
    let tunnel = shell_command(&h).replace('"', "\\\"");
    std::fs::write(
        &rc,
        format!(
            "IMAPAccount remote\nTunnel \"{tunnel}\"\n\n\
             IMAPStore remote\nAccount remote\n\n\
             MaildirStore local\nPath {l}/mail/\nInbox {l}/mail/INBOX\nSubFolders Verbatim\n\n\
             Channel sync\nFar :remote:\nNear :local:\nPatterns *\nCreate Both\nExpunge Both\nSyncState *\n",
            l = local.path().display()
        ),
    )
    .unwrap();
    let run = || {
        let out = Command::new("mbsync")
            .arg("-c")
            .arg(&rc)
            .arg("-a")
            .output()
            .expect("mbsync");
        assert!(
            out.status.success(),
            "mbsync failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    // Server -> local.
    run();
    let inbox = local.path().join("mail/INBOX");
    assert_eq!(count_files(&inbox), 2, "both messages pulled");

    // Local -> server: a new message and a new folder.
    std::fs::write(
        inbox.join("new/100.local.test"),
        b"Subject: from mbsync\n\nlocal\n",
    )
    .unwrap();
    let folder = local.path().join("mail/Sent");
    for s in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(folder.join(s)).unwrap();
    }
    std::fs::write(
        folder.join("cur/101.local.test:2,S"),
        b"Subject: sent\n\nsent\n",
    )
    .unwrap();
    // And mark a pulled message as flagged locally.
    let pulled = std::fs::read_dir(inbox.join("cur"))
        .unwrap()
        .chain(std::fs::read_dir(inbox.join("new")).unwrap())
        .map(|e| e.unwrap().path())
        .find(|p| !p.to_string_lossy().contains("local.test"))
        .unwrap();
    let name = pulled.file_name().unwrap().to_string_lossy().into_owned();
    let base = name.split(":2,").next().unwrap().to_string();
    std::fs::rename(&pulled, inbox.join("cur").join(format!("{base}:2,F"))).unwrap();
    run();
    assert_eq!(
        count_files(&h.maildir()),
        3,
        "local message pushed to the server"
    );
    assert_eq!(
        count_files(&h.maildir().join(".Sent")),
        1,
        "local folder created on the server"
    );
    let flagged = std::fs::read_dir(h.maildir().join("cur"))
        .unwrap()
        .filter(|e| {
            let n = e
                .as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .into_owned();
            n.rsplit_once(":2,").is_some_and(|(_, f)| f.contains('F'))
        })
        .count();
    assert_eq!(flagged, 1, "flag pushed to the server");
    // A third run changes nothing: UIDs were stable.
    run();
    assert_eq!(count_files(&inbox), 3);
    assert_eq!(count_files(&h.maildir()), 3);
}

/// Five messages whose subject order (2 4 1 3 5: Apple, Mango, then the
/// three of "Zebra plans" in mailbox order) and REFERENCES threads ((1 3 5)
/// (2)(4)) both differ from the mailbox order.
fn tui_messages() -> Vec<Vec<u8>> {
    let m = |n: u32, from: &str, subject: &str, id: &str, refs: &str| {
        let refs = if refs.is_empty() {
            String::new()
        } else {
            let last = refs.split(' ').next_back().unwrap_or_default();
            format!("References: {refs}\nIn-Reply-To: {last}\n")
        };
        format!(
            "From: {from}\nTo: Tester <tester@example.org>\nSubject: {subject}\n\
             Date: Mon, 1 Jun 2026 {:02}:00:00 +0000\nMessage-ID: {id}\n{refs}\nbody {n}\n",
            9 + n
        )
        .into_bytes()
    };
    vec![
        m(
            1,
            "Zed <zed@example.org>",
            "Zebra plans",
            "<z1@example.org>",
            "",
        ),
        m(
            2,
            "Amy <amy@example.org>",
            "Apple pie",
            "<a1@example.org>",
            "",
        ),
        m(
            3,
            "Amy <amy@example.org>",
            "Re: Zebra plans",
            "<z2@example.org>",
            "<z1@example.org>",
        ),
        m(4, "Bob <bob@example.org>", "Mango", "<m1@example.org>", ""),
        m(
            5,
            "Zed <zed@example.org>",
            "Re: Re: Zebra plans",
            "<z3@example.org>",
            "<z1@example.org> <z2@example.org>",
        ),
    ]
}

/// Runs `tests/clients/SCRIPT` with `args`; its failure fails the test.
fn client_script(script: &str, args: &[&str]) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/clients")
        .join(script);
    let out = Command::new("python3")
        .arg(&path)
        .args(args)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{script} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Alpine with `sort-key=Subject` (issue 12: "alpine sorting works against
/// the server"): c-client sends SORT (SUBJECT) and shows the index in the
/// server's order. Needs alpine (`scripts/test-deps.sh` installs it).
#[test]
fn alpine_sorts_on_the_server() {
    assert!(
        Path::new("/usr/bin/alpine").exists(),
        "alpine is missing: install it (make test does)"
    );
    let msgs = tui_messages();
    let msgs: Vec<&[u8]> = msgs.iter().map(Vec::as_slice).collect();
    let h = home_on(Backend::Maildir, &msgs);
    let work = tempfile::tempdir().expect("tempdir");
    let work = work.path().to_str().expect("path");
    client_script("alpine_sort.py", &[&shell_command(&h), work, "2 4 1 3 5"]);
}

/// aerc with threading on (issue 12: "aerc threading works against the
/// server"): it asks for THREAD REFERENCES and draws the thread it gets.
/// Needs root, aerc and saslpasswd2 (`scripts/test-deps.sh`).
#[test]
fn aerc_threads_on_the_server() {
    use login_support::*;
    assert!(
        Path::new("/usr/bin/aerc").exists(),
        "aerc is missing: install it (make test does)"
    );
    require_login_jail();
    let setup = Setup::new();
    let db = setup.path().join("sasldb2");
    saslpasswd(&db, "example.org", "tester", "tester-Secret-1");
    let md = setup.maildir("example.org/tester", common::TEST_USER);
    for (i, m) in tui_messages().iter().enumerate() {
        let body = String::from_utf8(m.clone()).expect("ASCII");
        setup.deliver(
            &md,
            &format!("{}.M{i}P1.test", 1_780_000_000 + i),
            &body,
            common::TEST_USER,
        );
    }
    let port = free_port();
    let mut cmd = setup.imapd(&[
        "auth=sasldb",
        &format!("sasldb_path={}", db.display()),
        &format!("virtual_user={}", common::TEST_USER),
        &format!(
            "mail_location=maildir:{}/%d/%n/Maildir",
            setup.mail().display()
        ),
        "special_folders=",
    ]);
    cmd.arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().expect("start imapd --listen");
    wait_for_port(port, &mut child);
    let mut daemon = Daemon { child };
    let work = tempfile::tempdir().expect("tempdir");
    let work = work.path().to_str().expect("path");
    let port = port.to_string();
    client_script(
        "aerc_thread.py",
        &[
            &port,
            "tester@example.org",
            "tester-Secret-1",
            work,
            "(1 3 5)",
        ],
    );
    daemon.stop();
}
