//! [`Periodic`]: the book's best levels at regular times, as rows.

use crate::book::replay::Replay;
use crate::Result;

/// A book row of [`OrderStreamReader::every`](crate::OrderStreamReader::every).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BookRow {
    /// The book after every record received before this time.
    pub ts: i64,
    pub reliable: bool,
    /// Best first: (price, size).
    pub bids: Vec<(i64, i64)>,
    pub asks: Vec<(i64, i64)>,
}

/// Names of the columns of a book row at `depth`: `ts`, `reliable`, then
/// `bid_price_<i>`, `bid_size_<i>`, `ask_price_<i>`, `ask_size_<i>` for
/// each level from 0 (the best).
pub fn book_columns(depth: usize) -> Vec<String> {
    let mut v = vec!["ts".to_string(), "reliable".to_string()];
    for i in 0..depth {
        for c in ["bid_price", "bid_size", "ask_price", "ask_size"] {
            v.push(format!("{c}_{i}"));
        }
    }
    v
}

/// The rows of [`OrderStreamReader::every`](crate::OrderStreamReader::every).
pub struct Periodic {
    pub(super) replay: Replay,
    pub(super) reader: super::Records,
    pub(super) next_ts: i64,
    pub(super) to: Option<i64>,
    pub(super) every_ns: i64,
    pub(super) depth: usize,
    pub(super) done: bool,
    /// A record read but not applied yet (with its sequence number): it
    /// lies after the next row's time.
    pub(super) held: Option<(u64, super::Rec)>,
}

impl Periodic {
    fn row(&mut self) -> BookRow {
        let (bids, asks) = self.replay.depth(self.depth);
        let row = BookRow {
            ts: self.next_ts,
            reliable: self.replay.is_reliable(),
            bids,
            asks,
        };
        self.next_ts = self.next_ts.saturating_add(self.every_ns);
        row
    }

    /// The next row, or `None` at the end.
    pub fn try_next(&mut self) -> Result<Option<BookRow>> {
        if self.to.is_some_and(|t| self.next_ts >= t) {
            return Ok(None);
        }
        let mut none = |_, _| {};
        loop {
            if let Some((seq, rec)) = self.held {
                if rec.ts() >= self.next_ts {
                    return Ok(Some(self.row()));
                }
                self.held = None;
                rec.apply(seq, &mut self.replay, &mut none);
                continue;
            }
            if self.done {
                break;
            }
            let Some((seq, rec)) = self.reader.next()? else {
                self.done = true;
                break;
            };
            if rec.ts() >= self.next_ts {
                // The row comes first; the record is applied after it.
                self.held = Some((seq, rec));
                continue;
            }
            rec.apply(seq, &mut self.replay, &mut none);
        }
        // After the last record: rows up to `to`, if there is one.
        match self.to {
            Some(t) if self.next_ts < t => Ok(Some(self.row())),
            _ => Ok(None),
        }
    }
}

impl Iterator for Periodic {
    type Item = Result<BookRow>;
    fn next(&mut self) -> Option<Result<BookRow>> {
        self.try_next().transpose()
    }
}
