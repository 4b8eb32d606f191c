//! The IMAP4rev1 protocol: framing, grammar, responses and the session.

pub mod cmd;
pub mod command;
pub mod frame;
pub mod parse;
pub mod response;
pub mod session;

use std::fs::File;
use std::io;

use crate::cli::Options;
use crate::config::{Config, MailLocation};
use crate::store::{maildir::Maildir, Store};

/// An anonymous temporary file for an APPEND literal too large to hold in
/// memory: O_TMPFILE, so nothing is left behind if the process dies.
pub fn spool_file() -> io::Result<File> {
    use rustix::fs::{Mode, OFlags, CWD};
    let dir = std::env::var_os("TMPDIR").unwrap_or_else(|| "/tmp".into());
    let fd = rustix::fs::openat(
        CWD,
        dir.as_os_str(),
        OFlags::TMPFILE | OFlags::RDWR | OFlags::CLOEXEC,
        Mode::RUSR | Mode::WUSR,
    )?;
    Ok(File::from(fd))
}

/// Opens the user's mail store as `mail_location` says.
pub fn open_store(
    config: &Config,
    user: &str,
    home: &std::path::Path,
) -> Result<Box<dyn Store>, String> {
    match config.mail_location_for(user, home)? {
        MailLocation::Maildir(path) => match Maildir::open_store(path.clone()) {
            Ok(m) => Ok(Box::new(m)),
            Err(e) => Err(format!("{}: {e}", path.display())),
        },
        MailLocation::Mbox { .. } => Err("mbox storage is not available yet".into()),
    }
}

/// Serves one IMAP connection on fds 0 and 1; returns the exit status.
pub fn serve(config: &Config, _opts: &Options) -> i32 {
    crate::cli::silence_stderr();
    let (mut input, mut output) = match crate::conn::stdio() {
        Ok(io) => io,
        Err(_) => return 1,
    };
    if rustix::process::getuid().is_root() {
        // Login for root-started servers (PAM, sasldb, privilege separation)
        // is a later step; refuse politely rather than serve root's mail.
        let _ = crate::conn::send(
            &mut output,
            b"* BYE Login is not configured on this server.\r\n",
        );
        return 1;
    }
    let Some((user, home)) = crate::cli::current_user() else {
        let _ = crate::conn::send(&mut output, b"* BYE Cannot find the current user.\r\n");
        return 1;
    };
    let store = match open_store(config, &user, &home) {
        Ok(s) => s,
        Err(e) => {
            log::error!("{e}");
            let _ = crate::conn::send(&mut output, b"* BYE Cannot open the mail store.\r\n");
            return 1;
        }
    };
    input.set_timeout(crate::limits::IMAP_IDLE_TIMEOUT);
    let mut session = session::Session::preauth(store, &mut output);
    let greeting = format!(
        "* PREAUTH [CAPABILITY {}] Logged in as {user}\r\n",
        session.capabilities()
    );
    match session.run(&mut input, &greeting) {
        Ok(()) => 0,
        Err(_) => 1,
    }
}
