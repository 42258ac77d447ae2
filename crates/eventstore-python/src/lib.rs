//! The native part of the `eventstore` Python package (`eventstore._eventstore`).
//!
//! Every result leaves Rust as Arrow record batches through the Arrow C
//! stream interface (`__arrow_c_stream__`, the PyCapsule protocol), so
//! pyarrow, polars and DuckDB take the buffers without a copy. Batches are
//! made when the consumer asks for the next one: memory is one batch,
//! whatever the range. The Python layer (`python/eventstore/__init__.py`)
//! turns times into nanoseconds and the streams into tables.

use arrow_array::builder::{
    BinaryBuilder, BooleanBuilder, Decimal128Builder, TimestampNanosecondBuilder, UInt64Builder,
};
use arrow_array::ffi_stream::FFI_ArrowArrayStream;
use arrow_array::{ArrayRef, RecordBatch, RecordBatchReader, StringArray, UInt32Array};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef, TimeUnit};
use eventstore_log::{ReadOptions, StreamName, StreamReader};
use eventstore_market::read::bars::{Bar, Bars};
use eventstore_market::read::orders::BookRow;
use eventstore_market::{OrderStreamReader, StreamMeta, TradeStreamReader};
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::PyCapsule;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

pyo3::create_exception!(
    _eventstore,
    EventStoreError,
    PyException,
    "An error from the store: the message names what was wrong and where (stream, file, offset, sequence)."
);

fn err(e: impl std::fmt::Display) -> PyErr {
    EventStoreError::new_err(e.to_string())
}

/// Rows of a batch when the caller gives none.
const BATCH_ROWS: usize = 65_536;

/// The next batch of a result; `None` after the last.
type NextBatch = Box<dyn FnMut() -> Result<Option<RecordBatch>, String> + Send>;

/// A result's batches, as the Arrow C stream interface pulls them.
struct Batches {
    schema: SchemaRef,
    next: NextBatch,
    done: bool,
}

impl Iterator for Batches {
    type Item = Result<RecordBatch, ArrowError>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match (self.next)() {
            Ok(Some(b)) => Some(Ok(b)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(ArrowError::ExternalError(e.into())))
            }
        }
    }
}

impl RecordBatchReader for Batches {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}

/// A stream of Arrow record batches: pass it to `pyarrow.table`,
/// `pyarrow.RecordBatchReader.from_stream`, `polars.DataFrame` or DuckDB.
/// It can be consumed once.
#[pyclass(module = "eventstore._eventstore")]
struct ArrowStream {
    inner: Mutex<Option<Batches>>,
    schema: SchemaRef,
}

impl ArrowStream {
    fn new(schema: SchemaRef, next: NextBatch) -> ArrowStream {
        ArrowStream {
            inner: Mutex::new(Some(Batches {
                schema: schema.clone(),
                next,
                done: false,
            })),
            schema,
        }
    }

    /// A stream of the one batch `b` (a small result: a book, say).
    fn one(b: RecordBatch) -> ArrowStream {
        let schema = b.schema();
        let mut b = Some(b);
        ArrowStream::new(schema, Box::new(move || Ok(b.take())))
    }
}

#[pymethods]
impl ArrowStream {
    /// The Arrow PyCapsule stream protocol.
    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        // The schema is what it is; a consumer that wants another casts.
        let _ = requested_schema;
        let batches = self
            .inner
            .lock()
            .map_err(|_| err("the stream's lock was poisoned"))?
            .take()
            .ok_or_else(|| err("this stream was already consumed: ask the store again"))?;
        let ffi = FFI_ArrowArrayStream::new(Box::new(batches));
        PyCapsule::new(py, ffi, Some(c"arrow_array_stream".to_owned()))
    }

    /// The columns' names, in order.
    #[getter]
    fn columns(&self) -> Vec<String> {
        self.schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect()
    }

    fn __repr__(&self) -> String {
        format!("<eventstore.ArrowStream {}>", self.columns().join(", "))
    }
}

fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()))
}

fn stream_name(s: &str) -> PyResult<StreamName> {
    StreamName::new(s).map_err(err)
}

/// The kind of the stream in `dir`: its market metadata's, or `raw`.
fn kind_of(dir: &std::path::Path) -> PyResult<String> {
    Ok(match StreamMeta::load(dir).map_err(err)? {
        Some(m) => m.kind.to_string(),
        None => "raw".into(),
    })
}

/// Decimal column builders at a scale.
fn decimals(n: usize, scale: u8) -> Decimal128Builder {
    Decimal128Builder::with_capacity(n).with_data_type(DataType::Decimal128(38, scale as i8))
}

/// A store: a folder of streams, or a remote read through a local cache
/// folder.
#[pyclass(module = "eventstore._eventstore")]
struct Store {
    /// The folder read: the store, or the remote's cache.
    root: PathBuf,
    remote: Option<RemoteStore>,
}

/// A remote store: the cache, the runtime its requests run on, and what
/// it fetched so far.
struct RemoteStore {
    cache: eventstore_remote::RemoteCache,
    rt: tokio::runtime::Runtime,
    stats: Mutex<CacheStats>,
}

#[derive(Default)]
struct CacheStats {
    downloaded: u64,
    bytes: u64,
    hits: u64,
    evicted: u64,
    last: Vec<String>,
}

/// The time bound that asks a remote for a stream's metadata only.
const METADATA_ONLY: Option<i64> = Some(i64::MIN);

impl Store {
    fn dir(&self, stream: &str) -> PyResult<PathBuf> {
        let name = stream_name(stream)?;
        let dir = name.dir(&self.root);
        if !eventstore_log::files::is_stream_dir(&dir) {
            return Err(err(format!(
                "no stream {stream} under {}",
                self.root.display()
            )));
        }
        Ok(dir)
    }

    /// The folder of `stream`, holding every file with records received
    /// in `[from, to)`: for a remote store, fetched into the cache first.
    fn need(&self, stream: &str, from: Option<i64>, to: Option<i64>) -> PyResult<PathBuf> {
        if let Some(r) = &self.remote {
            let name = stream_name(stream)?;
            // Without the GIL: other Python threads run while it waits.
            let rep =
                Python::attach(|py| py.detach(|| r.rt.block_on(r.cache.fetch(&name, from, to))))
                    .map_err(err)?;
            let mut st = r
                .stats
                .lock()
                .map_err(|_| err("the cache's counters are poisoned"))?;
            st.downloaded += rep.downloaded.len() as u64;
            st.bytes += rep.bytes;
            st.hits += rep.hits as u64;
            st.evicted += rep.evicted.len() as u64;
            st.last = rep.downloaded;
            // The remote holds the stream (else the fetch said so); the
            // folder may hold only its metadata, for a range without files.
            let dir = name.dir(&self.root);
            std::fs::create_dir_all(&dir).map_err(|e| err(format!("{}: {e}", dir.display())))?;
            return Ok(dir);
        }
        self.dir(stream)
    }
}

#[pymethods]
impl Store {
    /// A store at a folder, or (`cache` given) a remote at a URL
    /// (`s3://bucket/prefix`, `az://container/prefix`, `file:///path`)
    /// read through the folder `cache`, which holds at most `cache_bytes`.
    #[new]
    #[pyo3(signature = (root, cache=None, cache_bytes=None, endpoint=None))]
    fn py_new(
        root: String,
        cache: Option<PathBuf>,
        cache_bytes: Option<u64>,
        endpoint: Option<String>,
    ) -> PyResult<Store> {
        let Some(cache) = cache else {
            let root = PathBuf::from(root);
            if !root.is_dir() {
                return Err(err(format!("no store at {}: not a folder", root.display())));
            }
            return Ok(Store { root, remote: None });
        };
        let mut opts = eventstore_remote::RemoteOptions::default();
        if let Some(ep) = endpoint {
            opts.s3.endpoint = Some(ep.clone());
            opts.azure.endpoint = Some(ep);
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| err(format!("can not start the remote's runtime: {e}")))?;
        // object_store's clients need a runtime about them when built.
        let remote = {
            let _in = rt.enter();
            eventstore_remote::Remote::open(&root, &opts).map_err(err)?
        };
        let mut copts = eventstore_remote::CacheOptions::default();
        if let Some(b) = cache_bytes {
            copts.limit_bytes = b;
        }
        let cache = eventstore_remote::RemoteCache::new(remote, &cache, copts).map_err(err)?;
        Ok(Store {
            root: cache.root().to_path_buf(),
            remote: Some(RemoteStore {
                cache,
                rt,
                stats: Mutex::new(CacheStats::default()),
            }),
        })
    }

    /// The remote's URL (None for a local store).
    #[getter]
    fn url(&self) -> Option<String> {
        self.remote.as_ref().map(|r| r.cache.url().to_string())
    }

    /// What a remote store's cache did so far: files downloaded, bytes,
    /// hits (files a query needed that the cache held), files evicted, and
    /// the files the last query downloaded.
    #[allow(clippy::type_complexity)]
    fn cache_info(&self) -> PyResult<Option<(u64, u64, u64, u64, Vec<String>)>> {
        let Some(r) = &self.remote else {
            return Ok(None);
        };
        let st = r
            .stats
            .lock()
            .map_err(|_| err("the cache's counters are poisoned"))?;
        Ok(Some((
            st.downloaded,
            st.bytes,
            st.hits,
            st.evicted,
            st.last.clone(),
        )))
    }

    /// A remote store's streams as listed: (name, kind, files, first file
    /// start, last file start, bytes, files in the cache).
    #[allow(clippy::type_complexity)]
    fn remote_streams(
        &self,
    ) -> PyResult<Vec<(String, String, u64, Option<i64>, Option<i64>, u64, u64)>> {
        let Some(r) = &self.remote else {
            return Err(err("not a remote store"));
        };
        let listing =
            Python::attach(|py| py.detach(|| r.rt.block_on(r.cache.streams()))).map_err(err)?;
        let mut out = Vec::new();
        for s in listing.streams {
            let files: Vec<_> = s.files.iter().filter(|f| f.complete).collect();
            let dir = s.name.dir(&self.root);
            let cached = files.iter().filter(|f| dir.join(&f.name).exists()).count() as u64;
            let kind = if dir.is_dir() {
                kind_of(&dir)?
            } else {
                "raw".into()
            };
            out.push((
                s.name.to_string(),
                kind,
                files.len() as u64,
                files.first().map(|f| f.start_ns),
                files.last().map(|f| f.start_ns),
                files.iter().map(|f| f.size).sum(),
                cached,
            ));
        }
        Ok(out)
    }

    /// The store's folder.
    #[getter]
    fn root(&self) -> PathBuf {
        self.root.clone()
    }

    /// Every stream: (name, kind, files, records, first_ts, last_ts,
    /// bytes, sealed files, compact files).
    #[allow(clippy::type_complexity)]
    fn streams(
        &self,
    ) -> PyResult<
        Vec<(
            String,
            String,
            u64,
            u64,
            Option<i64>,
            Option<i64>,
            u64,
            u64,
            u64,
        )>,
    > {
        let mut out = Vec::new();
        for name in eventstore_log::files::list_streams(&self.root).map_err(err)? {
            let dir = name.dir(&self.root);
            let info = eventstore_log::stream_info(&dir).map_err(err)?;
            let kind = kind_of(&dir)?;
            let first = info.files.iter().filter_map(|f| f.min_ts).min();
            let last = info.files.iter().filter_map(|f| f.max_ts).max();
            let sealed = info.files.iter().filter(|f| f.sealed).count() as u64;
            let compact = info
                .files
                .iter()
                .filter(|f| f.form == eventstore_log::format::Form::Compact)
                .count() as u64;
            out.push((
                name.to_string(),
                kind,
                info.files.len() as u64,
                info.records(),
                first,
                last,
                info.bytes(),
                sealed,
                compact,
            ));
        }
        Ok(out)
    }

    /// The kind of a stream's records (`trades`, `book_l2`, `quotes`,
    /// `orders_l3`, or `raw` for a stream without market metadata).
    fn kind(&self, stream: &str) -> PyResult<String> {
        kind_of(&self.need(stream, None, METADATA_ONLY)?)
    }

    /// The stream's market metadata as JSON text.
    fn metadata(&self, stream: &str) -> PyResult<String> {
        let dir = self.need(stream, None, METADATA_ONLY)?;
        std::fs::read_to_string(dir.join("market.json"))
            .map_err(|e| err(format!("{}: {e}", dir.join("market.json").display())))
    }

    /// A market stream's records received in `[start, end)` as batches of
    /// its kind's schema.
    #[pyo3(signature = (stream, start=None, end=None, rows=BATCH_ROWS))]
    fn records(
        &self,
        stream: &str,
        start: Option<i64>,
        end: Option<i64>,
        rows: usize,
    ) -> PyResult<ArrowStream> {
        // Batches::open says when it is not a market stream.
        self.need(stream, start, end)?;
        let name = stream_name(stream)?;
        let mut b = eventstore_market::arrow::Batches::open(&self.root, &name, start, end, rows)
            .map_err(err)?;
        let schema = b.schema();
        Ok(ArrowStream::new(
            schema,
            Box::new(move || b.next_batch().map_err(|e| e.to_string())),
        ))
    }

    /// Any stream's records received in `[start, end)`: sequence, time and
    /// payload.
    #[pyo3(signature = (stream, start=None, end=None, rows=BATCH_ROWS))]
    fn read(
        &self,
        stream: &str,
        start: Option<i64>,
        end: Option<i64>,
        rows: usize,
    ) -> PyResult<ArrowStream> {
        let dir = self.need(stream, start, end)?;
        let opts = ReadOptions::received_in(start, end);
        let mut r = StreamReader::open_dir(&dir, opts).map_err(err)?;
        let schema = Arc::new(Schema::new(vec![
            Field::new("seq", DataType::UInt64, false),
            Field::new("ts", ts_type(), false),
            Field::new("payload", DataType::Binary, false),
        ]));
        let s = schema.clone();
        let rows = rows.max(1);
        Ok(ArrowStream::new(
            schema,
            Box::new(move || {
                let mut seq = UInt64Builder::with_capacity(rows);
                let mut ts = TimestampNanosecondBuilder::with_capacity(rows);
                let mut payload = BinaryBuilder::new();
                let mut n = 0;
                while n < rows {
                    let Some(rec) = r.next().map_err(|e| e.to_string())? else {
                        break;
                    };
                    seq.append_value(rec.seq);
                    ts.append_value(rec.timestamp);
                    payload.append_value(rec.payload);
                    n += 1;
                }
                if n == 0 {
                    return Ok(None);
                }
                let cols: Vec<ArrayRef> = vec![
                    Arc::new(seq.finish()),
                    Arc::new(ts.finish().with_timezone("UTC")),
                    Arc::new(payload.finish()),
                ];
                RecordBatch::try_new(s.clone(), cols)
                    .map(Some)
                    .map_err(|e| e.to_string())
            }),
        ))
    }

    /// OHLCV bars of `interval_ns` over the trades received in `[start,
    /// end)`, aligned to multiples of the interval since the epoch (UTC);
    /// intervals without trades are skipped.
    #[pyo3(signature = (stream, interval_ns, start=None, end=None))]
    fn bars(
        &self,
        stream: &str,
        interval_ns: i64,
        start: Option<i64>,
        end: Option<i64>,
    ) -> PyResult<ArrowStream> {
        if interval_ns <= 0 {
            return Err(err(format!(
                "the bar interval must be positive, not {interval_ns} ns"
            )));
        }
        self.need(stream, start, end)?;
        let name = stream_name(stream)?;
        let r = TradeStreamReader::open(&self.root, &name, start, end).map_err(err)?;
        let m = r.meta().clone();
        let mut bars = Bars::new(r, interval_ns);
        let price = || DataType::Decimal128(38, m.price_scale as i8);
        let size = || DataType::Decimal128(38, m.size_scale as i8);
        let schema = Arc::new(Schema::new(vec![
            Field::new("start", ts_type(), false),
            Field::new("open", price(), false),
            Field::new("high", price(), false),
            Field::new("low", price(), false),
            Field::new("close", price(), false),
            Field::new("volume", size(), false),
            Field::new("buy_volume", size(), false),
            Field::new("sell_volume", size(), false),
            Field::new("vwap", price(), true),
            Field::new("trades", DataType::UInt64, false),
        ]));
        Ok(rows_stream(
            schema,
            BATCH_ROWS,
            move || bars.try_next().map_err(|e| e.to_string()),
            move |s, v: &[Bar]| bars_batch(s, &m, v),
        ))
    }

    /// The book as of `at` (every record received before it applied):
    /// the best `depth` levels of each side as rows (side, level, price,
    /// size), and its state.
    #[pyo3(signature = (stream, at, depth=10))]
    fn book(&self, stream: &str, at: i64, depth: usize) -> PyResult<(ArrowStream, BookState)> {
        self.need(stream, Some(at), at.checked_add(1))?;
        let name = stream_name(stream)?;
        let r = OrderStreamReader::open(&self.root, &name).map_err(err)?;
        let m = r.meta().clone();
        let depth = m.depth.map_or(depth, |d| depth.min(d as usize));
        let b = r.book_at(at).map_err(err)?;
        let (bids, asks) = b.replay.depth(depth);
        let st = b.replay.state();
        let state = BookState {
            at,
            reliable: b.replay.is_reliable(),
            since: st.since,
            cause: if st.reliable {
                None
            } else {
                Some(st.cause.as_str().to_string())
            },
            gaps: b.replay.gaps(),
            crossed: b.replay.is_crossed(),
            snapshot_file: b.file.display().to_string(),
            replayed: b.replayed,
        };
        let schema = Arc::new(Schema::new(vec![
            Field::new("side", DataType::Utf8, false),
            Field::new("level", DataType::UInt32, false),
            Field::new(
                "price",
                DataType::Decimal128(38, m.price_scale as i8),
                false,
            ),
            Field::new("size", DataType::Decimal128(38, m.size_scale as i8), false),
        ]));
        let n = bids.len() + asks.len();
        let mut side = Vec::with_capacity(n);
        let mut level = Vec::with_capacity(n);
        let mut price = decimals(n, m.price_scale);
        let mut size = decimals(n, m.size_scale);
        for (name, levels) in [("bid", &bids), ("ask", &asks)] {
            for (i, (p, q)) in levels.iter().enumerate() {
                side.push(name);
                level.push(i as u32);
                price.append_value(*p as i128);
                size.append_value(*q as i128);
            }
        }
        let cols: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(side)),
            Arc::new(UInt32Array::from(level)),
            Arc::new(price.finish()),
            Arc::new(size.finish()),
        ];
        let batch = RecordBatch::try_new(schema, cols).map_err(err)?;
        Ok((ArrowStream::one(batch), state))
    }

    /// The best `depth` levels of each side every `interval_ns` from
    /// `start` until `end` (or the last record), one wide row per time:
    /// `ts`, `reliable`, then `bid_price_0`, `bid_size_0`, `ask_price_0`,
    /// `ask_size_0`, ... (null past the book's depth).
    #[pyo3(signature = (stream, interval_ns, depth, start, end=None))]
    fn book_snapshots(
        &self,
        stream: &str,
        interval_ns: i64,
        depth: usize,
        start: i64,
        end: Option<i64>,
    ) -> PyResult<ArrowStream> {
        self.need(stream, Some(start), end)?;
        let name = stream_name(stream)?;
        let r = OrderStreamReader::open(&self.root, &name).map_err(err)?;
        let m = r.meta().clone();
        let step = std::time::Duration::from_nanos(u64::try_from(interval_ns).unwrap_or(0));
        let mut rows = r.every(start, end, step, depth).map_err(err)?;
        let mut fields = vec![
            Field::new("ts", ts_type(), false),
            Field::new("reliable", DataType::Boolean, false),
        ];
        for i in 0..depth {
            for side in ["bid", "ask"] {
                fields.push(Field::new(
                    format!("{side}_price_{i}"),
                    DataType::Decimal128(38, m.price_scale as i8),
                    true,
                ));
                fields.push(Field::new(
                    format!("{side}_size_{i}"),
                    DataType::Decimal128(38, m.size_scale as i8),
                    true,
                ));
            }
        }
        let schema = Arc::new(Schema::new(fields));
        let batch_rows = (BATCH_ROWS / (4 * depth + 2).max(1)).max(1);
        Ok(rows_stream(
            schema,
            batch_rows,
            move || rows.try_next().map_err(|e| e.to_string()),
            move |s, v: &[BookRow]| snapshots_batch(s, &m, depth, v),
        ))
    }

    /// Many market streams merged into one stream of batches in receive
    /// time (ties: the streams' order as given, then each stream's own
    /// order), every record received in `[start, end)`; each order stream
    /// starts with its book at `start`. Memory is one chunk per stream and
    /// one batch, however long the range.
    #[pyo3(signature = (streams, start=None, end=None, rows=BATCH_ROWS))]
    fn replay(
        &self,
        streams: Vec<String>,
        start: Option<i64>,
        end: Option<i64>,
        rows: usize,
    ) -> PyResult<ArrowStream> {
        let mut names = Vec::with_capacity(streams.len());
        for s in &streams {
            self.need(s, start, end)?;
            names.push(stream_name(s)?);
        }
        let mut r = eventstore_market::replay::Replay::open(&self.root, &names, start, end, rows)
            .map_err(err)?;
        Ok(ArrowStream::new(
            r.schema(),
            Box::new(move || r.next_batch().map_err(|e| e.to_string())),
        ))
    }

    fn __repr__(&self) -> String {
        format!("eventstore.Store({:?})", self.root.display().to_string())
    }
}

/// A stream of batches of at most `max` rows, each built by `build` from
/// the rows `next` gives until it gives `None`.
fn rows_stream<T: 'static>(
    schema: SchemaRef,
    max: usize,
    mut next: impl FnMut() -> Result<Option<T>, String> + Send + 'static,
    build: impl Fn(&SchemaRef, &[T]) -> Result<RecordBatch, String> + Send + 'static,
) -> ArrowStream {
    let s = schema.clone();
    ArrowStream::new(
        schema,
        Box::new(move || {
            let mut v = Vec::new();
            while v.len() < max {
                match next()? {
                    Some(r) => v.push(r),
                    None => break,
                }
            }
            if v.is_empty() {
                return Ok(None);
            }
            build(&s, &v).map(Some)
        }),
    )
}

fn bars_batch(s: &SchemaRef, m: &StreamMeta, v: &[Bar]) -> Result<RecordBatch, String> {
    let n = v.len();
    let mut start = TimestampNanosecondBuilder::with_capacity(n);
    let mut p: Vec<Decimal128Builder> = (0..4).map(|_| decimals(n, m.price_scale)).collect();
    let mut q: Vec<Decimal128Builder> = (0..3).map(|_| decimals(n, m.size_scale)).collect();
    let mut vwap = decimals(n, m.price_scale);
    let mut trades = UInt64Builder::with_capacity(n);
    for b in v {
        start.append_value(b.start_ns);
        for (col, x) in p.iter_mut().zip([b.open, b.high, b.low, b.close]) {
            col.append_value(x as i128);
        }
        for (col, x) in q.iter_mut().zip([b.volume, b.buy_volume, b.sell_volume]) {
            col.append_value(x as i128);
        }
        vwap.append_option(b.vwap().map(|x| x as i128));
        trades.append_value(b.trades);
    }
    let mut cols: Vec<ArrayRef> = vec![Arc::new(start.finish().with_timezone("UTC"))];
    cols.extend(p.iter_mut().map(|c| Arc::new(c.finish()) as ArrayRef));
    cols.extend(q.iter_mut().map(|c| Arc::new(c.finish()) as ArrayRef));
    cols.push(Arc::new(vwap.finish()));
    cols.push(Arc::new(trades.finish()));
    RecordBatch::try_new(s.clone(), cols).map_err(|e| e.to_string())
}

fn snapshots_batch(
    s: &SchemaRef,
    m: &StreamMeta,
    depth: usize,
    v: &[BookRow],
) -> Result<RecordBatch, String> {
    let n = v.len();
    let mut ts = TimestampNanosecondBuilder::with_capacity(n);
    let mut reliable = BooleanBuilder::with_capacity(n);
    // Per level: bid price, bid size, ask price, ask size.
    let mut levels: Vec<[Decimal128Builder; 4]> = (0..depth)
        .map(|_| {
            [
                decimals(n, m.price_scale),
                decimals(n, m.size_scale),
                decimals(n, m.price_scale),
                decimals(n, m.size_scale),
            ]
        })
        .collect();
    for r in v {
        ts.append_value(r.ts);
        reliable.append_value(r.reliable);
        for (i, [bp, bq, ap, aq]) in levels.iter_mut().enumerate() {
            let b = r.bids.get(i);
            bp.append_option(b.map(|l| l.0 as i128));
            bq.append_option(b.map(|l| l.1 as i128));
            let a = r.asks.get(i);
            ap.append_option(a.map(|l| l.0 as i128));
            aq.append_option(a.map(|l| l.1 as i128));
        }
    }
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(ts.finish().with_timezone("UTC")),
        Arc::new(reliable.finish()),
    ];
    for l in levels.iter_mut() {
        for c in l.iter_mut() {
            cols.push(Arc::new(c.finish()));
        }
    }
    RecordBatch::try_new(s.clone(), cols).map_err(|e| e.to_string())
}

/// The state of a book as of a time.
#[pyclass(module = "eventstore._eventstore", get_all, frozen)]
struct BookState {
    /// The time asked for (ns since the epoch).
    at: i64,
    /// Every update since the last snapshot chained by the venue's ids.
    reliable: bool,
    /// Since when the book has been in this state (ns; 0: the start).
    since: i64,
    /// Why it is unreliable (`None` when reliable).
    cause: Option<String>,
    /// Gaps in the venue's update ids so far.
    gaps: u64,
    /// Best bid at or above best ask.
    crossed: bool,
    /// The file whose snapshot the book started from.
    snapshot_file: String,
    /// Records replayed after that snapshot.
    replayed: u64,
}

#[pymethods]
impl BookState {
    fn __repr__(&self) -> String {
        format!(
            "BookState(at={}, reliable={}, since={}, cause={:?}, gaps={}, crossed={}, replayed={})",
            eventstore_log::time::format_utc(self.at),
            self.reliable,
            self.since,
            self.cause,
            self.gaps,
            self.crossed,
            self.replayed
        )
    }
}

/// Append records to a stream (the stream's single writer).
#[pyclass(module = "eventstore._eventstore")]
struct Writer {
    inner: Option<eventstore_log::StreamWriter>,
    stream: String,
    /// A market stream's metadata: its records are appended from Arrow.
    meta: Option<StreamMeta>,
}

impl Writer {
    fn w(&mut self) -> PyResult<&mut eventstore_log::StreamWriter> {
        let stream = &self.stream;
        self.inner
            .as_mut()
            .ok_or_else(|| err(format!("the writer of {stream} is closed")))
    }
}

#[pymethods]
impl Writer {
    #[new]
    #[pyo3(signature = (root, stream, roll="1h", durability="os", by_record_time=false, compact=false))]
    fn py_new(
        root: PathBuf,
        stream: &str,
        roll: &str,
        durability: &str,
        by_record_time: bool,
        compact: bool,
    ) -> PyResult<Writer> {
        let name = stream_name(stream)?;
        let mut opts = eventstore_log::WriterOptions::default()
            .roll(eventstore_log::RollInterval::parse(roll).map_err(err)?)
            .durability(durability.parse().map_err(err)?);
        if by_record_time {
            opts = opts.roll_by(eventstore_log::RollBy::RecordTime);
        }
        if compact {
            opts = opts.compact(Some(eventstore_log::CompactOptions::default()));
        }
        let w = eventstore_log::StreamWriter::open(&root, &name, opts).map_err(err)?;
        Ok(Writer {
            inner: Some(w),
            stream: stream.to_string(),
            meta: None,
        })
    }

    /// Make the stream a market stream of `kind` (its metadata stored
    /// beside it), or check that it is one with these scales.
    fn set_market(
        &mut self,
        kind: &str,
        venue: &str,
        symbol: &str,
        price_scale: u8,
        size_scale: u8,
    ) -> PyResult<()> {
        let meta = market_meta(kind, venue, symbol, price_scale, size_scale)?;
        let dir = self.w()?.dir().to_path_buf();
        match StreamMeta::load(&dir).map_err(err)? {
            Some(m) => {
                if (m.kind, m.price_scale, m.size_scale)
                    != (meta.kind, meta.price_scale, meta.size_scale)
                {
                    return Err(err(format!(
                        "{} holds {} records at price scale {} and size scale {}, not {kind} at {price_scale} and {size_scale}",
                        self.stream,
                        m.kind.as_str(),
                        m.price_scale,
                        m.size_scale
                    )));
                }
                self.meta = Some(m);
            }
            None => {
                if self.w()?.next_seq() != 0 {
                    return Err(err(format!(
                        "{} already holds records without market metadata: not a market stream",
                        self.stream
                    )));
                }
                meta.store(&dir).map_err(err)?;
                self.meta = Some(meta);
            }
        }
        Ok(())
    }

    /// Append the rows of `data` (anything with `__arrow_c_stream__`, in
    /// the stream's kind's schema) as records, each at its `local_ts`;
    /// returns the first and the next sequence numbers. A bad row is an
    /// error naming it, and nothing of the call is appended.
    fn append_records(&mut self, data: &Bound<'_, PyAny>) -> PyResult<(u64, u64)> {
        let stream = self.stream.clone();
        let Some(meta) = self.meta.clone() else {
            return Err(err(format!(
                "{stream} is not a market stream: give kind= to the writer"
            )));
        };
        let mut records = Vec::new();
        let mut row = 0u64;
        for batch in import_stream(data)? {
            let batch = batch.map_err(|e| err(format!("{stream}: reading the rows: {e}")))?;
            eventstore_market::arrow::encode_batch(&meta, &batch, row, &mut records)
                .map_err(|e| err(format!("{stream}: {e}")))?;
            row += batch.num_rows() as u64;
        }
        let w = self.w()?;
        let r = w
            .append_batch_at(records.iter().map(|(t, b)| (*t, &b[..])))
            .map_err(err)?;
        Ok((r.start, r.end))
    }

    /// Append one record; `ts` is its event time (ns), the writer's clock
    /// without one. Returns its sequence number.
    #[pyo3(signature = (payload, ts=None))]
    fn append(&mut self, payload: &[u8], ts: Option<i64>) -> PyResult<u64> {
        let w = self.w()?;
        match ts {
            Some(t) => w.append_at(t, payload),
            None => w.append(payload),
        }
        .map_err(err)
    }

    /// Append many records (with one event time each, or the writer's
    /// clock), with one wake-up for readers; returns the first and the
    /// next sequence numbers.
    #[pyo3(signature = (payloads, ts=None))]
    fn append_batch(
        &mut self,
        payloads: Vec<Vec<u8>>,
        ts: Option<Vec<i64>>,
    ) -> PyResult<(u64, u64)> {
        let w = self.w()?;
        let r = match ts {
            Some(ts) => {
                if ts.len() != payloads.len() {
                    return Err(err(format!(
                        "{} payloads but {} times",
                        payloads.len(),
                        ts.len()
                    )));
                }
                w.append_batch_at(ts.into_iter().zip(payloads.iter().map(|p| &p[..])))
            }
            None => w.append_batch(payloads.iter().map(|p| &p[..])),
        }
        .map_err(err)?;
        Ok((r.start, r.end))
    }

    /// The sequence number the next record will get.
    #[getter]
    fn next_seq(&mut self) -> PyResult<u64> {
        Ok(self.w()?.next_seq())
    }

    /// fsync everything appended so far.
    fn sync(&mut self) -> PyResult<()> {
        self.w()?.sync().map_err(err)
    }

    /// Close the writer: seal the open file if its interval has passed,
    /// otherwise sync it so that the next writer continues it.
    fn close(&mut self) -> PyResult<()> {
        match self.inner.take() {
            Some(w) => w.close().map_err(err),
            None => Ok(()),
        }
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __exit__(
        &mut self,
        _t: Option<Bound<'_, PyAny>>,
        _v: Option<Bound<'_, PyAny>>,
        _tb: Option<Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        self.close()?;
        Ok(false)
    }
}

/// Market metadata of a stream a Python writer makes.
fn market_meta(
    kind: &str,
    venue: &str,
    symbol: &str,
    price_scale: u8,
    size_scale: u8,
) -> PyResult<StreamMeta> {
    let kind = eventstore_market::records::meta::StreamKind::parse(kind).ok_or_else(|| {
        err(format!(
            "kind {kind:?}: give trades, book_l2, quotes or orders_l3"
        ))
    })?;
    let max = eventstore_market::records::decimal::MAX_SCALE;
    if price_scale > max || size_scale > max {
        return Err(err(format!(
            "scales {price_scale} and {size_scale}: at most {max} decimals"
        )));
    }
    Ok(StreamMeta {
        venue: venue.to_string(),
        symbol: symbol.to_string(),
        kind,
        price_scale,
        size_scale,
        style: eventstore_market::records::decimal::DecimalStyle::Fixed,
        depth: None,
        checksum: None,
    })
}

/// The record batches of a Python object with `__arrow_c_stream__`.
fn import_stream(
    data: &Bound<'_, PyAny>,
) -> PyResult<arrow_array::ffi_stream::RecordBatchStreamReader> {
    let capsule = data.call_method0("__arrow_c_stream__").map_err(|_| {
        err("give a pyarrow Table or RecordBatch (anything with __arrow_c_stream__)")
    })?;
    let capsule = capsule
        .cast::<PyCapsule>()
        .map_err(|_| err("__arrow_c_stream__ did not return a capsule"))?;
    let ptr = capsule
        .pointer_checked(Some(c"arrow_array_stream"))
        .map_err(|_| {
            err("__arrow_c_stream__ returned a capsule that is not an arrow_array_stream")
        })?;
    // SAFETY: by the Arrow PyCapsule protocol a capsule named
    // "arrow_array_stream" points at a valid ArrowArrayStream; from_raw
    // moves it out and marks the capsule's released, so the stream is
    // released once, by the reader.
    let stream =
        unsafe { FFI_ArrowArrayStream::from_raw(ptr.as_ptr() as *mut FFI_ArrowArrayStream) };
    arrow_array::ffi_stream::RecordBatchStreamReader::try_new(stream)
        .map_err(|e| err(format!("reading the rows: {e}")))
}

/// The Arrow schema of a market stream of `kind` at these scales, as an
/// empty stream of batches.
#[pyfunction]
fn market_schema(kind: &str, price_scale: u8, size_scale: u8) -> PyResult<ArrowStream> {
    let meta = market_meta(kind, "", "", price_scale, size_scale)?;
    Ok(ArrowStream::new(
        Arc::new(eventstore_market::arrow::schema(&meta)),
        Box::new(|| Ok(None)),
    ))
}

/// Nanoseconds since the epoch of an RFC 3339 time (`2024-08-08T00:01:00Z`,
/// a date, or integer nanoseconds as text).
#[pyfunction]
fn parse_time(s: &str) -> PyResult<i64> {
    eventstore_log::time::parse_time(s).map_err(err)
}

/// Nanoseconds of a duration such as `1m`, `500ms`, `1h`.
#[pyfunction]
fn parse_duration(s: &str) -> PyResult<i64> {
    eventstore_log::time::parse_duration_ns(s).map_err(err)
}

/// A time as RFC 3339 text (UTC, nanoseconds).
#[pyfunction]
fn format_time(ns: i64) -> String {
    eventstore_log::time::format_utc(ns)
}

/// Record a simulated market (a seeded random walk: trades and an order
/// book around the mid) as the market streams `<prefix>/trades` and
/// `<prefix>/depth` under `root`, from `start` until `end` (ns), files
/// rolled by record time every `roll`, made compact once sealed when
/// `compact`. Returns the records written (trades, depth).
#[pyfunction]
#[pyo3(signature = (root, prefix, start, end, seed=1, trades_per_sec=200.0, book_updates_per_sec=2000.0, symbol="BTCUSDT", roll="1h", compact=true))]
#[allow(clippy::too_many_arguments)]
fn synth_market(
    py: Python<'_>,
    root: PathBuf,
    prefix: &str,
    start: i64,
    end: i64,
    seed: u64,
    trades_per_sec: f64,
    book_updates_per_sec: f64,
    symbol: &str,
    roll: &str,
    compact: bool,
) -> PyResult<(u64, u64)> {
    use eventstore_market::synth::{record_market, SynthConfig};
    if !(trades_per_sec > 0.0 && book_updates_per_sec > 0.0) {
        return Err(err(format!(
            "rates must be positive: {trades_per_sec} trades/s, {book_updates_per_sec} book updates/s"
        )));
    }
    let trades = stream_name(&format!("{prefix}/trades"))?;
    let depth = stream_name(&format!("{prefix}/depth"))?;
    let cfg = SynthConfig {
        seed,
        start_ns: start,
        trades_per_sec,
        book_updates_per_sec,
        symbol: symbol.to_string(),
        ..SynthConfig::default()
    };
    let mut opts = eventstore_log::WriterOptions::default()
        .roll(eventstore_log::RollInterval::parse(roll).map_err(err)?);
    if compact {
        opts = opts.compact(Some(eventstore_log::CompactOptions::default()));
    }
    let n = py
        .detach(|| record_market(&root, &trades, &depth, &cfg, end, opts))
        .map_err(err)?;
    Ok((n.trades, n.depth))
}

#[pymodule]
fn _eventstore(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // The market codecs of compact files, for readers of the log alone.
    eventstore_market::compact::install();
    m.add("EventStoreError", m.py().get_type::<EventStoreError>())?;
    m.add_class::<Store>()?;
    m.add_class::<ArrowStream>()?;
    m.add_class::<BookState>()?;
    m.add_class::<Writer>()?;
    m.add_function(wrap_pyfunction!(parse_time, m)?)?;
    m.add_function(wrap_pyfunction!(synth_market, m)?)?;
    m.add_function(wrap_pyfunction!(market_schema, m)?)?;
    m.add_function(wrap_pyfunction!(parse_duration, m)?)?;
    m.add_function(wrap_pyfunction!(format_time, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
