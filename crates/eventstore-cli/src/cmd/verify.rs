//! `eventstore verify [stream|root]`: check every file; exit 1 if any is damaged.

use crate::progress::Progress;
use crate::target::{resolve, streams, Target};
use crate::RootArg;
use anyhow::Result;
use eventstore_log::time::format_utc;
use eventstore_log::{files, verify_stream, FileStatus};
use std::path::Path;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// A stream name, a stream folder, or a root folder (default: the root).
    pub target: Option<String>,
    #[command(flatten)]
    pub root: RootArg,
}

fn total_bytes(dir: &Path) -> u64 {
    files::list_files(dir)
        .map(|l| {
            l.iter()
                .filter_map(|f| std::fs::metadata(&f.path).ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

pub fn run(a: Args) -> Result<ExitCode> {
    let targets = match resolve(&a.root.root, a.target.as_deref())? {
        Target::Stream(name, dir) => vec![(name, dir)],
        Target::Root(root) => streams(&root)?,
    };
    let total: u64 = targets.iter().map(|(_, d)| total_bytes(d)).sum();
    let mut progress = Progress::new("verifying", total);
    let (mut good, mut bad, mut files_n) = (0u64, 0u64, 0u64);
    let mut lines = Vec::new();
    for (name, dir) in &targets {
        let reports = verify_stream(dir, |b| progress.add(b, "bytes"))?;
        for r in reports {
            files_n += 1;
            let span = match (r.min_ts, r.max_ts) {
                (Some(a), Some(b)) => format!("{} .. {}", format_utc(a), format_utc(b)),
                _ => "-".into(),
            };
            let (state, detail) = match &r.status {
                FileStatus::Ok => ("ok", String::new()),
                FileStatus::Open => ("open", String::new()),
                FileStatus::Corrupted { offset, reason } => {
                    ("CORRUPT", format!("  first bad offset {offset}: {reason}"))
                }
            };
            if r.is_ok() {
                good += 1;
            } else {
                bad += 1;
            }
            lines.push(format!(
                "{state:<8} {name}/{}  records {}  {span}{detail}",
                r.path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                r.records
            ));
        }
    }
    progress.finish();
    for l in lines {
        println!("{l}");
    }
    println!(
        "{files_n} files in {} streams: {good} good, {bad} damaged",
        targets.len()
    );
    Ok(if bad == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
