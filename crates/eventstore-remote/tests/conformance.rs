//! One suite, run against every backend: a local folder (`file://`) always,
//! and a real S3-compatible server over HTTP when the test command started
//! one (`EVENTSTORE_TEST_S3_ENDPOINT`, `EVENTSTORE_TEST_S3_BUCKET`; required
//! under `CI=true`).

use async_trait::async_trait;
use eventstore_log::*;
use eventstore_remote::intercept::{Intercepted, Interceptor};
use eventstore_remote::*;
use object_store::path::Path as ObjPath;
use object_store::{ObjectMeta, ObjectStoreExt, PutPayload};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const SEC: i64 = 1_000_000_000;
const T0: i64 = 1_723_161_240 * SEC;

/// The endpoint and bucket of the S3 server the test command started.
fn s3_env() -> Option<(String, String)> {
    server_env("S3", "BUCKET", "an S3 server")
}

/// The endpoint and container of the Azure Blob Storage server (Azurite)
/// the test command started.
fn azure_env() -> Option<(String, String)> {
    server_env("AZURE", "CONTAINER", "Azurite")
}

/// `EVENTSTORE_TEST_<kind>_ENDPOINT` and `EVENTSTORE_TEST_<kind>_<bucket>`;
/// their absence skips that backend, or fails under `CI=true`.
fn server_env(kind: &str, bucket: &str, what: &str) -> Option<(String, String)> {
    let ep = format!("EVENTSTORE_TEST_{kind}_ENDPOINT");
    match (
        std::env::var(&ep),
        std::env::var(format!("EVENTSTORE_TEST_{kind}_{bucket}")),
    ) {
        (Ok(e), Ok(b)) => Some((e, b)),
        _ => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{ep} is not set: run the tests with scripts/test.sh, which starts {what}");
            }
            eprintln!("skipping a backend: {ep} is not set (scripts/test.sh sets it)");
            None
        }
    }
}

fn s3_options(endpoint: &str) -> S3Options {
    S3Options {
        endpoint: Some(endpoint.to_string()),
        access_key_id: Some(std::env::var("AWS_ACCESS_KEY_ID").unwrap_or_else(|_| "test".into())),
        secret_access_key: Some(
            std::env::var("AWS_SECRET_ACCESS_KEY").unwrap_or_else(|_| "test".into()),
        ),
        ..S3Options::default()
    }
}

fn quick_retry() -> RetryOptions {
    RetryOptions {
        max_retries: 2,
        timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(2),
    }
}

/// Every backend, each with a fresh prefix.
fn backends(tmp: &Path, test: &str) -> Vec<Remote> {
    let mut v = Vec::new();
    let local = format!("file://{}", tmp.join("bucket").display());
    v.push(Remote::open(&local, &RemoteOptions::default().retry(quick_retry())).unwrap());
    if let Some((ep, bucket)) = s3_env() {
        let url = format!(
            "s3://{bucket}/{test}-{}-{}",
            std::process::id(),
            T0 % 1000 + rand_suffix()
        );
        v.push(
            Remote::open(
                &url,
                &RemoteOptions::s3(s3_options(&ep)).retry(quick_retry()),
            )
            .unwrap(),
        );
    }
    if let Some((endpoint, container)) = azure_env() {
        let url = format!(
            "az://{container}/{test}-{}-{}",
            std::process::id(),
            T0 % 1000 + rand_suffix()
        );
        let azure = AzureOptions {
            endpoint: Some(endpoint),
            account: std::env::var("AZURE_STORAGE_ACCOUNT_NAME").ok(),
            access_key: std::env::var("AZURE_STORAGE_ACCOUNT_KEY").ok(),
        };
        v.push(Remote::open(&url, &RemoteOptions::azure(azure).retry(quick_retry())).unwrap());
    }
    v
}

fn is_s3(r: &Remote) -> bool {
    r.url.starts_with("s3://")
}

fn rand_suffix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as i64
}

/// Three streams, `files` sealed minutely files each (plus an open one).
fn write_streams(root: &Path, files: i64) -> Vec<StreamName> {
    let names: Vec<StreamName> = [
        "binance/btcusdt/trades",
        "binance/btcusdt/depth",
        "lobster/amzn/orders",
    ]
    .iter()
    .map(|n| StreamName::new(n).unwrap())
    .collect();
    for (k, name) in names.iter().enumerate() {
        let clock = ManualClock::new(T0);
        let opts = WriterOptions::default()
            .roll(RollInterval::MINUTELY)
            .pretouch(false)
            .clock(Arc::new(clock.clone()));
        let mut w = StreamWriter::open(root, name, opts).unwrap();
        for f in 0..=files {
            clock.set(T0 + f * 60 * SEC);
            for i in 0..(50 + k * 20) {
                w.append(format!("{name} file {f} record {i} {}", "x".repeat(i % 90)).as_bytes())
                    .unwrap();
            }
        }
    }
    names
}

fn sealed_files(root: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    for n in list_streams(root).unwrap() {
        for f in files::list_files(&n.dir(root)).unwrap() {
            if f.sealed {
                v.push(f.path.strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    v.sort();
    v
}

use eventstore_testkit::runtime as rt;

#[test]
fn upload_poll_read_back_byte_for_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let names = write_streams(&src, 6);
    let sealed = sealed_files(&src);
    assert_eq!(sealed.len(), 18);
    // A market stream's metadata travels with the stream.
    let meta = br#"{"format":"eventstore.market/1","venue":"binance","symbol":"BTCUSDT","kind":"trades","price_scale":8,"size_scale":8,"style":"fixed"}"#;
    std::fs::write(names[0].dir(&src).join("market.json"), meta).unwrap();
    // And a file's sidecar (a trade file's summary) travels with its file.
    let summary_of = |root: &Path| {
        let mut p = root.join(&sealed[0]).into_os_string();
        p.push(".summary.json");
        PathBuf::from(p)
    };
    std::fs::write(summary_of(&src), b"{\"trades\":1}").unwrap();
    // So does an order stream file's book snapshot.
    let book_of = |root: &Path| {
        let mut p = root.join(&sealed[1]).into_os_string();
        p.push(".book");
        PathBuf::from(p)
    };
    std::fs::write(book_of(&src), b"ESBOOK01...").unwrap();
    for (i, remote) in backends(tmp.path(), "roundtrip").into_iter().enumerate() {
        let rt = rt();
        let up = StreamUploader::new(remote.clone(), UploadOptions::default());
        let r = rt.block_on(up.upload_root(&src)).unwrap();
        assert_eq!(r.uploaded.len(), 18, "{}", remote.url);
        // Again: nothing is uploaded twice.
        let r = rt.block_on(up.upload_root(&src)).unwrap();
        assert_eq!((r.uploaded.len(), r.already), (0, 18));
        // The remote lists every stream with every file, complete.
        let poller = StreamPoller::new(remote.clone());
        let listed = rt.block_on(poller.list()).unwrap();
        assert_eq!(listed.len(), 3);
        assert!(listed
            .iter()
            .all(|s| s.files.len() == 6 && s.files.iter().all(|f| f.complete)));
        // Poll into a second root: byte-identical, readable as is.
        let dst = tmp.path().join(format!("dst{i}"));
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let s2 = seen.clone();
        let p = rt
            .block_on(poller.poll(
                &dst,
                &PollOptions {
                    concurrency: 4,
                    progress: Some(Progress(std::sync::Arc::new(move |d, t, b| {
                        s2.lock().unwrap().push((d, t, b))
                    }))),
                    ..Default::default()
                },
            ))
            .unwrap();
        assert!(p.failed.is_empty(), "{:?}", p.failed);
        assert_eq!(p.downloaded.len(), 18);
        assert_eq!(p.sidecars, 3);
        assert_eq!(std::fs::read(summary_of(&dst)).unwrap(), b"{\"trades\":1}");
        assert_eq!(std::fs::read(book_of(&dst)).unwrap(), b"ESBOOK01...");
        assert_eq!(
            std::fs::read(names[0].dir(&dst).join("market.json")).unwrap(),
            meta
        );
        // Progress: one call per file, the last one with every file and byte.
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 18);
        assert_eq!(seen.last().copied(), Some((18, 18, p.bytes)));
        assert_eq!(sealed_files(&dst), sealed);
        for f in &sealed {
            assert_eq!(
                std::fs::read(src.join(f)).unwrap(),
                std::fs::read(dst.join(f)).unwrap(),
                "{}",
                f.display()
            );
        }
        for n in &names {
            let mut a = StreamReader::open(&src, n, ReadOptions::default()).unwrap();
            let mut b = StreamReader::open(&dst, n, ReadOptions::default()).unwrap();
            while let Some(x) = b.next().unwrap() {
                let x = x.to_owned();
                assert_eq!(a.next().unwrap().unwrap().to_owned(), x);
            }
            assert!(verify_stream(&n.dir(&dst), |_| {})
                .unwrap()
                .iter()
                .all(|r| r.is_ok()));
        }
        // Incremental: a second poll downloads nothing.
        let p = rt
            .block_on(poller.poll(&dst, &PollOptions::default()))
            .unwrap();
        assert_eq!((p.downloaded.len(), p.present), (0, 18));
    }
}

#[test]
fn compressed_uploads_are_transparent_to_the_poller() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    write_streams(&src, 3);
    let sealed = sealed_files(&src);
    for (i, remote) in backends(tmp.path(), "zstd").into_iter().enumerate() {
        let rt = rt();
        let up = StreamUploader::new(
            remote.clone(),
            UploadOptions {
                compress: true,
                ..Default::default()
            },
        );
        let r = rt.block_on(up.upload_root(&src)).unwrap();
        assert_eq!(r.uploaded.len(), 9);
        assert_eq!(
            rt.block_on(up.upload_root(&src)).unwrap().already,
            9,
            "nothing uploaded twice"
        );
        let keys: Vec<String> = rt.block_on(async {
            use futures::TryStreamExt;
            let prefix = (!remote.prefix.as_ref().is_empty()).then_some(&remote.prefix);
            remote
                .store
                .list(prefix)
                .map_ok(|m| m.location.to_string())
                .try_collect()
                .await
                .unwrap()
        });
        assert_eq!(
            keys.iter().filter(|k| k.ends_with(".log.zst")).count(),
            9,
            "{keys:?}"
        );
        let listed = rt
            .block_on(StreamPoller::new(remote.clone()).list())
            .unwrap();
        let stored: u64 = listed.iter().map(|s| s.bytes()).sum();
        let original: u64 = sealed
            .iter()
            .map(|f| std::fs::metadata(src.join(f)).unwrap().len())
            .sum();
        assert!(
            stored < original / 2,
            "compressed: {stored} of {original} bytes"
        );
        let dst = tmp.path().join(format!("dst{i}"));
        let p = rt
            .block_on(StreamPoller::new(remote.clone()).poll(&dst, &PollOptions::default()))
            .unwrap();
        assert!(p.failed.is_empty(), "{:?}", p.failed);
        assert_eq!(sealed_files(&dst), sealed);
        for f in &sealed {
            assert_eq!(
                std::fs::read(src.join(f)).unwrap(),
                std::fs::read(dst.join(f)).unwrap()
            );
        }
        let p = rt
            .block_on(StreamPoller::new(remote).poll(&dst, &PollOptions::default()))
            .unwrap();
        assert_eq!((p.downloaded.len(), p.present), (0, 9));
    }
}

/// Compact files travel as they are, even with compression on: their
/// manifests say `compact`, the poller installs the same bytes, and a file
/// being converted waits for a later pass.
#[test]
fn compact_files_are_uploaded_as_they_are() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    write_streams(&src, 3);
    for n in list_streams(&src).unwrap() {
        let done = eventstore_log::compact_stream(&n.dir(&src), &Default::default()).unwrap();
        assert!(done.iter().all(|c| c.replaced), "{done:?}");
    }
    let sealed = sealed_files(&src);
    for (i, remote) in backends(tmp.path(), "compact").into_iter().enumerate() {
        let rt = rt();
        let up = StreamUploader::new(
            remote.clone(),
            UploadOptions {
                compress: true,
                ..Default::default()
            },
        );
        // A file some process is converting is left for the next pass.
        let busy = src.join(&sealed[0]);
        let lock = busy.with_file_name(format!(
            "{}.compacting",
            busy.file_name().unwrap().to_string_lossy()
        ));
        let held = eventstore_log::lock_file(&lock).unwrap().unwrap();
        let r = rt.block_on(up.upload_root(&src)).unwrap();
        assert_eq!((r.uploaded.len(), r.deferred), (8, 1));
        drop(held);
        std::fs::remove_file(&lock).unwrap();
        let r = rt.block_on(up.upload_root(&src)).unwrap();
        assert_eq!((r.uploaded.len(), r.already), (1, 8));
        let keys: Vec<String> = rt.block_on(async {
            use futures::TryStreamExt;
            let prefix = (!remote.prefix.as_ref().is_empty()).then_some(&remote.prefix);
            remote
                .store
                .list(prefix)
                .map_ok(|m| m.location.to_string())
                .try_collect()
                .await
                .unwrap()
        });
        assert_eq!(
            keys.iter().filter(|k| k.ends_with(".zst")).count(),
            0,
            "{keys:?}"
        );
        let meta_key = keys.iter().find(|k| k.ends_with(".log.meta.json")).unwrap();
        let meta = rt
            .block_on(remote.store.get(&ObjPath::from(meta_key.as_str())))
            .unwrap();
        let meta = rt.block_on(meta.bytes()).unwrap();
        let meta = eventstore_remote::FileMeta::from_json(&meta).unwrap();
        assert_eq!((meta.form, meta.compression), (Form::Compact, None));
        let dst = tmp.path().join(format!("dst{i}"));
        let p = rt
            .block_on(StreamPoller::new(remote.clone()).poll(&dst, &PollOptions::default()))
            .unwrap();
        assert!(p.failed.is_empty(), "{:?}", p.failed);
        assert_eq!(sealed_files(&dst), sealed);
        for f in &sealed {
            assert_eq!(
                std::fs::read(src.join(f)).unwrap(),
                std::fs::read(dst.join(f)).unwrap()
            );
            assert_eq!(read_header(&dst.join(f)).unwrap().form, Form::Compact);
        }
    }
}

#[test]
fn poll_filters_by_stream_pattern_and_time() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    write_streams(&src, 6);
    for (i, remote) in backends(tmp.path(), "filters").into_iter().enumerate() {
        let rt = rt();
        rt.block_on(
            StreamUploader::new(remote.clone(), UploadOptions::default()).upload_root(&src),
        )
        .unwrap();
        let dst = tmp.path().join(format!("dst{i}"));
        let opts = PollOptions {
            pattern: Some("binance/*".into()),
            from_ns: Some(T0 + 2 * 60 * SEC),
            to_ns: Some(T0 + 4 * 60 * SEC),
            concurrency: 2,
            progress: None,
        };
        let p = rt
            .block_on(StreamPoller::new(remote).poll(&dst, &opts))
            .unwrap();
        let mut got = p.downloaded.clone();
        got.sort();
        assert_eq!(
            got,
            [
                "binance/btcusdt/depth/20240808T235600Z.log",
                "binance/btcusdt/depth/20240808T235700Z.log",
                "binance/btcusdt/trades/20240808T235600Z.log",
                "binance/btcusdt/trades/20240808T235700Z.log"
            ]
        );
    }
}

#[test]
fn a_corrupted_remote_object_is_refused_and_named() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    write_streams(&src, 2);
    for (i, remote) in backends(tmp.path(), "corrupt").into_iter().enumerate() {
        let rt = rt();
        rt.block_on(
            StreamUploader::new(remote.clone(), UploadOptions::default()).upload_root(&src),
        )
        .unwrap();
        let key = remote.key("binance/btcusdt/trades/20240808T235500Z.log");
        let mut b = rt
            .block_on(async { remote.store.get(&key).await.unwrap().bytes().await.unwrap() })
            .to_vec();
        b[100] ^= 0x01;
        rt.block_on(remote.store.put(&key, PutPayload::from(b)))
            .unwrap();
        let dst = tmp.path().join(format!("dst{i}"));
        let p = rt
            .block_on(StreamPoller::new(remote.clone()).poll(&dst, &PollOptions::default()))
            .unwrap();
        assert_eq!(p.downloaded.len(), 5);
        assert_eq!(p.failed.len(), 1);
        let msg = p.failed[0].to_string();
        assert!(
            msg.contains("binance/btcusdt/trades/20240808T235500Z.log") && msg.contains("corrupt"),
            "{msg}"
        );
        assert!(
            !dst.join("binance/btcusdt/trades/20240808T235500Z.log")
                .exists(),
            "not installed"
        );
        assert!(
            !dst.join("binance/btcusdt/trades/20240808T235500Z.log.download")
                .exists(),
            "no leftovers"
        );
    }
}

#[test]
fn delete_after_upload_frees_sealed_files_only() {
    let tmp = tempfile::tempdir().unwrap();
    for (i, remote) in backends(tmp.path(), "delete").into_iter().enumerate() {
        let src = tmp.path().join(format!("src{i}"));
        write_streams(&src, 3);
        let rt = rt();
        let up = StreamUploader::new(
            remote.clone(),
            UploadOptions {
                delete_after_upload: true,
                ..Default::default()
            },
        );
        let r = rt.block_on(up.upload_root(&src)).unwrap();
        assert_eq!((r.uploaded.len(), r.deleted), (9, 9));
        assert!(sealed_files(&src).is_empty());
        for n in list_streams(&src).unwrap() {
            let left = files::list_files(&n.dir(&src)).unwrap();
            assert_eq!(left.len(), 1);
            assert!(!left[0].sealed, "the open file stays");
        }
        let listed = rt.block_on(StreamPoller::new(remote).list()).unwrap();
        assert_eq!(listed.iter().map(|s| s.files.len()).sum::<usize>(), 9);
    }
}

/// Fails (or stalls) some requests, as a flaky network would.
#[derive(Debug)]
struct Flaky {
    every: usize,
    calls: AtomicUsize,
    injected: AtomicUsize,
}

#[async_trait]
impl Interceptor for Flaky {
    async fn before(&self, _op: &'static str, _location: &ObjPath) -> object_store::Result<()> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        // A scrambled sequence, so that failures do not line up with the
        // fixed order of requests for one file.
        let n = (n.wrapping_mul(2_654_435_761) >> 7) % self.every;
        if n == 1 {
            self.injected.fetch_add(1, Ordering::SeqCst);
            return Err(object_store::Error::Generic {
                store: "flaky",
                source: "injected failure: connection reset".into(),
            });
        }
        if n == 2 {
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
        Ok(())
    }
}

#[test]
fn injected_faults_are_retried_nothing_lost_nothing_duplicated() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    write_streams(&src, 5);
    let sealed = sealed_files(&src);
    for (i, remote) in backends(tmp.path(), "faults").into_iter().enumerate() {
        let flaky = Arc::new(Intercepted::new(
            remote.store.clone(),
            Flaky {
                every: 4,
                calls: AtomicUsize::new(0),
                injected: AtomicUsize::new(0),
            },
        ));
        let prefix = remote.prefix.to_string();
        let faulty = Remote::new(flaky.clone(), &prefix, &remote.url);
        let rt = rt();
        let r = rt
            .block_on(
                StreamUploader::new(
                    faulty.clone(),
                    UploadOptions {
                        attempts: 10,
                        ..Default::default()
                    },
                )
                .upload_root(&src),
            )
            .unwrap();
        assert_eq!(r.uploaded.len(), sealed.len());
        let dst = tmp.path().join(format!("dst{i}"));
        let p = rt
            .block_on(StreamPoller::new(faulty).poll(&dst, &PollOptions::default()))
            .unwrap();
        assert!(p.failed.is_empty(), "{:?}", p.failed);
        assert!(
            flaky.hooks.injected.load(Ordering::SeqCst) > 5,
            "faults were injected"
        );
        assert_eq!(sealed_files(&dst), sealed);
        for f in &sealed {
            assert_eq!(
                std::fs::read(src.join(f)).unwrap(),
                std::fs::read(dst.join(f)).unwrap()
            );
        }
        // Exactly one data object and one manifest per file.
        let keys: Vec<ObjectMeta> = rt.block_on(async {
            use futures::TryStreamExt;
            let prefix = (!remote.prefix.as_ref().is_empty()).then_some(&remote.prefix);
            remote.store.list(prefix).try_collect().await.unwrap()
        });
        assert_eq!(keys.len(), 2 * sealed.len(), "{keys:?}");
    }
}

/// Stores damaged bytes for every log file it is given, as a faulty disk or
/// proxy would, but answers as if all went well.
#[derive(Debug)]
struct Damaging;

impl Interceptor for Damaging {
    fn payload(&self, location: &ObjPath, payload: PutPayload) -> PutPayload {
        let mut b: Vec<u8> = payload.iter().flat_map(|c| c.to_vec()).collect();
        if location.as_ref().ends_with(".log") && b.len() > 200 {
            b[200] ^= 0x10;
        }
        PutPayload::from(b)
    }
}

/// One sealed file of about 12 MB in stream `big/file`: several 5 MiB parts.
fn write_big(src: &Path) -> StreamName {
    let big = StreamName::new("big/file").unwrap();
    let clock = ManualClock::new(T0);
    let opts = WriterOptions::default()
        .roll(RollInterval::MINUTELY)
        .pretouch(false)
        .clock(Arc::new(clock.clone()));
    let mut w = StreamWriter::open(src, &big, opts).unwrap();
    for i in 0..3000u32 {
        w.append(&vec![(i % 251) as u8; 4000]).unwrap();
    }
    clock.set(T0 + 120 * SEC);
    w.close().unwrap();
    big
}

/// Poll `remote` into `dst`: the big stream's one file arrives, identical
/// to the one in `src`.
fn big_polls_back(
    rt: &tokio::runtime::Runtime,
    remote: Remote,
    src: &Path,
    dst: &Path,
    big: &StreamName,
) {
    let p = rt
        .block_on(StreamPoller::new(remote).poll(dst, &PollOptions::default()))
        .unwrap();
    assert!(p.failed.is_empty(), "{:?}", p.failed);
    assert_eq!(p.downloaded.len(), 1);
    let f = files::list_files(&big.dir(src)).unwrap().remove(0).path;
    assert_eq!(
        std::fs::read(&f).unwrap(),
        std::fs::read(big.dir(dst).join(f.file_name().unwrap())).unwrap()
    );
}

/// Fails the second part of the first multipart upload; records every
/// multipart request.
#[derive(Debug, Default)]
struct FailSecondPart {
    ops: std::sync::Mutex<Vec<&'static str>>,
}

#[async_trait]
impl Interceptor for FailSecondPart {
    async fn before(&self, op: &'static str, _location: &ObjPath) -> object_store::Result<()> {
        let mut ops = self.ops.lock().unwrap();
        ops.push(op);
        if op == "put_part" && ops.iter().filter(|o| **o == "put_part").count() == 2 {
            return Err(object_store::Error::Generic {
                store: "fail-second-part",
                source: "injected failure: connection reset".into(),
            });
        }
        Ok(())
    }
}

#[test]
fn a_failed_multipart_upload_is_aborted_then_redone() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let big = write_big(&src);
    let rt = rt();
    for (i, remote) in backends(tmp.path(), "abort").into_iter().enumerate() {
        // On S3 through uploads by id (noted beside the file), on a local
        // folder through the streaming multipart API.
        let (failing, hooks) = Intercepted::remote(&remote, FailSecondPart::default());
        assert_eq!(failing.multipart.is_some(), is_s3(&remote));
        let opts = UploadOptions {
            multipart_threshold: 1 << 20,
            part_size: 5 << 20,
            ..Default::default()
        };
        let r = rt
            .block_on(StreamUploader::new(failing, opts).upload_root(&src))
            .unwrap();
        assert_eq!(r.uploaded.len(), 1);
        assert_eq!(notes(&big.dir(&src)), Vec::<PathBuf>::new());
        if let Some((ep, bucket)) = s3_env().filter(|_| is_s3(&remote)) {
            assert_eq!(uploads_in_progress(&ep, &bucket, remote.prefix.as_ref()), 0);
        }
        let ops = hooks.ops.lock().unwrap().clone();
        // The first upload is aborted, the second completes.
        let abort = ops.iter().position(|o| *o == "abort");
        let complete = ops.iter().position(|o| *o == "complete");
        assert!(
            abort.is_some() && abort < complete,
            "{}: {ops:?}",
            remote.url
        );
        assert_eq!(ops.iter().filter(|o| **o == "put_multipart").count(), 2);
        big_polls_back(&rt, remote, &src, &tmp.path().join(format!("dst{i}")), &big);
    }
}

/// The notes of multipart uploads in progress in a stream folder.
fn notes(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".uploading"))
        .collect()
}

/// Multipart uploads started and neither completed nor aborted under
/// `prefix`, as the S3 server lists them (ListMultipartUploads, over plain
/// HTTP: the test server takes unsigned requests).
fn uploads_in_progress(endpoint: &str, bucket: &str, prefix: &str) -> usize {
    use std::io::{Read, Write};
    let host = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let mut s = std::net::TcpStream::connect(host).unwrap();
    write!(
        s,
        "GET /{bucket}?uploads&prefix={prefix} HTTP/1.0\r\nHost: {host}\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(
        out.starts_with("HTTP/1.0 200") || out.starts_with("HTTP/1.1 200"),
        "{out}"
    );
    out.matches("<UploadId>").count()
}

/// Holds the second part of every multipart upload forever: the uploader
/// stops there, as if its process had been killed.
#[derive(Debug, Default)]
struct HangOnSecondPart {
    parts: AtomicUsize,
}

#[async_trait]
impl Interceptor for HangOnSecondPart {
    async fn before(&self, op: &'static str, _location: &ObjPath) -> object_store::Result<()> {
        if op == "put_part" && self.parts.fetch_add(1, Ordering::SeqCst) == 1 {
            futures::future::pending::<()>().await;
        }
        Ok(())
    }
}

/// An upload cut short in the middle of its parts leaves a note beside the
/// file; the next run aborts that upload on the server (nothing stays
/// behind, invisible but stored) and uploads the file again.
#[test]
fn an_upload_cut_short_is_aborted_by_the_next_run() {
    let Some((ep, bucket)) = s3_env() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let big = write_big(&src);
    let rt = rt();
    let remote = backends(tmp.path(), "cut").into_iter().find(is_s3).unwrap();
    let prefix = remote.prefix.as_ref().to_string();
    let opts = UploadOptions {
        multipart_threshold: 1 << 20,
        part_size: 5 << 20,
        ..Default::default()
    };
    let (hanging, _) = Intercepted::remote(&remote, HangOnSecondPart::default());
    let cut = rt.block_on(async {
        tokio::time::timeout(
            Duration::from_secs(3),
            StreamUploader::new(hanging, opts.clone()).upload_root(&src),
        )
        .await
    });
    assert!(cut.is_err(), "the upload was to hang: {cut:?}");
    // Dropped without an abort, as a crash would leave it.
    let left = notes(&big.dir(&src));
    assert_eq!(left.len(), 1, "{left:?}");
    let note = std::fs::read_to_string(&left[0]).unwrap();
    assert!(note.starts_with(&format!("{prefix}/big/file/")), "{note}");
    assert_eq!(uploads_in_progress(&ep, &bucket, &prefix), 1);
    let r = rt
        .block_on(StreamUploader::new(remote.clone(), opts).upload_root(&src))
        .unwrap();
    assert_eq!((r.aborted, r.uploaded.len()), (1, 1));
    assert_eq!(notes(&big.dir(&src)), Vec::<PathBuf>::new());
    assert_eq!(uploads_in_progress(&ep, &bucket, &prefix), 0);
    big_polls_back(&rt, remote, &src, &tmp.path().join("dst"), &big);
}

#[test]
fn an_upload_is_verified_before_it_counts() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    write_streams(&src, 1);
    let big = write_big(&src);
    let rt = rt();
    for (i, remote) in backends(tmp.path(), "verified").into_iter().enumerate() {
        let s3 = is_s3(&remote);
        // A store that damages what it stores: the upload is refused, no manifest is written.
        let bad = Remote::new(
            Arc::new(Intercepted::new(remote.store.clone(), Damaging)),
            remote.prefix.as_ref(),
            &remote.url,
        );
        let e = rt
            .block_on(
                StreamUploader::new(
                    bad,
                    UploadOptions {
                        attempts: 2,
                        ..Default::default()
                    },
                )
                .upload_root(&src),
            )
            .unwrap_err();
        assert!(matches!(e, eventstore_remote::Error::Corrupt { .. }), "{e}");
        assert!(e.to_string().contains("reads back as"), "{e}");
        let listed = rt
            .block_on(StreamPoller::new(remote.clone()).list())
            .unwrap();
        assert!(
            listed.iter().all(|s| s.files.iter().all(|f| !f.complete)),
            "no upload counted"
        );
        // The real store: every file verified; on S3 by the MD5 ETag (single
        // and multipart), elsewhere by reading back.
        let opts = UploadOptions {
            multipart_threshold: 1 << 20,
            part_size: 5 << 20,
            ..Default::default()
        };
        let r = rt
            .block_on(StreamUploader::new(remote.clone(), opts).upload_root(&src))
            .unwrap();
        assert_eq!(r.uploaded.len(), 4);
        assert_eq!(r.read_back, if s3 { 0 } else { 4 }, "{}", remote.url);
        let dst = tmp.path().join(format!("dst{i}"));
        let p = rt
            .block_on(StreamPoller::new(remote).poll(&dst, &PollOptions::default()))
            .unwrap();
        assert!(p.failed.is_empty(), "{:?}", p.failed);
        let f = files::list_files(&big.dir(&src)).unwrap().remove(0).path;
        let size = std::fs::metadata(&f).unwrap().len();
        assert!(size > 10 << 20, "the big file takes several parts");
        assert_eq!(
            std::fs::read(&f).unwrap(),
            std::fs::read(big.dir(&dst).join(f.file_name().unwrap())).unwrap()
        );
    }
}

#[test]
fn missing_bucket_wrong_credentials_and_unreachable_endpoint_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    write_streams(&src, 1);
    let rt = rt();
    // Nothing listens on port 9 of localhost.
    let remote = Remote::open(
        "s3://bucket/p",
        &RemoteOptions::s3(s3_options("http://127.0.0.1:9")).retry(quick_retry()),
    )
    .unwrap();
    let e = rt
        .block_on(
            StreamUploader::new(
                remote,
                UploadOptions {
                    attempts: 1,
                    ..Default::default()
                },
            )
            .upload_root(&src),
        )
        .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("127.0.0.1:9") && (msg.contains("onnect") || msg.contains("refused")),
        "{msg}"
    );
    let e = Remote::open("ftp://host/x", &RemoteOptions::default()).unwrap_err();
    assert!(e.to_string().contains("unsupported scheme \"ftp\""), "{e}");
    let e = Remote::open("s3:///nobucket", &RemoteOptions::default()).unwrap_err();
    assert!(e.to_string().contains("no bucket name"), "{e}");
    if let Some((ep, _)) = s3_env() {
        let remote = Remote::open(
            "s3://no-such-bucket-here/p",
            &RemoteOptions::s3(s3_options(&ep)).retry(quick_retry()),
        )
        .unwrap();
        let e = rt
            .block_on(StreamUploader::new(remote, UploadOptions::default()).upload_root(&src))
            .unwrap_err();
        assert!(
            matches!(e, eventstore_remote::Error::NoSuchBucket { .. }),
            "{e}"
        );
        assert!(e.to_string().contains("no such bucket"), "{e}");
    }
}

/// One uploader per stream: while another holds a stream's upload lock,
/// an upload of it stops with an error naming that process, touching
/// nothing; once the lock is released the upload goes through.
#[test]
fn a_second_uploader_of_a_stream_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let names = write_streams(&src, 2);
    let rt = rt();
    let remote = backends(tmp.path(), "busy").remove(0);
    let dir = names[0].dir(&src);
    let held = eventstore_log::lock_file(&dir.join(".upload.lock"))
        .unwrap()
        .unwrap();
    let e = rt
        .block_on(StreamUploader::new(remote.clone(), UploadOptions::default()).upload_root(&src))
        .unwrap_err();
    assert!(matches!(e, eventstore_remote::Error::Busy { .. }), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains(names[0].as_str()) && msg.contains(&std::process::id().to_string()),
        "{msg}"
    );
    let listed = rt
        .block_on(StreamPoller::new(remote.clone()).list())
        .unwrap();
    assert!(listed.iter().all(|s| s.files.iter().all(|f| !f.complete)));
    drop(held);
    let r = rt
        .block_on(StreamUploader::new(remote, UploadOptions::default()).upload_root(&src))
        .unwrap();
    assert!(!r.uploaded.is_empty());
}

/// Peak resident memory of this process since the last reset (KiB).
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Reset the peak to the current resident memory.
fn reset_peak_rss() {
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
}

/// `n` bytes of zeros as one zstd frame, compressed a piece at a time.
fn zstd_zeros(n: usize) -> Vec<u8> {
    use std::io::Write;
    let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 1).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..n >> 20 {
        enc.write_all(&zeros).unwrap();
    }
    enc.finish().unwrap()
}

fn manifest(size: u64, compressed: Option<u64>) -> String {
    format!(
        r#"{{"format":1,"size":{size},"crc32c":"00000000","first_seq":0,"records":1,"min_ts":null,"max_ts":null,"compression":{},"stored_size":{}}}"#,
        if compressed.is_some() {
            "\"zstd\""
        } else {
            "null"
        },
        compressed.map(|s| s.to_string()).unwrap_or("null".into())
    )
}

/// Every `*.download` file under `root`.
fn leftovers(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else if p.to_string_lossy().ends_with(".download") {
                out.push(p);
            }
        }
    }
    out
}

/// A remote holding a decompression bomb, manifests with absurd sizes and
/// oversized sidecars: the poller refuses each by name, keeps its memory
/// bounded, leaves no temporary file, and installs the honest stream.
#[test]
fn a_hostile_remote_cannot_exhaust_the_pollers_memory_or_disk() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    write_streams(&src, 2);
    let bomb = zstd_zeros(256 << 20);
    assert!(bomb.len() < 64 << 10, "{} bytes", bomb.len());
    for (i, remote) in backends(tmp.path(), "hostile").into_iter().enumerate() {
        let rt = rt();
        rt.block_on(
            StreamUploader::new(remote.clone(), UploadOptions::default()).upload_root(&src),
        )
        .unwrap();
        let file = "20240808T235400Z.log";
        let put = |rel: String, body: Vec<u8>| {
            rt.block_on(remote.store.put(&remote.key(&rel), PutPayload::from(body)))
                .unwrap();
        };
        // 256 MiB of zeros in 16 KiB, claiming 64 GiB; the same claiming
        // 600 MB (it decompresses whole, within the bound, and fails its CRC).
        for (stream, size) in [("evil/bomb", 64u64 << 30), ("evil/liar", 600_000_000)] {
            put(format!("{stream}/{file}.zst"), bomb.clone());
            put(
                format!("{stream}/{file}.meta.json"),
                manifest(size, Some(bomb.len() as u64)).into_bytes(),
            );
        }
        // 16 KiB stored, the manifest says 64 GiB.
        put(format!("evil/huge/{file}"), vec![7u8; 16 << 10]);
        put(
            format!("evil/huge/{file}.meta.json"),
            manifest(64 << 30, None).into_bytes(),
        );
        // A 2 MiB manifest, a 30 MiB market.json, a 2 MiB trade summary.
        put(format!("evil/fat/{file}"), vec![7u8; 100]);
        put(format!("evil/fat/{file}.meta.json"), vec![b' '; 2 << 20]);
        put("evil/market/market.json".into(), vec![b' '; 30 << 20]);
        put(format!("evil/market/{file}"), vec![7u8; 100]);
        put(
            format!("evil/market/{file}.meta.json"),
            manifest(100, None).into_bytes(),
        );
        let trades = "binance/btcusdt/trades/20240808T235500Z.log";
        put(format!("{trades}.summary.json"), vec![b' '; 2 << 20]);
        let dst = tmp.path().join(format!("dst{i}"));
        reset_peak_rss();
        let before = peak_rss_kib();
        let p = rt
            .block_on(StreamPoller::new(remote.clone()).poll(&dst, &PollOptions::default()))
            .unwrap();
        let grew = peak_rss_kib().saturating_sub(before);
        eprintln!("{}: peak RSS grew by {grew} KiB", remote.url);
        assert!(grew < 64 << 10, "{}: poll took {grew} KiB", remote.url);
        let failed: Vec<String> = p.failed.iter().map(|e| e.to_string()).collect();
        for name in [
            "evil/bomb/",
            "evil/liar/",
            "evil/huge/",
            "evil/fat/",
            "evil/market/market.json",
            "trades/20240808T235500Z.log.summary.json",
        ] {
            assert!(
                failed.iter().any(|m| m.contains(name)),
                "{}: {name} not refused by name: {failed:#?}",
                remote.url
            );
        }
        assert_eq!(failed.len(), 6, "{failed:#?}");
        for stream in ["bomb", "liar", "huge", "fat", "market"] {
            let d = dst.join("evil").join(stream);
            assert!(
                !d.join(file).exists() && !d.join("market.json").exists(),
                "{stream}: nothing installed"
            );
        }
        assert_eq!(leftovers(&dst), Vec::<PathBuf>::new());
        // The honest streams are all there, read back whole.
        assert_eq!(p.downloaded.len(), 6, "{:?}", p.downloaded);
        for s in ["binance/btcusdt/depth", "lobster/amzn/orders"] {
            for f in ["20240808T235400Z.log", "20240808T235500Z.log"] {
                assert_eq!(
                    std::fs::read(dst.join(s).join(f)).unwrap(),
                    std::fs::read(src.join(s).join(f)).unwrap()
                );
            }
        }
    }
}

/// Keys that object_store cannot take (`..`, an empty segment) are put
/// on the S3 server by a raw request: the poll skips and reports them and
/// installs every other stream.
#[test]
fn keys_with_dot_dot_or_empty_segments_are_skipped_and_the_rest_polled() {
    use std::io::{Read, Write};
    let Some((ep, bucket)) = s3_env() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    write_streams(&src, 2);
    let prefix = format!("badkeys-{}-{}", std::process::id(), rand_suffix());
    let remote = Remote::open(
        &format!("s3://{bucket}/{prefix}"),
        &RemoteOptions::s3(s3_options(&ep)).retry(quick_retry()),
    )
    .unwrap();
    let rt = rt();
    rt.block_on(StreamUploader::new(remote.clone(), UploadOptions::default()).upload_root(&src))
        .unwrap();
    let host = ep.trim_start_matches("http://").trim_end_matches('/');
    for key in [
        "evil/../x/20240808T235400Z.log",
        "evil//y/20240808T235400Z.log",
    ] {
        let mut s = std::net::TcpStream::connect(host).unwrap();
        write!(
            s,
            "PUT /{bucket}/{prefix}/{key} HTTP/1.0\r\nHost: {host}\r\nContent-Length: 4\r\n\r\njunk"
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        assert!(out.contains(" 200"), "{out}");
    }
    let dst = tmp.path().join("dst");
    let p = rt
        .block_on(StreamPoller::new(remote.clone()).poll(&dst, &PollOptions::default()))
        .unwrap();
    assert!(p.failed.is_empty(), "{:?}", p.failed);
    assert!(!p.skipped.is_empty());
    assert!(
        p.skipped.iter().all(|s| s.contains("evil")),
        "{:?}",
        p.skipped
    );
    assert_eq!(p.downloaded.len(), 6, "{:?}", p.downloaded);
    assert_eq!(sealed_files(&dst), sealed_files(&src));
}

/// A local stream with a writer, or with an open file, is never polled
/// into; a remote file whose sequence numbers do not continue the local
/// files beside it is refused and not installed.
#[test]
fn poll_never_mixes_remote_files_into_a_local_stream_that_does_not_continue() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    write_streams(&src, 3);
    let remote = backends(tmp.path(), "mix").remove(0);
    let rt = rt();
    rt.block_on(StreamUploader::new(remote.clone(), UploadOptions::default()).upload_root(&src))
        .unwrap();
    let name = StreamName::new("binance/btcusdt/trades").unwrap();
    let poller = StreamPoller::new(remote.clone());
    let only = |p: &str| PollOptions {
        pattern: Some(p.into()),
        ..PollOptions::default()
    };
    // A writer of its own on the destination stream.
    let dst = tmp.path().join("dst");
    let w = StreamWriter::open(&dst, &name, WriterOptions::default().pretouch(false)).unwrap();
    let p = rt
        .block_on(poller.poll(&dst, &only(name.as_str())))
        .unwrap();
    assert_eq!(p.downloaded.len(), 0);
    assert_eq!(p.failed.len(), 1);
    let msg = p.failed[0].to_string();
    assert!(
        msg.contains("binance/btcusdt/trades") && msg.contains("open for writing by process"),
        "{msg}"
    );
    drop(w);
    // A writer that has gone but left an open file (as after a crash: a
    // copy of its folder, whose lock no process holds): still refused.
    let mut w = StreamWriter::open(&dst, &name, WriterOptions::default().pretouch(false)).unwrap();
    w.append(b"local").unwrap();
    w.sync().unwrap();
    let dst2 = tmp.path().join("dst2");
    std::fs::create_dir_all(name.dir(&dst2)).unwrap();
    for e in std::fs::read_dir(name.dir(&dst)).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), name.dir(&dst2).join(e.file_name())).unwrap();
    }
    drop(w);
    let p = rt
        .block_on(poller.poll(&dst2, &only(name.as_str())))
        .unwrap();
    assert_eq!(p.failed.len(), 1, "{:?}", p.failed);
    assert!(
        p.failed[0].to_string().contains("has an open file"),
        "{}",
        p.failed[0]
    );
    // A mirror holding the first and third files; the second on the remote
    // is replaced by another stream's file (a header and manifest that are
    // valid, with other sequence numbers).
    let dst3 = tmp.path().join("dst3");
    let files = [
        "20240808T235400Z.log",
        "20240808T235500Z.log",
        "20240808T235600Z.log",
    ];
    let dir3 = name.dir(&dst3);
    std::fs::create_dir_all(&dir3).unwrap();
    for f in [files[0], files[2]] {
        std::fs::copy(name.dir(&src).join(f), dir3.join(f)).unwrap();
    }
    let other = "lobster/amzn/orders";
    for sfx in ["", ".meta.json"] {
        let body = rt.block_on(async {
            remote
                .store
                .get(&remote.key(&format!("{other}/{}{sfx}", files[1])))
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap()
        });
        rt.block_on(remote.store.put(
            &remote.key(&format!("{name}/{}{sfx}", files[1])),
            PutPayload::from(body),
        ))
        .unwrap();
    }
    let p = rt
        .block_on(poller.poll(&dst3, &only(name.as_str())))
        .unwrap();
    assert_eq!(p.downloaded.len(), 0, "{:?}", p.downloaded);
    assert_eq!(p.failed.len(), 1, "{:?}", p.failed);
    let msg = p.failed[0].to_string();
    assert!(
        msg.contains(files[1]) && msg.contains("does not fit the local stream"),
        "{msg}"
    );
    assert!(!dir3.join(files[1]).exists());
    assert_eq!(leftovers(&dst3), Vec::<PathBuf>::new());
}
