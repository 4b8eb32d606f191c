//! How one connection's processes are set up (DESIGN.md 1), the same for
//! imapd and pop3d:
//!
//! * started by a non-root user: serve that user, preauthenticated;
//! * started as root: spawn the login child (this binary, `--login-child`),
//!   answer its requests as the privileged parent, then become the user
//!   that logged in and serve the session;
//! * `--login-child FD`: enter the jail and run the protocol's login state.

use std::io::{self, Write};
use std::os::fd::{AsFd, OwnedFd};

use crate::auth::channel;
use crate::auth::server::{self, Account, Login};
use crate::cli::Options;
use crate::config::{Config, MailLocation, MboxLock};
use crate::conn::Peer;
use crate::privsep;
use crate::sandbox::{Reach, Role as SealRole};
use crate::store::{maildir::Maildir, mbox::MboxStore, Store};

/// Which part of the process model this process plays.
pub enum Role {
    /// A normal user ran us: serve them (ssh, mutt `tunnel=`, mbsync).
    Preauth { user: String, mail: MailLocation },
    /// The login child: serve the login state on fds 0/1 and relay logins
    /// to the parent on `control`; with TLS, stay on after login and relay
    /// the session's plaintext to the parent on `data`.
    LoginChild { control: OwnedFd, data: OwnedFd },
    /// Root: the privileged parent.
    Parent,
}

/// Common start-up: stderr silenced, logging on, the peer known, the role
/// decided. `Err` carries a reason for the log (the caller says BYE).
pub fn start(process: &str, config: &Config, opts: &Options) -> Result<(Role, Peer), String> {
    crate::cli::silence_stderr();
    crate::log::init(
        process,
        &config.log_path,
        &config.syslog_facility,
        config.log_debug,
    );
    let peer = if opts.login_child.is_some() {
        // The parent passes the client's address, after any PROXY header.
        crate::conn::peer_from_env()
    } else {
        let socket = crate::conn::peer();
        if let Some(a) = &socket.address {
            crate::log::set_remote(a);
        }
        through_proxy(config, socket)?
    };
    if let Some(a) = &peer.address {
        crate::log::set_remote(a);
    }
    if let Some((control, data)) = opts.login_child {
        let control = privsep::inherited_fd(control)?;
        let data = privsep::inherited_fd(data)?;
        return Ok((Role::LoginChild { control, data }, peer));
    }
    if !rustix::process::getuid().is_root() {
        let (user, home) = crate::cli::current_user().ok_or("cannot find the current user")?;
        let mail = config.mail_location_for(&user, &home)?;
        crate::log::set_user(&user);
        return Ok((Role::Preauth { user, mail }, peer));
    }
    Ok((Role::Parent, peer))
}

/// The client behind a trusted proxy (`proxy.rs`): a peer in
/// `trusted_proxies` must start with a PROXY header, read here from fd 0
/// before anything else (TLS included), and the client it names is the
/// peer from then on (logs, PAM_RHOST, the plaintext-login policy). From
/// any other peer a header is refused, the connection closed.
fn through_proxy(config: &Config, peer: Peer) -> Result<Peer, String> {
    use crate::proxy::{self, Header};
    let trusted = proxy::listed(&config.trusted_proxies, peer.ip);
    let from = peer.address.clone().unwrap_or_else(|| "?".into());
    if !trusted {
        // A client with no IP address (ssh, a pipe) sends no header.
        let mut first = [0u8; proxy::V2_SIGNATURE.len()];
        let n = if peer.ip.is_some() {
            crate::conn::peek_input(&mut first)
        } else {
            0
        };
        if proxy::looks_like(&first[..n]) {
            return Err(format!(
                "PROXY header from {from}, which is not in trusted_proxies"
            ));
        }
        return Ok(peer);
    }
    let stdin = std::io::stdin();
    let timeout = rustix::net::sockopt::Timeout::Recv;
    rustix::net::sockopt::set_socket_timeout(
        &stdin,
        timeout,
        Some(crate::limits::PROXY_HEADER_WAIT),
    )
    .map_err(|e| format!("proxy {from}: {e}"))?;
    let header = proxy::read(&mut crate::conn::RawStdin);
    let _ = rustix::net::sockopt::set_socket_timeout(&stdin, timeout, None);
    match header.map_err(|e| format!("proxy {from}: {e}"))? {
        Header::Local => Ok(peer),
        Header::Client(client) => {
            let client = crate::conn::peer_at(client);
            log::info!(
                "client {} through proxy {from}",
                client.address.as_deref().unwrap_or("?")
            );
            Ok(client)
        }
    }
}

/// Whether plaintext passwords may cross this link before login (DESIGN.md
/// 6): TLS, `--wrapped`, a loopback client, or `allow_plaintext_auth`.
pub fn link_protected(opts: &Options, peer: &Peer) -> bool {
    opts.tls || opts.wrapped || peer.is_loopback()
}

/// The login child's set-up: chroot into `login_chroot` as `login_user`.
pub fn enter_jail(config: &Config) -> Result<(), String> {
    let user = privsep::lookup(&config.login_user)
        .map_err(|e| format!("login_user {}: {e}", config.login_user))?
        .ok_or_else(|| format!("login_user {} does not exist", config.login_user))?;
    privsep::enter_jail(&user, &config.login_chroot)
}

/// How the login state ended, for any protocol.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Handed over to the parent.
    LoggedIn,
    /// Logout, disconnect, timeout, too many failures or bad commands.
    Closed,
    /// STARTTLS/STLS accepted: start TLS and run the login state again.
    StartTls,
}

/// What the login state is told about its link.
#[derive(Clone, Debug)]
pub struct Link {
    /// Send the greeting (not after STARTTLS: RFC 3501 6.2.1, RFC 2595 4).
    pub greet: bool,
    /// TLS is active.
    pub tls: bool,
    /// STARTTLS/STLS may be offered.
    pub starttls: bool,
    /// Over TLS: what SCRAM's -PLUS variants bind to.
    pub bindings: Option<crate::auth::sasl::ChannelBindings>,
    /// Over TLS: the client's certificate chain, verified by rustls.
    pub client_chain: Option<Vec<Vec<u8>>>,
}

/// A protocol's login state: runs on the given link until an outcome.
pub type LoginState<'a> =
    dyn FnMut(&mut dyn crate::conn::ClientInput, &mut dyn Write, Link) -> io::Result<Outcome> + 'a;

/// The login child, for any protocol: loads the TLS configuration (as
/// root), enters the jail, and runs `state` on fds 0/1, over TLS from the
/// start with `--tls`, or after STARTTLS. After a login over TLS it stays
/// on as the relay. `Err` is a set-up problem for the log (the caller says
/// goodbye in its protocol).
pub fn login_child(
    config: &Config,
    opts: &Options,
    data: OwnedFd,
    state: &mut LoginState,
) -> Result<i32, String> {
    let tls_config = match crate::tls::server_config(config) {
        Ok(c) => c,
        Err(e) if opts.tls => return Err(e),
        Err(e) => {
            // Plain service still works; STARTTLS is simply not offered.
            log::error!("{e}");
            None
        }
    };
    crate::tls::preload_client_map(config);
    enter_jail(config)?;
    // Before a byte from the client is read.
    crate::sandbox::seal(&Reach::nothing(), SealRole::LoginChild, config.sandbox)?;
    if opts.tls {
        let cfg = tls_config.ok_or("--tls needs tls_cert and tls_key")?;
        return Ok(over_tls(cfg, data, state, true));
    }
    let (mut input, mut output) = crate::conn::stdio().map_err(|e| e.to_string())?;
    // --wrapped: stunnel or ssh already protects the link; offering
    // STARTTLS on top would only confuse clients.
    let link = Link {
        greet: true,
        tls: false,
        starttls: tls_config.is_some() && !opts.wrapped,
        bindings: None,
        client_chain: None,
    };
    match state(&mut input, &mut output, link) {
        Ok(Outcome::StartTls) => {
            // Nothing the client sent before the handshake may count as a
            // command after it (RFC 3207 6, CVE-2011-0411).
            drop(input.take_buffered());
            let cfg = tls_config.ok_or("STARTTLS without a TLS configuration")?;
            Ok(over_tls(cfg, data, state, false))
        }
        Ok(_) => Ok(0),
        Err(_) => Ok(1),
    }
}

fn over_tls(
    cfg: std::sync::Arc<rustls::ServerConfig>,
    data: OwnedFd,
    state: &mut LoginState,
    greet: bool,
) -> i32 {
    let fds = (|| {
        Ok::<_, io::Error>((
            io::stdin().as_fd().try_clone_to_owned()?,
            io::stdout().as_fd().try_clone_to_owned()?,
        ))
    })();
    let Ok((rfd, wfd)) = fds else { return 1 };
    let stream =
        match crate::tls::TlsStream::accept(cfg, rfd, wfd, crate::limits::IMAP_LOGIN_TIMEOUT) {
            Ok(s) => s,
            Err(e) => {
                log::info!("TLS handshake failed: {e}");
                return 1;
            }
        };
    let bindings = stream.channel_bindings();
    let client_chain = stream.client_chain();
    let shared = crate::tls::SharedTls::new(stream);
    let mut input = crate::conn::Input::new(shared.clone());
    let mut output = shared.clone();
    match state(
        &mut input,
        &mut output,
        Link {
            greet,
            tls: true,
            starttls: false,
            bindings: Some(bindings),
            client_chain,
        },
    ) {
        Ok(Outcome::LoggedIn) => {
            drop(input);
            crate::tls::relay(shared, data);
            0
        }
        _ => {
            shared.close();
            0
        }
    }
}

/// The privileged parent: runs the login child, answers it, and on success
/// becomes the user. Returns the login and what it serves, or `None` when the
/// client went away without logging in.
pub fn parent(config: &Config, args: &[String], peer: &Peer) -> Result<Option<LoggedIn>, String> {
    let (ours, theirs) = channel::pair().map_err(|e| format!("socketpair: {e}"))?;
    let (our_data, their_data) = channel::data_pair().map_err(|e| format!("socketpair: {e}"))?;
    let mut child = privsep::spawn_login_child(args, theirs, their_data, peer)
        .map_err(|e| format!("starting the login process: {e}"))?;
    let login = server::serve(&ours, config, peer);
    drop(ours);
    let Some(login) = login else {
        let _ = child.wait();
        return Ok(None);
    };
    // Without TLS the child exits after handing over; it must be gone
    // before we read the client, or the two could take turns at the input.
    // With TLS it stays on as the relay and we talk to it on `data`.
    let data = if login.relay {
        Some(our_data)
    } else {
        let _ = child.wait();
        None
    };
    crate::log::set_user(&login.user);
    log::info!(
        "login: method={} backend={:?}",
        login.mechanism,
        login.backend
    );
    // From here on the client may be on TLS (through the relay): a failure
    // is told through `LoggedIn::transport`, never on fds 0/1.
    let session = (|| {
        if login.backend == server::Backend::Anonymous {
            // No account and no mail: the session runs where the login ran,
            // as the login user in the empty jail, on an empty store.
            enter_jail(config)?;
            Ok(Session::Anonymous)
        } else {
            // The account as the parent found it when it verified the login.
            let account = login.account.clone().ok_or("a login without an account")?;
            let group = privileged_group(&account, config);
            privsep::drop_to(&account.system, config.first_valid_uid, group)?;
            Ok(Session::User(account))
        }
    })();
    Ok(Some(LoggedIn {
        login,
        session,
        data,
    }))
}

/// A successful login, as the parent serves it. Every byte to the client
/// from here on goes through `transport`: on TLS, fds 0/1 carry the TLS
/// records of the relay, and plaintext there would be a protocol breach.
pub struct LoggedIn {
    pub login: Login,
    /// What the session serves, or why it cannot be served (to be logged,
    /// and answered through `transport`).
    pub session: Result<Session, String>,
    /// The TLS relay's data socket, when the client is on TLS.
    pub data: Option<OwnedFd>,
}

impl LoggedIn {
    /// The session's transport: the relay's data socket, or fds 0/1, with
    /// the client's pipelined bytes first.
    pub fn transport(
        &self,
        timeout: std::time::Duration,
    ) -> std::io::Result<crate::conn::Transport> {
        match &self.data {
            Some(fd) => crate::conn::socket_transport(fd, timeout, &self.login.buffered),
            None => crate::conn::stdio_after_login(timeout, &self.login.buffered),
        }
    }
}

/// What a logged-in session serves.
pub enum Session {
    User(Account),
    /// RFC 4505 ANONYMOUS: an empty, read-only store.
    Anonymous,
}

impl Session {
    pub fn open_store(&self, mbox_locks: &[MboxLock]) -> Result<Box<dyn Store>, String> {
        match self {
            Session::User(a) => open_store(&a.mail, mbox_locks),
            Session::Anonymous => Ok(Box::new(crate::store::empty::Empty)),
        }
    }

    /// The mail it serves (none when anonymous).
    pub fn mail(&self) -> Option<&MailLocation> {
        match self {
            Session::User(a) => Some(&a.mail),
            Session::Anonymous => None,
        }
    }
}

/// Seals a session that serves `mail` (none: an anonymous session), once
/// its store is open (DESIGN.md 5). `Err`: the session must not be served.
pub fn seal_session(config: &Config, mail: Option<&MailLocation>) -> Result<(), String> {
    let reach = mail.map_or_else(Reach::nothing, Reach::mail);
    crate::sandbox::seal(&reach, SealRole::Session, config.sandbox).map(|_| ())
}

/// Opens a user's mail store.
/// `mbox_locks` (the configuration's) are the locks taken on mbox files.
pub fn open_store(mail: &MailLocation, mbox_locks: &[MboxLock]) -> Result<Box<dyn Store>, String> {
    // Anonymous files go in the store's own tree, which the sealed session
    // can reach: Maildir's tmp/, the mbox tree's control directory.
    crate::store::open::set_scratch_dir(match mail {
        MailLocation::Maildir(path) => path.join("tmp"),
        MailLocation::Mbox { root, .. } => root.join(crate::store::mbox::CONTROL_DIR),
    });
    match mail {
        MailLocation::Maildir(path) => match Maildir::open_store(path.clone()) {
            Ok(m) => Ok(Box::new(m)),
            Err(e) => Err(format!("{}: {e}", path.display())),
        },
        MailLocation::Mbox { root, inbox } => {
            match MboxStore::open_store(root.clone(), inbox.clone(), mbox_locks.to_vec()) {
                Ok(m) => Ok(Box::new(m)),
                Err(e) => Err(format!("{}: {e}", root.display())),
            }
        }
    }
}

/// The host name used in SASL challenges and APOP timestamps.
pub fn host_name(config: &Config) -> String {
    if config.sasl_realm.is_empty() {
        "localhost".into()
    } else {
        config.sasl_realm.clone()
    }
}

/// `mail_privileged_group` for an mbox session (a Maildir needs no spool);
/// an empty setting or a group that does not exist means none (logged).
fn privileged_group(account: &Account, config: &Config) -> Option<u32> {
    let name = config.mail_privileged_group.trim();
    if name.is_empty() || !matches!(account.mail, MailLocation::Mbox { .. }) {
        return None;
    }
    match privsep::group_id(name) {
        Ok(Some(g)) => Some(g),
        Ok(None) => {
            log::warn!("mail_privileged_group {name}: no such group");
            None
        }
        Err(e) => {
            log::warn!("mail_privileged_group {name}: {e}");
            None
        }
    }
}
