//! Market data: import throughput of the real recordings, decoding of
//! stored trades, and the first trade at a time found by index against a
//! scan from the start of the day.

use crate::stats::{median, Table};
use eventstore_log::*;
use eventstore_market::import::{import_all, Format, ImportOptions};
use eventstore_market::{Side, Trade, TradeStreamReader};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

const SEC: i64 = 1_000_000_000;
pub(crate) const DAY0: i64 = 1_723_075_200 * SEC; // 2024-08-08T00:00:00Z

pub(crate) use eventstore_testkit::market_data;

pub fn bench_market(dir: &Path) {
    import_throughput(dir);
    let root = dir.join("market-day");
    let _ = std::fs::remove_dir_all(&root);
    let name = StreamName::new("synth/btcusdt/trades").expect("name");
    let n = write_day(&root, &name, 10_000_000, RollInterval::MINUTELY);
    decode_throughput(&root, &name, n, "1440 minutely");
    first_trade(&root, &name);
    let _ = std::fs::remove_dir_all(&root);
    let hourly = StreamName::new("synth/btcusdt/trades-hourly").expect("name");
    let n = write_day(&root, &hourly, 10_000_000, RollInterval::HOURLY);
    decode_throughput(&root, &hourly, n, "24 hourly");
    let _ = std::fs::remove_dir_all(&root);
}

/// Decoding only, over a day of hourly files.
pub fn bench_decode(dir: &Path) {
    let root = dir.join("market-day");
    let _ = std::fs::remove_dir_all(&root);
    let hourly = StreamName::new("synth/btcusdt/trades-hourly").expect("name");
    let n = write_day(&root, &hourly, 10_000_000, RollInterval::HOURLY);
    decode_throughput(&root, &hourly, n, "24 hourly");
    let _ = std::fs::remove_dir_all(&root);
}

/// Import only: every format over the real recordings; then the compact
/// blocks of the real trades and level updates.
pub fn bench_import(dir: &Path) {
    import_throughput(dir);
    compact_trades(dir);
    compact_levels(dir);
}

/// The compact blocks of the real trades and level updates alone.
pub fn bench_blocks(dir: &Path) {
    compact_trades(dir);
    compact_levels(dir);
}

/// Bytes a level update and decode speed of compact level blocks, against
/// the raw records (64 B, 80 B framed) and zstd -19 of those records.
fn compact_levels(dir: &Path) {
    use eventstore_market::compact::{decode_levels, encode_levels};
    use eventstore_market::BookLevel;
    let Some(data) = market_data() else { return };
    let mut t = Table::new(
        "Compact level-update blocks of the real depth streams (one block per stream), decode median of 5",
        &[
            "stream",
            "level updates",
            "raw file B/update",
            "zstd -19 of the raw records, B/update",
            "compact (zstd 3), B/update",
            "compact (zstd 19), B/update",
            "decode compact, M updates/s",
        ],
    );
    for (format, file, stream) in [
        (
            Format::Binance,
            "binance/spot_btcusdt_20240808.hftbacktest.gz",
            "binance/btcusdt/depth",
        ),
        (Format::Okx, "cryptofeed/OKEX.ws.1.0", "okx/ont-usdt/depth"),
        (
            Format::Coinbase,
            "cryptofeed/COINBASE.ws.28.0",
            "coinbase/skl-usd/depth",
        ),
    ] {
        let (records, file_bytes) = imported_records(dir, format, &data.join(file), stream);
        let levels: Vec<BookLevel> = records
            .iter()
            .map(|r| BookLevel::decode(r).expect("a level"))
            .collect();
        let raw: Vec<u8> = records.concat();
        let z19 = zstd::bulk::compress(&raw, 19).expect("zstd").len();
        let c3 = encode_levels(&levels, 3).expect("encode");
        let c19 = encode_levels(&levels, 19).expect("encode");
        let n = levels.len() as f64;
        let mut dc = Vec::new();
        for _ in 0..5 {
            let t0 = Instant::now();
            let back = decode_levels(&c3).expect("decode");
            dc.push(t0.elapsed().as_secs_f64());
            assert_eq!(back.len(), levels.len());
        }
        t.row(vec![
            stream.to_string(),
            levels.len().to_string(),
            format!("{:.1}", file_bytes as f64 / n),
            format!("{:.2}", z19 as f64 / n),
            format!("{:.2}", c3.len() as f64 / n),
            format!("{:.2}", c19.len() as f64 / n),
            format!("{:.0}", n / median(&mut dc) / 1e6),
        ]);
    }
    t.print();
}

/// The records of `stream` once `file` is imported, and the bytes its
/// stream files take.
fn imported_records(dir: &Path, format: Format, file: &Path, stream: &str) -> (Vec<Vec<u8>>, u64) {
    let root = dir.join("compact-input");
    let _ = std::fs::remove_dir_all(&root);
    import_all(
        format,
        &[file.to_path_buf()],
        &root,
        &ImportOptions::default(),
    )
    .expect("import");
    let name = StreamName::new(stream).expect("name");
    let mut r = StreamReader::open(&root, &name, ReadOptions::default()).expect("open");
    let mut records = Vec::new();
    while let Some(rec) = r.next().expect("read") {
        records.push(rec.payload.to_vec());
    }
    let bytes = eventstore_log::stream_info(&name.dir(&root))
        .expect("info")
        .files
        .iter()
        .map(|f| f.bytes)
        .sum();
    let _ = std::fs::remove_dir_all(&root);
    (records, bytes)
}

/// Bytes a trade and decode speed of compact trade blocks, against the raw
/// records (48 B, 64 B framed in a file) and zstd -19 of those records.
fn compact_trades(dir: &Path) {
    use eventstore_market::compact::{decode_trades, encode_trades};
    let Some(data) = market_data() else { return };
    let mut t = Table::new(
        "Compact trade blocks of the real trades (one block per input), decode median of 5",
        &[
            "input",
            "trades",
            "raw file B/trade",
            "zstd -19 of the raw records, B/trade",
            "compact (zstd 3), B/trade",
            "compact (zstd 19), B/trade",
            "decode compact, M trades/s",
            "decode raw records, M trades/s",
        ],
    );
    for (format, file, stream) in [
        (
            Format::Binance,
            "binance/spot_btcusdt_20240808.hftbacktest.gz",
            "binance/btcusdt/trades",
        ),
        (
            Format::TardisTrades,
            "tardis/binance-futures_trades_BTCUSDT_2020-02-22.csv.gz",
            "binance-futures/btcusdt/trades",
        ),
    ] {
        let (records, file_bytes) = imported_records(dir, format, &data.join(file), stream);
        let trades: Vec<Trade> = records
            .iter()
            .map(|r| Trade::decode(r).expect("a trade"))
            .collect();
        let raw: Vec<u8> = records.concat();
        let z19 = zstd::bulk::compress(&raw, 19).expect("zstd").len();
        let c3 = encode_trades(&trades, 3).expect("encode");
        let c19 = encode_trades(&trades, 19).expect("encode");
        let n = trades.len() as f64;
        let (mut dc, mut dr) = (Vec::new(), Vec::new());
        for _ in 0..5 {
            let t0 = Instant::now();
            let back = decode_trades(&c3).expect("decode");
            dc.push(t0.elapsed().as_secs_f64());
            assert_eq!(back.len(), trades.len());
            let t0 = Instant::now();
            let mut k = 0;
            for rec in raw.chunks(48) {
                k += Trade::decode(rec).map(|t| t.size as usize & 1).unwrap_or(0);
            }
            dr.push(t0.elapsed().as_secs_f64());
            std::hint::black_box(k);
        }
        t.row(vec![
            file.to_string(),
            trades.len().to_string(),
            format!("{:.1}", file_bytes as f64 / n),
            format!("{:.2}", z19 as f64 / n),
            format!("{:.2}", c3.len() as f64 / n),
            format!("{:.2}", c19.len() as f64 / n),
            format!("{:.0}", n / median(&mut dc) / 1e6),
            format!("{:.0}", n / median(&mut dr) / 1e6),
        ]);
    }
    t.print();
}

fn import_throughput(dir: &Path) {
    let Some(data) = market_data() else {
        eprintln!("market: no market data (set EVENTSTORE_MARKET_DATA): import throughput skipped");
        return;
    };
    let mut t = Table::new(
        "Import of the real recordings (whole pipeline: decompress, check every row, write), median of 5",
        &[
            "format and input",
            "records stored",
            "input MB (text uncompressed; DBN as stored)",
            "records/s",
            "input MB/s",
            "reading the input alone, MB/s",
            "import / read",
        ],
    );
    let lobster = ImportOptions {
        venue: "nasdaq".into(),
        date: Some("2012-06-21T04:00:00Z".into()),
        symbol: Some("AMZN".into()),
        ..ImportOptions::default()
    };
    let one = |rel: &str| vec![rel.to_string()];
    let inputs: Vec<(Format, Vec<String>, ImportOptions)> = vec![
        (
            Format::Binance,
            one("binance/spot_btcusdt_20240808.hftbacktest.gz"),
            ImportOptions::default(),
        ),
        (
            Format::Binance,
            vec![
                "binance/BINANCE.ws.1.0".into(),
                "binance/BINANCE.http.0.0".into(),
            ],
            ImportOptions::default(),
        ),
        (
            Format::TardisTrades,
            one("tardis/binance-futures_trades_BTCUSDT_2020-02-22.csv.gz"),
            ImportOptions::default(),
        ),
        (
            Format::TardisTrades,
            one("tardis/bitmex_trades_XBTUSD.csv"),
            ImportOptions::default(),
        ),
        (
            Format::TardisBookSnapshot,
            one("tardis/binance-futures_book_snapshot_25_BTCUSDT.csv"),
            ImportOptions::default(),
        ),
        (
            Format::TardisL2,
            one("tardis/deribit_incremental_book_L2_BTC-PERPETUAL.csv"),
            ImportOptions::default(),
        ),
        (
            Format::Lobster,
            one("lobster/AMZN_message_20k.csv.gz"),
            lobster.clone(),
        ),
        (
            Format::Lobster,
            vec![
                "lobster/AMZN_message_20k.csv.gz".into(),
                "lobster/AMZN_orderbook_20k.csv.gz".into(),
            ],
            lobster,
        ),
        (
            Format::Databento,
            one("databento/orderbooks_mbo_2024-05-08T00-00-00_2024-05-08T00-00-02.dbn.zst"),
            ImportOptions::default(),
        ),
        (
            Format::Okx,
            vec!["cryptofeed/OKEX.ws.1.0".into(), "cryptofeed/OKEX.0".into()],
            ImportOptions::default(),
        ),
        (
            Format::Coinbase,
            vec![
                "cryptofeed/COINBASE.ws.28.0".into(),
                "cryptofeed/COINBASE.0".into(),
            ],
            ImportOptions::default(),
        ),
        (
            Format::Bybit,
            vec![
                "cryptofeed/BYBIT.ws.26.0".into(),
                "cryptofeed/BYBIT.0".into(),
            ],
            ImportOptions::default(),
        ),
    ];
    for (format, rels, opts) in inputs {
        let inputs: Vec<std::path::PathBuf> = rels.iter().map(|r| data.join(r)).collect();
        // Input bytes: uncompressed text, or the DBN file as stored; and the
        // time to read them alone (decompress and split lines), the baseline.
        let mut bytes = 0u64;
        let mut read_secs = Vec::new();
        for _ in 0..5 {
            bytes = 0;
            let t0 = Instant::now();
            for input in &inputs {
                if format == Format::Databento {
                    let mut d = eventstore_market::import::input::open(input).expect("open");
                    std::io::copy(&mut d, &mut std::io::sink()).expect("read");
                    bytes += std::fs::metadata(input).map(|m| m.len()).unwrap_or(0);
                } else {
                    eventstore_market::import::input::for_each_line(input, |_, l| {
                        bytes += l.map(|l| l.len()).unwrap_or(0) as u64 + 1;
                        Ok(())
                    })
                    .expect("read input");
                }
            }
            read_secs.push(t0.elapsed().as_secs_f64());
        }
        let mut secs = Vec::new();
        let mut imported = 0;
        for run in 0..5 {
            let root = dir.join(format!("import-{run}"));
            let _ = std::fs::remove_dir_all(&root);
            let t0 = Instant::now();
            let r = import_all(format, &inputs, &root, &opts).expect("import");
            secs.push(t0.elapsed().as_secs_f64());
            imported = r.streams.values().sum::<u64>();
            let _ = std::fs::remove_dir_all(&root);
        }
        let s = median(&mut secs);
        let read = median(&mut read_secs);
        t.row(vec![
            format!("{} {}", format.name(), rels.join(" + ")),
            imported.to_string(),
            format!("{:.2}", bytes as f64 / 1e6),
            format!("{:.2} M/s", imported as f64 / s / 1e6),
            format!("{:.0}", bytes as f64 / s / 1e6),
            format!("{:.0}", bytes as f64 / read / 1e6),
            format!("{:.1}x", s / read),
        ]);
    }
    t.print();
}

/// A day of minutely files holding `n` trades at an even pace: a random walk.
pub(crate) fn write_day(root: &Path, name: &StreamName, n: u64, roll: RollInterval) -> u64 {
    let clock = ManualClock::new(DAY0);
    let opts = WriterOptions::default()
        .roll(roll)
        .roll_by(RollBy::RecordTime)
        .clock(Arc::new(clock.clone()));
    let mut w = StreamWriter::open(root, name, opts).expect("writer");
    let meta = eventstore_market::StreamMeta {
        venue: "synth".into(),
        symbol: "BTCUSDT".into(),
        kind: eventstore_market::records::meta::StreamKind::Trades,
        price_scale: 2,
        size_scale: 8,
        style: eventstore_market::records::decimal::DecimalStyle::Fixed,
        depth: None,
        checksum: None,
    };
    meta.store(&name.dir(root)).expect("meta");
    let step = 86_400 * SEC / n as i64;
    let mut price = 6_000_000i64;
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for i in 0..n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        price += (x % 3) as i64 - 1;
        let ts = DAY0 + i as i64 * step;
        let t = Trade {
            exchange_ts: ts - 1_000_000,
            local_ts: ts,
            price,
            size: (x >> 40) as i64 % 1_000_000 + 1,
            side: if x & 1 == 0 { Side::Buy } else { Side::Sell },
            trade_id: i.into(),
        };
        w.append_at(ts, &t.encode()).expect("append");
    }
    w.close().expect("close");
    n
}

fn decode_throughput(root: &Path, name: &StreamName, n: u64, files: &str) {
    let mut secs = Vec::new();
    for _ in 0..5 {
        let t0 = Instant::now();
        let mut r = TradeStreamReader::open(root, name, None, None).expect("open");
        let (mut k, mut vol) = (0u64, 0i64);
        while let Some(t) = r.try_next().expect("next") {
            k += 1;
            vol = vol.wrapping_add(t.size);
        }
        assert_eq!(k, n);
        std::hint::black_box(vol);
        secs.push(t0.elapsed().as_secs_f64());
    }
    let s = median(&mut secs);
    let mut t = Table::new(
        "Decoding stored trades (TradeStreamReader over a day of files, CRC of every record checked), one core, median of 5",
        &["trades", "files", "seconds", "trades/s"],
    );
    t.row(vec![
        n.to_string(),
        files.into(),
        format!("{s:.3}"),
        format!("{:.1} M/s", n as f64 / s / 1e6),
    ]);
    t.print();
}

fn first_trade(root: &Path, name: &StreamName) {
    let (mut idx, mut scan) = (Vec::new(), Vec::new());
    let mut x = 0x9e37_79b9u64;
    for _ in 0..20 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let at = DAY0 + (x % 86_400) as i64 * SEC + 123_456_789;
        let t0 = Instant::now();
        let mut r = TradeStreamReader::open(root, name, Some(at), None).expect("open");
        let a = r.next().expect("next").expect("a trade");
        idx.push(t0.elapsed().as_secs_f64());
        let t0 = Instant::now();
        let mut r = TradeStreamReader::open(root, name, None, None).expect("open");
        let b = loop {
            let t = r.next().expect("next").expect("a trade");
            if t.local_ts >= at {
                break t;
            }
        };
        scan.push(t0.elapsed().as_secs_f64());
        assert_eq!(a, b);
    }
    let (i, s) = (median(&mut idx), median(&mut scan));
    let mut t = Table::new(
        "First trade at a random time of a day of minutely files (10 M trades): by index against a scan from the start of the day, median of 20",
        &["by index", "scan from the day's start", "ratio"],
    );
    t.row(vec![
        format!("{:.0} us", i * 1e6),
        format!("{:.1} ms", s * 1e3),
        format!("{:.0}x", s / i),
    ]);
    t.print();
}
