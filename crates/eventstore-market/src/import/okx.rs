//! OKX v5 public websocket recordings (cryptofeed captures `<receive s>:
//! <json>`, or JSON lines), into `okx/<instId>/...`:
//!
//! - `books`, `books-l2-tbt`, `books50-l2-tbt`: `snapshot` then `update`
//!   messages into `depth` (level updates; a size of 0 removes the level).
//!   Each message's last record carries the venue's `checksum` (the signed
//!   CRC-32 of the best 25 levels, see [`crate::book::checksum`]), which
//!   every reader verifies; `seqId`/`prevSeqId`, where the venue sends
//!   them, chain the updates (`prev_update_id` = `prevSeqId`).
//! - `books5`: each message is the whole top 5, stored as a snapshot in
//!   `books5`.
//! - `bbo-tbt`: the best bid and ask, as quotes in `bookticker`.
//! - `trades`: trades in `trades`, the taker's side as the aggressor, the
//!   venue's `tradeId` as it printed it.
//!
//! Other channels (`tickers`, ...), subscription events and REST answers
//! are counted by name. Prices and sizes are kept as OKX prints them
//! (trimmed: `"0.342"`, `"5"`), which the checksum needs.

use crate::import::capture;
use crate::import::rows::{trade_line, LevelEvent, MarketRecord, ParsedLine};
use crate::records::decimal;
use crate::records::level::{BookSide, Quote};
use crate::records::meta::StreamKind;
use crate::records::trade::{Side, Trade, TradeId};
use serde_json::Value;

/// Parse one line; `Ok(None)` for an empty line or a capture header.
pub(crate) fn parse_line(line: &str) -> Result<Option<ParsedLine>, String> {
    let Some(capture::CaptureLine { local, url, json }) = capture::split(line)? else {
        return Ok(None);
    };
    if url.is_some() {
        serde_json::from_str::<Value>(json).map_err(|e| format!("not a JSON message: {e}"))?;
        return Ok(Some(ParsedLine::Other("rest answer".into())));
    }
    parse_message(local, json)
}

/// Parse one websocket message received at `local` (ns).
pub fn parse_message(local: Option<i64>, json: &str) -> Result<Option<ParsedLine>, String> {
    let v: Value = serde_json::from_str(json).map_err(|e| format!("not a JSON message: {e}"))?;
    if let Some(e) = v.get("event").and_then(Value::as_str) {
        return Ok(Some(ParsedLine::Other(format!("event {e}"))));
    }
    let arg = v.get("arg").ok_or("an OKX message without \"arg\"")?;
    let channel = arg
        .get("channel")
        .and_then(Value::as_str)
        .ok_or("an OKX message without arg.channel")?;
    let inst = arg
        .get("instId")
        .and_then(Value::as_str)
        .ok_or("an OKX message without arg.instId")?;
    let data = v
        .get("data")
        .and_then(Value::as_array)
        .ok_or_else(|| format!("a {channel} message without a data array"))?;
    match channel {
        "books" | "books-l2-tbt" | "books50-l2-tbt" => {
            let action = v.get("action").and_then(Value::as_str).unwrap_or("update");
            let snapshot = match action {
                "snapshot" => true,
                "update" => false,
                a => return Err(format!("book action {a:?} is not snapshot or update")),
            };
            book(inst, data, local, snapshot, "depth", true)
        }
        "books5" => book(inst, data, local, true, "books5", false),
        "bbo-tbt" => bbo(inst, data, local),
        "trades" => trades(inst, data, local),
        other => Ok(Some(ParsedLine::Other(other.to_string()))),
    }
}

fn str_of<'a>(v: &'a Value, k: &str, what: &str) -> Result<&'a str, String> {
    v.get(k)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{what} without string field {k:?}"))
}

/// `"1626995750044"` (ms) as ns.
fn ms(v: &Value, what: &str) -> Result<i64, String> {
    let s = str_of(v, "ts", what)?;
    s.parse::<i64>()
        .ok()
        .and_then(|ms| ms.checked_mul(1_000_000))
        .ok_or_else(|| format!("{what} time {s:?} is not ms"))
}

/// The `[price, size, ...]` entries of `d[key]`.
fn levels<'a>(d: &'a Value, key: &str) -> Result<Vec<(&'a str, &'a str)>, String> {
    let Some(arr) = d.get(key).and_then(Value::as_array) else {
        return Err(format!("a book without array {key:?}"));
    };
    arr.iter()
        .map(|l| {
            match (
                l.get(0).and_then(Value::as_str),
                l.get(1).and_then(Value::as_str),
            ) {
                (Some(p), Some(q)) => Ok((p, q)),
                _ => Err(format!(
                    "a level of {key:?} is not [\"price\", \"size\", ...]"
                )),
            }
        })
        .collect()
}

/// The most decimal places among `values`.
fn most_places<'a>(values: impl Iterator<Item = &'a str>) -> usize {
    values.map(decimal::places).max().unwrap_or(0)
}

fn book(
    inst: &str,
    data: &[Value],
    local: Option<i64>,
    snapshot: bool,
    stream: &str,
    checksum: bool,
) -> Result<Option<ParsedLine>, String> {
    let [d] = data else {
        return Err(format!(
            "a book message with {} entries, OKX sends 1",
            data.len()
        ));
    };
    let exchange_ts = ms(d, "book")?;
    let local_ts = local.unwrap_or(exchange_ts);
    let (bids, asks) = (levels(d, "bids")?, levels(d, "asks")?);
    let all: Vec<(BookSide, &str, &str)> = bids
        .iter()
        .map(|&(p, q)| (BookSide::Bid, p, q))
        .chain(asks.iter().map(|&(p, q)| (BookSide::Ask, p, q)))
        .collect();
    let id = |k: &str| {
        d.get(k)
            .and_then(Value::as_i64)
            .filter(|v| *v > 0)
            .unwrap_or(0) as u64
    };
    let (seq, prev) = (id("seqId"), id("prevSeqId"));
    let sum = match d.get("checksum").and_then(Value::as_i64) {
        Some(c) if checksum => {
            Some(i32::try_from(c).map_err(|_| format!("checksum {c} is not a 32-bit integer"))?)
        }
        _ => None,
    };
    LevelEvent {
        venue: "okx",
        symbol: inst,
        stream,
        exchange_ts,
        local_ts,
        snapshot,
        ids: (seq, seq, if snapshot { 0 } else { prev }),
        checksum: sum,
    }
    .records(&all)
    .map(Some)
}

fn bbo(inst: &str, data: &[Value], local: Option<i64>) -> Result<Option<ParsedLine>, String> {
    let [d] = data else {
        return Err(format!(
            "a bbo-tbt message with {} entries, OKX sends 1",
            data.len()
        ));
    };
    let exchange_ts = ms(d, "bbo-tbt")?;
    let (bids, asks) = (levels(d, "bids")?, levels(d, "asks")?);
    let (Some(&(bp, bq)), Some(&(ap, aq))) = (bids.first(), asks.first()) else {
        return Ok(Some(ParsedLine::Other("bbo-tbt without both sides".into())));
    };
    let pp = most_places([bp, ap].into_iter());
    let sp = most_places([bq, aq].into_iter());
    Ok(Some(ParsedLine::Records {
        venue: Some("okx".into()),
        symbol: Some(inst.to_string()),
        stream: "bookticker".into(),
        kind: StreamKind::Quotes,
        price_places: pp,
        size_places: sp,
        recs: vec![MarketRecord::Quote(Quote {
            exchange_ts,
            local_ts: local.unwrap_or(exchange_ts),
            bid_price: decimal::parse(bp, pp as u8)?,
            bid_size: decimal::parse_size(bq, sp as u8)?,
            ask_price: decimal::parse(ap, pp as u8)?,
            ask_size: decimal::parse_size(aq, sp as u8)?,
            update_id: d.get("seqId").and_then(Value::as_u64).unwrap_or(0),
        })],
    }))
}

fn trades(inst: &str, data: &[Value], local: Option<i64>) -> Result<Option<ParsedLine>, String> {
    let what = "trade";
    let mut rows = Vec::with_capacity(data.len());
    for d in data {
        let exchange_ts = ms(d, what)?;
        rows.push((
            str_of(d, "px", what)?,
            str_of(d, "sz", what)?,
            Trade {
                exchange_ts,
                local_ts: local.unwrap_or(exchange_ts),
                price: 0,
                size: 0,
                side: match str_of(d, "side", what)? {
                    "buy" => Side::Buy,
                    "sell" => Side::Sell,
                    s => return Err(format!("trade side {s:?} is not buy or sell")),
                },
                trade_id: TradeId::parse(str_of(d, "tradeId", what)?)?,
            },
        ));
    }
    trade_line("okx", inst, rows).map(Some)
}
