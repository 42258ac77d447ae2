//! `OrderStreamReader`: the book of an order stream (L2 levels or L3
//! orders) at any time, and every update after it.
//!
//! Every file of the stream has a book snapshot as of its first record
//! (`<file>.log.book`, see [`crate::book::snapshot`]), built from the one before
//! it when missing (on first read, at the end of an import, or before an
//! upload). Reaching a time T finds the first record at or after T through
//! the log's index, loads the snapshot of the file holding it, and replays
//! that file's records before it: never more than one file.

use crate::book::replay::{Applied, BookKind, Replay};
use crate::book::snapshot::{self, snapshot_path};
use crate::{Error, Result, StreamMeta};
use eventstore_log::{files, FileEntry, ReadOptions, StartAt, StopAt, StreamName, StreamReader};
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
}

/// One item of [`OrderStream`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Update {
    /// The stored record's sequence number; `None` for the records of the
    /// opening snapshot batch (the book as of the start time).
    pub seq: Option<u64>,
    pub applied: Applied,
}

/// A book row of [`OrderStreamReader::every`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BookRow {
    /// The book after every record received before this time.
    pub ts: i64,
    pub reliable: bool,
    /// Best first: (price, size).
    pub bids: Vec<(i64, i64)>,
    pub asks: Vec<(i64, i64)>,
}

/// Names of the columns of a book row at `depth`: `ts`, `reliable`, then
/// `bid_price_<i>`, `bid_size_<i>`, `ask_price_<i>`, `ask_size_<i>` for
/// each level from 0 (the best).
pub fn book_columns(depth: usize) -> Vec<String> {
    let mut v = vec!["ts".to_string(), "reliable".to_string()];
    for i in 0..depth {
        for c in ["bid_price", "bid_size", "ask_price", "ask_size"] {
            v.push(format!("{c}_{i}"));
        }
    }
    v
}

/// The book after a stream's last sealed file (see [`OrderStreamReader::build_snapshots`]).
pub const NEXT_BOOK: &str = "book.next";

/// A stream's files, with their first sequence numbers read from their
/// headers only when needed (a search over a day of minutely files reads
/// about a dozen).
struct Files {
    dir: PathBuf,
    list: Vec<FileEntry>,
    seqs: std::cell::RefCell<Vec<Option<u64>>>,
}

impl Files {
    fn len(&self) -> usize {
        self.list.len()
    }

    fn path(&self, i: usize) -> &Path {
        &self.list[i].path
    }

    /// The first sequence number of file `i`.
    fn seq(&self, i: usize) -> Result<u64> {
        if let Some(s) = self.seqs.borrow()[i] {
            return Ok(s);
        }
        let entry = &self.list[i];
        let h = match eventstore_log::read_header(&entry.path) {
            Err(eventstore_log::Error::IoAt { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                // Sealed (renamed) since the listing.
                eventstore_log::read_header(&files::sealed_path(&self.dir, entry.start_ns))?
            }
            h => h?,
        };
        self.seqs.borrow_mut()[i] = Some(h.first_seq);
        Ok(h.first_seq)
    }

    /// The last file whose first record is at or before `seq` (the first
    /// file if none is).
    fn holding(&self, seq: u64) -> Result<usize> {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            if self.seq(mid)? <= seq {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(lo.max(1) - 1)
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
        let list = files::list_files(&self.dir)?;
        Ok(Files {
            dir: self.dir.clone(),
            seqs: std::cell::RefCell::new(vec![None; list.len()]),
            list,
        })
    }

    fn bad_record(&self, seq: u64, reason: String) -> Error {
        Error::BadRecord {
            stream: self.name.clone(),
            seq,
            reason,
        }
    }

    /// Apply the records `[from, to)` to `r` (`to: None`: to the end);
    /// returns how many. `at_file(seq, r)` is called before the record
    /// `seq` when it starts one of `starts`.
    fn replay(
        &self,
        r: &mut Replay,
        from: u64,
        to: Option<u64>,
        starts: &[u64],
        mut at_file: impl FnMut(u64, &Replay) -> Result<()>,
    ) -> Result<u64> {
        if to.is_some_and(|t| t <= from) {
            return Ok(0);
        }
        let mut opts = ReadOptions::from(StartAt::Seq(from));
        opts.stop = to.map(StopAt::Seq);
        let mut reader = StreamReader::open_dir(&self.dir, opts)?;
        let mut n = 0;
        let mut next_start = starts.iter().copied().filter(|s| *s > from).peekable();
        let mut none = |_, _| {};
        while let Some(rec) = reader.next()? {
            while next_start.peek().is_some_and(|s| *s <= rec.seq) {
                if let Some(s) = next_start.next() {
                    at_file(s, r)?;
                }
            }
            r.apply_payload(rec.seq, rec.payload, &mut none)
                .map_err(|reason| self.bad_record(rec.seq, reason))?;
            n += 1;
        }
        Ok(n)
    }

    fn store(&self, file: &Path, r: &Replay, first_seq: u64) -> Result<()> {
        let path = snapshot_path(file);
        let io = |e| Error::Io {
            path: path.clone(),
            source: e,
        };
        let tmp = path.with_extension("book.tmp");
        std::fs::write(&tmp, snapshot::encode(r, first_seq).map_err(io)?).map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)
    }

    /// The state as of the first record of file `k`: its snapshot, or built
    /// from the nearest earlier one (writing those missing on the way).
    fn state_at_file(&self, files: &Files, k: usize) -> Result<Replay> {
        let load = |i: usize| -> std::result::Result<Option<Replay>, Error> {
            let path = snapshot_path(files.path(i));
            let bytes = match std::fs::read(&path) {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(Error::Io { path, source: e }),
            };
            match snapshot::decode(&bytes) {
                Ok((r, first)) if first == files.seq(i)? && r.kind == self.kind => {
                    Ok(Some(r))
                }
                Ok((r, first)) => Err(Error::Meta {
                    path,
                    reason: format!(
                        "a snapshot of a {:?} book before record {first}; the file starts at record {}",
                        r.kind,
                        files.seq(i)?
                    ),
                }),
                Err(reason) => Err(Error::Meta { path, reason }),
            }
        };
        let mut j = k;
        let mut damaged = None;
        let mut start = loop {
            match load(j) {
                Ok(Some(r)) => break r,
                Ok(None) => {}
                Err(e) => {
                    damaged.get_or_insert(e);
                }
            }
            if j == 0 {
                // The first file: the book left by files since removed (an
                // upload that deleted them), else an empty book, unless
                // earlier files were removed and a damaged snapshot cannot be rebuilt.
                if let Some(r) = self.next_book(files.seq(0)?) {
                    if self.persist {
                        let _ = self.store(files.path(0), &r, files.seq(0)?);
                    }
                    break r;
                }
                if let Some(e) = damaged.filter(|_| files.seq(0).map_or(true, |s| s != 0)) {
                    return Err(e);
                }
                let r = Replay::new(self.kind);
                if self.persist {
                    let _ = self.store(files.path(0), &r, files.seq(0)?);
                }
                break r;
            }
            j -= 1;
        };
        if j == k {
            return Ok(start);
        }
        let starts = (j + 1..=k)
            .map(|i| files.seq(i))
            .collect::<Result<Vec<u64>>>()?;
        let mut i = j;
        self.replay(
            &mut start,
            files.seq(j)?,
            Some(files.seq(k)?),
            &starts,
            |_, r| {
                i += 1;
                if self.persist {
                    let _ = self.store(files.path(i), r, files.seq(i)?);
                }
                Ok(())
            },
        )?;
        // Files without records in between still get their snapshot.
        while i < k {
            i += 1;
            if self.persist {
                let _ = self.store(files.path(i), &start, files.seq(i)?);
            }
        }
        Ok(start)
    }

    /// The book after the last sealed file, kept as `book.next` by
    /// [`Self::build_snapshots`], if it is the one before record `seq`.
    fn next_book(&self, seq: u64) -> Option<Replay> {
        let b = std::fs::read(self.dir.join(NEXT_BOOK)).ok()?;
        match snapshot::decode(&b) {
            Ok((r, first)) if first == seq && r.kind == self.kind => Some(r),
            _ => None,
        }
    }

    /// Write the snapshot of every file that lacks one; returns how many
    /// files the stream has. When the last file is sealed, the book after
    /// it is also kept (`book.next` in the stream's folder), so that the
    /// next file gets its snapshot even if this one is deleted first (an
    /// upload with `--delete-after-upload`). Errors writing them are
    /// returned (unlike the snapshots written on the way by reads).
    pub fn build_snapshots(&self) -> Result<usize> {
        let files = self.files()?;
        if files.len() == 0 {
            return Ok(0);
        }
        let last = files.len() - 1;
        let mut r = self.state_at_file(&files, last)?;
        let next = self.dir.join(NEXT_BOOK);
        let have = std::fs::read(&next)
            .ok()
            .and_then(|b| snapshot::first_seq(&b).ok());
        let last_first = files.seq(last)?;
        if files.list[last].sealed && have.is_none_or(|s| s <= last_first) {
            let n = self.replay(&mut r, last_first, None, &[], |_, _| Ok(()))?;
            let io = |e| Error::Io {
                path: next.clone(),
                source: e,
            };
            let tmp = self.dir.join(format!("{NEXT_BOOK}.tmp"));
            std::fs::write(&tmp, snapshot::encode(&r, last_first + n).map_err(io)?).map_err(io)?;
            std::fs::rename(&tmp, &next).map_err(io)?;
        }
        for f in &files.list {
            let p = snapshot_path(&f.path);
            if !p.exists() {
                return Err(Error::Io {
                    path: p,
                    source: std::io::Error::other("the snapshot could not be written"),
                });
            }
        }
        Ok(files.len())
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
            return Ok(BookAt {
                replay: Replay::new(self.kind),
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
        at.replay.snapshot_batch(from, |a| {
            queue.push_back(Update {
                seq: None,
                applied: a,
            })
        });
        let mut opts = ReadOptions::from(StartAt::Seq(at.next_seq));
        opts.stop = to.map(StopAt::Time);
        Ok(OrderStream {
            name: self.name.clone(),
            replay: at.replay,
            reader: StreamReader::open_dir(&self.dir, opts)?,
            queue,
        })
    }

    /// The best `depth` levels of each side at `from`, `from + every`, ...
    /// before `to` (or up to the last record).
    pub fn every(
        &self,
        from: i64,
        to: Option<i64>,
        every_ns: i64,
        depth: usize,
    ) -> Result<Periodic> {
        if every_ns <= 0 {
            return Err(Error::InvalidArgument(
                "the interval between book snapshots must be positive".into(),
            ));
        }
        let at = self.book_at(from)?;
        let mut opts = ReadOptions::from(StartAt::Seq(at.next_seq));
        opts.stop = to.map(StopAt::Time);
        Ok(Periodic {
            name: self.name.clone(),
            replay: at.replay,
            reader: StreamReader::open_dir(&self.dir, opts)?,
            next_ts: from,
            to,
            every_ns,
            depth,
            done: false,
            held: None,
            held_payload: Vec::new(),
        })
    }
}

/// The updates of [`OrderStreamReader::stream`].
pub struct OrderStream {
    name: String,
    replay: Replay,
    reader: StreamReader,
    queue: VecDeque<Update>,
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
            self.replay
                .apply_payload(rec.seq, rec.payload, &mut |seq, applied| {
                    q.push_back(Update {
                        seq: Some(seq),
                        applied,
                    })
                })
                .map_err(|reason| Error::BadRecord {
                    stream: self.name.clone(),
                    seq: rec.seq,
                    reason,
                })?;
        }
    }
}

/// The rows of [`OrderStreamReader::every`].
pub struct Periodic {
    name: String,
    replay: Replay,
    reader: StreamReader,
    next_ts: i64,
    to: Option<i64>,
    every_ns: i64,
    depth: usize,
    done: bool,
    /// A record read but not applied yet (sequence number and time; its
    /// payload in `held_payload`): it lies after the next row's time.
    held: Option<(u64, i64)>,
    held_payload: Vec<u8>,
}

impl Periodic {
    fn row(&mut self) -> BookRow {
        let (bids, asks) = self.replay.depth(self.depth);
        let row = BookRow {
            ts: self.next_ts,
            reliable: self.replay.is_reliable(),
            bids,
            asks,
        };
        self.next_ts = self.next_ts.saturating_add(self.every_ns);
        row
    }

    /// The next row, or `None` at the end.
    pub fn try_next(&mut self) -> Result<Option<BookRow>> {
        if self.to.is_some_and(|t| self.next_ts >= t) {
            return Ok(None);
        }
        let mut none = |_, _| {};
        let name = &self.name;
        let bad = |seq, reason| Error::BadRecord {
            stream: name.clone(),
            seq,
            reason,
        };
        loop {
            if let Some((seq, ts)) = self.held {
                if ts >= self.next_ts {
                    return Ok(Some(self.row()));
                }
                self.held = None;
                self.replay
                    .apply_payload(seq, &self.held_payload, &mut none)
                    .map_err(|r| bad(seq, r))?;
                continue;
            }
            if self.done {
                break;
            }
            let Some(rec) = self.reader.next()? else {
                self.done = true;
                break;
            };
            if rec.timestamp >= self.next_ts {
                // The row comes first; the record is applied after it.
                self.held_payload.clear();
                self.held_payload.extend_from_slice(rec.payload);
                self.held = Some((rec.seq, rec.timestamp));
                continue;
            }
            self.replay
                .apply_payload(rec.seq, rec.payload, &mut none)
                .map_err(|r| bad(rec.seq, r))?;
        }
        // After the last record: rows up to `to`, if there is one.
        match self.to {
            Some(t) if self.next_ts < t => Ok(Some(self.row())),
            _ => Ok(None),
        }
    }
}

impl Iterator for OrderStream {
    type Item = Result<Update>;
    fn next(&mut self) -> Option<Result<Update>> {
        self.try_next().transpose()
    }
}

impl Iterator for Periodic {
    type Item = Result<BookRow>;
    fn next(&mut self) -> Option<Result<BookRow>> {
        self.try_next().transpose()
    }
}
