//! RFC 8474 object identifiers.
//!
//! * MAILBOXID: 128 random bits, made on first ask and kept in a file of
//!   the mailbox's own directory (the Maildir folder; the mbox control
//!   directory), which RENAME moves and DELETE removes: the same id for
//!   the life of the mailbox, whatever its name, and a new one for a new
//!   mailbox of an old name.
//! * EMAILID: the SHA-256 of the message as served (`BODY[]`: line ends
//!   CRLF, whatever the store keeps), cut to 128
//!   bits. Messages are immutable, so it never changes; a COPY or MOVE, or
//!   the same octets delivered twice, has the same id, as RFC 8474 5.1
//!   asks for copies (and allows for identical messages). It is computed
//!   once and kept in the mailbox's cache (`cache::Kind::EmailId`).
//! * THREADID: from the conversation's first Message-ID
//!   (`imap::cmd::thread::thread_id`), `T` and 128 bits of its SHA-256.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

use sha2::{Digest, Sha256};

use super::{cache, Mailbox, Result};
use crate::limits::MAILBOXID_FILE_MAX;

/// The file in a mailbox's directory that holds its MAILBOXID.
pub const MAILBOXID_FILE: &str = "mailaccess-mailboxid";

/// RFC 8474 7 `objectid = 1*255(ALPHA / DIGIT / "_" / "-")`.
pub fn is_objectid(s: &[u8]) -> bool {
    (1..=255).contains(&s.len())
        && s.iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The MAILBOXID kept in `dir` (a mailbox's own directory, which exists),
/// made on first ask. Two sessions asking first at once agree: each writes
/// its own under a private name and links it in; the one that loses reads
/// the winner's.
pub fn mailbox_id(dir: &Path) -> io::Result<String> {
    let path = dir.join(MAILBOXID_FILE);
    if let Some(id) = read_id(&path) {
        return Ok(id);
    }
    let mut bits = [0u8; 16];
    random_fill(&mut bits)?;
    let id = format!("F{}", hex(&bits));
    static N: AtomicU32 = AtomicU32::new(0);
    let tmp = dir.join(format!(
        "{MAILBOXID_FILE}.{}.{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let made = super::open::regular(
        &tmp,
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600),
    )
    .and_then(|mut f| {
        f.write_all(format!("{id}\n").as_bytes())?;
        f.sync_all()
    })
    .and_then(|()| match fs::hard_link(&tmp, &path) {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        other => other,
    });
    let _ = fs::remove_file(&tmp);
    made?;
    read_id(&path).ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "bad MAILBOXID file"))
}

/// Fills `buf` from the kernel's random source (getrandom(2): no file
/// to open in a sealed session).
pub fn random_fill(buf: &mut [u8]) -> io::Result<()> {
    let mut filled = 0;
    while filled < buf.len() {
        match rustix::rand::getrandom(&mut buf[filled..], rustix::rand::GetRandomFlags::empty()) {
            Ok(n) => filled += n,
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// The id a MAILBOXID file holds, if it holds one.
fn read_id(path: &Path) -> Option<String> {
    let s = super::open::read_small(path, MAILBOXID_FILE_MAX).ok()?;
    let id = s.strip_suffix('\n').unwrap_or(&s);
    is_objectid(id.as_bytes()).then(|| id.to_string())
}

/// Message `index`'s EMAILID: from the cache, else read (streamed, in
/// bounded memory) and offered to the cache.
pub fn email_id(mailbox: &mut dyn Mailbox, index: usize) -> Result<String> {
    if let Some(id) = mailbox
        .cached(index, cache::Kind::EmailId)
        .filter(|id| is_objectid(id))
    {
        return Ok(String::from_utf8_lossy(&id).into_owned());
    }
    // As FETCH BODY[] sends it: the same id for an mbox copy (stored with
    // LF) and a Maildir one (stored as the client gave it).
    let mut r = crate::mime::crlf::CrlfReader::new(mailbox.open_message(index)?);
    let mut sum = Sha256::new();
    io::copy(&mut r, &mut sum)?;
    let id = format!("M{}", hex(&sum.finalize()[..16]));
    mailbox.cache(index, cache::Kind::EmailId, id.as_bytes());
    Ok(id)
}

/// `prefix` and the first 128 bits of the SHA-256 of `data`, in hex: an
/// objectid.
pub fn digest_id(prefix: char, data: &[u8]) -> String {
    format!("{prefix}{}", hex(&Sha256::digest(data)[..16]))
}

/// Lower-case hexadecimal.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}

/// The octets hexadecimal digits (either case) stand for; None if `s`
/// is not an even number of them.
pub fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objectid_syntax() {
        for ok in [&b"M1"[..], b"F0123abc", b"a_b-C", &[b'x'; 255]] {
            assert!(is_objectid(ok), "{ok:?}");
        }
        for bad in [&b""[..], b"M 1", b"M.1", b"\xc3\xa9", &[b'x'; 256]] {
            assert!(!is_objectid(bad), "{bad:?}");
        }
    }

    /// Made once, then read back the same; a damaged file is an error,
    /// not a new id.
    #[test]
    fn a_mailbox_id_is_made_once_and_kept() {
        let d = tempfile::tempdir().unwrap();
        let a = mailbox_id(d.path()).unwrap();
        assert!(a.starts_with('F') && a.len() == 33 && is_objectid(a.as_bytes()));
        assert_eq!(mailbox_id(d.path()).unwrap(), a);
        let other = tempfile::tempdir().unwrap();
        assert_ne!(mailbox_id(other.path()).unwrap(), a);
        // Only the id file is left behind.
        let names: Vec<_> = fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [MAILBOXID_FILE]);
        fs::write(d.path().join(MAILBOXID_FILE), "not an id\n").unwrap();
        assert!(mailbox_id(d.path()).is_err());
    }

    /// Threads racing to make the first id all get the one that won.
    #[test]
    fn racing_sessions_agree() {
        let d = tempfile::tempdir().unwrap();
        let ids: Vec<String> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..8)
                .map(|_| s.spawn(|| mailbox_id(d.path()).unwrap()))
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(ids.iter().all(|i| *i == ids[0]), "{ids:?}");
    }
}
