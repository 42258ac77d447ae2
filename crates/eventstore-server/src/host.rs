//! The streams a server hosts: one writer thread per stream that appends
//! whole groups of requests, syncs once per group and only then answers
//! them (group commit), and bumps the stream's change counter, which the
//! subscriptions (`subscription.rs`) wait on.

use bytes::Bytes;
use eventstore_log::{Durability, RollInterval, StreamName, StreamWriter, SyncFile, WriterOptions};
use std::collections::HashMap;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, watch};

/// One append request waiting for the stream's writer.
pub(crate) struct PendingAppend {
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
            durability: Durability::Os,
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
    tx: mpsc::Sender<PendingAppend>,
    thread: std::thread::JoinHandle<()>,
}

/// The streams a server hosts and their writer threads.
pub(crate) struct Host {
    pub opts: HostOptions,
    writers: Mutex<HashMap<StreamName, Writer>>,
    /// Per stream, a counter its writer bumps after every group of appends
    /// and when it starts (the stream may have been created): subscriptions
    /// wait on it instead of a thread each.
    changes: Mutex<HashMap<StreamName, watch::Sender<u64>>>,
}

impl Host {
    pub fn new(opts: HostOptions) -> Host {
        Host {
            opts,
            writers: Mutex::new(HashMap::new()),
            changes: Mutex::new(HashMap::new()),
        }
    }

    /// The change counter of `name` (created on first use).
    fn change_sender(&self, name: &StreamName) -> watch::Sender<u64> {
        let mut m = match self.changes.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        if m.len() > 4096 {
            // Forget the counters nobody waits on and no writer bumps (names
            // subscribed to once), so the map stays small. (A writer thread
            // holds a second sender; `writers` is not locked here, since
            // `writer` calls this with it held.)
            m.retain(|_, tx| tx.receiver_count() > 0 || tx.sender_count() > 1);
        }
        m.entry(name.clone())
            .or_insert_with(|| watch::channel(0).0)
            .clone()
    }

    /// Wakes whenever `name`'s writer has appended (or started).
    pub fn changes(&self, name: &StreamName) -> watch::Receiver<u64> {
        self.change_sender(name).subscribe()
    }

    /// The queue of `name`'s writer, starting the writer (and creating or
    /// recovering the stream) if needed.
    pub fn writer(&self, name: &StreamName) -> eventstore_log::Result<mpsc::Sender<PendingAppend>> {
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
            .durability(Durability::Os);
        let w = StreamWriter::open(&self.opts.data, name, opts)?;
        let (tx, rx) = mpsc::channel(JOBS_QUEUED);
        let durability = self.opts.durability;
        let changed = self.change_sender(name);
        let thread = std::thread::Builder::new()
            .name(format!("write {name}"))
            .spawn(move || write_loop(w, rx, durability, changed))
            .map_err(eventstore_log::Error::Io)?;
        writers.insert(
            name.clone(),
            Writer {
                tx: tx.clone(),
                thread,
            },
        );
        self.change_sender(name).send_modify(|n| *n += 1);
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
fn write_loop(
    mut w: StreamWriter,
    mut rx: mpsc::Receiver<PendingAppend>,
    durability: Durability,
    changed: watch::Sender<u64>,
) {
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
                if w.tick().unwrap_or(false) {
                    // A file was sealed: followers move on to the next.
                    changed.send_modify(|n| *n += 1);
                }
                continue;
            }
        };
        let mut group = vec![first];
        take_queued(&mut rx, &mut group);
        let mut results: Vec<eventstore_log::Result<Range<u64>>> = Vec::with_capacity(group.len());
        append_group(&mut w, &group, &mut results, &changed);
        match durability {
            Durability::Os => {}
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
                    append_group(&mut w, &group[start..], &mut results, &changed);
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

fn take_queued(rx: &mut mpsc::Receiver<PendingAppend>, group: &mut Vec<PendingAppend>) {
    while group.len() < JOBS_PER_GROUP {
        match rx.try_recv() {
            Ok(j) => group.push(j),
            Err(_) => break,
        }
    }
}

/// Append each job of `group` as a batch; after each, wake the stream's
/// subscriptions (records are readable once in the file).
fn append_group(
    w: &mut StreamWriter,
    group: &[PendingAppend],
    results: &mut Vec<eventstore_log::Result<Range<u64>>>,
    changed: &watch::Sender<u64>,
) {
    for job in group {
        results.push(w.append_batch(job.records.iter().map(|b| &b[..])));
        changed.send_modify(|n| *n += 1);
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
