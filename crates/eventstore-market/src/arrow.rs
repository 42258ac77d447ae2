//! Arrow record batches of market streams (`--features arrow`): what the
//! Parquet export, the Python package and SQL engines read.
//!
//! Every kind has its schema ([`schema`]); times are `timestamp[ns, UTC]`,
//! prices and sizes `decimal128(38, scale)` at the stream's scales (exact),
//! sides and actions short strings, ids unsigned 64-bit integers:
//!
//! | kind | columns |
//! |---|---|
//! | trades | `local_ts`, `exchange_ts`, `price`, `size`, `side` (`buy`, `sell`, `unknown`), `trade_id` (uint64, null for a text id), `trade_id_text` (null for a numeric id) |
//! | book_l2 | `local_ts`, `exchange_ts`, `side` (`bid`, `ask`, `none`), `price`, `size` (0 removes the level), `flags` (uint8: 1 snapshot, 2 last of an exchange event, 8 aligned, 16 checksum), `first_update_id`, `last_update_id`, `prev_update_id`, `checksum` (int32, null without one) |
//! | quotes | `local_ts`, `exchange_ts`, `bid_price`, `bid_size`, `ask_price`, `ask_size`, `update_id` |
//! | orders_l3 | `local_ts`, `exchange_ts`, `action` (`add`, `modify`, `cancel`, `fill`, `hidden_fill`, `clear`, `other`, `reduce`, `trade`), `side`, `price`, `size`, `order_id`, `sequence`, `flags` |
//!
//! [`Batches`] reads a stream's records received in a time range (found
//! by index, as every reader does) and yields batches of at most a given
//! number of rows: memory is one batch, whatever the range. Trades come
//! from the blocks of compact files straight into the batch's columns
//! ([`TradeBlocks`]); other kinds, and framed files, record by record.

use crate::compact::TradeColumns;
use crate::read::trades::TradeBlocks;
use crate::records::level::{BookLevel, BookSide, Quote, FLAG_CHECKSUM};
use crate::records::meta::StreamKind;
use crate::records::order::{Action, OrderEvent};
use crate::records::trade::Trade;
use crate::{Error, Result, StreamMeta};
use arrow_array::builder::{
    Decimal128Builder, Int32Builder, StringBuilder, TimestampNanosecondBuilder, UInt64Builder,
    UInt8Builder,
};
use arrow_array::{
    Array, ArrayRef, Decimal128Array, RecordBatch, StringArray, TimestampNanosecondArray,
    UInt64Array,
};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use eventstore_log::{ReadOptions, StreamName, StreamReader};
use std::path::Path;
use std::sync::Arc;

pub(crate) fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()))
}

/// The Arrow schema of a stream's records, at its scales.
pub fn schema(meta: &StreamMeta) -> Schema {
    let ts = || ts_type();
    let price = || DataType::Decimal128(38, meta.price_scale as i8);
    let size = || DataType::Decimal128(38, meta.size_scale as i8);
    let f = Field::new;
    Schema::new(match meta.kind {
        StreamKind::Trades => vec![
            f("local_ts", ts(), false),
            f("exchange_ts", ts(), false),
            f("price", price(), false),
            f("size", size(), false),
            f("side", DataType::Utf8, false),
            // The venue's id: a number in `trade_id`, or a text (BitMEX and
            // Bybit UUIDs) in `trade_id_text`; the other one is null.
            f("trade_id", DataType::UInt64, true),
            f("trade_id_text", DataType::Utf8, true),
        ],
        StreamKind::BookL2 => vec![
            f("local_ts", ts(), false),
            f("exchange_ts", ts(), false),
            f("side", DataType::Utf8, false),
            f("price", price(), false),
            f("size", size(), false),
            f("flags", DataType::UInt8, false),
            f("first_update_id", DataType::UInt64, false),
            f("last_update_id", DataType::UInt64, false),
            f("prev_update_id", DataType::UInt64, false),
            f("checksum", DataType::Int32, true),
        ],
        StreamKind::Quotes => vec![
            f("local_ts", ts(), false),
            f("exchange_ts", ts(), false),
            f("bid_price", price(), false),
            f("bid_size", size(), false),
            f("ask_price", price(), false),
            f("ask_size", size(), false),
            f("update_id", DataType::UInt64, false),
        ],
        StreamKind::OrdersL3 => vec![
            f("local_ts", ts(), false),
            f("exchange_ts", ts(), false),
            f("action", DataType::Utf8, false),
            f("side", DataType::Utf8, false),
            f("price", price(), false),
            f("size", size(), false),
            f("order_id", DataType::UInt64, false),
            f("sequence", DataType::UInt64, false),
            f("flags", DataType::UInt8, false),
        ],
    })
}

fn side_name(s: BookSide) -> &'static str {
    match s {
        BookSide::Bid => "bid",
        BookSide::Ask => "ask",
        BookSide::None => "none",
    }
}

/// Every action, in the order of the replay's `action` dictionary.
pub(crate) const ACTIONS: [Action; 9] = [
    Action::Add,
    Action::Modify,
    Action::Cancel,
    Action::Fill,
    Action::HiddenFill,
    Action::Clear,
    Action::Other,
    Action::Reduce,
    Action::Trade,
];

pub(crate) fn action_name(a: Action) -> &'static str {
    match a {
        Action::Add => "add",
        Action::Modify => "modify",
        Action::Cancel => "cancel",
        Action::Fill => "fill",
        Action::HiddenFill => "hidden_fill",
        Action::Clear => "clear",
        Action::Other => "other",
        Action::Reduce => "reduce",
        Action::Trade => "trade",
    }
}

/// The columns being filled, by kind.
enum Columns {
    /// Trades as the compact blocks hold them (decoded straight into
    /// these columns by [`TradeBlocks`]).
    Trades(TradeColumns),
    Levels {
        local: TimestampNanosecondBuilder,
        exchange: TimestampNanosecondBuilder,
        side: StringBuilder,
        price: Decimal128Builder,
        size: Decimal128Builder,
        flags: UInt8Builder,
        first: UInt64Builder,
        last: UInt64Builder,
        prev: UInt64Builder,
        checksum: Int32Builder,
    },
    Quotes {
        local: TimestampNanosecondBuilder,
        exchange: TimestampNanosecondBuilder,
        bid_price: Decimal128Builder,
        bid_size: Decimal128Builder,
        ask_price: Decimal128Builder,
        ask_size: Decimal128Builder,
        id: UInt64Builder,
    },
    Orders {
        local: TimestampNanosecondBuilder,
        exchange: TimestampNanosecondBuilder,
        action: StringBuilder,
        side: StringBuilder,
        price: Decimal128Builder,
        size: Decimal128Builder,
        order: UInt64Builder,
        seq: UInt64Builder,
        flags: UInt8Builder,
    },
}

impl Columns {
    fn new(kind: StreamKind) -> Columns {
        let t = TimestampNanosecondBuilder::new;
        let d = Decimal128Builder::new;
        match kind {
            StreamKind::Trades => Columns::Trades(TradeColumns::default()),
            StreamKind::BookL2 => Columns::Levels {
                local: t(),
                exchange: t(),
                side: StringBuilder::new(),
                price: d(),
                size: d(),
                flags: UInt8Builder::new(),
                first: UInt64Builder::new(),
                last: UInt64Builder::new(),
                prev: UInt64Builder::new(),
                checksum: Int32Builder::new(),
            },
            StreamKind::Quotes => Columns::Quotes {
                local: t(),
                exchange: t(),
                bid_price: d(),
                bid_size: d(),
                ask_price: d(),
                ask_size: d(),
                id: UInt64Builder::new(),
            },
            StreamKind::OrdersL3 => Columns::Orders {
                local: t(),
                exchange: t(),
                action: StringBuilder::new(),
                side: StringBuilder::new(),
                price: d(),
                size: d(),
                order: UInt64Builder::new(),
                seq: UInt64Builder::new(),
                flags: UInt8Builder::new(),
            },
        }
    }

    /// Add the record `b`, decoded as this kind.
    fn push(&mut self, b: &[u8]) -> std::result::Result<(), String> {
        match self {
            Columns::Trades(c) => c.push(&Trade::decode(b)?),
            Columns::Levels {
                local,
                exchange,
                side,
                price,
                size,
                flags,
                first,
                last,
                prev,
                checksum,
            } => {
                let l = BookLevel::decode(b)?;
                local.append_value(l.local_ts);
                exchange.append_value(l.exchange_ts);
                side.append_value(side_name(l.side));
                price.append_value(l.price as i128);
                size.append_value(l.size as i128);
                flags.append_value(l.flags);
                first.append_value(l.first_update_id);
                last.append_value(l.last_update_id);
                prev.append_value(l.prev_update_id);
                checksum.append_option((l.flags & FLAG_CHECKSUM != 0).then_some(l.checksum));
            }
            Columns::Quotes {
                local,
                exchange,
                bid_price,
                bid_size,
                ask_price,
                ask_size,
                id,
            } => {
                let q = Quote::decode(b)?;
                local.append_value(q.local_ts);
                exchange.append_value(q.exchange_ts);
                bid_price.append_value(q.bid_price as i128);
                bid_size.append_value(q.bid_size as i128);
                ask_price.append_value(q.ask_price as i128);
                ask_size.append_value(q.ask_size as i128);
                id.append_value(q.update_id);
            }
            Columns::Orders {
                local,
                exchange,
                action,
                side,
                price,
                size,
                order,
                seq,
                flags,
            } => {
                let o = OrderEvent::decode(b)?;
                local.append_value(o.local_ts);
                exchange.append_value(o.exchange_ts);
                action.append_value(action_name(o.action));
                side.append_value(side_name(o.side));
                price.append_value(o.price as i128);
                size.append_value(o.size as i128);
                order.append_value(o.order_id);
                seq.append_value(o.sequence);
                flags.append_value(o.flags);
            }
        }
        Ok(())
    }

    /// The columns so far, as arrays (the builders start again empty).
    fn finish(&mut self, meta: &StreamMeta) -> std::result::Result<Vec<ArrayRef>, String> {
        let (ps, ss) = (meta.price_scale as i8, meta.size_scale as i8);
        let dec = |b: &mut Decimal128Builder, s: i8| -> std::result::Result<ArrayRef, String> {
            Ok(Arc::new(
                b.finish()
                    .with_precision_and_scale(38, s)
                    .map_err(|e| e.to_string())?,
            ))
        };
        let ts = |b: &mut TimestampNanosecondBuilder| -> ArrayRef {
            Arc::new(b.finish().with_timezone("UTC"))
        };
        Ok(match self {
            Columns::Trades(c) => trade_arrays(c, ps, ss)?,
            Columns::Levels {
                local,
                exchange,
                side,
                price,
                size,
                flags,
                first,
                last,
                prev,
                checksum,
            } => vec![
                ts(local),
                ts(exchange),
                Arc::new(side.finish()),
                dec(price, ps)?,
                dec(size, ss)?,
                Arc::new(flags.finish()),
                Arc::new(first.finish()),
                Arc::new(last.finish()),
                Arc::new(prev.finish()),
                Arc::new(checksum.finish()),
            ],
            Columns::Quotes {
                local,
                exchange,
                bid_price,
                bid_size,
                ask_price,
                ask_size,
                id,
            } => vec![
                ts(local),
                ts(exchange),
                dec(bid_price, ps)?,
                dec(bid_size, ss)?,
                dec(ask_price, ps)?,
                dec(ask_size, ss)?,
                Arc::new(id.finish()),
            ],
            Columns::Orders {
                local,
                exchange,
                action,
                side,
                price,
                size,
                order,
                seq,
                flags,
            } => vec![
                ts(local),
                ts(exchange),
                Arc::new(action.finish()),
                Arc::new(side.finish()),
                dec(price, ps)?,
                dec(size, ss)?,
                Arc::new(order.finish()),
                Arc::new(seq.finish()),
                Arc::new(flags.finish()),
            ],
        })
    }
}

/// The arrays of a batch of trades, taking the columns' values (their
/// time columns become the arrays' buffers without a copy).
fn trade_arrays(
    c: &mut TradeColumns,
    ps: i8,
    ss: i8,
) -> std::result::Result<Vec<ArrayRef>, String> {
    let dec = |v: &[i64], s: i8| -> std::result::Result<ArrayRef, String> {
        Ok(Arc::new(
            Decimal128Array::from_iter_values(v.iter().map(|&x| x as i128))
                .with_precision_and_scale(38, s)
                .map_err(|e| e.to_string())?,
        ))
    };
    let ts = |v: &mut Vec<i64>| -> ArrayRef {
        Arc::new(TimestampNanosecondArray::from(std::mem::take(v)).with_timezone("UTC"))
    };
    let n = c.len();
    let (id, id_text): (ArrayRef, ArrayRef) = if c.text_ids.is_empty() {
        (
            Arc::new(UInt64Array::from(std::mem::take(&mut c.id))),
            arrow_array::new_null_array(&DataType::Utf8, n),
        )
    } else {
        let mut text: Vec<Option<&str>> = vec![None; n];
        for (row, t) in &c.text_ids {
            if let Some(slot) = text.get_mut(*row) {
                *slot = Some(t.as_str());
            }
        }
        let id: UInt64Array =
            c.id.iter()
                .zip(&text)
                .map(|(&v, t)| t.is_none().then_some(v))
                .collect();
        (Arc::new(id), Arc::new(StringArray::from(text)))
    };
    let side = StringArray::from_iter_values(c.side.iter().map(|s| s.as_str()));
    let out = vec![
        ts(&mut c.local_ts),
        ts(&mut c.exchange_ts),
        dec(&c.price, ps)?,
        dec(&c.size, ss)?,
        Arc::new(side) as ArrayRef,
        id,
        id_text,
    ];
    c.clear();
    Ok(out)
}

/// The records of a market stream received in a time range, as Arrow
/// record batches of at most `rows` rows.
pub struct Batches {
    name: String,
    meta: StreamMeta,
    schema: Arc<Schema>,
    source: Source,
    cols: Columns,
    rows: usize,
}

/// Where a batch's rows come from: trades straight from compact blocks,
/// other kinds record by record.
enum Source {
    Trades(Box<TradeBlocks>),
    Records(Box<StreamReader>),
}

impl Batches {
    /// The records of `name` under `root` received in `[from_ns, to_ns)`.
    pub fn open(
        root: &Path,
        name: &StreamName,
        from_ns: Option<i64>,
        to_ns: Option<i64>,
        rows: usize,
    ) -> Result<Batches> {
        let dir = name.dir(root);
        let meta = StreamMeta::load(&dir)?.ok_or_else(|| Error::Meta {
            path: dir.join(crate::records::meta::META_FILE),
            reason: format!("{name} has no market metadata: not a market stream"),
        })?;
        let source = if meta.kind == StreamKind::Trades {
            Source::Trades(Box::new(TradeBlocks::open(&dir, from_ns, to_ns)?))
        } else {
            let opts = ReadOptions::received_in(from_ns, to_ns);
            Source::Records(Box::new(StreamReader::open_dir(&dir, opts)?))
        };
        Ok(Batches {
            name: name.to_string(),
            schema: Arc::new(schema(&meta)),
            cols: Columns::new(meta.kind),
            meta,
            source,
            rows: rows.max(1),
        })
    }

    /// The schema of every batch.
    pub fn schema(&self) -> Arc<Schema> {
        self.schema.clone()
    }

    /// The stream's metadata.
    pub fn meta(&self) -> &StreamMeta {
        &self.meta
    }

    /// The next batch; `None` after the last.
    pub fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        let mut n = 0;
        if let Columns::Trades(c) = &mut self.cols {
            c.reserve(self.rows);
        }
        while n < self.rows {
            match (&mut self.source, &mut self.cols) {
                (Source::Trades(t), Columns::Trades(c)) => match t.read_into(c, self.rows - n)? {
                    0 => break,
                    k => n += k,
                },
                (Source::Trades(_), _) => {
                    return Err(Error::Arrow {
                        stream: self.name.clone(),
                        reason: "trades read into columns of another kind".into(),
                    })
                }
                (Source::Records(r), cols) => {
                    let Some(rec) = r.next()? else {
                        break;
                    };
                    let seq = rec.seq;
                    cols.push(rec.payload).map_err(|reason| Error::BadRecord {
                        stream: self.name.clone(),
                        seq,
                        reason,
                    })?;
                    n += 1;
                }
            }
        }
        if n == 0 {
            return Ok(None);
        }
        let bad = |reason: String| Error::Arrow {
            stream: self.name.clone(),
            reason,
        };
        let cols = self.cols.finish(&self.meta).map_err(bad)?;
        RecordBatch::try_new(self.schema.clone(), cols)
            .map(Some)
            .map_err(|e| bad(e.to_string()))
    }
}

impl Iterator for Batches {
    type Item = Result<RecordBatch>;
    fn next(&mut self) -> Option<Self::Item> {
        self.next_batch().transpose()
    }
}

/// Records of a stream of `meta`'s kind from a batch of its [`schema`]
/// (the inverse of [`Batches`]): each as (receive time, encoded record),
/// in row order, appended to `out`. Columns are found by name (others are
/// ignored); prices and sizes must be decimals at the stream's scales, and
/// the nullable columns may be absent. An error names the row (counting
/// from `first_row`) and the column.
pub fn encode_batch(
    meta: &StreamMeta,
    batch: &RecordBatch,
    first_row: u64,
    out: &mut Vec<(i64, Vec<u8>)>,
) -> std::result::Result<(), String> {
    let cols = BatchColumns {
        batch,
        meta,
        first_row,
    };
    let n = batch.num_rows();
    let local = cols.ts("local_ts")?;
    let exchange = cols.ts("exchange_ts")?;
    let at = |i: usize| first_row + i as u64;
    out.reserve(n);
    match meta.kind {
        StreamKind::Trades => {
            let price = cols.dec("price", meta.price_scale)?;
            let size = cols.dec("size", meta.size_scale)?;
            let side = cols.text("side")?;
            let id = cols.opt::<UInt64Array>("trade_id")?;
            let text = cols.opt::<StringArray>("trade_id_text")?;
            for i in 0..n {
                let side = match side.value(i) {
                    "buy" => crate::records::trade::Side::Buy,
                    "sell" => crate::records::trade::Side::Sell,
                    "unknown" => crate::records::trade::Side::Unknown,
                    s => {
                        return Err(format!(
                            "row {}: side {s:?} (give buy, sell or unknown)",
                            at(i)
                        ))
                    }
                };
                let trade_id = match (id.filter(|c| c.is_valid(i)), text.filter(|c| c.is_valid(i)))
                {
                    (Some(c), None) => crate::records::trade::TradeId::Num(c.value(i)),
                    (None, Some(t)) => crate::records::trade::TradeId::Text(
                        crate::records::trade::TextId::new(t.value(i))
                            .map_err(|e| format!("row {}: trade_id_text: {e}", at(i)))?,
                    ),
                    (None, None) => crate::records::trade::TradeId::Num(0),
                    (Some(_), Some(_)) => {
                        return Err(format!("row {}: both trade_id and trade_id_text", at(i)))
                    }
                };
                let t = Trade {
                    exchange_ts: exchange.value(i),
                    local_ts: local.value(i),
                    price: cols.int(price, i, "price")?,
                    size: cols.int(size, i, "size")?,
                    side,
                    trade_id,
                };
                out.push((t.local_ts, t.encode().to_vec()));
            }
        }
        StreamKind::BookL2 => {
            let side = cols.text("side")?;
            let price = cols.dec("price", meta.price_scale)?;
            let size = cols.dec("size", meta.size_scale)?;
            let flags = cols.req::<arrow_array::UInt8Array>("flags")?;
            let first = cols.req::<UInt64Array>("first_update_id")?;
            let last = cols.req::<UInt64Array>("last_update_id")?;
            let prev = cols.req::<UInt64Array>("prev_update_id")?;
            let checksum = cols.opt::<arrow_array::Int32Array>("checksum")?;
            for i in 0..n {
                let sum = checksum.filter(|c| c.is_valid(i)).map(|c| c.value(i));
                let mut f = flags.value(i) & !FLAG_CHECKSUM;
                if sum.is_some() {
                    f |= FLAG_CHECKSUM;
                }
                let l = BookLevel {
                    exchange_ts: exchange.value(i),
                    local_ts: local.value(i),
                    side: book_side(side.value(i), at(i))?,
                    flags: f,
                    price: cols.int(price, i, "price")?,
                    size: cols.int(size, i, "size")?,
                    first_update_id: first.value(i),
                    last_update_id: last.value(i),
                    prev_update_id: prev.value(i),
                    checksum: sum.unwrap_or(0),
                };
                out.push((l.local_ts, l.encode().to_vec()));
            }
        }
        StreamKind::Quotes => {
            let bp = cols.dec("bid_price", meta.price_scale)?;
            let bs = cols.dec("bid_size", meta.size_scale)?;
            let ap = cols.dec("ask_price", meta.price_scale)?;
            let asz = cols.dec("ask_size", meta.size_scale)?;
            let id = cols.req::<UInt64Array>("update_id")?;
            for i in 0..n {
                let q = Quote {
                    exchange_ts: exchange.value(i),
                    local_ts: local.value(i),
                    bid_price: cols.int(bp, i, "bid_price")?,
                    bid_size: cols.int(bs, i, "bid_size")?,
                    ask_price: cols.int(ap, i, "ask_price")?,
                    ask_size: cols.int(asz, i, "ask_size")?,
                    update_id: id.value(i),
                };
                out.push((q.local_ts, q.encode().to_vec()));
            }
        }
        StreamKind::OrdersL3 => {
            let action = cols.text("action")?;
            let side = cols.text("side")?;
            let price = cols.dec("price", meta.price_scale)?;
            let size = cols.dec("size", meta.size_scale)?;
            let order = cols.req::<UInt64Array>("order_id")?;
            let seq = cols.req::<UInt64Array>("sequence")?;
            let flags = cols.req::<arrow_array::UInt8Array>("flags")?;
            for i in 0..n {
                let a = action.value(i);
                let o = OrderEvent {
                    exchange_ts: exchange.value(i),
                    local_ts: local.value(i),
                    action: ACTIONS
                        .iter()
                        .copied()
                        .find(|&x| action_name(x) == a)
                        .ok_or_else(|| format!("row {}: action {a:?}", at(i)))?,
                    side: book_side(side.value(i), at(i))?,
                    flags: flags.value(i),
                    price: cols.int(price, i, "price")?,
                    size: cols.int(size, i, "size")?,
                    order_id: order.value(i),
                    sequence: seq.value(i),
                };
                out.push((o.local_ts, o.encode().to_vec()));
            }
        }
    }
    Ok(())
}

/// The book side named `s` on row `row`.
fn book_side(s: &str, row: u64) -> std::result::Result<BookSide, String> {
    [BookSide::Bid, BookSide::Ask, BookSide::None]
        .into_iter()
        .find(|&b| side_name(b) == s)
        .ok_or_else(|| format!("row {row}: side {s:?} (give bid, ask or none)"))
}

/// A batch's columns by name, checked against a kind's schema.
struct BatchColumns<'a> {
    batch: &'a RecordBatch,
    meta: &'a StreamMeta,
    first_row: u64,
}

impl<'a> BatchColumns<'a> {
    fn opt<T: 'static>(&self, name: &str) -> std::result::Result<Option<&'a T>, String> {
        let Some(c) = self.batch.column_by_name(name) else {
            return Ok(None);
        };
        c.as_any().downcast_ref::<T>().map(Some).ok_or_else(|| {
            let want = schema(self.meta)
                .field_with_name(name)
                .map(|f| f.data_type().to_string())
                .unwrap_or_default();
            format!("column {name} is {}, not {want}", c.data_type())
        })
    }

    /// A column that must be there without nulls.
    fn req<T: Array + 'static>(&self, name: &str) -> std::result::Result<&'a T, String> {
        let c = self.opt::<T>(name)?.ok_or_else(|| {
            format!(
                "no column {name} (a {} record has {})",
                self.meta.kind.as_str(),
                schema(self.meta)
                    .fields()
                    .iter()
                    .map(|f| f.name().as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?;
        if let Some(i) = (0..c.len()).find(|&i| c.is_null(i)) {
            return Err(format!("row {}: {name} is null", self.first_row + i as u64));
        }
        Ok(c)
    }

    fn ts(&self, name: &str) -> std::result::Result<&'a TimestampNanosecondArray, String> {
        self.req(name)
    }

    fn text(&self, name: &str) -> std::result::Result<&'a StringArray, String> {
        self.req(name)
    }

    fn dec(&self, name: &str, scale: u8) -> std::result::Result<&'a Decimal128Array, String> {
        let c: &Decimal128Array = self.req(name)?;
        if c.scale() != scale as i8 {
            return Err(format!(
                "column {name} has scale {}, the stream's is {scale}",
                c.scale()
            ));
        }
        Ok(c)
    }

    fn int(&self, c: &Decimal128Array, i: usize, name: &str) -> std::result::Result<i64, String> {
        i64::try_from(c.value(i)).map_err(|_| {
            format!(
                "row {}: {name} {} does not fit the stream's 64-bit integers",
                self.first_row + i as u64,
                c.value_as_string(i)
            )
        })
    }
}
