//! Encoding of IMAP response data: strings are atoms, quoted strings or
//! literals as their bytes demand (RFC 3501 4.3, 9), so that a client's
//! parser never meets an octet it cannot take.

use crate::limits::QUOTED_MAX;

/// RFC 3501 9 `quoted`: any TEXT-CHAR except `"` and `\`, which are escaped;
/// no CR, LF, NUL or 8-bit octets. Longer strings go out as literals too:
/// some clients cap quoted string length.
fn quotable(s: &[u8]) -> bool {
    s.len() <= QUOTED_MAX
        && s.iter()
            .all(|&c| (0x01..0x80).contains(&c) && c != b'\r' && c != b'\n')
}

/// RFC 3501 9 `string`: quoted when it can be, else a literal.
pub fn string(out: &mut Vec<u8>, s: &[u8]) {
    if quotable(s) {
        quoted(out, s);
    } else {
        literal(out, s);
    }
}

/// `"s"`, with `"` and `\` escaped; the caller has checked that `s` may
/// be quoted.
fn quoted(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &c in s {
        if c == b'"' || c == b'\\' {
            out.push(b'\\');
        }
        out.push(c);
    }
    out.push(b'"');
}

/// RFC 3501 9 `literal`: `{n}` CRLF and the octets.
pub fn literal(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(format!("{{{}}}\r\n", s.len()).as_bytes());
    out.extend_from_slice(s);
}

/// RFC 3501 9 `nstring`: NIL or a string.
pub fn nstring(out: &mut Vec<u8>, s: Option<&[u8]>) {
    match s {
        Some(s) => string(out, s),
        None => out.extend_from_slice(b"NIL"),
    }
}

/// RFC 3501 9 `ATOM-CHAR`: any CHAR except atom-specials.
pub fn is_atom_char(c: u8) -> bool {
    c > 0x20 && c < 0x7f && !matches!(c, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\' | b']')
}

/// RFC 3501 9 `astring`: an atom when every octet is an ATOM-CHAR (or `]`,
/// ASTRING-CHAR), else a string.
pub fn astring(out: &mut Vec<u8>, s: &[u8]) {
    if !s.is_empty()
        && s.iter().all(|&c| is_atom_char(c) || c == b']')
        && !s.eq_ignore_ascii_case(b"NIL")
    {
        out.extend_from_slice(s);
    } else {
        string(out, s);
    }
}

thread_local! {
    /// RFC 6855: the session's client enabled UTF8=ACCEPT. One session is
    /// one process (and one thread), so this is the session's state.
    static UTF8_ACCEPT: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// RFC 6855 ENABLE UTF8=ACCEPT: from now on mailbox names go both ways
/// as UTF-8 (`mailbox` here, `parse::Parser::mailbox`) instead of
/// modified UTF-7.
pub fn set_utf8_accept() {
    UTF8_ACCEPT.with(|u| u.set(true));
}

/// Whether the client enabled UTF8=ACCEPT (or IMAP4rev2, which has it).
pub fn utf8_accept() -> bool {
    UTF8_ACCEPT.with(|u| u.get())
}

thread_local! {
    /// RFC 9051: the client enabled IMAP4rev2.
    static IMAP4REV2: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// ENABLE IMAP4rev2 (RFC 9051 6.3.1): the session speaks IMAP4rev2 from
/// now on: no `\Recent` anywhere (flags, SELECT, EXISTS updates,
/// STATUS, SEARCH keys), no `[UNSEEN n]` at SELECT, SEARCH answered by
/// ESEARCH, a LIST response at SELECT, UTF-8 mailbox names.
pub fn set_imap4rev2() {
    IMAP4REV2.with(|u| u.set(true));
    set_utf8_accept();
}

/// Whether the client enabled IMAP4rev2.
pub fn imap4rev2() -> bool {
    IMAP4REV2.with(|u| u.get())
}

/// RFC 3501 9 `mailbox` in LIST/LSUB/STATUS responses: like astring, but
/// `%` and `*` are allowed in the atom form (list-char); we quote them anyway
/// for the sake of clients that do not know that. `name` is the store's
/// (modified UTF-7); with UTF8=ACCEPT it goes out as UTF-8, in a quoted
/// string when it is not ASCII (RFC 6855 3: `quoted` may hold UTF-8).
pub fn mailbox(out: &mut Vec<u8>, name: &str) {
    if !utf8_accept() {
        return astring(out, name.as_bytes());
    }
    let name = crate::store::names::decode_utf7(name).unwrap_or_else(|_| name.to_string());
    // As `quotable`, with the UTF-8 that RFC 6855 lets quoted strings hold.
    let utf8_quotable =
        !name.is_ascii() && name.len() <= QUOTED_MAX && !name.contains(['\r', '\n', '\0']);
    if utf8_quotable {
        quoted(out, name.as_bytes());
    } else {
        astring(out, name.as_bytes());
    }
}

/// RFC 2971 `* ID` response: who we are. What the client said about
/// itself is only logged (at most 30 pairs, printable).
pub fn id(params: Option<&[(String, Option<String>)]>) -> Vec<u8> {
    if let Some(p) = params {
        let shown: Vec<String> = p
            .iter()
            .take(30)
            .map(|(k, v)| format!("{k}={}", v.as_deref().unwrap_or("NIL")))
            .collect();
        log::info!("client id: {}", crate::log::printable(&shown.join(", ")));
    }
    let mut out = b"* ID (\"name\" \"mailaccess\" \"version\" ".to_vec();
    string(&mut out, env!("CARGO_PKG_VERSION").as_bytes());
    out.extend_from_slice(b")\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(f: fn(&mut Vec<u8>, &[u8]), v: &[u8]) -> String {
        let mut o = Vec::new();
        f(&mut o, v);
        String::from_utf8_lossy(&o).into_owned()
    }

    #[test]
    fn strings_choose_form() {
        assert_eq!(s(string, b"abc"), "\"abc\"");
        assert_eq!(s(string, b"a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(s(string, b"a\r\nb"), "{4}\r\na\r\nb");
        assert_eq!(s(string, "ä".as_bytes()), "{2}\r\nä");
        assert_eq!(s(string, b"a\0b"), "{3}\r\na\0b");
        assert_eq!(s(astring, b"INBOX"), "INBOX");
        assert_eq!(s(astring, b"a b"), "\"a b\"");
        assert_eq!(s(astring, b""), "\"\"");
        assert_eq!(s(astring, b"NIL"), "\"NIL\"");
        assert_eq!(s(astring, b"x*"), "\"x*\"");
    }
}
