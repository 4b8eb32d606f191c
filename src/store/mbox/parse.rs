//! Splitting an mbox file into messages and reading their status headers.
//!
//! Pure functions over the file's bytes: no file is touched here.
//!
//! * A message starts at a `From ` line at the start of the file or after a
//!   blank line, and only if the line has the shape `From ADDR DATE` with an
//!   asctime date (`Www Mmm dd hh:mm[:ss] [zone] yyyy`), as UW-IMAP's
//!   `VALID` test requires: a body line that merely begins with "From " is
//!   body. A valid `Content-Length` (Dovecot writes one and does not quote
//!   `From ` in bodies) is trusted when it ends exactly at the end of the
//!   file or at a blank line plus a valid `From ` line.
//! * The blank line before the next `From ` line is the separator, not part
//!   of the message; a file may end with or without it, and the last line
//!   may lack its newline. LF and CRLF files are both read.
//! * `>From ` lines (mboxo/mboxrd quoting by MTAs) are served as stored: we
//!   cannot tell which quoting convention a line went through, and the
//!   bytes were the mail file's content when delivered.
//! * Status headers (`HIDDEN`) are never served: a message as a client sees
//!   it is the bytes after the `From ` line without those header fields.

use std::ops::Range;

use crate::limits::{
    HEADER_READ_FIRST, MBOX_COPY_CHUNK, MBOX_FROM_LINE_MAX, MBOX_RELEASE_STEP as RELEASE_STEP,
    MBOX_SCAN_MAPPED, MIME_HEADER_MAX,
};
use crate::store::{flag, index::valid_keyword, Flags, Uid};

/// Header fields that hold mailbox state, never shown to clients (the set
/// Dovecot hides).
pub const HIDDEN: [&str; 7] = [
    "Content-Length",
    "Status",
    "X-IMAP",
    "X-IMAPbase",
    "X-Keywords",
    "X-Status",
    "X-UID",
];

/// The subject of UW-IMAP's pseudo-message holding the folder's state.
const PSEUDO_SUBJECT: &str = "DON'T DELETE THIS MESSAGE -- FOLDER INTERNAL DATA";

/// One message's place in the file and its stored state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Msg {
    /// The `From ` line, with its line end.
    pub from: Range<usize>,
    /// The header block after the `From ` line, up to and including the
    /// blank line that ends it (if any).
    pub header: Range<usize>,
    /// The body, up to the separator.
    pub body: Range<usize>,
    /// Status header fields (with continuation lines) inside `header`.
    pub hidden: Hidden,
    pub uid: Option<Uid>,
    pub flags: Flags,
    /// `Status: O`: seen by a mail reader, so not `\Recent`.
    pub old: bool,
    /// The envelope date of the `From ` line (seconds, zone minutes east).
    pub date: i64,
    pub zone: i32,
    /// Whether lines end in CRLF (judged by the `From ` line).
    pub crlf: bool,
    /// Length of the blank line that ends `header` (0: none, the header
    /// ran to the end of the message).
    pub blank: usize,
}

impl Msg {
    /// The message parsed from a piece of the file that starts at `by`.
    fn shifted(mut self, by: usize) -> Msg {
        let sh = |r: &Range<usize>| r.start + by..r.end + by;
        self.from = sh(&self.from);
        self.header = sh(&self.header);
        self.body = sh(&self.body);
        let mut hidden = Hidden::default();
        for r in self.hidden.iter() {
            hidden.push(sh(&r));
        }
        self.hidden = hidden;
        self
    }

    /// The byte ranges served to clients: everything after the `From ` line
    /// except the hidden header fields.
    pub fn served(&self) -> Vec<Range<usize>> {
        let mut out = Vec::with_capacity(self.hidden.len() + 2);
        let mut at = self.header.start;
        for h in self.hidden.iter() {
            if h.start > at {
                out.push(at..h.start);
            }
            at = h.end;
        }
        if self.body.end > at {
            out.push(at..self.body.end);
        }
        out
    }

    /// RFC822.SIZE: the served bytes with every line end as CRLF.
    pub fn size(&self, data: &[u8]) -> u64 {
        self.size_releasing(data, &|_| {})
    }

    /// `size`, counted a window at a time, telling `release` (see
    /// `parse_from_releasing`) what it has read.
    pub fn size_releasing(&self, data: &[u8], release: &dyn Fn(usize)) -> u64 {
        let mut total = 0u64;
        for r in self.served() {
            let mut prev = 0u8;
            let mut at = r.start;
            for chunk in data[r].chunks(RELEASE_STEP) {
                total += crlf_piece(chunk, &mut prev);
                at += chunk.len();
                release(at);
            }
        }
        total
    }

    /// `size`, read with `read_at` (pread) a `MBOX_COPY_CHUNK` at a time:
    /// a big message counted without mapping it (`scan_end_read`).
    pub fn size_read(&self, read_at: ReadAt<'_>) -> Option<u64> {
        let mut total = 0u64;
        let mut buf = vec![0u8; MBOX_COPY_CHUNK];
        for r in self.served() {
            let mut prev = 0u8;
            let mut at = r.start;
            while at < r.end {
                let chunk = &mut buf[..(r.end - at).min(MBOX_COPY_CHUNK)];
                read_at(chunk, at as u64).ok()?;
                total += crlf_piece(chunk, &mut prev);
                at += chunk.len();
            }
        }
        Some(total)
    }
}

/// The CRLF size of `chunk`, one piece of a run whose previous piece ended
/// with `prev` (an LF whose CR ended the previous piece is not bare).
fn crlf_piece(chunk: &[u8], prev: &mut u8) -> u64 {
    let mut n = crate::mime::crlf::crlf_size(chunk).octets;
    if *prev == b'\r' && chunk.first() == Some(&b'\n') {
        n -= 1;
    }
    *prev = chunk.last().copied().unwrap_or(*prev);
    n
}

/// A message's hidden header fields (`HIDDEN`) as runs of octets in the
/// file, in order: fields next to each other make one run, so the status
/// lines we write together at the end of a header are one. The first run
/// is kept inline and most messages have no other, so a big mbox costs no
/// allocation a message for them (issue 20).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Hidden {
    /// The first run's start and length (0: no run).
    at: usize,
    len: u32,
    /// The runs after the first. Boxed on purpose: one pointer (8 octets,
    /// none when absent) in every message, where a `Vec` would be 24.
    #[allow(clippy::box_collection)]
    more: Option<Box<Vec<Range<usize>>>>,
}

impl Hidden {
    /// Adds `r`, which starts at or after the end of the last run.
    pub fn push(&mut self, r: Range<usize>) {
        if r.is_empty() {
            return;
        }
        let first_end = self.at + self.len as usize;
        match &mut self.more {
            Some(more) => match more.last_mut() {
                Some(last) if last.end == r.start => last.end = r.end,
                _ => more.push(r),
            },
            None if self.len > 0 && first_end == r.start => match u32::try_from(r.end - self.at) {
                Ok(len) => self.len = len,
                Err(_) => self.more = Some(Box::new(vec![r])),
            },
            None if self.len == 0 => match u32::try_from(r.len()) {
                Ok(len) => (self.at, self.len) = (r.start, len),
                // Too long to keep inline (a field of over 4 GiB): the
                // inline run stays empty and every run goes in `more`.
                Err(_) => self.more = Some(Box::new(vec![r])),
            },
            None => self.more = Some(Box::new(vec![r])),
        }
    }

    /// The runs, in order.
    pub fn iter(&self) -> impl Iterator<Item = Range<usize>> + '_ {
        let first = (self.len > 0).then(|| self.at..self.at + self.len as usize);
        first
            .into_iter()
            .chain(self.more.iter().flat_map(|m| m.iter().cloned()))
    }

    /// How many runs there are.
    pub fn len(&self) -> usize {
        usize::from(self.len > 0) + self.more.as_ref().map_or(0, |m| m.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The one run, when there is exactly one.
    pub fn single(&self) -> Option<Range<usize>> {
        let mut it = self.iter();
        let r = it.next()?;
        it.next().is_none().then_some(r)
    }
}

/// The folder's state from `X-IMAPbase` (or UW's `X-IMAP`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Base {
    pub uid_validity: u32,
    /// The last UID assigned (UW-IMAP and Dovecot write the last, not the
    /// next one).
    pub uid_last: Uid,
    pub keywords: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Parsed {
    pub base: Option<Base>,
    pub messages: Vec<Msg>,
}

/// pread(2) of the file being parsed: fills the buffer from the offset.
pub type ReadAt<'a> = &'a dyn Fn(&mut [u8], u64) -> std::io::Result<()>;

/// Why a file cannot be read as an mbox.
#[derive(Debug, PartialEq, Eq)]
pub struct NotMbox(pub &'static str);

/// Splits `data` into messages. A non-empty file must start with a valid
/// `From ` line: anything else is not an mbox we may rewrite.
pub fn parse(data: &[u8]) -> Result<Parsed, NotMbox> {
    parse_from(data, 0)
}

/// Parses from `start`, which must be the start of a `From ` line (or the
/// end of the file): lets a grown file be read from its last known message.
pub fn parse_from(data: &[u8], start: usize) -> Result<Parsed, NotMbox> {
    parse_from_releasing(data, start, &|_| {})
}

/// `parse_from`, calling `release(pos)` as it goes when nothing before
/// `pos` will be read again by the parse (but a few octets of look-back),
/// so that a memory-mapped file can let those pages go: scanning a big
/// mbox then costs a window of memory, not its size (issue 20).
pub fn parse_from_releasing(
    data: &[u8],
    start: usize,
    release: &dyn Fn(usize),
) -> Result<Parsed, NotMbox> {
    let mut messages = Vec::new();
    let base = parse_each(data, start, 0, None, release, &mut |m, _| messages.push(m))?;
    Ok(Parsed { base, messages })
}

/// `parse_from_releasing`, handing each message to `each` as it is found
/// rather than collecting them (a big mbox's messages are not held twice
/// while they become entries), with where the next one starts. Returns
/// the folder's state, if the first message carries it. `resume`: the
/// first message was parsed before in the file's first `resume` octets,
/// which have not changed; its end is looked for from the last line
/// there on (a big last message of a file that grew is not read again).
/// `read_at`: the file `data` maps, read with pread, for the bodies of
/// big messages (`scan_end_read`).
pub fn parse_each(
    data: &[u8],
    start: usize,
    resume: usize,
    read_at: Option<ReadAt<'_>>,
    release: &dyn Fn(usize),
    each: &mut dyn FnMut(Msg, usize),
) -> Result<Option<Base>, NotMbox> {
    let mut out = None;
    if start >= data.len() {
        return Ok(out);
    }
    // Checked with pread where it can be, as `message_read` reads.
    let from_at_start = match read_at {
        Some(read) => {
            let mut line = vec![0u8; (data.len() - start).min(MBOX_FROM_LINE_MAX)];
            read(&mut line, start as u64).is_ok() && from_line(&line, 0).is_some()
        }
        None => from_line(data, start).is_some(),
    };
    if !from_at_start {
        return Err(NotMbox("file does not start with a From line"));
    }
    let mut at = start;
    let mut first = start == 0;
    let mut resume = resume.min(data.len());
    while at < data.len() {
        let (m, next, base, pseudo) = message(data, at, resume, read_at, release);
        resume = 0;
        // Many small messages: let go of what is behind every so often.
        if next / RELEASE_STEP != at / RELEASE_STEP {
            release(next);
        }
        if first {
            out = base;
        }
        if !(first && pseudo) {
            each(m, next);
        }
        first = false;
        at = next;
    }
    Ok(out)
}

fn line_end(data: &[u8], at: usize) -> usize {
    data[at..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(data.len(), |p| at + p + 1)
}

/// Parses the message whose `From ` line starts at `at`; returns it, where
/// the next message starts, the folder state if it carries one, and whether
/// it is UW-IMAP's pseudo-message.
/// `resume`: as for `parse_each`.
fn message(
    data: &[u8],
    at: usize,
    resume: usize,
    read_at: Option<ReadAt<'_>>,
    release: &dyn Fn(usize),
) -> (Msg, usize, Option<Base>, bool) {
    if let Some(read) = read_at.filter(|_| resume > at) {
        if let Some(found) = message_read(data.len(), at, resume, read) {
            return found;
        }
    }
    let (mut m, base, pseudo, content_length) = head(data, at);
    let body_start = m.body.start;
    // The start of the last line before `resume` (or `resume` itself after
    // a line end): no line before it can end the message.
    let from = match resume {
        r if r <= body_start => body_start,
        r if data[r - 1] == b'\n' => r,
        r => data[..r - 1]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(body_start, |n| n + 1)
            .max(body_start),
    };
    let scan = || {
        let Some(read_at) = read_at else {
            return scan_end(data, body_start, from, usize::MAX, release);
        };
        // Through the map for a usual message; a big one is read on with
        // pread.
        let bound = from.saturating_add(MBOX_SCAN_MAPPED);
        scan_end(data, body_start, from, bound, release).or_else(|p| {
            scan_end_read(data.len(), body_start, p, read_at, MBOX_COPY_CHUNK)
                .ok_or(p)
                .or_else(|p| scan_end(data, body_start, p, usize::MAX, release))
        })
    };
    let (end, next) = content_length
        .and_then(|n| trusted_length(data, body_start, n))
        .unwrap_or_else(|| scan().unwrap_or((data.len(), data.len())));
    m.body = body_start..end.max(body_start);
    (m, next, base, pseudo)
}

/// The message an earlier parse found at `start`, whose body ended at
/// `end` and whose separator took `sep` octets (the next message starts at
/// `end + sep`), read again from `data`: its header is parsed as the first
/// parse did (up to where the next message starts, so the same octets
/// decide), its end is not looked for. None when `data` cannot hold it
/// (a cache that does not describe this file).
pub fn reparse(data: &[u8], start: usize, end: usize, sep: usize) -> Option<Msg> {
    let next = end.checked_add(sep)?;
    let data = data.get(..next)?;
    if start >= next || from_line(data, start).is_none() {
        return None;
    }
    let (mut m, _, _, _) = head(data, start);
    if end < m.body.start {
        return None;
    }
    m.body.end = end;
    Some(m)
}

/// `reparse` reading the message's first octets with `read_at` (pread(2)
/// of the file) instead of through a map of it: only the header is read,
/// a piece at a time (`HEADER_READ_FIRST`, then twice as much), and no page
/// of the file enters the session's memory (a mapped page can bring a
/// large page-cache folio with it: issue 20). Past `MIME_HEADER_MAX` of
/// header it gives up (None), and the caller reads through the map.
/// The octets read (from `start`, the header whole) come with it.
pub fn reparse_read(
    read_at: ReadAt<'_>,
    start: usize,
    end: usize,
    sep: usize,
) -> Option<(Msg, Vec<u8>)> {
    let ((mut m, ..), buf) = head_read(read_at, start, end.checked_add(sep)?)?;
    if end < m.body.start {
        return None;
    }
    m.body.end = end;
    Some((m, buf))
}

/// What `head` says of a message.
type Head = (Msg, Option<Base>, bool, Option<usize>);

/// `head` of the message at `at` whose octets end by `len` at the latest
/// (the next message or the file's end), read with `read_at` a piece at
/// a time (`HEADER_READ_FIRST`, then twice as much): the parse `head`
/// makes of the whole file once the blank line ending the header, and
/// room after it for the From line test, are in hand. No page of the file
/// is mapped. None: no From line at `at`, a read error, or a header past
/// `MIME_HEADER_MAX`. The octets read come with it.
fn head_read(read_at: ReadAt<'_>, at: usize, len: usize) -> Option<(Head, Vec<u8>)> {
    let whole = len.checked_sub(at)?;
    let mut want = HEADER_READ_FIRST.max(2 * MBOX_FROM_LINE_MAX);
    loop {
        let n = want.min(whole);
        let mut buf = vec![0u8; n];
        read_at(&mut buf, at as u64).ok()?;
        from_line(&buf, 0)?;
        let (m, base, pseudo, content_length) = head(&buf, 0);
        if n == whole || m.body.start + MBOX_FROM_LINE_MAX < n {
            return Some(((m.shifted(at), base, pseudo, content_length), buf));
        }
        if n >= MIME_HEADER_MAX {
            return None;
        }
        want = n * 2;
    }
}

/// `message` for the message a parse of a grown file reads again (it
/// started before `resume`, where the file ended), with `read_at` only.
/// Its pages are in the page cache as large folios (read ahead by earlier
/// sessions), which one touch through the map would map whole: 2 MB
/// resident on Linux 6.18, which maps a folio at once. None where it
/// would need the map (a line before `resume` longer than a From line)
/// and on a read error.
fn message_read(
    len: usize,
    at: usize,
    resume: usize,
    read_at: ReadAt<'_>,
) -> Option<(Msg, usize, Option<Base>, bool)> {
    let ((mut m, base, pseudo, content_length), _) = head_read(read_at, at, len)?;
    let body_start = m.body.start;
    if let Some((end, next)) =
        content_length.and_then(|n| trusted_length_read(len, body_start, n, read_at))
    {
        m.body = body_start..end;
        return Some((m, next, base, pseudo));
    }
    // As `message`: the start of the line `resume` is in.
    let from = if resume <= body_start {
        body_start
    } else {
        let w = resume.saturating_sub(MBOX_FROM_LINE_MAX).max(body_start);
        let mut before = vec![0u8; resume - w];
        read_at(&mut before, w as u64).ok()?;
        match before.iter().rposition(|&b| b == b'\n') {
            Some(n) => w + n + 1,
            None if w == body_start => body_start,
            None => return None,
        }
    };
    let (end, next) = scan_end_read(len, body_start, from, read_at, MBOX_COPY_CHUNK)?;
    m.body = body_start..end.max(body_start);
    Some((m, next, base, pseudo))
}

/// Parses the `From ` line and header of the message at `at`: the message
/// with an empty body at its start, the folder state, whether it is the
/// pseudo-message, and its `Content-Length`.
fn head(data: &[u8], at: usize) -> (Msg, Option<Base>, bool, Option<usize>) {
    let from_end = line_end(data, at);
    let crlf = data[at..from_end].ends_with(b"\r\n");
    let (date, zone) = from_line(data, at).unwrap_or((0, 0));
    let mut m = Msg {
        from: at..from_end,
        header: from_end..from_end,
        body: from_end..from_end,
        hidden: Hidden::default(),
        uid: None,
        flags: Flags::default(),
        old: false,
        date,
        zone,
        crlf,
        blank: 0,
    };
    let mut base = None;
    let mut pseudo = false;
    let mut content_length = None;
    // Header fields: name and the range of the whole field.
    let mut p = from_end;
    let mut fields: Vec<(Range<usize>, usize)> = Vec::new(); // (range, name end)
    let body_start;
    loop {
        if p >= data.len() {
            body_start = p;
            break;
        }
        let e = line_end(data, p);
        let line = &data[p..e];
        if line == b"\n" || line == b"\r\n" {
            if e == data.len() || is_from_line(data, e) {
                // The blank line before the next From line (or the end)
                // is the separator: a message with a header and no body.
                body_start = p;
            } else {
                m.blank = line.len();
                body_start = e;
            }
            break;
        }
        if (line[0] == b' ' || line[0] == b'\t') && !fields.is_empty() {
            if let Some(f) = fields.last_mut() {
                f.0.end = e;
            }
        } else {
            let name_end = line.iter().position(|&b| b == b':').map_or(p, |c| p + c);
            fields.push((p..e, name_end));
        }
        p = e;
    }
    m.header = from_end..body_start;
    for (r, name_end) in &fields {
        let name = &data[r.start..*name_end];
        let Some(h) = HIDDEN
            .iter()
            .find(|h| h.as_bytes().eq_ignore_ascii_case(name))
        else {
            continue;
        };
        m.hidden.push(r.clone());
        let value = String::from_utf8_lossy(&data[(*name_end + 1).min(r.end)..r.end]);
        let value = value.trim();
        match *h {
            "Status" => {
                for c in value.chars() {
                    match c {
                        'R' => m.flags.system |= flag::SEEN,
                        'O' => m.old = true,
                        _ => {}
                    }
                }
            }
            "X-Status" => {
                for c in value.chars() {
                    match c {
                        'A' => m.flags.system |= flag::ANSWERED,
                        'F' => m.flags.system |= flag::FLAGGED,
                        'T' => m.flags.system |= flag::DRAFT,
                        'D' => m.flags.system |= flag::DELETED,
                        _ => {}
                    }
                }
            }
            "X-Keywords" => {
                for k in value.split_ascii_whitespace() {
                    if valid_keyword(k) {
                        m.flags.insert_keyword(k);
                    }
                }
            }
            "X-UID" => m.uid = value.parse().ok().filter(|&u| u > 0),
            "X-IMAPbase" | "X-IMAP" => {
                let mut it = value.split_ascii_whitespace();
                let v = it.next().and_then(|v| v.parse().ok());
                let l = it.next().and_then(|v| v.parse().ok());
                if let (Some(uid_validity), Some(uid_last)) = (v, l) {
                    if uid_validity != 0 {
                        base = Some(Base {
                            uid_validity,
                            uid_last,
                            keywords: it
                                .filter(|k| valid_keyword(k))
                                .map(str::to_string)
                                .collect(),
                        });
                    }
                }
                pseudo |= *h == "X-IMAP";
            }
            "Content-Length" => content_length = value.parse::<usize>().ok(),
            _ => {}
        }
    }
    // The pseudo-message has both the X-IMAP field and the subject.
    let has_subject = fields.iter().any(|(r, n)| {
        data[r.start..*n].eq_ignore_ascii_case(b"Subject")
            && find(&data[*n..r.end], PSEUDO_SUBJECT.as_bytes())
    });
    pseudo = pseudo && has_subject;
    m.body = body_start..body_start;
    (m, base, pseudo, content_length)
}

fn find(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// `Content-Length: n` is right when the body of `n` octets is followed by
/// the end of the file or by a blank line and a valid `From ` line.
fn trusted_length(data: &[u8], body: usize, n: usize) -> Option<(usize, usize)> {
    let end = body.checked_add(n)?;
    length_followed(data.get(end..)?, end, data.len())
}

/// `trusted_length` reading what follows the body with `read_at`.
fn trusted_length_read(
    len: usize,
    body: usize,
    n: usize,
    read_at: ReadAt<'_>,
) -> Option<(usize, usize)> {
    let end = body.checked_add(n).filter(|&e| e <= len)?;
    let mut rest = vec![0u8; (len - end).min(2 + MBOX_FROM_LINE_MAX)];
    read_at(&mut rest, end as u64).ok()?;
    length_followed(&rest, end, len)
}

/// Whether `rest`, the file of length `len` from `end` on (all of it, or
/// at least a separator and a From line's worth), says a body ends at
/// `end`: (end, where the next message starts).
fn length_followed(rest: &[u8], end: usize, len: usize) -> Option<(usize, usize)> {
    if rest.is_empty() || rest == b"\n" || rest == b"\r\n" {
        return Some((end, len));
    }
    for sep in [&b"\n"[..], b"\r\n"] {
        if rest.starts_with(sep) && is_from_line(rest, sep.len()) {
            return Some((end, end + sep.len()));
        }
    }
    None
}

/// Finds the end of the message whose body starts at `body` and where the
/// next one starts: the next valid `From ` line after a blank line, or the
/// end of the file. The blank line is the separator.
/// The search starts at `from`, a line start at or after `body`, and
/// gives up at the first line start at or past `bound` (`Err` of it).
fn scan_end(
    data: &[u8],
    body: usize,
    from: usize,
    bound: usize,
    release: &dyn Fn(usize),
) -> Result<(usize, usize), usize> {
    let mut p = from;
    let mut told = from;
    loop {
        if p - told >= RELEASE_STEP {
            release(p);
            told = p;
        }
        if p >= data.len() {
            return Ok((strip_separator(data, data.len(), body), data.len()));
        }
        if p >= bound {
            return Err(p);
        }
        // `p` is at a line start.
        if data[p..].starts_with(b"From ") && blank_before(data, p, body) && is_from_line(data, p) {
            return Ok((strip_separator(data, p, body), p));
        }
        p = line_end(data, p);
    }
}

/// `scan_end` through the whole of `data` from `body` (tests).
#[cfg(test)]
pub fn scan_end_mapped(data: &[u8], body: usize) -> (usize, usize) {
    scan_end(data, body, body, usize::MAX, &|_| {}).unwrap_or_default()
}

/// `scan_end` of a message in a file of `len` octets read with `read_at`
/// (pread) a window at a time rather than through a map: a big body is
/// scanned without its pages entering the session's memory (one touched
/// page of a map can bring a large page-cache folio: issue 20). None if
/// the file cannot be read.
pub fn scan_end_read(
    len: usize,
    body: usize,
    from: usize,
    read_at: ReadAt<'_>,
    window: usize,
) -> Option<(usize, usize)> {
    // The window holds the file from `w`: the 4 octets before `p` that
    // `blank_before` and `strip_separator` look at, and a whole From line
    // after any line start it judges.
    let mut buf = vec![0u8; window + MBOX_FROM_LINE_MAX + 4];
    let mut p = from;
    let mut at_line_start = true;
    loop {
        if p >= len {
            let w = len.saturating_sub(4).min(p);
            let n = len - w;
            read_at(&mut buf[..n], w as u64).ok()?;
            let end = strip_separator(&buf[..n], len - w, body.max(w) - w);
            return Some((end + w, len));
        }
        let w = p.saturating_sub(4);
        let n = (len - w).min(buf.len());
        read_at(&mut buf[..n], w as u64).ok()?;
        let win = &buf[..n];
        let limit = if w + n == len {
            len
        } else {
            w + n - MBOX_FROM_LINE_MAX
        };
        while p < limit {
            let rel = p - w;
            // As `blank_before`: `p == body`, or the octets before it.
            let blank =
                p == body || win[..rel].ends_with(b"\n\n") || win[..rel].ends_with(b"\n\r\n");
            if at_line_start && win[rel..].starts_with(b"From ") && blank && is_from_line(win, rel)
            {
                let end = strip_separator(win, rel, body.max(w) - w);
                return Some((end + w, p));
            }
            match win[rel..limit - w].iter().position(|&b| b == b'\n') {
                Some(k) => {
                    p += k + 1;
                    at_line_start = true;
                }
                None => {
                    p = limit;
                    at_line_start = false;
                }
            }
        }
    }
}

/// Whether the line before `p` is empty (or `p` starts the body, whose
/// header ended with the blank line).
fn blank_before(data: &[u8], p: usize, body: usize) -> bool {
    p == body || data[..p].ends_with(b"\n\n") || data[..p].ends_with(b"\n\r\n")
}

/// The message end before a separator (or the end of the file) at `p`:
/// one blank line before it is the separator, not message content.
fn strip_separator(data: &[u8], p: usize, body: usize) -> usize {
    let before = &data[body..p];
    if before.ends_with(b"\r\n\r\n") || (before == b"\r\n") {
        p - 2
    } else if before.ends_with(b"\n\n") || before == b"\n" {
        p - 1
    } else if before.ends_with(b"\n\r\n") {
        p - 2
    } else {
        p
    }
}

fn is_from_line(data: &[u8], at: usize) -> bool {
    from_line(data, at).is_some()
}

/// Parses a `From ` line at `at`: `From ADDR Www Mmm dd hh:mm[:ss] [zone]
/// yyyy [zone]`; returns the date (seconds, zone minutes east). The address
/// may be empty or contain spaces (a quoted local part), so the date is
/// searched for among the words.
pub fn from_line(data: &[u8], at: usize) -> Option<(i64, i32)> {
    let rest = data.get(at..)?;
    if !rest.starts_with(b"From ") {
        return None;
    }
    let end = rest
        .iter()
        .take(MBOX_FROM_LINE_MAX)
        .position(|&b| b == b'\n')
        .unwrap_or(rest.len().min(MBOX_FROM_LINE_MAX));
    if end == MBOX_FROM_LINE_MAX {
        return None;
    }
    let line = std::str::from_utf8(&rest[5..end]).ok()?;
    let words: Vec<&str> = line.split_ascii_whitespace().collect();
    (0..words.len()).find_map(|i| asctime(&words[i..]))
}

const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// An asctime date at the start of `w` (and nothing but an optional zone
/// after it).
fn asctime(w: &[&str]) -> Option<(i64, i32)> {
    if w.len() < 5 || !DAYS.contains(&w[0]) {
        return None;
    }
    let month = MONTHS.iter().position(|m| *m == w[1])? as u32 + 1;
    let day: u32 = w[2].parse().ok().filter(|d| (1..=31).contains(d))?;
    let mut t = w[3].split(':');
    let h: u32 = t.next()?.parse().ok().filter(|h| *h < 24)?;
    let mi: u32 = t.next()?.parse().ok().filter(|m| *m < 60)?;
    let s: u32 = match t.next() {
        Some(s) => s.parse().ok().filter(|s| *s < 61)?,
        None => 0,
    };
    if t.next().is_some() {
        return None;
    }
    let year = |s: &str| -> Option<i32> {
        (s.len() == 4 && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let (y, zone_word) = match (year(w[4]), w.get(5)) {
        (Some(y), None) => (y, None),
        (Some(y), Some(z)) if w.len() == 6 => (y, Some(*z)),
        (None, Some(y)) if w.len() == 6 => (year(y)?, Some(w[4])),
        _ => return None,
    };
    let zone = zone_word.and_then(numeric_zone);
    let naive = chrono::NaiveDate::from_ymd_opt(y, month, day)?.and_hms_opt(h, mi, s.min(59))?;
    match zone {
        Some(z) => Some((naive.and_utc().timestamp() - i64::from(z) * 60, z)),
        None => {
            use chrono::TimeZone;
            // Envelope dates are local time (what MTAs write).
            let local = chrono::Local.from_local_datetime(&naive).earliest();
            Some(match local {
                Some(l) => (l.timestamp(), l.offset().local_minus_utc() / 60),
                None => (naive.and_utc().timestamp(), 0),
            })
        }
    }
}

/// `+hhmm` / `-hhmm` as minutes east.
fn numeric_zone(z: &str) -> Option<i32> {
    let b = z.as_bytes();
    if b.len() != 5 || !(b[0] == b'+' || b[0] == b'-') || !b[1..].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n: i32 = z[1..].parse().ok()?;
    let m = (n / 100) * 60 + n % 100;
    Some(if b[0] == b'-' { -m } else { m })
}

/// The `From ` line date for `secs` shown in `zone` (minutes east):
/// asctime, then the numeric zone after the year, a form UW-IMAP's `VALID`
/// lists and Dovecot reads, so that INTERNALDATE keeps the zone the client
/// gave (readers that know only asctime stop at the year).
pub fn format_from_date(secs: i64, zone: i32) -> String {
    use chrono::TimeZone;
    let offset = chrono::FixedOffset::east_opt(zone * 60)
        .unwrap_or_else(|| chrono::FixedOffset::east_opt(0).expect("0 is a valid offset"));
    match offset.timestamp_opt(secs, 0).single() {
        Some(t) => t.format("%a %b %e %H:%M:%S %Y %z").to_string(),
        None => "Thu Jan  1 00:00:00 1970 +0000".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn served(data: &[u8], m: &Msg) -> Vec<u8> {
        m.served()
            .into_iter()
            .flat_map(|r| data[r].to_vec())
            .collect()
    }

    const F1: &str = "From alice@example.org Sat Nov 21 06:13:17 2026\n";

    #[test]
    fn empty_file_has_no_messages() {
        assert_eq!(parse(b"").expect("parse").messages.len(), 0);
    }

    #[test]
    fn garbage_is_not_an_mbox() {
        assert!(parse(b"Subject: x\n\nhi\n").is_err());
    }

    #[test]
    fn body_from_lines_do_not_split() {
        let f = format!(
            "{F1}Subject: a\n\nFrom here on\n\nFrom the start of time\nFrom bob Sat Nov 21 06:13:17 2026\n>From quoted\n\n{F1}Subject: b\n\nb\n"
        );
        let p = parse(f.as_bytes()).expect("parse");
        assert_eq!(p.messages.len(), 2);
        assert_eq!(
            served(f.as_bytes(), &p.messages[0]),
            b"Subject: a\n\nFrom here on\n\nFrom the start of time\nFrom bob Sat Nov 21 06:13:17 2026\n>From quoted\n"
        );
        assert_eq!(served(f.as_bytes(), &p.messages[1]), b"Subject: b\n\nb\n");
    }

    #[test]
    fn from_line_shapes() {
        for ok in [
            "From a Sat Nov 21 06:13:17 2026",
            "From a@b  Sat Nov  1 06:13 2026",
            "From \"a b\"@c Mon Jan 02 00:00:00 2006 +0100",
            "From a Mon Jan 02 00:00:00 PST 2006",
            "From  Mon Jan 02 00:00:00 2006",
        ] {
            assert!(from_line(ok.as_bytes(), 0).is_some(), "{ok}");
        }
        for bad in [
            "From a",
            "From here on Monday",
            "From a Sat Nov 32 06:13:17 2026",
            "From a Sat Nov 21 26:13:17 2026",
            "From a Sat Nov 21 06:13:17 26",
            "From a Sat Nov 21 06:13:17 2026 and more words",
            "from a Sat Nov 21 06:13:17 2026",
        ] {
            assert!(from_line(bad.as_bytes(), 0).is_none(), "{bad}");
        }
        let (t, z) = from_line(b"From a Mon Jan 02 00:00:00 2006 +0100", 0).expect("date");
        assert_eq!((t, z), (1_136_156_400, 60));
    }

    #[test]
    fn crlf_file_missing_newline_and_separator() {
        let f = b"From a Sat Nov 21 06:13:17 2026\r\nSubject: a\r\n\r\nx\r\n\r\nFrom a Sat Nov 21 06:13:17 2026\r\nSubject: b\r\n\r\nno newline";
        let p = parse(f).expect("parse");
        assert_eq!(p.messages.len(), 2);
        assert!(p.messages[0].crlf);
        assert_eq!(served(f, &p.messages[0]), b"Subject: a\r\n\r\nx\r\n");
        assert_eq!(served(f, &p.messages[1]), b"Subject: b\r\n\r\nno newline");
        assert_eq!(p.messages[1].size(f), 24);
    }

    #[test]
    fn hidden_runs_next_to_each_other_are_one() {
        let mut h = Hidden::default();
        assert!(h.is_empty() && h.single().is_none());
        h.push(10..20);
        h.push(20..25);
        assert_eq!(h.single(), Some(10..25));
        h.push(30..31);
        h.push(31..40);
        h.push(50..52);
        assert_eq!(h.iter().collect::<Vec<_>>(), vec![10..25, 30..40, 50..52]);
        assert_eq!((h.len(), h.single()), (3, None));
        // An empty run changes nothing.
        h.push(60..60);
        assert_eq!(h.len(), 3);
        // The first run apart from the rest, as a foreign mbox has them.
        let mut h = Hidden::default();
        h.push(5..9);
        h.push(12..14);
        assert_eq!(h.iter().collect::<Vec<_>>(), vec![5..9, 12..14]);
    }

    #[test]
    fn status_headers_read_and_hidden() {
        let f = format!(
            "{F1}Subject: a\nX-IMAPbase: 1795241597 0000000007 $Work Junk\nX-UID: 5\nStatus: RO\nX-Keywords: Junk   \n  $Work\nContent-Length: 2\nX-Status: ADFT\n\nb\n"
        );
        let p = parse(f.as_bytes()).expect("parse");
        let m = &p.messages[0];
        assert_eq!(served(f.as_bytes(), m), b"Subject: a\n\nb\n");
        assert_eq!(m.size(f.as_bytes()), 17);
        assert_eq!(m.uid, Some(5));
        assert!(m.old);
        assert_eq!(m.flags.system, flag::ALL.iter().fold(0, |a, (b, _)| a | b));
        assert_eq!(
            m.flags.keywords,
            vec!["$Work".to_string(), "Junk".to_string()]
        );
        let b = p.base.expect("base");
        assert_eq!((b.uid_validity, b.uid_last), (1_795_241_597, 7));
        assert_eq!(b.keywords, vec!["$Work".to_string(), "Junk".to_string()]);
    }

    #[test]
    fn content_length_is_trusted_only_when_it_fits() {
        // Dovecot does not quote From lines; Content-Length marks the end.
        let body = "x\n\nFrom bob Sat Nov 21 06:13:17 2026\ny\n";
        let f = format!("{F1}Content-Length: {}\n\n{body}\n{F1}\nlast\n", body.len());
        let p = parse(f.as_bytes()).expect("parse");
        assert_eq!(p.messages.len(), 2);
        assert_eq!(
            served(f.as_bytes(), &p.messages[0]),
            format!("\n{body}").as_bytes()
        );
        // A wrong length is ignored.
        let f = format!("{F1}Content-Length: 3\n\nabcdef\n\n{F1}\nlast\n");
        let p = parse(f.as_bytes()).expect("parse");
        assert_eq!(p.messages.len(), 2);
        assert_eq!(served(f.as_bytes(), &p.messages[0]), b"\nabcdef\n");
    }

    #[test]
    fn uw_pseudo_message_skipped_and_its_base_taken() {
        let f = format!(
            "{F1}Subject: DON'T DELETE THIS MESSAGE -- FOLDER INTERNAL DATA\nX-IMAP: 1000 0000000012 kw\nStatus: RO\n\nThis text is part of the internal format of your mail folder.\n\n{F1}Subject: real\nX-UID: 12\n\nhi\n"
        );
        let p = parse(f.as_bytes()).expect("parse");
        assert_eq!(p.messages.len(), 1);
        assert_eq!(p.messages[0].uid, Some(12));
        assert_eq!(p.base.expect("base").uid_validity, 1000);
    }

    #[test]
    fn message_without_body_or_header() {
        // A From line right after a From line has no blank line before it:
        // a (strange) header line, not a separator.
        let f = format!("{F1}{F1}Subject: x\n");
        let p = parse(f.as_bytes()).expect("parse");
        assert_eq!(p.messages.len(), 1);
        // Empty messages, and a header without a body: the blank line
        // before the next From line is the separator.
        let f = format!("{F1}\n{F1}Subject: x\n\n{F1}Subject: y\n\n\n{F1}Subject: z\n\n");
        let p = parse(f.as_bytes()).expect("parse");
        assert_eq!(p.messages.len(), 4);
        let s: Vec<_> = p.messages.iter().map(|m| served(f.as_bytes(), m)).collect();
        assert_eq!(
            s,
            vec![
                &b""[..],
                b"Subject: x\n",
                b"Subject: y\n\n",
                b"Subject: z\n"
            ]
        );
    }

    #[test]
    fn parse_from_a_later_message() {
        let f = format!("{F1}\na\n\n{F1}\nb\n");
        let p = parse(f.as_bytes()).expect("parse");
        let q = parse_from(f.as_bytes(), p.messages[1].from.start).expect("parse");
        assert_eq!(q.messages, p.messages[1..].to_vec());
        assert_eq!(q.base, None);
    }

    /// The message a grown file's parse reads again from where the file
    /// ended (`resume`), read with pread only (`message_read`), is what
    /// the parse through the map finds, with a Content-Length or without,
    /// wherever `resume` cuts; it leaves the message to the map only when
    /// the line `resume` is in started more than a From line before.
    #[test]
    fn a_resumed_message_read_with_pread_is_the_mapped_one() {
        let long = format!("{}\nz\n", "y".repeat(1500));
        let bodies = ["a\nb\n", "From here\n\n>From x\n", &long, "no newline"];
        let after = [
            "",
            "\n",
            "\nFrom b Sat Nov 21 06:13:17 2026\nSubject: b\n\nb\n",
            "From c Sat Nov 21 06:13:17 2026\nSubject: c\n\nc\n",
        ];
        let (mut checked, mut to_map) = (0, 0);
        for body in bodies {
            for length in ["", "Content-Length: 4\n", "Content-Length: 9\n"] {
                for next in after {
                    let f = format!("{F1}Subject: a\n{length}\n{body}{next}");
                    let data = f.as_bytes();
                    let read = |buf: &mut [u8], at: u64| -> std::io::Result<()> {
                        let at = at as usize;
                        let src = data
                            .get(at..at + buf.len())
                            .ok_or(std::io::ErrorKind::UnexpectedEof)?;
                        buf.copy_from_slice(src);
                        Ok(())
                    };
                    for resume in 1..=data.len() {
                        let mapped = message(data, 0, resume, None, &|_| {});
                        match message_read(data.len(), 0, resume, &read) {
                            Some(got) => {
                                assert_eq!(got, mapped, "{resume} {f:?}");
                                checked += 1;
                            }
                            None => {
                                let w = resume.saturating_sub(MBOX_FROM_LINE_MAX);
                                assert!(w > mapped.0.body.start, "{resume} {f:?}");
                                assert!(!data[w..resume].contains(&b'\n'), "{resume} {f:?}");
                                to_map += 1;
                            }
                        }
                    }
                }
            }
        }
        assert!(checked > 5000 && to_map > 100, "{checked} {to_map}");
    }

    #[test]
    fn date_round_trips_through_from_line() {
        let s = format!("From x {}\n", format_from_date(1_700_000_000, 90));
        assert_eq!(from_line(s.as_bytes(), 0), Some((1_700_000_000, 90)));
        assert!(s.ends_with(" 2023 +0130\n"), "{s}");
    }
}
