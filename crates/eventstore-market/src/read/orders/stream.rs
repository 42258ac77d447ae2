//! [`OrderStream`]: every update of an order stream from a time, each
//! applied to the book as it is returned.

use crate::book::replay::{Applied, Replay};
use crate::Result;
use std::collections::VecDeque;

/// One item of [`OrderStream`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Update {
    /// The stored record's sequence number; `None` for the records of the
    /// opening snapshot batch (the book as of the start time).
    pub seq: Option<u64>,
    pub applied: Applied,
    /// The book is known to be right after the record this update came
    /// from (false from a gap until the next snapshot).
    pub reliable: bool,
}

/// The updates of [`OrderStreamReader::stream`](crate::OrderStreamReader::stream).
pub struct OrderStream {
    pub(super) replay: Replay,
    pub(super) reader: super::Records,
    pub(super) queue: VecDeque<Update>,
}

impl OrderStream {
    /// The book as of the last update returned.
    pub fn book(&self) -> &Replay {
        &self.replay
    }

    /// The next update, or `None` at the end of the range.
    pub fn try_next(&mut self) -> Result<Option<Update>> {
        loop {
            if let Some(u) = self.queue.pop_front() {
                return Ok(Some(u));
            }
            let Some((seq, rec)) = self.reader.next()? else {
                return Ok(None);
            };
            let q = &mut self.queue;
            let before = q.len();
            rec.apply(seq, &mut self.replay, &mut |seq, applied| {
                q.push_back(Update {
                    seq: Some(seq),
                    applied,
                    reliable: false,
                })
            });
            let reliable = self.replay.is_reliable();
            for u in self.queue.iter_mut().skip(before) {
                u.reliable = reliable;
            }
        }
    }
}

impl Iterator for OrderStream {
    type Item = Result<Update>;
    fn next(&mut self) -> Option<Result<Update>> {
        self.try_next().transpose()
    }
}
