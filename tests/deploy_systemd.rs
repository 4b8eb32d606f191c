//! The repository's systemd units (systemd/*.socket, *@.service), without
//! a running systemd: `systemd-analyze verify` must find nothing to say
//! about them (with ExecStart pointed at the built binaries), and each
//! service's command line, run by Debian's `systemd-socket-activate
//! --inetd --accept` exactly as the socket unit would run it (one process
//! per connection, the connection on stdin/stdout), serves real clients:
//! Python imaplib and poplib, plain and TLS, PAM logins. Needs root.

mod deploy_common;

use std::process::Command;

use deploy_common::*;

const ANALYZE: &str = "/usr/bin/systemd-analyze";
const POP3D: &str = env!("CARGO_BIN_EXE_pop3d");

/// The units' text, with the installed program path replaced by the
/// built one.
fn unit(name: &str) -> String {
    std::fs::read_to_string(repo().join("systemd").join(name))
        .unwrap()
        .replace("/usr/local/sbin/imapd", IMAPD)
        .replace("/usr/local/sbin/pop3d", POP3D)
}

/// ExecStart's arguments after the program.
fn exec_args(service: &str) -> Vec<String> {
    let text = unit(service);
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("ExecStart");
    line.split_whitespace()
        .skip(1)
        .map(str::to_string)
        .collect()
}

#[test]
fn units_verify_cleanly() {
    require_root();
    require_tool(ANALYZE);
    let dir = tempfile::tempdir().unwrap();
    for s in ["imap", "imaps", "pop3", "pop3s"] {
        let sock = dir.path().join(format!("{s}.socket"));
        let svc = dir.path().join(format!("{s}@.service"));
        std::fs::write(&sock, unit(&format!("{s}.socket"))).unwrap();
        std::fs::write(&svc, unit(&format!("{s}@.service"))).unwrap();
        let out = Command::new(ANALYZE)
            .args(["verify", "--man=no"])
            .arg(&sock)
            .arg(&svc)
            .output()
            .unwrap();
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success() && said.trim().is_empty(),
            "{s}: {said}"
        );
    }
}

/// `bin` with the service's arguments plus the test's, socket-activated.
fn activate(bin: &str, service: &str, extra: &[String]) -> (Daemon, u16) {
    let mut args = exec_args(service);
    args.extend_from_slice(extra);
    socket_activate(bin, &args)
}

#[test]
fn socket_activated_services_serve_real_clients() {
    pam_user();
    let certs = Certs::new();
    let log = Log::new();
    let mut args = base_args(PAM_IMAP, &log);
    args.extend(certs.chain_args("rsa"));
    let (_imap, imap) = activate(IMAPD, "imap@.service", &args);
    let (_imaps, imaps) = activate(IMAPD, "imaps@.service", &args);
    let (_pop3, pop3) = activate(POP3D, "pop3@.service", &args);
    let (_pop3s, pop3s) = activate(POP3D, "pop3s@.service", &args);
    let (ok, out, err) = python(&format!(
        "import imaplib, poplib, ssl\n\
         ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE\n\
         for m in (imaplib.IMAP4('127.0.0.1', {imap}), imaplib.IMAP4_SSL('127.0.0.1', {imaps}, ssl_context=ctx)):\n\
         \x20   print(m.login('{USER}', '{PASSWORD}')[0])\n\
         \x20   print(m.select('INBOX')[0])\n\
         \x20   print(m.logout()[0])\n\
         for p in (poplib.POP3('127.0.0.1', {pop3}), poplib.POP3_SSL('127.0.0.1', {pop3s}, context=ctx)):\n\
         \x20   p.user('{USER}'); print(p.pass_('{PASSWORD}')[:3])\n\
         \x20   print(p.stat())\n\
         \x20   print(p.quit()[:3])\n"
    ));
    assert!(ok, "{out}\n{err}\n{}", log.text());
    let imap_lines = "OK\nOK\nBYE\n";
    let pop3_lines = "b'+OK'\n(1, ";
    assert!(out.starts_with(&imap_lines.repeat(2)), "{out}");
    assert_eq!(out.matches(pop3_lines).count(), 2, "{out}");
    assert!(out.ends_with("b'+OK'\n"), "{out}");
    // Each connection was its own process, logged in through PAM.
    let text = log.text();
    assert!(text.matches("login: method=").count() >= 4, "{text}");
}
