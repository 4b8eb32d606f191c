//! STARTTLS as xinetd runs imapd (root, the client on pipes, its address
//! in REMOTE_HOST): LOGINDISABLED before the upgrade and not after, no
//! command injected before the handshake is run after it (RFC 3207 6,
//! CVE-2011-0411), STARTTLS refused after login and over TLS, not offered
//! without a certificate or on a --wrapped link. Needs root.

mod deploy_common;

use deploy_common::*;

/// A documentation address (RFC 5737): not loopback, so plaintext login
/// is not allowed without TLS.
const REMOTE: &str = "192.0.2.1";

fn imapd(certs: &Certs, log: &Log, remote: &str, extra: &[&str]) -> Piped {
    pam_user();
    let mut args = base_args(PAM_IMAP, log);
    args.extend(certs.chain_args("rsa"));
    args.extend(extra.iter().map(|s| s.to_string()));
    Piped::start(IMAPD, &args, remote)
}

#[test]
fn logindisabled_before_starttls_and_login_after_it() {
    let certs = Certs::new();
    let log = Log::new();
    let mut p = imapd(&certs, &log, REMOTE, &[]);
    let mut c = Client::new(std::mem::replace(&mut p.io, PipeIo { r: None, w: None }));
    let greeting = c.line();
    assert!(greeting.starts_with("* OK"), "{greeting}");
    assert!(greeting.contains("STARTTLS"), "{greeting}");
    assert!(greeting.contains("LOGINDISABLED"), "{greeting}");
    assert!(!greeting.contains("AUTH=PLAIN"), "{greeting}");

    let r = c.command("a", &format!("LOGIN {USER} {PASSWORD}"));
    assert!(!r.last().unwrap().starts_with("a OK"), "{r:?}");

    let r = c.command("b", "STARTTLS");
    assert!(r.last().unwrap().starts_with("b OK"), "{r:?}");
    assert!(c.pending().is_empty());
    let mut c = Client::new(tls(certs.client_config(), c.into_inner()).expect("handshake"));

    let r = c.command("c", "CAPABILITY");
    let caps = &r[0];
    assert!(caps.starts_with("* CAPABILITY"), "{r:?}");
    assert!(!caps.contains("STARTTLS"), "{caps}");
    assert!(!caps.contains("LOGINDISABLED"), "{caps}");
    assert!(caps.contains("AUTH=PLAIN"), "{caps}");

    let r = c.command("d", "STARTTLS");
    let last = r.last().unwrap();
    assert!(
        last.starts_with("d BAD") || last.starts_with("d NO"),
        "{r:?}"
    );

    let r = c.command("e", &format!("LOGIN {USER} {PASSWORD}"));
    assert!(r.last().unwrap().starts_with("e OK"), "{r:?}");
    let r = c.command("f", "SELECT INBOX");
    assert!(r.iter().any(|l| l == "* 1 EXISTS\r\n"), "{r:?}");
    let r = c.command("g", "FETCH 1 BODY[HEADER.FIELDS (SUBJECT)]");
    assert!(r.iter().any(|l| l.contains("deploy test")), "{r:?}");
    let r = c.command("h", "LOGOUT");
    assert!(r.last().unwrap().starts_with("h OK"), "{r:?}");
    assert!(p.exited_within(WAIT).is_some(), "imapd did not exit");
    assert_eq!(p.stderr(), "");
    let text = log.wait_for("login:");
    assert!(text.contains(REMOTE), "{text}");
}

#[test]
fn commands_sent_with_starttls_are_not_run_after_the_handshake() {
    let certs = Certs::new();
    let log = Log::new();
    let mut p = imapd(&certs, &log, REMOTE, &[]);
    let mut c = Client::new(std::mem::replace(&mut p.io, PipeIo { r: None, w: None }));
    c.line();
    // One write: the injected command arrives with STARTTLS.
    c.send("a STARTTLS\r\nb CAPABILITY\r\n");
    let l = c.line();
    assert!(l.starts_with("a OK"), "{l}");
    assert!(
        c.pending().is_empty(),
        "plaintext after the OK: {:?}",
        c.pending()
    );
    let mut c = Client::new(tls(certs.client_config(), c.into_inner()).expect("handshake"));
    c.send("c NOOP\r\n");
    let l = c.line();
    assert!(
        l.starts_with("c OK"),
        "the injected command was answered: {l}"
    );
    let r = c.command("d", "LOGOUT");
    assert!(r.iter().all(|l| !l.starts_with("b ")), "{r:?}");
}

#[test]
fn injected_login_is_not_run_either() {
    let certs = Certs::new();
    let log = Log::new();
    let mut p = imapd(&certs, &log, REMOTE, &["-o", "allow_plaintext_auth=yes"]);
    let mut c = Client::new(std::mem::replace(&mut p.io, PipeIo { r: None, w: None }));
    c.line();
    c.send(&format!("a STARTTLS\r\nb LOGIN {USER} {PASSWORD}\r\n"));
    let l = c.line();
    assert!(l.starts_with("a OK"), "{l}");
    let mut c = Client::new(tls(certs.client_config(), c.into_inner()).expect("handshake"));
    // Still not authenticated: SELECT is refused.
    let r = c.command("c", "SELECT INBOX");
    assert!(
        r.last().unwrap().starts_with("c BAD") || r.last().unwrap().starts_with("c NO"),
        "{r:?}"
    );
    assert!(r.iter().all(|l| !l.starts_with("b ")), "{r:?}");
}

#[test]
fn starttls_after_login_is_refused() {
    let certs = Certs::new();
    let log = Log::new();
    // Loopback: plaintext login is allowed without TLS.
    let mut p = imapd(&certs, &log, "127.0.0.1", &[]);
    let mut c = Client::new(std::mem::replace(&mut p.io, PipeIo { r: None, w: None }));
    let g = c.line();
    assert!(
        g.contains("STARTTLS") && !g.contains("LOGINDISABLED"),
        "{g}"
    );
    let r = c.command("a", &format!("LOGIN {USER} {PASSWORD}"));
    assert!(r.last().unwrap().starts_with("a OK"), "{r:?}");
    assert!(!r.last().unwrap().contains("STARTTLS"), "{r:?}");
    let r = c.command("b", "STARTTLS");
    let last = r.last().unwrap();
    assert!(
        last.starts_with("b BAD") || last.starts_with("b NO"),
        "{r:?}"
    );
    // The session goes on in plaintext.
    let r = c.command("c", "NOOP");
    assert!(r.last().unwrap().starts_with("c OK"), "{r:?}");
    c.command("d", "LOGOUT");
}

#[test]
fn implicit_tls_offers_no_starttls() {
    let certs = Certs::new();
    let log = Log::new();
    let mut p = imapd(&certs, &log, REMOTE, &["--tls"]);
    let io = std::mem::replace(&mut p.io, PipeIo { r: None, w: None });
    let mut c = Client::new(tls(certs.client_config(), io).expect("handshake"));
    let g = c.line();
    assert!(g.starts_with("* OK"), "{g}");
    assert!(
        !g.contains("STARTTLS") && !g.contains("LOGINDISABLED"),
        "{g}"
    );
    let r = c.command("a", "STARTTLS");
    assert!(!r.last().unwrap().starts_with("a OK"), "{r:?}");
    let r = c.command("b", &format!("LOGIN {USER} {PASSWORD}"));
    assert!(r.last().unwrap().starts_with("b OK"), "{r:?}");
    c.command("c", "LOGOUT");
}

#[test]
fn no_starttls_without_a_certificate() {
    pam_user();
    let log = Log::new();
    let args = base_args(PAM_IMAP, &log);
    let mut p = Piped::start(IMAPD, &args, REMOTE);
    let mut c = Client::new(std::mem::replace(&mut p.io, PipeIo { r: None, w: None }));
    let g = c.line();
    assert!(
        !g.contains("STARTTLS") && g.contains("LOGINDISABLED"),
        "{g}"
    );
    let r = c.command("a", "STARTTLS");
    assert!(
        r.last().unwrap().starts_with("a BAD") || r.last().unwrap().starts_with("a NO"),
        "{r:?}"
    );
    let r = c.command("b", "NOOP");
    assert!(r.last().unwrap().starts_with("b OK"), "{r:?}");
}

/// --wrapped: stunnel or ssh already protects the link, so plaintext
/// login is allowed from any address.
#[test]
fn wrapped_allows_plaintext_login_from_anywhere() {
    pam_user();
    let log = Log::new();
    let mut args = base_args(PAM_IMAP, &log);
    args.push("--wrapped".into());
    let mut p = Piped::start(IMAPD, &args, REMOTE);
    let mut c = Client::new(std::mem::replace(&mut p.io, PipeIo { r: None, w: None }));
    let g = c.line();
    assert!(
        !g.contains("LOGINDISABLED") && g.contains("AUTH=PLAIN"),
        "{g}"
    );
    let r = c.command("a", &format!("LOGIN {USER} {PASSWORD}"));
    assert!(r.last().unwrap().starts_with("a OK"), "{r:?}");
    c.command("b", "LOGOUT");
}

/// A --wrapped link is already protected: offering STARTTLS there is
/// wrong (a TLS-in-TLS upgrade stunnel clients never expect), even when
/// tls_cert is set in the shared configuration for the xinetd services.
#[test]
fn wrapped_does_not_offer_starttls() {
    let certs = Certs::new();
    let log = Log::new();
    let mut p = imapd(&certs, &log, REMOTE, &["--wrapped"]);
    let mut c = Client::new(std::mem::replace(&mut p.io, PipeIo { r: None, w: None }));
    let g = c.line();
    assert!(!g.contains("STARTTLS"), "{g}");
    let r = c.command("a", "CAPABILITY");
    assert!(!r[0].contains("STARTTLS"), "{r:?}");
    let r = c.command("b", "STARTTLS");
    assert!(!r.last().unwrap().starts_with("b OK"), "{r:?}");
}
