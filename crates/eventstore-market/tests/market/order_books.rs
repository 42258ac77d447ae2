//! Order books rebuilt from the real recordings: the Binance spot book
//! against every book ticker, the LOBSTER book against its per-message
//! orderbook file, the Databento MBO clear and snapshot; gaps detected and
//! flagged; per-file snapshots that reach any time by replaying one file.

use eventstore_log::{RollInterval, StreamName};
use eventstore_market::book::replay::{Applied, BookKind, Phase, Replay};
use eventstore_market::import::{Format, ImportOptions, ImportReport};
use eventstore_market::read::orders::{OrderStreamReader, Update};
use eventstore_market::records::level::{FLAG_LAST, FLAG_SNAPSHOT};
use eventstore_market::{BookSide, Quote};
use std::collections::{BTreeSet, HashSet};
use std::path::Path;

type Level = (i64, i64);

use crate::common;
use common::{imported, market_data, stored};

fn minutely() -> ImportOptions {
    ImportOptions {
        roll: RollInterval::MINUTELY,
        ..ImportOptions::default()
    }
}

/// Book tickers sorted by update id.
fn quotes(root: &Path) -> Vec<Quote> {
    let mut q = stored(root, "binance/btcusdt/bookticker", |b| {
        Quote::decode(b).unwrap()
    });
    q.sort_by_key(|q| q.update_id);
    q
}

/// Apply a stream's updates to a fresh consumer book (as a client would)
/// and check it after every applied diff event against the latest book
/// ticker; returns the update ids checked.
fn check_against_tickers(updates: &[Update], quotes: &[Quote], checked: &mut BTreeSet<u64>) {
    let mut book = Replay::new(BookKind::L2);
    let mut none = |_, _| {};
    for u in updates {
        let Applied::Level(l) = u.applied else {
            continue;
        };
        book.apply_level(u.seq.unwrap_or(0), &l, &mut none);
        let is_diff = u.seq.is_some() && l.flags & FLAG_SNAPSHOT == 0 && l.flags & FLAG_LAST != 0;
        if !is_diff || book.phase() != Phase::Synced || book.last_update_id() != l.last_update_id {
            continue;
        }
        let id = l.last_update_id;
        let i = quotes.partition_point(|q| q.update_id <= id);
        // Diffs synced before the capture's first book ticker have none
        // to compare with.
        let Some(&q) = i.checked_sub(1).and_then(|i| quotes.get(i)) else {
            continue;
        };
        assert!(book.is_reliable());
        assert_eq!(
            book.best_bid(),
            Some((q.bid_price, q.bid_size)),
            "best bid after update {id} (ticker {})",
            q.update_id
        );
        assert_eq!(
            book.best_ask(),
            Some((q.ask_price, q.ask_size)),
            "best ask after update {id} (ticker {})",
            q.update_id
        );
        assert!(!book.is_crossed());
        checked.insert(id);
    }
}

fn collect(r: &OrderStreamReader, from: i64, to: Option<i64>) -> Vec<Update> {
    let mut s = r.stream(from, to).unwrap();
    let mut out = Vec::new();
    while let Some(u) = s.try_next().unwrap() {
        out.push(u);
    }
    out
}

#[test]
fn binance_spot_book_matches_every_book_ticker_across_minutely_files() {
    let Some(data) = market_data() else { return };
    let input = data.join("binance/spot_btcusdt_20240808.hftbacktest.gz");
    let (tmp, _) = imported(Format::Binance, &input, &minutely());
    let root = tmp.path();
    let quotes = quotes(root);
    let name = StreamName::new("binance/btcusdt/depth").unwrap();
    let r = OrderStreamReader::open(root, &name).unwrap();
    assert_eq!(r.kind(), BookKind::L2);
    let info = eventstore_log::stream_info(&name.dir(root)).unwrap();
    assert!(info.files.len() >= 6, "{} files", info.files.len());

    // One pass from the start.
    let mut checked = BTreeSet::new();
    check_against_tickers(&collect(&r, 0, None), &quotes, &mut checked);
    assert_eq!(checked.len(), 3_449);

    // File by file, each from its own snapshot: every boundary crossed.
    let mut per_file = BTreeSet::new();
    for (k, f) in info.files.iter().enumerate() {
        let from = f.min_ts.unwrap();
        let to = info.files.get(k + 1).and_then(|n| n.min_ts);
        let at = r.book_at(from).unwrap();
        assert_eq!(
            at.replayed, 0,
            "file {k}: the snapshot is the book at its start"
        );
        assert_eq!(at.next_seq, f.first_seq);
        assert!(eventstore_market::book::snapshot::snapshot_path(&f.path).exists());
        check_against_tickers(&collect(&r, from, to), &quotes, &mut per_file);
    }
    assert_eq!(per_file, checked);

    // Any time in between replays at most the records of one file.
    for f in &info.files {
        let (a, b) = (f.min_ts.unwrap(), f.max_ts.unwrap());
        let at = r.book_at(a + (b - a) / 2).unwrap();
        assert!(at.replayed <= f.records);
        assert_eq!(at.file, f.path);
    }
}

#[test]
fn a_gap_injected_into_the_binance_recording_is_detected_and_flagged() {
    let Some(data) = market_data() else { return };
    let src = data.join("binance/spot_btcusdt_20240808.hftbacktest.gz");
    // Drop the 1000th depth update from the recording.
    let mut lines = Vec::new();
    let mut diffs = 0;
    let mut dropped = None;
    eventstore_market::import::input::for_each_line(&src, |_, line| {
        let line = line.unwrap();
        if line.contains("\"depthUpdate\"") {
            diffs += 1;
            if diffs == 1000 {
                let v: serde_json::Value =
                    serde_json::from_str(line.split_once(' ').unwrap().1).unwrap();
                let d = v.get("data").unwrap_or(&v);
                dropped = Some((d["U"].as_u64().unwrap(), d["u"].as_u64().unwrap()));
                return Ok(());
            }
        }
        lines.push(line.to_string());
        Ok(())
    })
    .unwrap();
    let (first_missing, _) = dropped.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("gap.txt");
    std::fs::write(&input, lines.join("\n")).unwrap();
    let (tmp, _) = imported(Format::Binance, &input, &minutely());
    let name = StreamName::new("binance/btcusdt/depth").unwrap();
    let r = OrderStreamReader::open(tmp.path(), &name).unwrap();
    let ups = collect(&r, 0, None);
    let gaps: Vec<_> = ups
        .iter()
        .filter_map(|u| match u.applied {
            Applied::Gap(g) => Some(g),
            _ => None,
        })
        .collect();
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    assert_eq!(gaps[0].expected, first_missing);
    // The book is unreliable from the gap on (no snapshot follows), and the
    // snapshots of later files say so.
    let end = r.book_at(i64::MAX).unwrap();
    assert!(!end.replay.is_reliable());
    assert_eq!(end.replay.gaps(), 1);
    let before = r.book_at(gaps[0].local_ts).unwrap();
    assert!(before.replay.is_reliable());
    let info = eventstore_log::stream_info(&name.dir(tmp.path())).unwrap();
    let last = info.files.last().unwrap();
    let (snap, _) = eventstore_market::book::snapshot::decode(
        &std::fs::read(eventstore_market::book::snapshot::snapshot_path(&last.path)).unwrap(),
    )
    .unwrap();
    if last.min_ts.unwrap() > gaps[0].local_ts {
        assert!(!snap.is_reliable());
        assert_eq!(snap.gaps(), 1);
    }
    // Every update from the gap on says the book is unreliable; none
    // between the snapshot and the gap does.
    let gap_at = ups
        .iter()
        .position(|u| matches!(u.applied, Applied::Gap(_)))
        .unwrap();
    assert!(ups[gap_at..].iter().all(|u| !u.reliable));
    let synced = ups.iter().position(|u| u.reliable).unwrap();
    assert!(synced < gap_at && ups[synced..gap_at].iter().all(|u| u.reliable));
    // The ledger: the book reliable from the snapshot, then the gap with
    // its cause and ids, in the file that holds it; the files after it
    // start and end unreliable, for that cause.
    use eventstore_market::book::replay::Cause;
    use eventstore_market::read::orders::Entry;
    let ledger = r.ledger(i64::MIN, None).unwrap();
    assert_eq!(ledger.files.len(), info.files.len());
    let entries: Vec<Entry> = ledger.entries().copied().collect();
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert!(matches!(entries[0], Entry::Reliable { .. }));
    assert_eq!(entries[1], Entry::Gap(gaps[0]));
    assert_eq!(gaps[0].cause, Cause::MissingUpdate);
    let k = ledger
        .files
        .iter()
        .position(|f| f.entries.iter().any(|e| matches!(e, Entry::Gap(_))))
        .unwrap();
    assert!(ledger.files[k].seqs.contains(&gaps[0].seq));
    for f in &ledger.files[k + 1..] {
        assert!(!f.start.reliable && !f.end.reliable);
        assert_eq!(f.start.cause, Cause::MissingUpdate);
        assert_eq!(f.start.since, gaps[0].local_ts);
    }
    let records: u64 = ledger.files.iter().map(|f| f.seqs.end - f.seqs.start).sum();
    assert_eq!(records, info.records());
    // A range: only the files it touches, from the book as of its start.
    let f = &info.files[k + 1];
    let part = r
        .ledger(f.min_ts.unwrap(), f.max_ts.map(|t| t + 1))
        .unwrap();
    assert_eq!(part.files.len(), 1);
    assert_eq!(part.files[0].seqs, f.first_seq..f.first_seq + f.records);
    assert!(part.entries().next().is_none());
}

/// LOBSTER orderbook rows: (ask price, ask size, bid price, bid size) x 10 levels.
fn lobster_rows(path: &Path) -> Vec<Vec<i64>> {
    let mut rows = Vec::new();
    eventstore_market::import::input::for_each_line(path, |_, line| {
        let line = line.unwrap();
        rows.push(line.split(',').map(|v| v.parse().unwrap()).collect());
        Ok(())
    })
    .unwrap();
    rows
}

/// The published levels of a row: (bids, asks), best first, without LOBSTER's dummy levels.
fn row_levels(row: &[i64]) -> (Vec<Level>, Vec<Level>) {
    let (mut bids, mut asks) = (Vec::new(), Vec::new());
    for l in row.chunks(4) {
        if l[1] > 0 && l[0] < 9_999_999_999 && l[0] > 0 {
            asks.push((l[0], l[1]));
        }
        if l[3] > 0 && l[2] > 0 && l[2] > -9_999_999_999 {
            bids.push((l[2], l[3]));
        }
    }
    (bids, asks)
}

fn lobster_import(data: &Path) -> (tempfile::TempDir, Vec<eventstore_market::OrderEvent>) {
    let input = data.join("lobster/AMZN_message_20k.csv.gz");
    let opts = ImportOptions {
        venue: "nasdaq".into(),
        date: Some("2012-06-21T04:00:00Z".into()),
        symbol: Some("AMZN".into()),
        roll: RollInterval::MINUTELY,
        ..ImportOptions::default()
    };
    let (tmp, _) = imported(Format::Lobster, &input, &opts);
    let events = stored(tmp.path(), "nasdaq/amzn/orders", |b| {
        eventstore_market::OrderEvent::decode(b).unwrap()
    });
    (tmp, events)
}

#[test]
fn lobster_each_message_turns_orderbook_row_before_into_row_after() {
    let Some(data) = market_data() else { return };
    let (_tmp, events) = lobster_import(&data);
    let rows = lobster_rows(&data.join("lobster/AMZN_orderbook_20k.csv.gz"));
    assert_eq!(rows.len(), events.len());
    let mut none = |_, _| {};
    let mut transitions = 0;
    for i in 1..rows.len() {
        let mut book = Replay::new(BookKind::L3);
        let (bids, asks) = row_levels(&rows[i - 1]);
        // Seed the book from row i-1: levels whose orders are not known one by one.
        for (p, s) in &bids {
            book.apply_order(0, &seed(BookSide::Bid, *p, *s), &mut none);
        }
        for (p, s) in &asks {
            book.apply_order(0, &seed(BookSide::Ask, *p, *s), &mut none);
        }
        book.apply_order(i as u64, &events[i], &mut none);
        let (want_b, want_a) = row_levels(&rows[i]);
        let (got_b, got_a) = book.depth(10);
        // Only the published levels are known: compare as deep as the row shows
        // and as deep as the seed reached.
        let nb = want_b.len().min(got_b.len());
        let na = want_a.len().min(got_a.len());
        assert_eq!(got_b[..nb], want_b[..nb], "bids after message {}", i + 1);
        assert_eq!(got_a[..na], want_a[..na], "asks after message {}", i + 1);
        assert!(nb >= 9 && na >= 9, "message {}: {nb} {na}", i + 1);
        transitions += 1;
    }
    assert_eq!(transitions, 19_999);
}

/// An order event adding size that no known order accounts for (order id 0).
fn seed(side: BookSide, price: i64, size: i64) -> eventstore_market::OrderEvent {
    eventstore_market::OrderEvent {
        exchange_ts: 0,
        local_ts: 0,
        action: eventstore_market::Action::Add,
        side,
        flags: 0,
        price,
        size,
        order_id: 0,
        sequence: 0,
    }
}

#[test]
fn lobster_full_replay_agrees_with_the_orderbook_file_where_the_book_is_known() {
    let Some(data) = market_data() else { return };
    let (tmp, _) = lobster_import(&data);
    let rows = lobster_rows(&data.join("lobster/AMZN_orderbook_20k.csv.gz"));
    // Seed once, from the book after the first message, then replay every
    // later message through the stored stream (across its minutely files).
    let (bids0, asks0) = row_levels(&rows[0]);
    let mut none = |_, _| {};
    let mut book = Replay::new(BookKind::L3);
    for (p, s) in &bids0 {
        book.apply_order(0, &seed(BookSide::Bid, *p, *s), &mut none);
    }
    for (p, s) in &asks0 {
        book.apply_order(0, &seed(BookSide::Ask, *p, *s), &mut none);
    }
    // Known: LOBSTER's message file only has the messages that change the
    // published levels, so a price is known while it has never been deeper
    // than the 10th level of any row since the seed (orders resting deeper
    // before the sample, or changed while deeper, are not in the file).
    let window = |row: &[i64]| {
        let (b, a) = row_levels(row);
        (
            if b.len() == 10 { b[9].0 } else { i64::MIN },
            if a.len() == 10 { a[9].0 } else { i64::MAX },
        )
    };
    let (mut lo, mut hi) = window(&rows[0]);
    let name = StreamName::new("nasdaq/amzn/orders").unwrap();
    let mut r = eventstore_log::StreamReader::open(
        tmp.path(),
        &name,
        eventstore_log::ReadOptions::from(eventstore_log::StartAt::Seq(1)),
    )
    .unwrap();
    let mut compared = 0u64;
    let mut i = 1;
    while let Some(rec) = r.next().unwrap() {
        book.apply_payload(rec.seq, rec.payload, &mut none).unwrap();
        let (wl, wh) = window(&rows[i]);
        (lo, hi) = (lo.max(wl), hi.min(wh));
        let (want_b, want_a) = row_levels(&rows[i]);
        for (want, side) in [(&want_b, BookSide::Bid), (&want_a, BookSide::Ask)] {
            // Every price between the row's best and its deepest published level.
            let (best, deepest) = (want[0].0, want[want.len() - 1].0);
            let (a, b) = (best.min(deepest), best.max(deepest));
            let known = |p: i64| match side {
                BookSide::Bid => p >= lo,
                _ => p <= hi,
            };
            let got: Vec<(i64, i64)> = book
                .l3()
                .unwrap()
                .levels(side)
                .filter(|(p, _)| *p >= a && *p <= b && known(*p))
                .collect();
            let exp: Vec<(i64, i64)> = want.iter().copied().filter(|(p, _)| known(*p)).collect();
            assert_eq!(got, exp, "{side:?} after message {}", i + 1);
            compared += exp.len() as u64;
        }
        i += 1;
    }
    assert_eq!(i, rows.len());
    eprintln!("{compared} levels compared; known bids >= {lo}, asks <= {hi}");
    assert!(compared > 50_000, "{compared} levels compared");
    assert_eq!(book.anomalies().over_cancel, 0);
}

#[test]
fn databento_mbo_clear_and_snapshot_rebuild_the_book_and_cancels_never_exceed_orders() {
    let Some(data) = market_data() else { return };
    let input =
        data.join("databento/orderbooks_mbo_2024-05-08T00-00-00_2024-05-08T00-00-02.dbn.zst");
    let (tmp, rep) = imported(Format::Databento, &input, &ImportOptions::default());
    let (name, _) = rep
        .streams
        .iter()
        .find(|(n, _)| n.ends_with("/orders"))
        .unwrap();
    let events = stored(tmp.path(), name, |b| {
        eventstore_market::OrderEvent::decode(b).unwrap()
    });
    assert_eq!(events[0].action, eventstore_market::Action::Clear);
    let snapshot_len = events
        .iter()
        .position(|e| e.flags & FLAG_LAST != 0 && e.flags & FLAG_SNAPSHOT != 0)
        .unwrap()
        + 1;
    let mut book = Replay::new(BookKind::L3);
    let mut none = |_, _| {};
    for (i, e) in events.iter().enumerate() {
        if matches!(
            e.action,
            eventstore_market::Action::Cancel | eventstore_market::Action::Fill
        ) {
            let o = book
                .l3()
                .unwrap()
                .order(e.order_id)
                .expect("cancel of a resting order");
            assert!(
                e.size <= o.size,
                "record {i}: cancels {} of {}",
                e.size,
                o.size
            );
        }
        book.apply_order(i as u64, e, &mut none);
        if i + 1 == snapshot_len {
            // The snapshot rebuilt the book: every add in it rests.
            let adds: HashSet<u64> = events[..snapshot_len]
                .iter()
                .filter(|e| e.action == eventstore_market::Action::Add)
                .map(|e| e.order_id)
                .collect();
            assert!(book.is_reliable());
            assert_eq!(book.l3().unwrap().orders(), adds.len());
            assert!(adds.len() > 10);
        }
        assert!(!book.is_crossed(), "crossed after record {i}");
    }
    assert_eq!(book.anomalies(), Default::default());
    // The stored stream read back through its snapshots gives the same book.
    let r = OrderStreamReader::open(tmp.path(), &StreamName::new(name).unwrap()).unwrap();
    let end = r.book_at(i64::MAX).unwrap();
    assert_eq!(end.replay.depth(1000), book.depth(1000));
}

/// The real ES order events with, after every event that leaves an order
/// resting, a modify of that order to its own price and size: what CME
/// sends when an iceberg order refills to the same displayed size. Such a
/// modify changes nothing, and above all keeps the order and its place.
#[test]
fn a_modify_that_keeps_price_and_size_keeps_the_order_and_its_place() {
    use eventstore_market::{Action, OrderEvent};
    let Some(data) = market_data() else { return };
    let input =
        data.join("databento/orderbooks_mbo_2024-05-08T00-00-00_2024-05-08T00-00-02.dbn.zst");
    let (tmp, rep) = imported(Format::Databento, &input, &ImportOptions::default());
    let (name, _) = rep
        .streams
        .iter()
        .find(|(n, _)| n.ends_with("/orders"))
        .unwrap();
    let events = stored(tmp.path(), name, |b| OrderEvent::decode(b).unwrap());
    let mut plain = Replay::new(BookKind::L3);
    let mut refilled = Replay::new(BookKind::L3);
    let mut none = |_, _| {};
    let mut injected = 0;
    for (i, e) in events.iter().enumerate() {
        plain.apply_order(i as u64, e, &mut none);
        refilled.apply_order(i as u64, e, &mut none);
        let resting = matches!(e.action, Action::Add | Action::Modify | Action::Cancel)
            && e.flags & FLAG_SNAPSHOT == 0;
        let Some(o) = resting
            .then(|| plain.l3().unwrap().order(e.order_id))
            .flatten()
        else {
            continue;
        };
        let refill = OrderEvent {
            action: Action::Modify,
            price: o.price,
            size: o.size,
            side: o.side,
            ..*e
        };
        refilled.apply_order(i as u64, &refill, &mut none);
        injected += 1;
        let (a, b) = (plain.l3().unwrap(), refilled.l3().unwrap());
        assert_eq!(
            b.order(e.order_id),
            Some(o),
            "record {i}: the refilled order is gone"
        );
        assert_eq!(
            a.queue(o.side, o.price),
            b.queue(o.side, o.price),
            "record {i}: the queue at {} changed",
            o.price
        );
        assert_eq!(plain.depth(1000), refilled.depth(1000), "record {i}");
    }
    assert!(injected > 50, "{injected} refills");
    assert_eq!(refilled.anomalies(), plain.anomalies());
    assert!(refilled.is_reliable());
}

/// The real ES file with the last record of its snapshot run stripped of
/// `F_LAST` (as some real Databento files have it), decompressed.
fn without_snapshot_last(data: &Path, out: &Path) -> i64 {
    use std::io::Read;
    let path =
        data.join("databento/orderbooks_mbo_2024-05-08T00-00-00_2024-05-08T00-00-02.dbn.zst");
    let mut dbn = Vec::new();
    zstd::stream::read::Decoder::new(std::fs::File::open(path).unwrap())
        .unwrap()
        .read_to_end(&mut dbn)
        .unwrap();
    // DBN: "DBN", version, u32 metadata length, metadata, then records,
    // each as long as 4 times its first byte. MBO records (rtype 0xA0)
    // hold their flags at byte 36 and their receive time at 40.
    const F_LAST: u8 = 1 << 7;
    const F_SNAPSHOT: u8 = 1 << 5;
    let mut at = 8 + u32::from_le_bytes(dbn[4..8].try_into().unwrap()) as usize;
    let mut last_snapshot = None;
    while at < dbn.len() {
        let len = dbn[at] as usize * 4;
        if dbn[at + 1] == 0xA0 && dbn[at + 36] & F_SNAPSHOT != 0 {
            last_snapshot = Some(at);
        }
        at += len;
    }
    let at = last_snapshot.unwrap();
    assert_ne!(dbn[at + 36] & F_LAST, 0);
    dbn[at + 36] &= !F_LAST;
    std::fs::write(out, &dbn).unwrap();
    i64::from_le_bytes(dbn[at + 40..at + 48].try_into().unwrap())
}

#[test]
fn a_databento_snapshot_run_without_f_last_ends_at_the_first_record_not_part_of_it() {
    let Some(data) = market_data() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("es-no-last.dbn");
    let snapshot_ts = without_snapshot_last(&data, &input);
    let original =
        data.join("databento/orderbooks_mbo_2024-05-08T00-00-00_2024-05-08T00-00-02.dbn.zst");
    let (want_root, _) = imported(Format::Databento, &original, &ImportOptions::default());
    let (root, rep) = imported(Format::Databento, &input, &ImportOptions::default());
    let name = StreamName::new("glbx.mdp3/esm4/orders").unwrap();
    let got = OrderStreamReader::open(root.path(), &name).unwrap();
    let want = OrderStreamReader::open(want_root.path(), &name).unwrap();
    // Right after the snapshot, before the next record (60 ms later here,
    // hours later for a quiet instrument), the book is whole and reliable.
    for t in [snapshot_ts + 1, snapshot_ts + 30_000_000, i64::MAX] {
        let (g, w) = (got.book_at(t).unwrap(), want.book_at(t).unwrap());
        assert!(g.replay.is_reliable(), "at {t}");
        assert_eq!(g.replay.depth(1000), w.replay.depth(1000), "at {t}");
        assert_eq!(g.records(t), w.records(t), "at {t}");
    }
    assert_eq!(rep.snapshot_runs_closed, 1);
    // Stored as if the flag had been there.
    let flags = |root: &Path| stored(root, name.as_str(), |b| b[3]);
    assert_eq!(flags(root.path()), flags(want_root.path()));
}

/// cryptofeed keeps its REST answers (the depth snapshots) and its
/// websocket messages in two files. Imported together they are merged by
/// receive time: each symbol's snapshot lands among its diffs where it was
/// received, and every book then agrees with every book ticker. Imported
/// one after the other, the second file's snapshots would land after the
/// diffs they precede: that import is refused, naming the file and line,
/// and the streams are left as they were.
#[test]
fn a_cryptofeed_capture_in_two_files_is_merged_by_receive_time() {
    use eventstore_market::import::import_all;
    let Some(data) = market_data() else { return };
    let (http, ws) = (
        data.join("binance/BINANCE.http.0.0"),
        data.join("binance/BINANCE.ws.1.0"),
    );
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("together");
    let opts = ImportOptions::default();
    let rep = import_all(Format::Binance, &[ws.clone(), http.clone()], &root, &opts).unwrap();
    let depth: Vec<&String> = rep
        .streams
        .keys()
        .filter(|k| k.ends_with("/depth"))
        .collect();
    assert!(depth.len() >= 2, "{rep:?}");
    let mut checked = 0;
    for name in depth {
        let symbol = name.split('/').nth(1).unwrap();
        let tickers = format!("binance/{symbol}/bookticker");
        if !root.join(&tickers).exists() {
            continue;
        }
        let mut q = stored(&root, &tickers, |b| Quote::decode(b).unwrap());
        q.sort_by_key(|q| q.update_id);
        let r = OrderStreamReader::open(&root, &StreamName::new(name).unwrap()).unwrap();
        let updates = collect(&r, 0, None);
        let mut ids = BTreeSet::new();
        check_against_tickers(&updates, &q, &mut ids);
        checked += ids.len();
        // Synced once, and never a gap after the snapshot.
        let gaps = updates
            .iter()
            .filter(|u| matches!(u.applied, Applied::Gap(_)))
            .count();
        assert_eq!(gaps, 0, "{name}");
        assert!(r.book_at(i64::MAX).unwrap().replay.is_reliable(), "{name}");
    }
    eprintln!("{checked} book ticker checkpoints");
    assert!(checked > 20, "{checked} checkpoints");
    // The files in the other order give the same streams.
    let swapped = tmp.path().join("swapped");
    let rep2 = import_all(
        Format::Binance,
        &[http.clone(), ws.clone()],
        &swapped,
        &opts,
    )
    .unwrap();
    assert_eq!(rep2.streams, rep.streams);
    for name in rep.streams.keys() {
        let a = stored(&root, name, |b| b.to_vec());
        assert_eq!(a, stored(&swapped, name, |b| b.to_vec()), "{name}");
    }
    // One after the other: the snapshots are older than the diffs stored.
    let apart = tmp.path().join("apart");
    import_all(Format::Binance, std::slice::from_ref(&ws), &apart, &opts).unwrap();
    let before: Vec<Vec<Vec<u8>>> = rep
        .streams
        .keys()
        .filter(|n| apart.join(n).exists())
        .map(|n| stored(&apart, n, |b| b.to_vec()))
        .collect();
    let e = import_all(Format::Binance, std::slice::from_ref(&http), &apart, &opts)
        .unwrap_err()
        .to_string();
    assert!(e.starts_with(&format!("{}:", http.display())), "{e}");
    assert!(e.contains("older than the last one"), "{e}");
    let after: Vec<Vec<Vec<u8>>> = rep
        .streams
        .keys()
        .filter(|n| apart.join(n).exists())
        .map(|n| stored(&apart, n, |b| b.to_vec()))
        .collect();
    assert_eq!(before, after, "nothing written by the refused import");
}

/// The LOBSTER import of `message` with its `orderbook` file, minutely.
fn lobster_with_book(message: &Path, orderbook: &Path) -> (tempfile::TempDir, ImportReport) {
    let opts = ImportOptions {
        venue: "nasdaq".into(),
        date: Some("2012-06-21T04:00:00Z".into()),
        symbol: Some("AMZN".into()),
        roll: RollInterval::MINUTELY,
        ..ImportOptions::default()
    };
    let tmp = tempfile::tempdir().unwrap();
    let rep = eventstore_market::import::import_all(
        Format::Lobster,
        &[message.to_path_buf(), orderbook.to_path_buf()],
        tmp.path(),
        &opts,
    )
    .unwrap();
    (tmp, rep)
}

/// The best `n` levels a side of a replayed book.
fn top(book: &Replay, n: usize) -> (Vec<Level>, Vec<Level>) {
    book.depth(n)
}

/// With its orderbook file, the stored LOBSTER stream gives after every
/// message exactly the file's published levels: read straight through,
/// and through `book_at` (which starts from a file's snapshot) at the time
/// right after messages spread over the whole file and at every file's
/// start.
#[test]
fn lobster_with_its_orderbook_file_gives_the_published_levels_after_every_message() {
    use eventstore_market::import::lobster::FLAG_ALIGNED;
    let Some(data) = market_data() else { return };
    let (msg, ob) = (
        data.join("lobster/AMZN_message_20k.csv.gz"),
        data.join("lobster/AMZN_orderbook_20k.csv.gz"),
    );
    let rows = lobster_rows(&ob);
    let (tmp, rep) = lobster_with_book(&msg, &ob);
    let name = StreamName::new("nasdaq/amzn/orders").unwrap();
    let r = OrderStreamReader::open(tmp.path(), &name).unwrap();
    assert_eq!(r.meta().depth, Some(10));
    assert!(rep.aligned > 0);
    let events = stored(tmp.path(), name.as_str(), |b| {
        eventstore_market::OrderEvent::decode(b).unwrap()
    });
    let messages = events
        .iter()
        .filter(|e| e.flags & FLAG_ALIGNED == 0)
        .count();
    assert_eq!(messages, 20_000, "every message is stored");
    assert_eq!(rep.streams.get(name.as_str()), Some(&(events.len() as u64)));
    // Straight through: after each message and the records aligning it.
    let mut book = Replay::new(BookKind::L3);
    let mut none = |_, _| {};
    let mut m = 0; // messages applied
    let mut checked = 0;
    // (receive time, message index) of the last message of each time.
    let mut last_of_time = Vec::new();
    for (seq, e) in events.iter().enumerate() {
        book.apply_order(seq as u64, e, &mut none);
        if e.flags & FLAG_ALIGNED == 0 {
            m += 1;
        }
        let next_is_message = events
            .get(seq + 1)
            .is_none_or(|n| n.flags & FLAG_ALIGNED == 0);
        if m > 0 && next_is_message {
            assert!(book.is_reliable(), "after message {m}");
            assert_eq!(
                top(&book, 10),
                row_levels(&rows[m - 1]),
                "after message {m}"
            );
            assert!(!book.is_crossed());
            checked += 1;
            if events.get(seq + 1).is_none_or(|n| n.local_ts > e.local_ts) {
                last_of_time.push((e.local_ts, m - 1));
            }
        }
    }
    assert_eq!(checked, 20_000);
    eprintln!(
        "{} records aligned; anomalies {:?}",
        rep.aligned,
        book.anomalies()
    );
    // Through book_at: the book after every message before T is the row of
    // the last message before T.
    let info = eventstore_log::stream_info(&name.dir(tmp.path())).unwrap();
    assert!(info.files.len() >= 3, "{} files", info.files.len());
    let mut times: Vec<(i64, usize)> = last_of_time.iter().step_by(97).copied().collect();
    for f in &info.files {
        let start = f.min_ts.unwrap();
        if let Some(&(ts, i)) = last_of_time.iter().rev().find(|(ts, _)| *ts < start) {
            times.push((ts, i));
        }
    }
    for (ts, i) in times {
        let at = r.book_at(ts + 1).unwrap();
        assert!(at.replay.is_reliable(), "at {ts}");
        assert_eq!(
            top(&at.replay, 10),
            row_levels(&rows[i]),
            "after message {}",
            i + 1
        );
    }
}

/// LOBSTER files as users have them: header rows, Windows line endings,
/// a level-1 orderbook file, times printed from a float with too many
/// digits (`34397.878728270996`). Made from the real sample; each message
/// is stored as from the clean file, and the book is the published level
/// after every message.
#[test]
fn lobster_files_with_headers_crlf_float_times_and_one_level_import_exactly() {
    use eventstore_market::import::lobster::FLAG_ALIGNED;
    let Some(data) = market_data() else { return };
    let (msg, ob) = (
        data.join("lobster/AMZN_message_20k.csv.gz"),
        data.join("lobster/AMZN_orderbook_20k.csv.gz"),
    );
    let tmp = tempfile::tempdir().unwrap();
    let (msg2, ob2) = (
        tmp.path().join("AMZN_message_1.csv"),
        tmp.path().join("AMZN_orderbook_1.csv"),
    );
    let mut m = String::from("Time,Type,OrderID,Size,Price,Direction\r\n");
    let mut floats = 0;
    eventstore_market::import::input::for_each_line(&msg, |no, line| {
        let line = line.unwrap();
        let (t, rest) = line.split_once(',').unwrap();
        // Every 7th time as a float printed with 12 decimals.
        let t = if no % 7 == 0 {
            let f: f64 = t.parse().unwrap();
            let s = format!("{f:.12}");
            if s.trim_end_matches('0').len() > t.len() {
                floats += 1;
            }
            s
        } else {
            t.to_string()
        };
        m.push_str(&format!("{t},{rest}\r\n"));
        Ok(())
    })
    .unwrap();
    assert!(floats > 1000, "{floats} times with float digits");
    std::fs::write(&msg2, m).unwrap();
    let mut b = String::from("AskPrice1,AskSize1,BidPrice1,BidSize1\r\n");
    for row in lobster_rows(&ob) {
        let r: Vec<String> = row[..4].iter().map(|v| v.to_string()).collect();
        b.push_str(&format!("{}\r\n", r.join(",")));
    }
    std::fs::write(&ob2, b).unwrap();
    let rows = lobster_rows(&ob);
    let (clean, _) = lobster_with_book(&msg, &ob);
    let (quirky, _) = lobster_with_book(&msg2, &ob2);
    let decode = |b: &[u8]| eventstore_market::OrderEvent::decode(b).unwrap();
    let messages = |root: &Path| -> Vec<_> {
        stored(root, "nasdaq/amzn/orders", decode)
            .into_iter()
            .filter(|e| e.flags & FLAG_ALIGNED == 0)
            .collect()
    };
    assert_eq!(messages(quirky.path()), messages(clean.path()));
    let name = StreamName::new("nasdaq/amzn/orders").unwrap();
    assert_eq!(
        OrderStreamReader::open(quirky.path(), &name)
            .unwrap()
            .meta()
            .depth,
        Some(1)
    );
    let events = stored(quirky.path(), name.as_str(), decode);
    let mut book = Replay::new(BookKind::L3);
    let mut none = |_, _| {};
    let mut n = 0;
    for (seq, e) in events.iter().enumerate() {
        book.apply_order(seq as u64, e, &mut none);
        n += usize::from(e.flags & FLAG_ALIGNED == 0);
        if events
            .get(seq + 1)
            .is_none_or(|x| x.flags & FLAG_ALIGNED == 0)
        {
            let (bids, asks) = row_levels(&rows[n - 1][..4]);
            assert_eq!(top(&book, 1), (bids, asks), "after message {n}");
        }
    }
    assert_eq!(n, 20_000);
}
