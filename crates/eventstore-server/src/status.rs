//! Errors as the gRPC status a client can act on, with the data folder
//! kept out of their texts.

use eventstore_log::StreamName;
use std::path::Path;
use tonic::Status;

/// A log error as the gRPC status a client can act on. Paths in its text
/// are shown relative to the data folder `data`, which a client has no
/// business knowing.
pub(crate) fn status(data: &Path, e: eventstore_log::Error) -> Status {
    use eventstore_log::Error as E;
    let msg = hide_root(data, &e.to_string());
    match e {
        E::InvalidName { .. } | E::InvalidArgument(_) | E::PayloadTooLarge { .. } => {
            Status::invalid_argument(msg)
        }
        E::NoSuchStream(_) => Status::not_found(msg),
        E::Locked { .. } => Status::failed_precondition(msg),
        E::Poisoned => Status::unavailable(msg),
        _ => Status::internal(msg),
    }
}

/// `msg` with the data folder's path taken out of every path in it.
pub(crate) fn hide_root(data: &Path, msg: &str) -> String {
    let root = data.display().to_string();
    let root = root.trim_end_matches('/');
    if root.is_empty() {
        return msg.to_string();
    }
    msg.replace(&format!("{root}/"), "").replace(root, "<data>")
}

pub(crate) fn stream_name(s: &str) -> std::result::Result<StreamName, Status> {
    // A name is checked before the data folder is involved.
    StreamName::new(s).map_err(|e| status(Path::new(""), e))
}

/// A blocking task that panicked or was cancelled, as the status of the
/// call it served (`what` names the work).
pub(crate) fn joined(what: &'static str) -> impl FnOnce(tokio::task::JoinError) -> Status {
    move |e| Status::internal(format!("{what} failed: {e}"))
}
