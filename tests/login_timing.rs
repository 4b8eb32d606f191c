//! A security property, tested: an unknown user and a wrong password take
//! the same time to be refused (DESIGN.md 6), so the delay cannot be used
//! to find out which accounts exist. PAM through the imapd binary started
//! as root, auth_failure_delay = 200ms.

mod common;
mod login_support;

use std::time::{Duration, Instant};

use common::Server;
use login_support::*;

const TRIES: usize = 8;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2
}

/// Sends LOGIN and returns the time until the NO reply.
fn timed_failure(srv: &mut Server, tag: &str, user: &str, password: &str) -> Duration {
    let t0 = Instant::now();
    srv.send(&format!("{tag} LOGIN {user} \"{password}\""));
    let l = srv.line();
    let d = t0.elapsed();
    assert!(
        l.starts_with(&format!("{tag} NO [AUTHENTICATIONFAILED]")),
        "{l}"
    );
    d
}

/// Interleaved failures of an unknown user and of a known user with a
/// wrong password on one connection; asserts both are delayed by at least
/// auth_failure_delay and their medians differ by less than 10%.
fn compare(mut srv: Server, known: &str, unknown: &str, password: &str) {
    greeting(&mut srv);
    // Warm-up: PAM loads its modules on first use.
    timed_failure(&mut srv, "w1", known, WRONG);
    timed_failure(&mut srv, "w2", unknown, WRONG);
    let (mut unknown_t, mut wrong_t) = (Vec::new(), Vec::new());
    for i in 0..TRIES {
        // Interleaved, so that load on the machine hits both alike.
        unknown_t.push(timed_failure(&mut srv, &format!("u{i}"), unknown, password));
        wrong_t.push(timed_failure(&mut srv, &format!("p{i}"), known, WRONG));
    }
    let (mu, mw) = (median(unknown_t.clone()), median(wrong_t.clone()));
    for d in unknown_t.iter().chain(&wrong_t) {
        assert!(
            *d >= Duration::from_millis(195),
            "a failure came back after {d:?}, before auth_failure_delay (200ms)"
        );
    }
    eprintln!("median time to NO: unknown user {mu:?}, wrong password {mw:?}");
    let diff = mu.abs_diff(mw).as_secs_f64();
    let base = mu.max(mw).as_secs_f64();
    assert!(
        diff / base < 0.10,
        "medians differ by {:.1}%: unknown user {mu:?}, wrong password {mw:?}\nunknown: {unknown_t:?}\nwrong: {wrong_t:?}",
        100.0 * diff / base
    );
    logout(&mut srv);
}

#[test]
fn pam_unknown_user_and_wrong_password_take_the_same_time() {
    pam_users();
    let s = Setup::new();
    let srv =
        Server::start(s.imapd_loopback(&["auth_failure_delay=200ms", "auth_max_failures=100"]));
    compare(srv, ALICE, NOBODY, PASSWORD);
}

#[test]
fn sasldb_unknown_user_and_wrong_password_take_the_same_time() {
    require_login_jail();
    let s = Setup::new();
    let db = s.path().join("sasldb2");
    saslpasswd(&db, "example.org", "erin", PASSWORD);
    let srv = Server::start(s.imapd_loopback(&[
        "auth=sasldb",
        &format!("sasldb_path={}", db.display()),
        "sasl_realm=example.org",
        "virtual_user=mailtest",
        "auth_failure_delay=200ms",
        "auth_max_failures=100",
    ]));
    compare(srv, "erin@example.org", "nobody@example.org", PASSWORD);
}
