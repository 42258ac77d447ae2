//! A seeded synthetic market: a random-walk mid price, an order book whose
//! price levels change around it, and trades arriving as a Poisson process.
//!
//! The same seed always gives the same stream, so a test can regenerate
//! what it wrote instead of keeping it in memory. The book never crosses:
//! when the mid walks onto a level of the other side, that level is
//! removed first (as a venue's matching would have).
//!
//! An event is a JSON line in the manner of Binance's streams
//! ([`SynthEvent::to_json`]) or a market record ([`SynthEvent::record`]) for
//! the trade and depth streams that [`SynthConfig::meta`] describes.

use crate::records::decimal::DecimalStyle;
use crate::records::level::{BookLevel, BookSide, FLAG_LAST};
use crate::records::meta::{StreamKind, StreamMeta};
use crate::records::trade::{Side as TradeSide, Trade};
use std::collections::BTreeSet;
use std::fmt::Write;

/// SplitMix64: small, fast, good enough for simulation.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Uniform in [0, n).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    /// Exponentially distributed with the given rate (events per unit).
    pub fn exp(&mut self, rate: f64) -> f64 {
        -(1.0 - self.unit()).ln() / rate
    }
}

/// Parameters of the simulated market.
#[derive(Clone, Debug)]
pub struct SynthConfig {
    pub seed: u64,
    /// Time of the first event, ns since the epoch.
    pub start_ns: i64,
    /// Mean trades per second.
    pub trades_per_sec: f64,
    /// Mean book updates per second.
    pub book_updates_per_sec: f64,
    /// Starting mid price in ticks (61_837_63 with a 0.01 tick is 61,837.63).
    pub mid_ticks: i64,
    /// Decimal places of a price tick and of a size lot.
    pub price_decimals: u32,
    pub size_decimals: u32,
    pub symbol: String,
}

impl Default for SynthConfig {
    fn default() -> Self {
        SynthConfig {
            seed: 1,
            start_ns: 1_723_075_200_000_000_000, // 2024-08-08T00:00:00Z
            trades_per_sec: 200.0,
            book_updates_per_sec: 2000.0,
            mid_ticks: 6_183_763,
            price_decimals: 2,
            size_decimals: 5,
            symbol: "BTCUSDT".into(),
        }
    }
}

impl SynthConfig {
    /// The metadata of the simulated market's stream of `kind` (trades, or
    /// `BookL2` for its depth): venue `synth`, the configured symbol and
    /// decimals.
    pub fn meta(&self, kind: StreamKind) -> StreamMeta {
        StreamMeta {
            venue: "synth".into(),
            symbol: self.symbol.clone(),
            kind,
            price_scale: self.price_decimals as u8,
            size_scale: self.size_decimals as u8,
            style: DecimalStyle::Fixed,
            depth: None,
            checksum: None,
        }
    }

    /// The depth stream's first record: the book is empty at the start
    /// (a snapshot of no levels, update id 0), so that a replay of the
    /// stream is reliable from its first record.
    pub fn empty_snapshot(&self) -> BookLevel {
        BookLevel::empty_snapshot(self.start_ns - LATENCY_NS, self.start_ns)
    }
}

/// How long an event takes from the venue to the recorder: a record's
/// exchange time is this much before its receive time, the event's time.
pub const LATENCY_NS: i64 = 1_000_000;

/// A simulated event as a market record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SynthRecord {
    Trade(Trade),
    Level(BookLevel),
}

impl SynthRecord {
    /// Call `f` with the record's bytes as a market stream stores them.
    pub fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        match self {
            SynthRecord::Trade(t) => f(&t.encode()),
            SynthRecord::Level(l) => f(&l.encode()),
        }
    }
}

/// Which side of the book.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Bid,
    Ask,
}

/// One simulated market event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SynthEvent {
    /// A trade; `buyer_is_maker` means the seller was the aggressor.
    Trade {
        ts_ns: i64,
        id: u64,
        price_ticks: i64,
        size_lots: i64,
        buyer_is_maker: bool,
    },
    /// A price level's new size (0 removes the level).
    Level {
        ts_ns: i64,
        update_id: u64,
        side: Side,
        price_ticks: i64,
        size_lots: i64,
    },
}

impl SynthEvent {
    /// The event's exchange time.
    pub fn ts_ns(&self) -> i64 {
        match self {
            SynthEvent::Trade { ts_ns, .. } | SynthEvent::Level { ts_ns, .. } => *ts_ns,
        }
    }

    /// Is this a trade?
    pub fn is_trade(&self) -> bool {
        matches!(self, SynthEvent::Trade { .. })
    }

    /// The event as a market record, received at the event's time
    /// ([`LATENCY_NS`] after the venue's), prices in ticks and sizes in lots
    /// at the configured decimals. A level update is one price level whose
    /// update id follows the previous one's (Binance spot's sequencing).
    pub fn record(&self) -> SynthRecord {
        match *self {
            SynthEvent::Trade {
                ts_ns,
                id,
                price_ticks,
                size_lots,
                buyer_is_maker,
            } => SynthRecord::Trade(Trade {
                exchange_ts: ts_ns - LATENCY_NS,
                local_ts: ts_ns,
                price: price_ticks,
                size: size_lots,
                side: if buyer_is_maker {
                    TradeSide::Sell
                } else {
                    TradeSide::Buy
                },
                trade_id: id.into(),
            }),
            SynthEvent::Level {
                ts_ns,
                update_id,
                side,
                price_ticks,
                size_lots,
            } => SynthRecord::Level(BookLevel {
                exchange_ts: ts_ns - LATENCY_NS,
                local_ts: ts_ns,
                side: match side {
                    Side::Bid => BookSide::Bid,
                    Side::Ask => BookSide::Ask,
                },
                flags: FLAG_LAST,
                price: price_ticks,
                size: size_lots,
                first_update_id: update_id,
                last_update_id: update_id,
                prev_update_id: 0,
                checksum: 0,
            }),
        }
    }

    /// The event as a JSON line in the manner of Binance's streams.
    pub fn to_json(&self, cfg: &SynthConfig, out: &mut String) {
        out.clear();
        let ms = self.ts_ns() / 1_000_000;
        match *self {
            SynthEvent::Trade {
                id,
                price_ticks,
                size_lots,
                buyer_is_maker,
                ..
            } => {
                let _ = write!(
                    out,
                    "{{\"e\":\"trade\",\"E\":{ms},\"s\":\"{}\",\"t\":{id},\"p\":\"",
                    cfg.symbol
                );
                decimal(out, price_ticks, cfg.price_decimals);
                out.push_str("\",\"q\":\"");
                decimal(out, size_lots, cfg.size_decimals);
                let _ = write!(out, "\",\"T\":{ms},\"m\":{buyer_is_maker}}}");
            }
            SynthEvent::Level {
                update_id,
                side,
                price_ticks,
                size_lots,
                ..
            } => {
                let key = if side == Side::Bid { 'b' } else { 'a' };
                let _ = write!(
                    out,
                    "{{\"e\":\"depthUpdate\",\"E\":{ms},\"s\":\"{}\",\"U\":{update_id},\"u\":{update_id},\"{key}\":[[\"",
                    cfg.symbol
                );
                decimal(out, price_ticks, cfg.price_decimals);
                out.push_str("\",\"");
                decimal(out, size_lots, cfg.size_decimals);
                out.push_str("\"]]}");
            }
        }
    }
}

/// Write `v / 10^decimals` with exactly `decimals` places.
fn decimal(out: &mut String, v: i64, decimals: u32) {
    let p = 10i64.pow(decimals);
    let sign = if v < 0 { "-" } else { "" };
    let v = v.unsigned_abs();
    let _ = write!(out, "{sign}{}", v / p as u64);
    if decimals > 0 {
        let _ = write!(out, ".{:0width$}", v % p as u64, width = decimals as usize);
    }
}

/// An endless stream of synthetic events, in time order.
pub struct MarketSim {
    cfg: SynthConfig,
    rng: Rng,
    mid: i64,
    next_trade: f64,
    next_book: f64,
    trade_id: u64,
    update_id: u64,
    /// Prices of the levels each side holds (size above zero).
    bids: BTreeSet<i64>,
    asks: BTreeSet<i64>,
}

impl MarketSim {
    pub fn new(cfg: SynthConfig) -> MarketSim {
        let mut rng = Rng::new(cfg.seed);
        let next_trade = rng.exp(cfg.trades_per_sec);
        let next_book = rng.exp(cfg.book_updates_per_sec);
        MarketSim {
            mid: cfg.mid_ticks,
            cfg,
            rng,
            next_trade,
            next_book,
            trade_id: 1,
            update_id: 1,
            bids: BTreeSet::new(),
            asks: BTreeSet::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &SynthConfig {
        &self.cfg
    }

    fn ts(&self, secs: f64) -> i64 {
        self.cfg.start_ns + (secs * 1e9) as i64
    }

    fn size(&mut self) -> i64 {
        // Heavy-tailed sizes: mostly small, sometimes large.
        let u = self.rng.unit().max(1e-9);
        ((0.001 / u.powf(0.7)) * 10f64.powi(self.cfg.size_decimals as i32)) as i64 + 1
    }
}

impl Iterator for MarketSim {
    type Item = SynthEvent;

    fn next(&mut self) -> Option<SynthEvent> {
        if self.next_trade <= self.next_book {
            let t = self.next_trade;
            self.next_trade += self.rng.exp(self.cfg.trades_per_sec);
            let buyer_is_maker = self.rng.below(2) == 0;
            // A sell aggressor hits the bid (below mid), a buy lifts the ask.
            let price_ticks = if buyer_is_maker {
                self.mid - 1
            } else {
                self.mid + 1
            };
            let ev = SynthEvent::Trade {
                ts_ns: self.ts(t),
                id: self.trade_id,
                price_ticks,
                size_lots: self.size(),
                buyer_is_maker,
            };
            self.trade_id += 1;
            Some(ev)
        } else {
            let t = self.next_book;
            self.next_book += self.rng.exp(self.cfg.book_updates_per_sec);
            // Random walk of the mid, one tick at a time.
            match self.rng.below(20) {
                0 => self.mid += 1,
                1 => self.mid -= 1,
                _ => {}
            }
            let side = if self.rng.below(2) == 0 {
                Side::Bid
            } else {
                Side::Ask
            };
            // Levels close to the mid change most often.
            let dist = 1 + (self.rng.exp(0.2) as i64).min(200);
            let price_ticks = match side {
                Side::Bid => self.mid - dist,
                Side::Ask => self.mid + dist,
            };
            let size_lots = if self.rng.below(5) == 0 {
                0
            } else {
                self.size()
            };
            // Asks stay above the mid and bids below it: a level the mid
            // has walked onto goes first (the walk moves one tick, so at
            // most one level is on it).
            let (side, price_ticks, size_lots) = if self.asks.remove(&self.mid) {
                (Side::Ask, self.mid, 0)
            } else if self.bids.remove(&self.mid) {
                (Side::Bid, self.mid, 0)
            } else {
                let levels = match side {
                    Side::Bid => &mut self.bids,
                    Side::Ask => &mut self.asks,
                };
                if size_lots == 0 {
                    levels.remove(&price_ticks);
                } else {
                    levels.insert(price_ticks);
                }
                (side, price_ticks, size_lots)
            };
            let ev = SynthEvent::Level {
                ts_ns: self.ts(t),
                update_id: self.update_id,
                side,
                price_ticks,
                size_lots,
            };
            self.update_id += 1;
            Some(ev)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_and_time_ordered() {
        let a: Vec<_> = MarketSim::new(SynthConfig::default()).take(5000).collect();
        let b: Vec<_> = MarketSim::new(SynthConfig::default()).take(5000).collect();
        assert_eq!(a, b);
        assert!(a.windows(2).all(|w| w[0].ts_ns() <= w[1].ts_ns()));
        let c: Vec<_> = MarketSim::new(SynthConfig {
            seed: 2,
            ..SynthConfig::default()
        })
        .take(5000)
        .collect();
        assert_ne!(a, c);
    }

    #[test]
    fn the_depth_records_make_a_reliable_book_that_never_crosses() {
        use crate::book::replay::{BookKind, Replay};
        let cfg = SynthConfig::default();
        let mut r = Replay::new(BookKind::L2);
        r.apply_level(0, &cfg.empty_snapshot(), &mut |_, _| {});
        let mut seq = 1;
        let mut trades = 0;
        for ev in MarketSim::new(cfg.clone()).take(300_000) {
            match ev.record() {
                SynthRecord::Level(l) => {
                    assert_eq!(BookLevel::decode(&l.encode()).unwrap(), l);
                    r.apply_level(seq, &l, &mut |_, _| {});
                    seq += 1;
                    assert!(!r.is_crossed(), "crossed after update {seq}");
                }
                SynthRecord::Trade(t) => {
                    assert_eq!(Trade::decode(&t.encode()).unwrap(), t);
                    trades += 1;
                }
            }
        }
        assert!(r.is_reliable(), "{:?}", r.state());
        assert_eq!(r.gaps(), 0);
        let (bids, asks) = r.depth(10);
        assert_eq!((bids.len(), asks.len()), (10, 10));
        assert!(trades > 20_000, "{trades}");
    }

    #[test]
    fn rates_are_close_to_the_configured_ones() {
        let cfg = SynthConfig::default();
        let evs: Vec<_> = MarketSim::new(cfg.clone()).take(220_000).collect();
        let secs = (evs.last().unwrap().ts_ns() - cfg.start_ns) as f64 / 1e9;
        let trades = evs.iter().filter(|e| e.is_trade()).count() as f64;
        let rate = trades / secs;
        assert!(
            (rate - cfg.trades_per_sec).abs() < cfg.trades_per_sec * 0.05,
            "{rate}"
        );
    }

    #[test]
    fn json_has_exact_decimals() {
        let cfg = SynthConfig::default();
        let ev = SynthEvent::Trade {
            ts_ns: cfg.start_ns,
            id: 7,
            price_ticks: 6_183_763,
            size_lots: 1234,
            buyer_is_maker: true,
        };
        let mut s = String::new();
        ev.to_json(&cfg, &mut s);
        assert_eq!(s, "{\"e\":\"trade\",\"E\":1723075200000,\"s\":\"BTCUSDT\",\"t\":7,\"p\":\"61837.63\",\"q\":\"0.01234\",\"T\":1723075200000,\"m\":true}");
    }
}

/// What [`record_market`] wrote: records of the trade and depth streams.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Recorded {
    pub trades: u64,
    pub depth: u64,
}

/// Record the simulated market of `cfg` from its start until `end_ns` as
/// two market streams under `root`: `trades` and `depth` (the depth stream
/// starting with the empty book), each record at its receive time, files
/// rolled by record time as `opts` says (its roll interval, durability and
/// compaction).
pub fn record_market(
    root: &std::path::Path,
    trades: &eventstore_log::StreamName,
    depth: &eventstore_log::StreamName,
    cfg: &SynthConfig,
    end_ns: i64,
    opts: eventstore_log::WriterOptions,
) -> crate::Result<Recorded> {
    use eventstore_log::{RollBy, StreamWriter};
    let opts = opts.roll_by(RollBy::RecordTime);
    let mut tw = StreamWriter::open(root, trades, opts.clone())?;
    let mut dw = StreamWriter::open(root, depth, opts)?;
    if tw.next_seq() != 0 || dw.next_seq() != 0 {
        return Err(crate::Error::Meta {
            path: trades.dir(root),
            reason: format!("{trades} or {depth} already holds records: record into new streams"),
        });
    }
    cfg.meta(StreamKind::Trades).store(&trades.dir(root))?;
    cfg.meta(StreamKind::BookL2).store(&depth.dir(root))?;
    dw.append_at(cfg.start_ns, &cfg.empty_snapshot().encode())?;
    let mut n = Recorded {
        trades: 0,
        depth: 1,
    };
    for ev in MarketSim::new(cfg.clone()).take_while(|e| e.ts_ns() < end_ns) {
        let ts = ev.ts_ns();
        if ev.is_trade() {
            ev.record().with_bytes(|b| tw.append_at(ts, b))?;
            n.trades += 1;
        } else {
            ev.record().with_bytes(|b| dw.append_at(ts, b))?;
            n.depth += 1;
        }
    }
    tw.close()?;
    dw.close()?;
    Ok(n)
}
