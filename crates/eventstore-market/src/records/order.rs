//! The order event record (L3: orders by id), 64 bytes (see
//! `docs/format.md`, "Market records").

/// What happened to an order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// A new order rests in the book.
    Add = 1,
    /// The order changed: it now has this price and size (Databento `M`).
    Modify = 2,
    /// The whole (remaining) order was cancelled.
    Cancel = 3,
    /// A visible order was executed against: `size` is the size filled.
    Fill = 4,
    /// A hidden order was executed (it never showed in the book).
    HiddenFill = 5,
    /// The book was cleared (a snapshot follows).
    Clear = 6,
    /// Trading halted or resumed, a trade print, or another venue event.
    Other = 7,
    /// Part of an order was cancelled: `size` is the size removed (LOBSTER type 2).
    Reduce = 8,
    /// An execution reported without changing the book: the book changes in
    /// the cancel or modify that follows (Databento `T` and `F`).
    Trade = 9,
}

impl Action {
    pub fn from_u8(v: u8) -> Option<Action> {
        Some(match v {
            1 => Action::Add,
            2 => Action::Modify,
            3 => Action::Cancel,
            4 => Action::Fill,
            5 => Action::HiddenFill,
            6 => Action::Clear,
            7 => Action::Other,
            8 => Action::Reduce,
            9 => Action::Trade,
            _ => return None,
        })
    }
}

/// Record kind byte of an order event.
pub const KIND_ORDER: u8 = 4;

/// One order event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderEvent {
    pub exchange_ts: i64,
    pub local_ts: i64,
    pub action: Action,
    pub side: crate::records::level::BookSide,
    pub flags: u8,
    pub price: i64,
    pub size: i64,
    pub order_id: u64,
    /// The venue's sequence number where it has one (0 otherwise).
    pub sequence: u64,
}

impl OrderEvent {
    /// `kind u8 | action u8 | side u8 | flags u8 | 4 zero bytes | exchange_ts |
    /// local_ts | price | size | order_id | sequence | 8 zero bytes`, little-endian.
    pub fn encode(&self) -> [u8; crate::records::level::BOOK_RECORD_LEN] {
        let mut b = [0u8; crate::records::level::BOOK_RECORD_LEN];
        b[0] = KIND_ORDER;
        b[1] = self.action as u8;
        b[2] = self.side as u8;
        b[3] = self.flags;
        for (o, v) in [
            (8, self.exchange_ts),
            (16, self.local_ts),
            (24, self.price),
            (32, self.size),
            (40, self.order_id as i64),
            (48, self.sequence as i64),
        ] {
            b[o..o + 8].copy_from_slice(&v.to_le_bytes());
        }
        b
    }

    pub fn decode(b: &[u8]) -> Result<OrderEvent, String> {
        use crate::records::level::{BookSide, BOOK_RECORD_LEN};
        let Some(b) = b.first_chunk::<BOOK_RECORD_LEN>() else {
            return Err(format!(
                "an order event is {BOOK_RECORD_LEN} bytes, this record is {}",
                b.len()
            ));
        };
        if b[0] != KIND_ORDER {
            return Err(format!(
                "record kind {} is not an order event ({KIND_ORDER})",
                b[0]
            ));
        }
        let i = |o: usize| {
            let mut x = [0u8; 8];
            x.copy_from_slice(&b[o..o + 8]);
            i64::from_le_bytes(x)
        };
        Ok(OrderEvent {
            exchange_ts: i(8),
            local_ts: i(16),
            action: Action::from_u8(b[1])
                .ok_or_else(|| format!("action {} is not 1 to 9", b[1]))?,
            side: match b[2] {
                0 => BookSide::None,
                1 => BookSide::Bid,
                2 => BookSide::Ask,
                s => return Err(format!("side {s} is not 0, 1 or 2")),
            },
            flags: b[3],
            price: i(24),
            size: i(32),
            order_id: i(40) as u64,
            sequence: i(48) as u64,
        })
    }
}
