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

/// The lines of an input, one at a time (without their line endings); a
/// line that is not UTF-8 comes as an error, which the caller reports or
/// skips like any other bad row.
pub struct Lines {
    path: std::path::PathBuf,
    r: Box<dyn BufRead>,
    buf: Vec<u8>,
    n: u64,
}

impl Lines {
    pub fn open(path: &Path) -> Result<Lines> {
        Ok(Lines {
            path: path.to_path_buf(),
            r: open(path)?,
            buf: Vec::new(),
            n: 0,
        })
    }

    /// The number of the last line read (0 before any).
    pub fn line(&self) -> u64 {
        self.n
    }

    /// The next line and its number (from 1), or `None` at the end.
    pub fn next_line(&mut self) -> Result<Option<(u64, std::result::Result<&str, String>)>> {
        self.buf.clear();
        let k = self
            .r
            .read_until(b'\n', &mut self.buf)
            .map_err(|e| Error::BadRow {
                file: self.path.clone(),
                line: self.n + 1,
                reason: format!("cannot read: {e}"),
            })?;
        if k == 0 {
            return Ok(None);
        }
        self.n += 1;
        Ok(Some((
            self.n,
            match std::str::from_utf8(&self.buf) {
                Ok(s) => Ok(s.trim_end_matches(['\n', '\r'])),
                Err(e) => Err(format!(
                    "not UTF-8 text (byte {} of the line)",
                    e.valid_up_to() + 1
                )),
            },
        )))
    }
}

/// Call `f(line number from 1, line)` for every line of `path` (see
/// [`Lines`]).
pub fn for_each_line(
    path: &Path,
    mut f: impl FnMut(u64, std::result::Result<&str, String>) -> Result<()>,
) -> Result<()> {
    let mut lines = Lines::open(path)?;
    while let Some((n, line)) = lines.next_line()? {
        f(n, line)?;
    }
    Ok(())
}
