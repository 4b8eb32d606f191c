//! SASL EXTERNAL (RFC 4422 Appendix A) with TLS client certificates,
//! through the built imapd and pop3d under `systemd-socket-activate` (as
//! xinetd runs them), with real clients: GNU gsasl (IMAP, STARTTLS) and
//! curl (IMAP and POP3). A certificate signed by `tls_client_ca` whose
//! subject CN is a system user logs that user in (the parent verifies the
//! chain again); asking to act as someone else is refused; a client with
//! no certificate is not offered EXTERNAL; `tls_client_user = email` takes
//! the subjectAltName's address instead (a virtual user), and `map:FILE`
//! a table of certificate fingerprints. Needs root, gsasl and curl
//! (`make test`).

mod deploy_common;

use std::process::Command;

use deploy_common::*;

const GSASL: &str = "/usr/bin/gsasl";

/// A client certificate signed by the test CA: CN `cn`, the e-mail
/// address `email` in its subjectAltName; files `NAME.pem`, `NAME.key`.
fn client_cert(certs: &Certs, name: &str, cn: &str, email: &str) {
    let d = certs.dir.path();
    std::fs::write(
        d.join(format!("{name}.cnf")),
        format!("extendedKeyUsage=clientAuth\nsubjectAltName=email:{email}\n"),
    )
    .unwrap();
    sh(&format!(
        "cd {} && openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
         -keyout {name}.key -out {name}.csr -subj /CN={cn} 2>/dev/null && \
         openssl x509 -req -in {name}.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
         -days 30 -extfile {name}.cnf -out {name}.pem 2>/dev/null",
        d.display()
    ));
}

struct Server {
    _daemon: Daemon,
    port: u16,
    log: Log,
}

fn serve(bin: &str, pam: &str, certs: &Certs, extra: &[&str]) -> Server {
    let log = Log::new();
    let mut args = base_args(pam, &log);
    for o in [
        format!("tls_cert={}", certs.path("rsa-chain.pem")),
        format!("tls_key={}", certs.path("rsa.key")),
        format!("tls_client_ca={}", certs.path("ca.pem")),
    ]
    .iter()
    .map(String::as_str)
    .chain(extra.iter().copied())
    {
        args.push("-o".into());
        args.push(o.into());
    }
    let (daemon, port) = socket_activate(bin, &args);
    Server {
        _daemon: daemon,
        port,
        log,
    }
}

/// gsasl's IMAP login with EXTERNAL after STARTTLS; (ok, transcript).
fn gsasl(s: &Server, certs: &Certs, cert: Option<&str>, authzid: Option<&str>) -> (bool, String) {
    let mut cmd = Command::new(GSASL);
    cmd.args(["--imap", "--starttls", "--quiet", "--mechanism", "EXTERNAL"])
        .args(["--x509-ca-file", &certs.path("ca.pem")]);
    if let Some(c) = cert {
        cmd.args(["--x509-cert-file", &certs.path(&format!("{c}.pem"))])
            .args(["--x509-key-file", &certs.path(&format!("{c}.key"))]);
    }
    cmd.args(["--authorization-id", authzid.unwrap_or("")])
        .arg("127.0.0.1")
        .arg(s.port.to_string());
    let (ok, out, err) = run_limited(&mut cmd, b"");
    (ok, format!("{out}\n{err}"))
}

/// curl with the client certificate `cert` and EXTERNAL, as `user`.
fn curl(url: &str, certs: &Certs, cert: &str, user: &str) -> (bool, String) {
    let mut cmd = Command::new("/usr/bin/curl");
    cmd.args(["-s", "-S", "--ssl-reqd", "--max-time", "20"])
        .args(["--cacert", &certs.path("ca.pem")])
        .args(["--cert", &certs.path(&format!("{cert}.pem"))])
        .args(["--key", &certs.path(&format!("{cert}.key"))])
        .args(["--login-options", "AUTH=EXTERNAL"])
        .args(["-u", &format!("{user}:")])
        .arg(url);
    let (ok, out, err) = run_limited(&mut cmd, b"");
    (ok, format!("{out}\n{err}"))
}

#[test]
fn external_with_client_certificates() {
    require_tool(GSASL);
    pam_user();
    let certs = Certs::new();
    client_cert(&certs, "user", USER, "someone@example.org");
    client_cert(
        &certs,
        "stranger",
        "nosuchuser",
        &format!("{USER}@example.org"),
    );

    let s = serve(IMAPD, PAM_IMAP, &certs, &[]);
    let (ok, out) = gsasl(&s, &certs, Some("user"), None);
    assert!(ok, "{out}");
    assert!(out.contains("AUTH=EXTERNAL"), "{out}");
    // Acting as another user: no proxy authorisation.
    let (ok, out) = gsasl(&s, &certs, Some("user"), Some("root"));
    assert!(!ok, "{out}");
    // A certificate naming no system user, and no certificate at all.
    let (ok, out) = gsasl(&s, &certs, Some("stranger"), None);
    assert!(!ok, "{out}");
    let (ok, out) = gsasl(&s, &certs, None, None);
    assert!(!ok, "{out}");
    assert!(!out.contains("AUTH=EXTERNAL"), "{out}");
    // curl reads the user's message with it.
    let url = format!("imap://127.0.0.1:{}/INBOX;MAILINDEX=1", s.port);
    let (ok, out) = curl(&url, &certs, "user", USER);
    assert!(ok && out.contains("Subject: deploy test"), "{out}");
    let log = s.log.wait_for("method=EXTERNAL");
    assert!(
        log.contains(&format!(
            "user={USER}: login: method=EXTERNAL backend=Certificate"
        )),
        "{log}"
    );
    assert!(log.contains("login failed: user=nosuchuser"), "{log}");

    // POP3, and the subjectAltName's address as the user's name: a
    // virtual user (running as the system account `virtual_user`).
    let virtual_user = format!("virtual_user={USER}");
    let p = serve(
        POP3D,
        PAM_POP3,
        &certs,
        &["tls_client_user=email", &virtual_user],
    );
    let url = format!("pop3://127.0.0.1:{}/1", p.port);
    let address = format!("{USER}@example.org");
    let (ok, out) = curl(&url, &certs, "stranger", &address);
    assert!(ok && out.contains("Subject: deploy test"), "{out}");
    // The certificate names another address than the one asked for.
    let (ok, out) = curl(&url, &certs, "user", &address);
    assert!(!ok, "{out}");
    let log = p.log.wait_for("quit:");
    assert!(
        log.contains(&format!(
            "user={address}: login: method=EXTERNAL backend=Certificate"
        )),
        "{log}"
    );
    let p = serve(POP3D, PAM_POP3, &certs, &[]);
    let url = format!("pop3://127.0.0.1:{}/1", p.port);
    let (ok, out) = curl(&url, &certs, "user", USER);
    assert!(ok && out.contains("Subject: deploy test"), "{out}");

    // A map of certificate fingerprints, as openssl prints them, to users:
    // the stranger's certificate (CN nosuchuser) is the user's now.
    let (ok, fingerprint, err) = run_limited(
        Command::new("openssl").args([
            "x509",
            "-noout",
            "-fingerprint",
            "-sha256",
            "-in",
            &certs.path("stranger.pem"),
        ]),
        b"",
    );
    assert!(ok, "{err}");
    let fingerprint = fingerprint.trim().rsplit('=').next().unwrap().to_string();
    let map = certs.dir.path().join("client-users");
    std::fs::write(&map, format!("# fingerprint user\n{fingerprint} {USER}\n")).unwrap();
    let rule = format!("tls_client_user=map:{}", map.display());
    let m = serve(IMAPD, PAM_IMAP, &certs, &[&rule]);
    let url = format!("imap://127.0.0.1:{}/INBOX;MAILINDEX=1", m.port);
    let (ok, out) = curl(&url, &certs, "stranger", USER);
    assert!(ok && out.contains("Subject: deploy test"), "{out}");
    // A certificate the map does not list names nobody.
    let (ok, out) = curl(&url, &certs, "user", USER);
    assert!(!ok, "{out}");
}
