//! The store of an ANONYMOUS session (RFC 4505, `allow_anonymous_login`):
//! one empty, read-only INBOX and nothing else. It touches no file, so the
//! session runs as the unprivileged login user inside the empty jail.

use super::{
    Appended, Changes, FlagOp, Flags, Mailbox, MailboxInfo, Message, MessageRead, ModSeq,
    NewMessage, Result, Status, Store, StoreError, Uid,
};

const READ_ONLY: StoreError = StoreError::NotAllowed("Anonymous sessions are read-only.");

/// A fixed UIDVALIDITY: the mailbox is always empty, so no UID is ever
/// handed out under it.
const UID_VALIDITY: u32 = 1;

pub struct Empty;

fn inbox(name: &str) -> Result<()> {
    if name.eq_ignore_ascii_case("INBOX") {
        Ok(())
    } else {
        Err(StoreError::NotFound)
    }
}

impl Store for Empty {
    fn separator(&self) -> char {
        '.'
    }

    fn list(&mut self) -> Result<Vec<MailboxInfo>> {
        Ok(vec![MailboxInfo {
            noinferiors: false,
            name: "INBOX".into(),
            noselect: false,
            has_children: false,
            marked: None,
        }])
    }

    fn create(&mut self, _name: &str) -> Result<()> {
        Err(READ_ONLY)
    }

    fn delete(&mut self, _name: &str) -> Result<()> {
        Err(READ_ONLY)
    }

    fn rename(&mut self, _from: &str, _to: &str) -> Result<()> {
        Err(READ_ONLY)
    }

    fn subscribe(&mut self, _name: &str) -> Result<()> {
        Err(READ_ONLY)
    }

    fn unsubscribe(&mut self, _name: &str) -> Result<()> {
        Err(READ_ONLY)
    }

    fn subscriptions(&mut self) -> Result<Vec<String>> {
        Ok(vec!["INBOX".into()])
    }

    fn status(&mut self, name: &str) -> Result<Status> {
        inbox(name)?;
        Ok(Status {
            uid_next: 1,
            uid_validity: UID_VALIDITY,
            ..Status::default()
        })
    }

    fn open(&mut self, name: &str, _read_only: bool) -> Result<Box<dyn Mailbox>> {
        inbox(name)?;
        Ok(Box::new(EmptyMailbox))
    }

    fn append(&mut self, name: &str, _messages: &mut [NewMessage<'_>]) -> Result<Appended> {
        inbox(name)?;
        Err(READ_ONLY)
    }
}

struct EmptyMailbox;

impl Mailbox for EmptyMailbox {
    fn read_only(&self) -> bool {
        true
    }

    fn uid_validity(&self) -> u32 {
        UID_VALIDITY
    }

    fn uid_next(&self) -> Uid {
        1
    }

    fn highest_modseq(&self) -> ModSeq {
        1
    }

    fn vanished_since(&self, _since: ModSeq) -> Vec<std::ops::RangeInclusive<Uid>> {
        Vec::new()
    }

    fn count(&self) -> usize {
        0
    }

    fn message(&self, index: usize) -> Message {
        panic!("message {index} of an empty mailbox")
    }

    fn keywords(&self) -> Vec<String> {
        Vec::new()
    }

    fn can_create_keywords(&self) -> bool {
        false
    }

    fn sync(&mut self, _allow_expunge: bool) -> Result<Changes> {
        Ok(Changes::default())
    }

    fn open_message(&mut self, _index: usize) -> Result<Box<dyn MessageRead>> {
        Err(StoreError::Expunged)
    }

    fn store_if(
        &mut self,
        _indexes: &[usize],
        _op: FlagOp,
        _flags: &Flags,
        _since: Option<ModSeq>,
    ) -> Result<(Vec<usize>, Vec<usize>)> {
        Err(READ_ONLY)
    }

    fn expunge(&mut self, _uids: Option<&[Uid]>) -> Result<Vec<u32>> {
        Err(READ_ONLY)
    }

    fn copy(&mut self, _indexes: &[usize], _dest: &str) -> Result<Appended> {
        Err(READ_ONLY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_empty_read_only_inbox() {
        let mut s = Empty;
        assert_eq!(s.list().unwrap().len(), 1);
        let mb = s.open("inbox", false).unwrap();
        assert!(mb.read_only() && mb.count() == 0);
        assert!(matches!(s.open("Other", true), Err(StoreError::NotFound)));
        assert!(matches!(s.create("x"), Err(StoreError::NotAllowed(_))));
        let mut data: &[u8] = b"x";
        let mut m = [NewMessage {
            flags: Flags::default(),
            internal_date: None,
            data: &mut data,
            len: 1,
        }];
        assert!(s.append("INBOX", &mut m).is_err());
    }
}
