//! Rolling is driven by an injected clock, so these tests never sleep:
//! files roll at interval boundaries, are named by their UTC start, an idle
//! file is sealed by `tick` or on close once its interval has passed, and
//! every seal is announced.

use crate::common;
use common::*;
use eventstore_log::*;
use std::sync::Arc;

fn names(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| !n.starts_with('.'))
        .collect();
    v.sort();
    v
}

#[test]
fn files_roll_at_interval_boundaries_and_are_named_by_utc_start() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let clock = ManualClock::new(T0 + 7 * SEC); // 23:54:07
    let opts = WriterOptions::default()
        .roll(RollInterval::parse("5m").unwrap())
        .clock(Arc::new(clock.clone()));
    let mut w = StreamWriter::open_dir(&dir, opts).unwrap();
    let sealed = w.sealed_events();
    w.append(b"a").unwrap(); // 23:54:07 -> file 23:50
    clock.set(T0 + 6 * 60 * SEC - 1); // 23:59:59.999999999, same interval as 23:55
    w.append(b"b").unwrap();
    clock.set(T0 + 6 * 60 * SEC); // 00:00:00 next day
    w.append(b"c").unwrap();
    // The files rolled away from are sealed behind the appends.
    w.wait_background().unwrap();
    assert_eq!(
        names(&dir),
        vec![
            "20240808T235000Z.log",
            "20240808T235500Z.log",
            "20240809T000000Z.log.open"
        ]
    );
    let ev: Vec<SealedFile> = sealed.try_iter().collect();
    assert_eq!(ev.len(), 2);
    assert_eq!((ev[0].first_seq, ev[0].records), (0, 1));
    assert_eq!((ev[1].first_seq, ev[1].records), (1, 1));
    assert!(ev[1].path.ends_with("20240808T235500Z.log"));

    // Idle: nothing arrives, the timer seals the file once its interval has passed.
    clock.advance(4 * 60 * SEC);
    assert!(!w.tick().unwrap(), "not due yet");
    clock.advance(60 * SEC);
    assert!(w.tick().unwrap());
    assert_eq!(sealed.try_iter().count(), 1);
    assert!(names(&dir).iter().all(|n| n.ends_with(".log")));
    // The next record opens a new file for its own interval; sequence continues.
    clock.advance(17 * 60 * SEC);
    assert_eq!(w.append(b"d").unwrap(), 3);
    assert!(names(&dir).last().unwrap().starts_with("20240809T002000Z"));

    // Close before the interval ends leaves the file open for the next
    // writer, which continues it; close after it ends seals it.
    w.close().unwrap();
    assert!(names(&dir).last().unwrap().ends_with(".log.open"));
    let opts = WriterOptions::default()
        .roll(RollInterval::parse("5m").unwrap())
        .clock(Arc::new(clock.clone()));
    let mut w = StreamWriter::open_dir(&dir, opts.clone()).unwrap();
    assert_eq!(w.append(b"e").unwrap(), 4);
    clock.advance(10 * 60 * SEC);
    w.close().unwrap();
    assert!(names(&dir).iter().all(|n| n.ends_with(".log")));
    let info = stream_info(&dir).unwrap();
    assert_eq!(info.records(), 5);
    assert_eq!(info.files.len(), 4);
    assert!(info.files.iter().all(|f| f.sealed));
    assert_eq!(info.files[3].records, 2);
}

#[test]
fn an_unsealed_file_from_a_past_interval_is_sealed_on_open() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let clock = ManualClock::new(T0);
    let opts = WriterOptions::default()
        .roll(RollInterval::MINUTELY)
        .clock(Arc::new(clock.clone()));
    let mut w = StreamWriter::open_dir(&dir, opts.clone()).unwrap();
    w.append(b"x").unwrap();
    std::mem::forget(w); // as if the process died
    clock.advance(3600 * SEC);
    // The lock of the "dead" writer is still held by this process's open
    // descriptor, so reopen in a way that mimics a new process: the lock is
    // per open file description, so take it over by removing the leak.
    let lock = dir.join(".lock");
    std::fs::remove_file(&lock).unwrap();
    let w = StreamWriter::open_dir(&dir, opts).unwrap();
    assert_eq!(w.recovery_report().sealed.len(), 1);
    assert_eq!(w.next_seq(), 1);
    assert_eq!(names(&dir), vec!["20240808T235400Z.log"]);
}

#[test]
fn the_next_file_is_made_ahead_and_becomes_the_open_file_at_the_roll() {
    use std::os::unix::fs::MetadataExt;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let clock = ManualClock::new(T0);
    let opts = WriterOptions::default()
        .roll(RollInterval::MINUTELY)
        .clock(Arc::new(clock.clone()));
    let mut w = StreamWriter::open_dir(&dir, opts.clone()).unwrap();
    w.append(b"a").unwrap();
    clock.advance(60 * SEC);
    w.append(b"b").unwrap();
    // After the roll the worker seals the file left and makes the next one.
    w.wait_background().unwrap();
    let spares = || -> Vec<std::path::PathBuf> {
        std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                let n = p.file_name().unwrap().to_string_lossy().into_owned();
                n.starts_with(".next.") && n.ends_with(".log.tmp")
            })
            .collect()
    };
    let ahead = spares();
    assert_eq!(ahead.len(), 1, "the next file is made ahead: {ahead:?}");
    let made = std::fs::metadata(&ahead[0]).unwrap();
    assert!(made.len() >= 64 << 10, "reserved ahead: {}", made.len());
    // The roll renames it into place: the open file is that same file.
    clock.advance(60 * SEC);
    w.append(b"c").unwrap();
    let open = dir.join("20240808T235600Z.log.open");
    assert_eq!(std::fs::metadata(&open).unwrap().ino(), made.ino());
    w.wait_background().unwrap();
    let after = spares();
    assert_eq!(after.len(), 1, "and the one after it is made");
    assert_ne!(after, ahead);
    let mut r = StreamReader::open_dir(&dir, ReadOptions::default()).unwrap();
    for (seq, p) in [(0, b"a"), (1, b"b"), (2, b"c")] {
        let rec = r.next().unwrap().unwrap();
        assert_eq!((rec.seq, rec.payload), (seq, &p[..]));
    }
    assert!(r.next().unwrap().is_none());
    let info = stream_info(&dir).unwrap();
    assert_eq!(info.files.len(), 3);
    assert_eq!(info.files[2].first_seq, 2);
    // A writer that closes leaves no spare behind.
    w.close().unwrap();
    assert!(spares().is_empty());
    // One left by a killed writer is removed when the stream is reopened.
    std::fs::write(&after[0], b"left by a crash").unwrap();
    let mut w = StreamWriter::open_dir(&dir, opts).unwrap();
    assert!(spares().is_empty());
    assert_eq!(w.append(b"d").unwrap(), 3);
    w.close().unwrap();
}

#[test]
fn a_second_writer_is_refused_with_the_holders_pid() {
    let tmp = tempfile::tempdir().unwrap();
    let name = StreamName::new("venue/sym/trades").unwrap();
    let _w = StreamWriter::open(tmp.path(), &name, WriterOptions::default()).unwrap();
    let err = StreamWriter::open(tmp.path(), &name, WriterOptions::default())
        .err()
        .unwrap();
    match &err {
        Error::Locked { pid, .. } => assert_eq!(*pid, Some(std::process::id())),
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains(&std::process::id().to_string()));
    assert!(stream_info(&name.dir(tmp.path())).unwrap().writer_active);
}

#[test]
fn payloads_from_empty_to_16_mib_round_trip_and_larger_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let mut w = StreamWriter::open_dir(&dir, WriterOptions::default()).unwrap();
    let big: Vec<u8> = (0..16 << 20).map(|i: u32| (i % 251) as u8).collect();
    w.append(b"").unwrap();
    w.append(&big).unwrap();
    w.append(b"tail").unwrap();
    let err = w.append(&vec![0u8; (64 << 20) + 1]).unwrap_err();
    assert!(matches!(err, Error::PayloadTooLarge { .. }), "{err}");
    w.seal_now().unwrap();
    let mut r = StreamReader::open_dir(&dir, ReadOptions::default()).unwrap();
    assert_eq!(r.next().unwrap().unwrap().payload, b"");
    assert_eq!(r.next().unwrap().unwrap().payload, &big[..]);
    assert_eq!(r.next().unwrap().unwrap().payload, b"tail");
    assert!(r.next().unwrap().is_none());
}

#[test]
fn retention_deletes_old_and_excess_sealed_files_never_the_open_one() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let clock = ManualClock::new(T0);
    let opts = WriterOptions::default()
        .roll(RollInterval::MINUTELY)
        .clock(Arc::new(clock.clone()));
    let mut w = StreamWriter::open_dir(&dir, opts).unwrap();
    for i in 0..10u64 {
        w.append(&vec![i as u8; 1000]).unwrap();
        clock.advance(60 * SEC);
    }
    // 9 sealed files (once their seals behind the appends are done) and
    // the open one.
    w.wait_background().unwrap();
    let all = files::list_files(&dir).unwrap();
    assert_eq!(all.len(), 10);
    // A file's sidecar (such as a trade summary) goes with it.
    let sidecar = |p: &std::path::Path| {
        let mut s = p.as_os_str().to_os_string();
        s.push(".summary.json");
        std::path::PathBuf::from(s)
    };
    std::fs::write(sidecar(&all[0].path), b"{}").unwrap();
    std::fs::write(sidecar(&all[8].path), b"{}").unwrap();
    let gone = retain(
        &dir,
        RetentionPolicy {
            max_age: Some(std::time::Duration::from_secs(5 * 60)),
            max_bytes: None,
        },
        clock.now_ns(),
    )
    .unwrap();
    assert_eq!(gone.len(), 5, "{gone:?}");
    assert!(!sidecar(&all[0].path).exists(), "removed with its file");
    assert!(sidecar(&all[8].path).exists(), "kept with its file");
    let gone = retain(
        &dir,
        RetentionPolicy {
            max_age: None,
            max_bytes: Some(0),
        },
        clock.now_ns(),
    )
    .unwrap();
    assert_eq!(gone.len(), 4);
    let left = files::list_files(&dir).unwrap();
    assert_eq!(left.len(), 1);
    assert!(!left[0].sealed, "the open file is kept");
    // Reading resumes at the first retained record.
    let mut r = StreamReader::open_dir(&dir, ReadOptions::default()).unwrap();
    assert_eq!(r.next().unwrap().unwrap().seq, 9);
    drop(w);
}

#[test]
fn bad_stream_names_are_refused_before_touching_disk() {
    let tmp = tempfile::tempdir().unwrap();
    for bad in ["../escape", "/etc/passwd", "a/../../b", "with space", ""] {
        let err = StreamName::new(bad).unwrap_err();
        assert!(
            err.to_string().contains("invalid stream name"),
            "{bad}: {err}"
        );
    }
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
}

#[test]
fn interval_durability_syncs_in_the_background() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let opts = WriterOptions::default().durability("5ms".parse().unwrap());
    let mut w = StreamWriter::open_dir(&dir, opts).unwrap();
    for i in 0..100u64 {
        w.append(&payload(i)).unwrap();
    }
    w.close().unwrap();
    assert_eq!(stream_info(&dir).unwrap().records(), 100);
    assert!("fortnightly".parse::<Durability>().is_err());
}

#[test]
fn a_following_read_ends_at_its_sequence_bound_without_waiting_for_that_record() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let clock = ManualClock::new(T0);
    let opts = WriterOptions::default()
        .roll(RollInterval::MINUTELY)
        .clock(Arc::new(clock.clone()));
    let mut w = StreamWriter::open_dir(&dir, opts).unwrap();
    for i in 0..10u8 {
        w.append(&[i]).unwrap();
    }
    // Records 0..10 exist; a follower bounded at 10 ends after record 9,
    // and one bounded at 5 after record 4, with nothing more appended.
    for stop in [10u64, 5] {
        let opts = ReadOptions::from(StartAt::Seq(3))
            .stop(StopAt::Seq(stop))
            .follow(true);
        let mut r = StreamReader::open_dir(&dir, opts).unwrap();
        let mut seen = Vec::new();
        while let Some(rec) = r.next().unwrap() {
            seen.push(rec.seq);
        }
        assert_eq!(seen, (3..stop).collect::<Vec<_>>());
        assert!(r.is_finished());
    }
}

/// With the pretouch thread, the open file stays reserved well past the
/// write position (so that pages are faulted in ahead of the writer, never
/// by it after a growth), and sealing gives the reserve back.
#[test]
fn the_open_file_is_reserved_ahead_of_the_writer_and_trimmed_at_the_seal() {
    let tmp = tempfile::tempdir().unwrap();
    let name = StreamName::new("ahead").unwrap();
    let mut w =
        StreamWriter::open(tmp.path(), &name, WriterOptions::default().pretouch(true)).unwrap();
    let open_len = |dir: &std::path::Path| {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.to_string_lossy().ends_with(".log.open"))
            .map(|p| std::fs::metadata(p).unwrap().len())
            .unwrap()
    };
    let dir = name.dir(tmp.path());
    let payload = vec![5u8; 1000];
    let mut written = 0u64;
    for _ in 0..20 {
        for _ in 0..1000 {
            w.append(&payload).unwrap();
        }
        written += 1000 * 1016;
        assert!(
            open_len(&dir) >= written + (8 << 20),
            "{} bytes reserved after {written} written",
            open_len(&dir)
        );
    }
    w.close().unwrap();
    let sealed: u64 = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    assert!(sealed < written + (1 << 20), "{sealed} bytes after sealing");
}

/// A quiet stream's next file reserves and pre-faults by what its last
/// file held, not the 8 MiB a busy stream's file gets.
#[test]
fn a_quiet_streams_files_reserve_little() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let clock = ManualClock::new(T0);
    let opts = WriterOptions::default()
        .roll(RollInterval::MINUTELY)
        .clock(Arc::new(clock.clone()));
    let mut w = StreamWriter::open_dir(&dir, opts).unwrap();
    let open_len = |dir: &std::path::Path| {
        let f = files::list_files(dir).unwrap();
        let open = f.iter().rev().find(|f| !f.sealed).unwrap();
        std::fs::metadata(&open.path).unwrap().len()
    };
    w.append(b"first").unwrap();
    let first = open_len(&dir);
    for _ in 0..5 {
        clock.advance(60 * SEC);
        w.append(b"one trade a minute").unwrap();
    }
    let quiet = open_len(&dir);
    assert!(
        first >= 1 << 20,
        "the first file reserves 1 MiB or more: {first}"
    );
    assert!(
        quiet <= 256 << 10,
        "a quiet stream's file reserved {quiet} bytes"
    );
    w.wait_background().unwrap();
    drop(w);
    let mut r = StreamReader::open_dir(&dir, ReadOptions::default()).unwrap();
    let mut n = 0;
    while r.next().unwrap().is_some() {
        n += 1;
    }
    assert_eq!(n, 6);
}

/// Rolls back to back (one record a file, by record time, as an import of
/// a quiet symbol's history): the worker makes the next file while the
/// writer renames the last one it made into place; neither touches the
/// other's file, and every record is there.
#[test]
fn rolls_back_to_back_never_lose_the_file_made_ahead() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let opts = WriterOptions::default()
        .roll(RollInterval::MINUTELY)
        .roll_by(RollBy::RecordTime);
    let mut w = StreamWriter::open_dir(&dir, opts).unwrap();
    let n = 2000u64;
    for i in 0..n {
        assert_eq!(w.append_at(T0 + i as i64 * 60 * SEC, b"one").unwrap(), i);
    }
    w.close().unwrap();
    let info = stream_info(&dir).unwrap();
    assert_eq!((info.files.len() as u64, info.records()), (n, n));
}
