//! OHLCV bars, VWAP and volume by side over a trade stream, at any
//! interval (aligned to multiples of it since the Unix epoch, UTC).

use crate::records::trade::{Side, Trade};
use crate::{Result, TradeStreamReader};

/// One bar: the trades received in `[start, start + interval)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bar {
    pub start_ns: i64,
    pub open: i64,
    pub high: i64,
    pub low: i64,
    pub close: i64,
    /// Sum of sizes.
    pub volume: i64,
    pub buy_volume: i64,
    pub sell_volume: i64,
    pub trades: u64,
    /// Sum of price x size (units of `10^-(price_scale + size_scale)`).
    pub notional: i128,
}

impl Bar {
    pub(crate) fn new(start_ns: i64, t: &Trade) -> Bar {
        let mut b = Bar {
            start_ns,
            open: t.price,
            high: t.price,
            low: t.price,
            close: t.price,
            volume: 0,
            buy_volume: 0,
            sell_volume: 0,
            trades: 0,
            notional: 0,
        };
        b.add(t);
        b.trades = 1;
        b
    }

    pub(crate) fn add(&mut self, t: &Trade) {
        self.high = self.high.max(t.price);
        self.low = self.low.min(t.price);
        self.close = t.price;
        self.volume += t.size;
        match t.side {
            Side::Buy => self.buy_volume += t.size,
            Side::Sell => self.sell_volume += t.size,
            Side::Unknown => {}
        }
        self.trades += 1;
        self.notional += t.price as i128 * t.size as i128;
    }

    /// Volume-weighted average price, in price units, rounded to the
    /// nearest (halves away from zero); `None` without volume.
    pub fn vwap(&self) -> Option<i64> {
        if self.volume == 0 {
            return None;
        }
        let (n, d) = (self.notional, self.volume as i128);
        let q = n / d;
        let r = n % d;
        let q = if 2 * r.abs() >= d.abs() {
            q + if (n < 0) != (d < 0) { -1 } else { 1 }
        } else {
            q
        };
        i64::try_from(q).ok()
    }
}

/// Bars of `interval_ns` from the trades of `reader`, in time order;
/// intervals without trades are skipped.
pub struct Bars {
    reader: TradeStreamReader,
    interval: i64,
    cur: Option<Bar>,
    done: bool,
}

impl Bars {
    pub fn new(reader: TradeStreamReader, interval_ns: i64) -> Bars {
        Bars {
            reader,
            interval: interval_ns.max(1),
            cur: None,
            done: false,
        }
    }

    /// The next bar.
    pub fn try_next(&mut self) -> Result<Option<Bar>> {
        if self.done {
            return Ok(None);
        }
        while let Some(t) = self.reader.try_next()? {
            let start = t.local_ts.div_euclid(self.interval) * self.interval;
            match &mut self.cur {
                Some(b) if b.start_ns == start => b.add(&t),
                Some(_) => {
                    let out = self.cur.replace(Bar::new(start, &t));
                    return Ok(out);
                }
                None => self.cur = Some(Bar::new(start, &t)),
            }
        }
        self.done = true;
        Ok(self.cur.take())
    }
}

impl Iterator for Bars {
    type Item = Result<Bar>;
    fn next(&mut self) -> Option<Result<Bar>> {
        self.try_next().transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vwap_rounds_to_the_nearest() {
        let t = |p, s| Trade {
            exchange_ts: 0,
            local_ts: 0,
            price: p,
            size: s,
            side: Side::Buy,
            trade_id: 0.into(),
        };
        let mut b = Bar::new(0, &t(100, 1));
        b.add(&t(101, 1));
        assert_eq!(b.vwap(), Some(101)); // 100.5 rounds away from zero
        b.add(&t(100, 1));
        assert_eq!(b.vwap(), Some(100)); // 100.33
        assert_eq!(
            (b.open, b.high, b.low, b.close, b.volume, b.trades),
            (100, 101, 100, 100, 3, 3)
        );
    }
}
