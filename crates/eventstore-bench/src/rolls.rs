//! Rolling: the append that rolls a file, a day written as minutely files
//! against the same day as hourly ones, and a quiet stream's many
//! one-record files (durability none: the writer's own costs).

use crate::stats::{percentiles, Table};
use eventstore_log::*;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

const SEC: i64 = 1_000_000_000;
const DAY0: i64 = 1_723_075_200 * SEC;

pub fn bench_rolls(dir: &Path) {
    rolling_append(dir);
    day(dir);
    quiet(dir);
}

/// 200 rolls of minutely files of 5,000 64-byte records, the seal behind
/// the appends and (the baseline) in the appending thread. Each roll is
/// followed by 20 ms of real time before the file's appends (a minutely
/// stream's rolls are 60 s apart): the writer's worker has the time to
/// seal the file left and make the next one, and the roll comes, as in a
/// stream that is being written, right after appends.
fn rolling_append(dir: &Path) {
    for behind in [true, false] {
        rolling_append_with(dir, behind);
    }
}

fn rolling_append_with(dir: &Path, behind: bool) {
    let path = dir.join("rolls-append");
    let _ = std::fs::remove_dir_all(&path);
    let clock = ManualClock::new(DAY0);
    let opts = WriterOptions::default()
        .roll(RollInterval::MINUTELY)
        .seal_behind(behind)
        .clock(Arc::new(clock.clone()));
    let mut w = StreamWriter::open_dir(&path, opts).expect("open");
    let p = [7u8; 64];
    let (mut rolls, mut others) = (Vec::new(), Vec::new());
    for f in 0..201i64 {
        clock.set(DAY0 + f * 60 * SEC);
        let t = Instant::now();
        w.append(&p).expect("append");
        if f > 0 {
            rolls.push(t.elapsed().as_nanos() as u64);
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        for _ in 0..5_000 {
            let t = Instant::now();
            w.append(&p).expect("append");
            others.push(t.elapsed().as_nanos() as u64);
        }
    }
    w.close().expect("close");
    let _ = std::fs::remove_dir_all(&path);
    let r = percentiles(&mut rolls, &[50.0, 99.0, 100.0]);
    let o = percentiles(&mut others, &[50.0, 99.99]);
    let mut t = Table::new(
        &format!(
            "The append that rolls (200 rolls of minutely files of 5,000 records of 64 B, durability none), the seal {}",
            if behind { "behind the appends" } else { "in the appending thread (baseline)" }
        ),
        &["rolling append p50", "p99", "max", "other appends p50", "other appends p99.99"],
    );
    t.row(vec![
        format!("{:.0} us", r[0] as f64 / 1e3),
        format!("{:.0} us", r[1] as f64 / 1e3),
        format!("{:.0} us", r[2] as f64 / 1e3),
        format!("{} ns", o[0]),
        format!("{} ns", o[1]),
    ]);
    t.print();
}

/// Write `n` records of 64 B evenly over a day, rolled at `roll`, by
/// record time; seconds, wall and system CPU.
fn write_day(path: &Path, roll: RollInterval, n: u64, behind: bool) -> (f64, f64) {
    let _ = std::fs::remove_dir_all(path);
    let opts = WriterOptions::default()
        .roll(roll)
        .roll_by(RollBy::RecordTime)
        .seal_behind(behind);
    let s0 = sys_secs();
    let t0 = Instant::now();
    let mut w = StreamWriter::open_dir(path, opts).expect("open");
    let step = 86_400 * SEC / n as i64;
    let p = [7u8; 64];
    for i in 0..n {
        w.append_at(DAY0 + i as i64 * step, &p).expect("append");
    }
    w.close().expect("close");
    let secs = t0.elapsed().as_secs_f64();
    (secs, sys_secs() - s0)
}

#[allow(unsafe_code)]
fn sys_secs() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    u.ru_stime.tv_sec as f64 + u.ru_stime.tv_usec as f64 * 1e-6
}

/// A day of 2 M records as 1,440 minutely files against 24 hourly ones.
fn day(dir: &Path) {
    let path = dir.join("rolls-day");
    let n = 2_000_000;
    let mut t = Table::new(
        "A day of 2 M records of 64 B, written by record time, durability none: 1,440 minutely files against 24 hourly ones, median of 3",
        &["files", "seal", "seconds", "kernel CPU s", "minutely / hourly"],
    );
    let mut hourly = 0.0;
    for (roll, label, behind) in [
        (RollInterval::HOURLY, "24 hourly", true),
        (RollInterval::MINUTELY, "1440 minutely", true),
        (RollInterval::HOURLY, "24 hourly", false),
        (RollInterval::MINUTELY, "1440 minutely", false),
    ] {
        let mut runs: Vec<(f64, f64)> = (0..3).map(|_| write_day(&path, roll, n, behind)).collect();
        runs.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (s, k) = runs[1];
        if roll == RollInterval::HOURLY {
            hourly = s;
        }
        t.row(vec![
            label.into(),
            if behind {
                "behind"
            } else {
                "inline (baseline)"
            }
            .into(),
            format!("{s:.2}"),
            format!("{k:.2}"),
            format!("{:.2}", s / hourly),
        ]);
    }
    let _ = std::fs::remove_dir_all(&path);
    t.print();
}

/// 50,000 minutely files of one record each (a quiet symbol over five
/// weeks), written by record time.
fn quiet(dir: &Path) {
    let path = dir.join("rolls-quiet");
    let _ = std::fs::remove_dir_all(&path);
    let n = 50_000u64;
    let opts = WriterOptions::default()
        .roll(RollInterval::MINUTELY)
        .roll_by(RollBy::RecordTime);
    let s0 = sys_secs();
    let t0 = Instant::now();
    let mut w = StreamWriter::open_dir(&path, opts).expect("open");
    for i in 0..n {
        w.append_at(DAY0 + i as i64 * 60 * SEC, b"one trade a minute")
            .expect("append");
    }
    w.close().expect("close");
    let (secs, sys) = (t0.elapsed().as_secs_f64(), sys_secs() - s0);
    let files = files::list_files(&path).map(|f| f.len()).unwrap_or(0);
    let _ = std::fs::remove_dir_all(&path);
    let mut t = Table::new(
        "50,000 one-record minutely files (a quiet symbol over five weeks), durability none",
        &["files", "seconds", "kernel CPU s", "per file"],
    );
    t.row(vec![
        files.to_string(),
        format!("{secs:.1}"),
        format!("{sys:.1}"),
        format!("{:.0} us", secs / n as f64 * 1e6),
    ]);
    t.print();
}
