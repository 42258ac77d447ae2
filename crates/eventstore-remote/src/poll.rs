//! `StreamPoller`: list the streams on a remote and mirror them locally,
//! incrementally, installing a file only once it is complete and verified.

use crate::error::{backend, io, Error, Result};
use crate::layout::{
    file_sidecar, get_small, max_file_sidecar_bytes, read_object, FileMeta, MAX_MANIFEST_BYTES,
    MAX_STREAM_SIDECAR_BYTES, META_SUFFIX, STREAM_SIDECARS, ZSTD_SUFFIX,
};
use crate::remote::Remote;
use eventstore_log::StreamName;
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStoreExt;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

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
    /// Keys that could not be read as a stream's files (a `..` or an empty
    /// segment, a name that is not a stream name), each with the reason:
    /// skipped, the rest polled.
    pub skipped: Vec<String>,
}

/// What a listing found: the streams, and the keys it had to skip.
#[derive(Clone, Debug, Default)]
pub struct Listing {
    pub streams: Vec<RemoteStream>,
    /// Keys (or folders of keys) that are not a stream's files, with the reason.
    pub skipped: Vec<String>,
}

/// A file being downloaded under a temporary name: removed when dropped
/// unless it was installed, so that no error leaves a `*.download` behind.
struct Partial {
    path: PathBuf,
    installed: bool,
}

impl Partial {
    fn new(path: PathBuf) -> Partial {
        Partial {
            path,
            installed: false,
        }
    }

    /// Rename into place as `to`.
    fn install(mut self, to: &Path) -> Result<()> {
        std::fs::rename(&self.path, to).map_err(io("rename", &self.path))?;
        self.installed = true;
        Ok(())
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        if !self.installed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// `<path>.download`: where a download lands before it is checked.
fn download_name(local: &Path) -> PathBuf {
    let mut name = local.file_name().unwrap_or_default().to_os_string();
    name.push(".download");
    local.with_file_name(name)
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
        Ok(self.listing().await?.streams)
    }

    /// Every object under the prefix. A key that object_store cannot take
    /// (a `..` or an empty segment) fails the whole page it is listed in,
    /// so then the listing goes folder by folder: a folder that cannot be
    /// listed is skipped and reported, every other one is listed.
    async fn objects(
        &self,
        under: Option<&StreamName>,
    ) -> Result<(Vec<object_store::ObjectMeta>, Vec<String>)> {
        let folder = under.map(|s| self.remote.key(s.as_str()));
        let prefix = match &folder {
            Some(f) => Some(f),
            None => (!self.remote.prefix.as_ref().is_empty()).then_some(&self.remote.prefix),
        };
        let url = &self.remote.url;
        match self.remote.store.list(prefix).try_collect().await {
            Ok(v) => return Ok((v, Vec::new())),
            Err(object_store::Error::InvalidPath { .. }) => {}
            Err(e) => {
                let at = prefix.map(|p| p.to_string()).unwrap_or_default();
                return Err(backend(url, "list", &at, e));
            }
        }
        let (mut objects, mut skipped) = (Vec::new(), Vec::new());
        let mut folders = vec![prefix.cloned()];
        while let Some(folder) = folders.pop() {
            match self.remote.store.list_with_delimiter(folder.as_ref()).await {
                Ok(r) => {
                    objects.extend(r.objects);
                    folders.extend(r.common_prefixes.into_iter().map(Some));
                }
                Err(e @ object_store::Error::InvalidPath { .. }) => skipped.push(format!(
                    "keys under {}/: {e}",
                    folder.as_ref().map(|f| f.as_ref()).unwrap_or("")
                )),
                Err(e) => {
                    let at = folder.as_ref().map(|f| f.to_string()).unwrap_or_default();
                    return Err(backend(url, "list", &at, e));
                }
            }
        }
        Ok((objects, skipped))
    }

    /// Every stream under the remote prefix, with its files, and the keys
    /// skipped on the way.
    pub async fn listing(&self) -> Result<Listing> {
        self.listing_under(None).await
    }

    /// The stream `name` alone, with its files (listing only its folder,
    /// however many other streams the remote holds); an empty listing
    /// where the remote has no such stream.
    pub async fn listing_of(&self, name: &StreamName) -> Result<Listing> {
        let mut l = self.listing_under(Some(name)).await?;
        l.streams.retain(|s| s.name == *name);
        Ok(l)
    }

    async fn listing_under(&self, under: Option<&StreamName>) -> Result<Listing> {
        let (objects, mut skipped) = self.objects(under).await?;
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
        let mut streams = Vec::new();
        for (s, files) in by_stream {
            match StreamName::new(&s) {
                Ok(name) => streams.push(RemoteStream {
                    name,
                    sidecars: sidecars.remove(&s).unwrap_or_default(),
                    files: files.into_values().collect(),
                }),
                Err(e) => skipped.push(format!("{} files under {s}/: {e}", files.len())),
            }
        }
        Ok(Listing { streams, skipped })
    }

    /// Download what is missing under `root`.
    pub async fn poll(&self, root: &Path, opts: &PollOptions) -> Result<PollReport> {
        let listing = self.listing().await?;
        self.poll_listed(listing, root, opts).await
    }

    /// Download what is missing under `root` of the files in `listing`
    /// (a listing of this remote made just before).
    pub async fn poll_listed(
        &self,
        listing: Listing,
        root: &Path,
        opts: &PollOptions,
    ) -> Result<PollReport> {
        let mut jobs = Vec::new();
        let mut report = PollReport {
            skipped: listing.skipped,
            ..PollReport::default()
        };
        for s in listing.streams {
            if opts
                .pattern
                .as_deref()
                .is_some_and(|p| !matches(p, s.name.as_str()))
            {
                continue;
            }
            let dir = s.name.dir(root);
            let sidecars: Vec<&String> = s
                .sidecars
                .iter()
                .filter(|(file, size)| {
                    !std::fs::metadata(dir.join(file)).is_ok_and(|m| m.len() == *size)
                })
                .map(|(file, _)| file)
                .collect();
            let mut missing = Vec::new();
            for f in &s.files {
                if !f.complete
                    || opts.from_ns.is_some_and(|t| f.start_ns < t)
                    || opts.to_ns.is_some_and(|t| f.start_ns >= t)
                {
                    continue;
                }
                let path = dir.join(&f.name);
                // Files are installed only whole and verified; an uncompressed
                // one must also still have its size.
                if std::fs::metadata(&path).is_ok_and(|m| f.compressed || m.len() == f.size) {
                    report.present += 1;
                    match self.fetch_file_sidecars(&s.name, f, &path).await {
                        Ok(n) => report.sidecars += n,
                        Err(e @ (Error::NoSuchBucket { .. } | Error::AccessDenied { .. })) => {
                            return Err(e)
                        }
                        Err(e) => report.failed.push(e),
                    }
                    continue;
                }
                missing.push((f.clone(), path));
            }
            if sidecars.is_empty() && missing.is_empty() {
                continue;
            }
            // Something to install: the local stream must be a mirror (no
            // writer, no open file), read once for the continuity checks.
            let local = match LocalStream::read(&s.name, &dir) {
                Ok(mut l) => {
                    l.pending = missing.iter().map(|(f, _)| f.name.clone()).collect();
                    Arc::new(l)
                }
                Err(e) => {
                    report.failed.push(e);
                    continue;
                }
            };
            let mut sidecar_failed = false;
            for file in sidecars {
                match self
                    .download_sidecar(
                        &format!("{}/{file}", s.name),
                        &dir.join(file),
                        MAX_STREAM_SIDECAR_BYTES,
                    )
                    .await
                {
                    Ok(()) => report.sidecars += 1,
                    Err(e @ (Error::NoSuchBucket { .. } | Error::AccessDenied { .. })) => {
                        return Err(e)
                    }
                    // The stream's files mean little without it: the
                    // stream waits for the next pass, the others go on.
                    Err(e) => {
                        report.failed.push(e);
                        sidecar_failed = true;
                    }
                }
            }
            if sidecar_failed {
                continue;
            }
            for (f, path) in missing {
                jobs.push((s.name.clone(), f, path, local.clone()));
            }
        }
        let total = jobs.len() + report.present;
        let mut done = report.present;
        let mut results = futures::stream::iter(jobs)
            .map(|(s, f, local, stream)| async move {
                let rel = format!("{s}/{}", f.name);
                let n =
                    crate::retry::retrying(4, || self.download(&rel, &f, &local, &stream)).await?;
                // The file is installed; a sidecar that fails is reported
                // on its own (it is rebuilt locally on first use).
                let k = self.fetch_file_sidecars(&s, &f, &local).await;
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
                    match k {
                        Ok(k) => report.sidecars += k,
                        Err(e) => report.failed.push(e),
                    }
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
            self.download_sidecar(
                &format!("{stream}/{}{sfx}", f.name),
                &path,
                max_file_sidecar_bytes(sfx),
            )
            .await?;
            n += 1;
        }
        Ok(n)
    }

    /// Install a sidecar: streamed to a temporary name (refused past
    /// `limit` bytes), renamed into place.
    async fn download_sidecar(&self, rel: &str, local: &Path, limit: u64) -> Result<()> {
        let key = self.remote.key(rel);
        let url = &self.remote.url;
        let got = self
            .remote
            .store
            .get(&key)
            .await
            .map_err(|e| backend(url, "get", key.as_ref(), e))?;
        let too_big = |n: u64| Error::Corrupt {
            key: key.to_string(),
            reason: format!("{n} bytes, more than the {limit} such a file may have"),
        };
        if got.meta.size > limit {
            return Err(too_big(got.meta.size));
        }
        if let Some(d) = local.parent() {
            std::fs::create_dir_all(d).map_err(io("create", d))?;
        }
        let tmp = Partial::new(download_name(local));
        let mut out = std::fs::File::create(&tmp.path).map_err(io("create", &tmp.path))?;
        let mut stream = got.into_stream();
        let mut n = 0u64;
        while let Some(chunk) = stream
            .try_next()
            .await
            .map_err(|e| backend(url, "read", key.as_ref(), e))?
        {
            n += chunk.len() as u64;
            if n > limit {
                return Err(too_big(n));
            }
            out.write_all(&chunk).map_err(io("write", &tmp.path))?;
        }
        drop(out);
        tmp.install(local)
    }

    /// Download one file to a temporary name, check it against its
    /// manifest and against the local stream's files around it, then
    /// rename it into place.
    async fn download(
        &self,
        rel: &str,
        f: &RemoteFile,
        local: &Path,
        stream: &LocalStream,
    ) -> Result<u64> {
        let url = &self.remote.url;
        let meta_key = self.remote.key(&format!("{rel}{META_SUFFIX}"));
        let key = if f.compressed {
            self.remote.key(&format!("{rel}{ZSTD_SUFFIX}"))
        } else {
            self.remote.key(rel)
        };
        // The manifest and the data in parallel: one round trip, not two.
        let (meta_bytes, got) = tokio::join!(
            get_small(&self.remote, &meta_key, MAX_MANIFEST_BYTES),
            self.remote.store.get(&key)
        );
        let meta_bytes = meta_bytes?;
        let got = got.map_err(|e| backend(url, "get", key.as_ref(), e))?;
        let meta = FileMeta::from_json(&meta_bytes).map_err(|reason| Error::Corrupt {
            key: meta_key.to_string(),
            reason,
        })?;
        let stored = if f.compressed {
            meta.stored_size
        } else {
            Some(meta.size)
        };
        if stored.is_some_and(|s| s != got.meta.size) {
            return Err(Error::Corrupt {
                key: key.to_string(),
                reason: format!(
                    "{} bytes stored, its manifest says {}",
                    got.meta.size,
                    stored.unwrap_or(0)
                ),
            });
        }
        stream
            .check_fits(&f.name, &meta)
            .map_err(|reason| Error::Discontinuous {
                key: key.to_string(),
                reason,
            })?;
        let dir = local.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(io("create", dir))?;
        let tmp = Partial::new(download_name(local));
        let mut out = std::fs::File::create(&tmp.path).map_err(io("create", &tmp.path))?;
        let (size, crc) = read_object(url, &key, got, &meta, |b| {
            out.write_all(b).map_err(io("write", &tmp.path))
        })
        .await?;
        if size != meta.size || crc != meta.crc32c {
            return Err(Error::Corrupt {
                key: key.to_string(),
                reason: format!(
                    "{size} bytes with CRC-32C {crc:08x}, its manifest says {} bytes with {:08x}",
                    meta.size, meta.crc32c
                ),
            });
        }
        out.sync_all().map_err(io("sync", &tmp.path))?;
        drop(out);
        // The header inside must say what the manifest says.
        let header = eventstore_log::read_header(&tmp.path).map_err(|e| Error::Corrupt {
            key: key.to_string(),
            reason: format!("not a log file: {e}"),
        })?;
        if header.form != meta.form {
            return Err(Error::Corrupt {
                key: key.to_string(),
                reason: format!(
                    "a {} file, its manifest says {}",
                    header.form.as_str(),
                    meta.form.as_str()
                ),
            });
        }
        if header.first_seq != meta.first_seq {
            return Err(Error::Corrupt {
                key: key.to_string(),
                reason: format!(
                    "its header starts at sequence {}, its manifest says {}",
                    header.first_seq, meta.first_seq
                ),
            });
        }
        // Visible at once (rename is atomic); the folder is fsynced once per
        // pass for all the files renamed into it.
        tmp.install(local)?;
        Ok(size)
    }
}

/// The local copy of a stream as a poll pass found it: the sequence range
/// of each sealed file, to check that a downloaded file fits between them.
#[derive(Debug, Default)]
struct LocalStream {
    /// File name -> (first sequence, records), sealed files only.
    files: BTreeMap<String, (u64, u64)>,
    /// Files this pass installs: a file is checked against a local
    /// neighbour only where no file of the pass lies between them.
    pending: std::collections::BTreeSet<String>,
}

impl LocalStream {
    /// Read the local stream `name` in `dir` (empty if it does not exist);
    /// refused if a local writer holds it or it has an open file.
    fn read(name: &StreamName, dir: &Path) -> Result<LocalStream> {
        if !dir.is_dir() {
            return Ok(LocalStream::default());
        }
        let info = eventstore_log::stream_info(dir)?;
        let refuse = |reason: String| Error::WrittenLocally {
            stream: name.to_string(),
            reason,
        };
        if info.writer_active {
            let pid =
                std::fs::read_to_string(dir.join(eventstore_log::LOCK_FILE)).unwrap_or_default();
            return Err(refuse(format!(
                "is open for writing by process {}",
                pid.trim()
            )));
        }
        if let Some(open) = info.files.iter().find(|f| !f.sealed) {
            return Err(refuse(format!(
                "has an open file ({}) left by a local writer",
                open.path.file_name().unwrap_or_default().to_string_lossy()
            )));
        }
        let files = info
            .files
            .iter()
            .filter_map(|f| {
                let n = f.path.file_name()?.to_str()?.to_string();
                Some((n, (f.first_seq, f.records)))
            })
            .collect();
        Ok(LocalStream {
            files,
            pending: Default::default(),
        })
    }

    /// Whether a file `name` with `meta`'s sequence numbers continues the
    /// local file before it and is continued by the one after it.
    fn check_fits(&self, name: &str, meta: &FileMeta) -> std::result::Result<(), String> {
        let end = meta.first_seq.checked_add(meta.records).ok_or_else(|| {
            format!(
                "{} records from sequence {} overflow",
                meta.records, meta.first_seq
            )
        })?;
        let pending_before = self.pending.range(..name.to_string()).next_back();
        let pending_after = self
            .pending
            .range((
                std::ops::Bound::Excluded(name.to_string()),
                std::ops::Bound::Unbounded,
            ))
            .next();
        let before = self.files.range(..name.to_string()).next_back();
        if let Some((before, (first, n))) = before.filter(|(b, _)| pending_before < Some(*b)) {
            if first + n != meta.first_seq {
                return Err(format!(
                    "it starts at sequence {}, the local {before} before it ends at {}",
                    meta.first_seq,
                    first + n
                ));
            }
        }
        if let Some((after, (first, _))) = self
            .files
            .range((
                std::ops::Bound::Excluded(name.to_string()),
                std::ops::Bound::Unbounded,
            ))
            .next()
            .filter(|(a, _)| pending_after.is_none_or(|p| p > *a))
        {
            if *first != end {
                return Err(format!(
                    "it ends at sequence {end}, the local {after} after it starts at {first}"
                ));
            }
        }
        Ok(())
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
