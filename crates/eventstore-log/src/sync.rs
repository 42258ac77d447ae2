//! The file-system seam of the writer and of recovery: [`SyncFile`] makes
//! files durable and is asked before each call that decides durability
//! (`fallocate`, `ftruncate`, `rename`), so that tests can fail any one of
//! them; and the helpers that make those calls through it.

use crate::error::{IoContext, Result};
use std::fs::File;
use std::path::Path;

/// How the writer makes a file durable. The default, [`OsSync`], calls
/// `fdatasync` (or `fsync` for `data_only == false`); tests substitute one
/// that fails, to check that a failed sync poisons the writer.
///
/// It is also the writer's seam for the other file-system calls that
/// decide durability: [`SyncFile::before`] is called before each of them,
/// so that tests can fail any one (with EIO, ENOSPC, ...) and check what
/// the writer and recovery do.
pub trait SyncFile: Send + Sync + 'static {
    fn sync(&self, file: &File, data_only: bool) -> std::io::Result<()>;

    /// Called before the writer or recovery calls `op` on `path`: one of
    /// `"allocate"` (`fallocate`), `"truncate"` (`ftruncate`), `"rename"`,
    /// or `"allocate-ahead"` (the `fallocate` of the next file made ahead
    /// on the writer's worker, whose failure only means that the append
    /// that rolls creates the file itself).
    /// An error is returned as that call's error. The default allows all.
    fn before(&self, op: &'static str, path: &Path) -> std::io::Result<()> {
        let _ = (op, path);
        Ok(())
    }
}

/// The operating system's `fdatasync` / `fsync`.
#[derive(Clone, Copy, Debug, Default)]
pub struct OsSync;

impl SyncFile for OsSync {
    fn sync(&self, file: &File, data_only: bool) -> std::io::Result<()> {
        if data_only {
            file.sync_data()
        } else {
            file.sync_all()
        }
    }
}

/// fsync a folder so that a create or rename in it is durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).at("sync", dir)
}

/// fsync a folder through `fs` (which tests watch or fail).
pub(crate) fn sync_dir_with(dir: &Path, fs: &dyn SyncFile) -> Result<()> {
    let d = File::open(dir).at("open", dir)?;
    fs.sync(&d, false).at("sync", dir)
}

/// Rename `from` to `to`, asking `fs` first. The rename is durable once
/// the folder is synced.
pub(crate) fn rename(fs: &dyn SyncFile, from: &Path, to: &Path) -> Result<()> {
    fs.before("rename", from).at("rename", from)?;
    std::fs::rename(from, to).at("rename", from)
}

/// Cut or extend `file` (at `path`) to `len` bytes, asking `fs` first.
pub(crate) fn truncate(fs: &dyn SyncFile, file: &File, path: &Path, len: u64) -> Result<()> {
    fs.before("truncate", path).at("truncate", path)?;
    file.set_len(len).at("truncate", path)
}
