//! What can go wrong for a client.

/// A client's error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server's address is not a valid URI (`host:port` or a URL).
    #[error("bad server address {addr:?}: {reason}")]
    BadAddress { addr: String, reason: String },
    /// The token cannot be sent in a header: it must be printable ASCII.
    #[error("the token must be printable ASCII")]
    BadToken,
    /// The connection (or its TLS set-up) failed.
    #[error("{0}")]
    Connect(#[source] tonic::transport::Error),
    /// The server answered with an error status (see [`Error::code`]).
    #[error("{}: {}", .0.code(), .0.message())]
    Status(#[from] tonic::Status),
    /// The publisher's task has ended (its runtime was shut down).
    #[error("the publisher has stopped")]
    PublisherStopped,
    /// Records a publisher could not get acknowledged: `unanswered` were
    /// sent but not answered before the connection failed (they may or
    /// may not be stored; they are not sent again, which could store them
    /// twice), `unsent` were never sent (no connection could be opened).
    #[error("{unanswered} records were sent but not acknowledged and {unsent} were never sent before the connection failed ({reason}); the unanswered may or may not be stored")]
    Unacknowledged {
        unanswered: u64,
        unsent: u64,
        reason: String,
    },
}

impl Error {
    /// The gRPC status code, if the server answered with one.
    pub fn code(&self) -> Option<tonic::Code> {
        match self {
            Error::Status(s) => Some(s.code()),
            _ => None,
        }
    }
}

/// A client's result.
pub type Result<T> = std::result::Result<T, Error>;
