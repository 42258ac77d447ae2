//! Bybit v2 (`realtime`, inverse perpetuals) websocket recordings
//! (cryptofeed captures, or JSON lines), into `bybit/<symbol>/...`:
//!
//! - `orderBookL2_25.<symbol>`: a `snapshot` (a list of levels, each keyed
//!   by an `id` that stands for its price) then `delta`s with `delete`,
//!   `update` and `insert` lists; into `depth` as level updates (a delete
//!   is a size of 0 at its price). `cross_seq` is not contiguous per
//!   symbol, so it is not used as an update id.
//! - `trade.<symbol>`: trades in `trades`, `side` the taker's, the venue's
//!   `trade_id` (a UUID) as it gave it, `trade_time_ms` as the trade time.
//!
//! Subscription answers, REST answers and other topics are counted by
//! name.

use crate::import::capture;
use crate::import::rows::{trade_line, LevelEvent, ParsedLine};
use crate::records::level::BookSide;
use crate::records::trade::{Side, Trade, TradeId};
use serde_json::Value;

pub(crate) fn parse_line(line: &str) -> Result<Option<ParsedLine>, String> {
    let Some(capture::CaptureLine { local, url, json }) = capture::split(line)? else {
        return Ok(None);
    };
    if url.is_some() {
        return Ok(Some(ParsedLine::Other("rest answer".into())));
    }
    let v: Value = serde_json::from_str(json).map_err(|e| format!("not a JSON message: {e}"))?;
    let Some(topic) = v.get("topic").and_then(Value::as_str) else {
        return Ok(Some(ParsedLine::Other(
            if v.get("success").is_some() {
                "subscription answer"
            } else {
                "unknown"
            }
            .into(),
        )));
    };
    let (channel, symbol) = topic.split_once('.').unwrap_or((topic, ""));
    match channel {
        "orderBookL2_25" | "orderBookL2_200" => book(&v, symbol, local),
        "trade" => trades(&v, symbol, local),
        other => Ok(Some(ParsedLine::Other(other.to_string()))),
    }
}

/// A number or a string, as printed.
fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn field(v: &Value, k: &str, what: &str) -> Result<String, String> {
    v.get(k)
        .and_then(text)
        .ok_or_else(|| format!("{what} without field {k:?}"))
}

fn side_of(v: &Value, what: &str) -> Result<BookSide, String> {
    match v.get("side").and_then(Value::as_str) {
        Some("Buy") => Ok(BookSide::Bid),
        Some("Sell") => Ok(BookSide::Ask),
        s => Err(format!("{what} side {s:?} is not Buy or Sell")),
    }
}

fn book(v: &Value, symbol: &str, local: Option<i64>) -> Result<Option<ParsedLine>, String> {
    let what = "order book level";
    let kind = v.get("type").and_then(Value::as_str).unwrap_or("");
    let data = v.get("data").ok_or("an order book message without data")?;
    // (side, price, size) as printed; a delete has size "0".
    let mut rows: Vec<(BookSide, String, String)> = Vec::new();
    let snapshot = match kind {
        "snapshot" => {
            let list = data
                .as_array()
                .or_else(|| data.get("order_book").and_then(Value::as_array))
                .ok_or("a snapshot without a list of levels")?;
            for l in list {
                rows.push((
                    side_of(l, what)?,
                    field(l, "price", what)?,
                    field(l, "size", what)?,
                ));
            }
            true
        }
        "delta" => {
            for key in ["delete", "update", "insert"] {
                let Some(list) = data.get(key).and_then(Value::as_array) else {
                    return Err(format!("a delta without list {key:?}"));
                };
                for l in list {
                    let size = if key == "delete" {
                        "0".to_string()
                    } else {
                        field(l, "size", what)?
                    };
                    rows.push((side_of(l, what)?, field(l, "price", what)?, size));
                }
            }
            false
        }
        k => {
            return Err(format!(
                "order book message type {k:?} is not snapshot or delta"
            ))
        }
    };
    let exchange_ts = v
        .get("timestamp_e6")
        .and_then(|t| {
            t.as_i64()
                .or_else(|| t.as_str().and_then(|s| s.parse().ok()))
        })
        .and_then(|us| us.checked_mul(1000))
        .unwrap_or(0);
    let local_ts = local
        .or((exchange_ts != 0).then_some(exchange_ts))
        .ok_or("an order book message without a receive or event time")?;
    LevelEvent {
        venue: "bybit",
        symbol,
        stream: "depth",
        exchange_ts,
        local_ts,
        snapshot,
        ids: (0, 0, 0),
        checksum: None,
    }
    .records(&rows)
    .map(Some)
}

fn trades(v: &Value, symbol: &str, local: Option<i64>) -> Result<Option<ParsedLine>, String> {
    let what = "trade";
    let data = v
        .get("data")
        .and_then(Value::as_array)
        .ok_or("a trade message without a data array")?;
    let mut rows = Vec::with_capacity(data.len());
    for d in data {
        let exchange_ts = d
            .get("trade_time_ms")
            .and_then(Value::as_i64)
            .and_then(|ms| ms.checked_mul(1_000_000))
            .ok_or("a trade without \"trade_time_ms\"")?;
        rows.push((
            field(d, "price", what)?,
            field(d, "size", what)?,
            Trade {
                exchange_ts,
                local_ts: local.unwrap_or(exchange_ts),
                price: 0,
                size: 0,
                side: match side_of(d, what)? {
                    BookSide::Bid => Side::Buy,
                    _ => Side::Sell,
                },
                trade_id: TradeId::parse(&field(d, "trade_id", what)?)?,
            },
        ));
    }
    trade_line("bybit", symbol, rows).map(Some)
}
