//! Shared by the deployment and TLS tests (tests/deploy_*.rs, tls_*.rs):
//! test certificates made with openssl, a real PAM user, imapd/pop3d run
//! as root (as xinetd and stunnel run them) over pipes, a TLS client
//! (rustls) over pipes or TCP, and real xinetd/stunnel daemons on
//! 127.0.0.1 that are stopped when dropped. Every wait is bounded.
//!
//! These tests need root (make test runs as root) and the Debian packages
//! scripts/test-deps.sh installs (xinetd, stunnel4, openssl, curl).

#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

pub const IMAPD: &str = env!("CARGO_BIN_EXE_imapd");
pub const POP3D: &str = env!("CARGO_BIN_EXE_pop3d");

/// The real PAM user of these tests and its password.
pub const USER: &str = "madeploy";
pub const PASSWORD: &str = "deploy-Pw-42";
/// PAM services: copies of the repository's pam.d/imap and pam.d/pop3.
pub const PAM_IMAP: &str = "mailaccess-deploy-imap";
pub const PAM_POP3: &str = "mailaccess-deploy-pop3";

/// How long one exchange may take.
pub const WAIT: Duration = Duration::from_secs(20);

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn require_root() {
    assert!(
        rustix::process::getuid().is_root(),
        "this test needs root: run it through `make test`"
    );
}

pub fn require_tool(path: &str) {
    assert!(
        Path::new(path).exists(),
        "{path} is missing: run `make test-deps` as root (scripts/test-deps.sh)"
    );
}

pub fn sh(cmd: &str) {
    let st = Command::new("sh").arg("-c").arg(cmd).status().expect("sh");
    assert!(st.success(), "failed: {cmd}");
}

/// The PAM services and the test user with a Maildir holding one message,
/// once per test binary (idempotent across binaries).
pub fn pam_user() -> PathBuf {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        require_root();
        std::fs::copy(repo().join("pam.d/imap"), format!("/etc/pam.d/{PAM_IMAP}")).unwrap();
        std::fs::copy(repo().join("pam.d/pop3"), format!("/etc/pam.d/{PAM_POP3}")).unwrap();
        sh(&format!(
            "id {USER} >/dev/null 2>&1 || useradd --create-home --shell /usr/sbin/nologin {USER}"
        ));
        sh(&format!("echo '{USER}:{PASSWORD}' | chpasswd"));
        let home = user_home();
        let md = home.join("Maildir");
        for d in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(md.join(d)).unwrap();
        }
        let msg = md.join("cur/1700000000.deploy1.test:2,S");
        if !msg.exists() {
            std::fs::write(
                &msg,
                "From: a@example.org\r\nTo: b@example.org\r\nSubject: deploy test\r\n\
                 Message-ID: <deploy1@example.org>\r\n\r\nHello from the deploy tests.\r\n",
            )
            .unwrap();
        }
        sh(&format!("chown -R {USER}: {}", md.display()));
    });
    user_home()
}

fn user_home() -> PathBuf {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    for l in passwd.lines() {
        let f: Vec<&str> = l.split(':').collect();
        if f.len() > 5 && f[0] == USER {
            return PathBuf::from(f[5]);
        }
    }
    panic!("user {USER} missing");
}

/// Test certificates, made with openssl in a temporary directory: a CA,
/// leaves for localhost with RSA, ECDSA (P-256) and Ed25519 keys signed by
/// it, chain files (leaf + CA), an expired self-signed certificate, and a
/// pair that does not match.
pub struct Certs {
    pub dir: tempfile::TempDir,
}

impl Certs {
    pub fn new() -> Certs {
        require_tool("/usr/bin/openssl");
        let dir = tempfile::Builder::new()
            .prefix("mailaccess-certs")
            .tempdir()
            .unwrap();
        let d = dir.path().display().to_string();
        let ext = format!("{d}/ext.cnf");
        std::fs::write(
            &ext,
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
        )
        .unwrap();
        let run = |args: &str| {
            let out = Command::new("sh")
                .arg("-c")
                .arg(format!("cd {d} && openssl {args}"))
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "openssl {args}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        run("req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 30 -subj /CN=mailaccess-test-CA -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign");
        for (name, alg) in [
            ("rsa", "-newkey rsa:2048"),
            ("ec", "-newkey ec -pkeyopt ec_paramgen_curve:P-256"),
            ("ed", "-newkey ed25519"),
        ] {
            run(&format!(
                "req -new {alg} -nodes -keyout {name}.key -out {name}.csr -subj /CN=localhost"
            ));
            run(&format!("x509 -req -in {name}.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 -extfile ext.cnf -out {name}.pem"));
            let leaf = std::fs::read_to_string(dir.path().join(format!("{name}.pem"))).unwrap();
            let ca = std::fs::read_to_string(dir.path().join("ca.pem")).unwrap();
            std::fs::write(
                dir.path().join(format!("{name}-chain.pem")),
                format!("{leaf}{ca}"),
            )
            .unwrap();
        }
        // notAfter a day before notBefore: expired whatever the clock says
        // (an X.509 v3 certificate, signed by the CA, otherwise valid).
        run("req -new -newkey rsa:2048 -nodes -keyout expired.key -out expired.csr -subj /CN=localhost");
        run("x509 -req -in expired.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days -1 -extfile ext.cnf -out expired.pem");
        // An X.509 v1 certificate, as old how-tos make them (no extensions).
        run("req -new -newkey rsa:2048 -nodes -keyout v1.key -out v1.csr -subj /CN=localhost");
        run("x509 -req -in v1.csr -signkey v1.key -days 30 -out v1.pem");
        Certs { dir }
    }

    pub fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    /// `-o tls_cert=... -o tls_key=...` for a leaf: "rsa", "ec", "ed".
    pub fn chain_args(&self, name: &str) -> Vec<String> {
        vec![
            "-o".into(),
            format!("tls_cert={}", self.path(&format!("{name}-chain.pem"))),
            "-o".into(),
            format!("tls_key={}", self.path(&format!("{name}.key"))),
        ]
    }

    /// A client configuration that trusts only the test CA.
    pub fn client_config(&self) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(self.path("ca.pem")).unwrap() {
            roots.add(c.unwrap()).unwrap();
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        Arc::new(
            rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth(),
        )
    }
}

/// A client configuration that accepts any certificate (as a client told
/// to, e.g. for the expired certificate: clients decide).
pub fn insecure_client_config() -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnything(provider)))
            .with_no_client_auth(),
    )
}

#[derive(Debug)]
struct AcceptAnything(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAnything {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A log file for one server run.
pub struct Log {
    pub dir: tempfile::TempDir,
}

impl Log {
    pub fn new() -> Log {
        Log {
            dir: tempfile::Builder::new()
                .prefix("mailaccess-log")
                .tempdir()
                .unwrap(),
        }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().join("log")
    }

    pub fn text(&self) -> String {
        std::fs::read_to_string(self.path()).unwrap_or_default()
    }

    /// Waits (bounded) until the log holds `what`; returns the whole log.
    pub fn wait_for(&self, what: &str) -> String {
        let end = Instant::now() + WAIT;
        loop {
            let t = self.text();
            if t.contains(what) || Instant::now() > end {
                return t;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The options every root-mode server of these tests gets: no system
/// configuration, the test PAM service, a log file, short failure delay.
pub fn base_args(pam_service: &str, log: &Log) -> Vec<String> {
    [
        "-c",
        "/dev/null",
        "-o",
        &format!("pam_service={pam_service}"),
        "-o",
        &format!("log_path={}", log.path().display()),
        "-o",
        "auth_failure_delay=100ms",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// A server run as root over pipes, as xinetd runs it, with the client
/// "at" `remote` (REMOTE_HOST). It runs in its own process group, so the
/// login child is killed with it.
pub struct Piped {
    pub child: Child,
    pub io: PipeIo,
    /// Dropping it stops the watchdog.
    _watchdog: std::sync::mpsc::Sender<()>,
}

impl Piped {
    pub fn start(bin: &str, args: &[String], remote: &str) -> Piped {
        require_root();
        let mut child = Command::new(bin)
            .args(args)
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("REMOTE_HOST", remote)
            .env("REMOTE_PORT", "40000")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .expect("start server");
        let io = PipeIo {
            r: child.stdout.take(),
            w: child.stdin.take(),
        };
        let pid = child.id();
        // Watchdog: a test that waits too long fails instead of hanging.
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        std::thread::spawn(move || {
            if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(WAIT * 3) {
                kill_group(pid, rustix::process::Signal::KILL);
            }
        });
        Piped {
            child,
            io,
            _watchdog: tx,
        }
    }

    /// Waits at most `limit` for the process to end.
    pub fn exited_within(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    pub fn stderr(&mut self) -> String {
        let mut s = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut s);
        }
        s
    }
}

impl Drop for Piped {
    fn drop(&mut self) {
        let pid = self.child.id();
        kill_group(pid, rustix::process::Signal::KILL);
        let _ = self.child.wait();
    }
}

/// Signals the process group led by `pid` (a process these tests started
/// in its own group).
pub fn kill_group(pid: u32, sig: rustix::process::Signal) {
    if let Some(p) = rustix::process::Pid::from_raw(pid as i32) {
        let _ = rustix::process::kill_process_group(p, sig);
    }
}

/// The server's stdout and stdin as one stream.
pub struct PipeIo {
    pub r: Option<ChildStdout>,
    pub w: Option<ChildStdin>,
}

impl PipeIo {
    pub fn close_write(&mut self) {
        self.w = None;
    }
}

impl Read for PipeIo {
    fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
        match &mut self.r {
            Some(r) => r.read(b),
            None => Ok(0),
        }
    }
}

impl Write for PipeIo {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        match &mut self.w {
            Some(w) => w.write(b),
            None => Err(io::ErrorKind::BrokenPipe.into()),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match &mut self.w {
            Some(w) => w.flush(),
            None => Ok(()),
        }
    }
}

/// A line-oriented client over any stream (plain or TLS).
pub struct Client<S: Read + Write> {
    pub s: S,
    buf: Vec<u8>,
}

impl<S: Read + Write> Client<S> {
    pub fn new(s: S) -> Client<S> {
        Client { s, buf: Vec::new() }
    }

    /// The next line, or None at EOF or error.
    pub fn try_line(&mut self) -> Option<String> {
        loop {
            if let Some(i) = self.buf.iter().position(|&c| c == b'\n') {
                let l: Vec<u8> = self.buf.drain(..=i).collect();
                return Some(String::from_utf8_lossy(&l).into_owned());
            }
            let mut b = [0u8; 4096];
            match self.s.read(&mut b) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&b[..n]),
            }
        }
    }

    pub fn line(&mut self) -> String {
        self.try_line().expect("the server closed the connection")
    }

    pub fn send(&mut self, data: &str) {
        self.s.write_all(data.as_bytes()).unwrap();
        self.s.flush().unwrap();
    }

    /// Sends `tag cmd` and returns the lines up to the tagged one.
    pub fn command(&mut self, tag: &str, cmd: &str) -> Vec<String> {
        self.send(&format!("{tag} {cmd}\r\n"));
        self.until(&format!("{tag} "))
    }

    pub fn until(&mut self, prefix: &str) -> Vec<String> {
        let mut out = Vec::new();
        loop {
            let l = self.line();
            let done = l.starts_with(prefix);
            out.push(l);
            if done {
                return out;
            }
        }
    }

    /// Bytes read but not yet returned as lines (must be none before a
    /// TLS handshake).
    pub fn pending(&self) -> &[u8] {
        &self.buf
    }

    pub fn into_inner(self) -> S {
        self.s
    }
}

/// TLS over a stream, handshake done.
pub fn tls<S: Read + Write>(
    config: Arc<rustls::ClientConfig>,
    mut s: S,
) -> io::Result<rustls::StreamOwned<rustls::ClientConnection, S>> {
    let name = ServerName::try_from("localhost").unwrap();
    let mut conn = rustls::ClientConnection::new(config, name).map_err(io::Error::other)?;
    while conn.is_handshaking() {
        conn.complete_io(&mut s)?;
    }
    Ok(rustls::StreamOwned::new(conn, s))
}

/// Connects to 127.0.0.1:port, retrying while the daemon starts.
pub fn connect(port: u16) -> TcpStream {
    let end = Instant::now() + WAIT;
    loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => {
                s.set_read_timeout(Some(WAIT)).unwrap();
                s.set_write_timeout(Some(WAIT)).unwrap();
                return s;
            }
            Err(e) if Instant::now() > end => panic!("connect 127.0.0.1:{port}: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// A free TCP port on 127.0.0.1 (bound then released).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A daemon (xinetd, stunnel) in its own process group, killed with its
/// children when dropped.
pub struct Daemon {
    pub child: Child,
    pub dir: tempfile::TempDir,
}

impl Daemon {
    pub fn spawn(mut cmd: Command, dir: tempfile::TempDir) -> Daemon {
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("daemon.stderr")).unwrap())
            .process_group(0)
            .spawn()
            .expect("start daemon");
        Daemon { child, dir }
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("daemon.stderr")).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let pid = self.child.id();
        kill_group(pid, rustix::process::Signal::TERM);
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        kill_group(pid, rustix::process::Signal::KILL);
        let _ = self.child.wait();
    }
}

/// Rewrites a repository xinetd service file for a test: listen on
/// 127.0.0.1:`port` (UNLISTED), run `server` with `args` (the file's own
/// server_args, e.g. --tls, are kept after them).
pub fn xinetd_service(file: &str, port: u16, server: &str, args: &str) -> String {
    xinetd_service_with(file, "127.0.0.1", port, server, args, true)
}

/// `xinetd_service` listening on `addr` (another loopback address stands
/// in for another host).
pub fn xinetd_service_at(file: &str, addr: &str, port: u16, server: &str, args: &str) -> String {
    xinetd_service_with(file, addr, port, server, args, true)
}

/// The same, with the file's own server_args replaced by `args`.
pub fn xinetd_service_replacing(file: &str, port: u16, server: &str, args: &str) -> String {
    xinetd_service_with(file, "127.0.0.1", port, server, args, false)
}

fn xinetd_service_with(
    file: &str,
    addr: &str,
    port: u16,
    server: &str,
    args: &str,
    keep: bool,
) -> String {
    let text = std::fs::read_to_string(repo().join(file)).unwrap();
    let mut own_args = String::new();
    let mut out = String::new();
    for l in text.lines() {
        let t = l.trim();
        if t.starts_with('#') || t.is_empty() {
            continue;
        }
        if let Some(v) = t.strip_prefix("server_args") {
            own_args = v.trim_start().trim_start_matches('=').trim().to_string();
            continue;
        }
        if t.starts_with("server") && !t.starts_with("server_args") {
            out.push_str(&format!("\tserver = {server}\n"));
            continue;
        }
        if t.starts_with("disable") {
            assert!(
                t.ends_with("no"),
                "{file}: service is disabled in the repository"
            );
        }
        out.push_str(l);
        out.push('\n');
        if t == "{" {
            out.push_str(&format!(
                "\ttype = UNLISTED\n\tport = {port}\n\tbind = {addr}\n"
            ));
        }
    }
    if !keep {
        own_args.clear();
    }
    let all_args = format!("{args} {own_args}");
    let all_args = all_args.trim();
    if !all_args.is_empty() {
        let at = out.rfind('}').unwrap();
        out.insert_str(at, &format!("\tserver_args = {all_args}\n"));
    }
    out
}

/// Runs xinetd in the foreground with these services; stopped on drop.
pub fn xinetd(services: &[String]) -> Daemon {
    require_tool("/usr/sbin/xinetd");
    let dir = tempfile::Builder::new()
        .prefix("mailaccess-xinetd")
        .tempdir()
        .unwrap();
    let conf = dir.path().join("xinetd.conf");
    let mut text = format!(
        "defaults\n{{\n\tlog_type = FILE {}\n\tinstances = 50\n}}\n",
        dir.path().join("services.log").display()
    );
    for s in services {
        text.push_str(s);
    }
    std::fs::write(&conf, text).unwrap();
    let mut cmd = Command::new("/usr/sbin/xinetd");
    cmd.arg("-f")
        .arg(&conf)
        .arg("-dontfork")
        .arg("-filelog")
        .arg(dir.path().join("xinetd.log"))
        .arg("-pidfile")
        .arg(dir.path().join("xinetd.pid"));
    Daemon::spawn(cmd, dir)
}

/// xinetd logs "Started working" (to -filelog) once it listens.
pub fn wait_started(d: &Daemon) {
    let end = std::time::Instant::now() + WAIT;
    while std::time::Instant::now() < end {
        let log = std::fs::read_to_string(d.dir.path().join("xinetd.log")).unwrap_or_default();
        let err = d.stderr();
        if log.contains("Started working") || err.contains("Started working") {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!(
        "xinetd did not start: {}\n{}",
        d.stderr(),
        std::fs::read_to_string(d.dir.path().join("xinetd.log")).unwrap_or_default()
    );
}

/// Runs a command with a time limit; returns (status ok, stdout, stderr).
pub fn run_limited(cmd: &mut Command, input: &[u8]) -> (bool, String, String) {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("spawn");
    let pid = child.id();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        if rx.recv_timeout(WAIT * 2).is_err() {
            kill_group(pid, rustix::process::Signal::KILL);
        }
    });
    let out = child.wait_with_output().unwrap();
    let _ = tx.send(());
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Python with its standard library (imaplib, poplib, ssl).
pub fn python(script: &str) -> (bool, String, String) {
    run_limited(Command::new("python3").arg("-c").arg(script), b"")
}

/// `python`, with imaplib's and poplib's connections made from `source`
/// (another loopback address stands in for a remote client).
pub fn python_from(source: &str, body: &str) -> (bool, String, String) {
    python(&format!(
        "import imaplib, poplib, socket, ssl\n\
         def from_client(self, timeout=None):\n\
         \x20   return socket.create_connection((self.host, self.port), timeout or 20, \
                 source_address=('{source}', 0))\n\
         imaplib.IMAP4._create_socket = from_client\n\
         poplib.POP3._create_socket = from_client\n\
         {body}"
    ))
}

/// Whether all of `bytes` are TLS alert records (content type 21) and
/// nothing else: what a server may send to a client whose handshake failed.
pub fn only_tls_alerts(bytes: &[u8]) -> bool {
    let mut rest = bytes;
    while !rest.is_empty() {
        if rest.len() < 5 || rest[0] != 21 || rest[1] != 3 {
            return false;
        }
        let len = u16::from_be_bytes([rest[3], rest[4]]) as usize;
        if rest.len() < 5 + len {
            return false;
        }
        rest = &rest[5 + len..];
    }
    true
}

/// Reads everything until EOF (bounded by the watchdog or socket timeout).
pub fn read_to_end(r: &mut impl Read) -> Vec<u8> {
    let mut out = Vec::new();
    let mut b = [0u8; 4096];
    loop {
        match r.read(&mut b) {
            Ok(0) | Err(_) => return out,
            Ok(n) => out.extend_from_slice(&b[..n]),
        }
    }
}

/// Rewrites a repository stunnel configuration for a test: the pid file
/// in `dir`, the test certificate and key, `accept` per section from
/// `ports` (section name, port), the binaries from target/release with
/// `args` appended to execArgs; `global` lines are put first.
pub fn stunnel_conf(
    file: &str,
    dir: &Path,
    cert: &str,
    key: &str,
    ports: &[(&str, u16)],
    args: &str,
    global: &str,
) -> String {
    let text = std::fs::read_to_string(repo().join(file)).unwrap();
    let mut out = String::from(global);
    let mut section = String::new();
    for l in text.lines() {
        let t = l.trim();
        if t.starts_with(';') || t.is_empty() {
            continue;
        }
        let key_of = |t: &str| t.split('=').next().unwrap_or("").trim().to_string();
        if t.starts_with('[') {
            section = t.trim_matches(|c| c == '[' || c == ']').to_string();
            out.push_str(l);
        } else if key_of(t) == "pid" {
            out.push_str(&format!("pid = {}", dir.join("stunnel.pid").display()));
        } else if key_of(t) == "cert" {
            out.push_str(&format!("cert = {cert}"));
        } else if key_of(t) == "key" {
            out.push_str(&format!("key = {key}"));
        } else if key_of(t) == "accept" {
            let port = ports
                .iter()
                .find(|(s, _)| *s == section)
                .unwrap_or_else(|| panic!("no port for [{section}]"))
                .1;
            out.push_str(&format!("accept = 127.0.0.1:{port}"));
        } else if key_of(t) == "exec" {
            let bin = if t.contains("pop3d") { POP3D } else { IMAPD };
            out.push_str(&format!("exec = {bin}"));
        } else if key_of(t) == "execArgs" {
            out.push_str(&format!("{t} {args}"));
        } else {
            out.push_str(l);
        }
        out.push('\n');
    }
    out
}

/// Waits until 127.0.0.1:port accepts (the probe connection is closed
/// at once).
pub fn wait_listening(port: u16) {
    drop(connect(port));
}

/// Debian's `systemd-socket-activate --inetd --accept` on a free loopback
/// port running `program args` per connection, as a socket unit with
/// `Accept=yes` would; returns once the port accepts.
pub fn socket_activate(program: &str, args: &[String]) -> (Daemon, u16) {
    require_tool("/usr/bin/systemd-socket-activate");
    let port = free_port();
    let mut cmd = Command::new("/usr/bin/systemd-socket-activate");
    cmd.args(["--inetd", "--accept", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .arg(program)
        .args(args);
    let d = Daemon::spawn(cmd, tempfile::tempdir().unwrap());
    daemon_listening(port, &d);
    (d, port)
}

/// Waits until `d` takes TCP connections on 127.0.0.1:`port` (its
/// error output in the failure).
pub fn daemon_listening(port: u16, d: &Daemon) {
    let end = std::time::Instant::now() + WAIT;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < end,
            "not listening: {}",
            d.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `imapd --check` (`cmd`, its options set): its exit code and report.
pub fn check_report(cmd: &mut Command) -> (Option<i32>, String) {
    let out = cmd.arg("--check").output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// The open files of every imapd process (of this build): pid and path.
pub fn open_by_imapd() -> Vec<(u32, PathBuf)> {
    let mut out = Vec::new();
    for pid in std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
    {
        if std::fs::read_link(format!("/proc/{pid}/exe")).map_or(true, |e| e != Path::new(IMAPD)) {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            out.push((pid, std::fs::read_link(fd.path()).unwrap_or_default()));
        }
    }
    out
}
