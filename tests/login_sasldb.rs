//! sasldb logins over real TCP: `imapd --listen 127.0.0.1:PORT` started as
//! root, Python's imaplib as the client (tests/clients/login_sasl.py), a
//! sasldb file made by the real saslpasswd2. LOGIN, AUTHENTICATE PLAIN,
//! CRAM-MD5, SCRAM-SHA-1 and SCRAM-SHA-256 (scramp's client), users given as
//! `user@realm` and bare with `sasl_realm`, all running as `virtual_user`
//! with mail under `%d/%n`.

mod common;
mod login_support;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use login_support::*;

const REALM: &str = "example.org";
const OTHER_REALM: &str = "other.test";
const ALICE_PW: &str = "al1ce-sasl-Secret";
const BOB_PW: &str = "b0b-sasl-Secret";
const CAROL_PW: &str = "car0l-sasl-Secret";
const BAD_PW: &str = "n0t-the-Passw0rd";
const METHODS: [&str; 5] = ["LOGIN", "PLAIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256"];

fn case(user: &str, password: &str, method: &str, ok: bool, subject: Option<&str>) -> String {
    sasl_case(user, password, method, ok, subject)
}

/// The sasldb and the listener.
struct Sasl {
    setup: Setup,
    daemon: Daemon,
    port: u16,
}

fn start() -> Sasl {
    require_login_jail();
    let (vuid, _) =
        uid_of(common::TEST_USER).expect("test user mailtest: run scripts/test-deps.sh");
    assert!(vuid >= 1000);
    let setup = Setup::new();
    let db = setup.path().join("sasldb2");
    saslpasswd(&db, REALM, "alice", ALICE_PW);
    saslpasswd(&db, REALM, "bob", BOB_PW);
    saslpasswd(&db, OTHER_REALM, "carol", CAROL_PW);
    let (daemon, port) = listen_sasldb(&setup, &db, REALM, &[]);
    Sasl {
        setup,
        daemon,
        port,
    }
}

impl Sasl {
    fn stop(mut self) -> Setup {
        self.daemon.stop();
        let mut err = String::new();
        use std::io::Read;
        if let Some(mut e) = self.daemon.child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        assert!(err.is_empty(), "imapd --listen wrote to stderr: {err}");
        self.setup
    }
}

/// Every message file of a Maildir (new/ and cur/), checked to be owned
/// by the virtual user, with the subjects found.
fn messages(maildir: &Path) -> Vec<String> {
    let (uid, gid) = uid_of(common::TEST_USER).unwrap();
    let m = std::fs::metadata(maildir).unwrap_or_else(|e| panic!("{}: {e}", maildir.display()));
    assert_eq!(
        (m.uid(), m.gid()),
        (uid, gid),
        "{} owner",
        maildir.display()
    );
    let mut subjects = Vec::new();
    for sub in ["new", "cur"] {
        for e in std::fs::read_dir(maildir.join(sub)).unwrap().flatten() {
            let md = e.metadata().unwrap();
            assert_eq!(
                (md.uid(), md.gid()),
                (uid, gid),
                "{} is not owned by {}",
                e.path().display(),
                common::TEST_USER
            );
            let text = std::fs::read_to_string(e.path()).unwrap();
            let s = text
                .lines()
                .find_map(|l| l.strip_prefix("Subject: "))
                .unwrap_or("")
                .to_string();
            subjects.push(s);
        }
    }
    subjects.sort();
    subjects
}

fn maildir_of(setup: &Setup, domain: &str, local: &str) -> PathBuf {
    setup.mail().join(domain).join(local).join("Maildir")
}

#[test]
fn sasldb_every_mechanism_with_user_at_realm() {
    let sasl = start();
    let mut cases = Vec::new();
    for m in METHODS {
        let user = format!("alice@{REALM}");
        cases.push(case(
            &user,
            ALICE_PW,
            m,
            true,
            Some(&format!("alice by {m}")),
        ));
        cases.push(case(&user, BAD_PW, m, false, None));
        // The right password of another user is a wrong password.
        cases.push(case(&user, BOB_PW, m, false, None));
        cases.push(case(&format!("nobody@{REALM}"), ALICE_PW, m, false, None));
        cases.push(case(
            &format!("carol@{OTHER_REALM}"),
            CAROL_PW,
            m,
            true,
            None,
        ));
        // Right name, right password, wrong realm.
        cases.push(case(
            &format!("alice@{OTHER_REALM}"),
            ALICE_PW,
            m,
            false,
            None,
        ));
    }
    let out = python_client(sasl.port, &format!("[{}]", cases.join(",")));
    assert!(out.contains("login_sasl: all ok"), "{out}");
    let setup = sasl.stop();

    let subjects = messages(&maildir_of(&setup, REALM, "alice"));
    let want: Vec<String> = {
        let mut w: Vec<String> = METHODS.iter().map(|m| format!("alice by {m}")).collect();
        w.sort();
        w
    };
    assert_eq!(subjects, want);
    // carol's own Maildir, in her realm's directory; nothing anywhere else.
    assert!(maildir_of(&setup, OTHER_REALM, "carol")
        .join("cur")
        .is_dir());
    let mut top: Vec<String> = std::fs::read_dir(setup.mail())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    top.sort();
    assert_eq!(top, [REALM, OTHER_REALM]);

    let log = setup.log();
    for m in METHODS {
        assert!(
            log.contains(&format!(
                "user=alice@{REALM}: login: method={m} backend=Sasldb"
            )),
            "{m}: {log}"
        );
    }
    assert!(
        log.contains(&format!("login failed: user=nobody@{REALM}")),
        "{log}"
    );
    for secret in [ALICE_PW, BOB_PW, CAROL_PW, BAD_PW] {
        assert!(!log.contains(secret), "the log holds {secret:?}:\n{log}");
    }
    // The peer address on each line (from getpeername on the socket).
    assert!(log.contains("127.0.0.1:"), "{log}");
}

#[test]
fn sasldb_bare_user_takes_sasl_realm_for_every_mechanism() {
    let sasl = start();
    let mut cases = Vec::new();
    for m in METHODS {
        cases.push(case("bob", BOB_PW, m, true, Some(&format!("bob by {m}"))));
        cases.push(case("bob", ALICE_PW, m, false, None));
        // carol exists only in the other realm.
        cases.push(case("carol", CAROL_PW, m, false, None));
    }
    let out = python_client(sasl.port, &format!("[{}]", cases.join(",")));
    assert!(out.contains("login_sasl: all ok"), "{out}");
    let setup = sasl.stop();
    let log = setup.log();
    for m in METHODS {
        assert!(
            log.contains(&format!("login: method={m} backend=Sasldb")),
            "{m}: {log}"
        );
    }
    for secret in [ALICE_PW, BOB_PW, CAROL_PW] {
        assert!(!log.contains(secret), "the log holds {secret:?}:\n{log}");
    }
    // Every message bob appended is in one Maildir owned by the virtual
    // user: wherever it is, all four together.
    let mut found = Vec::new();
    let mut stack = vec![setup.mail()];
    while let Some(d) = stack.pop() {
        if d.file_name().is_some_and(|n| n == "Maildir") {
            found.push((d.clone(), messages(&d)));
            continue;
        }
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            }
        }
    }
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].1.len(), METHODS.len(), "{found:?}");
}

/// A sasldb user is one account whether the realm is typed or taken from
/// `sasl_realm`: `bob` and `bob@example.org` are the same login (the same
/// sasldb entry, the same password), so they must get the same mail, in
/// the `%d` = realm directory.
#[test]
fn sasldb_bare_and_qualified_names_are_the_same_mailbox() {
    let sasl = start();
    let cases = [
        case("bob", BOB_PW, "LOGIN", true, Some("typed bare")),
        case(
            &format!("bob@{REALM}"),
            BOB_PW,
            "LOGIN",
            true,
            Some("typed with realm"),
        ),
    ];
    let out = python_client(sasl.port, &format!("[{}]", cases.join(",")));
    assert!(out.contains("login_sasl: all ok"), "{out}");
    let setup = sasl.stop();
    let md = maildir_of(&setup, REALM, "bob");
    assert!(
        md.join("cur").is_dir(),
        "no Maildir at {}; mail dirs: {:?}",
        md.display(),
        std::fs::read_dir(setup.mail())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect::<Vec<_>>()
    );
    assert_eq!(messages(&md), ["typed bare", "typed with realm"]);
}

/// Without `virtual_user` a sasldb login runs as the system account named
/// like its local part: never root, never below first_valid_uid, and as
/// that account when it is a normal user. With `virtual_user = root`
/// nobody gets in.
#[test]
fn sasldb_users_never_run_as_root_or_system_accounts() {
    pam_users();
    let s = Setup::new();
    let db = s.path().join("sasldb2");
    for u in ["root", "mailaccess", "daemon", ALICE] {
        saslpasswd(&db, REALM, u, ALICE_PW);
    }
    s.maildir(&format!("{ALICE}@{REALM}"), ALICE);
    let sasl_opts = |virtual_user: &str| -> Vec<String> {
        vec![
            "auth=sasldb".into(),
            format!("sasldb_path={}", db.display()),
            format!("sasl_realm={REALM}"),
            format!("virtual_user={virtual_user}"),
            "auth_max_failures=10".into(),
        ]
    };
    let opts = sasl_opts("");
    let opts: Vec<&str> = opts.iter().map(|s| s.as_str()).collect();
    let mut srv = common::Server::start(s.imapd_loopback(&opts));
    greeting(&mut srv);
    for (tag, u) in [("a", "root"), ("b", "mailaccess"), ("c", "daemon")] {
        let r = srv.command(tag, &format!("LOGIN {u}@{REALM} {ALICE_PW}"));
        assert_eq!(
            r,
            vec![format!(
                "{tag} NO [AUTHENTICATIONFAILED] Authentication failed.\r\n"
            )],
            "{u}"
        );
    }
    let r = srv.command("d", &format!("LOGIN {ALICE}@{REALM} {ALICE_PW}"));
    assert!(r[0].starts_with("d OK [CAPABILITY "), "{r:?}");
    let (uid, gid) = uid_of(ALICE).unwrap();
    let ids = ids(srv.child.id());
    assert_eq!((ids.uid, ids.gid), (vec![uid; 4], vec![gid; 4]));
    logout(&mut srv);

    let opts = sasl_opts("root");
    let opts: Vec<&str> = opts.iter().map(|s| s.as_str()).collect();
    let mut srv = common::Server::start(s.imapd_loopback(&opts));
    greeting(&mut srv);
    let r = srv.command("a", &format!("LOGIN {ALICE}@{REALM} {ALICE_PW}"));
    assert_eq!(
        r,
        vec!["a NO [AUTHENTICATIONFAILED] Authentication failed.\r\n".to_string()]
    );
    logout(&mut srv);
    let log = s.log();
    assert!(log.contains("uid 0"), "{log}");
}
