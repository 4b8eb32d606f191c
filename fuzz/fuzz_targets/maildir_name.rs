//! A Maildir file name: base, `:2,` letters, `S=`/`W=`, the letters written back.
//! The body is `mailaccess::fuzz` (replayed on the seeds in `make test`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| mailaccess::fuzz::run("maildir_name", data));
