//! Multi-line responses (RFC 1939 3): every line that begins with `.` gets
//! one more `.` in front (byte-stuffing), and the response ends with a line
//! holding only `.`. Nothing else in the data changes, so the client gets
//! the message's octets back exactly once it removes the stuffed dots.
//!
//! Message data reaches `Stuffer` already with CRLF line ends
//! (`mime::crlf::CrlfReader`); a message whose last line has no line end
//! gets CRLF before the terminator, which must stand on its own line.
//!
//! TOP (RFC 1939 7) uses the same writer with a body line budget: the
//! header, the empty line that ends it, then that many body lines.

use std::io::{self, Read, Write};

pub struct Stuffer<'a> {
    out: &'a mut dyn Write,
    /// The next octet begins a line.
    line_start: bool,
    /// Octets of the current line so far (line end not counted) and whether
    /// its first octet was CR: an empty line is "" or "\r" before the LF.
    line_len: u64,
    first_cr: bool,
    /// Still in the message's header.
    in_header: bool,
    /// TOP: body lines still to send; `None` sends everything.
    body_lines: Option<u64>,
    /// TOP's budget is spent: further data is not sent.
    done: bool,
}

impl<'a> Stuffer<'a> {
    /// For RETR (`body_lines` None) and TOP (`Some(n)`).
    pub fn new(out: &'a mut dyn Write, body_lines: Option<u64>) -> Stuffer<'a> {
        Stuffer {
            out,
            line_start: true,
            line_len: 0,
            first_cr: false,
            in_header: true,
            body_lines,
            done: false,
        }
    }

    /// Whether more data would be sent (false once TOP has all it wants).
    pub fn wants_more(&self) -> bool {
        !self.done
    }

    /// Sends `data`, stuffed.
    pub fn write(&mut self, data: &[u8]) -> io::Result<()> {
        let mut i = 0;
        while i < data.len() {
            if self.line_start {
                if !self.in_header && self.body_lines == Some(0) {
                    self.done = true;
                }
                if self.done {
                    return Ok(());
                }
                if data[i] == b'.' {
                    self.out.write_all(b".")?;
                }
                self.line_start = false;
                self.line_len = 0;
                self.first_cr = false;
            }
            let (end, lf) = match data[i..].iter().position(|&c| c == b'\n') {
                Some(p) => (i + p + 1, true),
                None => (data.len(), false),
            };
            let content = &data[i..if lf { end - 1 } else { end }];
            if self.line_len == 0 {
                if let Some(&c) = content.first() {
                    self.first_cr = c == b'\r';
                }
            }
            self.line_len += content.len() as u64;
            self.out.write_all(&data[i..end])?;
            if lf {
                self.line_start = true;
                let empty = self.line_len == 0 || (self.line_len == 1 && self.first_cr);
                if self.in_header {
                    if empty {
                        self.in_header = false;
                    }
                } else if let Some(n) = &mut self.body_lines {
                    *n = n.saturating_sub(1);
                }
            }
            i = end;
        }
        Ok(())
    }

    /// Copies `reader` through the stuffer until its end (or TOP's budget).
    pub fn copy_from(&mut self, reader: &mut dyn Read) -> io::Result<()> {
        let mut buf = vec![0u8; crate::limits::STREAM_BUFFER];
        while self.wants_more() {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            self.write(&buf[..n])?;
        }
        Ok(())
    }

    /// Ends the response: CRLF if the data did not end a line, then `.`.
    pub fn finish(self) -> io::Result<()> {
        if !self.line_start {
            self.out.write_all(b"\r\n")?;
        }
        self.out.write_all(b".\r\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stuff(data: &[u8], top: Option<u64>, split: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let mut s = Stuffer::new(&mut out, top);
        for chunk in data.chunks(split.max(1)) {
            s.write(chunk).unwrap();
        }
        s.finish().unwrap();
        out
    }

    #[test]
    fn dots_are_stuffed_and_the_end_is_on_its_own_line() {
        let cases: [(&[u8], &[u8]); 6] = [
            (b"a\r\n.b\r\n..\r\n.\r\n", b"a\r\n..b\r\n...\r\n..\r\n.\r\n"),
            (b".", b"..\r\n.\r\n"),
            (b"", b".\r\n"),
            (b"no end", b"no end\r\n.\r\n"),
            (b"x.y\r\n", b"x.y\r\n.\r\n"),
            // Octets other than the stuffed dots pass untouched.
            (b"\x00\xff\r\r\n.\r", b"\x00\xff\r\r\n..\r\r\n.\r\n"),
        ];
        for (data, want) in cases {
            for split in 1..=data.len().max(1) {
                assert_eq!(stuff(data, None, split), want, "{data:?} split {split}");
            }
        }
    }

    #[test]
    fn top_sends_header_blank_line_and_n_body_lines() {
        let msg = b"A: 1\r\nB: 2\r\n\r\nline1\r\n.line2\r\nline3\r\n";
        let want: [&[u8]; 5] = [
            b"A: 1\r\nB: 2\r\n\r\n.\r\n",
            b"A: 1\r\nB: 2\r\n\r\nline1\r\n.\r\n",
            b"A: 1\r\nB: 2\r\n\r\nline1\r\n..line2\r\n.\r\n",
            b"A: 1\r\nB: 2\r\n\r\nline1\r\n..line2\r\nline3\r\n.\r\n",
            b"A: 1\r\nB: 2\r\n\r\nline1\r\n..line2\r\nline3\r\n.\r\n",
        ];
        for (n, want) in want.iter().enumerate() {
            for split in 1..msg.len() {
                assert_eq!(
                    stuff(msg, Some(n as u64), split),
                    *want,
                    "TOP {n} split {split}"
                );
            }
        }
        // A message without a body: TOP gives all of it.
        assert_eq!(stuff(b"A: 1\r\nB: 2", Some(0), 3), b"A: 1\r\nB: 2\r\n.\r\n");
        // A body that starts at once (no header).
        assert_eq!(
            stuff(b"\r\nbody\r\nmore\r\n", Some(1), 2),
            b"\r\nbody\r\n.\r\n"
        );
    }

    #[test]
    fn copy_from_stops_when_top_is_done() {
        let mut msg = b"H: x\r\n\r\n".to_vec();
        msg.extend(std::iter::repeat_n(b"line\r\n".as_slice(), 100_000).flatten());
        let mut out = Vec::new();
        let mut s = Stuffer::new(&mut out, Some(2));
        s.copy_from(&mut &msg[..]).unwrap();
        s.finish().unwrap();
        assert_eq!(out, b"H: x\r\n\r\nline\r\nline\r\n.\r\n");
    }
}
