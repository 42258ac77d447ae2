//! Property test: random batches, payload sizes, event times and roll
//! points against a simple in-memory model. Reading by sequence, by time,
//! with bounds, and after reopening the writer all equal the model.

use eventstore_log::*;
use proptest::prelude::*;
use std::sync::Arc;

const SEC: i64 = 1_000_000_000;
const T0: i64 = 1_723_161_240 * SEC; // 2024-08-08T23:54:00Z

#[derive(Debug, Clone)]
enum Op {
    /// A batch of (event-time offset, payload length) records.
    Batch(Vec<(i64, usize)>),
    /// Move the writer's clock forward.
    Advance(i64),
    /// Close and reopen the writer.
    Reopen,
    /// Seal if due, as the timer would.
    Tick,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => prop::collection::vec((-5 * SEC..5 * SEC, prop_oneof![0usize..16, 16usize..300, 1000usize..5000]), 1..40).prop_map(Op::Batch),
        3 => (0i64..90 * SEC).prop_map(Op::Advance),
        1 => Just(Op::Reopen),
        1 => Just(Op::Tick),
    ]
}

fn payload(seq: u64, len: usize) -> Vec<u8> {
    (0..len).map(|i| (seq as usize * 31 + i) as u8).collect()
}

fn read_all(dir: &std::path::Path, opts: ReadOptions) -> Vec<OwnedRecord> {
    let mut r = StreamReader::open_dir(dir, opts).unwrap();
    let mut out = Vec::new();
    while let Some(rec) = r.next().unwrap() {
        out.push(rec.to_owned());
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn reads_equal_the_model(ops in prop::collection::vec(op(), 1..30), probe in 0u64..1000, tprobe in -10i64..400) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("s");
        let clock = ManualClock::new(T0);
        let opts = WriterOptions::default()
            .roll(RollInterval::parse("1m").unwrap())
            // Seals behind the appends: readers meet files mid-seal.
            .seal_behind(true)
            .clock(Arc::new(clock.clone()));
        let mut w = StreamWriter::open_dir(&dir, opts.clone()).unwrap();
        let mut model: Vec<OwnedRecord> = Vec::new();
        for op in &ops {
            match op {
                Op::Batch(recs) => {
                    let now = clock.now_ns();
                    let items: Vec<(i64, Vec<u8>)> = recs
                        .iter()
                        .enumerate()
                        .map(|(i, (dt, len))| (now + dt, payload(model.len() as u64 + i as u64, *len)))
                        .collect();
                    let range = w.append_batch_at(items.iter().map(|(t, p)| (*t, p.as_slice()))).unwrap();
                    prop_assert_eq!(range.start, model.len() as u64);
                    for (t, p) in items {
                        model.push(OwnedRecord { seq: model.len() as u64, timestamp: t, payload: p });
                    }
                    prop_assert_eq!(range.end, model.len() as u64);
                }
                Op::Advance(d) => clock.advance(*d),
                Op::Reopen => {
                    w.close().unwrap();
                    w = StreamWriter::open_dir(&dir, opts.clone()).unwrap();
                    prop_assert_eq!(w.next_seq(), model.len() as u64);
                }
                Op::Tick => { w.tick().unwrap(); }
            }
        }
        // Everything, from the start.
        prop_assert_eq!(&read_all(&dir, ReadOptions::default()), &model);
        if model.is_empty() {
            return Ok(());
        }
        // From a sequence number, to a bound.
        let n = model.len() as u64;
        let from = probe % n;
        let to = from + (probe / 7) % (n - from + 1);
        let got = read_all(&dir, ReadOptions::from(StartAt::Seq(from)).stop(StopAt::Seq(to)));
        prop_assert_eq!(&got[..], &model[from as usize..to as usize]);
        // From a time: the first record with a timestamp at least T, then in order.
        let t = T0 + tprobe * SEC / 2;
        let first = model.iter().position(|r| r.timestamp >= t).unwrap_or(model.len());
        let got = read_all(&dir, ReadOptions::from(StartAt::Time(t)));
        prop_assert_eq!(&got[..], &model[first..]);
        // Up to a time: before the first record at or after T.
        let stop = model.iter().position(|r| r.timestamp >= t).unwrap_or(model.len());
        let got = read_all(&dir, ReadOptions::default().stop(StopAt::Time(t)));
        prop_assert_eq!(&got[..], &model[..stop]);
        // The stream's own summary agrees, and every file verifies.
        let info = stream_info(&dir).unwrap();
        prop_assert_eq!(info.records(), n);
        for rep in verify_stream(&dir, |_| {}).unwrap() {
            prop_assert!(rep.is_ok(), "{:?}", rep);
        }
        // Files are named in time order and sequence numbers continue.
        let mut next = 0;
        for f in &info.files {
            prop_assert_eq!(f.first_seq, next);
            next += f.records;
        }
        // Seeks on one reader agree with fresh readers.
        let mut r = StreamReader::open_dir(&dir, ReadOptions::default()).unwrap();
        r.seek(StartAt::Time(t)).unwrap();
        let got = r.next().unwrap().map(|x| x.seq);
        prop_assert_eq!(got, model.get(first).map(|x| x.seq));
        r.seek(StartAt::Seq(from)).unwrap();
        prop_assert_eq!(r.next().unwrap().map(|x| x.seq), Some(from));
        drop(w);
    }
}
