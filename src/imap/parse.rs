//! The IMAP command grammar: a complete framed command (`frame.rs`) to a
//! `Command`. A hand-written recursive-descent parser whose functions are
//! named after the RFC 3501 section 9 ABNF rules (and those of the
//! extensions we announce), each with its rule in the doc comment.
//!
//! The grammar is the RFC's, with the tolerances Dovecot has and clients
//! rely on: keywords in any case, a bare LF as line end (in `frame.rs`), a
//! one-digit day in `date-time`, and unpadded base64 in SASL-IR.
//! UTF-8 in quoted strings (RFC 9051's QUOTED-CHAR). Everything else is
//! refused with BAD rather than guessed at: other 8-bit octets
//! or NUL in quoted strings, NUL in literals, 0 or overflow in numbers,
//! extra spaces, unknown flags beginning with `\`.

use std::collections::VecDeque;

use chrono::NaiveDate;

use crate::imap::command::{
    AppendMessage, CatPart, Command, CommandBody, FetchItem, Literal, NotifyEvent, NotifyFilter,
    NotifyGroup, NotifyRequest, Order, QresyncParam, SearchKey, SearchReturn, SelectParams,
    SeqNumber, SequenceSet, StatusItem, StoreRequest, ThreadAlgorithm, UrlFetchArg, UrlFetchParams,
};
use crate::imap::frame::{Frame, Spooled};
use crate::imap::response::is_atom_char;
use crate::limits::{IMAP_NESTING_MAX, KEYWORD_LEN_MAX};
use crate::mime::{Section, SectionText};
use crate::store::{flag, FlagOp, Flags};

/// A command that is not valid IMAP. The session answers
/// `tag BAD message` or, without a tag, `* BAD message`. `message` is
/// short ASCII text with no CR or LF and never echoes the client's data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub tag: Option<String>,
    pub message: String,
}

impl ParseError {
    /// The response line, CRLF included.
    pub fn response(&self) -> Vec<u8> {
        let tag = self.tag.as_deref().unwrap_or("*");
        format!("{tag} BAD {}\r\n", self.message).into_bytes()
    }
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ParseError {}

/// Parses one complete command.
pub fn parse_command(frame: Frame) -> Result<Command, ParseError> {
    let (data, spooled) = frame.into_parts();
    let mut p = Parser {
        data: &data,
        pos: 0,
        spooled: spooled.into(),
        depth: 0,
    };
    let tag = p.tag().map_err(|e| ParseError {
        tag: None,
        message: e.0,
    })?;
    let body = p.command_body().and_then(|b| {
        if p.pos == p.data.len() {
            Ok(b)
        } else {
            Err(Bad::new("Unexpected characters at end of command"))
        }
    });
    match body {
        Ok(body) => Ok(Command { tag, body }),
        Err(e) => Err(ParseError {
            tag: Some(tag),
            message: e.0,
        }),
    }
}

/// RFC 4648 base64 as SASL uses it (RFC 4959 `base64`), padding optional.
/// `None` for anything else.
pub fn base64_decode(s: &[u8]) -> Option<Vec<u8>> {
    fn value(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    let body = match s {
        [b @ .., b'=', b'='] if s.len() % 4 == 0 => b,
        [b @ .., b'='] if s.len() % 4 == 0 => b,
        b => b,
    };
    if body.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(body.len() / 4 * 3 + 2);
    for chunk in body.chunks(4) {
        let mut acc = 0u32;
        for &c in chunk {
            acc = acc << 6 | value(c)?;
        }
        match chunk.len() {
            4 => out.extend_from_slice(&[(acc >> 16) as u8, (acc >> 8) as u8, acc as u8]),
            3 => {
                if acc & 0x3 != 0 {
                    return None;
                }
                out.extend_from_slice(&[(acc >> 10) as u8, (acc >> 2) as u8]);
            }
            _ => {
                if acc & 0xf != 0 {
                    return None;
                }
                out.push((acc >> 4) as u8);
            }
        }
    }
    Some(out)
}

/// RFC 3501 9: ATOM-CHAR is 7-bit; 8-bit text must be quoted (UTF-8,
/// RFC 9051) or sent as a literal.
const EIGHT_BIT_IN_ATOM: &str = "8-bit characters are allowed only in quoted strings and literals";

/// A syntax error's message (see `ParseError`).
#[derive(Debug)]
struct Bad(String);

impl Bad {
    fn new(m: &str) -> Bad {
        Bad(m.to_string())
    }
}

type PResult<T> = Result<T, Bad>;

struct Parser<'a> {
    data: &'a [u8],
    pos: usize,
    /// APPEND message literals kept in files, in order of position.
    spooled: VecDeque<Spooled>,
    /// Parenthesised lists we are inside of (bounded by IMAP_NESTING_MAX).
    depth: usize,
}

impl<'a> Parser<'a> {
    // ----- Primitives -----

    fn peek(&self) -> Option<u8> {
        self.data.get(self.pos).copied()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.data.len()
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: u8, what: &str) -> PResult<()> {
        if self.eat(c) {
            Ok(())
        } else if self.at_end() {
            Err(Bad(format!("Missing {what}")))
        } else {
            Err(Bad(format!("Expected {what}")))
        }
    }

    /// RFC 3501 9 `SP`: exactly one space.
    fn sp(&mut self) -> PResult<()> {
        if self.eat(b' ') {
            Ok(())
        } else if self.at_end() {
            Err(Bad::new("Missing argument"))
        } else {
            Err(Bad::new("Expected a space"))
        }
    }

    /// Consumes `word` (ASCII, any case) when it comes next.
    fn keyword(&mut self, word: &str) -> bool {
        let w = word.as_bytes();
        match self.data.get(self.pos..self.pos + w.len()) {
            Some(s) if s.eq_ignore_ascii_case(w) => {
                self.pos += w.len();
                true
            }
            _ => false,
        }
    }

    fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &'a [u8] {
        let start = self.pos;
        while self.peek().is_some_and(&f) {
            self.pos += 1;
        }
        &self.data[start..self.pos]
    }

    /// A run of letters, digits and dots, upper-cased: the names of FETCH
    /// items and section texts, which `[` and `<` may follow directly.
    fn name(&mut self) -> String {
        let s = self.take_while(|c| c.is_ascii_alphanumeric() || c == b'.');
        String::from_utf8_lossy(s).to_ascii_uppercase()
    }

    fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > IMAP_NESTING_MAX {
            return Err(Bad::new("Too deeply nested"));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    // ----- RFC 3501 9: basic rules -----

    /// `tag = 1*<any ASTRING-CHAR except "+">`
    fn tag(&mut self) -> PResult<String> {
        let t = self.take_while(|c| is_astring_char(c) && c != b'+');
        if t.is_empty() {
            return Err(Bad::new("Invalid tag"));
        }
        let t = String::from_utf8_lossy(t).into_owned();
        if !matches!(self.peek(), Some(b' ') | None) {
            return Err(Bad::new("Invalid tag"));
        }
        Ok(t)
    }

    /// `atom = 1*ATOM-CHAR`
    fn atom(&mut self) -> PResult<&[u8]> {
        let a = self.take_while(is_atom_char);
        if self.peek().is_some_and(|c| c >= 0x80) {
            return Err(Bad::new(EIGHT_BIT_IN_ATOM));
        }
        if a.is_empty() {
            return Err(Bad::new("Expected an atom"));
        }
        Ok(a)
    }

    /// An atom that names something (command, search key, status item),
    /// upper-cased for matching.
    fn atom_upper(&mut self) -> PResult<String> {
        Ok(String::from_utf8_lossy(self.atom()?).to_ascii_uppercase())
    }

    /// `number = 1*DIGIT` (unsigned 32-bit)
    fn number(&mut self) -> PResult<u32> {
        u32::try_from(self.number64()?).map_err(|_| Bad::new("Number too large"))
    }

    /// RFC 9051 `number64 = 1*DIGIT` (up to 2^63 - 1)
    fn number64(&mut self) -> PResult<u64> {
        let d = self.take_while(|c| c.is_ascii_digit());
        if d.is_empty() {
            return Err(Bad::new("Expected a number"));
        }
        let mut n: u64 = 0;
        for &c in d {
            n = n
                .checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(c - b'0')))
                .filter(|&n| n <= i64::MAX as u64)
                .ok_or_else(|| Bad::new("Number too large"))?;
        }
        Ok(n)
    }

    /// `nz-number = digit-nz *DIGIT`
    fn nz_number(&mut self) -> PResult<u32> {
        match self.number()? {
            0 => Err(Bad::new("Zero is not a valid number here")),
            n => Ok(n),
        }
    }

    /// `astring = 1*ASTRING-CHAR / string`
    fn astring(&mut self) -> PResult<Vec<u8>> {
        match self.peek() {
            Some(b'"' | b'{') => self.string(),
            _ => {
                let a = self.take_while(is_astring_char);
                if self.peek().is_some_and(|c| c >= 0x80) {
                    return Err(Bad::new(EIGHT_BIT_IN_ATOM));
                }
                if a.is_empty() {
                    return Err(if self.at_end() {
                        Bad::new("Missing argument")
                    } else {
                        Bad::new("Expected a string")
                    });
                }
                Ok(a.to_vec())
            }
        }
    }

    /// `string = quoted / literal`
    fn string(&mut self) -> PResult<Vec<u8>> {
        match self.peek() {
            Some(b'"') => self.quoted(),
            Some(b'{') => self.literal(),
            None => Err(Bad::new("Missing argument")),
            _ => Err(Bad::new("Expected a string")),
        }
    }

    /// `nstring = string / nil`
    fn nstring(&mut self) -> PResult<Option<Vec<u8>>> {
        if self.nil() {
            Ok(None)
        } else {
            self.string().map(Some)
        }
    }

    /// `nil = "NIL"`
    fn nil(&mut self) -> bool {
        let save = self.pos;
        if self.keyword("NIL") && !self.peek().is_some_and(is_astring_char) {
            return true;
        }
        self.pos = save;
        false
    }

    /// `quoted = DQUOTE *QUOTED-CHAR DQUOTE`
    /// `QUOTED-CHAR = <any TEXT-CHAR except quoted-specials> /
    ///  "\" quoted-specials`
    fn quoted(&mut self) -> PResult<Vec<u8>> {
        self.expect(b'"', "a quoted string")?;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None => return Err(Bad::new("Unterminated quoted string")),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(c @ (b'"' | b'\\')) => {
                            self.pos += 1;
                            out.push(c);
                        }
                        _ => return Err(Bad::new("Invalid escape in quoted string")),
                    }
                }
                Some(c) if is_text_char(c) => {
                    self.pos += 1;
                    out.push(c);
                }
                // RFC 9051 9 QUOTED-CHAR admits UTF-8 (UTF8-2/3/4), and
                // clients send UTF-8 search strings quoted (Dovecot takes
                // them): accept a whole valid UTF-8 sequence, nothing else.
                Some(c @ 0xc2..=0xf4) => {
                    let len = match c {
                        0xc2..=0xdf => 2,
                        0xe0..=0xef => 3,
                        0xf0..=0xf4 => 4,
                        _ => 0,
                    };
                    let seq = self.data.get(self.pos..self.pos + len).unwrap_or_default();
                    if len == 0 || seq.len() != len || std::str::from_utf8(seq).is_err() {
                        return Err(Bad::new("Invalid UTF-8 in quoted string"));
                    }
                    out.extend_from_slice(seq);
                    self.pos += len;
                }
                Some(_) => {
                    return Err(Bad::new(
                        "Invalid character in quoted string (use a literal for 8-bit data)",
                    ))
                }
            }
        }
    }

    /// `literal = "{" number ["+"] "}" CRLF *CHAR8` (RFC 7888 adds "+").
    /// Returns the length; the octets follow at `self.pos`.
    fn literal_header(&mut self) -> PResult<usize> {
        self.expect(b'{', "a literal")?;
        let n = self.number()?;
        self.eat(b'+');
        self.expect(b'}', "}")?;
        if !(self.eat(b'\r') && self.eat(b'\n')) {
            return Err(Bad::new("Expected CRLF after literal size"));
        }
        usize::try_from(n).map_err(|_| Bad::new("Literal too large"))
    }

    /// `literal`; `CHAR8 = %x01-ff`: no NUL.
    fn literal(&mut self) -> PResult<Vec<u8>> {
        let n = self.literal_header()?;
        if self.spooled.front().is_some_and(|s| s.at == self.pos) {
            return Err(Bad::new("Unexpected message literal"));
        }
        let end = self.pos.checked_add(n).filter(|&e| e <= self.data.len());
        let Some(end) = end else {
            return Err(Bad::new("Literal shorter than announced"));
        };
        let s = &self.data[self.pos..end];
        if s.contains(&0) {
            return Err(Bad::new("NUL in literal"));
        }
        self.pos = end;
        Ok(s.to_vec())
    }

    // ----- Mailboxes, flags, dates -----

    /// `mailbox = "INBOX" / astring`: INBOX in any case is "INBOX"
    /// (RFC 3501 5.1). Names must be UTF-8 (modified UTF-7 is ASCII; the
    /// store validates it).
    fn mailbox(&mut self) -> PResult<String> {
        let name = self.astring()?;
        let name =
            String::from_utf8(name).map_err(|_| Bad::new("Mailbox name is not valid UTF-8"))?;
        Ok(if name.eq_ignore_ascii_case("INBOX") {
            "INBOX".to_string()
        } else {
            utf8_name(name)
        })
    }

    /// `list-mailbox = 1*list-char / string`
    /// `list-char = ATOM-CHAR / list-wildcards / resp-specials`
    fn list_mailbox(&mut self) -> PResult<String> {
        let s = match self.peek() {
            Some(b'"' | b'{') => self.string()?,
            _ => {
                let s = self.take_while(|c| is_astring_char(c) || c == b'%' || c == b'*');
                if s.is_empty() {
                    return Err(Bad::new("Missing mailbox pattern"));
                }
                s.to_vec()
            }
        };
        String::from_utf8(s)
            .map(utf8_name)
            .map_err(|_| Bad::new("Mailbox pattern is not valid UTF-8"))
    }

    /// `flag-list = "(" [flag *(SP flag)] ")"`
    fn flag_list(&mut self) -> PResult<Flags> {
        self.expect(b'(', "(")?;
        let mut flags = Flags::default();
        if !self.eat(b')') {
            loop {
                self.flag(&mut flags)?;
                if self.eat(b')') {
                    break;
                }
                self.sp()?;
            }
        }
        Ok(flags)
    }

    /// `flag = "\Answered" / "\Flagged" / "\Deleted" / "\Seen" / "\Draft" /
    ///  flag-keyword / flag-extension`; `flag-keyword = atom`.
    /// A `flag-extension` we do not know (including `\Recent`, which
    /// cannot be stored) is refused.
    fn flag(&mut self, flags: &mut Flags) -> PResult<()> {
        if self.eat(b'\\') {
            let name = self.atom()?;
            let bit = flag::ALL
                .iter()
                .find(|(_, n)| n.as_bytes()[1..].eq_ignore_ascii_case(name))
                .map(|&(b, _)| b)
                .ok_or_else(|| Bad::new("Invalid system flag"))?;
            flags.system |= bit;
        } else {
            let k = self.flag_keyword()?;
            flags.insert_keyword(&k);
        }
        Ok(())
    }

    /// `flag-keyword = atom`, at most KEYWORD_LEN_MAX octets.
    fn flag_keyword(&mut self) -> PResult<String> {
        let k = self.atom()?;
        if k.len() > KEYWORD_LEN_MAX {
            return Err(Bad::new("Keyword too long"));
        }
        Ok(String::from_utf8_lossy(k).into_owned())
    }

    /// `date = date-text / DQUOTE date-text DQUOTE`
    /// `date-text = date-day "-" date-month "-" date-year`
    fn date(&mut self) -> PResult<NaiveDate> {
        let quoted = self.eat(b'"');
        let day = self.digits(1, 2)?;
        self.expect(b'-', "-")?;
        let month = self.date_month()?;
        self.expect(b'-', "-")?;
        let year = self.digits(4, 4)?;
        if quoted {
            self.expect(b'"', "closing quote")?;
        }
        NaiveDate::from_ymd_opt(year as i32, month, day).ok_or_else(|| Bad::new("Invalid date"))
    }

    /// Between `min` and `max` digits.
    fn digits(&mut self, min: usize, max: usize) -> PResult<u32> {
        let start = self.pos;
        let d = self.take_while(|c| c.is_ascii_digit());
        if d.len() < min || d.len() > max {
            self.pos = start;
            return Err(Bad::new("Invalid date"));
        }
        Ok(d.iter().fold(0, |n, &c| n * 10 + u32::from(c - b'0')))
    }

    /// `date-month = "Jan" / "Feb" / ... / "Dec"` (any case).
    fn date_month(&mut self) -> PResult<u32> {
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        for (i, m) in MONTHS.iter().enumerate() {
            if self.keyword(m) {
                return Ok(i as u32 + 1);
            }
        }
        Err(Bad::new("Invalid date"))
    }

    /// `date-time = DQUOTE date-day-fixed "-" date-month "-" date-year
    ///  SP time SP zone DQUOTE`, `date-day-fixed = (SP DIGIT) / 2DIGIT`
    /// (one digit alone is accepted too), `time = 2DIGIT ":" 2DIGIT ":"
    /// 2DIGIT`, `zone = ("+" / "-") 4DIGIT`.
    /// Returns seconds since the epoch and the zone in minutes east.
    fn date_time(&mut self) -> PResult<(i64, i32)> {
        let bad = || Bad::new("Invalid date-time");
        self.expect(b'"', "date-time")?;
        self.eat(b' ');
        let day = self.digits(1, 2).map_err(|_| bad())?;
        self.expect(b'-', "-").map_err(|_| bad())?;
        let month = self.date_month().map_err(|_| bad())?;
        self.expect(b'-', "-").map_err(|_| bad())?;
        let year = self.digits(4, 4).map_err(|_| bad())?;
        self.expect(b' ', "SP").map_err(|_| bad())?;
        let h = self.digits(2, 2).map_err(|_| bad())?;
        self.expect(b':', ":").map_err(|_| bad())?;
        let m = self.digits(2, 2).map_err(|_| bad())?;
        self.expect(b':', ":").map_err(|_| bad())?;
        let s = self.digits(2, 2).map_err(|_| bad())?;
        self.expect(b' ', "SP").map_err(|_| bad())?;
        let sign = match self.peek() {
            Some(b'+') => 1,
            Some(b'-') => -1,
            _ => return Err(bad()),
        };
        self.pos += 1;
        let zone = self.digits(4, 4).map_err(|_| bad())?;
        self.expect(b'"', "closing quote").map_err(|_| bad())?;
        let (zh, zm) = (zone / 100, zone % 100);
        if zm >= 60 || zh > 24 {
            return Err(bad());
        }
        let zone = sign * (zh * 60 + zm) as i32;
        // A leap second is taken as the second before it.
        let t = NaiveDate::from_ymd_opt(year as i32, month, day)
            .and_then(|d| d.and_hms_opt(h, m, s.min(59)))
            .ok_or_else(bad)?;
        let secs = t.and_utc().timestamp() - i64::from(zone) * 60;
        Ok((secs, zone))
    }

    // ----- Sequence sets -----

    /// `sequence-set = (seq-number / seq-range) ["," sequence-set]`
    /// `seq-range = seq-number ":" seq-number`; RFC 5182 `sequence-set =/
    /// seq-last-command`, `seq-last-command = "$"`.
    fn sequence_set(&mut self) -> PResult<SequenceSet> {
        let mut set = Vec::new();
        loop {
            if self.eat(b'$') {
                set.push((SeqNumber::Saved, SeqNumber::Saved));
                if !self.eat(b',') {
                    return Ok(SequenceSet(set));
                }
                continue;
            }
            let a = self.seq_number()?;
            let b = if self.eat(b':') {
                self.seq_number()?
            } else {
                a
            };
            set.push((a, b));
            if !self.eat(b',') {
                return Ok(SequenceSet(set));
            }
        }
    }

    /// `seq-number = nz-number / "*"`
    fn seq_number(&mut self) -> PResult<SeqNumber> {
        if self.eat(b'*') {
            return Ok(SeqNumber::Star);
        }
        match self.peek() {
            Some(c) if c.is_ascii_digit() => self
                .nz_number()
                .map(SeqNumber::Value)
                .map_err(|_| Bad::new("Invalid sequence set")),
            None => Err(Bad::new("Missing sequence set")),
            _ => Err(Bad::new("Invalid sequence set")),
        }
    }

    // ----- Commands -----

    /// `command = tag SP (command-any / command-auth / command-nonauth /
    ///  command-select) CRLF` (the tag and CRLF are done elsewhere)
    fn command_body(&mut self) -> PResult<CommandBody> {
        if !self.eat(b' ') {
            return Err(Bad::new("Missing command"));
        }
        let name = self.atom_upper().map_err(|_| Bad::new("Missing command"))?;
        use CommandBody as C;
        Ok(match name.as_str() {
            // command-any
            "CAPABILITY" => C::Capability,
            "LOGOUT" => C::Logout,
            "NOOP" => C::Noop,
            "ID" => self.id()?,
            // command-nonauth
            "STARTTLS" => C::StartTls,
            "LOGIN" => self.login()?,
            "AUTHENTICATE" => self.authenticate()?,
            // command-auth
            "APPEND" => self.append()?,
            "CREATE" => self.create()?,
            "DELETE" => C::Delete {
                mailbox: self.sp_mailbox()?,
            },
            "EXAMINE" => C::Examine {
                mailbox: self.sp_mailbox()?,
                params: self.select_params()?,
            },
            "SELECT" => C::Select {
                mailbox: self.sp_mailbox()?,
                params: self.select_params()?,
            },
            "SUBSCRIBE" => C::Subscribe {
                mailbox: self.sp_mailbox()?,
            },
            "UNSUBSCRIBE" => C::Unsubscribe {
                mailbox: self.sp_mailbox()?,
            },
            "RENAME" => C::Rename {
                from: self.sp_mailbox()?,
                to: self.sp_mailbox()?,
            },
            "LIST" => self.list()?,
            // XLIST: RFC 3501 LIST's syntax.
            "XLIST" => {
                let reference = self.sp_mailbox()?;
                self.sp()?;
                C::List(crate::imap::command::ListRequest {
                    reference,
                    patterns: vec![self.list_mailbox()?],
                    xlist: true,
                    ..Default::default()
                })
            }
            "LSUB" => {
                let reference = self.sp_mailbox()?;
                self.sp()?;
                C::Lsub {
                    reference,
                    pattern: self.list_mailbox()?,
                }
            }
            "STATUS" => self.status()?,
            "NAMESPACE" => C::Namespace,
            "IDLE" => C::Idle,
            "ENABLE" => self.enable()?,
            // RFC 4978 `"COMPRESS" SP algorithm`, `algorithm = "DEFLATE"`
            // (others are an atom the command refuses).
            "COMPRESS" => {
                self.sp()?;
                C::Compress(String::from_utf8_lossy(&self.astring()?).into_owned())
            }
            // command-select
            "CHECK" => C::Check,
            "CLOSE" => C::Close,
            "UNSELECT" => C::Unselect,
            "EXPUNGE" => C::Expunge { uids: None },
            "SEARCH" => self.search(false)?,
            "ESEARCH" => self.esearch()?,
            // RFC 9208 `getquota = "GETQUOTA" SP quota-root-name`,
            // `getquotaroot = "GETQUOTAROOT" SP mailbox`, `setquota =
            // "SETQUOTA" SP quota-root-name SP setquota-list` (refused
            // whatever the list: not parsed further).
            "GETQUOTA" => {
                self.sp()?;
                C::GetQuota(String::from_utf8_lossy(&self.astring()?).into_owned())
            }
            "GETQUOTAROOT" => C::GetQuotaRoot(self.sp_mailbox()?),
            "SETQUOTA" => {
                self.sp()?;
                self.astring()?;
                self.sp()?;
                self.expect(b'(', "(")?;
                self.pos = self.data.len();
                C::SetQuota
            }
            "GENURLAUTH" => {
                let mut urls = Vec::new();
                while !self.at_end() || urls.is_empty() {
                    self.sp()?;
                    let url = String::from_utf8_lossy(&self.astring()?).into_owned();
                    self.sp()?;
                    urls.push((url, self.atom_upper()?));
                }
                C::GenUrlAuth(urls)
            }
            "RESETKEY" => {
                let mailbox = if self.at_end() {
                    None
                } else {
                    Some(self.sp_mailbox()?)
                };
                let mut mechanisms = Vec::new();
                while !self.at_end() {
                    self.sp()?;
                    mechanisms.push(self.atom_upper()?);
                }
                C::ResetKey {
                    mailbox,
                    mechanisms,
                }
            }
            "URLFETCH" => self.urlfetch()?,
            "NOTIFY" => self.notify()?,
            "CANCELUPDATE" => {
                let mut tags = Vec::new();
                while !self.at_end() || tags.is_empty() {
                    self.sp()?;
                    tags.push(String::from_utf8_lossy(&self.quoted()?).into_owned());
                }
                C::CancelUpdate(tags)
            }
            "SORT" => self.sort(false)?,
            "THREAD" => self.thread(false)?,
            "FETCH" => self.fetch(false)?,
            "STORE" => self.store(false)?,
            "COPY" => self.copy(false, false)?,
            "MOVE" => self.copy(true, false)?,
            "UID" => self.uid()?,
            _ => return Err(Bad::new("Unknown command")),
        })
    }

    /// RFC 4467 `urlfetch = "URLFETCH" 1*(SP url-full)`, and RFC 5524's
    /// `url-fetch-arg = url-full / "(" url-full *(SP url-fetch-param) ")"`,
    /// `url-fetch-param = "BODYPARTSTRUCTURE" / "BINARY" / "BODY"`.
    fn urlfetch(&mut self) -> PResult<CommandBody> {
        let mut urls = Vec::new();
        while !self.at_end() || urls.is_empty() {
            self.sp()?;
            if !self.eat(b'(') {
                let url = String::from_utf8_lossy(&self.astring()?).into_owned();
                urls.push(UrlFetchArg { url, params: None });
                continue;
            }
            let url = String::from_utf8_lossy(&self.astring()?).into_owned();
            let mut params = UrlFetchParams::default();
            while !self.eat(b')') {
                self.sp()?;
                let seen = match self.atom_upper()?.as_str() {
                    "BODY" => std::mem::replace(&mut params.body, true),
                    "BINARY" => std::mem::replace(&mut params.binary, true),
                    "BODYPARTSTRUCTURE" => std::mem::replace(&mut params.body_part_structure, true),
                    _ => return Err(Bad::new("Unknown URLFETCH parameter")),
                };
                if seen {
                    return Err(Bad::new("URLFETCH parameter given twice"));
                }
            }
            if params.body && params.binary {
                return Err(Bad::new("BODY and BINARY exclude each other"));
            }
            urls.push(UrlFetchArg {
                url,
                params: Some(params),
            });
        }
        Ok(CommandBody::UrlFetch(urls))
    }

    /// RFC 5465 `notify = "NOTIFY" SP (notify-set / notify-none)`,
    /// `notify-set = "SET" [SP "STATUS"] 1*(SP event-group)`,
    /// `event-group = "(" filter-mailboxes SP events ")"`.
    fn notify(&mut self) -> PResult<CommandBody> {
        self.sp()?;
        match self.atom_upper()?.as_str() {
            "NONE" => return Ok(CommandBody::Notify(None)),
            "SET" => {}
            _ => return Err(Bad::new("Expected NOTIFY SET or NOTIFY NONE")),
        }
        let mut req = NotifyRequest {
            status: false,
            groups: Vec::new(),
        };
        self.sp()?;
        if !self.eat(b'(') {
            if self.atom_upper()? != "STATUS" {
                return Err(Bad::new("Expected STATUS or an event group"));
            }
            req.status = true;
            self.sp()?;
            self.expect(b'(', "(")?;
        }
        loop {
            let filter = match self.atom_upper()?.as_str() {
                "SELECTED" => NotifyFilter::Selected,
                "SELECTED-DELAYED" => NotifyFilter::SelectedDelayed,
                "INBOXES" => NotifyFilter::Inboxes,
                "PERSONAL" => NotifyFilter::Personal,
                "SUBSCRIBED" => NotifyFilter::Subscribed,
                "SUBTREE" => NotifyFilter::Subtree(self.notify_mailboxes()?),
                "MAILBOXES" => NotifyFilter::Mailboxes(self.notify_mailboxes()?),
                _ => return Err(Bad::new("Unknown NOTIFY mailbox filter")),
            };
            self.sp()?;
            let mut events = Vec::new();
            if !self.eat(b'(') {
                if self.atom_upper()? != "NONE" {
                    return Err(Bad::new("Expected events or NONE"));
                }
            } else {
                loop {
                    let name = self.atom_upper()?;
                    events.push(match name.as_str() {
                        "MESSAGENEW" => {
                            let mut items = Vec::new();
                            if self.peek() == Some(b' ')
                                && self.data.get(self.pos + 1) == Some(&b'(')
                            {
                                self.pos += 2;
                                loop {
                                    items.push(self.fetch_att()?);
                                    if self.eat(b')') {
                                        break;
                                    }
                                    self.sp()?;
                                }
                            }
                            NotifyEvent::MessageNew(items)
                        }
                        "MESSAGEEXPUNGE" => NotifyEvent::MessageExpunge,
                        "FLAGCHANGE" => NotifyEvent::FlagChange,
                        "MAILBOXNAME" => NotifyEvent::MailboxName,
                        "SUBSCRIPTIONCHANGE" => NotifyEvent::SubscriptionChange,
                        _ => NotifyEvent::Other(
                            String::from_utf8_lossy(&self.data[self.pos - name.len()..self.pos])
                                .into_owned(),
                        ),
                    });
                    if self.eat(b')') {
                        break;
                    }
                    self.sp()?;
                }
            }
            self.expect(b')', ")")?;
            req.groups.push(NotifyGroup { filter, events });
            if self.at_end() {
                break;
            }
            self.sp()?;
            self.expect(b'(', "(")?;
        }
        Ok(CommandBody::Notify(Some(req)))
    }

    /// RFC 5465 `one-or-more-mailbox = mailbox / "(" mailbox *(SP mailbox) ")"`,
    /// after a space.
    fn notify_mailboxes(&mut self) -> PResult<Vec<String>> {
        self.sp()?;
        if !self.eat(b'(') {
            return Ok(vec![self.mailbox()?]);
        }
        let mut names = vec![self.mailbox()?];
        while !self.eat(b')') {
            self.sp()?;
            names.push(self.mailbox()?);
        }
        Ok(names)
    }

    fn sp_mailbox(&mut self) -> PResult<String> {
        self.sp()?;
        self.mailbox()
    }

    /// `uid = "UID" SP (copy / fetch / search / store / move / expunge)`
    /// (RFC 3501, RFC 6851 MOVE, RFC 4315 UID EXPUNGE)
    fn uid(&mut self) -> PResult<CommandBody> {
        self.sp()?;
        let name = self.atom_upper()?;
        match name.as_str() {
            "COPY" => self.copy(false, true),
            "MOVE" => self.copy(true, true),
            "FETCH" => self.fetch(true),
            "SEARCH" => self.search(true),
            "SORT" => self.sort(true),
            "THREAD" => self.thread(true),
            "STORE" => self.store(true),
            "EXPUNGE" => {
                self.sp()?;
                Ok(CommandBody::Expunge {
                    uids: Some(self.sequence_set()?),
                })
            }
            _ => Err(Bad::new("Unknown UID command")),
        }
    }

    /// `login = "LOGIN" SP userid SP password`;
    /// `userid = astring`, `password = astring`
    fn login(&mut self) -> PResult<CommandBody> {
        self.sp()?;
        let userid = self.astring()?;
        self.sp()?;
        let password = self.astring()?;
        Ok(CommandBody::Login { userid, password })
    }

    /// `authenticate = "AUTHENTICATE" SP auth-type [SP (base64 / "=")]`
    /// (RFC 4959); `auth-type = atom`
    fn authenticate(&mut self) -> PResult<CommandBody> {
        self.sp()?;
        let mechanism = self.atom_upper()?;
        let initial_response = if self.eat(b' ') {
            if self.eat(b'=') {
                Some(Vec::new())
            } else {
                let s = self.take_while(|c| {
                    c.is_ascii_alphanumeric() || c == b'+' || c == b'/' || c == b'='
                });
                if s.is_empty() {
                    return Err(Bad::new("Invalid initial response"));
                }
                Some(base64_decode(s).ok_or_else(|| Bad::new("Invalid base64"))?)
            }
        } else {
            None
        };
        Ok(CommandBody::Authenticate {
            mechanism,
            initial_response,
        })
    }

    /// RFC 4466 `create = "CREATE" SP mailbox [create-params]`,
    /// `create-params = SP "(" create-param *(SP create-param) ")"`; the one
    /// parameter is RFC 6154's `"USE" SP "(" [use-attr *(SP use-attr)] ")"`.
    fn create(&mut self) -> PResult<CommandBody> {
        let mailbox = self.sp_mailbox()?;
        let mut uses = Vec::new();
        if !self.at_end() {
            self.sp()?;
            self.expect(b'(', "(")?;
            loop {
                if self.atom_upper()? != "USE" {
                    return Err(Bad::new("Unknown CREATE parameter"));
                }
                self.sp()?;
                self.expect(b'(', "(")?;
                if !self.eat(b')') {
                    loop {
                        self.expect(b'\\', "\\")?;
                        let a = String::from_utf8_lossy(self.atom()?).into_owned();
                        uses.push(format!("\\{a}"));
                        if self.eat(b')') {
                            break;
                        }
                        self.sp()?;
                    }
                }
                if self.eat(b')') {
                    break;
                }
                self.sp()?;
            }
        }
        Ok(CommandBody::Create { mailbox, uses })
    }

    /// RFC 5258 `list = "LIST" [SP list-select-opts] SP mailbox SP
    /// mbox-or-pat [SP list-return-opts]`; `mbox-or-pat = list-mailbox /
    /// patterns`, `patterns = "(" list-mailbox *(SP list-mailbox) ")"`.
    fn list(&mut self) -> PResult<CommandBody> {
        let mut r = crate::imap::command::ListRequest::default();
        self.sp()?;
        if self.eat(b'(') {
            // list-select-opts: SUBSCRIBED, REMOTE, RECURSIVEMATCH (needs a
            // base option), RFC 6154 SPECIAL-USE.
            r.extended = true;
            if !self.eat(b')') {
                loop {
                    match self.atom_upper()?.as_str() {
                        "SUBSCRIBED" => r.subscribed = true,
                        "REMOTE" => {}
                        "RECURSIVEMATCH" => r.recursive_match = true,
                        "SPECIAL-USE" => r.special_use = true,
                        _ => return Err(Bad::new("Unknown LIST selection option")),
                    }
                    if self.eat(b')') {
                        break;
                    }
                    self.sp()?;
                }
            }
            if r.recursive_match && !r.subscribed && !r.special_use {
                return Err(Bad::new(
                    "RECURSIVEMATCH needs a selection option to go with",
                ));
            }
            self.sp()?;
        }
        r.reference = self.mailbox()?;
        self.sp()?;
        if self.eat(b'(') {
            r.extended = true;
            loop {
                r.patterns.push(self.list_mailbox()?);
                if self.eat(b')') {
                    break;
                }
                self.sp()?;
            }
        } else {
            r.patterns.push(self.list_mailbox()?);
        }
        if !self.at_end() {
            // list-return-opts = "RETURN" SP "(" [return-option *(SP
            // return-option)] ")"
            self.sp()?;
            if self.atom_upper()? != "RETURN" {
                return Err(Bad::new("Expected RETURN"));
            }
            r.extended = true;
            self.sp()?;
            self.expect(b'(', "(")?;
            if !self.eat(b')') {
                loop {
                    match self.atom_upper()?.as_str() {
                        "SUBSCRIBED" => r.return_subscribed = true,
                        "CHILDREN" => r.return_children = true,
                        "SPECIAL-USE" => r.return_special_use = true,
                        // RFC 5819 `"STATUS" SP "(" status-att *(SP
                        // status-att) ")"`
                        "STATUS" => {
                            self.sp()?;
                            r.return_status = Some(self.status_atts()?);
                        }
                        _ => return Err(Bad::new("Unknown LIST return option")),
                    }
                    if self.eat(b')') {
                        break;
                    }
                    self.sp()?;
                }
            }
        }
        // SUBSCRIBED selection implies the SUBSCRIBED return option.
        r.return_subscribed |= r.subscribed;
        Ok(CommandBody::List(r))
    }

    /// `status = "STATUS" SP mailbox SP "(" status-att *(SP status-att) ")"`
    fn status(&mut self) -> PResult<CommandBody> {
        let mailbox = self.sp_mailbox()?;
        self.sp()?;
        let items = self.status_atts()?;
        Ok(CommandBody::Status { mailbox, items })
    }

    /// `"(" status-att *(SP status-att) ")"`, each item once.
    /// `status-att = "MESSAGES" / "RECENT" / "UIDNEXT" / "UIDVALIDITY" /
    ///  "UNSEEN"` / RFC 8438 `"SIZE"` / RFC 7162 `"HIGHESTMODSEQ"` / RFC
    ///  7889 `"APPENDLIMIT"` / RFC 8474 `"MAILBOXID"`
    fn status_atts(&mut self) -> PResult<Vec<StatusItem>> {
        self.expect(b'(', "(")?;
        let mut items = Vec::new();
        loop {
            let item = match self.atom_upper()?.as_str() {
                // RFC 9051 E: IMAP4rev2 has no \Recent.
                "RECENT" if crate::imap::response::imap4rev2() => {
                    return Err(Bad::new("RECENT is not in IMAP4rev2"))
                }
                "MESSAGES" => StatusItem::Messages,
                "RECENT" => StatusItem::Recent,
                "UIDNEXT" => StatusItem::UidNext,
                "UIDVALIDITY" => StatusItem::UidValidity,
                "UNSEEN" => StatusItem::Unseen,
                "SIZE" => StatusItem::Size,
                "HIGHESTMODSEQ" => StatusItem::HighestModSeq,
                "APPENDLIMIT" => StatusItem::AppendLimit,
                "MAILBOXID" => StatusItem::MailboxId,
                "DELETED" => StatusItem::Deleted,
                "DELETED-STORAGE" => StatusItem::DeletedStorage,
                _ => return Err(Bad::new("Unknown STATUS item")),
            };
            if !items.contains(&item) {
                items.push(item);
            }
            if self.eat(b')') {
                break;
            }
            self.sp()?;
        }
        Ok(items)
    }

    /// RFC 3502: `append = "APPEND" SP mailbox 1*append-message`
    /// `append-message = append-opts SP append-data`
    /// `append-opts = [SP flag-list] [SP date-time]`
    fn append(&mut self) -> PResult<CommandBody> {
        let mailbox = self.sp_mailbox()?;
        let mut messages = Vec::new();
        while !self.at_end() {
            self.sp()?;
            let mut flags = Flags::default();
            let mut date = None;
            if self.peek() == Some(b'(') {
                flags = self.flag_list()?;
                self.sp()?;
            }
            if self.peek() == Some(b'"') {
                date = Some(self.date_time()?);
                self.sp()?;
            }
            // RFC 4469 `append-data-ext = "CATENATE" SP "(" cat-part *(SP
            // cat-part) ")"`, `cat-part = "TEXT" SP literal / "URL" SP
            // astring` (RFC 3516 allows literal8 for TEXT).
            if self.keyword("CATENATE (") {
                let mut parts = Vec::new();
                loop {
                    if self.keyword("TEXT ") {
                        parts.push(CatPart::Text(self.append_data()?));
                    } else if self.keyword("URL ") {
                        let url = self.astring()?;
                        let url = String::from_utf8(url).map_err(|_| Bad::new("Invalid URL"))?;
                        parts.push(CatPart::Url(url));
                    } else {
                        return Err(Bad::new("Expected TEXT or URL"));
                    }
                    if self.eat(b')') {
                        break;
                    }
                    self.sp()?;
                }
                messages.push(AppendMessage {
                    flags,
                    date,
                    data: Literal::Memory(Vec::new()),
                    binary: false,
                    catenate: Some(parts),
                });
                continue;
            }
            // RFC 6855 4: `"UTF8" SP "(" literal8 ")"`: a message with
            // UTF-8 headers, text like any other.
            let utf8 = self.keyword("UTF8 (");
            let binary = !utf8 && self.peek() == Some(b'~');
            let data = self.append_data()?;
            if utf8 {
                self.expect(b')', ")")?;
            }
            messages.push(AppendMessage {
                flags,
                date,
                data,
                binary,
                catenate: None,
            });
        }
        if messages.is_empty() {
            return Err(Bad::new("Missing message literal"));
        }
        Ok(CommandBody::Append { mailbox, messages })
    }

    /// `append-data = literal / literal8` (RFC 3516 4.4: `literal8 = "~{"
    /// number ["+"] "}" CRLF *OCTET`): the message octets, which may be in
    /// a spool file; NUL is not checked for, the store copes with it.
    fn append_data(&mut self) -> PResult<Literal> {
        self.eat(b'~');
        if self.peek() != Some(b'{') {
            return Err(Bad::new("Expected a message literal"));
        }
        let n = self.literal_header()?;
        if self.spooled.front().is_some_and(|s| s.at == self.pos) {
            if let Some(s) = self.spooled.pop_front() {
                if s.len != n as u64 {
                    return Err(Bad::new("Literal length mismatch"));
                }
                return Ok(Literal::File(s.file, s.len));
            }
        }
        let end = self.pos.checked_add(n).filter(|&e| e <= self.data.len());
        let Some(end) = end else {
            return Err(Bad::new("Literal shorter than announced"));
        };
        let v = self.data[self.pos..end].to_vec();
        self.pos = end;
        Ok(Literal::Memory(v))
    }

    /// RFC 4466 `select-params = SP "(" select-param *(SP select-param)
    /// ")"`, of which we know RFC 7162 `condstore-param = "CONDSTORE"` and
    /// `qresync-param`.
    fn select_params(&mut self) -> PResult<SelectParams> {
        let mut params = SelectParams::default();
        if self.at_end() {
            return Ok(params);
        }
        self.sp()?;
        self.expect(b'(', "(")?;
        loop {
            match self.atom_upper()?.as_str() {
                "CONDSTORE" => params.condstore = true,
                "QRESYNC" if params.qresync.is_none() => {
                    self.sp()?;
                    params.qresync = Some(self.qresync_param()?);
                }
                _ => return Err(Bad::new("Unknown SELECT parameter")),
            }
            if self.eat(b')') {
                return Ok(params);
            }
            self.sp()?;
        }
    }

    /// RFC 7162 `"(" uidvalidity SP mod-sequence-value [SP known-uids]
    /// [SP seq-match-data] ")"`, `seq-match-data = "(" known-sequence-set
    /// SP known-uid-set ")"`.
    fn qresync_param(&mut self) -> PResult<QresyncParam> {
        self.expect(b'(', "(")?;
        let uid_validity = self.nz_number()?;
        self.sp()?;
        let modseq = self.number64()?;
        let mut known_uids = None;
        let mut seq_match = None;
        if self.eat(b' ') && self.peek() != Some(b'(') {
            known_uids = Some(self.sequence_set()?);
            if !self.eat(b' ') {
                self.expect(b')', ")")?;
                return Ok(QresyncParam {
                    uid_validity,
                    modseq,
                    known_uids,
                    seq_match,
                });
            }
        }
        if self.eat(b'(') {
            let seqs = self.sequence_set()?;
            self.sp()?;
            let uids = self.sequence_set()?;
            self.expect(b')', ")")?;
            seq_match = Some((seqs, uids));
        }
        self.expect(b')', ")")?;
        Ok(QresyncParam {
            uid_validity,
            modseq,
            known_uids,
            seq_match,
        })
    }

    /// RFC 4466 `fetch-modifiers = SP "(" fetch-modifier *(SP
    /// fetch-modifier) ")"`, of which we know RFC 7162 `"CHANGEDSINCE" SP
    /// mod-sequence-value` and `"VANISHED"`.
    fn fetch_modifiers(&mut self) -> PResult<(Option<u64>, bool)> {
        let (mut changed_since, mut vanished) = (None, false);
        if self.at_end() || self.data.get(self.pos..self.pos + 2) != Some(b" (") {
            return Ok((changed_since, vanished));
        }
        self.pos += 2;
        loop {
            match self.atom_upper()?.as_str() {
                "CHANGEDSINCE" if changed_since.is_none() => {
                    self.sp()?;
                    changed_since = Some(self.number64()?);
                }
                "VANISHED" if !vanished => vanished = true,
                _ => return Err(Bad::new("Unknown FETCH modifier")),
            }
            if self.eat(b')') {
                return Ok((changed_since, vanished));
            }
            self.sp()?;
        }
    }

    /// RFC 4466 `fetch-modifiers` / `store-modifiers`: ` (NAME n ...)`,
    /// of which we know the one RFC 7162 modifier `name` (CHANGEDSINCE for
    /// FETCH, UNCHANGEDSINCE for STORE) and its `mod-sequence-valzer`.
    fn modifier(&mut self, name: &str) -> PResult<Option<u64>> {
        if self.at_end() || self.data.get(self.pos..self.pos + 2) != Some(b" (") {
            return Ok(None);
        }
        self.pos += 2;
        loop {
            if self.atom_upper()? != name {
                return Err(Bad::new(&format!("Unknown modifier, {name} expected")));
            }
            self.sp()?;
            let value = self.number64()?;
            if self.eat(b')') {
                return Ok(Some(value));
            }
            self.sp()?;
        }
    }

    /// `enable = "ENABLE" 1*(SP capability)` (RFC 5161); `capability = atom`
    fn enable(&mut self) -> PResult<CommandBody> {
        let mut caps = Vec::new();
        loop {
            self.sp()?;
            caps.push(self.atom_upper()?);
            if self.at_end() {
                return Ok(CommandBody::Enable(caps));
            }
        }
    }

    /// RFC 2971: `id = "ID" SP id-params-list`
    /// `id-params-list = "(" *(string SP nstring) ")" / nil`, pairs
    /// separated by SP, at most 30 of them, field names at most 30 octets
    /// and values at most 1024.
    fn id(&mut self) -> PResult<CommandBody> {
        self.sp()?;
        if self.nil() {
            return Ok(CommandBody::Id(None));
        }
        self.expect(b'(', "(")?;
        let mut params = Vec::new();
        if !self.eat(b')') {
            loop {
                let k = self.string()?;
                self.sp()?;
                let v = self.nstring()?;
                if params.len() == 30 || k.len() > 30 || v.as_ref().is_some_and(|v| v.len() > 1024)
                {
                    return Err(Bad::new("ID parameters too long"));
                }
                params.push((
                    String::from_utf8_lossy(&k).into_owned(),
                    v.map(|v| String::from_utf8_lossy(&v).into_owned()),
                ));
                if self.eat(b')') {
                    break;
                }
                self.sp()?;
            }
        }
        Ok(CommandBody::Id(Some(params)))
    }

    /// `copy = "COPY" SP sequence-set SP mailbox`, and RFC 6851
    /// `move = "MOVE" SP sequence-set SP mailbox`
    fn copy(&mut self, is_move: bool, uid: bool) -> PResult<CommandBody> {
        self.sp()?;
        let set = self.sequence_set()?;
        let mailbox = self.sp_mailbox()?;
        Ok(if is_move {
            CommandBody::Move { set, mailbox, uid }
        } else {
            CommandBody::Copy { set, mailbox, uid }
        })
    }

    /// `store = "STORE" SP sequence-set [store-modifiers] SP
    ///  store-att-flags`
    /// `store-att-flags = (["+" / "-"] "FLAGS" [".SILENT"]) SP
    ///  (flag-list / (flag *(SP flag)))`
    fn store(&mut self, uid: bool) -> PResult<CommandBody> {
        self.sp()?;
        let set = self.sequence_set()?;
        let unchanged_since = self.modifier("UNCHANGEDSINCE")?;
        self.sp()?;
        let item = self.atom_upper()?;
        let (op, rest) = match item.as_bytes().first() {
            Some(b'+') => (FlagOp::Add, &item[1..]),
            Some(b'-') => (FlagOp::Remove, &item[1..]),
            _ => (FlagOp::Replace, &item[..]),
        };
        let silent = match rest {
            "FLAGS" => false,
            "FLAGS.SILENT" => true,
            _ => return Err(Bad::new("Invalid STORE item")),
        };
        self.sp()?;
        let flags = if self.peek() == Some(b'(') {
            self.flag_list()?
        } else {
            let mut flags = Flags::default();
            loop {
                self.flag(&mut flags)?;
                if self.at_end() {
                    break;
                }
                self.sp()?;
            }
            flags
        };
        Ok(CommandBody::Store(StoreRequest {
            set,
            op,
            silent,
            flags,
            uid,
            unchanged_since,
        }))
    }

    /// `search = "SEARCH" [search-return-opts] [SP "CHARSET" SP astring]
    /// 1*(SP search-key)` (RFC 4466, 4731: `search-return-opts = SP
    /// "RETURN" SP "(" [search-return-opt *(SP search-return-opt)] ")"`)
    fn search(&mut self, uid: bool) -> PResult<CommandBody> {
        self.sp()?;
        let ret = self.search_return()?;
        let charset = self.search_charset()?;
        Ok(CommandBody::Search {
            charset,
            criteria: self.search_keys()?,
            uid,
            ret,
            order: None,
        })
    }

    /// RFC 7377 `esearch = "ESEARCH" [SP esearch-source-opts]
    /// [search-return-opts] SP search-program`, `esearch-source-opts = "IN"
    /// SP "(" source-mbox [SP "(" scope-options ")"] ")"`, `source-mbox =
    /// filter-mailboxes *(SP filter-mailboxes)`. No scope option is
    /// defined, so any is refused (RFC 7377 2: BAD).
    fn esearch(&mut self) -> PResult<CommandBody> {
        use crate::imap::command::SearchSource as F;
        self.sp()?;
        let mut sources = vec![F::Selected];
        let save = self.pos;
        if self.keyword("IN") && self.eat(b' ') {
            self.expect(b'(', "(")?;
            sources.clear();
            loop {
                if self.peek() == Some(b'(') {
                    return Err(Bad::new("Unknown ESEARCH scope option"));
                }
                let names = |p: &mut Self| -> PResult<Vec<String>> {
                    p.sp()?;
                    if !p.eat(b'(') {
                        return Ok(vec![p.mailbox()?]);
                    }
                    let mut v = vec![p.mailbox()?];
                    while !p.eat(b')') {
                        p.sp()?;
                        v.push(p.mailbox()?);
                    }
                    Ok(v)
                };
                sources.push(match self.atom_upper()?.as_str() {
                    "SELECTED" | "SELECTED-DELAYED" => F::Selected,
                    "INBOXES" => F::Inboxes,
                    "PERSONAL" => F::Personal,
                    "SUBSCRIBED" => F::Subscribed,
                    "SUBTREE" => F::Subtree(names(self)?),
                    "SUBTREE-ONE" => F::SubtreeOne(names(self)?),
                    "MAILBOXES" => F::Mailboxes(names(self)?),
                    _ => return Err(Bad::new("Unknown ESEARCH source")),
                });
                if self.eat(b')') {
                    break;
                }
                self.sp()?;
            }
            self.sp()?;
        } else {
            self.pos = save;
        }
        let ret = self.search_return()?.unwrap_or(SearchReturn {
            all: true,
            ..SearchReturn::default()
        });
        let charset = self.search_charset()?;
        Ok(CommandBody::MultiSearch {
            sources,
            ret,
            charset,
            criteria: self.search_keys()?,
        })
    }

    /// `"CHARSET" SP charset SP`, if there.
    fn search_charset(&mut self) -> PResult<Option<String>> {
        let save = self.pos;
        if !(self.keyword("CHARSET") && self.peek() == Some(b' ')) {
            self.pos = save;
            return Ok(None);
        }
        self.sp()?;
        let charset = self.charset()?;
        self.sp()?;
        Ok(Some(charset))
    }

    /// `charset = atom / quoted`, upper-cased.
    fn charset(&mut self) -> PResult<String> {
        let c = self.astring()?;
        if !c.iter().all(|&c| is_astring_char(c)) {
            return Err(Bad::new("Invalid charset name"));
        }
        Ok(String::from_utf8_lossy(&c).to_ascii_uppercase())
    }

    /// `1*(search-key)` separated by SP, to the end of the command: their
    /// AND (a single key is not wrapped in `And`).
    fn search_keys(&mut self) -> PResult<SearchKey> {
        let mut keys = Vec::new();
        loop {
            keys.push(self.search_key()?);
            if self.at_end() {
                break;
            }
            self.sp()?;
        }
        Ok(if keys.len() == 1 {
            keys.remove(0)
        } else {
            SearchKey::And(keys)
        })
    }

    /// `sort = ["UID" SP] "SORT" [SP sort-return-opts] SP sort-criteria SP
    /// search-criteria` (RFC 5256, RFC 5267 ESORT), `sort-criteria = "("
    /// sort-criterion *(SP sort-criterion) ")"`, `search-criteria =
    /// charset 1*(SP search-key)`: the charset is not optional here.
    fn sort(&mut self, uid: bool) -> PResult<CommandBody> {
        use crate::imap::command::{SortCriterion, SortKey as K};
        self.sp()?;
        let ret = self.search_return()?;
        self.expect(b'(', "(")?;
        let mut sort = Vec::new();
        loop {
            let mut word = self.atom_upper()?;
            let reverse = word == "REVERSE";
            if reverse {
                self.sp()?;
                word = self.atom_upper()?;
            }
            let key = match word.as_str() {
                "ARRIVAL" => K::Arrival,
                "CC" => K::Cc,
                "DATE" => K::Date,
                "FROM" => K::From,
                "SIZE" => K::Size,
                "SUBJECT" => K::Subject,
                "TO" => K::To,
                "DISPLAYFROM" => K::DisplayFrom,
                "DISPLAYTO" => K::DisplayTo,
                _ => return Err(Bad::new("Unknown sort key")),
            };
            sort.push(SortCriterion { reverse, key });
            if self.eat(b')') {
                break;
            }
            self.sp()?;
        }
        self.ordered_search(uid, ret, Order::Sort(sort))
    }

    /// The rest of SORT and THREAD: `SP search-criteria`, where
    /// `search-criteria = charset 1*(SP search-key)`.
    fn ordered_search(
        &mut self,
        uid: bool,
        ret: Option<SearchReturn>,
        order: Order,
    ) -> PResult<CommandBody> {
        self.sp()?;
        let charset = Some(self.charset()?);
        self.sp()?;
        Ok(CommandBody::Search {
            charset,
            criteria: self.search_keys()?,
            uid,
            ret,
            order: Some(order),
        })
    }

    /// `thread = ["UID" SP] "THREAD" SP thread-alg SP search-criteria`
    /// (RFC 5256), `thread-alg = "ORDEREDSUBJECT" / "REFERENCES"`.
    fn thread(&mut self, uid: bool) -> PResult<CommandBody> {
        self.sp()?;
        let algorithm = match self.atom_upper()?.as_str() {
            "ORDEREDSUBJECT" => ThreadAlgorithm::OrderedSubject,
            "REFERENCES" => ThreadAlgorithm::References,
            "REFS" => ThreadAlgorithm::Refs,
            _ => return Err(Bad::new("Unknown threading algorithm")),
        };
        self.ordered_search(uid, None, Order::Thread(algorithm))
    }

    /// RFC 4731 `"RETURN" SP "(" [search-return-opt *(SP
    /// search-return-opt)] ")" SP`, if there: MIN, MAX, ALL, COUNT, RFC
    /// 5182 SAVE, RFC 5267 UPDATE, CONTEXT (a hint, taken as ALL when
    /// alone) and `PARTIAL low:high`. `RETURN ()` means ALL.
    fn search_return(&mut self) -> PResult<Option<SearchReturn>> {
        let save = self.pos;
        if !(self.keyword("RETURN") && self.eat(b' ')) {
            self.pos = save;
            return Ok(None);
        }
        self.expect(b'(', "(")?;
        let mut r = SearchReturn::default();
        if !self.eat(b')') {
            loop {
                match self.atom_upper()?.as_str() {
                    "MIN" => r.min = true,
                    "MAX" => r.max = true,
                    "ALL" => r.all = true,
                    "COUNT" => r.count = true,
                    "SAVE" => r.save = true,
                    "UPDATE" => r.update = true,
                    "CONTEXT" => {}
                    // RFC 5267 `partial-range = number ":" number`, of
                    // positions from 1.
                    "PARTIAL" => {
                        self.sp()?;
                        let low = self.nz_number()?;
                        self.expect(b':', ":")?;
                        let high = self.nz_number()?;
                        r.partial = Some((low.min(high), low.max(high)));
                    }
                    _ => return Err(Bad::new("Unknown SEARCH RETURN option")),
                }
                if self.eat(b')') {
                    break;
                }
                self.sp()?;
            }
        }
        if !(r.answers() || r.save || r.update) {
            r.all = true;
        }
        self.sp()?;
        Ok(Some(r))
    }

    /// `search-key = "ALL" / "ANSWERED" / "BCC" SP astring /
    ///  "BEFORE" SP date / "BODY" SP astring / "CC" SP astring / "DELETED" /
    ///  "FLAGGED" / "FROM" SP astring / "KEYWORD" SP flag-keyword / "NEW" /
    ///  "OLD" / "ON" SP date / "RECENT" / "SEEN" / "SINCE" SP date /
    ///  "SUBJECT" SP astring / "TEXT" SP astring / "TO" SP astring /
    ///  "UNANSWERED" / "UNDELETED" / "UNFLAGGED" / "UNKEYWORD" SP
    ///  flag-keyword / "UNSEEN" / "DRAFT" / "HEADER" SP header-fld-name SP
    ///  astring / "LARGER" SP number / "NOT" SP search-key /
    ///  "OR" SP search-key SP search-key / "SENTBEFORE" SP date /
    ///  "SENTON" SP date / "SENTSINCE" SP date / "SMALLER" SP number /
    ///  "UID" SP sequence-set / "UNDRAFT" / sequence-set /
    ///  "(" search-key *(SP search-key) ")"`
    fn search_key(&mut self) -> PResult<SearchKey> {
        use SearchKey as K;
        match self.peek() {
            Some(b'(') => {
                self.pos += 1;
                self.enter()?;
                let mut keys = Vec::new();
                loop {
                    keys.push(self.search_key()?);
                    if self.eat(b')') {
                        break;
                    }
                    self.sp()?;
                }
                self.leave();
                return Ok(if keys.len() == 1 {
                    keys.remove(0)
                } else {
                    K::And(keys)
                });
            }
            Some(c) if c.is_ascii_digit() || c == b'*' || c == b'$' => {
                return Ok(K::SequenceSet(self.sequence_set()?));
            }
            None => return Err(Bad::new("Missing search key")),
            _ => {}
        }
        let key = self.atom_upper()?;
        Ok(match key.as_str() {
            // RFC 9051 E: IMAP4rev2 has no \Recent.
            "RECENT" | "NEW" | "OLD" if crate::imap::response::imap4rev2() => {
                return Err(Bad::new("RECENT, NEW and OLD are not in IMAP4rev2"))
            }
            "ALL" => K::All,
            "ANSWERED" => K::Answered,
            "DELETED" => K::Deleted,
            "DRAFT" => K::Draft,
            "FLAGGED" => K::Flagged,
            "NEW" => K::New,
            "OLD" => K::Old,
            "RECENT" => K::Recent,
            "SEEN" => K::Seen,
            "UNANSWERED" => K::Unanswered,
            "UNDELETED" => K::Undeleted,
            "UNDRAFT" => K::Undraft,
            "UNFLAGGED" => K::Unflagged,
            "UNSEEN" => K::Unseen,
            "BCC" => K::Bcc(self.sp_astring()?),
            "BODY" => K::Body(self.sp_astring()?),
            "CC" => K::Cc(self.sp_astring()?),
            "FROM" => K::From(self.sp_astring()?),
            "SUBJECT" => K::Subject(self.sp_astring()?),
            "TEXT" => K::Text(self.sp_astring()?),
            "TO" => K::To(self.sp_astring()?),
            "BEFORE" => K::Before(self.sp_date()?),
            "ON" => K::On(self.sp_date()?),
            "SINCE" => K::Since(self.sp_date()?),
            "SENTBEFORE" => K::SentBefore(self.sp_date()?),
            "SENTON" => K::SentOn(self.sp_date()?),
            "SENTSINCE" => K::SentSince(self.sp_date()?),
            // RFC 8514 4.3
            "SAVEDBEFORE" => K::SavedBefore(self.sp_date()?),
            "SAVEDON" => K::SavedOn(self.sp_date()?),
            "SAVEDSINCE" => K::SavedSince(self.sp_date()?),
            "SAVEDATESUPPORTED" => K::SaveDateSupported,
            // RFC 8474 6
            "EMAILID" => K::EmailId(self.sp_objectid()?),
            "THREADID" => K::ThreadId(self.sp_objectid()?),
            "KEYWORD" => {
                self.sp()?;
                K::Keyword(self.flag_keyword()?)
            }
            "UNKEYWORD" => {
                self.sp()?;
                K::Unkeyword(self.flag_keyword()?)
            }
            "HEADER" => {
                self.sp()?;
                let name = self.header_fld_name()?;
                K::Header(name, self.sp_astring()?)
            }
            "LARGER" => {
                self.sp()?;
                K::Larger(self.number64()?)
            }
            "SMALLER" => {
                self.sp()?;
                K::Smaller(self.number64()?)
            }
            // RFC 5032 `("OLDER" / "YOUNGER") SP nz-number`
            "OLDER" => {
                self.sp()?;
                K::Older(self.nz_number()?)
            }
            "YOUNGER" => {
                self.sp()?;
                K::Younger(self.nz_number()?)
            }
            "UID" => {
                self.sp()?;
                K::Uid(self.sequence_set()?)
            }
            "MODSEQ" => self.search_modseq()?,
            "NOT" => {
                self.sp()?;
                self.enter()?;
                let k = self.search_key()?;
                self.leave();
                K::Not(Box::new(k))
            }
            "OR" => {
                self.sp()?;
                self.enter()?;
                let a = self.search_key()?;
                self.sp()?;
                let b = self.search_key()?;
                self.leave();
                K::Or(Box::new(a), Box::new(b))
            }
            _ => return Err(Bad::new("Unknown search key")),
        })
    }

    /// RFC 7162 `search-modsequence = "MODSEQ" [search-modseq-ext] SP
    /// mod-sequence-valzer`, `search-modseq-ext = SP entry-name SP
    /// entry-type-req`, `entry-name = DQUOTE "/flags/" attr-flag DQUOTE`,
    /// `entry-type-req = "priv" / "shared" / "all"`.
    fn search_modseq(&mut self) -> PResult<SearchKey> {
        self.sp()?;
        if self.peek() == Some(b'"') {
            let name = self.string()?;
            let flag = name
                .get(..7)
                .filter(|p| p.eq_ignore_ascii_case(b"/flags/"))
                .map(|_| &name[7..]);
            if flag.is_none_or(|f| f.is_empty() || !f.iter().all(|&c| c > b' ' && c < 0x7f)) {
                return Err(Bad::new("Invalid MODSEQ entry name"));
            }
            self.sp()?;
            if !matches!(self.atom_upper()?.as_str(), "PRIV" | "SHARED" | "ALL") {
                return Err(Bad::new("Invalid MODSEQ entry type"));
            }
            self.sp()?;
        }
        Ok(SearchKey::ModSeq(self.number64()?))
    }

    fn sp_astring(&mut self) -> PResult<Vec<u8>> {
        self.sp()?;
        self.astring()
    }

    fn sp_date(&mut self) -> PResult<NaiveDate> {
        self.sp()?;
        self.date()
    }

    /// RFC 8474 7 `SP objectid` (taken as an astring, then checked).
    fn sp_objectid(&mut self) -> PResult<String> {
        let id = self.sp_astring()?;
        if !crate::store::objectid::is_objectid(&id) {
            return Err(Bad::new("Invalid object identifier"));
        }
        Ok(String::from_utf8_lossy(&id).into_owned())
    }

    /// `fetch = "FETCH" SP sequence-set SP ("ALL" / "FULL" / "FAST" /
    ///  fetch-att / "(" fetch-att *(SP fetch-att) ")")`
    /// The macros are expanded as RFC 3501 6.4.5 defines them.
    fn fetch(&mut self, uid: bool) -> PResult<CommandBody> {
        use FetchItem as F;
        self.sp()?;
        let set = self.sequence_set()?;
        self.sp()?;
        let mut items = Vec::new();
        if self.eat(b'(') {
            loop {
                let item = self.fetch_att()?;
                if !items.contains(&item) {
                    items.push(item);
                }
                if self.eat(b')') {
                    break;
                }
                self.sp()?;
            }
        } else {
            let save = self.pos;
            let name = self.name();
            let fast = [F::Flags, F::InternalDate, F::Rfc822Size];
            match name.as_str() {
                "ALL" => items.extend(fast.into_iter().chain([F::Envelope])),
                "FAST" => items.extend(fast),
                "FULL" => items.extend(fast.into_iter().chain([F::Envelope, F::Body])),
                _ => {
                    self.pos = save;
                    items.push(self.fetch_att()?);
                }
            }
        }
        let (changed_since, vanished) = self.fetch_modifiers()?;
        Ok(CommandBody::Fetch {
            set,
            items,
            uid,
            changed_since,
            vanished,
        })
    }

    /// `fetch-att = "ENVELOPE" / "FLAGS" / "INTERNALDATE" /
    ///  "RFC822" [".HEADER" / ".SIZE" / ".TEXT"] / "BODY" ["STRUCTURE"] /
    ///  "UID" / "BODY" section ["<" number "." nz-number ">"] /
    ///  "BODY.PEEK" section ["<" number "." nz-number ">"]`
    fn fetch_att(&mut self) -> PResult<FetchItem> {
        use FetchItem as F;
        let name = self.name();
        let peek = match name.as_str() {
            "ENVELOPE" => return Ok(F::Envelope),
            "FLAGS" => return Ok(F::Flags),
            "INTERNALDATE" => return Ok(F::InternalDate),
            "RFC822" => return Ok(F::Rfc822),
            "RFC822.HEADER" => return Ok(F::Rfc822Header),
            "RFC822.SIZE" => return Ok(F::Rfc822Size),
            "RFC822.TEXT" => return Ok(F::Rfc822Text),
            "BODYSTRUCTURE" => return Ok(F::BodyStructure),
            "UID" => return Ok(F::Uid),
            "MODSEQ" => return Ok(F::ModSeq),
            // RFC 8514 4.2
            "SAVEDATE" => return Ok(F::SaveDate),
            // RFC 8474 5.3
            "EMAILID" => return Ok(F::EmailId),
            "THREADID" => return Ok(F::ThreadId),
            // RFC 8970 `"PREVIEW" [SP "(" preview-mod *(SP preview-mod)
            // ")"]`, `preview-mod = "LAZY"`.
            // A "(" after it that does not start with LAZY is the FETCH
            // modifiers (RFC 4466), not PREVIEW's.
            "PREVIEW" => {
                let save = self.pos;
                if !(self.eat(b' ') && self.eat(b'(') && self.keyword("LAZY")) {
                    self.pos = save;
                    return Ok(F::Preview);
                }
                while !self.eat(b')') {
                    self.sp()?;
                    if !self.keyword("LAZY") {
                        return Err(Bad::new("Unknown PREVIEW modifier"));
                    }
                }
                return Ok(F::Preview);
            }
            // RFC 3516 4.2: `"BINARY" [".PEEK"] section-binary [partial]`,
            // `"BINARY.SIZE" section-binary`.
            "BINARY" | "BINARY.PEEK" => {
                let part = self.section_binary()?;
                let partial = self.partial()?;
                return Ok(F::Binary {
                    peek: name.ends_with(".PEEK"),
                    part,
                    partial,
                });
            }
            "BINARY.SIZE" => {
                return Ok(F::BinarySize {
                    part: self.section_binary()?,
                })
            }
            "BODY" if self.peek() != Some(b'[') => return Ok(F::Body),
            "BODY" => false,
            "BODY.PEEK" => true,
            "" if self.at_end() => return Err(Bad::new("Missing FETCH item")),
            _ => return Err(Bad::new("Unknown FETCH item")),
        };
        let section = self.section()?;
        let partial = self.partial()?;
        Ok(F::BodySection {
            peek,
            section,
            partial,
        })
    }

    /// `partial = "<" number "." nz-number ">"`, if there is one.
    fn partial(&mut self) -> PResult<Option<(u32, u32)>> {
        if !self.eat(b'<') {
            return Ok(None);
        }
        let origin = self.number()?;
        self.expect(b'.', ".")?;
        let len = self.nz_number()?;
        self.expect(b'>', ">")?;
        Ok(Some((origin, len)))
    }

    /// RFC 3516 `section-binary = "[" [section-part] "]"`.
    fn section_binary(&mut self) -> PResult<Vec<u32>> {
        self.expect(b'[', "[")?;
        let mut part = Vec::new();
        if self.eat(b']') {
            return Ok(part);
        }
        loop {
            part.push(self.nz_number()?);
            if self.eat(b']') {
                return Ok(part);
            }
            self.expect(b'.', ".")?;
        }
    }

    /// `section = "[" [section-spec] "]"`
    /// `section-spec = section-msgtext / (section-part ["." section-text])`
    /// `section-part = nz-number *("." nz-number)`
    fn section(&mut self) -> PResult<Section> {
        self.expect(b'[', "[")?;
        let mut section = Section::default();
        if self.eat(b']') {
            return Ok(section);
        }
        if self.peek().is_some_and(|c| c.is_ascii_digit()) {
            loop {
                section.part.push(self.nz_number()?);
                if !self.eat(b'.') {
                    break;
                }
                if !self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    section.text = Some(self.section_text(true)?);
                    break;
                }
            }
        } else {
            section.text = Some(self.section_text(false)?);
        }
        self.expect(b']', "]")?;
        Ok(section)
    }

    /// `section-text = section-msgtext / "MIME"` (`MIME` only after a part)
    /// `section-msgtext = "HEADER" / "HEADER.FIELDS" [".NOT"] SP header-list /
    ///  "TEXT"`
    fn section_text(&mut self, after_part: bool) -> PResult<SectionText> {
        let t = self.take_while(|c| c.is_ascii_alphabetic() || c == b'.');
        let t = String::from_utf8_lossy(t).to_ascii_uppercase();
        Ok(match t.as_str() {
            "HEADER" => SectionText::Header,
            "TEXT" => SectionText::Text,
            "MIME" if after_part => SectionText::Mime,
            "HEADER.FIELDS" | "HEADER.FIELDS.NOT" => {
                self.sp()?;
                SectionText::HeaderFields {
                    not: t.ends_with(".NOT"),
                    fields: self.header_list()?,
                }
            }
            _ => return Err(Bad::new("Invalid section")),
        })
    }

    /// `header-list = "(" header-fld-name *(SP header-fld-name) ")"`
    fn header_list(&mut self) -> PResult<Vec<String>> {
        self.expect(b'(', "(")?;
        let mut fields = Vec::new();
        loop {
            fields.push(self.header_fld_name()?);
            if self.eat(b')') {
                return Ok(fields);
            }
            self.sp()?;
        }
    }

    /// `header-fld-name = astring`. The ABNF takes any astring (Dovecot
    /// does too); a name no RFC 5322 field can have (a space, a colon)
    /// simply matches nothing. Only what cannot be a header name at all, in
    /// any message, is refused: empty, control characters, 8-bit.
    fn header_fld_name(&mut self) -> PResult<String> {
        let n = self.astring()?;
        if n.is_empty() || !n.iter().all(|&c| (0x20..0x7f).contains(&c)) {
            return Err(Bad::new("Invalid header field name"));
        }
        Ok(String::from_utf8_lossy(&n).into_owned())
    }
}

/// A mailbox name (or pattern) as the client sent it, in the store's form:
/// with UTF8=ACCEPT (RFC 6855 3) it is UTF-8, which `&` included is
/// encoded to modified UTF-7; otherwise it is that already.
fn utf8_name(name: String) -> String {
    if crate::imap::response::utf8_accept() {
        crate::store::names::encode_utf7(&name)
    } else {
        name
    }
}

/// RFC 3501 9 `ASTRING-CHAR = ATOM-CHAR / resp-specials`
fn is_astring_char(c: u8) -> bool {
    is_atom_char(c) || c == b']'
}

/// RFC 3501 9 `TEXT-CHAR = <any CHAR except CR and LF>`, `CHAR` being
/// %x01-7F.
fn is_text_char(c: u8) -> bool {
    (0x01..0x80).contains(&c) && c != b'\r' && c != b'\n'
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imap::frame::{read_command, FrameError};
    use crate::limits::IMAP_LITERAL_MAX;
    use std::fs::File;
    use std::io::{self, BufRead, BufReader, Read};
    use SearchKey as K;
    use SeqNumber::{Star, Value};

    fn spool() -> io::Result<File> {
        tempfile::tempfile()
    }

    fn frame_from(input: &mut dyn BufRead) -> Result<Frame, FrameError> {
        let mut out = Vec::new();
        read_command(input, &mut out, &mut spool)
    }

    /// C: `input` (CRLF included), framed whole, one byte at a time and
    /// split at every index, then parsed; every way must agree.
    fn parse(input: &str) -> Result<Command, ParseError> {
        parse_bytes(input.as_bytes())
    }

    fn parse_bytes(input: &[u8]) -> Result<Command, ParseError> {
        let whole = parse_command(frame_from(&mut &input[..]).unwrap());
        let want = format!("{whole:?}");
        let one = frame_from(&mut BufReader::with_capacity(1, input)).unwrap();
        assert_eq!(
            format!("{:?}", parse_command(one)),
            want,
            "one byte at a time"
        );
        for k in 1..input.len() {
            let mut r = (&input[..k]).chain(&input[k..]);
            let r = parse_command(frame_from(&mut r).unwrap());
            assert_eq!(format!("{r:?}"), want, "split at {k}");
        }
        whole
    }

    fn body(input: &str) -> CommandBody {
        match parse(input) {
            Ok(c) => c.body,
            Err(e) => panic!("{input:?}: {e:?}"),
        }
    }

    /// S: `tag BAD ...` for `input`; returns the message.
    fn bad(input: &str, tag: Option<&str>) -> String {
        bad_bytes(input.as_bytes(), tag)
    }

    fn bad_bytes(input: &[u8], tag: Option<&str>) -> String {
        match parse_bytes(input) {
            Ok(c) => panic!("{:?} parsed as {c:?}", String::from_utf8_lossy(input)),
            Err(e) => {
                assert_eq!(
                    e.tag.as_deref(),
                    tag,
                    "{:?}",
                    String::from_utf8_lossy(input)
                );
                assert!(e.message.bytes().all(|c| (0x20..0x7f).contains(&c)));
                e.message
            }
        }
    }

    fn set(v: &[(SeqNumber, SeqNumber)]) -> SequenceSet {
        SequenceSet(v.to_vec())
    }

    fn flags(system: u8, keywords: &[&str]) -> Flags {
        Flags {
            system,
            keywords: keywords.iter().map(|k| k.to_string()).collect(),
        }
    }

    #[test]
    fn simple_commands() {
        for (c, name) in [
            ("CAPABILITY", "CAPABILITY"),
            ("noop", "NOOP"),
            ("Logout", "LOGOUT"),
            ("STARTTLS", "STARTTLS"),
            ("CHECK", "CHECK"),
            ("CLOSE", "CLOSE"),
            ("UNSELECT", "UNSELECT"),
            ("EXPUNGE", "EXPUNGE"),
            ("IDLE", "IDLE"),
            ("NAMESPACE", "NAMESPACE"),
        ] {
            let cmd = parse(&format!("a1 {c}\r\n")).unwrap();
            assert_eq!(cmd.tag, "a1");
            assert_eq!(cmd.body.name(), name);
        }
        assert!(matches!(
            body("a EXPUNGE\r\n"),
            CommandBody::Expunge { uids: None }
        ));
        let c = parse("A.b-c]~ NOOP\r\n").unwrap();
        assert_eq!(c.tag, "A.b-c]~");
    }

    #[test]
    fn login_and_authenticate() {
        match body("a LOGIN joe \"hunter \\\"2\\\\\"\r\n") {
            CommandBody::Login { userid, password } => {
                assert_eq!(userid, b"joe");
                assert_eq!(password, b"hunter \"2\\");
            }
            b => panic!("{b:?}"),
        }
        match body("a LOGIN {3}\r\njoe {4+}\r\nä{}\r\n") {
            CommandBody::Login { userid, password } => {
                assert_eq!(userid, b"joe");
                assert_eq!(password, "ä{}".as_bytes());
            }
            b => panic!("{b:?}"),
        }
        let auth = |s: &str| match body(s) {
            CommandBody::Authenticate {
                mechanism,
                initial_response,
            } => (mechanism, initial_response),
            b => panic!("{b:?}"),
        };
        assert_eq!(auth("a AUTHENTICATE plain\r\n"), ("PLAIN".into(), None));
        assert_eq!(
            auth("a AUTHENTICATE PLAIN =\r\n"),
            ("PLAIN".into(), Some(Vec::new()))
        );
        assert_eq!(
            auth("a AUTHENTICATE PLAIN AGpvZQBodW50ZXIy\r\n").1.unwrap(),
            b"\0joe\0hunter2"
        );
        assert_eq!(auth("a AUTHENTICATE X dGVzdDE=\r\n").1.unwrap(), b"test1");
        assert_eq!(auth("a AUTHENTICATE X dGVzdDE\r\n").1.unwrap(), b"test1");
        bad("a AUTHENTICATE PLAIN AGp=vZQ\r\n", Some("a"));
        bad("a AUTHENTICATE PLAIN \r\n", Some("a"));
        bad("a AUTHENTICATE\r\n", Some("a"));
        bad("a LOGIN joe\r\n", Some("a"));
    }

    #[test]
    fn base64() {
        assert_eq!(base64_decode(b"").unwrap(), b"");
        assert_eq!(base64_decode(b"Zg==").unwrap(), b"f");
        assert_eq!(base64_decode(b"Zm8=").unwrap(), b"fo");
        assert_eq!(base64_decode(b"Zm9v").unwrap(), b"foo");
        assert_eq!(base64_decode(b"Zm9vYg").unwrap(), b"foob");
        assert!(base64_decode(b"Zm9vY").is_none());
        assert!(base64_decode(b"Zh==").is_none(), "non-zero padding bits");
        assert!(base64_decode(b"Zg=").is_none());
        assert!(base64_decode(b"Z===").is_none());
        assert!(base64_decode(b"Zm 9").is_none());
    }

    #[test]
    fn mailbox_commands() {
        let mb = |s: &str| match body(s) {
            CommandBody::Select { mailbox, .. }
            | CommandBody::Examine { mailbox, .. }
            | CommandBody::Create { mailbox, .. }
            | CommandBody::Delete { mailbox }
            | CommandBody::Subscribe { mailbox }
            | CommandBody::Unsubscribe { mailbox } => mailbox,
            b => panic!("{b:?}"),
        };
        assert_eq!(mb("a SELECT inbox\r\n"), "INBOX");
        assert_eq!(mb("a EXAMINE \"InBoX\"\r\n"), "INBOX");
        assert_eq!(mb("a CREATE inbox.Sub\r\n"), "inbox.Sub");
        assert_eq!(mb("a DELETE {5}\r\nfoo]x\r\n"), "foo]x");
        assert_eq!(mb("a SUBSCRIBE \"a b\"\r\n"), "a b");
        assert_eq!(mb("a UNSUBSCRIBE \"\"\r\n"), "");
        assert_eq!(mb("a CREATE {2}\r\nä\r\n"), "ä");
        bad_bytes(b"a SELECT {2}\r\n\xff\xfe\r\n", Some("a"));
        bad("a SELECT a%b\r\n", Some("a"));
        match body("a RENAME old \"new one\"\r\n") {
            CommandBody::Rename { from, to } => assert_eq!((&*from, &*to), ("old", "new one")),
            b => panic!("{b:?}"),
        }
        match body("a LIST \"\" %.foo*\r\n") {
            CommandBody::List(r) => {
                assert_eq!(
                    (&*r.reference, &r.patterns[..]),
                    ("", &["%.foo*".to_string()][..])
                );
                assert!(!r.extended);
            }
            b => panic!("{b:?}"),
        }
        // RFC 5258 6's examples of the extended syntax, RFC 5819's, RFC
        // 6154's.
        let list = |s: &str| match body(s) {
            CommandBody::List(r) => r,
            b => panic!("{b:?}"),
        };
        let r =
            list("A01 LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (\"%\" \"*/x\") RETURN (CHILDREN)\r\n");
        assert!(r.subscribed && r.recursive_match && r.return_children && r.extended);
        assert!(
            r.return_subscribed,
            "SUBSCRIBED selection implies the return option"
        );
        assert_eq!(r.patterns, ["%", "*/x"]);
        let r = list("A02 LIST (remote) \"\" * RETURN (STATUS (MESSAGES UNSEEN) SPECIAL-USE)\r\n");
        assert_eq!(
            r.return_status,
            Some(vec![StatusItem::Messages, StatusItem::Unseen])
        );
        assert!(r.return_special_use && !r.subscribed);
        let r = list("A03 LIST (SPECIAL-USE) \"\" \"*\"\r\n");
        assert!(r.special_use && r.extended);
        assert!(list("A04 LIST () \"\" \"*\" RETURN ()\r\n").extended);
        bad("a LIST (RECURSIVEMATCH) \"\" *\r\n", Some("a"));
        bad("a LIST (FOO) \"\" *\r\n", Some("a"));
        bad("a LIST \"\" * RETURN (FOO)\r\n", Some("a"));
        bad("a LIST \"\" * RETURN\r\n", Some("a"));
        bad("a LIST \"\" ()\r\n", Some("a"));
        bad("a LIST \"\" * FOO (BAR)\r\n", Some("a"));
        match body("a CREATE Sent (USE (\\Sent \\Archive))\r\n") {
            CommandBody::Create { mailbox, uses } => {
                assert_eq!(mailbox, "Sent");
                assert_eq!(uses, ["\\Sent", "\\Archive"]);
            }
            b => panic!("{b:?}"),
        }
        bad("a CREATE x (USE (Sent))\r\n", Some("a"));
        bad("a CREATE x (FOO (\\Sent))\r\n", Some("a"));
        bad("a CREATE x ()\r\n", Some("a"));
        match body("a LSUB inbox \"*\"\r\n") {
            CommandBody::Lsub { reference, pattern } => {
                assert_eq!((&*reference, &*pattern), ("INBOX", "*"))
            }
            b => panic!("{b:?}"),
        }
        bad("a LIST \"\"\r\n", Some("a"));
        match body("a STATUS blurdybloop (UIDNEXT messages RECENT UIDVALIDITY UNSEEN SIZE HIGHESTMODSEQ)\r\n") {
            CommandBody::Status { mailbox, items } => {
                assert_eq!(mailbox, "blurdybloop");
                use StatusItem::*;
                assert_eq!(
                    items,
                    [UidNext, Messages, Recent, UidValidity, Unseen, Size, HighestModSeq]
                );
            }
            b => panic!("{b:?}"),
        }
        bad("a STATUS x ()\r\n", Some("a"));
        bad("a STATUS x (FOO)\r\n", Some("a"));
        bad("a STATUS x MESSAGES\r\n", Some("a"));
    }

    #[test]
    fn append() {
        let msgs = |s: &[u8]| match parse_bytes(s).unwrap().body {
            CommandBody::Append { mailbox, messages } => (mailbox, messages),
            b => panic!("{b:?}"),
        };
        let (mb, m) = msgs(b"a APPEND saved-messages (\\Seen) {5}\r\nHello\r\n");
        assert_eq!(mb, "saved-messages");
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].flags, flags(flag::SEEN, &[]));
        assert_eq!(m[0].date, None);
        assert!(matches!(&m[0].data, Literal::Memory(v) if v == b"Hello"));
        // RFC 3502 MULTIAPPEND, dates, LITERAL+, the mailbox as a literal.
        let (mb, m) = msgs(
            b"a APPEND {5}\r\ninbox {3+}\r\n\0\r\n \"01-Feb-2024 10:00:00 +0100\" {2}\r\nhi () \" 1-Jan-1970 00:00:00 -0000\" {0}\r\n\r\n",
        );
        assert_eq!(mb, "INBOX");
        assert_eq!(m.len(), 3);
        assert!(matches!(&m[0].data, Literal::Memory(v) if v == b"\0\r\n"));
        assert_eq!(m[1].date, Some((1706778000, 60)));
        assert_eq!(m[2].flags, Flags::default());
        assert_eq!(m[2].date, Some((0, 0)));
        assert!(m[2].data.is_empty());
        assert!(!m[0].binary);
        // RFC 3516 literal8, only for the message.
        let (_, m) = msgs(b"a APPEND x ~{2}\r\n\0\n {1+}\r\nx ~{1+}\r\ny\r\n");
        assert_eq!(
            m.iter().map(|m| m.binary).collect::<Vec<_>>(),
            [true, false, true]
        );
        assert!(matches!(&m[0].data, Literal::Memory(v) if v == b"\0\n"));
        bad("a APPEND ~{1}\r\nx {1}\r\ny\r\n", Some("a"));
        bad("a APPEND x ~ {1}\r\ny\r\n", Some("a"));
        bad("a APPEND x\r\n", Some("a"));
        bad("a APPEND x (\\Seen)\r\n", Some("a"));
        bad("a APPEND x \"hello\"\r\n", Some("a"));
        bad("a APPEND x (\\Seen) {1}\r\nx (\\Seen)\r\n", Some("a"));
    }

    #[test]
    fn spooled_append_read_back() {
        let n = IMAP_LITERAL_MAX + 1000;
        let msg: Vec<u8> = (0..n).map(|i| (i * 7 % 256) as u8).collect();
        let mut input = format!("t1 APPEND Drafts (\\Draft $Label1) {{{n}}}\r\n").into_bytes();
        input.extend_from_slice(&msg);
        input.extend_from_slice(b" {2}\r\nok\r\n");
        let f = frame_from(&mut &input[..]).unwrap();
        match parse_command(f).unwrap().body {
            CommandBody::Append { mailbox, messages } => {
                assert_eq!(mailbox, "Drafts");
                assert_eq!(messages[0].flags, flags(flag::DRAFT, &["$Label1"]));
                let mut m = messages;
                assert!(matches!(m[0].data, Literal::File(_, len) if len == n as u64));
                let mut back = Vec::new();
                m[0].data.reader().unwrap().read_to_end(&mut back).unwrap();
                assert_eq!(back, msg);
                // Readable again from the start.
                let mut again = Vec::new();
                m[0].data.reader().unwrap().read_to_end(&mut again).unwrap();
                assert_eq!(again.len(), n);
                assert!(matches!(&m[1].data, Literal::Memory(v) if v == b"ok"));
            }
            b => panic!("{b:?}"),
        }
    }

    #[test]
    fn sequence_sets() {
        let s = |x: &str| match body(&format!("a COPY {x} b\r\n")) {
            CommandBody::Copy {
                set, uid: false, ..
            } => set,
            b => panic!("{b:?}"),
        };
        assert_eq!(s("1:*"), set(&[(Value(1), Star)]));
        assert_eq!(s("*:4"), set(&[(Star, Value(4))]));
        assert_eq!(s("5:2"), set(&[(Value(5), Value(2))]));
        assert_eq!(s("*"), set(&[(Star, Star)]));
        assert_eq!(
            s("1,3:5,7,*"),
            set(&[
                (Value(1), Value(1)),
                (Value(3), Value(5)),
                (Value(7), Value(7)),
                (Star, Star)
            ])
        );
        assert_eq!(s("4294967295"), set(&[(Value(u32::MAX), Value(u32::MAX))]));
        assert_eq!(s("5:2").iter(3).collect::<Vec<_>>(), [2, 3]);
        for x in [
            "0",
            "1:0",
            "0:*",
            "4294967296",
            "1,",
            ",1",
            ":1",
            "1:",
            "1::2",
            "-1",
            "1 ,2",
            "$$",
            "$:1",
            "$,",
        ] {
            bad(&format!("a COPY {x} b\r\n"), Some("a"));
        }
    }

    #[test]
    fn uid_commands() {
        match body("a uid COPY 1:* b\r\n") {
            CommandBody::Copy { uid: true, .. } => {}
            b => panic!("{b:?}"),
        }
        match body("a UID MOVE 1 INBOX\r\n") {
            CommandBody::Move {
                uid: true, mailbox, ..
            } => assert_eq!(mailbox, "INBOX"),
            b => panic!("{b:?}"),
        }
        match body("a MOVE 1 x\r\n") {
            CommandBody::Move { uid: false, .. } => {}
            b => panic!("{b:?}"),
        }
        match body("a UID EXPUNGE 3000:3002\r\n") {
            CommandBody::Expunge { uids: Some(s) } => {
                assert_eq!(s, set(&[(Value(3000), Value(3002))]))
            }
            b => panic!("{b:?}"),
        }
        assert!(matches!(
            body("a UID FETCH 1 UID\r\n"),
            CommandBody::Fetch { uid: true, .. }
        ));
        assert!(matches!(
            body("a UID SEARCH ALL\r\n"),
            CommandBody::Search { uid: true, .. }
        ));
        assert!(matches!(
            body("a UID STORE 1 FLAGS ()\r\n"),
            CommandBody::Store(StoreRequest { uid: true, .. })
        ));
        bad("a UID EXPUNGE\r\n", Some("a"));
        bad("a UID SELECT x\r\n", Some("a"));
        bad("a UID\r\n", Some("a"));
    }

    /// RFC 7162 section 7's additions: the SELECT parameter, the FETCH and
    /// STORE modifiers (RFC 4466 syntax), the MODSEQ FETCH item and search
    /// key with its optional entry name and type.
    #[test]
    fn condstore_syntax() {
        let params = |s: &str| match body(s) {
            CommandBody::Select { params, .. } | CommandBody::Examine { params, .. } => params,
            b => panic!("{b:?}"),
        };
        assert!(params("a SELECT INBOX (CONDSTORE)\r\n").condstore);
        assert!(params("a EXAMINE x (condstore)\r\n").condstore);
        assert_eq!(params("a SELECT INBOX\r\n"), SelectParams::default());
        bad("a SELECT INBOX (QRESYNC)\r\n", Some("a"));
        bad("a SELECT INBOX ()\r\n", Some("a"));
        bad("a SELECT INBOX (UNKNOWN)\r\n", Some("a"));
        // RFC 7162 3.2.5's examples.
        let q =
            params("a SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))\r\n")
                .qresync
                .expect("qresync");
        assert_eq!(
            (q.uid_validity, q.modseq),
            (67_890_007, 20_050_715_194_045_000)
        );
        assert_eq!(
            q.known_uids.expect("known").ranges(1000),
            [41..=41, 43..=211, 214..=541]
        );
        assert!(q.seq_match.is_none());
        let q = params(
            "a SELECT INBOX (CONDSTORE QRESYNC (67890007 90060115194045000 1:29997 (5000,7500,9000,9990:9999 15000,22500,27000,29970,29973,29976,29979,29982,29985,29988,29991,29994,29997)))\r\n",
        );
        assert!(q.condstore);
        let q = q.qresync.expect("qresync");
        let (seqs, uids) = q.seq_match.expect("seq-match");
        assert_eq!(seqs.ranges(10_000)[0], 5000..=5000);
        assert_eq!(uids.ranges(30_000).len(), 13);
        let q = params("a EXAMINE x (QRESYNC (1 2 (1 3)))\r\n")
            .qresync
            .expect("q");
        assert!(q.known_uids.is_none() && q.seq_match.is_some());
        bad("a SELECT INBOX (QRESYNC (0 2))\r\n", Some("a"));
        bad("a SELECT INBOX (QRESYNC (1))\r\n", Some("a"));
        bad("a SELECT INBOX (QRESYNC (1 2 3:4 (1)))\r\n", Some("a"));
        bad(
            "a SELECT INBOX (QRESYNC (1 2) QRESYNC (1 2))\r\n",
            Some("a"),
        );
        match body("a UID FETCH 300:500 (FLAGS) (CHANGEDSINCE 12345 VANISHED)\r\n") {
            CommandBody::Fetch {
                changed_since: Some(12345),
                vanished: true,
                ..
            } => {}
            b => panic!("{b:?}"),
        }
        bad("a UID FETCH 1 (FLAGS) (VANISHED VANISHED)\r\n", Some("a"));
        match body("a UID FETCH 1:* (FLAGS MODSEQ) (CHANGEDSINCE 12345)\r\n") {
            CommandBody::Fetch {
                items,
                uid: true,
                changed_since: Some(12345),
                ..
            } => assert_eq!(items, [FetchItem::Flags, FetchItem::ModSeq]),
            b => panic!("{b:?}"),
        }
        assert!(matches!(
            body("a FETCH 1 FAST (CHANGEDSINCE 1)\r\n"),
            CommandBody::Fetch {
                changed_since: Some(1),
                ..
            }
        ));
        bad("a FETCH 1 FLAGS (CHANGEDSINCE)\r\n", Some("a"));
        bad(
            "a FETCH 1 FLAGS (CHANGEDSINCE 9223372036854775808)\r\n",
            Some("a"),
        );
        match body("a STORE 1:3 (UNCHANGEDSINCE 0) +FLAGS.SILENT (\\Seen)\r\n") {
            CommandBody::Store(StoreRequest {
                unchanged_since: Some(0),
                silent: true,
                op: FlagOp::Add,
                ..
            }) => {}
            b => panic!("{b:?}"),
        }
        bad("a STORE 1 (UNCHANGEDSINCE x) FLAGS ()\r\n", Some("a"));
        let key = |s: &str| match body(s) {
            CommandBody::Search { criteria, .. } => criteria,
            b => panic!("{b:?}"),
        };
        assert_eq!(
            key("a SEARCH MODSEQ 620162338\r\n"),
            SearchKey::ModSeq(620_162_338)
        );
        assert_eq!(
            key("a SEARCH MODSEQ \"/flags/\\\\draft\" all 620162338\r\n"),
            SearchKey::ModSeq(620_162_338)
        );
        assert!(key("a SEARCH OR NOT MODSEQ 5 SEEN\r\n").has_modseq());
        bad("a SEARCH MODSEQ \"/flags/\" all 1\r\n", Some("a"));
        bad("a SEARCH MODSEQ \"/other/x\" priv 1\r\n", Some("a"));
        bad("a SEARCH MODSEQ \"/flags/x\" nobody 1\r\n", Some("a"));
    }

    /// RFC 4731 `SEARCH RETURN (...)`: before CHARSET and the keys; `()`
    /// is ALL; an option we do not know is BAD.
    #[test]
    fn search_return_options() {
        let ret = |s: &str| match body(s) {
            CommandBody::Search { ret, .. } => ret,
            b => panic!("{b:?}"),
        };
        assert_eq!(ret("a SEARCH ALL\r\n"), None);
        let all = SearchReturn {
            all: true,
            ..SearchReturn::default()
        };
        assert_eq!(ret("a SEARCH RETURN () ALL\r\n"), Some(all));
        let r = ret("a UID SEARCH RETURN (MIN max Count) CHARSET UTF-8 TEXT x\r\n").expect("ret");
        assert!(r.min && r.max && r.count && !r.all);
        bad("a SEARCH RETURN\r\n", Some("a"));
        // RFC 5267: PARTIAL (its range in order), UPDATE, CONTEXT.
        let r = ret("a SEARCH RETURN (PARTIAL 5:1 update) ALL\r\n").expect("ret");
        assert!(r.partial == Some((1, 5)) && r.update && !r.all);
        assert_eq!(ret("a SEARCH RETURN (CONTEXT) ALL\r\n"), Some(all));
        bad("a SEARCH RETURN (PARTIAL 0:5) ALL\r\n", Some("a"));
        bad("a SEARCH RETURN (PARTIAL 5) ALL\r\n", Some("a"));
        bad("a SEARCH RETURN (NOTHING) ALL\r\n", Some("a"));
        bad("a SEARCH RETURN (MIN) \r\n", Some("a"));
        bad("a SEARCH RETURN MIN ALL\r\n", Some("a"));
        // RFC 5182: SAVE, and `$` as a set or a search key.
        let r = ret("a SEARCH RETURN (SAVE) $ FLAGGED\r\n").expect("ret");
        assert!(r.save && !r.all && !r.min);
        match body("a UID FETCH 1,$ (UID)\r\n") {
            CommandBody::Fetch { set, uid: true, .. } => {
                assert!(set.has_saved());
                assert_eq!(set.max_number(), Some(1));
            }
            b => panic!("{b:?}"),
        }
        bad("a FETCH $1 (UID)\r\n", Some("a"));
        bad("a FETCH $:2 (UID)\r\n", Some("a"));
    }

    #[test]
    fn store() {
        let st = |s: &str| match body(s) {
            CommandBody::Store(StoreRequest {
                op,
                silent,
                flags,
                unchanged_since: None,
                ..
            }) => (op, silent, flags),
            b => panic!("{b:?}"),
        };
        assert_eq!(
            st("a STORE 2:4 +FLAGS (\\Deleted)\r\n"),
            (FlagOp::Add, false, flags(flag::DELETED, &[]))
        );
        assert_eq!(
            st("a STORE 1 -flags.silent \\seen $Junk \\ANSWERED\r\n"),
            (
                FlagOp::Remove,
                true,
                flags(flag::SEEN | flag::ANSWERED, &["$Junk"])
            )
        );
        assert_eq!(
            st("a STORE 1 FLAGS ()\r\n"),
            (FlagOp::Replace, false, Flags::default())
        );
        assert_eq!(
            st("a STORE 1 FLAGS.SILENT (\\Flagged \\Draft foo FOO)\r\n"),
            (
                FlagOp::Replace,
                true,
                flags(flag::FLAGGED | flag::DRAFT, &["foo"])
            )
        );
        for b in [
            "a STORE 1 FLAGS (\\Recent)\r\n",
            "a STORE 1 FLAGS (\\Foo)\r\n",
            "a STORE 1 FLAGS\r\n",
            "a STORE 1 +FLAGS.LOUD (x)\r\n",
            "a STORE 1 *FLAGS (x)\r\n",
            "a STORE 1 FLAGS (x\r\n",
            "a STORE 1 FLAGS (x )\r\n",
            "a STORE 1 FLAGS (x]y)\r\n",
            "a STORE FLAGS (x)\r\n",
        ] {
            bad(b, Some("a"));
        }
        let long = "k".repeat(KEYWORD_LEN_MAX + 1);
        bad(&format!("a STORE 1 FLAGS ({long})\r\n"), Some("a"));
    }

    fn search(s: &str) -> (Option<String>, SearchKey) {
        match body(s) {
            CommandBody::Search {
                charset, criteria, ..
            } => (charset, criteria),
            b => panic!("{b:?}"),
        }
    }

    fn key(s: &str) -> SearchKey {
        search(&format!("a SEARCH {s}\r\n")).1
    }

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn every_search_key() {
        let v = |s: &str| s.as_bytes().to_vec();
        for (s, k) in [
            ("ALL", K::All),
            ("answered", K::Answered),
            ("BCC joe", K::Bcc(v("joe"))),
            ("BEFORE 1-Feb-2024", K::Before(d(2024, 2, 1))),
            ("BODY \"hello world\"", K::Body(v("hello world"))),
            ("CC {3}\r\na\"b", K::Cc(v("a\"b"))),
            ("DELETED", K::Deleted),
            ("DRAFT", K::Draft),
            ("FLAGGED", K::Flagged),
            ("FROM Smith", K::From(v("Smith"))),
            ("HEADER X-Spam yes", K::Header("X-Spam".into(), v("yes"))),
            (
                "HEADER \"List-Id\" \"\"",
                K::Header("List-Id".into(), v("")),
            ),
            ("KEYWORD $Forwarded", K::Keyword("$Forwarded".into())),
            ("LARGER 10000", K::Larger(10000)),
            ("NEW", K::New),
            ("NOT SEEN", K::Not(Box::new(K::Seen))),
            ("OLD", K::Old),
            ("ON \"01-Feb-2024\"", K::On(d(2024, 2, 1))),
            (
                "OR SEEN FLAGGED",
                K::Or(Box::new(K::Seen), Box::new(K::Flagged)),
            ),
            ("RECENT", K::Recent),
            ("SEEN", K::Seen),
            ("SENTBEFORE 31-dec-1999", K::SentBefore(d(1999, 12, 31))),
            ("SENTON 29-Feb-2024", K::SentOn(d(2024, 2, 29))),
            ("SENTSINCE 1-Jan-2000", K::SentSince(d(2000, 1, 1))),
            ("SAVEDBEFORE 28-Dec-2014", K::SavedBefore(d(2014, 12, 28))),
            ("savedon \"28-Dec-2014\"", K::SavedOn(d(2014, 12, 28))),
            ("SAVEDSINCE 1-Jan-2015", K::SavedSince(d(2015, 1, 1))),
            ("SAVEDATESUPPORTED", K::SaveDateSupported),
            ("EMAILID M6d2dc0", K::EmailId("M6d2dc0".into())),
            ("THREADID \"T-1_a\"", K::ThreadId("T-1_a".into())),
            ("SINCE 01-Jul-2021", K::Since(d(2021, 7, 1))),
            ("SMALLER 5000000000", K::Smaller(5_000_000_000)),
            ("SUBJECT foo", K::Subject(v("foo"))),
            ("TEXT {4}\r\näö", K::Text("äö".as_bytes().to_vec())),
            ("TO \"\"", K::To(v(""))),
            ("UID 1:*", K::Uid(set(&[(Value(1), Star)]))),
            ("UNANSWERED", K::Unanswered),
            ("UNDELETED", K::Undeleted),
            ("UNDRAFT", K::Undraft),
            ("UNFLAGGED", K::Unflagged),
            ("UNKEYWORD Junk", K::Unkeyword("Junk".into())),
            ("UNSEEN", K::Unseen),
            (
                "2,4:*",
                K::SequenceSet(set(&[(Value(2), Value(2)), (Value(4), Star)])),
            ),
            ("(SEEN)", K::Seen),
            ("(SEEN FLAGGED)", K::And(vec![K::Seen, K::Flagged])),
            (
                "OR (FROM a TO b) NOT (1:3 UNSEEN)",
                K::Or(
                    Box::new(K::And(vec![K::From(v("a")), K::To(v("b"))])),
                    Box::new(K::Not(Box::new(K::And(vec![
                        K::SequenceSet(set(&[(Value(1), Value(3))])),
                        K::Unseen,
                    ])))),
                ),
            ),
        ] {
            let input = format!("a SEARCH {s}\r\n");
            let got = match parse_bytes(input.as_bytes()) {
                Ok(Command {
                    body: CommandBody::Search { criteria, .. },
                    ..
                }) => criteria,
                r => panic!("{s}: {r:?}"),
            };
            assert_eq!(got, k, "{s}");
        }
        assert_eq!(
            key("SEEN FROM x 1"),
            K::And(vec![
                K::Seen,
                K::From(b"x".to_vec()),
                K::SequenceSet(set(&[(Value(1), Value(1))]))
            ])
        );
        assert_eq!(
            search("a SEARCH CHARSET utf-8 TEXT x\r\n"),
            (Some("UTF-8".into()), K::Text(b"x".to_vec()))
        );
        assert_eq!(
            search("a SEARCH charset \"US-ASCII\" ALL\r\n").0.as_deref(),
            Some("US-ASCII")
        );
        for b in [
            "a SEARCH\r\n",
            "a SEARCH \r\n",
            "a SEARCH FOO\r\n",
            "a SEARCH CHARSET UTF-8\r\n",
            "a SEARCH SEEN  FLAGGED\r\n",
            "a SEARCH ()\r\n",
            "a SEARCH (SEEN\r\n",
            "a SEARCH SEEN)\r\n",
            "a SEARCH OR SEEN\r\n",
            "a SEARCH NOT\r\n",
            "a SEARCH BEFORE 32-Jan-2024\r\n",
            "a SEARCH BEFORE 29-Feb-2023\r\n",
            "a SEARCH BEFORE 1-Foo-2024\r\n",
            "a SEARCH BEFORE 1-Feb-24\r\n",
            "a SEARCH BEFORE 001-Feb-2024\r\n",
            "a SEARCH BEFORE \"1-Feb-2024\r\n",
            "a SEARCH LARGER x\r\n",
            "a SEARCH LARGER 99999999999999999999\r\n",
            "a SEARCH UID 0\r\n",
            "a SEARCH HEADER \"a\x01b\" x\r\n",
            "a SEARCH HEADER \"\" x\r\n",
            "a SEARCH KEYWORD \\Seen\r\n",
            "a SEARCH FROM\r\n",
        ] {
            bad(b, Some("a"));
        }
        // RFC 9051: UTF-8 in a quoted string is taken; invalid UTF-8 is not.
        match parse_bytes(b"a SEARCH TEXT \"\xc3\xa4\"\r\n").unwrap().body {
            CommandBody::Search { criteria, .. } => {
                assert_eq!(criteria, SearchKey::Text("\u{e4}".into()))
            }
            other => panic!("{other:?}"),
        }
        bad_bytes(b"a SEARCH TEXT \"\xc3\"\r\n", Some("a"));
        bad_bytes(b"a SEARCH TEXT \"\xc3\x28\"\r\n", Some("a"));
    }

    #[test]
    fn nesting_is_bounded() {
        let n = IMAP_NESTING_MAX;
        let ok = format!("a SEARCH {}ALL{}\r\n", "(".repeat(n), ")".repeat(n));
        assert_eq!(key(&ok[9..ok.len() - 2]), K::All);
        let deep = format!("a SEARCH {}ALL{}\r\n", "(".repeat(n + 1), ")".repeat(n + 1));
        assert_eq!(bad(&deep, Some("a")), "Too deeply nested");
        let deep = format!("a SEARCH {}ALL\r\n", "NOT ".repeat(n + 1));
        assert_eq!(bad(&deep, Some("a")), "Too deeply nested");
        let deep = format!("a SEARCH {}ALL{}\r\n", "OR ALL (".repeat(n), ")".repeat(n));
        assert_eq!(bad(&deep, Some("a")), "Too deeply nested");
        // Far deeper than the stack would take: refused, no overflow.
        let mut huge = b"a SEARCH ".to_vec();
        huge.extend(std::iter::repeat_n(b'(', 60_000));
        let f = Frame::from_bytes(huge);
        assert!(parse_command(f).is_err());
    }

    fn fetch(s: &str) -> Vec<FetchItem> {
        match body(&format!("a FETCH 1 {s}\r\n")) {
            CommandBody::Fetch { items, .. } => items,
            b => panic!("{b:?}"),
        }
    }

    fn sec(part: &[u32], text: Option<SectionText>) -> Section {
        Section {
            part: part.to_vec(),
            text,
        }
    }

    #[test]
    fn header_field_names_are_astrings() {
        // RFC 3501 9: header-fld-name = astring; names no field can have
        // are taken (and match nothing), as Dovecot takes them.
        match parse("a FETCH 1 BODY.PEEK[HEADER.FIELDS (\"a b\" X-Foo x:y)]\r\n")
            .unwrap()
            .body
        {
            CommandBody::Fetch { items, .. } => match &items[0] {
                FetchItem::BodySection { section, .. } => assert_eq!(
                    section.text,
                    Some(crate::mime::SectionText::HeaderFields {
                        not: false,
                        fields: vec!["a b".into(), "X-Foo".into(), "x:y".into()]
                    })
                ),
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_fetch_item_and_macro() {
        use FetchItem as F;
        let fast = vec![F::Flags, F::InternalDate, F::Rfc822Size];
        assert_eq!(fetch("FAST"), fast);
        assert_eq!(fetch("all"), [&fast[..], &[F::Envelope]].concat());
        assert_eq!(fetch("FULL"), [&fast[..], &[F::Envelope, F::Body]].concat());
        for (s, item) in [
            ("ENVELOPE", F::Envelope),
            ("FLAGS", F::Flags),
            ("INTERNALDATE", F::InternalDate),
            ("RFC822", F::Rfc822),
            ("RFC822.HEADER", F::Rfc822Header),
            ("rfc822.size", F::Rfc822Size),
            ("RFC822.TEXT", F::Rfc822Text),
            ("BODY", F::Body),
            ("BODYSTRUCTURE", F::BodyStructure),
            ("UID", F::Uid),
            ("SAVEDATE", F::SaveDate),
            ("EMAILID", F::EmailId),
            ("threadid", F::ThreadId),
        ] {
            assert_eq!(fetch(s), std::slice::from_ref(&item), "{s}");
            assert_eq!(fetch(&format!("({s})")), [item], "({s})");
        }
        // RFC 3516 section-binary: part numbers only.
        let bin = |peek, part: &[u32], partial| F::Binary {
            peek,
            part: part.to_vec(),
            partial,
        };
        for (s, item) in [
            ("BINARY[]", bin(false, &[], None)),
            ("binary.peek[1.2]<0.10>", bin(true, &[1, 2], Some((0, 10)))),
            ("BINARY[3]<5.1>", bin(false, &[3], Some((5, 1)))),
            ("BINARY.SIZE[4.1]", F::BinarySize { part: vec![4, 1] }),
            ("BINARY.SIZE[]", F::BinarySize { part: vec![] }),
        ] {
            assert_eq!(fetch(s), std::slice::from_ref(&item), "{s}");
        }
        for bad in [
            "a FETCH 1 BINARY",
            "a FETCH 1 BINARY[1.MIME]",
            "a FETCH 1 BINARY[HEADER]",
            "a FETCH 1 BINARY[0]",
            "a FETCH 1 BINARY[1.]",
            "a FETCH 1 BINARY.SIZE[1]<0.1>",
            "a FETCH 1 BINARY[1]<0.0>",
        ] {
            assert!(parse(&format!("{bad}\r\n")).is_err(), "{bad}");
        }
        let bs = |peek, section, partial| F::BodySection {
            peek,
            section,
            partial,
        };
        use SectionText as T;
        for (s, item) in [
            ("BODY[]", bs(false, sec(&[], None), None)),
            ("BODY.PEEK[]", bs(true, sec(&[], None), None)),
            ("body[]<0.2048>", bs(false, sec(&[], None), Some((0, 2048)))),
            ("BODY[HEADER]", bs(false, sec(&[], Some(T::Header)), None)),
            (
                "BODY.PEEK[TEXT]<10.1>",
                bs(true, sec(&[], Some(T::Text)), Some((10, 1))),
            ),
            ("BODY[1]", bs(false, sec(&[1], None), None)),
            ("BODY[1.2.3]", bs(false, sec(&[1, 2, 3], None), None)),
            (
                "BODY[4.2.MIME]",
                bs(false, sec(&[4, 2], Some(T::Mime)), None),
            ),
            (
                "BODY[2.header]",
                bs(false, sec(&[2], Some(T::Header)), None),
            ),
            ("BODY[3.TEXT]", bs(false, sec(&[3], Some(T::Text)), None)),
            (
                "BODY.PEEK[HEADER.FIELDS (From \"Subject\" {2}\r\nTo)]",
                bs(
                    true,
                    sec(
                        &[],
                        Some(T::HeaderFields {
                            not: false,
                            fields: vec!["From".into(), "Subject".into(), "To".into()],
                        }),
                    ),
                    None,
                ),
            ),
            (
                "BODY[1.HEADER.FIELDS.NOT (X-Spam)]<5.6>",
                bs(
                    false,
                    sec(
                        &[1],
                        Some(T::HeaderFields {
                            not: true,
                            fields: vec!["X-Spam".into()],
                        }),
                    ),
                    Some((5, 6)),
                ),
            ),
        ] {
            assert_eq!(fetch(s), [item], "{s}");
        }
        assert_eq!(
            fetch("(FLAGS BODY.PEEK[HEADER] UID FLAGS)"),
            [F::Flags, bs(true, sec(&[], Some(T::Header)), None), F::Uid]
        );
        for b in [
            "FOO",
            "(FAST)",
            "(FLAGS",
            "()",
            "( FLAGS)",
            "FLAGS UID",
            "BODY.PEEK",
            "BODY[",
            "BODY[0]",
            "BODY[1.]",
            "BODY[MIME]",
            "BODY[HEADER.FIELDS]",
            "BODY[HEADER.FIELDS ()]",
            "BODY[HEADER.FIELDS (\"\u{7f}\")]",
            "BODY[TEXT.HEADER]",
            "BODY[1.2.FOO]",
            "BODY[]<1>",
            "BODY[]<1.0>",
            "BODY[]<a.1>",
            "BODY[]<1.2",
            "BODY[] <1.2>",
            "RFC822.FOO",
            "",
        ] {
            bad(&format!("a FETCH 1 {b}\r\n"), Some("a"));
        }
        bad("a FETCH 1\r\n", Some("a"));
        bad("a FETCH FLAGS\r\n", Some("a"));
    }

    #[test]
    fn id_and_enable() {
        assert!(matches!(body("a ID nil\r\n"), CommandBody::Id(None)));
        match body("a ID (\"name\" \"sodr\" \"version\" NIL)\r\n") {
            CommandBody::Id(Some(p)) => assert_eq!(
                p,
                [
                    ("name".to_string(), Some("sodr".to_string())),
                    ("version".to_string(), None)
                ]
            ),
            b => panic!("{b:?}"),
        }
        assert!(matches!(body("a ID ()\r\n"), CommandBody::Id(Some(p)) if p.is_empty()));
        bad("a ID\r\n", Some("a"));
        bad("a ID (\"name\")\r\n", Some("a"));
        bad("a ID (name x)\r\n", Some("a"));
        let many = (0..31).map(|i| format!("\"k{i}\" NIL")).collect::<Vec<_>>();
        bad(&format!("a ID ({})\r\n", many.join(" ")), Some("a"));
        match body("a ENABLE condstore UTF8=ACCEPT\r\n") {
            CommandBody::Enable(c) => assert_eq!(c, ["CONDSTORE", "UTF8=ACCEPT"]),
            b => panic!("{b:?}"),
        }
        bad("a ENABLE\r\n", Some("a"));
        bad("a ENABLE \r\n", Some("a"));
    }

    #[test]
    fn date_times() {
        let dt = |s: &str| {
            let f = Frame::from_bytes(format!("a APPEND x {s} {{0}}\r\n"));
            match parse_command(f) {
                Ok(Command {
                    body: CommandBody::Append { messages, .. },
                    ..
                }) => Ok(messages[0].date),
                Err(e) => Err(e.message),
                Ok(c) => panic!("{c:?}"),
            }
        };
        assert_eq!(
            dt("\"01-Feb-2024 10:00:00 +0100\""),
            Ok(Some((1706778000, 60)))
        );
        assert_eq!(
            dt("\" 1-feb-2024 09:00:00 +0000\""),
            Ok(Some((1706778000, 0)))
        );
        assert_eq!(
            dt("\"1-Feb-2024 04:30:00 -0430\""),
            Ok(Some((1706778000, -270)))
        );
        assert_eq!(dt("\"31-Dec-1969 23:59:60 +0000\""), Ok(Some((-1, 0))));
        for b in [
            "\"01-Feb-2024 10:00:00\"",
            "\"01-Feb-2024 24:00:00 +0000\"",
            "\"01-Feb-2024 10:60:00 +0000\"",
            "\"01-Feb-2024 10:00:00 +0060\"",
            "\"01-Feb-2024 10:00:00 0100\"",
            "\"30-Feb-2024 10:00:00 +0100\"",
            "\"01-Feb-2024 1:00:00 +0100\"",
            "\"01-Feb-2024  10:00:00 +0100\"",
            "01-Feb-2024",
        ] {
            assert!(dt(b).is_err(), "{b}");
        }
    }

    #[test]
    fn quoted_strings() {
        let pw = |s: &[u8]| match parse_bytes(s) {
            Ok(Command {
                body: CommandBody::Login { password, .. },
                ..
            }) => Ok(password),
            Ok(c) => panic!("{c:?}"),
            Err(e) => Err(e),
        };
        assert_eq!(pw(b"a LOGIN u \"\"\r\n").unwrap(), b"");
        assert_eq!(pw(b"a LOGIN u \"a\\\\b\\\"c\"\r\n").unwrap(), b"a\\b\"c");
        assert_eq!(pw(b"a LOGIN u \"({%*]})\"\r\n").unwrap(), b"({%*]})");
        assert_eq!(pw(b"a LOGIN u NIL\r\n").unwrap(), b"NIL");
        assert_eq!(
            pw(b"a LOGIN u \"\xc3\xa4\"\r\n").unwrap(),
            "\u{e4}".as_bytes()
        );
        for b in [
            &b"a LOGIN u \"\xed\xa0\x80\"\r\n"[..],
            b"a LOGIN u \"a\\b\"\r\n",
            b"a LOGIN u \"a\0b\"\r\n",
            b"a LOGIN u \"a\rb\"\r\n",
            b"a LOGIN u \"abc\r\n",
            b"a LOGIN u {3}\r\na\0b\r\n",
            b"a LOGIN u a\"b\r\n",
            b"a LOGIN u a\\b\r\n",
            b"a LOGIN u (ab)\r\n",
        ] {
            let e = pw(b).unwrap_err();
            assert_eq!(e.tag.as_deref(), Some("a"), "{b:?}");
        }
        let e = pw(b"a LOGIN u \"\xff\"\r\n").unwrap_err();
        assert!(e.message.contains("8-bit"), "{e:?}");
    }

    /// C: several commands in one stream, as a session reads them.
    #[test]
    fn transcript_stays_in_step() {
        let stream = b"a1 LOGIN {3}\r\njoe {2+}\r\npw\r\na2 SELECT {5}\r\ninbox\r\n\
            a3 BOGUS\r\na4 UID FETCH 1:* (FLAGS)\r\n";
        let mut r = BufReader::with_capacity(3, &stream[..]);
        let mut out = Vec::new();
        let mut next = || parse_command(read_command(&mut r, &mut out, &mut spool).unwrap());
        assert!(matches!(next().unwrap().body, CommandBody::Login { .. }));
        assert!(
            matches!(next().unwrap().body, CommandBody::Select { mailbox, .. } if mailbox == "INBOX")
        );
        assert_eq!(
            next().unwrap_err().response(),
            b"a3 BAD Unknown command\r\n"
        );
        let c = next().unwrap();
        assert_eq!(c.tag, "a4");
        assert!(matches!(c.body, CommandBody::Fetch { uid: true, .. }));
        assert!(matches!(
            read_command(&mut r, &mut out, &mut spool),
            Err(FrameError::Eof)
        ));
        // S: one continuation for each synchronising literal, none for {2+}.
        assert_eq!(out, b"+ Ready for literal data\r\n".repeat(2));
    }

    #[test]
    fn malformed_commands_get_bad_with_tag() {
        assert_eq!(bad("a1 FOO\r\n", Some("a1")), "Unknown command");
        assert_eq!(bad("a1 SELECT\r\n", Some("a1")), "Missing argument");
        bad("a1  NOOP\r\n", Some("a1"));
        bad("a1 NOOP \r\n", Some("a1"));
        bad("a1 NOOP extra\r\n", Some("a1"));
        bad("a1\r\n", Some("a1"));
        bad("a1 \r\n", Some("a1"));
        bad("+ NOOP\r\n", None);
        bad("a+b NOOP\r\n", None);
        bad("* NOOP\r\n", None);
        bad("\r\n", None);
        bad(" NOOP\r\n", None);
        bad("{3}\r\nabc NOOP\r\n", None);
        bad_bytes(b"\xff NOOP\r\n", None);
        bad("a(b NOOP\r\n", None);
        bad("a SELECT x y\r\n", Some("a"));
        let e = ParseError {
            tag: Some("a".into()),
            message: "Unknown command".into(),
        };
        assert_eq!(e.response(), b"a BAD Unknown command\r\n");
        let e = ParseError {
            tag: None,
            message: "Invalid tag".into(),
        };
        assert_eq!(e.response(), b"* BAD Invalid tag\r\n");
    }

    #[test]
    fn literal_lengths_checked_in_hand_made_frames() {
        for f in [
            &b"a LOGIN {10}\r\nab"[..],
            b"a LOGIN {4294967295}\r\n",
            b"a LOGIN {99999999999999999999}\r\n",
            b"a LOGIN {3}abc",
            b"a LOGIN {3}\nabc",
            b"a APPEND x {10}\r\nab",
            b"a APPEND x {3}",
        ] {
            let e = parse_command(Frame::from_bytes(f)).unwrap_err();
            assert_eq!(e.tag.as_deref(), Some("a"));
        }
    }

    /// Every prefix of valid commands, and pseudo-random mutations of
    /// them, parse or fail without panicking.
    #[test]
    fn no_panic_on_any_input() {
        let cmds: &[&[u8]] = &[
            b"a LOGIN {3}\r\njoe {4}\r\npass",
            b"a APPEND x (\\Seen) \"01-Feb-2024 10:00:00 +0100\" {2}\r\nhi",
            b"a UID FETCH 1:*,3 (BODY.PEEK[1.HEADER.FIELDS (a b)]<1.2> FLAGS)",
            b"a SEARCH CHARSET UTF-8 OR (FROM \"x\\\"\" NOT 1:3) HEADER a b",
            b"a STORE 1 +FLAGS.SILENT (\\Seen k)",
            b"a STATUS x (MESSAGES UNSEEN)",
            b"a ID (\"a\" NIL)",
            b"a AUTHENTICATE PLAIN AGpvZQBodW50ZXIy",
        ];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        const BYTES: &[u8] = b" ()[]<>{}\"\\*%:.,+-0123456789\r\n\0\xffaZ";
        for c in cmds {
            assert!(parse_command(Frame::from_bytes(*c)).is_ok(), "{c:?}");
            for i in 0..c.len() {
                let _ = parse_command(Frame::from_bytes(&c[..i]));
            }
            for _ in 0..2000 {
                let mut m = c.to_vec();
                for _ in 0..1 + rnd() % 3 {
                    let i = (rnd() as usize) % m.len();
                    let b = BYTES[(rnd() as usize) % BYTES.len()];
                    match rnd() % 3 {
                        0 => m[i] = b,
                        1 => m.insert(i, b),
                        _ => {
                            m.remove(i);
                        }
                    }
                    if m.is_empty() {
                        break;
                    }
                }
                let _ = parse_command(Frame::from_bytes(m));
            }
        }
    }
}
