//! Advisory locks on lock files, with a bounded wait.
//!
//! We use `flock(2)` (through rustix's safe wrapper; std's `File::try_lock`
//! needs Rust 1.89, newer than our MSRV): the kernel drops it when the
//! process dies, so a crash never leaves a stale lock behind. A lock that cannot be had within `LOCK_WAIT_MAX` is
//! `StoreError::InUse`: a session never hangs on another one.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::thread::sleep;
use std::time::{Duration, Instant};

use rustix::fs::{flock, FlockOperation};
use rustix::io::Errno;

use super::{Result, StoreError};
use crate::limits::LOCK_WAIT_MAX;

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
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)?;
        let start = Instant::now();
        let mut pause = Duration::from_millis(2);
        loop {
            match flock(&file, FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => return Ok(Lock { file }),
                Err(e) if e == Errno::WOULDBLOCK || e == Errno::INTR => {}
                Err(e) => return Err(StoreError::Io(e.into())),
            }
            if start.elapsed() >= wait {
                return Err(StoreError::InUse);
            }
            sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(100));
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        // Closing the file releases the lock anyway; unlocking first only
        // makes it explicit. An error here cannot be acted upon.
        let _ = flock(&self.file, FlockOperation::Unlock);
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
}
