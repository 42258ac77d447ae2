//! A store wrapper that can delay, fail or alter requests: how the tests
//! inject faults (failing and stalled requests, damaged objects) and how the
//! benchmarks add a remote region's latency to a local server.

use async_trait::async_trait;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, UploadPart,
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
#[derive(Debug)]
pub struct Intercepted<I> {
    inner: Arc<dyn ObjectStore>,
    /// The interceptor (its counters, for instance).
    pub hooks: Arc<I>,
}

impl<I: Interceptor> Intercepted<I> {
    pub fn new(inner: Arc<dyn ObjectStore>, hooks: I) -> Self {
        Intercepted {
            inner,
            hooks: Arc::new(hooks),
        }
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
