//! The multipart path of an upload: the upload in progress (by id where
//! the store has ids, else object_store's streaming upload), the note
//! `<file>.log.uploading` that names it before any part is sent, and the
//! abort of uploads a crashed run left unfinished.

use super::{sidecar_path, StreamUploader};
use crate::error::{backend, io, Result};
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path as ObjPath;
use object_store::{MultipartId, MultipartUpload, ObjectStoreExt, PutPayload, PutResult};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// `<file>.log.uploading` beside a file being uploaded in parts: the
/// object's key and the upload's id, one per line.
pub(super) const UPLOADING_SUFFIX: &str = ".uploading";

/// A multipart upload in progress.
pub(super) enum Multipart {
    /// Through the store's streaming API (a local folder, a wrapped store).
    Streaming(Box<dyn MultipartUpload>),
    /// By id (S3), noted beside the local file until it ends.
    ById {
        store: Arc<dyn MultipartStore>,
        key: ObjPath,
        id: MultipartId,
        note: PathBuf,
        /// Parts sent so far (the next part's index).
        sent: usize,
    },
}

pub(super) type PartFuture =
    futures::future::BoxFuture<'static, object_store::Result<Option<PartId>>>;

impl Multipart {
    /// Send the next part.
    pub(super) fn put_part(&mut self, data: PutPayload) -> PartFuture {
        match self {
            Multipart::Streaming(u) => {
                let f = u.put_part(data);
                Box::pin(async move { f.await.map(|()| None) })
            }
            Multipart::ById {
                store,
                key,
                id,
                sent,
                ..
            } => {
                let (store, key, id, idx) = (store.clone(), key.clone(), id.clone(), *sent);
                *sent += 1;
                Box::pin(async move { store.put_part(&key, &id, idx, data).await.map(Some) })
            }
        }
    }

    pub(super) async fn complete(
        &mut self,
        parts: Vec<Option<PartId>>,
    ) -> object_store::Result<PutResult> {
        match self {
            Multipart::Streaming(u) => u.complete().await,
            Multipart::ById { store, key, id, .. } => {
                store
                    .complete_multipart(key, id, parts.into_iter().flatten().collect())
                    .await
            }
        }
    }

    pub(super) async fn abort(&mut self) -> object_store::Result<()> {
        match self {
            Multipart::Streaming(u) => u.abort().await,
            Multipart::ById { store, key, id, .. } => store.abort_multipart(key, id).await,
        }
    }

    /// The upload has ended: remove its note.
    pub(super) fn forget(&self) -> Result<()> {
        if let Multipart::ById { note, .. } = self {
            std::fs::remove_file(note).map_err(io("remove", note))?;
        }
        Ok(())
    }
}

/// Write (and fsync) the note of a multipart upload.
pub(super) fn write_note(note: &Path, key: &ObjPath, id: &MultipartId) -> Result<()> {
    use std::io::Write;
    let mut f = std::fs::File::create(note).map_err(io("create", note))?;
    f.write_all(format!("{key}\n{id}\n").as_bytes())
        .map_err(io("write", note))?;
    f.sync_all().map_err(io("fsync", note))
}

impl StreamUploader {
    /// Start the multipart upload of `key`, the bytes of the local file
    /// `local`. Where the store has uploads by id, the id is noted beside
    /// the file (`<file>.log.uploading`) before any part is sent.
    pub(super) async fn start_multipart(&self, key: &ObjPath, local: &Path) -> Result<Multipart> {
        let url = &self.remote.url;
        let Some(ms) = &self.remote.multipart else {
            let upload = self
                .remote
                .store
                .put_multipart(key)
                .await
                .map_err(|e| backend(url, "start multipart upload of", key.as_ref(), e))?;
            return Ok(Multipart::Streaming(upload));
        };
        let id = ms
            .create_multipart(key)
            .await
            .map_err(|e| backend(url, "start multipart upload of", key.as_ref(), e))?;
        let note = sidecar_path(local, UPLOADING_SUFFIX);
        if let Err(e) = write_note(&note, key, &id) {
            let _ = ms.abort_multipart(key, &id).await;
            return Err(e);
        }
        Ok(Multipart::ById {
            store: ms.clone(),
            key: key.clone(),
            id,
            note,
            sent: 0,
        })
    }

    /// Abort the multipart uploads that the notes in `dir` name (left by a
    /// run that crashed mid-upload) and remove the notes; returns how many.
    /// A note whose abort fails stays for the next run.
    pub(super) async fn abort_unfinished(&self, dir: &Path) -> Result<usize> {
        let Some(ms) = &self.remote.multipart else {
            return Ok(0);
        };
        let Ok(rd) = std::fs::read_dir(dir) else {
            return Ok(0);
        };
        let mut aborted = 0;
        for ent in rd.flatten() {
            let note = ent.path();
            if !note.to_string_lossy().ends_with(UPLOADING_SUFFIX) {
                continue;
            }
            let text = std::fs::read_to_string(&note).map_err(io("read", &note))?;
            let mut lines = text.lines();
            let (Some(key), Some(id)) = (lines.next(), lines.next()) else {
                // Cut short by the crash before its id was written: the
                // upload can not be named (a bucket lifecycle rule ends it).
                std::fs::remove_file(&note).map_err(io("remove", &note))?;
                continue;
            };
            let key = ObjPath::from(key);
            // Aborted now, or already gone (completed or aborted before).
            let ended = match ms.abort_multipart(&key, &id.to_string()).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => true,
                Err(e) => e.to_string().contains("NoSuchUpload"),
            };
            if ended {
                std::fs::remove_file(&note).map_err(io("remove", &note))?;
                aborted += 1;
            }
        }
        Ok(aborted)
    }
}
