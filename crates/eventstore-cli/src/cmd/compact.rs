//! `eventstore compact [stream|root]`: convert sealed files into compact
//! files (the same records in blocks encoded by column), in place.

use crate::target::{resolve, streams, Target};
use crate::RootArg;
use anyhow::{bail, Result};
use eventstore_log::{compact_stream, CompactOptions};
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// A stream name, a stream folder, or a root folder (default: the root).
    pub target: Option<String>,
    #[command(flatten)]
    pub root: RootArg,
    /// zstd level of the blocks (1 to 22; higher is smaller and slower to convert, decoding costs the same).
    #[arg(long, default_value_t = CompactOptions::default().level)]
    pub level: i32,
    /// The most records in one block (a seek decodes one block).
    #[arg(long, default_value_t = CompactOptions::default().block_records)]
    pub block_records: usize,
}

pub fn run(a: Args) -> Result<ExitCode> {
    if !(1..=22).contains(&a.level) {
        bail!("--level {} is not 1 to 22", a.level);
    }
    if a.block_records == 0 || a.block_records > 1 << 20 {
        bail!("--block-records {} is not 1 to 1048576", a.block_records);
    }
    let opts = CompactOptions {
        level: a.level,
        block_records: a.block_records,
        ..CompactOptions::default()
    };
    let targets = match resolve(&a.root.root, a.target.as_deref())? {
        Target::Stream(name, dir) => vec![(name, dir)],
        Target::Root(root) => streams(&root)?,
    };
    let (mut files, mut before, mut after, mut records) = (0u64, 0u64, 0u64, 0u64);
    for (name, dir) in targets {
        for c in compact_stream(&dir, &opts)? {
            if !c.replaced {
                continue;
            }
            let codecs: Vec<String> = c.by_codec.iter().map(|(n, k)| format!("{k} {n}")).collect();
            println!(
                "compacted {name}/{}: {} records, {} -> {} bytes ({:.2} B/record; {})",
                c.path
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                c.records,
                c.bytes_before,
                c.bytes_after,
                c.bytes_after as f64 / c.records.max(1) as f64,
                codecs.join(", ")
            );
            files += 1;
            before += c.bytes_before;
            after += c.bytes_after;
            records += c.records;
        }
    }
    println!(
        "{files} files compacted: {records} records, {before} -> {after} bytes{}",
        if before > 0 {
            format!(" ({:.1}x smaller)", before as f64 / after.max(1) as f64)
        } else {
            String::new()
        }
    );
    Ok(ExitCode::SUCCESS)
}
