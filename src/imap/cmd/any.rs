//! Commands valid in any state (RFC 3501 6.1) and the small extensions that
//! only talk about the server: ID (RFC 2971), ENABLE (RFC 5161),
//! NAMESPACE (RFC 2342), COMPRESS (RFC 4978) and CHECK (RFC 3501 6.4.1).

use crate::imap::response;
use crate::imap::session::{Done, Error, Result, Session, State};

pub fn capability(s: &mut Session) -> Result<Done> {
    let caps = s.capabilities();
    s.out
        .write_all(format!("* CAPABILITY {caps}\r\n").as_bytes())?;
    Done::ok("Capability completed.")
}

/// NOOP does nothing but let the session report changes, which it does after
/// every command.
pub fn noop(_s: &mut Session) -> Result<Done> {
    Done::ok("NOOP completed.")
}

pub fn check(_s: &mut Session) -> Result<Done> {
    Done::ok("CHECK completed.")
}

pub fn logout(s: &mut Session) -> Result<Done> {
    s.out.write_all(b"* BYE Logging out\r\n")?;
    s.state = State::Logout;
    Done::ok("Logout completed.")
}

/// RFC 2971: we say who we are; what the client says is only logged.
pub fn id(s: &mut Session, params: Option<Vec<(String, Option<String>)>>) -> Result<Done> {
    s.out.write_all(&response::id(params.as_deref()))?;
    Done::ok("ID completed.")
}

/// RFC 5161: of what can be enabled we have CONDSTORE and QRESYNC (RFC
/// 7162 3.1, 3.2.3; QRESYNC enables CONDSTORE too); ENABLED names what
/// this command enabled, not what was on before.
/// RFC 4978 COMPRESS DEFLATE: the OK goes out plain, then both
/// directions deflate (`Session::start_compress`).
pub fn compress(s: &mut Session, algorithm: &str) -> Result<Done> {
    if !algorithm.eq_ignore_ascii_case("DEFLATE") {
        return Err(Error::Bad("Unknown compression algorithm.".into()));
    }
    if s.out.deflating() {
        return Err(Error::no_code(
            "COMPRESSIONACTIVE",
            "DEFLATE active via COMPRESS.",
        ));
    }
    s.start_compress = true;
    Done::ok("DEFLATE active.")
}

pub fn enable(s: &mut Session, caps: Vec<String>) -> Result<Done> {
    let mut line = b"* ENABLED".to_vec();
    if caps.iter().any(|c| c == "CONDSTORE") && !s.enabled.condstore {
        s.enable_condstore()?;
        line.extend_from_slice(b" CONDSTORE");
    }
    if caps.iter().any(|c| c == "QRESYNC") && !s.enabled.qresync {
        s.enable_qresync()?;
        line.extend_from_slice(b" QRESYNC");
    }
    if caps.iter().any(|c| c == "IMAP4REV2") && !crate::imap::response::imap4rev2() {
        crate::imap::response::set_imap4rev2();
        line.extend_from_slice(b" IMAP4rev2");
    }
    if caps.iter().any(|c| c == "UTF8=ACCEPT") && !crate::imap::response::utf8_accept() {
        crate::imap::response::set_utf8_accept();
        line.extend_from_slice(b" UTF8=ACCEPT");
    }
    line.extend_from_slice(b"\r\n");
    s.out.write_all(&line)?;
    Done::ok("ENABLE completed.")
}

/// RFC 2342: one personal namespace with the store's separator.
pub fn namespace(s: &mut Session) -> Result<Done> {
    let sep = s.store()?.separator();
    s.out
        .write_all(format!("* NAMESPACE ((\"\" \"{sep}\")) NIL NIL\r\n").as_bytes())?;
    Done::ok("Namespace completed.")
}
