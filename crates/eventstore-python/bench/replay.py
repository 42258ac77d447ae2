"""The merged replay of many streams into Python: events a second, and
peak memory for one day against many, in one run.

    python crates/eventstore-python/bench/replay.py [--symbols 5] [--days 7]

It records a synthetic market (`eventstore.synth`: trades and depth for
each symbol, hourly compact files) over `--days` days, then, each in a
fresh process so that its peak RSS is its own: the replay of all the
streams (2 per symbol) over the first day, median of 3, in events/s; the
same streams read one by one without the merge (the baseline: what the
merge costs); and the replay over 1 day and over all the days, consuming
batches as a backtest does, with the process's peak RSS. Prints Markdown."""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import eventstore

DAY = 86_400 * 10**9

MEASURE = """
import json, resource, statistics, sys, time, eventstore
root, start, days, mode, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
s = eventstore.Store(root)
streams = sorted(r["name"] for r in s.streams().to_pylist())
end = start + days * 86_400 * 10**9
def replay():
    n = 0
    for b in s.replay(streams, start, end):
        n += b.num_rows
    return n
def separate():
    n = 0
    for name in streams:
        for b in s.records(name, start, end):
            n += b.num_rows
    return n
f = replay if mode == "replay" else separate
secs = []
for _ in range(runs):
    t = time.perf_counter()
    rows = f()
    secs.append(time.perf_counter() - t)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"rows": rows, "secs": statistics.median(secs), "peak_kib": peak}))
"""


def measure(root, start, days, mode, runs=1):
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, root, str(start), str(days), mode, str(runs)],
        capture_output=True, text=True, check=True,
    )
    return json.loads(out.stdout)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--symbols", type=int, default=5)
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--trades-per-sec", type=float, default=2.0)
    ap.add_argument("--book-updates-per-sec", type=float, default=20.0)
    ap.add_argument("--root", default=None, help="reuse a store recorded by an earlier run")
    a = ap.parse_args()
    start = eventstore.to_ns("2024-03-01T00:00:00Z")
    tmp = None
    root = a.root
    if root is None:
        tmp = tempfile.TemporaryDirectory()
        root = tmp.name
    if not os.path.exists(os.path.join(root, f"venue/sym0/trades")):
        t = time.perf_counter()
        total = 0
        for i in range(a.symbols):
            tr, dp = eventstore.synth(
                root, f"venue/sym{i}", start, start + a.days * DAY, seed=i + 1,
                trades_per_sec=a.trades_per_sec, book_updates_per_sec=a.book_updates_per_sec,
                symbol=f"SYM{i}USDT",
            )
            total += tr + dp
        print(f"recorded {total:,} events of {2 * a.symbols} streams over {a.days} days "
              f"in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    streams = eventstore.Store(root).streams()
    nbytes = sum(streams["bytes"].to_pylist())
    day = measure(root, start, 1, "replay", runs=3)
    sep = measure(root, start, 1, "separate", runs=3)
    one = measure(root, start, 1, "replay")
    many = measure(root, start, a.days, "replay")
    rate = day["rows"] / day["secs"]
    print(f"**Replay of {streams.num_rows} streams ({a.symbols} symbols: trades and depth), "
          f"{a.days} days in hourly compact files, {nbytes / 1e6:.1f} MB**\n")
    print("| what | events | median s | events/s |")
    print("|---|---|---|---|")
    print(f"| replay, merged, into Python batches (1 day) | {day['rows']:,} | {day['secs']:.3f} | "
          f"{rate / 1e6:.1f} M/s |")
    print(f"| the same streams read one by one, no merge (baseline) | {sep['rows']:,} | "
          f"{sep['secs']:.3f} | {sep['rows'] / sep['secs'] / 1e6:.1f} M/s |")
    print(f"\nmerged / separate: {rate / (sep['rows'] / sep['secs']):.2f}x\n")
    print("| range | events | peak RSS |")
    print("|---|---|---|")
    print(f"| 1 day | {one['rows']:,} | {one['peak_kib'] / 1024:.1f} MiB |")
    print(f"| {a.days} days | {many['rows']:,} | {many['peak_kib'] / 1024:.1f} MiB |")
    print(f"\npeak RSS {a.days} days / 1 day: {many['peak_kib'] / one['peak_kib']:.3f}")


if __name__ == "__main__":
    main()
