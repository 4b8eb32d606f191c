//! A configuration broken while the service runs (an administrator's typo
//! in /etc/mailaccess.conf under xinetd): the next client gets its
//! protocol's refusal, never the error text, which goes to the log.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

fn refusal(bin: &str, expected: &str) {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("mailaccess.conf");
    std::fs::write(&conf, "auth = pam\n").unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = Command::new(bin)
        .arg("-c")
        .arg(&conf)
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stream = None;
    for _ in 0..100 {
        if let Ok(s) = TcpStream::connect(("127.0.0.1", port)) {
            stream = Some(s);
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // The connection above proves a listener is up; that it is ours, that
    // our server did not fail to bind, the still-running process proves.
    drop(stream.expect("listener did not come up"));
    assert!(
        server.try_wait().unwrap().is_none(),
        "{bin} --listen exited (port {port} taken?)"
    );
    // The typo: an unknown key.
    std::fs::write(&conf, "auth = pam\nallow_plaintxt_auth = yes\n").unwrap();
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut all = String::new();
    let mut line = String::new();
    while r.read_line(&mut line).unwrap_or(0) > 0 {
        all.push_str(&line);
        line.clear();
    }
    let _ = (&s).write_all(b"");
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(
        all, expected,
        "the client must get the refusal and nothing else"
    );
}

/// One test, so the two listeners never run at once (each picks a free
/// port by binding port 0 and releasing it, which two at once could share).
#[test]
fn imapd_says_bye_and_pop3d_says_err() {
    refusal(
        env!("CARGO_BIN_EXE_imapd"),
        "* BYE Server configuration problem; see the log.\r\n",
    );
    refusal(
        env!("CARGO_BIN_EXE_pop3d"),
        "-ERR [SYS/PERM] Server configuration problem; see the log.\r\n",
    );
}

/// `--version` names the program and the package version, on stdout, for
/// both binaries; nothing else is done (no configuration is read).
#[test]
fn version_is_printed() {
    for (bin, name) in [
        (env!("CARGO_BIN_EXE_imapd"), "imapd"),
        (env!("CARGO_BIN_EXE_pop3d"), "pop3d"),
    ] {
        let out = std::process::Command::new(bin)
            .args(["-c", "/nonexistent/file", "--version"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{name}: {out:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("{name} (mailaccess) {}\n", env!("CARGO_PKG_VERSION"))
        );
    }
}
