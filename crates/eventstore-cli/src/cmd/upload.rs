//! `eventstore upload [stream|root] <url>`: sealed files to object storage.

use super::remote_args::{runtime, RemoteArgs};
use crate::target::{resolve, Target};
use crate::RootArg;
use anyhow::Result;
use eventstore_log::{SealWatcher, StreamName};
use eventstore_remote::{Progress, StreamUploader, UploadOptions, UploadReport};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// A stream name, a stream folder, or a root folder.
    pub target: String,
    /// Where to: file:///path, s3://bucket/prefix or az://container/prefix.
    pub url: String,
    #[command(flatten)]
    pub root: RootArg,
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// Keep running: upload each file as it is sealed, and rescan for files sealed by others.
    #[arg(long)]
    pub watch: bool,
    /// With --watch, rescan the folders at least this often (seconds).
    #[arg(long, default_value_t = 10)]
    pub rescan: u64,
    /// Delete each local file once its upload is verified (never the open file).
    #[arg(long)]
    pub delete_after_upload: bool,
    /// Files uploaded at the same time.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Compress stored objects (`<file>.log.zst`); `poll` installs them decompressed.
    #[arg(long, value_enum)]
    pub compress: Option<Compress>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compress {
    Zstd,
}

fn streams_of(target: &Target) -> Result<Vec<(StreamName, PathBuf)>> {
    Ok(match target {
        Target::Stream(name, dir) => vec![(
            StreamName::new(name).or_else(|_| dir_name(dir))?,
            dir.clone(),
        )],
        Target::Root(root) => eventstore_log::list_streams(root)?
            .into_iter()
            .map(|n| {
                let d = n.dir(root);
                (n, d)
            })
            .collect(),
    })
}

fn dir_name(dir: &Path) -> eventstore_log::Result<StreamName> {
    StreamName::new(
        &dir.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    )
}

fn print(r: &UploadReport) {
    for f in &r.uploaded {
        println!("uploaded {f}");
    }
    if r.aborted > 0 {
        println!(
            "{} multipart uploads left unfinished by an earlier run aborted",
            r.aborted
        );
    }
    println!(
        "{} files uploaded ({} bytes), {} already there, {} local files deleted",
        r.uploaded.len(),
        r.bytes,
        r.already,
        r.deleted
    );
}

pub fn run(a: Args) -> Result<ExitCode> {
    let target = resolve(&a.root.root, Some(&a.target))?;
    let remote = a.remote.open(&a.url)?;
    let bar = std::sync::Arc::new(std::sync::Mutex::new(crate::progress::Progress::new(
        "uploading",
        0,
    )));
    let b = bar.clone();
    let up = StreamUploader::new(
        remote,
        UploadOptions {
            concurrency: a.concurrency,
            delete_after_upload: a.delete_after_upload,
            compress: a.compress == Some(Compress::Zstd),
            progress: Some(Progress(std::sync::Arc::new(move |done, total, bytes| {
                if let Ok(mut p) = b.lock() {
                    p.files_and_bytes(done as u64, total as u64, bytes);
                }
            }))),
            ..UploadOptions::default()
        },
    );
    let clear = || {
        if let Ok(p) = bar.lock() {
            p.finish();
        }
    };
    let rt = runtime()?;
    // Market streams' per-file sidecars (trade summaries, book snapshots)
    // go up with their files: build those missing first.
    let sidecars = |streams: &[(StreamName, PathBuf)]| {
        for (name, dir) in streams {
            if let Err(e) = eventstore_market::build_sidecars(dir) {
                eprintln!("warning: {name}: sidecars not built: {e}");
            }
        }
    };
    if !a.watch {
        let streams = streams_of(&target)?;
        sidecars(&streams);
        let r = rt.block_on(up.upload(&streams));
        clear();
        print(&r?);
        return Ok(ExitCode::SUCCESS);
    }
    // Watch: one thread per stream sleeps on its seal notifications and
    // wakes the upload loop; a periodic rescan finds new streams and files
    // sealed while nobody watched.
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let mut watched = BTreeSet::new();
    loop {
        let streams = streams_of(&target)?;
        for (_, dir) in &streams {
            if watched.insert(dir.clone()) {
                let tx = tx.clone();
                let dir = dir.clone();
                std::thread::spawn(move || {
                    let mut w = SealWatcher::new(&dir);
                    loop {
                        match w.next(Duration::from_secs(1)) {
                            Ok(f) if !f.is_empty() => {
                                if tx.send(()).is_err() {
                                    return;
                                }
                            }
                            Ok(_) => {}
                            Err(_) => std::thread::sleep(Duration::from_secs(1)),
                        }
                    }
                });
            }
        }
        sidecars(&streams);
        let r = rt.block_on(up.upload(&streams));
        clear();
        let r = r?;
        if !r.uploaded.is_empty() {
            print(&r);
        }
        let _ = rx.recv_timeout(Duration::from_secs(a.rescan));
        while rx.try_recv().is_ok() {}
    }
}
