//! Password verification through PAM (Linux-PAM's libpam), run by the
//! privileged parent only: `pam_authenticate` then `pam_acct_mgmt`, so an
//! expired or locked account is refused like a wrong password.
//!
//! A small FFI of our own rather than the `pam` crate: that one runs bindgen
//! at build time (libclang), and we need six functions. We link to
//! `libpam.so.0` by its soname, which every Debian system has (libpam0g is
//! required by login), so building needs no -dev package.
//!
//! This is one of the two places `unsafe` is allowed besides privsep.rs
//! (DESIGN.md 5): each block says why it is sound.

#![allow(unsafe_code)]

use std::ffi::{c_char, c_int, c_uint, c_void, CStr, CString};
use std::ptr;

const PAM_SUCCESS: c_int = 0;
const PAM_BUF_ERR: c_int = 5;
const PAM_CONV_ERR: c_int = 19;
const PAM_ACCT_EXPIRED: c_int = 13;
const PAM_NEW_AUTHTOK_REQD: c_int = 12;
const PAM_PERM_DENIED: c_int = 6;
const PAM_PROMPT_ECHO_OFF: c_int = 1;
const PAM_PROMPT_ECHO_ON: c_int = 2;
const PAM_ERROR_MSG: c_int = 3;
const PAM_TEXT_INFO: c_int = 4;
const PAM_RHOST: c_int = 4;
const PAM_FAIL_DELAY: c_int = 10;
const PAM_SILENT: c_int = 0x8000;
const PAM_DISALLOW_NULL_AUTHTOK: c_int = 0x0001;

#[repr(C)]
struct PamMessage {
    msg_style: c_int,
    msg: *const c_char,
}

#[repr(C)]
struct PamResponse {
    resp: *mut c_char,
    resp_retcode: c_int,
}

type ConvFn =
    extern "C" fn(c_int, *mut *const PamMessage, *mut *mut PamResponse, *mut c_void) -> c_int;

#[repr(C)]
struct PamConv {
    conv: ConvFn,
    appdata_ptr: *mut c_void,
}

type FailDelayFn = extern "C" fn(c_int, c_uint, *mut c_void);

#[link(name = "libpam.so.0", kind = "dylib", modifiers = "+verbatim")]
extern "C" {
    fn pam_start(
        service: *const c_char,
        user: *const c_char,
        conv: *const PamConv,
        pamh: *mut *mut c_void,
    ) -> c_int;
    fn pam_set_item(pamh: *mut c_void, item_type: c_int, item: *const c_void) -> c_int;
    fn pam_authenticate(pamh: *mut c_void, flags: c_int) -> c_int;
    fn pam_acct_mgmt(pamh: *mut c_void, flags: c_int) -> c_int;
    fn pam_end(pamh: *mut c_void, status: c_int) -> c_int;
    fn pam_strerror(pamh: *mut c_void, errnum: c_int) -> *const c_char;
}

/// Why PAM said no. Only for the log: the client is told the same thing
/// whatever the reason (DESIGN.md 6).
#[derive(Debug, PartialEq, Eq)]
pub enum PamError {
    /// Wrong password or unknown user (PAM does not tell them apart).
    Denied(String),
    /// The account is expired, locked or needs a new password.
    Account(String),
    /// The arguments cannot be passed to C (a NUL in the user name).
    Invalid,
    /// PAM itself failed (no such service file, module error).
    System(String),
}

/// What the conversation function answers: the password, once.
struct Conversation {
    password: CString,
}

impl Drop for Conversation {
    /// The password does not outlive the check.
    fn drop(&mut self) {
        let mut bytes = std::mem::take(&mut self.password).into_bytes();
        for b in bytes.iter_mut() {
            // SAFETY: a valid, aligned &mut u8; volatile so the wipe is kept.
            unsafe { ptr::write_volatile(b, 0) };
        }
    }
}

/// The PAM conversation (pam_conv(3)): answers every echo-off prompt with
/// the password and every echo-on prompt with nothing; info and error
/// messages are acknowledged.
extern "C" fn converse(
    num_msg: c_int,
    msg: *mut *const PamMessage,
    resp: *mut *mut PamResponse,
    appdata: *mut c_void,
) -> c_int {
    if num_msg <= 0 || num_msg > 32 || msg.is_null() || resp.is_null() || appdata.is_null() {
        return PAM_CONV_ERR;
    }
    let n = num_msg as usize;
    // SAFETY: PAM frees the responses with free(3), so they must come from
    // calloc/malloc; calloc zeroes them, so every resp pointer starts NULL.
    let replies =
        unsafe { libc::calloc(n, std::mem::size_of::<PamResponse>()) } as *mut PamResponse;
    if replies.is_null() {
        return PAM_BUF_ERR;
    }
    // SAFETY: appdata is the &Conversation we gave pam_start, alive for the
    // whole pam_start..pam_end span in `authenticate`.
    let conv = unsafe { &*(appdata as *const Conversation) };
    for i in 0..n {
        // SAFETY: Linux-PAM passes `msg` as an array of `num_msg` pointers
        // to messages (the Linux-PAM layout, see pam_conv(3)).
        let style = unsafe {
            let m = *msg.add(i);
            if m.is_null() {
                // Earlier prompts may already hold password copies: wipe
                // and free them with the array.
                free_replies(replies, n);
                return PAM_CONV_ERR;
            }
            (*m).msg_style
        };
        let answer: *mut c_char = match style {
            // SAFETY: strdup copies the NUL-terminated password into malloc'd
            // memory that PAM owns (and frees) from here on.
            PAM_PROMPT_ECHO_OFF => unsafe { libc::strdup(conv.password.as_ptr()) },
            PAM_PROMPT_ECHO_ON => ptr::null_mut(),
            PAM_ERROR_MSG | PAM_TEXT_INFO => ptr::null_mut(),
            _ => {
                free_replies(replies, n);
                return PAM_CONV_ERR;
            }
        };
        if style == PAM_PROMPT_ECHO_OFF && answer.is_null() {
            free_replies(replies, n);
            return PAM_BUF_ERR;
        }
        // SAFETY: i < n, the array has n zeroed elements.
        unsafe { (*replies.add(i)).resp = answer };
    }
    // SAFETY: resp is PAM's out pointer; it takes ownership of the array.
    unsafe { *resp = replies };
    PAM_SUCCESS
}

fn free_replies(replies: *mut PamResponse, n: usize) {
    for i in 0..n {
        // SAFETY: replies has n elements, each resp NULL or strdup'd; the
        // password copy is wiped before it is freed.
        unsafe {
            let r = (*replies.add(i)).resp;
            if !r.is_null() {
                libc::memset(r as *mut c_void, 0, libc::strlen(r));
                libc::free(r as *mut c_void);
            }
        }
    }
    // SAFETY: the array came from calloc.
    unsafe { libc::free(replies as *mut c_void) };
}

/// Replaces pam_unix's own random failure delay: we delay every failure by
/// a fixed time ourselves, so that unknown users and wrong passwords take
/// the same time (DESIGN.md 6).
extern "C" fn no_delay(_retval: c_int, _usec: c_uint, _appdata: *mut c_void) {}

/// Checks `user`'s `password` against PAM service `service`, then the
/// account (expiry, lock). `rhost` goes to PAM_RHOST for modules that log
/// or filter by client address.
pub fn authenticate(
    service: &str,
    user: &str,
    password: &[u8],
    rhost: Option<&str>,
) -> Result<(), PamError> {
    let service = CString::new(service).map_err(|_| PamError::Invalid)?;
    let c_user = CString::new(user).map_err(|_| PamError::Invalid)?;
    let password = CString::new(password).map_err(|_| PamError::Invalid)?;
    let rhost = rhost
        .map(CString::new)
        .transpose()
        .map_err(|_| PamError::Invalid)?;
    let conv_data = Conversation { password };
    let conv = PamConv {
        conv: converse,
        appdata_ptr: &conv_data as *const Conversation as *mut c_void,
    };
    let mut pamh: *mut c_void = ptr::null_mut();
    // SAFETY: all pointers are to live NUL-terminated strings and to `conv`,
    // which outlive the handle (pam_end below is called before they drop).
    let rc = unsafe { pam_start(service.as_ptr(), c_user.as_ptr(), &conv, &mut pamh) };
    if rc != PAM_SUCCESS || pamh.is_null() {
        return Err(PamError::System(format!("pam_start failed ({rc})")));
    }
    let result = (|| {
        if let Some(r) = &rhost {
            // SAFETY: pamh is valid; PAM copies the string.
            unsafe { pam_set_item(pamh, PAM_RHOST, r.as_ptr() as *const c_void) };
        }
        let delay: FailDelayFn = no_delay;
        // SAFETY: PAM_FAIL_DELAY takes a function pointer of this type.
        unsafe { pam_set_item(pamh, PAM_FAIL_DELAY, delay as *const c_void) };
        // SAFETY: pamh is a valid handle from pam_start.
        let rc = unsafe { pam_authenticate(pamh, PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK) };
        if rc != PAM_SUCCESS {
            return Err((rc, false));
        }
        // SAFETY: as above.
        let rc = unsafe { pam_acct_mgmt(pamh, PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK) };
        if rc != PAM_SUCCESS {
            return Err((rc, true));
        }
        Ok(())
    })();
    let out = match result {
        Ok(()) => Ok(()),
        Err((rc, account)) => {
            let text = strerror(pamh, rc);
            if account
                || rc == PAM_ACCT_EXPIRED
                || rc == PAM_NEW_AUTHTOK_REQD
                || rc == PAM_PERM_DENIED
            {
                Err(PamError::Account(text))
            } else {
                Err(PamError::Denied(text))
            }
        }
    };
    // SAFETY: ends the handle made above; nothing uses it afterwards.
    unsafe { pam_end(pamh, if out.is_ok() { PAM_SUCCESS } else { 7 }) };
    drop(conv_data);
    out
}

fn strerror(pamh: *mut c_void, rc: c_int) -> String {
    // SAFETY: pam_strerror returns a static string (or NULL).
    let p = unsafe { pam_strerror(pamh, rc) };
    if p.is_null() {
        return format!("PAM error {rc}");
    }
    // SAFETY: non-NULL, NUL-terminated, static.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_in_arguments_is_refused_before_pam() {
        assert_eq!(
            authenticate("imap", "a\0b", b"x", None),
            Err(PamError::Invalid)
        );
        assert_eq!(
            authenticate("imap", "a", b"x\0y", None),
            Err(PamError::Invalid)
        );
    }

    /// A NULL message after a password prompt: the conversation fails,
    /// and the password copy it had made for the first prompt is freed
    /// (before, only the array was: 20,000 calls leaked 20 MB of copies).
    #[test]
    fn a_null_message_frees_the_password_copies() {
        let conv = Conversation {
            password: CString::new(vec![b'p'; 1000]).unwrap(),
        };
        let prompt = PamMessage {
            msg_style: PAM_PROMPT_ECHO_OFF,
            msg: c"Password: ".as_ptr(),
        };
        let mut msgs: [*const PamMessage; 2] = [&prompt, ptr::null()];
        // SAFETY: mallinfo2 only reads the allocator's counters.
        let in_use = || unsafe { libc::mallinfo2() }.uordblks;
        let before = in_use();
        for _ in 0..20_000 {
            let mut resp: *mut PamResponse = ptr::null_mut();
            let rc = converse(
                2,
                msgs.as_mut_ptr(),
                &mut resp,
                &conv as *const Conversation as *mut c_void,
            );
            assert_eq!(rc, PAM_CONV_ERR);
            assert!(resp.is_null(), "no responses handed to PAM on failure");
        }
        let grown = in_use().saturating_sub(before);
        assert!(grown < 4 << 20, "{grown} bytes still allocated");
    }

    #[test]
    fn unknown_service_or_user_is_refused() {
        // No service file: PAM falls back to /etc/pam.d/other, which
        // denies on Debian; an unknown user is denied either way.
        let r = authenticate(
            "mailaccess-no-such-service",
            "no-such-user-xyz",
            b"pw",
            Some("127.0.0.1"),
        );
        assert!(r.is_err(), "{r:?}");
    }
}
