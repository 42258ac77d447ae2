//! The files of a stream folder: their names, and listing them in order.
//!
//! `<stem>.log` is a sealed file, `<stem>.log.open` the file being written,
//! `<stem>.log.tmp` a file being created (never read). `<stem>` is the UTC
//! start of the file's interval, `YYYYMMDDTHHMMSSZ`, so `ls` lists files in
//! time order.

use crate::error::{IoContext, Result};
use crate::time::{file_stem, parse_file_stem};
use std::path::{Path, PathBuf};

/// Extension of a sealed file.
pub const SEALED_EXT: &str = ".log";
/// Extension of the file being written.
pub const OPEN_EXT: &str = ".log.open";
/// Extension of a file being created.
pub const TMP_EXT: &str = ".log.tmp";

/// One log file of a stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileEntry {
    /// UTC start of the file's interval, ns since the epoch (from its name).
    pub start_ns: i64,
    /// Full path.
    pub path: PathBuf,
    /// Sealed (complete, never modified again) or still open.
    pub sealed: bool,
}

/// The path of the sealed file starting at `start_ns` in `dir`.
pub fn sealed_path(dir: &Path, start_ns: i64) -> PathBuf {
    dir.join(format!("{}{SEALED_EXT}", file_stem(start_ns)))
}

/// The path of the open file starting at `start_ns` in `dir`.
pub fn open_path(dir: &Path, start_ns: i64) -> PathBuf {
    dir.join(format!("{}{OPEN_EXT}", file_stem(start_ns)))
}

/// The path used while creating the file starting at `start_ns` in `dir`.
pub fn tmp_path(dir: &Path, start_ns: i64) -> PathBuf {
    dir.join(format!("{}{TMP_EXT}", file_stem(start_ns)))
}

/// The sealed file an open file listed as `f` became, if it was renamed
/// since it was listed (a writer seals behind its appends at any moment).
pub(crate) fn sealed_since(f: &FileEntry) -> Option<FileEntry> {
    if f.sealed || f.path.exists() {
        return None;
    }
    let p = sealed_path(f.path.parent()?, f.start_ns);
    let there = p.exists();
    there.then_some(FileEntry {
        start_ns: f.start_ns,
        path: p,
        sealed: true,
    })
}

/// Classify a file name: (start, sealed) for log files, None otherwise.
pub fn parse_file_name(name: &str) -> Option<(i64, bool)> {
    if let Some(stem) = name.strip_suffix(SEALED_EXT) {
        return parse_file_stem(stem).map(|t| (t, true));
    }
    if let Some(stem) = name.strip_suffix(OPEN_EXT) {
        return parse_file_stem(stem).map(|t| (t, false));
    }
    None
}

/// The log files of the stream folder `dir`, oldest first.
pub fn list_files(dir: &Path) -> Result<Vec<FileEntry>> {
    let mut out = Vec::new();
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(crate::Error::NoSuchStream(dir.to_path_buf()))
        }
        Err(e) => return Err(e).at("list", dir),
    };
    for ent in rd {
        let ent = ent.at("list", dir)?;
        let name = ent.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some((start_ns, sealed)) = parse_file_name(name) {
            out.push(FileEntry {
                start_ns,
                path: ent.path(),
                sealed,
            });
        }
    }
    out.sort_by_key(|f| (f.start_ns, !f.sealed));
    // A rename from .log.open to .log seen half-way by two readdir entries
    // can not happen (rename is atomic), but keep one entry per start anyway.
    out.dedup_by_key(|f| f.start_ns);
    Ok(out)
}

/// Whether `dir` holds a stream (any log file, or a writer lock).
pub fn is_stream_dir(dir: &Path) -> bool {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return false;
    };
    rd.flatten().any(|e| {
        let n = e.file_name();
        let n = n.to_string_lossy();
        n == crate::lock::LOCK_FILE || parse_file_name(&n).is_some()
    })
}

/// Every stream under `root`, by name, sorted.
pub fn list_streams(root: &Path) -> Result<Vec<crate::StreamName>> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let rd = std::fs::read_dir(&dir).at("list", &dir)?;
        for ent in rd {
            let ent = ent.at("list", &dir)?;
            let is_dir = ent.file_type().at("stat", &ent.path())?.is_dir();
            let name = ent.file_name();
            if !is_dir || name.to_string_lossy().starts_with('.') {
                continue;
            }
            stack.push(ent.path());
        }
        if dir != root && is_stream_dir(&dir) {
            if let Ok(rel) = dir.strip_prefix(root) {
                let rel: Vec<_> = rel
                    .iter()
                    .map(|c| c.to_string_lossy().into_owned())
                    .collect();
                if let Ok(n) = crate::StreamName::new(&rel.join("/")) {
                    out.push(n);
                }
            }
        }
    }
    out.sort();
    Ok(out)
}
