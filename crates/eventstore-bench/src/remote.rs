//! Upload and download against a local S3-compatible server (moto, started
//! by `scripts/s3-server.sh` unless `EVENTSTORE_TEST_S3_ENDPOINT` is set),
//! against plain `object_store` puts and gets of the same bytes.

use crate::stats::{cpu_secs, median, Table};
use eventstore_log::*;
use eventstore_remote::intercept::{Intercepted, Interceptor};
use eventstore_remote::*;
use futures::StreamExt;
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SEC: i64 = 1_000_000_000;
const T0: i64 = 1_723_161_600 * SEC;

/// Adds a fixed delay to every request, as a store in another region would.
#[derive(Debug)]
struct Latency(Duration);

#[async_trait::async_trait]
impl Interceptor for Latency {
    async fn before(&self, _op: &'static str, _location: &ObjPath) -> object_store::Result<()> {
        tokio::time::sleep(self.0).await;
        Ok(())
    }
}

struct Server {
    endpoint: String,
    bucket: String,
    pids: Vec<u32>,
}

impl Drop for Server {
    fn drop(&mut self) {
        for p in &self.pids {
            let _ = std::process::Command::new("kill")
                .arg(p.to_string())
                .status();
        }
    }
}

fn server() -> Server {
    if let (Ok(endpoint), Ok(bucket)) = (
        std::env::var("EVENTSTORE_TEST_S3_ENDPOINT"),
        std::env::var("EVENTSTORE_TEST_S3_BUCKET"),
    ) {
        return Server {
            endpoint,
            bucket,
            pids: Vec::new(),
        };
    }
    let ws = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = std::process::Command::new("scripts/s3-server.sh")
        .current_dir(&ws)
        .output()
        .expect("start the S3 server");
    assert!(
        out.status.success(),
        "scripts/s3-server.sh failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let get = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .map(|v| v.trim_matches('\'').to_string())
            .unwrap_or_default()
    };
    Server {
        endpoint: get("EVENTSTORE_TEST_S3_ENDPOINT"),
        bucket: get("EVENTSTORE_TEST_S3_BUCKET"),
        pids: get("S3_SERVER_PIDS")
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect(),
    }
}

fn open(s: &Server, prefix: &str) -> Remote {
    open_signed(s, prefix, false)
}

/// `sign_payload: true` is object_store's own default (each body hashed
/// with SHA-256 for its signature); EventStore opens remotes without it.
fn open_signed(s: &Server, prefix: &str, sign_payload: bool) -> Remote {
    let o = S3Options {
        endpoint: Some(s.endpoint.clone()),
        access_key_id: Some("test".into()),
        secret_access_key: Some("test".into()),
        sign_payload,
        ..S3Options::default()
    };
    Remote::open(
        &format!("s3://{}/{prefix}", s.bucket),
        &RemoteOptions::s3(o),
    )
    .expect("open remote")
}

/// `files` sealed minutely files of about `bytes_per_file` each.
fn build(
    root: &Path,
    name: &str,
    files: i64,
    records: usize,
    len: usize,
) -> Vec<std::path::PathBuf> {
    let clock = ManualClock::new(T0);
    let opts = WriterOptions::default()
        .roll(RollInterval::MINUTELY)
        .pretouch(false)
        .clock(Arc::new(clock.clone()));
    let name = StreamName::new(name).expect("name");
    let mut w = StreamWriter::open(root, &name, opts).expect("writer");
    let p: Vec<u8> = (0..len).map(|i| (i * 13) as u8).collect();
    for f in 0..files {
        clock.set(T0 + f * 60 * SEC);
        for _ in 0..records {
            w.append(&p).expect("append");
        }
    }
    clock.set(T0 + (files + 1) * 60 * SEC);
    w.close().expect("close");
    files::list_files(&name.dir(root))
        .expect("list")
        .into_iter()
        .map(|f| f.path)
        .collect()
}

/// CPU seconds this process has used (user + system).
pub fn bench_remote(dir: &Path) {
    let s = server();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let root = dir.join("remote-src");
    let _ = std::fs::remove_dir_all(&root);

    // Throughput: 10 files of 12 MiB, 4 at a time.
    let paths = build(&root, "big/stream", 10, 3000, 4096);
    let total: u64 = paths
        .iter()
        .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum();
    let streams = vec![(
        StreamName::new("big/stream").expect("name"),
        root.join("big/stream"),
    )];
    let (mut up, mut put, mut poll, mut get) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut up_cpu, mut put_cpu) = (Vec::new(), Vec::new());
    let (mut put_unsigned, mut put_unsigned_cpu) = (Vec::new(), Vec::new());
    for run in 0..3 {
        let remote = open(&s, &format!("tp-{}-{run}", std::process::id()));
        let (t, c) = (Instant::now(), cpu_secs());
        let r = rt
            .block_on(
                StreamUploader::new(
                    remote.clone(),
                    UploadOptions {
                        concurrency: 4,
                        ..Default::default()
                    },
                )
                .upload(&streams),
            )
            .expect("upload");
        up.push(t.elapsed().as_secs_f64());
        up_cpu.push(cpu_secs() - c);
        assert_eq!(r.uploaded.len(), 10);
        // Baselines: the same bytes with plain puts, 4 at a time, with
        // object_store's defaults (signed bodies) and with unsigned bodies.
        for (signed, secs, cpu) in [
            (true, &mut put, &mut put_cpu),
            (false, &mut put_unsigned, &mut put_unsigned_cpu),
        ] {
            let base = open_signed(
                &s,
                &format!("tp-base-{signed}-{}-{run}", std::process::id()),
                signed,
            );
            let (t, c) = (Instant::now(), cpu_secs());
            rt.block_on(
                futures::stream::iter(paths.iter().enumerate())
                    .map(|(i, p)| {
                        let b = base.clone();
                        async move {
                            let bytes = tokio::fs::read(p).await.expect("read");
                            b.store
                                .put(&b.key(&format!("f{i}")), PutPayload::from(bytes))
                                .await
                                .expect("put");
                        }
                    })
                    .buffer_unordered(4)
                    .collect::<Vec<()>>(),
            );
            secs.push(t.elapsed().as_secs_f64());
            cpu.push(cpu_secs() - c);
        }
        let base = open_signed(
            &s,
            &format!("tp-base-true-{}-{run}", std::process::id()),
            true,
        );
        // Download: poller (temporary file, CRC check, fsync, rename) vs plain
        // gets written to files and fsynced, 4 at a time.
        let dst = dir.join(format!("remote-dst-{run}"));
        let t = Instant::now();
        let p = rt
            .block_on(StreamPoller::new(remote).poll(
                &dst,
                &PollOptions {
                    concurrency: 4,
                    ..Default::default()
                },
            ))
            .expect("poll");
        poll.push(t.elapsed().as_secs_f64());
        assert_eq!(p.downloaded.len(), 10);
        let _ = std::fs::remove_dir_all(&dst);
        let t = Instant::now();
        rt.block_on(
            futures::stream::iter(0..paths.len())
                .map(|i| {
                    let b = base.clone();
                    let out = dir.join(format!("remote-get-{i}"));
                    async move {
                        let g = b.store.get(&b.key(&format!("f{i}"))).await.expect("get");
                        let bytes = g.bytes().await.expect("bytes");
                        let f = std::fs::File::create(&out).expect("create");
                        std::io::Write::write_all(&mut &f, &bytes).expect("write");
                        f.sync_all().expect("fsync");
                        let _ = std::fs::remove_file(&out);
                    }
                })
                .buffer_unordered(4)
                .collect::<Vec<()>>(),
        );
        get.push(t.elapsed().as_secs_f64());
    }
    let mb = total as f64 / 1e6;
    let mut t = Table::new(
        "Object storage throughput, 10 files of 12 MiB, 4 at a time, local S3 server (moto), median of 3",
        &[
            "operation",
            "EventStore MB/s",
            "plain object_store MB/s",
            "ratio",
            "plain, unsigned bodies MB/s",
            "ratio",
        ],
    );
    let (u, p, d, g) = (
        median(&mut up),
        median(&mut put),
        median(&mut poll),
        median(&mut get),
    );
    let pu = median(&mut put_unsigned);
    t.row(vec![
        "upload (verify, put, ETag check, manifest)".into(),
        format!("{:.0}", mb / u),
        format!("{:.0}", mb / p),
        format!("{:.2}x", p / u),
        format!("{:.0}", mb / pu),
        format!("{:.2}x", pu / u),
    ]);
    t.row(vec![
        "download (manifest, get, CRC, write, fsync, rename) vs get, write, fsync".into(),
        format!("{:.0}", mb / d),
        format!("{:.0}", mb / g),
        format!("{:.2}x", g / d),
        "-".into(),
        "-".into(),
    ]);
    t.print();
    println!(
        "Client CPU per upload pass (median): EventStore {:.2} s, plain puts {:.2} s, plain puts with unsigned bodies {:.2} s; the server shares the same 2 vCPUs.\n",
        median(&mut up_cpu),
        median(&mut put_cpu),
        median(&mut put_unsigned_cpu)
    );

    // 1,000 small files of a quiet stream: concurrent against one at a time.
    let small_root = dir.join("remote-small");
    let _ = std::fs::remove_dir_all(&small_root);
    let t0 = Instant::now();
    build(&small_root, "quiet/stream", 1000, 20, 64);
    eprintln!(
        "remote: built 1000 small files in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    let streams = vec![(
        StreamName::new("quiet/stream").expect("name"),
        small_root.join("quiet/stream"),
    )];
    let mut t = Table::new(
        "1,000 small sealed files (about 2 KiB each) to the local S3 server",
        &["server", "concurrency", "seconds", "files/s", "speed-up"],
    );
    let delays = [
        ("local moto", Duration::ZERO),
        ("local moto + 20 ms per request", Duration::from_millis(20)),
    ];
    for (label, delay) in delays {
        let mut base = 0.0;
        for c in [1usize, 8, 32] {
            let mut remote = open(
                &s,
                &format!("small-{}-{c}-{}", std::process::id(), delay.as_millis()),
            );
            if !delay.is_zero() {
                let store: Arc<dyn ObjectStore> =
                    Arc::new(Intercepted::new(remote.store.clone(), Latency(delay)));
                remote = Remote::new(store, remote.prefix.as_ref(), &remote.url);
            }
            let opts = UploadOptions {
                concurrency: c,
                ..Default::default()
            };
            let t0 = Instant::now();
            let r = rt
                .block_on(StreamUploader::new(remote, opts).upload(&streams))
                .expect("upload");
            let secs = t0.elapsed().as_secs_f64();
            assert_eq!(r.uploaded.len(), 1000);
            if c == 1 {
                base = secs;
            }
            t.row(vec![
                label.to_string(),
                c.to_string(),
                format!("{secs:.2}"),
                format!("{:.0}", 1000.0 / secs),
                format!("{:.1}x", base / secs),
            ]);
        }
    }
    t.print();
    let _ = std::fs::remove_dir_all(&root);
    let _ = std::fs::remove_dir_all(&small_root);
}
