//! The bytes of a compact file, pure codec: block headers, the block
//! index and the trailer (see `docs/format.md`, "Compact files").
//!
//! ```text
//! file    := header (64 bytes, version 2) | block* | footer | trailer
//! block   := block header (56 bytes) | body [body_len] | zero padding to 8
//! footer  := "ESCI" | reserved u32 | record_count u64 | min_ts i64 | max_ts i64
//!            | block_count u32 | reserved u32 | block_count x entry
//! entry   := offset u64 | first_seq u64 | max_ts_before i64 | count u32 | reserved u32
//! trailer := footer_offset u64 | crc32c(footer) u32 | "ESCF"
//! ```

use crate::format::{i64_at, u16_at, u32_at, u64_at, HEADER_LEN};

/// The first four bytes of every block.
pub const BLOCK_MAGIC: [u8; 4] = *b"ESBK";
/// Bytes of a block header.
pub const BLOCK_HEADER_LEN: usize = 56;
/// The first four bytes of the footer.
pub const FOOTER_MAGIC: [u8; 4] = *b"ESCI";
/// The last four bytes of a compact file.
pub const TRAILER_MAGIC: [u8; 4] = *b"ESCF";
/// Bytes of the footer before its entries.
pub const FOOTER_FIXED_LEN: usize = 40;
/// Bytes of one block index entry.
pub const ENTRY_LEN: usize = 32;
/// Bytes of the trailer.
pub const TRAILER_LEN: usize = 16;
/// The most records a block may hold (a reader allocates no more).
pub const MAX_BLOCK_RECORDS: u32 = 1 << 20;
/// The most payload bytes a block may hold.
pub const MAX_BLOCK_DATA: u32 = 256 << 20;

/// What a block says of itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockHeader {
    /// The codec that wrote the body (`crate::compact::codec`).
    pub codec: u16,
    /// Records in the block (at least 1).
    pub count: u32,
    /// Bytes of the encoded body after the header.
    pub body_len: u32,
    /// Sequence number of the block's first record.
    pub first_seq: u64,
    /// Timestamp of its first and last record, and the largest.
    pub first_ts: i64,
    pub last_ts: i64,
    pub max_ts: i64,
    /// Bytes of the block's payloads, decoded.
    pub data_len: u32,
}

impl BlockHeader {
    // Format: {"ESBK" | codec u16 | reserved u16 | count u32 | body_len u32 | first_seq u64
    //          | first_ts i64 | last_ts i64 | max_ts i64 | data_len u32 | crc32c u32}
    /// The header bytes of a block with body `body`; the checksum covers
    /// the header's first 52 bytes and the body.
    pub fn encode(&self, body: &[u8]) -> [u8; BLOCK_HEADER_LEN] {
        let mut b = [0u8; BLOCK_HEADER_LEN];
        b[0..4].copy_from_slice(&BLOCK_MAGIC);
        b[4..6].copy_from_slice(&self.codec.to_le_bytes());
        b[8..12].copy_from_slice(&self.count.to_le_bytes());
        b[12..16].copy_from_slice(&self.body_len.to_le_bytes());
        b[16..24].copy_from_slice(&self.first_seq.to_le_bytes());
        b[24..32].copy_from_slice(&self.first_ts.to_le_bytes());
        b[32..40].copy_from_slice(&self.last_ts.to_le_bytes());
        b[40..48].copy_from_slice(&self.max_ts.to_le_bytes());
        b[48..52].copy_from_slice(&self.data_len.to_le_bytes());
        let crc = crc32c::crc32c_append(crc32c::crc32c(&b[..52]), body);
        b[52..56].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Decode the block at `at` of the file `file`: its header and body,
    /// checksum checked.
    pub fn decode(file: &[u8], at: usize) -> Result<(BlockHeader, &[u8]), &'static str> {
        let Some(h) = at
            .checked_add(BLOCK_HEADER_LEN)
            .and_then(|end| file.get(at..end))
        else {
            return Err("block header past the end of the file");
        };
        if h[0..4] != BLOCK_MAGIC {
            return Err("no block magic (ESBK) where the index says a block starts");
        }
        let bh = BlockHeader {
            codec: u16_at(h, 4),
            count: u32_at(h, 8),
            body_len: u32_at(h, 12),
            first_seq: u64_at(h, 16),
            first_ts: i64_at(h, 24),
            last_ts: i64_at(h, 32),
            max_ts: i64_at(h, 40),
            data_len: u32_at(h, 48),
        };
        let start = at + BLOCK_HEADER_LEN;
        let Some(body) = file.get(start..start + bh.body_len as usize) else {
            return Err("block body runs past the end of the file");
        };
        if crc32c::crc32c_append(crc32c::crc32c(&h[..52]), body) != u32_at(h, 52) {
            return Err("block checksum mismatch");
        }
        if bh.count == 0 {
            return Err("a block of no records");
        }
        if bh.count > MAX_BLOCK_RECORDS || bh.data_len > MAX_BLOCK_DATA {
            return Err("a block larger than a reader decodes (2^20 records, 256 MiB)");
        }
        Ok((bh, body))
    }

    /// Offset of the byte after the block (and its padding) at `at`.
    pub fn end(&self, at: usize) -> usize {
        crate::format::align8(at + BLOCK_HEADER_LEN + self.body_len as usize)
    }
}

/// One block index entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockEntry {
    /// Offset of the block header in the file.
    pub offset: u64,
    /// Sequence number of the block's first record.
    pub first_seq: u64,
    /// The stream's largest timestamp before the block.
    pub max_ts_before: i64,
    /// Records in the block.
    pub count: u32,
}

/// The footer of a compact file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompactFooter {
    pub record_count: u64,
    /// Smallest record timestamp (`i64::MAX` without records).
    pub min_ts: i64,
    /// Largest record timestamp (`i64::MIN` without records).
    pub max_ts: i64,
    pub blocks: Vec<BlockEntry>,
}

impl CompactFooter {
    /// The footer and trailer bytes of a footer starting at offset `at`.
    pub fn encode(&self, at: u64) -> Vec<u8> {
        let mut b =
            Vec::with_capacity(FOOTER_FIXED_LEN + self.blocks.len() * ENTRY_LEN + TRAILER_LEN);
        b.extend_from_slice(&FOOTER_MAGIC);
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&self.record_count.to_le_bytes());
        b.extend_from_slice(&self.min_ts.to_le_bytes());
        b.extend_from_slice(&self.max_ts.to_le_bytes());
        b.extend_from_slice(&(self.blocks.len() as u32).to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        for e in &self.blocks {
            b.extend_from_slice(&e.offset.to_le_bytes());
            b.extend_from_slice(&e.first_seq.to_le_bytes());
            b.extend_from_slice(&e.max_ts_before.to_le_bytes());
            b.extend_from_slice(&e.count.to_le_bytes());
            b.extend_from_slice(&0u32.to_le_bytes());
        }
        let crc = crc32c::crc32c(&b);
        b.extend_from_slice(&at.to_le_bytes());
        b.extend_from_slice(&crc.to_le_bytes());
        b.extend_from_slice(&TRAILER_MAGIC);
        b
    }

    /// Decode the footer of the whole compact file `file` whose first
    /// record has sequence `first_seq`: its entries must describe blocks
    /// one after another from the header on, their sequence numbers
    /// continuing, their counts adding up. Returns the footer and its
    /// offset (the end of the blocks).
    pub fn decode(file: &[u8], first_seq: u64) -> Result<(CompactFooter, usize), &'static str> {
        let (at, body) =
            crate::format::trailed(file, &TRAILER_MAGIC, FOOTER_FIXED_LEN).map_err(|e| {
                e.unwrap_or("no compact trailer magic (ESCF) at the end of the file (truncated?)")
            })?;
        if body[0..4] != FOOTER_MAGIC {
            return Err("footer does not start with ESCI");
        }
        let n = u32_at(body, 32) as usize;
        if n.checked_mul(ENTRY_LEN)
            .and_then(|x| x.checked_add(FOOTER_FIXED_LEN))
            != Some(body.len())
        {
            return Err("footer block count does not match the footer size");
        }
        let f = CompactFooter {
            record_count: u64_at(body, 8),
            min_ts: i64_at(body, 16),
            max_ts: i64_at(body, 24),
            blocks: (0..n)
                .map(|k| {
                    let p = FOOTER_FIXED_LEN + k * ENTRY_LEN;
                    BlockEntry {
                        offset: u64_at(body, p),
                        first_seq: u64_at(body, p + 8),
                        max_ts_before: i64_at(body, p + 16),
                        count: u32_at(body, p + 24),
                    }
                })
                .collect(),
        };
        let (mut seq, mut min_off) = (first_seq, HEADER_LEN as u64);
        for e in &f.blocks {
            if e.offset < min_off || e.offset % 8 != 0 || e.offset as usize + BLOCK_HEADER_LEN > at
            {
                return Err("a block index entry points outside the blocks or back");
            }
            if e.first_seq != seq || e.count == 0 {
                return Err("the block index's sequence numbers do not continue");
            }
            seq = seq
                .checked_add(e.count as u64)
                .ok_or("sequence numbers overflow")?;
            min_off = e.offset + BLOCK_HEADER_LEN as u64;
        }
        if seq - first_seq != f.record_count {
            return Err("the block index's counts do not add up to the record count");
        }
        Ok((f, at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_detects_every_flipped_bit() {
        let h = BlockHeader {
            codec: 3,
            count: 2,
            body_len: 5,
            first_seq: 9,
            first_ts: 10,
            last_ts: 11,
            max_ts: 11,
            data_len: 96,
        };
        let mut file = vec![0u8; 64];
        file.extend_from_slice(&h.encode(b"hello"));
        file.extend_from_slice(b"hello");
        assert_eq!(BlockHeader::decode(&file, 64), Ok((h, &b"hello"[..])));
        assert_eq!(h.end(64), 64 + 56 + 8);
        for byte in 64..file.len() {
            for bit in 0..8 {
                let mut d = file.clone();
                d[byte] ^= 1 << bit;
                assert_ne!(
                    BlockHeader::decode(&d, 64).ok(),
                    Some((h, &b"hello"[..])),
                    "byte {byte} bit {bit}"
                );
            }
        }
        assert!(BlockHeader::decode(&file[..100], 64).is_err());
    }

    #[test]
    fn the_footer_round_trips_and_checks_its_index() {
        let f = CompactFooter {
            record_count: 7,
            min_ts: 1,
            max_ts: 9,
            blocks: vec![
                BlockEntry {
                    offset: 64,
                    first_seq: 100,
                    max_ts_before: i64::MIN,
                    count: 4,
                },
                BlockEntry {
                    offset: 200,
                    first_seq: 104,
                    max_ts_before: 5,
                    count: 3,
                },
            ],
        };
        let mut file = vec![0u8; 400];
        file.extend_from_slice(&f.encode(400));
        assert_eq!(CompactFooter::decode(&file, 100), Ok((f.clone(), 400)));
        assert!(CompactFooter::decode(&file, 99).is_err());
        let n = file.len();
        file[n - 30] ^= 1;
        assert!(CompactFooter::decode(&file, 100).is_err());
    }
}
