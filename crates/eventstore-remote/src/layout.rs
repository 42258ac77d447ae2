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
    /// The file's form: frames or compact blocks (a manifest without it
    /// is of a file of frames). A compact file is stored as it is, never
    /// compressed again.
    pub form: eventstore_log::Form,
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
            "form": self.form.as_str(),
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
            form: match v.get("form").and_then(|x| x.as_str()) {
                None | Some("framed") => eventstore_log::Form::Framed,
                Some("compact") => eventstore_log::Form::Compact,
                Some(f) => return Err(format!("manifest form {f:?} is not framed or compact")),
            },
        })
    }
}

/// Largest manifest read from a remote (a real one is about 200 bytes).
pub const MAX_MANIFEST_BYTES: u64 = 64 << 10;
/// Largest stream sidecar (`market.json`, a few hundred bytes) read from a remote.
pub const MAX_STREAM_SIDECAR_BYTES: u64 = 1 << 20;
/// Largest file sidecar read from a remote: a trade file's summary is a
/// few hundred bytes, an order stream's book snapshot up to tens of MiB
/// (compressed) for a deep L3 book.
pub fn max_file_sidecar_bytes(suffix: &str) -> u64 {
    if suffix == ".book" {
        1 << 30
    } else {
        1 << 20
    }
}
/// Largest zstd window the poller decodes (2^23 = 8 MiB; the uploader's
/// level 3 uses 2 MiB): a frame that asks for more is refused rather
/// than given the memory.
pub const ZSTD_WINDOW_LOG_MAX: u32 = 23;
/// Decompressed bytes handed to the sink at a time.
const PLAIN_CHUNK: usize = 256 << 10;

/// Read a fetched data object (decompressing it when its manifest says
/// so), handing the original bytes to `sink`; returns their size and
/// CRC-32C, which the caller compares with the manifest. Memory stays
/// bounded whatever the object holds: the body is streamed, decompressed
/// a piece at a time with a bounded window, and reading stops with
/// `Corrupt` as soon as it yields more than the manifest's size (a
/// decompression bomb, or a manifest that lies).
pub(crate) async fn read_object(
    url: &str,
    key: &object_store::path::Path,
    got: object_store::GetResult,
    meta: &FileMeta,
    mut sink: impl FnMut(&[u8]) -> Result<()>,
) -> Result<(u64, u32)> {
    use futures::TryStreamExt;
    use zstd::stream::raw::Operation;
    let fail = |e| crate::error::backend(url, "get", key.as_ref(), e);
    let corrupt = |reason: String| crate::Error::Corrupt {
        key: key.to_string(),
        reason,
    };
    let (mut size, mut crc) = (0u64, 0u32);
    let mut take = |b: &[u8]| -> Result<()> {
        size += b.len() as u64;
        if size > meta.size {
            return Err(corrupt(format!(
                "holds more than the {} bytes its manifest says",
                meta.size
            )));
        }
        crc = crc32c::crc32c_append(crc, b);
        sink(b)
    };
    let mut stream = got.into_stream();
    if meta.compression.is_none() {
        while let Some(chunk) = stream.try_next().await.map_err(fail)? {
            take(&chunk)?;
        }
        return Ok((size, crc));
    }
    let bad = |e: std::io::Error| corrupt(format!("does not decompress: {e}"));
    let mut dec = zstd::stream::raw::Decoder::new().map_err(bad)?;
    dec.set_parameter(zstd::stream::raw::DParameter::WindowLogMax(
        ZSTD_WINDOW_LOG_MAX,
    ))
    .map_err(bad)?;
    let mut out = vec![0u8; PLAIN_CHUNK];
    let (mut stored, mut frame_done) = (0u64, true);
    while let Some(chunk) = stream.try_next().await.map_err(fail)? {
        stored += chunk.len() as u64;
        if meta.stored_size.is_some_and(|s| stored > s) {
            return Err(corrupt(format!(
                "is larger than the {} stored bytes its manifest says",
                meta.stored_size.unwrap_or(0)
            )));
        }
        let mut input = &chunk[..];
        // Until this piece is consumed and the decoder has nothing more
        // to give for it.
        loop {
            let st = dec.run_on_buffers(input, &mut out).map_err(bad)?;
            input = &input[st.bytes_read..];
            take(&out[..st.bytes_written])?;
            frame_done = st.remaining == 0;
            if input.is_empty() && st.bytes_written < out.len() {
                break;
            }
        }
    }
    if !frame_done {
        return Err(corrupt(
            "does not decompress: the zstd frame is cut short".into(),
        ));
    }
    Ok((size, crc))
}

/// Fetch a small object whole, refusing it once it passes `limit` bytes.
pub(crate) async fn get_small(
    remote: &crate::Remote,
    key: &object_store::path::Path,
    limit: u64,
) -> Result<bytes::Bytes> {
    use futures::TryStreamExt;
    use object_store::ObjectStoreExt;
    let url = &remote.url;
    let got = remote
        .store
        .get(key)
        .await
        .map_err(|e| crate::error::backend(url, "get", key.as_ref(), e))?;
    let too_big = |n: u64| crate::Error::Corrupt {
        key: key.to_string(),
        reason: format!("{n} bytes, more than the {limit} such an object may have"),
    };
    if got.meta.size > limit {
        return Err(too_big(got.meta.size));
    }
    let mut stream = got.into_stream();
    let mut buf = Vec::new();
    while let Some(chunk) = stream
        .try_next()
        .await
        .map_err(|e| crate::error::backend(url, "read", key.as_ref(), e))?
    {
        if (buf.len() + chunk.len()) as u64 > limit {
            return Err(too_big((buf.len() + chunk.len()) as u64));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.into())
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
            form: eventstore_log::Form::Framed,
        };
        assert_eq!(FileMeta::from_json(m.to_json().as_bytes()), Ok(m.clone()));
        let c = FileMeta {
            form: eventstore_log::Form::Compact,
            compression: None,
            ..m
        };
        assert_eq!(FileMeta::from_json(c.to_json().as_bytes()), Ok(c));
        // A manifest written before forms existed is of a file of frames.
        let old = r#"{"size":1,"crc32c":"00000001","first_seq":0,"records":1}"#;
        assert_eq!(
            FileMeta::from_json(old.as_bytes()).unwrap().form,
            eventstore_log::Form::Framed
        );
        assert!(FileMeta::from_json(b"{").is_err());
        assert!(FileMeta::from_json(b"{\"size\":1}").is_err());
    }
}
