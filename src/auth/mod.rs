pub mod sasldb;
pub mod secret;
