//! Binance recordings: one message per line, `<local receive ns> <json>`
//! (as written by hftbacktest's collector), `<receive seconds>: <json>` (as
//! cryptofeed captures them, with `<url> <-> <ts>` and `<url> -> <ts>: <json>`
//! lines), or plain JSON lines. Messages may come wrapped in a
//! combined-stream envelope (`{"stream":..,"data":..}`).
//!
//! Imported now: `trade` messages into `binance/<symbol>/trades` and
//! `aggTrade` messages into `binance/<symbol>/aggtrades` (the aggregate id as
//! trade id). Other messages (depth, bookTicker, klines, snapshots) are
//! counted and left for the order-book records.

use crate::decimal;
use crate::import::Row;
use crate::trade::{Side, Trade};

/// `"1633998512.0633569"` (seconds, up to 9 decimals) as ns.
fn seconds_to_ns(s: &str) -> Option<i64> {
    decimal::parse(s, 9).ok()
}

/// Parse one line; `Ok(None)` for an empty line or a capture header.
pub(crate) fn parse_line(line: &str) -> std::result::Result<Option<Row>, String> {
    let mut line = line.trim();
    if line.is_empty() || line.contains(" <-> ") {
        return Ok(None);
    }
    // cryptofeed's REST answers: `<url> -> <ts>: <json>`.
    if let Some((_, rest)) = line.split_once(" -> ") {
        line = rest;
    }
    let (local, json) = match line.split_once(' ') {
        Some((ns, rest)) if !ns.is_empty() && ns.bytes().all(|b| b.is_ascii_digit()) => (
            Some(
                ns.parse::<i64>()
                    .map_err(|_| format!("receive time {ns:?} is not a number of ns"))?,
            ),
            rest,
        ),
        Some((secs, rest)) if secs.ends_with(':') && !line.starts_with('{') => (
            Some(
                seconds_to_ns(&secs[..secs.len() - 1])
                    .ok_or_else(|| format!("receive time {secs:?} is not seconds"))?,
            ),
            rest,
        ),
        _ => (None, line),
    };
    let v: serde_json::Value =
        serde_json::from_str(json).map_err(|e| format!("not a JSON message: {e}"))?;
    let msg = v.get("data").unwrap_or(&v);
    let (stream, id_field) = match msg.get("e").and_then(|e| e.as_str()) {
        Some("trade") => ("trades", "t"),
        Some("aggTrade") => ("aggtrades", "a"),
        _ => return Ok(Some(Row::Other)),
    };
    let s = |k: &str| {
        msg.get(k)
            .and_then(|x| x.as_str())
            .ok_or_else(|| format!("trade without string field {k:?}"))
    };
    let n = |k: &str| {
        msg.get(k)
            .and_then(|x| x.as_u64())
            .ok_or_else(|| format!("trade without number field {k:?}"))
    };
    let (p, q) = (s("p")?, s("q")?);
    // Each price and size is stored at the decimal places it is printed
    // with; the import checks that they are the same on every line.
    let (price_places, size_places) = (decimal::places(p), decimal::places(q));
    let exchange_ts = (n("T")? as i64)
        .checked_mul(1_000_000)
        .ok_or("trade time out of range")?;
    let side = match msg.get("m").and_then(|m| m.as_bool()) {
        // The buyer was the maker: the seller crossed the spread.
        Some(true) => Side::Sell,
        Some(false) => Side::Buy,
        None => return Err("trade without boolean field \"m\"".into()),
    };
    Ok(Some(Row::Trade {
        venue: None,
        stream,
        symbol: s("s")?.to_string(),
        trade: Trade {
            exchange_ts,
            local_ts: local.unwrap_or(exchange_ts),
            price: decimal::parse(p, price_places as u8)?,
            size: decimal::parse(q, size_places as u8)?,
            side,
            trade_id: n(id_field)?,
        },
        price_places,
        size_places,
    }))
}
