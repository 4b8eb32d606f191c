//! POP3 command lines: any byte stream, read line by line and parsed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailaccess::pop3::parse;

fuzz_target!(|data: &[u8]| {
    let mut input = std::io::BufReader::new(data);
    for _ in 0..64 {
        match parse::read_line(&mut input, parse::SASL_LINE_MAX) {
            Ok(line) => {
                let _ = parse::parse(&line);
            }
            Err(parse::LineError::TooLong) => {}
            Err(_) => break,
        }
    }
});
