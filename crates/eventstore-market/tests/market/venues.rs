//! The venues of the cryptofeed captures in `../shared/data/market/
//! cryptofeed/`: each imported into normalized records with its venue's
//! sequencing and checks, every message kind imported or counted by name,
//! and each book equal, after every message, to a replay of the messages
//! done here directly from the JSON.

use crate::common::{market_data, stored};
use eventstore_log::{RollInterval, StreamName};
use eventstore_market::book::replay::{Applied, BookKind, Cause, Replay};
use eventstore_market::import::{import_all, Format, ImportOptions, ImportReport};
use eventstore_market::read::orders::OrderStreamReader;
use eventstore_market::records::decimal;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn minutely() -> ImportOptions {
    ImportOptions {
        roll: RollInterval::MINUTELY,
        ..ImportOptions::default()
    }
}

/// A book's levels: (bids best first, asks best first).
type Depth = (Vec<(i64, i64)>, Vec<(i64, i64)>);

/// A book as the messages print it: price -> size, strings parsed exactly.
#[derive(Default, Clone, Debug)]
struct Direct {
    bids: BTreeMap<i64, i64>,
    asks: BTreeMap<i64, i64>,
}

impl Direct {
    fn set(&mut self, bid: bool, p: i64, q: i64) {
        let side = if bid { &mut self.bids } else { &mut self.asks };
        if q == 0 {
            side.remove(&p);
        } else {
            side.insert(p, q);
        }
    }

    /// (bids best first, asks best first)
    fn depth(&self) -> Depth {
        (
            self.bids.iter().rev().map(|(p, q)| (*p, *q)).collect(),
            self.asks.iter().map(|(p, q)| (*p, *q)).collect(),
        )
    }
}

/// Every stored update of an order stream, replayed record by record:
/// the depth after each record flagged last (an exchange event's end),
/// the gaps seen, and whether the book ever crossed while reliable.
fn replayed(root: &Path, name: &str) -> (Vec<Depth>, Vec<Cause>, bool) {
    let r = OrderStreamReader::open(root, &StreamName::new(name).unwrap()).unwrap();
    let mut book = Replay::new(BookKind::L2);
    if let Some(c) = r.meta().checksummer() {
        book.verify_checksums(c);
    }
    let mut out = Vec::new();
    let mut gaps = Vec::new();
    let mut crossed = false;
    let levels = stored(root, name, |b| {
        eventstore_market::BookLevel::decode(b).unwrap()
    });
    for (seq, l) in levels.iter().enumerate() {
        book.apply_level(seq as u64, l, &mut |_, a| {
            if let Applied::Gap(g) = a {
                gaps.push(g.cause);
            }
        });
        if l.flags & eventstore_market::records::level::FLAG_LAST != 0 {
            out.push(book.depth(usize::MAX));
            crossed |= book.is_reliable() && book.is_crossed();
        }
    }
    (out, gaps, crossed)
}

fn okx_files(data: &Path) -> Vec<PathBuf> {
    vec![
        data.join("cryptofeed/OKEX.ws.1.0"),
        data.join("cryptofeed/OKEX.0"),
    ]
}

/// The OKX book messages of the capture, per instrument: (receive line,
/// snapshot?, bids, asks as strings, checksum).
type OkxBook = (bool, Vec<(String, String)>, Vec<(String, String)>, i64);

fn okx_books(path: &Path) -> BTreeMap<String, Vec<OkxBook>> {
    let mut out: BTreeMap<String, Vec<OkxBook>> = BTreeMap::new();
    eventstore_market::import::input::for_each_line(path, |_, line| {
        let line = line.unwrap();
        let Some((_, json)) = line.split_once(": ") else {
            return Ok(());
        };
        if line.contains(" <- ") {
            return Ok(());
        }
        let v: serde_json::Value = serde_json::from_str(json).unwrap();
        if v["arg"]["channel"] != "books-l2-tbt" || v.get("data").is_none() {
            return Ok(());
        }
        let d = &v["data"][0];
        let side = |k: &str| {
            d[k].as_array()
                .unwrap()
                .iter()
                .map(|l| {
                    (
                        l[0].as_str().unwrap().to_string(),
                        l[1].as_str().unwrap().to_string(),
                    )
                })
                .collect::<Vec<_>>()
        };
        out.entry(v["arg"]["instId"].as_str().unwrap().to_ascii_lowercase())
            .or_default()
            .push((
                v["action"] == "snapshot",
                side("bids"),
                side("asks"),
                d["checksum"].as_i64().unwrap(),
            ));
        Ok(())
    })
    .unwrap();
    out
}

/// All 1,504 OKX checksums verified through stored streams rolled
/// minutely, each file from its own snapshot; every book equal to a direct
/// replay of the messages after every message, never crossed; every
/// message kind imported or counted by name.
#[test]
fn okx_books_pass_every_venue_checksum_and_equal_a_direct_replay() {
    let Some(data) = market_data() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let rep: ImportReport =
        import_all(Format::Okx, &okx_files(&data), tmp.path(), &minutely()).unwrap();
    let books = okx_books(&data.join("cryptofeed/OKEX.ws.1.0"));
    assert_eq!(books.len(), 10);
    let (mut ok, mut files) = (0, 0);
    for (inst, msgs) in &books {
        let name = format!("okx/{inst}/depth");
        let r = OrderStreamReader::open(tmp.path(), &StreamName::new(&name).unwrap()).unwrap();
        let meta = r.meta().clone();
        // File by file, each from its own snapshot.
        let info =
            eventstore_log::stream_info(&StreamName::new(&name).unwrap().dir(tmp.path())).unwrap();
        for f in &info.files {
            let l = r
                .ledger(f.min_ts.unwrap(), f.max_ts.map(|t| t + 1))
                .unwrap();
            assert_eq!(l.files.len(), 1);
            let (good, bad) = l.checksums();
            assert_eq!(bad, 0, "{name}");
            assert_eq!(l.gaps(), 0, "{name}");
            ok += good;
            files += 1;
        }
        // Straight through, against the messages applied here.
        let (depths, gaps, crossed) = replayed(tmp.path(), &name);
        assert!(gaps.is_empty() && !crossed, "{name}");
        assert_eq!(depths.len(), msgs.len(), "{name}: one event per message");
        let mut direct = Direct::default();
        let p = |s: &str| decimal::parse(s, meta.price_scale).unwrap();
        let q = |s: &str| decimal::parse(s, meta.size_scale).unwrap();
        for (i, (snapshot, bids, asks, _)) in msgs.iter().enumerate() {
            if *snapshot {
                direct = Direct::default();
            }
            for (pr, sz) in bids {
                direct.set(true, p(pr), q(sz));
            }
            for (pr, sz) in asks {
                direct.set(false, p(pr), q(sz));
            }
            assert_eq!(depths[i], direct.depth(), "{name} after message {}", i + 1);
        }
    }
    assert_eq!(ok, 1_504, "checksums verified");
    // The import ran the same checks and said so.
    let at_import: u64 = rep.books.values().map(|b| b.checksums_ok).sum();
    assert_eq!(at_import, 1_504);
    assert!(rep
        .books
        .values()
        .all(|b| b.checksums_failed == 0 && b.gaps == 0 && b.reliable_at_end));
    assert!(files > 10, "{files} files: the streams rolled minutely");
    // Trades, with the venue's ids; everything else counted by name.
    assert!(rep.streams.keys().any(|k| k.ends_with("/trades")));
    // 46 ticker messages (the other 20 mentions are subscriptions).
    assert_eq!(rep.other_kinds.get("tickers"), Some(&46), "{rep:?}");
    assert!(rep.other_kinds.contains_key("event subscribe"), "{rep:?}");
    assert!(rep.other_kinds.contains_key("rest answer"), "{rep:?}");
    let imported: u64 = rep.streams.values().sum();
    assert!(imported > 5_000, "{rep:?}");
}

/// A size changed in one real update: its checksum fails, the ledger
/// records the failure as a gap of that cause, and the book is unreliable
/// from there until the next snapshot (here a snapshot of the true book,
/// as a resubscription would bring, inserted later in the capture).
#[test]
fn an_okx_checksum_failure_is_detected_recorded_and_flags_the_book_until_the_next_snapshot() {
    let Some(data) = market_data() else { return };
    let src = data.join("cryptofeed/OKEX.ws.1.0");
    let inst = "ONT-USDT";
    let mut lines: Vec<String> = std::fs::read_to_string(&src)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    let updates: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].contains(&format!("\"instId\":\"{inst}\"}},\"action\":\"update\"")))
        .collect();
    // Damage the 100th update: its first bid's size plus one.
    let at = updates[100];
    let (ts, json) = lines[at]
        .clone()
        .split_once(": ")
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .unwrap();
    let ts = ts.as_str();
    let mut v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let d = &mut v["data"][0];
    let side = if d["bids"].as_array().unwrap().is_empty() {
        "asks"
    } else {
        "bids"
    };
    let size: f64 = d[side][0][1].as_str().unwrap().parse().unwrap();
    d[side][0][1] = serde_json::json!(format!("{}", size + 1.0));
    lines[at] = format!("{ts}: {v}");
    // 200 updates later, the true book as a snapshot (from a clean import).
    let clean = tempfile::tempdir().unwrap();
    import_all(
        Format::Okx,
        std::slice::from_ref(&src),
        clean.path(),
        &minutely(),
    )
    .unwrap();
    let name = StreamName::new("okx/ont-usdt/depth").unwrap();
    let later = updates[300];
    let (later_ts, later_json) = lines[later]
        .clone()
        .split_once(": ")
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .unwrap();
    let later_ts = later_ts.as_str();
    let lv: serde_json::Value = serde_json::from_str(&later_json).unwrap();
    let recv = decimal::parse(later_ts, 9).unwrap();
    let r = OrderStreamReader::open(clean.path(), &name).unwrap();
    let m = r.meta().clone();
    let truth = r.book_at(recv + 1).unwrap();
    let (bids, asks) = truth.replay.depth(usize::MAX);
    let fmt = |v: &[(i64, i64)]| -> Vec<serde_json::Value> {
        v.iter()
            .map(|(p, q)| {
                serde_json::json!([
                    decimal::format(*p, m.price_scale, m.style),
                    decimal::format(*q, m.size_scale, m.style),
                    "0",
                    "1"
                ])
            })
            .collect()
    };
    let snap = serde_json::json!({
        "arg": {"channel": "books-l2-tbt", "instId": inst},
        "action": "snapshot",
        "data": [{"asks": fmt(&asks), "bids": fmt(&bids), "ts": lv["data"][0]["ts"], "checksum": lv["data"][0]["checksum"]}],
    });
    lines.insert(later + 1, format!("{later_ts}: {snap}"));
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("OKEX.ws.damaged");
    std::fs::write(&bad, lines.join("\n")).unwrap();
    let root = dir.path().join("root");
    let rep_bad = import_all(Format::Okx, &[bad], &root, &minutely()).unwrap();
    let r = OrderStreamReader::open(&root, &name).unwrap();
    let ledger = r.ledger(i64::MIN, None).unwrap();
    let (good, failed) = ledger.checksums();
    assert_eq!(failed, 1, "one checksum fails");
    assert_eq!(
        rep_bad.books[name.as_str()].checksums_failed,
        1,
        "found at import"
    );
    assert_eq!(
        good,
        561 - 1 - 200 + 1,
        "none checked while unreliable, the snapshot's again"
    );
    let entries: Vec<_> = ledger.entries().copied().collect();
    use eventstore_market::read::orders::Entry;
    let gap = entries
        .iter()
        .find_map(|e| match e {
            Entry::Gap(g) => Some(*g),
            _ => None,
        })
        .unwrap();
    assert_eq!(gap.cause, Cause::ChecksumMismatch);
    assert_eq!(gap.local_ts, decimal::parse(ts, 9).unwrap());
    let healed = entries
        .iter()
        .filter_map(|e| match e {
            Entry::Reliable { local_ts, .. } => Some(*local_ts),
            _ => None,
        })
        .next_back()
        .unwrap();
    assert_eq!(healed, recv, "reliable again at the inserted snapshot");
    let mid = r.book_at((gap.local_ts + recv) / 2).unwrap().replay.state();
    assert!(!mid.reliable);
    assert_eq!(
        (mid.cause, mid.since),
        (Cause::ChecksumMismatch, gap.local_ts)
    );
    assert!(r.book_at(recv + 1).unwrap().replay.is_reliable());
}

/// A venue's book messages, applied directly: per stream, for each
/// message, (snapshot?, [(bid?, price, size)]) as printed.
type Messages = BTreeMap<String, Vec<(bool, Vec<(bool, String, String)>)>>;

/// Check every depth stream of `root` against `msgs`: one event per
/// message, the book equal to the messages applied directly after each,
/// never a gap, never crossed.
fn books_equal_direct_replay(root: &Path, venue: &str, msgs: &Messages) -> usize {
    let mut checked = 0;
    for (symbol, list) in msgs {
        let name = format!("{venue}/{symbol}/depth");
        let r = OrderStreamReader::open(root, &StreamName::new(&name).unwrap()).unwrap();
        let m = r.meta().clone();
        let (depths, gaps, crossed) = replayed(root, &name);
        assert!(gaps.is_empty(), "{name}: {gaps:?}");
        assert!(!crossed, "{name} crossed");
        assert_eq!(depths.len(), list.len(), "{name}: one event per message");
        let mut direct = Direct::default();
        for (i, (snapshot, levels)) in list.iter().enumerate() {
            if *snapshot {
                direct = Direct::default();
            }
            for (bid, p, q) in levels {
                direct.set(
                    *bid,
                    decimal::parse(p, m.price_scale).unwrap(),
                    decimal::parse(q, m.size_scale).unwrap(),
                );
            }
            assert_eq!(depths[i], direct.depth(), "{name} after message {}", i + 1);
            checked += 1;
        }
        assert!(r.book_at(i64::MAX).unwrap().replay.is_reliable(), "{name}");
    }
    checked
}

/// The JSON messages of a cryptofeed capture (what the venue sent).
fn messages(path: &Path) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    eventstore_market::import::input::for_each_line(path, |_, line| {
        let line = line.unwrap();
        if line.contains(" <- ") || line.contains(" <-> ") {
            return Ok(());
        }
        if let Some((_, json)) = line.split_once(": ") {
            out.push(serde_json::from_str(json).unwrap());
        }
        Ok(())
    })
    .unwrap();
    out
}

#[test]
fn coinbase_level2_books_equal_a_direct_replay_and_matches_are_trades() {
    let Some(data) = market_data() else { return };
    let ws = data.join("cryptofeed/COINBASE.ws.28.0");
    let tmp = tempfile::tempdir().unwrap();
    let rep = import_all(
        Format::Coinbase,
        &[ws.clone(), data.join("cryptofeed/COINBASE.0")],
        tmp.path(),
        &minutely(),
    )
    .unwrap();
    let mut msgs: Messages = BTreeMap::new();
    let mut matches: BTreeMap<String, Vec<(i64, String, String, String)>> = BTreeMap::new();
    for v in messages(&ws) {
        let product = v["product_id"]
            .as_str()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let s = |l: &serde_json::Value, i: usize| l[i].as_str().unwrap().to_string();
        match v["type"].as_str().unwrap() {
            "snapshot" => {
                let mut levels = Vec::new();
                for (key, bid) in [("bids", true), ("asks", false)] {
                    for l in v[key].as_array().unwrap() {
                        levels.push((bid, s(l, 0), s(l, 1)));
                    }
                }
                msgs.entry(product).or_default().push((true, levels));
            }
            "l2update" => {
                let levels = v["changes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| (s(c, 0) == "buy", s(c, 1), s(c, 2)))
                    .collect();
                msgs.entry(product).or_default().push((false, levels));
            }
            "match" | "last_match" => matches.entry(product).or_default().push((
                v["trade_id"].as_i64().unwrap(),
                v["price"].as_str().unwrap().to_string(),
                v["size"].as_str().unwrap().to_string(),
                v["side"].as_str().unwrap().to_string(),
            )),
            _ => {}
        }
    }
    assert_eq!(msgs.len(), 10);
    let checked = books_equal_direct_replay(tmp.path(), "coinbase", &msgs);
    assert_eq!(checked, 9_719 + 10);
    // Trades: every match, the aggressor opposite to the maker's side.
    let mut n = 0;
    for (product, list) in &matches {
        let name = StreamName::new(&format!("coinbase/{product}/trades")).unwrap();
        let mut rd =
            eventstore_market::TradeStreamReader::open(tmp.path(), &name, None, None).unwrap();
        for (id, _, size, side) in list {
            let t = rd.try_next().unwrap().unwrap();
            assert_eq!(t.trade_id, *id as u64);
            let m = rd.meta().clone();
            assert_eq!(
                decimal::parse(size, m.size_scale).unwrap(),
                t.size,
                "{product} trade {id}"
            );
            assert_eq!(t.side.as_str(), if side == "sell" { "buy" } else { "sell" });
            n += 1;
        }
    }
    assert_eq!(n, 107);
    assert_eq!(rep.other_kinds.get("ticker"), Some(&107));
    assert_eq!(rep.other_kinds.get("subscriptions"), Some(&3));
    assert_eq!(rep.other, rep.other_kinds.values().sum::<u64>());
}

#[test]
fn bybit_order_book_l2_books_equal_a_direct_replay_and_trades_keep_their_ids() {
    let Some(data) = market_data() else { return };
    let ws = data.join("cryptofeed/BYBIT.ws.26.0");
    let tmp = tempfile::tempdir().unwrap();
    let rep = import_all(
        Format::Bybit,
        &[ws.clone(), data.join("cryptofeed/BYBIT.0")],
        tmp.path(),
        &minutely(),
    )
    .unwrap();
    let mut msgs: Messages = BTreeMap::new();
    let mut trades = 0;
    let mut first_id = None;
    for v in messages(&ws) {
        let Some(topic) = v["topic"].as_str() else {
            continue;
        };
        let (channel, symbol) = topic.split_once('.').unwrap();
        let symbol = symbol.to_ascii_lowercase();
        let lv = |l: &serde_json::Value, size: Option<&str>| {
            (
                l["side"] == "Buy",
                l["price"].as_str().unwrap().to_string(),
                size.map(String::from)
                    .unwrap_or_else(|| l["size"].to_string()),
            )
        };
        if channel == "trade" {
            trades += v["data"].as_array().unwrap().len();
            first_id.get_or_insert((
                symbol,
                v["data"][0]["trade_id"].as_str().unwrap().to_string(),
            ));
            continue;
        }
        if v["type"] == "snapshot" {
            let levels = v["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| lv(l, None))
                .collect();
            msgs.entry(symbol).or_default().push((true, levels));
        } else {
            let mut levels = Vec::new();
            for key in ["delete", "update", "insert"] {
                for l in v["data"][key].as_array().unwrap() {
                    levels.push(lv(l, (key == "delete").then_some("0")));
                }
            }
            msgs.entry(symbol).or_default().push((false, levels));
        }
    }
    assert_eq!(msgs.len(), 2);
    let checked = books_equal_direct_replay(tmp.path(), "bybit", &msgs);
    assert_eq!(checked, 1_018);
    let stored: u64 = rep
        .streams
        .iter()
        .filter(|(k, _)| k.ends_with("/trades"))
        .map(|(_, v)| v)
        .sum();
    assert_eq!(stored, trades as u64);
    let (symbol, id) = first_id.unwrap();
    let name = StreamName::new(&format!("bybit/{symbol}/trades")).unwrap();
    let t = eventstore_market::TradeStreamReader::open(tmp.path(), &name, None, None)
        .unwrap()
        .try_next()
        .unwrap()
        .unwrap();
    assert_eq!(t.trade_id.to_string(), id);
    assert_eq!(
        rep.other_kinds.get("subscription answer"),
        Some(&4),
        "{rep:?}"
    );
    assert_eq!(rep.other, rep.other_kinds.values().sum::<u64>());
}

/// No Kraken recording is in the shared data: this is a `book-10` session
/// built here in the venue's documented message shapes, its checksums
/// computed here from the strings as sent (Kraken's documented rule and
/// zlib's CRC-32, not the crate's formatting). It exercises what Kraken
/// asks of a client: republished levels (`"r"`), updates in one object or
/// two, and truncation to the subscribed depth, which matters when a level
/// that fell out of the 10 is gone when the book comes back to it.
#[test]
fn kraken_book_checksums_pass_with_republish_and_truncation_and_a_bad_one_is_a_gap() {
    use eventstore_market::book::checksum::crc32;
    type Side = BTreeMap<String, String>; // price -> volume, as sent
    fn digits(s: &str) -> String {
        s.replace('.', "").trim_start_matches('0').to_string()
    }
    fn checksum(asks: &Side, bids: &Side) -> u32 {
        let key = |p: &String| p.parse::<f64>().unwrap();
        let mut a: Vec<_> = asks.iter().collect();
        a.sort_by(|x, y| key(x.0).total_cmp(&key(y.0)));
        let mut b: Vec<_> = bids.iter().collect();
        b.sort_by(|x, y| key(y.0).total_cmp(&key(x.0)));
        let mut text = String::new();
        for (p, q) in a.iter().take(10).chain(b.iter().take(10)) {
            text.push_str(&digits(p));
            text.push_str(&digits(q));
        }
        crc32(text.as_bytes())
    }
    fn truncate(side: &mut Side, bids: bool) {
        while side.len() > 10 {
            let key = |p: &String| p.parse::<f64>().unwrap();
            let worst = side
                .keys()
                .cloned()
                .reduce(|x, y| if (key(&x) < key(&y)) == bids { x } else { y })
                .unwrap();
            side.remove(&worst);
        }
    }
    let price = |v: f64| format!("{v:.1}");
    let (mut asks, mut bids) = (Side::new(), Side::new());
    for i in 0..10 {
        asks.insert(
            price(45285.2 + i as f64),
            format!("{:.8}", 0.001 * (i + 1) as f64),
        );
        bids.insert(
            price(45283.5 - i as f64),
            format!("{:.8}", 0.002 * (i + 1) as f64),
        );
    }
    let lv = |p: &str, q: &str, r: bool| {
        let mut v = serde_json::json!([p, q, "1582905486.493008"]);
        if r {
            v.as_array_mut().unwrap().push(serde_json::json!("r"));
        }
        v
    };
    let mut lines = vec![format!(
        "1582905486.5: {}",
        serde_json::json!([
            336,
            {"as": asks.iter().map(|(p, q)| lv(p, q, false)).collect::<Vec<_>>(),
             "bs": bids.iter().map(|(p, q)| lv(p, q, false)).collect::<Vec<_>>()},
            "book-10", "XBT/USD"
        ])
    )];
    let mut t = 1582905487.0;
    let mut update = |asks: &mut Side,
                      bids: &mut Side,
                      a: Vec<(String, String, bool)>,
                      b: Vec<(String, String, bool)>,
                      two: bool| {
        for (p, q, _) in &a {
            if q.parse::<f64>().unwrap() == 0.0 {
                asks.remove(p);
            } else {
                asks.insert(p.clone(), q.clone());
            }
        }
        for (p, q, _) in &b {
            if q.parse::<f64>().unwrap() == 0.0 {
                bids.remove(p);
            } else {
                bids.insert(p.clone(), q.clone());
            }
        }
        truncate(asks, false);
        truncate(bids, true);
        let c = checksum(asks, bids).to_string();
        let a: Vec<_> = a.iter().map(|(p, q, r)| lv(p, q, *r)).collect();
        let b: Vec<_> = b.iter().map(|(p, q, r)| lv(p, q, *r)).collect();
        let msg = if two {
            serde_json::json!([336, {"a": a}, {"b": b, "c": c}, "book-10", "XBT/USD"])
        } else if a.is_empty() {
            serde_json::json!([336, {"b": b, "c": c}, "book-10", "XBT/USD"])
        } else {
            serde_json::json!([336, {"a": a, "c": c}, "book-10", "XBT/USD"])
        };
        t += 0.25;
        format!("{t:.6}: {msg}")
    };
    let s = |p: f64, q: &str| (price(p), q.to_string(), false);
    // 1. A better bid: 11 bids, the worst (45274.5) falls out.
    lines.push(update(
        &mut asks,
        &mut bids,
        vec![],
        vec![s(45284.0, "0.50000000")],
        false,
    ));
    // 2. Both sides in two objects; an ask republished.
    lines.push(update(
        &mut asks,
        &mut bids,
        vec![(price(45286.2), "0.00400000".into(), true)],
        vec![s(45283.5, "0.00300000")],
        true,
    ));
    // 3. A bid removed: Kraken republishes the next existing level, here
    // 45273.5 (45274.5 was cancelled while out of the 10, unseen).
    lines.push(update(
        &mut asks,
        &mut bids,
        vec![],
        vec![
            s(45280.5, "0.00000000"),
            (price(45273.5), "0.07000000".into(), true),
        ],
        false,
    ));
    // 4. A better ask: the worst ask falls out.
    lines.push(update(
        &mut asks,
        &mut bids,
        vec![s(45284.9, "1.25000000")],
        vec![],
        false,
    ));
    lines.push(r#"{"event":"heartbeat"}"#.to_string());
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("KRAKEN.ws.0");
    std::fs::write(&input, lines.join("\n")).unwrap();
    let root = dir.path().join("root");
    let rep = import_all(
        Format::Kraken,
        std::slice::from_ref(&input),
        &root,
        &ImportOptions::default(),
    )
    .unwrap();
    assert_eq!(rep.other_kinds.get("heartbeat"), Some(&1));
    let name = StreamName::new("kraken/xbt-usd/book-10").unwrap();
    let r = OrderStreamReader::open(&root, &name).unwrap();
    assert_eq!(r.meta().depth, Some(10));
    let l = r.ledger(i64::MIN, None).unwrap();
    assert_eq!(l.checksums(), (4, 0), "every update's checksum matches");
    assert_eq!(l.gaps(), 0);
    let (b, a) = r.book_at(i64::MAX).unwrap().replay.depth(usize::MAX);
    assert_eq!(
        (b.len(), a.len()),
        (10, 10),
        "truncated to the subscribed depth"
    );
    // The same session without truncation fails at update 3.
    let mut untruncated = Replay::new(BookKind::L2);
    untruncated.verify_checksums(r.meta().checksummer().unwrap());
    for (seq, lv) in stored(&root, name.as_str(), |b| {
        eventstore_market::BookLevel::decode(b).unwrap()
    })
    .iter()
    .enumerate()
    {
        untruncated.apply_level(seq as u64, lv, &mut |_, _| {});
    }
    assert_eq!(untruncated.checksums(), (2, 1));
    // A checksum changed in transit: the ledger has the mismatch, and the
    // book stays unreliable (no snapshot follows).
    let bad: Vec<String> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            if i != 2 {
                return l.clone();
            }
            let (head, rest) = l.split_once("\"c\":\"").unwrap();
            let (c, tail) = rest.split_once('"').unwrap();
            let other = c.parse::<u32>().unwrap().wrapping_add(1);
            format!("{head}\"c\":\"{other}\"{tail}")
        })
        .collect();
    let input2 = dir.path().join("KRAKEN.ws.bad");
    std::fs::write(&input2, bad.join("\n")).unwrap();
    let root2 = dir.path().join("root2");
    import_all(Format::Kraken, &[input2], &root2, &ImportOptions::default()).unwrap();
    let r2 = OrderStreamReader::open(&root2, &name).unwrap();
    let l2 = r2.ledger(i64::MIN, None).unwrap();
    assert_eq!(l2.checksums(), (1, 1));
    assert_eq!(l2.gaps(), 1);
    let end = r2.book_at(i64::MAX).unwrap().replay.state();
    assert_eq!((end.reliable, end.cause), (false, Cause::ChecksumMismatch));
}

/// The real ONT-USDT books of the OKX capture, given the `seqId` and
/// `prevSeqId` that OKX v5 sends today (the 2021 capture predates them),
/// chain without a gap; with one update taken out, the next one is a gap
/// of cause "missing update" naming the id expected. The same books as
/// `books5` messages (each the top 5) and `bbo-tbt` (the best levels), as
/// OKX sends those channels, give the top 5 and the best levels after
/// every message.
#[test]
fn okx_seq_ids_chain_and_books5_and_bbo_give_the_top_levels() {
    use eventstore_market::read::orders::Entry;
    let Some(data) = market_data() else { return };
    let src = data.join("cryptofeed/OKEX.ws.1.0");
    let inst = "ONT-USDT";
    let mut with_ids = Vec::new();
    let mut derived = Vec::new();
    let (mut seq, mut prev) = (100_000i64, -1i64);
    let mut direct = (
        BTreeMap::<String, String>::new(),
        BTreeMap::<String, String>::new(),
    );
    let key = |p: &String| p.parse::<f64>().unwrap();
    for line in std::fs::read_to_string(&src).unwrap().lines() {
        let Some((ts, json)) = line.split_once(": ") else {
            continue;
        };
        if line.contains(" <- ") || !json.contains(&format!("\"instId\":\"{inst}\"}},\"action\"")) {
            continue;
        }
        let mut v: serde_json::Value = serde_json::from_str(json).unwrap();
        if v["action"] == "snapshot" {
            direct = Default::default();
        }
        for (k, side) in [("bids", &mut direct.0), ("asks", &mut direct.1)] {
            for l in v["data"][0][k].as_array().unwrap() {
                let (p, q) = (
                    l[0].as_str().unwrap().to_string(),
                    l[1].as_str().unwrap().to_string(),
                );
                if q == "0" {
                    side.remove(&p);
                } else {
                    side.insert(p, q);
                }
            }
        }
        seq += 1 + (seq % 3);
        v["data"][0]["seqId"] = serde_json::json!(seq);
        v["data"][0]["prevSeqId"] = serde_json::json!(prev);
        prev = seq;
        with_ids.push(format!("{ts}: {v}"));
        // The top 5 and the best levels, as books5 and bbo-tbt carry them.
        let mut bids: Vec<_> = direct.0.iter().collect();
        bids.sort_by(|a, b| key(b.0).total_cmp(&key(a.0)));
        let mut asks: Vec<_> = direct.1.iter().collect();
        asks.sort_by(|a, b| key(a.0).total_cmp(&key(b.0)));
        let top = |s: &[(&String, &String)], n: usize| -> Vec<serde_json::Value> {
            s.iter()
                .take(n)
                .map(|(p, q)| serde_json::json!([p, q, "0", "1"]))
                .collect()
        };
        let ms = v["data"][0]["ts"].clone();
        for (channel, n) in [("books5", 5), ("bbo-tbt", 1)] {
            let m = serde_json::json!({
                "arg": {"channel": channel, "instId": inst},
                "data": [{"asks": top(&asks, n), "bids": top(&bids, n), "ts": ms}],
            });
            derived.push((format!("{ts}: {m}"), bids.len().min(n), asks.len().min(n)));
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, lines: &[String]| {
        let p = dir.path().join(name);
        std::fs::write(&p, lines.join("\n")).unwrap();
        p
    };
    // Chained: no gap, every checksum passes.
    let root = dir.path().join("chained");
    import_all(
        Format::Okx,
        &[write("ids.txt", &with_ids)],
        &root,
        &minutely(),
    )
    .unwrap();
    let name = StreamName::new("okx/ont-usdt/depth").unwrap();
    let l = OrderStreamReader::open(&root, &name)
        .unwrap()
        .ledger(i64::MIN, None)
        .unwrap();
    assert_eq!((l.gaps(), l.checksums()), (0, (561, 0)));
    // One update out: a gap, with the id expected.
    let mut cut = with_ids.clone();
    let gone = cut.remove(200);
    let gone: serde_json::Value = serde_json::from_str(gone.split_once(": ").unwrap().1).unwrap();
    let root = dir.path().join("cut");
    import_all(Format::Okx, &[write("cut.txt", &cut)], &root, &minutely()).unwrap();
    let l = OrderStreamReader::open(&root, &name)
        .unwrap()
        .ledger(i64::MIN, None)
        .unwrap();
    let gaps: Vec<_> = l
        .entries()
        .filter_map(|e| match e {
            Entry::Gap(g) => Some(*g),
            _ => None,
        })
        .collect();
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    assert_eq!(gaps[0].cause, Cause::MissingUpdate);
    assert_eq!(
        gaps[0].expected,
        gone["data"][0]["prevSeqId"].as_u64().unwrap()
    );
    assert_eq!(
        gaps[0].prev_update_id,
        gone["data"][0]["seqId"].as_u64().unwrap()
    );
    // books5 and bbo-tbt.
    let root = dir.path().join("top");
    let lines: Vec<String> = derived.iter().map(|d| d.0.clone()).collect();
    import_all(Format::Okx, &[write("top.txt", &lines)], &root, &minutely()).unwrap();
    let five = stored(&root, "okx/ont-usdt/books5", |b| {
        eventstore_market::BookLevel::decode(b).unwrap()
    });
    let quotes = stored(&root, "okx/ont-usdt/bookticker", |b| {
        eventstore_market::Quote::decode(b).unwrap()
    });
    let books5: Vec<_> = derived.iter().step_by(2).collect();
    assert_eq!(quotes.len(), derived.len() / 2);
    assert_eq!(
        five.len(),
        books5.iter().map(|d| (d.1 + d.2).max(1)).sum::<usize>(),
        "every books5 message is a snapshot of its levels"
    );
    assert!(five
        .iter()
        .all(|l| l.flags & eventstore_market::records::level::FLAG_SNAPSHOT != 0));
    let r =
        OrderStreamReader::open(&root, &StreamName::new("okx/ont-usdt/books5").unwrap()).unwrap();
    let end = r.book_at(i64::MAX).unwrap();
    assert!(end.replay.is_reliable());
    let (b, a) = end.replay.depth(usize::MAX);
    assert!(b.len() <= 5 && a.len() <= 5);
    let q = quotes.last().unwrap();
    assert_eq!(
        (b[0], a[0]),
        ((q.bid_price, q.bid_size), (q.ask_price, q.ask_size))
    );
}
