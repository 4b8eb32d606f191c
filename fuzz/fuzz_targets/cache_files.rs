//! The caches' files: any bytes, read as a Maildir or mbox cache file
//! (`mailaccess-cache`, `store::cache::read_any`) and, split at the first
//! NUL, as an mbox parse cache and its delta (`mailaccess-mbox-index`,
//! `store::mbox::cache::read_any`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = mailaccess::store::cache::read_any(data);
    let (cache, delta) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let _ = mailaccess::store::mbox::cache::read_any(cache, delta);
});
