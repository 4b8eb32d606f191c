//! A message file: its MIME structure and everything derived from it.
//! The body is `mailaccess::fuzz` (replayed on the seeds in `make test`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| mailaccess::fuzz::run("mime_message", data));
