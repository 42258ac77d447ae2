//! The service end to end over real sockets: many producers and subscribers,
//! hand-over from history to live appends, adaptive batches, and hostile or
//! unauthorised requests.

use crate::common;

use bytes::Bytes;
use common::TestServer;
use eventstore_client::{Client, ClientOptions, PublisherOptions, StartAt, StopAt};
use eventstore_server::ServerOptions;
use std::collections::HashMap;
use std::time::Duration;
use tonic::Code;

fn opts(dir: &tempfile::TempDir) -> ServerOptions {
    ServerOptions::new(dir.path().join("data"))
}

/// Split `p<producer>-<i>` payloads.
fn parse(p: &[u8]) -> (u32, u32) {
    let s = std::str::from_utf8(p).unwrap();
    let (a, b) = s[1..].split_once('-').unwrap();
    (a.parse().unwrap(), b.parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_producers_and_100_subscribers_each_receive_every_event_once_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(opts(&dir));
    let client = server.client().await;
    const PRODUCERS: u32 = 4;
    const EACH: u32 = 5_000;
    const TOTAL: u64 = (PRODUCERS * EACH) as u64;
    // Half the subscribers start before anything is written (the stream
    // does not exist yet), half while the producers run.
    let subscribe = |client: &Client| {
        let mut sub = client.subscribe(
            "e2e/stream",
            StartAt::Beginning,
            Some(StopAt::Seq(TOTAL)),
            true,
        );
        tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(e) = sub.next().await {
                got.push(e.unwrap());
            }
            got
        })
    };
    let mut subs: Vec<_> = (0..50).map(|_| subscribe(&client)).collect();
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let client = client.clone();
            tokio::spawn(async move {
                let publisher = client.publisher("e2e/stream", PublisherOptions::default());
                for i in 0..EACH {
                    publisher
                        .send(Bytes::from(format!("p{p}-{i}")))
                        .await
                        .unwrap();
                }
                publisher.flush().await.unwrap()
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(20)).await;
    subs.extend((0..50).map(|_| subscribe(&client)));
    for p in producers {
        assert_eq!(p.await.unwrap(), EACH as u64, "every event acknowledged");
    }
    for s in subs {
        let got = tokio::time::timeout(Duration::from_secs(120), s)
            .await
            .expect("subscriber finished")
            .unwrap();
        assert_eq!(got.len() as u64, TOTAL);
        let mut next = HashMap::new();
        for (i, e) in got.iter().enumerate() {
            assert_eq!(e.seq, i as u64, "in order, no gap, no duplicate");
            let (p, n) = parse(&e.payload);
            let want = next.entry(p).or_insert(0u32);
            assert_eq!(n, *want, "producer {p}'s events in its order");
            *want += 1;
        }
        assert!(next.values().all(|n| *n == EACH));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribing_from_a_time_in_history_hands_over_to_live_appends_without_gap() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(opts(&dir));
    let client = server.client().await;
    for chunk in 0..10u32 {
        let recs = (0..500)
            .map(|i| Bytes::from(format!("p0-{}", chunk * 500 + i)))
            .collect();
        client.append("handover/s", recs).await.unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // The time of record 2,600: a subscription from it starts at the first
    // record stamped at or after it.
    let mut probe = client.subscribe("handover/s", StartAt::Seq(2_600), None, false);
    let t = probe.next().await.unwrap().unwrap().timestamp_ns;
    let mut all = client.subscribe("handover/s", StartAt::Beginning, None, false);
    let mut first = None;
    while let Some(e) = all.next().await {
        let e = e.unwrap();
        if e.timestamp_ns >= t {
            first = Some(e.seq);
            break;
        }
    }
    let first = first.unwrap();
    // Follow from T while a producer keeps appending.
    let mut sub = client.subscribe(
        "handover/s",
        StartAt::Time(t),
        Some(StopAt::Seq(15_000)),
        true,
    );
    let producer = {
        let client = client.clone();
        tokio::spawn(async move {
            let publisher = client.publisher("handover/s", PublisherOptions::default());
            for i in 5_000..15_000u32 {
                publisher
                    .send(Bytes::from(format!("p0-{i}")))
                    .await
                    .unwrap();
            }
            publisher.flush().await.unwrap()
        })
    };
    let mut expect = first;
    while let Some(e) = sub.next().await {
        let e = e.unwrap();
        assert_eq!(e.seq, expect, "no gap, no duplicate");
        assert_eq!(parse(&e.payload).1 as u64, e.seq);
        expect += 1;
    }
    assert_eq!(expect, 15_000);
    assert_eq!(producer.await.unwrap(), 10_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_subscriber_gets_everything_in_larger_batches() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(opts(&dir));
    let client = server.client().await;
    const N: u64 = 20_000;
    let run = |client: Client, delay: Duration| {
        tokio::spawn(async move {
            let mut sub =
                client.subscribe("batch/s", StartAt::Beginning, Some(StopAt::Seq(N)), true);
            let (mut batches, mut events, mut next) = (0u64, 0u64, 0u64);
            while let Some(b) = sub.next_batch().await {
                let b = b.unwrap();
                for e in &b {
                    assert_eq!(e.seq, next);
                    next += 1;
                }
                batches += 1;
                events += b.len() as u64;
                tokio::time::sleep(delay).await;
            }
            (events, batches)
        })
    };
    let fast = run(client.clone(), Duration::ZERO);
    let slow = run(client.clone(), Duration::from_millis(200));
    let publisher = client.publisher("batch/s", PublisherOptions::default());
    for i in 0..N {
        publisher
            .send(Bytes::from(vec![(i % 251) as u8; 1024]))
            .await
            .unwrap();
        if i % 64 == 0 {
            // A producer with a pace, so that a fast subscriber keeps up.
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
    }
    assert_eq!(publisher.flush().await.unwrap(), N);
    let (fe, fb) = fast.await.unwrap();
    let (se, sb) = slow.await.unwrap();
    assert_eq!((fe, se), (N, N), "both receive everything");
    let (fast_mean, slow_mean) = (fe as f64 / fb as f64, se as f64 / sb as f64);
    assert!(
        slow_mean > 2.0 * fast_mean,
        "the slow subscriber gets larger batches: {slow_mean:.1} vs {fast_mean:.1} events per batch"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_names_empty_and_oversized_appends_get_error_codes_and_the_server_stays_up() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = opts(&dir);
    o.max_message_bytes = 64 << 10;
    o.max_subscriptions = 3;
    let server = TestServer::start(o);
    let client = server.client().await;
    for bad in ["../etc", "/abs", "a//b", "", "a/../../b", "x\0y"] {
        let e = client
            .append(bad, vec![Bytes::from_static(b"x")])
            .await
            .unwrap_err();
        assert_eq!(e.code(), Some(Code::InvalidArgument), "{bad:?}: {e}");
        let mut sub = client.subscribe(bad, StartAt::Beginning, None, false);
        let e = sub.next().await.unwrap().unwrap_err();
        assert_eq!(e.code(), Some(Code::InvalidArgument), "{bad:?}: {e}");
    }
    assert!(!dir.path().join("etc").exists());
    let e = client.append("ok/s", vec![]).await.unwrap_err();
    assert_eq!(e.code(), Some(Code::InvalidArgument), "{e}");
    let e = client
        .append("ok/s", vec![Bytes::from(vec![0u8; 100 << 10])])
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(Code::OutOfRange), "{e}");
    // A stream that does not exist, read without following.
    let mut sub = client.subscribe("no/such", StartAt::Beginning, None, false);
    let e = sub.next().await.unwrap().unwrap_err();
    assert_eq!(e.code(), Some(Code::NotFound), "{e}");
    // Too many subscriptions.
    let held: Vec<_> = (0..3)
        .map(|_| client.subscribe("ok/s", StartAt::End, None, true))
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut extra = client.subscribe("ok/s", StartAt::End, None, true);
    let e = extra.next().await.unwrap().unwrap_err();
    assert_eq!(e.code(), Some(Code::ResourceExhausted), "{e}");
    drop(held);
    // Garbage on the socket and an undecodable message: the server stays up.
    {
        use tokio::io::AsyncWriteExt;
        let mut s = tokio::net::TcpStream::connect(&server.addr).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n\x00\xff garbage")
            .await
            .unwrap();
    }
    let e = raw_call(
        &server.addr,
        "/eventstore.v1.EventStore/Append",
        b"\xff\xff\xff\xff",
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    let r = client
        .append("ok/s", vec![Bytes::from_static(b"still fine")])
        .await
        .unwrap();
    assert_eq!(r, 0..1);
    // Deletion and retention are refused without an admin token configured.
    let e = client.delete_stream("ok/s").await.unwrap_err();
    assert_eq!(e.code(), Some(Code::PermissionDenied), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_and_undecodable_names_are_invalid_arguments_and_errors_never_show_the_data_folder() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = opts(&dir);
    o.admin_token = Some("adm".into());
    let data = o.host.data.display().to_string();
    let server = TestServer::start(o);
    let client = server
        .client_with(ClientOptions {
            token: Some("adm".into()),
            ..ClientOptions::default()
        })
        .await
        .unwrap();
    let check = |what: &str, e: eventstore_client::Error, code: Code| {
        assert_eq!(e.code(), Some(code), "{what}: {e}");
        let text = e.to_string();
        assert!(text.len() < 400, "{what}: {} bytes of error", text.len());
        assert!(
            !text.contains(&data),
            "{what} shows the data folder: {text}"
        );
    };
    let long = "n".repeat(10_000);
    let e = client
        .append(&long, vec![Bytes::from_static(b"x")])
        .await
        .unwrap_err();
    check("append", e, Code::InvalidArgument);
    let mut sub = client.subscribe(&long, StartAt::Beginning, None, false);
    check(
        "subscribe",
        sub.next().await.unwrap().unwrap_err(),
        Code::InvalidArgument,
    );
    let mut sub = client.subscribe(&long, StartAt::End, None, true);
    check(
        "subscribe --follow",
        sub.next().await.unwrap().unwrap_err(),
        Code::InvalidArgument,
    );
    let e = client.stream_info(&long).await.unwrap_err();
    check("stream_info", e, Code::InvalidArgument);
    let e = client
        .retain(&long, Some(Duration::from_secs(1)), None)
        .await
        .unwrap_err();
    check("retain", e, Code::InvalidArgument);
    let e = client.delete_stream(&long).await.unwrap_err();
    check("delete", e, Code::InvalidArgument);
    // Streams that do not exist: NOT_FOUND, named by stream, not by path.
    let mut sub = client.subscribe("no/such", StartAt::Beginning, None, false);
    check(
        "subscribe missing",
        sub.next().await.unwrap().unwrap_err(),
        Code::NotFound,
    );
    let e = client.stream_info("no/such").await.unwrap_err();
    check("stream_info missing", e, Code::NotFound);
    // Garbage protobuf and a stream name that is not UTF-8 (field 1, two
    // bytes 0xff 0xfe), sent to every request type.
    for path in [
        "/eventstore.v1.EventStore/Append",
        "/eventstore.v1.EventStore/Subscribe",
        "/eventstore.v1.EventStore/StreamInfo",
        "/eventstore.v1.EventStore/Retain",
        "/eventstore.v1.EventStore/DeleteStream",
    ] {
        for body in [&b"\xff\xff\xff\xff"[..], &b"\x0a\x02\xff\xfe"[..]] {
            let e = raw_call(&server.addr, path, body).await.unwrap_err();
            assert_eq!(e.code(), Code::InvalidArgument, "{path} {body:?}: {e:?}");
        }
    }
    let r = client
        .append("ok/s", vec![Bytes::from_static(b"still fine")])
        .await
        .unwrap();
    assert_eq!(r, 0..1);
}

/// Syncs that succeed until `fail` is set, then fail with EIO.
struct FailingSync(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl eventstore_log::SyncFile for FailingSync {
    fn sync(&self, file: &std::fs::File, data_only: bool) -> std::io::Result<()> {
        if self.0.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(std::io::Error::from_raw_os_error(libc::EIO));
        }
        eventstore_log::OsSync.sync(file, data_only)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_fsync_in_the_servers_writer_is_internal_and_the_append_is_not_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = opts(&dir);
    o.host.durability = eventstore_log::Durability::Batch;
    let fail = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    o.host.syncer = std::sync::Arc::new(FailingSync(fail.clone()));
    let data = o.host.data.display().to_string();
    let server = TestServer::start(o);
    let client = server.client().await;
    let r = client
        .append("f/s", vec![Bytes::from_static(b"synced")])
        .await
        .unwrap();
    assert_eq!(r, 0..1);
    fail.store(true, std::sync::atomic::Ordering::SeqCst);
    let e = client
        .append("f/s", vec![Bytes::from_static(b"lost")])
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(Code::Internal), "{e}");
    assert!(e.to_string().contains("not acknowledged"), "{e}");
    assert!(!e.to_string().contains(&data), "{e}");
    // The writer is poisoned: later appends are refused as unavailable
    // until the stream is reopened, never silently accepted.
    let e = client
        .append("f/s", vec![Bytes::from_static(b"after")])
        .await
        .unwrap_err();
    assert!(
        matches!(e.code(), Some(Code::Unavailable | Code::Internal)),
        "{e}"
    );
}

/// Send `body` (not a valid message) as the request of `path`.
async fn raw_call(addr: &str, path: &'static str, body: &[u8]) -> Result<(), tonic::Status> {
    #[derive(Clone, Default)]
    struct Raw;
    struct Enc;
    struct Dec;
    impl tonic::codec::Encoder for Enc {
        type Item = Vec<u8>;
        type Error = tonic::Status;
        fn encode(
            &mut self,
            item: Vec<u8>,
            dst: &mut tonic::codec::EncodeBuf<'_>,
        ) -> Result<(), tonic::Status> {
            use bytes::BufMut;
            dst.put_slice(&item);
            Ok(())
        }
    }
    impl tonic::codec::Decoder for Dec {
        type Item = Vec<u8>;
        type Error = tonic::Status;
        fn decode(
            &mut self,
            src: &mut tonic::codec::DecodeBuf<'_>,
        ) -> Result<Option<Vec<u8>>, tonic::Status> {
            use bytes::Buf;
            let v = src.chunk().to_vec();
            src.advance(v.len());
            Ok(Some(v))
        }
    }
    impl tonic::codec::Codec for Raw {
        type Encode = Vec<u8>;
        type Decode = Vec<u8>;
        type Encoder = Enc;
        type Decoder = Dec;
        fn encoder(&mut self) -> Enc {
            Enc
        }
        fn decoder(&mut self) -> Dec {
            Dec
        }
    }
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    grpc.unary(
        tonic::Request::new(body.to_vec()),
        tonic::codegen::http::uri::PathAndQuery::from_static(path),
        Raw,
    )
    .await
    .map(|_| ())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_or_wrong_tokens_are_refused_and_admin_calls_need_the_admin_token() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = opts(&dir);
    o.token = Some("s3cret".into());
    o.admin_token = Some("adm1n".into());
    let server = TestServer::start(o);
    let with = |t: Option<&str>| ClientOptions {
        token: t.map(String::from),
        ..ClientOptions::default()
    };
    let none = server.client_with(with(None)).await.unwrap();
    let wrong = server.client_with(with(Some("guess"))).await.unwrap();
    let user = server.client_with(with(Some("s3cret"))).await.unwrap();
    let admin = server.client_with(with(Some("adm1n"))).await.unwrap();
    let rec = || vec![Bytes::from_static(b"x")];
    for (c, what) in [(&none, "missing"), (&wrong, "wrong")] {
        let e = c.append("a/b", rec()).await.unwrap_err();
        assert_eq!(e.code(), Some(Code::Unauthenticated), "{what}: {e}");
        let e = c.list_streams().await.unwrap_err();
        assert_eq!(e.code(), Some(Code::Unauthenticated), "{what}: {e}");
        let mut s = c.subscribe("a/b", StartAt::Beginning, None, false);
        let e = s.next().await.unwrap().unwrap_err();
        assert_eq!(e.code(), Some(Code::Unauthenticated), "{what}: {e}");
    }
    assert!(!dir.path().join("data/a").exists(), "nothing written");
    assert_eq!(user.append("a/b", rec()).await.unwrap(), 0..1);
    assert_eq!(user.append("a/b", rec()).await.unwrap(), 1..2);
    let listed = user.list_streams().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].name.as_str(), listed[0].records), ("a/b", 2));
    let info = user.stream_info("a/b").await.unwrap();
    assert_eq!(info.summary.next_seq, 2);
    assert_eq!(info.files.len(), 1);
    let e = user.delete_stream("a/b").await.unwrap_err();
    assert_eq!(e.code(), Some(Code::PermissionDenied), "{e}");
    let e = user.retain("a/b", None, Some(0)).await.unwrap_err();
    assert_eq!(e.code(), Some(Code::PermissionDenied), "{e}");
    assert!(
        admin.retain("a/b", None, Some(1)).await.unwrap().is_empty(),
        "the open file stays"
    );
    assert_eq!(admin.delete_stream("a/b").await.unwrap(), 1);
    assert!(!dir.path().join("data/a/b").exists());
    let e = user.stream_info("a/b").await.unwrap_err();
    assert_eq!(e.code(), Some(Code::NotFound), "{e}");
    // The stream can be written again from scratch.
    assert_eq!(user.append("a/b", rec()).await.unwrap(), 0..1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_serves_clients_that_trust_the_certificate() {
    let dir = tempfile::tempdir().unwrap();
    // A certificate authority, and a server certificate for localhost signed by it.
    let p = |n: &str| dir.path().join(n).to_string_lossy().into_owned();
    let openssl = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=test CA",
        "-keyout",
        &p("ca.key"),
        "-out",
        &p("ca.pem"),
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        &p("key.pem"),
        "-out",
        &p("req.csr"),
    ]);
    std::fs::write(p("ext"), "subjectAltName=DNS:localhost\n").unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        &p("req.csr"),
        "-CA",
        &p("ca.pem"),
        "-CAkey",
        &p("ca.key"),
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        &p("ext"),
        "-out",
        &p("cert.pem"),
    ]);
    let (cert, key, ca) = (p("cert.pem"), p("key.pem"), p("ca.pem"));
    let mut o = opts(&dir);
    o.tls = Some((std::fs::read(&cert).unwrap(), std::fs::read(&key).unwrap()));
    let server = TestServer::start(o);
    let port = server.addr.rsplit_once(':').unwrap().1;
    let tls = ClientOptions {
        tls_ca: Some(std::fs::read(&ca).unwrap()),
        ..ClientOptions::default()
    };
    let c = Client::connect(&format!("https://localhost:{port}"), tls)
        .await
        .unwrap();
    assert_eq!(
        c.append("tls/s", vec![Bytes::from_static(b"x")])
            .await
            .unwrap(),
        0..1
    );
    // A plain-text client gets no answer from a TLS server.
    let plain = Client::connect(&server.addr, ClientOptions::default()).await;
    if let Ok(p) = plain {
        assert!(p
            .append("tls/s", vec![Bytes::from_static(b"y")])
            .await
            .is_err());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_names_subscribed_once_are_forgotten_and_the_server_still_appends() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = opts(&dir);
    o.max_subscriptions = 10_000;
    let server = TestServer::start(o);
    let client = server.client().await;
    // More names than the server keeps change counters for without looking:
    // 500 subscribed once, 4,200 followed (waiting for the stream to exist).
    for i in 0..500 {
        let mut sub = client.subscribe(&format!("missing/n{i}"), StartAt::Beginning, None, false);
        let e = sub.next().await.unwrap().unwrap_err();
        assert_eq!(e.code(), Some(Code::NotFound), "{e}");
    }
    let waiting: Vec<_> = (0..4_200)
        .map(|i| client.subscribe(&format!("later/n{i}"), StartAt::Beginning, None, true))
        .collect();
    tokio::time::sleep(Duration::from_secs(2)).await;
    // Starting writers (which registers counters) still works, and a
    // follower of a new stream sees its records.
    let mut follow = client.subscribe("fresh/s", StartAt::Beginning, None, true);
    let appends = async {
        for i in 0..20 {
            let r = client
                .append(&format!("fresh/w{i}"), vec![Bytes::from_static(b"x")])
                .await
                .unwrap();
            assert_eq!(r, 0..1);
        }
        client
            .append("fresh/s", vec![Bytes::from_static(b"seen")])
            .await
            .unwrap();
    };
    tokio::time::timeout(Duration::from_secs(60), appends)
        .await
        .expect("appends hang");
    let e = tokio::time::timeout(Duration::from_secs(30), follow.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(&e.payload[..], b"seen");
    drop(waiting);
}
