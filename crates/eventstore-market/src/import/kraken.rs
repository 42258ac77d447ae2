//! Kraken websocket v1 recordings (cryptofeed captures, or JSON lines),
//! into `kraken/<pair>/...` (`XBT/USD` becomes `xbt-usd`):
//!
//! - `book-N` (N = 10 to 1000): a snapshot (`as`, `bs`) then updates (`a`
//!   and/or `b`, in one object or two, `[price, volume, timestamp]`, a
//!   fourth entry `"r"` for a republished level; a volume of 0 removes the
//!   level), into the stream `book-N` as level updates. Kraken sends no
//!   sequence numbers; each update carries the CRC-32 of the best 10 asks
//!   and bids (`c`), kept on the message's last record and verified by
//!   every reader. The venue truncates its book to N levels a side without
//!   sending removals for the levels that fall out: the stream's
//!   `market.json` says N (`depth`), and readers truncate the same way.
//! - `trade`: trades (`[price, volume, time, side, type, misc]`; Kraken v1
//!   gives no trade id: 0).
//!
//! Events (`heartbeat`, `systemStatus`, `subscriptionStatus`), REST
//! answers and other channels are counted by name.

use crate::import::capture;
use crate::import::rows::{trade_line, LevelEvent, ParsedLine};
use crate::records::decimal;
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
    if let Some(e) = v.get("event").and_then(Value::as_str) {
        return Ok(Some(ParsedLine::Other(e.to_string())));
    }
    let Some(msg) = v.as_array() else {
        return Err("a Kraken message is an event object or an array".into());
    };
    let n = msg.len();
    let (Some(channel), Some(pair)) = (
        msg.get(n.wrapping_sub(2)).and_then(Value::as_str),
        msg.get(n.wrapping_sub(1)).and_then(Value::as_str),
    ) else {
        return Err("a Kraken array message ends with its channel name and pair".into());
    };
    let symbol = pair.replace('/', "-");
    let body = msg.get(1..n - 2).unwrap_or_default();
    if channel.starts_with("book-") {
        book(body, channel, &symbol, local)
    } else if channel == "trade" {
        trades(body, &symbol, local)
    } else {
        Ok(Some(ParsedLine::Other(channel.to_string())))
    }
}

/// `"1534614057.321597"` (seconds) as ns.
fn seconds(s: &str) -> Result<i64, String> {
    decimal::parse(s, 9).map_err(|e| format!("time {s:?}: {e}"))
}

fn book(
    body: &[Value],
    channel: &str,
    symbol: &str,
    local: Option<i64>,
) -> Result<Option<ParsedLine>, String> {
    // (side, price, volume, time) as printed.
    let mut rows: Vec<(BookSide, &str, &str, &str)> = Vec::new();
    let mut snapshot = false;
    let mut checksum = None;
    for part in body {
        let Some(obj) = part.as_object() else {
            return Err("a book message part is not an object".into());
        };
        for (key, list) in obj {
            let side = match key.as_str() {
                "as" | "bs" => {
                    snapshot = true;
                    if key == "as" {
                        BookSide::Ask
                    } else {
                        BookSide::Bid
                    }
                }
                "a" => BookSide::Ask,
                "b" => BookSide::Bid,
                "c" => {
                    let c = list.as_str().ok_or("checksum \"c\" is not a string")?;
                    let c: u32 = c
                        .parse()
                        .map_err(|_| format!("checksum {c:?} is not a 32-bit number"))?;
                    checksum = Some(c as i32);
                    continue;
                }
                _ => continue,
            };
            let entries = list
                .as_array()
                .ok_or_else(|| format!("book side {key:?} is not a list"))?;
            for e in entries {
                let s = |i: usize| e.get(i).and_then(Value::as_str);
                let (Some(p), Some(q), Some(t)) = (s(0), s(1), s(2)) else {
                    return Err(format!(
                        "a level of {key:?} is not [price, volume, timestamp]"
                    ));
                };
                rows.push((side, p, q, t));
            }
        }
    }
    let mut exchange_ts = 0;
    for r in &rows {
        exchange_ts = exchange_ts.max(seconds(r.3)?);
    }
    let local_ts = local
        .or((exchange_ts != 0).then_some(exchange_ts))
        .ok_or("a book message without a receive or level time")?;
    let levels: Vec<(BookSide, &str, &str)> = rows.iter().map(|r| (r.0, r.1, r.2)).collect();
    LevelEvent {
        venue: "kraken",
        symbol,
        stream: channel,
        exchange_ts,
        local_ts,
        snapshot,
        ids: (0, 0, 0),
        checksum,
    }
    .records(&levels)
    .map(Some)
}

fn trades(body: &[Value], symbol: &str, local: Option<i64>) -> Result<Option<ParsedLine>, String> {
    let Some(list) = body.first().and_then(Value::as_array) else {
        return Err("a trade message without a list of trades".into());
    };
    let mut rows = Vec::with_capacity(list.len());
    for t in list {
        let s = |i: usize| t.get(i).and_then(Value::as_str);
        let (Some(p), Some(q), Some(ts), Some(side)) = (s(0), s(1), s(2), s(3)) else {
            return Err("a trade is not [price, volume, time, side, ...]".into());
        };
        let exchange_ts = seconds(ts)?;
        rows.push((
            p,
            q,
            Trade {
                exchange_ts,
                local_ts: local.unwrap_or(exchange_ts),
                price: 0,
                size: 0,
                side: match side {
                    "b" => Side::Buy,
                    "s" => Side::Sell,
                    s => return Err(format!("trade side {s:?} is not b or s")),
                },
                trade_id: TradeId::Num(0),
            },
        ));
    }
    trade_line("kraken", symbol, rows).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_odd_messages_are_errors_or_counted_never_a_panic() {
        for line in [
            r#"["book-10","XBT/USD"]"#,
            r#"[1]"#,
            r#"[]"#,
            r#"[1,{"a":[["1.0"]]},"book-10","XBT/USD"]"#,
            r#"[1,{"c":"99999999999"},"book-10","XBT/USD"]"#,
            r#"[1,[["1.0","2.0","3.0","x"]],"trade","XBT/USD"]"#,
            r#"{"event":"heartbeat"}"#,
        ] {
            let _ = parse_line(line);
        }
        assert!(parse_line(r#"[1,{"a":[["1.0"]]},"book-10","XBT/USD"]"#).is_err());
        // Nothing but the channel and pair, and no time: an error.
        assert!(parse_line(r#"["book-10","XBT/USD"]"#).is_err());
        assert!(matches!(
            parse_line(r#"1.5: ["book-10","XBT/USD"]"#),
            Ok(Some(ParsedLine::Records { .. }))
        ));
    }
}
