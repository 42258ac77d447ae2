//! Binance recordings: one message per line, `<local receive ns> <json>`
//! (as written by hftbacktest's collector), or plain JSON lines. Messages
//! may come wrapped in a combined-stream envelope (`{"stream":..,"data":..}`).
//!
//! Imported now: `trade` messages, into `binance/<symbol>/trades`. Other
//! messages (depth, bookTicker, aggTrade, snapshots) are counted and left
//! for the order-book records.

use crate::decimal;
use crate::import::Row;
use crate::trade::{Side, Trade};

/// Parse `<ns> <json>` or `<json>`; `Ok(None)` for an empty line.
pub(crate) fn parse_line(line: &str) -> std::result::Result<Option<Row>, String> {
    let line = line.trim();
    if line.is_empty() {
        return Ok(None);
    }
    let (local, json) = match line.split_once(' ') {
        Some((ns, rest)) if ns.bytes().all(|b| b.is_ascii_digit()) => (
            Some(
                ns.parse::<i64>()
                    .map_err(|_| format!("receive time {ns:?} is not a number of ns"))?,
            ),
            rest,
        ),
        _ => (None, line),
    };
    let v: serde_json::Value =
        serde_json::from_str(json).map_err(|e| format!("not a JSON message: {e}"))?;
    let msg = v.get("data").unwrap_or(&v);
    if msg.get("e").and_then(|e| e.as_str()) != Some("trade") {
        return Ok(Some(Row::Other));
    }
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
        symbol: s("s")?.to_string(),
        trade: Trade {
            exchange_ts,
            local_ts: local.unwrap_or(exchange_ts),
            price: decimal::parse(p, price_places as u8)?,
            size: decimal::parse(q, size_places as u8)?,
            side,
            trade_id: n("t")?,
        },
        price_places,
        size_places,
    }))
}
