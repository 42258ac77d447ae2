//! The compact block of quotes (best bid and offer).
//!
//! ```text
//! block   := "ESCQ" | version u8 (1) | count varint | raw_len varint | zstd(body)
//! body    := six columns, each `len varint | bytes`, in this order:
//!   local   count x zigzag(local_ts - previous local_ts)     (the first from 0)
//!   venue   unit varint, count x zigzag((exchange_ts - previous) / unit)
//!   bid     unit varint, count x zigzag((bid_price - previous bid_price) / unit)
//!   spread  unit varint, count x zigzag((spread - previous spread) / unit),
//!           spread = ask_price - bid_price (wrapping)
//!   sizes   unit varint, count x (zigzag(bid_size / unit), zigzag(ask_size / unit))
//!   id      count x zigzag(update_id - previous update_id, wrapping)
//! ```
//!
//! Units and wrapping differences as in [`crate::compact::trades`].

use crate::compact::trades::{deltas, unit};
use crate::records::level::Quote;
use eventstore_log::compact::varint;

/// The most quotes one block may claim.
pub const MAX_QUOTES: u64 = 1 << 24;

const KIND: crate::compact::Kind = crate::compact::Kind {
    magic: b"ESCQ",
    what: "quote",
    max_records: MAX_QUOTES,
    // 7 varints of 10 bytes.
    max_record_bytes: 70,
};

fn spread(q: &Quote) -> i64 {
    q.ask_price.wrapping_sub(q.bid_price)
}

/// Encode `quotes` as one compact block, zstd at `level`.
pub fn encode_quotes(quotes: &[Quote], level: i32) -> std::io::Result<Vec<u8>> {
    let mut cols: [Vec<u8>; 6] = Default::default();
    let units = [
        unit(deltas(quotes.iter().map(|q| q.exchange_ts))),
        unit(deltas(quotes.iter().map(|q| q.bid_price))),
        unit(deltas(quotes.iter().map(spread))),
        unit(quotes.iter().flat_map(|q| [q.bid_size, q.ask_size])),
    ];
    for (k, u) in units.iter().enumerate() {
        varint::put(&mut cols[k + 1], *u);
    }
    let [vu, bu, su, zu] = units.map(|u| u as i64);
    let (mut local, mut venue, mut bid, mut spr, mut id) = (0i64, 0i64, 0i64, 0i64, 0u64);
    for q in quotes {
        varint::put_signed(&mut cols[0], q.local_ts.wrapping_sub(local));
        local = q.local_ts;
        varint::put_signed(&mut cols[1], q.exchange_ts.wrapping_sub(venue) / vu);
        venue = q.exchange_ts;
        varint::put_signed(&mut cols[2], q.bid_price.wrapping_sub(bid) / bu);
        bid = q.bid_price;
        varint::put_signed(&mut cols[3], spread(q).wrapping_sub(spr) / su);
        spr = spread(q);
        varint::put_signed(&mut cols[4], q.bid_size / zu);
        varint::put_signed(&mut cols[4], q.ask_size / zu);
        varint::put_signed(&mut cols[5], q.update_id.wrapping_sub(id) as i64);
        id = q.update_id;
    }
    crate::compact::seal(&KIND, quotes.len(), &cols, level)
}

/// Decode a block written by [`encode_quotes`]; a damaged block is an
/// error saying what is wrong, never a panic.
pub fn decode_quotes(b: &[u8]) -> Result<Vec<Quote>, String> {
    let (n, body) = crate::compact::open(&KIND, b)?;
    let mut cols = crate::compact::columns(&body, 6)?;
    let mut units = [1i64; 4];
    for (k, u) in units.iter_mut().enumerate() {
        *u = crate::compact::read_unit(&mut cols[k + 1], k + 1)?;
    }
    let mut out = Vec::with_capacity(n);
    let (mut local, mut venue, mut bid, mut spr, mut id) = (0i64, 0i64, 0i64, 0i64, 0u64);
    for i in 0..n {
        let bad = |what: &str, e: String| format!("quote {i}: {what}: {e}");
        local = local.wrapping_add(cols[0].get_signed().map_err(|e| bad("receive time", e))?);
        let v = cols[1].get_signed().map_err(|e| bad("venue time", e))?;
        venue = venue.wrapping_add(v.wrapping_mul(units[0]));
        let d = cols[2].get_signed().map_err(|e| bad("bid price", e))?;
        bid = bid.wrapping_add(d.wrapping_mul(units[1]));
        let d = cols[3].get_signed().map_err(|e| bad("spread", e))?;
        spr = spr.wrapping_add(d.wrapping_mul(units[2]));
        let bid_size = cols[4]
            .get_signed()
            .map_err(|e| bad("bid size", e))?
            .wrapping_mul(units[3]);
        let ask_size = cols[4]
            .get_signed()
            .map_err(|e| bad("ask size", e))?
            .wrapping_mul(units[3]);
        id = id.wrapping_add(cols[5].get_signed().map_err(|e| bad("update id", e))? as u64);
        out.push(Quote {
            exchange_ts: venue,
            local_ts: local,
            bid_price: bid,
            bid_size,
            ask_price: bid.wrapping_add(spr),
            ask_size,
            update_id: id,
        });
    }
    if let Some(k) = cols.iter().position(|c| !c.done()) {
        return Err(format!("column {k} holds more than {n} quotes"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn quote() -> impl Strategy<Value = Quote> {
        (any::<[i64; 6]>(), any::<u64>()).prop_map(|(v, id)| Quote {
            exchange_ts: v[0],
            local_ts: v[1],
            bid_price: v[2],
            bid_size: v[3],
            ask_price: v[4],
            ask_size: v[5],
            update_id: id,
        })
    }

    proptest! {
        #[test]
        fn any_quotes_round_trip_bit_for_bit(quotes in proptest::collection::vec(quote(), 0..300)) {
            let b = encode_quotes(&quotes, 3).unwrap();
            prop_assert_eq!(decode_quotes(&b).unwrap(), quotes);
        }
    }

    #[test]
    fn extremes_round_trip_and_damage_is_an_error() {
        let q = |v: i64| Quote {
            exchange_ts: v,
            local_ts: v.wrapping_neg(),
            bid_price: v,
            bid_size: v,
            ask_price: v.wrapping_add(1),
            ask_size: v,
            update_id: v as u64,
        };
        let quotes = vec![q(i64::MIN), q(i64::MAX), q(0), q(-1)];
        let b = encode_quotes(&quotes, 19).unwrap();
        assert_eq!(decode_quotes(&b).unwrap(), quotes);
        for cut in 0..b.len() {
            assert!(decode_quotes(&b[..cut]).is_err(), "cut at {cut}");
        }
        for at in 0..b.len() {
            let mut bad = b.clone();
            bad[at] ^= 0x40;
            let _ = decode_quotes(&bad);
        }
    }
}
