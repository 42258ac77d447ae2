//! The compact block of order events (L3).
//!
//! ```text
//! block   := "ESCO" | version u8 (1) | count varint | raw_len varint | zstd(body)
//! body    := seven columns, each `len varint | bytes`, in this order:
//!   local   count x zigzag(local_ts - previous local_ts)     (the first from 0)
//!   venue   unit varint, count x zigzag((exchange_ts - previous) / unit)
//!   kind    count x (action u8 | side u8 | flags u8)
//!   price   unit varint, count x zigzag((price - previous price of the same side) / unit)
//!   size    unit varint, count x zigzag(size / unit)
//!   order   count x zigzag(order_id - previous order_id, wrapping)
//!   seq     count x zigzag(sequence - previous sequence, wrapping)
//! ```
//!
//! Units and wrapping differences as in [`crate::compact::trades`].

use crate::compact::trades::{deltas, unit};
use crate::records::level::BookSide;
use crate::records::order::{Action, OrderEvent};
use eventstore_log::compact::varint;

/// The most order events one block may claim.
pub const MAX_ORDERS: u64 = 1 << 24;

const KIND: crate::compact::Kind = crate::compact::Kind {
    magic: b"ESCO",
    what: "order event",
    max_records: MAX_ORDERS,
    // 6 varints of 10 bytes and 3 bytes.
    max_record_bytes: 63,
};

fn side_index(s: BookSide) -> usize {
    s as usize
}

/// Encode `events` as one compact block, zstd at `level`.
pub fn encode_orders(events: &[OrderEvent], level: i32) -> std::io::Result<Vec<u8>> {
    let mut cols: [Vec<u8>; 7] = Default::default();
    let mut last = [0i64; 3];
    let price_deltas: Vec<i64> = events
        .iter()
        .map(|o| {
            let k = side_index(o.side);
            let d = o.price.wrapping_sub(last[k]);
            last[k] = o.price;
            d
        })
        .collect();
    let units = [
        unit(deltas(events.iter().map(|o| o.exchange_ts))),
        unit(price_deltas.iter().copied()),
        unit(events.iter().map(|o| o.size)),
    ];
    varint::put(&mut cols[1], units[0]);
    varint::put(&mut cols[3], units[1]);
    varint::put(&mut cols[4], units[2]);
    let [vu, pu, su] = units.map(|u| u as i64);
    let (mut local, mut venue, mut id, mut seq) = (0i64, 0i64, 0u64, 0u64);
    for (o, dp) in events.iter().zip(&price_deltas) {
        varint::put_signed(&mut cols[0], o.local_ts.wrapping_sub(local));
        local = o.local_ts;
        varint::put_signed(&mut cols[1], o.exchange_ts.wrapping_sub(venue) / vu);
        venue = o.exchange_ts;
        cols[2].extend_from_slice(&[o.action as u8, o.side as u8, o.flags]);
        varint::put_signed(&mut cols[3], dp / pu);
        varint::put_signed(&mut cols[4], o.size / su);
        varint::put_signed(&mut cols[5], o.order_id.wrapping_sub(id) as i64);
        id = o.order_id;
        varint::put_signed(&mut cols[6], o.sequence.wrapping_sub(seq) as i64);
        seq = o.sequence;
    }
    crate::compact::seal(&KIND, events.len(), &cols, level)
}

/// Decode a block written by [`encode_orders`]; a damaged block is an
/// error saying what is wrong, never a panic.
pub fn decode_orders(b: &[u8]) -> Result<Vec<OrderEvent>, String> {
    let (n, body) = crate::compact::open(&KIND, b)?;
    let mut cols = crate::compact::columns(&body, 7)?;
    let mut units = [1i64; 3];
    for (u, k) in units.iter_mut().zip([1, 3, 4]) {
        *u = crate::compact::read_unit(&mut cols[k], k)?;
    }
    let mut out = Vec::with_capacity(n);
    let mut last = [0i64; 3];
    let (mut local, mut venue, mut id, mut seq) = (0i64, 0i64, 0u64, 0u64);
    for i in 0..n {
        let bad = |what: &str, e: String| format!("order event {i}: {what}: {e}");
        local = local.wrapping_add(cols[0].get_signed().map_err(|e| bad("receive time", e))?);
        let v = cols[1].get_signed().map_err(|e| bad("venue time", e))?;
        venue = venue.wrapping_add(v.wrapping_mul(units[0]));
        let k = cols[2]
            .bytes(3)
            .map_err(|e| bad("action, side and flags", e))?;
        let (a, s, flags) = (k[0], k[1], k[2]);
        let action = Action::from_u8(a)
            .ok_or_else(|| format!("order event {i}: action {a} is not 1 to 9"))?;
        let side = match s {
            0 => BookSide::None,
            1 => BookSide::Bid,
            2 => BookSide::Ask,
            s => return Err(format!("order event {i}: side {s} is not 0, 1 or 2")),
        };
        let dp = cols[3].get_signed().map_err(|e| bad("price", e))?;
        let p = &mut last[side_index(side)];
        *p = p.wrapping_add(dp.wrapping_mul(units[1]));
        let size = cols[4]
            .get_signed()
            .map_err(|e| bad("size", e))?
            .wrapping_mul(units[2]);
        id = id.wrapping_add(cols[5].get_signed().map_err(|e| bad("order id", e))? as u64);
        seq = seq.wrapping_add(cols[6].get_signed().map_err(|e| bad("sequence", e))? as u64);
        out.push(OrderEvent {
            exchange_ts: venue,
            local_ts: local,
            action,
            side,
            flags,
            price: *p,
            size,
            order_id: id,
            sequence: seq,
        });
    }
    if let Some(k) = cols.iter().position(|c| !c.done()) {
        return Err(format!("column {k} holds more than {n} order events"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn event() -> impl Strategy<Value = OrderEvent> {
        (
            any::<[i64; 4]>(),
            any::<[u64; 2]>(),
            1u8..10,
            0u8..3,
            any::<u8>(),
        )
            .prop_map(|(v, ids, a, s, flags)| OrderEvent {
                exchange_ts: v[0],
                local_ts: v[1],
                action: Action::from_u8(a).unwrap(),
                side: [BookSide::None, BookSide::Bid, BookSide::Ask][s as usize],
                flags,
                price: v[2],
                size: v[3],
                order_id: ids[0],
                sequence: ids[1],
            })
    }

    proptest! {
        #[test]
        fn any_order_events_round_trip_bit_for_bit(events in proptest::collection::vec(event(), 0..300)) {
            let b = encode_orders(&events, 3).unwrap();
            prop_assert_eq!(decode_orders(&b).unwrap(), events);
        }
    }

    #[test]
    fn cuts_are_errors_and_flips_never_panic() {
        let o = |v: i64, side| OrderEvent {
            exchange_ts: v,
            local_ts: v.wrapping_neg(),
            action: Action::Trade,
            side,
            flags: 255,
            price: v,
            size: v,
            order_id: v as u64,
            sequence: u64::MAX,
        };
        let events = vec![
            o(i64::MIN, BookSide::Bid),
            o(i64::MAX, BookSide::Ask),
            o(0, BookSide::None),
        ];
        let b = encode_orders(&events, 19).unwrap();
        assert_eq!(decode_orders(&b).unwrap(), events);
        for cut in 0..b.len() {
            assert!(decode_orders(&b[..cut]).is_err(), "cut at {cut}");
        }
        for at in 0..b.len() {
            let mut bad = b.clone();
            bad[at] ^= 0x40;
            let _ = decode_orders(&bad);
        }
    }
}
