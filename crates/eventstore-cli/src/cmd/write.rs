//! `eventstore write <stream>`: append records from standard input.

use crate::progress::Progress;
use crate::RootArg;
use anyhow::{anyhow, Context, Result};
use eventstore_log::{
    time::parse_time, Durability, RollBy, RollInterval, StreamName, StreamWriter, WriterOptions,
};
use std::io::{BufRead, Read};
use std::process::ExitCode;
use std::sync::mpsc::{sync_channel, RecvTimeoutError};
use std::time::Duration;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputFormat {
    /// One record per line (the line ending is not stored).
    Lines,
    /// Each record is a 4-byte little-endian length followed by that many bytes.
    Frames,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Stream name, such as binance/btcusdt/trades.
    pub stream: String,
    #[command(flatten)]
    pub root: RootArg,
    /// Roll interval: minutely, hourly, daily, or any interval dividing a day (30s, 5m, 15m, 1h, 1d).
    #[arg(long, default_value = "1h")]
    pub roll: String,
    /// When records reach the disk: os (left to the operating system's page cache; `none` is the same), batch (fsync every batch), or an interval such as 10ms.
    #[arg(long, default_value = "os")]
    pub durability: String,
    /// How standard input is split into records.
    #[arg(long, value_enum, default_value = "lines")]
    pub format: InputFormat,
    /// Which time rolls files: `clock` (the time records arrive) or `record`
    /// (their timestamps; for importing history). Defaults to `record` with
    /// --time-prefix, `clock` otherwise.
    #[arg(long, value_enum)]
    pub roll_by: Option<RollByArg>,
    /// Each line starts with its event time (ns since the epoch or RFC 3339 UTC) and a space;
    /// the time becomes the record's timestamp and the rest of the line its payload.
    #[arg(long)]
    pub time_prefix: bool,
    /// Make each file compact once it is sealed, on a thread behind the appends (the same records in a few bytes each; see `eventstore compact`).
    #[arg(long)]
    pub compact: bool,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum RollByArg {
    Clock,
    Record,
}

type Batch = Vec<(Option<i64>, Vec<u8>)>;
const BATCH_RECORDS: usize = 4096;
const BATCH_BYTES: usize = 4 << 20;

/// Split standard input into batches of records on a thread of its own, so
/// the writer can seal idle files while input is quiet.
fn spawn_input(format: InputFormat, time_prefix: bool) -> std::sync::mpsc::Receiver<Result<Batch>> {
    let (tx, rx) = sync_channel::<Result<Batch>>(8);
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        let mut input = std::io::BufReader::with_capacity(1 << 20, stdin.lock());
        let mut batch: Batch = Vec::new();
        let mut bytes = 0usize;
        let mut line_no = 0u64;
        let mut offset = 0u64;
        loop {
            let rec = match format {
                InputFormat::Lines => {
                    let mut line = Vec::new();
                    match input.read_until(b'\n', &mut line) {
                        Ok(0) => None,
                        Ok(n) => {
                            line_no += 1;
                            offset += n as u64;
                            if line.last() == Some(&b'\n') {
                                line.pop();
                                if line.last() == Some(&b'\r') {
                                    line.pop();
                                }
                            }
                            if time_prefix {
                                match split_time(&line) {
                                    Ok((t, rest)) => Some((Some(t), rest.to_vec())),
                                    Err(e) => {
                                        let _ = tx.send(Ok(std::mem::take(&mut batch)));
                                        let _ = tx.send(Err(anyhow!("stdin line {line_no}: {e}")));
                                        return;
                                    }
                                }
                            } else {
                                Some((None, line))
                            }
                        }
                        Err(e) => {
                            let _ =
                                tx.send(Err(anyhow!("reading stdin at line {}: {e}", line_no + 1)));
                            return;
                        }
                    }
                }
                InputFormat::Frames => match read_frame(&mut input, offset) {
                    Ok(Some(p)) => {
                        offset += 4 + p.len() as u64;
                        Some((None, p))
                    }
                    Ok(None) => None,
                    Err(e) => {
                        let _ = tx.send(Ok(std::mem::take(&mut batch)));
                        let _ = tx.send(Err(e));
                        return;
                    }
                },
            };
            let Some(rec) = rec else { break };
            bytes += rec.1.len();
            batch.push(rec);
            // Hand over a batch when full, or when no more input is buffered.
            if batch.len() >= BATCH_RECORDS || bytes >= BATCH_BYTES || input.buffer().is_empty() {
                bytes = 0;
                if tx.send(Ok(std::mem::take(&mut batch))).is_err() {
                    return;
                }
            }
        }
        if !batch.is_empty() {
            let _ = tx.send(Ok(batch));
        }
    });
    rx
}

fn split_time(line: &[u8]) -> Result<(i64, &[u8])> {
    let sp = line
        .iter()
        .position(|&b| b == b' ' || b == b'\t')
        .ok_or_else(|| anyhow!("no space after the time prefix"))?;
    let t = std::str::from_utf8(&line[..sp]).map_err(|_| anyhow!("time prefix is not text"))?;
    Ok((parse_time(t)?, &line[sp + 1..]))
}

fn read_frame(input: &mut impl Read, offset: u64) -> Result<Option<Vec<u8>>> {
    let mut len = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        let n = input.read(&mut len[got..]).context("reading stdin")?;
        if n == 0 {
            if got == 0 {
                return Ok(None);
            }
            return Err(anyhow!(
                "stdin byte {offset}: input ends inside a frame length"
            ));
        }
        got += n;
    }
    let n = u32::from_le_bytes(len) as usize;
    if n > eventstore_log::format::MAX_PAYLOAD {
        return Err(anyhow!(
            "stdin byte {offset}: frame length {n} exceeds the maximum payload of {} bytes",
            eventstore_log::format::MAX_PAYLOAD
        ));
    }
    let mut p = vec![0u8; n];
    input
        .read_exact(&mut p)
        .map_err(|_| anyhow!("stdin byte {offset}: input ends inside a frame of {n} bytes"))?;
    Ok(Some(p))
}

pub fn run(a: Args) -> Result<ExitCode> {
    let name = StreamName::new(&a.stream)?;
    let opts = WriterOptions::default()
        .roll(RollInterval::parse(&a.roll)?)
        .durability(a.durability.parse::<Durability>()?)
        .roll_by(match a.roll_by {
            Some(RollByArg::Record) => RollBy::RecordTime,
            Some(RollByArg::Clock) => RollBy::WriterClock,
            None if a.time_prefix => RollBy::RecordTime,
            None => RollBy::WriterClock,
        })
        .compact(a.compact.then(eventstore_log::CompactOptions::default));
    let mut w = StreamWriter::open(&a.root.root, &name, opts)
        .with_context(|| format!("opening stream {name} under {}", a.root.root.display()))?;
    let first = w.next_seq();
    let rx = spawn_input(a.format, a.time_prefix);
    let mut progress = Progress::new(&format!("writing {name}"), 0);
    let mut failure = None;
    loop {
        match rx.recv_timeout(Duration::from_millis(250)) {
            Ok(Ok(batch)) => {
                if batch.is_empty() {
                    continue;
                }
                let n = batch.len() as u64;
                let r = if a.time_prefix {
                    w.append_batch_at(
                        batch
                            .iter()
                            .map(|(t, p)| (t.unwrap_or_default(), p.as_slice())),
                    )
                } else {
                    w.append_batch(batch.iter().map(|(_, p)| p.as_slice()))
                };
                if let Err(e) = r {
                    // Say exactly what is stored (a full disk, a failed sync).
                    let next = w.next_seq();
                    return Err(anyhow::Error::new(e).context(format!(
                        "appending to {name}: {} records are stored (sequence {first}..{next}), the rest of the input is not",
                        next - first
                    )));
                }
                progress.add(n, "records");
            }
            Ok(Err(e)) => {
                failure = Some(e);
                break;
            }
            Err(RecvTimeoutError::Timeout) => {
                w.tick()?;
            }
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    progress.finish();
    let next = w.next_seq();
    w.close()?;
    eprintln!(
        "wrote {} records to {name} (sequence {first}..{next})",
        next - first
    );
    match failure {
        Some(e) => Err(anyhow!(
            "{e:#} (the {} records before it are stored)",
            next - first
        )),
        None => Ok(ExitCode::SUCCESS),
    }
}
