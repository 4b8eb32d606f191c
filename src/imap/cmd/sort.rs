//! SORT and UID SORT (RFC 5256), with RFC 5957's DISPLAYFROM and
//! DISPLAYTO; the search itself and the answer are `search::search`'s.
//!
//! Each message's sort values are taken once: ARRIVAL and SIZE from the
//! state, the others from its header block (the file is read up to the
//! blank line). Strings compare under `i;ascii-casemap`, RFC 5256's
//! default: ASCII letters folded to upper case, octet by octet. Messages
//! equal under every key stay in mailbox order, REVERSE or not (RFC 5256
//! 3: "sorted in the order they appear in the mailbox").

use std::cmp::Ordering;

use crate::imap::command::{SortCriterion, SortKey};
use crate::mime;
use crate::mime::imap::address::{parse_list, Address};
use crate::store::{Mailbox, Message, StoreError};

/// One message's value for one sort key.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Value {
    Number(i64),
    /// Folded by `i;ascii-casemap`.
    Text(Vec<u8>),
}

/// The order of the messages at `indexes` of `mailbox` under `criteria`,
/// as positions in `indexes`, which must be in mailbox order. A message
/// whose file cannot be read sorts as if its header were empty.
pub fn order(
    mailbox: &mut dyn Mailbox,
    indexes: &[usize],
    criteria: &[SortCriterion],
) -> Result<Vec<usize>, StoreError> {
    let header_needed = criteria
        .iter()
        .any(|c| !matches!(c.key, SortKey::Arrival | SortKey::Size));
    let mut values: Vec<Vec<Value>> = Vec::with_capacity(indexes.len());
    for &i in indexes {
        let m = mailbox.message(i);
        let header = if header_needed {
            header_block(mailbox, i, m.uid)?
        } else {
            Vec::new()
        };
        let fields = mime::header::fields(&header, 0..header.len());
        values.push(criteria.iter().map(|c| value(c.key, &m, &fields)).collect());
    }
    let mut order: Vec<usize> = (0..indexes.len()).collect();
    order.sort_by(|&a, &b| {
        for (k, c) in criteria.iter().enumerate() {
            let o = values[a][k].cmp(&values[b][k]);
            let o = if c.reverse { o.reverse() } else { o };
            if o != Ordering::Equal {
                return o;
            }
        }
        a.cmp(&b)
    });
    Ok(order)
}

/// The header block of message `i` (UID `uid`); empty when the message
/// is gone or its file cannot be read (logged), so that it sorts and
/// threads as a message without those fields.
pub fn header_block(mailbox: &mut dyn Mailbox, i: usize, uid: u32) -> Result<Vec<u8>, StoreError> {
    match mailbox.open_message(i) {
        Ok(mut r) => Ok(mime::header::read_block(&mut r).unwrap_or_else(|e| {
            log::warn!("message {uid}: {e}");
            Vec::new()
        })),
        Err(StoreError::Expunged | StoreError::NotFound) => Ok(Vec::new()),
        Err(StoreError::Unreadable(why)) => {
            log::warn!("{why}");
            Ok(Vec::new())
        }
        Err(e) => Err(e),
    }
}

/// RFC 5256: the sent date (the Date field) in UTC, or the internal date
/// when there is no Date field or it cannot be read.
pub fn sent_date(m: &Message, date: Option<&[u8]>) -> i64 {
    date.and_then(|v| mime::date::parse_rfc2822(&String::from_utf8_lossy(v)))
        .map_or(m.internal_date, |(secs, _)| secs)
}

fn value(key: SortKey, m: &Message, fields: &[mime::header::Field<'_>]) -> Value {
    let header = |name: &str| mime::header::first(fields, name);
    match key {
        SortKey::Arrival => Value::Number(m.internal_date),
        SortKey::Size => Value::Number(i64::try_from(m.size).unwrap_or(i64::MAX)),
        // RFC 5256 3: the sent date in UTC; the internal date when there
        // is no Date field or it cannot be read.
        SortKey::Date => Value::Number(sent_date(m, header("date"))),
        // The addr-mailbox of the first address (RFC 5256 3).
        SortKey::From | SortKey::To | SortKey::Cc => {
            let name = match key {
                SortKey::From => "from",
                SortKey::To => "to",
                _ => "cc",
            };
            let first = header(name).and_then(|v| first_address(&parse_list(v)));
            Value::Text(fold(
                first.and_then(|a| a.mailbox).unwrap_or_default().as_slice(),
            ))
        }
        SortKey::Subject => Value::Text(fold(
            base_subject(
                &header("subject")
                    .map(mime::decode::header_value)
                    .unwrap_or_default(),
            )
            .as_bytes(),
        )),
        SortKey::DisplayFrom | SortKey::DisplayTo => {
            let name = if key == SortKey::DisplayFrom {
                "from"
            } else {
                "to"
            };
            let first = header(name).and_then(|v| first_address(&parse_list(v)));
            Value::Text(fold(display(first.as_ref()).as_bytes()))
        }
    }
}

/// The first address of a list as ENVELOPE gives it: a group's start
/// (its name as the mailbox) counts, as in Dovecot.
fn first_address(list: &[Address]) -> Option<Address> {
    list.first().cloned()
}

/// RFC 5957 3: the display name (decoded) when there is a non-empty one,
/// else the addr-spec, else the empty string.
fn display(a: Option<&Address>) -> String {
    let Some(a) = a else {
        return String::new();
    };
    let name = a
        .name
        .as_deref()
        .map(mime::decode::header_value)
        .unwrap_or_default();
    if !name.trim().is_empty() {
        return name.trim().to_string();
    }
    let text = |b: &Option<Vec<u8>>| {
        String::from_utf8_lossy(b.as_deref().unwrap_or_default()).into_owned()
    };
    format!("{}@{}", text(&a.mailbox), text(&a.host))
}

/// `i;ascii-casemap`: ASCII letters as upper case, other octets as they
/// are.
fn fold(s: &[u8]) -> Vec<u8> {
    s.to_ascii_uppercase()
}

/// RFC 5256 2.1: the base subject of a decoded Subject.
pub fn base_subject(decoded: &str) -> String {
    base_subject_and_reply(decoded).0
}

/// `base_subject`, and whether the subject is a reply or a forward (the
/// extraction took off a "Re:"-like leader, a "(fwd)" or a "[fwd: ]").
pub fn base_subject_and_reply(decoded: &str) -> (String, bool) {
    let mut reply = false;
    // (1) Tabs and line ends as spaces, runs of spaces as one.
    let mut s = String::with_capacity(decoded.len());
    for c in decoded.chars() {
        let c = if matches!(c, '\t' | '\r' | '\n') {
            ' '
        } else {
            c
        };
        if c == ' ' && s.ends_with(' ') {
            continue;
        }
        s.push(c);
    }
    loop {
        // (2) Trailing "(fwd)" and white space, repeatedly.
        loop {
            let t = s.trim_end_matches(' ');
            let n = t.len();
            if n >= 5 && t.as_bytes()[n - 5..].eq_ignore_ascii_case(b"(fwd)") {
                s.truncate(n - 5);
                reply = true;
            } else {
                s.truncate(n);
                break;
            }
        }
        // (3) to (5): leaders ("Re:", "Fwd: ", "[blob] Fw[x]:", spaces),
        // and a leading blob when something is left after it.
        loop {
            let at = leader(s.as_bytes()).or_else(|| {
                blob(s.as_bytes())
                    .filter(|&n| !s[n..].trim().is_empty())
                    .map(|n| (n, false))
            });
            match at {
                Some((n, refwd)) if n > 0 => {
                    reply |= refwd;
                    s.drain(..n).for_each(drop);
                }
                _ => break,
            }
        }
        // (6) "[fwd:" subject "]": the subject, then from (2) again.
        let b = s.as_bytes();
        if b.len() >= 6 && b[..5].eq_ignore_ascii_case(b"[fwd:") && b.ends_with(b"]") {
            s = s[5..s.len() - 1].to_string();
            reply = true;
            continue;
        }
        return (s, reply);
    }
}

/// The length of a `subj-leader = (*subj-blob subj-refwd) / WSP` at the
/// start of `s`, and whether it is a `subj-refwd`.
fn leader(s: &[u8]) -> Option<(usize, bool)> {
    if s.first() == Some(&b' ') {
        return Some((1, false));
    }
    let mut at = 0;
    while let Some(n) = blob(&s[at..]) {
        at += n;
    }
    // subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":"
    let rest = &s[at..];
    let word = if rest.len() >= 3 && rest[..3].eq_ignore_ascii_case(b"fwd") {
        3
    } else if rest.len() >= 2
        && (rest[..2].eq_ignore_ascii_case(b"re") || rest[..2].eq_ignore_ascii_case(b"fw"))
    {
        2
    } else {
        return None;
    };
    at += word;
    while s.get(at) == Some(&b' ') {
        at += 1;
    }
    if let Some(n) = blob(&s[at..]) {
        at += n;
    }
    (s.get(at) == Some(&b':')).then_some((at + 1, true))
}

/// The length of a `subj-blob = "[" *BLOBCHAR "]" *WSP` at the start of
/// `s` (BLOBCHAR: anything but the brackets).
fn blob(s: &[u8]) -> Option<usize> {
    if s.first() != Some(&b'[') {
        return None;
    }
    let close = s[1..].iter().position(|&c| c == b']' || c == b'[')?;
    if s[1 + close] != b']' {
        return None;
    }
    let mut at = close + 2;
    while s.get(at) == Some(&b' ') {
        at += 1;
    }
    Some(at)
}

#[cfg(test)]
mod tests {
    use super::base_subject;

    #[test]
    fn base_subjects_as_rfc_5256_extracts_them() {
        for (subject, base) in [
            ("hello", "hello"),
            ("Re: hello", "hello"),
            ("RE:  re:Re: hello", "hello"),
            ("Fwd: Re: hello (fwd)", "hello"),
            ("Fw: hello (FWD) (fwd)  ", "hello"),
            ("[list] Re: hello", "hello"),
            ("Re[2]: hello", "hello"),
            ("Re [list]: hello", "hello"),
            ("[PATCH] fix it", "fix it"),
            ("[PATCH]", "[PATCH]"),
            ("[a][b] Re: [c] x", "x"),
            ("[fwd: Re: hello]", "hello"),
            ("[Fwd: [fwd: hello] (fwd)]", "hello"),
            ("Re: (fwd)", ""),
            ("  \t lots \t  of   space  ", "lots of space"),
            ("Rework: not a reply", "Rework: not a reply"),
            ("Reply: x", "Reply: x"),
            ("Résumé: Re: x", "Résumé: Re: x"),
            ("", ""),
        ] {
            assert_eq!(base_subject(subject), base, "{subject:?}");
        }
    }
}
