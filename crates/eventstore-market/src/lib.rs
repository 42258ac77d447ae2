//! Market data for EventStore, in four subsystems:
//!
//! - [`records`]: what a market stream stores. Exact decimals
//!   ([`records::decimal`]), trades ([`records::trade`]), price-level updates
//!   and quotes ([`records::level`]), order events ([`records::order`]) and
//!   `market.json`, what a stream holds ([`records::meta`]).
//! - [`book`]: order books built from those records: L2 by price level
//!   ([`book::l2`]), L3 by order ([`book::l3`]), the replay of a feed with its
//!   gaps ([`book::replay`]) and the `.book` snapshot codec ([`book::snapshot`]).
//! - [`read`]: reading market streams: [`TradeStreamReader`]
//!   ([`read::trades`]), [`OrderStreamReader`] with books at any time
//!   ([`read::orders`]), per-file trade summaries ([`read::summary`]) and
//!   bars ([`read::bars`]).
//! - [`import`]: the import pipeline and one module per source format
//!   (Binance, Tardis, LOBSTER, Databento, OKX, Coinbase, Bybit, Kraken).
//!
//! And [`compact`]: column-wise encodings of blocks of records (trades,
//! level updates, quotes, order events), decoded bit for bit, the block
//! codecs of compact files.
//!
//! Beside them: `arrow` (with the `arrow` feature: every kind of stream as
//! Arrow record batches), `export` (with the `parquet` feature: trades and periodic
//! books to Parquet) and [`synth`], a seeded generator of realistic
//! synthetic market streams for demos, tests and benchmarks at any scale.
//!
//! ```
//! use eventstore_market::synth::{MarketSim, SynthConfig};
//! let events: Vec<_> = MarketSim::new(SynthConfig::default()).take(100).collect();
//! assert_eq!(events.len(), 100);
//! assert!(events.windows(2).all(|w| w[0].ts_ns() <= w[1].ts_ns()));
//! ```
#![cfg_attr(not(test), warn(clippy::unwrap_used))]
#![deny(unsafe_code)]

#[cfg(feature = "arrow")]
pub mod arrow;
pub mod book;
pub mod compact;
mod error;
#[cfg(feature = "parquet")]
pub mod export;
#[cfg(feature = "import")]
pub mod import;
pub mod read;
pub mod records;
#[cfg(feature = "arrow")]
pub mod replay;
pub mod synth;

pub use error::{Error, Result};
pub use read::build_sidecars;
pub use read::orders::OrderStreamReader;
pub use read::trades::TradeStreamReader;
pub use records::level::{BookLevel, BookSide, Quote};
pub use records::meta::{StreamKind, StreamMeta};
pub use records::order::{Action, OrderEvent};
pub use records::trade::{Side, Trade, TradeId};
