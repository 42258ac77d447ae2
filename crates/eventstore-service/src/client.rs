//! The Rust client: appends (one call, or a [`Publisher`] that batches by
//! itself) and subscriptions that reconnect and resume.

use crate::proto::event_store_client::EventStoreClient;
use crate::proto::{self, subscribe_request::Start, subscribe_request::Stop};
use crate::{Error, Result};
use bytes::Bytes;
use eventstore_log::{StartAt, StopAt};
use std::collections::VecDeque;
use std::ops::Range;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, Notify, Semaphore};
use tokio_stream::wrappers::ReceiverStream;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use tonic::{Code, Status};

/// How a client connects.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// Sent as `authorization: Bearer <token>` with every call.
    pub token: Option<String>,
    /// PEM certificate of the authority that signed the server's
    /// certificate: connect over TLS.
    pub tls_ca: Option<Vec<u8>>,
    /// Name the server's certificate must carry (default: the address's host).
    pub tls_domain: Option<String>,
    /// Largest message sent or received (bytes).
    pub max_message_bytes: usize,
    /// A subscription or publisher that cannot reach the server for this
    /// long gives up and reports the error.
    pub reconnect_for: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            token: None,
            tls_ca: None,
            tls_domain: None,
            max_message_bytes: 16 << 20,
            reconnect_for: Duration::from_secs(60),
        }
    }
}

/// Adds the bearer token to every call.
#[derive(Clone)]
struct Auth(Option<MetadataValue<Ascii>>);

impl tonic::service::Interceptor for Auth {
    fn call(
        &mut self,
        mut req: tonic::Request<()>,
    ) -> std::result::Result<tonic::Request<()>, Status> {
        if let Some(v) = &self.0 {
            req.metadata_mut().insert("authorization", v.clone());
        }
        Ok(req)
    }
}

type Rpc = EventStoreClient<InterceptedService<Channel, Auth>>;

/// A connection to a server. Cheap to clone; calls made after the server
/// restarts reconnect by themselves.
#[derive(Clone)]
pub struct Client {
    rpc: Rpc,
    opts: ClientOptions,
}

/// One record as delivered to a subscriber.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub seq: u64,
    /// When the server stored it (ns since the epoch).
    pub timestamp_ns: i64,
    pub payload: Bytes,
    /// Part of the book sent first by [`Client::subscribe_book`] (not a
    /// stored record; `seq` is that of the first stored record after it).
    pub snapshot: bool,
}

impl Client {
    /// Connect to `addr` (`host:port`, or a `http://` / `https://` URL).
    pub async fn connect(addr: &str, opts: ClientOptions) -> Result<Client> {
        let scheme = if opts.tls_ca.is_some() {
            "https"
        } else {
            "http"
        };
        let uri = if addr.contains("://") {
            addr.to_string()
        } else {
            format!("{scheme}://{addr}")
        };
        let mut ep = Endpoint::from_shared(uri.clone())
            .map_err(|e| Error::InvalidArgument(format!("bad server address {addr:?}: {e}")))?
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(5))
            .initial_stream_window_size(4 << 20)
            .initial_connection_window_size(16 << 20)
            .max_frame_size(Some(1 << 20))
            .http2_keep_alive_interval(Duration::from_secs(30))
            .keep_alive_while_idle(true);
        if let Some(ca) = &opts.tls_ca {
            crate::tls_provider();
            let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca));
            if let Some(d) = &opts.tls_domain {
                tls = tls.domain_name(d.clone());
            }
            ep = ep.tls_config(tls).map_err(Error::Transport)?;
        }
        let channel = ep.connect().await.map_err(Error::Transport)?;
        let auth =
            match &opts.token {
                Some(t) => Some(format!("Bearer {t}").parse().map_err(|_| {
                    Error::InvalidArgument("the token must be printable ASCII".into())
                })?),
                None => None,
            };
        let rpc = EventStoreClient::with_interceptor(channel, Auth(auth))
            .max_decoding_message_size(opts.max_message_bytes + (1 << 20))
            .max_encoding_message_size(opts.max_message_bytes);
        Ok(Client { rpc, opts })
    }

    /// Append `records` to `stream` as one batch; returns their sequence
    /// numbers once the server has made them durable.
    pub async fn append(&self, stream: &str, records: Vec<Bytes>) -> Result<Range<u64>> {
        let r = self
            .rpc
            .clone()
            .append(proto::AppendRequest {
                stream: stream.to_string(),
                records,
                request_id: 0,
            })
            .await?
            .into_inner();
        Ok(r.first_seq..r.first_seq + r.count as u64)
    }

    /// A publisher to `stream`: [`Publisher::send`] queues one record;
    /// records go out in batches as large as the server's pace calls for.
    pub fn publisher(&self, stream: &str, opts: PublisherOptions) -> Publisher {
        Publisher::start(self.clone(), stream.to_string(), opts)
    }

    /// Subscribe to `stream` from `start`, up to `stop` (exclusive), and with
    /// `follow` on, every record appended later. After a dropped connection
    /// or a server restart it reconnects and resumes after the last record
    /// delivered: no record is lost or delivered twice.
    pub fn subscribe(
        &self,
        stream: &str,
        start: StartAt,
        stop: Option<StopAt>,
        follow: bool,
    ) -> Subscription {
        self.subscribe_with(stream, start, stop, follow, false)
    }

    /// Subscribe to the order stream `stream` from `start` (a time, the
    /// beginning or the end; not a sequence number): first the book as of
    /// that point (events marked `snapshot`: a clear, every level or order,
    /// the last one flagged last), then every stored record from the first
    /// one at or after it, historical then live with `follow`. After a
    /// reconnect it resumes after the last stored record delivered (the
    /// book is not sent again once a stored record came).
    pub fn subscribe_book(
        &self,
        stream: &str,
        start: StartAt,
        stop: Option<StopAt>,
        follow: bool,
    ) -> Subscription {
        self.subscribe_with(stream, start, stop, follow, true)
    }

    fn subscribe_with(
        &self,
        stream: &str,
        start: StartAt,
        stop: Option<StopAt>,
        follow: bool,
        with_book: bool,
    ) -> Subscription {
        let (tx, rx) = mpsc::channel(4);
        let req = proto::SubscribeRequest {
            stream: stream.to_string(),
            start: Some(match start {
                StartAt::Beginning => Start::FromBeginning(true),
                StartAt::Seq(s) => Start::FromSeq(s),
                StartAt::Time(t) => Start::FromTimeNs(t),
                StartAt::End => Start::FromEnd(true),
            }),
            stop: stop.map(|s| match s {
                StopAt::Seq(s) => Stop::ToSeq(s),
                StopAt::Time(t) => Stop::ToTimeNs(t),
            }),
            follow,
            max_batch_bytes: 0,
            with_book,
        };
        tokio::spawn(subscribe_loop(self.clone(), req, tx));
        Subscription {
            rx,
            buf: VecDeque::new(),
        }
    }

    /// Every stream on the server.
    pub async fn list_streams(&self) -> Result<Vec<proto::StreamSummary>> {
        Ok(self
            .rpc
            .clone()
            .list_streams(proto::ListStreamsRequest {})
            .await?
            .into_inner()
            .streams)
    }

    /// One stream's summary and files.
    pub async fn stream_info(&self, stream: &str) -> Result<proto::StreamInfoResponse> {
        Ok(self
            .rpc
            .clone()
            .stream_info(proto::StreamInfoRequest {
                stream: stream.to_string(),
            })
            .await?
            .into_inner())
    }

    /// Delete a stream (the client's token must be the server's admin token).
    pub async fn delete_stream(&self, stream: &str) -> Result<u32> {
        Ok(self
            .rpc
            .clone()
            .delete_stream(proto::DeleteStreamRequest {
                stream: stream.to_string(),
            })
            .await?
            .into_inner()
            .files_removed)
    }

    /// Apply a retention policy (admin token); returns the files removed.
    pub async fn retain(
        &self,
        stream: &str,
        max_age: Option<Duration>,
        max_bytes: Option<u64>,
    ) -> Result<Vec<String>> {
        Ok(self
            .rpc
            .clone()
            .retain(proto::RetainRequest {
                stream: stream.to_string(),
                max_age_ns: max_age.map(|d| d.as_nanos() as u64).unwrap_or(0),
                max_bytes: max_bytes.unwrap_or(0),
            })
            .await?
            .into_inner()
            .files_removed)
    }
}

/// Whether a failed call is worth repeating on a new connection.
fn retryable(s: &Status) -> bool {
    matches!(
        s.code(),
        Code::Unavailable | Code::Unknown | Code::Cancelled | Code::Aborted
    )
}

async fn subscribe_loop(
    client: Client,
    mut req: proto::SubscribeRequest,
    tx: mpsc::Sender<Result<Vec<Event>>>,
) {
    let mut next: Option<u64> = match req.start {
        Some(Start::FromSeq(s)) => Some(s),
        _ => None,
    };
    let mut delay = Duration::from_millis(20);
    let mut since = Instant::now();
    loop {
        if let Some(n) = next {
            req.start = Some(Start::FromSeq(n));
            // The book was delivered: resume with stored records only.
            req.with_book = false;
        }
        let err = match client.rpc.clone().subscribe(req.clone()).await {
            Ok(resp) => {
                let mut s = resp.into_inner();
                loop {
                    // Stop reading (and so end the call on the server) as
                    // soon as the Subscription is dropped.
                    let m = tokio::select! {
                        m = s.message() => m,
                        _ = tx.closed() => return,
                    };
                    match m {
                        Ok(Some(batch)) => {
                            delay = Duration::from_millis(20);
                            since = Instant::now();
                            let events: Vec<Event> = batch
                                .records
                                .into_iter()
                                .filter(|r| r.snapshot || next.is_none_or(|n| r.seq >= n))
                                .map(|r| Event {
                                    seq: r.seq,
                                    timestamp_ns: r.timestamp_ns,
                                    payload: r.payload,
                                    snapshot: r.snapshot,
                                })
                                .collect();
                            if let Some(last) = events.iter().rev().find(|e| !e.snapshot) {
                                next = Some(last.seq + 1);
                            }
                            if !events.is_empty() && tx.send(Ok(events)).await.is_err() {
                                return;
                            }
                        }
                        Ok(None) => return,
                        Err(e) => break e,
                    }
                }
            }
            Err(e) => e,
        };
        if !retryable(&err) || since.elapsed() > client.opts.reconnect_for {
            let _ = tx.send(Err(Error::Status(err))).await;
            return;
        }
        if tx.is_closed() {
            return;
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(1));
    }
}

/// Records of a subscription, in order: an async stream of [`Event`]s
/// (or of whole batches with [`Subscription::next_batch`]). It ends at the
/// stop bound, or at the end of the stream when not following.
pub struct Subscription {
    rx: mpsc::Receiver<Result<Vec<Event>>>,
    buf: VecDeque<Event>,
}

impl Subscription {
    /// The next record.
    pub async fn next(&mut self) -> Option<Result<Event>> {
        std::future::poll_fn(|cx| self.poll_event(cx)).await
    }

    /// The next batch, as the server sent it (records already buffered by
    /// [`Subscription::next`] first).
    pub async fn next_batch(&mut self) -> Option<Result<Vec<Event>>> {
        if !self.buf.is_empty() {
            return Some(Ok(self.buf.drain(..).collect()));
        }
        self.rx.recv().await
    }

    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Event>>> {
        loop {
            if let Some(e) = self.buf.pop_front() {
                return Poll::Ready(Some(Ok(e)));
            }
            match self.rx.poll_recv(cx) {
                Poll::Ready(Some(Ok(b))) => self.buf.extend(b),
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl futures::Stream for Subscription {
    type Item = Result<Event>;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_event(cx)
    }
}

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
    lost: u64,
    error: Option<String>,
}

/// One append call: its request queue and its window of unanswered batches.
struct Conn {
    requests: mpsc::Sender<proto::AppendRequest>,
    window: Arc<Semaphore>,
}

impl Publisher {
    fn start(client: Client, stream: String, opts: PublisherOptions) -> Publisher {
        let (tx, rx) = mpsc::channel(opts.queue.max(1));
        tokio::spawn(publish_loop(client, stream, opts, rx));
        Publisher { tx }
    }

    /// Queue one record; waits while the queue is full (backpressure).
    pub async fn send(&self, payload: Bytes) -> Result<()> {
        self.tx
            .send(Cmd::Record(payload))
            .await
            .map_err(|_| Error::InvalidArgument("the publisher has stopped".into()))
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
            .map_err(|_| Error::InvalidArgument("the publisher has stopped".into()))?;
        rx.await
            .map_err(|_| Error::InvalidArgument("the publisher has stopped".into()))?
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
                a.lost += 1;
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
    let mut delay = Duration::from_millis(20);
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
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(1));
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
        a.lost += n;
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
                if a.lost > 0 {
                    let lost = std::mem::take(&mut a.lost);
                    let why = a.error.take().unwrap_or_default();
                    return Err(Error::Unacknowledged(lost, why));
                }
                return Ok(a.acked);
            }
        }
        wait.await;
    }
}
