//! A PROXY protocol header (HAProxy's versions 1 and 2) from a trusted
//! proxy, read by the privileged parent before anything else.
//! The body is `mailaccess::fuzz` (replayed on the seeds in `make test`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| mailaccess::fuzz::run("proxy_header", data));
