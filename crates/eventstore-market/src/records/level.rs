//! Order-book records: a price-level update (L2) and a best bid/offer
//! quote, 64 bytes each (see `docs/format.md`, "Market records").

/// `BookLevel::flags`: the record is part of a snapshot of the whole book
/// (a snapshot after updates replaces the book).
pub const FLAG_SNAPSHOT: u8 = 1;
/// `BookLevel::flags`: the last record of one exchange event (one depth
/// message, or the end of a snapshot).
pub const FLAG_LAST: u8 = 2;
/// `BookLevel::flags`: the record carries the venue's checksum of the book
/// after its event (bytes 4..8).
pub const FLAG_CHECKSUM: u8 = 16;

/// Record kind byte of a level update.
pub const KIND_LEVEL: u8 = 2;
/// Record kind byte of a quote.
pub const KIND_QUOTE: u8 = 3;
/// Encoded length of both.
pub const BOOK_RECORD_LEN: usize = 64;

/// Which side of the book a level is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BookSide {
    /// No level: an exchange event that changed nothing but carries its
    /// sequence numbers (kept so that sequence checks see every event).
    None = 0,
    Bid = 1,
    Ask = 2,
}

/// One price level's new size (0 removes the level).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BookLevel {
    pub exchange_ts: i64,
    pub local_ts: i64,
    pub side: BookSide,
    pub flags: u8,
    pub price: i64,
    pub size: i64,
    /// The venue's update ids, where it has them (Binance `U` and `u`; 0 otherwise).
    pub first_update_id: u64,
    pub last_update_id: u64,
    /// The previous event's last update id (Binance futures `pu`; 0 otherwise).
    pub prev_update_id: u64,
    /// The venue's checksum of the book after this exchange event (OKX,
    /// Kraken), on the event's last record, with [`FLAG_CHECKSUM`]; 0
    /// otherwise.
    pub checksum: i32,
}

/// Best bid and offer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quote {
    pub exchange_ts: i64,
    pub local_ts: i64,
    pub bid_price: i64,
    pub bid_size: i64,
    pub ask_price: i64,
    pub ask_size: i64,
    /// The venue's update id (Binance `u`; 0 otherwise).
    pub update_id: u64,
}

fn i64_at(b: &[u8; BOOK_RECORD_LEN], o: usize) -> i64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[o..o + 8]);
    i64::from_le_bytes(x)
}

fn record(b: &[u8], kind: u8, what: &str) -> Result<[u8; BOOK_RECORD_LEN], String> {
    let Some(b) = b.first_chunk::<BOOK_RECORD_LEN>() else {
        return Err(format!(
            "a {what} is {BOOK_RECORD_LEN} bytes, this record is {}",
            b.len()
        ));
    };
    if b[0] != kind {
        return Err(format!("record kind {} is not a {what} ({kind})", b[0]));
    }
    Ok(*b)
}

impl BookLevel {
    /// A snapshot of an empty book (no levels, no update id): the record
    /// that says a book is empty as of its time.
    pub fn empty_snapshot(exchange_ts: i64, local_ts: i64) -> BookLevel {
        BookLevel {
            exchange_ts,
            local_ts,
            side: BookSide::None,
            flags: FLAG_SNAPSHOT | FLAG_LAST,
            price: 0,
            size: 0,
            first_update_id: 0,
            last_update_id: 0,
            prev_update_id: 0,
            checksum: 0,
        }
    }

    /// A break in the feed (see [`crate::book::replay::FLAG_BREAK`]): the
    /// book is not known to be right from `local_ts`, for `cause`;
    /// `last_update_id` is the last update id recorded before it (0 if
    /// none).
    pub fn feed_break(
        local_ts: i64,
        cause: crate::book::replay::Cause,
        last_update_id: u64,
    ) -> BookLevel {
        BookLevel {
            exchange_ts: 0,
            local_ts,
            side: BookSide::None,
            flags: crate::book::replay::FLAG_BREAK | FLAG_LAST,
            price: cause as i64,
            size: 0,
            first_update_id: last_update_id,
            last_update_id,
            prev_update_id: 0,
            checksum: 0,
        }
    }

    /// `kind u8 | side u8 | flags u8 | zero u8 | checksum i32 | exchange_ts |
    /// local_ts | price | size | first_update_id | last_update_id |
    /// prev_update_id`, little-endian.
    pub fn encode(&self) -> [u8; BOOK_RECORD_LEN] {
        let mut b = [0u8; BOOK_RECORD_LEN];
        b[0] = KIND_LEVEL;
        b[1] = self.side as u8;
        b[2] = self.flags;
        b[4..8].copy_from_slice(&self.checksum.to_le_bytes());
        for (o, v) in [
            (8, self.exchange_ts),
            (16, self.local_ts),
            (24, self.price),
            (32, self.size),
            (40, self.first_update_id as i64),
            (48, self.last_update_id as i64),
            (56, self.prev_update_id as i64),
        ] {
            b[o..o + 8].copy_from_slice(&v.to_le_bytes());
        }
        b
    }

    pub fn decode(b: &[u8]) -> Result<BookLevel, String> {
        let b = record(b, KIND_LEVEL, "level update")?;
        let side = match b[1] {
            0 => BookSide::None,
            1 => BookSide::Bid,
            2 => BookSide::Ask,
            s => return Err(format!("side {s} is not 0, 1 or 2")),
        };
        Ok(BookLevel {
            exchange_ts: i64_at(&b, 8),
            local_ts: i64_at(&b, 16),
            side,
            flags: b[2],
            price: i64_at(&b, 24),
            size: i64_at(&b, 32),
            first_update_id: i64_at(&b, 40) as u64,
            last_update_id: i64_at(&b, 48) as u64,
            prev_update_id: i64_at(&b, 56) as u64,
            checksum: i32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        })
    }
}

impl Quote {
    /// `kind u8 | 7 zero bytes | exchange_ts | local_ts | bid_price | bid_size |
    /// ask_price | ask_size | update_id`, little-endian.
    pub fn encode(&self) -> [u8; BOOK_RECORD_LEN] {
        let mut b = [0u8; BOOK_RECORD_LEN];
        b[0] = KIND_QUOTE;
        for (o, v) in [
            (8, self.exchange_ts),
            (16, self.local_ts),
            (24, self.bid_price),
            (32, self.bid_size),
            (40, self.ask_price),
            (48, self.ask_size),
            (56, self.update_id as i64),
        ] {
            b[o..o + 8].copy_from_slice(&v.to_le_bytes());
        }
        b
    }

    pub fn decode(b: &[u8]) -> Result<Quote, String> {
        let b = record(b, KIND_QUOTE, "quote")?;
        Ok(Quote {
            exchange_ts: i64_at(&b, 8),
            local_ts: i64_at(&b, 16),
            bid_price: i64_at(&b, 24),
            bid_size: i64_at(&b, 32),
            ask_price: i64_at(&b, 40),
            ask_size: i64_at(&b, 48),
            update_id: i64_at(&b, 56) as u64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let l = BookLevel {
            exchange_ts: 1,
            local_ts: 2,
            side: BookSide::Ask,
            flags: FLAG_SNAPSHOT | FLAG_LAST,
            price: 6_183_763_000_000,
            size: 0,
            first_update_id: 10,
            last_update_id: 12,
            prev_update_id: 9,
            checksum: -1_431_042_442,
        };
        assert_eq!(BookLevel::decode(&l.encode()), Ok(l));
        let q = Quote {
            exchange_ts: 1,
            local_ts: 2,
            bid_price: 3,
            bid_size: 4,
            ask_price: 5,
            ask_size: 6,
            update_id: 7,
        };
        assert_eq!(Quote::decode(&q.encode()), Ok(q));
        assert!(Quote::decode(&l.encode()).is_err());
        assert!(BookLevel::decode(&q.encode()[..63]).is_err());
    }
}
