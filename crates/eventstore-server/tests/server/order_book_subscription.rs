//! Subscribing to an order stream from a time T: the book at T first, then
//! the stored updates from T, then live appends, with no gap or overlap at
//! either hand-over; the book a subscriber rebuilds equals the stored one.

use crate::common;

use bytes::Bytes;
use common::TestServer;
use eventstore_client::{StartAt, StopAt};
use eventstore_log::{RollBy, RollInterval, StreamName, StreamWriter, WriterOptions};
use eventstore_market::book::replay::{BookKind, Replay};
use eventstore_market::records::decimal::DecimalStyle;
use eventstore_market::records::level::{BookLevel, BookSide, FLAG_LAST, FLAG_SNAPSHOT};
use eventstore_market::synth::Rng;
use eventstore_market::{OrderStreamReader, StreamMeta};
use eventstore_server::ServerOptions;
use tonic::Code;

const T0: i64 = 1_723_075_200_000_000_000;

/// Depth events with chained update ids: 1 to 3 levels each, starting at
/// `id + 1`; returns the records and the last id.
fn diffs(rng: &mut Rng, mut id: u64, mut ts: i64, events: usize) -> (Vec<BookLevel>, u64) {
    let mut out = Vec::new();
    for _ in 0..events {
        ts += 1 + rng.below(50_000_000) as i64;
        let k = 1 + rng.below(3);
        let first = id + 1;
        id += k;
        for i in 0..k {
            let bid = rng.below(2) == 0;
            let off = 1 + rng.below(20) as i64;
            out.push(BookLevel {
                exchange_ts: ts,
                local_ts: ts,
                side: if bid { BookSide::Bid } else { BookSide::Ask },
                flags: if i + 1 == k { FLAG_LAST } else { 0 },
                price: if bid { 1000 - off } else { 1000 + off },
                size: if rng.below(4) == 0 {
                    0
                } else {
                    1 + rng.below(50) as i64
                },
                first_update_id: first,
                last_update_id: id,
                prev_update_id: 0,
                checksum: 0,
            });
        }
    }
    (out, id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_stream_subscription_starts_with_the_book_then_history_then_live() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let name = StreamName::new("synth/x/depth").unwrap();
    let sdir = name.dir(&data);
    std::fs::create_dir_all(&sdir).unwrap();
    StreamMeta {
        venue: "synth".into(),
        symbol: "X".into(),
        kind: eventstore_market::StreamKind::BookL2,
        price_scale: 2,
        size_scale: 0,
        style: DecimalStyle::Fixed,
        depth: None,
        checksum: None,
    }
    .store(&sdir)
    .unwrap();
    // Ten minutes of history in minutely files: a snapshot, then diffs.
    let mut rng = Rng::new(11);
    let snap = BookLevel {
        exchange_ts: T0,
        local_ts: T0,
        side: BookSide::Bid,
        flags: FLAG_SNAPSHOT | FLAG_LAST,
        price: 990,
        size: 5,
        first_update_id: 100,
        last_update_id: 100,
        prev_update_id: 0,
        checksum: 0,
    };
    let (hist, last_id) = diffs(&mut rng, 100, T0, 24_000);
    {
        let mut w = StreamWriter::open(
            &data,
            &name,
            WriterOptions::default()
                .roll(RollInterval::MINUTELY)
                .roll_by(RollBy::RecordTime)
                .pretouch(false),
        )
        .unwrap();
        w.append_at(T0, &snap.encode()).unwrap();
        for l in &hist {
            w.append_at(l.local_ts, &l.encode()).unwrap();
        }
        w.close().unwrap();
    }
    let stored = 1 + hist.len() as u64;
    let server = TestServer::start(ServerOptions::new(data.clone()));
    let client = server.client().await;

    // From a time in the middle of the history.
    let t = hist[hist.len() / 2].local_ts;
    let want_next = OrderStreamReader::open_dir(&sdir)
        .unwrap()
        .book_at(t)
        .unwrap()
        .next_seq;
    let mut sub = client.subscribe_book(name.as_str(), StartAt::Time(t), None, true);
    let mut book = Replay::new(BookKind::L2);
    let mut none = |_, _| {};
    let mut in_snapshot = true;
    let mut snapshot_records = 0;
    let mut expect = want_next;
    while expect < stored {
        let e = sub.next().await.unwrap().unwrap();
        let l = BookLevel::decode(&e.payload).unwrap();
        if e.snapshot {
            assert!(in_snapshot, "the book comes first, in one piece");
            assert_eq!(e.seq, want_next);
            assert_ne!(l.flags & FLAG_SNAPSHOT, 0);
            snapshot_records += 1;
        } else {
            if in_snapshot {
                assert!(book.is_reliable(), "the book ended with its last record");
            }
            in_snapshot = false;
            assert_eq!(e.seq, expect, "history from T: no gap, no overlap");
            expect += 1;
        }
        book.apply_level(e.seq, &l, &mut none);
    }
    assert!(snapshot_records > 10);
    // Live: more diffs appended through the service, continuing the ids.
    let (live, _) = diffs(&mut rng, last_id, hist[hist.len() - 1].local_ts, 2_000);
    for chunk in live.chunks(100) {
        let recs = chunk
            .iter()
            .map(|l| Bytes::copy_from_slice(&l.encode()))
            .collect();
        client.append(name.as_str(), recs).await.unwrap();
    }
    let end = stored + live.len() as u64;
    while expect < end {
        let e = sub.next().await.unwrap().unwrap();
        assert!(!e.snapshot);
        assert_eq!(e.seq, expect, "history to live: no gap, no overlap");
        book.apply_payload(e.seq, &e.payload, &mut none).unwrap();
        expect += 1;
    }
    assert_eq!(book.gaps(), 0);
    assert!(book.is_reliable());
    let whole = OrderStreamReader::open_dir(&sdir)
        .unwrap()
        .read_only()
        .book_at(i64::MAX)
        .unwrap();
    assert_eq!(whole.next_seq, end);
    assert_eq!(book.depth(usize::MAX), whole.replay.depth(usize::MAX));
    assert_eq!(book.last_update_id(), whole.replay.last_update_id());

    // A bounded subscription from the end: the book now, nothing after it.
    let mut now = client.subscribe_book(name.as_str(), StartAt::End, Some(StopAt::Seq(end)), false);
    let mut fresh = Replay::new(BookKind::L2);
    while let Some(e) = now.next().await {
        let e = e.unwrap();
        assert!(e.snapshot);
        fresh.apply_payload(0, &e.payload, &mut none).unwrap();
    }
    assert_eq!(fresh.depth(usize::MAX), book.depth(usize::MAX));

    // Not an order stream: a clear refusal.
    client
        .append("plain/s", vec![Bytes::from_static(b"x")])
        .await
        .unwrap();
    let mut bad = client.subscribe_book("plain/s", StartAt::Beginning, None, false);
    let e = bad.next().await.unwrap().unwrap_err();
    match e {
        eventstore_client::Error::Status(s) => {
            assert_eq!(s.code(), Code::FailedPrecondition, "{s}");
            assert!(s.message().contains("market"), "{s}");
        }
        e => panic!("{e}"),
    }
}
