//! Memory independent of message size (issue 20), on both backends: a
//! 24 MB message (a text part and a base64 attachment, LF line ends as
//! MTAs store them) is fetched item by item; every answer must be the
//! octets the in-memory code computes for the same message (the path used
//! for small messages, checked against Dovecot by `mime_dovecot`), and the
//! session's peak RSS (VmHWM) must stay under `RSS_MAX`: the code that read
//! a whole message into memory for these needed well over twice its size.
//! The benchmark with the 200 MB figures is `bench/memory_bench.py`.

mod common;

use common::{home_on, imapd_on, Server, BOTH};
use mailaccess::mime::{self, Section, SectionText};

/// Peak resident memory allowed for the session, in kB (issue 20's goal).
const RSS_MAX_KB: u64 = 16 * 1024;

/// Octets of attachment data before base64 (about 24 MB encoded).
const ATTACHMENT: usize = 18 * 1024 * 1024;

/// The attachment's octets.
fn attachment() -> Vec<u8> {
    let mut x: u32 = 0x1234_5678;
    (0..ATTACHMENT)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

fn message() -> Vec<u8> {
    let mut m = b"From: Big Sender <big@example.org>\nTo: you@example.net\n\
Subject: a big one\nMessage-ID: <big@example.org>\nMIME-Version: 1.0\n\
Content-Type: multipart/mixed; boundary=\"=-=big=-=\"\n\npreamble\n\
--=-=big=-=\nContent-Type: text/plain; charset=utf-8\n\n"
        .to_vec();
    for i in 0..40 {
        m.extend_from_slice(format!("Line {i} of the text part.\n").as_bytes());
    }
    m.extend_from_slice(
        b"\n--=-=big=-=\nContent-Type: application/octet-stream; name=\"data.bin\"\n\
Content-Disposition: attachment; filename=\"data.bin\"\nContent-Transfer-Encoding: base64\n\n",
    );
    let b64 = mailaccess::auth::sasl::base64_encode(&attachment()).into_bytes();
    for line in b64.chunks(76) {
        m.extend_from_slice(line);
        m.push(b'\n');
    }
    m.extend_from_slice(b"--=-=big=-=--\n");
    m
}

/// The octets of the literal (or RFC 3516 `literal8`) that follows `item`
/// in a FETCH response.
fn literal_after(line: &[u8], item: &str) -> Vec<u8> {
    let find = |key: &str| {
        line.windows(key.len())
            .position(|w| w == key.as_bytes())
            .map(|at| at + key.len())
    };
    let at = find(&format!("{item} {{"))
        .or_else(|| find(&format!("{item} ~{{")))
        .unwrap_or_else(|| {
            panic!(
                "no {item} literal in {}",
                String::from_utf8_lossy(&line[..line.len().min(300)])
            )
        });
    let rest = &line[at..];
    let close = rest.iter().position(|&c| c == b'}').unwrap();
    let n: usize = std::str::from_utf8(&rest[..close])
        .unwrap()
        .parse()
        .unwrap();
    rest[close + 3..close + 3 + n].to_vec()
}

fn fetch(s: &mut Server, what: &str) -> Vec<u8> {
    let r = s.command_bytes("f", &format!("FETCH 1 {what}"));
    assert!(
        r.last().unwrap().starts_with(b"f OK"),
        "{what}: {:?}",
        String::from_utf8_lossy(r.last().unwrap())
    );
    r[0].clone()
}

fn vm_hwm_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/PID/status")
}

fn section(part: &[u32], text: Option<SectionText>) -> Section {
    Section {
        part: part.to_vec(),
        text,
    }
}

fn partial(v: Vec<u8>, o: usize, n: usize) -> Vec<u8> {
    v.get(o.min(v.len())..(o + n).min(v.len()))
        .unwrap_or_default()
        .to_vec()
}

#[test]
fn a_big_message_is_served_in_bounded_memory() {
    let raw = message();
    let tree = mime::parse(&raw);
    let bytes = |s: Section| mime::imap::section_bytes(&raw, &tree, &s).unwrap();
    let mut bs = Vec::new();
    mime::imap::body_structure(&mut bs, &raw[..], &tree, true);
    let mut env = Vec::new();
    mime::imap::envelope(&mut env, &raw[..], &tree);
    for b in BOTH {
        let h = home_on(b, &[&raw]);
        let mut s = imapd_on(b, &h);
        let r = s.command("s", "EXAMINE INBOX");
        assert!(r.last().unwrap().starts_with("s OK"), "{r:?}");

        let line = fetch(&mut s, "BODYSTRUCTURE");
        let want = [b"* 1 FETCH (BODYSTRUCTURE ".as_slice(), &bs, b")\r\n"].concat();
        assert_eq!(
            String::from_utf8_lossy(&line),
            String::from_utf8_lossy(&want),
            "{b:?}"
        );
        let line = fetch(&mut s, "ENVELOPE");
        let want = [b"* 1 FETCH (ENVELOPE ".as_slice(), &env, b")\r\n"].concat();
        assert_eq!(line, want, "{b:?}");

        let text = bytes(section(&[], Some(SectionText::Text)));
        for (item, echo, want) in [
            (
                "BODY.PEEK[TEXT]<0.10>",
                "BODY[TEXT]<0>",
                partial(text.clone(), 0, 10),
            ),
            (
                "BODY.PEEK[1]<0.10>",
                "BODY[1]<0>",
                partial(bytes(section(&[1], None)), 0, 10),
            ),
            (
                "BODY.PEEK[1.MIME]",
                "BODY[1.MIME]",
                bytes(section(&[1], Some(SectionText::Mime))),
            ),
            (
                "BODY.PEEK[2.MIME]",
                "BODY[2.MIME]",
                bytes(section(&[2], Some(SectionText::Mime))),
            ),
            (
                "BODY.PEEK[2]<1000000.64>",
                "BODY[2]<1000000>",
                partial(bytes(section(&[2], None)), 1_000_000, 64),
            ),
            (
                "BODY.PEEK[]<5.20>",
                "BODY[]<5>",
                partial(mime::crlf::to_crlf(&raw), 5, 20),
            ),
            (
                "BODY.PEEK[HEADER.FIELDS (Subject From)]",
                "BODY[HEADER.FIELDS (Subject From)]",
                bytes(section(
                    &[],
                    Some(SectionText::HeaderFields {
                        not: false,
                        fields: vec!["Subject".into(), "From".into()],
                    }),
                )),
            ),
            (
                "RFC822.HEADER",
                "RFC822.HEADER",
                bytes(section(&[], Some(SectionText::Header))),
            ),
            ("BODY.PEEK[3]", "BODY[3]", Vec::new()),
            (
                "BODY.PEEK[TEXT]<30000000.10>",
                "BODY[TEXT]<30000000>",
                Vec::new(),
            ),
        ] {
            let line = fetch(&mut s, item);
            assert_eq!(literal_after(&line, echo), want, "{b:?} {item}");
        }
        // Whole parts: the attachment and the text, every octet.
        let line = fetch(&mut s, "BODY.PEEK[2]");
        assert!(
            literal_after(&line, "BODY[2]") == bytes(section(&[2], None)),
            "{b:?} BODY[2]"
        );
        let line = fetch(&mut s, "BODY.PEEK[TEXT]");
        assert!(
            literal_after(&line, "BODY[TEXT]") == text,
            "{b:?} BODY[TEXT]"
        );
        // RFC 3516: the attachment decoded, streamed in two passes.
        let data = attachment();
        let line = fetch(&mut s, "BINARY.SIZE[2]");
        assert_eq!(
            String::from_utf8_lossy(&line),
            format!("* 1 FETCH (BINARY.SIZE[2] {})\r\n", data.len()),
            "{b:?}"
        );
        let line = fetch(&mut s, "BINARY.PEEK[2]");
        assert!(literal_after(&line, "BINARY[2]") == data, "{b:?} BINARY[2]");
        let line = fetch(&mut s, "BINARY.PEEK[2]<1000000.64>");
        assert_eq!(
            literal_after(&line, "BINARY[2]<1000000>"),
            data[1_000_000..1_000_064],
            "{b:?}"
        );

        let peak = vm_hwm_kb(s.child.id());
        eprintln!(
            "{b:?}: peak RSS {peak} kB for a {} kB message",
            raw.len() / 1024
        );
        assert!(peak < RSS_MAX_KB, "{b:?}: peak RSS {peak} kB");
        let r = s.command("l", "LOGOUT");
        assert!(r.last().unwrap().starts_with("l OK"), "{r:?}");
    }
}

/// A message with big text parts in base64 (UTF-8) and quoted-printable
/// (ISO-8859-1) full of numbered words, and a big attachment.
fn searchable() -> Vec<u8> {
    let mut m = b"From: a@example.org\nSubject: search me\nMIME-Version: 1.0\n\
Content-Type: multipart/mixed; boundary=zz\n\n--zz\n\
Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n"
        .to_vec();
    let mut text = String::new();
    for i in 0..60_000 {
        text.push_str(&format!("filler words {i} and needle-{i} \u{e9}t\u{e9}\n"));
    }
    let b64 = mailaccess::auth::sasl::base64_encode(text.as_bytes()).into_bytes();
    for line in b64.chunks(76) {
        m.extend_from_slice(line);
        m.push(b'\n');
    }
    m.extend_from_slice(
        b"--zz\nContent-Type: text/plain; charset=iso-8859-1\n\
Content-Transfer-Encoding: quoted-printable\n\n",
    );
    for i in 0..40_000 {
        m.extend_from_slice(
            format!(
                "caf=E9-{i} is a word on a line that is long enough to be =\nsoft-broken here\n"
            )
            .as_bytes(),
        );
    }
    m.extend_from_slice(
        b"--zz\nContent-Type: application/octet-stream\n\
Content-Disposition: attachment; filename=\"data.bin\"\nContent-Transfer-Encoding: base64\n\n",
    );
    let junk = vec![b'q'; 12 << 20];
    let b64 = mailaccess::auth::sasl::base64_encode(&junk).into_bytes();
    for line in b64.chunks(76) {
        m.extend_from_slice(line);
        m.push(b'\n');
    }
    m.extend_from_slice(b"--zz--\n");
    m
}

/// SEARCH BODY and TEXT decode a big message a window at a time: words
/// anywhere in it are found (many of them straddle two windows), in
/// bounded memory.
#[test]
fn a_big_message_is_searched_in_bounded_memory() {
    let raw = searchable();
    for b in BOTH {
        let h = home_on(b, &[&raw]);
        let mut s = imapd_on(b, &h);
        let r = s.command("s", "EXAMINE INBOX");
        assert!(r.last().unwrap().starts_with("s OK"), "{r:?}");
        let mut check = |criteria: &str, hit: bool| {
            let r = s.command("q", &format!("SEARCH {criteria}"));
            assert!(
                r.last().unwrap().starts_with("q OK"),
                "{b:?} {criteria}: {r:?}"
            );
            let want = if hit {
                "* SEARCH 1\r\n"
            } else {
                "* SEARCH\r\n"
            };
            assert_eq!(r[0], want, "{b:?} {criteria}");
        };
        for i in (0..60_000).step_by(997) {
            check(&format!("BODY needle-{i}"), true);
        }
        check("BODY \"needle-59999 \"", true);
        check("CHARSET UTF-8 BODY \"needle-7 \u{c9}T\u{c9}\"", true);
        for i in (0..40_000).step_by(1999) {
            check(&format!("CHARSET UTF-8 BODY \"caf\u{e9}-{i} is\""), true);
        }
        check("BODY \"long enough to be soft-broken\"", true);
        check("BODY needle-60000", false);
        check("BODY data.bin", false);
        check("TEXT data.bin", true);
        check("TEXT \"search me\"", true);
        check("OR BODY absent-word TEXT octet-stream", true);
        let peak = vm_hwm_kb(s.child.id());
        eprintln!(
            "{b:?}: SEARCH peak RSS {peak} kB for a {} kB message",
            raw.len() / 1024
        );
        assert!(peak < RSS_MAX_KB, "{b:?}: peak RSS {peak} kB");
    }
}

/// The first open of a big mbox of ordinary messages writes their UIDs in
/// place: the passes over the file let its pages go behind them, so the
/// session stays small (this took 34 MB for this 28 MB mbox before).
#[test]
fn first_open_of_a_big_mbox_in_bounded_memory() {
    let one: Vec<u8> = [
        b"From: filler@example.org\nSubject: filler\n\n".as_slice(),
        &b"Some ordinary mail text of a usual length.\n".repeat(400),
    ]
    .concat();
    let msgs: Vec<&[u8]> = std::iter::repeat_n(&one[..], 1600).collect();
    let h = home_on(common::Backend::Mbox, &msgs);
    let mut s = imapd_on(common::Backend::Mbox, &h);
    let r = s.command("s", "SELECT INBOX");
    assert!(r.contains(&"* 1600 EXISTS\r\n".to_string()), "{r:?}");
    assert!(r.last().unwrap().starts_with("s OK [READ-WRITE]"), "{r:?}");
    let r = s.command("f", "FETCH 1600 (UID RFC822.SIZE)");
    assert!(
        r[0].starts_with("* 1600 FETCH (UID 1600 RFC822.SIZE "),
        "{r:?}"
    );
    let peak = vm_hwm_kb(s.child.id());
    eprintln!("first open of 1600 messages: peak RSS {peak} kB");
    assert!(peak < RSS_MAX_KB, "peak RSS {peak} kB");
    let spool = std::fs::read(h.path().join("spool/inbox")).unwrap();
    let uids = spool.windows(7).filter(|w| w == b"X-UID: ").count();
    assert_eq!(uids, 1600, "every UID written");
}
