//! The stream's floor: where a stream continues once retention has deleted
//! every one of its files. Sequence numbers never go back, and file names
//! never repeat, whatever was deleted: before retention deletes files it
//! records, in `<stream>/.floor`, the end of the last one it deletes, and a
//! writer that finds no file continues from there.

use crate::error::{Error, IoContext, Result};
use std::path::Path;

/// The floor file in a stream folder.
pub const FLOOR_FILE: &str = ".floor";
const MAGIC: &[u8; 8] = b"ESFLOOR1";
/// Bytes of the floor file.
pub const FLOOR_LEN: usize = 36;

/// Where the stream's deleted files ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Floor {
    /// The sequence number the next record gets.
    pub next_seq: u64,
    /// The largest timestamp of every deleted file (`prev_max_ts` of the next file).
    pub max_ts: i64,
    /// Interval start of the last deleted file: later files start after it.
    pub last_start_ns: i64,
}

impl Floor {
    // Format: {magic "ESFLOOR1" | next_seq u64 | max_ts i64 | last_start_ns i64 | crc32c u32 of the 32 bytes before}
    pub fn encode(&self) -> [u8; FLOOR_LEN] {
        let mut b = [0u8; FLOOR_LEN];
        b[..8].copy_from_slice(MAGIC);
        b[8..16].copy_from_slice(&self.next_seq.to_le_bytes());
        b[16..24].copy_from_slice(&self.max_ts.to_le_bytes());
        b[24..32].copy_from_slice(&self.last_start_ns.to_le_bytes());
        let crc = crc32c::crc32c(&b[..32]);
        b[32..].copy_from_slice(&crc.to_le_bytes());
        b
    }

    pub fn decode(b: &[u8]) -> std::result::Result<Floor, &'static str> {
        if b.len() != FLOOR_LEN || &b[..8] != MAGIC {
            return Err("not a floor file");
        }
        let word = |at: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&b[at..at + 8]);
            w
        };
        let mut crc = [0u8; 4];
        crc.copy_from_slice(&b[32..]);
        if crc32c::crc32c(&b[..32]) != u32::from_le_bytes(crc) {
            return Err("checksum mismatch");
        }
        Ok(Floor {
            next_seq: u64::from_le_bytes(word(8)),
            max_ts: i64::from_le_bytes(word(16)),
            last_start_ns: i64::from_le_bytes(word(24)),
        })
    }

    /// The floor of the stream in `dir`, if retention left one.
    pub fn read(dir: &Path) -> Result<Option<Floor>> {
        let path = dir.join(FLOOR_FILE);
        match std::fs::read(&path) {
            Ok(b) => Floor::decode(&b)
                .map(Some)
                .map_err(|reason| Error::Corrupted {
                    file: path,
                    offset: 0,
                    reason: reason.into(),
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).at("read", &path),
        }
    }

    /// Store durably (temporary file, fsync, rename, folder fsync), unless
    /// the stored floor is already as high.
    pub fn raise(&self, dir: &Path) -> Result<()> {
        if Floor::read(dir)
            .ok()
            .flatten()
            .is_some_and(|f| f.next_seq >= self.next_seq)
        {
            return Ok(());
        }
        let path = dir.join(FLOOR_FILE);
        let tmp = dir.join(".floor.tmp");
        {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp).at("create", &tmp)?;
            f.write_all(&self.encode()).at("write", &tmp)?;
            f.sync_all().at("sync", &tmp)?;
        }
        std::fs::rename(&tmp, &path).at("rename", &tmp)?;
        crate::sync::sync_dir(dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_damage() {
        let f = Floor {
            next_seq: 70537,
            max_ts: -5,
            last_start_ns: 1_723_161_240_000_000_000,
        };
        let b = f.encode();
        assert_eq!(Floor::decode(&b), Ok(f));
        for i in 0..FLOOR_LEN {
            let mut d = b;
            d[i] ^= 1;
            assert!(Floor::decode(&d).is_err(), "byte {i}");
        }
        assert!(Floor::decode(&b[..35]).is_err());
    }
}
