//! Replay: streams merged by receive time, order streams starting with
//! their book, every record of the range exactly once.

#![cfg(feature = "arrow")]

use arrow_array::{Array, RecordBatch, TimestampNanosecondArray, UInt8Array};
use eventstore_log::{
    CompactOptions, ReadOptions, RollInterval, StreamName, StreamReader, WriterOptions,
};
use eventstore_market::replay::Replay;
use eventstore_market::synth::{record_market, SynthConfig};

const MIN: i64 = 60_000_000_000;

fn market(root: &std::path::Path, prefix: &str, seed: u64, start: i64, minutes: i64) {
    let cfg = SynthConfig {
        seed,
        start_ns: start,
        trades_per_sec: 5.0,
        book_updates_per_sec: 20.0,
        ..SynthConfig::default()
    };
    let opts = WriterOptions::default()
        .roll(RollInterval::parse("5m").unwrap())
        .compact(Some(CompactOptions::default()));
    let t = StreamName::new(&format!("{prefix}/trades")).unwrap();
    let d = StreamName::new(&format!("{prefix}/depth")).unwrap();
    record_market(root, &t, &d, &cfg, start + minutes * MIN, opts).unwrap();
}

fn col<T: Clone + 'static>(b: &RecordBatch, name: &str) -> T {
    b.column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<T>())
        .cloned()
        .unwrap()
}

fn count(root: &std::path::Path, name: &str, from: i64, to: i64) -> usize {
    let dir = StreamName::new(name).unwrap().dir(root);
    let mut r =
        StreamReader::open_dir(&dir, ReadOptions::received_in(Some(from), Some(to))).unwrap();
    let mut n = 0;
    while r.next().unwrap().is_some() {
        n += 1;
    }
    n
}

#[test]
fn replay_holds_every_record_of_the_range_once_in_receive_time() {
    let dir = tempfile::tempdir().unwrap();
    let start = 1_704_067_200_000_000_000; // 2024-01-01T00:00:00Z
    market(dir.path(), "v/a", 7, start, 20);
    market(dir.path(), "v/b", 8, start, 20);
    let names: Vec<StreamName> = ["v/a/trades", "v/a/depth", "v/b/trades", "v/b/depth"]
        .iter()
        .map(|n| StreamName::new(n).unwrap())
        .collect();
    // A start inside a file, an end inside another.
    let (from, to) = (start + 3 * MIN, start + 17 * MIN);
    let batches: Vec<RecordBatch> = Replay::open(dir.path(), &names, Some(from), Some(to), 1000)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut snapshot = 0;
    let mut rest = Vec::new();
    for b in &batches {
        assert!(b.num_rows() <= 1000);
        let ts = col::<TimestampNanosecondArray>(b, "ts");
        let flags = col::<UInt8Array>(b, "flags");
        for i in 0..b.num_rows() {
            if flags.is_valid(i) && flags.value(i) & 1 == 1 {
                assert!(rest.is_empty(), "the books come before every record");
                assert_eq!(ts.value(i), from);
                snapshot += 1;
            } else {
                rest.push(ts.value(i));
            }
        }
    }
    assert!(snapshot > 2);
    assert!(
        rest.iter().all(|&t| (from..to).contains(&t)),
        "a record outside the range"
    );
    assert!(rest.windows(2).all(|w| w[0] <= w[1]), "not in receive time");
    let expected: usize = names
        .iter()
        .map(|n| count(dir.path(), n.as_str(), from, to))
        .sum();
    assert_eq!(rest.len(), expected);
}
