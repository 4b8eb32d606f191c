//! Privilege separation seen from /proc while a session is held open
//! (DESIGN.md 1 and 6):
//!
//! * before login the process reading the client is the login child:
//!   all four uids and gids are `mailaccess`'s, its only group is
//!   `mailaccess`'s, its root directory is `login_chroot`;
//! * after login the session process has exactly the user's uid, gid and
//!   supplementary groups, no saved root uid, and the login child is gone;
//!   what it APPENDs is the user's, mode 0600;
//! * a session cannot reach another user's mail by any mailbox name, nor
//!   through symlinks planted in its own Maildir; the other user's files
//!   stay untouched. Shown with sasldb virtual users that share one uid, so
//!   that only the server's name checks stand in the way.

mod common;
mod login_support;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use common::Server;
use login_support::*;

fn readlink(p: String) -> PathBuf {
    std::fs::read_link(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

fn check_login_child(parent: u32, jail: &Path) -> u32 {
    let (luid, lgid) = uid_of("mailaccess").expect("user mailaccess");
    let child = only_child(parent);
    let ids = ids(child);
    assert_eq!(
        ids.uid, [luid; 4],
        "login child uids (real, effective, saved, fs)"
    );
    assert_eq!(ids.gid, [lgid; 4], "login child gids");
    assert_eq!(ids.groups, [lgid], "login child supplementary groups");
    assert_eq!(
        readlink(format!("/proc/{child}/root")),
        jail,
        "login child root"
    );
    assert_eq!(
        readlink(format!("/proc/{child}/cwd")),
        jail,
        "login child cwd"
    );
    // It is the one reading the client: the same stdin as the parent's.
    assert_eq!(
        readlink(format!("/proc/{child}/fd/0")),
        readlink(format!("/proc/{parent}/fd/0"))
    );
    assert_no_capabilities(child);
    // Its environment is empty but for where the client is.
    let env = std::fs::read(format!("/proc/{child}/environ")).unwrap();
    for var in env.split(|&b| b == 0).filter(|v| !v.is_empty()) {
        let var = String::from_utf8_lossy(var);
        assert!(
            var.starts_with("REMOTE_HOST=") || var.starts_with("REMOTE_PORT="),
            "login child environment has {var}"
        );
    }
    // Nothing open but the client, /dev/null, its log file and the socket
    // to the parent: no credential store, no PAM file.
    for e in std::fs::read_dir(format!("/proc/{child}/fd"))
        .unwrap()
        .flatten()
    {
        let target = std::fs::read_link(e.path()).unwrap();
        let t = target.to_string_lossy();
        assert!(
            t.starts_with("pipe:")
                || t.starts_with("socket:")
                || t == "/dev/null"
                || t.ends_with("imapd.log"),
            "login child has fd {} open on {t}",
            e.file_name().to_string_lossy()
        );
    }
    // The parent waits as root for the child's requests.
    assert_eq!(ids_of_parent(parent).uid, [0; 4], "privileged parent");
    child
}

/// CapPrm, CapEff and CapAmb of a process are all zero.
fn assert_no_capabilities(pid: u32) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    for field in ["CapPrm:", "CapEff:", "CapAmb:"] {
        let v = status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .unwrap_or_else(|| panic!("no {field}"))
            .trim();
        assert_eq!(u64::from_str_radix(v, 16).unwrap(), 0, "{pid} {field} {v}");
    }
}

fn ids_of_parent(pid: u32) -> Ids {
    ids(pid)
}

#[test]
fn login_child_is_jailed_and_session_runs_as_the_user() {
    pam_users();
    let s = Setup::new();
    let md = s.maildir(ALICE, ALICE);
    let mut srv = Server::start(s.imapd_loopback(&[]));
    greeting(&mut srv);
    let parent = srv.child.id();
    let child = check_login_child(parent, Path::new("/var/empty"));
    // Still the same after a failed attempt.
    let r = srv.command("a", &format!("LOGIN {ALICE} {WRONG}"));
    assert!(r[0].starts_with("a NO"), "{r:?}");
    assert_eq!(check_login_child(parent, Path::new("/var/empty")), child);

    let r = srv.command("b", &format!("LOGIN {ALICE} \"{PASSWORD}\""));
    assert!(r[0].starts_with("b OK"), "{r:?}");
    let (uid, gid) = uid_of(ALICE).unwrap();
    let extra = gid_of_group(EXTRA_GROUP);
    let ids = ids(parent);
    assert_eq!(ids.uid, [uid; 4], "session uids: no saved root uid");
    assert_eq!(ids.gid, [gid; 4], "session gids");
    let mut groups = ids.groups.clone();
    groups.sort();
    let mut want = vec![gid, extra];
    want.sort();
    assert_eq!(groups, want, "session supplementary groups");
    no_children(parent);
    assert_no_capabilities(parent);
    assert_eq!(readlink(format!("/proc/{parent}/root")), Path::new("/"));

    let msg = "Subject: owned\r\n\r\nmine\r\n";
    let r = srv.command("c", &format!("APPEND INBOX {{{}+}}\r\n{msg}", msg.len()));
    assert!(tagged(&r, "c").starts_with("c OK"), "{r:?}");
    let files: Vec<_> = ["new", "cur"]
        .iter()
        .flat_map(|d| std::fs::read_dir(md.join(d)).unwrap().flatten())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let m = files[0].metadata().unwrap();
    assert_eq!(
        (m.uid(), m.gid()),
        (uid, gid),
        "owner of the APPENDed message"
    );
    assert_eq!(m.mode() & 0o777, 0o600, "mode of the APPENDed message");
    // Stored with LF line ends, as Maildir messages are.
    assert_eq!(
        std::fs::read_to_string(files[0].path()).unwrap(),
        msg.replace("\r\n", "\n")
    );
    logout(&mut srv);
}

#[test]
fn login_child_uses_the_configured_login_chroot() {
    pam_users();
    let s = Setup::new();
    let jail = s.path().join("jail");
    std::fs::create_dir(&jail).unwrap();
    std::fs::set_permissions(&jail, std::fs::Permissions::from_mode(0o755)).unwrap();
    s.maildir(ALICE, ALICE);
    let mut srv = Server::start(s.imapd_loopback(&[&format!("login_chroot={}", jail.display())]));
    greeting(&mut srv);
    check_login_child(srv.child.id(), &jail);
    // Logging in works from there too.
    let r = srv.command("a", &format!("LOGIN {ALICE} \"{PASSWORD}\""));
    assert!(r[0].starts_with("a OK"), "{r:?}");
    logout(&mut srv);
}

const REALM: &str = "example.org";
const VPW: &str = "v1rtual-Pw";

/// Names that must never reach bob's mail from alice's session. `{bob}`
/// is bob's Maildir (absolute), `{mail}` the mail root.
const ESCAPES: &[&str] = &[
    "../bob/Maildir",
    "../../example.org/bob/Maildir",
    "../bob",
    "..",
    ".",
    "...",
    "..bob",
    "INBOX/../../bob/Maildir",
    "INBOX.....bob.Maildir",
    "a/../../../bob/Maildir",
    "{bob}",
    "{bob}/.Zq9private",
    "{mail}/example.org/bob/Maildir",
    "/etc",
    "~bob",
    "~bob/Maildir",
    "~bob@example.org",
    "~mailtest",
    "~/../bob/Maildir",
    "INBOX.~bob",
    ".Zq9private",
    "..Zq9private",
    "&AC8-etc",
    "..&AC8-bob&AC8-Maildir",
    "&AC4ALgAv-bob",
    // Symlinks alice planted in her own Maildir (see below): these names
    // are hers, so CREATE, RENAME and DELETE may act on her links.
    "Evil",
    "EvilRel",
    "EvilFolder",
    "Mixed",
];

/// The names in ESCAPES that are alice's own symlinks or directories.
const OWN: &[&str] = &["Evil", "EvilRel", "EvilFolder", "Mixed"];

#[test]
fn a_session_cannot_reach_another_users_mail_by_any_name() {
    require_login_jail();
    let s = Setup::new();
    let db = s.path().join("sasldb2");
    saslpasswd(&db, REALM, "alice", VPW);
    saslpasswd(&db, REALM, "bob", VPW);
    sh(&format!("chown mailtest: '{}'", s.mail().display()));
    let dom = s.mail().join(REALM);
    let alice = dom.join("alice").join("Maildir");
    let bob = dom.join("bob").join("Maildir");
    for md in [&alice, &bob, &bob.join(".Zq9private")] {
        for sub in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(md.join(sub)).unwrap();
        }
    }
    std::fs::write(bob.join(".Zq9private").join("maildirfolder"), "").unwrap();
    std::fs::write(
        bob.join("cur").join("1000.M1.host:2,S"),
        "Subject: bob inbox secret\r\n\r\nbob-inbox-body\r\n",
    )
    .unwrap();
    std::fs::write(
        bob.join(".Zq9private").join("cur").join("1000.M2.host:2,S"),
        "Subject: bob folder secret\r\n\r\nbob-folder-body\r\n",
    )
    .unwrap();
    std::fs::write(
        alice.join("cur").join("1000.M3.host:2,S"),
        "Subject: alice own\r\n\r\nalice-body\r\n",
    )
    .unwrap();
    // Alice's own Maildir holds symlinks to bob's: a folder that is a link
    // (absolute and relative), a link to bob's folder, and a real folder
    // whose cur/new/tmp are links.
    std::os::unix::fs::symlink(&bob, alice.join(".Evil")).unwrap();
    std::os::unix::fs::symlink("../../bob/Maildir", alice.join(".EvilRel")).unwrap();
    std::os::unix::fs::symlink(bob.join(".Zq9private"), alice.join(".EvilFolder")).unwrap();
    std::fs::create_dir(alice.join(".Mixed")).unwrap();
    std::fs::write(alice.join(".Mixed").join("maildirfolder"), "").unwrap();
    for sub in ["cur", "new", "tmp"] {
        std::os::unix::fs::symlink(bob.join(sub), alice.join(".Mixed").join(sub)).unwrap();
    }
    // The same uid for both (virtual users): only the server's checks
    // protect bob. Make bob's tree readable and writable by anyone, so no
    // file permission hides a mistake either.
    sh(&format!("chown -R mailtest: '{}'", s.mail().display()));
    sh(&format!("chmod -R a+rwX '{}'", bob.display()));
    let before = snapshot(&bob);

    let mut srv = Server::start(s.imapd_loopback(&[
        "auth=sasldb",
        &format!("sasldb_path={}", db.display()),
        &format!("sasl_realm={REALM}"),
        "virtual_user=mailtest",
        &format!("mail_location=maildir:{}/%d/%n/Maildir", s.mail().display()),
    ]));
    greeting(&mut srv);
    let r = srv.command("a", &format!("LOGIN alice@{REALM} {VPW}"));
    assert!(r[0].starts_with("a OK"), "{r:?}");
    // The session keeps nothing of the credential stores open or mapped.
    let pid = srv.child.id();
    for e in std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
    {
        let t = std::fs::read_link(e.path()).unwrap();
        assert!(
            t != db && !t.starts_with("/etc/shadow") && !t.starts_with("/etc/pam.d"),
            "the session has {} open",
            t.display()
        );
    }
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    assert!(!maps.contains("sasldb2"), "{maps}");
    let r = srv.command("b", "SELECT INBOX");
    assert!(r.contains(&"* 1 EXISTS\r\n".to_string()), "{r:?}");

    let mut n = 0;
    let mut next = || {
        n += 1;
        format!("t{n}")
    };
    let mut all = Vec::new();
    for raw in ESCAPES {
        let name = raw
            .replace("{bob}", &bob.display().to_string())
            .replace("{mail}", &s.mail().display().to_string());
        let q = format!("\"{name}\"");
        let msg = "Subject: planted\r\n\r\nx\r\n";
        let own = OWN.contains(raw);
        let stolen = format!("Stolen{}", next());
        for cmd in [
            format!("STATUS {q} (MESSAGES UIDNEXT)"),
            format!("EXAMINE {q}"),
            format!("SELECT {q}"),
            format!("APPEND {q} {{{}+}}\r\n{msg}", msg.len()),
            format!("CREATE {q}"),
            format!("CREATE {q}.sub"),
            format!("RENAME INBOX {q}"),
            format!("LIST {q} \"*\""),
            format!("LIST \"\" {q}"),
            format!("SUBSCRIBE {q}"),
            format!("RENAME {q} {stolen}"),
            format!("STATUS {stolen} (MESSAGES)"),
            format!("SELECT {stolen}"),
        ] {
            // A failed SELECT leaves no mailbox selected: put INBOX back
            // so that COPY has a source.
            let sel = srv.command(&next(), "SELECT INBOX");
            assert!(sel.last().unwrap().contains(" OK "), "{sel:?}");
            let tag = next();
            let r = srv.command(&tag, &cmd);
            let t = tagged(&r, &tag).to_string();
            let answered_ok = t.starts_with(&format!("{tag} OK"));
            let verb = cmd.split(' ').next().unwrap();
            match verb {
                // LIST and SUBSCRIBE may say OK, as long as nothing of
                // bob's is named.
                "LIST" | "SUBSCRIBE" => {}
                // Alice's own link or directory: renaming or creating it
                // is hers to do (whether bob is touched is checked below).
                "CREATE" | "RENAME" if own && !cmd.starts_with("RENAME INBOX") => {}
                // What alice renamed her own link or directory to: hers,
                // but it must not hold bob's messages.
                "STATUS" | "SELECT" if own && cmd.contains(&stolen) => {
                    assert!(
                        !r.iter()
                            .any(|l| l.contains("MESSAGES 1") || l == "* 1 EXISTS\r\n"),
                        "{cmd:?} shows bob's message: {r:?}"
                    )
                }
                _ => assert!(!answered_ok, "{cmd:?} was accepted: {r:?}"),
            }
            all.extend(r);
        }
        let tag = next();
        let r = srv.command(&tag, &format!("COPY 1 {q}"));
        assert!(
            !tagged(&r, &tag).starts_with(&format!("{tag} OK")),
            "COPY to {q}: {r:?}"
        );
        all.extend(r);
    }
    // Nothing of bob's ever came back.
    for l in &all {
        for secret in [
            "bob inbox secret",
            "bob-inbox-body",
            "bob folder secret",
            "Zq9private",
        ] {
            // The names we sent may be echoed in a LIST of our own
            // symlink; bob's folder name must not come from his tree.
            if secret == "Zq9private" && !l.starts_with("* LIST") {
                continue;
            }
            assert!(!l.contains(secret), "bob's data in {l:?}");
        }
        assert!(!l.starts_with("* 1 EXISTS") || !l.contains("Zq9"), "{l:?}");
    }
    // DELETE last: on a symlinked folder it may remove alice's link, never
    // what it points at.
    for raw in ESCAPES {
        let name = raw
            .replace("{bob}", &bob.display().to_string())
            .replace("{mail}", &s.mail().display().to_string());
        let tag = next();
        srv.command(&tag, &format!("DELETE \"{name}\""));
    }
    // The session still works on alice's own mail.
    let r = srv.command("y", "EXAMINE INBOX");
    assert!(r.contains(&"* 1 EXISTS\r\n".to_string()), "{r:?}");
    logout(&mut srv);

    let after = snapshot(&bob);
    assert_eq!(
        before.len(),
        after.len(),
        "files appeared or vanished under bob's Maildir"
    );
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(b, a, "bob's {} changed", b.0.display());
    }
    // Nothing was written outside alice's Maildir either: the mail root
    // holds only the two users.
    let mut top: Vec<_> = std::fs::read_dir(&dom)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    top.sort();
    assert_eq!(top, ["alice", "bob"]);
}

/// URLAUTH through a real login: a URL bob makes of his own message
/// (access `authuser`, which alice has) is NIL to alice, and her CATENATE
/// of it fails, since a session reads only its own user's mail; bob reads
/// it back in a later login. sasldb virtual users sharing one uid, so
/// that only the server's checks stand between them.
#[test]
fn urlauth_urls_are_read_only_by_their_owner() {
    require_login_jail();
    let s = Setup::new();
    let db = s.path().join("sasldb2");
    saslpasswd(&db, REALM, "alice", VPW);
    saslpasswd(&db, REALM, "bob", VPW);
    let dom = s.mail().join(REALM);
    for user in ["alice", "bob"] {
        for sub in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(dom.join(user).join("Maildir").join(sub)).unwrap();
        }
    }
    std::fs::write(
        dom.join("bob/Maildir/cur/1000.M1.host:2,S"),
        "Subject: bob secret\r\n\r\nbob-body\r\n",
    )
    .unwrap();
    sh(&format!("chown -R mailtest: '{}'", s.mail().display()));
    let settings = [
        "auth=sasldb".to_string(),
        format!("sasldb_path={}", db.display()),
        format!("sasl_realm={REALM}"),
        "virtual_user=mailtest".into(),
        format!("mail_location=maildir:{}/%d/%n/Maildir", s.mail().display()),
    ];
    let settings: Vec<&str> = settings.iter().map(String::as_str).collect();
    let login = |user: &str| {
        let mut srv = Server::start(s.imapd_loopback(&settings));
        greeting(&mut srv);
        let r = srv.command("a", &format!("LOGIN {user}@{REALM} {VPW}"));
        assert!(r[0].starts_with("a OK"), "{r:?}");
        srv
    };
    let mut bob = login("bob");
    let rump = format!("imap://bob%40{REALM}@mail.example.org/INBOX/;UID=1;URLAUTH=authuser");
    let r = bob.command("g", &format!("GENURLAUTH \"{rump}\" INTERNAL"));
    assert!(r[1].starts_with("g OK"), "{r:?}");
    let url = r[0]["* GENURLAUTH ".len()..]
        .trim_end()
        .trim_matches('"')
        .to_string();
    assert!(url.starts_with(&rump), "{url}");
    // Another user's name in the URL is refused at once.
    let r = bob.command(
        "h",
        &format!("GENURLAUTH \"imap://alice%40{REALM}@mail.example.org/INBOX/;UID=1;URLAUTH=authuser\" INTERNAL"),
    );
    assert!(r[0].starts_with("h BAD"), "{r:?}");
    logout(&mut bob);

    let mut alice = login("alice");
    let r = alice.command("f", &format!("URLFETCH \"{url}\""));
    assert!(r[0].ends_with(" NIL\r\n"), "{r:?}");
    let r = alice.command("c", &format!("APPEND INBOX CATENATE (URL \"{url}\")"));
    assert!(r[0].starts_with("c NO [BADURL "), "{r:?}");
    for l in &r {
        assert!(!l.contains("bob-body"), "{l:?}");
    }
    logout(&mut alice);
    assert_eq!(
        std::fs::read_dir(dom.join("alice/Maildir/new"))
            .unwrap()
            .count()
            + std::fs::read_dir(dom.join("alice/Maildir/cur"))
                .unwrap()
                .count(),
        0,
        "alice got a message"
    );

    let mut bob = login("bob");
    let r = bob.command("f", &format!("URLFETCH \"{url}\""));
    assert!(r[0].contains("bob-body"), "{r:?}");
    logout(&mut bob);
}

#[test]
fn an_inbox_whose_dirs_are_symlinks_to_another_users_is_refused() {
    require_login_jail();
    let s = Setup::new();
    let db = s.path().join("sasldb2");
    saslpasswd(&db, REALM, "carol", VPW);
    let dom = s.mail().join(REALM);
    let carol = dom.join("carol").join("Maildir");
    let bob = dom.join("bob").join("Maildir");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(bob.join(sub)).unwrap();
    }
    std::fs::create_dir_all(&carol).unwrap();
    std::fs::write(
        bob.join("cur").join("1000.M1.host:2,S"),
        "Subject: bob inbox secret\r\n\r\nbob-inbox-body\r\n",
    )
    .unwrap();
    for sub in ["cur", "new", "tmp"] {
        std::os::unix::fs::symlink(bob.join(sub), carol.join(sub)).unwrap();
    }
    sh(&format!("chown -R mailtest: '{}'", s.mail().display()));
    sh(&format!("chmod -R a+rwX '{}'", bob.display()));
    let before = snapshot(&bob);
    let mut srv = Server::start(s.imapd_loopback(&[
        "auth=sasldb",
        &format!("sasldb_path={}", db.display()),
        &format!("sasl_realm={REALM}"),
        "virtual_user=mailtest",
        &format!("mail_location=maildir:{}/%d/%n/Maildir", s.mail().display()),
    ]));
    greeting(&mut srv);
    let msg = "Subject: planted\r\n\r\nx\r\n";
    srv.send(&format!("a LOGIN carol@{REALM} {VPW}"));
    srv.send("b SELECT INBOX");
    srv.send("c FETCH 1:* BODY[]");
    srv.send(&format!("d APPEND INBOX {{{}+}}\r\n{msg}", msg.len()));
    srv.send("e STATUS INBOX (MESSAGES)");
    srv.send("f LOGOUT");
    let lines = until_eof(&mut srv);
    for l in &lines {
        assert!(
            !l.contains("bob-inbox-body") && !l.contains("bob inbox secret"),
            "{lines:?}"
        );
        // Neither SELECT nor APPEND may work on that INBOX.
        assert!(
            !l.starts_with("b OK") && !l.starts_with("d OK"),
            "{lines:?}"
        );
    }
    let after = snapshot(&bob);
    assert_eq!(
        before.len(),
        after.len(),
        "files appeared or vanished under bob's Maildir: {lines:?}"
    );
    assert_eq!(after, before, "bob's Maildir changed");
}

/// The descriptors of `pid` that are open on `file`.
fn fds_on(pid: u32, file: &Path) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
        .filter(|e| std::fs::read_link(e.path()).is_ok_and(|t| t == file))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

/// Started with files open above fd 2 (as `imapd 3>file` from a shell, or a
/// careless inetd leaves them), neither the root parent, nor the chrooted
/// login child, nor the user's session holds them.
#[test]
fn inherited_descriptors_are_closed_in_every_role() {
    pam_users();
    let s = Setup::new();
    s.maildir(ALICE, ALICE);
    let secret = s.path().join("inherited");
    std::fs::write(&secret, "root's open file\n").unwrap();
    let inner = s.imapd_loopback(&[]);
    let mut c = std::process::Command::new("sh");
    c.arg("-c")
        .arg("exec 3>>\"$0\" 7<\"$0\" 9<\"$0\"; exec \"$@\"")
        .arg(&secret)
        .arg(inner.get_program())
        .args(inner.get_args());
    for (k, v) in inner.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    let mut srv = Server::start(c);
    greeting(&mut srv);
    let parent = srv.child.id();
    assert_eq!(fds_on(parent, &secret), Vec::<String>::new(), "parent");
    let child = only_child(parent);
    assert_eq!(fds_on(child, &secret), Vec::<String>::new(), "login child");
    let r = srv.command("b", &format!("LOGIN {ALICE} \"{PASSWORD}\""));
    assert!(r[0].starts_with("b OK"), "{r:?}");
    assert_eq!(fds_on(parent, &secret), Vec::<String>::new(), "session");
    logout(&mut srv);
}
