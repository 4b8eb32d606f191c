//! Real clients against the built imapd: Python's imaplib (IMAP4_stream),
//! mbsync (isync) syncing a Maildir both ways through `Tunnel`, and
//! neomutt resynchronising with QRESYNC. All start imapd as a
//! preauthenticated tunnel, as a user's ssh would.
//! Needs python3, the isync and neomutt packages (`make test` installs
//! them).

mod common;

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
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/imaplib_session.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg(shell_command(&h))
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "imaplib session failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
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
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/neomutt_qresync.py");
        let out = Command::new("python3")
            .arg(&script)
            .arg(cmd)
            .arg(work.path())
            .output()
            .expect("python3");
        assert!(
            out.status.success(),
            "{b:?}: neomutt session failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
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
