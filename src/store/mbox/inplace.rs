//! Rewriting an mbox file in place, safely, with a redo journal.
//!
//! Why in place: a user may not create files in the spool directory
//! (Debian's `/var/mail` is root:mail 2775), and `mail_privileged_group`
//! is held only to create the dotlock there (never to write a new file and
//! rename it over the spool). In place also keeps what others rely on: the
//! inode their fcntl locks are on, the owner, group and mode.
//!
//! How (`Journal`), all under the mailbox's write lock:
//!
//! 1. The runs of the new file's bytes that differ from the old file's at
//!    the same place (runs closer than `MBOX_JOURNAL_RUN_GAP` joined) are written to
//!    the journal `ROOT/.imap/NAME/mailaccess-mbox-rewrite`, each followed
//!    by its offset and length (u64 little-endian each), then a trailer
//!    line naming the file (device, inode), the first changed offset, the
//!    old and the new length, the payload's length and a checksum of it,
//!    then fsync. Until the trailer is on disk the mbox is untouched; a
//!    journal without a good trailer is only removed. A flag change that
//!    fits the padding of its message's status lines (`file.rs`) leaves
//!    every other octet where it was, so it writes those lines, not the
//!    rest of the file.
//! 2. The mbox is made `max(old, new)` long, each run is written at its
//!    offset, the file is cut to the new length and fsynced; then the
//!    journal is removed.
//!
//! The first journal format (a single run from the first difference to
//! the new end, no offsets) is still applied, for a crash left by an
//! earlier version.
//!
//! Recovery (`recover`, run by whoever takes the lock next, before anyone
//! reads the file): a good journal is applied again from the start (every
//! step above can be repeated). If the file's length is none of the three
//! the steps can leave, a program appended to it after the crash (an MTA
//! that broke our stale dotlock): the appended mail, which starts with a
//! `From ` line at one of those three lengths, is copied aside
//! (`mailaccess-mbox-salvage`, fsynced), the journal applied, and the mail
//! put back after the new end. Anything else is left as it is, with both
//! files, for the administrator, and the mailbox reports `[CORRUPTION]`:
//! nothing is lost either way.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::store::{Result, StoreError};

pub const JOURNAL_FILE: &str = "mailaccess-mbox-rewrite";
pub const SALVAGE_FILE: &str = "mailaccess-mbox-salvage";
const MAGIC: &str = "mailaccess-mbox-rewrite 2";
/// The first format: no `end` (the payload ran to the new length).
const MAGIC_1: &str = "mailaccess-mbox-rewrite 1";
/// The trailer line is shorter than this.
const TRAILER_MAX: u64 = 200;
use super::parse::ReadAt;
use crate::limits::{MBOX_COMPARE_READ_MIN, MBOX_COPY_CHUNK as CHUNK, MBOX_JOURNAL_RUN_GAP};

use crate::store::sum::{fnv1a_more as fnv1a, FNV_START};

/// Offset and length after each run.
const FOOTER: u64 = 16;

/// What the journal's trailer says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trailer {
    dev: u64,
    ino: u64,
    /// The first octet that changes.
    start: u64,
    old_len: u64,
    new_len: u64,
    /// Octets of the journal before the trailer.
    payload: u64,
    /// Format 1: the payload is one run at `start`, without its footer.
    single: bool,
    sum: u64,
}

impl Trailer {
    fn line(&self) -> String {
        format!(
            "\n{MAGIC} {} {} {} {} {} {} {:016x}\n",
            self.dev, self.ino, self.start, self.old_len, self.new_len, self.payload, self.sum
        )
    }

    /// Reads and checks the journal: the trailer, then the checksum of the
    /// bytes before it. `None`: not a complete journal.
    fn read(j: &File) -> io::Result<Option<Trailer>> {
        let len = j.metadata()?.len();
        let tail_at = len.saturating_sub(TRAILER_MAX);
        let mut tail = vec![0u8; (len - tail_at) as usize];
        j.read_exact_at(&mut tail, tail_at)?;
        let Some(nl) = tail
            .strip_suffix(b"\n")
            .and_then(|t| t.iter().rposition(|&c| c == b'\n'))
        else {
            return Ok(None);
        };
        let Ok(line) = std::str::from_utf8(&tail[nl + 1..tail.len() - 1]) else {
            return Ok(None);
        };
        let (rest, single) = match (line.strip_prefix(MAGIC), line.strip_prefix(MAGIC_1)) {
            (Some(rest), _) => (rest, false),
            (None, Some(rest)) => (rest, true),
            (None, None) => return Ok(None),
        };
        let f: Vec<&str> = rest.split_ascii_whitespace().collect();
        let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok());
        let (Some(dev), Some(ino), Some(start), Some(old_len), Some(new_len)) =
            (num(0), num(1), num(2), num(3), num(4))
        else {
            return Ok(None);
        };
        // Format 1: "dev ino start old new sum", its payload `start..new`.
        let (payload, fields) = if single {
            (new_len.checked_sub(start), 6)
        } else {
            (num(5), 7)
        };
        let (Some(payload), Some(sum)) = (
            payload,
            f.get(fields - 1)
                .and_then(|v| u64::from_str_radix(v, 16).ok()),
        ) else {
            return Ok(None);
        };
        let t = Trailer {
            dev,
            ino,
            start,
            old_len,
            new_len,
            payload,
            single,
            sum,
        };
        // The payload ends where the trailer line (with its leading LF)
        // begins.
        let payload_end = tail_at + nl as u64;
        if f.len() != fields || start > new_len.max(old_len) || payload != payload_end {
            return Ok(None);
        }
        let mut h = FNV_START;
        let mut buf = vec![0u8; CHUNK];
        let mut at = 0u64;
        while at < payload_end {
            let n = (payload_end - at).min(CHUNK as u64) as usize;
            j.read_exact_at(&mut buf[..n], at)?;
            h = fnv1a(h, &buf[..n]);
            at += n as u64;
        }
        Ok((h == sum).then_some(t))
    }

    /// The runs of a checked journal: (place in the journal, offset in the
    /// mbox, length). `None`: they do not add up (never written so).
    fn runs(&self, j: &File) -> io::Result<Option<Vec<(u64, u64, u64)>>> {
        if self.single {
            return Ok(Some(vec![(0, self.start, self.payload)]));
        }
        let big = self.old_len.max(self.new_len);
        let mut out = Vec::new();
        let mut at = self.payload;
        while at > 0 {
            if at < FOOTER {
                return Ok(None);
            }
            let mut f = [0u8; FOOTER as usize];
            j.read_exact_at(&mut f, at - FOOTER)?;
            let off = u64::from_le_bytes(f[..8].try_into().unwrap_or_default());
            let len = u64::from_le_bytes(f[8..].try_into().unwrap_or_default());
            let Some(from) = (at - FOOTER).checked_sub(len) else {
                return Ok(None);
            };
            if off.checked_add(len).is_none_or(|e| e > big) {
                return Ok(None);
            }
            out.push((from, off, len));
            at = from;
        }
        Ok(Some(out))
    }
}

fn journal_path(ctl: &Path) -> PathBuf {
    ctl.join(JOURNAL_FILE)
}

/// Whether a rewrite of this mailbox was cut short and must be finished
/// before the file is read: one `stat`.
pub fn pending(ctl: &Path) -> bool {
    fs::symlink_metadata(journal_path(ctl)).is_ok()
}

/// A rewrite being prepared: `Journal::writer` takes the new file's bytes
/// in order and keeps those from the first difference with `old`.
pub struct Journal {
    path: PathBuf,
    file: File,
}

impl Journal {
    /// Starts a journal in the control directory `ctl` (which exists).
    pub fn create(ctl: &Path) -> Result<Journal> {
        let path = journal_path(ctl);
        let file = crate::store::open::regular(
            &path,
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600),
        )?;
        Ok(Journal { path, file })
    }

    /// Where the new file's bytes go, compared as they come with the old
    /// file, of `old_len` octets, read with `read_at` (pread) a window at
    /// a time: a rewrite never maps the octets it compares (a mapped page
    /// can bring a large page-cache folio: issue 20).
    pub fn writer<'a>(&'a self, old_len: u64, read_at: ReadAt<'a>) -> Diverge<'a> {
        Diverge {
            old_len,
            read_at,
            window: (0, Vec::new()),
            out: io::BufWriter::with_capacity(CHUNK, &self.file),
            pos: 0,
            start: None,
            run: None,
            same: 0,
            written: 0,
            sum: FNV_START,
        }
    }

    /// Finishes the journal after `w` took the whole new file: writes the
    /// trailer for the mbox `target` (its metadata before the rewrite) and
    /// fsyncs. `None` when the new file is the old one: nothing to do.
    pub fn finish(&self, mut w: Diverge<'_>, target: &fs::Metadata) -> Result<Option<Trailer>> {
        w.close_run()?;
        let old_len = w.old_len;
        let new_len = w.pos;
        let (start, sum, payload) = (w.start, w.sum, w.written);
        let mut out = w
            .out
            .into_inner()
            .map_err(|e| StoreError::Io(e.into_error()))?;
        let start = match start {
            Some(s) => s,
            None if new_len == old_len => return Ok(None),
            // The new file is the old one cut short.
            None => new_len,
        };
        let t = Trailer {
            dev: target.dev(),
            ino: target.ino(),
            start,
            old_len,
            new_len,
            payload,
            single: false,
            sum,
        };
        out.write_all(t.line().as_bytes())?;
        self.file.sync_all()?;
        Ok(Some(t))
    }

    /// The journal `finish` sealed, ready to apply; without a trailer
    /// (nothing to do) it is removed.
    pub fn seal(self, trailer: Option<Trailer>) -> Option<Sealed> {
        match trailer {
            Some(trailer) => Some(Sealed {
                journal: self,
                trailer,
            }),
            None => {
                self.discard();
                None
            }
        }
    }

    /// Gives up a rewrite before it touched the mbox.
    pub fn discard(self) {
        drop(self.file);
        let _ = fs::remove_file(&self.path);
    }
}

/// A writer that compares what it is given with the old file and writes
/// the runs that differ to the journal.
pub struct Diverge<'a> {
    old_len: u64,
    read_at: ReadAt<'a>,
    /// The old file's octets from `.0` on, as last read.
    window: (u64, Vec<u8>),
    out: io::BufWriter<&'a File>,
    /// Octets of the new file taken so far.
    pos: u64,
    /// The first octet that differs.
    start: Option<u64>,
    /// The run being written: its offset and length so far.
    run: Option<(u64, u64)>,
    /// Octets just before `pos`, after the run, equal to the old file's at
    /// the same place: joined to the run if a difference follows soon.
    same: u64,
    /// Octets of journal written.
    written: u64,
    sum: u64,
}

impl Diverge<'_> {
    fn put(&mut self, b: &[u8]) -> io::Result<()> {
        self.out.write_all(b)?;
        self.sum = fnv1a(self.sum, b);
        self.written += b.len() as u64;
        Ok(())
    }

    /// Ends the run being written with its offset and length.
    fn close_run(&mut self) -> io::Result<()> {
        if let Some((off, len)) = self.run.take() {
            let mut f = off.to_le_bytes().to_vec();
            f.extend_from_slice(&len.to_le_bytes());
            self.put(&f)?;
        }
        self.same = 0;
        Ok(())
    }

    /// Makes the window hold the old file's `at..at + n` (as much of it as
    /// there is) and the `MBOX_JOURNAL_RUN_GAP` octets before, which a run
    /// may join.
    fn fill(&mut self, at: u64, n: usize) -> io::Result<()> {
        let end = (at + n as u64).min(self.old_len);
        let (w, data) = &self.window;
        if at >= *w && end <= *w + data.len() as u64 {
            return Ok(());
        }
        let from = at.saturating_sub(MBOX_JOURNAL_RUN_GAP);
        let len = end
            .saturating_sub(from)
            .max(MBOX_COMPARE_READ_MIN as u64)
            .min(self.old_len - from.min(self.old_len));
        let mut data = std::mem::take(&mut self.window.1);
        data.resize(len as usize, 0);
        (self.read_at)(&mut data, from)?;
        self.window = (from, data);
        Ok(())
    }

    /// The old file's octets from `at` (before `at + n`), from the window.
    fn old(&self, at: u64, n: usize) -> &[u8] {
        let (w, data) = &self.window;
        let from = at.saturating_sub(*w) as usize;
        data.get(from..).map_or(&[], |d| &d[..d.len().min(n)])
    }
}

impl Write for Diverge<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.fill(self.pos, buf.len())?;
        let mut i = 0;
        while i < buf.len() {
            let at = self.pos + i as u64;
            let rest = &buf[i..];
            // Equal octets, then a difference running until the next
            // equal octet.
            let (same, differ) = {
                let old = self.old(at, rest.len());
                let same = rest.iter().zip(old).take_while(|(a, b)| a == b).count();
                let old = &old[same.min(old.len())..];
                let differ = rest[same..]
                    .iter()
                    .enumerate()
                    .take_while(|(k, b)| old.get(*k) != Some(b))
                    .count();
                (same, differ)
            };
            i += same;
            self.same += same as u64;
            if i == buf.len() {
                break;
            }
            let here = self.pos + i as u64;
            self.start.get_or_insert(here);
            match self.run {
                // Right after the run: it goes on.
                Some(_) if self.same == 0 => {}
                Some(_) if self.same <= MBOX_JOURNAL_RUN_GAP => {
                    // Close behind: the equal octets between join the run
                    // (the window keeps them).
                    let gap = self.old(here - self.same, self.same as usize).to_vec();
                    self.put(&gap)?;
                    if let Some((_, len)) = &mut self.run {
                        *len += self.same;
                    }
                    self.same = 0;
                }
                _ => {
                    self.close_run()?;
                    self.run = Some((here, 0));
                }
            }
            self.put(&buf[i..i + differ])?;
            if let Some((_, len)) = &mut self.run {
                *len += differ as u64;
            }
            i += differ;
        }
        self.pos += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

impl crate::store::mbox::file::Skip for Diverge<'_> {
    /// The octets are the old file's at the same place: as if written and
    /// found equal.
    fn skip(&mut self, n: usize) -> io::Result<bool> {
        if self.pos + n as u64 > self.old_len {
            return Ok(false);
        }
        self.same += n as u64;
        self.pos += n as u64;
        Ok(true)
    }
}

/// A sealed journal, ready to be applied.
pub struct Sealed {
    journal: Journal,
    trailer: Trailer,
}

impl Sealed {
    /// Gives up before the mbox was touched.
    pub fn discard(self) {
        self.journal.discard();
    }

    /// Writes the rewrite into `mbox` (open for writing, under the write
    /// lock; nobody may hold a map of it) and removes the journal.
    pub fn apply(self, mbox: &File) -> Result<()> {
        apply(&self.journal.file, &self.trailer, mbox)?;
        drop(self.journal.file);
        fs::remove_file(&self.journal.path)?;
        Ok(())
    }
}

/// Step 2: every part can be done again with the same result.
fn apply(j: &File, t: &Trailer, mbox: &File) -> io::Result<()> {
    let runs = t.runs(j)?.ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "rewrite journal runs do not add up",
        )
    })?;
    let big = t.old_len.max(t.new_len);
    if mbox.metadata()?.len() < big {
        mbox.set_len(big)?;
    }
    for (from, off, len) in runs {
        copy_at(j, from, mbox, off, len)?;
    }
    mbox.set_len(t.new_len)?;
    mbox.sync_all()
}

/// Copies `len` octets from `from` at `src` to `to` at `dst`.
pub(super) fn copy_at(from: &File, src: u64, to: &File, dst: u64, len: u64) -> io::Result<()> {
    let mut buf = vec![0u8; CHUNK];
    let mut done = 0u64;
    while done < len {
        let n = (len - done).min(CHUNK as u64) as usize;
        from.read_exact_at(&mut buf[..n], src + done)?;
        to.write_all_at(&buf[..n], dst + done)?;
        done += n as u64;
    }
    Ok(())
}

/// Finishes a rewrite that was cut short (see the module's comment), under
/// the mailbox's write lock on `mbox`, before anything reads it.
pub fn recover(ctl: &Path, mbox_path: &Path, mbox: &File) -> Result<()> {
    let jp = journal_path(ctl);
    let j = match crate::store::open::read(&jp) {
        Ok(j) => j,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let sp = ctl.join(SALVAGE_FILE);
    let meta = mbox.metadata()?;
    let t = match Trailer::read(&j)? {
        Some(t) if t.dev == meta.dev() && t.ino == meta.ino() => t,
        other => {
            // Cut short before it was sealed (the mbox is untouched), or
            // for a file that is no longer there.
            if other.is_some() {
                log::warn!(
                    "{}: rewrite journal of another file removed",
                    mbox_path.display()
                );
            }
            drop(j);
            let _ = fs::remove_file(&sp);
            fs::remove_file(&jp)?;
            return Ok(());
        }
    };
    let cur = meta.len();
    let big = t.old_len.max(t.new_len);
    let salvage = match crate::store::open::read(&sp) {
        Ok(s) => Some(s),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e.into()),
    };
    let salvage = match salvage {
        Some(s) => Some(s),
        None if [t.old_len, t.new_len, big].contains(&cur) => None,
        None => Some(set_aside(mbox, &t, cur, &sp).ok_or_else(|| {
            log::error!(
                "{}: a rewrite was cut short and the file changed since; left as it is \
                 with {} for the administrator",
                mbox_path.display(),
                jp.display()
            );
            StoreError::Corrupt("interrupted rewrite needs the administrator".into())
        })??),
    };
    apply(&j, &t, mbox)?;
    if let Some(s) = salvage {
        let n = s.metadata()?.len();
        mbox.set_len(t.new_len + n)?;
        copy_at(&s, 0, mbox, t.new_len, n)?;
        mbox.sync_all()?;
        drop(s);
        fs::remove_file(&sp)?;
        log::warn!(
            "{}: {n} octets delivered after an interrupted rewrite were kept",
            mbox_path.display()
        );
    }
    drop(j);
    fs::remove_file(&jp)?;
    log::warn!(
        "{}: an interrupted rewrite was completed",
        mbox_path.display()
    );
    Ok(())
}

/// Copies mail appended after a crash (from the highest of the lengths the
/// rewrite can leave at which a `From ` line starts) to the salvage file.
/// `None`: no such place, so it cannot be told what the file holds.
fn set_aside(mbox: &File, t: &Trailer, cur: u64, sp: &Path) -> Option<Result<File>> {
    let mut at: Vec<u64> = vec![t.old_len, t.new_len, t.old_len.max(t.new_len)];
    at.sort_unstable();
    at.dedup();
    let from = at.into_iter().rev().find(|&x| {
        let mut b = [0u8; 5];
        x + 5 <= cur && mbox.read_exact_at(&mut b, x).is_ok() && &b == b"From "
    })?;
    Some((|| -> Result<File> {
        let s = crate::store::open::regular(
            sp,
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600),
        )?;
        copy_at(mbox, from, &s, 0, cur - from)?;
        s.sync_all()?;
        Ok(s)
    })())
}

/// Reads a whole small file (tests).
#[cfg(test)]
fn read_all(p: &Path) -> Vec<u8> {
    fs::read(p).unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Journals `new` against the file at `p` (holding `old`); returns the
    /// sealed journal without applying it.
    fn prepare(ctl: &Path, p: &Path, new: &[u8]) -> Option<Sealed> {
        prepare_in(ctl, p, new, 7)
    }

    /// `prepare`, the new file given in pieces of `piece` octets.
    fn prepare_in(ctl: &Path, p: &Path, new: &[u8], piece: usize) -> Option<Sealed> {
        let old = File::open(p).unwrap();
        let meta = fs::metadata(p).unwrap();
        let j = Journal::create(ctl).unwrap();
        let read_at = |buf: &mut [u8], at: u64| old.read_exact_at(buf, at);
        let mut w = j.writer(meta.len(), &read_at);
        // In odd pieces, as write_entry gives them.
        for piece in new.chunks(piece) {
            w.write_all(piece).unwrap();
        }
        let t = j.finish(w, &meta).unwrap();
        j.seal(t)
    }

    /// A big file compared through the window: changes near and across
    /// the window's edges, runs joined across them, equal stretches longer
    /// than the window, a longer and a shorter new file; applied, the
    /// journal gives the new file, in pieces of any size.
    #[test]
    fn a_big_file_is_compared_through_a_window() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("mbox");
        let old: Vec<u8> = (0..(3 * CHUNK + 5000) as u32)
            .map(|i| (i % 251) as u8)
            .collect();
        let mut edited = old.clone();
        for at in [
            0,
            100,
            CHUNK - 1,
            CHUNK,
            CHUNK + 30,
            2 * CHUNK - 40,
            2 * CHUNK + 20,
        ] {
            edited[at] ^= 0x55;
        }
        let mut longer = b"X-UID: 1\n".to_vec();
        longer.extend_from_slice(&edited);
        let shorter = &edited[..2 * CHUNK + 7];
        for (new, piece) in [
            (&edited[..], 7),
            (&edited[..], 70_000),
            (&longer[..], 4096),
            (shorter, 1000),
        ] {
            fs::write(&p, &old).unwrap();
            let s = prepare_in(d.path(), &p, new, piece).expect("a change");
            s.apply(&rw(&p)).unwrap();
            assert!(read_all(&p) == new, "{} in pieces of {piece}", new.len());
        }
        // Only the runs that changed are journaled when nothing moved.
        fs::write(&p, &old).unwrap();
        let s = prepare_in(d.path(), &p, &edited, 5000).expect("a change");
        assert!(s.trailer.payload < 1000, "{}", s.trailer.payload);
        s.discard();
    }

    /// What a crash after step `step` of `apply` leaves: 1 the file
    /// lengthened, 2 half the new bytes written, 3 all, 4 the file cut to
    /// its new length. Returns the file, open for writing.
    fn crash_after(s: Sealed, p: &Path, step: u32) -> File {
        let t = s.trailer;
        let f = rw(p);
        if step >= 1 {
            f.set_len(t.old_len.max(t.new_len)).unwrap();
        }
        let runs = t.runs(&s.journal.file).unwrap().unwrap();
        if step >= 2 {
            // The first run, half of it.
            let (from, off, len) = runs[runs.len() - 1];
            copy_at(&s.journal.file, from, &f, off, len / 2).unwrap();
        }
        if step >= 3 {
            for &(from, off, len) in &runs {
                copy_at(&s.journal.file, from, &f, off, len).unwrap();
            }
        }
        if step >= 4 {
            f.set_len(t.new_len).unwrap();
        }
        f
    }

    fn rw(p: &Path) -> File {
        OpenOptions::new().read(true).write(true).open(p).unwrap()
    }

    #[test]
    fn applies_from_the_first_difference() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("mbox");
        for (old, new) in [
            (
                &b"From a\n\nabc\n\nFrom b\n\ndef\n\n"[..],
                &b"From a\n\nabc\n\n"[..],
            ),
            (b"From a\n\nabc\n\n", b"From a\nStatus: O\n\nabc\n\n"),
            (b"From a\n\nabc\n\n", b"From a\n\nabd\n\nFrom c\n\nxyz\n\n"),
            (b"", b"From a\n\nx\n\n"),
            (b"From a\n\nx\n\n", b""),
        ] {
            fs::write(&p, old).unwrap();
            let s = prepare(d.path(), &p, new).expect("a change");
            if !old.is_empty() && !new.is_empty() {
                assert!(s.trailer.start > 0, "only the tail is journaled");
            }
            s.apply(&rw(&p)).unwrap();
            assert_eq!(read_all(&p), new);
            assert!(!pending(d.path()));
        }
        fs::write(&p, b"same\n").unwrap();
        assert!(prepare(d.path(), &p, b"same\n").is_none());
        assert!(!pending(d.path()));
    }

    /// The same length with changes in two places far apart: only the
    /// changed runs are journaled, and crash recovery still ends with the
    /// new file; a journal of the first format (one run to the new end,
    /// no offsets) is still applied.
    #[test]
    fn journals_only_the_runs_that_change() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("mbox");
        let (mid, tail) = ("y".repeat(5_000), "x".repeat(10_000));
        let old =
            format!("From a\nStatus: R   \n\none\n{mid}\nFrom b\nStatus: O   \n\ntwo\n\n{tail}");
        let new =
            format!("From a\nStatus: RO  \n\none\n{mid}\nFrom b\nStatus: RO  \n\ntwo\n\n{tail}");
        for crash in 0..5 {
            fs::write(&p, &old).unwrap();
            let s = prepare(d.path(), &p, new.as_bytes()).unwrap();
            let first = old.find("R   ").unwrap() as u64 + 1;
            assert_eq!(s.trailer.start, first);
            let runs = s.trailer.runs(&s.journal.file).unwrap().unwrap();
            let second = old.rfind("O   ").unwrap() as u64;
            // "R   " -> "RO  ": one octet; "O   " -> "RO  ": two.
            assert_eq!(runs, [(1 + FOOTER, second, 2), (0, first, 1)]);
            assert!(fs::metadata(d.path().join(JOURNAL_FILE)).unwrap().len() < 200);
            let f = crash_after(s, &p, crash);
            recover(d.path(), &p, &f).unwrap();
            assert_eq!(read_all(&p), new.as_bytes(), "crash after step {crash}");
        }
        // Format 1: "<magic 1> dev ino start old_len new_len sum".
        fs::write(&p, b"From a\n\none\n\n").unwrap();
        let meta = fs::metadata(&p).unwrap();
        let payload = b"two\n\n";
        let line = format!(
            "\n{MAGIC_1} {} {} 8 13 13 {:016x}\n",
            meta.dev(),
            meta.ino(),
            fnv1a(FNV_START, payload)
        );
        let mut j = payload.to_vec();
        j.extend_from_slice(line.as_bytes());
        fs::write(d.path().join(JOURNAL_FILE), j).unwrap();
        recover(d.path(), &p, &rw(&p)).unwrap();
        assert_eq!(read_all(&p), b"From a\n\ntwo\n\n");
    }

    /// A crash at each step of `apply`: recovery ends with the new file.
    #[test]
    fn recovery_finishes_a_rewrite_cut_short_anywhere() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("mbox");
        let old = b"From a\n\none\n\nFrom b\n\ntwo two two\n\nFrom c\n\nthree\n\n";
        for new in [
            &b"From a\nStatus: RO\n\none\n\n"[..],
            b"From a\n\none\n\nFrom b\n\ntwo two two!\n\nFrom c\n\nthree\n\nFrom d\n\nfour\n\n",
        ] {
            for crash in 0..5 {
                fs::write(&p, old).unwrap();
                let f = crash_after(prepare(d.path(), &p, new).unwrap(), &p, crash);
                assert!(pending(d.path()));
                recover(d.path(), &p, &f).unwrap();
                assert_eq!(read_all(&p), new, "crash after step {crash}");
                assert!(!pending(d.path()));
            }
        }
    }

    /// An MTA appended after the crash: its mail is kept after the new end.
    #[test]
    fn mail_appended_after_a_crash_is_kept() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("mbox");
        let old = b"From a\n\none\n\nFrom b\n\ntwo\n\n";
        let new = b"From a\nStatus: O\n\none\n\n";
        let mta = b"From mta\n\nnew mail\n\n";
        for crash in [0, 3, 4] {
            fs::write(&p, old).unwrap();
            let f = crash_after(prepare(d.path(), &p, new).unwrap(), &p, crash);
            let end = f.metadata().unwrap().len();
            f.write_all_at(mta, end).unwrap();
            recover(d.path(), &p, &f).unwrap();
            let mut want = new.to_vec();
            want.extend_from_slice(mta);
            assert_eq!(read_all(&p), want, "crash after step {crash}");
            assert!(!pending(d.path()));
            assert!(!d.path().join(SALVAGE_FILE).exists());
        }
    }

    /// A journal cut short before its trailer, or damaged: the mbox is
    /// untouched and the journal goes.
    #[test]
    fn unsealed_or_damaged_journal_is_dropped() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("mbox");
        let old = b"From a\n\none\n\n";
        fs::write(&p, old).unwrap();
        fs::write(d.path().join(JOURNAL_FILE), b"From a\nStatus: O\n\non").unwrap();
        recover(d.path(), &p, &rw(&p)).unwrap();
        assert_eq!(read_all(&p), old);
        assert!(!pending(d.path()));
        let s = prepare(d.path(), &p, b"From a\nStatus: O\n\none\n\n").unwrap();
        drop(s);
        let jp = d.path().join(JOURNAL_FILE);
        let mut j = read_all(&jp);
        j[3] ^= 1;
        fs::write(&jp, &j).unwrap();
        recover(d.path(), &p, &rw(&p)).unwrap();
        assert_eq!(read_all(&p), old);
        assert!(!pending(d.path()));
    }

    /// A file changed in a way no crash explains is left alone, journal
    /// included, and reported.
    #[test]
    fn unexplained_change_is_left_for_the_administrator() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("mbox");
        fs::write(&p, b"From a\n\none\n\n").unwrap();
        let s = prepare(d.path(), &p, b"From a\nStatus: O\n\none\n\n").unwrap();
        drop(s);
        let f = rw(&p);
        f.write_all_at(b"garbage", 13).unwrap();
        let before = read_all(&p);
        assert!(matches!(
            recover(d.path(), &p, &f),
            Err(StoreError::Corrupt(_))
        ));
        assert_eq!(read_all(&p), before);
        assert!(pending(d.path()));
    }
}
