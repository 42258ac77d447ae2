//! Market data for EventStore.
//!
//! Modules:
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

pub mod synth;
