//! `eventstore`: the command-line front of EventStore. Parses arguments and
//! calls the library; each command lives in `cmd/<name>.rs`.
#![deny(unsafe_code)]

mod cmd;
mod progress;
mod target;
mod text;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// EventStore: an append-only store for market-data streams, rolled into
/// time-named files, indexed by sequence and time.
#[derive(Parser)]
#[command(name = "eventstore", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    cmd: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write a synthetic market stream with minutely rolls into a temporary
    /// folder, read it back by sequence and by time, verify it, and print a summary.
    Demo(cmd::demo::Args),
    /// Append records read from standard input to a stream.
    Write(cmd::write::Args),
    /// Print a stream's records.
    Read(cmd::read::Args),
    /// Show the files, records, time span and size of a stream or of every stream under a root.
    Info(cmd::info::Args),
    /// Check every checksum, footer and index of a stream or of every stream under a root.
    Verify(cmd::verify::Args),
    /// Delete sealed files older than an age or beyond a total size (never the open file).
    Retain(cmd::retain::Args),
    /// Convert sealed files into compact files: the same records, bit for bit, in blocks encoded by column (a few bytes a market record).
    Compact(cmd::compact::Args),
    /// Upload every sealed file of a stream or root to object storage (file://, s3:// or az://).
    Upload(cmd::upload::Args),
    /// Download the streams of a remote (or the missing files of them) into a local root.
    Poll(cmd::poll::Args),
    /// List the streams on a remote or under a local root.
    Ls(cmd::ls::Args),
    /// Import a market-data recording into normalized market streams (Binance, Tardis, LOBSTER, Databento).
    Import(cmd::import::Args),
    /// Record a venue's live feeds (Binance, Binance USD-M futures, OKX) into market streams, books synced by snapshot after every gap.
    Record(cmd::record::Args),
    /// Print a trade stream's trades in a time range, as text, CSV or JSON.
    Trades(cmd::trades::Args),
    /// Print an order stream's book at a time, or its best levels at fixed intervals.
    Book(cmd::book::Args),
    /// Print an order stream's book at a time, then every update after it.
    Orders(cmd::orders::Args),
    /// Print an order stream's ledger: gaps and their causes, recoveries, anomalies, checksums.
    Audit(cmd::audit::Args),
    /// Host the streams of a folder over gRPC: appends and subscriptions from other machines.
    Serve(cmd::serve::Args),
    /// Append standard input's lines (or frames) to a stream on a server.
    Publish(cmd::publish::Args),
    /// Print a stream of a server from a position, up to a bound or following live appends.
    Subscribe(cmd::subscribe::Args),
}

impl Command {
    /// Whether the command opens network connections (or may: a remote
    /// can be `s3://` or `az://`).
    fn uses_sockets(&self) -> bool {
        matches!(
            self,
            Command::Serve(_)
                | Command::Publish(_)
                | Command::Subscribe(_)
                | Command::Upload(_)
                | Command::Poll(_)
                | Command::Ls(_)
                | Command::Record(_)
        )
    }
}

/// Where streams live, shared by the commands that take a stream.
#[derive(clap::Args, Clone, Debug)]
pub struct RootArg {
    /// Root folder of the streams.
    #[arg(long, env = "EVENTSTORE_ROOT", default_value = "./data")]
    pub root: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Every command may read compact files of market streams.
    eventstore_market::compact::install();
    if !cli.cmd.uses_sockets() {
        // Behave like other Unix tools when the reader of our output goes
        // away (`eventstore read ... | head`): end quietly instead of
        // failing a write. Commands that talk over sockets keep SIGPIPE
        // ignored: a peer closing its connection must be an error on that
        // connection, never the end of the process (a server would die of
        // any client). Their closed standard output is a `BrokenPipe`
        // error, which ends them quietly below.
        default_sigpipe();
    }
    let r = match cli.cmd {
        Command::Demo(a) => cmd::demo::run(a),
        Command::Write(a) => cmd::write::run(a),
        Command::Read(a) => cmd::read::run(a),
        Command::Info(a) => cmd::info::run(a),
        Command::Verify(a) => cmd::verify::run(a),
        Command::Retain(a) => cmd::retain::run(a),
        Command::Compact(a) => cmd::compact::run(a),
        Command::Upload(a) => cmd::upload::run(a),
        Command::Poll(a) => cmd::poll::run(a),
        Command::Ls(a) => cmd::ls::run(a),
        Command::Import(a) => cmd::import::run(a),
        Command::Record(a) => cmd::record::run(a),
        Command::Trades(a) => cmd::trades::run(a),
        Command::Book(a) => cmd::book::run(a),
        Command::Orders(a) => cmd::orders::run(a),
        Command::Audit(a) => cmd::audit::run(a),
        Command::Serve(a) => cmd::serve::run(a),
        Command::Publish(a) => cmd::publish::run(a),
        Command::Subscribe(a) => cmd::subscribe::run(a),
    };
    match r {
        Ok(code) => code,
        Err(e) => {
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            {
                return ExitCode::SUCCESS;
            }
            // Print the chain of causes, skipping those already quoted by
            // the message before them (storage errors repeat their sources).
            let mut msg = e.to_string();
            for cause in e.chain().skip(1) {
                let c = cause.to_string();
                if !msg.contains(&c) {
                    msg.push_str(": ");
                    msg.push_str(&c);
                }
            }
            eprintln!("error: {msg}");
            ExitCode::FAILURE
        }
    }
}

/// Restore the default disposition of SIGPIPE (Rust ignores it).
#[allow(unsafe_code)]
fn default_sigpipe() {
    // SAFETY: setting a signal disposition, from `main` before any thread
    // is started (listed in UNSAFE.md).
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
