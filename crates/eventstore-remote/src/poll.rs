//! `StreamPoller`: list the streams on a remote and mirror them locally,
//! incrementally, installing a file only once it is complete and verified.

use crate::error::{backend, io, Error, Result};
use crate::layout::{
    file_sidecar, read_object, FileMeta, META_SUFFIX, STREAM_SIDECARS, ZSTD_SUFFIX,
};
use crate::remote::Remote;
use eventstore_log::StreamName;
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStoreExt;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

/// One file on the remote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteFile {
    /// File name, `20240808T235400Z.log`.
    pub name: String,
    /// UTC start of its interval.
    pub start_ns: i64,
    /// Bytes of the data object.
    pub size: u64,
    /// Whether its manifest exists (the upload is complete).
    pub complete: bool,
    /// The data object is zstd-compressed (`<name>.zst`).
    pub compressed: bool,
    /// Suffixes of its sidecars on the remote ([`crate::layout::FILE_SIDECAR_SUFFIXES`]).
    pub sidecars: Vec<&'static str>,
}

/// One stream on the remote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteStream {
    pub name: StreamName,
    pub files: Vec<RemoteFile>,
    /// The stream's sidecar files on the remote ([`crate::layout::STREAM_SIDECARS`]), with their sizes.
    pub sidecars: Vec<(String, u64)>,
}

impl RemoteStream {
    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

/// Which streams and files to download.
#[derive(Clone, Debug, Default)]
pub struct PollOptions {
    /// Only streams whose name matches (`*` matches any run of characters).
    pub pattern: Option<String>,
    /// Only files whose interval starts at or after this (ns).
    pub from_ns: Option<i64>,
    /// Only files whose interval starts before this (ns).
    pub to_ns: Option<i64>,
    /// Downloads at the same time (at least 1).
    pub concurrency: usize,
    /// Called after each file with (files done, files in this pass, bytes
    /// downloaded so far); files already present count as done.
    pub progress: Option<crate::Progress>,
}

/// What one pass did.
#[derive(Debug, Default)]
pub struct PollReport {
    /// `stream/file` of every file installed in this pass.
    pub downloaded: Vec<String>,
    /// Files already present locally.
    pub present: usize,
    pub bytes: u64,
    /// Files refused (corrupt) or failed; the others were still installed.
    pub failed: Vec<Error>,
    /// Stream sidecar files (`market.json`) installed or updated.
    pub sidecars: usize,
}

/// Does `name` match `pattern`, where `*` matches any run of characters?
pub fn matches(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let mut rest = name;
    for (i, p) in parts.iter().enumerate() {
        if i == 0 {
            let Some(r) = rest.strip_prefix(p) else {
                return false;
            };
            rest = r;
        } else if i == parts.len() - 1 {
            return rest.ends_with(p);
        } else {
            let Some(at) = rest.find(p) else { return false };
            rest = &rest[at + p.len()..];
        }
    }
    true
}

/// Reads a remote.
pub struct StreamPoller {
    remote: Remote,
}

impl StreamPoller {
    pub fn new(remote: Remote) -> StreamPoller {
        StreamPoller { remote }
    }

    /// Every stream under the remote prefix, with its files.
    pub async fn list(&self) -> Result<Vec<RemoteStream>> {
        let prefix = if self.remote.prefix.as_ref().is_empty() {
            None
        } else {
            Some(&self.remote.prefix)
        };
        let objects: Vec<object_store::ObjectMeta> = self
            .remote
            .store
            .list(prefix)
            .try_collect()
            .await
            .map_err(|e| backend(&self.remote.url, "list", self.remote.prefix.as_ref(), e))?;
        let mut by_stream: BTreeMap<String, BTreeMap<String, RemoteFile>> = BTreeMap::new();
        let mut metas = Vec::new();
        let mut sidecars: BTreeMap<String, Vec<(String, u64)>> = BTreeMap::new();
        let mut file_sidecars = Vec::new();
        for o in objects {
            let Some(rel) = self.remote.rel(&o.location) else {
                continue;
            };
            let Some((stream, file)) = rel.rsplit_once('/') else {
                continue;
            };
            if let Some((log, sfx)) = file_sidecar(file) {
                file_sidecars.push((stream.to_string(), log.to_string(), sfx));
                continue;
            }
            if STREAM_SIDECARS.contains(&file) {
                sidecars
                    .entry(stream.to_string())
                    .or_default()
                    .push((file.to_string(), o.size));
                by_stream.entry(stream.to_string()).or_default();
                continue;
            }
            if let Some(data) = file.strip_suffix(META_SUFFIX) {
                metas.push((stream.to_string(), data.to_string()));
                continue;
            }
            let (log, compressed) = match file.strip_suffix(ZSTD_SUFFIX) {
                Some(log) => (log, true),
                None => (file, false),
            };
            let Some((start_ns, true)) = eventstore_log::files::parse_file_name(log) else {
                continue;
            };
            by_stream.entry(stream.to_string()).or_default().insert(
                log.to_string(),
                RemoteFile {
                    name: log.to_string(),
                    start_ns,
                    size: o.size,
                    complete: false,
                    compressed,
                    sidecars: Vec::new(),
                },
            );
        }
        for (stream, log, sfx) in file_sidecars {
            if let Some(f) = by_stream.get_mut(&stream).and_then(|m| m.get_mut(&log)) {
                f.sidecars.push(sfx);
            }
        }
        for (stream, data) in metas {
            if let Some(f) = by_stream.get_mut(&stream).and_then(|m| m.get_mut(&data)) {
                f.complete = true;
            }
        }
        Ok(by_stream
            .into_iter()
            .filter_map(|(s, files)| {
                Some(RemoteStream {
                    name: StreamName::new(&s).ok()?,
                    sidecars: sidecars.remove(&s).unwrap_or_default(),
                    files: files.into_values().collect(),
                })
            })
            .collect())
    }

    /// Download what is missing under `root`.
    pub async fn poll(&self, root: &Path, opts: &PollOptions) -> Result<PollReport> {
        let mut jobs = Vec::new();
        let mut report = PollReport::default();
        for s in self.list().await? {
            if opts
                .pattern
                .as_deref()
                .is_some_and(|p| !matches(p, s.name.as_str()))
            {
                continue;
            }
            let dir = s.name.dir(root);
            for (file, size) in &s.sidecars {
                let local = dir.join(file);
                if std::fs::metadata(&local).is_ok_and(|m| m.len() == *size) {
                    continue;
                }
                self.download_sidecar(&format!("{}/{file}", s.name), &local)
                    .await?;
                report.sidecars += 1;
            }
            for f in s.files {
                if !f.complete
                    || opts.from_ns.is_some_and(|t| f.start_ns < t)
                    || opts.to_ns.is_some_and(|t| f.start_ns >= t)
                {
                    continue;
                }
                let local = dir.join(&f.name);
                // Files are installed only whole and verified; an uncompressed
                // one must also still have its size.
                if std::fs::metadata(&local).is_ok_and(|m| f.compressed || m.len() == f.size) {
                    report.present += 1;
                    report.sidecars += self.fetch_file_sidecars(&s.name, &f, &local).await?;
                    continue;
                }
                jobs.push((s.name.clone(), f, local));
            }
        }
        let total = jobs.len() + report.present;
        let mut done = report.present;
        let mut results = futures::stream::iter(jobs)
            .map(|(s, f, local)| async move {
                let rel = format!("{s}/{}", f.name);
                let n = crate::upload::retrying(4, || self.download(&rel, f.compressed, &local))
                    .await?;
                let k = self.fetch_file_sidecars(&s, &f, &local).await?;
                Ok((rel, n, k))
            })
            .buffer_unordered(opts.concurrency.max(1));
        let mut dirs = std::collections::BTreeSet::new();
        while let Some(r) = results.next().await {
            match r {
                Ok((rel, n, k)) => {
                    if let Some((stream, _)) = rel.rsplit_once('/') {
                        dirs.insert(root.join(stream));
                    }
                    report.downloaded.push(rel);
                    report.bytes += n;
                    report.sidecars += k;
                }
                Err(e @ (Error::NoSuchBucket { .. } | Error::AccessDenied { .. })) => {
                    return Err(e)
                }
                Err(e) => report.failed.push(e),
            }
            done += 1;
            if let Some(p) = &opts.progress {
                (p.0)(done, total, report.bytes);
            }
        }
        for d in dirs {
            std::fs::File::open(&d)
                .and_then(|f| f.sync_all())
                .map_err(io("sync", &d))?;
        }
        Ok(report)
    }

    /// Install the sidecars of the remote file `f` that `local` lacks;
    /// returns how many.
    async fn fetch_file_sidecars(
        &self,
        stream: &StreamName,
        f: &RemoteFile,
        local: &Path,
    ) -> Result<usize> {
        let mut n = 0;
        for sfx in &f.sidecars {
            let mut name = local.file_name().unwrap_or_default().to_os_string();
            name.push(sfx);
            let path = local.with_file_name(name);
            if path.exists() {
                continue;
            }
            self.download_sidecar(&format!("{stream}/{}{sfx}", f.name), &path)
                .await?;
            n += 1;
        }
        Ok(n)
    }

    /// Install a stream sidecar (small): fetched whole, written to a
    /// temporary name, renamed into place.
    async fn download_sidecar(&self, rel: &str, local: &Path) -> Result<()> {
        let key = self.remote.key(rel);
        let url = &self.remote.url;
        let bytes = self
            .remote
            .store
            .get(&key)
            .await
            .map_err(|e| backend(url, "get", key.as_ref(), e))?
            .bytes()
            .await
            .map_err(|e| backend(url, "read", key.as_ref(), e))?;
        if let Some(d) = local.parent() {
            std::fs::create_dir_all(d).map_err(io("create", d))?;
        }
        let tmp = local.with_extension("json.download");
        std::fs::write(&tmp, &bytes).map_err(io("write", &tmp))?;
        std::fs::rename(&tmp, local).map_err(io("rename", &tmp))
    }

    /// Download one file to a temporary name, check it against its
    /// manifest, then rename it into place.
    async fn download(&self, rel: &str, compressed: bool, local: &Path) -> Result<u64> {
        let url = &self.remote.url;
        let meta_key = self.remote.key(&format!("{rel}{META_SUFFIX}"));
        let key = if compressed {
            self.remote.key(&format!("{rel}{ZSTD_SUFFIX}"))
        } else {
            self.remote.key(rel)
        };
        // The manifest and the data in parallel: one round trip, not two.
        let (meta_bytes, got) = tokio::join!(
            async {
                let g = self.remote.store.get(&meta_key).await?;
                g.bytes().await
            },
            self.remote.store.get(&key)
        );
        let meta_bytes = meta_bytes.map_err(|e| backend(url, "get", meta_key.as_ref(), e))?;
        let got = got.map_err(|e| backend(url, "get", key.as_ref(), e))?;
        let meta = FileMeta::from_json(&meta_bytes).map_err(|reason| Error::Corrupt {
            key: meta_key.to_string(),
            reason,
        })?;
        let dir = local.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(io("create", dir))?;
        let tmp = local.with_extension("log.download");
        let mut out = std::fs::File::create(&tmp).map_err(io("create", &tmp))?;
        let read = read_object(url, &key, got, &meta, |b| {
            out.write_all(b).map_err(io("write", &tmp))
        })
        .await;
        let (size, crc) = match read {
            Ok(v) => v,
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
        };
        if size != meta.size || crc != meta.crc32c {
            let _ = std::fs::remove_file(&tmp);
            return Err(Error::Corrupt {
                key: key.to_string(),
                reason: format!(
                    "{size} bytes with CRC-32C {crc:08x}, its manifest says {} bytes with {:08x}",
                    meta.size, meta.crc32c
                ),
            });
        }
        out.sync_all().map_err(io("sync", &tmp))?;
        drop(out);
        // Visible at once (rename is atomic); the folder is fsynced once per
        // pass for all the files renamed into it.
        std::fs::rename(&tmp, local).map_err(io("rename", &tmp))?;
        Ok(size)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn patterns() {
        use super::matches;
        assert!(matches("binance/*", "binance/btcusdt/trades"));
        assert!(matches("*/trades", "binance/btcusdt/trades"));
        assert!(matches("binance/*/trades", "binance/btcusdt/trades"));
        assert!(!matches("binance/*/depth", "binance/btcusdt/trades"));
        assert!(matches("exact", "exact"));
        assert!(!matches("exact", "exactly"));
    }
}
