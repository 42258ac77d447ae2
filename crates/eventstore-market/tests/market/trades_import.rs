//! The real Binance spot recording and Tardis trades file: every trade imported and read back
//! exactly (prices and sizes print as the source's strings), time-range
//! queries against a brute-force filter, and bad rows named by file and
//! line with nothing written.

use eventstore_log::{RollInterval, StreamName};
use eventstore_market::import::{import, Format, ImportOptions};
use eventstore_market::records::decimal::{format, DecimalStyle};
use eventstore_market::{Error, Side, TradeStreamReader};
use std::io::Write;

use crate::common;
use common::{imported, market_data, stored};
use std::path::Path;

/// The data lines of a CSV file (after its header).
fn csv_rows(path: &Path) -> Vec<String> {
    let mut rows = Vec::new();
    eventstore_market::import::input::for_each_line(path, |no, line| {
        let line = line.unwrap();
        if no > 1 && !line.is_empty() {
            rows.push(line.to_string());
        }
        Ok(())
    })
    .unwrap();
    rows
}

/// The trades of the source, as (local ns, trade id, price, size, buyer is maker, trade time ms).
fn source_trades(path: &Path) -> Vec<(i64, u64, String, String, bool, i64)> {
    let mut out = Vec::new();
    eventstore_market::import::input::for_each_line(path, |_, line| {
        let line = line.unwrap();
        let (ns, json) = line.split_once(' ').unwrap();
        let v: serde_json::Value = serde_json::from_str(json).unwrap();
        let d = v.get("data").unwrap_or(&v);
        if d["e"] == "trade" {
            out.push((
                ns.parse().unwrap(),
                d["t"].as_u64().unwrap(),
                d["p"].as_str().unwrap().to_string(),
                d["q"].as_str().unwrap().to_string(),
                d["m"].as_bool().unwrap(),
                d["T"].as_i64().unwrap(),
            ));
        }
        Ok(())
    })
    .unwrap();
    out
}

#[test]
fn every_binance_spot_trade_is_imported_and_read_back_exactly() {
    let Some(data) = market_data() else { return };
    let input = data.join("binance/spot_btcusdt_20240808.hftbacktest.gz");
    let src = source_trades(&input);
    assert_eq!(src.len(), 9_757);
    let tmp = tempfile::tempdir().unwrap();
    let opts = ImportOptions {
        roll: RollInterval::MINUTELY,
        ..ImportOptions::default()
    };
    let r = import(Format::Binance, &input, tmp.path(), &opts).unwrap();
    assert_eq!(r.streams.get("binance/btcusdt/trades"), Some(&9_757));
    assert_eq!(r.streams.get("binance/btcusdt/bookticker"), Some(&28_040));
    assert!(r.streams.contains_key("binance/btcusdt/depth"), "{r:?}");
    let name = StreamName::new("binance/btcusdt/trades").unwrap();
    let mut rd = TradeStreamReader::open(tmp.path(), &name, None, None).unwrap();
    let m = rd.meta().clone();
    assert_eq!(
        (m.price_scale, m.size_scale, m.symbol.as_str()),
        (8, 8, "BTCUSDT")
    );
    let mut got = Vec::new();
    while let Some(t) = rd.try_next().unwrap() {
        got.push(t);
    }
    assert_eq!(got.len(), src.len());
    for (t, s) in got.iter().zip(&src) {
        assert_eq!(t.local_ts, s.0);
        assert_eq!(t.trade_id, s.1);
        assert_eq!(format(t.price, m.price_scale, DecimalStyle::Fixed), s.2);
        assert_eq!(format(t.size, m.size_scale, DecimalStyle::Fixed), s.3);
        assert_eq!(t.side, if s.4 { Side::Sell } else { Side::Buy });
        assert_eq!(t.exchange_ts, s.5 * 1_000_000);
    }
    // Rolled every minute: the six-minute recording spans several files.
    let files = eventstore_log::files::list_files(&name.dir(tmp.path())).unwrap();
    assert!(files.len() >= 6, "{} files", files.len());

    // Time ranges at pseudo-random bounds equal a brute-force filter.
    let (lo, hi) = (src[0].0, src[src.len() - 1].0);
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..50 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let a = lo + (x % (hi - lo + 1) as u64) as i64;
        let b = a + ((x >> 20) % 120_000_000_000) as i64;
        let want: Vec<u64> = src
            .iter()
            .filter(|s| s.0 >= a && s.0 < b)
            .map(|s| s.1)
            .collect();
        let mut rd = TradeStreamReader::open(tmp.path(), &name, Some(a), Some(b)).unwrap();
        let mut ids = Vec::new();
        while let Some(t) = rd.try_next().unwrap() {
            ids.push(t.trade_id);
        }
        assert_eq!(ids, want, "[{a}, {b})");
    }
}

#[test]
fn a_bad_row_is_named_by_file_and_line_and_nothing_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("feed.txt");
    let good = r#"1723161254087896568 {"stream":"btcusdt@trade","data":{"e":"trade","E":1723161255343,"s":"BTCUSDT","t":1,"p":"61837.63000000","q":"0.02000000","T":1723161255342,"m":true,"M":true}}"#;
    let rows = [
        (good.to_string(), None),
        (
            good.replace("\"p\":\"61837.63000000\"", "\"p\":\"61837.6x\""),
            Some("not a decimal"),
        ),
        (good.replace(",\"m\":true", ""), Some("\"m\"")),
        (
            "1723161254087896568 {not json".to_string(),
            Some("not a JSON message"),
        ),
        (good.replace("0.02000000", "0.020"), Some("decimal places")),
        (
            good.replace("\"q\":\"0.02000000\"", "\"q\":\"-1.00000000\""),
            Some("negative"),
        ),
    ];
    let root = tmp.path().join("root");
    for (bad, why) in rows.iter().skip(1) {
        let mut f = std::fs::File::create(&input).unwrap();
        writeln!(f, "{}", rows[0].0).unwrap();
        writeln!(f, "{}", rows[0].0.replace("\"t\":1,", "\"t\":2,")).unwrap();
        writeln!(f, "{bad}").unwrap();
        drop(f);
        let e = import(Format::Binance, &input, &root, &ImportOptions::default()).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, Error::BadRow { line: 3, .. }), "{msg}");
        assert!(
            msg.starts_with(&format!("{}:3: ", input.display())),
            "{msg}"
        );
        assert!(msg.contains(why.unwrap()), "{msg}");
        assert!(!root.join("binance").exists(), "nothing written");
        // With skip_bad the good rows go in and the bad one is counted.
        let skip = tmp.path().join("skip");
        let r = skipping_one_of_three(&input, &skip);
        assert!(r.skipped_examples[0].contains(":3: "));
        std::fs::remove_dir_all(&skip).unwrap();
    }
    // A line that is not UTF-8: named, and skipped with skip_bad.
    let mut bytes = format!("{}\n", rows[0].0).into_bytes();
    bytes.extend_from_slice(b"1723161254087896568 {\"e\":\"trade\xff\xfe\"}\n");
    bytes.extend_from_slice(format!("{}\n", rows[0].0.replace("\"t\":1,", "\"t\":2,")).as_bytes());
    std::fs::write(&input, &bytes).unwrap();
    let e = import(Format::Binance, &input, &root, &ImportOptions::default()).unwrap_err();
    assert!(matches!(e, Error::BadRow { line: 2, .. }), "{e}");
    assert!(e.to_string().contains("not UTF-8"), "{e}");
    assert!(!root.join("binance").exists(), "nothing written");
    skipping_one_of_three(&input, &root);
}

/// Import the Binance `input` with bad rows skipped: one of its three
/// trades is bad, two go in.
fn skipping_one_of_three(input: &Path, root: &Path) -> eventstore_market::import::ImportReport {
    let r = import(
        Format::Binance,
        input,
        root,
        &ImportOptions {
            skip_bad: true,
            ..ImportOptions::default()
        },
    )
    .unwrap();
    assert_eq!(
        (r.skipped, r.streams.get("binance/btcusdt/trades")),
        (1, Some(&2))
    );
    r
}

#[test]
fn a_databento_file_cut_short_is_an_error_naming_the_offset_with_nothing_written() {
    use std::io::Read;
    let Some(data) = market_data() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let input =
        data.join("databento/orderbooks_mbo_2024-05-08T00-00-00_2024-05-08T00-00-02.dbn.zst");
    let whole = std::fs::read(&input).unwrap();
    let mut raw = Vec::new();
    zstd::stream::read::Decoder::new(&whole[..])
        .unwrap()
        .read_to_end(&mut raw)
        .unwrap();
    // The whole raw DBN imports; so does the compressed file.
    let plain = tmp.path().join("whole.dbn");
    std::fs::write(&plain, &raw).unwrap();
    let root = tmp.path().join("ok");
    let a = import(Format::Databento, &plain, &root, &ImportOptions::default()).unwrap();
    assert!(a.streams.values().sum::<u64>() > 1000);
    // The tenth record says it is 52 bytes long (13 words): records are
    // whole 8-byte words, and `dbn` would read the next one unaligned.
    let mut odd = raw.clone();
    let meta = u32::from_le_bytes([raw[4], raw[5], raw[6], raw[7]]) as usize;
    let tenth = 8 + meta + 9 * usize::from(raw[8 + meta]) * 4;
    odd[tenth] = 13;
    let cases = [
        ("odd.dbn", odd, "record at byte"),
        (
            "half.dbn.zst",
            whole[..whole.len() / 2].to_vec(),
            "cut short",
        ),
        // 20 bytes into the last record.
        (
            "cut.dbn",
            raw[..raw.len() - 36].to_vec(),
            "ends inside record",
        ),
    ];
    for (name, bytes, why) in cases {
        let path = tmp.path().join(name);
        std::fs::write(&path, &bytes).unwrap();
        let root = tmp.path().join(format!("root-{name}"));
        for skip_bad in [false, true] {
            let e = import(
                Format::Databento,
                &path,
                &root,
                &ImportOptions {
                    skip_bad,
                    ..ImportOptions::default()
                },
            )
            .unwrap_err();
            let msg = e.to_string();
            assert!(msg.contains(&*path.to_string_lossy()), "{msg}");
            assert!(msg.contains(why) && msg.contains("byte"), "{msg}");
            assert!(!root.exists(), "{name}: nothing written");
        }
    }
}

#[test]
fn every_tardis_trade_is_imported_and_prints_as_the_source() {
    let Some(data) = market_data() else { return };
    let input = data.join("tardis/binance-futures_trades_BTCUSDT_2020-02-22.csv.gz");
    let src = csv_rows(&input);
    let tmp = prints_back_as_the_source(&input, "binance-futures/btcusdt/trades");
    // A bad row: file and line named, nothing written.
    let bad = tmp.path().join("bad.csv");
    let mut text = String::from("exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n");
    text.push_str(&src[0]);
    text.push_str(
        "\nbinance-futures,BTCUSDT,1582329602111000,1582329602418379,42377944,buy,96x2,0.132\n",
    );
    std::fs::write(&bad, text).unwrap();
    let root = tmp.path().join("r2");
    let e = import(Format::TardisTrades, &bad, &root, &ImportOptions::default()).unwrap_err();
    assert!(
        e.to_string().starts_with(&format!("{}:3: ", bad.display())),
        "{e}"
    );
    assert!(!root.exists() || std::fs::read_dir(&root).unwrap().next().is_none());
}

/// BitMEX trade ids are UUIDs: kept as the venue gave them.
#[test]
fn tardis_trades_with_uuid_ids_keep_the_ids_as_the_venue_gave_them() {
    let Some(data) = market_data() else { return };
    let input = data.join("tardis/bitmex_trades_XBTUSD.csv");
    let tmp = prints_back_as_the_source(&input, "bitmex/xbtusd/trades");
    let name = StreamName::new("bitmex/xbtusd/trades").unwrap();
    let first = TradeStreamReader::open(tmp.path(), &name, None, None)
        .unwrap()
        .try_next()
        .unwrap()
        .unwrap();
    assert_eq!(first.trade_id.as_text().map(str::len), Some(36));
}

/// Import a Tardis trades CSV and check that every stored trade prints as
/// its source row.
fn prints_back_as_the_source(input: &Path, stream: &str) -> tempfile::TempDir {
    let src = csv_rows(input);
    let (tmp, r) = imported(Format::TardisTrades, input, &ImportOptions::default());
    assert_eq!(r.streams.get(stream), Some(&(src.len() as u64)));
    let name = StreamName::new(stream).unwrap();
    let mut rd = TradeStreamReader::open(tmp.path(), &name, None, None).unwrap();
    let m = rd.meta().clone();
    assert_eq!(m.style, DecimalStyle::Trimmed);
    let mut n = 0;
    while let Some(t) = rd.try_next().unwrap() {
        let row = format!(
            "{},{},{},{},{},{},{},{}",
            m.venue,
            m.symbol,
            t.exchange_ts / 1000,
            t.local_ts / 1000,
            t.trade_id,
            t.side.as_str(),
            format(t.price, m.price_scale, m.style),
            format(t.size, m.size_scale, m.style)
        );
        assert_eq!(row, src[n], "row {}", n + 2);
        n += 1;
    }
    assert_eq!(n, src.len());
    tmp
}

/// (open, high, low, close, volume, buy volume, trades, notional)
type BarRow = (i64, i64, i64, i64, i64, i64, u64, i128);

#[test]
fn bars_equal_an_independent_computation_from_the_source_rows() {
    use eventstore_market::read::bars::Bars;
    use std::collections::BTreeMap;
    let Some(data) = market_data() else { return };
    let input = data.join("binance/spot_btcusdt_20240808.hftbacktest.gz");
    let src = source_trades(&input);
    let (tmp, _) = imported(Format::Binance, &input, &ImportOptions::default());
    let name = StreamName::new("binance/btcusdt/trades").unwrap();
    for interval in [1_000_000_000i64, 60_000_000_000, 7_000_000_000] {
        // Straight from the source strings: (o, h, l, c, volume, buy volume, count, notional).
        let mut want: BTreeMap<i64, BarRow> = BTreeMap::new();
        for s in &src {
            let p = eventstore_market::records::decimal::parse(&s.2, 8).unwrap();
            let q = eventstore_market::records::decimal::parse(&s.3, 8).unwrap();
            let k = s.0 - s.0.rem_euclid(interval);
            let e = want.entry(k).or_insert((p, p, p, p, 0, 0, 0, 0));
            e.1 = e.1.max(p);
            e.2 = e.2.min(p);
            e.3 = p;
            e.4 += q;
            if !s.4 {
                e.5 += q;
            }
            e.6 += 1;
            e.7 += p as i128 * q as i128;
        }
        let rd = TradeStreamReader::open(tmp.path(), &name, None, None).unwrap();
        let mut bars = Bars::new(rd, interval);
        let mut got = BTreeMap::new();
        while let Some(b) = bars.try_next().unwrap() {
            got.insert(
                b.start_ns,
                (
                    b.open,
                    b.high,
                    b.low,
                    b.close,
                    b.volume,
                    b.buy_volume,
                    b.trades,
                    b.notional,
                ),
            );
            assert_eq!(b.volume, b.buy_volume + b.sell_volume);
            let v = b.vwap().unwrap();
            assert!(b.low <= v && v <= b.high);
        }
        assert_eq!(got, want, "bars of {interval} ns");
    }
}

#[test]
fn every_sealed_file_gets_a_summary_equal_to_its_trades() {
    use eventstore_market::read::summary::{summaries, summary_path};
    let Some(data) = market_data() else { return };
    let input = data.join("binance/spot_btcusdt_20240808.hftbacktest.gz");
    let tmp = tempfile::tempdir().unwrap();
    let opts = ImportOptions {
        roll: RollInterval::MINUTELY,
        ..ImportOptions::default()
    };
    import(Format::Binance, &input, tmp.path(), &opts).unwrap();
    let name = StreamName::new("binance/btcusdt/trades").unwrap();
    let dir = name.dir(tmp.path());
    let files = eventstore_log::files::list_files(&dir).unwrap();
    assert!(
        files.iter().all(|f| summary_path(&f.path).exists()),
        "built at import"
    );
    let sums = summaries(&dir).unwrap();
    assert_eq!(sums.len(), files.len());
    // Each file's summary is the one-minute bar of its trades.
    let rd = TradeStreamReader::open(tmp.path(), &name, None, None).unwrap();
    let mut bars = eventstore_market::read::bars::Bars::new(rd, 60_000_000_000);
    for (_, s) in &sums {
        let b = bars.next().unwrap().unwrap();
        let sb = s.bar.unwrap();
        assert_eq!(
            (
                sb.open,
                sb.high,
                sb.low,
                sb.close,
                sb.volume,
                sb.buy_volume,
                sb.notional,
                sb.trades
            ),
            (
                b.open,
                b.high,
                b.low,
                b.close,
                b.volume,
                b.buy_volume,
                b.notional,
                b.trades
            )
        );
    }
    assert_eq!(sums.iter().map(|(_, s)| s.trades).sum::<u64>(), 9_757);
    // A stale summary (another file size) is rebuilt.
    let p = summary_path(&files[0].path);
    let stale = std::fs::read_to_string(&p)
        .unwrap()
        .replace("\"file_bytes\":", "\"file_bytes\":1");
    std::fs::write(&p, stale).unwrap();
    let again = summaries(&dir).unwrap();
    assert_eq!(again[0].1, sums[0].1);
}

#[cfg(feature = "parquet")]
#[test]
fn parquet_export_reads_back_row_for_row() {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Decimal128Type, TimestampNanosecondType, UInt64Type};
    let Some(data) = market_data() else { return };
    let input = data.join("binance/spot_btcusdt_20240808.hftbacktest.gz");
    let src = source_trades(&input);
    let (tmp, _) = imported(Format::Binance, &input, &ImportOptions::default());
    let name = StreamName::new("binance/btcusdt/trades").unwrap();
    let rd = eventstore_market::arrow::Batches::open(tmp.path(), &name, None, None, 4096).unwrap();
    let out = tmp.path().join("trades.parquet");
    assert_eq!(
        eventstore_market::export::trades_to_parquet(rd, &out).unwrap(),
        9_757
    );
    let f = std::fs::File::open(&out).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
        .unwrap()
        .build()
        .unwrap();
    let mut i = 0;
    for batch in reader {
        let b = batch.unwrap();
        let schema = b.schema();
        assert_eq!(
            schema.field_with_name("price").unwrap().data_type(),
            &arrow_schema::DataType::Decimal128(38, 8)
        );
        let local = b.column(0).as_primitive::<TimestampNanosecondType>();
        let exch = b.column(1).as_primitive::<TimestampNanosecondType>();
        let price = b.column(2).as_primitive::<Decimal128Type>();
        let size = b.column(3).as_primitive::<Decimal128Type>();
        let side = b.column(4).as_string::<i32>();
        let id = b.column(5).as_primitive::<UInt64Type>();
        for r in 0..b.num_rows() {
            let s = &src[i];
            assert_eq!(local.value(r), s.0);
            assert_eq!(id.value(r), s.1);
            assert_eq!(price.value_as_string(r), s.2, "row {i}");
            assert_eq!(size.value_as_string(r), s.3, "row {i}");
            assert_eq!(side.value(r), if s.4 { "sell" } else { "buy" });
            assert_eq!(exch.value(r), s.5 * 1_000_000);
            i += 1;
        }
    }
    assert_eq!(i, src.len());
}

#[test]
fn binance_agg_trades_from_a_cryptofeed_capture_are_imported() {
    let Some(data) = market_data() else { return };
    let input = data.join("binance/BINANCE.ws.1.0");
    // The source's aggTrade messages: (receive seconds, symbol, id, price, size).
    let mut src = Vec::new();
    eventstore_market::import::input::for_each_line(&input, |_, line| {
        let line = line.unwrap();
        if let Some((ts, json)) = line.split_once(": ") {
            let v: serde_json::Value = match serde_json::from_str(json) {
                Ok(v) => v,
                Err(_) => return Ok(()),
            };
            let d = &v["data"];
            if d["e"] == "aggTrade" {
                src.push((
                    ts.to_string(),
                    d["s"].as_str().unwrap().to_ascii_lowercase(),
                    d["a"].as_u64().unwrap(),
                    d["p"].as_str().unwrap().to_string(),
                    d["q"].as_str().unwrap().to_string(),
                ));
            }
        }
        Ok(())
    })
    .unwrap();
    assert_eq!(src.len(), 2);
    let (tmp, r) = imported(Format::Binance, &input, &ImportOptions::default());
    let agg: u64 = r
        .streams
        .iter()
        .filter(|(k, _)| k.ends_with("/aggtrades"))
        .map(|(_, v)| v)
        .sum();
    assert_eq!(agg, 2, "{r:?}");
    assert!(r.other >= 2, "klines counted: {r:?}");
    for s in &src {
        let name = StreamName::new(&format!("binance/{}/aggtrades", s.1)).unwrap();
        let mut rd = TradeStreamReader::open(tmp.path(), &name, None, None).unwrap();
        let m = rd.meta().clone();
        let t = rd.next().unwrap().unwrap();
        assert_eq!(t.trade_id, s.2);
        assert_eq!(format(t.price, m.price_scale, DecimalStyle::Fixed), s.3);
        assert_eq!(format(t.size, m.size_scale, DecimalStyle::Fixed), s.4);
        let want_ns = eventstore_market::records::decimal::parse(&s.0, 9).unwrap();
        assert_eq!(
            t.local_ts, want_ns,
            "receive time from the capture's seconds"
        );
    }
    // The REST capture holds depth snapshots, each naming its symbol in its url.
    let r = import(
        Format::Binance,
        &data.join("binance/BINANCE.http.0.0"),
        &tmp.path().join("rest"),
        &ImportOptions::default(),
    )
    .unwrap();
    assert!(
        r.streams.keys().all(|k| k.ends_with("/depth")) && !r.streams.is_empty(),
        "{r:?}"
    );
}

#[test]
fn binance_depth_updates_snapshot_and_book_tickers_are_imported_exactly() {
    use eventstore_market::records::level::{FLAG_LAST, FLAG_SNAPSHOT};
    use eventstore_market::{BookLevel, BookSide, Quote};
    let Some(data) = market_data() else { return };
    let input = data.join("binance/spot_btcusdt_20240808.hftbacktest.gz");
    // The source, as the records it should become.
    let (mut levels, mut quotes) = (Vec::new(), Vec::new());
    eventstore_market::import::input::for_each_line(&input, |_, line| {
        let line = line.unwrap();
        let (ns, json) = line.split_once(' ').unwrap();
        let ns: i64 = ns.parse().unwrap();
        let v: serde_json::Value = serde_json::from_str(json).unwrap();
        let d = v.get("data").unwrap_or(&v);
        let lv = |d: &serde_json::Value, b: &str, a: &str, flags: u8, ids: (u64, u64)| {
            let mut out: Vec<(BookSide, String, String, u8, u64, u64)> = Vec::new();
            for (side, key) in [(BookSide::Bid, b), (BookSide::Ask, a)] {
                for l in d[key].as_array().unwrap() {
                    let s = |i: usize| l[i].as_str().unwrap().to_string();
                    out.push((side, s(0), s(1), flags, ids.0, ids.1));
                }
            }
            if let Some(last) = out.last_mut() {
                last.3 |= FLAG_LAST;
            }
            out
        };
        if d["e"] == "depthUpdate" {
            levels.extend(lv(
                d,
                "b",
                "a",
                0,
                (d["U"].as_u64().unwrap(), d["u"].as_u64().unwrap()),
            ));
        } else if d.get("lastUpdateId").is_some() {
            let id = d["lastUpdateId"].as_u64().unwrap();
            levels.extend(lv(d, "bids", "asks", FLAG_SNAPSHOT, (id, id)));
        } else if d.get("B").is_some() {
            let s = |k: &str| d[k].as_str().unwrap().to_string();
            quotes.push((ns, s("b"), s("B"), s("a"), s("A"), d["u"].as_u64().unwrap()));
        }
        Ok(())
    })
    .unwrap();
    assert_eq!(quotes.len(), 28_040);
    let (tmp, _) = imported(Format::Binance, &input, &ImportOptions::default());
    let f8 = |v: i64| format(v, 8, DecimalStyle::Fixed);
    let got = stored(tmp.path(), "binance/btcusdt/depth", |b| {
        BookLevel::decode(b).unwrap()
    });
    assert_eq!(got.len(), levels.len());
    // Records are in receive order; compare as multisets per update id range
    // would hide nothing here: the file is already in receive order.
    for (g, w) in got.iter().zip(&levels) {
        assert_eq!(
            (
                g.side,
                f8(g.price),
                f8(g.size),
                g.flags,
                g.first_update_id,
                g.last_update_id
            ),
            w.clone()
        );
    }
    assert!(
        got.iter().any(|l| l.flags & FLAG_SNAPSHOT != 0),
        "the snapshot is stored"
    );
    let got = stored(tmp.path(), "binance/btcusdt/bookticker", |b| {
        Quote::decode(b).unwrap()
    });
    assert_eq!(got.len(), quotes.len());
    for (g, w) in got.iter().zip(&quotes) {
        assert_eq!(
            (
                g.local_ts,
                f8(g.bid_price),
                f8(g.bid_size),
                f8(g.ask_price),
                f8(g.ask_size),
                g.update_id
            ),
            w.clone()
        );
    }
}

#[test]
fn tardis_book_snapshots_are_stored_as_snapshots_and_rebuild_every_row() {
    use eventstore_market::records::level::{FLAG_LAST, FLAG_SNAPSHOT};
    use eventstore_market::{BookLevel, BookSide};
    let Some(data) = market_data() else { return };
    for n in [5usize, 25] {
        let input = data.join(format!(
            "tardis/binance-futures_book_snapshot_{n}_BTCUSDT.csv"
        ));
        let src = csv_rows(&input);
        let (tmp, r) = imported(
            Format::TardisBookSnapshot,
            &input,
            &ImportOptions::default(),
        );
        let name = format!("binance-futures/btcusdt/book_snapshot_{n}");
        assert!(r.streams.contains_key(&name), "{r:?}");
        let meta =
            eventstore_market::StreamMeta::load(&StreamName::new(&name).unwrap().dir(tmp.path()))
                .unwrap()
                .unwrap();
        assert_eq!(meta.kind.as_str(), "book_l2");
        let levels = stored(tmp.path(), &name, |b| BookLevel::decode(b).unwrap());
        assert!(levels.iter().all(|l| l.flags & FLAG_SNAPSHOT != 0));
        // Group into rows at each last-of-event flag, and print each row back.
        let mut rows = Vec::new();
        let mut cur: Vec<BookLevel> = Vec::new();
        for l in levels {
            let last = l.flags & FLAG_LAST != 0;
            cur.push(l);
            if last {
                rows.push(std::mem::take(&mut cur));
            }
        }
        assert_eq!(rows.len(), src.len());
        let p = |v: i64| format(v, meta.price_scale, DecimalStyle::Trimmed);
        let q = |v: i64| format(v, meta.size_scale, DecimalStyle::Trimmed);
        for (row, want) in rows.iter().zip(&src) {
            let bids: Vec<&BookLevel> = row.iter().filter(|l| l.side == BookSide::Bid).collect();
            let asks: Vec<&BookLevel> = row.iter().filter(|l| l.side == BookSide::Ask).collect();
            let mut line = format!(
                "binance-futures,BTCUSDT,{},{}",
                row[0].exchange_ts / 1000,
                row[0].local_ts / 1000
            );
            for i in 0..n {
                for side in [&asks, &bids] {
                    match side.get(i) {
                        Some(l) => line.push_str(&format!(",{},{}", p(l.price), q(l.size))),
                        None => line.push_str(",,"),
                    }
                }
            }
            assert_eq!(&line, want);
        }
    }
}

#[test]
fn every_lobster_message_is_stored_as_an_order_event() {
    use eventstore_market::{Action, BookSide, OrderEvent};
    let Some(data) = market_data() else { return };
    let input = data.join("lobster/AMZN_message_20k.csv.gz");
    let mut src = Vec::new();
    eventstore_market::import::input::for_each_line(&input, |_, line| {
        let line = line.unwrap();
        src.push(line.split(',').map(String::from).collect::<Vec<_>>());
        Ok(())
    })
    .unwrap();
    assert_eq!(src.len(), 20_000);
    let tmp = tempfile::tempdir().unwrap();
    let opts = ImportOptions {
        venue: "nasdaq".into(),
        date: Some("2012-06-21T04:00:00Z".into()),
        symbol: Some("AMZN".into()),
        ..ImportOptions::default()
    };
    let r = import(Format::Lobster, &input, tmp.path(), &opts).unwrap();
    assert_eq!(r.streams.get("nasdaq/amzn/orders"), Some(&20_000));
    let got = stored(tmp.path(), "nasdaq/amzn/orders", |b| {
        OrderEvent::decode(b).unwrap()
    });
    let midnight = 1_340_251_200_000_000_000i64; // 2012-06-21T04:00:00Z
    for (g, s) in got.iter().zip(&src) {
        let t = eventstore_market::records::decimal::parse(&s[0], 9).unwrap();
        assert_eq!(g.exchange_ts, midnight + t);
        let action = match s[1].as_str() {
            "1" => Action::Add,
            "2" => Action::Reduce,
            "3" => Action::Cancel,
            "4" => Action::Fill,
            "5" => Action::HiddenFill,
            _ => Action::Other,
        };
        assert_eq!(g.action, action);
        assert_eq!(g.order_id.to_string(), s[2]);
        assert_eq!(g.size.to_string(), s[3]);
        assert_eq!(g.price.to_string(), s[4], "price x 10^4 at scale 4");
        assert_eq!(
            g.side,
            if s[5] == "1" {
                BookSide::Bid
            } else {
                BookSide::Ask
            }
        );
    }
    // Without the date and symbol: a clear error, nothing written.
    let e = import(
        Format::Lobster,
        &input,
        &tmp.path().join("x"),
        &ImportOptions::default(),
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("give the date and the symbol"),
        "{e}"
    );
    // A bad row names file and line.
    let bad = tmp.path().join("bad.csv");
    std::fs::write(
        &bad,
        "34200.1,1,11,21,2238100,1\n34200.2,9,12,5,2238100,1\n",
    )
    .unwrap();
    let e = import(Format::Lobster, &bad, &tmp.path().join("y"), &opts).unwrap_err();
    assert!(
        e.to_string().starts_with(&format!("{}:2: ", bad.display())),
        "{e}"
    );
    assert!(!tmp.path().join("y").exists());
}

#[test]
fn databento_mbo_and_trades_are_stored_record_for_record() {
    use dbn::decode::{DbnMetadata, DecodeRecordRef};
    use eventstore_market::records::level::{FLAG_LAST, FLAG_SNAPSHOT};
    use eventstore_market::{Action, OrderEvent};
    let Some(data) = market_data() else { return };
    let tmp = tempfile::tempdir().unwrap();
    // MBO: read with the dbn crate directly, then compare with what was stored.
    let input =
        data.join("databento/orderbooks_mbo_2024-05-08T00-00-00_2024-05-08T00-00-02.dbn.zst");
    let mut dec = dbn::decode::dbn::Decoder::from_zstd_file(&input).unwrap();
    let meta = dec.metadata().clone();
    let mut src = Vec::new();
    while let Some(r) = dec.decode_record_ref().unwrap() {
        if let Some(m) = r.get::<dbn::MboMsg>() {
            src.push(m.clone());
        }
    }
    assert!(src.len() > 1000, "{} MBO records", src.len());
    let r = import(
        Format::Databento,
        &input,
        tmp.path(),
        &ImportOptions::default(),
    )
    .unwrap();
    let stream = r
        .streams
        .keys()
        .find(|k| k.ends_with("/orders"))
        .unwrap()
        .clone();
    assert!(
        stream.starts_with(&meta.dataset.to_ascii_lowercase()),
        "{stream}"
    );
    let got = stored(tmp.path(), &stream, |b| OrderEvent::decode(b).unwrap());
    assert_eq!(got.len(), src.len());
    assert_eq!(got[0].action, Action::Clear, "the feed starts with a clear");
    assert!(got.iter().any(|o| o.flags & FLAG_SNAPSHOT != 0));
    for (g, m) in got.iter().zip(&src) {
        assert_eq!(
            (
                g.exchange_ts,
                g.local_ts,
                g.price,
                g.size,
                g.order_id,
                g.sequence
            ),
            (
                m.hd.ts_event as i64,
                m.ts_recv as i64,
                m.price,
                m.size as i64,
                m.order_id,
                m.sequence as u64
            )
        );
        assert_eq!(g.flags & FLAG_LAST != 0, m.flags.is_last());
        assert_eq!(g.flags & FLAG_SNAPSHOT != 0, m.flags.is_snapshot());
    }
    // Trades.
    let input = data.join("databento/futures_trades_2024-07-01T23-58_2024-07-02T00-02.dbn.zst");
    let r = import(
        Format::Databento,
        &input,
        &tmp.path().join("t"),
        &ImportOptions::default(),
    )
    .unwrap();
    assert_eq!(r.streams.values().sum::<u64>(), 120, "{r:?}");
    // Not a DBN file: a clear error, nothing written.
    let bad = tmp.path().join("bad.dbn.zst");
    std::fs::write(&bad, b"not dbn at all").unwrap();
    let e = import(
        Format::Databento,
        &bad,
        &tmp.path().join("b"),
        &ImportOptions::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("bad.dbn.zst"), "{e}");
    assert!(!tmp.path().join("b").exists());
}

#[test]
fn tardis_incremental_l2_rows_print_back_and_bad_rows_of_the_book_formats_are_named() {
    use eventstore_market::records::level::{FLAG_LAST, FLAG_SNAPSHOT};
    use eventstore_market::{BookLevel, BookSide};
    let tmp = tempfile::tempdir().unwrap();
    // Rows as Tardis.dev documents them: a snapshot, then updates (amount 0 removes).
    let rows = [
        "binance-futures,BTCUSDT,1598918403696000,1598918403810979,true,ask,11657.08,1.714",
        "binance-futures,BTCUSDT,1598918403696000,1598918403810979,true,bid,11657.07,10.896",
        "binance-futures,BTCUSDT,1598918403888000,1598918403894256,false,ask,11657.08,0",
        "binance-futures,BTCUSDT,1598918403888000,1598918403894256,false,bid,11657.5,0.002",
    ];
    let input = tmp.path().join("l2.csv");
    std::fs::write(
        &input,
        format!(
            "exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount\n{}\n",
            rows.join("\n")
        ),
    )
    .unwrap();
    let r = import(
        Format::TardisL2,
        &input,
        tmp.path(),
        &ImportOptions::default(),
    )
    .unwrap();
    assert_eq!(r.streams.get("binance-futures/btcusdt/depth"), Some(&4));
    let m = eventstore_market::StreamMeta::load(
        &StreamName::new("binance-futures/btcusdt/depth")
            .unwrap()
            .dir(tmp.path()),
    )
    .unwrap()
    .unwrap();
    let got = stored(tmp.path(), "binance-futures/btcusdt/depth", |b| {
        BookLevel::decode(b).unwrap()
    });
    // The last row of each exchange event (rows sharing their times) is marked.
    let last: Vec<bool> = got.iter().map(|l| l.flags & FLAG_LAST != 0).collect();
    assert_eq!(last, [false, true, false, true]);
    for (g, want) in got.iter().zip(rows) {
        let line = format!(
            "binance-futures,BTCUSDT,{},{},{},{},{},{}",
            g.exchange_ts / 1000,
            g.local_ts / 1000,
            g.flags & FLAG_SNAPSHOT != 0,
            if g.side == BookSide::Bid {
                "bid"
            } else {
                "ask"
            },
            format(g.price, m.price_scale, m.style),
            format(g.size, m.size_scale, m.style)
        );
        assert_eq!(line, want);
    }
    // Bad rows of the book formats: file and line, nothing written.
    let cases = [
        (
            Format::TardisL2,
            "exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount\nx,Y,1,2,maybe,bid,1,1\n",
            "is_snapshot",
        ),
        (
            Format::TardisBookSnapshot,
            "exchange,symbol,timestamp,local_timestamp,asks[0].price,asks[0].amount,bids[0].price,bids[0].amount\nx,Y,1,2,10.5,,9,1\n",
            "not both",
        ),
        (Format::Binance, "1 {\"e\":\"depthUpdate\",\"E\":1,\"s\":\"X\",\"U\":1,\"u\":2,\"b\":[[\"1.0\"]],\"a\":[]}\n", "[\"price\", \"size\"]"),
    ];
    for (i, (format, text, why)) in cases.iter().enumerate() {
        let bad = tmp.path().join(format!("bad{i}.csv"));
        std::fs::write(&bad, text).unwrap();
        let root = tmp.path().join(format!("r{i}"));
        let e = import(*format, &bad, &root, &ImportOptions::default()).unwrap_err();
        let line = if *format == Format::Binance { 1 } else { 2 };
        let msg = e.to_string();
        assert!(
            msg.starts_with(&format!("{}:{line}: ", bad.display())),
            "{msg}"
        );
        assert!(msg.contains(why), "{msg}");
        assert!(!root.exists());
    }
}

/// Every check happens before the first byte is written: a value that
/// does not fit its stream's scale (known only once every line is read)
/// and a later stream whose stored metadata differs both stop the import
/// with nothing written, not even the earlier streams' `market.json`.
#[test]
fn scale_overflow_and_a_metadata_mismatch_are_found_before_anything_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let head = "exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n";
    let row = |sym: &str, id: u32, price: &str| {
        format!("binance-futures,{sym},1582329602111000,1582329602418379,{id},buy,{price},0.132\n")
    };
    // 92233720368 fits an i64 as printed (0 places) but not at the 9
    // places a later line of the same stream sets.
    let overflow = tmp.path().join("overflow.csv");
    let text = format!(
        "{head}{}{}{}",
        row("BTCUSDT", 1, "92233720368"),
        row("BTCUSDT", 2, "9602.5"),
        row("BTCUSDT", 3, "9602.123456789")
    );
    std::fs::write(&overflow, text).unwrap();
    let root = tmp.path().join("r1");
    let e = import(
        Format::TardisTrades,
        &overflow,
        &root,
        &ImportOptions::default(),
    )
    .unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, Error::BadRow { line: 2, .. }), "{msg}");
    assert!(msg.contains("too large for the stream's scale"), "{msg}");
    assert!(!root.exists(), "nothing written: {msg}");
    // With bad rows skipped, the line that does not fit is skipped.
    let r = import(
        Format::TardisTrades,
        &overflow,
        &root,
        &ImportOptions {
            skip_bad: true,
            ..ImportOptions::default()
        },
    )
    .unwrap();
    assert_eq!(r.skipped, 1);
    assert_eq!(
        r.streams.get("binance-futures/btcusdt/trades"),
        Some(&2),
        "{r:?}"
    );
    // Two streams; the second (ETHUSDT) already holds another scale.
    let two = tmp.path().join("two.csv");
    std::fs::write(
        &two,
        format!(
            "{head}{}{}",
            row("BTCUSDT", 1, "9602.5"),
            row("ETHUSDT", 2, "262.25")
        ),
    )
    .unwrap();
    let root = tmp.path().join("r2");
    let eth = tmp.path().join("eth.csv");
    std::fs::write(&eth, format!("{head}{}", row("ETHUSDT", 1, "262.125"))).unwrap();
    import(Format::TardisTrades, &eth, &root, &ImportOptions::default()).unwrap();
    let e = import(Format::TardisTrades, &two, &root, &ImportOptions::default()).unwrap_err();
    assert!(matches!(e, Error::MetaMismatch { .. }), "{e}");
    assert!(
        !root.join("binance-futures/btcusdt").exists(),
        "the earlier stream was not created: {e}"
    );
}

/// Binance USD-M and COIN-M futures name their book tickers
/// (`"e":"bookTicker"`, with event and transaction times; COIN-M adds the
/// pair `ps`), which spot does not. No futures recording is in the shared
/// data: the real spot book tickers are rewritten in the futures dialect
/// as Binance documents it, values unchanged.
#[test]
fn binance_futures_book_tickers_are_imported_as_quotes() {
    use eventstore_market::Quote;
    let Some(data) = market_data() else { return };
    let input = data.join("binance/spot_btcusdt_20240808.hftbacktest.gz");
    let tmp = tempfile::tempdir().unwrap();
    let futures = tmp.path().join("futures.txt");
    let mut out = String::new();
    let mut want = Vec::new();
    eventstore_market::import::input::for_each_line(&input, |_, line| {
        let line = line.unwrap();
        let (ns, json) = line.split_once(' ').unwrap();
        let v: serde_json::Value = serde_json::from_str(json).unwrap();
        let d = v.get("data").unwrap_or(&v);
        if d.get("B").is_none() || d.get("e").is_some() {
            return Ok(());
        }
        let ns: i64 = ns.parse().unwrap();
        let (e, t) = (ns / 1_000_000 - 3, ns / 1_000_000 - 5);
        let coin_m = want.len() % 2 == 1;
        let mut f = serde_json::json!({
            "e": "bookTicker", "u": d["u"], "E": e, "T": t, "s": d["s"],
            "b": d["b"], "B": d["B"], "a": d["a"], "A": d["A"],
        });
        if coin_m {
            f["ps"] = serde_json::json!("BTCUSD");
        }
        out.push_str(&format!(
            "{ns} {{\"stream\":\"btcusdt@bookTicker\",\"data\":{f}}}\n"
        ));
        want.push((ns, t * 1_000_000, d["u"].as_u64().unwrap()));
        Ok(())
    })
    .unwrap();
    std::fs::write(&futures, out).unwrap();
    let (root, rep) = imported(Format::Binance, &futures, &ImportOptions::default());
    assert_eq!(rep.other, 0, "no book ticker left out");
    let got = stored(root.path(), "binance/btcusdt/bookticker", |b| {
        Quote::decode(b).unwrap()
    });
    assert_eq!(want.len(), 28_040);
    assert_eq!(
        got.iter()
            .map(|q| (q.local_ts, q.exchange_ts, q.update_id))
            .collect::<Vec<_>>(),
        want
    );
}

/// The real trades of the Binance recording, of Tardis' Binance futures
/// day and of BitMEX (UUID ids) as compact blocks: decoded back bit for
/// bit, in a fraction of the 48 bytes a trade takes raw.
#[test]
fn real_trades_round_trip_through_compact_blocks() {
    use eventstore_market::compact::{decode_trades, encode_trades};
    use eventstore_market::Trade;
    let Some(data) = market_data() else { return };
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
        (
            Format::TardisTrades,
            "tardis/bitmex_trades_XBTUSD.csv",
            "bitmex/xbtusd/trades",
        ),
    ] {
        let (tmp, _) = imported(format, &data.join(file), &ImportOptions::default());
        let trades = stored(tmp.path(), stream, |b| Trade::decode(b).unwrap());
        let block = encode_trades(&trades, 19).unwrap();
        assert_eq!(decode_trades(&block).unwrap(), trades, "{file}");
        let per = block.len() as f64 / trades.len() as f64;
        eprintln!(
            "{file}: {} trades, {per:.2} bytes a trade compact (48 raw)",
            trades.len()
        );
        if trades.len() > 1000 {
            assert!(per < 8.0, "{file}: {per:.2} bytes a trade");
        }
        if file.starts_with("binance/") {
            assert!(per <= 6.0, "{file}: {per:.2} bytes a trade, the goal is 6");
        }
    }
}

/// The real level updates of the Binance recording (with their update
/// ids) and of the OKX capture (with their checksums) as compact blocks:
/// decoded back bit for bit, in a fraction of the 64 bytes one takes raw.
#[test]
fn real_level_updates_round_trip_through_compact_blocks() {
    use eventstore_market::compact::{decode_levels, encode_levels};
    use eventstore_market::BookLevel;
    let Some(data) = market_data() else { return };
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
        let (tmp, _) = imported(format, &data.join(file), &ImportOptions::default());
        let levels = stored(tmp.path(), stream, |b| BookLevel::decode(b).unwrap());
        let block = encode_levels(&levels, 19).unwrap();
        assert_eq!(decode_levels(&block).unwrap(), levels, "{file}");
        let per = block.len() as f64 / levels.len() as f64;
        eprintln!(
            "{stream}: {} level updates, {per:.2} bytes each compact (64 raw)",
            levels.len()
        );
        assert!(per < 16.0, "{stream}: {per:.2} bytes a level update");
        if stream.starts_with("binance/") {
            assert!(
                per <= 5.0,
                "{stream}: {per:.2} bytes a level update, the goal is 5"
            );
        }
    }
}
