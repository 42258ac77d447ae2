//! Venue checksums of a price-level book: the venue sends, with each
//! update, a CRC-32 of its best levels printed as it prints them; a book
//! rebuilt right gives the same number.
//!
//! - OKX v5: the best 25 bids and asks interleaved, `bid price:bid
//!   size:ask price:ask size:...` (a side with fewer levels simply ends),
//!   CRC-32 as a signed 32-bit integer.
//! - Kraken v1: the best 10 asks (lowest first) then the best 10 bids
//!   (highest first), each price then size with the decimal point and
//!   leading zeros removed, all concatenated; CRC-32 as an unsigned 32-bit
//!   integer (stored as its bits in an `i32`).

use crate::book::l2::L2Book;
use crate::records::decimal::{self, DecimalStyle};

/// Which venue's checksum a stream carries (`market.json` `checksum`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChecksumKind {
    Okx,
    Kraken,
}

impl ChecksumKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChecksumKind::Okx => "okx",
            ChecksumKind::Kraken => "kraken",
        }
    }

    pub fn parse(s: &str) -> Option<ChecksumKind> {
        [ChecksumKind::Okx, ChecksumKind::Kraken]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// Computes a stream's checksum from a book, printing prices and sizes as
/// the venue does (the stream's scales and style).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checksummer {
    pub kind: ChecksumKind,
    pub price_scale: u8,
    pub size_scale: u8,
    pub style: DecimalStyle,
}

impl Checksummer {
    /// The venue's checksum of `book`.
    pub fn of(&self, book: &L2Book) -> i32 {
        let p = |v: i64| decimal::format(v, self.price_scale, self.style);
        let q = |v: i64| decimal::format(v, self.size_scale, self.style);
        let mut text = String::with_capacity(1024);
        match self.kind {
            ChecksumKind::Okx => {
                let (bids, asks) = book.depth(25);
                for i in 0..25 {
                    for side in [&bids, &asks] {
                        if let Some(&(price, size)) = side.get(i) {
                            if !text.is_empty() {
                                text.push(':');
                            }
                            text.push_str(&p(price));
                            text.push(':');
                            text.push_str(&q(size));
                        }
                    }
                }
            }
            ChecksumKind::Kraken => {
                let (bids, asks) = book.depth(10);
                let digits = |s: String| {
                    let d: String = s.chars().filter(|&c| c != '.').collect();
                    d.trim_start_matches('0').to_string()
                };
                for &(price, size) in asks.iter().chain(&bids) {
                    text.push_str(&digits(p(price)));
                    text.push_str(&digits(q(size)));
                }
            }
        }
        crc32(text.as_bytes()) as i32
    }
}

/// CRC-32 (IEEE 802.3, reflected, initial value and final xor `0xFFFFFFFF`),
/// as zlib computes it.
pub fn crc32(bytes: &[u8]) -> u32 {
    const fn table() -> [u32; 256] {
        let mut t = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
                k += 1;
            }
            t[i] = c;
            i += 1;
        }
        t
    }
    static TABLE: [u32; 256] = table();
    let mut c = 0xFFFF_FFFFu32;
    for &b in bytes {
        c = TABLE[((c ^ u32::from(b)) & 0xFF) as usize] ^ (c >> 8);
    }
    c ^ 0xFFFF_FFFF
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Kraken's documented formatting: `"0.05000"` with volume
    /// `"0.00000304"` is `"5000304"`; `"45285.2"` with `"0.00100000"` is
    /// `"452852100000"`.
    #[test]
    fn kraken_prints_levels_as_documented() {
        let c = |price, size, ps, ss| {
            let mut book = L2Book::new();
            book.set(crate::records::level::BookSide::Ask, price, size);
            let k = Checksummer {
                kind: ChecksumKind::Kraken,
                price_scale: ps,
                size_scale: ss,
                style: DecimalStyle::Fixed,
            };
            k.of(&book)
        };
        assert_eq!(c(5000, 304, 5, 8), crc32(b"5000304") as i32);
        assert_eq!(c(452852, 100000, 1, 8), crc32(b"452852100000") as i32);
    }

    #[test]
    fn crc32_is_zlibs() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }
}
