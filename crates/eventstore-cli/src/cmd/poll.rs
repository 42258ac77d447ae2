//! `eventstore poll <url> [root]`: mirror remote streams into a local root.

use super::remote_args::{runtime, RemoteArgs};
use crate::RootArg;
use anyhow::{bail, Result};
use eventstore_log::time::parse_time;
use eventstore_remote::{PollOptions, Progress, StreamPoller};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Where from: file:///path, s3://bucket/prefix or az://container/prefix.
    pub url: String,
    /// Local root to download into (default: --root).
    pub dest: Option<PathBuf>,
    #[command(flatten)]
    pub root: RootArg,
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// Only streams matching this pattern (`*` matches anything), such as 'binance/*/trades'.
    #[arg(long)]
    pub streams: Option<String>,
    /// Only files whose interval starts at or after this time.
    #[arg(long)]
    pub from: Option<String>,
    /// Only files whose interval starts before this time.
    #[arg(long)]
    pub to: Option<String>,
    /// Keep polling.
    #[arg(long)]
    pub watch: bool,
    /// With --watch, seconds between polls.
    #[arg(long, default_value_t = 10)]
    pub interval: u64,
    /// Files downloaded at the same time.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
}

pub fn run(a: Args) -> Result<ExitCode> {
    let dest = a.dest.clone().unwrap_or_else(|| a.root.root.clone());
    let bar = Arc::new(Mutex::new(crate::progress::Progress::new("downloading", 0)));
    let b = bar.clone();
    let opts = PollOptions {
        pattern: a.streams.clone(),
        from_ns: a.from.as_deref().map(parse_time).transpose()?,
        to_ns: a.to.as_deref().map(parse_time).transpose()?,
        concurrency: a.concurrency,
        progress: Some(Progress(Arc::new(move |done, total, bytes| {
            if let Ok(mut p) = b.lock() {
                p.files_and_bytes(done as u64, total as u64, bytes);
            }
        }))),
    };
    let poller = StreamPoller::new(a.remote.open(&a.url)?);
    let rt = runtime()?;
    loop {
        let r = rt.block_on(poller.poll(&dest, &opts));
        if let Ok(p) = bar.lock() {
            p.finish();
        }
        let r = match r {
            Ok(r) => r,
            // A watching poller outlives a failing remote: it says so and
            // tries again at the next interval.
            Err(e) if a.watch => {
                eprintln!("error: {e}; polling again in {} s", a.interval);
                std::thread::sleep(Duration::from_secs(a.interval));
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        for f in &r.downloaded {
            println!("downloaded {f}");
        }
        for k in &r.skipped {
            eprintln!("warning: skipped {k}");
        }
        for e in &r.failed {
            eprintln!("error: {e}");
        }
        println!(
            "{} files downloaded ({} bytes), {} already present, {} refused",
            r.downloaded.len(),
            r.bytes,
            r.present,
            r.failed.len()
        );
        if !a.watch {
            if !r.failed.is_empty() {
                bail!("{} files could not be installed", r.failed.len());
            }
            return Ok(ExitCode::SUCCESS);
        }
        std::thread::sleep(Duration::from_secs(a.interval));
    }
}
