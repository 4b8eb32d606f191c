//! mailaccess: per-connection IMAP and POP3 servers working directly on a
//! user's Maildir or mbox. See DESIGN.md for the architecture.

#![deny(unsafe_code)]
#![deny(clippy::unwrap_used)]

pub mod auth;
pub mod cli;
pub mod config;
pub mod conn;
pub mod fuzz;
pub mod imap;
pub mod limits;
pub mod log;
pub mod mime;
pub mod pop3;
pub mod privsep;
pub mod proxy;
pub mod sandbox;
pub mod serve;
pub mod store;
pub mod tls;
