//! CRLF normalisation: IMAP sends every line end as CRLF (RFC 3501 2.3.4
//! counts sizes that way), while mail files may hold bare LFs. The same
//! pass replaces NUL, which no IMAP4rev1 literal may carry (RFC 3501 9
//! CHAR8), by 0x80, as Dovecot does; sizes do not change.

use std::io::{self, Read};

use super::Size;

/// The IMAP size of `s`: octets with each bare LF counted as CRLF, and
/// the number of line ends.
pub fn crlf_size(s: &[u8]) -> Size {
    let lines = s.iter().filter(|&&c| c == b'\n').count() as u64;
    let crlf = s.windows(2).filter(|w| w == b"\r\n").count() as u64;
    Size {
        octets: s.len() as u64 + (lines - crlf),
        lines,
    }
}

/// `s` with every bare LF turned into CRLF (CRLF and lone CR stay) and
/// NUL as 0x80.
pub fn to_crlf(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() + s.len() / 32);
    let mut prev = 0u8;
    for &c in s {
        if c == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(if c == 0 { 0x80 } else { c });
        prev = c;
    }
    out
}

/// A reader that yields its inner reader's bytes with every bare LF turned
/// into CRLF (and NUL into 0x80), for streaming BODY[] of messages too big to load. Memory use
/// is the caller's buffer only.
pub struct CrlfReader<R: Read> {
    inner: R,
    /// The last byte read from `inner` was CR.
    prev_cr: bool,
    /// An LF whose CR was emitted at the end of the previous `read`.
    pending_lf: bool,
}

impl<R: Read> CrlfReader<R> {
    pub fn new(inner: R) -> Self {
        CrlfReader {
            inner,
            prev_cr: false,
            pending_lf: false,
        }
    }

    pub fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: Read> Read for CrlfReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let mut n = 0;
        if self.pending_lf {
            buf[0] = b'\n';
            self.pending_lf = false;
            n = 1;
            if buf.len() == 1 {
                return Ok(1);
            }
        }
        // Read at most half the room so every LF can grow to CRLF.
        let room = (buf.len() - n) / 2;
        let want = room.max(1);
        let mut tmp = [0u8; 8192];
        let want = want.min(tmp.len());
        // A reader that claims more than it was given is not trusted.
        let got = self.inner.read(&mut tmp[..want])?.min(want);
        for &c in &tmp[..got] {
            if c == b'\n' && !self.prev_cr {
                if n + 1 < buf.len() {
                    buf[n] = b'\r';
                    buf[n + 1] = b'\n';
                    n += 2;
                } else {
                    // Only possible when room was 0: one byte left.
                    buf[n] = b'\r';
                    n += 1;
                    self.pending_lf = true;
                }
            } else {
                buf[n] = if c == 0 { 0x80 } else { c };
                n += 1;
            }
            self.prev_cr = c == b'\r';
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(
            crlf_size(b"a\nb\r\nc"),
            Size {
                octets: 7,
                lines: 2
            }
        );
        assert_eq!(crlf_size(b""), Size::default());
        assert_eq!(
            crlf_size(b"\r\r\n\n"),
            Size {
                octets: 5,
                lines: 2
            }
        );
        assert_eq!(to_crlf(b"a\nb\r\nc\r\0"), b"a\r\nb\r\nc\r\x80");
    }

    /// A reader that hands out one byte at a time.
    struct Trickle<'a>(&'a [u8]);
    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match (self.0.split_first(), buf.first_mut()) {
                (Some((&c, rest)), Some(b)) => {
                    *b = c;
                    self.0 = rest;
                    Ok(1)
                }
                _ => Ok(0),
            }
        }
    }

    #[test]
    fn reader_matches_to_crlf_at_every_buffer_size() {
        let src = b"x\ny\r\n\n\r\rz\0\n\nend";
        for bufsize in 1..20 {
            for trickle in [false, true] {
                let mut out = Vec::new();
                let mut buf = vec![0u8; bufsize];
                let mut r: Box<dyn Read> = if trickle {
                    Box::new(CrlfReader::new(Trickle(src)))
                } else {
                    Box::new(CrlfReader::new(&src[..]))
                };
                loop {
                    let n = r.read(&mut buf).unwrap();
                    if n == 0 {
                        break;
                    }
                    out.extend_from_slice(&buf[..n]);
                }
                assert_eq!(out, to_crlf(src), "bufsize {bufsize} trickle {trickle}");
            }
        }
    }
}
