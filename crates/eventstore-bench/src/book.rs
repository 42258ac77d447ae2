//! Order books: L2 updates applied per second (against a `BTreeMap` book
//! in the same run), `book_at(T)` late in a day of hourly and of minutely
//! files against a replay from the start of the day, and the cost of the
//! per-file snapshots as a share of writing the stream.

use crate::stats::{median, Table};
use eventstore_log::*;
use eventstore_market::book::replay::{BookKind, Replay};
use eventstore_market::import::{import, Format, ImportOptions};
use eventstore_market::read::orders::OrderStreamReader;
use eventstore_market::records::level::{BookLevel, BookSide, FLAG_SNAPSHOT};
use eventstore_market::synth::{MarketSim, SynthConfig, SynthRecord};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

const SEC: i64 = 1_000_000_000;
const DAY0: i64 = 1_723_075_200 * SEC; // 2024-08-08T00:00:00Z

pub fn bench_book(dir: &Path) {
    apply_rate(dir);
    l3_rate(dir);
    let root = dir.join("book-day");
    let n = 10_000_000;
    let mut t = Table::new(
        "A day of 10 M synthetic L2 updates: book at a random time in the day's last hour, from the file's snapshot against a replay from the start of the day (median of 9); snapshot cost as a share of writing the stream",
        &[
            "files",
            "book_at(T)",
            "replay from the day's start",
            "ratio",
            "write the day",
            "build every file's snapshot",
            "snapshot cost / write",
        ],
    );
    let mut ct = Table::new(
        "The same days as frames and as compact files: book at a random time in the last hour (median of 9), and the whole day replayed from the store (read, decode, sequence, apply), one core",
        &[
            "files",
            "book_at frames",
            "book_at compact",
            "compact / frames",
            "replay from frames",
            "replay from compact",
        ],
    );
    for (roll, label) in [
        (RollInterval::HOURLY, "24 hourly"),
        (RollInterval::MINUTELY, "1440 minutely"),
    ] {
        let _ = std::fs::remove_dir_all(&root);
        let name = StreamName::new("synth/btcusdt/depth").expect("name");
        let write = write_day(&root, &name, n, roll);
        let t0 = Instant::now();
        let r = OrderStreamReader::open(&root, &name).expect("open");
        r.build_snapshots().expect("snapshots");
        let snap = t0.elapsed().as_secs_f64();
        let (mut at, mut full) = (Vec::new(), Vec::new());
        let mut x = 0x9e37_79b9u64;
        let mut times = Vec::new();
        let mut books = Vec::new();
        for _ in 0..9 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let t = DAY0 + 23 * 3600 * SEC + (x % 3600) as i64 * SEC + 345_678_901;
            times.push(t);
            let t0 = Instant::now();
            let b = r.book_at(t).expect("book_at");
            at.push(t0.elapsed().as_secs_f64());
            let t0 = Instant::now();
            let whole = replay_until(&root, &name, t);
            full.push(t0.elapsed().as_secs_f64());
            assert_eq!(b.replay.depth(50), whole.depth(50));
            assert_eq!(b.replay.state(), whole.state());
            assert!(b.replay.is_reliable() && !b.replay.is_crossed());
            books.push((b.replay.depth(50), b.replay.state()));
        }
        let (a, f) = (median(&mut at), median(&mut full));
        t.row(vec![
            label.into(),
            format!("{:.2} ms", a * 1e3),
            format!("{:.0} ms", f * 1e3),
            format!("{:.0}x", f / a),
            format!("{write:.2} s"),
            format!("{snap:.2} s"),
            format!("{:.0}%", snap / write * 100.0),
        ]);
        // The same day after its files became compact.
        // The store's own path (the one `book_at` takes): records of
        // compact files decoded straight from their blocks.
        let replay_rate = |root: &Path| {
            let t0 = Instant::now();
            let mut b = Replay::new(BookKind::L2);
            let reader = OrderStreamReader::open(root, &name).expect("reader");
            let k = reader.apply_range(&mut b, 0, None).expect("replay");
            assert!(k as usize >= n, "{k} records replayed of {n}");
            std::hint::black_box(b.depth(1));
            k as f64 / t0.elapsed().as_secs_f64()
        };
        let framed_rate = replay_rate(&root);
        compact_stream(&name.dir(&root), &CompactOptions::default()).expect("compact");
        let mut cat = Vec::new();
        for (&t, want) in times.iter().zip(&books) {
            let t0 = Instant::now();
            let b = r.book_at(t).expect("book_at");
            cat.push(t0.elapsed().as_secs_f64());
            assert_eq!(&(b.replay.depth(50), b.replay.state()), want);
        }
        let c = median(&mut cat);
        let compact_rate = replay_rate(&root);
        ct.row(vec![
            label.into(),
            format!("{:.2} ms", a * 1e3),
            format!("{:.2} ms", c * 1e3),
            format!("{:.2}", c / a),
            format!("{:.1} M/s", framed_rate / 1e6),
            format!("{:.1} M/s", compact_rate / 1e6),
        ]);
    }
    let _ = std::fs::remove_dir_all(&root);
    t.print();
    ct.print();
}

/// The book after every record before `t`, replayed from the first record.
fn replay_until(root: &Path, name: &StreamName, t: i64) -> Replay {
    let mut r = StreamReader::open(
        root,
        name,
        ReadOptions::from(StartAt::Beginning).stop(StopAt::Time(t)),
    )
    .expect("reader");
    let mut book = Replay::new(BookKind::L2);
    let mut none = |_, _| {};
    while let Some(rec) = r.next().expect("next") {
        book.apply_payload(rec.seq, rec.payload, &mut none)
            .expect("a level");
    }
    book
}

/// Synthetic depth updates: a random-walk book (one level per update,
/// update ids chained) after a snapshot.
fn updates(n: usize, span_ns: i64) -> Vec<BookLevel> {
    let cfg = SynthConfig {
        trades_per_sec: 1e-9,
        book_updates_per_sec: n as f64 / (span_ns as f64 / 1e9),
        start_ns: DAY0,
        ..SynthConfig::default()
    };
    let mut out = Vec::with_capacity(n + 1);
    out.push(cfg.empty_snapshot());
    out.extend(
        MarketSim::new(cfg)
            .filter_map(|e| match e.record() {
                SynthRecord::Level(l) => Some(l),
                SynthRecord::Trade(_) => None,
            })
            .take(n),
    );
    out
}

/// Write a day of `n` updates; returns the seconds it took.
fn write_day(root: &Path, name: &StreamName, n: usize, roll: RollInterval) -> f64 {
    let ups = updates(n, 86_400 * SEC - SEC);
    let meta = SynthConfig::default().meta(eventstore_market::StreamKind::BookL2);
    let t0 = Instant::now();
    let opts = WriterOptions::default()
        .roll(roll)
        .roll_by(RollBy::RecordTime)
        .clock(Arc::new(ManualClock::new(DAY0)));
    let mut w = StreamWriter::open(root, name, opts).expect("writer");
    meta.store(&name.dir(root)).expect("meta");
    for l in &ups {
        w.append_at(l.local_ts, &l.encode()).expect("append");
    }
    w.close().expect("close");
    t0.elapsed().as_secs_f64()
}

pub fn apply_rate(dir: &Path) {
    let mut t = Table::new(
        "L2 updates applied per second, one core, median of 5 (the book alone: decoded updates in memory; and from the store: read, CRC-checked, decoded, sequenced, applied)",
        &["updates", "EventStore L2Book", "BTreeMap book (same updates)", "ratio", "Replay (sequencing)", "from the store"],
    );
    let mut runs: Vec<(String, Vec<BookLevel>)> = vec![(
        "synthetic random walk, 20 M".into(),
        updates(20_000_000, 3600 * SEC),
    )];
    if let Some(b) = binance_depth(dir) {
        runs.push(b);
    }
    for (label, ups) in runs {
        let reps = (20_000_000 / ups.len()).max(1);
        let total = (ups.len() * reps) as f64;
        let mut ours = Vec::new();
        let mut base = Vec::new();
        let mut rep = Vec::new();
        for _ in 0..5 {
            let t0 = Instant::now();
            for _ in 0..reps {
                let mut b = eventstore_market::book::l2::L2Book::new();
                for l in &ups {
                    if l.flags & FLAG_SNAPSHOT != 0 && l.side == BookSide::None {
                        b.clear();
                    }
                    b.set(l.side, l.price, l.size);
                }
                std::hint::black_box(b.best_bid());
            }
            ours.push(t0.elapsed().as_secs_f64());
            let t0 = Instant::now();
            for _ in 0..reps {
                let (mut bids, mut asks) = (BTreeMap::new(), BTreeMap::new());
                for l in &ups {
                    let m = match l.side {
                        BookSide::Bid => &mut bids,
                        BookSide::Ask => &mut asks,
                        BookSide::None => continue,
                    };
                    if l.size == 0 {
                        m.remove(&l.price);
                    } else {
                        m.insert(l.price, l.size);
                    }
                }
                std::hint::black_box((bids.last_key_value(), asks.first_key_value()));
            }
            base.push(t0.elapsed().as_secs_f64());
            let t0 = Instant::now();
            for _ in 0..reps {
                let mut r = Replay::new(BookKind::L2);
                let mut none = |_, _| {};
                for (i, l) in ups.iter().enumerate() {
                    r.apply_level(i as u64, l, &mut none);
                }
                std::hint::black_box(r.best_bid());
            }
            rep.push(t0.elapsed().as_secs_f64());
        }
        // From the store: the same updates written to a stream, read back and applied.
        let root = dir.join("book-apply");
        let _ = std::fs::remove_dir_all(&root);
        let name = StreamName::new("synth/x/depth").expect("name");
        {
            let mut w = StreamWriter::open(
                &root,
                &name,
                WriterOptions::default()
                    .roll(RollInterval::DAILY)
                    .pretouch(false),
            )
            .expect("writer");
            for l in &ups {
                w.append(&l.encode()).expect("append");
            }
            w.close().expect("close");
        }
        let mut store = Vec::new();
        for _ in 0..5 {
            let t0 = Instant::now();
            for _ in 0..reps {
                let mut r = StreamReader::open(&root, &name, ReadOptions::default()).expect("r");
                let mut b = Replay::new(BookKind::L2);
                let mut none = |_, _| {};
                while let Some(rec) = r.next().expect("next") {
                    b.apply_payload(rec.seq, rec.payload, &mut none)
                        .expect("level");
                }
                std::hint::black_box(b.best_bid());
            }
            store.push(t0.elapsed().as_secs_f64());
        }
        let _ = std::fs::remove_dir_all(&root);
        let (o, b, r, s) = (
            median(&mut ours),
            median(&mut base),
            median(&mut rep),
            median(&mut store),
        );
        let rate = |secs: f64| format!("{:.1} M/s", total / secs / 1e6);
        t.row(vec![
            label,
            rate(o),
            rate(b),
            format!("{:.1}x", b / o),
            rate(r),
            rate(s),
        ]);
    }
    t.print();
}

/// The real Binance spot depth stream (126 k level updates, a 1000-level
/// snapshot, the book several thousand levels deep), in memory.
fn binance_depth(dir: &Path) -> Option<(String, Vec<BookLevel>)> {
    let data = crate::market::market_data()?;
    let root = dir.join("book-binance");
    let _ = std::fs::remove_dir_all(&root);
    import(
        Format::Binance,
        &data.join("binance/spot_btcusdt_20240808.hftbacktest.gz"),
        &root,
        &ImportOptions::default(),
    )
    .ok()?;
    let name = StreamName::new("binance/btcusdt/depth").ok()?;
    let mut r = StreamReader::open(&root, &name, ReadOptions::default()).ok()?;
    let mut out = Vec::new();
    while let Ok(Some(rec)) = r.next() {
        out.push(BookLevel::decode(rec.payload).ok()?);
    }
    let _ = std::fs::remove_dir_all(&root);
    Some((
        format!("Binance BTCUSDT depth, {} k (repeated)", out.len() / 1000),
        out,
    ))
}

/// L3 order events applied per second: the real LOBSTER and Databento MBO
/// streams, in memory, repeated.
fn l3_rate(dir: &Path) {
    use eventstore_market::OrderEvent;
    let Some(data) = crate::market::market_data() else {
        return;
    };
    let mut t = Table::new(
        "L3 order events applied per second (orders by id in queue priority), one core, median of 5",
        &["events", "applied/s"],
    );
    let lobster = ImportOptions {
        venue: "nasdaq".into(),
        date: Some("2012-06-21T04:00:00Z".into()),
        symbol: Some("AMZN".into()),
        ..ImportOptions::default()
    };
    for (format, file, opts) in [
        (Format::Lobster, "lobster/AMZN_message_20k.csv.gz", lobster),
        (
            Format::Databento,
            "databento/orderbooks_mbo_2024-05-08T00-00-00_2024-05-08T00-00-02.dbn.zst",
            ImportOptions::default(),
        ),
    ] {
        let root = dir.join("book-l3");
        let _ = std::fs::remove_dir_all(&root);
        let Ok(rep) = import(format, &data.join(file), &root, &opts) else {
            continue;
        };
        let Some(name) = rep.streams.keys().find(|n| n.ends_with("/orders")) else {
            continue;
        };
        let name = StreamName::new(name).expect("name");
        let mut r = StreamReader::open(&root, &name, ReadOptions::default()).expect("reader");
        let mut evs = Vec::new();
        while let Ok(Some(rec)) = r.next() {
            evs.push(OrderEvent::decode(rec.payload).expect("an order event"));
        }
        let _ = std::fs::remove_dir_all(&root);
        let reps = (10_000_000 / evs.len().max(1)).max(1);
        let mut secs = Vec::new();
        for _ in 0..5 {
            let t0 = Instant::now();
            for _ in 0..reps {
                let mut b = Replay::new(BookKind::L3);
                let mut none = |_, _| {};
                for (i, e) in evs.iter().enumerate() {
                    b.apply_order(i as u64, e, &mut none);
                }
                std::hint::black_box(b.best_bid());
            }
            secs.push(t0.elapsed().as_secs_f64());
        }
        let s = median(&mut secs);
        t.row(vec![
            format!("{file}, {} (repeated)", evs.len()),
            format!("{:.1} M/s", (evs.len() * reps) as f64 / s / 1e6),
        ]);
    }
    t.print();
}
