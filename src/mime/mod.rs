//! Message structure: header fields, the MIME tree with raw offsets,
//! ENVELOPE/BODYSTRUCTURE data and decoding for SEARCH.
//!
//! Public API (all of it works on the raw message bytes as stored, with LF,
//! CRLF or mixed line ends; nothing here panics on any input):
//!
//! * [`parse`]`(raw: &[u8]) -> Part`: the MIME tree (RFC 2045/2046). Each
//!   [`Part`] has raw byte ranges (`header`, `body`) and IMAP sizes
//!   (`header_size`, `body_size`: octets and lines as if every line end were
//!   CRLF, RFC 3501 2.3.4/7.4.2).
//! * [`imap::envelope`]`(out: &mut Vec<u8>, raw, &Part)`: the ENVELOPE list.
//! * [`imap::body_structure`]`(out, raw, &Part, extensible: bool)`: BODY
//!   (`false`) or BODYSTRUCTURE (`true`).
//! * [`imap::section_bytes`]`(raw, &Part, &Section) -> Option<Vec<u8>>`:
//!   the octets of `BODY[section]`, CRLF line ends, NUL sent as 0x80 (no
//!   IMAP4rev1 literal may carry NUL). `None` when the section names a part
//!   that does not exist, or HEADER/TEXT of a part that is not
//!   message/rfc822; the server then sends an empty string `""` (RFC 3501
//!   6.4.5 does not say; Dovecot 2.3 sends `""` too, and clients cope
//!   better with an empty string than with NIL where they expect data).
//!   Part `1` of a non-multipart message is its body; `n.1` of a leaf part
//!   is the part itself (Dovecot's reading). BODY[] of the whole message
//!   is better streamed: [`imap::locate`]`(&Part, &Section) -> Located`
//!   gives the raw range of any section but HEADER.FIELDS, for
//!   `CrlfReader`, without copying.
//! * [`crlf::CrlfReader`]`<R: Read>`: streams BODY[] with CRLF line ends
//!   (and NUL as 0x80) at constant memory; [`crlf::to_crlf`],
//!   [`crlf::crlf_size`] and [`crlf::SizeIndex`] for in-memory slices.
//!   RFC822.SIZE is `Size::of(raw, 0..raw.len()).octets`.
//! * [`decode::header_value`]`(&[u8]) -> String`, [`decode::body_text`]`(raw,
//!   &Part) -> String`, [`decode::charset`]`(name, &[u8]) -> Option<String>`:
//!   text for SEARCH.
//! * [`date::parse_rfc2822`]`(&str) -> Option<(i64, i32)>`: Date: headers
//!   for SENTBEFORE/SENTON/SENTSINCE.
//!
//! Limits (`crate::limits`): header blocks beyond `MIME_HEADER_MAX` are cut
//! for structure purposes, nesting beyond `MIME_DEPTH_MAX` and parts beyond
//! `MIME_PARTS_MAX` are opaque text/plain leaves.
//!
//! The output follows RFC 3501 and, where the RFCs leave a choice, what
//! Dovecot 2.3 sends (checked by `tests/mime_dovecot.rs`, which lists the
//! few places where we follow an RFC and Dovecot does not): parameters as
//! written with RFC 2231 sections joined (extended values stay encoded,
//! name with `*`), `charset us-ascii` added to text parts without one,
//! MISSING_MAILBOX / MISSING_DOMAIN / INVALID_ROUTE / SYNTAX_ERROR
//! placeholders in broken addresses (a NIL host would mean group syntax),
//! the last Date/Subject/Message-ID/In-Reply-To field, all From/To/...
//! fields of a message joined, white space of subjects and display names
//! collapsed.

pub mod casemap;
pub mod crlf;
pub mod date;
pub mod decode;
pub mod header;
pub mod imap;
pub mod source;

use std::ops::Range;

use crate::limits::{MIME_DEPTH_MAX, MIME_HEADER_MAX, MIME_PARTS_MAX};
use header::Param;
use source::Source;

/// RFC 3501 6.4.5 `section`: which part of a message BODY[...] names.
/// `part` is the list of part numbers (empty = the whole message); `text`
/// the optional specifier after them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Section {
    pub part: Vec<u32>,
    pub text: Option<SectionText>,
}

/// RFC 3501 9 `section-msgtext` / `section-text`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SectionText {
    /// `HEADER`
    Header,
    /// `HEADER.FIELDS (...)` (`not` = false) or `HEADER.FIELDS.NOT (...)`.
    /// Field names as the client gave them; matched case-insensitively.
    HeaderFields { not: bool, fields: Vec<String> },
    /// `TEXT`
    Text,
    /// `MIME` (only after a part number)
    Mime,
}

/// Octets and lines of a piece of a message as IMAP counts them: every line
/// end as CRLF (a bare LF counts two octets), lines = line ends.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Size {
    pub octets: u64,
    pub lines: u64,
}

impl Size {
    /// The IMAP size of `raw[range]`.
    pub fn of(raw: &[u8], range: Range<usize>) -> Size {
        let s = raw.get(range).unwrap_or_default();
        crlf::crlf_size(s)
    }
}

/// What a part contains.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A leaf: its body is the content.
    Single,
    /// multipart/*: the body parts between the boundaries (the preamble and
    /// epilogue belong to no child). May be empty when no boundary was found.
    Multipart(Vec<Part>),
    /// message/rfc822 or message/global: the encapsulated message.
    Message(Box<Part>),
}

/// One node of the MIME tree. Ranges index the raw message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part {
    /// The header block, including the empty line that ends it (if any).
    pub header: Range<usize>,
    /// The body: everything after the header up to the line end before
    /// the next boundary line of an enclosing multipart (RFC 2046 5.1.1:
    /// that line end belongs to the boundary).
    pub body: Range<usize>,
    pub header_size: Size,
    pub body_size: Size,
    /// Media type and subtype as written in Content-Type (case kept), or
    /// the default (RFC 2045 5.2, RFC 2046 5.1.5).
    pub mime_type: Vec<u8>,
    pub subtype: Vec<u8>,
    /// Content-Type parameters, RFC 2231 reassembled. For a defaulted
    /// content type, `charset=us-ascii` as RFC 2045 5.2 says.
    pub params: Vec<Param>,
    /// Content-Transfer-Encoding token, if present.
    pub encoding: Option<Vec<u8>>,
    pub kind: Kind,
}

impl Part {
    /// The first Content-Type parameter `name` (case-insensitive), with
    /// RFC 2231 extended values decoded.
    pub fn param(&self, name: &str) -> Option<Vec<u8>> {
        let plain = self
            .params
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name.as_bytes()));
        if let Some(p) = plain {
            return Some(p.value.clone());
        }
        self.params
            .iter()
            .find(|p| {
                p.name.len() == name.len() + 1
                    && p.name.ends_with(b"*")
                    && p.name[..name.len()].eq_ignore_ascii_case(name.as_bytes())
            })
            .map(|p| header::param_text(p).into_bytes())
    }

    /// Content-Transfer-Encoding in lower case, `7bit` by default.
    pub fn encoding_lower(&self) -> Vec<u8> {
        self.encoding
            .as_deref()
            .unwrap_or(b"7bit")
            .to_ascii_lowercase()
    }

    pub fn is_type(&self, ty: &str, sub: &str) -> bool {
        self.mime_type.eq_ignore_ascii_case(ty.as_bytes())
            && self.subtype.eq_ignore_ascii_case(sub.as_bytes())
    }

    /// The header block of this part (its first `MIME_HEADER_MAX` octets):
    /// parse it with `header::fields(&h, 0..h.len())`; the fields' `raw`
    /// ranges are then relative to the block.
    pub fn header_bytes<'s, S: Source + ?Sized>(&self, raw: &'s S) -> std::borrow::Cow<'s, [u8]> {
        let end = self
            .header
            .end
            .min(self.header.start.saturating_add(MIME_HEADER_MAX));
        raw.octets(self.header.start..end)
    }
}

/// Parses the MIME structure of a whole message.
pub fn parse(raw: &[u8]) -> Part {
    parse_source(raw)
}

/// The same as `parse`, for a message in memory or read through a
/// bounded window (`source::FileSource`): memory stays constant whatever
/// the message's size, but for the tree itself.
pub fn parse_source<S: Source + ?Sized>(raw: &S) -> Part {
    let mut p = Parser {
        raw,
        boundaries: Vec::new(),
        parts: 0,
        sizes: crlf::SizeIndex::new(raw),
    };
    p.part(0, raw.len(), 0, false).0
}

/// Where a part's scan stopped: a boundary line of an enclosing multipart.
#[derive(Clone, Copy, Debug)]
struct Hit {
    /// Start of the boundary line.
    line: usize,
    /// Index into `Parser::boundaries`.
    which: usize,
    /// `--boundary--`
    close: bool,
    /// Start of the line after the boundary line.
    next: usize,
}

struct Parser<'a, S: Source + ?Sized> {
    raw: &'a S,
    /// Boundaries of the enclosing multiparts, outermost first.
    boundaries: Vec<Vec<u8>>,
    parts: usize,
    sizes: crlf::SizeIndex<'a, S>,
}

impl<S: Source + ?Sized> Parser<'_, S> {
    /// The position after the line end of the line at `pos`, or `end`.
    fn line_end(&self, pos: usize, end: usize) -> usize {
        self.raw.find(b'\n', pos..end).map_or(end, |i| i + 1)
    }

    /// If the line at `pos` is a boundary line of an enclosing multipart:
    /// the longest boundary that prefixes it, innermost on ties (RFC 2046
    /// 5.1.2 wants inner boundaries distinct; where they are prefixes of
    /// each other, the longest match is the one meant, as Dovecot does).
    fn boundary_at(&self, pos: usize, end: usize) -> Option<Hit> {
        // Only as much of the line as the longest boundary needs.
        let longest = self.boundaries.iter().map(Vec::len).max()?;
        let rest = self
            .raw
            .octets(pos..end.min(pos.saturating_add(longest + 4)));
        let after = rest.strip_prefix(b"--")?;
        let mut best: Option<usize> = None;
        for (i, b) in self.boundaries.iter().enumerate().rev() {
            if after.starts_with(b) && best.is_none_or(|j| self.boundaries[j].len() < b.len()) {
                best = Some(i);
            }
        }
        let which = best?;
        let blen = self.boundaries[which].len();
        let close = after.get(blen..blen + 2) == Some(b"--");
        Some(Hit {
            line: pos,
            which,
            close,
            next: self.line_end(pos, end),
        })
    }

    /// Scans lines from `pos` (a line start) for a boundary line.
    fn find_boundary(&self, mut pos: usize, end: usize) -> Option<Hit> {
        if self.boundaries.is_empty() {
            return None;
        }
        while pos < end {
            if let Some(h) = self.boundary_at(pos, end) {
                return Some(h);
            }
            pos = self.line_end(pos, end);
        }
        None
    }

    /// The end of content before a boundary line at `line`: the line end
    /// before it belongs to the boundary (RFC 2046 5.1.1), unless that
    /// line end is not part of this content (`min`).
    fn before(&self, line: usize, min: usize) -> usize {
        let mut e = line;
        if e > min && self.raw.byte(e - 1) == Some(b'\n') {
            e -= 1;
            if e > min && self.raw.byte(e - 1) == Some(b'\r') {
                e -= 1;
            }
        }
        e
    }

    /// Parses the part starting at `start` (header first) that runs to
    /// `end` or to the next boundary line of an enclosing multipart.
    fn part(
        &mut self,
        start: usize,
        end: usize,
        depth: usize,
        digest: bool,
    ) -> (Part, Option<Hit>) {
        self.parts += 1;
        // The header: up to and including the first empty line.
        let mut pos = start;
        let mut header_end = end;
        let mut stop = None;
        while pos < end {
            if let Some(h) = self.boundary_at(pos, end) {
                header_end = self.before(pos, start);
                stop = Some(h);
                break;
            }
            let next = self.line_end(pos, end);
            if next - pos <= 2 && header::is_blank(&self.raw.octets(pos..next)) {
                header_end = next;
                break;
            }
            pos = next;
        }
        let hdr = self
            .raw
            .octets(start..header_end.min(start.saturating_add(MIME_HEADER_MAX)));
        let fields = header::fields(&hdr, 0..hdr.len());
        let ct = header::first(&fields, "Content-Type").and_then(header::content_type);
        let (mime_type, subtype, mut params) = match ct {
            Some(t) => {
                let mut v = t.value.into_iter();
                (
                    v.next().unwrap_or_default(),
                    v.next().unwrap_or_default(),
                    t.params,
                )
            }
            None if digest => (b"message".to_vec(), b"rfc822".to_vec(), Vec::new()),
            None => (
                b"text".to_vec(),
                b"plain".to_vec(),
                vec![Param {
                    name: b"charset".to_vec(),
                    value: b"us-ascii".to_vec(),
                }],
            ),
        };
        // RFC 2045 5.2: text without a charset is us-ascii; IMAP servers
        // report it (Dovecot does).
        if mime_type.eq_ignore_ascii_case(b"text")
            && !params
                .iter()
                .any(|p| p.name.eq_ignore_ascii_case(b"charset"))
        {
            params.push(Param {
                name: b"charset".to_vec(),
                value: b"us-ascii".to_vec(),
            });
        }
        let encoding = header::first(&fields, "Content-Transfer-Encoding").and_then(header::token);
        let mut part = Part {
            header: start..header_end,
            body: header_end..header_end,
            header_size: self.sizes.size(start..header_end),
            body_size: Size::default(),
            mime_type,
            subtype,
            params,
            encoding,
            kind: Kind::Single,
        };
        let body_start = header_end;
        let mut body_end = end;
        let nested_ok = depth < MIME_DEPTH_MAX && self.parts < MIME_PARTS_MAX;
        if !nested_ok
            && (part.mime_type.eq_ignore_ascii_case(b"multipart")
                || part.mime_type.eq_ignore_ascii_case(b"message"))
        {
            // Beyond the limits a container is opaque text (limits.rs).
            part.mime_type = b"text".to_vec();
            part.subtype = b"plain".to_vec();
            part.params = vec![Param {
                name: b"charset".to_vec(),
                value: b"us-ascii".to_vec(),
            }];
        }
        let boundary = part.param("boundary").filter(|b| !b.is_empty());
        if stop.is_some() {
            body_end = body_start;
        } else if part.mime_type.eq_ignore_ascii_case(b"multipart")
            && nested_ok
            && boundary.is_none()
        {
            // No boundary: no body parts can be found (Dovecot does the same).
            part.kind = Kind::Multipart(Vec::new());
            if let Some(h) = self.find_boundary(body_start, end) {
                body_end = self.before(h.line, start);
                stop = Some(h);
            }
        } else if let Some(boundary) =
            boundary.filter(|_| part.mime_type.eq_ignore_ascii_case(b"multipart") && nested_ok)
        {
            let digest = part.subtype.eq_ignore_ascii_case(b"digest");
            self.boundaries.push(boundary);
            let own = self.boundaries.len() - 1;
            let mut children = Vec::new();
            let mut hit = self.find_boundary(body_start, end);
            loop {
                match hit {
                    None => break,
                    Some(h) if h.which != own => break,
                    Some(h) if h.close => {
                        // Epilogue: ends at an enclosing boundary or `end`.
                        self.boundaries.truncate(own);
                        hit = self.find_boundary(h.next, end);
                        break;
                    }
                    Some(h) => {
                        if self.parts >= MIME_PARTS_MAX {
                            // Too many parts: the rest is opaque.
                            hit = None;
                            break;
                        }
                        let (child, next) = self.part(h.next, end, depth + 1, digest);
                        children.push(child);
                        hit = next;
                    }
                }
            }
            self.boundaries.truncate(own);
            if let Some(h) = hit {
                body_end = self.before(h.line, start);
                stop = Some(h);
            }
            part.kind = Kind::Multipart(children);
        } else if (part.is_type("message", "rfc822") || part.is_type("message", "global"))
            && nested_ok
        {
            let (mut inner, next) = self.part(body_start, end, depth + 1, false);
            body_end = inner.body.end;
            if let Some(h) = next {
                // The line end before the boundary may be this part's
                // header's empty line; then the message is empty.
                let e = self.before(h.line, start);
                if e < body_start {
                    body_end = e;
                    inner.header = e..e;
                    inner.body = e..e;
                    inner.header_size = Size::default();
                    inner.body_size = Size::default();
                }
            }
            stop = next;
            part.kind = Kind::Message(Box::new(inner));
        } else if let Some(h) = self.find_boundary(body_start, end) {
            body_end = self.before(h.line, start);
            stop = Some(h);
        }
        // A boundary right after the header's empty line takes that line's
        // line end (RFC 2046 5.1.1): the header then has no empty line.
        let body_start = body_start.min(body_end);
        if body_start < part.header.end {
            part.header.end = body_start;
            part.header_size = self.sizes.size(part.header.clone());
        }
        part.body = body_start..body_end;
        part.body_size = self.sizes.size(body_start..body_end);
        (part, stop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mime::imap::{body_structure, envelope, section_bytes};

    /// Runs every output over `raw`: none may panic.
    fn exercise(raw: &[u8]) {
        let p = parse(raw);
        let mut o = Vec::new();
        envelope(&mut o, raw, &p);
        body_structure(&mut o, raw, &p, true);
        body_structure(&mut o, raw, &p, false);
        let _ = decode::body_text(raw, &p);
        for nums in [
            &[][..],
            &[1],
            &[1, 1],
            &[2],
            &[2, 1],
            &[3, 2, 1],
            &[u32::MAX],
            &[0],
        ] {
            for text in [
                None,
                Some(SectionText::Header),
                Some(SectionText::Text),
                Some(SectionText::Mime),
                Some(SectionText::HeaderFields {
                    not: true,
                    fields: vec!["subject".into()],
                }),
            ] {
                let s = Section {
                    part: nums.to_vec(),
                    text,
                };
                let _ = section_bytes(raw, &p, &s);
            }
        }
        // Ranges always lie inside the message and in order.
        fn check(p: &Part, len: usize) {
            assert!(p.header.start <= p.header.end && p.header.end <= p.body.start);
            assert!(p.body.start <= p.body.end && p.body.end <= len);
            match &p.kind {
                Kind::Multipart(ch) => ch.iter().for_each(|c| check(c, len)),
                Kind::Message(m) => check(m, len),
                Kind::Single => {}
            }
        }
        check(&p, raw.len());
    }

    #[test]
    fn mutated_messages_never_panic() {
        let base: &[u8] = b"From: \"A\" <a@b>\r\nContent-Type: multipart/mixed; boundary=\"x\"\r\n\r\npre\r\n--x\r\nContent-Type: message/rfc822\r\n\r\nSubject: (c) =?utf-8?q?x?=\r\nContent-Type: multipart/alternative; boundary=xy; a*0*=utf-8''%41; a*1=\"b\"\r\n\r\n--xy\r\n\r\n=C3=A9\r\n--xy--\r\n--x\r\nContent-Transfer-Encoding: base64\r\n\r\nAAEC\r\n--x--\r\n";
        let specials = b"\r\n\0-:;\"\\()<>@,=?*'%x\xff ";
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        // MIME_FUZZ_ITERS=1000000 cargo test --lib mutated for a longer run.
        let iters = std::env::var("MIME_FUZZ_ITERS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(3000);
        for _ in 0..iters {
            let mut m = base.to_vec();
            for _ in 0..(next() % 6 + 1) {
                let pos = (next() as usize) % (m.len() + 1);
                match next() % 3 {
                    0 if pos < m.len() => {
                        m.remove(pos);
                    }
                    1 if pos < m.len() => m[pos] = specials[(next() as usize) % specials.len()],
                    _ => m.insert(pos, specials[(next() as usize) % specials.len()]),
                }
            }
            exercise(&m);
            let cut = (next() as usize) % (m.len() + 1);
            exercise(&m[..cut]);
        }
    }

    #[test]
    fn deep_nesting_stops_at_the_limit() {
        // MIME_DEPTH_MAX + 20 levels of message/rfc822 in multipart.
        let mut raw = Vec::new();
        let levels = MIME_DEPTH_MAX + 20;
        for i in 0..levels {
            raw.extend_from_slice(format!("Content-Type: multipart/mixed; boundary=b{i}\n\n--b{i}\nContent-Type: message/rfc822\n\n").as_bytes());
        }
        raw.extend_from_slice(b"\ninnermost\n");
        for i in (0..levels).rev() {
            raw.extend_from_slice(format!("--b{i}--\n").as_bytes());
        }
        let p = parse(&raw);
        let mut depth = 0;
        let mut cur = &p;
        loop {
            match &cur.kind {
                Kind::Multipart(ch) => cur = &ch[0],
                Kind::Message(m) => cur = m,
                Kind::Single => break,
            }
            depth += 1;
        }
        assert_eq!(depth, MIME_DEPTH_MAX);
        assert!(cur.is_type("text", "plain"));
        exercise(&raw);
    }

    #[test]
    fn parts_limit() {
        let mut raw = b"Content-Type: multipart/mixed; boundary=b\n\n".to_vec();
        for _ in 0..MIME_PARTS_MAX + 10 {
            raw.extend_from_slice(b"--b\n\nx\n");
        }
        let p = parse(&raw);
        let Kind::Multipart(ch) = &p.kind else {
            panic!()
        };
        assert_eq!(ch.len(), MIME_PARTS_MAX - 1);
        // The rest is in the last part, opaque.
        assert!(p.body.end == raw.len());
    }

    #[test]
    fn sizes_count_crlf() {
        let raw = b"A: b\n\r\nline\nline2\r\nlast";
        let p = parse(raw);
        assert_eq!(p.header, 0..7);
        assert_eq!(
            p.header_size,
            Size {
                octets: 8,
                lines: 2
            }
        );
        assert_eq!(
            p.body_size,
            Size {
                octets: 17,
                lines: 2
            }
        );
        let empty = parse(b"");
        assert_eq!((empty.header, empty.body), (0..0, 0..0));
    }
}
