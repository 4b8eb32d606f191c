//! FETCH and UID FETCH (RFC 3501 6.4.5, 7.4.2).
//!
//! Message data is read only as far as the items need: flags, UID, size and
//! INTERNALDATE come from the view (no file is opened); ENVELOPE and header
//! sections read only the header; BODY[] of a large message is streamed with
//! its line ends made CRLF, never held in memory whole.

use std::collections::HashSet;
use std::io::{self, Read, Write};

use chrono::{FixedOffset, TimeZone};

use crate::imap::cmd::indexes;
use crate::imap::command::{FetchItem, Partial, SequenceSet};
use crate::imap::response;
use crate::imap::session::{self, Done, Error, Result, Session, State};
use crate::limits;
use crate::mime::imap::{BinaryLocated, Located};
use crate::mime::source::{FileSource, Source};
use crate::mime::{self, crlf::CrlfReader};
use crate::store::cache::Kind as CacheKind;
use crate::store::{flag, FlagOp, Flags, Mailbox, Message, StoreError};

/// What of a message's content the items need.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Need {
    Nothing,
    Header,
    Whole,
}

fn need(item: &FetchItem) -> Need {
    match item {
        FetchItem::Envelope | FetchItem::Rfc822Header => Need::Header,
        FetchItem::Body
        | FetchItem::BodyStructure
        | FetchItem::Rfc822
        | FetchItem::Rfc822Text
        | FetchItem::Preview
        | FetchItem::Binary { .. }
        | FetchItem::BinarySize { .. } => Need::Whole,
        FetchItem::BodySection { section, .. } => match (&section.part[..], &section.text) {
            ([], Some(mime::SectionText::Header | mime::SectionText::HeaderFields { .. })) => {
                Need::Header
            }
            _ => Need::Whole,
        },
        _ => Need::Nothing,
    }
}

fn is_whole_message(item: &FetchItem) -> bool {
    match item {
        FetchItem::Rfc822 => true,
        FetchItem::BodySection { section, .. } => section.part.is_empty() && section.text.is_none(),
        _ => false,
    }
}

/// The RFC 7162 modifiers: CHANGEDSINCE (only messages whose modseq is
/// above it, with their MODSEQ) and VANISHED (first the UIDs of the set
/// expunged since, as `* VANISHED (EARLIER)`; UID FETCH with CHANGEDSINCE
/// and QRESYNC enabled only, RFC 7162 3.2.6).
pub fn fetch(
    s: &mut Session,
    set: &SequenceSet,
    items: &[FetchItem],
    uid: bool,
    (changed_since, vanished): (Option<u64>, bool),
) -> Result<Done> {
    if vanished && !(uid && changed_since.is_some() && s.enabled.qresync) {
        return Err(Error::Bad(
            "VANISHED needs UID FETCH, CHANGEDSINCE and QRESYNC enabled".into(),
        ));
    }
    // RFC 7162 3.1: MODSEQ and CHANGEDSINCE enable CONDSTORE.
    if changed_since.is_some() || items.contains(&FetchItem::ModSeq) {
        s.enable_condstore()?;
    }
    let condstore = s.enabled.condstore;
    // Borrow the writer and the mailbox separately, so bodies can stream.
    let out: &mut dyn Write = &mut *s.out;
    let State::Selected(sel) = &mut s.state else {
        return Err(Error::Bad("No mailbox selected".into()));
    };
    let mailbox = sel.mailbox.as_mut();
    let mut idx = indexes(mailbox, set, uid)?;
    let mut items = items.to_vec();
    // RFC 3501 6.4.8: UID FETCH always returns UID.
    if uid && !items.contains(&FetchItem::Uid) {
        items.insert(0, FetchItem::Uid);
    }
    if let (true, Some(n)) = (vanished, changed_since) {
        let within = set.ranges(crate::imap::cmd::qresync::max_uid(mailbox));
        let gone = crate::imap::cmd::qresync::vanished_earlier(mailbox, n, Some(&within));
        let mut line = Vec::new();
        session::write_vanished(&mut line, true, &gone);
        out.write_all(&line)?;
    }
    // RFC 7162 3.1.4: CHANGEDSINCE answers with MODSEQ, for the messages
    // changed since.
    if let Some(n) = changed_since {
        if !items.contains(&FetchItem::ModSeq) {
            items.push(FetchItem::ModSeq);
        }
        let changed: std::collections::HashSet<usize> =
            mailbox.changed_since(n).into_iter().collect();
        idx = idx.filter(|i| changed.contains(&i));
    }
    // RFC 3501 6.4.5: BODY[...] (not PEEK), RFC822 and RFC822.TEXT set
    // \Seen; RFC 3516 4.2: BINARY[...] too.
    let mut seen_now: HashSet<usize> = HashSet::new();
    let sets_seen = items.iter().any(FetchItem::sets_seen);
    if sets_seen && !mailbox.read_only() {
        let unseen: Vec<usize> = idx
            .iter()
            .filter(|&i| !mailbox.message(i).flags.has(flag::SEEN))
            .collect();
        if !unseen.is_empty() {
            let seen = Flags {
                system: flag::SEEN,
                keywords: Vec::new(),
            };
            seen_now = mailbox
                .store(&unseen, FlagOp::Add, &seen)?
                .into_iter()
                .collect();
        }
    }
    let want = items.iter().map(need).max().unwrap_or(Need::Nothing);
    let (mut vanished, mut unreadable, mut unknown_cte) = (0usize, 0usize, 0usize);
    for i in idx.iter() {
        let m = mailbox.message(i);
        let seen_now = seen_now.contains(&i);
        match fetch_one(out, mailbox, i, &m, &items, want, (seen_now, condstore)) {
            Ok(()) => {}
            // Another program removed the file: RFC 2180 4.1.2 lets us say
            // NO for it while answering the others.
            Err(Error::No(Some(code), _)) if code == "EXPUNGEISSUED" => vanished += 1,
            // One file cannot be read (EIO, EACCES, not a regular file):
            // the others are still answered, and the session goes on.
            Err(Error::No(Some(code), _)) if code == session::UNAVAILABLE => unreadable += 1,
            // RFC 3516 4.3: a part we cannot decode fails the command, after
            // the other messages are answered.
            Err(Error::No(Some(code), _)) if code == UNKNOWN_CTE => unknown_cte += 1,
            Err(e) => return Err(e),
        }
    }
    mailbox.flush_cache();
    if unreadable > 0 {
        return Err(Error::no_code(
            session::UNAVAILABLE,
            "Some of the requested messages cannot be read now; see the server log.",
        ));
    }
    if unknown_cte > 0 {
        return Err(Error::no_code(
            UNKNOWN_CTE,
            "Some of the requested parts have a Content-Transfer-Encoding this server cannot decode.",
        ));
    }
    if vanished > 0 {
        return Err(Error::no_code(
            "EXPUNGEISSUED",
            "Some of the requested messages no longer exist.",
        ));
    }
    Done::ok("Fetch completed.")
}

/// RFC 3516 4.3's response code for a part BINARY cannot decode.
const UNKNOWN_CTE: &str = "UNKNOWN-CTE";

/// Writes one `* n FETCH (...)` response.
fn fetch_one(
    out: &mut dyn Write,
    mailbox: &mut dyn Mailbox,
    index: usize,
    m: &Message,
    items: &[FetchItem],
    want: Need,
    (seen_now, condstore): (bool, bool),
) -> Result<()> {
    let seq = index + 1;
    // DESIGN.md 5: ENVELOPE, BODY and BODYSTRUCTURE come from the mailbox's
    // cache when it has them; only what is missing is read from the file.
    let mut cached: [Option<Vec<u8>>; 4] = [None, None, None, None];
    for item in items {
        if let Some((slot, kind)) = cache_slot(item) {
            if cached[slot].is_none() {
                cached[slot] = mailbox.cached(index, kind);
            }
        }
    }
    let want = items
        .iter()
        .filter(|i| cache_slot(i).is_none_or(|(slot, _)| cached[slot].is_none()))
        .map(need)
        .max()
        .unwrap_or(Need::Nothing)
        .min(want);
    // A large message is read through a bounded window (issue 20): its
    // structure found in one pass, sections streamed from the file.
    let mut content = Content::None;
    let mut parsed: Option<mime::Part> = None;
    // ENVELOPE from the header block alone needs no MIME parse.
    let envelope_of_header = want == Need::Header;
    let structure = items.iter().any(|i| {
        need(i) != Need::Nothing
            && !is_whole_message(i)
            && !(envelope_of_header && *i == FetchItem::Envelope)
    });
    if want == Need::Whole && m.size > limits::FETCH_STREAM_ABOVE {
        let src = FileSource::new(open(mailbox, index)?)?;
        if structure {
            parsed = Some(mime::parse_source(&src));
            if let Some(e) = src.take_error() {
                return Err(e.into());
            }
        }
        content = Content::File(src);
    } else if want != Need::Nothing {
        let mut r = open(mailbox, index)?;
        let data = if want == Need::Header {
            mime::header::read_block(&mut r)?
        } else {
            read_all(&mut r)?
        };
        // BODY[] and RFC822 need only the bytes; parse only for structure.
        if structure {
            parsed = Some(mime::parse(&data));
        }
        content = Content::Memory(data);
    }
    // RFC 3516 4.3: nothing of this message is sent if one of its BINARY
    // parts cannot be decoded.
    if let Some(p) = &parsed {
        let unknown = items.iter().any(|i| {
            binary_part(i).is_some_and(|(part, _)| {
                mime::imap::locate_binary(p, part) == BinaryLocated::UnknownCte
            })
        });
        if unknown {
            return Err(Error::no_code(
                UNKNOWN_CTE,
                "Unknown Content-Transfer-Encoding",
            ));
        }
    }
    let mut buf = Vec::with_capacity(64);
    let _ = write!(buf, "* {seq} FETCH (");
    let mut first = true;
    let mut flags_sent = false;
    for item in items {
        if !first {
            buf.push(b' ');
        }
        first = false;
        match item {
            FetchItem::Uid => {
                let _ = write!(buf, "UID {}", m.uid);
            }
            FetchItem::ModSeq => {
                let _ = write!(buf, "MODSEQ ({})", m.modseq);
            }
            FetchItem::Flags => {
                buf.extend_from_slice(b"FLAGS ");
                session::write_message_flags(&mut buf, m);
                flags_sent = true;
            }
            FetchItem::InternalDate => {
                buf.extend_from_slice(b"INTERNALDATE \"");
                let (date, zone) = mailbox.internal_date(index);
                write_internal_date(&mut buf, date, zone);
                buf.push(b'"');
            }
            FetchItem::Rfc822Size => {
                let _ = write!(buf, "RFC822.SIZE {}", m.size);
            }
            // RFC 8514 4.2: a date-time, NIL where the mailbox keeps none.
            FetchItem::SaveDate => match mailbox.save_date(index) {
                Some(t) => {
                    buf.extend_from_slice(b"SAVEDATE \"");
                    write_internal_date(&mut buf, t, 0);
                    buf.push(b'"');
                }
                None => buf.extend_from_slice(b"SAVEDATE NIL"),
            },
            FetchItem::EmailId => {
                let id = crate::store::objectid::email_id(mailbox, index)?;
                buf.extend_from_slice(format!("EMAILID ({id})").as_bytes());
            }
            FetchItem::ThreadId => {
                let id = crate::imap::cmd::thread::thread_id(mailbox, index)?;
                buf.extend_from_slice(format!("THREADID ({id})").as_bytes());
            }
            // Kept in the cache as sent (an IMAP string), as ENVELOPE is.
            FetchItem::Preview => {
                buf.extend_from_slice(b"PREVIEW ");
                if let Some(data) = &cached[3] {
                    buf.extend_from_slice(data);
                    continue;
                }
                let text = match (content.source(), &parsed) {
                    (Some(raw), Some(p)) => mime::decode::preview(raw, p),
                    _ => String::new(),
                };
                let mut data = Vec::new();
                response::string(&mut data, text.as_bytes());
                buf.extend_from_slice(&data);
                mailbox.cache(index, CacheKind::Preview, &data);
                cached[3] = Some(data);
            }
            FetchItem::Envelope | FetchItem::Body | FetchItem::BodyStructure => {
                let Some((slot, kind)) = cache_slot(item) else {
                    continue;
                };
                buf.extend_from_slice(match item {
                    FetchItem::Envelope => b"ENVELOPE ",
                    FetchItem::Body => b"BODY ",
                    _ => b"BODYSTRUCTURE ",
                });
                if let Some(data) = &cached[slot] {
                    buf.extend_from_slice(data);
                    continue;
                }
                // An ENVELOPE is a few hundred octets: one allocation.
                let mut data = Vec::with_capacity(1024);
                match (item, &content, content.source(), &parsed) {
                    (FetchItem::Envelope, Content::Memory(h), _, _) if envelope_of_header => {
                        mime::imap::envelope_of_header(&mut data, h)
                    }
                    (FetchItem::Envelope, _, Some(raw), Some(p)) => {
                        mime::imap::envelope(&mut data, raw, p)
                    }
                    (FetchItem::Body, _, Some(raw), Some(p)) => {
                        mime::imap::body_structure(&mut data, raw, p, false)
                    }
                    (_, _, Some(raw), Some(p)) => {
                        mime::imap::body_structure(&mut data, raw, p, true)
                    }
                    _ => continue,
                }
                buf.extend_from_slice(&data);
                mailbox.cache(index, kind, &data);
                cached[slot] = Some(data);
            }
            FetchItem::Binary { .. } | FetchItem::BinarySize { .. } => {
                let Some((part, partial)) = binary_part(item) else {
                    continue;
                };
                item.echo(&mut buf);
                buf.push(b' ');
                let size_only = matches!(item, FetchItem::BinarySize { .. });
                let located = match &parsed {
                    Some(p) => mime::imap::locate_binary(p, part),
                    None => BinaryLocated::Missing,
                };
                match (content.source(), located) {
                    (Some(raw), BinaryLocated::Range(range, cte)) => {
                        let (total, nul) = binary_measure(raw, range.clone(), cte, partial);
                        content.check()?;
                        if size_only {
                            buf.extend_from_slice(total.to_string().as_bytes());
                        } else {
                            out.write_all(&buf)?;
                            buf.clear();
                            binary_send(out, &content, raw, (range, cte), (total, nul), partial)?;
                        }
                    }
                    // A part that does not exist: as for BODY, empty.
                    _ if size_only => buf.push(b'0'),
                    _ => buf.extend_from_slice(b"\"\""),
                }
            }
            FetchItem::Rfc822
            | FetchItem::Rfc822Header
            | FetchItem::Rfc822Text
            | FetchItem::BodySection { .. } => {
                let Some((_, section, partial)) = item.section() else {
                    continue;
                };
                item.echo(&mut buf);
                buf.push(b' ');
                let bytes = match (&content, &parsed) {
                    (Content::File(src), p) => {
                        let located = match p {
                            _ if is_whole_message(item) => Located::Range(0..src.len()),
                            Some(p) => mime::imap::locate(p, &section),
                            None => continue,
                        };
                        match located {
                            Located::Range(r) => {
                                stream_range(out, &buf, src, r, partial)?;
                                buf.clear();
                                continue;
                            }
                            Located::Fields => parsed
                                .as_ref()
                                .and_then(|p| mime::imap::section_fields(src, p, &section))
                                .unwrap_or_default(),
                            Located::Missing => Vec::new(),
                        }
                    }
                    (Content::Memory(raw), _) if is_whole_message(item) => mime::crlf::to_crlf(raw),
                    // A part that does not exist is an empty string, as
                    // Dovecot sends it (RFC 3501 6.4.5 leaves it open).
                    (Content::Memory(raw), Some(p)) => {
                        mime::imap::section_bytes(raw, p, &section).unwrap_or_default()
                    }
                    _ => continue,
                };
                response::literal(&mut buf, apply_partial(&bytes, partial));
            }
        }
    }
    if seen_now && !flags_sent {
        // RFC 3501 6.4.5: the \Seen we just set is reported in the response,
        // with CONDSTORE its new modseq too (RFC 7162 3.2).
        buf.extend_from_slice(b" FLAGS ");
        session::write_message_flags(&mut buf, m);
        if condstore && !items.contains(&FetchItem::ModSeq) {
            session::write_modseq(&mut buf, m);
        }
    }
    buf.extend_from_slice(b")\r\n");
    out.write_all(&buf)?;
    Ok(())
}

/// The part numbers and partial of a BINARY or BINARY.SIZE item.
fn binary_part(item: &FetchItem) -> Option<(&[u32], Option<Partial>)> {
    match item {
        FetchItem::Binary { part, partial, .. } => Some((part, *partial)),
        FetchItem::BinarySize { part } => Some((part, None)),
        _ => None,
    }
}

/// The decoded length of a BINARY part, and whether the octets `partial`
/// selects of it hold a NUL (then they go as RFC 3516 `literal8`; without
/// one as a literal, which RFC 3516 4.3 prefers).
fn binary_measure(
    raw: &dyn Source,
    range: std::ops::Range<usize>,
    cte: mime::decode::Cte,
    partial: Option<(u32, u32)>,
) -> (u64, bool) {
    let (from, to) = match partial {
        Some((o, n)) => (u64::from(o), u64::from(o) + u64::from(n)),
        None => (0, u64::MAX),
    };
    let (mut total, mut nul) = (0u64, false);
    mime::decode::each_binary(raw, range, cte, &mut |piece| {
        let start = total;
        total += piece.len() as u64;
        if !nul && start < to && total > from {
            let a = from.saturating_sub(start) as usize;
            let b = (to.min(total) - start) as usize;
            nul = piece[a..b].contains(&0);
        }
    });
    (total, nul)
}

/// Sends a BINARY part, decoded, as a literal (or `literal8` when `nul`),
/// the `partial` window of its `total` octets. The decoding is done again,
/// so memory stays bounded; once the literal has begun, any error ends the
/// session, as in `stream_range`.
fn binary_send(
    out: &mut dyn Write,
    content: &Content,
    raw: &dyn Source,
    (range, cte): (std::ops::Range<usize>, mime::decode::Cte),
    (total, nul): (u64, bool),
    partial: Option<(u32, u32)>,
) -> Result<()> {
    let (skip, len) = match partial {
        None => (0, total),
        Some((o, n)) => {
            let start = u64::from(o).min(total);
            (start, u64::from(n).min(total - start))
        }
    };
    let eight = if nul { "~" } else { "" };
    out.write_all(format!("{eight}{{{len}}}\r\n").as_bytes())?;
    let (mut at, mut sent) = (0u64, 0u64);
    let mut failed: Option<io::Error> = None;
    mime::decode::each_binary(raw, range, cte, &mut |piece| {
        let start = at;
        at += piece.len() as u64;
        let (a, b) = (skip.max(start), (skip + len).min(at));
        if failed.is_some() || a >= b {
            return;
        }
        let slice = &piece[(a - start) as usize..(b - start) as usize];
        match out.write_all(slice) {
            Ok(()) => sent += slice.len() as u64,
            Err(e) => failed = Some(e),
        }
    });
    if let Some(e) = failed.or_else(|| content.error()) {
        return Err(Error::Fatal(format!("sending a message: {e}")));
    }
    if sent != len {
        return Err(Error::Fatal("message file changed while being sent".into()));
    }
    Ok(())
}

/// Where a cacheable item lives in `fetch_one`'s `cached`, and its kind.
fn cache_slot(item: &FetchItem) -> Option<(usize, CacheKind)> {
    match item {
        FetchItem::Envelope => Some((0, CacheKind::Envelope)),
        FetchItem::Body => Some((1, CacheKind::Body)),
        FetchItem::BodyStructure => Some((2, CacheKind::BodyStructure)),
        FetchItem::Preview => Some((3, CacheKind::Preview)),
        _ => None,
    }
}

fn apply_partial(bytes: &[u8], partial: Option<(u32, u32)>) -> &[u8] {
    match partial {
        None => bytes,
        Some((origin, len)) => {
            let start = (origin as usize).min(bytes.len());
            let end = start.saturating_add(len as usize).min(bytes.len());
            &bytes[start..end]
        }
    }
}

fn open(mailbox: &mut dyn Mailbox, index: usize) -> Result<Box<dyn crate::store::MessageRead>> {
    match mailbox.open_message(index) {
        Ok(r) => Ok(r),
        Err(StoreError::Expunged) | Err(StoreError::NotFound) => {
            Err(Error::no_code("EXPUNGEISSUED", "Message was expunged"))
        }
        Err(e) => Err(e.into()),
    }
}

fn read_all(r: &mut dyn Read) -> Result<Vec<u8>> {
    let mut v = Vec::new();
    r.read_to_end(&mut v)?;
    Ok(v)
}

/// A message's content as `fetch_one` read it.
enum Content {
    None,
    /// A small message, or a header block, in memory.
    Memory(Vec<u8>),
    /// A large message, read through a bounded window.
    File(FileSource<Box<dyn crate::store::MessageRead>>),
}

impl Content {
    /// The read error a file source met, if any (a memory one has none).
    fn error(&self) -> Option<io::Error> {
        match self {
            Content::File(f) => f.take_error(),
            _ => None,
        }
    }

    /// `error` as this message's failure.
    fn check(&self) -> Result<()> {
        match self.error() {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }

    fn source(&self) -> Option<&dyn Source> {
        match self {
            Content::None => None,
            Content::Memory(v) => Some(v),
            Content::File(f) => Some(f),
        }
    }
}

/// Streams `range` of a large message (BODY[], a section, a partial) as a
/// literal, line ends CRLF, after `prefix` (the response so far), in two
/// passes over the file: one to count the octets exactly (the literal's
/// length must be right even if the stored size is not), one to send
/// them; a partial skips what comes before it without keeping it. Memory
/// stays at two buffers whatever the message size. Nothing is written
/// before the first pass has read the whole range, so a file that cannot
/// be read is a NO for this message; once the literal has begun, any error
/// ends the session.
fn stream_range(
    out: &mut dyn Write,
    prefix: &[u8],
    src: &FileSource<Box<dyn crate::store::MessageRead>>,
    range: std::ops::Range<usize>,
    partial: Option<(u32, u32)>,
) -> Result<()> {
    let total = io::copy(
        &mut CrlfReader::new(src.reader(range.clone())?),
        &mut io::sink(),
    )?;
    out.write_all(prefix)?;
    let (skip, len) = match partial {
        None => (0, total),
        Some((o, n)) => {
            let start = (o as u64).min(total);
            (start, (n as u64).min(total - start))
        }
    };
    out.write_all(format!("{{{len}}}\r\n").as_bytes())?;
    let mut r = CrlfReader::new(src.reader(range)?);
    let sent = (|| {
        io::copy(&mut (&mut r).take(skip), &mut io::sink())?;
        io::copy(&mut r.take(len), out)
    })()
    .map_err(|e| Error::Fatal(format!("sending a message: {e}")))?;
    if sent != len {
        // The file changed between the passes: the literal cannot be
        // completed truthfully, so the connection cannot go on.
        return Err(Error::Fatal("message file changed while being sent".into()));
    }
    Ok(())
}

/// RFC 3501 `date-time` ("dd-Mon-yyyy hh:mm:ss +zzzz") appended to
/// `out`, formatted by hand: `FETCH 1:* INTERNALDATE` writes one for
/// every message.
pub fn write_internal_date(out: &mut Vec<u8>, secs: i64, zone_minutes: i32) {
    use chrono::{Datelike, Timelike};
    const MONTHS: [&[u8; 3]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    let zone =
        FixedOffset::east_opt(zone_minutes * 60).unwrap_or(FixedOffset::east_opt(0).expect("UTC"));
    let t = zone
        .timestamp_opt(secs, 0)
        .single()
        .filter(|t| (0..=9999).contains(&t.year()));
    let Some(t) = t else {
        out.extend_from_slice(b"01-Jan-1970 00:00:00 +0000");
        return;
    };
    let z = zone_minutes.clamp(-24 * 60 + 1, 24 * 60 - 1);
    let two = |out: &mut Vec<u8>, n: u32| {
        out.extend_from_slice(&[b'0' + (n / 10 % 10) as u8, b'0' + (n % 10) as u8])
    };
    two(out, t.day());
    out.push(b'-');
    out.extend_from_slice(MONTHS[t.month0() as usize]);
    out.push(b'-');
    let y = t.year() as u32;
    two(out, y / 100);
    two(out, y % 100);
    out.push(b' ');
    two(out, t.hour());
    out.push(b':');
    two(out, t.minute());
    out.push(b':');
    two(out, t.second());
    out.push(b' ');
    out.push(if z < 0 { b'-' } else { b'+' });
    two(out, z.unsigned_abs() / 60);
    two(out, z.unsigned_abs() % 60);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn internal_date(secs: i64, zone_minutes: i32) -> String {
        let mut v = Vec::new();
        write_internal_date(&mut v, secs, zone_minutes);
        String::from_utf8(v).expect("ASCII")
    }

    #[test]
    fn dates() {
        assert_eq!(internal_date(0, 0), "01-Jan-1970 00:00:00 +0000");
        assert_eq!(
            internal_date(837_556_465, -420),
            "16-Jul-1996 15:34:25 -0700"
        );
        assert_eq!(
            internal_date(4_102_444_799, 330),
            "01-Jan-2100 05:29:59 +0530"
        );
        assert_eq!(internal_date(-1, 0), "31-Dec-1969 23:59:59 +0000");
        // RFC 3501's date-time has four year digits: an mtime past 9999
        // (set by some program) is shown as the epoch.
        assert_eq!(
            internal_date(300_000_000_000, 0),
            "01-Jan-1970 00:00:00 +0000"
        );
    }
}
