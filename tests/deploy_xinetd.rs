//! The repository's xinetd.d/imap and xinetd.d/imaps run by a real xinetd
//! (ports, server path and test options changed, nothing else), with real
//! clients: Python imaplib, curl and openssl s_client. Logins go through
//! PAM with a copy of pam.d/imap. Needs root.

mod deploy_common;

use std::process::Command;

use deploy_common::*;

struct Setup {
    _xinetd: Daemon,
    certs: Certs,
    log: Log,
    imap: u16,
    imaps: u16,
}

fn setup() -> Setup {
    pam_user();
    let certs = Certs::new();
    let log = Log::new();
    let args = format!(
        "{} -o tls_cert={} -o tls_key={}",
        base_args(PAM_IMAP, &log).join(" "),
        certs.path("rsa-chain.pem"),
        certs.path("rsa.key")
    );
    let (imap, imaps) = (free_port(), free_port());
    let xinetd = xinetd(&[
        xinetd_service("xinetd.d/imap", imap, IMAPD, &args),
        xinetd_service("xinetd.d/imaps", imaps, IMAPD, &args),
    ]);
    wait_started(&xinetd);
    Setup {
        _xinetd: xinetd,
        certs,
        log,
        imap,
        imaps,
    }
}

#[test]
fn plain_imap_login_through_pam() {
    let s = setup();
    let (ok, out, err) = python(&format!(
        "import imaplib\n\
         m = imaplib.IMAP4('127.0.0.1', {port})\n\
         print(m.capabilities)\n\
         print(m.login('{USER}', '{PASSWORD}'))\n\
         print(m.select('INBOX'))\n\
         print(m.fetch('1', '(BODY[HEADER.FIELDS (SUBJECT)])'))\n\
         print(m.logout())\n",
        port = s.imap
    ));
    assert!(ok, "{out}\n{err}");
    // Loopback: plaintext login allowed; a certificate: STARTTLS offered.
    assert!(
        out.contains("'STARTTLS'") && !out.contains("LOGINDISABLED"),
        "{out}"
    );
    assert!(out.contains("('OK', [b'1'])"), "{out}");
    assert!(out.contains("deploy test"), "{out}");
    let t = s.log.wait_for("logout");
    assert!(
        t.contains(&format!("user={USER}")) && t.contains("127.0.0.1"),
        "{t}"
    );
}

#[test]
fn wrong_password_is_refused_and_logged() {
    let s = setup();
    let (ok, out, err) = python(&format!(
        "import imaplib\n\
         m = imaplib.IMAP4('127.0.0.1', {port})\n\
         try:\n    m.login('{USER}', 'wrong')\n    print('LOGGED IN')\n\
         except imaplib.IMAP4.error as e:\n    print('refused', e)\n",
        port = s.imap
    ));
    assert!(ok, "{out}\n{err}");
    assert!(
        out.contains("refused") && out.contains("AUTHENTICATIONFAILED"),
        "{out}"
    );
    let t = s.log.wait_for("failed");
    assert!(t.contains("login failed"), "{t}");
    assert!(!t.contains("wrong"), "a password reached the log: {t}");
}

#[test]
fn imaps_with_python_verifying_the_chain() {
    let s = setup();
    let (ok, out, err) = python(&format!(
        "import imaplib, ssl\n\
         ctx = ssl.create_default_context(cafile='{ca}')\n\
         m = imaplib.IMAP4_SSL('127.0.0.1', {port}, ssl_context=ctx)\n\
         print(m.capabilities)\n\
         print(m.login('{USER}', '{PASSWORD}'))\n\
         print(m.select('INBOX'))\n\
         print(m.sock.version())\n\
         print(m.logout())\n",
        ca = s.certs.path("ca.pem"),
        port = s.imaps
    ));
    assert!(ok, "{out}\n{err}");
    assert!(!out.contains("STARTTLS"), "{out}");
    assert!(out.contains("('OK', [b'1'])"), "{out}");
    assert!(out.contains("TLSv1.3"), "{out}");
}

#[test]
fn curl_imaps_and_starttls() {
    require_tool("/usr/bin/curl");
    let s = setup();
    let user = format!("{USER}:{PASSWORD}");
    let (ok, out, err) = run_limited(
        Command::new("curl").args([
            "-sS",
            "-k",
            "-u",
            &user,
            &format!("imaps://127.0.0.1:{}/INBOX;UID=1", s.imaps),
        ]),
        b"",
    );
    assert!(
        ok && out.contains("Hello from the deploy tests."),
        "{out}\n{err}"
    );
    let (ok, out, err) = run_limited(
        Command::new("curl").args([
            "-sS",
            "--cacert",
            &s.certs.path("ca.pem"),
            "-u",
            &user,
            &format!("imaps://127.0.0.1:{}/INBOX;UID=1", s.imaps),
        ]),
        b"",
    );
    assert!(ok && out.contains("Subject: deploy test"), "{out}\n{err}");
    // STARTTLS on the plain port, required.
    for extra in [["-k", "-k"], ["--cacert", &s.certs.path("ca.pem")]] {
        let (ok, out, err) = run_limited(
            Command::new("curl")
                .args(["-sS", "--ssl-reqd"])
                .args(extra)
                .args([
                    "-u",
                    &user,
                    &format!("imap://127.0.0.1:{}/INBOX;UID=1", s.imap),
                ]),
            b"",
        );
        assert!(ok && out.contains("Subject: deploy test"), "{out}\n{err}");
    }
}

#[test]
fn openssl_s_client_starttls_imap() {
    let s = setup();
    let (ok, out, err) = run_limited(
        Command::new("openssl").args([
            "s_client",
            "-quiet",
            "-verify_return_error",
            "-CAfile",
            &s.certs.path("ca.pem"),
            "-starttls",
            "imap",
            "-connect",
            &format!("127.0.0.1:{}", s.imap),
        ]),
        format!("a CAPABILITY\r\nb LOGIN {USER} {PASSWORD}\r\nc SELECT INBOX\r\nd LOGOUT\r\n")
            .as_bytes(),
    );
    assert!(ok, "{out}\n{err}");
    let caps = out
        .lines()
        .find(|l| l.starts_with("* CAPABILITY"))
        .unwrap_or("");
    assert!(
        !caps.contains("STARTTLS") && caps.contains("AUTH=PLAIN"),
        "{out}"
    );
    assert!(out.contains("b OK"), "{out}");
    assert!(out.contains("* 1 EXISTS"), "{out}");
    assert!(out.contains("d OK"), "{out}");
}

#[test]
fn openssl_s_client_imaps() {
    let s = setup();
    let (ok, out, err) = run_limited(
        Command::new("openssl").args([
            "s_client",
            "-quiet",
            "-verify_return_error",
            "-CAfile",
            &s.certs.path("ca.pem"),
            "-connect",
            &format!("127.0.0.1:{}", s.imaps),
        ]),
        b"a LOGOUT\r\n",
    );
    assert!(ok, "{out}\n{err}");
    assert!(out.starts_with("* OK"), "{out}");
    assert!(out.contains("a OK"), "{out}");
}
