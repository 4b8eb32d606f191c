//! Debian 12's Courier programs, unpacked (not installed: Courier's
//! packages conflict with Dovecot's) by `scripts/test-deps.sh` into
//! `/var/cache/mailaccess-test/courier`, as `make test` does.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

/// Where Courier is unpacked; panics with what to do when it is not.
pub fn root() -> PathBuf {
    let root = PathBuf::from(
        std::env::var("MAILACCESS_COURIER_ROOT")
            .unwrap_or_else(|_| "/var/cache/mailaccess-test/courier".into()),
    );
    assert!(
        root.join("usr/bin/imapd").exists() && root.join("usr/bin/maildirmake.courier").exists(),
        "Courier is not unpacked in {}: run `make test-deps` (as root) first",
        root.display()
    );
    root
}

/// The command running `program` (a path under the root) with Courier's
/// libraries and an empty environment but PATH.
pub fn command(program: &str) -> Command {
    let root = root();
    let libs = format!(
        "{}:{}",
        root.join("usr/lib").display(),
        root.join("usr/lib/x86_64-linux-gnu").display()
    );
    let mut cmd = Command::new(root.join(program));
    cmd.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("LD_LIBRARY_PATH", libs);
    cmd
}
