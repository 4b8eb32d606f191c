//! The fuzz targets' bodies, one per target (`fuzz/fuzz_targets/*.rs`
//! call `run`), so that `tests/fuzz_corpus.rs` replays every committed
//! seed (`fuzz/seeds/TARGET/`) through the very same code in `make test`
//! (no nightly, no cargo-fuzz there). Each body must never panic on any
//! input, except where it checks a property that must hold (a round trip),
//! whose failure is a bug.

use crate::mime::{self, Section, SectionText};

/// Every target, by the name of its `fuzz/fuzz_targets/NAME.rs`.
pub const TARGETS: &[&str] = &[
    "imap_command",
    "pop3_command",
    "mime_message",
    "sasldb_file",
    "sasl_exchange",
    "index_files",
    "cache_files",
    "mbox_file",
    "maildir_name",
    "mailbox_name",
    "imap_url",
    "config_file",
    "proxy_header",
];

/// Runs target `name` on `data`; an unknown name panics.
pub fn run(name: &str, data: &[u8]) {
    match name {
        "imap_command" => imap_command(data),
        "pop3_command" => pop3_command(data),
        "mime_message" => mime_message(data),
        "sasldb_file" => sasldb_file(data),
        "sasl_exchange" => sasl_exchange(data),
        "index_files" => {
            let _ = crate::store::index::read_any(data);
        }
        "cache_files" => cache_files(data),
        "mbox_file" => mbox_file(data),
        "maildir_name" => crate::store::maildir::read_any_name(&String::from_utf8_lossy(data)),
        "mailbox_name" => mailbox_name(data),
        "imap_url" => imap_url(data),
        "config_file" => config_file(data),
        "proxy_header" => proxy_header(data),
        _ => panic!("no fuzz target {name}"),
    }
}

/// IMAP framing and grammar: any byte stream, read as a client's commands.
/// The framer must never panic nor allocate past its limits; every frame
/// either parses or gets a ParseError.
fn imap_command(data: &[u8]) {
    use crate::imap::{frame, parse};
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
}

/// POP3 command lines: any byte stream, read line by line and parsed.
fn pop3_command(data: &[u8]) {
    use crate::pop3::parse;
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
}

/// A message file: its MIME structure and everything derived from it
/// (ENVELOPE, BODY, BODYSTRUCTURE, sections, SEARCH text).
fn mime_message(data: &[u8]) {
    let part = mime::parse(data);
    let mut out = Vec::new();
    mime::imap::envelope(&mut out, data, &part);
    mime::imap::body_structure(&mut out, data, &part, true);
    mime::imap::body_structure(&mut out, data, &part, false);
    for p in [vec![], vec![1], vec![1, 1], vec![2, 1, 3]] {
        for text in [
            None,
            Some(SectionText::Header),
            Some(SectionText::Text),
            Some(SectionText::Mime),
        ] {
            let s = Section {
                part: p.clone(),
                text,
            };
            let _ = mime::imap::section_bytes(data, &part, &s);
        }
    }
    let _ = mime::decode::body_text(data, &part);
    // PREVIEW: never more than its characters, never a control character.
    let preview = mime::decode::preview(data, &part);
    assert!(preview.chars().count() <= crate::limits::PREVIEW_CHARS);
    assert!(!preview.chars().any(char::is_control));
    let _ = mime::decode::header_value(data);
    let _ = mime::crlf::to_crlf(data);
}

/// A sasldb file: any bytes, read as a Berkeley DB hash file.
fn sasldb_file(data: &[u8]) {
    use crate::auth::sasldb::{Sasldb, USER_PASSWORD};
    if let Ok(db) = Sasldb::from_bytes(data.to_vec()) {
        let _ = db.lookup("alice", "example.org", USER_PASSWORD);
        let _ = db.users();
    }
}

/// A SASL exchange of every mechanism, driven by the client messages in
/// the input (split at 0xff), answered with fixed verdicts.
fn sasl_exchange(data: &[u8]) {
    use crate::auth::sasl::{Fresh, Mechanism, Step};
    for m in Mechanism::ALL {
        let fresh = Fresh {
            nonce: "fuzznonce".into(),
            salt: vec![7; 16],
            time: 1,
            pid: 1,
        };
        let mut ex = m.start("fuzz.example.org", fresh);
        let mut parts = data.split(|&c| c == 0xff);
        let mut step = ex.begin(parts.next());
        for _ in 0..8 {
            step = match step {
                Step::Challenge(_) => match parts.next() {
                    Some(p) => ex.step(p),
                    None => break,
                },
                Step::Verify(req) => ex.verdict(req.verify(b"pencil")),
                Step::Done(_) | Step::Fail(_) => break,
            };
        }
    }
}

/// The caches' files: any bytes, read as a Maildir or mbox cache file
/// (`mailaccess-cache`) and, split by `split_pair`, as an mbox parse cache
/// and its delta (`mailaccess-mbox-index`).
fn cache_files(data: &[u8]) {
    let _ = crate::store::cache::read_any(data);
    let (cache, delta) = split_pair(data);
    let _ = crate::store::mbox::cache::read_any(cache, delta);
}

/// Two files in one input (both binary): the first one's length (u32,
/// little-endian), the first, the second. What does not say a length is
/// the first file alone.
pub fn split_pair(data: &[u8]) -> (&[u8], &[u8]) {
    let Some((len, rest)) = data.split_first_chunk::<4>() else {
        return (data, &[]);
    };
    match rest.split_at_checked(u32::from_le_bytes(*len) as usize) {
        Some(pair) => pair,
        None => (data, &[]),
    }
}

/// The input `split_pair` splits into `a` and `b` (for writing seeds).
pub fn join_pair(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = u32::try_from(a.len())
        .unwrap_or(u32::MAX)
        .to_le_bytes()
        .to_vec();
    out.extend_from_slice(a);
    out.extend_from_slice(b);
    out
}

/// An mbox file: its messages as the parse finds them, each in order and
/// inside the file, and the octets a client is served for each.
fn mbox_file(data: &[u8]) {
    use crate::store::mbox::parse;
    let Ok(p) = parse::parse(data) else {
        return;
    };
    let mut end = 0;
    for m in &p.messages {
        assert!(
            m.from.start >= end && m.from.end <= m.header.start && m.header.end <= m.body.start,
            "message parts out of order: {m:?}"
        );
        assert!(m.body.end <= data.len(), "message past the end: {m:?}");
        end = m.body.end;
        let served: usize = m.served().iter().map(|r| r.end - r.start).sum();
        assert!(served <= m.body.end - m.header.start);
        let _ = m.size(data);
    }
}

/// A mailbox name from a client: decoded from modified UTF-7 and checked;
/// any text encodes and decodes back to itself.
fn mailbox_name(data: &[u8]) {
    use crate::store::names;
    let text = String::from_utf8_lossy(data);
    if let Ok(decoded) = names::decode_utf7(&text) {
        let _ = names::validate(&decoded);
    }
    let encoded = names::encode_utf7(&text);
    assert_eq!(
        names::decode_utf7(&encoded).as_deref(),
        Ok(&*text),
        "{text:?} -> {encoded:?} does not decode back"
    );
    let _ = names::list_match("*%x", &text, '.');
}

/// An IMAP URL (CATENATE, GENURLAUTH, URLFETCH): parsed; a URLAUTH's
/// rump is a prefix of the URL, and a parsed rump parses again to the
/// same URL without its verifier.
fn imap_url(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let Some(url) = crate::imap::url::parse(&text) else {
        return;
    };
    if let Some(auth) = &url.auth {
        assert!(text.starts_with(&auth.rump), "{text:?}");
        let again = crate::imap::url::parse(&auth.rump).expect("the rump parses");
        let again_auth = again.auth.as_ref().expect("the rump keeps URLAUTH");
        assert_eq!(again_auth.verifier, None);
        assert_eq!(again_auth.access, auth.access);
        assert_eq!((again.uid, &again.mailbox), (url.uid, &url.mailbox));
    }
}

/// A configuration file: every line read as `key = value`, for both
/// services; a file that is accepted prints (`--check`) without panic.
fn config_file(data: &[u8]) {
    use crate::config::{Config, Service};
    let text = String::from_utf8_lossy(data);
    for service in [Service::Imap, Service::Pop3] {
        let mut c = Config::defaults(service);
        if c.read_text(&text, "fuzz").is_ok() {
            let _ = c.dump();
        }
    }
}

/// A PROXY protocol header as the parent reads it from a trusted proxy
/// (`proxy::read`): never more than the header is taken, and what it
/// takes, parsed again on its own, says the same.
fn proxy_header(data: &[u8]) {
    let mut r = data;
    let Ok(header) = crate::proxy::read(&mut r) else {
        return;
    };
    let taken = &data[..data.len() - r.len()];
    let again = if taken.first() == Some(&b'P') {
        crate::proxy::parse_v1(taken)
    } else {
        let mut head = [0u8; 16];
        head.copy_from_slice(&taken[..16]);
        crate::proxy::parse_v2(&head, &taken[16..])
    };
    assert_eq!(again, Ok(header));
}
