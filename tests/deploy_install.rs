//! `make install` and `make uninstall` into a staging directory
//! (DESTDIR), the example configuration against README's configuration
//! reference and the built-in defaults, and the man pages.

mod deploy_common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use deploy_common::*;

fn make(target: &str, destdir: &Path) -> String {
    let out = Command::new("make")
        .arg("-s")
        .arg("-C")
        .arg(repo())
        .arg(target)
        .arg(format!("DESTDIR={}", destdir.display()))
        .arg("PREFIX=/usr")
        .env_remove("MAKEFLAGS")
        .env_remove("MFLAGS")
        .output()
        .expect("make");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "make {target}: {text}");
    text
}

const CONFIG_FILES: [&str; 7] = [
    "etc/pam.d/imap",
    "etc/pam.d/pop3",
    "etc/xinetd.d/imap",
    "etc/xinetd.d/pop3",
    "etc/xinetd.d/imaps",
    "etc/xinetd.d/pop3s",
    "etc/mailaccess.conf",
];

#[test]
fn install_and_uninstall_in_a_staging_directory() {
    let stage = tempfile::tempdir().unwrap();
    let d = stage.path();
    let out = make("install", d);
    assert!(
        !out.contains("system user"),
        "no user is created under DESTDIR: {out}"
    );
    for b in ["imapd", "pop3d"] {
        let p = d.join("usr/sbin").join(b);
        // Installed stripped: the same program without its debug sections.
        let built = repo().join("target/release").join(b);
        let stripped = d.join(format!("{b}.stripped"));
        let st = Command::new("strip")
            .arg("-o")
            .arg(&stripped)
            .arg(&built)
            .status()
            .unwrap();
        assert!(st.success());
        assert_eq!(
            std::fs::read(&p).unwrap(),
            std::fs::read(&stripped).unwrap(),
            "{b}"
        );
        let installed = std::fs::metadata(&p).unwrap().len();
        assert!(
            installed * 2 < std::fs::metadata(&built).unwrap().len(),
            "{b}: {installed}"
        );
        let out = Command::new(&p).arg("--version").output().unwrap();
        assert!(out.status.success(), "{b} --version");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o755
        );
    }
    // systemd units, pointing at PREFIX, not enabled (nothing links them).
    for u in [
        "imap.socket",
        "imaps@.service",
        "pop3.socket",
        "pop3s@.service",
    ] {
        let text = std::fs::read_to_string(d.join("usr/lib/systemd/system").join(u)).unwrap();
        assert!(!text.contains("/usr/local/"), "{u}: {text}");
        if u.ends_with(".service") {
            assert!(text.contains("ExecStart=/usr/sbin/"), "{u}: {text}");
        }
    }
    assert!(!d.join("etc/systemd").exists(), "a unit was enabled");
    for m in [
        "usr/share/man/man8/imapd.8",
        "usr/share/man/man8/pop3d.8",
        "usr/share/man/man5/mailaccess.conf.5",
        "usr/share/doc/mailaccess/stunnel/mailaccess.conf",
        "usr/share/doc/mailaccess/stunnel/xinetd-imaps",
        "usr/share/doc/mailaccess/mailaccess.conf.example",
    ] {
        assert!(d.join(m).is_file(), "{m} missing");
    }
    for f in CONFIG_FILES {
        assert!(d.join(f).is_file(), "{f} missing");
    }
    assert_eq!(
        std::fs::read(d.join("etc/pam.d/imap")).unwrap(),
        std::fs::read(repo().join("pam.d/imap")).unwrap()
    );
    assert_eq!(
        std::fs::read(d.join("etc/mailaccess.conf")).unwrap(),
        std::fs::read(repo().join("mailaccess.conf.example")).unwrap()
    );
    // xinetd services: installed disabled, pointing at PREFIX.
    for s in ["imap", "pop3", "imaps", "pop3s"] {
        let text = std::fs::read_to_string(d.join("etc/xinetd.d").join(s)).unwrap();
        let setting = |k: &str| {
            text.lines()
                .map(str::trim)
                .filter(|l| !l.starts_with('#'))
                .find(|l| l.split_whitespace().next() == Some(k))
                .map(|l| l.split_once('=').unwrap().1.trim().to_string())
        };
        assert_eq!(setting("disable").as_deref(), Some("yes"), "{s}");
        let bin = if s.starts_with("imap") {
            "imapd"
        } else {
            "pop3d"
        };
        assert_eq!(setting("server"), Some(format!("/usr/sbin/{bin}")), "{s}");
        assert_eq!(
            setting("server_args").as_deref(),
            s.ends_with('s').then_some("--tls"),
            "{s}"
        );
    }

    // A second install keeps every existing configuration file.
    std::fs::write(d.join("etc/mailaccess.conf"), "auth = sasldb\n").unwrap();
    std::fs::write(d.join("etc/pam.d/pop3"), "# mine\n").unwrap();
    let out = make("install", d);
    assert!(out.contains("kept existing"), "{out}");
    assert_eq!(
        std::fs::read_to_string(d.join("etc/mailaccess.conf")).unwrap(),
        "auth = sasldb\n"
    );

    // Enabled as the README says (imap), and enabled and changed (pop3s).
    let enable = |f: &str| {
        let p = d.join(f);
        let t: String = std::fs::read_to_string(&p)
            .unwrap()
            .lines()
            .map(|l| {
                if l.trim_start().starts_with("disable") {
                    l.replace("yes", "no") + "\n"
                } else {
                    format!("{l}\n")
                }
            })
            .collect();
        std::fs::write(&p, t).unwrap();
    };
    enable("etc/xinetd.d/imap");
    enable("etc/xinetd.d/pop3s");
    let p = d.join("etc/xinetd.d/pop3s");
    let t = std::fs::read_to_string(&p).unwrap();
    std::fs::write(&p, format!("# mine\n{t}")).unwrap();

    // Uninstall: programs and pages go, unchanged configuration goes,
    // changed configuration stays; no service stays enabled.
    let out = make("uninstall", d);
    let pop3s = std::fs::read_to_string(&p).unwrap_or_default();
    assert!(pop3s.starts_with("# mine\n"), "{out}");
    assert!(
        pop3s
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["disable", "=", "yes"]),
        "{pop3s}"
    );
    assert!(out.contains("now disabled"), "{out}");
    std::fs::remove_file(&p).unwrap();
    for gone in [
        "usr/sbin/imapd",
        "usr/sbin/pop3d",
        "usr/share/man/man8/imapd.8",
        "usr/share/man/man5/mailaccess.conf.5",
        "usr/share/doc/mailaccess",
        "usr/lib/systemd/system/imap.socket",
        "usr/lib/systemd/system/pop3s@.service",
        "etc/pam.d/imap",
        "etc/xinetd.d/imap",
        "etc/xinetd.d/imaps",
        "etc/xinetd.d/pop3",
        "etc/xinetd.d/pop3s",
    ] {
        assert!(!d.join(gone).exists(), "{gone} left after uninstall: {out}");
    }
    for kept in ["etc/mailaccess.conf", "etc/pam.d/pop3"] {
        assert!(d.join(kept).exists(), "{kept} removed: {out}");
    }
    assert!(out.contains("changed since install"), "{out}");
}

#[test]
fn user_and_var_empty_are_made_only_without_destdir() {
    // The script only creates the user and /var/empty when DESTDIR is
    // empty: a staged install above prints nothing about them, and the
    // commands that do are guarded by that test in scripts/install.sh.
    let script = std::fs::read_to_string(repo().join("scripts/install.sh")).unwrap();
    let guard = script
        .find("if [ -z \"$DESTDIR\" ]")
        .expect("DESTDIR guard");
    let adduser = script.find("adduser --system").expect("adduser");
    let var_empty = script
        .find("install -d -m 755 -o root -g root /var/empty")
        .unwrap();
    assert!(guard < adduser && guard < var_empty);
}

/// README's configuration reference: the keys, in order.
fn readme_keys() -> Vec<String> {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let section = readme
        .split("## Configuration reference")
        .nth(1)
        .expect("README has a configuration reference");
    let section = section.split("\n## ").next().unwrap();
    let mut keys = Vec::new();
    for l in section.lines().filter(|l| l.starts_with("| `")) {
        let first = l.split('|').nth(1).unwrap();
        for k in first.split(',') {
            keys.push(k.trim().trim_matches('`').to_string());
        }
    }
    assert!(keys.len() >= 20, "{keys:?}");
    keys
}

/// `#key = value` lines of the example: the documented defaults.
fn example_settings() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(repo().join("mailaccess.conf.example")).unwrap();
    let mut m = BTreeMap::new();
    for l in text.lines() {
        if let Some(rest) = l.strip_prefix('#') {
            if let Some((k, v)) = rest.split_once('=') {
                let k = k.trim();
                if !k.is_empty()
                    && k.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                {
                    m.entry(k.to_string()).or_insert(v.trim().to_string());
                }
            }
        }
    }
    m
}

#[test]
fn example_documents_every_key_with_its_default() {
    let example = example_settings();
    let keys = readme_keys();
    for k in &keys {
        assert!(example.contains_key(k), "mailaccess.conf.example lacks {k}");
    }
    // The built-in defaults, as --check prints them.
    let out = Command::new(IMAPD)
        .args(["-c", "/dev/null", "--check"])
        .output()
        .unwrap();
    let dump = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        dump.ends_with("configuration OK\n") != dump.contains("problem:"),
        "{dump}"
    );
    for l in dump
        .lines()
        .filter(|l| !l.starts_with("problem:") && *l != "configuration OK")
    {
        let (k, v) = l
            .split_once(" = ")
            .unwrap_or((l.trim_end_matches(" ="), ""));
        let k = k.trim();
        // Host- and site-specific examples, not defaults.
        if ["sasl_realm", "tls_cert", "tls_key", "gssapi_hostname"].contains(&k) {
            continue;
        }
        let documented = example
            .get(k)
            .unwrap_or_else(|| panic!("example lacks {k}"));
        let normal = |s: &str| match s {
            "2s" => "2000ms".to_string(),
            "5s" => "5000ms".to_string(),
            s => s.to_string(),
        };
        assert_eq!(normal(documented), v.trim(), "default of {k}");
    }
}

#[test]
fn example_with_every_key_set_is_valid() {
    let text = std::fs::read_to_string(repo().join("mailaccess.conf.example")).unwrap();
    let mut seen = std::collections::BTreeSet::new();
    let mut conf = String::new();
    for l in text.lines() {
        if let Some(rest) = l.strip_prefix('#') {
            if let Some((k, _)) = rest.split_once('=') {
                let k = k.trim();
                if !k.is_empty()
                    && k.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                    && seen.insert(k.to_string())
                {
                    conf.push_str(rest);
                    conf.push('\n');
                    continue;
                }
            }
        }
        conf.push_str(l);
        conf.push('\n');
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mailaccess.conf");
    std::fs::write(&path, &conf).unwrap();
    let out = Command::new(IMAPD)
        .arg("-c")
        .arg(&path)
        .arg("--check")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Problems (no such certificate here) are fine; a syntax error is not.
    assert_ne!(out.status.code(), Some(2), "{conf}\n{text}");
    assert!(
        text.contains("tls_cert = /etc/ssl/mailaccess/cert.pem"),
        "{text}"
    );
}

#[test]
fn man_pages_render_and_document_every_key() {
    let conf5 = std::fs::read_to_string(repo().join("man/mailaccess.conf.5")).unwrap();
    for k in readme_keys() {
        assert!(
            conf5
                .lines()
                .any(|l| l.starts_with(".B") && l.split_whitespace().any(|w| w == k)),
            "mailaccess.conf.5 lacks {k}"
        );
    }
    for page in ["imapd.8", "pop3d.8", "mailaccess.conf.5"] {
        let path = repo().join("man").join(page);
        if Path::new("/usr/bin/groff").exists() {
            let out = Command::new("groff")
                .args(["-man", "-Tutf8", "-ww", "-z"])
                .arg(&path)
                .output()
                .unwrap();
            assert!(out.status.success(), "{page}");
            assert_eq!(String::from_utf8_lossy(&out.stderr), "", "{page}");
        }
        if Path::new("/usr/bin/man").exists() {
            let out = Command::new("man")
                .arg("-l")
                .arg(&path)
                .env("MANPAGER", "cat")
                .env("MANWIDTH", "80")
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success(), "{page}");
            assert!(
                text.contains("NAME") && text.contains("SEE ALSO"),
                "{page}: {text}"
            );
        }
    }
}
