//! RFC 5051 `i;unicode-casemap`, the collation of I18NLEVEL=1 (RFC 5255
//! 4.1): SEARCH matches, SORT compares and THREAD groups strings by their
//! `key`: each character mapped to its titlecase, then the whole put in
//! Unicode Normalization Form KD, in that order, as RFC 5051 2 and
//! Dovecot do. So "ÉTÉ" matches "été",
//! a precomposed "é" matches "e" with a combining acute, full-width
//! letters match their plain forms; but a ligature such as "ﬁ", which
//! has no titlecase and decomposes to lower-case letters, matches only
//! itself (as with Dovecot).
//!
//! The titlecase of a character is its upper case where that is one
//! character (Rust has no titlecase table). The two differ only for the
//! four Latin digraphs (DŽ, Lj, Nj, Dz), whose three forms map to one
//! character either way, so keys are equal exactly when RFC 5051's are.

use unicode_normalization::UnicodeNormalization;

/// The `i;unicode-casemap` key of `s`: two strings are equal under the
/// collation when their keys are, and order as their keys' octets do.
pub fn key(s: &str) -> String {
    // ASCII is most text; its titlecase is its upper case, its NFKD itself.
    if s.is_ascii() {
        return s.to_ascii_uppercase();
    }
    // Runs of ASCII are upper-cased as they are; the rest goes through
    // titlecase and NFKD. An ASCII character is a starter that no
    // decomposition reorders across, so cutting there changes nothing.
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    let mut rest = s;
    while !rest.is_empty() {
        let ascii = rest
            .bytes()
            .position(|b| !b.is_ascii())
            .unwrap_or(rest.len());
        out.extend(
            rest[..ascii]
                .bytes()
                .map(|b| char::from(b.to_ascii_uppercase())),
        );
        rest = &rest[ascii..];
        let other = rest
            .bytes()
            .position(|b| b.is_ascii())
            .unwrap_or(rest.len());
        out.extend(rest[..other].chars().map(title).nfkd());
        rest = &rest[other..];
    }
    out
}

/// `key` of octets that should be UTF-8 (invalid sequences as U+FFFD).
pub fn key_of(s: &[u8]) -> Vec<u8> {
    match std::str::from_utf8(s) {
        Ok(t) if t.is_ascii() => s.to_ascii_uppercase(),
        _ => key(&String::from_utf8_lossy(s)).into_bytes(),
    }
}

fn title(c: char) -> char {
    let mut upper = c.to_uppercase();
    match (upper.next(), upper.next()) {
        (Some(u), None) => u,
        // No one-character mapping (ß, ŉ, ligatures): the character
        // itself, whose NFKD may still split it.
        _ => c,
    }
}

#[cfg(test)]
mod tests {
    use super::key;

    #[test]
    fn equal_under_the_collation() {
        for (a, b) in [
            ("hello", "HeLLo"),
            ("\u{c9}t\u{c9}", "\u{e9}t\u{e9}"),
            // Precomposed and combining forms.
            ("caf\u{e9}", "cafe\u{301}"),
            ("CAF\u{c9}", "cafe\u{301}"),
            // Compatibility forms: full width, superscript.
            ("\u{ff21}\u{ff22}", "ab"),
            ("\u{ff41}", "A"),
            ("x\u{b2}", "X2"),
            // The digraph's three forms.
            ("\u{1c4}", "\u{1c6}"),
            ("\u{1c5}", "\u{1c6}"),
            ("\u{3c3}", "\u{3a3}"),
            // Runs of ASCII and the rest, combining marks after ASCII.
            ("a\u{e9}b\u{e9}\u{e9}c", "AE\u{301}BE\u{301}E\u{301}C"),
            ("x\u{323}\u{307}", "X\u{307}\u{323}"),
        ] {
            assert_eq!(key(a), key(b), "{a:?} {b:?}");
        }
    }

    #[test]
    fn different_under_the_collation() {
        // The ligature is titlecased (to itself) before it decomposes.
        for (a, b) in [
            ("e", "\u{e9}"),
            ("a", "b"),
            ("\u{df}", "ss"),
            ("o", "\u{f8}"),
            ("\u{fb01}", "fi"),
        ] {
            assert_ne!(key(a), key(b), "{a:?} {b:?}");
        }
        // Order follows the keys: case does not matter, letters do.
        assert!(key("apple") < key("Banana"));
        assert!(key("APPLE") < key("banana"));
    }
}
