//! `eventstore book <stream> --at T [--depth N]`: an order stream's book at
//! a time; `eventstore book <stream> --every 1s --from T --to T2 [--depth N]`:
//! the best N levels at fixed intervals (text, CSV, JSON or Parquet).

use crate::RootArg;
use anyhow::Result;
use eventstore_log::time::{format_utc, parse_duration_ns, parse_time};
use eventstore_log::StreamName;
use eventstore_market::book::replay::Replay;
use eventstore_market::read::orders::{book_columns, BookRow, OrderStreamReader};
use eventstore_market::records::decimal;
use eventstore_market::StreamMeta;
use std::io::Write;
use std::process::ExitCode;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// A ladder: asks from the deepest down to the best, then bids.
    Text,
    /// `--at`: side,level,price,size. `--every`: ts,reliable,bid_price_0,bid_size_0,ask_price_0,ask_size_0,...
    Csv,
    /// One JSON object (per row with --every); prices and sizes as strings.
    Json,
    /// With --every: a Parquet file (`--output`), prices and sizes as decimal128.
    /// Needs a build with `--features parquet`.
    Parquet,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Order stream name, such as binance/btcusdt/depth or nasdaq/amzn/orders.
    pub stream: String,
    #[command(flatten)]
    pub root: RootArg,
    /// The book after every update received before this time (RFC 3339 UTC or ns).
    #[arg(long, conflicts_with = "every")]
    pub at: Option<String>,
    /// Print the book at this interval (1s, 1m, ...) from --from to --to.
    #[arg(long, requires = "from")]
    pub every: Option<String>,
    /// First row's time, with --every.
    #[arg(long)]
    pub from: Option<String>,
    /// Rows before this time, with --every (default: up to the last update).
    #[arg(long)]
    pub to: Option<String>,
    /// Levels per side.
    #[arg(long, default_value_t = 20)]
    pub depth: usize,
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Output file, for --format parquet.
    #[arg(long, short = 'o')]
    pub output: Option<std::path::PathBuf>,
}

pub fn run(a: Args) -> Result<ExitCode> {
    let name = StreamName::new(&a.stream)?;
    let r = OrderStreamReader::open(&a.root.root, &name)?;
    let m = r.meta().clone();
    // Levels beyond those the venue publishes are not known: not shown.
    let depth = m.depth.map_or(a.depth, |d| a.depth.min(d as usize));
    let a = Args { depth, ..a };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    if let Some(every) = &a.every {
        let ns = parse_duration_ns(every)?;
        let from = parse_time(a.from.as_deref().unwrap_or_default())?;
        let to = a.to.as_deref().map(parse_time).transpose()?;
        let step = std::time::Duration::from_nanos(u64::try_from(ns).unwrap_or(0));
        let mut rows = r.every(from, to, step, a.depth)?;
        if a.format == Format::Parquet {
            let Some(path) = &a.output else {
                anyhow::bail!("--format parquet needs --output FILE");
            };
            return parquet_out(rows, &m, a.depth, path);
        }
        if a.format == Format::Csv {
            writeln!(out, "{}", book_columns(a.depth).join(","))?;
        }
        while let Some(row) = rows.try_next()? {
            writeln!(out, "{}", row_line(&row, &m, a.depth, a.format))?;
        }
        out.flush()?;
        return Ok(ExitCode::SUCCESS);
    }
    let Some(at) = &a.at else {
        anyhow::bail!("give --at TIME (the book at a time) or --every INTERVAL --from TIME");
    };
    if a.format == Format::Parquet {
        anyhow::bail!("--format parquet writes rows of --every; the book --at a time prints as text, csv or json");
    }
    let t = parse_time(at)?;
    let book = r.book_at(t)?;
    let b = &book.replay;
    let (bids, asks) = b.depth(a.depth);
    let p = |v: i64| decimal::format(v, m.price_scale, m.style);
    let q = |v: i64| decimal::format(v, m.size_scale, m.style);
    match a.format {
        Format::Text => write_ladder(&mut out, b, &m, t, a.depth)?,
        Format::Csv => {
            writeln!(out, "side,level,price,size")?;
            for (side, levels) in [("bid", &bids), ("ask", &asks)] {
                for (i, (price, size)) in levels.iter().enumerate() {
                    writeln!(out, "{side},{i},{},{}", p(*price), q(*size))?;
                }
            }
        }
        Format::Json | Format::Parquet => {
            // (Parquet was refused above.)
            let row = BookRow {
                ts: t,
                reliable: b.is_reliable(),
                bids,
                asks,
            };
            writeln!(out, "{}", row_line(&row, &m, a.depth, Format::Json))?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// The book as a ladder: a line with its state, then the asks from the
/// deepest down to the best, then the bids.
pub(crate) fn write_ladder(
    out: &mut impl Write,
    b: &Replay,
    m: &StreamMeta,
    t: i64,
    depth: usize,
) -> std::io::Result<()> {
    let (bids, asks) = b.depth(depth);
    let p = |v: i64| decimal::format(v, m.price_scale, m.style);
    let q = |v: i64| decimal::format(v, m.size_scale, m.style);
    writeln!(
        out,
        "{} {} as of {}: {} ({} gaps so far){}",
        m.symbol,
        m.venue,
        format_utc(t),
        {
            let st = b.state();
            let since = if st.since == 0 {
                "the start".to_string()
            } else {
                format_utc(st.since)
            };
            if st.reliable {
                format!("reliable since {since}")
            } else {
                format!("UNRELIABLE since {since}: {}", st.cause.as_str())
            }
        },
        b.gaps(),
        if b.is_crossed() { ", CROSSED" } else { "" }
    )?;
    if let Some(d) = m.depth {
        writeln!(
            out,
            "  ({d} levels a side are published; deeper ones are unknown)"
        )?;
    }
    let w = asks
        .iter()
        .chain(&bids)
        .map(|l| p(l.0).len())
        .max()
        .unwrap_or(0);
    for (price, size) in asks.iter().rev() {
        writeln!(out, "  ask {:>w$}  {}", p(*price), q(*size))?;
    }
    writeln!(out, "  ---")?;
    for (price, size) in &bids {
        writeln!(out, "  bid {:>w$}  {}", p(*price), q(*size))?;
    }
    Ok(())
}

fn row_line(row: &BookRow, m: &StreamMeta, depth: usize, format: Format) -> String {
    let p = |v: i64| decimal::format(v, m.price_scale, m.style);
    let q = |v: i64| decimal::format(v, m.size_scale, m.style);
    let side = |levels: &[(i64, i64)]| -> Vec<String> {
        levels
            .iter()
            .map(|(price, size)| format!("[\"{}\",\"{}\"]", p(*price), q(*size)))
            .collect()
    };
    match format {
        Format::Csv => {
            let mut v = vec![row.ts.to_string(), row.reliable.to_string()];
            for i in 0..depth {
                for levels in [&row.bids, &row.asks] {
                    match levels.get(i) {
                        Some((price, size)) => {
                            v.push(p(*price));
                            v.push(q(*size));
                        }
                        None => v.extend([String::new(), String::new()]),
                    }
                }
            }
            v.join(",")
        }
        Format::Json | Format::Parquet => format!(
            "{{\"ts\":{},\"reliable\":{},\"bids\":[{}],\"asks\":[{}]}}",
            row.ts,
            row.reliable,
            side(&row.bids).join(","),
            side(&row.asks).join(",")
        ),
        Format::Text => {
            let best = |l: Option<&(i64, i64)>| {
                l.map(|(price, size)| format!("{} x {}", q(*size), p(*price)))
                    .unwrap_or_else(|| "-".into())
            };
            format!(
                "{} bid {} | ask {}{}",
                format_utc(row.ts),
                best(row.bids.first()),
                best(row.asks.first()),
                if row.reliable { "" } else { "  (unreliable)" }
            )
        }
    }
}

#[cfg(feature = "parquet")]
fn parquet_out(
    rows: eventstore_market::read::orders::Periodic,
    m: &StreamMeta,
    depth: usize,
    out: &std::path::Path,
) -> Result<ExitCode> {
    let n = eventstore_market::export::book_rows_to_parquet(rows, m, depth, out)?;
    eprintln!("{n} rows written to {}", out.display());
    Ok(ExitCode::SUCCESS)
}

#[cfg(not(feature = "parquet"))]
fn parquet_out(
    _rows: eventstore_market::read::orders::Periodic,
    _m: &StreamMeta,
    _depth: usize,
    _out: &std::path::Path,
) -> Result<ExitCode> {
    anyhow::bail!(
        "this eventstore was built without Parquet: build it with `cargo build --release -p eventstore-cli --features parquet`"
    )
}
