//! IDLE (RFC 2177): report changes as they happen until the client says
//! DONE.
//!
//! The selected mailbox's files are watched with inotify(7)
//! (`Mailbox::watch_paths`): a delivery into `new/`, an MTA's append to an
//! mbox, another session's change (its index log) wakes the session at
//! once; the look every `IDLE_CHECK_INTERVAL` stays, for what no watch
//! sees (a file system without inotify, such as NFS).

use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::time::Instant;

use rustix::fs::inotify::{self, CreateFlags, WatchFlags};

use crate::conn::{ClientInput, Wake};
use crate::imap::session::{Done, Error, Result, Session, State};
use crate::limits;

pub fn idle<R: ClientInput>(s: &mut Session, _tag: &str, input: &mut R) -> Result<Done> {
    // Watched first, then looked at: a change made from then on wakes us,
    // one made before is in that first look.
    // With NOTIFY set, what it watches too (RFC 5465: its news goes out
    // during IDLE as well).
    let mut paths = crate::imap::cmd::notify::watched(s);
    if let State::Selected(sel) = &s.state {
        paths.extend(sel.mailbox.watch_paths());
    }
    let watch = Watch::new(paths);
    s.out.write_all(b"+ idling\r\n")?;
    s.report_changes(true)?;
    crate::imap::cmd::notify::check_others(s)?;
    s.out.flush()?;
    let started = Instant::now();
    loop {
        let other = watch.as_ref().map(|w| w.fd.as_fd());
        match input.poll_input_or(limits::IDLE_CHECK_INTERVAL, other)? {
            Wake::Client => {
                let line = match crate::imap::frame::read_line(input) {
                    Ok(l) => l,
                    Err(crate::imap::frame::FrameError::TooLong { .. }) => {
                        return Err(Error::Bad("Expected DONE.".into()))
                    }
                    // The client went away: nothing is wrong with the server.
                    Err(crate::imap::frame::FrameError::Eof) => {
                        return Err(Error::Bye("Connection closed during IDLE.".into()))
                    }
                    Err(_) => {
                        return Err(Error::Fatal("client connection failed during IDLE".into()))
                    }
                };
                let word = String::from_utf8_lossy(&line);
                return if word.trim_end().eq_ignore_ascii_case("DONE") {
                    Done::ok("Idle completed.")
                } else {
                    Err(Error::Bad("Expected DONE.".into()))
                };
            }
            Wake::Other => {
                // A change is often several in a row (a rename, then the
                // index's log): let them settle, and take them all in.
                std::thread::sleep(limits::IDLE_SETTLE);
                if let Some(w) = &watch {
                    w.drain();
                }
            }
            Wake::Timeout => {}
        }
        // RFC 2177: the server may end an IDLE that lasts too long; the
        // session ends with BYE and no tagged reply, like any timeout.
        if started.elapsed() >= limits::IMAP_IDLE_TIMEOUT {
            return Err(Error::Bye("Disconnected for inactivity.".into()));
        }
        s.report_changes(true)?;
        crate::imap::cmd::notify::check_others(s)?;
        s.out.flush()?;
        if let Some(w) = &watch {
            // A file replaced by another (renamed over it) is watched anew.
            w.add();
        }
    }
}

/// An inotify instance watching a mailbox's files (also NOTIFY's).
pub struct Watch {
    pub fd: OwnedFd,
    paths: Vec<PathBuf>,
}

/// Every change to a watched directory's entries or a watched file.
const CHANGES: WatchFlags = WatchFlags::CREATE
    .union(WatchFlags::DELETE)
    .union(WatchFlags::MOVED_FROM)
    .union(WatchFlags::MOVED_TO)
    .union(WatchFlags::MODIFY)
    .union(WatchFlags::ATTRIB)
    .union(WatchFlags::CLOSE_WRITE)
    .union(WatchFlags::DELETE_SELF)
    .union(WatchFlags::MOVE_SELF);

impl Watch {
    /// A watch on `paths`, if inotify is there and one of them could be
    /// watched (else IDLE only looks every `IDLE_CHECK_INTERVAL`).
    pub fn new(paths: Vec<PathBuf>) -> Option<Watch> {
        let fd = inotify::init(CreateFlags::CLOEXEC | CreateFlags::NONBLOCK).ok()?;
        let w = Watch { fd, paths };
        w.add().then_some(w)
    }

    /// Watches each path (again: the same file keeps its watch, a new
    /// one at that path gets one). Whether any is watched.
    pub fn add(&self) -> bool {
        let mut any = false;
        for p in &self.paths {
            any |= inotify::add_watch(&self.fd, p.as_path(), CHANGES).is_ok();
        }
        any
    }

    /// Reads the events waiting: they only say "look".
    pub fn drain(&self) {
        let mut buf = [0u8; 4096];
        while rustix::io::read(&self.fd, &mut buf).is_ok_and(|n| n > 0) {}
    }
}
