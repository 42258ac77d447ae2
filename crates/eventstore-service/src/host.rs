//! The streams a server hosts: one writer thread per stream that appends
//! whole groups of requests, syncs once per group and only then answers
//! them (group commit), and one reader thread per subscription that sends
//! whatever the log holds past its position, one batch at a time.

use crate::proto;
use bytes::Bytes;
use eventstore_log::{
    Durability, ReadOptions, RollInterval, StartAt, StopAt, StreamName, StreamReader, StreamWriter,
    SyncFile, WriterOptions,
};
use std::collections::HashMap;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// One append request waiting for the stream's writer.
pub(crate) struct Job {
    pub records: Vec<Bytes>,
    pub reply: oneshot::Sender<eventstore_log::Result<Range<u64>>>,
}

/// Requests queued per stream before appenders wait: the bound that turns
/// a slow disk into waiting appenders instead of memory.
const JOBS_QUEUED: usize = 16;
/// At most this many queued requests are appended as one group.
const JOBS_PER_GROUP: usize = 256;

/// How streams are written.
#[derive(Clone)]
pub struct HostOptions {
    pub data: PathBuf,
    pub roll: RollInterval,
    /// When an append is acknowledged: `None` at once (the records survive
    /// a crash of the server, not a power loss), `Batch` after the fsync of
    /// its group, `Interval(d)` after an fsync at most `d` later.
    pub durability: Durability,
    /// How the writers sync their files (the operating system's; tests
    /// inject failures).
    pub syncer: Arc<dyn SyncFile>,
}

impl HostOptions {
    /// Streams in `data`, hourly files, acknowledged once written.
    pub fn new(data: impl Into<PathBuf>) -> HostOptions {
        HostOptions {
            data: data.into(),
            roll: RollInterval::HOURLY,
            durability: Durability::None,
            syncer: Arc::new(eventstore_log::OsSync),
        }
    }
}

impl std::fmt::Debug for HostOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostOptions")
            .field("data", &self.data)
            .field("roll", &self.roll)
            .field("durability", &self.durability)
            .finish_non_exhaustive()
    }
}

/// A running writer thread.
struct Writer {
    tx: mpsc::Sender<Job>,
    thread: std::thread::JoinHandle<()>,
}

/// The streams a server hosts and their writer threads.
pub(crate) struct Host {
    pub opts: HostOptions,
    writers: Mutex<HashMap<StreamName, Writer>>,
    /// Bumped whenever a writer starts (a stream may have been created):
    /// wakes subscriptions waiting for their stream to exist.
    pub started: Arc<(Mutex<u64>, Condvar)>,
}

impl Host {
    pub fn new(opts: HostOptions) -> Host {
        Host {
            opts,
            writers: Mutex::new(HashMap::new()),
            started: Arc::new((Mutex::new(0), Condvar::new())),
        }
    }

    /// The queue of `name`'s writer, starting the writer (and creating or
    /// recovering the stream) if needed.
    pub fn writer(&self, name: &StreamName) -> eventstore_log::Result<mpsc::Sender<Job>> {
        let mut writers = self
            .writers
            .lock()
            .map_err(|_| eventstore_log::Error::Poisoned)?;
        if let Some(w) = writers.get(name) {
            if !w.thread.is_finished() {
                return Ok(w.tx.clone());
            }
        }
        let opts = WriterOptions::default()
            .roll(self.opts.roll)
            .syncer(self.opts.syncer.clone())
            // The writer thread syncs (once per group) itself.
            .durability(Durability::None);
        let w = StreamWriter::open(&self.opts.data, name, opts)?;
        let (tx, rx) = mpsc::channel(JOBS_QUEUED);
        let durability = self.opts.durability;
        let thread = std::thread::Builder::new()
            .name(format!("write {name}"))
            .spawn(move || write_loop(w, rx, durability))
            .map_err(eventstore_log::Error::Io)?;
        writers.insert(
            name.clone(),
            Writer {
                tx: tx.clone(),
                thread,
            },
        );
        let (n, cv) = &*self.started;
        if let Ok(mut n) = n.lock() {
            *n += 1;
            cv.notify_all();
        }
        Ok(tx)
    }

    /// Stop `name`'s writer (sealing its open file) and wait until it has:
    /// it ends once the calls that still hold its queue are done.
    pub async fn stop_writer(&self, name: &StreamName) {
        let w = self.writers.lock().ok().and_then(|mut w| w.remove(name));
        if let Some(Writer { tx, thread }) = w {
            drop(tx);
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }

    /// Stop every writer and wait for them: files whose interval has
    /// passed are sealed, open ones are left for the next start to recover.
    pub fn close_all(&self) {
        let writers: Vec<Writer> = match self.writers.lock() {
            Ok(mut w) => w.drain().map(|(_, w)| w).collect(),
            Err(_) => return,
        };
        for Writer { tx, thread } in writers {
            drop(tx);
            let _ = thread.join();
        }
    }
}

/// The writer thread of one stream.
fn write_loop(mut w: StreamWriter, mut rx: mpsc::Receiver<Job>, durability: Durability) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
    {
        Ok(rt) => rt,
        Err(_) => return,
    };
    let mut last_sync = Instant::now();
    loop {
        // Wait for work; while idle, let the writer seal a file whose
        // interval has passed.
        let first = rt
            .block_on(async { tokio::time::timeout(Duration::from_millis(500), rx.recv()).await });
        let first = match first {
            Ok(Some(j)) => j,
            Ok(None) => break,
            Err(_) => {
                let _ = w.tick();
                continue;
            }
        };
        let mut group = vec![first];
        take_queued(&mut rx, &mut group);
        let mut results: Vec<eventstore_log::Result<Range<u64>>> = Vec::with_capacity(group.len());
        append_group(&mut w, &group, &mut results);
        match durability {
            Durability::None => {}
            Durability::Batch => sync_group(&mut w, &mut results),
            Durability::Interval(d) => {
                // Wait for the interval to end, appending what arrives
                // meanwhile, then one fsync answers all of them.
                let due = last_sync + d;
                let now = Instant::now();
                if due > now {
                    std::thread::sleep(due - now);
                    let start = group.len();
                    take_queued(&mut rx, &mut group);
                    append_group(&mut w, &group[start..], &mut results);
                }
                sync_group(&mut w, &mut results);
                last_sync = Instant::now();
            }
        }
        for (job, r) in group.into_iter().zip(results) {
            let _ = job.reply.send(r);
        }
    }
    let _ = w.close();
}

fn take_queued(rx: &mut mpsc::Receiver<Job>, group: &mut Vec<Job>) {
    while group.len() < JOBS_PER_GROUP {
        match rx.try_recv() {
            Ok(j) => group.push(j),
            Err(_) => break,
        }
    }
}

fn append_group(
    w: &mut StreamWriter,
    group: &[Job],
    results: &mut Vec<eventstore_log::Result<Range<u64>>>,
) {
    for job in group {
        results.push(w.append_batch(job.records.iter().map(|b| &b[..])));
    }
}

/// fsync; if it fails, every append of the group fails with it, as an
/// I/O error (`INTERNAL` to the client), never as the caller's mistake.
fn sync_group(w: &mut StreamWriter, results: &mut [eventstore_log::Result<Range<u64>>]) {
    use eventstore_log::Error as E;
    if let Err(e) = w.sync() {
        for r in results.iter_mut() {
            if r.is_ok() {
                *r = Err(match &e {
                    E::IoAt { path, source, .. } => E::IoAt {
                        op: "not acknowledged: fsync",
                        path: path.clone(),
                        source: std::io::Error::new(source.kind(), source.to_string()),
                    },
                    E::Poisoned => E::Poisoned,
                    other => E::Io(std::io::Error::other(format!(
                        "not acknowledged: fsync failed: {other}"
                    ))),
                });
            }
        }
    }
}

/// A batch under construction: the payloads copied out of the log into one
/// buffer (one allocation per batch, not per record), sliced at the end.
#[derive(Default)]
struct BatchBuilder {
    records: Vec<(u64, i64, usize, usize)>,
    payloads: Vec<u8>,
}

impl BatchBuilder {
    fn push(&mut self, r: &eventstore_log::Record<'_>) {
        let at = self.payloads.len();
        self.payloads.extend_from_slice(r.payload);
        self.records.push((r.seq, r.timestamp, at, r.payload.len()));
    }

    fn finish(self) -> proto::RecordBatch {
        let all = Bytes::from(self.payloads);
        proto::RecordBatch {
            records: self
                .records
                .into_iter()
                .map(|(seq, timestamp_ns, at, len)| proto::Record {
                    seq,
                    timestamp_ns,
                    payload: all.slice(at..at + len),
                    snapshot: false,
                })
                .collect(),
        }
    }
}

/// What one subscription reads.
pub(crate) struct SubscriptionSpec {
    pub dir: PathBuf,
    /// The data folder (kept out of error texts).
    pub data: PathBuf,
    /// The host's writer-started signal.
    pub started: Arc<(Mutex<u64>, Condvar)>,
    pub start: StartAt,
    pub stop: Option<StopAt>,
    pub follow: bool,
    pub max_batch_bytes: usize,
    /// Send the book as of the start first (order streams).
    pub with_book: bool,
}

/// The book of the order stream in `dir` as of `start`, as snapshot
/// records in batches of at most `max_bytes`; and where the stored records
/// resume (the first one at or after the start).
fn book_batches(
    spec: &SubscriptionSpec,
    start: StartAt,
    max_bytes: usize,
) -> Result<(Vec<proto::RecordBatch>, u64), tonic::Status> {
    use eventstore_market::replay::Applied;
    let t =
        match start {
            StartAt::Time(t) => t,
            StartAt::Beginning => i64::MIN,
            StartAt::End => i64::MAX,
            StartAt::Seq(_) => return Err(tonic::Status::invalid_argument(
                "with_book starts at a time, the beginning or the end, not at a sequence number",
            )),
        };
    let hide = |e: &dyn std::fmt::Display| crate::server::hide_root(&spec.data, &e.to_string());
    let r = eventstore_market::OrderStreamReader::open_dir(&spec.dir).map_err(|e| match e {
        eventstore_market::Error::Log(e) => crate::server::status(&spec.data, e),
        e => tonic::Status::failed_precondition(hide(&e)),
    })?;
    let at = r
        .book_at(t)
        .map_err(|e| tonic::Status::internal(hide(&e)))?;
    let ts = t.clamp(0, i64::MAX);
    let mut batches = Vec::new();
    let mut cur = proto::RecordBatch::default();
    let mut bytes = 0;
    at.replay.snapshot_batch(ts, |a| {
        let payload = match a {
            Applied::Level(l) => l.encode(),
            Applied::Order(o) => o.encode(),
            Applied::Gap(_) => return,
        };
        if bytes + payload.len() + 16 > max_bytes && !cur.records.is_empty() {
            batches.push(std::mem::take(&mut cur));
            bytes = 0;
        }
        bytes += payload.len() + 16;
        cur.records.push(proto::Record {
            seq: at.next_seq,
            timestamp_ns: ts,
            payload: Bytes::copy_from_slice(&payload),
            snapshot: true,
        });
    });
    if !cur.records.is_empty() {
        batches.push(cur);
    }
    Ok((batches, at.next_seq))
}

/// A subscription's reader thread: reads the log from its position and
/// sends batches into `tx`. The first record is sent as soon as it exists;
/// everything else already in the log (up to `max_batch_bytes`) goes with
/// it. While the receiver is busy, `blocking_send` waits and new records
/// wait in the log, not in memory: the next batch is larger.
pub(crate) fn subscription_loop(
    spec: SubscriptionSpec,
    tx: mpsc::Sender<Result<proto::RecordBatch, tonic::Status>>,
    _permit: tokio::sync::OwnedSemaphorePermit,
) {
    let mut opts = ReadOptions {
        start: spec.start,
        stop: spec.stop,
        follow: spec.follow,
    };
    if spec.with_book {
        // The book as of the start, then the stored records from the first
        // one it does not hold: no gap and no overlap at the hand-over.
        match book_batches(&spec, spec.start, spec.max_batch_bytes) {
            Ok((batches, next)) => {
                for b in batches {
                    if tx.blocking_send(Ok(b)).is_err() {
                        return;
                    }
                }
                opts.start = StartAt::Seq(next);
            }
            Err(e) => {
                let _ = tx.blocking_send(Err(e));
                return;
            }
        }
    }
    let mut reader = loop {
        match StreamReader::open_dir(&spec.dir, opts) {
            Ok(r) => break r,
            // Following a stream not yet created: sleep until a writer
            // starts (checking now and then that the subscriber is still there).
            Err(eventstore_log::Error::NoSuchStream(_)) if spec.follow && !tx.is_closed() => {
                let (n, cv) = &*spec.started;
                if let Ok(g) = n.lock() {
                    let seen = *g;
                    let _ = cv.wait_timeout_while(g, Duration::from_millis(250), |n| {
                        *n == seen && !spec.dir.is_dir()
                    });
                }
            }
            Err(e) => {
                let _ = tx.blocking_send(Err(crate::server::status(&spec.data, e)));
                return;
            }
        }
    };
    let poll = Duration::from_millis(250);
    loop {
        let mut batch = BatchBuilder::default();
        let mut bytes = 0usize;
        // The first record: wait for it (checking now and then that the
        // subscriber is still there and the stream still exists).
        match reader.next_before(Some(Instant::now() + poll)) {
            Ok(Some(r)) => {
                bytes += r.payload.len();
                batch.push(&r);
            }
            Ok(None) => {
                if !spec.follow || reader.is_finished() || tx.is_closed() {
                    return;
                }
                if !spec.dir.is_dir() {
                    let _ = tx.blocking_send(Err(tonic::Status::not_found("stream deleted")));
                    return;
                }
                continue;
            }
            Err(e) => {
                let _ = tx.blocking_send(Err(crate::server::status(&spec.data, e)));
                return;
            }
        }
        // Then whatever is already there, without waiting.
        let now = Some(Instant::now());
        while bytes < spec.max_batch_bytes {
            match reader.next_before(now) {
                Ok(Some(r)) => {
                    bytes += r.payload.len() + 16;
                    batch.push(&r);
                }
                Ok(None) => break,
                Err(e) => {
                    let _ = tx.blocking_send(Ok(batch.finish()));
                    let _ = tx.blocking_send(Err(crate::server::status(&spec.data, e)));
                    return;
                }
            }
        }
        if tx.blocking_send(Ok(batch.finish())).is_err() {
            return;
        }
    }
}
