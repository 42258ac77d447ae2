//! Parquet export of trades, with typed columns that pandas, polars and
//! DuckDB read directly: timestamps as `timestamp[ns, UTC]`, prices and
//! sizes as `decimal128(38, scale)` (exact), side as a string, the trade id
//! as `uint64` (`trade_id`) or, for venues whose ids are not numbers, as a
//! string (`trade_id_text`). Written in row groups of 64 Ki trades, zstd-compressed.

use crate::{Error, Result, StreamMeta};
use arrow_array::builder::{Decimal128Builder, TimestampNanosecondBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use std::path::Path;
use std::sync::Arc;

const ROWS_PER_GROUP: usize = 65_536;

/// The Arrow schema of exported trades at the stream's scales (that of
/// [`crate::arrow::schema`]).
pub fn trade_schema(meta: &StreamMeta) -> Schema {
    crate::arrow::schema(meta)
}

/// How a Parquet error writing `out` is reported.
fn pq_error(out: &Path) -> impl Fn(parquet::errors::ParquetError) -> Error + Copy + '_ {
    move |e| Error::Parquet {
        path: out.to_path_buf(),
        reason: e.to_string(),
    }
}

/// How an Arrow error building the batches of `out` is reported.
fn arrow_error(out: &Path) -> impl Fn(arrow_schema::ArrowError) -> Error + Copy + '_ {
    move |e| Error::Parquet {
        path: out.to_path_buf(),
        reason: e.to_string(),
    }
}

/// A zstd-compressed Parquet writer of `schema` into a new file `out`.
fn writer(out: &Path, schema: &Arc<Schema>) -> Result<parquet::arrow::ArrowWriter<std::fs::File>> {
    let file = std::fs::File::create(out).map_err(|e| Error::Io {
        path: out.to_path_buf(),
        source: e,
    })?;
    let props = parquet::file::properties::WriterProperties::builder()
        .set_compression(parquet::basic::Compression::ZSTD(Default::default()))
        .build();
    parquet::arrow::ArrowWriter::try_new(file, schema.clone(), Some(props)).map_err(pq_error(out))
}

/// Write the batches of a trade stream to the Parquet file `out`, one row
/// group a batch; returns the number of trades written.
pub fn trades_to_parquet(batches: crate::arrow::Batches, out: &Path) -> Result<u64> {
    if batches.meta().kind != crate::records::meta::StreamKind::Trades {
        return Err(Error::WrongKind {
            stream: out.display().to_string(),
            holds: batches.meta().kind.to_string(),
            wanted: "trades",
        });
    }
    let schema = batches.schema();
    let (mut w, pq) = (writer(out, &schema)?, pq_error(out));
    let mut n = 0u64;
    for b in batches {
        let b = b?;
        n += b.num_rows() as u64;
        w.write(&b).map_err(pq)?;
    }
    w.close().map_err(pq)?;
    Ok(n)
}

/// Write every row of `rows` (the best `depth` levels at fixed intervals)
/// to the Parquet file `out`: `ts` as `timestamp[ns, UTC]`, `reliable` as a
/// boolean, prices and sizes as `decimal128(38, scale)`, null where the
/// book has fewer levels. Returns the number of rows written.
pub fn book_rows_to_parquet(
    mut rows: crate::read::orders::Periodic,
    meta: &StreamMeta,
    depth: usize,
    out: &Path,
) -> Result<u64> {
    use arrow_array::builder::BooleanBuilder;
    let names = crate::read::orders::book_columns(depth);
    let ts = DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()));
    let scale = |i: usize| {
        if i.is_multiple_of(2) {
            meta.price_scale
        } else {
            meta.size_scale
        }
    };
    let mut fields = vec![
        Field::new("ts", ts, false),
        Field::new("reliable", DataType::Boolean, false),
    ];
    for (i, n) in names.iter().enumerate().skip(2) {
        fields.push(Field::new(
            n,
            DataType::Decimal128(38, scale(i) as i8),
            true,
        ));
    }
    let schema = Arc::new(Schema::new(fields));
    let ar = arrow_error(out);
    let (mut w, pq) = (writer(out, &schema)?, pq_error(out));
    let new_cols = || {
        (
            TimestampNanosecondBuilder::new(),
            BooleanBuilder::new(),
            (0..depth * 4)
                .map(|_| Decimal128Builder::new())
                .collect::<Vec<_>>(),
        )
    };
    let (mut t, mut rel, mut levels) = new_cols();
    let mut pending = 0usize;
    let mut n = 0u64;
    let flush = |t: &mut TimestampNanosecondBuilder,
                 rel: &mut BooleanBuilder,
                 levels: &mut Vec<Decimal128Builder>,
                 w: &mut parquet::arrow::ArrowWriter<std::fs::File>|
     -> Result<()> {
        let mut cols: Vec<ArrayRef> = vec![
            Arc::new(t.finish().with_timezone("UTC")),
            Arc::new(rel.finish()),
        ];
        for (i, b) in levels.iter_mut().enumerate() {
            cols.push(Arc::new(
                b.finish()
                    .with_precision_and_scale(38, scale(i + 2) as i8)
                    .map_err(ar)?,
            ));
        }
        w.write(&RecordBatch::try_new(schema.clone(), cols).map_err(ar)?)
            .map_err(pq)
    };
    while let Some(row) = rows.try_next()? {
        t.append_value(row.ts);
        rel.append_value(row.reliable);
        for i in 0..depth {
            let b = row.bids.get(i);
            let a = row.asks.get(i);
            levels[i * 4].append_option(b.map(|l| l.0 as i128));
            levels[i * 4 + 1].append_option(b.map(|l| l.1 as i128));
            levels[i * 4 + 2].append_option(a.map(|l| l.0 as i128));
            levels[i * 4 + 3].append_option(a.map(|l| l.1 as i128));
        }
        pending += 1;
        n += 1;
        if pending == ROWS_PER_GROUP {
            flush(&mut t, &mut rel, &mut levels, &mut w)?;
            pending = 0;
        }
    }
    if pending > 0 || n == 0 {
        flush(&mut t, &mut rel, &mut levels, &mut w)?;
    }
    w.close().map_err(pq)?;
    Ok(n)
}
