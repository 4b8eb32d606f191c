//! Header fields (RFC 5322 2.2) and the lexical pieces of structured MIME
//! fields (RFC 2045 5.1 tokens, quoted strings, comments) with RFC 2231
//! parameters.

use std::ops::Range;

/// One header field: `name` is the raw field name (without the colon),
/// `value` the raw value after the colon, folding line ends included.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field<'a> {
    pub name: &'a [u8],
    pub value: &'a [u8],
    /// The whole field in the raw message, its final line end included.
    pub raw: Range<usize>,
}

/// The fields of the header block `raw[range]`, in message order. A line
/// that is neither a field nor a continuation (no colon) is kept as a field
/// with that line as its name and an empty value, so that it is still
/// served verbatim by HEADER.FIELDS.NOT and never dropped silently.
pub fn fields(raw: &[u8], range: Range<usize>) -> Vec<Field<'_>> {
    // Most header blocks have fewer fields: one allocation, not five.
    let mut out = Vec::with_capacity(32);
    let end = range.end.min(raw.len());
    let mut pos = range.start.min(end);
    while pos < end {
        let line_end = line_end(raw, pos, end);
        let line = raw.get(pos..line_end).unwrap_or_default();
        if is_blank(line) {
            break;
        }
        // Continuation lines of this field.
        let mut field_end = line_end;
        while field_end < end && matches!(raw.get(field_end), Some(b' ' | b'\t')) {
            field_end = self::line_end(raw, field_end, end);
        }
        let whole = raw.get(pos..field_end).unwrap_or_default();
        let (name, value) = match whole.iter().position(|&c| c == b':') {
            Some(colon) if !whole[..colon].contains(&b'\n') => {
                (&whole[..colon], &whole[colon + 1..])
            }
            _ => (trim_eol(whole), &whole[whole.len()..]),
        };
        out.push(Field {
            name: trim_end(name),
            value,
            raw: pos..field_end,
        });
        pos = field_end;
    }
    out
}

/// The position after the line end of the line starting at `pos`, or `end`.
pub fn line_end(raw: &[u8], pos: usize, end: usize) -> usize {
    match raw
        .get(pos..end)
        .and_then(|s| s.iter().position(|&c| c == b'\n'))
    {
        Some(i) => pos + i + 1,
        None => end,
    }
}

/// An empty line: LF, CRLF or nothing.
pub fn is_blank(line: &[u8]) -> bool {
    matches!(line, b"\n" | b"\r\n" | b"")
}

fn trim_eol(s: &[u8]) -> &[u8] {
    let s = s.strip_suffix(b"\n").unwrap_or(s);
    s.strip_suffix(b"\r").unwrap_or(s)
}

fn trim_end(s: &[u8]) -> &[u8] {
    let n = s
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(0, |i| i + 1);
    &s[..n]
}

pub fn trim(s: &[u8]) -> &[u8] {
    let s = trim_end(s);
    let n = s
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(s.len());
    &s[n..]
}

/// The value of the first field called `name` (case-insensitive).
pub fn first<'a>(fields: &[Field<'a>], name: &str) -> Option<&'a [u8]> {
    fields
        .iter()
        .find(|f| f.name.eq_ignore_ascii_case(name.as_bytes()))
        .map(|f| f.value)
}

/// RFC 5322 unfolding: CR and LF removed (the folding whitespace stays).
pub fn unfold(v: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len());
    out.extend(v.iter().copied().filter(|&c| c != b'\r' && c != b'\n'));
    out
}

/// A lexical item of a structured field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Token {
    /// An atom or RFC 2045 token (the characters allowed depend on
    /// `Lexer::tspecials`).
    Atom(Vec<u8>),
    /// The contents of a quoted string, escapes removed.
    Quoted(Vec<u8>),
    /// A special character.
    Special(u8),
}

/// Splits a structured field value into tokens, skipping white space and
/// (nested) comments.
pub struct Lexer<'a> {
    s: &'a [u8],
    pos: usize,
    specials: &'static [u8],
    /// The last quoted string ran to the end of the input.
    unterminated: bool,
}

/// RFC 2045 5.1 `tspecials`.
pub const TSPECIALS: &[u8] = b"()<>@,;:\\\"/[]?=";
/// RFC 5322 3.2.3 `specials`.
pub const SPECIALS: &[u8] = b"()<>[]:;@\\,.\"";

impl<'a> Lexer<'a> {
    pub fn new(s: &'a [u8], specials: &'static [u8]) -> Self {
        Lexer {
            s,
            pos: 0,
            specials,
            unterminated: false,
        }
    }

    /// Skips white space and comments.
    pub fn skip_cfws(&mut self) {
        loop {
            match self.s.get(self.pos) {
                Some(c) if c.is_ascii_whitespace() => self.pos += 1,
                Some(b'(') => self.skip_comment(),
                _ => return,
            }
        }
    }

    fn skip_comment(&mut self) {
        let mut depth = 0usize;
        while let Some(&c) = self.s.get(self.pos) {
            self.pos += 1;
            match c {
                b'\\' => self.pos += 1,
                b'(' => depth += 1,
                b')' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        return;
                    }
                }
                _ => {}
            }
        }
    }

    pub fn peek(&mut self) -> Option<Token> {
        let save = self.pos;
        let t = self.next_token();
        self.pos = save;
        t
    }

    pub fn next_token(&mut self) -> Option<Token> {
        self.skip_cfws();
        let &c = self.s.get(self.pos)?;
        if c == b'"' {
            self.pos += 1;
            return Some(Token::Quoted(self.quoted_rest()));
        }
        if self.specials.contains(&c) {
            self.pos += 1;
            return Some(Token::Special(c));
        }
        let start = self.pos;
        while let Some(&c) = self.s.get(self.pos) {
            if c.is_ascii_whitespace() || self.specials.contains(&c) || c == b'(' || c == b'"' {
                break;
            }
            self.pos += 1;
        }
        Some(Token::Atom(self.s[start..self.pos].to_vec()))
    }

    /// The rest of a quoted string whose opening quote was consumed.
    /// Folding line ends inside are removed (RFC 5322 3.2.4).
    fn quoted_rest(&mut self) -> Vec<u8> {
        let mut v = Vec::new();
        self.unterminated = true;
        while let Some(&c) = self.s.get(self.pos) {
            self.pos += 1;
            match c {
                b'"' => {
                    self.unterminated = false;
                    break;
                }
                b'\\' => {
                    if let Some(&e) = self.s.get(self.pos) {
                        self.pos += 1;
                        v.push(e);
                    }
                }
                b'\r' | b'\n' => {}
                _ => v.push(c),
            }
        }
        v
    }

    pub fn rest(&self) -> &'a [u8] {
        self.s.get(self.pos..).unwrap_or_default()
    }

    pub fn at_end(&mut self) -> bool {
        self.skip_cfws();
        self.pos >= self.s.len()
    }
}

/// A MIME parameter after RFC 2231 reassembly: continuations joined; an
/// extended (charset'language'%xx) value keeps its encoded form and the
/// name gets a trailing `*`, the way IMAP servers (Dovecot) report it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Param {
    pub name: Vec<u8>,
    pub value: Vec<u8>,
}

/// Parses `;`-separated `attribute=value` parameters (RFC 2045 5.1,
/// RFC 2231 3-4) from the lexer's position to the end.
pub fn params(lx: &mut Lexer<'_>) -> Vec<Param> {
    // (name, section number, extended, value) as they appear.
    let mut raw: Vec<RawParam> = Vec::new();
    loop {
        match lx.next_token() {
            None => break,
            Some(Token::Special(b';')) => {}
            Some(Token::Atom(name)) => {
                if lx.peek() != Some(Token::Special(b'=')) {
                    continue;
                }
                lx.next_token();
                let value = match lx.peek() {
                    Some(Token::Atom(v)) | Some(Token::Quoted(v)) => {
                        lx.next_token();
                        v
                    }
                    _ => continue,
                };
                if lx.unterminated {
                    // `name="...` without the closing quote: no value.
                    break;
                }
                let (base, section, extended) = split_2231(&name);
                raw.push((base, section, extended, value));
            }
            Some(_) => {}
        }
    }
    assemble_2231(raw)
}

/// `name*2*` -> ("name", Some(2), true); `name*` -> ("name", None, true).
fn split_2231(name: &[u8]) -> (Vec<u8>, Option<u32>, bool) {
    let (name, extended) = match name.strip_suffix(b"*") {
        Some(n) => (n, true),
        None => (name, false),
    };
    if let Some(star) = name.iter().rposition(|&c| c == b'*') {
        let num = &name[star + 1..];
        if !num.is_empty() && num.len() <= 4 && num.iter().all(u8::is_ascii_digit) {
            let n = std::str::from_utf8(num).ok().and_then(|s| s.parse().ok());
            if n.is_some() {
                return (name[..star].to_vec(), n, extended);
            }
        }
    }
    (name.to_vec(), None, extended)
}

/// A parameter as written: (name without RFC 2231 suffixes, section
/// number, extended (`*` at the end), value).
type RawParam = (Vec<u8>, Option<u32>, bool, Vec<u8>);

fn assemble_2231(raw: Vec<RawParam>) -> Vec<Param> {
    // Plain parameters first, in message order; then the RFC 2231 ones
    // (any `*` in the name) sorted by name and section and joined: the
    // order and form Dovecot reports, so clients see the same data.
    let mut out: Vec<Param> = Vec::new();
    let mut ext = Vec::new();
    for (name, section, extended, value) in raw {
        if section.is_none() && !extended {
            out.push(Param { name, value });
        } else {
            ext.push((name, section.unwrap_or(0), extended, value));
        }
    }
    ext.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut i = 0;
    while let Some((name, first, extended, value)) = ext.get(i) {
        let mut joined = value.clone();
        let mut want = first + 1;
        i += 1;
        while let Some(next) = ext.get(i).filter(|n| n.0.eq_ignore_ascii_case(name)) {
            // A gap in the section numbers ends the value (RFC 2231 3).
            if next.1 == want && *first == 0 {
                joined.extend_from_slice(&next.3);
                want += 1;
            }
            i += 1;
        }
        out.push(Param {
            name: if *extended {
                [name.as_slice(), b"*"].concat()
            } else {
                name.clone()
            },
            value: joined,
        });
    }
    out
}

/// The decoded value of a parameter: RFC 2231 `charset'lang'%xx` values
/// converted to UTF-8, plain values as they are (lossy UTF-8).
pub fn param_text(p: &Param) -> String {
    if p.name.ends_with(b"*") {
        let mut it = p.value.splitn(3, |&c| c == b'\'');
        if let (Some(cs), Some(_lang), Some(v)) = (it.next(), it.next(), it.next()) {
            let bytes = crate::mime::decode::percent(v);
            let cs = String::from_utf8_lossy(cs);
            return crate::mime::decode::charset(&cs, &bytes)
                .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned());
        }
    }
    String::from_utf8_lossy(&p.value).into_owned()
}

/// A parsed `Content-Type` or `Content-Disposition`: the value before the
/// first `;` and the parameters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Typed {
    /// `type/subtype` pieces for Content-Type, the disposition type for
    /// Content-Disposition; as in the message (case kept).
    pub value: Vec<Vec<u8>>,
    pub params: Vec<Param>,
}

/// Content-Type: `type "/" subtype *(";" parameter)`. None when there is
/// no usable type/subtype.
pub fn content_type(v: &[u8]) -> Option<Typed> {
    let mut lx = Lexer::new(v, TSPECIALS);
    let ty = match lx.next_token()? {
        Token::Atom(a) => a,
        Token::Quoted(q) => q,
        Token::Special(_) => return None,
    };
    if lx.next_token()? != Token::Special(b'/') {
        return None;
    }
    let sub = match lx.next_token()? {
        Token::Atom(a) => a,
        Token::Quoted(q) => q,
        Token::Special(_) => return None,
    };
    if ty.is_empty() || sub.is_empty() {
        return None;
    }
    let params = params(&mut lx);
    Some(Typed {
        value: vec![ty, sub],
        params,
    })
}

/// Content-Disposition: `type *(";" parameter)`.
pub fn disposition(v: &[u8]) -> Option<Typed> {
    let mut lx = Lexer::new(v, TSPECIALS);
    let ty = match lx.next_token()? {
        Token::Atom(a) => a,
        Token::Quoted(q) => q,
        Token::Special(_) => return None,
    };
    let params = params(&mut lx);
    Some(Typed {
        value: vec![ty],
        params,
    })
}

/// A single token value (Content-Transfer-Encoding), comments removed.
pub fn token(v: &[u8]) -> Option<Vec<u8>> {
    let mut lx = Lexer::new(v, TSPECIALS);
    match lx.next_token()? {
        Token::Atom(a) | Token::Quoted(a) => Some(a),
        Token::Special(_) => None,
    }
}

/// Content-Language: a comma separated list of tags (RFC 3282).
pub fn language(v: &[u8]) -> Vec<Vec<u8>> {
    let mut lx = Lexer::new(v, TSPECIALS);
    let mut out = Vec::new();
    while let Some(t) = lx.next_token() {
        if let Token::Atom(a) | Token::Quoted(a) = t {
            if !a.is_empty() {
                out.push(a);
            }
        }
    }
    out
}

/// Reads a message's header block: up to and including the blank line that
/// ends it (or MIME_HEADER_MAX octets). ENVELOPE, header fetches and header
/// SEARCH keys need no more of the file.
pub fn read_block(r: &mut dyn std::io::Read) -> std::io::Result<Vec<u8>> {
    let mut v = Vec::new();
    let mut want = crate::limits::HEADER_READ_FIRST;
    loop {
        let (from, start) = (v.len().saturating_sub(3), v.len());
        v.resize(start + want, 0);
        let n = r.read(&mut v[start..])?;
        v.truncate(start + n);
        if n == 0 {
            return Ok(v);
        }
        want = 8192;
        if let Some(end) = header_end(&v, from) {
            v.truncate(end);
            return Ok(v);
        }
        if v.len() >= crate::limits::MIME_HEADER_MAX {
            return Ok(v);
        }
    }
}

/// Offset just past the empty line ending a header, searching from `from`.
fn header_end(v: &[u8], from: usize) -> Option<usize> {
    if v.starts_with(b"\n") {
        return Some(1);
    }
    if v.starts_with(b"\r\n") {
        return Some(2);
    }
    // From line end to line end (the slice's `position` is memchr).
    let mut i = from;
    while let Some(at) = v
        .get(i..)
        .and_then(|rest| rest.iter().position(|&b| b == b'\n'))
    {
        i += at;
        match (v.get(i + 1), v.get(i + 2)) {
            (Some(b'\n'), _) => return Some(i + 2),
            (Some(b'\r'), Some(b'\n')) => return Some(i + 3),
            (None, _) => return None,
            _ => i += 1,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_end_forms() {
        assert_eq!(header_end(b"A: b\n\nbody", 0), Some(6));
        assert_eq!(header_end(b"A: b\r\n\r\nbody", 0), Some(8));
        assert_eq!(header_end(b"\nbody", 0), Some(1));
        assert_eq!(header_end(b"A: b\n", 0), None);
    }

    /// A reader that hands out at most `step` octets a call.
    struct Trickle<'a>(&'a [u8], usize);

    impl std::io::Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(self.1).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn read_block_stops_at_the_blank_line_however_the_reads_fall() {
        let long = format!("X-Long: {}\r\n", "y".repeat(5000));
        let cases: Vec<(String, &str)> = vec![
            ("A: b\n\nbody\n".into(), "A: b\n\n"),
            ("A: b\r\n\r\nbody".into(), "A: b\r\n\r\n"),
            ("\nbody".into(), "\n"),
            ("A: b\nC: d\n".into(), "A: b\nC: d\n"),
            (format!("{long}B: c\r\n\r\nbody"), ""),
        ];
        for (msg, want) in &cases {
            let want = if want.is_empty() {
                msg.split_inclusive("\r\n\r\n").next().unwrap_or_default()
            } else {
                want
            };
            for step in [1, 2, 3, 7, 2047, 2048, 2049, 100_000] {
                let got = read_block(&mut Trickle(msg.as_bytes(), step)).expect("read");
                assert_eq!(String::from_utf8_lossy(&got), *want, "step {step}");
            }
        }
        // No blank line within MIME_HEADER_MAX: cut there, or a little past.
        let huge = "Z: z\n".repeat(crate::limits::MIME_HEADER_MAX / 5 * 2);
        let got = read_block(&mut huge.as_bytes()).expect("read");
        assert!(got.len() >= crate::limits::MIME_HEADER_MAX && got.len() < huge.len());
    }

    fn p(v: &str) -> Vec<(String, String)> {
        content_type(v.as_bytes())
            .unwrap()
            .params
            .iter()
            .map(|p| {
                (
                    String::from_utf8_lossy(&p.name).into_owned(),
                    String::from_utf8_lossy(&p.value).into_owned(),
                )
            })
            .collect()
    }

    #[test]
    fn fields_in_order_with_folding() {
        let raw = b"A: 1\r\nB:\r\n 2\n\tx\nnocolon\nC : 3\n\nbody";
        let f = fields(raw, 0..raw.len());
        let names: Vec<&[u8]> = f.iter().map(|f| f.name).collect();
        assert_eq!(names, [&b"A"[..], b"B", b"nocolon", b"C"]);
        assert_eq!(f[1].value, b"\r\n 2\n\tx\n");
        assert_eq!(&raw[f[1].raw.clone()], b"B:\r\n 2\n\tx\n");
        assert_eq!(f[3].value, b" 3\n");
    }

    #[test]
    fn content_type_with_comments_and_quotes() {
        let t = content_type(b" Text/Plain (a comment) ; charset=\"utf\\-8\" (x); format = flowed")
            .unwrap();
        assert_eq!(t.value, vec![b"Text".to_vec(), b"Plain".to_vec()]);
        assert_eq!(
            p("text/plain; charset=\"utf\\-8\"; format = flowed"),
            [
                ("charset".into(), "utf-8".into()),
                ("format".into(), "flowed".into())
            ]
        );
        assert!(content_type(b"text").is_none());
        assert!(content_type(b"").is_none());
        assert!(content_type(b"/plain").is_none());
    }

    #[test]
    fn rfc2231_continuations_and_charset() {
        // RFC 2231 3: continuations, joined in number order.
        assert_eq!(
            p("message/external-body; access-type=URL; URL*1=\"cs.utk.edu/pub/moore/bulk-mailer/bulk-mailer.tar\"; URL*0=\"ftp://\""),
            [("access-type".into(), "URL".into()), ("URL".into(), "ftp://cs.utk.edu/pub/moore/bulk-mailer/bulk-mailer.tar".into())]
        );
        // RFC 2231 4: charset'language'value, and `*0*` with a plain `*2`
        // (kept as it is, as Dovecot reports it).
        assert_eq!(
            p("application/x-stuff; title*=us-ascii'en-us'This%20is%20%2A%2A%2Afun%2A%2A%2A"),
            [(
                "title*".into(),
                "us-ascii'en-us'This%20is%20%2A%2A%2Afun%2A%2A%2A".into()
            )]
        );
        let v = p("application/x-stuff; title*0*=us-ascii'en'This%20is%20even%20more%20; title*1*=%2A%2A%2Afun%2A%2A%2A%20; title*2=\"isn't it!\"");
        assert_eq!(
            v,
            [(
                "title*".into(),
                "us-ascii'en'This%20is%20even%20more%20%2A%2A%2Afun%2A%2A%2A%20isn't it!".into()
            )]
        );
        let t = content_type(b"a/b; name*=utf-8''%E2%82%AC%20x").unwrap();
        assert_eq!(param_text(&t.params[0]), "\u{20ac} x");
        // A gap ends the value; garbage numbers are ordinary names.
        assert_eq!(
            p("a/b; n*0=a; n*2=c; m*x=1"),
            [("m*x".into(), "1".into()), ("n".into(), "a".into())]
        );
    }
}
