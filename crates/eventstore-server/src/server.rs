//! [`Server`]: the gRPC service over the streams of one data folder, bound
//! and then run until a shutdown signal; [`BackgroundServer`], the same on
//! a thread of its own.

use crate::handlers::{EventStoreServer, Service};
use crate::host::Host;
use crate::subscription::BUDGET_UNIT;
use crate::{Error, Result, ServerOptions};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::{oneshot, watch, Semaphore};

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
            .map_err(|source| Error::Listen {
                addr: addr.to_string(),
                source,
            })?;
        std::fs::create_dir_all(&opts.host.data).map_err(|source| Error::DataFolder {
            path: opts.host.data.clone(),
            source,
        })?;
        Ok(Server { listener, opts })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.listener.local_addr().map_err(|source| Error::Listen {
            addr: "the bound socket".into(),
            source,
        })
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
        let check = crate::auth::TokenCheck::new(&opts);
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
            let _ = rustls::crypto::ring::default_provider().install_default();
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
                    .map_err(|e| Error::Start(format!("cannot start a runtime: {e}")))?;
                rt.block_on(async move {
                    let server = match Server::bind(&addr, opts).await {
                        Ok(s) => s,
                        Err(e) => {
                            let msg = e.to_string();
                            let _ = bound_tx.send(Err(e));
                            return Err(Error::Start(msg));
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
            .map_err(|e| Error::Start(format!("cannot start the server thread: {e}")))?;
        let addr = bound
            .recv()
            .map_err(|_| Error::Start("the server thread ended".into()))??;
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
