//! PREVIEW (RFC 8970) against the built `imapd`, on Maildir and on mbox:
//! the start of a message's text, whitespace made single spaces, at most
//! 200 characters; text/plain before text/html in an alternative, HTML
//! markup and the head left out, entities decoded, transfer encodings and
//! charsets undone; nothing from attachments; `(LAZY)` accepted; `\Seen`
//! left alone.

mod common;

use common::{home_on as home, imapd_on as imapd, ok, BOTH};

fn messages() -> Vec<Vec<u8>> {
    let long: String = (0..100).map(|i| format!("word{i} ")).collect();
    let latin1 = [b"Gr\xfc\xdfe aus K\xf6ln".as_slice()].concat();
    vec![
        b"Subject: plain\n\n  Hello,\n\n  this   is\ta test.\n".to_vec(),
        b"Subject: alt\nMIME-Version: 1.0\nContent-Type: multipart/alternative; boundary=b\n\n\
--b\nContent-Type: text/html\n\n<p>the html</p>\n--b\nContent-Type: text/plain\n\nthe plain one\n--b--\n"
            .to_vec(),
        b"Subject: html\nMIME-Version: 1.0\nContent-Type: text/html; charset=utf-8\n\n\
<html><head><title>T</title><style>p{color:red}</style></head><body><!-- c --><p>Hi &amp; welcome</p>\
<br>line&nbsp;two &#233;<script>x()</script></body></html>\n"
            .to_vec(),
        [
            b"Subject: latin1\nMIME-Version: 1.0\nContent-Type: text/plain; charset=iso-8859-1\n\
Content-Transfer-Encoding: base64\n\n"
                .as_slice(),
            mailaccess::auth::sasl::base64_encode(&latin1).as_bytes(),
            b"\n",
        ]
        .concat(),
        b"Subject: pdf\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=m\n\n\
--m\nContent-Type: application/pdf\nContent-Transfer-Encoding: base64\n\nJVBERi0=\n\
--m\nContent-Type: text/plain\nContent-Disposition: attachment; filename=a.txt\n\nnot this\n--m--\n"
            .to_vec(),
        format!("Subject: long\n\n{long}\n").into_bytes(),
    ]
}

/// The PREVIEW string of a FETCH line: quoted or a literal.
fn preview_of(line: &[u8]) -> String {
    let at = line
        .windows(8)
        .position(|w| w == b"PREVIEW ")
        .unwrap_or_else(|| panic!("{}", String::from_utf8_lossy(line)))
        + 8;
    let rest = &line[at..];
    if let Some(q) = rest.strip_prefix(b"\"") {
        let mut out = Vec::new();
        let mut esc = false;
        for &c in q {
            match (esc, c) {
                (false, b'\\') => esc = true,
                (false, b'"') => break,
                _ => {
                    out.push(c);
                    esc = false;
                }
            }
        }
        return String::from_utf8(out).expect("utf-8");
    }
    let close = rest.iter().position(|&c| c == b'}').expect("literal");
    let n: usize = std::str::from_utf8(&rest[1..close])
        .unwrap()
        .parse()
        .unwrap();
    String::from_utf8(rest[close + 3..close + 3 + n].to_vec()).expect("utf-8")
}

#[test]
fn previews_of_plain_alternative_html_encoded_attachment_and_long_mail() {
    let msgs = messages();
    let refs: Vec<&[u8]> = msgs.iter().map(Vec::as_slice).collect();
    for b in BOTH {
        let h = home(b, &refs);
        let mut s = imapd(b, &h);
        let r = common::run(&mut s, "a", "SELECT INBOX");
        ok(&r, "a");
        let r = s.command_bytes("b", "FETCH 1:* (PREVIEW)");
        let lines: Vec<&Vec<u8>> = r.iter().filter(|l| l.starts_with(b"* ")).collect();
        assert_eq!(lines.len(), 6, "{b:?}");
        let got: Vec<String> = lines.iter().map(|l| preview_of(l)).collect();
        assert_eq!(got[0], "Hello, this is a test.", "{b:?}");
        assert_eq!(got[1], "the plain one", "{b:?}");
        assert_eq!(got[2], "Hi & welcome line two é", "{b:?}");
        assert_eq!(got[3], "Grüße aus Köln", "{b:?}");
        assert_eq!(got[4], "", "{b:?}: attachments only");
        let n = got[5].chars().count();
        assert!(
            (190..=200).contains(&n),
            "{b:?}: {n} characters: {}",
            got[5]
        );
        assert!(
            got[5].starts_with("word0 word1 ") && !got[5].ends_with(' '),
            "{}",
            got[5]
        );
        // LAZY is accepted (and answered all the same); FETCH modifiers
        // after PREVIEW are not taken for its own.
        let r = s.command_bytes("c", "FETCH 1 (PREVIEW (LAZY) UID)");
        assert_eq!(preview_of(&r[0]), "Hello, this is a test.");
        let r = s.command_bytes("d", "FETCH 1 PREVIEW (CHANGEDSINCE 1)");
        assert!(
            r.last().unwrap().starts_with(b"d OK"),
            "{:?}",
            String::from_utf8_lossy(r.last().unwrap())
        );
        let r = s.command_bytes("e", "FETCH 1 PREVIEW (LAZY BOGUS)");
        assert!(r.last().unwrap().starts_with(b"e BAD"));
        // No \Seen.
        let r = common::run(&mut s, "f", "SEARCH SEEN");
        assert_eq!(r[0], "* SEARCH", "{b:?}");
        // Kept in the mailbox's cache: a later session answers the same
        // from it.
        drop(s);
        let cache = match b {
            common::Backend::Maildir => h.maildir().join("mailaccess-cache"),
            common::Backend::Mbox => h.path().join("mail/.imap/INBOX/mailaccess-cache"),
        };
        let kept = std::fs::read(&cache).unwrap_or_else(|e| panic!("{}: {e}", cache.display()));
        assert!(
            kept.windows(22).any(|w| w == b"Hello, this is a test."),
            "{b:?}"
        );
        let mut s = imapd(b, &h);
        ok(&common::run(&mut s, "a", "EXAMINE INBOX"), "a");
        let r = s.command_bytes("b", "FETCH 1:* (PREVIEW)");
        let again: Vec<String> = r
            .iter()
            .filter(|l| l.starts_with(b"* "))
            .map(|l| preview_of(l))
            .collect();
        assert_eq!(again, got, "{b:?}");
    }
}
