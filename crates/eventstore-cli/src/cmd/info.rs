//! `eventstore info [stream|root]`: files, records, time span, bytes, sealed or not, framed or compact.

use crate::progress::bytes;
use crate::target::{resolve, streams, Target};
use crate::RootArg;
use anyhow::Result;
use eventstore_log::stream_info;
use eventstore_log::time::format_utc;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// A stream name, a stream folder, or a root folder (default: the root).
    pub target: Option<String>,
    #[command(flatten)]
    pub root: RootArg,
}

fn span(min: Option<i64>, max: Option<i64>) -> String {
    match (min, max) {
        (Some(a), Some(b)) => format!("{} .. {}", format_utc(a), format_utc(b)),
        _ => "-".into(),
    }
}

pub fn run(a: Args) -> Result<ExitCode> {
    match resolve(&a.root.root, a.target.as_deref())? {
        Target::Stream(name, dir) => {
            let info = stream_info(&dir)?;
            let (min, max) = info
                .span()
                .map_or((None, None), |(a, b)| (Some(a), Some(b)));
            println!("stream   {name}");
            println!("folder   {}", dir.display());
            println!("files    {}", info.files.len());
            println!("records  {}", info.records());
            if let Some(s) = info.seqs() {
                println!("sequence {}..{}", s.start, s.end);
            }
            println!("span     {}", span(min, max));
            println!("bytes    {} ({})", info.bytes(), bytes(info.bytes()));
            println!(
                "writer   {}",
                if info.writer_active {
                    "running"
                } else {
                    "none"
                }
            );
            println!();
            println!(
                "{:<26} {:<7} {:<7} {:>5} {:>12} {:>12} {:>12}  span",
                "file", "state", "form", "roll", "first_seq", "records", "bytes"
            );
            for f in &info.files {
                let file = f
                    .path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                println!(
                    "{:<26} {:<7} {:<7} {:>5} {:>12} {:>12} {:>12}  {}",
                    file,
                    if f.sealed { "sealed" } else { "open" },
                    f.form.as_str(),
                    f.interval.map(|i| i.to_string()).unwrap_or_default(),
                    f.first_seq,
                    f.records,
                    f.bytes,
                    span(f.min_ts, f.max_ts)
                );
            }
        }
        Target::Root(root) => {
            let list = streams(&root)?;
            println!(
                "{:<40} {:>6} {:>12} {:>12}  span",
                "stream", "files", "records", "bytes"
            );
            let (mut tf, mut tr, mut tb) = (0, 0, 0);
            for (name, dir) in list {
                let info = stream_info(&dir)?;
                let (min, max) = info
                    .span()
                    .map_or((None, None), |(a, b)| (Some(a), Some(b)));
                println!(
                    "{:<40} {:>6} {:>12} {:>12}  {}",
                    name,
                    info.files.len(),
                    info.records(),
                    info.bytes(),
                    span(min, max)
                );
                tf += info.files.len();
                tr += info.records();
                tb += info.bytes();
            }
            println!("{:<40} {:>6} {:>12} {:>12}", "total", tf, tr, tb);
        }
    }
    Ok(ExitCode::SUCCESS)
}
