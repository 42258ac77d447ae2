//! Coinbase (Exchange, formerly Pro) websocket recordings (cryptofeed
//! captures, or JSON lines), into `coinbase/<product>/...`:
//!
//! - `level2`: a `snapshot` (every level of both sides) then `l2update`s
//!   whose `changes` are `[side, price, size]`: the size replaces the
//!   level's, 0 removes it; into `depth`. The channel has no sequence
//!   numbers: the book is right from its snapshot as long as the
//!   connection lost nothing.
//! - `match` and `last_match` (the last trade before the subscription):
//!   trades in `trades`. Coinbase's `side` is the maker's: the aggressor is
//!   the other side.
//!
//! `ticker`, `subscriptions`, REST answers and other kinds are counted by
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
    let kind = v
        .get("type")
        .and_then(Value::as_str)
        .ok_or("a Coinbase message without \"type\"")?;
    match kind {
        "snapshot" | "l2update" => book(&v, kind == "snapshot", local),
        "match" | "last_match" => trade(&v, local),
        other => Ok(Some(ParsedLine::Other(other.to_string()))),
    }
}

fn str_of<'a>(v: &'a Value, k: &str, what: &str) -> Result<&'a str, String> {
    v.get(k)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{what} without string field {k:?}"))
}

/// `"2021-04-17T16:43:37.075687Z"` as ns.
fn time(v: &Value, what: &str) -> Result<Option<i64>, String> {
    match v.get("time").and_then(Value::as_str) {
        None => Ok(None),
        Some(t) => eventstore_log::time::parse_time(t)
            .map(Some)
            .map_err(|e| format!("{what} time {t:?}: {e}")),
    }
}

/// Entry `i` of a JSON array, as a string.
fn pair(l: &Value, i: usize) -> Option<&str> {
    l.get(i).and_then(Value::as_str)
}

fn book(v: &Value, snapshot: bool, local: Option<i64>) -> Result<Option<ParsedLine>, String> {
    let what = if snapshot { "snapshot" } else { "l2update" };
    let product = str_of(v, "product_id", what)?;
    let mut rows: Vec<(BookSide, &str, &str)> = Vec::new();
    if snapshot {
        for (key, side) in [("bids", BookSide::Bid), ("asks", BookSide::Ask)] {
            let arr = v
                .get(key)
                .and_then(Value::as_array)
                .ok_or_else(|| format!("a snapshot without array {key:?}"))?;
            for l in arr {
                let (Some(p), Some(q)) = (pair(l, 0), pair(l, 1)) else {
                    return Err(format!("a level of {key:?} is not [\"price\", \"size\"]"));
                };
                rows.push((side, p, q));
            }
        }
    } else {
        let arr = v
            .get("changes")
            .and_then(Value::as_array)
            .ok_or("an l2update without array \"changes\"")?;
        for c in arr {
            let (Some(s), Some(p), Some(q)) = (pair(c, 0), pair(c, 1), pair(c, 2)) else {
                return Err("a change is not [\"side\", \"price\", \"size\"]".into());
            };
            let side = match s {
                "buy" => BookSide::Bid,
                "sell" => BookSide::Ask,
                s => return Err(format!("change side {s:?} is not buy or sell")),
            };
            rows.push((side, p, q));
        }
    }
    let local_ts = match (local, time(v, what)?) {
        (Some(l), _) => l,
        (None, Some(t)) => t,
        (None, None) => return Err(format!("a {what} without a receive or event time")),
    };
    LevelEvent {
        venue: "coinbase",
        symbol: product,
        stream: "depth",
        exchange_ts: time(v, what)?.unwrap_or(0),
        local_ts,
        snapshot,
        ids: (0, 0, 0),
        checksum: None,
    }
    .records(&rows)
    .map(Some)
}

fn trade(v: &Value, local: Option<i64>) -> Result<Option<ParsedLine>, String> {
    let what = "match";
    let exchange_ts = time(v, what)?.ok_or("a match without \"time\"")?;
    let trade_id = match v.get("trade_id") {
        Some(Value::Number(n)) => TradeId::parse(&n.to_string())?,
        Some(Value::String(s)) => TradeId::parse(s)?,
        _ => return Err("a match without \"trade_id\"".into()),
    };
    let t = Trade {
        exchange_ts,
        local_ts: local.unwrap_or(exchange_ts),
        price: 0,
        size: 0,
        // The maker's side: a sell maker was hit by a buyer.
        side: match str_of(v, "side", what)? {
            "sell" => Side::Buy,
            "buy" => Side::Sell,
            s => return Err(format!("match side {s:?} is not buy or sell")),
        },
        trade_id,
    };
    let row = (str_of(v, "price", what)?, str_of(v, "size", what)?, t);
    trade_line("coinbase", str_of(v, "product_id", what)?, vec![row]).map(Some)
}
