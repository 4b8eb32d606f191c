//! A password or other credential held in memory.
//!
//! DESIGN.md 6: secrets never reach a log. `Secret` makes that the default:
//! its `Debug` and `Display` print `Secret(..)` and nothing of the bytes, so
//! a `{:?}` on a struct holding one cannot leak it. The bytes are zeroed
//! when the value is dropped, so a freed buffer does not keep the password
//! for whatever reuses the memory. Comparison takes the same time whatever
//! the bytes are, so a client timing failed logins learns nothing about
//! where its guess went wrong.

use std::fmt;

use zeroize::Zeroize;

/// Secret bytes: not printable, zeroed on drop, compared in constant time.
#[derive(Clone, Default)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// Takes ownership of `bytes` (no copy is left behind).
    pub fn new(bytes: Vec<u8>) -> Secret {
        Secret(bytes)
    }

    /// The secret itself, for the one place that must use it.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Compares with `other` in time that depends only on the lengths. The
    /// length itself is not hidden: a password's length is not worth the
    /// complexity of padding, and every client sends its own length anyway.
    pub fn ct_eq(&self, other: &[u8]) -> bool {
        ct_eq(&self.0, other)
    }
}

/// Constant-time equality of two byte strings (time depends on the lengths
/// only). `black_box` keeps the optimiser from turning the loop into an
/// early-exit comparison.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b) {
        diff |= std::hint::black_box(x ^ y);
    }
    std::hint::black_box(diff) == 0
}

impl From<Vec<u8>> for Secret {
    fn from(bytes: Vec<u8>) -> Secret {
        Secret(bytes)
    }
}

impl From<&[u8]> for Secret {
    fn from(bytes: &[u8]) -> Secret {
        Secret(bytes.to_vec())
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Secret {
        Secret(s.as_bytes().to_vec())
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Secret) -> bool {
        ct_eq(&self.0, &other.0)
    }
}

impl Eq for Secret {}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        // Zeroes the bytes and the spare capacity behind them.
        self.0.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_bytes() {
        let s = Secret::from("hunter2");
        assert_eq!(format!("{s:?}"), "Secret(..)");
        assert_eq!(format!("{s}"), "Secret(..)");
        assert_eq!(format!("{:?}", Some(&s)), "Some(Secret(..))");
        assert_eq!(s.as_bytes(), b"hunter2");
    }

    #[test]
    fn equality() {
        let a = Secret::from("hunter2");
        assert_eq!(a, Secret::from(b"hunter2".as_slice()));
        assert_ne!(a, Secret::from("hunter3"));
        assert_ne!(a, Secret::from("hunter22"));
        assert_ne!(a, Secret::from(""));
        assert!(a.ct_eq(b"hunter2"));
        assert!(!a.ct_eq(b"Hunter2"));
        assert!(!a.ct_eq(b""));
        assert!(Secret::default().ct_eq(b""));
        assert_eq!(a.len(), 7);
        assert!(!a.is_empty());
    }
}
