//! A message file: its MIME structure and everything derived from it
//! (ENVELOPE, BODY, BODYSTRUCTURE, sections, SEARCH text) for any bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailaccess::mime::{self, Section, SectionText};

fuzz_target!(|data: &[u8]| {
    let part = mime::parse(data);
    let mut out = Vec::new();
    mime::imap::envelope(&mut out, data, &part);
    mime::imap::body_structure(&mut out, data, &part, true);
    mime::imap::body_structure(&mut out, data, &part, false);
    for p in [vec![], vec![1], vec![1, 1], vec![2, 1, 3]] {
        for text in [None, Some(SectionText::Header), Some(SectionText::Text), Some(SectionText::Mime)] {
            let s = Section { part: p.clone(), text };
            let _ = mime::imap::section_bytes(data, &part, &s);
        }
    }
    let _ = mime::decode::body_text(data, &part);
    let _ = mime::decode::header_value(data);
    let _ = mime::crlf::to_crlf(data);
});
