//! CRLF normalisation: IMAP sends every line end as CRLF (RFC 3501 2.3.4
//! counts sizes that way), while mail files may hold bare LFs. The same
//! pass replaces NUL, which no IMAP4rev1 literal may carry (RFC 3501 9
//! CHAR8), by 0x80, as Dovecot does; sizes do not change.

use std::io::{self, Read};

use super::source::Source;
use super::Size;
use crate::limits::{MIME_WINDOW, SIZE_INDEX_BLOCKS};

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

/// Octets per block of `SizeIndex`, at least.
const BLOCK: usize = 4096;

/// IMAP sizes of any range of one message in O(block) time: line ends and
/// bare LFs counted once per block up front. Without it, the size of
/// every part would rescan all of its descendants, so a deeply nested
/// message would cost its size times its depth. The message may be in
/// memory or a file (`Source`); the index is 16 octets per block, and a
/// big message has bigger blocks (`SIZE_INDEX_BLOCKS`), so that the index
/// stays a few tens of KB whatever the size (issue 20).
pub struct SizeIndex<'a, S: Source + ?Sized> {
    raw: &'a S,
    block: usize,
    /// (line ends, bare LFs) before the start of each block.
    prefix: Vec<(u64, u64)>,
}

impl<'a, S: Source + ?Sized> SizeIndex<'a, S> {
    pub fn new(raw: &'a S) -> Self {
        let block = (raw.len() / SIZE_INDEX_BLOCKS).clamp(BLOCK, MIME_WINDOW);
        Self::with_block(raw, block)
    }

    fn with_block(raw: &'a S, block: usize) -> Self {
        let mut prefix = Vec::with_capacity(raw.len() / block + 2);
        let (mut lines, mut bare) = (0u64, 0u64);
        prefix.push((0, 0));
        let mut prev = 0u8;
        let mut in_block = 0usize;
        raw.each(0..raw.len(), &mut |piece| {
            for &c in piece {
                if c == b'\n' {
                    lines += 1;
                    if prev != b'\r' {
                        bare += 1;
                    }
                }
                prev = c;
                in_block += 1;
                if in_block == block {
                    prefix.push((lines, bare));
                    in_block = 0;
                }
            }
        });
        if in_block > 0 {
            prefix.push((lines, bare));
        }
        SizeIndex { raw, block, prefix }
    }

    /// (line ends, bare LFs) in `raw[..pos]`, an LF counted bare when the
    /// octet before it in the message is not CR.
    fn counts(&self, pos: usize) -> (u64, u64) {
        let pos = pos.min(self.raw.len());
        let block = pos / self.block;
        let (mut lines, mut bare) = self.prefix.get(block).copied().unwrap_or_default();
        let start = block * self.block;
        let mut prev = start
            .checked_sub(1)
            .and_then(|i| self.raw.byte(i))
            .unwrap_or(0);
        for &c in self.raw.octets(start..pos).iter() {
            if c == b'\n' {
                lines += 1;
                if prev != b'\r' {
                    bare += 1;
                }
            }
            prev = c;
        }
        (lines, bare)
    }

    /// The same as `crlf_size(&raw[range])`.
    pub fn size(&self, range: std::ops::Range<usize>) -> Size {
        let end = range.end.min(self.raw.len());
        let start = range.start.min(end);
        let (l0, b0) = self.counts(start);
        let (l1, b1) = self.counts(end);
        let mut bare = b1 - b0;
        // An LF at the start of the range is bare for the range alone
        // even when a CR precedes it in the message.
        if start > 0
            && start < end
            && self.raw.byte(start) == Some(b'\n')
            && self.raw.byte(start - 1) == Some(b'\r')
        {
            bare += 1;
        }
        Size {
            octets: (end - start) as u64 + bare,
            lines: l1 - l0,
        }
    }
}

/// `s` with every bare LF turned into CRLF (CRLF and lone CR stay) and
/// NUL as 0x80.
pub fn to_crlf(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() + s.len() / 32 + 2);
    extend_crlf(&mut out, s, &mut false, true);
    out
}

/// Appends `piece` to `out` with every bare LF made CRLF, for text given
/// a piece at a time: `prev_cr` says whether the octet before `piece` was
/// CR, and is left saying it of its last. With `map_nul`, NUL becomes 0x80
/// (IMAP strings); without, it stays (BINARY, POP3).
#[inline]
pub fn extend_crlf(out: &mut Vec<u8>, piece: &[u8], prev_cr: &mut bool, map_nul: bool) {
    let mut rest = piece;
    // Copy the runs between the octets that change, whole.
    while let Some(at) = rest.iter().position(|&c| c == b'\n' || (map_nul && c == 0)) {
        out.extend_from_slice(&rest[..at]);
        if at > 0 {
            *prev_cr = rest[at - 1] == b'\r';
        }
        if rest[at] == 0 {
            out.push(0x80);
        } else {
            if !*prev_cr {
                out.push(b'\r');
            }
            out.push(b'\n');
        }
        *prev_cr = false;
        rest = &rest[at + 1..];
    }
    if let Some(&c) = rest.last() {
        *prev_cr = c == b'\r';
    }
    out.extend_from_slice(rest);
}

/// A reader that yields its inner reader's bytes with every bare LF turned
/// into CRLF (and NUL into 0x80), for streaming BODY[] of messages too big
/// to load. It reads `STREAM_BUFFER` octets at a time and copies the runs
/// between line ends whole, so the cost per octet is a copy, not a branch.
pub struct CrlfReader<R: Read> {
    inner: R,
    /// NUL becomes 0x80 (IMAP); `transparent` keeps it (POP3).
    map_nul: bool,
    /// The last byte passed on was CR.
    prev_cr: bool,
    /// An LF whose CR was emitted at the end of the previous `read`.
    pending_lf: bool,
    buf: Box<[u8]>,
    pos: usize,
    len: usize,
}

impl<R: Read> CrlfReader<R> {
    pub fn new(inner: R) -> Self {
        CrlfReader {
            inner,
            map_nul: true,
            prev_cr: false,
            pending_lf: false,
            buf: vec![0; crate::limits::STREAM_BUFFER].into(),
            pos: 0,
            len: 0,
        }
    }

    /// Only line ends change; every other octet, NUL included, passes as
    /// it is. For POP3, whose RFC 1939 3 data is any octets (Dovecot's
    /// pop3 sends NUL as stored).
    pub fn transparent(inner: R) -> Self {
        CrlfReader {
            map_nul: false,
            ..CrlfReader::new(inner)
        }
    }

    pub fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: Read> Read for CrlfReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        let mut n = 0;
        if self.pending_lf {
            out[0] = b'\n';
            self.pending_lf = false;
            n = 1;
        }
        while n < out.len() {
            if self.pos == self.len {
                if n > 0 {
                    // Give what we have rather than block for more.
                    break;
                }
                // A reader that claims more than it was given is not trusted.
                let cap = self.buf.len();
                self.len = self.inner.read(&mut self.buf)?.min(cap);
                self.pos = 0;
                if self.len == 0 {
                    break;
                }
            }
            let map_nul = self.map_nul;
            let chunk = &self.buf[self.pos..self.len];
            // The run up to the next octet that changes: LF, or NUL.
            let stop = chunk
                .iter()
                .position(|&c| c == b'\n' || (map_nul && c == 0))
                .unwrap_or(chunk.len());
            let copy = stop.min(out.len() - n);
            out[n..n + copy].copy_from_slice(&chunk[..copy]);
            if copy > 0 {
                self.prev_cr = chunk[copy - 1] == b'\r';
            }
            n += copy;
            self.pos += copy;
            if copy < stop || self.pos == self.len || n == out.len() {
                continue;
            }
            // At an LF or a NUL, with room for at least one octet.
            let c = self.buf[self.pos];
            self.pos += 1;
            if c == 0 {
                out[n] = 0x80;
                n += 1;
            } else if self.prev_cr {
                out[n] = b'\n';
                n += 1;
            } else if n + 1 < out.len() {
                out[n] = b'\r';
                out[n + 1] = b'\n';
                n += 2;
            } else {
                out[n] = b'\r';
                n += 1;
                self.pending_lf = true;
            }
            self.prev_cr = false;
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

    #[test]
    fn size_index_matches_direct_count() {
        let mut raw = Vec::new();
        let mut seed = 7u32;
        for _ in 0..3 * BLOCK + 77 {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
            raw.push(match (seed >> 16) % 5 {
                0 => b'\r',
                1 => b'\n',
                _ => b'x',
            });
        }
        let idx = SizeIndex::new(&raw[..]);
        // Blocks as a big message has them (here of 100 octets).
        let coarse = SizeIndex::with_block(&raw[..], 100);
        for (a, b) in [
            (0, raw.len()),
            (1, 2),
            (BLOCK - 1, BLOCK + 1),
            (5, 3 * BLOCK),
            (BLOCK, BLOCK),
            (100, 9000),
            (0, 0),
            (raw.len(), raw.len() + 5),
        ] {
            for (a, b) in [(a, b), (a + 1, b), (a, b.saturating_sub(1))] {
                let end = b.min(raw.len());
                let start = a.min(end);
                assert_eq!(idx.size(a..b), crlf_size(&raw[start..end]), "{a}..{b}");
                assert_eq!(coarse.size(a..b), crlf_size(&raw[start..end]), "{a}..{b}");
            }
        }
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
    fn transparent_reader_keeps_nul() {
        let mut out = Vec::new();
        CrlfReader::transparent(&b"a\0\nb\r\n\0"[..])
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, b"a\0\r\nb\r\n\0");
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
