//! Maildir++ storage.
