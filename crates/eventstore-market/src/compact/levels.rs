//! The compact block of price-level updates.
//!
//! ```text
//! block   := "ESCL" | version u8 (1) | count varint | raw_len varint | zstd(body)
//! body    := nine columns, each `len varint | bytes`, in this order:
//!   local   count x zigzag(local_ts - previous local_ts)          (the first from 0)
//!   venue   unit varint, count x zigzag((exchange_ts - previous exchange_ts) / unit)
//!   flags   count x (side u8 | flags u8)
//!   price   unit varint, count x zigzag((price - previous price of the same side) / unit)
//!   size    unit varint, count x zigzag(size / unit)
//!   first   count x zigzag(first_update_id - previous first_update_id)
//!   last    count x zigzag(last_update_id - first_update_id)
//!   prev    count x zigzag(prev_update_id - previous prev_update_id)
//!   sum     one i32 (4 bytes, little-endian) per record flagged with a checksum
//! ```
//!
//! Units and wrapping differences as in [`crate::compact::trades`]: every
//! value of every field round-trips.

use crate::compact::trades::{deltas, unit};
use crate::records::level::{BookLevel, BookSide, FLAG_CHECKSUM};
use eventstore_log::compact::varint;

/// The most records one block may claim.
pub const MAX_LEVELS: u64 = 1 << 24;

const KIND: crate::compact::Kind = crate::compact::Kind {
    magic: b"ESCL",
    what: "level",
    max_records: MAX_LEVELS,
    // 7 varints of 10 bytes, side and flags, a 4-byte checksum.
    max_record_bytes: 76,
};

fn side_index(s: BookSide) -> usize {
    match s {
        BookSide::None => 0,
        BookSide::Bid => 1,
        BookSide::Ask => 2,
    }
}

/// Encode `levels` as one compact block, zstd at `level`.
pub fn encode_levels(levels: &[BookLevel], level: i32) -> std::io::Result<Vec<u8>> {
    let n = levels.len();
    let mut cols: [Vec<u8>; 9] = Default::default();
    let mut last_price = [0i64; 3];
    let price_deltas: Vec<i64> = levels
        .iter()
        .map(|l| {
            let k = side_index(l.side);
            let d = l.price.wrapping_sub(last_price[k]);
            last_price[k] = l.price;
            d
        })
        .collect();
    let units = [
        unit(deltas(levels.iter().map(|l| l.exchange_ts))),
        unit(price_deltas.iter().copied()),
        unit(levels.iter().map(|l| l.size)),
    ];
    varint::put(&mut cols[1], units[0]);
    varint::put(&mut cols[3], units[1]);
    varint::put(&mut cols[4], units[2]);
    let [vu, pu, su] = units.map(|u| u as i64);
    let (mut local, mut venue, mut first, mut prev) = (0i64, 0i64, 0u64, 0u64);
    for (l, dp) in levels.iter().zip(&price_deltas) {
        varint::put_signed(&mut cols[0], l.local_ts.wrapping_sub(local));
        local = l.local_ts;
        varint::put_signed(&mut cols[1], l.exchange_ts.wrapping_sub(venue) / vu);
        venue = l.exchange_ts;
        cols[2].push(l.side as u8);
        cols[2].push(l.flags);
        varint::put_signed(&mut cols[3], dp / pu);
        varint::put_signed(&mut cols[4], l.size / su);
        varint::put_signed(&mut cols[5], l.first_update_id.wrapping_sub(first) as i64);
        first = l.first_update_id;
        varint::put_signed(
            &mut cols[6],
            l.last_update_id.wrapping_sub(l.first_update_id) as i64,
        );
        varint::put_signed(&mut cols[7], l.prev_update_id.wrapping_sub(prev) as i64);
        prev = l.prev_update_id;
        if l.flags & FLAG_CHECKSUM != 0 {
            cols[8].extend_from_slice(&l.checksum.to_le_bytes());
        }
    }
    crate::compact::seal(&KIND, n, &cols, level)
}

/// Decode a block written by [`encode_levels`]; a damaged block is an
/// error saying what is wrong, never a panic.
pub fn decode_levels(b: &[u8]) -> Result<Vec<BookLevel>, String> {
    let (n, body) = crate::compact::open(&KIND, b)?;
    let mut cols = crate::compact::columns(&body, 9)?;
    let mut units = [1i64; 3];
    for (u, k) in units.iter_mut().zip([1, 3, 4]) {
        *u = crate::compact::read_unit(&mut cols[k], k)?;
    }

    let mut out = Vec::with_capacity(n);
    let mut last_price = [0i64; 3];
    let (mut local, mut venue, mut first, mut prev) = (0i64, 0i64, 0u64, 0u64);
    for i in 0..n {
        let bad = |what: &str, e: String| format!("level update {i}: {what}: {e}");
        local = local.wrapping_add(cols[0].get_signed().map_err(|e| bad("receive time", e))?);
        let v = cols[1].get_signed().map_err(|e| bad("venue time", e))?;
        venue = venue.wrapping_add(v.wrapping_mul(units[0]));
        let sf = cols[2].bytes(2).map_err(|e| bad("side and flags", e))?;
        let (side, flags) = (
            sf.first().copied().unwrap_or(0),
            sf.get(1).copied().unwrap_or(0),
        );
        let side = match side {
            0 => BookSide::None,
            1 => BookSide::Bid,
            2 => BookSide::Ask,
            s => return Err(format!("level update {i}: side {s} is not 0, 1 or 2")),
        };
        let k = side_index(side);
        let dp = cols[3].get_signed().map_err(|e| bad("price", e))?;
        last_price[k] = last_price[k].wrapping_add(dp.wrapping_mul(units[1]));
        let size = cols[4]
            .get_signed()
            .map_err(|e| bad("size", e))?
            .wrapping_mul(units[2]);
        first = first.wrapping_add(cols[5].get_signed().map_err(|e| bad("first id", e))? as u64);
        let last = first.wrapping_add(cols[6].get_signed().map_err(|e| bad("last id", e))? as u64);
        prev = prev.wrapping_add(cols[7].get_signed().map_err(|e| bad("prev id", e))? as u64);
        let checksum = if flags & FLAG_CHECKSUM != 0 {
            let c = cols[8].bytes(4).map_err(|e| bad("checksum", e))?;
            i32::from_le_bytes([c[0], c[1], c[2], c[3]])
        } else {
            0
        };
        out.push(BookLevel {
            exchange_ts: venue,
            local_ts: local,
            side,
            flags,
            price: last_price[k],
            size,
            first_update_id: first,
            last_update_id: last,
            prev_update_id: prev,
            checksum,
        });
    }
    if let Some(k) = cols.iter().position(|c| !c.done()) {
        return Err(format!("column {k} holds more than {n} level updates"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn level() -> impl Strategy<Value = BookLevel> {
        (
            (any::<i64>(), any::<i64>(), 0u8..3, any::<u8>()),
            (
                any::<i64>(),
                any::<i64>(),
                any::<u64>(),
                any::<u64>(),
                any::<u64>(),
                any::<i32>(),
            ),
        )
            .prop_map(|((e, l, side, flags), (p, s, f, la, pr, c))| BookLevel {
                exchange_ts: e,
                local_ts: l,
                side: [BookSide::None, BookSide::Bid, BookSide::Ask][side as usize],
                flags,
                price: p,
                size: s,
                first_update_id: f,
                last_update_id: la,
                prev_update_id: pr,
                checksum: if flags & FLAG_CHECKSUM != 0 { c } else { 0 },
            })
    }

    proptest! {
        #[test]
        fn any_level_updates_round_trip_bit_for_bit(levels in proptest::collection::vec(level(), 0..300)) {
            let b = encode_levels(&levels, 3).unwrap();
            prop_assert_eq!(decode_levels(&b).unwrap(), levels);
        }
    }

    #[test]
    fn cuts_are_errors_and_flips_never_panic() {
        let l = |p: i64, side| BookLevel {
            exchange_ts: i64::MIN,
            local_ts: i64::MAX,
            side,
            flags: FLAG_CHECKSUM | 2,
            price: p,
            size: p,
            first_update_id: u64::MAX,
            last_update_id: 0,
            prev_update_id: 1,
            checksum: -7,
        };
        let levels = vec![
            l(i64::MIN, BookSide::Bid),
            l(i64::MAX, BookSide::Ask),
            l(0, BookSide::None),
        ];
        let b = encode_levels(&levels, 19).unwrap();
        assert_eq!(decode_levels(&b).unwrap(), levels);
        for cut in 0..b.len() {
            assert!(decode_levels(&b[..cut]).is_err(), "cut at {cut}");
        }
        for at in 0..b.len() {
            let mut bad = b.clone();
            bad[at] ^= 0x40;
            let _ = decode_levels(&bad);
        }
    }
}
