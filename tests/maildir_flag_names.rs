//! When a flag change reaches a Maildir file's name (the `:2,` letters
//! other Maildir programs read): before the tagged answer of the command
//! that made it when the client waits for that answer, and only when its
//! pipeline drains otherwise, as Dovecot does. So a pipelined
//! `STORE +FLAGS (\Deleted)` and the EXPUNGE after it unlink the files
//! without renaming them first (what the write benchmark's expunge
//! workload measures), and a session that ends with changes not yet in
//! the names gives them their names on the way out.
//!
//! The renames are watched with inotify(7) on `cur/`. Needs root to run
//! the servers as the test user (`make test`).

mod common;

use std::path::Path;

use rustix::fs::inotify::{self, CreateFlags, WatchFlags};

use common::{ok, run, Home, Server};

const MSG: &str = "Subject: x\n\nbody\n";

/// A Maildir with three messages, the session with INBOX selected.
fn selected() -> (Home, Server) {
    let h = Home::new();
    for i in 1..=3 {
        h.deliver(None, &format!("100000000{i}.M{i}P1.test"), MSG.as_bytes());
    }
    let mut s = Server::imapd(&h);
    assert!(s.line().starts_with("* PREAUTH"));
    ok(&run(&mut s, "s", "SELECT INBOX"), "s");
    (h, s)
}

/// Counts the renames into `cur/` from when it was made.
struct Renames(std::os::fd::OwnedFd);

impl Renames {
    fn watch(dir: &Path) -> Renames {
        let fd = inotify::init(CreateFlags::NONBLOCK).expect("inotify");
        inotify::add_watch(&fd, dir, WatchFlags::MOVED_TO).expect("watch cur/");
        Renames(fd)
    }

    /// Renames seen so far (each event is 16 octets and a padded name).
    fn count(&self) -> usize {
        let mut buf = [0u8; 8192];
        let mut n = 0;
        while let Ok(len) = rustix::io::read(&self.0, &mut buf) {
            let mut at = 0;
            while at + 16 <= len {
                let name_len = u32::from_ne_bytes(buf[at + 12..at + 16].try_into().unwrap());
                at += 16 + name_len as usize;
                n += 1;
            }
        }
        n
    }
}

fn names(h: &Home) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(h.maildir().join("cur"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn a_pipelined_delete_and_expunge_rename_nothing() {
    let (h, mut s) = selected();
    let watch = Renames::watch(&h.maildir().join("cur"));
    s.write(b"d STORE 1:2 +FLAGS.SILENT (\\Deleted)\r\ne EXPUNGE\r\n");
    let r = s.until_tagged("e");
    assert!(r.iter().any(|l| l.starts_with("d OK")), "{r:?}");
    assert!(r.last().unwrap().starts_with("e OK"), "{r:?}");
    assert_eq!(watch.count(), 0, "files were renamed: {:?}", names(&h));
    let left = names(&h);
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(left[0].starts_with("1000000003."), "{left:?}");
}

#[test]
fn a_store_answered_alone_is_in_the_name_before_its_answer() {
    let (h, mut s) = selected();
    ok(&run(&mut s, "f", "STORE 2 +FLAGS (\\Flagged)"), "f");
    // Checked right after the answer: no time for a late rename.
    assert!(
        names(&h)
            .iter()
            .any(|n| n.starts_with("1000000002.") && n.ends_with(":2,F")),
        "{:?}",
        names(&h)
    );
}

#[test]
fn pipelined_stores_reach_the_names_when_the_pipeline_drains() {
    let (h, mut s) = selected();
    s.write(b"a STORE 1 +FLAGS (\\Seen)\r\nb STORE 2 +FLAGS (\\Answered)\r\nc NOOP\r\n");
    let r = s.until_tagged("c");
    assert!(r.last().unwrap().starts_with("c OK"), "{r:?}");
    let n = names(&h);
    assert!(
        n.iter()
            .any(|n| n.starts_with("1000000001.") && n.ends_with(":2,S")),
        "{n:?}"
    );
    assert!(
        n.iter()
            .any(|n| n.starts_with("1000000002.") && n.ends_with(":2,R")),
        "{n:?}"
    );
    // The index knows them too: a second session sees the flags, and the
    // first session is told nothing new.
    let mut other = Server::imapd(&h);
    assert!(other.line().starts_with("* PREAUTH"));
    ok(&run(&mut other, "s", "SELECT INBOX"), "s");
    let r = run(&mut other, "f", "FETCH 1:2 FLAGS");
    assert!(
        r[0].contains("\\Seen") && r[1].contains("\\Answered"),
        "{r:?}"
    );
    let r = run(&mut s, "n", "NOOP");
    assert_eq!(r, ["n OK NOOP completed."]);
}

#[test]
fn a_session_ending_in_a_pipeline_gives_the_names_on_its_way_out() {
    let (h, mut s) = selected();
    s.write(b"a STORE 3 +FLAGS.SILENT (\\Draft)\r\nz LOGOUT\r\n");
    s.until_tagged("z");
    assert_eq!(s.wait(), Some(0));
    let n = names(&h);
    assert!(
        n.iter()
            .any(|n| n.starts_with("1000000003.") && n.ends_with(":2,D")),
        "{n:?}"
    );
}
