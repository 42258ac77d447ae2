//! `stream_info`: what a stream holds, file by file, from headers and
//! footers (and a scan of the open file), checking that the files
//! continue one another.

use crate::error::Result;
use crate::files::{self, FileEntry};
use crate::segment::{self, Segment};
use crate::time::RollInterval;
use std::path::{Path, PathBuf};

/// One file of a stream, summarised.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileInfo {
    pub path: PathBuf,
    pub start_ns: i64,
    pub interval: Option<RollInterval>,
    pub sealed: bool,
    pub first_seq: u64,
    pub records: u64,
    pub min_ts: Option<i64>,
    pub max_ts: Option<i64>,
    /// Bytes on disk (for the open file: up to its last record).
    pub bytes: u64,
    /// Frames or compact blocks.
    pub form: crate::format::Form,
}

/// A stream's files, oldest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamInfo {
    pub dir: PathBuf,
    pub files: Vec<FileInfo>,
    /// A writer process holds the stream's lock right now.
    pub writer_active: bool,
}

impl StreamInfo {
    /// Records in all files.
    pub fn records(&self) -> u64 {
        self.files.iter().map(|f| f.records).sum()
    }
    /// Bytes in all files.
    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|f| f.bytes).sum()
    }
    /// Smallest and largest timestamps.
    pub fn span(&self) -> Option<(i64, i64)> {
        let min = self.files.iter().filter_map(|f| f.min_ts).min()?;
        let max = self.files.iter().filter_map(|f| f.max_ts).max()?;
        Some((min, max))
    }
    /// Sequence numbers held: first..next.
    pub fn seqs(&self) -> Option<std::ops::Range<u64>> {
        let first = self.files.first()?.first_seq;
        let last = self.files.last()?;
        Some(first..last.first_seq + last.records)
    }
}

/// Summarise one file of a stream from its header and footer (scanning
/// it when it is open), checking that its header names its interval.
pub fn file_info(f: &FileEntry) -> Result<FileInfo> {
    let (f, seg) = match Segment::open(&f.path) {
        Ok(s) => (f.clone(), s),
        Err(e) => match files::sealed_since(f) {
            Some(g) => {
                let s = Segment::open(&g.path)?;
                (g, s)
            }
            None => return Err(e),
        },
    };
    let f = &f;
    let h = seg.header;
    if h.interval_start_ns != f.start_ns {
        return Err(segment::corrupted(
            &f.path,
            0,
            "the header's interval start is not the one of the file's name",
        ));
    }
    let interval = RollInterval::from_secs(h.interval_secs).ok();
    if let Some((footer, _)) = &seg.footer {
        return Ok(FileInfo {
            path: f.path.clone(),
            start_ns: f.start_ns,
            interval,
            sealed: f.sealed,
            first_seq: h.first_seq,
            records: footer.record_count,
            min_ts: (footer.record_count > 0).then_some(footer.min_ts),
            max_ts: (footer.record_count > 0).then_some(footer.max_ts),
            bytes: seg.bytes().len() as u64,
            form: h.form,
        });
    }
    let s = segment::scan(seg.bytes(), h.prev_max_ts);
    Ok(FileInfo {
        path: f.path.clone(),
        start_ns: f.start_ns,
        interval,
        sealed: f.sealed,
        first_seq: h.first_seq,
        records: s.records,
        min_ts: s.min_ts,
        max_ts: s.max_ts,
        bytes: s.end as u64,
        form: h.form,
    })
}

/// Summarise the stream in folder `dir`: sealed files from their footers,
/// the open file by scanning it.
///
/// Each file's header must name its file's interval, and no file may
/// start before the one before it ends: otherwise `Corrupted` names the
/// file (sequence numbers read from it could not be trusted).
pub fn stream_info(dir: &Path) -> Result<StreamInfo> {
    let files = files::list_files(dir)?
        .iter()
        .map(file_info)
        .collect::<Result<Vec<_>>>()?;
    for pair in files.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        let end = a.first_seq.saturating_add(a.records);
        // A gap (files missing from a mirror) is no damage; an overlap is.
        if b.first_seq < end {
            return Err(segment::corrupted(
                &b.path,
                0,
                &format!(
                    "file starts at sequence {}, but {} before it ends at {end}",
                    b.first_seq,
                    a.path.display()
                ),
            ));
        }
    }
    Ok(StreamInfo {
        dir: dir.to_path_buf(),
        files,
        writer_active: crate::lock::WriterLock::is_held(dir),
    })
}
