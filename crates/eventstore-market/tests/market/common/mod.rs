//! Helpers shared by the market tests: where the real data is, importing
//! into a temporary root, reading a stream's records back.

#![allow(dead_code)]

use eventstore_log::StreamName;
use eventstore_market::import::{import, Format, ImportOptions};
use std::path::Path;

pub use eventstore_testkit::market_data;

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
