//! The one error type of the log crate.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong in the log crate, organised by kind.
///
/// Every variant that concerns stored bytes names the file and, where it
/// applies, the byte offset, so that a user can find the problem without
/// reading the code.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A stream name broke the naming rules.
    #[error("invalid stream name {}: {reason}", shorten(name))]
    InvalidName { name: String, reason: &'static str },

    /// A roll interval that is not a whole number of seconds dividing a day.
    #[error("invalid roll interval {0:?}: use a number of seconds, minutes, hours that divides a day (for example 1m, 5m, 15m, 1h, 1d)")]
    InvalidInterval(String),

    /// Another writer holds the stream.
    #[error("stream {stream} is already open for writing by process {}", pid.map(|p| p.to_string()).unwrap_or_else(|| "unknown".into()))]
    Locked { stream: PathBuf, pid: Option<u32> },

    /// Bytes on disk that do not decode: a bad checksum, an impossible
    /// length, a truncated frame or footer.
    #[error("corrupted data in {file} at offset {offset}: {reason}")]
    Corrupted {
        file: PathBuf,
        offset: u64,
        reason: String,
    },

    /// A file that does not start with the log's magic bytes.
    #[error("{file} is not an EventStore log file (bad magic bytes)")]
    BadMagic { file: PathBuf },

    /// A file written by a format version this build does not read.
    #[error(
        "{file} has format version {version}, this build reads versions {} (frames) and {} (compact)",
        crate::format::VERSION, crate::format::VERSION_COMPACT
    )]
    UnsupportedVersion { file: PathBuf, version: u16 },

    /// A payload above the largest record a file can hold.
    #[error("payload of {len} bytes exceeds the maximum of {max} bytes")]
    PayloadTooLarge { len: usize, max: usize },

    /// The stream folder does not exist.
    #[error("no stream at {0}")]
    NoSuchStream(PathBuf),

    /// An earlier fsync failed; the writer refuses further writes because the
    /// state of the file on disk is unknown. Reopen the stream to recover.
    #[error("writer is poisoned after a failed sync; reopen the stream to recover")]
    Poisoned,

    /// Sealing a rolled file behind the appends failed (the file stays
    /// open on disk; recovery seals it). The writer is poisoned.
    #[error("sealing a file in the background failed: {0}; the writer refuses further writes, reopen the stream to recover")]
    BackgroundSeal(String),

    /// A state the code never leaves the writer in: a bug, reported
    /// rather than panicking.
    #[error("internal error: {0}")]
    Invariant(&'static str),

    /// A request that does not make sense (a bad range, an unknown option).
    #[error("{0}")]
    InvalidArgument(String),

    /// An operating-system error on a named file.
    #[error("{op} {path}: {source}")]
    IoAt {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// An operating-system error with no single file to name.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// A name as quoted in an error: whole when short, otherwise its first 64
/// characters and its length, so that an error about a huge name is not
/// huge itself (a server returns it in a header).
fn shorten(name: &str) -> String {
    const SHOWN: usize = 64;
    if name.len() <= SHOWN * 2 {
        return format!("{name:?}");
    }
    let cut = (0..=SHOWN)
        .rev()
        .find(|&i| name.is_char_boundary(i))
        .unwrap_or(0);
    format!("{:?}... ({} bytes)", &name[..cut], name.len())
}

/// The log crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Attach a path and an operation to an I/O error.
pub(crate) trait IoContext<T> {
    fn at(self, op: &'static str, path: &std::path::Path) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn at(self, op: &'static str, path: &std::path::Path) -> Result<T> {
        self.map_err(|source| Error::IoAt {
            op,
            path: path.to_path_buf(),
            source,
        })
    }
}
