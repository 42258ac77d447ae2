//! Helpers shared by the market tests: where the real data is, importing
//! into a temporary root, reading a stream's records back.

#![allow(dead_code)]

use eventstore_log::StreamName;
use eventstore_market::import::{import, Format, ImportOptions};
use std::path::{Path, PathBuf};

/// The shared market-data folder; absent on a user's machine (skip),
/// required under CI.
pub fn market_data() -> Option<PathBuf> {
    let p = std::env::var_os("EVENTSTORE_MARKET_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/market")
        });
    if p.is_dir() {
        return Some(p);
    }
    assert!(
        std::env::var("CI").map_or(true, |v| v != "true"),
        "market data not found at {} (set EVENTSTORE_MARKET_DATA)",
        p.display()
    );
    eprintln!("skipping: market data not found at {}", p.display());
    None
}

/// `input` imported as `format` into a new temporary root.
pub fn imported(
    format: Format,
    input: &Path,
    opts: &ImportOptions,
) -> (tempfile::TempDir, eventstore_market::import::ImportReport) {
    let tmp = tempfile::tempdir().unwrap();
    let r = import(format, input, tmp.path(), opts).unwrap();
    (tmp, r)
}

/// Every record of a stream, decoded by `f`.
pub fn stored<T>(root: &Path, name: &str, f: impl Fn(&[u8]) -> T) -> Vec<T> {
    let name = StreamName::new(name).unwrap();
    let mut r = eventstore_log::StreamReader::open(root, &name, Default::default()).unwrap();
    let mut out = Vec::new();
    while let Some(rec) = r.next().unwrap() {
        out.push(f(rec.payload));
    }
    out
}
