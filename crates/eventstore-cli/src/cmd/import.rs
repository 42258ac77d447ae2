//! `eventstore import <format> <input>`: market-data recordings into
//! normalized market streams (`binance`, `tardis-trades`).

use crate::RootArg;
use anyhow::Result;
use eventstore_log::CompactOptions;
use eventstore_log::RollInterval;
use eventstore_market::import::{import_all, Format, ImportOptions};
use std::path::PathBuf;
use std::process::ExitCode;

/// The importers' formats as the command line names them (the market
/// crate's names and descriptions).
fn format_parser() -> impl clap::builder::TypedValueParser<Value = Format> {
    use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
    PossibleValuesParser::new(Format::ALL.map(|f| PossibleValue::new(f.name()).help(f.describe())))
        .try_map(|s| Format::parse(&s).ok_or_else(|| format!("no input format {s:?}")))
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Input format.
    #[arg(value_parser = format_parser())]
    pub format: Format,
    /// Input files (.gz and .zst are read directly). Several files of one
    /// capture (cryptofeed's `.http.` and `.ws.` files) are merged by
    /// receive time; LOBSTER takes its message file and its orderbook file.
    #[arg(required = true, num_args = 1..)]
    pub inputs: Vec<PathBuf>,
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
    /// Keep the files as written (frames) instead of making each compact once sealed.
    #[arg(long)]
    pub no_compact: bool,
}

pub fn run(a: Args) -> Result<ExitCode> {
    let venue = a
        .venue
        .clone()
        .unwrap_or_else(|| a.format.default_venue().to_string());
    let opts = ImportOptions {
        skip_bad: a.skip_bad,
        roll: RollInterval::parse(&a.roll)?,
        venue,
        date: a.date.clone(),
        symbol: a.symbol.clone(),
        compact: (!a.no_compact).then(CompactOptions::default),
    };
    let r = import_all(a.format, &a.inputs, &a.root.root, &opts)?;
    for (s, n) in &r.streams {
        match r.books.get(s) {
            Some(b) => println!(
                "{s}: {n} records; book {} at the end, {} gaps, checksums {} ok, {} failed",
                if b.reliable_at_end {
                    "reliable"
                } else {
                    "UNRELIABLE"
                },
                b.gaps,
                b.checksums_ok,
                b.checksums_failed
            ),
            None => println!("{s}: {n} records"),
        }
    }
    if r.other > 0 {
        let kinds: Vec<String> = r
            .other_kinds
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        println!(
            "{} messages of kinds not imported: {}",
            r.other,
            kinds.join(", ")
        );
    }
    if r.snapshot_runs_closed > 0 {
        println!(
            "{} snapshot runs had no last flag; each ended at the next record not part of it",
            r.snapshot_runs_closed
        );
    }
    if r.aligned > 0 {
        println!(
            "{} records aligned the book with the published levels (the seed snapshot included)",
            r.aligned
        );
    }
    if r.skipped > 0 {
        eprintln!("{} bad rows skipped, such as:", r.skipped);
        for e in &r.skipped_examples {
            eprintln!("  {e}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
