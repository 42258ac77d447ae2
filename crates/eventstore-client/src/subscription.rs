//! A subscription: records in order from a position, reconnecting after a
//! dropped connection or a server restart and resuming after the last
//! record delivered.

use crate::client::retryable;
use crate::{Client, Error, Result};
use eventstore_protocol::proto::{self, subscribe_request::Start};
use eventstore_protocol::Event;
use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;
use tokio::sync::mpsc;

/// Records of a subscription, in order: an async stream of [`Event`]s
/// (or of whole batches with [`Subscription::next_batch`]). It ends at the
/// stop bound, or at the end of the stream when not following.
pub struct Subscription {
    rx: mpsc::Receiver<Result<Vec<Event>>>,
    buf: VecDeque<Event>,
}

impl Subscription {
    pub(crate) fn new(rx: mpsc::Receiver<Result<Vec<Event>>>) -> Subscription {
        Subscription {
            rx,
            buf: VecDeque::new(),
        }
    }

    /// The next record.
    pub async fn next(&mut self) -> Option<Result<Event>> {
        std::future::poll_fn(|cx| self.poll_event(cx)).await
    }

    /// The next batch, as the server sent it (records already buffered by
    /// [`Subscription::next`] first).
    pub async fn next_batch(&mut self) -> Option<Result<Vec<Event>>> {
        if !self.buf.is_empty() {
            return Some(Ok(self.buf.drain(..).collect()));
        }
        self.rx.recv().await
    }

    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Event>>> {
        loop {
            if let Some(e) = self.buf.pop_front() {
                return Poll::Ready(Some(Ok(e)));
            }
            match self.rx.poll_recv(cx) {
                Poll::Ready(Some(Ok(b))) => self.buf.extend(b),
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl futures::Stream for Subscription {
    type Item = Result<Event>;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_event(cx)
    }
}

pub(crate) async fn subscribe_loop(
    client: Client,
    mut req: proto::SubscribeRequest,
    tx: mpsc::Sender<Result<Vec<Event>>>,
) {
    let mut next: Option<u64> = match req.start {
        Some(Start::FromSeq(s)) => Some(s),
        _ => None,
    };
    let mut backoff = eventstore_backoff::Backoff::reconnect();
    let mut since = Instant::now();
    loop {
        if let Some(n) = next {
            req.start = Some(Start::FromSeq(n));
            // The book was delivered: resume with stored records only.
            req.with_book = false;
        }
        let err = match client.rpc.clone().subscribe(req.clone()).await {
            Ok(resp) => {
                let mut s = resp.into_inner();
                loop {
                    // Stop reading (and so end the call on the server) as
                    // soon as the Subscription is dropped.
                    let m = tokio::select! {
                        m = s.message() => m,
                        _ = tx.closed() => return,
                    };
                    match m {
                        Ok(Some(batch)) => {
                            backoff.reset();
                            since = Instant::now();
                            let events: Vec<Event> = batch
                                .records
                                .into_iter()
                                .filter(|r| r.snapshot || next.is_none_or(|n| r.seq >= n))
                                .map(Event::from)
                                .collect();
                            if let Some(last) = events.iter().rev().find(|e| !e.snapshot) {
                                next = Some(last.seq + 1);
                            }
                            if !events.is_empty() && tx.send(Ok(events)).await.is_err() {
                                return;
                            }
                        }
                        Ok(None) => return,
                        Err(e) => break e,
                    }
                }
            }
            Err(e) => e,
        };
        if !retryable(&err) || since.elapsed() > client.opts.reconnect_for {
            let _ = tx.send(Err(Error::Status(err))).await;
            return;
        }
        if tx.is_closed() {
            return;
        }
        tokio::time::sleep(backoff.next_delay()).await;
    }
}
