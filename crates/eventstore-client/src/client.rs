//! A connection to a server: the unary calls, and the start of
//! publishers and subscriptions.

use crate::proto::event_store_client::EventStoreClient;
use crate::{Error, Publisher, PublisherOptions, Result, Subscription};
use bytes::Bytes;
use eventstore_protocol::{proto, StartAt, StopAt, StreamInfo, StreamSummary};
use std::ops::Range;
use std::time::Duration;
use tokio::sync::mpsc;
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
pub(crate) struct Auth(Option<MetadataValue<Ascii>>);

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

pub(crate) type Rpc = EventStoreClient<InterceptedService<Channel, Auth>>;

/// A connection to a server. Cheap to clone; calls made after the server
/// restarts reconnect by themselves.
#[derive(Clone)]
pub struct Client {
    pub(crate) rpc: Rpc,
    pub(crate) opts: ClientOptions,
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
            .map_err(|e| Error::BadAddress {
                addr: addr.to_string(),
                reason: e.to_string(),
            })?
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(5))
            .initial_stream_window_size(4 << 20)
            .initial_connection_window_size(16 << 20)
            .max_frame_size(Some(1 << 20))
            .http2_keep_alive_interval(Duration::from_secs(30))
            .keep_alive_while_idle(true);
        if let Some(ca) = &opts.tls_ca {
            let _ = rustls::crypto::ring::default_provider().install_default();
            let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca));
            if let Some(d) = &opts.tls_domain {
                tls = tls.domain_name(d.clone());
            }
            ep = ep.tls_config(tls).map_err(Error::Connect)?;
        }
        let channel = ep.connect().await.map_err(Error::Connect)?;
        let auth = match &opts.token {
            Some(t) => Some(format!("Bearer {t}").parse().map_err(|_| Error::BadToken)?),
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
            start: Some(eventstore_protocol::start_to_wire(start)),
            stop: stop.map(eventstore_protocol::stop_to_wire),
            follow,
            max_batch_bytes: 0,
            with_book,
        };
        tokio::spawn(crate::subscription::subscribe_loop(self.clone(), req, tx));
        Subscription::new(rx)
    }

    /// Every stream on the server.
    pub async fn list_streams(&self) -> Result<Vec<StreamSummary>> {
        Ok(self
            .rpc
            .clone()
            .list_streams(proto::ListStreamsRequest {})
            .await?
            .into_inner()
            .streams
            .into_iter()
            .map(StreamSummary::from)
            .collect())
    }

    /// One stream's summary and files.
    pub async fn stream_info(&self, stream: &str) -> Result<StreamInfo> {
        Ok(self
            .rpc
            .clone()
            .stream_info(proto::StreamInfoRequest {
                stream: stream.to_string(),
            })
            .await?
            .into_inner()
            .into())
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
pub(crate) fn retryable(s: &Status) -> bool {
    matches!(
        s.code(),
        Code::Unavailable | Code::Unknown | Code::Cancelled | Code::Aborted
    )
}
