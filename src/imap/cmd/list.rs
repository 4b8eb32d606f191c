//! LIST and LSUB (RFC 3501 6.3.8, 6.3.9), with the CHILDREN attributes
//! (RFC 3348).

use crate::imap::response;
use crate::imap::session::{Done, Result, Session};
use crate::store::names::list_match;

pub fn list(s: &mut Session, reference: &str, pattern: &str, lsub: bool) -> Result<Done> {
    let store = s.store()?;
    let sep = store.separator();
    let (cmd, done) = if lsub {
        ("LSUB", "Lsub completed.")
    } else {
        ("LIST", "List completed.")
    };
    let mut out = Vec::new();
    // RFC 3501 6.3.8: an empty pattern asks for the separator and root.
    if pattern.is_empty() && !lsub {
        out.extend_from_slice(format!("* LIST (\\Noselect) \"{sep}\" \"\"\r\n").as_bytes());
        s.out.write_all(&out)?;
        return Done::ok(done);
    }
    let full = format!("{reference}{pattern}");
    let line = |out: &mut Vec<u8>, attrs: &str, name: &str| {
        out.extend_from_slice(format!("* {cmd} ({attrs}) \"{sep}\" ").as_bytes());
        response::mailbox(out, name);
        out.extend_from_slice(b"\r\n");
    };
    if lsub {
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
    } else {
        for mb in store.list()? {
            if !list_match(&full, &mb.name, sep) {
                continue;
            }
            let mut attrs: Vec<&str> = Vec::new();
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
            line(&mut out, &attrs.join(" "), &mb.name);
        }
    }
    s.out.write_all(&out)?;
    Done::ok(done)
}
