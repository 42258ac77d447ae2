//! Compact files: bytes a record on the real recording against, in the
//! same run, the source gzipped, zstd -19 of the raw files, DBN with zstd
//! and Parquet with zstd of the same records; then, over a synthetic day,
//! decoding, seeks and the cost of the conversion, against the same day
//! as frames.

use crate::market::{market_data, write_day};
use crate::stats::{median, Table};
use eventstore_log::*;
use eventstore_market::import::{import_all, Format, ImportOptions};
use eventstore_market::{BookLevel, BookSide, Quote, Side, Trade, TradeStreamReader};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

pub fn bench_compact(dir: &Path) {
    sizes(dir);
    day(dir);
}

fn raw_records(dir: &Path) -> Vec<OwnedRecord> {
    let mut r = StreamReader::open_dir(dir, ReadOptions::default()).expect("open");
    let mut v = Vec::new();
    while let Some(x) = r.next().expect("read") {
        v.push(x.to_owned());
    }
    v
}

fn dir_bytes(dir: &Path) -> u64 {
    files::list_files(dir)
        .expect("list")
        .iter()
        .map(|f| std::fs::metadata(&f.path).map(|m| m.len()).unwrap_or(0))
        .sum()
}

fn zstd19(b: &[u8]) -> usize {
    zstd::bulk::compress(b, 19).expect("zstd").len()
}

/// DBN records (the `dbn` crate's structs) of the same records, as bytes.
fn dbn_bytes(kind: &str, recs: &[OwnedRecord], price_scale: u8) -> Vec<u8> {
    let px = |p: i64| p.wrapping_mul(10i64.pow(9u32.saturating_sub(price_scale as u32)));
    let mut out = Vec::new();
    for r in recs {
        match kind {
            "trades" => {
                let t = Trade::decode(&r.payload).expect("trade");
                let mut m = dbn::TradeMsg::default();
                m.hd.ts_event = t.exchange_ts as u64;
                m.price = px(t.price);
                m.size = t.size as u32;
                m.side = match t.side {
                    Side::Buy => b'B',
                    Side::Sell => b'A',
                    Side::Unknown => b'N',
                } as std::ffi::c_char;
                m.action = b'T' as std::ffi::c_char;
                m.ts_recv = t.local_ts as u64;
                m.sequence = t.trade_id.as_u64().unwrap_or(0) as u32;
                out.extend_from_slice(dbn::RecordRef::from(&m).as_ref());
            }
            "depth" => {
                let l = BookLevel::decode(&r.payload).expect("level");
                let mut m = dbn::MboMsg::default();
                m.hd.ts_event = l.exchange_ts as u64;
                m.order_id = l.first_update_id;
                m.price = px(l.price);
                m.size = l.size as u32;
                m.side = match l.side {
                    BookSide::Bid => b'B',
                    BookSide::Ask => b'A',
                    BookSide::None => b'N',
                } as std::ffi::c_char;
                m.action = b'M' as std::ffi::c_char;
                m.ts_recv = l.local_ts as u64;
                m.sequence = l.last_update_id as u32;
                out.extend_from_slice(dbn::RecordRef::from(&m).as_ref());
            }
            _ => {
                let q = Quote::decode(&r.payload).expect("quote");
                let mut m = dbn::Mbp1Msg::default();
                m.hd.ts_event = q.exchange_ts as u64;
                m.ts_recv = q.local_ts as u64;
                m.sequence = q.update_id as u32;
                m.levels[0].bid_px = px(q.bid_price);
                m.levels[0].ask_px = px(q.ask_price);
                m.levels[0].bid_sz = q.bid_size as u32;
                m.levels[0].ask_sz = q.ask_size as u32;
                out.extend_from_slice(dbn::RecordRef::from(&m).as_ref());
            }
        }
    }
    out
}

/// The records' fields as Parquet columns (64-bit integers, small ones
/// as 8 bits), zstd -19; the smaller of dictionary and delta encodings.
fn parquet_bytes(kind: &str, recs: &[OwnedRecord]) -> usize {
    use arrow_array::{ArrayRef, Int64Array, RecordBatch, UInt8Array};
    let mut cols: Vec<(&str, Vec<i64>)> = Vec::new();
    let mut small: Vec<(&str, Vec<u8>)> = Vec::new();
    let mut col = |name: &'static str, v: Vec<i64>| cols.push((name, v));
    match kind {
        "trades" => {
            let t: Vec<Trade> = recs
                .iter()
                .map(|r| Trade::decode(&r.payload).expect("trade"))
                .collect();
            col("exchange_ts", t.iter().map(|x| x.exchange_ts).collect());
            col("local_ts", t.iter().map(|x| x.local_ts).collect());
            col("price", t.iter().map(|x| x.price).collect());
            col("size", t.iter().map(|x| x.size).collect());
            col(
                "id",
                t.iter()
                    .map(|x| x.trade_id.as_u64().unwrap_or(0) as i64)
                    .collect(),
            );
            small.push(("side", t.iter().map(|x| x.side as u8).collect()));
        }
        "depth" => {
            let l: Vec<BookLevel> = recs
                .iter()
                .map(|r| BookLevel::decode(&r.payload).expect("level"))
                .collect();
            col("exchange_ts", l.iter().map(|x| x.exchange_ts).collect());
            col("local_ts", l.iter().map(|x| x.local_ts).collect());
            col("price", l.iter().map(|x| x.price).collect());
            col("size", l.iter().map(|x| x.size).collect());
            col(
                "first_id",
                l.iter().map(|x| x.first_update_id as i64).collect(),
            );
            col(
                "last_id",
                l.iter().map(|x| x.last_update_id as i64).collect(),
            );
            small.push(("side", l.iter().map(|x| x.side as u8).collect()));
            small.push(("flags", l.iter().map(|x| x.flags).collect()));
        }
        _ => {
            let q: Vec<Quote> = recs
                .iter()
                .map(|r| Quote::decode(&r.payload).expect("quote"))
                .collect();
            col("exchange_ts", q.iter().map(|x| x.exchange_ts).collect());
            col("local_ts", q.iter().map(|x| x.local_ts).collect());
            col("bid_price", q.iter().map(|x| x.bid_price).collect());
            col("bid_size", q.iter().map(|x| x.bid_size).collect());
            col("ask_price", q.iter().map(|x| x.ask_price).collect());
            col("ask_size", q.iter().map(|x| x.ask_size).collect());
            col("update_id", q.iter().map(|x| x.update_id as i64).collect());
        }
    }
    let mut arrays: Vec<(&str, ArrayRef)> = cols
        .into_iter()
        .map(|(n, v)| (n, Arc::new(Int64Array::from(v)) as ArrayRef))
        .collect();
    arrays.extend(
        small
            .into_iter()
            .map(|(n, v)| (n, Arc::new(UInt8Array::from(v)) as ArrayRef)),
    );
    let batch = RecordBatch::try_from_iter(arrays).expect("batch");
    let mut best = usize::MAX;
    for delta in [false, true] {
        use parquet::basic::{Compression, Encoding, ZstdLevel};
        let mut p = parquet::file::properties::WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(19).expect("level")));
        if delta {
            p = p
                .set_dictionary_enabled(false)
                .set_encoding(Encoding::DELTA_BINARY_PACKED);
        }
        let mut buf = Vec::new();
        let mut w = parquet::arrow::ArrowWriter::try_new(&mut buf, batch.schema(), Some(p.build()))
            .expect("parquet");
        w.write(&batch).expect("write");
        w.close().expect("close");
        best = best.min(buf.len());
    }
    best
}

/// Bytes a record of each kind of the real Binance recording.
fn sizes(dir: &Path) {
    let Some(data) = market_data() else { return };
    let src = data.join("binance/spot_btcusdt_20240808.hftbacktest.gz");
    let root = dir.join("compact-sizes");
    let _ = std::fs::remove_dir_all(&root);
    let opts = ImportOptions {
        compact: None,
        ..ImportOptions::default()
    };
    import_all(Format::Binance, std::slice::from_ref(&src), &root, &opts).expect("import");
    let gz = std::fs::metadata(&src).map(|m| m.len()).unwrap_or(0);
    let mut t = Table::new(
        "Bytes a record on disk, the real Binance recording (spot_btcusdt_20240808.hftbacktest.gz), same records in every column",
        &[
            "stream",
            "records",
            "raw file",
            "zstd -19 of the raw file",
            "DBN",
            "DBN + zstd -19",
            "Parquet + zstd -19 (best encoding)",
            "compact file",
            "best baseline / compact",
        ],
    );
    let mut all = 0u64;
    for kind in ["trades", "depth", "bookticker"] {
        let d = root.join("binance/btcusdt").join(kind);
        let recs = raw_records(&d);
        let n = recs.len() as f64;
        all += recs.len() as u64;
        let raw = dir_bytes(&d);
        let raw_bytes: Vec<u8> = files::list_files(&d)
            .expect("list")
            .iter()
            .flat_map(|f| std::fs::read(&f.path).expect("read"))
            .collect();
        let z = zstd19(&raw_bytes);
        let scale = eventstore_market::StreamMeta::load(&d)
            .ok()
            .flatten()
            .map_or(8, |m| m.price_scale);
        let dbn = dbn_bytes(kind, &recs, scale);
        let dz = zstd19(&dbn);
        let pq = parquet_bytes(kind, &recs);
        compact_stream(&d, &CompactOptions::default()).expect("compact");
        let c = dir_bytes(&d);
        let best = z.min(dz).min(pq) as f64;
        let per = |b: f64| format!("{:.2}", b / n);
        t.row(vec![
            kind.into(),
            recs.len().to_string(),
            per(raw as f64),
            per(z as f64),
            per(dbn.len() as f64),
            per(dz as f64),
            per(pq as f64),
            per(c as f64),
            format!("{:.2}x", best / c as f64),
        ]);
    }
    t.print();
    println!(
        "\nThe source file gzipped: {gz} bytes for all {all} records of the three streams ({:.2} B a record).",
        gz as f64 / all as f64
    );
    let _ = std::fs::remove_dir_all(&root);
}

fn thread_cpu() -> f64 {
    crate::cpu_ns() as f64 * 1e-9
}

/// A synthetic day of 10 M trades in hourly files, as frames and compact.
fn day(dir: &Path) {
    let framed = dir.join("compact-day-framed");
    let compact = dir.join("compact-day");
    let _ = std::fs::remove_dir_all(&framed);
    let _ = std::fs::remove_dir_all(&compact);
    let name = StreamName::new("synth/btcusdt/trades").expect("name");
    let n = write_day(&framed, &name, 10_000_000, RollInterval::HOURLY);
    write_day(&compact, &name, n, RollInterval::HOURLY);
    let raw = dir_bytes(&name.dir(&framed));
    let (c0, w0) = (thread_cpu(), Instant::now());
    let done = compact_stream(&name.dir(&compact), &CompactOptions::default()).expect("compact");
    let (cpu, wall) = (thread_cpu() - c0, w0.elapsed().as_secs_f64());
    let small = dir_bytes(&name.dir(&compact));
    let mut t = Table::new(
        "Converting a synthetic day (10 M trades, 24 hourly files) into compact files, one core",
        &[
            "files",
            "bytes before",
            "bytes after",
            "B/trade",
            "CPU s",
            "CPU s per GB of records",
            "wall s",
        ],
    );
    t.row(vec![
        done.len().to_string(),
        raw.to_string(),
        small.to_string(),
        format!("{:.2}", small as f64 / n as f64),
        format!("{cpu:.2}"),
        format!("{:.2}", cpu / (raw as f64 / 1e9)),
        format!("{wall:.2}"),
    ]);
    t.print();

    let mut t = Table::new(
        "Decoding a day of 10 M trades, one core, median of 5: raw records (StreamReader), trades (TradeStreamReader), trade columns (TradeBlocks) and Arrow batches of 65,536 rows (arrow::Batches), frames against compact",
        &[
            "form",
            "records/s",
            "trades/s",
            "columns/s",
            "Arrow rows/s",
            "compact / frames (trades)",
            "compact / frames (Arrow)",
        ],
    );
    let mut rates = Vec::new();
    for (form, root) in [("frames", &framed), ("compact", &compact)] {
        let (mut recs, mut trades) = (Vec::new(), Vec::new());
        let (mut cols, mut batches) = (Vec::new(), Vec::new());
        for _ in 0..5 {
            let t0 = Instant::now();
            let mut r = StreamReader::open(root, &name, ReadOptions::default()).expect("open");
            let (mut k, mut b) = (0u64, 0usize);
            while let Some(x) = r.next().expect("next") {
                k += 1;
                b = b.wrapping_add(x.payload.len());
            }
            assert_eq!(k, n);
            std::hint::black_box(b);
            recs.push(n as f64 / t0.elapsed().as_secs_f64());
            let t0 = Instant::now();
            let mut r = TradeStreamReader::open(root, &name, None, None).expect("open");
            let mut v = 0i64;
            while let Some(x) = r.try_next().expect("next") {
                v = v.wrapping_add(x.size);
            }
            std::hint::black_box(v);
            trades.push(n as f64 / t0.elapsed().as_secs_f64());
            let t0 = Instant::now();
            let mut r =
                eventstore_market::read::trades::TradeBlocks::open(&name.dir(root), None, None)
                    .expect("open");
            let mut c = eventstore_market::compact::TradeColumns::default();
            let (mut k, mut v) = (0u64, 0i64);
            loop {
                c.clear();
                match r.read_into(&mut c, 65_536).expect("read") {
                    0 => break,
                    got => k += got as u64,
                }
                v = v.wrapping_add(c.size[c.len() - 1]);
            }
            assert_eq!(k, n);
            std::hint::black_box(v);
            cols.push(n as f64 / t0.elapsed().as_secs_f64());
            let t0 = Instant::now();
            let b = eventstore_market::arrow::Batches::open(root, &name, None, None, 65_536)
                .expect("open");
            let rows: usize = b.map(|b| b.expect("batch").num_rows()).sum();
            assert_eq!(rows as u64, n);
            batches.push(n as f64 / t0.elapsed().as_secs_f64());
        }
        let (a, b) = (median(&mut recs), median(&mut trades));
        let (c, d) = (median(&mut cols), median(&mut batches));
        rates.push((b, d));
        t.row(vec![
            form.into(),
            format!("{:.1} M/s", a / 1e6),
            format!("{:.1} M/s", b / 1e6),
            format!("{:.1} M/s", c / 1e6),
            format!("{:.1} M/s", d / 1e6),
            format!("{:.2}", b / rates[0].0),
            format!("{:.2}", d / rates[0].1),
        ]);
    }
    t.print();

    let mut t = Table::new(
        "Seek by time to a random moment of the day and read one record (an open reader), median of 2,000",
        &["form", "median", "p99"],
    );
    for (form, root) in [("frames", &framed), ("compact", &compact)] {
        let mut r = StreamReader::open(root, &name, ReadOptions::default()).expect("open");
        let mut lat = Vec::new();
        let mut x = 0x9e37_79b9u64;
        for _ in 0..2_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let at = crate::market::DAY0 + (x % 86_400_000_000_000) as i64;
            let t0 = Instant::now();
            r.seek(StartAt::Time(at)).expect("seek");
            let got = r.next().expect("next").map(|x| x.timestamp);
            lat.push(t0.elapsed().as_nanos() as u64);
            assert!(got.is_none_or(|ts| ts >= at));
        }
        let p = crate::stats::percentiles(&mut lat, &[0.5, 0.99]);
        t.row(vec![
            form.into(),
            format!("{:.1} us", p[0] as f64 / 1e3),
            format!("{:.1} us", p[1] as f64 / 1e3),
        ]);
    }
    t.print();
    let _ = std::fs::remove_dir_all(&framed);
    let _ = std::fs::remove_dir_all(&compact);
}
