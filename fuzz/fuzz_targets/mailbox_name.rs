//! A mailbox name: modified UTF-7 decoded, checked, encoded back.
//! The body is `mailaccess::fuzz` (replayed on the seeds in `make test`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| mailaccess::fuzz::run("mailbox_name", data));
