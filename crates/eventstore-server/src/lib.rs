//! The EventStore server: the gRPC service over the streams of one data
//! folder.
//!
//! Each stream is appended by one writer thread that groups whatever
//! requests are waiting, syncs once and then acknowledges them all
//! ([`host`](crate::HostOptions)); subscribers are tasks that read the log
//! itself from their position, so catching up from disk and following live
//! appends are the same loop, with no hand-over to get wrong. The
//! protocol is `eventstore-protocol/proto/eventstore.proto`, documented in
//! `docs/protocol.md`; the Rust client is `eventstore-client`.
//!
//! | file | what it holds |
//! |---|---|
//! | `options.rs` | [`ServerOptions`] |
//! | `server.rs` | [`Server`] (bind, run until shutdown), [`BackgroundServer`] |
//! | `conn.rs` | accepted connections: the cap, the handshake deadline |
//! | `auth.rs` | the token and admin-token checks |
//! | `handlers.rs` | the request handlers |
//! | `host.rs` | the streams' writer threads and change counters |
//! | `subscription.rs` | subscription tasks and their memory budget |
//! | `status.rs` | errors as gRPC statuses, the data folder hidden |
//! | `shutdown.rs` | calls that end with `UNAVAILABLE` on shutdown |

#![deny(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

mod auth;
mod conn;
mod handlers;
mod host;
mod options;
mod server;
mod shutdown;
mod status;
mod subscription;

/// The generated server stub (against the protocol crate's messages).
#[allow(clippy::all, missing_docs)]
mod proto {
    tonic::include_proto!("eventstore.v1");
}

pub use eventstore_log::SyncFile;
pub use host::HostOptions;
pub use options::ServerOptions;
pub use server::{BackgroundServer, Server};

/// What can stop a server from starting or serving.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The address cannot be listened on.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    /// The data folder cannot be created.
    #[error("cannot create the data folder {path}: {source}")]
    DataFolder {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The runtime or the server's thread could not be started, or the
    /// thread ended before it was listening.
    #[error("cannot start the server: {0}")]
    Start(String),
    /// The TLS configuration was refused, or serving failed.
    #[error("{0}")]
    Transport(#[source] tonic::transport::Error),
}

/// A server's result.
pub type Result<T> = std::result::Result<T, Error>;
