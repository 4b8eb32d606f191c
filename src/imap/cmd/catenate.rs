//! CATENATE (RFC 4469) with URL-PARTIAL (RFC 5550): an APPEND message
//! made of TEXT literals and IMAP URLs (RFC 5092) of the user's own
//! messages and parts, put together in an anonymous file (memory does
//! not grow with the parts), then appended like any other message.
//!
//! URLs are relative, as Dovecot takes them: `/mailbox[;UIDVALIDITY=n]
//! /;UID=n[/;SECTION=s][/;PARTIAL=o[.l]]`, or from `;UID=` on for the
//! selected mailbox; the mailbox name is UTF-8, %-encoded, the section
//! %-encoded. A part is taken as FETCH `BODY.PEEK[section]<partial>`
//! sends it (so a part that does not exist adds nothing, as with
//! Dovecot). A URL that cannot be resolved fails the APPEND with `NO
//! [BADURL url]`, before anything is stored.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};

use crate::imap::command::{CatPart, CommandBody, FetchItem, Literal};
use crate::imap::frame::Frame;
use crate::imap::session::{Error, Result, Session, State};
use crate::limits::APPEND_MAX;
use crate::mime::crlf::CrlfReader;
use crate::mime::imap::Located;
use crate::mime::source::{FileSource, Source};
use crate::mime::{self, Section};
use crate::store::{names, open, Mailbox, StoreError};

/// A relative IMAP URL of a message or part.
#[derive(Debug, PartialEq, Eq)]
struct Url {
    /// The store's name of the mailbox; None for the selected one.
    mailbox: Option<String>,
    uid_validity: Option<u32>,
    uid: u32,
    section: Option<Section>,
    /// (offset, length) in octets.
    partial: Option<(u64, Option<u64>)>,
}

/// The message `parts` make, in a file: a `Literal` for APPEND.
pub fn assemble(s: &mut Session, parts: Vec<CatPart>) -> Result<Literal> {
    let mut out = open::anonymous()?;
    let mut total = 0u64;
    for part in parts {
        let added = match part {
            CatPart::Text(mut lit) => io::copy(&mut lit.reader()?, &mut out)?,
            CatPart::Url(u) => {
                let url = parse_url(&u).ok_or_else(|| bad_url(&u, "Invalid IMAP URL"))?;
                copy_url(s, &url, &mut out).map_err(|e| match e {
                    Error::No(None, text) => bad_url(&u, &text),
                    e => e,
                })?
            }
        };
        total += added;
        if total > APPEND_MAX {
            return Err(Error::no_code("TOOBIG", "Message too large"));
        }
    }
    out.flush()?;
    out.seek(SeekFrom::Start(0))?;
    Ok(Literal::File(out, total))
}

/// `NO [BADURL url] text` (RFC 4469 5: the URL as sent, bare; the
/// octets its `url-resp-text` cannot hold left out).
fn bad_url(url: &str, text: &str) -> Error {
    let shown: String = url
        .chars()
        .filter(|&c| c != ']' && !c.is_control())
        .collect();
    Error::no_code(&format!("BADURL {shown}"), text)
}

/// Copies the octets `url` names into `out`; their number. Failures
/// that are the URL's are `Error::No` without a code.
fn copy_url(s: &mut Session, url: &Url, out: &mut File) -> Result<u64> {
    let selected = match &s.state {
        State::Selected(sel) => Some(sel.name.clone()),
        _ => None,
    };
    let name = match (&url.mailbox, &selected) {
        (Some(m), _) => m.clone(),
        (None, Some(sel)) => sel.clone(),
        (None, None) => return Err(Error::no("No mailbox selected")),
    };
    let mut opened;
    let mailbox: &mut dyn Mailbox = match &mut s.state {
        State::Selected(sel) if sel.name == name => sel.mailbox.as_mut(),
        _ => {
            opened = s.store()?.open(&name, true).map_err(|e| match e {
                StoreError::NotFound => Error::no("No such mailbox"),
                e => e.into(),
            })?;
            opened.as_mut()
        }
    };
    if url
        .uid_validity
        .is_some_and(|v| v != mailbox.uid_validity())
    {
        return Err(Error::no("UIDVALIDITY differs"));
    }
    let Ok(index) = mailbox.find_uid(url.uid) else {
        return Err(Error::no("Message not found"));
    };
    let file = mailbox.open_message(index).map_err(|e| match e {
        StoreError::Expunged | StoreError::NotFound => Error::no("Message not found"),
        e => e.into(),
    })?;
    let src = FileSource::new(file)?;
    let (skip, len) = match url.partial {
        Some((o, l)) => (o, l.unwrap_or(u64::MAX)),
        None => (0, u64::MAX),
    };
    let fields;
    let mut reader: Box<dyn Read + '_> = match &url.section {
        None => Box::new(CrlfReader::new(src.reader(0..src.len())?)),
        Some(section) => {
            let tree = mime::parse_source(&src);
            match mime::imap::locate(&tree, section) {
                Located::Range(r) => Box::new(CrlfReader::new(src.reader(r)?)),
                Located::Fields => {
                    fields = mime::imap::section_fields(&src, &tree, section).unwrap_or_default();
                    Box::new(&fields[..])
                }
                // As BODY[] of a part that does not exist: empty (Dovecot).
                Located::Missing => Box::new(io::empty()),
            }
        }
    };
    io::copy(&mut (&mut reader).take(skip), &mut io::sink())?;
    let n = io::copy(&mut reader.take(len), out)?;
    if let Some(e) = src.take_error() {
        return Err(e.into());
    }
    Ok(n)
}

/// RFC 5092's relative URL of a message or part, as RFC 4469 uses it.
fn parse_url(u: &str) -> Option<Url> {
    let lower = u.to_ascii_lowercase();
    let (mailbox, rest) = if let Some(r) = u.strip_prefix('/') {
        let at = lower[1..].find("/;uid=")?;
        (Some(&r[..at]), &r[at + 1..])
    } else if lower.starts_with(";uid=") {
        (None, u)
    } else {
        return None;
    };
    let (mailbox, uid_validity) = match mailbox {
        None => (None, None),
        Some(m) => {
            let (name, validity) = match m.to_ascii_lowercase().find(";uidvalidity=") {
                Some(i) => (&m[..i], Some(m[i + ";uidvalidity=".len()..].parse().ok()?)),
                None => (m, None),
            };
            let name = String::from_utf8(percent_decode(name)?).ok()?;
            if name.is_empty() {
                return None;
            }
            let name = if name.eq_ignore_ascii_case("INBOX") {
                "INBOX".to_string()
            } else {
                names::encode_utf7(&name)
            };
            (Some(name), validity)
        }
    };
    let mut url = Url {
        mailbox,
        uid_validity,
        uid: 0,
        section: None,
        partial: None,
    };
    // `;UID=n`, then `/;SECTION=s` and `/;PARTIAL=o.l` (the `/` is also
    // taken as missing, as some clients write it).
    for (i, param) in rest.split(';').skip(1).enumerate() {
        let param = param.strip_suffix('/').unwrap_or(param);
        let (key, value) = param.split_once('=')?;
        match (i, key.to_ascii_uppercase().as_str()) {
            (0, "UID") => url.uid = value.parse().ok().filter(|&n| n > 0)?,
            (1 | 2, "SECTION") if url.section.is_none() && url.partial.is_none() => {
                let spec = String::from_utf8(percent_decode(value)?).ok()?;
                url.section = Some(section(&spec)?);
            }
            (1 | 2, "PARTIAL") if url.partial.is_none() => {
                let (o, l) = match value.split_once('.') {
                    Some((o, l)) => (o, Some(l.parse().ok().filter(|&n| n > 0)?)),
                    None => (value, None),
                };
                url.partial = Some((o.parse().ok()?, l));
            }
            _ => return None,
        }
    }
    (url.uid > 0).then_some(url)
}

/// A section spec (`1.2`, `HEADER.FIELDS (FROM)`, ...) read by the FETCH
/// grammar itself.
fn section(spec: &str) -> Option<Section> {
    let frame = Frame::from_bytes(format!("x FETCH 1 BODY.PEEK[{spec}]").into_bytes());
    match crate::imap::parse::parse_command(frame).ok()?.body {
        CommandBody::Fetch { items, .. } => match items.as_slice() {
            [FetchItem::BodySection { section, .. }] => Some(section.clone()),
            _ => None,
        },
        _ => None,
    }
}

/// `%XX` decoding; None for a malformed escape.
fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mime::SectionText;

    #[test]
    fn relative_urls() {
        let u = parse_url("/INBOX;UIDVALIDITY=785799047/;UID=113330/;SECTION=1.5.9").unwrap();
        assert_eq!(u.mailbox.as_deref(), Some("INBOX"));
        assert_eq!(u.uid_validity, Some(785799047));
        assert_eq!(u.uid, 113330);
        assert_eq!(u.section.as_ref().unwrap().part, [1, 5, 9]);
        // RFC 4469's own example writes `;section=` without the slash.
        let u = parse_url("/inbox/;UID=3;section=1.MIME").unwrap();
        assert_eq!(u.mailbox.as_deref(), Some("INBOX"));
        assert_eq!(u.section.unwrap().text, Some(SectionText::Mime));
        let u = parse_url("/Entw%C3%BCrfe/;UID=7/;PARTIAL=10.20").unwrap();
        assert_eq!(u.mailbox.as_deref(), Some("Entw&APw-rfe"));
        assert_eq!(u.partial, Some((10, Some(20))));
        let u = parse_url(";UID=2/;SECTION=HEADER.FIELDS%20(FROM%20TO)").unwrap();
        assert_eq!(u.mailbox, None);
        assert!(matches!(
            u.section.unwrap().text,
            Some(SectionText::HeaderFields { not: false, .. })
        ));
        for bad in [
            "imap://user@host/INBOX/;UID=1",
            "/INBOX",
            "/INBOX/;UID=0",
            "/INBOX/;UID=x",
            "/INBOX/;UID=1/;SECTION=BOGUS",
            "/INBOX/;UID=1/;SECTION=1/;SECTION=2",
            "/INBOX/;UID=1/;PARTIAL=1.0",
            "/%ZZ/;UID=1",
            "/;UID=1",
            "",
        ] {
            assert_eq!(parse_url(bad), None, "{bad}");
        }
    }
}
