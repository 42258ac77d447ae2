//! `eventstore subscribe <addr> <stream>`: print a server's stream from a
//! position, up to a bound or following live appends.

use super::client_args::ClientArgs;
use super::read::{format_record, PrintArgs, RangeArgs};
use super::remote_args::runtime;
use anyhow::Result;
use eventstore_log::Record;
use std::io::Write;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Server address, host:port.
    pub addr: String,
    /// Stream name.
    pub stream: String,
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(flatten)]
    pub range: RangeArgs,
    #[command(flatten)]
    pub print: PrintArgs,
    /// For an order stream: first the book as of the start (--from-time, the
    /// beginning or the end), as 64-byte records whose lines begin with
    /// `snapshot ` (except with -o raw), then the stored records from it.
    #[arg(long)]
    pub with_book: bool,
}

pub fn run(a: Args) -> Result<ExitCode> {
    let (start, stop) = a.range.bounds()?;
    eventstore_log::StreamName::new(&a.stream)?;
    let rt = runtime()?;
    rt.block_on(async {
        let client = a.client.connect(&a.addr).await?;
        let mut sub = if a.with_book {
            client.subscribe_book(&a.stream, start, stop, a.range.follow)
        } else {
            client.subscribe(&a.stream, start, stop, a.range.follow)
        };
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
        let limit = a.print.limit.unwrap_or(u64::MAX);
        let mut n = 0u64;
        let mut line = Vec::with_capacity(256);
        while n < limit {
            let Some(batch) = sub.next_batch().await else {
                break;
            };
            for e in batch? {
                if n == limit {
                    break;
                }
                line.clear();
                if e.snapshot && a.print.output != super::read::Output::Raw {
                    line.extend_from_slice(b"snapshot ");
                }
                let rec = Record {
                    seq: e.seq,
                    timestamp: e.timestamp_ns,
                    payload: &e.payload,
                };
                format_record(&mut line, &rec, a.print.output);
                out.write_all(&line)?;
                n += 1;
            }
            out.flush()?;
        }
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
