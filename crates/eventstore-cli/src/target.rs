//! Resolving a command's target: a stream under the root, or a whole root.

use anyhow::{bail, Result};
use eventstore_log::StreamName;
use std::path::{Path, PathBuf};

/// What a command acts on.
pub enum Target {
    /// One stream: its name (as given) and folder.
    Stream(String, PathBuf),
    /// Every stream under a root folder.
    Root(PathBuf),
}

/// `arg` is a stream name under `root`, a path to a stream folder, or a
/// path to a root folder; no argument means the whole root.
pub fn resolve(root: &Path, arg: Option<&str>) -> Result<Target> {
    let Some(arg) = arg else {
        return Ok(Target::Root(root.to_path_buf()));
    };
    if let Ok(name) = StreamName::new(arg) {
        let dir = name.dir(root);
        if eventstore_log::files::is_stream_dir(&dir) {
            return Ok(Target::Stream(arg.to_string(), dir));
        }
    }
    let p = Path::new(arg);
    if p.is_dir() {
        if eventstore_log::files::is_stream_dir(p) {
            return Ok(Target::Stream(arg.to_string(), p.to_path_buf()));
        }
        return Ok(Target::Root(p.to_path_buf()));
    }
    StreamName::new(arg)?;
    bail!(
        "no stream {arg:?} under {} (and no folder of that name)",
        root.display()
    )
}

/// The folder of the stream `name` under `root`, which must exist.
pub fn stream_dir(root: &Path, name: &str) -> Result<PathBuf> {
    match resolve(root, Some(name))? {
        Target::Stream(_, d) => Ok(d),
        Target::Root(d) => bail!("{} holds no stream files", d.display()),
    }
}

/// Every stream under `root`, as (name, folder).
pub fn streams(root: &Path) -> Result<Vec<(String, PathBuf)>> {
    if !root.is_dir() {
        bail!("no folder {}", root.display());
    }
    Ok(eventstore_log::list_streams(root)?
        .into_iter()
        .map(|n| (n.to_string(), n.dir(root)))
        .collect())
}
