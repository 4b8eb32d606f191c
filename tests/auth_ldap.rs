//! The native LDAP backend (`auth = ldap`) against a real directory:
//! Debian's `slapd` on 127.0.0.1 with a configuration and entries made by
//! the test (`slapadd`), plain LDAP, StartTLS and `ldaps://` with the
//! test CA, and its Unix socket (`ldapi://`). imapd and pop3d run under xinetd; curl and Python's imaplib
//! log in.
//!
//! The search is made from the directory's root, past a referral object
//! (answered with a reference, as Active Directory's root is).
//! Virtual users with no system account: one with uid, gid and home in
//! its entry (posixAccount), one without them that runs as
//! `virtual_user` with its mail location in an attribute. Refused, with
//! the failure logged: a wrong password, an empty one (an unauthenticated
//! bind would succeed), an unknown user, a filter-injecting name, an
//! entry with uid 0. `--check` binds as the service account and reports
//! a wrong CA, a wrong service password and a server that is not there.
//! The service password file is open in no imapd process while a session
//! idles, and every failure takes the same auth_failure_delay.
//! Also system users from LDAP through NSS and PAM (nslcd).
//! Needs root, slapd, nslcd, libnss-ldapd, libpam-ldapd, xinetd, curl
//! and openssl (`make test` installs them).

mod deploy_common;

use std::path::{Path, PathBuf};
use std::process::Command;

use deploy_common::*;

const BASE: &str = "dc=mailaccess,dc=test";
const VERA_PW: &str = "vera-Pw-1";
const WALT_PW: &str = "walt-Pw-2";
const SERVICE_PW: &str = "reader-Pw-3";
/// Vera's uid and gid: in her entry, in no /etc/passwd.
const VERA_UID: u32 = 47001;
/// Lena: a system user from LDAP through NSS and PAM (nslcd).
const LENA_UID: u32 = 47010;
const LENA_PW: &str = "lena-Pw-4";

/// A directory of its own: slapd's configuration, database and TLS
/// files, and the users' mail; slapd stopped and everything removed when
/// dropped.
struct Directory {
    slapd: Option<Daemon>,
    dir: tempfile::TempDir,
    certs: Certs,
    ldap: u16,
    ldaps: u16,
}

impl Directory {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// slapd's Unix socket, as an `ldapi://` URI.
    fn ldapi(&self) -> String {
        let path = self.path("ldapi").display().to_string();
        format!("ldapi://{}", path.replace('/', "%2F"))
    }

    fn new() -> Directory {
        for tool in [
            "/usr/sbin/slapd",
            "/usr/sbin/slapadd",
            "/usr/bin/curl",
            "/usr/sbin/xinetd",
        ] {
            require_tool(tool);
        }
        let dir = tempfile::Builder::new()
            .prefix("mailaccess-ldap")
            .tempdir()
            .unwrap();
        // The users' homes are below: they must be able to get there.
        sh(&format!("chmod 755 {}", dir.path().display()));
        let d = dir.path().display().to_string();
        let certs = Certs::new();
        sh(&format!("chmod 755 {}", certs.dir.path().display()));
        std::fs::create_dir(dir.path().join("db")).unwrap();
        std::fs::write(
            dir.path().join("slapd.conf"),
            format!(
                "include /etc/ldap/schema/core.schema\n\
                 include /etc/ldap/schema/cosine.schema\n\
                 include /etc/ldap/schema/inetorgperson.schema\n\
                 include /etc/ldap/schema/nis.schema\n\
                 pidfile {d}/slapd.pid\n\
                 modulepath /usr/lib/ldap\n\
                 moduleload back_mdb\n\
                 TLSCACertificateFile {ca}\n\
                 TLSCertificateFile {cert}\n\
                 TLSCertificateKeyFile {key}\n\
                 database mdb\n\
                 maxsize 10485760\n\
                 suffix \"{BASE}\"\n\
                 rootdn \"cn=admin,{BASE}\"\n\
                 rootpw admin-of-the-test\n\
                 directory {d}/db\n",
                ca = certs.path("ca.pem"),
                cert = certs.path("rsa.pem"),
                key = certs.path("rsa.key"),
            ),
        )
        .unwrap();
        let home = |u: &str| format!("{d}/home/{u}");
        let ldif = format!(
            "dn: {BASE}\nobjectClass: dcObject\nobjectClass: organization\no: test\ndc: mailaccess\n\n\
             dn: ou=people,{BASE}\nobjectClass: organizationalUnit\nou: people\n\n\
             dn: ou=elsewhere,{BASE}\nobjectClass: referral\nobjectClass: extensibleObject\n\
             ou: elsewhere\nref: ldap://ldap.elsewhere.example/ou=elsewhere,{BASE}\n\n\
             dn: cn=reader,{BASE}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\n\
             cn: reader\nuserPassword: {SERVICE_PW}\n\n\
             dn: uid=vera,ou=people,{BASE}\nobjectClass: inetOrgPerson\nobjectClass: posixAccount\n\
             uid: vera\ncn: Vera\nsn: V\nuidNumber: {VERA_UID}\ngidNumber: {VERA_UID}\n\
             homeDirectory: {vera}\nuserPassword: {VERA_PW}\n\n\
             dn: uid=walt,ou=people,{BASE}\nobjectClass: inetOrgPerson\n\
             uid: walt\ncn: Walt\nsn: W\ndescription: maildir:{walt}/Maildir\nuserPassword: {WALT_PW}\n\n\
             dn: uid=rooty,ou=people,{BASE}\nobjectClass: inetOrgPerson\nobjectClass: posixAccount\n\
             uid: rooty\ncn: Rooty\nsn: R\nuidNumber: 0\ngidNumber: 0\n\
             homeDirectory: /root\nuserPassword: rooty-Pw\n\n\
             dn: uid=lena,ou=people,{BASE}\nobjectClass: inetOrgPerson\nobjectClass: posixAccount\n\
             uid: lena\ncn: Lena\nsn: L\nuidNumber: {LENA_UID}\ngidNumber: {LENA_UID}\n\
             homeDirectory: {lena}\nloginShell: /usr/sbin/nologin\nuserPassword: {LENA_PW}\n\n",
            lena = home("lena"),
            vera = home("vera"),
            walt = home("walt"),
        );
        std::fs::write(dir.path().join("data.ldif"), ldif).unwrap();
        let (ok, out, err) = run_limited(
            Command::new("/usr/sbin/slapadd").args([
                "-f",
                &format!("{d}/slapd.conf"),
                "-l",
                &format!("{d}/data.ldif"),
            ]),
            b"",
        );
        assert!(ok, "slapadd: {out}\n{err}");
        // The mail: one message each, owned by who reads it.
        pam_user();
        for (user, owner, subject) in [
            ("vera", VERA_UID.to_string(), "for vera"),
            ("walt", USER.to_string(), "for walt"),
            ("lena", LENA_UID.to_string(), "for lena"),
        ] {
            let md = PathBuf::from(home(user)).join("Maildir");
            for sub in ["cur", "new", "tmp"] {
                std::fs::create_dir_all(md.join(sub)).unwrap();
            }
            std::fs::write(
                md.join("cur/1700000000.ldap1.test:2,S"),
                format!("From: a@example.org\r\nSubject: {subject}\r\n\r\nHello {user}.\r\n"),
            )
            .unwrap();
            sh(&format!("chown -R {owner}:{owner} {}", home(user)));
        }
        std::fs::write(dir.path().join("service.pw"), format!("{SERVICE_PW}\n")).unwrap();
        sh(&format!("chmod 600 {d}/service.pw"));
        let (ldap, ldaps) = (free_port(), free_port());
        let mut slapd = Command::new("/usr/sbin/slapd");
        slapd.args(["-f", &format!("{d}/slapd.conf"), "-d", "0", "-h"]);
        let ldapi = dir
            .path()
            .join("ldapi")
            .display()
            .to_string()
            .replace('/', "%2F");
        slapd.arg(format!(
            "ldap://127.0.0.1:{ldap}/ ldaps://127.0.0.1:{ldaps}/ ldapi://{ldapi}"
        ));
        let slapd = Daemon::spawn(slapd, tempfile::tempdir().unwrap());
        let mut directory = Directory {
            slapd: None,
            dir,
            certs,
            ldap,
            ldaps,
        };
        daemon_listening(ldap, directory.slapd.insert(slapd));
        wait_listening(ldaps);
        directory
    }

    /// A configuration file for `auth = ldap`, with `extra` lines.
    fn config(&self, name: &str, extra: &str) -> PathBuf {
        let file = self.path(name);
        std::fs::write(
            &file,
            format!(
                "auth = ldap\n\
                 ldap_uri = ldap://127.0.0.1:{}/\n\
                 ldap_base = {BASE}\n\
                 ldap_user_filter = (&(objectClass=inetOrgPerson)(uid=%u))\n\
                 ldap_bind_dn = cn=reader,{BASE}\n\
                 ldap_bind_password_file = {}\n\
                 ldap_ca_file = {}\n\
                 ldap_mail_location_attribute = description\n\
                 ldap_timeout = 3s\n\
                 virtual_user = {USER}\n\
                 auth_failure_delay = 100ms\n\
                 {extra}\n",
                self.ldap,
                self.path("service.pw").display(),
                self.certs.path("ca.pem"),
            ),
        )
        .unwrap();
        file
    }
}

impl Drop for Directory {
    fn drop(&mut self) {
        self.slapd.take();
    }
}

/// `-c FILE` and the log.
fn args(config: &Path, log: &Log) -> String {
    format!(
        "-c {} -o log_path={}",
        config.display(),
        log.path().display()
    )
}

/// curl logging in as `user`: whether it did, and what it said.
fn curl(url: &str, user: &str, password: &str) -> (bool, String) {
    let mut cmd = Command::new("/usr/bin/curl");
    cmd.args(["-s", "-S", "--max-time", "20", "-u"])
        .arg(format!("{user}:{password}"))
        .arg(url);
    let (ok, out, err) = run_limited(&mut cmd, b"");
    (ok, format!("{out}\n{err}"))
}

/// curl fetching message 1 at `url` as `user`: it must log in and get
/// the user's own message (`Subject: for USER`, the name in lower case).
fn fetches_own_mail(url: &str, user: &str, password: &str, log: &Log) {
    let (ok, out) = curl(url, user, password);
    let subject = format!("Subject: for {}", user.to_lowercase());
    assert!(
        ok && out.contains(&subject),
        "{url} as {user}: {out}\n{}",
        log.text()
    );
}

/// `imapd --check` with `config`: its exit code and report.
fn check(config: &Path) -> (Option<i32>, String) {
    check_report(Command::new(IMAPD).arg("-c").arg(config))
}

#[test]
fn directory_users_log_in_to_imap_and_pop3() {
    let dir = Directory::new();
    let log = Log::new();
    let conf = dir.config("search.conf", "");
    // Mail by name (%u), for the name's case below; and a replica that
    // is down, named first.
    let down = free_port();
    let by_name = dir.config(
        "by-name.conf",
        &format!(
            "ldap_mail_location_attribute =\nmail_location = maildir:{}/%u/Maildir\n\
             ldap_uri = ldap://127.0.0.1:{down}/ ldap://127.0.0.1:{}/\n",
            dir.path("home").display(),
            dir.ldap
        ),
    );
    // --check reports each server.
    let (code, text) = check(&by_name);
    assert!(
        code == Some(1)
            && text.contains(&format!("problem: ldap_uri ldap://127.0.0.1:{down}/"))
            && text.contains(&format!("ldap: ldap://127.0.0.1:{}/, bound as", dir.ldap)),
        "{text}"
    );
    let (imap, pop3, imap_by_name) = (free_port(), free_port(), free_port());
    let xinetd = xinetd(&[
        xinetd_service("xinetd.d/imap", imap, IMAPD, &args(&conf, &log)),
        xinetd_service("xinetd.d/pop3", pop3, POP3D, &args(&conf, &log)),
        xinetd_service("xinetd.d/imap", imap_by_name, IMAPD, &args(&by_name, &log)),
    ]);
    wait_started(&xinetd);
    let imap_url = format!("imap://127.0.0.1:{imap}/INBOX;MAILINDEX=1");

    // LDAP finds `WALT` as walt (uid matches without regard to case):
    // %u is the entry's own uid, so it is walt's mail, not a new one.
    // The server down is passed over.
    fetches_own_mail(
        &format!("imap://127.0.0.1:{imap_by_name}/INBOX;MAILINDEX=1"),
        "WALT",
        WALT_PW,
        &log,
    );
    assert!(!dir.path("home/WALT").exists());

    // Vera: uid, gid and home from her entry.
    fetches_own_mail(&imap_url, "vera", VERA_PW, &log);
    fetches_own_mail(&format!("pop3://127.0.0.1:{pop3}/1"), "vera", VERA_PW, &log);
    log.wait_for("backend=Ldap");

    // Walt: no posixAccount; runs as virtual_user, his mail where his
    // entry's description says. Python's imaplib, LOGIN.
    let (ok, out, err) = python(&format!(
        "import imaplib\n\
         c = imaplib.IMAP4('127.0.0.1', {imap})\n\
         c.login('walt', '{WALT_PW}')\n\
         c.select('INBOX')\n\
         print(c.fetch('1', '(BODY.PEEK[HEADER.FIELDS (SUBJECT)])')[1][0][1].decode())\n\
         c.logout()\n"
    ));
    assert!(
        ok && out.contains("Subject: for walt"),
        "{out}\n{err}\n{}",
        log.text()
    );

    // While a session idles, no imapd process holds the service password
    // file open (only the parent reads it, while it binds).
    let mut idle = Command::new("/usr/bin/curl");
    idle.args(["-s", "--max-time", "4", "-u", &format!("vera:{VERA_PW}")])
        .args(["-X", "IDLE", &format!("imap://127.0.0.1:{imap}/INBOX")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut idle = idle.spawn().unwrap();
    let end = std::time::Instant::now() + WAIT;
    while open_by_imapd().len() < 3 && std::time::Instant::now() < end {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let files = open_by_imapd();
    assert!(!files.is_empty(), "no imapd process found");
    let held: Vec<_> = files
        .iter()
        .filter(|(_, f)| f == &dir.path("service.pw"))
        .collect();
    assert!(
        held.is_empty(),
        "the service password is held open: {held:?}"
    );
    let _ = idle.wait();

    // Refused, each logged as a failure.
    for (user, password, why) in [
        ("vera", "wrong-pw", "a wrong password"),
        ("nobody-here", VERA_PW, "an unknown user"),
        ("*", VERA_PW, "a filter-widening name"),
        ("vera)(uid=*", VERA_PW, "a filter-injecting name"),
        ("rooty", "rooty-Pw", "uid 0"),
    ] {
        let (ok, out) = curl(&imap_url, user, password);
        assert!(!ok, "{why}: logged in: {out}");
        log.wait_for(&format!("login failed: user={user} "));
    }
    assert!(log.text().contains("uid=rooty,ou=people"), "{}", log.text());
    // An empty password: imaplib sends LOGIN vera "".
    let (ok, out, err) = python(&format!(
        "import imaplib\n\
         c = imaplib.IMAP4('127.0.0.1', {imap})\n\
         try:\n    c.login('vera', '')\n    print('IN')\n\
         except imaplib.IMAP4.error as e:\n    print('NO', e)\n"
    ));
    assert!(ok && out.starts_with("NO"), "{out}\n{err}");
    log.wait_for("login failed: user=vera method=plaintext");
}

#[test]
fn dn_templates_and_tls() {
    let dir = Directory::new();
    let log = Log::new();
    // ldaps://, no search: the DN is made from the name.
    let conf = dir.config(
        "template.conf",
        &format!(
            "ldap_uri = ldaps://localhost:{}/\n\
             ldap_dn_template = uid=%u,ou=people,{BASE}\n",
            dir.ldaps
        ),
    );
    // StartTLS on ldap://, with the search.
    let starttls = dir.config("starttls.conf", "ldap_starttls = yes\n");
    // A filter without the name matches everyone: refused, and said.
    let broad = dir.config(
        "broad.conf",
        "ldap_user_filter = (objectClass=inetOrgPerson)\n",
    );
    let (imap, imap_starttls, imap_broad) = (free_port(), free_port(), free_port());
    let xinetd = xinetd(&[
        xinetd_service("xinetd.d/imap", imap, IMAPD, &args(&conf, &log)),
        xinetd_service(
            "xinetd.d/imap",
            imap_starttls,
            IMAPD,
            &args(&starttls, &log),
        ),
        xinetd_service("xinetd.d/imap", imap_broad, IMAPD, &args(&broad, &log)),
    ]);
    wait_started(&xinetd);
    let url = format!("imap://127.0.0.1:{imap}/INBOX;MAILINDEX=1");
    fetches_own_mail(&url, "vera", VERA_PW, &log);
    fetches_own_mail(
        &format!("imap://127.0.0.1:{imap_starttls}/INBOX;MAILINDEX=1"),
        "vera",
        VERA_PW,
        &log,
    );
    let (ok, out) = curl(
        &format!("imap://127.0.0.1:{imap_broad}/INBOX;MAILINDEX=1"),
        "vera",
        VERA_PW,
    );
    assert!(!ok, "{out}");
    log.wait_for("more than one entry matches (objectClass=inetOrgPerson)");
    let (ok, out) = curl(&url, "vera", "wrong-pw");
    assert!(!ok, "{out}");
    log.wait_for("login failed: user=vera ");

    // --check: the service bind over ldaps://, over StartTLS, and what
    // is wrong when it cannot be done.
    let (code, text) = check(&conf);
    assert!(
        text.contains(&format!(
            "ldap: ldaps://localhost:{}/, TLS, bound as cn=reader",
            dir.ldaps
        )),
        "{code:?} {text}"
    );
    let (_, text) = check(&starttls);
    assert!(text.contains("StartTLS, bound as cn=reader"), "{text}");
    assert!(!text.contains("problem: ldap"), "{text}");

    // A CA that did not sign slapd's certificate: no connection.
    let other = tempfile::tempdir().unwrap();
    sh(&format!(
        "cd {} && openssl req -x509 -newkey rsa:2048 -nodes -keyout k -out ca.pem -days 2 -subj /CN=other 2>/dev/null",
        other.path().display()
    ));
    let wrong_ca = dir.config(
        "wrong-ca.conf",
        &format!(
            "ldap_starttls = yes\nldap_ca_file = {}/ca.pem\n",
            other.path().display()
        ),
    );
    let (code, text) = check(&wrong_ca);
    assert!(
        code == Some(1) && text.contains("problem: ldap_uri"),
        "{text}"
    );
    assert!(!text.contains("readable by others"), "{text}");
    // A wrong service password, in a file others may read.
    std::fs::write(dir.path("bad.pw"), "not-it\n").unwrap();
    sh(&format!("chmod 644 {}", dir.path("bad.pw").display()));
    let bad = dir.config(
        "bad.conf",
        &format!(
            "ldap_bind_password_file = {}\n",
            dir.path("bad.pw").display()
        ),
    );
    let (code, text) = check(&bad);
    assert!(
        code == Some(1)
            && text.contains("service bind as cn=reader")
            && text.contains("mode 644, readable by others"),
        "{text}"
    );
    // Nothing listening: a problem, within the timeout.
    let gone = dir.config(
        "gone.conf",
        &format!("ldap_uri = ldap://127.0.0.1:{}/\n", free_port()),
    );
    let started = std::time::Instant::now();
    let (code, text) = check(&gone);
    assert!(
        code == Some(1) && text.contains("problem: ldap_uri"),
        "{text}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    // A server that takes the connection and never answers: given up
    // after ldap_timeout, not waited for.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mute = dir.config(
        "mute.conf",
        &format!(
            "ldap_uri = ldap://127.0.0.1:{}/\nldap_timeout = 1s\n",
            silent.local_addr().unwrap().port()
        ),
    );
    let started = std::time::Instant::now();
    let (code, text) = check(&mute);
    let took = started.elapsed();
    assert!(code == Some(1) && text.contains("problem: "), "{text}");
    assert!(
        took >= std::time::Duration::from_millis(900) && took < std::time::Duration::from_secs(5),
        "{took:?}: {text}"
    );
    drop(silent);
}

/// The system's NSS and nslcd configured for the directory, and nslcd
/// running; the files as they were and nslcd stopped when dropped.
struct Nslcd {
    saved: Vec<(&'static str, Option<Vec<u8>>)>,
    daemon: Option<Daemon>,
    /// The system's own nslcd was running (its package started it): it
    /// is stopped for the test and started again after.
    was_running: bool,
}

impl Nslcd {
    fn start(dir: &Directory) -> Nslcd {
        for tool in ["/usr/sbin/nslcd", "/usr/bin/getent"] {
            require_tool(tool);
        }
        let was_running = Command::new("/usr/sbin/nslcd")
            .arg("--check")
            .status()
            .is_ok_and(|s| s.success());
        if was_running {
            let _ = Command::new("pkill").args(["-x", "nslcd"]).status();
            let end = std::time::Instant::now() + WAIT;
            while Command::new("/usr/sbin/nslcd")
                .arg("--check")
                .status()
                .is_ok_and(|s| s.success())
            {
                assert!(std::time::Instant::now() < end, "nslcd did not stop");
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        }
        let mut guard = Nslcd {
            saved: Vec::new(),
            daemon: None,
            was_running,
        };
        for f in ["/etc/nslcd.conf", "/etc/nsswitch.conf"] {
            guard.saved.push((f, std::fs::read(f).ok()));
        }
        std::fs::write(
            "/etc/nslcd.conf",
            format!(
                "uid nslcd\ngid nslcd\nuri ldap://127.0.0.1:{}/\nbase {BASE}\n\
                 binddn cn=reader,{BASE}\nbindpw {SERVICE_PW}\nnss_min_uid 1000\n",
                dir.ldap
            ),
        )
        .unwrap();
        sh("chmod 640 /etc/nslcd.conf && chgrp nslcd /etc/nslcd.conf");
        let nsswitch = std::fs::read_to_string("/etc/nsswitch.conf").unwrap_or_default();
        let mut out = String::new();
        for l in nsswitch.lines() {
            match l.split(':').next() {
                Some("passwd" | "group" | "shadow") => out.push_str(&format!("{l} ldap\n")),
                _ => out.push_str(&format!("{l}\n")),
            }
        }
        std::fs::write("/etc/nsswitch.conf", out).unwrap();
        sh("mkdir -p /run/nslcd && chown nslcd:nslcd /run/nslcd");
        let mut cmd = Command::new("/usr/sbin/nslcd");
        cmd.arg("-d");
        guard.daemon = Some(Daemon::spawn(cmd, tempfile::tempdir().unwrap()));
        let end = std::time::Instant::now() + WAIT;
        while !Path::new("/run/nslcd/socket").exists() {
            assert!(std::time::Instant::now() < end, "nslcd did not start");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        guard
    }
}

impl Drop for Nslcd {
    fn drop(&mut self) {
        self.daemon.take();
        for (f, content) in &self.saved {
            match content {
                Some(c) => std::fs::write(f, c).unwrap(),
                None => {
                    let _ = std::fs::remove_file(f);
                }
            }
        }
        if self.was_running {
            let _ = Command::new("/usr/sbin/nslcd").status();
        }
    }
}

/// System users from LDAP, as Debian sets them up: libnss-ldapd and
/// libpam-ldapd through nslcd (pam-auth-update puts pam_ldap into
/// common-auth, which the shipped PAM services include); imapd and pop3d
/// with `auth = pam`, as installed.
#[test]
fn system_users_from_ldap_through_pam_and_nss() {
    for f in ["pam_ldap.so", "pam_unix.so"] {
        let common = std::fs::read_to_string("/etc/pam.d/common-auth").unwrap_or_default();
        assert!(
            common.contains(f),
            "/etc/pam.d/common-auth lacks {f}: install libpam-ldapd (make test does)"
        );
    }
    let dir = Directory::new();
    let _nslcd = Nslcd::start(&dir);
    let (ok, out, err) = run_limited(
        Command::new("/usr/bin/getent").args(["passwd", "lena"]),
        b"",
    );
    assert!(
        ok && out.starts_with("lena:") && out.contains(&format!(":{LENA_UID}:{LENA_UID}:Lena:")),
        "NSS: {out}\n{err}"
    );
    pam_user();
    let log = Log::new();
    let args = base_args(PAM_IMAP, &log).join(" ");
    let pop_args = args.replace(PAM_IMAP, PAM_POP3);
    let (imap, pop3) = (free_port(), free_port());
    let xinetd = xinetd(&[
        xinetd_service("xinetd.d/imap", imap, IMAPD, &args),
        xinetd_service("xinetd.d/pop3", pop3, POP3D, &pop_args),
    ]);
    wait_started(&xinetd);
    let imap_url = format!("imap://127.0.0.1:{imap}/INBOX;MAILINDEX=1");
    fetches_own_mail(&imap_url, "lena", LENA_PW, &log);
    fetches_own_mail(&format!("pop3://127.0.0.1:{pop3}/1"), "lena", LENA_PW, &log);
    log.wait_for("backend=Pam");
    // A wrong password and an LDAP user that is not posixAccount (no
    // system user): refused.
    let (ok, out) = curl(&imap_url, "lena", "wrong-pw");
    assert!(!ok, "{out}");
    log.wait_for("login failed: user=lena ");
    let (ok, out) = curl(&imap_url, "walt", WALT_PW);
    assert!(!ok, "{out}");
    log.wait_for("login failed: user=walt ");
    // The local user still logs in beside them.
    let (ok, out) = curl(&imap_url, USER, PASSWORD);
    assert!(ok && out.contains("Subject: deploy test"), "{out}");
}

/// An unknown user, a wrong password, and a right password whose entry
/// has no usable account (uid 0) are refused after the same
/// `auth_failure_delay` (300ms here), as with PAM and sasldb: interleaved
/// on one connection, each at least the delay, medians within 10%.
#[test]
fn ldap_failures_take_the_same_time() {
    use std::time::{Duration, Instant};
    let dir = Directory::new();
    let log = Log::new();
    // Over slapd's Unix socket (ldapi://), as on a host with its own slapd.
    let conf = dir.config(
        "timing.conf",
        &format!(
            "auth_failure_delay = 300ms\nauth_max_failures = 100\nldap_uri = {}\n",
            dir.ldapi()
        ),
    );
    let imap = free_port();
    let xinetd = xinetd(&[xinetd_service(
        "xinetd.d/imap",
        imap,
        IMAPD,
        &args(&conf, &log),
    )]);
    wait_started(&xinetd);
    let mut c = Client::new(connect(imap));
    assert!(c.line().starts_with("* OK"));
    let mut timed = |tag: &str, user: &str, password: &str| -> Duration {
        let t0 = Instant::now();
        let reply = c.command(tag, &format!("LOGIN {user} \"{password}\""));
        let took = t0.elapsed();
        let last = reply.last().unwrap();
        assert!(last.contains("NO [AUTHENTICATIONFAILED]"), "{reply:?}");
        took
    };
    let median = |mut v: Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let cases = [
        ("nobody-here", VERA_PW),
        ("vera", "wrong-pw"),
        ("rooty", "rooty-Pw"),
    ];
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); cases.len()];
    for round in 0..6 {
        for (i, (user, password)) in cases.iter().enumerate() {
            times[i].push(timed(&format!("t{round}{i}"), user, password));
        }
    }
    for t in times.iter().flatten() {
        assert!(
            *t >= Duration::from_millis(295),
            "refused after {t:?}: {times:?}"
        );
    }
    let medians: Vec<Duration> = times.iter().cloned().map(median).collect();
    let (lo, hi) = (medians.iter().min().unwrap(), medians.iter().max().unwrap());
    assert!(
        (*hi - *lo).as_secs_f64() / hi.as_secs_f64() < 0.10,
        "medians {medians:?} of {times:?}"
    );
    // And the right password logs in, over the socket.
    let reply = c.command("in", &format!("LOGIN vera \"{VERA_PW}\""));
    assert!(
        reply.last().unwrap().starts_with("in OK"),
        "{reply:?}\n{}",
        log.text()
    );
    c.command("out", "LOGOUT");
}
