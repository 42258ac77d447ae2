//! `eventstore import <format> <input>`: market-data recordings into
//! normalized market streams (`binance`, `tardis-trades`).

use crate::RootArg;
use anyhow::Result;
use eventstore_log::RollInterval;
use eventstore_market::import::{self as market, import, ImportOptions};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Binance recordings: `<receive ns> <json>` per line, cryptofeed captures, or JSON lines (trades, aggTrades, depth, snapshots, book tickers).
    Binance,
    /// Tardis.dev `trades` CSV.
    TardisTrades,
    /// Tardis.dev `book_snapshot_N` CSV.
    TardisBookSnapshot,
    /// Tardis.dev `incremental_book_L2` CSV.
    TardisL2,
    /// LOBSTER message file (order level); needs --date and --symbol.
    Lobster,
    /// Databento DBN (.dbn.zst): MBO records as order events, trades as trades.
    Databento,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Input format.
    pub format: Format,
    /// Input file (.gz and .zst are read directly).
    pub input: PathBuf,
    #[command(flatten)]
    pub root: RootArg,
    /// Roll interval of the streams written.
    #[arg(long, default_value = "1h")]
    pub roll: String,
    /// Count and report bad rows instead of stopping at the first (which names file and line).
    #[arg(long)]
    pub skip_bad: bool,
    /// Venue, for formats whose rows do not name it (default: binance; nasdaq for lobster).
    #[arg(long)]
    pub venue: Option<String>,
    /// The session's midnight as a UTC time, for LOBSTER's times of day
    /// (New York midnight of 2012-06-21 is 2012-06-21T04:00:00Z).
    #[arg(long)]
    pub date: Option<String>,
    /// The symbol, for formats whose rows do not name it (LOBSTER).
    #[arg(long)]
    pub symbol: Option<String>,
}

pub fn run(a: Args) -> Result<ExitCode> {
    let venue = a.venue.clone().unwrap_or_else(|| {
        match a.format {
            Format::Lobster => "nasdaq",
            _ => "binance",
        }
        .to_string()
    });
    let opts = ImportOptions {
        skip_bad: a.skip_bad,
        roll: RollInterval::parse(&a.roll)?,
        venue,
        date: a.date.clone(),
        symbol: a.symbol.clone(),
    };
    let format = match a.format {
        Format::Binance => market::Format::Binance,
        Format::TardisTrades => market::Format::TardisTrades,
        Format::TardisBookSnapshot => market::Format::TardisBookSnapshot,
        Format::TardisL2 => market::Format::TardisL2,
        Format::Lobster => market::Format::Lobster,
        Format::Databento => market::Format::Databento,
    };
    let r = import(format, &a.input, &a.root.root, &opts)?;
    for (s, n) in &r.streams {
        println!("{s}: {n} records");
    }
    if r.other > 0 {
        println!("{} messages of kinds not imported (klines, ...)", r.other);
    }
    if r.skipped > 0 {
        eprintln!("{} bad rows skipped, such as:", r.skipped);
        for e in &r.skipped_examples {
            eprintln!("  {e}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
