//! Special folders made at a user's first IMAP login (issue 12,
//! `special_folders`), on Maildir and on mbox: made, given their RFC 6154
//! use and subscribed; a user's existing folders of other servers' names
//! are used instead of making new ones; a folder the user deletes is not
//! made again; names are configurable, UTF-8 included.

mod common;

use common::{home_on as home, ok, run, server_command, Backend, Home, Server, BOTH};

/// imapd for `h` on backend `b` with `special_folders = folders`.
fn imapd(b: Backend, h: &Home, folders: &str) -> Server {
    let setting = format!("special_folders={folders}");
    let mbox = format!(
        "mail_location=mbox:{0}/mail:INBOX={0}/spool/inbox",
        h.path().display()
    );
    let mut args = vec!["-o", &setting];
    if let Backend::Mbox = b {
        args.extend(["-o", &mbox]);
    }
    let mut s = Server::start(server_command(env!("CARGO_BIN_EXE_imapd"), h, &args));
    assert!(s.line().starts_with("* PREAUTH"));
    s
}

/// `(name, attributes)` of each LIST or LSUB line of `cmd`, sorted.
fn listed(s: &mut Server, cmd: &str) -> Vec<(String, String)> {
    let r = run(s, "l", cmd);
    ok(&r, "l");
    let mut out: Vec<(String, String)> = r
        .iter()
        .filter(|l| l.starts_with("* LIST (") || l.starts_with("* LSUB ("))
        .map(|l| {
            let attrs = &l[l.find('(').unwrap() + 1..l.find(')').unwrap()];
            let name = match l.strip_suffix('"') {
                Some(q) => q[q.rfind('"').unwrap() + 1..].to_string(),
                None => l.rsplit_once(' ').unwrap().1.to_string(),
            };
            (name, attrs.to_string())
        })
        .collect();
    out.sort();
    out
}

fn uses(s: &mut Server) -> Vec<(String, String)> {
    listed(s, "LIST \"\" \"*\" RETURN (SPECIAL-USE)")
        .into_iter()
        .filter_map(|(n, a)| {
            let u: Vec<&str> = a
                .split(' ')
                .filter(|x| ["\\Sent", "\\Drafts", "\\Trash", "\\Junk", "\\Archive"].contains(x))
                .collect();
            (!u.is_empty()).then(|| (n, u.join(" ")))
        })
        .collect()
}

const DEFAULT: &str = "sent=Sent, drafts=Drafts, trash=Trash, junk=Junk, archive=Archive";

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn first_login_makes_the_special_folders_once() {
    for b in BOTH {
        let h = home(b, &[]);
        let mut s = imapd(b, &h, DEFAULT);
        let want = pairs(&[
            ("Archive", "\\Archive"),
            ("Drafts", "\\Drafts"),
            ("Junk", "\\Junk"),
            ("Sent", "\\Sent"),
            ("Trash", "\\Trash"),
        ]);
        assert_eq!(uses(&mut s), want, "{b:?}");
        let subscribed: Vec<String> = listed(&mut s, "LSUB \"\" \"*\"")
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(
            subscribed,
            ["Archive", "Drafts", "Junk", "Sent", "Trash"],
            "{b:?}"
        );
        // Deleted by the user: not made again at the next login.
        ok(&run(&mut s, "d", "DELETE Junk"), "d");
        drop(s);
        let mut s = imapd(b, &h, DEFAULT);
        let names: Vec<String> = uses(&mut s).into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["Archive", "Drafts", "Sent", "Trash"], "{b:?}");
    }
}

#[test]
fn folders_of_other_servers_are_used_and_names_configurable() {
    for b in BOTH {
        let h = home(b, &[]);
        // A user who comes from Exchange: made before special folders are on.
        let mut s = imapd(b, &h, "");
        for name in ["\"Sent Items\"", "\"Deleted Items\""] {
            ok(&run(&mut s, "c", &format!("CREATE {name}")), "c");
        }
        drop(s);
        let mut s = imapd(b, &h, "sent=Gesendet, trash=Papierkorb, drafts=Entwürfe");
        assert_eq!(
            uses(&mut s),
            pairs(&[
                ("Deleted Items", "\\Trash"),
                ("Entw&APw-rfe", "\\Drafts"),
                ("Sent Items", "\\Sent"),
            ]),
            "{b:?}"
        );
        let all: Vec<String> = listed(&mut s, "LIST \"\" \"*\"")
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert!(
            !all.iter().any(|n| n == "Gesendet" || n == "Papierkorb"),
            "{all:?}"
        );
    }
}

/// A bad `-o special_folders` stops imapd at once (exit 2), saying why on
/// stderr (before any client is served); a bad line in the file is a
/// configuration error like any other (`tests/config_errors.rs`).
#[test]
fn a_bad_setting_is_refused_at_start() {
    let h = home(Backend::Maildir, &[]);
    for bad in [
        "sent",
        "outbox=Out",
        "sent=INBOX",
        "sent=A, sent=B",
        "trash=a/b",
    ] {
        let setting = format!("special_folders={bad}");
        let mut s = Server::start(server_command(
            env!("CARGO_BIN_EXE_imapd"),
            &h,
            &["-o", &setting],
        ));
        assert_eq!(s.wait(), Some(2), "{bad}");
        let e = s.stderr();
        assert!(e.contains("special_folders: "), "{bad}: {e}");
    }
}

/// The folder a client's first look picks for its sent mail: the one a
/// line of `cmd` (a LIST as Apple Mail sends it, or Outlook's XLIST) marks
/// `\Sent`.
fn sent_folder(s: &mut Server, cmd: &str) -> String {
    let r = run(s, "l", cmd);
    ok(&r, "l");
    let sent: Vec<&String> = r.iter().filter(|l| l.contains("\\Sent")).collect();
    assert_eq!(sent.len(), 1, "{cmd}: {r:?}");
    let l = sent[0];
    match l.strip_suffix('"') {
        Some(q) => q[q.rfind('"').unwrap() + 1..].to_string(),
        None => l.rsplit_once(' ').unwrap().1.to_string(),
    }
}

/// Issue 12: Apple Mail (plain LIST, SPECIAL-USE attributes read from it)
/// and Outlook (XLIST) at their first login each save a sent message into
/// the folder the server marks `\Sent`, and both end in the one folder,
/// the configured one or a migrated user's "Sent Items"; neither makes a
/// "Sent Messages" or a second "Sent Items" of its own.
#[test]
fn apple_mail_and_outlook_first_logins_end_in_one_sent_folder() {
    for b in BOTH {
        for existing in [None, Some("\"Sent Items\"")] {
            let h = home(b, &[]);
            if let Some(name) = existing {
                let mut s = imapd(b, &h, "");
                ok(&run(&mut s, "c", &format!("CREATE {name}")), "c");
            }
            let want = if existing.is_some() {
                "Sent Items"
            } else {
                "Sent"
            };
            for (client, list) in [
                ("apple", "LIST \"\" \"*\""),
                ("outlook", "XLIST \"\" \"*\""),
            ] {
                let mut s = imapd(b, &h, DEFAULT);
                let sent = sent_folder(&mut s, list);
                assert_eq!(sent, want, "{b:?} {client}");
                let msg = format!("From: me@example.org\r\nSubject: from {client}\r\n\r\nhi\r\n");
                let r = run(
                    &mut s,
                    "a",
                    &format!("APPEND \"{sent}\" (\\Seen) {{{}+}}\r\n{msg}", msg.len()),
                );
                ok(&r, "a");
            }
            let mut s = imapd(b, &h, DEFAULT);
            let r = run(&mut s, "s", &format!("STATUS \"{want}\" (MESSAGES)"));
            ok(&r, "s");
            assert!(r[0].ends_with("(MESSAGES 2)"), "{b:?} {r:?}");
            let all: Vec<String> = listed(&mut s, "LIST \"\" \"*\"")
                .into_iter()
                .map(|(n, _)| n)
                .filter(|n| n.starts_with("Sent"))
                .collect();
            assert_eq!(all, [want], "{b:?}");
        }
    }
}
