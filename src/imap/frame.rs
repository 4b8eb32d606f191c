//! IMAP command framing: bytes from the client to one complete command, its
//! line and its literals (RFC 3501 4.3, 7.5; RFC 7888 LITERAL+), with every
//! limit of `limits.rs` checked before anything is allocated or a
//! continuation request is sent. The grammar (`parse.rs`) only ever sees a
//! complete command.
//!
//! A `Frame` holds the command as one buffer: each line that ends in a
//! literal announcement is followed by CRLF and the literal's octets, then
//! the next line; the last line has no line end. APPEND message literals
//! too large to hold in memory go to spool files and leave no octets in the
//! buffer; the frame records where they belong.
//!
//! Over a limit, the framer tells the session what to answer (see
//! `FrameError::response`) and leaves the stream in step with the client:
//! * a synchronising literal `{n}` over its limit is simply not asked for:
//!   the client waits for `+`, gets the tagged answer instead and sends
//!   nothing more of that command (RFC 3501 7.5);
//! * a non-synchronising literal `{n+}` over its limit is read and thrown
//!   away with the rest of its command, so the session can answer and go on
//!   (RFC 7888 4 allows this or closing). Only beyond `IMAP_DISCARD_MAX`
//!   octets is the connection closed;
//! * an over-long line is read to its end and thrown away likewise.

use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, Read, Seek, SeekFrom, Write};

use crate::imap::response::is_atom_char;
use crate::limits::{
    APPEND_MAX, IMAP_APPEND_MESSAGES_MAX, IMAP_COMMAND_MAX, IMAP_DISCARD_MAX, IMAP_LINE_MAX,
    IMAP_LITERAL_MAX,
};

/// The continuation request sent before each synchronising literal.
pub const CONTINUE: &[u8] = b"+ Ready for literal data\r\n";

/// One complete command: its lines and literals (see the module comment).
#[derive(Debug)]
pub struct Frame {
    data: Vec<u8>,
    spooled: Vec<Spooled>,
}

/// An APPEND message literal kept in a file: where its octets would start
/// in `Frame::data`, the file (positioned at its start) and its length.
#[derive(Debug)]
pub struct Spooled {
    pub at: usize,
    pub file: File,
    pub len: u64,
}

impl Frame {
    /// A frame of a command given whole, literals inline after `{n}\r\n`
    /// (tests, fuzzing, replaying a transcript).
    pub fn from_bytes(data: impl Into<Vec<u8>>) -> Frame {
        Frame {
            data: data.into(),
            spooled: Vec::new(),
        }
    }

    /// The command's octets (spooled literals left out).
    pub fn bytes(&self) -> &[u8] {
        &self.data
    }

    /// The buffer and the spooled literals, for the grammar.
    pub fn into_parts(self) -> (Vec<u8>, Vec<Spooled>) {
        (self.data, self.spooled)
    }
}

/// Why no command could be framed. Each variant knows what the client is
/// told (`response`) and whether the session can go on (`is_fatal`).
#[derive(Debug)]
pub enum FrameError {
    /// Reading or writing failed: end the session.
    Io(io::Error),
    /// The client closed the connection, possibly in the middle of a
    /// command (which is then dropped whole): end the session quietly.
    Eof,
    /// A line exceeded `IMAP_LINE_MAX`, or the command `IMAP_COMMAND_MAX`.
    /// The rest was read and thrown away: answer BAD and go on.
    TooLong { tag: Option<String> },
    /// A literal exceeded its limit (`IMAP_LITERAL_MAX`, `APPEND_MAX`,
    /// `IMAP_APPEND_MESSAGES_MAX` or the command's remaining budget). It was
    /// not asked for, or was thrown away with the rest of the command:
    /// answer `NO [TOOBIG]` for an APPEND message, BAD otherwise, and go on.
    LiteralTooBig { tag: Option<String>, append: bool },
    /// The client kept sending far past a limit (more than
    /// `IMAP_DISCARD_MAX` octets to throw away): say BYE and close.
    Flood,
}

impl FrameError {
    /// Whether the session must end after sending `response()`.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            FrameError::Io(_) | FrameError::Eof | FrameError::Flood
        )
    }

    /// The response line to send, CRLF included; `None` when nothing can be
    /// sent (I/O error, client gone).
    pub fn response(&self) -> Option<Vec<u8>> {
        let tagged = |tag: &Option<String>, rest: &str| {
            let tag = tag.as_deref().unwrap_or("*");
            format!("{tag} {rest}\r\n").into_bytes()
        };
        match self {
            FrameError::Io(_) | FrameError::Eof => None,
            FrameError::TooLong { tag } => Some(tagged(tag, "BAD Command line too long")),
            FrameError::LiteralTooBig { tag, append: true } if tag.is_some() => {
                Some(tagged(tag, "NO [TOOBIG] Message too large"))
            }
            FrameError::LiteralTooBig { tag, .. } => Some(tagged(tag, "BAD Literal too large")),
            FrameError::Flood => Some(b"* BYE Too much data after a refused command\r\n".to_vec()),
        }
    }
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::Io(e) => write!(f, "I/O error: {e}"),
            FrameError::Eof => f.write_str("client closed the connection"),
            FrameError::TooLong { .. } => f.write_str("command line too long"),
            FrameError::LiteralTooBig { .. } => f.write_str("literal too large"),
            FrameError::Flood => f.write_str("too much data after a refused command"),
        }
    }
}

impl std::error::Error for FrameError {}

impl From<io::Error> for FrameError {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            FrameError::Eof
        } else {
            FrameError::Io(e)
        }
    }
}

/// Reads one complete command from `input`, writing a continuation request
/// to `output` (and flushing it) before each synchronising literal that is
/// within its limits. `spool` makes an empty file for an APPEND message too
/// large to keep in memory; the file holds the message when the frame is
/// returned.
///
/// Limits: each line `IMAP_LINE_MAX`; each literal `IMAP_LITERAL_MAX`; the
/// whole command `IMAP_COMMAND_MAX` (lines and literals). APPEND message
/// literals (recognised by the command name) instead have `APPEND_MAX`
/// each and for the whole command, and are kept in memory only while each
/// is within `IMAP_LITERAL_MAX` and together they are within
/// `IMAP_COMMAND_MAX`; so one command never holds more than twice
/// `IMAP_COMMAND_MAX` in memory.
pub fn read_command<R, W>(
    input: &mut R,
    output: &mut W,
    spool: &mut dyn FnMut() -> io::Result<File>,
) -> Result<Frame, FrameError>
where
    R: BufRead + ?Sized,
    W: Write + ?Sized,
{
    let mut frame = Frame::from_bytes(Vec::new());
    // Octets counted against IMAP_COMMAND_MAX: lines and literals, but not
    // APPEND messages, which have budgets of their own.
    let mut counted = 0usize;
    let mut message_memory = 0usize;
    let mut message_total = 0u64;
    let mut messages = 0usize;
    let mut tag: Option<String> = None;
    let mut append = false;
    let mut literals = 0usize;
    loop {
        let start = frame.data.len();
        let max = IMAP_LINE_MAX.min(IMAP_COMMAND_MAX - counted);
        let line_end = read_line_into(input, &mut frame.data, max)?;
        if start == 0 {
            (tag, append) = command_start(&frame.data);
        }
        if let LineEnd::Overflow {
            through_lf,
            literal_plus,
        } = line_end
        {
            if !through_lf {
                discard_command(input, IMAP_DISCARD_MAX)?;
            } else if let Some(n) = literal_plus {
                if n > IMAP_DISCARD_MAX {
                    return Err(FrameError::Flood);
                }
                discard(input, n)?;
                discard_command(input, IMAP_DISCARD_MAX - n)?;
            }
            return Err(FrameError::TooLong { tag });
        }
        counted += frame.data.len() - start;
        let line = &frame.data[start..];
        let Some((brace, size, sync)) = literal_announcement(line) else {
            return Ok(frame);
        };
        // RFC 3502: in APPEND every literal is a message except the mailbox
        // name, which is the first argument: a literal right after the
        // command name.
        let message = append && (literals > 0 || !after_name_is_blank(line, brace));
        literals += 1;
        let fits = if message {
            messages < IMAP_APPEND_MESSAGES_MAX
                && size <= APPEND_MAX
                && message_total + size <= APPEND_MAX
        } else {
            size <= IMAP_LITERAL_MAX as u64 && size <= (IMAP_COMMAND_MAX - counted) as u64
        };
        if !fits {
            if !sync {
                if size > IMAP_DISCARD_MAX {
                    return Err(FrameError::Flood);
                }
                discard(input, size)?;
                discard_command(input, IMAP_DISCARD_MAX - size)?;
            }
            return Err(FrameError::LiteralTooBig {
                tag,
                append: message,
            });
        }
        if sync {
            output.write_all(CONTINUE)?;
            output.flush()?;
        }
        frame.data.extend_from_slice(b"\r\n");
        // `fits` bounds `size` by limits that are all far below usize::MAX.
        let n = usize::try_from(size).unwrap_or(usize::MAX);
        if message {
            messages += 1;
            message_total += size;
            if n <= IMAP_LITERAL_MAX && message_memory + n <= IMAP_COMMAND_MAX {
                message_memory += n;
                read_exact_into(input, &mut frame.data, n)?;
            } else {
                let mut file = spool()?;
                let copied = io::copy(&mut input.take(size), &mut file)?;
                if copied < size {
                    return Err(FrameError::Eof);
                }
                file.flush()?;
                file.seek(SeekFrom::Start(0))?;
                frame.spooled.push(Spooled {
                    at: frame.data.len(),
                    file,
                    len: size,
                });
            }
        } else {
            counted += n;
            read_exact_into(input, &mut frame.data, n)?;
        }
    }
}

/// Reads one line without its line end, for AUTHENTICATE continuation
/// responses (RFC 3501 6.2.2) and IDLE's `DONE` (RFC 2177). A line over
/// `IMAP_LINE_MAX` is read to its end, thrown away and refused with
/// `TooLong` (no tag: the session knows which command it belongs to).
pub fn read_line<R: BufRead + ?Sized>(input: &mut R) -> Result<Vec<u8>, FrameError> {
    let mut line = Vec::new();
    match read_line_into(input, &mut line, IMAP_LINE_MAX)? {
        LineEnd::Complete => Ok(line),
        LineEnd::Overflow { through_lf, .. } => {
            if !through_lf {
                let mut budget = IMAP_DISCARD_MAX;
                discard_line(input, &mut budget)?;
            }
            Err(FrameError::TooLong { tag: None })
        }
    }
}

enum LineEnd {
    Complete,
    /// The line had more than the allowed octets; `through_lf` when its end
    /// was read too, and then `literal_plus` is the size of the
    /// non-synchronising literal it announced, which follows.
    Overflow {
        through_lf: bool,
        literal_plus: Option<u64>,
    },
}

/// Appends octets up to the next LF to `buf`, without CRLF (a bare LF is
/// taken as a line end too, as Dovecot does). At most `max` octets are
/// stored; with more, the first `max` stay in `buf` (for the tag).
fn read_line_into<R: BufRead + ?Sized>(
    input: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> Result<LineEnd, FrameError> {
    let start = buf.len();
    loop {
        let avail = fill(input)?;
        // Room for the content plus a CR that may turn out to precede LF.
        let room = (max + 1).saturating_sub(buf.len() - start);
        match avail.iter().position(|&c| c == b'\n') {
            Some(i) if i <= room => {
                buf.extend_from_slice(&avail[..i]);
                input.consume(i + 1);
                // Only a CR of this line: the buffer may end in a
                // literal's octets.
                if buf.len() > start && buf.last() == Some(&b'\r') {
                    buf.pop();
                }
                if buf.len() - start > max {
                    let literal_plus = match literal_announcement(&buf[start..]) {
                        Some((_, n, false)) => Some(n),
                        _ => None,
                    };
                    buf.truncate(start + max);
                    return Ok(LineEnd::Overflow {
                        through_lf: true,
                        literal_plus,
                    });
                }
                return Ok(LineEnd::Complete);
            }
            _ if avail.len() > room => {
                buf.extend_from_slice(&avail[..room]);
                input.consume(room);
                buf.truncate(start + max);
                return Ok(LineEnd::Overflow {
                    through_lf: false,
                    literal_plus: None,
                });
            }
            _ => {
                let n = avail.len();
                buf.extend_from_slice(avail);
                input.consume(n);
            }
        }
    }
}

/// `fill_buf`, retrying on EINTR, with end of input as `Eof`.
fn fill<R: BufRead + ?Sized>(input: &mut R) -> Result<&[u8], FrameError> {
    loop {
        match input.fill_buf() {
            Ok([]) => return Err(FrameError::Eof),
            // Re-borrow to satisfy the borrow checker's view of the loop.
            Ok(_) => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(FrameError::Io(e)),
        }
    }
    Ok(input.fill_buf()?)
}

fn read_exact_into<R: BufRead + ?Sized>(
    input: &mut R,
    buf: &mut Vec<u8>,
    n: usize,
) -> Result<(), FrameError> {
    buf.reserve(n);
    let got = input.take(n as u64).read_to_end(buf)?;
    if got < n {
        return Err(FrameError::Eof);
    }
    Ok(())
}

/// Reads and drops `n` octets.
fn discard<R: BufRead + ?Sized>(input: &mut R, n: u64) -> Result<(), FrameError> {
    let got = io::copy(&mut input.take(n), &mut io::sink())?;
    if got < n {
        return Err(FrameError::Eof);
    }
    Ok(())
}

/// Reads and drops octets through the next LF, keeping the line's last
/// octets (CRLF removed) to see whether it announces a literal.
fn discard_line<R: BufRead + ?Sized>(
    input: &mut R,
    budget: &mut u64,
) -> Result<Vec<u8>, FrameError> {
    const TAIL: usize = 32;
    let mut tail = Vec::with_capacity(2 * TAIL);
    loop {
        let avail = fill(input)?;
        let (n, done) = match avail.iter().position(|&c| c == b'\n') {
            Some(i) => (i, true),
            None => (avail.len(), false),
        };
        tail.extend_from_slice(&avail[..n]);
        if tail.len() > TAIL {
            tail.drain(..tail.len() - TAIL);
        }
        let used = n as u64 + u64::from(done);
        input.consume(n + usize::from(done));
        *budget = budget.checked_sub(used).ok_or(FrameError::Flood)?;
        if done {
            if tail.last() == Some(&b'\r') {
                tail.pop();
            }
            return Ok(tail);
        }
    }
}

/// Drops the rest of a refused command: lines, and the non-synchronising
/// literals they announce. A synchronising literal ends it, as the client
/// waits for a `+` that will not come.
fn discard_command<R: BufRead + ?Sized>(input: &mut R, mut budget: u64) -> Result<(), FrameError> {
    loop {
        let tail = discard_line(input, &mut budget)?;
        match literal_announcement(&tail) {
            Some((_, n, false)) => {
                budget = budget.checked_sub(n).ok_or(FrameError::Flood)?;
                discard(input, n)?;
            }
            // `}` whose `{` fell out of the tail (`{000...05+}`): we cannot
            // tell where the command ends, and must not take the client's
            // literal octets for commands.
            None if tail.ends_with(b"}") && !tail.contains(&b'{') => return Err(FrameError::Flood),
            _ => return Ok(()),
        }
    }
}

/// RFC 3501 9 `literal` / RFC 7888 `literal8`-less LITERAL+: a line ending
/// in `{n}` or `{n+}`. Returns the position of `{`, n (saturated, so an
/// absurd number is simply too big) and whether it is synchronising.
fn literal_announcement(line: &[u8]) -> Option<(usize, u64, bool)> {
    let inner = line.strip_suffix(b"}")?;
    let brace = inner.iter().rposition(|&c| c == b'{')?;
    let inner = &inner[brace + 1..];
    let (digits, sync) = match inner.strip_suffix(b"+") {
        Some(d) => (d, false),
        None => (inner, true),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = digits.iter().fold(0u64, |n, &d| {
        n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    });
    Some((brace, n, sync))
}

/// The tag (when it is a valid RFC 3501 `tag`, so that it can be echoed)
/// and whether the command is APPEND, from the first line.
fn command_start(line: &[u8]) -> (Option<String>, bool) {
    let mut words = line.split(|&c| c == b' ');
    let tag = words.next().filter(|t| {
        !t.is_empty()
            && t.iter()
                .all(|&c| (is_atom_char(c) || c == b']') && c != b'+')
    });
    let append = words
        .next()
        .is_some_and(|w| w.eq_ignore_ascii_case(b"APPEND"));
    // Tag characters are ASCII, so this cannot fail.
    let tag = tag.and_then(|t| String::from_utf8(t.to_vec()).ok());
    (tag, append)
}

/// Whether only the tag and the command name precede the literal at
/// `brace`: then that literal is APPEND's mailbox argument.
fn after_name_is_blank(line: &[u8], brace: usize) -> bool {
    line[..brace]
        .split(|&c| c == b' ')
        .filter(|w| !w.is_empty())
        .count()
        == 2
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::rc::Rc;

    /// A client: chunks of input, each readable only once the server has
    /// sent a given number of continuation requests (so a test fails if the
    /// server reads a synchronising literal it did not ask for). `split`
    /// cuts the input into further chunks so every boundary is exercised.
    struct Client {
        chunks: Vec<(Vec<u8>, usize)>,
        next: usize,
        pos: usize,
        out: Rc<RefCell<Vec<u8>>>,
    }

    impl Client {
        fn continuations(&self) -> usize {
            let out = self.out.borrow();
            out.windows(CONTINUE.len())
                .filter(|w| *w == CONTINUE)
                .count()
        }
    }

    impl Read for Client {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let avail = self.fill_buf()?;
            let n = avail.len().min(buf.len());
            buf[..n].copy_from_slice(&avail[..n]);
            self.consume(n);
            Ok(n)
        }
    }

    impl BufRead for Client {
        fn fill_buf(&mut self) -> io::Result<&[u8]> {
            while self.next < self.chunks.len() && self.pos == self.chunks[self.next].0.len() {
                self.next += 1;
                self.pos = 0;
            }
            if self.next == self.chunks.len() {
                return Ok(&[]);
            }
            let need = self.chunks[self.next].1;
            assert!(
                self.continuations() >= need,
                "server read literal data before sending continuation #{need}"
            );
            Ok(&self.chunks[self.next].0[self.pos..])
        }
        fn consume(&mut self, n: usize) {
            self.pos += n;
        }
    }

    struct Shared(Rc<RefCell<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.borrow_mut().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// Splits a transcript at each synchronising literal: chunk i may be
    /// read after i continuations. Returns the chunks and the continuation
    /// count expected.
    fn script(input: &[u8]) -> Vec<(Vec<u8>, usize)> {
        let mut chunks = Vec::new();
        let mut cur = Vec::new();
        let mut need = 0;
        let mut rest = input;
        while let Some(i) = rest.iter().position(|&c| c == b'\n') {
            let (line, after) = rest.split_at(i + 1);
            cur.extend_from_slice(line);
            let body = line.strip_suffix(b"\r\n").unwrap_or(line);
            let body = body.strip_suffix(b"\n").unwrap_or(body);
            rest = after;
            if let Some((_, n, sync)) = literal_announcement(body) {
                let n = n as usize;
                if sync {
                    chunks.push((std::mem::take(&mut cur), need));
                    need += 1;
                }
                let n = n.min(rest.len());
                cur.extend_from_slice(&rest[..n]);
                rest = &rest[n..];
            }
        }
        cur.extend_from_slice(rest);
        chunks.push((cur, need));
        chunks
    }

    /// Further splits each chunk so that every index in `cuts` is a chunk
    /// boundary.
    fn cut(
        chunks: Vec<(Vec<u8>, usize)>,
        every: Option<usize>,
        at: Option<usize>,
    ) -> Vec<(Vec<u8>, usize)> {
        let mut out = Vec::new();
        let mut offset = 0;
        for (c, need) in chunks {
            let mut start = 0;
            for i in 1..c.len() {
                let global = offset + i;
                if every.is_some_and(|e| global % e == 0) || at == Some(global) {
                    out.push((c[start..i].to_vec(), need));
                    start = i;
                }
            }
            out.push((c[start..].to_vec(), need));
            offset += c.len();
        }
        out
    }

    type Spools = Rc<RefCell<Vec<File>>>;

    fn run(chunks: Vec<(Vec<u8>, usize)>) -> (Result<Frame, FrameError>, Vec<u8>, Client, Spools) {
        let out = Rc::new(RefCell::new(Vec::new()));
        let mut client = Client {
            chunks,
            next: 0,
            pos: 0,
            out: out.clone(),
        };
        let spools: Spools = Rc::new(RefCell::new(Vec::new()));
        let s2 = spools.clone();
        let mut spool = move || {
            let f = tempfile::tempfile()?;
            s2.borrow_mut().push(f.try_clone()?);
            Ok(f)
        };
        let r = read_command(&mut client, &mut Shared(out.clone()), &mut spool);
        let o = out.borrow().clone();
        (r, o, client, spools)
    }

    /// Frames `input` whole, one byte at a time and cut at every index;
    /// every way must give the same frame and the same continuations.
    fn frame_all_ways(input: &[u8]) -> (Vec<u8>, usize) {
        let (r, out, _, _) = run(script(input));
        let whole = r.unwrap().data;
        let conts = out.len() / CONTINUE.len();
        assert_eq!(out, CONTINUE.repeat(conts));
        let (r, out1, _, _) = run(cut(script(input), Some(1), None));
        assert_eq!(r.unwrap().data, whole, "one byte at a time");
        assert_eq!(out1, out);
        for at in 1..input.len() {
            let (r, o, _, _) = run(cut(script(input), None, Some(at)));
            assert_eq!(r.unwrap().data, whole, "cut at {at}");
            assert_eq!(o, out, "cut at {at}");
        }
        (whole, conts)
    }

    #[test]
    fn plain_line() {
        let (d, c) = frame_all_ways(b"a1 NOOP\r\n");
        assert_eq!(d, b"a1 NOOP");
        assert_eq!(c, 0);
        // A bare LF ends a line too.
        let (d, _) = frame_all_ways(b"a1 NOOP\n");
        assert_eq!(d, b"a1 NOOP");
    }

    #[test]
    fn synchronising_literals_get_a_continuation_each() {
        let (d, c) = frame_all_ways(b"a LOGIN {3}\r\njoe {7}\r\nhunter2\r\n");
        assert_eq!(d, b"a LOGIN {3}\r\njoe {7}\r\nhunter2");
        assert_eq!(c, 2);
        // A literal holding CRLF and braces.
        let (d, c) = frame_all_ways(b"a LOGIN {5}\r\n{1}\r\n {0}\r\n\r\n");
        assert_eq!(d, b"a LOGIN {5}\r\n{1}\r\n {0}\r\n");
        assert_eq!(c, 2);
    }

    #[test]
    fn literal_ending_in_cr_then_empty_line() {
        let (d, _) = frame_all_ways(b"a LOGIN u {2+}\r\nx\r\n");
        assert_eq!(d, b"a LOGIN u {2+}\r\nx\r");
        let (d, _) = frame_all_ways(b"a LOGIN u {2+}\r\nx\r\r\n");
        assert_eq!(d, b"a LOGIN u {2+}\r\nx\r");
    }

    #[test]
    fn non_synchronising_literals_get_none() {
        let (d, c) = frame_all_ways(b"a LOGIN {3+}\r\njoe {7+}\r\nhunter2\r\n");
        assert_eq!(d, b"a LOGIN {3+}\r\njoe {7+}\r\nhunter2");
        assert_eq!(c, 0);
        let (_, c) = frame_all_ways(b"a LOGIN {3+}\r\njoe {7}\r\nhunter2\r\n");
        assert_eq!(c, 1);
    }

    #[test]
    fn not_literals() {
        for l in [
            &b"a X {}"[..],
            b"a X {1a}",
            b"a X {+}",
            b"a X 1}",
            b"a X {1}x",
        ] {
            let mut i = l.to_vec();
            i.extend_from_slice(b"\r\n");
            let (d, c) = frame_all_ways(&i);
            assert_eq!(d, l);
            assert_eq!(c, 0);
        }
    }

    #[test]
    fn eof_mid_command_is_eof() {
        for input in [
            &b"a NOOP"[..],
            b"a LOGIN {3}\r\njo",
            b"a LOGIN {3}\r\njoe",
            b"a LOGIN {3+}\r\njoe {2+}\r\n",
            b"",
        ] {
            let (r, _, _, _) = run(cut(vec![(input.to_vec(), 0)], Some(1), None));
            assert!(matches!(r, Err(FrameError::Eof)), "{input:?}");
        }
        // Spooled APPEND too.
        let mut input = b"a APPEND x {100000}\r\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', 5000));
        let (r, _, _, _) = run(vec![(input, 0)]);
        assert!(matches!(r, Err(FrameError::Eof)));
    }

    #[test]
    fn long_line_refused_without_holding_it() {
        let mut input = b"a7 NOOP ".to_vec();
        input.extend(std::iter::repeat_n(b'x', IMAP_LINE_MAX * 3));
        input.extend_from_slice(b"\r\nb NOOP\r\n");
        let out = Rc::new(RefCell::new(Vec::new()));
        let mut client = Client {
            chunks: vec![(input, 0)],
            next: 0,
            pos: 0,
            out: out.clone(),
        };
        let mut spool = || -> io::Result<File> { panic!("no spool") };
        let r = read_command(&mut client, &mut Shared(out.clone()), &mut spool);
        let e = r.unwrap_err();
        assert_eq!(e.response().unwrap(), b"a7 BAD Command line too long\r\n");
        assert!(!e.is_fatal());
        // In step: the next command follows.
        let f = read_command(&mut client, &mut Shared(out.clone()), &mut spool).unwrap();
        assert_eq!(f.bytes(), b"b NOOP");
        // Exactly IMAP_LINE_MAX is fine, one more is not.
        for (len, ok) in [(IMAP_LINE_MAX, true), (IMAP_LINE_MAX + 1, false)] {
            let mut input = b"a NOOP ".to_vec();
            input.resize(len, b'x');
            input.extend_from_slice(b"\r\n");
            let (r, _, _, _) = run(vec![(input, 0)]);
            assert_eq!(r.is_ok(), ok, "{len}");
        }
    }

    #[test]
    fn long_line_ending_in_literal_plus_is_skipped_whole() {
        let mut input = b"a7 LOGIN ".to_vec();
        input.extend(std::iter::repeat_n(b'x', IMAP_LINE_MAX));
        input.extend_from_slice(b" {5+}\r\nb NOO\r\nc NOOP\r\n");
        let out = Rc::new(RefCell::new(Vec::new()));
        let mut client = Client {
            chunks: cut(vec![(input, 0)], Some(1000), None),
            next: 0,
            pos: 0,
            out: out.clone(),
        };
        let mut spool = || -> io::Result<File> { panic!("no spool") };
        let r = read_command(&mut client, &mut Shared(out.clone()), &mut spool);
        assert!(matches!(r, Err(FrameError::TooLong { tag: Some(ref t) }) if t == "a7"));
        let f = read_command(&mut client, &mut Shared(out.clone()), &mut spool).unwrap();
        assert_eq!(f.bytes(), b"c NOOP");
        assert!(out.borrow().is_empty());
    }

    #[test]
    fn line_one_over_the_limit_ending_in_literal_plus() {
        // The line end is read with the line (no CR to tell it apart), so
        // the announced literal must still be skipped.
        let mut input = b"a7 LOGIN ".to_vec();
        input.resize(IMAP_LINE_MAX + 1 - 5, b'x');
        input.extend_from_slice(b" {3+}\nabc\r\nb NOOP\r\n");
        let out = Rc::new(RefCell::new(Vec::new()));
        let mut client = Client {
            chunks: vec![(input, 0)],
            next: 0,
            pos: 0,
            out: out.clone(),
        };
        let mut spool = || -> io::Result<File> { panic!("no spool") };
        let r = read_command(&mut client, &mut Shared(out.clone()), &mut spool);
        assert!(matches!(r, Err(FrameError::TooLong { .. })));
        let f = read_command(&mut client, &mut Shared(out.clone()), &mut spool).unwrap();
        assert_eq!(f.bytes(), b"b NOOP");
    }

    #[test]
    fn unreadable_literal_in_discarded_line_closes() {
        let mut input = b"a7 LOGIN ".to_vec();
        input.extend(std::iter::repeat_n(b'x', IMAP_LINE_MAX));
        input.extend_from_slice(format!(" {{{}5+}}\r\nNOOP\r\n", "0".repeat(40)).as_bytes());
        let (r, _, _, _) = run(vec![(input, 0)]);
        assert!(matches!(r, Err(FrameError::Flood)));
    }

    #[test]
    fn big_synchronising_literal_not_asked_for() {
        let input = format!("a LOGIN {{{}}}\r\n", IMAP_LITERAL_MAX + 1);
        let (r, out, _, _) = run(vec![(input.into_bytes(), 0)]);
        let e = r.unwrap_err();
        assert_eq!(e.response().unwrap(), b"a BAD Literal too large\r\n");
        assert!(out.is_empty(), "no continuation");
        // An absurd size is just too big.
        let (r, out, _, _) = run(vec![(b"a LOGIN {99999999999999999999999}\r\n".to_vec(), 0)]);
        assert!(matches!(r, Err(FrameError::LiteralTooBig { .. })));
        assert!(out.is_empty());
        // APPEND: NO [TOOBIG], before any spool file is made.
        let input = format!("a APPEND INBOX {{{}}}\r\n", APPEND_MAX + 1);
        let (r, out, _, spools) = run(vec![(input.into_bytes(), 0)]);
        assert_eq!(
            r.unwrap_err().response().unwrap(),
            b"a NO [TOOBIG] Message too large\r\n"
        );
        assert!(out.is_empty() && spools.borrow().is_empty());
        // The mailbox name literal of APPEND is an ordinary literal.
        let input = format!("a APPEND {{{}}}\r\n", IMAP_LITERAL_MAX + 1);
        let (r, _, _, _) = run(vec![(input.into_bytes(), 0)]);
        assert!(matches!(
            r,
            Err(FrameError::LiteralTooBig { append: false, .. })
        ));
    }

    #[test]
    fn big_literal_plus_is_discarded_with_its_command() {
        let n = IMAP_LITERAL_MAX + 1;
        let mut input = format!("a LOGIN {{{n}+}}\r\n").into_bytes();
        input.extend(std::iter::repeat_n(b'p', n));
        input.extend_from_slice(b" {3+}\r\nabc {2}\r\n");
        // The client stops at the synchronising literal; the next command.
        input.extend_from_slice(b"b NOOP\r\n");
        let out = Rc::new(RefCell::new(Vec::new()));
        let mut client = Client {
            chunks: cut(vec![(input, 0)], Some(4096), None),
            next: 0,
            pos: 0,
            out: out.clone(),
        };
        let mut spool = || -> io::Result<File> { panic!("no spool") };
        let r = read_command(&mut client, &mut Shared(out.clone()), &mut spool);
        assert_eq!(
            r.unwrap_err().response().unwrap(),
            b"a BAD Literal too large\r\n"
        );
        let f = read_command(&mut client, &mut Shared(out.clone()), &mut spool).unwrap();
        assert_eq!(f.bytes(), b"b NOOP");
        assert!(out.borrow().is_empty());
        // Beyond what we are willing to discard: BYE.
        let input = format!("a LOGIN {{{}+}}\r\n", IMAP_DISCARD_MAX + 1);
        let (r, _, _, _) = run(vec![(input.into_bytes(), 0)]);
        let e = r.unwrap_err();
        assert!(e.is_fatal());
        assert!(e.response().unwrap().starts_with(b"* BYE"));
    }

    #[test]
    fn command_total_is_bounded() {
        // 16 literals of 64 KiB fill the 1 MiB budget with the lines.
        let lit = IMAP_LITERAL_MAX;
        let mut input = b"a SEARCH".to_vec();
        let mut count = 0;
        loop {
            input.extend_from_slice(format!(" TEXT {{{lit}+}}\r\n").as_bytes());
            input.extend(std::iter::repeat_n(b'q', lit));
            count += 1;
            if count * lit > IMAP_COMMAND_MAX {
                break;
            }
        }
        input.extend_from_slice(b"\r\nb NOOP\r\n");
        let out = Rc::new(RefCell::new(Vec::new()));
        let mut client = Client {
            chunks: vec![(input, 0)],
            next: 0,
            pos: 0,
            out: out.clone(),
        };
        let mut spool = || -> io::Result<File> { panic!("no spool") };
        let r = read_command(&mut client, &mut Shared(out.clone()), &mut spool);
        assert!(matches!(
            r,
            Err(FrameError::LiteralTooBig { append: false, .. })
        ));
        let f = read_command(&mut client, &mut Shared(out.clone()), &mut spool).unwrap();
        assert_eq!(f.bytes(), b"b NOOP");
    }

    #[test]
    fn append_message_spooled_and_read_back() {
        let n = IMAP_LITERAL_MAX * 2 + 7;
        let body: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
        let mut input = format!("a APPEND {{5}}\r\nINBOX (\\Seen) {{{n}}}\r\n").into_bytes();
        input.extend_from_slice(&body);
        input.extend_from_slice(b" {3+}\r\nxyz\r\n");
        for chunks in [script(&input), cut(script(&input), Some(997), None)] {
            let (r, out, _, spools) = run(chunks);
            let f = r.unwrap();
            assert_eq!(out, CONTINUE.repeat(2));
            assert_eq!(spools.borrow().len(), 1);
            assert_eq!(
                f.bytes(),
                format!("a APPEND {{5}}\r\nINBOX (\\Seen) {{{n}}}\r\n {{3+}}\r\nxyz").as_bytes()
            );
            let (data, mut spooled) = f.into_parts();
            assert_eq!(spooled.len(), 1);
            let s = &mut spooled[0];
            assert_eq!(&data[s.at..s.at + 5], b" {3+}");
            assert_eq!(s.len, n as u64);
            let mut back = Vec::new();
            s.file.read_to_end(&mut back).unwrap();
            assert_eq!(back, body);
        }
    }

    #[test]
    fn append_messages_kept_in_memory_within_budget() {
        // Small messages stay in memory until their total passes the
        // command budget; then they are spooled.
        let n = IMAP_LITERAL_MAX;
        let mut input = b"a APPEND INBOX".to_vec();
        let count = IMAP_COMMAND_MAX / n + 2;
        for _ in 0..count {
            input.extend_from_slice(format!(" {{{n}+}}\r\n").as_bytes());
            input.extend(std::iter::repeat_n(b'm', n));
        }
        input.extend_from_slice(b"\r\n");
        let (r, _, _, spools) = run(vec![(input, 0)]);
        let f = r.unwrap();
        assert_eq!(spools.borrow().len(), 2);
        assert_eq!(f.spooled.len(), 2);
    }

    #[test]
    fn read_line_for_authenticate_and_idle() {
        let mut c = Client {
            chunks: cut(vec![(b"DONE\r\ndGVzdA==\n".to_vec(), 0)], Some(1), None),
            next: 0,
            pos: 0,
            out: Rc::new(RefCell::new(Vec::new())),
        };
        assert_eq!(read_line(&mut c).unwrap(), b"DONE");
        assert_eq!(read_line(&mut c).unwrap(), b"dGVzdA==");
        assert!(matches!(read_line(&mut c), Err(FrameError::Eof)));
        let mut long = vec![b'A'; IMAP_LINE_MAX + 10];
        long.extend_from_slice(b"\r\n*\r\n");
        let mut c = Client {
            chunks: vec![(long, 0)],
            next: 0,
            pos: 0,
            out: Rc::new(RefCell::new(Vec::new())),
        };
        let e = read_line(&mut c).unwrap_err();
        assert_eq!(e.response().unwrap(), b"* BAD Command line too long\r\n");
        assert_eq!(read_line(&mut c).unwrap(), b"*");
    }

    /// Random streams made of command-like pieces: the framer never panics
    /// and always stops (each call consumes input or reports an error).
    #[test]
    fn random_streams_never_panic() {
        const PIECES: &[&[u8]] = &[
            b"a ",
            b"APPEND ",
            b"x ",
            b"{3}",
            b"{2+}",
            b"{0}",
            b"{99999999}",
            b"{1+}",
            b"\r\n",
            b"\n",
            b"\r",
            b"}",
            b"{",
            b"+",
            b"abc",
            b"\0",
            b"\xff",
            b" ",
        ];
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as usize
        };
        for _ in 0..3000 {
            let mut input = Vec::new();
            for _ in 0..rnd() % 12 {
                input.extend_from_slice(PIECES[rnd() % PIECES.len()]);
            }
            let mut r = io::BufReader::with_capacity(1 + rnd() % 4, &input[..]);
            let mut out = Vec::new();
            let mut spool = tempfile::tempfile;
            for _ in 0..=input.len() {
                match read_command(&mut r, &mut out, &mut spool) {
                    Ok(f) => {
                        let _ = crate::imap::parse::parse_command(f);
                    }
                    Err(e) if e.is_fatal() => break,
                    Err(_) => {}
                }
            }
        }
    }

    #[test]
    fn tags_and_append_detection() {
        assert_eq!(command_start(b"a1 APPEND x"), (Some("a1".into()), true));
        assert_eq!(command_start(b"a+ NOOP"), (None, false));
        assert_eq!(command_start(b"* NOOP").0, None);
        assert_eq!(command_start(b"").0, None);
        assert!(after_name_is_blank(b"a APPEND {5}", 9));
        assert!(after_name_is_blank(b"a  APPEND  {5}", 11));
        assert!(!after_name_is_blank(b"a APPEND x {5}", 11));
    }
}
