//! Certificates and keys as administrators have them (RSA, ECDSA,
//! Ed25519, chains), broken ones (a key that does not match, an expired
//! certificate), and clients that break the handshake (gone mid-handshake,
//! garbage instead of a ClientHello). imapd runs as root on pipes, as
//! xinetd runs it. Needs root.

mod deploy_common;

use std::io::Write;
use std::time::Duration;

use deploy_common::*;

const REMOTE: &str = "192.0.2.1";

fn take_io(p: &mut Piped) -> PipeIo {
    std::mem::replace(&mut p.io, PipeIo { r: None, w: None })
}

fn tls_args(log: &Log, cert: &str, key: &str) -> Vec<String> {
    pam_user();
    let mut a = base_args(PAM_IMAP, log);
    a.extend([
        "-o".into(),
        format!("tls_cert={cert}"),
        "-o".into(),
        format!("tls_key={key}"),
        "--tls".into(),
    ]);
    a
}

/// Implicit TLS with a chain for `leaf`: the client verifies it against
/// the CA, sees leaf + CA, logs in through PAM and reads the message.
fn serves_with(leaf: &str) {
    let certs = Certs::new();
    let log = Log::new();
    let args = tls_args(
        &log,
        &certs.path(&format!("{leaf}-chain.pem")),
        &certs.path(&format!("{leaf}.key")),
    );
    let mut p = Piped::start(IMAPD, &args, REMOTE);
    let s = tls(certs.client_config(), take_io(&mut p)).expect("handshake");
    let sent = s.conn.peer_certificates().map(|c| c.len());
    assert_eq!(sent, Some(2), "the chain is leaf + CA");
    let mut c = Client::new(s);
    let g = c.line();
    assert!(g.starts_with("* OK"), "{g}");
    let r = c.command("a", &format!("LOGIN {USER} {PASSWORD}"));
    assert!(r.last().unwrap().starts_with("a OK"), "{r:?}");
    let r = c.command("b", "FETCH 1:* (FLAGS)");
    assert!(r.last().unwrap().starts_with("b BAD") || r.last().unwrap().starts_with("b NO"));
    let r = c.command("c", "EXAMINE INBOX");
    assert!(r.iter().any(|l| l == "* 1 EXISTS\r\n"), "{r:?}");
    let r = c.command("d", "LOGOUT");
    assert!(r.last().unwrap().starts_with("d OK"), "{r:?}");
    assert!(p.exited_within(WAIT).is_some());
    assert_eq!(p.stderr(), "");
    let t = log.wait_for("logout");
    assert!(!t.contains("panicked"), "{t}");
}

#[test]
fn rsa_chain() {
    serves_with("rsa");
}

#[test]
fn ecdsa_p256_chain() {
    serves_with("ec");
}

#[test]
fn ed25519_chain() {
    serves_with("ed");
}

/// A leaf without its CA in the file still serves; the client that knows
/// only the CA is given just the leaf and can verify it.
#[test]
fn leaf_only() {
    let certs = Certs::new();
    let log = Log::new();
    let args = tls_args(&log, &certs.path("ec.pem"), &certs.path("ec.key"));
    let mut p = Piped::start(IMAPD, &args, REMOTE);
    let s = tls(certs.client_config(), take_io(&mut p)).expect("handshake");
    assert_eq!(s.conn.peer_certificates().map(|c| c.len()), Some(1));
    let mut c = Client::new(s);
    assert!(c.line().starts_with("* OK"));
}

/// With --tls and a key that does not belong to the certificate: nothing
/// at all reaches the client (not even a BYE: it expects TLS), a clear
/// log line names both files, no panic, and the process ends.
#[test]
fn mismatched_key_with_implicit_tls() {
    let certs = Certs::new();
    let log = Log::new();
    let (cert, key) = (certs.path("rsa-chain.pem"), certs.path("ec.key"));
    let args = tls_args(&log, &cert, &key);
    let mut p = Piped::start(IMAPD, &args, REMOTE);
    let mut io = take_io(&mut p);
    // A real ClientHello, as a client would send.
    let mut hello = Vec::new();
    let mut conn =
        rustls::ClientConnection::new(certs.client_config(), "localhost".try_into().unwrap())
            .unwrap();
    conn.write_tls(&mut hello).unwrap();
    let _ = io.write_all(&hello);
    let _ = io.flush();
    let out = read_to_end(&mut io);
    assert!(out.is_empty(), "sent to the client: {out:?}");
    assert!(p.exited_within(WAIT).is_some(), "imapd did not exit");
    assert_eq!(p.stderr(), "");
    let t = log.wait_for(&key);
    assert!(t.contains(&cert) && t.contains(&key), "{t}");
    assert!(!t.contains("panicked"), "{t}");
}

/// Without --tls the same mistake must not take plain IMAP down: the
/// service goes on without STARTTLS (or says BYE), and the log names the
/// files.
#[test]
fn mismatched_key_without_implicit_tls() {
    let certs = Certs::new();
    let log = Log::new();
    let (cert, key) = (certs.path("ed-chain.pem"), certs.path("rsa.key"));
    let mut args = tls_args(&log, &cert, &key);
    args.retain(|a| a != "--tls");
    let mut p = Piped::start(IMAPD, &args, REMOTE);
    let mut c = Client::new(take_io(&mut p));
    let g = c.line();
    assert!(
        g.starts_with("* BYE") || (g.starts_with("* OK") && !g.contains("STARTTLS")),
        "{g}"
    );
    if g.starts_with("* OK") {
        let r = c.command("a", "STARTTLS");
        assert!(!r.last().unwrap().starts_with("a OK"), "{r:?}");
        c.command("b", "LOGOUT");
    }
    assert!(p.exited_within(WAIT).is_some());
    let t = log.wait_for(&key);
    assert!(t.contains(&cert) && t.contains(&key), "{t}");
    assert!(!t.contains("panicked"), "{t}");
}

/// The key file holds no key (an administrator swapped the two names).
#[test]
fn certificate_given_as_key() {
    let certs = Certs::new();
    let log = Log::new();
    let cert = certs.path("rsa.pem");
    let args = tls_args(&log, &cert, &cert);
    let mut p = Piped::start(IMAPD, &args, REMOTE);
    let mut io = take_io(&mut p);
    io.close_write();
    let out = read_to_end(&mut io);
    assert!(out.is_empty(), "{out:?}");
    assert!(p.exited_within(WAIT).is_some());
    let t = log.wait_for("tls_key");
    assert!(t.contains("tls_key") && t.contains(&cert), "{t}");
}

/// An X.509 v1 certificate (old `openssl x509 -req -signkey` recipes) is
/// refused by rustls: the log must say which file and why.
#[test]
fn v1_certificate_is_explained() {
    let certs = Certs::new();
    let log = Log::new();
    let cert = certs.path("v1.pem");
    let args = tls_args(&log, &cert, &certs.path("v1.key"));
    let mut p = Piped::start(IMAPD, &args, REMOTE);
    let mut io = take_io(&mut p);
    io.close_write();
    assert!(read_to_end(&mut io).is_empty());
    assert!(p.exited_within(WAIT).is_some());
    let t = log.wait_for(&cert);
    assert!(t.contains(&cert) && t.contains("Version"), "{t}");
}

/// An expired certificate: imapd still serves (the client decides).
#[test]
fn expired_certificate_still_serves() {
    let certs = Certs::new();
    let log = Log::new();
    let args = tls_args(&log, &certs.path("expired.pem"), &certs.path("expired.key"));
    let mut p = Piped::start(IMAPD, &args, REMOTE);
    let mut c = Client::new(tls(insecure_client_config(), take_io(&mut p)).expect("handshake"));
    assert!(c.line().starts_with("* OK"));
    let r = c.command("a", &format!("LOGIN {USER} {PASSWORD}"));
    assert!(r.last().unwrap().starts_with("a OK"), "{r:?}");
    c.command("b", "LOGOUT");
    // A client that verifies refuses it.
    let mut p = Piped::start(IMAPD, &args, REMOTE);
    assert!(tls(certs.client_config(), take_io(&mut p)).is_err());
}

/// ... and says so in the log, so the administrator renews it.
#[test]
fn expired_certificate_is_logged() {
    let certs = Certs::new();
    let log = Log::new();
    let path = certs.path("expired.pem");
    let args = tls_args(&log, &path, &certs.path("expired.key"));
    let mut p = Piped::start(IMAPD, &args, REMOTE);
    let mut c = Client::new(tls(insecure_client_config(), take_io(&mut p)).expect("handshake"));
    assert!(c.line().starts_with("* OK"));
    c.command("a", "LOGOUT");
    let t = log.wait_for("expire");
    assert!(t.contains("expire") && t.contains(&path), "{t}");
}

fn assert_handshake_failure_handled(p: &mut Piped, io: &mut PipeIo, log: &Log) {
    let out = read_to_end(io);
    assert!(only_tls_alerts(&out), "not a TLS alert: {out:?}");
    let st = p.exited_within(Duration::from_secs(5));
    assert!(st.is_some(), "imapd still runs after a failed handshake");
    assert_eq!(p.stderr(), "");
    let t = log.wait_for("TLS");
    assert!(
        t.contains("TLS") && t.contains(REMOTE),
        "no clear log line: {t}"
    );
    assert!(!t.contains("panicked"), "{t}");
}

#[test]
fn garbage_instead_of_client_hello() {
    let certs = Certs::new();
    let log = Log::new();
    let args = tls_args(&log, &certs.path("rsa-chain.pem"), &certs.path("rsa.key"));
    let mut p = Piped::start(IMAPD, &args, REMOTE);
    let mut io = take_io(&mut p);
    let _ = io.write_all(b"a LOGIN alice secret\r\nGET / HTTP/1.0\r\n\r\n");
    let _ = io.flush();
    assert_handshake_failure_handled(&mut p, &mut io, &log);
}

#[test]
fn client_gone_mid_handshake() {
    let certs = Certs::new();
    let log = Log::new();
    let args = tls_args(&log, &certs.path("rsa-chain.pem"), &certs.path("rsa.key"));
    let mut p = Piped::start(IMAPD, &args, REMOTE);
    let mut io = take_io(&mut p);
    let mut hello = Vec::new();
    let mut conn =
        rustls::ClientConnection::new(certs.client_config(), "localhost".try_into().unwrap())
            .unwrap();
    conn.write_tls(&mut hello).unwrap();
    // Half a ClientHello, then the client is gone.
    let _ = io.write_all(&hello[..hello.len() / 2]);
    let _ = io.flush();
    io.close_write();
    assert_handshake_failure_handled(&mut p, &mut io, &log);
}

#[test]
fn client_gone_after_server_hello() {
    let certs = Certs::new();
    let log = Log::new();
    let args = tls_args(&log, &certs.path("rsa-chain.pem"), &certs.path("rsa.key"));
    let mut p = Piped::start(IMAPD, &args, REMOTE);
    let mut io = take_io(&mut p);
    let mut hello = Vec::new();
    let mut conn =
        rustls::ClientConnection::new(certs.client_config(), "localhost".try_into().unwrap())
            .unwrap();
    conn.write_tls(&mut hello).unwrap();
    let _ = io.write_all(&hello);
    let _ = io.flush();
    // Wait for the server's first flight, then leave without finishing.
    let mut first = [0u8; 5];
    std::io::Read::read_exact(&mut io, &mut first).unwrap();
    assert_eq!(first[0], 22, "a handshake record");
    io.close_write();
    // The rest of its flight is handshake data: read and ignore it.
    let _ = read_to_end(&mut io);
    assert!(p.exited_within(Duration::from_secs(5)).is_some());
    assert_eq!(p.stderr(), "");
    let t = log.wait_for("TLS");
    assert!(t.contains("TLS"), "no log line: {t}");
    assert!(!t.contains("panicked"), "{t}");
}

#[test]
fn garbage_after_starttls() {
    let certs = Certs::new();
    let log = Log::new();
    let mut args = tls_args(&log, &certs.path("rsa-chain.pem"), &certs.path("rsa.key"));
    args.retain(|a| a != "--tls");
    let mut p = Piped::start(IMAPD, &args, REMOTE);
    let mut c = Client::new(take_io(&mut p));
    c.line();
    let r = c.command("a", "STARTTLS");
    assert!(r.last().unwrap().starts_with("a OK"), "{r:?}");
    let mut io = c.into_inner();
    let _ = io.write_all(b"b LOGIN alice secret\r\n");
    let _ = io.flush();
    assert_handshake_failure_handled(&mut p, &mut io, &log);
}

/// `imapd --check` is what the README and the xinetd files tell the
/// administrator to run after setting tls_cert/tls_key: a correct pair
/// passes, and a key that does not match the certificate (every --tls
/// connection would be closed at once) must be reported.
#[test]
fn check_accepts_a_good_pair() {
    let certs = Certs::new();
    let out = std::process::Command::new(IMAPD)
        .args(["-c", "/dev/null"])
        .args(certs.chain_args("ed"))
        .arg("--check")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("problem: tls"), "{text}");
}

#[test]
fn check_reports_a_key_that_does_not_match() {
    let certs = Certs::new();
    let key = certs.path("ec.key");
    let out = std::process::Command::new(IMAPD)
        .args(["-c", "/dev/null", "-o"])
        .arg(format!("tls_cert={}", certs.path("rsa-chain.pem")))
        .arg("-o")
        .arg(format!("tls_key={key}"))
        .arg("--check")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("problem:") && text.contains(&key), "{text}");
}

/// xinetd.d/imaps (`--tls`) installed before tls_cert/tls_key are set:
/// each connection is closed without a byte and the log says why.
#[test]
fn implicit_tls_without_a_certificate() {
    pam_user();
    let log = Log::new();
    let mut args = base_args(PAM_IMAP, &log);
    args.push("--tls".into());
    let mut p = Piped::start(IMAPD, &args, REMOTE);
    let mut io = take_io(&mut p);
    io.close_write();
    assert!(read_to_end(&mut io).is_empty());
    assert!(p.exited_within(WAIT).is_some());
    assert_eq!(p.stderr(), "");
    let t = log.wait_for("tls_cert");
    assert!(t.contains("tls_cert") && t.contains("tls_key"), "{t}");
}
