//! `eventstore audit <stream> --from T --to T2`: an order stream's ledger,
//! file by file: every gap (cause, the update ids expected and received),
//! when the book became reliable again, the anomaly counts of order-level
//! books and the venue checksums verified; as text, CSV or JSON.

use crate::text::json_string;
use crate::RootArg;
use anyhow::Result;
use eventstore_log::time::{format_utc, parse_time};
use eventstore_log::StreamName;
use eventstore_market::book::replay::BookState;
use eventstore_market::read::orders::{Entry, FileLedger, Ledger, OrderStreamReader};
use std::io::Write;
use std::process::ExitCode;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// A paragraph per file, a line per gap and per recovery, then totals.
    Text,
    /// file,event,seq,local_ts,cause,expected_update_id,first_update_id,last_update_id,prev_update_id,
    /// unknown_orders,over_cancels,duplicate_adds,checksums_ok,checksums_failed: a `file` row per
    /// file (with its counts; seq is the file's first record), a `gap` row per gap, a
    /// `reliable` row per recovery.
    Csv,
    /// One JSON object: the files, each with its counts and entries, and the totals.
    Json,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Order stream name, such as binance/btcusdt/depth or nasdaq/amzn/orders.
    pub stream: String,
    #[command(flatten)]
    pub root: RootArg,
    /// Records received from this time (RFC 3339 UTC or ns; default: the start).
    #[arg(long)]
    pub from: Option<String>,
    /// Records received before this time (default: to the end).
    #[arg(long)]
    pub to: Option<String>,
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

pub fn run(a: Args) -> Result<ExitCode> {
    let name = StreamName::new(&a.stream)?;
    let r = OrderStreamReader::open(&a.root.root, &name)?;
    let from = a
        .from
        .as_deref()
        .map(parse_time)
        .transpose()?
        .unwrap_or(i64::MIN);
    let to = a.to.as_deref().map(parse_time).transpose()?;
    let ledger = r.ledger(from, to)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut buf = Vec::new();
    match a.format {
        Format::Text => text(&mut buf, &a.stream, &ledger),
        Format::Csv => csv(&mut buf, &ledger),
        Format::Json => json(&mut buf, &a.stream, &ledger),
    }
    out.write_all(&buf)?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn file_name(f: &FileLedger) -> String {
    f.path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn state(s: &BookState) -> String {
    if s.reliable {
        "reliable".into()
    } else {
        format!("UNRELIABLE ({})", s.cause.as_str())
    }
}

fn text(out: &mut Vec<u8>, stream: &str, l: &Ledger) {
    for f in &l.files {
        let _ = writeln!(
            out,
            "{} records {}..{} ({} to {}): {} at its start, {} at its end; {} gaps; \
             anomalies: {} unknown orders, {} over-cancels, {} duplicate adds; checksums: {} ok, {} failed",
            file_name(f),
            f.seqs.start,
            f.seqs.end,
            format_utc(f.first_ts),
            format_utc(f.last_ts),
            state(&f.start),
            state(&f.end),
            f.gaps(),
            f.anomalies.unknown_order,
            f.anomalies.over_cancel,
            f.anomalies.duplicate_add,
            f.checksums_ok,
            f.checksums_failed,
        );
        for e in &f.entries {
            match e {
                Entry::Gap(g) => {
                    let _ = writeln!(
                        out,
                        "  {} record {}: GAP, {}{}; unreliable until the next snapshot",
                        format_utc(g.local_ts),
                        g.seq,
                        g.cause.as_str(),
                        if g.expected != 0 {
                            format!(
                                " (expected update {}, got {}..{})",
                                g.expected, g.first_update_id, g.last_update_id
                            )
                        } else {
                            String::new()
                        }
                    );
                }
                Entry::Reliable { seq, local_ts } => {
                    let _ = writeln!(
                        out,
                        "  {} record {seq}: reliable again",
                        format_utc(*local_ts)
                    );
                }
            }
        }
    }
    let a = l.anomalies();
    let (ok, failed) = l.checksums();
    let _ = writeln!(
        out,
        "{stream}: {} files, {} gaps; anomalies: {} unknown orders, {} over-cancels, {} duplicate adds; checksums: {ok} ok, {failed} failed",
        l.files.len(),
        l.gaps(),
        a.unknown_order,
        a.over_cancel,
        a.duplicate_add,
    );
}

fn csv(out: &mut Vec<u8>, l: &Ledger) {
    let _ = writeln!(
        out,
        "file,event,seq,local_ts,cause,expected_update_id,first_update_id,last_update_id,prev_update_id,\
         unknown_orders,over_cancels,duplicate_adds,checksums_ok,checksums_failed"
    );
    for f in &l.files {
        let name = file_name(f);
        let _ = writeln!(
            out,
            "{name},file,{},{},{},,,,,{},{},{},{},{}",
            f.seqs.start,
            f.first_ts,
            if f.start.reliable {
                String::new()
            } else {
                f.start.cause.as_str().replace(' ', "_")
            },
            f.anomalies.unknown_order,
            f.anomalies.over_cancel,
            f.anomalies.duplicate_add,
            f.checksums_ok,
            f.checksums_failed,
        );
        for e in &f.entries {
            match e {
                Entry::Gap(g) => {
                    let _ = writeln!(
                        out,
                        "{name},gap,{},{},{},{},{},{},{},,,,,",
                        g.seq,
                        g.local_ts,
                        g.cause.as_str().replace(' ', "_"),
                        if g.expected != 0 {
                            g.expected.to_string()
                        } else {
                            String::new()
                        },
                        g.first_update_id,
                        g.last_update_id,
                        g.prev_update_id,
                    );
                }
                Entry::Reliable { seq, local_ts } => {
                    let _ = writeln!(out, "{name},reliable,{seq},{local_ts},,,,,,,,,,");
                }
            }
        }
    }
}

fn json_state(out: &mut Vec<u8>, s: &BookState) {
    let _ = write!(
        out,
        "{{\"reliable\":{},\"since\":{},\"cause\":",
        s.reliable, s.since
    );
    if s.reliable {
        out.extend_from_slice(b"null");
    } else {
        json_string(out, s.cause.as_str());
    }
    out.push(b'}');
}

fn json(out: &mut Vec<u8>, stream: &str, l: &Ledger) {
    out.extend_from_slice(b"{\"stream\":");
    json_string(out, stream);
    out.extend_from_slice(b",\"files\":[");
    for (i, f) in l.files.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"file\":");
        json_string(out, &file_name(f));
        let _ = write!(
            out,
            ",\"first_seq\":{},\"next_seq\":{},\"first_ts\":{},\"last_ts\":{},\"start\":",
            f.seqs.start, f.seqs.end, f.first_ts, f.last_ts
        );
        json_state(out, &f.start);
        out.extend_from_slice(b",\"end\":");
        json_state(out, &f.end);
        let _ = write!(
            out,
            ",\"unknown_orders\":{},\"over_cancels\":{},\"duplicate_adds\":{},\"checksums_ok\":{},\"checksums_failed\":{},\"entries\":[",
            f.anomalies.unknown_order,
            f.anomalies.over_cancel,
            f.anomalies.duplicate_add,
            f.checksums_ok,
            f.checksums_failed
        );
        for (j, e) in f.entries.iter().enumerate() {
            if j > 0 {
                out.push(b',');
            }
            match e {
                Entry::Gap(g) => {
                    let _ = write!(
                        out,
                        "{{\"event\":\"gap\",\"seq\":{},\"local_ts\":{},\"cause\":",
                        g.seq, g.local_ts
                    );
                    json_string(out, g.cause.as_str());
                    let _ = write!(
                        out,
                        ",\"expected_update_id\":{},\"first_update_id\":{},\"last_update_id\":{},\"prev_update_id\":{}}}",
                        g.expected, g.first_update_id, g.last_update_id, g.prev_update_id
                    );
                }
                Entry::Reliable { seq, local_ts } => {
                    let _ = write!(
                        out,
                        "{{\"event\":\"reliable\",\"seq\":{seq},\"local_ts\":{local_ts}}}"
                    );
                }
            }
        }
        out.extend_from_slice(b"]}");
    }
    let a = l.anomalies();
    let (ok, failed) = l.checksums();
    let _ = writeln!(
        out,
        "],\"gaps\":{},\"unknown_orders\":{},\"over_cancels\":{},\"duplicate_adds\":{},\"checksums_ok\":{ok},\"checksums_failed\":{failed}}}",
        l.gaps(),
        a.unknown_order,
        a.over_cancel,
        a.duplicate_add
    );
}
