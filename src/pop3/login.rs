//! The AUTHORIZATION state (RFC 1939 4, 7; RFC 2449 CAPA; RFC 5034 AUTH),
//! run by the unprivileged, chrooted login process (DESIGN.md 1), as
//! `imap::login` is for IMAP: it greets, says what it can do, and relays
//! USER/PASS, APOP and AUTH to the privileged parent. It never answers a
//! successful login itself: it hands the client's unread bytes to the
//! parent, which answers `+OK` once it runs as the user and holds the
//! maildrop lock (so the answer to PASS can be `-ERR [IN-USE]`).
//!
//! What is offered on a link is decided by `imap::login::Policy`, the same
//! rule for both protocols.

use std::io::{self, Write};
use std::os::fd::OwnedFd;

use crate::auth::channel::{ToChild, ToParent};
use crate::auth::sasl::{self, Apop, Exchange, Fresh, Identity, Mechanism, Request, Step, Verdict};
use crate::conn::ClientInput;
use crate::imap::login::Policy;
use crate::imap::parse::base64_decode;
use crate::limits;
use crate::pop3::parse::{self, Command, LineError};
use crate::pop3::session::{capa_response, CAPABILITIES};

pub use crate::serve::Outcome;

const PLAINTEXT_REFUSED: &[u8] =
    b"-ERR [AUTH] Plaintext authentication disallowed on non-secure connections.\r\n";
const AUTH_FAILED: &[u8] = b"-ERR [AUTH] Authentication failed.\r\n";

pub struct Login<'a> {
    pub policy: Policy,
    out: &'a mut dyn Write,
    channel: &'a OwnedFd,
    /// The APOP timestamp of the greeting; only with a plaintext store.
    apop: Option<Apop>,
    /// The name given with USER, waiting for PASS.
    user: Option<String>,
    errors: u32,
    /// Failed logins on this connection, whoever decided them.
    failures: u32,
}

impl<'a> Login<'a> {
    pub fn new(policy: Policy, out: &'a mut dyn Write, channel: &'a OwnedFd) -> Login<'a> {
        // RFC 1939 7: APOP only where the parent can compute the digest,
        // and the timestamp in the greeting only then.
        let apop = if policy.plaintext_store {
            Fresh::new().ok().map(|f| Apop::new(&policy.host, &f))
        } else {
            None
        };
        Login {
            policy,
            out,
            channel,
            apop,
            user: None,
            errors: 0,
            failures: 0,
        }
    }

    fn send(&mut self, data: &[u8]) -> io::Result<()> {
        self.out.write_all(data)?;
        self.out.flush()
    }

    /// The greeting: `+OK`, with the APOP timestamp when APOP is offered.
    pub fn greeting(&self) -> String {
        match &self.apop {
            Some(a) => format!("+OK mailaccess POP3 ready. {}\r\n", a.timestamp()),
            None => "+OK mailaccess POP3 ready.\r\n".into(),
        }
    }

    /// The AUTHORIZATION-state capabilities: the TRANSACTION ones plus USER
    /// and SASL as this link allows (RFC 2449 6.3, 6.4).
    pub fn capabilities(&self) -> Vec<String> {
        let mut c: Vec<String> = Vec::new();
        let mechanisms = self.mechanisms();
        for cap in CAPABILITIES {
            c.push(cap.to_string());
            if *cap == "TOP" {
                if self.policy.plaintext_ok() {
                    c.push("USER".into());
                }
                if !mechanisms.is_empty() {
                    c.push(format!("SASL {}", mechanisms.join(" ")));
                }
                // RFC 2595 4: STLS only while TLS can still be started.
                if self.policy.starttls {
                    c.push("STLS".into());
                }
            }
        }
        c
    }

    fn mechanisms(&self) -> Vec<&'static str> {
        Mechanism::ALL
            .into_iter()
            .filter(|&m| self.policy.offers(m))
            .map(Mechanism::name)
            .collect()
    }

    /// Runs until login, QUIT, STLS or failure. `greet` is false after STLS
    /// (RFC 2595 4: the server does not greet again).
    pub fn run<R: ClientInput + ?Sized>(
        &mut self,
        input: &mut R,
        greet: bool,
    ) -> io::Result<Outcome> {
        if greet {
            let g = self.greeting();
            self.send(g.as_bytes())?;
            if crate::proxy::late_header_closes(
                input,
                &mut *self.out,
                b"-ERR Disconnected for inactivity.\r\n",
            ) {
                return Ok(Outcome::Closed);
            }
        }
        loop {
            // AUTH may carry an initial response longer than 255 octets
            // (RFC 5034 4); any other command may not (RFC 2449 4).
            // The line may hold a password (PASS, an AUTH initial response).
            let line = match parse::read_line(input, parse::SASL_LINE_MAX) {
                Ok(l) => zeroize::Zeroizing::new(l),
                Err(LineError::Eof) => return Ok(Outcome::Closed),
                Err(LineError::Io(e)) if e.kind() == io::ErrorKind::TimedOut => {
                    let _ = self.send(b"-ERR Disconnected for inactivity.\r\n");
                    return Ok(Outcome::Closed);
                }
                Err(LineError::Io(_)) => return Ok(Outcome::Closed),
                Err(LineError::Flood) => {
                    let _ = self.send(b"-ERR Line too long.\r\n");
                    return Ok(Outcome::Closed);
                }
                Err(LineError::TooLong) => {
                    self.send(b"-ERR Line too long.\r\n")?;
                    if self.count_error()? {
                        return Ok(Outcome::Closed);
                    }
                    continue;
                }
            };
            let is_auth = line.len() > 4 && line[..5].eq_ignore_ascii_case(b"AUTH ");
            if line.len() + 2 > limits::POP3_LINE_MAX && !is_auth {
                self.send(b"-ERR Line too long.\r\n")?;
                if self.count_error()? {
                    return Ok(Outcome::Closed);
                }
                continue;
            }
            let command = match parse::parse(&line) {
                Ok(c) => c,
                Err(e) => {
                    self.send(format!("-ERR {}\r\n", e.text()).as_bytes())?;
                    if self.count_error()? {
                        return Ok(Outcome::Closed);
                    }
                    continue;
                }
            };
            let outcome = match command {
                Command::Capa => {
                    let c = capa_response(&self.capabilities());
                    self.send(&c)?;
                    None
                }
                Command::Quit => {
                    self.send(b"+OK Logging out.\r\n")?;
                    Some(Outcome::Closed)
                }
                Command::User(name) => self.user(name)?,
                Command::Pass(password) => self.pass(input, password)?,
                Command::Apop { name, digest } => self.apop(input, &name, &digest)?,
                Command::Auth {
                    mechanism: None, ..
                } => {
                    // Thunderbird's probe: the mechanisms, one per line.
                    let mut r = b"+OK\r\n".to_vec();
                    for m in self.mechanisms() {
                        r.extend_from_slice(m.as_bytes());
                        r.extend_from_slice(b"\r\n");
                    }
                    r.extend_from_slice(b".\r\n");
                    self.send(&r)?;
                    None
                }
                Command::Auth {
                    mechanism: Some(m),
                    initial,
                } => self.authenticate(input, &m, initial)?,
                Command::Stls if self.policy.starttls => {
                    self.send(b"+OK Begin TLS negotiation.\r\n")?;
                    Some(Outcome::StartTls)
                }
                Command::Stls => self.error(b"-ERR STLS is not available.\r\n")?,
                Command::Stat
                | Command::List(_)
                | Command::Retr(_)
                | Command::Dele(_)
                | Command::Noop
                | Command::Rset
                | Command::Top { .. }
                | Command::Uidl(_) => self.error(b"-ERR Not logged in.\r\n")?,
            };
            if let Some(o) = outcome {
                return Ok(o);
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

    /// Sends an error response and counts it.
    fn error(&mut self, line: &[u8]) -> io::Result<Option<Outcome>> {
        self.send(line)?;
        if self.count_error()? {
            return Ok(Some(Outcome::Closed));
        }
        Ok(None)
    }

    /// RFC 1939 7 USER: only where plaintext passwords may cross the link.
    fn user(&mut self, name: Vec<u8>) -> io::Result<Option<Outcome>> {
        self.user = None;
        if !self.policy.plaintext_ok() {
            return self.error(PLAINTEXT_REFUSED);
        }
        match String::from_utf8(name) {
            Ok(u) if u.len() <= limits::SASL_USER_MAX && !u.chars().any(char::is_control) => {
                self.user = Some(u);
                self.send(b"+OK Send your password.\r\n")?;
                Ok(None)
            }
            _ => self.error(b"-ERR Invalid user name.\r\n"),
        }
    }

    /// RFC 1939 7 PASS, right after USER.
    fn pass<R: ClientInput + ?Sized>(
        &mut self,
        input: &mut R,
        password: Vec<u8>,
    ) -> io::Result<Option<Outcome>> {
        let password = sasl::Password::new(password);
        let Some(user) = self.user.take() else {
            return self.error(b"-ERR No user name given (USER first).\r\n");
        };
        if !self.policy.plaintext_ok() {
            return self.error(PLAINTEXT_REFUSED);
        }
        let request = Request::Plaintext {
            user: user.clone(),
            password,
        };
        match crate::auth::channel::ask(self.channel, request)? {
            (Verdict::Reject, close) => self.failed(close, None),
            _ => self.logged_in(input, &user, "USER"),
        }
    }

    /// RFC 1939 7 APOP.
    fn apop<R: ClientInput + ?Sized>(
        &mut self,
        input: &mut R,
        name: &[u8],
        digest: &[u8],
    ) -> io::Result<Option<Outcome>> {
        self.user = None;
        let Some(apop) = &self.apop else {
            return self.error(b"-ERR APOP is not available.\r\n");
        };
        let request = match apop.request(name, digest) {
            Ok(r) => r,
            Err(reason) => return self.failed(false, Some(format!("APOP: {reason}"))),
        };
        let user = request.user().to_string();
        match crate::auth::channel::ask(self.channel, request)? {
            (Verdict::Reject, close) => self.failed(close, None),
            _ => self.logged_in(input, &user, "APOP"),
        }
    }

    /// RFC 5034 AUTH with a mechanism.
    fn authenticate<R: ClientInput + ?Sized>(
        &mut self,
        input: &mut R,
        mechanism: &[u8],
        initial: Option<Vec<u8>>,
    ) -> io::Result<Option<Outcome>> {
        self.user = None;
        let Some(m) = Mechanism::from_name(mechanism).filter(|&m| self.policy.offers(m)) else {
            if Mechanism::from_name(mechanism).is_some_and(|m| m.sends_plaintext()) {
                return self.error(PLAINTEXT_REFUSED);
            }
            return self.error(b"-ERR Unsupported authentication mechanism.\r\n");
        };
        // RFC 5034 4: `=` is an empty initial response.
        let initial = initial.map(zeroize::Zeroizing::new);
        let initial = match initial.as_deref().map(Vec::as_slice) {
            None => None,
            Some(b"=") => Some(zeroize::Zeroizing::new(Vec::new())),
            Some(data) => match base64_decode(data) {
                Some(d) => Some(zeroize::Zeroizing::new(d)),
                None => return self.error(b"-ERR Invalid base64 data in initial response.\r\n"),
            },
        };
        let fresh = match Fresh::new() {
            Ok(f) => f,
            Err(_) => {
                self.send(b"-ERR [SYS/TEMP] Temporary failure.\r\n")?;
                return Ok(None);
            }
        };
        // The parent said no and the mechanism's error challenge is out.
        let mut refused = false;
        let mut exchange: Exchange = self.policy.exchange(m, fresh);
        let mut step = exchange.begin(initial.as_deref().map(Vec::as_slice));
        loop {
            step = match step {
                Step::Challenge(data) => {
                    self.send(format!("+ {}\r\n", sasl::base64_encode(&data)).as_bytes())?;
                    // RFC 5034 4: these lines are not held to 255 octets.
                    let line = match parse::read_line(input, parse::SASL_LINE_MAX) {
                        Ok(l) => zeroize::Zeroizing::new(l),
                        Err(LineError::TooLong) => {
                            return self.error(b"-ERR Authentication response too long.\r\n")
                        }
                        Err(_) => return Ok(Some(Outcome::Closed)),
                    };
                    // RFC 5034 4: `*` cancels; the answer is -ERR.
                    if line.as_slice() == b"*" {
                        self.send(b"-ERR Authentication aborted by client.\r\n")?;
                        return Ok(None);
                    }
                    match base64_decode(&line) {
                        Some(data) => {
                            let data = zeroize::Zeroizing::new(data);
                            exchange.step(&data)
                        }
                        None => return self.error(b"-ERR Invalid base64 data in response.\r\n"),
                    }
                }
                Step::Verify(request) => {
                    let (verdict, close) = crate::auth::channel::ask(self.channel, request)?;
                    if verdict == Verdict::Reject {
                        if close || !m.answers_refusal() {
                            return self.failed(close, None);
                        }
                        refused = true;
                    }
                    exchange.verdict(verdict)
                }
                Step::Done(Identity::User(user)) => return self.logged_in(input, &user, m.name()),
                Step::Done(Identity::Anonymous { trace }) => {
                    ToParent::Anonymous { trace }.send(self.channel)?;
                    return match ToChild::recv(self.channel)? {
                        Some(ToChild::Verdict {
                            verdict: Verdict::Accept,
                            ..
                        }) => self.logged_in(input, "anonymous", m.name()),
                        Some(ToChild::Verdict { close, .. }) => self.failed(close, None),
                        None => Ok(Some(Outcome::Closed)),
                    };
                }
                // The parent refused, logged and delayed it already.
                Step::Fail(_) if refused => return self.failed(false, None),
                Step::Fail(reason) => {
                    return self.failed(false, Some(format!("AUTH {}: {reason}", m.name())));
                }
            };
        }
    }

    /// RFC 3206 4: `[AUTH]` says the credentials were wrong; after the
    /// last failure allowed the connection closes.
    fn failed(&mut self, close: bool, local: Option<String>) -> io::Result<Option<Outcome>> {
        // Failures decided here (malformed) are delayed and logged here;
        // the parent does both for the rest. All count (DESIGN.md 6).
        self.failures += 1;
        if let Some(why) = local {
            log::info!("login failed: {why}");
            std::thread::sleep(self.policy.failure_delay);
        }
        self.send(AUTH_FAILED)?;
        if close || self.failures >= self.policy.max_failures {
            return Ok(Some(Outcome::Closed));
        }
        Ok(None)
    }

    /// Hands the session to the parent: who, and what the client already
    /// sent after the login command (PIPELINING). POP3 has no tag.
    fn logged_in<R: ClientInput + ?Sized>(
        &mut self,
        input: &mut R,
        user: &str,
        mechanism: &str,
    ) -> io::Result<Option<Outcome>> {
        self.out.flush()?;
        let buffered = input.take_buffered();
        ToParent::Handover {
            user: user.to_string(),
            tag: String::new(),
            mechanism: mechanism.to_string(),
            buffered,
            relay: self.policy.tls,
        }
        .send(self.channel)?;
        Ok(Some(Outcome::LoggedIn))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::channel;

    fn policy(protected: bool, plaintext_store: bool) -> Policy {
        Policy {
            protected,
            allow_plaintext: false,
            allow_anonymous: false,
            plaintext_store,
            starttls: false,
            tls: false,
            host: "pop.example.org".into(),
            failure_delay: std::time::Duration::ZERO,
            max_failures: 3,
            id_trusted: false,
            bindings: None,
            client: None,
            oauth_claim: None,
            gssapi: false,
        }
    }

    /// Runs the login state on `script` with a fake parent that accepts
    /// the password "good" (and nothing else); returns the output and the
    /// handover, if any.
    fn run(p: Policy, script: &[u8]) -> (String, Option<ToParent>) {
        let (parent, child) = channel::pair().unwrap();
        let fake = std::thread::spawn(move || {
            let mut handover = None;
            while let Ok(Some(msg)) = ToParent::recv(&parent) {
                match msg {
                    ToParent::Verify(Request::Plaintext { password, .. }) => {
                        let verdict = if password.as_bytes() == b"good" {
                            Verdict::Accept
                        } else {
                            Verdict::Reject
                        };
                        ToChild::Verdict {
                            verdict,
                            close: false,
                        }
                        .send(&parent)
                        .unwrap();
                    }
                    ToParent::Verify(_) | ToParent::Anonymous { .. } => ToChild::Verdict {
                        verdict: Verdict::Reject,
                        close: false,
                    }
                    .send(&parent)
                    .unwrap(),
                    // POP3 has no ID.
                    ToParent::Origin { .. } => panic!("POP3 sent an origin"),
                    h @ ToParent::Handover { .. } => {
                        handover = Some(h);
                        break;
                    }
                }
            }
            handover
        });
        let mut out = Vec::new();
        let mut input = crate::conn::Input::new(script);
        Login::new(p, &mut out, &child)
            .run(&mut input, true)
            .unwrap();
        drop(child);
        let h = fake.join().unwrap();
        (String::from_utf8(out).unwrap(), h)
    }

    #[test]
    fn capa_follows_the_link() {
        let (out, _) = run(policy(true, false), b"CAPA\r\nQUIT\r\n");
        assert_eq!(
            out,
            "+OK mailaccess POP3 ready.\r\n+OK Capability list follows\r\nTOP\r\nUSER\r\nSASL PLAIN LOGIN\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\nUIDL\r\nEXPIRE NEVER\r\nLOGIN-DELAY 0\r\nIMPLEMENTATION mailaccess\r\n.\r\n+OK Logging out.\r\n"
        );
        let (out, _) = run(policy(false, true), b"CAPA\r\nAUTH\r\nUSER x\r\n");
        assert!(out.starts_with("+OK mailaccess POP3 ready. <"), "{out}");
        assert!(!out.contains("\r\nUSER\r\n"), "{out}");
        assert!(
            out.contains("\r\nSASL CRAM-MD5 SCRAM-SHA-1 SCRAM-SHA-256\r\n"),
            "{out}"
        );
        assert!(
            out.contains("+OK\r\nCRAM-MD5\r\nSCRAM-SHA-1\r\nSCRAM-SHA-256\r\n.\r\n"),
            "{out}"
        );
        assert!(
            out.ends_with(
                "-ERR [AUTH] Plaintext authentication disallowed on non-secure connections.\r\n"
            ),
            "{out}"
        );
        let (out, _) = run(policy(false, false), b"CAPA\r\n");
        assert!(!out.contains("SASL"), "{out}");
    }

    #[test]
    fn user_pass_hands_over_what_follows() {
        let (out, h) = run(
            policy(true, false),
            b"PASS x\r\nUSER alice\r\nPASS bad\r\nUSER alice\r\nPASS good\r\nSTAT\r\nQUIT\r\n",
        );
        assert_eq!(
            out,
            "+OK mailaccess POP3 ready.\r\n-ERR No user name given (USER first).\r\n+OK Send your password.\r\n-ERR [AUTH] Authentication failed.\r\n+OK Send your password.\r\n"
        );
        match h {
            Some(ToParent::Handover {
                user,
                tag,
                buffered,
                mechanism,
                relay: false,
            }) => {
                assert_eq!((user.as_str(), tag.as_str()), ("alice", ""));
                assert_eq!(mechanism, "USER");
                assert_eq!(buffered, b"STAT\r\nQUIT\r\n");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn auth_plain_initial_response_cancel_and_long_lines() {
        // "\0alice\0good"
        let (out, h) = run(policy(true, false), b"AUTH PLAIN AGFsaWNlAGdvb2Q=\r\n");
        assert_eq!(out, "+OK mailaccess POP3 ready.\r\n");
        assert!(matches!(h, Some(ToParent::Handover { .. })));
        let (out, h) = run(
            policy(true, false),
            b"AUTH PLAIN\r\n*\r\nAUTH LOGIN\r\nYWxpY2U=\r\nZ29vZA==\r\n",
        );
        assert_eq!(
            out,
            "+OK mailaccess POP3 ready.\r\n+ \r\n-ERR Authentication aborted by client.\r\n+ VXNlcm5hbWU6\r\n+ UGFzc3dvcmQ6\r\n"
        );
        assert!(matches!(h, Some(ToParent::Handover { .. })));
        // A response line far over 255 octets is read whole (RFC 5034).
        let long = sasl::base64_encode(&[b'x'; 1000]);
        let (out, _) = run(
            policy(true, false),
            format!("AUTH PLAIN\r\n{long}\r\nQUIT\r\n").as_bytes(),
        );
        assert!(
            out.ends_with("-ERR [AUTH] Authentication failed.\r\n+OK Logging out.\r\n"),
            "{out}"
        );
        // Other commands are held to 255.
        let (out, _) = run(
            policy(true, false),
            format!("USER {}\r\nQUIT\r\n", "u".repeat(300)).as_bytes(),
        );
        assert!(
            out.ends_with("-ERR Line too long.\r\n+OK Logging out.\r\n"),
            "{out}"
        );
    }

    #[test]
    fn unknown_mechanisms_and_transaction_commands() {
        let (out, _) = run(
            policy(false, false),
            b"AUTH PLAIN\r\nAUTH GSSAPI\r\nAUTH CRAM-MD5\r\nSTAT\r\nAPOP a 0123456789abcdef0123456789abcdef\r\nQUIT\r\n",
        );
        assert_eq!(
            out,
            "+OK mailaccess POP3 ready.\r\n-ERR [AUTH] Plaintext authentication disallowed on non-secure connections.\r\n-ERR Unsupported authentication mechanism.\r\n-ERR Unsupported authentication mechanism.\r\n-ERR Not logged in.\r\n-ERR APOP is not available.\r\n+OK Logging out.\r\n"
        );
    }

    #[test]
    fn apop_goes_to_the_parent() {
        let (out, h) = run(
            policy(false, true),
            b"APOP alice 0123456789abcdef0123456789abcdef\r\nAPOP alice nothex\r\nQUIT\r\n",
        );
        assert!(out.ends_with("-ERR [AUTH] Authentication failed.\r\n-ERR [AUTH] Authentication failed.\r\n+OK Logging out.\r\n"), "{out}");
        assert!(h.is_none());
    }
}
