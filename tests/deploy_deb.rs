//! `make deb` (scripts/deb.sh) and the package on this machine: built from
//! the release binaries, installed with `dpkg -i` (nothing enabled: the
//! xinetd services disabled, no systemd unit linked), its imapd logging a
//! PAM user in when run as the installed socket unit runs it, then
//! `dpkg --purge`: nothing of it left. Needs root and dpkg.

mod deploy_common;

use std::process::Command;

use deploy_common::*;

/// Purges the package when the test ends, whatever happened.
struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = Command::new("dpkg")
            .args(["--purge", "mailaccess"])
            .output();
    }
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?}: {text}");
    text
}

#[test]
fn package_installs_serves_and_purges_cleanly() {
    require_root();
    require_tool("/usr/bin/dpkg-deb");
    let built = run(Command::new("sh").arg(repo().join("scripts/deb.sh")));
    let deb = built.lines().last().unwrap().trim().to_string();
    assert!(deb.ends_with(".deb"), "{built}");
    // Debian's checker finds no error and no warning (the informational
    // tags left are explained in scripts/deb.sh).
    require_tool("/usr/bin/lintian");
    let tags = run(Command::new("lintian").args(["--tag-display-limit", "0", &deb]));
    let bad: Vec<&str> = tags
        .lines()
        .filter(|l| l.starts_with("E:") || l.starts_with("W:"))
        .collect();
    assert!(bad.is_empty(), "lintian: {bad:#?}");
    for f in ["/etc/pam.d/imap", "/etc/mailaccess.conf", "/usr/sbin/imapd"] {
        assert!(
            !std::path::Path::new(f).exists(),
            "{f} exists before the package is installed: not a clean machine for this test"
        );
    }
    let _purge = Installed;
    run(Command::new("dpkg")
        .args(["-i", &deb])
        .env("DEBIAN_FRONTEND", "noninteractive"));
    let files = run(Command::new("dpkg").args(["-L", "mailaccess"]));
    for f in [
        "/usr/sbin/imapd",
        "/usr/sbin/pop3d",
        "/etc/mailaccess.conf",
        "/etc/pam.d/imap",
        "/etc/xinetd.d/imaps",
        "/usr/lib/systemd/system/imap.socket",
        "/usr/share/man/man8/imapd.8.gz",
        "/usr/share/doc/mailaccess/copyright",
        "/usr/share/doc/mailaccess/changelog.gz",
    ] {
        assert!(
            files.lines().any(|l| l == f),
            "{f} not in the package: {files}"
        );
        assert!(std::path::Path::new(f).exists(), "{f} not installed");
    }
    let conffiles = run(Command::new("dpkg-query").args(["-W", "-f=${Conffiles}", "mailaccess"]));
    assert!(conffiles.contains("/etc/mailaccess.conf"), "{conffiles}");
    // Nothing enabled.
    let xinetd = std::fs::read_to_string("/etc/xinetd.d/imap").unwrap();
    assert!(
        xinetd
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["disable", "=", "yes"]),
        "{xinetd}"
    );
    assert!(!std::path::Path::new("/etc/systemd/system/sockets.target.wants/imap.socket").exists());
    assert!(run(Command::new("id").arg("mailaccess")).contains("mailaccess"));

    // The installed imapd, as imap@.service runs it, logs a PAM user in.
    pam_user();
    let log = Log::new();
    let (_d, port) = socket_activate("/usr/sbin/imapd", &base_args(PAM_IMAP, &log));
    let (ok, out, err) = python(&format!(
        "import imaplib\n\
         m = imaplib.IMAP4('127.0.0.1', {port})\n\
         print(m.login('{USER}', '{PASSWORD}')[0])\n\
         print(m.select('INBOX')[0])\n\
         print(m.logout()[0])\n"
    ));
    assert!(ok && out == "OK\nOK\nBYE\n", "{out}\n{err}\n{}", log.text());

    run(Command::new("dpkg").args(["--purge", "mailaccess"]));
    for f in files.lines().filter(|f| f.starts_with('/')) {
        let p = std::path::Path::new(f);
        assert!(p.is_dir() || !p.exists(), "{f} left after purge");
    }
    assert!(!std::path::Path::new("/var/lib/mailaccess").exists());
    let _ = std::fs::remove_file(&deb);
}
