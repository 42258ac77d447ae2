//! `StreamWriter`: appends records to a stream, rolls its files at a fixed
//! interval and seals them; it starts from the state recovery
//! (`recovery.rs`) leaves after a crash.

use crate::active::ActiveFile;
use crate::compact::background::{CompactionReport, Work, Worker};
use crate::error::{Error, IoContext, Result};
use crate::format::{FileHeader, MAX_PAYLOAD};
use crate::lock::WriterLock;
use crate::notify::Notifier;
pub use crate::options::{Durability, RollBy, WriterOptions};
use crate::pretouch::Pretoucher;
use crate::recovery::RecoveryReport;
use crate::time::NS_PER_SEC;
use crate::StreamName;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A file that has just been sealed: complete, never modified again, ready
/// to upload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedFile {
    pub path: PathBuf,
    pub start_ns: i64,
    pub first_seq: u64,
    pub records: u64,
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
    /// Seals of rolled files and conversions, behind the appends (started
    /// at the first roll, or at open when files wait to be converted).
    worker: Option<Worker>,
    /// Bytes of the last file this writer sealed: the next file's first
    /// reserve and pre-faulting follow the stream's rate.
    last_bytes: Option<usize>,
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
        let pretouch = if opts.pretouch {
            Pretoucher::start().map(Arc::new)
        } else {
            None
        };
        let r = crate::recovery::recover(dir, &opts, pretouch.clone())?;
        let mut w = StreamWriter {
            dir: dir.to_path_buf(),
            opts,
            _lock: lock,
            notifier,
            active: r.active,
            next_seq: r.next_seq,
            running_max: r.running_max,
            last_start: r.last_start,
            poisoned: false,
            subscribers: Vec::new(),
            sync: None,
            pretouch,
            recovery: r.report,
            worker: None,
            last_bytes: None,
        };
        if w.opts.compact.is_some() {
            // Files a writer sealed but did not convert before it stopped
            // (killed, say): the last few of the stream.
            let list = crate::files::list_files(&w.dir).unwrap_or_default();
            for f in list.iter().rev().filter(|f| f.sealed).take(16) {
                let framed = crate::segment::read_header(&f.path)
                    .is_ok_and(|h| h.form == crate::format::Form::Framed);
                if let (true, Ok(Some(hold))) = (framed, crate::compact::convert::hold(&f.path)) {
                    if let Some(worker) = w.worker() {
                        let _ = worker.submit(Work::Compact {
                            path: f.path.clone(),
                            hold,
                            event: None,
                            subscribers: Vec::new(),
                        });
                    }
                }
            }
        }
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
        if self.poisoned || self.worker.as_ref().is_some_and(|w| w.failed()) {
            self.poisoned = true;
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
            return Err(Error::Invariant("no open file after a roll"));
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
            Durability::Os => Ok(()),
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

    /// Open the next file, for the interval of `t`, then seal the one
    /// left. The next file comes first, so that the seal's fsyncs (behind
    /// the appends, on the worker) do not hold up its creation; no record
    /// goes into it before this returns, so the order of records on disk
    /// is the same as with the seal first.
    fn roll(&mut self, t: i64, now: i64) -> Result<()> {
        if let Some(a) = &self.active {
            self.last_bytes = Some(a.pos);
        }
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
            form: crate::format::Form::Framed,
        };
        let roll_at = iv.floor(start) + iv.ns();
        // The interval syncer fsyncs only the file: it needs the folder
        // synced now. Otherwise the first sync (if any) does it.
        let sync_dir_now = matches!(self.opts.durability, Durability::Interval(_));
        // The file made ahead on the worker if it is ready, else one made now.
        let spare = self.worker.as_ref().and_then(|w| w.take_spare());
        let mut next = match spare {
            Some(s) => ActiveFile::start(&self.dir, s, header, roll_at, sync_dir_now)?,
            None => ActiveFile::create(
                &self.dir,
                header,
                roll_at,
                sync_dir_now,
                self.opts.syncer.clone(),
                self.last_bytes,
            )?,
        };
        let left = self.active.take().map(|mut a| {
            // The pretoucher moves on to the next file.
            a.detach();
            a
        });
        next.attach(self.pretouch.clone());
        self.active = Some(next);
        self.last_start = Some(start);
        self.set_sync_file();
        if let Some(a) = left {
            self.seal_rolled(a)?;
        }
        self.notifier.notify_always();
        // Only once the stream's rate is known (the size of a file it
        // left): a spare made without it would reserve the 9 MiB of a
        // busy stream for whichever file takes it later.
        if let Some(hint) = self.last_bytes {
            if let Some(w) = self.worker() {
                w.prepare(Some(hint));
            }
        }
        Ok(())
    }

    /// The background worker, started on first use (`None` if its thread
    /// can not be started).
    fn worker(&mut self) -> Option<&Worker> {
        if self.worker.is_none() {
            self.worker = Worker::start(
                self.dir.clone(),
                self.opts.syncer.clone(),
                self.opts.compact,
            );
        }
        self.worker.as_ref()
    }

    /// The conversion lock of the file starting at `start`, taken before
    /// the file is named sealed and held until it is compact, so that an
    /// uploader never takes it half-way (`None` without compaction).
    fn hold(&self, start: i64) -> Option<crate::compact::convert::Hold> {
        self.opts.compact?;
        crate::compact::convert::hold(&crate::files::sealed_path(&self.dir, start))
            .ok()
            .flatten()
    }

    /// Hand a file the writer rolled away from to the background worker to
    /// seal (and make compact), so that the append that rolls pays only
    /// for starting the next file. Sealed in this thread if the worker can
    /// not run.
    fn seal_rolled(&mut self, a: ActiveFile) -> Result<()> {
        // Under `Batch` and `Interval` the seal's fsyncs stay here: they put
        // this file's last records on disk before any record of the next
        // file can get there (synced, or written back by the kernel), the
        // order the power-loss guarantees rest on. Under `Os` nothing is
        // promised across a power loss, and the append that rolls pays
        // only for starting the next file.
        if self.opts.durability != Durability::Os || !self.opts.seal_behind {
            return self.seal_inline(a);
        }
        let hold = self.hold(a.header.interval_start_ns);
        let subscribers = self.subscribers.clone();
        let work = Work::Seal {
            active: Box::new(a),
            hold,
            subscribers,
        };
        let Some(worker) = self.worker() else {
            let Work::Seal { active, .. } = work else {
                return Err(Error::Invariant("a seal handed over is not a seal"));
            };
            return self.seal_inline(*active);
        };
        match worker.submit(work) {
            Ok(()) => Ok(()),
            Err(w) => match *w {
                Work::Seal { active, .. } => self.seal_inline(*active),
                _ => Err(Error::Invariant("a seal handed over is not a seal")),
            },
        }
    }

    /// Seal the open file in this thread (the next record opens a new one).
    fn seal_active(&mut self) -> Result<()> {
        match self.active.take() {
            Some(a) => {
                self.last_bytes = Some(a.pos);
                self.seal_inline(a)?;
                self.set_sync_file();
                self.notifier.notify_always();
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Seal `a` in this thread, after the seals handed over before it; a
    /// conversion (if on) and the announcement follow on the worker.
    fn seal_inline(&mut self, a: ActiveFile) -> Result<()> {
        // Seals handed to the worker go first (only with `seal_behind`: a
        // conversion queued there need not finish before this seal).
        if let Some(w) = self.worker.as_ref().filter(|_| self.opts.seal_behind) {
            w.flush();
            if w.failed() {
                self.poisoned = true;
                return Err(Error::Poisoned);
            }
        }
        let info = (a.header.interval_start_ns, a.header.first_seq, a.count);
        let hold = self.hold(info.0);
        let path = match a.seal(&self.dir, &*self.opts.syncer) {
            Ok(p) => p,
            Err(e) => {
                self.poisoned = true;
                return Err(e);
            }
        };
        let ev = SealedFile {
            path,
            start_ns: info.0,
            first_seq: info.1,
            records: info.2,
        };
        if let Some(hold) = hold {
            let work = Work::Compact {
                path: ev.path.clone(),
                hold,
                event: Some(ev.clone()),
                subscribers: self.subscribers.clone(),
            };
            if let Some(w) = self.worker() {
                if w.submit(work).is_ok() {
                    return Ok(());
                }
            }
        }
        self.subscribers.retain(|s| s.send(ev.clone()).is_ok());
        Ok(())
    }

    /// What the background conversion of sealed files has done so far
    /// (`None` without [`WriterOptions::compact`]).
    pub fn compaction_report(&self) -> Option<CompactionReport> {
        self.opts.compact?;
        Some(self.worker.as_ref().map(|w| w.report()).unwrap_or_default())
    }

    /// Wait until the seals of rolled files (done behind the appends) are
    /// done; the error of one that failed, which poisons the writer.
    pub fn wait_background(&mut self) -> Result<()> {
        if let Some(w) = &self.worker {
            w.flush();
            if w.failed() {
                self.poisoned = true;
                return Err(Error::BackgroundSeal(w.error().unwrap_or_default()));
            }
        }
        Ok(())
    }

    /// Wait until every file handed to the background (seals, and
    /// conversions with [`WriterOptions::compact`]) is done.
    pub fn finish_compaction(&mut self) -> Option<CompactionReport> {
        if let Some(w) = &self.worker {
            w.flush();
        }
        self.compaction_report()
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
        let r = match self.seal_if_past() {
            Ok(false) => self.sync_now(),
            Ok(true) => Ok(()),
            Err(e) => Err(e),
        };
        // The seals and conversions handed over finish before the writer
        // is gone.
        if let Some(mut w) = self.worker.take() {
            w.finish();
            if w.failed() {
                self.poisoned = true;
                return Err(Error::Poisoned);
            }
        }
        r
    }
}

impl Drop for StreamWriter {
    fn drop(&mut self) {
        let _ = self.close_inner();
    }
}

fn lock_ignoring_poison<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
