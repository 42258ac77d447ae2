//! The EventStore wire protocol (`proto/eventstore.proto`, documented in
//! `docs/protocol.md`): the generated messages, the codec both ends use,
//! and the types a client's API speaks, so that no generated type leaks
//! into it. The client (`eventstore-client`) and the server
//! (`eventstore-server`) generate their own halves of the service from the
//! same file, against these messages.

#![deny(unsafe_code)]

pub mod codec;
mod types;

/// The generated messages of `eventstore.v1`.
#[allow(clippy::all, missing_docs)]
pub mod proto {
    tonic::include_proto!("eventstore.v1");
}

pub use types::{
    start_from_wire, start_to_wire, stop_from_wire, stop_to_wire, Event, FileSummary, StartAt,
    StopAt, StreamInfo, StreamSummary,
};

/// The path of `proto/eventstore.proto`, for the crates that generate the
/// client and server stubs from it.
pub const PROTO_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/proto/eventstore.proto");
