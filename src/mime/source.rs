//! Where the MIME code reads a message from: memory (`[u8]`) or a file
//! read through one bounded window (`FileSource`), so that the structure of
//! a message of any size is found in constant memory (issue 20). The
//! parser moves forward through the file and looks back only a few octets
//! at a time, so one window, refilled where it is needed, serves it.

use std::borrow::Cow;
use std::cell::RefCell;
use std::io::{self, Read, Seek, SeekFrom};
use std::ops::Range;

use crate::limits::MIME_WINDOW;

/// Random access to a message's octets.
pub trait Source {
    /// The message's length in octets.
    fn len(&self) -> usize;

    /// The octets of `range`, cut to the message. Ranges longer than
    /// `MIME_WINDOW` are read whole: callers ask for bounded ranges only
    /// (a header block, a line's start, a few octets).
    fn octets(&self, range: Range<usize>) -> Cow<'_, [u8]>;

    /// The position of the first `byte` in `range`, if any; any length.
    fn find(&self, byte: u8, range: Range<usize>) -> Option<usize>;

    /// Visits `range` in pieces of at most `MIME_WINDOW` octets, in order.
    fn each(&self, range: Range<usize>, f: &mut dyn FnMut(&[u8]));

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn byte(&self, pos: usize) -> Option<u8> {
        self.octets(pos..pos + 1).first().copied()
    }
}

impl Source for [u8] {
    fn len(&self) -> usize {
        <[u8]>::len(self)
    }

    fn octets(&self, range: Range<usize>) -> Cow<'_, [u8]> {
        let end = range.end.min(self.len());
        Cow::Borrowed(self.get(range.start.min(end)..end).unwrap_or_default())
    }

    fn find(&self, byte: u8, range: Range<usize>) -> Option<usize> {
        let end = range.end.min(self.len());
        let s = self.get(range.start.min(end)..end)?;
        s.iter().position(|&c| c == byte).map(|i| range.start + i)
    }

    fn each(&self, range: Range<usize>, f: &mut dyn FnMut(&[u8])) {
        let end = range.end.min(self.len());
        if let Some(s) = self.get(range.start.min(end)..end) {
            s.chunks(MIME_WINDOW).for_each(f);
        }
    }
}

impl Source for Vec<u8> {
    fn len(&self) -> usize {
        <[u8]>::len(self)
    }

    fn octets(&self, range: Range<usize>) -> Cow<'_, [u8]> {
        self[..].octets(range)
    }

    fn find(&self, byte: u8, range: Range<usize>) -> Option<usize> {
        self[..].find(byte, range)
    }

    fn each(&self, range: Range<usize>, f: &mut dyn FnMut(&[u8])) {
        self[..].each(range, f)
    }
}

/// A message file read through one window of `MIME_WINDOW` octets. Read
/// errors are kept (`error`) and read as the end of the message, so the
/// parser stays total; the caller checks `error` before trusting results.
pub struct FileSource<R> {
    inner: RefCell<Inner<R>>,
    len: usize,
}

struct Inner<R> {
    file: R,
    start: usize,
    buf: Vec<u8>,
    error: Option<io::Error>,
}

impl<R: Read + Seek> FileSource<R> {
    pub fn new(mut file: R) -> io::Result<FileSource<R>> {
        let len = file.seek(SeekFrom::End(0))?;
        let len = usize::try_from(len).map_err(|_| io::Error::other("message too large"))?;
        Ok(FileSource {
            inner: RefCell::new(Inner {
                file,
                start: 0,
                buf: Vec::new(),
                error: None,
            }),
            len,
        })
    }

    /// The first read error met, if any: the results are then incomplete.
    pub fn take_error(&self) -> Option<io::Error> {
        self.inner.borrow_mut().error.take()
    }

    /// Gives the file back (positioned anywhere).
    pub fn into_inner(self) -> R {
        self.inner.into_inner().file
    }
}

impl<R: Read + Seek> Inner<R> {
    /// Makes the window start at `pos` (or hold it already) and returns the
    /// part of it from `pos`.
    fn at(&mut self, pos: usize, len: usize, want: usize) -> &[u8] {
        let have = pos >= self.start && pos < self.start + self.buf.len();
        let enough = have && (pos + want.min(len - pos) <= self.start + self.buf.len());
        if !enough && self.error.is_none() {
            let size = want.max(crate::limits::MIME_WINDOW).min(len - pos);
            self.buf.clear();
            // Exactly the window: `read_to_end` alone would double it.
            self.buf.reserve_exact(size);
            self.start = pos;
            let r = self.file.seek(SeekFrom::Start(pos as u64)).and_then(|_| {
                (&mut self.file)
                    .take(size as u64)
                    .read_to_end(&mut self.buf)
            });
            if let Err(e) = r {
                self.buf.clear();
                self.error = Some(e);
            }
        }
        let off = pos.saturating_sub(self.start);
        self.buf.get(off..).unwrap_or_default()
    }
}

impl<R: Read + Seek> Source for FileSource<R> {
    fn len(&self) -> usize {
        self.len
    }

    fn octets(&self, range: Range<usize>) -> Cow<'_, [u8]> {
        let end = range.end.min(self.len);
        let start = range.start.min(end);
        let mut inner = self.inner.borrow_mut();
        let got = inner.at(start, self.len, end - start);
        Cow::Owned(got[..got.len().min(end - start)].to_vec())
    }

    fn find(&self, byte: u8, range: Range<usize>) -> Option<usize> {
        let mut found = None;
        self.walk(range, &mut |pos, piece| {
            found = piece.iter().position(|&c| c == byte).map(|i| pos + i);
            found.is_none()
        });
        found
    }

    fn each(&self, range: Range<usize>, f: &mut dyn FnMut(&[u8])) {
        self.walk(range, &mut |_, piece| {
            f(piece);
            true
        });
    }
}

impl<R: Read + Seek> FileSource<R> {
    /// Visits `range` window by window (`f` gets each piece's position)
    /// while `f` says to go on.
    fn walk(&self, range: Range<usize>, f: &mut dyn FnMut(usize, &[u8]) -> bool) {
        let end = range.end.min(self.len);
        let mut pos = range.start.min(end);
        let mut inner = self.inner.borrow_mut();
        while pos < end {
            let got = inner.at(pos, self.len, 1);
            if got.is_empty() {
                return;
            }
            let n = got.len().min(end - pos);
            if !f(pos, &got[..n]) {
                return;
            }
            pos += n;
        }
    }
}

/// Reads a range of a `FileSource`'s file straight from the file (no
/// window, no copy), for streaming a section: see `FileSource::reader`.
pub struct Direct<'a, R> {
    inner: std::cell::RefMut<'a, Inner<R>>,
    left: u64,
}

impl<R: Read + Seek> Read for Direct<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let got = self.inner.file.read(&mut buf[..n])?;
        self.left -= got as u64;
        Ok(got)
    }
}

impl<R: Read + Seek> FileSource<R> {
    /// The octets of `range` (cut to the file) read in order straight from
    /// the file, as BODY[] and sections are streamed.
    pub fn reader(&self, range: Range<usize>) -> io::Result<Direct<'_, R>> {
        let end = range.end.min(self.len);
        let start = range.start.min(end);
        let mut inner = self.inner.borrow_mut();
        inner.file.seek(SeekFrom::Start(start as u64))?;
        Ok(Direct {
            inner,
            left: (end - start) as u64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_source_reads_like_memory() {
        let data: Vec<u8> = (0..(3 * MIME_WINDOW + 17))
            .map(|i| {
                if i % 97 == 0 {
                    b'\n'
                } else {
                    b'a' + (i % 26) as u8
                }
            })
            .collect();
        let f = FileSource::new(io::Cursor::new(data.clone())).unwrap();
        let m: &[u8] = &data;
        assert_eq!(f.len(), m.len());
        for r in [
            0..10,
            MIME_WINDOW - 3..MIME_WINDOW + 5,
            5..5,
            data.len() - 4..data.len() + 9,
        ] {
            assert_eq!(f.octets(r.clone()), m.octets(r.clone()), "{r:?}");
        }
        for start in [0, 1, 96, 98, MIME_WINDOW - 1, 2 * MIME_WINDOW + 50] {
            assert_eq!(
                f.find(b'\n', start..data.len()),
                m.find(b'\n', start..data.len())
            );
        }
        assert_eq!(f.find(b'!', 0..data.len()), None);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        f.each(3..data.len() - 2, &mut |s| a.extend_from_slice(s));
        m.each(3..data.len() - 2, &mut |s| b.extend_from_slice(s));
        assert_eq!(a, b);
        assert!(f.take_error().is_none());
    }
}
