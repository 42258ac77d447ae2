"""The Python package against the CLI's answers on the real Binance
recording, in compact and framed files alike; times in every form; the
writer; and bad input as Python exceptions naming what was wrong."""

import csv
import datetime as dt
import decimal
import io
import os

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import eventstore
from conftest import run

TRADES = "binance/btcusdt/trades"
DEPTH = "binance/btcusdt/depth"
# Inside the recording (2024-08-08, UTC).
T0 = "2024-08-08T23:55:00Z"
T1 = "2024-08-08T23:57:30Z"


def cli_csv(cli, root, *args):
    return list(csv.DictReader(io.StringIO(run(cli, root, *args, "--format", "csv"))))


def dec(s: str):
    return None if s == "" else decimal.Decimal(s)


def test_streams_lists_every_stream_with_its_kind_and_counts(binance):
    t = eventstore.Store(binance).streams()
    rows = {r["name"]: r for r in t.to_pylist()}
    assert rows[TRADES]["kind"] == "trades"
    assert rows[TRADES]["records"] == 9757
    assert rows[DEPTH]["kind"] == "book_l2"
    assert rows[TRADES]["files"] >= rows[TRADES]["sealed"] > 1
    assert t.schema.field("first").type == pa.timestamp("ns", tz="UTC")
    assert rows[TRADES]["first"] < rows[TRADES]["last"]
    # Imports make their sealed files compact unless told not to.
    compact = rows[TRADES]["compact"]
    assert (compact == rows[TRADES]["sealed"]) if "compact" in str(binance) else compact == 0


def test_trades_equal_the_cli_csv_row_for_row(binance, cli):
    t = eventstore.Store(binance).trades(TRADES, T0, T1)
    want = cli_csv(cli, binance, "trades", TRADES, "--from", T0, "--to", T1)
    assert t.num_rows == len(want) > 100
    assert t.schema.field("local_ts").type == pa.timestamp("ns", tz="UTC")
    assert pa.types.is_decimal(t.schema.field("price").type)
    got = t.to_pylist()
    for g, w in zip(got, want):
        assert g["local_ts"] is not None
        assert pd.Timestamp(g["local_ts"]).value == int(w["local_ts"])
        assert pd.Timestamp(g["exchange_ts"]).value == int(w["exchange_ts"])
        assert g["price"] == dec(w["price"])
        assert g["size"] == dec(w["size"])
        assert g["side"] == w["side"]
        assert str(g["trade_id"]) == w["trade_id"]


def test_the_whole_stream_reads_in_batches_of_any_size(binance):
    s = eventstore.Store(binance)
    whole = s.trades(TRADES)
    assert whole.num_rows == 9757
    r = s.trades_batches(TRADES, rows=1000)
    sizes = [b.num_rows for b in r]
    assert max(sizes) == 1000 and sum(sizes) == 9757
    assert pa.Table.from_batches(list(s.trades_batches(TRADES, rows=777))).equals(whole)


def test_bars_equal_the_cli(binance, cli):
    t = eventstore.Store(binance).bars(TRADES, "10s")
    want = cli_csv(cli, binance, "trades", TRADES, "--bars", "10s")
    assert t.num_rows == len(want) > 10
    for g, w in zip(t.to_pylist(), want):
        assert pd.Timestamp(g["start"]).value == int(w["start"])
        for k in ["open", "high", "low", "close", "volume", "buy_volume", "sell_volume", "vwap"]:
            assert g[k] == dec(w[k]), k
        assert g["trades"] == int(w["trades"])
    assert sum(t["trades"].to_pylist()) == 9757


def test_book_at_many_times_equals_the_cli(binance, cli):
    s = eventstore.Store(binance)
    start = eventstore.to_ns("2024-08-08T23:54:30Z")
    for k in range(12):
        at = start + k * 27_123_456_789
        book = s.book(DEPTH, at, depth=10)
        assert book.state.reliable
        assert book.state.replayed >= 0 and book.state.snapshot_file.endswith(".log")
        want = cli_csv(cli, binance, "book", DEPTH, "--at", str(at), "--depth", "10")
        got = book.levels.to_pylist()
        assert len(got) == len(want) == 20
        for g, w in zip(got, want):
            assert (g["side"], g["level"]) == (w["side"], int(w["level"]))
            assert (g["price"], g["size"]) == (dec(w["price"]), dec(w["size"]))
        bids, asks = book.bids(), book.asks()
        assert bids["price"][0].as_py() < asks["price"][0].as_py()


def test_book_snapshots_equal_the_cli_book_every(binance, cli):
    s = eventstore.Store(binance)
    t = s.book_snapshots(DEPTH, "1s", 5, T0, "2024-08-08T23:56:00Z")
    want = cli_csv(cli, binance, "book", DEPTH, "--every", "1s", "--from", T0,
                   "--to", "2024-08-08T23:56:00Z", "--depth", "5")
    assert t.num_rows == len(want) == 60
    assert t.column_names == list(want[0].keys())
    for g, w in zip(t.to_pylist(), want):
        assert pd.Timestamp(g["ts"]).value == int(w["ts"])
        assert str(g["reliable"]).lower() == w["reliable"]
        for k in list(w)[2:]:
            assert g[k] == dec(w[k]), k


def test_every_form_of_time_gives_the_same_answer(binance):
    s = eventstore.Store(binance)
    want = s.trades(TRADES, T0, T1)
    start = dt.datetime(2024, 8, 8, 23, 55, tzinfo=dt.timezone.utc)
    end = dt.datetime(2024, 8, 8, 23, 57, 30)  # naive: UTC
    for a, b in [
        (start, end),
        (pd.Timestamp(T0), pd.Timestamp(T1)),
        (np.datetime64("2024-08-08T23:55:00"), np.datetime64("2024-08-08T23:57:30.000000000")),
        (eventstore.to_ns(T0), eventstore.to_ns(T1)),
    ]:
        assert s.trades(TRADES, a, b).equals(want), (a, b)


def test_pandas_polars_and_floats(binance):
    s = eventstore.Store(binance)
    t = s.trades(TRADES, T0, T1)
    df = t.to_pandas()
    assert str(df["local_ts"].dtype).startswith("datetime64[ns")
    assert len(df) == t.num_rows
    p = pl.from_arrow(t)
    assert p.height == t.num_rows and p["price"].dtype.is_decimal()
    f = s.trades(TRADES, T0, T1, prices="float")
    assert f.schema.field("price").type == pa.float64()
    assert f["price"][0].as_py() == float(t["price"][0].as_py())
    assert s.as_polars(t).height == t.num_rows


def test_levels_and_raw_records(binance):
    s = eventstore.Store(binance)
    lv = s.levels(DEPTH, T0, T1)
    assert lv.num_rows > 1000 and "first_update_id" in lv.column_names
    raw = pa.Table.from_batches(list(s.read(TRADES, T0, T1)))
    assert raw.num_rows == s.trades(TRADES, T0, T1).num_rows
    assert raw.column_names == ["seq", "ts", "payload"]
    seqs = raw["seq"].to_pylist()
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))


def test_a_writer_appends_and_the_store_reads_it_back(tmp_path):
    with eventstore.Writer(tmp_path, "my/feed", roll="1m", by_record_time=True) as w:
        t0 = eventstore.to_ns("2024-08-08T00:00:00Z")
        assert w.append(b"first", ts=t0) == 0
        r = w.append_batch([b"a", b"b", b"c"], ts=[t0 + 61 * 10**9, t0 + 62 * 10**9, t0 + 125 * 10**9])
        assert list(r) == [1, 2, 3]
        assert w.next_seq == 4
    s = eventstore.Store(tmp_path)
    assert s.kind("my/feed") == "raw"
    rows = pa.Table.from_batches(list(s.read("my/feed"))).to_pylist()
    assert [r["payload"] for r in rows] == [b"first", b"a", b"b", b"c"]
    assert pd.Timestamp(rows[3]["ts"]).value == t0 + 125 * 10**9
    assert s.streams().to_pylist()[0]["files"] == 3
    later = pa.Table.from_batches(list(s.read("my/feed", t0 + 62 * 10**9)))
    assert later["payload"].to_pylist() == [b"b", b"c"]


def test_bad_input_is_an_exception_naming_it(binance, tmp_path):
    s = eventstore.Store(binance)
    with pytest.raises(eventstore.EventStoreError, match="no/such"):
        s.trades("no/such/stream")
    with pytest.raises(eventstore.EventStoreError, match="yesterday"):
        s.trades(TRADES, "yesterday")
    with pytest.raises(eventstore.EventStoreError, match="not a time"):
        s.trades(TRADES, 1.5)
    with pytest.raises(eventstore.EventStoreError, match="book_l2"):
        s.trades(DEPTH)
    with pytest.raises(eventstore.EventStoreError, match="interval"):
        s.bars(TRADES, 0)
    with pytest.raises(eventstore.EventStoreError, match="no store"):
        eventstore.Store(tmp_path / "absent")
    # A damaged file: the exception names it.
    store = tmp_path / "damaged"
    with eventstore.Writer(store, "x/y", roll="1m", by_record_time=True) as w:
        t0 = eventstore.to_ns("2024-08-08T00:00:00Z")
        for i in range(1000):
            w.append(b"record %d" % i, ts=t0 + i * 10**9)
    files = sorted((store / "x" / "y").glob("*.log"))
    victim = files[3]
    b = bytearray(victim.read_bytes())
    b[200] ^= 0xFF
    victim.write_bytes(bytes(b))
    with pytest.raises(eventstore.EventStoreError, match=f"{victim.name} at offset"):
        list(eventstore.Store(store).read("x/y"))


def test_a_consumed_stream_says_so(binance):
    st = eventstore._eventstore.Store(str(binance))
    s = st.records(TRADES, None, None, 1000)
    pa.table(s)
    with pytest.raises(eventstore.EventStoreError, match="already consumed"):
        pa.table(s)


def test_help_and_reprs_explain_the_calls(binance):
    s = eventstore.Store(binance)
    assert "trades received" in eventstore.Store.trades.__doc__
    assert "Store(" in repr(s)
    assert "<table" in s._repr_html_()
    assert "BookState(" in repr(s.book(DEPTH, T1).state)
    assert os.path.exists(os.path.join(os.path.dirname(eventstore.__file__), "__init__.pyi"))


def test_quotes_are_every_book_ticker_with_exact_prices(binance):
    s = eventstore.Store(binance)
    name = "binance/btcusdt/bookticker"
    q = s.quotes(name)
    records = {r["name"]: r["records"] for r in s.streams().to_pylist()}[name]
    assert q.num_rows == records > 1000
    assert q.column_names[:6] == ["local_ts", "exchange_ts", "bid_price", "bid_size", "ask_price", "ask_size"]
    assert pa.types.is_decimal(q.schema.field("bid_price").type)
    assert all(b < a for b, a in zip(q["bid_price"].to_pylist(), q["ask_price"].to_pylist()))
    ts = [pd.Timestamp(t).value for t in q["local_ts"].to_pylist()]
    assert ts == sorted(ts)
    with pytest.raises(eventstore.EventStoreError, match="quotes"):
        s.levels(name)


def test_a_market_writer_appends_rows_and_every_reader_reads_them_back(binance, tmp_path):
    src = eventstore.Store(binance)
    # The real recording's records, written again from Python, read back equal.
    for name, kind in ((TRADES, "trades"), (DEPTH, "book_l2"), ("binance/btcusdt/bookticker", "quotes")):
        m = src.metadata(name)
        rows = pa.Table.from_batches(list(src.records(name, T0, T1)))
        with eventstore.Writer(tmp_path, f"copy/{kind}", kind=kind, roll="1m", venue="binance",
                               symbol="BTCUSDT", price_scale=m["price_scale"], size_scale=m["size_scale"]) as w:
            assert w.write(rows) == range(0, rows.num_rows)
        back = pa.Table.from_batches(list(eventstore.Store(tmp_path).records(f"copy/{kind}")))
        assert back.equals(rows), kind
    dst = eventstore.Store(tmp_path)
    assert dst.kind("copy/trades") == "trades"
    assert dst.bars("copy/trades", "1m").equals(src.bars(TRADES, "1m", T0, T1))
    # From pandas, with float prices and naive times: cast exactly to the scales.
    df = pd.DataFrame({
        "local_ts": pd.to_datetime(["2024-08-09T00:00:00.5", "2024-08-09T00:00:01.0"]),
        "exchange_ts": pd.to_datetime(["2024-08-09T00:00:00.4", "2024-08-09T00:00:00.9"]),
        "price": [61000.25, 61000.5],
        "size": [0.001, 2.0],
        "side": ["buy", "sell"],
        "trade_id": [1, 2],
    })
    with eventstore.Writer(tmp_path, "py/trades", kind="trades", price_scale=2, size_scale=5) as w:
        assert list(w.write(df)) == [0, 1]
        before = w.next_seq
        with pytest.raises(eventstore.EventStoreError, match='row 1: side "up"'):
            w.write(df.assign(side=["buy", "up"]))
        with pytest.raises(eventstore.EventStoreError, match="price"):
            w.write(df.assign(price=[1.0, 1.001]))
        with pytest.raises(eventstore.EventStoreError, match="no column size"):
            w.write(df.drop(columns=["size"]))
        assert w.next_seq == before, "a bad call appended"
        w.write(pl.from_pandas(df.assign(trade_id=[3, 4])))
    t = eventstore.Store(tmp_path).trades("py/trades")
    assert [str(p) for p in t["price"].to_pylist()] == ["61000.25", "61000.50", "61000.25", "61000.50"]
    assert pd.Timestamp(t["local_ts"][0].as_py()).value == eventstore.to_ns("2024-08-09T00:00:00.5Z")
    with pytest.raises(eventstore.EventStoreError, match="price scale 2"):
        eventstore.Writer(tmp_path, "py/trades", kind="trades", price_scale=3, size_scale=5)
