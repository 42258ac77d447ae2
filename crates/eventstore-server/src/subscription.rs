//! Subscriptions: each is a task on the server's runtime, not a thread.
//! It reads whatever the log holds past its position on the blocking
//! pool (one short call per batch), sends the batch, and when nothing is
//! left waits on the stream's change counter. A server-wide budget of
//! batch bytes bounds what all subscriptions together hold: a reader
//! waits for budget before it reads, so slow subscribers slow their own
//! readers instead of growing the server's memory.

use bytes::Bytes;
use eventstore_log::{ReadOptions, StartAt, StopAt, StreamReader};
use eventstore_protocol::proto;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};

/// Budget is counted in units of this many bytes (semaphore permits).
pub(crate) const BUDGET_UNIT: usize = 1024;

/// A batch on its way to the subscriber, holding its share of the budget
/// until it has been handed to the connection.
pub(crate) type Sent = Result<(proto::RecordBatch, Option<OwnedSemaphorePermit>), tonic::Status>;

/// A batch under construction: the payloads copied out of the log into one
/// buffer (one allocation per batch, not per record), sliced at the end.
#[derive(Default)]
struct BatchBuilder {
    records: Vec<(u64, i64, usize, usize)>,
    payloads: Vec<u8>,
    /// Payload bytes plus 16 per record.
    bytes: usize,
}

impl BatchBuilder {
    fn push(&mut self, r: &eventstore_log::Record<'_>) {
        let at = self.payloads.len();
        self.payloads.extend_from_slice(r.payload);
        self.bytes += r.payload.len() + 16;
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
#[derive(Clone)]
pub(crate) struct SubscriptionSpec {
    pub dir: PathBuf,
    /// The data folder (kept out of error texts).
    pub data: PathBuf,
    /// Bumped by the stream's writer after each group of appends.
    pub changes: watch::Receiver<u64>,
    /// Batch bytes all subscriptions may hold at once (in [`BUDGET_UNIT`]s).
    pub budget: Arc<Semaphore>,
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
    let t =
        match start {
            StartAt::Time(t) => t,
            StartAt::Beginning => i64::MIN,
            StartAt::End => i64::MAX,
            StartAt::Seq(_) => return Err(tonic::Status::invalid_argument(
                "with_book starts at a time, the beginning or the end, not at a sequence number",
            )),
        };
    let hide = |e: &dyn std::fmt::Display| crate::status::hide_root(&spec.data, &e.to_string());
    let r = eventstore_market::OrderStreamReader::open_dir(&spec.dir).map_err(|e| match e {
        eventstore_market::Error::Log(e) => crate::status::status(&spec.data, e),
        e => tonic::Status::failed_precondition(hide(&e)),
    })?;
    let at = r
        .book_at(t)
        .map_err(|e| tonic::Status::internal(hide(&e)))?;
    let ts = t.clamp(0, i64::MAX);
    let mut batches = Vec::new();
    let mut cur = proto::RecordBatch::default();
    let mut bytes = 0;
    for payload in at.records(ts) {
        if bytes + payload.len() + 16 > max_bytes && !cur.records.is_empty() {
            batches.push(std::mem::take(&mut cur));
            bytes = 0;
        }
        bytes += payload.len() + 16;
        cur.records.push(proto::Record {
            seq: at.next_seq,
            timestamp_ns: ts,
            payload: Bytes::from(payload),
            snapshot: true,
        });
    }
    if !cur.records.is_empty() {
        batches.push(cur);
    }
    Ok((batches, at.next_seq))
}

/// A read at the live edge is done on the subscription's task when the
/// previous one found less than this; larger reads go to the blocking pool.
const LIVE_READ: usize = 64 << 10;

/// How long a waiting subscription sleeps at most before it looks again,
/// for what no change counter tells: appends by a writer in another
/// process, a deleted stream. (An idle follower costs one short read per
/// recheck: 10,000 of them, 10,000 reads a second.)
const RECHECK: Duration = Duration::from_secs(1);

/// Run `f` on the blocking pool; a panic there is an internal error.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, tonic::Status> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(crate::status::joined("a subscription's reader"))
}

/// Wait until the stream changes, the recheck time passes, or the
/// subscriber goes.
async fn wait_for_change(changes: &mut watch::Receiver<u64>, tx: &mpsc::Sender<Sent>) {
    tokio::select! {
        _ = changes.changed() => {}
        _ = tokio::time::sleep(RECHECK) => {}
        _ = tx.closed() => {}
    }
}

/// Read what the log holds now, up to `max` bytes, without waiting.
fn read_now(reader: &mut StreamReader, max: usize) -> eventstore_log::Result<BatchBuilder> {
    let mut batch = BatchBuilder::default();
    let now = Some(Instant::now());
    while batch.bytes < max {
        match reader.next_before(now)? {
            Some(r) => batch.push(&r),
            None => break,
        }
    }
    Ok(batch)
}

/// A subscription: the book first if asked, then the log from its position.
pub(crate) async fn subscription_task(
    mut spec: SubscriptionSpec,
    tx: mpsc::Sender<Sent>,
    _slot: OwnedSemaphorePermit,
) {
    let status = |data: &std::path::Path, e| crate::status::status(data, e);
    let mut opts = ReadOptions {
        start: spec.start,
        stop: spec.stop,
        follow: spec.follow,
    };
    if spec.with_book {
        // The book as of the start, then the stored records from the first
        // one it does not hold: no gap and no overlap at the hand-over.
        let s = spec.clone();
        let r = blocking(move || book_batches(&s, s.start, s.max_batch_bytes)).await;
        match r.and_then(|r| r) {
            Ok((batches, next)) => {
                for b in batches {
                    if tx.send(Ok((b, None))).await.is_err() {
                        return;
                    }
                }
                opts.start = StartAt::Seq(next);
            }
            Err(e) => {
                let _ = tx.send(Err(e)).await;
                return;
            }
        }
    }
    let mut reader = loop {
        spec.changes.borrow_and_update();
        let dir = spec.dir.clone();
        match blocking(move || StreamReader::open_dir(&dir, opts)).await {
            Ok(Ok(r)) => break r,
            // Following a stream not yet created: wait until its writer
            // starts (checking now and then that the subscriber is there).
            Ok(Err(eventstore_log::Error::NoSuchStream(_))) if spec.follow => {
                if tx.is_closed() {
                    return;
                }
                wait_for_change(&mut spec.changes, &tx).await;
            }
            Ok(Err(e)) => {
                let _ = tx.send(Err(status(&spec.data, e))).await;
                return;
            }
            Err(e) => {
                let _ = tx.send(Err(e)).await;
                return;
            }
        }
    };
    let full_units = spec.max_batch_bytes.div_ceil(BUDGET_UNIT).max(1) as u32;
    let live_units = spec
        .max_batch_bytes
        .min(LIVE_READ)
        .div_ceil(BUDGET_UNIT)
        .max(1) as u32;
    let mut live = false;
    loop {
        // Budget first: with the server's budget spent, readers wait here
        // and records wait in the log, not in memory. A read at the live
        // edge reads at most LIVE_READ, so it reserves only that: ten
        // thousand followers woken by one append do not queue behind each
        // other's full-batch reservations.
        let units = if live { live_units } else { full_units };
        let Ok(mut permit) = spec.budget.clone().acquire_many_owned(units).await else {
            return;
        };
        spec.changes.borrow_and_update();
        let max = spec.max_batch_bytes;
        // At the live edge (the last read was small), what is new was just
        // written and lies in the page cache: read it on this task, without
        // the hop to the blocking pool. Catching up reads on the pool, where
        // page faults on cold history cannot stall the runtime.
        let batch = if live {
            read_now(&mut reader, max.min(LIVE_READ))
        } else {
            let read = blocking(move || {
                let r = read_now(&mut reader, max);
                (reader, r)
            })
            .await;
            match read {
                Ok((r, b)) => {
                    reader = r;
                    b
                }
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            }
        };
        live = batch.as_ref().is_ok_and(|b| b.bytes < LIVE_READ);
        match batch {
            Ok(b) if b.records.is_empty() => {
                drop(permit);
                if !spec.follow || reader.is_finished() || tx.is_closed() {
                    return;
                }
                if !spec.dir.is_dir() {
                    let _ = tx
                        .send(Err(tonic::Status::not_found("stream deleted")))
                        .await;
                    return;
                }
                wait_for_change(&mut spec.changes, &tx).await;
            }
            Ok(b) => {
                // Keep only the budget the batch uses.
                let used = b.bytes.div_ceil(BUDGET_UNIT).max(1) as u32;
                if used < units {
                    drop(permit.split((units - used) as usize));
                }
                if tx.send(Ok((b.finish(), Some(permit)))).await.is_err() {
                    return;
                }
                if reader.is_finished() {
                    return;
                }
            }
            Err(e) => {
                let _ = tx.send(Err(status(&spec.data, e))).await;
                return;
            }
        }
    }
}
