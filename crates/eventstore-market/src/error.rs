//! The market crate's errors: where (file, line, record) and why.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A bad input row.
    #[error("{}:{line}: {reason}", file.display())]
    BadRow {
        file: PathBuf,
        line: u64,
        reason: String,
    },
    /// A stored record that does not decode.
    #[error("{stream} record {seq}: {reason}")]
    BadRecord {
        stream: String,
        seq: u64,
        reason: String,
    },
    #[error("{}: {reason}", path.display())]
    Meta { path: PathBuf, reason: String },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Log(#[from] eventstore_log::Error),
    #[error("{0}")]
    InvalidArgument(String),
}

pub type Result<T> = std::result::Result<T, Error>;
