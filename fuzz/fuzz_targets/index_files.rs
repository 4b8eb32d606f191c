//! The Maildir index's files: the main file, a log, the first text format.
//! The body is `mailaccess::fuzz` (replayed on the seeds in `make test`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| mailaccess::fuzz::run("index_files", data));
