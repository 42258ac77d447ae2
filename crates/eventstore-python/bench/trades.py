"""Rows a second from a stored day of trades into Python, against a
Parquet read of the same trades and against the CLI's CSV path, in one run.

    python crates/eventstore-python/bench/trades.py [--trades 10000000] [--cli target/release/eventstore]

It writes a synthetic day (a random walk at 0.1 ticks, Poisson-like times)
as a Tardis trades CSV, imports it with the CLI (hourly files, made
compact as they seal), then times, median of 3: the store's trades into a
pyarrow.Table and into a polars DataFrame; pyarrow.parquet.read_table of
the same table written as Parquet (zstd); the CLI's
`trades --format csv` read by pyarrow.csv. Prints Markdown."""

import argparse
import os
import statistics
import subprocess
import tempfile
import time

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

import eventstore


def median_secs(f, n=3):
    out = []
    for _ in range(n):
        t = time.perf_counter()
        f()
        out.append(time.perf_counter() - t)
    return statistics.median(out)


def fixed(units, places):
    """Decimal text of integer `units` at `places` decimals."""
    import pyarrow.compute as pc

    whole = pa.array(units // 10**places).cast(pa.string())
    frac = pc.utf8_lpad(pa.array(units % 10**places).cast(pa.string()), places, "0")
    return pc.binary_join_element_wise(whole, frac, ".")


def synth_csv(path, n, seed=7):
    rng = np.random.default_rng(seed)
    day0 = 1_723_075_200_000_000  # 2024-08-08, microseconds
    ts = day0 + np.sort(rng.integers(0, 86_400_000_000, n))
    ticks = 600_000 + np.cumsum(rng.integers(-3, 4, n))
    amount = rng.integers(1, 5_000, n)
    t = pa.table(
        {
            "exchange": pa.array(["binance"] * 1, pa.string()).take(pa.array(np.zeros(n, dtype=np.int64))),
            "symbol": pa.array(["BTCUSDT"]).take(pa.array(np.zeros(n, dtype=np.int64))),
            "timestamp": pa.array(ts),
            "local_timestamp": pa.array(ts + rng.integers(100, 2_000, n)),
            "id": pa.array(np.arange(1, n + 1)),
            "side": pa.array(["buy", "sell"]).take(pa.array(rng.integers(0, 2, n))),
            "price": fixed(ticks, 1),
            "amount": fixed(amount, 3),
        }
    )
    with open(path, "wb") as f:
        f.write(b"exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n")
        pacsv.write_csv(t, f, pacsv.WriteOptions(quoting_style="none", include_header=False))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--trades", type=int, default=10_000_000)
    ap.add_argument("--cli", default="target/release/eventstore")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        csv = os.path.join(d, "trades.csv")
        synth_csv(csv, a.trades)
        root = os.path.join(d, "store")
        env = dict(os.environ, EVENTSTORE_ROOT=root)
        subprocess.run([a.cli, "import", "tardis-trades", csv, "--roll", "1h"], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        os.remove(csv)
        store = eventstore.Store(root)
        name = [r["name"] for r in store.streams().to_pylist() if r["kind"] == "trades"][0]
        info = [r for r in store.streams().to_pylist() if r["name"] == name][0]
        n = store.trades(name).num_rows
        assert n == a.trades, (n, a.trades)
        t_arrow = median_secs(lambda: store.trades(name))
        t_polars = median_secs(lambda: pl.from_arrow(store.trades(name)))
        table = store.trades(name)
        pqf = os.path.join(d, "trades.parquet")
        pq.write_table(table, pqf, compression="zstd")
        t_parquet = median_secs(lambda: pq.read_table(pqf))

        def cli_csv():
            p = subprocess.Popen([a.cli, "trades", name, "--format", "csv"], env=env, stdout=subprocess.PIPE)
            got = pacsv.read_csv(p.stdout)
            p.wait()
            assert got.num_rows == n

        t_cli = median_secs(cli_csv, 1)
        mrows = lambda s: f"{n / s / 1e6:.1f} M rows/s"
        print(f"#### {n:,} trades of a synthetic day, {info['files']} hourly files ({info['compact']} compact, "
              f"{info['bytes'] / n:.2f} B a trade); Parquet (zstd) {os.path.getsize(pqf) / n:.2f} B a trade\n")
        print("| path | median s | rows/s | vs Parquet read |")
        print("|---|---|---|---|")
        for label, s in [
            ("store.trades -> pyarrow.Table", t_arrow),
            ("store.trades -> polars DataFrame", t_polars),
            ("pyarrow.parquet.read_table (baseline)", t_parquet),
            ("eventstore trades --format csv, read by pyarrow.csv (one run)", t_cli),
        ]:
            print(f"| {label} | {s:.3f} | {mrows(s)} | {t_parquet / s:.2f}x |")
        print(f"\nstore.trades against the CLI's CSV path: {t_cli / t_arrow:.1f}x")


if __name__ == "__main__":
    main()
