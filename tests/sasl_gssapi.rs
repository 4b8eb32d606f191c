//! GSSAPI (RFC 4752; POP3: RFC 5034) with MIT Kerberos: a KDC of a realm
//! made by the test (Debian's `krb5kdc`, its database made with
//! `kdb5_util` and `kadmin.local`) on 127.0.0.1, a keytab with the keys
//! of `imap/localhost` and `pop/localhost` that only root can read, a
//! user with a ticket from `kinit`, and curl (`--login-options
//! AUTH=GSSAPI`) and fetchmail (`--auth gssapi`) logging in to the built
//! imapd and pop3d under xinetd.
//! Refused: no ticket, and a principal that is no system user. Only the
//! privileged parent reads the keytab: no imapd process holds it open.
//! Needs root, krb5-kdc, krb5-admin-server, krb5-user, xinetd, curl and
//! fetchmail (`make test` installs them).

mod deploy_common;

use std::path::PathBuf;
use std::process::Command;

use deploy_common::*;

const REALM: &str = "MAILACCESS.TEST";
const USER_PASSWORD: &str = "kerberos-pw-7";

/// A realm of its own: its configuration, database and KDC, stopped (and
/// the directory removed) when dropped.
struct Realm {
    /// Started once the database is made.
    kdc: Option<Daemon>,
    dir: tempfile::TempDir,
}

impl Realm {
    fn conf(&self) -> PathBuf {
        self.dir.path().join("krb5.conf")
    }

    fn keytab(&self) -> PathBuf {
        self.dir.path().join("mail.keytab")
    }

    /// A command with this realm's configuration (and credential cache).
    fn cmd(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("KRB5_CONFIG", self.conf())
            .env("KRB5_KDC_PROFILE", self.dir.path().join("kdc.conf"))
            .env("KRB5CCNAME", format!("FILE:{}", self.cache().display()));
        c
    }

    fn cache(&self) -> PathBuf {
        self.dir.path().join("ccache")
    }

    fn admin(&self, query: &str) {
        let (ok, out, err) =
            run_limited(self.cmd("/usr/sbin/kadmin.local").args(["-q", query]), b"");
        assert!(
            ok && !err.contains("rror"),
            "kadmin.local {query}: {out}\n{err}"
        );
    }

    /// A ticket for `principal` in the cache (kinit reads the password
    /// from its standard input).
    fn kinit(&self, principal: &str, password: &str) {
        let (ok, out, err) = run_limited(
            self.cmd("/usr/bin/kinit").arg(principal),
            format!("{password}\n").as_bytes(),
        );
        assert!(ok, "kinit {principal}: {out}\n{err}");
    }

    fn new() -> Realm {
        for tool in [
            "/usr/sbin/krb5kdc",
            "/usr/sbin/kdb5_util",
            "/usr/sbin/kadmin.local",
            "/usr/bin/kinit",
            "/usr/bin/curl",
            "/usr/bin/fetchmail",
        ] {
            require_tool(tool);
        }
        let dir = tempfile::Builder::new()
            .prefix("mailaccess-krb5")
            .tempdir()
            .unwrap();
        let d = dir.path().display();
        let port = free_port();
        std::fs::write(
            dir.path().join("krb5.conf"),
            format!(
                "[libdefaults]\n default_realm = {REALM}\n dns_lookup_kdc = false\n\
                 dns_lookup_realm = false\n rdns = false\n dns_canonicalize_hostname = false\n\
                 [realms]\n {REALM} = {{\n  kdc = 127.0.0.1:{port}\n }}\n"
            ),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("kdc.conf"),
            format!(
                "[kdcdefaults]\n kdc_ports = {port}\n kdc_tcp_ports = {port}\n\
                 [realms]\n {REALM} = {{\n  database_name = {d}/principal\n\
                 key_stash_file = {d}/stash\n  acl_file = {d}/kadm5.acl\n }}\n\
                 [logging]\n kdc = FILE:{d}/kdc.log\n"
            ),
        )
        .unwrap();
        let mut realm = Realm { kdc: None, dir };
        let (ok, out, err) = run_limited(
            realm.cmd("/usr/sbin/kdb5_util").args([
                "create",
                "-s",
                "-r",
                REALM,
                "-P",
                "master-pw-of-the-test",
            ]),
            b"",
        );
        assert!(ok, "kdb5_util: {out}\n{err}");
        realm.admin(&format!("addprinc -pw {USER_PASSWORD} {USER}"));
        realm.admin("addprinc -pw stranger-pw nosuchuser");
        realm.admin("addprinc -randkey imap/localhost");
        realm.admin("addprinc -randkey pop/localhost");
        realm.admin(&format!(
            "ktadd -k {} imap/localhost pop/localhost",
            realm.keytab().display()
        ));
        sh(&format!("chmod 600 {}", realm.keytab().display()));
        let mut kdc = realm.cmd("/usr/sbin/krb5kdc");
        kdc.arg("-n");
        let kdc = Daemon::spawn(kdc, tempfile::tempdir().unwrap());
        daemon_listening(port, realm.kdc.insert(kdc));
        realm
    }
}

/// An xinetd service of the repository's file, with the realm's
/// configuration in the server's environment.
fn service(file: &str, port: u16, server: &str, args: &str, realm: &Realm) -> String {
    let mut s = xinetd_service(file, port, server, args);
    let at = s.rfind('}').unwrap();
    s.insert_str(
        at,
        &format!("\tenv = KRB5_CONFIG={}\n", realm.conf().display()),
    );
    s
}

/// curl with the cache's ticket, GSSAPI only (curl 7.88 takes GSSAPI
/// only for a user name with a realm).
fn curl(realm: &Realm, url: &str) -> (bool, String) {
    let mut cmd = realm.cmd("/usr/bin/curl");
    cmd.args(["-s", "-S", "--max-time", "20"])
        .args(["--login-options", "AUTH=GSSAPI"])
        .args(["-u", &format!("{USER}@{REALM}:")])
        .arg(url);
    let (ok, out, err) = run_limited(&mut cmd, b"");
    (ok, format!("{out}\n{err}"))
}

/// fetchmail (`auth gssapi`) checking the mailbox with the cache's
/// ticket: what it says.
fn fetchmail(realm: &Realm, protocol: &str, port: u16) -> String {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = realm.cmd("/usr/bin/fetchmail");
    cmd.env("HOME", home.path())
        .env("FETCHMAILHOME", home.path())
        .args(["--check", "-v", "--sslproto", "", "--auth", "gssapi"])
        .args(["-p", protocol, "-P", &port.to_string(), "-u", USER])
        .arg("localhost");
    let (_, out, err) = run_limited(&mut cmd, b"");
    format!("{out}\n{err}")
}

/// `imapd --check` with the realm's configuration.
fn check(realm: &Realm, hostname: &str) -> (Option<i32>, String) {
    check_report(
        realm
            .cmd(IMAPD)
            .args(["-c", "/dev/null", "-o"])
            .arg(format!("gssapi_keytab={}", realm.keytab().display()))
            .args(["-o", &format!("gssapi_hostname={hostname}")]),
    )
}

#[test]
fn kerberos_tickets_log_in_to_imap_and_pop3() {
    pam_user();
    let realm = Realm::new();
    let log = Log::new();
    let args = format!(
        "{} -o gssapi_keytab={} -o gssapi_hostname=localhost",
        base_args(PAM_IMAP, &log).join(" "),
        realm.keytab().display()
    );
    let pop_args = args.replace(PAM_IMAP, PAM_POP3);
    let (imap, pop3) = (free_port(), free_port());
    let xinetd = xinetd(&[
        service("xinetd.d/imap", imap, IMAPD, &args, &realm),
        service("xinetd.d/pop3", pop3, POP3D, &pop_args, &realm),
    ]);
    wait_started(&xinetd);
    let imap_url = format!("imap://localhost:{imap}/INBOX;MAILINDEX=1");
    let pop3_url = format!("pop3://localhost:{pop3}/1");

    // --check finds the principal's key, and says when it is not there.
    let (_, text) = check(&realm, "localhost");
    assert!(
        text.contains("GSSAPI: keytab") && !text.contains("problem: gssapi"),
        "{text}"
    );
    let (code, text) = check(&realm, "elsewhere.example.org");
    assert!(
        code == Some(1)
            && text.contains("problem: gssapi_keytab")
            && text.contains("imap/elsewhere"),
        "{text}"
    );

    // GSSAPI is offered.
    let mut c = Client::new(connect(imap));
    assert!(c.line().starts_with("* OK"));
    let caps = c.command("a", "CAPABILITY");
    assert!(caps[0].contains("AUTH=GSSAPI"), "{caps:?}");
    c.command("z", "LOGOUT");

    // No ticket: refused (curl finds no credentials to start with).
    let (ok, out) = curl(&realm, &imap_url);
    assert!(!ok, "logged in without a ticket: {out}");

    realm.kinit(USER, USER_PASSWORD);
    let (ok, out) = curl(&realm, &imap_url);
    assert!(
        ok && out.contains("Subject: deploy test"),
        "IMAP: {out}\n{}",
        log.text()
    );
    let (ok, out) = curl(&realm, &pop3_url);
    assert!(ok && out.contains("Subject: deploy test"), "POP3: {out}");
    // fetchmail, both protocols (no TLS here: --sslproto '').
    for (protocol, port) in [("IMAP", imap), ("POP3", pop3)] {
        let out = fetchmail(&realm, protocol, port);
        assert!(
            out.contains("1 message") && out.contains(&format!("for {USER} at localhost")),
            "fetchmail {protocol}: {out}"
        );
    }
    let t = log.wait_for("method=GSSAPI backend=Kerberos");
    assert!(
        t.contains(&format!("GSSAPI: {USER}@{REALM} is {USER}")),
        "{t}"
    );

    // While a session idles, no imapd process (the session was the
    // privileged parent) holds the keytab open.
    let mut idle = realm.cmd("/usr/bin/curl");
    idle.args(["-s", "--max-time", "4", "--login-options", "AUTH=GSSAPI"])
        .args(["-u", &format!("{USER}@{REALM}:"), "-X", "IDLE"])
        .arg(format!("imap://localhost:{imap}/INBOX"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut idle = idle.spawn().unwrap();
    log.wait_for("method=GSSAPI backend=Kerberos");
    let end = std::time::Instant::now() + WAIT;
    while open_by_imapd().len() < 3 && std::time::Instant::now() < end {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let files = open_by_imapd();
    assert!(!files.is_empty(), "no imapd process found");
    let held: Vec<_> = files.iter().filter(|(_, f)| f == &realm.keytab()).collect();
    assert!(held.is_empty(), "the keytab is held open: {held:?}");
    let _ = idle.wait();

    // A principal of the realm that is no system user: refused, after
    // the same delay as any failure.
    realm.kinit("nosuchuser", "stranger-pw");
    let (ok, out) = curl(&realm, &imap_url);
    assert!(!ok, "nosuchuser logged in: {out}");
    let t = log.wait_for("no system account nosuchuser");
    assert!(t.contains("login failed: user= method=GSSAPI"), "{t}");
}
