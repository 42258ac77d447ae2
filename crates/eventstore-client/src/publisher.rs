//! A publisher: records of one stream queued by `send` and appended in
//! batches that adapt to the server's pace, over one streaming call with
//! a window of unanswered batches.

use crate::client::retryable;
use crate::{Client, Error, Result};
use bytes::Bytes;
use eventstore_protocol::proto;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::{mpsc, oneshot, Notify, Semaphore};
use tokio_stream::wrappers::ReceiverStream;

/// How a publisher batches.
#[derive(Clone, Debug)]
pub struct PublisherOptions {
    /// Largest batch (payload bytes) sent as one request.
    pub max_batch_bytes: usize,
    /// Batches sent and not yet acknowledged; while this many are out,
    /// records accumulate into the next batch.
    pub max_in_flight: usize,
    /// Records queued in the publisher before `send` waits.
    pub queue: usize,
}

impl Default for PublisherOptions {
    fn default() -> Self {
        PublisherOptions {
            max_batch_bytes: 1 << 20,
            max_in_flight: 4,
            queue: 8192,
        }
    }
}

enum Cmd {
    Record(Bytes),
    Flush(oneshot::Sender<Result<u64>>),
}

/// Appends records to one stream in batches that adapt to the server: a
/// record goes out at once while the server keeps up; while it is busy,
/// records accumulate and go out together (up to `max_batch_bytes`).
pub struct Publisher {
    tx: mpsc::Sender<Cmd>,
}

/// Batches of one connection's append call waiting for their answers.
#[derive(Default)]
struct Acks {
    /// Record counts of the batches sent and not yet answered, in order.
    in_flight: VecDeque<u64>,
    acked: u64,
    /// Records sent whose batch was never answered.
    unanswered: u64,
    /// Records never sent (no connection could be opened).
    unsent: u64,
    error: Option<String>,
}

/// One append call: its request queue and its window of unanswered batches.
struct Conn {
    requests: mpsc::Sender<proto::AppendRequest>,
    window: Arc<Semaphore>,
}

impl Publisher {
    pub(crate) fn start(client: Client, stream: String, opts: PublisherOptions) -> Publisher {
        let (tx, rx) = mpsc::channel(opts.queue.max(1));
        tokio::spawn(publish_loop(client, stream, opts, rx));
        Publisher { tx }
    }

    /// Queue one record; waits while the queue is full (backpressure).
    pub async fn send(&self, payload: Bytes) -> Result<()> {
        self.tx
            .send(Cmd::Record(payload))
            .await
            .map_err(|_| Error::PublisherStopped)
    }

    /// Wait until every record sent so far is acknowledged; returns how
    /// many records this publisher has had acknowledged in all. Records in
    /// flight when a connection failed are reported once, as
    /// [`Error::Unacknowledged`]: they may or may not be stored, and are
    /// not sent again (that could store them twice).
    pub async fn flush(&self) -> Result<u64> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Cmd::Flush(tx))
            .await
            .map_err(|_| Error::PublisherStopped)?;
        rx.await.map_err(|_| Error::PublisherStopped)?
    }
}

async fn publish_loop(
    client: Client,
    stream: String,
    opts: PublisherOptions,
    mut rx: mpsc::Receiver<Cmd>,
) {
    let acks = Arc::new(Mutex::new(Acks::default()));
    let changed = Arc::new(Notify::new());
    let mut conn: Option<Conn> = None;
    let mut next_id = 0u64;
    let mut pending: Option<Cmd> = None;
    loop {
        let first = match pending.take() {
            Some(c) => c,
            None => match rx.recv().await {
                Some(c) => c,
                None => return,
            },
        };
        let first = match first {
            Cmd::Flush(reply) => {
                let _ = reply.send(drain(&acks, &changed).await);
                continue;
            }
            Cmd::Record(r) => r,
        };
        // A live connection with room in its window; while waiting for
        // room, records pile up in the queue and join this batch.
        let c = loop {
            let c = match conn.take() {
                Some(c) if !c.requests.is_closed() => c,
                _ => match open(&client, opts.max_in_flight, &acks, &changed).await {
                    Ok(c) => c,
                    Err(e) => break Err(e),
                },
            };
            match c.window.clone().acquire_owned().await {
                Ok(permit) => {
                    permit.forget();
                    break Ok(conn.insert(c));
                }
                // The call failed while we waited: open another.
                Err(_) => continue,
            }
        };
        let c = match c {
            Ok(c) => c,
            Err(e) => {
                // Nothing was sent: this record is certainly not stored.
                let mut a = acks.lock().unwrap_or_else(|p| p.into_inner());
                a.unsent += 1;
                a.error = Some(e.to_string());
                continue;
            }
        };
        let mut records = vec![first];
        let mut bytes = records[0].len();
        while bytes < opts.max_batch_bytes {
            match rx.try_recv() {
                Ok(Cmd::Record(r)) => {
                    bytes += r.len();
                    records.push(r);
                }
                Ok(flush) => {
                    pending = Some(flush);
                    break;
                }
                Err(_) => break,
            }
        }
        let n = records.len() as u64;
        next_id += 1;
        acks.lock()
            .unwrap_or_else(|p| p.into_inner())
            .in_flight
            .push_back(n);
        let req = proto::AppendRequest {
            stream: stream.clone(),
            records,
            request_id: next_id,
        };
        if c.requests.send(req).await.is_err() {
            fail_in_flight(&acks, "the connection closed");
            changed.notify_waiters();
            conn = None;
        }
    }
}

/// Open an append call whose answers update `acks`, retrying while the
/// server cannot be reached (nothing has been sent on it yet).
async fn open(
    client: &Client,
    window_size: usize,
    acks: &Arc<Mutex<Acks>>,
    changed: &Arc<Notify>,
) -> Result<Conn> {
    let deadline = Instant::now() + client.opts.reconnect_for;
    let mut backoff = eventstore_backoff::Backoff::reconnect();
    let (tx, mut responses) = loop {
        let (tx, rx) = mpsc::channel(window_size.max(1));
        match client
            .rpc
            .clone()
            .append_stream(ReceiverStream::new(rx))
            .await
        {
            Ok(r) => break (tx, r.into_inner()),
            Err(e) if retryable(&e) && Instant::now() < deadline => {
                tokio::time::sleep(backoff.next_delay()).await;
            }
            Err(e) => return Err(e.into()),
        }
    };
    let window = Arc::new(Semaphore::new(window_size.max(1)));
    let (acks2, changed2, window2) = (acks.clone(), changed.clone(), window.clone());
    tokio::spawn(async move {
        loop {
            match responses.message().await {
                Ok(Some(r)) => {
                    let mut a = acks2.lock().unwrap_or_else(|p| p.into_inner());
                    a.in_flight.pop_front();
                    a.acked += r.count as u64;
                    drop(a);
                    window2.add_permits(1);
                    changed2.notify_waiters();
                }
                Ok(None) => {
                    fail_in_flight(&acks2, "the server ended the call");
                    break;
                }
                Err(e) => {
                    fail_in_flight(&acks2, &format!("{}: {}", e.code(), e.message()));
                    break;
                }
            }
        }
        window2.close();
        changed2.notify_waiters();
    });
    Ok(Conn {
        requests: tx,
        window,
    })
}

fn fail_in_flight(acks: &Mutex<Acks>, why: &str) {
    let mut a = acks.lock().unwrap_or_else(|p| p.into_inner());
    let n: u64 = a.in_flight.drain(..).sum();
    if n > 0 {
        a.unanswered += n;
        a.error = Some(why.to_string());
    }
}

/// Wait until nothing is in flight; report (once) what was lost.
async fn drain(acks: &Mutex<Acks>, changed: &Notify) -> Result<u64> {
    loop {
        let wait = changed.notified();
        {
            let mut a = acks.lock().unwrap_or_else(|p| p.into_inner());
            if a.in_flight.is_empty() {
                if a.unanswered > 0 || a.unsent > 0 {
                    return Err(Error::Unacknowledged {
                        unanswered: std::mem::take(&mut a.unanswered),
                        unsent: std::mem::take(&mut a.unsent),
                        reason: a.error.take().unwrap_or_default(),
                    });
                }
                return Ok(a.acked);
            }
        }
        wait.await;
    }
}
