//! After a failed fsync the state of the file on disk is unknown: the
//! writer refuses every later write (`Poisoned`) instead of acknowledging
//! records it can not vouch for. Reopening the stream recovers it, and every
//! record acknowledged before the failure is there.

use crate::common;
use common::*;
use eventstore_log::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Syncs like the OS until `fail_after` syncs, then fails every time.
struct FailingSync {
    calls: AtomicUsize,
    fail_after: usize,
}

impl SyncFile for FailingSync {
    fn sync(&self, file: &std::fs::File, data_only: bool) -> std::io::Result<()> {
        if self.calls.fetch_add(1, Ordering::SeqCst) >= self.fail_after {
            return Err(std::io::Error::other("injected: EIO on fsync"));
        }
        OsSync.sync(file, data_only)
    }
}

#[test]
fn a_failed_fsync_poisons_the_writer_and_reopening_recovers() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let opts = WriterOptions::default()
        .durability(Durability::Batch)
        .syncer(Arc::new(FailingSync {
            calls: AtomicUsize::new(0),
            fail_after: 5,
        }));
    let mut w = StreamWriter::open_dir(&dir, opts).unwrap();
    let mut acked = 0u64;
    let err = loop {
        match w.append(&payload(acked)) {
            Ok(seq) => {
                assert_eq!(seq, acked);
                acked += 1;
            }
            Err(e) => break e,
        }
    };
    // Five syncs succeeded: the first append's two (the file, then the
    // folder that holds its new name) and one for each of the next three.
    assert_eq!(acked, 4, "five syncs succeeded");
    assert!(err.to_string().contains("injected: EIO on fsync"), "{err}");
    // Every later call is refused, including sync and close.
    assert!(matches!(w.append(b"more"), Err(Error::Poisoned)));
    assert!(matches!(w.append_batch([&b"x"[..]]), Err(Error::Poisoned)));
    assert!(matches!(w.sync(), Err(Error::Poisoned)));
    assert!(matches!(w.close(), Err(Error::Poisoned)));
    // A new writer recovers the stream; the acknowledged records are there.
    let mut w = StreamWriter::open_dir(&dir, WriterOptions::default()).unwrap();
    assert!(w.next_seq() >= acked);
    let next = w.next_seq();
    w.append(&payload(next)).unwrap();
    drop(w);
    let mut r = StreamReader::open_dir(&dir, ReadOptions::default()).unwrap();
    let mut n = 0;
    while let Some(rec) = r.next().unwrap() {
        assert_eq!(rec.payload, &payload(rec.seq)[..]);
        n += 1;
    }
    assert_eq!(n, next + 1);
}

#[test]
fn a_failed_sync_while_sealing_in_the_appending_thread_poisons_the_writer() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let clock = ManualClock::new(T0);
    let opts = WriterOptions::default()
        .roll(RollInterval::MINUTELY)
        .seal_behind(false)
        .clock(Arc::new(clock.clone()))
        .syncer(Arc::new(FailingSync {
            calls: AtomicUsize::new(0),
            fail_after: 0,
        }));
    let mut w = StreamWriter::open_dir(&dir, opts).unwrap();
    w.append(b"first").unwrap(); // durability os: no sync yet
    clock.advance(60 * SEC);
    let err = w.append(b"second").unwrap_err(); // rolls: sealing syncs, and fails
    assert!(err.to_string().contains("injected"), "{err}");
    assert!(matches!(w.append(b"third"), Err(Error::Poisoned)));
    drop(w);
    let w = StreamWriter::open_dir(&dir, WriterOptions::default().roll(RollInterval::MINUTELY))
        .unwrap();
    assert_eq!(
        w.next_seq(),
        1,
        "the first record survived; the second was never acknowledged"
    );
}

#[test]
fn a_failed_sync_while_sealing_behind_the_appends_poisons_the_writer() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let clock = ManualClock::new(T0);
    let opts = WriterOptions::default()
        .roll(RollInterval::MINUTELY)
        .clock(Arc::new(clock.clone()))
        .seal_behind(true)
        .syncer(Arc::new(FailingSync {
            calls: AtomicUsize::new(0),
            fail_after: 0,
        }));
    let mut w = StreamWriter::open_dir(&dir, opts).unwrap();
    w.append(b"first").unwrap(); // durability os: no sync yet
    clock.advance(60 * SEC);
    // Rolls: the first file is sealed behind the appends, and its sync
    // fails there; the append itself went to the next file.
    w.append(b"second").unwrap();
    let err = w.wait_background().unwrap_err();
    assert!(matches!(err, Error::BackgroundSeal(_)), "{err}");
    assert!(err.to_string().contains("injected"), "{err}");
    assert!(matches!(w.append(b"third"), Err(Error::Poisoned)));
    assert!(matches!(w.sync(), Err(Error::Poisoned)));
    drop(w);
    // Recovery seals the first file; both acknowledged records are there.
    let w = StreamWriter::open_dir(&dir, WriterOptions::default().roll(RollInterval::MINUTELY))
        .unwrap();
    assert_eq!(w.next_seq(), 2, "both acknowledged records survived");
    drop(w);
    let mut r = StreamReader::open_dir(&dir, ReadOptions::default()).unwrap();
    assert_eq!(r.next().unwrap().unwrap().payload, b"first");
    assert_eq!(r.next().unwrap().unwrap().payload, b"second");
    assert!(r.next().unwrap().is_none());
}
