//! The import pipeline shared by every input format: check the whole
//! input, learn each symbol's scales, then write each symbol's stream.

use crate::decimal::{self, DecimalStyle};
use crate::input::for_each_line;
use crate::trade::Trade;
use crate::{Error, Result, StreamMeta};
use eventstore_log::{RollBy, RollInterval, StreamName, StreamWriter, WriterOptions};
use std::collections::BTreeMap;
use std::path::Path;

/// Input formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Binance recordings (`<receive ns> <json>` lines, or JSON lines).
    Binance,
    /// Tardis.dev `trades` CSV.
    TardisTrades,
}

impl Format {
    fn style(self) -> DecimalStyle {
        match self {
            Format::Binance => DecimalStyle::Fixed,
            Format::TardisTrades => DecimalStyle::Trimmed,
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
    /// Venue name used in stream names and metadata.
    pub venue: String,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            skip_bad: false,
            roll: RollInterval::HOURLY,
            venue: "binance".into(),
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

/// One parsed input line. Prices and sizes are at the places they were
/// printed with; the stream's scale is settled before writing.
pub(crate) enum Row {
    Trade {
        /// The venue, when the row names it (Tardis does).
        venue: Option<String>,
        /// The stream under `<venue>/<symbol>/`: `trades`, `aggtrades`.
        stream: &'static str,
        symbol: String,
        trade: Trade,
        price_places: usize,
        size_places: usize,
    },
    /// A message this importer does not store (yet).
    Other,
}

fn parse(format: Format, no: u64, line: &str) -> std::result::Result<Option<Row>, String> {
    match format {
        Format::Binance => crate::binance::parse_line(line),
        Format::TardisTrades => crate::tardis::parse_trade_line(no, line),
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
    // Pass 1: check every line, learn each symbol's scales (the decimal
    // places the venue prints: always the same for a fixed style, at most
    // the largest seen for a trimmed one).
    let style = format.style();
    let mut scales: BTreeMap<(String, String, &'static str), (usize, usize)> = BTreeMap::new();
    let mut bad_lines = std::collections::HashSet::new();
    for_each_line(input, |no, line| {
        let bad = |reason: String| Error::BadRow {
            file: input.to_path_buf(),
            line: no,
            reason,
        };
        let row = match parse(format, no, line) {
            Ok(r) => r,
            Err(reason) if opts.skip_bad => {
                note_skipped(&mut report, bad(reason));
                bad_lines.insert(no);
                return Ok(());
            }
            Err(reason) => return Err(bad(reason)),
        };
        if let Some(Row::Trade {
            venue,
            stream,
            symbol,
            price_places,
            size_places,
            ..
        }) = row
        {
            let venue = venue.unwrap_or_else(|| opts.venue.clone());
            let want = scales
                .entry((venue, symbol.clone(), stream))
                .or_insert((price_places, size_places));
            if style == DecimalStyle::Trimmed {
                want.0 = want.0.max(price_places);
                want.1 = want.1.max(size_places);
            } else if *want != (price_places, size_places) {
                let e = bad(format!(
                    "{symbol} prices and sizes had {} and {} decimal places, this trade {price_places} and {size_places}",
                    want.0, want.1
                ));
                if !opts.skip_bad {
                    return Err(e);
                }
                note_skipped(&mut report, e);
                bad_lines.insert(no);
            }
        }
        Ok(())
    })?;
    // The streams: new, or existing with the same metadata.
    let mut writers = BTreeMap::new();
    for ((venue, symbol, stream), (ps, ss)) in &scales {
        if *ps > decimal::MAX_SCALE as usize || *ss > decimal::MAX_SCALE as usize {
            return Err(Error::InvalidArgument(format!(
                "{symbol}: more than {} decimal places",
                decimal::MAX_SCALE
            )));
        }
        let name = StreamName::new(&format!("{venue}/{}/{stream}", symbol.to_ascii_lowercase()))?;
        let meta = StreamMeta {
            venue: venue.clone(),
            symbol: symbol.clone(),
            kind: "trades".into(),
            price_scale: *ps as u8,
            size_scale: *ss as u8,
            style,
        };
        let dir = name.dir(root);
        match StreamMeta::load(&dir)? {
            Some(m) if m != meta => {
                return Err(Error::InvalidArgument(format!(
                    "stream {name} holds {} {} {} at scales {}/{}; this input has {symbol} at {ps}/{ss}",
                    m.venue, m.symbol, m.kind, m.price_scale, m.size_scale
                )))
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
            (venue.clone(), symbol.clone(), *stream),
            (name.to_string(), w, 0u64, meta),
        );
    }
    // Pass 2: write.
    for_each_line(input, |no, line| {
        if bad_lines.contains(&no) {
            return Ok(());
        }
        match parse(format, no, line) {
            Ok(Some(Row::Trade {
                venue,
                stream,
                symbol,
                mut trade,
                price_places,
                size_places,
            })) => {
                let venue = venue.unwrap_or_else(|| opts.venue.clone());
                if let Some((_, w, n, meta)) = writers.get_mut(&(venue, symbol, stream)) {
                    let bad = |reason: String| Error::BadRow {
                        file: input.to_path_buf(),
                        line: no,
                        reason,
                    };
                    trade.price =
                        rescale(trade.price, price_places, meta.price_scale).map_err(bad)?;
                    trade.size = rescale(trade.size, size_places, meta.size_scale).map_err(bad)?;
                    w.append_at(trade.local_ts, &trade.encode())?;
                    *n += 1;
                }
            }
            Ok(Some(Row::Other)) => report.other += 1,
            Ok(None) => {}
            Err(reason) => {
                return Err(Error::BadRow {
                    file: input.to_path_buf(),
                    line: no,
                    reason: format!("{reason} (the input changed while importing)"),
                })
            }
        }
        Ok(())
    })?;
    for (_, (name, w, n, _)) in writers {
        let dir = w.dir().to_path_buf();
        w.close()?;
        // Summarise the files sealed by the import.
        crate::summary::summaries(&dir)?;
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
