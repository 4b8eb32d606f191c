//! The sealed session (DESIGN.md 5): once a session knows whose mail it
//! serves, and the login child before it reads a byte from the client,
//! the process shuts itself in:
//!
//! * **Landlock** limits the file system to the user's mail (the Maildir,
//!   or the mbox tree plus the INBOX file's directory for the dotlock) and
//!   the time zone files, read-only; no TCP, no signals or abstract
//!   sockets outside the process. The login child gets no file system at
//!   all. A kernel without Landlock (or with an older ABI) is logged as a
//!   warning and the session goes on.
//! * **seccomp** allows the system calls a session makes and nothing else
//!   (no `execve`, no new socket, no `ptrace`); `no_new_privs` is set.
//!   Any other call raises SIGSYS: the handler logs its number and the
//!   process exits with `DENIED_EXIT`, so a missing entry shows in the log
//!   and in the tests instead of as a hang.
//!
//! `sandbox = no` turns both off (for debugging); `--check-sandbox` seals a
//! process as a session of the current user is sealed, shows the proof and
//! makes one forbidden call.

#![allow(unsafe_code)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::OnceLock;

use landlock::{
    path_beneath_rules, Access, AccessFs, AccessNet, Ruleset, RulesetAttr, RulesetCreatedAttr,
    RulesetStatus, Scope, ABI,
};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

use crate::config::MailLocation;

/// The exit status of a process that made a forbidden system call (128 +
/// SIGSYS, as a shell shows a death by that signal).
pub const DENIED_EXIT: i32 = 128 + libc::SIGSYS;

/// The Landlock ABI these rules were written for: the crate drops what
/// the running kernel lacks (best effort) and says so.
const LANDLOCK_ABI: ABI = ABI::V6;

/// What a sealed process may still reach in the file system.
#[derive(Debug, Default)]
pub struct Reach {
    /// Trees that are the user's mail: everything below them but
    /// executing, devices, FIFOs, sockets and symbolic links.
    trees: Vec<PathBuf>,
    /// Directories shared with others (the mail spool, for the INBOX file
    /// and its dotlock): files there may be created, removed, read and
    /// written (Unix permissions still guard the others' spool files),
    /// nothing else.
    spools: Vec<PathBuf>,
    /// Read-only: the time zone files.
    read: Vec<PathBuf>,
}

impl Reach {
    /// Nothing: the login child in its empty jail, an anonymous session.
    pub fn nothing() -> Reach {
        Reach::default()
    }

    /// A user's mail store, opened already (so that its root exists).
    pub fn mail(mail: &MailLocation) -> Reach {
        let mut r = Reach::default();
        match mail {
            MailLocation::Maildir(root) => r.trees.push(root.clone()),
            MailLocation::Mbox { root, inbox } => {
                r.trees.push(root.clone());
                if let Some(dir) = inbox.parent().filter(|d| !d.starts_with(root)) {
                    r.spools.push(dir.to_path_buf());
                }
            }
        }
        // chrono's and syslog's local time read the zone again when it
        // changes.
        r.read
            .extend(["/etc/localtime", "/usr/share/zoneinfo"].map(PathBuf::from));
        r
    }
}

/// Which process is sealed: the allowlists differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// A logged-in session: works on files.
    Session,
    /// The login child: talks to the client and the parent, decrypts TLS.
    LoginChild,
}

/// What `seal` achieved, for the log and `--check-sandbox`.
#[derive(Debug, PartialEq, Eq)]
pub struct Sealed {
    /// Landlock: fully, partly (an older kernel ABI) or not enforced.
    pub landlock: &'static str,
    pub seccomp: bool,
}

/// Seals this process for `role` with `reach`, unless `enabled` is false
/// (`sandbox = no`). `Err`: the sandbox could not be set up although the
/// kernel has it; the caller refuses to serve rather than serve unsealed.
pub fn seal(reach: &Reach, role: Role, enabled: bool) -> Result<Option<Sealed>, String> {
    if !enabled {
        log::debug!("sandbox = no: this process is not sealed");
        return Ok(None);
    }
    let landlock = landlock(reach).map_err(|e| format!("Landlock: {e}"))?;
    let seccomp = seccomp(role)?;
    Ok(Some(Sealed { landlock, seccomp }))
}

fn landlock(reach: &Reach) -> Result<&'static str, landlock::RulesetError> {
    let abi = LANDLOCK_ABI;
    let tree = AccessFs::ReadFile
        | AccessFs::WriteFile
        | AccessFs::ReadDir
        | AccessFs::RemoveDir
        | AccessFs::RemoveFile
        | AccessFs::MakeDir
        | AccessFs::MakeReg
        | AccessFs::Refer
        | AccessFs::Truncate;
    let spool = AccessFs::ReadFile
        | AccessFs::WriteFile
        | AccessFs::Truncate
        | AccessFs::MakeReg
        | AccessFs::RemoveFile;
    let status = Ruleset::default()
        .handle_access(AccessFs::from_all(abi))?
        .handle_access(AccessNet::from_all(abi))?
        .scope(Scope::from_all(abi))?
        .create()?
        .add_rules(path_beneath_rules(&reach.trees, tree))?
        .add_rules(path_beneath_rules(&reach.spools, spool))?
        .add_rules(path_beneath_rules(&reach.read, AccessFs::from_read(abi)))?
        .restrict_self()?;
    let said = match status.ruleset {
        RulesetStatus::FullyEnforced => "enforced",
        RulesetStatus::PartiallyEnforced => {
            log::warn!(
                "sandbox: this kernel's Landlock lacks some of what the session's rules use \
                 (written for ABI {}); enforced in part",
                abi as i32
            );
            "partly enforced"
        }
        RulesetStatus::NotEnforced => {
            log::warn!(
                "sandbox: this kernel has no Landlock: the session is not confined to the \
                 mail files (seccomp still applies)"
            );
            "not available"
        }
    };
    Ok(said)
}

/// System calls every sealed process makes: memory, time, its open
/// descriptors, signals, leaving.
const COMMON: &[libc::c_long] = &[
    libc::SYS_read,
    libc::SYS_write,
    libc::SYS_readv,
    libc::SYS_writev,
    libc::SYS_close,
    libc::SYS_fcntl,
    libc::SYS_fstat,
    libc::SYS_newfstatat,
    libc::SYS_statx,
    libc::SYS_lseek,
    libc::SYS_ppoll,
    libc::SYS_pselect6,
    libc::SYS_sendto,
    libc::SYS_recvfrom,
    libc::SYS_sendmsg,
    libc::SYS_recvmsg,
    libc::SYS_shutdown,
    libc::SYS_mmap,
    libc::SYS_munmap,
    libc::SYS_mremap,
    libc::SYS_mprotect,
    libc::SYS_madvise,
    libc::SYS_brk,
    libc::SYS_futex,
    libc::SYS_rt_sigaction,
    libc::SYS_rt_sigprocmask,
    libc::SYS_rt_sigreturn,
    // The kernel's own resumption of a sleep (a lock's pause) that a stop
    // signal (SIGSTOP, then SIGCONT) interrupted.
    libc::SYS_restart_syscall,
    libc::SYS_sigaltstack,
    libc::SYS_clock_gettime,
    libc::SYS_clock_nanosleep,
    libc::SYS_gettimeofday,
    libc::SYS_getrandom,
    libc::SYS_getpid,
    libc::SYS_gettid,
    libc::SYS_getuid,
    libc::SYS_geteuid,
    libc::SYS_getgid,
    libc::SYS_getegid,
    libc::SYS_getresuid,
    libc::SYS_getresgid,
    libc::SYS_uname,
    libc::SYS_sched_yield,
    libc::SYS_exit,
    libc::SYS_exit_group,
];

/// The older calls of the same on x86_64, which libc may still use.
#[cfg(target_arch = "x86_64")]
const COMMON_X86_64: &[libc::c_long] = &[
    libc::SYS_poll,
    libc::SYS_select,
    libc::SYS_stat,
    libc::SYS_lstat,
    libc::SYS_nanosleep,
    libc::SYS_time,
];
#[cfg(not(target_arch = "x86_64"))]
const COMMON_X86_64: &[libc::c_long] = &[];

/// A session's work on the mail files.
const SESSION: &[libc::c_long] = &[
    libc::SYS_openat,
    // IDLE's watch on the selected mailbox's files (inotify(7)).
    libc::SYS_inotify_init1,
    libc::SYS_inotify_add_watch,
    libc::SYS_inotify_rm_watch,
    // QUOTA's reading of the file system's quota (`store::quota::filesystem`).
    libc::SYS_quotactl_fd,
    libc::SYS_pread64,
    libc::SYS_pwrite64,
    libc::SYS_preadv,
    libc::SYS_pwritev,
    libc::SYS_getdents64,
    libc::SYS_faccessat,
    libc::SYS_faccessat2,
    libc::SYS_readlinkat,
    libc::SYS_mkdirat,
    libc::SYS_unlinkat,
    libc::SYS_renameat,
    libc::SYS_renameat2,
    libc::SYS_linkat,
    libc::SYS_fchmod,
    libc::SYS_fchmodat,
    libc::SYS_fchown,
    libc::SYS_fchownat,
    libc::SYS_utimensat,
    libc::SYS_fsync,
    libc::SYS_fdatasync,
    libc::SYS_ftruncate,
    libc::SYS_fallocate,
    libc::SYS_flock,
    libc::SYS_dup,
    libc::SYS_dup3,
    libc::SYS_fstatfs,
    libc::SYS_statfs,
    libc::SYS_getcwd,
    // std's io::copy between two files (a Maildir COPY that cannot
    // hard-link) tries these before read and write.
    libc::SYS_copy_file_range,
    libc::SYS_sendfile,
    libc::SYS_splice,
    // The spool's privileged group, made effective and dropped again
    // around a dotlock (privsep::with_privileged_group).
    libc::SYS_setresgid,
];

#[cfg(target_arch = "x86_64")]
const SESSION_X86_64: &[libc::c_long] = &[
    libc::SYS_open,
    libc::SYS_access,
    libc::SYS_readlink,
    libc::SYS_mkdir,
    libc::SYS_rmdir,
    libc::SYS_unlink,
    libc::SYS_rename,
    libc::SYS_link,
    libc::SYS_getdents,
    libc::SYS_dup2,
];
#[cfg(not(target_arch = "x86_64"))]
const SESSION_X86_64: &[libc::c_long] = &[];

/// The filter for `role`: the allowlist, `kill` only as a probe (signal
/// 0: is a dotlock's owner alive?) and `tgkill` only to this process (an
/// abort).
fn filter(role: Role, arch: TargetArch) -> Result<BpfProgram, seccompiler::BackendError> {
    let mut calls: Vec<libc::c_long> = COMMON.iter().chain(COMMON_X86_64).copied().collect();
    if role == Role::Session {
        calls.extend(SESSION.iter().chain(SESSION_X86_64));
    }
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> =
        calls.into_iter().map(|n| (n, Vec::new())).collect();
    let arg_is = |index: u8, value: u64| -> Result<Vec<SeccompRule>, seccompiler::BackendError> {
        let c = SeccompCondition::new(index, SeccompCmpArgLen::Dword, SeccompCmpOp::Eq, value)?;
        Ok(vec![SeccompRule::new(vec![c])?])
    };
    rules.insert(libc::SYS_kill, arg_is(1, 0)?);
    rules.insert(libc::SYS_tgkill, arg_is(0, u64::from(std::process::id()))?);
    SeccompFilter::new(rules, SeccompAction::Trap, SeccompAction::Allow, arch)?.try_into()
}

fn seccomp(role: Role) -> Result<bool, String> {
    let Ok(arch) = TargetArch::try_from(std::env::consts::ARCH) else {
        log::warn!(
            "sandbox: no seccomp filter for {}: system calls are not limited",
            std::env::consts::ARCH
        );
        return Ok(false);
    };
    let program = filter(role, arch).map_err(|e| format!("seccomp filter: {e}"))?;
    prepare_denial_line();
    on_sigsys()?;
    // Sets no_new_privs first.
    seccompiler::apply_filter(&program).map_err(|e| {
        format!(
            "seccomp: {e} (a kernel without seccomp filters: set sandbox = no to serve unsealed)"
        )
    })?;
    Ok(true)
}

/// The log line a denied call writes (its number follows the head), made
/// in advance: a signal handler may not allocate (the call may have been
/// denied inside malloc's lock, as fork's is).
static DENIAL: OnceLock<crate::log::RawLine> = OnceLock::new();

fn prepare_denial_line() {
    if let Some(line) = crate::log::raw_line("sandbox: denied system call ") {
        let _ = DENIAL.set(line);
    }
}

fn on_sigsys() -> Result<(), String> {
    // SAFETY: `sigaction` is given a zeroed struct with a valid handler of
    // the SA_SIGINFO signature and an empty mask; the old action is not
    // wanted (null).
    let rc = unsafe {
        let mut act: libc::sigaction = std::mem::zeroed();
        act.sa_sigaction = denied as *const () as usize;
        act.sa_flags = libc::SA_SIGINFO;
        libc::sigemptyset(&mut act.sa_mask);
        libc::sigaction(libc::SIGSYS, &act, std::ptr::null_mut())
    };
    if rc != 0 {
        return Err(format!(
            "sigaction(SIGSYS): {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// Where the kernel puts the denied call's number in a SIGSYS siginfo
/// (`si_syscall`, after `si_signo`, `si_errno`, `si_code`, padding and
/// `si_call_addr` on a 64-bit Linux).
const SI_SYSCALL_OFFSET: usize = 24;

/// The SIGSYS handler: logs the denied call's number with the line made in
/// advance, then ends the process. Only async-signal-safe work: a stack
/// buffer, write(2), _exit(2).
extern "C" fn denied(_sig: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // SAFETY: with SA_SIGINFO the kernel passes a valid siginfo_t, which is
    // larger than the offset read; for a seccomp SIGSYS the field there is
    // the int `si_syscall`.
    let number = unsafe {
        info.cast::<u8>()
            .add(SI_SYSCALL_OFFSET)
            .cast::<i32>()
            .read_unaligned()
    };
    if let Some(d) = DENIAL.get() {
        let mut buf = [0u8; 1024];
        let mut out = Cursor {
            buf: &mut buf,
            len: 0,
        };
        if let Some(offset) = d.file_offset {
            let mut ts = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // SAFETY: clock_gettime writes the timespec it is given.
            unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
            stamp(&mut out, ts.tv_sec + offset);
        }
        out.put(&d.head);
        number_into(&mut out, i64::from(number));
        out.put(d.tail);
        let line = &out.buf[..out.len];
        // SAFETY: write(2) of an initialised buffer to the log's descriptor,
        // kept open for the process's life.
        unsafe { libc::write(d.fd, line.as_ptr().cast(), line.len()) };
    }
    // SAFETY: _exit(2) ends the process without running anything else.
    unsafe { libc::_exit(DENIED_EXIT) }
}

/// A fixed buffer filled from the front; what does not fit is dropped.
struct Cursor<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl Cursor<'_> {
    fn put(&mut self, b: &[u8]) {
        let n = b.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&b[..n]);
        self.len += n;
    }
}

fn number_into(out: &mut Cursor, n: i64) {
    if n < 0 {
        out.put(b"-");
    }
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut v = n.unsigned_abs();
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.put(&digits[i..]);
}

/// `Mon dd HH:MM:SS ` of local seconds since the epoch, as the log file's
/// lines begin (`%b %e %H:%M:%S`), computed without allocating.
fn stamp(out: &mut Cursor, local: i64) {
    const MONTHS: &[u8; 36] = b"JanFebMarAprMayJunJulAugSepOctNovDec";
    let (days, secs) = (local.div_euclid(86_400), local.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as usize;
    out.put(&MONTHS[(month - 1) * 3..month * 3]);
    out.put(if day < 10 { b"  " } else { b" " });
    number_into(out, day);
    for (i, v) in [secs / 3600, secs / 60 % 60, secs % 60]
        .into_iter()
        .enumerate()
    {
        out.put(if i == 0 { b" " } else { b":" });
        if v < 10 {
            out.put(b"0");
        }
        number_into(out, v);
    }
    out.put(b" ");
}

/// `--check-sandbox`: seals this process as a session of the current user
/// is sealed (Landlock, seccomp, whatever `sandbox` says), prints the proof
/// from /proc and what opening a file outside the mail does, directly and
/// through a symbolic link planted in the mail tree, then makes a call no
/// session may make (socket(2)): the process ends with `DENIED_EXIT` and
/// the denial in the log. Exits 1 without sealing if the user's mail
/// cannot be opened.
pub fn check(config: &crate::config::Config, process: &str) -> ! {
    crate::log::init(
        process,
        &config.log_path,
        &config.syslog_facility,
        config.log_debug,
    );
    let mut out = std::io::stdout();
    let fail = |text: String| -> ! {
        let _ = writeln!(std::io::stdout(), "{text}");
        std::process::exit(1)
    };
    let Some((user, home)) = crate::cli::current_user() else {
        fail("cannot find the current user".into())
    };
    let mail = config
        .mail_location_for(&user, &home)
        .unwrap_or_else(|e| fail(e));
    if let Err(e) = crate::serve::open_store(&mail, &config.mbox_locks) {
        fail(e)
    }
    let root = match &mail {
        MailLocation::Maildir(root) | MailLocation::Mbox { root, .. } => root,
    };
    let link = root.join(".check-sandbox-link");
    let _ = std::fs::remove_file(&link);
    if let Err(e) = std::os::unix::fs::symlink("/etc/passwd", &link) {
        fail(format!("{}: {e}", link.display()))
    }
    // Opened now, read once sealed (the kernel makes the text at the read):
    // a sealed session may not open it.
    let status = std::fs::File::open("/proc/self/status");
    let sealed = seal(&Reach::mail(&mail), Role::Session, config.sandbox)
        .unwrap_or_else(|e| fail(format!("sandbox: {e}")));
    let _ = match &sealed {
        Some(s) => writeln!(out, "landlock: {}\nseccomp: {}", s.landlock, s.seccomp),
        None => writeln!(out, "sandbox: off (sandbox = no)"),
    };
    let mut text = String::new();
    let _ = status.and_then(|mut f| std::io::Read::read_to_string(&mut f, &mut text));
    for l in text.lines() {
        if l.starts_with("Seccomp:") || l.starts_with("NoNewPrivs:") {
            let _ = writeln!(
                out,
                "{}",
                l.split_whitespace().collect::<Vec<_>>().join(" ")
            );
        }
    }
    for p in [PathBuf::from("/etc/passwd"), link.clone()] {
        let said = match std::fs::read(&p) {
            Ok(_) => "read".to_string(),
            Err(e) => format!("refused ({})", e.kind()),
        };
        let _ = writeln!(out, "open {}: {said}", p.display());
    }
    let _ = std::fs::remove_file(&link);
    let _ = writeln!(out, "socket(2): next");
    let _ = out.flush();
    // The forbidden call; under the sandbox it never returns.
    let s = std::net::UdpSocket::bind("127.0.0.1:0");
    let _ = writeln!(
        out,
        "socket(2): {}",
        if s.is_ok() { "made" } else { "refused" }
    );
    std::process::exit(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(f: impl FnOnce(&mut Cursor)) -> String {
        let mut buf = [0u8; 64];
        let mut c = Cursor {
            buf: &mut buf,
            len: 0,
        };
        f(&mut c);
        let n = c.len;
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    #[test]
    fn the_handler_formats_as_the_log_does() {
        assert_eq!(text(|c| number_into(c, 41)), "41");
        assert_eq!(text(|c| number_into(c, 0)), "0");
        assert_eq!(text(|c| number_into(c, -12)), "-12");
        // 2026-12-06 09:05:03 and 2024-02-29 23:59:59 (a leap day).
        assert_eq!(text(|c| stamp(c, 1_796_547_903)), "Dec  6 09:05:03 ");
        assert_eq!(text(|c| stamp(c, 1_709_251_199)), "Feb 29 23:59:59 ");
        let want = chrono::DateTime::from_timestamp(1_000_000_000, 0)
            .expect("time")
            .format("%b %e %H:%M:%S ")
            .to_string();
        assert_eq!(text(|c| stamp(c, 1_000_000_000)), want);
        // What does not fit is dropped, not a panic.
        let mut small = [0u8; 3];
        let mut c = Cursor {
            buf: &mut small,
            len: 0,
        };
        c.put(b"abcdef");
        assert_eq!(&small, b"abc");
    }

    #[test]
    fn every_filter_compiles_and_the_session_allows_more() {
        let arch = TargetArch::try_from(std::env::consts::ARCH).expect("a seccomp architecture");
        let session = filter(Role::Session, arch).expect("session filter");
        let child = filter(Role::LoginChild, arch).expect("login child filter");
        assert!(session.len() > child.len());
    }
}
