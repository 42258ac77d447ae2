//! `eventstore serve --data DIR --listen ADDR`: host streams over gRPC.

use super::remote_args::runtime;
use anyhow::{Context, Result};
use eventstore_log::{Durability, RollInterval};
use eventstore_server::{Server, ServerOptions};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Folder of the streams the server hosts.
    #[arg(long, env = "EVENTSTORE_DATA", default_value = "./data")]
    pub data: PathBuf,
    /// Address to listen on (port 0 picks a free port; the address is printed).
    #[arg(long, default_value = "127.0.0.1:7070")]
    pub listen: String,
    /// Roll interval of the streams: minutely, hourly, daily, or an interval dividing a day.
    #[arg(long, default_value = "1h")]
    pub roll: String,
    /// When appends are acknowledged: os (once written to the page cache;
    /// survives a crash of the server, not a power loss; `none` is the
    /// same), batch (after an fsync of each
    /// group of appends), or an interval such as 10ms (after an fsync at most that much later).
    #[arg(long, default_value = "os")]
    pub durability: String,
    /// Require `authorization: Bearer <token>` on every call.
    #[arg(long, env = "EVENTSTORE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Token that deletion and retention calls must carry (without it they are refused).
    #[arg(long, env = "EVENTSTORE_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// PEM certificate chain: serve over TLS (with --tls-key).
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Largest request or response message, bytes.
    #[arg(long, default_value_t = 16 << 20)]
    pub max_message_bytes: usize,
    /// Largest batch sent to a subscriber, bytes.
    #[arg(long, default_value_t = 1 << 20)]
    pub max_batch_bytes: usize,
    /// Subscriptions open at the same time.
    #[arg(long, default_value_t = 1024)]
    pub max_subscriptions: usize,
    /// Bytes of batches all subscriptions together may hold before their
    /// readers wait (the memory bound of every subscription at once).
    #[arg(long, default_value_t = 256 << 20)]
    pub subscription_budget_bytes: usize,
    /// Connections open at the same time; one more is closed as soon as it
    /// is accepted. Keep it below the process's open-file limit (`ulimit -n`).
    #[arg(long, default_value_t = 1000)]
    pub max_connections: usize,
    /// Close a new connection that has not begun its HTTP/2 (or TLS)
    /// handshake within this long.
    #[arg(long, default_value = "10s")]
    pub handshake_timeout: String,
    /// Ping every connection this often (HTTP/2 PING) ...
    #[arg(long, default_value = "30s")]
    pub keepalive_interval: String,
    /// ... and close it when the answer takes longer than this.
    #[arg(long, default_value = "20s")]
    pub keepalive_timeout: String,
}

/// A duration option such as `10s` or `500ms`.
fn duration(flag: &str, s: &str) -> Result<std::time::Duration> {
    let ns = eventstore_log::time::parse_duration_ns(s).with_context(|| format!("--{flag}"))?;
    if ns <= 0 {
        anyhow::bail!("--{flag} must be positive, not {s:?}");
    }
    Ok(std::time::Duration::from_nanos(ns as u64))
}

pub fn run(a: Args) -> Result<ExitCode> {
    let mut opts = ServerOptions::new(&a.data);
    opts.host.roll = RollInterval::parse(&a.roll)?;
    opts.host.durability = a.durability.parse::<Durability>()?;
    opts.token = a.token.clone();
    opts.admin_token = a.admin_token.clone();
    opts.max_message_bytes = a.max_message_bytes;
    opts.max_batch_bytes = a.max_batch_bytes;
    opts.max_subscriptions = a.max_subscriptions;
    opts.max_connections = a.max_connections;
    opts.subscription_budget_bytes = a.subscription_budget_bytes;
    opts.handshake_timeout = duration("handshake-timeout", &a.handshake_timeout)?;
    opts.keepalive_interval = duration("keepalive-interval", &a.keepalive_interval)?;
    opts.keepalive_timeout = duration("keepalive-timeout", &a.keepalive_timeout)?;
    if let (Some(c), Some(k)) = (&a.tls_cert, &a.tls_key) {
        let cert = std::fs::read(c).with_context(|| format!("reading {}", c.display()))?;
        let key = std::fs::read(k).with_context(|| format!("reading {}", k.display()))?;
        opts.tls = Some((cert, key));
    }
    let rt = runtime()?;
    rt.block_on(async {
        let server = Server::bind(&a.listen, opts).await?;
        let addr = server.local_addr()?;
        eprintln!(
            "eventstore: serving {} on {addr}{}",
            a.data.display(),
            if a.tls_cert.is_some() { " (TLS)" } else { "" }
        );
        server
            .run(async {
                let mut term =
                    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    {
                        Ok(s) => s,
                        Err(_) => return std::future::pending().await,
                    };
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
                eprintln!("eventstore: shutting down");
            })
            .await?;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
