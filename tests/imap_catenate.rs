//! CATENATE (RFC 4469) and URL-PARTIAL (RFC 5550) against Dovecot 2.3 on
//! the same Maildir: a message put together from TEXT literals and URLs
//! of a stored message's parts (a body part, a part's MIME header, a
//! partial, header fields, relative to the selected mailbox or naming
//! one) must come out octet for octet as Dovecot's; URLs that name
//! nothing fail with the same `NO [BADURL url]` and store nothing. Then
//! the same on mbox against our Maildir answer.
//!
//! Needs root and Debian's dovecot-imapd (`make test` installs it).

mod common;
#[path = "common/dovecot.rs"]
mod dovecot;

use common::{home_on, imapd_on, Backend};

const STORED: &[u8] = b"From: a@example.org\nSubject: stored\nMIME-Version: 1.0\n\
Content-Type: multipart/mixed; boundary=\"b\"\n\npreamble\n--b\n\
Content-Type: text/plain; charset=us-ascii\n\nthe first part\n--b\n\
Content-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n\
AAECAwQFBgcICQ==\n--b--\n";

/// The client's input: SELECT, the APPENDs, a FETCH of what was made and
/// a check that nothing else was, LOGOUT.
fn script() -> Vec<u8> {
    let text = |t: &str| format!("TEXT {{{}+}}\r\n{t}", t.len());
    let made = [
        text("Subject: made\r\nContent-Type: multipart/mixed; boundary=\"n\"\r\n\r\n--n\r\n"),
        "URL \"/INBOX/;UID=1/;SECTION=1.MIME\"".into(),
        "URL \";UID=1/;SECTION=1\"".into(),
        text("\r\n--n\r\n"),
        "URL \"/INBOX/;UID=1/;SECTION=2.MIME\"".into(),
        "URL \"/INBOX/;UID=1/;SECTION=2\"".into(),
        text("\r\n--n--\r\n"),
        "URL \"/INBOX/;UID=1/;PARTIAL=6.13\"".into(),
        "URL \"/INBOX/;UID=1/;SECTION=HEADER.FIELDS%20(SUBJECT)\"".into(),
    ]
    .join(" ");
    let mut s = format!("s SELECT INBOX\r\nt0 APPEND INBOX CATENATE ({made})\r\n");
    for (i, url) in [
        "/INBOX/;UID=99",
        "/Nonexistent/;UID=1",
        "/INBOX;UIDVALIDITY=1/;UID=1",
    ]
    .iter()
    .enumerate()
    {
        s.push_str(&format!(
            "t{} APPEND INBOX CATENATE (URL \"{url}\")\r\n",
            i + 1
        ));
    }
    s.push_str("f NOOP\r\nf FETCH 2 BODY.PEEK[]\r\nn SEARCH ALL\r\nz LOGOUT\r\n");
    s.into_bytes()
}

/// The answers that must agree: the FETCH of the new message, SEARCH,
/// and each APPEND's status and response code (APPENDUID differs),
/// sorted (Dovecot runs pipelined commands at once).
fn answers(out: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(out);
    let mut v = Vec::new();
    let mut rest = &text[..];
    while let Some(line_end) = rest.find("\r\n") {
        let line = &rest[..line_end];
        rest = &rest[line_end + 2..];
        if line.starts_with("* 2 FETCH") {
            // The literal and the rest of the response.
            let n: usize = line[line.rfind('{').unwrap() + 1..line.len() - 1]
                .parse()
                .unwrap();
            let end = rest[n..].find("\r\n").unwrap() + n;
            v.push(format!("{line}\r\n{}", &rest[..end]).replace("FLAGS (\\Recent) ", ""));
            rest = &rest[end + 2..];
        } else if line.starts_with("* SEARCH") {
            v.push(line.to_string());
        } else if line.starts_with('t') {
            let status: Vec<&str> = line.splitn(3, ' ').collect();
            let code = line
                .find('[')
                .filter(|_| status[1] != "OK")
                .map(|i| &line[i..=line.find(']').unwrap()])
                .unwrap_or("");
            v.push(format!("{} {} {code}", status[0], status[1]));
        }
    }
    v.sort();
    v
}

fn ours(b: Backend) -> Vec<String> {
    let h = home_on(b, &[STORED]);
    let mut s = imapd_on(b, &h);
    s.write(&script());
    let mut out = Vec::new();
    loop {
        let l = s.line_bytes();
        let done = l.starts_with(b"z ");
        out.extend_from_slice(&l);
        if done {
            break;
        }
    }
    answers(&out)
}

#[test]
fn catenate_as_dovecot() {
    dovecot::require();
    let dir = tempfile::tempdir().expect("tempdir");
    let md = dovecot::maildir(dir.path());
    dovecot::add_message(&md, 1, STORED);
    let want = answers(&dovecot::run(dir.path(), &script()));
    assert_eq!(want.len(), 6, "{want:#?}");
    assert!(want[0].contains("the first part"), "{want:#?}");
    assert_eq!(want[1], "* SEARCH 1 2");
    assert_eq!(want[2], "t0 OK ");
    assert_eq!(want[3], "t1 NO [BADURL /INBOX/;UID=99]");
    for b in [Backend::Maildir, Backend::Mbox] {
        assert_eq!(ours(b), want, "{b:?}");
    }
}
