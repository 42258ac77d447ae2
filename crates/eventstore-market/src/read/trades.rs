//! `TradeStreamReader`: the trades of a stream in a time range (by receive
//! time, the stream's record time). The first trade is found through the
//! log's index (a binary search over files, then within one file), and
//! only the files that overlap the range are opened.

use crate::records::trade::Trade;
use crate::{Error, Result, StreamMeta};
use eventstore_log::{ReadOptions, StartAt, StopAt, StreamName, StreamReader};
use std::path::Path;

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
        let mut opts = ReadOptions::from(from_ns.map_or(StartAt::Beginning, StartAt::Time));
        opts.stop = to_ns.map(StopAt::Time);
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
