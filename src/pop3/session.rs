//! The TRANSACTION and UPDATE states (RFC 1939 5, 6), run as the user once
//! the maildrop is locked and INBOX is open. The maildrop is the view of
//! INBOX at that moment: message numbers never change during the session,
//! DELE only marks, and the marks are carried out at QUIT (UPDATE), all of
//! them or none. A message retrieved with RETR (not TOP) is marked `\Seen`
//! at QUIT, as Dovecot does, so IMAP clients on the same mailbox see it as
//! read.
//!
//! STAT, LIST and UIDL use the sizes and UIDs of the index: they never open
//! a message file. RETR and TOP stream the file through `CrlfReader` (NUL
//! and every other octet as stored; only line ends change) and
//! the byte-stuffer; memory does not grow with the message.

use std::io::{self, Write};

use crate::config::UidlFormat;
use crate::conn::ClientInput;
use crate::limits;
use crate::mime::crlf::CrlfReader;
use crate::pop3::multiline::Stuffer;
use crate::pop3::parse::{self, Command, LineError};
use crate::store::{flag, FlagOp, Flags, Mailbox, StoreError, Uid};

/// The capabilities (RFC 2449 5) in the TRANSACTION state; the
/// AUTHORIZATION state adds USER and SASL where they are offered.
pub const CAPABILITIES: &[&str] = &[
    "TOP",
    "RESP-CODES",
    "AUTH-RESP-CODE",
    "PIPELINING",
    "UIDL",
    "EXPIRE NEVER",
    "LOGIN-DELAY 0",
    "IMPLEMENTATION mailaccess",
];

/// A CAPA response from capability lines.
pub fn capa_response(lines: &[String]) -> Vec<u8> {
    let mut r = b"+OK Capability list follows\r\n".to_vec();
    for l in lines {
        r.extend_from_slice(l.as_bytes());
        r.extend_from_slice(b"\r\n");
    }
    r.extend_from_slice(b".\r\n");
    r
}

/// What a command handler tells the loop.
enum Outcome {
    Continue,
    /// The client erred (bad syntax, no such message): counted.
    Error,
    /// QUIT handled: the session is over.
    Quit,
}

pub struct Session<'a> {
    mailbox: Box<dyn Mailbox>,
    /// DELE marks, by index.
    deleted: Vec<bool>,
    /// Retrieved with RETR: `\Seen` at QUIT.
    retrieved: Vec<bool>,
    out: &'a mut dyn Write,
    errors: u32,
    /// How UIDL makes a unique-id (`pop3_uidl_format`). It never changes
    /// while the message exists: deliveries, IMAP moving it from new/ to
    /// cur/, flags and restarts do not touch UID or UIDVALIDITY, and a
    /// maildrop whose `dovecot-uidlist` we imported keeps the UIDLs its
    /// POP3 clients know.
    uidl: UidlFormat,
}

impl<'a> Session<'a> {
    pub fn new(mailbox: Box<dyn Mailbox>, out: &'a mut dyn Write) -> Session<'a> {
        let n = mailbox.count();
        Session {
            mailbox,
            deleted: vec![false; n],
            retrieved: vec![false; n],
            out,
            errors: 0,
            uidl: UidlFormat::default(),
        }
    }

    /// The UIDL format to use instead of the default.
    pub fn with_uidl(mut self, format: UidlFormat) -> Self {
        self.uidl = format;
        self
    }

    fn send(&mut self, data: &[u8]) -> io::Result<()> {
        self.out.write_all(data)?;
        self.out.flush()
    }

    /// Sends `first` (the greeting, or the `+OK` of the login command) and
    /// serves commands until QUIT or the end of the connection. Without
    /// QUIT nothing is deleted (RFC 1939 6).
    pub fn run<R: ClientInput>(&mut self, input: &mut R, first: &str) -> io::Result<()> {
        self.send(first.as_bytes())?;
        loop {
            let line = match parse::read_line(input, limits::POP3_LINE_MAX) {
                Ok(l) => l,
                Err(LineError::Eof) => {
                    log::info!("disconnected without QUIT: nothing deleted");
                    return Ok(());
                }
                Err(LineError::Io(e)) if e.kind() == io::ErrorKind::TimedOut => {
                    let _ = self.send(b"-ERR Disconnected for inactivity.\r\n");
                    return Err(e);
                }
                Err(LineError::Io(e)) => return Err(e),
                Err(LineError::Flood) => {
                    let _ = self.send(b"-ERR Line too long.\r\n");
                    return Err(io::Error::other("endless command line"));
                }
                Err(LineError::TooLong) => {
                    self.send(b"-ERR Line too long.\r\n")?;
                    if self.count_error()? {
                        return Err(io::Error::other("too many errors"));
                    }
                    continue;
                }
            };
            let outcome = match parse::parse(&line) {
                Ok(c) => self.dispatch(c)?,
                Err(e) => {
                    self.send(format!("-ERR {}\r\n", e.text()).as_bytes())?;
                    Outcome::Error
                }
            };
            match outcome {
                Outcome::Continue => {}
                Outcome::Quit => return Ok(()),
                Outcome::Error => {
                    if self.count_error()? {
                        return Err(io::Error::other("too many errors"));
                    }
                }
            }
        }
    }

    /// Counts an erroneous command; true when the session must end.
    fn count_error(&mut self) -> io::Result<bool> {
        self.errors += 1;
        if self.errors >= limits::POP3_BAD_COMMANDS_MAX {
            self.send(b"-ERR Too many invalid commands.\r\n")?;
            return Ok(true);
        }
        Ok(false)
    }

    fn dispatch(&mut self, c: Command) -> io::Result<Outcome> {
        match c {
            Command::Stat => {
                let (n, size) = self.totals();
                self.ok(&format!("{n} {size}"))
            }
            Command::List(None) => {
                let (n, size) = self.totals();
                // Written line by line into the buffered writer: a large
                // maildrop's listing is never held whole.
                write!(self.out, "+OK {n} messages ({size} octets)\r\n")?;
                for i in 0..self.mailbox.count() {
                    if !self.deleted[i] {
                        write!(self.out, "{} {}\r\n", i + 1, self.mailbox.message(i).size)?;
                    }
                }
                self.send(b".\r\n")?;
                Ok(Outcome::Continue)
            }
            Command::List(Some(n)) => match self.index(n) {
                Ok(i) => {
                    let size = self.mailbox.message(i).size;
                    self.ok(&format!("{n} {size}"))
                }
                Err(e) => self.err(e),
            },
            Command::Uidl(None) => {
                let v = self.mailbox.uid_validity();
                self.out.write_all(b"+OK\r\n")?;
                for i in 0..self.mailbox.count() {
                    if !self.deleted[i] {
                        write!(self.out, "{} {}\r\n", i + 1, self.unique_id(v, i))?;
                    }
                }
                self.send(b".\r\n")?;
                Ok(Outcome::Continue)
            }
            Command::Uidl(Some(n)) => match self.index(n) {
                Ok(i) => {
                    let id = self.unique_id(self.mailbox.uid_validity(), i);
                    self.ok(&format!("{n} {id}"))
                }
                Err(e) => self.err(e),
            },
            Command::Retr(n) => self.retr(n, None),
            Command::Top { msg, lines } => self.retr(msg, Some(lines)),
            Command::Dele(n) => match self.index(n) {
                // A maildrop this session cannot change (an mbox spool it
                // cannot lock): say so now, not at QUIT (RFC 2449 SYS/PERM).
                Ok(_) if self.mailbox.read_only() => {
                    self.err("[SYS/PERM] The maildrop is read-only; see the server log.")
                }
                Ok(i) => {
                    self.deleted[i] = true;
                    self.ok(&format!("Message {n} deleted."))
                }
                Err(e) => self.err(e),
            },
            Command::Noop => self.ok(""),
            Command::Rset => {
                self.deleted.iter_mut().for_each(|d| *d = false);
                let (n, size) = self.totals();
                self.ok(&format!("Maildrop has {n} messages ({size} octets)."))
            }
            Command::Capa => {
                let lines: Vec<String> = CAPABILITIES.iter().map(|c| c.to_string()).collect();
                self.send(&capa_response(&lines))?;
                Ok(Outcome::Continue)
            }
            Command::Quit => {
                let r = self.update();
                self.send(r.as_bytes())?;
                Ok(Outcome::Quit)
            }
            Command::Stls => self.err("STLS is not available."),
            Command::User(_) | Command::Pass(_) | Command::Apop { .. } | Command::Auth { .. } => {
                self.err("Already logged in.")
            }
        }
    }

    fn ok(&mut self, text: &str) -> io::Result<Outcome> {
        let line = if text.is_empty() {
            "+OK\r\n".to_string()
        } else {
            format!("+OK {text}\r\n")
        };
        self.send(line.as_bytes())?;
        Ok(Outcome::Continue)
    }

    fn err(&mut self, text: &str) -> io::Result<Outcome> {
        self.send(format!("-ERR {text}\r\n").as_bytes())?;
        Ok(Outcome::Error)
    }

    /// RFC 1939 7 unique-id of message `i`: the one the server before us
    /// gave it, if the store kept it, else from `pop3_uidl_format`.
    fn unique_id(&self, uid_validity: u32, i: usize) -> String {
        self.mailbox
            .pop3_uidl(i)
            .unwrap_or_else(|| self.uidl.render(uid_validity, self.mailbox.uid(i)))
    }

    /// Messages not marked deleted, and their total size.
    fn totals(&self) -> (usize, u64) {
        (0..self.mailbox.count())
            .filter(|&i| !self.deleted[i])
            .fold((0, 0), |(n, s), i| {
                (n + 1, s + self.mailbox.message(i).size)
            })
    }

    /// RFC 1939 5: a message number names a message of the maildrop that is
    /// not marked deleted.
    fn index(&self, n: u32) -> Result<usize, &'static str> {
        let i = (n as usize).checked_sub(1).ok_or("No such message.")?;
        match self.deleted.get(i) {
            None => Err("No such message."),
            Some(true) => Err("Message is deleted."),
            Some(false) => Ok(i),
        }
    }

    /// RETR (`top` None) and TOP.
    fn retr(&mut self, n: u32, top: Option<u64>) -> io::Result<Outcome> {
        let i = match self.index(n) {
            Ok(i) => i,
            Err(e) => return self.err(e),
        };
        let file = match self.mailbox.open_message(i) {
            Ok(f) => f,
            Err(StoreError::Expunged) => {
                // Removed by another program (an IMAP EXPUNGE) since login.
                return self.err("Message was removed by another session.");
            }
            Err(e) => {
                log::error!("message {n}: {e}");
                self.send(b"-ERR [SYS/TEMP] Cannot read the message.\r\n")?;
                // The server's trouble, not the client's: not counted.
                return Ok(Outcome::Continue);
            }
        };
        // The first read comes before `+OK`, so that a file that cannot be
        // read at all (EIO, a directory) is a `-ERR` and the session goes on.
        let mut file = io::BufReader::with_capacity(limits::STREAM_BUFFER, file);
        if let Err(e) = io::BufRead::fill_buf(&mut file) {
            log::error!("message {n}: {e}");
            self.send(b"-ERR [SYS/TEMP] Cannot read the message.\r\n")?;
            return Ok(Outcome::Continue);
        }
        let size = self.mailbox.message(i).size;
        let first = match top {
            None => format!("+OK {size} octets\r\n"),
            Some(_) => "+OK\r\n".to_string(),
        };
        self.out.write_all(first.as_bytes())?;
        let mut reader = CrlfReader::transparent(file);
        let mut stuffer = Stuffer::new(&mut *self.out, top);
        // After `+OK` an error cannot be told to the client any more: the
        // connection ends (the caller logs it).
        stuffer.copy_from(&mut reader)?;
        stuffer.finish()?;
        self.out.flush()?;
        if top.is_none() {
            self.retrieved[i] = true;
        }
        Ok(Outcome::Continue)
    }

    /// RFC 1939 6, the UPDATE state: `\Seen` for retrieved messages, then
    /// the deletions, all or none. Returns the response line.
    fn update(&mut self) -> String {
        let mb = self.mailbox.as_ref();
        let seen: Vec<usize> = (0..mb.count())
            .filter(|&i| {
                self.retrieved[i] && !self.deleted[i] && !mb.message(i).flags.has(flag::SEEN)
            })
            .collect();
        let dele: Vec<usize> = (0..mb.count()).filter(|&i| self.deleted[i]).collect();
        let newly_marked: Vec<usize> = dele
            .iter()
            .copied()
            .filter(|&i| !mb.message(i).flags.has(flag::DELETED))
            .collect();
        let uids: Vec<Uid> = dele.iter().map(|&i| mb.uid(i)).collect();
        let retrieved = self.retrieved.iter().filter(|r| **r).count();
        if !seen.is_empty() {
            let f = Flags {
                system: flag::SEEN,
                keywords: Vec::new(),
            };
            // Not worth failing QUIT for: the messages were delivered.
            if let Err(e) = self.mailbox.store(&seen, FlagOp::Add, &f) {
                log::warn!("marking retrieved messages seen: {e}");
            }
        }
        if dele.is_empty() {
            log::info!("quit: retrieved={retrieved} deleted=0");
            return "+OK Logging out.\r\n".into();
        }
        let f = Flags {
            system: flag::DELETED,
            keywords: Vec::new(),
        };
        if let Err(e) = self.mailbox.store(&dele, FlagOp::Add, &f) {
            log::error!("marking messages deleted: {e}");
            // All or nothing: take back the marks that did get set.
            if let Err(e) = self.mailbox.store(&newly_marked, FlagOp::Remove, &f) {
                log::error!("taking back \\Deleted: {e}");
            }
            return "-ERR [SYS/TEMP] Cannot delete messages; none were removed.\r\n".into();
        }
        match self.mailbox.expunge(Some(&uids)) {
            Ok(gone) => {
                log::info!("quit: retrieved={retrieved} deleted={}", gone.len());
                format!("+OK Logging out, {} messages deleted.\r\n", gone.len())
            }
            Err(e) => {
                log::error!("removing deleted messages: {e}");
                "-ERR [SYS/TEMP] Some deleted messages were not removed.\r\n".into()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::maildir::Maildir;
    use crate::store::Store;

    fn maildrop(messages: &[&[u8]]) -> (tempfile::TempDir, Box<dyn Mailbox>) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("Maildir");
        let mut store = Maildir::open_store(root.clone()).unwrap();
        for (n, m) in messages.iter().enumerate() {
            std::fs::write(root.join("new").join(format!("100{n}.M1P1.host")), m).unwrap();
        }
        let mb = store.open("INBOX", false).unwrap();
        (dir, mb)
    }

    fn run(messages: &[&[u8]], script: &str) -> (tempfile::TempDir, String) {
        let (dir, mb) = maildrop(messages);
        let mut out = Vec::new();
        let mut input = crate::conn::Input::new(script.as_bytes());
        let _ = Session::new(mb, &mut out).run(&mut input, "+OK ready\r\n");
        (dir, String::from_utf8_lossy(&out).into_owned())
    }

    #[test]
    fn stat_list_uidl_retr_top() {
        let (_d, out) = run(
            &[b"Subject: a\n\nbody\n.dot\n", b"Subject: b\r\n\r\nno end"],
            "STAT\r\nLIST\r\nLIST 2\r\nUIDL 1\r\nRETR 1\r\nTOP 2 0\r\nQUIT\r\n",
        );
        assert!(out.contains("+OK 2 46\r\n"), "{out}");
        assert!(
            out.contains("+OK 2 messages (46 octets)\r\n1 26\r\n2 20\r\n.\r\n"),
            "{out}"
        );
        assert!(out.contains("+OK 2 20\r\n"), "{out}");
        assert!(
            out.contains("+OK 26 octets\r\nSubject: a\r\n\r\nbody\r\n..dot\r\n.\r\n"),
            "{out}"
        );
        assert!(out.contains("+OK\r\nSubject: b\r\n\r\n.\r\n"), "{out}");
        assert!(out.ends_with("+OK Logging out.\r\n"), "{out}");
    }

    #[test]
    fn deleted_and_missing_numbers_are_refused() {
        let (_d, out) = run(
            &[b"a\r\n", b"b\r\n"],
            "DELE 1\r\nRETR 1\r\nLIST 1\r\nDELE 1\r\nLIST 3\r\nLIST 0\r\nSTAT\r\nRSET\r\nLIST 1\r\n",
        );
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines,
            [
                "+OK ready",
                "+OK Message 1 deleted.",
                "-ERR Message is deleted.",
                "-ERR Message is deleted.",
                "-ERR Message is deleted.",
                "-ERR No such message.",
                "-ERR No such message.",
                "+OK 1 3",
                "+OK Maildrop has 2 messages (6 octets).",
                "+OK 1 3",
            ]
        );
    }

    #[test]
    fn deletions_happen_only_at_quit() {
        let (dir, mb) = maildrop(&[b"a\r\n", b"b\r\n", b"c\r\n"]);
        let root = dir.path().join("Maildir");
        let count = || {
            ["new", "cur"]
                .iter()
                .map(|d| std::fs::read_dir(root.join(d)).unwrap().count())
                .sum::<usize>()
        };
        let mut out = Vec::new();
        let mut input = crate::conn::Input::new(&b"DELE 1\r\nDELE 3\r\n"[..]);
        Session::new(mb, &mut out).run(&mut input, "").unwrap();
        assert_eq!(count(), 3, "no QUIT, nothing deleted");
        let mut store = Maildir::open_store(root.clone()).unwrap();
        let mb = store.open("INBOX", false).unwrap();
        let mut out = Vec::new();
        let mut input = crate::conn::Input::new(&b"RETR 2\r\nDELE 1\r\nDELE 3\r\nQUIT\r\n"[..]);
        Session::new(mb, &mut out).run(&mut input, "").unwrap();
        let out = String::from_utf8(out).unwrap();
        assert!(
            out.ends_with("+OK Logging out, 2 messages deleted.\r\n"),
            "{out}"
        );
        assert_eq!(count(), 1);
        let mb = store.open("INBOX", false).unwrap();
        assert_eq!(mb.count(), 1);
        assert!(mb.message(0).flags.has(flag::SEEN), "RETR marks \\Seen");
    }

    #[test]
    fn too_many_errors_end_the_session() {
        let script = "XXXX\r\n".repeat(limits::POP3_BAD_COMMANDS_MAX as usize + 5);
        let (_d, out) = run(&[], &script);
        assert_eq!(
            out.matches("-ERR Unknown command.").count(),
            limits::POP3_BAD_COMMANDS_MAX as usize
        );
        assert!(
            out.ends_with("-ERR Too many invalid commands.\r\n"),
            "{out}"
        );
    }

    #[test]
    fn idle_timeout_ends_without_update() {
        use std::os::fd::AsFd;
        let (dir, mb) = maildrop(&[b"a\r\n"]);
        let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
        std::io::Write::write_all(&mut b, b"DELE 1\r\n").unwrap();
        let fd = a.as_fd().try_clone_to_owned().unwrap();
        let mut input =
            crate::conn::Input::with_timeout(a, fd, std::time::Duration::from_millis(100));
        let mut out = Vec::new();
        let e = Session::new(mb, &mut out).run(&mut input, "").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "+OK Message 1 deleted.\r\n-ERR Disconnected for inactivity.\r\n"
        );
        let root = dir.path().join("Maildir");
        let n: usize = ["new", "cur"]
            .iter()
            .map(|d| std::fs::read_dir(root.join(d)).unwrap().count())
            .sum();
        assert_eq!(n, 1, "no UPDATE after a timeout");
        drop(b);
    }

    #[test]
    fn uidl_formats() {
        let f = |t: &str| {
            crate::config::UidlFormat::parse(t)
                .unwrap()
                .render(0x5f00_0001, 7)
        };
        assert_eq!(f("%08Xu%08Xv"), "000000075f000001");
        // UW-IMAP's ipop3d: sprintf "%08lx%08lx" of UIDVALIDITY and UID.
        assert_eq!(
            f("%08Xv%08Xu"),
            format!("{:08x}{:08x}", 0x5f00_0001u32, 7u32)
        );
        assert_eq!(f("%v.%u"), "1593835521.7");
        assert_eq!(f("%u"), "7");
        assert_eq!(f("%v-%u"), "1593835521-7");
        assert_eq!(f("%05u%%x"), "00007%x");
        for bad in [
            "%v",
            "%8u",
            "%q",
            "a b%u",
            "%u\u{e9}",
            "%0999u",
            &"x".repeat(70),
        ] {
            assert!(crate::config::UidlFormat::parse(bad).is_err(), "{bad:?}");
        }
    }
}
