//! Each file-system call that decides durability fails once, with EIO and
//! with ENOSPC, at its first, second and third use in a workload with
//! rolls: `fallocate`, `ftruncate`, `rename`, the file fsync and the
//! folder fsync (through the writer's `SyncFile` seam). Every time: the
//! failing append gets an error naming the file, later appends either work
//! or are refused (a poisoned writer), nothing panics, and reopening the
//! stream recovers every acknowledged record, with no torn or foreign
//! record served.

use eventstore_log::*;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

const SEC: i64 = 1_000_000_000;
const T0: i64 = 1_723_161_240 * SEC;

fn payload(seq: u64) -> Vec<u8> {
    // Every 25th record is large, so that files grow (fallocate) often.
    let len = if seq % 25 == 7 {
        700_000
    } else {
        (seq as usize * 37) % 3000
    };
    let mut v = seq.to_le_bytes().to_vec();
    v.extend((0..len).map(|i| (seq as usize * 7 + i) as u8));
    v
}

/// Fails the `nth` call (from 1) of `op` once with `errno`.
struct FailOnce {
    op: &'static str,
    nth: u64,
    errno: i32,
    calls: AtomicU64,
}

impl FailOnce {
    fn hit(&self, op: &'static str) -> std::io::Result<()> {
        if op == self.op && self.calls.fetch_add(1, Ordering::SeqCst) + 1 == self.nth {
            return Err(std::io::Error::from_raw_os_error(self.errno));
        }
        Ok(())
    }
}

impl SyncFile for FailOnce {
    fn sync(&self, file: &std::fs::File, data_only: bool) -> std::io::Result<()> {
        let op = if file.metadata()?.is_dir() {
            "sync-dir"
        } else {
            "sync"
        };
        self.hit(op)?;
        OsSync.sync(file, data_only)
    }

    fn before(&self, op: &'static str, _path: &Path) -> std::io::Result<()> {
        self.hit(op)
    }
}

#[test]
fn every_failing_syscall_is_an_error_and_reopening_recovers_every_acknowledged_record() {
    let mut cases = 0;
    let mut failures_seen = 0;
    for op in ["allocate", "truncate", "rename", "sync", "sync-dir"] {
        for errno in [libc::EIO, libc::ENOSPC] {
            for nth in 1..=3 {
                cases += 1;
                let tmp = tempfile::tempdir().unwrap();
                let dir = tmp.path().join("s");
                let fault = Arc::new(FailOnce {
                    op,
                    nth,
                    errno,
                    calls: AtomicU64::new(0),
                });
                let clock = ManualClock::new(T0);
                let opts = WriterOptions::default()
                    .roll(RollInterval::MINUTELY)
                    .durability(Durability::Batch)
                    .pretouch(false)
                    .syncer(fault.clone())
                    .clock(Arc::new(clock.clone()));
                let what = format!("{op} failing (errno {errno}) at call {nth}");
                let mut acked = Vec::new();
                let mut errors = 0;
                match StreamWriter::open_dir(&dir, opts) {
                    Ok(mut w) => {
                        for i in 0..160u64 {
                            clock.set(T0 + (i as i64 / 40) * 60 * SEC + i as i64);
                            // What the record's sequence number will be.
                            let seq = w.next_seq();
                            match w.append(&payload(seq)) {
                                Ok(s) => {
                                    assert_eq!(s, seq, "{what}");
                                    acked.push(s);
                                }
                                Err(e) => {
                                    errors += 1;
                                    let msg = e.to_string();
                                    assert!(
                                        msg.contains(&*dir.to_string_lossy())
                                            || matches!(e, Error::Poisoned),
                                        "{what}: {msg}"
                                    );
                                }
                            }
                        }
                        let _ = w.close();
                    }
                    Err(e) => {
                        errors += 1;
                        assert!(
                            e.to_string().contains(&*dir.to_string_lossy()),
                            "{what}: {e}"
                        );
                    }
                }
                if fault.calls.load(Ordering::SeqCst) >= nth {
                    failures_seen += 1;
                    assert!(errors > 0, "{what}: the failure was not reported");
                }
                // Reopen without faults: every acknowledged record is there.
                let clock = ManualClock::new(T0 + 3600 * SEC);
                let w = StreamWriter::open_dir(
                    &dir,
                    WriterOptions::default()
                        .roll(RollInterval::MINUTELY)
                        .pretouch(false)
                        .clock(Arc::new(clock)),
                )
                .unwrap_or_else(|e| panic!("{what}: reopening: {e}"));
                drop(w);
                let mut r = StreamReader::open_dir(&dir, ReadOptions::default()).unwrap();
                let mut served = std::collections::BTreeSet::new();
                while let Some(rec) = r.next().unwrap_or_else(|e| panic!("{what}: {e}")) {
                    assert_eq!(
                        rec.payload,
                        &payload(rec.seq)[..],
                        "{what}: record {}",
                        rec.seq
                    );
                    served.insert(rec.seq);
                }
                for s in &acked {
                    assert!(served.contains(s), "{what}: acknowledged {s} lost");
                }
            }
        }
    }
    assert_eq!(cases, 30);
    assert!(
        failures_seen >= 25,
        "only {failures_seen} of {cases} faults were reached"
    );
}
