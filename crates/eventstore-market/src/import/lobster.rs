//! LOBSTER message files (Nasdaq TotalView-ITCH, order level): `time`
//! (seconds after midnight), `type` (1 add, 2 partial cancel, 3 delete,
//! 4 visible execution, 5 hidden execution, 7 trading halt), `order id`,
//! `size`, `price` (dollars x 10^4), `direction` (1 buy, -1 sell). The date
//! and symbol are not in the file: they come with the import
//! (`ImportOptions::date`, `symbol`).

use crate::import::rows::{MarketRecord, ParsedLine};
use crate::records::decimal;
use crate::records::level::BookSide;
use crate::records::meta::StreamKind;
use crate::records::order::{Action, OrderEvent};

/// Parse one message line; `midnight_ns` is the session date's midnight (UTC ns).
pub(crate) fn parse_line(
    line: &str,
    midnight_ns: i64,
    symbol: &str,
) -> Result<Option<ParsedLine>, String> {
    let line = line.trim();
    if line.is_empty() {
        return Ok(None);
    }
    let f: Vec<&str> = line.split(',').collect();
    if f.len() < 6 {
        return Err(format!("{} columns, a LOBSTER message has 6", f.len()));
    }
    let secs = decimal::parse(f[0], 9).map_err(|e| format!("time: {e}"))?;
    let ts = midnight_ns.checked_add(secs).ok_or("time out of range")?;
    let action = match f[1] {
        "1" => Action::Add,
        "2" => Action::Reduce,
        "3" => Action::Cancel,
        "4" => Action::Fill,
        "5" => Action::HiddenFill,
        "6" | "7" => Action::Other,
        t => return Err(format!("message type {t:?} is not 1 to 7")),
    };
    let int = |i: usize, what: &str| {
        f[i].parse::<i64>()
            .map_err(|_| format!("{what} {:?} is not an integer", f[i]))
    };
    let order_id = f[2]
        .parse::<u64>()
        .map_err(|_| format!("order id {:?} is not a non-negative integer", f[2]))?;
    let side = match f[5] {
        "1" => BookSide::Bid,
        "-1" => BookSide::Ask,
        d => return Err(format!("direction {d:?} is not 1 or -1")),
    };
    Ok(Some(ParsedLine::Records {
        venue: None,
        symbol: Some(symbol.to_string()),
        stream: "orders".to_string(),
        kind: StreamKind::OrdersL3,
        // Prices are integers of 10^-4 dollars; sizes are shares.
        price_places: 4,
        size_places: 0,
        recs: vec![MarketRecord::Order(OrderEvent {
            exchange_ts: ts,
            local_ts: ts,
            action,
            side,
            flags: 0,
            price: int(4, "price")?,
            size: match int(3, "size")? {
                s if s < 0 => return Err(format!("size {s} is negative")),
                s => s,
            },
            order_id,
            sequence: 0,
        })],
    }))
}
