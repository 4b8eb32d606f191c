//! The one way to open a file under a mail store (DESIGN.md 4, "opening
//! files").
//!
//! Every file a store opens (message files, indexes, caches, keyword and
//! subscription files, lock files, mbox files) may have been replaced by
//! another program or by the user with something hostile: a FIFO, whose
//! `open(2)` blocks until a writer comes (and the idle timeout cannot fire
//! while we are blocked in the kernel), a device, a directory, or a symbolic
//! link to another user's or the system's files. So:
//!
//! * `O_NOFOLLOW`: a symbolic link as the last component is refused (ELOOP),
//!   also when creating, so a planted link cannot make us write elsewhere;
//! * `O_NONBLOCK`: opening a FIFO or device returns at once;
//! * `fstat` must then say "regular file", or the open is refused;
//! * then `O_NONBLOCK` is cleared again, so reads behave normally;
//! * `O_CLOEXEC` always (std sets it).
//!
//! Directories on the way are followed as the kernel resolves them: an
//! administrator's symlinked `~/Maildir` works; what is inside a mail store
//! is checked by the stores themselves (names never contain `/` or `..`).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use rustix::fs::OFlags;

/// Where `anonymous` makes its files, once a session knows its store.
static SCRATCH: OnceLock<PathBuf> = OnceLock::new();

/// Makes `dir`, a directory of the user's own mail store, the place for
/// this process's anonymous files (big APPEND literals, big mbox
/// messages): a sealed session reaches nothing else (DESIGN.md 5). Set
/// once; before, `$TMPDIR` or `/tmp`.
pub fn set_scratch_dir(dir: PathBuf) {
    let _ = SCRATCH.set(dir);
}

/// A new file with no name, for reading and writing, that nothing is
/// left of when the process dies: O_TMPFILE in the scratch directory
/// (made, mode 0700, when missing); on a file system without O_TMPFILE
/// (NFS), a unique name removed at once.
pub fn anonymous() -> io::Result<File> {
    use rustix::fs::{Mode, CWD};
    let dir = match SCRATCH.get() {
        Some(d) => d.clone(),
        None => std::env::var_os("TMPDIR").map_or_else(|| PathBuf::from("/tmp"), PathBuf::from),
    };
    let mode = Mode::RUSR | Mode::WUSR;
    let flags = OFlags::TMPFILE | OFlags::RDWR | OFlags::CLOEXEC;
    let mut opened = rustix::fs::openat(CWD, &dir, flags, mode);
    if matches!(opened, Err(rustix::io::Errno::NOENT)) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)?;
        opened = rustix::fs::openat(CWD, &dir, flags, mode);
    }
    match opened {
        Ok(fd) => Ok(File::from(fd)),
        Err(e) if e == rustix::io::Errno::OPNOTSUPP || e == rustix::io::Errno::ISDIR => {
            let n = REPLACE_COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = dir.join(format!(".anonymous.{}.{n}", std::process::id()));
            let f = regular(
                &path,
                OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create_new(true)
                    .mode(0o600),
            )?;
            std::fs::remove_file(&path)?;
            Ok(f)
        }
        Err(e) => Err(e.into()),
    }
}

/// Opens `path` for reading, as a regular file only.
pub fn read(path: &Path) -> io::Result<File> {
    regular(path, OpenOptions::new().read(true))
}

/// Opens `path` for reading and writing, creating it (mode 0600) when
/// missing, as a regular file only: lock files and append-only caches.
pub fn read_write(path: &Path) -> io::Result<File> {
    regular(
        path,
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600),
    )
}

/// Opens `path` with `options` (which may create it), as a regular file only.
pub fn regular(path: &Path, options: &mut OpenOptions) -> io::Result<File> {
    let file = options
        .custom_flags((OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC).bits() as i32)
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::ELOOP) {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: is a symbolic link", path.display()),
                )
            } else {
                e
            }
        })?;
    let file = only_regular(file, path)?;
    let flags = rustix::fs::fcntl_getfl(&file)?;
    rustix::fs::fcntl_setfl(&file, flags - OFlags::NONBLOCK)?;
    Ok(file)
}

/// `file`, opened with `O_NONBLOCK` (so that opening a FIFO planted in
/// its place does not hang), if it is a regular file.
fn only_regular(file: File, path: &Path) -> io::Result<File> {
    if !file.metadata()?.file_type().is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: not a regular file", path.display()),
        ));
    }
    Ok(file)
}

/// Opens `name` in the directory `dir` for reading, as a regular file
/// only, as `read` does, with one path component to look up instead of
/// the whole path (a session reads each message of a big mailbox so).
/// `O_NONBLOCK` stays set: a regular file's reads never take it into
/// account, and clearing it would cost two more system calls a message.
pub fn read_at(dir: &File, name: &str) -> io::Result<File> {
    let fd = rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| {
        if e == rustix::io::Errno::LOOP {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{name}: is a symbolic link"),
            )
        } else {
            e.into()
        }
    })?;
    only_regular(File::from(fd), Path::new(name))
}

/// The modification time (seconds) of `name` in the directory `dir`, not
/// following a symbolic link: one path component to look up, as `read_at`.
pub fn mtime_at(dir: &File, name: &str) -> io::Result<i64> {
    let st = rustix::fs::statat(dir, name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW)?;
    Ok(st.st_mtime)
}

/// Opens the directory `path` (not through a symbolic link), for
/// `read_at`.
pub fn directory(path: &Path) -> io::Result<File> {
    let fd = rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )?;
    Ok(File::from(fd))
}

static REPLACE_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Replaces the small file `path` as a whole (DESIGN.md 4: nothing is
/// lost): a new file beside it (unique to this process, never through a
/// link), written, then when `durable` fsynced, renamed over `path`, and the
/// directory fsynced. A crash leaves the old file or the new one, never a
/// torn one. Without `durable` (a cache whose loss costs only a rebuild)
/// there is no fsync.
pub fn replace(path: &Path, data: &[u8], durable: bool) -> io::Result<()> {
    replace_with(path, durable, |f| f.write_all(data))
}

/// `replace`, the new file's content written by `write` (a large file
/// need not be in memory whole). The file is open for reading too, so
/// that `write` may keep a descriptor of it (`try_clone`) to read what it
/// wrote.
pub fn replace_with(
    path: &Path,
    durable: bool,
    write: impl FnOnce(&mut File) -> io::Result<()>,
) -> io::Result<()> {
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let n = REPLACE_COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut tmp_name = name.to_owned();
    tmp_name.push(format!(".{}.{n}.tmp", std::process::id()));
    let tmp = dir.join(tmp_name);
    let r = (|| {
        let mut f = regular(
            &tmp,
            OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .mode(0o600),
        )?;
        write(&mut f)?;
        if durable {
            f.sync_all()?;
        }
        drop(f);
        std::fs::rename(&tmp, path)?;
        if durable {
            File::open(dir)?.sync_all()?;
        }
        Ok(())
    })();
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r
}

/// Reads the small file `path` whole, refusing one of more than `max`
/// octets (a control file grown out of bounds is damage, not data).
pub fn read_small(path: &Path, max: u64) -> io::Result<String> {
    let f = read(path)?;
    if f.metadata()?.len() > max {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "file too large"));
    }
    let mut s = String::new();
    io::Read::read_to_string(&mut io::Read::take(f, max), &mut s)?;
    Ok(s)
}

/// Whether `e` is `regular`'s refusal of something that is not a regular
/// file (a FIFO, a device, a directory, a symbolic link).
pub fn is_not_regular(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::InvalidData
        || e.raw_os_error() == Some(libc::EISDIR)
        || e.raw_os_error() == Some(libc::ELOOP)
        // O_WRONLY|O_NONBLOCK of a FIFO that no one reads.
        || e.raw_os_error() == Some(libc::ENXIO)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::time::{Duration, Instant};

    #[test]
    fn regular_files_open_and_read_normally() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m");
        std::fs::write(&p, b"hello").unwrap();
        let mut s = String::new();
        read(&p).unwrap().read_to_string(&mut s).unwrap();
        assert_eq!(s, "hello");
        let f = read(&p).unwrap();
        let fl = rustix::fs::fcntl_getfl(&f).unwrap();
        assert!(!fl.contains(OFlags::NONBLOCK));
        // By name in its directory, the same octets.
        let mut s = String::new();
        read_at(&directory(dir.path()).unwrap(), "m")
            .unwrap()
            .read_to_string(&mut s)
            .unwrap();
        assert_eq!(s, "hello");
    }

    #[test]
    fn read_at_refuses_what_is_not_a_regular_file() {
        let dir = tempfile::tempdir().unwrap();
        let d = directory(dir.path()).unwrap();
        rustix::fs::mkfifoat(&d, "fifo", rustix::fs::Mode::from_raw_mode(0o600)).unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("link")).unwrap();
        for name in ["fifo", "sub", "link", "missing"] {
            assert!(read_at(&d, name).is_err(), "{name}");
        }
    }

    #[test]
    fn replace_writes_the_whole_file_and_leaves_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state");
        replace(&p, b"one", true).unwrap();
        replace(&p, b"two", false).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
        // A planted link where the file is: replaced, its target untouched.
        let target = dir.path().join("target");
        std::fs::write(&target, b"keep").unwrap();
        std::fs::remove_file(&p).unwrap();
        std::os::unix::fs::symlink(&target, &p).unwrap();
        replace(&p, b"three", true).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"keep");
        assert!(!p.is_symlink());
    }

    #[test]
    fn a_fifo_is_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("fifo");
        rustix::fs::mkfifoat(rustix::fs::CWD, &p, rustix::fs::Mode::from_raw_mode(0o600)).unwrap();
        let t = Instant::now();
        let e = read(&p).unwrap_err();
        assert!(is_not_regular(&e), "{e}");
        // With write access too (a lock file), as open(2) of a FIFO O_WRONLY
        // would block as well.
        let e = regular(&p, OpenOptions::new().write(true).create(true)).unwrap_err();
        assert!(is_not_regular(&e), "{e}");
        assert!(t.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn symlinks_and_directories_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        std::fs::write(&target, b"secret").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let e = read(&link).unwrap_err();
        assert!(is_not_regular(&e), "{e}");
        // Creating through a planted link writes nothing at its target.
        let e = regular(&link, OpenOptions::new().write(true).create(true)).unwrap_err();
        assert!(is_not_regular(&e), "{e}");
        let dangling = dir.path().join("dangling");
        std::os::unix::fs::symlink(dir.path().join("nowhere"), &dangling).unwrap();
        let e = regular(&dangling, OpenOptions::new().write(true).create(true)).unwrap_err();
        assert!(is_not_regular(&e), "{e}");
        assert!(!dir.path().join("nowhere").exists());
        let e = read(dir.path()).unwrap_err();
        assert!(is_not_regular(&e), "{e}");
        // A link to a directory on the way is followed.
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        std::fs::File::create(sub.join("f"))
            .unwrap()
            .write_all(b"x")
            .unwrap();
        let sublink = dir.path().join("sublink");
        std::os::unix::fs::symlink(&sub, &sublink).unwrap();
        assert!(read(&sublink.join("f")).is_ok());
    }
}
