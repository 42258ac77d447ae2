//! Market data for EventStore.
//!
//! Modules:
//! - [`decimal`]: exact prices and sizes (integers at a per-stream scale).
//! - [`trade`]: the trade record and its binary encoding; [`book`]: level updates and quotes.
//! - [`meta`]: `market.json`, what a market stream holds.
//! - [`import`]: the import pipeline; [`binance`] and [`tardis`] parse their formats.
//! - [`trades`]: [`TradeStreamReader`], trades by time range; [`bars`]: OHLCV bars, VWAP, volume by side.
//! - [`summary`]: per-file trade summaries (`<file>.summary.json`).
//! - `export` (with the `parquet` feature): trades to Parquet with typed columns.
//! - [`synth`]: a seeded generator of realistic synthetic market streams (a
//!   random-walk order book with price-level updates, and Poisson trades),
//!   for demos, tests and benchmarks at any scale.
//!
//! ```
//! use eventstore_market::synth::{MarketSim, SynthConfig};
//! let events: Vec<_> = MarketSim::new(SynthConfig::default()).take(100).collect();
//! assert_eq!(events.len(), 100);
//! assert!(events.windows(2).all(|w| w[0].ts_ns() <= w[1].ts_ns()));
//! ```
#![cfg_attr(not(test), warn(clippy::unwrap_used))]
#![deny(unsafe_code)]

pub mod bars;
pub mod binance;
pub mod book;
pub mod databento;
pub mod decimal;
mod error;
#[cfg(feature = "parquet")]
pub mod export;
pub mod import;
pub mod input;
pub mod l2;
pub mod l3;
pub mod lobster;
pub mod meta;
pub mod order;
pub mod orders;
pub mod replay;
pub mod snapshot;
pub mod summary;
pub mod synth;
pub mod tardis;
pub mod trade;
pub mod trades;

pub use book::{BookLevel, BookSide, Quote};
pub use error::{Error, Result};
pub use meta::StreamMeta;
pub use order::{Action, OrderEvent};
pub use orders::OrderStreamReader;
pub use trade::{Side, Trade};
pub use trades::TradeStreamReader;

/// Build the per-file sidecars of the market stream in `dir` where they are
/// missing: a trade stream's summaries, an order stream's book snapshots.
/// Anything else (not a market stream) is left as it is.
pub fn build_sidecars(dir: &std::path::Path) -> Result<()> {
    let Some(meta) = StreamMeta::load(dir)? else {
        return Ok(());
    };
    if meta.kind == "trades" {
        summary::summaries(dir)?;
    } else if replay::BookKind::of_stream(&meta.kind).is_some() {
        OrderStreamReader::open_dir(dir)?.build_snapshots()?;
    }
    Ok(())
}
