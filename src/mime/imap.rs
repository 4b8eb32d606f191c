//! IMAP views of a parsed message: ENVELOPE, BODY/BODYSTRUCTURE
//! (RFC 3501 7.4.2, 9) and `BODY[section]` octets (RFC 3501 6.4.5).
//!
//! Strings go out through `imap::response`; header values are sent raw
//! (encoded-words stay encoded), unfolded. Display names and subjects are
//! "for humans": runs of white space become one space and the ends are
//! trimmed, as Dovecot does; NUL, which no IMAP string may carry (RFC 3501
//! 9 CHAR8), becomes U+FFFD as in Dovecot 2.3 (the private encoder `text`
//! and helper `no_nul`).

use super::decode::Cte;
use super::header::{self, Field, Param};
use super::source::Source;
use super::{crlf, Kind, Part, Section, SectionText};
use crate::imap::response::string;

/// Header value as an IMAP string: the raw value (IMAP sends header
/// values as they are), unfolded (CR/LF removed), without the white space
/// after the colon, NUL replaced.
fn value_string(out: &mut Vec<u8>, v: Option<&[u8]>) {
    match v {
        None => out.extend_from_slice(b"NIL"),
        Some(v) => {
            // Blanks after the colon go; a value that starts on the next
            // line keeps that line's indentation (as Dovecot sends it).
            let start = v
                .iter()
                .position(|&c| c != b' ' && c != b'\t')
                .unwrap_or(v.len());
            let v = header::unfold(&v[start..]);
            if v.contains(&0) {
                string(out, &no_nul(&v));
            } else {
                string(out, &v);
            }
        }
    }
}

/// `v` with each NUL replaced by U+FFFD.
fn no_nul(v: &[u8]) -> Vec<u8> {
    let mut o = Vec::with_capacity(v.len());
    for &c in v {
        if c == 0 {
            o.extend_from_slice("\u{fffd}".as_bytes());
        } else {
            o.push(c);
        }
    }
    o
}

/// A string for humans: white space runs (SP, TAB, CR, LF) collapsed to
/// one space, leading and trailing white space removed, NUL as U+FFFD.
fn human(v: &[u8]) -> Vec<u8> {
    let mut o = Vec::with_capacity(v.len());
    let mut ws = false;
    for &c in v {
        match c {
            b' ' | b'\t' | b'\r' | b'\n' => ws = true,
            c => {
                if ws && !o.is_empty() {
                    o.push(b' ');
                }
                ws = false;
                if c == 0 {
                    o.extend_from_slice("\u{fffd}".as_bytes());
                } else {
                    o.push(c);
                }
            }
        }
    }
    o
}

fn text(out: &mut Vec<u8>, v: &[u8]) {
    string(out, &no_nul(v));
}

fn ntext(out: &mut Vec<u8>, v: Option<&[u8]>) {
    match v {
        Some(v) => text(out, v),
        None => out.extend_from_slice(b"NIL"),
    }
}

/// RFC 3501 7.4.2 ENVELOPE of the message whose header is `part.header`.
pub fn envelope<S: Source + ?Sized>(out: &mut Vec<u8>, raw: &S, part: &Part) {
    envelope_of_header(out, &part.header_bytes(raw));
}

/// ENVELOPE from a message's header block as `header::read_block` reads
/// it (what `envelope` takes from the parsed message): no MIME parse.
pub fn envelope_of_header(out: &mut Vec<u8>, h: &[u8]) {
    let fields = header::fields(h, 0..h.len());
    // A repeated Date, Subject, In-Reply-To or Message-ID: the last one
    // counts, as in Dovecot (RFC 5322 3.6 allows only one).
    let get = |name: &str| {
        fields
            .iter()
            .rev()
            .find(|f| f.name.eq_ignore_ascii_case(name.as_bytes()))
            .map(|f| f.value)
    };
    out.push(b'(');
    value_string(out, get("Date"));
    out.push(b' ');
    match get("Subject") {
        Some(s) => string(out, &human(s)),
        None => out.extend_from_slice(b"NIL"),
    }
    let from = get("From");
    for (name, default) in [
        ("From", None),
        ("Sender", from),
        ("Reply-To", from),
        ("To", None),
        ("Cc", None),
        ("Bcc", None),
    ] {
        out.push(b' ');
        // All fields of that name together: a message with two Cc: fields
        // has both lists' recipients.
        let mut named = fields
            .iter()
            .filter(|f| f.name.eq_ignore_ascii_case(name.as_bytes()))
            .map(|f| f.value);
        let list = match (named.next(), named.next()) {
            (None, _) => None,
            (Some(v), None) => Some(address::parse_list(v)),
            (Some(a), Some(b)) => {
                let mut v = [a, b].join(&b","[..]);
                for more in named {
                    v.push(b',');
                    v.extend_from_slice(more);
                }
                Some(address::parse_list(&v))
            }
        };
        let list = list.filter(|l| !l.is_empty());
        let list = match (list, default) {
            (Some(l), _) => Some(l),
            (None, Some(d)) => Some(address::parse_list(d)).filter(|l| !l.is_empty()),
            (None, None) => None,
        };
        match list {
            None => out.extend_from_slice(b"NIL"),
            Some(l) => address::write_list(out, &l),
        }
    }
    out.push(b' ');
    value_string(out, get("In-Reply-To"));
    out.push(b' ');
    value_string(out, get("Message-ID"));
    out.push(b')');
}

fn params(out: &mut Vec<u8>, ps: &[Param]) {
    if ps.is_empty() {
        out.extend_from_slice(b"NIL");
        return;
    }
    out.push(b'(');
    for (i, p) in ps.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        text(out, &p.name);
        out.push(b' ');
        text(out, &p.value);
    }
    out.push(b')');
}

/// RFC 3501 7.4.2 BODY (`extensible` = false) or BODYSTRUCTURE (true).
pub fn body_structure<S: Source + ?Sized>(
    out: &mut Vec<u8>,
    raw: &S,
    part: &Part,
    extensible: bool,
) {
    let h = part.header_bytes(raw);
    let fields = header::fields(&h, 0..h.len());
    let get = |name: &str| header::first(&fields, name);
    out.push(b'(');
    if let Kind::Multipart(children) = &part.kind {
        if children.is_empty() {
            // A multipart without body parts is not allowed (RFC 2046
            // 5.1.1 body-part count >= 1); present one empty text/plain
            // part, as Dovecot does, so clients get valid syntax.
            out.extend_from_slice(
                b"(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0",
            );
            if extensible {
                out.extend_from_slice(b" NIL NIL NIL NIL");
            }
            out.push(b')');
        }
        for c in children {
            body_structure(out, raw, c, extensible);
        }
        out.push(b' ');
        text(out, &part.subtype);
        if extensible {
            out.push(b' ');
            params(out, &part.params);
            extension(out, &fields);
        }
        out.push(b')');
        return;
    }
    if encapsulated(part).is_some() {
        // Fixed spelling, as RFC 3501 9 body-type-msg writes it.
        out.extend_from_slice(b"\"message\" \"rfc822\"");
    } else {
        text(out, &part.mime_type);
        out.push(b' ');
        text(out, &part.subtype);
    }
    out.push(b' ');
    params(out, &part.params);
    out.push(b' ');
    value_string(out, get("Content-ID"));
    out.push(b' ');
    value_string(out, get("Content-Description"));
    out.push(b' ');
    match &part.encoding {
        Some(e) => text(out, e),
        None => out.extend_from_slice(b"\"7bit\""),
    }
    out.extend_from_slice(format!(" {}", part.body_size.octets).as_bytes());
    if let Some(m) = encapsulated(part) {
        out.push(b' ');
        envelope(out, raw, m);
        out.push(b' ');
        body_structure(out, raw, m, extensible);
        out.extend_from_slice(format!(" {}", part.body_size.lines).as_bytes());
    } else if part.mime_type.eq_ignore_ascii_case(b"text") {
        out.extend_from_slice(format!(" {}", part.body_size.lines).as_bytes());
    }
    if extensible {
        out.push(b' ');
        value_string(out, get("Content-MD5"));
        extension(out, &fields);
    }
    out.push(b')');
}

/// body-ext-1part / body-ext-mpart after md5 or params: disposition,
/// language, location.
fn extension(out: &mut Vec<u8>, fields: &[Field<'_>]) {
    out.push(b' ');
    match header::first(fields, "Content-Disposition").and_then(header::disposition) {
        Some(d) => {
            out.push(b'(');
            text(out, d.value.first().map_or(&b""[..], |v| v));
            out.push(b' ');
            params(out, &d.params);
            out.push(b')');
        }
        None => out.extend_from_slice(b"NIL"),
    }
    out.push(b' ');
    let lang = header::first(fields, "Content-Language")
        .map(header::language)
        .unwrap_or_default();
    // Always the list form of body-fld-lang, even for one tag (Dovecot).
    match lang.as_slice() {
        [] => out.extend_from_slice(b"NIL"),
        many => {
            out.push(b'(');
            for (i, l) in many.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                text(out, l);
            }
            out.push(b')');
        }
    }
    out.push(b' ');
    // RFC 3986 appendix C: white space in a URI taken from text (here
    // from folding, RFC 2557 4.4.1) is not part of it.
    let loc = header::first(fields, "Content-Location").map(|v| {
        let v = header::unfold(v);
        v.iter()
            .filter(|c| !c.is_ascii_whitespace())
            .copied()
            .collect::<Vec<u8>>()
    });
    ntext(out, loc.as_deref().filter(|v| !v.is_empty()));
}

/// The BODYSTRUCTURE of the part that section numbers `nums` name (RFC
/// 5524 BODYPARTSTRUCTURE); false when there is no such part.
pub fn part_structure<S: Source + ?Sized>(
    out: &mut Vec<u8>,
    raw: &S,
    root: &Part,
    nums: &[u32],
) -> bool {
    match resolve(root, nums) {
        Some((p, _)) => {
            body_structure(out, raw, p, true);
            true
        }
        None => false,
    }
}

/// Finds the part that section numbers `nums` name (RFC 3501 6.4.5). The
/// bool says whether the result is a message (the top level, or the
/// message inside a message/rfc822 part) rather than a body part.
fn resolve<'p>(root: &'p Part, nums: &[u32]) -> Option<(&'p Part, bool)> {
    let mut cur = root;
    for (i, &n) in nums.iter().enumerate() {
        if i > 0 {
            if let Some(m) = encapsulated(cur) {
                cur = m;
            }
        }
        let idx = usize::try_from(n).ok()?.checked_sub(1)?;
        match &cur.kind {
            Kind::Multipart(ch) if !ch.is_empty() => cur = ch.get(idx)?,
            // Part 1 of a non-multipart message is its body. RFC 3501 says
            // nothing of `1.1` where part 1 is not a message: like
            // Dovecot, 1 names the part itself, other numbers nothing.
            _ if idx == 0 => {}
            _ => return None,
        }
    }
    Some((cur, nums.is_empty()))
}

/// The encapsulated message of a message/rfc822 part. message/global
/// (RFC 6532 3.7) is parsed as a message too, for SEARCH, but IMAP4rev1
/// knows only MESSAGE/RFC822 as a message (RFC 3501 9 media-message), so
/// its BODYSTRUCTURE and section numbers are those of a basic part, as
/// with Dovecot.
fn encapsulated(p: &Part) -> Option<&Part> {
    match &p.kind {
        Kind::Message(m) if p.is_type("message", "rfc822") => Some(m),
        _ => None,
    }
}

/// Where the octets of a `BODY[section]` are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Located {
    /// One range of the raw message: stream it through
    /// `crlf::CrlfReader`; its IMAP length is `Size::of(raw, range)`.
    Range(std::ops::Range<usize>),
    /// HEADER.FIELDS[.NOT]: a selection of lines, use `section_bytes`.
    Fields,
    /// No such part (the server sends `""`).
    Missing,
}

/// Locates `BODY[section]` without copying it, so the server can stream
/// the sections of huge messages.
pub fn locate(part: &Part, section: &Section) -> Located {
    let Some((p, is_msg)) = resolve(part, &section.part) else {
        return Located::Missing;
    };
    let msg = if is_msg { Some(p) } else { encapsulated(p) };
    let range = match &section.text {
        None if section.part.is_empty() => Some(p.header.start..p.body.end),
        None => Some(p.body.clone()),
        Some(SectionText::Mime) if section.part.is_empty() => None,
        Some(SectionText::Mime) => Some(p.header.clone()),
        Some(SectionText::Header) => msg.map(|m| m.header.clone()),
        Some(SectionText::Text) => msg.map(|m| m.body.clone()),
        Some(SectionText::HeaderFields { .. }) if msg.is_some() => return Located::Fields,
        Some(SectionText::HeaderFields { .. }) => None,
    };
    range.map_or(Located::Missing, Located::Range)
}

/// Where the content of RFC 3516 `BINARY[part]` is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BinaryLocated {
    /// The raw range and the encoding to take off (`decode::each_binary`).
    Range(std::ops::Range<usize>, Cte),
    /// The part's Content-Transfer-Encoding is one we cannot decode.
    UnknownCte,
    /// No such part (the server sends `""`, as for BODY).
    Missing,
}

/// Locates `BINARY[part]`: a part's body (part 1 of a non-multipart
/// message being its body, as for BODY). `BINARY[]`, the whole message, is
/// its octets as they are: its header names the transfer encoding of its
/// body, which decoding the body alone would make false. A multipart or
/// message part is its body as it is (RFC 2045 6.4 allows it no
/// encoding), as RFC 9051 6.4.5 leaves BINARY of a non-leaf part to the
/// server.
pub fn locate_binary(part: &Part, nums: &[u32]) -> BinaryLocated {
    if nums.is_empty() {
        return BinaryLocated::Range(part.header.start..part.body.end, Cte::Identity);
    }
    let Some((p, _)) = resolve(part, nums) else {
        return BinaryLocated::Missing;
    };
    match Cte::of(p) {
        Some(cte) => BinaryLocated::Range(p.body.clone(), cte),
        None => BinaryLocated::UnknownCte,
    }
}

/// The octets of `BODY[section]`, every line end as CRLF. None when the
/// section does not exist (the caller sends `""`).
pub fn section_bytes(raw: &[u8], part: &Part, section: &Section) -> Option<Vec<u8>> {
    match locate(part, section) {
        Located::Range(r) => raw.get(r).map(crlf::to_crlf),
        Located::Missing => None,
        Located::Fields => header_fields(raw, part, section),
    }
}

/// HEADER.FIELDS and HEADER.FIELDS.NOT of `section` (`locate` said
/// `Fields`), from a message in memory or a file: bounded by the header.
pub fn section_fields<S: Source + ?Sized>(
    raw: &S,
    part: &Part,
    section: &Section,
) -> Option<Vec<u8>> {
    match locate(part, section) {
        Located::Range(_) => None,
        Located::Missing => None,
        Located::Fields => header_fields(raw, part, section),
    }
}

/// HEADER.FIELDS and HEADER.FIELDS.NOT: the selected fields in message
/// order.
fn header_fields<S: Source + ?Sized>(raw: &S, part: &Part, section: &Section) -> Option<Vec<u8>> {
    let Some(SectionText::HeaderFields { not, fields }) = &section.text else {
        return None;
    };
    let (p, is_msg) = resolve(part, &section.part)?;
    let m = if is_msg { p } else { encapsulated(p)? };
    let mut out = Vec::new();
    let h = m.header_bytes(raw);
    for f in header::fields(&h, 0..h.len()) {
        let listed = fields
            .iter()
            .any(|n| n.as_bytes().eq_ignore_ascii_case(f.name));
        if listed != *not {
            let mut bytes = crlf::to_crlf(h.get(f.raw.clone()).unwrap_or_default());
            if !bytes.ends_with(b"\n") {
                bytes.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(&bytes);
        }
    }
    // RFC 3501 6.4.5: the blank line is included in all header
    // fetches, except for a message with no body and no blank line.
    let h = raw.octets(m.header.end.saturating_sub(3).max(m.header.start)..m.header.end);
    let h: &[u8] = &h;
    if !m.body.is_empty()
        || h.ends_with(b"\n\n")
        || h.ends_with(b"\n\r\n")
        || h == b"\n"
        || h == b"\r\n"
    {
        out.extend_from_slice(b"\r\n");
    }
    Some(out)
}

/// RFC 5322 3.4 address lists, read the way IMAP servers present them in
/// ENVELOPE (RFC 3501 7.4.2).
pub mod address {
    use super::{human, ntext, string};

    /// One envelope address, or a group start (`mailbox` = group name,
    /// `host` None) or group end (all None).
    #[derive(Clone, Debug, Default, PartialEq, Eq)]
    pub struct Address {
        pub name: Option<Vec<u8>>,
        pub route: Option<Vec<u8>>,
        pub mailbox: Option<Vec<u8>>,
        pub host: Option<Vec<u8>>,
    }

    impl Address {
        /// The mailbox as ENVELOPE shows it, and SORT compares it (RFC
        /// 5256: the addr-mailbox of the address). RFC 3501 7.4.2: NIL
        /// host means group syntax, so a mailbox without a domain (or
        /// without a local part) gets a visible placeholder instead, as
        /// Dovecot sends.
        pub fn shown_mailbox(&self) -> Option<&[u8]> {
            let group = self.host.is_none() && self.name.is_none() && self.route.is_none();
            match &self.mailbox {
                Some(m) if m.is_empty() && !group => Some(&b"MISSING_MAILBOX"[..]),
                m => m.as_deref(),
            }
        }
    }

    pub fn write_list(out: &mut Vec<u8>, list: &[Address]) {
        out.push(b'(');
        for a in list {
            out.push(b'(');
            match &a.name {
                Some(n) => string(out, &human(n)),
                None => out.extend_from_slice(b"NIL"),
            }
            out.push(b' ');
            ntext(out, a.route.as_deref());
            out.push(b' ');
            ntext(out, a.shown_mailbox());
            out.push(b' ');
            ntext(out, a.host.as_deref());
            out.push(b')');
        }
        out.push(b')');
    }

    struct P<'a> {
        s: &'a [u8],
        pos: usize,
        /// Text of the last comment skipped.
        comment: Option<Vec<u8>>,
        /// The last local part read was a quoted string.
        quoted_local: bool,
    }

    fn is_atext(c: u8) -> bool {
        c.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&c) || c >= 0x80
    }

    impl P<'_> {
        fn peek(&self) -> Option<u8> {
            self.s.get(self.pos).copied()
        }

        fn cfws(&mut self) {
            loop {
                match self.peek() {
                    Some(b' ' | b'\t' | b'\r' | b'\n') => self.pos += 1,
                    Some(b'(') => {
                        let mut depth = 0usize;
                        let mut text = Vec::new();
                        while let Some(c) = self.peek() {
                            self.pos += 1;
                            match c {
                                b'\\' => {
                                    if let Some(e) = self.peek() {
                                        self.pos += 1;
                                        text.push(e);
                                    }
                                }
                                b'(' => {
                                    if depth > 0 {
                                        text.push(c);
                                    }
                                    depth += 1;
                                }
                                b')' => {
                                    depth -= 1;
                                    if depth == 0 {
                                        break;
                                    }
                                    text.push(c);
                                }
                                b'\r' | b'\n' => {}
                                _ => text.push(c),
                            }
                        }
                        self.comment = Some(text);
                    }
                    _ => return,
                }
            }
        }

        fn quoted(&mut self, out: &mut Vec<u8>) {
            self.pos += 1;
            while let Some(c) = self.peek() {
                self.pos += 1;
                match c {
                    b'"' => return,
                    b'\\' => {
                        if let Some(e) = self.peek() {
                            self.pos += 1;
                            out.push(e);
                        }
                    }
                    b'\r' | b'\n' => {}
                    _ => out.push(c),
                }
            }
        }

        /// atext and dots.
        fn atom_or_dot(&mut self, out: &mut Vec<u8>) -> bool {
            let start = self.pos;
            while let Some(c) = self.peek() {
                if is_atext(c) || c == b'.' {
                    out.push(c);
                    self.pos += 1;
                } else {
                    break;
                }
            }
            self.pos > start
        }

        /// RFC 5322 phrase (obs-phrase: dots allowed), words separated by
        /// one space.
        fn phrase(&mut self) -> Vec<u8> {
            let mut out = Vec::new();
            loop {
                self.cfws();
                let start = out.len();
                if start > 0 {
                    out.push(b' ');
                }
                let ok = match self.peek() {
                    Some(b'"') => {
                        self.quoted(&mut out);
                        true
                    }
                    _ => self.atom_or_dot(&mut out),
                };
                if !ok {
                    out.truncate(start);
                    return out;
                }
            }
        }

        /// dot-atom or quoted-string local part / domain: pieces joined
        /// by dots, CFWS dropped.
        fn dot_atom(&mut self, out: &mut Vec<u8>) {
            loop {
                self.cfws();
                match self.peek() {
                    Some(b'"') => {
                        // A quoted local part is sent as its value,
                        // unquoted (as Dovecot does).
                        self.quoted(out);
                        self.quoted_local = true;
                    }
                    Some(b'[') => {
                        // domain-literal
                        while let Some(c) = self.peek() {
                            self.pos += 1;
                            if c != b'\r' && c != b'\n' {
                                out.push(c);
                            }
                            if c == b']' {
                                break;
                            }
                        }
                    }
                    _ => {
                        if !self.atom_or_dot(out) {
                            return;
                        }
                    }
                }
                self.cfws();
                // obs-local-part / obs-domain (RFC 5322 4.4): CFWS may
                // surround the dots.
                if !matches!(self.peek(), Some(b'.' | b'"')) && !out.ends_with(b".") {
                    return;
                }
            }
        }

        /// `local@domain` into the address.
        fn addr_spec(&mut self, a: &mut Address) {
            let mut local = Vec::new();
            self.quoted_local = false;
            self.dot_atom(&mut local);
            self.cfws();
            let mut dom = Vec::new();
            if self.peek() == Some(b'@') {
                self.pos += 1;
                self.dot_atom(&mut dom);
            } else if self.quoted_local && a.name.is_none() && local.contains(&b' ') {
                // `"just a name"`: a display name without an address.
                a.name = Some(std::mem::take(&mut local));
            }
            a.mailbox = Some(local);
            a.host = Some(if dom.is_empty() {
                b"MISSING_DOMAIN".to_vec()
            } else {
                dom
            });
        }

        /// `<[route:]addr-spec>`; the `<` is next.
        fn angle(&mut self, a: &mut Address) {
            self.pos += 1;
            self.cfws();
            if self.peek() == Some(b'@') {
                // obs-route: @a,@b:
                let start = self.pos;
                while let Some(c) = self.peek() {
                    if c == b':' || c == b'>' {
                        break;
                    }
                    self.pos += 1;
                }
                let route: Vec<u8> = self.s[start..self.pos]
                    .iter()
                    .filter(|c| !c.is_ascii_whitespace())
                    .copied()
                    .collect();
                // obs-route = obs-domain-list ":", each "@" domain.
                let valid = route
                    .split(|&c| c == b',')
                    .all(|d| d.len() > 1 && d.first() == Some(&b'@') && !d[1..].contains(&b'@'));
                a.route = Some(if valid {
                    route
                } else {
                    b"INVALID_ROUTE".to_vec()
                });
                if self.peek() == Some(b':') {
                    self.pos += 1;
                }
            }
            self.addr_spec(a);
            self.cfws();
            if self.peek() != Some(b'>') {
                // Garbage or no closing bracket: Dovecot's marker.
                a.host = Some(b"SYNTAX_ERROR".to_vec());
            }
            // Skip to the closing bracket.
            while let Some(c) = self.peek() {
                self.pos += 1;
                if c == b'>' {
                    break;
                }
            }
        }

        /// One mailbox (name-addr or addr-spec), `None` if there is none.
        fn mailbox(&mut self) -> Option<Address> {
            let start = self.pos;
            self.comment = None;
            let name = self.phrase();
            self.cfws();
            let mut a = Address::default();
            let angle = self.peek() == Some(b'<');
            if angle {
                a.name = Some(name).filter(|n| !n.is_empty());
                self.angle(&mut a);
            } else {
                self.pos = start;
                self.cfws();
                if matches!(self.peek(), None | Some(b',' | b';')) {
                    return None;
                }
                // `addr (Name)`: the last comment is the name.
                self.comment = None;
                self.addr_spec(&mut a);
            }
            self.cfws();
            // A comment names only a bare addr-spec; in or after `<...>` it
            // is just CFWS (RFC 5322 3.4; Dovecot reads it the same way).
            if a.name.is_none() && !angle {
                a.name = self.comment.take().filter(|c| !c.is_empty());
            }
            Some(a)
        }

        /// Skips to just past the next `,` (or `;` in a group).
        fn skip_to_sep(&mut self, in_group: bool) {
            while let Some(c) = self.peek() {
                match c {
                    b',' => {
                        self.pos += 1;
                        return;
                    }
                    b';' if in_group => return,
                    b'"' => {
                        let mut d = Vec::new();
                        self.quoted(&mut d);
                    }
                    b'(' => self.cfws(),
                    _ => self.pos += 1,
                }
            }
        }

        /// Is the next thing `phrase ":"` (a group)?
        fn group_name(&mut self) -> Option<Vec<u8>> {
            let start = self.pos;
            let name = self.phrase();
            self.cfws();
            if self.peek() == Some(b':') {
                self.pos += 1;
                return Some(name);
            }
            self.pos = start;
            None
        }
    }

    /// Parses an address-list header value. Unparseable pieces are
    /// skipped; the result may be empty.
    pub fn parse_list(v: &[u8]) -> Vec<Address> {
        let mut p = P {
            s: v,
            pos: 0,
            comment: None,
            quoted_local: false,
        };
        let mut out = Vec::new();
        loop {
            p.cfws();
            let Some(c) = p.peek() else { break };
            if c == b',' {
                p.pos += 1;
                continue;
            }
            let before = p.pos;
            if let Some(g) = p.group_name() {
                out.push(Address {
                    mailbox: Some(g),
                    ..Address::default()
                });
                loop {
                    p.cfws();
                    match p.peek() {
                        None => break,
                        Some(b';') => {
                            p.pos += 1;
                            break;
                        }
                        Some(b',') => p.pos += 1,
                        Some(_) => {
                            let at = p.pos;
                            if let Some(a) = p.mailbox() {
                                out.push(a);
                            }
                            if p.pos == at {
                                p.pos += 1;
                            }
                            p.cfws();
                            if !matches!(p.peek(), None | Some(b';' | b',')) {
                                p.skip_to_sep(true);
                            }
                        }
                    }
                }
                out.push(Address::default());
            } else {
                if let Some(a) = p.mailbox() {
                    out.push(a);
                }
                p.cfws();
                if p.peek() != Some(b',') {
                    p.skip_to_sep(false);
                }
            }
            if p.pos == before {
                p.pos += 1;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mime::parse;

    fn env(raw: &[u8]) -> String {
        let mut o = Vec::new();
        envelope(&mut o, raw, &parse(raw));
        String::from_utf8_lossy(&o).into_owned()
    }

    fn bs(raw: &[u8], ext: bool) -> String {
        let mut o = Vec::new();
        body_structure(&mut o, raw, &parse(raw), ext);
        String::from_utf8_lossy(&o).into_owned()
    }

    fn sec(raw: &[u8], nums: &[u32], text: Option<SectionText>) -> Option<String> {
        let s = Section {
            part: nums.to_vec(),
            text,
        };
        section_bytes(raw, &parse(raw), &s).map(|v| String::from_utf8_lossy(&v).into_owned())
    }

    /// Which comment is a name: only one in or after a bare addr-spec;
    /// with `<...>` comments are white space (Dovecot's ENVELOPE too).
    #[test]
    fn comment_names_only_a_bare_addr_spec() {
        let names = |v: &[u8]| -> Vec<Option<Vec<u8>>> {
            address::parse_list(v).into_iter().map(|a| a.name).collect()
        };
        assert_eq!(names(b"a@b.c (Name2)"), [Some(b"Name2".to_vec())]);
        assert_eq!(names(b"a(N6)@b.c"), [Some(b"N6".to_vec())]);
        assert_eq!(names(b"<a@b.c> (Name1)"), [None]);
        assert_eq!(names(b"(N5) <a@b.c>"), [None]);
        assert_eq!(names(b"<a (x) @b.c>"), [None]);
        assert_eq!(names(b"<user (c)@ (c) domain.org>"), [None]);
    }

    #[test]
    fn envelope_basic_and_groups() {
        let raw = b"Date: Fri, 5 Jan 2001\r\n 12:00:00 +0000\r\nSubject: =?utf-8?Q?hi?=  there\r\nFrom: \"Doe, J.\" <j@x.org> (cmt)\r\nTo: A Group:a@b.c, B <b@d>;, z@y\r\nCc: undisclosed-recipients:;\r\nMessage-ID: <1@x>\r\n\r\n";
        assert_eq!(env(raw), "(\"Fri, 5 Jan 2001 12:00:00 +0000\" \"=?utf-8?Q?hi?= there\" \
            ((\"Doe, J.\" NIL \"j\" \"x.org\")) ((\"Doe, J.\" NIL \"j\" \"x.org\")) ((\"Doe, J.\" NIL \"j\" \"x.org\")) \
            ((NIL NIL \"A Group\" NIL)(NIL NIL \"a\" \"b.c\")(\"B\" NIL \"b\" \"d\")(NIL NIL NIL NIL)(NIL NIL \"z\" \"y\")) \
            ((NIL NIL \"undisclosed-recipients\" NIL)(NIL NIL NIL NIL)) NIL NIL \"<1@x>\")");
        assert_eq!(env(b""), "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
        assert_eq!(
            env(b"From: a@b (Real Name)\nSender: <@r1,@r2:s@t>\n"),
            "(NIL NIL ((\"Real Name\" NIL \"a\" \"b\")) ((NIL \"@r1,@r2\" \"s\" \"t\")) ((\"Real Name\" NIL \"a\" \"b\")) NIL NIL NIL NIL NIL)"
        );
        // Three Cc: fields are one list; an empty Reply-To falls back to
        // From; a NUL in a value is U+FFFD (then not ASCII: a literal).
        let mut o = Vec::new();
        envelope_of_header(
            &mut o,
            b"From: f@g\nReply-To:\nCc: a@b\nCc: c@d, e@f\ncc: h@i\nMessage-ID: <x\0y>\n\n",
        );
        assert_eq!(
            String::from_utf8_lossy(&o),
            "(NIL NIL ((NIL NIL \"f\" \"g\")) ((NIL NIL \"f\" \"g\")) ((NIL NIL \"f\" \"g\")) NIL \
             ((NIL NIL \"a\" \"b\")(NIL NIL \"c\" \"d\")(NIL NIL \"e\" \"f\")(NIL NIL \"h\" \"i\")) NIL NIL {7}\r\n<x\u{fffd}y>)"
        );
    }

    const NESTED: &[u8] = b"From: a@b\nContent-Type: multipart/mixed; boundary=\"outer\"\n\npreamble\n--outer\nContent-Type: text/plain; charset=utf-8\n\nhello\n--outer\nContent-Type: multipart/alternative; boundary=outerinner\n\n--outerinner\n\nalt1\n--outerinner\nContent-Type: text/html\n\n<p>x</p>\n--outerinner--\nepi\n--outer\nContent-Type: message/rfc822\n\nSubject: inner\nContent-Type: multipart/mixed; boundary=x\n\n--x\n\nin1\n--x--\n--outer--\nepilogue\n";

    #[test]
    fn nested_multiparts_with_prefix_boundaries() {
        assert_eq!(
            bs(NESTED, false),
            "((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 5 0)\
             ((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 4 0)\
             (\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 8 0) \"alternative\")\
             (\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 78 \
             (NIL \"inner\" NIL NIL NIL NIL NIL NIL NIL NIL) \
             ((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 3 0) \"mixed\") 6) \"mixed\")"
        );
        assert_eq!(sec(NESTED, &[2, 2], None).as_deref(), Some("<p>x</p>"));
        assert_eq!(
            sec(NESTED, &[2, 2], Some(SectionText::Mime)).as_deref(),
            Some("Content-Type: text/html\r\n\r\n")
        );
        assert_eq!(sec(NESTED, &[3, 1], None).as_deref(), Some("in1"));
        assert_eq!(
            sec(NESTED, &[3], Some(SectionText::Header)).as_deref(),
            Some("Subject: inner\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n")
        );
        assert_eq!(
            sec(NESTED, &[3], Some(SectionText::Text)).as_deref(),
            Some("--x\r\n\r\nin1\r\n--x--")
        );
        assert_eq!(sec(NESTED, &[3, 2], None), None);
        assert_eq!(sec(NESTED, &[4], None), None);
        // Dovecot's reading of `1.1` for a part 1 that is not a message.
        assert_eq!(sec(NESTED, &[1, 1], None).as_deref(), Some("hello"));
        assert_eq!(sec(NESTED, &[1, 2], None), None);
        assert_eq!(sec(NESTED, &[0], None), None);
        assert_eq!(
            sec(
                NESTED,
                &[],
                Some(SectionText::HeaderFields {
                    not: false,
                    fields: vec!["content-type".into(), "X".into()]
                })
            )
            .as_deref(),
            Some("Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n")
        );
        assert_eq!(
            sec(
                NESTED,
                &[],
                Some(SectionText::HeaderFields {
                    not: true,
                    fields: vec!["content-type".into()]
                })
            )
            .as_deref(),
            Some("From: a@b\r\n\r\n")
        );
    }

    #[test]
    fn lf_and_crlf_give_identical_output() {
        let crlf = crlf::to_crlf(NESTED);
        assert_eq!(bs(NESTED, true), bs(&crlf, true));
        assert_eq!(env(NESTED), env(&crlf));
        for nums in [&[][..], &[1], &[2], &[2, 1], &[3], &[3, 1]] {
            for t in [
                None,
                Some(SectionText::Mime),
                Some(SectionText::Header),
                Some(SectionText::Text),
            ] {
                assert_eq!(
                    sec(NESTED, nums, t.clone()),
                    sec(&crlf, nums, t),
                    "{nums:?}"
                );
            }
        }
    }

    /// The FETCH response items the session builds from these functions.
    fn fetch(raw: &[u8], items: &[&str]) -> String {
        let p = parse(raw);
        let mut o = b"* 1 FETCH (".to_vec();
        for (i, it) in items.iter().enumerate() {
            if i > 0 {
                o.push(b' ');
            }
            o.extend_from_slice(it.as_bytes());
            o.push(b' ');
            match *it {
                "ENVELOPE" => envelope(&mut o, raw, &p),
                "BODY" => body_structure(&mut o, raw, &p, false),
                "BODYSTRUCTURE" => body_structure(&mut o, raw, &p, true),
                _ => unreachable!(),
            }
        }
        o.extend_from_slice(b")\r\n");
        String::from_utf8_lossy(&o).into_owned()
    }

    #[test]
    fn transcript_fetch() {
        let raw = b"Date: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\r\n\
            From: Terry Gray <gray@cac.washington.edu>\r\n\
            Subject: IMAP4rev1 WG mtg summary and minutes\r\n\
            To: imap@cac.washington.edu\r\n\
            cc: minutes@CNRI.Reston.VA.US, John Klensin <KLENSIN@MIT.EDU>\r\n\
            Message-Id: <B27397-0100000@cac.washington.edu>\r\n\
            MIME-Version: 1.0\r\n\
            Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n\r\n\
            body\r\n";
        // C: a1 FETCH 1 (ENVELOPE BODY) -- the example of RFC 3501 8.
        assert_eq!(
            fetch(raw, &["ENVELOPE", "BODY"]),
            "* 1 FETCH (ENVELOPE (\"Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\" \
             \"IMAP4rev1 WG mtg summary and minutes\" \
             ((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) \
             ((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) \
             ((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) \
             ((NIL NIL \"imap\" \"cac.washington.edu\")) \
             ((NIL NIL \"minutes\" \"CNRI.Reston.VA.US\")\
             (\"John Klensin\" NIL \"KLENSIN\" \"MIT.EDU\")) NIL NIL \
             \"<B27397-0100000@cac.washington.edu>\") \
             BODY (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7bit\" 6 1))\r\n"
        );
        // C: a2 FETCH 1 (BODYSTRUCTURE)
        assert_eq!(
            fetch(raw, &["BODYSTRUCTURE"]),
            "* 1 FETCH (BODYSTRUCTURE (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7bit\" 6 1 NIL NIL NIL NIL))\r\n"
        );
    }

    #[test]
    fn located_ranges_stream_like_section_bytes() {
        use std::io::Read;
        let p = parse(NESTED);
        for nums in [&[][..], &[1], &[2], &[2, 1], &[2, 2], &[3], &[3, 1], &[9]] {
            for text in [
                None,
                Some(SectionText::Mime),
                Some(SectionText::Header),
                Some(SectionText::Text),
            ] {
                let s = Section {
                    part: nums.to_vec(),
                    text,
                };
                let streamed = match locate(&p, &s) {
                    Located::Range(r) => {
                        let mut v = Vec::new();
                        crlf::CrlfReader::new(&NESTED[r.clone()])
                            .read_to_end(&mut v)
                            .unwrap();
                        assert_eq!(v.len() as u64, crate::mime::Size::of(NESTED, r).octets);
                        Some(v)
                    }
                    Located::Missing => None,
                    Located::Fields => unreachable!(),
                };
                assert_eq!(streamed, section_bytes(NESTED, &p, &s), "{s:?}");
            }
        }
        let s = Section {
            part: vec![3],
            text: Some(SectionText::HeaderFields {
                not: false,
                fields: vec![],
            }),
        };
        assert_eq!(locate(&p, &s), Located::Fields);
        let s = Section {
            part: vec![1],
            text: Some(SectionText::HeaderFields {
                not: false,
                fields: vec![],
            }),
        };
        assert_eq!(locate(&p, &s), Located::Missing);
    }

    #[test]
    fn single_part_sections() {
        let raw = b"Subject: x\n\nline1\nline2";
        assert_eq!(sec(raw, &[1], None).as_deref(), Some("line1\r\nline2"));
        assert_eq!(
            sec(raw, &[], Some(SectionText::Text)).as_deref(),
            Some("line1\r\nline2")
        );
        assert_eq!(
            sec(raw, &[1], Some(SectionText::Mime)).as_deref(),
            Some("Subject: x\r\n\r\n")
        );
        assert_eq!(sec(raw, &[2], None), None);
        assert_eq!(sec(raw, &[1, 1], None).as_deref(), Some("line1\r\nline2"));
        assert_eq!(sec(raw, &[1, 2], None), None);
        assert_eq!(
            bs(raw, true),
            "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 12 1 NIL NIL NIL NIL)"
        );
    }

    #[test]
    fn broken_mime_gives_structure() {
        // Boundary never appears: a multipart without parts.
        let raw = b"Content-Type: multipart/mixed; boundary=zz\n\nno parts\n";
        assert_eq!(
            bs(raw, false),
            "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0) \"mixed\")"
        );
        // No close delimiter: the last part runs to the end.
        let raw = b"Content-Type: multipart/mixed; boundary=zz\n\n--zz\n\nabc\n";
        assert_eq!(
            bs(raw, false),
            "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 5 1) \"mixed\")"
        );
        // Header without body, NUL bytes and 8-bit octets in the header.
        let raw = b"Subject: a\0b\xe9\nContent-Type: text/plain; name=\"\xe9\"";
        let mut o = Vec::new();
        envelope(&mut o, &raw[..], &parse(raw));
        assert_eq!(
            o,
            b"(NIL {6}\r\na\xef\xbf\xbdb\xe9 NIL NIL NIL NIL NIL NIL NIL NIL)"
        );
        let p = parse(raw);
        assert_eq!(p.body, raw.len()..raw.len());
        // Garbage never panics.
        for raw in [
            &b""[..],
            b"\n",
            b"\r\n\r\n",
            b"--",
            b":\n\n--",
            b"Content-Type: multipart/x; boundary=\"\"\n\n--\n",
        ] {
            let p = parse(raw);
            let mut o = Vec::new();
            body_structure(&mut o, raw, &p, true);
            envelope(&mut o, raw, &p);
        }
    }

    #[test]
    fn rfc2231_in_bodystructure() {
        let raw = b"Content-Type: application/octet-stream;\n name*0*=utf-8''%E2%82;\n name*1*=%AC.txt\nContent-Disposition: attachment; filename*=\"utf-8''a%20b\"\nContent-Language: en, de\n\nx";
        assert_eq!(bs(raw, true), "(\"application\" \"octet-stream\" (\"name*\" \"utf-8''%E2%82%AC.txt\") NIL NIL \"7bit\" 1 NIL (\"attachment\" (\"filename*\" \"utf-8''a%20b\")) (\"en\" \"de\") NIL)");
        assert_eq!(
            parse(raw).param("name"),
            Some("\u{20ac}.txt".as_bytes().to_vec())
        );
    }

    #[test]
    fn digest_defaults_to_message_rfc822() {
        let raw = b"Content-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: s\n\nb\n--d--\n";
        assert_eq!(bs(raw, false), "((\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 15 (NIL \"s\" NIL NIL NIL NIL NIL NIL NIL NIL) (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 1 0) 2) \"digest\")");
    }
}
