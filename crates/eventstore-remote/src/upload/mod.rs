//! `StreamUploader`: every sealed file of a stream (or of every stream
//! under a root) to a remote, verified, idempotent and resumable.

use crate::error::{backend, io, joined, Error, Result};
use crate::layout::{
    file_checksum, file_sidecar, read_object, FileMeta, FILE_SIDECAR_SUFFIXES, META_SUFFIX,
    STREAM_SIDECARS, ZSTD_SUFFIX,
};
use crate::remote::Remote;
use bytes::Bytes;
use eventstore_log::{files, FileEntry, FileStatus, StreamName};
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path as ObjPath;
use object_store::{ObjectStoreExt, PutPayload};
use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};

mod multipart;

use crate::retry::retrying;
use multipart::PartFuture;

/// How the uploader works.
#[derive(Clone, Debug)]
pub struct UploadOptions {
    /// Files uploaded at the same time.
    pub concurrency: usize,
    /// Files at least this large go up in multipart uploads.
    pub multipart_threshold: u64,
    /// Size of one part (S3's minimum is 5 MiB).
    pub part_size: usize,
    /// Remove each local file once its upload is verified.
    pub delete_after_upload: bool,
    /// Attempts of one file before its error is reported (transient errors
    /// that outlast the backend's own retries, a read-back that does not match).
    pub attempts: u32,
    /// Called after each file with (files done, files in this pass, bytes uploaded so far).
    pub progress: Option<Progress>,
    /// Store files compressed with zstd (as `<file>.log.zst`); the poller
    /// installs them decompressed, byte-identical to the original.
    pub compress: bool,
}

/// A progress callback: (files done, files in the pass, bytes uploaded so far).
#[derive(Clone)]
pub struct Progress(pub std::sync::Arc<dyn Fn(usize, usize, u64) + Send + Sync>);

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Progress")
    }
}

impl Default for UploadOptions {
    fn default() -> Self {
        UploadOptions {
            concurrency: 8,
            multipart_threshold: 16 << 20,
            part_size: 8 << 20,
            delete_after_upload: false,
            attempts: 4,
            progress: None,
            compress: false,
        }
    }
}

/// What one pass uploaded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UploadReport {
    /// `stream/file` of every file uploaded in this pass.
    pub uploaded: Vec<String>,
    /// Files that were already on the remote, verified.
    pub already: usize,
    /// Bytes uploaded.
    pub bytes: u64,
    /// Local files removed after a verified upload.
    pub deleted: usize,
    /// Uploads verified by reading the object back (the others by the
    /// MD5 ETag the server returned).
    pub read_back: usize,
    /// Unfinished multipart uploads (left by a crash) aborted.
    pub aborted: usize,
    /// Sealed files left for a later pass because they were being made
    /// compact.
    pub deferred: usize,
}

impl UploadReport {
    fn add(&mut self, o: Outcome) {
        match o {
            Outcome::Uploaded {
                name,
                bytes,
                deleted,
                read_back,
            } => {
                self.uploaded.push(name);
                self.read_back += read_back as usize;
                self.bytes += bytes;
                self.deleted += deleted as usize;
            }
            Outcome::Already { deleted } => {
                self.already += 1;
                self.deleted += deleted as usize;
            }
        }
    }
}

/// Where the bytes of an upload come from.
enum Body {
    /// Read, verified (and perhaps compressed) in memory.
    Memory(Bytes),
    /// Streamed from the file in parts.
    File(PathBuf),
}

/// The uploader's lock in a stream folder (holds its pid).
pub const UPLOAD_LOCK: &str = ".upload.lock";

/// `<file>.log<suffix>` beside the file.
fn sidecar_path(path: &Path, suffix: &str) -> PathBuf {
    let mut n = path.file_name().unwrap_or_default().to_os_string();
    n.push(suffix);
    path.with_file_name(n)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

enum Outcome {
    Uploaded {
        name: String,
        bytes: u64,
        deleted: bool,
        read_back: bool,
    },
    Already {
        deleted: bool,
    },
}

/// Uploads sealed files; never the open file.
pub struct StreamUploader {
    remote: Remote,
    opts: UploadOptions,
}

impl StreamUploader {
    pub fn new(remote: Remote, opts: UploadOptions) -> StreamUploader {
        StreamUploader { remote, opts }
    }

    /// The remote.
    pub fn remote(&self) -> &Remote {
        &self.remote
    }

    /// Upload every sealed file of the streams named (as `(name, folder)`),
    /// `concurrency` at a time.
    pub async fn upload(&self, streams: &[(StreamName, PathBuf)]) -> Result<UploadReport> {
        let mut jobs = Vec::new();
        let mut report = UploadReport::default();
        // One uploader per stream: held for the pass (it may abort the
        // multipart uploads its notes name, which must not be another
        // uploader's uploads in progress).
        let mut locks = Vec::with_capacity(streams.len());
        for (name, dir) in streams.iter().filter(|(_, d)| d.is_dir()) {
            match eventstore_log::lock_file(&dir.join(UPLOAD_LOCK))? {
                Ok(f) => locks.push(f),
                Err(pid) => {
                    return Err(Error::Busy {
                        stream: name.to_string(),
                        pid,
                    })
                }
            }
        }
        for (name, dir) in streams {
            report.aborted += self.abort_unfinished(dir).await?;
            let (done, sidecars) = self.completed(name).await?;
            for file in STREAM_SIDECARS {
                let local = dir.join(file);
                let Ok(m) = std::fs::metadata(&local) else {
                    continue;
                };
                if sidecars.get(*file) != Some(&m.len()) {
                    let bytes = std::fs::read(&local).map_err(io("read", &local))?;
                    self.put_small(&format!("{name}/{file}"), bytes).await?;
                }
            }
            for f in files::list_files(dir)? {
                if !f.sealed {
                    continue;
                }
                // Being made compact: uploaded by a later pass, once it is.
                if eventstore_log::compact::is_converting(&f.path) {
                    report.deferred += 1;
                    continue;
                }
                // Complete on the remote (manifest written after verification,
                // same size): sealed files never change, so nothing to do.
                let file_name = f
                    .path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let size = std::fs::metadata(&f.path)
                    .map_err(io("stat", &f.path))?
                    .len();
                let complete = match done.get(&file_name) {
                    Some(Some(remote_size)) => *remote_size == size,
                    Some(None) => true, // compressed: its manifest vouches for it
                    None => false,
                };
                if complete {
                    self.put_file_sidecars(name, &f.path, Some(&sidecars))
                        .await?;
                    report.add(Outcome::Already {
                        deleted: self.maybe_delete(&f.path)?,
                    });
                    continue;
                }
                jobs.push((name.clone(), f));
            }
        }
        let total = jobs.len() + report.already;
        let mut done = report.already;
        let mut results = futures::stream::iter(jobs)
            .map(|(name, f)| async move {
                retrying(self.opts.attempts, || self.upload_file(&name, &f)).await
            })
            .buffer_unordered(self.opts.concurrency.max(1));
        while let Some(r) = results.next().await {
            report.add(r?);
            done += 1;
            if let Some(p) = &self.opts.progress {
                (p.0)(done, total, report.bytes);
            }
        }
        Ok(report)
    }

    /// Upload every sealed file of every stream under `root`.
    pub async fn upload_root(&self, root: &Path) -> Result<UploadReport> {
        let streams: Vec<(StreamName, PathBuf)> = eventstore_log::list_streams(root)?
            .into_iter()
            .map(|n| {
                let d = n.dir(root);
                (n, d)
            })
            .collect();
        self.upload(&streams).await
    }

    /// The files of `stream` whose upload is complete on the remote (data
    /// and manifest present), with the data's size, and the stream's
    /// sidecars with theirs: one listing per stream instead of a request
    /// per file.
    #[allow(clippy::type_complexity)]
    async fn completed(
        &self,
        stream: &StreamName,
    ) -> Result<(HashMap<String, Option<u64>>, HashMap<String, u64>)> {
        // Stream sidecars and file sidecars (by full name) with their sizes.
        let prefix = self.remote.key(stream.as_str());
        let objects: Vec<object_store::ObjectMeta> = self
            .remote
            .store
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(|e| backend(&self.remote.url, "list", prefix.as_ref(), e))?;
        let mut data = HashMap::new();
        let mut manifests = HashSet::new();
        let mut sidecars = HashMap::new();
        for o in objects {
            let Some(rel) = self.remote.rel(&o.location) else {
                continue;
            };
            let Some((s, file)) = rel.rsplit_once('/') else {
                continue;
            };
            if s != stream.as_str() {
                continue;
            }
            if STREAM_SIDECARS.contains(&file) || file_sidecar(file).is_some() {
                sidecars.insert(file.to_string(), o.size);
                continue;
            }
            match file.strip_suffix(META_SUFFIX) {
                Some(d) => {
                    manifests.insert(d.to_string());
                }
                None => match file.strip_suffix(ZSTD_SUFFIX) {
                    Some(log) => {
                        data.insert(log.to_string(), None);
                    }
                    None => {
                        data.insert(file.to_string(), Some(o.size));
                    }
                },
            }
        }
        data.retain(|k, _| manifests.contains(k));
        Ok((data, sidecars))
    }

    async fn upload_file(&self, stream: &StreamName, f: &FileEntry) -> Result<Outcome> {
        let file_name = f
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let rel = format!("{stream}/{file_name}");
        // A compact file is stored as it is: its blocks are compressed already.
        let form = eventstore_log::read_header(&f.path)?.form;
        let compress = self.opts.compress && form == eventstore_log::Form::Framed;
        let data_key = if compress {
            self.remote.key(&format!("{rel}{ZSTD_SUFFIX}"))
        } else {
            self.remote.key(&rel)
        };
        let meta_key = self.remote.key(&format!("{rel}{META_SUFFIX}"));
        let size = std::fs::metadata(&f.path)
            .map_err(io("stat", &f.path))?
            .len();
        // Check the local file completely before anything leaves the machine;
        // a small file is read once and checked, checksummed and sent from memory.
        let path = f.path.clone();
        let small = size < self.opts.multipart_threshold;
        let (rep, crc, size, body) = tokio::task::spawn_blocking(move || -> Result<_> {
            if small || compress {
                let bytes = std::fs::read(&path).map_err(io("read", &path))?;
                let rep = eventstore_log::verify_bytes(&path, &bytes, true);
                let crc = crc32c::crc32c(&bytes);
                let size = bytes.len() as u64;
                let body = if compress {
                    zstd::bulk::compress(&bytes, 3).map_err(io("compress", &path))?
                } else {
                    bytes
                };
                Ok((rep, crc, size, Body::Memory(Bytes::from(body))))
            } else {
                let rep = eventstore_log::verify_file(&path, true);
                let (size, crc) = file_checksum(&path)?;
                Ok((rep, crc, size, Body::File(path)))
            }
        })
        .await
        .map_err(joined("verify", &f.path))??;
        if let FileStatus::Corrupted { offset, reason } = &rep.status {
            return Err(Error::Log(eventstore_log::Error::Corrupted {
                file: f.path.clone(),
                offset: *offset,
                reason: format!("{reason}; not uploaded"),
            }));
        }
        let meta = FileMeta {
            size,
            crc32c: crc,
            first_seq: rep.first_seq.unwrap_or(0),
            records: rep.records,
            min_ts: rep.min_ts,
            max_ts: rep.max_ts,
            compression: compress.then(|| "zstd".to_string()),
            stored_size: match &body {
                Body::Memory(b) if compress => Some(b.len() as u64),
                _ => None,
            },
            form,
        };
        let (expected_etag, etag) = self.put_data(&data_key, body, &f.path).await?;
        // S3 reports the MD5 of what it stored as the ETag (of the parts'
        // MD5s for a multipart upload): when it matches the MD5 computed
        // from the local bytes, the object is verified without reading it
        // back. Otherwise (another backend, server-side encryption) read it
        // back and compare size and CRC-32C.
        let read_back =
            etag.as_deref().map(|e| e.trim_matches('"')) != Some(expected_etag.as_str());
        if read_back {
            self.verify_remote(&data_key, &meta).await?;
        }
        self.remote
            .store
            .put(&meta_key, PutPayload::from(meta.to_json().into_bytes()))
            .await
            .map_err(|e| backend(&self.remote.url, "put", meta_key.as_ref(), e))?;
        self.put_file_sidecars(stream, &f.path, None).await?;
        let deleted = self.maybe_delete(&f.path)?;
        Ok(Outcome::Uploaded {
            name: rel,
            bytes: size,
            deleted,
            read_back,
        })
    }

    fn maybe_delete(&self, path: &Path) -> Result<bool> {
        if !self.opts.delete_after_upload {
            return Ok(false);
        }
        std::fs::remove_file(path).map_err(io("remove", path))?;
        for sfx in FILE_SIDECAR_SUFFIXES {
            let _ = std::fs::remove_file(sidecar_path(path, sfx));
        }
        Ok(true)
    }

    /// Put a small object (a sidecar) at `rel`, retrying transient failures.
    async fn put_small(&self, rel: &str, bytes: Vec<u8>) -> Result<()> {
        let key = self.remote.key(rel);
        let bytes = Bytes::from(bytes);
        retrying(self.opts.attempts, || async {
            self.remote
                .store
                .put(&key, PutPayload::from(bytes.clone()))
                .await
                .map(|_| ())
                .map_err(|e| backend(&self.remote.url, "put", key.as_ref(), e))
        })
        .await
    }

    /// Put the sidecars of the local file `path` that exist, unless
    /// `remote` (name -> size on the remote) already has them at that size.
    async fn put_file_sidecars(
        &self,
        stream: &StreamName,
        path: &Path,
        remote: Option<&HashMap<String, u64>>,
    ) -> Result<()> {
        for sfx in FILE_SIDECAR_SUFFIXES {
            let local = sidecar_path(path, sfx);
            let Ok(bytes) = std::fs::read(&local) else {
                continue;
            };
            let name = local
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if remote.and_then(|r| r.get(&name)) == Some(&(bytes.len() as u64)) {
                continue;
            }
            self.put_small(&format!("{stream}/{name}"), bytes).await?;
        }
        Ok(())
    }

    /// Put the file's bytes; returns the ETag S3 would give them (MD5 hex,
    /// or MD5 of the parts' MD5s with `-<parts>` for a multipart upload)
    /// and the ETag the store returned.
    async fn put_data(
        &self,
        key: &ObjPath,
        body: Body,
        local: &Path,
    ) -> Result<(String, Option<String>)> {
        use md5::{Digest, Md5};
        let url = &self.remote.url;
        let (source, path): (Box<dyn Read + Send>, PathBuf) = match body {
            Body::Memory(bytes) if (bytes.len() as u64) >= self.opts.multipart_threshold => (
                Box::new(std::io::Cursor::new(bytes)),
                PathBuf::from(key.as_ref()),
            ),
            Body::Memory(bytes) => {
                // The MD5 is computed on a blocking thread while the bytes
                // are on their way, not before they leave.
                let b = bytes.clone();
                let md5 = tokio::task::spawn_blocking(move || hex(&Md5::digest(&b)));
                let put = self.remote.store.put(key, PutPayload::from(bytes));
                let (md5, r) = tokio::join!(md5, put);
                let r = r.map_err(|e| backend(url, "put", key.as_ref(), e))?;
                let md5 = md5.map_err(joined("hash", Path::new(key.as_ref())))?;
                return Ok((md5, r.e_tag));
            }
            Body::File(path) => (
                Box::new(std::fs::File::open(&path).map_err(io("open", &path))?),
                path,
            ),
        };
        let mut upload = self.start_multipart(key, local).await?;
        let mut buf_source = Some(source);
        let mut part_md5s = Md5::new();
        let mut in_flight = futures::stream::FuturesOrdered::<PartFuture>::new();
        let mut parts = Vec::new();
        let sent: Result<()> = async {
            loop {
                // At most 4 parts on their way at once.
                while in_flight.len() >= 4 {
                    if let Some(r) = in_flight.next().await {
                        parts.push(r.map_err(|e| backend(url, "upload part of", key.as_ref(), e))?);
                    }
                }
                // Read a whole part (so that parts, and their MD5s, are
                // exactly part_size) and hash it on a blocking thread.
                let (p, size) = (path.clone(), self.opts.part_size);
                let Some(mut source) = buf_source.take() else {
                    break;
                };
                let (src, buf, md5) = tokio::task::spawn_blocking(move || -> Result<_> {
                    let mut buf = vec![0u8; size];
                    let mut n = 0;
                    while n < buf.len() {
                        let k = source.read(&mut buf[n..]).map_err(io("read", &p))?;
                        if k == 0 {
                            break;
                        }
                        n += k;
                    }
                    buf.truncate(n);
                    let md5 = Md5::digest(&buf);
                    Ok((source, buf, md5))
                })
                .await
                .map_err(joined("read", &path))??;
                if buf.is_empty() {
                    break;
                }
                let last = buf.len() < self.opts.part_size;
                part_md5s.update(md5);
                in_flight.push_back(upload.put_part(PutPayload::from(buf)));
                if !last {
                    buf_source = Some(src);
                }
            }
            while let Some(r) = in_flight.next().await {
                parts.push(r.map_err(|e| backend(url, "upload part of", key.as_ref(), e))?);
            }
            Ok(())
        }
        .await;
        let n = parts.len();
        let r = match sent {
            Ok(()) => upload
                .complete(parts)
                .await
                .map_err(|e| backend(url, "finish multipart upload of", key.as_ref(), e)),
            Err(e) => Err(e),
        };
        match r {
            Ok(r) => {
                upload.forget()?;
                Ok((format!("{}-{n}", hex(&part_md5s.finalize())), r.e_tag))
            }
            Err(e) => {
                // Abort, so that the parts sent so far do not linger
                // (invisible but stored) on the server. If the abort fails
                // too, the note beside the file stays for the next run.
                if upload.abort().await.is_ok() {
                    upload.forget()?;
                }
                Err(e)
            }
        }
    }

    /// Read the object back: its size and CRC-32C must be the local file's.
    async fn verify_remote(&self, key: &object_store::path::Path, meta: &FileMeta) -> Result<()> {
        let url = &self.remote.url;
        let g = self
            .remote
            .store
            .get(key)
            .await
            .map_err(|e| backend(url, "get", key.as_ref(), e))?;
        let (size, crc) = read_object(url, key, g, meta, |_| Ok(())).await?;
        if size != meta.size || crc != meta.crc32c {
            return Err(Error::Corrupt {
                key: key.to_string(),
                reason: format!(
                    "after upload it reads back as {size} bytes with CRC-32C {crc:08x}, expected {} bytes with {:08x}",
                    meta.size, meta.crc32c
                ),
            });
        }
        Ok(())
    }
}
