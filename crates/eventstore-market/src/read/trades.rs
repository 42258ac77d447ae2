//! `TradeStreamReader`: the trades of a stream in a time range (by receive
//! time, the stream's record time). The first trade is found through the
//! log's index (a binary search over files, then within one file), and
//! only the files that overlap the range are opened.

use crate::compact::{decode_trade_columns, TradeColumns, TRADES};
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

/// The trades of a stream in a time range by column, decoded straight
/// from the blocks of its compact files (no record in between): what
/// Arrow batches are built from. Framed files, and blocks stored by the
/// log's general codec, are read record by record into the same columns.
/// The range is the one [`TradeStreamReader`] reads: from the first trade
/// received at or after `from_ns` to the first at or after `to_ns`.
pub struct TradeBlocks {
    name: String,
    dir: PathBuf,
    files: Vec<eventstore_log::FileEntry>,
    /// The file being read.
    file: usize,
    next_seq: u64,
    stop_seq: u64,
    raw: Option<(RawBlocks, usize)>,
    framed: Option<StreamReader>,
    decoded: Decoded,
    scratch: TradeColumns,
}

impl TradeBlocks {
    /// The trades of the stream in `dir` received in `[from_ns, to_ns)`.
    pub fn open(dir: &Path, from_ns: Option<i64>, to_ns: Option<i64>) -> Result<TradeBlocks> {
        crate::compact::install();
        let name = dir.display().to_string();
        // Where the range starts and stops, found by index as every reader
        // finds it.
        let seq_at = |t: Option<i64>, none: u64| -> Result<u64> {
            let Some(t) = t else {
                return Ok(none);
            };
            let mut r = StreamReader::open_dir(dir, ReadOptions::from(StartAt::Time(t)))?;
            Ok(r.next()?.map_or(u64::MAX, |rec| rec.seq))
        };
        let next_seq = seq_at(from_ns, 0)?;
        let stop_seq = seq_at(to_ns, u64::MAX)?;
        Ok(TradeBlocks {
            name,
            dir: dir.to_path_buf(),
            files: eventstore_log::files::list_files(dir)?,
            file: 0,
            next_seq,
            stop_seq,
            raw: None,
            framed: None,
            decoded: Decoded::default(),
            scratch: TradeColumns::default(),
        })
    }

    /// Append the next trades of the range to `out`: at most `max`, and
    /// at most one block's. Returns how many; 0 at the end of the range.
    pub fn read_into(&mut self, out: &mut TradeColumns, max: usize) -> Result<usize> {
        let max = max.max(1);
        loop {
            if self.next_seq >= self.stop_seq {
                return Ok(0);
            }
            if let Some(r) = &mut self.framed {
                let mut n = 0;
                while n < max {
                    let Some(rec) = r.next()? else { break };
                    let t = Trade::decode(rec.payload).map_err(|e| bad(&self.name, rec.seq, e))?;
                    out.push(&t);
                    self.next_seq = rec.seq + 1;
                    n += 1;
                }
                if n > 0 {
                    return Ok(n);
                }
                self.framed = None;
                self.file += 1;
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
                // A whole trade block that fits goes straight into `out`;
                // anything else through the scratch columns.
                let direct =
                    h.codec == TRADES.id() && lo == 0 && hi == e.count as usize && hi <= max;
                if h.codec == TRADES.id() {
                    let target = if direct {
                        &mut *out
                    } else {
                        self.scratch.clear();
                        &mut self.scratch
                    };
                    decode_trade_columns(body, target).map_err(|reason| {
                        let at =
                            format!("{}: the block at offset {}", raw.path().display(), e.offset);
                        bad(&self.name, e.first_seq, format!("{at}: {reason}"))
                    })?;
                } else {
                    raw.decode(i, &mut self.decoded)?;
                    self.scratch.clear();
                    for k in 0..self.decoded.len() {
                        let (at, len) = self.decoded.span(k);
                        let t = Trade::decode(&self.decoded.data[at..at + len])
                            .map_err(|r| bad(&self.name, e.first_seq + k as u64, r))?;
                        self.scratch.push(&t);
                    }
                }
                let took = if direct {
                    hi
                } else {
                    let hi = hi.min(lo + max);
                    out.extend_rows(&self.scratch, lo..hi);
                    hi - lo
                };
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
                    let end = match self.files.get(self.file + 1) {
                        Some(n) => eventstore_log::read_header(&n.path)?.first_seq,
                        None => u64::MAX,
                    };
                    let stop = end.min(self.stop_seq);
                    if stop <= self.next_seq {
                        self.file += 1;
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

fn bad(stream: &str, seq: u64, reason: String) -> Error {
    Error::BadRecord {
        stream: stream.to_string(),
        seq,
        reason,
    }
}
