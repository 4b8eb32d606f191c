//! The IMAP4rev1 protocol: framing, grammar, responses and the session.

pub mod command;
pub mod frame;
pub mod parse;
pub mod response;
