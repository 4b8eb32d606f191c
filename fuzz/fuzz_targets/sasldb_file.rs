//! A sasldb file: any bytes, read as a Berkeley DB hash file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailaccess::auth::sasldb::{Sasldb, USER_PASSWORD};

fuzz_target!(|data: &[u8]| {
    if let Ok(db) = Sasldb::from_bytes(data.to_vec()) {
        let _ = db.lookup("alice", "example.org", USER_PASSWORD);
        let _ = db.users();
    }
});
