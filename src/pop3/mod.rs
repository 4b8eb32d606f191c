//! POP3 (RFC 1939) with CAPA (RFC 2449), response codes (RFC 3206) and
//! AUTH (RFC 5034), on the same process model, login machinery and storage
//! as imapd (DESIGN.md 1):
//!
//! * started by a non-root user: that user's maildrop, with a plain `+OK`
//!   greeting, straight into TRANSACTION;
//! * as root: the login child runs AUTHORIZATION (`login.rs`); the parent
//!   verifies, becomes the user, takes the maildrop lock, opens INBOX and
//!   only then answers the login command (`+OK`, or `-ERR [IN-USE]`).
//!
//! The maildrop lock is an flock on `mailaccess-pop3.lock` in the Maildir
//! root: a second POP3 session of the same user gets `[IN-USE]`; IMAP
//! sessions never take it (they see POP3 deletions as expunges), and the
//! kernel drops it when a pop3d dies, so it can never go stale.

pub mod login;
pub mod multiline;
pub mod parse;
pub mod session;

use std::io::{self, Write};
use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;

use crate::cli::Options;
use crate::config::{Config, MailLocation};
use crate::serve::{self, Role};
use crate::store::lock::Lock;
use crate::store::{Mailbox, StoreError};

/// The lock file's name in the Maildir root. No leading dot: Maildir++
/// folders are the entries that have one.
pub const MAILDROP_LOCK: &str = "mailaccess-pop3.lock";

/// A locked, open maildrop: INBOX, and the lock that keeps other POP3
/// sessions out until it is dropped.
pub struct Maildrop {
    pub mailbox: Box<dyn Mailbox>,
    pub lock: Lock,
}

/// Why a maildrop could not be opened, as the client is told (RFC 3206).
pub fn open_error_line(e: &StoreError) -> &'static str {
    match e {
        StoreError::InUse => "-ERR [IN-USE] The maildrop is in use by another POP3 session.\r\n",
        // Not going to change by trying again (an unsupported mail_location).
        StoreError::NotAllowed(_) => "-ERR [SYS/PERM] Cannot open the maildrop.\r\n",
        _ => "-ERR [SYS/TEMP] Cannot open the maildrop.\r\n",
    }
}

/// Locks the user's maildrop and opens INBOX (RFC 1939 4: "the POP3
/// server then acquires an exclusive-access lock on the maildrop"). The
/// POP3 session only ever opens INBOX.
pub fn open_maildrop(
    mail: &MailLocation,
    mbox_locks: &[crate::config::MboxLock],
) -> Result<Maildrop, StoreError> {
    // The maildrop lock lives beside our own files: the Maildir root, or
    // the mbox tree's .imap directory (the spool directory is the MTA's).
    let lock_dir: PathBuf = match mail {
        MailLocation::Maildir(p) => p.clone(),
        MailLocation::Mbox { root, .. } => root.join(".imap"),
    };
    let mut store =
        serve::open_store(mail, mbox_locks).map_err(|e| StoreError::Io(io::Error::other(e)))?;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&lock_dir)?;
    let lock =
        Lock::exclusive_within(&lock_dir.join(MAILDROP_LOCK), crate::limits::POP3_LOCK_WAIT)?;
    let mailbox = store.open("INBOX", false)?;
    Ok(Maildrop { mailbox, lock })
}

/// Serves one POP3 connection on fds 0 and 1; returns the exit status.
pub fn serve(config: &Config, opts: &Options, args: &[String]) -> i32 {
    let say = |line: &[u8]| {
        if let Ok((_, mut out)) = crate::conn::stdio() {
            let _ = crate::conn::send(&mut out, line);
        }
        1
    };
    let (role, peer) = match serve::start("pop3d", config, opts) {
        Ok(r) => r,
        Err(e) => {
            log::error!("{e}");
            return say(b"-ERR [SYS/PERM] Server configuration problem; see the log.\r\n");
        }
    };
    match role {
        Role::Preauth { mail, .. } => {
            let drop = match open_maildrop(&mail, &config.mbox_locks) {
                Ok(d) => d,
                Err(e) => {
                    log::error!("maildrop: {e}");
                    return say(open_error_line(&e).as_bytes());
                }
            };
            if let Err(e) = serve::seal_session(config, Some(&mail)) {
                log::error!("{e}");
                return say(b"-ERR [SYS/TEMP] Internal error; see the log.\r\n");
            }
            let Ok((mut input, mut output)) = crate::conn::stdio() else {
                return 1;
            };
            input.set_timeout(crate::limits::POP3_IDLE_TIMEOUT);
            let greeting = format!(
                "+OK mailaccess POP3 ready, {} messages.\r\n",
                drop.mailbox.count()
            );
            transaction(
                drop,
                &mut input,
                &mut output,
                &greeting,
                &config.pop3_uidl_format,
            )
        }
        Role::LoginChild { control, data } => {
            let mut state = |input: &mut dyn crate::conn::ClientInput,
                             out: &mut dyn Write,
                             link: serve::Link| {
                // An anonymous POP3 session would have no maildrop.
                let greet = link.greet;
                let policy = crate::imap::login::Policy::for_link(config, opts, &peer, link, false);
                login::Login::new(policy, out, &control).run(input, greet)
            };
            match serve::login_child(config, opts, data, &mut state) {
                Ok(code) => code,
                Err(e) => {
                    log::error!("{e}");
                    if opts.tls {
                        1
                    } else {
                        say(b"-ERR [SYS/PERM] Server configuration problem; see the log.\r\n")
                    }
                }
            }
        }
        Role::Parent => {
            let logged_in = match serve::parent(config, args, &peer) {
                Ok(Some(l)) => l,
                Ok(None) => return 0,
                Err(e) => {
                    // Before the login child ran: with --tls the client
                    // waits for a handshake, and gets nothing.
                    log::error!("{e}");
                    return if opts.tls {
                        1
                    } else {
                        say(b"-ERR [SYS/TEMP] Internal error; see the log.\r\n")
                    };
                }
            };
            // Answered here, as the user, with the lock held: so the answer
            // to PASS can be [IN-USE], and nothing the client pipelined
            // after it is answered before it. Through the transport: the
            // client may be on TLS.
            let Ok((mut input, mut output)) = logged_in.transport(crate::limits::POP3_IDLE_TIMEOUT)
            else {
                return 1;
            };
            let account = match &logged_in.session {
                Ok(serve::Session::User(account)) => account,
                Ok(serve::Session::Anonymous) => {
                    let _ = crate::conn::send(
                        &mut output,
                        b"-ERR [SYS/PERM] No maildrop for this login.\r\n",
                    );
                    return 1;
                }
                Err(e) => {
                    log::error!("{e}");
                    let _ = crate::conn::send(
                        &mut output,
                        b"-ERR [SYS/TEMP] Internal error; see the log.\r\n",
                    );
                    return 1;
                }
            };
            let drop = match open_maildrop(&account.mail, &config.mbox_locks) {
                Ok(d) => d,
                Err(e) => {
                    log::error!("maildrop: {e}");
                    let _ = crate::conn::send(&mut output, open_error_line(&e).as_bytes());
                    return 1;
                }
            };
            if let Err(e) = serve::seal_session(config, Some(&account.mail)) {
                log::error!("{e}");
                let _ = crate::conn::send(
                    &mut output,
                    b"-ERR [SYS/TEMP] Internal error; see the log.\r\n",
                );
                return 1;
            }
            let ok = format!("+OK Logged in, {} messages.\r\n", drop.mailbox.count());
            transaction(drop, &mut input, &mut output, &ok, &config.pop3_uidl_format)
        }
    }
}

fn transaction<R: crate::conn::ClientInput>(
    drop: Maildrop,
    input: &mut R,
    output: &mut dyn Write,
    first: &str,
    uidl: &crate::config::UidlFormat,
) -> i32 {
    let Maildrop { mailbox, lock } = drop;
    let r = session::Session::new(mailbox, output)
        .with_uidl(uidl.clone())
        .run(input, first);
    // Held through UPDATE; released only now.
    std::mem::drop(lock);
    match r {
        Ok(()) => 0,
        Err(e) => {
            log::info!("disconnected: {e}");
            1
        }
    }
}
