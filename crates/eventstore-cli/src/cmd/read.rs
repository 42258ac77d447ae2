//! `eventstore read <stream>`: print records by sequence or time, or follow.

use crate::text::json_string;
use crate::RootArg;
use anyhow::{bail, Result};
use eventstore_log::time::{format_utc, parse_time};
use eventstore_log::{ReadOptions, Record, StartAt, StopAt, StreamReader};
use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// `<seq> <time> <payload as text>` per line.
    Text,
    /// The payload alone, one per line.
    Raw,
    /// `<seq> <time> <payload in hex>` per line.
    Hex,
    /// One JSON object per line: seq, ts (ns), time (RFC 3339), payload (text, or payload_hex).
    Json,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Stream name (or path to a stream folder).
    pub stream: String,
    #[command(flatten)]
    pub root: RootArg,
    #[command(flatten)]
    pub range: RangeArgs,
    #[command(flatten)]
    pub print: PrintArgs,
}

/// How records are printed: shared by `read` and `subscribe`.
#[derive(clap::Args, Debug, Clone)]
pub struct PrintArgs {
    /// Output format.
    #[arg(long, short, value_enum, default_value = "text")]
    pub output: Output,
    /// Print at most this many records.
    #[arg(long, short = 'n')]
    pub limit: Option<u64>,
}

/// Where reading starts and stops, and whether it follows new records:
/// shared by `read` (a local stream) and `subscribe` (a server's).
#[derive(clap::Args, Debug, Clone)]
pub struct RangeArgs {
    /// Start at this sequence number.
    #[arg(long, conflicts_with_all = ["from_time", "from_end"])]
    pub from_seq: Option<u64>,
    /// Start at the first record at or after this time (RFC 3339 UTC or ns since the epoch).
    #[arg(long, conflicts_with = "from_end")]
    pub from_time: Option<String>,
    /// Start after the last record: print only new ones (use with --follow).
    #[arg(long)]
    pub from_end: bool,
    /// Stop before this sequence number.
    #[arg(long, conflicts_with = "to_time")]
    pub to_seq: Option<u64>,
    /// Stop before the first record at or after this time.
    #[arg(long)]
    pub to_time: Option<String>,
    /// Keep waiting for new records, like tail -f.
    #[arg(long, short)]
    pub follow: bool,
}

impl RangeArgs {
    /// The start and the stop bound, checked against each other.
    pub fn bounds(&self) -> Result<(StartAt, Option<StopAt>)> {
        let start = match (self.from_seq, &self.from_time, self.from_end) {
            (Some(s), _, _) => StartAt::Seq(s),
            (_, Some(t), _) => StartAt::Time(parse_time(t)?),
            (_, _, true) => StartAt::End,
            _ => StartAt::Beginning,
        };
        let stop = match (self.to_seq, &self.to_time) {
            (Some(s), _) => Some(StopAt::Seq(s)),
            (_, Some(t)) => Some(StopAt::Time(parse_time(t)?)),
            _ => None,
        };
        if let (StartAt::Seq(f), Some(StopAt::Seq(t))) = (start, stop) {
            if t < f {
                bail!("--to-seq {t} is before --from-seq {f}");
            }
        }
        Ok((start, stop))
    }
}

pub fn run(a: Args) -> Result<ExitCode> {
    let dir = crate::target::stream_dir(&a.root.root, &a.stream)?;
    let (start, stop) = a.range.bounds()?;
    let follow = a.range.follow;
    let mut opts = ReadOptions::from(start).follow(follow);
    opts.stop = stop;
    let mut r = StreamReader::open_dir(&dir, opts)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut n = 0u64;
    let limit = a.print.limit.unwrap_or(u64::MAX);
    let mut line = Vec::with_capacity(256);
    while n < limit {
        // Take what is there now; flush before blocking for more.
        let rec = match r.next_before(Some(Instant::now()))? {
            Some(rec) => rec,
            None => {
                if !follow || r.is_finished() {
                    break;
                }
                out.flush()?;
                match r.next()? {
                    Some(rec) => rec,
                    None => break,
                }
            }
        };
        line.clear();
        format_record(&mut line, &rec, a.print.output);
        out.write_all(&line)?;
        n += 1;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Append one output line for `rec`.
pub fn format_record(out: &mut Vec<u8>, rec: &Record<'_>, how: Output) {
    match how {
        Output::Raw => out.extend_from_slice(rec.payload),
        Output::Text => {
            let _ = write!(out, "{} {} ", rec.seq, format_utc(rec.timestamp));
            out.extend_from_slice(
                &String::from_utf8_lossy(rec.payload)
                    .into_owned()
                    .into_bytes(),
            );
        }
        Output::Hex => {
            let _ = write!(out, "{} {} ", rec.seq, format_utc(rec.timestamp));
            for b in rec.payload {
                let _ = write!(out, "{b:02x}");
            }
        }
        Output::Json => {
            let _ = write!(
                out,
                "{{\"seq\":{},\"ts\":{},\"time\":\"{}\",",
                rec.seq,
                rec.timestamp,
                format_utc(rec.timestamp)
            );
            match std::str::from_utf8(rec.payload) {
                Ok(s) => {
                    out.extend_from_slice(b"\"payload\":");
                    json_string(out, s);
                }
                Err(_) => {
                    out.extend_from_slice(b"\"payload_hex\":\"");
                    for b in rec.payload {
                        let _ = write!(out, "{b:02x}");
                    }
                    out.push(b'"');
                }
            }
            out.push(b'}');
        }
    }
    out.push(b'\n');
}
