//! `eventstore demo`: the product's main job on embedded defaults, no
//! server.
//!
//! Records a simulated BTCUSDT market (a seeded random-walk book and
//! Poisson trades) as two market streams, trades and depth (level updates),
//! in minutely files, driven by a simulated clock so that ten minutes of
//! market take a second or two; each sealed file becomes compact behind the
//! appends. Then it reads everything back and compares it with a
//! regenerated copy, seeks by sequence and by time, verifies every file,
//! prints the bytes a record takes against its JSON and framed forms,
//! builds the per-file sidecars, shows the book at a time late in the run
//! (from a file's snapshot, checked against a replay from the start) and
//! one-minute bars, uploads every file to a local-folder remote, polls them
//! into a second root, and gives the same answers from that mirror.

use crate::progress::{bytes, human, Progress};
use anyhow::{bail, Context, Result};
use eventstore_log::time::format_utc;
use eventstore_log::*;
use eventstore_market::book::replay::{BookKind, Replay};
use eventstore_market::read::bars::{Bar, Bars};
use eventstore_market::synth::{MarketSim, Rng, SynthConfig, SynthRecord};
use eventstore_market::{build_sidecars, OrderStreamReader, StreamKind, TradeStreamReader};
use eventstore_remote::{
    PollOptions, Remote, RemoteOptions, StreamPoller, StreamUploader, UploadOptions,
};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Folder to write into (default: a new temporary folder, removed afterwards).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Keep the temporary folder.
    #[arg(long)]
    pub keep: bool,
    /// Minutes of simulated market (at least 1).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub minutes: u32,
    /// Seed of the simulated market.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

const PROBES: usize = 2000;
const MINUTE: i64 = 60 * 1_000_000_000;
/// Levels a side shown of the book.
const SHOWN_DEPTH: usize = 5;
/// Bars printed (the last ones of the run).
const SHOWN_BARS: usize = 10;

pub fn run(a: Args) -> Result<ExitCode> {
    let (root, remove) = match &a.dir {
        Some(d) => (d.clone(), false),
        None => (
            std::env::temp_dir().join(format!("eventstore-demo-{}", std::process::id())),
            !a.keep,
        ),
    };
    let result = demo(&root, &a);
    if remove {
        let _ = std::fs::remove_dir_all(&root);
    } else {
        println!("streams kept in {}", root.display());
    }
    result
}

/// What one stream took: records, bytes as the venue's JSON, and the
/// background conversion's figures.
struct Written {
    records: u64,
    json_bytes: u64,
    compaction: CompactionReport,
}

fn demo(root: &Path, a: &Args) -> Result<ExitCode> {
    let cfg = SynthConfig {
        seed: a.seed,
        ..SynthConfig::default()
    };
    let end = cfg.start_ns + a.minutes as i64 * MINUTE;
    let trades_name = StreamName::new("demo/btcusdt/trades")?;
    let depth_name = StreamName::new("demo/btcusdt/depth")?;
    let clock = ManualClock::new(cfg.start_ns);
    let opts = WriterOptions::default()
        .roll(RollInterval::MINUTELY)
        .compact(Some(CompactOptions::default()))
        .clock(Arc::new(clock.clone()));
    let mut trades = StreamWriter::open(root, &trades_name, opts.clone())
        .with_context(|| format!("opening {trades_name} in {}", root.display()))?;
    let mut depth = StreamWriter::open(root, &depth_name, opts)?;
    if trades.next_seq() != 0 || depth.next_seq() != 0 {
        bail!(
            "{} already holds demo streams; give an empty --dir",
            root.display()
        );
    }
    cfg.meta(StreamKind::Trades).store(&trades_name.dir(root))?;
    cfg.meta(StreamKind::BookL2).store(&depth_name.dir(root))?;
    println!(
        "recording {} minutes of a simulated BTCUSDT market (seed {}) as trade and depth streams into {}",
        a.minutes,
        a.seed,
        root.display()
    );

    // Write: the depth stream starts with its (empty) book, then every
    // event goes to its stream as a market record at its receive time.
    let t = Instant::now();
    let mut json = String::new();
    let (mut n_trades, mut n_depth) = (0u64, 1u64);
    let (mut trade_json, mut depth_json) = (0u64, 0u64);
    depth.append_at(cfg.start_ns, &cfg.empty_snapshot().encode())?;
    let mut progress = Progress::new("writing", (end - cfg.start_ns) as u64 / 1_000_000_000);
    let mut last_sec = cfg.start_ns / 1_000_000_000;
    for ev in MarketSim::new(cfg.clone()).take_while(|e| e.ts_ns() < end) {
        clock.set(ev.ts_ns());
        ev.to_json(&cfg, &mut json);
        let rec = ev.record();
        if ev.is_trade() {
            rec.with_bytes(|b| trades.append_at(ev.ts_ns(), b))?;
            trade_json += json.len() as u64;
            n_trades += 1;
        } else {
            rec.with_bytes(|b| depth.append_at(ev.ts_ns(), b))?;
            depth_json += json.len() as u64;
            n_depth += 1;
        }
        let sec = ev.ts_ns() / 1_000_000_000;
        if sec != last_sec {
            progress.add((sec - last_sec) as u64, "simulated s");
            last_sec = sec;
        }
    }
    // The market closes: the last files are sealed and made compact.
    clock.set(end + MINUTE);
    let mut written = Vec::new();
    for (mut w, records, json_bytes) in
        [(trades, n_trades, trade_json), (depth, n_depth, depth_json)]
    {
        w.seal_now()?;
        let compaction = w.finish_compaction().unwrap_or_default();
        w.close()?;
        if let Some(e) = compaction.errors.first() {
            bail!("making a sealed file compact failed: {e}");
        }
        written.push(Written {
            records,
            json_bytes,
            compaction,
        });
    }
    progress.finish();
    let write_secs = t.elapsed().as_secs_f64();
    let total = n_trades + n_depth;

    // Read everything back and compare with a regenerated market.
    let t = Instant::now();
    let mut tr = StreamReader::open(root, &trades_name, ReadOptions::default())?;
    let mut dr = StreamReader::open(root, &depth_name, ReadOptions::default())?;
    let mut trade_ts = Vec::with_capacity(n_trades as usize);
    let mut trade_payloads = Vec::with_capacity(n_trades as usize);
    let first = dr.next()?.context("the depth stream is empty")?;
    if first.payload != cfg.empty_snapshot().encode() {
        bail!("the depth stream's first record is not the book it started with");
    }
    for ev in MarketSim::new(cfg.clone()).take_while(|e| e.ts_ns() < end) {
        let (r, what) = if ev.is_trade() {
            (&mut tr, "trade")
        } else {
            (&mut dr, "depth")
        };
        let rec = r
            .next()?
            .with_context(|| format!("{what} stream ended early"))?;
        let stored = ev.record();
        if !stored.with_bytes(|b| rec.payload == b) || rec.timestamp != ev.ts_ns() {
            bail!("{what} record {} differs from what was written", rec.seq);
        }
        if let SynthRecord::Trade(_) = stored {
            trade_ts.push(rec.timestamp);
            trade_payloads.push(rec.payload.to_vec());
        }
    }
    if tr.next()?.is_some() || dr.next()?.is_some() {
        bail!("more records read back than were written");
    }
    let read_secs = t.elapsed().as_secs_f64();

    // Seek by sequence and by time on the trade stream.
    let mut rng = Rng::new(a.seed);
    let mut r = StreamReader::open(root, &trades_name, ReadOptions::default())?;
    let t = Instant::now();
    for _ in 0..PROBES {
        let seq = rng.below(n_trades);
        r.seek(StartAt::Seq(seq))?;
        let rec = r.next()?.context("seek by sequence found nothing")?;
        if rec.seq != seq || rec.payload != trade_payloads[seq as usize] {
            bail!("seek to sequence {seq} returned record {}", rec.seq);
        }
    }
    let seq_us = t.elapsed().as_secs_f64() * 1e6 / PROBES as f64;
    let t = Instant::now();
    for _ in 0..PROBES {
        let at = cfg.start_ns + rng.below((end - cfg.start_ns) as u64) as i64;
        let want = trade_ts.partition_point(|&ts| ts < at) as u64;
        r.seek(StartAt::Time(at))?;
        let got = r.next()?.map(|rec| rec.seq);
        if got != (want < n_trades).then_some(want) {
            bail!(
                "seek to time {} returned {got:?}, expected {want}",
                format_utc(at)
            );
        }
    }
    let time_us = t.elapsed().as_secs_f64() * 1e6 / PROBES as f64;

    // Verify every file.
    let mut files = 0;
    let mut disk = 0;
    for name in [&trades_name, &depth_name] {
        let dir = name.dir(root);
        for rep in verify_stream(&dir, |_| {})? {
            if !rep.is_ok() {
                bail!(
                    "{} failed verification: {:?}",
                    rep.path.display(),
                    rep.status
                );
            }
        }
        let info = stream_info(&dir)?;
        files += info.files.len();
        disk += info.bytes();
        println!(
            "  {:<22} {:>4} files {:>9} records {:>10}  {} .. {}",
            name.as_str(),
            info.files.len(),
            info.records(),
            bytes(info.bytes()),
            info.span().map(|s| format_utc(s.0)).unwrap_or_default(),
            info.span().map(|s| format_utc(s.1)).unwrap_or_default(),
        );
    }
    println!(
        "wrote    {total} records ({n_trades} trades, {n_depth} depth updates) in {write_secs:.2} s: {} records/s",
        human((total as f64 / write_secs) as u64)
    );
    println!(
        "read     all back in {:.2} s: {} records/s, every record equal to what was written",
        read_secs,
        human((total as f64 / read_secs) as u64)
    );
    println!("seek     {PROBES} by sequence: {seq_us:.1} us each; {PROBES} by time: {time_us:.1} us each; all exact");
    println!(
        "verify   {files} files, {} on disk, every checksum, block, footer and index good",
        bytes(disk)
    );

    // What a record takes: as the venue's JSON, framed (the open file's
    // form) and compact (the sealed file's).
    let (mut files_compact, mut before, mut after) = (0, 0, 0);
    for (name, w) in [&trades_name, &depth_name].into_iter().zip(&written) {
        let c = &w.compaction;
        files_compact += c.files;
        before += c.bytes_before;
        after += c.bytes_after;
        let per = |b: u64| b as f64 / c.records.max(1) as f64;
        println!(
            "size     {:<20} {:>5.1} B a record compact; {:.1} B framed, {:.1} B as JSON: {:.0}x smaller than the JSON",
            name.as_str(),
            per(c.bytes_after),
            per(c.bytes_before),
            w.json_bytes as f64 / w.records.max(1) as f64,
            w.json_bytes as f64 * c.records as f64 / (w.records.max(1) as f64 * c.bytes_after.max(1) as f64),
        );
    }
    println!(
        "compact  {files_compact} sealed files made compact behind the appends: {} -> {} ({:.1}x smaller), each checked against its records",
        bytes(before),
        bytes(after),
        before as f64 / after.max(1) as f64
    );

    // The sidecars: a summary per trade file, a book snapshot per depth file.
    let t = Instant::now();
    for name in [&trades_name, &depth_name] {
        build_sidecars(&name.dir(root))?;
    }
    println!(
        "sidecars a summary per trade file and the book at the end of every depth file, in {:.2} s",
        t.elapsed().as_secs_f64()
    );

    // The book late in the run, from a file's snapshot, checked against a
    // replay of the whole stream up to that time.
    let at = end - 20 * 1_000_000_000 - 123_456_789;
    let t = Instant::now();
    let book = book_answer(root, &depth_name, at)?;
    let book_ms = t.elapsed().as_secs_f64() * 1e3;
    let whole = replay_until(root, &depth_name, at)?;
    if whole.depth(usize::MAX) != book.replay.depth(usize::MAX) || whole.state() != book.state {
        bail!(
            "the book at {} from the snapshot differs from a replay from the start",
            format_utc(at)
        );
    }
    if !book.state.reliable {
        bail!(
            "the book at {} is not reliable: {:?}",
            format_utc(at),
            book.state
        );
    }
    println!(
        "book     {} at {}: from the snapshot of {} and {} updates after it, in {book_ms:.1} ms; equal to a replay of all {} updates before it",
        depth_name.as_str(),
        format_utc(at),
        book.file,
        book.replayed,
        book.next_seq,
    );
    let m = cfg.meta(StreamKind::BookL2);
    let mut ladder = Vec::new();
    super::book::write_ladder(&mut ladder, &book.replay, &m, at, SHOWN_DEPTH)?;
    for line in String::from_utf8_lossy(&ladder).lines() {
        println!("         {line}");
    }

    // One-minute bars of the trades.
    let bars = bars_of(root, &trades_name)?;
    let m = cfg.meta(StreamKind::Trades);
    println!(
        "bars     {} one-minute bars of {} (the last {} shown):",
        bars.len(),
        trades_name.as_str(),
        bars.len().min(SHOWN_BARS)
    );
    for b in &bars[bars.len().saturating_sub(SHOWN_BARS)..] {
        let start = format_utc(b.start_ns);
        let line = super::trades::bar_line(
            super::trades::Format::Text,
            &[("start", start)],
            &super::trades::bar_fields(b, &m),
            b.trades,
        );
        println!("         {line}");
    }
    if bars.iter().map(|b| b.trades).sum::<u64>() != n_trades {
        bail!("the bars do not count every trade");
    }

    // Upload to a local-folder remote, poll into a second root, compare.
    let bucket = root.join("remote");
    let mirror = root.join("mirror");
    let url = format!("file://{}", bucket.display());
    let remote = Remote::open(&url, &RemoteOptions::default())?;
    let rt = super::remote_args::runtime()?;
    let t = Instant::now();
    let streams = vec![
        (trades_name.clone(), trades_name.dir(root)),
        (depth_name.clone(), depth_name.dir(root)),
    ];
    let up = rt
        .block_on(StreamUploader::new(remote.clone(), UploadOptions::default()).upload(&streams))?;
    let up_secs = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let polled = rt.block_on(StreamPoller::new(remote).poll(&mirror, &PollOptions::default()))?;
    if let Some(e) = polled.failed.first() {
        bail!("poll failed: {e}");
    }
    let poll_secs = t.elapsed().as_secs_f64();
    let mut mirrored = 0u64;
    for name in [&trades_name, &depth_name] {
        let mut a = StreamReader::open(root, name, ReadOptions::default())?;
        let mut b = StreamReader::open(&mirror, name, ReadOptions::default())?;
        while let Some(x) = b.next()? {
            let x = x.to_owned();
            let y = a
                .next()?
                .context("the mirror holds more records than the source")?;
            if x != y.to_owned() {
                bail!("{name} record {} differs in the mirror", x.seq);
            }
            mirrored += 1;
        }
        if a.next()?.is_some() {
            bail!("{name}: the mirror lacks records");
        }
        for rep in verify_stream(&name.dir(&mirror), |_| {})? {
            if !rep.is_ok() {
                bail!("mirror file {} failed verification", rep.path.display());
            }
        }
    }
    println!(
        "upload   {} files and their sidecars ({}) to {url} in {:.2} s, each read back and checked",
        up.uploaded.len(),
        bytes(up.bytes),
        up_secs
    );
    println!(
        "poll     {} files into {} in {:.2} s; {mirrored} records read back from the mirror, all equal",
        polled.downloaded.len(),
        mirror.display(),
        poll_secs
    );

    // The same answers from the mirror.
    let mirror_book = book_answer(&mirror, &depth_name, at)?;
    if mirror_book.replay.depth(usize::MAX) != book.replay.depth(usize::MAX)
        || mirror_book.state != book.state
    {
        bail!("the mirror's book at {} differs", format_utc(at));
    }
    if mirror_book.file != book.file || mirror_book.replayed != book.replayed {
        bail!(
            "the mirror's book at {} did not start from the same snapshot",
            format_utc(at)
        );
    }
    if bars_of(&mirror, &trades_name)? != bars {
        bail!("the mirror's bars differ");
    }
    println!(
        "mirror   the same book at {} (from the same snapshot, {} updates after it) and the same {} bars",
        format_utc(at),
        mirror_book.replayed,
        bars.len()
    );
    println!("demo ok");
    Ok(ExitCode::SUCCESS)
}

/// The book at a time as `book --at` answers it.
struct BookAnswer {
    replay: Replay,
    state: eventstore_market::book::replay::BookState,
    /// The file whose snapshot was the starting point (its name).
    file: String,
    replayed: u64,
    next_seq: u64,
}

/// The book at `at` as `book --at` answers it, asked of the source and of
/// the mirror.
fn book_answer(root: &Path, name: &StreamName, at: i64) -> Result<BookAnswer> {
    let b = OrderStreamReader::open(root, name)?.book_at(at)?;
    Ok(BookAnswer {
        state: b.replay.state(),
        file: b
            .file
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default(),
        replayed: b.replayed,
        next_seq: b.next_seq,
        replay: b.replay,
    })
}

/// The one-minute bars of the trade stream, asked of the source and of the
/// mirror.
fn bars_of(root: &Path, name: &StreamName) -> Result<Vec<Bar>> {
    let mut bars = Bars::new(TradeStreamReader::open(root, name, None, None)?, MINUTE);
    let mut out = Vec::new();
    while let Some(b) = bars.try_next()? {
        out.push(b);
    }
    Ok(out)
}

/// The book after every record of the stream before `at`, replayed from its
/// first record.
fn replay_until(root: &Path, name: &StreamName, at: i64) -> Result<Replay> {
    let mut replay = Replay::new(BookKind::L2);
    let opts = ReadOptions {
        stop: Some(StopAt::Time(at)),
        ..ReadOptions::default()
    };
    let mut r = StreamReader::open(root, name, opts)?;
    while let Some(rec) = r.next()? {
        replay
            .apply_payload(rec.seq, rec.payload, &mut |_, _| {})
            .map_err(|e| anyhow::anyhow!("{name} record {}: {e}", rec.seq))?;
    }
    Ok(replay)
}
