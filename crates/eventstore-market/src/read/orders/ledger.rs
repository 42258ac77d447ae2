//! The ledger of an order stream: for each file of a time range, every
//! gap (with its cause and ids), when the book became reliable again, the
//! anomaly counts of order-level books and the venue checksums verified.
//! Computed by replaying the range, as every reader sees it.

use crate::book::l3::Anomalies;
use crate::book::replay::{Applied, BookState, Gap, Replay};
use crate::read::orders::OrderStreamReader;
use crate::Result;
use eventstore_log::{ReadOptions, StartAt, StopAt, StreamReader};
use std::path::PathBuf;

/// One thing the ledger records, in stream order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry {
    /// From this record the book is not known to be right.
    Gap(Gap),
    /// From this record the book is right again (a snapshot, a clear).
    Reliable { seq: u64, local_ts: i64 },
}

/// The ledger of one file, within the range asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileLedger {
    pub path: PathBuf,
    /// Sequence numbers of the records looked at: `first..next`.
    pub seqs: std::ops::Range<u64>,
    /// Receive times of the first and last records looked at.
    pub first_ts: i64,
    pub last_ts: i64,
    /// The book before the first record looked at, and after the last.
    pub start: BookState,
    pub end: BookState,
    pub entries: Vec<Entry>,
    /// Order-level anomalies within the file (unknown orders, over-cancels,
    /// duplicate adds); zero for a price-level book.
    pub anomalies: Anomalies,
    /// Venue checksums verified within the file: matched and failed.
    pub checksums_ok: u64,
    pub checksums_failed: u64,
}

impl FileLedger {
    pub fn gaps(&self) -> usize {
        self.entries
            .iter()
            .filter(|e| matches!(e, Entry::Gap(_)))
            .count()
    }
}

/// The ledger of a time range, file by file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ledger {
    pub files: Vec<FileLedger>,
}

impl Ledger {
    /// Every entry of every file, in order.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.files.iter().flat_map(|f| f.entries.iter())
    }

    pub fn gaps(&self) -> usize {
        self.files.iter().map(FileLedger::gaps).sum()
    }

    /// The anomaly counts of the whole range.
    pub fn anomalies(&self) -> Anomalies {
        let mut a = Anomalies::default();
        for f in &self.files {
            a.unknown_order += f.anomalies.unknown_order;
            a.over_cancel += f.anomalies.over_cancel;
            a.duplicate_add += f.anomalies.duplicate_add;
        }
        a
    }

    /// Checksums matched and failed in the whole range.
    pub fn checksums(&self) -> (u64, u64) {
        self.files.iter().fold((0, 0), |(a, b), f| {
            (a + f.checksums_ok, b + f.checksums_failed)
        })
    }
}

fn minus(a: Anomalies, b: Anomalies) -> Anomalies {
    Anomalies {
        unknown_order: a.unknown_order - b.unknown_order,
        over_cancel: a.over_cancel - b.over_cancel,
        duplicate_add: a.duplicate_add - b.duplicate_add,
    }
}

impl OrderStreamReader {
    /// The ledger of the records received in `from..to` (to the end
    /// without `to`), one entry per file that holds any of them.
    pub fn ledger(&self, from: i64, to: Option<i64>) -> Result<Ledger> {
        let info = eventstore_log::stream_info(&self.dir)?;
        let at = self.book_at(from)?;
        let mut r = at.replay;
        let mut opts = ReadOptions::from(StartAt::Seq(at.next_seq));
        opts.stop = to.map(StopAt::Time);
        let mut reader = StreamReader::open_dir(&self.dir, opts)?;
        let mut files: Vec<FileLedger> = Vec::new();
        // Where the current file's counts started.
        let mut base = (r.anomalies(), r.checksums());
        let close = |f: &mut FileLedger, r: &Replay, base: (Anomalies, (u64, u64))| {
            f.end = r.state();
            f.anomalies = minus(r.anomalies(), base.0);
            f.checksums_ok = r.checksums().0 - base.1 .0;
            f.checksums_failed = r.checksums().1 - base.1 .1;
        };
        let mut k = 0;
        let mut gaps = Vec::new();
        while let Some(rec) = reader.next()? {
            while k + 1 < info.files.len() && rec.seq >= info.files[k + 1].first_seq {
                k += 1;
            }
            let Some(file) = info.files.get(k) else { break };
            if files.last().is_none_or(|f| f.path != file.path) {
                if let Some(f) = files.last_mut() {
                    close(f, &r, base);
                }
                base = (r.anomalies(), r.checksums());
                files.push(FileLedger {
                    path: file.path.clone(),
                    seqs: rec.seq..rec.seq,
                    first_ts: rec.timestamp,
                    last_ts: rec.timestamp,
                    start: r.state(),
                    end: r.state(),
                    entries: Vec::new(),
                    anomalies: Anomalies::default(),
                    checksums_ok: 0,
                    checksums_failed: 0,
                });
            }
            let before = r.is_reliable();
            r.apply_payload(rec.seq, rec.payload, &mut |_, a| {
                if let Applied::Gap(g) = a {
                    gaps.push(g);
                }
            })
            .map_err(|reason| self.bad_record(rec.seq, reason))?;
            let Some(f) = files.last_mut() else { continue };
            f.seqs.end = rec.seq + 1;
            f.last_ts = rec.timestamp;
            f.entries.extend(gaps.drain(..).map(Entry::Gap));
            if r.is_reliable() && !before {
                f.entries.push(Entry::Reliable {
                    seq: rec.seq,
                    local_ts: rec.timestamp,
                });
            }
        }
        if let Some(f) = files.last_mut() {
            close(f, &r, base);
        }
        Ok(Ledger { files })
    }
}
