//! Shared by the integration tests: a temporary Maildir owned by the test
//! user, the built binaries run over pipes as that user, and transcripts.
//!
//! Run as root (as `make test` does), the servers run as the unprivileged
//! user `mailtest`, created by `scripts/test-deps.sh`; run as a normal user,
//! they run as that user. Either way they start in preauthenticated mode,
//! exactly as `ssh host imapd` would.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::Duration;

/// How long a test waits for one response before failing.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(20);

pub const TEST_USER: &str = "mailtest";

pub fn is_root() -> bool {
    rustix::process::getuid().is_root()
}

/// uid and gid of the test user; panics with a clear message when missing.
pub fn test_user_ids() -> (u32, u32) {
    let passwd = std::fs::read_to_string("/etc/passwd").expect("read /etc/passwd");
    for l in passwd.lines() {
        let f: Vec<&str> = l.split(':').collect();
        if f.len() > 3 && f[0] == TEST_USER {
            return (f[2].parse().unwrap(), f[3].parse().unwrap());
        }
    }
    panic!("test user {TEST_USER} is missing: run `make test` (scripts/test-deps.sh creates it) as root");
}

/// A temporary home with an empty Maildir, owned by whoever the servers run
/// as. Removed when dropped.
pub struct Home {
    pub dir: tempfile::TempDir,
}

impl Home {
    pub fn new() -> Home {
        let dir = tempfile::Builder::new()
            .prefix("mailaccess-test")
            .tempdir()
            .unwrap();
        let h = Home { dir };
        for sub in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(h.maildir().join(sub)).unwrap();
        }
        h.fix_owner();
        h
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn maildir(&self) -> PathBuf {
        self.dir.path().join("Maildir")
    }

    /// Gives one file to the test user (when root).
    pub fn chown_to_test_user(p: &Path) {
        if !is_root() {
            return;
        }
        let (uid, gid) = test_user_ids();
        rustix::fs::chown(
            p,
            Some(rustix::fs::Uid::from_raw(uid)),
            Some(rustix::fs::Gid::from_raw(gid)),
        )
        .unwrap();
    }

    /// Gives everything under the home to the test user (when root).
    pub fn fix_owner(&self) {
        if !is_root() {
            return;
        }
        let (uid, gid) = test_user_ids();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(self.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let status = Command::new("chown")
            .arg("-R")
            .arg(format!("{uid}:{gid}"))
            .arg(self.path())
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Delivers a message into `new/` as an MTA would (tmp, then rename).
    pub fn deliver(&self, folder: Option<&str>, name: &str, body: &[u8]) -> PathBuf {
        let dir = match folder {
            Some(f) => self.maildir().join(format!(".{f}")),
            None => self.maildir(),
        };
        let tmp = dir.join("tmp").join(name);
        std::fs::write(&tmp, body).unwrap();
        let dest = dir.join("new").join(name);
        std::fs::rename(&tmp, &dest).unwrap();
        self.fix_owner();
        dest
    }
}

/// The command that runs a built binary as the test user.
pub fn server_command(bin: &str, home: &Home, extra: &[&str]) -> Command {
    let mut c;
    if is_root() {
        test_user_ids();
        c = Command::new("setpriv");
        c.args([
            "--reuid",
            TEST_USER,
            "--regid",
            TEST_USER,
            "--init-groups",
            "--",
        ])
        .arg(bin);
    } else {
        c = Command::new(bin);
    }
    // No special folders made at the first login (`special_folders`),
    // so that every test sees the folders it made; tests/imap_special_folders.rs
    // turns them on.
    c.arg("-c")
        .arg("/dev/null")
        .arg("-o")
        .arg(format!(
            "mail_location=maildir:{}",
            home.maildir().display()
        ))
        .args(["-o", "special_folders="])
        .args(extra)
        .env("HOME", home.path())
        .env_remove("TMPDIR");
    c
}

/// A running server on pipes, read line by line from a thread so every
/// wait is bounded.
pub struct Server {
    pub child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<Vec<u8>>,
}

impl Server {
    pub fn start(mut cmd: Command) -> Server {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start server");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            loop {
                let mut line = Vec::new();
                match r.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        // A literal: read its octets as part of this line.
                        if let Some(n) = literal_len(&line) {
                            let mut data = vec![0; n];
                            if r.read_exact(&mut data).is_err() {
                                break;
                            }
                            line.extend_from_slice(&data);
                            let mut rest = Vec::new();
                            if r.read_until(b'\n', &mut rest).is_err() {
                                break;
                            }
                            line.extend_from_slice(&rest);
                            // A response can hold several literals.
                            while let Some(n) = literal_len(&rest) {
                                let mut data = vec![0; n];
                                if r.read_exact(&mut data).is_err() {
                                    return;
                                }
                                line.extend_from_slice(&data);
                                rest.clear();
                                if r.read_until(b'\n', &mut rest).is_err() {
                                    return;
                                }
                                line.extend_from_slice(&rest);
                            }
                        }
                        if tx.send(line).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        let stdin = child.stdin.take();
        Server {
            child,
            stdin,
            lines: rx,
        }
    }

    pub fn imapd(home: &Home) -> Server {
        Server::start(server_command(env!("CARGO_BIN_EXE_imapd"), home, &[]))
    }

    /// Writes raw bytes to a server that may already have gone (and
    /// closed its input): the error, not a panic.
    pub fn try_write(&mut self, data: &[u8]) -> std::io::Result<()> {
        let s = self.stdin.as_mut().expect("stdin open");
        s.write_all(data)?;
        s.flush()
    }

    /// Writes raw bytes to the server.
    pub fn write(&mut self, data: &[u8]) {
        let s = self.stdin.as_mut().expect("stdin open");
        s.write_all(data).unwrap();
        s.flush().unwrap();
    }

    pub fn send(&mut self, line: &str) {
        self.write(format!("{line}\r\n").as_bytes());
    }

    pub fn close_input(&mut self) {
        self.stdin = None;
    }

    /// The next response line (literals included), or panics after the
    /// timeout.
    pub fn line(&mut self) -> String {
        match self.lines.recv_timeout(RESPONSE_TIMEOUT) {
            Ok(l) => String::from_utf8_lossy(&l).into_owned(),
            Err(_) => panic!("no response from the server within {RESPONSE_TIMEOUT:?}"),
        }
    }

    /// The next response line as the octets sent (literals included).
    pub fn line_bytes(&mut self) -> Vec<u8> {
        match self.lines.recv_timeout(RESPONSE_TIMEOUT) {
            Ok(l) => l,
            Err(_) => panic!("no response from the server within {RESPONSE_TIMEOUT:?}"),
        }
    }

    /// `command`, with every line as the octets sent.
    pub fn command_bytes(&mut self, tag: &str, cmd: &str) -> Vec<Vec<u8>> {
        self.send(&format!("{tag} {cmd}"));
        let mut out = Vec::new();
        loop {
            let l = self.line_bytes();
            let done = l.starts_with(format!("{tag} ").as_bytes());
            out.push(l);
            if done {
                return out;
            }
        }
    }

    /// None at EOF.
    pub fn try_line(&mut self, wait: Duration) -> Option<String> {
        self.lines
            .recv_timeout(wait)
            .ok()
            .map(|l| String::from_utf8_lossy(&l).into_owned())
    }

    /// Sends a tagged command and returns every response line up to and
    /// including the tagged one.
    pub fn command(&mut self, tag: &str, cmd: &str) -> Vec<String> {
        self.send(&format!("{tag} {cmd}"));
        self.until_tagged(tag)
    }

    pub fn until_tagged(&mut self, tag: &str) -> Vec<String> {
        let mut out = Vec::new();
        loop {
            let l = self.line();
            let done = l.starts_with(&format!("{tag} "));
            out.push(l);
            if done {
                return out;
            }
        }
    }

    /// Waits for the process to end (bounded) and returns its exit status.
    pub fn wait(&mut self) -> Option<i32> {
        self.close_input();
        for _ in 0..200 {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st.code();
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        let _ = self.child.kill();
        None
    }

    /// Whatever the server wrote to stderr (it must write nothing).
    pub fn stderr(&mut self) -> String {
        let mut s = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut s);
        }
        s
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn literal_len(line: &[u8]) -> Option<usize> {
    let l = line
        .strip_suffix(b"\r\n")
        .or_else(|| line.strip_suffix(b"\n"))?;
    let l = l.strip_suffix(b"}")?;
    let open = l.iter().rposition(|&c| c == b'{')?;
    std::str::from_utf8(&l[open + 1..]).ok()?.parse().ok()
}

/// Runs a transcript: `C:` lines are sent, `S:` lines must come back in
/// order. In an `S:` line `{}` matches any text; a line that holds a
/// literal is written with the literal's octets inline and `\r\n` for its
/// CR LF. `C:` lines are sent with CRLF appended.
pub fn transcript(server: &mut Server, script: &str) {
    for (n, raw) in script.lines().enumerate() {
        let line = raw.trim_start();
        if line.is_empty() {
            continue;
        }
        if let Some(c) = line.strip_prefix("C: ") {
            server.send(&c.replace("\\r\\n", "\r\n"));
        } else if let Some(want) = line.strip_prefix("S: ") {
            let got = server.line();
            let got = got
                .strip_suffix("\r\n")
                .unwrap_or(&got)
                .replace("\r\n", "\\r\\n");
            assert!(
                glob(want, &got),
                "transcript line {}:\n  want S: {want}\n  got  S: {got}",
                n + 1
            );
        } else {
            panic!("transcript line {}: must start with C: or S:: {raw}", n + 1);
        }
    }
}

/// `{}` in `pattern` matches any run of characters.
pub fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split("{}").collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let mut rest = text;
    for (i, p) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(p) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(p);
        } else {
            match rest.find(p) {
                Some(at) => rest = &rest[at + p.len()..],
                None => return false,
            }
        }
    }
    true
}

// ---- Both backends ----

/// The two stores, for tests that must hold on both.
#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Maildir,
    Mbox,
}

pub const BOTH: [Backend; 2] = [Backend::Maildir, Backend::Mbox];

/// A home whose INBOX holds `msgs`, written as an MTA writes them (raw
/// octets, no conversion).
pub fn home_on(b: Backend, msgs: &[&[u8]]) -> Home {
    let h = Home::new();
    match b {
        Backend::Maildir => {
            for (i, m) in msgs.iter().enumerate() {
                h.deliver(None, &format!("100000000{i}.M{i}P1.test"), m);
            }
        }
        Backend::Mbox => {
            std::fs::create_dir_all(h.path().join("spool")).unwrap();
            std::fs::create_dir_all(h.path().join("mail")).unwrap();
            let mut spool = Vec::new();
            for m in msgs {
                spool.extend_from_slice(b"From mta@example.org Sat Nov 21 06:13:17 2026\n");
                spool.extend_from_slice(m);
                spool.extend_from_slice(b"\n");
            }
            std::fs::write(h.path().join("spool/inbox"), spool).unwrap();
            h.fix_owner();
        }
    }
    h
}

/// A new message for INBOX as an MTA delivers it: into `new/` under
/// `name` on Maildir, appended to the spool (a From line before it, a
/// blank line after) on mbox.
pub fn deliver_inbox(b: Backend, h: &Home, name: &str, body: &[u8]) {
    match b {
        Backend::Maildir => {
            h.deliver(None, name, body);
        }
        Backend::Mbox => {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(h.path().join("spool/inbox"))
                .unwrap();
            f.write_all(b"From mta@example.org Sat Nov 21 06:13:17 2026\n")
                .unwrap();
            f.write_all(body).unwrap();
            f.write_all(b"\n").unwrap();
        }
    }
}

pub fn imapd_on(b: Backend, h: &Home) -> Server {
    let mut s = match b {
        Backend::Maildir => Server::imapd(h),
        Backend::Mbox => mbox_imapd(h),
    };
    assert!(s.line().starts_with("* PREAUTH"));
    s
}

/// imapd on `h`'s mbox store: folders in `mail/`, INBOX `spool/inbox`.
pub fn mbox_imapd(h: &Home) -> Server {
    let loc = format!(
        "mail_location=mbox:{0}/mail:INBOX={0}/spool/inbox",
        h.path().display()
    );
    Server::start(server_command(
        env!("CARGO_BIN_EXE_imapd"),
        h,
        &["-o", &loc],
    ))
}

/// A command's response lines, line ends taken off.
pub fn run(s: &mut Server, tag: &str, cmd: &str) -> Vec<String> {
    s.command(tag, cmd)
        .into_iter()
        .map(|l| l.trim_end_matches("\r\n").to_string())
        .collect()
}

/// The response `r` ends in `tag OK`.
pub fn ok(r: &[String], tag: &str) {
    assert!(r.last().unwrap().starts_with(&format!("{tag} OK")), "{r:?}");
}

/// What `SEARCH q` answers: the numbers after `* SEARCH`, as one string.
pub fn search(s: &mut Server, q: &str) -> String {
    let r = run(s, "s", &format!("SEARCH {q}"));
    ok(&r, "s");
    r.iter()
        .find(|l| l.starts_with("* SEARCH"))
        .map(|l| l["* SEARCH".len()..].trim().to_string())
        .unwrap_or_default()
}

/// Sets a file's modification time (a Maildir message's arrival time).
pub fn set_mtime(path: &Path, t: std::time::SystemTime) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .and_then(|f| f.set_modified(t))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// A home whose INBOX holds `msgs` in this order, each arrived at its
/// time: Maildir files with names in that order and that modification
/// time, or an mbox whose From lines say it.
pub fn home_arrived(b: Backend, msgs: &[(Vec<u8>, std::time::SystemTime)]) -> Home {
    match b {
        Backend::Maildir => {
            let h = Home::new();
            for (i, (m, at)) in msgs.iter().enumerate() {
                let p = h.deliver(None, &format!("{}.M{i}P1.test", 1_000_000_000 + i), m);
                set_mtime(&p, *at);
            }
            h
        }
        Backend::Mbox => {
            let h = home_on(b, &[]);
            let mut spool = Vec::new();
            for (m, at) in msgs {
                let secs = at.duration_since(std::time::UNIX_EPOCH).unwrap();
                let at = chrono::DateTime::from_timestamp(secs.as_secs() as i64, 0).unwrap();
                let from = format!(
                    "From mta@example.org {}\n",
                    at.format("%a %b %e %H:%M:%S %Y")
                );
                spool.extend_from_slice(from.as_bytes());
                spool.extend_from_slice(m);
                spool.extend_from_slice(b"\n");
            }
            std::fs::write(h.path().join("spool/inbox"), spool).unwrap();
            h.fix_owner();
            h
        }
    }
}

/// Runs the commands of `script` (lines of `tag command`) one by one and
/// returns every response line, line ends taken off.
pub fn run_script(s: &mut Server, script: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in script.lines() {
        let (tag, cmd) = line.split_once(' ').expect("tag and command");
        out.extend(run(s, tag, cmd));
    }
    out
}

/// Each of `cmds` is answered BAD.
pub fn assert_all_bad(s: &mut Server, cmds: &[&str]) {
    for cmd in cmds {
        let r = run(s, "b", cmd);
        assert!(r.last().unwrap().starts_with("b BAD"), "{cmd}: {r:?}");
    }
}

/// `got` answers each of `commands` as `want` does (one answer line a
/// command, in order); `want` must have one for every command.
pub fn assert_same_answers(commands: &[&str], got: &[String], want: &[String]) {
    assert_eq!(want.len(), commands.len(), "{want:#?}");
    for (i, c) in commands.iter().enumerate() {
        assert_eq!(got.get(i), want.get(i), "{c}");
    }
}

/// A session's commands: SELECT INBOX as `s`, each of `commands` as
/// `t0`, `t1`, ..., then LOGOUT as `z`, CRLF after each.
pub fn select_script(commands: &[&str]) -> String {
    let mut s = String::from("s SELECT INBOX\r\n");
    for (i, c) in commands.iter().enumerate() {
        s.push_str(&format!("t{i} {c}\r\n"));
    }
    s.push_str("z LOGOUT\r\n");
    s
}
