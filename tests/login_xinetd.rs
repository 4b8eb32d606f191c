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

/// Starts xinetd in the foreground with one service: imapd on bind:port.
fn start_xinetd(s: &Setup, bind: &str, port: u16, server_args: &str) -> Daemon {
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
             \tbind = {bind}\n\
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
    wait_for_port_at(bind, port, &mut xinetd.child);
    xinetd
}

fn require_xinetd() {
    assert!(
        std::path::Path::new(XINETD).exists(),
        "{XINETD} missing: install xinetd (scripts/test-deps.sh does)"
    );
}

#[test]
fn pam_and_sasldb_users_log_in_through_xinetd() {
    require_xinetd();
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
    let mut xinetd = start_xinetd(&s, "127.0.0.1", port, &server_args);

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

/// This machine's first non-loopback IPv4 address (`hostname -I`).
fn non_loopback_address() -> String {
    let out = Command::new("hostname")
        .arg("-I")
        .output()
        .expect("hostname -I");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.split_whitespace()
        .find(|a| {
            a.parse::<std::net::Ipv4Addr>()
                .is_ok_and(|ip| !ip.is_loopback())
        })
        .unwrap_or_else(|| panic!("no non-loopback IPv4 address on this machine: {text:?}"))
        .to_string()
}

/// A client that is not on loopback, as xinetd reports it (getpeername on
/// the socket): no plaintext login, LOGINDISABLED; CRAM-MD5 and SCRAM
/// still work, since they send no password.
#[test]
fn a_non_loopback_client_gets_logindisabled_through_xinetd() {
    require_xinetd();
    pam_users();
    let ip = non_loopback_address();
    let s = Setup::new();
    s.maildir(ALICE, ALICE);
    let db = s.path().join("sasldb2");
    saslpasswd(&db, REALM, "dave", DAVE_PW);
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
    let mut xinetd = start_xinetd(&s, &ip, port, &server_args);
    let caps = r#""caps": ["LOGINDISABLED", "AUTH=CRAM-MD5", "AUTH=SCRAM-SHA-256"], "nocaps": ["AUTH=PLAIN", "AUTH=LOGIN"]"#;
    let dave = format!("dave@{REALM}");
    let cases = [
        format!(
            r#"{{"user": "{ALICE}", "password": "{PASSWORD}", "method": "LOGIN", "ok": false, "code": "PRIVACYREQUIRED", {caps}}}"#
        ),
        format!(
            r#"{{"user": "{ALICE}", "password": "{PASSWORD}", "method": "PLAIN", "ok": false, "code": "PRIVACYREQUIRED", {caps}}}"#
        ),
        format!(
            r#"{{"user": "{dave}", "password": "{DAVE_PW}", "method": "CRAM-MD5", "ok": true, {caps}}}"#
        ),
        format!(
            r#"{{"user": "{dave}", "password": "{DAVE_PW}", "method": "SCRAM-SHA-256", "ok": true, {caps}}}"#
        ),
    ];
    let out = python_client_at(&ip, port, &format!("[{}]", cases.join(",")));
    assert!(out.contains("login_sasl: all ok"), "{out}");
    xinetd.stop();
    let log = s.log();
    assert!(log.contains(&format!("{ip}:")), "{log}");
    assert!(!log.contains("127.0.0.1"), "{log}");
    assert!(
        log.contains(&format!(
            "user={dave}: login: method=SCRAM-SHA-256 backend=Sasldb"
        )),
        "{log}"
    );
    assert!(!log.contains(&format!("user={ALICE}: login:")), "{log}");
    assert!(!log.contains(PASSWORD), "{log}");
}
