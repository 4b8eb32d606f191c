//! The first index format, text (`mailaccess-index`), read once to migrate
//! a mailbox to the binary index (`super`), which then replaces it.
//!
//! ```text
//! mailaccess-index 2
//! uidvalidity <u32>
//! uidnext <u32>
//! highestmodseq <u64>
//! firstrecent <u32>    (version 1 files lack it and mean "none")
//! keywords <n>
//! <keyword>            (n lines; line i is keyword number i; "" = unused slot)
//! messages <m>
//! <uid> <modseq> <size> <date> <zone> <system flag letters|-> <kw numbers,|-> <base>
//! end <fnv1a-64 of every byte before this line, 16 hex digits>
//! ```
//!
//! A file that fails any check is refused as a whole, as the binary one is.

use std::path::Path;

use super::{valid_base, valid_keyword, Entry, Index, SYSTEM_LETTERS};
use crate::limits::{KEYWORDS_MAX, MESSAGES_MAX};
use crate::store::sum::fnv1a;
use crate::store::{Flags, ModSeq, Result, StoreError, Uid};

pub const TEXT_INDEX_FILE: &str = "mailaccess-index";
const MAGIC: &str = "mailaccess-index 2";
/// The first format, without `firstrecent`; still read.
const MAGIC_V1: &str = "mailaccess-index 1";

/// Reads and checks `dir/mailaccess-index`. `Ok(None)`: there is none.
pub fn load(dir: &Path) -> Result<Option<Index>> {
    let Some(buf) = super::read_file(&dir.join(TEXT_INDEX_FILE))? else {
        return Ok(None);
    };
    parse(&buf)
        .map(Some)
        .map_err(|why| StoreError::Corrupt(format!("index: {why}")))
}

/// The old format, for tests that make a file to migrate.
#[cfg(test)]
pub(super) fn serialize(ix: &Index) -> Vec<u8> {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(64 + ix.len() * 64);
    let _ = writeln!(s, "{MAGIC}");
    let _ = writeln!(s, "uidvalidity {}", ix.uid_validity);
    let _ = writeln!(s, "uidnext {}", ix.uid_next);
    let _ = writeln!(s, "highestmodseq {}", ix.highest_modseq);
    let _ = writeln!(s, "firstrecent {}", ix.first_recent);
    let _ = writeln!(s, "keywords {}", ix.keywords.len());
    for k in &ix.keywords {
        let _ = writeln!(s, "{k}");
    }
    let _ = writeln!(s, "messages {}", ix.len());
    for e in ix.iter() {
        let mut sys = String::new();
        for (bit, c) in SYSTEM_LETTERS {
            if e.flags.has(bit) {
                sys.push(c);
            }
        }
        if sys.is_empty() {
            sys.push('-');
        }
        let kws: Vec<String> = e
            .flags
            .keywords
            .iter()
            .filter_map(|k| ix.keyword_pos(k))
            .map(|p| p.to_string())
            .collect();
        let kws = if kws.is_empty() {
            "-".to_string()
        } else {
            kws.join(",")
        };
        let _ = writeln!(
            s,
            "{} {} {} {} {} {} {} {}",
            e.uid, e.modseq, e.size, e.date, e.zone, sys, kws, e.name
        );
    }
    let sum = fnv1a(s.as_bytes());
    let _ = writeln!(s, "end {sum:016x}");
    s.into_bytes()
}

pub(super) fn parse(buf: &[u8]) -> std::result::Result<Index, &'static str> {
    let text = std::str::from_utf8(buf).map_err(|_| "not UTF-8")?;
    let body_end = text
        .trim_end_matches('\n')
        .rfind('\n')
        .map(|p| p + 1)
        .ok_or("truncated")?;
    let (body, tail) = text.split_at(body_end);
    let sum = tail
        .strip_prefix("end ")
        .and_then(|t| t.strip_suffix('\n'))
        .ok_or("no end marker")?;
    if sum.len() != 16 || u64::from_str_radix(sum, 16) != Ok(fnv1a(body.as_bytes())) {
        return Err("checksum mismatch");
    }
    let mut lines = body.lines();
    let mut next = || lines.next().ok_or("truncated");
    let version = match next()? {
        MAGIC => 2,
        MAGIC_V1 => 1,
        _ => return Err("unknown format"),
    };
    fn field<T: std::str::FromStr>(line: &str, key: &str) -> std::result::Result<T, &'static str> {
        line.strip_prefix(key)
            .and_then(|v| v.strip_prefix(' '))
            .and_then(|v| v.parse().ok())
            .ok_or("bad header field")
    }
    let uid_validity: u32 = field(next()?, "uidvalidity")?;
    let uid_next: Uid = field(next()?, "uidnext")?;
    let highest_modseq: ModSeq = field(next()?, "highestmodseq")?;
    let first_recent: Uid = if version >= 2 {
        field(next()?, "firstrecent")?
    } else {
        uid_next
    };
    let nkw: usize = field(next()?, "keywords")?;
    if uid_validity == 0
        || uid_next == 0
        || nkw > KEYWORDS_MAX
        || first_recent == 0
        || first_recent > uid_next
    {
        return Err("bad header values");
    }
    let mut keywords = Vec::with_capacity(nkw);
    for _ in 0..nkw {
        let k = next()?;
        if !k.is_empty() && !valid_keyword(k) {
            return Err("bad keyword");
        }
        keywords.push(k.to_string());
    }
    let count: usize = field(next()?, "messages")?;
    if count > MESSAGES_MAX {
        return Err("too many messages");
    }
    // A line is at least 16 octets: never reserve more than the file holds.
    let mut entries = Vec::with_capacity(count.min(buf.len() / 16));
    let mut last_uid = 0;
    for _ in 0..count {
        let line = next()?;
        let mut it = line.split(' ');
        let mut tok = || it.next().ok_or("short message line");
        let uid: Uid = tok()?.parse().map_err(|_| "bad uid")?;
        let modseq: ModSeq = tok()?.parse().map_err(|_| "bad modseq")?;
        let size: u64 = tok()?.parse().map_err(|_| "bad size")?;
        let date: i64 = tok()?.parse().map_err(|_| "bad date")?;
        let zone: i32 = tok()?.parse().map_err(|_| "bad zone")?;
        let sys = tok()?;
        let kws = tok()?;
        let base = tok()?;
        if it.next().is_some() || !valid_base(base) {
            return Err("bad message line");
        }
        if uid <= last_uid
            || uid >= uid_next
            || modseq > highest_modseq
            || zone.unsigned_abs() > 24 * 60
        {
            return Err("message line out of order or range");
        }
        last_uid = uid;
        let mut flags = Flags::default();
        if sys != "-" {
            for c in sys.chars() {
                let bit = SYSTEM_LETTERS
                    .iter()
                    .find(|(_, l)| *l == c)
                    .ok_or("bad flag letter")?
                    .0;
                flags.system |= bit;
            }
        }
        if kws != "-" {
            for n in kws.split(',') {
                let n: usize = n.parse().map_err(|_| "bad keyword number")?;
                match keywords.get(n) {
                    Some(k) if !k.is_empty() => flags.insert_keyword(k),
                    _ => return Err("keyword number out of range"),
                }
            }
        }
        entries.push(Entry {
            uid,
            modseq,
            size,
            date,
            zone,
            flags,
            // The name up to its flags: the first scan finds the rest.
            name: base.to_string().into(),
            new: false,
        });
    }
    if lines.next().is_some() {
        return Err("trailing data");
    }
    Ok(Index {
        dropped: super::Dropped::default(),
        renamed: Vec::new(),
        dated: Default::default(),
        folded_dates: Vec::new(),
        uid_validity,
        uid_next,
        highest_modseq,
        first_recent,
        scanned: [0, 0],
        keywords,
        entries: super::Entries::from_vec(entries),
        // The text format kept no expunge history.
        vanished: Vec::new(),
        vanished_from: highest_modseq,
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::sample;
    use super::*;

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut ix = sample();
        std::fs::write(dir.path().join(TEXT_INDEX_FILE), serialize(&ix)).expect("write");
        // It kept no expunge history.
        ix.vanished_from = ix.highest_modseq;
        assert_eq!(load(dir.path()).expect("load"), Some(ix));
    }

    #[test]
    fn every_truncation_and_bit_flip_is_refused() {
        let data = serialize(&sample());
        for n in 0..data.len() {
            assert!(parse(&data[..n]).is_err(), "truncated at {n} accepted");
        }
        for n in 0..data.len() {
            let mut d = data.clone();
            d[n] ^= 0x01;
            assert!(parse(&d).is_err(), "flip at {n} accepted");
        }
        assert!(parse(&data).is_ok());
    }

    /// Damage that keeps the checksum valid (another program rewrote the
    /// file) is still refused, without panics.
    #[test]
    fn hostile_content_with_valid_checksum_is_refused() {
        let good = String::from_utf8(serialize(&sample())).expect("utf8");
        let body = &good[..good.rfind("end ").expect("end")];
        let edits: [(&str, &str); 8] = [
            (" -300 ", " -2147483648 "),
            ("messages 3", "messages 9999999"),
            ("uidnext 4", "uidnext 3"),
            ("keywords 2", "keywords 99999"),
            ("\n2 ", "\n1 "),
            (" ST 1 ", " ST 7 "),
            (" ST ", " SX "),
            ("uidvalidity 42", "uidvalidity 0"),
        ];
        for (from, to) in edits {
            let mut b = body.replacen(from, to, 1);
            assert_ne!(b, body, "{from}");
            let sum = fnv1a(b.as_bytes());
            b.push_str(&format!("end {sum:016x}\n"));
            assert!(parse(b.as_bytes()).is_err(), "{from} -> {to} accepted");
        }
    }
}
