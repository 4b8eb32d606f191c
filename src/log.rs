//! Logging: syslog (facility `syslog_facility`) through the `syslog` crate,
//! or a file (`log_path`), behind the `log` macros. Each line carries the
//! session's remote address and, once known, its user, so one connection's
//! lines can be followed:
//!
//! ```text
//! imapd[4711]: 192.0.2.7:51234 user=alice: login: method=LOGIN backend=Pam
//! ```
//!
//! The syslog socket is connected at start-up, before any chroot, and the
//! log file opened before any privilege drop: both survive them. Nothing is
//! ever written to stderr (under xinetd it is the client). Callers never
//! pass a password or a SASL response to a log macro; the `debug` level
//! traces protocol lines with LOGIN and AUTHENTICATE arguments cut off.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Mutex;

use log::{Level, LevelFilter, Metadata, Record};

/// Where log lines go.
enum Sink {
    Syslog(syslog::Logger<syslog::LoggerBackend, syslog::Formatter3164>),
    File(File, String),
    Nowhere,
}

struct SessionLogger {
    sink: Mutex<Sink>,
    context: Mutex<Context>,
    level: LevelFilter,
}

#[derive(Default)]
struct Context {
    remote: String,
    user: Option<String>,
}

static LOGGER: std::sync::OnceLock<SessionLogger> = std::sync::OnceLock::new();

/// Starts logging for a process called `process` (imapd, pop3d). `target`
/// is `log_path`: `syslog` (default), or a file that lines are appended to.
/// When syslog cannot be reached (no /dev/log, as in many containers) lines
/// go to /var/log/mailaccess.log if it can be opened, else nowhere.
pub fn init(process: &str, target: &str, facility: &str, debug: bool) {
    let sink = if target == "syslog" {
        let facility = facility.parse().unwrap_or(syslog::Facility::LOG_MAIL);
        let formatter = syslog::Formatter3164 {
            facility,
            hostname: None,
            process: process.into(),
            pid: std::process::id(),
        };
        match syslog::unix(formatter) {
            Ok(l) => Sink::Syslog(l),
            Err(_) => open_file("/var/log/mailaccess.log", process),
        }
    } else {
        open_file(target, process)
    };
    let level = if debug {
        LevelFilter::Debug
    } else {
        LevelFilter::Info
    };
    let logger = SessionLogger {
        sink: Mutex::new(sink),
        context: Mutex::new(Context::default()),
        level,
    };
    if LOGGER.set(logger).is_ok() {
        if let Some(l) = LOGGER.get() {
            if log::set_logger(l).is_ok() {
                log::set_max_level(level);
            }
        }
    }
}

fn open_file(path: &str, process: &str) -> Sink {
    match OpenOptions::new().append(true).create(true).open(path) {
        Ok(f) => Sink::File(f, format!("{process}[{}]", std::process::id())),
        Err(_) => Sink::Nowhere,
    }
}

/// Sets the remote address shown on every line (`ip` or `ip:port`).
pub fn set_remote(remote: &str) {
    if let Some(l) = LOGGER.get() {
        if let Ok(mut c) = l.context.lock() {
            c.remote = remote.to_string();
        }
    }
}

/// Sets the user shown on every line from now on.
pub fn set_user(user: &str) {
    if let Some(l) = LOGGER.get() {
        if let Ok(mut c) = l.context.lock() {
            c.user = Some(user.to_string());
        }
    }
}

/// A log line may hold only printable text: a client-supplied value with
/// CR/LF or control characters could forge or hide log lines.
pub fn printable(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// The level a record is logged at. rustls's own warnings are about what
/// a peer sent (an IP address as SNI, as fetchmail and mutt send when given
/// one; an alert): the handshake's outcome is logged by `tls.rs`, so they
/// are debug detail, not something an administrator must act on.
fn level_of(metadata: &Metadata) -> Level {
    if metadata.target().starts_with("rustls") {
        metadata.level().max(Level::Debug)
    } else {
        metadata.level()
    }
}

impl SessionLogger {
    /// The remote address and user that begin each line.
    fn prefix(&self) -> String {
        match self.context.lock() {
            Ok(c) => match (&c.user, c.remote.is_empty()) {
                (Some(u), false) => format!("{} user={}: ", c.remote, u),
                (Some(u), true) => format!("user={u}: "),
                (None, false) => format!("{}: ", c.remote),
                (None, true) => String::new(),
            },
            Err(_) => String::new(),
        }
    }
}

/// A log line made in advance, for a writer that cannot use this module
/// (the sandbox's SIGSYS handler, which may not allocate or lock).
pub struct RawLine {
    /// The log's descriptor, open for the process's life.
    pub fd: RawFd,
    /// The line up to and including the text it was made with (an error).
    pub head: Vec<u8>,
    /// What ends it: the syslog stream's NUL, a file's line end.
    pub tail: &'static [u8],
    /// For a log file, whose lines begin with the local time: the UTC
    /// offset of local time in seconds.
    pub file_offset: Option<i64>,
}

/// The `RawLine` beginning with `text`; None when there is no log.
pub fn raw_line(text: &str) -> Option<RawLine> {
    let l = LOGGER.get()?;
    let text = printable(&format!("{}{text}", l.prefix()));
    let sink = l.sink.lock().ok()?;
    match &*sink {
        Sink::Syslog(s) => {
            let f = &s.formatter;
            let head = format!("<{}>{}[{}]: {text}", f.facility as u8 | 3, f.process, f.pid);
            let (fd, tail): (RawFd, &'static [u8]) = match &s.backend {
                syslog::LoggerBackend::Unix(d) => (d.as_raw_fd(), b""),
                syslog::LoggerBackend::UnixStream(w) => (w.get_ref().as_raw_fd(), b"\0"),
                _ => return None,
            };
            Some(RawLine {
                fd,
                head: head.into_bytes(),
                tail,
                file_offset: None,
            })
        }
        Sink::File(file, tag) => {
            let offset = chrono::Local::now().offset().local_minus_utc();
            Some(RawLine {
                fd: file.as_raw_fd(),
                head: format!("{tag}: error: {text}").into_bytes(),
                tail: b"\n",
                file_offset: Some(i64::from(offset)),
            })
        }
        Sink::Nowhere => None,
    }
}

impl log::Log for SessionLogger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        level_of(metadata) <= self.level
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let level = level_of(record.metadata());
        let text = printable(&format!("{}{}", self.prefix(), record.args()));
        let Ok(mut sink) = self.sink.lock() else {
            return;
        };
        // A log that cannot be written is not a reason to fail a session.
        let _ = match &mut *sink {
            Sink::Syslog(s) => match level {
                Level::Error => s.err(text),
                Level::Warn => s.warning(text),
                Level::Info => s.info(text),
                Level::Debug | Level::Trace => s.debug(text),
            }
            .map_err(|_| ()),
            Sink::File(f, tag) => {
                let now = chrono::Local::now().format("%b %e %H:%M:%S");
                writeln!(f, "{now} {tag}: {}: {text}", level.as_str().to_lowercase())
                    .map_err(|_| ())
            }
            Sink::Nowhere => Ok(()),
        };
    }

    fn flush(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    /// rustls's warnings (an IP address as SNI, from fetchmail or mutt)
    /// are debug detail; our own warnings stay warnings.
    #[test]
    fn rustls_warnings_are_debug() {
        let m = |target: &'static str, level| {
            log::MetadataBuilder::new()
                .target(target)
                .level(level)
                .build()
        };
        assert_eq!(
            level_of(&m("rustls::server::hs", Level::Warn)),
            Level::Debug
        );
        assert_eq!(level_of(&m("rustls", Level::Error)), Level::Debug);
        assert_eq!(level_of(&m("rustls", Level::Trace)), Level::Trace);
        assert_eq!(level_of(&m("mailaccess::tls", Level::Warn)), Level::Warn);
    }

    #[test]
    fn control_characters_cannot_forge_lines() {
        assert_eq!(super::printable("a\r\nb\0c\td"), "a??b?c?d");
        assert_eq!(super::printable("Grüße"), "Grüße");
    }
}
