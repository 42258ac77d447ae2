//! The market codecs as block codecs of the log: a sealed file of a
//! market stream becomes blocks of trades, level updates, quotes or order
//! events, each encoded by column ([`install`] makes them known).
//!
//! A codec takes a block only when every record decodes as its kind,
//! encodes back to the very same bytes, and has the log timestamp equal
//! to its receive time (as the importers and the recorder write them):
//! then the block's columns hold everything, and decoding rebuilds each
//! record's bytes exactly. Any other block is left to the log's general
//! codec.

use crate::records::level::{BookLevel, Quote};
use crate::records::order::OrderEvent;
use crate::records::trade::Trade;
use eventstore_log::compact::{BlockCodec, Decoded};

/// A market record kind the codecs know.
pub trait Record: Sized {
    const ID: u16;
    const NAME: &'static str;
    fn decode(b: &[u8]) -> Result<Self, String>;
    fn local_ts(&self) -> i64;
    /// Append the record's bytes.
    fn put(&self, out: &mut Vec<u8>);
    fn encode_block(v: &[Self], level: i32) -> std::io::Result<Vec<u8>>;
    fn decode_block(b: &[u8]) -> Result<Vec<Self>, String>;
}

macro_rules! record {
    ($t:ty, $id:expr, $name:expr, $enc:path, $dec:path) => {
        impl Record for $t {
            const ID: u16 = $id;
            const NAME: &'static str = $name;
            fn decode(b: &[u8]) -> Result<Self, String> {
                <$t>::decode(b)
            }
            fn local_ts(&self) -> i64 {
                self.local_ts
            }
            fn put(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.encode());
            }
            fn encode_block(v: &[Self], level: i32) -> std::io::Result<Vec<u8>> {
                $enc(v, level)
            }
            fn decode_block(b: &[u8]) -> Result<Vec<Self>, String> {
                $dec(b)
            }
        }
    };
}

record!(
    Trade,
    1,
    "market trades",
    super::encode_trades,
    super::decode_trades
);
record!(
    BookLevel,
    2,
    "market level updates",
    super::encode_levels,
    super::decode_levels
);
record!(
    Quote,
    3,
    "market quotes",
    super::encode_quotes,
    super::decode_quotes
);
record!(
    OrderEvent,
    4,
    "market order events",
    super::encode_orders,
    super::decode_orders
);

/// The block codec of record kind `R`.
pub struct Codec<R>(std::marker::PhantomData<fn() -> R>);

/// Trades (codec 1), level updates (2), quotes (3), order events (4).
pub static TRADES: Codec<Trade> = Codec(std::marker::PhantomData);
pub static LEVELS: Codec<BookLevel> = Codec(std::marker::PhantomData);
pub static QUOTES: Codec<Quote> = Codec(std::marker::PhantomData);
pub static ORDERS: Codec<OrderEvent> = Codec(std::marker::PhantomData);

impl<R: Record> BlockCodec for Codec<R> {
    fn id(&self) -> u16 {
        R::ID
    }

    fn name(&self) -> &'static str {
        R::NAME
    }

    fn encode(&self, records: &[(i64, &[u8])], level: i32) -> Option<Vec<u8>> {
        let mut v = Vec::with_capacity(records.len());
        let mut again = Vec::with_capacity(80);
        for (ts, p) in records {
            let r = R::decode(p).ok()?;
            again.clear();
            r.put(&mut again);
            if r.local_ts() != *ts || again != *p {
                return None;
            }
            v.push(r);
        }
        R::encode_block(&v, level).ok()
    }

    fn decode(
        &self,
        body: &[u8],
        count: usize,
        data_len: usize,
        out: &mut Decoded,
    ) -> Result<(), String> {
        out.clear();
        // Before anything is allocated: the body must claim the block's count.
        if super::claimed_count(body) != Some(count as u64) {
            return Err(format!(
                "the body does not hold the block's {count} records"
            ));
        }
        let v = R::decode_block(body)?;
        out.data.reserve(data_len);
        out.ts.reserve(v.len());
        out.ends.reserve(v.len());
        for r in &v {
            r.put(&mut out.data);
            if out.data.len() > data_len {
                return Err(format!(
                    "the records take more than the block's {data_len} bytes"
                ));
            }
            out.push_end(r.local_ts());
        }
        Ok(())
    }
}

/// Make the market codecs known to this process (once; later calls do
/// nothing). Every market reader calls it; a program that reads market
/// streams through the log alone calls it before opening them.
pub fn install() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        eventstore_log::compact::register(&TRADES);
        eventstore_log::compact::register(&LEVELS);
        eventstore_log::compact::register(&QUOTES);
        eventstore_log::compact::register(&ORDERS);
    });
}
