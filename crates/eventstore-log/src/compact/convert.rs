//! Converting a sealed file of frames into a compact file, safely.

use super::codec::{self, Decoded};
use super::file::decode_block;
use super::format::{BlockEntry, BlockHeader, CompactFooter, MAX_BLOCK_RECORDS};
use crate::error::{IoContext, Result};
use crate::format::{Form, HEADER_LEN};
use crate::segment::{corrupted, Segment, Step};
use crate::{files, lock_file};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// How sealed files are converted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompactOptions {
    /// zstd level of the blocks (1 to 22).
    pub level: i32,
    /// The most records in one block.
    pub block_records: usize,
    /// A block ends once its payloads reach this many bytes.
    pub block_bytes: usize,
}

impl Default for CompactOptions {
    fn default() -> Self {
        CompactOptions {
            level: 9,
            block_records: 4096,
            block_bytes: 1 << 20,
        }
    }
}

/// One converted file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Compacted {
    pub path: PathBuf,
    pub records: u64,
    pub blocks: usize,
    pub bytes_before: u64,
    pub bytes_after: u64,
    /// Records stored by each codec: (codec name, records).
    pub by_codec: Vec<(&'static str, u64)>,
    /// False when the compact form would not have been smaller (a file
    /// of a few records): the file stays as it was.
    pub replaced: bool,
}

/// `<file>.compacting`: held (locked) while a process converts `<file>`.
fn lock_path(path: &Path) -> PathBuf {
    suffixed(path, ".compacting")
}

fn tmp_path(path: &Path) -> PathBuf {
    suffixed(path, ".compact.tmp")
}

fn suffixed(path: &Path, sfx: &str) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(sfx);
    PathBuf::from(s)
}

/// Whether some process is converting the sealed file `path` right now
/// (an uploader waits for it to finish).
pub fn is_converting(path: &Path) -> bool {
    let Ok(f) = File::open(lock_path(path)) else {
        return false;
    };
    match f.try_lock_shared() {
        Ok(()) => {
            let _ = f.unlock();
            false
        }
        Err(_) => true,
    }
}

/// The converter's hold on a file: the `.compacting` lock, removed when
/// dropped.
pub(crate) struct Hold {
    path: PathBuf,
    _file: File,
}

impl Drop for Hold {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Take the conversion lock of `path`, or `None` if another process
/// holds it.
pub(crate) fn hold(path: &Path) -> Result<Option<Hold>> {
    let lp = lock_path(path);
    Ok(lock_file(&lp)?.ok().map(|f| Hold { path: lp, _file: f }))
}

/// Convert the sealed file at `path` into a compact file. `Ok(None)`: the
/// file is compact already, or another process is converting it. A file
/// whose compact form would not be smaller (a few records) stays as it is
/// ([`Compacted::replaced`] is false).
///
/// Every block is decoded again and compared with the records it was
/// made from before it is kept (a block a codec would not give back
/// exactly is stored by the general codec instead); the new file is
/// synced, renamed over the old one and the folder synced. Memory: one
/// block of records and its encoding.
pub fn compact_file(path: &Path, opts: &CompactOptions) -> Result<Option<Compacted>> {
    let Some(h) = hold(path)? else {
        return Ok(None);
    };
    compact_held(path, opts, h)
}

pub(crate) fn compact_held(
    path: &Path,
    opts: &CompactOptions,
    hold: Hold,
) -> Result<Option<Compacted>> {
    let tmp = tmp_path(path);
    let mut seg = Segment::open(path)?;
    if seg.form() == Form::Compact {
        let _ = std::fs::remove_file(&tmp);
        drop(hold);
        return Ok(None);
    }
    let Some((footer, _)) = seg.footer.clone() else {
        return Err(corrupted(
            path,
            0,
            "a file without a valid footer is not converted (inspect with `eventstore verify`)",
        ));
    };
    let bytes_before = seg.bytes().len() as u64;
    let mut header = seg.header;
    header.form = Form::Compact;
    let out = File::create(&tmp).at("create", &tmp)?;
    let mut w = BufWriter::with_capacity(1 << 20, &out);
    w.write_all(&header.encode()).at("write", &tmp)?;
    let mut at = HEADER_LEN as u64;
    let codecs = codec::all();
    let mut by_codec: Vec<(&'static str, u64)> = Vec::new();
    let mut cf = CompactFooter {
        record_count: 0,
        min_ts: i64::MAX,
        max_ts: i64::MIN,
        blocks: Vec::new(),
    };
    let mut running_max = header.prev_max_ts;
    let mut check = Decoded::default();
    // (timestamp, payload offset, payload length) of the block's records.
    let mut block: Vec<(i64, usize, usize)> = Vec::with_capacity(opts.block_records);
    let mut pos = HEADER_LEN;
    let mut done = false;
    let max_records = opts.block_records.clamp(1, MAX_BLOCK_RECORDS as usize);
    // A block ends after the record that reaches this, and a record takes
    // at most 64 MiB: within what a reader decodes.
    let max_bytes = opts.block_bytes.clamp(1, 128 << 20);
    while !done {
        let mut data = 0usize;
        block.clear();
        while block.len() < max_records && data < max_bytes {
            match seg.at(pos)? {
                Step::Record { ts, payload, next } => {
                    block.push((ts, payload.0, payload.1));
                    data += payload.1;
                    pos = next;
                }
                Step::End => {
                    done = true;
                    break;
                }
                Step::Wait => {
                    return Err(corrupted(
                        path,
                        pos as u64,
                        "a sealed file ends before its end marker",
                    ))
                }
            }
        }
        if block.is_empty() {
            break;
        }
        let bytes = seg.bytes();
        let recs: Vec<(i64, &[u8])> = block
            .iter()
            .map(|&(t, p, n)| (t, &bytes[p..p + n]))
            .collect();
        let first_seq = header.first_seq + cf.record_count;
        let entry = BlockEntry {
            offset: at,
            first_seq,
            max_ts_before: running_max,
            count: recs.len() as u32,
        };
        let mut chosen = None;
        for c in &codecs {
            let Some(body) = c.encode(&recs, opts.level) else {
                continue;
            };
            let bh = block_header(c.id(), &recs, first_seq, body.len(), data);
            let mut file = Vec::with_capacity(body.len() + 56);
            file.extend_from_slice(&bh.encode(&body));
            file.extend_from_slice(&body);
            let local = BlockEntry { offset: 0, ..entry };
            let same = decode_block(&file, &local, &mut check).is_ok()
                && (0..recs.len()).all(|k| {
                    let (p, n) = check.span(k);
                    check.ts[k] == recs[k].0 && &check.data[p..p + n] == recs[k].1
                });
            if same {
                chosen = Some((c.name(), file));
                break;
            }
        }
        let Some((name, file)) = chosen else {
            return Err(crate::Error::Invariant(
                "no codec stored a block, not even zstd records",
            ));
        };
        w.write_all(&file).at("write", &tmp)?;
        let pad = crate::format::align8(file.len()) - file.len();
        w.write_all(&[0u8; 8][..pad]).at("write", &tmp)?;
        at += (file.len() + pad) as u64;
        for (t, _) in &recs {
            running_max = running_max.max(*t);
            cf.min_ts = cf.min_ts.min(*t);
            cf.max_ts = cf.max_ts.max(*t);
        }
        cf.record_count += recs.len() as u64;
        cf.blocks.push(entry);
        match by_codec.iter_mut().find(|(n, _)| *n == name) {
            Some((_, k)) => *k += recs.len() as u64,
            None => by_codec.push((name, recs.len() as u64)),
        }
    }
    if cf.record_count != footer.record_count {
        return Err(corrupted(
            path,
            pos as u64,
            &format!(
                "the footer counts {} records, the file holds {}",
                footer.record_count, cf.record_count
            ),
        ));
    }
    let foot = cf.encode(at);
    let bytes_after = at + foot.len() as u64;
    let mut done = Compacted {
        path: path.to_path_buf(),
        records: cf.record_count,
        blocks: cf.blocks.len(),
        bytes_before,
        bytes_after,
        by_codec,
        replaced: true,
    };
    if bytes_after >= bytes_before {
        drop(w);
        let _ = std::fs::remove_file(&tmp);
        done.replaced = false;
        done.bytes_after = bytes_before;
        return Ok(Some(done));
    }
    w.write_all(&foot).at("write", &tmp)?;
    w.flush().at("write", &tmp)?;
    drop(w);
    out.sync_all().at("sync", &tmp)?;
    drop(seg);
    std::fs::rename(&tmp, path).at("rename", &tmp)?;
    if let Some(dir) = path.parent() {
        crate::sync::sync_dir(dir)?;
    }
    drop(hold);
    Ok(Some(done))
}

fn block_header(
    codec: u16,
    recs: &[(i64, &[u8])],
    first_seq: u64,
    body: usize,
    data: usize,
) -> BlockHeader {
    BlockHeader {
        codec,
        count: recs.len() as u32,
        body_len: body as u32,
        first_seq,
        first_ts: recs.first().map_or(0, |r| r.0),
        last_ts: recs.last().map_or(0, |r| r.0),
        max_ts: recs.iter().map(|r| r.0).max().unwrap_or(0),
        data_len: data as u32,
    }
}

/// Convert every sealed file of the stream in `dir` that is not compact
/// yet; files another process is converting are left to it.
pub fn compact_stream(dir: &Path, opts: &CompactOptions) -> Result<Vec<Compacted>> {
    let mut out = Vec::new();
    for f in files::list_files(dir)? {
        if f.sealed {
            if let Some(c) = compact_file(&f.path, opts)? {
                out.push(c);
            }
        }
    }
    Ok(out)
}
