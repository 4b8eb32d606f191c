//! Privilege separation (DESIGN.md 1): the only code that changes uids.
//!
//! * `lookup` resolves a user through NSS (getpwnam_r, getgrouplist), so
//!   LDAP or sssd accounts work as they do for login(1).
//! * `drop_to` is every privilege drop, always the same sequence
//!   (OpenSMTPD's): supplementary groups, gid, uid (real, effective and
//!   saved), then proof that root cannot be regained. Any failure is fatal
//!   to the connection.
//! * `enter_jail` is the pre-login process's drop: chroot into an empty
//!   directory, then `drop_to` the unprivileged login user.
//! * `spawn_login_child` starts the pre-login process: this same binary,
//!   exec'd with `--login-child FD`, the client on its stdin/stdout and the
//!   socket to its privileged parent on FD. Exec rather than fork: the child
//!   starts with nothing of the parent's memory (no credential store, no
//!   PAM state), and there is no `fork()` in our code.
//!
//! The drops use the per-thread system calls (setresuid(2) as the kernel
//! has it); `drop_to` first checks that the process has exactly one thread,
//! so the per-thread change is the whole process's.

#![allow(unsafe_code)]

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use rustix::process::{Gid, Uid};

/// A system account, as NSS gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: PathBuf,
    /// Supplementary groups (getgrouplist), primary group included.
    pub groups: Vec<u32>,
}

/// Looks a user up by name. `Ok(None)` when there is no such user.
pub fn lookup(name: &str) -> io::Result<Option<User>> {
    let c_name = CString::new(name)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in user name"))?;
    let found = nss(|buf| {
        // SAFETY: an all-zero passwd is a valid value of this plain C struct.
        let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call; buf outlives the use
        // of the strings getpwnam_r stores into it (copied out below).
        let rc = unsafe {
            libc::getpwnam_r(
                c_name.as_ptr(),
                &mut pw,
                buf.as_mut_ptr() as *mut libc::c_char,
                buf.len(),
                &mut result,
            )
        };
        if rc != 0 || result.is_null() {
            return (rc, None);
        }
        // SAFETY: getpwnam_r succeeded: pw_name and pw_dir point to
        // NUL-terminated strings inside buf.
        let (pw_name, home) = unsafe {
            (
                CStr::from_ptr(pw.pw_name).to_string_lossy().into_owned(),
                PathBuf::from(CStr::from_ptr(pw.pw_dir).to_string_lossy().into_owned()),
            )
        };
        (0, Some((pw_name, home, pw.pw_uid, pw.pw_gid)))
    })?;
    let Some((pw_name, home, uid, gid)) = found else {
        return Ok(None);
    };
    let groups = group_list(&c_name, gid)?;
    Ok(Some(User {
        name: pw_name,
        uid,
        gid,
        home,
        groups,
    }))
}

/// Runs a reentrant NSS lookup (getpwnam_r, getgrnam_r) with a buffer
/// that grows while it says ERANGE. `call` returns the function's result
/// code and what it found, copied out of the buffer.
fn nss<T>(mut call: impl FnMut(&mut [u8]) -> (libc::c_int, Option<T>)) -> io::Result<Option<T>> {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match call(&mut buf) {
            (libc::ERANGE, _) if buf.len() < 1024 * 1024 => buf.resize(buf.len() * 4, 0),
            (0, found) => return Ok(found),
            (rc, _) => return Err(io::Error::from_raw_os_error(rc)),
        }
    }
}

/// getgrouplist(3): the user's groups, `gid` included.
fn group_list(name: &CStr, gid: u32) -> io::Result<Vec<u32>> {
    let mut n: libc::c_int = 64;
    loop {
        let mut groups = vec![0 as libc::gid_t; n as usize];
        let mut count = n;
        // SAFETY: groups has room for `count` entries; getgrouplist writes at
        // most that many and sets count to the number there are.
        let rc = unsafe { libc::getgrouplist(name.as_ptr(), gid, groups.as_mut_ptr(), &mut count) };
        if rc >= 0 {
            groups.truncate(count.max(0) as usize);
            return Ok(groups);
        }
        if count <= n || count > 65536 {
            return Err(io::Error::other("getgrouplist failed"));
        }
        n = count;
    }
}

/// The number of threads of this process (from /proc/self/status).
fn thread_count() -> io::Result<usize> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| io::Error::other("no Threads: line in /proc/self/status"))
}

/// The per-thread set*id calls change the whole process only when it has
/// one thread: checked before every drop (and before a chroot hides /proc).
fn single_threaded() -> Result<(), String> {
    match thread_count() {
        Ok(1) => Ok(()),
        Ok(n) => Err(format!("cannot drop privileges with {n} threads")),
        Err(e) => Err(format!("cannot count threads: {e}")),
    }
}

/// Becomes `uid`/`gid` with exactly `groups` (and nothing else), then
/// checks that it worked and that root cannot be had back. The caller has
/// checked `single_threaded`.
/// With `saved_gid`, that group stays the saved set-group-ID only (not
/// effective, not supplementary), for `with_privileged_group`.
fn drop_privileges(
    uid: u32,
    gid: u32,
    groups: &[u32],
    saved_gid: Option<u32>,
) -> Result<(), String> {
    if uid == 0 {
        return Err("refusing to run a session as root".into());
    }
    let gids: Vec<Gid> = groups.iter().map(|&g| Gid::from_raw(g)).collect();
    rustix::thread::set_thread_groups(&gids).map_err(|e| format!("setgroups: {e}"))?;
    let g = Gid::from_raw(gid);
    let saved = saved_gid.unwrap_or(gid);
    rustix::thread::set_thread_res_gid(g, g, Gid::from_raw(saved))
        .map_err(|e| format!("setresgid({gid}): {e}"))?;
    let u = Uid::from_raw(uid);
    rustix::thread::set_thread_res_uid(u, u, u).map_err(|e| format!("setresuid({uid}): {e}"))?;
    // Proof: every id is the new one, and going back to root fails.
    let (r, e, s) = res_uids();
    if (r, e, s) != (uid, uid, uid) {
        return Err(format!("uids are {r}/{e}/{s} after setresuid({uid})"));
    }
    let (r, e, s) = res_gids();
    if (r, e, s) != (gid, gid, saved) {
        return Err(format!("gids are {r}/{e}/{s} after setresgid({gid})"));
    }
    let root = Uid::from_raw(0);
    if rustix::thread::set_thread_res_uid(root, root, root).is_ok() {
        return Err("setresuid(0) succeeded after the drop".into());
    }
    Ok(())
}

/// Real, effective and saved uids (getresuid(2)).
fn res_uids() -> (u32, u32, u32) {
    let (mut r, mut e, mut s) = (u32::MAX, u32::MAX, u32::MAX);
    // SAFETY: three valid pointers to u32 (uid_t) for the call to fill.
    unsafe { libc::getresuid(&mut r, &mut e, &mut s) };
    (r, e, s)
}

/// Real, effective and saved gids (getresgid(2)).
fn res_gids() -> (u32, u32, u32) {
    let (mut r, mut e, mut s) = (u32::MAX, u32::MAX, u32::MAX);
    // SAFETY: three valid pointers to u32 (gid_t) for the call to fill.
    unsafe { libc::getresgid(&mut r, &mut e, &mut s) };
    (r, e, s)
}

/// The session side: becomes `user`, refuses uid 0 and uids below
/// `first_valid_uid`, and changes to the home directory. A
/// `privileged_group` the user is not in already (Dovecot's and UW-IMAP's
/// `mail_privileged_group`) is kept as the saved set-group-ID only: it is
/// the effective group just while `with_privileged_group` creates or
/// removes a file in the mail spool (a dotlock, a missing INBOX), never
/// while a message or another user's spool file could be read.
pub fn drop_to(
    user: &User,
    first_valid_uid: u32,
    privileged_group: Option<u32>,
) -> Result<(), String> {
    if user.uid == 0 || user.uid < first_valid_uid {
        return Err(format!(
            "user {} has uid {} (below first_valid_uid {first_valid_uid})",
            user.name, user.uid
        ));
    }
    let saved = privileged_group.filter(|g| *g != user.gid && !user.groups.contains(g));
    single_threaded()?;
    drop_privileges(user.uid, user.gid, &user.groups, saved)?;
    if let Some(g) = saved {
        let _ = PRIVILEGED_GID.set(g);
    }
    // Virtual users often share an account whose home does not exist
    // (nobody's /nonexistent); their mail_location is absolute. The home
    // is only a convenience for the session, so "/" will do.
    if std::env::set_current_dir(&user.home).is_err() {
        std::env::set_current_dir("/").map_err(|e| format!("chdir /: {e}"))?;
    }
    Ok(())
}

/// The pre-login side: chroot into `dir` (empty, root-owned), then become
/// `login_user` with no supplementary groups.
pub fn enter_jail(login_user: &User, dir: &Path) -> Result<(), String> {
    single_threaded()?;
    rustix::process::chroot(dir).map_err(|e| format!("chroot {}: {e}", dir.display()))?;
    std::env::set_current_dir("/").map_err(|e| format!("chdir / in the jail: {e}"))?;
    if login_user.uid == 0 {
        return Err("login_user must not be root".into());
    }
    drop_privileges(login_user.uid, login_user.gid, &[login_user.gid], None)
}

/// The `mail_privileged_group` kept as saved set-group-ID by `drop_to`.
static PRIVILEGED_GID: std::sync::OnceLock<u32> = std::sync::OnceLock::new();

/// Runs `f` with the privileged group as the effective group (when the
/// session kept one; otherwise just runs `f`), then gives it up again.
/// For the mbox store's files in the spool directory only. The session is
/// one thread (checked at the drop), so the per-thread call is the
/// process's. If the group cannot be given up, the process must not go on.
pub fn with_privileged_group<T>(f: impl FnOnce() -> T) -> T {
    let Some(&g) = PRIVILEGED_GID.get() else {
        return f();
    };
    let (real, _, _) = res_gids();
    let keep = Gid::from_raw(real);
    // Effective only; real and saved stay as they are (-1 in C).
    if rustix::thread::set_thread_res_gid(keep, Gid::from_raw(g), Gid::from_raw(g)).is_err() {
        return f();
    }
    let r = f();
    if rustix::thread::set_thread_res_gid(keep, keep, Gid::from_raw(g)).is_err() {
        log::error!("cannot give up the privileged group {g}; exiting");
        std::process::exit(75);
    }
    r
}

/// Whether the session keeps a privileged group (for the log).
pub fn has_privileged_group() -> bool {
    PRIVILEGED_GID.get().is_some()
}

/// The gid of the group `name` (getgrnam_r), `None` when there is none.
pub fn group_id(name: &str) -> io::Result<Option<u32>> {
    let c_name = CString::new(name)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in group name"))?;
    nss(|buf| {
        // SAFETY: an all-zero group is a valid value of this plain C struct.
        let mut gr: libc::group = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::group = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call; only gr_gid, a plain
        // integer, is read afterwards.
        let rc = unsafe {
            libc::getgrnam_r(
                c_name.as_ptr(),
                &mut gr,
                buf.as_mut_ptr() as *mut libc::c_char,
                buf.len(),
                &mut result,
            )
        };
        (rc, (rc == 0 && !result.is_null()).then_some(gr.gr_gid))
    })
}

/// Starts the pre-login process: this binary with `args` plus
/// `--login-child CONTROL,DATA`, the client on stdin/stdout (inherited),
/// nothing on stderr, an empty environment but the client's address
/// (`peer`), and
/// the two sockets inherited: `control` for logins, `data` for the session's
/// plaintext when the child stays on as the TLS relay.
pub fn spawn_login_child(
    args: &[String],
    control: OwnedFd,
    data: OwnedFd,
    peer: &crate::conn::Peer,
) -> io::Result<Child> {
    // The sockets must survive exec: clear close-on-exec on them alone.
    rustix::io::fcntl_setfd(&control, rustix::io::FdFlags::empty())?;
    rustix::io::fcntl_setfd(&data, rustix::io::FdFlags::empty())?;
    let fds = format!("{},{}", control.as_raw_fd(), data.as_raw_fd());
    let exe = std::env::current_exe()?;
    let mut command = Command::new(exe);
    command.env_clear();
    // Where the client is, as this process found it (getpeername, the
    // environment xinetd and stunnel set, or a trusted proxy's header).
    let (host, port) = peer.env();
    for (key, value) in [("REMOTE_HOST", host), ("REMOTE_PORT", port)] {
        if let Some(v) = value {
            command.env(key, v);
        }
    }
    let child = command
        .args(args)
        .arg("--login-child")
        .arg(fds)
        .stdin(Stdio::inherit())
        .stdout(Stdio::inherit())
        .stderr(Stdio::null())
        .spawn();
    drop(control);
    drop(data);
    child
}

/// Takes the descriptor our parent passed (`--login-child FD`). It must be
/// open and a socket; it is taken once, at start-up, before anything else
/// could have opened or closed descriptors.
pub fn inherited_fd(fd: i32) -> Result<OwnedFd, String> {
    if fd <= 2 {
        return Err(format!("--login-child {fd}: not a socket we passed"));
    }
    // SAFETY: fcntl(F_GETFD) on any int is sound; it only tells whether the
    // descriptor is open.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return Err(format!("--login-child {fd}: not open"));
    }
    // SAFETY: fd is open (checked above), was passed to this process for it
    // alone by spawn_login_child, and nothing else in this process owns it,
    // so the OwnedFd becomes its only owner.
    let owned = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    let st = rustix::fs::fstat(&owned).map_err(|e| format!("--login-child {fd}: {e}"))?;
    if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::Socket {
        return Err(format!("--login-child {fd}: not a socket"));
    }
    rustix::io::fcntl_setfd(&owned, rustix::io::FdFlags::CLOEXEC)
        .map_err(|e| format!("--login-child {fd}: {e}"))?;
    Ok(owned)
}

/// Closes every descriptor above 2 but `keep` (the login child's sockets),
/// first thing in every role: whatever started us (xinetd, stunnel, an
/// ssh session, a shell with `3>file`) may have left files open, and the
/// chrooted login child or the user's session must not hold them.
pub fn close_inherited_fds(keep: &[i32]) {
    let mut keep: Vec<u32> = keep
        .iter()
        .filter_map(|&fd| u32::try_from(fd).ok())
        .filter(|&fd| fd > 2)
        .collect();
    keep.sort_unstable();
    keep.dedup();
    let mut first = 3u32;
    for k in keep.iter().copied().chain(std::iter::once(u32::MAX)) {
        if k > first {
            let last = if k == u32::MAX { u32::MAX } else { k - 1 };
            // SAFETY: close_range(2) only closes descriptors; nothing in
            // this process owns one above 2 yet at start-up but those in
            // `keep`, which are skipped.
            let rc = unsafe { libc::close_range(first, last, 0) };
            if rc != 0 {
                close_listed(first, last);
            }
        }
        first = k.saturating_add(1);
    }
}

/// close_range's fallback (a kernel before 5.9): the descriptors
/// /proc/self/fd lists between `first` and `last`.
fn close_listed(first: u32, last: u32) {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    let fds: Vec<u32> = dir
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter(|fd| (first..=last).contains(fd))
        .collect();
    // The directory's own descriptor is closed by now (dir was consumed);
    // closing its number again only returns EBADF.
    for fd in fds {
        // SAFETY: as above; a descriptor already closed gives EBADF.
        unsafe { libc::close(fd as i32) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_root_and_nobody() {
        let root = lookup("root").unwrap().unwrap();
        assert_eq!((root.uid, root.gid), (0, 0));
        assert!(root.groups.contains(&0));
        assert!(lookup("no-such-user-mailaccess").unwrap().is_none());
        assert!(lookup("a\0b").is_err());
    }

    #[test]
    fn root_and_low_uids_are_refused_before_any_change() {
        let root = lookup("root").unwrap().unwrap();
        assert!(drop_to(&root, 1000, None).is_err());
        let mut low = root.clone();
        low.uid = 500;
        let e = drop_to(&low, 1000, None).unwrap_err();
        assert!(e.contains("first_valid_uid"), "{e}");
        // Nothing was changed.
        assert_eq!(res_uids().0, rustix::process::getuid().as_raw());
    }
}
