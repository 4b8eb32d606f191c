//! Differential test: our pop3d against Dovecot 2.3's pop3 on the same
//! Maildir: UIDL, LIST, RETR and TOP of every message of CPython's email
//! test corpus, our MIME edge cases (tests/data/mime/) and a few POP3 ones
//! (dots, no final newline, bare LF and CR). Dovecot runs first and writes
//! its `dovecot-uidlist`; our store imports it, so the UIDLs must be the
//! same too: a user who moves from Dovecot to mailaccess does not get every
//! message downloaded again.
//!
//! Dovecot's pop3 runs standalone like its imap (tests/common/dovecot.rs):
//! `setpriv ... env -i USER=U HOME=DIR /usr/lib/dovecot/pop3 -c CONF`,
//! preauthenticated, commands on stdin. Needs root and dovecot-pop3d.

mod common {
    pub mod corpus;
    pub mod dovecot;
}

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::dovecot;

const POP3_BIN: &str = "/usr/lib/dovecot/pop3";

/// POP3 cases of our own.
const CASES: &[&[u8]] = &[
    b"Subject: dots\n\n.\n..\n.x\nx.\n.\r\n",
    b"Subject: no final newline\r\n\r\nlast line",
    b"Subject: bare CR\r\n\r\na\rb\r\n\r\r\n",
    b"Subject: header only",
    b"",
    b"\n\n\n",
];

fn messages() -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = CASES.iter().map(|c| c.to_vec()).collect();
    let mut files: Vec<PathBuf> = Vec::new();
    for dir in [
        common::corpus::cpython_email_dir(),
        Some(PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/mime"
        ))),
    ]
    .into_iter()
    .flatten()
    {
        if let Ok(rd) = fs::read_dir(&dir) {
            files.extend(
                rd.flatten()
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|e| e == "txt" || e == "eml")),
            );
        }
    }
    files.sort();
    v.extend(files.iter().map(|p| fs::read(p).unwrap()));
    v
}

/// The responses to `script` (one command a line), split per command:
/// multi-line responses (`multi[i]`) up to their terminating `.`. Our
/// greeting is skipped; Dovecot's standalone pop3 sends none.
fn split(out: &[u8], multi: &[bool], greeting: bool) -> Vec<Vec<u8>> {
    let mut lines = out.split_inclusive(|&c| c == b'\n');
    if greeting {
        lines.next();
    }
    let mut v = Vec::new();
    for &m in multi {
        let mut r = Vec::new();
        let Some(first) = lines.next() else { break };
        r.extend_from_slice(first);
        if m && first.starts_with(b"+OK") {
            for l in lines.by_ref() {
                r.extend_from_slice(l);
                if l == b".\r\n" {
                    break;
                }
            }
        }
        v.push(r);
    }
    v
}

fn run(mut cmd: Command, input: Vec<u8>) -> Vec<u8> {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start pop3 server");
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    let _ = writer.join();
    out.stdout
}

fn as_user(dir: &Path, bin: &str) -> Command {
    let (uid, gid) = dovecot::ensure_user(dovecot::TEST_USER);
    // setpriv execs the server itself (no `env` in between): a checkout in
    // a directory only root may enter (mktemp -d) must still work, as it
    // does for the other tests.
    let mut c = Command::new("setpriv");
    c.args([
        &format!("--reuid={uid}"),
        &format!("--regid={gid}"),
        "--init-groups",
        "--",
        bin,
    ])
    .env_clear()
    .env("USER", dovecot::TEST_USER)
    .env("HOME", dir);
    c
}

/// Gives `path` (and all under it) to the test user.
fn chown(uid: &str, gid: &str, path: &Path) {
    let st = Command::new("chown")
        .args(["-R", &format!("{uid}:{gid}")])
        .arg(path)
        .status()
        .unwrap();
    assert!(st.success());
}

#[test]
fn uidl_list_retr_top_match_dovecot() {
    dovecot::require();
    assert!(
        Path::new(POP3_BIN).exists(),
        "{POP3_BIN} is missing: install the Debian package dovecot-pop3d"
    );
    let (uid, gid) = dovecot::ensure_user(dovecot::TEST_USER);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let md = dovecot::maildir(dir);
    let msgs = messages();
    for (i, m) in msgs.iter().enumerate() {
        // Half in new/ (IMAP would move them to cur/), half seen in cur/.
        if i % 2 == 0 {
            dovecot::add_message(&md, i + 1, m);
        } else {
            let name = format!("{}.M{}P1.mailaccess", 1_000_000_000 + i + 1, i + 1);
            fs::write(md.join("new").join(name), m).unwrap();
        }
    }
    let conf = dir.join("dovecot.conf");
    fs::write(
        &conf,
        format!(
            "mail_location = maildir:{}:INDEX=MEMORY\nssl = no\nlog_path = /dev/null\n\
             info_log_path = /dev/null\nprotocols = pop3\nlisten =\n",
            md.display()
        ),
    )
    .unwrap();
    chown(&uid, &gid, dir);

    let mut script = String::from("UIDL\r\n");
    let mut multi = vec![true];
    for n in 1..=msgs.len() {
        script.push_str(&format!(
            "LIST {n}\r\nUIDL {n}\r\nRETR {n}\r\nTOP {n} 0\r\nTOP {n} 3\r\n"
        ));
        multi.extend([false, false, true, true, true]);
    }
    script.push_str("QUIT\r\n");
    multi.push(false);

    let mut dc = as_user(dir, POP3_BIN);
    dc.arg("-c").arg(&conf);
    let theirs = split(&run(dc, script.clone().into_bytes()), &multi, false);
    assert!(
        md.join("dovecot-uidlist").exists(),
        "Dovecot wrote no dovecot-uidlist"
    );
    let mut ours = as_user(dir, env!("CARGO_BIN_EXE_pop3d"));
    ours.args(["-c", "/dev/null", "-o"])
        .arg(format!("mail_location=maildir:{}", md.display()));
    let ours = split(&run(ours, script.clone().into_bytes()), &multi, true);

    assert_eq!(theirs.len(), multi.len(), "Dovecot answered everything");
    assert_eq!(ours.len(), multi.len(), "we answered everything");
    let commands: Vec<&str> = script.lines().collect();
    let mut differ = Vec::new();
    let mut known = 0;
    // The QUIT answers differ in wording only.
    for i in 0..multi.len() - 1 {
        // Known: for an empty message Dovecot sends an empty line before
        // the terminator; we send none, since the message has no line.
        let empty_message = i > 0 && msgs[(i - 1) / 5].is_empty();
        if empty_message && ours[i].ends_with(b"\r\n.\r\n") {
            let mut with_line = ours[i][..ours[i].len() - 3].to_vec();
            with_line.extend_from_slice(b"\r\n.\r\n");
            if with_line == theirs[i] {
                known += 1;
                continue;
            }
        }
        if theirs[i] != ours[i] {
            differ.push(format!(
                "{}\n  dovecot: {:?}\n  ours:    {:?}",
                commands[i],
                String::from_utf8_lossy(&theirs[i]),
                String::from_utf8_lossy(&ours[i])
            ));
        }
    }
    println!(
        "{} messages, {} responses compared, {known} known differences, {} others",
        msgs.len(),
        multi.len() - 1,
        differ.len()
    );
    assert!(
        known > 0,
        "the known difference went away: update this test"
    );
    assert!(differ.is_empty(), "{}", differ.join("\n"));
}

/// `pop3_uidl_format` with the formats other servers used gives the UIDLs
/// Dovecot's pop3 gives with the same setting on the same Maildir (its
/// `dovecot-uidlist` is imported, so UIDs and UIDVALIDITY are the same).
#[test]
fn uidl_formats_match_dovecot() {
    dovecot::require();
    let (uid, gid) = dovecot::ensure_user(dovecot::TEST_USER);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let md = dovecot::maildir(dir);
    for (i, m) in messages().iter().take(12).enumerate() {
        dovecot::add_message(&md, i + 1, m);
    }
    chown(&uid, &gid, dir);
    for format in ["%08Xu%08Xv", "%v.%u", "%u", "%v-%u", "%08Xv%08Xu"] {
        let conf = dir.join("dovecot.conf");
        fs::write(
            &conf,
            format!(
                "mail_location = maildir:{}\nssl = no\nlog_path = /dev/null\n\
                 info_log_path = /dev/null\nprotocols = pop3\nlisten =\n\
                 pop3_uidl_format = {format}\n",
                md.display()
            ),
        )
        .unwrap();
        chown(&uid, &gid, &conf);
        let mut dc = as_user(dir, POP3_BIN);
        dc.arg("-c").arg(&conf);
        let theirs = split(
            &run(dc, b"UIDL\r\nQUIT\r\n".to_vec()),
            &[true, false],
            false,
        );
        let mut ours = as_user(dir, env!("CARGO_BIN_EXE_pop3d"));
        ours.args(["-c", "/dev/null", "-o"])
            .arg(format!("mail_location=maildir:{}", md.display()))
            .arg("-o")
            .arg(format!("pop3_uidl_format={format}"));
        let ours = split(
            &run(ours, b"UIDL\r\nQUIT\r\n".to_vec()),
            &[true, false],
            true,
        );
        assert_eq!(
            String::from_utf8_lossy(&ours[0]),
            String::from_utf8_lossy(&theirs[0]),
            "{format}"
        );
        assert!(
            ours[0].len() > 40,
            "{format}: {:?}",
            String::from_utf8_lossy(&ours[0])
        );
    }
}
