//! Every real recording imported, then its sealed files made compact:
//! the same records bit for bit, read by every market reader with the
//! same answers, each kind stored by its own codec in a few bytes.

use crate::common::*;
use eventstore_log::{compact_stream, files, list_streams, CompactOptions, Form, StreamReader};
use eventstore_market::import::{Format, ImportOptions};
use eventstore_market::{OrderStreamReader, TradeStreamReader};
use std::path::Path;

fn copy_root(from: &Path, to: &Path) {
    for e in walk(from) {
        let rel = e.strip_prefix(from).unwrap();
        let dst = to.join(rel);
        std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
        std::fs::copy(&e, &dst).unwrap();
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn records(dir: &Path) -> Vec<eventstore_log::OwnedRecord> {
    let mut r = StreamReader::open_dir(dir, Default::default()).unwrap();
    let mut v = Vec::new();
    while let Some(x) = r.next().unwrap() {
        v.push(x.to_owned());
    }
    v
}

/// A book's state and levels, as the readers report them.
fn book(dir: &Path, t: i64) -> String {
    let at = OrderStreamReader::open_dir(dir)
        .unwrap()
        .book_at(t)
        .unwrap();
    format!(
        "{:?} {:?} {} {:?}",
        at.replay.state(),
        at.replay.depth(50),
        at.next_seq,
        at.replay.checksums()
    )
}

#[test]
fn real_recordings_read_the_same_after_compaction() {
    let Some(data) = market_data() else { return };
    // Imported as frames, then converted; imports make files compact by
    // default, checked against both at the end of each input.
    let minutely = ImportOptions {
        roll: eventstore_log::RollInterval::MINUTELY,
        compact: None,
        ..ImportOptions::default()
    };
    let lobster = ImportOptions {
        venue: "nasdaq".into(),
        date: Some("2012-06-21T04:00:00Z".into()),
        symbol: Some("AMZN".into()),
        roll: eventstore_log::RollInterval::MINUTELY,
        compact: None,
        ..ImportOptions::default()
    };
    let inputs: Vec<(Format, &str, &ImportOptions)> = vec![
        (
            Format::Binance,
            "binance/spot_btcusdt_20240808.hftbacktest.gz",
            &minutely,
        ),
        (
            Format::Databento,
            "databento/orderbooks_mbo_2024-05-08T00-00-00_2024-05-08T00-00-02.dbn.zst",
            &minutely,
        ),
        (Format::Lobster, "lobster/AMZN_message_20k.csv.gz", &lobster),
        (Format::Okx, "cryptofeed/OKEX.ws.1.0", &minutely),
        (Format::Coinbase, "cryptofeed/COINBASE.ws.28.0", &minutely),
        (Format::Bybit, "cryptofeed/BYBIT.ws.26.0", &minutely),
        (
            Format::TardisTrades,
            "tardis/bitmex_trades_XBTUSD.csv",
            &minutely,
        ),
    ];
    for (format, file, opts) in inputs {
        let (framed, _) = imported(format, &data.join(file), opts);
        let by_default = ImportOptions {
            compact: Some(CompactOptions::default()),
            ..opts.clone()
        };
        let (direct, _) = imported(format, &data.join(file), &by_default);
        let compact = tempfile::tempdir().unwrap();
        copy_root(framed.path(), compact.path());
        for name in list_streams(compact.path()).unwrap() {
            let (a, b) = (name.dir(framed.path()), name.dir(compact.path()));
            let c = name.dir(direct.path());
            let done = compact_stream(&b, &CompactOptions::default()).unwrap();
            let n: u64 = done.iter().map(|c| c.records).sum();
            let (before, after): (u64, u64) = done
                .iter()
                .fold((0, 0), |(x, y), c| (x + c.bytes_before, y + c.bytes_after));
            // Every block of a market stream is stored by a market codec.
            for c in &done {
                for (codec, _) in &c.by_codec {
                    assert!(codec.starts_with("market "), "{name}: {codec}");
                }
            }
            for c in &done {
                let form = eventstore_log::read_header(&c.path).unwrap().form;
                assert_eq!(form == Form::Compact, c.replaced, "{}", c.path.display());
                // Only a file of a few records stays framed.
                assert!(c.replaced || c.records < 50, "{}: {c:?}", c.path.display());
            }
            assert!(files::list_files(&b)
                .unwrap()
                .iter()
                .all(|f| !f.sealed || done.iter().any(|c| c.path == f.path)));
            eprintln!(
                "{file} {name}: {n} records, {before} -> {after} bytes, {:.2} B/record",
                after as f64 / n.max(1) as f64
            );
            assert!(after <= before, "{name}: {before} -> {after}");
            if n >= 1000 {
                assert!(after * 5 < before, "{name}: {before} -> {after}");
            }
            assert_eq!(records(&a), records(&b), "{name}");
            assert_eq!(records(&a), records(&c), "{name}: imported compact");
            for f in files::list_files(&c).unwrap() {
                let framed = f.path.strip_prefix(&c).map(|r| a.join(r)).unwrap();
                let (x, y) = (
                    std::fs::metadata(&framed).unwrap().len(),
                    std::fs::metadata(&f.path).unwrap().len(),
                );
                assert!(y < x || x < 1_000, "{}: {y} of {x} bytes", f.path.display());
            }
            for rep in eventstore_log::verify_stream(&b, |_| {}).unwrap() {
                assert!(rep.is_ok(), "{:?}", rep);
            }
            let kind = eventstore_market::StreamMeta::load(&b)
                .unwrap()
                .unwrap()
                .kind;
            let all = records(&a);
            let (t0, t1) = (all[0].timestamp, all[all.len() - 1].timestamp);
            match kind {
                eventstore_market::StreamKind::Trades => {
                    let read = |root: &Path| {
                        let mut r = TradeStreamReader::open(root, &name, None, None).unwrap();
                        let mut v = Vec::new();
                        while let Some(t) = r.try_next().unwrap() {
                            v.push(t);
                        }
                        v
                    };
                    assert_eq!(read(framed.path()), read(compact.path()), "{name}");
                    let s = |d: &Path| {
                        eventstore_market::read::summary::summaries(d)
                            .unwrap()
                            .into_iter()
                            .map(|(_, s)| (s.first_seq, s.trades, s.bar))
                            .collect::<Vec<_>>()
                    };
                    assert_eq!(s(&a), s(&b), "{name}");
                }
                eventstore_market::StreamKind::Quotes => {}
                _ => {
                    for k in 0..=8 {
                        let t = t0 + (t1 - t0) / 8 * k;
                        assert_eq!(book(&a, t), book(&b, t), "{name} at {t}");
                    }
                    let l = |d: &Path| {
                        let l = OrderStreamReader::open_dir(d)
                            .unwrap()
                            .ledger(i64::MIN, None)
                            .unwrap();
                        format!("{:?}", l.entries().collect::<Vec<_>>())
                    };
                    assert_eq!(l(&a), l(&b), "{name}");
                }
            }
        }
    }
}

/// Every kind of real stream, read from its compact files as Arrow
/// batches: one row per record with the record's values, the documented
/// types, batches of the size asked, a time range found by index.
#[cfg(feature = "arrow")]
#[test]
fn every_kind_reads_as_arrow_batches_from_compact_files() {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Decimal128Type, TimestampNanosecondType, UInt64Type};
    use arrow_schema::{DataType, TimeUnit};
    use eventstore_market::arrow::Batches;
    use eventstore_market::{BookLevel, OrderEvent, Quote, Trade};
    let Some(data) = market_data() else { return };
    let (bin, _) = imported(
        Format::Binance,
        &data.join("binance/spot_btcusdt_20240808.hftbacktest.gz"),
        &ImportOptions::default(),
    );
    let (mbo, _) = imported(
        Format::Databento,
        &data.join("databento/orderbooks_mbo_2024-05-08T00-00-00_2024-05-08T00-00-02.dbn.zst"),
        &ImportOptions::default(),
    );
    let cases = [
        (bin.path(), "binance/btcusdt/trades"),
        (bin.path(), "binance/btcusdt/depth"),
        (bin.path(), "binance/btcusdt/bookticker"),
        (mbo.path(), "glbx.mdp3/esm4/orders"),
    ];
    for (root, stream) in cases {
        let name = eventstore_log::StreamName::new(stream).unwrap();
        let dir = name.dir(root);
        for f in files::list_files(&dir).unwrap() {
            assert_eq!(
                eventstore_log::read_header(&f.path).unwrap().form,
                Form::Compact
            );
        }
        let recs = records(&dir);
        let b = Batches::open(root, &name, None, None, 1000).unwrap();
        let schema = b.schema();
        assert_eq!(
            schema.field(0).data_type(),
            &DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()))
        );
        let batches: Vec<_> = b.map(|b| b.unwrap()).collect();
        assert!(batches.iter().all(|b| b.num_rows() <= 1000));
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        assert_eq!(rows, recs.len(), "{stream}");
        // Row k of the batches is record k.
        let mut k = 0;
        for b in &batches {
            let local = b.column(0).as_primitive::<TimestampNanosecondType>();
            for i in 0..b.num_rows() {
                let p = &recs[k].payload;
                assert_eq!(local.value(i), recs[k].timestamp, "{stream} row {k}");
                let dec = |c: usize| b.column(c).as_primitive::<Decimal128Type>().value(i) as i64;
                let u64c = |c: usize| b.column(c).as_primitive::<UInt64Type>().value(i);
                match stream.rsplit('/').next().unwrap() {
                    "trades" => {
                        let t = Trade::decode(p).unwrap();
                        assert_eq!((dec(2), dec(3)), (t.price, t.size));
                        assert_eq!(b.column(4).as_string::<i32>().value(i), t.side.as_str());
                        assert_eq!(Some(u64c(5)), t.trade_id.as_u64());
                    }
                    "depth" => {
                        let l = BookLevel::decode(p).unwrap();
                        assert_eq!((dec(3), dec(4)), (l.price, l.size));
                        assert_eq!((u64c(6), u64c(7)), (l.first_update_id, l.last_update_id));
                    }
                    "bookticker" => {
                        let q = Quote::decode(p).unwrap();
                        assert_eq!(
                            (dec(2), dec(3), dec(4), dec(5)),
                            (q.bid_price, q.bid_size, q.ask_price, q.ask_size)
                        );
                    }
                    _ => {
                        let o = OrderEvent::decode(p).unwrap();
                        assert_eq!((dec(4), dec(5), u64c(6)), (o.price, o.size, o.order_id));
                    }
                }
                k += 1;
            }
        }
        // A time range: the records received in it, found by index.
        let (t0, t1) = (
            recs[recs.len() / 3].timestamp,
            recs[recs.len() / 2].timestamp,
        );
        let want = recs
            .iter()
            .filter(|r| r.timestamp >= t0 && r.timestamp < t1)
            .count();
        let got: usize = Batches::open(root, &name, Some(t0), Some(t1), 500)
            .unwrap()
            .map(|b| b.unwrap().num_rows())
            .sum();
        assert_eq!(got, want, "{stream}");
    }
}

/// Trades as Arrow batches come straight from the columns of compact
/// blocks; framed files, the open file, blocks of the general codec, text
/// ids, ranges that cut blocks and batches smaller than a block all give
/// the rows the record reader gives.
#[cfg(feature = "arrow")]
#[test]
fn trade_batches_from_blocks_equal_the_record_reader_in_every_form() {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Decimal128Type, TimestampNanosecondType, UInt64Type};
    use arrow_array::Array;
    use eventstore_log::{
        ManualClock, RollBy, RollInterval, StreamName, StreamWriter, WriterOptions,
    };
    use eventstore_market::arrow::Batches;
    use eventstore_market::records::trade::TradeId;
    use eventstore_market::synth::{MarketSim, SynthConfig, SynthRecord};
    use eventstore_market::StreamKind;
    use std::sync::Arc;
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let name = StreamName::new("synth/btcusdt/trades").unwrap();
    let cfg = SynthConfig {
        trades_per_sec: 100.0,
        book_updates_per_sec: 1e-9,
        ..SynthConfig::default()
    };
    let opts = WriterOptions::default()
        .roll(RollInterval::MINUTELY)
        .roll_by(RollBy::RecordTime)
        .clock(Arc::new(ManualClock::new(cfg.start_ns)));
    let mut w = StreamWriter::open(root, &name, opts).unwrap();
    cfg.meta(StreamKind::Trades).store(&name.dir(root)).unwrap();
    let mut n = 0;
    for ev in MarketSim::new(cfg.clone()).take(30_000) {
        let SynthRecord::Trade(mut t) = ev.record() else {
            continue;
        };
        // Text ids now and then, and a stretch whose log time is not the
        // receive time (the trade codec refuses those blocks: the
        // general codec stores them).
        if n % 997 == 0 {
            t.trade_id = TradeId::parse(&format!("ccc3c1fa-{n:04}")).unwrap();
        }
        let ts = if (14_000..14_100).contains(&n) {
            t.local_ts + 1
        } else {
            t.local_ts
        };
        w.append_at(ts, &t.encode()).unwrap();
        n += 1;
    }
    w.close().unwrap();
    let dir = name.dir(root);
    let fs = files::list_files(&dir).unwrap();
    assert!(fs.len() >= 4 && !fs.last().unwrap().sealed);
    // Every other sealed file compact, in small blocks; the rest framed.
    eventstore_market::compact::install();
    let small = CompactOptions {
        block_records: 700,
        ..CompactOptions::default()
    };
    for f in fs.iter().filter(|f| f.sealed).step_by(2) {
        eventstore_log::compact_file(&f.path, &small).unwrap();
    }
    let forms: Vec<Form> = fs
        .iter()
        .map(|f| eventstore_log::read_header(&f.path).unwrap().form)
        .collect();
    assert!(forms.contains(&Form::Compact) && forms.contains(&Form::Framed));
    let mut codecs = std::collections::BTreeSet::new();
    for f in &fs {
        if let Some(raw) = eventstore_log::compact::RawBlocks::open(&f.path).unwrap() {
            for i in 0..raw.index().len() {
                codecs.insert(raw.block(i).unwrap().0.codec);
            }
        }
    }
    assert_eq!(codecs.into_iter().collect::<Vec<_>>(), vec![0, 1]);
    let recs = records(&dir);
    let span = (recs[0].timestamp, recs.last().unwrap().timestamp);
    let ranges = [
        (None, None, 100_000),
        (None, None, 333),
        (
            Some(span.0 + (span.1 - span.0) / 7),
            Some(span.0 + (span.1 - span.0) * 5 / 7),
            1000,
        ),
        (Some(span.1 - 1_000_000_000), None, 50),
        (Some(span.1 + 1), None, 10),
    ];
    for (from, to, rows) in ranges {
        let want: Vec<_> = TradeStreamReader::open(root, &name, from, to)
            .unwrap()
            .map(|t| t.unwrap())
            .collect();
        let mut k = 0;
        for b in Batches::open(root, &name, from, to, rows).unwrap() {
            let b = b.unwrap();
            assert!(b.num_rows() <= rows && b.num_rows() > 0);
            let local = b.column(0).as_primitive::<TimestampNanosecondType>();
            let venue = b.column(1).as_primitive::<TimestampNanosecondType>();
            let dec =
                |c: usize, i: usize| b.column(c).as_primitive::<Decimal128Type>().value(i) as i64;
            for i in 0..b.num_rows() {
                let t = &want[k];
                let at = format!("{from:?}..{to:?} by {rows}: row {k}");
                assert_eq!(
                    (local.value(i), venue.value(i)),
                    (t.local_ts, t.exchange_ts),
                    "{at}"
                );
                assert_eq!((dec(2, i), dec(3, i)), (t.price, t.size), "{at}");
                assert_eq!(
                    b.column(4).as_string::<i32>().value(i),
                    t.side.as_str(),
                    "{at}"
                );
                let id = b.column(5).as_primitive::<UInt64Type>();
                let text = b.column(6).as_string::<i32>();
                assert_eq!(
                    id.is_valid(i).then(|| id.value(i)),
                    t.trade_id.as_u64(),
                    "{at}"
                );
                assert_eq!(
                    text.is_valid(i).then(|| text.value(i)),
                    t.trade_id.as_text(),
                    "{at}"
                );
                k += 1;
            }
        }
        assert_eq!(k, want.len(), "{from:?}..{to:?} by {rows}");
    }
}
