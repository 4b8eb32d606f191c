//! The IMAP session: the state machine of RFC 3501 3, which command is
//! allowed in which state (one table), and the reporting of changes made by
//! others (EXISTS, RECENT, EXPUNGE, FETCH FLAGS) where RFC 3501 7.4.1 allows.
//! Command behaviour lives in `cmd/`, one file per command or family.

use std::io;

use crate::conn::ClientInput;

use crate::imap::cmd;
use crate::imap::command::{Command, CommandBody};
use crate::imap::frame::{self, FrameError};
use crate::imap::parse;
use crate::limits;
use std::ops::RangeInclusive;

use crate::store::{flag, Changes, Flags, Mailbox, Message, Store, StoreError, Uid};

/// RFC 3501 3: the four states. The selected mailbox lives in its state, so
/// no command can reach a mailbox that is not selected.
pub enum State {
    NotAuthenticated,
    Authenticated,
    Selected(Selected),
    Logout,
}

/// The selected mailbox and what the session must remember about it.
pub struct Selected {
    pub name: String,
    pub mailbox: Box<dyn Mailbox>,
    /// The mailbox's HIGHESTMODSEQ when the client last knew all of it,
    /// expunges included: what RFC 7162 3.2 has us tell while expunges
    /// are held back and flag changes of higher modseqs go out.
    pub complete_modseq: crate::store::ModSeq,
    /// RFC 5182: the UIDs of the last `SEARCH RETURN (SAVE)`, what `$`
    /// names; empty at SELECT. Expunged ones are skipped where `$` is
    /// used (`cmd::fill_saved`).
    pub saved: Vec<u32>,
    /// RFC 5267: the searches kept up to date (`cmd::context`).
    pub contexts: Vec<crate::imap::cmd::context::SearchContext>,
}

impl Selected {
    pub fn new(name: String, mailbox: Box<dyn Mailbox>) -> Selected {
        let complete_modseq = mailbox.highest_modseq();
        Selected {
            name,
            mailbox,
            complete_modseq,
            saved: Vec::new(),
            contexts: Vec::new(),
        }
    }
}

/// How a command failed, and so what the client is told.
#[derive(Debug)]
pub enum Error {
    /// Tagged BAD: the command was not understood or not valid here.
    Bad(String),
    /// Tagged NO with an optional response code (RFC 5530 names).
    No(Option<String>, String),
    /// The session cannot go on: BYE if possible, then exit.
    Fatal(String),
    /// The session ends without anything being wrong with the server: the
    /// client went away, or the selected mailbox is gone. `* BYE` with this
    /// text if the client still listens, then a normal exit.
    Bye(String),
}

impl Error {
    pub fn no(text: impl Into<String>) -> Error {
        Error::No(None, text.into())
    }
    pub fn no_code(code: &str, text: impl Into<String>) -> Error {
        Error::No(Some(code.into()), text.into())
    }
}

impl From<io::Error> for Error {
    /// An error reading one message's file is a NO for the command; any
    /// other I/O error (the client's connection) ends the session.
    fn from(e: io::Error) -> Error {
        if crate::store::is_message_fault(&e) {
            return StoreError::Unreadable(e.to_string()).into();
        }
        Error::Fatal(format!("I/O error: {e}"))
    }
}

impl From<StoreError> for Error {
    /// The store's errors with the RFC 5530 response code each deserves.
    fn from(e: StoreError) -> Error {
        let text = e.to_string();
        match e {
            StoreError::NotFound => Error::no_code("NONEXISTENT", text),
            StoreError::AlreadyExists => Error::no_code("ALREADYEXISTS", text),
            StoreError::BadName(_) => Error::no_code("CANNOT", text),
            StoreError::NotAllowed(_) => Error::no_code("CANNOT", text),
            StoreError::HasChildren => Error::no_code("HASCHILDREN", text),
            StoreError::Limit(_) => Error::no_code("LIMIT", text),
            StoreError::OverQuota => Error::no_code("OVERQUOTA", text),
            StoreError::Expunged => Error::no_code("EXPUNGEISSUED", text),
            StoreError::InUse => Error::no_code("INUSE", text),
            StoreError::Corrupt(_) => Error::no_code("CORRUPTION", text),
            StoreError::Unreadable(why) => {
                log::warn!("{why}");
                Error::no_code(
                    UNAVAILABLE,
                    "A message cannot be read now; see the server log.",
                )
            }
            StoreError::Io(ref io) => {
                log::error!("store: {io}");
                Error::no_code(
                    "SERVERBUG",
                    "Internal error occurred. Refer to server log for more information.",
                )
            }
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// RFC 5530's code for a message whose file cannot be read now.
pub const UNAVAILABLE: &str = "UNAVAILABLE";

/// A command's successful outcome: the tagged OK's response code and text.
pub struct Done {
    pub code: Option<String>,
    pub text: String,
}

impl Done {
    pub fn ok(text: impl Into<String>) -> Result<Done> {
        Ok(Done {
            code: None,
            text: text.into(),
        })
    }
    pub fn code(code: impl Into<String>, text: impl Into<String>) -> Result<Done> {
        Ok(Done {
            code: Some(code.into()),
            text: text.into(),
        })
    }
}

/// What the main loop does after a command.
#[derive(PartialEq, Eq)]
enum Flow {
    Continue,
    Stop,
}

/// The capabilities this server implements, in every authenticated state.
pub const CAPABILITIES: &str = "IMAP4rev1 IMAP4rev2 LITERAL+ SASL-IR ID ENABLE IDLE NAMESPACE UNSELECT UIDPLUS MOVE CHILDREN MULTIAPPEND STATUS=SIZE CONDSTORE QRESYNC ESEARCH LIST-EXTENDED LIST-STATUS SPECIAL-USE CREATE-SPECIAL-USE WITHIN SEARCHRES XLIST PREVIEW SORT SORT=DISPLAY ESORT SAVEDATE OBJECTID QUOTA QUOTA=RES-STORAGE QUOTA=RES-MESSAGE UTF8=ACCEPT CATENATE URL-PARTIAL URLAUTH URLAUTH=BINARY NOTIFY COMPRESS=DEFLATE BINARY MULTISEARCH CONTEXT=SEARCH CONTEXT=SORT I18NLEVEL=1 THREAD=ORDEREDSUBJECT THREAD=REFERENCES THREAD=REFS APPENDLIMIT=268435456";

pub struct Session<'a> {
    pub state: State,
    pub store: Option<Box<dyn Store>>,
    pub out: &'a mut dyn crate::conn::ClientOutput,
    /// RFC 4978: COMPRESS was answered OK; both directions deflate from
    /// the octet after that answer.
    pub start_compress: bool,
    bad_commands: u32,
    /// What the client enabled, for the rest of the session.
    pub enabled: Enabled,
    /// Who the session is, for URLAUTH (`cmd::urlauth`).
    pub identity: crate::imap::cmd::urlauth::Identity,
    /// RFC 5465: what NOTIFY SET asked for (`cmd::notify`).
    pub notify: Option<crate::imap::cmd::notify::Notify>,
}

impl<'a> Session<'a> {
    /// A session for a user who is already authenticated (PREAUTH: ssh,
    /// mutt's `tunnel=`, mbsync's `Tunnel`).
    pub fn preauth(
        store: Box<dyn Store>,
        out: &'a mut dyn crate::conn::ClientOutput,
    ) -> Session<'a> {
        Session {
            state: State::Authenticated,
            store: Some(store),
            out,
            start_compress: false,
            bad_commands: 0,
            enabled: Enabled::default(),
            identity: Default::default(),
            notify: None,
        }
    }

    /// RFC 7162 3.2.3: ENABLE QRESYNC, which enables CONDSTORE too.
    pub fn enable_qresync(&mut self) -> Result<()> {
        self.enable_condstore()?;
        self.enabled.qresync = true;
        Ok(())
    }

    /// RFC 7162 3.1: a CONDSTORE-enabling command was given. Enabled with
    /// a mailbox selected, the client learns its HIGHESTMODSEQ at once
    /// (as Dovecot tells it), before the command's own responses.
    pub fn enable_condstore(&mut self) -> Result<()> {
        if self.enabled.condstore {
            return Ok(());
        }
        self.enabled.condstore = true;
        if let State::Selected(sel) = &self.state {
            let n = sel.complete_modseq;
            self.out
                .write_all(format!("* OK [HIGHESTMODSEQ {n}] Highest\r\n").as_bytes())?;
        }
        Ok(())
    }

    pub fn capabilities(&self) -> String {
        CAPABILITIES.to_string()
    }

    /// Runs the session until LOGOUT, EOF, timeout or a fatal error.
    pub fn run<R: ClientInput>(&mut self, input: &mut R, greeting: &str) -> io::Result<()> {
        self.out.write_all(greeting.as_bytes())?;
        self.out.flush()?;
        loop {
            if self.notify.is_some() {
                match crate::imap::cmd::notify::wait(self, input) {
                    Ok(()) => {}
                    Err(Error::Bye(text)) => {
                        let _ = self.send(format!("* BYE {text}\r\n").as_bytes());
                        return Ok(());
                    }
                    Err(Error::Fatal(why)) => {
                        log::error!("NOTIFY: {why}");
                        let _ = self.send(b"* BYE Internal error, closing the connection.\r\n");
                        return Err(io::Error::other(why));
                    }
                    // The news could not be read: said, and the session
                    // goes on.
                    Err(Error::No(_, text) | Error::Bad(text)) => {
                        log::warn!("NOTIFY: {text}");
                        self.send(b"* NO NOTIFY error, some events may have got lost\r\n")?;
                    }
                }
            }
            let frame =
                match frame::read_command(input, &mut *self.out, &mut crate::imap::spool_file) {
                    Ok(f) => f,
                    Err(FrameError::Eof) => return Ok(()),
                    Err(FrameError::Io(e)) if e.kind() == io::ErrorKind::TimedOut => {
                        let _ = self.send(b"* BYE Disconnected for inactivity.\r\n");
                        return Ok(());
                    }
                    Err(FrameError::Io(e)) => return Err(e),
                    Err(e) => {
                        // The frame was refused before it was complete (too
                        // long, literal too big): the framer says what to tell.
                        if let Some(line) = e.response() {
                            self.send(&line)?;
                        }
                        if e.is_fatal() || self.count_bad() {
                            return Ok(());
                        }
                        continue;
                    }
                };
            let command = match parse::parse_command(frame) {
                Ok(c) => c,
                Err(e) => {
                    let tag = e.tag.as_deref().unwrap_or("*");
                    self.send(format!("{tag} BAD {}\r\n", e.message).as_bytes())?;
                    if self.count_bad() {
                        return Ok(());
                    }
                    continue;
                }
            };
            if self.command(command, input)? == Flow::Stop {
                return Ok(());
            }
        }
    }

    /// Counts a bad command; true when the limit is reached and BYE was sent.
    fn count_bad(&mut self) -> bool {
        self.bad_commands += 1;
        if self.bad_commands >= limits::IMAP_BAD_COMMANDS_MAX {
            let _ = self.send(b"* BYE Too many invalid IMAP commands.\r\n");
            return true;
        }
        false
    }

    fn send(&mut self, data: &[u8]) -> io::Result<()> {
        self.out.write_all(data)?;
        self.out.flush()
    }

    fn command<R: ClientInput>(&mut self, command: Command, input: &mut R) -> io::Result<Flow> {
        let Command { tag, body } = command;
        let name = body.name();
        if let Err(why) = allowed(&self.state, &body) {
            self.send(format!("{tag} BAD {why}\r\n").as_bytes())?;
            return Ok(if self.count_bad() {
                Flow::Stop
            } else {
                Flow::Continue
            });
        }
        // RFC 3501 7.4.1: no EXPUNGE while a command that uses sequence
        // numbers runs.
        let expunge_ok = !body.uses_sequence_numbers();
        // SELECT and EXAMINE have just built the view: nothing to report yet.
        let fresh_view = matches!(
            body,
            CommandBody::Select { .. } | CommandBody::Examine { .. }
        );
        let result = cmd::dispatch(self, &tag, body, input);
        // Changes made by others go out before the tagged reply.
        let result = match result {
            Ok(done) if fresh_view => crate::imap::cmd::notify::fetch_new(self).map(|_| done),
            Ok(done) => self
                .report_changes(expunge_ok)
                .and_then(|_| crate::imap::cmd::notify::fetch_new(self))
                .map(|_| done),
            Err(e @ (Error::Fatal(_) | Error::Bye(_))) => Err(e),
            // A refused command still reports what others changed; only a
            // reason to end the session outranks its NO or BAD.
            Err(e) => match self.report_changes(expunge_ok) {
                Err(end @ (Error::Fatal(_) | Error::Bye(_))) => Err(end),
                _ => Err(e),
            },
        };
        // The client has no further command waiting: flag changes deferred
        // in its pipeline reach the file names before it is answered.
        if let State::Selected(sel) = &mut self.state {
            if sel.mailbox.renames_deferred() && !input.poll_input(std::time::Duration::ZERO)? {
                if let Err(e) = sel.mailbox.flush_renames() {
                    log::warn!("{}: flag changes not in the file names: {e}", sel.name);
                }
            }
        }
        let mut line = Vec::new();
        match result {
            Ok(done) => {
                self.bad_commands = 0;
                line.extend_from_slice(tag.as_bytes());
                line.extend_from_slice(b" OK ");
                if let Some(code) = done.code {
                    line.extend_from_slice(format!("[{code}] ").as_bytes());
                }
                line.extend_from_slice(done.text.as_bytes());
            }
            Err(Error::No(code, text)) => {
                line.extend_from_slice(tag.as_bytes());
                line.extend_from_slice(b" NO ");
                if let Some(code) = code {
                    line.extend_from_slice(format!("[{code}] ").as_bytes());
                }
                line.extend_from_slice(text.as_bytes());
            }
            Err(Error::Bad(text)) => {
                self.send(format!("{tag} BAD {text}\r\n").as_bytes())?;
                return Ok(if self.count_bad() {
                    Flow::Stop
                } else {
                    Flow::Continue
                });
            }
            Err(Error::Fatal(why)) => {
                log::error!("{name}: {why}");
                let _ = self.send(b"* BYE Internal error, closing the connection.\r\n");
                return Err(io::Error::other(why));
            }
            Err(Error::Bye(text)) => {
                let _ = self.send(format!("* BYE {text}\r\n").as_bytes());
                return Ok(Flow::Stop);
            }
        }
        line.extend_from_slice(b"\r\n");
        self.send(&line)?;
        if std::mem::take(&mut self.start_compress) {
            input.start_inflate()?;
            self.out.start_deflate()?;
        }
        Ok(if matches!(self.state, State::Logout) {
            Flow::Stop
        } else {
            Flow::Continue
        })
    }

    /// Syncs the selected mailbox and reports what others changed. With
    /// `expunge_ok` false (during FETCH, STORE, SEARCH by sequence number,
    /// RFC 3501 7.4.1) expunges are held back for a later command.
    pub fn report_changes(&mut self, expunge_ok: bool) -> Result<()> {
        let on = self.enabled;
        let State::Selected(sel) = &mut self.state else {
            return Ok(());
        };
        let changes = match sel.mailbox.sync(expunge_ok) {
            Ok(c) => c,
            // Another session deleted or renamed the selected mailbox: its
            // messages can no longer be reported truthfully, and every later
            // command would fail the same way (Dovecot also says BYE here).
            Err(StoreError::NotFound) => {
                return Err(Error::Bye(
                    "Selected mailbox was deleted or renamed, please reconnect.".into(),
                ))
            }
            Err(e) => return Err(e.into()),
        };
        let mut out = Vec::new();
        // RFC 5267: live searches lose their expunged messages first,
        // while the numbers still name them. `expunged` holds the numbers
        // as they were; `vanished` their UIDs, ascending.
        if !sel.contexts.is_empty() && changes.expunged.len() == changes.vanished.len() {
            let mut seqs = changes.expunged.clone();
            seqs.sort_unstable();
            let gone: Vec<(u32, crate::store::Uid)> = seqs
                .into_iter()
                .zip(changes.vanished.iter().copied())
                .collect();
            out.extend_from_slice(&crate::imap::cmd::context::expunged(
                &mut sel.contexts,
                &gone,
            ));
        }
        write_changes(&mut out, sel.mailbox.as_ref(), &changes, on);
        // RFC 7162 3.2: MODSEQs above an expunge not yet reported must not
        // become the client's point to resynchronise from.
        if !changes.held_back {
            sel.complete_modseq = sel.mailbox.highest_modseq();
        } else if on.condstore {
            out.extend_from_slice(
                format!("* OK [HIGHESTMODSEQ {}] Highest\r\n", sel.complete_modseq).as_bytes(),
            );
        }
        if !sel.contexts.is_empty() {
            out.extend_from_slice(&crate::imap::cmd::context::refresh(sel)?);
        }
        self.out.write_all(&out)?;
        Ok(())
    }

    pub fn store(&mut self) -> Result<&mut dyn Store> {
        match self.store.as_deref_mut() {
            Some(s) => Ok(s),
            None => Err(Error::Bad("Not authenticated".into())),
        }
    }

    pub fn selected(&mut self) -> Result<&mut Selected> {
        match &mut self.state {
            State::Selected(s) => Ok(s),
            _ => Err(Error::Bad("No mailbox selected".into())),
        }
    }
}

/// The RFC 7162 extensions a client enabled; they change how changes are
/// reported.
#[derive(Clone, Copy, Debug, Default)]
pub struct Enabled {
    /// RFC 7162 3.1: by ENABLE or an enabling command: SELECT says
    /// HIGHESTMODSEQ, every FETCH of changed flags carries MODSEQ.
    pub condstore: bool,
    /// RFC 7162 3.2.3: by ENABLE QRESYNC: SELECT takes the QRESYNC
    /// parameter, UID FETCH the VANISHED modifier, and expunges are
    /// reported as `* VANISHED` instead of EXPUNGE.
    pub qresync: bool,
}

/// Writes the untagged responses for `changes` (RFC 3501 7.3.1, 7.3.2,
/// 7.4.1, 7.4.2); with CONDSTORE flag changes carry their MODSEQ, with
/// QRESYNC expunges are one `* VANISHED` of their UIDs (RFC 7162 3.2,
/// 3.2.10).
pub fn write_changes(out: &mut Vec<u8>, mailbox: &dyn Mailbox, changes: &Changes, on: Enabled) {
    if on.qresync {
        write_vanished(out, false, &uid_ranges(&changes.vanished));
    } else {
        for seq in &changes.expunged {
            out.extend_from_slice(format!("* {seq} EXPUNGE\r\n").as_bytes());
        }
    }
    if changes.keywords_changed {
        write_flags_responses(out, mailbox);
    }
    if let Some(n) = changes.exists {
        out.extend_from_slice(format!("* {n} EXISTS\r\n").as_bytes());
    }
    // RECENT goes with EXISTS: an expunge lowers it too, but the client
    // counts that itself (as Dovecot, which sends RECENT only with EXISTS).
    let rev2 = crate::imap::response::imap4rev2();
    if let (Some(_), Some(n), false) = (changes.exists, changes.recent, rev2) {
        out.extend_from_slice(format!("* {n} RECENT\r\n").as_bytes());
    }
    for &seq in &changes.flags {
        let i = seq as usize - 1;
        if i < mailbox.count() {
            let m = mailbox.message(i);
            out.extend_from_slice(format!("* {seq} FETCH (UID {} FLAGS ", m.uid).as_bytes());
            write_message_flags(out, &m);
            if on.condstore {
                write_modseq(out, &m);
            }
            out.extend_from_slice(b")\r\n");
        }
    }
}

/// `* FLAGS` and `* OK [PERMANENTFLAGS]` (RFC 3501 7.2.6, 7.1).
pub fn write_flags_responses(out: &mut Vec<u8>, mailbox: &dyn Mailbox) {
    let keywords = mailbox.keywords();
    out.extend_from_slice(b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft");
    for k in &keywords {
        out.push(b' ');
        out.extend_from_slice(k.as_bytes());
    }
    out.extend_from_slice(b")\r\n");
    if mailbox.read_only() {
        out.extend_from_slice(b"* OK [PERMANENTFLAGS ()] Read-only mailbox.\r\n");
        return;
    }
    out.extend_from_slice(b"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft");
    for k in &keywords {
        out.push(b' ');
        out.extend_from_slice(k.as_bytes());
    }
    if mailbox.can_create_keywords() {
        out.extend_from_slice(b" \\*");
    }
    out.extend_from_slice(b")] Flags permitted.\r\n");
}

/// RFC 3501 `flag-list` of a stored flag set (no `\Recent`).
pub fn write_flag_list(out: &mut Vec<u8>, flags: &Flags) {
    out.push(b'(');
    let mut first = true;
    for (bit, name) in flag::ALL {
        if flags.has(bit) {
            if !first {
                out.push(b' ');
            }
            first = false;
            out.extend_from_slice(name.as_bytes());
        }
    }
    for k in &flags.keywords {
        if !first {
            out.push(b' ');
        }
        first = false;
        out.extend_from_slice(k.as_bytes());
    }
    out.push(b')');
}

/// RFC 7162 `* VANISHED [(EARLIER)] uids`, nothing for no UIDs.
pub fn write_vanished(out: &mut Vec<u8>, earlier: bool, uids: &[RangeInclusive<Uid>]) {
    if uids.is_empty() {
        return;
    }
    out.extend_from_slice(b"* VANISHED ");
    if earlier {
        out.extend_from_slice(b"(EARLIER) ");
    }
    for (i, r) in uids.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        if r.start() == r.end() {
            out.extend_from_slice(r.start().to_string().as_bytes());
        } else {
            out.extend_from_slice(format!("{}:{}", r.start(), r.end()).as_bytes());
        }
    }
    out.extend_from_slice(b"\r\n");
}

/// Ascending UIDs as runs.
pub fn uid_ranges(uids: &[Uid]) -> Vec<RangeInclusive<Uid>> {
    let mut out: Vec<RangeInclusive<Uid>> = Vec::new();
    for &u in uids {
        match out.last_mut() {
            Some(last) if u == last.end().saturating_add(1) => *last = *last.start()..=u,
            _ => out.push(u..=u),
        }
    }
    out
}

/// ` MODSEQ (n)`: RFC 7162 `fetch-mod-resp`, after another item.
pub fn write_modseq(out: &mut Vec<u8>, m: &Message) {
    out.extend_from_slice(format!(" MODSEQ ({})", m.modseq).as_bytes());
}

/// A message's FLAGS as FETCH shows them: stored flags plus `\Recent`
/// (not in IMAP4rev2).
pub fn write_message_flags(out: &mut Vec<u8>, m: &Message) {
    let mut list = Vec::new();
    write_flag_list(&mut list, &m.flags);
    if m.recent && !crate::imap::response::imap4rev2() {
        list.pop();
        if list.len() > 1 {
            list.push(b' ');
        }
        list.extend_from_slice(b"\\Recent)");
    }
    out.extend_from_slice(&list);
}

/// The one table of which command is valid in which state (RFC 3501 6).
fn allowed(state: &State, body: &CommandBody) -> std::result::Result<(), &'static str> {
    use CommandBody::*;
    let selected = matches!(state, State::Selected(_));
    let authenticated = selected || matches!(state, State::Authenticated);
    match body {
        Capability | Noop | Logout | Id(_) => Ok(()),
        StartTls | Authenticate { .. } | Login { .. } => {
            if authenticated {
                Err("Already authenticated.")
            } else {
                Ok(())
            }
        }
        Select { .. }
        | Examine { .. }
        | Create { .. }
        | Delete { .. }
        | Rename { .. }
        | Subscribe { .. }
        | Unsubscribe { .. }
        | List { .. }
        | Lsub { .. }
        | Status { .. }
        | Append { .. }
        | Namespace
        | Enable(_)
        | Compress(_)
        | MultiSearch { .. }
        | GetQuota(_)
        | GetQuotaRoot(_)
        | SetQuota
        | Notify(_)
        | GenUrlAuth(_)
        | ResetKey { .. }
        | UrlFetch(_)
        | Idle => {
            if authenticated {
                Ok(())
            } else {
                Err("Please log in first.")
            }
        }
        Check
        | Close
        | Unselect
        | Expunge { .. }
        | Search { .. }
        | Fetch { .. }
        | Store { .. }
        | Copy { .. }
        | Move { .. }
        | CancelUpdate(_) => {
            if selected {
                Ok(())
            } else if authenticated {
                Err("No mailbox selected.")
            } else {
                Err("Please log in first.")
            }
        }
    }
}
