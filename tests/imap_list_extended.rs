//! LIST-EXTENDED (RFC 5258), SPECIAL-USE and CREATE-SPECIAL-USE (RFC
//! 6154) and LIST-STATUS (RFC 5819) against the built `imapd`, on Maildir
//! and on mbox (whose separators differ: each test asks first).

mod common;

use common::{home_on as home, imapd_on as imapd, ok, run, Backend, Server, BOTH};

const MSG: &[u8] = b"From: a@example.org\nSubject: s\n\nbody\n";

fn bad(r: &[String], tag: &str) {
    assert!(
        r.last().unwrap().starts_with(&format!("{tag} BAD")),
        "{r:?}"
    );
}

/// The untagged lines of a response.
fn untagged(r: &[String]) -> Vec<String> {
    r.iter().filter(|l| l.starts_with("* ")).cloned().collect()
}

/// The mailbox name of a LIST line (`* LIST (attrs) "sep" name [data]`).
fn name_of(line: &str) -> Option<String> {
    let rest = &line[line.find(") \"")? + 6..];
    match rest.strip_prefix('"') {
        Some(q) => Some(q[..q.find('"')?].to_string()),
        None => Some(rest.split(' ').next()?.to_string()),
    }
}

/// The LIST line for `name`, if any.
fn line_for<'a>(r: &'a [String], name: &str) -> Option<&'a String> {
    r.iter()
        .find(|l| l.starts_with("* LIST ") && name_of(l).as_deref() == Some(name))
}

/// The attributes of `name`'s LIST line, sorted.
fn attrs(r: &[String], name: &str) -> Vec<String> {
    let l = line_for(r, name).unwrap_or_else(|| panic!("no LIST line for {name}: {r:?}"));
    let inner = &l[l.find('(').unwrap() + 1..l.find(')').unwrap()];
    let mut a: Vec<String> = inner.split_whitespace().map(str::to_string).collect();
    a.sort();
    a
}

/// The special-use attributes of `name`'s LIST line, sorted.
fn uses(r: &[String], name: &str) -> Vec<String> {
    let special = [
        "\\All",
        "\\Archive",
        "\\Drafts",
        "\\Flagged",
        "\\Junk",
        "\\Sent",
        "\\Trash",
    ];
    attrs(r, name)
        .into_iter()
        .filter(|a| special.contains(&a.as_str()))
        .collect()
}

fn session(b: Backend) -> (common::Home, Server, char) {
    let h = home(b, &[MSG]);
    let mut s = imapd(b, &h);
    let r = run(&mut s, "s", "LIST \"\" \"\"");
    ok(&r, "s");
    let sep = r[0]
        .split('"')
        .nth(1)
        .and_then(|x| x.chars().next())
        .expect("separator");
    (h, s, sep)
}

#[test]
fn capabilities_are_advertised() {
    let (_h, mut s, _) = session(Backend::Maildir);
    let r = run(&mut s, "c", "CAPABILITY");
    for cap in [
        "LIST-EXTENDED",
        "LIST-STATUS",
        "SPECIAL-USE",
        "CREATE-SPECIAL-USE",
    ] {
        assert!(r[0].split(' ').any(|w| w == cap), "{cap}: {r:?}");
    }
}

#[test]
fn subscribed_selection_recursivematch_and_multiple_patterns() {
    for b in BOTH {
        let (_h, mut s, sep) = session(b);
        // RFC 5258 5's tree, in this store's separator.
        for name in ["Fruit", "Tofu", "Vegetable"] {
            ok(&run(&mut s, "a", &format!("CREATE {name}{sep}")), "a");
        }
        for name in [
            "Fruit/Apple",
            "Fruit/Banana",
            "Fruit/Peach",
            "Vegetable/Broccoli",
        ] {
            ok(
                &run(
                    &mut s,
                    "b",
                    &format!("CREATE \"{}\"", name.replace('/', &sep.to_string())),
                ),
                "b",
            );
        }
        for name in [
            "Fruit/Banana",
            "Fruit/Peach",
            "Vegetable",
            "Vegetable/Broccoli",
            "Gone",
        ] {
            ok(
                &run(
                    &mut s,
                    "c",
                    &format!("SUBSCRIBE \"{}\"", name.replace('/', &sep.to_string())),
                ),
                "c",
            );
        }
        let n = |x: &str| x.replace('/', &sep.to_string());

        // SUBSCRIBED: every subscribed name, \Subscribed, \NonExistent for
        // the one that does not exist.
        let r = run(&mut s, "d", "LIST (SUBSCRIBED) \"\" \"*\"");
        ok(&r, "d");
        assert_eq!(untagged(&r).len(), 5, "{r:?}");
        assert_eq!(
            attrs(&r, "Gone"),
            ["\\NonExistent", "\\Subscribed"],
            "{b:?}"
        );
        assert!(attrs(&r, &n("Fruit/Banana")).contains(&"\\Subscribed".to_string()));
        assert!(line_for(&r, "Fruit").is_none(), "{r:?}");

        // RECURSIVEMATCH: Fruit is not subscribed but has subscribed
        // children the pattern does not reach; Vegetable is subscribed and
        // has one too.
        let r = run(&mut s, "e", "LIST (SUBSCRIBED RECURSIVEMATCH) \"\" \"%\"");
        ok(&r, "e");
        let fruit = line_for(&r, "Fruit").unwrap_or_else(|| panic!("{b:?}: {r:?}"));
        assert!(
            fruit.contains("(\"CHILDINFO\" (\"SUBSCRIBED\"))"),
            "{fruit}"
        );
        assert!(!attrs(&r, "Fruit").contains(&"\\Subscribed".to_string()));
        let veg = line_for(&r, "Vegetable").expect("Vegetable");
        assert!(
            veg.contains("\\Subscribed") && veg.contains("CHILDINFO"),
            "{veg}"
        );
        assert!(line_for(&r, "Tofu").is_none(), "{r:?}");
        assert!(line_for(&r, "Gone").is_some(), "{r:?}");

        // RETURN (SUBSCRIBED) on a normal LIST; multiple patterns, each
        // mailbox once.
        let r = run(
            &mut s,
            "f",
            &format!("LIST \"\" (\"Fruit{sep}*\" \"*Banana\" Tofu) RETURN (SUBSCRIBED CHILDREN)"),
        );
        ok(&r, "f");
        assert_eq!(untagged(&r).len(), 4, "{r:?}");
        assert!(attrs(&r, &n("Fruit/Banana")).contains(&"\\Subscribed".to_string()));
        assert!(!attrs(&r, &n("Fruit/Apple")).contains(&"\\Subscribed".to_string()));
        assert!(
            attrs(&r, "Tofu").contains(&"\\HasNoChildren".to_string()),
            "{r:?}"
        );

        // The grammar's refusals.
        bad(&run(&mut s, "g", "LIST (RECURSIVEMATCH) \"\" \"*\""), "g");
        bad(&run(&mut s, "h", "LIST (BOGUS) \"\" \"*\""), "h");
        bad(&run(&mut s, "i", "LIST \"\" \"*\" RETURN (BOGUS)"), "i");
        bad(&run(&mut s, "j", "LIST \"\" \"*\" RETURN"), "j");
        // REMOTE changes nothing here; empty options are the plain LIST.
        let plain = run(&mut s, "k", "LIST \"\" \"*\"");
        assert_eq!(
            untagged(&run(&mut s, "l", "LIST (REMOTE) \"\" \"*\"")),
            untagged(&plain)
        );
        assert_eq!(
            untagged(&run(&mut s, "m", "LIST () \"\" \"*\" RETURN ()")),
            untagged(&plain)
        );
    }
}

#[test]
fn special_use_by_name_by_create_and_across_rename_and_delete() {
    for b in BOTH {
        let (_h, mut s, _) = session(b);
        for name in ["Sent", "\"Deleted Items\"", "Drafts", "Notes"] {
            ok(&run(&mut s, "a", &format!("CREATE {name}")), "a");
        }
        // Names other servers and clients use are recognised; also in a
        // plain LIST, as Dovecot sends them.
        let r = run(&mut s, "b", "LIST \"\" \"*\"");
        ok(&r, "b");
        assert!(
            attrs(&r, "Sent").contains(&"\\Sent".to_string()),
            "{b:?}: {r:?}"
        );
        assert!(
            attrs(&r, "Deleted Items").contains(&"\\Trash".to_string()),
            "{r:?}"
        );
        assert!(
            attrs(&r, "Drafts").contains(&"\\Drafts".to_string()),
            "{r:?}"
        );
        assert!(uses(&r, "Notes").is_empty(), "{r:?}");

        // CREATE with USE: that mailbox holds the use from now on.
        ok(
            &run(&mut s, "c", "CREATE \"Sent Items\" (USE (\\Sent))"),
            "c",
        );
        let r = run(
            &mut s,
            "d",
            "LIST (SPECIAL-USE) \"\" \"*\" RETURN (SPECIAL-USE)",
        );
        ok(&r, "d");
        assert_eq!(untagged(&r).len(), 3, "only the special ones: {r:?}");
        assert!(
            attrs(&r, "Sent Items").contains(&"\\Sent".to_string()),
            "{r:?}"
        );
        assert!(line_for(&r, "Sent").is_none(), "{r:?}");
        // It follows a RENAME; after a DELETE the name is found again.
        ok(&run(&mut s, "e", "RENAME \"Sent Items\" Outbox"), "e");
        let r = run(&mut s, "f", "LIST \"\" \"*\"");
        assert!(attrs(&r, "Outbox").contains(&"\\Sent".to_string()), "{r:?}");
        assert!(!attrs(&r, "Sent").contains(&"\\Sent".to_string()), "{r:?}");
        ok(&run(&mut s, "g", "DELETE Outbox"), "g");
        let r = run(&mut s, "h", "LIST \"\" \"*\"");
        assert!(attrs(&r, "Sent").contains(&"\\Sent".to_string()), "{r:?}");

        // Uses we do not give: NO [USEATTR], and nothing is made.
        let r = run(&mut s, "i", "CREATE Everything (USE (\\All))");
        assert!(r.last().unwrap().starts_with("i NO [USEATTR]"), "{r:?}");
        let r = run(&mut s, "j", "CREATE Mine (USE (\\Sent \\Bogus))");
        assert!(r.last().unwrap().starts_with("j NO [USEATTR]"), "{r:?}");
        let r = run(&mut s, "k", "LIST \"\" \"*\"");
        assert!(
            line_for(&r, "Everything").is_none() && line_for(&r, "Mine").is_none(),
            "{r:?}"
        );
        // Several uses at once; a bad parameter is BAD.
        ok(
            &run(&mut s, "l", "CREATE Old (USE (\\Archive \\Junk))"),
            "l",
        );
        let r = run(&mut s, "m", "LIST \"\" Old");
        assert_eq!(uses(&r, "Old"), ["\\Archive", "\\Junk"], "{r:?}");
        bad(&run(&mut s, "n", "CREATE X (FOO (\\Sent))"), "n");
    }
}

#[test]
fn list_status_follows_each_selectable_mailbox() {
    for b in BOTH {
        let (_h, mut s, sep) = session(b);
        ok(&run(&mut s, "a", &format!("CREATE \"Box{sep}Inner\"")), "a");
        let r = run(
            &mut s,
            "c",
            "LIST \"\" \"*\" RETURN (STATUS (MESSAGES UNSEEN))",
        );
        ok(&r, "c");
        // Each STATUS right after its mailbox's LIST line.
        let inbox = r
            .iter()
            .position(|l| l.starts_with("* LIST") && l.ends_with(" INBOX"))
            .expect("INBOX");
        assert_eq!(
            r[inbox + 1],
            "* STATUS INBOX (MESSAGES 1 UNSEEN 1)",
            "{b:?}: {r:?}"
        );
        let inner = format!("Box{sep}Inner");
        let i = r
            .iter()
            .position(|l| l.starts_with("* LIST") && l.contains(&inner))
            .expect("inner");
        assert_eq!(
            r[i + 1],
            format!("* STATUS {inner} (MESSAGES 0 UNSEEN 0)"),
            "{r:?}"
        );
        let statuses = r.iter().filter(|l| l.starts_with("* STATUS")).count();
        let selectable = r
            .iter()
            .filter(|l| l.starts_with("* LIST") && !l.contains("\\Noselect"))
            .count();
        assert_eq!(statuses, selectable, "{r:?}");
    }
}

#[test]
fn xlist_as_outlook_and_older_clients_expect() {
    for b in BOTH {
        let (_h, mut s, _) = session(b);
        for name in ["Sent", "Spam", "Notes"] {
            ok(&run(&mut s, "a", &format!("CREATE {name}")), "a");
        }
        let r = run(&mut s, "b", "XLIST \"\" \"*\"");
        ok(&r, "b");
        assert!(
            r.iter()
                .filter(|l| l.starts_with("* "))
                .all(|l| l.starts_with("* XLIST (")),
            "{r:?}"
        );
        let xattrs = |name: &str| {
            let l = r
                .iter()
                .find(|l| l.ends_with(&format!(" {name}")))
                .unwrap_or_else(|| panic!("{name}: {r:?}"));
            l[l.find('(').unwrap() + 1..l.find(')').unwrap()].to_string()
        };
        assert!(xattrs("INBOX").contains("\\Inbox"), "{b:?}: {r:?}");
        assert!(xattrs("Sent").contains("\\Sent"), "{r:?}");
        assert!(
            xattrs("Spam").contains("\\Spam") && !xattrs("Spam").contains("\\Junk"),
            "{r:?}"
        );
        let notes = xattrs("Notes");
        assert!(
            !["\\Inbox", "\\Sent", "\\Spam"]
                .iter()
                .any(|a| notes.contains(a)),
            "{r:?}"
        );
        // LIST itself says \Junk, and no \Inbox.
        let r = run(&mut s, "c", "LIST \"\" \"*\"");
        assert!(
            uses(&r, "Spam") == ["\\Junk"] && !r.iter().any(|l| l.contains("\\Inbox")),
            "{r:?}"
        );
    }
}

/// RFC 7889 APPENDLIMIT: STATUS and LIST-STATUS answer the limit the
/// capability names; a message over it is refused `NO [TOOBIG]` before
/// any of it is sent.
#[test]
fn appendlimit_in_status_and_list_status() {
    for b in BOTH {
        let (_h, mut s, _sep) = session(b);
        let r = run(&mut s, "a", "STATUS INBOX (APPENDLIMIT MESSAGES)");
        ok(&r, "a");
        assert_eq!(
            r[0], "* STATUS INBOX (APPENDLIMIT 268435456 MESSAGES 1)",
            "{b:?}"
        );
        let r = run(&mut s, "b", "LIST \"\" INBOX RETURN (STATUS (APPENDLIMIT))");
        ok(&r, "b");
        assert_eq!(
            r[1], "* STATUS INBOX (APPENDLIMIT 268435456)",
            "{b:?}: {r:?}"
        );
        let r = run(&mut s, "c", "APPEND INBOX {268435457}");
        assert_eq!(
            r.last().unwrap(),
            "c NO [TOOBIG] Message too large",
            "{b:?}"
        );
    }
}
