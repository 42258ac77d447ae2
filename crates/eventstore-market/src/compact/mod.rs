//! Compact encodings of market records: a block of records stored by
//! column, each column encoded for what it holds (times and prices as
//! deltas, small integers as varints), the whole block then compressed
//! with zstd. Decoding gives back exactly the records encoded, bit for
//! bit, for any value of every field.
//!
//! Pure codecs over bytes, for trades and price-level updates; sealed
//! files will hold such blocks.

pub mod levels;
pub mod trades;
mod varint;

pub use levels::{decode_levels, encode_levels};
pub use trades::{decode_trades, encode_trades};
