//! HAProxy's PROXY protocol (issue 16) on imapd and pop3d started as root
//! on a real TCP connection from 127.0.0.1, as xinetd starts them: a peer
//! in `trusted_proxies` must send the header, and the client it names is
//! the one the server logs and applies the plaintext-login policy to (a
//! remote client behind a proxy on this host gets LOGINDISABLED); a header
//! from a peer not trusted, a trusted peer without one, or a malformed one
//! closes the connection with a log line. Needs root (`make test`).

mod common;
mod login_support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::OwnedFd;
use std::process::{Child, Command, Stdio};

use login_support::*;

/// `cmd` serving one connection whose server side is its stdin and
/// stdout; returns the process and the client side.
fn connect(cmd: Command) -> (Child, TcpStream) {
    connect_after(cmd, b"")
}

/// `connect`, with `early` sent before the server starts (as a proxy
/// sends its header at once, while xinetd is still starting the server).
fn connect_after(mut cmd: Command, early: &[u8]) -> (Child, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let mut client = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
    let (server, _) = listener.accept().expect("accept");
    client.write_all(early).expect("early");
    let out = server.try_clone().expect("clone");
    let child = cmd
        .stdin(Stdio::from(OwnedFd::from(server)))
        .stdout(Stdio::from(OwnedFd::from(out)))
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    client.set_read_timeout(Some(WAIT)).expect("timeout");
    (child, client)
}

/// Everything the server says until it closes the connection.
fn rest(client: &mut TcpStream) -> String {
    let mut s = String::new();
    let _ = client.read_to_string(&mut s);
    s
}

fn finish(mut child: Child) {
    let status = child.wait().expect("wait");
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    assert!(err.is_empty(), "stderr: {err:?}");
    assert!(status.code().is_some(), "killed: {status:?}");
}

fn v2_ipv4(client: [u8; 4], port: u16) -> Vec<u8> {
    let mut h = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    h.extend_from_slice(&[0x21, 0x11, 0, 12]);
    h.extend_from_slice(&client);
    h.extend_from_slice(&[127, 0, 0, 1]);
    h.extend_from_slice(&port.to_be_bytes());
    h.extend_from_slice(&143u16.to_be_bytes());
    h
}

#[test]
fn a_trusted_proxys_client_is_the_peer() {
    pam_users();
    let s = Setup::new();
    s.maildir(ALICE, ALICE);
    // A remote client, in either version: no plaintext login on a link
    // that is not protected, and its address in the log.
    for (header, who) in [
        (
            b"PROXY TCP4 192.0.2.7 127.0.0.1 40123 143\r\n".to_vec(),
            "192.0.2.7:40123",
        ),
        (v2_ipv4([198, 51, 100, 9], 51000), "198.51.100.9:51000"),
    ] {
        let (child, mut c) = connect(s.imapd(&["trusted_proxies=127.0.0.0/8"]));
        c.write_all(&header).expect("header");
        let mut r = BufReader::new(c.try_clone().expect("clone"));
        let mut g = String::new();
        r.read_line(&mut g).expect("greeting");
        assert!(g.starts_with("* OK") && g.contains("LOGINDISABLED"), "{g}");
        c.write_all(format!("a LOGIN {ALICE} \"{PASSWORD}\"\r\n").as_bytes())
            .expect("login");
        let mut l = String::new();
        r.read_line(&mut l).expect("answer");
        r.read_line(&mut l).expect("answer");
        assert!(l.contains("a NO [PRIVACYREQUIRED]"), "{l}");
        c.write_all(b"b LOGOUT\r\n").expect("logout");
        drop(r);
        rest(&mut c);
        finish(child);
        let log = s.log();
        assert!(
            log.contains(&format!("client {who} through proxy 127.0.0.1:")),
            "{log}"
        );
    }
    // The proxy's own check (v2 LOCAL) and v1 UNKNOWN: the connection's
    // address stands (loopback: LOGIN is offered), and a login works.
    let local = b"\r\n\r\n\0\r\nQUIT\n\x20\x00\x00\x00".to_vec();
    for header in [local, b"PROXY UNKNOWN\r\n".to_vec()] {
        let (child, mut c) = connect(s.imapd(&["trusted_proxies=127.0.0.1"]));
        c.write_all(&header).expect("header");
        let mut r = BufReader::new(c.try_clone().expect("clone"));
        let mut g = String::new();
        r.read_line(&mut g).expect("greeting");
        assert!(g.starts_with("* OK") && !g.contains("LOGINDISABLED"), "{g}");
        c.write_all(format!("a LOGIN {ALICE} \"{PASSWORD}\"\r\nb LOGOUT\r\n").as_bytes())
            .expect("login");
        drop(r);
        let out = rest(&mut c);
        assert!(out.contains("a OK"), "{out}");
        finish(child);
    }
}

#[test]
fn headers_not_taken_are_refused_with_a_log_line() {
    pam_users();
    let s = Setup::new();
    s.maildir(ALICE, ALICE);
    // A header from a peer that is not trusted (the default: nobody).
    for extra in [&[][..], &["trusted_proxies=10.0.0.0/8"][..]] {
        let (child, mut c) = connect_after(
            s.imapd(extra),
            b"PROXY TCP4 192.0.2.7 127.0.0.1 40123 143\r\n",
        );
        let out = rest(&mut c);
        assert!(!out.contains("* OK"), "{out}");
        finish(child);
    }
    let log = s.log();
    assert!(
        log.contains("PROXY header from 127.0.0.1:") && log.contains("not in trusted_proxies"),
        "{log}"
    );
    // A trusted peer that sends a command, or a malformed header: closed
    // before any greeting; POP3 the same.
    for (bin, input) in [
        (IMAPD, &b"a CAPABILITY\r\n"[..]),
        (IMAPD, b"PROXY TCP4 192.0.2.7 127.0.0.1 99999 143\r\n"),
        (IMAPD, b"\r\n\r\n\0\r\nQUIT\n\x31\x11\x00\x0c0123456789ab"),
        (env!("CARGO_BIN_EXE_pop3d"), b"CAPA\r\n"),
    ] {
        let (child, mut c) = connect(s.server(bin, &["trusted_proxies=127.0.0.1"]));
        c.write_all(input).expect("input");
        let out = rest(&mut c);
        assert!(!out.contains("OK"), "{bin} {input:?}: {out}");
        finish(child);
    }
    let log = s.log();
    assert!(
        log.contains("no PROXY header from a trusted proxy"),
        "{log}"
    );
    assert!(log.contains("bad PROXY v1 port"), "{log}");
    assert!(log.contains("unknown version"), "{log}");
    // A header that comes after the greeting (it raced the server's
    // start): closed unanswered, in either protocol and either version.
    for (bin, header) in [
        (IMAPD, &b"PROXY TCP4 192.0.2.7 127.0.0.1 40123 143\r\n"[..]),
        (IMAPD, &v2_ipv4([192, 0, 2, 7], 40123)),
        (
            env!("CARGO_BIN_EXE_pop3d"),
            b"PROXY TCP4 192.0.2.7 127.0.0.1 40123 110\r\n",
        ),
    ] {
        let before = s.log().len();
        let (child, mut c) = connect(s.server(bin, &[]));
        let mut r = BufReader::new(c.try_clone().expect("clone"));
        let mut g = String::new();
        r.read_line(&mut g).expect("greeting");
        assert!(g.starts_with("* OK") || g.starts_with("+OK"), "{g}");
        c.write_all(header).expect("header");
        let mut out = String::new();
        let _ = r.read_to_string(&mut out);
        assert_eq!(out, "", "{bin}");
        finish(child);
        let log = s.log()[before..].to_string();
        assert!(log.contains("PROXY header after the greeting"), "{log}");
    }
    // A peer not trusted and sending nothing odd: served as ever.
    let (child, mut c) = connect(s.imapd(&["trusted_proxies=10.0.0.0/8"]));
    c.write_all(b"a LOGOUT\r\n").expect("logout");
    let out = rest(&mut c);
    assert!(out.starts_with("* OK") && out.contains("a OK"), "{out}");
    finish(child);
}

/// pop3d behind a trusted proxy: the client's address is the one the
/// policy sees (no USER/PASS in the clear for a remote client).
#[test]
fn pop3d_takes_the_header_too() {
    pam_users();
    let s = Setup::new();
    s.maildir(ALICE, ALICE);
    let (child, mut c) =
        connect(s.server(env!("CARGO_BIN_EXE_pop3d"), &["trusted_proxies=127.0.0.1"]));
    c.write_all(b"PROXY TCP4 203.0.113.5 127.0.0.1 1234 110\r\n")
        .expect("header");
    let mut r = BufReader::new(c.try_clone().expect("clone"));
    let mut g = String::new();
    r.read_line(&mut g).expect("greeting");
    assert!(g.starts_with("+OK"), "{g}");
    c.write_all(format!("USER {ALICE}\r\nQUIT\r\n").as_bytes())
        .expect("user");
    drop(r);
    let out = rest(&mut c);
    assert!(out.starts_with("-ERR"), "{out}");
    finish(child);
    assert!(
        s.log()
            .contains("client 203.0.113.5:1234 through proxy 127.0.0.1:"),
        "{}",
        s.log()
    );
}

/// IMAP ID's `x-originating-ip`/`-port` before login (Dovecot's fields,
/// for proxies that pass the client that way): from a peer in
/// `trusted_id_proxies` the client is the one logged (and given to PAM);
/// from any other peer, or after login, it is ignored with a log line.
#[test]
fn id_from_a_trusted_proxy_names_the_client() {
    pam_users();
    let s = Setup::new();
    s.maildir(ALICE, ALICE);
    let id = "a ID (\"name\" \"a proxy\" \"x-originating-ip\" \"192.0.2.80\" \
              \"x-originating-port\" \"6180\")\r\n";
    let session = format!(
        "{id}b LOGIN {ALICE} \"{PASSWORD}\"\r\n{}c LOGOUT\r\n",
        id.replacen("a ID", "d ID", 1)
            .replace("192.0.2.80", "192.0.2.99")
    );
    for (setting, told) in [
        ("trusted_id_proxies=127.0.0.0/8", true),
        ("trusted_id_proxies=10.0.0.0/8", false),
    ] {
        let before = s.log().len();
        let (child, mut c) = connect(s.imapd(&[setting]));
        c.write_all(session.as_bytes()).expect("session");
        let out = rest(&mut c);
        assert!(out.contains("* ID (") && out.contains("b OK"), "{out}");
        finish(child);
        let log = s.log()[before..].to_string();
        let login = log
            .lines()
            .find(|l| l.contains(" login: "))
            .unwrap_or_else(|| panic!("{log}"));
        if told {
            assert!(
                log.contains("client 192.0.2.80:6180 through proxy 127.0.0.1:"),
                "{log}"
            );
            assert!(
                login.contains(&format!(" 192.0.2.80:6180 user={ALICE}")),
                "{login}"
            );
        } else {
            assert!(
                log.contains("ID x-originating-ip 192.0.2.80 ignored (not in trusted_id_proxies)"),
                "{log}"
            );
            assert!(login.contains(" 127.0.0.1:"), "{login}");
        }
        // The second ID, after login, changes nothing.
        assert!(!log.contains("client 192.0.2.99"), "{log}");
        let logout = log.lines().find(|l| l.ends_with(": logout")).unwrap();
        let who = if told {
            " 192.0.2.80:6180 "
        } else {
            " 127.0.0.1:"
        };
        assert!(logout.contains(who), "{logout}");
    }
}
