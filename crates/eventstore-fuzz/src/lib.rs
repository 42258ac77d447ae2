//! The fuzz targets of EventStore: every decoder that reads untrusted
//! bytes (log files and whole streams, book snapshots, remote manifests,
//! `market.json`, each importer's input, compact trade blocks) and the gRPC service's request
//! handlers, called over a real connection.
//!
//! A target takes one input and returns; a bug is a panic (or, for the
//! service, a server that panicked, answered `INTERNAL`/`UNKNOWN` to a bad
//! request, or stopped answering). Two drivers run them:
//!
//! - [`run`], on stable Rust, in the test suite (`tests/targets.rs`): the
//!   kept regressions of a target, then mutations of its seed inputs, a
//!   bounded number per run (`EVENTSTORE_FUZZ_SECS` makes it a timed run);
//! - cargo-fuzz (libFuzzer, coverage-guided), `fuzz/fuzz_targets/*.rs`,
//!   started by `scripts/fuzz.sh` with the seeds of [`seeds`] as its corpus.
//!
//! Inputs that once crashed a target are kept in `regressions/<target>/`
//! and replayed by every run of the suite.

#![deny(unsafe_code)]

mod decoders;
mod generate;
mod service;

pub use generate::{mutate, regressions, run};

/// Every target, by the name its regressions folder and cargo-fuzz use.
pub const TARGETS: &[&str] = &[
    "log-file",
    "log-stream",
    "manifest",
    "market-json",
    "book-snapshot",
    "import",
    "compact-trades",
    "service",
];

/// Run `target` on one input; panics on a bug, and on an unknown target.
pub fn run_one(target: &str, data: &[u8]) {
    match target {
        "log-file" => decoders::log_file(data),
        "log-stream" => decoders::log_stream(data),
        "manifest" => decoders::manifest(data),
        "market-json" => decoders::market_json(data),
        "book-snapshot" => decoders::book_snapshot(data),
        "import" => decoders::import(data),
        "compact-trades" => decoders::compact_trades(data),
        "service" => service::service(data),
        _ => panic!("no fuzz target {target:?} (targets: {TARGETS:?})"),
    }
}

/// The seed inputs of `target`: real files, lines and messages. Targets
/// seeded from the real recordings get none when those are absent (see
/// [`eventstore_testkit::market_data`]).
pub fn seeds(target: &str) -> Vec<Vec<u8>> {
    match target {
        "log-file" => decoders::log_file_seeds(),
        "log-stream" => decoders::log_stream_seeds(),
        "manifest" => decoders::manifest_seeds(),
        "market-json" => decoders::market_json_seeds(),
        "book-snapshot" => decoders::book_snapshot_seeds(),
        "import" => decoders::import_seeds(),
        "compact-trades" => decoders::compact_trades_seeds(),
        "service" => service::seeds(),
        _ => panic!("no fuzz target {target:?} (targets: {TARGETS:?})"),
    }
}

/// A folder of this process for a target's scratch files, under
/// `target/fuzz-scratch/`; folders left by processes that are gone are
/// removed when the first is made.
pub(crate) fn scratch() -> &'static std::path::Path {
    static DIR: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let base = eventstore_testkit::target_dir().join("fuzz-scratch");
        if let Ok(rd) = std::fs::read_dir(&base) {
            for e in rd.flatten() {
                let pid = e.file_name().to_string_lossy().into_owned();
                if !std::path::Path::new("/proc").join(&pid).exists() {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        let dir = base.join(std::process::id().to_string());
        std::fs::create_dir_all(&dir).expect("create the fuzz scratch folder");
        dir
    })
}

/// A new, empty folder under [`scratch`].
pub(crate) fn fresh_dir(prefix: &str) -> std::path::PathBuf {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = scratch().join(format!("{prefix}-{n}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a fuzz scratch folder");
    dir
}
