//! One venue's recording loop: its connections (the live one and, while
//! it is replaced, its successor), its snapshot requests and its
//! housekeeping, all on one task so that a message goes from the socket to
//! its stream without a hop between threads.

use crate::outputs::{Error, Outputs, Result};
use crate::stats::{Stats, VenueStats};
use crate::venue::{Channel, Venue};
use crate::{now_ns, RecordOptions};
use eventstore_market::book::replay::Cause;
use eventstore_market::import::rows::ParsedLine;
use futures_util::stream::FuturesUnordered;
use futures_util::{SinkExt, StreamExt};
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;
type Connecting = Pin<Box<dyn Future<Output = std::result::Result<Ws, String>>>>;
type Fetch =
    Pin<Box<dyn Future<Output = (String, String, i64, std::result::Result<String, Fetched>)>>>;

/// What one venue records and where it connects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VenueSpec {
    pub venue: Venue,
    /// Symbols as the user wrote them (`btcusdt`, `BTC-USDT`).
    pub symbols: Vec<String>,
    pub channels: Vec<Channel>,
    pub ws_url: String,
    pub rest_url: String,
}

impl VenueSpec {
    /// The venue's own endpoints.
    pub fn new(venue: Venue, symbols: Vec<String>, channels: Vec<Channel>) -> VenueSpec {
        VenueSpec {
            venue,
            symbols,
            channels,
            ws_url: venue.default_ws_url().into(),
            rest_url: venue.default_rest_url().into(),
        }
    }
}

/// A failed REST request: what to log, and when to try again.
pub(crate) struct Fetched {
    reason: String,
    retry_after: Option<Duration>,
}

struct Conn {
    ws: Ws,
    opened: Instant,
    last_rx: Instant,
    last_tx: Instant,
    /// When the first message came (a successor takes over `overlap`
    /// after it).
    first_rx: Option<Instant>,
    /// A successor's messages, held until the old connection has
    /// delivered what came before them.
    held: Held,
}

/// A successor's parsed messages while the old connection still records.
/// A recorder that lags reads the old connection's backlog after the
/// successor's first messages: storing those first would make the backlog
/// look like duplicates. So they wait, and once the old connection has
/// delivered the first held message of every stream (the overlap is
/// proven), the successor takes over and the held messages are stored,
/// those already stored dropped.
#[derive(Default)]
struct Held {
    lines: VecDeque<ParsedLine>,
    /// The first held message of each stream, by its index in `lines`.
    firsts: HashMap<(String, String), usize>,
}

/// Messages a successor holds at most before it takes over regardless.
const MAX_HELD: usize = 200_000;

impl Held {
    fn push(&mut self, line: ParsedLine) {
        if let ParsedLine::Records {
            symbol: Some(sym),
            stream,
            ..
        } = &line
        {
            let n = self.lines.len();
            self.firsts
                .entry((sym.clone(), stream.clone()))
                .or_insert(n);
        }
        self.lines.push_back(line);
    }

    /// The old connection has delivered the first held message of every
    /// stream.
    fn overlapped(&self, out: &Outputs) -> bool {
        !self.firsts.is_empty()
            && self
                .firsts
                .values()
                .all(|&i| self.lines.get(i).is_none_or(|l| out.delivered(l)))
    }
}

/// Receive from a connection, or wait forever without one.
async fn recv(c: &mut Option<Conn>) -> Option<std::result::Result<Message, String>> {
    match c {
        Some(c) => c.ws.next().await.map(|r| r.map_err(|e| e.to_string())),
        None => std::future::pending().await,
    }
}

async fn connecting(c: &mut Option<Connecting>) -> std::result::Result<Ws, String> {
    match c {
        Some(f) => f.await,
        None => std::future::pending().await,
    }
}

/// Log lines: the time, the venue, what happened.
pub(crate) fn log(venue: &str, msg: &str) {
    eprintln!(
        "{} record {venue}: {msg}",
        eventstore_log::time::format_utc(now_ns())
    );
}

fn open(url: String) -> Connecting {
    Box::pin(async move {
        let config = WebSocketConfig::default()
            .max_message_size(Some(crate::MAX_MESSAGE))
            .max_frame_size(Some(crate::MAX_MESSAGE));
        let (ws, _) = tokio_tungstenite::connect_async_tls_with_config(
            url.as_str(),
            Some(config),
            true,
            None,
        )
        .await
        .map_err(|e| format!("{url}: {e}"))?;
        Ok(ws)
    })
}

fn fetch(client: reqwest::Client, symbol: String, url: String, timeout: Duration) -> Fetch {
    Box::pin(async move {
        let res = async {
            let r = client
                .get(&url)
                .timeout(timeout)
                .send()
                .await
                .map_err(|e| Fetched {
                    reason: e.to_string(),
                    retry_after: None,
                })?;
            let status = r.status();
            let retry_after = r
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
                .map(Duration::from_secs);
            let body = r.text().await.map_err(|e| Fetched {
                reason: e.to_string(),
                retry_after: None,
            })?;
            if !status.is_success() {
                let head: String = body.chars().take(200).collect();
                return Err(Fetched {
                    reason: format!("HTTP {status}: {head}"),
                    retry_after,
                });
            }
            Ok(body)
        }
        .await;
        (symbol, url, now_ns(), res)
    })
}

/// The figures a status line shows, since the last one.
struct Window {
    at: Instant,
    messages: u64,
    bytes: u64,
}

/// Record one venue until `stop` turns true.
pub async fn record_venue(
    spec: VenueSpec,
    opts: RecordOptions,
    stats: Stats,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Result<()> {
    spec.venue
        .check_channels(&spec.channels)
        .map_err(Error::Config)?;
    let venue = spec.venue;
    let name = venue.name();
    let mut out = Outputs::open(
        &opts.root,
        name,
        venue.format(),
        opts.writer_options(),
        opts.raw,
    )?;
    let client = reqwest::Client::builder()
        .build()
        .map_err(|e| Error::Config(format!("HTTP client: {e}")))?;
    let mut v = VenueStats::default();
    // Venues that print decimals trimmed publish their tick sizes: the
    // streams' scales come from them, asked before connecting.
    for s in &spec.symbols {
        let Some(url) = venue.instrument_url(&spec.rest_url, s) else {
            continue;
        };
        let mut b = opts.backoff();
        loop {
            let (_, _, _, r) = fetch(
                client.clone(),
                s.clone(),
                url.clone(),
                opts.snapshot_timeout,
            )
            .await;
            match r.map_err(|f| f.reason).and_then(|body| okx_scales(&body)) {
                Ok(sc) => {
                    out.scales.insert(venue.symbol(s), sc);
                    break;
                }
                Err(e) => {
                    v.venue_errors += 1;
                    log(name, &format!("instrument {s}: {e}; asking again"));
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(b.next_delay()) => {}
                _ = stop.changed() => return out.close(),
            }
        }
    }
    let url = venue.connect_url(&spec.ws_url, &spec.symbols, &spec.channels);
    let max_age = opts.max_connection_age.or(venue.max_connection_age());
    let mut primary: Option<Conn> = None;
    let mut successor: Option<Conn> = None;
    let mut pending: Option<Connecting> = Some(open(url.clone()));
    let mut pending_is_successor = false;
    let mut next_attempt: Option<Instant> = None;
    let mut backoff = opts.backoff();
    let mut fetches: FuturesUnordered<Fetch> = FuturesUnordered::new();
    let mut ticker = tokio::time::interval(Duration::from_millis(50));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_tick = Instant::now();
    let mut window = Window {
        at: Instant::now(),
        messages: 0,
        bytes: 0,
    };
    let mut logged_bad = 0u64;
    let mut closed_by_stop = false;
    log(name, &format!("connecting to {url}"));
    loop {
        // Which connection a message came from: 0 the live one, 1 its successor.
        let (which, msg) = tokio::select! {
            m = recv(&mut primary) => (0, m),
            m = recv(&mut successor) => (1, m),
            r = connecting(&mut pending) => {
                pending = None;
                match r {
                    Ok(mut ws) => {
                        v.connections += 1;
                        backoff.reset();
                        if let Some(sub) = venue.subscribe(&spec.symbols, &spec.channels) {
                            if let Err(e) = ws.send(Message::text(sub)).await {
                                log(name, &format!("subscribing: {e}"));
                            }
                        }
                        let now = Instant::now();
                        let c = Conn { ws, opened: now, last_rx: now, last_tx: now, first_rx: None, held: Held::default() };
                        if pending_is_successor && primary.is_some() {
                            log(name, "connected the successor; both connections record until it overlaps");
                            successor = Some(c);
                        } else {
                            log(name, "connected");
                            primary = Some(c);
                        }
                    }
                    Err(e) => {
                        v.venue_errors += 1;
                        let d = backoff.next_delay();
                        log(name, &format!("connect failed: {e}; again in {d:?}"));
                        next_attempt = Some(Instant::now() + d);
                    }
                }
                continue;
            }
            Some((symbol, url, local, r)) = fetches.next(), if !fetches.is_empty() => {
                on_snapshot(&mut out, &mut v, &opts, venue, &symbol, &url, local, r)?;
                continue;
            }
            _ = ticker.tick() => {
                let now = Instant::now();
                // A connection that went silent is dead to us.
                let stale = primary.as_ref().is_some_and(|c| now.duration_since(c.last_rx) > opts.stale_after);
                if stale {
                    v.stalls += 1;
                    v.reconnects += 1;
                    log(name, &format!("no message for {:?}: reconnecting", opts.stale_after));
                    primary = successor.take();
                    if primary.is_none() {
                        out.break_all(now_ns(), Cause::Stalled)?;
                        pending = Some(open(url.clone()));
                        pending_is_successor = false;
                    }
                }
                if successor.as_ref().is_some_and(|c| now.duration_since(c.last_rx) > opts.stale_after) {
                    successor = None;
                }
                // The venue's limit on a connection's age: the successor
                // opens before it, both record, then the old one closes.
                if let (Some(p), Some(age)) = (&primary, max_age) {
                    if now.duration_since(p.opened) >= age && successor.is_none() && pending.is_none() {
                        log(name, "connection near the venue's age limit: opening its successor");
                        pending = Some(open(url.clone()));
                        pending_is_successor = true;
                    }
                }
                // The successor takes over once the overlap is proven (or,
                // on a feed too quiet to prove it, after ten overlaps, or
                // when it holds too much).
                let takes_over = successor.as_ref().is_some_and(|c| {
                    c.first_rx.is_some_and(|t| {
                        let held = now.duration_since(t);
                        held >= opts.overlap
                            && (c.held.overlapped(&out) || held >= opts.overlap * 10 || c.held.lines.len() >= MAX_HELD)
                    })
                });
                if takes_over {
                    if let Some(mut old) = primary.take() {
                        let _ = old.ws.close(None).await;
                    }
                    primary = successor.take();
                    if let Some(c) = primary.as_mut() {
                        store_held(&mut out, &mut v, venue, &mut c.held, &mut logged_bad)?;
                    }
                    v.planned_reconnects += 1;
                    log(name, "successor took over; the old connection is closed");
                }
                if primary.is_none() && pending.is_none() && next_attempt.is_none_or(|t| now >= t) {
                    next_attempt = None;
                    pending = Some(open(url.clone()));
                    pending_is_successor = false;
                }
                if let (Some((ping, every)), Some(c)) = (venue.keepalive(), primary.as_mut()) {
                    if now.duration_since(c.last_rx.max(c.last_tx)) >= every {
                        c.last_tx = now;
                        let _ = c.ws.send(Message::text(ping)).await;
                    }
                }
                let t = now_ns();
                request_snapshots(&mut out, &mut fetches, &client, &spec, &opts, primary.as_mut(), t).await;
                if now.duration_since(last_tick) >= Duration::from_millis(200) {
                    last_tick = now;
                    out.tick()?;
                    publish(&stats, name, &v, &out);
                }
                if let Some(every) = opts.status_every {
                    if now.duration_since(window.at) >= every {
                        status(name, &v, &out, &mut window);
                    }
                }
                continue;
            }
            _ = stop.changed() => {
                closed_by_stop = true;
                (0, None)
            }
        };
        if closed_by_stop {
            break;
        }
        let local = now_ns();
        let conn = if which == 0 {
            &mut primary
        } else {
            &mut successor
        };
        let mut ended = None;
        match msg {
            Some(Ok(Message::Text(text))) => {
                if let Some(c) = conn.as_mut() {
                    c.last_rx = Instant::now();
                    c.first_rx.get_or_insert(c.last_rx);
                }
                v.messages += 1;
                v.bytes_received += text.len() as u64;
                v.last_message_ns = local;
                out.raw(local, text.as_bytes())?;
                // A successor's messages wait while the old connection records.
                let hold = if which == 1 {
                    conn.as_mut().map(|c| &mut c.held)
                } else {
                    None
                };
                on_text(
                    &mut out,
                    &mut v,
                    venue,
                    local,
                    text.as_str(),
                    &mut logged_bad,
                    hold,
                )?;
                v.latency.record(now_ns() - local);
                if let Some(c) = conn.as_mut() {
                    // Books that broke ask for a snapshot at once, not at the next tick.
                    request_snapshots(
                        &mut out,
                        &mut fetches,
                        &client,
                        &spec,
                        &opts,
                        Some(c),
                        local,
                    )
                    .await;
                }
                if !fetches.is_empty() {
                    // Let the HTTP client's connection task run: a backlog of
                    // messages must not hold a snapshot request back.
                    tokio::task::yield_now().await;
                }
            }
            Some(Ok(Message::Ping(_))) => {
                v.pings += 1;
                if let Some(c) = conn.as_mut() {
                    c.last_rx = Instant::now();
                    // tungstenite queued the pong; send it now.
                    let _ = c.ws.flush().await;
                }
            }
            Some(Ok(Message::Close(frame))) => {
                let why = frame
                    .map(|f| format!("{} {}", f.code, f.reason))
                    .unwrap_or_default();
                ended = Some(format!("closed by the venue {why}"));
            }
            Some(Ok(_)) => {
                if let Some(c) = conn.as_mut() {
                    c.last_rx = Instant::now();
                }
                v.other_messages += 1;
            }
            Some(Err(e)) => ended = Some(e),
            None => ended = Some("connection ended".into()),
        }
        if let Some(why) = ended {
            lost(
                &mut out,
                &mut v,
                venue,
                name,
                which,
                &mut primary,
                &mut successor,
                &why,
                &mut logged_bad,
            )?;
        }
        if primary.is_none() && successor.is_none() && pending.is_none() && next_attempt.is_none() {
            let d = backoff.next_delay();
            next_attempt = Some(Instant::now() + d);
            log(name, &format!("reconnecting in {d:?}"));
        }
    }
    // What a successor held is kept (those the old connection stored
    // are dropped as it is stored).
    if let Some(c) = successor.as_mut() {
        store_held(&mut out, &mut v, venue, &mut c.held, &mut logged_bad)?;
    }
    publish(&stats, name, &v, &out);
    status(name, &v, &out, &mut window);
    out.close()
}

/// A connection ended. The live one without a successor: every book
/// breaks; with one, the successor goes on (an overlap leaves no gap).
#[allow(clippy::too_many_arguments)]
fn lost(
    out: &mut Outputs,
    v: &mut VenueStats,
    venue: Venue,
    name: &str,
    which: usize,
    primary: &mut Option<Conn>,
    successor: &mut Option<Conn>,
    why: &str,
    logged_bad: &mut u64,
) -> Result<()> {
    if which == 1 {
        // The old connection goes on: it stores everything itself.
        *successor = None;
        log(name, &format!("the successor connection failed: {why}"));
        return Ok(());
    }
    *primary = successor.take();
    if let Some(c) = primary.as_mut() {
        store_held(out, v, venue, &mut c.held, logged_bad)?;
        v.planned_reconnects += 1;
        log(
            name,
            &format!("connection lost ({why}); its successor goes on"),
        );
        return Ok(());
    }
    v.reconnects += 1;
    log(name, &format!("connection lost: {why}"));
    out.break_all(now_ns(), Cause::ConnectionLost)
}

fn on_text(
    out: &mut Outputs,
    v: &mut VenueStats,
    venue: Venue,
    local: i64,
    text: &str,
    logged_bad: &mut u64,
    hold: Option<&mut Held>,
) -> Result<()> {
    if venue == Venue::Okx {
        if text == "pong" {
            v.other_messages += 1;
            return Ok(());
        }
        if text.contains("\"event\":\"error\"") {
            v.venue_errors += 1;
            log(venue.name(), &format!("venue error: {}", head(text)));
            return Ok(());
        }
    } else if text.starts_with("{\"code\"") || text.starts_with("{\"error\"") {
        v.venue_errors += 1;
        log(venue.name(), &format!("venue error: {}", head(text)));
        return Ok(());
    }
    match venue.parse_message(local, text) {
        Ok(Some(ParsedLine::Other(_))) | Ok(None) => v.other_messages += 1,
        Ok(Some(line)) => match hold {
            Some(h) => h.push(line),
            None => store(out, v, venue, line, logged_bad, text)?,
        },
        Err(reason) => bad(v, venue, logged_bad, &reason, text),
    }
    Ok(())
}

/// Store one parsed message. A message whose values do not fit its
/// stream is counted and logged (the raw stream keeps it), and the
/// recording goes on.
fn store(
    out: &mut Outputs,
    v: &mut VenueStats,
    venue: Venue,
    line: ParsedLine,
    logged_bad: &mut u64,
    text: &str,
) -> Result<()> {
    match out.append(line) {
        Ok(_) => Ok(()),
        Err(Error::Config(reason)) => {
            bad(v, venue, logged_bad, &reason, text);
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Store what a successor held (those the old connection already stored
/// are dropped as duplicates).
fn store_held(
    out: &mut Outputs,
    v: &mut VenueStats,
    venue: Venue,
    held: &mut Held,
    logged_bad: &mut u64,
) -> Result<()> {
    held.firsts.clear();
    while let Some(line) = held.lines.pop_front() {
        store(
            out,
            v,
            venue,
            line,
            logged_bad,
            "(a message the successor held)",
        )?;
    }
    Ok(())
}

fn head(text: &str) -> String {
    let h: String = text.chars().take(160).collect();
    if h.len() < text.len() {
        format!("{h}...")
    } else {
        h
    }
}

fn bad(v: &mut VenueStats, venue: Venue, logged: &mut u64, reason: &str, text: &str) {
    v.bad_messages += 1;
    // The first ten, then one in a thousand: a venue gone wrong does not
    // flood the log.
    if *logged < 10 || v.bad_messages.is_multiple_of(1000) {
        *logged += 1;
        log(
            venue.name(),
            &format!("bad message #{} ({reason}): {}", v.bad_messages, head(text)),
        );
    }
}

/// Ask for a snapshot of every book that broke and has none coming.
async fn request_snapshots(
    out: &mut Outputs,
    fetches: &mut FuturesUnordered<Fetch>,
    client: &reqwest::Client,
    spec: &VenueSpec,
    opts: &RecordOptions,
    conn: Option<&mut Conn>,
    now: i64,
) {
    let venue = spec.venue;
    let mut resubscribe = Vec::new();
    for s in out.streams_mut() {
        let symbol = s.meta().symbol.clone();
        let Some(book) = &mut s.book else { continue };
        if !book.wants_snapshot(now) {
            continue;
        }
        if let Some(url) = venue.snapshot_url(&spec.rest_url, &symbol, opts.snapshot_limit) {
            book.fetching = true;
            fetches.push(fetch(client.clone(), symbol, url, opts.snapshot_timeout));
        } else if venue.resubscribe_book(&symbol).is_some() {
            book.retry_at = now + opts.snapshot_timeout.as_nanos() as i64;
            resubscribe.push(symbol);
        }
    }
    if let Some(c) = conn {
        for symbol in resubscribe {
            log(
                venue.name(),
                &format!("{symbol}: book broke, subscribing again for a snapshot"),
            );
            for m in venue.resubscribe_book(&symbol).into_iter().flatten() {
                c.last_tx = Instant::now();
                if let Err(e) = c.ws.send(Message::text(m)).await {
                    log(venue.name(), &format!("resubscribing: {e}"));
                }
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn on_snapshot(
    out: &mut Outputs,
    v: &mut VenueStats,
    opts: &RecordOptions,
    venue: Venue,
    symbol: &str,
    url: &str,
    local: i64,
    r: std::result::Result<String, Fetched>,
) -> Result<()> {
    let name = venue.name();
    let retry = |out: &mut Outputs, after: Duration, failed: bool| {
        if let Some(book) = out.depth_mut(symbol).and_then(|s| s.book.as_mut()) {
            book.fetching = false;
            book.failures = if failed { book.failures + 1 } else { 0 };
            book.retry_at = local + after.as_nanos() as i64;
        }
    };
    match r {
        Ok(body) => {
            out.raw(local, format!("{url} -> {body}").as_bytes())?;
            let line = match venue.parse_snapshot(local, symbol, &body) {
                Ok(Some(l)) => l,
                Ok(None) | Err(_) => {
                    v.venue_errors += 1;
                    log(
                        name,
                        &format!(
                            "{symbol}: the snapshot is not a depth snapshot: {}",
                            head(&body)
                        ),
                    );
                    retry(out, opts.backoff_initial, true);
                    return Ok(());
                }
            };
            match out.append_snapshot(symbol, line) {
                Ok(true) => {
                    v.snapshots += 1;
                    let state = out
                        .depth_mut(symbol)
                        .and_then(|s| s.book.as_ref())
                        .map(|b| b.replay.is_reliable())
                        .unwrap_or(false);
                    retry(out, Duration::ZERO, false);
                    log(
                        name,
                        &format!(
                            "{symbol}: snapshot written, book {}",
                            if state { "synced" } else { "still broken" }
                        ),
                    );
                }
                Ok(false) => {
                    v.stale_snapshots += 1;
                    log(name, &format!("{symbol}: the snapshot is older than the first buffered diff; asking again"));
                    retry(out, opts.backoff_initial, false);
                }
                Err(Error::Config(reason)) => {
                    v.bad_messages += 1;
                    log(name, &format!("{symbol}: bad snapshot: {reason}"));
                    retry(out, opts.backoff_initial, true);
                }
                Err(e) => return Err(e),
            }
        }
        Err(f) => {
            v.venue_errors += 1;
            let failures = out
                .depth_mut(symbol)
                .and_then(|s| s.book.as_ref())
                .map(|b| b.failures)
                .unwrap_or(0);
            let after = f.retry_after.unwrap_or_else(|| {
                (opts.backoff_initial * 2u32.saturating_pow(failures.min(16))).min(opts.backoff_max)
            });
            log(
                name,
                &format!(
                    "{symbol}: snapshot request failed ({}); again in {after:?}",
                    f.reason
                ),
            );
            retry(out, after, true);
        }
    }
    Ok(())
}

fn publish(stats: &Stats, name: &str, v: &VenueStats, out: &Outputs) {
    let raw = out.raw_name().map(|n| (n, &out.raw_stats));
    stats.publish(
        name,
        v,
        out.streams()
            .map(|s| (s.name.as_str(), &s.stats))
            .chain(raw),
    );
}

fn status(name: &str, v: &VenueStats, out: &Outputs, w: &mut Window) {
    let secs = w.at.elapsed().as_secs_f64().max(1e-9);
    let rate = (v.messages - w.messages) as f64 / secs;
    let mb = (v.bytes_received - w.bytes) as f64 / secs / 1e6;
    let mut line = format!(
        "{rate:.0} msg/s ({mb:.2} MB/s), append latency p50 {:.1} us p99 {:.1} us, {} reconnects ({} planned, {} stalls), {} bad, {} venue errors, {} snapshots",
        v.latency.quantile(0.5) as f64 / 1e3,
        v.latency.quantile(0.99) as f64 / 1e3,
        v.reconnects,
        v.planned_reconnects,
        v.stalls,
        v.bad_messages,
        v.venue_errors,
        v.snapshots
);
    for s in out.streams() {
        line.push_str(&format!(
            "; {}: {} msgs, lag {:.1} ms, {} B written, {} gaps, {} resyncs{}",
            s.name,
            s.stats.messages,
            s.stats.lag_ns as f64 / 1e6,
            s.stats.bytes_written,
            s.stats.gaps,
            s.stats.resyncs,
            match &s.book {
                Some(b) if !b.replay.is_reliable() => ", book unreliable",
                _ => "",
            }
        ));
    }
    log(name, &line);
    w.at = Instant::now();
    w.messages = v.messages;
    w.bytes = v.bytes_received;
}

/// OKX's instrument answer: the places of its tick and lot sizes.
fn okx_scales(body: &str) -> std::result::Result<(u8, u8), String> {
    let v: serde_json::Value = serde_json::from_str(body).map_err(|e| format!("not JSON: {e}"))?;
    let d = v
        .get("data")
        .and_then(|d| d.get(0))
        .ok_or_else(|| format!("no instrument in {}", head(body)))?;
    let step = |k: &str| {
        d.get(k)
            .and_then(|x| x.as_str())
            .and_then(crate::venue::places_of_step)
            .ok_or_else(|| format!("instrument without {k}"))
    };
    Ok((step("tickSz")?, step("lotSz")?))
}
