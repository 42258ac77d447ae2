//! A venue simulator on loopback: a websocket server and an HTTP server
//! that replay a real recording (Binance spot or, rewritten, USD-M
//! futures, from an hftbacktest capture; OKX from a cryptofeed capture) at
//! a chosen pace, with faults injected: connections dropped, a diff
//! withheld, the feed stalled, snapshots answered late or with an error,
//! bad messages. It keeps the venue's true book, so a snapshot asked at
//! any time is the book at that point of the tape.
//!
//! The tape's clock starts when the first connection opens; every
//! connection is sent the tape from where the venue is when it opens
//! (as a venue does), and what each connection sent is counted (and kept,
//! with `keep_sent`) for tests to compare with what was recorded.

use futures_util::{SinkExt, StreamExt};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io::BufRead;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

/// Which venue the simulator plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SimVenue {
    /// Binance spot: combined streams named in the url, REST
    /// `/api/v3/depth`.
    Binance,
    /// Binance USD-M futures: the spot tape with each diff's `pu` (the
    /// previous diff's `u`) and `T`, REST `/fapi/v1/depth`.
    BinanceFutures,
    /// OKX v5: subscriptions by message, `/api/v5/public/instruments`.
    Okx,
}

/// Whether the client is ready for the next gated fault, given how many
/// have fired (a test gates faults on the recorder's state, such as its
/// book synced once more than the faults so far, so that each fault meets
/// a synced book however the machine's load delays the client).
#[derive(Clone)]
pub struct Gate(pub Arc<dyn Fn(usize) -> bool + Send + Sync>);

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Gate")
    }
}

/// Faults to inject, by position on the tape (each fires once). With a
/// `gate`, a drop, a withheld message or a stall at position `i` fires at
/// the first message of the same stream at or after `i` that finds the
/// gate open.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    /// Drop the connection that sends tape message `i`, right after it
    /// (no close handshake, as a network failure).
    pub drop_after: Vec<usize>,
    /// Never send tape message `i` (a diff the venue lost).
    pub withhold: Vec<usize>,
    /// Before tape message `i`, send nothing for this long, the
    /// connection left open.
    pub stall: Option<(usize, Duration)>,
    /// Answer every snapshot request this late.
    pub snapshot_delay: Duration,
    /// Answer the first `n` snapshot requests with HTTP 503.
    pub snapshot_errors: usize,
    /// Send these texts before tape message `i` (bad input).
    pub inject: Vec<(usize, String)>,
    pub gate: Option<Gate>,
}

/// How the simulator plays.
#[derive(Clone, Debug)]
pub struct SimOptions {
    pub venue: SimVenue,
    /// Tape time per real time (`20.0`: twenty times as fast);
    /// `f64::INFINITY`: as fast as each connection takes it.
    pub speed: f64,
    pub faults: Faults,
    /// Send a websocket ping this often.
    pub ping_every: Option<Duration>,
    /// Keep every text sent, per connection.
    pub keep_sent: bool,
}

impl SimOptions {
    pub fn new(venue: SimVenue) -> SimOptions {
        SimOptions {
            venue,
            speed: 20.0,
            faults: Faults::default(),
            ping_every: None,
            keep_sent: true,
        }
    }
}

/// One message of the tape.
#[derive(Clone, Debug)]
pub struct TapeMsg {
    /// Tape time, ns from the tape's first message.
    pub at: i64,
    pub text: String,
    /// Binance's stream name (`btcusdt@depth@100ms`) or OKX's
    /// `channel/instId` (books named `books`).
    pub key: String,
    /// A depth diff's symbol (the venue's spelling) and update ids.
    pub diff: Option<(String, u64, u64)>,
}

/// A REST depth snapshot of the recording, and where it falls on the tape.
#[derive(Clone, Debug)]
struct Seed {
    pos: usize,
    symbol: String,
    json: serde_json::Value,
}

/// A recording, ready to play.
#[derive(Clone, Debug, Default)]
pub struct Tape {
    pub msgs: Vec<TapeMsg>,
    seeds: Vec<Seed>,
    /// Decimal places of prices and sizes by symbol (for OKX's instruments).
    places: BTreeMap<String, (usize, usize)>,
}

fn read_lines(path: &Path) -> std::io::Result<Box<dyn BufRead>> {
    let f = std::fs::File::open(path)?;
    Ok(if path.extension().is_some_and(|e| e == "gz") {
        Box::new(std::io::BufReader::new(flate2::read::MultiGzDecoder::new(
            f,
        )))
    } else {
        Box::new(std::io::BufReader::new(f))
    })
}

fn bad(path: &Path, no: usize, why: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("{}:{no}: {why}", path.display()),
    )
}

impl Tape {
    /// A Binance capture (`<receive ns> <json>` lines, combined-stream
    /// envelopes and REST snapshots), as `venue` sends it.
    pub fn binance(path: &Path, venue: SimVenue) -> std::io::Result<Tape> {
        let mut t = Tape::default();
        let mut t0 = None;
        let mut prev_u: BTreeMap<String, u64> = BTreeMap::new();
        for (no, line) in read_lines(path)?.lines().enumerate() {
            let line = line?;
            let Some((ns, json)) = line.split_once(' ') else {
                continue;
            };
            let ns: i64 = ns
                .parse()
                .map_err(|_| bad(path, no + 1, "no receive time"))?;
            let at = ns - *t0.get_or_insert(ns);
            let v: serde_json::Value =
                serde_json::from_str(json).map_err(|e| bad(path, no + 1, e))?;
            if v.get("lastUpdateId").is_some() {
                let symbol = t
                    .msgs
                    .iter()
                    .find_map(|m| m.diff.as_ref().map(|d| d.0.clone()))
                    .unwrap_or_default();
                t.seeds.push(Seed {
                    pos: t.msgs.len(),
                    symbol,
                    json: v,
                });
                continue;
            }
            let key = v
                .get("stream")
                .and_then(|s| s.as_str())
                .unwrap_or_default()
                .to_string();
            let mut diff = None;
            let mut text = json.to_string();
            if let Some(d) = v
                .get("data")
                .filter(|d| d.get("e").and_then(|e| e.as_str()) == Some("depthUpdate"))
            {
                let s = d
                    .get("s")
                    .and_then(|s| s.as_str())
                    .unwrap_or_default()
                    .to_string();
                let (first, last) = (
                    d.get("U").and_then(|x| x.as_u64()).unwrap_or(0),
                    d.get("u").and_then(|x| x.as_u64()).unwrap_or(0),
                );
                if venue == SimVenue::BinanceFutures {
                    let mut v = v.clone();
                    let pu = prev_u.get(&s).copied().unwrap_or(first.saturating_sub(1));
                    if let Some(d) = v.get_mut("data").and_then(|d| d.as_object_mut()) {
                        d.insert("pu".into(), pu.into());
                        let e = d.get("E").cloned().unwrap_or_default();
                        d.insert("T".into(), e);
                    }
                    text = v.to_string();
                }
                prev_u.insert(s.clone(), last);
                diff = Some((s, first, last));
            }
            t.msgs.push(TapeMsg {
                at,
                text,
                key,
                diff,
            });
        }
        Ok(t)
    }

    /// A cryptofeed OKX capture (`<receive s>: <json>` lines); the
    /// subscription answers in it are left out (the simulator answers
    /// subscriptions itself).
    pub fn okx(path: &Path) -> std::io::Result<Tape> {
        let mut t = Tape::default();
        let mut t0 = None;
        for (no, line) in read_lines(path)?.lines().enumerate() {
            let line = line?;
            if line.contains(" <-> ") || line.contains(" <- ") || !line.contains(": {") {
                continue;
            }
            let Some((secs, json)) = line.split_once(": ") else {
                continue;
            };
            let ns = eventstore_market::records::decimal::parse(secs.trim(), 9)
                .map_err(|e| bad(path, no + 1, e))?;
            let at = ns - *t0.get_or_insert(ns);
            let v: serde_json::Value =
                serde_json::from_str(json).map_err(|e| bad(path, no + 1, e))?;
            if v.get("event").is_some() {
                continue;
            }
            let arg = v.get("arg");
            let ch = arg
                .and_then(|a| a.get("channel"))
                .and_then(|c| c.as_str())
                .unwrap_or_default();
            let inst = arg
                .and_then(|a| a.get("instId"))
                .and_then(|c| c.as_str())
                .unwrap_or_default();
            let ch = if ch.starts_with("books") && ch != "books5" {
                "books"
            } else {
                ch
            };
            let e = t.places.entry(inst.to_string()).or_default();
            for d in v
                .get("data")
                .and_then(|d| d.as_array())
                .into_iter()
                .flatten()
            {
                for k in ["asks", "bids"] {
                    for l in d.get(k).and_then(|x| x.as_array()).into_iter().flatten() {
                        let p = l.get(0).and_then(|x| x.as_str()).unwrap_or("");
                        let q = l.get(1).and_then(|x| x.as_str()).unwrap_or("");
                        e.0 = e.0.max(eventstore_market::records::decimal::places(p));
                        e.1 = e.1.max(eventstore_market::records::decimal::places(q));
                    }
                }
                if let (Some(p), Some(q)) = (
                    d.get("px").and_then(|x| x.as_str()),
                    d.get("sz").and_then(|x| x.as_str()),
                ) {
                    e.0 = e.0.max(eventstore_market::records::decimal::places(p));
                    e.1 = e.1.max(eventstore_market::records::decimal::places(q));
                }
            }
            t.msgs.push(TapeMsg {
                at,
                text: json.to_string(),
                key: format!("{ch}/{inst}"),
                diff: None,
            });
        }
        Ok(t)
    }

    /// The tape played `laps` times over, each lap after the last with the
    /// venue's ids shifted to continue it (update ids, trade ids), for
    /// benchmarks at any length. Each later lap opens with one diff per
    /// book that turns the book the last lap left into the recording's
    /// snapshot, and plays on from the snapshot's update id (the diffs
    /// the snapshot already holds left out): one consistent book from
    /// the first lap to the last, as a venue's would be.
    pub fn repeat(&self, laps: usize) -> Tape {
        let span = self.msgs.last().map(|m| m.at).unwrap_or(0) + 1_000_000;
        let ids = |k: &str| {
            self.msgs
                .iter()
                .filter_map(|m| {
                    let v: serde_json::Value = serde_json::from_str(&m.text).ok()?;
                    v.get("data")?.get(k)?.as_u64()
                })
                .fold((u64::MAX, 0), |(lo, hi), x| (lo.min(x), hi.max(x)))
        };
        let shift_of = |k: &str| {
            let (lo, hi) = ids(k);
            if lo == u64::MAX {
                0
            } else {
                hi - lo + 1
            }
        };
        // One spare update id per lap: the opening diff's.
        let update_span = shift_of("u").max(shift_of("U")) + 1;
        let trade_span = shift_of("t");
        let agg_span = shift_of("a");
        let resets: Vec<Reset> = self.seeds.iter().filter_map(|s| self.reset(s)).collect();
        let mut t = Tape {
            msgs: Vec::with_capacity(self.msgs.len() * laps),
            seeds: self.seeds.clone(),
            places: self.places.clone(),
        };
        for lap in 0..laps as u64 {
            let shift = update_span * lap;
            let mut bridged = BTreeSet::new();
            if lap > 0 {
                for r in &resets {
                    // From the id after the last lap's last diff to the
                    // snapshot's id, shifted.
                    let id = r.seed_id + shift;
                    let first = r.last_u + shift - update_span + 1;
                    let mut data = serde_json::json!({
                        "e": "depthUpdate",
                        "E": r.time,
                        "s": r.symbol,
                        "U": first,
                        "u": id,
                        "b": r.bids,
                        "a": r.asks,
                    });
                    if r.futures {
                        data["pu"] = (r.last_u + shift - update_span).into();
                        data["T"] = r.time.into();
                    }
                    t.msgs.push(TapeMsg {
                        at: lap as i64 * span,
                        text: serde_json::json!({"stream": r.key, "data": data}).to_string(),
                        key: r.key.clone(),
                        diff: Some((r.symbol.clone(), first, id)),
                    });
                }
            }
            for m in &self.msgs {
                let mut m = m.clone();
                m.at += lap as i64 * span;
                if lap > 0 {
                    // The diffs the snapshot holds were played by the
                    // first lap; a later one plays on from the snapshot.
                    let reset = m
                        .diff
                        .as_ref()
                        .and_then(|d| resets.iter().find(|r| r.symbol == d.0));
                    if let (Some(r), Some(d)) = (reset, &m.diff) {
                        if d.2 <= r.seed_id {
                            continue;
                        }
                    }
                    if let Ok(mut v) = serde_json::from_str::<serde_json::Value>(&m.text) {
                        if let Some(d) = v.get_mut("data").and_then(|d| d.as_object_mut()) {
                            for (k, by) in [
                                ("U", update_span),
                                ("u", update_span),
                                ("pu", update_span),
                                ("t", trade_span),
                                ("a", agg_span),
                            ] {
                                if let Some(x) = d.get(k).and_then(|x| x.as_u64()) {
                                    d.insert(k.into(), (x + by * lap).into());
                                }
                            }
                            // The diff that bridges the snapshot follows
                            // the opening diff.
                            if let Some(r) = reset.filter(|r| bridged.insert(r.symbol.clone())) {
                                d.insert("U".into(), (r.seed_id + shift + 1).into());
                                if d.contains_key("pu") {
                                    d.insert("pu".into(), (r.seed_id + shift).into());
                                }
                            }
                        }
                        m.text = v.to_string();
                    }
                    if let Some(d) = &mut m.diff {
                        d.1 += shift;
                        d.2 += shift;
                        if let Some(r) = resets.iter().find(|r| r.symbol == d.0) {
                            d.1 = d.1.max(r.seed_id + shift + 1);
                        }
                    }
                }
                t.msgs.push(m);
            }
        }
        t
    }

    /// The diff that turns the book at the tape's end into `seed`'s.
    fn reset(&self, seed: &Seed) -> Option<Reset> {
        let first = self
            .msgs
            .iter()
            .find(|m| m.diff.as_ref().is_some_and(|d| d.0 == seed.symbol))?;
        let seed_id = seed.json.get("lastUpdateId")?.as_u64()?;
        let mut start = TrueBook::default();
        start.apply(&seed.json, "bids", "asks");
        let mut end = start.clone();
        let mut last_u = 0;
        for m in &self.msgs {
            let Some((s, _, u)) = &m.diff else { continue };
            if *s != seed.symbol {
                continue;
            }
            last_u = *u;
            if *u <= seed_id {
                continue;
            }
            let v: serde_json::Value = serde_json::from_str(&m.text).unwrap_or_default();
            if let Some(d) = v.get("data") {
                end.apply(d, "b", "a");
            }
        }
        // The time of the diff that bridges the snapshot; a removal's size
        // as the venue prints a zero (every size of a message has the
        // same decimal places).
        let time = self
            .msgs
            .iter()
            .filter(|m| {
                m.diff
                    .as_ref()
                    .is_some_and(|d| d.0 == seed.symbol && d.2 > seed_id)
            })
            .find_map(|m| {
                let v: serde_json::Value = serde_json::from_str(&m.text).ok()?;
                v.get("data")?.get("E")?.as_u64()
            })
            .unwrap_or(0);
        let zero: String = start
            .bids
            .values()
            .next()
            .map(|(_, q)| {
                q.chars()
                    .map(|c| if c.is_ascii_digit() { '0' } else { c })
                    .collect()
            })
            .unwrap_or_else(|| "0".into());
        let side = |from: &BTreeMap<i64, (String, String)>,
                    to: &BTreeMap<i64, (String, String)>| {
            let gone = from
                .iter()
                .filter(|(k, _)| !to.contains_key(k))
                .map(|(_, (p, _))| serde_json::json!([p, zero]));
            let set = to
                .iter()
                .filter(|(k, l)| from.get(k) != Some(l))
                .map(|(_, (p, q))| serde_json::json!([p, q]));
            gone.chain(set).collect()
        };
        Some(Reset {
            key: first.key.clone(),
            symbol: seed.symbol.clone(),
            seed_id,
            last_u,
            futures: first.text.contains("\"pu\""),
            time,
            bids: side(&end.bids, &start.bids),
            asks: side(&end.asks, &start.asks),
        })
    }

    /// Only the messages whose key ends with `suffix` (`@trade`,
    /// `@depth@100ms`).
    pub fn only(&self, suffix: &str) -> Tape {
        Tape {
            msgs: self
                .msgs
                .iter()
                .filter(|m| m.key.ends_with(suffix))
                .cloned()
                .collect(),
            seeds: self
                .seeds
                .iter()
                .map(|s| Seed {
                    pos: 0,
                    ..s.clone()
                })
                .collect(),
            places: self.places.clone(),
        }
    }

    /// Tape time of the last message.
    pub fn duration(&self) -> Duration {
        Duration::from_nanos(self.msgs.last().map(|m| m.at.max(0) as u64).unwrap_or(0))
    }
}

/// What the simulator did, for tests to compare with what was recorded.
#[derive(Debug, Default)]
pub struct SimStats {
    /// Connections accepted.
    pub connections: AtomicU64,
    /// Texts sent over every connection (tape messages and injected ones).
    pub sent: AtomicU64,
    /// Pongs received (answers to the simulator's pings).
    pub pongs: AtomicU64,
    /// Snapshot requests, and those answered with an error.
    pub snapshot_requests: AtomicU64,
    pub snapshot_errors: AtomicU64,
    /// Each connection's texts, in order (with `keep_sent`).
    pub sent_texts: Mutex<Vec<Vec<String>>>,
    /// The tape positions each connection started at.
    pub starts: Mutex<Vec<usize>>,
    /// Snapshots answered: their `lastUpdateId`s.
    pub snapshot_ids: Mutex<Vec<u64>>,
    /// The tape positions withheld.
    pub withheld: Mutex<Vec<usize>>,
}

/// The diff that opens a repeated tape's later lap: the book the lap
/// before left, made the recording's snapshot again.
struct Reset {
    key: String,
    symbol: String,
    /// The snapshot's update id, and the tape's last diff's.
    seed_id: u64,
    last_u: u64,
    futures: bool,
    /// Exchange time (ms) of the diff.
    time: u64,
    bids: Vec<serde_json::Value>,
    asks: Vec<serde_json::Value>,
}

/// The venue's true book of one symbol: prices as printed, by value.
#[derive(Clone, Debug, Default)]
struct TrueBook {
    bids: BTreeMap<i64, (String, String)>,
    asks: BTreeMap<i64, (String, String)>,
    last_id: u64,
}

impl TrueBook {
    fn set(side: &mut BTreeMap<i64, (String, String)>, p: &str, q: &str) {
        let key = eventstore_market::records::decimal::parse(p, 12).unwrap_or(0);
        let zero = q.bytes().all(|b| b == b'0' || b == b'.');
        if zero {
            side.remove(&key);
        } else {
            side.insert(key, (p.to_string(), q.to_string()));
        }
    }

    fn apply(&mut self, d: &serde_json::Value, bids: &str, asks: &str) {
        for (k, side) in [(bids, &mut self.bids), (asks, &mut self.asks)] {
            for l in d.get(k).and_then(|x| x.as_array()).into_iter().flatten() {
                if let (Some(p), Some(q)) = (
                    l.get(0).and_then(|x| x.as_str()),
                    l.get(1).and_then(|x| x.as_str()),
                ) {
                    TrueBook::set(side, p, q);
                }
            }
        }
    }

    fn json(&self, limit: usize) -> String {
        let side = |it: &mut dyn Iterator<Item = &(String, String)>| -> Vec<serde_json::Value> {
            it.take(limit)
                .map(|(p, q)| serde_json::json!([p, q]))
                .collect()
        };
        serde_json::json!({
            "lastUpdateId": self.last_id,
            "bids": side(&mut self.bids.values().rev()),
            "asks": side(&mut self.asks.values()),
        })
        .to_string()
    }
}

/// The venue's state shared by its connections and its HTTP server.
struct Venue {
    tape: Tape,
    opts: SimOptions,
    started: Mutex<Option<Instant>>,
    /// The furthest tape position any connection has sent.
    sent_pos: AtomicUsize,
    books: Mutex<BTreeMap<String, (usize, TrueBook)>>,
    fired: Mutex<HashSet<(u8, usize)>>,
    stats: Arc<SimStats>,
    stop: AtomicBool,
}

impl Venue {
    fn len(&self) -> usize {
        self.tape.msgs.len()
    }

    fn due(&self, i: usize) -> Duration {
        let at = self.tape.msgs.get(i).map(|m| m.at).unwrap_or(0);
        if self.opts.speed.is_infinite() {
            Duration::ZERO
        } else {
            Duration::from_nanos((at.max(0) as f64 / self.opts.speed) as u64)
        }
    }

    /// Where the venue is now on its tape.
    fn position(&self) -> usize {
        let sent = self.sent_pos.load(Ordering::Relaxed);
        let Some(t0) = *self.started.lock().unwrap_or_else(|e| e.into_inner()) else {
            return sent;
        };
        if self.opts.speed.is_infinite() {
            return sent;
        }
        let el = t0.elapsed();
        let mut lo = sent;
        let mut hi = self.len();
        while lo < hi {
            let mid = (lo + hi) / 2;
            if self.due(mid) <= el {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// Note a text sent over connection `conn` (with `keep_sent`), as it
    /// is sent: a test may read them while the connection still runs.
    fn keep(&self, conn: usize, text: &str) {
        if !self.opts.keep_sent {
            return;
        }
        if let Some(s) = self
            .stats
            .sent_texts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_mut(conn)
        {
            s.push(text.to_string());
        }
    }

    /// Whether a gated fault of `kind` at one of `at` fires at tape
    /// position `i` (marking it fired); without a gate, only at its own
    /// position.
    fn fires(&self, kind: u8, at: &[usize], i: usize) -> bool {
        let Some(gate) = &self.opts.faults.gate else {
            return at.contains(&i) && self.once(kind, i);
        };
        let key = &self.tape.msgs[i].key;
        let mut fired = self.fired.lock().unwrap_or_else(|e| e.into_inner());
        let Some(&p) = at
            .iter()
            .find(|&&p| p <= i && !fired.contains(&(kind, p)) && self.tape.msgs[p].key == *key)
        else {
            return false;
        };
        let gated = fired.iter().filter(|(k, _)| *k != 1).count();
        if !(gate.0)(gated) {
            return false;
        }
        fired.insert((kind, p))
    }

    fn once(&self, kind: u8, i: usize) -> bool {
        self.fired
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((kind, i))
    }

    /// The true book of `symbol` at tape position `pos`.
    fn book_at(&self, symbol: &str, pos: usize) -> Option<TrueBook> {
        let seed = self
            .tape
            .seeds
            .iter()
            .find(|s| s.symbol.eq_ignore_ascii_case(symbol))?;
        let mut books = self.books.lock().unwrap_or_else(|e| e.into_inner());
        let entry = books.entry(seed.symbol.clone()).or_insert_with(|| {
            let mut b = TrueBook {
                last_id: seed
                    .json
                    .get("lastUpdateId")
                    .and_then(|x| x.as_u64())
                    .unwrap_or(0),
                ..TrueBook::default()
            };
            b.apply(&seed.json, "bids", "asks");
            // Diffs received before the snapshot may still be newer than it.
            (0, b)
        });
        let end = pos.min(self.tape.msgs.len());
        while entry.0 < end {
            let m = &self.tape.msgs[entry.0];
            entry.0 += 1;
            let Some((s, _, u)) = &m.diff else { continue };
            if !s.eq_ignore_ascii_case(symbol) || *u <= entry.1.last_id {
                continue;
            }
            let v: serde_json::Value = serde_json::from_str(&m.text).unwrap_or_default();
            if let Some(d) = v.get("data") {
                entry.1.apply(d, "b", "a");
            }
            entry.1.last_id = *u;
        }
        Some(entry.1.clone())
    }
}

/// A running simulator.
pub struct Sim {
    /// `ws://127.0.0.1:PORT` and `http://127.0.0.1:PORT`.
    pub ws_url: String,
    pub rest_url: String,
    pub stats: Arc<SimStats>,
    venue: Arc<Venue>,
}

impl Sim {
    /// Start serving `tape` on loopback, on the current tokio runtime.
    pub async fn start(tape: Tape, opts: SimOptions) -> std::io::Result<Sim> {
        let ws = TcpListener::bind("127.0.0.1:0").await?;
        let http = TcpListener::bind("127.0.0.1:0").await?;
        let stats = Arc::new(SimStats::default());
        let venue = Arc::new(Venue {
            tape,
            opts,
            started: Mutex::new(None),
            sent_pos: AtomicUsize::new(0),
            books: Mutex::new(BTreeMap::new()),
            fired: Mutex::new(HashSet::new()),
            stats: stats.clone(),
            stop: AtomicBool::new(false),
        });
        let sim = Sim {
            ws_url: format!("ws://{}", ws.local_addr()?),
            rest_url: format!("http://{}", http.local_addr()?),
            stats,
            venue: venue.clone(),
        };
        let v = venue.clone();
        tokio::spawn(async move {
            while let Ok((s, _)) = ws.accept().await {
                let _ = s.set_nodelay(true);
                tokio::spawn(connection(v.clone(), s));
            }
        });
        tokio::spawn(async move {
            while let Ok((s, _)) = http.accept().await {
                let v = venue.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| rest(v.clone(), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(s), svc)
                        .await;
                });
            }
        });
        Ok(sim)
    }

    /// The tape position the venue is at.
    pub fn position(&self) -> usize {
        self.venue.position()
    }

    /// The tape has been sent to its end by some connection.
    pub fn finished(&self) -> bool {
        self.venue.sent_pos.load(Ordering::Relaxed) >= self.venue.len()
            || (self.venue.opts.speed.is_finite() && self.venue.position() >= self.venue.len())
    }

    /// Stop every connection's sending.
    pub fn stop(&self) {
        self.venue.stop.store(true, Ordering::Relaxed);
    }

    /// How long the whole tape plays at this pace.
    pub fn play_time(&self) -> Duration {
        if self.venue.len() == 0 {
            return Duration::ZERO;
        }
        self.venue.due(self.venue.len() - 1)
    }
}

#[allow(clippy::result_large_err)]
async fn connection(v: Arc<Venue>, s: tokio::net::TcpStream) {
    let mut path = String::new();
    let cb = |req: &tokio_tungstenite::tungstenite::handshake::server::Request,
              res: tokio_tungstenite::tungstenite::handshake::server::Response| {
        path = req.uri().to_string();
        Ok(res)
    };
    let Ok(ws) = tokio_tungstenite::accept_hdr_async(s, cb).await else {
        return;
    };
    let (mut tx, mut rx) = ws.split();
    let subs: Arc<Mutex<HashSet<String>>> = Arc::new(Mutex::new(HashSet::new()));
    if let Some((_, q)) = path.split_once("streams=") {
        let mut s = subs.lock().unwrap_or_else(|e| e.into_inner());
        for k in q.split('/') {
            s.insert(k.to_string());
        }
    }
    let conn = {
        let mut st = v.stats.sent_texts.lock().unwrap_or_else(|e| e.into_inner());
        st.push(Vec::new());
        st.len() - 1
    };
    v.stats.connections.fetch_add(1, Ordering::Relaxed);
    let (out_tx, mut out_rx) = tokio::sync::mpsc::channel::<Message>(64);
    // What the client sends: pongs, OKX's subscriptions and pings.
    let reader = {
        let (v, subs, out_tx) = (v.clone(), subs.clone(), out_tx.clone());
        tokio::spawn(async move {
            while let Some(Ok(m)) = rx.next().await {
                match m {
                    Message::Pong(_) => {
                        v.stats.pongs.fetch_add(1, Ordering::Relaxed);
                    }
                    Message::Text(t) if t.as_str() == "ping" => {
                        let _ = out_tx.send(Message::text("pong")).await;
                    }
                    Message::Text(t) => {
                        let Ok(j) = serde_json::from_str::<serde_json::Value>(t.as_str()) else {
                            continue;
                        };
                        let op = j
                            .get("op")
                            .and_then(|o| o.as_str())
                            .unwrap_or("")
                            .to_string();
                        for a in j
                            .get("args")
                            .and_then(|a| a.as_array())
                            .into_iter()
                            .flatten()
                        {
                            let ch = a.get("channel").and_then(|c| c.as_str()).unwrap_or("");
                            let inst = a.get("instId").and_then(|c| c.as_str()).unwrap_or("");
                            let key = format!("{ch}/{inst}");
                            {
                                let mut s = subs.lock().unwrap_or_else(|e| e.into_inner());
                                if op == "subscribe" {
                                    s.insert(key);
                                } else {
                                    s.remove(&key);
                                }
                            }
                            let ack = serde_json::json!({"event": op, "arg": a}).to_string();
                            let _ = out_tx.send(Message::text(ack)).await;
                        }
                    }
                    Message::Close(_) => break,
                    _ => {}
                }
            }
        })
    };
    {
        let mut started = v.started.lock().unwrap_or_else(|e| e.into_inner());
        if started.is_none() {
            *started = Some(Instant::now());
        }
    }
    // OKX subscribes after connecting: wait for it before sending.
    if v.opts.venue == SimVenue::Okx {
        for _ in 0..200 {
            if !subs.lock().unwrap_or_else(|e| e.into_inner()).is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    // The first connection gets the tape from its start.
    let start = if conn == 0 { 0 } else { v.position() };
    v.stats
        .starts
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(start);
    let t0 = v
        .started
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .unwrap_or_else(Instant::now);
    let mut ping = v
        .opts
        .ping_every
        .map(|d| tokio::time::interval_at(tokio::time::Instant::now() + d, d));
    let n = v.len();
    let mut i = start;
    'send: while i < n && !v.stop.load(Ordering::Relaxed) {
        let due = t0 + v.due(i);
        // Client messages (acks, pongs) and pings while waiting.
        loop {
            while let Ok(m) = out_rx.try_recv() {
                if tx.send(m).await.is_err() {
                    break 'send;
                }
            }
            let now = Instant::now();
            if now >= due {
                break;
            }
            let wait = tokio::time::sleep(due - now);
            tokio::select! {
                _ = wait => break,
                Some(m) = out_rx.recv() => {
                    if tx.send(m).await.is_err() {
                        break 'send;
                    }
                }
                _ = async { match &mut ping { Some(p) => { p.tick().await; } None => std::future::pending().await } } => {
                    if tx.send(Message::Ping(Vec::new().into())).await.is_err() {
                        break 'send;
                    }
                }
            }
        }
        if let Some((at, d)) = v.opts.faults.stall {
            if v.fires(0, &[at], i) {
                // A connection that stalls stays silent, then dies; what
                // it sent before reaches the client first.
                let _ = tx.flush().await;
                tokio::time::sleep(d).await;
                break 'send;
            }
        }
        for (at, text) in &v.opts.faults.inject {
            if *at == i && v.once(1, i) {
                if tx.send(Message::text(text.clone())).await.is_err() {
                    break 'send;
                }
                v.stats.sent.fetch_add(1, Ordering::Relaxed);
                v.keep(conn, text);
            }
        }
        let m = &v.tape.msgs[i];
        let subscribed = subs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&m.key);
        let withheld = subscribed && v.fires(3, &v.opts.faults.withhold, i);
        if withheld {
            v.stats
                .withheld
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(i);
        }
        if subscribed && !withheld {
            if tx.feed(Message::text(m.text.clone())).await.is_err() {
                break;
            }
            v.keep(conn, &m.text);
            v.stats.sent.fetch_add(1, Ordering::Relaxed);
            // Flush when the next message is not due yet (at full speed,
            // frames go out in batches).
            let flush = i + 1 >= n || t0 + v.due(i + 1) > Instant::now();
            if flush && tx.flush().await.is_err() {
                break;
            }
        }
        v.sent_pos.fetch_max(i + 1, Ordering::Relaxed);
        if subscribed && v.fires(2, &v.opts.faults.drop_after, i) {
            let _ = tx.flush().await;
            break;
        }
        i += 1;
    }
    let _ = tx.flush().await;
    let dropped = i < n && !v.stop.load(Ordering::Relaxed);
    reader.abort();
    if dropped {
        // A network failure: no close handshake.
        drop(tx);
        return;
    }
    // The tape's end: keep the connection open (a quiet market) until the
    // client goes or the simulator stops.
    while !v.stop.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = tx.close().await;
}

fn query<'a>(q: &'a str, k: &str) -> Option<&'a str> {
    q.split('&')
        .find_map(|kv| kv.strip_prefix(k).and_then(|r| r.strip_prefix('=')))
}

async fn rest(
    v: Arc<Venue>,
    req: hyper::Request<hyper::body::Incoming>,
) -> Result<hyper::Response<http_body_util::Full<bytes::Bytes>>, std::convert::Infallible> {
    let path = req.uri().path().to_string();
    let q = req.uri().query().unwrap_or("").to_string();
    let reply = |status: u16, body: String| {
        let mut r = hyper::Response::new(http_body_util::Full::new(bytes::Bytes::from(body)));
        *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::OK);
        Ok(r)
    };
    match path.as_str() {
        "/api/v3/depth" | "/fapi/v1/depth" => {
            let n = v.stats.snapshot_requests.fetch_add(1, Ordering::Relaxed) as usize;
            let symbol = query(&q, "symbol").unwrap_or("").to_string();
            let limit = query(&q, "limit")
                .and_then(|l| l.parse().ok())
                .unwrap_or(1000);
            tokio::time::sleep(v.opts.faults.snapshot_delay).await;
            if n < v.opts.faults.snapshot_errors {
                v.stats.snapshot_errors.fetch_add(1, Ordering::Relaxed);
                return reply(503, r#"{"code":-1001,"msg":"Internal error; unable to process your request. Please try again."}"#.into());
            }
            let Some(seed) = v
                .tape
                .seeds
                .iter()
                .find(|s| s.symbol.eq_ignore_ascii_case(&symbol))
                .map(|s| s.pos)
            else {
                return reply(400, r#"{"code":-1121,"msg":"Invalid symbol."}"#.into());
            };
            // Before the recording's own snapshot the venue's book is not
            // known: answer with it once the tape reaches it.
            let t0 = *v.started.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(t0) = t0 {
                let due = t0 + v.due(seed);
                let now = Instant::now();
                if now < due {
                    tokio::time::sleep(due - now).await;
                }
            }
            let pos = v.position().max(seed);
            let pos = if v.position() <= seed { seed } else { pos };
            let Some(book) = v.book_at(&symbol, pos) else {
                return reply(400, r#"{"code":-1121,"msg":"Invalid symbol."}"#.into());
            };
            v.stats
                .snapshot_ids
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(book.last_id);
            reply(200, book.json(limit))
        }
        "/api/v5/public/instruments" => {
            let inst = query(&q, "instId").unwrap_or("");
            let Some(&(pp, sp)) = v.tape.places.get(inst) else {
                return reply(
                    200,
                    r#"{"code":"51001","msg":"Instrument ID does not exist","data":[]}"#.into(),
                );
            };
            let step = |p: usize| {
                if p == 0 {
                    "1".to_string()
                } else {
                    format!("0.{}1", "0".repeat(p - 1))
                }
            };
            reply(
                200,
                serde_json::json!({"code": "0", "msg": "", "data": [{"instId": inst, "tickSz": step(pp), "lotSz": step(sp)}]}).to_string(),
            )
        }
        _ => reply(404, r#"{"code":-1,"msg":"not found"}"#.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_true_book_follows_the_tape_and_its_repetition() {
        let Some(data) = eventstore_testkit::market_data() else {
            return;
        };
        let one = Tape::binance(
            &data.join("binance/spot_btcusdt_20240808.hftbacktest.gz"),
            SimVenue::Binance,
        )
        .unwrap();
        // Two laps: the second opens with the diff back to the snapshot.
        let tape = one.repeat(2);
        // Every message of it is one the recorder parses.
        for m in &tape.msgs {
            crate::Venue::Binance
                .parse_message(0, &m.text)
                .unwrap_or_else(|e| panic!("{e}: {}", &m.text[..m.text.len().min(200)]));
        }
        // From the diff that bridges the snapshot on, every diff follows
        // the one before it, across the laps.
        let seed_id = one.seeds[0].json["lastUpdateId"].as_u64().unwrap();
        let diffs: Vec<(u64, u64)> = tape
            .msgs
            .iter()
            .filter_map(|m| m.diff.as_ref().map(|d| (d.1, d.2)))
            .skip_while(|d| !(d.0 <= seed_id + 1 && seed_id < d.1))
            .collect();
        assert!(diffs.len() > 2 * 3_000, "{}", diffs.len());
        for w in diffs.windows(2) {
            assert_eq!(w[1].0, w[0].1 + 1, "{w:?}");
        }
        let v = Venue {
            tape,
            opts: SimOptions::new(SimVenue::Binance),
            started: Mutex::new(None),
            sent_pos: AtomicUsize::new(0),
            books: Mutex::new(BTreeMap::new()),
            fired: Mutex::new(HashSet::new()),
            stats: Arc::default(),
            stop: AtomicBool::new(false),
        };
        // After every diff, the true book's best levels are the latest
        // book ticker's.
        let mut tickers: Vec<(u64, String, String)> = v
            .tape
            .msgs
            .iter()
            .filter(|m| m.key.ends_with("@bookTicker"))
            .map(|m| {
                let j: serde_json::Value = serde_json::from_str(&m.text).unwrap();
                let d = &j["data"];
                (
                    d["u"].as_u64().unwrap(),
                    d["b"].as_str().unwrap().to_string(),
                    d["a"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        tickers.sort();
        let mut checked = 0;
        for i in 0..v.tape.msgs.len() {
            let Some((_, _, u)) = v.tape.msgs[i].diff.clone() else {
                continue;
            };
            let b = v.book_at("BTCUSDT", i + 1).unwrap();
            if b.last_id != u {
                continue;
            }
            let k = tickers.partition_point(|t| t.0 <= u);
            let Some(t) = k.checked_sub(1).map(|k| &tickers[k]) else {
                continue;
            };
            let bid = b.bids.values().next_back().unwrap();
            let ask = b.asks.values().next().unwrap();
            assert_eq!((&bid.0, &ask.0), (&t.1, &t.2), "after diff {u} (tape {i})");
            checked += 1;
        }
        // Both laps: the second's book is the first's, ids shifted.
        assert!(checked > 2 * 1000, "{checked}");
        let half = v.tape.msgs.len() / 2;
        let b = v.book_at("BTCUSDT", half + 10).unwrap();
        assert!(b.bids.keys().next_back() < b.asks.keys().next());
    }
}
