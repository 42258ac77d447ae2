//! Replay for backtests (`--features arrow`): any number of market streams
//! merged into one time-ordered stream of Arrow record batches.
//!
//! Every stream is read as its own readers read it (by index to the start,
//! trades straight from compact blocks), a chunk at a time; the merge takes
//! the stream whose next record was received first. Memory is one chunk per
//! stream, the book of each order stream at the start and one output batch,
//! however long the range.
//!
//! **Order.** Rows are in receive time (`ts`, the records' `local_ts`).
//! Records received at the same nanosecond come in the order the streams
//! were given, and within one stream in the stream's own order: a stream's
//! order is never changed. Before any record, every order stream (`book_l2`,
//! `orders_l3`) given a start begins with its book as of the start: a clear,
//! then every level (or order), each flagged snapshot (flag 1) and the last
//! also flagged last (2), at `ts` = the start, in the order the streams were
//! given.
//!
//! **Schema** ([`replay_schema`]): one row per record, whatever its kind;
//! the columns a kind does not have are null.
//!
//! | column | type | trade | level | quote | order |
//! |---|---|---|---|---|---|
//! | `ts` | `timestamp[ns, UTC]` | receive time | = | = | = |
//! | `exchange_ts` | `timestamp[ns, UTC]` | exchange time | = | = | = |
//! | `stream` | `dictionary<uint16, utf8>` | the stream's name | = | = | = |
//! | `event` | `dictionary<uint8, utf8>` | `trade` | `level` | `quote` | `order` |
//! | `side` | `dictionary<uint8, utf8>` | `buy`, `sell`, `unknown` | `bid`, `ask`, `none` | null | `bid`, `ask`, `none` |
//! | `price`, `size` | `decimal128(38, s)` | the trade's | the level's (size 0 removes it) | null | the order's |
//! | `bid_price`, `bid_size`, `ask_price`, `ask_size` | `decimal128(38, s)` | null | null | the quote's | null |
//! | `action` | `dictionary<uint8, utf8>` | null | null | null | `add`, `modify`, `cancel`, `fill`, ... |
//! | `id` | `uint64` | numeric trade id | null | null | order id |
//! | `id_text` | `utf8` | text trade id | null | null | null |
//! | `update_id` | `uint64` | null | last update id | update id | sequence |
//! | `flags` | `uint8` | null | flags | null | flags |
//!
//! Prices are at the largest price scale of the streams, sizes at the
//! largest size scale (exact: a value is multiplied by a power of ten).

use crate::arrow::{action_name, ts_type, ACTIONS};
use crate::compact::TradeColumns;
use crate::read::trades::{seq_at, BlockSink, Blocks};
use crate::records::level::{BookLevel, BookSide, Quote};
use crate::records::meta::StreamKind;
use crate::records::order::{Action, OrderEvent};
use crate::records::trade::{Side, TextId, Trade};
use crate::{Error, OrderStreamReader, Result, StreamMeta};
use arrow_array::types::{UInt16Type, UInt8Type};
use arrow_array::{
    ArrayRef, Decimal128Array, DictionaryArray, RecordBatch, StringArray, TimestampNanosecondArray,
    UInt16Array, UInt64Array, UInt8Array,
};
use arrow_buffer::{BooleanBuffer, NullBuffer};
use arrow_schema::{DataType, Field, Schema};
use eventstore_log::StreamName;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::path::Path;
use std::sync::Arc;

/// Event codes, in the order of [`EVENTS`].
const TRADE: u8 = 0;
const LEVEL: u8 = 1;
const QUOTE: u8 = 2;
const ORDER: u8 = 3;
/// The `event` column's values.
pub const EVENTS: [&str; 4] = ["trade", "level", "quote", "order"];
/// The `side` column's values.
pub const SIDES: [&str; 6] = ["unknown", "buy", "sell", "none", "bid", "ask"];

fn trade_side(s: Side) -> u8 {
    s as u8
}

fn book_side(s: BookSide) -> u8 {
    3 + s as u8
}

fn action_code(a: Action) -> u8 {
    ACTIONS.iter().position(|&x| x == a).unwrap_or(0) as u8
}

fn dict(t: DataType) -> DataType {
    DataType::Dictionary(Box::new(t), Box::new(DataType::Utf8))
}

/// The schema of a replay whose prices are at `price_scale` and sizes at
/// `size_scale` (see the module's table).
pub fn replay_schema(price_scale: u8, size_scale: u8) -> Schema {
    let price = || DataType::Decimal128(38, price_scale as i8);
    let size = || DataType::Decimal128(38, size_scale as i8);
    let f = Field::new;
    Schema::new(vec![
        f("ts", ts_type(), false),
        f("exchange_ts", ts_type(), false),
        f("stream", dict(DataType::UInt16), false),
        f("event", dict(DataType::UInt8), false),
        f("side", dict(DataType::UInt8), true),
        f("price", price(), true),
        f("size", size(), true),
        f("bid_price", price(), true),
        f("bid_size", size(), true),
        f("ask_price", price(), true),
        f("ask_size", size(), true),
        f("action", dict(DataType::UInt8), true),
        f("id", DataType::UInt64, true),
        f("id_text", DataType::Utf8, true),
        f("update_id", DataType::UInt64, true),
        f("flags", DataType::UInt8, true),
    ])
}

/// Rows of the merged schema as plain columns: a stream's chunk, or the
/// batch being built. Values a row's kind does not have are 0 (their
/// validity follows from `event`).
#[derive(Default)]
struct Events {
    ts: Vec<i64>,
    exchange_ts: Vec<i64>,
    stream: Vec<u16>,
    event: Vec<u8>,
    side: Vec<u8>,
    price: Vec<i128>,
    size: Vec<i128>,
    /// bid price, bid size, ask price, ask size.
    quote: [Vec<i128>; 4],
    action: Vec<u8>,
    id: Vec<u64>,
    /// Rows whose trade id is a text: (row, id), in row order.
    text_ids: Vec<(usize, TextId)>,
    update_id: Vec<u64>,
    flags: Vec<u8>,
}

/// How a stream's values become the replay's: its index and the factors
/// to the replay's scales.
#[derive(Clone, Copy)]
struct Scale {
    stream: u16,
    price: i128,
    size: i128,
}

impl Events {
    fn len(&self) -> usize {
        self.ts.len()
    }

    /// Room for `n` more rows in every column (a batch's columns are
    /// handed to Arrow, so each batch starts with new ones: reserved
    /// once, they are never copied to grow).
    fn reserve(&mut self, n: usize) {
        self.ts.reserve(n);
        self.exchange_ts.reserve(n);
        self.stream.reserve(n);
        self.event.reserve(n);
        self.side.reserve(n);
        self.price.reserve(n);
        self.size.reserve(n);
        for q in &mut self.quote {
            q.reserve(n);
        }
        self.action.reserve(n);
        self.id.reserve(n);
        self.update_id.reserve(n);
        self.flags.reserve(n);
    }

    fn clear(&mut self) {
        self.ts.clear();
        self.exchange_ts.clear();
        self.stream.clear();
        self.event.clear();
        self.side.clear();
        self.price.clear();
        self.size.clear();
        for q in &mut self.quote {
            q.clear();
        }
        self.action.clear();
        self.id.clear();
        self.text_ids.clear();
        self.update_id.clear();
        self.flags.clear();
    }

    #[allow(clippy::too_many_arguments)]
    fn push_row(
        &mut self,
        s: Scale,
        local: i64,
        exchange: i64,
        event: u8,
        side: u8,
        price: i64,
        size: i64,
        quote: [i64; 4],
        action: u8,
        id: u64,
        update_id: u64,
        flags: u8,
    ) {
        self.ts.push(local);
        self.exchange_ts.push(exchange);
        self.stream.push(s.stream);
        self.event.push(event);
        self.side.push(side);
        self.price.push(price as i128 * s.price);
        self.size.push(size as i128 * s.size);
        let f = [s.price, s.size, s.price, s.size];
        for ((col, v), f) in self.quote.iter_mut().zip(quote).zip(f) {
            col.push(v as i128 * f);
        }
        self.action.push(action);
        self.id.push(id);
        self.update_id.push(update_id);
        self.flags.push(flags);
    }

    /// Add the record `b` of a stream of `kind`.
    fn push_record(
        &mut self,
        s: Scale,
        kind: StreamKind,
        b: &[u8],
    ) -> std::result::Result<(), String> {
        match kind {
            StreamKind::Trades => {
                let mut c = TradeColumns::default();
                c.push(&Trade::decode(b)?);
                self.push_trades(s, &c, 0..1);
            }
            StreamKind::BookL2 => self.push_levels(s, &[BookLevel::decode(b)?]),
            StreamKind::Quotes => self.push_quotes(s, &[Quote::decode(b)?]),
            StreamKind::OrdersL3 => self.push_orders(s, &[OrderEvent::decode(b)?]),
        }
        Ok(())
    }

    fn push_levels(&mut self, s: Scale, v: &[BookLevel]) {
        for l in v {
            self.push_row(
                s,
                l.local_ts,
                l.exchange_ts,
                LEVEL,
                book_side(l.side),
                l.price,
                l.size,
                [0; 4],
                0,
                0,
                l.last_update_id,
                l.flags,
            );
        }
    }

    fn push_quotes(&mut self, s: Scale, v: &[Quote]) {
        for q in v {
            self.push_row(
                s,
                q.local_ts,
                q.exchange_ts,
                QUOTE,
                0,
                0,
                0,
                [q.bid_price, q.bid_size, q.ask_price, q.ask_size],
                0,
                0,
                q.update_id,
                0,
            );
        }
    }

    fn push_orders(&mut self, s: Scale, v: &[OrderEvent]) {
        for o in v {
            self.push_row(
                s,
                o.local_ts,
                o.exchange_ts,
                ORDER,
                book_side(o.side),
                o.price,
                o.size,
                [0; 4],
                action_code(o.action),
                o.order_id,
                o.sequence,
                o.flags,
            );
        }
    }

    /// Add the trades of `c`.
    fn push_trades(&mut self, s: Scale, c: &TradeColumns, r: std::ops::Range<usize>) {
        let base = self.len();
        let n = r.len();
        self.ts.extend_from_slice(&c.local_ts[r.clone()]);
        self.exchange_ts
            .extend_from_slice(&c.exchange_ts[r.clone()]);
        self.stream.resize(base + n, s.stream);
        self.event.resize(base + n, TRADE);
        self.side
            .extend(c.side[r.clone()].iter().map(|&x| trade_side(x)));
        self.price
            .extend(c.price[r.clone()].iter().map(|&x| x as i128 * s.price));
        self.size
            .extend(c.size[r.clone()].iter().map(|&x| x as i128 * s.size));
        for q in &mut self.quote {
            q.resize(base + n, 0);
        }
        self.action.resize(base + n, 0);
        self.id.extend_from_slice(&c.id[r.clone()]);
        if !c.text_ids.is_empty() {
            // Text ids are in row order: the run's are one slice of them.
            let lo = c.text_ids.partition_point(|(row, _)| *row < r.start);
            let hi = c.text_ids.partition_point(|(row, _)| *row < r.end);
            self.text_ids.extend(
                c.text_ids[lo..hi]
                    .iter()
                    .map(|&(row, t)| (base + row - r.start, t)),
            );
        }
        self.update_id.resize(base + n, 0);
        self.flags.resize(base + n, 0);
    }

    /// Append rows `r` of `o`.
    fn extend_rows(&mut self, o: &Events, r: std::ops::Range<usize>) {
        let base = self.len();
        // Text ids are in row order: the run's are one slice of them.
        let a = o.text_ids.partition_point(|(row, _)| *row < r.start);
        let b = o.text_ids.partition_point(|(row, _)| *row < r.end);
        for &(row, t) in &o.text_ids[a..b] {
            self.text_ids.push((base + row - r.start, t));
        }
        self.ts.extend_from_slice(&o.ts[r.clone()]);
        self.exchange_ts
            .extend_from_slice(&o.exchange_ts[r.clone()]);
        self.stream.extend_from_slice(&o.stream[r.clone()]);
        self.event.extend_from_slice(&o.event[r.clone()]);
        self.side.extend_from_slice(&o.side[r.clone()]);
        self.price.extend_from_slice(&o.price[r.clone()]);
        self.size.extend_from_slice(&o.size[r.clone()]);
        for (q, oq) in self.quote.iter_mut().zip(&o.quote) {
            q.extend_from_slice(&oq[r.clone()]);
        }
        self.action.extend_from_slice(&o.action[r.clone()]);
        self.id.extend_from_slice(&o.id[r.clone()]);
        self.update_id.extend_from_slice(&o.update_id[r.clone()]);
        self.flags.extend_from_slice(&o.flags[r]);
    }

    /// The rows as a record batch of `schema` (the columns start again
    /// empty).
    fn finish(
        &mut self,
        schema: &Arc<Schema>,
        names: &ArrayRef,
        scales: (u8, u8),
    ) -> std::result::Result<RecordBatch, String> {
        let n = self.len();
        let ev = &self.event;
        let valid = |f: fn(u8) -> bool| {
            Some(NullBuffer::new(BooleanBuffer::collect_bool(
                n,
                |i| f(ev[i]),
            )))
        };
        let priced = valid(|e| e != QUOTE);
        let quoted = valid(|e| e == QUOTE);
        let ordered = valid(|e| e == ORDER);
        let updated = valid(|e| e != TRADE);
        let flagged = valid(|e| e == LEVEL || e == ORDER);
        let texts: Vec<usize> = self.text_ids.iter().map(|t| t.0).collect();
        let id_valid = {
            let mut t = texts.iter().peekable();
            NullBuffer::new(BooleanBuffer::collect_bool(n, |i| {
                if t.peek() == Some(&&i) {
                    t.next();
                    return false;
                }
                ev[i] == TRADE || ev[i] == ORDER
            }))
        };
        let mut id_text: Vec<Option<&str>> = vec![None; n];
        for (row, t) in &self.text_ids {
            if let Some(slot) = id_text.get_mut(*row) {
                *slot = Some(t.as_str());
            }
        }
        let e = |x: arrow_schema::ArrowError| x.to_string();
        let dec = |v: &mut Vec<i128>,
                   s: u8,
                   nulls: &Option<NullBuffer>|
         -> std::result::Result<ArrayRef, String> {
            Ok(Arc::new(
                Decimal128Array::new(std::mem::take(v).into(), nulls.clone())
                    .with_precision_and_scale(38, s as i8)
                    .map_err(e)?,
            ))
        };
        let values = |v: &[&str]| -> ArrayRef { Arc::new(StringArray::from(v.to_vec())) };
        let event_names = values(&EVENTS);
        let side_names = values(&SIDES);
        let action_names: Vec<&str> = ACTIONS.iter().map(|&a| action_name(a)).collect();
        let action_names = values(&action_names);
        let ts = |v: &mut Vec<i64>| -> ArrayRef {
            Arc::new(TimestampNanosecondArray::from(std::mem::take(v)).with_timezone("UTC"))
        };
        let d8 = |keys: &mut Vec<u8>,
                  nulls: Option<NullBuffer>,
                  vals: &ArrayRef|
         -> std::result::Result<ArrayRef, String> {
            let keys = UInt8Array::new(std::mem::take(keys).into(), nulls);
            Ok(Arc::new(
                DictionaryArray::<UInt8Type>::try_new(keys, vals.clone()).map_err(e)?,
            ))
        };
        let stream_keys = UInt16Array::from(std::mem::take(&mut self.stream));
        let [bp, bq, ap, aq] = &mut self.quote;
        let cols: Vec<ArrayRef> = vec![
            ts(&mut self.ts),
            ts(&mut self.exchange_ts),
            Arc::new(
                DictionaryArray::<UInt16Type>::try_new(stream_keys, names.clone()).map_err(e)?,
            ),
            d8(&mut self.event, None, &event_names)?,
            d8(&mut self.side, priced.clone(), &side_names)?,
            dec(&mut self.price, scales.0, &priced)?,
            dec(&mut self.size, scales.1, &priced)?,
            dec(bp, scales.0, &quoted)?,
            dec(bq, scales.1, &quoted)?,
            dec(ap, scales.0, &quoted)?,
            dec(aq, scales.1, &quoted)?,
            d8(&mut self.action, ordered, &action_names)?,
            Arc::new(UInt64Array::new(
                std::mem::take(&mut self.id).into(),
                Some(id_valid),
            )),
            Arc::new(StringArray::from(id_text)),
            Arc::new(UInt64Array::new(
                std::mem::take(&mut self.update_id).into(),
                updated,
            )),
            Arc::new(UInt8Array::new(
                std::mem::take(&mut self.flags).into(),
                flagged,
            )),
        ];
        self.clear();
        RecordBatch::try_new(schema.clone(), cols).map_err(e)
    }
}

/// Where a stream's records come from: its blocks, decoded straight into
/// records of its kind (no stored record in between).
enum Source {
    Trades(Box<Blocks<TradeColumns>>, TradeColumns),
    Levels(Box<Blocks<Vec<BookLevel>>>, Vec<BookLevel>),
    Quotes(Box<Blocks<Vec<Quote>>>, Vec<Quote>),
    Orders(Box<Blocks<Vec<OrderEvent>>>, Vec<OrderEvent>),
}

impl Source {
    /// The records of `kind` in `dir` with sequence numbers in `[from, to)`.
    fn open(kind: StreamKind, dir: &Path, from: u64, to: u64) -> Result<Source> {
        Ok(match kind {
            StreamKind::Trades => Source::Trades(
                Box::new(Blocks::open_seqs(dir, from, to)?),
                Default::default(),
            ),
            StreamKind::BookL2 => {
                Source::Levels(Box::new(Blocks::open_seqs(dir, from, to)?), Vec::new())
            }
            StreamKind::Quotes => {
                Source::Quotes(Box::new(Blocks::open_seqs(dir, from, to)?), Vec::new())
            }
            StreamKind::OrdersL3 => {
                Source::Orders(Box::new(Blocks::open_seqs(dir, from, to)?), Vec::new())
            }
        })
    }
}

/// Read `b` into `v` (emptied first) until it holds at least `n` records,
/// taking whole blocks (of at most `n` records) so that no block is cut at
/// the chunk's end and decoded twice: at most `2n` records.
fn fill<S: BlockSink>(b: &mut Blocks<S>, v: &mut S, n: usize) -> Result<()> {
    v.clear();
    while v.len() < n {
        if b.read_into(v, n)? == 0 {
            break;
        }
    }
    Ok(())
}

/// One stream of a replay: its next chunk of rows.
struct Cursor {
    scale: Scale,
    /// The chunk: the source's records, their receive times.
    source: Source,
    ts: Vec<i64>,
    row: usize,
    done: bool,
}

impl Cursor {
    /// The key of the next row: its receive time, then the stream's place.
    fn key(&self) -> Option<(i64, u16)> {
        self.ts.get(self.row).map(|&t| (t, self.scale.stream))
    }

    fn len(&self) -> usize {
        self.ts.len()
    }

    /// Rows `r` of the chunk, added to `out`.
    fn emit(&self, out: &mut Events, r: std::ops::Range<usize>) {
        let s = self.scale;
        match &self.source {
            Source::Trades(_, c) => out.push_trades(s, c, r),
            Source::Levels(_, v) => out.push_levels(s, &v[r]),
            Source::Quotes(_, v) => out.push_quotes(s, &v[r]),
            Source::Orders(_, v) => out.push_orders(s, &v[r]),
        }
    }

    /// Read the next chunk of at most `n` rows (`done` at the end).
    fn refill(&mut self, n: usize) -> Result<()> {
        self.row = 0;
        self.ts.clear();
        match &mut self.source {
            Source::Trades(b, c) => {
                fill(b, c, n)?;
                self.ts.extend_from_slice(&c.local_ts);
            }
            Source::Levels(b, v) => {
                fill(b, v, n)?;
                self.ts.extend(v.iter().map(|x| x.local_ts));
            }
            Source::Quotes(b, v) => {
                fill(b, v, n)?;
                self.ts.extend(v.iter().map(|x| x.local_ts));
            }
            Source::Orders(b, v) => {
                fill(b, v, n)?;
                self.ts.extend(v.iter().map(|x| x.local_ts));
            }
        }
        self.done = self.ts.is_empty();
        Ok(())
    }
}

/// Rows a stream reads at a time.
const CHUNK_ROWS: usize = 8192;

/// Many market streams merged by receive time into record batches of at
/// most a given number of rows (see the module's documentation).
pub struct Replay {
    schema: Arc<Schema>,
    names: ArrayRef,
    scales: (u8, u8),
    cursors: Vec<Cursor>,
    heap: BinaryHeap<Reverse<(i64, u16)>>,
    /// Books at the start still to be emitted, in the streams' order.
    books: VecDeque<Events>,
    out: Events,
    rows: usize,
}

impl Replay {
    /// The streams `names` under `root`, every record received in
    /// `[from_ns, to_ns)`, order streams starting with their book at
    /// `from_ns`; batches of at most `rows` rows.
    pub fn open(
        root: &Path,
        names: &[StreamName],
        from_ns: Option<i64>,
        to_ns: Option<i64>,
        rows: usize,
    ) -> Result<Replay> {
        if names.is_empty() {
            return Err(Error::Arrow {
                stream: "replay".into(),
                reason: "no streams to replay".into(),
            });
        }
        if names.len() > u16::MAX as usize {
            return Err(Error::Arrow {
                stream: "replay".into(),
                reason: format!(
                    "{} streams; a replay takes at most {}",
                    names.len(),
                    u16::MAX
                ),
            });
        }
        let mut metas = Vec::with_capacity(names.len());
        for name in names {
            let dir = name.dir(root);
            let meta = StreamMeta::load(&dir)?.ok_or_else(|| Error::Meta {
                path: dir.join(crate::records::meta::META_FILE),
                reason: format!("{name} has no market metadata: not a market stream"),
            })?;
            metas.push(meta);
        }
        let ps = metas.iter().map(|m| m.price_scale).max().unwrap_or(0);
        let ss = metas.iter().map(|m| m.size_scale).max().unwrap_or(0);
        let rows = rows.max(1);
        let chunk = CHUNK_ROWS.min(rows).max(64);
        let mut cursors = Vec::with_capacity(names.len());
        let mut books = VecDeque::new();
        for (i, (name, meta)) in names.iter().zip(&metas).enumerate() {
            let dir = name.dir(root);
            let scale = Scale {
                stream: i as u16,
                price: 10i128.pow((ps - meta.price_scale) as u32),
                size: 10i128.pow((ss - meta.size_scale) as u32),
            };
            let mut from = None;
            if let (Some(t), StreamKind::BookL2 | StreamKind::OrdersL3) = (from_ns, meta.kind) {
                let at = OrderStreamReader::open(root, name)?
                    .read_only()
                    .book_at(t)?;
                // The book's next record is where the stream's rows start.
                from = Some(at.next_seq);
                let mut book = Events::default();
                for (k, r) in at.book_records(t).iter().enumerate() {
                    book.push_record(scale, meta.kind, r)
                        .map_err(|reason| Error::Arrow {
                            stream: name.to_string(),
                            reason: format!("its book at {t}, record {k}: {reason}"),
                        })?;
                }
                books.push_back(book);
            }
            let from = match from {
                Some(s) => s,
                None => seq_at(&dir, from_ns, 0)?,
            };
            let source = Source::open(meta.kind, &dir, from, seq_at(&dir, to_ns, u64::MAX)?)?;
            let mut c = Cursor {
                scale,
                source,
                ts: Vec::new(),
                row: 0,
                done: false,
            };
            c.refill(chunk)?;
            cursors.push(c);
        }
        let heap = cursors
            .iter()
            .filter_map(|c| c.key().map(Reverse))
            .collect();
        let values: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        Ok(Replay {
            schema: Arc::new(replay_schema(ps, ss)),
            names: Arc::new(StringArray::from(values)),
            scales: (ps, ss),
            cursors,
            heap,
            books,
            out: Events::default(),
            rows,
        })
    }

    /// The schema of every batch.
    pub fn schema(&self) -> Arc<Schema> {
        self.schema.clone()
    }

    /// The next batch; `None` after the last.
    pub fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        let rows = self.rows;
        if self.out.len() == 0 {
            self.out.reserve(rows);
        }
        while let Some(b) = self.books.front_mut() {
            let room = rows - self.out.len();
            let take = room.min(b.len());
            self.out.extend_rows(b, 0..take);
            if take == b.len() {
                self.books.pop_front();
            } else {
                // The rest of a book larger than a batch: the next batch's.
                let mut rest = Events::default();
                rest.extend_rows(b, take..b.len());
                *b = rest;
            }
            if self.out.len() == rows {
                break;
            }
        }
        let chunk = CHUNK_ROWS.min(rows).max(64);
        while self.out.len() < rows {
            let Some(Reverse((_, i))) = self.heap.pop() else {
                break;
            };
            let bound = self.heap.peek().map(|Reverse(k)| *k);
            let c = &mut self.cursors[i as usize];
            loop {
                let lim = c.len().min(c.row + (rows - self.out.len()));
                // The rows before the next stream's next row.
                let end = match bound {
                    None => lim,
                    Some(b) => {
                        let mut e = c.row;
                        while e < lim && (c.ts[e], i) < b {
                            e += 1;
                        }
                        e
                    }
                };
                c.emit(&mut self.out, c.row..end);
                c.row = end;
                if c.row < c.len() || self.out.len() == rows {
                    break;
                }
                c.refill(chunk)?;
                if c.done || bound.is_some_and(|b| c.key().is_some_and(|k| k > b)) {
                    break;
                }
            }
            if c.row == c.len() && !c.done {
                c.refill(chunk)?;
            }
            if let Some(k) = c.key() {
                self.heap.push(Reverse(k));
            }
        }
        if self.out.len() == 0 {
            return Ok(None);
        }
        self.out
            .finish(&self.schema, &self.names, self.scales)
            .map(Some)
            .map_err(|reason| Error::Arrow {
                stream: "replay".into(),
                reason,
            })
    }
}

impl Iterator for Replay {
    type Item = Result<RecordBatch>;
    fn next(&mut self) -> Option<Self::Item> {
        self.next_batch().transpose()
    }
}
