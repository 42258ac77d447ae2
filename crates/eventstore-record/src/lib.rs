//! `eventstore record`: a live collector of venue feeds into market
//! streams.
//!
//! - [`venue`]: the venues (Binance spot, Binance USD-M futures, OKX), their
//!   endpoints, subscriptions and parsers (the importers' own).
//! - [`run`]: one venue's loop: connections with backoff and jitter, stall
//!   detection, the planned replacement of a connection before the venue's
//!   age limit (both record, duplicates dropped by id, no gap), and the
//!   depth sync (diffs recorded as they come, a REST snapshot fetched,
//!   bridged and chained; after any gap, again).
//! - `outputs`: the streams written, each book with its live replay;
//!   breaks in the feed (a lost connection, a stall, the recorder's own
//!   restart) are stored as break records, so every reader's gap ledger
//!   names them.
//! - [`stats`]: figures for status lines and Prometheus.
//! - [`config`]: the TOML file of many venues.
//! - [`sim`]: a venue simulator on loopback (websocket and HTTP) that
//!   replays real recordings with faults injected, for tests and
//!   benchmarks.
#![cfg_attr(not(test), warn(clippy::unwrap_used))]
#![deny(unsafe_code)]

pub mod config;
mod outputs;
pub mod run;
pub mod sim;
pub mod stats;
pub mod venue;

pub use outputs::{Error, Result};
pub use run::{record_venue, VenueSpec};
pub use stats::Stats;
pub use venue::{Channel, Venue};

use eventstore_log::{CompactOptions, Durability, RollInterval, WriterOptions};
use std::path::PathBuf;
use std::time::Duration;

/// The largest websocket message accepted (a peer cannot make the
/// recorder hold more).
pub const MAX_MESSAGE: usize = 16 << 20;

/// The current time in ns since the epoch.
pub fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// How a recorder writes and keeps its connections.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordOptions {
    pub root: PathBuf,
    pub roll: RollInterval,
    pub durability: Durability,
    /// Also store every venue message as received, in `<venue>/raw`.
    pub raw: bool,
    /// Make sealed files compact (on by default).
    pub compact: bool,
    /// A connection that brings nothing for this long is replaced.
    pub stale_after: Duration,
    /// Replace a connection after this long (the venue's limit without it:
    /// 23 h for Binance), opening its successor first.
    pub max_connection_age: Option<Duration>,
    /// How long both connections record before the old one closes.
    pub overlap: Duration,
    /// Levels a side asked of a REST depth snapshot.
    pub snapshot_limit: u32,
    pub snapshot_timeout: Duration,
    /// Reconnect and retry delays: from `backoff_initial`, doubling to
    /// `backoff_max`, with jitter.
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// A status line this often (none: quiet).
    pub status_every: Option<Duration>,
}

impl RecordOptions {
    pub fn new(root: impl Into<PathBuf>) -> RecordOptions {
        RecordOptions {
            root: root.into(),
            roll: RollInterval::HOURLY,
            durability: Durability::Os,
            raw: false,
            compact: true,
            stale_after: Duration::from_secs(30),
            max_connection_age: None,
            overlap: Duration::from_secs(10),
            snapshot_limit: 1000,
            snapshot_timeout: Duration::from_secs(10),
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_secs(30),
            status_every: Some(Duration::from_secs(10)),
        }
    }

    pub(crate) fn writer_options(&self) -> WriterOptions {
        WriterOptions::default()
            .roll(self.roll)
            .durability(self.durability)
            .compact(self.compact.then(CompactOptions::default))
    }

    pub(crate) fn backoff(&self) -> eventstore_backoff::Backoff {
        eventstore_backoff::Backoff::new(self.backoff_initial, self.backoff_max)
    }
}

/// Record every venue of `specs` on the current thread until `stop` turns
/// true, serving metrics on `metrics` if given. Returns the first error
/// that stopped a venue (a disk that fails, a stream whose stored
/// metadata is not the venue's); the others go on until then.
pub async fn record(
    specs: Vec<VenueSpec>,
    opts: RecordOptions,
    stats: Stats,
    metrics: Option<tokio::net::TcpListener>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Result<()> {
    // Two TLS stacks are linked in (the service's and the object stores'):
    // the websocket client uses this one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    // Sealed files become compact with the market codecs.
    eventstore_market::compact::install();
    let local = tokio::task::LocalSet::new();
    local
        .run_until(async move {
            if let Some(l) = metrics {
                let s = stats.clone();
                tokio::task::spawn_local(async move {
                    if let Err(e) = stats::serve_metrics(l, s, now_ns).await {
                        run::log("metrics", &format!("stopped: {e}"));
                    }
                });
            }
            let mut tasks = Vec::new();
            for spec in specs {
                let (opts, stats, stop) = (opts.clone(), stats.clone(), stop.clone());
                tasks.push(tokio::task::spawn_local(async move {
                    let name = spec.venue.name();
                    let r = record_venue(spec, opts, stats, stop).await;
                    if let Err(e) = &r {
                        run::log(name, &format!("stopped: {e}"));
                    }
                    r
                }));
            }
            let mut first = Ok(());
            for t in tasks {
                let r = t
                    .await
                    .map_err(|e| Error::Config(format!("a venue's task failed: {e}")))
                    .and_then(|r| r);
                if first.is_ok() {
                    first = r;
                }
            }
            first
        })
        .await
}
