//! pop3d as root through `--listen 127.0.0.1:PORT`, with the login child,
//! the privileged parent and real credentials: PAM users with real
//! passwords (pam_unix and a test service file) and a sasldb user (made
//! with saslpasswd2) for APOP and CRAM-MD5. Real clients: Python poplib,
//! curl, fetchmail; and two concurrent sessions over TCP ([IN-USE]).
//! Needs root (make test runs as root).

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

const SERVICE: &str = "mailaccess-pop3-test";
const HOMES: &str = "/var/tmp/mailaccess-pop3-test";
const REALM: &str = "mailaccess-test";

fn sh(cmd: &str) {
    let st = Command::new("sh").arg("-c").arg(cmd).status().expect("sh");
    assert!(st.success(), "failed: {cmd}");
}

fn setup_service() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        assert!(
            rustix::process::getuid().is_root(),
            "this test needs root: run it through `make test`"
        );
        std::fs::write(
            format!("/etc/pam.d/{SERVICE}"),
            "# mailaccess test service (tests/pop3_clients.rs)\nauth required pam_unix.so\naccount required pam_unix.so\n",
        )
        .unwrap();
        std::fs::create_dir_all(HOMES).unwrap();
    });
}

/// A system user with a fresh home and Maildir holding `messages`, and
/// `password` for PAM.
fn user(name: &str, password: &str, messages: &[&[u8]]) -> PathBuf {
    setup_service();
    // useradd and chpasswd lock /etc/passwd and /etc/shadow, and fail
    // rather than wait when another test holds the lock.
    static ACCOUNTS: Mutex<()> = Mutex::new(());
    let guard = ACCOUNTS.lock().unwrap_or_else(|e| e.into_inner());
    let home = Path::new(HOMES).join(name);
    sh(&format!(
        "id {name} >/dev/null 2>&1 || useradd -M -d {} --shell /usr/sbin/nologin {name}",
        home.display()
    ));
    sh(&format!("echo '{name}:{password}' | chpasswd"));
    drop(guard);
    let _ = std::fs::remove_dir_all(&home);
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(home.join("Maildir").join(sub)).unwrap();
    }
    for (i, m) in messages.iter().enumerate() {
        std::fs::write(
            home.join("Maildir/new")
                .join(format!("{}.M{i}.test", 1000 + i)),
            m,
        )
        .unwrap();
    }
    sh(&format!("chown -R {name}: {}", home.display()));
    home
}

/// pop3d --listen on a free loopback port, stopped when dropped.
struct Pop3d {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Pop3d {
    /// `sasl_users`: (name, password) put into a fresh sasldb.
    fn start(sasl_users: &[(&str, &str)]) -> Pop3d {
        let dir = tempfile::tempdir().unwrap();
        let sasldb = dir.path().join("sasldb2");
        for (u, p) in sasl_users {
            let mut c = Command::new("/usr/sbin/saslpasswd2")
                .args(["-f"])
                .arg(&sasldb)
                .args(["-u", REALM, "-p", "-c", u])
                .stdin(Stdio::piped())
                .spawn()
                .expect("saslpasswd2");
            c.stdin.take().unwrap().write_all(p.as_bytes()).unwrap();
            assert!(c.wait().unwrap().success());
        }
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let log = dir.path().join("log");
        let child = Command::new(env!("CARGO_BIN_EXE_pop3d"))
            .args(["-c", "/dev/null", "--listen"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("-o")
            .arg(if sasl_users.is_empty() {
                "auth=pam".to_string()
            } else {
                "auth=pam,sasldb".to_string()
            })
            .arg("-o")
            .arg(format!("pam_service={SERVICE}"))
            .arg("-o")
            .arg(format!("sasldb_path={}", sasldb.display()))
            .arg("-o")
            .arg(format!("sasl_realm={REALM}"))
            .arg("-o")
            .arg(format!("log_path={}", log.display()))
            .arg("-o")
            .arg("auth_failure_delay=0s")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start pop3d --listen");
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "pop3d did not listen"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Pop3d { child, port, dir }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }
}

impl Drop for Pop3d {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a command with a bound on its time; returns (status ok, stdout,
/// stderr).
fn run(cmd: &mut Command, limit: Duration) -> (bool, String, String) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let start = Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            return (
                st.success(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            );
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "timed out: {cmd:?}\n{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A line-based POP3 client over TCP with bounded reads.
struct Client {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl Client {
    fn connect(port: u16) -> Client {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        Client {
            r: BufReader::new(s.try_clone().unwrap()),
            w: s,
        }
    }

    fn line(&mut self) -> String {
        let mut l = String::new();
        self.r.read_line(&mut l).expect("response within 20 s");
        l
    }

    fn cmd(&mut self, c: &str) -> String {
        self.w.write_all(format!("{c}\r\n").as_bytes()).unwrap();
        self.line()
    }
}

#[test]
fn python_poplib_user_pass_apop_top_uidl_retr_dele_rset() {
    let pw = "correct horse 42";
    user(
        "mapop-py",
        pw,
        &[
            b"From: a@example.org\nSubject: one\n\nfirst body\n",
            b"From: b@example.org\nSubject: two\n\n.dotted line\nlast\n",
        ],
    );
    user(
        "mapop-apop",
        "unused-pam-password",
        &[b"Subject: apop\n\nhi\n"],
    );
    let d = Pop3d::start(&[("mapop-apop", "apop secret")]);
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/clients/pop3lib_session.py"
    );
    let (ok, out, err) = run(
        Command::new("python3")
            .arg(script)
            .arg("127.0.0.1")
            .arg(d.port.to_string())
            .args(["mapop-py", pw, "mapop-apop", "apop secret"]),
        Duration::from_secs(120),
    );
    assert!(ok && out.trim() == "ok", "{out}\n{err}\nlog:\n{}", d.log());
}

#[test]
fn curl_lists_and_retrieves() {
    let home = user(
        "mapop-curl",
        "curlpw",
        &[b"Subject: c1\n\nalpha\n", b"Subject: c2\n\n.beta\n"],
    );
    let d = Pop3d::start(&[]);
    let url = format!("pop3://mapop-curl:curlpw@127.0.0.1:{}/", d.port);
    let (ok, out, err) = run(
        Command::new("curl").args(["-sS", "--max-time", "30", &url]),
        Duration::from_secs(60),
    );
    assert!(ok, "{err}\n{}", d.log());
    assert_eq!(out, "1 22\r\n2 22\r\n", "{err}");
    let (ok, out, err) = run(
        Command::new("curl").args(["-sS", "--max-time", "30", &format!("{url}2")]),
        Duration::from_secs(60),
    );
    assert!(ok, "{err}\n{}", d.log());
    assert_eq!(out, "Subject: c2\r\n\r\n.beta\r\n");
    // curl's RETR was answered as the user: the maildrop is untouched.
    assert_eq!(
        std::fs::read_dir(home.join("Maildir/cur")).unwrap().count(),
        2
    );
}

#[test]
fn fetchmail_keeps_then_deletes() {
    let home = user(
        "mapop-fm",
        "fetchpw",
        &[
            b"From: a@example.org\nSubject: fetched-one\n\nbody one\n",
            b"From: b@example.org\nSubject: fetched-two\n\n.body two\n",
        ],
    );
    let d = Pop3d::start(&[]);
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("mbox");
    let rc = work.path().join("fetchmailrc");
    // `sslproto ""`: no STLS attempt (fetchmail 6.4 tries it even when
    // CAPA does not offer it; TLS comes later).
    let fetch = |keep: bool| {
        std::fs::write(
            &rc,
            format!(
                "set no syslog\npoll 127.0.0.1 with protocol pop3 service {}:\n  user \"mapop-fm\" there with password \"fetchpw\" is \"root\" here\n  options {} sslproto \"\" mda \"/bin/sh -c 'cat >> {}'\"\n",
                d.port,
                if keep { "keep" } else { "no keep" },
                out.display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&rc, std::fs::Permissions::from_mode(0o600)).unwrap();
        run(
            Command::new("fetchmail")
                .arg("-f")
                .arg(&rc)
                .arg("--idfile")
                .arg(work.path().join("fetchids"))
                .arg("--pidfile")
                .arg(work.path().join("pid"))
                .args(["-v", "--nosyslog"])
                .env("HOME", work.path()),
            Duration::from_secs(120),
        )
    };
    let count = |s: &str, what: &str| s.matches(what).count();
    // --keep: both fetched, both left on the server.
    let (ok, o, e) = fetch(true);
    assert!(ok, "{o}\n{e}\n{}", d.log());
    let mbox = std::fs::read_to_string(&out).unwrap();
    assert_eq!(count(&mbox, "Subject: fetched-one"), 1, "{mbox}");
    assert_eq!(count(&mbox, "Subject: fetched-two"), 1, "{mbox}");
    assert!(mbox.contains("\n.body two\n"), "stuffing undone: {mbox}");
    assert_eq!(
        std::fs::read_dir(home.join("Maildir/cur")).unwrap().count(),
        2
    );
    // Again with keep: UIDL tells fetchmail nothing is new.
    let (_, o, e) = fetch(true);
    let mbox = std::fs::read_to_string(&out).unwrap();
    assert_eq!(count(&mbox, "Subject: fetched-one"), 1, "{o}\n{e}\n{mbox}");
    // Without keep, and with its UIDL history gone: both fetched again
    // and deleted on the server.
    std::fs::remove_file(work.path().join("fetchids")).unwrap();
    let (ok, o, e) = fetch(false);
    assert!(ok, "{o}\n{e}\n{}", d.log());
    let mbox = std::fs::read_to_string(&out).unwrap();
    assert_eq!(count(&mbox, "Subject: fetched-one"), 2, "{o}\n{e}\n{mbox}");
    assert_eq!(count(&mbox, "Subject: fetched-two"), 2, "{o}\n{e}\n{mbox}");
    let left: usize = ["cur", "new"]
        .iter()
        .map(|s| {
            std::fs::read_dir(home.join("Maildir").join(s))
                .unwrap()
                .count()
        })
        .sum();
    assert_eq!(left, 0, "deleted on the server");
}

#[test]
fn second_session_gets_in_use_at_pass_and_bad_logins_get_auth() {
    user("mapop-inuse", "inusepw", &[b"Subject: x\n\nx\n"]);
    let d = Pop3d::start(&[]);
    let mut a = Client::connect(d.port);
    assert!(a.line().starts_with("+OK mailaccess POP3 ready."));
    assert_eq!(a.cmd("USER mapop-inuse"), "+OK Send your password.\r\n");
    assert_eq!(a.cmd("PASS inusepw"), "+OK Logged in, 1 messages.\r\n");
    assert!(a.cmd("STAT").starts_with("+OK 1 "));

    let mut b = Client::connect(d.port);
    b.line();
    assert_eq!(b.cmd("USER mapop-inuse"), "+OK Send your password.\r\n");
    assert_eq!(
        b.cmd("PASS wrong"),
        "-ERR [AUTH] Authentication failed.\r\n"
    );
    assert_eq!(b.cmd("USER mapop-inuse"), "+OK Send your password.\r\n");
    assert_eq!(
        b.cmd("PASS inusepw"),
        "-ERR [IN-USE] The maildrop is in use by another POP3 session.\r\n"
    );
    assert_eq!(b.line(), "", "closed after [IN-USE]");

    // A pipelined login and commands: the parent answers PASS first.
    assert_eq!(a.cmd("QUIT"), "+OK Logging out.\r\n");
    let mut c = Client::connect(d.port);
    c.line();
    c.w.write_all(b"USER mapop-inuse\r\nPASS inusepw\r\nSTAT\r\nQUIT\r\n")
        .unwrap();
    assert_eq!(c.line(), "+OK Send your password.\r\n");
    assert_eq!(c.line(), "+OK Logged in, 1 messages.\r\n");
    assert!(c.line().starts_with("+OK 1 "));
    assert_eq!(c.line(), "+OK Logging out.\r\n");

    // AUTH PLAIN with an initial response, and the bare AUTH listing.
    let mut e = Client::connect(d.port);
    e.line();
    assert_eq!(e.cmd("AUTH"), "+OK\r\n");
    assert_eq!(e.line(), "PLAIN\r\n");
    assert_eq!(e.line(), "LOGIN\r\n");
    assert_eq!(e.line(), ".\r\n");
    let ir = mailaccess::auth::sasl::base64_encode(b"\0mapop-inuse\0inusepw");
    assert_eq!(
        e.cmd(&format!("AUTH PLAIN {ir}")),
        "+OK Logged in, 1 messages.\r\n"
    );
    assert_eq!(e.cmd("QUIT"), "+OK Logging out.\r\n");
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    use hmac::Mac;
    let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    m.update(data);
    m.finalize().into_bytes().into()
}

#[test]
fn sasl_mechanisms_of_a_plaintext_store_cram_md5_scram_login() {
    use mailaccess::auth::sasl::base64_encode;
    use mailaccess::imap::parse::base64_decode;
    user("mapop-sasl", "unused-pam-password", &[b"Subject: s\n\nx\n"]);
    let pw = "sasl pass";
    let d = Pop3d::start(&[("mapop-sasl", pw)]);

    // CRAM-MD5 through curl (RFC 2195).
    let url = format!("pop3://mapop-sasl:sasl%20pass@127.0.0.1:{}/", d.port);
    let (ok, out, err) = run(
        Command::new("curl").args([
            "-sS",
            "--max-time",
            "30",
            "--login-options",
            "AUTH=CRAM-MD5",
            &url,
        ]),
        Duration::from_secs(60),
    );
    assert!(ok, "{err}\n{}", d.log());
    assert_eq!(out, "1 17\r\n");

    // SCRAM-SHA-256 (RFC 5802, RFC 5034): server-final comes as a
    // challenge, answered with an empty line.
    let mut c = Client::connect(d.port);
    let greeting = c.line();
    assert!(greeting.contains('<'), "APOP timestamp: {greeting}");
    let capa = {
        let mut v = vec![c.cmd("CAPA")];
        while v.last().unwrap() != ".\r\n" {
            v.push(c.line());
        }
        v
    };
    assert!(
        capa.contains(&"SASL PLAIN LOGIN CRAM-MD5 SCRAM-SHA-1 SCRAM-SHA-256\r\n".to_string()),
        "{capa:?}"
    );
    let bare = "n=mapop-sasl,r=clientnonce123";
    let first = c.cmd(&format!(
        "AUTH SCRAM-SHA-256 {}",
        base64_encode(format!("n,,{bare}").as_bytes())
    ));
    let server_first =
        base64_decode(first.trim_end().strip_prefix("+ ").unwrap().as_bytes()).unwrap();
    let server_first = String::from_utf8(server_first).unwrap();
    let mut nonce = "";
    let mut salt = Vec::new();
    let mut iterations = 0;
    for attr in server_first.split(',') {
        match attr.split_at(2) {
            ("r=", v) => nonce = v,
            ("s=", v) => salt = base64_decode(v.as_bytes()).unwrap(),
            ("i=", v) => iterations = v.parse().unwrap(),
            _ => {}
        }
    }
    assert!(nonce.starts_with("clientnonce123"));
    let mut salted = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(pw.as_bytes(), &salt, iterations, &mut salted);
    let client_key = hmac_sha256(&salted, b"Client Key");
    use sha2::Digest;
    let stored_key: [u8; 32] = sha2::Sha256::digest(client_key).into();
    let without_proof = format!("c=biws,r={nonce}");
    let auth_message = format!("{bare},{server_first},{without_proof}");
    let signature = hmac_sha256(&stored_key, auth_message.as_bytes());
    let proof: Vec<u8> = client_key
        .iter()
        .zip(signature)
        .map(|(a, b)| a ^ b)
        .collect();
    let last = c.cmd(&base64_encode(
        format!("{without_proof},p={}", base64_encode(&proof)).as_bytes(),
    ));
    let server_key = hmac_sha256(&salted, b"Server Key");
    let want = format!(
        "v={}",
        base64_encode(&hmac_sha256(&server_key, auth_message.as_bytes()))
    );
    assert_eq!(last, format!("+ {}\r\n", base64_encode(want.as_bytes())));
    assert_eq!(c.cmd(""), "+OK Logged in, 1 messages.\r\n");
    assert_eq!(c.cmd("QUIT"), "+OK Logging out.\r\n");

    // LOGIN with its two challenges, and a `*` cancel.
    let mut c = Client::connect(d.port);
    c.line();
    assert_eq!(c.cmd("AUTH LOGIN"), "+ VXNlcm5hbWU6\r\n");
    assert_eq!(c.cmd("*"), "-ERR Authentication aborted by client.\r\n");
    assert_eq!(c.cmd("AUTH LOGIN"), "+ VXNlcm5hbWU6\r\n");
    assert_eq!(c.cmd(&base64_encode(b"mapop-sasl")), "+ UGFzc3dvcmQ6\r\n");
    assert_eq!(
        c.cmd(&base64_encode(pw.as_bytes())),
        "+OK Logged in, 1 messages.\r\n"
    );
    assert_eq!(c.cmd("QUIT"), "+OK Logging out.\r\n");
}
