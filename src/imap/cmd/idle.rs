//! IDLE (RFC 2177): report changes as they happen until the client says
//! DONE.

use std::time::Instant;

use crate::conn::ClientInput;
use crate::imap::session::{Done, Error, Result, Session};
use crate::limits;

pub fn idle<R: ClientInput>(s: &mut Session, _tag: &str, input: &mut R) -> Result<Done> {
    s.out.write_all(b"+ idling\r\n")?;
    s.out.flush()?;
    let started = Instant::now();
    loop {
        if input.poll_input(limits::IDLE_CHECK_INTERVAL)? {
            let line = match crate::imap::frame::read_line(input) {
                Ok(l) => l,
                Err(crate::imap::frame::FrameError::TooLong { .. }) => {
                    return Err(Error::Bad("Expected DONE.".into()))
                }
                // The client went away: nothing is wrong with the server.
                Err(crate::imap::frame::FrameError::Eof) => {
                    return Err(Error::Bye("Connection closed during IDLE.".into()))
                }
                Err(_) => return Err(Error::Fatal("client connection failed during IDLE".into())),
            };
            let word = String::from_utf8_lossy(&line);
            return if word.trim_end().eq_ignore_ascii_case("DONE") {
                Done::ok("Idle completed.")
            } else {
                Err(Error::Bad("Expected DONE.".into()))
            };
        }
        // RFC 2177: the server may end an IDLE that lasts too long; the
        // session ends with BYE and no tagged reply, like any timeout.
        if started.elapsed() >= limits::IMAP_IDLE_TIMEOUT {
            return Err(Error::Bye("Disconnected for inactivity.".into()));
        }
        s.report_changes(true)?;
        s.out.flush()?;
    }
}
