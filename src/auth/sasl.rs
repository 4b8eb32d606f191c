//! Server side of the SASL mechanisms (RFC 4422) and of POP3 APOP (RFC 1939
//! 7), as state machines that do no I/O and hold no credential.
//!
//! Both protocols drive the same [`Exchange`]: IMAP AUTHENTICATE (RFC 3501
//! 6.2.2, initial response from RFC 4959 SASL-IR) and POP3 AUTH (RFC 5034).
//! The protocol layer base64-decodes what the client sends, handles `*`
//! (cancel), and base64-encodes each [`Step::Challenge`] ([`base64_encode`]).
//!
//! # Who holds what
//!
//! The exchange runs in the login process, which is unprivileged, chrooted
//! and never sees a credential store (DESIGN.md 1 and 6). When a mechanism
//! has gathered what the client proves, it stops with [`Step::Verify`]: a
//! [`Request`] the login process relays to the privileged parent. The
//! parent looks the user up (PAM, or the plaintext in a sasldb), answers
//! with a [`Verdict`] (its functions for that are at the end of this file:
//! [`Request::verify`] and the `verify_*` functions), and the exchange
//! goes on with [`Exchange::verdict`]. Per mechanism:
//!
//! * PLAIN, LOGIN: the client sends the password itself; the login process
//!   sees it in passing (it has to, to relay it) and forwards it in
//!   [`Request::Plaintext`]. PAM or the sasldb compare.
//! * CRAM-MD5 (RFC 2195), APOP: the login process makes the challenge and
//!   relays user, challenge and digest; only the parent, holding the
//!   plaintext, computes the keyed digest and compares.
//! * SCRAM-SHA-256 (RFC 5802, RFC 7677): the whole proof check runs in the
//!   parent. The login process picks a random salt for each attempt and the
//!   fixed iteration count [`limits::SCRAM_ITERATIONS`], sends server-first
//!   without asking anyone, and at client-final relays the AuthMessage and
//!   the ClientProof. The parent derives SaltedPassword from the plaintext,
//!   checks the proof, and returns only the ServerSignature, which goes to
//!   the client anyway. The login process never holds StoredKey or
//!   ServerKey: with StoredKey and one observed exchange it could recover
//!   ClientKey and log in as the user later, and a parent that handed keys
//!   out for any name asked would be an offline-guessing oracle for every
//!   account. A per-attempt salt is possible because the keys are derived
//!   from the plaintext each time; its cost is that clients cannot cache
//!   SaltedPassword, and its gain is that unknown and known users get the
//!   same kind of salt with no extra round trip.
//! * ANONYMOUS (RFC 4505): nothing to verify; the trace string is returned
//!   for the log, and whether anonymous access is allowed at all is the
//!   caller's policy.
//!
//! A yes from the parent is not yet a login: only [`Step::Done`] is (SCRAM
//! still has to deliver server-final and get the client's empty answer).
//!
//! The challenges of CRAM-MD5 and APOP are made by the login process, so a
//! compromised login process could replay a digest it saw earlier; it could
//! as well read PLAIN passwords, so the split does not promise more than
//! that the parent's secrets (the stored passwords) stay in the parent.

use std::borrow::Cow;
use std::fmt;
use std::io;
use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use md5::Md5;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use crate::imap::parse::base64_decode;
use crate::limits;

/// Octets of random salt in each SCRAM attempt (RFC 5802 leaves the length
/// open; 128 bits is what common servers use).
const SCRAM_SALT_LEN: usize = 16;

/// Characters of the random nonce: 24 characters of 6 bits, 144 bits.
const NONCE_LEN: usize = 24;

/// The nonce alphabet: printable, no `,` (RFC 5802 `printable`), and valid
/// in the local part of a msg-id (RFC 2195, RFC 1939 timestamps).
const NONCE_ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// A password as the client typed it: the project's one secret type, which
/// prints as `Secret(..)` and is zeroed on drop.
pub use super::secret::Secret as Password;

/// The SASL mechanisms this server implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mechanism {
    /// RFC 4616.
    Plain,
    /// draft-murchison-sasl-login.
    Login,
    /// RFC 2195.
    CramMd5,
    /// RFC 5802 with SHA-1, for the clients that know no other SCRAM.
    ScramSha1,
    /// RFC 5802 with SHA-256 (RFC 7677).
    ScramSha256,
    /// RFC 5802 with channel binding to the TLS connection (`tls-exporter`,
    /// RFC 9266, or `tls-server-end-point`, RFC 5929); only over TLS.
    ScramSha1Plus,
    ScramSha256Plus,
    /// RFC 4422 Appendix A: the TLS client certificate names the user.
    External,
    /// RFC 7628: an OAuth 2.0 bearer token (`auth::oauth`).
    OAuthBearer,
    /// Google's and Microsoft's older form of the same.
    XOAuth2,
    /// RFC 4752: Kerberos V5 through GSS-API; the privileged parent
    /// accepts the tokens this process relays (`auth::kerberos`).
    Gssapi,
    /// RFC 4505.
    Anonymous,
}

impl Mechanism {
    pub const ALL: [Mechanism; 12] = [
        Mechanism::Plain,
        Mechanism::Login,
        Mechanism::CramMd5,
        Mechanism::ScramSha1,
        Mechanism::ScramSha256,
        Mechanism::ScramSha1Plus,
        Mechanism::ScramSha256Plus,
        Mechanism::External,
        Mechanism::OAuthBearer,
        Mechanism::XOAuth2,
        Mechanism::Gssapi,
        Mechanism::Anonymous,
    ];

    /// The registered name, as in `AUTH=` and `SASL` capabilities.
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::Login => "LOGIN",
            Mechanism::CramMd5 => "CRAM-MD5",
            Mechanism::ScramSha1 => "SCRAM-SHA-1",
            Mechanism::ScramSha256 => "SCRAM-SHA-256",
            Mechanism::ScramSha1Plus => "SCRAM-SHA-1-PLUS",
            Mechanism::ScramSha256Plus => "SCRAM-SHA-256-PLUS",
            Mechanism::External => "EXTERNAL",
            Mechanism::OAuthBearer => "OAUTHBEARER",
            Mechanism::XOAuth2 => "XOAUTH2",
            Mechanism::Gssapi => "GSSAPI",
            Mechanism::Anonymous => "ANONYMOUS",
        }
    }

    /// The mechanism a client named; case does not matter (IMAP atoms and
    /// POP3 keywords are compared without case).
    pub fn from_name(name: &[u8]) -> Option<Mechanism> {
        Mechanism::ALL
            .into_iter()
            .find(|m| m.name().as_bytes().eq_ignore_ascii_case(name))
    }

    /// Whether the password crosses the link as it is (PLAIN, LOGIN): such
    /// mechanisms are offered only on a protected link (DESIGN.md 6).
    pub fn sends_plaintext(self) -> bool {
        matches!(
            self,
            Mechanism::Plain | Mechanism::Login | Mechanism::OAuthBearer | Mechanism::XOAuth2
        )
    }

    /// Whether the parent needs the user's plaintext password, which PAM
    /// does not give: CRAM-MD5 and SCRAM work only with a sasldb.
    pub fn needs_stored_plaintext(self) -> bool {
        self == Mechanism::CramMd5 || self.scram_hash().is_some()
    }

    /// Whether a refusal is a challenge the client answers before the
    /// failure (RFC 7628 3.2.2; XOAUTH2 the same).
    pub fn answers_refusal(self) -> bool {
        matches!(self, Mechanism::OAuthBearer | Mechanism::XOAuth2)
    }

    /// Whether it binds to the TLS channel (the -PLUS variants).
    pub fn binds_channel(self) -> bool {
        matches!(self, Mechanism::ScramSha1Plus | Mechanism::ScramSha256Plus)
    }

    /// The hash of a SCRAM mechanism.
    pub fn scram_hash(self) -> Option<ScramHash> {
        match self {
            Mechanism::ScramSha1 | Mechanism::ScramSha1Plus => Some(ScramHash::Sha1),
            Mechanism::ScramSha256 | Mechanism::ScramSha256Plus => Some(ScramHash::Sha256),
            _ => None,
        }
    }

    /// A new exchange. `host` names this server in CRAM-MD5 challenges;
    /// `fresh` supplies its nonce, salt and time.
    pub fn start(self, host: &str, fresh: Fresh) -> Exchange {
        Exchange {
            mechanism: self,
            host: host.to_owned(),
            fresh,
            state: State::Start(self),
            bindings: None,
            client: None,
            oauth_claim: None,
        }
    }
}

/// A verified TLS client certificate, for EXTERNAL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientCert {
    /// The user it names (`tls_client_user`), if any.
    pub user: Option<String>,
    /// The chain as the client sent it, leaf first: relayed to the
    /// parent, which verifies it again.
    pub chain: Vec<Vec<u8>>,
}

/// What SCRAM's -PLUS variants bind to: the TLS connection's data for
/// each channel binding type it has (RFC 5056).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChannelBindings {
    /// RFC 9266 `tls-exporter`: 32 octets exported with the label
    /// `EXPORTER-Channel-Binding` and no context.
    pub exporter: Option<Vec<u8>>,
    /// RFC 5929 `tls-server-end-point`: the hash of our certificate.
    pub end_point: Option<Vec<u8>>,
}

impl ChannelBindings {
    /// The data of the binding type `name`, if this connection has it.
    fn of(&self, name: &str) -> Option<&[u8]> {
        match name {
            "tls-exporter" => self.exporter.as_deref(),
            "tls-server-end-point" => self.end_point.as_deref(),
            _ => None,
        }
    }
}

/// The unpredictable and time-dependent inputs of an exchange or an APOP
/// greeting, gathered before it starts so that the state machines stay free
/// of I/O and tests can fix them (the RFC 7677 vector needs its nonce and
/// salt).
#[derive(Clone, Debug)]
pub struct Fresh {
    /// Printable ASCII without `,` and fit for a msg-id local part: the
    /// SCRAM server nonce, and the unique part of CRAM-MD5 and APOP
    /// challenges.
    pub nonce: String,
    /// The SCRAM salt: 16 octets, as [`verify_scram`] takes no other
    /// length.
    pub salt: Vec<u8>,
    /// Seconds since 1970, for CRAM-MD5 and APOP timestamps.
    pub time: u64,
    /// The process id, for APOP timestamps (RFC 1939 7's `<pid.clock@host>`).
    pub pid: u32,
}

impl Fresh {
    /// Fresh randomness from the kernel. Uses getrandom(2), not
    /// /dev/urandom, because the login process is chrooted into an empty
    /// directory where no /dev exists.
    pub fn new() -> io::Result<Fresh> {
        let mut bytes = Zeroizing::new([0u8; NONCE_LEN + SCRAM_SALT_LEN]);
        let mut filled = 0;
        while filled < bytes.len() {
            match rustix::rand::getrandom(
                &mut bytes[filled..],
                rustix::rand::GetRandomFlags::empty(),
            ) {
                Ok(n) => filled += n,
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let nonce = bytes[..NONCE_LEN]
            .iter()
            .map(|b| NONCE_ALPHABET[usize::from(b & 63)] as char)
            .collect();
        let time = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Ok(Fresh {
            nonce,
            salt: bytes[NONCE_LEN..].to_vec(),
            time,
            pid: std::process::id(),
        })
    }
}

/// What an exchange wants next.
#[derive(Debug)]
pub enum Step {
    /// Send this challenge (raw bytes, possibly empty; the protocol layer
    /// base64-encodes it) and pass the client's answer to
    /// [`Exchange::step`].
    Challenge(Vec<u8>),
    /// Relay this to the privileged side and pass its answer to
    /// [`Exchange::verdict`].
    Verify(Request),
    /// Authenticated.
    Done(Identity),
    /// The exchange is over without success.
    Fail(Reason),
}

/// Who a successful exchange authenticated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Identity {
    /// A user, SASLprep'd; authentication and authorisation identity are
    /// the same (we do not support proxy authorisation).
    User(String),
    /// RFC 4505: the client's trace string (possibly empty), for the log
    /// only. It holds no control characters.
    Anonymous { trace: String },
}

/// What the login process asks the privileged side. Nothing in it is a
/// stored secret; `Plaintext` carries the password the client typed.
#[derive(Debug)]
pub enum Request {
    /// PLAIN, LOGIN: is this the user's password? (yes/no)
    Plaintext { user: String, password: Password },
    /// CRAM-MD5: is `digest` HMAC-MD5(password, challenge)? (yes/no)
    CramMd5 {
        user: String,
        challenge: String,
        digest: [u8; 16],
    },
    /// SCRAM: does `proof` (its first `hash.digest_len()` octets) prove the
    /// password for this AuthMessage, salt and iteration count? Yes is
    /// answered with the ServerSignature ([`Verdict::AcceptScram`]).
    Scram {
        user: String,
        hash: ScramHash,
        salt: Vec<u8>,
        iterations: u32,
        auth_message: String,
        proof: [u8; 32],
    },
    /// APOP: is `digest` MD5(timestamp password)? (yes/no)
    Apop {
        user: String,
        timestamp: String,
        digest: [u8; 16],
    },
    /// EXTERNAL: does this certificate chain (leaf first) verify against
    /// `tls_client_ca` and name `user`? (yes/no)
    External { user: String, chain: Vec<Vec<u8>> },
    /// OAUTHBEARER, XOAUTH2: is this token valid and for `user`? (yes/no)
    Token { user: String, token: Password },
    /// GSSAPI: the client's next message, as it came (`first`: of a new
    /// exchange); answered with the next challenge or the user it
    /// authenticated ([`Verdict::Gss`]).
    Gss { token: Vec<u8>, first: bool },
}

impl Request {
    /// The user the request is about, for the lookup and the log.
    pub fn user(&self) -> &str {
        match self {
            Request::Plaintext { user, .. }
            | Request::CramMd5 { user, .. }
            | Request::Scram { user, .. }
            | Request::Apop { user, .. }
            | Request::External { user, .. }
            | Request::Token { user, .. } => user,
            // Known only when the parent has accepted the context.
            Request::Gss { .. } => "",
        }
    }

    /// Privileged side, with the user's stored plaintext password (sasldb):
    /// the verdict on this request. For an unknown user, call it with any
    /// password anyway and answer `Reject`, so that both take the same time.
    pub fn verify(&self, stored: &[u8]) -> Verdict {
        let ok = match self {
            Request::Plaintext { password, .. } => verify_plaintext(stored, password.as_bytes()),
            Request::CramMd5 {
                challenge, digest, ..
            } => verify_cram_md5(stored, challenge.as_bytes(), digest),
            Request::Apop {
                timestamp, digest, ..
            } => verify_apop(stored, timestamp.as_bytes(), digest),
            // No password is involved (`auth::server` verifies these).
            Request::External { .. } | Request::Token { .. } | Request::Gss { .. } => false,
            Request::Scram {
                hash,
                salt,
                iterations,
                auth_message,
                proof,
                ..
            } => {
                let message = auth_message.as_bytes();
                return match verify_scram(*hash, stored, salt, *iterations, message, proof) {
                    Some(server_signature) => Verdict::AcceptScram { server_signature },
                    None => Verdict::Reject,
                };
            }
        };
        if ok {
            Verdict::Accept
        } else {
            Verdict::Reject
        }
    }
}

/// The privileged side's answer to a [`Request`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The credentials are right (all but SCRAM).
    Accept,
    /// SCRAM: the proof is right; the ServerSignature for server-final
    /// (its first `ScramHash::digest_len` octets).
    AcceptScram { server_signature: [u8; 32] },
    /// Unknown user or wrong password; the two are never told apart.
    Reject,
    /// GSSAPI: the challenge to send, or (`user`) the local user the
    /// client's principal is, authenticated.
    Gss {
        token: Vec<u8>,
        user: Option<String>,
    },
}

/// Why an exchange failed. `Display` gives a line for the log; none of it
/// quotes the client's data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// The client's message does not follow the mechanism's syntax (IMAP:
    /// NO or BAD; the detail is for the log).
    Malformed(&'static str),
    /// A message, user name or password is over its limit in `limits.rs`.
    TooLong,
    /// The client asked to act as another user (PLAIN authzid, SCRAM
    /// `a=`): we support no proxy authorisation (RFC 5530
    /// AUTHORIZATIONFAILED).
    Authorization,
    /// A SCRAM client asked for channel binding (`p=`) under a mechanism
    /// without it, or of a type this connection does not have (RFC 5802
    /// 7: `channel-binding-not-supported`).
    ChannelBinding,
    /// A SCRAM client that can bind said it believes we cannot (`y`)
    /// although we offered -PLUS: the offer was tampered with (RFC 5802
    /// 6: `server-does-support-channel-binding`).
    Downgrade,
    /// The privileged side said no (RFC 5530 AUTHENTICATIONFAILED).
    Credentials,
    /// The caller drove the exchange out of order (a bug, not the client).
    OutOfTurn,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Malformed(what) => write!(f, "malformed SASL message: {what}"),
            Reason::TooLong => f.write_str("SASL message, user name or password too long"),
            Reason::Authorization => f.write_str("authorisation identity differs from user"),
            Reason::ChannelBinding => f.write_str("channel binding requested, not supported"),
            Reason::Downgrade => f.write_str("channel binding refused although offered"),
            Reason::Credentials => f.write_str("authentication failed"),
            Reason::OutOfTurn => f.write_str("SASL exchange driven out of turn"),
        }
    }
}

/// One SASL exchange, from the mechanism's start to `Done` or `Fail`.
///
/// ```text
/// let mut step = mechanism.start(host, Fresh::new()?).begin(initial_response);
/// loop: Challenge(c) -> send c, step = exchange.step(answer)
///       Verify(r)    -> step = exchange.verdict(ask_parent(r))
///       Done / Fail  -> finished
/// ```
#[derive(Debug)]
pub struct Exchange {
    mechanism: Mechanism,
    host: String,
    fresh: Fresh,
    state: State,
    /// Over TLS with -PLUS offered: the connection's channel bindings.
    bindings: Option<ChannelBindings>,
    /// Over TLS: the client's verified certificate, for EXTERNAL.
    client: Option<ClientCert>,
    /// OAUTHBEARER, XOAUTH2: the claim naming the user.
    oauth_claim: Option<String>,
}

#[derive(Debug)]
enum State {
    Start(Mechanism),
    /// Empty challenge sent; the client's message is the whole PLAIN one.
    Plain,
    /// "Username:" sent.
    LoginUser,
    /// "Password:" sent.
    LoginPassword {
        user: String,
    },
    /// The challenge sent, awaiting `user digest`.
    CramMd5 {
        challenge: String,
    },
    /// Empty challenge sent, awaiting client-first.
    ScramFirst,
    /// server-first sent, awaiting client-final.
    ScramFinal(ScramFirst),
    /// Empty challenge sent, awaiting the trace.
    Anonymous,
    /// Empty challenge sent, awaiting EXTERNAL's authorisation identity.
    External,
    /// Empty challenge sent, awaiting the OAUTHBEARER or XOAUTH2 message.
    OAuth,
    /// GSSAPI's empty first challenge sent, awaiting the first token.
    GssFirst,
    /// A GSSAPI challenge sent, awaiting the client's next token.
    Gss,
    /// A GSSAPI token is with the parent.
    GssVerifying,
    /// The token was refused and the error challenge sent (RFC 7628
    /// 3.2.3); whatever the client answers, the exchange fails.
    OAuthRefused,
    /// A Request is out; awaiting the Verdict.
    Verifying {
        user: String,
        scram: bool,
    },
    /// server-final sent, awaiting the client's empty answer.
    ScramOk {
        user: String,
    },
    /// Done or failed.
    Over,
}

/// What SCRAM keeps between server-first and client-final.
#[derive(Debug)]
struct ScramFirst {
    user: String,
    gs2_header: String,
    /// The channel binding data c= must carry after the gs2-header (none
    /// without `p=`).
    cbind_data: Vec<u8>,
    client_first_bare: String,
    server_first: String,
    nonce: String,
}

impl Exchange {
    /// Over TLS, where the -PLUS mechanisms are offered: the connection's
    /// channel bindings. A SCRAM client that could bind but believes we
    /// cannot (`y`) is then refused (RFC 5802 6: a downgrade).
    pub fn with_bindings(mut self, bindings: Option<ChannelBindings>) -> Exchange {
        self.bindings = bindings;
        self
    }

    /// Over TLS: the client's verified certificate (EXTERNAL).
    pub fn with_client(mut self, client: Option<ClientCert>) -> Exchange {
        self.client = client;
        self
    }

    /// OAUTHBEARER and XOAUTH2: the token claim that names the user, for a
    /// client that gives no user name.
    pub fn with_oauth_claim(mut self, claim: Option<String>) -> Exchange {
        self.oauth_claim = claim;
        self
    }

    /// The mechanism, for the log.
    pub fn mechanism(&self) -> Mechanism {
        self.mechanism
    }

    /// The first move. `initial` is the client's initial response (RFC 4959
    /// SASL-IR, RFC 5034 4), already decoded; `Some(b"")` is an empty one
    /// (`=`), `None` none at all.
    pub fn begin(&mut self, initial: Option<&[u8]>) -> Step {
        let mechanism = match std::mem::replace(&mut self.state, State::Over) {
            State::Start(m) => m,
            _ => return Step::Fail(Reason::OutOfTurn),
        };
        if initial.is_some_and(|data| data.len() > limits::SASL_MESSAGE_MAX) {
            return Step::Fail(Reason::TooLong);
        }
        match (mechanism, initial) {
            (Mechanism::Plain, None) => self.challenge(State::Plain, Vec::new()),
            (Mechanism::Plain, Some(data)) => self.plain(data),
            (Mechanism::Login, None) => self.challenge(State::LoginUser, b"Username:".to_vec()),
            // Not in the draft, but clients (and MS-XLOGIN) send the user
            // name as initial response, and servers take it.
            (Mechanism::Login, Some(data)) => self.login_user(data),
            (Mechanism::CramMd5, None) => {
                let challenge = format!("<{}.{}@{}>", self.fresh.nonce, self.fresh.time, self.host);
                let bytes = challenge.clone().into_bytes();
                self.challenge(State::CramMd5 { challenge }, bytes)
            }
            // RFC 4422 4: the server speaks first in CRAM-MD5, so an
            // initial response is a protocol error.
            (Mechanism::CramMd5, Some(_)) => {
                Step::Fail(Reason::Malformed("CRAM-MD5 takes no initial response"))
            }
            (
                Mechanism::ScramSha1
                | Mechanism::ScramSha256
                | Mechanism::ScramSha1Plus
                | Mechanism::ScramSha256Plus,
                None,
            ) => self.challenge(State::ScramFirst, Vec::new()),
            (
                Mechanism::ScramSha1
                | Mechanism::ScramSha256
                | Mechanism::ScramSha1Plus
                | Mechanism::ScramSha256Plus,
                Some(data),
            ) => self.scram_first(data),
            (Mechanism::OAuthBearer | Mechanism::XOAuth2, None) => {
                self.challenge(State::OAuth, Vec::new())
            }
            (Mechanism::OAuthBearer | Mechanism::XOAuth2, Some(data)) => self.oauth(data),
            (Mechanism::Gssapi, None) => self.challenge(State::GssFirst, Vec::new()),
            (Mechanism::Gssapi, Some(data)) => self.gss(data, true),
            (Mechanism::External, None) => self.challenge(State::External, Vec::new()),
            (Mechanism::External, Some(data)) => self.external(data),
            (Mechanism::Anonymous, None) => self.challenge(State::Anonymous, Vec::new()),
            (Mechanism::Anonymous, Some(data)) => anonymous(data),
        }
    }

    /// The client's answer to the last challenge, base64-decoded. It may
    /// hold a password: the exchange copies what it keeps into a
    /// [`Password`], and the caller zeroes its own buffer.
    pub fn step(&mut self, data: &[u8]) -> Step {
        let state = std::mem::replace(&mut self.state, State::Over);
        if data.len() > limits::SASL_MESSAGE_MAX {
            return Step::Fail(Reason::TooLong);
        }
        match state {
            State::Plain => self.plain(data),
            State::External => self.external(data),
            State::OAuth => self.oauth(data),
            State::GssFirst => self.gss(data, true),
            State::Gss => self.gss(data, false),
            State::OAuthRefused => Step::Fail(Reason::Credentials),
            State::LoginUser => self.login_user(data),
            State::LoginPassword { user } => match login_password(data) {
                Ok(password) => {
                    self.verify(user, false, |user| Request::Plaintext { user, password })
                }
                Err(reason) => Step::Fail(reason),
            },
            State::CramMd5 { challenge } => match cram_md5_response(data) {
                Ok((user, digest)) => self.verify(user, false, |user| Request::CramMd5 {
                    user,
                    challenge,
                    digest,
                }),
                Err(reason) => Step::Fail(reason),
            },
            State::ScramFirst => self.scram_first(data),
            State::ScramFinal(first) => self.scram_final(first, data),
            State::Anonymous => anonymous(data),
            // RFC 5802 5: after server-final the client has nothing more
            // to say; IMAP and POP3 carry its empty answer.
            State::ScramOk { user } if data.is_empty() => Step::Done(Identity::User(user)),
            State::ScramOk { .. } => {
                Step::Fail(Reason::Malformed("SCRAM: data after server-final"))
            }
            State::Start(_) | State::Verifying { .. } | State::GssVerifying | State::Over => {
                Step::Fail(Reason::OutOfTurn)
            }
        }
    }

    /// The privileged side's answer to the [`Step::Verify`] just returned.
    pub fn verdict(&mut self, verdict: Verdict) -> Step {
        let (user, scram) = match std::mem::replace(&mut self.state, State::Over) {
            State::Verifying { user, scram } => (user, scram),
            State::GssVerifying => {
                return match verdict {
                    Verdict::Gss {
                        user: Some(user), ..
                    } => match prep_user(user.as_bytes()) {
                        Ok(user) => Step::Done(Identity::User(user)),
                        Err(reason) => Step::Fail(reason),
                    },
                    Verdict::Gss { token, user: None } => self.challenge(State::Gss, token),
                    Verdict::Reject => Step::Fail(Reason::Credentials),
                    _ => Step::Fail(Reason::OutOfTurn),
                }
            }
            _ => return Step::Fail(Reason::OutOfTurn),
        };
        match (verdict, scram) {
            // RFC 7628 3.2.2: the failure is a challenge with the error
            // in JSON (`status` is its one required member), which the
            // client answers before the NO; XOAUTH2's is Google's form.
            (Verdict::Reject, _) if self.mechanism == Mechanism::OAuthBearer => self.challenge(
                State::OAuthRefused,
                br#"{"status":"invalid_token"}"#.to_vec(),
            ),
            (Verdict::Reject, _) if self.mechanism == Mechanism::XOAuth2 => self.challenge(
                State::OAuthRefused,
                br#"{"status":"401","schemes":"bearer"}"#.to_vec(),
            ),
            (Verdict::Reject, _) => Step::Fail(Reason::Credentials),
            (Verdict::Accept, false) => Step::Done(Identity::User(user)),
            (Verdict::AcceptScram { server_signature }, true) => {
                let len = self.mechanism.scram_hash().map_or(0, ScramHash::digest_len);
                let server_final = format!("v={}", base64_encode(&server_signature[..len]));
                self.challenge(State::ScramOk { user }, server_final.into_bytes())
            }
            (Verdict::Accept, true)
            | (Verdict::AcceptScram { .. }, false)
            | (Verdict::Gss { .. }, _) => Step::Fail(Reason::OutOfTurn),
        }
    }

    fn challenge(&mut self, next: State, challenge: Vec<u8>) -> Step {
        self.state = next;
        Step::Challenge(challenge)
    }

    fn verify(
        &mut self,
        user: String,
        scram: bool,
        request: impl FnOnce(String) -> Request,
    ) -> Step {
        self.state = State::Verifying {
            user: user.clone(),
            scram,
        };
        Step::Verify(request(user))
    }

    fn plain(&mut self, data: &[u8]) -> Step {
        match plain_message(data) {
            Ok((user, password)) => {
                self.verify(user, false, |user| Request::Plaintext { user, password })
            }
            Err(reason) => Step::Fail(reason),
        }
    }

    /// RFC 4422 A.1: the message is the authorisation identity, empty to
    /// act as the certificate's user; any other identity is refused (no
    /// proxy authorisation). The parent verifies the chain again.
    fn external(&mut self, data: &[u8]) -> Step {
        let Some(client) = self.client.clone() else {
            return Step::Fail(Reason::OutOfTurn);
        };
        let Some(user) = client.user else {
            return Step::Fail(Reason::Credentials);
        };
        if !data.is_empty() {
            match prep_user(data) {
                Ok(authzid) if authzid == user => {}
                Ok(_) => return Step::Fail(Reason::Authorization),
                Err(reason) => return Step::Fail(reason),
            }
        }
        let chain = client.chain;
        self.verify(user, false, |user| Request::External { user, chain })
    }

    /// GSSAPI: the client's token goes to the parent as it is (the
    /// parent's GSS-API library reads it; this process holds no key).
    fn gss(&mut self, data: &[u8], first: bool) -> Step {
        self.state = State::GssVerifying;
        Step::Verify(Request::Gss {
            token: data.to_vec(),
            first,
        })
    }

    /// OAUTHBEARER's or XOAUTH2's message: the user (given, or the one the
    /// token claims) and the token, for the parent to validate.
    fn oauth(&mut self, data: &[u8]) -> Step {
        let parsed = match self.mechanism {
            Mechanism::XOAuth2 => xoauth2_message(data),
            _ => oauthbearer_message(data),
        };
        let (given, token) = match parsed {
            Ok(parts) => parts,
            Err(reason) => return Step::Fail(reason),
        };
        let claimed = self
            .oauth_claim
            .as_deref()
            .and_then(|claim| crate::auth::oauth::claimed_user(&token, claim));
        let Some(user) = given.or(claimed) else {
            return Step::Fail(Reason::Malformed("OAUTH: no user named"));
        };
        let user = match prep_user(user.as_bytes()) {
            Ok(u) => u,
            Err(reason) => return Step::Fail(reason),
        };
        let token = Password::from(token.as_bytes());
        self.verify(user, false, |user| Request::Token { user, token })
    }

    fn login_user(&mut self, data: &[u8]) -> Step {
        match prep_user(data) {
            Ok(user) => self.challenge(State::LoginPassword { user }, b"Password:".to_vec()),
            Err(reason) => Step::Fail(reason),
        }
    }

    fn scram_first(&mut self, data: &[u8]) -> Step {
        let (user, gs2_header, client_first_bare, client_nonce) = match scram_client_first(data) {
            Ok(parts) => parts,
            Err(reason) => return Step::Fail(reason),
        };
        let cbind_data = match self.channel_binding(&gs2_header) {
            Ok(data) => data,
            Err(reason) => return Step::Fail(reason),
        };
        let nonce = format!("{client_nonce}{}", self.fresh.nonce);
        let server_first = format!(
            "r={nonce},s={},i={}",
            base64_encode(&self.fresh.salt),
            limits::SCRAM_ITERATIONS
        );
        let challenge = server_first.clone().into_bytes();
        let first = ScramFirst {
            user,
            gs2_header,
            cbind_data,
            client_first_bare,
            server_first,
            nonce,
        };
        self.challenge(State::ScramFinal(first), challenge)
    }

    /// RFC 5802 6: what the gs2-header's flag asks for, against the
    /// mechanism and this connection; the data c= must then carry.
    fn channel_binding(&self, gs2_header: &str) -> Result<Vec<u8>, Reason> {
        let flag = gs2_header.split(',').next().unwrap_or_default();
        match (flag.strip_prefix("p="), self.mechanism.binds_channel()) {
            (Some(name), true) => self
                .bindings
                .as_ref()
                .and_then(|b| b.of(name))
                .map(<[u8]>::to_vec)
                .ok_or(Reason::ChannelBinding),
            (None, true) => Err(Reason::Malformed("SCRAM-PLUS: no channel binding asked")),
            // Binding under a mechanism that does not.
            (Some(_), false) => Err(Reason::ChannelBinding),
            // "y": the client can bind and thinks we cannot; we offered
            // -PLUS, so someone removed it from the list (RFC 5802 6).
            (None, false) if flag == "y" && self.bindings.is_some() => Err(Reason::Downgrade),
            (None, false) => Ok(Vec::new()),
        }
    }

    fn scram_final(&mut self, first: ScramFirst, data: &[u8]) -> Step {
        let Some(hash) = self.mechanism.scram_hash() else {
            return Step::Fail(Reason::OutOfTurn);
        };
        let (without_proof, proof) = match scram_client_final(&first, data, hash) {
            Ok(parts) => parts,
            Err(reason) => return Step::Fail(reason),
        };
        let auth_message = format!(
            "{},{},{without_proof}",
            first.client_first_bare, first.server_first
        );
        let salt = self.fresh.salt.clone();
        self.verify(first.user, true, |user| Request::Scram {
            user,
            hash,
            salt,
            iterations: limits::SCRAM_ITERATIONS,
            auth_message,
            proof,
        })
    }
}

/// RFC 7628 3.1: `gs2-header kvsep *kvpair kvsep`, `kvsep` being 0x01, a
/// `kvpair` `key=value` followed by one; `auth=Bearer TOKEN` is needed.
/// Returns the authzid (if any) and the token.
fn oauthbearer_message(data: &[u8]) -> Result<(Option<String>, String), Reason> {
    let msg = std::str::from_utf8(data).map_err(|_| Reason::Malformed("OAUTHBEARER: not UTF-8"))?;
    let (flag, rest) = msg
        .split_once(',')
        .ok_or(Reason::Malformed("OAUTHBEARER: no GS2 header"))?;
    if flag != "n" && flag != "y" {
        return Err(Reason::ChannelBinding);
    }
    let (authzid, rest) = rest
        .split_once(',')
        .ok_or(Reason::Malformed("OAUTHBEARER: no GS2 header"))?;
    let authzid = match authzid {
        "" => None,
        a => Some(saslname(
            a.strip_prefix("a=")
                .ok_or(Reason::Malformed("OAUTHBEARER: bad authzid"))?,
        )?),
    };
    let pairs = rest
        .strip_prefix('\x01')
        .and_then(|r| r.strip_suffix("\x01\x01"))
        .ok_or(Reason::Malformed("OAUTHBEARER: bad separators"))?;
    let token = pairs
        .split('\x01')
        .find_map(|kv| kv.strip_prefix("auth="))
        .and_then(bearer)
        .ok_or(Reason::Malformed("OAUTHBEARER: no bearer token"))?;
    Ok((authzid, token))
}

/// XOAUTH2: `user=USER ^A auth=Bearer TOKEN ^A ^A`.
fn xoauth2_message(data: &[u8]) -> Result<(Option<String>, String), Reason> {
    let msg = std::str::from_utf8(data).map_err(|_| Reason::Malformed("XOAUTH2: not UTF-8"))?;
    let body = msg
        .strip_suffix("\x01\x01")
        .ok_or(Reason::Malformed("XOAUTH2: bad separators"))?;
    let (user, auth) = body
        .split_once('\x01')
        .ok_or(Reason::Malformed("XOAUTH2: bad separators"))?;
    let user = user
        .strip_prefix("user=")
        .ok_or(Reason::Malformed("XOAUTH2: no user"))?;
    let token = auth
        .strip_prefix("auth=")
        .and_then(bearer)
        .ok_or(Reason::Malformed("XOAUTH2: no bearer token"))?;
    Ok(((!user.is_empty()).then(|| user.to_owned()), token))
}

/// RFC 6750 2.1 `Bearer TOKEN` (the scheme without case) with a token
/// of its characters.
fn bearer(value: &str) -> Option<String> {
    let (scheme, token) = value.split_once(' ')?;
    let ok = |b: u8| b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b);
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && token.bytes().all(ok))
        .then(|| token.to_owned())
}

/// RFC 4616 2: `message = [authzid] UTF8NUL authcid UTF8NUL passwd`, each
/// part UTF-8 without NUL, authcid and passwd not empty.
fn plain_message(data: &[u8]) -> Result<(String, Password), Reason> {
    let mut parts = data.splitn(3, |&b| b == 0);
    let (Some(authzid), Some(authcid), Some(passwd)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(Reason::Malformed("PLAIN: fewer than two NULs"));
    };
    if passwd.contains(&0) {
        return Err(Reason::Malformed("PLAIN: more than two NULs"));
    }
    if passwd.is_empty() {
        return Err(Reason::Malformed("PLAIN: empty password"));
    }
    if passwd.len() > limits::SASL_PASSWORD_MAX || authzid.len() > limits::SASL_USER_MAX {
        return Err(Reason::TooLong);
    }
    if std::str::from_utf8(passwd).is_err() {
        return Err(Reason::Malformed("PLAIN: password not UTF-8"));
    }
    let user = prep_user(authcid)?;
    if !authzid.is_empty() && prep_user(authzid)? != user {
        return Err(Reason::Authorization);
    }
    Ok((user, Password::from(passwd)))
}

/// LOGIN's password: any octets but NUL, which would cut it short where it
/// becomes a C string (PAM), so that a prefix could pass for it.
fn login_password(data: &[u8]) -> Result<Password, Reason> {
    if data.is_empty() {
        return Err(Reason::Malformed("LOGIN: empty password"));
    }
    if data.len() > limits::SASL_PASSWORD_MAX {
        return Err(Reason::TooLong);
    }
    if data.contains(&0) {
        return Err(Reason::Malformed("LOGIN: NUL in password"));
    }
    Ok(Password::from(data))
}

/// RFC 2195 2: `user SP digest`, the digest 32 hex digits (the RFC says
/// lower case; upper case is taken too). The user name may hold spaces.
fn cram_md5_response(data: &[u8]) -> Result<(String, [u8; 16]), Reason> {
    let Some(space) = data.iter().rposition(|&b| b == b' ') else {
        return Err(Reason::Malformed("CRAM-MD5: no space before the digest"));
    };
    let digest = hex16(&data[space + 1..]).ok_or(Reason::Malformed("CRAM-MD5: bad digest"))?;
    Ok((prep_user(&data[..space])?, digest))
}

/// RFC 4505 2: an optional trace of at most 255 characters. Control
/// characters are refused so that the trace cannot forge log lines.
fn anonymous(data: &[u8]) -> Step {
    let Ok(trace) = std::str::from_utf8(data) else {
        return Step::Fail(Reason::Malformed("ANONYMOUS: trace not UTF-8"));
    };
    if trace.chars().count() > limits::SASL_TRACE_MAX {
        return Step::Fail(Reason::TooLong);
    }
    if trace.chars().any(char::is_control) {
        return Step::Fail(Reason::Malformed("ANONYMOUS: control character in trace"));
    }
    Step::Done(Identity::Anonymous {
        trace: trace.to_owned(),
    })
}

/// RFC 5802 7 `client-first-message`:
/// `gs2-header client-first-message-bare`, where
/// `gs2-header = gs2-cbind-flag "," [authzid] ","` and
/// `client-first-message-bare = [reserved-mext ","] username "," nonce ["," extensions]`.
/// Returns the user, the gs2-header, the bare message and the client nonce.
fn scram_client_first(data: &[u8]) -> Result<(String, String, String, String), Reason> {
    let msg = std::str::from_utf8(data).map_err(|_| Reason::Malformed("SCRAM: not UTF-8"))?;
    let (flag, rest) = msg
        .split_once(',')
        .ok_or(Reason::Malformed("SCRAM: no GS2 header"))?;
    // RFC 5802 7 `cb-name = 1*(ALPHA / DIGIT / "." / "-")`; what the flag
    // means is judged against the mechanism (`Exchange::channel_binding`).
    let cb_name = |n: &str| {
        !n.is_empty()
            && n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
    };
    match flag {
        "n" | "y" => {}
        _ if flag.strip_prefix("p=").is_some_and(cb_name) => {}
        _ => return Err(Reason::Malformed("SCRAM: bad channel binding flag")),
    }
    let (authzid, bare) = rest
        .split_once(',')
        .ok_or(Reason::Malformed("SCRAM: no GS2 header"))?;
    let gs2_header = &msg[..msg.len() - bare.len()];
    let authzid = match authzid {
        "" => None,
        a => Some(saslname(
            a.strip_prefix("a=")
                .ok_or(Reason::Malformed("SCRAM: bad authzid"))?,
        )?),
    };
    let mut attributes = bare.split(',');
    let username = attributes.next().unwrap_or_default();
    if username.starts_with("m=") {
        return Err(Reason::Malformed(
            "SCRAM: mandatory extension not supported",
        ));
    }
    let user = username
        .strip_prefix("n=")
        .ok_or(Reason::Malformed("SCRAM: no user name"))?;
    let user = prep_user(saslname(user)?.as_bytes())?;
    if let Some(authzid) = authzid {
        if prep_user(authzid.as_bytes())? != user {
            return Err(Reason::Authorization);
        }
    }
    let nonce = attributes
        .next()
        .and_then(|r| r.strip_prefix("r="))
        .ok_or(Reason::Malformed("SCRAM: no nonce"))?;
    if nonce.is_empty() || !nonce.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(Reason::Malformed("SCRAM: bad nonce"));
    }
    if !attributes.all(extension) {
        return Err(Reason::Malformed("SCRAM: bad extension"));
    }
    Ok((
        user,
        gs2_header.to_owned(),
        bare.to_owned(),
        nonce.to_owned(),
    ))
}

/// RFC 5802 7 `client-final-message`:
/// `channel-binding "," nonce ["," extensions] "," proof`. Returns
/// client-final-message-without-proof and the proof.
fn scram_client_final(
    first: &ScramFirst,
    data: &[u8],
    hash: ScramHash,
) -> Result<(String, [u8; 32]), Reason> {
    let msg = std::str::from_utf8(data).map_err(|_| Reason::Malformed("SCRAM: not UTF-8"))?;
    let (without_proof, proof) = msg
        .rsplit_once(',')
        .ok_or(Reason::Malformed("SCRAM: bad client-final"))?;
    let proof = proof
        .strip_prefix("p=")
        .and_then(|p| base64_decode(p.as_bytes()))
        .filter(|p| p.len() == hash.digest_len())
        .map(|p| {
            let mut proof = [0u8; 32];
            proof[..p.len()].copy_from_slice(&p);
            proof
        })
        .ok_or(Reason::Malformed("SCRAM: bad proof"))?;
    let mut attributes = without_proof.split(',');
    let binding = attributes
        .next()
        .and_then(|c| c.strip_prefix("c="))
        .and_then(|c| base64_decode(c.as_bytes()))
        .ok_or(Reason::Malformed("SCRAM: bad channel binding"))?;
    // c= is the gs2-header, then the channel binding data (none without
    // `p=`).
    let expected = [first.gs2_header.as_bytes(), &first.cbind_data].concat();
    if !bool::from(binding.ct_eq(&expected)) {
        return Err(Reason::Malformed(
            "SCRAM: channel binding differs from GS2 header",
        ));
    }
    if attributes.next().and_then(|r| r.strip_prefix("r=")) != Some(first.nonce.as_str()) {
        return Err(Reason::Malformed("SCRAM: nonce mismatch"));
    }
    if !attributes.all(extension) {
        return Err(Reason::Malformed("SCRAM: bad extension"));
    }
    Ok((without_proof.to_owned(), proof))
}

/// RFC 5802 7 `attr-val = ALPHA "=" value`, with `value` non-empty: an
/// optional extension, which we ignore.
fn extension(attribute: &str) -> bool {
    let b = attribute.as_bytes();
    b.len() > 2 && b[0].is_ascii_alphabetic() && b[1] == b'='
}

/// RFC 5802 7 `saslname`: `,` and `=` arrive as `=2C` and `=3D`; any other
/// `=` fails (RFC 5802 5.1).
fn saslname(s: &str) -> Result<String, Reason> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('=') {
        out.push_str(&rest[..i]);
        out.push(match rest.get(i + 1..i + 3) {
            Some("2C") => ',',
            Some("3D") => '=',
            _ => return Err(Reason::Malformed("SCRAM: bad escape in name")),
        });
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    if out.is_empty() {
        return Err(Reason::Malformed("SCRAM: empty name"));
    }
    Ok(out)
}

/// A user name as the client sent it, checked and SASLprep'd.
fn prep_user(raw: &[u8]) -> Result<String, Reason> {
    if raw.len() > limits::SASL_USER_MAX {
        return Err(Reason::TooLong);
    }
    let s = std::str::from_utf8(raw).map_err(|_| Reason::Malformed("user name not UTF-8"))?;
    let user = saslprep(s).ok_or(Reason::Malformed("prohibited character in user name"))?;
    if user.is_empty() {
        return Err(Reason::Malformed("empty user name"));
    }
    Ok(user.into_owned())
}

/// The parts of an APOP greeting and command (RFC 1939 7).
#[derive(Debug)]
pub struct Apop {
    timestamp: String,
}

impl Apop {
    /// A new timestamp, `<pid.nonce.clock@host>`: RFC 1939's shape, with a
    /// random part so that it is never the same twice.
    pub fn new(host: &str, fresh: &Fresh) -> Apop {
        Apop {
            timestamp: format!("<{}.{}.{}@{host}>", fresh.pid, fresh.nonce, fresh.time),
        }
    }

    /// The timestamp for the greeting (`+OK ... <timestamp>`).
    pub fn timestamp(&self) -> &str {
        &self.timestamp
    }

    /// `APOP name digest`: the request for the privileged side. The digest
    /// is 32 hex digits (RFC 1939 says lower case; upper case is taken too).
    pub fn request(&self, user: &[u8], digest: &[u8]) -> Result<Request, Reason> {
        let digest = hex16(digest).ok_or(Reason::Malformed("APOP: bad digest"))?;
        Ok(Request::Apop {
            user: prep_user(user)?,
            timestamp: self.timestamp.clone(),
            digest,
        })
    }
}

/// 32 hex digits as 16 octets.
fn hex16(s: &[u8]) -> Option<[u8; 16]> {
    fn nibble(c: u8) -> Option<u8> {
        (c as char).to_digit(16).map(|d| d as u8)
    }
    if s.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (o, pair) in out.iter_mut().zip(s.chunks(2)) {
        *o = nibble(pair[0])? << 4 | nibble(pair[1])?;
    }
    Some(out)
}

/// RFC 4648 base64 with padding, as SASL challenges are sent (RFC 4959,
/// RFC 5034) and as SCRAM carries salt and signature.
pub fn base64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(NONCE_ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// SASLprep (RFC 4013) with "query" semantics, as far as it goes without
/// Unicode tables: non-ASCII spaces become SPACE, the characters "commonly
/// mapped to nothing" go, and the prohibited characters (RFC 4013 2.3)
/// make it fail with `None`. Not done: NFKC normalisation (a string of
/// compatibility characters such as ligatures or full-width forms is used
/// as it is) and the bidirectional check (RFC 3454 6). ASCII strings, by
/// far the common case, are handled exactly: they pass unchanged unless
/// they hold a control character.
pub fn saslprep(s: &str) -> Option<Cow<'_, str>> {
    if s.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return Some(Cow::Borrowed(s));
    }
    // Never longer than the input, so this never reallocates and leaves no
    // copy of a password behind.
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if mapped_to_nothing(c) {
            continue;
        }
        let c = if non_ascii_space(c) { ' ' } else { c };
        if prohibited(c) {
            out.zeroize();
            return None;
        }
        out.push(c);
    }
    Some(Cow::Owned(out))
}

/// RFC 3454 B.1.
fn mapped_to_nothing(c: char) -> bool {
    matches!(c as u32,
        0x00AD | 0x034F | 0x1806 | 0x180B..=0x180D | 0x200B..=0x200D | 0x2060
        | 0xFE00..=0xFE0F | 0xFEFF)
}

/// RFC 3454 C.1.2.
fn non_ascii_space(c: char) -> bool {
    non_ascii_space_code(c as u32)
}

fn non_ascii_space_code(c: u32) -> bool {
    matches!(
        c,
        0x00A0 | 0x1680 | 0x2000..=0x200B | 0x202F | 0x205F | 0x3000
    )
}

/// RFC 4013 2.3: RFC 3454 C.1.2 (already mapped to SPACE), C.2.1, C.2.2, C.3, C.4, C.5 (cannot occur
/// in a `char`), C.6, C.7, C.8, C.9.
fn prohibited(c: char) -> bool {
    let c = c as u32;
    non_ascii_space_code(c)
        || matches!(c,
            // C.2.1, C.2.2
            0x0000..=0x001F | 0x007F | 0x0080..=0x009F | 0x06DD | 0x070F | 0x180E
            | 0x200C | 0x200D | 0x2028 | 0x2029 | 0x2060..=0x2063 | 0x206A..=0x206F
            | 0xFEFF | 0xFFF9..=0xFFFC | 0x1D173..=0x1D17A
            // C.3
            | 0xE000..=0xF8FF | 0xF0000..=0xFFFFD | 0x100000..=0x10FFFD
            // C.4 (and the plane-final pairs below)
            | 0xFDD0..=0xFDEF
            // C.6
            | 0xFFFD
            // C.7
            | 0x2FF0..=0x2FFB
            // C.8
            | 0x0340 | 0x0341 | 0x200E | 0x200F | 0x202A..=0x202E
            // C.9
            | 0xE0001 | 0xE0020..=0xE007F)
        || c & 0xFFFE == 0xFFFE
}

// ---------------------------------------------------------------------------
// The privileged side: these run where the stored passwords are.
// ---------------------------------------------------------------------------

/// PLAIN/LOGIN against a stored plaintext (sasldb): equal as sent, or equal
/// after SASLprep of both (RFC 4616 5). Constant time in the contents.
pub fn verify_plaintext(stored: &[u8], supplied: &[u8]) -> bool {
    let raw = stored.ct_eq(supplied);
    let prepped = match (prep_password(stored), prep_password(supplied)) {
        (Some(a), Some(b)) => a.ct_eq(&b),
        _ => subtle::Choice::from(0),
    };
    (raw | prepped).into()
}

/// RFC 2195 2: is `digest` HMAC-MD5 of `challenge` keyed with `password`?
pub fn verify_cram_md5(password: &[u8], challenge: &[u8], digest: &[u8]) -> bool {
    let Ok(mut mac) = Hmac::<Md5>::new_from_slice(password) else {
        return false;
    };
    mac.update(challenge);
    // Mac::verify_slice compares in constant time.
    mac.verify_slice(digest).is_ok()
}

/// RFC 1939 7: is `digest` MD5 of `timestamp` followed by `password`?
pub fn verify_apop(password: &[u8], timestamp: &[u8], digest: &[u8]) -> bool {
    let mut md5 = Md5::new();
    md5.update(timestamp);
    md5.update(password);
    md5.finalize().as_slice().ct_eq(digest).into()
}

/// RFC 5802 3: the keys a SCRAM server stores (here: derives each time).
/// Zeroed on drop; `Debug` shows nothing.
pub struct ScramKeys {
    pub stored_key: [u8; 32],
    pub server_key: [u8; 32],
}

impl Drop for ScramKeys {
    fn drop(&mut self) {
        self.stored_key.zeroize();
        self.server_key.zeroize();
    }
}

impl fmt::Debug for ScramKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ScramKeys(..)")
    }
}

/// The hash of a SCRAM mechanism: SHA-1 (RFC 5802) or SHA-256 (RFC 7677).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScramHash {
    Sha1,
    Sha256,
}

impl ScramHash {
    /// Octets of its digests (and so of proofs, keys and signatures).
    pub fn digest_len(self) -> usize {
        match self {
            ScramHash::Sha1 => 20,
            ScramHash::Sha256 => 32,
        }
    }

    /// `H(data)`, in the first `len` octets.
    fn h(self, data: &[u8]) -> [u8; 32] {
        let mut out = [0u8; 32];
        match self {
            ScramHash::Sha1 => out[..20].copy_from_slice(&sha1::Sha1::digest(data)),
            ScramHash::Sha256 => out.copy_from_slice(&Sha256::digest(data)),
        }
        out
    }

    /// `HMAC(key, data)`, in the first `len` octets.
    fn hmac(self, key: &[u8], data: &[u8]) -> [u8; 32] {
        let mut out = [0u8; 32];
        // HMAC takes keys of any length: new_from_slice cannot fail.
        match self {
            ScramHash::Sha1 => {
                let mut mac = <Hmac<sha1::Sha1> as Mac>::new_from_slice(key)
                    .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
                mac.update(data);
                out[..20].copy_from_slice(&mac.finalize().into_bytes());
            }
            ScramHash::Sha256 => {
                let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
                    .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
                mac.update(data);
                out.copy_from_slice(&mac.finalize().into_bytes());
            }
        }
        out
    }

    /// RFC 5802 2.2 `Hi(str, salt, i)`: PBKDF2 with HMAC of this hash.
    fn hi(self, password: &[u8], salt: &[u8], iterations: u32) -> Zeroizing<[u8; 32]> {
        let mut out = Zeroizing::new([0u8; 32]);
        match self {
            ScramHash::Sha1 => {
                pbkdf2::pbkdf2_hmac::<sha1::Sha1>(password, salt, iterations, &mut out[..20])
            }
            ScramHash::Sha256 => {
                pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut *out)
            }
        }
        out
    }
}

/// RFC 5802 3: `SaltedPassword := Hi(Normalize(password), salt, i)`,
/// `StoredKey := H(HMAC(SaltedPassword, "Client Key"))`,
/// `ServerKey := HMAC(SaltedPassword, "Server Key")`, each in the first
/// `hash.digest_len()` octets.
pub fn scram_keys(hash: ScramHash, password: &[u8], salt: &[u8], iterations: u32) -> ScramKeys {
    let normalized = prep_password(password);
    let password = normalized.as_deref().map_or(password, |p| p.as_slice());
    let salted = hash.hi(password, salt, iterations);
    let salted = &salted[..hash.digest_len()];
    let client_key = Zeroizing::new(hash.hmac(salted, b"Client Key"));
    ScramKeys {
        stored_key: hash.h(&client_key[..hash.digest_len()]),
        server_key: hash.hmac(salted, b"Server Key"),
    }
}

/// RFC 5802 3: checks the ClientProof for this AuthMessage and returns the
/// ServerSignature when it is right. Refuses an iteration count other than
/// [`limits::SCRAM_ITERATIONS`] and a salt of another length, so that the
/// login process cannot make this side work harder than a real login does.
pub fn verify_scram(
    hash: ScramHash,
    password: &[u8],
    salt: &[u8],
    iterations: u32,
    auth_message: &[u8],
    proof: &[u8; 32],
) -> Option<[u8; 32]> {
    if iterations != limits::SCRAM_ITERATIONS || salt.len() != SCRAM_SALT_LEN {
        return None;
    }
    let len = hash.digest_len();
    let keys = scram_keys(hash, password, salt, iterations);
    let client_signature = hash.hmac(&keys.stored_key[..len], auth_message);
    let mut client_key = Zeroizing::new([0u8; 32]);
    for ((k, p), s) in client_key.iter_mut().zip(proof).zip(client_signature) {
        *k = p ^ s;
    }
    let stored_key = hash.h(&client_key[..len]);
    if bool::from(stored_key.ct_eq(&keys.stored_key)) {
        Some(hash.hmac(&keys.server_key[..len], auth_message))
    } else {
        None
    }
}

/// RFC 5802 2.2 `Normalize`: SASLprep when the password is UTF-8 and
/// SASLprep takes it, else the octets as they are (what clients do too).
fn prep_password(password: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    let s = std::str::from_utf8(password).ok()?;
    Some(Zeroizing::new(saslprep(s)?.into_owned().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fresh(nonce: &str, salt: &[u8], time: u64) -> Fresh {
        Fresh {
            nonce: nonce.to_owned(),
            salt: salt.to_vec(),
            time,
            pid: 4711,
        }
    }

    fn start(mechanism: Mechanism) -> Exchange {
        mechanism.start("imap.example.org", fresh("NONCE", &[7; 16], 1_000_000_000))
    }

    fn gss_request(step: Step) -> (Vec<u8>, bool) {
        match request(step) {
            Request::Gss { token, first } => (token, first),
            other => panic!("expected a GSSAPI token, got {other:?}"),
        }
    }

    #[test]
    fn gssapi_relays_tokens_until_the_parent_names_the_user() {
        // Without an initial response: an empty challenge first.
        let mut ex = start(Mechanism::Gssapi);
        assert_eq!(challenge(ex.begin(None)), b"");
        assert_eq!(
            gss_request(ex.step(b"\x60token")),
            (b"\x60token".to_vec(), true)
        );
        let more = Verdict::Gss {
            token: b"reply".to_vec(),
            user: None,
        };
        assert_eq!(challenge(ex.verdict(more)), b"reply");
        // Empty answers are relayed too (RFC 4752 3.1).
        assert_eq!(gss_request(ex.step(b"")), (Vec::new(), false));
        let done = Verdict::Gss {
            token: Vec::new(),
            user: Some("alice".into()),
        };
        match ex.verdict(done) {
            Step::Done(Identity::User(u)) => assert_eq!(u, "alice"),
            other => panic!("{other:?}"),
        }
        // With one: relayed at once, as the first of its exchange.
        let mut ex = start(Mechanism::Gssapi);
        assert_eq!(gss_request(ex.begin(Some(b"tok"))), (b"tok".to_vec(), true));
        assert_eq!(fail(ex.verdict(Verdict::Reject)), Reason::Credentials);
        // A token out of turn, and another mechanism's verdict, fail.
        let mut ex = start(Mechanism::Gssapi);
        gss_request(ex.begin(Some(b"tok")));
        assert_eq!(fail(ex.step(b"again")), Reason::OutOfTurn);
        let mut ex = start(Mechanism::Gssapi);
        gss_request(ex.begin(Some(b"tok")));
        assert_eq!(fail(ex.verdict(Verdict::Accept)), Reason::OutOfTurn);
        let mut ex = start(Mechanism::Plain);
        request(ex.begin(Some(b"\0u\0p")));
        let gss = Verdict::Gss {
            token: Vec::new(),
            user: Some("root".into()),
        };
        assert_eq!(fail(ex.verdict(gss)), Reason::OutOfTurn);
    }

    fn b64(s: &str) -> Vec<u8> {
        base64_decode(s.as_bytes()).expect("test base64")
    }

    fn challenge(step: Step) -> Vec<u8> {
        match step {
            Step::Challenge(c) => c,
            other => panic!("expected a challenge, got {other:?}"),
        }
    }

    fn request(step: Step) -> Request {
        match step {
            Step::Verify(r) => r,
            other => panic!("expected a request, got {other:?}"),
        }
    }

    fn fail(step: Step) -> Reason {
        match step {
            Step::Fail(r) => r,
            other => panic!("expected a failure, got {other:?}"),
        }
    }

    fn plaintext(r: &Request) -> (&str, &[u8]) {
        match r {
            Request::Plaintext { user, password } => (user, password.as_bytes()),
            other => panic!("expected Plaintext, got {other:?}"),
        }
    }

    #[test]
    fn mechanism_names() {
        for m in Mechanism::ALL {
            assert_eq!(Mechanism::from_name(m.name().as_bytes()), Some(m));
        }
        assert_eq!(
            Mechanism::from_name(b"scram-sha-256"),
            Some(Mechanism::ScramSha256)
        );
        assert_eq!(Mechanism::from_name(b"cram-md5"), Some(Mechanism::CramMd5));
        assert_eq!(
            Mechanism::from_name(b"scram-sha-256-plus"),
            Some(Mechanism::ScramSha256Plus)
        );
        assert_eq!(Mechanism::from_name(b"SCRAM-SHA-512-PLUS"), None);
        assert_eq!(Mechanism::from_name(b"gssapi"), Some(Mechanism::Gssapi));
        assert_eq!(Mechanism::from_name(b"GSS-SPNEGO"), None);
        assert_eq!(Mechanism::from_name(b""), None);
        assert!(Mechanism::Plain.sends_plaintext() && Mechanism::Login.sends_plaintext());
        assert!(!Mechanism::ScramSha256.sends_plaintext());
    }

    // RFC 4616 4: "\0tim\0tanstaaftanstaaf".
    #[test]
    fn plain_rfc4616_example() {
        let mut ex = start(Mechanism::Plain);
        assert_eq!(ex.mechanism(), Mechanism::Plain);
        // C: a1 AUTHENTICATE PLAIN / S: +
        assert_eq!(challenge(ex.begin(None)), b"");
        let r = request(ex.step(b"\0tim\0tanstaaftanstaaf"));
        assert_eq!(plaintext(&r), ("tim", &b"tanstaaftanstaaf"[..]));
        assert_eq!(r.verify(b"tanstaaftanstaaf"), Verdict::Accept);
        match ex.verdict(Verdict::Accept) {
            Step::Done(Identity::User(u)) => assert_eq!(u, "tim"),
            other => panic!("{other:?}"),
        }
        // The exchange is over.
        assert_eq!(fail(ex.step(b"")), Reason::OutOfTurn);
    }

    // RFC 4616 4: "Ursel\0Kurt\0xipj3plmq" asks to act as Ursel; we do no
    // proxy authorisation.
    #[test]
    fn plain_authzid() {
        let mut ex = start(Mechanism::Plain);
        assert_eq!(
            fail(ex.begin(Some(b"Ursel\0Kurt\0xipj3plmq"))),
            Reason::Authorization
        );
        let mut ex = start(Mechanism::Plain);
        let r = request(ex.begin(Some(b"Kurt\0Kurt\0xipj3plmq")));
        assert_eq!(plaintext(&r), ("Kurt", &b"xipj3plmq"[..]));
        assert_eq!(fail(ex.verdict(Verdict::Reject)), Reason::Credentials);
    }

    #[test]
    fn plain_nul_handling() {
        let bad: &[&[u8]] = &[
            b"",
            b"tim",
            b"\0tim",
            b"tim\0tanstaaf",
            b"\0tim\0",
            b"\0\0tanstaaf",
            b"\0\0",
            b"\0tim\0tan\0staaf",
            b"\0tim\0tanstaaf\0",
            b"\0\0\0",
            b"\0tim\x07\0tanstaaf",
            b"\0ti\xffm\0tanstaaf",
            b"\0tim\0tan\xffstaaf",
        ];
        for msg in bad {
            let mut ex = start(Mechanism::Plain);
            assert!(
                matches!(fail(ex.begin(Some(msg))), Reason::Malformed(_)),
                "{msg:?}"
            );
        }
        // Spaces and non-ASCII are fine; the password is passed on as sent.
        let mut ex = start(Mechanism::Plain);
        let r = request(ex.begin(Some("\0J\u{00f6}rg M\0p\u{00e4}ss w\u{00a0}rd".as_bytes())));
        assert_eq!(
            plaintext(&r),
            ("J\u{00f6}rg M", "p\u{00e4}ss w\u{00a0}rd".as_bytes())
        );
    }

    #[test]
    fn plain_limits() {
        let long_user = vec![b'u'; limits::SASL_USER_MAX + 1];
        let mut msg = vec![0];
        msg.extend_from_slice(&long_user);
        msg.extend_from_slice(b"\0pw");
        assert_eq!(
            fail(start(Mechanism::Plain).begin(Some(&msg))),
            Reason::TooLong
        );
        let mut msg = b"\0tim\0".to_vec();
        msg.extend(vec![b'p'; limits::SASL_PASSWORD_MAX + 1]);
        assert_eq!(
            fail(start(Mechanism::Plain).begin(Some(&msg))),
            Reason::TooLong
        );
        let mut msg = b"\0tim\0".to_vec();
        msg.extend(vec![b'p'; limits::SASL_PASSWORD_MAX]);
        request(start(Mechanism::Plain).begin(Some(&msg)));
        let huge = vec![b'x'; limits::SASL_MESSAGE_MAX + 1];
        assert_eq!(
            fail(start(Mechanism::Plain).begin(Some(&huge))),
            Reason::TooLong
        );
        let mut ex = start(Mechanism::Plain);
        challenge(ex.begin(None));
        assert_eq!(fail(ex.step(&huge)), Reason::TooLong);
    }

    #[test]
    fn login_exchange() {
        let mut ex = start(Mechanism::Login);
        assert_eq!(challenge(ex.begin(None)), b"Username:");
        assert_eq!(challenge(ex.step(b"tim")), b"Password:");
        let r = request(ex.step(b"tanstaaf"));
        assert_eq!(plaintext(&r), ("tim", &b"tanstaaf"[..]));
        assert!(matches!(ex.verdict(Verdict::Accept), Step::Done(Identity::User(u)) if u == "tim"));

        // User name as initial response.
        let mut ex = start(Mechanism::Login);
        assert_eq!(challenge(ex.begin(Some(b"tim"))), b"Password:");
        // Legacy clients send Latin-1 passwords; LOGIN passes them on.
        request(ex.step(b"p\xe4ss"));
        assert_eq!(fail(ex.verdict(Verdict::Reject)), Reason::Credentials);
    }

    #[test]
    fn login_malformed() {
        let mut ex = start(Mechanism::Login);
        assert!(matches!(fail(ex.begin(Some(b""))), Reason::Malformed(_)));
        let mut ex = start(Mechanism::Login);
        challenge(ex.begin(None));
        assert!(matches!(fail(ex.step(b"ti\0m")), Reason::Malformed(_)));
        for password in [&b""[..], b"secret\0garbage"] {
            let mut ex = start(Mechanism::Login);
            challenge(ex.begin(Some(b"tim")));
            assert!(matches!(fail(ex.step(password)), Reason::Malformed(_)));
        }
        let mut ex = start(Mechanism::Login);
        challenge(ex.begin(Some(b"tim")));
        let long = vec![b'p'; limits::SASL_PASSWORD_MAX + 1];
        assert_eq!(fail(ex.step(&long)), Reason::TooLong);
    }

    // RFC 2195 2: the challenge and digest of the RFC's example.
    #[test]
    fn cram_md5_rfc2195_example() {
        let mut ex = Mechanism::CramMd5.start(
            "postoffice.reston.mci.net",
            fresh("1896", &[0; 16], 697170952),
        );
        let c = challenge(ex.begin(None));
        assert_eq!(c, b"<1896.697170952@postoffice.reston.mci.net>");
        assert_eq!(
            base64_encode(&c),
            "PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+"
        );
        let answer = b64("dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw");
        assert_eq!(answer, b"tim b913a602c7eda7a495b4e6e7334d3890");
        let r = request(ex.step(&answer));
        match &r {
            Request::CramMd5 {
                user,
                challenge,
                digest,
            } => {
                assert_eq!(user, "tim");
                assert_eq!(challenge, "<1896.697170952@postoffice.reston.mci.net>");
                assert_eq!(digest[..2], [0xb9, 0x13]);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(r.verify(b"tanstaaftanstaaf"), Verdict::Accept);
        assert_eq!(r.verify(b"tanstaaftanstaaF"), Verdict::Reject);
        assert_eq!(r.verify(b""), Verdict::Reject);
        assert!(matches!(ex.verdict(Verdict::Accept), Step::Done(Identity::User(u)) if u == "tim"));
        // Upper-case hex is the same digest.
        let mut ex = Mechanism::CramMd5.start("h", fresh("1", &[0; 16], 2));
        challenge(ex.begin(None));
        request(ex.step(b"tim B913A602C7EDA7A495B4E6E7334D3890"));
    }

    #[test]
    fn cram_md5_fresh_challenge_shape() {
        let f = Fresh::new().expect("getrandom");
        let nonce = f.nonce.clone();
        let mut ex = Mechanism::CramMd5.start("mail.example.org", f);
        let c = String::from_utf8(challenge(ex.begin(None))).expect("ASCII");
        assert!(c.starts_with(&format!("<{nonce}.")) && c.ends_with("@mail.example.org>"));
    }

    #[test]
    fn cram_md5_malformed() {
        let mut ex = start(Mechanism::CramMd5);
        assert!(matches!(fail(ex.begin(Some(b"tim"))), Reason::Malformed(_)));
        let bad: &[&[u8]] = &[
            b"",
            b"tim",
            b"timb913a602c7eda7a495b4e6e7334d3890",
            b"tim b913a602c7eda7a495b4e6e7334d389",
            b"tim b913a602c7eda7a495b4e6e7334d38900",
            b"tim b913a602c7eda7a495b4e6e7334d389g",
            b"tim +913a602c7eda7a495b4e6e7334d3890",
            b" b913a602c7eda7a495b4e6e7334d3890",
            b"tim ",
            b"ti\x01m b913a602c7eda7a495b4e6e7334d3890",
        ];
        for msg in bad {
            let mut ex = start(Mechanism::CramMd5);
            challenge(ex.begin(None));
            assert!(
                matches!(fail(ex.step(msg)), Reason::Malformed(_)),
                "{msg:?}"
            );
        }
    }

    const RFC7677_CLIENT_FIRST: &str = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
    const RFC7677_SERVER_FIRST: &str =
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    const RFC7677_CLIENT_FINAL: &str = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
    const RFC7677_SERVER_FINAL: &str = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

    fn rfc7677() -> Exchange {
        Mechanism::ScramSha256.start(
            "unused",
            fresh(
                "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
                &b64("W22ZaJ0SNY7soEsUEjb6gQ=="),
                0,
            ),
        )
    }

    // RFC 7677 3: the whole exchange, with the RFC's nonces and salt.
    #[test]
    fn scram_rfc7677_example() {
        let mut ex = rfc7677();
        // C: a1 AUTHENTICATE SCRAM-SHA-256 / S: + / C: client-first
        assert_eq!(challenge(ex.begin(None)), b"");
        let server_first = challenge(ex.step(RFC7677_CLIENT_FIRST.as_bytes()));
        assert_eq!(server_first, RFC7677_SERVER_FIRST.as_bytes());
        let r = request(ex.step(RFC7677_CLIENT_FINAL.as_bytes()));
        match &r {
            Request::Scram {
                user,
                iterations,
                auth_message,
                ..
            } => {
                assert_eq!(user, "user");
                assert_eq!(*iterations, 4096);
                assert_eq!(
                    auth_message,
                    &format!(
                        "n=user,r=rOprNGfwEbeRWgbNEkqO,{RFC7677_SERVER_FIRST},c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
                    )
                );
            }
            other => panic!("{other:?}"),
        }
        // The privileged side.
        assert_eq!(r.verify(b"pencil2"), Verdict::Reject);
        let verdict = r.verify(b"pencil");
        assert!(matches!(verdict, Verdict::AcceptScram { .. }));
        let server_final = challenge(ex.verdict(verdict));
        assert_eq!(server_final, RFC7677_SERVER_FINAL.as_bytes());
        match ex.step(b"") {
            Step::Done(Identity::User(u)) => assert_eq!(u, "user"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn scram_rfc7677_initial_response() {
        let mut ex = rfc7677();
        challenge(ex.begin(Some(RFC7677_CLIENT_FIRST.as_bytes())));
        let r = request(ex.step(RFC7677_CLIENT_FINAL.as_bytes()));
        // A wrong password: no server-final, just failure.
        assert_eq!(fail(ex.verdict(r.verify(b"pencil "))), Reason::Credentials);
    }

    #[test]
    fn scram_keys_rfc7677() {
        let keys = scram_keys(
            ScramHash::Sha256,
            b"pencil",
            &b64("W22ZaJ0SNY7soEsUEjb6gQ=="),
            4096,
        );
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        assert_eq!(
            hex(&keys.stored_key),
            "586e5df283e6dceb5c3e791d8b8528ec191e664045ce971792e2e6b5bb13e2a6"
        );
        assert_eq!(
            hex(&keys.server_key),
            "c1f3cbc1c13a9d35a14c0990eed97629ea225863e566a4314ab99f3f00e5d9d5"
        );
        assert_eq!(format!("{keys:?}"), "ScramKeys(..)");
    }

    /// A SCRAM-SHA-256 client written from RFC 5802 3 apart from the
    /// server code: returns client-final and the expected server-final.
    fn scram_client(
        password: &[u8],
        client_first_bare: &str,
        gs2: &str,
        server_first: &str,
    ) -> (String, String) {
        scram_client_bound(password, client_first_bare, gs2, b"", server_first)
    }

    /// `scram_client` with channel binding data `cbind` after the gs2-header.
    fn scram_client_bound(
        password: &[u8],
        client_first_bare: &str,
        gs2: &str,
        cbind: &[u8],
        server_first: &str,
    ) -> (String, String) {
        let fields: Vec<&str> = server_first.split(',').collect();
        let nonce = &fields[0][2..];
        let salt = b64(&fields[1][2..]);
        let i: u32 = fields[2][2..].parse().expect("i=");
        let mut salted = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<Sha256>(password, &salt, i, &mut salted);
        let mac = |key: &[u8], data: &[u8]| -> Vec<u8> {
            let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("key");
            m.update(data);
            m.finalize().into_bytes().to_vec()
        };
        let client_key = mac(&salted, b"Client Key");
        let stored_key = Sha256::digest(&client_key);
        let c = [gs2.as_bytes(), cbind].concat();
        let without_proof = format!("c={},r={nonce}", base64_encode(&c));
        let auth = format!("{client_first_bare},{server_first},{without_proof}");
        let signature = mac(&stored_key, auth.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&signature)
            .map(|(a, b)| a ^ b)
            .collect();
        let server_key = mac(&salted, b"Server Key");
        let server_signature = mac(&server_key, auth.as_bytes());
        (
            format!("{without_proof},p={}", base64_encode(&proof)),
            format!("v={}", base64_encode(&server_signature)),
        )
    }

    #[test]
    fn scram_independent_client() {
        // Escaped name, "y" flag, matching authzid, an extension, random nonce and salt.
        let cases = [
            (
                "y,,",
                "n=a=2Cb=3Dc,r=abc,x=ignored",
                "a,b=c",
                &b"pencil"[..],
            ),
            ("n,a=a=2Cb,", "n=a=2Cb,r=xyz", "a,b", b"pencil"),
            ("n,,", "n=user,r=12345", "user", b"p\xc3\xa4ss"),
        ];
        for (gs2, bare, user, password) in cases {
            let mut ex = Mechanism::ScramSha256.start("h", Fresh::new().expect("getrandom"));
            let server_first =
                String::from_utf8(challenge(ex.begin(Some(format!("{gs2}{bare}").as_bytes()))))
                    .expect("UTF-8");
            let client_bare = bare;
            let (client_final, expected) = scram_client(password, client_bare, gs2, &server_first);
            let r = request(ex.step(client_final.as_bytes()));
            assert_eq!(r.user(), user);
            let v = r.verify(password);
            assert_eq!(challenge(ex.verdict(v)), expected.as_bytes());
            assert!(matches!(ex.step(b""), Step::Done(Identity::User(u)) if u == user));
        }
    }

    #[test]
    fn oauth_messages() {
        // RFC 7628 4.1's example.
        let m = b"n,a=user@example.com,\x01host=server.example.com\x01port=143\x01auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01";
        assert_eq!(
            oauthbearer_message(m),
            Ok((
                Some("user@example.com".into()),
                "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==".into()
            ))
        );
        assert_eq!(
            oauthbearer_message(b"n,,\x01auth=bearer abc\x01\x01"),
            Ok((None, "abc".into()))
        );
        for bad in [
            &b"n,,auth=Bearer abc\x01\x01"[..],
            b"n,,\x01auth=Bearer abc\x01",
            b"n,,\x01auth=Basic abc\x01\x01",
            b"n,,\x01auth=Bearer a b\x01\x01",
            b"n,,\x01host=x\x01\x01",
        ] {
            assert!(oauthbearer_message(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            oauthbearer_message(b"p=tls-unique,,\x01auth=Bearer abc\x01\x01"),
            Err(Reason::ChannelBinding)
        );
        assert_eq!(
            xoauth2_message(b"user=someuser@example.com\x01auth=Bearer ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\x01\x01"),
            Ok((
                Some("someuser@example.com".into()),
                "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg".into()
            ))
        );
        assert!(xoauth2_message(b"user=a\x01auth=Bearer x").is_err());
        assert!(xoauth2_message(b"auth=Bearer x\x01\x01").is_err());
    }

    #[test]
    fn scram_plus_binds_to_the_channel() {
        let bindings = ChannelBindings {
            exporter: Some(vec![7; 32]),
            end_point: Some(vec![9; 48]),
        };
        let plus = |m: Mechanism, b: &ChannelBindings| {
            m.start("h", Fresh::new().expect("getrandom"))
                .with_bindings(Some(b.clone()))
        };
        for m in [Mechanism::ScramSha256Plus, Mechanism::ScramSha1Plus] {
            for (gs2, data) in [
                ("p=tls-exporter,,", [7u8; 32].to_vec()),
                ("p=tls-server-end-point,,", vec![9; 48]),
            ] {
                if m == Mechanism::ScramSha1Plus {
                    // Its proof is SHA-1's; the independent client is SHA-256.
                    let mut ex = plus(m, &bindings);
                    let sf = challenge(ex.begin(Some(format!("{gs2}n=u,r=n").as_bytes())));
                    assert!(sf.starts_with(b"r=n"), "{m:?} {gs2}");
                    continue;
                }
                let mut ex = plus(m, &bindings);
                let sf = String::from_utf8(challenge(
                    ex.begin(Some(format!("{gs2}n=user,r=abc").as_bytes())),
                ))
                .expect("UTF-8");
                let (cf, expected) = scram_client_bound(b"pencil", "n=user,r=abc", gs2, &data, &sf);
                let r = request(ex.step(cf.as_bytes()));
                assert_eq!(
                    challenge(ex.verdict(r.verify(b"pencil"))),
                    expected.as_bytes()
                );
                // Another channel's data (a man in the middle's): refused
                // before the parent is asked.
                let mut ex = plus(m, &bindings);
                let sf = String::from_utf8(challenge(
                    ex.begin(Some(format!("{gs2}n=user,r=abc").as_bytes())),
                ))
                .expect("UTF-8");
                let (cf, _) = scram_client_bound(b"pencil", "n=user,r=abc", gs2, &[1; 32], &sf);
                assert!(matches!(fail(ex.step(cf.as_bytes())), Reason::Malformed(_)));
            }
        }
        let cases: &[(Mechanism, Option<&ChannelBindings>, &[u8], Reason)] = &[
            // -PLUS without asking to bind, or binding a type this link
            // lacks (TLS 1.2: no exporter), or one nobody defined.
            (
                Mechanism::ScramSha256Plus,
                Some(&bindings),
                b"n,,n=u,r=n",
                Reason::Malformed("SCRAM-PLUS: no channel binding asked"),
            ),
            (
                Mechanism::ScramSha256Plus,
                Some(&ChannelBindings {
                    exporter: None,
                    end_point: Some(vec![9; 32]),
                }),
                b"p=tls-exporter,,n=u,r=n",
                Reason::ChannelBinding,
            ),
            (
                Mechanism::ScramSha256Plus,
                Some(&bindings),
                b"p=tls-unique,,n=u,r=n",
                Reason::ChannelBinding,
            ),
            // "y" while -PLUS was offered: a downgrade.
            (
                Mechanism::ScramSha256,
                Some(&bindings),
                b"y,,n=u,r=n",
                Reason::Downgrade,
            ),
            (
                Mechanism::ScramSha1,
                Some(&bindings),
                b"y,,n=u,r=n",
                Reason::Downgrade,
            ),
        ];
        for (m, b, msg, reason) in cases {
            let mut ex = m
                .start("h", Fresh::new().expect("getrandom"))
                .with_bindings(b.cloned());
            assert_eq!(
                fail(ex.begin(Some(msg))),
                *reason,
                "{m:?} {:?}",
                String::from_utf8_lossy(msg)
            );
        }
        // "y" where no -PLUS was offered (plain link): fine.
        let mut ex = Mechanism::ScramSha256.start("h", Fresh::new().expect("getrandom"));
        assert!(challenge(ex.begin(Some(b"y,,n=u,r=n"))).starts_with(b"r=n"));
    }

    #[test]
    fn scram_normalises_the_stored_password() {
        // The client prepares "pass<NBSP>word" to "pass word" (RFC 5802 2.2);
        // the stored password is prepared the same way.
        let mut ex = Mechanism::ScramSha256.start("h", Fresh::new().expect("getrandom"));
        let sf = String::from_utf8(challenge(ex.begin(Some(b"n,,n=u,r=n")))).expect("UTF-8");
        let (cf, _) = scram_client(b"pass word", "n=u,r=n", "n,,", &sf);
        let r = request(ex.step(cf.as_bytes()));
        assert!(matches!(
            r.verify("pass\u{00a0}word".as_bytes()),
            Verdict::AcceptScram { .. }
        ));
    }

    #[test]
    fn scram_client_first_malformed() {
        let cases: &[(&[u8], Reason)] = &[
            (b"p=tls-unique,,n=user,r=abc", Reason::ChannelBinding),
            (
                b"p=tls-server-end-point,,n=user,r=abc",
                Reason::ChannelBinding,
            ),
            (b"n,a=admin,n=user,r=abc", Reason::Authorization),
        ];
        for (msg, reason) in cases {
            assert_eq!(
                fail(start(Mechanism::ScramSha256).begin(Some(msg))),
                *reason
            );
        }
        let bad: &[&[u8]] = &[
            b"",
            b"n",
            b"n,",
            b"n,,",
            b"x,,n=user,r=abc",
            b"p,,n=user,r=abc",
            b"nn,,n=user,r=abc",
            b"n,b=user,n=user,r=abc",
            b"n,a=,n=user,r=abc",
            b"n,,m=must,n=user,r=abc",
            b"n,,n=user",
            b"n,,n=user,",
            b"n,,n=user,r=",
            b"n,,n=,r=abc",
            b"n,,r=abc,n=user",
            b"n,,n=us=2Xer,r=abc",
            b"n,,n=us=2cer,r=abc",
            b"n,,n=user=,r=abc",
            b"n,,n=user=3,r=abc",
            b"n,,n=user,r=a c",
            b"n,,n=user,r=a\x7f",
            b"n,,n=user,r=abc,bad",
            b"n,,n=user,r=abc,x=",
            b"n,,n=user,r=abc,,",
            b"n,,n=us\x01er,r=abc",
            b"n,,n=us\xffer,r=abc",
            b"n,,user,r=abc",
        ];
        for msg in bad {
            let mut ex = start(Mechanism::ScramSha256);
            challenge(ex.begin(None));
            assert!(
                matches!(fail(ex.step(msg)), Reason::Malformed(_)),
                "{:?}",
                String::from_utf8_lossy(msg)
            );
        }
        let long_name = format!("n,,n={},r=abc", "u".repeat(limits::SASL_USER_MAX + 1));
        assert_eq!(
            fail(start(Mechanism::ScramSha256).begin(Some(long_name.as_bytes()))),
            Reason::TooLong
        );
    }

    #[test]
    fn scram_client_final_malformed() {
        let nonce = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
        let proof = "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
        let bad = [
            String::new(),
            format!("c=biws,r={nonce}"),
            format!("c=biws,r={nonce},{proof},x=y"),
            // Nonce mismatch: another server part, only the client part, none.
            format!("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k1,{proof}"),
            format!("c=biws,r=rOprNGfwEbeRWgbNEkqO,{proof}"),
            format!("c=biws,{proof}"),
            // Channel binding data other than the gs2-header.
            format!("c=eSws,r={nonce},{proof}"),
            format!("c=cD10bHMtdW5pcXVlLCw=,r={nonce},{proof}"),
            format!("c=bi!s,r={nonce},{proof}"),
            format!("r={nonce},c=biws,{proof}"),
            // Proof not base64, too short, too long. (Missing padding is
            // taken, like everywhere in SASL here.)
            format!("c=biws,r={nonce},p=dHzbZapW"),
            format!("c=biws,r={nonce},p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQA"),
            format!("c=biws,r={nonce},p=****"),
            format!("c=biws,r={nonce},x,{proof}"),
        ];
        for msg in &bad {
            let mut ex = rfc7677();
            challenge(ex.begin(Some(RFC7677_CLIENT_FIRST.as_bytes())));
            assert!(
                matches!(fail(ex.step(msg.as_bytes())), Reason::Malformed(_)),
                "{msg}"
            );
        }
        // An extension before the proof is fine (and part of AuthMessage).
        let mut ex = rfc7677();
        challenge(ex.begin(Some(RFC7677_CLIENT_FIRST.as_bytes())));
        let r = request(ex.step(format!("c=biws,r={nonce},x=y,{proof}").as_bytes()));
        // ... which makes the RFC's proof wrong.
        assert_eq!(r.verify(b"pencil"), Verdict::Reject);
        // A wrong proof.
        let mut ex = rfc7677();
        challenge(ex.begin(Some(RFC7677_CLIENT_FIRST.as_bytes())));
        let r = request(ex.step(
            format!("c=biws,r={nonce},p=AHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=").as_bytes(),
        ));
        assert_eq!(r.verify(b"pencil"), Verdict::Reject);
        assert_eq!(fail(ex.verdict(Verdict::Reject)), Reason::Credentials);
        // Data where the empty answer to server-final belongs.
        let mut ex = rfc7677();
        challenge(ex.begin(Some(RFC7677_CLIENT_FIRST.as_bytes())));
        let r = request(ex.step(RFC7677_CLIENT_FINAL.as_bytes()));
        challenge(ex.verdict(r.verify(b"pencil")));
        assert!(matches!(fail(ex.step(b"x")), Reason::Malformed(_)));
    }

    #[test]
    fn scram_privileged_side_refuses_other_parameters() {
        let salt = b64("W22ZaJ0SNY7soEsUEjb6gQ==");
        let am = format!(
            "n=user,r=rOprNGfwEbeRWgbNEkqO,{RFC7677_SERVER_FIRST},c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
        );
        let proof: [u8; 32] = b64("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
            .try_into()
            .expect("32 octets");
        let verify =
            |hash, salt: &[u8], i| verify_scram(hash, b"pencil", salt, i, am.as_bytes(), &proof);
        assert!(verify(ScramHash::Sha256, &salt, 4096).is_some());
        assert!(verify(ScramHash::Sha256, &salt, 4097).is_none());
        assert!(verify(ScramHash::Sha256, &salt, u32::MAX).is_none());
        assert!(verify(ScramHash::Sha256, &salt[1..], 4096).is_none());
        // The same proof under the other hash proves nothing.
        assert!(verify(ScramHash::Sha1, &salt, 4096).is_none());
    }

    /// RFC 5802 5's example (SCRAM-SHA-1, user "user", password "pencil"):
    /// the ClientProof the client sends is the one our keys check, and the
    /// ServerSignature ours.
    #[test]
    fn scram_sha1_rfc5802_example() {
        let hash = ScramHash::Sha1;
        let am = "n=user,r=fyko+d2lbbFgONRv9qkxdawL,\
                  r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096,\
                  c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j";
        let keys = scram_keys(hash, b"pencil", &b64("QSXCR+Q6sek8bf92"), 4096);
        let signature = hash.hmac(&keys.stored_key[..20], am.as_bytes());
        let proof = b64("v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=");
        let client_key: Vec<u8> = proof.iter().zip(&signature).map(|(p, s)| p ^ s).collect();
        assert_eq!(hash.h(&client_key)[..20], keys.stored_key[..20]);
        assert_eq!(
            hash.hmac(&keys.server_key[..20], am.as_bytes())[..20],
            b64("rmF9pqV8S7suAoZWja4dJRkFsKQ=")[..]
        );
        assert_eq!(
            Mechanism::from_name(b"scram-sha-1"),
            Some(Mechanism::ScramSha1)
        );
    }

    #[test]
    fn scram_verdict_must_match_mechanism() {
        let mut ex = rfc7677();
        challenge(ex.begin(Some(RFC7677_CLIENT_FIRST.as_bytes())));
        request(ex.step(RFC7677_CLIENT_FINAL.as_bytes()));
        // A bare Accept carries no ServerSignature: not an answer to SCRAM.
        assert_eq!(fail(ex.verdict(Verdict::Accept)), Reason::OutOfTurn);
        let mut ex = start(Mechanism::Plain);
        request(ex.begin(Some(b"\0tim\0pw")));
        let v = Verdict::AcceptScram {
            server_signature: [0; 32],
        };
        assert_eq!(fail(ex.verdict(v)), Reason::OutOfTurn);
    }

    // RFC 4505 3: the trace "sirhc".
    #[test]
    fn anonymous() {
        let mut ex = start(Mechanism::Anonymous);
        assert_eq!(challenge(ex.begin(None)), b"");
        assert_eq!(
            match ex.step(&b64("c2lyaGM=")) {
                Step::Done(id) => id,
                other => panic!("{other:?}"),
            },
            Identity::Anonymous {
                trace: "sirhc".into()
            }
        );
        for ok in [
            &b""[..],
            b"abuse@example.net",
            "\u{00e9}".repeat(255).as_bytes(),
        ] {
            assert!(matches!(
                start(Mechanism::Anonymous).begin(Some(ok)),
                Step::Done(_)
            ));
        }
        assert_eq!(
            fail(start(Mechanism::Anonymous).begin(Some("\u{00e9}".repeat(256).as_bytes()))),
            Reason::TooLong
        );
        for bad in [
            &b"a\nb"[..],
            b"a\rb",
            b"\x1b[2J",
            b"\xff",
            "a\u{0085}".as_bytes(),
        ] {
            assert!(matches!(
                fail(start(Mechanism::Anonymous).begin(Some(bad))),
                Reason::Malformed(_)
            ));
        }
    }

    // RFC 1939 7: the APOP example.
    #[test]
    fn apop_rfc1939_example() {
        let apop = Apop {
            timestamp: "<1896.697170952@dbc.mtview.ca.us>".into(),
        };
        let r = apop
            .request(b"mrose", b"c4c9334bac560ecc979e58001b3e22fb")
            .expect("well-formed");
        assert_eq!(r.user(), "mrose");
        assert_eq!(r.verify(b"tanstaaf"), Verdict::Accept);
        assert_eq!(r.verify(b"tanstaa"), Verdict::Reject);
        assert!(verify_apop(
            b"tanstaaf",
            b"<1896.697170952@dbc.mtview.ca.us>",
            &b16("c4c9334bac560ecc979e58001b3e22fb")
        ));
        assert!(!verify_apop(
            b"tanstaaf",
            b"<1896.697170953@dbc.mtview.ca.us>",
            &b16("c4c9334bac560ecc979e58001b3e22fb")
        ));
        assert!(!verify_apop(
            b"tanstaaf",
            b"<1896.697170952@dbc.mtview.ca.us>",
            &[0xc4; 15]
        ));
    }

    fn b16(s: &str) -> [u8; 16] {
        hex16(s.as_bytes()).expect("test hex")
    }

    #[test]
    fn apop_timestamp_and_malformed() {
        let apop = Apop::new("pop.example.org", &fresh("Abc+/9", &[], 697170952));
        assert_eq!(apop.timestamp(), "<4711.Abc+/9.697170952@pop.example.org>");
        let digest = b"c4c9334bac560ecc979e58001b3e22fb";
        for (user, digest) in [
            (&b""[..], &digest[..]),
            (b"mr\x00se", digest),
            (b"mrose", &digest[1..]),
            (b"mrose", b"c4c9334bac560ecc979e58001b3e22fz"),
            (b"mrose", b""),
        ] {
            assert!(matches!(
                apop.request(user, digest),
                Err(Reason::Malformed(_))
            ));
        }
        let long = vec![b'u'; limits::SASL_USER_MAX + 1];
        assert_eq!(apop.request(&long, digest).err(), Some(Reason::TooLong));
    }

    #[test]
    fn cram_md5_privileged_side() {
        let c = b"<1896.697170952@postoffice.reston.mci.net>";
        let d = b16("b913a602c7eda7a495b4e6e7334d3890");
        assert!(verify_cram_md5(b"tanstaaftanstaaf", c, &d));
        assert!(!verify_cram_md5(b"tanstaaftanstaaf", c, &d[..15]));
        assert!(!verify_cram_md5(b"tanstaaftanstaa", c, &d));
        // Keys longer than the MD5 block are hashed first (RFC 2104), not refused.
        assert!(!verify_cram_md5(&[b'k'; 200], c, &d));
    }

    #[test]
    fn plaintext_privileged_side() {
        assert!(verify_plaintext(b"tanstaaf", b"tanstaaf"));
        assert!(!verify_plaintext(b"tanstaaf", b"tanstaaF"));
        assert!(!verify_plaintext(b"tanstaaf", b"tanstaa"));
        assert!(!verify_plaintext(b"", b"x"));
        // RFC 4616 5: compared after SASLprep.
        assert!(verify_plaintext(
            "pass word".as_bytes(),
            "pass\u{00a0}word".as_bytes()
        ));
        assert!(verify_plaintext("I\u{00ad}X".as_bytes(), b"IX"));
        // Non-UTF-8 stored passwords still compare as octets.
        assert!(verify_plaintext(b"p\xe4ss", b"p\xe4ss"));
    }

    #[test]
    fn out_of_turn() {
        let mut ex = start(Mechanism::Plain);
        assert_eq!(fail(ex.step(b"\0tim\0pw")), Reason::OutOfTurn);
        let mut ex = start(Mechanism::Plain);
        assert_eq!(fail(ex.verdict(Verdict::Accept)), Reason::OutOfTurn);
        let mut ex = start(Mechanism::Plain);
        challenge(ex.begin(None));
        assert_eq!(fail(ex.begin(None)), Reason::OutOfTurn);
        let mut ex = start(Mechanism::Plain);
        request(ex.begin(Some(b"\0tim\0pw")));
        assert_eq!(fail(ex.step(b"")), Reason::OutOfTurn);
        // A failed exchange stays failed.
        let mut ex = start(Mechanism::Plain);
        fail(ex.begin(Some(b"tim")));
        assert_eq!(fail(ex.step(b"\0tim\0pw")), Reason::OutOfTurn);
        assert_eq!(fail(ex.verdict(Verdict::Accept)), Reason::OutOfTurn);
    }

    /// Every valid transcript cut at every byte and with every byte
    /// changed to a few hostile values: a failure or a next step, never a
    /// panic.
    #[test]
    fn no_panics_on_mangled_messages() {
        let transcripts: &[(Mechanism, &[&[u8]])] = &[
            (Mechanism::Plain, &[b"Kurt\0Kurt\0xipj3plmq"]),
            (Mechanism::Login, &[b"tim", b"tanstaaf"]),
            (
                Mechanism::CramMd5,
                &[b"tim b913a602c7eda7a495b4e6e7334d3890"],
            ),
            (
                Mechanism::ScramSha256,
                &[
                    RFC7677_CLIENT_FIRST.as_bytes(),
                    RFC7677_CLIENT_FINAL.as_bytes(),
                    b"",
                ],
            ),
            (Mechanism::Anonymous, &[b"sirhc"]),
        ];
        let drive = |m: Mechanism, messages: &[Vec<u8>]| {
            let mut ex = m.start(
                "h",
                fresh(
                    "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
                    &b64("W22ZaJ0SNY7soEsUEjb6gQ=="),
                    0,
                ),
            );
            let mut step = ex.begin(None);
            for msg in messages {
                if let Step::Verify(r) = &step {
                    let verdict = r.verify(b"pencil");
                    step = ex.verdict(verdict);
                }
                if !matches!(step, Step::Challenge(_)) {
                    break;
                }
                step = ex.step(msg);
            }
            if let Step::Verify(r) = step {
                ex.verdict(r.verify(b"pencil"));
            }
        };
        for (m, messages) in transcripts {
            for (i, msg) in messages.iter().enumerate() {
                for cut in 0..msg.len() {
                    let mut mangled: Vec<Vec<u8>> = messages.iter().map(|m| m.to_vec()).collect();
                    mangled[i].truncate(cut);
                    drive(*m, &mangled);
                }
                for pos in 0..msg.len() {
                    for b in [0u8, b',', b'=', b' ', 0x80, 0xff, b'p'] {
                        let mut mangled: Vec<Vec<u8>> =
                            messages.iter().map(|m| m.to_vec()).collect();
                        mangled[i][pos] = b;
                        drive(*m, &mangled);
                    }
                }
            }
        }
    }

    /// Random octets at every point of every mechanism: never a panic.
    #[test]
    fn no_panics_on_random_messages() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut random = |len: usize| -> Vec<u8> {
            (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    // Mostly the bytes the parsers look for.
                    let alphabet = b"\0,=nrpcay2C3D \xff\x80AZaz09+/";
                    alphabet[(x % alphabet.len() as u64) as usize]
                })
                .collect()
        };
        for m in Mechanism::ALL {
            for len in 0..200 {
                let first = random(len % 60);
                let second = random(len);
                let mut ex = start(m);
                if let Step::Challenge(_) = ex.begin(Some(&first)) {
                    ex.step(&second);
                }
                let mut ex = start(m);
                ex.begin(None);
                if let Step::Challenge(_) = ex.step(&first) {
                    ex.step(&second);
                }
            }
        }
    }

    #[test]
    fn saslprep_rfc4013_examples() {
        // RFC 4013 3, the examples that need no Unicode tables.
        assert_eq!(saslprep("I\u{00ad}X").as_deref(), Some("IX"));
        assert_eq!(saslprep("user").as_deref(), Some("user"));
        assert_eq!(saslprep("USER").as_deref(), Some("USER"));
        assert_eq!(saslprep("\u{0007}"), None);
        // Not done (NFKC, bidi): "\u{00aa}" -> "a", "\u{2168}" -> "IX",
        // "\u{0627}1" -> error.
        assert_eq!(saslprep("a\u{00a0}b\u{3000}c").as_deref(), Some("a b c"));
        assert_eq!(saslprep("a\u{200b}b\u{feff}").as_deref(), Some("ab"));
        for bad in [
            "a\u{7f}",
            "\u{85}",
            "\u{e000}",
            "\u{fffe}",
            "\u{1ffff}",
            "\u{200e}",
            "\u{e0041}",
            "\u{2ff0}",
            "\u{fffd}",
            "a\u{2028}",
        ] {
            assert_eq!(saslprep(bad), None, "{bad:?}");
        }
        assert_eq!(saslprep("J\u{00f6}rg").as_deref(), Some("J\u{00f6}rg"));
    }

    #[test]
    fn base64_rfc4648_vectors() {
        for (raw, enc) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64_encode(raw.as_bytes()), enc);
            assert_eq!(b64(enc), raw.as_bytes());
        }
    }

    #[test]
    fn secrets_stay_out_of_debug() {
        let mut ex = start(Mechanism::Plain);
        let step = ex.begin(Some(b"\0tim\0tanstaaf"));
        let text = format!("{step:?}");
        assert!(text.contains("tim") && !text.contains("tanstaaf"), "{text}");
        assert_eq!(
            format!("{:?}", Password::from(&b"tanstaaf"[..])),
            "Secret(..)"
        );
    }

    #[test]
    fn fresh_randomness() {
        let a = Fresh::new().expect("getrandom");
        let b = Fresh::new().expect("getrandom");
        assert_eq!(a.nonce.len(), NONCE_LEN);
        assert!(a.nonce.bytes().all(|c| NONCE_ALPHABET.contains(&c)));
        assert_eq!(a.salt.len(), SCRAM_SALT_LEN);
        assert_ne!(a.nonce, b.nonce);
        assert_ne!(a.salt, b.salt);
        assert!(a.time > 1_600_000_000);
    }
}
