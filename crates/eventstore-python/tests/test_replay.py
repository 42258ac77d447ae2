"""Replay: many streams merged into one time-ordered stream of batches,
order streams starting with their book, ties in a documented order, and
memory that stays flat however long the range."""

import json
import os
import subprocess
import sys

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import eventstore

TRADES = "binance/btcusdt/trades"
DEPTH = "binance/btcusdt/depth"
QUOTES = "binance/btcusdt/bookticker"
T0 = "2024-08-08T23:55:00Z"
T1 = "2024-08-08T23:57:30Z"
DAY = 86_400 * 10**9


def ns(col) -> list:
    return pc.cast(col, pa.int64()).to_pylist()


def test_replay_merges_every_record_in_receive_time_and_keeps_each_streams_order(binance):
    s = eventstore.Store(binance)
    streams = [TRADES, DEPTH, QUOTES]
    batches = list(s.replay(streams, T0, T1, rows=5000))
    assert all(b.num_rows <= 5000 for b in batches) and len(batches) > 5
    t = pa.Table.from_batches(batches)
    names = t["stream"].cast(pa.string()).to_pylist()
    flags = t["flags"].to_pylist()
    ts = ns(t["ts"])
    # The depth stream's book at the start comes first, flagged snapshot.
    book_rows = 0
    while book_rows < len(names) and names[book_rows] == DEPTH and (flags[book_rows] or 0) & 1:
        book_rows += 1
    assert book_rows > 100
    assert set(ts[:book_rows]) == {eventstore.to_ns(T0)}
    assert flags[book_rows - 1] & 2 and not any((f or 0) & 2 for f in flags[: book_rows - 1])
    book = s.book(DEPTH, T0, depth=100_000).levels
    snap = t.slice(0, book_rows).filter(pc.not_equal(t.slice(0, book_rows)["side"].cast(pa.string()), "none"))
    assert snap.num_rows == book.num_rows
    assert sorted(snap["price"].to_pylist()) == sorted(book["price"].to_pylist())
    # Then every record of every stream in [T0, T1), each stream's in its own order.
    rest = t.slice(book_rows)
    assert ns(rest["ts"]) == sorted(ns(rest["ts"]))
    by = {n: rest.filter(pc.equal(rest["stream"].cast(pa.string()), n)) for n in streams}
    tr = s.trades(TRADES, T0, T1)
    assert by[TRADES].num_rows == tr.num_rows > 1000
    assert by[TRADES]["price"].to_pylist() == tr["price"].to_pylist()
    assert by[TRADES]["id"].to_pylist() == tr["trade_id"].to_pylist()
    assert ns(by[TRADES]["ts"]) == ns(tr["local_ts"])
    assert set(by[TRADES]["side"].cast(pa.string()).to_pylist()) <= {"buy", "sell", "unknown"}
    lv = s.levels(DEPTH, T0, T1)
    assert by[DEPTH]["price"].to_pylist() == lv["price"].to_pylist()
    assert by[DEPTH]["update_id"].to_pylist() == lv["last_update_id"].to_pylist()
    q = s.quotes(QUOTES, T0, T1)
    assert by[QUOTES]["bid_price"].to_pylist() == q["bid_price"].to_pylist()
    assert by[QUOTES]["price"].null_count == by[QUOTES].num_rows
    assert rest.num_rows == tr.num_rows + lv.num_rows + q.num_rows
    # The same replay twice is the same rows.
    again = s.replay(streams, T0, T1, rows=777).read_all()
    assert again.to_pylist() == t.to_pylist()


def test_ties_come_in_the_order_the_streams_were_given(tmp_path):
    # Two markets from the same seed: every record of one has a twin at the
    # same receive time in the other.
    for p in ("a", "b"):
        eventstore.synth(tmp_path, f"v/{p}", "2024-01-01T00:00:00Z", "2024-01-01T00:20:00Z",
                         seed=7, trades_per_sec=5, book_updates_per_sec=20, roll="5m")
    s = eventstore.Store(tmp_path)
    for order in (["v/a/trades", "v/b/trades", "v/a/depth", "v/b/depth"],
                  ["v/b/depth", "v/a/trades", "v/b/trades", "v/a/depth"]):
        t = s.replay(order, "2024-01-01T00:03:00Z", "2024-01-01T00:17:00Z", rows=3000).read_all()
        place = {n: i for i, n in enumerate(order)}
        key = [(ts, place[n]) for ts, n, f in zip(ns(t["ts"]), t["stream"].cast(pa.string()).to_pylist(),
                                                  t["flags"].to_pylist()) if not (f or 0) & 1]
        assert key == sorted(key)
        counts = pd.Series(t["stream"].cast(pa.string()).to_pylist()).value_counts()
        assert counts["v/a/trades"] == counts["v/b/trades"] > 1000
    # Floats for speed, and a bad request named.
    f = s.replay(["v/a/trades"], prices="float").read_all()
    assert f.schema.field("price").type == pa.float64() and f.num_rows > 1000
    with pytest.raises(eventstore.EventStoreError, match="no/such"):
        s.replay(["v/a/trades", "no/such/stream"])
    with pytest.raises(eventstore.EventStoreError, match="no streams"):
        s.replay([])


# A replay of `days` from a store, in its own process: rows and peak RSS.
_MEASURE = """
import json, resource, sys, eventstore
root, start, days = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = eventstore.Store(root)
streams = [r["name"] for r in s.streams().to_pylist()]
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
rows = 0
for b in s.replay(streams, start, start + days * 86_400 * 10**9):
    rows += b.num_rows
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"rows": rows, "before_kib": before, "peak_kib": peak}))
"""


def test_replay_memory_is_the_same_for_one_day_as_for_many(tmp_path):
    start = eventstore.to_ns("2024-03-01T00:00:00Z")
    days = 6
    for i in range(3):
        eventstore.synth(tmp_path, f"venue/sym{i}", start, start + days * DAY, seed=i,
                         trades_per_sec=0.3, book_updates_per_sec=2.0)
    runs = {}
    for d in (1, days):
        out = subprocess.run([sys.executable, "-c", _MEASURE, str(tmp_path), str(start), str(d)],
                             capture_output=True, text=True, check=True, env=dict(os.environ))
        runs[d] = json.loads(out.stdout)
    one, many = runs[1], runs[days]
    assert many["rows"] > 5 * one["rows"] > 5 * 500_000
    # Rows held at once would cost ~100 B each: 6 days is 3 M rows, 300 MB.
    grown = many["peak_kib"] - one["peak_kib"]
    assert grown < max(one["peak_kib"] // 10, 16 * 1024), runs
