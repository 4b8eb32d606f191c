//! imapd under the real xinetd (Debian's package), as it is deployed: a
//! test xinetd configuration on 127.0.0.1 and a free port, `user = root`,
//! the built imapd as `server`. A real PAM user and a real sasldb user log
//! in through it with Python's imaplib (tests/clients/login_sasl.py), and
//! the log shows the client address xinetd handed over (127.0.0.1).

mod common;
mod login_support;

use std::process::{Command, Stdio};

use login_support::*;

const XINETD: &str = "/usr/sbin/xinetd";
const REALM: &str = "example.org";
const DAVE_PW: &str = "d4ve-xinetd-Pw";

#[test]
fn pam_and_sasldb_users_log_in_through_xinetd() {
    assert!(
        std::path::Path::new(XINETD).exists(),
        "{XINETD} missing: install xinetd (scripts/test-deps.sh does)"
    );
    pam_users();
    let s = Setup::new();
    s.maildir(ALICE, ALICE);
    let db = s.path().join("sasldb2");
    saslpasswd(&db, REALM, "dave", DAVE_PW);
    // The sasldb user runs as mailtest, mail under %u = dave@example.org.
    let dave_home = s.mail().join(format!("dave@{REALM}"));
    std::fs::create_dir(&dave_home).unwrap();
    sh(&format!("chown mailtest: '{}'", dave_home.display()));

    let port = free_port();
    let server_args = [
        "-c /dev/null".to_string(),
        format!("-o log_path={}", s.log_path().display()),
        "-o auth=pam,sasldb".into(),
        format!("-o pam_service={PAM_SERVICE}"),
        format!("-o sasldb_path={}", db.display()),
        format!("-o sasl_realm={REALM}"),
        "-o virtual_user=mailtest".into(),
        format!("-o mail_location=maildir:{}/%u/Maildir", s.mail().display()),
        "-o auth_failure_delay=20ms".into(),
    ]
    .join(" ");
    let conf = s.path().join("xinetd.conf");
    std::fs::write(
        &conf,
        format!(
            "defaults\n{{\n}}\n\
             service mailaccess-imap-test\n{{\n\
             \ttype = UNLISTED\n\
             \tsocket_type = stream\n\
             \tprotocol = tcp\n\
             \twait = no\n\
             \tuser = root\n\
             \tbind = 127.0.0.1\n\
             \tport = {port}\n\
             \tserver = {IMAPD}\n\
             \tserver_args = {server_args}\n\
             \tinstances = 20\n\
             \tlog_type = FILE {xlog}\n\
             \tlog_on_success = HOST PID EXIT\n\
             \tlog_on_failure = HOST\n\
             }}\n",
            xlog = s.path().join("xinetd.log").display()
        ),
    )
    .unwrap();
    let child = Command::new(XINETD)
        .arg("-f")
        .arg(&conf)
        .arg("-dontfork")
        .arg("-pidfile")
        .arg(s.path().join("xinetd.pid"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start xinetd");
    let mut xinetd = Daemon { child };
    wait_for_port(port, &mut xinetd.child);

    let cases = [
        sasl_case(ALICE, PASSWORD, "LOGIN", true, Some("alice via xinetd")),
        sasl_case(ALICE, WRONG, "LOGIN", false, None),
        sasl_case(ALICE, PASSWORD, "PLAIN", true, None),
        sasl_case(
            &format!("dave@{REALM}"),
            DAVE_PW,
            "LOGIN",
            true,
            Some("dave via xinetd"),
        ),
        sasl_case(&format!("dave@{REALM}"), DAVE_PW, "CRAM-MD5", true, None),
        sasl_case(
            &format!("dave@{REALM}"),
            DAVE_PW,
            "SCRAM-SHA-256",
            true,
            None,
        ),
        sasl_case(
            &format!("dave@{REALM}"),
            WRONG,
            "SCRAM-SHA-256",
            false,
            None,
        ),
    ];
    let out = python_client(port, &format!("[{}]", cases.join(",")));
    assert!(out.contains("login_sasl: all ok"), "{out}");
    xinetd.stop();

    let log = s.log();
    assert!(
        log.contains("127.0.0.1:")
            && log.contains(&format!("user={ALICE}: login: method=LOGIN backend=Pam")),
        "{log}"
    );
    // Every line of every connection names the peer xinetd accepted.
    for l in log.lines() {
        assert!(
            l.contains(": 127.0.0.1:") || l.contains(" 127.0.0.1:"),
            "no peer address: {l}"
        );
    }
    for m in ["LOGIN", "CRAM-MD5", "SCRAM-SHA-256"] {
        assert!(
            log.contains(&format!(
                "user=dave@{REALM}: login: method={m} backend=Sasldb"
            )),
            "{m}: {log}"
        );
    }
    assert!(
        log.contains(&format!("login failed: user={ALICE}")),
        "{log}"
    );
    for secret in [PASSWORD, DAVE_PW, WRONG] {
        assert!(!log.contains(secret), "the log holds {secret:?}: {log}");
    }
    // The mail landed where each user's mail_location says, as that user.
    use std::os::unix::fs::MetadataExt;
    for (dir, owner, subject) in [
        (
            s.mail().join(ALICE).join("Maildir"),
            ALICE,
            "alice via xinetd",
        ),
        (dave_home.join("Maildir"), "mailtest", "dave via xinetd"),
    ] {
        let (uid, gid) = uid_of(owner).unwrap();
        let files: Vec<_> = ["new", "cur"]
            .iter()
            .flat_map(|d| std::fs::read_dir(dir.join(d)).unwrap().flatten())
            .collect();
        assert_eq!(files.len(), 1, "{}: {files:?}", dir.display());
        let m = files[0].metadata().unwrap();
        assert_eq!(
            (m.uid(), m.gid()),
            (uid, gid),
            "{}",
            files[0].path().display()
        );
        let text = std::fs::read_to_string(files[0].path()).unwrap();
        assert!(text.contains(subject), "{text}");
    }
}
