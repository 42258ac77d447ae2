//! `eventstore ls <url|root>`: the streams on a remote (or under a local root).

use super::remote_args::{runtime, RemoteArgs};
use anyhow::Result;
use eventstore_log::time::format_utc;
use eventstore_remote::StreamPoller;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// file:///path, s3://bucket/prefix, az://container/prefix, or a local root folder.
    pub location: String,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

pub fn run(a: Args) -> Result<ExitCode> {
    if !a.location.contains("://") {
        return super::info::run(super::info::Args {
            target: Some(a.location.clone()),
            root: crate::RootArg {
                root: a.location.into(),
            },
        });
    }
    let poller = StreamPoller::new(a.remote.open(&a.location)?);
    let listing = runtime()?.block_on(poller.listing())?;
    for k in &listing.skipped {
        eprintln!("warning: skipped {k}");
    }
    let streams = listing.streams;
    println!(
        "{:<40} {:>6} {:>14}  span of file starts",
        "stream", "files", "bytes"
    );
    for s in &streams {
        let first = s
            .files
            .first()
            .map(|f| format_utc(f.start_ns))
            .unwrap_or_default();
        let last = s
            .files
            .last()
            .map(|f| format_utc(f.start_ns))
            .unwrap_or_default();
        let incomplete = s.files.iter().filter(|f| !f.complete).count();
        let note = if incomplete > 0 {
            format!("  ({incomplete} uploads in progress)")
        } else {
            String::new()
        };
        println!(
            "{:<40} {:>6} {:>14}  {first} .. {last}{note}",
            s.name.as_str(),
            s.files.len(),
            s.bytes()
        );
    }
    Ok(ExitCode::SUCCESS)
}
