//! I18NLEVEL=1 (RFC 5255): SEARCH, SORT and THREAD compare strings under
//! `i;unicode-casemap` (RFC 5051): case, precomposed and decomposed
//! accents, full-width letters do not matter. Our answers on Maildir and
//! mbox must be Dovecot 2.3's on the same messages, line for line.
//!
//! Needs root and Debian's dovecot-imapd (`make test` installs it).

mod common;
#[path = "common/dovecot.rs"]
mod dovecot;

use common::{home_on, imapd_on, run, run_script, Backend};

fn encoded(s: &str) -> String {
    format!(
        "=?utf-8?b?{}?=",
        mailaccess::auth::sasl::base64_encode(s.as_bytes())
    )
}

/// (Subject as written in the header, body).
fn messages() -> Vec<Vec<u8>> {
    let subjects: Vec<Vec<u8>> = vec![
        b"b".to_vec(),
        encoded("\u{c1}pple").into_bytes(),
        b"apple".to_vec(),
        // Decomposed, raw 8-bit.
        "Cafe\u{301}".as_bytes().to_vec(),
        encoded("CAF\u{c9}").into_bytes(),
        encoded("\u{3a3}\u{39f}\u{3a6}\u{38a}\u{391}").into_bytes(),
        b"=?iso-8859-1?q?=E9t=E9?=".to_vec(),
        format!("Re: {}", encoded("\u{c9}T\u{c9}")).into_bytes(),
        encoded("\u{ff21}\u{ff22}\u{ff23}").into_bytes(),
        b"abd".to_vec(),
    ];
    subjects
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            let body = if i == 3 {
                "\u{fb01}nance and caf\u{e9}\n"
            } else {
                "plain\n"
            };
            [
                format!("Message-ID: <{i}@example.org>\nSubject: ").as_bytes(),
                &s,
                format!("\nDate: Mon, 7 Feb 1994 21:52:{i:02} +0000\n\n{body}").as_bytes(),
            ]
            .concat()
        })
        .collect()
}

const COMMANDS: &[&str] = &[
    "SORT (SUBJECT) UTF-8 ALL",
    "SORT (REVERSE SUBJECT) UTF-8 ALL",
    "THREAD ORDEREDSUBJECT UTF-8 ALL",
    "SEARCH CHARSET UTF-8 SUBJECT \"caf\u{e9}\"",
    "SEARCH CHARSET UTF-8 SUBJECT \"\u{3c3}\u{3bf}\u{3c6}\u{3af}\u{3b1}\"",
    "SEARCH CHARSET UTF-8 SUBJECT \"\u{c9}t\u{c9}\"",
    "SEARCH CHARSET UTF-8 SUBJECT \"abc\"",
    "SEARCH CHARSET UTF-8 SUBJECT \"\u{e1}PPLE\"",
    "SEARCH CHARSET UTF-8 BODY \"CAFE\u{301}\"",
    "SEARCH CHARSET UTF-8 BODY \"\u{fb01}NANCE\"",
    "SEARCH BODY finance",
];

fn answers(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .map(|l| l.trim_end().to_string())
        .filter(|l| {
            l.starts_with("* SORT")
                || l.starts_with("* SEARCH")
                || l.starts_with("* THREAD")
                || l.contains(" BAD ")
                || l.contains(" NO ")
        })
        .collect()
}

fn ours(b: Backend) -> Vec<String> {
    let msgs = messages();
    let refs: Vec<&[u8]> = msgs.iter().map(|m| &m[..]).collect();
    let h = home_on(b, &refs);
    let mut s = imapd_on(b, &h);
    let r = run(&mut s, "c", "CAPABILITY");
    assert!(r[0].split(' ').any(|w| w == "I18NLEVEL=1"), "{r:?}");
    answers(&run_script(&mut s, &common::select_script(COMMANDS)))
}

#[test]
fn unicode_casemap_as_dovecot() {
    dovecot::require();
    let dir = tempfile::tempdir().expect("tempdir");
    let md = dovecot::maildir(dir.path());
    for (i, m) in messages().iter().enumerate() {
        dovecot::add_message(&md, i, m);
    }
    let out = dovecot::run(dir.path(), common::select_script(COMMANDS).as_bytes());
    let lines: Vec<String> = String::from_utf8_lossy(&out)
        .lines()
        .map(str::to_string)
        .collect();
    let want = answers(&lines);
    for b in [Backend::Maildir, Backend::Mbox] {
        common::assert_same_answers(COMMANDS, &ours(b), &want);
    }
    // What the collation means, beyond agreeing with Dovecot: full-width
    // ABC before abd, Ápple right after apple, the two cafés and the two
    // étés together; the étés one thread.
    assert_eq!(want[0], "* SORT 9 10 3 2 1 4 5 7 8 6", "{want:?}");
    assert_eq!(want[2], "* THREAD (1)(2)(3)(4 5)(6)(7 8)(9)(10)");
    assert_eq!(want[3], "* SEARCH 4 5");
    assert_eq!(want[6], "* SEARCH 9");
}
