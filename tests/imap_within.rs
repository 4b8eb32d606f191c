//! WITHIN (RFC 5032): SEARCH OLDER and YOUNGER against the built `imapd`,
//! on Maildir and on mbox, with messages appended with internal dates an
//! hour, two days and a year before now.

mod common;

use common::{home_on as home, imapd_on as imapd, ok, run, search, BOTH};

/// An IMAP date-time `secs_ago` seconds before now, in UTC.
fn date_time(secs_ago: i64) -> String {
    let t = chrono::Utc::now() - chrono::Duration::seconds(secs_ago);
    t.format("%d-%b-%Y %H:%M:%S +0000").to_string()
}

#[test]
fn older_and_younger_by_internal_date() {
    for b in BOTH {
        let h = home(b, &[]);
        let mut s = imapd(b, &h);
        for ago in [3600, 2 * 86_400, 365 * 86_400] {
            let msg = format!("Subject: {ago}\r\n\r\nbody\r\n");
            let r = run(
                &mut s,
                "a",
                &format!(
                    "APPEND INBOX \"{}\" {{{}+}}\r\n{msg}",
                    date_time(ago),
                    msg.len()
                ),
            );
            ok(&r, "a");
        }
        ok(&run(&mut s, "b", "SELECT INBOX"), "b");
        assert_eq!(search(&mut s, "YOUNGER 7200"), "1", "{b:?}");
        assert_eq!(search(&mut s, "OLDER 7200"), "2 3", "{b:?}");
        assert_eq!(search(&mut s, "OLDER 86400 YOUNGER 864000"), "2", "{b:?}");
        assert_eq!(search(&mut s, "NOT YOUNGER 1000000"), "3", "{b:?}");
        assert_eq!(
            search(&mut s, "OR OLDER 31000000 YOUNGER 100"),
            "3",
            "{b:?}"
        );
        // nz-number: 0 and a missing interval are BAD.
        let r = run(&mut s, "c", "SEARCH OLDER 0");
        assert!(r.last().unwrap().starts_with("c BAD"), "{r:?}");
        let r = run(&mut s, "d", "SEARCH YOUNGER");
        assert!(r.last().unwrap().starts_with("d BAD"), "{r:?}");
    }
}
