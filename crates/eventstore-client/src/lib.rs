//! The Rust client of the EventStore service. It holds no server and no
//! storage: a program that only publishes or subscribes compiles the
//! protocol, tonic's client and this.
//!
//! [`Client`] appends (one call, or a [`Publisher`] that batches by
//! itself) and subscribes ([`Subscription`]), reconnecting and resuming
//! after the last record it delivered. The protocol is
//! `eventstore-protocol/proto/eventstore.proto`, documented in
//! `docs/protocol.md`.
//!
//! ```no_run
//! # async fn f() -> eventstore_client::Result<()> {
//! use eventstore_client::*;
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

#![deny(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

mod client;
mod error;
mod publisher;
mod subscription;

/// The generated client stub (against the protocol crate's messages).
#[allow(clippy::all, missing_docs)]
mod proto {
    tonic::include_proto!("eventstore.v1");
}

pub use client::{Client, ClientOptions};
pub use error::{Error, Result};
pub use eventstore_protocol::{Event, FileSummary, StartAt, StopAt, StreamInfo, StreamSummary};
pub use publisher::{Publisher, PublisherOptions};
pub use subscription::Subscription;
