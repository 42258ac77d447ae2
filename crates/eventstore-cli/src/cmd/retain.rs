//! `eventstore retain [stream|root]`: delete old or excess sealed files.

use crate::target::{resolve, streams, Target};
use crate::RootArg;
use anyhow::{anyhow, bail, Result};
use eventstore_log::time::parse_duration_ns;
use eventstore_log::{retain, Clock, RetentionPolicy, SystemClock};
use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// A stream name, a stream folder, or a root folder (default: the root).
    pub target: Option<String>,
    #[command(flatten)]
    pub root: RootArg,
    /// Delete sealed files whose interval ended longer ago than this (such as 30d, 12h).
    #[arg(long)]
    pub max_age: Option<String>,
    /// Per stream, delete the oldest sealed files while the stream is larger than this (such as 500MiB, 20GiB).
    #[arg(long)]
    pub max_bytes: Option<String>,
}

/// Parse `1024`, `10KiB`, `500MiB`, `2GiB`, `1TiB` (also `K`, `M`, `G`, `T`, and `KB`, `MB`, ... as powers of 1000).
pub fn parse_size(s: &str) -> Result<u64> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: u64 = n
        .parse()
        .map_err(|_| anyhow!("invalid size {s:?} (use e.g. 500MiB, 20GiB)"))?;
    let m: u64 = match unit.trim() {
        "" | "B" => 1,
        "K" | "KiB" => 1 << 10,
        "M" | "MiB" => 1 << 20,
        "G" | "GiB" => 1 << 30,
        "T" | "TiB" => 1 << 40,
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "TB" => 1_000_000_000_000,
        _ => bail!("invalid size {s:?} (use e.g. 500MiB, 20GiB)"),
    };
    n.checked_mul(m)
        .ok_or_else(|| anyhow!("size {s:?} is too large"))
}

pub fn run(a: Args) -> Result<ExitCode> {
    let policy = RetentionPolicy {
        max_age: a
            .max_age
            .as_deref()
            .map(parse_duration_ns)
            .transpose()?
            .map(|ns| Duration::from_nanos(ns.max(0) as u64)),
        max_bytes: a.max_bytes.as_deref().map(parse_size).transpose()?,
    };
    if policy.max_age.is_none() && policy.max_bytes.is_none() {
        bail!("give --max-age, --max-bytes, or both");
    }
    let targets = match resolve(&a.root.root, a.target.as_deref())? {
        Target::Stream(name, dir) => vec![(name, dir)],
        Target::Root(root) => streams(&root)?,
    };
    let now = SystemClock.now_ns();
    let mut n = 0;
    for (name, dir) in targets {
        for p in retain(&dir, policy, now)? {
            println!(
                "deleted {name}/{}",
                p.file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_default()
            );
            n += 1;
        }
    }
    println!("{n} files deleted");
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes() {
        assert_eq!(super::parse_size("500MiB").unwrap(), 500 << 20);
        assert_eq!(super::parse_size("2GB").unwrap(), 2_000_000_000);
        assert_eq!(super::parse_size("17").unwrap(), 17);
        assert!(super::parse_size("lots").is_err());
        assert!(super::parse_size("5XB").is_err());
    }
}
