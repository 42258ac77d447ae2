//! The service's request handlers: appends queued to the stream's writer
//! and answered once durable, subscriptions started as tasks, and the
//! listing, information, deletion and retention calls.

use crate::host::{Host, PendingAppend};
use crate::proto::event_store_server::EventStore;
pub(crate) use crate::proto::event_store_server::EventStoreServer;
use crate::shutdown::Stoppable;
use crate::status::{joined, status, stream_name};
use crate::subscription::{subscription_task, SubscriptionSpec};
use crate::ServerOptions;
use eventstore_log::RetentionPolicy;
use eventstore_protocol::proto;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch, Semaphore};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

#[derive(Clone)]
pub(crate) struct Service {
    pub(crate) host: Arc<Host>,
    pub(crate) subscriptions: Arc<Semaphore>,
    /// The subscriptions' budget of batch bytes, in `BUDGET_UNIT`s.
    pub(crate) budget: Arc<Semaphore>,
    pub(crate) opts: ServerOptions,
    /// Becomes true when the server shuts down.
    pub(crate) stop: watch::Receiver<bool>,
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
        tx.send(PendingAppend {
            records: req.records,
            reply,
        })
        .await
        .map_err(|_| Status::unavailable(format!("stream {name} is closing")))?;
        Ok(rx)
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
        let start = eventstore_protocol::start_from_wire(req.start);
        let stop = req.stop.map(eventstore_protocol::stop_from_wire);
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
        .map_err(joined("listing the streams"))?
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
            .map_err(joined("reading the stream's information"))?
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
        crate::auth::admin(&self.opts, request.metadata())?;
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
        crate::auth::admin(&self.opts, request.metadata())?;
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
                .map_err(joined("retention"))?
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
