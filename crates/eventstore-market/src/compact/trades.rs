//! The compact block of trades.
//!
//! ```text
//! block   := "ESCT" | version u8 (1) | count varint | raw_len varint | zstd(body)
//! body    := six columns, each `len varint | bytes`, in this order:
//!   local   count x zigzag(local_ts - previous local_ts)   (the first from 0)
//!   venue   unit varint, count x zigzag((exchange_ts - previous exchange_ts) / unit)
//!   price   unit varint, count x zigzag((price - previous price) / unit)
//!   size    unit varint, count x zigzag(size / unit)
//!   flags   count x u8: side (0 unknown, 1 buy, 2 sell) | id form << 2 (0 number, 1 text)
//!   id      count x (number: zigzag(id - previous numeric id, wrapping) |
//!                    text: len varint | UTF-8 bytes)
//! ```
//!
//! A column's unit is the greatest common divisor of its values (1 when
//! they are all 0): venues print times in milliseconds and prices in
//! ticks, so what is left is small. Differences wrap (two's complement),
//! so every value of every field round-trips.

use crate::records::trade::{Side, TextId, Trade, TradeId};
use eventstore_log::compact::varint;

/// The most trades one block may claim: a damaged count cannot make the
/// decoder reserve unbounded memory.
pub const MAX_TRADES: u64 = 1 << 24;

const KIND: crate::compact::Kind = crate::compact::Kind {
    magic: b"ESCT",
    what: "trade",
    max_records: MAX_TRADES,
    // 5 varints of 10 bytes, a flags byte, a text id's length and bytes.
    max_record_bytes: 51 + 1 + crate::records::trade::MAX_TEXT_ID as u64,
};

/// The greatest common divisor of `values` (1 for none, or all zero).
pub(crate) fn unit(values: impl Iterator<Item = i64>) -> u64 {
    fn gcd(mut a: u64, mut b: u64) -> u64 {
        while b != 0 {
            (a, b) = (b, a % b);
        }
        a
    }
    let g = values.fold(0u64, |g, v| gcd(g, v.unsigned_abs()));
    // A unit above i64::MAX (only i64::MIN's magnitude) cannot divide back.
    if g == 0 || g > i64::MAX as u64 {
        1
    } else {
        g
    }
}

/// Successive differences of `v`, wrapping, the first from 0.
pub(crate) fn deltas(v: impl Iterator<Item = i64>) -> impl Iterator<Item = i64> {
    v.scan(0i64, |prev, x| {
        let d = x.wrapping_sub(*prev);
        *prev = x;
        Some(d)
    })
}

/// Encode `trades` as one compact block, zstd at `level`.
pub fn encode_trades(trades: &[Trade], level: i32) -> std::io::Result<Vec<u8>> {
    let n = trades.len();
    let mut cols: [Vec<u8>; 6] = Default::default();
    for c in cols.iter_mut() {
        c.reserve(n * 2);
    }
    let units = [
        unit(deltas(trades.iter().map(|t| t.exchange_ts))),
        unit(deltas(trades.iter().map(|t| t.price))),
        unit(trades.iter().map(|t| t.size)),
    ];
    for (k, u) in units.iter().enumerate() {
        varint::put(&mut cols[k + 1], *u);
    }
    let [vu, pu, su] = units.map(|u| u as i64);
    let (mut local, mut venue, mut price, mut id) = (0i64, 0i64, 0i64, 0u64);
    for t in trades {
        varint::put_signed(&mut cols[0], t.local_ts.wrapping_sub(local));
        local = t.local_ts;
        varint::put_signed(&mut cols[1], t.exchange_ts.wrapping_sub(venue) / vu);
        venue = t.exchange_ts;
        varint::put_signed(&mut cols[2], t.price.wrapping_sub(price) / pu);
        price = t.price;
        varint::put_signed(&mut cols[3], t.size / su);
        match &t.trade_id {
            TradeId::Num(v) => {
                cols[4].push(t.side as u8);
                varint::put_signed(&mut cols[5], v.wrapping_sub(id) as i64);
                id = *v;
            }
            TradeId::Text(text) => {
                cols[4].push(t.side as u8 | 1 << 2);
                let s = text.as_str().as_bytes();
                varint::put(&mut cols[5], s.len() as u64);
                cols[5].extend_from_slice(s);
            }
        }
    }
    crate::compact::seal(&KIND, n, &cols, level)
}

/// Trades by column, as a compact block holds them: what Arrow batches
/// are built from without a record in between.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TradeColumns {
    pub local_ts: Vec<i64>,
    pub exchange_ts: Vec<i64>,
    pub price: Vec<i64>,
    pub size: Vec<i64>,
    pub side: Vec<Side>,
    /// The numeric id of each trade (0 where the id is a text).
    pub id: Vec<u64>,
    /// The trades whose id is a text: (row, id), in row order.
    pub text_ids: Vec<(usize, TextId)>,
}

impl TradeColumns {
    /// Trades held.
    pub fn len(&self) -> usize {
        self.local_ts.len()
    }

    /// No trades.
    pub fn is_empty(&self) -> bool {
        self.local_ts.is_empty()
    }

    /// Make room for `n` more trades.
    pub fn reserve(&mut self, n: usize) {
        for c in [
            &mut self.local_ts,
            &mut self.exchange_ts,
            &mut self.price,
            &mut self.size,
        ] {
            c.reserve(n);
        }
        self.side.reserve(n);
        self.id.reserve(n);
    }

    /// Empty the columns, keeping their allocations.
    pub fn clear(&mut self) {
        self.truncate(0, 0);
    }

    /// Append one trade.
    pub fn push(&mut self, t: &Trade) {
        match &t.trade_id {
            TradeId::Num(v) => self.id.push(*v),
            TradeId::Text(text) => {
                self.text_ids.push((self.len(), *text));
                self.id.push(0);
            }
        }
        self.local_ts.push(t.local_ts);
        self.exchange_ts.push(t.exchange_ts);
        self.price.push(t.price);
        self.size.push(t.size);
        self.side.push(t.side);
    }

    /// Append rows `rows` of `other`.
    pub fn extend_rows(&mut self, other: &TradeColumns, rows: std::ops::Range<usize>) {
        let base = self.len();
        for t in other.text_ids.iter().filter(|(r, _)| rows.contains(r)) {
            self.text_ids.push((base + t.0 - rows.start, t.1));
        }
        self.local_ts
            .extend_from_slice(&other.local_ts[rows.clone()]);
        self.exchange_ts
            .extend_from_slice(&other.exchange_ts[rows.clone()]);
        self.price.extend_from_slice(&other.price[rows.clone()]);
        self.size.extend_from_slice(&other.size[rows.clone()]);
        self.side.extend_from_slice(&other.side[rows.clone()]);
        self.id.extend_from_slice(&other.id[rows]);
    }

    /// The trades as records, in row order.
    pub fn trades(&self) -> impl Iterator<Item = Trade> + '_ {
        let mut texts = self.text_ids.iter().peekable();
        (0..self.len()).map(move |i| Trade {
            exchange_ts: self.exchange_ts[i],
            local_ts: self.local_ts[i],
            price: self.price[i],
            size: self.size[i],
            side: self.side[i],
            trade_id: match texts.next_if(|(row, _)| *row == i) {
                Some((_, t)) => TradeId::Text(*t),
                None => TradeId::Num(self.id[i]),
            },
        })
    }

    /// Keep the first `n` trades, the text ids among them `texts`.
    fn truncate(&mut self, n: usize, texts: usize) {
        for c in [
            &mut self.local_ts,
            &mut self.exchange_ts,
            &mut self.price,
            &mut self.size,
        ] {
            c.truncate(n);
        }
        self.side.truncate(n);
        self.id.truncate(n);
        self.text_ids.truncate(texts);
    }
}

/// Decode a block written by [`encode_trades`]; a damaged block is an
/// error saying what is wrong, never a panic.
pub fn decode_trades(b: &[u8]) -> Result<Vec<Trade>, String> {
    let mut c = TradeColumns::default();
    decode_trade_columns(b, &mut c)?;
    Ok(c.trades().collect())
}

/// Decode a block written by [`encode_trades`], appending its trades to
/// `out`'s columns; a damaged block is an error saying what is wrong, never
/// a panic, and leaves `out` as it was.
pub fn decode_trade_columns(b: &[u8], out: &mut TradeColumns) -> Result<(), String> {
    let base = out.len();
    let texts = out.text_ids.len();
    let r = decode_columns_into(b, out);
    if r.is_err() {
        out.truncate(base, texts);
    }
    r
}

fn decode_columns_into(b: &[u8], out: &mut TradeColumns) -> Result<(), String> {
    let (n, body) = crate::compact::open(&KIND, b)?;
    let mut cols = crate::compact::columns(&body, 6)?;
    let mut units = [1i64; 3];
    for (k, u) in units.iter_mut().enumerate() {
        *u = crate::compact::read_unit(&mut cols[k + 1], k + 1)?;
    }
    let flags = cols[4]
        .bytes(n)
        .map_err(|e| format!("column 4 (flags): {e}"))?;
    out.reserve(n);
    let base = out.len();
    // Row by row: the columns' varints are independent chains that the
    // processor decodes side by side.
    let (mut local, mut venue, mut price, mut id) = (0i64, 0i64, 0i64, 0u64);
    let [c0, c1, c2, c3, _, c5] = &mut cols[..] else {
        return Err("a trade block has six columns".into());
    };
    for (i, &f) in flags.iter().enumerate() {
        let bad = |what: &str, e: String| format!("trade {i}: {what}: {e}");
        local = local.wrapping_add(c0.get_signed().map_err(|e| bad("receive time", e))?);
        let v = c1.get_signed().map_err(|e| bad("venue time", e))?;
        venue = venue.wrapping_add(v.wrapping_mul(units[0]));
        let p = c2.get_signed().map_err(|e| bad("price", e))?;
        price = price.wrapping_add(p.wrapping_mul(units[1]));
        let size = c3.get_signed().map_err(|e| bad("size", e))?;
        out.local_ts.push(local);
        out.exchange_ts.push(venue);
        out.price.push(price);
        out.size.push(size.wrapping_mul(units[2]));
        out.side.push(match f & 3 {
            0 => Side::Unknown,
            1 => Side::Buy,
            2 => Side::Sell,
            s => return Err(format!("trade {i}: side {s} is not 0, 1 or 2")),
        });
        match f >> 2 {
            0 => {
                id = id.wrapping_add(c5.get_signed().map_err(|e| bad("id", e))? as u64);
                out.id.push(id);
            }
            1 => {
                let len = c5.get().map_err(|e| bad("id length", e))? as usize;
                let text = c5.bytes(len).map_err(|e| bad("id", e))?;
                let text = std::str::from_utf8(text).map_err(|e| bad("id", e.to_string()))?;
                out.text_ids
                    .push((base + i, TextId::new(text).map_err(|e| bad("id", e))?));
                out.id.push(0);
            }
            f => return Err(format!("trade {i}: id form {f} is not 0 or 1")),
        }
    }
    if let Some(k) = cols.iter().position(|c| !c.done()) {
        return Err(format!("column {k} holds more than {n} trades"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn trade() -> impl Strategy<Value = Trade> {
        (
            any::<i64>(),
            any::<i64>(),
            any::<i64>(),
            any::<i64>(),
            0u8..3,
            prop_oneof![
                any::<u64>().prop_map(TradeId::Num),
                "[a-f0-9-]{1,47}".prop_map(|s| TradeId::parse(&s).unwrap_or(TradeId::Num(0))),
            ],
        )
            .prop_map(|(e, l, p, s, side, trade_id)| Trade {
                exchange_ts: e,
                local_ts: l,
                price: p,
                size: s,
                side: [Side::Unknown, Side::Buy, Side::Sell][side as usize],
                trade_id,
            })
    }

    proptest! {
        #[test]
        fn any_trades_round_trip_bit_for_bit(trades in proptest::collection::vec(trade(), 0..300)) {
            let b = encode_trades(&trades, 3).unwrap();
            prop_assert_eq!(decode_trades(&b).unwrap(), trades);
        }
    }

    proptest! {
        /// Times, prices and sizes on a grid (milliseconds, ticks, lots),
        /// as venues print them: the columns' units come into play.
        #[test]
        fn values_on_a_grid_round_trip(
            units in (1i64..2_000_000_000, 1i64..1_000_000, 1i64..100_000),
            steps in proptest::collection::vec((-50i64..50, -20i64..20, 1i64..1000, 0i64..1000), 1..300),
        ) {
            let (mut e, mut p) = (1_723_161_255_000_000_000i64, 6_183_763_000_000i64);
            let trades: Vec<Trade> = steps
                .iter()
                .map(|&(de, dp, k, jitter)| {
                    e = e.wrapping_add(de * units.0);
                    p = p.wrapping_add(dp * units.1);
                    Trade {
                        exchange_ts: e,
                        local_ts: e + 1_000_000 + jitter * 7_919,
                        price: p,
                        size: k * units.2,
                        side: Side::Buy,
                        trade_id: TradeId::Num(k as u64),
                    }
                })
                .collect();
            let b = encode_trades(&trades, 3).unwrap();
            prop_assert_eq!(decode_trades(&b).unwrap(), trades);
        }
    }

    #[test]
    fn extremes_round_trip_and_damage_is_an_error() {
        let t = |v: i64, id: TradeId| Trade {
            exchange_ts: v,
            local_ts: v.wrapping_neg(),
            price: v,
            size: v,
            side: Side::Sell,
            trade_id: id,
        };
        let trades = vec![
            t(i64::MIN, TradeId::Num(u64::MAX)),
            t(i64::MAX, TradeId::Num(0)),
            t(
                0,
                TradeId::parse("ccc3c1fa-212c-e8b0-1706-9b9c4f3d5ecf").unwrap(),
            ),
            t(-1, TradeId::Num(u64::MAX)),
        ];
        let b = encode_trades(&trades, 19).unwrap();
        assert_eq!(decode_trades(&b).unwrap(), trades);
        for cut in 0..b.len() {
            assert!(decode_trades(&b[..cut]).is_err(), "cut at {cut}");
        }
        for at in 0..b.len() {
            let mut bad = b.clone();
            bad[at] ^= 0x40;
            // A flip may decode to other trades, or be refused; never a panic.
            let _ = decode_trades(&bad);
        }
    }
}
