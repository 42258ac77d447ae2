//! Recovery: what a writer does to a stream when it opens it. Leftovers
//! of a crash while creating a file are removed; each unsealed file is
//! repaired (an interrupted seal finished, a torn tail cut) and then
//! sealed, or kept as the file to append to; and the stream's next
//! sequence number and largest timestamp are found (after the last file,
//! or in the retention floor when every file was deleted). The result is
//! the state a [`StreamWriter`](crate::StreamWriter) starts from.

use crate::active::{zero_range, ActiveFile};
use crate::error::{IoContext, Result};
use crate::files::{self, FileEntry};
use crate::format::{self, FileHeader, Footer, HEADER_LEN};
use crate::mmap::ReadMap;
use crate::options::{RollBy, WriterOptions};
use crate::pretouch::Pretoucher;
use crate::segment::{self, ScanStop};
use crate::sync::{self, sync_dir_with};
use crate::time::RollInterval;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What recovery did when the stream was opened.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Bytes of torn records cut from the end of the open file.
    pub torn_bytes: u64,
    /// Unsealed files from past intervals that were sealed.
    pub sealed: Vec<PathBuf>,
    /// Unsealed files without records that were removed.
    pub removed_empty: Vec<PathBuf>,
    /// Unsealed files whose header was never written (created just before
    /// a power loss: no record of them was ever acknowledged), renamed to
    /// `<name>.unreadable`.
    pub set_aside: Vec<PathBuf>,
}

/// The state a writer starts from.
#[derive(Default)]
pub(crate) struct Recovered {
    /// The file to append to, if the last unsealed file is kept.
    pub active: Option<ActiveFile>,
    pub next_seq: u64,
    /// The stream's largest timestamp so far.
    pub running_max: i64,
    /// Interval start of the stream's last file.
    pub last_start: Option<i64>,
    pub report: RecoveryReport,
}

/// Recover the stream in `dir` (whose lock the caller holds).
pub(crate) fn recover(
    dir: &Path,
    opts: &WriterOptions,
    pretouch: Option<Arc<Pretoucher>>,
) -> Result<Recovered> {
    let mut r = Recovery {
        dir,
        opts,
        pretouch,
        state: Recovered {
            running_max: i64::MIN,
            ..Recovered::default()
        },
    };
    r.run()?;
    Ok(r.state)
}

struct Recovery<'a> {
    dir: &'a Path,
    opts: &'a WriterOptions,
    pretouch: Option<Arc<Pretoucher>>,
    state: Recovered,
}

impl Recovery<'_> {
    fn run(&mut self) -> Result<()> {
        // Leftovers of a crash while creating a file.
        if let Ok(rd) = std::fs::read_dir(self.dir) {
            for e in rd.flatten() {
                if e.file_name().to_string_lossy().ends_with(files::TMP_EXT) {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        let list = files::list_files(self.dir)?;
        let now = self.opts.clock.now_ns();
        let n = list.len();
        for (i, f) in list.iter().enumerate() {
            if !f.sealed {
                self.open_file(f, i + 1 == n, now)?;
            }
        }
        if self.state.active.is_some() {
            return Ok(());
        }
        // Every file is sealed now: the stream continues after the last one.
        if let Some(f) = files::list_files(self.dir)?.last() {
            let seg = segment::Segment::open(&f.path)?;
            let (count, max_ts) = match &seg.footer {
                Some((footer, _)) => (footer.record_count, footer.max_ts),
                None => {
                    // A damaged footer: the records still say where the stream
                    // ends if they all check out up to the end marker.
                    let s = segment::scan(seg.bytes(), seg.header.prev_max_ts);
                    if s.stop != ScanStop::EndMarker {
                        return Err(segment::corrupted(
                            &f.path,
                            s.end as u64,
                            "the last sealed file is damaged before its end marker, so the stream's next sequence number is unknown (inspect with `eventstore verify`)",
                        ));
                    }
                    (s.records, s.running_max)
                }
            };
            self.state.next_seq = seg.header.first_seq + count;
            self.state.running_max = seg.header.prev_max_ts.max(max_ts);
            self.state.last_start = Some(f.start_ns);
        } else if let Some(floor) = crate::floor::Floor::read(self.dir)? {
            // Retention deleted every file: continue where they ended.
            self.state.next_seq = floor.next_seq;
            self.state.running_max = floor.max_ts;
            self.state.last_start = Some(floor.last_start_ns);
        }
        Ok(())
    }

    /// Repair one unsealed file: finish an interrupted seal, cut a torn
    /// tail, then either keep appending to it or seal it.
    fn open_file(&mut self, f: &FileEntry, last: bool, now: i64) -> Result<()> {
        let header = match segment::read_header(&f.path) {
            Ok(h) => h,
            // Created, but nothing of it reached the disk before a power
            // loss (not even its header): it never held an acknowledged
            // record, since syncing one makes the header durable too.
            // Set aside as `<name>.unreadable` (nothing is deleted), and
            // the stream continues after the file before it.
            Err(_) if header_never_written(&f.path) => {
                let mut aside = f.path.as_os_str().to_owned();
                aside.push(".unreadable");
                sync::rename(&*self.opts.syncer, &f.path, Path::new(&aside))?;
                sync_dir_with(self.dir, &*self.opts.syncer)?;
                self.state.report.set_aside.push(PathBuf::from(aside));
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&f.path)
            .at("open", &f.path)?;
        let len = file.metadata().at("stat", &f.path)?.len() as usize;
        let rmap = ReadMap::new(&file, &f.path)?;
        let map = rmap.bytes();
        let mut summary = segment::scan(map, header.prev_max_ts);
        let mut tail_dirty_to = None;
        match &summary.stop {
            ScanStop::EndMarker => {
                // Crashed while sealing: the footer is complete if its checksum holds.
                let at = summary.end;
                let footer_end = Footer::extent(map, at);
                if let Some(end) = footer_end {
                    drop(rmap);
                    let fs = &*self.opts.syncer;
                    sync::truncate(fs, &file, &f.path, end as u64)?;
                    fs.sync(&file, false).at("sync", &f.path)?;
                    let sealed = files::sealed_path(self.dir, f.start_ns);
                    sync::rename(fs, &f.path, &sealed)?;
                    sync_dir_with(self.dir, fs)?;
                    self.state.report.sealed.push(sealed);
                    self.after_file(&header, &summary, f.start_ns);
                    return Ok(());
                }
                // A torn footer: drop it and redo the seal below.
                tail_dirty_to = Some(last_nonzero(map, at).map_or(at, |p| p + 1));
            }
            ScanStop::Empty => {
                if let Some(p) = last_nonzero(map, summary.end) {
                    if let Some(off) = valid_frame_after(map, summary.end, p + 1) {
                        return Err(segment::corrupted(
                            &f.path,
                            summary.end as u64,
                            &format!("zeroed bytes inside the data, valid records follow at offset {off}; not truncating (inspect with `eventstore verify`)"),
                        ));
                    }
                    tail_dirty_to = Some(p + 1);
                }
            }
            ScanStop::Bad { offset, reason } => {
                let end_nz = last_nonzero(map, summary.end).map_or(summary.end, |p| p + 1);
                if let Some(off) = valid_frame_after(map, *offset as usize + 8, end_nz) {
                    return Err(segment::corrupted(
                        &f.path,
                        *offset,
                        &format!("{reason}; valid records follow at offset {off}, so this is not a torn tail; not truncating (inspect with `eventstore verify`)"),
                    ));
                }
                tail_dirty_to = Some(end_nz);
            }
        }
        drop(rmap);
        if let Some(to) = tail_dirty_to {
            if to > summary.end {
                self.state.report.torn_bytes += (to - summary.end) as u64;
                zero_range(&file, &f.path, summary.end, to.min(len))?;
            }
        }
        summary.stop = ScanStop::Empty;
        drop(file);
        let roll_at = RollInterval::from_secs(header.interval_secs)
            .map(|iv| iv.floor(header.interval_start_ns) + iv.ns())
            .unwrap_or(i64::MIN);
        let keep = last
            && header.interval_secs == self.opts.roll.secs()
            && (now < roll_at || self.opts.roll_by == RollBy::RecordTime);
        if summary.records == 0 && !keep {
            std::fs::remove_file(&f.path).at("remove", &f.path)?;
            self.state.report.removed_empty.push(f.path.clone());
            return Ok(());
        }
        self.after_file(&header, &summary, f.start_ns);
        let active = ActiveFile::resume(
            f.path.clone(),
            header,
            summary,
            roll_at,
            self.opts.syncer.clone(),
        )?;
        if keep {
            let mut active = active;
            active.attach(self.pretouch.clone());
            self.state.active = Some(active);
        } else {
            let sealed = active.seal(self.dir, &*self.opts.syncer)?;
            self.state.report.sealed.push(sealed);
        }
        Ok(())
    }

    fn after_file(&mut self, header: &FileHeader, summary: &segment::ScanSummary, start: i64) {
        self.state.next_seq = header.first_seq + summary.records;
        self.state.running_max = self.state.running_max.max(summary.running_max);
        self.state.last_start = Some(start);
    }
}

/// Whether the header of the file at `path` was never written: its first
/// 64 bytes (or all it has) are zero.
fn header_never_written(path: &Path) -> bool {
    use std::io::Read;
    let Ok(f) = std::fs::File::open(path) else {
        return false;
    };
    let mut head = Vec::with_capacity(crate::format::HEADER_LEN);
    f.take(crate::format::HEADER_LEN as u64)
        .read_to_end(&mut head)
        .is_ok_and(|_| head.iter().all(|&b| b == 0))
}

/// The last non-zero byte at or after `from`.
fn last_nonzero(map: &[u8], from: usize) -> Option<usize> {
    if from >= map.len() {
        return None;
    }
    map[from..].iter().rposition(|&b| b != 0).map(|p| from + p)
}

/// The first valid record at an 8-aligned offset in `[from, to)`, if any.
fn valid_frame_after(map: &[u8], from: usize, to: usize) -> Option<usize> {
    let mut p = format::align8(from.max(HEADER_LEN));
    while p + format::FRAME_HEADER_LEN <= to.min(map.len()) {
        let fl = format::u32_at(map, p);
        if let format::Frame::Record { .. } = format::decode_frame(map, p, fl) {
            return Some(p);
        }
        p += 8;
    }
    None
}
