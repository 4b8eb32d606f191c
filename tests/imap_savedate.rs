//! SAVEDATE (RFC 8514) against the built `imapd`: on Maildir the save
//! date is when the file was delivered into the folder (the time its name
//! starts with: an MDA's, our APPEND's and COPY's), kept through flag
//! changes; mbox keeps none, so FETCH SAVEDATE is NIL, SAVEDATESUPPORTED
//! matches nothing and the SAVED* keys use the internal date (RFC 8514
//! 4.2, 4.3).

mod common;

use common::{home_on as home, imapd_on as imapd, ok, run, search, Backend, BOTH};

/// An IMAP date-time `secs_ago` seconds before now, in UTC.
fn date_time(secs_ago: i64) -> String {
    let t = chrono::Utc::now() - chrono::Duration::seconds(secs_ago);
    t.format("%d-%b-%Y %H:%M:%S +0000").to_string()
}

/// Today's IMAP date, in UTC.
fn today() -> String {
    chrono::Utc::now().format("%d-%b-%Y").to_string()
}

/// The SAVEDATE of message `n`: the quoted date-time, or NIL.
fn save_date(s: &mut common::Server, n: u32) -> String {
    let r = run(s, "f", &format!("FETCH {n} (SAVEDATE)"));
    ok(&r, "f");
    let line = r
        .iter()
        .find(|l| l.starts_with(&format!("* {n} FETCH (SAVEDATE ")))
        .unwrap_or_else(|| panic!("{r:?}"));
    line[format!("* {n} FETCH (SAVEDATE ").len()..]
        .trim_end_matches(')')
        .to_string()
}

#[test]
fn save_dates_on_maildir_and_their_absence_on_mbox() {
    for b in BOTH {
        // Delivered by an MDA as 1000000000.M0P1.test: 09-Sep-2001.
        let h = home(b, &[b"Subject: old\r\n\r\nold\r\n"]);
        let mut s = imapd(b, &h);
        let r = run(&mut s, "c", "CAPABILITY");
        assert!(r[0].split(' ').any(|w| w == "SAVEDATE"), "{r:?}");
        // Appended now, with an internal date a year back.
        let msg = "Subject: appended\r\n\r\nnew\r\n";
        let r = run(
            &mut s,
            "a",
            &format!(
                "APPEND INBOX \"{}\" {{{}+}}\r\n{msg}",
                date_time(365 * 86_400),
                msg.len()
            ),
        );
        ok(&r, "a");
        ok(&run(&mut s, "b", "SELECT INBOX"), "b");
        let year_ago = (chrono::Utc::now() - chrono::Duration::days(365))
            .format("%d-%b-%Y")
            .to_string();
        match b {
            Backend::Maildir => {
                assert_eq!(save_date(&mut s, 1), "\"09-Sep-2001 01:46:40 +0000\"");
                let appended = save_date(&mut s, 2);
                assert!(
                    appended.starts_with(&format!("\"{}", today())),
                    "{appended}"
                );
                assert_eq!(search(&mut s, "SAVEDATESUPPORTED"), "1 2");
                assert_eq!(search(&mut s, &format!("SAVEDON {}", today())), "2");
                assert_eq!(search(&mut s, &format!("SAVEDBEFORE {}", today())), "1");
                assert_eq!(search(&mut s, "SAVEDON 9-Sep-2001"), "1");
                assert_eq!(search(&mut s, "SAVEDSINCE 10-Sep-2001"), "2");
                assert_eq!(search(&mut s, "SAVEDSINCE 09-Sep-2001"), "1 2");
                // The internal date is another attribute.
                assert_eq!(search(&mut s, &format!("ON {year_ago}")), "2");
                assert_eq!(search(&mut s, &format!("SAVEDON {year_ago}")), "");
                // A flag change renames the file and keeps its save date;
                // a copy is saved now.
                ok(&run(&mut s, "t", "STORE 1 +FLAGS (\\Seen)"), "t");
                assert_eq!(save_date(&mut s, 1), "\"09-Sep-2001 01:46:40 +0000\"");
                ok(&run(&mut s, "y", "COPY 1 INBOX"), "y");
                ok(&run(&mut s, "n", "NOOP"), "n");
                let copied = save_date(&mut s, 3);
                assert!(copied.starts_with(&format!("\"{}", today())), "{copied}");
                assert_eq!(search(&mut s, &format!("SAVEDON {}", today())), "2 3");
            }
            Backend::Mbox => {
                assert_eq!(save_date(&mut s, 1), "NIL");
                assert_eq!(save_date(&mut s, 2), "NIL");
                assert_eq!(search(&mut s, "SAVEDATESUPPORTED"), "");
                assert_eq!(search(&mut s, "NOT SAVEDATESUPPORTED"), "1 2");
                // The internal date stands in: message 1's From line says
                // 21-Nov-2026, message 2's is a year back.
                assert_eq!(search(&mut s, &format!("SAVEDON {year_ago}")), "2");
                assert_eq!(search(&mut s, "SAVEDON 21-Nov-2026"), "1");
                assert_eq!(search(&mut s, "SAVEDSINCE 21-Nov-2026"), "1");
                assert_eq!(search(&mut s, &format!("SAVEDSINCE {}", today())), "");
            }
        }
        if let Backend::Maildir = b {
            // Names other programs write: offlineimap's time runs into an
            // underscore; a name without a time gives the internal date
            // (the file's mtime at delivery, here 2005).
            ok(&run(&mut s, "m", "CREATE Other"), "m");
            h.deliver(
                Some("Other"),
                "1234567890_0.99.host,U=1,FMD5=ab",
                b"Subject: o\r\n\r\no\r\n",
            );
            let odd = h.deliver(Some("Other"), "no-time-here", b"Subject: n\r\n\r\nn\r\n");
            let t2005 = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_118_000_000);
            common::set_mtime(&odd, t2005);
            ok(&run(&mut s, "e", "EXAMINE Other"), "e");
            let mut dates: Vec<String> = (1..=2).map(|n| save_date(&mut s, n)).collect();
            dates.sort();
            assert_eq!(
                dates,
                [
                    "\"05-Jun-2005 19:33:20 +0000\"",
                    "\"13-Feb-2009 23:31:30 +0000\""
                ],
            );
            ok(&run(&mut s, "b", "SELECT INBOX"), "b");
        }
        // Both forms together, and UID FETCH.
        let r = run(&mut s, "u", "UID FETCH 1:* (UID SAVEDATE INTERNALDATE)");
        ok(&r, "u");
        assert!(
            r.iter().filter(|l| l.contains("SAVEDATE ")).count() >= 2,
            "{r:?}"
        );
        // A date is required.
        let r = run(&mut s, "x", "SEARCH SAVEDON");
        assert!(r.last().unwrap().starts_with("x BAD"), "{r:?}");
        let r = run(&mut s, "z", "SEARCH SAVEDSINCE 32-Jan-2020");
        assert!(r.last().unwrap().starts_with("z BAD"), "{r:?}");
    }
}
