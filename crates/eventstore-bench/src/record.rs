//! `record`: the live recorder against the venue simulator on loopback,
//! replaying the real Binance recording (repeated, ids shifted) at full
//! speed: messages recorded per second on the recorder's one thread
//! (receive, parse, normalize, append), against a websocket client that
//! only receives the same messages (the socket's and the framing's
//! ceiling); then paced at 10,000 messages/s, the time from a message's
//! arrival to its append.

use crate::stats::{median, Table};
use eventstore_record::sim::{Sim, SimOptions, SimVenue, Tape};
use eventstore_record::{record, Channel, RecordOptions, Stats, Venue, VenueSpec};
use eventstore_testkit::market_data;
use futures::StreamExt;
use std::path::Path;
use std::time::{Duration, Instant};

fn sim_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Record `tape` to its end; the seconds from the first message to the
/// last one stored, and the figures of the run.
fn record_tape(
    dir: &Path,
    tape: &Tape,
    speed: f64,
    channels: &[Channel],
) -> (f64, eventstore_record::stats::VenueStats) {
    let root = crate::fresh(dir, "record");
    let rt = sim_runtime();
    let mut o = SimOptions::new(SimVenue::Binance);
    o.speed = speed;
    o.keep_sent = false;
    let sim = rt.block_on(Sim::start(tape.clone(), o)).expect("simulator");
    let mut spec = VenueSpec::new(Venue::Binance, vec!["btcusdt".into()], channels.to_vec());
    spec.ws_url = sim.ws_url.clone();
    spec.rest_url = sim.rest_url.clone();
    let mut opts = RecordOptions::new(&root);
    opts.status_every = None;
    opts.stale_after = Duration::from_secs(30);
    let stats = Stats::default();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let st = stats.clone();
    let n = tape.msgs.len() as u64;
    let watcher = std::thread::spawn(move || {
        let start = Instant::now();
        let mut first: Option<Instant> = None;
        loop {
            std::thread::sleep(Duration::from_millis(2));
            let m = st.venue("binance").map(|v| v.messages).unwrap_or(0);
            if m > 0 && first.is_none() {
                first = Some(Instant::now());
            }
            if m >= n || start.elapsed() > Duration::from_secs(600) {
                break;
            }
        }
        let secs = first.map(|f| f.elapsed().as_secs_f64()).unwrap_or(0.0);
        let _ = stop_tx.send(true);
        secs
    });
    let r = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(record(vec![spec], opts, stats.clone(), None, stop_rx));
    r.expect("recorder");
    let secs = watcher.join().expect("watcher");
    sim.stop();
    drop(rt);
    crate::cleanup(&root);
    (secs, stats.venue("binance").unwrap_or_default())
}

/// A websocket client that receives the tape and keeps nothing.
fn receive_only(tape: &Tape) -> f64 {
    let rt = sim_runtime();
    let mut o = SimOptions::new(SimVenue::Binance);
    o.speed = f64::INFINITY;
    o.keep_sent = false;
    let sim = rt.block_on(Sim::start(tape.clone(), o)).expect("simulator");
    let url = format!(
        "{}/stream?streams=btcusdt@trade/btcusdt@depth@100ms/btcusdt@bookTicker",
        sim.ws_url
    );
    let n = tape.msgs.len();
    let secs = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(async {
            let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str())
                .await
                .expect("connect");
            let mut got = 0;
            let mut first = None;
            let mut bytes = 0usize;
            while got < n {
                match ws.next().await {
                    Some(Ok(tokio_tungstenite::tungstenite::Message::Text(t))) => {
                        first.get_or_insert_with(Instant::now);
                        bytes += t.len();
                        got += 1;
                    }
                    Some(Ok(_)) => {}
                    _ => break,
                }
            }
            std::hint::black_box(bytes);
            first
                .map(|f: Instant| f.elapsed().as_secs_f64())
                .unwrap_or(0.0)
        });
    sim.stop();
    drop(rt);
    secs
}

pub fn bench_record(dir: &Path) {
    let Some(data) = market_data() else { return };
    let tape = Tape::binance(
        &data.join("binance/spot_btcusdt_20240808.hftbacktest.gz"),
        SimVenue::Binance,
    )
    .expect("the Binance recording");
    let mut t = Table::new(
        "Recording at full speed from the simulator on loopback (one recorder thread; median of 3)",
        &[
            "messages",
            "count",
            "MB of JSON",
            "recorded, msg/s",
            "recorded, MB/s",
            "receive only, msg/s",
            "ratio",
        ],
    );
    for (what, suffix, laps, channels) in [
        ("trade", "@trade", 100, vec![Channel::Trade]),
        ("depth", "@depth@100ms", 60, vec![Channel::Depth]),
    ] {
        let tp = tape.only(suffix).repeat(laps);
        let n = tp.msgs.len() as f64;
        let mb = tp.msgs.iter().map(|m| m.text.len()).sum::<usize>() as f64 / 1e6;
        let mut rec = Vec::new();
        let mut base = Vec::new();
        for _ in 0..3 {
            rec.push(record_tape(dir, &tp, f64::INFINITY, &channels).0);
            base.push(receive_only(&tp));
        }
        let (r, b) = (median(&mut rec), median(&mut base));
        t.row(vec![
            what.into(),
            format!("{}", n as u64),
            format!("{mb:.0}"),
            format!("{:.0}", n / r),
            format!("{:.0}", mb / r),
            format!("{:.0}", n / b),
            format!("{:.2}", b / r),
        ]);
    }
    t.print();

    // Latency at 10,000 messages/s: the whole recording (trades, depth,
    // book tickers) paced.
    let mut t = Table::new(
        "From a message's arrival to its append, at 10,000 messages/s (all three channels of the real recording, durability left to the OS)",
        &["messages", "p50 us", "p99 us", "p99.9 us"],
    );
    let tp = tape.repeat(5);
    let rate = tape.msgs.len() as f64 / tape.duration().as_secs_f64();
    let (_, v) = record_tape(
        dir,
        &tp,
        10_000.0 / rate,
        &[Channel::Depth, Channel::Trade, Channel::BookTicker],
    );
    let us = |q: f64| format!("{:.1}", v.latency.quantile(q) as f64 / 1e3);
    t.row(vec![
        format!("{}", v.latency.count()),
        us(0.5),
        us(0.99),
        us(0.999),
    ]);
    t.print();
}
