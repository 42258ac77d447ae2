//! `OrderStreamReader`: the book of an order stream (L2 levels or L3
//! orders) at any time, and every update after it.
//!
//! Every file of the stream has a book snapshot as of its first record
//! (`<file>.log.book`, see [`crate::book::snapshot`]), built from the one before
//! it when missing (on first read, at the end of an import, or before an
//! upload). Reaching a time T finds the first record at or after T through
//! the log's index, loads the snapshot of the file holding it, and replays
//! that file's records before it: never more than one file.

mod ledger;
mod periodic;
mod snapshots;
mod stream;

pub use crate::book::snapshot::NEXT_BOOK;
pub use ledger::{Entry, FileLedger, Ledger};
pub use periodic::{book_columns, BookRow, Periodic};
pub use stream::{OrderStream, Update};

use crate::book::replay::{Applied, BookKind, Replay};
use crate::read::files::Files;
use crate::read::trades::Blocks;
use crate::records::level::{BookLevel, FLAG_SNAPSHOT};
use crate::records::order::OrderEvent;
use crate::{Error, Result, StreamMeta};
use eventstore_log::{ReadOptions, StartAt, StreamName, StreamReader};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};

/// Reads the book of one order stream.
pub struct OrderStreamReader {
    dir: PathBuf,
    name: String,
    meta: StreamMeta,
    kind: BookKind,
    /// Write snapshots that are missing (ignored where the folder is read-only).
    persist: bool,
}

/// The book as of a time.
#[derive(Clone, Debug)]
pub struct BookAt {
    /// The book and its feed state after every record before `next_seq`.
    pub replay: Replay,
    /// The first record at or after the time (the next update), or the
    /// stream's end.
    pub next_seq: u64,
    /// Records replayed after the snapshot to reach the time.
    pub replayed: u64,
    /// The file whose snapshot was the starting point.
    pub file: PathBuf,
}

impl BookAt {
    /// The book as the stored records that rebuild it, as of `ts`: a
    /// clear, then every level or order, each flagged snapshot and the last
    /// one also flagged last (see [`Replay::snapshot_batch`]), each encoded
    /// as the stream stores it. What a subscriber with the book receives
    /// before the stored records from [`BookAt::next_seq`].
    pub fn records(&self, ts: i64) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        self.replay.snapshot_batch(ts, |a| match a {
            Applied::Level(l) => out.push(l.encode().to_vec()),
            Applied::Order(o) => out.push(o.encode().to_vec()),
            Applied::Gap(_) => {}
        });
        out
    }

    /// The book alone as of `ts`: the records of [`BookAt::records`]
    /// without the diffs a venue's sequencing still keeps for a later
    /// snapshot (they are in the book already, and were received before
    /// `ts`). What a replay starting at `ts` begins with.
    pub fn book_records(&self, ts: i64) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        self.replay.snapshot_batch(ts, |a| match a {
            Applied::Level(l) if l.flags & FLAG_SNAPSHOT != 0 => out.push(l.encode().to_vec()),
            Applied::Order(o) if o.flags & FLAG_SNAPSHOT != 0 => out.push(o.encode().to_vec()),
            _ => {}
        });
        out
    }
}

/// An order stream's records in sequence order from `from_seq`, received
/// before `to_ns`: compact blocks decoded straight into records (framed
/// files record by record), a block at a time.
pub(super) struct Records {
    source: Source,
    /// The next record of the chunk.
    at: usize,
}

enum Source {
    L2(Box<Blocks<Vec<BookLevel>>>, Vec<BookLevel>),
    L3(Box<Blocks<Vec<OrderEvent>>>, Vec<OrderEvent>),
}

/// One record of [`Records`].
#[derive(Clone, Copy, Debug)]
pub(super) enum Rec {
    Level(BookLevel),
    Order(OrderEvent),
}

impl Rec {
    /// Its receive time.
    pub(super) fn ts(&self) -> i64 {
        match self {
            Rec::Level(l) => l.local_ts,
            Rec::Order(o) => o.local_ts,
        }
    }

    /// Apply it to `r` as record `seq`.
    pub(super) fn apply(&self, seq: u64, r: &mut Replay, emit: &mut impl FnMut(u64, Applied)) {
        match self {
            Rec::Level(l) => r.apply_level(seq, l, emit),
            Rec::Order(o) => r.apply_order(seq, o, emit),
        }
    }
}

impl Records {
    pub(super) fn open(
        dir: &Path,
        kind: BookKind,
        from_seq: u64,
        to_ns: Option<i64>,
    ) -> Result<Records> {
        let stop = crate::read::trades::seq_at(dir, to_ns, u64::MAX)?;
        Self::open_seqs(dir, kind, from_seq, stop)
    }

    /// The records with sequence numbers in `[from_seq, stop)`.
    pub(super) fn open_seqs(
        dir: &Path,
        kind: BookKind,
        from_seq: u64,
        stop: u64,
    ) -> Result<Records> {
        let source = match kind {
            BookKind::L2 => Source::L2(
                Box::new(Blocks::open_seqs(dir, from_seq, stop)?),
                Vec::new(),
            ),
            BookKind::L3 => Source::L3(
                Box::new(Blocks::open_seqs(dir, from_seq, stop)?),
                Vec::new(),
            ),
        };
        Ok(Records { source, at: 0 })
    }

    /// The next record and its sequence number; `None` at the end.
    pub(super) fn next(&mut self) -> Result<Option<(u64, Rec)>> {
        macro_rules! next {
            ($b:expr, $v:expr, $wrap:path) => {{
                if self.at == $v.len() {
                    $v.clear();
                    self.at = 0;
                    if $b.read_into($v, 4096)? == 0 {
                        return Ok(None);
                    }
                }
                let k = self.at;
                self.at += 1;
                Ok(Some(($b.read_seq() + k as u64, $wrap($v[k]))))
            }};
        }
        match &mut self.source {
            Source::L2(b, v) => next!(b, v, Rec::Level),
            Source::L3(b, v) => next!(b, v, Rec::Order),
        }
    }
}

impl OrderStreamReader {
    /// Open the order stream `name` under `root`.
    pub fn open(root: &Path, name: &StreamName) -> Result<OrderStreamReader> {
        let mut r = Self::open_dir(&name.dir(root))?;
        r.name = name.to_string();
        Ok(r)
    }

    /// Open the order stream in folder `dir`.
    pub fn open_dir(dir: &Path) -> Result<OrderStreamReader> {
        let meta = StreamMeta::load(dir)?.ok_or_else(|| Error::Meta {
            path: dir.join(crate::records::meta::META_FILE),
            reason: "no market metadata: not a market stream".into(),
        })?;
        let kind = BookKind::of_stream(meta.kind).ok_or_else(|| Error::WrongKind {
            stream: dir.display().to_string(),
            holds: meta.kind.to_string(),
            wanted: "order book updates (book_l2) or order events (orders_l3)",
        })?;
        Ok(OrderStreamReader {
            dir: dir.to_path_buf(),
            name: dir.display().to_string(),
            meta,
            kind,
            persist: true,
        })
    }

    /// Do not write missing snapshots (they are still built in memory).
    pub fn read_only(mut self) -> Self {
        self.persist = false;
        self
    }

    pub fn meta(&self) -> &StreamMeta {
        &self.meta
    }

    pub fn kind(&self) -> BookKind {
        self.kind
    }

    fn files(&self) -> Result<Files> {
        Files::list(&self.dir)
    }

    fn bad_record(&self, seq: u64, reason: String) -> Error {
        Error::BadRecord {
            stream: self.name.clone(),
            seq,
            reason,
        }
    }

    /// The sequence number of the first record received at or after `t`
    /// (`None`: there is none yet).
    fn seq_at(&self, t: i64) -> Result<Option<u64>> {
        let mut r = StreamReader::open_dir(&self.dir, ReadOptions::from(StartAt::Time(t)))?;
        Ok(r.next()?.map(|rec| rec.seq))
    }

    /// The book as of `t` (every record received before `t` applied).
    pub fn book_at(&self, t: i64) -> Result<BookAt> {
        let files = self.files()?;
        if files.len() == 0 {
            let mut replay = Replay::new(self.kind);
            self.meta.configure(&mut replay);
            return Ok(BookAt {
                replay,
                next_seq: 0,
                replayed: 0,
                file: PathBuf::new(),
            });
        }
        let seq = self.seq_at(t)?;
        let k = match seq {
            Some(s) => files.holding(s)?,
            None => files.len() - 1,
        };
        let mut r = self.state_at_file(&files, k)?;
        let first = files.seq(k)?;
        let replayed = self.replay(&mut r, first, seq, &[], |_, _| Ok(()))?;
        let next_seq = seq.unwrap_or(first + replayed);
        Ok(BookAt {
            replay: r,
            next_seq,
            replayed,
            file: files.path(k).to_path_buf(),
        })
    }

    /// The book as of `from` as one snapshot batch, then every update
    /// received before `to` (all of them without `to`), in the order the
    /// book applied them, with gaps where the venue's ids break.
    pub fn stream(&self, from: i64, to: Option<i64>) -> Result<OrderStream> {
        let at = self.book_at(from)?;
        let mut queue = VecDeque::new();
        let reliable = at.replay.is_reliable();
        at.replay.snapshot_batch(from, |a| {
            queue.push_back(Update {
                seq: None,
                applied: a,
                reliable,
            })
        });
        Ok(OrderStream {
            replay: at.replay,
            reader: Records::open(&self.dir, self.kind, at.next_seq, to)?,
            queue,
        })
    }

    /// The best `depth` levels of each side at `from_ns`, `from_ns +
    /// step`, ... before `to_ns` (or up to the last record). Times are ns
    /// since the epoch; `step` is a duration, so the two cannot be swapped.
    pub fn every(
        &self,
        from_ns: i64,
        to_ns: Option<i64>,
        step: std::time::Duration,
        depth: usize,
    ) -> Result<Periodic> {
        let every_ns = i64::try_from(step.as_nanos()).unwrap_or(i64::MAX);
        let (from, to) = (from_ns, to_ns);
        if every_ns <= 0 {
            return Err(Error::InvalidArgument(
                "the interval between book snapshots must be positive".into(),
            ));
        }
        let at = self.book_at(from)?;
        Ok(Periodic {
            replay: at.replay,
            reader: Records::open(&self.dir, self.kind, at.next_seq, to)?,
            next_ts: from,
            to,
            every_ns,
            depth,
            done: false,
            held: None,
        })
    }
}
