//! `eventstore orders <stream> --from T --to T2`: an order stream's book at
//! T as one snapshot batch, then every update after it, in the order the
//! book applied them (gaps in the venue's update ids shown where found).

use crate::RootArg;
use anyhow::Result;
use eventstore_log::time::{format_utc, parse_time};
use eventstore_log::StreamName;
use eventstore_market::book::replay::{Applied, FLAG_UNRELIABLE};
use eventstore_market::read::orders::{OrderStreamReader, Update};
use eventstore_market::records::decimal;
use eventstore_market::records::level::{FLAG_LAST, FLAG_SNAPSHOT};
use eventstore_market::{BookSide, StreamMeta};
use std::io::Write;
use std::process::ExitCode;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One update per line.
    Text,
    /// seq,local_ts,exchange_ts,type,action,side,price,size,order_id,flags,first_update_id,last_update_id,expected_update_id
    /// (seq empty for the opening snapshot; flags: s snapshot, l last, u the book is unreliable
    /// after this row, from a gap until the next snapshot; a gap row has type gap, its cause as
    /// action, the ids that came and the one expected).
    Csv,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Order stream name, such as binance/btcusdt/depth or nasdaq/amzn/orders.
    pub stream: String,
    #[command(flatten)]
    pub root: RootArg,
    /// The book as of this receive time, then the updates from it (RFC 3339 UTC or ns).
    #[arg(long)]
    pub from: String,
    /// Updates received before this time (default: to the end).
    #[arg(long)]
    pub to: Option<String>,
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

pub fn run(a: Args) -> Result<ExitCode> {
    let name = StreamName::new(&a.stream)?;
    let r = OrderStreamReader::open(&a.root.root, &name)?;
    let m = r.meta().clone();
    let from = parse_time(&a.from)?;
    let to = a.to.as_deref().map(parse_time).transpose()?;
    let mut s = r.stream(from, to)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    if a.format == Format::Csv {
        writeln!(out, "seq,local_ts,exchange_ts,type,action,side,price,size,order_id,flags,first_update_id,last_update_id,expected_update_id")?;
    }
    while let Some(u) = s.try_next()? {
        writeln!(out, "{}", line(&u, &m, a.format))?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn flags(f: u8) -> String {
    let mut s = String::new();
    for (bit, c) in [
        (FLAG_SNAPSHOT, 's'),
        (FLAG_LAST, 'l'),
        (FLAG_UNRELIABLE, 'u'),
    ] {
        if f & bit != 0 {
            s.push(c);
        }
    }
    s
}

fn side(s: BookSide) -> &'static str {
    match s {
        BookSide::Bid => "bid",
        BookSide::Ask => "ask",
        BookSide::None => "-",
    }
}

fn line(u: &Update, m: &StreamMeta, format: Format) -> String {
    let p = |v: i64| decimal::format(v, m.price_scale, m.style);
    let q = |v: i64| decimal::format(v, m.size_scale, m.style);
    let seq = u.seq.map(|s| s.to_string()).unwrap_or_default();
    let unreliable = if u.reliable { 0 } else { FLAG_UNRELIABLE };
    // (local, exchange, type, action, side, price, size, order id, flags, ids)
    let f = match u.applied {
        Applied::Level(l) => (
            l.local_ts,
            l.exchange_ts,
            "level",
            if l.side == BookSide::None && l.flags & FLAG_SNAPSHOT != 0 {
                "clear".to_string()
            } else {
                "set".to_string()
            },
            side(l.side),
            p(l.price),
            q(l.size),
            String::new(),
            flags(l.flags | unreliable),
            (l.first_update_id, l.last_update_id),
        ),
        Applied::Order(o) => (
            o.local_ts,
            o.exchange_ts,
            "order",
            format!("{:?}", o.action).to_lowercase(),
            side(o.side),
            p(o.price),
            q(o.size),
            o.order_id.to_string(),
            flags(o.flags | unreliable),
            (o.sequence, o.sequence),
        ),
        Applied::Gap(g) => (
            g.local_ts,
            g.local_ts,
            "gap",
            g.cause.as_str().to_string(),
            "-",
            String::new(),
            String::new(),
            String::new(),
            flags(FLAG_UNRELIABLE),
            (g.first_update_id, g.last_update_id),
        ),
    };
    match format {
        Format::Csv => format!(
            "{seq},{},{},{},{},{},{},{},{},{},{},{},{}",
            f.0,
            f.1,
            f.2,
            f.3.replace(' ', "_"),
            f.4,
            f.5,
            f.6,
            f.7,
            f.8,
            f.9 .0,
            f.9 .1,
            match u.applied {
                Applied::Gap(g) if g.expected != 0 => g.expected.to_string(),
                _ => String::new(),
            }
        ),
        Format::Text => {
            let seq = if seq.is_empty() { "book".into() } else { seq };
            match u.applied {
                Applied::Gap(g) => format!(
                    "{} {seq} GAP ({}): expected update {}, got {}..{}; the book is unreliable until the next snapshot",
                    format_utc(f.0),
                    g.cause.as_str(),
                    g.expected,
                    g.first_update_id,
                    g.last_update_id
                ),
                _ => format!(
                    "{} {seq} {} {} {} @ {}{}{}",
                    format_utc(f.0),
                    f.3,
                    f.4,
                    f.6,
                    f.5,
                    if f.7.is_empty() { String::new() } else { format!(" #{}", f.7) },
                    if f.8.is_empty() { String::new() } else { format!(" [{}]", f.8) }
                ),
            }
        }
    }
}
