//! POP3 command lines (RFC 1939 3, RFC 2449 4, RFC 5034 4): bounded line
//! reading, then one command with its arguments. Like popa3d, the parser
//! refuses odd input instead of guessing: an over-long line, a NUL, a
//! message number with a sign or beyond 32 bits (`LIST 4294967297` is not
//! `LIST 1`) are errors, not something close to what was meant.

use std::io::{self, BufRead};

use crate::limits;

/// Why no line came.
#[derive(Debug)]
pub enum LineError {
    /// The client closed the connection (possibly in mid-line).
    Eof,
    /// The line was longer than allowed; it was read to its end and thrown
    /// away, so the next line is the next command.
    TooLong,
    /// A line went on past `POP3_DISCARD_MAX` octets: not a POP3 client.
    Flood,
    Io(io::Error),
}

/// Reads one line of at most `max` octets, CRLF (or a bare LF) included,
/// and returns it without its line end.
pub fn read_line<R: BufRead + ?Sized>(input: &mut R, max: usize) -> Result<Vec<u8>, LineError> {
    let mut line = Vec::new();
    let mut discarded: usize = 0;
    loop {
        let buf = match input.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(LineError::Io(e)),
        };
        if buf.is_empty() {
            return Err(LineError::Eof);
        }
        let (chunk, end) = match buf.iter().position(|&c| c == b'\n') {
            Some(p) => (&buf[..=p], true),
            None => (buf, false),
        };
        let n = chunk.len();
        if discarded > 0 || line.len() + n > max {
            discarded = discarded.saturating_add(n).max(line.len() + n);
            line.clear();
        } else {
            line.extend_from_slice(chunk);
        }
        input.consume(n);
        if discarded > limits::POP3_DISCARD_MAX {
            return Err(LineError::Flood);
        }
        if end {
            if discarded > 0 {
                return Err(LineError::TooLong);
            }
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            return Ok(line);
        }
    }
}

/// The longest line an AUTH continuation may be: the base64 form of the
/// largest SASL message we take, and CRLF. RFC 5034 4 lifts the 255-octet
/// limit for these lines.
pub const SASL_LINE_MAX: usize = limits::SASL_MESSAGE_MAX.div_ceil(3) * 4 + 2;

/// One POP3 command. Message numbers are as the client gave them (checked
/// against the maildrop by the session).
#[derive(Clone, PartialEq, Eq)]
pub enum Command {
    // AUTHORIZATION state (RFC 1939 4, 7; RFC 5034).
    User(Vec<u8>),
    Pass(Vec<u8>),
    Apop {
        name: Vec<u8>,
        digest: Vec<u8>,
    },
    /// `AUTH` alone lists the mechanisms (as Thunderbird asks); with a
    /// mechanism, the initial response is still base64 (`=` is empty).
    Auth {
        mechanism: Option<Vec<u8>>,
        initial: Option<Vec<u8>>,
    },
    // Any state.
    Capa,
    Quit,
    /// RFC 2595 STLS: recognised so that it is refused cleanly.
    Stls,
    // TRANSACTION state (RFC 1939 5).
    Stat,
    List(Option<u32>),
    Retr(u32),
    Dele(u32),
    Noop,
    Rset,
    Top {
        msg: u32,
        lines: u64,
    },
    Uidl(Option<u32>),
}

/// `Debug` never shows a password (PASS, the AUTH initial response).
impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::User(u) => write!(f, "User({:?})", String::from_utf8_lossy(u)),
            Command::Pass(_) => f.write_str("Pass(..)"),
            Command::Apop { name, .. } => {
                write!(f, "Apop({:?}, ..)", String::from_utf8_lossy(name))
            }
            Command::Auth { mechanism, initial } => write!(
                f,
                "Auth({:?}, {})",
                mechanism.as_deref().map(String::from_utf8_lossy),
                if initial.is_some() { ".." } else { "-" }
            ),
            Command::Capa => f.write_str("Capa"),
            Command::Quit => f.write_str("Quit"),
            Command::Stls => f.write_str("Stls"),
            Command::Stat => f.write_str("Stat"),
            Command::List(n) => write!(f, "List({n:?})"),
            Command::Retr(n) => write!(f, "Retr({n})"),
            Command::Dele(n) => write!(f, "Dele({n})"),
            Command::Noop => f.write_str("Noop"),
            Command::Rset => f.write_str("Rset"),
            Command::Top { msg, lines } => write!(f, "Top({msg}, {lines})"),
            Command::Uidl(n) => write!(f, "Uidl({n:?})"),
        }
    }
}

/// Why a line is not a command; the text goes after `-ERR `.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError {
    Unknown,
    /// Missing, extra or malformed arguments.
    Syntax(&'static str),
}

impl ParseError {
    pub fn text(self) -> &'static str {
        match self {
            ParseError::Unknown => "Unknown command.",
            ParseError::Syntax(t) => t,
        }
    }
}

/// Parses one line (without its line end). RFC 1939 3: a case-insensitive
/// keyword, then arguments separated by single spaces. PASS and USER take
/// the rest of the line, spaces included (RFC 1939 7 allows spaces in a
/// password).
pub fn parse(line: &[u8]) -> Result<Command, ParseError> {
    if line.contains(&0) {
        return Err(ParseError::Syntax("NUL in command line."));
    }
    let (keyword, rest) = match line.iter().position(|&c| c == b' ') {
        Some(p) => (&line[..p], Some(&line[p + 1..])),
        None => (line, None),
    };
    let kw = keyword.to_ascii_uppercase();
    // Arguments of the commands that take words: split at spaces, ignoring
    // a trailing one (some clients send `LIST `).
    let words: Vec<&[u8]> = rest
        .map(|r| r.split(|&c| c == b' ').filter(|w| !w.is_empty()).collect())
        .unwrap_or_default();
    let none = |c: Command| {
        if words.is_empty() {
            Ok(c)
        } else {
            Err(ParseError::Syntax("Too many arguments."))
        }
    };
    match &kw[..] {
        b"USER" | b"PASS" => {
            let arg = rest
                .filter(|r| !r.is_empty())
                .ok_or(ParseError::Syntax("Missing argument."))?
                .to_vec();
            Ok(if kw == b"USER" {
                Command::User(arg)
            } else {
                Command::Pass(arg)
            })
        }
        b"APOP" => match &words[..] {
            [name, digest] => Ok(Command::Apop {
                name: name.to_vec(),
                digest: digest.to_vec(),
            }),
            _ => Err(ParseError::Syntax("APOP needs a name and a digest.")),
        },
        b"AUTH" => match &words[..] {
            [] => Ok(Command::Auth {
                mechanism: None,
                initial: None,
            }),
            [m] => Ok(Command::Auth {
                mechanism: Some(m.to_vec()),
                initial: None,
            }),
            [m, ir] => Ok(Command::Auth {
                mechanism: Some(m.to_vec()),
                initial: Some(ir.to_vec()),
            }),
            _ => Err(ParseError::Syntax("Too many arguments.")),
        },
        b"CAPA" => none(Command::Capa),
        b"QUIT" => none(Command::Quit),
        b"STLS" => none(Command::Stls),
        b"STAT" => none(Command::Stat),
        b"NOOP" => none(Command::Noop),
        b"RSET" => none(Command::Rset),
        b"LIST" | b"UIDL" => {
            let n = match &words[..] {
                [] => None,
                [n] => Some(msg_number(n)?),
                _ => return Err(ParseError::Syntax("Too many arguments.")),
            };
            Ok(if kw == b"LIST" {
                Command::List(n)
            } else {
                Command::Uidl(n)
            })
        }
        b"RETR" | b"DELE" => match &words[..] {
            [n] => {
                let n = msg_number(n)?;
                Ok(if kw == b"RETR" {
                    Command::Retr(n)
                } else {
                    Command::Dele(n)
                })
            }
            _ => Err(ParseError::Syntax("One message number expected.")),
        },
        b"TOP" => match &words[..] {
            [n, lines] => Ok(Command::Top {
                msg: msg_number(n)?,
                lines: number(lines).ok_or(ParseError::Syntax("Invalid line count."))?,
            }),
            _ => Err(ParseError::Syntax(
                "TOP needs a message number and a line count.",
            )),
        },
        _ => Err(ParseError::Unknown),
    }
}

/// RFC 1939 3 `msg`: decimal digits only, within 32 bits (the session
/// then checks it against the maildrop).
fn msg_number(s: &[u8]) -> Result<u32, ParseError> {
    number(s)
        .and_then(|n| u32::try_from(n).ok())
        .ok_or(ParseError::Syntax("Invalid message number."))
}

/// Digits only (no sign, no space), without overflow.
fn number(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    s.iter().try_fold(0u64, |acc, &d| {
        acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Command, ParseError> {
        parse(s.as_bytes())
    }

    #[test]
    fn commands() {
        assert_eq!(p("stat"), Ok(Command::Stat));
        assert_eq!(p("LIST"), Ok(Command::List(None)));
        assert_eq!(p("LIST "), Ok(Command::List(None)));
        assert_eq!(p("list 2"), Ok(Command::List(Some(2))));
        assert_eq!(p("UIDL 4294967295"), Ok(Command::Uidl(Some(u32::MAX))));
        assert_eq!(p("RETR 1"), Ok(Command::Retr(1)));
        assert_eq!(p("DeLe 7"), Ok(Command::Dele(7)));
        assert_eq!(p("TOP 1 0"), Ok(Command::Top { msg: 1, lines: 0 }));
        assert_eq!(p("USER a b"), Ok(Command::User(b"a b".to_vec())));
        assert_eq!(
            p("PASS  two  spaces "),
            Ok(Command::Pass(b" two  spaces ".to_vec()))
        );
        assert_eq!(
            p("APOP mrose c4c9334bac560ecc979e58001b3e22fb"),
            Ok(Command::Apop {
                name: b"mrose".to_vec(),
                digest: b"c4c9334bac560ecc979e58001b3e22fb".to_vec()
            })
        );
        assert_eq!(
            p("AUTH"),
            Ok(Command::Auth {
                mechanism: None,
                initial: None
            })
        );
        assert_eq!(
            p("AUTH PLAIN ="),
            Ok(Command::Auth {
                mechanism: Some(b"PLAIN".to_vec()),
                initial: Some(b"=".to_vec())
            })
        );
        assert_eq!(p("CAPA"), Ok(Command::Capa));
        assert_eq!(p("quit"), Ok(Command::Quit));
    }

    #[test]
    fn odd_input_is_refused() {
        for bad in [
            "LIST 4294967297",
            "LIST 4294967296",
            "LIST +1",
            "LIST -1",
            "LIST 1x",
            "LIST 1 2",
            "RETR",
            "RETR 99999999999999999999999",
            "TOP 1",
            "TOP 1 -1",
            "TOP 1 99999999999999999999",
            "STAT 1",
            "USER",
            "USER ",
            "PASS",
            "APOP x",
            "AUTH A B C",
            "LIST\0 1",
        ] {
            assert!(p(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(p("XTND"), Err(ParseError::Unknown));
        assert_eq!(p(""), Err(ParseError::Unknown));
        assert_eq!(p("LAST"), Err(ParseError::Unknown));
    }

    #[test]
    fn debug_hides_passwords() {
        let d = format!("{:?}", p("PASS hunter2").unwrap());
        assert!(!d.contains("hunter2"), "{d}");
        let d = format!("{:?}", p("AUTH PLAIN AGFsaWNlAHNlY3JldA==").unwrap());
        assert!(!d.contains("AGFs"), "{d}");
    }

    #[test]
    fn lines_are_bounded() {
        let mut input = &b"STAT\r\nNOOP\nxxxxxxxxxxxxxxxx\r\nQUIT\r\nQU"[..];
        assert_eq!(read_line(&mut input, 10).unwrap(), b"STAT");
        assert_eq!(read_line(&mut input, 10).unwrap(), b"NOOP");
        assert!(matches!(read_line(&mut input, 10), Err(LineError::TooLong)));
        assert_eq!(read_line(&mut input, 10).unwrap(), b"QUIT");
        assert!(matches!(read_line(&mut input, 10), Err(LineError::Eof)));
        // The limit counts the CRLF: 8 octets and CRLF fit in 10.
        let mut input = &b"12345678\r\n123456789\r\n"[..];
        assert_eq!(read_line(&mut input, 10).unwrap(), b"12345678");
        assert!(matches!(read_line(&mut input, 10), Err(LineError::TooLong)));
    }

    #[test]
    fn endless_line_is_a_flood() {
        let data = vec![b'x'; limits::POP3_DISCARD_MAX + 10];
        let mut input = std::io::BufReader::with_capacity(100, &data[..]);
        assert!(matches!(read_line(&mut input, 255), Err(LineError::Flood)));
    }

    #[test]
    fn split_at_every_byte() {
        // A line arriving in pieces reads the same.
        struct Trickle<'a>(&'a [u8], usize);
        impl std::io::Read for Trickle<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let n = self.1.min(self.0.len()).min(buf.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let src = b"TOP 12 3\r\nUIDL\r\n";
        for step in 1..src.len() {
            let mut r = std::io::BufReader::with_capacity(4, Trickle(src, step));
            assert_eq!(read_line(&mut r, 255).unwrap(), b"TOP 12 3");
            assert_eq!(read_line(&mut r, 255).unwrap(), b"UIDL");
        }
    }
}
