//! Compact encodings of market records: a block of records stored by
//! column, each column encoded for what it holds (times and prices as
//! deltas, small integers as varints), the whole block then compressed
//! with zstd. Decoding gives back exactly the records encoded, bit for
//! bit, for any value of every field.
//!
//! Pure codecs over bytes, for trades and price-level updates; sealed
//! files will hold such blocks.

mod codecs;
pub mod levels;
pub mod orders;
pub mod quotes;
pub mod trades;

pub use codecs::{install, Record, LEVELS, ORDERS, QUOTES, TRADES};
pub use levels::{decode_levels, encode_levels};
pub use orders::{decode_orders, encode_orders};
pub use quotes::{decode_quotes, encode_quotes};
pub use trades::{decode_trade_columns, decode_trades, encode_trades, TradeColumns};

use eventstore_log::compact::varint::{self, Reader};

/// What a kind of block is: its magic, the name its errors use, the most
/// records it may hold and the most body bytes one record may take.
pub(crate) struct Kind {
    pub magic: &'static [u8; 4],
    pub what: &'static str,
    pub max_records: u64,
    pub max_record_bytes: u64,
}

/// The version of every compact block.
const VERSION: u8 = 1;

/// `magic | version | count varint | raw_len varint | zstd(columns)`, each
/// column its length (varint) then its bytes.
pub(crate) fn seal(
    kind: &Kind,
    count: usize,
    cols: &[Vec<u8>],
    level: i32,
) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::with_capacity(cols.iter().map(|c| c.len() + 10).sum());
    for c in cols {
        varint::put(&mut body, c.len() as u64);
        body.extend_from_slice(c);
    }
    let mut out = Vec::with_capacity(body.len() / 2 + 32);
    out.extend_from_slice(kind.magic);
    out.push(VERSION);
    varint::put(&mut out, count as u64);
    varint::put(&mut out, body.len() as u64);
    out.extend_from_slice(&zstd::bulk::compress(&body, level)?);
    Ok(out)
}

/// The record count and the decompressed body of a block, checked: the
/// magic, the version, a count within bounds, a body no larger than its
/// records can take.
pub(crate) fn open(kind: &Kind, b: &[u8]) -> Result<(usize, Vec<u8>), String> {
    let what = kind.what;
    if b.len() < 5 || &b[..4] != kind.magic {
        let m = String::from_utf8_lossy(kind.magic);
        return Err(format!("not a compact {what} block (no {m} magic)"));
    }
    if b[4] != VERSION {
        return Err(format!(
            "compact {what} block version {} is not {VERSION}",
            b[4]
        ));
    }
    let mut head = Reader { b, at: 5 };
    let n = head.get()?;
    if n > kind.max_records {
        return Err(format!(
            "a block of {n} records, more than {}",
            kind.max_records
        ));
    }
    let raw_len = head.get()?;
    // The columns' lengths and units take at most 100 bytes more.
    if raw_len > n * kind.max_record_bytes + 100 {
        return Err(format!("a body of {raw_len} bytes for {n} records"));
    }
    let body = zstd::bulk::decompress(&b[head.at..], raw_len as usize)
        .map_err(|e| format!("the block's body: {e}"))?;
    if body.len() as u64 != raw_len {
        return Err(format!(
            "the body is {} bytes, the block says {raw_len}",
            body.len()
        ));
    }
    Ok((n as usize, body))
}

/// The record count a block claims (after its magic and version), or
/// `None` when it does not say.
pub(crate) fn claimed_count(b: &[u8]) -> Option<u64> {
    let mut r = Reader { b, at: 5 };
    r.get().ok()
}

/// A column's unit: 1 to 2^63-1.
pub(crate) fn read_unit(col: &mut Reader<'_>, k: usize) -> Result<i64, String> {
    let v = col.get().map_err(|e| format!("column {k}: unit: {e}"))?;
    i64::try_from(v)
        .ok()
        .filter(|u| *u > 0)
        .ok_or_else(|| format!("column {k}: unit {v} is not 1 to 2^63-1"))
}

/// The `k` columns of a body, each read from its start.
pub(crate) fn columns(body: &[u8], k: usize) -> Result<Vec<Reader<'_>>, String> {
    let mut r = Reader { b: body, at: 0 };
    let mut cols = Vec::with_capacity(k);
    for i in 0..k {
        let len = r.get()? as usize;
        let c = r.bytes(len).map_err(|e| format!("column {i}: {e}"))?;
        cols.push(Reader { b: c, at: 0 });
    }
    if !r.done() {
        return Err(format!("{} bytes after the last column", body.len() - r.at));
    }
    Ok(cols)
}
