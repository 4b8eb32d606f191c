//! Real PAM through libpam and pam_unix: a test service file and test users
//! with real passwords, created here. Needs root (make test runs as root).

use std::process::Command;
use std::sync::Once;

use mailaccess::auth::pam::{authenticate, PamError};

const SERVICE: &str = "mailaccess-test";
const GOOD: &str = "mapam-good";
const LOCKED: &str = "mapam-locked";
const EXPIRED: &str = "mapam-expired";
const PASSWORD: &str = "correct horse 42";

fn sh(cmd: &str) {
    let st = Command::new("sh").arg("-c").arg(cmd).status().expect("sh");
    assert!(st.success(), "failed: {cmd}");
}

/// Creates the PAM service file and the users once per test run.
fn setup() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        assert!(rustix::process::getuid().is_root(), "this test needs root: run it through `make test`");
        std::fs::write(
            format!("/etc/pam.d/{SERVICE}"),
            "# mailaccess test service (tests/pam_real.rs)\nauth required pam_unix.so\naccount required pam_unix.so\n",
        )
        .unwrap();
        for u in [GOOD, LOCKED, EXPIRED] {
            sh(&format!("id {u} >/dev/null 2>&1 || useradd --no-create-home --shell /usr/sbin/nologin {u}"));
            sh(&format!("echo '{u}:{PASSWORD}' | chpasswd"));
        }
        sh(&format!("usermod -L {LOCKED}"));
        sh(&format!("chage -E 1 {EXPIRED}"));
    });
}

#[test]
fn good_password_is_accepted() {
    setup();
    assert_eq!(
        authenticate(SERVICE, GOOD, PASSWORD.as_bytes(), Some("127.0.0.1")),
        Ok(())
    );
}

#[test]
fn wrong_password_and_unknown_user_are_denied_alike() {
    setup();
    let wrong = authenticate(SERVICE, GOOD, b"wrong", None);
    assert!(matches!(wrong, Err(PamError::Denied(_))), "{wrong:?}");
    let unknown = authenticate(SERVICE, "mapam-nobody", PASSWORD.as_bytes(), None);
    assert!(matches!(unknown, Err(PamError::Denied(_))), "{unknown:?}");
    let empty = authenticate(SERVICE, GOOD, b"", None);
    assert!(empty.is_err(), "{empty:?}");
}

#[test]
fn locked_and_expired_accounts_are_refused() {
    setup();
    let locked = authenticate(SERVICE, LOCKED, PASSWORD.as_bytes(), None);
    assert!(locked.is_err(), "{locked:?}");
    let expired = authenticate(SERVICE, EXPIRED, PASSWORD.as_bytes(), None);
    assert!(matches!(expired, Err(PamError::Account(_))), "{expired:?}");
}
