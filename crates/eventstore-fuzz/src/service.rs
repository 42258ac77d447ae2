//! The service target: an input is a sequence of gRPC calls with
//! arbitrary message bodies, made over a real HTTP/2 connection to a
//! server running in this process on loopback.
//!
//! An input is up to 8 calls, each `[method byte][u16 LE length][body]`
//! (the length cut to what remains); `AppendStream` carries up to four
//! such bodies after a count byte. A bug is: a panic anywhere in the
//! process (a handler, a writer, a subscription task), an answer of
//! `INTERNAL` or `UNKNOWN` (a bad request is the client's mistake), or a
//! server that no longer answers `ListStreams`.

use bytes::{Buf, BufMut, Bytes};
use eventstore_protocol::proto;
use eventstore_server::{BackgroundServer, ServerOptions};
use prost::Message;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::Channel;
use tonic::{Code, Request, Status};

const METHODS: [&str; 7] = [
    "Append",
    "AppendStream",
    "Subscribe",
    "ListStreams",
    "StreamInfo",
    "DeleteStream",
    "Retain",
];
/// The longest a call may take before the harness gives up on it (a
/// following subscription never ends by itself).
const CALL: Duration = Duration::from_secs(5);
/// How long a response stream may be silent before the harness drops it.
const IDLE: Duration = Duration::from_millis(20);
/// Streams are deleted every this many inputs, so that a long run's
/// streams (each a writer thread and a preallocated file) stay few.
const CLEAN_EVERY: u64 = 32;
/// The stream of real order-book records the server starts with
/// (subscriptions with the book at T read it).
const DEPTH: &str = "binance/btcusdt/depth";

static PANICKED: AtomicBool = AtomicBool::new(false);

struct Target {
    rt: tokio::runtime::Runtime,
    channel: Channel,
    inputs: AtomicU64,
    /// One input at a time (the suite's driver and libFuzzer call from one
    /// thread; this keeps the count and the cleaning exact anyway).
    one: Mutex<()>,
    _server: BackgroundServer,
}

fn target() -> &'static Target {
    static T: OnceLock<Target> = OnceLock::new();
    T.get_or_init(|| {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICKED.store(true, Ordering::SeqCst);
            prev(info)
        }));
        let data = crate::fresh_dir("service");
        seed_depth(&data);
        let server = BackgroundServer::start("127.0.0.1:0", ServerOptions::new(&data), 2)
            .expect("start the server under test");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("start the client runtime");
        let url = format!("http://{}", server.addr());
        let channel = rt
            .block_on(async {
                tonic::transport::Endpoint::from_shared(url)?
                    .connect()
                    .await
            })
            .expect("connect to the server under test");
        Target {
            rt,
            channel,
            inputs: AtomicU64::new(0),
            one: Mutex::new(()),
            _server: server,
        }
    })
}

/// The first 3,000 lines of the real Binance depth recording, imported
/// into the server's data folder (nothing when the recordings are absent).
fn seed_depth(data: &std::path::Path) {
    let Some(market) = eventstore_testkit::market_data() else {
        return;
    };
    let src = market.join("binance/spot_btcusdt_20240808.hftbacktest.gz");
    let mut text = String::new();
    let mut n = 0;
    eventstore_market::import::input::for_each_line(&src, |_, l| {
        if let (Ok(l), true) = (l, n < 3000) {
            text.push_str(l);
            text.push('\n');
            n += 1;
        }
        Ok(())
    })
    .expect("read the real depth recording");
    let input = data.join("depth.txt");
    std::fs::write(&input, text).expect("write the depth seed");
    let opts = eventstore_market::import::ImportOptions {
        roll: eventstore_log::RollInterval::MINUTELY,
        ..Default::default()
    };
    eventstore_market::import::import(
        eventstore_market::import::Format::Binance,
        &input,
        data,
        &opts,
    )
    .expect("import the depth seed");
    let _ = std::fs::remove_file(&input);
}

/// The calls an input stands for: (method, message bodies).
fn parse(mut rest: &[u8]) -> Vec<(usize, Vec<Bytes>)> {
    fn body(rest: &mut &[u8]) -> Bytes {
        let len = match rest {
            [a, b, ..] => u16::from_le_bytes([*a, *b]) as usize,
            _ => rest.len(),
        };
        *rest = rest.get(2..).unwrap_or(&[]);
        let len = len.min(rest.len());
        let b = Bytes::copy_from_slice(&rest[..len]);
        *rest = &rest[len..];
        b
    }
    let mut calls = Vec::new();
    while calls.len() < 8 {
        let Some((&m, tail)) = rest.split_first() else {
            break;
        };
        rest = tail;
        let method = m as usize % METHODS.len();
        let count = if METHODS[method] == "AppendStream" {
            let c = rest.first().map_or(1, |c| 1 + *c as usize % 4);
            rest = rest.get(1..).unwrap_or(&[]);
            c
        } else {
            1
        };
        let msgs = (0..count).map(|_| body(&mut rest)).collect();
        calls.push((method, msgs));
    }
    calls
}

/// One input: its calls in order, then the checks.
pub(crate) fn service(data: &[u8]) {
    let t = target();
    let _one = t.one.lock().unwrap_or_else(|p| p.into_inner());
    let calls = parse(data);
    let answers = t.rt.block_on(async {
        let mut answers = Vec::new();
        for (method, msgs) in calls {
            answers.push((METHODS[method], call(&t.channel, method, msgs).await));
        }
        answers
    });
    assert!(
        !PANICKED.load(Ordering::SeqCst),
        "a panic in the process serving {answers:?} (its message is above)"
    );
    for (method, status) in &answers {
        if let Some(s) = status {
            assert!(
                !matches!(s.code(), Code::Internal | Code::Unknown),
                "{method} answered {:?}: {}",
                s.code(),
                s.message()
            );
        }
    }
    let alive = t.rt.block_on(unary(
        &t.channel,
        "ListStreams",
        proto::ListStreamsRequest {}.encode_to_vec().into(),
    ));
    let streams = match alive {
        Ok(b) => proto::ListStreamsResponse::decode(b).expect("a ListStreams answer"),
        Err(s) => panic!("the server no longer answers ListStreams after {answers:?}: {s}"),
    };
    if t.inputs.fetch_add(1, Ordering::Relaxed) % CLEAN_EVERY == CLEAN_EVERY - 1 {
        t.rt.block_on(async {
            for s in streams.streams.iter().filter(|s| s.name != DEPTH) {
                let req = proto::DeleteStreamRequest {
                    stream: s.name.clone(),
                };
                let _ = unary(&t.channel, "DeleteStream", req.encode_to_vec().into()).await;
            }
        });
    }
}

/// The status a call ended with, if it ended with an error.
async fn call(channel: &Channel, method: usize, msgs: Vec<Bytes>) -> Option<Status> {
    let name = METHODS[method];
    let (mut g, path) = match ready(channel, name).await {
        Ok(x) => x,
        Err(s) => return Some(s),
    };
    let run = async move {
        match name {
            "Subscribe" => {
                let body = msgs.into_iter().next().unwrap_or_default();
                let resp = g.server_streaming(Request::new(body), path, Raw).await?;
                drain(resp.into_inner()).await
            }
            "AppendStream" => {
                let req = Request::new(futures::stream::iter(msgs));
                let resp = g.streaming(req, path, Raw).await?;
                drain(resp.into_inner()).await
            }
            _ => {
                let body = msgs.into_iter().next().unwrap_or_default();
                g.unary(Request::new(body), path, Raw).await.map(|_| ())
            }
        }
    };
    match tokio::time::timeout(CALL, run).await {
        Ok(Ok(())) => None,
        Ok(Err(s)) => Some(s),
        // A call still going after `CALL` (a slow but working handler) is
        // not a failure in itself; the liveness check that follows is.
        Err(_) => None,
    }
}

/// Read a response stream until it ends, fails, or stays silent.
async fn drain(mut s: tonic::Streaming<Bytes>) -> Result<(), Status> {
    for _ in 0..10_000 {
        match tokio::time::timeout(IDLE, s.message()).await {
            Ok(Ok(Some(_))) => continue,
            Ok(Ok(None)) | Err(_) => return Ok(()),
            Ok(Err(e)) => return Err(e),
        }
    }
    Ok(())
}

/// A client ready to call `name`, and the method's path.
async fn ready(
    channel: &Channel,
    name: &str,
) -> Result<(tonic::client::Grpc<Channel>, PathAndQuery), Status> {
    let mut g = tonic::client::Grpc::new(channel.clone());
    g.ready()
        .await
        .map_err(|e| Status::unavailable(format!("the connection failed: {e}")))?;
    let path =
        PathAndQuery::try_from(format!("/eventstore.v1.EventStore/{name}")).expect("a method path");
    Ok((g, path))
}

async fn unary(channel: &Channel, name: &str, body: Bytes) -> Result<Bytes, Status> {
    let (mut g, path) = ready(channel, name).await?;
    let resp = tokio::time::timeout(CALL, g.unary(Request::new(body), path, Raw))
        .await
        .map_err(|_| Status::deadline_exceeded(format!("{name} did not answer")))??;
    Ok(resp.into_inner())
}

fn frame(method: &str, bodies: &[Vec<u8>]) -> Vec<u8> {
    let m = METHODS.iter().position(|n| *n == method).expect("a method") as u8;
    let mut v = vec![m];
    if method == "AppendStream" {
        v.push(bodies.len() as u8 - 1);
    }
    for b in bodies {
        v.extend_from_slice(&(b.len() as u16).to_le_bytes());
        v.extend_from_slice(b);
    }
    v
}

/// Real requests: appends (one call and streamed), subscriptions from each
/// kind of start (with the book at T on the real depth stream), listings,
/// information, retention and deletion.
pub(crate) fn seeds() -> Vec<Vec<u8>> {
    use proto::subscribe_request::{Start, Stop};
    let append = |stream: &str, n: u64| proto::AppendRequest {
        stream: stream.into(),
        records: (0..n).map(|i| Bytes::from(format!("record {i}"))).collect(),
        request_id: n,
    };
    let sub = |stream: &str, start, stop, follow, with_book| proto::SubscribeRequest {
        stream: stream.into(),
        start: Some(start),
        stop,
        follow,
        max_batch_bytes: 4096,
        with_book,
    };
    let mut seeds = vec![
        frame("Append", &[append("fuzz/a", 3).encode_to_vec()]),
        frame(
            "AppendStream",
            &[
                append("fuzz/b", 2).encode_to_vec(),
                append("fuzz/b", 5).encode_to_vec(),
            ],
        ),
        frame("ListStreams", &[Vec::new()]),
        frame(
            "StreamInfo",
            &[proto::StreamInfoRequest {
                stream: DEPTH.into(),
            }
            .encode_to_vec()],
        ),
        frame(
            "Retain",
            &[proto::RetainRequest {
                stream: "fuzz/a".into(),
                max_age_ns: 1,
                max_bytes: 1,
            }
            .encode_to_vec()],
        ),
        frame(
            "DeleteStream",
            &[proto::DeleteStreamRequest {
                stream: "fuzz/b".into(),
            }
            .encode_to_vec()],
        ),
    ];
    for (start, stop, follow, with_book, stream) in [
        (Start::FromBeginning(true), None, false, false, "fuzz/a"),
        (
            Start::FromSeq(1),
            Some(Stop::ToSeq(3)),
            false,
            false,
            "fuzz/a",
        ),
        (Start::FromEnd(true), None, true, false, "fuzz/a"),
        (
            Start::FromTimeNs(T_DEPTH),
            Some(Stop::ToTimeNs(T_DEPTH + 5_000_000_000)),
            false,
            true,
            DEPTH,
        ),
        (
            Start::FromSeq(100),
            Some(Stop::ToSeq(200)),
            false,
            true,
            DEPTH,
        ),
    ] {
        let m = sub(stream, start, stop, follow, with_book).encode_to_vec();
        seeds.push(frame("Subscribe", &[m]));
    }
    // Appends then reads of the same stream in one input.
    let mut both = frame("Append", &[append("fuzz/c", 4).encode_to_vec()]);
    both.extend(frame(
        "Subscribe",
        &[sub("fuzz/c", Start::FromSeq(0), None, false, false).encode_to_vec()],
    ));
    seeds.push(both);
    seeds
}

/// A time inside the depth seed (2024-08-08, the recording's day).
const T_DEPTH: i64 = 1_723_075_260_000_000_000;

/// Message bodies as they are: the harness sends bytes the server must
/// decode, and reads answers without decoding them.
#[derive(Clone, Copy, Debug, Default)]
struct Raw;

impl Codec for Raw {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = Raw;
    type Decoder = Raw;
    fn encoder(&mut self) -> Raw {
        Raw
    }
    fn decoder(&mut self) -> Raw {
        Raw
    }
}

impl Encoder for Raw {
    type Item = Bytes;
    type Error = Status;
    fn encode(&mut self, item: Bytes, buf: &mut EncodeBuf<'_>) -> Result<(), Status> {
        buf.put(item);
        Ok(())
    }
}

impl Decoder for Raw {
    type Item = Bytes;
    type Error = Status;
    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(buf.copy_to_bytes(buf.remaining())))
    }
}
