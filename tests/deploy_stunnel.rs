//! The repository's stunnel/ files with a real stunnel: as a daemon
//! (stunnel/mailaccess.conf, imapd --wrapped per connection through
//! exec/execArgs) and in inetd mode under a real xinetd
//! (stunnel/xinetd-imaps + stunnel/imaps-inetd.conf). Ports, paths and
//! test options changed, nothing else. Logins through PAM (a copy of
//! pam.d/imap). Needs root.

mod deploy_common;

use std::process::Command;

use deploy_common::*;

const STUNNEL: &str = "/usr/bin/stunnel4";

struct Setup {
    _daemon: Daemon,
    /// The inetd-mode configuration, kept while xinetd runs.
    _conf: Option<tempfile::TempDir>,
    certs: Certs,
    log: Log,
    port: u16,
}

/// stunnel as a daemon, in the foreground, with both sections.
fn daemon() -> Setup {
    require_tool(STUNNEL);
    pam_user();
    let certs = Certs::new();
    let log = Log::new();
    let dir = tempfile::Builder::new()
        .prefix("mailaccess-stunnel")
        .tempdir()
        .unwrap();
    let (imaps, pop3s) = (free_port(), free_port());
    let conf = stunnel_conf(
        "stunnel/mailaccess.conf",
        dir.path(),
        &certs.path("ec-chain.pem"),
        &certs.path("ec.key"),
        &[("imaps", imaps), ("pop3s", pop3s)],
        &base_args(PAM_IMAP, &log).join(" "),
        "",
    );
    let path = dir.path().join("stunnel.conf");
    std::fs::write(&path, conf).unwrap();
    let mut cmd = Command::new(STUNNEL);
    cmd.arg(&path);
    let d = Daemon::spawn(cmd, dir);
    wait_listening(imaps);
    Setup {
        _daemon: d,
        _conf: None,
        certs,
        log,
        port: imaps,
    }
}

/// xinetd starting stunnel in inetd mode per connection.
fn inetd() -> Setup {
    require_tool(STUNNEL);
    pam_user();
    let certs = Certs::new();
    let log = Log::new();
    let conf_dir = tempfile::Builder::new()
        .prefix("mailaccess-stunnel-inetd")
        .tempdir()
        .unwrap();
    let conf = stunnel_conf(
        "stunnel/imaps-inetd.conf",
        conf_dir.path(),
        &certs.path("rsa-chain.pem"),
        &certs.path("rsa.key"),
        &[],
        &base_args(PAM_IMAP, &log).join(" "),
        "",
    );
    let path = conf_dir.path().join("imaps-inetd.conf");
    std::fs::write(&path, conf).unwrap();
    let port = free_port();
    let service = xinetd_service_replacing(
        "stunnel/xinetd-imaps",
        port,
        STUNNEL,
        &path.display().to_string(),
    );
    let d = xinetd(&[service]);
    wait_listening(port);
    Setup {
        _daemon: d,
        _conf: Some(conf_dir),
        certs,
        log,
        port,
    }
}

/// Logs in through stunnel with Python, verifying the chain; returns
/// what Python printed.
fn python_session(s: &Setup) -> String {
    let (ok, out, err) = python(&format!(
        "import imaplib, ssl\n\
         ctx = ssl.create_default_context(cafile='{ca}')\n\
         m = imaplib.IMAP4_SSL('127.0.0.1', {port}, ssl_context=ctx)\n\
         print(m.capabilities)\n\
         print(m.login('{USER}', '{PASSWORD}'))\n\
         print(m.select('INBOX'))\n\
         print(m.fetch('1', '(BODY[HEADER.FIELDS (SUBJECT)])'))\n\
         print(m.logout())\n",
        ca = s.certs.path("ca.pem"),
        port = s.port
    ));
    assert!(ok, "{out}\n{err}");
    out
}

fn check_session(s: &Setup, out: &str) {
    // --wrapped: plaintext login allowed, no STARTTLS inside stunnel's TLS.
    assert!(
        !out.contains("LOGINDISABLED") && !out.contains("STARTTLS"),
        "{out}"
    );
    assert!(out.contains("'AUTH=PLAIN'"), "{out}");
    assert!(out.contains("('OK', [b'1'])"), "{out}");
    assert!(out.contains("deploy test"), "{out}");
    // stunnel passes the client's address in REMOTE_HOST.
    let t = s.log.wait_for("logout");
    assert!(
        t.contains("127.0.0.1") && t.contains(&format!("user={USER}")),
        "{t}"
    );
}

#[test]
fn daemon_imaps_python() {
    let s = daemon();
    let out = python_session(&s);
    check_session(&s, &out);
}

#[test]
fn daemon_imaps_curl() {
    require_tool("/usr/bin/curl");
    let s = daemon();
    let (ok, out, err) = run_limited(
        Command::new("curl").args([
            "-sS",
            "-k",
            "-u",
            &format!("{USER}:{PASSWORD}"),
            &format!("imaps://127.0.0.1:{}/INBOX;UID=1", s.port),
        ]),
        b"",
    );
    assert!(
        ok && out.contains("Hello from the deploy tests."),
        "{out}\n{err}"
    );
}

#[test]
fn daemon_wrong_password() {
    let s = daemon();
    let (ok, out, err) = python(&format!(
        "import imaplib, ssl\n\
         m = imaplib.IMAP4_SSL('127.0.0.1', {port}, ssl_context=ssl._create_unverified_context())\n\
         try:\n    m.login('{USER}', 'wrong')\n    print('LOGGED IN')\n\
         except imaplib.IMAP4.error as e:\n    print('refused', e)\n",
        port = s.port
    ));
    assert!(ok && out.contains("refused"), "{out}\n{err}");
}

#[test]
fn inetd_mode_imaps_python() {
    let s = inetd();
    let out = python_session(&s);
    check_session(&s, &out);
}

#[test]
fn inetd_mode_imaps_curl() {
    require_tool("/usr/bin/curl");
    let s = inetd();
    let (ok, out, err) = run_limited(
        Command::new("curl").args([
            "-sS",
            "--cacert",
            &s.certs.path("ca.pem"),
            "-u",
            &format!("{USER}:{PASSWORD}"),
            &format!("imaps://127.0.0.1:{}/INBOX;UID=1", s.port),
        ]),
        b"",
    );
    assert!(ok && out.contains("Subject: deploy test"), "{out}\n{err}");
}

/// The shipped stunnel files must keep stunnel root: imapd and pop3d run
/// by another user would serve that user's mail without a password.
#[test]
fn stunnel_files_never_drop_privileges() {
    for f in [
        "stunnel/mailaccess.conf",
        "stunnel/imaps-inetd.conf",
        "stunnel/pop3s-inetd.conf",
    ] {
        let text = std::fs::read_to_string(repo().join(f)).unwrap();
        for l in text.lines().map(str::trim).filter(|l| !l.starts_with(';')) {
            let key = l.split('=').next().unwrap_or("").trim();
            assert!(!matches!(key, "setuid" | "setgid" | "chroot"), "{f}: {l}");
            if key == "execArgs" {
                assert!(l.contains("--wrapped"), "{f}: {l}");
            }
        }
    }
    for f in ["stunnel/xinetd-imaps", "stunnel/xinetd-pop3s"] {
        let text = std::fs::read_to_string(repo().join(f)).unwrap();
        assert!(
            text.lines()
                .any(|l| l.trim().replace(['\t', ' '], "") == "user=root"),
            "{f}"
        );
    }
}
