//! Conformance corners (issue 19), each on both backends (Maildir and
//! mbox), against the RFC text: sizes that match the bytes served for
//! every kind of line end, NUL never inside a literal, mailbox names the
//! RFC forbids, EXAMINE's counts, addresses with comments in SEARCH, MIME
//! part headers in SEARCH TEXT, 8-bit octets in an atom, mbox folders.

mod common;

use common::{home_on as home, imapd_on as imapd, ok, Backend, Server, BOTH};

/// The octets of the literal that follows `item` in `line`.
fn literal_after<'a>(line: &'a [u8], item: &str) -> &'a [u8] {
    let at = find(line, format!("{item} {{").as_bytes())
        .unwrap_or_else(|| panic!("{item} in {}", String::from_utf8_lossy(line)));
    let open = at + item.len() + 2;
    let close = open + line[open..].iter().position(|&c| c == b'}').unwrap();
    let n: usize = std::str::from_utf8(&line[open..close])
        .unwrap()
        .parse()
        .unwrap();
    let start = close + 3;
    &line[start..start + n]
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The number after `item` in `line`.
fn number_after(line: &[u8], item: &str) -> u64 {
    let at = find(line, format!("{item} ").as_bytes()).unwrap() + item.len() + 1;
    let end = at + line[at..].iter().position(|c| !c.is_ascii_digit()).unwrap();
    std::str::from_utf8(&line[at..end])
        .unwrap()
        .parse()
        .unwrap()
}

/// Line ends of every kind, and a NUL.
const ODD: &[&[u8]] = &[
    b"Subject: cr cr lf\n\nline one\r\r\nline two\n",
    b"Subject: bare cr\r\n\r\nx\ry\r\nz\r\n",
    b"Subject: bare lf\n\nl1\nl2\n",
    b"Subject: mixed\r\n\nl1\r\nl2\nl3\r\r\n\r\n",
    b"Subject: nul\n\na\0b\nc\0\n",
];

/// RFC 3501 2.3.4 / 6.4.5: RFC822.SIZE is the number of octets BODY[]
/// sends; partials are slices of those octets; a text part's size and line
/// count in BODYSTRUCTURE are those of BODY[TEXT] as sent; no literal holds
/// NUL (RFC 3501 9, CHAR8).
fn check_sizes(s: &mut Server, n: usize) {
    for i in 1..=n {
        let r = s.command_bytes(
            "f",
            &format!("FETCH {i} (RFC822.SIZE BODY.PEEK[] BODY.PEEK[]<3.20> BODY.PEEK[TEXT] BODYSTRUCTURE)"),
        );
        let line = &r[0];
        let text = String::from_utf8_lossy(line);
        let size = number_after(line, "RFC822.SIZE");
        let whole = literal_after(line, "BODY[]");
        assert_eq!(size, whole.len() as u64, "message {i}: {text}");
        assert!(!whole.contains(&0), "NUL in a literal: {text}");
        let part = literal_after(line, "BODY[]<3>");
        assert_eq!(part, &whole[3..(3 + 20).min(whole.len())], "{text}");
        let body = literal_after(line, "BODY[TEXT]");
        assert!(whole.ends_with(body), "{text}");
        // ("TEXT" "PLAIN" (...) NIL NIL "7BIT" size lines)
        let bs = line[find(line, b"BODYSTRUCTURE (").unwrap()..].to_ascii_lowercase();
        let after = &bs[find(&bs, b"\"7bit\" ").unwrap() + 7..];
        let fields: Vec<&str> = std::str::from_utf8(after)
            .unwrap()
            .split(|c: char| !c.is_ascii_digit())
            .filter(|f| !f.is_empty())
            .take(2)
            .collect();
        assert_eq!(fields[0], body.len().to_string(), "body size: {text}");
        let lines = body.iter().filter(|&&c| c == b'\n').count();
        assert_eq!(fields[1], lines.to_string(), "body lines: {text}");
        // Every line end sent is CRLF.
        for (k, &c) in whole.iter().enumerate() {
            if c == b'\n' {
                assert!(k > 0 && whole[k - 1] == b'\r', "bare LF sent: {text}");
            }
        }
    }
}

#[test]
fn sizes_match_the_octets_sent_for_delivered_mail() {
    for b in BOTH {
        let h = home(b, ODD);
        let mut s = imapd(b, &h);
        ok(&s.command("s", "SELECT INBOX"), "s");
        check_sizes(&mut s, ODD.len());
    }
}

#[test]
fn sizes_match_the_octets_sent_for_appended_mail() {
    for b in BOTH {
        let h = home(b, &[]);
        let mut s = imapd(b, &h);
        for m in ODD {
            s.write(format!("a APPEND INBOX {{{}+}}\r\n", m.len()).as_bytes());
            s.write(m);
            s.write(b"\r\n");
            let r = s.until_tagged("a");
            ok(&r, "a");
        }
        ok(&s.command("s", "SELECT INBOX"), "s");
        check_sizes(&mut s, ODD.len());
        // Also after a fresh open, from what was stored.
        drop(s);
        let mut s = imapd(b, &h);
        ok(&s.command("s", "SELECT INBOX"), "s");
        check_sizes(&mut s, ODD.len());
    }
}

/// RFC 3501 5.1 (and Dovecot): the LIST wildcards `%` and `*` are refused
/// in a new name, as are an empty hierarchy level (a leading or doubled
/// separator) and modified UTF-7 that is not the one canonical encoding of
/// its name; each is a NO [CANNOT] and nothing is created.
#[test]
fn create_and_rename_refuse_names_the_rfc_forbids() {
    for b in BOTH {
        let h = home(b, &[]);
        let mut s = imapd(b, &h);
        let sep = match b {
            Backend::Maildir => ".",
            Backend::Mbox => "/",
        };
        ok(&s.command("c", "CREATE Good"), "c");
        let before = s.command("l", "LIST \"\" *");
        let bad = [
            "a%b".to_string(),
            "a*b".to_string(),
            "*".to_string(),
            format!("{sep}lead"),
            format!("a{sep}{sep}b"),
            // "&AGE-" is "a" encoded needlessly; "&Jjo" is unterminated;
            // "&AMk-&AMk-" two encoded runs in a row.
            "&AGE-".to_string(),
            "&Jjo".to_string(),
            "&AMk-&AMk-".to_string(),
        ];
        for name in &bad {
            let r = s.command("c", &format!("CREATE \"{name}\""));
            assert!(
                r.last().unwrap().starts_with("c NO [CANNOT]"),
                "{b:?} CREATE {name}: {r:?}"
            );
            let r = s.command("r", &format!("RENAME Good \"{name}\""));
            assert!(
                r.last().unwrap().starts_with("r NO [CANNOT]"),
                "{b:?} RENAME Good {name}: {r:?}"
            );
        }
        assert_eq!(s.command("l", "LIST \"\" *"), before, "{b:?}");
    }
}

/// RFC 3501 6.3.2: EXAMINE reports the same counts as SELECT (RECENT
/// included); it only does not take `\Recent` away from anyone.
#[test]
fn examine_reports_recent_like_select() {
    for b in BOTH {
        let h = home(b, &[b"Subject: one\n\nx\n", b"Subject: two\n\ny\n"]);
        let mut s = imapd(b, &h);
        let r = s.command("e", "EXAMINE INBOX");
        assert!(r.contains(&"* 2 RECENT\r\n".to_string()), "{b:?} {r:?}");
        let r = s.command("t", "STATUS INBOX (RECENT)");
        assert!(r[0].contains("RECENT 2"), "{b:?} {r:?}");
        // Not taken: SELECT still gets them.
        let r = s.command("s", "SELECT INBOX");
        assert!(r.contains(&"* 2 RECENT\r\n".to_string()), "{b:?} {r:?}");
    }
}

/// A raw 8-bit octet in an atom gets a BAD that says what is wrong.
#[test]
fn eight_bit_octets_in_an_atom_are_named_in_the_bad() {
    for b in BOTH {
        let h = home(b, &[]);
        let mut s = imapd(b, &h);
        s.write(b"a SELECT Caf\xc3\xa9x\r\n");
        let r = s.until_tagged("a");
        let last = r.last().unwrap();
        assert!(last.starts_with("a BAD"), "{r:?}");
        assert!(last.contains("8-bit"), "{r:?}");
        let r = s.command("n", "NOOP");
        ok(&r, "n");
    }
}

const COMMENTED: &[u8] = b"From: <user-from (comment)@ (comment) domain.org>\n\
To: \"Some One\" (x) <some (c) . one @ ex (d) . org>\n\
Cc: =?utf-8?q?J=C3=BCrgen?= <jurgen@example.net>, Team: a@t.example, b@t.example;\n\
Subject: commented\n\nplain body\n";

const ATTACHED: &[u8] = b"From: a@b.example\nSubject: attached\nMIME-Version: 1.0\n\
Content-Type: multipart/mixed; boundary=zz\n\n--zz\nContent-Type: text/plain\n\nhello there\n\
--zz\nContent-Type: application/octet-stream\n\
Content-Disposition: attachment; filename*=utf-8''na%C3%AFve-report.pdf\n\
Content-Transfer-Encoding: base64\n\nc2VjcmV0d29yZCBpbnNpZGU=\n--zz--\n";

/// Runs each `(criteria, expected * SEARCH line)` on an INBOX holding
/// COMMENTED and ATTACHED, on both backends.
fn searches(cases: &[(&str, &str)]) {
    for b in BOTH {
        let h = home(b, &[COMMENTED, ATTACHED]);
        let mut s = imapd(b, &h);
        ok(&s.command("s", "SELECT INBOX"), "s");
        for (criteria, want) in cases {
            let r = s.command("f", &format!("SEARCH {criteria}"));
            ok(&r, "f");
            let got = r
                .iter()
                .find(|l| l.starts_with("* SEARCH"))
                .unwrap_or_else(|| panic!("no SEARCH response: {r:?}"));
            assert_eq!(got.trim_end(), *want, "{b:?} {criteria}");
        }
    }
}

/// RFC 3501 6.4.4 with RFC 5322 3.2.2/3.4: FROM, TO, CC and BCC match the
/// addresses as written without comments and folding white space (the
/// display name decoded, RFC 2047), as Dovecot does; HEADER stays a plain
/// substring match of the field.
#[test]
fn address_keys_match_addresses_with_comments() {
    searches(&[
        ("FROM user-from@domain.org", "* SEARCH 1"),
        ("FROM \"<user-from@domain.org>\"", "* SEARCH 1"),
        ("FROM comment", "* SEARCH"),
        ("TO some.one@ex.org", "* SEARCH 1"),
        ("TO \"some one <some.one\"", "* SEARCH 1"),
        ("CHARSET UTF-8 CC \"j\u{fc}rgen <jurgen@\"", "* SEARCH 1"),
        ("CC b@t.example", "* SEARCH 1"),
        ("CC team", "* SEARCH 1"),
        ("BCC user", "* SEARCH"),
        ("FROM a@b.example", "* SEARCH 2"),
        ("HEADER FROM user-from@domain.org", "* SEARCH"),
        ("HEADER FROM \"(comment)@\"", "* SEARCH 1"),
    ]);
}

/// RFC 3501 6.4.4: TEXT is "the header or body", which for a MIME message
/// includes every part's header (an attachment's file name, RFC 2231
/// encoded, is found decoded); BODY is the decoded text of the parts only.
#[test]
fn text_searches_every_part_header() {
    searches(&[
        ("TEXT report.pdf", "* SEARCH 2"),
        ("CHARSET UTF-8 TEXT \"na\u{ef}ve-report\"", "* SEARCH 2"),
        ("TEXT octet-stream", "* SEARCH 2"),
        ("BODY octet-stream", "* SEARCH"),
        ("BODY report.pdf", "* SEARCH"),
        ("TEXT \"hello there\"", "* SEARCH 2"),
        ("BODY \"hello there\"", "* SEARCH 2"),
        ("TEXT commented", "* SEARCH 1"),
        ("BODY commented", "* SEARCH"),
        ("TEXT \"plain body\"", "* SEARCH 1"),
    ]);
}

/// RFC 3501 6.3.3-6.3.5 on mbox, whose folders are files and directories
/// (answers as Dovecot gives them on the same store): a trailing separator
/// makes a directory that can then hold mailboxes; a mailbox file cannot;
/// DELETE and RENAME of a name that is a directory, a file, under a file or
/// nothing at all each get the RFC's answer, never SERVERBUG. Maildir gets
/// the same commands and must never answer SERVERBUG either.
#[test]
fn mbox_folders_directories_and_files() {
    let steps: &[(&str, &str)] = &[
        ("CREATE imaptest/", "OK"),
        ("CREATE imaptest/test", "OK"),
        ("CREATE imaptest/test2/", "OK"),
        ("DELETE imaptest/test2", "OK"),
        ("DELETE imaptest/test2", "NO [NONEXISTENT]"),
        ("CREATE file", "OK"),
        ("CREATE file/sub", "NO [CANNOT]"),
        ("DELETE file/sub", "NO [NONEXISTENT]"),
        ("RENAME file/sub x", "NO [NONEXISTENT]"),
        ("RENAME imaptest/test file/x", "NO [CANNOT]"),
        ("DELETE imaptest", "NO"),
        ("RENAME imaptest dir2", "OK"),
        ("CREATE dir2", "NO [ALREADYEXISTS]"),
        ("DELETE nonexist", "NO [NONEXISTENT]"),
        ("RENAME nonexist y", "NO [NONEXISTENT]"),
        ("DELETE dir2/test", "OK"),
        ("DELETE dir2", "OK"),
    ];
    for b in BOTH {
        let h = home(b, &[]);
        let mut s = imapd(b, &h);
        for (i, (cmd, want)) in steps.iter().enumerate() {
            let cmd = match b {
                Backend::Mbox => cmd.to_string(),
                Backend::Maildir => cmd.replace('/', "."),
            };
            let tag = format!("t{i}");
            let r = s.command(&tag, &cmd);
            let last = r.last().unwrap();
            assert!(!last.contains("SERVERBUG"), "{b:?} {cmd}: {r:?}");
            if let Backend::Mbox = b {
                assert!(
                    last.starts_with(&format!("{tag} {want}")),
                    "{cmd}: want {want}, got {r:?}"
                );
            }
        }
        if let Backend::Mbox = b {
            let r = s.command("l", "LIST \"\" *");
            assert_eq!(
                r,
                [
                    "* LIST (\\HasNoChildren) \"/\" INBOX\r\n",
                    "* LIST (\\Noinferiors) \"/\" file\r\n",
                    "l OK List completed.\r\n"
                ]
            );
            assert!(!h.path().join("mail/dir2").exists());
        }
    }
}

/// RFC 3501 7.4.2 with RFC 5322 3.2.2: ENVELOPE's address structure drops
/// comments and folding inside an address; a comment names only a bare
/// addr-spec. Dovecot gives the same From; for the To with CFWS around the
/// dots of the local part and domain (RFC 5322 4.4 obs-local-part,
/// obs-domain) it gives MISSING_MAILBOX/SYNTAX_ERROR, we the address.
#[test]
fn envelope_addresses_without_comments() {
    for b in BOTH {
        let h = home(b, &[COMMENTED]);
        let mut s = imapd(b, &h);
        ok(&s.command("s", "EXAMINE INBOX"), "s");
        let r = s.command("f", "FETCH 1 ENVELOPE");
        ok(&r, "f");
        assert_eq!(
            r[0],
            "* 1 FETCH (ENVELOPE (NIL \"commented\" \
             ((NIL NIL \"user-from\" \"domain.org\")) ((NIL NIL \"user-from\" \"domain.org\")) \
             ((NIL NIL \"user-from\" \"domain.org\")) ((\"Some One\" NIL \"some.one\" \"ex.org\")) \
             ((\"=?utf-8?q?J=C3=BCrgen?=\" NIL \"jurgen\" \"example.net\")(NIL NIL \"Team\" NIL)\
             (NIL NIL \"a\" \"t.example\")(NIL NIL \"b\" \"t.example\")(NIL NIL NIL NIL)) \
             NIL NIL NIL))\r\n",
            "{b:?}"
        );
    }
}
