//! The import pipeline shared by every input format: check the whole
//! input, learn each symbol's scales, then write each symbol's stream.

use crate::book::{BookLevel, Quote};
use crate::decimal::{self, DecimalStyle};
use crate::input::for_each_line;
use crate::order::OrderEvent;
use crate::trade::Trade;
use crate::{Error, Result, StreamMeta};
use eventstore_log::{RollBy, RollInterval, StreamName, StreamWriter, WriterOptions};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Input formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Binance recordings (`<receive ns> <json>` lines, or JSON lines).
    Binance,
    /// Tardis.dev `trades` CSV.
    TardisTrades,
    /// Tardis.dev `book_snapshot_N` CSV (top N levels per row).
    TardisBookSnapshot,
    /// Tardis.dev `incremental_book_L2` CSV.
    TardisL2,
    /// LOBSTER message files (needs `ImportOptions::date` and `symbol`).
    Lobster,
    /// Databento DBN (`.dbn.zst`): MBO and trades.
    Databento,
}

impl Format {
    fn style(self) -> DecimalStyle {
        match self {
            Format::Binance | Format::Lobster | Format::Databento => DecimalStyle::Fixed,
            Format::TardisTrades | Format::TardisBookSnapshot | Format::TardisL2 => {
                DecimalStyle::Trimmed
            }
        }
    }
}

/// How an import runs.
#[derive(Clone, Debug)]
pub struct ImportOptions {
    /// Count and report bad rows instead of stopping at the first.
    pub skip_bad: bool,
    /// Roll interval of the streams written.
    pub roll: RollInterval,
    /// Venue name used in stream names and metadata, for formats whose
    /// rows do not name it (Binance, LOBSTER).
    pub venue: String,
    /// The trading day, for formats whose times are times of day (LOBSTER).
    pub date: Option<String>,
    /// The symbol, for formats whose rows do not name it (LOBSTER).
    pub symbol: Option<String>,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            skip_bad: false,
            roll: RollInterval::HOURLY,
            venue: "binance".into(),
            date: None,
            symbol: None,
        }
    }
}

/// What an import did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Streams written, with the records appended to each.
    pub streams: BTreeMap<String, u64>,
    /// Lines not imported because they were bad (with `skip_bad`).
    pub skipped: u64,
    /// The first few bad lines skipped, as `file:line: reason`.
    pub skipped_examples: Vec<String>,
    /// Messages of kinds this importer does not store yet.
    pub other: u64,
}

/// One record of a parsed row.
pub(crate) enum Rec {
    Trade(Trade),
    Level(BookLevel),
    Quote(Quote),
    Order(OrderEvent),
}

impl Rec {
    /// Bring prices printed with `pp` places and sizes with `sp` to the
    /// stream's scales.
    fn rescale(&mut self, pp: usize, sp: usize, m: &StreamMeta) -> std::result::Result<(), String> {
        let p = |v: &mut i64| -> std::result::Result<(), String> {
            *v = rescale(*v, pp, m.price_scale)?;
            Ok(())
        };
        let q = |v: &mut i64| -> std::result::Result<(), String> {
            *v = rescale(*v, sp, m.size_scale)?;
            Ok(())
        };
        match self {
            Rec::Trade(t) => {
                p(&mut t.price)?;
                q(&mut t.size)
            }
            Rec::Level(l) => {
                p(&mut l.price)?;
                q(&mut l.size)
            }
            Rec::Quote(x) => {
                p(&mut x.bid_price)?;
                p(&mut x.ask_price)?;
                q(&mut x.bid_size)?;
                q(&mut x.ask_size)
            }
            Rec::Order(o) => {
                p(&mut o.price)?;
                q(&mut o.size)
            }
        }
    }

    fn append(&self, w: &mut StreamWriter) -> eventstore_log::Result<u64> {
        match self {
            Rec::Trade(t) => w.append_at(t.local_ts, &t.encode()),
            Rec::Level(l) => w.append_at(l.local_ts, &l.encode()),
            Rec::Quote(q) => w.append_at(q.local_ts, &q.encode()),
            Rec::Order(o) => w.append_at(o.local_ts, &o.encode()),
        }
    }
}

/// One parsed input line: records for one stream. Prices (and sizes) of a
/// row share the places they were printed with; the stream's scale is
/// settled before writing.
pub(crate) enum Row {
    Records {
        /// The venue, when the row names it (Tardis does).
        venue: Option<String>,
        /// The symbol; `None` for a message that does not name it (a
        /// Binance REST depth snapshot): the file's only depth symbol.
        symbol: Option<String>,
        /// The stream under `<venue>/<symbol>/`: `trades`, `aggtrades`, `depth`, `bookticker`.
        stream: String,
        /// `market.json` kind: `trades`, `book_l2`, `quotes`.
        kind: &'static str,
        price_places: usize,
        size_places: usize,
        recs: Vec<Rec>,
    },
    /// A message this importer does not store (yet).
    Other,
}

/// What a format needs besides the line.
struct Context {
    midnight_ns: i64,
    symbol: String,
}

fn parse(
    format: Format,
    cx: &Context,
    no: u64,
    line: &str,
) -> std::result::Result<Option<Row>, String> {
    match format {
        Format::Lobster => crate::lobster::parse_line(line, cx.midnight_ns, &cx.symbol),
        Format::Databento => Err("DBN is binary: read through for_each_row".into()),
        Format::Binance => crate::binance::parse_line(line),
        Format::TardisTrades => crate::tardis::parse_trade_line(no, line),
        Format::TardisBookSnapshot => crate::tardis::parse_book_snapshot_line(no, line),
        Format::TardisL2 => crate::tardis::parse_l2_line(no, line),
    }
}

/// `v` printed with `places` decimals, as units of `10^-scale`.
fn rescale(v: i64, places: usize, scale: u8) -> std::result::Result<i64, String> {
    let mut v = v;
    for _ in places..scale as usize {
        v = v
            .checked_mul(10)
            .ok_or("value too large for the stream's scale")?;
    }
    Ok(v)
}

type Key = (String, String, String);

/// Call `f(position, row)` for every row of `input`: lines of a text
/// format, records of a binary one (the position is then the record's).
fn for_each_row(
    format: Format,
    cx: &Context,
    input: &Path,
    mut f: impl FnMut(u64, std::result::Result<Option<Row>, String>) -> Result<()>,
) -> Result<()> {
    if format == Format::Databento {
        return crate::databento::for_each_row(input, f);
    }
    if format == Format::TardisL2 {
        return with_event_ends(input, cx, f);
    }
    for_each_line(input, |no, line| {
        f(no, line.and_then(|line| parse(format, cx, no, line)))
    })
}

/// Tardis incremental L2 rows, each held back until the next row shows
/// whether it ended its exchange event (rows of one event share their
/// timestamps): the last row of each event gets the last-of-event flag.
fn with_event_ends(
    input: &Path,
    cx: &Context,
    mut f: impl FnMut(u64, std::result::Result<Option<Row>, String>) -> Result<()>,
) -> Result<()> {
    fn times(r: &Row) -> Option<(i64, i64)> {
        match r {
            Row::Records { recs, .. } => match recs.first() {
                Some(Rec::Level(l)) => Some((l.exchange_ts, l.local_ts)),
                _ => None,
            },
            Row::Other => None,
        }
    }
    fn mark_last(r: &mut Row) {
        if let Row::Records { recs, .. } = r {
            if let Some(Rec::Level(l)) = recs.last_mut() {
                l.flags |= crate::book::FLAG_LAST;
            }
        }
    }
    let mut held: Option<(u64, Row)> = None;
    for_each_line(input, |no, line| {
        match line.and_then(|line| parse(Format::TardisL2, cx, no, line)) {
            Ok(Some(row)) => {
                if let Some((hno, mut h)) = held.take() {
                    if times(&h) != times(&row) {
                        mark_last(&mut h);
                    }
                    f(hno, Ok(Some(h)))?;
                }
                held = Some((no, row));
                Ok(())
            }
            other => f(no, other),
        }
    })?;
    if let Some((hno, mut h)) = held {
        mark_last(&mut h);
        f(hno, Ok(Some(h)))?;
    }
    Ok(())
}

/// Import `input` into streams under `root`. The whole input is checked
/// before anything is written: a bad line stops the import (naming file and
/// line) with nothing written, unless `skip_bad` is set.
pub fn import(
    format: Format,
    input: &Path,
    root: &Path,
    opts: &ImportOptions,
) -> Result<ImportReport> {
    let mut report = ImportReport::default();
    let cx = match format {
        Format::Lobster => {
            let (Some(date), Some(symbol)) = (&opts.date, &opts.symbol) else {
                return Err(Error::InvalidArgument(
                    "a LOBSTER file holds times of day and no symbol: give the date and the symbol"
                        .into(),
                ));
            };
            Context {
                midnight_ns: eventstore_log::time::parse_time(date)?,
                symbol: symbol.clone(),
            }
        }
        _ => Context {
            midnight_ns: 0,
            symbol: String::new(),
        },
    };
    // Pass 1: check every line, learn each stream's scales (the decimal
    // places the venue prints: always the same for a fixed style, at most
    // the largest seen for a trimmed one).
    let style = format.style();
    let mut scales: BTreeMap<Key, (usize, usize, &'static str)> = BTreeMap::new();
    let mut unnamed: Vec<(u64, String, String, &'static str, usize, usize)> = Vec::new();
    let mut depth_symbols: BTreeSet<(String, String)> = BTreeSet::new();
    let mut bad_lines = std::collections::HashSet::new();
    let merge = |scales: &mut BTreeMap<Key, (usize, usize, &'static str)>,
                 key: Key,
                 kind: &'static str,
                 pp: usize,
                 sp: usize|
     -> std::result::Result<(), String> {
        let want = scales.entry(key.clone()).or_insert((pp, sp, kind));
        if style == DecimalStyle::Trimmed {
            want.0 = want.0.max(pp);
            want.1 = want.1.max(sp);
        } else if (want.0, want.1) != (pp, sp) {
            return Err(format!(
                "{} {} prices and sizes had {} and {} decimal places, this row {pp} and {sp}",
                key.1, key.2, want.0, want.1
            ));
        }
        Ok(())
    };
    for_each_row(format, &cx, input, |no, parsed| {
        let bad = |reason: String| Error::BadRow {
            file: input.to_path_buf(),
            line: no,
            reason,
        };
        let checked = parsed.and_then(|row| match row {
            Some(Row::Records {
                venue,
                symbol,
                stream,
                kind,
                price_places,
                size_places,
                ..
            }) => {
                let venue = venue.unwrap_or_else(|| opts.venue.clone());
                match symbol {
                    Some(symbol) => {
                        if stream == "depth" || stream.starts_with("book_snapshot") {
                            depth_symbols.insert((venue.clone(), symbol.clone()));
                        }
                        merge(
                            &mut scales,
                            (venue, symbol, stream),
                            kind,
                            price_places,
                            size_places,
                        )
                    }
                    None => {
                        unnamed.push((no, venue, stream, kind, price_places, size_places));
                        Ok(())
                    }
                }
            }
            _ => Ok(()),
        });
        match checked {
            Ok(()) => Ok(()),
            Err(reason) if opts.skip_bad => {
                note_skipped(&mut report, bad(reason));
                bad_lines.insert(no);
                Ok(())
            }
            Err(reason) => Err(bad(reason)),
        }
    })?;
    // Messages that do not name their symbol belong to the file's only
    // depth symbol of their venue.
    let mut resolved: BTreeMap<String, String> = BTreeMap::new();
    for (no, venue, stream, kind, pp, sp) in unnamed {
        let candidates: Vec<&String> = depth_symbols
            .iter()
            .filter(|(v, _)| *v == venue)
            .map(|(_, s)| s)
            .collect();
        let bad = |reason: String| Error::BadRow {
            file: input.to_path_buf(),
            line: no,
            reason,
        };
        let [symbol] = candidates[..] else {
            return Err(bad(format!(
                "a depth snapshot without a symbol, and the file has {} depth symbols ({}); import one symbol per file",
                candidates.len(),
                candidates.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
            )));
        };
        resolved.insert(venue.clone(), symbol.clone());
        merge(&mut scales, (venue, symbol.clone(), stream), kind, pp, sp).map_err(bad)?;
    }
    // The streams: new, or existing with the same metadata.
    let mut writers = BTreeMap::new();
    for ((venue, symbol, stream), (ps, ss, kind)) in &scales {
        if *ps > decimal::MAX_SCALE as usize || *ss > decimal::MAX_SCALE as usize {
            return Err(Error::TooManyPlaces {
                symbol: symbol.clone(),
                max: decimal::MAX_SCALE as u32,
            });
        }
        let name = StreamName::new(&format!("{venue}/{}/{stream}", symbol.to_ascii_lowercase()))?;
        let meta = StreamMeta {
            venue: venue.clone(),
            symbol: symbol.clone(),
            kind: kind.to_string(),
            price_scale: *ps as u8,
            size_scale: *ss as u8,
            style,
        };
        let dir = name.dir(root);
        match StreamMeta::load(&dir)? {
            Some(m) if m != meta => {
                return Err(Error::MetaMismatch {
                    stream: name.to_string(),
                    stored: format!(
                        "{} {} {} at scales {}/{}",
                        m.venue, m.symbol, m.kind, m.price_scale, m.size_scale
                    ),
                    input: format!("{symbol} at {ps}/{ss}"),
                })
            }
            _ => {}
        }
        meta.store(&dir)?;
        let w = StreamWriter::open(
            root,
            &name,
            WriterOptions::default()
                .roll(opts.roll)
                .roll_by(RollBy::RecordTime)
                .pretouch(false),
        )?;
        writers.insert(
            (venue.clone(), symbol.clone(), stream.clone()),
            (name.to_string(), w, 0u64, meta),
        );
    }
    // Pass 2: write.
    for_each_row(format, &cx, input, |no, parsed| {
        if bad_lines.contains(&no) {
            return Ok(());
        }
        let bad = |reason: String| Error::BadRow {
            file: input.to_path_buf(),
            line: no,
            reason,
        };
        match parsed {
            Ok(Some(Row::Records {
                venue,
                symbol,
                stream,
                price_places,
                size_places,
                recs,
                ..
            })) => {
                let venue = venue.unwrap_or_else(|| opts.venue.clone());
                let symbol = match symbol {
                    Some(s) => s,
                    None => resolved.get(&venue).cloned().unwrap_or_default(),
                };
                if let Some((_, w, n, meta)) = writers.get_mut(&(venue, symbol, stream)) {
                    for mut r in recs {
                        r.rescale(price_places, size_places, meta).map_err(bad)?;
                        r.append(w)?;
                        *n += 1;
                    }
                }
            }
            Ok(Some(Row::Other)) => report.other += 1,
            Ok(None) => {}
            Err(reason) => {
                return Err(bad(format!("{reason} (the input changed while importing)")))
            }
        }
        Ok(())
    })?;
    for (_, (name, w, n, _)) in writers {
        let dir = w.dir().to_path_buf();
        w.close()?;
        // Summarise the trade files sealed by the import, give every file
        // of an order stream its book snapshot.
        crate::build_sidecars(&dir)?;
        report.streams.insert(name, n);
    }
    Ok(report)
}

fn note_skipped(report: &mut ImportReport, e: Error) {
    report.skipped += 1;
    if report.skipped_examples.len() < 10 {
        report.skipped_examples.push(e.to_string());
    }
}
