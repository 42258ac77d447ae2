//! [`OrderStream`]: every update of an order stream from a time, each
//! applied to the book as it is returned.

use crate::book::replay::{Applied, Replay};
use crate::{Error, Result};
use eventstore_log::StreamReader;
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
    pub(super) name: String,
    pub(super) replay: Replay,
    pub(super) reader: StreamReader,
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
            let Some(rec) = self.reader.next()? else {
                return Ok(None);
            };
            let q = &mut self.queue;
            let before = q.len();
            self.replay
                .apply_payload(rec.seq, rec.payload, &mut |seq, applied| {
                    q.push_back(Update {
                        seq: Some(seq),
                        applied,
                        reliable: false,
                    })
                })
                .map_err(|reason| Error::BadRecord {
                    stream: self.name.clone(),
                    seq: rec.seq,
                    reason,
                })?;
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
