//! The import pipeline shared by every input format: check the whole
//! input, learn each symbol's scales, then write each symbol's stream.

pub mod binance;
pub mod bybit;
mod capture;
pub mod coinbase;
pub mod databento;
pub mod input;
pub mod kraken;
pub mod lobster;
pub mod okx;
pub mod rows;
pub mod tardis;

use crate::records::decimal::{self, DecimalStyle};
use crate::records::meta::StreamKind;
use crate::{Error, Result, StreamMeta};
use eventstore_log::{RollBy, RollInterval, StreamName, StreamWriter, WriterOptions};
use rows::{rescale, MarketRecord, ParsedLine, StreamKey};
use std::collections::{BTreeMap, BTreeSet, HashSet};
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
    /// OKX v5 websocket recordings: books with their checksums, bbo, trades.
    Okx,
    /// Coinbase websocket recordings: level2 books and matches.
    Coinbase,
    /// Bybit v2 websocket recordings: orderBookL2 books and trades.
    Bybit,
    /// Kraken websocket v1 recordings: book-N with their checksums, trades.
    Kraken,
}

impl Format {
    /// Every format.
    pub const ALL: [Format; 10] = [
        Format::Binance,
        Format::TardisTrades,
        Format::TardisBookSnapshot,
        Format::TardisL2,
        Format::Lobster,
        Format::Databento,
        Format::Okx,
        Format::Coinbase,
        Format::Bybit,
        Format::Kraken,
    ];

    /// Its name on the command line (`binance`, `tardis-trades`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Format::Binance => "binance",
            Format::TardisTrades => "tardis-trades",
            Format::TardisBookSnapshot => "tardis-book-snapshot",
            Format::TardisL2 => "tardis-l2",
            Format::Lobster => "lobster",
            Format::Databento => "databento",
            Format::Okx => "okx",
            Format::Coinbase => "coinbase",
            Format::Bybit => "bybit",
            Format::Kraken => "kraken",
        }
    }

    /// What it reads, in a line.
    pub fn describe(self) -> &'static str {
        match self {
            Format::Binance => "Binance recordings: `<receive ns> <json>` per line, cryptofeed captures, or JSON lines (trades, aggTrades, depth, snapshots, book tickers)",
            Format::TardisTrades => "Tardis.dev `trades` CSV",
            Format::TardisBookSnapshot => "Tardis.dev `book_snapshot_N` CSV",
            Format::TardisL2 => "Tardis.dev `incremental_book_L2` CSV",
            Format::Lobster => "LOBSTER message file (order level); needs --date and --symbol",
            Format::Databento => "Databento DBN (.dbn.zst): MBO records as order events, trades as trades",
            Format::Okx => "OKX v5 websocket captures: books (checksums verified), books5, bbo-tbt, trades",
            Format::Coinbase => "Coinbase websocket captures: level2 (snapshot, l2update) books, match trades",
            Format::Bybit => "Bybit v2 websocket captures: orderBookL2 (snapshot, delta) books, trades",
            Format::Kraken => "Kraken websocket v1 captures: book-N (checksums verified, truncated to N), trades",
        }
    }

    /// The format named `name`.
    pub fn parse(name: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The venue of streams whose rows do not name it.
    pub fn default_venue(self) -> &'static str {
        match self {
            Format::Lobster => "nasdaq",
            Format::Okx => "okx",
            Format::Coinbase => "coinbase",
            Format::Bybit => "bybit",
            Format::Kraken => "kraken",
            _ => "binance",
        }
    }

    /// The venue checksum the records of `stream` carry.
    pub fn checksum(self, stream: &str) -> Option<crate::book::checksum::ChecksumKind> {
        match (self, stream) {
            (Format::Okx, "depth") => Some(crate::book::checksum::ChecksumKind::Okx),
            (Format::Kraken, s) if s.starts_with("book-") => {
                Some(crate::book::checksum::ChecksumKind::Kraken)
            }
            _ => None,
        }
    }

    /// The levels a side the venue publishes in `stream`, where it says
    /// (Kraken's `book-N`).
    fn published_depth(self, stream: &str) -> Option<u32> {
        match self {
            Format::Kraken => stream.strip_prefix("book-").and_then(|n| n.parse().ok()),
            _ => None,
        }
    }

    /// How the venue prints its decimals.
    pub fn style(self) -> DecimalStyle {
        match self {
            Format::Binance | Format::Lobster | Format::Databento | Format::Kraken => {
                DecimalStyle::Fixed
            }
            Format::TardisTrades
            | Format::TardisBookSnapshot
            | Format::TardisL2
            | Format::Okx
            | Format::Coinbase
            | Format::Bybit => DecimalStyle::Trimmed,
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
    /// Make each file compact once it is sealed (on by default; `None`
    /// keeps the files of frames as written).
    pub compact: Option<eventstore_log::CompactOptions>,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            skip_bad: false,
            roll: RollInterval::HOURLY,
            venue: "binance".into(),
            date: None,
            symbol: None,
            compact: Some(eventstore_log::CompactOptions::default()),
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
    /// Those messages by kind (`kline`, `tickers`, ...).
    pub other_kinds: BTreeMap<String, u64>,
    /// Snapshot runs whose last record did not carry the last flag, ended
    /// by the next record of their stream (which is not part of them) and
    /// stored with the flag on their last record.
    pub snapshot_runs_closed: u64,
    /// Records made to align a book with the levels the venue published
    /// (LOBSTER's orderbook file), the seed snapshot included.
    pub aligned: u64,
    /// The checks run on each order stream written, once its records are
    /// stored: the venue's sequencing, checksums, crossed books (see
    /// [`crate::read::orders::Ledger`]).
    pub books: BTreeMap<String, BookCheck>,
}

/// What replaying an imported order stream found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BookCheck {
    pub gaps: u64,
    pub checksums_ok: u64,
    pub checksums_failed: u64,
    /// The book at the end of the stream is known to be right.
    pub reliable_at_end: bool,
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
) -> std::result::Result<Option<ParsedLine>, String> {
    match format {
        Format::Lobster => crate::import::lobster::parse_line(no, line, cx.midnight_ns, &cx.symbol),
        Format::Databento => Err("DBN is binary: read through for_each_row".into()),
        Format::Binance => crate::import::binance::parse_line(line),
        Format::TardisTrades => crate::import::tardis::parse_trade_line(no, line),
        Format::TardisBookSnapshot => crate::import::tardis::parse_book_snapshot_line(no, line),
        Format::TardisL2 => crate::import::tardis::parse_l2_line(no, line),
        Format::Okx => crate::import::okx::parse_line(line),
        Format::Coinbase => crate::import::coinbase::parse_line(line),
        Format::Bybit => crate::import::bybit::parse_line(line),
        Format::Kraken => crate::import::kraken::parse_line(line),
    }
}

/// Where a row is: which input (its index in the list) and which line of
/// it (or record, for a binary format).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct At {
    input: usize,
    line: u64,
}

type Row = std::result::Result<Option<ParsedLine>, String>;

/// The rows of one text input, one at a time. Tardis incremental L2 rows
/// are each held back until the next row shows whether it ended its
/// exchange event (rows of one event share their timestamps): the last
/// row of each event gets the last-of-event flag.
struct TextRows<'a> {
    format: Format,
    cx: &'a Context,
    lines: input::Lines,
    held: Option<(u64, ParsedLine)>,
}

impl TextRows<'_> {
    fn next(&mut self) -> Result<Option<(u64, Row)>> {
        fn times(r: &ParsedLine) -> Option<(i64, i64)> {
            match r {
                ParsedLine::Records { recs, .. } => match recs.first() {
                    Some(MarketRecord::Level(l)) => Some((l.exchange_ts, l.local_ts)),
                    _ => None,
                },
                ParsedLine::Other(_) => None,
            }
        }
        fn mark_last(r: &mut ParsedLine) {
            if let ParsedLine::Records { recs, .. } = r {
                if let Some(MarketRecord::Level(l)) = recs.last_mut() {
                    l.flags |= crate::records::level::FLAG_LAST;
                }
            }
        }
        loop {
            let Some((no, line)) = self.lines.next_line()? else {
                return Ok(self.held.take().map(|(no, mut h)| {
                    mark_last(&mut h);
                    (no, Ok(Some(h)))
                }));
            };
            let row = line.and_then(|line| parse(self.format, self.cx, no, line));
            if self.format != Format::TardisL2 {
                return Ok(Some((no, row)));
            }
            match row {
                Ok(Some(row)) => {
                    let held = self.held.replace((no, row));
                    if let Some((hno, mut h)) = held {
                        if times(&h) != self.held.as_ref().and_then(|(_, r)| times(r)) {
                            mark_last(&mut h);
                        }
                        return Ok(Some((hno, Ok(Some(h)))));
                    }
                }
                other => return Ok(Some((no, other))),
            }
        }
    }
}

/// A LOBSTER message file read with its orderbook file, row for row: each
/// message comes with the records that align the book with the row (see
/// [`lobster`]).
struct LobsterRows<'a> {
    cx: &'a Context,
    messages: input::Lines,
    book_path: std::path::PathBuf,
    book: input::Lines,
    aligner: lobster::Aligner,
    depth: Option<usize>,
}

impl LobsterRows<'_> {
    fn next_book_row(&mut self) -> Result<Option<(u64, lobster::Published)>> {
        while let Some((no, line)) = self.book.next_line()? {
            let row = line.and_then(|l| lobster::parse_book_row(no, l));
            match row {
                Ok(None) => continue,
                Ok(Some(row)) => {
                    if self.depth.is_some_and(|d| d != row.depth) {
                        return Err(Error::BadRow {
                            file: self.book_path.clone(),
                            line: no,
                            reason: format!(
                                "{} levels, the rows before have {}",
                                row.depth,
                                self.depth.unwrap_or(0)
                            ),
                        });
                    }
                    self.depth = Some(row.depth);
                    return Ok(Some((no, row)));
                }
                Err(reason) => {
                    return Err(Error::BadRow {
                        file: self.book_path.clone(),
                        line: no,
                        reason,
                    })
                }
            }
        }
        Ok(None)
    }

    fn next(&mut self) -> Result<Option<(u64, Row)>> {
        let Some((no, line)) = self.messages.next_line()? else {
            if let Some((bno, _)) = self.next_book_row()? {
                return Err(Error::BadRow {
                    file: self.book_path.clone(),
                    line: bno,
                    reason: "the orderbook file has more rows than the message file has messages"
                        .into(),
                });
            }
            return Ok(None);
        };
        let row =
            line.and_then(|l| lobster::parse_line(no, l, self.cx.midnight_ns, &self.cx.symbol));
        if let Ok(None) = row {
            return Ok(Some((no, row)));
        }
        let Some((_, book)) = self.next_book_row()? else {
            return Err(Error::BadRow {
                file: self.book_path.clone(),
                line: self.book.line(),
                reason: format!("the orderbook file ends before message line {no}"),
            });
        };
        let Ok(Some(ParsedLine::Records {
            mut recs,
            venue,
            symbol,
            stream,
            kind,
            price_places,
            size_places,
        })) = row
        else {
            // A bad message: its book row is passed over, the next
            // message's row aligns the book.
            return Ok(Some((no, row)));
        };
        let msg = match recs.first() {
            Some(MarketRecord::Order(o)) => Some(*o),
            _ => None,
        };
        if let Some(msg) = msg {
            let aligned = self.aligner.after(&msg, &book);
            recs.extend(aligned.into_iter().map(MarketRecord::Order));
        }
        Ok(Some((
            no,
            Ok(Some(ParsedLine::Records {
                venue,
                symbol,
                stream,
                kind,
                price_places,
                size_places,
                recs,
            })),
        )))
    }
}

/// What one pass over the inputs learned besides the rows.
#[derive(Clone, Copy, Debug, Default)]
struct Pass {
    /// Levels a side the venue publishes (LOBSTER's orderbook file).
    depth: Option<usize>,
    /// Records made to align a book with those levels.
    aligned: u64,
}

/// Which of two LOBSTER inputs is the orderbook file: the one named so, or
/// the one whose first row has a multiple of 4 columns (a message has 6).
fn orderbook_index(inputs: &[std::path::PathBuf]) -> Result<usize> {
    let named: Vec<usize> = (0..inputs.len())
        .filter(|&i| {
            inputs[i].file_name().is_some_and(|n| {
                n.to_string_lossy()
                    .to_ascii_lowercase()
                    .contains("orderbook")
            })
        })
        .collect();
    if let [i] = named[..] {
        return Ok(i);
    }
    let mut book = Vec::new();
    for (i, path) in inputs.iter().enumerate() {
        let mut lines = input::Lines::open(path)?;
        while let Some((no, line)) = lines.next_line()? {
            let Ok(line) = line else { break };
            if line.trim().is_empty() || lobster::is_header(no, line) {
                continue;
            }
            if line.split(',').count().is_multiple_of(4) {
                book.push(i);
            }
            break;
        }
    }
    match book[..] {
        [i] => Ok(i),
        _ => Err(Error::InvalidArgument(
            "LOBSTER takes a message file and its orderbook file; which is which could not be told \
             (name the orderbook file *orderbook*)"
                .into(),
        )),
    }
}

/// Call `f(position, row)` for every row of `inputs`: lines of a text
/// format, records of a binary one (the position is then the record's).
/// The rows of several inputs are merged by receive time (a row without
/// records keeps the time of the row before it in its input; at equal
/// times the earlier input goes first), so that a capture split into
/// files (cryptofeed's REST answers and websocket messages) is stored in
/// the order it was received.
fn for_each_row(
    format: Format,
    cx: &Context,
    inputs: &[std::path::PathBuf],
    mut f: impl FnMut(At, Row) -> Result<()>,
) -> Result<Pass> {
    if format == Format::Lobster && inputs.len() > 1 {
        if inputs.len() > 2 {
            return Err(Error::InvalidArgument(format!(
                "a LOBSTER import takes a message file and its orderbook file, not {} files",
                inputs.len()
            )));
        }
        let b = orderbook_index(inputs)?;
        let m = 1 - b;
        let mut rows = LobsterRows {
            cx,
            messages: input::Lines::open(&inputs[m])?,
            book_path: inputs[b].clone(),
            book: input::Lines::open(&inputs[b])?,
            aligner: lobster::Aligner::default(),
            depth: None,
        };
        while let Some((line, row)) = rows.next()? {
            f(At { input: m, line }, row)?;
        }
        return Ok(Pass {
            depth: rows.depth,
            aligned: rows.aligner.aligned,
        });
    }
    if format == Format::Databento {
        let [input] = inputs else {
            return Err(Error::InvalidArgument(format!(
                "a Databento import takes one DBN file, not {}",
                inputs.len()
            )));
        };
        crate::import::databento::for_each_row(input, |line, row| f(At { input: 0, line }, row))?;
        return Ok(Pass::default());
    }
    let mut sources = Vec::with_capacity(inputs.len());
    for path in inputs {
        sources.push(TextRows {
            format,
            cx,
            lines: input::Lines::open(path)?,
            held: None,
        });
    }
    // Each input's next row, with the time it sorts by.
    let mut heads: Vec<Option<(i64, u64, Row)>> = Vec::with_capacity(sources.len());
    let mut last_ts = vec![i64::MIN; sources.len()];
    for (i, s) in sources.iter_mut().enumerate() {
        heads.push(s.next()?.map(|(no, row)| {
            let ts = sort_ts(&row, &mut last_ts[i]);
            (ts, no, row)
        }));
    }
    loop {
        let Some(i) = (0..heads.len())
            .filter(|&i| heads[i].is_some())
            .min_by_key(|&i| heads[i].as_ref().map(|h| h.0))
        else {
            return Ok(Pass::default());
        };
        let next = sources[i].next()?.map(|(no, row)| {
            let ts = sort_ts(&row, &mut last_ts[i]);
            (ts, no, row)
        });
        if let Some((_, no, row)) = std::mem::replace(&mut heads[i], next) {
            f(At { input: i, line: no }, row)?;
        }
    }
}

/// The time a row sorts by among several inputs: its first record's
/// receive time, else that of the row before it in its input.
fn sort_ts(row: &Row, last: &mut i64) -> i64 {
    if let Ok(Some(r)) = row {
        if let Some(ts) = r.local_ts() {
            *last = ts;
        }
    }
    *last
}

/// Import `input` into streams under `root` (see [`import_all`]).
pub fn import(
    format: Format,
    input: &Path,
    root: &Path,
    opts: &ImportOptions,
) -> Result<ImportReport> {
    import_all(format, &[input.to_path_buf()], root, opts)
}

/// Import `inputs` into streams under `root`, their rows merged by receive
/// time. The whole input is checked into a plan before anything is
/// written: a bad line stops the import (naming file and line) with
/// nothing written, unless `skip_bad` is set; so do values too large for
/// their stream's scale, a stream whose stored metadata differs from the
/// input's, and records older than a stream's last stored record (a
/// snapshot appended after the diffs it precedes would make the book
/// wrong: import such files together).
pub fn import_all(
    format: Format,
    inputs: &[std::path::PathBuf],
    root: &Path,
    opts: &ImportOptions,
) -> Result<ImportReport> {
    if inputs.is_empty() {
        return Err(Error::InvalidArgument("nothing to import: no input".into()));
    }
    let plan = plan(format, inputs, root, opts)?;
    write(plan, format, inputs, root, opts)
}

/// What a format needs besides the line.
fn context(format: Format, opts: &ImportOptions) -> Result<Context> {
    Ok(match format {
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
    })
}

/// The largest magnitude of the values of one column printed with a given
/// number of places, and the line it is on.
type Extremes = BTreeMap<usize, (u64, At)>;

/// Keep `magnitude` (on line `no`) as the largest at `places` if it is.
fn widen(e: &mut Extremes, places: usize, magnitude: u64, no: At) {
    let m = e.entry(places).or_insert((0, no));
    if magnitude > m.0 {
        *m = (magnitude, no);
    }
}

/// What the check of the input learned of one stream.
struct Seen {
    kind: StreamKind,
    price_places: usize,
    size_places: usize,
    prices: Extremes,
    sizes: Extremes,
    /// Its earliest record: receive time and row.
    first: Option<(i64, At)>,
}

/// Keep `ts` (on row `at`) as the earliest if it is.
fn earliest(first: &mut Option<(i64, At)>, ts: Option<i64>, at: At) {
    if let Some(ts) = ts {
        if first.is_none_or(|(f, _)| ts < f) {
            *first = Some((ts, at));
        }
    }
}

/// A line whose records do not name their symbol (a Binance REST depth
/// snapshot): they belong to the file's only depth symbol of the venue.
struct Unnamed {
    line: At,
    venue: String,
    stream: String,
    kind: StreamKind,
    price_places: usize,
    size_places: usize,
    /// Its largest values (see [`Seen`]).
    prices: Extremes,
    sizes: Extremes,
    ts: Option<i64>,
}

/// Everything the check found, ready to write.
struct Plan {
    cx: Context,
    /// Each stream's metadata, checked against what is stored.
    streams: BTreeMap<StreamKey, (StreamName, StreamMeta)>,
    /// The symbol unnamed lines of each venue belong to.
    resolved: BTreeMap<String, String>,
    /// Lines skipped as bad (with `skip_bad`).
    bad_lines: HashSet<At>,
    report: ImportReport,
}

/// Check every line of `input` and settle each stream's scales (the
/// decimal places the venue prints: always the same for a fixed style, at
/// most the largest seen for a trimmed one) and metadata. Nothing is
/// written.
fn plan(
    format: Format,
    inputs: &[std::path::PathBuf],
    root: &Path,
    opts: &ImportOptions,
) -> Result<Plan> {
    let cx = context(format, opts)?;
    let style = format.style();
    let mut report = ImportReport::default();
    let mut seen: BTreeMap<StreamKey, Seen> = BTreeMap::new();
    let mut unnamed: Vec<Unnamed> = Vec::new();
    let mut depth_symbols: BTreeSet<(String, String)> = BTreeSet::new();
    let mut bad_lines = HashSet::new();
    let merge = |seen: &mut BTreeMap<StreamKey, Seen>,
                 key: StreamKey,
                 kind: StreamKind,
                 pp: usize,
                 sp: usize|
     -> std::result::Result<(), String> {
        let want = seen.entry(key.clone()).or_insert(Seen {
            kind,
            price_places: pp,
            size_places: sp,
            prices: Extremes::new(),
            sizes: Extremes::new(),
            first: None,
        });
        if style == DecimalStyle::Trimmed {
            want.price_places = want.price_places.max(pp);
            want.size_places = want.size_places.max(sp);
        } else if (want.price_places, want.size_places) != (pp, sp) {
            return Err(format!(
                "{} {} prices and sizes had {} and {} decimal places, this row {pp} and {sp}",
                key.symbol, key.stream, want.price_places, want.size_places
            ));
        }
        Ok(())
    };
    // The largest value of each column at each number of places: enough
    // to know, once the scales are settled, whether every value fits.
    fn note(
        prices: &mut Extremes,
        sizes: &mut Extremes,
        no: At,
        pp: usize,
        sp: usize,
        recs: &[MarketRecord],
    ) {
        for r in recs {
            r.values(
                |v| widen(prices, pp, v.unsigned_abs(), no),
                |v| widen(sizes, sp, v.unsigned_abs(), no),
            );
        }
    }
    let pass = for_each_row(format, &cx, inputs, |no, parsed| {
        let bad = |reason: String| Error::BadRow {
            file: inputs[no.input].clone(),
            line: no.line,
            reason,
        };
        let checked = parsed.and_then(|row| match row {
            Some(ParsedLine::Records {
                venue,
                symbol,
                stream,
                kind,
                price_places,
                size_places,
                recs,
            }) => {
                let venue = venue.unwrap_or_else(|| opts.venue.clone());
                match symbol {
                    Some(symbol) => {
                        if stream == "depth" || stream.starts_with("book_snapshot") {
                            depth_symbols.insert((venue.clone(), symbol.clone()));
                        }
                        let key = StreamKey {
                            venue,
                            symbol,
                            stream,
                        };
                        merge(&mut seen, key.clone(), kind, price_places, size_places)?;
                        if let Some(s) = seen.get_mut(&key) {
                            earliest(&mut s.first, recs.first().map(MarketRecord::local_ts), no);
                            note(
                                &mut s.prices,
                                &mut s.sizes,
                                no,
                                price_places,
                                size_places,
                                &recs,
                            );
                        }
                        Ok(())
                    }
                    None => {
                        let mut u = Unnamed {
                            line: no,
                            venue,
                            stream,
                            kind,
                            price_places,
                            size_places,
                            prices: Extremes::new(),
                            sizes: Extremes::new(),
                            ts: recs.first().map(MarketRecord::local_ts),
                        };
                        note(
                            &mut u.prices,
                            &mut u.sizes,
                            no,
                            price_places,
                            size_places,
                            &recs,
                        );
                        unnamed.push(u);
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
    let mut resolved: BTreeMap<String, String> = BTreeMap::new();
    for u in unnamed {
        let candidates: Vec<&String> = depth_symbols
            .iter()
            .filter(|(v, _)| *v == u.venue)
            .map(|(_, s)| s)
            .collect();
        let bad = |reason: String| Error::BadRow {
            file: inputs[u.line.input].clone(),
            line: u.line.line,
            reason,
        };
        let [symbol] = candidates[..] else {
            return Err(bad(format!(
                "a depth snapshot without a symbol, and the file has {} depth symbols ({}); import one symbol per file",
                candidates.len(),
                candidates.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
            )));
        };
        resolved.insert(u.venue.clone(), symbol.clone());
        let key = StreamKey {
            venue: u.venue,
            symbol: symbol.clone(),
            stream: u.stream,
        };
        merge(
            &mut seen,
            key.clone(),
            u.kind,
            u.price_places,
            u.size_places,
        )
        .map_err(bad)?;
        if let Some(s) = seen.get_mut(&key) {
            earliest(&mut s.first, u.ts, u.line);
            for (mine, theirs) in [(&mut s.prices, u.prices), (&mut s.sizes, u.sizes)] {
                for (places, (v, line)) in theirs {
                    widen(mine, places, v, line);
                }
            }
        }
    }
    // Every stream checked before any is written: its scales, its values
    // at those scales, its stored metadata.
    let mut streams = BTreeMap::new();
    for (key, s) in seen {
        let (ps, ss) = (s.price_places, s.size_places);
        if ps > decimal::MAX_SCALE as usize || ss > decimal::MAX_SCALE as usize {
            return Err(Error::TooManyPlaces {
                symbol: key.symbol.clone(),
                max: decimal::MAX_SCALE as u32,
            });
        }
        for (extremes, scale, what) in [(&s.prices, ps, "price"), (&s.sizes, ss, "size")] {
            for (&places, &(max, line)) in extremes {
                let fits = i64::try_from(max)
                    .ok()
                    .and_then(|v| rescale(v, places, scale as u8).ok())
                    .is_some();
                if !fits && !opts.skip_bad {
                    return Err(Error::BadRow {
                        file: inputs[line.input].clone(),
                        line: line.line,
                        reason: format!(
                            "a {what} too large for the stream's scale ({} {} keeps {scale} decimal places)",
                            key.symbol, key.stream
                        ),
                    });
                }
            }
        }
        let name = StreamName::new(&format!(
            "{}/{}/{}",
            key.venue,
            key.symbol.to_ascii_lowercase(),
            key.stream
        ))?;
        let meta = StreamMeta {
            venue: key.venue.clone(),
            symbol: key.symbol.clone(),
            kind: s.kind,
            price_scale: ps as u8,
            size_scale: ss as u8,
            style,
            depth: pass
                .depth
                .filter(|_| s.kind == StreamKind::OrdersL3)
                .map(|d| d as u32)
                .or(format.published_depth(&key.stream)),
            checksum: format.checksum(&key.stream),
        };
        if let Some(m) = StreamMeta::load(&name.dir(root))? {
            if m != meta {
                return Err(Error::MetaMismatch {
                    stream: name.to_string(),
                    stored: format!(
                        "{} {} {} at scales {}/{}",
                        m.venue, m.symbol, m.kind, m.price_scale, m.size_scale
                    ),
                    input: format!("{} at {ps}/{ss}", key.symbol),
                });
            }
        }
        // Records go after what the stream holds, never before it.
        if let Some((ts, at)) = s.first {
            let dir = name.dir(root);
            if dir.exists() {
                if let Some((_, end)) = eventstore_log::stream_info(&dir)?.span() {
                    if ts < end {
                        return Err(Error::BadRow {
                            file: inputs[at.input].clone(),
                            line: at.line,
                            reason: format!(
                                "a record received at {} is older than the last one {name} holds ({}); \
                                 records are appended in receive order, so files of one capture \
                                 (such as cryptofeed's REST and websocket files) are imported together, \
                                 in one command, to be merged by receive time",
                                eventstore_log::time::format_utc(ts),
                                eventstore_log::time::format_utc(end)
                            ),
                        });
                    }
                }
            }
        }
        streams.insert(key, (name, meta));
    }
    Ok(Plan {
        cx,
        streams,
        resolved,
        bad_lines,
        report,
    })
}

/// One stream being written.
struct Output {
    name: String,
    writer: StreamWriter,
    records: u64,
    meta: StreamMeta,
    /// The latest record of a snapshot run that does not say it is the
    /// last: held until the next record shows whether the run ended.
    held: Option<MarketRecord>,
    /// Snapshot runs whose last record lacked the last flag, ended by the
    /// record after them.
    runs_closed: u64,
}

impl Output {
    /// Append `r`. A snapshot run ends at its record flagged last, or at
    /// the first record that is not part of it (not a snapshot record, or
    /// one that clears the book): the run's last record then gets the last
    /// flag, so that a reader knows the book is whole as soon as the run
    /// is stored (some Databento files end snapshot runs without
    /// `F_LAST`; without this the book would be taken as incomplete until
    /// the next record, which can be hours later).
    fn push(&mut self, mut r: MarketRecord) -> eventstore_log::Result<()> {
        let snapshot = r
            .flags_mut()
            .is_some_and(|f| *f & crate::records::level::FLAG_SNAPSHOT != 0);
        if let Some(mut h) = self.held.take() {
            if !snapshot || r.clears_book() {
                if let Some(f) = h.flags_mut() {
                    *f |= crate::records::level::FLAG_LAST;
                }
                self.runs_closed += 1;
            }
            h.append(&mut self.writer)?;
            self.records += 1;
        }
        let last = r
            .flags_mut()
            .is_some_and(|f| *f & crate::records::level::FLAG_LAST != 0);
        if snapshot && !last {
            self.held = Some(r);
            return Ok(());
        }
        r.append(&mut self.writer)?;
        self.records += 1;
        Ok(())
    }

    /// Append what is held: a run still open at the end of the input may
    /// have been cut short, so it stays without the last flag (the book
    /// stays unreliable until the next snapshot).
    fn finish(&mut self) -> eventstore_log::Result<()> {
        if let Some(h) = self.held.take() {
            h.append(&mut self.writer)?;
            self.records += 1;
        }
        Ok(())
    }
}

/// Write what `plan` settled: each stream's metadata, then every record.
fn write(
    plan: Plan,
    format: Format,
    inputs: &[std::path::PathBuf],
    root: &Path,
    opts: &ImportOptions,
) -> Result<ImportReport> {
    let Plan {
        cx,
        streams,
        resolved,
        bad_lines,
        mut report,
    } = plan;
    let mut outputs = BTreeMap::new();
    for (key, (name, meta)) in streams {
        meta.store(&name.dir(root))?;
        let writer = StreamWriter::open(
            root,
            &name,
            WriterOptions::default()
                .roll(opts.roll)
                .roll_by(RollBy::RecordTime)
                .pretouch(false)
                .compact(opts.compact),
        )?;
        outputs.insert(
            key,
            Output {
                name: name.to_string(),
                writer,
                records: 0,
                meta,
                held: None,
                runs_closed: 0,
            },
        );
    }
    let pass = for_each_row(format, &cx, inputs, |no, parsed| {
        if bad_lines.contains(&no) {
            return Ok(());
        }
        let bad = |reason: String| Error::BadRow {
            file: inputs[no.input].clone(),
            line: no.line,
            reason,
        };
        match parsed {
            Ok(Some(ParsedLine::Records {
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
                let key = StreamKey {
                    venue,
                    symbol,
                    stream,
                };
                if let Some(out) = outputs.get_mut(&key) {
                    // Values checked to fit unless bad rows are skipped:
                    // then a row that does not fit is skipped here.
                    let mut recs = recs;
                    for r in &mut recs {
                        if let Err(reason) = r.rescale(price_places, size_places, &out.meta) {
                            if opts.skip_bad {
                                note_skipped(&mut report, bad(reason));
                                return Ok(());
                            }
                            return Err(bad(reason));
                        }
                    }
                    for r in recs {
                        out.push(r)?;
                    }
                }
            }
            Ok(Some(ParsedLine::Other(kind))) => {
                report.other += 1;
                *report.other_kinds.entry(kind).or_insert(0) += 1;
            }
            Ok(None) => {}
            Err(reason) => {
                return Err(bad(format!("{reason} (the input changed while importing)")))
            }
        }
        Ok(())
    })?;
    report.aligned = pass.aligned;
    for (_, mut out) in outputs {
        out.finish()?;
        report.snapshot_runs_closed += out.runs_closed;
        let dir = out.writer.dir().to_path_buf();
        out.writer.close()?;
        // Summarise the trade files sealed by the import, give every file
        // of an order stream its book snapshot.
        crate::build_sidecars(&dir)?;
        if crate::book::replay::BookKind::of_stream(out.meta.kind).is_some() {
            let l = crate::OrderStreamReader::open_dir(&dir)?.ledger(i64::MIN, None)?;
            let (ok, failed) = l.checksums();
            report.books.insert(
                out.name.clone(),
                BookCheck {
                    gaps: l.gaps() as u64,
                    checksums_ok: ok,
                    checksums_failed: failed,
                    reliable_at_end: l.files.last().is_some_and(|f| f.end.reliable),
                },
            );
        }
        report.streams.insert(out.name, out.records);
    }
    Ok(report)
}

fn note_skipped(report: &mut ImportReport, e: Error) {
    report.skipped += 1;
    if report.skipped_examples.len() < 10 {
        report.skipped_examples.push(e.to_string());
    }
}
