//! Tardis.dev CSV datasets. `trades`: `exchange,symbol,timestamp,
//! local_timestamp,id,side,price,amount`, times in microseconds, decimals
//! printed without trailing zeros.

use crate::decimal;
use crate::import::{Rec, Row};
use crate::trade::{Side, Trade};

const TRADES_HEADER: &str = "exchange,symbol,timestamp,local_timestamp,id,side,price,amount";

/// Parse one line of a `trades` file; the first line must be its header.
pub(crate) fn parse_trade_line(no: u64, line: &str) -> Result<Option<Row>, String> {
    if no == 1 {
        if line.trim() != TRADES_HEADER {
            return Err(format!(
                "not a Tardis trades file: the header should be {TRADES_HEADER:?}"
            ));
        }
        return Ok(None);
    }
    if line.trim().is_empty() {
        return Ok(None);
    }
    let f: Vec<&str> = line.split(',').collect();
    if f.len() != 8 {
        return Err(format!("{} columns, expected 8", f.len()));
    }
    let us = |i: usize, what: &str| {
        f[i].parse::<i64>()
            .ok()
            .and_then(|v| v.checked_mul(1_000))
            .ok_or_else(|| format!("{what} {:?} is not a time in microseconds", f[i]))
    };
    let side = match f[5] {
        "buy" => Side::Buy,
        "sell" => Side::Sell,
        "unknown" | "" => Side::Unknown,
        s => return Err(format!("side {s:?} is not buy, sell or unknown")),
    };
    let trade_id = f[4]
        .parse::<u64>()
        .map_err(|_| format!("trade id {:?} is not a non-negative integer", f[4]))?;
    let (price_places, size_places) = (decimal::places(f[6]), decimal::places(f[7]));
    Ok(Some(Row::Records {
        venue: Some(f[0].to_string()),
        stream: "trades",
        kind: "trades",
        symbol: Some(f[1].to_string()),
        recs: vec![Rec::Trade(Trade {
            exchange_ts: us(2, "timestamp")?,
            local_ts: us(3, "local_timestamp")?,
            price: decimal::parse(f[6], price_places.min(decimal::MAX_SCALE as usize) as u8)?,
            size: decimal::parse(f[7], size_places.min(decimal::MAX_SCALE as usize) as u8)?,
            side,
            trade_id,
        })],
        price_places,
        size_places,
    }))
}
