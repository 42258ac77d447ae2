//! The one error type of the remote crate.

use std::path::PathBuf;

/// What can go wrong between a stream and object storage.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A remote URL that can not be used.
    #[error("invalid remote {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },

    /// Another process is uploading the stream.
    #[error("stream {stream} is already being uploaded by process {} (one uploader per stream at a time)", pid.map(|p| p.to_string()).unwrap_or_else(|| "unknown".into()))]
    Busy { stream: String, pid: Option<u32> },

    /// The bucket or container does not exist.
    #[error("{remote}: no such bucket or folder ({source})")]
    NoSuchBucket {
        remote: String,
        #[source]
        source: object_store::Error,
    },

    /// Credentials were refused.
    #[error("{remote}: access denied, check the credentials ({source})")]
    AccessDenied {
        remote: String,
        #[source]
        source: object_store::Error,
    },

    /// Any other failure of the storage backend, after retries.
    #[error("{op} {key}: {}", chain(source))]
    Backend {
        op: &'static str,
        key: String,
        #[source]
        source: object_store::Error,
    },

    /// A stream the remote does not hold.
    #[error("{remote}: no stream {stream}")]
    NoSuchRemoteStream { remote: String, stream: String },

    /// A remote object whose bytes do not match its manifest.
    #[error("remote object {key} is corrupt: {reason}; not installed")]
    Corrupt { key: String, reason: String },

    /// The local copy of a stream is being written by a local writer (or
    /// holds an open file): a mirror is never written into.
    #[error("local stream {stream} {reason}: files polled from a remote would mix with its own; not polled")]
    WrittenLocally { stream: String, reason: String },

    /// A remote file whose sequence numbers do not continue the local
    /// stream's files around it (another stream's file, or a stream
    /// restarted elsewhere).
    #[error("remote file {key} does not fit the local stream: {reason}; not installed")]
    Discontinuous { key: String, reason: String },

    /// The log crate failed (reading a stream, listing files).
    #[error(transparent)]
    Log(#[from] eventstore_log::Error),

    /// A blocking task (hashing, compressing, verifying a file) panicked
    /// or was cancelled.
    #[error("{op} {path}: the task doing it failed: {reason}")]
    TaskFailed {
        op: &'static str,
        path: PathBuf,
        reason: String,
    },

    /// A local file operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Whether trying again may help.
    pub fn is_transient(&self) -> bool {
        matches!(self, Error::Backend { .. } | Error::Corrupt { .. })
    }
}

/// An error and its causes in one line, skipping causes that the text
/// before them already quotes (storage errors often repeat their sources).
pub(crate) fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut msg = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !msg.contains(&t) {
            msg.push_str(": ");
            msg.push_str(&t);
        }
        cur = c.source();
    }
    msg
}

/// The remote crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn io<'a>(
    op: &'static str,
    path: &'a std::path::Path,
) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |source| Error::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// A blocking task's failure to finish (`op` on `path`) as an error.
pub(crate) fn joined<'a>(
    op: &'static str,
    path: &'a std::path::Path,
) -> impl FnOnce(tokio::task::JoinError) -> Error + 'a {
    move |e| Error::TaskFailed {
        op,
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// Convert a backend error at the boundary: permanent kinds get their own
/// variants so callers can stop at once with a clear message.
pub(crate) fn backend(remote: &str, op: &'static str, key: &str, e: object_store::Error) -> Error {
    let text = e.to_string();
    match &e {
        object_store::Error::PermissionDenied { .. }
        | object_store::Error::Unauthenticated { .. } => Error::AccessDenied {
            remote: remote.to_string(),
            source: e,
        },
        // object_store reports these S3 and Azure answers as `Generic`
        // errors: only their text tells them apart.
        _ if text.contains("NoSuchBucket") => Error::NoSuchBucket {
            remote: remote.to_string(),
            source: e,
        },
        _ if text.contains("InvalidAccessKeyId")
            || text.contains("SignatureDoesNotMatch")
            || text.contains("AccessDenied") =>
        {
            Error::AccessDenied {
                remote: remote.to_string(),
                source: e,
            }
        }
        _ => Error::Backend {
            op,
            key: key.to_string(),
            source: e,
        },
    }
}
