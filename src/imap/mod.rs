//! The IMAP4rev1 protocol: framing, grammar, responses and the session.

pub mod cmd;
pub mod command;
pub mod frame;
pub mod login;
pub mod parse;
pub mod response;
pub mod session;
pub mod url;

use std::fs::File;
use std::io;

use crate::cli::Options;
use crate::config::Config;
use crate::serve::{self, Role};

/// An anonymous temporary file for an APPEND literal too large to hold in
/// memory: nothing is left behind if the process dies.
pub fn spool_file() -> io::Result<File> {
    crate::store::open::anonymous()
}

/// Serves one IMAP connection on fds 0 and 1; returns the exit status.
pub fn serve(config: &Config, opts: &Options, args: &[String]) -> i32 {
    let bye = |text: &str| {
        if let Ok((_, mut out)) = crate::conn::stdio() {
            let _ = crate::conn::send(&mut out, format!("* BYE {text}\r\n").as_bytes());
        }
        1
    };
    let (role, peer) = match serve::start("imapd", config, opts) {
        Ok(r) => r,
        Err(e) => {
            log::error!("{e}");
            return bye("Server configuration problem; see the log.");
        }
    };
    match role {
        Role::Preauth { user, mail } => {
            let mut store = match serve::open_store(&mail, &config.mbox_locks) {
                Ok(s) => s,
                Err(e) => {
                    log::error!("{e}");
                    return bye("Cannot open the mail store.");
                }
            };
            if let Err(e) = serve::seal_session(config, Some(&mail)) {
                log::error!("{e}");
                return bye("Internal error; see the log.");
            }
            let Ok((mut input, mut output)) = crate::conn::stdio() else {
                return 1;
            };
            input.set_timeout(crate::limits::IMAP_IDLE_TIMEOUT);
            crate::store::special_use::make_first(store.as_mut(), &config.special_folders);
            let mut session = session::Session::preauth(store, &mut output);
            session.identity = cmd::urlauth::Identity {
                user: Some(user.clone()),
                host: config.urlauth_host.clone(),
            };
            let greeting = format!(
                "* PREAUTH [CAPABILITY {}] Logged in as {user}\r\n",
                session.capabilities()
            );
            finish(session.run(&mut input, &greeting))
        }
        Role::LoginChild { control, data } => {
            let mut state = |input: &mut dyn crate::conn::ClientInput,
                             out: &mut dyn io::Write,
                             link: serve::Link| {
                let greet = link.greet;
                let policy = login::Policy::for_link(
                    config,
                    opts,
                    &peer,
                    link,
                    config.allow_anonymous_login,
                );
                login::Login::new(policy, out, &control).run(input, greet)
            };
            match serve::login_child(config, opts, data, &mut state) {
                Ok(code) => code,
                Err(e) => {
                    log::error!("{e}");
                    // With --tls nothing but TLS may reach the client.
                    if opts.tls {
                        1
                    } else {
                        bye("Server configuration problem; see the log.")
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
                        bye("Internal error; see the log.")
                    };
                }
            };
            let Ok((mut input, mut output)) = logged_in.transport(crate::limits::IMAP_IDLE_TIMEOUT)
            else {
                return 1;
            };
            let mut refuse = |text: &str| {
                let _ = crate::conn::send(&mut output, format!("* BYE {text}\r\n").as_bytes());
                1
            };
            let opened = match &logged_in.session {
                Ok(session) => session
                    .open_store(&config.mbox_locks)
                    .map_err(|e| {
                        log::error!("{e}");
                        "Cannot open the mail store."
                    })
                    .and_then(|store| {
                        serve::seal_session(config, session.mail())
                            .map(|()| store)
                            .map_err(|e| {
                                log::error!("{e}");
                                "Internal error; see the log."
                            })
                    }),
                Err(e) => {
                    log::error!("{e}");
                    Err("Internal error; see the log.")
                }
            };
            let mut store = match opened {
                Ok(s) => s,
                Err(text) => return refuse(text),
            };
            crate::store::special_use::make_first(store.as_mut(), &config.special_folders);
            let mut session = session::Session::preauth(store, &mut output);
            session.identity = cmd::urlauth::Identity {
                user: match &logged_in.session {
                    Ok(serve::Session::User(_)) => Some(logged_in.login.user.clone()),
                    _ => None,
                },
                host: config.urlauth_host.clone(),
            };
            // The login command is answered here, as the user, so nothing
            // the client pipelined after it can be answered before it.
            let ok = format!(
                "{} OK [CAPABILITY {}] Logged in\r\n",
                logged_in.login.tag,
                session.capabilities()
            );
            finish(session.run(&mut input, &ok))
        }
    }
}

fn finish(r: io::Result<()>) -> i32 {
    match r {
        Ok(()) => {
            log::info!("logout");
            0
        }
        Err(e) => {
            log::info!("disconnected: {e}");
            1
        }
    }
}
