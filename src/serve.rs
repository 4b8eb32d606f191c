//! How one connection's processes are set up (DESIGN.md 1), the same for
//! imapd and pop3d:
//!
//! * started by a non-root user: serve that user, preauthenticated;
//! * started as root: spawn the login child (this binary, `--login-child`),
//!   answer its requests as the privileged parent, then become the user
//!   that logged in and serve the session;
//! * `--login-child FD`: enter the jail and run the protocol's login state.

use std::os::fd::OwnedFd;

use crate::auth::channel;
use crate::auth::server::{self, Account, Login};
use crate::cli::Options;
use crate::config::{Config, MailLocation};
use crate::conn::Peer;
use crate::privsep;
use crate::store::{maildir::Maildir, Store};

/// Which part of the process model this process plays.
pub enum Role {
    /// A normal user ran us: serve them (ssh, mutt `tunnel=`, mbsync).
    Preauth { user: String, mail: MailLocation },
    /// The login child: serve the login state on fds 0/1 and relay logins
    /// to the parent on this socket.
    LoginChild(OwnedFd),
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
    let peer = crate::conn::peer();
    if let Some(a) = &peer.address {
        crate::log::set_remote(a);
    }
    if let Some(fd) = opts.login_child {
        return Ok((Role::LoginChild(privsep::inherited_fd(fd)?), peer));
    }
    if !rustix::process::getuid().is_root() {
        let (user, home) = crate::cli::current_user().ok_or("cannot find the current user")?;
        let mail = config.mail_location_for(&user, &home)?;
        crate::log::set_user(&user);
        return Ok((Role::Preauth { user, mail }, peer));
    }
    Ok((Role::Parent, peer))
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

/// The privileged parent: runs the login child, answers it, and on success
/// becomes the user. Returns the login and what it serves, or `None` when the
/// client went away without logging in.
pub fn parent(
    config: &Config,
    args: &[String],
    peer: &Peer,
) -> Result<Option<(Login, Session)>, String> {
    let (ours, theirs) = channel::pair().map_err(|e| format!("socketpair: {e}"))?;
    let mut child = privsep::spawn_login_child(args, theirs)
        .map_err(|e| format!("starting the login process: {e}"))?;
    let login = server::serve(&ours, config, peer.address.as_deref());
    drop(ours);
    // The child exits after handing over; it must be gone before we read
    // the client, or the two could take turns at the input.
    let _ = child.wait();
    let Some(login) = login else { return Ok(None) };
    crate::log::set_user(&login.user);
    log::info!(
        "login: method={} backend={:?}",
        login.mechanism,
        login.backend
    );
    if login.backend == server::Backend::Anonymous {
        // No account and no mail: the session runs where the login ran,
        // as the login user in the empty jail, on an empty store.
        enter_jail(config)?;
        return Ok(Some((login, Session::Anonymous)));
    }
    let account = server::account(&login.user, login.backend, config)?;
    privsep::drop_to(&account.system, config.first_valid_uid, None)?;
    Ok(Some((login, Session::User(account))))
}

/// What a logged-in session serves.
pub enum Session {
    User(Account),
    /// RFC 4505 ANONYMOUS: an empty, read-only store.
    Anonymous,
}

impl Session {
    pub fn open_store(&self) -> Result<Box<dyn Store>, String> {
        match self {
            Session::User(a) => open_store(&a.mail),
            Session::Anonymous => Ok(Box::new(crate::store::empty::Empty)),
        }
    }
}

/// Opens a user's mail store.
pub fn open_store(mail: &MailLocation) -> Result<Box<dyn Store>, String> {
    match mail {
        MailLocation::Maildir(path) => match Maildir::open_store(path.clone()) {
            Ok(m) => Ok(Box::new(m)),
            Err(e) => Err(format!("{}: {e}", path.display())),
        },
        MailLocation::Mbox { .. } => Err("mbox storage is not available yet".into()),
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
