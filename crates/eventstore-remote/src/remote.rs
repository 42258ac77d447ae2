//! A remote is a URL: `file:///path` (a local folder, the embedded default),
//! `s3://bucket/prefix` (AWS S3 and anything S3-compatible) or
//! `az://container/prefix` (Azure Blob Storage and Azurite).

use crate::error::{Error, Result};
use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::local::LocalFileSystem;
use object_store::multipart::MultipartStore;
use object_store::path::Path as ObjPath;
use object_store::{BackoffConfig, ClientOptions, ObjectStore, RetryConfig};
use std::sync::Arc;
use std::time::Duration;

/// Settings for S3-compatible servers. Credentials come from the usual
/// `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` (and `AWS_SESSION_TOKEN`)
/// variables unless given here; they are never printed.
#[derive(Clone, Debug, Default)]
pub struct S3Options {
    /// Endpoint URL of an S3-compatible server (`http://127.0.0.1:9000`);
    /// also read from `AWS_ENDPOINT_URL`. Implies path-style requests.
    pub endpoint: Option<String>,
    /// Region (default `us-east-1`, or `AWS_REGION`).
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    /// Allow plain HTTP (default: allowed when the endpoint starts with `http://`).
    pub allow_http: Option<bool>,
    /// Hash each request body with SHA-256 for its SigV4 signature. Off by
    /// default (`UNSIGNED-PAYLOAD`, as AWS's own SDKs send uploads): every
    /// uploaded file is verified by its MD5 ETag or by reading it back, and
    /// every download by its CRC-32C, so a second hash of the same bytes
    /// would only cost CPU. Turn it on for a server that refuses unsigned
    /// bodies.
    pub sign_payload: bool,
}

/// Settings for Azure Blob Storage. The account and its key come from
/// `AZURE_STORAGE_ACCOUNT_NAME` / `AZURE_STORAGE_ACCOUNT_KEY` unless given
/// here (other credentials, such as a SAS token or a managed identity, from
/// the usual `AZURE_*` variables); they are never printed.
#[derive(Clone, Debug, Default)]
pub struct AzureOptions {
    /// Blob endpoint, such as `http://127.0.0.1:10000/devstoreaccount1` for
    /// Azurite (default `https://<account>.blob.core.windows.net`); plain
    /// HTTP is allowed for `http://` endpoints.
    pub endpoint: Option<String>,
    pub account: Option<String>,
    pub access_key: Option<String>,
}

/// How to reach a remote: the settings of each kind of store (the URL's
/// scheme picks the one that applies) and how hard to retry.
#[derive(Clone, Debug, Default)]
pub struct RemoteOptions {
    pub s3: S3Options,
    pub azure: AzureOptions,
    pub retry: RetryOptions,
}

impl RemoteOptions {
    /// An S3 (or S3-compatible) remote's settings.
    pub fn s3(s3: S3Options) -> RemoteOptions {
        RemoteOptions {
            s3,
            ..RemoteOptions::default()
        }
    }

    /// An Azure Blob Storage remote's settings.
    pub fn azure(azure: AzureOptions) -> RemoteOptions {
        RemoteOptions {
            azure,
            ..RemoteOptions::default()
        }
    }

    /// With `retry` instead of the default retries.
    pub fn retry(mut self, retry: RetryOptions) -> RemoteOptions {
        self.retry = retry;
        self
    }
}

/// How hard to retry transient failures (5xx, timeouts, dropped connections).
#[derive(Clone, Debug)]
pub struct RetryOptions {
    pub max_retries: usize,
    /// Give up on one request after this long in all.
    pub timeout: Duration,
    pub connect_timeout: Duration,
}

impl Default for RetryOptions {
    fn default() -> Self {
        RetryOptions {
            max_retries: 8,
            timeout: Duration::from_secs(120),
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// An opened remote: the store, and the prefix every key starts with.
#[derive(Clone)]
pub struct Remote {
    pub store: Arc<dyn ObjectStore>,
    /// The same store's multipart uploads by id, where it has them (S3):
    /// the uploader notes each upload's id beside the file, so that one a
    /// crash left unfinished is aborted by the next run.
    pub multipart: Option<Arc<dyn MultipartStore>>,
    pub prefix: ObjPath,
    /// The URL as given, for messages.
    pub url: String,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote")
            .field("store", &self.store)
            .field("multipart", &self.multipart.is_some())
            .field("prefix", &self.prefix)
            .field("url", &self.url)
            .finish()
    }
}

/// Retries of one request: `retry.max_retries` with exponential backoff
/// from 50 ms to 5 s, within `retry.timeout`.
fn retry_config(retry: &RetryOptions) -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(5),
            base: 2.0,
        },
        max_retries: retry.max_retries,
        retry_timeout: retry.timeout,
    }
}

fn client_options(retry: &RetryOptions) -> ClientOptions {
    ClientOptions::new()
        .with_connect_timeout(retry.connect_timeout)
        .with_timeout(Duration::from_secs(300))
}

impl Remote {
    /// A remote on an existing store (tests wrap stores to inject faults).
    pub fn new(store: Arc<dyn ObjectStore>, prefix: &str, url: &str) -> Remote {
        Remote {
            store,
            multipart: None,
            prefix: ObjPath::from(prefix),
            url: url.to_string(),
        }
    }

    /// The remote with multipart uploads by id through `m` (the same store).
    pub fn with_multipart(mut self, m: Arc<dyn MultipartStore>) -> Remote {
        self.multipart = Some(m);
        self
    }

    /// Open `url`: `file:///path`, `s3://bucket/prefix` or
    /// `az://container/prefix`, with the settings of `opts` for its scheme.
    pub fn open(url: &str, opts: &RemoteOptions) -> Result<Remote> {
        let (s3, azure, retry) = (&opts.s3, &opts.azure, &opts.retry);
        let bad = |reason: &str| Error::InvalidUrl {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let parsed = url::Url::parse(url)
            .map_err(|e| bad(&format!("{e} (use file:///path or s3://bucket/prefix)")))?;
        match parsed.scheme() {
            "file" => {
                let path = parsed
                    .to_file_path()
                    .map_err(|_| bad("not an absolute local path"))?;
                std::fs::create_dir_all(&path)
                    .map_err(|e| bad(&format!("can not create {}: {e}", path.display())))?;
                let store =
                    LocalFileSystem::new_with_prefix(&path).map_err(|e| bad(&e.to_string()))?;
                Ok(Remote::new(Arc::new(store), "", url))
            }
            "s3" => {
                let bucket = parsed
                    .host_str()
                    .filter(|b| !b.is_empty())
                    .ok_or_else(|| bad("no bucket name"))?;
                let prefix = parsed.path().trim_matches('/');
                let mut b = AmazonS3Builder::from_env().with_bucket_name(bucket);
                let endpoint = s3
                    .endpoint
                    .clone()
                    .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok());
                let mut allow_http = s3.allow_http.unwrap_or(false);
                if let Some(ep) = &endpoint {
                    b = b.with_endpoint(ep).with_virtual_hosted_style_request(false);
                    allow_http = s3.allow_http.unwrap_or(ep.starts_with("http://"));
                }
                let region = s3
                    .region
                    .clone()
                    .or_else(|| std::env::var("AWS_REGION").ok())
                    .unwrap_or_else(|| "us-east-1".into());
                b = b.with_region(region);
                let has_key =
                    s3.access_key_id.is_some() || std::env::var_os("AWS_ACCESS_KEY_ID").is_some();
                if endpoint.is_some() && !has_key {
                    // Without keys the AWS client would ask the EC2 metadata
                    // service, which means nothing for another S3 server.
                    return Err(bad(
                        "no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
                    ));
                }
                if let Some(k) = &s3.access_key_id {
                    b = b.with_access_key_id(k);
                }
                if let Some(k) = &s3.secret_access_key {
                    b = b.with_secret_access_key(k);
                }
                b = b
                    .with_unsigned_payload(!s3.sign_payload)
                    .with_retry(retry_config(retry))
                    .with_client_options(client_options(retry).with_allow_http(allow_http));
                let store = Arc::new(b.build().map_err(|e| bad(&e.to_string()))?);
                Ok(Remote::new(store.clone(), prefix, url).with_multipart(store))
            }
            "az" => {
                let container = parsed
                    .host_str()
                    .filter(|b| !b.is_empty())
                    .ok_or_else(|| bad("no container name"))?;
                let prefix = parsed.path().trim_matches('/');
                let mut b = MicrosoftAzureBuilder::from_env().with_container_name(container);
                let mut allow_http = false;
                if let Some(ep) = &azure.endpoint {
                    b = b.with_endpoint(ep.clone());
                    allow_http = ep.starts_with("http://");
                }
                if let Some(a) = &azure.account {
                    b = b.with_account(a);
                }
                if let Some(k) = &azure.access_key {
                    b = b.with_access_key(k);
                }
                let store = b
                    .with_retry(retry_config(retry))
                    .with_client_options(client_options(retry).with_allow_http(allow_http))
                    .build()
                    .map_err(|e| bad(&e.to_string()))?;
                Ok(Remote::new(Arc::new(store), prefix, url))
            }
            other => Err(bad(&format!(
                "unsupported scheme {other:?} (use file://, s3:// or az://)"
            ))),
        }
    }

    /// The key of `rel` (a `/`-separated path) under the prefix.
    pub fn key(&self, rel: &str) -> ObjPath {
        let mut parts: Vec<String> = self
            .prefix
            .parts()
            .map(|p| p.as_ref().to_string())
            .collect();
        parts.extend(rel.split('/').filter(|s| !s.is_empty()).map(String::from));
        ObjPath::from(parts.join("/"))
    }

    /// `key` relative to the prefix.
    pub fn rel(&self, key: &ObjPath) -> Option<String> {
        let prefix: Vec<String> = self
            .prefix
            .parts()
            .map(|p| p.as_ref().to_string())
            .collect();
        let parts: Vec<String> = key.parts().map(|p| p.as_ref().to_string()).collect();
        if parts.len() < prefix.len() || parts[..prefix.len()] != prefix[..] {
            return None;
        }
        Some(parts[prefix.len()..].join("/"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::{ObjectStoreExt, PutPayload};
    use std::io::{BufRead, BufReader, Read, Write};

    /// The `x-amz-content-sha256` header of one PUT, answered by a minimal
    /// HTTP server on loopback.
    fn payload_hash_header(sign_payload: bool) -> String {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", l.local_addr().unwrap());
        let server = std::thread::spawn(move || {
            let (s, _) = l.accept().unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let (mut hash, mut len) = (String::new(), 0usize);
            loop {
                let mut line = String::new();
                r.read_line(&mut line).unwrap();
                let line = line.trim_end();
                if line.is_empty() {
                    break;
                }
                if let Some((k, v)) = line.split_once(':') {
                    match k.to_ascii_lowercase().as_str() {
                        "x-amz-content-sha256" => hash = v.trim().to_string(),
                        "content-length" => len = v.trim().parse().unwrap(),
                        _ => {}
                    }
                }
            }
            let mut body = vec![0u8; len];
            r.read_exact(&mut body).unwrap();
            (&s).write_all(b"HTTP/1.1 200 OK\r\nETag: \"e\"\r\nContent-Length: 0\r\n\r\n")
                .unwrap();
            hash
        });
        let s3 = S3Options {
            endpoint: Some(endpoint),
            access_key_id: Some("k".into()),
            secret_access_key: Some("s".into()),
            sign_payload,
            ..S3Options::default()
        };
        let remote = Remote::open("s3://b/p", &RemoteOptions::s3(s3)).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(
            remote
                .store
                .put(&remote.key("x"), PutPayload::from_static(b"hello")),
        )
        .unwrap();
        server.join().unwrap()
    }

    #[test]
    fn bodies_go_unsigned_unless_asked() {
        assert_eq!(payload_hash_header(false), "UNSIGNED-PAYLOAD");
        // SHA-256 of "hello".
        assert_eq!(
            payload_hash_header(true),
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
    }
}
