//! mbox files written by Dovecot's `imap` are read by our store with the
//! same UIDVALIDITY, UIDs, flags, keywords, sizes and bytes; and what our
//! store writes Dovecot reads with the same UIDs and flags. A user moving
//! between the two keeps every UID (clients keep their caches).
//!
//! Needs root and dovecot-imapd, like tests/mime_dovecot.rs.

/// tests/common/dovecot.rs (declared inline so that no shared
/// tests/common/mod.rs is needed).
mod common {
    pub mod dovecot;
}

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use common::dovecot;
use mailaccess::config::MboxLock;
use mailaccess::store::mbox::MboxStore;
use mailaccess::store::{flag, FlagOp, Flags, NewMessage, Store};

/// Runs Dovecot's imap on the mbox store under `dir` with `commands`.
fn dovecot(dir: &Path, commands: &str) -> String {
    dovecot::require();
    let (uid, gid) = dovecot::ensure_user(dovecot::TEST_USER);
    let conf = dir.join("dovecot.conf");
    fs::write(
        &conf,
        format!(
            "mail_location = mbox:{0}/mail:INBOX={0}/spool/inbox:INDEX=MEMORY\nssl = no\n\
             log_path = /dev/null\ninfo_log_path = /dev/null\nprotocols = imap\nlisten =\n",
            dir.display()
        ),
    )
    .expect("conf");
    let st = Command::new("chown")
        .args(["-R", &format!("{uid}:{gid}")])
        .arg(dir)
        .status()
        .expect("chown");
    assert!(st.success());
    let mut child = Command::new("setpriv")
        .args([
            &format!("--reuid={uid}"),
            &format!("--regid={gid}"),
            "--init-groups",
            "env",
            "-i",
            &format!("USER={}", dovecot::TEST_USER),
            &format!("HOME={}", dir.display()),
            dovecot::IMAP_BIN,
            "-c",
        ])
        .arg(&conf)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("dovecot imap");
    let mut stdin = child.stdin.take().expect("stdin");
    let input = commands.as_bytes().to_vec();
    let w = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().expect("output");
    let _ = w.join();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn append_cmd(tag: &str, mailbox: &str, flags: &str, msg: &str) -> String {
    format!(
        "{tag} APPEND {mailbox} ({flags}) {{{}+}}\r\n{msg}\r\n",
        msg.len()
    )
}

/// UID -> (flags without \Recent, sorted; RFC822.SIZE) from Dovecot's
/// `FETCH 1:* (UID FLAGS RFC822.SIZE)` answers.
fn fetched(out: &str) -> BTreeMap<u32, (Vec<String>, u64)> {
    let mut m = BTreeMap::new();
    for l in out.lines().filter(|l| l.contains(" FETCH (UID ")) {
        let after = |key: &str| l.split(key).nth(1).expect("key").to_string();
        let uid: u32 = after("UID ")
            .split(' ')
            .next()
            .and_then(|v| v.parse().ok())
            .expect("uid");
        let flags = after("FLAGS (");
        let flags = flags.split(')').next().expect("flags");
        let mut flags: Vec<String> = flags
            .split(' ')
            .filter(|f| !f.is_empty() && *f != "\\Recent")
            .map(str::to_string)
            .collect();
        flags.sort();
        let size = after("RFC822.SIZE ")
            .trim_end_matches(')')
            .split(' ')
            .next()
            .and_then(|v| v.trim_end_matches(')').parse().ok())
            .unwrap_or(0);
        m.insert(uid, (flags, size));
    }
    m
}

fn imap_flags(f: &Flags) -> Vec<String> {
    let mut v: Vec<String> = flag::ALL
        .iter()
        .filter(|(b, _)| f.has(*b))
        .map(|(_, n)| n.to_string())
        .chain(f.keywords.iter().cloned())
        .collect();
    v.sort();
    v
}

fn ours(dir: &Path) -> MboxStore {
    MboxStore::open_store(
        dir.join("mail"),
        dir.join("spool/inbox"),
        vec![MboxLock::Dotlock, MboxLock::Fcntl],
    )
    .expect("store")
}

#[test]
fn dovecot_and_we_agree_on_uids_flags_and_bytes() {
    let t = tempfile::tempdir().expect("tempdir");
    let dir = t.path();
    fs::create_dir_all(dir.join("mail")).expect("mkdir");
    fs::create_dir_all(dir.join("spool")).expect("mkdir");
    let m1 = "Subject: one\r\nFrom: a@b\r\n\r\nbody one\r\nFrom me\r\n";
    let m2 = "Subject: two\r\n\r\nFrom the start\r\n\r\nFrom x Sat Nov 21 06:13:17 2026\r\nline";
    let m3 = "Subject: three\r\n\r\nthree\r\n";
    let m4 = "Subject: four\r\n\r\nfour\r\n";
    let mut cmds = String::new();
    cmds += &append_cmd("a1", "INBOX", "\\Seen", m1);
    cmds += &append_cmd("a2", "INBOX", "\\Flagged $Work \\Answered", m2);
    cmds += &append_cmd("a3", "INBOX", "", m3);
    cmds += &append_cmd("a4", "INBOX", "\\Draft Junk", m4);
    cmds += "b1 CREATE sub/box\r\n";
    cmds += &append_cmd("b2", "sub/box", "\\Seen", m3);
    cmds += "c1 SELECT INBOX\r\nc2 STORE 3 +FLAGS (\\Deleted)\r\nc3 EXPUNGE\r\n";
    cmds += "c4 STORE 1 +FLAGS (NonJunk)\r\n";
    cmds += "c7 LOGOUT\r\n";
    let out = dovecot(dir, &cmds);
    assert!(out.contains("c4 OK"), "{out}");
    // A second run: Dovecot may run pipelined commands out of order.
    let out = dovecot(
        dir,
        "c0 SELECT INBOX\r\nc5 FETCH 1:* (UID FLAGS RFC822.SIZE)\r\nc7 LOGOUT\r\n",
    );
    assert!(out.contains("c5 OK"), "{out}");
    let theirs = fetched(&out);
    assert_eq!(
        theirs.keys().copied().collect::<Vec<_>>(),
        vec![1, 2, 4],
        "{out}"
    );
    let validity: u32 = out
        .split("[UIDVALIDITY ")
        .nth(1)
        .and_then(|s| s.split(']').next())
        .and_then(|s| s.parse().ok())
        .expect("UIDVALIDITY");

    // Our store reads Dovecot's file.
    let mut s = ours(dir);
    let mut mb = s.open("INBOX", true).expect("open");
    assert_eq!(mb.uid_validity(), validity);
    assert_eq!(mb.uid_next(), 5);
    let mine: BTreeMap<u32, (Vec<String>, u64)> = mb
        .collect_messages()
        .iter()
        .map(|m| (m.uid, (imap_flags(&m.flags), m.size)))
        .collect();
    assert_eq!(mine, theirs);
    let body = |mb: &mut Box<dyn mailaccess::store::Mailbox>, i: usize| {
        let mut v = Vec::new();
        mb.open_message(i)
            .expect("open")
            .read_to_end(&mut v)
            .expect("read");
        String::from_utf8(mailaccess::mime::crlf::to_crlf(&v)).expect("utf8")
    };
    assert_eq!(body(&mut mb, 0), m1);
    assert_eq!(
        body(&mut mb, 1),
        format!("{m2}\r\n").replace("\r\n\r\n\r\n", "\r\n\r\n")
    );
    let sub = s.status("sub/box").expect("status sub/box");
    assert_eq!((sub.messages, sub.uid_next), (1, 2));
    assert!(s.list().expect("list").iter().any(|i| i.name == "sub/box"));

    // We change flags, expunge and append; Dovecot sees the same UIDs.
    let mut rw = s.open("INBOX", false).expect("open rw");
    rw.store(
        &[1],
        FlagOp::Add,
        &Flags {
            system: flag::DELETED,
            keywords: vec![],
        },
    )
    .expect("store");
    rw.store(
        &[0],
        FlagOp::Add,
        &Flags {
            system: flag::FLAGGED,
            keywords: vec!["Later".into()],
        },
    )
    .expect("store");
    assert_eq!(rw.expunge(None).expect("expunge"), vec![2]);
    let mut data = "Subject: five\r\n\r\nfive\r\n".as_bytes();
    let a = s
        .append(
            "INBOX",
            &mut [NewMessage {
                flags: Flags {
                    system: flag::SEEN,
                    keywords: vec![],
                },
                internal_date: None,
                data: &mut data,
                len: 23,
            }],
        )
        .expect("append");
    assert_eq!(a.uids, vec![5]);
    let again = s.open("INBOX", true).expect("open");
    let mine: BTreeMap<u32, (Vec<String>, u64)> = again
        .collect_messages()
        .iter()
        .map(|m| (m.uid, (imap_flags(&m.flags), m.size)))
        .collect();
    let out = dovecot(
        dir,
        "d1 SELECT INBOX\r\nd2 FETCH 1:* (UID FLAGS RFC822.SIZE)\r\nd3 LOGOUT\r\n",
    );
    assert!(out.contains(&format!("[UIDVALIDITY {validity}]")), "{out}");
    assert!(out.contains("[UIDNEXT 6]"), "{out}");
    assert_eq!(fetched(&out), mine, "{out}");
    assert_eq!(mine.keys().copied().collect::<Vec<_>>(), vec![1, 4, 5]);
}
