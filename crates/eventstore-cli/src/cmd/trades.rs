//! `eventstore trades <stream> --from T --to T`: a trade stream's trades
//! in a time range (receive time), as text, CSV or JSON lines.

use crate::text::{csv_trade_id, json_trade_id};
use crate::RootArg;
use anyhow::Result;
use eventstore_log::time::{format_utc, parse_time};
use eventstore_log::StreamName;
use eventstore_market::read::bars::Bars;
use eventstore_market::records::decimal;
use eventstore_market::{StreamMeta, TradeStreamReader};
use std::io::Write;
use std::process::ExitCode;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `<receive time> <side> <size> @ <price> #<id>` per line.
    Text,
    /// local_ts,exchange_ts,price,size,side,trade_id (times in ns) with a header.
    Csv,
    /// One JSON object per line; prices and sizes as strings.
    Json,
    /// A Parquet file (`--output`), typed columns: timestamp[ns, UTC], decimal128, string, uint64.
    /// Needs a build with `--features parquet`.
    Parquet,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Trade stream name, such as binance/btcusdt/trades.
    pub stream: String,
    #[command(flatten)]
    pub root: RootArg,
    /// From this receive time (RFC 3339 UTC or ns), inclusive.
    #[arg(long)]
    pub from: Option<String>,
    /// To this receive time, exclusive.
    #[arg(long)]
    pub to: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Print OHLCV bars of this interval (1s, 1m, 5m, 1h, 1d, ...) instead
    /// of trades: open, high, low, close, volume, buy and sell volume, VWAP, count.
    #[arg(long, conflicts_with = "summary")]
    pub bars: Option<String>,
    /// Print each sealed file's summary (trades, first and last time, OHLC,
    /// volume by side, VWAP) from its `.summary.json`, built if missing.
    #[arg(long)]
    pub summary: bool,
    /// Output file, for --format parquet.
    #[arg(long, short = 'o')]
    pub output: Option<std::path::PathBuf>,
}

pub fn run(a: Args) -> Result<ExitCode> {
    let name = StreamName::new(&a.stream)?;
    let from = a.from.as_deref().map(parse_time).transpose()?;
    let to = a.to.as_deref().map(parse_time).transpose()?;
    let mut r = TradeStreamReader::open(&a.root.root, &name, from, to)?;
    let m = r.meta().clone();
    if a.summary {
        return print_summaries(&name.dir(&a.root.root), &m, a.format);
    }
    if a.format == Format::Parquet {
        if a.bars.is_some() {
            anyhow::bail!("--bars is printed as text, csv or json, not parquet");
        }
        let Some(out) = &a.output else {
            anyhow::bail!("--format parquet needs --output FILE");
        };
        drop(r);
        return parquet_out(&a.root.root, &name, (from, to), out);
    }
    if let Some(b) = &a.bars {
        let ns = eventstore_log::time::parse_duration_ns(b)?;
        if ns <= 0 {
            anyhow::bail!("--bars {b}: the interval must be positive");
        }
        return print_bars(Bars::new(r, ns), &m, a.format);
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    if a.format == Format::Csv {
        writeln!(out, "local_ts,exchange_ts,price,size,side,trade_id")?;
    }
    let mut line: Vec<u8> = Vec::with_capacity(128);
    while let Some(t) = r.try_next()? {
        line.clear();
        let price = decimal::format(t.price, m.price_scale, m.style);
        let size = decimal::format(t.size, m.size_scale, m.style);
        match a.format {
            Format::Text => {
                let _ = write!(
                    line,
                    "{} {} {size} @ {price} #{}",
                    format_utc(t.local_ts),
                    t.side.as_str(),
                    t.trade_id
                );
            }
            Format::Csv => {
                let _ = write!(
                    line,
                    "{},{},{price},{size},{},",
                    t.local_ts,
                    t.exchange_ts,
                    t.side.as_str(),
                );
                csv_trade_id(&mut line, &t.trade_id);
            }
            Format::Json | Format::Parquet => {
                let _ = write!(
                    line,
                    "{{\"local_ts\":{},\"exchange_ts\":{},\"price\":\"{price}\",\"size\":\"{size}\",\"side\":\"{}\",\"trade_id\":",
                    t.local_ts,
                    t.exchange_ts,
                    t.side.as_str(),
                );
                json_trade_id(&mut line, &t.trade_id);
                line.push(b'}');
            }
        }
        line.push(b'\n');
        out.write_all(&line)?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// A bar's fields as printed: names and values (prices and sizes at the stream's scales).
pub(crate) fn bar_fields(
    b: &eventstore_market::read::bars::Bar,
    m: &StreamMeta,
) -> [(&'static str, String); 8] {
    let p = |v: i64| decimal::format(v, m.price_scale, m.style);
    let q = |v: i64| decimal::format(v, m.size_scale, m.style);
    [
        ("open", p(b.open)),
        ("high", p(b.high)),
        ("low", p(b.low)),
        ("close", p(b.close)),
        ("volume", q(b.volume)),
        ("buy_volume", q(b.buy_volume)),
        ("sell_volume", q(b.sell_volume)),
        ("vwap", b.vwap().map(p).unwrap_or_default()),
    ]
}

/// One output line: `lead` (already formatted key fields), then the bar's
/// fields, then `count`, in the chosen format.
pub(crate) fn bar_line(
    format: Format,
    lead: &[(&str, String)],
    fields: &[(&'static str, String)],
    count: u64,
) -> String {
    match format {
        Format::Csv => {
            let mut v: Vec<&str> = lead.iter().map(|(_, x)| x.as_str()).collect();
            v.extend(fields.iter().map(|(_, x)| x.as_str()));
            format!("{},{count}", v.join(","))
        }
        Format::Json | Format::Parquet => {
            let mut v: Vec<String> = lead.iter().map(|(k, x)| format!("\"{k}\":{x}")).collect();
            v.extend(fields.iter().map(|(k, x)| format!("\"{k}\":\"{x}\"")));
            format!("{{{},\"trades\":{count}}}", v.join(","))
        }
        Format::Text => {
            let mut v: Vec<String> = lead.iter().map(|(_, x)| x.clone()).collect();
            v.extend(fields.iter().map(|(k, x)| format!("{k} {x}")));
            format!("{} trades {count}", v.join(" "))
        }
    }
}

fn print_bars(mut bars: Bars, m: &StreamMeta, format: Format) -> Result<ExitCode> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    if format == Format::Csv {
        writeln!(
            out,
            "start,open,high,low,close,volume,buy_volume,sell_volume,vwap,trades"
        )?;
    }
    while let Some(b) = bars.try_next()? {
        let start = match format {
            Format::Text => format_utc(b.start_ns),
            _ => b.start_ns.to_string(),
        };
        let line = bar_line(format, &[("start", start)], &bar_fields(&b, m), b.trades);
        writeln!(out, "{line}")?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn print_summaries(dir: &std::path::Path, m: &StreamMeta, format: Format) -> Result<ExitCode> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    if format == Format::Csv {
        writeln!(
            out,
            "file,first_ts,last_ts,open,high,low,close,volume,buy_volume,sell_volume,vwap,trades"
        )?;
    }
    for (f, s) in eventstore_market::read::summary::summaries(dir)? {
        let file = f
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let Some(b) = s.bar else {
            writeln!(out, "{file} 0 trades")?;
            continue;
        };
        let (first, last) = (s.first_ts.unwrap_or(0), s.last_ts.unwrap_or(0));
        let lead = match format {
            Format::Text => vec![
                ("file", file),
                ("first_ts", format_utc(first)),
                ("last_ts", format_utc(last)),
            ],
            Format::Csv => vec![
                ("file", file),
                ("first_ts", first.to_string()),
                ("last_ts", last.to_string()),
            ],
            _ => vec![
                ("file", format!("\"{file}\"")),
                ("first_ts", first.to_string()),
                ("last_ts", last.to_string()),
            ],
        };
        writeln!(
            out,
            "{}",
            bar_line(format, &lead, &bar_fields(&b, m), s.trades)
        )?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
#[cfg(feature = "parquet")]
fn parquet_out(
    root: &std::path::Path,
    name: &StreamName,
    (from, to): (Option<i64>, Option<i64>),
    out: &std::path::Path,
) -> Result<ExitCode> {
    let batches = eventstore_market::arrow::Batches::open(root, name, from, to, 65_536)?;
    let n = eventstore_market::export::trades_to_parquet(batches, out)?;
    eprintln!("{n} trades written to {}", out.display());
    Ok(ExitCode::SUCCESS)
}

#[cfg(not(feature = "parquet"))]
fn parquet_out(
    _root: &std::path::Path,
    _name: &StreamName,
    _range: (Option<i64>, Option<i64>),
    _out: &std::path::Path,
) -> Result<ExitCode> {
    anyhow::bail!(
        "this eventstore was built without Parquet: build it with `cargo build --release -p eventstore-cli --features parquet`"
    )
}
