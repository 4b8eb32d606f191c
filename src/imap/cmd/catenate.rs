//! CATENATE (RFC 4469) with URL-PARTIAL (RFC 5550): an APPEND message
//! made of TEXT literals and IMAP URLs (RFC 5092, `imap::url`) of the
//! user's own messages and parts, put together in an anonymous file
//! (memory does not grow with the parts), then appended like any other
//! message.
//!
//! URLs are relative, as Dovecot takes them (`/mailbox[;UIDVALIDITY=n]
//! /;UID=n[/;SECTION=s][/;PARTIAL=o[.l]]`, or from `;UID=` on for the
//! selected mailbox), or absolute: `imap://user@host/...` of the user's
//! own mail, with or without URLAUTH (RFC 4467; checked as URLFETCH
//! checks it, `urlauth::authorize`). A part is taken as FETCH
//! `BODY.PEEK[section]<partial>` sends it (so a part that does not exist
//! adds nothing, as with Dovecot). A URL that cannot be resolved fails
//! the APPEND with `NO [BADURL url]`, before anything is stored.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};

use crate::imap::cmd::urlauth;
use crate::imap::command::{CatPart, Literal};
use crate::imap::session::{Error, Result, Session, State};
use crate::imap::url::{self, Url};
use crate::limits::APPEND_MAX;
use crate::mime::crlf::CrlfReader;
use crate::mime::imap::Located;
use crate::mime::source::{FileSource, Source};
use crate::store::{Mailbox, MessageRead, StoreError};

/// The message `parts` make, in a file: a `Literal` for APPEND.
pub fn assemble(s: &mut Session, parts: Vec<CatPart>) -> Result<Literal> {
    let mut out = crate::store::open::anonymous()?;
    let mut total = 0u64;
    for part in parts {
        let added = match part {
            CatPart::Text(mut lit) => io::copy(&mut lit.reader()?, &mut out)?,
            CatPart::Url(u) => {
                let url = url::parse(&u).ok_or_else(|| bad_url(&u, "Invalid IMAP URL"))?;
                urlauth::authorize(s, &url)
                    .and_then(|()| open_url(s, &url))
                    .and_then(|src| copy_body(&src, &url, &mut out))
                    .map_err(|e| match e {
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

/// The message `url` names, opened. Failures that are the URL's are
/// `Error::No` without a code.
pub fn open_url(s: &mut Session, url: &Url) -> Result<FileSource<Box<dyn MessageRead>>> {
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
    Ok(FileSource::new(file)?)
}

/// Copies the octets `url` names of its message `src` into `out`, as
/// FETCH `BODY.PEEK[section]<partial>` sends them; their number.
pub fn copy_body<R: Read + Seek>(src: &FileSource<R>, url: &Url, out: &mut File) -> Result<u64> {
    let fields;
    let mut reader: Box<dyn Read + '_> = match &url.section {
        None => Box::new(CrlfReader::new(src.reader(0..src.len())?)),
        Some(section) => {
            let tree = crate::mime::parse_source(src);
            match crate::mime::imap::locate(&tree, section) {
                Located::Range(r) => Box::new(CrlfReader::new(src.reader(r)?)),
                Located::Fields => {
                    fields =
                        crate::mime::imap::section_fields(src, &tree, section).unwrap_or_default();
                    Box::new(&fields[..])
                }
                // As BODY[] of a part that does not exist: empty (Dovecot).
                Located::Missing => Box::new(io::empty()),
            }
        }
    };
    let n = copy_partial(&mut reader, url.partial, out)?;
    // The reader borrows the source, whose error is taken next.
    drop(reader);
    if let Some(e) = src.take_error() {
        return Err(e.into());
    }
    Ok(n)
}

/// Copies the `partial` window (offset, length) of `reader` into `out`.
pub fn copy_partial(
    reader: &mut dyn Read,
    partial: Option<(u64, Option<u64>)>,
    out: &mut File,
) -> io::Result<u64> {
    let (skip, len) = match partial {
        Some((o, l)) => (o, l.unwrap_or(u64::MAX)),
        None => (0, u64::MAX),
    };
    io::copy(&mut reader.take(skip), &mut io::sink())?;
    io::copy(&mut reader.take(len), out)
}
