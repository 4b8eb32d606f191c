//! UTF8=ACCEPT (RFC 6855) against the built `imapd`, on Maildir and mbox:
//! after `ENABLE UTF8=ACCEPT` mailbox names go both ways as UTF-8 (in
//! quoted strings), are kept in the store's modified UTF-7 (so a session
//! that did not enable it, and other programs, see the same folders), `&`
//! is an ordinary character, and APPEND takes `UTF8 (literal8)`.

mod common;

use common::{home_on, imapd_on, ok, run, Server, BOTH};

/// The names in the LIST answer of `pattern`, as sent.
fn list(s: &mut Server, pattern: &str) -> Vec<String> {
    let r = run(s, "l", &format!("LIST \"\" {pattern}"));
    ok(&r, "l");
    let mut names: Vec<String> = r[..r.len() - 1]
        .iter()
        .map(|l| {
            // `* LIST (...) "/" name`: what follows the separator.
            let after = l.split_once(") ").map_or("", |x| x.1);
            after.split_once(' ').map_or("", |x| x.1).to_string()
        })
        .collect();
    names.sort();
    names
}

#[test]
fn mailbox_names_as_utf8() {
    for b in BOTH {
        eprintln!("on {b:?}");
        let h = home_on(b, &[b"Subject: x\n\nx\n"]);
        let mut old = imapd_on(b, &h);
        let r = run(&mut old, "c", "CAPABILITY");
        assert!(r[0].split(' ').any(|w| w == "UTF8=ACCEPT"), "{r:?}");
        // Made in modified UTF-7, before anyone enables UTF-8.
        ok(&run(&mut old, "c", "CREATE Entw&APw-rfe"), "c");

        let mut s = imapd_on(b, &h);
        let r = run(&mut s, "e", "ENABLE UTF8=ACCEPT");
        assert_eq!(r, ["* ENABLED UTF8=ACCEPT", "e OK ENABLE completed."]);
        ok(
            &run(&mut s, "c", "CREATE \"\u{65e5}\u{672c}\u{8a9e}\""),
            "c",
        );
        ok(&run(&mut s, "c", "CREATE R&D"), "c");
        assert_eq!(
            list(&mut s, "%"),
            [
                "\"Entw\u{fc}rfe\"",
                "\"\u{65e5}\u{672c}\u{8a9e}\"",
                "INBOX",
                "R&D",
            ]
        );
        // Names in, names out.
        let r = run(
            &mut s,
            "s",
            "STATUS \"\u{65e5}\u{672c}\u{8a9e}\" (MESSAGES)",
        );
        assert_eq!(r[0], "* STATUS \"\u{65e5}\u{672c}\u{8a9e}\" (MESSAGES 0)");
        ok(&run(&mut s, "x", "SELECT \"Entw\u{fc}rfe\""), "x");
        // APPEND of a message with a UTF-8 header, as UTF8 (literal8).
        let msg = "Subject: Gr\u{fc}\u{df}e\r\n\r\nhallo\r\n";
        s.write(
            format!(
                "a APPEND \"\u{65e5}\u{672c}\u{8a9e}\" UTF8 (~{{{}+}}\r\n{msg})\r\n",
                msg.len()
            )
            .as_bytes(),
        );
        ok(
            &s.until_tagged("a")
                .into_iter()
                .map(|l| l.trim_end().to_string())
                .collect::<Vec<_>>(),
            "a",
        );
        ok(
            &run(&mut s, "x", "SELECT \"\u{65e5}\u{672c}\u{8a9e}\""),
            "x",
        );
        let r = s.command_bytes("f", "FETCH 1 BODY.PEEK[HEADER.FIELDS (SUBJECT)]");
        assert!(
            String::from_utf8_lossy(&r[0]).contains("Subject: Gr\u{fc}\u{df}e"),
            "{:?}",
            String::from_utf8_lossy(&r[0])
        );
        // A session without UTF-8 sees the same folders in modified UTF-7.
        assert_eq!(
            list(&mut old, "%"),
            ["&ZeVnLIqe-", "Entw&APw-rfe", "INBOX", "R&-D"]
        );
        let r = run(&mut old, "s", "STATUS &ZeVnLIqe- (MESSAGES)");
        assert_eq!(r[0], "* STATUS &ZeVnLIqe- (MESSAGES 1)");
    }
}
