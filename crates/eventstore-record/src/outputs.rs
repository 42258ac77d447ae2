//! Where a recorder writes: one market stream per venue, symbol and kind
//! of message (`<venue>/<symbol>/<stream>`, as `eventstore import` names
//! them), each created on its first record with the scales the venue
//! prints or those already stored, and with `--raw` the venue's messages as
//! received in `<venue>/raw`. Each depth stream keeps a live book (the
//! same replay every reader runs), so the recorder knows at once when the
//! book breaks and must be synced again.

use crate::stats::StreamStats;
use eventstore_log::{StreamName, StreamWriter, WriterOptions};
use eventstore_market::book::replay::{Applied, BookKind, Cause, Replay};
use eventstore_market::import::rows::{Batch, MarketRecord, ParsedLine};
use eventstore_market::import::Format;
use eventstore_market::records::level::{BookLevel, FLAG_SNAPSHOT};
use eventstore_market::{StreamKind, StreamMeta, TradeId};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// A recorder's error: the stream and what went wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{stream}: {source}")]
    Log {
        stream: String,
        source: eventstore_log::Error,
    },
    #[error("{stream}: {source}")]
    Market {
        stream: String,
        source: eventstore_market::Error,
    },
    #[error("{stream}: stored as {stored}, the venue sends {sent}")]
    MetaMismatch {
        stream: String,
        stored: String,
        sent: String,
    },
    #[error("{0}")]
    Config(String),
}

pub type Result<T> = std::result::Result<T, Error>;

/// The book a depth stream's records build, as the recorder sees it.
pub(crate) struct LiveBook {
    pub replay: Replay,
    /// A snapshot request is out.
    pub fetching: bool,
    /// The first update id received since the book broke: a snapshot
    /// older than it cannot bridge.
    pub first_id: Option<u64>,
    /// The last update id stored.
    pub last_id: u64,
    /// Do not ask for a snapshot before this time (ns; after a failure).
    pub retry_at: i64,
    /// Failed snapshot requests in a row (for the backoff).
    pub failures: u32,
}

impl LiveBook {
    /// The book needs a snapshot and none is asked for.
    pub fn wants_snapshot(&self, now: i64) -> bool {
        !self.replay.is_reliable()
            && !self.fetching
            && self.first_id.is_some()
            && now >= self.retry_at
    }
}

/// One stream being written.
pub(crate) struct Out {
    pub name: String,
    writer: StreamWriter,
    meta: StreamMeta,
    /// The last id stored: update id (books, quotes) or trade id, for
    /// dropping what an overlapping connection sends twice.
    last_id: u64,
    pub book: Option<LiveBook>,
    pub stats: StreamStats,
    /// A message's records, encoded for one batch append.
    batch: Batch,
}

/// What appending one message did.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Appended {
    pub records: usize,
    pub duplicate: bool,
    /// A gap seen in the book's feed.
    pub gap: bool,
}

/// Every stream of one venue connection.
pub(crate) struct Outputs {
    root: PathBuf,
    opts: WriterOptions,
    venue: String,
    format: Format,
    /// Scales the venue publishes (tick and lot size places), by the
    /// venue's symbol, where it prints decimals trimmed.
    pub scales: HashMap<String, (u8, u8)>,
    streams: BTreeMap<(String, String), Out>,
    /// The key of the last message's stream (a buffer).
    key: (String, String),
    raw: Option<(String, StreamWriter)>,
    pub raw_stats: StreamStats,
}

fn log_err(stream: &str) -> impl FnOnce(eventstore_log::Error) -> Error + '_ {
    move |source| Error::Log {
        stream: stream.to_string(),
        source,
    }
}

impl Outputs {
    pub fn open(
        root: &Path,
        venue: &str,
        format: Format,
        opts: WriterOptions,
        raw: bool,
    ) -> Result<Outputs> {
        let raw = if raw {
            let name = format!("{venue}/raw");
            let n = StreamName::new(&name).map_err(log_err(&name))?;
            let w = StreamWriter::open(root, &n, opts.clone().compact(Some(Default::default())))
                .map_err(log_err(&name))?;
            Some((name, w))
        } else {
            None
        };
        Ok(Outputs {
            root: root.to_path_buf(),
            opts,
            venue: venue.to_string(),
            format,
            scales: HashMap::new(),
            streams: BTreeMap::new(),
            key: Default::default(),
            raw,
            raw_stats: StreamStats::default(),
        })
    }

    pub fn raw_name(&self) -> Option<&str> {
        self.raw.as_ref().map(|r| r.0.as_str())
    }

    /// Store a message as received.
    pub fn raw(&mut self, local: i64, bytes: &[u8]) -> Result<()> {
        if let Some((name, w)) = &mut self.raw {
            w.append_at(local, bytes).map_err(log_err(name))?;
            self.raw_stats.messages += 1;
            self.raw_stats.records += 1;
            self.raw_stats.bytes_written += bytes.len() as u64;
            self.raw_stats.last_ns = local;
        }
        Ok(())
    }

    pub fn streams(&self) -> impl Iterator<Item = &Out> {
        self.streams.values()
    }

    pub fn streams_mut(&mut self) -> impl Iterator<Item = &mut Out> {
        self.streams.values_mut()
    }

    /// The depth stream of `symbol` (the venue's spelling), if it exists.
    pub fn depth_mut(&mut self, symbol: &str) -> Option<&mut Out> {
        self.streams
            .get_mut(&(symbol.to_ascii_lowercase(), "depth".to_string()))
    }

    /// The stream of `symbol`'s `stream`, opened (and its metadata stored
    /// or checked) on first use. `places` are the places the message
    /// printed its prices and sizes with.
    fn out(
        &mut self,
        symbol: &str,
        stream: &str,
        kind: StreamKind,
        places: (usize, usize),
    ) -> Result<&mut Out> {
        // The key is built in a buffer kept for it: a message's lookup
        // allocates nothing.
        let key = &mut self.key;
        key.0.clear();
        key.0.extend(symbol.chars().map(|c| c.to_ascii_lowercase()));
        key.1.clear();
        key.1.push_str(stream);
        if !self.streams.contains_key(&self.key) {
            let key = self.key.clone();
            let name = format!("{}/{}/{}", self.venue, key.0, key.1);
            let n = StreamName::new(&name).map_err(log_err(&name))?;
            let dir = n.dir(&self.root);
            let (pp, sp) = self
                .scales
                .get(symbol)
                .copied()
                .unwrap_or((places.0 as u8, places.1 as u8));
            let fresh = StreamMeta {
                venue: self.venue.clone(),
                symbol: symbol.to_string(),
                kind,
                price_scale: pp,
                size_scale: sp,
                style: self.format.style(),
                depth: None,
                checksum: self.format.checksum(stream),
            };
            let market = |source| Error::Market {
                stream: name.clone(),
                source,
            };
            let meta = match StreamMeta::load(&dir).map_err(market)? {
                Some(m) => {
                    if (&m.venue, &m.symbol, m.kind) != (&fresh.venue, &fresh.symbol, fresh.kind) {
                        return Err(Error::MetaMismatch {
                            stream: name,
                            stored: m.to_json(),
                            sent: fresh.to_json(),
                        });
                    }
                    m
                }
                None => {
                    std::fs::create_dir_all(&dir).map_err(|e| Error::Log {
                        stream: name.clone(),
                        source: eventstore_log::Error::Io(e),
                    })?;
                    fresh.store(&dir).map_err(market)?;
                    fresh
                }
            };
            let writer =
                StreamWriter::open(&self.root, &n, self.opts.clone()).map_err(log_err(&name))?;
            let mut book = None;
            if let Some(k) = BookKind::of_stream(kind) {
                let mut replay = Replay::new(k);
                meta.configure(&mut replay);
                book = Some(LiveBook {
                    replay,
                    fetching: false,
                    first_id: None,
                    last_id: 0,
                    retry_at: 0,
                    failures: 0,
                });
            }
            let mut out = Out {
                name,
                writer,
                meta,
                last_id: 0,
                book,
                stats: StreamStats::default(),
                batch: Batch::default(),
            };
            // A stream that already holds records: the recorder was down
            // since its last one, and the book must be synced again.
            if out.writer.next_seq() > 0 && out.book.is_some() {
                let now = crate::now_ns();
                out.feed_break(now, Cause::RecorderDown)?;
            }
            self.streams.insert(key, out);
        }
        self.streams
            .get_mut(&self.key)
            .ok_or_else(|| Error::Config("a stream vanished".into()))
    }

    /// Store one parsed message (of any stream of this venue).
    pub fn append(&mut self, line: ParsedLine) -> Result<Appended> {
        let ParsedLine::Records {
            symbol,
            stream,
            kind,
            price_places,
            size_places,
            mut recs,
            ..
        } = line
        else {
            return Ok(Appended::default());
        };
        let Some(symbol) = symbol else {
            return Ok(Appended::default());
        };
        let out = self.out(&symbol, &stream, kind, (price_places, size_places))?;
        out.rescale(&mut recs, (price_places, size_places))?;
        out.store(recs)
    }

    /// The stream of `line` already holds its first record, by the id that
    /// orders its stream (a line without one counts as held: nothing can
    /// tell it apart).
    pub fn delivered(&self, line: &ParsedLine) -> bool {
        let ParsedLine::Records {
            symbol: Some(symbol),
            stream,
            recs,
            ..
        } = line
        else {
            return true;
        };
        let Some(id) = recs.first().and_then(order_id) else {
            return true;
        };
        self.streams
            .get(&(symbol.to_ascii_lowercase(), stream.clone()))
            .is_some_and(|o| o.last_id >= id)
    }

    /// Store a REST depth snapshot of `symbol` received at `local`; `Ok(false)`
    /// when it is older than the diffs buffered since the book broke (it
    /// could not bridge them: ask again).
    pub fn append_snapshot(&mut self, symbol: &str, line: ParsedLine) -> Result<bool> {
        let ParsedLine::Records {
            price_places,
            size_places,
            mut recs,
            ..
        } = line
        else {
            return Ok(false);
        };
        let Some(out) = self.depth_mut(symbol) else {
            return Ok(false);
        };
        let id = match recs.first() {
            Some(MarketRecord::Level(l)) => l.last_update_id,
            _ => return Ok(false),
        };
        let futures = out.meta.venue == "binance-futures";
        if let Some(book) = &mut out.book {
            book.fetching = false;
            let first = book.first_id.unwrap_or(0);
            let bridges = if futures {
                id >= first
            } else {
                id + 1 >= first
            };
            if !bridges {
                return Ok(false);
            }
        }
        out.rescale(&mut recs, (price_places, size_places))?;
        out.store(recs)?;
        Ok(true)
    }

    /// Mark a break in every depth stream (a connection lost or stalled).
    pub fn break_all(&mut self, now: i64, cause: Cause) -> Result<()> {
        for out in self.streams.values_mut() {
            if out.book.is_some() {
                out.feed_break(now, cause)?;
            }
        }
        Ok(())
    }

    /// Seal files whose interval has passed (quiet streams too).
    pub fn tick(&mut self) -> Result<()> {
        for out in self.streams.values_mut() {
            out.writer.tick().map_err(log_err(&out.name))?;
        }
        if let Some((name, w)) = &mut self.raw {
            w.tick().map_err(log_err(name))?;
        }
        Ok(())
    }

    /// Close every writer (files stay open for the next run, or sealed if
    /// their interval has passed).
    pub fn close(self) -> Result<()> {
        for (_, out) in self.streams {
            out.writer.close().map_err(log_err(&out.name))?;
        }
        if let Some((name, w)) = self.raw {
            w.close().map_err(log_err(&name))?;
        }
        Ok(())
    }
}

/// The id that orders a record among those of its stream, for dropping
/// what a second connection sends again.
fn order_id(r: &MarketRecord) -> Option<u64> {
    match r {
        MarketRecord::Level(l) if l.flags & FLAG_SNAPSHOT == 0 => Some(l.last_update_id),
        MarketRecord::Quote(q) => Some(q.update_id),
        MarketRecord::Trade(t) => match t.trade_id {
            TradeId::Num(n) => Some(n),
            TradeId::Text(_) => None,
        },
        _ => None,
    }
}

impl Out {
    /// Append the records of one message, unless an earlier connection
    /// already stored it; feed book records to the live book.
    fn store(&mut self, recs: Vec<MarketRecord>) -> Result<Appended> {
        let mut done = Appended::default();
        let Some(first) = recs.first() else {
            return Ok(done);
        };
        if let Some(id) = order_id(first) {
            if id != 0 && id <= self.last_id {
                self.stats.duplicates += 1;
                done.duplicate = true;
                return Ok(done);
            }
        }
        let last = recs.last().and_then(order_id);
        let seqs = self
            .batch
            .append(&recs, &mut self.writer)
            .map_err(log_err(&self.name))?;
        self.stats.bytes_written += 64 * recs.len() as u64;
        for (seq, r) in seqs.zip(&recs) {
            if let (Some(book), MarketRecord::Level(l)) = (&mut self.book, r) {
                let reliable = book.replay.is_reliable();
                feed(book, seq, l, &mut done.gap);
                if !reliable && book.replay.is_reliable() {
                    self.stats.resyncs += 1;
                }
            }
        }
        if let Some(id) = last {
            self.last_id = self.last_id.max(id);
        }
        if let (Some(book), Some(MarketRecord::Level(l))) = (&mut self.book, recs.first()) {
            if l.flags & FLAG_SNAPSHOT != 0 {
                // A snapshot answers any request out (OKX sends one on subscribe).
                book.fetching = false;
            } else {
                book.last_id = book.last_id.max(l.last_update_id);
                if !book.replay.is_reliable() && book.first_id.is_none() {
                    book.first_id = Some(l.first_update_id);
                }
            }
            self.stats.reliable = book.replay.is_reliable();
        }
        if done.gap {
            self.stats.gaps += 1;
        }
        let local = recs.first().map(MarketRecord::local_ts).unwrap_or(0);
        let exchange = match recs.first() {
            Some(MarketRecord::Trade(t)) => t.exchange_ts,
            Some(MarketRecord::Level(l)) if l.flags & FLAG_SNAPSHOT == 0 => l.exchange_ts,
            Some(MarketRecord::Quote(q)) => q.exchange_ts,
            Some(MarketRecord::Order(o)) => o.exchange_ts,
            _ => 0,
        };
        if exchange != 0 {
            self.stats.lag_ns = local - exchange;
        }
        self.stats.messages += 1;
        self.stats.records += recs.len() as u64;
        self.stats.last_ns = local;
        done.records = recs.len();
        Ok(done)
    }

    /// Write a break record: the book is not known to be right from `now`.
    pub fn feed_break(&mut self, now: i64, cause: Cause) -> Result<()> {
        let last = self.book.as_ref().map(|b| b.last_id).unwrap_or(0);
        let l = BookLevel::feed_break(now, cause, last);
        let seq = self
            .writer
            .append_at(now, &l.encode())
            .map_err(log_err(&self.name))?;
        self.stats.bytes_written += 64;
        self.stats.records += 1;
        if let Some(book) = &mut self.book {
            let mut gap = false;
            feed(book, seq, &l, &mut gap);
            book.first_id = None;
            book.fetching = false;
            self.stats.reliable = false;
            if gap {
                self.stats.gaps += 1;
            }
        }
        Ok(())
    }

    /// Bring records printed with `places` to the stream's scales.
    fn rescale(&self, recs: &mut [MarketRecord], places: (usize, usize)) -> Result<()> {
        for r in recs {
            r.rescale(places.0, places.1, &self.meta)
                .map_err(|reason| Error::Config(format!("{}: {reason}", self.name)))?;
        }
        Ok(())
    }

    pub fn meta(&self) -> &StreamMeta {
        &self.meta
    }
}

/// Apply one stored level to the live book; a gap forgets the first id
/// seen since the last break (the next diff sets it again).
fn feed(book: &mut LiveBook, seq: u64, l: &BookLevel, gap: &mut bool) {
    let mut saw = false;
    book.replay.apply_level(seq, l, &mut |_, a| {
        if matches!(a, Applied::Gap(_)) {
            saw = true;
        }
    });
    if saw {
        *gap = true;
        book.first_id = None;
    }
}
