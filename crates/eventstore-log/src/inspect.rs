//! Looking at a stream without writing to it: info, verification,
//! retention, and learning when files are sealed.

use crate::error::{IoContext, Result};
use crate::files::{self, FileEntry};
use crate::format::{FileHeader, Footer};
use crate::notify::Notifier;
use crate::segment::{self, ScanStop, Segment};
use crate::time::RollInterval;
use memmap2::MmapOptions;
use std::collections::BTreeSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

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

fn summarise(f: &FileEntry) -> Result<FileInfo> {
    let seg = Segment::open(&f.path)?;
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
        .map(summarise)
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
    let map = File::open(path).and_then(|f| {
        // SAFETY: read-only map of a log file; see Segment. An empty file
        // can not be mapped, and is reported by the header check instead.
        if f.metadata()?.len() == 0 {
            return Ok(None);
        }
        unsafe { MmapOptions::new().map(&f) }.map(Some)
    });
    match map {
        Ok(Some(m)) => verify_bytes(path, &m, sealed),
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
    let (footer, at) = match Footer::decode_from_file_end(map) {
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

/// Verify every file of the stream in `dir`, and that sequence numbers
/// continue from each file to the next. `progress` is called with the bytes
/// of each file once it is checked.
pub fn verify_stream(dir: &Path, mut progress: impl FnMut(u64)) -> Result<Vec<FileReport>> {
    let mut out: Vec<FileReport> = Vec::new();
    for f in files::list_files(dir)? {
        let mut rep = verify_file(&f.path, f.sealed);
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

/// Which sealed files to delete.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Delete sealed files whose interval ended longer ago than this.
    pub max_age: Option<Duration>,
    /// Delete the oldest sealed files while the stream holds more bytes than this.
    pub max_bytes: Option<u64>,
}

/// Apply `policy` to the stream in `dir` at time `now_ns`; the open file is
/// never deleted, and a deleted file's sidecars (`<file name>.*`) go with
/// it. Returns the deleted files, oldest first.
pub fn retain(dir: &Path, policy: RetentionPolicy, now_ns: i64) -> Result<Vec<PathBuf>> {
    let list = files::list_files(dir)?;
    let mut sizes = Vec::with_capacity(list.len());
    for f in &list {
        sizes.push(std::fs::metadata(&f.path).at("stat", &f.path)?.len());
    }
    let mut total: u64 = sizes.iter().sum();
    let mut deleted = Vec::new();
    for (f, size) in list.iter().zip(sizes) {
        if !f.sealed {
            break;
        }
        let too_old = match policy.max_age {
            Some(age) => {
                let h: FileHeader = segment::read_header(&f.path)?;
                let end = RollInterval::from_secs(h.interval_secs)
                    .map(|iv| iv.floor(h.interval_start_ns) + iv.ns())
                    .unwrap_or(h.interval_start_ns);
                end.saturating_add(age.as_nanos() as i64) <= now_ns
            }
            None => false,
        };
        let too_big = policy.max_bytes.is_some_and(|m| total > m);
        if !(too_old || too_big) {
            break;
        }
        // Sequence numbers continue after this file even if it was the
        // last: its end is stored before it goes.
        let seg = Segment::open(&f.path)?;
        let Some((footer, _)) = &seg.footer else {
            return Err(segment::corrupted(
                &f.path,
                0,
                "a sealed file without a valid footer is not deleted by retention (inspect with `eventstore verify`)",
            ));
        };
        crate::floor::Floor {
            next_seq: seg.header.first_seq.saturating_add(footer.record_count),
            max_ts: seg.header.prev_max_ts.max(footer.max_ts),
            last_start_ns: f.start_ns,
        }
        .raise(dir)?;
        drop(seg);
        std::fs::remove_file(&f.path).at("remove", &f.path)?;
        remove_sidecars(&f.path);
        total -= size;
        deleted.push(f.path.clone());
    }
    Ok(deleted)
}

/// Remove the files that describe `file` (`<file name>.<anything>`, such as
/// a trade file's `.summary.json`): they go with it. Best effort.
fn remove_sidecars(file: &Path) {
    let (Some(dir), Some(name)) = (file.parent(), file.file_name()) else {
        return;
    };
    let mut prefix = name.to_os_string();
    prefix.push(".");
    let prefix = prefix.to_string_lossy().into_owned();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// Learns of sealed files of a stream from another process, without polling
/// the folder in a tight loop: it sleeps on the stream's notification word,
/// which writers bump on every seal, and re-lists the folder when woken (or
/// every `timeout` at the latest). The first call returns every file already
/// sealed, so files sealed while the watcher was down are found too.
pub struct SealWatcher {
    dir: PathBuf,
    seen: BTreeSet<i64>,
    notifier: Option<Notifier>,
}

impl SealWatcher {
    /// Watch the stream folder `dir` (it need not exist yet).
    pub fn new(dir: &Path) -> SealWatcher {
        SealWatcher {
            dir: dir.to_path_buf(),
            seen: BTreeSet::new(),
            notifier: None,
        }
    }

    fn new_sealed(&mut self) -> Result<Vec<FileEntry>> {
        let list = match files::list_files(&self.dir) {
            Ok(l) => l,
            Err(crate::Error::NoSuchStream(_)) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        Ok(list
            .into_iter()
            .filter(|f| f.sealed && self.seen.insert(f.start_ns))
            .collect())
    }

    /// Sealed files not returned before; waits up to `timeout` for one.
    pub fn next(&mut self, timeout: Duration) -> Result<Vec<FileEntry>> {
        let found = self.new_sealed()?;
        if !found.is_empty() {
            return Ok(found);
        }
        if self.notifier.is_none() && self.dir.is_dir() {
            self.notifier = Notifier::open(&self.dir).ok();
        }
        match &self.notifier {
            Some(n) => n.wait_unless(timeout, || false),
            None => std::thread::sleep(timeout.min(Duration::from_millis(200))),
        }
        self.new_sealed()
    }
}
