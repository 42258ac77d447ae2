//! StreamUploader and StreamPoller: rolled log files to object storage and back.
//!
//! Production and consumption meet only in object storage. A collector runs
//! a [`StreamUploader`], which uploads every sealed file (never the open one),
//! verifies what the store holds (its MD5 ETag, or by reading it back: size
//! and CRC-32C), and only then writes the file's manifest; a research machine runs a [`StreamPoller`], which lists the
//! remote's streams and installs each missing file under its local root once
//! it matches its manifest. Both work on any `object_store` backend: S3 and
//! S3-compatible servers (`s3://bucket/prefix`) or a local folder
//! (`file:///path`, the embedded default).
//!
//! Modules: `remote` (URLs to stores), `layout` (keys and manifests),
//! `upload` (the pass; `upload/multipart.rs`, the multipart path and its
//! note), `retry` (transient failures retried with the shared backoff), `poll`, `cache` (a remote read through a local folder of limited size), [`intercept`] (a wrapper store for fault injection).
//!
//! ```no_run
//! # async fn f() -> eventstore_remote::Result<()> {
//! use eventstore_remote::*;
//! let remote = Remote::open("file:///tmp/bucket", &RemoteOptions::default())?;
//! StreamUploader::new(remote.clone(), UploadOptions::default()).upload_root("/data".as_ref()).await?;
//! StreamPoller::new(remote).poll("/mirror".as_ref(), &PollOptions::default()).await?;
//! # Ok(()) }
//! ```
#![cfg_attr(not(test), warn(clippy::unwrap_used))]
#![deny(unsafe_code)]

mod cache;
mod error;
pub mod intercept;
pub mod layout;
mod poll;
mod remote;
mod retry;
mod upload;

pub use cache::{CacheOptions, FetchReport, RemoteCache};
pub use error::{Error, Result};
pub use layout::FileMeta;
pub use poll::{matches, Listing, PollOptions, PollReport, RemoteFile, RemoteStream, StreamPoller};
pub use remote::{AzureOptions, Remote, RemoteOptions, RetryOptions, S3Options};
pub use upload::{Progress, StreamUploader, UploadOptions, UploadReport};
