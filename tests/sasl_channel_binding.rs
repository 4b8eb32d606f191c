//! SCRAM-SHA-1-PLUS and SCRAM-SHA-256-PLUS (RFC 5802 with channel binding)
//! over real TCP: `imapd --listen` started as root with a sasldb made by
//! the real saslpasswd2 and a certificate, GNU SASL's `gsasl` (Debian's
//! package, its own SCRAM and GnuTLS) as the client after STARTTLS, binding
//! with RFC 9266's `tls-exporter`. The -PLUS mechanisms are offered only on
//! TLS, a wrong password is refused, and plain SCRAM still works there. (A
//! client that could bind but says it believes we cannot, `y`, is refused
//! where -PLUS was offered: gsasl cannot be made to say that, so the unit
//! tests of `auth::sasl` show it.)
//! Needs root, sasl2-bin and gsasl (`make test`).

mod common;
mod deploy_common;
mod login_support;

use std::process::Command;

use login_support::{listen_sasldb, require_login_jail, saslpasswd, Daemon, Setup};

const REALM: &str = "example.org";
const PASSWORD: &str = "pl0s-Channel-Bound";
const GSASL: &str = "/usr/bin/gsasl";

struct Server {
    _setup: Setup,
    daemon: Daemon,
    port: u16,
    certs: deploy_common::Certs,
}

fn start() -> Server {
    deploy_common::require_tool(GSASL);
    require_login_jail();
    let setup = Setup::new();
    let certs = deploy_common::Certs::new();
    let db = setup.path().join("sasldb2");
    saslpasswd(&db, REALM, "alice", PASSWORD);
    let cert = format!("tls_cert={}", certs.path("rsa-chain.pem"));
    let key = format!("tls_key={}", certs.path("rsa.key"));
    let (daemon, port) = listen_sasldb(&setup, &db, REALM, &[&cert, &key]);
    Server {
        _setup: setup,
        daemon,
        port,
        certs,
    }
}

/// gsasl as an IMAP client after STARTTLS; (succeeded, what it printed).
fn gsasl(s: &Server, mechanism: &str, password: &str, extra: &[&str]) -> (bool, String) {
    let mut cmd = Command::new(GSASL);
    cmd.args(["--imap", "--starttls", "--quiet"])
        .args(["--x509-ca-file", &s.certs.path("ca.pem")])
        .args(["--mechanism", mechanism])
        .args(["--authentication-id", "alice@example.org"])
        .args(["--password", password])
        .args(extra)
        .arg("127.0.0.1")
        .arg(s.port.to_string());
    let (ok, out, err) = deploy_common::run_limited(&mut cmd, b"");
    (ok, format!("{out}\n{err}"))
}

#[test]
fn scram_plus_with_gsasl_over_starttls() {
    let s = start();
    for m in ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS"] {
        let (ok, out) = gsasl(&s, m, PASSWORD, &[]);
        assert!(ok, "{m}: {out}");
        let (ok, out) = gsasl(&s, m, "wrong-Password-1", &[]);
        assert!(!ok, "{m} with a wrong password: {out}");
    }
    // Plain SCRAM over TLS by a client that binds nothing ("n"): taken.
    let (ok, out) = gsasl(&s, "SCRAM-SHA-256", PASSWORD, &["--no-cb"]);
    assert!(ok, "{out}");
    assert!(out.contains("biws"), "gsasl did not say n,,: {out}");
    // -PLUS is offered only after STARTTLS.
    let greeting = out.lines().next().unwrap_or_default();
    assert!(
        greeting.contains("AUTH=SCRAM-SHA-256") && !greeting.contains("-PLUS"),
        "{greeting}"
    );
    assert!(out.contains("AUTH=SCRAM-SHA-256-PLUS"), "{out}");
    drop(s.daemon);
}
