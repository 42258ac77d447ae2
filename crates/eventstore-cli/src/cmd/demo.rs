//! `eventstore demo`: the whole log path on embedded defaults, no server.
//!
//! Writes a synthetic market (Binance-like trade and depth JSON, from a
//! seeded random-walk book and Poisson trades) into two streams with
//! minutely rolls, driven by a simulated clock so that ten minutes of market
//! take a second or two. Then reads everything back and compares it with a
//! regenerated copy, seeks by sequence and by time, verifies every file,
//! makes the sealed files compact, uploads every sealed file to a
//! local-folder remote, polls them into a second root, reads the mirror
//! back (the same records as the source), and prints a summary.

use crate::progress::{bytes, human, Progress};
use anyhow::{bail, Context, Result};
use eventstore_log::time::format_utc;
use eventstore_log::*;
use eventstore_market::synth::{MarketSim, Rng, SynthConfig};
use eventstore_remote::{
    PollOptions, Remote, RemoteOptions, StreamPoller, StreamUploader, UploadOptions,
};
use std::path::PathBuf;
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
    /// Minutes of simulated market.
    #[arg(long, default_value_t = 10)]
    pub minutes: u32,
    /// Seed of the simulated market.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

const PROBES: usize = 2000;

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

fn demo(root: &std::path::Path, a: &Args) -> Result<ExitCode> {
    let cfg = SynthConfig {
        seed: a.seed,
        ..SynthConfig::default()
    };
    let end = cfg.start_ns + a.minutes as i64 * 60 * 1_000_000_000;
    let trades_name = StreamName::new("demo/btcusdt/trades")?;
    let depth_name = StreamName::new("demo/btcusdt/depth")?;
    let clock = ManualClock::new(cfg.start_ns);
    let opts = WriterOptions::default()
        .roll(RollInterval::MINUTELY)
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
    println!(
        "writing {} minutes of simulated BTCUSDT market (seed {}) into {}",
        a.minutes,
        a.seed,
        root.display()
    );

    // Write.
    let t = Instant::now();
    let mut json = String::new();
    let (mut n_trades, mut n_depth, mut payload_bytes) = (0u64, 0u64, 0u64);
    let mut progress = Progress::new("writing", (end - cfg.start_ns) as u64 / 1_000_000_000);
    let mut last_sec = cfg.start_ns / 1_000_000_000;
    for ev in MarketSim::new(cfg.clone()).take_while(|e| e.ts_ns() < end) {
        clock.set(ev.ts_ns());
        ev.to_json(&cfg, &mut json);
        payload_bytes += json.len() as u64;
        if ev.is_trade() {
            trades.append_at(ev.ts_ns(), json.as_bytes())?;
            n_trades += 1;
        } else {
            depth.append_at(ev.ts_ns(), json.as_bytes())?;
            n_depth += 1;
        }
        let sec = ev.ts_ns() / 1_000_000_000;
        if sec != last_sec {
            progress.add((sec - last_sec) as u64, "simulated s");
            last_sec = sec;
        }
    }
    clock.set(end + 60 * 1_000_000_000);
    trades.close()?;
    depth.close()?;
    progress.finish();
    let write_secs = t.elapsed().as_secs_f64();
    let total = n_trades + n_depth;

    // Read everything back and compare with a regenerated market.
    let t = Instant::now();
    let mut tr = StreamReader::open(root, &trades_name, ReadOptions::default())?;
    let mut dr = StreamReader::open(root, &depth_name, ReadOptions::default())?;
    let mut trade_ts = Vec::with_capacity(n_trades as usize);
    let mut trade_payloads = Vec::with_capacity(n_trades as usize);
    for ev in MarketSim::new(cfg.clone()).take_while(|e| e.ts_ns() < end) {
        ev.to_json(&cfg, &mut json);
        let (r, what) = if ev.is_trade() {
            (&mut tr, "trade")
        } else {
            (&mut dr, "depth")
        };
        let rec = r
            .next()?
            .with_context(|| format!("{what} stream ended early"))?;
        if rec.payload != json.as_bytes() || rec.timestamp != ev.ts_ns() {
            bail!("{what} record {} differs from what was written", rec.seq);
        }
        if ev.is_trade() {
            trade_ts.push(rec.timestamp);
            trade_payloads.push(json.clone());
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
        if rec.seq != seq || rec.payload != trade_payloads[seq as usize].as_bytes() {
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
    println!("wrote    {} records ({} trades, {} depth updates), {} of payload, in {:.2} s: {} records/s",
        total, n_trades, n_depth, bytes(payload_bytes), write_secs, human((total as f64 / write_secs) as u64));
    println!(
        "read     all back in {:.2} s: {} records/s, every record equal to what was written",
        read_secs,
        human((total as f64 / read_secs) as u64)
    );
    println!("seek     {PROBES} by sequence: {seq_us:.1} us each; {PROBES} by time: {time_us:.1} us each; all exact");
    println!(
        "verify   {files} files, {} on disk, every checksum, footer and index good",
        bytes(disk)
    );

    // Make the sealed files compact: the same records in blocks, each
    // checked against the records it was made from before it replaces them.
    let t = Instant::now();
    let (mut before, mut after, mut squeezed, mut records) = (0u64, 0u64, 0usize, 0u64);
    for name in [&trades_name, &depth_name] {
        for c in compact_stream(&name.dir(root), &CompactOptions::default())? {
            if c.replaced {
                before += c.bytes_before;
                after += c.bytes_after;
                records += c.records;
                squeezed += 1;
            }
        }
        for rep in verify_stream(&name.dir(root), |_| {})? {
            if !rep.is_ok() {
                bail!(
                    "{} failed verification after compaction",
                    rep.path.display()
                );
            }
        }
    }
    println!(
        "compact  {squeezed} sealed files in {:.2} s: {} -> {} ({:.1} B a record, {:.1}x smaller), verified",
        t.elapsed().as_secs_f64(),
        bytes(before),
        bytes(after),
        after as f64 / records.max(1) as f64,
        before as f64 / after.max(1) as f64
    );

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
        "upload   {} files ({}) to {url} in {:.2} s, each read back and checked",
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
    println!("demo ok");
    Ok(ExitCode::SUCCESS)
}
