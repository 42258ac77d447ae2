//! One writer per stream: an advisory lock on `<stream>/.lock` that names its
//! holder. The operating system drops the lock when the holder exits, even
//! by `kill -9`, so a crashed writer never leaves a stale lock behind.

use crate::error::{Error, IoContext, Result};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The name of the lock file in a stream folder.
pub const LOCK_FILE: &str = ".lock";

/// Held for as long as a writer has the stream open.
#[derive(Debug)]
pub(crate) struct WriterLock {
    _file: File,
}

impl WriterLock {
    /// Take the writer lock of the stream folder `dir`, or say who holds it.
    pub fn acquire(dir: &Path) -> Result<WriterLock> {
        match lock_file(&dir.join(LOCK_FILE))? {
            Ok(file) => Ok(WriterLock { _file: file }),
            Err(pid) => Err(Error::Locked {
                stream: dir.to_path_buf(),
                pid,
            }),
        }
    }

    /// Whether some process holds the writer lock of `dir` right now.
    pub fn is_held(dir: &Path) -> bool {
        let path: PathBuf = dir.join(LOCK_FILE);
        let Ok(file) = File::open(&path) else {
            return false;
        };
        match file.try_lock_shared() {
            Ok(()) => {
                let _ = file.unlock();
                false
            }
            Err(_) => true,
        }
    }
}

/// Take an exclusive advisory lock on `path` (created if missing) and write
/// this process's id into it: `Ok(file)` while the returned file is open
/// (the operating system drops the lock when the process exits, even by
/// `kill -9`), or `Err(pid)` naming the holder (`None` if it can not be read).
pub fn lock_file(path: &Path) -> Result<std::result::Result<File, Option<u32>>> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .at("open", path)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut s = String::new();
            let _ = file.read_to_string(&mut s);
            return Ok(Err(s.trim().parse().ok()));
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(e).at("lock", path),
    }
    file.set_len(0).at("truncate", path)?;
    file.seek(SeekFrom::Start(0)).at("seek", path)?;
    write!(file, "{}", std::process::id()).at("write", path)?;
    Ok(Ok(file))
}
