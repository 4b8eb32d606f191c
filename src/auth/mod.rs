//! Authentication: credential backends (PAM, sasldb, LDAP), SASL mechanisms, and
//! the channel between the login process and its privileged parent.

pub mod channel;
pub mod gss;
pub mod kerberos;
pub mod ldap;
pub mod oauth;
pub mod pam;
pub mod sasl;
pub mod sasldb;
pub mod secret;
pub mod server;
