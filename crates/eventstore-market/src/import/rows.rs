//! What a format's parser makes of one input line (or DBN record): the
//! records it holds, for which stream, with the decimal places they were
//! printed with. The leaf of the import pipeline: parsers make these,
//! the pipeline plans and writes them.

use crate::records::level::{BookLevel, Quote};
use crate::records::meta::StreamKind;
use crate::records::order::OrderEvent;
use crate::records::trade::Trade;
use crate::StreamMeta;
use eventstore_log::StreamWriter;

/// Where a stream's records go: `<venue>/<symbol>/<stream>`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct StreamKey {
    pub venue: String,
    pub symbol: String,
    /// `trades`, `aggtrades`, `depth`, `bookticker`, `orders`, ...
    pub stream: String,
}

/// One record of a parsed line, at the places it was printed with.
#[derive(Debug, PartialEq)]
pub enum MarketRecord {
    Trade(Trade),
    Level(BookLevel),
    Quote(Quote),
    Order(OrderEvent),
}

impl MarketRecord {
    /// Bring prices printed with `pp` places and sizes with `sp` to the
    /// stream's scales.
    pub fn rescale(
        &mut self,
        pp: usize,
        sp: usize,
        m: &StreamMeta,
    ) -> std::result::Result<(), String> {
        let p = |v: &mut i64| -> std::result::Result<(), String> {
            *v = rescale(*v, pp, m.price_scale)?;
            Ok(())
        };
        let q = |v: &mut i64| -> std::result::Result<(), String> {
            *v = rescale(*v, sp, m.size_scale)?;
            Ok(())
        };
        match self {
            MarketRecord::Trade(t) => {
                p(&mut t.price)?;
                q(&mut t.size)
            }
            MarketRecord::Level(l) => {
                p(&mut l.price)?;
                q(&mut l.size)
            }
            MarketRecord::Quote(x) => {
                p(&mut x.bid_price)?;
                p(&mut x.ask_price)?;
                q(&mut x.bid_size)?;
                q(&mut x.ask_size)
            }
            MarketRecord::Order(o) => {
                p(&mut o.price)?;
                q(&mut o.size)
            }
        }
    }

    /// Call `price` with each of its prices and `size` with each of its
    /// sizes, as printed.
    pub(crate) fn values(&self, mut price: impl FnMut(i64), mut size: impl FnMut(i64)) {
        match self {
            MarketRecord::Trade(t) => {
                price(t.price);
                size(t.size);
            }
            MarketRecord::Level(l) => {
                price(l.price);
                size(l.size);
            }
            MarketRecord::Quote(q) => {
                price(q.bid_price);
                price(q.ask_price);
                size(q.bid_size);
                size(q.ask_size);
            }
            MarketRecord::Order(o) => {
                price(o.price);
                size(o.size);
            }
        }
    }

    /// When the recorder received it.
    pub fn local_ts(&self) -> i64 {
        match self {
            MarketRecord::Trade(t) => t.local_ts,
            MarketRecord::Level(l) => l.local_ts,
            MarketRecord::Quote(q) => q.local_ts,
            MarketRecord::Order(o) => o.local_ts,
        }
    }

    /// Its flags, for the book records that have them.
    pub fn flags_mut(&mut self) -> Option<&mut u8> {
        match self {
            MarketRecord::Level(l) => Some(&mut l.flags),
            MarketRecord::Order(o) => Some(&mut o.flags),
            MarketRecord::Trade(_) | MarketRecord::Quote(_) => None,
        }
    }

    /// A book record that clears the book: it opens a snapshot, never
    /// continues one (an order clear, or a level with no side).
    pub(crate) fn clears_book(&self) -> bool {
        match self {
            MarketRecord::Level(l) => l.side == crate::records::level::BookSide::None,
            MarketRecord::Order(o) => o.action == crate::records::order::Action::Clear,
            MarketRecord::Trade(_) | MarketRecord::Quote(_) => false,
        }
    }

    /// Its encoded bytes, appended to `out`.
    fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            MarketRecord::Trade(t) => out.extend_from_slice(&t.encode()),
            MarketRecord::Level(l) => out.extend_from_slice(&l.encode()),
            MarketRecord::Quote(q) => out.extend_from_slice(&q.encode()),
            MarketRecord::Order(o) => out.extend_from_slice(&o.encode()),
        }
    }

    pub fn append(&self, w: &mut StreamWriter) -> eventstore_log::Result<u64> {
        match self {
            MarketRecord::Trade(t) => w.append_at(t.local_ts, &t.encode()),
            MarketRecord::Level(l) => w.append_at(l.local_ts, &l.encode()),
            MarketRecord::Quote(q) => w.append_at(q.local_ts, &q.encode()),
            MarketRecord::Order(o) => w.append_at(o.local_ts, &o.encode()),
        }
    }
}

/// Records encoded for one batch append (kept between batches: a
/// message's records cost one clock read and one wake-up, no allocation).
#[derive(Default)]
pub struct Batch {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl Batch {
    /// Append `recs` to `w` as one batch; their sequence numbers.
    pub fn append(
        &mut self,
        recs: &[MarketRecord],
        w: &mut StreamWriter,
    ) -> eventstore_log::Result<std::ops::Range<u64>> {
        self.bytes.clear();
        self.ends.clear();
        for r in recs {
            r.encode_into(&mut self.bytes);
            self.ends.push(self.bytes.len());
        }
        let bytes = &self.bytes;
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        w.append_batch_at(
            recs.iter()
                .zip(starts.zip(self.ends.iter().copied()))
                .map(|(r, (a, b))| (r.local_ts(), &bytes[a..b])),
        )
    }
}

/// One parsed input line: records for one stream. Prices (and sizes) of a
/// row share the places they were printed with; the stream's scale is
/// settled before writing.
#[derive(Debug, PartialEq)]
pub enum ParsedLine {
    Records {
        /// The venue, when the row names it (Tardis does).
        venue: Option<String>,
        /// The symbol; `None` for a message that does not name it (a
        /// Binance REST depth snapshot): the file's only depth symbol.
        symbol: Option<String>,
        /// The stream under `<venue>/<symbol>/`: `trades`, `aggtrades`, `depth`, `bookticker`.
        stream: String,
        /// `market.json` kind: `trades`, `book_l2`, `quotes`.
        kind: StreamKind,
        price_places: usize,
        size_places: usize,
        recs: Vec<MarketRecord>,
    },
    /// A message this importer does not store (yet), by its kind's name
    /// (`kline`, `tickers`, ...).
    Other(String),
}

impl ParsedLine {
    /// The receive time of its first record, if it holds any.
    pub(crate) fn local_ts(&self) -> Option<i64> {
        match self {
            ParsedLine::Records { recs, .. } => recs.first().map(MarketRecord::local_ts),
            ParsedLine::Other(_) => None,
        }
    }
}

/// `v` printed with `places` decimals, as units of `10^-scale`: exact, or
/// an error (a value too large, or with more digits than the scale keeps).
pub(crate) fn rescale(v: i64, places: usize, scale: u8) -> std::result::Result<i64, String> {
    let mut v = v;
    for _ in places..scale as usize {
        v = v
            .checked_mul(10)
            .ok_or("value too large for the stream's scale")?;
    }
    for _ in scale as usize..places {
        if v % 10 != 0 {
            return Err(format!(
                "a value with {places} decimal places, more than the stream's scale {scale}"
            ));
        }
        v /= 10;
    }
    Ok(v)
}

/// One exchange event of price-level updates, as a venue printed it, with
/// what every level of it shares.
pub(crate) struct LevelEvent<'a> {
    pub venue: &'a str,
    pub symbol: &'a str,
    pub stream: &'a str,
    pub exchange_ts: i64,
    pub local_ts: i64,
    /// A snapshot of the whole book (each record flagged snapshot).
    pub snapshot: bool,
    /// `first_update_id`, `last_update_id`, `prev_update_id` of every record.
    pub ids: (u64, u64, u64),
    /// The venue's checksum of the book after the event, kept on its last record.
    pub checksum: Option<i32>,
}

impl LevelEvent<'_> {
    /// The event's records: each `(side, price, size)` at the most decimal
    /// places any of them has (the stream's style is trimmed), an event
    /// that changed no level as one record without a side, the last record
    /// flagged last (and carrying the checksum).
    pub(crate) fn records<S: AsRef<str>>(
        self,
        rows: &[(crate::records::level::BookSide, S, S)],
    ) -> Result<ParsedLine, String> {
        use crate::records::decimal;
        use crate::records::level::{BookSide, FLAG_CHECKSUM, FLAG_LAST, FLAG_SNAPSHOT};
        let pp = rows
            .iter()
            .map(|r| decimal::places(r.1.as_ref()))
            .max()
            .unwrap_or(0);
        let sp = rows
            .iter()
            .map(|r| decimal::places(r.2.as_ref()))
            .max()
            .unwrap_or(0);
        let flags = if self.snapshot { FLAG_SNAPSHOT } else { 0 };
        let level = |side, price, size| BookLevel {
            exchange_ts: self.exchange_ts,
            local_ts: self.local_ts,
            side,
            flags,
            price,
            size,
            first_update_id: self.ids.0,
            last_update_id: self.ids.1,
            prev_update_id: self.ids.2,
            checksum: 0,
        };
        let mut recs = Vec::with_capacity(rows.len().max(1));
        for (side, p, q) in rows {
            recs.push(level(
                *side,
                decimal::parse(p.as_ref(), pp as u8)?,
                decimal::parse_size(q.as_ref(), sp as u8)?,
            ));
        }
        if recs.is_empty() {
            recs.push(level(BookSide::None, 0, 0));
        }
        if let Some(last) = recs.last_mut() {
            last.flags |= FLAG_LAST;
            if let Some(c) = self.checksum {
                last.flags |= FLAG_CHECKSUM;
                last.checksum = c;
            }
        }
        Ok(ParsedLine::Records {
            venue: Some(self.venue.to_string()),
            symbol: Some(self.symbol.to_string()),
            stream: self.stream.to_string(),
            kind: StreamKind::BookL2,
            price_places: pp,
            size_places: sp,
            recs: recs.into_iter().map(MarketRecord::Level).collect(),
        })
    }
}

/// The trades of one message as a venue printed them, each its price and
/// size strings and the trade with every other field set: one line of
/// records at the most decimal places any of them has (the stream's
/// style is trimmed); a message without trades is counted as other.
pub(crate) fn trade_line<S: AsRef<str>>(
    venue: &str,
    symbol: &str,
    rows: Vec<(S, S, Trade)>,
) -> Result<ParsedLine, String> {
    use crate::records::decimal;
    if rows.is_empty() {
        return Ok(ParsedLine::Other("trades without data".into()));
    }
    let pp = rows
        .iter()
        .map(|r| decimal::places(r.0.as_ref()))
        .max()
        .unwrap_or(0);
    let sp = rows
        .iter()
        .map(|r| decimal::places(r.1.as_ref()))
        .max()
        .unwrap_or(0);
    let mut recs = Vec::with_capacity(rows.len());
    for (p, q, t) in rows {
        recs.push(MarketRecord::Trade(Trade {
            price: decimal::parse(p.as_ref(), pp as u8)?,
            size: decimal::parse_size(q.as_ref(), sp as u8)?,
            ..t
        }));
    }
    Ok(ParsedLine::Records {
        venue: Some(venue.to_string()),
        symbol: Some(symbol.to_string()),
        stream: "trades".into(),
        kind: StreamKind::Trades,
        price_places: pp,
        size_places: sp,
        recs,
    })
}
