"""Remote stores: the same calls answered from S3 (the S3-compatible
server the test command starts) and from a folder, fetching only the
files a query needs into a cache of limited size, counted at the wire by
a proxy in front of the server."""

import http.client
import http.server
import os
import threading
import urllib.parse
import uuid

import pyarrow as pa
import pytest

import eventstore
from conftest import _ci, run

HOUR = 3600 * 10**9
START = eventstore.to_ns("2024-05-01T00:00:00Z")


class CountingProxy:
    """Forwards HTTP requests to `upstream` and counts the GETs of each key."""

    def __init__(self, upstream: str):
        u = urllib.parse.urlparse(upstream)
        self.gets = []
        self.lists = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def forward(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else None
                if self.command == "GET" and "list-type" in self.path:
                    q = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
                    proxy.lists.append(q.get("prefix", [""])[0])
                elif self.command == "GET":
                    proxy.gets.append(urllib.parse.urlparse(self.path).path)
                c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
                c.request(self.command, self.path, body=body, headers=headers)
                r = c.getresponse()
                data = r.read()
                self.send_response(r.status)
                for k, v in r.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                c.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = forward

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def logs(self):
        """Data objects fetched (the log files, not manifests or sidecars)."""
        return [g for g in self.gets if g.endswith(".log")]

    def close(self):
        self.server.shutdown()


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    """Six hours of a simulated market in hourly files."""
    root = tmp_path_factory.mktemp("origin")
    eventstore.synth(root, "sim/btc", START, START + 6 * HOUR, seed=3, trades_per_sec=2,
                     book_updates_per_sec=10)
    return root


@pytest.fixture(scope="module")
def s3(local, cli):
    endpoint = os.environ.get("EVENTSTORE_TEST_S3_ENDPOINT")
    bucket = os.environ.get("EVENTSTORE_TEST_S3_BUCKET")
    if not endpoint or not bucket:
        if _ci():
            pytest.fail("EVENTSTORE_TEST_S3_ENDPOINT is not set: the test command starts the S3 server")
        pytest.skip("no S3 server (EVENTSTORE_TEST_S3_ENDPOINT): run the test command")
    url = f"s3://{bucket}/py-{uuid.uuid4().hex[:8]}"
    run(cli, local, "upload", str(local), url, "--s3-endpoint", endpoint)
    proxy = CountingProxy(endpoint)
    yield url, proxy
    proxy.close()


def test_a_remote_query_fetches_only_the_files_it_needs_and_the_next_hits_the_cache(local, s3, tmp_path):
    url, proxy = s3
    store = eventstore.Store(url, cache=tmp_path / "cache", endpoint=proxy.url)
    ref = eventstore.Store(local)
    names = set(store.streams()["name"].to_pylist())
    assert names == {"sim/btc/trades", "sim/btc/depth"}
    assert store.kind("sim/btc/trades") == "trades"
    assert proxy.logs() == []  # listing and metadata only
    # An hour inside the third file, and a range across two files.
    a, b = START + 2 * HOUR + 600 * 10**9, START + 2 * HOUR + 1200 * 10**9
    lists = len(proxy.lists)
    t = store.trades("sim/btc/trades", a, b)
    assert t.equals(ref.trades("sim/btc/trades", a, b)) and t.num_rows > 500
    # The query listed the stream's folder only, not the whole remote.
    assert proxy.lists[lists:] and all(p.endswith("/sim/btc/trades/") for p in proxy.lists[lists:])
    assert len(proxy.logs()) == 1 and proxy.logs()[0].endswith("/sim/btc/trades/20240501T020000Z.log")
    assert store.cache_info()["last"] == ["sim/btc/trades/20240501T020000Z.log"]
    before = len(proxy.gets)
    assert store.trades("sim/btc/trades", a, b).equals(t)
    assert len(proxy.gets) == before, "the second query fetched objects again"
    assert store.cache_info()["hits"] >= 1 and store.cache_info()["last"] == []
    # Across the boundary of two files: one more file, the other is cached.
    c = START + 3 * HOUR + 60 * 10**9
    assert store.bars("sim/btc/trades", "1m", a, c).equals(ref.bars("sim/btc/trades", "1m", a, c))
    assert len(proxy.logs()) == 2
    # The book at a time, from that file's snapshot, and a replay.
    at = START + 4 * HOUR + 30 * 10**9
    book = store.book("sim/btc/depth", at, depth=5)
    assert book.levels.equals(ref.book("sim/btc/depth", at, depth=5).levels)
    r = store.replay(["sim/btc/trades", "sim/btc/depth"], a, c).read_all()
    assert r.equals(ref.replay(["sim/btc/trades", "sim/btc/depth"], a, c).read_all())
    cached = {n: c for n, c in zip(store.streams()["name"].to_pylist(), store.streams()["cached"].to_pylist())}
    assert cached["sim/btc/trades"] == 2 and cached["sim/btc/depth"] >= 2
    with pytest.raises(eventstore.EventStoreError, match="no stream sim/eth/trades"):
        store.trades("sim/eth/trades")


def test_the_cache_keeps_within_its_size(local, s3, tmp_path):
    url, proxy = s3
    one_file = max(p.stat().st_size for p in (local / "sim/btc/depth").glob("*.log"))
    store = eventstore.Store(url, cache=tmp_path / "small", cache_size=int(one_file * 2.5), endpoint=proxy.url)
    ref = eventstore.Store(local)
    for h in range(6):
        a = START + h * HOUR + 10**9
        got = store.levels("sim/btc/depth", a, a + 60 * 10**9)
        assert got.equals(ref.levels("sim/btc/depth", a, a + 60 * 10**9))
    held = list((tmp_path / "small" / "sim/btc/depth").glob("*.log"))
    assert 1 <= len(held) <= 2 and store.cache_info()["evicted"] >= 4
    # The whole stream in one query needs every file: kept for the query.
    assert store.levels("sim/btc/depth").num_rows == ref.levels("sim/btc/depth").num_rows


def test_a_folder_remote_answers_the_same(local, cli, tmp_path):
    bucket = tmp_path / "bucket"
    run(cli, local, "upload", str(local), f"file://{bucket}")
    store = eventstore.Store(f"file://{bucket}", cache=tmp_path / "c")
    a = START + HOUR
    assert store.trades("sim/btc/trades", a, a + HOUR).equals(eventstore.Store(local).trades("sim/btc/trades", a, a + HOUR))
    assert store.cache_info()["downloaded"] == 1
    assert "file://" in repr(store)
    with pytest.raises(eventstore.EventStoreError, match="size"):
        eventstore.Store(f"file://{bucket}", cache=tmp_path / "d", cache_size="lots")
