//! Decoding to UTF-8 text for SEARCH (RFC 3501 6.4.4): RFC 2047
//! encoded-words in header fields, Content-Transfer-Encoding and charsets
//! of text parts, and the client's own SEARCH CHARSET strings.

use super::source::Source;
use super::{header, Kind, Part};

/// Converts `bytes` in the charset `name` to UTF-8. None when the charset is
/// unknown (SEARCH answers `[BADCHARSET]`). Invalid sequences become U+FFFD.
pub fn charset(name: &str, bytes: &[u8]) -> Option<String> {
    let name = name.trim();
    let lower = name.to_ascii_lowercase();
    match lower.as_str() {
        "utf-7" | "unicode-1-1-utf-7" | "csunicode11utf7" => return Some(utf7(bytes)),
        // RFC 2045 5.2: the default; 8-bit octets in it are broken input,
        // read them as UTF-8 (the most likely truth) rather than refuse.
        "us-ascii" | "ascii" | "ansi_x3.4-1968" | "iso646-us" | "us" => {
            return Some(String::from_utf8_lossy(bytes).into_owned())
        }
        _ => {}
    }
    let enc = encoding_rs::Encoding::for_label_no_replacement(lower.as_bytes())?;
    if enc == encoding_rs::UTF_8 {
        return Some(String::from_utf8_lossy(bytes).into_owned());
    }
    let (s, _) = enc.decode_without_bom_handling(bytes);
    Some(s.into_owned())
}

/// Like `charset`, but an unknown charset falls back to lossy UTF-8: mail
/// text must always be searchable.
fn charset_lossy(name: &str, bytes: &[u8]) -> String {
    charset(name, bytes).unwrap_or_else(|| String::from_utf8_lossy(bytes).into_owned())
}

/// RFC 2152 UTF-7.
fn utf7(bytes: &[u8]) -> String {
    let mut out = String::new();
    let mut units: Vec<u16> = Vec::new();
    let mut i = 0;
    while let Some(&c) = bytes.get(i) {
        i += 1;
        if c != b'+' {
            out.push(if c < 0x80 { c as char } else { '\u{fffd}' });
            continue;
        }
        if bytes.get(i) == Some(&b'-') {
            i += 1;
            out.push('+');
            continue;
        }
        let (mut acc, mut bits) = (0u32, 0u32);
        units.clear();
        while let Some(v) = bytes.get(i).and_then(|&c| b64_value(c)) {
            i += 1;
            acc = (acc << 6) | u32::from(v);
            bits += 6;
            if bits >= 16 {
                bits -= 16;
                units.push((acc >> bits) as u16);
                acc &= (1 << bits) - 1;
            }
        }
        if bytes.get(i) == Some(&b'-') {
            i += 1;
        }
        out.extend(char::decode_utf16(units.iter().copied()).map(|r| r.unwrap_or('\u{fffd}')));
    }
    out
}

fn b64_value(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// Base64 (RFC 2045 6.8). Characters outside the alphabet are ignored, as
/// the RFC asks; decoding stops at the first `=` pad.
pub fn base64(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    Transfer::new(b"base64").feed(s, &mut out);
    out
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Quoted-printable (RFC 2045 6.7): `=XX`, soft line breaks `=` at the end
/// of a line (trailing white space allowed), trailing white space of hard
/// lines dropped. A malformed `=` is kept literally.
pub fn quoted_printable(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    for line in s.split_inclusive(|&c| c == b'\n') {
        let (body, eol) = match line.strip_suffix(b"\n") {
            Some(b) => match b.strip_suffix(b"\r") {
                Some(b) => (b, true),
                None => (b, true),
            },
            None => (line, false),
        };
        let body = &body[..body
            .iter()
            .rposition(|&c| c != b' ' && c != b'\t')
            .map_or(0, |i| i + 1)];
        let (body, soft) = match body.strip_suffix(b"=") {
            Some(b) => (b, true),
            None => (body, false),
        };
        let mut i = 0;
        while let Some(&c) = body.get(i) {
            if c == b'=' {
                if let (Some(h), Some(l)) = (
                    body.get(i + 1).and_then(|&c| hex(c)),
                    body.get(i + 2).and_then(|&c| hex(c)),
                ) {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
            }
            out.push(c);
            i += 1;
        }
        if eol && !soft {
            out.extend_from_slice(b"\r\n");
        }
    }
    out
}

/// `%XX` decoding of RFC 2231 extended values.
pub fn percent(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while let Some(&c) = s.get(i) {
        if c == b'%' {
            if let (Some(h), Some(l)) = (
                s.get(i + 1).and_then(|&c| hex(c)),
                s.get(i + 2).and_then(|&c| hex(c)),
            ) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    out
}

/// One RFC 2047 encoded-word at the start of `s`: its charset, decoded
/// octets and its length in `s`.
fn encoded_word(s: &[u8]) -> Option<(String, Vec<u8>, usize)> {
    let rest = s.strip_prefix(b"=?")?;
    let q1 = rest.iter().position(|&c| c == b'?')?;
    let cs = rest.get(..q1)?;
    let enc = *rest.get(q1 + 1)?;
    if rest.get(q1 + 2) != Some(&b'?') {
        return None;
    }
    let text_start = q1 + 3;
    let text_len = rest
        .get(text_start..)?
        .windows(2)
        .position(|w| w == b"?=")?;
    let text = rest.get(text_start..text_start + text_len)?;
    if text.iter().any(|c| c.is_ascii_whitespace()) || cs.iter().any(|c| c.is_ascii_whitespace()) {
        return None;
    }
    let bytes = match enc {
        b'B' | b'b' => base64(text),
        b'Q' | b'q' => {
            let mut out = Vec::with_capacity(text.len());
            let mut i = 0;
            while let Some(&c) = text.get(i) {
                match c {
                    b'_' => out.push(b' '),
                    b'=' => {
                        if let (Some(h), Some(l)) = (
                            text.get(i + 1).and_then(|&c| hex(c)),
                            text.get(i + 2).and_then(|&c| hex(c)),
                        ) {
                            out.push(h << 4 | l);
                            i += 2;
                        } else {
                            out.push(c);
                        }
                    }
                    _ => out.push(c),
                }
                i += 1;
            }
            out
        }
        _ => return None,
    };
    // RFC 2231 5: charset*language.
    let cs = String::from_utf8_lossy(cs);
    let cs = cs.split('*').next().unwrap_or_default();
    Some((cs.to_string(), bytes, 2 + text_start + text_len + 2))
}

/// A header field value as text: unfolded, RFC 2047 encoded-words decoded
/// (white space between adjacent encoded-words dropped, RFC 2047 6.2),
/// 8-bit octets outside encoded-words read as UTF-8 (lossy).
pub fn header_value(raw: &[u8]) -> String {
    let v = header::unfold(raw);
    let mut out = String::new();
    let mut plain: Vec<u8> = Vec::new();
    let mut pending_ws: Vec<u8> = Vec::new();
    // Octets of adjacent encoded-words in one charset, decoded together:
    // senders split multi-byte characters across words.
    let mut word: Option<(String, Vec<u8>)> = None;
    let flush = |word: &mut Option<(String, Vec<u8>)>, out: &mut String| {
        if let Some((cs, bytes)) = word.take() {
            out.push_str(&charset_lossy(&cs, &bytes));
        }
    };
    let mut i = 0;
    while let Some(&c) = v.get(i) {
        if c == b'=' {
            if let Some((cs, bytes, n)) = v.get(i..).and_then(encoded_word) {
                if word.is_some() && plain.is_empty() {
                    // RFC 2047 6.2: white space between adjacent
                    // encoded-words is not displayed.
                    pending_ws.clear();
                } else {
                    plain.append(&mut pending_ws);
                }
                if !plain.is_empty() {
                    flush(&mut word, &mut out);
                    out.push_str(&String::from_utf8_lossy(&plain));
                    plain.clear();
                }
                match &mut word {
                    Some((wcs, wbytes)) if wcs.eq_ignore_ascii_case(&cs) => {
                        wbytes.extend_from_slice(&bytes)
                    }
                    _ => {
                        flush(&mut word, &mut out);
                        word = Some((cs, bytes));
                    }
                }
                i += n;
                continue;
            }
        }
        if c == b' ' || c == b'\t' {
            pending_ws.push(c);
        } else {
            if plain.is_empty() {
                flush(&mut word, &mut out);
            }
            plain.append(&mut pending_ws);
            plain.push(c);
        }
        i += 1;
    }
    flush(&mut word, &mut out);
    plain.append(&mut pending_ws);
    out.push_str(&String::from_utf8_lossy(&plain));
    out.trim().to_string()
}

/// The decoded content of one leaf part: transfer encoding removed, text
/// charsets converted to UTF-8.
pub fn part_text(raw: &[u8], part: &Part) -> String {
    let body = raw.get(part.body.clone()).unwrap_or_default();
    let bytes = match part.encoding_lower().as_slice() {
        b"base64" => base64(body),
        b"quoted-printable" => quoted_printable(body),
        _ => body.to_vec(),
    };
    let cs = part
        .param("charset")
        .map(|v| String::from_utf8_lossy(&v).into_owned())
        .unwrap_or_else(|| "us-ascii".into());
    charset_lossy(&cs, &bytes)
}

/// The decoded text of every text part of the message (including those of
/// encapsulated messages, whose header fields are added decoded), joined
/// by newlines: what SEARCH BODY and TEXT look in.
pub fn body_text(raw: &[u8], part: &Part) -> String {
    let mut out = String::new();
    collect_text(raw, part, &mut out);
    out
}

/// Every header of the message and of each of its parts, decoded, then
/// the body text as `body_text` gives it: what SEARCH TEXT looks in
/// (RFC 3501 6.4.4 "header or body"; an attachment's file name is in its
/// part's header, as Dovecot finds it).
pub fn full_text(raw: &[u8], part: &Part) -> String {
    let mut out = String::new();
    collect_headers(raw, part, &mut out);
    out.push_str(&body_text(raw, part));
    out
}

fn collect_headers<S: Source + ?Sized>(raw: &S, part: &Part, out: &mut String) {
    push_fields(&part.header_bytes(raw), out);
    match &part.kind {
        Kind::Multipart(children) => children.iter().for_each(|c| collect_headers(raw, c, out)),
        Kind::Message(m) => collect_headers(raw, m, out),
        Kind::Single => {}
    }
}

/// A part's header fields as `Name: decoded value` lines (RFC 2047), each
/// Content-Type or Content-Disposition followed by its RFC 2231 extended
/// parameter values decoded, so that an encoded file name is found.
fn push_fields(header_block: &[u8], out: &mut String) {
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    for f in header::fields(header_block, 0..header_block.len()) {
        out.push_str(&String::from_utf8_lossy(f.name));
        out.push_str(": ");
        out.push_str(&header_value(f.value));
        out.push('\n');
        let typed = if f.name.eq_ignore_ascii_case(b"content-type") {
            header::content_type(f.value)
        } else if f.name.eq_ignore_ascii_case(b"content-disposition") {
            header::disposition(f.value)
        } else {
            None
        };
        for p in typed.iter().flat_map(|t| &t.params) {
            if p.name.ends_with(b"*") {
                out.push_str(&header::param_text(p));
                out.push('\n');
            }
        }
    }
}

fn collect_text(raw: &[u8], part: &Part, out: &mut String) {
    match &part.kind {
        Kind::Multipart(children) => {
            for c in children {
                collect_text(raw, c, out);
            }
        }
        Kind::Message(m) => {
            push_fields(&m.header_bytes(raw), out);
            collect_text(raw, m, out);
        }
        Kind::Single => {
            if part.mime_type.eq_ignore_ascii_case(b"text") {
                if !out.is_empty() && !out.ends_with('\n') {
                    out.push('\n');
                }
                out.push_str(&part_text(raw, part));
            }
        }
    }
}

/// `full_text` (with `headers`) or `body_text` of a message of any size,
/// given to `out` piece by piece as it is decoded from `raw` (memory or a
/// window on a file): transfer encodings and charsets are decoded a
/// window at a time, so memory does not grow with the message (issue 20).
/// Pieces end anywhere, even inside a word: a match must be looked for
/// across them.
pub fn stream_text<S: Source + ?Sized>(
    raw: &S,
    part: &Part,
    headers: bool,
    out: &mut dyn FnMut(&str),
) {
    if headers {
        let mut h = String::new();
        collect_headers(raw, part, &mut h);
        out(&h);
    }
    stream_parts(raw, part, out);
}

fn stream_parts<S: Source + ?Sized>(raw: &S, part: &Part, out: &mut dyn FnMut(&str)) {
    match &part.kind {
        Kind::Multipart(children) => children.iter().for_each(|c| stream_parts(raw, c, out)),
        Kind::Message(m) => {
            let mut text = String::from("\n");
            push_fields(&m.header_bytes(raw), &mut text);
            out(&text);
            stream_parts(raw, m, out);
        }
        Kind::Single if part.mime_type.eq_ignore_ascii_case(b"text") => {
            out("\n");
            let cs = part
                .param("charset")
                .map(|v| String::from_utf8_lossy(&v).to_ascii_lowercase())
                .unwrap_or_else(|| "us-ascii".into());
            let enc = match cs.as_str() {
                "us-ascii" | "ascii" | "ansi_x3.4-1968" | "iso646-us" | "us" => encoding_rs::UTF_8,
                c => encoding_rs::Encoding::for_label_no_replacement(c.as_bytes())
                    .unwrap_or(encoding_rs::UTF_8),
            };
            let mut text = enc.new_decoder_without_bom_handling();
            let mut transfer = Transfer::new(&part.encoding_lower());
            let mut decoded = Vec::new();
            let mut s = String::new();
            let mut emit = |bytes: &[u8], last: bool, out: &mut dyn FnMut(&str)| {
                s.clear();
                s.reserve(
                    text.max_utf8_buffer_length(bytes.len())
                        .unwrap_or(bytes.len() * 3 + 16),
                );
                let _ = text.decode_to_string(bytes, &mut s, last);
                if !s.is_empty() {
                    out(&s);
                }
            };
            raw.each(part.body.clone(), &mut |piece| {
                decoded.clear();
                transfer.feed(piece, &mut decoded);
                emit(&decoded, false, out);
            });
            decoded.clear();
            transfer.finish(&mut decoded);
            emit(&decoded, true, out);
        }
        Kind::Single => {}
    }
}

/// RFC 3516 BINARY: the octets of `raw[range]`, a part's content in the
/// transfer encoding `cte`, decoded and given to `out` a piece at a time
/// (memory does not grow with the part). Base64 gives the octets it
/// encodes; quoted-printable and the identity encodings give text whose
/// line ends are CRLF, as RFC 3516 6 asks of textual sections. Any other
/// octet, NUL included, passes as it is.
pub fn each_binary<S: Source + ?Sized>(
    raw: &S,
    range: std::ops::Range<usize>,
    cte: Cte,
    out: &mut dyn FnMut(&[u8]),
) {
    let mut transfer = match cte {
        Cte::Identity => Transfer::Identity,
        Cte::Base64 => Transfer::Base64(0, 0, false),
        Cte::QuotedPrintable => Transfer::Qp(Vec::new()),
    };
    let mut decoded = Vec::new();
    let mut prev_cr = false;
    raw.each(range, &mut |piece| {
        decoded.clear();
        if cte == Cte::Identity {
            super::crlf::extend_crlf(&mut decoded, piece, &mut prev_cr, false);
        } else {
            transfer.feed(piece, &mut decoded);
        }
        if !decoded.is_empty() {
            out(&decoded);
        }
    });
    decoded.clear();
    transfer.finish(&mut decoded);
    if !decoded.is_empty() {
        out(&decoded);
    }
}

/// The Content-Transfer-Encodings BINARY can take off (RFC 2045 6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cte {
    /// `7bit`, `8bit`, `binary` or none: the octets are the content.
    Identity,
    Base64,
    QuotedPrintable,
}

impl Cte {
    /// The encoding of `part`; `None` for one we do not know (`x-uuencode`
    /// and other private ones), which RFC 3516 4.3 answers with
    /// `[UNKNOWN-CTE]`. A multipart or message part may only be in an
    /// identity encoding (RFC 2045 6.4), and its content was parsed as
    /// such, so it is taken as one whatever it says.
    pub fn of(part: &Part) -> Option<Cte> {
        if !matches!(part.kind, Kind::Single) {
            return Some(Cte::Identity);
        }
        match &part.encoding_lower()[..] {
            b"7bit" | b"8bit" | b"binary" => Some(Cte::Identity),
            b"base64" => Some(Cte::Base64),
            b"quoted-printable" => Some(Cte::QuotedPrintable),
            _ => None,
        }
    }
}

/// Content-Transfer-Encoding, decoded a piece at a time.
enum Transfer {
    Identity,
    /// Base64 state: bits not yet output, their count, and whether the
    /// `=` pad ended the data.
    Base64(u32, u32, bool),
    /// Quoted-printable is decoded by lines: the line not yet complete.
    Qp(Vec<u8>),
}

impl Transfer {
    fn new(encoding: &[u8]) -> Transfer {
        match encoding {
            b"base64" => Transfer::Base64(0, 0, false),
            b"quoted-printable" => Transfer::Qp(Vec::new()),
            _ => Transfer::Identity,
        }
    }

    fn feed(&mut self, piece: &[u8], out: &mut Vec<u8>) {
        match self {
            Transfer::Identity => out.extend_from_slice(piece),
            Transfer::Base64(acc, bits, done) => {
                for &c in piece {
                    if *done || c == b'=' {
                        *done = true;
                        break;
                    }
                    let Some(v) = b64_value(c) else { continue };
                    *acc = (*acc << 6) | u32::from(v);
                    *bits += 6;
                    if *bits >= 8 {
                        *bits -= 8;
                        out.push((*acc >> *bits) as u8);
                        *acc &= (1 << *bits) - 1;
                    }
                }
            }
            Transfer::Qp(carry) => {
                carry.extend_from_slice(piece);
                let cut = match carry.iter().rposition(|&c| c == b'\n') {
                    Some(i) => i + 1,
                    None if carry.len() > crate::limits::QP_LINE_MAX => carry.len(),
                    None => return,
                };
                out.extend_from_slice(&quoted_printable(&carry[..cut]));
                carry.drain(..cut);
            }
        }
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        if let Transfer::Qp(carry) = self {
            out.extend_from_slice(&quoted_printable(carry));
            carry.clear();
        }
    }
}

/// RFC 8970 PREVIEW: the start of the message's text, whitespace runs made
/// one space, at most `PREVIEW_CHARS` characters; empty when the message
/// has no text (only attachments). The text is the first text/plain part
/// (text/html, its markup taken out, when an alternative or the message
/// has no plain one) outside attachments and attached messages; only its
/// first `PREVIEW_SCAN` octets are read.
pub fn preview<S: Source + ?Sized>(raw: &S, part: &Part) -> String {
    use crate::limits::{PREVIEW_CHARS, PREVIEW_SCAN};
    let Some((leaf, html)) = preview_part(raw, part) else {
        return String::new();
    };
    let end = leaf
        .body
        .end
        .min(leaf.body.start.saturating_add(PREVIEW_SCAN));
    let mut bytes = raw.octets(leaf.body.start..end).into_owned();
    if end < leaf.body.end {
        // Whole lines only, so that base64 and quoted-printable decode.
        if let Some(i) = bytes.iter().rposition(|&b| b == b'\n') {
            bytes.truncate(i + 1);
        }
    }
    let decoded = match leaf.encoding_lower().as_slice() {
        b"base64" => base64(&bytes),
        b"quoted-printable" => quoted_printable(&bytes),
        _ => bytes,
    };
    let cs = leaf
        .param("charset")
        .map(|v| String::from_utf8_lossy(&v).into_owned())
        .unwrap_or_else(|| "us-ascii".into());
    let text = charset_lossy(&cs, &decoded);
    let text = if html { html_text(&text) } else { text };
    let mut out = String::new();
    let mut chars = 0;
    let mut space = false;
    for c in text.chars() {
        if c.is_whitespace() {
            space = !out.is_empty();
            continue;
        }
        if c.is_control() {
            continue;
        }
        if chars + usize::from(space) >= PREVIEW_CHARS {
            break;
        }
        if space {
            out.push(' ');
            chars += 1;
            space = false;
        }
        out.push(c);
        chars += 1;
    }
    out
}

/// The part a preview is made of, and whether it is HTML.
fn preview_part<'a, S: Source + ?Sized>(raw: &S, part: &'a Part) -> Option<(&'a Part, bool)> {
    match &part.kind {
        Kind::Single => {
            let fields_raw = part.header_bytes(raw);
            let fields = header::fields(&fields_raw, 0..fields_raw.len());
            let attachment = header::first(&fields, "Content-Disposition")
                .and_then(header::disposition)
                .and_then(|d| d.value.first().cloned())
                .is_some_and(|v| v.eq_ignore_ascii_case(b"attachment"));
            if attachment || !part.mime_type.eq_ignore_ascii_case(b"text") {
                None
            } else if part.subtype.eq_ignore_ascii_case(b"plain") {
                Some((part, false))
            } else if part.subtype.eq_ignore_ascii_case(b"html") {
                Some((part, true))
            } else {
                None
            }
        }
        Kind::Multipart(children) => {
            let mut found = children.iter().filter_map(|c| preview_part(raw, c));
            if part.subtype.eq_ignore_ascii_case(b"alternative") {
                let all: Vec<_> = found.collect();
                all.iter().find(|(_, html)| !html).or(all.first()).copied()
            } else {
                found.next()
            }
        }
        // An attached message is not this message's text.
        Kind::Message(_) => None,
    }
}

/// The text of an HTML document: markup, comments, and the contents of
/// `head`, `style` and `script` left out; the common entities decoded.
fn html_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len() / 2);
    let mut rest = html;
    let mut skip_until: Option<&str> = None;
    while let Some(lt) = rest.find('<') {
        if skip_until.is_none() {
            out.push_str(&entities(&rest[..lt]));
        }
        let tag = &rest[lt..];
        let end = if tag.starts_with("<!--") {
            tag.find("-->").map_or(tag.len(), |i| i + 3)
        } else {
            tag.find('>').map_or(tag.len(), |i| i + 1)
        };
        let name: String = tag[1..end.min(tag.len())]
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        match skip_until {
            Some(close) if tag.starts_with("</") && name == close => skip_until = None,
            Some(_) => {}
            None if !tag.starts_with("</") => {
                skip_until = match name.as_str() {
                    "head" => Some("head"),
                    "style" => Some("style"),
                    "script" => Some("script"),
                    _ => None,
                };
            }
            None => {}
        }
        // A tag ends a word: "a<br>b" is two.
        out.push(' ');
        rest = &tag[end..];
    }
    if skip_until.is_none() {
        out.push_str(&entities(rest));
    }
    out
}

/// `&amp;`, `&lt;`, `&gt;`, `&quot;`, `&apos;`, `&nbsp;` and numeric
/// character references; anything else as written.
fn entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        // Looked for in octets: a `;` is one, so the cut is on a boundary.
        let Some(semi) = rest.as_bytes()[..rest.len().min(12)]
            .iter()
            .position(|&b| b == b';')
        else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let name = &rest[1..semi];
        let c = match name {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            "nbsp" => Some(' '),
            _ => name
                .strip_prefix("#x")
                .or_else(|| name.strip_prefix("#X"))
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| name.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match c {
            Some(c) => {
                out.push(c);
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_text_leaves_markup_head_and_scripts_out() {
        let t = html_text("<html><head><title>x</title></head><body>a<br>b &lt;c&gt; &#x41;&#66;<script>no</script>&bogus; &</body>");
        let words: Vec<&str> = t.split_whitespace().collect();
        assert_eq!(words, ["a", "b", "<c>", "AB", "&bogus;", "&"]);
        assert_eq!(entities("&amp;amp; &nbsp;&#0;"), "&amp;  \u{0}");
        // Multi-octet characters near an `&` are not cut.
        assert_eq!(entities("&ééééééé; &é"), "&ééééééé; &é");
    }

    #[test]
    fn encoded_words() {
        assert_eq!(
            header_value(b" =?ISO-8859-1?Q?Andr=E9?= Pirard <PIRARD@vm1.ulg.ac.be>"),
            "Andr\u{e9} Pirard <PIRARD@vm1.ulg.ac.be>"
        );
        // RFC 2047 8: white space between adjacent encoded-words vanishes.
        assert_eq!(
            header_value(b"(=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?=)"),
            "(ab)"
        );
        assert_eq!(
            header_value(b"(=?ISO-8859-1?Q?a?=\r\n    =?ISO-8859-1?Q?b?=)"),
            "(ab)"
        );
        assert_eq!(header_value(b"(=?ISO-8859-1?Q?a_b?=)"), "(a b)");
        assert_eq!(header_value(b"(=?ISO-8859-1?Q?a?= b)"), "(a b)");
        assert_eq!(
            header_value(b"=?utf-8?B?4oKs?= and =?UTF-8?b?4oKs?="),
            "\u{20ac} and \u{20ac}"
        );
        assert_eq!(
            header_value(b"=?koi8-r?B?8NLJ18XU?="),
            "\u{41f}\u{440}\u{438}\u{432}\u{435}\u{442}"
        );
        assert_eq!(
            header_value(b"=?iso-2022-jp?B?GyRCJUYlOSVIGyhC?="),
            "\u{30c6}\u{30b9}\u{30c8}"
        );
        assert_eq!(header_value(b"=?windows-1252?Q?=80?="), "\u{20ac}");
        assert_eq!(header_value(b"=?utf-7?Q?+AKM-1?="), "\u{a3}1");
        assert_eq!(
            header_value(b"=?us-ascii*en?Q?Keith_Moore?="),
            "Keith Moore"
        );
        // A UTF-8 character split across two words (\u{20ac} = E2 82 AC).
        assert_eq!(
            header_value(b"=?UTF-8?Q?=E2=82?= =?utf-8?Q?=AC!?="),
            "\u{20ac}!"
        );
        assert_eq!(
            header_value(b"=?UTF-8?B?4oI=?=\r\n =?UTF-8?B?rA==?= x"),
            "\u{20ac} x"
        );
        assert_eq!(header_value(b"a =?utf-8?Q?b?= c =?utf-8?Q?d?="), "a b c d");
        // Unknown charsets and broken words degrade, never panic.
        assert_eq!(header_value(b"=?x-nonsense?Q?abc?="), "abc");
        assert_eq!(header_value(b"=?utf-8?Q?abc"), "=?utf-8?Q?abc");
        assert_eq!(header_value(b"=?utf-8?X?abc?="), "=?utf-8?X?abc?=");
        assert_eq!(header_value(b"=??="), "=??=");
        assert_eq!(header_value(b"caf\xc3\xa9 \xff"), "caf\u{e9} \u{fffd}");
    }

    #[test]
    fn qp_soft_breaks() {
        assert_eq!(
            quoted_printable(b"a=3Db=\r\nc  \nd=\t \ne=ZZ=4"),
            b"a=bc\r\nde=ZZ=4"
        );
        assert_eq!(quoted_printable(b"caf=C3=A9=\n"), "caf\u{e9}".as_bytes());
    }

    #[test]
    fn base64_with_garbage() {
        assert_eq!(base64(b"aGVs\r\nbG8=\r\n"), b"hello");
        assert_eq!(base64(b"aG!!Vs*bG8"), b"hello");
        assert_eq!(base64(b"aGVsbG8=garbage"), b"hello");
        assert_eq!(base64(b"a"), b"");
        assert_eq!(base64(b""), b"");
    }

    #[test]
    fn search_charset() {
        assert_eq!(charset("ISO-8859-1", b"\xe9").as_deref(), Some("\u{e9}"));
        assert_eq!(
            charset("utf-8", "\u{e9}".as_bytes()).as_deref(),
            Some("\u{e9}")
        );
        assert_eq!(charset("GB2312", b"\xc4\xe3").as_deref(), Some("\u{4f60}"));
        assert_eq!(charset("big5", b"\xa4\xa4").as_deref(), Some("\u{4e2d}"));
        assert_eq!(charset("x-unknown", b"abc"), None);
        assert_eq!(charset("US-ASCII", b"abc").as_deref(), Some("abc"));
    }

    #[test]
    fn body_text_of_every_text_part() {
        let raw = b"Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Transfer-Encoding: base64\nContent-Type: text/plain; charset=iso-8859-1\n\n6Q==\n--b\nContent-Type: image/png\n\nxx\n--b\nContent-Type: message/rfc822\n\nSubject: =?utf-8?Q?=E2=82=AC?=\n\ninner\n--b--\n";
        let p = crate::mime::parse(raw);
        assert_eq!(body_text(raw, &p), "\u{e9}\nSubject: \u{20ac}\ninner");
    }
}
