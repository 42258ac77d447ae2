//! The market crate's errors: where (file, line, record) and why.

use std::path::PathBuf;

/// Everything that can go wrong reading, importing or exporting market
/// streams.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A bad input row: the file, the line (or DBN record) and why.
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
    /// A `market.json` that is missing, unreadable or wrong.
    #[error("{}: {reason}", path.display())]
    Meta { path: PathBuf, reason: String },
    /// The stream holds another kind of records than the call reads.
    #[error("{stream} holds {holds}, not {wanted}")]
    WrongKind {
        stream: String,
        holds: String,
        wanted: &'static str,
    },
    /// An input whose prices or sizes need more decimal places than a
    /// record keeps.
    #[error("{symbol}: more than {max} decimal places")]
    TooManyPlaces { symbol: String, max: u32 },
    /// An input whose metadata differs from that of the stream it would
    /// be appended to.
    #[error("stream {stream} holds {stored}; this input has {input}")]
    MetaMismatch {
        stream: String,
        stored: String,
        input: String,
    },
    /// A file listed a moment ago is gone (retention deleted it meanwhile).
    #[error("{} vanished while it was read", path.display())]
    Vanished { path: PathBuf },
    /// Building the Arrow arrays of a stream's records failed.
    #[error("Arrow batch of {stream}: {reason}")]
    Arrow { stream: String, reason: String },
    /// Writing a Parquet file failed.
    #[error("writing Parquet {}: {reason}", path.display())]
    Parquet { path: PathBuf, reason: String },
    /// An operating-system error on a named file.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The log failed (reading or writing a stream).
    #[error(transparent)]
    Log(#[from] eventstore_log::Error),
    /// A call that does not make sense (a bad interval, a missing option).
    #[error("{0}")]
    InvalidArgument(String),
}

/// The market crate's result type.
pub type Result<T> = std::result::Result<T, Error>;
