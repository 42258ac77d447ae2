//! `StreamReader`: reads a stream from the start, a sequence number, a time
//! or its end, up to a bound or following live appends across rolls.

use crate::error::{Error, Result};
use crate::files::{self, FileEntry};
use crate::format::{FileHeader, HEADER_LEN};
use crate::notify::Notifier;
use crate::segment::{self, Segment, Step};
use crate::StreamName;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use eventstore_position::{StartAt, StopAt};

/// What to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadOptions {
    pub start: StartAt,
    pub stop: Option<StopAt>,
    /// Keep waiting for new records at the end, like `tail -f`.
    pub follow: bool,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            start: StartAt::Beginning,
            stop: None,
            follow: false,
        }
    }
}

impl ReadOptions {
    /// Read from `start`.
    pub fn from(start: StartAt) -> Self {
        ReadOptions {
            start,
            ..Default::default()
        }
    }
    /// The records received in `[from_ns, to_ns)` (ns since the epoch;
    /// `None`: from the beginning, to the end).
    pub fn received_in(from_ns: Option<i64>, to_ns: Option<i64>) -> Self {
        ReadOptions {
            start: from_ns.map_or(StartAt::Beginning, StartAt::Time),
            stop: to_ns.map(StopAt::Time),
            ..Default::default()
        }
    }
    /// Stop before `stop`.
    pub fn stop(mut self, stop: StopAt) -> Self {
        self.stop = Some(stop);
        self
    }
    /// Follow live appends.
    pub fn follow(mut self, follow: bool) -> Self {
        self.follow = follow;
        self
    }
}

/// A record borrowed from the reader's memory map: no copy is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    pub seq: u64,
    /// Nanoseconds since the epoch.
    pub timestamp: i64,
    pub payload: &'a [u8],
}

impl Record<'_> {
    /// Copy the record out of the map.
    pub fn to_owned(&self) -> OwnedRecord {
        OwnedRecord {
            seq: self.seq,
            timestamp: self.timestamp,
            payload: self.payload.to_vec(),
        }
    }
}

/// A record with its own copy of the payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedRecord {
    pub seq: u64,
    pub timestamp: i64,
    pub payload: Vec<u8>,
}

/// A record found by `step`: sequence number, timestamp, payload location.
type Found = (u64, i64, (usize, usize));

struct Cursor {
    seg: Segment,
    start_ns: i64,
    pos: usize,
    seq: u64,
}

/// Sealed segments kept mapped for repeated seeks.
const SEGMENT_CACHE: usize = 256;

/// Reads one stream. Not `Sync`; open one reader per thread.
pub struct StreamReader {
    dir: PathBuf,
    opts: ReadOptions,
    files: Vec<FileEntry>,
    headers: HashMap<i64, FileHeader>,
    cache: HashMap<i64, Segment>,
    cur: Option<Cursor>,
    /// Skip records below this sequence number.
    min_seq: u64,
    /// Skip records until one reaches this timestamp.
    min_ts: Option<i64>,
    done: bool,
    notifier: Option<Notifier>,
}

impl StreamReader {
    /// Open the stream `name` under `root`.
    pub fn open(root: &Path, name: &StreamName, opts: ReadOptions) -> Result<StreamReader> {
        Self::open_dir(&name.dir(root), opts)
    }

    /// Open the stream whose folder is `dir`.
    pub fn open_dir(dir: &Path, opts: ReadOptions) -> Result<StreamReader> {
        if !dir.is_dir() {
            return Err(Error::NoSuchStream(dir.to_path_buf()));
        }
        let mut r = StreamReader {
            dir: dir.to_path_buf(),
            opts,
            files: Vec::new(),
            headers: HashMap::new(),
            cache: HashMap::new(),
            cur: None,
            min_seq: 0,
            min_ts: None,
            done: false,
            notifier: None,
        };
        r.refresh()?;
        r.seek(opts.start)?;
        Ok(r)
    }

    /// Re-list the stream's files.
    fn refresh(&mut self) -> Result<()> {
        self.files = files::list_files(&self.dir)?;
        Ok(())
    }

    fn header(&mut self, i: usize) -> Result<FileHeader> {
        let f = &self.files[i];
        if let Some(h) = self.headers.get(&f.start_ns) {
            return Ok(*h);
        }
        // An open file sealed (renamed) between listing and reading is
        // read under its sealed name, as `info` and `verify` do.
        let h = match segment::read_header(&f.path) {
            Err(e) => match files::sealed_since(f) {
                Some(g) => segment::read_header(&g.path)?,
                None => return Err(e),
            },
            Ok(h) => h,
        };
        self.headers.insert(f.start_ns, h);
        Ok(h)
    }

    fn take_segment(&mut self, i: usize) -> Result<Segment> {
        let f = &self.files[i];
        if let Some(s) = self.cache.remove(&f.start_ns) {
            return Ok(s);
        }
        match Segment::open(&f.path) {
            Ok(s) => Ok(s),
            Err(Error::IoAt { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                // Sealed (renamed) between listing and opening.
                let start = f.start_ns;
                self.refresh()?;
                let p = files::sealed_path(&self.dir, start);
                Segment::open(&p)
            }
            Err(e) => Err(e),
        }
    }

    fn park(&mut self) {
        if let Some(c) = self.cur.take() {
            if c.seg.is_sealed() {
                if self.cache.len() >= SEGMENT_CACHE {
                    self.cache.clear();
                }
                self.cache.insert(c.start_ns, c.seg);
            }
        }
    }

    /// Move to `start`, keeping the listing and the mapped files. A seek by
    /// time is a binary search over the files' headers, then over one
    /// file's footer index: no file is scanned from its start.
    pub fn seek(&mut self, start: StartAt) -> Result<()> {
        self.park();
        self.done = false;
        self.min_seq = 0;
        self.min_ts = None;
        if self.files.is_empty() {
            self.refresh()?;
        }
        let n = self.files.len();
        if n == 0 {
            if let StartAt::Seq(s) = start {
                self.min_seq = s;
            }
            if let StartAt::Time(t) = start {
                self.min_ts = Some(t);
            }
            return Ok(());
        }
        let i = match start {
            StartAt::Beginning => 0,
            StartAt::End => n - 1,
            StartAt::Seq(s) => {
                self.min_seq = s;
                self.last_file_where(n, |h| h.first_seq <= s)?
            }
            StartAt::Time(t) => {
                self.min_ts = Some(t);
                self.last_file_where(n, |h| h.prev_max_ts < t)?
            }
        };
        let mut seg = self.take_segment(i)?;
        self.check_neighbours(i, &seg)?;
        let (pos, seq) = match start {
            StartAt::Beginning => (HEADER_LEN, seg.header.first_seq),
            StartAt::End => seg.seek_seq(u64::MAX)?,
            StartAt::Seq(s) => seg.seek_seq(s)?,
            StartAt::Time(t) => seg.seek_time(t)?,
        };
        self.cur = Some(Cursor {
            start_ns: self.files[i].start_ns,
            seg,
            pos,
            seq,
        });
        Ok(())
    }

    /// Before the reader trusts file `i`'s sequence numbers: its header
    /// must name the interval of its file name, it must not start before
    /// the file before it ends, nor end after the file after it starts. A
    /// header copied from another file or stream would otherwise hand out
    /// records under wrong sequence numbers. (A gap is allowed: a mirror
    /// may lack files.)
    fn check_neighbours(&mut self, i: usize, seg: &Segment) -> Result<()> {
        let first = seg.header.first_seq;
        if seg.header.interval_start_ns != self.files[i].start_ns {
            return Err(segment::corrupted(
                &seg.path,
                0,
                "the header's interval start is not the one of the file's name",
            ));
        }
        // A next file whose header does not read (created just before a
        // power loss, say) is reported when the reader reaches it; this
        // file's records stay readable.
        let next = if i + 1 < self.files.len() {
            self.header(i + 1).ok().map(|h| h.first_seq)
        } else {
            None
        };
        if let (Some(n), Some(next)) = (seg.record_count(), next) {
            if first.checked_add(n).is_none_or(|end| end > next) {
                return Err(segment::corrupted(
                    &seg.path,
                    0,
                    &format!(
                        "file holds sequence numbers {first}..{}, but the next file starts at {next}",
                        first.saturating_add(n)
                    ),
                ));
            }
        }
        if i > 0 {
            let prev = self.take_segment(i - 1)?;
            let end = prev
                .record_count()
                .map(|n| prev.header.first_seq.saturating_add(n));
            let prev_path = prev.path.clone();
            self.cache.insert(self.files[i - 1].start_ns, prev);
            if self.cache.len() > SEGMENT_CACHE {
                self.cache.clear();
            }
            match end {
                Some(end) if end > first => {
                    return Err(segment::corrupted(
                        &seg.path,
                        0,
                        &format!(
                            "file starts at sequence {first}, but {} before it ends at {end}",
                            prev_path.display()
                        ),
                    ))
                }
                // A damaged footer: readers walk that file's frames, and
                // the step from it to this file is checked then.
                _ => {}
            }
        }
        Ok(())
    }

    /// The last file (among the first `n`) whose header satisfies `pred`,
    /// which must hold for a prefix of the files; 0 if none.
    fn last_file_where(&mut self, n: usize, pred: impl Fn(&FileHeader) -> bool) -> Result<usize> {
        let (mut lo, mut hi) = (0usize, n);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if pred(&self.header(mid)?) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(lo.saturating_sub(1))
    }

    /// Whether a file after the current one exists (listing the folder
    /// again if the listing has none).
    fn later_file(&mut self) -> Result<bool> {
        let Some(cur) = self.cur.as_ref().map(|c| c.start_ns) else {
            return Ok(false);
        };
        if self.files.iter().any(|f| f.start_ns > cur) {
            return Ok(true);
        }
        self.refresh()?;
        Ok(self.files.iter().any(|f| f.start_ns > cur))
    }

    /// Move the cursor to the file after the current one, if it exists.
    fn advance_file(&mut self) -> Result<bool> {
        let after = self.cur.as_ref().map(|c| c.start_ns);
        let pick = |files: &[FileEntry]| match after {
            Some(a) => files.iter().position(|f| f.start_ns > a),
            None => (!files.is_empty()).then_some(0),
        };
        let mut i = pick(&self.files);
        if i.is_none() {
            self.refresh()?;
            i = pick(&self.files);
        }
        let Some(i) = i else { return Ok(false) };
        let prev_seq = self.cur.as_ref().map(|c| c.seq);
        self.park();
        let seg = self.take_segment(i)?;
        let first = seg.header.first_seq;
        self.check_neighbours(i, &seg)?;
        if let Some(p) = prev_seq {
            if first < p {
                return Err(segment::corrupted(
                    &seg.path,
                    32,
                    &format!("file starts at sequence {first}, but the previous file ends at {p}"),
                ));
            }
        }
        // Reading on: of the files behind, only the one just left stays
        // mapped, so that a long read holds three files however many it
        // passes (their pages, and a compact file's decoded block).
        let behind = self.files[i.saturating_sub(1)].start_ns;
        self.cache.retain(|&start, _| start >= behind);
        self.cur = Some(Cursor {
            start_ns: self.files[i].start_ns,
            seg,
            pos: HEADER_LEN,
            seq: first,
        });
        Ok(true)
    }

    /// The next record; `None` at the end (without `follow`) or at the stop bound.
    /// With `follow`, waits for new records.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<Record<'_>>> {
        self.next_before(None)
    }

    /// Like [`StreamReader::next`], but when following gives up and returns
    /// `None` at `deadline`.
    pub fn next_before(&mut self, deadline: Option<Instant>) -> Result<Option<Record<'_>>> {
        let Some((seq, timestamp, at)) = self.step(deadline)? else {
            return Ok(None);
        };
        Ok(self.cur.as_ref().map(|c| Record {
            seq,
            timestamp,
            payload: c.seg.payload(at),
        }))
    }

    /// Advance to the next record to return: its sequence number, timestamp
    /// and where its payload lies in the current file.
    fn step(&mut self, deadline: Option<Instant>) -> Result<Option<Found>> {
        let mut idle_spins = 0u32;
        loop {
            if self.done {
                return Ok(None);
            }
            let step = match self.cur.as_mut() {
                Some(c) => c.seg.at(c.pos)?,
                None => Step::End,
            };
            match step {
                Step::Record { ts, payload, next } => {
                    let Some(c) = self.cur.as_mut() else { continue };
                    let seq = c.seq;
                    c.pos = next;
                    c.seq += 1;
                    if seq < self.min_seq {
                        continue;
                    }
                    if let Some(t) = self.min_ts {
                        if ts < t {
                            continue;
                        }
                        self.min_ts = None;
                    }
                    match self.opts.stop {
                        Some(StopAt::Seq(s)) if seq >= s => {
                            self.done = true;
                            return Ok(None);
                        }
                        Some(StopAt::Time(t)) if ts >= t => {
                            self.done = true;
                            return Ok(None);
                        }
                        _ => {}
                    }
                    return Ok(Some((seq, ts, payload)));
                }
                Step::End => {
                    if self.advance_file()? {
                        continue;
                    }
                }
                Step::Wait => {
                    // A file the writer rolled away from is sealed behind
                    // its appends: every record of it is there, and a later
                    // file holds what follows. (A follower is woken when
                    // the seal lands and moves on then.)
                    if !self.opts.follow && self.later_file()? && self.advance_file()? {
                        continue;
                    }
                }
            }
            // Nothing more to read now: a sequence bound already reached
            // ends the read, without waiting for the record at the bound.
            if let (Some(StopAt::Seq(s)), Some(p)) = (self.opts.stop, self.position()) {
                if p >= s {
                    self.done = true;
                    return Ok(None);
                }
            }
            if !self.opts.follow {
                return Ok(None);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(None);
            }
            self.wait(&mut idle_spins, deadline);
        }
    }

    /// Whether something new may be readable: a published frame at the
    /// cursor, or (between files) a new file.
    fn ready(&self) -> bool {
        match &self.cur {
            Some(c) if !c.seg.is_sealed() => {
                let b = c.seg.bytes();
                c.pos + 4 <= b.len() && crate::format::u32_at(b, c.pos) != 0
            }
            _ => files::list_files(&self.dir).is_ok_and(|f| f.len() != self.files.len()),
        }
    }

    fn wait(&mut self, spins: &mut u32, deadline: Option<Instant>) {
        *spins += 1;
        if *spins < 64 {
            std::hint::spin_loop();
            return;
        }
        if *spins < 128 {
            std::thread::yield_now();
            return;
        }
        let mut timeout = Duration::from_millis(100);
        if let Some(d) = deadline {
            timeout = timeout.min(d.saturating_duration_since(Instant::now()));
        }
        if self.notifier.is_none() {
            self.notifier = Notifier::open(&self.dir).ok();
        }
        match self.notifier.take() {
            Some(n) => {
                n.wait_unless(timeout, || self.ready());
                self.notifier = Some(n);
            }
            None => std::thread::sleep(timeout.min(Duration::from_millis(1))),
        }
    }

    /// True once the stop bound has been reached: no record will follow.
    pub fn is_finished(&self) -> bool {
        self.done
    }

    /// The sequence number of the next record this reader will return.
    pub fn position(&self) -> Option<u64> {
        self.cur.as_ref().map(|c| c.seq.max(self.min_seq))
    }
}
