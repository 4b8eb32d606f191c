//! Shared by the `login_*` tests: `imapd` started as root (the real login
//! path: login child in its jail, privileged parent, drop to the user),
//! real PAM users made with useradd/chpasswd, sasldb files made by the real
//! saslpasswd2, the server's log file, and what /proc says about processes.
//!
//! These tests need root (`make test` runs as root) and fail, never skip,
//! without it or without the tools `scripts/test-deps.sh` installs.

#![allow(dead_code)]

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Once;
use std::time::{Duration, Instant};

use crate::common::Server;

pub const IMAPD: &str = env!("CARGO_BIN_EXE_imapd");

/// The PAM service the tests log in through (pam_unix, as on a real host).
pub const PAM_SERVICE: &str = "mailaccess-logintest";
/// Real system users with real passwords.
pub const ALICE: &str = "malt-alice";
pub const BOB: &str = "malt-bob";
pub const LOCKED: &str = "malt-locked";
/// A supplementary group ALICE is in (checked after the privilege drop).
pub const EXTRA_GROUP: &str = "malt-extra";
/// Never created.
pub const NOBODY: &str = "malt-nosuchuser";
pub const PASSWORD: &str = "Tr0ub4dor&3 horse";
pub const BOB_PASSWORD: &str = "b0b-s3cret-pw";
pub const WRONG: &str = "wr0ng-Passw0rd-xyz";

/// Bound on any wait for a process or a port.
pub const WAIT: Duration = Duration::from_secs(20);

pub fn sh(cmd: &str) {
    let out = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .output()
        .expect("run sh");
    assert!(
        out.status.success(),
        "failed: {cmd}\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn require_root() {
    assert!(
        rustix::process::getuid().is_root(),
        "the login tests need root (imapd must start as root to log users in): run them through `make test`"
    );
}

/// The login user and jail `scripts/test-deps.sh` creates.
pub fn require_login_jail() {
    require_root();
    assert!(
        crate::login_support::uid_of("mailaccess").is_some(),
        "system user mailaccess (login_user) is missing: run scripts/test-deps.sh"
    );
    let m = std::fs::metadata("/var/empty")
        .expect("/var/empty (login_chroot) is missing: run scripts/test-deps.sh");
    assert!(m.is_dir());
}

/// The PAM service file and the PAM users, once per test binary.
pub fn pam_users() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        require_login_jail();
        std::fs::write(
            format!("/etc/pam.d/{PAM_SERVICE}"),
            "# mailaccess login tests (tests/login_support)\nauth required pam_unix.so\naccount required pam_unix.so\n",
        )
        .expect("write the PAM service file");
        sh(&format!("getent group {EXTRA_GROUP} >/dev/null || groupadd {EXTRA_GROUP}"));
        for (u, pw) in [(ALICE, PASSWORD), (BOB, BOB_PASSWORD), (LOCKED, PASSWORD)] {
            sh(&format!(
                "id {u} >/dev/null 2>&1 || useradd --create-home --shell /usr/sbin/nologin {u}"
            ));
            sh(&format!("usermod -U {u} >/dev/null 2>&1 || true"));
            let mut child = Command::new("chpasswd")
                .stdin(Stdio::piped())
                .spawn()
                .expect("chpasswd");
            writeln!(child.stdin.take().unwrap(), "{u}:{pw}").unwrap();
            assert!(child.wait().unwrap().success(), "chpasswd {u}");
        }
        sh(&format!("usermod -a -G {EXTRA_GROUP} {ALICE}"));
        sh(&format!("usermod -L {LOCKED}"));
    });
}

/// (uid, gid) from /etc/passwd.
pub fn uid_of(user: &str) -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() > 3 && f[0] == user).then(|| (f[2].parse().unwrap(), f[3].parse().unwrap()))
    })
}

pub fn gid_of_group(group: &str) -> u32 {
    let text = std::fs::read_to_string("/etc/group").unwrap();
    text.lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() > 2 && f[0] == group).then(|| f[2].parse().unwrap())
        })
        .unwrap_or_else(|| panic!("group {group} missing"))
}

/// A test's files: a mail root (mode 0755 so every user can reach its own
/// part), the server's log file, and whatever else the test puts there.
pub struct Setup {
    pub dir: tempfile::TempDir,
}

impl Setup {
    pub fn new() -> Setup {
        let dir = tempfile::Builder::new()
            .prefix("mailaccess-login")
            .tempdir()
            .unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::create_dir(dir.path().join("mail")).unwrap();
        std::fs::set_permissions(
            dir.path().join("mail"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        Setup { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn mail(&self) -> PathBuf {
        self.dir.path().join("mail")
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("imapd.log")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// `mail/USER/Maildir`, created and owned by the system user `owner`.
    pub fn maildir(&self, user: &str, owner: &str) -> PathBuf {
        let home = self.mail().join(user);
        let md = home.join("Maildir");
        for sub in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(md.join(sub)).unwrap();
        }
        sh(&format!("chown -R {owner}: '{}'", home.display()));
        std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).unwrap();
        md
    }

    /// Delivers a message into `maildir/new` as an MTA would, owned by `owner`.
    pub fn deliver(&self, maildir: &Path, name: &str, body: &str, owner: &str) -> PathBuf {
        let tmp = maildir.join("tmp").join(name);
        std::fs::write(&tmp, body).unwrap();
        let dest = maildir.join("new").join(name);
        std::fs::rename(&tmp, &dest).unwrap();
        sh(&format!("chown {owner}: '{}'", dest.display()));
        dest
    }

    /// imapd as root with PAM, this setup's log and mail root, a short
    /// failure delay, and no idea where the client is (no REMOTE_HOST).
    pub fn imapd(&self, extra: &[&str]) -> Command {
        self.server(IMAPD, extra)
    }

    /// The same for the binary `bin` (imapd or pop3d).
    pub fn server(&self, bin: &str, extra: &[&str]) -> Command {
        let mut c = Command::new(bin);
        c.arg("-c").arg("/dev/null");
        for o in [
            format!("log_path={}", self.log_path().display()),
            format!("pam_service={PAM_SERVICE}"),
            format!("mail_location=maildir:{}/%u/Maildir", self.mail().display()),
            "auth_failure_delay=100ms".into(),
        ] {
            c.arg("-o").arg(o);
        }
        for e in extra {
            c.arg("-o").arg(e);
        }
        c.env_remove("REMOTE_HOST")
            .env_remove("REMOTE_PORT")
            .env_remove("TMPDIR");
        c
    }

    /// The same with the client on loopback (as xinetd would say it).
    pub fn imapd_loopback(&self, extra: &[&str]) -> Command {
        self.server_loopback(IMAPD, extra)
    }

    /// `server` with the client on loopback.
    pub fn server_loopback(&self, bin: &str, extra: &[&str]) -> Command {
        let mut c = self.server(bin, extra);
        c.env("REMOTE_HOST", "127.0.0.1")
            .env("REMOTE_PORT", "40000");
        c
    }
}

/// Reads the greeting; returns it.
pub fn greeting(s: &mut Server) -> String {
    let g = s.line();
    assert!(g.starts_with("* OK "), "greeting: {g}");
    g
}

/// The tagged line of a response.
pub fn tagged<'a>(lines: &'a [String], tag: &str) -> &'a str {
    lines
        .iter()
        .find(|l| l.starts_with(&format!("{tag} ")))
        .map(|s| s.as_str())
        .unwrap_or_else(|| panic!("no tagged {tag} line in {lines:?}"))
}

/// Ends a session with LOGOUT and checks the process went away cleanly
/// and never wrote to stderr.
pub fn logout(s: &mut Server) {
    let r = s.command("z", "LOGOUT");
    assert!(r[0].starts_with("* BYE"), "{r:?}");
    assert!(tagged(&r, "z").starts_with("z OK"), "{r:?}");
    assert_eq!(s.wait(), Some(0), "imapd exit status after LOGOUT");
    no_stderr(s);
}

pub fn no_stderr(s: &mut Server) {
    let e = s.stderr();
    assert!(e.is_empty(), "imapd wrote to stderr: {e:?}");
}

/// Reads lines until EOF (bounded).
pub fn until_eof(s: &mut Server) -> Vec<String> {
    let mut out = Vec::new();
    let end = Instant::now() + WAIT;
    while Instant::now() < end {
        match s.try_line(Duration::from_millis(200)) {
            Some(l) => out.push(l),
            None => {
                if let Ok(Some(_)) = s.child.try_wait() {
                    // Drain what is left.
                    while let Some(l) = s.try_line(Duration::from_millis(200)) {
                        out.push(l);
                    }
                    return out;
                }
            }
        }
    }
    panic!("imapd did not end within {WAIT:?}; got {out:?}");
}

// ---- /proc ----

/// Uid: and Gid: (real, effective, saved, fs) and Groups: of a process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ids {
    pub uid: Vec<u32>,
    pub gid: Vec<u32>,
    pub groups: Vec<u32>,
}

pub fn ids(pid: u32) -> Ids {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/status: {e}"));
    let field = |name: &str| -> Vec<u32> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name} in /proc/{pid}/status"))
            .split_whitespace()
            .map(|v| v.parse().unwrap())
            .collect()
    };
    Ids {
        uid: field("Uid:"),
        gid: field("Gid:"),
        groups: field("Groups:"),
    }
}

/// The direct children of `pid`.
pub fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(p) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        // pid (comm) state ppid ...: comm may hold spaces, so cut at ')'.
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        if f.get(1).and_then(|v| v.parse::<u32>().ok()) == Some(pid) {
            out.push(p);
        }
    }
    out
}

/// Waits (bounded) until `pid` has exactly one child and returns it.
pub fn only_child(pid: u32) -> u32 {
    let end = Instant::now() + WAIT;
    loop {
        let c = children(pid);
        if c.len() == 1 {
            return c[0];
        }
        assert!(
            Instant::now() < end,
            "process {pid} has children {c:?}, wanted one"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits (bounded) until `pid` has no children.
pub fn no_children(pid: u32) {
    let end = Instant::now() + WAIT;
    loop {
        let c = children(pid);
        if c.is_empty() {
            return;
        }
        assert!(
            Instant::now() < end,
            "process {pid} still has children {c:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---- sasldb, ports, Python clients ----

pub const SASLPASSWD2: &str = "/usr/sbin/saslpasswd2";

/// `saslpasswd2 -c -p -f FILE -u REALM USER`, password on stdin.
pub fn saslpasswd(db: &Path, realm: &str, user: &str, password: &str) {
    assert!(
        Path::new(SASLPASSWD2).exists(),
        "{SASLPASSWD2} missing: install sasl2-bin (scripts/test-deps.sh does)"
    );
    let mut child = Command::new(SASLPASSWD2)
        .args(["-c", "-p", "-f"])
        .arg(db)
        .args(["-u", realm, user])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run saslpasswd2");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(password.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "saslpasswd2: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A port nobody listens on now.
/// `imapd --listen 127.0.0.1:PORT` on the sasldb `db` (realm `realm`),
/// every user running as the test user with mail under `%d/%n`, with
/// `extra` settings; stderr piped. Returns the daemon and its port.
pub fn listen_sasldb(setup: &Setup, db: &Path, realm: &str, extra: &[&str]) -> (Daemon, u16) {
    sh(&format!(
        "chown {}: '{}'",
        crate::common::TEST_USER,
        setup.mail().display()
    ));
    let port = free_port();
    let mut settings = vec![
        "auth=sasldb".to_string(),
        format!("sasldb_path={}", db.display()),
        format!("sasl_realm={realm}"),
        format!("virtual_user={}", crate::common::TEST_USER),
        format!(
            "mail_location=maildir:{}/%d/%n/Maildir",
            setup.mail().display()
        ),
        "auth_failure_delay=20ms".to_string(),
    ];
    settings.extend(extra.iter().map(|e| e.to_string()));
    let settings: Vec<&str> = settings.iter().map(String::as_str).collect();
    let mut cmd = setup.imapd(&settings);
    cmd.arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("start imapd --listen");
    wait_for_port(port, &mut child);
    (Daemon { child }, port)
}

pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Waits (bounded) until something accepts on 127.0.0.1:port.
pub fn wait_for_port(port: u16, child: &mut Child) {
    wait_for_port_at("127.0.0.1", port, child)
}

/// Waits (bounded) until something accepts on host:port.
pub fn wait_for_port_at(host: &str, port: u16, child: &mut Child) {
    let end = Instant::now() + WAIT;
    loop {
        if std::net::TcpStream::connect_timeout(
            &format!("{host}:{port}").parse().unwrap(),
            Duration::from_millis(200),
        )
        .is_ok()
        {
            return;
        }
        if let Ok(Some(st)) = child.try_wait() {
            panic!("listener exited before accepting: {st}");
        }
        assert!(Instant::now() < end, "nothing listens on port {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A background process we started (imapd --listen, xinetd), killed by
/// its pid and reaped when dropped.
pub struct Daemon {
    pub child: Child,
}

impl Daemon {
    /// SIGTERM, a bounded wait, then SIGKILL; panics if it will not end.
    pub fn stop(&mut self) {
        if let Some(pid) = rustix::process::Pid::from_raw(self.child.id() as i32) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
        let end = Instant::now() + Duration::from_secs(5);
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let end = Instant::now() + WAIT;
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("process {} did not end after SIGKILL", self.child.id());
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One case for tests/clients/login_sasl.py (JSON; the values must not
/// need escaping).
pub fn sasl_case(
    user: &str,
    password: &str,
    method: &str,
    ok: bool,
    subject: Option<&str>,
) -> String {
    for v in [user, password, method, subject.unwrap_or("")] {
        assert!(!v.contains(['"', '\\']), "{v:?} needs JSON escaping");
    }
    let subject = subject
        .map(|s| format!(r#", "subject": "{s}""#))
        .unwrap_or_default();
    format!(
        r#"{{"user": "{user}", "password": "{password}", "method": "{method}", "ok": {ok}, "caps": ["AUTH=PLAIN", "AUTH=CRAM-MD5", "AUTH=SCRAM-SHA-256"]{subject}}}"#
    )
}

/// Runs tests/clients/login_sasl.py against 127.0.0.1:port with the
/// given JSON list of cases; fails the test with its output on failure.
pub fn python_client(port: u16, cases: &str) -> String {
    python_client_at("127.0.0.1", port, cases)
}

/// The same against `host`.
pub fn python_client_at(host: &str, port: u16, cases: &str) -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/login_sasl.py");
    let out: Output = Command::new("timeout")
        .args(["60", "python3", script, host])
        .arg(port.to_string())
        .arg(cases)
        .output()
        .expect("run python3");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "login_sasl.py failed ({}):\n{text}",
        out.status
    );
    text
}

/// One file's path, mode, uid, gid, size, mtime and contents.
pub type FileState = (PathBuf, u32, u32, u32, u64, i64, Vec<u8>);

/// Every file under `dir` with its contents and metadata, for "untouched"
/// checks.
pub fn snapshot(dir: &Path) -> Vec<FileState> {
    use std::os::unix::fs::MetadataExt;
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let m = std::fs::symlink_metadata(&d).unwrap();
        let data = if m.is_file() {
            std::fs::read(&d).unwrap()
        } else {
            Vec::new()
        };
        out.push((
            d.clone(),
            m.mode(),
            m.uid(),
            m.gid(),
            m.len(),
            m.mtime(),
            data,
        ));
        if m.is_dir() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                stack.push(e.path());
            }
        }
    }
    out.sort();
    out
}

/// Standard base64 with padding (RFC 4648), for SASL messages.
pub fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The SASL PLAIN message `\0user\0password`, base64-encoded.
pub fn plain(user: &str, password: &str) -> String {
    base64(format!("\0{user}\0{password}").as_bytes())
}
