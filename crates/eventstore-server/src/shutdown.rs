//! Graceful shutdown of calls that never end by themselves.

use std::pin::Pin;
use tokio::sync::watch;
use tonic::Status;

/// A response stream that ends with `UNAVAILABLE` when the server shuts
/// down, so that graceful shutdown does not wait for calls that never end
/// (following subscriptions) and clients know to reconnect.
pub(crate) struct Stoppable<S> {
    inner: S,
    stop: Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
    done: bool,
}

impl<S> Stoppable<S> {
    pub(crate) fn new(inner: S, mut stop: watch::Receiver<bool>) -> Self {
        Stoppable {
            inner,
            stop: Box::pin(async move {
                let _ = stop.wait_for(|s| *s).await;
            }),
            done: false,
        }
    }
}

impl<T, S: tokio_stream::Stream<Item = std::result::Result<T, Status>> + Unpin> tokio_stream::Stream
    for Stoppable<S>
{
    type Item = std::result::Result<T, Status>;
    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::task::Poll;
        if self.done {
            return Poll::Ready(None);
        }
        if self.stop.as_mut().poll(cx).is_ready() {
            self.done = true;
            return Poll::Ready(Some(Err(Status::unavailable(
                "the server is shutting down",
            ))));
        }
        Pin::new(&mut self.inner).poll_next(cx)
    }
}
