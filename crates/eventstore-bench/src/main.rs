//! `eventstore-bench`: the log's speed against baselines run in the same
//! process and on the same filesystem. Prints Markdown tables for
//! BENCHMARKS.md. Run in release mode:
//!
//! ```sh
//! cargo run --release -p eventstore-bench -- all [--dir /path/on/the/disk/to/test]
//! ```
//!
//! Commands: `append`, `latency`, `read`, `seek`, `follow`, `remote`, `rolls` (the rolling append, a day of minutely against hourly files, 50,000 one-record files), `compact` (compact files: sizes against DBN and Parquet, decoding, seeks, conversion cost), `market` (`market-decode`: the hourly decode only; `market-import`: the imports only; `market-blocks`: the compact blocks of the real trades and level updates only), `book` (`book-apply`: its apply rates only), `record` (the live recorder against the venue simulator: messages/s at full speed, latency at 10,000 messages/s), `service`, `all`.
//! `service` compares with NATS JetStream when built with `--features nats`
//! and `nats-server` is installed.
//! `remote` starts a local S3 server with `scripts/s3-server.sh` (or uses
//! `EVENTSTORE_TEST_S3_ENDPOINT` and `EVENTSTORE_TEST_S3_BUCKET`).
#![deny(unsafe_code)]

mod book;
mod compact;
mod market;
mod record;
mod remote;
mod rolls;
mod service;
mod stats;

use eventstore_log::*;
use stats::{percentiles, Table};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SEC: i64 = 1_000_000_000;
const T0: i64 = 1_723_161_600 * SEC; // 2024-08-09T00:00:00Z

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("follow-writer") {
        follow_writer(
            &args[2],
            args[3].parse().unwrap_or(10_000),
            args[4].parse().unwrap_or(100),
        );
        return;
    }
    let cmd = args.get(1).cloned().unwrap_or_else(|| "all".into());
    let dir = args
        .iter()
        .position(|a| a == "--dir")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
        .join(format!("eventstore-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create bench folder");
    let run = |name: &str| cmd == name || cmd == "all";
    if run("append") {
        bench_append(&dir);
    }
    if run("latency") {
        bench_latency(&dir);
    }
    if run("read") {
        bench_read(&dir);
    }
    if run("seek") {
        bench_seek(&dir);
    }
    if run("follow") {
        bench_follow(&dir);
    }
    if run("remote") {
        remote::bench_remote(&dir);
    }
    if run("market") {
        market::bench_market(&dir);
    } else if cmd == "market-decode" {
        market::bench_decode(&dir);
    } else if cmd == "market-import" {
        market::bench_import(&dir);
    } else if cmd == "market-blocks" {
        market::bench_blocks(&dir);
    }
    if run("rolls") {
        rolls::bench_rolls(&dir);
    }
    if run("compact") {
        compact::bench_compact(&dir);
    }
    if run("book") {
        book::bench_book(&dir);
    } else if cmd == "book-apply" {
        book::apply_rate(&dir);
    }
    if run("record") {
        record::bench_record(&dir);
    }
    if run("service") {
        service::bench_service(&dir);
    }
    if run("fanout") {
        service::bench_fanout(&dir);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn fresh(dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(name);
    let _ = std::fs::remove_dir_all(&p);
    p
}

/// Drop the page cache's copy of the files we wrote, so later benchmarks
/// do not run against a full page cache. Best effort.
fn cleanup(p: &Path) {
    let _ = std::fs::remove_dir_all(p);
}

fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + 3) as u8).collect()
}

/// Append N records with OS durability; baseline: a buffered `write()` loop
/// writing the same bytes (16-byte record header + payload, padded to 8) to a file.
fn bench_append(dir: &Path) {
    let mut t = Table::new(
        "Append throughput, durability none (median of 5 runs)",
        &[
            "payload",
            "records",
            "EventStore rec/s",
            "EventStore MB/s",
            "raw write() rec/s",
            "raw write() MB/s",
            "ratio (bytes/s)",
        ],
    );
    for (len, n) in [(64usize, 20_000_000u64), (256, 8_000_000), (4096, 600_000)] {
        let p = payload(len);
        let frame = eventstore_log::format::frame_size(len);
        let bytes = frame as f64 * n as f64;
        let mut es_runs = Vec::new();
        let mut raw_runs = Vec::new();
        for _ in 0..5 {
            // Baseline.
            let path = fresh(dir, "raw");
            std::fs::create_dir_all(&path).unwrap();
            let f = std::fs::File::create(path.join("raw.bin")).unwrap();
            let mut w = std::io::BufWriter::with_capacity(1 << 16, f);
            let mut rec = vec![0u8; frame];
            rec[16..16 + len].copy_from_slice(&p);
            let start = Instant::now();
            for i in 0..n {
                rec[8..16].copy_from_slice(&(i as i64).to_le_bytes());
                w.write_all(&rec).unwrap();
            }
            w.flush().unwrap();
            raw_runs.push(start.elapsed().as_secs_f64());
            drop(w);
            cleanup(&path);

            let path = fresh(dir, "es");
            let mut w =
                StreamWriter::open_dir(&path, WriterOptions::default().roll(RollInterval::DAILY))
                    .unwrap();
            let start = Instant::now();
            for _ in 0..n {
                w.append(&p).unwrap();
            }
            es_runs.push(start.elapsed().as_secs_f64());
            drop(w);
            cleanup(&path);
        }
        let best_es = stats::median(&mut es_runs);
        let best_raw = stats::median(&mut raw_runs);
        t.row(vec![
            format!("{len} B"),
            n.to_string(),
            format!("{:.2} M", n as f64 / best_es / 1e6),
            format!("{:.0}", bytes / best_es / 1e6),
            format!("{:.2} M", n as f64 / best_raw / 1e6),
            format!("{:.0}", bytes / best_raw / 1e6),
            format!("{:.2}x", best_raw / best_es),
        ]);
    }
    t.print();
}

/// Append 64-byte records at a steady 1 M records/s; the time each `append` takes.
fn bench_latency(dir: &Path) {
    let n = 5_000_000usize;
    let p = payload(64);
    let path = fresh(dir, "lat");
    let mut w =
        StreamWriter::open_dir(&path, WriterOptions::default().roll(RollInterval::DAILY)).unwrap();
    let mut lat = Vec::with_capacity(n);
    let period = Duration::from_micros(1);
    let start = Instant::now();
    let mut behind = 0u64;
    for i in 0..n {
        let due = start + period * i as u32;
        let mut now = Instant::now();
        if now > due + Duration::from_micros(100) {
            behind += 1;
        }
        while now < due {
            std::hint::spin_loop();
            now = Instant::now();
        }
        w.append(&p).unwrap();
        lat.push(now.elapsed().as_nanos() as u64);
    }
    let secs = start.elapsed().as_secs_f64();
    drop(w);
    cleanup(&path);
    let ps = percentiles(&mut lat, &[50.0, 99.0, 99.9, 99.99]);
    let mut t = Table::new(
        "Append latency, 64 B at a steady 1 M records/s (5 M records, durability none)",
        &[
            "achieved rate",
            "p50",
            "p99",
            "p99.9",
            "p99.99",
            "max",
            "late by >100 us",
        ],
    );
    t.row(vec![
        format!("{:.2} M/s", n as f64 / secs / 1e6),
        format!("{} ns", ps[0]),
        format!("{} ns", ps[1]),
        format!("{} ns", ps[2]),
        format!("{} ns", ps[3]),
        format!("{} ns", lat.last().copied().unwrap_or(0)),
        behind.to_string(),
    ]);
    t.print();
    bench_roll_latency(dir);
}

/// The append that rolls the file: it seals the previous file and creates
/// the next. 20 rolls of 100,000-record files, durability none.
fn bench_roll_latency(dir: &Path) {
    let path = fresh(dir, "roll-lat");
    let clock = ManualClock::new(T0);
    let opts = WriterOptions::default()
        .roll(RollInterval::MINUTELY)
        .clock(Arc::new(clock.clone()));
    let mut w = StreamWriter::open_dir(&path, opts).unwrap();
    let p = payload(64);
    let (mut rolls, mut others) = (Vec::new(), Vec::new());
    for f in 0..21i64 {
        clock.set(T0 + f * 60 * SEC);
        let t = Instant::now();
        w.append(&p).unwrap();
        if f > 0 {
            rolls.push(t.elapsed().as_nanos() as u64);
        }
        for _ in 0..100_000 {
            let t = Instant::now();
            w.append(&p).unwrap();
            others.push(t.elapsed().as_nanos() as u64);
        }
    }
    drop(w);
    cleanup(&path);
    let r = percentiles(&mut rolls, &[50.0, 100.0]);
    let o = percentiles(&mut others, &[50.0, 99.99]);
    let mut t = Table::new(
        "The append that rolls: seals the previous file and starts the next (20 rolls, 64 B, durability none)",
        &["rolling append p50", "rolling append max", "other appends p50", "other appends p99.99"],
    );
    t.row(vec![
        format!("{:.0} us", r[0] as f64 / 1e3),
        format!("{:.0} us", r[1] as f64 / 1e3),
        format!("{} ns", o[0]),
        format!("{} ns", o[1]),
    ]);
    t.print();
}

/// Write `files` files of `per_file` records of `len` bytes, one per simulated minute.
fn build_stream(path: &Path, files: u64, per_file: u64, len: usize) {
    let clock = ManualClock::new(T0);
    let opts = WriterOptions::default()
        .roll(RollInterval::MINUTELY)
        .clock(Arc::new(clock.clone()));
    let mut w = StreamWriter::open_dir(path, opts).unwrap();
    let p = payload(len);
    let step = 60 * SEC / per_file as i64;
    for f in 0..files {
        for i in 0..per_file {
            let ts = T0 + f as i64 * 60 * SEC + i as i64 * step;
            w.append_at(ts, &p).unwrap();
        }
        clock.advance(60 * SEC);
    }
    w.close().unwrap();
}

/// Read every record of a 64-byte stream; baselines: `read()` of the same
/// files into a buffer, and a walk over the same frames without checksums.
#[allow(unsafe_code)] // the raw map of the baseline frame walk (UNSAFE.md)
fn bench_read(dir: &Path) {
    let (files, per_file, len) = (20u64, 1_000_000u64, 64usize);
    let n = files * per_file;
    let path = fresh(dir, "read");
    build_stream(&path, files, per_file, len);
    let list = eventstore_log::files::list_files(&path).unwrap();
    let total_bytes: u64 = list
        .iter()
        .map(|f| std::fs::metadata(&f.path).unwrap().len())
        .sum();
    let mut runs: [Vec<f64>; 3] = Default::default();
    let mut check = 0u64;
    for _ in 0..7 {
        // EventStore: every record, checksum verified, payload touched.
        let start = Instant::now();
        let mut r = StreamReader::open_dir(&path, ReadOptions::default()).unwrap();
        let mut sum = 0u64;
        let mut count = 0u64;
        while let Some(rec) = r.next().unwrap() {
            sum = sum.wrapping_add(rec.payload[0] as u64 + rec.payload.len() as u64);
            count += 1;
        }
        runs[0].push(start.elapsed().as_secs_f64());
        assert_eq!(count, n);
        check ^= sum;
        // Raw read() of the same bytes.
        let start = Instant::now();
        let mut buf = vec![0u8; 1 << 20];
        let mut got = 0u64;
        for f in &list {
            let mut file = std::fs::File::open(&f.path).unwrap();
            loop {
                let k = std::io::Read::read(&mut file, &mut buf).unwrap();
                if k == 0 {
                    break;
                }
                got += k as u64;
                check ^= buf[k - 1] as u64;
            }
        }
        runs[1].push(start.elapsed().as_secs_f64());
        assert_eq!(got, total_bytes);
        // Raw frame walk over a memory map: lengths only, no checksum.
        let start = Instant::now();
        let mut count = 0u64;
        for f in &list {
            let file = std::fs::File::open(&f.path).unwrap();
            // SAFETY: a sealed file nobody modifies.
            let m = unsafe { memmap2::MmapOptions::new().populate().map(&file) }.unwrap();
            let mut pos = eventstore_log::format::HEADER_LEN;
            loop {
                let fl = u32::from_le_bytes(m[pos..pos + 4].try_into().unwrap());
                if fl == u32::MAX {
                    break;
                }
                check = check.wrapping_add(m[pos + 16] as u64);
                pos = eventstore_log::format::align8(pos + fl as usize);
                count += 1;
            }
        }
        runs[2].push(start.elapsed().as_secs_f64());
        assert_eq!(count, n);
    }
    std::hint::black_box(check);
    cleanup(&path);
    let best = runs.map(|mut r| stats::median(&mut r));
    let mut t = Table::new(
        "Sequential read, 64 B payloads, 20 files x 1 M records, page cache warm (median of 7 runs)",
        &["reader", "records/s", "GB/s", "EventStore vs this"],
    );
    let gb = total_bytes as f64 / 1e9;
    for (name, secs) in [
        ("EventStore StreamReader (CRC-32C checked)", best[0]),
        ("raw read() of the same files, 1 MiB buffer", best[1]),
        ("raw frame walk over a populated mmap, no checksum", best[2]),
    ] {
        t.row(vec![
            name.to_string(),
            format!("{:.1} M", n as f64 / secs / 1e6),
            format!("{:.2}", gb / secs),
            format!("{:.2}x", secs / best[0]),
        ]);
    }
    t.print();
}

/// Seek by time in a stream of 100 files of 1 M records each.
fn bench_seek(dir: &Path) {
    let (files, per_file, len) = (100u64, 1_000_000u64, 16usize);
    let path = fresh(dir, "seek");
    let start = Instant::now();
    build_stream(&path, files, per_file, len);
    eprintln!(
        "seek: built {} records in {:.1} s",
        files * per_file,
        start.elapsed().as_secs_f64()
    );
    let span = files as i64 * 60 * SEC;
    let step = 60 * SEC / per_file as i64;
    let mut r = StreamReader::open_dir(&path, ReadOptions::default()).unwrap();
    let mut rng = 0x1234_5678_u64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut run = |k: usize, r: &mut StreamReader| {
        let mut lat = Vec::with_capacity(k);
        for _ in 0..k {
            let t = T0 + (next() % span as u64) as i64;
            let s = Instant::now();
            r.seek(StartAt::Time(t)).unwrap();
            let rec = r.next().unwrap().unwrap();
            lat.push(s.elapsed().as_nanos() as u64);
            // Exact: the first record at or after t.
            let f = (t - T0) / (60 * SEC);
            let i = ((t - T0 - f * 60 * SEC) + step - 1) / step;
            let want = f as u64 * per_file + i as u64;
            let want = if i as u64 >= per_file {
                (f as u64 + 1) * per_file
            } else {
                want
            };
            assert_eq!(rec.seq, want, "seek to {t}");
        }
        lat
    };
    let mut cold = run(100, &mut r);
    let mut warm = run(100_000, &mut r);
    let mut fresh_reader = Vec::new();
    for _ in 0..200 {
        let s = Instant::now();
        let mut r2 = StreamReader::open_dir(&path, ReadOptions::default()).unwrap();
        r2.seek(StartAt::Time(T0 + (next() % span as u64) as i64))
            .unwrap();
        let _ = r2.next().unwrap();
        fresh_reader.push(s.elapsed().as_nanos() as u64);
    }
    cleanup(&path);
    let mut t = Table::new(
        "Seek by time, 100 files x 1 M records (16 B payloads), then read the record found",
        &["case", "seeks", "p50", "p99", "mean"],
    );
    for (name, v) in [
        ("first seeks of a reader (files not yet mapped)", &mut cold),
        ("repeated seeks on one reader (files mapped)", &mut warm),
        (
            "new reader per seek (list folder, map, seek)",
            &mut fresh_reader,
        ),
    ] {
        let mean = v.iter().sum::<u64>() / v.len() as u64;
        let ps = percentiles(v, &[50.0, 99.0]);
        t.row(vec![
            name.into(),
            v.len().to_string(),
            format!("{:.1} us", ps[0] as f64 / 1e3),
            format!("{:.1} us", ps[1] as f64 / 1e3),
            format!("{:.1} us", mean as f64 / 1e3),
        ]);
    }
    t.print();
}

/// A clock's time in ns (`CLOCK_MONOTONIC` is shared by processes).
#[allow(unsafe_code)]
fn clock_ns(clock: libc::clockid_t) -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the struct we own.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec * SEC + ts.tv_nsec
}

fn mono_ns() -> i64 {
    clock_ns(libc::CLOCK_MONOTONIC)
}

/// The writer process of the follow benchmark: `n` records, one every
/// `gap_us`, each carrying its send time (CLOCK_MONOTONIC, shared by processes).
fn follow_writer(dir: &str, n: u64, gap_us: u64) {
    let mut w = StreamWriter::open_dir(Path::new(dir), WriterOptions::default()).unwrap();
    let start = mono_ns();
    for i in 0..n {
        let due = start + (i * gap_us * 1000) as i64;
        if gap_us >= 1000 {
            let left = due - mono_ns();
            if left > 200_000 {
                std::thread::sleep(Duration::from_nanos((left - 200_000) as u64));
            }
        }
        while mono_ns() < due {
            std::hint::spin_loop();
        }
        w.append(&mono_ns().to_le_bytes()).unwrap();
    }
}

/// A reader in this process follows a writer in another.
fn bench_follow(dir: &Path) {
    let mut t = Table::new(
        "Cross-process follow latency (append in one process to delivery in another)",
        &[
            "writer rate",
            "records",
            "p50",
            "p99",
            "p99.9",
            "follower CPU",
        ],
    );
    for (n, gap_us, label) in [
        (50_000u64, 20u64, "50 k/s"),
        (20_000, 100, "10 k/s"),
        (300, 10_000, "100/s (follower sleeps between records)"),
    ] {
        let path = fresh(dir, "follow");
        std::fs::create_dir_all(&path).unwrap();
        let mut r = StreamReader::open_dir(&path, ReadOptions::default().follow(true)).unwrap();
        let exe = std::env::current_exe().unwrap();
        let mut child = std::process::Command::new(exe)
            .args([
                "follow-writer",
                path.to_str().unwrap(),
                &n.to_string(),
                &gap_us.to_string(),
            ])
            .spawn()
            .unwrap();
        let cpu0 = cpu_ns();
        let wall0 = Instant::now();
        let mut lat = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let rec = r.next().unwrap().unwrap();
            let sent = i64::from_le_bytes(rec.payload.try_into().unwrap());
            lat.push((mono_ns() - sent).max(0) as u64);
        }
        let cpu = (cpu_ns() - cpu0) as f64 / wall0.elapsed().as_nanos() as f64;
        child.wait().unwrap();
        cleanup(&path);
        let ps = percentiles(&mut lat, &[50.0, 99.0, 99.9]);
        t.row(vec![
            label.into(),
            n.to_string(),
            format!("{:.1} us", ps[0] as f64 / 1e3),
            format!("{:.1} us", ps[1] as f64 / 1e3),
            format!("{:.1} us", ps[2] as f64 / 1e3),
            format!("{:.0}% of a core", cpu * 100.0),
        ]);
    }
    t.print();
}

pub(crate) fn cpu_ns() -> i64 {
    clock_ns(libc::CLOCK_THREAD_CPUTIME_ID)
}
