//! URLAUTH (RFC 4467) with RFC 5524's extended URLFETCH (URLAUTH=BINARY):
//! GENURLAUTH makes a URL of one of the user's messages or parts that
//! carries its own authorization, URLFETCH reads such a URL, RESETKEY
//! voids URLs made so far.
//!
//! * The one mechanism is INTERNAL: the token is a version octet (1) and
//!   the HMAC-SHA-256 of the rump URL (the URL up to and with its
//!   `;URLAUTH=access`, as the client sent it) under the mailbox's access
//!   key (`store::urlauth`); 33 octets, 66 hexadecimal digits.
//! * A session reads only its own user's mail (DESIGN.md 5: it runs as
//!   that user, sealed to that user's store), so a URL is honoured only
//!   when its `iuserinfo` names the session's user; others' URLs are NIL.
//!   Access `user+NAME` needs the session to be NAME's, `authuser` any
//!   logged-in session, `anonymous` none. `submit+NAME` is for a message
//!   submission agent that logs in as itself; there is none here, so such
//!   URLs can be made (for a submission server of the same store) but this
//!   server fetches them as NIL.
//! * The URL's host must be `urlauth_host` unless that is `*`.
//! * A URL that fails any check is NIL in URLFETCH (RFC 4467 7: NO only
//!   for the server's own failure); a key is still computed for a mailbox
//!   that does not exist, so the time taken does not tell which mailboxes
//!   do (RFC 4467 6). GENURLAUTH refuses a bad URL with BAD.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::imap::cmd::catenate;
use crate::imap::command::{UrlFetchArg, UrlFetchParams};
use crate::imap::response;
use crate::imap::session::{Done, Error, Result, Session};
use crate::imap::url::{self, Access, Url};
use crate::mime::imap::BinaryLocated;
use crate::store::urlauth::{self as keys, Key};
use crate::store::StoreError;

/// Who the session is, for URLAUTH.
#[derive(Clone, Debug)]
pub struct Identity {
    /// The name the user logged in with; None for an anonymous session.
    pub user: Option<String>,
    /// `urlauth_host`: the host URLs must name, or `*`.
    pub host: String,
}

impl Default for Identity {
    fn default() -> Identity {
        Identity {
            user: None,
            host: "*".into(),
        }
    }
}

/// The INTERNAL token's first octet: which algorithm made it (RFC 4467
/// 2.4.1 asks that tokens say so, so the algorithm can change).
const TOKEN_VERSION: u8 = 1;

type HmacSha256 = Hmac<Sha256>;

fn mac(key: &Key, rump: &str) -> HmacSha256 {
    let mut m = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    m.update(rump.as_bytes());
    m
}

/// The INTERNAL token of `rump` under `key`.
fn token(key: &Key, rump: &str) -> Vec<u8> {
    let mut t = vec![TOKEN_VERSION];
    t.extend_from_slice(&mac(key, rump).finalize().into_bytes());
    t
}

/// Whether `given` is the token of `rump` under `key` (compared in
/// constant time).
fn verify(key: &Key, rump: &str, given: &[u8]) -> bool {
    match given.split_first() {
        Some((&TOKEN_VERSION, tag)) => mac(key, rump).verify_slice(tag).is_ok(),
        _ => false,
    }
}

/// GENURLAUTH: each rump URL with its INTERNAL token, in one response.
pub fn genurlauth(s: &mut Session, urls: &[(String, String)]) -> Result<Done> {
    let mut out = b"* GENURLAUTH".to_vec();
    for (rump, mechanism) in urls {
        if !mechanism.eq_ignore_ascii_case("INTERNAL") {
            return Err(Error::Bad(format!(
                "Unsupported URLAUTH mechanism: {mechanism}"
            )));
        }
        let url = url::parse(rump)
            .filter(|u| u.server.is_some())
            .ok_or_else(|| Error::Bad("Invalid URL".into()))?;
        let Some(auth) = url.auth.as_ref().filter(|a| a.verifier.is_none()) else {
            return Err(Error::Bad("Invalid URL: not a URLAUTH rump URL".into()));
        };
        if auth.expire.is_some_and(|t| t <= now()) {
            return Err(Error::Bad("URLAUTH has already expired".into()));
        }
        owner_and_host(s, &url).map_err(Error::Bad)?;
        // RFC 4467 7: the mailbox must exist; like Dovecot, the message too.
        catenate::open_url(s, &url).map_err(|e| match e {
            Error::No(None, text) => Error::Bad(format!("Invalid URL: {text}")),
            e => e,
        })?;
        let key = mailbox_key(s, &url, true)?.ok_or_else(|| Error::no("No mailbox key"))?;
        let full = format!(
            "{}:internal:{}",
            auth.rump,
            crate::store::objectid::hex(&token(&key, &auth.rump))
        );
        out.push(b' ');
        response::astring(&mut out, full.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    s.out.write_all(&out)?;
    Done::ok("Genurlauth completed.")
}

/// RESETKEY: every key of the user, or one mailbox's, is removed; URLs
/// made with it fail from then on.
pub fn resetkey(s: &mut Session, mailbox: Option<&str>, mechanisms: &[String]) -> Result<Done> {
    if let Some(m) = mechanisms.iter().find(|m| *m != "INTERNAL") {
        return Err(Error::no(format!("Unsupported URLAUTH mechanism: {m}")));
    }
    let Some(ctl) = s.store()?.control_dir() else {
        return Err(Error::no("No keys can be kept for this session."));
    };
    match mailbox {
        None => {
            keys::reset(&ctl, None)?;
            Done::ok("All keys removed.")
        }
        Some(name) => {
            let id = s.store()?.mailbox_id(name)?;
            keys::reset(&ctl, Some(&id))?;
            Done::code("URLMECH INTERNAL", "Key removed.")
        }
    }
}

/// URLFETCH: each URL's data, or NIL.
pub fn urlfetch(s: &mut Session, args: &[UrlFetchArg]) -> Result<Done> {
    for arg in args {
        let fetched = match fetch(s, arg) {
            Ok(f) => Some(f),
            // The URL's own failure: NIL (RFC 4467 7).
            Err(Error::No(..) | Error::Bad(_)) => None,
            Err(e) => return Err(e),
        };
        let mut head = b"* URLFETCH ".to_vec();
        response::astring(&mut head, arg.url.as_bytes());
        let Some(mut f) = fetched else {
            head.extend_from_slice(b" NIL\r\n");
            s.out.write_all(&head)?;
            continue;
        };
        if let Some(structure) = &f.structure {
            head.extend_from_slice(b" (BODYPARTSTRUCTURE ");
            head.extend_from_slice(structure);
            head.push(b')');
        }
        if let Some((file, len, nul)) = &mut f.content {
            let (open, close): (&[u8], &[u8]) = match arg.params {
                None => (b" ", b""),
                Some(p) if p.binary => (b" (BINARY ", b")"),
                Some(_) => (b" (BODY ", b")"),
            };
            head.extend_from_slice(open);
            let eight = if *nul { "~" } else { "" };
            head.extend_from_slice(format!("{eight}{{{len}}}\r\n").as_bytes());
            s.out.write_all(&head)?;
            head.clear();
            file.seek(SeekFrom::Start(0))?;
            let sent = io::copy(&mut file.take(*len), &mut *s.out)
                .map_err(|e| Error::Fatal(format!("sending a URL's data: {e}")))?;
            if sent != *len {
                return Err(Error::Fatal("spool file shrank".into()));
            }
            head.extend_from_slice(close);
        }
        head.extend_from_slice(b"\r\n");
        s.out.write_all(&head)?;
    }
    Done::ok("Urlfetch completed.")
}

/// What URLFETCH sends of one URL.
struct Fetched {
    /// RFC 5524 BODYPARTSTRUCTURE, when asked for.
    structure: Option<Vec<u8>>,
    /// The data in a spool file: its length, and whether it holds a NUL
    /// (then it goes as `literal8`, which only BINARY may use).
    content: Option<(File, u64, bool)>,
}

/// One URL of URLFETCH, checked and read; `Error::No` when it fails.
fn fetch(s: &mut Session, arg: &UrlFetchArg) -> Result<Fetched> {
    let url = url::parse(&arg.url).ok_or_else(|| Error::no("Invalid URL"))?;
    if url
        .auth
        .as_ref()
        .and_then(|a| a.verifier.as_ref())
        .is_none()
    {
        return Err(Error::no("Not a URLAUTH-authorized URL"));
    }
    authorize(s, &url)?;
    let src = catenate::open_url(s, &url)?;
    // The plain form, and RFC 5524's with no parameter: the data as BODY
    // (urlfetch-data needs one item after the URL).
    let params = match arg.params {
        Some(p) if p.body || p.binary || p.body_part_structure => p,
        _ => UrlFetchParams {
            body: true,
            ..UrlFetchParams::default()
        },
    };
    // A part named by number (or the whole message) is all that
    // BODYPARTSTRUCTURE and BINARY can take.
    let nums = match &url.section {
        None => Some(&[][..]),
        Some(sec) if sec.text.is_none() => Some(&sec.part[..]),
        Some(_) => None,
    };
    let tree =
        (params.body_part_structure || params.binary).then(|| crate::mime::parse_source(&src));
    let structure = match (&tree, params.body_part_structure) {
        (Some(tree), true) => {
            let mut out = Vec::new();
            let nums = nums.ok_or_else(|| Error::no("Not a body part"))?;
            if !crate::mime::imap::part_structure(&mut out, &src, tree, nums) {
                return Err(Error::no("No such part"));
            }
            Some(out)
        }
        _ => None,
    };
    let mut file = crate::store::open::anonymous()?;
    let content = if params.binary {
        let tree = tree.as_ref().expect("parsed for BINARY");
        let nums = nums.ok_or_else(|| Error::no("Not a body part"))?;
        let BinaryLocated::Range(range, cte) = crate::mime::imap::locate_binary(tree, nums) else {
            return Err(Error::no("No such part, or an unknown transfer encoding"));
        };
        // The decoded octets the partial window takes, written as they
        // come; whether they hold a NUL decides literal8.
        let (skip, take) = match url.partial {
            Some((o, l)) => (o, l.unwrap_or(u64::MAX)),
            None => (0, u64::MAX),
        };
        let (mut at, mut len, mut nul) = (0u64, 0u64, false);
        let mut failed = None;
        crate::mime::decode::each_binary(&src, range, cte, &mut |piece| {
            let start = at;
            at += piece.len() as u64;
            let (a, b) = (skip.max(start), skip.saturating_add(take).min(at));
            if failed.is_some() || a >= b {
                return;
            }
            let window = &piece[(a - start) as usize..(b - start) as usize];
            nul |= window.contains(&0);
            len += window.len() as u64;
            failed = file.write_all(window).err();
        });
        if let Some(e) = failed.or_else(|| src.take_error()) {
            return Err(e.into());
        }
        Some((file, len, nul))
    } else if params.body {
        let len = catenate::copy_body(&src, &url, &mut file)?;
        Some((file, len, false))
    } else {
        None
    };
    Ok(Fetched { structure, content })
}

/// Whether this session may read what the absolute URL `url` names (a
/// relative URL is the session's own): its owner and host, and with
/// URLAUTH its mechanism, expiry, access and token. `Error::No` without
/// a code when not.
pub fn authorize(s: &mut Session, url: &Url) -> Result<()> {
    if url.server.is_none() {
        return Ok(());
    }
    owner_and_host(s, url).map_err(Error::no)?;
    let Some(auth) = &url.auth else {
        return Ok(());
    };
    let Some(verifier) = &auth.verifier else {
        return Err(Error::no("URLAUTH rump URL without a token"));
    };
    if !verifier.mechanism.eq_ignore_ascii_case("INTERNAL") {
        return Err(Error::no("Unsupported URLAUTH mechanism"));
    }
    if auth.expire.is_some_and(|t| t <= now()) {
        return Err(Error::no("URLAUTH has expired"));
    }
    let user = s.identity.user.as_deref();
    let allowed = match &auth.access {
        Access::Anonymous => true,
        Access::AuthUser => user.is_some(),
        Access::User(name) => user == Some(name.as_str()),
        Access::Submit(_) => false,
    };
    if !allowed {
        return Err(Error::no("URLAUTH access not allowed for this user"));
    }
    let verified = match mailbox_key(s, url, false) {
        Ok(Some(k)) => verify(&k, &auth.rump, &verifier.token),
        // No such mailbox, or no key: a random key is tried all the same,
        // so that failing takes as long (RFC 4467 6).
        _ => {
            let mut k = [0u8; 32];
            crate::store::objectid::random_fill(&mut k)?;
            std::hint::black_box(verify(&k, &auth.rump, &verifier.token));
            false
        }
    };
    if verified {
        Ok(())
    } else {
        Err(Error::no("URLAUTH verification failed"))
    }
}

/// An absolute URL must name the session's user and, unless
/// `urlauth_host` is `*`, this host.
fn owner_and_host(s: &Session, url: &Url) -> std::result::Result<(), String> {
    let Some(server) = &url.server else {
        return Ok(());
    };
    match (&server.user, &s.identity.user) {
        (Some(owner), Some(me)) if owner == me => {}
        (None, _) => return Err("Invalid URL: no user name".into()),
        _ => return Err("Not permitted for another user's mail".into()),
    }
    let want = s.identity.host.as_str();
    if want != "*" {
        let (host, port) = match want.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(':') && p.parse::<u16>().is_ok() => (h, p.parse().ok()),
            _ => (want, None),
        };
        let port_ok = port.is_none() || server.port.is_none() || server.port == port;
        if !server.host.eq_ignore_ascii_case(host) || !port_ok {
            return Err("Invalid URL: not this server".into());
        }
    }
    Ok(())
}

/// The access key of the mailbox `url` names, made if `create`.
fn mailbox_key(s: &mut Session, url: &Url, create: bool) -> Result<Option<Key>> {
    let name = url
        .mailbox
        .as_deref()
        .ok_or_else(|| Error::no("No mailbox"))?;
    let store = s.store()?;
    let Some(ctl) = store.control_dir() else {
        return Ok(None);
    };
    let id = match store.mailbox_id(name) {
        Ok(id) => id,
        Err(StoreError::NotFound) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    Ok(keys::key(&ctl, &id, create)?)
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_only_their_rump_and_key() {
        let (k1, k2) = ([1u8; 32], [2u8; 32]);
        let rump = "imap://joe@example.com/INBOX/;uid=20;urlauth=anonymous";
        let t = token(&k1, rump);
        assert_eq!(t.len(), 33);
        assert_eq!(t[0], TOKEN_VERSION);
        assert!(verify(&k1, rump, &t));
        assert!(!verify(&k2, rump, &t));
        assert!(!verify(&k1, &rump.replace("20", "21"), &t));
        let mut other_version = t.clone();
        other_version[0] = 2;
        assert!(!verify(&k1, rump, &other_version));
        assert!(!verify(&k1, rump, &t[..32]));
        assert!(!verify(&k1, rump, &[]));
    }
}
