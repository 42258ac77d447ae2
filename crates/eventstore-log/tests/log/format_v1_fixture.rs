//! Files written by format version 1 are committed under
//! `tests/fixtures/v1/` and must keep opening, reading and verifying
//! exactly as they did. Regenerate them only for a new format version:
//! `ES_WRITE_FIXTURE=1 cargo test -p eventstore-log --test format_v1_fixture`.

use eventstore_log::*;
use std::path::PathBuf;
use std::sync::Arc;

const SEC: i64 = 1_000_000_000;
const T0: i64 = 1_723_161_240 * SEC;

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1/venue/sym/trades")
}

fn expected() -> Vec<(i64, Vec<u8>)> {
    (0..700u64)
        .map(|i| {
            let ts = T0 + (i as i64) * 150 * 1_000_000; // 150 ms apart: 3 files of a minute
            (
                ts,
                format!("{{\"t\":{i},\"p\":\"61837.{:02}\"}}", i % 100).into_bytes(),
            )
        })
        .collect()
}

#[test]
fn version_1_files_still_read_and_verify() {
    let dir = fixture();
    if std::env::var("ES_WRITE_FIXTURE").is_ok() {
        let _ = std::fs::remove_dir_all(&dir);
        let clock = ManualClock::new(T0);
        let opts = WriterOptions::default()
            .roll(RollInterval::MINUTELY)
            .roll_by(RollBy::RecordTime)
            .pretouch(false)
            .clock(Arc::new(clock.clone()));
        let mut w = StreamWriter::open_dir(&dir, opts).unwrap();
        for (ts, p) in expected() {
            w.append_at(ts, &p).unwrap();
        }
        clock.set(T0 + 3600 * SEC);
        w.close().unwrap();
        let _ = std::fs::remove_file(dir.join(".lock"));
        let _ = std::fs::remove_file(dir.join(".notify"));
    }
    let names: Vec<String> = files::list_files(&dir)
        .unwrap()
        .iter()
        .map(|f| f.path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["20240808T235400Z.log", "20240808T235500Z.log"]);
    let want = expected();
    let mut r = StreamReader::open_dir(&dir, ReadOptions::default()).unwrap();
    for (seq, (ts, p)) in want.iter().enumerate() {
        let rec = r.next().unwrap().unwrap();
        assert_eq!(
            (rec.seq, rec.timestamp, rec.payload),
            (seq as u64, *ts, &p[..])
        );
    }
    assert!(r.next().unwrap().is_none());
    for rep in verify_stream(&dir, |_| {}).unwrap() {
        assert_eq!(rep.status, FileStatus::Ok, "{}", rep.path.display());
    }
    let mut r =
        StreamReader::open_dir(&dir, ReadOptions::from(StartAt::Time(T0 + 60 * SEC))).unwrap();
    assert_eq!(r.next().unwrap().unwrap().seq, 400);
}
