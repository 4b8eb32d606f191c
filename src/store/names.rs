//! Mailbox names: modified UTF-7 (RFC 3501 5.1.3), hierarchy, validation.
//!
//! Wire names are what the client sends and what LIST shows: modified UTF-7,
//! `.` as the hierarchy separator (the Maildir++ convention that Dovecot and
//! Courier use, so the wire name is also the on-disk folder name after its
//! leading dot). Everything here is pure string work; no file is touched.
//!
//! INBOX: RFC 3501 5.1 makes only the name "INBOX" itself case-insensitive;
//! "inbox.foo" and "INBOX.foo" are two different names here. (Dovecot goes
//! further and upper-cases an "INBOX" first component followed by the
//! separator, so that "inbox.foo" means "INBOX.foo"; we do not, following the
//! RFC, which means a client that relied on that Dovecot behaviour sees a
//! different folder. This is from memory of Dovecot's behaviour and has not
//! been checked against its source here.)

use crate::limits::{MAILBOX_DEPTH_MAX, MAILBOX_NAME_MAX};

/// The hierarchy separator of the Maildir++ layout.
pub const SEPARATOR: char = '.';

/// Whether `name` is the inbox (RFC 3501 5.1: "INBOX" in any case).
pub fn is_inbox(name: &str) -> bool {
    name.eq_ignore_ascii_case("INBOX")
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

fn b64_value(c: u8) -> Option<u32> {
    match c {
        b'A'..=b'Z' => Some(u32::from(c - b'A')),
        b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
        b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
        b'+' => Some(62),
        b',' => Some(63),
        _ => None,
    }
}

/// Whether a character may (and so must) stand for itself in modified UTF-7.
fn is_direct(c: char) -> bool {
    ('\x20'..='\x7e').contains(&c)
}

/// Encodes a Unicode name into modified UTF-7 (RFC 3501 5.1.3).
pub fn encode_utf7(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut pending: Vec<u16> = Vec::new();
    fn flush(out: &mut String, pending: &mut Vec<u16>) {
        if pending.is_empty() {
            return;
        }
        out.push('&');
        let mut bits: u32 = 0;
        let mut nbits = 0;
        for unit in pending.drain(..) {
            for byte in unit.to_be_bytes() {
                bits = (bits << 8) | u32::from(byte);
                nbits += 8;
                while nbits >= 6 {
                    nbits -= 6;
                    out.push(char::from(B64[((bits >> nbits) & 63) as usize]));
                }
            }
        }
        if nbits > 0 {
            out.push(char::from(B64[((bits << (6 - nbits)) & 63) as usize]));
        }
        out.push('-');
    }
    for c in name.chars() {
        if is_direct(c) {
            flush(&mut out, &mut pending);
            if c == '&' {
                out.push_str("&-");
            } else {
                out.push(c);
            }
        } else {
            let mut buf = [0u16; 2];
            pending.extend_from_slice(c.encode_utf16(&mut buf));
        }
    }
    flush(&mut out, &mut pending);
    out
}

/// Decodes a modified UTF-7 name, refusing every form that is not the one
/// canonical encoding: raw non-ASCII or control octets, an unterminated
/// shift, bad base64 or padding bits, invalid UTF-16, printable ASCII
/// encoded needlessly, and two encoded runs in a row.
pub fn decode_utf7(name: &str) -> Result<String, &'static str> {
    let bytes = name.as_bytes();
    let mut out = String::with_capacity(name.len());
    let mut i = 0;
    let mut last_was_shift = false;
    while i < bytes.len() {
        let c = bytes[i];
        if c != b'&' {
            if !(0x20..=0x7e).contains(&c) {
                return Err("characters outside printable ASCII must be encoded");
            }
            out.push(char::from(c));
            i += 1;
            last_was_shift = false;
            continue;
        }
        let start = i + 1;
        let end = match bytes[start..].iter().position(|&b| b == b'-') {
            Some(p) => start + p,
            None => return Err("unterminated & shift"),
        };
        i = end + 1;
        if end == start {
            out.push('&');
            last_was_shift = false;
            continue;
        }
        if last_was_shift {
            return Err("adjacent encoded runs");
        }
        last_was_shift = true;
        let mut bits: u32 = 0;
        let mut nbits = 0;
        let mut units: Vec<u16> = Vec::new();
        let mut pair: Option<u8> = None;
        for &b in &bytes[start..end] {
            let v = b64_value(b).ok_or("invalid character in & shift")?;
            bits = (bits << 6) | v;
            nbits += 6;
            if nbits >= 8 {
                nbits -= 8;
                let byte = ((bits >> nbits) & 0xff) as u8;
                match pair.take() {
                    None => pair = Some(byte),
                    Some(hi) => units.push(u16::from_be_bytes([hi, byte])),
                }
            }
        }
        if pair.is_some() || nbits >= 6 || bits & ((1 << nbits) - 1) != 0 {
            return Err("bad padding in & shift");
        }
        for r in char::decode_utf16(units.iter().copied()) {
            let ch = r.map_err(|_| "invalid UTF-16 in & shift")?;
            if is_direct(ch) {
                return Err("printable ASCII needlessly encoded");
            }
            out.push(ch);
        }
    }
    Ok(out)
}

/// Checks a wire name (modified UTF-7) for use as a mailbox name: valid and
/// canonical modified UTF-7, at most `MAILBOX_NAME_MAX` octets and
/// `MAILBOX_DEPTH_MAX` levels, every `.`-separated component non-empty, no
/// `/`, no control character, no component starting with `~`. A name that
/// passes can be put after a `.` in the mail root and stays a single file
/// name inside it.
pub fn validate(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("empty name");
    }
    if name.len() > MAILBOX_NAME_MAX {
        return Err("name too long");
    }
    let decoded = decode_utf7(name)?;
    if decoded.chars().any(|c| c.is_control()) {
        return Err("control character in name");
    }
    if decoded.contains('/') {
        return Err("'/' in name");
    }
    let mut depth = 0;
    for comp in name.split(SEPARATOR) {
        depth += 1;
        if comp.is_empty() {
            return Err("empty hierarchy component");
        }
        if comp.starts_with('~') {
            return Err("component starting with '~'");
        }
    }
    if depth > MAILBOX_DEPTH_MAX {
        return Err("hierarchy too deep");
    }
    Ok(())
}

/// The parent names of `name` ("a.b.c" gives "a", "a.b").
pub fn parents(name: &str) -> impl Iterator<Item = &str> {
    name.match_indices(SEPARATOR).map(move |(i, _)| &name[..i])
}

/// LIST pattern matching (RFC 3501 6.3.8): `*` matches anything, `%` anything
/// but the separator. INBOX matches case-insensitively. Runs in
/// O(pattern × name) time whatever the pattern.
pub fn list_match(pattern: &str, name: &str, sep: char) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let fold = is_inbox(name);
    let eq = |a: char, b: char| {
        if fold {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    };
    // m[j]: pattern[..i] matches name[..j]
    let mut m = vec![false; n.len() + 1];
    m[0] = true;
    for &pc in &p {
        let mut next = vec![false; n.len() + 1];
        match pc {
            '*' | '%' => {
                let mut run = false;
                for j in 0..=n.len() {
                    if j > 0 && pc == '%' && n[j - 1] == sep {
                        run = false;
                    }
                    run |= m[j];
                    next[j] = run;
                }
            }
            _ => {
                for j in 1..=n.len() {
                    next[j] = m[j - 1] && eq(pc, n[j - 1]);
                }
            }
        }
        m = next;
    }
    m[n.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf7_round_trips() {
        for s in [
            "INBOX",
            "Entwürfe",
            "日本語",
            "a&b",
            "&",
            "~peter/mail/台北/日本語",
            "😀x😀",
        ] {
            let e = encode_utf7(s);
            assert_eq!(decode_utf7(&e).as_deref(), Ok(s), "{s} -> {e}");
        }
        assert_eq!(encode_utf7("Entwürfe"), "Entw&APw-rfe");
        assert_eq!(encode_utf7("a&b"), "a&-b");
        assert_eq!(
            encode_utf7("~peter/mail/台北/日本語"),
            "~peter/mail/&U,BTFw-/&ZeVnLIqe-"
        );
        assert_eq!(decode_utf7("&ZeVnLIqe-").as_deref(), Ok("日本語"));
    }

    #[test]
    fn utf7_invalid_forms_refused() {
        for bad in [
            "&AGE-",      // 'a' needlessly encoded
            "&ZeVnLIqe",  // unterminated
            "a&",         // unterminated
            "&AOk-&AOk-", // adjacent runs
            "&2D0-",      // lone high surrogate
            "&AO-",       // bad padding
            "&AOl-",      // non-zero padding bits
            "&A*k-",      // bad base64
            "é",          // raw 8-bit
            "a\tb",       // raw control
        ] {
            assert!(decode_utf7(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(decode_utf7("&AOkA6Q-").as_deref(), Ok("éé"));
        assert_eq!(decode_utf7("&-&AOk-").as_deref(), Ok("&é"));
    }

    #[test]
    fn hostile_names_refused() {
        for bad in [
            "", "..", "a..b", ".a", "a.", "../x", "a/b", "/etc", "~root", "a.~b", "&AAo-", "&AA0-",
            "&AAA-",
        ] {
            assert!(validate(bad).is_err(), "{bad:?} accepted");
        }
        let long = "a".repeat(MAILBOX_NAME_MAX + 1);
        assert!(validate(&long).is_err());
        let deep = vec!["a"; MAILBOX_DEPTH_MAX + 1].join(".");
        assert!(validate(&deep).is_err());
        for good in [
            "INBOX",
            "Sent",
            "a.b.c",
            "Entw&APw-rfe",
            "a b",
            "x&-y",
            "[Gmail].All",
        ] {
            assert_eq!(validate(good), Ok(()), "{good}");
        }
    }

    #[test]
    fn list_patterns() {
        assert!(list_match("*", "a.b.c", '.'));
        assert!(list_match("%", "a", '.'));
        assert!(!list_match("%", "a.b", '.'));
        assert!(list_match("a.%", "a.b", '.'));
        assert!(!list_match("a.%", "a.b.c", '.'));
        assert!(list_match("a*c", "a.b.c", '.'));
        assert!(list_match("a%c", "abc", '.'));
        assert!(!list_match("a%c", "a.c", '.'));
        assert!(list_match("inbox", "INBOX", '.'));
        assert!(!list_match("inbox.x", "INBOX.x", '.'));
        assert!(list_match("", "", '.'));
        assert!(!list_match("", "a", '.'));
        let evil = "*%".repeat(50) + "x";
        assert!(!list_match(&evil, &"a".repeat(200), '.'));
        assert_eq!(parents("a.b.c").collect::<Vec<_>>(), vec!["a", "a.b"]);
    }
}
