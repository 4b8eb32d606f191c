//! An mbox file: its messages as the parse finds them.
//! The body is `mailaccess::fuzz` (replayed on the seeds in `make test`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| mailaccess::fuzz::run("mbox_file", data));
