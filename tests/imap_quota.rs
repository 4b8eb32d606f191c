//! QUOTA (RFC 9208) against the built `imapd`, with a Maildir++ quota made
//! and used by Courier's own programs (Debian 12's `maildirmake -q` and
//! `deliverquota`, unpacked by `scripts/test-deps.sh` as `make test`
//! does): GETQUOTAROOT and GETQUOTA report what Courier counted, APPEND
//! and COPY past a limit fail with `[OVERQUOTA]` and write nothing, our
//! APPEND, COPY and EXPUNGE are counted in `maildirsize` so that Courier's
//! `deliverquota` sees them, and SETQUOTA is refused. A user without a
//! quota (mbox without a filesystem quota) has no quota root.
//!
//! Every session here is sealed (the sandbox is on by default), so these
//! runs also show that reading the filesystem quota (quotactl_fd(2), made
//! on every GETQUOTAROOT) is allowed by the seccomp list; a filesystem
//! with a user quota cannot be made on the test machine (its kernel has
//! no quota format), see DESIGN.md's QUOTA section.

mod common;
#[path = "common/courier.rs"]
mod courier_programs;

use std::path::Path;
use std::process::Stdio;

use common::{home_on, imapd_on, ok, run, Backend, Home, Server};

/// Runs a Courier program with `args`, `input` on stdin; its exit status.
fn courier(program: &str, args: &[&Path], input: &[u8]) -> i32 {
    use std::io::Write;
    let mut child = courier_programs::command(&format!("usr/bin/{program}"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("Courier program");
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    out.status.code().unwrap_or(-1)
}

/// A message of about `len` octets (LF line ends, as delivered).
fn message(subject: &str, len: usize) -> Vec<u8> {
    let mut m = format!("Subject: {subject}\n\n").into_bytes();
    while m.len() < len {
        m.extend_from_slice(b"0123456789012345678901234567890123456789\n");
    }
    m
}

/// The numbers of the `* QUOTA` line of `r`.
fn quota(r: &[String]) -> String {
    r.iter()
        .find(|l| l.starts_with("* QUOTA \""))
        .unwrap_or_else(|| panic!("no QUOTA in {r:?}"))
        .to_string()
}

fn append(s: &mut Server, mailbox: &str, msg: &[u8]) -> Vec<String> {
    s.write(format!("a APPEND {mailbox} {{{}+}}\r\n", msg.len()).as_bytes());
    s.write(msg);
    s.write(b"\r\n");
    s.until_tagged("a")
        .into_iter()
        .map(|l| l.trim_end().to_string())
        .collect()
}

#[test]
fn maildir_plus_plus_quota_as_courier_keeps_it() {
    let h = Home::new();
    let md = h.maildir();
    std::fs::remove_dir_all(&md).unwrap();
    // 20,000 octets (19 KiB) and 5 messages.
    assert_eq!(
        courier(
            "maildirmake.courier",
            &[Path::new("-q"), Path::new("20000S,5C"), &md],
            b""
        ),
        0
    );
    for i in 0..2 {
        let st = courier(
            "deliverquota.courier",
            &[&md],
            &message(&format!("m{i}"), 3000),
        );
        assert_eq!(st, 0, "deliverquota");
    }
    h.fix_owner();
    let mut s = imapd_on(Backend::Maildir, &h);
    let r = run(&mut s, "c", "CAPABILITY");
    for cap in ["QUOTA", "QUOTA=RES-STORAGE", "QUOTA=RES-MESSAGE"] {
        assert!(r[0].split(' ').any(|w| w == cap), "{cap}: {r:?}");
    }
    let r = run(&mut s, "q", "GETQUOTAROOT INBOX");
    ok(&r, "q");
    assert_eq!(r[0], "* QUOTAROOT INBOX \"User quota\"");
    // Two messages of 3,000-odd octets: 5 KiB of 19.
    let used = std::fs::read_dir(md.join("new"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum::<u64>();
    assert_eq!(
        quota(&r),
        format!(
            "* QUOTA \"User quota\" (STORAGE {} 19 MESSAGE 2 5)",
            used / 1024
        )
    );
    // Ours counted: an APPEND, then a COPY.
    ok(&append(&mut s, "INBOX", &message("ours", 4000)), "a");
    ok(&run(&mut s, "m", "CREATE Keep"), "m");
    ok(&run(&mut s, "s", "SELECT INBOX"), "s");
    ok(&run(&mut s, "y", "COPY 1 Keep"), "y");
    let r = run(&mut s, "g", "GETQUOTA \"User quota\"");
    ok(&r, "g");
    assert!(quota(&r).ends_with("MESSAGE 4 5)"), "{r:?}");
    // Past the octets: refused, nothing written.
    let r = append(&mut s, "INBOX", &message("big", 9000));
    assert!(r[0].starts_with("a NO [OVERQUOTA]"), "{r:?}");
    // Past the count: a COPY of two when one is left.
    let r = run(&mut s, "y", "COPY 1:2 Keep");
    assert!(r[0].starts_with("y NO [OVERQUOTA]"), "{r:?}");
    let r = run(&mut s, "n", "STATUS Keep (MESSAGES)");
    assert_eq!(r[0], "* STATUS Keep (MESSAGES 1)");
    // Courier sees our use: 7,500 more octets would pass 20,000.
    let before = std::fs::read_dir(md.join("new")).unwrap().count();
    let st = courier("deliverquota.courier", &[&md], &message("late", 7500));
    assert_ne!(st, 0, "deliverquota took a message past the quota");
    // It counted again and replaced the file, as root: the user's again.
    h.fix_owner();
    assert_eq!(std::fs::read_dir(md.join("new")).unwrap().count(), before);
    // EXPUNGE gives back; Courier can deliver again.
    ok(
        &run(&mut s, "x", "STORE 1:3 +FLAGS.SILENT (\\Deleted)"),
        "x",
    );
    ok(&run(&mut s, "x", "EXPUNGE"), "x");
    let r = run(&mut s, "g", "GETQUOTA \"User quota\"");
    assert!(quota(&r).ends_with("MESSAGE 1 5)"), "{r:?}");
    h.fix_owner();
    assert_eq!(
        courier("deliverquota.courier", &[&md], &message("late", 7500)),
        0
    );
    // Deleting a folder gives its messages back too.
    ok(&run(&mut s, "d", "DELETE Keep"), "d");
    let r = run(&mut s, "g", "GETQUOTA \"User quota\"");
    assert!(quota(&r).ends_with("MESSAGE 1 5)"), "{r:?}");
    // The limits are the administrator's.
    let r = run(&mut s, "t", "SETQUOTA \"User quota\" (STORAGE 100000)");
    assert!(r[0].starts_with("t NO [NOPERM]"), "{r:?}");
    let r = run(&mut s, "t", "GETQUOTA \"Other\"");
    assert!(r[0].starts_with("t NO"), "{r:?}");
    let r = run(&mut s, "t", "GETQUOTAROOT Nonexistent");
    assert!(r[0].starts_with("t NO [NONEXISTENT]"), "{r:?}");
}

#[test]
fn no_quota_no_root() {
    for b in [Backend::Maildir, Backend::Mbox] {
        let h = home_on(b, &[b"Subject: x\n\nx\n"]);
        let mut s = imapd_on(b, &h);
        let r = run(&mut s, "q", "GETQUOTAROOT INBOX");
        assert_eq!(
            r,
            ["* QUOTAROOT INBOX", "q OK Getquotaroot completed."],
            "{b:?}"
        );
        let r = run(&mut s, "g", "GETQUOTA \"User quota\"");
        assert!(r[0].starts_with("g NO"), "{b:?} {r:?}");
        ok(&append(&mut s, "INBOX", &message("any", 50_000)), "a");
    }
}
