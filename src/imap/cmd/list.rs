//! LIST and LSUB (RFC 3501 6.3.8, 6.3.9), with the CHILDREN attributes
//! (RFC 3348), LIST-EXTENDED (RFC 5258), SPECIAL-USE (RFC 6154) and
//! LIST-STATUS (RFC 5819).

use std::collections::{BTreeMap, BTreeSet};

use crate::imap::command::ListRequest;
use crate::imap::response;
use crate::imap::session::{Done, Result, Session};
use crate::store::names::list_match;
use crate::store::{special_use, MailboxInfo};

/// One mailbox a LIST answers with.
struct Row<'a> {
    name: String,
    /// None: it does not exist (a subscription of a mailbox that is gone,
    /// or a parent that only exists as a path): `\NonExistent`.
    info: Option<&'a MailboxInfo>,
    /// RFC 5258 CHILDINFO ("SUBSCRIBED"): subscribed descendants that the
    /// patterns do not reach.
    childinfo: bool,
}

pub fn list(s: &mut Session, r: &ListRequest) -> Result<Done> {
    if r.return_status
        .as_ref()
        .is_some_and(|i| i.contains(&crate::imap::command::StatusItem::HighestModSeq))
    {
        s.enable_condstore()?;
    }
    let store = s.store()?;
    let sep = store.separator();
    let cmd = if r.xlist { "XLIST" } else { "LIST" };
    // RFC 3501 6.3.8: an empty pattern asks for the separator and root.
    if r.patterns.iter().all(String::is_empty) && !r.subscribed && !r.special_use {
        let line = format!("* {cmd} (\\Noselect) \"{sep}\" \"\"\r\n");
        s.out.write_all(line.as_bytes())?;
        return Done::ok("List completed.");
    }
    let fulls: Vec<String> = r
        .patterns
        .iter()
        .filter(|p| !p.is_empty())
        .map(|p| format!("{}{p}", r.reference))
        .collect();
    let matches = |name: &str| fulls.iter().any(|f| list_match(f, name, sep));
    let all = store.list()?;
    let subs: BTreeSet<String> = if r.return_subscribed {
        store.subscriptions()?.into_iter().collect()
    } else {
        BTreeSet::new()
    };
    let existing: Vec<&str> = all
        .iter()
        .filter(|m| !m.noselect)
        .map(|m| m.name.as_str())
        .collect();
    let uses = match store.control_dir() {
        Some(ctl) => special_use::resolve(&special_use::load(&ctl), &existing, sep),
        None => BTreeMap::new(),
    };
    let info = |name: &str| all.iter().find(|m| m.name == name);
    let mut rows: Vec<Row> = Vec::new();
    if r.subscribed {
        // RFC 5258 3: the subscribed names, whether they exist or not;
        // with RECURSIVEMATCH also the names that match and have a
        // subscribed descendant the patterns do not reach.
        let below = |parent: &str| {
            let prefix = format!("{parent}{sep}");
            subs.iter().any(|d| d.starts_with(&prefix) && !matches(d))
        };
        let mut names: BTreeSet<String> = subs.iter().filter(|n| matches(n)).cloned().collect();
        if r.recursive_match {
            for sub in &subs {
                let mut at = 0;
                while let Some(i) = sub[at..].find(sep) {
                    let parent = &sub[..at + i];
                    if matches(parent) && below(parent) {
                        names.insert(parent.to_string());
                    }
                    at += i + sep.len_utf8();
                }
            }
        }
        for name in names {
            rows.push(Row {
                info: info(&name),
                childinfo: r.recursive_match && below(&name),
                name,
            });
        }
    } else {
        for m in all.iter().filter(|m| matches(&m.name)) {
            rows.push(Row {
                name: m.name.clone(),
                info: Some(m),
                childinfo: false,
            });
        }
    }
    if r.special_use {
        // RFC 6154 4: only the mailboxes with a special use.
        rows.retain(|row| uses.contains_key(&row.name));
    }
    for row in &rows {
        let mut out = Vec::new();
        let mut attrs: Vec<&str> = Vec::new();
        match row.info {
            None => attrs.push("\\NonExistent"),
            Some(mb) => {
                if mb.noselect {
                    attrs.push("\\Noselect");
                }
                // RFC 3348 3: \HasNoChildren is not sent with \Noinferiors
                // (it says as much already).
                attrs.push(if mb.noinferiors {
                    "\\Noinferiors"
                } else if mb.has_children {
                    "\\HasChildren"
                } else {
                    "\\HasNoChildren"
                });
                match mb.marked {
                    Some(true) => attrs.push("\\Marked"),
                    Some(false) => attrs.push("\\Unmarked"),
                    None => {}
                }
            }
        }
        if r.return_subscribed && subs.contains(&row.name) {
            attrs.push("\\Subscribed");
        }
        // RFC 6154 2: the uses, also without RETURN (SPECIAL-USE), as
        // Dovecot sends them.
        if let Some(u) = uses.get(&row.name) {
            attrs.extend(u.iter().map(|&a| match a {
                "\\Junk" if r.xlist => "\\Spam",
                a => a,
            }));
        }
        if r.xlist && row.name == "INBOX" {
            attrs.push("\\Inbox");
        }
        out.extend_from_slice(format!("* {cmd} ({}) \"{sep}\" ", attrs.join(" ")).as_bytes());
        response::mailbox(&mut out, &row.name);
        if r.extended && row.childinfo {
            out.extend_from_slice(b" (\"CHILDINFO\" (\"SUBSCRIBED\"))");
        }
        out.extend_from_slice(b"\r\n");
        // RFC 5819: the STATUS of a selectable mailbox right after its
        // LIST line; one that cannot be had is left out.
        if let Some(items) = &r.return_status {
            if row.info.is_some_and(|m| !m.noselect) {
                if let Ok(st) = super::status::response(s, &row.name, items) {
                    out.extend_from_slice(&st);
                }
            }
        }
        s.out.write_all(&out)?;
    }
    Done::ok("List completed.")
}

/// LSUB (RFC 3501 6.3.9).
pub fn lsub(s: &mut Session, reference: &str, pattern: &str) -> Result<Done> {
    let store = s.store()?;
    let sep = store.separator();
    let mut out = Vec::new();
    let full = format!("{reference}{pattern}");
    let line = |out: &mut Vec<u8>, attrs: &str, name: &str| {
        out.extend_from_slice(format!("* LSUB ({attrs}) \"{sep}\" ").as_bytes());
        response::mailbox(out, name);
        out.extend_from_slice(b"\r\n");
    };
    {
        let subs = store.subscriptions()?;
        let mut shown: Vec<String> = Vec::new();
        for name in &subs {
            if list_match(&full, name, sep) && !shown.contains(name) {
                line(&mut out, "", name);
                shown.push(name.clone());
            }
        }
        // A `%` that stops at a level whose children are subscribed shows
        // that level as \Noselect (RFC 3501 6.3.9). Only then: when the
        // pattern reaches the subscribed name itself (`*`), its parents are
        // not listed, as in Dovecot.
        for name in &subs {
            if list_match(&full, name, sep) {
                continue;
            }
            let mut prefix = String::new();
            for part in name.split(sep) {
                if !prefix.is_empty() {
                    if !shown.contains(&prefix) && list_match(&full, &prefix, sep) {
                        line(&mut out, "\\Noselect", &prefix);
                        shown.push(prefix.clone());
                    }
                    prefix.push(sep);
                }
                prefix.push_str(part);
            }
        }
    }
    s.out.write_all(&out)?;
    Done::ok("Lsub completed.")
}
