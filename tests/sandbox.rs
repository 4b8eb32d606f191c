//! The sealed session (DESIGN.md 5), proven from /proc and by behaviour:
//!
//! * `--check-sandbox`, for both binaries on both stores: `Seccomp: 2` and
//!   `NoNewPrivs: 1`; /etc/passwd cannot be read, neither directly nor
//!   through a symbolic link planted in the mail tree (Landlock); a
//!   forbidden system call (socket) ends the process with status 159 and
//!   its number in the log. With `sandbox = no`, none of that.
//! * Live sessions in every role hold the seal while they wait for the
//!   client: preauthenticated (ssh), and started as root (xinetd,
//!   stunnel) both the login child before login and the session after
//!   it; with `sandbox = no` neither is sealed. Over implicit TLS the
//!   login child stays on after login as the relay, still sealed.
//! * A session stopped and continued while it pauses for a lock goes on
//!   (the kernel resumes the pause with restart_syscall).
//!
//! Needs root (the sessions run as the test user; the root roles log in
//! real PAM users): `make test` provides it.

mod common;
mod deploy_common;
mod login_support;

use std::process::Command;

use common::{Home, Server};
use login_support::*;

const POP3D: &str = env!("CARGO_BIN_EXE_pop3d");

/// `Seccomp:` and `NoNewPrivs:` of a process.
fn seal_of(pid: u32) -> (String, String) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/status: {e}"));
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name} in /proc/{pid}/status"))
            .trim()
            .to_string()
    };
    (field("Seccomp:"), field("NoNewPrivs:"))
}

fn assert_sealed(pid: u32, what: &str) {
    assert_eq!(seal_of(pid), ("2".into(), "1".into()), "{what} ({pid})");
}

fn assert_unsealed(pid: u32, what: &str) {
    assert_eq!(seal_of(pid).0, "0", "{what} ({pid}) has a seccomp filter");
}

/// Runs `bin --check-sandbox` as the test user on `location`; returns its
/// output, exit status and log.
fn check_sandbox(bin: &str, h: &Home, location: &str, extra: &[&str]) -> (String, i32, String) {
    let log = h.path().join("check.log");
    let mut c = common::server_command(bin, h, &["-o", location]);
    c.arg("-o").arg(format!("log_path={}", log.display()));
    for e in extra {
        c.arg("-o").arg(e);
    }
    let out = c
        .arg("--check-sandbox")
        .output()
        .expect("run --check-sandbox");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let code = out.status.code().expect("an exit status, not a signal");
    (
        text,
        code,
        std::fs::read_to_string(&log).unwrap_or_default(),
    )
}

#[test]
fn check_sandbox_proves_the_seal_on_both_binaries_and_stores() {
    require_root();
    for bin in [IMAPD, POP3D] {
        for store in ["maildir", "mbox"] {
            let h = Home::new();
            let location = match store {
                "maildir" => format!("mail_location=maildir:{}", h.maildir().display()),
                _ => {
                    std::fs::create_dir_all(h.path().join("spool")).unwrap();
                    h.fix_owner();
                    format!(
                        "mail_location=mbox:{0}/mail:INBOX={0}/spool/inbox",
                        h.path().display()
                    )
                }
            };
            let what = format!("{bin} on {store}");
            let (out, code, log) = check_sandbox(bin, &h, &location, &[]);
            assert!(out.contains("\nSeccomp: 2\n"), "{what}:\n{out}");
            assert!(out.contains("\nNoNewPrivs: 1\n"), "{what}:\n{out}");
            assert!(out.contains("seccomp: true\n"), "{what}:\n{out}");
            if out.contains("landlock: not available") {
                // A kernel without Landlock: said in the log, and the
                // session goes on under seccomp alone.
                assert!(log.contains("this kernel has no Landlock"), "{what}: {log}");
            } else {
                assert!(out.starts_with("landlock: enforced\n"), "{what}:\n{out}");
                assert!(
                    out.contains("open /etc/passwd: refused (permission denied)"),
                    "{what}:\n{out}"
                );
                assert!(
                    out.contains(".check-sandbox-link: refused (permission denied)"),
                    "{what}: the link to /etc/passwd in the mail tree was followed:\n{out}"
                );
            }
            // The forbidden call ended the process, logged with its number.
            assert!(out.ends_with("socket(2): next\n"), "{what}:\n{out}");
            assert_eq!(code, 159, "{what}: exit status\n{out}");
            let want = format!("error: sandbox: denied system call {}\n", libc::SYS_socket);
            assert!(log.ends_with(&want), "{what}: log {log:?}, want {want:?}");
            assert!(
                !h.path().join("Maildir/.check-sandbox-link").exists()
                    && !h.path().join("mail/.check-sandbox-link").exists(),
                "{what}: the probe's link was left behind"
            );

            // sandbox = no: nothing sealed, the call is made.
            let (out, code, _) = check_sandbox(bin, &h, &location, &["sandbox=no"]);
            assert!(out.contains("sandbox: off"), "{what}:\n{out}");
            assert!(out.contains("\nSeccomp: 0\n"), "{what}:\n{out}");
            assert!(out.contains("open /etc/passwd: read"), "{what}:\n{out}");
            assert!(out.ends_with("socket(2): made\n"), "{what}:\n{out}");
            assert_eq!(code, 0, "{what}");
        }
    }
}

#[test]
fn preauthenticated_sessions_are_sealed_while_they_serve() {
    require_root();
    let h = Home::new();
    h.deliver(
        None,
        "1000000000.M1P1.test",
        b"Subject: one\r\n\r\nbody\r\n",
    );
    let mut s = Server::start(common::server_command(IMAPD, &h, &[]));
    assert!(s.line().starts_with("* PREAUTH"));
    let r = s.command("a", "SELECT INBOX");
    assert!(r.last().unwrap().starts_with("a OK"), "{r:?}");
    assert_sealed(s.child.id(), "imapd, preauthenticated");
    let r = s.command("b", "FETCH 1 BODY[]");
    assert!(r.last().unwrap().starts_with("b OK"), "{r:?}");
    let r = s.command("c", "LOGOUT");
    assert!(r.last().unwrap().starts_with("c OK"), "{r:?}");
    assert_eq!(s.wait(), Some(0));

    let mut p = Server::start(common::server_command(POP3D, &h, &[]));
    assert!(p.line().starts_with("+OK"));
    assert_sealed(p.child.id(), "pop3d, preauthenticated");
    p.send("RETR 1");
    assert!(p.line().starts_with("+OK"));
    p.send("QUIT");
    assert_eq!(p.wait(), Some(0));

    let mut u = Server::start(common::server_command(IMAPD, &h, &["-o", "sandbox=no"]));
    assert!(u.line().starts_with("* PREAUTH"));
    assert_unsealed(u.child.id(), "imapd with sandbox = no");
    assert_eq!(u.wait(), Some(0));
}

#[test]
fn a_session_stopped_while_it_waits_for_a_lock_goes_on() {
    require_root();
    let h = common::home_on(common::Backend::Mbox, &[b"Subject: one\n\nbody\n"]);
    let mut s = common::imapd_on(common::Backend::Mbox, &h);
    let r = s.command("a", "SELECT INBOX");
    assert!(r.last().unwrap().starts_with("a OK"), "{r:?}");
    // Another program's dotlock, of a live process on this host: the
    // STORE waits, pausing between attempts.
    let host = String::from_utf8(Command::new("hostname").output().expect("hostname").stdout)
        .expect("utf-8");
    let lock = h.path().join("spool/inbox.lock");
    std::fs::write(&lock, format!("{}:{}", std::process::id(), host.trim())).expect("lock");
    s.send("b STORE 1 +FLAGS (\\Seen)");
    // Stopped and continued, again and again, while it waits: a pause cut
    // by the stop is resumed by the kernel's restart_syscall, which the
    // filter must allow.
    let pid = s.child.id().to_string();
    for _ in 0..10 {
        for sig in ["-STOP", "-CONT"] {
            assert!(Command::new("kill")
                .args([sig, &pid])
                .status()
                .expect("kill")
                .success());
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
    std::fs::remove_file(&lock).expect("unlock");
    let r = s.until_tagged("b");
    assert!(r.last().unwrap().starts_with("b OK"), "{r:?}");
    let r = s.command("z", "LOGOUT");
    assert!(r.last().unwrap().starts_with("z OK"), "{r:?}");
    assert_eq!(s.wait(), Some(0));
}

#[test]
fn root_roles_seal_the_login_child_and_the_session() {
    pam_users();
    let s = Setup::new();
    s.maildir(ALICE, ALICE);

    // imapd: the login child before a byte is read, the session after.
    let mut srv = Server::start(s.imapd_loopback(&[]));
    greeting(&mut srv);
    let parent = srv.child.id();
    assert_sealed(only_child(parent), "imapd login child");
    // The privileged parent is not sealed: it runs PAM.
    assert_unsealed(parent, "imapd privileged parent");
    let r = srv.command("a", &format!("LOGIN {ALICE} \"{PASSWORD}\""));
    assert!(r[0].starts_with("a OK"), "{r:?}");
    no_children(parent);
    assert_sealed(parent, "imapd session");
    let r = srv.command("b", "SELECT INBOX");
    assert!(tagged(&r, "b").starts_with("b OK"), "{r:?}");
    logout(&mut srv);

    // pop3d the same.
    let mut pop = Server::start(s.server_loopback(POP3D, &[]));
    assert!(pop.line().starts_with("+OK"));
    let parent = pop.child.id();
    assert_sealed(only_child(parent), "pop3d login child");
    pop.send(&format!("USER {ALICE}"));
    assert!(pop.line().starts_with("+OK"));
    pop.send(&format!("PASS {PASSWORD}"));
    let l = pop.line();
    assert!(l.starts_with("+OK"), "{l}");
    no_children(parent);
    assert_sealed(parent, "pop3d session");
    pop.send("QUIT");
    assert_eq!(pop.wait(), Some(0));

    // sandbox = no: neither is sealed.
    let mut srv = Server::start(s.imapd_loopback(&["sandbox=no"]));
    greeting(&mut srv);
    let parent = srv.child.id();
    assert_unsealed(only_child(parent), "login child with sandbox = no");
    let r = srv.command("a", &format!("LOGIN {ALICE} \"{PASSWORD}\""));
    assert!(r[0].starts_with("a OK"), "{r:?}");
    no_children(parent);
    assert_unsealed(parent, "session with sandbox = no");
    logout(&mut srv);
    assert!(
        !s.log().contains("denied system call"),
        "a denial in the log:\n{}",
        s.log()
    );
}

#[test]
fn the_tls_relay_stays_sealed_after_login() {
    use deploy_common::{base_args, pam_user, tls, Certs, Client, Log, Piped, PAM_IMAP};
    let certs = Certs::new();
    let log = Log::new();
    pam_user();
    let mut args = base_args(PAM_IMAP, &log);
    args.extend(certs.chain_args("rsa"));
    args.push("--tls".into());
    // Not loopback: the login needs TLS, which it has.
    let mut p = Piped::start(IMAPD, &args, "192.0.2.1");
    let io = std::mem::replace(&mut p.io, deploy_common::PipeIo { r: None, w: None });
    let stream = tls(certs.client_config(), io).expect("handshake");
    let mut c = Client::new(stream);
    assert!(c.line().starts_with("* OK"));
    let parent = p.child.id();
    let child = only_child(parent);
    assert_sealed(child, "login child under TLS");
    let r = c.command(
        "a",
        &format!("LOGIN {} {}", deploy_common::USER, deploy_common::PASSWORD),
    );
    assert!(r.last().unwrap().starts_with("a OK"), "{r:?}");
    // The session, and the login child that stays on to relay TLS.
    assert_sealed(parent, "session under TLS");
    assert_eq!(only_child(parent), child, "the relay is the login child");
    assert_sealed(child, "TLS relay");
    let r = c.command("b", "SELECT INBOX");
    assert!(r.last().unwrap().starts_with("b OK"), "{r:?}");
    let r = c.command("z", "LOGOUT");
    assert!(r.last().unwrap().starts_with("z OK"), "{r:?}");
}
