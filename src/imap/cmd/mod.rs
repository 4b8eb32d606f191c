//! One file per command or family of commands; `dispatch` is the only place
//! that maps a parsed command to its handler.

pub mod any;
pub mod append;
pub mod copy;
pub mod expunge;
pub mod fetch;
pub mod idle;
pub mod list;
pub mod mailbox;
pub mod search;
pub mod select;
pub mod status;
pub mod store;

use crate::conn::ClientInput;

use crate::imap::command::CommandBody;
use crate::imap::session::{Done, Error, Result, Session};

pub fn dispatch<R: ClientInput>(
    s: &mut Session,
    tag: &str,
    body: CommandBody,
    input: &mut R,
) -> Result<Done> {
    use CommandBody::*;
    match body {
        Capability => any::capability(s),
        Noop => any::noop(s),
        Logout => any::logout(s),
        Id(params) => any::id(s, params),
        Enable(caps) => any::enable(s, caps),
        Namespace => any::namespace(s),
        // Login and STARTTLS reach here only where `allowed` let them, which
        // is before authentication; preauthenticated sessions never get here.
        StartTls | Authenticate { .. } | Login { .. } => {
            Err(Error::Bad("Already authenticated.".into()))
        }
        Select { mailbox } => select::select(s, &mailbox, false),
        Examine { mailbox } => select::select(s, &mailbox, true),
        Close => select::close(s),
        Unselect => select::unselect(s),
        Create { mailbox } => mailbox::create(s, &mailbox),
        Delete { mailbox } => mailbox::delete(s, &mailbox),
        Rename { from, to } => mailbox::rename(s, &from, &to),
        Subscribe { mailbox } => mailbox::subscribe(s, &mailbox),
        Unsubscribe { mailbox } => mailbox::unsubscribe(s, &mailbox),
        List { reference, pattern } => list::list(s, &reference, &pattern, false),
        Lsub { reference, pattern } => list::list(s, &reference, &pattern, true),
        Status { mailbox, items } => status::status(s, &mailbox, &items),
        Append { mailbox, messages } => append::append(s, &mailbox, messages),
        Check => any::check(s),
        Expunge { uids } => expunge::expunge(s, uids.as_ref()),
        Search {
            charset,
            criteria,
            uid,
        } => search::search(s, charset.as_deref(), &criteria, uid),
        Fetch { set, items, uid } => fetch::fetch(s, &set, &items, uid),
        Store {
            set,
            op,
            silent,
            flags,
            uid,
        } => store::store(s, &set, op, silent, &flags, uid),
        Copy { set, mailbox, uid } => copy::copy(s, &set, &mailbox, uid, false),
        Move { set, mailbox, uid } => copy::copy(s, &set, &mailbox, uid, true),
        Idle => idle::idle(s, tag, input),
    }
}

/// Resolves a sequence set (or UID set) against the selected mailbox's view
/// into 0-based message indexes, in ascending order. A UID set names only
/// the UIDs that exist (RFC 3501 6.4.8: a UID range past the end, even on an
/// empty mailbox, is no error). A sequence set naming a number past the end,
/// or `*` in an empty mailbox, is a tagged BAD (RFC 3501 9 `seq-number`:
/// "a command that uses a message sequence number greater than the number
/// of messages in the selected mailbox" gets BAD, "This includes "*" if the
/// selected mailbox is empty"), as Dovecot answers it.
pub fn indexes(
    mailbox: &dyn crate::store::Mailbox,
    set: &crate::imap::command::SequenceSet,
    uid: bool,
) -> Result<Vec<usize>> {
    let count = mailbox.count();
    if uid {
        let Some(max) = count.checked_sub(1).map(|last| mailbox.uid(last)) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for r in set.ranges(max) {
            let start = mailbox.find_uid(*r.start()).unwrap_or_else(|at| at);
            for i in start..count {
                if mailbox.uid(i) > *r.end() {
                    break;
                }
                out.push(i);
            }
        }
        out.dedup();
        Ok(out)
    } else {
        let max = u32::try_from(count).unwrap_or(u32::MAX);
        let past_end = set.max_number().is_some_and(|n| n > max);
        if past_end || max == 0 {
            return Err(Error::Bad(
                "Error in IMAP command: Invalid messageset".into(),
            ));
        }
        Ok(set.iter(max).map(|n| n as usize - 1).collect())
    }
}
