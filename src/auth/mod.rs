//! Authentication: credential backends (PAM, sasldb) and SASL mechanisms.

pub mod pam;
