//! The per-mailbox index file: UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ and, per
//! message, its UID, modseq, CRLF size, INTERNALDATE, flags and file base name.
//!
//! Format (`mailaccess-index` in the mailbox directory), text, one item a line:
//!
//! ```text
//! mailaccess-index 2
//! uidvalidity <u32>
//! uidnext <u32>
//! highestmodseq <u64>
//! firstrecent <u32>    (UIDs from here on are \Recent to the next session
//!                      that opens the mailbox read-write; version 1 files
//!                      lack the line and mean "none")
//! keywords <n>
//! <keyword>            (n lines; line i is keyword number i; "" = unused slot)
//! messages <m>
//! <uid> <modseq> <size> <date> <zone> <system flag letters|-> <kw numbers,|-> <base>
//! end <fnv1a-64 of every byte before this line, 16 hex digits>
//! ```
//!
//! Keyword numbers below 26 are the Maildir letters a-z (the same numbering
//! as `dovecot-keywords`). The file is replaced as a whole (write a new file,
//! fsync, rename) under the mailbox lock. A file that fails any check (bad
//! checksum, truncated, UIDs not increasing, counts beyond limits) is refused
//! as a whole: the caller then builds a new index under a new UIDVALIDITY,
//! so no message ever gets a second UID under the same UIDVALIDITY.

use std::io::Read;
use std::path::Path;

use super::lock::Lock;
use super::{flag, Flags, ModSeq, Result, StoreError, Uid};
use crate::limits::{INDEX_FILE_MAX, KEYWORDS_MAX, KEYWORD_LEN_MAX, MESSAGES_MAX};

pub const INDEX_FILE: &str = "mailaccess-index";
pub const LOCK_FILE: &str = "mailaccess-index.lock";
const MAGIC: &str = "mailaccess-index 2";
/// The first format, without `firstrecent`; still read.
const MAGIC_V1: &str = "mailaccess-index 1";

/// The store-wide record of the last UIDVALIDITY handed out.
pub const UIDVALIDITY_FILE: &str = "mailaccess-uidvalidity";
const UIDVALIDITY_LOCK: &str = "mailaccess-uidvalidity.lock";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub uid: Uid,
    pub modseq: ModSeq,
    /// RFC822.SIZE (CRLF line ends).
    pub size: u64,
    /// INTERNALDATE, seconds since the epoch, and its zone (minutes east).
    pub date: i64,
    pub zone: i32,
    pub flags: Flags,
    /// The file name up to its `:`.
    pub base: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Index {
    pub uid_validity: u32,
    pub uid_next: Uid,
    pub highest_modseq: ModSeq,
    /// RFC 3501 2.3.2 `\Recent`: messages with a UID from here on have not
    /// been seen by any read-write session yet. The session that raises it
    /// (under the mailbox lock) owns their `\Recent`, as in Dovecot.
    pub first_recent: Uid,
    /// Keyword table; position i < 26 is Maildir letter `a` + i. Empty
    /// strings are unused slots.
    pub keywords: Vec<String>,
    /// Sorted by UID.
    pub entries: Vec<Entry>,
}

impl Index {
    pub fn new(uid_validity: u32) -> Index {
        Index {
            uid_validity,
            uid_next: 1,
            highest_modseq: 1,
            first_recent: 1,
            keywords: Vec::new(),
            entries: Vec::new(),
        }
    }

    /// Position of a keyword in the table (case-insensitive).
    pub fn keyword_pos(&self, k: &str) -> Option<usize> {
        self.keywords
            .iter()
            .position(|x| !x.is_empty() && x.eq_ignore_ascii_case(k))
    }

    /// Adds a keyword to the table if missing; returns its position.
    pub fn add_keyword(&mut self, k: &str) -> Result<usize> {
        if let Some(p) = self.keyword_pos(k) {
            return Ok(p);
        }
        if !valid_keyword(k) {
            return Err(StoreError::NotAllowed("invalid keyword"));
        }
        if let Some(p) = self.keywords.iter().position(|x| x.is_empty()) {
            self.keywords[p] = k.to_string();
            return Ok(p);
        }
        if self.keywords.len() >= KEYWORDS_MAX {
            return Err(StoreError::Limit("too many keywords in this mailbox"));
        }
        self.keywords.push(k.to_string());
        Ok(self.keywords.len() - 1)
    }

    pub fn bump(&mut self) -> ModSeq {
        self.highest_modseq += 1;
        self.highest_modseq
    }

    pub fn find(&self, uid: Uid) -> Option<usize> {
        self.entries.binary_search_by_key(&uid, |e| e.uid).ok()
    }

    /// Reads and checks `dir/mailaccess-index`. `Ok(None)`: there is none.
    pub fn load(dir: &Path) -> Result<Option<Index>> {
        let mut f = match crate::store::open::read(&dir.join(INDEX_FILE)) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            // A FIFO or a link in its place: damage, rebuilt like any other.
            Err(e) if crate::store::open::is_not_regular(&e) => {
                return Err(StoreError::Corrupt(format!("index: {e}")))
            }
            Err(e) => return Err(StoreError::Io(e)),
        };
        if f.metadata()?.len() > INDEX_FILE_MAX {
            return Err(StoreError::Corrupt("index file too large".into()));
        }
        let mut buf = Vec::new();
        Read::by_ref(&mut f)
            .take(INDEX_FILE_MAX)
            .read_to_end(&mut buf)?;
        parse(&buf)
            .map(Some)
            .map_err(|why| StoreError::Corrupt(format!("index: {why}")))
    }

    /// Replaces `dir/mailaccess-index` (new file, fsync, rename, fsync dir).
    /// The caller holds the mailbox lock.
    pub fn save(&self, dir: &Path) -> Result<()> {
        let data = self.serialize();
        crate::store::open::replace(&dir.join(INDEX_FILE), &data, true)?;
        Ok(())
    }

    fn serialize(&self) -> Vec<u8> {
        use std::fmt::Write as _;
        let mut s = String::with_capacity(64 + self.entries.len() * 64);
        let _ = writeln!(s, "{MAGIC}");
        let _ = writeln!(s, "uidvalidity {}", self.uid_validity);
        let _ = writeln!(s, "uidnext {}", self.uid_next);
        let _ = writeln!(s, "highestmodseq {}", self.highest_modseq);
        let _ = writeln!(s, "firstrecent {}", self.first_recent);
        let _ = writeln!(s, "keywords {}", self.keywords.len());
        for k in &self.keywords {
            let _ = writeln!(s, "{k}");
        }
        let _ = writeln!(s, "messages {}", self.entries.len());
        for e in &self.entries {
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
                .filter_map(|k| self.keyword_pos(k))
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
                e.uid, e.modseq, e.size, e.date, e.zone, sys, kws, e.base
            );
        }
        let sum = fnv1a(s.as_bytes());
        let _ = writeln!(s, "end {sum:016x}");
        s.into_bytes()
    }
}

/// System flags and their Maildir letters, in ASCII order.
pub const SYSTEM_LETTERS: [(u8, char); 5] = [
    (flag::DRAFT, 'D'),
    (flag::FLAGGED, 'F'),
    (flag::ANSWERED, 'R'),
    (flag::SEEN, 'S'),
    (flag::DELETED, 'T'),
];

/// An IMAP flag-keyword atom we are willing to store: it must also be safe
/// as a line of `dovecot-keywords` and a token of the index.
pub fn valid_keyword(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= KEYWORD_LEN_MAX
        && !k.starts_with('\\')
        && k.bytes()
            .all(|b| b > 0x20 && b < 0x7f && !b"(){%*\"\\]".contains(&b))
}

/// A base name we can keep in the index: one token of printable ASCII.
pub fn valid_base(b: &str) -> bool {
    !b.is_empty() && b.len() <= 255 && b.bytes().all(|c| c > 0x20 && c < 0x7f && c != b'/')
}

fn fnv1a(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn parse(buf: &[u8]) -> std::result::Result<Index, &'static str> {
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
            base: base.to_string(),
        });
    }
    if lines.next().is_some() {
        return Err("trailing data");
    }
    Ok(Index {
        uid_validity,
        uid_next,
        highest_modseq,
        first_recent,
        keywords,
        entries,
    })
}

/// Hands out a new UIDVALIDITY for `root`'s store: the current time in
/// seconds, but always strictly greater than any handed out before (kept in
/// `mailaccess-uidvalidity` under its own lock), so that a mailbox deleted
/// and re-created within one second still gets a new one.
pub fn new_uid_validity(root: &Path) -> Result<u32> {
    // Its own lock file: flock locks of one process on two descriptors
    // conflict, so this must not be a lock a caller may already hold.
    let _lock = Lock::exclusive(&root.join(UIDVALIDITY_LOCK))?;
    let path = root.join(UIDVALIDITY_FILE);
    let mut text = String::new();
    let read = crate::store::open::read(&path).and_then(|f| f.take(64).read_to_string(&mut text));
    let last: u32 = match read {
        Ok(_) => text.trim().parse().unwrap_or(0),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
        Err(e) => return Err(StoreError::Io(e)),
    };
    let now = chrono::Utc::now().timestamp();
    let now = u32::try_from(now).unwrap_or(u32::MAX);
    let v = now.max(
        last.checked_add(1)
            .ok_or(StoreError::Limit("UIDVALIDITY exhausted"))?,
    );
    crate::store::open::replace(&path, format!("{v}\n").as_bytes(), true)?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Index {
        let mut ix = Index::new(42);
        ix.add_keyword("$Forwarded").expect("kw");
        ix.add_keyword("Junk").expect("kw");
        let mut flags = Flags {
            system: flag::SEEN | flag::DELETED,
            keywords: vec![],
        };
        flags.insert_keyword("Junk");
        for uid in 1..4 {
            let m = ix.bump();
            ix.entries.push(Entry {
                uid,
                modseq: m,
                size: 100 + u64::from(uid),
                date: 1_700_000_000,
                zone: -300,
                flags: flags.clone(),
                base: format!("1700000000.M{uid}P1.host,S=10,W=12"),
            });
        }
        ix.uid_next = 4;
        ix
    }

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ix = sample();
        ix.save(dir.path()).expect("save");
        assert_eq!(Index::load(dir.path()).expect("load"), Some(ix));
    }

    #[test]
    fn every_truncation_and_bit_flip_is_refused() {
        let data = sample().serialize();
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
        let good = String::from_utf8(sample().serialize()).expect("utf8");
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

    #[test]
    fn uid_validity_strictly_increases() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = new_uid_validity(dir.path()).expect("a");
        let b = new_uid_validity(dir.path()).expect("b");
        let c = new_uid_validity(dir.path()).expect("c");
        assert!(a < b && b < c);
    }
}
