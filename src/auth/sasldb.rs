//! Reader for the Cyrus SASL `sasldb2` password file, without libdb.
//!
//! `saslpasswd2` (Debian 12: sasl2-bin, Berkeley DB 5.3) keeps one record per
//! user and property in a Berkeley DB *hash* file: the key is
//! `user NUL realm NUL property` (no trailing NUL), the value for the
//! property `userPassword` the plaintext password. This module reads that
//! file format directly; nothing here writes it.
//!
//! The on-disk format, as far as a reader needs it (BDB `dbinc/db_page.h`,
//! `dbinc/hash.h`, `hash/hash_func.c`):
//!
//! * Page 0 is the hash meta page: the generic 72-byte `DBMETA` (magic
//!   0x061561 at offset 12 in the byte order of the machine that made the
//!   file, version, page size, encryption and checksum flags, last page
//!   number, flags) followed by `max_bucket`, `high_mask`, `low_mask`,
//!   `ffactor`, `nelem`, `h_charkey` and the 32-entry `spares` array.
//! * A key goes to bucket `hash(key) & high_mask`, or `& low_mask` when that
//!   is past `max_bucket` (linear hashing). Bucket `b` lives on page
//!   `b + spares[log2(b + 1)]`, `log2(n)` being the smallest `i` with
//!   `2^i >= n`.
//! * The hash function is not recorded, but `h_charkey` is the hash of the
//!   12 bytes `"%$sniglet^&\0"`, which BDB itself checks on open. DB 5.3's
//!   default is `__ham_func5` (FNV-1 with a zero start); `__ham_func4` (Chris
//!   Torek's `h * 33 + c`) is recognised as well. Any other value means a
//!   hash function we do not know, and the file is refused.
//! * A hash page has the 26-byte page header (page number, next page of the
//!   bucket's chain, entry count, free-space offset, type) then `entries`
//!   16-bit item offsets: key and data alternate. Item `i` runs from its
//!   offset to the offset of item `i - 1` (the page end for item 0); its
//!   first byte is its type: `H_KEYDATA` (the bytes follow) or `H_OFFPAGE`
//!   (page number and total length of an overflow chain). Overflow pages
//!   carry their byte count in the free-space field and the bytes after the
//!   header, and chain through the next-page field.
//! * A deleted pair is removed from its page, so it is simply not found.
//!
//! Everything in the file is untrusted: every offset, page number and length
//! is checked before use, every chain walk is bounded, and anything out of
//! place is `SasldbError::Corrupt`, never a panic or an endless loop.
//! `saslpasswd2` rewrites the file in place with nothing a reader could lock
//! (libdb without an environment locks nothing), so a read can see half an
//! update: `Sasldb::lookup_retry` re-reads a file that looked corrupt a few
//! times before giving up, and confirms a "no such user" with a second read.

use std::fmt;
use std::fs::OpenOptions;
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::thread::sleep;

use zeroize::Zeroizing;

use super::secret::Secret;
use crate::limits::{SASLDB_FILE_MAX, SASLDB_READ_TRIES, SASLDB_RETRY_DELAY};

/// The property holding a user's plaintext password.
pub const USER_PASSWORD: &str = "userPassword";

/// Why a sasldb could not be read.
#[derive(Debug)]
pub enum SasldbError {
    /// The file could not be opened or read.
    Io(io::Error),
    /// The file is larger than `limits::SASLDB_FILE_MAX` (its size).
    TooLarge(u64),
    /// The file is not a Berkeley DB hash database at all.
    NotHash,
    /// A valid hash database using a feature this reader does not support
    /// (encryption, checksums, another hash function...).
    Unsupported(&'static str),
    /// The file contradicts itself: damaged, or caught in mid-update.
    Corrupt(&'static str),
}

impl SasldbError {
    /// Whether reading the file again may help (it may be mid-update).
    pub fn is_corrupt(&self) -> bool {
        matches!(self, SasldbError::Corrupt(_))
    }
}

impl fmt::Display for SasldbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SasldbError::Io(e) => write!(f, "sasldb: {e}"),
            SasldbError::TooLarge(n) => write!(
                f,
                "sasldb: file of {n} bytes is larger than the limit of {SASLDB_FILE_MAX}"
            ),
            SasldbError::NotHash => f.write_str("sasldb: not a Berkeley DB hash file"),
            SasldbError::Unsupported(what) => write!(f, "sasldb: unsupported: {what}"),
            SasldbError::Corrupt(what) => write!(f, "sasldb: corrupt: {what}"),
        }
    }
}

impl std::error::Error for SasldbError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SasldbError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for SasldbError {
    fn from(e: io::Error) -> SasldbError {
        SasldbError::Io(e)
    }
}

pub type Result<T> = std::result::Result<T, SasldbError>;

// dbinc/db_page.h and dbinc/hash.h.
const HASH_MAGIC: u32 = 0x0006_1561;
const BTREE_MAGIC: u32 = 0x0005_3162;
const P_HASH_UNSORTED: u8 = 2;
const P_OVERFLOW: u8 = 7;
const P_HASHMETA: u8 = 8;
const P_HASH: u8 = 13;
const H_KEYDATA: u8 = 1;
const H_OFFPAGE: u8 = 3;
/// `SIZEOF_PAGE`: the header every page starts with.
const PAGE_HEADER: usize = 26;
/// `HOFFPAGE_SIZE`: type, 3 unused bytes, page number, total length.
const HOFFPAGE_SIZE: usize = 12;
/// `NCACHED`: entries of the spares array.
const NCACHED: usize = 32;
/// `CHARKEY`, hashed with its NUL (`sizeof`) into the meta page's `h_charkey`.
const CHARKEY: &[u8] = b"%$sniglet^&\0";
/// `metaflags`: `DBMETA_CHKSUM`, `DBMETA_PART_RANGE | DBMETA_PART_CALLBACK`.
const DBMETA_CHKSUM: u8 = 0x01;
const DBMETA_PARTITIONED: u8 = 0x06;
/// Hash meta `flags`: `DB_HASH_DUP | DB_HASH_DUPSORT`, `DB_HASH_SUBDB`.
const DB_HASH_DUPS: u32 = 0x05;
const DB_HASH_SUBDB: u32 = 0x02;
const MIN_PAGE_SIZE: usize = 512;
const MAX_PAGE_SIZE: usize = 64 * 1024;

// Meta page field offsets (DBMETA then HMETA).
const M_PGNO: usize = 8;
const M_MAGIC: usize = 12;
const M_VERSION: usize = 16;
const M_PAGESIZE: usize = 20;
const M_ENCRYPT_ALG: usize = 24;
const M_TYPE: usize = 25;
const M_METAFLAGS: usize = 26;
const M_LAST_PGNO: usize = 32;
const M_FLAGS: usize = 48;
const M_MAX_BUCKET: usize = 72;
const M_HIGH_MASK: usize = 76;
const M_LOW_MASK: usize = 80;
const M_H_CHARKEY: usize = 92;
const M_SPARES: usize = 96;

// Page header field offsets.
const PG_PGNO: usize = 8;
const PG_NEXT: usize = 16;
const PG_ENTRIES: usize = 20;
const PG_HF_OFFSET: usize = 22;
const PG_TYPE: usize = 25;

/// The hash functions BDB can have used (`hash/hash_func.c`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HashFn {
    /// `__ham_func5`, the default since DB 2: FNV-1, starting from zero.
    Fnv,
    /// `__ham_func4`, Chris Torek's `h = h * 33 + c`.
    Torek,
}

impl HashFn {
    fn hash(self, key: &[u8]) -> u32 {
        let mut h: u32 = 0;
        match self {
            HashFn::Fnv => {
                for &c in key {
                    h = h.wrapping_mul(16_777_619) ^ u32::from(c);
                }
            }
            HashFn::Torek => {
                for &c in key {
                    h = (h << 5).wrapping_add(h).wrapping_add(u32::from(c));
                }
            }
        }
        h
    }

    /// The function whose hash of `CHARKEY` is `charkey`, as BDB checks.
    fn from_charkey(charkey: u32) -> Option<HashFn> {
        [HashFn::Fnv, HashFn::Torek]
            .into_iter()
            .find(|f| f.hash(CHARKEY) == charkey)
    }
}

/// Byte order of the file (that of the machine that created it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Order {
    Little,
    Big,
}

impl Order {
    fn u16(self, buf: &[u8], at: usize) -> Result<u16> {
        let b: [u8; 2] = at
            .checked_add(2)
            .and_then(|end| buf.get(at..end))
            .and_then(|s| s.try_into().ok())
            .ok_or(SasldbError::Corrupt("field past the end of its page"))?;
        Ok(match self {
            Order::Little => u16::from_le_bytes(b),
            Order::Big => u16::from_be_bytes(b),
        })
    }

    fn u32(self, buf: &[u8], at: usize) -> Result<u32> {
        let b: [u8; 4] = at
            .checked_add(4)
            .and_then(|end| buf.get(at..end))
            .and_then(|s| s.try_into().ok())
            .ok_or(SasldbError::Corrupt("field past the end of its page"))?;
        Ok(match self {
            Order::Little => u32::from_le_bytes(b),
            Order::Big => u32::from_be_bytes(b),
        })
    }
}

/// An open (fully read) sasldb file. It holds passwords, so its buffer is
/// zeroed when dropped and its `Debug` shows only the geometry.
pub struct Sasldb {
    file: Zeroizing<Vec<u8>>,
    order: Order,
    page_size: usize,
    /// Whole pages in the file; every page number must be below this.
    pages: u32,
    max_bucket: u32,
    high_mask: u32,
    low_mask: u32,
    spares: [u32; NCACHED],
    hash: HashFn,
}

impl fmt::Debug for Sasldb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sasldb")
            .field("order", &self.order)
            .field("page_size", &self.page_size)
            .field("pages", &self.pages)
            .field("max_bucket", &self.max_bucket)
            .field("hash", &self.hash)
            .finish_non_exhaustive()
    }
}

/// One hash page, its header and item offsets checked.
struct HashPage<'a> {
    page: &'a [u8],
    next: u32,
    /// Byte range of each item (keys at even, data at odd indexes).
    items: Vec<(usize, usize)>,
}

impl<'a> HashPage<'a> {
    fn pairs(&self) -> usize {
        self.items.len() / 2
    }

    fn item(&self, i: usize) -> &'a [u8] {
        // The ranges were checked against the page in `Sasldb::hash_page`.
        self.items
            .get(i)
            .and_then(|&(start, end)| self.page.get(start..end))
            .unwrap_or(&[])
    }
}

/// A key or data item of a hash page.
enum Item<'a> {
    /// The bytes, on the page.
    Inline(&'a [u8]),
    /// `len` bytes in the overflow chain starting at page `pgno`.
    Offpage { pgno: u32, len: usize },
}

/// `__db_log2`: the smallest `i` with `2^i >= n`.
fn log2(n: u64) -> usize {
    if n <= 1 {
        0
    } else {
        64 - (n - 1).leading_zeros() as usize
    }
}

impl Sasldb {
    /// Reads and checks the file at `path` (whole: a sasldb is small, see
    /// `limits::SASLDB_FILE_MAX`).
    pub fn open(path: impl AsRef<Path>) -> Result<Sasldb> {
        // O_NONBLOCK: a FIFO put in the file's place must not hang the
        // open (it changes nothing for a regular file).
        let mut file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)?;
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Err(SasldbError::Io(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a regular file",
            )));
        }
        if meta.len() > SASLDB_FILE_MAX {
            return Err(SasldbError::TooLarge(meta.len()));
        }
        // Sized up front so the buffer is never reallocated, which would
        // leave an unzeroed copy of the passwords behind.
        let cap = usize::try_from(meta.len() + 1).unwrap_or(0);
        let mut buf = Zeroizing::new(Vec::with_capacity(cap));
        (&mut file)
            .take(SASLDB_FILE_MAX + 1)
            .read_to_end(&mut buf)?;
        if buf.len() as u64 > SASLDB_FILE_MAX {
            return Err(SasldbError::TooLarge(buf.len() as u64));
        }
        Sasldb::from_bytes(buf)
    }

    /// Checks the meta page of a file already in memory.
    pub fn from_bytes(file: impl Into<Zeroizing<Vec<u8>>>) -> Result<Sasldb> {
        let file: Zeroizing<Vec<u8>> = file.into();
        if file.is_empty() {
            return Err(SasldbError::Corrupt("empty file"));
        }
        let magic: [u8; 4] = file
            .get(M_MAGIC..M_MAGIC + 4)
            .and_then(|s| s.try_into().ok())
            .ok_or(SasldbError::NotHash)?;
        let order = if u32::from_le_bytes(magic) == HASH_MAGIC {
            Order::Little
        } else if u32::from_be_bytes(magic) == HASH_MAGIC {
            Order::Big
        } else if [u32::from_le_bytes(magic), u32::from_be_bytes(magic)].contains(&BTREE_MAGIC) {
            // Also what a file with subdatabases starts with.
            return Err(SasldbError::Unsupported("Btree database, not hash"));
        } else {
            return Err(SasldbError::NotHash);
        };
        if file.len() < MIN_PAGE_SIZE {
            return Err(SasldbError::Corrupt("shorter than a meta page"));
        }
        let meta = &file[..MIN_PAGE_SIZE];
        let version = order.u32(meta, M_VERSION)?;
        if !(8..=9).contains(&version) {
            // 8: DB 4.0-4.5, 9: DB 4.6-5.3. Older ones differ in layout,
            // 10 (DB 6) adds external files.
            return Err(SasldbError::Unsupported("hash version other than 8 or 9"));
        }
        let page_size = order.u32(meta, M_PAGESIZE)? as usize;
        if !page_size.is_power_of_two() || !(MIN_PAGE_SIZE..=MAX_PAGE_SIZE).contains(&page_size) {
            return Err(SasldbError::Corrupt("impossible page size"));
        }
        if file.len() % page_size != 0 {
            return Err(SasldbError::Corrupt("not a whole number of pages"));
        }
        let pages = u32::try_from(file.len() / page_size)
            .map_err(|_| SasldbError::Corrupt("too many pages"))?;
        if meta[M_ENCRYPT_ALG] != 0 {
            return Err(SasldbError::Unsupported("encrypted database"));
        }
        if meta[M_TYPE] != P_HASHMETA {
            return Err(SasldbError::Corrupt("meta page of the wrong type"));
        }
        let metaflags = meta[M_METAFLAGS];
        if metaflags & DBMETA_CHKSUM != 0 {
            // Pages then carry a checksum in a longer header.
            return Err(SasldbError::Unsupported("checksummed database (DB_CHKSUM)"));
        }
        if metaflags & DBMETA_PARTITIONED != 0 {
            return Err(SasldbError::Unsupported("partitioned database"));
        }
        if order.u32(meta, M_PGNO)? != 0 {
            return Err(SasldbError::Corrupt("meta page is not page 0"));
        }
        if order.u32(meta, M_LAST_PGNO)? >= pages {
            // Typically a file caught while it grows.
            return Err(SasldbError::Corrupt(
                "last page is past the end of the file",
            ));
        }
        let flags = order.u32(meta, M_FLAGS)?;
        if flags & DB_HASH_SUBDB != 0 {
            return Err(SasldbError::Unsupported("database with subdatabases"));
        }
        if flags & DB_HASH_DUPS != 0 {
            return Err(SasldbError::Unsupported("duplicate keys (DB_DUP)"));
        }
        let max_bucket = order.u32(meta, M_MAX_BUCKET)?;
        if max_bucket >= pages {
            // Every bucket has a page of its own.
            return Err(SasldbError::Corrupt("more buckets than pages"));
        }
        let high_mask = order.u32(meta, M_HIGH_MASK)?;
        let low_mask = order.u32(meta, M_LOW_MASK)?;
        let hash = HashFn::from_charkey(order.u32(meta, M_H_CHARKEY)?).ok_or(
            SasldbError::Unsupported("unknown hash function (h_charkey)"),
        )?;
        let mut spares = [0u32; NCACHED];
        for (i, s) in spares.iter_mut().enumerate() {
            *s = order.u32(meta, M_SPARES + 4 * i)?;
        }
        Ok(Sasldb {
            file,
            order,
            page_size,
            pages,
            max_bucket,
            high_mask,
            low_mask,
            spares,
            hash,
        })
    }

    /// The value of property `prop` (normally `USER_PASSWORD`) of `user` in
    /// `realm`, or `None` if there is no such record. Names containing a
    /// NUL cannot be in the file (it separates the key's parts): `None`.
    pub fn lookup(&self, user: &str, realm: &str, prop: &str) -> Result<Option<Secret>> {
        if [user, realm, prop].iter().any(|s| s.contains('\0')) {
            return Ok(None);
        }
        let mut key = Vec::with_capacity(user.len() + realm.len() + prop.len() + 2);
        key.extend_from_slice(user.as_bytes());
        key.push(0);
        key.extend_from_slice(realm.as_bytes());
        key.push(0);
        key.extend_from_slice(prop.as_bytes());

        let mut pgno = self.bucket_page(self.bucket(&key))?;
        // A chain longer than the file has pages must loop.
        for _ in 0..self.pages {
            let page = self.hash_page(pgno)?;
            for pair in 0..page.pairs() {
                if self.key_is(page.item(2 * pair), &key)? {
                    return self.value(page.item(2 * pair + 1)).map(Some);
                }
            }
            if page.next == 0 {
                return Ok(None);
            }
            pgno = page.next;
        }
        Err(SasldbError::Corrupt("bucket chain loops"))
    }

    /// `lookup` on a fresh read of `path`, made robust against a
    /// concurrent `saslpasswd2`, which rewrites the file in place: a file
    /// that looks corrupt is read again (up to `limits::SASLDB_READ_TRIES`
    /// reads in all, with growing pauses), and "no such user" is only
    /// believed when a second read a moment later agrees, because a read
    /// between the writes of a bucket split can miss a key that is being
    /// moved. That costs an unknown user one pause and one more read, less
    /// than the delay every failed login gets anyway. A password found is
    /// only believed when a second read finds the same: a read torn by a
    /// write of the same page (the kernel does not make them atomic) can
    /// pair the key with other octets (seen by `tests/sasldb_real.rs`).
    pub fn lookup_retry(
        path: impl AsRef<Path>,
        user: &str,
        realm: &str,
        prop: &str,
    ) -> Result<Option<Secret>> {
        let path = path.as_ref();
        let mut delay = SASLDB_RETRY_DELAY;
        let mut tries = 1;
        let mut missed = false;
        let read = || Sasldb::open(path).and_then(|db| db.lookup(user, realm, prop));
        loop {
            let result = match read() {
                Ok(Some(found)) => match read() {
                    Ok(Some(again)) if again.as_bytes() == found.as_bytes() => Ok(Some(found)),
                    _ => Err(SasldbError::Corrupt("changed while it was read")),
                },
                other => other,
            };
            match result {
                Err(e) if e.is_corrupt() && tries < SASLDB_READ_TRIES => {}
                Ok(None) if !missed && tries < SASLDB_READ_TRIES => missed = true,
                result => return result,
            }
            sleep(delay);
            delay = delay.saturating_mul(2);
            tries += 1;
        }
    }

    /// Every `(user, realm)` with at least one property, sorted. Walks the
    /// whole file and checks on the way that each key is in the bucket its
    /// hash says, which also verifies the hash function and bucket mapping.
    /// Names that are not UTF-8 are shown lossily.
    pub fn users(&self) -> Result<Vec<(String, String)>> {
        // Each page belongs to one chain; seeing one twice means a loop or
        // a crossed chain, and bounds the walk by the file's size.
        let mut seen = vec![false; self.pages as usize];
        let mut users = Vec::new();
        for bucket in 0..=self.max_bucket {
            let mut pgno = self.bucket_page(bucket)?;
            loop {
                let page = self.hash_page(pgno)?;
                mark_seen(&mut seen, pgno)?;
                for pair in 0..page.pairs() {
                    let key = match self.item(page.item(2 * pair))? {
                        Item::Inline(bytes) => bytes.to_vec(),
                        Item::Offpage { pgno, len } => {
                            let mut key = Vec::with_capacity(len);
                            self.overflow(pgno, len, &mut key, Some(&mut seen))?;
                            key
                        }
                    };
                    if self.bucket(&key) != bucket {
                        return Err(SasldbError::Corrupt("key in the wrong bucket"));
                    }
                    // The data item must at least be well formed.
                    self.item(page.item(2 * pair + 1))?;
                    let mut parts = key.splitn(3, |&b| b == 0);
                    if let (Some(user), Some(realm), Some(_prop)) =
                        (parts.next(), parts.next(), parts.next())
                    {
                        users.push((
                            String::from_utf8_lossy(user).into_owned(),
                            String::from_utf8_lossy(realm).into_owned(),
                        ));
                    }
                }
                if page.next == 0 {
                    break;
                }
                pgno = page.next;
            }
        }
        users.sort();
        users.dedup();
        Ok(users)
    }

    /// `__ham_call_hash`: the bucket of `key` (linear hashing).
    fn bucket(&self, key: &[u8]) -> u32 {
        let n = self.hash.hash(key);
        let bucket = n & self.high_mask;
        if bucket > self.max_bucket {
            bucket & self.low_mask
        } else {
            bucket
        }
    }

    /// `BUCKET_TO_PAGE`: buckets are allocated in doublings; `spares[i]`
    /// is the page offset of the doubling holding buckets 2^(i-1)..2^i - 1.
    fn bucket_page(&self, bucket: u32) -> Result<u32> {
        self.spares
            .get(log2(u64::from(bucket) + 1))
            .and_then(|&spare| bucket.checked_add(spare))
            .ok_or(SasldbError::Corrupt("bucket maps to no page"))
    }

    fn page(&self, pgno: u32) -> Result<&[u8]> {
        if pgno == 0 || pgno >= self.pages {
            return Err(SasldbError::Corrupt("page number out of range"));
        }
        let start = pgno as usize * self.page_size;
        self.file
            .get(start..start + self.page_size)
            .ok_or(SasldbError::Corrupt("page number out of range"))
    }

    /// Page `pgno` of a bucket's chain, its header and item offsets checked.
    fn hash_page(&self, pgno: u32) -> Result<HashPage<'_>> {
        let page = self.page(pgno)?;
        let o = self.order;
        if o.u32(page, PG_PGNO)? == 0 {
            // A bucket page allocated by a doubling but never written is
            // zeros; BDB's __ham_pgin takes such a page as empty.
            return Ok(HashPage {
                page,
                next: 0,
                items: Vec::new(),
            });
        }
        if o.u32(page, PG_PGNO)? != pgno {
            return Err(SasldbError::Corrupt("page has another page's number"));
        }
        if !matches!(page[PG_TYPE], P_HASH | P_HASH_UNSORTED) {
            return Err(SasldbError::Corrupt("bucket page is not a hash page"));
        }
        let entries = usize::from(o.u16(page, PG_ENTRIES)?);
        let items_start = PAGE_HEADER + 2 * entries;
        if entries % 2 != 0 || items_start > self.page_size {
            return Err(SasldbError::Corrupt("impossible entry count"));
        }
        // Item i ends where item i - 1 starts (LEN_HITEM); each has at
        // least its type byte.
        let mut items = Vec::with_capacity(entries);
        let mut end = self.page_size;
        for i in 0..entries {
            let start = usize::from(o.u16(page, PAGE_HEADER + 2 * i)?);
            if start < items_start || start >= end {
                return Err(SasldbError::Corrupt("item offset out of place"));
            }
            items.push((start, end));
            end = start;
        }
        Ok(HashPage {
            page,
            next: o.u32(page, PG_NEXT)?,
            items,
        })
    }

    fn item<'a>(&self, bytes: &'a [u8]) -> Result<Item<'a>> {
        match bytes.first() {
            Some(&H_KEYDATA) => Ok(Item::Inline(&bytes[1..])),
            Some(&H_OFFPAGE) if bytes.len() >= HOFFPAGE_SIZE => {
                let len = self.order.u32(bytes, 8)? as usize;
                // Checked before anyone allocates `len` bytes.
                if len > self.file.len() {
                    return Err(SasldbError::Corrupt("overflow item longer than the file"));
                }
                Ok(Item::Offpage {
                    pgno: self.order.u32(bytes, 4)?,
                    len,
                })
            }
            // H_DUPLICATE and H_OFFDUP need DB_DUP, refused at open.
            _ => Err(SasldbError::Corrupt("bad hash item")),
        }
    }

    /// Whether key item `bytes` is `key`.
    fn key_is(&self, bytes: &[u8], key: &[u8]) -> Result<bool> {
        match self.item(bytes)? {
            Item::Inline(k) => Ok(k == key),
            Item::Offpage { len, .. } if len != key.len() => Ok(false),
            Item::Offpage { pgno, len } => {
                let mut k = Vec::with_capacity(len);
                self.overflow(pgno, len, &mut k, None)?;
                Ok(k == key)
            }
        }
    }

    /// The data item `bytes` as a secret.
    fn value(&self, bytes: &[u8]) -> Result<Secret> {
        match self.item(bytes)? {
            Item::Inline(v) => Ok(Secret::from(v)),
            Item::Offpage { pgno, len } => {
                // Allocated once at its final size, zeroed if we fail half
                // way, and moved (not copied) into the secret.
                let mut v = Zeroizing::new(Vec::with_capacity(len));
                self.overflow(pgno, len, &mut v, None)?;
                Ok(Secret::new(std::mem::take(&mut *v)))
            }
        }
    }

    /// Appends the `len` bytes of the overflow chain at `pgno` to `out`.
    /// BDB fills every page of a chain but the last (`__db_poff`), so each
    /// page's count is known in advance: that makes the walk exactly as
    /// long as `len` requires. `seen`, when given, marks (and refuses to
    /// revisit) each page.
    fn overflow(
        &self,
        mut pgno: u32,
        len: usize,
        out: &mut Vec<u8>,
        mut seen: Option<&mut Vec<bool>>,
    ) -> Result<()> {
        if len > self.file.len() {
            return Err(SasldbError::Corrupt("overflow item longer than the file"));
        }
        let space = self.page_size - PAGE_HEADER;
        let mut left = len;
        while left > 0 {
            let page = self.page(pgno)?;
            if let Some(seen) = seen.as_deref_mut() {
                mark_seen(seen, pgno)?;
            }
            let o = self.order;
            if o.u32(page, PG_PGNO)? != pgno || page[PG_TYPE] != P_OVERFLOW {
                return Err(SasldbError::Corrupt("overflow chain leaves its pages"));
            }
            let n = usize::from(o.u16(page, PG_HF_OFFSET)?);
            if n != left.min(space) {
                return Err(SasldbError::Corrupt("overflow page holds the wrong count"));
            }
            out.extend_from_slice(&page[PAGE_HEADER..PAGE_HEADER + n]);
            left -= n;
            pgno = o.u32(page, PG_NEXT)?;
        }
        Ok(())
    }
}

fn mark_seen(seen: &mut [bool], pgno: u32) -> Result<()> {
    match seen.get_mut(pgno as usize) {
        Some(s) if !*s => {
            *s = true;
            Ok(())
        }
        Some(_) => Err(SasldbError::Corrupt("page reached twice")),
        None => Err(SasldbError::Corrupt("page number out of range")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Small pages keep the synthetic files small and overflow chains long.
    const PS: usize = 512;

    fn put16(page: &mut [u8], at: usize, v: u16, o: Order) {
        let b = match o {
            Order::Little => v.to_le_bytes(),
            Order::Big => v.to_be_bytes(),
        };
        page[at..at + 2].copy_from_slice(&b);
    }

    fn put32(page: &mut [u8], at: usize, v: u32, o: Order) {
        let b = match o {
            Order::Little => v.to_le_bytes(),
            Order::Big => v.to_be_bytes(),
        };
        page[at..at + 4].copy_from_slice(&b);
    }

    /// A meta page for `pages` pages and two buckets (pages 1 and 2), the
    /// geometry of a fresh database.
    fn meta(o: Order, pages: u32) -> Vec<u8> {
        let mut m = vec![0u8; PS];
        put32(&mut m, M_MAGIC, HASH_MAGIC, o);
        put32(&mut m, M_VERSION, 9, o);
        put32(&mut m, M_PAGESIZE, PS as u32, o);
        m[M_TYPE] = P_HASHMETA;
        put32(&mut m, M_LAST_PGNO, pages - 1, o);
        put32(&mut m, M_MAX_BUCKET, 1, o);
        put32(&mut m, M_HIGH_MASK, 1, o);
        put32(&mut m, M_LOW_MASK, 0, o);
        put32(&mut m, M_H_CHARKEY, HashFn::Fnv.hash(CHARKEY), o);
        put32(&mut m, M_SPARES, 1, o);
        put32(&mut m, M_SPARES + 4, 1, o);
        m
    }

    /// A hash page holding `items` (raw, type byte first), laid out from
    /// the end of the page down as BDB does.
    fn hash_page(o: Order, pgno: u32, next: u32, items: &[Vec<u8>]) -> Vec<u8> {
        let mut p = vec![0u8; PS];
        put32(&mut p, PG_PGNO, pgno, o);
        put32(&mut p, PG_NEXT, next, o);
        put16(&mut p, PG_ENTRIES, items.len() as u16, o);
        p[PG_TYPE] = P_HASH;
        let mut end = PS;
        for (i, item) in items.iter().enumerate() {
            let start = end - item.len();
            p[start..end].copy_from_slice(item);
            put16(&mut p, PAGE_HEADER + 2 * i, start as u16, o);
            end = start;
        }
        put16(&mut p, PG_HF_OFFSET, end as u16, o);
        p
    }

    /// The overflow chain holding `data`, starting at page `first`.
    fn overflow_pages(o: Order, first: u32, data: &[u8]) -> Vec<Vec<u8>> {
        let chunks: Vec<&[u8]> = data.chunks(PS - PAGE_HEADER).collect();
        let mut pages = Vec::new();
        for (i, chunk) in chunks.iter().enumerate() {
            let pgno = first + i as u32;
            let mut p = vec![0u8; PS];
            put32(&mut p, PG_PGNO, pgno, o);
            let next = if i + 1 < chunks.len() { pgno + 1 } else { 0 };
            put32(&mut p, PG_NEXT, next, o);
            put16(&mut p, PG_ENTRIES, 1, o);
            put16(&mut p, PG_HF_OFFSET, chunk.len() as u16, o);
            p[PG_TYPE] = P_OVERFLOW;
            p[PAGE_HEADER..PAGE_HEADER + chunk.len()].copy_from_slice(chunk);
            pages.push(p);
        }
        pages
    }

    fn keydata(bytes: &[u8]) -> Vec<u8> {
        let mut v = vec![H_KEYDATA];
        v.extend_from_slice(bytes);
        v
    }

    fn offpage(o: Order, pgno: u32, len: usize) -> Vec<u8> {
        let mut v = vec![0u8; HOFFPAGE_SIZE];
        v[0] = H_OFFPAGE;
        put32(&mut v, 4, pgno, o);
        put32(&mut v, 8, len as u32, o);
        v
    }

    fn key(user: &str, realm: &str) -> Vec<u8> {
        format!("{user}\0{realm}\0{USER_PASSWORD}").into_bytes()
    }

    fn bucket_of(key: &[u8]) -> u32 {
        HashFn::Fnv.hash(key) & 1
    }

    /// A two-bucket database with the given inline pairs.
    fn db(o: Order, pairs: &[(Vec<u8>, &[u8])]) -> Vec<u8> {
        let mut buckets = [Vec::new(), Vec::new()];
        for (k, v) in pairs {
            let b = &mut buckets[bucket_of(k) as usize];
            b.push(keydata(k));
            b.push(keydata(v));
        }
        let mut file = meta(o, 3);
        file.extend(hash_page(o, 1, 0, &buckets[0]));
        file.extend(hash_page(o, 2, 0, &buckets[1]));
        file
    }

    fn sample(o: Order) -> Vec<u8> {
        db(
            o,
            &[
                (key("alice", "example.org"), b"secret1"),
                (key("bob", "example.org"), b"pw-bob"),
                (key("alice", "other.org"), "gr\u{fc}n".as_bytes()),
            ],
        )
    }

    fn password(file: &[u8], user: &str, realm: &str) -> Result<Option<Vec<u8>>> {
        let db = Sasldb::from_bytes(file.to_vec())?;
        Ok(db
            .lookup(user, realm, USER_PASSWORD)?
            .map(|s| s.as_bytes().to_vec()))
    }

    #[test]
    fn hash_function_matches_db() {
        // h_charkey of a file made by Debian 12's saslpasswd2 (DB 5.3).
        assert_eq!(HashFn::Fnv.hash(CHARKEY), 0x5e68_8dd1);
        assert_eq!(HashFn::from_charkey(0x5e68_8dd1), Some(HashFn::Fnv));
        // FNV-1 from zero, computed independently.
        assert_eq!(
            HashFn::Fnv.hash(b"alice\0example.org\0userPassword"),
            0x4f17_c288
        );
        assert_eq!(HashFn::Torek.hash(b"ab"), 97 * 33 + 98);
        assert_eq!(
            HashFn::from_charkey(HashFn::Torek.hash(CHARKEY)),
            Some(HashFn::Torek)
        );
        assert_eq!(HashFn::from_charkey(0x1234_5678), None);
    }

    #[test]
    fn bucket_to_page() {
        assert_eq!([1, 2, 3, 4, 5, 8, 9].map(log2), [0, 1, 2, 2, 3, 3, 4]);
        assert_eq!(log2(1 << 32), 32);
        let mut db = Sasldb::from_bytes(sample(Order::Little)).unwrap();
        // Doublings as BDB lays them out: buckets 0, 1 | 2, 3 | 4..7.
        db.spares[..4].copy_from_slice(&[1, 1, 3, 5]);
        assert_eq!(
            (0..8)
                .map(|b| db.bucket_page(b).unwrap())
                .collect::<Vec<_>>(),
            [1, 2, 5, 6, 9, 10, 11, 12]
        );
        // log2(2^32) = 32 is past the spares array.
        assert!(db.bucket_page(u32::MAX).unwrap_err().is_corrupt());
        db.spares[1] = u32::MAX;
        assert!(db.bucket_page(1).unwrap_err().is_corrupt());
    }

    #[test]
    fn linear_hashing_folds_buckets_past_max() {
        let mut db = Sasldb::from_bytes(sample(Order::Little)).unwrap();
        db.max_bucket = 4;
        db.high_mask = 7;
        db.low_mask = 3;
        let find = |h: u32| {
            (0u32..)
                .map(|i| i.to_le_bytes())
                .find(|k| HashFn::Fnv.hash(k) & 7 == h)
                .unwrap()
        };
        assert_eq!(db.bucket(&find(4)), 4);
        assert_eq!(db.bucket(&find(5)), 1);
        assert_eq!(db.bucket(&find(7)), 3);
        assert_eq!(db.bucket(&find(2)), 2);
    }

    #[test]
    fn lookup_in_both_byte_orders() {
        for o in [Order::Little, Order::Big] {
            let file = sample(o);
            let db = Sasldb::from_bytes(file.clone()).unwrap();
            assert_eq!(db.order, o);
            assert_eq!(
                password(&file, "alice", "example.org").unwrap().unwrap(),
                b"secret1"
            );
            assert_eq!(
                password(&file, "alice", "other.org").unwrap().unwrap(),
                "gr\u{fc}n".as_bytes()
            );
            assert_eq!(
                password(&file, "bob", "example.org").unwrap().unwrap(),
                b"pw-bob"
            );
            assert_eq!(password(&file, "bob", "other.org").unwrap(), None);
            assert_eq!(password(&file, "carol", "example.org").unwrap(), None);
            assert_eq!(password(&file, "alice\0example.org", "").unwrap(), None);
            assert!(db
                .lookup("alice", "example.org", "cmusaslsecretPLAIN")
                .unwrap()
                .is_none());
            assert_eq!(
                db.users().unwrap(),
                [
                    ("alice".to_string(), "example.org".to_string()),
                    ("alice".to_string(), "other.org".to_string()),
                    ("bob".to_string(), "example.org".to_string()),
                ]
            );
        }
    }

    #[test]
    fn overflow_keys_and_values() {
        for o in [Order::Little, Order::Big] {
            let user = "u".repeat(700);
            let long_key = key(&user, "r");
            let value: Vec<u8> = (0..1200u32).map(|i| (i % 251) as u8).collect();
            let b = bucket_of(&long_key) as usize;
            // Key on pages 3-4, value on pages 5-7.
            let mut buckets = [Vec::new(), Vec::new()];
            buckets[b].push(offpage(o, 3, long_key.len()));
            buckets[b].push(offpage(o, 5, value.len()));
            let mut file = meta(o, 8);
            file.extend(hash_page(o, 1, 0, &buckets[0]));
            file.extend(hash_page(o, 2, 0, &buckets[1]));
            overflow_pages(o, 3, &long_key)
                .into_iter()
                .for_each(|p| file.extend(p));
            overflow_pages(o, 5, &value)
                .into_iter()
                .for_each(|p| file.extend(p));
            assert_eq!(file.len(), 8 * PS);
            assert_eq!(password(&file, &user, "r").unwrap().unwrap(), value);
            assert_eq!(password(&file, &user[1..], "r").unwrap(), None);
            let db = Sasldb::from_bytes(file.clone()).unwrap();
            assert_eq!(db.users().unwrap(), [(user.clone(), "r".to_string())]);

            // A chain one byte short, or pointing back into itself.
            let mut bad = file.clone();
            put16(&mut bad[7 * PS..], PG_HF_OFFSET, 1200 - 2 * 486 - 1, o);
            assert!(password(&bad, &user, "r").unwrap_err().is_corrupt());
            let mut bad = file.clone();
            put32(&mut bad[6 * PS..], PG_NEXT, 5, o);
            assert!(password(&bad, &user, "r").unwrap_err().is_corrupt());
            let mut bad = file.clone();
            put32(&mut bad[3 * PS..], PG_NEXT, 3, o);
            assert!(Sasldb::from_bytes(bad)
                .unwrap()
                .users()
                .unwrap_err()
                .is_corrupt());
        }
    }

    #[test]
    fn bucket_chains() {
        let o = Order::Little;
        let k = key("alice", "example.org");
        let b = bucket_of(&k);
        let mut file = meta(o, 4);
        for pgno in 1..=2 {
            let next = if pgno - 1 == b { 3 } else { 0 };
            file.extend(hash_page(o, pgno, next, &[]));
        }
        file.extend(hash_page(o, 3, 0, &[keydata(&k), keydata(b"pw")]));
        assert_eq!(
            password(&file, "alice", "example.org").unwrap().unwrap(),
            b"pw"
        );
        assert_eq!(password(&file, "bob", "example.org").unwrap(), None);

        // Page 3 leading back to the bucket's first page: a loop.
        let mut bad = file.clone();
        put32(&mut bad[3 * PS..], PG_NEXT, b + 1, o);
        let missing = ["x", "y", "z", "w"]
            .into_iter()
            .find(|u| bucket_of(&key(u, "example.org")) == b)
            .unwrap();
        assert!(password(&bad, missing, "example.org")
            .unwrap_err()
            .is_corrupt());
        assert!(Sasldb::from_bytes(bad)
            .unwrap()
            .users()
            .unwrap_err()
            .is_corrupt());

        // Both buckets chaining to page 3.
        let mut bad = file.clone();
        put32(&mut bad[(2 - b as usize) * PS..], PG_NEXT, 3, o);
        assert!(Sasldb::from_bytes(bad)
            .unwrap()
            .users()
            .unwrap_err()
            .is_corrupt());
    }

    #[test]
    fn key_in_wrong_bucket_is_corrupt() {
        let o = Order::Little;
        let k = key("alice", "example.org");
        let wrong = 1 - bucket_of(&k);
        let mut file = meta(o, 3);
        for pgno in 1..=2 {
            let items = if pgno - 1 == wrong {
                vec![keydata(&k), keydata(b"pw")]
            } else {
                vec![]
            };
            file.extend(hash_page(o, pgno, 0, &items));
        }
        let db = Sasldb::from_bytes(file).unwrap();
        assert!(db.users().unwrap_err().is_corrupt());
        assert_eq!(
            db.lookup("alice", "example.org", USER_PASSWORD).unwrap(),
            None
        );
    }

    #[test]
    fn never_written_bucket_page_is_empty() {
        let o = Order::Little;
        let mut file = meta(o, 3);
        file.extend(vec![0u8; 2 * PS]);
        let db = Sasldb::from_bytes(file).unwrap();
        assert!(db.users().unwrap().is_empty());
        assert_eq!(db.lookup("a", "b", USER_PASSWORD).unwrap(), None);
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        let o = Order::Little;
        let file = sample(o);
        let with = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut v = file.clone();
            f(&mut v);
            Sasldb::from_bytes(v).unwrap_err()
        };
        let unsupported = |e: SasldbError| matches!(e, SasldbError::Unsupported(_));
        assert!(unsupported(with(&|v| v[M_ENCRYPT_ALG] = 1)));
        assert!(unsupported(with(&|v| v[M_METAFLAGS] = DBMETA_CHKSUM)));
        assert!(unsupported(with(&|v| v[M_METAFLAGS] = 0x02)));
        assert!(unsupported(with(&|v| put32(v, M_FLAGS, DB_HASH_SUBDB, o))));
        assert!(unsupported(with(&|v| put32(v, M_FLAGS, 0x01, o))));
        assert!(unsupported(with(&|v| put32(v, M_VERSION, 10, o))));
        assert!(unsupported(with(&|v| put32(v, M_H_CHARKEY, 1, o))));
        assert!(unsupported(with(&|v| put32(v, M_MAGIC, BTREE_MAGIC, o))));
        // A Queue file and text are not hash files.
        assert!(matches!(
            with(&|v| put32(v, M_MAGIC, 0x0004_2253, o)),
            SasldbError::NotHash
        ));
        assert!(matches!(
            Sasldb::from_bytes(b"alice:secret\n".to_vec()).unwrap_err(),
            SasldbError::NotHash
        ));
        assert!(Sasldb::from_bytes(Vec::new()).unwrap_err().is_corrupt());
        assert!(with(&|v| v.truncate(PS + 100)).is_corrupt());
        assert!(with(&|v| put32(v, M_PAGESIZE, 1000, o)).is_corrupt());
        assert!(with(&|v| put32(v, M_LAST_PGNO, 3, o)).is_corrupt());
        assert!(with(&|v| put32(v, M_MAX_BUCKET, 3, o)).is_corrupt());
        assert!(with(&|v| v[M_TYPE] = P_HASH).is_corrupt());
        let text = SasldbError::Unsupported("encrypted database").to_string();
        assert_eq!(text, "sasldb: unsupported: encrypted database");
    }

    #[test]
    fn hostile_items() {
        let o = Order::Little;
        let k = key("alice", "example.org");
        let b = bucket_of(&k);
        let page_with = |items: &[Vec<u8>]| {
            let mut file = meta(o, 3);
            for pgno in 1..=2 {
                let it = if pgno - 1 == b {
                    items.to_vec()
                } else {
                    vec![]
                };
                file.extend(hash_page(o, pgno, 0, &it));
            }
            file
        };
        let lookup = |file: &[u8]| password(file, "alice", "example.org");
        // Value in an overflow chain longer than the file, or at page 0,
        // or at a bucket page; an unknown item type; a duplicate item.
        assert!(lookup(&page_with(&[keydata(&k), offpage(o, 3, 1 << 30)]))
            .unwrap_err()
            .is_corrupt());
        assert!(lookup(&page_with(&[keydata(&k), offpage(o, 0, 10)]))
            .unwrap_err()
            .is_corrupt());
        assert!(lookup(&page_with(&[keydata(&k), offpage(o, 1, 10)]))
            .unwrap_err()
            .is_corrupt());
        assert!(lookup(&page_with(&[keydata(&k), vec![9, 1, 2]]))
            .unwrap_err()
            .is_corrupt());
        assert!(lookup(&page_with(&[vec![2, 0, 1, b'a', 0, 1]]))
            .unwrap_err()
            .is_corrupt());
        // A truncated off-page item.
        assert!(lookup(&page_with(&[keydata(&k), vec![H_OFFPAGE, 0, 0]]))
            .unwrap_err()
            .is_corrupt());
        // Odd entry count, offsets out of order or into the header.
        let good = page_with(&[keydata(&k), keydata(b"pw")]);
        let at = (b as usize + 1) * PS;
        let mut bad = good.clone();
        put16(&mut bad[at..], PG_ENTRIES, 3, o);
        assert!(lookup(&bad).unwrap_err().is_corrupt());
        let mut bad = good.clone();
        put16(&mut bad[at..], PG_ENTRIES, 400, o);
        assert!(lookup(&bad).unwrap_err().is_corrupt());
        let mut bad = good.clone();
        put16(&mut bad[at..], PAGE_HEADER + 2, 600, o);
        assert!(lookup(&bad).unwrap_err().is_corrupt());
        let mut bad = good.clone();
        put16(&mut bad[at..], PAGE_HEADER, 4, o);
        assert!(lookup(&bad).unwrap_err().is_corrupt());
        let mut bad = good.clone();
        put32(&mut bad[at..], PG_PGNO, 7, o);
        assert!(lookup(&bad).unwrap_err().is_corrupt());
        assert_eq!(lookup(&good).unwrap().unwrap(), b"pw");
    }

    /// Every single-byte change and every truncation of a small database
    /// with overflow chains: an error or an answer, never a panic or hang.
    #[test]
    fn mutations_never_panic() {
        let o = Order::Big;
        let user = "u".repeat(600);
        let long_key = key(&user, "r");
        let b = bucket_of(&long_key) as usize;
        let mut buckets = [Vec::new(), Vec::new()];
        buckets[b].push(offpage(o, 3, long_key.len()));
        buckets[b].push(offpage(o, 5, 700));
        buckets[1 - b].push(keydata(b"x\0r\0userPassword"));
        buckets[1 - b].push(keydata(b"pw"));
        let mut file = meta(o, 7);
        file.extend(hash_page(o, 1, 0, &buckets[0]));
        file.extend(hash_page(o, 2, 0, &buckets[1]));
        overflow_pages(o, 3, &long_key)
            .into_iter()
            .for_each(|p| file.extend(p));
        overflow_pages(o, 5, &[7u8; 700])
            .into_iter()
            .for_each(|p| file.extend(p));
        let exercise = |bytes: Vec<u8>| {
            if let Ok(db) = Sasldb::from_bytes(bytes) {
                let _ = db.lookup(&user, "r", USER_PASSWORD);
                let _ = db.lookup("x", "r", USER_PASSWORD);
                let _ = db.users();
            }
        };
        exercise(file.clone());
        for len in 0..file.len() {
            exercise(file[..len].to_vec());
        }
        for at in 0..file.len() {
            for f in [
                |_| 0u8,
                |_| 0xff,
                |x| x ^ 1,
                |x| x ^ 0x80,
                |x: u8| x.wrapping_add(1),
            ] {
                let mut v = file.clone();
                v[at] = f(v[at]);
                exercise(v);
            }
        }
    }
}
