//! A store wrapper that can delay, fail or alter requests: how the tests
//! inject faults (failing and stalled requests, damaged objects) and how the
//! benchmarks add a remote region's latency to a local server.

use async_trait::async_trait;
use futures::stream::BoxStream;
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartId, MultipartUpload, ObjectMeta,
    ObjectStore, PutMultipartOptions, PutOptions, PutPayload, PutResult, UploadPart,
};
use std::fmt::{Debug, Display, Formatter};
use std::sync::Arc;

/// What happens to the requests of an [`Intercepted`] store.
#[async_trait]
pub trait Interceptor: Send + Sync + Debug + 'static {
    /// Runs before every put, multipart start, part, completion and abort,
    /// get, listing by delimiter and copy (`op` names which: `put`,
    /// `put_multipart`, `put_part`, `complete`, `abort`, `get`, `list`,
    /// `copy`); an error fails the request.
    async fn before(&self, _op: &'static str, _location: &Path) -> object_store::Result<()> {
        Ok(())
    }
    /// The bytes a put actually stores.
    fn payload(&self, _location: &Path, payload: PutPayload) -> PutPayload {
        payload
    }
}

/// A store whose requests pass through an [`Interceptor`].
pub struct Intercepted<I> {
    inner: Arc<dyn ObjectStore>,
    inner_multipart: Option<Arc<dyn MultipartStore>>,
    /// The interceptor (its counters, for instance).
    pub hooks: Arc<I>,
}

impl<I: Debug> Debug for Intercepted<I> {
    fn fmt(&self, f: &mut Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Intercepted")
            .field("inner", &self.inner)
            .field("hooks", &self.hooks)
            .finish()
    }
}

impl<I: Interceptor> Intercepted<I> {
    pub fn new(inner: Arc<dyn ObjectStore>, hooks: I) -> Self {
        Intercepted {
            inner,
            inner_multipart: None,
            hooks: Arc::new(hooks),
        }
    }

    /// Wrap a remote's store, and its multipart uploads by id if it has
    /// them: the returned remote's requests all pass through `hooks`.
    pub fn remote(remote: &crate::Remote, hooks: I) -> (crate::Remote, Arc<I>) {
        let s = Arc::new(Intercepted {
            inner: remote.store.clone(),
            inner_multipart: remote.multipart.clone(),
            hooks: Arc::new(hooks),
        });
        let hooks = s.hooks.clone();
        let mut r = crate::Remote::new(s.clone(), remote.prefix.as_ref(), &remote.url);
        if remote.multipart.is_some() {
            r = r.with_multipart(s);
        }
        (r, hooks)
    }

    fn multipart(&self) -> object_store::Result<&Arc<dyn MultipartStore>> {
        self.inner_multipart
            .as_ref()
            .ok_or_else(|| object_store::Error::NotSupported {
                source: "this store has no multipart uploads by id".into(),
            })
    }
}

/// Multipart uploads by id, each request through the interceptor (the same
/// operation names as the streaming uploads: `put_multipart`, `put_part`,
/// `complete`, `abort`).
#[async_trait]
impl<I: Interceptor> MultipartStore for Intercepted<I> {
    async fn create_multipart(&self, path: &Path) -> object_store::Result<MultipartId> {
        self.hooks.before("put_multipart", path).await?;
        self.multipart()?.create_multipart(path).await
    }
    async fn put_part(
        &self,
        path: &Path,
        id: &MultipartId,
        part_idx: usize,
        data: PutPayload,
    ) -> object_store::Result<PartId> {
        self.hooks.before("put_part", path).await?;
        self.multipart()?.put_part(path, id, part_idx, data).await
    }
    async fn complete_multipart(
        &self,
        path: &Path,
        id: &MultipartId,
        parts: Vec<PartId>,
    ) -> object_store::Result<PutResult> {
        self.hooks.before("complete", path).await?;
        self.multipart()?.complete_multipart(path, id, parts).await
    }
    async fn abort_multipart(&self, path: &Path, id: &MultipartId) -> object_store::Result<()> {
        self.hooks.before("abort", path).await?;
        self.multipart()?.abort_multipart(path, id).await
    }
}

/// A multipart upload whose parts, completion and abort pass through the
/// interceptor.
#[derive(Debug)]
struct InterceptedUpload<I> {
    inner: Box<dyn MultipartUpload>,
    hooks: Arc<I>,
    location: Path,
}

#[async_trait]
impl<I: Interceptor> MultipartUpload for InterceptedUpload<I> {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        let part = self.inner.put_part(data);
        let (hooks, location) = (self.hooks.clone(), self.location.clone());
        Box::pin(async move {
            hooks.before("put_part", &location).await?;
            part.await
        })
    }
    async fn complete(&mut self) -> object_store::Result<PutResult> {
        self.hooks.before("complete", &self.location).await?;
        self.inner.complete().await
    }
    async fn abort(&mut self) -> object_store::Result<()> {
        self.hooks.before("abort", &self.location).await?;
        self.inner.abort().await
    }
}

impl<I> Display for Intercepted<I> {
    fn fmt(&self, f: &mut Formatter<'_>) -> std::fmt::Result {
        write!(f, "Intercepted({})", self.inner)
    }
}

#[async_trait]
impl<I: Interceptor> ObjectStore for Intercepted<I> {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.hooks.before("put", location).await?;
        let payload = self.hooks.payload(location, payload);
        self.inner.put_opts(location, payload, opts).await
    }
    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.hooks.before("put_multipart", location).await?;
        let inner = self.inner.put_multipart_opts(location, opts).await?;
        Ok(Box::new(InterceptedUpload {
            inner,
            hooks: self.hooks.clone(),
            location: location.clone(),
        }))
    }
    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.hooks.before("get", location).await?;
        self.inner.get_opts(location, options).await
    }
    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }
    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }
    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.hooks
            .before("list", prefix.unwrap_or(&Path::default()))
            .await?;
        self.inner.list_with_delimiter(prefix).await
    }
    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.hooks.before("copy", to).await?;
        self.inner.copy_opts(from, to, options).await
    }
}
