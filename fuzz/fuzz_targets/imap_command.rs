//! IMAP framing and grammar: any byte stream, read as a client's commands.
//! The framer must never panic nor allocate past its limits; every frame
//! either parses or gets a ParseError.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailaccess::imap::{frame, parse};

fuzz_target!(|data: &[u8]| {
    let mut input = std::io::BufReader::new(data);
    let mut out = Vec::new();
    let mut no_spool = || Err(std::io::Error::other("no spool in the fuzzer"));
    for _ in 0..64 {
        match frame::read_command(&mut input, &mut out, &mut no_spool) {
            Ok(f) => {
                let _ = parse::parse_command(f);
            }
            Err(e) if e.is_fatal() => break,
            Err(_) => {}
        }
    }
});
