//! The GSS-API acceptor for SASL GSSAPI (RFC 4752) with MIT Kerberos
//! (Debian's `libgssapi-krb5-2`), run by the privileged parent only: the
//! keytab is read here and nowhere else; the login process relays the
//! client's tokens as opaque octets (`Request::Gss`).
//!
//! A small FFI of our own, as `auth/pam.rs` does it: the `libgssapi`
//! crate runs bindgen at build time (libclang), and we need a dozen
//! functions of the stable GSS-API C binding (RFC 2744) plus MIT's
//! `krb5_gss_register_acceptor_identity` and `gss_localname`. The library
//! is loaded by its soname with dlopen(3) when GSSAPI is first used (in
//! the privileged parent), so building needs no -dev package and a
//! server without GSSAPI configured never maps it.
//!
//! One of the places `unsafe` is allowed (DESIGN.md 5): each block says
//! why it is sound. Every buffer the library returns is released by the
//! library (`gss_release_buffer`), every name, credential and context
//! likewise, on every path (`Drop`).

#![allow(unsafe_code)]

use std::ffi::{c_int, c_void, CString};
use std::ptr;

type OmUint32 = u32;

const GSS_S_COMPLETE: OmUint32 = 0;
const GSS_S_CONTINUE_NEEDED: OmUint32 = 1;
/// The calling and routine error fields of a major status (RFC 2744 3.9.1).
const GSS_ERROR_MASK: OmUint32 = 0xffff_0000;
const GSS_C_ACCEPT: c_int = 2;
const GSS_C_GSS_CODE: c_int = 1;
const GSS_C_MECH_CODE: c_int = 2;
const GSS_C_INDEFINITE: OmUint32 = 0xffff_ffff;

#[repr(C)]
struct Buffer {
    length: usize,
    value: *mut c_void,
}

impl Buffer {
    fn empty() -> Buffer {
        Buffer {
            length: 0,
            value: ptr::null_mut(),
        }
    }

    /// A descriptor of `data` for an input argument (the library only
    /// reads it).
    fn of(data: &[u8]) -> Buffer {
        Buffer {
            length: data.len(),
            value: data.as_ptr() as *mut c_void,
        }
    }
}

#[repr(C)]
struct OidDesc {
    length: OmUint32,
    elements: *mut c_void,
}

type Oid = *mut OidDesc;
type Name = *mut c_void;
type Cred = *mut c_void;
type Ctx = *mut c_void;

/// The library's functions, looked up once (`api`), and a thin `unsafe`
/// function of each one's name that calls it.
macro_rules! gss_api {
    ($( fn $name:ident ( $($arg:ident : $ty:ty),* ) -> $ret:ty; )*) => {
        struct Api {
            $( $name: unsafe extern "C" fn($($ty),*) -> $ret, )*
            /// The address of the OID `GSS_C_NT_HOSTBASED_SERVICE` names.
            nt_hostbased_service: usize,
        }

        fn load_api(h: *mut c_void) -> Result<Api, String> {
            let find = |name: &str| -> Result<*mut c_void, String> {
                let c = CString::new(name).map_err(|e| e.to_string())?;
                // SAFETY: `h` is a live handle from dlopen (never closed)
                // and `c` a NUL-terminated name.
                let p = unsafe { libc::dlsym(h, c.as_ptr()) };
                if p.is_null() {
                    Err(format!("{LIBRARY} lacks {name}"))
                } else {
                    Ok(p)
                }
            };
            let oid = find("GSS_C_NT_HOSTBASED_SERVICE")? as *const Oid;
            Ok(Api {
                $( $name: {
                    let p = find(stringify!($name))?;
                    // SAFETY: the symbol is this function of RFC 2744's C
                    // binding (or MIT's own), whose C signature the
                    // declaration above follows.
                    unsafe {
                        std::mem::transmute::<*mut c_void, unsafe extern "C" fn($($ty),*) -> $ret>(p)
                    }
                }, )*
                // SAFETY: the library exports GSS_C_NT_HOSTBASED_SERVICE as
                // a `gss_OID` variable; `oid` is its address, and it is
                // read once, as it is constant.
                nt_hostbased_service: unsafe { *oid } as usize,
            })
        }

        $(
            // The C binding's arguments, as they are.
            #[allow(clippy::too_many_arguments)]
            unsafe fn $name($($arg: $ty),*) -> $ret {
                match API.get() {
                    // SAFETY: the caller passes what the C function takes.
                    Some(Ok(api)) => unsafe { (api.$name)($($arg),*) },
                    _ => GSS_S_FAILURE,
                }
            }
        )*
    };
}

/// MIT's GSS-API library, by soname: loaded when GSSAPI is first used (in
/// the privileged parent only), not linked: six more libraries at every
/// start made a session 0.6 MB larger and 0.4 ms slower to start.
const LIBRARY: &str = "libgssapi_krb5.so.2";
const GSS_S_FAILURE: OmUint32 = 13 << 16;

static API: std::sync::OnceLock<Result<Api, String>> = std::sync::OnceLock::new();

/// The library's functions; an error when it cannot be loaded.
fn api() -> Result<&'static Api, String> {
    API.get_or_init(|| {
        let name = CString::new(LIBRARY).map_err(|e| e.to_string())?;
        // SAFETY: dlopen of a system library by its soname; the handle is
        // never closed, so what is looked up in it stays valid for the
        // process's life.
        let h = unsafe { libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
        if h.is_null() {
            return Err(format!(
                "{LIBRARY} cannot be loaded (apt-get install libgssapi-krb5-2)"
            ));
        }
        load_api(h)
    })
    .as_ref()
    .map_err(Clone::clone)
}

gss_api! {
    fn krb5_gss_register_acceptor_identity(keytab: *const std::ffi::c_char) -> OmUint32;
    fn gss_import_name(
        minor: *mut OmUint32,
        input: *mut Buffer,
        name_type: Oid,
        output: *mut Name
    ) -> OmUint32;
    fn gss_acquire_cred(
        minor: *mut OmUint32,
        desired_name: Name,
        time_req: OmUint32,
        desired_mechs: *mut c_void,
        cred_usage: c_int,
        output_cred: *mut Cred,
        actual_mechs: *mut *mut c_void,
        time_rec: *mut OmUint32
    ) -> OmUint32;
    fn gss_accept_sec_context(
        minor: *mut OmUint32,
        context: *mut Ctx,
        acceptor_cred: Cred,
        input_token: *mut Buffer,
        chan_bindings: *mut c_void,
        src_name: *mut Name,
        mech_type: *mut Oid,
        output_token: *mut Buffer,
        ret_flags: *mut OmUint32,
        time_rec: *mut OmUint32,
        delegated_cred: *mut Cred
    ) -> OmUint32;
    fn gss_wrap(
        minor: *mut OmUint32,
        context: Ctx,
        conf_req: c_int,
        qop_req: OmUint32,
        input: *mut Buffer,
        conf_state: *mut c_int,
        output: *mut Buffer
    ) -> OmUint32;
    fn gss_unwrap(
        minor: *mut OmUint32,
        context: Ctx,
        input: *mut Buffer,
        output: *mut Buffer,
        conf_state: *mut c_int,
        qop_state: *mut OmUint32
    ) -> OmUint32;
    fn gss_localname(minor: *mut OmUint32, name: Name, mech: Oid, local: *mut Buffer) -> OmUint32;
    fn gss_display_name(
        minor: *mut OmUint32,
        name: Name,
        output: *mut Buffer,
        name_type: *mut Oid
    ) -> OmUint32;
    fn gss_display_status(
        minor: *mut OmUint32,
        status: OmUint32,
        status_type: c_int,
        mech: Oid,
        message_context: *mut OmUint32,
        status_string: *mut Buffer
    ) -> OmUint32;
    fn gss_release_buffer(minor: *mut OmUint32, buffer: *mut Buffer) -> OmUint32;
    fn gss_release_name(minor: *mut OmUint32, name: *mut Name) -> OmUint32;
    fn gss_release_cred(minor: *mut OmUint32, cred: *mut Cred) -> OmUint32;
    fn gss_delete_sec_context(minor: *mut OmUint32, ctx: *mut Ctx, output: *mut Buffer) -> OmUint32;
}

/// Copies a buffer the library returned and releases it.
fn take(mut b: Buffer) -> Vec<u8> {
    let out = if b.value.is_null() || b.length == 0 {
        Vec::new()
    } else {
        // SAFETY: the library returned `b` (an output buffer of a call
        // that succeeded): `value` points to `length` initialised octets
        // it owns until gss_release_buffer below.
        unsafe { std::slice::from_raw_parts(b.value as *const u8, b.length) }.to_vec()
    };
    let mut minor = 0;
    // SAFETY: `b` came from the library and is released once; after the
    // call it is empty.
    unsafe { gss_release_buffer(&mut minor, &mut b) };
    out
}

/// The library's words for a major and minor status, for the log.
fn status(what: &str, major: OmUint32, minor: OmUint32) -> String {
    let mut words = Vec::new();
    for (code, kind) in [(major, GSS_C_GSS_CODE), (minor, GSS_C_MECH_CODE)] {
        if code == 0 {
            continue;
        }
        let mut context = 0;
        for _ in 0..crate::limits::GSS_STATUS_MESSAGES_MAX {
            let (mut m, mut buf) = (0, Buffer::empty());
            // SAFETY: plain output arguments; GSS_C_NO_OID (null) for the
            // mechanism is allowed; `buf` is taken (and released) below.
            let r = unsafe {
                gss_display_status(&mut m, code, kind, ptr::null_mut(), &mut context, &mut buf)
            };
            if r != GSS_S_COMPLETE {
                break;
            }
            words.push(String::from_utf8_lossy(&take(buf)).into_owned());
            if context == 0 {
                break;
            }
        }
    }
    format!("{what}: {}", words.join("; "))
}

fn check(what: &str, major: OmUint32, minor: OmUint32) -> Result<OmUint32, String> {
    if major & GSS_ERROR_MASK != 0 {
        Err(status(what, major, minor))
    } else {
        Ok(major)
    }
}

/// Makes `keytab` the acceptor's key table for this process (MIT:
/// process-wide; the parent serves one connection).
pub fn use_keytab(keytab: &str) -> Result<(), String> {
    api()?;
    let path = CString::new(keytab).map_err(|_| "keytab path holds NUL".to_string())?;
    // SAFETY: `path` is a NUL-terminated string that outlives the call
    // (MIT copies it).
    let r = unsafe { krb5_gss_register_acceptor_identity(path.as_ptr()) };
    check("keytab", r, 0).map(|_| ())
}

/// Where one context stands after a token.
#[derive(Debug, PartialEq, Eq)]
pub enum Progress {
    /// Send this token; more are needed.
    Continue(Vec<u8>),
    /// Established; send this token if it is not empty.
    Complete(Vec<u8>),
}

/// One security context being accepted, with its credential.
pub struct Acceptor {
    cred: Cred,
    ctx: Ctx,
    client: Name,
    mech: Oid,
}

impl Acceptor {
    /// An acceptor for `service@host` (RFC 2743 host-based service name:
    /// `imap@mail.example.org` is the principal `imap/mail.example.org`),
    /// or for any key in the keytab when `host` is None.
    pub fn new(service: &str, host: Option<&str>) -> Result<Acceptor, String> {
        let mut a = Acceptor {
            cred: ptr::null_mut(),
            ctx: ptr::null_mut(),
            client: ptr::null_mut(),
            mech: ptr::null_mut(),
        };
        let Some(host) = host else {
            return Ok(a); // GSS_C_NO_CREDENTIAL: the default acceptor
        };
        let hostbased = api()?.nt_hostbased_service as Oid;
        let text = format!("{service}@{host}");
        let mut name: Name = ptr::null_mut();
        let mut minor = 0;
        // SAFETY: the input buffer points into `text`, alive for the call;
        // `hostbased` is the library's own GSS_C_NT_HOSTBASED_SERVICE;
        // `name` is an output released below.
        let r = unsafe {
            gss_import_name(
                &mut minor,
                &mut Buffer::of(text.as_bytes()),
                hostbased,
                &mut name,
            )
        };
        check("service name", r, minor)?;
        // SAFETY: `name` was made by the call above; null mechanism set
        // (the default ones) and null outputs we do not want are allowed;
        // `a.cred` is released by Drop.
        let r = unsafe {
            gss_acquire_cred(
                &mut minor,
                name,
                GSS_C_INDEFINITE,
                ptr::null_mut(),
                GSS_C_ACCEPT,
                &mut a.cred,
                ptr::null_mut(),
                ptr::null_mut(),
            )
        };
        let mut m = 0;
        // SAFETY: `name` came from gss_import_name and is released once.
        unsafe { gss_release_name(&mut m, &mut name) };
        check(&format!("credential for {text}"), r, minor)?;
        Ok(a)
    }

    /// Takes the client's next token.
    pub fn step(&mut self, token: &[u8]) -> Result<Progress, String> {
        let mut minor = 0;
        let mut out = Buffer::empty();
        if !self.client.is_null() {
            let mut m = 0;
            // SAFETY: a name the previous call returned, released once
            // before the next call may return another.
            unsafe { gss_release_name(&mut m, &mut self.client) };
        }
        // SAFETY: `self.ctx` is null or the context earlier calls made;
        // the input descriptor points into `token`, alive for the call;
        // outputs are ours (the name and token released, the mechanism
        // OID is static in the library); null channel bindings, flags,
        // time and delegated credential are allowed.
        let r = unsafe {
            gss_accept_sec_context(
                &mut minor,
                &mut self.ctx,
                self.cred,
                &mut Buffer::of(token),
                ptr::null_mut(),
                &mut self.client,
                &mut self.mech,
                &mut out,
                ptr::null_mut(),
                ptr::null_mut(),
                ptr::null_mut(),
            )
        };
        let out = take(out);
        match check("accept", r, minor)? {
            GSS_S_COMPLETE => Ok(Progress::Complete(out)),
            GSS_S_CONTINUE_NEEDED => Ok(Progress::Continue(out)),
            other => Err(status("accept: supplementary status", other, minor)),
        }
    }

    /// Wraps `data` with integrity only (RFC 4752 3.1: the security layer
    /// negotiation messages).
    pub fn wrap(&mut self, data: &[u8]) -> Result<Vec<u8>, String> {
        let (mut minor, mut out) = (0, Buffer::empty());
        // SAFETY: an established context (the caller's state machine calls
        // this only after `Complete`), input into `data`; `out` taken.
        let r = unsafe {
            gss_wrap(
                &mut minor,
                self.ctx,
                0,
                0,
                &mut Buffer::of(data),
                ptr::null_mut(),
                &mut out,
            )
        };
        let out = take(out);
        check("wrap", r, minor)?;
        Ok(out)
    }

    pub fn unwrap(&mut self, data: &[u8]) -> Result<Vec<u8>, String> {
        let (mut minor, mut out) = (0, Buffer::empty());
        // SAFETY: as `wrap`.
        let r = unsafe {
            gss_unwrap(
                &mut minor,
                self.ctx,
                &mut Buffer::of(data),
                &mut out,
                ptr::null_mut(),
                ptr::null_mut(),
            )
        };
        let out = take(out);
        check("unwrap", r, minor)?;
        Ok(out)
    }

    /// The client's principal, for the log.
    pub fn principal(&self) -> String {
        let (mut minor, mut out) = (0, Buffer::empty());
        if self.client.is_null() {
            return String::new();
        }
        // SAFETY: the name accept returned; `out` taken.
        let r = unsafe { gss_display_name(&mut minor, self.client, &mut out, ptr::null_mut()) };
        let out = take(out);
        if r != GSS_S_COMPLETE {
            return String::new();
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// The local user the client's principal maps to (krb5.conf's
    /// `auth_to_local` rules; by default a one-part principal of the
    /// default realm is its name).
    pub fn local_name(&self) -> Result<String, String> {
        if self.client.is_null() {
            return Err("no client name".into());
        }
        let (mut minor, mut out) = (0, Buffer::empty());
        // SAFETY: the name and mechanism accept returned; `out` taken.
        let r = unsafe { gss_localname(&mut minor, self.client, self.mech, &mut out) };
        let out = take(out);
        check("local name", r, minor)?;
        String::from_utf8(out).map_err(|_| "local name is not UTF-8".into())
    }
}

impl Drop for Acceptor {
    fn drop(&mut self) {
        let mut m = 0;
        // SAFETY: each handle is null or was made by the library for this
        // acceptor, and is released once here (the calls set them to
        // null; a null one is left alone).
        unsafe {
            if !self.ctx.is_null() {
                gss_delete_sec_context(&mut m, &mut self.ctx, ptr::null_mut());
            }
            if !self.client.is_null() {
                gss_release_name(&mut m, &mut self.client);
            }
            if !self.cred.is_null() {
                gss_release_cred(&mut m, &mut self.cred);
            }
        }
    }
}
