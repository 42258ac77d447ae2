//! `Server`: the gRPC service over the streams of one data folder.

use crate::host::{Host, HostOptions, Job};
use crate::proto::event_store_server::{EventStore, EventStoreServer};
use crate::proto::{self, subscribe_request::Start, subscribe_request::Stop};
use crate::subscription::{subscription_task, SubscriptionSpec, BUDGET_UNIT};
use crate::{Error, Result};
use eventstore_log::{RetentionPolicy, StartAt, StopAt, StreamName};
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch, Semaphore};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

/// How the server runs.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// Where streams are written, how they roll, when appends are acknowledged.
    pub host: HostOptions,
    /// When set, every call must carry `authorization: Bearer <token>`
    /// (or the admin token).
    pub token: Option<String>,
    /// The token that deletion and retention calls must carry; without it
    /// they are refused.
    pub admin_token: Option<String>,
    /// Largest request or response message (bytes).
    pub max_message_bytes: usize,
    /// Largest batch of records sent to a subscriber (payload bytes).
    pub max_batch_bytes: usize,
    /// Subscriptions open at the same time; more are refused.
    pub max_subscriptions: usize,
    /// Batches queued per subscription before its reader waits.
    pub subscription_queue: usize,
    /// Bytes of batches all subscriptions together may hold (read and not
    /// yet handed to their connections): the memory bound of every
    /// subscription at once. Readers wait for their share before reading.
    pub subscription_budget_bytes: usize,
    /// PEM certificate chain and private key: serve over TLS.
    pub tls: Option<(Vec<u8>, Vec<u8>)>,
    /// Connections open at the same time; a connection beyond it is
    /// closed as soon as it is accepted.
    pub max_connections: usize,
    /// A new connection that has not sent its first bytes (the HTTP/2
    /// preface and SETTINGS header, or a TLS ClientHello) this long after
    /// it was accepted is closed.
    pub handshake_timeout: Duration,
    /// The server pings each connection this often (HTTP/2 PING) ...
    pub keepalive_interval: Duration,
    /// ... and closes it if the answer does not come within this long.
    pub keepalive_timeout: Duration,
}

impl ServerOptions {
    pub fn new(data: impl Into<std::path::PathBuf>) -> ServerOptions {
        ServerOptions {
            host: HostOptions::new(data),
            token: None,
            admin_token: None,
            max_message_bytes: 16 << 20,
            max_batch_bytes: 1 << 20,
            max_subscriptions: 1024,
            subscription_queue: 2,
            subscription_budget_bytes: 256 << 20,
            tls: None,
            max_connections: 1000,
            handshake_timeout: Duration::from_secs(10),
            keepalive_interval: Duration::from_secs(30),
            keepalive_timeout: Duration::from_secs(20),
        }
    }
}

/// A bound, not yet running, server.
pub struct Server {
    listener: tokio::net::TcpListener,
    opts: ServerOptions,
}

impl Server {
    /// Bind `addr` (such as `127.0.0.1:0`).
    pub async fn bind(addr: &str, opts: ServerOptions) -> Result<Server> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| Error::Io(format!("cannot listen on {addr}"), e))?;
        std::fs::create_dir_all(&opts.host.data)
            .map_err(|e| Error::Io(format!("cannot create {}", opts.host.data.display()), e))?;
        Ok(Server { listener, opts })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.listener
            .local_addr()
            .map_err(|e| Error::Io("local address".into(), e))
    }

    /// Serve until `shutdown` completes. Then open calls end with
    /// `UNAVAILABLE` (clients reconnect to the next server), writers
    /// stop, and `run` returns.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) -> Result<()> {
        let opts = self.opts;
        let host = Arc::new(Host::new(opts.host.clone()));
        let (stop_tx, stop) = watch::channel(false);
        let service = Service {
            host: host.clone(),
            subscriptions: Arc::new(Semaphore::new(opts.max_subscriptions)),
            budget: Arc::new(Semaphore::new(
                (opts.subscription_budget_bytes / BUDGET_UNIT)
                    .max(opts.max_batch_bytes.div_ceil(BUDGET_UNIT))
                    .min(Semaphore::MAX_PERMITS),
            )),
            opts: opts.clone(),
            stop,
        };
        let shutdown = async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        };
        let tokens: Vec<String> = opts
            .token
            .iter()
            .chain(opts.admin_token.iter())
            .map(|t| format!("Bearer {t}"))
            .collect();
        let check = move |req: Request<()>| -> std::result::Result<Request<()>, Status> {
            if opts.token.is_none() {
                return Ok(req);
            }
            match req.metadata().get("authorization") {
                None => Err(Status::unauthenticated(
                    "missing token: send `authorization: Bearer <token>`",
                )),
                Some(v) if tokens.iter().any(|t| same(t.as_bytes(), v.as_bytes())) => Ok(req),
                Some(_) => Err(Status::unauthenticated("wrong token")),
            }
        };
        let svc = EventStoreServer::new(service)
            .max_decoding_message_size(opts.max_message_bytes)
            .max_encoding_message_size(opts.max_message_bytes + (1 << 20));
        let mut builder = tonic::transport::Server::builder()
            .initial_stream_window_size(4 << 20)
            .initial_connection_window_size(16 << 20)
            .max_frame_size(Some(1 << 20))
            .http2_keepalive_interval(Some(opts.keepalive_interval))
            .http2_keepalive_timeout(Some(opts.keepalive_timeout));
        if let Some((cert, key)) = &opts.tls {
            crate::tls_provider();
            let tls = tonic::transport::ServerTlsConfig::new()
                .identity(tonic::transport::Identity::from_pem(cert, key));
            builder = builder.tls_config(tls).map_err(Error::Transport)?;
        }
        let r = builder
            .add_service(tonic::service::interceptor::InterceptedService::new(
                svc, check,
            ))
            .serve_with_incoming_shutdown(
                // Without Nagle's algorithm (a lone record is sent at once),
                // under the connection cap and the handshake deadline.
                crate::conn::Incoming::new(
                    self.listener,
                    opts.max_connections,
                    opts.handshake_timeout,
                ),
                shutdown,
            )
            .await;
        host.close_all();
        r.map_err(Error::Transport)
    }
}

/// A server running on a thread of its own (with its own runtime), for
/// embedding in a program or a test: serves until dropped.
pub struct BackgroundServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<()>>>,
}

impl BackgroundServer {
    /// Bind `addr` (such as `127.0.0.1:0`) and serve with `threads` worker threads.
    pub fn start(addr: &str, opts: ServerOptions, threads: usize) -> Result<BackgroundServer> {
        let (stop, stopped) = oneshot::channel::<()>();
        let (bound_tx, bound) = std::sync::mpsc::channel::<Result<SocketAddr>>();
        let addr = addr.to_string();
        // Everything runtime-related happens on the thread, so that this
        // can be called from inside another runtime.
        let thread = std::thread::Builder::new()
            .name("eventstore-server".into())
            .spawn(move || -> Result<()> {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(threads.max(1))
                    .max_blocking_threads(16)
                    .enable_all()
                    .build()
                    .map_err(|e| Error::Io("cannot start a runtime".into(), e))?;
                rt.block_on(async move {
                    let server = match Server::bind(&addr, opts).await {
                        Ok(s) => s,
                        Err(e) => {
                            let msg = e.to_string();
                            let _ = bound_tx.send(Err(e));
                            return Err(Error::InvalidArgument(msg));
                        }
                    };
                    let _ = bound_tx.send(server.local_addr());
                    server
                        .run(async {
                            let _ = stopped.await;
                        })
                        .await
                })
            })
            .map_err(|e| Error::Io("cannot start the server thread".into(), e))?;
        let addr = bound
            .recv()
            .map_err(|_| Error::InvalidArgument("the server thread ended".into()))??;
        Ok(BackgroundServer {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for BackgroundServer {
    /// Shut down (open calls end with `UNAVAILABLE`) and wait for it.
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Compare in time independent of where the first difference is.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

/// A log error as the gRPC status a client can act on. Paths in its text
/// are shown relative to the data folder `data`, which a client has no
/// business knowing.
pub(crate) fn status(data: &Path, e: eventstore_log::Error) -> Status {
    use eventstore_log::Error as E;
    let msg = hide_root(data, &e.to_string());
    match e {
        E::InvalidName { .. } | E::InvalidArgument(_) | E::PayloadTooLarge { .. } => {
            Status::invalid_argument(msg)
        }
        E::NoSuchStream(_) => Status::not_found(msg),
        E::Locked { .. } => Status::failed_precondition(msg),
        E::Poisoned => Status::unavailable(msg),
        _ => Status::internal(msg),
    }
}

/// `msg` with the data folder's path taken out of every path in it.
pub(crate) fn hide_root(data: &Path, msg: &str) -> String {
    let root = data.display().to_string();
    let root = root.trim_end_matches('/');
    if root.is_empty() {
        return msg.to_string();
    }
    msg.replace(&format!("{root}/"), "").replace(root, "<data>")
}

fn stream_name(s: &str) -> std::result::Result<StreamName, Status> {
    // A name is checked before the data folder is involved.
    StreamName::new(s).map_err(|e| status(Path::new(""), e))
}

#[derive(Clone)]
struct Service {
    host: Arc<Host>,
    subscriptions: Arc<Semaphore>,
    /// The subscriptions' budget of batch bytes, in `BUDGET_UNIT`s.
    budget: Arc<Semaphore>,
    opts: ServerOptions,
    /// Becomes true when the server shuts down.
    stop: watch::Receiver<bool>,
}

/// A response stream that ends with `UNAVAILABLE` when the server shuts
/// down, so that graceful shutdown does not wait for calls that never end
/// (following subscriptions) and clients know to reconnect.
struct Stoppable<S> {
    inner: S,
    stop: Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
    done: bool,
}

impl<S> Stoppable<S> {
    fn new(inner: S, mut stop: watch::Receiver<bool>) -> Self {
        Stoppable {
            inner,
            stop: Box::pin(async move {
                let _ = stop.wait_for(|s| *s).await;
            }),
            done: false,
        }
    }
}

impl<T, S: tokio_stream::Stream<Item = std::result::Result<T, Status>> + Unpin> tokio_stream::Stream
    for Stoppable<S>
{
    type Item = std::result::Result<T, Status>;
    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::task::Poll;
        if self.done {
            return Poll::Ready(None);
        }
        if self.stop.as_mut().poll(cx).is_ready() {
            self.done = true;
            return Poll::Ready(Some(Err(Status::unavailable(
                "the server is shutting down",
            ))));
        }
        Pin::new(&mut self.inner).poll_next(cx)
    }
}

impl Service {
    /// Queue one append; the receiver answers once it is durable.
    async fn submit(
        &self,
        req: proto::AppendRequest,
    ) -> std::result::Result<oneshot::Receiver<eventstore_log::Result<std::ops::Range<u64>>>, Status>
    {
        let name = stream_name(&req.stream)?;
        if req.records.is_empty() {
            return Err(Status::invalid_argument(
                "an append needs at least one record",
            ));
        }
        let tx = self
            .host
            .writer(&name)
            .map_err(|e| status(&self.host.opts.data, e))?;
        let (reply, rx) = oneshot::channel();
        tx.send(Job {
            records: req.records,
            reply,
        })
        .await
        .map_err(|_| Status::unavailable(format!("stream {name} is closing")))?;
        Ok(rx)
    }

    fn admin(&self, meta: &tonic::metadata::MetadataMap) -> std::result::Result<(), Status> {
        let Some(admin) = &self.opts.admin_token else {
            return Err(Status::permission_denied(
                "deletion and retention are disabled: start the server with an admin token",
            ));
        };
        let want = format!("Bearer {admin}");
        match meta.get("authorization") {
            Some(v) if same(want.as_bytes(), v.as_bytes()) => Ok(()),
            _ => Err(Status::permission_denied("this call needs the admin token")),
        }
    }
}

async fn answer(
    data: &Path,
    request_id: u64,
    rx: oneshot::Receiver<eventstore_log::Result<std::ops::Range<u64>>>,
) -> std::result::Result<proto::AppendResponse, Status> {
    let seqs = rx
        .await
        .map_err(|_| Status::unavailable("the stream's writer stopped"))?
        .map_err(|e| status(data, e))?;
    Ok(proto::AppendResponse {
        request_id,
        first_seq: seqs.start,
        count: (seqs.end - seqs.start) as u32,
    })
}

fn summary(name: &str, info: &eventstore_log::StreamInfo) -> proto::StreamSummary {
    let seqs = info.seqs().unwrap_or(0..0);
    let (min, max) = info.span().unwrap_or((0, 0));
    proto::StreamSummary {
        name: name.to_string(),
        files: info.files.len() as u32,
        records: info.records(),
        bytes: info.bytes(),
        first_seq: seqs.start,
        next_seq: seqs.end,
        min_ts_ns: min,
        max_ts_ns: max,
    }
}

type BoxStream<T> =
    Pin<Box<dyn tokio_stream::Stream<Item = std::result::Result<T, Status>> + Send>>;

/// Appends a call may have waiting for their acknowledgement.
const APPENDS_IN_FLIGHT: usize = 64;

#[tonic::async_trait]
impl EventStore for Service {
    async fn append(
        &self,
        request: Request<proto::AppendRequest>,
    ) -> std::result::Result<Response<proto::AppendResponse>, Status> {
        let req = request.into_inner();
        let id = req.request_id;
        let rx = self.submit(req).await?;
        Ok(Response::new(answer(&self.host.opts.data, id, rx).await?))
    }

    type AppendStreamStream = BoxStream<proto::AppendResponse>;

    async fn append_stream(
        &self,
        request: Request<Streaming<proto::AppendRequest>>,
    ) -> std::result::Result<Response<Self::AppendStreamStream>, Status> {
        let mut input = request.into_inner();
        let (pending_tx, mut pending_rx) = mpsc::channel(APPENDS_IN_FLIGHT);
        let (out_tx, out_rx) = mpsc::channel(APPENDS_IN_FLIGHT);
        let service = self.clone();
        // Requests are read only while fewer than APPENDS_IN_FLIGHT wait
        // for their answer: flow control holds the client back.
        let errors = out_tx.clone();
        tokio::spawn(async move {
            loop {
                // Stop reading once the response has ended (an error, or
                // the server shutting down).
                let m = tokio::select! {
                    m = input.message() => m,
                    _ = errors.closed() => return,
                };
                let req = match m {
                    Ok(Some(r)) => r,
                    Ok(None) => return,
                    Err(e) => {
                        let _ = errors.send(Err(e)).await;
                        return;
                    }
                };
                let id = req.request_id;
                let r = service.submit(req).await;
                if pending_tx.send((id, r)).await.is_err() {
                    return;
                }
            }
        });
        let data = self.host.opts.data.clone();
        tokio::spawn(async move {
            while let Some((id, r)) = pending_rx.recv().await {
                let a = match r {
                    Ok(rx) => answer(&data, id, rx).await,
                    Err(e) => Err(e),
                };
                let failed = a.is_err();
                if out_tx.send(a).await.is_err() || failed {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(Stoppable::new(
            ReceiverStream::new(out_rx),
            self.stop.clone(),
        ))))
    }

    type SubscribeStream = BoxStream<proto::RecordBatch>;

    async fn subscribe(
        &self,
        request: Request<proto::SubscribeRequest>,
    ) -> std::result::Result<Response<Self::SubscribeStream>, Status> {
        let req = request.into_inner();
        let name = stream_name(&req.stream)?;
        let permit = self
            .subscriptions
            .clone()
            .try_acquire_owned()
            .map_err(|_| {
                Status::resource_exhausted(format!(
                    "too many subscriptions (at most {})",
                    self.opts.max_subscriptions
                ))
            })?;
        let start = match req.start {
            None | Some(Start::FromBeginning(_)) => StartAt::Beginning,
            Some(Start::FromSeq(s)) => StartAt::Seq(s),
            Some(Start::FromTimeNs(t)) => StartAt::Time(t),
            Some(Start::FromEnd(_)) => StartAt::End,
        };
        let stop = req.stop.map(|s| match s {
            Stop::ToSeq(s) => StopAt::Seq(s),
            Stop::ToTimeNs(t) => StopAt::Time(t),
        });
        let max = if req.max_batch_bytes == 0 {
            self.opts.max_batch_bytes
        } else {
            (req.max_batch_bytes as usize).min(self.opts.max_batch_bytes)
        };
        let spec = SubscriptionSpec {
            dir: name.dir(&self.host.opts.data),
            data: self.host.opts.data.clone(),
            changes: self.host.changes(&name),
            budget: self.budget.clone(),
            start,
            stop,
            follow: req.follow,
            max_batch_bytes: max,
            with_book: req.with_book,
        };
        let (tx, rx) = mpsc::channel(self.opts.subscription_queue.max(1));
        tokio::spawn(subscription_task(spec, tx, permit));
        // A batch gives its budget back once the connection has taken it.
        let batches = tokio_stream::StreamExt::map(ReceiverStream::new(rx), |r| r.map(|(b, _)| b));
        Ok(Response::new(Box::pin(Stoppable::new(
            batches,
            self.stop.clone(),
        ))))
    }

    async fn list_streams(
        &self,
        _request: Request<proto::ListStreamsRequest>,
    ) -> std::result::Result<Response<proto::ListStreamsResponse>, Status> {
        let data = self.host.opts.data.clone();
        let streams = tokio::task::spawn_blocking(move || -> eventstore_log::Result<_> {
            let mut out = Vec::new();
            for n in eventstore_log::list_streams(&data)? {
                let info = eventstore_log::stream_info(&n.dir(&data))?;
                out.push(summary(n.as_str(), &info));
            }
            Ok(out)
        })
        .await
        .map_err(|e| Status::internal(e.to_string()))?
        .map_err(|e| status(&self.host.opts.data, e))?;
        Ok(Response::new(proto::ListStreamsResponse { streams }))
    }

    async fn stream_info(
        &self,
        request: Request<proto::StreamInfoRequest>,
    ) -> std::result::Result<Response<proto::StreamInfoResponse>, Status> {
        let name = stream_name(&request.into_inner().stream)?;
        let dir = name.dir(&self.host.opts.data);
        if !dir.is_dir() {
            return Err(Status::not_found(format!("no stream {name}")));
        }
        let info = tokio::task::spawn_blocking(move || eventstore_log::stream_info(&dir))
            .await
            .map_err(|e| Status::internal(e.to_string()))?
            .map_err(|e| status(&self.host.opts.data, e))?;
        let files = info
            .files
            .iter()
            .map(|f| proto::FileSummary {
                name: f
                    .path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                sealed: f.sealed,
                records: f.records,
                bytes: f.bytes,
                first_seq: f.first_seq,
                min_ts_ns: f.min_ts.unwrap_or(0),
                max_ts_ns: f.max_ts.unwrap_or(0),
            })
            .collect();
        Ok(Response::new(proto::StreamInfoResponse {
            summary: Some(summary(name.as_str(), &info)),
            files,
        }))
    }

    async fn delete_stream(
        &self,
        request: Request<proto::DeleteStreamRequest>,
    ) -> std::result::Result<Response<proto::DeleteStreamResponse>, Status> {
        self.admin(request.metadata())?;
        let name = stream_name(&request.into_inner().stream)?;
        let dir = name.dir(&self.host.opts.data);
        if !dir.is_dir() {
            return Err(Status::not_found(format!("no stream {name}")));
        }
        self.host.stop_writer(&name).await;
        let files = eventstore_log::files::list_files(&dir)
            .map(|f| f.len())
            .unwrap_or(0);
        std::fs::remove_dir_all(&dir)
            .map_err(|e| Status::internal(format!("cannot remove stream {name}: {e}")))?;
        Ok(Response::new(proto::DeleteStreamResponse {
            files_removed: files as u32,
        }))
    }

    async fn retain(
        &self,
        request: Request<proto::RetainRequest>,
    ) -> std::result::Result<Response<proto::RetainResponse>, Status> {
        self.admin(request.metadata())?;
        let req = request.into_inner();
        let name = stream_name(&req.stream)?;
        let dir = name.dir(&self.host.opts.data);
        if !dir.is_dir() {
            return Err(Status::not_found(format!("no stream {name}")));
        }
        let policy = RetentionPolicy {
            max_age: (req.max_age_ns > 0).then(|| Duration::from_nanos(req.max_age_ns)),
            max_bytes: (req.max_bytes > 0).then_some(req.max_bytes),
        };
        let now = eventstore_log::Clock::now_ns(&eventstore_log::SystemClock);
        let removed =
            tokio::task::spawn_blocking(move || eventstore_log::retain(&dir, policy, now))
                .await
                .map_err(|e| Status::internal(e.to_string()))?
                .map_err(|e| status(&self.host.opts.data, e))?;
        Ok(Response::new(proto::RetainResponse {
            files_removed: removed
                .iter()
                .filter_map(|p| p.file_name())
                .map(|n| n.to_string_lossy().into_owned())
                .collect(),
        }))
    }
}
