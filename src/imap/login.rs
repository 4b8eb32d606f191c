//! The not-authenticated IMAP state (RFC 3501 6.1, 6.2), run by the
//! unprivileged, chrooted login process (DESIGN.md 1), like Dovecot's
//! imap-login: it can greet, say what it can do, and relay a login to the
//! privileged parent; it cannot touch mail. After a successful login it
//! hands the tag and the client's unread bytes to the parent, which answers
//! the tagged OK once it runs as the user.

use std::io::{self, Write};
use std::os::fd::OwnedFd;

use crate::auth::channel::{ToChild, ToParent};
use crate::auth::sasl::{
    self, Exchange, Fresh, Identity, Mechanism, Reason, Request, Step, Verdict,
};
use crate::conn::ClientInput;
use crate::imap::command::CommandBody;
use crate::imap::frame::{self, FrameError};
use crate::imap::{parse, response};
use crate::limits;
use crate::serve::Outcome;

/// What this connection may do before login.
#[derive(Clone, Debug)]
pub struct Policy {
    /// The link cannot be read by others: TLS, `--wrapped`, or loopback.
    pub protected: bool,
    /// `allow_plaintext_auth = yes`.
    pub allow_plaintext: bool,
    pub allow_anonymous: bool,
    /// The credential store has plaintext passwords (sasldb), so CRAM-MD5
    /// and SCRAM (SHA-1, SHA-256) can be offered.
    pub plaintext_store: bool,
    /// STARTTLS can be offered (a certificate is configured, TLS not active).
    pub starttls: bool,
    /// TLS is active on this link: after login this process relays it.
    pub tls: bool,
    /// For CRAM-MD5 challenges.
    pub host: String,
    /// `auth_failure_delay` and `auth_max_failures`, for failures decided
    /// here (a malformed exchange): the parent applies them to the rest.
    pub failure_delay: std::time::Duration,
    pub max_failures: u32,
    /// The peer is in `trusted_id_proxies`: an ID's `x-originating-ip`
    /// goes to the parent (which checks the same).
    pub id_trusted: bool,
    /// Over TLS: the channel bindings SCRAM's -PLUS variants use.
    pub bindings: Option<crate::auth::sasl::ChannelBindings>,
    /// Over TLS: the client's verified certificate (EXTERNAL).
    pub client: Option<crate::auth::sasl::ClientCert>,
    /// OAUTHBEARER and XOAUTH2 (`oauth2_jwks` set): the claim naming the
    /// user.
    pub oauth_claim: Option<String>,
    /// GSSAPI (`gssapi_keytab` set).
    pub gssapi: bool,
}

impl Policy {
    /// The policy for a link as configured: what this connection may do
    /// before login, in either protocol. ANONYMOUS only where the protocol
    /// has something to serve with it (`anonymous`).
    pub fn for_link(
        config: &crate::config::Config,
        opts: &crate::cli::Options,
        peer: &crate::conn::Peer,
        link: crate::serve::Link,
        anonymous: bool,
    ) -> Policy {
        Policy {
            protected: link.tls || crate::serve::link_protected(opts, peer),
            allow_plaintext: config.allow_plaintext_auth,
            allow_anonymous: anonymous,
            plaintext_store: crate::auth::server::has_plaintext_store(config),
            starttls: link.starttls,
            tls: link.tls,
            host: crate::serve::host_name(config),
            failure_delay: config.auth_failure_delay,
            max_failures: config.auth_max_failures,
            id_trusted: crate::proxy::listed(&config.trusted_id_proxies, peer.ip),
            bindings: link.bindings,
            oauth_claim: (!config.oauth2_jwks.is_empty()).then(|| config.oauth2_user_claim.clone()),
            gssapi: !config.gssapi_keytab.is_empty(),
            client: link
                .client_chain
                .map(|chain| crate::auth::sasl::ClientCert {
                    user: chain.first().and_then(|leaf| {
                        crate::tls::certificate_user(leaf, &config.tls_client_user)
                    }),
                    chain,
                }),
        }
    }

    /// Plaintext passwords may cross this link (RFC 3501 6.2.3 LOGINDISABLED;
    /// POP3 USER and RFC 2449 `USER` capability).
    pub fn plaintext_ok(&self) -> bool {
        self.protected || self.allow_plaintext
    }

    /// Whether `m` is offered on this link with this backend; POP3's SASL
    /// capability and AUTH use the same rule.
    pub fn offers(&self, m: Mechanism) -> bool {
        match m {
            Mechanism::Plain | Mechanism::Login => self.plaintext_ok(),
            Mechanism::CramMd5 | Mechanism::ScramSha1 | Mechanism::ScramSha256 => {
                self.plaintext_store
            }
            Mechanism::ScramSha1Plus | Mechanism::ScramSha256Plus => {
                self.plaintext_store && self.bindings.is_some()
            }
            Mechanism::External => self.client.is_some(),
            // Tokens are secrets: where passwords may go.
            Mechanism::OAuthBearer | Mechanism::XOAuth2 => {
                self.oauth_claim.is_some() && self.plaintext_ok()
            }
            // No secret crosses the link (a ticket for this service).
            Mechanism::Gssapi => self.gssapi,
            Mechanism::Anonymous => self.allow_anonymous,
        }
    }

    /// A new exchange of `m` on this link, in either protocol: with the
    /// channel bindings when the -PLUS mechanisms are offered (a SCRAM
    /// client's `y` flag is then a downgrade), the client certificate
    /// (EXTERNAL) and the token's user claim (OAUTHBEARER, XOAUTH2).
    pub fn exchange(&self, m: Mechanism, fresh: crate::auth::sasl::Fresh) -> Exchange {
        let plus = self
            .bindings
            .clone()
            .filter(|_| self.offers(Mechanism::ScramSha256Plus));
        m.start(&self.host, fresh)
            .with_bindings(plus)
            .with_client(self.client.clone())
            .with_oauth_claim(self.oauth_claim.clone())
    }

    /// The pre-login CAPABILITY list: it tells the truth about this link.
    pub fn capabilities(&self) -> String {
        let mut c = String::from("IMAP4rev1 IMAP4rev2 SASL-IR LITERAL+ ID ENABLE IDLE");
        if self.starttls {
            c.push_str(" STARTTLS");
        }
        for m in Mechanism::ALL {
            if self.offers(m) {
                c.push_str(" AUTH=");
                c.push_str(m.name());
            }
        }
        if !self.plaintext_ok() {
            c.push_str(" LOGINDISABLED");
        }
        c
    }
}

pub struct Login<'a> {
    pub policy: Policy,
    out: &'a mut dyn Write,
    channel: &'a OwnedFd,
    bad_commands: u32,
    /// Failed logins on this connection, whoever decided them.
    failures: u32,
}

impl<'a> Login<'a> {
    pub fn new(policy: Policy, out: &'a mut dyn Write, channel: &'a OwnedFd) -> Login<'a> {
        Login {
            policy,
            out,
            channel,
            bad_commands: 0,
            failures: 0,
        }
    }

    fn send(&mut self, data: &[u8]) -> io::Result<()> {
        self.out.write_all(data)?;
        self.out.flush()
    }

    /// Runs until login, logout or failure. `greet` is false after STARTTLS
    /// (RFC 3501 6.2.1: no new greeting).
    pub fn run<R: ClientInput + ?Sized>(
        &mut self,
        input: &mut R,
        greet: bool,
    ) -> io::Result<Outcome> {
        if greet {
            let g = format!(
                "* OK [CAPABILITY {}] mailaccess ready.\r\n",
                self.policy.capabilities()
            );
            self.send(g.as_bytes())?;
            if crate::proxy::late_header_closes(
                input,
                &mut *self.out,
                b"* BYE Disconnected for inactivity.\r\n",
            ) {
                return Ok(Outcome::Closed);
            }
        }
        loop {
            // Before login there is nowhere to spool a large literal: the
            // process is chrooted into an empty directory. APPEND is not
            // valid here anyway.
            let mut no_spool = || {
                Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    "not logged in",
                ))
            };
            let frame = match frame::read_command(input, &mut *self.out, &mut no_spool) {
                Ok(f) => f,
                Err(FrameError::Eof) => return Ok(Outcome::Closed),
                Err(FrameError::Io(e)) if e.kind() == io::ErrorKind::TimedOut => {
                    let _ = self.send(b"* BYE Disconnected for inactivity.\r\n");
                    return Ok(Outcome::Closed);
                }
                Err(FrameError::Io(_)) => return Ok(Outcome::Closed),
                Err(e) => {
                    if let Some(line) = e.response() {
                        self.send(&line)?;
                    }
                    if e.is_fatal() || self.count_bad()? {
                        return Ok(Outcome::Closed);
                    }
                    continue;
                }
            };
            let command = match parse::parse_command(frame) {
                Ok(c) => c,
                Err(e) => {
                    let tag = e.tag.as_deref().unwrap_or("*");
                    self.send(format!("{tag} BAD {}\r\n", e.message).as_bytes())?;
                    if self.count_bad()? {
                        return Ok(Outcome::Closed);
                    }
                    continue;
                }
            };
            let tag = command.tag;
            let outcome = match command.body {
                CommandBody::Capability => {
                    let c = format!(
                        "* CAPABILITY {}\r\n{tag} OK Capability completed.\r\n",
                        self.policy.capabilities()
                    );
                    self.send(c.as_bytes())?;
                    None
                }
                CommandBody::Noop => {
                    self.send(format!("{tag} OK NOOP completed.\r\n").as_bytes())?;
                    None
                }
                CommandBody::Logout => {
                    self.send(
                        format!("* BYE Logging out\r\n{tag} OK Logout completed.\r\n").as_bytes(),
                    )?;
                    Some(Outcome::Closed)
                }
                CommandBody::Id(params) => {
                    match originating(params.as_deref()) {
                        Some((ip, port)) if self.policy.id_trusted => {
                            ToParent::Origin { ip, port }.send(self.channel)?
                        }
                        Some((ip, _)) => log::warn!(
                            "ID x-originating-ip {} ignored (not in trusted_id_proxies)",
                            crate::log::printable(&ip)
                        ),
                        None => {}
                    }
                    let mut out = response::id(params.as_deref());
                    out.extend_from_slice(format!("{tag} OK ID completed.\r\n").as_bytes());
                    self.send(&out)?;
                    None
                }
                CommandBody::StartTls => {
                    if self.policy.starttls {
                        self.send(format!("{tag} OK Begin TLS negotiation now.\r\n").as_bytes())?;
                        Some(Outcome::StartTls)
                    } else {
                        self.send(format!("{tag} BAD STARTTLS is not available.\r\n").as_bytes())?;
                        None
                    }
                }
                CommandBody::Login { userid, password } => {
                    self.login(input, &tag, userid, password)?
                }
                CommandBody::Authenticate {
                    mechanism,
                    initial_response,
                } => self.authenticate(input, &tag, &mechanism, initial_response)?,
                _ => {
                    self.send(format!("{tag} BAD Please log in first.\r\n").as_bytes())?;
                    if self.count_bad()? {
                        Some(Outcome::Closed)
                    } else {
                        None
                    }
                }
            };
            if let Some(o) = outcome {
                return Ok(o);
            }
        }
    }

    fn count_bad(&mut self) -> io::Result<bool> {
        self.bad_commands += 1;
        if self.bad_commands >= limits::IMAP_BAD_COMMANDS_MAX {
            self.send(b"* BYE Too many invalid IMAP commands.\r\n")?;
            return Ok(true);
        }
        Ok(false)
    }

    /// RFC 3501 6.2.3 LOGIN.
    fn login<R: ClientInput + ?Sized>(
        &mut self,
        input: &mut R,
        tag: &str,
        userid: Vec<u8>,
        password: Vec<u8>,
    ) -> io::Result<Option<Outcome>> {
        let password = sasl::Password::new(password);
        if !self.policy.plaintext_ok() {
            // RFC 5530 PRIVACYREQUIRED; the password already crossed the
            // link, so say so (as Dovecot does).
            self.send(
                format!(
                    "* BAD [ALERT] Plaintext authentication not allowed without TLS, but your client did it anyway. If anyone was listening, the password was exposed.\r\n{tag} NO [PRIVACYREQUIRED] Plaintext authentication disallowed on non-secure connections.\r\n"
                )
                .as_bytes(),
            )?;
            return Ok(None);
        }
        let Ok(user) = String::from_utf8(userid) else {
            return self.failed(tag, false, None, Some("LOGIN: user name not UTF-8".into()));
        };
        let request = Request::Plaintext {
            user: user.clone(),
            password,
        };
        match crate::auth::channel::ask(self.channel, request)? {
            (Verdict::Reject, close) => self.failed(tag, close, None, None),
            (_, _) => self.logged_in(input, tag, &user, "LOGIN"),
        }
    }

    /// RFC 3501 6.2.2 AUTHENTICATE, with SASL-IR (RFC 4959).
    fn authenticate<R: ClientInput + ?Sized>(
        &mut self,
        input: &mut R,
        tag: &str,
        mechanism: &str,
        initial: Option<Vec<u8>>,
    ) -> io::Result<Option<Outcome>> {
        let Some(m) = Mechanism::from_name(mechanism.as_bytes()).filter(|&m| self.policy.offers(m))
        else {
            if Mechanism::from_name(mechanism.as_bytes()).is_some_and(|m| m.sends_plaintext()) {
                self.send(format!("{tag} NO [PRIVACYREQUIRED] Plaintext authentication disallowed on non-secure connections.\r\n").as_bytes())?;
            } else {
                self.send(
                    format!("{tag} NO [CANNOT] Unsupported authentication mechanism.\r\n")
                        .as_bytes(),
                )?;
            }
            return Ok(None);
        };
        let fresh = match Fresh::new() {
            Ok(f) => f,
            Err(_) => {
                self.send(format!("{tag} NO [UNAVAILABLE] Temporary failure.\r\n").as_bytes())?;
                return Ok(None);
            }
        };
        // The parent said no and the mechanism's error challenge is out.
        let mut refused = false;
        let mut exchange: Exchange = self.policy.exchange(m, fresh);
        let mut step = exchange.begin(initial.as_deref());
        loop {
            step = match step {
                Step::Challenge(data) => {
                    self.send(format!("+ {}\r\n", sasl::base64_encode(&data)).as_bytes())?;
                    let line = match frame::read_line(input) {
                        Ok(l) => l,
                        Err(FrameError::TooLong { .. }) => {
                            self.send(
                                format!("{tag} BAD Authentication response too long.\r\n")
                                    .as_bytes(),
                            )?;
                            return Ok(None);
                        }
                        Err(_) => return Ok(Some(Outcome::Closed)),
                    };
                    // RFC 3501 6.2.2: "*" cancels, answered with BAD.
                    if line == b"*" {
                        self.send(
                            format!("{tag} BAD Authentication aborted by client.\r\n").as_bytes(),
                        )?;
                        return Ok(None);
                    }
                    match parse::base64_decode(&line) {
                        Some(data) => exchange.step(&data),
                        None => {
                            self.send(
                                format!("{tag} BAD Invalid base64 data in continued response.\r\n")
                                    .as_bytes(),
                            )?;
                            return Ok(None);
                        }
                    }
                }
                Step::Verify(request) => {
                    let (verdict, close) = crate::auth::channel::ask(self.channel, request)?;
                    if verdict == Verdict::Reject {
                        if close || !m.answers_refusal() {
                            return self.failed(tag, close, None, None);
                        }
                        refused = true;
                    }
                    exchange.verdict(verdict)
                }
                Step::Done(Identity::User(user)) => {
                    return self.logged_in(input, tag, &user, m.name())
                }
                Step::Done(Identity::Anonymous { trace }) => {
                    ToParent::Anonymous { trace }.send(self.channel)?;
                    return match ToChild::recv(self.channel)? {
                        Some(ToChild::Verdict {
                            verdict: Verdict::Accept,
                            ..
                        }) => self.logged_in(input, tag, "anonymous", m.name()),
                        Some(ToChild::Verdict { close, .. }) => self.failed(tag, close, None, None),
                        None => Ok(Some(Outcome::Closed)),
                    };
                }
                // The parent refused, logged and delayed it already.
                Step::Fail(_) if refused => return self.failed(tag, false, None, None),
                Step::Fail(reason) => {
                    let code = match reason {
                        Reason::Authorization => "AUTHORIZATIONFAILED",
                        _ => "AUTHENTICATIONFAILED",
                    };
                    let why = format!("AUTHENTICATE {}: {reason}", m.name());
                    return self.failed(tag, false, Some(code), Some(why));
                }
            };
        }
    }

    /// A failed login. `local` (with the reason, for the log): decided here
    /// without asking the parent (a malformed exchange), so the delay is
    /// applied and the failure logged here; the parent does both for the
    /// rest. Every failure counts towards `auth_max_failures` (DESIGN.md 6).
    fn failed(
        &mut self,
        tag: &str,
        close: bool,
        code: Option<&str>,
        local: Option<String>,
    ) -> io::Result<Option<Outcome>> {
        self.failures += 1;
        if let Some(why) = local {
            log::info!("login failed: {why}");
            std::thread::sleep(self.policy.failure_delay);
        }
        let close = close || self.failures >= self.policy.max_failures;
        let code = code.unwrap_or("AUTHENTICATIONFAILED");
        self.send(format!("{tag} NO [{code}] Authentication failed.\r\n").as_bytes())?;
        if close {
            self.send(b"* BYE Too many failed logins.\r\n")?;
            return Ok(Some(Outcome::Closed));
        }
        Ok(None)
    }

    /// Hands the session to the parent: who, which tag to answer, and what
    /// the client already sent after the login command (pipelining).
    fn logged_in<R: ClientInput + ?Sized>(
        &mut self,
        input: &mut R,
        tag: &str,
        user: &str,
        mechanism: &str,
    ) -> io::Result<Option<Outcome>> {
        self.out.flush()?;
        let buffered = input.take_buffered();
        ToParent::Handover {
            user: user.to_string(),
            tag: tag.to_string(),
            mechanism: mechanism.to_string(),
            buffered,
            relay: self.policy.tls,
        }
        .send(self.channel)?;
        Ok(Some(Outcome::LoggedIn))
    }
}

/// A proxy's `x-originating-ip` and `x-originating-port` ID fields
/// (Dovecot's names; the port may be missing).
fn originating(params: Option<&[(String, Option<String>)]>) -> Option<(String, String)> {
    let field = |name: &str| {
        params?
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.clone())
    };
    Some((
        field("x-originating-ip")?,
        field("x-originating-port").unwrap_or_default(),
    ))
}
