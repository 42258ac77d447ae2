//! Options shared by the commands that talk to a server.

use anyhow::{Context, Result};
use eventstore_client::{Client, ClientOptions};
use std::path::PathBuf;

#[derive(clap::Args, Clone, Debug)]
pub struct ClientArgs {
    /// Bearer token, if the server requires one.
    #[arg(long, env = "EVENTSTORE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// PEM certificate of the authority that signed the server's: connect over TLS.
    #[arg(long)]
    pub tls_ca: Option<PathBuf>,
    /// Name in the server's certificate, when it is not the address's host.
    #[arg(long)]
    pub tls_domain: Option<String>,
}

impl ClientArgs {
    pub async fn connect(&self, addr: &str) -> Result<Client> {
        let tls_ca = match &self.tls_ca {
            Some(p) => Some(std::fs::read(p).with_context(|| format!("reading {}", p.display()))?),
            None => None,
        };
        let opts = ClientOptions {
            token: self.token.clone(),
            tls_ca,
            tls_domain: self.tls_domain.clone(),
            ..ClientOptions::default()
        };
        Client::connect(addr, opts)
            .await
            .with_context(|| format!("cannot connect to {addr}"))
    }
}
