//! Reading a compact file: the block index, one decoded block at a time.
//!
//! A position in a compact file is `HEADER_LEN + k` for its record `k`
//! (as a framed file's first record is at `HEADER_LEN`), so the reader
//! walks both forms with the same steps.

use super::codec::{self, Decoded};
use super::format::{BlockEntry, BlockHeader, CompactFooter};
use crate::format::{FileHeader, HEADER_LEN};
use crate::segment::{corrupted, Step};
use crate::Result;
use std::path::Path;

/// The decoding state of one compact file.
pub(crate) struct CompactFile {
    pub footer: CompactFooter,
    /// Offset of the footer (the end of the blocks).
    pub data_end: usize,
    /// The decoded block: its index and the file record index it starts at.
    block: Option<(usize, usize)>,
    decoded: Decoded,
}

/// Decode block `entry` of `file` into `out`, checking everything the
/// block and its index entry say: the checksum, the codec, the count, the
/// payload bytes, the timestamps. An error gives the offset and reason.
pub(crate) fn decode_block(
    file: &[u8],
    entry: &BlockEntry,
    out: &mut Decoded,
) -> std::result::Result<BlockHeader, (u64, String)> {
    let fail = |r: String| (entry.offset, r);
    let (h, body) = stored_block(file, entry)?;
    let Some(c) = codec::find(h.codec) else {
        return Err(fail(format!(
            "block codec {} is not known to this program (a market codec: read it with the eventstore CLI or a program built with eventstore-market)",
            h.codec
        )));
    };
    c.decode(body, h.count as usize, h.data_len as usize, out)
        .map_err(|r| fail(format!("{} block: {r}", c.name())))?;
    if out.len() != h.count as usize || out.data.len() != h.data_len as usize {
        return Err(fail(format!(
            "{} block decoded to {} records of {} bytes, its header says {} of {}",
            c.name(),
            out.len(),
            out.data.len(),
            h.count,
            h.data_len
        )));
    }
    let max = out.ts.iter().copied().max();
    if out.ts.first() != Some(&h.first_ts)
        || out.ts.last() != Some(&h.last_ts)
        || max != Some(h.max_ts)
    {
        return Err(fail(
            "the decoded timestamps do not match the block header".into(),
        ));
    }
    Ok(h)
}

/// Block `entry` of `file` as stored: its header, checksum checked and
/// matching the index entry, and its body.
fn stored_block<'a>(
    file: &'a [u8],
    entry: &BlockEntry,
) -> std::result::Result<(BlockHeader, &'a [u8]), (u64, String)> {
    let fail = |r: String| (entry.offset, r);
    let (h, body) = BlockHeader::decode(file, entry.offset as usize).map_err(|r| fail(r.into()))?;
    if h.first_seq != entry.first_seq || h.count != entry.count {
        return Err(fail(format!(
            "the block holds sequence numbers {}+{}, the index says {}+{}",
            h.first_seq, h.count, entry.first_seq, entry.count
        )));
    }
    Ok((h, body))
}

impl CompactFile {
    /// Read the block index of the compact file `bytes` at `path`.
    pub fn open(path: &Path, bytes: &[u8], header: &FileHeader) -> Result<CompactFile> {
        let (footer, data_end) = CompactFooter::decode(bytes, header.first_seq)
            .map_err(|r| corrupted(path, bytes.len().saturating_sub(16) as u64, r))?;
        Ok(CompactFile {
            footer,
            data_end,
            block: None,
            decoded: Decoded::default(),
        })
    }

    /// Decode block `b` unless it is the one decoded.
    #[cold]
    fn load(&mut self, bytes: &[u8], path: &Path, b: usize) -> Result<()> {
        let e = self.footer.blocks[b];
        self.block = None;
        decode_block(bytes, &e, &mut self.decoded).map_err(|(at, r)| corrupted(path, at, &r))?;
        let first = (e.first_seq - self.footer.blocks[0].first_seq) as usize;
        self.block = Some((b, first));
        Ok(())
    }

    /// The block holding record `k` of the file.
    fn block_of(&self, k: usize) -> usize {
        let first = self.footer.blocks[0].first_seq;
        self.footer
            .blocks
            .partition_point(|e| (e.first_seq - first) as usize <= k)
            .saturating_sub(1)
    }

    /// What lies at position `pos` (see the module notes).
    #[inline]
    pub fn at(&mut self, bytes: &[u8], path: &Path, pos: usize) -> Result<Step> {
        let k = pos.saturating_sub(HEADER_LEN);
        if k as u64 >= self.footer.record_count {
            return Ok(Step::End);
        }
        let i = match self.block {
            Some((_, first)) if k >= first && k - first < self.decoded.len() => k - first,
            _ => {
                let b = self.block_of(k);
                self.load(bytes, path, b)?;
                let first = self.block.map_or(0, |(_, f)| f);
                k - first
            }
        };
        Ok(Step::Record {
            ts: self.decoded.ts[i],
            payload: self.decoded.span(i),
            next: pos + 1,
        })
    }

    /// A payload [`CompactFile::at`] returned.
    #[inline]
    pub fn payload(&self, (at, len): (usize, usize)) -> &[u8] {
        &self.decoded.data[at..at + len]
    }

    /// Position of record `seq` (or the end): (position, sequence).
    pub fn seek_seq(&self, first_seq: u64, seq: u64) -> (usize, u64) {
        let k = seq.saturating_sub(first_seq).min(self.footer.record_count);
        (HEADER_LEN + k as usize, first_seq + k)
    }

    /// Position of the first record whose timestamp is at least `t`: a
    /// binary search on the block index, then a walk from that block.
    pub fn seek_time(
        &mut self,
        bytes: &[u8],
        path: &Path,
        first_seq: u64,
        t: i64,
    ) -> Result<(usize, u64)> {
        let pp = self.footer.blocks.partition_point(|e| e.max_ts_before < t);
        let mut k = match pp {
            0 => 0,
            p => (self.footer.blocks[p - 1].first_seq - first_seq) as usize,
        };
        let mut pos = HEADER_LEN + k;
        while let Step::Record { ts, next, .. } = self.at(bytes, path, pos)? {
            if ts >= t {
                break;
            }
            pos = next;
            k += 1;
        }
        Ok((pos, first_seq + k as u64))
    }
}

/// The blocks of a compact file as stored, for a reader that decodes a
/// codec's body itself, straight into its own columns, instead of into
/// records (`eventstore-market`'s Arrow batches do).
pub struct RawBlocks {
    seg: crate::segment::Segment,
}

impl RawBlocks {
    /// Map the file at `path`, checking its header and block index;
    /// `Ok(None)` when it is a framed file.
    pub fn open(path: &Path) -> Result<Option<RawBlocks>> {
        let seg = crate::segment::Segment::open(path)?;
        Ok(seg.compact_index().is_some().then_some(RawBlocks { seg }))
    }

    /// The file's block index, in sequence order.
    pub fn index(&self) -> &[BlockEntry] {
        self.seg.compact_index().unwrap_or_default()
    }

    /// Block `i` as stored: its header (the checksum over header and
    /// body checked, and the header matching the index entry) and the
    /// codec's body. The body's own decoder checks the rest.
    pub fn block(&self, i: usize) -> Result<(BlockHeader, &[u8])> {
        let path = self.seg.path();
        let Some(e) = self.index().get(i) else {
            return Err(corrupted(path, 0, "no such block"));
        };
        stored_block(self.seg.bytes(), e).map_err(|(at, r)| corrupted(path, at, &r))
    }

    /// Decode block `i` into records with its codec (as every reader
    /// does), for a block the caller does not decode itself.
    pub fn decode(&self, i: usize, out: &mut Decoded) -> Result<BlockHeader> {
        let path = self.seg.path();
        let Some(e) = self.index().get(i) else {
            return Err(corrupted(path, 0, "no such block"));
        };
        decode_block(self.seg.bytes(), e, out).map_err(|(at, r)| corrupted(path, at, &r))
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        self.seg.path()
    }
}
