//! What goes where in a bucket, and the manifest kept beside each file.
//!
//! ```text
//! <prefix>/<stream name>/<YYYYMMDDTHHMMSSZ>.log            the sealed file, byte for byte
//! <prefix>/<stream name>/<YYYYMMDDTHHMMSSZ>.log.meta.json  its manifest, written last
//! ```
//!
//! A file counts as uploaded once its manifest exists: the manifest is
//! written only after the data object has been read back and matched.

use crate::error::{io, Result};
use std::io::Read;
use std::path::Path;

/// Suffix of a manifest key: `<file name>.meta.json`.
pub const META_SUFFIX: &str = ".meta.json";

/// The manifest of one uploaded file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileMeta {
    /// Bytes of the file.
    pub size: u64,
    /// CRC-32C of the whole file.
    pub crc32c: u32,
    pub first_seq: u64,
    pub records: u64,
    pub min_ts: Option<i64>,
    pub max_ts: Option<i64>,
    /// How the data object is compressed (`zstd`), if it is.
    pub compression: Option<String>,
    /// Bytes of the data object when compressed.
    pub stored_size: Option<u64>,
}

/// Suffix of a zstd-compressed data object: `<file name>.zst`.
pub const ZSTD_SUFFIX: &str = ".zst";

/// Files of a stream's folder that describe the whole stream (such as a
/// market stream's `market.json`): uploaded before its log files and
/// polled with them, stored as `<prefix>/<stream>/<name>`.
pub const STREAM_SIDECARS: &[&str] = &["market.json"];

/// Suffixes of files that describe one sealed file (`<file>.log.summary.json`,
/// a trade file's summary; `<file>.log.book`, an order stream's book as of
/// the file's start): uploaded after the file's manifest and polled with
/// the file, stored beside it.
pub const FILE_SIDECAR_SUFFIXES: &[&str] = &[".summary.json", ".book"];

/// The sidecar suffix `name` (`<file>.log<suffix>`) ends with, and the log file's name.
pub fn file_sidecar(name: &str) -> Option<(&str, &'static str)> {
    FILE_SIDECAR_SUFFIXES.iter().find_map(|sfx| {
        name.strip_suffix(sfx)
            .filter(|log| log.ends_with(".log"))
            .map(|log| (log, *sfx))
    })
}

impl FileMeta {
    /// The manifest as JSON.
    pub fn to_json(&self) -> String {
        serde_json::json!({
            "format": 1,
            "size": self.size,
            "crc32c": format!("{:08x}", self.crc32c),
            "first_seq": self.first_seq,
            "records": self.records,
            "min_ts": self.min_ts,
            "max_ts": self.max_ts,
            "compression": self.compression,
            "stored_size": self.stored_size,
        })
        .to_string()
    }

    /// Parse a manifest.
    pub fn from_json(b: &[u8]) -> std::result::Result<FileMeta, String> {
        let v: serde_json::Value =
            serde_json::from_slice(b).map_err(|e| format!("manifest is not JSON: {e}"))?;
        let u = |k: &str| {
            v.get(k)
                .and_then(|x| x.as_u64())
                .ok_or_else(|| format!("manifest has no {k}"))
        };
        let crc = v
            .get("crc32c")
            .and_then(|x| x.as_str())
            .and_then(|s| u32::from_str_radix(s, 16).ok())
            .ok_or("manifest has no crc32c")?;
        Ok(FileMeta {
            size: u("size")?,
            crc32c: crc,
            first_seq: u("first_seq")?,
            records: u("records")?,
            min_ts: v.get("min_ts").and_then(|x| x.as_i64()),
            max_ts: v.get("max_ts").and_then(|x| x.as_i64()),
            compression: v
                .get("compression")
                .and_then(|x| x.as_str())
                .map(String::from),
            stored_size: v.get("stored_size").and_then(|x| x.as_u64()),
        })
    }
}

/// Read a fetched data object (decompressing it when its manifest says
/// so), handing the original bytes to `sink`; returns their size and
/// CRC-32C, which the caller compares with the manifest.
pub(crate) async fn read_object(
    url: &str,
    key: &object_store::path::Path,
    got: object_store::GetResult,
    meta: &FileMeta,
    mut sink: impl FnMut(&[u8]) -> Result<()>,
) -> Result<(u64, u32)> {
    use futures::TryStreamExt;
    let fail = |e| crate::error::backend(url, "get", key.as_ref(), e);
    if meta.compression.is_some() {
        let stored = got.bytes().await.map_err(fail)?;
        let plain = zstd::bulk::decompress(&stored, meta.size as usize).map_err(|e| {
            crate::Error::Corrupt {
                key: key.to_string(),
                reason: format!("does not decompress: {e}"),
            }
        })?;
        sink(&plain)?;
        return Ok((plain.len() as u64, crc32c::crc32c(&plain)));
    }
    let mut stream = got.into_stream();
    let (mut size, mut crc) = (0u64, 0u32);
    while let Some(chunk) = stream.try_next().await.map_err(fail)? {
        crc = crc32c::crc32c_append(crc, &chunk);
        size += chunk.len() as u64;
        sink(&chunk)?;
    }
    Ok((size, crc))
}

/// Size and CRC-32C of a local file, read in 1 MiB pieces.
pub fn file_checksum(path: &Path) -> Result<(u64, u32)> {
    let mut f = std::fs::File::open(path).map_err(io("open", path))?;
    let mut buf = vec![0u8; 1 << 20];
    let (mut size, mut crc) = (0u64, 0u32);
    loop {
        let n = f.read(&mut buf).map_err(io("read", path))?;
        if n == 0 {
            return Ok((size, crc));
        }
        crc = crc32c::crc32c_append(crc, &buf[..n]);
        size += n as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_round_trips() {
        let m = FileMeta {
            size: 10,
            crc32c: 0xdeadbeef,
            first_seq: 5,
            records: 3,
            min_ts: Some(-1),
            max_ts: None,
            compression: Some("zstd".into()),
            stored_size: Some(7),
        };
        assert_eq!(FileMeta::from_json(m.to_json().as_bytes()), Ok(m));
        assert!(FileMeta::from_json(b"{").is_err());
        assert!(FileMeta::from_json(b"{\"size\":1}").is_err());
    }
}
