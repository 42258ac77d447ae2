//! What a client sees: where a subscription starts and stops, the records
//! it delivers, and the summaries of streams and files.

use crate::proto::{self, subscribe_request::Start, subscribe_request::Stop};
use bytes::Bytes;

pub use eventstore_position::{StartAt, StopAt};

/// A start position as the request's `start` field.
pub fn start_to_wire(s: StartAt) -> Start {
    match s {
        StartAt::Beginning => Start::FromBeginning(true),
        StartAt::Seq(s) => Start::FromSeq(s),
        StartAt::Time(t) => Start::FromTimeNs(t),
        StartAt::End => Start::FromEnd(true),
    }
}

/// The request's `start` field as a start position (absent: the beginning).
pub fn start_from_wire(s: Option<Start>) -> StartAt {
    match s {
        None | Some(Start::FromBeginning(_)) => StartAt::Beginning,
        Some(Start::FromSeq(s)) => StartAt::Seq(s),
        Some(Start::FromTimeNs(t)) => StartAt::Time(t),
        Some(Start::FromEnd(_)) => StartAt::End,
    }
}

/// A stop bound as the request's `stop` field.
pub fn stop_to_wire(s: StopAt) -> Stop {
    match s {
        StopAt::Seq(s) => Stop::ToSeq(s),
        StopAt::Time(t) => Stop::ToTimeNs(t),
    }
}

/// The request's `stop` field as a stop bound.
pub fn stop_from_wire(s: Stop) -> StopAt {
    match s {
        Stop::ToSeq(s) => StopAt::Seq(s),
        Stop::ToTimeNs(t) => StopAt::Time(t),
    }
}

/// One record as delivered to a subscriber.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub seq: u64,
    /// When the server stored it (ns since the epoch).
    pub timestamp_ns: i64,
    pub payload: Bytes,
    /// Part of the book sent first by a subscription with the book (not a
    /// stored record; `seq` is that of the first stored record after it).
    pub snapshot: bool,
}

impl From<proto::Record> for Event {
    fn from(r: proto::Record) -> Event {
        Event {
            seq: r.seq,
            timestamp_ns: r.timestamp_ns,
            payload: r.payload,
            snapshot: r.snapshot,
        }
    }
}

/// One stream as listed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StreamSummary {
    pub name: String,
    pub files: u32,
    pub records: u64,
    /// Bytes of its files.
    pub bytes: u64,
    /// Sequence numbers stored: `first_seq..next_seq`.
    pub first_seq: u64,
    pub next_seq: u64,
    /// Timestamps (ns) of the oldest and newest record; `None` when empty.
    pub min_ts_ns: Option<i64>,
    pub max_ts_ns: Option<i64>,
}

impl From<proto::StreamSummary> for StreamSummary {
    fn from(s: proto::StreamSummary) -> StreamSummary {
        let stored = s.records > 0;
        StreamSummary {
            name: s.name,
            files: s.files,
            records: s.records,
            bytes: s.bytes,
            first_seq: s.first_seq,
            next_seq: s.next_seq,
            min_ts_ns: stored.then_some(s.min_ts_ns),
            max_ts_ns: stored.then_some(s.max_ts_ns),
        }
    }
}

/// One file of a stream.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileSummary {
    /// Its name in the stream's folder.
    pub name: String,
    pub sealed: bool,
    pub records: u64,
    pub bytes: u64,
    pub first_seq: u64,
    /// Timestamps (ns) of its oldest and newest record; `None` when empty.
    pub min_ts_ns: Option<i64>,
    pub max_ts_ns: Option<i64>,
}

impl From<proto::FileSummary> for FileSummary {
    fn from(f: proto::FileSummary) -> FileSummary {
        let stored = f.records > 0;
        FileSummary {
            name: f.name,
            sealed: f.sealed,
            records: f.records,
            bytes: f.bytes,
            first_seq: f.first_seq,
            min_ts_ns: stored.then_some(f.min_ts_ns),
            max_ts_ns: stored.then_some(f.max_ts_ns),
        }
    }
}

/// One stream's summary and files.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StreamInfo {
    pub summary: StreamSummary,
    pub files: Vec<FileSummary>,
}

impl From<proto::StreamInfoResponse> for StreamInfo {
    fn from(r: proto::StreamInfoResponse) -> StreamInfo {
        StreamInfo {
            summary: r.summary.map(StreamSummary::from).unwrap_or_default(),
            files: r.files.into_iter().map(FileSummary::from).collect(),
        }
    }
}
