//! IDLE (RFC 2177): report changes as they happen until the client says
//! DONE.

use std::time::Instant;

use crate::conn::ClientInput;
use crate::imap::session::{Done, Error, Result, Session, State};
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
        if started.elapsed() >= limits::IMAP_IDLE_TIMEOUT {
            s.out.write_all(b"* BYE Disconnected for inactivity.\r\n")?;
            s.state = State::Logout;
            return Done::ok("Idle completed.");
        }
        s.report_changes(true)?;
        s.out.flush()?;
    }
}
