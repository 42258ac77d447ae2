//! How a server runs: its data, limits, timeouts and tokens.

use crate::host::HostOptions;
use std::time::Duration;

/// How the server runs.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// Where streams are written, how they roll, when appends are acknowledged.
    pub host: HostOptions,
    /// When set, every call must carry `authorization: Bearer <token>`
    /// (or the admin token).
    pub token: Option<String>,
    /// The token that deletion and retention calls must carry; without it
    /// they are refused.
    pub admin_token: Option<String>,
    /// Largest request or response message (bytes).
    pub max_message_bytes: usize,
    /// Largest batch of records sent to a subscriber (payload bytes).
    pub max_batch_bytes: usize,
    /// Subscriptions open at the same time; more are refused.
    pub max_subscriptions: usize,
    /// Batches queued per subscription before its reader waits.
    pub subscription_queue: usize,
    /// Bytes of batches all subscriptions together may hold (read and not
    /// yet handed to their connections): the memory bound of every
    /// subscription at once. Readers wait for their share before reading.
    pub subscription_budget_bytes: usize,
    /// PEM certificate chain and private key: serve over TLS.
    pub tls: Option<(Vec<u8>, Vec<u8>)>,
    /// Connections open at the same time; a connection beyond it is
    /// closed as soon as it is accepted.
    pub max_connections: usize,
    /// A new connection that has not sent its first bytes (the HTTP/2
    /// preface and SETTINGS header, or a TLS ClientHello) this long after
    /// it was accepted is closed.
    pub handshake_timeout: Duration,
    /// The server pings each connection this often (HTTP/2 PING) ...
    pub keepalive_interval: Duration,
    /// ... and closes it if the answer does not come within this long.
    pub keepalive_timeout: Duration,
}

impl ServerOptions {
    pub fn new(data: impl Into<std::path::PathBuf>) -> ServerOptions {
        ServerOptions {
            host: HostOptions::new(data),
            token: None,
            admin_token: None,
            max_message_bytes: 16 << 20,
            max_batch_bytes: 1 << 20,
            max_subscriptions: 1024,
            subscription_queue: 2,
            subscription_budget_bytes: 256 << 20,
            tls: None,
            max_connections: 1000,
            handshake_timeout: Duration::from_secs(10),
            keepalive_interval: Duration::from_secs(30),
            keepalive_timeout: Duration::from_secs(20),
        }
    }
}
