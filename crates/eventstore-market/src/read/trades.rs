//! `TradeStreamReader`: the trades of a stream in a time range (by receive
//! time, the stream's record time). The first trade is found through the
//! log's index (a binary search over files, then within one file), and
//! only the files that overlap the range are opened.

use crate::compact::{decode_trade_columns, TradeColumns, TRADES};
use crate::read::files::Files;
use crate::records::trade::Trade;
use crate::{Error, Result, StreamMeta};
use eventstore_log::compact::{BlockCodec, Decoded, RawBlocks};
use eventstore_log::{ReadOptions, StartAt, StopAt, StreamName, StreamReader};
use std::path::{Path, PathBuf};

pub struct TradeStreamReader {
    name: String,
    meta: StreamMeta,
    reader: StreamReader,
}

impl TradeStreamReader {
    /// The trades of `name` under `root` received in `[from_ns, to_ns)`.
    pub fn open(
        root: &Path,
        name: &StreamName,
        from_ns: Option<i64>,
        to_ns: Option<i64>,
    ) -> Result<TradeStreamReader> {
        let dir = name.dir(root);
        let meta = StreamMeta::load(&dir)?.ok_or_else(|| Error::Meta {
            path: dir.join(crate::records::meta::META_FILE),
            reason: format!("{name} has no market metadata: not a market stream"),
        })?;
        if meta.kind != crate::records::meta::StreamKind::Trades {
            return Err(Error::WrongKind {
                stream: name.to_string(),
                holds: meta.kind.to_string(),
                wanted: "trades",
            });
        }
        let opts = ReadOptions::received_in(from_ns, to_ns);
        Ok(TradeStreamReader {
            name: name.to_string(),
            meta,
            reader: StreamReader::open_dir(&dir, opts)?,
        })
    }

    /// The stream's metadata (scales to print prices and sizes).
    pub fn meta(&self) -> &StreamMeta {
        &self.meta
    }

    /// The next trade, or `None` at the end of the range.
    pub fn try_next(&mut self) -> Result<Option<Trade>> {
        match self.reader.next()? {
            Some(r) => Trade::decode(r.payload)
                .map(Some)
                .map_err(|reason| Error::BadRecord {
                    stream: self.name.clone(),
                    seq: r.seq,
                    reason,
                }),
            None => Ok(None),
        }
    }
}

impl Iterator for TradeStreamReader {
    type Item = Result<Trade>;
    fn next(&mut self) -> Option<Result<Trade>> {
        self.try_next().transpose()
    }
}

/// Where decoded records go: the columns of [`TradeColumns`], or a
/// vector of records of another kind.
pub trait BlockSink: Default {
    /// The codec whose blocks decode straight into this sink.
    fn codec() -> u16;
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn clear(&mut self);
    /// Append the records of a block body of [`BlockSink::codec`].
    fn decode_block(body: &[u8], out: &mut Self) -> std::result::Result<(), String>;
    /// Append one record from its stored bytes.
    fn push_bytes(&mut self, b: &[u8]) -> std::result::Result<(), String>;
    /// Append rows `r` of `other`.
    fn extend_rows(&mut self, other: &Self, r: std::ops::Range<usize>);
}

impl BlockSink for TradeColumns {
    fn codec() -> u16 {
        TRADES.id()
    }
    fn len(&self) -> usize {
        TradeColumns::len(self)
    }
    fn clear(&mut self) {
        TradeColumns::clear(self)
    }
    fn decode_block(body: &[u8], out: &mut Self) -> std::result::Result<(), String> {
        decode_trade_columns(body, out)
    }
    fn push_bytes(&mut self, b: &[u8]) -> std::result::Result<(), String> {
        self.push(&Trade::decode(b)?);
        Ok(())
    }
    fn extend_rows(&mut self, other: &Self, r: std::ops::Range<usize>) {
        TradeColumns::extend_rows(self, other, r)
    }
}

impl<R: crate::compact::Record + Copy> BlockSink for Vec<R> {
    fn codec() -> u16 {
        R::ID
    }
    fn len(&self) -> usize {
        <[R]>::len(self)
    }
    fn clear(&mut self) {
        Vec::clear(self)
    }
    fn decode_block(body: &[u8], out: &mut Self) -> std::result::Result<(), String> {
        out.extend(R::decode_block(body)?);
        Ok(())
    }
    fn push_bytes(&mut self, b: &[u8]) -> std::result::Result<(), String> {
        self.push(R::decode(b)?);
        Ok(())
    }
    fn extend_rows(&mut self, other: &Self, r: std::ops::Range<usize>) {
        self.extend_from_slice(&other[r])
    }
}

/// The trades of a stream in a time range by column, decoded straight
/// from the blocks of its compact files (no record in between): what
/// Arrow batches are built from.
pub type TradeBlocks = Blocks<TradeColumns>;

/// The records of a stream in a time range, decoded straight from the
/// blocks of its compact files into a [`BlockSink`] (no stored record in
/// between). Framed files, and blocks stored by the log's general codec,
/// are read record by record into the same sink. The range is the one
/// every reader reads: from the first record received at or after
/// `from_ns` to the first at or after `to_ns`.
pub struct Blocks<S: BlockSink> {
    name: String,
    dir: PathBuf,
    files: Files,
    /// The file being read.
    file: usize,
    next_seq: u64,
    /// The sequence number of the first record the last read appended.
    read_seq: u64,
    /// The file after the run of framed files being read.
    framed_end: usize,
    stop_seq: u64,
    raw: Option<(RawBlocks, usize)>,
    framed: Option<StreamReader>,
    decoded: Decoded,
    scratch: S,
}

impl<S: BlockSink> Blocks<S> {
    /// The records of the stream in `dir` received in `[from_ns, to_ns)`.
    pub fn open(dir: &Path, from_ns: Option<i64>, to_ns: Option<i64>) -> Result<Blocks<S>> {
        crate::compact::install();
        let name = dir.display().to_string();
        let next_seq = seq_at(dir, from_ns, 0)?;
        let stop_seq = seq_at(dir, to_ns, u64::MAX)?;
        let mut b = Self::open_seqs(dir, next_seq, stop_seq)?;
        b.name = name;
        Ok(b)
    }

    /// The records of the stream in `dir` with sequence numbers in
    /// `[from_seq, to_seq)`.
    pub fn open_seqs(dir: &Path, from_seq: u64, to_seq: u64) -> Result<Blocks<S>> {
        crate::compact::install();
        let files = Files::list(dir)?;
        // The files before the one holding the first record are never
        // opened: a binary search over their headers finds it (where a
        // header can not be read, every file is looked at).
        let file = files.holding(from_seq).unwrap_or(0);
        Ok(Blocks {
            name: dir.display().to_string(),
            dir: dir.to_path_buf(),
            files,
            file,
            next_seq: from_seq,
            read_seq: from_seq,
            framed_end: 0,
            stop_seq: to_seq,
            raw: None,
            framed: None,
            decoded: Decoded::default(),
            scratch: S::default(),
        })
    }

    /// The sequence number of the first record the last
    /// [`Blocks::read_into`] appended (the others follow it one by one).
    pub fn read_seq(&self) -> u64 {
        self.read_seq
    }

    /// Append the next records of the range to `out`: at most `max`, and
    /// at most one block's. Returns how many; 0 at the end of the range.
    pub fn read_into(&mut self, out: &mut S, max: usize) -> Result<usize> {
        let max = max.max(1);
        loop {
            if self.next_seq >= self.stop_seq {
                return Ok(0);
            }
            if let Some(r) = &mut self.framed {
                let mut n = 0;
                while n < max {
                    let Some(rec) = r.next()? else { break };
                    out.push_bytes(rec.payload)
                        .map_err(|e| bad(&self.name, rec.seq, e))?;
                    if n == 0 {
                        self.read_seq = rec.seq;
                    }
                    self.next_seq = rec.seq + 1;
                    n += 1;
                }
                if n > 0 {
                    return Ok(n);
                }
                self.framed = None;
                self.file = self.framed_end;
                continue;
            }
            if let Some((raw, b)) = &mut self.raw {
                let Some(&e) = raw.index().get(*b) else {
                    self.raw = None;
                    self.file += 1;
                    continue;
                };
                let i = *b;
                *b += 1;
                let end = e.first_seq + e.count as u64;
                if end <= self.next_seq {
                    continue;
                }
                if e.first_seq >= self.stop_seq {
                    self.next_seq = self.stop_seq;
                    return Ok(0);
                }
                let (h, body) = raw.block(i)?;
                let lo = self.next_seq.saturating_sub(e.first_seq) as usize;
                let hi = (self.stop_seq.min(end) - e.first_seq) as usize;
                // A whole block of the sink's codec that fits goes
                // straight into `out`; anything else through the scratch.
                let direct =
                    h.codec == S::codec() && lo == 0 && hi == e.count as usize && hi <= max;
                if h.codec == S::codec() {
                    let target = if direct {
                        &mut *out
                    } else {
                        self.scratch.clear();
                        &mut self.scratch
                    };
                    S::decode_block(body, target).map_err(|reason| {
                        let at =
                            format!("{}: the block at offset {}", raw.path().display(), e.offset);
                        bad(&self.name, e.first_seq, format!("{at}: {reason}"))
                    })?;
                } else {
                    raw.decode(i, &mut self.decoded)?;
                    self.scratch.clear();
                    for k in 0..self.decoded.len() {
                        let (at, len) = self.decoded.span(k);
                        self.scratch
                            .push_bytes(&self.decoded.data[at..at + len])
                            .map_err(|r| bad(&self.name, e.first_seq + k as u64, r))?;
                    }
                }
                let took = if direct {
                    hi
                } else {
                    let hi = hi.min(lo + max);
                    out.extend_rows(&self.scratch, lo..hi);
                    hi - lo
                };
                self.read_seq = e.first_seq + lo as u64;
                self.next_seq = e.first_seq + (lo + took) as u64;
                if *b > 0 && self.next_seq < end {
                    // The rest of this block comes next time.
                    *b -= 1;
                }
                return Ok(took);
            }
            let Some(f) = self.files.get(self.file) else {
                return Ok(0);
            };
            match RawBlocks::open(&f.path) {
                Ok(Some(raw)) => self.raw = Some((raw, 0)),
                // A framed file, or one sealed since it was listed: read by
                // record up to the next file's first record.
                _ => {
                    // One reader for the whole run of framed files that
                    // starts here (opening one per file would list the
                    // stream's files each time), up to the next compact
                    // file's first record.
                    let mut k = self.file + 1;
                    let mut end = u64::MAX;
                    while k < self.files.len() {
                        let h = self.files.header(k)?;
                        if h.form == eventstore_log::format::Form::Compact {
                            end = h.first_seq;
                            break;
                        }
                        k += 1;
                    }
                    self.framed_end = k;
                    let stop = end.min(self.stop_seq);
                    if stop <= self.next_seq {
                        self.file = k;
                        continue;
                    }
                    let opts =
                        ReadOptions::from(StartAt::Seq(self.next_seq)).stop(StopAt::Seq(stop));
                    self.framed = Some(StreamReader::open_dir(&self.dir, opts)?);
                }
            }
        }
    }
}

/// The sequence number of the first record of the stream in `dir`
/// received at or after `t` (found by index, as every reader finds it;
/// `u64::MAX` when there is none), `none` without a time.
pub fn seq_at(dir: &Path, t: Option<i64>, none: u64) -> Result<u64> {
    let Some(t) = t else {
        return Ok(none);
    };
    let mut r = StreamReader::open_dir(dir, ReadOptions::from(StartAt::Time(t)))?;
    Ok(r.next()?.map_or(u64::MAX, |rec| rec.seq))
}

fn bad(stream: &str, seq: u64, reason: String) -> Error {
    Error::BadRecord {
        stream: stream.to_string(),
        seq,
        reason,
    }
}
