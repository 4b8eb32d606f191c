//! Advisory locks on lock files, with a bounded wait; and the locks of an
//! mbox file as other mail programs take them (`MboxGuard`).
//!
//! We use `flock(2)` (through rustix's safe wrapper; std's `File::try_lock`
//! needs Rust 1.89, newer than our MSRV): the kernel drops it when the
//! process dies, so a crash never leaves a stale lock behind. A lock that cannot be had within `LOCK_WAIT_MAX` is
//! `StoreError::InUse`: a session never hangs on another one.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime};

use rustix::fs::{fcntl_lock, flock, FlockOperation};
use rustix::io::Errno;

use super::{Result, StoreError};
use crate::config::MboxLock;
use crate::limits::{LOCK_PAUSE_MAX, LOCK_PAUSE_MIN, LOCK_WAIT_MAX, MBOX_DOTLOCK_STALE};

/// An exclusive lock, held until dropped.
#[derive(Debug)]
pub struct Lock {
    file: File,
}

impl Lock {
    /// Takes an exclusive lock on `path`, creating the file (mode 0600) if
    /// needed; retries with growing pauses until `LOCK_WAIT_MAX` has passed.
    pub fn exclusive(path: &Path) -> Result<Lock> {
        Lock::exclusive_within(path, LOCK_WAIT_MAX)
    }

    /// `exclusive` with another bound on the wait.
    pub fn exclusive_within(path: &Path, wait: Duration) -> Result<Lock> {
        let open = || crate::store::open::read_write(path);
        let file = match open() {
            // A FIFO or a symbolic link planted as our lock file holds no
            // lock of anyone's: replace it with a lock file.
            Err(e) if crate::store::open::is_not_regular(&e) => {
                log::warn!("{}: {e}; replacing it", path.display());
                fs::remove_file(path)?;
                open()?
            }
            r => r?,
        };
        retry(Instant::now() + wait, || {
            flock(&file, FlockOperation::NonBlockingLockExclusive)
        })?;
        Ok(Lock { file })
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        // Closing the file releases the lock anyway; unlocking first only
        // makes it explicit. An error here cannot be acted upon.
        let _ = flock(&self.file, FlockOperation::Unlock);
    }
}

/// The locks of one mbox file, held until dropped.
///
/// Order (the one Debian's MTAs, procmail, mutt and Dovecot use): the dotlock
/// `PATH.lock` first, then the file is opened, then the kernel locks
/// (fcntl, flock, lockf) on the open file, in the configured order. Opening
/// after the dotlock matters: a rewrite renames a new file into place while
/// holding the dotlock, so whoever waited on it opens the new file. With no
/// dotlock configured, the open file is compared with the path after
/// locking, and the locks are taken again if the path now names another
/// file.
///
/// `lockf` is fcntl record locking under another name (glibc's lockf locks
/// from the current offset, 0 here, to the end with `F_SETLK`), so it is the
/// same lock as `fcntl`; both are POSIX record locks, owned by the process:
/// two threads of one process do not exclude each other with them, only
/// with the dotlock (each of our sessions is its own process).
#[derive(Debug)]
pub struct MboxGuard {
    file: File,
    dotlock: Option<PathBuf>,
    flocked: bool,
}

impl MboxGuard {
    /// Takes the locks `kinds` on the mbox at `path` within `wait`.
    /// `write`: exclusive locks and a read-write file, created (mode 0600)
    /// if missing; otherwise only the kernel locks, shared (as Dovecot's
    /// `mbox_read_locks = fcntl`), unless the dotlock is the only one
    /// configured. A missing file without `write` is `NotFound`.
    pub fn lock(path: &Path, kinds: &[MboxLock], write: bool, wait: Duration) -> Result<MboxGuard> {
        let deadline = Instant::now() + wait;
        let only_dotlock = kinds.iter().all(|k| *k == MboxLock::Dotlock);
        let use_dotlock = kinds.contains(&MboxLock::Dotlock) && (write || only_dotlock);
        loop {
            let dotlock = if use_dotlock {
                Some(in_spool(|| dotlock(path, deadline))?)
            } else {
                None
            };
            let mut guard = MboxGuard {
                file: match in_spool(|| open_mbox(path, write).map_err(StoreError::from)) {
                    Ok(f) => f,
                    Err(e) => {
                        if let Some(d) = &dotlock {
                            remove_in_spool(d);
                        }
                        return Err(e);
                    }
                },
                dotlock,
                flocked: false,
            };
            for k in kinds {
                match k {
                    MboxLock::Dotlock => {}
                    MboxLock::Fcntl | MboxLock::Lockf => {
                        let op = if write {
                            FlockOperation::NonBlockingLockExclusive
                        } else {
                            FlockOperation::NonBlockingLockShared
                        };
                        retry(deadline, || fcntl_lock(&guard.file, op))?;
                    }
                    MboxLock::Flock => {
                        let op = if write {
                            FlockOperation::NonBlockingLockExclusive
                        } else {
                            FlockOperation::NonBlockingLockShared
                        };
                        retry(deadline, || flock(&guard.file, op))?;
                        guard.flocked = true;
                    }
                }
            }
            if guard.dotlock.is_some() || same_file(&guard.file, path)? {
                return Ok(guard);
            }
            // Replaced while we waited: lock the new file instead.
            drop(guard);
            if Instant::now() >= deadline {
                return Err(StoreError::InUse);
            }
        }
    }

    /// The locked file, open for reading (and writing when locked for it).
    /// Never open the mbox a second time while holding the guard: closing
    /// any descriptor of a file drops the process's fcntl locks on it.
    pub fn file(&self) -> &File {
        &self.file
    }
}

impl Drop for MboxGuard {
    fn drop(&mut self) {
        // Kernel locks go with the descriptor; release them before the
        // dotlock so that nobody holding the dotlock finds them still set.
        let _ = fcntl_lock(&self.file, FlockOperation::NonBlockingUnlock);
        if self.flocked {
            let _ = flock(&self.file, FlockOperation::Unlock);
        }
        if let Some(d) = &self.dotlock {
            remove_in_spool(d);
        }
    }
}

/// Runs `f`, a creation of a file in the mbox's directory, again with
/// `mail_privileged_group` as the effective group when it was refused
/// (a user cannot create files in Debian's `/var/mail`, root:mail 2775):
/// the dotlock, or an INBOX spool file not delivered to yet. As Dovecot
/// does, the group is used only when the plain attempt fails.
fn in_spool<T>(f: impl Fn() -> Result<T>) -> Result<T> {
    match f() {
        Err(StoreError::Io(e))
            if e.kind() == std::io::ErrorKind::PermissionDenied
                && crate::privsep::has_privileged_group() =>
        {
            crate::privsep::with_privileged_group(f)
        }
        r => r,
    }
}

/// Removes a dotlock, with the privileged group if that is what it takes.
fn remove_in_spool(lock: &Path) {
    let _ = in_spool(|| fs::remove_file(lock).map_err(StoreError::from));
}

fn open_mbox(path: &Path, write: bool) -> std::io::Result<File> {
    let mut o = OpenOptions::new();
    o.read(true);
    if write {
        o.write(true).create(true).truncate(false).mode(0o600);
    }
    crate::store::open::regular(path, &mut o)
}

fn same_file(f: &File, path: &Path) -> Result<bool> {
    use std::os::unix::fs::MetadataExt;
    let a = f.metadata()?;
    match fs::symlink_metadata(path) {
        Ok(b) => Ok(a.dev() == b.dev() && a.ino() == b.ino()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(StoreError::Io(e)),
    }
}

/// Retries a non-blocking lock with growing pauses until `deadline`.
fn retry(deadline: Instant, mut f: impl FnMut() -> rustix::io::Result<()>) -> Result<()> {
    let mut pause = LOCK_PAUSE_MIN;
    loop {
        match f() {
            Ok(()) => return Ok(()),
            Err(e)
                if e == Errno::WOULDBLOCK
                    || e == Errno::AGAIN
                    || e == Errno::ACCESS
                    || e == Errno::INTR => {}
            Err(e) => return Err(StoreError::Io(e.into())),
        }
        if Instant::now() >= deadline {
            return Err(StoreError::InUse);
        }
        sleep(pause);
        pause = (pause * 2).min(LOCK_PAUSE_MAX);
    }
}

static DOTLOCK_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Whether a dotlock says it belongs to a process of this host that no
/// longer exists (killed with `kill -9`, say).
fn owner_dead(lock: &Path) -> bool {
    let mut s = String::new();
    let Ok(_) = crate::store::open::read(lock)
        .and_then(|f| std::io::Read::take(f, 64).read_to_string(&mut s))
    else {
        return false;
    };
    let Some((pid, host)) = s.trim().split_once(':') else {
        return false;
    };
    if host != crate::config::host_name() || host.is_empty() {
        return false;
    }
    let Some(pid) = pid.parse().ok().and_then(rustix::process::Pid::from_raw) else {
        return false;
    };
    rustix::process::test_kill_process(pid) == Err(Errno::SRCH)
}

/// Takes `PATH.lock` the NFS-safe way (as liblockfile does): a uniquely
/// named file is created, hard-linked to the lock name, and the lock is ours
/// when the unique file then has two links (link(2) over NFS may report
/// failure after succeeding, or success after failing). A lock file older
/// than `MBOX_DOTLOCK_STALE` is left by a dead process and is removed.
pub fn dotlock(path: &Path, deadline: Instant) -> Result<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or(StoreError::NotAllowed("mbox path has no file name"))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let lock = dir.join(format!("{name}.lock"));
    let n = DOTLOCK_COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.lk{}.{n}", std::process::id()));
    let mut pause = LOCK_PAUSE_MIN;
    loop {
        let mut f = crate::store::open::regular(
            &tmp,
            OpenOptions::new().write(true).create_new(true).mode(0o644),
        )?;
        // "PID:HOST", as Dovecot writes it (liblockfile's atoi reads the
        // pid): lets a lock left by a dead process on this host be broken
        // at once.
        let _ = writeln!(f, "{}:{}", std::process::id(), crate::config::host_name());
        drop(f);
        let _ = fs::hard_link(&tmp, &lock);
        let links = fs::metadata(&tmp).map(|m| m.nlink()).unwrap_or(0);
        let _ = fs::remove_file(&tmp);
        if links == 2 {
            return Ok(lock);
        }
        if let Ok(m) = fs::symlink_metadata(&lock) {
            let age = m
                .modified()
                .ok()
                .and_then(|t| SystemTime::now().duration_since(t).ok());
            if age.is_some_and(|a| a > MBOX_DOTLOCK_STALE) || owner_dead(&lock) {
                log::warn!("{}: removing stale lock file", lock.display());
                let _ = fs::remove_file(&lock);
                continue;
            }
        }
        if Instant::now() >= deadline {
            return Err(StoreError::InUse);
        }
        sleep(pause);
        pause = (pause * 2).min(LOCK_PAUSE_MAX);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_waits_then_gets_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("lock");
        let l = Lock::exclusive(&p).expect("first");
        let p2 = p.clone();
        let t = std::thread::spawn(move || Lock::exclusive(&p2).map(|_| ()));
        sleep(Duration::from_millis(50));
        drop(l);
        assert!(t.join().expect("join").is_ok());
    }

    #[test]
    fn held_lock_gives_in_use_not_a_hang() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("lock");
        let _l = Lock::exclusive(&p).expect("first");
        let start = Instant::now();
        let r = Lock::exclusive_within(&p, Duration::from_millis(200));
        assert!(matches!(r, Err(StoreError::InUse)));
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn posix_lock_of_another_process_is_honoured() {
        // Python's fcntl.lockf is F_SETLK, as MTAs lock mbox files.
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("mbox");
        std::fs::write(&p, "").expect("write");
        let mut child = std::process::Command::new("python3")
            .arg("-c")
            .arg(
                "import fcntl,sys,time\nf=open(sys.argv[1],'r+')\nfcntl.lockf(f,fcntl.LOCK_EX)\n\
                 print('locked',flush=True)\ntime.sleep(3)",
            )
            .arg(&p)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3");
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().expect("stdout")),
            &mut line,
        )
        .expect("read");
        assert_eq!(line, "locked\n");
        let short = Duration::from_millis(200);
        for kinds in [&[MboxLock::Fcntl][..], &[MboxLock::Lockf]] {
            let r = MboxGuard::lock(&p, kinds, false, short);
            assert!(matches!(r, Err(StoreError::InUse)), "{kinds:?}");
        }
        // flock(2) locks are a different lock.
        assert!(MboxGuard::lock(&p, &[MboxLock::Flock], true, short).is_ok());
        let _ = child.kill();
        let _ = child.wait();
        assert!(MboxGuard::lock(&p, &[MboxLock::Fcntl], true, Duration::from_secs(5)).is_ok());
    }
}
