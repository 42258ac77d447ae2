//! The service over loopback: publish and subscribe throughput against a
//! raw TCP copy of the same bytes (the ceiling) and against NATS JetStream
//! with file storage (with `--features nats`; the benchmark starts Debian's
//! `nats-server`), and publish-to-subscriber latency at a steady rate.

use crate::stats::{cpu_secs, median, percentiles, Table};
use bytes::Bytes;
use eventstore_client::{Client, ClientOptions, PublisherOptions, StartAt, StopAt};
use eventstore_server::{BackgroundServer, ServerOptions};
use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Seconds (and CPU seconds, both ends) to send `n` records of `len` bytes
/// as `[u32 len | payload]` frames through a loopback TCP connection to a
/// reader that discards them.
fn raw_tcp(n: u64, len: usize) -> (f64, f64) {
    let c = cpu_secs();
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    let reader = std::thread::spawn(move || {
        let (mut s, _) = l.accept().expect("accept");
        let mut buf = vec![0u8; 1 << 20];
        let mut total = 0u64;
        while let Ok(k) = s.read(&mut buf) {
            if k == 0 {
                break;
            }
            total += k as u64;
        }
        total
    });
    let t = Instant::now();
    let s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_nodelay(true).expect("nodelay");
    let mut w = std::io::BufWriter::with_capacity(1 << 20, s);
    let p = vec![7u8; len];
    for _ in 0..n {
        w.write_all(&(len as u32).to_le_bytes()).expect("write");
        w.write_all(&p).expect("write");
    }
    drop(w);
    let got = reader.join().expect("reader");
    assert_eq!(got, n * (len as u64 + 4));
    (t.elapsed().as_secs_f64(), cpu_secs() - c)
}

/// Seconds and CPU seconds for the log alone to store `n` records of `len`
/// bytes as the service's writer does: `append_batch` of 1 MiB batches.
fn append_only(dir: &Path, n: u64, len: usize) -> (f64, f64) {
    let path = dir.join("service-append-only");
    let _ = std::fs::remove_dir_all(&path);
    let mut w = eventstore_log::StreamWriter::open_dir(
        &path,
        eventstore_log::WriterOptions::default().roll(eventstore_log::RollInterval::DAILY),
    )
    .expect("open");
    let p = vec![7u8; len];
    let per_batch = ((1usize << 20) / len).max(1) as u64;
    let (t, c) = (Instant::now(), cpu_secs());
    let mut left = n;
    while left > 0 {
        let k = left.min(per_batch);
        w.append_batch((0..k).map(|_| &p[..])).expect("append");
        left -= k;
    }
    let r = (t.elapsed().as_secs_f64(), cpu_secs() - c);
    drop(w);
    let _ = std::fs::remove_dir_all(&path);
    r
}

/// Seconds and CPU seconds (client and server: one process) to publish,
/// then to subscribe to, `n` records of `len` bytes.
fn eventstore(
    rt: &tokio::runtime::Runtime,
    client: &Client,
    stream: &str,
    n: u64,
    len: usize,
) -> ((f64, f64), (f64, f64)) {
    let p = Bytes::from(vec![7u8; len]);
    let (t, c) = (Instant::now(), cpu_secs());
    rt.block_on(async {
        let publisher = client.publisher(stream, PublisherOptions::default());
        for _ in 0..n {
            publisher.send(p.clone()).await.expect("send");
        }
        assert_eq!(publisher.flush().await.expect("flush"), n);
    });
    let publish = (t.elapsed().as_secs_f64(), cpu_secs() - c);
    let (t, c) = (Instant::now(), cpu_secs());
    rt.block_on(async {
        let mut sub = client.subscribe(stream, StartAt::Beginning, Some(StopAt::Seq(n)), false);
        let mut got = 0u64;
        while let Some(b) = sub.next_batch().await {
            got += b.expect("batch").len() as u64;
        }
        assert_eq!(got, n);
    });
    (publish, (t.elapsed().as_secs_f64(), cpu_secs() - c))
}

pub fn bench_service(dir: &Path) {
    let data = dir.join("service-data");
    let _ = std::fs::remove_dir_all(&data);
    let server = BackgroundServer::start("127.0.0.1:0", ServerOptions::new(&data), 2)
        .expect("start the server");
    let rt = runtime();
    let client = rt
        .block_on(Client::connect(
            &server.addr().to_string(),
            ClientOptions::default(),
        ))
        .expect("connect");
    let mut t = Table::new(
        "Service over loopback: publish (all acknowledged) and subscribe (catch-up read of the stream), median of 3",
        &[
            "record",
            "EventStore publish",
            "EventStore subscribe",
            "raw TCP copy",
            "publish / TCP",
            "subscribe / TCP",
            "JetStream publish",
            "JetStream subscribe",
            "publish / JetStream",
            "subscribe / JetStream",
        ],
    );
    let mut cpu = Table::new(
        "CPU time per GB moved (all threads of the one process: client, server, writer, page pre-faulting; the raw copy's sender and receiver), median of 3",
        &[
            "record",
            "raw TCP copy",
            "log append alone (1 MiB batches)",
            "EventStore publish",
            "EventStore subscribe",
        ],
    );
    for (len, n) in [(64usize, 1_000_000u64), (1024, 200_000)] {
        let (mut pubs, mut subs, mut tcps) = (Vec::new(), Vec::new(), Vec::new());
        let (mut pub_cpu, mut sub_cpu, mut tcp_cpu, mut app_cpu) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let gb = n as f64 * len as f64 / 1e9;
        for run in 0..3 {
            let (p, s) = eventstore(&rt, &client, &format!("bench/r{len}-{run}"), n, len);
            pubs.push(p.0);
            pub_cpu.push(p.1 / gb);
            subs.push(s.0);
            sub_cpu.push(s.1 / gb);
            let c = raw_tcp(n, len);
            tcps.push(c.0);
            tcp_cpu.push(c.1 / gb);
            app_cpu.push(append_only(dir, n, len).1 / gb);
        }
        cpu.row(vec![
            format!("{len} B"),
            format!("{:.2} s", median(&mut tcp_cpu)),
            format!("{:.2} s", median(&mut app_cpu)),
            format!("{:.2} s", median(&mut pub_cpu)),
            format!("{:.2} s", median(&mut sub_cpu)),
        ]);
        let (p, s, c) = (median(&mut pubs), median(&mut subs), median(&mut tcps));
        let js = nats::jetstream(dir, n, len);
        let rate = |secs: f64| {
            format!(
                "{:.2} M/s, {:.0} MB/s",
                n as f64 / secs / 1e6,
                n as f64 * len as f64 / secs / 1e6
            )
        };
        let (jp, js_sub, rp, rs) = match js {
            Some((jp, jsub)) => (
                rate(jp),
                rate(jsub),
                format!("{:.1}x", jp / p),
                format!("{:.1}x", jsub / s),
            ),
            None => ("-".into(), "-".into(), "-".into(), "-".into()),
        };
        t.row(vec![
            format!("{len} B x {n}"),
            rate(p),
            rate(s),
            rate(c),
            format!("{:.2}x", c / p),
            format!("{:.2}x", c / s),
            jp,
            js_sub,
            rp,
            rs,
        ]);
    }
    t.print();
    cpu.print();
    latency(&rt, &client);
    drop(client);
    drop(server);
    let _ = std::fs::remove_dir_all(&data);
}

/// Publish-to-subscriber latency at a steady rate, 64 B records carrying
/// their send time.
fn latency(rt: &tokio::runtime::Runtime, client: &Client) {
    let mut t = Table::new(
        "Publish-to-subscriber latency over loopback, 64 B records at a steady rate",
        &[
            "rate",
            "records",
            "p50",
            "p99",
            "p99.9",
            "max",
            "after the first second: p50 / p99 / p99.9 / max",
        ],
    );
    for (rate, secs) in [(10_000u64, 3u64), (100_000, 3)] {
        let n = rate * secs;
        let stream = format!("bench/latency-{rate}");
        let base = Instant::now();
        let mut sub = {
            let _g = rt.enter();
            client.subscribe(&stream, StartAt::Beginning, Some(StopAt::Seq(n)), true)
        };
        let collector = rt.spawn(async move {
            let mut lat = Vec::with_capacity(n as usize);
            while let Some(b) = sub.next_batch().await {
                let now = base.elapsed().as_nanos() as u64;
                for e in b.expect("batch") {
                    let mut ts = [0u8; 8];
                    ts.copy_from_slice(&e.payload[..8]);
                    lat.push((e.seq, now.saturating_sub(u64::from_le_bytes(ts))));
                }
            }
            lat
        });
        // A paced publisher on its own thread: sleeps (with microsecond
        // precision, unlike the runtime's millisecond timer) whenever it is
        // ahead of the rate, so records leave evenly, not in bursts.
        let c = client.clone();
        let handle = rt.handle().clone();
        std::thread::spawn(move || {
            let publisher = {
                let _g = handle.enter();
                c.publisher(&stream, PublisherOptions::default())
            };
            let start = Instant::now();
            for i in 0..n {
                let due = Duration::from_nanos(i * 1_000_000_000 / rate);
                let el = start.elapsed();
                if due > el + Duration::from_micros(50) {
                    std::thread::sleep(due - el);
                }
                let mut p = vec![0u8; 64];
                p[..8].copy_from_slice(&(base.elapsed().as_nanos() as u64).to_le_bytes());
                handle
                    .block_on(publisher.send(Bytes::from(p)))
                    .expect("send");
            }
            handle.block_on(publisher.flush()).expect("flush");
        })
        .join()
        .expect("publisher");
        let lat = rt.block_on(collector).expect("collector");
        let us = |ns: u64| format!("{:.0} us", ns as f64 / 1e3);
        let mut all: Vec<u64> = lat.iter().map(|x| x.1).collect();
        // The first second includes creating the stream's first file.
        let mut later: Vec<u64> = lat.iter().filter(|x| x.0 >= rate).map(|x| x.1).collect();
        let p = percentiles(&mut all, &[50.0, 99.0, 99.9, 100.0]);
        let q = percentiles(&mut later, &[50.0, 99.0, 99.9, 100.0]);
        t.row(vec![
            format!("{} k/s", rate / 1000),
            n.to_string(),
            us(p[0]),
            us(p[1]),
            us(p[2]),
            us(p[3]),
            format!("{} / {} / {} / {}", us(q[0]), us(q[1]), us(q[2]), us(q[3])),
        ]);
    }
    t.print();
}

#[cfg(feature = "nats")]
mod nats {
    use bytes::Bytes;
    use futures::StreamExt;
    use std::path::Path;
    use std::time::Instant;

    /// Start `nats-server -js` with file storage in `dir`; (publish seconds,
    /// subscribe seconds) for `n` records of `len` bytes; `None` when
    /// `nats-server` is not installed.
    pub fn jetstream(dir: &Path, n: u64, len: usize) -> Option<(f64, f64)> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let store = dir.join(format!("nats-{len}"));
        let _ = std::fs::remove_dir_all(&store);
        let mut child = match std::process::Command::new("nats-server")
            .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
            .arg(&store)
            .stderr(std::process::Stdio::null())
            .spawn()
        {
            Ok(c) => c,
            Err(e) => {
                eprintln!("service: nats-server not started ({e}); install it with `apt-get install nats-server`");
                return None;
            }
        };
        let rt = super::runtime();
        let r = rt.block_on(async {
            let mut nc = None;
            for _ in 0..100 {
                if let Ok(c) = async_nats::connect(format!("127.0.0.1:{port}")).await {
                    nc = Some(c);
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            let nc = nc.expect("connect to nats-server");
            let js = async_nats::jetstream::new(nc);
            let mut secs = (0.0, 0.0);
            let mut pubs = Vec::new();
            let mut subs = Vec::new();
            for run in 0..3 {
                let name = format!("BENCH{run}");
                let subject = format!("bench{run}");
                let stream = js
                    .create_stream(async_nats::jetstream::stream::Config {
                        name: name.clone(),
                        subjects: vec![subject.clone()],
                        storage: async_nats::jetstream::stream::StorageType::File,
                        ..Default::default()
                    })
                    .await
                    .expect("create stream");
                let p = Bytes::from(vec![7u8; len]);
                let t = Instant::now();
                // Asynchronous publishes, acknowledgements awaited in a window.
                let mut acks = futures::stream::FuturesOrdered::new();
                for _ in 0..n {
                    acks.push_back(std::future::IntoFuture::into_future(
                        js.publish(subject.clone(), p.clone())
                            .await
                            .expect("publish"),
                    ));
                    if acks.len() >= 4096 {
                        acks.next().await.expect("ack").expect("ack");
                    }
                }
                while let Some(a) = acks.next().await {
                    a.expect("ack");
                }
                pubs.push(t.elapsed().as_secs_f64());
                let t = Instant::now();
                let consumer = stream
                    .create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig {
                        ..Default::default()
                    })
                    .await
                    .expect("consumer");
                let mut msgs = consumer.messages().await.expect("messages");
                let mut got = 0u64;
                while got < n {
                    msgs.next().await.expect("message").expect("message");
                    got += 1;
                }
                subs.push(t.elapsed().as_secs_f64());
            }
            secs.0 = crate::stats::median(&mut pubs);
            secs.1 = crate::stats::median(&mut subs);
            secs
        });
        let _ = child.kill();
        let _ = child.wait();
        let _ = std::fs::remove_dir_all(&store);
        Some(r)
    }
}

#[cfg(not(feature = "nats"))]
mod nats {
    /// Built without the `nats` feature: no JetStream comparison.
    pub fn jetstream(_dir: &std::path::Path, _n: u64, _len: usize) -> Option<(f64, f64)> {
        eprintln!("service: built without `--features nats`: no JetStream comparison");
        None
    }
}

/// Publish-to-subscriber latency with many followers of one stream: `n`
/// subscribers (over at most 200 connections) follow a stream that one
/// publisher writes at a steady `rate`, 64 B records carrying their send
/// time; every delivery's latency counts. The same run with 1 follower is
/// the baseline.
pub fn bench_fanout(dir: &Path) {
    let data = dir.join("fanout");
    let _ = std::fs::remove_dir_all(&data);
    let opts = ServerOptions {
        max_subscriptions: 20_000,
        ..ServerOptions::new(&data)
    };
    let server = BackgroundServer::start("127.0.0.1:0", opts, 2).expect("start server");
    let addr = server.addr().to_string();
    let rt = runtime();
    let mut t = Table::new(
        "Publish-to-subscriber latency with many followers of one stream, 64 B records",
        &[
            "followers",
            "connections",
            "rate",
            "deliveries",
            "p50",
            "p99",
            "p99.9",
            "max",
            "p99 / p99 of 1 follower",
        ],
    );
    let mut base_p99 = None;
    for (followers, rate, secs) in [
        (1usize, 100u64, 10u64),
        (100, 100, 10),
        (1_000, 100, 10),
        (10_000, 10, 15),
        (10_000, 20, 15),
    ] {
        let stream = format!("bench/fanout-{followers}-{rate}");
        let n = rate * secs + 1;
        let conns = followers.min(200);
        let clients: Vec<Client> = (0..conns)
            .map(|_| {
                rt.block_on(Client::connect(&addr, ClientOptions::default()))
                    .expect("connect")
            })
            .collect();
        let base = Instant::now();
        let ready = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let subs: Vec<_> = (0..followers)
            .map(|i| {
                let mut sub = {
                    let _g = rt.enter();
                    clients[i % conns].subscribe(
                        &stream,
                        StartAt::Beginning,
                        Some(StopAt::Seq(n)),
                        true,
                    )
                };
                let ready = ready.clone();
                rt.spawn(async move {
                    let mut lat = Vec::with_capacity(n as usize);
                    while let Some(b) = sub.next_batch().await {
                        let now = base.elapsed().as_nanos() as u64;
                        for e in b.expect("batch") {
                            if e.seq == 0 {
                                ready.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                continue;
                            }
                            let mut ts = [0u8; 8];
                            ts.copy_from_slice(&e.payload[..8]);
                            lat.push(now.saturating_sub(u64::from_le_bytes(ts)));
                        }
                    }
                    lat
                })
            })
            .collect();
        let publisher = {
            let _g = rt.enter();
            clients[0].publisher(&stream, PublisherOptions::default())
        };
        // Record 0 starts every subscription; timing starts once all have it.
        rt.block_on(async {
            publisher.send(Bytes::from(vec![0u8; 64])).await?;
            publisher.flush().await
        })
        .expect("first record");
        while ready.load(std::sync::atomic::Ordering::Relaxed) < followers {
            std::thread::sleep(Duration::from_millis(10));
        }
        let start = Instant::now();
        for i in 1..n {
            let due = Duration::from_nanos((i - 1) * 1_000_000_000 / rate);
            let el = start.elapsed();
            if due > el {
                std::thread::sleep(due - el);
            }
            let mut p = vec![0u8; 64];
            p[..8].copy_from_slice(&(base.elapsed().as_nanos() as u64).to_le_bytes());
            rt.block_on(publisher.send(Bytes::from(p))).expect("send");
        }
        rt.block_on(publisher.flush()).expect("flush");
        let mut all: Vec<u64> = Vec::with_capacity(followers * n as usize);
        for s in subs {
            let lat = rt.block_on(s).expect("subscriber");
            assert_eq!(
                lat.len() as u64,
                n - 1,
                "every follower receives every record"
            );
            all.extend(lat);
        }
        let p = percentiles(&mut all, &[50.0, 99.0, 99.9, 100.0]);
        let base_p99 = *base_p99.get_or_insert(p[1]);
        let us = |ns: u64| format!("{:.0} us", ns as f64 / 1e3);
        t.row(vec![
            followers.to_string(),
            conns.to_string(),
            format!("{rate}/s"),
            all.len().to_string(),
            us(p[0]),
            us(p[1]),
            us(p[2]),
            us(p[3]),
            format!("{:.1}x", p[1] as f64 / base_p99.max(1) as f64),
        ]);
        drop(publisher);
        drop(clients);
    }
    t.print();
    drop(server);
    let _ = std::fs::remove_dir_all(&data);
}
