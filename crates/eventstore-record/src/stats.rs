//! What a recorder counts: per venue and per stream, shown in its status
//! lines and served in Prometheus's text format (`--metrics ADDR`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

/// One venue connection's figures.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VenueStats {
    /// Websocket messages received (text), and their bytes.
    pub messages: u64,
    pub bytes_received: u64,
    /// Connections opened (the first one included).
    pub connections: u64,
    /// Connections lost or closed for being stalled (not planned ones).
    pub reconnects: u64,
    /// Connections replaced before the venue's time limit, with overlap.
    pub planned_reconnects: u64,
    /// Connections closed because nothing came for the stale timeout.
    pub stalls: u64,
    /// Messages that were not JSON or not what their kind should be.
    pub bad_messages: u64,
    /// Messages of kinds this recorder does not store (subscription
    /// answers, pongs, kinds of no channel recorded).
    pub other_messages: u64,
    /// Error answers of the venue (an error event, a failed REST call).
    pub venue_errors: u64,
    /// REST depth snapshots fetched and written, and those refused as too
    /// old for the diffs already buffered.
    pub snapshots: u64,
    pub stale_snapshots: u64,
    /// Pings answered (with pongs) and keep-alives sent.
    pub pings: u64,
    /// Receive time of the last message (ns, 0 before any).
    pub last_message_ns: i64,
    /// Time from a message's arrival (its frame read off the socket) to
    /// the return of its appends.
    pub latency: Latency,
}

/// A histogram of durations in buckets about 5% wide (from 1 ns to
/// about 100 s), for quantiles without keeping every value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Latency {
    buckets: Box<[u64; Latency::BUCKETS]>,
    count: u64,
}

impl Default for Latency {
    fn default() -> Self {
        Latency {
            buckets: Box::new([0; Latency::BUCKETS]),
            count: 0,
        }
    }
}

impl Latency {
    const BUCKETS: usize = 520;
    /// Buckets per doubling.
    const PER_OCTAVE: f64 = 14.0;

    pub fn record(&mut self, ns: i64) {
        let x = ns.max(1) as f64;
        let b = ((x.log2() * Self::PER_OCTAVE) as usize).min(Self::BUCKETS - 1);
        self.buckets[b] += 1;
        self.count += 1;
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// The duration (ns) below which a fraction `q` of those recorded fell
    /// (the upper edge of its bucket); 0 before any.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let want = ((self.count as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (b, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= want {
                return 2f64.powf((b + 1) as f64 / Self::PER_OCTAVE) as u64;
            }
        }
        u64::MAX
    }

    pub fn clear(&mut self) {
        *self = Latency::default();
    }
}

/// One stream's figures.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StreamStats {
    /// Venue messages stored in the stream, and the records they made.
    pub messages: u64,
    pub records: u64,
    /// Bytes of records appended.
    pub bytes_written: u64,
    /// Messages dropped as already stored (the overlap of two connections).
    pub duplicates: u64,
    /// Receive time minus exchange time of the last message (ns).
    pub lag_ns: i64,
    /// Gaps (a missing update, a failed checksum, a lost connection) and
    /// resyncs (a snapshot that made the book right again).
    pub gaps: u64,
    pub resyncs: u64,
    /// The recorder's book of this stream is known to be right now.
    pub reliable: bool,
    /// Receive time of the last record (ns, 0 before any).
    pub last_ns: i64,
}

/// Every venue's and stream's figures, as last published by the venues'
/// loops; shared with the metrics server.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    inner: Arc<Mutex<Board>>,
}

#[derive(Clone, Debug, Default)]
struct Board {
    venues: BTreeMap<String, VenueStats>,
    streams: BTreeMap<String, (String, StreamStats)>,
}

impl Stats {
    /// Publish one venue's figures and its streams'.
    pub fn publish<'a>(
        &self,
        venue: &str,
        v: &VenueStats,
        streams: impl Iterator<Item = (&'a str, &'a StreamStats)>,
    ) {
        let Ok(mut b) = self.inner.lock() else { return };
        b.venues.insert(venue.to_string(), v.clone());
        for (name, s) in streams {
            b.streams
                .insert(name.to_string(), (venue.to_string(), s.clone()));
        }
    }

    /// The figures of `venue`, as last published.
    pub fn venue(&self, venue: &str) -> Option<VenueStats> {
        self.inner.lock().ok()?.venues.get(venue).cloned()
    }

    /// The figures of the stream `name`, as last published.
    pub fn stream(&self, name: &str) -> Option<StreamStats> {
        Some(self.inner.lock().ok()?.streams.get(name)?.1.clone())
    }

    /// Prometheus's text exposition format (version 0.0.4).
    pub fn prometheus(&self, now_ns: i64) -> String {
        let Ok(b) = self.inner.lock() else {
            return String::new();
        };
        let mut out = String::new();
        type VenueField = fn(&VenueStats, i64) -> f64;
        let venue_metrics: [(&str, &str, &str, VenueField); 10] = [
            (
                "messages_total",
                "counter",
                "Websocket messages received.",
                |v, _| v.messages as f64,
            ),
            (
                "received_bytes_total",
                "counter",
                "Bytes of websocket messages received.",
                |v, _| v.bytes_received as f64,
            ),
            (
                "connections_total",
                "counter",
                "Connections opened.",
                |v, _| v.connections as f64,
            ),
            (
                "reconnects_total",
                "counter",
                "Connections lost or stalled and opened again.",
                |v, _| v.reconnects as f64,
            ),
            (
                "planned_reconnects_total",
                "counter",
                "Connections replaced with overlap before the venue's limit.",
                |v, _| v.planned_reconnects as f64,
            ),
            (
                "stalls_total",
                "counter",
                "Connections closed because the feed went silent.",
                |v, _| v.stalls as f64,
            ),
            (
                "bad_messages_total",
                "counter",
                "Messages that could not be parsed.",
                |v, _| v.bad_messages as f64,
            ),
            (
                "venue_errors_total",
                "counter",
                "Error answers from the venue.",
                |v, _| v.venue_errors as f64,
            ),
            (
                "snapshots_total",
                "counter",
                "REST depth snapshots written.",
                |v, _| v.snapshots as f64,
            ),
            (
                "last_message_age_seconds",
                "gauge",
                "Seconds since the venue's last message.",
                |v, now| age(v.last_message_ns, now),
            ),
        ];
        for (name, kind, help, f) in venue_metrics {
            let _ = writeln!(out, "# HELP eventstore_record_{name} {help}");
            let _ = writeln!(out, "# TYPE eventstore_record_{name} {kind}");
            for (venue, v) in &b.venues {
                let value = f(v, now_ns);
                let _ = writeln!(
                    out,
                    "eventstore_record_{name}{{venue=\"{venue}\"}} {}",
                    number(value)
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP eventstore_record_append_latency_seconds From a message's arrival to its append."
        );
        let _ = writeln!(
            out,
            "# TYPE eventstore_record_append_latency_seconds summary"
        );
        for (venue, v) in &b.venues {
            for q in [0.5, 0.99, 0.999] {
                let _ = writeln!(
                    out,
                    "eventstore_record_append_latency_seconds{{venue=\"{venue}\",quantile=\"{q}\"}} {}",
                    v.latency.quantile(q) as f64 / 1e9
                );
            }
            let _ = writeln!(
                out,
                "eventstore_record_append_latency_seconds_count{{venue=\"{venue}\"}} {}",
                v.latency.count()
            );
        }
        type StreamField = fn(&StreamStats, i64) -> f64;
        let stream_metrics: [(&str, &str, &str, StreamField); 9] = [
            (
                "stream_messages_total",
                "counter",
                "Venue messages stored in the stream.",
                |s, _| s.messages as f64,
            ),
            (
                "stream_records_total",
                "counter",
                "Records appended to the stream.",
                |s, _| s.records as f64,
            ),
            (
                "stream_written_bytes_total",
                "counter",
                "Bytes of records appended.",
                |s, _| s.bytes_written as f64,
            ),
            (
                "stream_duplicates_total",
                "counter",
                "Messages dropped as already stored.",
                |s, _| s.duplicates as f64,
            ),
            (
                "stream_lag_seconds",
                "gauge",
                "Receive time minus exchange time of the last message.",
                |s, _| s.lag_ns as f64 / 1e9,
            ),
            (
                "stream_gaps_total",
                "counter",
                "Gaps in the book's feed.",
                |s, _| s.gaps as f64,
            ),
            (
                "stream_resyncs_total",
                "counter",
                "Snapshots that made the book right again.",
                |s, _| s.resyncs as f64,
            ),
            (
                "stream_book_reliable",
                "gauge",
                "1 while the recorder's book is known to be right.",
                |s, _| if s.reliable { 1.0 } else { 0.0 },
            ),
            (
                "stream_last_record_age_seconds",
                "gauge",
                "Seconds since the stream's last record.",
                |s, now| age(s.last_ns, now),
            ),
        ];
        for (name, kind, help, f) in stream_metrics {
            let _ = writeln!(out, "# HELP eventstore_record_{name} {help}");
            let _ = writeln!(out, "# TYPE eventstore_record_{name} {kind}");
            for (stream, (venue, s)) in &b.streams {
                let value = f(s, now_ns);
                let _ = writeln!(
                    out,
                    "eventstore_record_{name}{{venue=\"{venue}\",stream=\"{stream}\"}} {}",
                    number(value)
                );
            }
        }
        out
    }
}

/// Seconds from `ns` to `now` (infinite before anything came).
fn age(ns: i64, now: i64) -> f64 {
    if ns == 0 {
        f64::INFINITY
    } else {
        (now - ns) as f64 / 1e9
    }
}

fn number(v: f64) -> String {
    if v.is_infinite() {
        "+Inf".into()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// Serve `stats` in Prometheus's text format at every path of `addr`,
/// until the runtime stops.
pub async fn serve_metrics(
    listener: tokio::net::TcpListener,
    stats: Stats,
    clock: fn() -> i64,
) -> std::io::Result<()> {
    use hyper::service::service_fn;
    loop {
        let (stream, _) = listener.accept().await?;
        let stats = stats.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |_req: hyper::Request<hyper::body::Incoming>| {
                let body = stats.prometheus(clock());
                async move {
                    hyper::Response::builder()
                        .header("content-type", "text/plain; version=0.0.4")
                        .body(http_body_util::Full::new(bytes::Bytes::from(body)))
                }
            });
            let io = hyper_util::rt::TokioIo::new(stream);
            // A client that goes away mid-request ends only its connection.
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, svc)
                .await;
        });
    }
}
