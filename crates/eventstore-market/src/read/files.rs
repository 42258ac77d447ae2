//! A stream's files, with their headers read only when needed: what the
//! readers that go file by file (books, block readers) search and walk.

use crate::Result;
use eventstore_log::format::FileHeader;
use eventstore_log::{files, FileEntry};
use std::path::{Path, PathBuf};

/// A stream's files, with their first sequence numbers read from their
/// headers only when needed (a search over a day of minutely files reads
/// about a dozen).
pub(crate) struct Files {
    dir: PathBuf,
    list: Vec<FileEntry>,
    seqs: std::cell::RefCell<Vec<Option<u64>>>,
}

impl Files {
    /// The files of the stream in `dir`, as listed now.
    pub(crate) fn list(dir: &Path) -> Result<Files> {
        let list = files::list_files(dir)?;
        Ok(Files {
            dir: dir.to_path_buf(),
            seqs: std::cell::RefCell::new(vec![None; list.len()]),
            list,
        })
    }

    pub(crate) fn len(&self) -> usize {
        self.list.len()
    }

    pub(crate) fn get(&self, i: usize) -> Option<&FileEntry> {
        self.list.get(i)
    }

    pub(crate) fn entries(&self) -> &[FileEntry] {
        &self.list
    }

    pub(crate) fn path(&self, i: usize) -> &Path {
        &self.list[i].path
    }

    /// The header of file `i`, read under its sealed name if it was sealed
    /// (renamed) since the listing.
    pub(crate) fn header(&self, i: usize) -> Result<FileHeader> {
        let entry = &self.list[i];
        let h = match eventstore_log::read_header(&entry.path) {
            Err(eventstore_log::Error::IoAt { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                eventstore_log::read_header(&files::sealed_path(&self.dir, entry.start_ns))?
            }
            h => h?,
        };
        self.seqs.borrow_mut()[i] = Some(h.first_seq);
        Ok(h)
    }

    /// The first sequence number of file `i`.
    pub(crate) fn seq(&self, i: usize) -> Result<u64> {
        if let Some(s) = self.seqs.borrow()[i] {
            return Ok(s);
        }
        Ok(self.header(i)?.first_seq)
    }

    /// The last file whose first record is at or before `seq` (the first
    /// file if none is).
    pub(crate) fn holding(&self, seq: u64) -> Result<usize> {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            if self.seq(mid)? <= seq {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(lo.max(1) - 1)
    }
}
