//! Tardis.dev CSV datasets: `trades` (`exchange,symbol,timestamp,
//! local_timestamp,id,side,price,amount`), `book_snapshot_N` and
//! `incremental_book_L2`; times in microseconds, decimals printed without
//! trailing zeros.

use crate::import::rows::{MarketRecord, ParsedLine};
use crate::records::decimal;
use crate::records::level::{BookLevel, BookSide, FLAG_LAST, FLAG_SNAPSHOT};
use crate::records::meta::StreamKind;
use crate::records::trade::{Side, Trade, TradeId};

/// Column `i` of `f`, microseconds since the epoch, as ns.
fn micros(f: &[&str], i: usize, what: &str) -> Result<i64, String> {
    f[i].parse::<i64>()
        .ok()
        .and_then(|v| v.checked_mul(1_000))
        .ok_or_else(|| format!("{what} {:?} is not a time in microseconds", f[i]))
}

/// Line 1 must be `want`.
fn header(line: &str, want: &str, what: &str) -> Result<Option<ParsedLine>, String> {
    if line.trim() != want {
        return Err(format!(
            "not a Tardis {what} file: the header should be {want:?}"
        ));
    }
    Ok(None)
}

const TRADES_HEADER: &str = "exchange,symbol,timestamp,local_timestamp,id,side,price,amount";

/// Parse one line of a `trades` file; the first line must be its header.
pub(crate) fn parse_trade_line(no: u64, line: &str) -> Result<Option<ParsedLine>, String> {
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
    let us = |i: usize, what: &str| micros(&f, i, what);
    let side = match f[5] {
        "buy" => Side::Buy,
        "sell" => Side::Sell,
        "unknown" | "" => Side::Unknown,
        s => return Err(format!("side {s:?} is not buy, sell or unknown")),
    };
    // Kept as the venue gave it: a number, or a text such as BitMEX's UUIDs.
    let trade_id = TradeId::parse(f[4])?;
    let (price_places, size_places) = (decimal::places(f[6]), decimal::places(f[7]));
    Ok(Some(ParsedLine::Records {
        venue: Some(f[0].to_string()),
        stream: "trades".to_string(),
        kind: StreamKind::Trades,
        symbol: Some(f[1].to_string()),
        recs: vec![MarketRecord::Trade(Trade {
            exchange_ts: us(2, "timestamp")?,
            local_ts: us(3, "local_timestamp")?,
            price: decimal::parse(f[6], price_places.min(decimal::MAX_SCALE as usize) as u8)?,
            size: decimal::parse_size(f[7], size_places.min(decimal::MAX_SCALE as usize) as u8)?,
            side,
            trade_id,
        })],
        price_places,
        size_places,
    }))
}

/// Parse one line of a `book_snapshot_N` file (`exchange,symbol,timestamp,
/// local_timestamp`, then `asks[i].price,asks[i].amount,bids[i].price,
/// bids[i].amount` for i in 0..N): the top N levels of each side as one
/// snapshot (bids then asks, best first; empty cells are levels the book
/// did not have), into `<exchange>/<symbol>/book_snapshot_<N>`.
pub(crate) fn parse_book_snapshot_line(no: u64, line: &str) -> Result<Option<ParsedLine>, String> {
    let f: Vec<&str> = line.trim().split(',').collect();
    if f.len() < 8 || !(f.len() - 4).is_multiple_of(4) {
        return Err(format!(
            "{} columns: a book_snapshot_N row has 4 + 4 x N",
            f.len()
        ));
    }
    let n = (f.len() - 4) / 4;
    if no == 1 {
        let mut want = String::from("exchange,symbol,timestamp,local_timestamp");
        for i in 0..n {
            want.push_str(&format!(
                ",asks[{i}].price,asks[{i}].amount,bids[{i}].price,bids[{i}].amount"
            ));
        }
        return header(line, &want, "book_snapshot_N");
    }
    let us = |i: usize, what: &str| micros(&f, i, what);
    let (exchange_ts, local_ts) = (us(2, "timestamp")?, us(3, "local_timestamp")?);
    // (side, price, amount) of every level present, bids then asks.
    let mut lv: Vec<(BookSide, &str, &str)> = Vec::new();
    for (side, off) in [(BookSide::Bid, 2usize), (BookSide::Ask, 0)] {
        for i in 0..n {
            let (p, q) = (f[4 + 4 * i + off], f[5 + 4 * i + off]);
            match (p.is_empty(), q.is_empty()) {
                (true, true) => {}
                (false, false) => lv.push((side, p, q)),
                _ => return Err(format!("level {i} has a price or an amount, not both")),
            }
        }
    }
    // Trimmed decimals: the row is read at its most places.
    let pp = lv.iter().map(|l| decimal::places(l.1)).max().unwrap_or(0);
    let sp = lv.iter().map(|l| decimal::places(l.2)).max().unwrap_or(0);
    if pp > decimal::MAX_SCALE as usize || sp > decimal::MAX_SCALE as usize {
        return Err("more than 18 decimal places".into());
    }
    let mut recs = Vec::with_capacity(lv.len().max(1));
    for (i, (side, p, q)) in lv.iter().enumerate() {
        let last = if i + 1 == lv.len() { FLAG_LAST } else { 0 };
        recs.push(MarketRecord::Level(BookLevel {
            exchange_ts,
            local_ts,
            side: *side,
            flags: FLAG_SNAPSHOT | last,
            price: decimal::parse(p, pp as u8)?,
            size: decimal::parse_size(q, sp as u8)?,
            first_update_id: 0,
            last_update_id: 0,
            prev_update_id: 0,
            checksum: 0,
        }));
    }
    if recs.is_empty() {
        recs.push(MarketRecord::Level(BookLevel::empty_snapshot(
            exchange_ts,
            local_ts,
        )));
    }
    Ok(Some(ParsedLine::Records {
        venue: Some(f[0].to_string()),
        symbol: Some(f[1].to_string()),
        stream: format!("book_snapshot_{n}"),
        kind: StreamKind::BookL2,
        price_places: pp,
        size_places: sp,
        recs,
    }))
}

const L2_HEADER: &str = "exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount";

/// Parse one line of an `incremental_book_L2` file: one level's new amount
/// (0 removes it), `is_snapshot` rows flagged as snapshot, into
/// `<exchange>/<symbol>/depth`. The import marks the last row of each
/// exchange event (rows of one event share their timestamps) once it has
/// seen the next row.
pub(crate) fn parse_l2_line(no: u64, line: &str) -> Result<Option<ParsedLine>, String> {
    if no == 1 {
        return header(line, L2_HEADER, "incremental_book_L2");
    }
    if line.trim().is_empty() {
        return Ok(None);
    }
    let f: Vec<&str> = line.trim().split(',').collect();
    if f.len() != 8 {
        return Err(format!("{} columns, expected 8", f.len()));
    }
    let us = |i: usize, what: &str| micros(&f, i, what);
    let snapshot = match f[4] {
        "true" => FLAG_SNAPSHOT,
        "false" => 0,
        s => return Err(format!("is_snapshot {s:?} is not true or false")),
    };
    let side = match f[5] {
        "bid" => BookSide::Bid,
        "ask" => BookSide::Ask,
        s => return Err(format!("side {s:?} is not bid or ask")),
    };
    let (pp, sp) = (decimal::places(f[6]), decimal::places(f[7]));
    if pp > decimal::MAX_SCALE as usize || sp > decimal::MAX_SCALE as usize {
        return Err("more than 18 decimal places".into());
    }
    Ok(Some(ParsedLine::Records {
        venue: Some(f[0].to_string()),
        symbol: Some(f[1].to_string()),
        stream: "depth".to_string(),
        kind: StreamKind::BookL2,
        price_places: pp,
        size_places: sp,
        recs: vec![MarketRecord::Level(BookLevel {
            exchange_ts: us(2, "timestamp")?,
            local_ts: us(3, "local_timestamp")?,
            side,
            flags: snapshot,
            price: decimal::parse(f[6], pp as u8)?,
            size: decimal::parse_size(f[7], sp as u8)?,
            first_update_id: 0,
            last_update_id: 0,
            prev_update_id: 0,
            checksum: 0,
        })],
    }))
}
