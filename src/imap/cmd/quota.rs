//! QUOTA (RFC 9208): GETQUOTAROOT and GETQUOTA report the user's one quota
//! root, "User quota" (as Dovecot names it), with STORAGE in units of 1024
//! octets and MESSAGE; the limits are the administrator's (a Maildir's
//! `maildirsize` and the filesystem quota, `store::quota`), so SETQUOTA is refused. A user with no
//! quota has no root. APPEND, COPY and MOVE past a limit fail with
//! `[OVERQUOTA]` (the store's `StoreError::OverQuota`).

use crate::imap::response;
use crate::imap::session::{Done, Error, Result, Session};
use crate::store::quota::Quota;

/// The name of the one quota root.
pub const ROOT: &str = "User quota";

/// `* QUOTA "User quota" (STORAGE used limit MESSAGE used limit)`.
fn quota_line(q: &Quota) -> Vec<u8> {
    let mut out = b"* QUOTA ".to_vec();
    response::string(&mut out, ROOT.as_bytes());
    let mut items = Vec::new();
    if let Some((used, limit)) = q.storage {
        items.push(format!("STORAGE {} {}", used / 1024, limit / 1024));
    }
    if let Some((used, limit)) = q.messages {
        items.push(format!("MESSAGE {used} {limit}"));
    }
    out.extend_from_slice(format!(" ({})\r\n", items.join(" ")).as_bytes());
    out
}

/// GETQUOTAROOT: the roots of an existing mailbox, and each one's QUOTA.
pub fn get_quota_root(s: &mut Session, mailbox: &str) -> Result<Done> {
    s.store()?.status(mailbox)?;
    let quota = s.store()?.quota()?;
    let mut out = b"* QUOTAROOT ".to_vec();
    response::mailbox(&mut out, mailbox);
    if let Some(q) = &quota {
        out.push(b' ');
        response::string(&mut out, ROOT.as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&quota_line(q));
    } else {
        out.extend_from_slice(b"\r\n");
    }
    s.out.write_all(&out)?;
    Done::ok("Getquotaroot completed.")
}

/// GETQUOTA of a root.
pub fn get_quota(s: &mut Session, root: &str) -> Result<Done> {
    match s.store()?.quota()? {
        Some(q) if root == ROOT => {
            let line = quota_line(&q);
            s.out.write_all(&line)?;
            Done::ok("Getquota completed.")
        }
        _ => Err(Error::no("No such quota root.")),
    }
}

/// SETQUOTA: the administrator's limits cannot be changed from IMAP.
pub fn set_quota(_s: &mut Session) -> Result<Done> {
    Err(Error::no_code(
        "NOPERM",
        "Quota limits are set by the administrator.",
    ))
}
