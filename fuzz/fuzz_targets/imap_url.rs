//! An IMAP URL of CATENATE, GENURLAUTH or URLFETCH (RFC 5092, RFC 4467).
//! The body is `mailaccess::fuzz` (replayed on the seeds in `make test`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| mailaccess::fuzz::run("imap_url", data));
