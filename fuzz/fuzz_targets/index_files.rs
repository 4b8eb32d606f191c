//! The Maildir index's files: any bytes, read as the main file, as a log
//! and as the first text format (`store::index::read_any`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = mailaccess::store::index::read_any(data);
});
