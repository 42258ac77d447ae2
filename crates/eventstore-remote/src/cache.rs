//! `RemoteCache`: a remote read through a local folder of limited size.
//!
//! A query names a stream and a time range; [`RemoteCache::fetch`] lists
//! the stream's folder on the remote (not the whole remote), picks the stream's files that hold the range (the file
//! whose interval holds the start, then every file that starts before the
//! end) and has the poller install those the folder lacks, with their
//! sidecars and every check a poll makes (manifest, size, CRC-32C,
//! continuity with the files around them). The query then reads the
//! folder as a local store. Files a query used are marked (their
//! modification time); once the folder holds more than its limit, the
//! files marked longest ago go first, never one the current query needs.

use crate::error::{io, Error, Result};
use crate::layout::FILE_SIDECAR_SUFFIXES;
use crate::poll::{Listing, PollOptions, RemoteStream, StreamPoller};
use crate::remote::Remote;
use eventstore_log::StreamName;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// How a cache behaves.
#[derive(Clone, Debug)]
pub struct CacheOptions {
    /// Bytes the folder may hold (log files and their sidecars); the
    /// files a single query needs are kept even when they alone exceed it.
    pub limit_bytes: u64,
    /// Downloads at the same time.
    pub concurrency: usize,
}

impl Default for CacheOptions {
    fn default() -> Self {
        CacheOptions {
            limit_bytes: 10 << 30,
            concurrency: 4,
        }
    }
}

/// What one fetch did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FetchReport {
    /// `stream/file` of every file downloaded.
    pub downloaded: Vec<String>,
    /// Bytes downloaded.
    pub bytes: u64,
    /// Files the query needed that the folder already held.
    pub hits: usize,
    /// `stream/file` of every file removed to stay within the limit.
    pub evicted: Vec<String>,
}

/// A remote read through a local folder.
pub struct RemoteCache {
    poller: StreamPoller,
    url: String,
    root: PathBuf,
    opts: CacheOptions,
}

impl RemoteCache {
    /// Read `remote` through the folder `root` (made if missing).
    pub fn new(remote: Remote, root: &Path, opts: CacheOptions) -> Result<RemoteCache> {
        std::fs::create_dir_all(root).map_err(io("create", root))?;
        Ok(RemoteCache {
            url: remote.url.clone(),
            poller: StreamPoller::new(remote),
            root: root.to_path_buf(),
            opts,
        })
    }

    /// The local folder: a store holding what was fetched.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The remote's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Every stream on the remote, with its files; each stream's own
    /// sidecars (its market metadata) are installed in the folder.
    pub async fn streams(&self) -> Result<Listing> {
        let listing = self.poller.listing().await?;
        let opts = PollOptions {
            from_ns: Some(i64::MAX),
            concurrency: self.opts.concurrency,
            ..PollOptions::default()
        };
        let report = self
            .poller
            .poll_listed(listing.clone(), &self.root, &opts)
            .await?;
        if let Some(e) = report.failed.into_iter().next() {
            return Err(e);
        }
        Ok(listing)
    }

    /// Make the folder hold every file of `name` that has records
    /// received in `[from_ns, to_ns)` (all of them without bounds), then
    /// keep it within its limit.
    pub async fn fetch(
        &self,
        name: &StreamName,
        from_ns: Option<i64>,
        to_ns: Option<i64>,
    ) -> Result<FetchReport> {
        let mut listing = self.poller.listing_of(name).await?;
        let Some(i) = listing.streams.iter().position(|s| s.name == *name) else {
            return Err(Error::NoSuchRemoteStream {
                remote: self.url.clone(),
                stream: name.to_string(),
            });
        };
        let stream = listing.streams.swap_remove(i);
        let needed = needed_files(&stream, from_ns, to_ns);
        let dir = name.dir(&self.root);
        // Where no file holds the range, files from the end of time: the
        // stream's metadata only.
        let opts = PollOptions {
            pattern: Some(name.to_string()),
            from_ns: Some(needed.first().map_or(i64::MAX, |&(s, _)| s)),
            to_ns: needed.last().map(|&(s, _)| s.saturating_add(1)),
            concurrency: self.opts.concurrency,
            progress: None,
        };
        let one = Listing {
            streams: vec![stream],
            skipped: Vec::new(),
        };
        let report = self.poller.poll_listed(one, &self.root, &opts).await?;
        if let Some(e) = report.failed.into_iter().next() {
            return Err(e);
        }
        let now = SystemTime::now();
        let mut keep = BTreeSet::new();
        for (_, file) in &needed {
            let path = dir.join(file);
            // Marked as used: the last to be evicted.
            if let Ok(f) = std::fs::File::open(&path) {
                let _ = f.set_modified(now);
            }
            keep.insert(path);
        }
        let evicted = self.evict(&keep)?;
        Ok(FetchReport {
            hits: report.present,
            downloaded: report.downloaded,
            bytes: report.bytes,
            evicted,
        })
    }

    /// Remove the files used longest ago, but none of `keep`, until the
    /// folder is within its limit.
    fn evict(&self, keep: &BTreeSet<PathBuf>) -> Result<Vec<String>> {
        let mut files = Vec::new();
        let mut total = 0u64;
        for name in eventstore_log::files::list_streams(&self.root)? {
            let dir = name.dir(&self.root);
            for f in eventstore_log::files::list_files(&dir)? {
                let Ok(m) = std::fs::metadata(&f.path) else {
                    continue;
                };
                let mut bytes = m.len();
                for sfx in FILE_SIDECAR_SUFFIXES {
                    bytes += std::fs::metadata(sidecar(&f.path, sfx)).map_or(0, |m| m.len());
                }
                total += bytes;
                let used = m.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                files.push((used, f.path, bytes, name.to_string()));
            }
        }
        files.sort();
        let mut evicted = Vec::new();
        for (_, path, bytes, stream) in files {
            if total <= self.opts.limit_bytes {
                break;
            }
            if keep.contains(&path) {
                continue;
            }
            std::fs::remove_file(&path).map_err(io("remove", &path))?;
            for sfx in FILE_SIDECAR_SUFFIXES {
                let _ = std::fs::remove_file(sidecar(&path, sfx));
            }
            total -= bytes;
            let file = path.file_name().unwrap_or_default().to_string_lossy();
            evicted.push(format!("{stream}/{file}"));
        }
        Ok(evicted)
    }
}

fn sidecar(log: &Path, sfx: &str) -> PathBuf {
    let mut name = log.file_name().unwrap_or_default().to_os_string();
    name.push(sfx);
    log.with_file_name(name)
}

/// The complete files of `s` that may hold records received in `[from,
/// to)`, as (start, name): the last file starting at or before `from`,
/// then every one starting before `to`. (A file's records are received in
/// its interval, which ends where the next file's begins.)
fn needed_files(s: &RemoteStream, from: Option<i64>, to: Option<i64>) -> Vec<(i64, String)> {
    let files: Vec<_> = s.files.iter().filter(|f| f.complete).collect();
    let first = match from {
        None => 0,
        Some(t) => files.iter().rposition(|f| f.start_ns <= t).unwrap_or(0),
    };
    files[first.min(files.len())..]
        .iter()
        .take_while(|f| to.is_none_or(|t| f.start_ns < t))
        .map(|f| (f.start_ns, f.name.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::poll::RemoteFile;

    fn stream(starts: &[(i64, bool)]) -> RemoteStream {
        RemoteStream {
            name: StreamName::new("a/b").unwrap(),
            files: starts
                .iter()
                .map(|&(s, complete)| RemoteFile {
                    name: format!("{s}.log"),
                    start_ns: s,
                    size: 1,
                    complete,
                    compressed: false,
                    sidecars: Vec::new(),
                })
                .collect(),
            sidecars: Vec::new(),
        }
    }

    #[test]
    fn the_files_of_a_range_are_the_one_holding_its_start_and_those_before_its_end() {
        let s = stream(&[(0, true), (10, true), (20, false), (30, true), (40, true)]);
        let starts = |f, t| -> Vec<i64> { needed_files(&s, f, t).iter().map(|x| x.0).collect() };
        assert_eq!(starts(None, None), vec![0, 10, 30, 40]);
        assert_eq!(starts(Some(15), Some(35)), vec![10, 30]);
        assert_eq!(starts(Some(10), Some(11)), vec![10]);
        assert_eq!(starts(Some(-5), Some(5)), vec![0]);
        assert_eq!(starts(Some(45), None), vec![40]);
        assert_eq!(starts(Some(0), Some(0)), Vec::<i64>::new());
    }
}
