//! The checksums of the store's own files: FNV-1a 64 an octet at a time
//! (the index's formats up to 4, its log, mbox journals) and `sum64`, its
//! scheme a word at a time (the mbox parse cache, the index from format
//! 5). Not for anything an attacker chooses to collide: they find damage
//! (a torn write, a flipped bit), and every file they cover is written by
//! the user's own sessions.

pub const FNV_START: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a 64 of `data`.
pub fn fnv1a(data: &[u8]) -> u64 {
    fnv1a_more(FNV_START, data)
}

/// FNV-1a 64 of more data after the octets that gave `h`.
pub fn fnv1a_more(mut h: u64, data: &[u8]) -> u64 {
    for &b in data {
        h ^= u64::from(b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

/// FNV-1a's scheme a word at a time: eight times faster than a byte at a
/// time, and still a bijection of the state at every step, so that any
/// one changed word (any flipped bit) changes the result. The length goes
/// in last, so trailing zero octets count.
pub fn sum64(data: &[u8]) -> u64 {
    let mut s = Sum64::new();
    s.update(data);
    s.finish()
}

/// `sum64` taken a piece at a time (the pieces of any lengths), so that a
/// cache is written and checked without holding it whole.
#[derive(Clone)]
pub struct Sum64 {
    h: u64,
    /// The octets of a word not yet complete.
    carry: [u8; 8],
    n: usize,
    len: u64,
}

impl Default for Sum64 {
    fn default() -> Sum64 {
        Sum64::new()
    }
}

impl Sum64 {
    pub fn new() -> Sum64 {
        Sum64 {
            h: FNV_START,
            carry: [0; 8],
            n: 0,
            len: 0,
        }
    }

    fn word(&mut self, w: [u8; 8]) {
        self.h = (self.h ^ u64::from_le_bytes(w)).wrapping_mul(FNV_PRIME);
    }

    pub fn update(&mut self, mut data: &[u8]) {
        self.len += data.len() as u64;
        if self.n > 0 {
            let take = (8 - self.n).min(data.len());
            self.carry[self.n..self.n + take].copy_from_slice(&data[..take]);
            self.n += take;
            data = &data[take..];
            if self.n < 8 {
                return;
            }
            self.word(self.carry);
            self.n = 0;
        }
        let mut words = data.chunks_exact(8);
        for w in &mut words {
            let mut b = [0u8; 8];
            b.copy_from_slice(w);
            self.word(b);
        }
        let rest = words.remainder();
        self.carry[..rest.len()].copy_from_slice(rest);
        self.n = rest.len();
    }

    pub fn finish(mut self) -> u64 {
        let mut last = [0u8; 8];
        last[..self.n].copy_from_slice(&self.carry[..self.n]);
        self.word(last);
        (self.h ^ self.len).wrapping_mul(FNV_PRIME)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sum_taken_in_pieces_is_the_sum_of_the_whole() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 + i / 13) as u8).collect();
        for len in [0, 1, 7, 8, 9, 63, 64, 999, 1000] {
            let whole = sum64(&data[..len]);
            for piece in [1, 3, 8, 13, 64] {
                let mut s = Sum64::new();
                data[..len].chunks(piece).for_each(|c| s.update(c));
                assert_eq!(s.finish(), whole, "len {len} pieces of {piece}");
            }
        }
        // Any flipped bit, and a trailing zero octet, change it.
        let mut flipped = data.clone();
        flipped[500] ^= 0x10;
        assert_ne!(sum64(&flipped), sum64(&data));
        assert_ne!(
            sum64(&data[..999]),
            sum64(&[&data[..999], &[0][..]].concat())
        );
    }
}
