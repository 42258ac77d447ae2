//! The EventStore service: a gRPC server hosting many streams, and the Rust
//! client library.
//!
//! The server ([`Server`]) appends each stream through one writer thread that
//! groups whatever requests are waiting, syncs once and then acknowledges
//! them all; subscribers read the log itself from their position, so catching
//! up from disk and following live appends are the same loop, with no
//! hand-over to get wrong. The client ([`Client`]) appends (one call, or a
//! [`Publisher`] that batches by itself) and subscribes ([`Subscription`]),
//! reconnecting and resuming after the last record it delivered.
//!
//! The protocol is `proto/eventstore.proto`, documented in `docs/protocol.md`.
//!
//! ```no_run
//! # async fn f() -> eventstore_service::Result<()> {
//! use eventstore_service::*;
//! let client = Client::connect("127.0.0.1:7070", ClientOptions::default()).await?;
//! let seqs = client.append("a/b", vec!["one".into(), "two".into()]).await?;
//! let publisher = client.publisher("a/b", PublisherOptions::default());
//! publisher.send("three".into()).await?;
//! publisher.flush().await?;
//! let mut sub = client.subscribe("a/b", StartAt::Seq(seqs.start), None, true);
//! while let Some(e) = sub.next().await {
//!     let e = e?;
//!     println!("{} {:?}", e.seq, e.payload);
//! }
//! # Ok(()) }
//! ```
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

mod client;
mod codec;
mod conn;
mod host;
mod server;
mod subscription;

/// The generated protocol types, client and server stubs.
#[allow(clippy::all, missing_docs)]
pub mod proto {
    tonic::include_proto!("eventstore.v1");
}

pub use client::{Client, ClientOptions, Event, Publisher, PublisherOptions, Subscription};
pub use eventstore_log::{StartAt, StopAt};
pub use host::HostOptions;
pub use server::{BackgroundServer, Server, ServerOptions};

/// Select rustls's crypto provider for the process (ring), once: with
/// another provider compiled in by other crates (object storage brings
/// aws-lc-rs), rustls cannot choose by itself.
pub(crate) fn tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}: {1}")]
    Io(String, #[source] std::io::Error),
    #[error("{0}")]
    Transport(#[source] tonic::transport::Error),
    #[error("{}: {}", .0.code(), .0.message())]
    Status(#[from] tonic::Status),
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    #[error("{0} records were sent but not acknowledged before the connection failed ({1}); they may or may not be stored")]
    Unacknowledged(u64, String),
}

impl Error {
    /// The gRPC status code, if the server answered with one.
    pub fn code(&self) -> Option<tonic::Code> {
        match self {
            Error::Status(s) => Some(s.code()),
            _ => None,
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;
