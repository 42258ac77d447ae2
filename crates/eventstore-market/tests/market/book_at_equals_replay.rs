//! Property: `book_at(T)` through the per-file snapshots equals a full
//! replay from the beginning, for random T, over seeded synthetic streams
//! that cross many roll boundaries and hold snapshots and gaps; and the
//! `stream` output applied by a consumer gives the same book.

use eventstore_log::{RollBy, RollInterval, StreamName, StreamWriter, WriterOptions};
use eventstore_market::book::replay::{Applied, BookKind, Replay};
use eventstore_market::read::orders::OrderStreamReader;
use eventstore_market::records::decimal::DecimalStyle;
use eventstore_market::records::level::{BookLevel, BookSide, FLAG_LAST, FLAG_SNAPSHOT};
use eventstore_market::synth::Rng;
use eventstore_market::{Action, OrderEvent, StreamMeta};
use std::collections::BTreeMap;
use std::path::Path;

const START: i64 = 1_723_075_200_000_000_000;

/// A writer rolling minutely by record time, as an import writes.
fn minutely_writer(root: &Path, name: &StreamName) -> StreamWriter {
    StreamWriter::open(
        root,
        name,
        WriterOptions::default()
            .roll(RollInterval::MINUTELY)
            .roll_by(RollBy::RecordTime)
            .pretouch(false),
    )
    .unwrap()
}

fn write(root: &Path, name: &str, kind: &str, recs: &[(i64, [u8; 64])]) -> StreamName {
    let name = StreamName::new(name).unwrap();
    let dir = name.dir(root);
    std::fs::create_dir_all(&dir).unwrap();
    StreamMeta {
        venue: "synth".into(),
        symbol: "X".into(),
        kind: eventstore_market::StreamKind::parse(kind).unwrap(),
        price_scale: 2,
        size_scale: 3,
        style: DecimalStyle::Fixed,
        depth: None,
        checksum: None,
    }
    .store(&dir)
    .unwrap();
    let mut w = minutely_writer(root, &name);
    for (ts, b) in recs {
        w.append_at(*ts, b).unwrap();
    }
    w.close().unwrap();
    name
}

/// Binance-spot-like depth events (1-6 levels each, update ids chained),
/// with a snapshot every few hundred events and a gap now and then.
fn l2_stream(seed: u64, events: usize) -> Vec<(i64, [u8; 64])> {
    let mut rng = Rng::new(seed);
    let mut book: BTreeMap<(u8, i64), i64> = BTreeMap::new();
    let (mut ts, mut id, mut mid) = (START, 1000u64, 10_000i64);
    let mut out = Vec::new();
    for e in 0..events {
        ts += 1 + rng.below(40_000_000) as i64;
        let lv = |side, price, size, flags, ids: (u64, u64)| BookLevel {
            exchange_ts: ts - 1000,
            local_ts: ts,
            side,
            flags,
            price,
            size,
            first_update_id: ids.0,
            last_update_id: ids.1,
            prev_update_id: 0,
            checksum: 0,
        };
        if e % 300 == 150 {
            // A snapshot of the true book (its id may lag the diffs'; diffs
            // it covers are then dropped).
            let l = id.saturating_sub(rng.below(3));
            let n = book.len();
            if n == 0 {
                out.push((
                    ts,
                    lv(BookSide::None, 0, 0, FLAG_SNAPSHOT | FLAG_LAST, (l, l)).encode(),
                ));
            }
            for (i, ((s, p), q)) in book.iter().enumerate() {
                let side = if *s == 1 {
                    BookSide::Bid
                } else {
                    BookSide::Ask
                };
                let last = if i + 1 == n { FLAG_LAST } else { 0 };
                out.push((ts, lv(side, *p, *q, FLAG_SNAPSHOT | last, (l, l)).encode()));
            }
            continue;
        }
        let k = 1 + rng.below(6) as usize;
        let first = id
            + 1
            + if rng.below(400) == 0 {
                1 + rng.below(5)
            } else {
                0
            };
        id = first + k as u64 - 1;
        mid += rng.below(3) as i64 - 1;
        for i in 0..k {
            let bid = rng.below(2) == 0;
            let dist = 1 + rng.below(30) as i64;
            let (s, side, price) = if bid {
                (1u8, BookSide::Bid, mid - dist)
            } else {
                (2u8, BookSide::Ask, mid + dist)
            };
            let size = if rng.below(4) == 0 {
                0
            } else {
                1 + rng.below(1000) as i64
            };
            if size == 0 {
                book.remove(&(s, price));
            } else {
                book.insert((s, price), size);
            }
            let last = if i + 1 == k { FLAG_LAST } else { 0 };
            out.push((ts, lv(side, price, size, last, (first, id)).encode()));
        }
    }
    out
}

/// Order events: adds, partial and full cancels, fills, modifies, and a
/// clear followed by a snapshot now and then.
fn l3_stream(seed: u64, events: usize) -> Vec<(i64, [u8; 64])> {
    let mut rng = Rng::new(seed);
    let mut live: Vec<(u64, BookSide, i64, i64)> = Vec::new();
    let (mut ts, mut next_id) = (START, 1u64);
    let mut out = Vec::new();
    for e in 0..events {
        ts += 1 + rng.below(60_000_000) as i64;
        let ev = |action, side, price, size, order_id, flags| OrderEvent {
            exchange_ts: ts,
            local_ts: ts,
            action,
            side,
            flags,
            price,
            size,
            order_id,
            sequence: e as u64,
        };
        if e % 500 == 499 {
            out.push((
                ts,
                ev(Action::Clear, BookSide::None, 0, 0, 0, FLAG_SNAPSHOT).encode(),
            ));
            let n = live.len();
            for (i, (id, side, p, q)) in live.iter().enumerate() {
                let last = if i + 1 == n { FLAG_LAST } else { 0 };
                out.push((
                    ts,
                    ev(Action::Add, *side, *p, *q, *id, FLAG_SNAPSHOT | last).encode(),
                ));
            }
            continue;
        }
        let r = rng.below(10);
        if live.is_empty() || r < 4 {
            let side = if rng.below(2) == 0 {
                BookSide::Bid
            } else {
                BookSide::Ask
            };
            let p = if side == BookSide::Bid {
                100 - rng.below(10) as i64
            } else {
                101 + rng.below(10) as i64
            };
            let q = 1 + rng.below(100) as i64;
            live.push((next_id, side, p, q));
            out.push((ts, ev(Action::Add, side, p, q, next_id, 0).encode()));
            next_id += 1;
        } else {
            let i = rng.below(live.len() as u64) as usize;
            let (id, side, p, q) = live[i];
            match r {
                4 | 5 => {
                    live.remove(i);
                    out.push((ts, ev(Action::Cancel, side, p, q, id, 0).encode()));
                }
                6 | 7 if q > 1 => {
                    let f = 1 + rng.below(q as u64 - 1) as i64;
                    live[i].3 -= f;
                    out.push((ts, ev(Action::Fill, side, p, f, id, 0).encode()));
                }
                _ => {
                    let np = p + rng.below(3) as i64 - 1;
                    let nq = 1 + rng.below(100) as i64;
                    // Losing priority moves the order to the back, as the book does.
                    let o = live.remove(i);
                    if np == p && nq <= q {
                        live.insert(i, (o.0, side, np, nq));
                    } else {
                        live.push((o.0, side, np, nq));
                    }
                    out.push((ts, ev(Action::Modify, side, np, nq, id, 0).encode()));
                }
            }
        }
    }
    out
}

fn same(a: &Replay, b: &Replay, what: &str) {
    assert_eq!(a.depth(usize::MAX), b.depth(usize::MAX), "{what}");
    assert_eq!(a.is_reliable(), b.is_reliable(), "{what}");
    assert_eq!(a.gaps(), b.gaps(), "{what}");
    assert_eq!(a.phase(), b.phase(), "{what}");
    assert_eq!(a.last_update_id(), b.last_update_id(), "{what}");
    if a.kind() == BookKind::L3 {
        assert_eq!(a.l3().unwrap().orders(), b.l3().unwrap().orders(), "{what}");
        for side in [BookSide::Bid, BookSide::Ask] {
            for (p, _) in a.l3().unwrap().levels(side) {
                assert_eq!(
                    a.l3().unwrap().queue(side, p),
                    b.l3().unwrap().queue(side, p),
                    "{what}"
                );
            }
        }
    }
}

/// `book_at(T)` against a full replay at every T of `times` (fractions of
/// the stream's span, a little beyond both ends) and at every file start.
fn check(kind: BookKind, stream: &str, recs: Vec<(i64, [u8; 64])>, times: &[f64]) {
    let tmp = tempfile::tempdir().unwrap();
    let name = write(tmp.path(), "synth/x/book", stream, &recs);
    let files = eventstore_log::stream_info(&name.dir(tmp.path()))
        .unwrap()
        .files;
    assert!(files.len() >= 20, "{} files", files.len());
    let r = OrderStreamReader::open(tmp.path(), &name).unwrap();
    let (t0, t1) = (recs[0].0, recs[recs.len() - 1].0);
    let span = (t1 - t0 + 10) as f64;
    let mut ts: Vec<i64> = times.iter().map(|f| t0 - 5 + (f * span) as i64).collect();
    // Exactly at file starts too.
    ts.extend(files.iter().filter_map(|f| f.min_ts));
    ts.sort();
    let mut full = Replay::new(kind);
    let mut none = |_, _| {};
    let mut i = 0;
    for t in ts {
        while i < recs.len() && recs[i].0 < t {
            full.apply_payload(i as u64, &recs[i].1, &mut none).unwrap();
            i += 1;
        }
        let at = r.book_at(t).unwrap();
        same(&at.replay, &full, &format!("book at {t}"));
        assert_eq!(at.next_seq, i as u64);
        let f = files.iter().find(|f| f.path == at.file).unwrap();
        assert!(at.replayed <= f.records, "one file at most");
    }
    assert!(full.gaps() > 0 || kind == BookKind::L3);
    // A consumer applying `stream(T)` (the snapshot batch, then updates)
    // ends with the book of the full replay.
    let from = t0 + (t1 - t0) / 3;
    let mut s = r.stream(from, None).unwrap();
    let mut consumer = Replay::new(kind);
    while let Some(u) = s.try_next().unwrap() {
        match u.applied {
            Applied::Level(l) => consumer.apply_level(0, &l, &mut none),
            Applied::Order(o) => consumer.apply_order(0, &o, &mut none),
            Applied::Gap(_) => {}
        }
    }
    while i < recs.len() {
        full.apply_payload(i as u64, &recs[i].1, &mut none).unwrap();
        i += 1;
    }
    assert_eq!(consumer.depth(usize::MAX), full.depth(usize::MAX));
    assert_eq!(consumer.is_reliable(), full.is_reliable());
}

// Property tests with shrinking: a failing case shrinks to a smaller seed
// and fewer, earlier query times. Each case writes a 60,000-event stream
// of 20-30 minutely files, so a run tries a few.
proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig {
        cases: 3,
        failure_persistence: None,
        ..proptest::prelude::ProptestConfig::default()
    })]

    #[test]
    fn l2_book_at_any_time_equals_a_full_replay(
        seed in 1u64..10_000,
        times in proptest::collection::vec(0.0f64..1.0, 1..60),
    ) {
        check(BookKind::L2, "book_l2", l2_stream(seed, 60_000), &times);
    }

    #[test]
    fn l3_book_at_any_time_equals_a_full_replay(
        seed in 1u64..10_000,
        times in proptest::collection::vec(0.0f64..1.0, 1..60),
    ) {
        check(BookKind::L3, "orders_l3", l3_stream(seed, 60_000), &times);
    }
}

/// Files uploaded and deleted (`--delete-after-upload`) before the next one
/// exists: the next file's snapshot still continues the book.
#[test]
fn the_book_continues_after_the_files_before_it_are_deleted() {
    let recs = l2_stream(9, 12_000);
    let tmp = tempfile::tempdir().unwrap();
    let name = write(tmp.path(), "synth/x/book", "book_l2", &[]);
    let dir = name.dir(tmp.path());
    let mut w = minutely_writer(tmp.path(), &name);
    let half = recs.len() / 2;
    for (ts, b) in &recs[..half] {
        w.append_at(*ts, b).unwrap();
    }
    // Everything so far sealed, snapshots built, then every file deleted.
    w.seal_now().unwrap();
    let r = OrderStreamReader::open(tmp.path(), &name).unwrap();
    r.build_snapshots().unwrap();
    assert!(dir
        .join(eventstore_market::read::orders::NEXT_BOOK)
        .exists());
    for f in eventstore_log::files::list_files(&dir).unwrap() {
        std::fs::remove_file(&f.path).unwrap();
        let _ = std::fs::remove_file(eventstore_market::book::snapshot::snapshot_path(&f.path));
    }
    for (ts, b) in &recs[half..] {
        w.append_at(*ts, b).unwrap();
    }
    w.close().unwrap();
    let at = r.book_at(i64::MAX).unwrap();
    let mut full = Replay::new(BookKind::L2);
    let mut none = |_, _| {};
    for (i, (_, b)) in recs.iter().enumerate() {
        full.apply_payload(i as u64, b, &mut none).unwrap();
    }
    assert!(full.gaps() > 0);
    same(&at.replay, &full, "after the deleted files");
}

/// Every row of `every` is the book at its time.
#[test]
fn periodic_rows_equal_the_book_at_their_times() {
    let recs = l2_stream(4, 20_000);
    let tmp = tempfile::tempdir().unwrap();
    let name = write(tmp.path(), "synth/x/book", "book_l2", &recs);
    let r = OrderStreamReader::open(tmp.path(), &name).unwrap();
    let (t0, t1) = (recs[0].0, recs[recs.len() - 1].0);
    let every = 7_000_000_000;
    let step = std::time::Duration::from_nanos(every as u64);
    let mut rows = r.every(t0 + 3, Some(t1), step, 5).unwrap();
    let mut n = 0;
    while let Some(row) = rows.try_next().unwrap() {
        assert_eq!(row.ts, t0 + 3 + n * every);
        let at = r.book_at(row.ts).unwrap();
        assert_eq!(
            (row.bids, row.asks),
            at.replay.depth(5),
            "row at {}",
            row.ts
        );
        assert_eq!(row.reliable, at.replay.is_reliable());
        n += 1;
    }
    assert_eq!(n, (t1 - t0 - 3 + every - 1) / every);
}

/// A damaged snapshot is rebuilt from the one before it; one that cannot be
/// rebuilt is an error naming the file; a record that is not a level
/// update is an error naming the stream and sequence number.
#[test]
fn damaged_snapshots_and_records_are_reported_or_rebuilt() {
    let recs = l2_stream(5, 20_000);
    let tmp = tempfile::tempdir().unwrap();
    let name = write(tmp.path(), "synth/x/book", "book_l2", &recs);
    let dir = name.dir(tmp.path());
    let r = OrderStreamReader::open(tmp.path(), &name).unwrap();
    r.build_snapshots().unwrap();
    let files = eventstore_log::stream_info(&dir).unwrap().files;
    let want = r.book_at(i64::MAX).unwrap().replay.depth(usize::MAX);
    // Damage the last file's snapshot: rebuilt from the one before.
    let last = eventstore_market::book::snapshot::snapshot_path(&files[files.len() - 1].path);
    let mut b = std::fs::read(&last).unwrap();
    b[20] ^= 1;
    std::fs::write(&last, &b).unwrap();
    let at = r.book_at(i64::MAX).unwrap();
    assert_eq!(at.replay.depth(usize::MAX), want);
    assert!(eventstore_market::book::snapshot::decode(&std::fs::read(&last).unwrap()).is_ok());
    // Remove the first files (retention): a damaged snapshot of the first
    // file left cannot be rebuilt, and says which file it is.
    for f in &files[..3] {
        std::fs::remove_file(&f.path).unwrap();
        std::fs::remove_file(eventstore_market::book::snapshot::snapshot_path(&f.path)).unwrap();
    }
    let first = eventstore_market::book::snapshot::snapshot_path(&files[3].path);
    std::fs::write(&first, b"not a snapshot").unwrap();
    let t = files[3].min_ts.unwrap() + 1;
    let e = r.book_at(t).unwrap_err().to_string();
    assert!(e.contains(&first.display().to_string()), "{e}");
    assert!(e.contains("header"), "{e}");
    // A record that is not a level update.
    let bad = tempfile::tempdir().unwrap();
    let mut recs = recs[..100].to_vec();
    recs[50].1[0] = 9;
    let name = write(bad.path(), "synth/x/book", "book_l2", &recs);
    let e = OrderStreamReader::open(bad.path(), &name)
        .unwrap()
        .book_at(i64::MAX)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("record 50") && e.contains("not a level update"),
        "{e}"
    );
}
