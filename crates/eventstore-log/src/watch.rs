//! `SealWatcher`: learning, from another process, when a stream's files
//! are sealed.

use crate::error::Result;
use crate::files::{self, FileEntry};
use crate::notify::Notifier;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Learns of sealed files of a stream from another process, without polling
/// the folder in a tight loop: it sleeps on the stream's notification word,
/// which writers bump on every seal, and re-lists the folder when woken (or
/// every `timeout` at the latest). The first call returns every file already
/// sealed, so files sealed while the watcher was down are found too.
pub struct SealWatcher {
    dir: PathBuf,
    seen: BTreeSet<i64>,
    notifier: Option<Notifier>,
}

impl SealWatcher {
    /// Watch the stream folder `dir` (it need not exist yet).
    pub fn new(dir: &Path) -> SealWatcher {
        SealWatcher {
            dir: dir.to_path_buf(),
            seen: BTreeSet::new(),
            notifier: None,
        }
    }

    fn new_sealed(&mut self) -> Result<Vec<FileEntry>> {
        let list = match files::list_files(&self.dir) {
            Ok(l) => l,
            Err(crate::Error::NoSuchStream(_)) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        Ok(list
            .into_iter()
            // A file being made compact is reported once it is.
            .filter(|f| {
                f.sealed && !crate::compact::is_converting(&f.path) && self.seen.insert(f.start_ns)
            })
            .collect())
    }

    /// Sealed files not returned before; waits up to `timeout` for one.
    pub fn next(&mut self, timeout: Duration) -> Result<Vec<FileEntry>> {
        let found = self.new_sealed()?;
        if !found.is_empty() {
            return Ok(found);
        }
        if self.notifier.is_none() && self.dir.is_dir() {
            self.notifier = Notifier::open(&self.dir).ok();
        }
        match &self.notifier {
            Some(n) => n.wait_unless(timeout, || false),
            None => std::thread::sleep(timeout.min(Duration::from_millis(200))),
        }
        self.new_sealed()
    }
}
