//! A real writer process is killed with SIGKILL at random moments, 200
//! times. After each kill: every acknowledged record is intact, no torn
//! record is ever served, and the stream is writable again (the next child
//! recovers it and carries on from the right sequence number).

use crate::common;
use common::*;
use eventstore_log::*;
use std::io::{BufRead, BufReader};
use std::sync::Arc;
use std::time::Duration;

const TRIALS_PER_STREAM: u64 = 25;
const STREAMS: u64 = 8;

/// The writer process: recover the stream, then append batches and print
/// `ACK <next_seq>` after each append returns, until killed.
#[test]
fn child_writer() {
    let Ok(dir) = std::env::var("ES_CHILD_DIR") else {
        return;
    };
    let t0: i64 = std::env::var("ES_CHILD_T0").unwrap().parse().unwrap();
    let durability: Durability = std::env::var("ES_CHILD_DURABILITY")
        .unwrap()
        .parse()
        .unwrap();
    let clock = ManualClock::new(t0);
    let opts = WriterOptions::default()
        .roll(RollInterval::MINUTELY)
        .durability(durability)
        // Under `none` the rolled files are sealed behind the appends, so
        // that kills land in those seals too.
        .seal_behind(true)
        .clock(Arc::new(clock.clone()));
    let mut w = StreamWriter::open_dir(dir.as_ref(), opts).unwrap();
    let mut rng = Rng(t0 as u64 | 1);
    println!("OPEN {}", w.next_seq());
    for _ in 0..150 {
        let n = 1 + rng.below(20);
        let start = w.next_seq();
        let payloads: Vec<Vec<u8>> = (start..start + n).map(payload).collect();
        let r = w
            .append_batch_at(
                payloads
                    .iter()
                    .enumerate()
                    .map(|(i, p)| (clock.now_ns() + i as i64, p.as_slice())),
            )
            .unwrap();
        println!("ACK {}", r.end);
        clock.advance(3 * SEC);
    }
    println!("IDLE");
    std::thread::sleep(Duration::from_secs(600));
}

#[test]
fn kill_9_loses_nothing_acknowledged() {
    let tmp = tempfile::tempdir().unwrap();
    let mut rng = Rng(0x5eed);
    let mut total_trials = 0;
    for stream in 0..STREAMS {
        let dir = tmp.path().join(format!("s{stream}"));
        let mut acked = 0u64;
        for trial in 0..TRIALS_PER_STREAM {
            let durability = if trial % 2 == 0 { "batch" } else { "none" };
            let t0 = T0 + (trial as i64) * 3600 * SEC;
            let mut child = KillOnDrop(spawn_child(
                "recover_after_kill::child_writer",
                &[
                    ("ES_CHILD_DIR", dir.display().to_string()),
                    ("ES_CHILD_T0", t0.to_string()),
                    ("ES_CHILD_DURABILITY", durability.to_string()),
                ],
            ));
            let stdout = child.0.stdout.take().unwrap();
            let (tx, rx) = std::sync::mpsc::channel();
            let reader = std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
            // Wait until the child has recovered the stream, then kill it at a random moment.
            let mut lines = Vec::new();
            let opened_at = loop {
                let l = rx
                    .recv_timeout(Duration::from_secs(60))
                    .expect("child opened the stream");
                if let Some(n) = field(&l, "OPEN ") {
                    break n;
                }
                lines.push(l);
            };
            assert!(
                opened_at >= acked,
                "trial {trial}: recovered to {opened_at}, but {acked} were acknowledged"
            );
            std::thread::sleep(Duration::from_micros(rng.below(8000)));
            // SAFETY: sending SIGKILL to our own child.
            unsafe { libc::kill(child.0.id() as i32, libc::SIGKILL) };
            child.0.wait().unwrap();
            reader.join().unwrap();
            while let Ok(l) = rx.try_recv() {
                lines.push(l);
            }
            for l in &lines {
                if let Some(n) = field(l, "ACK ") {
                    acked = acked.max(n);
                }
            }
            check_stream(&dir, acked, trial);
            total_trials += 1;
        }
        // Writable again, and the history is whole.
        let mut w = StreamWriter::open_dir(&dir, WriterOptions::default()).unwrap();
        let next = w.next_seq();
        assert!(next >= acked);
        w.append(&payload(next)).unwrap();
        w.close().unwrap();
        check_stream(&dir, next + 1, 999);
    }
    assert!(total_trials >= 200);
}

/// The number after `key` in a line of the child's output (libtest may
/// print its own text before it on the same line).
fn field(line: &str, key: &str) -> Option<u64> {
    let at = line.find(key)? + key.len();
    line[at..].split_whitespace().next()?.parse().ok()
}

/// Every record present is exactly what was written; at least the
/// acknowledged ones are there; nothing is torn.
fn check_stream(dir: &std::path::Path, acked: u64, trial: u64) {
    if acked == 0 && !dir.exists() {
        return;
    }
    let mut r = StreamReader::open_dir(dir, ReadOptions::default()).unwrap();
    let mut next = 0u64;
    while let Some(rec) = r.next().unwrap_or_else(|e| panic!("trial {trial}: {e}")) {
        assert_eq!(rec.seq, next, "trial {trial}: sequence gap");
        assert_eq!(
            rec.payload,
            &payload(rec.seq)[..],
            "trial {trial}: record {} differs",
            rec.seq
        );
        next += 1;
    }
    assert!(
        next >= acked,
        "trial {trial}: {acked} acknowledged, only {next} readable"
    );
}
