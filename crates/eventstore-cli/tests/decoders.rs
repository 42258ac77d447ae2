//! Generated inputs for the decoders that read untrusted bytes: log files
//! (header, frames, footer, a whole stream through a reader), book
//! snapshots, manifests, `market.json`, and the importers' line parsers.
//! Each target starts from real inputs and mutates them (bit flips, random
//! bytes, interesting integers, cuts, deletions, duplications, splices);
//! a decoder may refuse an input but never panic. A crashing input is
//! written to `target/fuzz-crashes/` and reported in hex; kept in
//! `tests/fuzz-regressions/<target>/`, it is replayed by every run.
//!
//! The suite runs a bounded number of inputs per target; `scripts/fuzz.sh`
//! runs each for longer (`EVENTSTORE_FUZZ_SECS`).

use eventstore_log::format::{self, FileHeader};
use eventstore_log::{ManualClock, RollInterval, StreamWriter, WriterOptions};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SEC: i64 = 1_000_000_000;
const T0: i64 = 1_723_161_240 * SEC;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// A mutation of `seed`.
fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut b = seed.to_vec();
    if rng.below(20) == 0 {
        let n = rng.below(512);
        return (0..n).map(|_| rng.next() as u8).collect();
    }
    for _ in 0..1 + rng.below(6) {
        if b.is_empty() {
            b.push(rng.next() as u8);
            continue;
        }
        let at = rng.below(b.len());
        match rng.below(8) {
            0 => b[at] ^= 1 << rng.below(8),
            1 => b[at] = rng.next() as u8,
            2 => {
                const INTERESTING: [u64; 8] =
                    [0, 1, 0x7f, 0xff, 0xffff, 0xffff_ffff, 1 << 31, u64::MAX];
                let v = INTERESTING[rng.below(8)].to_le_bytes();
                let n = [1, 2, 4, 8][rng.below(4)].min(b.len() - at);
                b[at..at + n].copy_from_slice(&v[..n]);
            }
            3 => b.truncate(at),
            4 => {
                let end = (at + rng.below(64)).min(b.len());
                b.drain(at..end);
            }
            5 => {
                let end = (at + rng.below(64)).min(b.len());
                let dup: Vec<u8> = b[at..end].to_vec();
                let to = rng.below(b.len());
                b.splice(to..to, dup);
            }
            6 => {
                let n = rng.below(16);
                let ins: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                b.splice(at..at, ins);
            }
            _ => {
                // Splice in the same offset's bytes of a shifted copy.
                let other = seed.get(rng.below(seed.len())..).unwrap_or(&[]).to_vec();
                let n = other.len().min(b.len() - at).min(32);
                b[at..at + n].copy_from_slice(&other[..n]);
            }
        }
    }
    b
}

/// How many inputs per target, or how long.
fn budget(default: u64) -> (u64, Option<Duration>) {
    match std::env::var("EVENTSTORE_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        Some(s) => (u64::MAX, Some(Duration::from_secs(s))),
        None => (default, None),
    }
}

fn regressions(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz-regressions")
        .join(target);
    let mut v = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            v.push(std::fs::read(e.path()).unwrap());
        }
    }
    v
}

/// Run `f` on the regressions of `target`, then on mutations of `seeds`.
fn fuzz(target: &str, seeds: &[Vec<u8>], default: u64, f: impl Fn(&[u8])) {
    assert!(!seeds.is_empty(), "{target}: no seed inputs");
    let check = |input: &[u8]| {
        if catch_unwind(AssertUnwindSafe(|| f(input))).is_err() {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/fuzz-crashes");
            let _ = std::fs::create_dir_all(&dir);
            let path = dir.join(format!("{target}-{:08x}.bin", crc32c::crc32c(input)));
            let _ = std::fs::write(&path, input);
            let hex: String = input.iter().take(256).map(|b| format!("{b:02x}")).collect();
            panic!(
                "{target}: a decoder panicked on {} bytes (saved as {}): {hex}",
                input.len(),
                path.display()
            );
        }
    };
    for r in regressions(target) {
        check(&r);
    }
    let (n, secs) = budget(default);
    let started = Instant::now();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ crc32c::crc32c(target.as_bytes()) as u64);
    let mut tried = 0u64;
    while tried < n && secs.is_none_or(|s| started.elapsed() < s) {
        let seed = &seeds[rng.below(seeds.len())];
        check(&mutate(&mut rng, seed));
        tried += 1;
    }
    eprintln!("{target}: {tried} inputs, no panic");
}

/// A small real stream: three sealed minutely files and an open one.
fn log_files(dir: &Path) -> Vec<PathBuf> {
    let clock = ManualClock::new(T0);
    let opts = WriterOptions::default()
        .roll(RollInterval::MINUTELY)
        .pretouch(false)
        .clock(Arc::new(clock.clone()));
    let mut w = StreamWriter::open_dir(dir, opts).unwrap();
    for f in 0..4 {
        clock.set(T0 + f * 60 * SEC);
        for i in 0..(20 + f * 7) {
            w.append(format!("record {f} {i} {}", "x".repeat((i * 13 % 70) as usize)).as_bytes())
                .unwrap();
        }
    }
    drop(w);
    eventstore_log::files::list_files(dir)
        .unwrap()
        .into_iter()
        .map(|f| f.path)
        .collect()
}

#[test]
fn log_file_decoders_never_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let seeds: Vec<Vec<u8>> = log_files(&tmp.path().join("s"))
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    let scratch = tmp.path().join("scratch.log");
    fuzz("log-file", &seeds, 20_000, |b| {
        let _ = FileHeader::decode(b);
        let _ = format::Footer::decode_from_file_end(b);
        let mut pos = format::HEADER_LEN;
        while pos + 4 <= b.len() {
            match format::decode_frame(
                b,
                pos,
                u32::from_le_bytes([b[pos], b[pos + 1], b[pos + 2], b[pos + 3]]),
            ) {
                format::Frame::Record { next, .. } => pos = next,
                _ => break,
            }
        }
        let _ = eventstore_log::verify_bytes(&scratch, b, true);
        let _ = eventstore_log::verify_bytes(&scratch, b, false);
    });
}

#[test]
fn a_stream_of_mutated_files_is_read_and_recovered_without_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let files = log_files(&tmp.path().join("s"));
    let seeds: Vec<Vec<u8>> = files.iter().map(|p| std::fs::read(p).unwrap()).collect();
    let names: Vec<String> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let k = std::cell::Cell::new(0u64);
    fuzz("log-stream", &seeds, 400, |b| {
        // The mutated bytes replace one file of a copy of the stream.
        k.set(k.get() + 1);
        let dir = tmp.path().join(format!("m{}", k.get()));
        std::fs::create_dir_all(&dir).unwrap();
        let victim = (k.get() as usize) % names.len();
        for (i, n) in names.iter().enumerate() {
            let bytes = if i == victim { b } else { &seeds[i][..] };
            std::fs::write(dir.join(n), bytes).unwrap();
        }
        if let Ok(mut r) = eventstore_log::StreamReader::open_dir(&dir, Default::default()) {
            while let Ok(Some(_)) = r.next() {}
        }
        let _ = eventstore_log::stream_info(&dir);
        let _ = eventstore_log::verify_stream(&dir, |_| {});
        let _ = StreamWriter::open_dir(&dir, WriterOptions::default().pretouch(false));
        let _ = std::fs::remove_dir_all(&dir);
    });
}

#[test]
fn manifests_and_market_json_never_panic() {
    let meta = eventstore_remote::FileMeta {
        size: 58520,
        crc32c: 0xdead_beef,
        first_seq: 912,
        records: 1000,
        min_ts: Some(T0),
        max_ts: Some(T0 + SEC),
        compression: Some("zstd".into()),
        stored_size: Some(4096),
    };
    fuzz("manifest", &[meta.to_json().into_bytes()], 20_000, |b| {
        let _ = eventstore_remote::FileMeta::from_json(b);
    });
    let market = br#"{"format":"eventstore.market/1","kind":"trades","venue":"binance","symbol":"btcusdt","price_scale":8,"size_scale":8}"#;
    fuzz("market-json", &[market.to_vec()], 20_000, |b| {
        if let Ok(text) = std::str::from_utf8(b) {
            let _ = eventstore_market::StreamMeta::from_json(text, Path::new("market.json"));
        }
    });
}

/// The real data folder (required under `CI=true`).
fn market_data() -> Option<PathBuf> {
    let p = std::env::var_os("EVENTSTORE_MARKET_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/market")
        });
    if p.is_dir() {
        return Some(p);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("market data not found at {}", p.display());
    }
    eprintln!("skipping: market data not found at {}", p.display());
    None
}

/// The first `n` lines of a (possibly gzipped) text file.
fn lines(path: &Path, n: usize) -> Vec<Vec<u8>> {
    let mut v = Vec::new();
    eventstore_market::input::for_each_line(path, |_, l| {
        if v.len() < n {
            if let Ok(l) = l {
                v.push(l.as_bytes().to_vec());
            }
        }
        Ok(())
    })
    .unwrap();
    v
}

#[test]
fn importers_and_book_snapshots_never_panic_on_mutated_real_inputs() {
    use eventstore_market::import::{import, Format, ImportOptions};
    let Some(data) = market_data() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let cases = [
        (
            Format::Binance,
            data.join("binance/spot_btcusdt_20240808.hftbacktest.gz"),
        ),
        (
            Format::TardisTrades,
            data.join("tardis/bitmex_trades_XBTUSD.csv"),
        ),
        (
            Format::TardisL2,
            data.join("tardis/deribit_incremental_book_L2_BTC-PERPETUAL.csv"),
        ),
        (
            Format::TardisBookSnapshot,
            data.join("tardis/binance-futures_book_snapshot_5_BTCUSDT.csv"),
        ),
        (
            Format::Lobster,
            data.join("lobster/AMZN_message_20k.csv.gz"),
        ),
    ];
    for (format, path) in cases {
        let seeds = lines(&path, 300);
        let header = seeds[0].clone();
        let k = std::cell::Cell::new(0u64);
        let target = format!("import-{format:?}").to_lowercase();
        let rng = std::cell::RefCell::new(Rng(7));
        fuzz(&target, &seeds, 60, |line| {
            // A file of the header, 50 mutated neighbours and this line,
            // imported with bad rows skipped: errors allowed, no panic.
            k.set(k.get() + 1);
            let input = tmp.path().join(format!("in-{}.txt", k.get()));
            let mut body = header.clone();
            body.push(b'\n');
            for _ in 0..50 {
                let mut r = rng.borrow_mut();
                let (seed, pick) = (r.next(), r.below(seeds.len()));
                body.extend(mutate(&mut Rng(seed | 1), &seeds[pick]));
                body.push(b'\n');
            }
            body.extend_from_slice(line);
            body.push(b'\n');
            std::fs::write(&input, &body).unwrap();
            let root = tmp.path().join(format!("root-{}", k.get()));
            for skip_bad in [false, true] {
                let opts = ImportOptions {
                    skip_bad,
                    symbol: Some("AMZN".into()),
                    date: Some("2012-06-21T04:00:00Z".into()),
                    ..ImportOptions::default()
                };
                let _ = import(format, &input, &root, &opts);
            }
            let _ = std::fs::remove_dir_all(&root);
            let _ = std::fs::remove_file(&input);
        });
    }
    // Book snapshots of the real depth stream, imported with minutely rolls.
    let root = tmp.path().join("books");
    let opts = ImportOptions {
        roll: RollInterval::MINUTELY,
        ..ImportOptions::default()
    };
    import(
        Format::Binance,
        &data.join("binance/spot_btcusdt_20240808.hftbacktest.gz"),
        &root,
        &opts,
    )
    .unwrap();
    let depth = root.join("binance/btcusdt/depth");
    eventstore_market::OrderStreamReader::open_dir(&depth)
        .unwrap()
        .book_at(i64::MAX)
        .unwrap();
    let seeds: Vec<Vec<u8>> = std::fs::read_dir(&depth)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".book"))
        .take(20)
        .map(|e| std::fs::read(e.path()).unwrap())
        .collect();
    fuzz("book-snapshot", &seeds, 3_000, |b| {
        let _ = eventstore_market::snapshot::first_seq(b);
        let _ = eventstore_market::snapshot::decode(b);
    });
}
