//! How a writer works: [`WriterOptions`], [`Durability`], [`RollBy`].

use crate::clock::{Clock, SystemClock};
use crate::error::{Error, Result};
use crate::sync::{OsSync, SyncFile};
use crate::time::RollInterval;
use std::sync::Arc;
use std::time::Duration;

/// When appended records reach the disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// Left to the operating system (the page cache). Records survive the
    /// writer's crash (`kill -9`) as soon as `append` returns, but not a
    /// power loss before the OS writes them back.
    Os,
    /// fsync before every `append` or `append_batch` returns: acknowledged
    /// records survive power loss.
    Batch,
    /// fsync at most this often, from a background thread: a record is on
    /// disk at most this long after `append` returns.
    Interval(Duration),
}

impl std::str::FromStr for Durability {
    type Err = Error;
    /// `os` (or `none`), `batch`, or a sync interval such as `10ms`.
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "none" | "os" => Ok(Durability::Os),
            "batch" | "always" => Ok(Durability::Batch),
            _ => crate::time::parse_duration_ns(s)
                .map(|ns| Durability::Interval(Duration::from_nanos(ns.max(0) as u64)))
                .map_err(|_| {
                    Error::InvalidArgument(format!(
                        "invalid durability {s:?} (use os, batch, or an interval such as 10ms)"
                    ))
                }),
        }
    }
}

/// Which time decides when a file rolls over.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RollBy {
    /// The writer's clock: files hold what arrived during their interval.
    /// An idle file is sealed by [`StreamWriter::tick`](crate::StreamWriter::tick) once its interval
    /// has passed.
    #[default]
    WriterClock,
    /// The records' own timestamps (for importing history): a record whose
    /// time is past the open file's interval rolls it; an earlier record
    /// stays in the open file. `tick` never seals; `close` seals once the
    /// writer's clock has passed the interval.
    RecordTime,
}

/// How a writer rolls, syncs and tells time.
#[derive(Clone)]
pub struct WriterOptions {
    pub roll: RollInterval,
    pub roll_by: RollBy,
    pub durability: Durability,
    pub clock: Arc<dyn Clock>,
    /// Run a helper thread that faults in pages ahead of the writer (on by
    /// default; turn off for many low-rate streams in one process).
    pub pretouch: bool,
    /// How files are synced (the operating system's unless a test injects faults).
    pub syncer: Arc<dyn SyncFile>,
    /// Convert each file into a compact file once it is sealed, on a
    /// thread of the writer's own, behind the appends (`None`: keep files
    /// as written).
    pub compact: Option<crate::compact::CompactOptions>,
    /// Under `Durability::Os`, seal a rolled file on the writer's
    /// background thread rather than in the append that rolls (on by
    /// default). The append that rolls then only starts the next file,
    /// which the same thread made ahead; `false` keeps the seal's fsyncs
    /// (milliseconds) in the append that rolls (see BENCHMARKS.md,
    /// "Rolling").
    pub seal_behind: bool,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            roll: RollInterval::HOURLY,
            roll_by: RollBy::WriterClock,
            pretouch: true,
            syncer: Arc::new(OsSync),
            durability: Durability::Os,
            clock: Arc::new(SystemClock),
            compact: None,
            seal_behind: true,
        }
    }
}

impl WriterOptions {
    /// Set the roll interval.
    pub fn roll(mut self, roll: RollInterval) -> Self {
        self.roll = roll;
        self
    }
    /// Roll by the writer's clock or by the records' timestamps.
    pub fn roll_by(mut self, by: RollBy) -> Self {
        self.roll_by = by;
        self
    }
    /// Sync files with `s` (tests use it to make syncs fail).
    pub fn syncer(mut self, s: Arc<dyn SyncFile>) -> Self {
        self.syncer = s;
        self
    }
    /// Enable or disable the pretouch thread.
    pub fn pretouch(mut self, on: bool) -> Self {
        self.pretouch = on;
        self
    }
    /// Set the durability mode.
    pub fn durability(mut self, d: Durability) -> Self {
        self.durability = d;
        self
    }
    /// Make sealed files compact behind the appends (`None`: keep them
    /// as written).
    pub fn compact(mut self, c: Option<crate::compact::CompactOptions>) -> Self {
        self.compact = c;
        self
    }
    /// Seal rolled files behind the appends (under `Durability::Os`).
    pub fn seal_behind(mut self, on: bool) -> Self {
        self.seal_behind = on;
        self
    }
    /// Use another clock (tests use [`crate::ManualClock`]).
    pub fn clock(mut self, c: Arc<dyn Clock>) -> Self {
        self.clock = c;
        self
    }
}
