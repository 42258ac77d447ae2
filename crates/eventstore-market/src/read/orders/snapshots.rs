//! The snapshot store of an order stream: the `.book` beside every file
//! (the book as of its first record) and `book.next` (after the last sealed
//! file), built from the one before when missing, and read to reach a file.

use super::OrderStreamReader;
use crate::book::replay::Replay;
use crate::book::snapshot::{self, snapshot_path, NEXT_BOOK};
use crate::read::files::Files;
use crate::{Error, Result};
use std::path::Path;

impl OrderStreamReader {
    /// Apply the stream's records with sequence numbers in `[from, to)`
    /// (`to: None`: to the end) to `r`, as `book_at` replays a file's
    /// records: compact blocks decoded straight into records. Returns how
    /// many.
    pub fn apply_range(&self, r: &mut Replay, from: u64, to: Option<u64>) -> Result<u64> {
        self.replay(r, from, to, &[], |_, _| Ok(()))
    }

    /// Apply the records `[from, to)` to `r` (`to: None`: to the end);
    /// returns how many. `at_file(seq, r)` is called before the record
    /// `seq` when it starts one of `starts`.
    pub(super) fn replay(
        &self,
        r: &mut Replay,
        from: u64,
        to: Option<u64>,
        starts: &[u64],
        mut at_file: impl FnMut(u64, &Replay) -> Result<()>,
    ) -> Result<u64> {
        if to.is_some_and(|t| t <= from) {
            return Ok(0);
        }
        // Decoded straight from the blocks of compact files into records
        // (framed files record by record), no stored record in between.
        let to = to.unwrap_or(u64::MAX);
        let mut next_start = starts.iter().copied().filter(|s| *s > from).peekable();
        let mut at = |seq: u64, r: &mut Replay| -> Result<()> {
            while next_start.peek().is_some_and(|s| *s <= seq) {
                if let Some(s) = next_start.next() {
                    at_file(s, r)?;
                }
            }
            Ok(())
        };
        let mut none = |_, _| {};
        let mut n = 0;
        let mut records = super::Records::open_seqs(&self.dir, self.kind, from, to)?;
        while let Some((seq, rec)) = records.next()? {
            at(seq, r)?;
            rec.apply(seq, r, &mut none);
            n += 1;
        }
        Ok(n)
    }

    pub(super) fn store(&self, file: &Path, r: &Replay, first_seq: u64) -> Result<()> {
        let path = snapshot_path(file);
        let io = |e| Error::Io {
            path: path.clone(),
            source: e,
        };
        let tmp = path.with_extension("book.tmp");
        std::fs::write(&tmp, snapshot::encode(r, first_seq).map_err(io)?).map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)
    }

    /// The state as of the first record of file `k`: its snapshot, or built
    /// from the nearest earlier one (writing those missing on the way).
    pub(super) fn state_at_file(&self, files: &Files, k: usize) -> Result<Replay> {
        let load = |i: usize| -> std::result::Result<Option<Replay>, Error> {
            let path = snapshot_path(files.path(i));
            let bytes = match std::fs::read(&path) {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(Error::Io { path, source: e }),
            };
            match snapshot::decode(&bytes) {
                Ok((r, first)) if first == files.seq(i)? && r.kind() == self.kind => {
                    Ok(Some(r))
                }
                Ok((r, first)) => Err(Error::Meta {
                    path,
                    reason: format!(
                        "a snapshot of a {:?} book before record {first}; the file starts at record {}",
                        r.kind(),
                        files.seq(i)?
                    ),
                }),
                Err(reason) => Err(Error::Meta { path, reason }),
            }
        };
        let mut j = k;
        let mut damaged = None;
        let mut start = loop {
            match load(j) {
                Ok(Some(r)) => break r,
                Ok(None) => {}
                Err(e) => {
                    damaged.get_or_insert(e);
                }
            }
            if j == 0 {
                // The first file: the book left by files since removed (an
                // upload that deleted them), else an empty book, unless
                // earlier files were removed and a damaged snapshot cannot be rebuilt.
                if let Some(r) = self.next_book(files.seq(0)?) {
                    if self.persist {
                        let _ = self.store(files.path(0), &r, files.seq(0)?);
                    }
                    break r;
                }
                if let Some(e) = damaged.filter(|_| files.seq(0).map_or(true, |s| s != 0)) {
                    return Err(e);
                }
                let r = Replay::new(self.kind);
                if self.persist {
                    let _ = self.store(files.path(0), &r, files.seq(0)?);
                }
                break r;
            }
            j -= 1;
        };
        // Snapshots do not keep how the venue checks and truncates its
        // book: the stream says.
        self.meta.configure(&mut start);
        if j == k {
            return Ok(start);
        }
        let starts = (j + 1..=k)
            .map(|i| files.seq(i))
            .collect::<Result<Vec<u64>>>()?;
        let mut i = j;
        self.replay(
            &mut start,
            files.seq(j)?,
            Some(files.seq(k)?),
            &starts,
            |_, r| {
                i += 1;
                if self.persist {
                    let _ = self.store(files.path(i), r, files.seq(i)?);
                }
                Ok(())
            },
        )?;
        // Files without records in between still get their snapshot.
        while i < k {
            i += 1;
            if self.persist {
                let _ = self.store(files.path(i), &start, files.seq(i)?);
            }
        }
        Ok(start)
    }

    /// The book after the last sealed file, kept as `book.next` by
    /// [`Self::build_snapshots`], if it is the one before record `seq`.
    pub(super) fn next_book(&self, seq: u64) -> Option<Replay> {
        let b = std::fs::read(self.dir.join(NEXT_BOOK)).ok()?;
        match snapshot::decode(&b) {
            Ok((r, first)) if first == seq && r.kind() == self.kind => Some(r),
            _ => None,
        }
    }

    /// Write the snapshot of every file that lacks one; returns how many
    /// files the stream has. When the last file is sealed, the book after
    /// it is also kept (`book.next` in the stream's folder), so that the
    /// next file gets its snapshot even if this one is deleted first (an
    /// upload with `--delete-after-upload`). Errors writing them are
    /// returned (unlike the snapshots written on the way by reads).
    pub fn build_snapshots(&self) -> Result<usize> {
        let files = self.files()?;
        if files.len() == 0 {
            return Ok(0);
        }
        let last = files.len() - 1;
        let mut r = self.state_at_file(&files, last)?;
        let next = self.dir.join(NEXT_BOOK);
        let have = std::fs::read(&next)
            .ok()
            .and_then(|b| snapshot::first_seq(&b).ok());
        let last_first = files.seq(last)?;
        if files.entries()[last].sealed && have.is_none_or(|s| s <= last_first) {
            let n = self.replay(&mut r, last_first, None, &[], |_, _| Ok(()))?;
            let io = |e| Error::Io {
                path: next.clone(),
                source: e,
            };
            let tmp = self.dir.join(format!("{NEXT_BOOK}.tmp"));
            std::fs::write(&tmp, snapshot::encode(&r, last_first + n).map_err(io)?).map_err(io)?;
            std::fs::rename(&tmp, &next).map_err(io)?;
        }
        for f in files.entries() {
            let p = snapshot_path(&f.path);
            if !p.exists() {
                return Err(Error::Io {
                    path: p,
                    source: std::io::Error::other("the snapshot could not be written"),
                });
            }
        }
        Ok(files.len())
    }
}
