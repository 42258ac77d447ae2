//! What a market stream stores: exact decimals, trades, price-level
//! updates and quotes, order events, and `market.json`.

pub mod decimal;
pub mod level;
pub mod meta;
pub mod order;
pub mod trade;
