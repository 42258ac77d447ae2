//! Binance recordings: one message per line, `<local receive ns> <json>`
//! (as written by hftbacktest's collector), `<receive seconds>: <json>` (as
//! cryptofeed captures them, with `<url> <-> <ts>` and `<url> -> <ts>: <json>`
//! lines), or plain JSON lines. Messages may come wrapped in a
//! combined-stream envelope (`{"stream":..,"data":..}`).
//!
//! Imported: `trade` into `binance/<symbol>/trades`, `aggTrade` into
//! `binance/<symbol>/aggtrades` (the aggregate id as trade id), `depthUpdate`
//! and REST depth snapshots into `binance/<symbol>/depth` (level updates;
//! a snapshot without a symbol belongs to the file's only depth symbol),
//! `bookTicker` (spot's unnamed, futures' `"e":"bookTicker"`) into
//! `binance/<symbol>/bookticker` (quotes). Other messages
//! (klines, ...) are counted.

use crate::import::rows::{MarketRecord, ParsedLine};
use crate::records::decimal;
use crate::records::level::{BookLevel, BookSide, Quote, FLAG_LAST, FLAG_SNAPSHOT};
use crate::records::meta::StreamKind;
use crate::records::trade::{Side, Trade};

/// Parse one line; `Ok(None)` for an empty line or a capture header.
pub(crate) fn parse_line(line: &str) -> std::result::Result<Option<ParsedLine>, String> {
    let Some(crate::import::capture::CaptureLine { local, url, json }) =
        crate::import::capture::split(line)?
    else {
        return Ok(None);
    };
    // cryptofeed's REST answers: the url names the symbol.
    let url_symbol = url.and_then(|u| {
        u.split(['?', '&'])
            .find_map(|kv| kv.strip_prefix("symbol="))
            .map(String::from)
    });
    parse_message(local, json, url_symbol)
}

/// Parse one message received at `local` (ns): a websocket message, or a
/// REST depth snapshot (which does not name its symbol: `symbol` does).
pub fn parse_message(
    local: Option<i64>,
    json: &str,
    url_symbol: Option<String>,
) -> std::result::Result<Option<ParsedLine>, String> {
    if let Some(line) = fast::parse(local, json) {
        return line;
    }
    parse_value(local, json, url_symbol)
}

/// Parse any message through a `serde_json::Value`.
fn parse_value(
    local: Option<i64>,
    json: &str,
    url_symbol: Option<String>,
) -> std::result::Result<Option<ParsedLine>, String> {
    let v: serde_json::Value =
        serde_json::from_str(json).map_err(|e| format!("not a JSON message: {e}"))?;
    let msg = v.get("data").unwrap_or(&v);
    match msg.get("e").and_then(|e| e.as_str()) {
        Some("trade") => trade(msg, local, "trades", "t"),
        Some("aggTrade") => trade(msg, local, "aggtrades", "a"),
        Some("depthUpdate") => depth_update(msg, local),
        // USD-M and COIN-M futures name their book tickers; spot does not.
        Some("bookTicker") => book_ticker(msg, local),
        Some(e) => Ok(Some(ParsedLine::Other(e.to_string()))),
        None if msg.get("lastUpdateId").is_some() && msg.get("bids").is_some() => {
            snapshot(msg, local, url_symbol)
        }
        None if msg.get("u").is_some() && msg.get("B").is_some() && msg.get("A").is_some() => {
            book_ticker(msg, local)
        }
        None => Ok(Some(ParsedLine::Other("unknown".into()))),
    }
}

fn str_field<'a>(msg: &'a serde_json::Value, k: &str, what: &str) -> Result<&'a str, String> {
    msg.get(k)
        .and_then(|x| x.as_str())
        .ok_or_else(|| format!("{what} without string field {k:?}"))
}

fn num_field(msg: &serde_json::Value, k: &str, what: &str) -> Result<u64, String> {
    msg.get(k)
        .and_then(|x| x.as_u64())
        .ok_or_else(|| format!("{what} without number field {k:?}"))
}

fn ms_to_ns(ms: u64) -> Result<i64, String> {
    (ms as i64)
        .checked_mul(1_000_000)
        .ok_or_else(|| "time out of range".to_string())
}

/// Prices (or sizes) of one message must share their decimal places.
fn same_places<'a>(values: impl IntoIterator<Item = &'a str>, what: &str) -> Result<usize, String> {
    let mut it = values.into_iter().map(decimal::places);
    let p = it.next().unwrap_or(0);
    if it.any(|v| v != p) {
        return Err(format!(
            "{what} printed with different decimal places in one message"
        ));
    }
    Ok(p)
}

fn trade(
    msg: &serde_json::Value,
    local: Option<i64>,
    stream: &'static str,
    id_field: &str,
) -> Result<Option<ParsedLine>, String> {
    let s = |k: &str| str_field(msg, k, "trade");
    let Some(maker) = msg.get("m").and_then(|m| m.as_bool()) else {
        return Err("trade without boolean field \"m\"".into());
    };
    trade_line(
        TradeFields {
            symbol: s("s")?,
            price: s("p")?,
            size: s("q")?,
            time_ms: num_field(msg, "T", "trade")?,
            buyer_maker: maker,
            id: num_field(msg, id_field, "trade")?,
        },
        local,
        stream,
    )
}

/// What a trade message says.
struct TradeFields<'a> {
    symbol: &'a str,
    price: &'a str,
    size: &'a str,
    time_ms: u64,
    buyer_maker: bool,
    id: u64,
}

fn trade_line(
    t: TradeFields<'_>,
    local: Option<i64>,
    stream: &'static str,
) -> Result<Option<ParsedLine>, String> {
    let (p, q) = (t.price, t.size);
    // Each price and size is stored at the decimal places it is printed
    // with; the import checks that they are the same on every line.
    let (price_places, size_places) = (decimal::places(p), decimal::places(q));
    let exchange_ts = ms_to_ns(t.time_ms)?;
    // The buyer was the maker: the seller crossed the spread.
    let side = if t.buyer_maker { Side::Sell } else { Side::Buy };
    Ok(Some(ParsedLine::Records {
        venue: None,
        symbol: Some(t.symbol.to_string()),
        stream: stream.to_string(),
        kind: StreamKind::Trades,
        price_places,
        size_places,
        recs: vec![MarketRecord::Trade(Trade {
            exchange_ts,
            local_ts: local.unwrap_or(exchange_ts),
            price: decimal::parse(p, price_places as u8)?,
            size: decimal::parse_size(q, size_places as u8)?,
            side,
            trade_id: t.id.into(),
        })],
    }))
}

/// The `[price, size]` pairs of `msg[key]`.
fn levels<'a>(msg: &'a serde_json::Value, key: &str) -> Result<Vec<(&'a str, &'a str)>, String> {
    let Some(arr) = msg.get(key).and_then(|a| a.as_array()) else {
        return Err(format!("depth without array {key:?}"));
    };
    arr.iter()
        .map(|l| {
            match (
                l.get(0).and_then(|x| x.as_str()),
                l.get(1).and_then(|x| x.as_str()),
            ) {
                (Some(p), Some(q)) => Ok((p, q)),
                _ => Err(format!("a level of {key:?} is not [\"price\", \"size\"]")),
            }
        })
        .collect()
}

/// A level as printed: `[price, size]`.
type Level<'a> = (&'a str, &'a str);

/// Level records for the bids then asks of `msg`, the last one flagged.
fn level_rows(
    (b, a): (&[Level<'_>], &[Level<'_>]),
    symbol: Option<String>,
    exchange_ts: i64,
    local_ts: i64,
    flags: u8,
    ids: (u64, u64, u64),
) -> Result<Option<ParsedLine>, String> {
    let all = || {
        b.iter()
            .map(|(p, q)| (BookSide::Bid, *p, *q))
            .chain(a.iter().map(|(p, q)| (BookSide::Ask, *p, *q)))
    };
    let n = b.len() + a.len();
    let pp = same_places(all().map(|l| l.1), "prices")?;
    let sp = same_places(all().map(|l| l.2), "sizes")?;
    let level = |side, price, size, flags| BookLevel {
        exchange_ts,
        local_ts,
        side,
        flags,
        price,
        size,
        first_update_id: ids.0,
        last_update_id: ids.1,
        prev_update_id: ids.2,
        checksum: 0,
    };
    let mut recs = Vec::with_capacity(n.max(1));
    for (i, (side, p, q)) in all().enumerate() {
        let last = if i + 1 == n { FLAG_LAST } else { 0 };
        recs.push(MarketRecord::Level(level(
            side,
            decimal::parse(p, pp as u8)?,
            decimal::parse_size(q, sp as u8)?,
            flags | last,
        )));
    }
    if recs.is_empty() {
        // An event that changed no level still carries its update ids.
        recs.push(MarketRecord::Level(level(
            BookSide::None,
            0,
            0,
            flags | FLAG_LAST,
        )));
    }
    Ok(Some(ParsedLine::Records {
        venue: None,
        symbol,
        stream: "depth".to_string(),
        kind: StreamKind::BookL2,
        price_places: pp,
        size_places: sp,
        recs,
    }))
}

fn depth_update(msg: &serde_json::Value, local: Option<i64>) -> Result<Option<ParsedLine>, String> {
    let what = "depth update";
    // Futures carry the transaction time `T`; spot only the event time `E`.
    let ms = match msg.get("T").and_then(|t| t.as_u64()) {
        Some(t) => t,
        None => num_field(msg, "E", what)?,
    };
    let exchange_ts = ms_to_ns(ms)?;
    let ids = (
        num_field(msg, "U", what)?,
        num_field(msg, "u", what)?,
        msg.get("pu").and_then(|x| x.as_u64()).unwrap_or(0),
    );
    level_rows(
        (&levels(msg, "b")?, &levels(msg, "a")?),
        Some(str_field(msg, "s", what)?.to_string()),
        exchange_ts,
        local.unwrap_or(exchange_ts),
        0,
        ids,
    )
}

/// The messages a live feed sends most (trades and depth diffs), parsed
/// straight into their fields, borrowing the message's text. Anything
/// else, or anything these do not parse, goes the general way (which
/// also names what is wrong).
mod fast {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct Combined<T> {
        data: T,
    }

    #[derive(Deserialize)]
    struct TradeMsg<'a> {
        s: &'a str,
        p: &'a str,
        q: &'a str,
        #[serde(rename = "T")]
        time: u64,
        m: bool,
        t: Option<u64>,
        a: Option<u64>,
    }

    #[derive(Deserialize)]
    struct DepthMsg<'a> {
        s: &'a str,
        #[serde(rename = "E")]
        event_time: u64,
        #[serde(rename = "T")]
        time: Option<u64>,
        #[serde(rename = "U")]
        first: u64,
        u: u64,
        pu: Option<u64>,
        #[serde(borrow)]
        b: Vec<(&'a str, &'a str)>,
        #[serde(borrow)]
        a: Vec<(&'a str, &'a str)>,
    }

    fn typed<'a, T: Deserialize<'a>>(json: &'a str) -> Option<T> {
        // A combined stream's envelope (its keys in any order).
        if json.contains("\"data\":{") {
            serde_json::from_str::<Combined<T>>(json)
                .ok()
                .map(|c| c.data)
        } else {
            serde_json::from_str::<T>(json).ok()
        }
    }

    pub(super) fn parse(
        local: Option<i64>,
        json: &str,
    ) -> Option<Result<Option<ParsedLine>, String>> {
        if json.contains("\"e\":\"depthUpdate\"") {
            let d: DepthMsg = typed(json)?;
            let exchange_ts = match ms_to_ns(d.time.unwrap_or(d.event_time)) {
                Ok(t) => t,
                Err(e) => return Some(Err(e)),
            };
            return Some(level_rows(
                (&d.b, &d.a),
                Some(d.s.to_string()),
                exchange_ts,
                local.unwrap_or(exchange_ts),
                0,
                (d.first, d.u, d.pu.unwrap_or(0)),
            ));
        }
        let (stream, agg) = if json.contains("\"e\":\"trade\"") {
            ("trades", false)
        } else if json.contains("\"e\":\"aggTrade\"") {
            ("aggtrades", true)
        } else {
            return None;
        };
        let t: TradeMsg = typed(json)?;
        let id = if agg { t.a? } else { t.t? };
        Some(trade_line(
            TradeFields {
                symbol: t.s,
                price: t.p,
                size: t.q,
                time_ms: t.time,
                buyer_maker: t.m,
                id,
            },
            local,
            stream,
        ))
    }
}

fn snapshot(
    msg: &serde_json::Value,
    local: Option<i64>,
    symbol: Option<String>,
) -> Result<Option<ParsedLine>, String> {
    let id = num_field(msg, "lastUpdateId", "depth snapshot")?;
    let Some(local) = local else {
        return Err("a depth snapshot without a receive time".into());
    };
    level_rows(
        (&levels(msg, "bids")?, &levels(msg, "asks")?),
        symbol,
        local,
        local,
        FLAG_SNAPSHOT,
        (id, id, 0),
    )
}

fn book_ticker(msg: &serde_json::Value, local: Option<i64>) -> Result<Option<ParsedLine>, String> {
    let what = "book ticker";
    let s = |k: &str| str_field(msg, k, what);
    let (bp, bq, ap, aq) = (s("b")?, s("B")?, s("a")?, s("A")?);
    let pp = same_places([bp, ap], "prices")?;
    let sp = same_places([bq, aq], "sizes")?;
    // Futures carry the matching engine's time (`T`) besides the event's
    // (`E`); spot carries neither.
    let exchange_ts = match msg
        .get("T")
        .or_else(|| msg.get("E"))
        .and_then(|t| t.as_u64())
    {
        Some(ms) => ms_to_ns(ms)?,
        None => 0,
    };
    let Some(local) = local.or((exchange_ts != 0).then_some(exchange_ts)) else {
        return Err("a book ticker without a receive or event time".into());
    };
    Ok(Some(ParsedLine::Records {
        venue: None,
        symbol: Some(s("s")?.to_string()),
        stream: "bookticker".to_string(),
        kind: StreamKind::Quotes,
        price_places: pp,
        size_places: sp,
        recs: vec![MarketRecord::Quote(Quote {
            exchange_ts,
            local_ts: local,
            bid_price: decimal::parse(bp, pp as u8)?,
            bid_size: decimal::parse_size(bq, sp as u8)?,
            ask_price: decimal::parse(ap, pp as u8)?,
            ask_size: decimal::parse_size(aq, sp as u8)?,
            update_id: num_field(msg, "u", what)?,
        })],
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fast path gives what the general one gives, for every message
    /// it takes.
    fn same(json: &str) -> bool {
        let Some(f) = fast::parse(Some(7), json) else {
            return false;
        };
        assert_eq!(f, parse_value(Some(7), json, None), "{json}");
        true
    }

    #[test]
    fn the_fast_path_is_the_general_one() {
        for m in [
            r#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1,"s":"BTCUSDT","t":5,"p":"61000.10","q":"0.00100","T":2,"m":true,"M":true}}"#,
            r#"{"e":"trade","E":1,"s":"BTCUSDT","t":5,"p":"1","q":"2","T":2,"m":false,"b":88,"a":50}"#,
            r#"{"e":"aggTrade","E":1,"s":"BTCUSDT","a":9,"p":"1.5","q":"2","f":1,"l":2,"T":2,"m":false}"#,
            r#"{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":3,"s":"BTCUSDT","U":10,"u":12,"b":[["1.00","2.0"]],"a":[["1.10","0.0"],["1.20","3.0"]]}}"#,
            r#"{"e":"depthUpdate","E":3,"T":4,"s":"BTCUSDT","U":10,"u":12,"pu":9,"b":[],"a":[]}"#,
            r#"{"data":{"e":"depthUpdate","E":3,"T":4,"s":"BTCUSDT","U":10,"u":12,"pu":9,"b":[],"a":[]},"stream":"btcusdt@depth"}"#,
            // Refused the same way.
            r#"{"e":"depthUpdate","E":3,"s":"BTCUSDT","U":10,"u":12,"b":[["1.00","2.0"]],"a":[["1.1","0.0"]]}"#,
            r#"{"e":"trade","E":1,"s":"BTCUSDT","t":5,"p":"1.x","q":"2","T":2,"m":false}"#,
            r#"{"e":"trade","E":1,"s":"BTCUSDT","t":5,"p":"1","q":"2","T":99999999999999999,"m":false}"#,
        ] {
            assert!(same(m), "{m}");
        }
        // What it does not take goes the general way.
        for m in [
            r#"{"e":"trade","E":1,"s":"BTCUSDT","t":5,"p":"1","q":"2","T":2}"#,
            r#"{"e":"depthUpdate","E":3,"s":"BTCUSDT","U":10,"u":12,"b":[[1,2]],"a":[]}"#,
            r#"{"e":"depthUpdate""#,
            r#"{"u":1,"s":"BTCUSDT","b":"1","B":"2","a":"3","A":"4"}"#,
        ] {
            assert!(!same(m), "{m}");
        }
        // Every message of the real recording.
        let Some(data) = eventstore_testkit::market_data() else {
            return;
        };
        let path = data.join("binance/spot_btcusdt_20240808.hftbacktest.gz");
        let f = std::fs::File::open(&path).unwrap();
        let r = std::io::BufReader::new(flate2::read::MultiGzDecoder::new(f));
        let mut fast = 0;
        for line in std::io::BufRead::lines(r) {
            let line = line.unwrap();
            let json = line.split_once(' ').map_or(line.as_str(), |(_, j)| j);
            if same(json) {
                fast += 1;
            } else {
                assert!(!json.contains("\"e\":\"trade\"") && !json.contains("depthUpdate"));
            }
        }
        assert!(fast > 10_000, "{fast}");
    }
}
