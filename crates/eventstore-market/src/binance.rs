//! Binance recordings: one message per line, `<local receive ns> <json>`
//! (as written by hftbacktest's collector), or plain JSON lines. Messages
//! may come wrapped in a combined-stream envelope (`{"stream":..,"data":..}`).
//!
//! Imported now: `trade` messages, into `binance/<symbol>/trades`. Other
//! messages (depth, bookTicker, aggTrade, snapshots) are counted and left
//! for the order-book records.

use crate::decimal::{self, DecimalStyle};
use crate::input::for_each_line;
use crate::trade::{Side, Trade};
use crate::{Error, Result, StreamMeta};
use eventstore_log::{RollBy, RollInterval, StreamName, StreamWriter, WriterOptions};
use std::collections::BTreeMap;
use std::path::Path;

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

/// One parsed line.
enum Row {
    Trade {
        symbol: String,
        trade: Trade,
        price_places: usize,
        size_places: usize,
    },
    Other,
}

/// Parse `<ns> <json>` or `<json>`; `Ok(None)` for an empty line.
fn parse_line(line: &str) -> std::result::Result<Option<Row>, String> {
    let line = line.trim();
    if line.is_empty() {
        return Ok(None);
    }
    let (local, json) = match line.split_once(' ') {
        Some((ns, rest)) if ns.bytes().all(|b| b.is_ascii_digit()) => (
            Some(
                ns.parse::<i64>()
                    .map_err(|_| format!("receive time {ns:?} is not a number of ns"))?,
            ),
            rest,
        ),
        _ => (None, line),
    };
    let v: serde_json::Value =
        serde_json::from_str(json).map_err(|e| format!("not a JSON message: {e}"))?;
    let msg = v.get("data").unwrap_or(&v);
    if msg.get("e").and_then(|e| e.as_str()) != Some("trade") {
        return Ok(Some(Row::Other));
    }
    let s = |k: &str| {
        msg.get(k)
            .and_then(|x| x.as_str())
            .ok_or_else(|| format!("trade without string field {k:?}"))
    };
    let n = |k: &str| {
        msg.get(k)
            .and_then(|x| x.as_u64())
            .ok_or_else(|| format!("trade without number field {k:?}"))
    };
    let (p, q) = (s("p")?, s("q")?);
    // Each price and size is stored at the decimal places it is printed
    // with; the import checks that they are the same on every line.
    let (price_places, size_places) = (decimal::places(p), decimal::places(q));
    let exchange_ts = (n("T")? as i64)
        .checked_mul(1_000_000)
        .ok_or("trade time out of range")?;
    let side = match msg.get("m").and_then(|m| m.as_bool()) {
        // The buyer was the maker: the seller crossed the spread.
        Some(true) => Side::Sell,
        Some(false) => Side::Buy,
        None => return Err("trade without boolean field \"m\"".into()),
    };
    Ok(Some(Row::Trade {
        symbol: s("s")?.to_string(),
        trade: Trade {
            exchange_ts,
            local_ts: local.unwrap_or(exchange_ts),
            price: decimal::parse(p, price_places as u8)?,
            size: decimal::parse(q, size_places as u8)?,
            side,
            trade_id: n("t")?,
        },
        price_places,
        size_places,
    }))
}

/// Import `input` into streams under `root`. The whole input is checked
/// before anything is written: a bad line stops the import (naming file and
/// line) with nothing written, unless `skip_bad` is set.
pub fn import(input: &Path, root: &Path, opts: &ImportOptions) -> Result<ImportReport> {
    let mut report = ImportReport::default();
    // Pass 1: check every line, learn each symbol's scales (the decimal
    // places the venue prints).
    let mut scales: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut bad_lines = std::collections::HashSet::new();
    for_each_line(input, |no, line| {
        let bad = |reason: String| Error::BadRow {
            file: input.to_path_buf(),
            line: no,
            reason,
        };
        let row = match parse_line(line) {
            Ok(r) => r,
            Err(reason) if opts.skip_bad => {
                note_skipped(&mut report, bad(reason));
                bad_lines.insert(no);
                return Ok(());
            }
            Err(reason) => return Err(bad(reason)),
        };
        if let Some(Row::Trade {
            symbol,
            price_places,
            size_places,
            ..
        }) = row
        {
            let want = *scales
                .entry(symbol.clone())
                .or_insert((price_places, size_places));
            if want != (price_places, size_places) {
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
    for (symbol, (ps, ss)) in &scales {
        let name = StreamName::new(&format!(
            "{}/{}/trades",
            opts.venue,
            symbol.to_ascii_lowercase()
        ))?;
        let meta = StreamMeta {
            venue: opts.venue.clone(),
            symbol: symbol.clone(),
            kind: "trades".into(),
            price_scale: *ps as u8,
            size_scale: *ss as u8,
            style: DecimalStyle::Fixed,
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
        writers.insert(symbol.clone(), (name.to_string(), w, 0u64));
    }
    // Pass 2: write.
    for_each_line(input, |no, line| {
        if bad_lines.contains(&no) {
            return Ok(());
        }
        match parse_line(line) {
            Ok(Some(Row::Trade { symbol, trade, .. })) => {
                if let Some((_, w, n)) = writers.get_mut(&symbol) {
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
    for (_, (name, w, n)) in writers {
        w.close()?;
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
