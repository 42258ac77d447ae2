//! The decoder targets and their seeds.

use eventstore_log::format::{self, FileHeader};
use eventstore_log::{ManualClock, RollInterval, StreamWriter, WriterOptions};
use eventstore_market::import::{Format, ImportOptions};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

const SEC: i64 = 1_000_000_000;
const T0: i64 = 1_723_161_240 * SEC;

/// A small real stream (three sealed minutely files and an open one),
/// written once per process: its files' names and bytes.
fn stream_files() -> &'static [(String, Vec<u8>)] {
    static FILES: OnceLock<Vec<(String, Vec<u8>)>> = OnceLock::new();
    FILES.get_or_init(|| {
        let dir = crate::fresh_dir("seed-stream");
        let clock = ManualClock::new(T0);
        let opts = WriterOptions::default()
            .roll(RollInterval::MINUTELY)
            .pretouch(false)
            .clock(Arc::new(clock.clone()));
        let mut w = StreamWriter::open_dir(&dir, opts).expect("open the seed stream");
        for f in 0..4 {
            clock.set(T0 + f * 60 * SEC);
            for i in 0..(20 + f * 7) {
                let body = format!("record {f} {i} {}", "x".repeat((i * 13 % 70) as usize));
                w.append(body.as_bytes())
                    .expect("append to the seed stream");
            }
        }
        drop(w);
        eventstore_log::files::list_files(&dir)
            .expect("list the seed stream")
            .into_iter()
            .map(|f| {
                let name = f.path.file_name().map(|n| n.to_string_lossy().into_owned());
                let bytes = std::fs::read(&f.path).expect("read the seed stream");
                (name.unwrap_or_default(), bytes)
            })
            .collect()
    })
}

/// The sealed files of the seed stream made compact (general codec), and
/// a real trade file made compact (market trade codec).
fn compact_files() -> &'static [(String, Vec<u8>)] {
    static FILES: OnceLock<Vec<(String, Vec<u8>)>> = OnceLock::new();
    FILES.get_or_init(|| {
        eventstore_market::compact::install();
        let dir = crate::fresh_dir("seed-compact");
        for (name, bytes) in stream_files() {
            std::fs::write(dir.join(name), bytes).expect("write a seed file");
        }
        let opts = eventstore_log::CompactOptions {
            block_records: 16,
            ..Default::default()
        };
        eventstore_log::compact_stream(&dir, &opts).expect("compact the seed stream");
        let trades = crate::fresh_dir("seed-compact-trades");
        let mut w = StreamWriter::open_dir(&trades, WriterOptions::default().pretouch(false))
            .expect("open the trade seed");
        for i in 0..200i64 {
            let t = eventstore_market::Trade {
                exchange_ts: T0 + i * 1_000_000,
                local_ts: T0 + i * 1_000_000 + 77,
                price: 6_183_763 + i % 7,
                size: 1 + i % 5,
                side: eventstore_market::Side::Buy,
                trade_id: eventstore_market::TradeId::Num(1000 + i as u64),
            };
            w.append_at(t.local_ts, &t.encode())
                .expect("append a trade");
        }
        w.seal_now().expect("seal the trade seed");
        drop(w);
        eventstore_log::compact_stream(&trades, &opts).expect("compact the trade seed");
        [dir, trades]
            .iter()
            .flat_map(|d| eventstore_log::files::list_files(d).expect("list"))
            .filter(|f| f.sealed)
            .map(|f| {
                let name = f.path.file_name().map(|n| n.to_string_lossy().into_owned());
                let bytes = std::fs::read(&f.path).expect("read a compact seed");
                (name.unwrap_or_default(), bytes)
            })
            .collect()
    })
}

/// One log file (of frames or compact): its header, footer and frames
/// decoded, and verified as sealed and as open.
pub(crate) fn log_file(b: &[u8]) {
    eventstore_market::compact::install();
    let _ = FileHeader::decode(b);
    let _ = format::Footer::decode_from_file_end(b);
    let mut pos = format::HEADER_LEN;
    while pos + 4 <= b.len() {
        let len = u32::from_le_bytes([b[pos], b[pos + 1], b[pos + 2], b[pos + 3]]);
        match format::decode_frame(b, pos, len) {
            format::Frame::Record { next, .. } => pos = next,
            _ => break,
        }
    }
    let path = crate::scratch().join("input.log");
    let _ = eventstore_log::verify_bytes(&path, b, true);
    let _ = eventstore_log::verify_bytes(&path, b, false);
}

pub(crate) fn log_file_seeds() -> Vec<Vec<u8>> {
    stream_files()
        .iter()
        .chain(compact_files())
        .map(|(_, b)| b.clone())
        .collect()
}

/// A whole stream in which the input (after its first byte, which picks
/// the file) replaces one file: read from the start, summarised,
/// verified, and recovered by a writer.
pub(crate) fn log_stream(data: &[u8]) {
    let Some((&pick, bytes)) = data.split_first() else {
        return;
    };
    let files = stream_files();
    let victim = pick as usize % files.len();
    let dir = crate::fresh_dir("stream");
    for (i, (name, seed)) in files.iter().enumerate() {
        let b = if i == victim { bytes } else { &seed[..] };
        std::fs::write(dir.join(name), b).expect("write a fuzz stream file");
    }
    if let Ok(mut r) = eventstore_log::StreamReader::open_dir(&dir, Default::default()) {
        while let Ok(Some(_)) = r.next() {}
    }
    let _ = eventstore_log::stream_info(&dir);
    let _ = eventstore_log::verify_stream(&dir, |_| {});
    let _ = StreamWriter::open_dir(&dir, WriterOptions::default().pretouch(false));
    let _ = std::fs::remove_dir_all(&dir);
}

pub(crate) fn log_stream_seeds() -> Vec<Vec<u8>> {
    let files = stream_files();
    let mut seeds: Vec<Vec<u8>> = (0..files.len())
        .map(|i| {
            let mut v = vec![i as u8];
            v.extend_from_slice(&files[i].1);
            v
        })
        .collect();
    // A sealed file replaced by its compact form.
    for (name, bytes) in compact_files() {
        if let Some(i) = files.iter().position(|(n, _)| n == name) {
            let mut v = vec![i as u8];
            v.extend_from_slice(bytes);
            seeds.push(v);
        }
    }
    seeds
}

/// A remote file's manifest (`<file>.json`).
pub(crate) fn manifest(b: &[u8]) {
    let _ = eventstore_remote::FileMeta::from_json(b);
}

pub(crate) fn manifest_seeds() -> Vec<Vec<u8>> {
    let meta = eventstore_remote::FileMeta {
        size: 58520,
        crc32c: 0xdead_beef,
        first_seq: 912,
        records: 1000,
        min_ts: Some(T0),
        max_ts: Some(T0 + SEC),
        compression: Some("zstd".into()),
        stored_size: Some(4096),
        form: eventstore_log::Form::Framed,
    };
    vec![meta.to_json().into_bytes()]
}

/// A market stream's `market.json`.
pub(crate) fn market_json(b: &[u8]) {
    if let Ok(text) = std::str::from_utf8(b) {
        let _ = eventstore_market::StreamMeta::from_json(text, Path::new("market.json"));
    }
}

pub(crate) fn market_json_seeds() -> Vec<Vec<u8>> {
    vec![
        br#"{"format":"eventstore.market/1","kind":"trades","venue":"binance","symbol":"btcusdt","price_scale":8,"size_scale":8}"#.to_vec(),
        br#"{"format":"eventstore.market/1","kind":"depth","venue":"binance","symbol":"btcusdt","price_scale":2,"size_scale":8}"#.to_vec(),
    ]
}

/// A book snapshot file (`.book`).
pub(crate) fn book_snapshot(b: &[u8]) {
    let _ = eventstore_market::book::snapshot::first_seq(b);
    let _ = eventstore_market::book::snapshot::decode(b);
}

/// Snapshots of the real Binance depth stream, imported with minutely
/// rolls (one snapshot per rolled file).
pub(crate) fn book_snapshot_seeds() -> Vec<Vec<u8>> {
    let Some(data) = eventstore_testkit::market_data() else {
        return Vec::new();
    };
    let root = crate::fresh_dir("books");
    let opts = ImportOptions {
        roll: RollInterval::MINUTELY,
        ..ImportOptions::default()
    };
    eventstore_market::import::import(
        Format::Binance,
        &data.join("binance/spot_btcusdt_20240808.hftbacktest.gz"),
        &root,
        &opts,
    )
    .expect("import the real depth stream");
    let depth = root.join("binance/btcusdt/depth");
    let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(&depth)
        .expect("list the depth stream")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".book"))
        .filter_map(|e| std::fs::read(e.path()).ok())
        .collect();
    seeds.truncate(20);
    let _ = std::fs::remove_dir_all(&root);
    seeds
}

/// The importers, by the first byte of an input, and the name their
/// input file gets.
const FORMATS: [(Format, &str); 11] = [
    (Format::Binance, "input.txt"),
    (Format::TardisTrades, "input.csv"),
    (Format::TardisL2, "input.csv"),
    (Format::TardisBookSnapshot, "input.csv"),
    (Format::Lobster, "input.csv"),
    (Format::Databento, "input.dbn"),
    (Format::Okx, "input.txt"),
    (Format::Coinbase, "input.txt"),
    (Format::Bybit, "input.txt"),
    (Format::Kraken, "input.txt"),
    // LOBSTER's message file and orderbook file, split at the first NUL.
    (Format::Lobster, "message.csv"),
];

/// One importer (picked by the first byte) on a file of the rest of the
/// input, once stopping at the first bad row and once skipping bad rows.
pub(crate) fn import(data: &[u8]) {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let (format, name) = FORMATS[pick as usize % FORMATS.len()];
    let dir = crate::fresh_dir("import");
    let input = dir.join(name);
    let mut inputs = vec![input.clone()];
    if name == "message.csv" {
        let at = body.iter().position(|&b| b == 0).unwrap_or(body.len());
        std::fs::write(&input, &body[..at]).expect("write a fuzz import input");
        let book = dir.join("orderbook.csv");
        std::fs::write(&book, body.get(at + 1..).unwrap_or_default())
            .expect("write a fuzz import input");
        inputs.push(book);
    } else {
        std::fs::write(&input, body).expect("write a fuzz import input");
    }
    for skip_bad in [false, true] {
        let opts = ImportOptions {
            skip_bad,
            symbol: Some("AMZN".into()),
            date: Some("2012-06-21T04:00:00Z".into()),
            ..ImportOptions::default()
        };
        let _ = eventstore_market::import::import_all(format, &inputs, &dir.join("root"), &opts);
        let _ = std::fs::remove_dir_all(dir.join("root"));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The first lines of each real text recording, and real DBN records,
/// each behind the byte that picks its importer.
pub(crate) fn import_seeds() -> Vec<Vec<u8>> {
    let Some(data) = eventstore_testkit::market_data() else {
        return Vec::new();
    };
    let text: [(u8, PathBuf); 9] = [
        (0, data.join("binance/spot_btcusdt_20240808.hftbacktest.gz")),
        (1, data.join("tardis/bitmex_trades_XBTUSD.csv")),
        (
            2,
            data.join("tardis/deribit_incremental_book_L2_BTC-PERPETUAL.csv"),
        ),
        (
            3,
            data.join("tardis/binance-futures_book_snapshot_5_BTCUSDT.csv"),
        ),
        (4, data.join("lobster/AMZN_message_20k.csv.gz")),
        (6, data.join("cryptofeed/OKEX.ws.1.0")),
        (7, data.join("cryptofeed/COINBASE.ws.28.0")),
        (8, data.join("cryptofeed/BYBIT.ws.26.0")),
        (0, data.join("binance/BINANCE.ws.1.0")),
    ];
    let mut seeds = Vec::new();
    for (pick, path) in text {
        let mut lines = Vec::new();
        eventstore_market::import::input::for_each_line(&path, |_, l| {
            if let (Ok(l), true) = (l, lines.len() < 40) {
                lines.push(l.to_string());
            }
            Ok(())
        })
        .expect("read a real recording");
        // Whole files of a few lines, and of many.
        for n in [3, lines.len()] {
            let mut v = vec![pick];
            v.extend_from_slice(lines[..n.min(lines.len())].join("\n").as_bytes());
            v.push(b'\n');
            seeds.push(v);
        }
    }
    // Kraken (no recording in the shared data): its documented shapes.
    let mut v = vec![9];
    v.extend_from_slice(
        concat!(
            r#"1582905486.5: [336,{"as":[["45285.2","0.00100000","1582905486.493008"]],"bs":[["45283.5","0.00200000","1582905486.493008"]]},"book-10","XBT/USD"]"#,
            "\n",
            r#"1582905487.0: [336,{"a":[["45286.2","0.00400000","1582905486.493034","r"]]},{"b":[["45283.5","0.00300000","1582905486.493034"]],"c":"974947235"},"book-10","XBT/USD"]"#,
            "\n",
            r#"1582905487.5: [337,[["45285.2","0.00100000","1582905487.1","b","l",""]],"trade","XBT/USD"]"#,
            "\n",
            r#"{"event":"heartbeat"}"#,
            "\n"
        )
        .as_bytes(),
    );
    seeds.push(v);
    // LOBSTER's two files, their first rows.
    let first = |p: &str| {
        let mut lines = Vec::new();
        eventstore_market::import::input::for_each_line(&data.join(p), |_, l| {
            if let (Ok(l), true) = (l, lines.len() < 30) {
                lines.push(l.to_string());
            }
            Ok(())
        })
        .expect("read a real recording");
        lines.join("\n")
    };
    let mut v = vec![10];
    v.extend_from_slice(first("lobster/AMZN_message_20k.csv.gz").as_bytes());
    v.push(0);
    v.extend_from_slice(first("lobster/AMZN_orderbook_20k.csv.gz").as_bytes());
    seeds.push(v);
    for (file, keep) in [
        (
            "databento/futures_trades_2024-07-01T23-58_2024-07-02T00-02.dbn.zst",
            usize::MAX,
        ),
        (
            "databento/orderbooks_mbo_2024-05-08T00-00-00_2024-05-08T00-00-02.dbn.zst",
            8 << 10,
        ),
    ] {
        let zst = std::fs::read(data.join(file)).expect("read a real DBN file");
        let raw = zstd::decode_all(&zst[..]).expect("decompress a real DBN file");
        let mut v = vec![5];
        v.extend_from_slice(&raw[..keep.min(raw.len())]);
        seeds.push(v);
    }
    seeds
}

/// A compact trade block: decoded without a panic, and a block that
/// decodes encodes back to the same trades.
pub(crate) fn compact_trades(data: &[u8]) {
    use eventstore_market::compact::{decode_levels, decode_trades, encode_levels, encode_trades};
    if let Ok(trades) = decode_trades(data) {
        let again = encode_trades(&trades, 1).expect("encode decoded trades");
        assert_eq!(
            decode_trades(&again).as_ref(),
            Ok(&trades),
            "a decoded block re-encodes"
        );
    }
    // The level-update codec shares the target (its blocks are among the seeds).
    if let Ok(levels) = decode_levels(data) {
        let again = encode_levels(&levels, 1).expect("encode decoded levels");
        assert_eq!(
            decode_levels(&again).as_ref(),
            Ok(&levels),
            "a decoded block re-encodes"
        );
    }
}

/// Compact blocks of the real Binance trades and level updates: a few, and many.
pub(crate) fn compact_trades_seeds() -> Vec<Vec<u8>> {
    let Some(data) = eventstore_testkit::market_data() else {
        return Vec::new();
    };
    let root = crate::fresh_dir("compact-seeds");
    let input = data.join("binance/spot_btcusdt_20240808.hftbacktest.gz");
    let opts = ImportOptions::default();
    eventstore_market::import::import(Format::Binance, &input, &root, &opts)
        .expect("import the real recording");
    let name = eventstore_log::StreamName::new("binance/btcusdt/trades").expect("name");
    let mut r = eventstore_log::StreamReader::open(&root, &name, Default::default())
        .expect("open the real trades");
    let mut trades = Vec::new();
    while let Some(rec) = r.next().expect("read the real trades") {
        trades.push(eventstore_market::Trade::decode(rec.payload).expect("a real trade"));
    }
    let name = eventstore_log::StreamName::new("binance/btcusdt/depth").expect("name");
    let mut r = eventstore_log::StreamReader::open(&root, &name, Default::default())
        .expect("open the real depth");
    let mut levels = Vec::new();
    while let Some(rec) = r.next().expect("read the real depth") {
        levels.push(eventstore_market::BookLevel::decode(rec.payload).expect("a real level"));
    }
    let _ = std::fs::remove_dir_all(&root);
    let mut seeds: Vec<Vec<u8>> = [3, 50, 2_000]
        .iter()
        .map(|&n| {
            eventstore_market::compact::encode_trades(&trades[..n.min(trades.len())], 3)
                .expect("encode real trades")
        })
        .collect();
    for n in [3, 500] {
        seeds.push(
            eventstore_market::compact::encode_levels(&levels[..n.min(levels.len())], 3)
                .expect("encode real levels"),
        );
    }
    seeds
}
