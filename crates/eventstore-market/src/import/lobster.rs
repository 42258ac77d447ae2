//! LOBSTER files (Nasdaq TotalView-ITCH, order level).
//!
//! The message file: `time` (seconds after midnight), `type` (1 add, 2
//! partial cancel, 3 delete, 4 visible execution, 5 hidden execution, 6
//! cross trade, 7 trading halt), `order id`, `size`, `price` (dollars x
//! 10^4), `direction` (1 buy, -1 sell). The date and symbol are not in the
//! file: they come with the import (`ImportOptions::date`, `symbol`).
//!
//! The orderbook file: row i is the book right after message i, as `ask
//! price, ask size, bid price, bid size` for each of its N levels (an empty
//! level is `9999999999, 0` for asks and `-9999999999, 0` for bids). The
//! message file alone does not rebuild that book: it omits orders resting
//! before the file starts and every change to orders outside the N levels.
//! So with the orderbook file, the importer keeps its own order book and,
//! after each message, compares its best N levels with the row: the first
//! row seeds the book (stored as a snapshot), and where a later row
//! differs (a level that moved into the window from beyond it), records
//! flagged [`FLAG_ALIGNED`] add or take the difference. The stored stream
//! then gives, after every message, exactly the file's published levels;
//! levels beyond the N are not published, and the stream's metadata says
//! N (`depth`) so that readers show them as unknown.
//!
//! Real files as users have them: a header row (a first line that does
//! not start with a number) is skipped, Windows line endings are read,
//! times such as `34397.878728270996` (a float printed with too many
//! digits) are rounded to the nanosecond.

use crate::book::l3::L3Book;
use crate::import::rows::{MarketRecord, ParsedLine};
use crate::records::level::{BookSide, FLAG_LAST, FLAG_SNAPSHOT};
use crate::records::meta::StreamKind;
use crate::records::order::{Action, OrderEvent};
use std::collections::BTreeMap;

/// `OrderEvent::flags`: a record the importer made to align the book with
/// the venue's published levels (LOBSTER's orderbook file), not a venue
/// message.
pub const FLAG_ALIGNED: u8 = 8;

/// LOBSTER's price of an empty ask level (an empty bid is its negative).
const EMPTY_ASK: i64 = 9_999_999_999;

/// `"34397.878728270996"` (seconds after midnight, any number of decimals)
/// as ns, rounded half up to the nanosecond.
pub(crate) fn seconds_rounded(s: &str) -> Result<i64, String> {
    let bad = || format!("time {s:?} is not seconds after midnight");
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let secs: i64 = int.parse().map_err(|_| bad())?;
    let mut ns: i64 = 0;
    for i in 0..9 {
        ns = ns * 10 + frac.as_bytes().get(i).map_or(0, |b| i64::from(b - b'0'));
    }
    if frac.as_bytes().get(9).is_some_and(|&b| b >= b'5') {
        ns += 1;
    }
    secs.checked_mul(1_000_000_000)
        .and_then(|s| s.checked_add(ns))
        .ok_or_else(bad)
}

/// A header row: the first line of a file, not starting with a number.
pub(crate) fn is_header(no: u64, line: &str) -> bool {
    no == 1
        && !line
            .trim_start()
            .starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '.')
}

/// Parse one message line; `midnight_ns` is the session date's midnight (UTC ns).
pub(crate) fn parse_line(
    no: u64,
    line: &str,
    midnight_ns: i64,
    symbol: &str,
) -> Result<Option<ParsedLine>, String> {
    let line = line.trim();
    if line.is_empty() || is_header(no, line) {
        return Ok(None);
    }
    Ok(Some(ParsedLine::Records {
        venue: None,
        symbol: Some(symbol.to_string()),
        stream: "orders".to_string(),
        kind: StreamKind::OrdersL3,
        // Prices are integers of 10^-4 dollars; sizes are shares.
        price_places: 4,
        size_places: 0,
        recs: vec![MarketRecord::Order(message(line, midnight_ns)?)],
    }))
}

fn message(line: &str, midnight_ns: i64) -> Result<OrderEvent, String> {
    let f: Vec<&str> = line.split(',').map(str::trim).collect();
    if f.len() < 6 {
        return Err(format!("{} columns, a LOBSTER message has 6", f.len()));
    }
    let ts = midnight_ns
        .checked_add(seconds_rounded(f[0])?)
        .ok_or("time out of range")?;
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
    Ok(OrderEvent {
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
    })
}

/// One orderbook row: the published levels of each side, best first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Published {
    pub bids: Vec<(i64, i64)>,
    pub asks: Vec<(i64, i64)>,
    /// Levels a side in the file (N).
    pub depth: usize,
}

/// Parse one orderbook row (`Ok(None)` for an empty line or a header).
pub(crate) fn parse_book_row(no: u64, line: &str) -> Result<Option<Published>, String> {
    let line = line.trim();
    if line.is_empty() || is_header(no, line) {
        return Ok(None);
    }
    let f: Vec<&str> = line.split(',').map(str::trim).collect();
    if f.is_empty() || !f.len().is_multiple_of(4) {
        return Err(format!(
            "{} columns, a LOBSTER orderbook row has 4 per level",
            f.len()
        ));
    }
    let mut row = Published {
        depth: f.len() / 4,
        ..Published::default()
    };
    let int = |i: usize| {
        f[i].parse::<i64>()
            .map_err(|_| format!("column {} {:?} is not an integer", i + 1, f[i]))
    };
    for level in 0..row.depth {
        let (ap, aq, bp, bq) = (
            int(4 * level)?,
            int(4 * level + 1)?,
            int(4 * level + 2)?,
            int(4 * level + 3)?,
        );
        if aq < 0 || bq < 0 {
            return Err(format!("a negative size at level {}", level + 1));
        }
        if aq > 0 && ap != EMPTY_ASK {
            row.asks.push((ap, aq));
        }
        if bq > 0 && bp != -EMPTY_ASK {
            row.bids.push((bp, bq));
        }
    }
    Ok(Some(row))
}

/// The importer's own book of a LOBSTER stream, kept equal to what a
/// reader of the stored records rebuilds.
#[derive(Default)]
pub(crate) struct Aligner {
    book: L3Book,
    seeded: bool,
    /// Records made to align the book so far.
    pub aligned: u64,
}

impl Aligner {
    /// Apply `msg`, then the records that make the book's best levels the
    /// row's: returned after the message, at its time. The first call's
    /// records are a snapshot of the whole book (the seed).
    pub(crate) fn after(&mut self, msg: &OrderEvent, row: &Published) -> Vec<OrderEvent> {
        self.book.apply(msg);
        let mut out = Vec::new();
        for (side, levels) in [(BookSide::Bid, &row.bids), (BookSide::Ask, &row.asks)] {
            self.align_side(msg, side, levels, row.depth, &mut out);
        }
        self.aligned += out.len() as u64;
        if self.seeded {
            return out;
        }
        self.seeded = true;
        self.snapshot(msg)
    }

    fn align_side(
        &mut self,
        msg: &OrderEvent,
        side: BookSide,
        want: &[(i64, i64)],
        depth: usize,
        out: &mut Vec<OrderEvent>,
    ) {
        let desired: BTreeMap<i64, i64> = want.iter().copied().collect();
        // The window: the published levels, down to the deepest when all N
        // are published; the whole side when fewer are (it has no more).
        let deepest = (want.len() == depth).then(|| want[want.len() - 1].0);
        let inside = |p: i64| match (deepest, side) {
            (None, _) => true,
            (Some(d), BookSide::Bid) => p >= d,
            (Some(d), _) => p <= d,
        };
        let held: BTreeMap<i64, i64> = self
            .book
            .levels(side)
            .take_while(|(p, _)| inside(*p))
            .collect();
        let mut fixes: Vec<(i64, i64)> = held
            .iter()
            .filter(|(p, s)| desired.get(p) != Some(s))
            .map(|(&p, &s)| (p, desired.get(&p).copied().unwrap_or(0) - s))
            .collect();
        fixes.extend(
            desired
                .iter()
                .filter(|(p, _)| !held.contains_key(p))
                .map(|(&p, &s)| (p, s)),
        );
        for (price, delta) in fixes {
            self.fix(msg, side, price, delta, out);
        }
    }

    /// Add `delta` at `price` (take it, when negative): size no known
    /// order accounts for first, then the newest orders.
    fn fix(
        &mut self,
        msg: &OrderEvent,
        side: BookSide,
        price: i64,
        delta: i64,
        out: &mut Vec<OrderEvent>,
    ) {
        let ev = |action, size, order_id| OrderEvent {
            action,
            side,
            flags: FLAG_ALIGNED,
            price,
            size,
            order_id,
            ..*msg
        };
        let mut push = |book: &mut L3Book, e: OrderEvent| {
            book.apply(&e);
            out.push(e);
        };
        if delta > 0 {
            push(&mut self.book, ev(Action::Add, delta, 0));
            return;
        }
        let mut left = -delta;
        let free = self
            .book
            .unattributed(side)
            .iter()
            .find(|(p, _)| *p == price)
            .map_or(0, |(_, s)| *s);
        if free > 0 {
            let take = free.min(left);
            push(&mut self.book, ev(Action::Reduce, take, 0));
            left -= take;
        }
        for o in self.book.queue(side, price).into_iter().rev() {
            if left <= 0 {
                break;
            }
            if o.size <= left {
                push(&mut self.book, ev(Action::Cancel, o.size, o.id));
                left -= o.size;
            } else {
                push(&mut self.book, ev(Action::Reduce, left, o.id));
                left = 0;
            }
        }
    }

    /// The whole book as a snapshot run at `msg`'s time: a clear, then each
    /// level's orders in queue priority and its size no known order
    /// accounts for, the last record flagged last.
    fn snapshot(&self, msg: &OrderEvent) -> Vec<OrderEvent> {
        let flags = FLAG_SNAPSHOT | FLAG_ALIGNED;
        let ev = |action, side, price, size, order_id| OrderEvent {
            action,
            side,
            flags,
            price,
            size,
            order_id,
            sequence: 0,
            ..*msg
        };
        let mut out = vec![ev(Action::Clear, BookSide::None, 0, 0, 0)];
        for side in [BookSide::Bid, BookSide::Ask] {
            let free: BTreeMap<i64, i64> = self.book.unattributed(side).into_iter().collect();
            for (price, _) in self.book.levels(side) {
                for o in self.book.queue(side, price) {
                    out.push(ev(Action::Add, side, price, o.size, o.id));
                }
                if let Some(&s) = free.get(&price) {
                    out.push(ev(Action::Add, side, price, s, 0));
                }
            }
        }
        if let Some(last) = out.last_mut() {
            last.flags |= FLAG_LAST;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_to_the_nanosecond() {
        assert_eq!(
            seconds_rounded("34397.878728270996"),
            Ok(34_397_878_728_271)
        );
        assert_eq!(seconds_rounded("34200.01"), Ok(34_200_010_000_000));
        assert_eq!(seconds_rounded("34200"), Ok(34_200_000_000_000));
        assert_eq!(seconds_rounded("0.9999999996"), Ok(1_000_000_000));
        assert!(seconds_rounded("-1").is_err());
        assert!(seconds_rounded("1e3").is_err());
    }

    #[test]
    fn book_rows_skip_empty_levels_and_headers() {
        let r = parse_book_row(2, "5859400,200,5853300,18,9999999999,0,-9999999999,0\r")
            .unwrap()
            .unwrap();
        assert_eq!(r.depth, 2);
        assert_eq!(r.asks, [(5859400, 200)]);
        assert_eq!(r.bids, [(5853300, 18)]);
        assert_eq!(
            parse_book_row(1, "Ask Price 1,Ask Size 1,Bid Price 1,Bid Size 1"),
            Ok(None)
        );
        assert!(parse_book_row(2, "1,2,3").is_err());
    }
}
