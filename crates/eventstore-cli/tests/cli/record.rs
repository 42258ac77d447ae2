//! `eventstore record` as a real process against the venue simulator:
//! its metrics over HTTP, then killed with SIGKILL mid-run and started
//! again: every durable record intact, the outage in the book's ledger,
//! the book synced again.

use eventstore_log::{ReadOptions, StartAt, StreamName, StreamReader};
use eventstore_market::book::replay::Cause;
use eventstore_market::read::orders::Entry;
use eventstore_market::OrderStreamReader;
use eventstore_record::sim::{Sim, SimOptions, SimVenue, Tape};
use eventstore_testkit::market_data;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn payloads(root: &Path, stream: &str) -> Vec<Vec<u8>> {
    let name = StreamName::new(stream).unwrap();
    // Sealed files are compact, in the market codecs.
    eventstore_market::compact::install();
    let Ok(mut r) = StreamReader::open(root, &name, ReadOptions::from(StartAt::Seq(0))) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    while let Some(rec) = r.next().unwrap() {
        out.push(rec.payload.to_vec());
    }
    out
}

fn recorder(root: &Path, sim: &Sim, metrics: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_eventstore"))
        .args([
            "record",
            "binance",
            "--symbols",
            "btcusdt",
            "--channels",
            "depth,trade,bookticker",
            "--raw",
            "--roll",
            "2s",
            "--durability",
            "10ms",
            // Longer than the quiet wait after the tape's end: the test
            // wants the restart's break alone in the ledger, not a stall.
            "--stale-after",
            "60s",
            "--status-every",
            "1s",
            "--ws-url",
            &sim.ws_url,
            "--rest-url",
            &sim.rest_url,
            "--metrics",
            metrics,
        ])
        .arg("--root")
        .arg(root)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

fn get(addr: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

fn metric(text: &str, line_start: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {line_start} in {text}"))
}

fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn record_serves_metrics_seals_quiet_files_and_resumes_after_sigkill() {
    let Some(data) = market_data() else { return };
    let tape = Tape::binance(
        &data.join("binance/spot_btcusdt_20240808.hftbacktest.gz"),
        SimVenue::Binance,
    )
    .unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut o = SimOptions::new(SimVenue::Binance);
    o.speed = 25.0;
    o.keep_sent = false;
    let sim = rt.block_on(Sim::start(tape, o)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");

    let mut first = recorder(root, &sim, &addr);
    wait_for("a synced book", Duration::from_secs(60), || {
        std::net::TcpStream::connect(&addr).is_ok()
            && get(&addr).contains("eventstore_record_stream_book_reliable{venue=\"binance\",stream=\"binance/btcusdt/depth\"} 1")
            && payloads(root, "binance/btcusdt/depth").len() > 20_000
    });
    let m = get(&addr);
    assert!(m.starts_with("HTTP/1.1 200"), "{m}");
    assert!(metric(&m, "eventstore_record_messages_total{venue=\"binance\"}") > 0.0);
    assert!(metric(&m, "eventstore_record_stream_records_total{venue=\"binance\",stream=\"binance/btcusdt/trades\"}") > 0.0);
    assert_eq!(
        metric(&m, "eventstore_record_reconnects_total{venue=\"binance\"}"),
        0.0
    );
    assert!(m.contains("# TYPE eventstore_record_stream_lag_seconds gauge"));

    // SIGKILL, as a crash would; what was stored before it is read back.
    first.kill().unwrap();
    first.wait().unwrap();
    let raw_before = payloads(root, "binance/raw");
    let depth_before = payloads(root, "binance/btcusdt/depth");
    let trades_before = payloads(root, "binance/btcusdt/trades");
    assert!(!raw_before.is_empty() && !trades_before.is_empty());
    std::thread::sleep(Duration::from_millis(500));

    let mut second = recorder(root, &sim, &addr);
    wait_for(
        "the tape's end",
        sim.play_time() * 2 + Duration::from_secs(60),
        || sim.finished(),
    );
    // A quiet stream's file is sealed once its interval (2 s) has passed,
    // without waiting for a record: `upload --watch` takes it.
    let trades = StreamName::new("binance/btcusdt/trades").unwrap().dir(root);
    wait_for(
        "the quiet stream's file sealed",
        Duration::from_secs(10),
        || {
            let info = eventstore_log::stream_info(&trades).unwrap();
            info.files.iter().all(|f| f.sealed)
        },
    );
    // SIGTERM: a clean stop.
    let pid = second.id() as libc::pid_t;
    #[allow(unsafe_code)]
    // SAFETY: `pid` is our own child, still running.
    unsafe {
        libc::kill(pid, libc::SIGTERM);
    }
    assert!(second.wait().unwrap().success());
    sim.stop();

    // Every durable record is intact, and the recording went on after it.
    for (stream, before) in [
        ("binance/raw", &raw_before),
        ("binance/btcusdt/depth", &depth_before),
        ("binance/btcusdt/trades", &trades_before),
    ] {
        let after = payloads(root, stream);
        assert!(after.len() > before.len(), "{stream}");
        assert_eq!(&after[..before.len()], &before[..], "{stream}");
    }
    let verify = Command::new(env!("CARGO_BIN_EXE_eventstore"))
        .args(["verify", "--root"])
        .arg(root)
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    // The outage is in the ledger, and the book is right again after it.
    let name = StreamName::new("binance/btcusdt/depth").unwrap();
    let ledger = OrderStreamReader::open(root, &name)
        .unwrap()
        .ledger(0, None)
        .unwrap();
    let entries: Vec<&Entry> = ledger.entries().collect();
    let gaps: Vec<_> = entries
        .iter()
        .filter_map(|e| match e {
            Entry::Gap(g) => Some(*g),
            _ => None,
        })
        .collect();
    assert_eq!(gaps.len(), 1, "{entries:?}");
    assert_eq!(gaps[0].cause, Cause::RecorderDown);
    assert_eq!(
        gaps[0].seq as usize,
        depth_before.len(),
        "the break comes first after the restart"
    );
    assert!(
        matches!(entries.last(), Some(Entry::Reliable { .. })),
        "{entries:?}"
    );
    // The audit command names it.
    let audit = Command::new(env!("CARGO_BIN_EXE_eventstore"))
        .args(["audit", "binance/btcusdt/depth", "--root"])
        .arg(root)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&audit.stdout);
    assert!(text.contains("recorder down"), "{text}");
    drop(rt);
}
