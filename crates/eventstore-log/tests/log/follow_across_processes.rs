//! A reader in this process follows a writer in another process across
//! several rolls: every record arrives once, in order, intact; the reader
//! sleeps (not spins) while the writer pauses; and a SealWatcher in this
//! process learns of every file the other process seals.

use crate::common;
use common::*;
use eventstore_log::*;
use std::sync::Arc;
use std::time::{Duration, Instant};

const RECORDS: u64 = 3000;

/// The writer process: appends RECORDS records in bursts, rolling every
/// simulated minute, pausing between bursts so the follower must wait.
#[test]
fn child_follow_writer() {
    let Ok(dir) = std::env::var("ES_FOLLOW_DIR") else {
        return;
    };
    let clock = ManualClock::new(T0);
    let opts = WriterOptions::default()
        .roll(RollInterval::MINUTELY)
        .clock(Arc::new(clock.clone()));
    let mut w = StreamWriter::open_dir(dir.as_ref(), opts).unwrap();
    for seq in 0..RECORDS {
        w.append_at(clock.now_ns(), &payload(seq)).unwrap();
        clock.advance(SEC / 10); // 600 records a minute: 5 rolls
        if seq % 500 == 499 {
            std::thread::sleep(Duration::from_millis(150));
        }
    }
    clock.advance(120 * SEC);
    w.tick().unwrap(); // seal the last file while idle
    println!("DONE");
}

fn cpu_time() -> Duration {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage fills the struct we own.
    unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

#[test]
fn follower_in_another_process_gets_every_record_across_rolls() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("binance/btcusdt/trades");
    std::fs::create_dir_all(&dir).unwrap();
    let mut reader = StreamReader::open_dir(&dir, ReadOptions::default().follow(true)).unwrap();
    let mut watcher = SealWatcher::new(&dir);
    let mut child = KillOnDrop(spawn_child(
        "follow_across_processes::child_follow_writer",
        &[("ES_FOLLOW_DIR", dir.display().to_string())],
    ));
    let deadline = Instant::now() + Duration::from_secs(120);
    let cpu0 = cpu_time();
    let wall0 = Instant::now();
    let mut next = 0u64;
    while next < RECORDS {
        let rec = reader
            .next_before(Some(deadline))
            .unwrap()
            .unwrap_or_else(|| panic!("timed out after {next} records"));
        assert_eq!(rec.seq, next);
        assert_eq!(rec.payload, &payload(next)[..]);
        next += 1;
    }
    let cpu = cpu_time() - cpu0;
    let wall = wall0.elapsed();
    // The writer paused 5 times for 150 ms: a spinning follower would burn
    // the whole wall time; a sleeping one uses a small part of it.
    assert!(
        cpu < wall / 2,
        "follower used {cpu:?} of CPU over {wall:?} of wall time"
    );
    assert!(child.0.wait().unwrap().success());
    // The watcher learns of every sealed file.
    let mut sealed = Vec::new();
    let until = Instant::now() + Duration::from_secs(60);
    while sealed.len() < 5 && Instant::now() < until {
        sealed.extend(watcher.next(Duration::from_millis(200)).unwrap());
    }
    assert!(sealed.len() >= 5, "{sealed:?}");
    assert!(sealed
        .iter()
        .all(|f| f.sealed && f.path.extension().unwrap() == "log"));
}

#[test]
fn follow_from_the_end_sees_only_new_records() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let mut w = StreamWriter::open_dir(&dir, WriterOptions::default()).unwrap();
    for i in 0..10u64 {
        w.append(&payload(i)).unwrap();
    }
    let mut r = StreamReader::open_dir(&dir, ReadOptions::from(StartAt::End).follow(true)).unwrap();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        w.append(&payload(10)).unwrap();
        w
    });
    let rec = r
        .next_before(Some(Instant::now() + Duration::from_secs(30)))
        .unwrap()
        .unwrap();
    assert_eq!(rec.seq, 10);
    assert_eq!(rec.payload, &payload(10)[..]);
    drop(t.join().unwrap());
    assert!(r
        .next_before(Some(Instant::now() + Duration::from_millis(20)))
        .unwrap()
        .is_none());
}
