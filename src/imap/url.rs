//! IMAP URLs (RFC 5092) of a message or a part: relative, as CATENATE
//! takes them (RFC 4469), or absolute, with URLAUTH's authorization
//! (RFC 4467 3). CATENATE, GENURLAUTH and URLFETCH read them here.
//!
//! ```text
//! imapurl      = "imap://" iserver "/" imessagepart [iurlauth]
//! iserver      = [iuserinfo "@"] host [":" port]
//! iuserinfo    = enc-user [";AUTH=" ("*" / enc-auth-type)] / ...
//! imessagepart = enc-mailbox [";UIDVALIDITY=" n] "/;UID=" n
//!                ["/;SECTION=" enc-section] ["/;PARTIAL=" o ["." l]]
//! iurlauth     = [";EXPIRE=" date-time] ";URLAUTH=" access
//!                [":" uauth-mechanism ":" 32*HEXDIG]
//! access       = ("submit+" / "user+") enc-user / "authuser" / "anonymous"
//! ```
//!
//! The mailbox name is UTF-8, %-encoded; the section %-encoded. The
//! `/` before `;SECTION=` is also taken as missing, as RFC 4469's own
//! example writes it.

use crate::imap::command::{CommandBody, FetchItem};
use crate::imap::frame::Frame;
use crate::mime::Section;
use crate::store::names;

/// An IMAP URL of a message or part.
#[derive(Debug, PartialEq, Eq)]
pub struct Url {
    /// The server component of an absolute URL; None for a relative one.
    pub server: Option<Server>,
    /// The store's name of the mailbox; None for the selected one.
    pub mailbox: Option<String>,
    pub uid_validity: Option<u32>,
    pub uid: u32,
    pub section: Option<Section>,
    /// (offset, length) in octets.
    pub partial: Option<(u64, Option<u64>)>,
    /// RFC 4467 URLAUTH, only in an absolute URL.
    pub auth: Option<Auth>,
}

/// RFC 5092 `iserver`.
#[derive(Debug, PartialEq, Eq)]
pub struct Server {
    /// `enc-user`, decoded: the owner of the mailbox.
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

/// RFC 4467 `iurlauth`.
#[derive(Debug, PartialEq, Eq)]
pub struct Auth {
    /// `;EXPIRE=`, in seconds since the epoch.
    pub expire: Option<i64>,
    pub access: Access,
    /// The URL as given, up to and with the access identifier: the rump
    /// URL that the token is computed on (RFC 4467 5, 6).
    pub rump: String,
    /// `:mechanism:token` of a full URL; None in a rump URL.
    pub verifier: Option<Verifier>,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Verifier {
    pub mechanism: String,
    pub token: Vec<u8>,
}

/// RFC 4467 3 `access`: who may use the URL.
#[derive(Debug, PartialEq, Eq)]
pub enum Access {
    /// A message submission agent acting for this user.
    Submit(String),
    /// Sessions logged in as this user.
    User(String),
    /// Any session logged in as a user of this server.
    AuthUser,
    /// Anyone.
    Anonymous,
}

/// Parses a URL; None when it is not one of a message or part.
pub fn parse(u: &str) -> Option<Url> {
    let (body, auth) = match rfind_ci(u, ";urlauth=") {
        Some(at) => {
            let (body, auth) = parse_auth(u, at)?;
            (body, Some(auth))
        }
        None => (u, None),
    };
    let mut url = if starts_with_ci(body, "imap://") {
        let rest = &body["imap://".len()..];
        let slash = rest.find('/')?;
        let server = parse_server(&rest[..slash])?;
        let mut url = parse_relative(&rest[slash..])?;
        url.server = Some(server);
        url
    } else if auth.is_none() {
        parse_relative(body)?
    } else {
        return None;
    };
    url.auth = auth;
    Some(url)
}

/// Parses a relative URL only (what CATENATE took before absolute URLs).
fn parse_relative(u: &str) -> Option<Url> {
    let lower = u.to_ascii_lowercase();
    let (mailbox, rest) = if let Some(r) = u.strip_prefix('/') {
        let at = lower[1..].find("/;uid=")?;
        (Some(&r[..at]), &r[at + 1..])
    } else if lower.starts_with(";uid=") {
        (None, u)
    } else {
        return None;
    };
    let (mailbox, uid_validity) = match mailbox {
        None => (None, None),
        Some(m) => {
            let (name, validity) = match rfind_ci(m, ";uidvalidity=") {
                Some(i) => (&m[..i], Some(m[i + ";uidvalidity=".len()..].parse().ok()?)),
                None => (m, None),
            };
            let name = String::from_utf8(percent_decode(name)?).ok()?;
            if name.is_empty() {
                return None;
            }
            let name = if name.eq_ignore_ascii_case("INBOX") {
                "INBOX".to_string()
            } else {
                names::encode_utf7(&name)
            };
            (Some(name), validity)
        }
    };
    let mut url = Url {
        server: None,
        mailbox,
        uid_validity,
        uid: 0,
        section: None,
        partial: None,
        auth: None,
    };
    for (i, param) in rest.split(';').skip(1).enumerate() {
        let param = param.strip_suffix('/').unwrap_or(param);
        let (key, value) = param.split_once('=')?;
        match (i, key.to_ascii_uppercase().as_str()) {
            (0, "UID") => url.uid = value.parse().ok().filter(|&n| n > 0)?,
            (1 | 2, "SECTION") if url.section.is_none() && url.partial.is_none() => {
                let spec = String::from_utf8(percent_decode(value)?).ok()?;
                url.section = Some(section(&spec)?);
            }
            (1 | 2, "PARTIAL") if url.partial.is_none() => {
                let (o, l) = match value.split_once('.') {
                    Some((o, l)) => (o, Some(l.parse().ok().filter(|&n| n > 0)?)),
                    None => (value, None),
                };
                url.partial = Some((o.parse().ok()?, l));
            }
            _ => return None,
        }
    }
    (url.uid > 0).then_some(url)
}

/// `[iuserinfo "@"] host [":" port]`.
fn parse_server(s: &str) -> Option<Server> {
    let (userinfo, hostport) = match s.rfind('@') {
        Some(at) => (Some(&s[..at]), &s[at + 1..]),
        None => (None, s),
    };
    let user = match userinfo {
        Some(info) => {
            let enc = match find_ci(info, ";auth=") {
                Some(i) => &info[..i],
                None => info,
            };
            let user = String::from_utf8(percent_decode(enc)?).ok()?;
            (!user.is_empty()).then_some(user)
        }
        None => None,
    };
    let (host, port) = if hostport.starts_with('[') {
        let end = hostport.find(']')? + 1;
        (&hostport[..end], hostport[end..].strip_prefix(':'))
    } else {
        match hostport.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    if host.is_empty() || host.contains(['/', ';', '?', '#', ' ']) {
        return None;
    }
    let port = match port {
        Some(p) => Some(p.parse().ok()?),
        None => None,
    };
    Some(Server {
        user,
        host: host.to_string(),
        port,
    })
}

/// Splits `u`, whose last `;URLAUTH=` is at `at`, into what comes before
/// its `iurlauth` and the `iurlauth` itself.
fn parse_auth(u: &str, at: usize) -> Option<(&str, Auth)> {
    let after = &u[at + ";urlauth=".len()..];
    let (access_text, verifier) = match after.split_once(':') {
        Some((a, v)) => (a, Some(v)),
        None => (after, None),
    };
    let lower = access_text.to_ascii_lowercase();
    let user = |prefix: &str| -> Option<String> {
        let name = String::from_utf8(percent_decode(&access_text[prefix.len()..])?).ok()?;
        (!name.is_empty()).then_some(name)
    };
    let access = if lower.starts_with("submit+") {
        Access::Submit(user("submit+")?)
    } else if lower.starts_with("user+") {
        Access::User(user("user+")?)
    } else if lower == "authuser" {
        Access::AuthUser
    } else if lower == "anonymous" {
        Access::Anonymous
    } else {
        return None;
    };
    let verifier = match verifier {
        Some(v) => {
            let (mechanism, token) = v.split_once(':')?;
            let mech_ok = !mechanism.is_empty()
                && mechanism
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
            if !mech_ok || token.len() < 32 {
                return None;
            }
            Some(Verifier {
                mechanism: mechanism.to_string(),
                token: crate::store::objectid::hex_decode(token)?,
            })
        }
        None => None,
    };
    let rump = u[..at + ";urlauth=".len() + access_text.len()].to_string();
    let before = &u[..at];
    let (body, expire) = match rfind_ci(before, ";expire=") {
        Some(e) if !before[e + 1..].contains(['/', ';']) => {
            let text = String::from_utf8(percent_decode(&before[e + ";expire=".len()..])?).ok()?;
            let when = chrono::DateTime::parse_from_rfc3339(&text).ok()?;
            (&before[..e], Some(when.timestamp()))
        }
        _ => (before, None),
    };
    Some((
        body,
        Auth {
            expire,
            access,
            rump,
            verifier,
        },
    ))
}

/// A section spec (`1.2`, `HEADER.FIELDS (FROM)`, ...) read by the FETCH
/// grammar itself.
fn section(spec: &str) -> Option<Section> {
    let frame = Frame::from_bytes(format!("x FETCH 1 BODY.PEEK[{spec}]").into_bytes());
    match crate::imap::parse::parse_command(frame).ok()?.body {
        CommandBody::Fetch { items, .. } => match items.as_slice() {
            [FetchItem::BodySection { section, .. }] => Some(section.clone()),
            _ => None,
        },
        _ => None,
    }
}

/// `%XX` decoding; None for a malformed escape.
fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

fn starts_with_ci(s: &str, prefix: &str) -> bool {
    s.len() >= prefix.len() && s.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

/// Where the ASCII `needle` (lower case) first is in `s`, in any case.
fn find_ci(s: &str, needle: &str) -> Option<usize> {
    s.to_ascii_lowercase().find(needle)
}

/// Where the ASCII `needle` (lower case) last is in `s`, in any case.
fn rfind_ci(s: &str, needle: &str) -> Option<usize> {
    s.to_ascii_lowercase().rfind(needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mime::SectionText;

    #[test]
    fn relative_urls() {
        let u = parse("/INBOX;UIDVALIDITY=785799047/;UID=113330/;SECTION=1.5.9").unwrap();
        assert_eq!(u.mailbox.as_deref(), Some("INBOX"));
        assert_eq!(u.uid_validity, Some(785799047));
        assert_eq!(u.uid, 113330);
        assert_eq!(u.section.as_ref().unwrap().part, [1, 5, 9]);
        assert_eq!(u.server, None);
        // RFC 4469's own example writes `;section=` without the slash.
        let u = parse("/inbox/;UID=3;section=1.MIME").unwrap();
        assert_eq!(u.mailbox.as_deref(), Some("INBOX"));
        assert_eq!(u.section.unwrap().text, Some(SectionText::Mime));
        let u = parse("/Entw%C3%BCrfe/;UID=7/;PARTIAL=10.20").unwrap();
        assert_eq!(u.mailbox.as_deref(), Some("Entw&APw-rfe"));
        assert_eq!(u.partial, Some((10, Some(20))));
        let u = parse(";UID=2/;SECTION=HEADER.FIELDS%20(FROM%20TO)").unwrap();
        assert_eq!(u.mailbox, None);
        assert!(matches!(
            u.section.unwrap().text,
            Some(SectionText::HeaderFields { not: false, .. })
        ));
        for bad in [
            "/INBOX",
            "/INBOX/;UID=0",
            "/INBOX/;UID=x",
            "/INBOX/;UID=1/;SECTION=BOGUS",
            "/INBOX/;UID=1/;SECTION=1/;SECTION=2",
            "/INBOX/;UID=1/;PARTIAL=1.0",
            "/%ZZ/;UID=1",
            "/;UID=1",
            "",
            // URLAUTH belongs to absolute URLs only.
            "/INBOX/;UID=1;URLAUTH=anonymous",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn absolute_urls() {
        // RFC 4467 7's examples.
        let u =
            parse("imap://joe@example.com/INBOX/;uid=20/;section=1.2;urlauth=submit+fred").unwrap();
        let server = u.server.as_ref().unwrap();
        assert_eq!(server.user.as_deref(), Some("joe"));
        assert_eq!(server.host, "example.com");
        assert_eq!(server.port, None);
        assert_eq!((u.mailbox.as_deref(), u.uid), (Some("INBOX"), 20));
        assert_eq!(u.section.as_ref().unwrap().part, [1, 2]);
        let auth = u.auth.unwrap();
        assert_eq!(auth.access, Access::Submit("fred".into()));
        assert_eq!(
            auth.rump,
            "imap://joe@example.com/INBOX/;uid=20/;section=1.2;urlauth=submit+fred"
        );
        assert_eq!(auth.verifier, None);
        let u = parse(
            "imap://joe@example.com/INBOX/;uid=20/;section=1.2;urlauth=submit+fred:internal:91354a473744909de610943775f92038",
        )
        .unwrap();
        let auth = u.auth.unwrap();
        assert_eq!(
            auth.rump,
            "imap://joe@example.com/INBOX/;uid=20/;section=1.2;urlauth=submit+fred"
        );
        let v = auth.verifier.unwrap();
        assert_eq!(v.mechanism, "internal");
        assert_eq!(v.token.len(), 16);
        assert_eq!(v.token[0], 0x91);
        // Expiry, a port, `;AUTH=`, an encoded user, a partial.
        let u = parse(
            "imap://j%40x;AUTH=*@[::1]:1143/Drafts;UIDVALIDITY=5/;UID=3/;PARTIAL=0.10;EXPIRE=2030-01-02T03:04:05Z;URLAUTH=authuser",
        )
        .unwrap();
        let server = u.server.unwrap();
        assert_eq!(server.user.as_deref(), Some("j@x"));
        assert_eq!((server.host.as_str(), server.port), ("[::1]", Some(1143)));
        assert_eq!(u.uid_validity, Some(5));
        assert_eq!(u.partial, Some((0, Some(10))));
        let auth = u.auth.unwrap();
        assert_eq!(auth.expire, Some(1_893_553_445));
        assert_eq!(auth.access, Access::AuthUser);
        // Absolute URLs without URLAUTH are read too (CATENATE).
        let u = parse("imap://me@host/INBOX/;UID=1").unwrap();
        assert_eq!(u.auth, None);
        for bad in [
            "imap://joe@example.com/INBOX",
            "imap://joe@example.com/INBOX/;uid=1;urlauth=bogus",
            "imap://joe@example.com/INBOX/;uid=1;urlauth=user+",
            "imap://joe@example.com/INBOX/;uid=1;urlauth=anonymous:internal:abc",
            "imap://joe@example.com/INBOX/;uid=1;urlauth=anonymous:internal:91354a473744909de610943775f9203",
            "imap://joe@example.com/INBOX/;uid=1;urlauth=anonymous:internal:91354a473744909de610943775f9203x",
            "imap://joe@example.com/INBOX/;uid=1;expire=soon;urlauth=anonymous",
            "imap://joe@example.com:x/INBOX/;uid=1",
            "imap://joe@/INBOX/;uid=1",
            "imap://example.com/;uid=1",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
