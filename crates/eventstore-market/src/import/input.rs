//! Input files, read as lines whatever their compression (gzip or zstd,
//! by extension).

use crate::{Error, Result};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

/// A buffered reader over `path`, decompressing `.gz` and `.zst`.
pub fn open(path: &Path) -> Result<Box<dyn BufRead>> {
    let f = std::fs::File::open(path).map_err(|e| Error::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    let name = path.to_string_lossy();
    let r: Box<dyn Read> = if name.ends_with(".gz") {
        Box::new(flate2::read::MultiGzDecoder::new(f))
    } else if name.ends_with(".zst") {
        Box::new(zstd::stream::read::Decoder::new(f).map_err(|e| Error::Io {
            path: path.to_path_buf(),
            source: e,
        })?)
    } else {
        Box::new(f)
    };
    Ok(Box::new(BufReader::with_capacity(1 << 20, r)))
}

/// Call `f(line number from 1, line)` for every line of `path` (without
/// its line ending); a line that is not UTF-8 is handed over as an error,
/// which the caller reports or skips like any other bad row.
pub fn for_each_line(
    path: &Path,
    mut f: impl FnMut(u64, std::result::Result<&str, String>) -> Result<()>,
) -> Result<()> {
    let mut r = open(path)?;
    let mut line = Vec::new();
    let mut n = 0u64;
    loop {
        line.clear();
        let k = r.read_until(b'\n', &mut line).map_err(|e| Error::BadRow {
            file: path.to_path_buf(),
            line: n + 1,
            reason: format!("cannot read: {e}"),
        })?;
        if k == 0 {
            return Ok(());
        }
        n += 1;
        match std::str::from_utf8(&line) {
            Ok(s) => f(n, Ok(s.trim_end_matches(['\n', '\r'])))?,
            Err(e) => f(
                n,
                Err(format!(
                    "not UTF-8 text (byte {} of the line)",
                    e.valid_up_to() + 1
                )),
            )?,
        }
    }
}
