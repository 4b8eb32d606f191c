//! STATUS (RFC 3501 6.3.10), with SIZE (RFC 8438).

use crate::imap::command::StatusItem;
use crate::imap::response;
use crate::imap::session::{Done, Result, Session, State};

pub fn status(s: &mut Session, name: &str, items: &[StatusItem]) -> Result<Done> {
    // RFC 7162 3.1: STATUS (HIGHESTMODSEQ) enables CONDSTORE.
    if items.contains(&StatusItem::HighestModSeq) {
        s.enable_condstore()?;
    }
    let out = response(s, name, items)?;
    s.out.write_all(&out)?;
    Done::ok("Status completed.")
}

/// The `* STATUS` response for `name` (also LIST-STATUS's, RFC 5819).
pub fn response(s: &mut Session, name: &str, items: &[StatusItem]) -> Result<Vec<u8>> {
    // RFC 3501 6.3.10 lets STATUS of the selected mailbox be refused; we
    // answer it, from the session's own view so the counts agree with what
    // the client was told.
    let st = match &s.state {
        State::Selected(sel) if sel.name == name => {
            let mb = sel.mailbox.as_ref();
            let mut st = crate::store::Status {
                messages: mb.count() as u32,
                recent: 0,
                uid_next: mb.uid_next(),
                uid_validity: mb.uid_validity(),
                unseen: 0,
                // What the client knows all of (RFC 7162 3.2): not past an
                // expunge it has not been told yet.
                highest_modseq: sel.complete_modseq,
                size: 0,
                deleted: 0,
                deleted_size: 0,
            };
            for i in 0..mb.count() {
                let m = mb.message(i);
                st.recent += u32::from(m.recent);
                st.unseen += u32::from(!m.flags.has(crate::store::flag::SEEN));
                st.size += m.size;
                if m.flags.has(crate::store::flag::DELETED) {
                    st.deleted += 1;
                    st.deleted_size += m.size;
                }
            }
            st
        }
        _ => s.store()?.status(name)?,
    };
    let mailbox_id = if items.contains(&StatusItem::MailboxId) {
        s.store()?.mailbox_id(name)?
    } else {
        String::new()
    };
    let mut out = Vec::new();
    write_line(&mut out, name, &st, items, &mailbox_id);
    Ok(out)
}

/// `* STATUS name (items)` of the counts `st` (MAILBOXID `mailbox_id`).
pub fn write_line(
    out: &mut Vec<u8>,
    name: &str,
    st: &crate::store::Status,
    items: &[StatusItem],
    mailbox_id: &str,
) {
    out.extend_from_slice(b"* STATUS ");
    response::mailbox(out, name);
    out.extend_from_slice(b" (");
    let parts: Vec<String> = items
        .iter()
        .map(|i| match i {
            StatusItem::Messages => format!("MESSAGES {}", st.messages),
            StatusItem::Recent => format!("RECENT {}", st.recent),
            StatusItem::UidNext => format!("UIDNEXT {}", st.uid_next),
            StatusItem::UidValidity => format!("UIDVALIDITY {}", st.uid_validity),
            StatusItem::Unseen => format!("UNSEEN {}", st.unseen),
            StatusItem::Size => format!("SIZE {}", st.size),
            StatusItem::HighestModSeq => format!("HIGHESTMODSEQ {}", st.highest_modseq),
            // RFC 7889: the largest message APPEND takes, the same for
            // every mailbox (also in the capability).
            StatusItem::AppendLimit => format!("APPENDLIMIT {}", crate::limits::APPEND_MAX),
            StatusItem::MailboxId => format!("MAILBOXID ({mailbox_id})"),
            StatusItem::Deleted => format!("DELETED {}", st.deleted),
            StatusItem::DeletedStorage => format!("DELETED-STORAGE {}", st.deleted_size),
        })
        .collect();
    out.extend_from_slice(parts.join(" ").as_bytes());
    out.extend_from_slice(b")\r\n");
}

#[cfg(test)]
mod tests {
    /// RFC 7889: the limit the capability names is the one APPEND keeps.
    #[test]
    fn the_capability_names_the_append_limit() {
        let cap = format!(" APPENDLIMIT={}", crate::limits::APPEND_MAX);
        assert!(crate::imap::session::CAPABILITIES.contains(&cap));
    }
}
