//! Accepting connections so that no client can starve the server: a cap
//! on open connections, a deadline for a new connection's first bytes,
//! and an accept loop that outlives running out of file descriptors.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Sleep;
use tonic::transport::server::{Connected, TcpConnectInfo};

/// Bytes a new connection must send before its handshake deadline: the
/// HTTP/2 preface (24 bytes) and the header of the client's SETTINGS frame
/// (9 bytes) that must follow it; over TLS, the start of the ClientHello.
pub(crate) const HANDSHAKE_BYTES: usize = 33;

/// After accept fails for lack of file descriptors, wait this long before
/// accepting again (a busy retry would spin on the same error).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// The listener as the stream of connections tonic serves.
pub(crate) struct Incoming {
    listener: TcpListener,
    permits: Arc<Semaphore>,
    handshake: Duration,
    backoff: Option<Pin<Box<Sleep>>>,
    /// Connections turned away at the cap since the last report.
    refused: u64,
}

impl Incoming {
    pub fn new(listener: TcpListener, max_connections: usize, handshake: Duration) -> Incoming {
        Incoming {
            listener,
            permits: Arc::new(Semaphore::new(max_connections.max(1))),
            handshake,
            backoff: None,
            refused: 0,
        }
    }
}

impl tokio_stream::Stream for Incoming {
    type Item = io::Result<Guarded>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if let Some(b) = this.backoff.as_mut() {
                if b.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                this.backoff = None;
            }
            let (stream, remote) = match this.listener.poll_accept(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(c)) => c,
                // Out of descriptors (EMFILE, ENFILE) or memory, or a
                // connection reset before it was accepted: never the end of
                // the server. Wait a little and accept again.
                Poll::Ready(Err(e)) => {
                    if e.raw_os_error().is_some_and(is_resource_limit) {
                        this.backoff = Some(Box::pin(tokio::time::sleep(ACCEPT_BACKOFF)));
                    }
                    continue;
                }
            };
            let Ok(permit) = this.permits.clone().try_acquire_owned() else {
                // At the cap: close at once, so that the client sees a
                // refused connection instead of a call that hangs.
                this.refused += 1;
                if this.refused.is_power_of_two() {
                    eprintln!(
                        "eventstore: connection from {remote} refused: at the connection limit ({} refused so far)",
                        this.refused
                    );
                }
                drop(stream);
                continue;
            };
            let _ = stream.set_nodelay(true);
            return Poll::Ready(Some(Ok(Guarded {
                info: TcpConnectInfo {
                    local_addr: stream.local_addr().ok(),
                    remote_addr: Some(remote),
                },
                stream,
                read: 0,
                deadline: Some(Box::pin(tokio::time::sleep(this.handshake))),
                _permit: permit,
            })));
        }
    }
}

/// Whether an accept error is a lack of descriptors or memory.
fn is_resource_limit(errno: i32) -> bool {
    const EMFILE: i32 = 24;
    const ENFILE: i32 = 23;
    const ENOBUFS: i32 = 105;
    const ENOMEM: i32 = 12;
    matches!(errno, EMFILE | ENFILE | ENOBUFS | ENOMEM)
}

/// An accepted connection: holds its place under the cap until dropped,
/// and fails with `TimedOut` if its first bytes do not arrive in time.
pub(crate) struct Guarded {
    stream: TcpStream,
    info: TcpConnectInfo,
    read: usize,
    deadline: Option<Pin<Box<Sleep>>>,
    _permit: OwnedSemaphorePermit,
}

impl Connected for Guarded {
    type ConnectInfo = TcpConnectInfo;
    fn connect_info(&self) -> TcpConnectInfo {
        self.info.clone()
    }
}

impl AsyncRead for Guarded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        let r = Pin::new(&mut this.stream).poll_read(cx, buf);
        if let Some(d) = this.deadline.as_mut() {
            if let Poll::Ready(Ok(())) = r {
                this.read += buf.filled().len() - before;
                if this.read >= HANDSHAKE_BYTES {
                    this.deadline = None;
                    return r;
                }
            }
            // Still waiting for the first bytes: the deadline's timer wakes
            // this read when it passes.
            if d.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "no HTTP/2 handshake within the handshake timeout",
                )));
            }
        }
        r
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}
