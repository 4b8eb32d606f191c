//! `make demo` (scripts/demo.sh) as root, in a temporary directory and on
//! free ports: the demo account logs in over IMAP, IMAPS and STARTTLS with
//! curl and Python, and Ctrl-C (SIGINT) stops every server. And the
//! configuration the demo would like to use (virtual_user = nobody) as a
//! test of its own. Needs root.

mod deploy_common;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use deploy_common::*;

#[test]
fn demo_serves_the_demo_account_and_stops_on_ctrl_c() {
    let dir = tempfile::Builder::new()
        .prefix("mailaccess-demo")
        .tempdir()
        .unwrap();
    // A checkout nobody (the sessions' user) can reach: the demo is ./demo.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let demo = dir.path().join("demo");
    run_demo(dir.path(), &demo, None);
    assert!(demo.is_dir() && !demo.is_symlink());
}

/// A checkout in /root or in a mktemp -d directory (0700): nobody cannot
/// reach ./demo, and every login used to fail. The demo moves to a
/// directory nobody can reach and ./demo links to it.
#[test]
fn demo_works_from_a_directory_closed_to_others() {
    let dir = tempfile::Builder::new()
        .prefix("mailaccess-demo")
        .tempdir()
        .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let open = tempfile::Builder::new()
        .prefix("mailaccess-demo-open")
        .tempdir()
        .unwrap();
    std::fs::set_permissions(open.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let fallback = open.path().join("demo");
    let demo = dir.path().join("demo");
    run_demo(dir.path(), &demo, Some(&fallback));
    assert_eq!(std::fs::read_link(&demo).unwrap(), fallback);
    assert!(fallback.join("Maildir").is_dir());
}

/// Runs scripts/demo.sh with its directory at `demo` (output in `dir`),
/// checks every command it prints, then stops it with Ctrl-C.
fn run_demo(dir: &std::path::Path, demo: &std::path::Path, fallback: Option<&std::path::Path>) {
    require_root();
    require_tool("/usr/sbin/saslpasswd2");
    require_tool("/usr/bin/curl");
    let ports: Vec<u16> = (0..4).map(|_| free_port()).collect();
    let out = std::fs::File::create(dir.join("demo.out")).unwrap();
    let mut command = Command::new("sh");
    if let Some(f) = fallback {
        command.env("DEMO_FALLBACK_DIR", f);
    }
    let mut child = command
        .arg(repo().join("scripts/demo.sh"))
        .arg(ports[0].to_string())
        .env("DEMO_DIR", demo)
        .env("DEMO_POP3_PORT", ports[1].to_string())
        .env("DEMO_IMAPS_PORT", ports[2].to_string())
        .env("DEMO_POP3S_PORT", ports[3].to_string())
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .process_group(0)
        .spawn()
        .unwrap();
    let pid = child.id();
    struct Stop(u32);
    impl Drop for Stop {
        fn drop(&mut self) {
            kill_group(self.0, rustix::process::Signal::KILL);
        }
    }
    let _stop = Stop(pid);
    let printed = || std::fs::read_to_string(dir.join("demo.out")).unwrap_or_default();
    let end = Instant::now() + WAIT;
    while !printed().contains("Press Ctrl-C") {
        assert!(Instant::now() < end, "demo did not start: {}", printed());
        std::thread::sleep(Duration::from_millis(100));
    }
    let text = printed();
    assert!(text.contains("password \"demo\""), "{text}");
    assert!(text.contains("Thunderbird"), "{text}");

    // Every command the demo prints for curl works as printed.
    let curl_lines: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("curl ") && !l.contains("pop3"))
        .map(String::from)
        .collect();
    assert!(curl_lines.len() >= 3, "{text}");
    for l in &curl_lines {
        let (ok, out, err) = run_limited(Command::new("sh").arg("-c").arg(format!("{l} -sS")), b"");
        assert!(ok, "{l}: {out}\n{err}");
        assert!(
            out.contains("Demo message") || out.contains("INBOX"),
            "{l}: {out}"
        );
    }
    // ... and the Python line.
    let py = text
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("python3 -c"))
        .expect("a python line");
    let (ok, out, err) = run_limited(Command::new("sh").arg("-c").arg(py), b"");
    assert!(ok && out.contains("Demo message 3"), "{py}: {out}\n{err}");
    let log = std::fs::read_to_string(demo.join("log")).unwrap_or_default();
    assert!(log.contains("user=demo") && log.contains("login"), "{log}");

    // Ctrl-C: the shell stops every server it started.
    rustix::process::kill_process_group(
        rustix::process::Pid::from_raw(pid as i32).unwrap(),
        rustix::process::Signal::INT,
    )
    .unwrap();
    let end = Instant::now() + WAIT;
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        assert!(Instant::now() < end, "demo.sh still runs after SIGINT");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(200));
    for p in &ports {
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", *p)).is_err(),
            "port {p} still open after Ctrl-C"
        );
    }
    assert!(printed().contains("demo: stopped"), "{}", printed());
    // Everything it made is in its directory.
    for f in [
        "Maildir",
        "empty",
        "sasldb2",
        "cert.pem",
        "key.pem",
        "mailaccess.conf",
    ] {
        assert!(demo.join(f).exists(), "{f}");
    }
}

/// sasldb users running as a system account whose home does not exist
/// (nobody: /nonexistent), with an absolute mail_location: the home is not
/// needed, yet imapd changes into it after login and fails, answering a
/// correct password with "* BYE Internal error".
#[test]
fn virtual_user_without_a_home_can_log_in() {
    require_root();
    require_tool("/usr/sbin/saslpasswd2");
    let home = std::fs::read_to_string("/etc/passwd")
        .unwrap()
        .lines()
        .find(|l| l.starts_with("nobody:"))
        .map(|l| l.split(':').nth(5).unwrap().to_string())
        .unwrap();
    assert!(
        !std::path::Path::new(&home).exists(),
        "nobody's home {home} exists: this test needs one that does not"
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let d = dir.path();
    for sub in ["Maildir/cur", "Maildir/new", "Maildir/tmp", "empty"] {
        std::fs::create_dir_all(d.join(sub)).unwrap();
    }
    sh(&format!("chown -R nobody {}/Maildir", d.display()));
    sh(&format!(
        "printf secret | saslpasswd2 -p -c -f {}/sasldb2 -u demo demo",
        d.display()
    ));
    let log = Log::new();
    let uid = Command::new("id").args(["-u", "nobody"]).output().unwrap();
    let uid = String::from_utf8_lossy(&uid.stdout).trim().to_string();
    let args: Vec<String> = [
        "-c".to_string(),
        "/dev/null".into(),
        "-o".into(),
        "auth=sasldb".into(),
        "-o".into(),
        format!("sasldb_path={}/sasldb2", d.display()),
        "-o".into(),
        "sasl_realm=demo".into(),
        "-o".into(),
        "virtual_user=nobody".into(),
        "-o".into(),
        format!("first_valid_uid={uid}"),
        "-o".into(),
        "login_user=nobody".into(),
        "-o".into(),
        format!("login_chroot={}/empty", d.display()),
        "-o".into(),
        format!("mail_location=maildir:{}/Maildir", d.display()),
        "-o".into(),
        format!("log_path={}", log.path().display()),
    ]
    .to_vec();
    let mut p = Piped::start(IMAPD, &args, "127.0.0.1");
    let mut c = Client::new(std::mem::replace(&mut p.io, PipeIo { r: None, w: None }));
    assert!(c.line().starts_with("* OK"));
    let r = c.command("a", "LOGIN demo secret");
    assert!(
        r.last().unwrap().starts_with("a OK"),
        "{r:?}\n{}",
        log.text()
    );
    let r = c.command("b", "SELECT INBOX");
    assert!(r.last().unwrap().starts_with("b OK"), "{r:?}");
}
