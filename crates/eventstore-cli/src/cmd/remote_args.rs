//! Options shared by the commands that talk to a remote.

use anyhow::Result;
use eventstore_remote::{AzureOptions, Remote, RemoteOptions, RetryOptions, S3Options};
use std::time::Duration;

#[derive(clap::Args, Clone, Debug)]
pub struct RemoteArgs {
    /// Endpoint of an S3-compatible server, such as http://127.0.0.1:9000 (default: AWS, or $AWS_ENDPOINT_URL).
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    pub s3_endpoint: Option<String>,
    /// S3 region (default us-east-1, or $AWS_REGION).
    #[arg(long)]
    pub s3_region: Option<String>,
    /// S3 access key id (prefer the AWS_ACCESS_KEY_ID variable: flags show in process lists).
    #[arg(long, env = "AWS_ACCESS_KEY_ID", hide_env_values = true)]
    pub s3_access_key_id: Option<String>,
    /// S3 secret access key (prefer the AWS_SECRET_ACCESS_KEY variable).
    #[arg(long, env = "AWS_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub s3_secret_access_key: Option<String>,
    /// Allow plain HTTP to the endpoint (default: yes for http:// endpoints).
    #[arg(long)]
    pub s3_allow_http: Option<bool>,
    /// Sign request bodies with SHA-256 (off: bodies go as UNSIGNED-PAYLOAD and
    /// every file is verified by its MD5 ETag or a read-back instead).
    #[arg(long)]
    pub s3_sign_payload: bool,
    /// Azure blob endpoint, such as http://127.0.0.1:10000/devstoreaccount1 for Azurite (default: `https://<account>.blob.core.windows.net`).
    #[arg(long)]
    pub azure_endpoint: Option<String>,
    /// Azure storage account (or $AZURE_STORAGE_ACCOUNT_NAME).
    #[arg(long, env = "AZURE_STORAGE_ACCOUNT_NAME")]
    pub azure_account: Option<String>,
    /// Azure storage account key (prefer the AZURE_STORAGE_ACCOUNT_KEY variable).
    #[arg(long, env = "AZURE_STORAGE_ACCOUNT_KEY", hide_env_values = true)]
    pub azure_access_key: Option<String>,
    /// Retries of a failing request (5xx, timeout, dropped connection) before giving up.
    #[arg(long, default_value_t = 8)]
    pub retries: usize,
    /// Give up on one request after this many seconds of retrying.
    #[arg(long, default_value_t = 120)]
    pub retry_timeout: u64,
}

impl RemoteArgs {
    /// Open `url`; credentials come from the flags or the AWS_* / AZURE_* variables.
    pub fn open(&self, url: &str) -> Result<Remote> {
        let s3 = S3Options {
            endpoint: self.s3_endpoint.clone(),
            region: self.s3_region.clone(),
            access_key_id: self.s3_access_key_id.clone(),
            secret_access_key: self.s3_secret_access_key.clone(),
            allow_http: self.s3_allow_http,
            sign_payload: self.s3_sign_payload,
        };
        let retry = RetryOptions {
            max_retries: self.retries,
            timeout: Duration::from_secs(self.retry_timeout),
            ..RetryOptions::default()
        };
        let azure = AzureOptions {
            endpoint: self.azure_endpoint.clone(),
            account: self.azure_account.clone(),
            access_key: self.azure_access_key.clone(),
        };
        Ok(Remote::open(url, &RemoteOptions { s3, azure, retry })?)
    }
}

/// A runtime for the async remote code.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        // Blocking work (subscriptions' reads, file I/O) on at most this
        // many threads, however many subscriptions or files there are.
        .max_blocking_threads(16)
        .enable_all()
        .build()?)
}
