//! URLAUTH (RFC 4467) and URLAUTH=BINARY (RFC 5524) against the built
//! `imapd`, on Maildir and mbox: GENURLAUTH makes URLs of the user's own
//! messages and parts that URLFETCH reads back (in a later session too),
//! octet for octet as FETCH BODY.PEEK sends them; BINARY decodes and
//! BODYPARTSTRUCTURE describes the part; a changed token, another user,
//! an access the session does not have, an expired URL, a key removed by
//! RESETKEY or a mailbox made anew under the old name give NIL; CATENATE
//! takes the URLs (and plain absolute URLs of the user's own mail); the
//! keys are kept readable by the user only.
//!
//! Needs root to run the servers as the test user (`make test`).

mod common;

use common::{home_on, mbox_imapd, ok, run, server_command, Backend, Home, Server, BOTH};

const STORED: &[u8] = b"From: a@example.org\nSubject: stored\nMIME-Version: 1.0\n\
Content-Type: multipart/mixed; boundary=\"b\"\n\npreamble\n--b\n\
Content-Type: text/plain; charset=us-ascii\n\nthe first part\n--b\n\
Content-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n\
AAECAwQFBgcICQ==\n--b--\n";

/// A session on `h`, with the `-o` settings `extra`; the user it is
/// logged in as (from the PREAUTH greeting).
fn start(b: Backend, h: &Home, extra: &[&str]) -> (Server, String) {
    let mut s = match (b, extra) {
        (Backend::Mbox, []) => mbox_imapd(h),
        (Backend::Maildir, _) => {
            Server::start(server_command(env!("CARGO_BIN_EXE_imapd"), h, extra))
        }
        (Backend::Mbox, _) => panic!("settings are tried on Maildir"),
    };
    let greeting = s.line();
    let user = greeting
        .trim_end()
        .rsplit(' ')
        .next()
        .expect("user in the greeting")
        .to_string();
    assert!(greeting.starts_with("* PREAUTH"), "{greeting}");
    (s, user)
}

/// GENURLAUTH of `rump`: the authorized URL.
fn gen(s: &mut Server, rump: &str) -> String {
    let r = run(s, "g", &format!("GENURLAUTH \"{rump}\" INTERNAL"));
    ok(&r, "g");
    let line = r
        .iter()
        .find(|l| l.starts_with("* GENURLAUTH "))
        .unwrap_or_else(|| panic!("{r:?}"));
    let url = line["* GENURLAUTH ".len()..].trim_matches('"').to_string();
    let (head, token) = url.rsplit_once(":internal:").expect("INTERNAL token");
    assert_eq!(head, rump);
    assert_eq!(token.len(), 66, "{token}");
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()), "{token}");
    url
}

/// URLFETCH of `url`: what follows the URL in the response.
fn fetch(s: &mut Server, url: &str) -> String {
    fetch_with(s, &format!("\"{url}\""))
}

fn fetch_with(s: &mut Server, arg: &str) -> String {
    let r = s.command("f", &format!("URLFETCH {arg}"));
    assert!(r.last().unwrap().starts_with("f OK"), "{r:?}");
    let line = r
        .iter()
        .find(|l| l.starts_with("* URLFETCH "))
        .unwrap_or_else(|| panic!("{r:?}"));
    // The URL goes back as an astring: an atom, or quoted when it holds
    // a `%`.
    let after = &line["* URLFETCH ".len()..];
    let rest = match after.strip_prefix('"') {
        Some(q) => &q[q.find("\" ").expect("quoted URL") + 2..],
        None => &after[after.find(' ').expect("URL and data") + 1..],
    };
    rest.strip_suffix("\r\n").unwrap_or(rest).to_string()
}

/// FETCH 1 `item` of the selected INBOX: the literal that comes after
/// `item`, with its `{n}` line.
fn fetched(s: &mut Server, item: &str) -> String {
    let r = s.command("b", &format!("FETCH 1 ({item})"));
    let line = &r[0];
    let at = line.find('{').expect("a literal");
    line[at..line.len() - ")\r\n".len()].to_string()
}

#[test]
fn urls_are_made_fetched_and_voided() {
    for b in BOTH {
        let h = home_on(b, &[STORED]);
        let (mut s, user) = start(b, &h, &[]);
        let caps = run(&mut s, "c", "CAPABILITY");
        assert!(caps[0].contains(" URLAUTH URLAUTH=BINARY "), "{caps:?}");
        ok(&run(&mut s, "s", "SELECT INBOX"), "s");
        let base = format!("imap://{user}@mail.example.org/INBOX/;UID=1");

        // The whole message, and a part with a partial, as FETCH sends them.
        let whole = gen(&mut s, &format!("{base};URLAUTH=anonymous"));
        assert_eq!(
            fetch(&mut s, &whole),
            fetched(&mut s, "BODY.PEEK[]"),
            "{b:?}"
        );
        let part = gen(
            &mut s,
            &format!("{base}/;SECTION=1/;PARTIAL=4.5;URLAUTH=authuser"),
        );
        assert_eq!(fetch(&mut s, &part), "{5}\r\nfirst", "{b:?}");

        // RFC 5524: the base64 part decoded (NULs: literal8), its structure.
        let bin = gen(&mut s, &format!("{base}/;SECTION=2;URLAUTH=user+{user}"));
        let got = fetch_with(&mut s, &format!("(\"{bin}\" BINARY BODYPARTSTRUCTURE)"));
        let want_structure = "(BODYPARTSTRUCTURE (\"application\" \"octet-stream\" NIL NIL NIL \"base64\" 16 NIL NIL NIL NIL)) ";
        assert_eq!(
            got.as_bytes(),
            [
                want_structure.as_bytes(),
                b"(BINARY ~{10}\r\n\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09)"
            ]
            .concat(),
            "{b:?}: {got:?}"
        );
        let got = fetch_with(&mut s, &format!("(\"{bin}\" BODY)"));
        assert_eq!(
            got,
            format!("(BODY {})", fetched(&mut s, "BODY.PEEK[2]")),
            "{b:?}"
        );
        // Several URLs, one response each; a bad one is NIL.
        let r = s.command("m", &format!("URLFETCH \"{whole}\" \"{part}x\" \"{part}\""));
        assert_eq!(r.len(), 4, "{r:?}");
        assert!(r[1].ends_with(" NIL\r\n"), "{r:?}");
        assert!(r[2].ends_with("{5}\r\nfirst\r\n"), "{r:?}");

        // Tokens are checked: changed, truncated, the rump, other access.
        let tampered = format!(
            "{}{}",
            &part[..part.len() - 1],
            if part.ends_with('0') { '1' } else { '0' }
        );
        let rump_only = &part[..part.rfind(":internal:").unwrap()];
        for bad in [tampered.as_str(), &part[..part.len() - 2], rump_only] {
            assert_eq!(fetch(&mut s, bad), "NIL", "{b:?} {bad}");
        }
        for access in ["user+someone", "submit+someone", &format!("submit+{user}")] {
            let url = gen(&mut s, &format!("{base};URLAUTH={access}"));
            assert_eq!(fetch(&mut s, &url), "NIL", "{b:?} {access}");
        }
        let other = whole.replacen(&format!("//{user}@"), "//someone@", 1);
        assert_eq!(fetch(&mut s, &other), "NIL", "{b:?}");
        // An expiry to come is honoured; one gone is refused.
        let later = gen(
            &mut s,
            &format!("{base};EXPIRE=2099-01-01T00:00:00Z;URLAUTH=anonymous"),
        );
        assert!(fetch(&mut s, &later).starts_with('{'), "{b:?}");
        for bad in [
            format!("\"{base};EXPIRE=2001-01-01T00:00:00Z;URLAUTH=anonymous\" INTERNAL"),
            format!(
                "\"{}\" INTERNAL",
                other.rsplit_once(":internal:").unwrap().0
            ),
            format!("\"{base};URLAUTH=anonymous\" XTOKEN"),
            format!("\"{base}\" INTERNAL"),
            format!("\"imap://{user}@mail.example.org/INBOX/;UID=9;URLAUTH=anonymous\" INTERNAL"),
            format!("\"imap://{user}@mail.example.org/Nowhere/;UID=1;URLAUTH=anonymous\" INTERNAL"),
        ] {
            let r = run(&mut s, "x", &format!("GENURLAUTH {bad}"));
            assert!(r.last().unwrap().starts_with("x BAD"), "{b:?} {bad}: {r:?}");
            assert_eq!(r.len(), 1, "{r:?}");
        }

        // CATENATE takes an authorized URL and a plain one of the user's
        // own mail; a changed token is a BADURL.
        let r = run(
            &mut s,
            "a",
            &format!("APPEND INBOX CATENATE (URL \"{part}\" URL \"{base}/;SECTION=1\")"),
        );
        ok(&r, "a");
        let r = run(
            &mut s,
            "a2",
            &format!("APPEND INBOX CATENATE (URL \"{tampered}\")"),
        );
        assert!(r[0].starts_with("a2 NO [BADURL "), "{r:?}");
        ok(&run(&mut s, "n", "NOOP"), "n");
        let r = s.command("f2", "FETCH 2 BODY.PEEK[]");
        // (mbox ends a message that has no line end with one.)
        assert!(r[0].contains("}\r\nfirstthe first part"), "{b:?}: {r:?}");

        // The keys persist for the next session, and are the user's only.
        drop(s);
        let (mut s, _) = start(b, &h, &[]);
        assert_eq!(fetch(&mut s, &part), "{5}\r\nfirst", "{b:?}");
        let keys = match b {
            Backend::Maildir => h.maildir().join("mailaccess-urlauth"),
            Backend::Mbox => h.path().join("mail/.imap/mailaccess-urlauth"),
        };
        let meta = std::fs::metadata(&keys).unwrap_or_else(|e| panic!("{keys:?}: {e}"));
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(meta.permissions().mode() & 0o077, 0, "{b:?}");

        // RESETKEY of the mailbox voids its URLs; new ones work again.
        let r = run(&mut s, "r", "RESETKEY INBOX INTERNAL");
        assert_eq!(r, ["r OK [URLMECH INTERNAL] Key removed."]);
        assert_eq!(fetch(&mut s, &part), "NIL", "{b:?}");
        let renewed = gen(
            &mut s,
            &format!("{base}/;SECTION=1/;PARTIAL=4.5;URLAUTH=authuser"),
        );
        assert_ne!(renewed, part);
        assert_eq!(fetch(&mut s, &renewed), "{5}\r\nfirst", "{b:?}");
        let r = run(&mut s, "r", "RESETKEY INBOX XOTHER");
        assert!(r[0].starts_with("r NO"), "{r:?}");
        ok(&run(&mut s, "r", "RESETKEY"), "r");
        assert_eq!(fetch(&mut s, &renewed), "NIL", "{b:?}");

        // A mailbox deleted and made again under its name has new keys.
        ok(&run(&mut s, "s", "SELECT INBOX"), "s");
        ok(&run(&mut s, "c", "CREATE Box"), "c");
        ok(&run(&mut s, "c", "COPY 1 Box"), "c");
        let boxed = gen(
            &mut s,
            &format!("imap://{user}@mail.example.org/Box/;UID=1;URLAUTH=anonymous"),
        );
        assert!(fetch(&mut s, &boxed).starts_with('{'), "{b:?}");
        ok(&run(&mut s, "d", "DELETE Box"), "d");
        ok(&run(&mut s, "c", "CREATE Box"), "c");
        ok(&run(&mut s, "c", "COPY 1 Box"), "c");
        assert_eq!(fetch(&mut s, &boxed), "NIL", "{b:?}");
        ok(&run(&mut s, "z", "LOGOUT"), "z");
    }
}

#[test]
fn urls_must_name_the_configured_host() {
    let h = home_on(Backend::Maildir, &[STORED]);
    let (mut s, user) = start(
        Backend::Maildir,
        &h,
        &["-o", "urlauth_host=mail.example.org:143"],
    );
    let good = gen(
        &mut s,
        &format!("imap://{user}@MAIL.example.org/INBOX/;UID=1;URLAUTH=anonymous"),
    );
    assert!(fetch(&mut s, &good).starts_with('{'));
    for host in ["other.example.org", "mail.example.org:993"] {
        let r = run(
            &mut s,
            "x",
            &format!("GENURLAUTH \"imap://{user}@{host}/INBOX/;UID=1;URLAUTH=anonymous\" INTERNAL"),
        );
        assert!(r[0].starts_with("x BAD"), "{host}: {r:?}");
    }
    let moved = good.replacen("MAIL.example.org", "other.example.org", 1);
    assert_eq!(fetch(&mut s, &moved), "NIL");
}

#[test]
fn urlfetch_grammar_is_checked() {
    let h = home_on(Backend::Maildir, &[STORED]);
    let (mut s, _) = start(Backend::Maildir, &h, &[]);
    for bad in [
        "URLFETCH",
        "URLFETCH (\"imap://a@b/INBOX/;UID=1\" BODY BINARY)",
        "URLFETCH (\"imap://a@b/INBOX/;UID=1\" BODY BODY)",
        "URLFETCH (\"imap://a@b/INBOX/;UID=1\" SIZE)",
        "URLFETCH (\"imap://a@b/INBOX/;UID=1\" BINARY",
        "GENURLAUTH",
        "GENURLAUTH \"imap://a@b/INBOX/;UID=1;URLAUTH=anonymous\"",
    ] {
        let r = run(&mut s, "x", bad);
        assert!(r[0].starts_with("x BAD"), "{bad}: {r:?}");
    }
}
