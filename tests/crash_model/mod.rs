//! What the crash tests of both stores share (`maildir_crash.rs`,
//! `mbox_crash.rs`): a child process writes a line before each operation
//! and another once the store acknowledged it (what a client would have
//! been told), in one write(2) each; after each kill, `Model::check`
//! compares what a fresh look finds with those lines. Only the one
//! operation in flight may have gone either way.

#![allow(dead_code)]

use std::collections::HashMap;
use std::fs;
use std::io::{Read, Write};
use std::path::Path;

use mailaccess::store::{flag, FlagOp, Flags, Mailbox, NewMessage, Store};

/// The flags the tests play with.
pub const WATCHED: u8 = flag::FLAGGED | flag::SEEN | flag::DELETED;

pub fn only(bit: u8) -> Flags {
    Flags {
        system: bit,
        keywords: vec![],
    }
}

pub fn next(rng: &mut u64) -> u64 {
    *rng ^= *rng << 13;
    *rng ^= *rng >> 7;
    *rng ^= *rng << 17;
    *rng
}

/// Appends one line to the acknowledgement file in one write(2), so a
/// kill never leaves half a line.
pub fn note(acks: &mut fs::File, line: String) {
    acks.write_all(format!("{line}\n").as_bytes())
        .expect("note");
}

/// What a look found: UIDVALIDITY and, per UID, the message's X-Seq and
/// its watched flags.
pub type Look = (u32, HashMap<u32, (usize, u8)>);

/// The model: per UID the X-Seq it must hold and the flags it must have.
pub struct Model {
    pub uid_validity: u32,
    pub seq_of: HashMap<u32, usize>,
    pub flags: HashMap<u32, u8>,
}

impl Model {
    pub fn new((uid_validity, now): Look) -> Model {
        Model {
            uid_validity,
            seq_of: now.iter().map(|(u, (s, _))| (*u, *s)).collect(),
            flags: now.iter().map(|(u, (_, f))| (*u, *f)).collect(),
        }
    }

    /// Checks what `look` finds against the model and the child's notes
    /// in `dir/acks` (then removed); `vanished` says whether the expunge
    /// history names a UID. Then takes what was found as the new model.
    pub fn check(
        &mut self,
        dir: &Path,
        round: &str,
        look: impl FnOnce() -> Look,
        vanished: impl Fn(u32) -> bool,
    ) {
        let notes = fs::read_to_string(dir.join("acks")).unwrap_or_default();
        let _ = fs::remove_file(dir.join("acks"));
        let mut flags = self.flags.clone();
        let mut may_flags: HashMap<u32, u8> = HashMap::new();
        let mut expunged = Vec::new();
        let mut may_be_gone = None;
        let mut appended: HashMap<usize, u32> = HashMap::new();
        let mut may_be_appended = None;
        let lines: Vec<&str> = notes.lines().collect();
        for (n, line) in lines.iter().enumerate() {
            let w: Vec<&str> = line.split(' ').collect();
            let last = n + 1 == lines.len();
            match (w[0], w[1]) {
                ("B", "F") if last => {
                    may_flags.insert(w[2].parse().unwrap(), w[3].parse().unwrap());
                }
                ("K", "F") => {
                    flags.insert(w[2].parse().unwrap(), w[3].parse().unwrap());
                }
                ("B", "E") if last => may_be_gone = Some(w[2].parse::<u32>().unwrap()),
                ("K", "E") => expunged.push(w[2].parse::<u32>().unwrap()),
                ("B", "A") if last => may_be_appended = Some(w[2].parse::<usize>().unwrap()),
                ("K", "A") => {
                    let uid: u32 = w[3].parse().unwrap();
                    appended.insert(w[2].parse().unwrap(), uid);
                    flags.insert(uid, 0);
                }
                _ => {}
            }
        }
        let (validity, now) = look();
        assert_eq!(validity, self.uid_validity, "{round}: UIDVALIDITY changed");
        for (seq, uid) in &appended {
            self.seq_of.insert(*uid, *seq);
            if expunged.contains(uid) || may_be_gone == Some(*uid) {
                continue; // appended, then expunged
            }
            assert_eq!(
                now.get(uid).map(|x| x.0),
                Some(*seq),
                "{round}: acknowledged APPEND of {seq} as UID {uid} lost"
            );
        }
        // The expunge history (QRESYNC's VANISHED) names every UID
        // acknowledged expunged, and no message's.
        for uid in &expunged {
            assert!(
                !now.contains_key(uid),
                "{round}: expunged UID {uid} is back"
            );
            assert!(
                vanished(*uid),
                "{round}: expunged UID {uid} not in the history"
            );
            flags.remove(uid);
        }
        for uid in now.keys() {
            assert!(!vanished(*uid), "{round}: UID {uid} both here and vanished");
        }
        for (uid, (seq, got)) in &now {
            match self.seq_of.get(uid) {
                Some(s) => assert_eq!(s, seq, "{round}: UID {uid} now holds another message"),
                None => {
                    assert_eq!(
                        Some(*seq),
                        may_be_appended,
                        "{round}: UID {uid} ({seq}) from nowhere"
                    );
                    self.seq_of.insert(*uid, *seq);
                    flags.insert(*uid, *got);
                }
            }
            let want = flags.get(uid).copied().unwrap_or(0);
            assert!(
                *got == want || may_flags.get(uid) == Some(got),
                "{round}: UID {uid} has flags {got}, acknowledged {want}"
            );
        }
        for uid in flags.keys() {
            assert!(
                now.contains_key(uid) || may_be_gone == Some(*uid),
                "{round}: UID {uid} lost"
            );
        }
        self.flags = now.iter().map(|(u, (_, f))| (*u, *f)).collect();
    }
}

/// Appends `data` to INBOX; its UID.
pub fn append(s: &mut dyn Store, data: &[u8]) -> u32 {
    let mut r = data;
    let mut m = [NewMessage {
        flags: Flags::default(),
        internal_date: None,
        data: &mut r,
        len: data.len() as u64,
    }];
    s.append("INBOX", &mut m).expect("append").uids[0]
}

/// A child process's loop: STOREs, APPENDs or EXPUNGEs (which keep more
/// than `floor` messages, appending when there are fewer) through the
/// store `s` and its open INBOX `mb`, each noted before and once
/// acknowledged in `acks`; new messages are `message(seq)`, each with an
/// `X-Seq` header.
pub struct Worker<'a> {
    pub s: &'a mut dyn Store,
    pub mb: Box<dyn Mailbox>,
    pub acks: fs::File,
    pub rng: u64,
    pub seq: usize,
    pub floor: usize,
    pub message: fn(usize) -> Vec<u8>,
}

impl<'a> Worker<'a> {
    /// A worker on the store `s`'s INBOX, noting into `dir/acks`, from
    /// the seed `seed`.
    pub fn new(
        s: &'a mut dyn Store,
        dir: &Path,
        seed: u64,
        floor: usize,
        message: fn(usize) -> Vec<u8>,
    ) -> Worker<'a> {
        let acks = fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(dir.join("acks"))
            .expect("acks");
        let mb = s.open("INBOX", false).expect("open");
        let rng = seed | 1;
        Worker {
            s,
            mb,
            acks,
            rng,
            seq: 100_000 * (rng % 1000) as usize,
            floor,
            message,
        }
    }

    fn append_next(&mut self) {
        self.seq += 1;
        let seq = self.seq;
        note(&mut self.acks, format!("B A {seq}"));
        let uid = append(self.s, &(self.message)(seq));
        note(&mut self.acks, format!("K A {seq} {uid}"));
    }

    /// One operation of `role`; false for a role not of this kind.
    pub fn step(&mut self, role: &str) -> bool {
        let acks = &mut self.acks;
        let mb = &mut self.mb;
        match role {
            "store" => {
                let i = (next(&mut self.rng) % mb.count() as u64) as usize;
                let bit = if next(&mut self.rng) % 2 == 0 {
                    flag::FLAGGED
                } else {
                    flag::SEEN
                };
                let m = &mb.message(i);
                let (uid, before) = (m.uid, m.flags.system);
                let op = if before & bit == 0 {
                    FlagOp::Add
                } else {
                    FlagOp::Remove
                };
                let after = (before ^ bit) & WATCHED;
                note(acks, format!("B F {uid} {after}"));
                mb.store(&[i], op, &only(bit)).expect("store");
                note(acks, format!("K F {uid} {after}"));
            }
            "append" => self.append_next(),
            "expunge" => {
                mb.sync(true).expect("sync");
                let n = mb.count();
                if n <= self.floor {
                    // Keep something to expunge: refill.
                    self.append_next();
                    return true;
                }
                let i = (next(&mut self.rng) % n as u64) as usize;
                let uid = mb.message(i).uid;
                let after = (mb.message(i).flags.system | flag::DELETED) & WATCHED;
                note(acks, format!("B F {uid} {after}"));
                mb.store(&[i], FlagOp::Add, &only(flag::DELETED))
                    .expect("store");
                note(acks, format!("K F {uid} {after}"));
                note(acks, format!("B E {uid}"));
                mb.expunge(Some(&[uid])).expect("expunge");
                note(acks, format!("K E {uid}"));
            }
            _ => return false,
        }
        true
    }
}

/// What the store says now (a read-only session): UIDVALIDITY and, per
/// UID, the message's X-Seq and its watched flags.
pub fn look(s: &mut dyn Store) -> Look {
    let mut mb = s.open("INBOX", true).expect("open after kill");
    let mut out = HashMap::new();
    for i in 0..mb.count() {
        let m = mb.message(i);
        let mut text = String::new();
        mb.open_message(i)
            .expect("message")
            .read_to_string(&mut text)
            .expect("read");
        let seq: usize = text
            .lines()
            .find_map(|l| l.strip_prefix("X-Seq: "))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no X-Seq in message {i}"));
        assert!(
            out.insert(m.uid, (seq, m.flags.system & WATCHED)).is_none(),
            "UID {} twice",
            m.uid
        );
    }
    (mb.uid_validity(), out)
}

/// The test binary run again as a child of `role`: the environment
/// variables `vars` (role, directory, seed) name what it is to do.
pub fn spawn(vars: [&str; 3], role: &str, dir: &Path, seed: u64) -> std::process::Child {
    std::process::Command::new(std::env::current_exe().expect("exe"))
        .args(["--exact", "child_role", "--nocapture", "--test-threads=1"])
        .env(vars[0], role)
        .env(vars[1], dir)
        .env(vars[2], seed.to_string())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn child")
}

/// How many times each child is killed.
pub const KILLS: usize = 50;

/// `KILLS` rounds of: a child of `role` started with `spawn(seed)` and
/// killed at a random moment, then `in_flight` (whether the kill left an
/// operation half done: counted), then the model checked against `look`
/// and the expunge history of the index in `index_dir`. Returns how many
/// operations were acknowledged and how many kills hit one half done.
pub fn kill_rounds(
    dir: &Path,
    role: &str,
    mut rng: u64,
    spawn: impl Fn(u64) -> std::process::Child,
    in_flight: impl Fn() -> bool,
    look: impl Fn() -> Look,
    index_dir: &Path,
) -> (usize, usize) {
    let mut model = Model::new(look());
    let (mut acknowledged, mut half_done) = (0, 0);
    for round in 0..KILLS {
        let mut c = spawn(next(&mut rng));
        std::thread::sleep(std::time::Duration::from_millis(30 + next(&mut rng) % 300));
        c.kill().expect("kill");
        c.wait().expect("wait");
        half_done += usize::from(in_flight());
        acknowledged += fs::read_to_string(dir.join("acks"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with('K'))
            .count();
        let now = look();
        // The expunge history (QRESYNC's VANISHED) of the index, as the
        // look left it.
        let (ix, _) = mailaccess::store::index::Index::load(index_dir)
            .expect("load")
            .expect("index");
        let vanished = ix.vanished_since(0);
        model.check(
            dir,
            &format!("{role} round {round}"),
            || now,
            |uid| vanished.iter().any(|r| r.contains(&uid)),
        );
    }
    assert!(
        acknowledged > KILLS,
        "{role}: the children did almost nothing"
    );
    (acknowledged, half_done)
}
