//! `StreamWriter`: appends records to a stream, rolls its files at a fixed
//! interval, seals them, and recovers the stream after a crash.

use crate::active::{zero_range, ActiveFile};
use crate::clock::{Clock, SystemClock};
use crate::error::{Error, IoContext, Result};
use crate::files::{self, FileEntry};
use crate::format::{self, FileHeader, Footer, HEADER_LEN, MAX_PAYLOAD};
use crate::lock::WriterLock;
use crate::notify::Notifier;
use crate::pretouch::Pretoucher;
use crate::segment::{self, ScanStop};
use crate::time::{RollInterval, NS_PER_SEC};
use crate::StreamName;
use memmap2::MmapOptions;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// When appended records reach the disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// Left to the operating system. Records survive the writer's crash
    /// (`kill -9`) as soon as `append` returns, since they are in the page
    /// cache, but not a power loss before the OS writes them back.
    None,
    /// fsync before every `append` or `append_batch` returns: acknowledged
    /// records survive power loss.
    Batch,
    /// fsync at most this often, from a background thread: a record is on
    /// disk at most this long after `append` returns.
    Interval(Duration),
}

impl std::str::FromStr for Durability {
    type Err = Error;
    /// `none`, `batch`, or a sync interval such as `10ms`.
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "none" | "os" => Ok(Durability::None),
            "batch" | "always" => Ok(Durability::Batch),
            _ => crate::time::parse_duration_ns(s)
                .map(|ns| Durability::Interval(Duration::from_nanos(ns.max(0) as u64)))
                .map_err(|_| {
                    Error::InvalidArgument(format!(
                        "invalid durability {s:?} (use none, batch, or an interval such as 10ms)"
                    ))
                }),
        }
    }
}

/// How the writer makes a file durable. The default, [`OsSync`], calls
/// `fdatasync` (or `fsync` for `data_only == false`); tests substitute one
/// that fails, to check that a failed sync poisons the writer.
///
/// It is also the writer's seam for the other file-system calls that
/// decide durability: [`SyncFile::before`] is called before each of them,
/// so that tests can fail any one (with EIO, ENOSPC, ...) and check what
/// the writer and recovery do.
pub trait SyncFile: Send + Sync + 'static {
    fn sync(&self, file: &std::fs::File, data_only: bool) -> std::io::Result<()>;

    /// Called before the writer or recovery calls `op` on `path`: one of
    /// `"allocate"` (`fallocate`), `"truncate"` (`ftruncate`), `"rename"`.
    /// An error is returned as that call's error. The default allows all.
    fn before(&self, op: &'static str, path: &Path) -> std::io::Result<()> {
        let _ = (op, path);
        Ok(())
    }
}

/// The operating system's `fdatasync` / `fsync`.
#[derive(Clone, Copy, Debug, Default)]
pub struct OsSync;

impl SyncFile for OsSync {
    fn sync(&self, file: &std::fs::File, data_only: bool) -> std::io::Result<()> {
        if data_only {
            file.sync_data()
        } else {
            file.sync_all()
        }
    }
}

/// Which time decides when a file rolls over.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RollBy {
    /// The writer's clock: files hold what arrived during their interval.
    /// An idle file is sealed by [`StreamWriter::tick`] once its interval
    /// has passed.
    #[default]
    WriterClock,
    /// The records' own timestamps (for importing history): a record whose
    /// time is past the open file's interval rolls it; an earlier record
    /// stays in the open file. `tick` never seals; `close` seals once the
    /// writer's clock has passed the interval.
    RecordTime,
}

/// How a writer rolls, syncs and tells time.
#[derive(Clone)]
pub struct WriterOptions {
    pub roll: RollInterval,
    pub roll_by: RollBy,
    pub durability: Durability,
    pub clock: Arc<dyn Clock>,
    /// Run a helper thread that faults in pages ahead of the writer (on by
    /// default; turn off for many low-rate streams in one process).
    pub pretouch: bool,
    /// How files are synced (the operating system's unless a test injects faults).
    pub syncer: Arc<dyn SyncFile>,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            roll: RollInterval::HOURLY,
            roll_by: RollBy::WriterClock,
            pretouch: true,
            syncer: Arc::new(OsSync),
            durability: Durability::None,
            clock: Arc::new(SystemClock),
        }
    }
}

impl WriterOptions {
    /// Set the roll interval.
    pub fn roll(mut self, roll: RollInterval) -> Self {
        self.roll = roll;
        self
    }
    /// Roll by the writer's clock or by the records' timestamps.
    pub fn roll_by(mut self, by: RollBy) -> Self {
        self.roll_by = by;
        self
    }
    /// Sync files with `s` (tests use it to make syncs fail).
    pub fn syncer(mut self, s: Arc<dyn SyncFile>) -> Self {
        self.syncer = s;
        self
    }
    /// Enable or disable the pretouch thread.
    pub fn pretouch(mut self, on: bool) -> Self {
        self.pretouch = on;
        self
    }
    /// Set the durability mode.
    pub fn durability(mut self, d: Durability) -> Self {
        self.durability = d;
        self
    }
    /// Use another clock (tests use [`crate::ManualClock`]).
    pub fn clock(mut self, c: Arc<dyn Clock>) -> Self {
        self.clock = c;
        self
    }
}

/// A file that has just been sealed: complete, never modified again, ready
/// to upload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedFile {
    pub path: PathBuf,
    pub start_ns: i64,
    pub first_seq: u64,
    pub records: u64,
}

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

struct SyncShared {
    file: Mutex<Option<Arc<std::fs::File>>>,
    dirty: AtomicBool,
    failed: AtomicBool,
    stop: AtomicBool,
}

/// The single writer of a stream.
///
/// ```no_run
/// use eventstore_log::{StreamWriter, StreamName, WriterOptions, RollInterval};
/// let name = StreamName::new("binance/btcusdt/trades")?;
/// let mut w = StreamWriter::open("/data".as_ref(), &name, WriterOptions::default().roll(RollInterval::HOURLY))?;
/// let seq = w.append(b"{\"p\":\"61837.63\"}")?;
/// w.close()?;
/// # Ok::<(), eventstore_log::Error>(())
/// ```
pub struct StreamWriter {
    dir: PathBuf,
    opts: WriterOptions,
    _lock: WriterLock,
    notifier: Notifier,
    active: Option<ActiveFile>,
    next_seq: u64,
    running_max: i64,
    last_start: Option<i64>,
    poisoned: bool,
    subscribers: Vec<Sender<SealedFile>>,
    sync: Option<(Arc<SyncShared>, std::thread::JoinHandle<()>)>,
    pretouch: Option<Arc<Pretoucher>>,
    recovery: RecoveryReport,
}

impl StreamWriter {
    /// Open (creating if needed) the stream `name` under `root` for writing,
    /// recovering it first if a previous writer crashed.
    pub fn open(root: &Path, name: &StreamName, opts: WriterOptions) -> Result<StreamWriter> {
        Self::open_dir(&name.dir(root), opts)
    }

    /// Like [`StreamWriter::open`], given the stream's folder.
    pub fn open_dir(dir: &Path, opts: WriterOptions) -> Result<StreamWriter> {
        std::fs::create_dir_all(dir).at("create", dir)?;
        let lock = WriterLock::acquire(dir)?;
        let notifier = Notifier::open(dir)?;
        let mut w = StreamWriter {
            dir: dir.to_path_buf(),
            opts,
            _lock: lock,
            notifier,
            active: None,
            next_seq: 0,
            running_max: i64::MIN,
            last_start: None,
            poisoned: false,
            subscribers: Vec::new(),
            sync: None,
            pretouch: None,
            recovery: RecoveryReport::default(),
        };
        if w.opts.pretouch {
            w.pretouch = Pretoucher::start().map(Arc::new);
        }
        w.recover()?;
        if let Durability::Interval(every) = w.opts.durability {
            w.start_sync_thread(every);
        }
        Ok(w)
    }

    /// What recovery found and did when this writer opened the stream.
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.recovery
    }

    /// The stream's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The sequence number the next record will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Receive every file this writer seals from now on.
    pub fn sealed_events(&mut self) -> Receiver<SealedFile> {
        let (tx, rx) = mpsc::channel();
        self.subscribers.push(tx);
        rx
    }

    fn start_sync_thread(&mut self, every: Duration) {
        let shared = Arc::new(SyncShared {
            file: Mutex::new(None),
            dirty: AtomicBool::new(false),
            failed: AtomicBool::new(false),
            stop: AtomicBool::new(false),
        });
        if let Some(a) = &self.active {
            if let Ok(f) = a.file.try_clone() {
                *lock_ignoring_poison(&shared.file) = Some(Arc::new(f));
            }
        }
        let s = shared.clone();
        let syncer = self.opts.syncer.clone();
        let handle = std::thread::Builder::new()
            .name("eventstore-sync".into())
            .spawn(move || {
                while !s.stop.load(Ordering::Acquire) {
                    std::thread::park_timeout(every);
                    if s.dirty.swap(false, Ordering::AcqRel) {
                        let f = lock_ignoring_poison(&s.file).clone();
                        if let Some(f) = f {
                            if syncer.sync(&f, true).is_err() {
                                s.failed.store(true, Ordering::Release);
                            }
                        }
                    }
                }
            });
        if let Ok(h) = handle {
            self.sync = Some((shared, h));
        } else {
            // No thread: fall back to syncing every batch.
            self.opts.durability = Durability::Batch;
        }
    }

    fn set_sync_file(&self) {
        if let Some((s, _)) = &self.sync {
            let f = self
                .active
                .as_ref()
                .and_then(|a| a.file.try_clone().ok())
                .map(Arc::new);
            *lock_ignoring_poison(&s.file) = f;
        }
    }

    // ---- recovery -------------------------------------------------------

    fn recover(&mut self) -> Result<()> {
        // Leftovers of a crash while creating a file.
        if let Ok(rd) = std::fs::read_dir(&self.dir) {
            for e in rd.flatten() {
                if e.file_name().to_string_lossy().ends_with(files::TMP_EXT) {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        let list = files::list_files(&self.dir)?;
        let now = self.opts.clock.now_ns();
        let n = list.len();
        for (i, f) in list.iter().enumerate() {
            if !f.sealed {
                self.recover_open_file(f, i + 1 == n, now)?;
            }
        }
        if self.active.is_some() {
            return Ok(());
        }
        // Every file is sealed now: the stream continues after the last one.
        if let Some(f) = files::list_files(&self.dir)?.last() {
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
            self.next_seq = seg.header.first_seq + count;
            self.running_max = seg.header.prev_max_ts.max(max_ts);
            self.last_start = Some(f.start_ns);
        } else if let Some(floor) = crate::floor::Floor::read(&self.dir)? {
            // Retention deleted every file: continue where they ended.
            self.next_seq = floor.next_seq;
            self.running_max = floor.max_ts;
            self.last_start = Some(floor.last_start_ns);
        }
        Ok(())
    }

    /// Repair one unsealed file: finish an interrupted seal, cut a torn
    /// tail, then either keep appending to it or seal it.
    fn recover_open_file(&mut self, f: &FileEntry, last: bool, now: i64) -> Result<()> {
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
                self.opts
                    .syncer
                    .before("rename", &f.path)
                    .at("rename", &f.path)?;
                std::fs::rename(&f.path, &aside).at("rename", &f.path)?;
                crate::active::sync_dir(&self.dir)?;
                self.recovery.set_aside.push(PathBuf::from(aside));
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
        // SAFETY: we hold the writer lock; nobody else modifies the file.
        let map = unsafe { MmapOptions::new().map(&file) }.at("mmap", &f.path)?;
        let mut summary = segment::scan(&map, header.prev_max_ts);
        let mut tail_dirty_to = None;
        match &summary.stop {
            ScanStop::EndMarker => {
                // Crashed while sealing: the footer is complete if its checksum holds.
                let at = summary.end;
                let footer_end = footer_extent(&map, at);
                if let Some(end) = footer_end {
                    drop(map);
                    self.opts
                        .syncer
                        .before("truncate", &f.path)
                        .at("truncate", &f.path)?;
                    file.set_len(end as u64).at("truncate", &f.path)?;
                    file.sync_all().at("sync", &f.path)?;
                    let sealed = files::sealed_path(&self.dir, f.start_ns);
                    self.opts
                        .syncer
                        .before("rename", &f.path)
                        .at("rename", &f.path)?;
                    std::fs::rename(&f.path, &sealed).at("rename", &f.path)?;
                    crate::active::sync_dir(&self.dir)?;
                    self.recovery.sealed.push(sealed);
                    self.after_file(&header, &summary, f.start_ns);
                    return Ok(());
                }
                // A torn footer: drop it and redo the seal below.
                tail_dirty_to = Some(last_nonzero(&map, at).map_or(at, |p| p + 1));
            }
            ScanStop::Empty => {
                if let Some(p) = last_nonzero(&map, summary.end) {
                    if let Some(off) = valid_frame_after(&map, summary.end, p + 1) {
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
                let end_nz = last_nonzero(&map, summary.end).map_or(summary.end, |p| p + 1);
                if let Some(off) = valid_frame_after(&map, *offset as usize + 8, end_nz) {
                    return Err(segment::corrupted(
                        &f.path,
                        *offset,
                        &format!("{reason}; valid records follow at offset {off}, so this is not a torn tail; not truncating (inspect with `eventstore verify`)"),
                    ));
                }
                tail_dirty_to = Some(end_nz);
            }
        }
        drop(map);
        if let Some(to) = tail_dirty_to {
            if to > summary.end {
                self.recovery.torn_bytes += (to - summary.end) as u64;
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
            self.recovery.removed_empty.push(f.path.clone());
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
            self.active = Some(active);
        } else {
            let sealed = active.seal(&self.dir, &*self.opts.syncer)?;
            self.recovery.sealed.push(sealed);
        }
        Ok(())
    }

    fn after_file(&mut self, header: &FileHeader, summary: &segment::ScanSummary, start: i64) {
        self.next_seq = header.first_seq + summary.records;
        self.running_max = self.running_max.max(summary.running_max);
        self.last_start = Some(start);
    }

    // ---- appending ------------------------------------------------------

    /// Append one record stamped with the writer's clock; returns its sequence number.
    pub fn append(&mut self, payload: &[u8]) -> Result<u64> {
        let now = self.opts.clock.now_ns();
        let seq = self.write(now, now, payload)?;
        self.finish()?;
        Ok(seq)
    }

    /// Append one record with the caller's timestamp (an event time, ns since the epoch).
    pub fn append_at(&mut self, ts: i64, payload: &[u8]) -> Result<u64> {
        let now = self.opts.clock.now_ns();
        let seq = self.write(now, ts, payload)?;
        self.finish()?;
        Ok(seq)
    }

    /// Append a batch stamped with the writer's clock; one sync and one
    /// wake-up for the whole batch. Returns the sequence numbers assigned.
    pub fn append_batch<'a>(
        &mut self,
        payloads: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<Range<u64>> {
        let now = self.opts.clock.now_ns();
        self.batch(now, payloads.into_iter().map(|p| (now, p)))
    }

    /// Append a batch of `(timestamp, payload)` records.
    pub fn append_batch_at<'a>(
        &mut self,
        records: impl IntoIterator<Item = (i64, &'a [u8])>,
    ) -> Result<Range<u64>> {
        let now = self.opts.clock.now_ns();
        self.batch(now, records)
    }

    /// Write a batch read at clock time `now`, then sync and wake once.
    fn batch<'a>(
        &mut self,
        now: i64,
        records: impl IntoIterator<Item = (i64, &'a [u8])>,
    ) -> Result<Range<u64>> {
        let first = self.next_seq;
        for (ts, p) in records {
            self.write(now, ts, p)?;
        }
        self.finish()?;
        Ok(first..self.next_seq)
    }

    #[inline]
    fn write(&mut self, now: i64, ts: i64, payload: &[u8]) -> Result<u64> {
        if self.poisoned {
            return Err(Error::Poisoned);
        }
        if payload.len() > MAX_PAYLOAD {
            return Err(Error::PayloadTooLarge {
                len: payload.len(),
                max: MAX_PAYLOAD,
            });
        }
        let t = match self.opts.roll_by {
            RollBy::WriterClock => now,
            RollBy::RecordTime => ts,
        };
        let due = match &self.active {
            Some(a) => t >= a.roll_at,
            None => true,
        };
        if due {
            self.roll(t, now)?;
        }
        let Some(a) = self.active.as_mut() else {
            return Err(Error::InvalidArgument("no open file after roll".into()));
        };
        a.append(ts, payload)?;
        let seq = self.next_seq;
        self.next_seq += 1;
        self.running_max = self.running_max.max(ts);
        Ok(seq)
    }

    fn finish(&mut self) -> Result<()> {
        self.notifier.notify();
        match self.opts.durability {
            Durability::None => Ok(()),
            Durability::Batch => self.sync_now(),
            Durability::Interval(_) => {
                if let Some((s, h)) = &self.sync {
                    if s.failed.load(Ordering::Acquire) {
                        self.poisoned = true;
                        return Err(Error::Poisoned);
                    }
                    if !s.dirty.swap(true, Ordering::AcqRel) {
                        h.thread().unpark();
                    }
                }
                Ok(())
            }
        }
    }

    /// fsync everything appended so far, whatever the durability mode.
    pub fn sync(&mut self) -> Result<()> {
        self.sync_now()
    }

    fn sync_now(&mut self) -> Result<()> {
        if self.poisoned {
            return Err(Error::Poisoned);
        }
        if let Some(a) = self.active.as_mut() {
            if let Err(e) = a.sync(&*self.opts.syncer) {
                self.poisoned = true;
                return Err(e).at("sync", &a.path);
            }
        }
        Ok(())
    }

    /// Seal the open file and open the next one for the interval of `t`.
    fn roll(&mut self, t: i64, now: i64) -> Result<()> {
        self.seal_active()?;
        let iv = self.opts.roll;
        let mut start = iv.floor(t);
        if let Some(last) = self.last_start {
            if start <= last {
                // The clock went back, or the interval changed: never reuse
                // or reorder a file name.
                start = (last / NS_PER_SEC + 1) * NS_PER_SEC;
            }
        }
        let header = FileHeader {
            interval_secs: iv.secs(),
            interval_start_ns: start,
            first_seq: self.next_seq,
            prev_max_ts: self.running_max,
            created_ns: now,
        };
        let roll_at = iv.floor(start) + iv.ns();
        // The interval syncer fsyncs only the file: it needs the folder
        // synced now. Otherwise the first sync (if any) does it.
        let sync_dir_now = matches!(self.opts.durability, Durability::Interval(_));
        let mut active = ActiveFile::create(
            &self.dir,
            header,
            roll_at,
            sync_dir_now,
            self.opts.syncer.clone(),
        )?;
        active.attach(self.pretouch.clone());
        self.active = Some(active);
        self.last_start = Some(start);
        self.set_sync_file();
        self.notifier.notify_always();
        Ok(())
    }

    fn seal_active(&mut self) -> Result<()> {
        let Some(a) = self.active.take() else {
            return Ok(());
        };
        let info = (a.header.interval_start_ns, a.header.first_seq, a.count);
        let path = match a.seal(&self.dir, &*self.opts.syncer) {
            Ok(p) => p,
            Err(e) => {
                self.poisoned = true;
                return Err(e);
            }
        };
        self.set_sync_file();
        self.notifier.notify_always();
        let ev = SealedFile {
            path,
            start_ns: info.0,
            first_seq: info.1,
            records: info.2,
        };
        self.subscribers.retain(|s| s.send(ev.clone()).is_ok());
        Ok(())
    }

    /// Seal the open file if its interval has passed. Call this from time
    /// to time (the CLI does, every few hundred ms) so that an idle
    /// stream's file is sealed without waiting for the next record.
    pub fn tick(&mut self) -> Result<bool> {
        if self.opts.roll_by == RollBy::RecordTime {
            return Ok(false);
        }
        self.seal_if_past()
    }

    fn seal_if_past(&mut self) -> Result<bool> {
        let now = self.opts.clock.now_ns();
        match &self.active {
            Some(a) if now >= a.roll_at => {
                self.seal_active()?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Seal the open file now, whatever the time (the next record opens a
    /// new file).
    pub fn seal_now(&mut self) -> Result<()> {
        self.seal_active()
    }

    /// Close the writer: seal the open file if its interval has passed,
    /// otherwise sync it so the next writer can continue it.
    pub fn close(mut self) -> Result<()> {
        self.close_inner()
    }

    fn close_inner(&mut self) -> Result<()> {
        if let Some((s, h)) = self.sync.take() {
            s.stop.store(true, Ordering::Release);
            h.thread().unpark();
            let _ = h.join();
        }
        if self.poisoned {
            return Err(Error::Poisoned);
        }
        if !self.seal_if_past()? {
            self.sync_now()?;
        }
        Ok(())
    }
}

impl Drop for StreamWriter {
    fn drop(&mut self) {
        let _ = self.close_inner();
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

fn lock_ignoring_poison<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The end of the footer whose end marker is at `at`, if it is complete.
fn footer_extent(map: &[u8], at: usize) -> Option<usize> {
    if at + format::FOOTER_FIXED_LEN > map.len() {
        return None;
    }
    let count = format::u32_at(map, at + 36) as usize;
    let end = at
        + format::FOOTER_FIXED_LEN
        + count.checked_mul(format::INDEX_ENTRY_LEN)?
        + format::TRAILER_LEN;
    if end > map.len() {
        return None;
    }
    Footer::decode_from_file_end(&map[..end]).ok().map(|_| end)
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
