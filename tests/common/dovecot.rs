//! Running Dovecot's `imap` binary standalone, as a reference server.
//!
//! Recipe (Debian package dovecot-imapd, Dovecot 2.3):
//!
//! 1. As root, pick an unprivileged user (Dovecot's imap refuses to run as
//!    root); we use `mailaccess-test`, created with `useradd --system` if
//!    missing.
//! 2. Put a Maildir (`cur/ new/ tmp/`) in a directory owned by that user and
//!    write a minimal config next to it:
//!    `mail_location = maildir:DIR/Maildir:INDEX=MEMORY` (no index files
//!    left behind), `ssl = no`, `log_path = /dev/null`, `protocols = imap`.
//! 3. Run `setpriv --reuid=U --regid=G --init-groups env -i USER=U HOME=DIR
//!    /usr/lib/dovecot/imap -c DIR/dovecot.conf` with the commands on stdin.
//!    Without `IMAPLOGINTAG`/login process it starts preauthenticated
//!    (`* PREAUTH`) as `USER` and talks IMAP on stdin/stdout; it exits at
//!    LOGOUT or end of input.

#![allow(dead_code)]

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub const IMAP_BIN: &str = "/usr/lib/dovecot/imap";
pub const TEST_USER: &str = "mailaccess-test";

/// Panics with a clear message unless this runs as root with
/// dovecot-imapd installed: the comparison must not be skipped silently.
pub fn require() {
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    assert_eq!(
        uid, "0",
        "this test must run as root (it runs Dovecot's imap as an unprivileged test user)"
    );
    assert!(
        Path::new(IMAP_BIN).exists(),
        "{IMAP_BIN} is missing: install the Debian package dovecot-imapd"
    );
}

/// The uid and gid of `user`, creating it as a system user if missing.
pub fn ensure_user(user: &str) -> (String, String) {
    let id = |flag: &str| {
        Command::new("id")
            .args([flag, user])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    if id("-u").is_none() {
        let st = Command::new("useradd")
            .args([
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                user,
            ])
            .status()
            .expect("running useradd");
        assert!(st.success(), "useradd {user} failed");
    }
    (
        id("-u").expect("test user uid"),
        id("-g").expect("test user gid"),
    )
}

/// A Maildir for Dovecot in `dir` (created): returns the Maildir path.
/// Messages are added with `add_message`; call `run` afterwards.
pub fn maildir(dir: &Path) -> PathBuf {
    let md = dir.join("Maildir");
    for sub in ["cur", "new", "tmp"] {
        fs::create_dir_all(md.join(sub)).expect("creating Maildir");
    }
    md
}

/// Stores message number `n` (1-based; file names sort in `n` order, which
/// is the order Dovecot assigns UIDs in) as seen, in `cur/`.
pub fn add_message(maildir: &Path, n: usize, raw: &[u8]) {
    let name = format!("{}.M{n}P1.mailaccess:2,S", 1_000_000_000 + n);
    fs::write(maildir.join("cur").join(name), raw).expect("writing message");
}

/// The command that runs Dovecot's imap preauthenticated as `TEST_USER` on
/// the Maildir under `dir` (made by `maildir`): writes `dir/dovecot.conf`
/// and hands `dir` to the test user. Spawn it with piped stdin/stdout to
/// talk IMAP interactively (benchmarks), or use `run`.
pub fn command(dir: &Path) -> Command {
    require();
    let (uid, gid) = ensure_user(TEST_USER);
    let conf = dir.join("dovecot.conf");
    fs::write(
        &conf,
        format!(
            "mail_location = maildir:{}:INDEX=MEMORY\nssl = no\nlog_path = /dev/null\n\
             info_log_path = /dev/null\nprotocols = imap\nlisten =\n",
            dir.join("Maildir").display()
        ),
    )
    .expect("writing dovecot.conf");
    let st = Command::new("chown")
        .args(["-R", &format!("{uid}:{gid}")])
        .arg(dir)
        .status()
        .expect("running chown");
    assert!(st.success(), "chown of {} failed", dir.display());
    let mut cmd = Command::new("setpriv");
    cmd.args([
        &format!("--reuid={uid}"),
        &format!("--regid={gid}"),
        "--init-groups",
        "env",
        "-i",
        &format!("USER={TEST_USER}"),
        &format!("HOME={}", dir.display()),
        IMAP_BIN,
        "-c",
    ])
    .arg(&conf);
    cmd
}

/// Runs Dovecot's imap on the Maildir under `dir` with `commands` as the
/// client's input (end with LOGOUT) and returns everything it wrote to
/// stdout.
pub fn run(dir: &Path, commands: &[u8]) -> Vec<u8> {
    let mut child = command(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting dovecot imap");
    let mut stdin = child.stdin.take().expect("stdin");
    let input = commands.to_vec();
    // Write from another thread: Dovecot answers while we still send.
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().expect("dovecot imap output");
    let _ = writer.join();
    out.stdout
}

/// A Maildir for Dovecot in `dir` holding `msgs` in this order, each with
/// its arrival time (the file's modification time); returns its path.
pub fn maildir_arrived(dir: &Path, msgs: &[(Vec<u8>, std::time::SystemTime)]) -> PathBuf {
    let md = maildir(dir);
    for (i, (m, at)) in msgs.iter().enumerate() {
        add_message(&md, i, m);
        let name = format!("{}.M{i}P1.mailaccess:2,S", 1_000_000_000 + i);
        fs::File::options()
            .write(true)
            .open(md.join("cur").join(name))
            .and_then(|f| f.set_modified(*at))
            .expect("setting the arrival time");
    }
    md
}
