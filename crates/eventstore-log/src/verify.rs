//! Verification: every record's checksum, the padding between frames,
//! the footer, its index and counts, and the files' continuity.

use crate::error::{IoContext, Result};
use crate::files;
use crate::format::Footer;
use crate::mmap::ReadMap;
use crate::segment::{self, ScanStop};
use std::fs::File;
use std::path::{Path, PathBuf};

/// The state of one file after verification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileStatus {
    /// Sealed, every checksum and the footer agree.
    Ok,
    /// Still being written; every record so far is intact.
    Open,
    /// Something is wrong at `offset`; records before it are readable.
    Corrupted { offset: u64, reason: String },
}

/// The verdict on one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileReport {
    pub path: PathBuf,
    pub status: FileStatus,
    pub first_seq: Option<u64>,
    /// Good records found.
    pub records: u64,
    pub min_ts: Option<i64>,
    pub max_ts: Option<i64>,
}

impl FileReport {
    pub fn is_ok(&self) -> bool {
        !matches!(self.status, FileStatus::Corrupted { .. })
    }
}

/// Check one file completely: header, every record's checksum, the footer,
/// its index and counts against the records.
pub fn verify_file(path: &Path, sealed: bool) -> FileReport {
    let map = File::open(path).at("open", path).and_then(|f| {
        // An empty file can not be mapped; the header check reports it.
        if f.metadata().at("stat", path)?.len() == 0 {
            return Ok(None);
        }
        ReadMap::new(&f, path).map(Some)
    });
    match map {
        Ok(Some(m)) => verify_bytes(path, m.bytes(), sealed),
        Ok(None) => verify_bytes(path, &[], sealed),
        Err(e) => FileReport {
            path: path.to_path_buf(),
            status: FileStatus::Corrupted {
                offset: 0,
                reason: e.to_string(),
            },
            first_seq: None,
            records: 0,
            min_ts: None,
            max_ts: None,
        },
    }
}

/// [`verify_file`] on the bytes of a file already in memory (`path` names
/// it in the report).
pub fn verify_bytes(path: &Path, map: &[u8], sealed: bool) -> FileReport {
    let mut rep = FileReport {
        path: path.to_path_buf(),
        status: FileStatus::Ok,
        first_seq: None,
        records: 0,
        min_ts: None,
        max_ts: None,
    };
    let bad = |rep: &mut FileReport, offset: u64, reason: &str| {
        rep.status = FileStatus::Corrupted {
            offset,
            reason: reason.to_string(),
        }
    };
    let header = match crate::format::FileHeader::decode(map) {
        Ok(h) => h,
        Err(e) => {
            bad(&mut rep, 0, &segment::header_error(path, e).to_string());
            return rep;
        }
    };
    rep.first_seq = Some(header.first_seq);
    if header.form == crate::format::Form::Compact {
        verify_compact(map, &header, &mut rep);
        return rep;
    }
    let s = segment::scan(map, header.prev_max_ts);
    rep.records = s.records;
    rep.min_ts = s.min_ts;
    rep.max_ts = s.max_ts;
    if let ScanStop::Bad { offset, reason } = &s.stop {
        let note = if sealed {
            reason.clone()
        } else {
            format!("{reason} (an unsealed file: a torn tail is cut when the stream's writer next opens it)")
        };
        bad(&mut rep, *offset, &note);
        return rep;
    }
    if !sealed {
        rep.status = FileStatus::Open;
        if s.stop == ScanStop::EndMarker {
            // Sealed but not yet renamed: check the footer like a sealed file.
        } else {
            return rep;
        }
    }
    if s.stop != ScanStop::EndMarker {
        bad(
            &mut rep,
            s.end as u64,
            "file ends without an end marker (truncated)",
        );
        return rep;
    }
    // A file still named open may be cut to its exact length at any
    // moment by a seal in progress: its footer is read where its end
    // marker says, never at the end of the bytes mapped.
    let decoded = if sealed {
        Footer::decode_from_file_end(map)
    } else {
        match Footer::extent(map, s.end) {
            Some(end) => Footer::decode_from_file_end(&map[..end]),
            // The seal has not written its footer yet.
            None => return rep,
        }
    };
    let (footer, at) = match decoded {
        Ok(f) => f,
        Err(reason) => {
            bad(&mut rep, s.end as u64, reason);
            return rep;
        }
    };
    if at != s.end {
        bad(
            &mut rep,
            s.end as u64,
            "footer offset does not match the end of the records",
        );
    } else if footer.record_count != s.records {
        bad(
            &mut rep,
            at as u64,
            &format!(
                "footer counts {} records, the file holds {}",
                footer.record_count, s.records
            ),
        );
    } else if footer.index != s.index {
        bad(
            &mut rep,
            at as u64,
            "footer index does not match the records",
        );
    } else if s.records > 0 && (Some(footer.min_ts) != s.min_ts || Some(footer.max_ts) != s.max_ts)
    {
        bad(
            &mut rep,
            at as u64,
            "footer time span does not match the records",
        );
    }
    rep
}

/// A compact file: the footer and its block index, then every block (its
/// checksum, its records decoded), the blocks back to back, the index's
/// running maxima, counts and time span against the records.
fn verify_compact(map: &[u8], header: &crate::format::FileHeader, rep: &mut FileReport) {
    use crate::compact::format::CompactFooter;
    let mut bad = |offset: u64, reason: String| {
        rep.status = FileStatus::Corrupted { offset, reason };
    };
    let (footer, end) = match CompactFooter::decode(map, header.first_seq) {
        Ok(f) => f,
        Err(r) => return bad(map.len().saturating_sub(16) as u64, r.to_string()),
    };
    let mut decoded = crate::compact::Decoded::default();
    let (mut at, mut running, mut records) = (crate::format::HEADER_LEN, header.prev_max_ts, 0u64);
    let (mut min, mut max) = (None::<i64>, None::<i64>);
    for e in &footer.blocks {
        if e.offset as usize != at {
            return bad(
                at as u64,
                "the next block does not start where the last one ends".into(),
            );
        }
        if e.max_ts_before != running {
            return bad(
                e.offset,
                "the block index's running maximum does not match the records".into(),
            );
        }
        let h = match crate::compact::file::decode_block(map, e, &mut decoded) {
            Ok(h) => h,
            Err((o, r)) => return bad(o, r),
        };
        let body_end = at + crate::compact::format::BLOCK_HEADER_LEN + h.body_len as usize;
        at = h.end(at);
        if map
            .get(body_end..at)
            .is_none_or(|p| p.iter().any(|&b| b != 0))
        {
            return bad(body_end as u64, "nonzero padding after a block".into());
        }
        running = running.max(h.max_ts);
        records += h.count as u64;
        rep.records = records;
        let lo = decoded.ts.iter().copied().min();
        min = match (min, lo) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        max = max.max(Some(h.max_ts));
        rep.min_ts = min;
        rep.max_ts = max;
    }
    if at != end {
        return bad(
            at as u64,
            "bytes between the last block and the footer".into(),
        );
    }
    if records > 0 && (Some(footer.min_ts) != min || Some(footer.max_ts) != max) {
        bad(
            end as u64,
            "footer time span does not match the records".into(),
        );
    }
}

/// Verify every file of the stream in `dir`, and that sequence numbers
/// continue from each file to the next. `progress` is called with the bytes
/// of each file once it is checked.
pub fn verify_stream(dir: &Path, mut progress: impl FnMut(u64)) -> Result<Vec<FileReport>> {
    let mut out: Vec<FileReport> = Vec::new();
    for f in files::list_files(dir)? {
        let mut rep = verify_file(&f.path, f.sealed);
        if !rep.is_ok() {
            if let Some(g) = files::sealed_since(&f) {
                rep = verify_file(&g.path, true);
            }
        }
        if let (Some(prev), Some(first)) = (out.last(), rep.first_seq) {
            if let Some(pf) = prev.first_seq {
                let expect = pf + prev.records;
                if prev.is_ok() && rep.is_ok() && first != expect {
                    rep.status = FileStatus::Corrupted {
                        offset: 32,
                        reason: format!(
                            "first sequence {first}, expected {expect} after the previous file"
                        ),
                    };
                }
            }
        }
        progress(std::fs::metadata(&f.path).map(|m| m.len()).unwrap_or(0));
        out.push(rep);
    }
    Ok(out)
}
