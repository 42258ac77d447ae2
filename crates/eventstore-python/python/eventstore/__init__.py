"""EventStore from Python: every stream of a store as Arrow, pandas or polars.

    >>> import eventstore
    >>> store = eventstore.Store("data")
    >>> store.streams()                                   # a pyarrow.Table
    >>> t = store.trades("binance/btcusdt/trades", "2024-08-08T00:00:00Z", "2024-08-08T01:00:00Z")
    >>> t.to_pandas()                                     # or polars.from_arrow(t)
    >>> store.bars("binance/btcusdt/trades", "1m")
    >>> store.book("binance/btcusdt/depth", at="2024-08-08T00:30:00Z", depth=10)

Results are ``pyarrow.Table``s (``..._batches`` variants give a
``pyarrow.RecordBatchReader``, one batch in memory at a time). The data
leaves the store through the Arrow C stream interface, without a copy.
Times are ``timestamp[ns, UTC]``; prices and sizes keep their exact
decimals (``decimal128`` at the stream's scale) unless ``prices="float"``.

Every time argument takes a ``datetime`` (naive means UTC), a
``pandas.Timestamp``, a ``numpy.datetime64``, RFC 3339 text or integer
nanoseconds since the epoch. Errors are ``eventstore.EventStoreError`` with
the store's own message (stream, file, offset, sequence).
"""

from __future__ import annotations

import datetime as _dt
from typing import Any, Iterable, List, Optional, Sequence, Union

import pyarrow as pa

from . import _eventstore
from ._eventstore import ArrowStream, BookState, EventStoreError, format_time

__all__ = [
    "Store",
    "Writer",
    "Book",
    "BookState",
    "ArrowStream",
    "EventStoreError",
    "to_ns",
    "format_time",
    "synth",
]

__version__ = _eventstore.__version__

TimeLike = Union[int, str, _dt.datetime, _dt.date, Any]

_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)


def to_ns(t: TimeLike) -> int:
    """Nanoseconds since the epoch (UTC) of a time given as an ``int``
    (nanoseconds), RFC 3339 text, a ``datetime`` or ``date`` (naive means
    UTC), a ``pandas.Timestamp`` or a ``numpy.datetime64``."""
    if isinstance(t, bool):
        raise EventStoreError(f"not a time: {t!r}")
    if isinstance(t, int):
        return t
    if isinstance(t, str):
        return _eventstore.parse_time(t)
    # pandas.Timestamp (a datetime subclass with nanoseconds in .value)
    value = getattr(t, "value", None)
    if isinstance(value, int) and hasattr(t, "tz_localize"):
        return value
    if isinstance(t, _dt.datetime):
        if t.tzinfo is None:
            t = t.replace(tzinfo=_dt.timezone.utc)
        d = t - _EPOCH
        return (d.days * 86_400 + d.seconds) * 1_000_000_000 + d.microseconds * 1_000
    if isinstance(t, _dt.date):
        return to_ns(_dt.datetime(t.year, t.month, t.day))
    # numpy.datetime64
    if type(t).__name__ == "datetime64":
        import numpy as np

        if np.isnat(t):
            raise EventStoreError("not a time: NaT")
        return int(t.astype("datetime64[ns]").astype("int64"))
    raise EventStoreError(
        f"not a time: {t!r} (give a datetime, pandas.Timestamp, numpy.datetime64, "
        "RFC 3339 text or integer nanoseconds)"
    )


def _opt_ns(t: Optional[TimeLike]) -> Optional[int]:
    return None if t is None else to_ns(t)


def _interval_ns(interval: Union[str, int, _dt.timedelta]) -> int:
    if isinstance(interval, bool):
        raise EventStoreError(f"not an interval: {interval!r}")
    if isinstance(interval, int):
        return interval
    if isinstance(interval, _dt.timedelta):
        return (
            interval.days * 86_400 + interval.seconds
        ) * 1_000_000_000 + interval.microseconds * 1_000
    if isinstance(interval, str):
        return _eventstore.parse_duration(interval)
    value = getattr(interval, "value", None)  # pandas.Timedelta
    if isinstance(value, int):
        return value
    raise EventStoreError(f"not an interval: {interval!r} (give '1m', a timedelta or nanoseconds)")


def _store_error(e: Exception) -> EventStoreError:
    """A damaged file met while reading, as the store's own error."""
    msg = str(e)
    for prefix in ("External error: ",):
        if msg.startswith(prefix):
            msg = msg[len(prefix):]
    return EventStoreError(msg)


def _batches(r: pa.RecordBatchReader):
    while True:
        try:
            b = r.read_next_batch()
        except StopIteration:
            return
        except pa.ArrowException as e:
            raise _store_error(e) from None
        yield b


def _reader(stream: ArrowStream) -> pa.RecordBatchReader:
    """The batches of `stream`, one at a time; an error met on the way is
    an EventStoreError."""
    r = pa.RecordBatchReader.from_stream(stream)
    return pa.RecordBatchReader.from_batches(r.schema, _batches(r))


def _read_all(stream: ArrowStream) -> pa.Table:
    try:
        return pa.RecordBatchReader.from_stream(stream).read_all()
    except pa.ArrowException as e:
        raise _store_error(e) from None


def _floats(table: pa.Table) -> pa.Table:
    """Decimal columns as float64."""
    cols = []
    for f, c in zip(table.schema, table.columns):
        if pa.types.is_decimal(f.type):
            c = c.cast(pa.float64())
        cols.append(c)
    return pa.table(cols, names=table.column_names)


def _float_schema(schema: pa.Schema) -> pa.Schema:
    return pa.schema(
        [
            pa.field(f.name, pa.float64(), f.nullable) if pa.types.is_decimal(f.type) else f
            for f in schema
        ]
    )


def _float_batch(b: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    return pa.record_batch(
        [c.cast(pa.float64()) if pa.types.is_decimal(c.type) else c for c in b.columns],
        schema=schema,
    )


_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def _bytes(size: Union[int, str]) -> int:
    """Bytes of ``size``: an int, or text such as ``"500MB"`` or ``"20GiB"``."""
    if isinstance(size, bool):
        raise EventStoreError(f"not a size: {size!r}")
    if isinstance(size, int):
        if size < 0:
            raise EventStoreError(f"not a size: {size!r}")
        return size
    if isinstance(size, str):
        t = size.strip().lower().replace(" ", "")
        num = t.rstrip("abcdefghijklmnopqrstuvwxyz")
        unit = t[len(num):]
        try:
            if unit in _UNITS and num:
                return int(float(num) * _UNITS[unit])
        except ValueError:
            pass
    raise EventStoreError(f"not a size: {size!r} (give bytes, or text such as '500MB' or '20GiB')")


def _prices(table: pa.Table, prices: str) -> pa.Table:
    if prices == "decimal":
        return table
    if prices == "float":
        return _floats(table)
    raise EventStoreError(f"prices={prices!r}: give 'decimal' (exact) or 'float' (float64)")


class Book:
    """A book as of a time: ``levels`` (a table of side, level, price,
    size; bids then asks, best first) and ``state`` (reliable, gaps, the
    snapshot it started from, the records replayed after it)."""

    def __init__(self, stream: str, levels: pa.Table, state: BookState):
        self.stream = stream
        self.levels = levels
        self.state = state

    @property
    def reliable(self) -> bool:
        return self.state.reliable

    def bids(self) -> pa.Table:
        return self.levels.filter(pa.compute.equal(self.levels["side"], "bid"))

    def asks(self) -> pa.Table:
        return self.levels.filter(pa.compute.equal(self.levels["side"], "ask"))

    def to_pandas(self):
        return self.levels.to_pandas()

    def __repr__(self) -> str:
        return f"Book({self.stream!r}, {self.state!r}, {self.levels.num_rows} levels)"

    def _repr_html_(self) -> str:
        return f"<p>{self!r}</p>" + self.levels.to_pandas().to_html(index=False)


class Store:
    """A store: a folder of streams (``eventstore.Store("data")``).

    Every call reads only the files its time range needs (found by the
    files' names and time index) and decodes compact files' blocks
    straight into Arrow columns."""

    def __init__(
        self,
        root: Union[str, "os.PathLike[str]"],
        *,
        cache: Optional[Union[str, "os.PathLike[str]"]] = None,
        cache_size: Union[int, str] = "10GiB",
        endpoint: Optional[str] = None,
    ):
        """``Store("data")``: the store in a folder. ``Store("s3://bucket/prefix",
        cache="~/.cache/eventstore/x", cache_size="20GiB")``: a remote store
        (``s3://``, ``az://``, ``file:///``) answering the same calls; each
        call fetches only the files its stream and time range need (with
        their manifests and checksums checked, as ``eventstore poll`` does)
        into the cache folder, which keeps at most ``cache_size`` bytes
        (files used longest ago go first), then reads them there.
        Credentials and endpoints come from the usual variables
        (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_ENDPOINT_URL``,
        ``AZURE_STORAGE_ACCOUNT_NAME``, ``AZURE_STORAGE_ACCOUNT_KEY``) or
        ``endpoint``."""
        import os

        text = os.fspath(root)
        if "://" in text:
            if cache is None:
                base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
                safe = "".join(c if c.isalnum() or c in "-._" else "_" for c in text)
                cache = os.path.join(base, "eventstore", safe)
            cache = os.path.expanduser(os.fspath(cache))
            self._store = _eventstore.Store(text, cache, _bytes(cache_size), endpoint)
        else:
            self._store = _eventstore.Store(text)
        self.root = self._store.root
        self.url = self._store.url

    def __repr__(self) -> str:
        if self.url is not None:
            return f"eventstore.Store({self.url!r}, cache={str(self.root)!r})"
        return f"eventstore.Store({str(self.root)!r})"

    def _repr_html_(self) -> str:
        return f"<p>{self!r}</p>" + self.streams().to_pandas().to_html(index=False)

    # ---- what is stored ----------------------------------------------

    def streams(self) -> pa.Table:
        """Every stream: name, kind, files, records, first and last record
        time, bytes on disk, sealed files, compact files. For a remote
        store, as listed there: name, kind, files, first and last file
        start, bytes, files held in the cache."""
        ts = pa.timestamp("ns", tz="UTC")
        if self.url is not None:
            rows = self._store.remote_streams()
            cols = list(zip(*rows)) if rows else [[] for _ in range(7)]
            return pa.table(
                {
                    "name": pa.array(cols[0], pa.string()),
                    "kind": pa.array(cols[1], pa.string()),
                    "files": pa.array(cols[2], pa.uint64()),
                    "first_file": pa.array(cols[3], pa.int64()).cast(ts),
                    "last_file": pa.array(cols[4], pa.int64()).cast(ts),
                    "bytes": pa.array(cols[5], pa.uint64()),
                    "cached": pa.array(cols[6], pa.uint64()),
                }
            )
        rows = self._store.streams()
        cols = list(zip(*rows)) if rows else [[] for _ in range(9)]
        return pa.table(
            {
                "name": pa.array(cols[0], pa.string()),
                "kind": pa.array(cols[1], pa.string()),
                "files": pa.array(cols[2], pa.uint64()),
                "records": pa.array(cols[3], pa.uint64()),
                "first": pa.array(cols[4], pa.int64()).cast(ts),
                "last": pa.array(cols[5], pa.int64()).cast(ts),
                "bytes": pa.array(cols[6], pa.uint64()),
                "sealed": pa.array(cols[7], pa.uint64()),
                "compact": pa.array(cols[8], pa.uint64()),
            }
        )

    def cache_info(self) -> Optional[dict]:
        """What a remote store's cache did so far: ``downloaded`` (files),
        ``bytes``, ``hits`` (files a call needed that the cache held),
        ``evicted`` (files removed to keep within ``cache_size``) and
        ``last`` (the files the last call downloaded). None for a local
        store."""
        info = self._store.cache_info()
        if info is None:
            return None
        d, b, h, e, last = info
        return {"downloaded": d, "bytes": b, "hits": h, "evicted": e, "last": last}

    def kind(self, stream: str) -> str:
        """``trades``, ``book_l2``, ``quotes``, ``orders_l3``, or ``raw``."""
        return self._store.kind(stream)

    def metadata(self, stream: str) -> dict:
        """A market stream's metadata (venue, symbol, kind, scales, ...)."""
        import json

        return json.loads(self._store.metadata(stream))

    # ---- records -------------------------------------------------------

    def _kind_records(self, stream, kinds, start, end, rows) -> ArrowStream:
        k = self._store.kind(stream)
        if k not in kinds:
            raise EventStoreError(f"{stream} holds {k} records, not {' or '.join(kinds)}")
        return self._store.records(stream, _opt_ns(start), _opt_ns(end), rows)

    def trades(
        self,
        stream: str,
        start: Optional[TimeLike] = None,
        end: Optional[TimeLike] = None,
        *,
        prices: str = "decimal",
    ) -> pa.Table:
        """The trades received in ``[start, end)``: local_ts, exchange_ts,
        price, size, side, trade_id, trade_id_text."""
        return _prices(_read_all(self._kind_records(stream, ("trades",), start, end, 65_536)), prices)

    def trades_batches(
        self,
        stream: str,
        start: Optional[TimeLike] = None,
        end: Optional[TimeLike] = None,
        *,
        rows: int = 65_536,
    ) -> pa.RecordBatchReader:
        """The trades as a stream of record batches of at most ``rows`` rows."""
        return _reader(self._kind_records(stream, ("trades",), start, end, rows))

    def levels(self, stream, start=None, end=None, *, prices: str = "decimal") -> pa.Table:
        """The raw level updates of a depth stream received in ``[start, end)``."""
        return _prices(_read_all(self._kind_records(stream, ("book_l2",), start, end, 65_536)), prices)

    def quotes(self, stream, start=None, end=None, *, prices: str = "decimal") -> pa.Table:
        """The best bid and ask updates received in ``[start, end)``."""
        return _prices(_read_all(self._kind_records(stream, ("quotes",), start, end, 65_536)), prices)

    def orders(self, stream, start=None, end=None, *, prices: str = "decimal") -> pa.Table:
        """The raw order events (L3) received in ``[start, end)``."""
        return _prices(_read_all(self._kind_records(stream, ("orders_l3",), start, end, 65_536)), prices)

    def records(self, stream, start=None, end=None, *, rows: int = 65_536) -> pa.RecordBatchReader:
        """A market stream's records of any kind, as batches of its schema."""
        return _reader(self._store.records(stream, _opt_ns(start), _opt_ns(end), rows))

    def read(self, stream, start=None, end=None, *, rows: int = 65_536) -> pa.RecordBatchReader:
        """Any stream's raw records received in ``[start, end)``: seq, ts,
        payload (bytes), in batches of at most ``rows``."""
        return _reader(self._store.read(stream, _opt_ns(start), _opt_ns(end), rows))

    # ---- answers -------------------------------------------------------

    def bars(
        self,
        stream: str,
        interval: Union[str, int, _dt.timedelta] = "1m",
        start: Optional[TimeLike] = None,
        end: Optional[TimeLike] = None,
        *,
        prices: str = "decimal",
    ) -> pa.Table:
        """OHLCV bars of the trades received in ``[start, end)``: start,
        open, high, low, close, volume, buy_volume, sell_volume, vwap,
        trades. Bars align to multiples of the interval since the epoch
        (UTC); intervals without trades are left out."""
        s = self._store.bars(stream, _interval_ns(interval), _opt_ns(start), _opt_ns(end))
        return _prices(_read_all(s), prices)

    def book(self, stream: str, at: TimeLike, depth: int = 10) -> Book:
        """The book as of ``at`` (every update received before it applied),
        from the snapshot of the file that holds ``at``."""
        s, state = self._store.book(stream, to_ns(at), depth)
        return Book(stream, _read_all(s), state)

    def book_snapshots(
        self,
        stream: str,
        interval: Union[str, int, _dt.timedelta],
        depth: int,
        start: TimeLike,
        end: Optional[TimeLike] = None,
        *,
        prices: str = "decimal",
    ) -> pa.Table:
        """The best ``depth`` levels every ``interval`` from ``start``, one
        wide row per time: ts, reliable, bid_price_0, bid_size_0,
        ask_price_0, ask_size_0, ..."""
        s = self._store.book_snapshots(
            stream, _interval_ns(interval), depth, to_ns(start), _opt_ns(end)
        )
        return _prices(_read_all(s), prices)

    def replay(
        self,
        streams: Sequence[str],
        start: Optional[TimeLike] = None,
        end: Optional[TimeLike] = None,
        *,
        rows: int = 65_536,
        prices: str = "decimal",
    ) -> pa.RecordBatchReader:
        """Many market streams (trades, depth, quotes, orders, of any
        symbols and venues) merged into one stream of record batches in
        receive time, every record received in ``[start, end)``.

        Ties (the same receive time) come in the order ``streams`` were
        given, and a stream's own order is never changed. Every depth or
        order stream starts with its book as of ``start``: a clear, then
        each level (or order) flagged ``snapshot`` (flags 1, the last 3),
        at ``ts = start``, before any other row.

        Columns: ts, exchange_ts, stream, event (trade, level, quote,
        order), side, price, size, bid_price, bid_size, ask_price,
        ask_size, action, id, id_text, update_id, flags; those a row's
        kind does not have are null. Prices are at the largest scale of
        the streams. Memory is one chunk per stream and one batch,
        however long the range: iterate the reader rather than
        ``read_all()`` it for a long replay."""
        s = self._store.replay(list(streams), _opt_ns(start), _opt_ns(end), rows)
        r = _reader(s)
        if prices == "decimal":
            return r
        if prices != "float":
            raise EventStoreError(f"prices={prices!r}: give 'decimal' (exact) or 'float' (float64)")
        floats = _float_schema(r.schema)
        return pa.RecordBatchReader.from_batches(
            floats, (_float_batch(b, floats) for b in r)
        )

    # ---- conveniences --------------------------------------------------

    def as_pandas(self, table: pa.Table):
        """``table.to_pandas()``."""
        return table.to_pandas()

    def as_polars(self, table: pa.Table):
        """``polars.from_arrow(table)``."""
        import polars as pl

        return pl.from_arrow(table)


def _as_table(data) -> pa.Table:
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if hasattr(data, "__arrow_c_stream__"):
        return pa.table(data)
    if type(data).__module__.startswith("pandas"):
        return pa.Table.from_pandas(data, preserve_index=False)
    if hasattr(data, "to_arrow"):  # polars
        return data.to_arrow()
    raise EventStoreError(f"not rows: {type(data).__name__} (give a pyarrow Table, or a pandas or polars DataFrame)")


def synth(
    root: Union[str, "os.PathLike[str]"],
    prefix: str,
    start: TimeLike,
    end: TimeLike,
    *,
    seed: int = 1,
    trades_per_sec: float = 200.0,
    book_updates_per_sec: float = 2000.0,
    symbol: str = "BTCUSDT",
    roll: str = "1h",
    compact: bool = True,
) -> tuple:
    """Record a simulated market under ``root``: the market streams
    ``<prefix>/trades`` and ``<prefix>/depth`` from ``start`` to ``end``
    (a seeded random walk with an order book around the mid, the same for
    the same seed), files rolled by record time every ``roll`` and made
    compact once sealed. For trying the package and for tests at scale.
    Returns the records written: ``(trades, depth)``."""
    import os

    return _eventstore.synth_market(
        os.fspath(root),
        prefix,
        to_ns(start),
        to_ns(end),
        seed,
        trades_per_sec,
        book_updates_per_sec,
        symbol,
        roll,
        compact,
    )


class Writer:
    """The single writer of a stream: ``with eventstore.Writer("data",
    "my/feed", roll="1h") as w: w.append(b"...")``.

    ``durability``: ``"os"`` (the default: a record survives the process at
    once, a power loss once the OS writes it back), ``"batch"`` (fsync per
    append) or an interval such as ``"10ms"``.

    With ``kind`` (``trades``, ``book_l2``, ``quotes``, ``orders_l3``) the
    stream is a market stream at ``price_scale`` and ``size_scale``
    decimals (its metadata stored beside it, or checked where it exists),
    its files roll by record time and become compact once sealed, and
    :meth:`write` appends rows of the kind's schema (what
    ``Store.records`` returns) as records, each at its ``local_ts``."""

    def __init__(
        self,
        root,
        stream: str,
        *,
        roll: str = "1h",
        durability: str = "os",
        by_record_time: Optional[bool] = None,
        kind: Optional[str] = None,
        venue: str = "python",
        symbol: str = "",
        price_scale: Optional[int] = None,
        size_scale: Optional[int] = None,
        compact: Optional[bool] = None,
    ):
        import os

        market = kind is not None
        if market and (price_scale is None or size_scale is None):
            raise EventStoreError(f"a {kind} stream needs price_scale= and size_scale= (decimals)")
        self._w = _eventstore.Writer(
            os.fspath(root),
            stream,
            roll,
            durability,
            market if by_record_time is None else by_record_time,
            market if compact is None else compact,
        )
        self._schema = None
        if market:
            self._w.set_market(kind, venue, symbol or stream, price_scale, size_scale)
            self._schema = pa.RecordBatchReader.from_stream(
                _eventstore.market_schema(kind, price_scale, size_scale)
            ).schema

    @property
    def schema(self) -> Optional[pa.Schema]:
        """The rows :meth:`write` takes (None for a raw stream)."""
        return self._schema

    def write(self, data) -> range:
        """Append the rows of ``data`` (a ``pyarrow.Table`` or
        ``RecordBatch``, a pandas or polars DataFrame, or anything with
        ``__arrow_c_stream__``) to a market stream; returns their sequence
        numbers. Columns are matched by name and cast to :attr:`schema`:
        times may be any timestamp unit (naive means UTC) or integer ns,
        prices and sizes decimals, floats or text (cast exactly to the
        stream's scale, an error where that loses digits); the nullable
        columns may be left out. Nothing of a call with a bad row is
        appended, and the error names the row and column."""
        if self._schema is None:
            raise EventStoreError("not a market stream: give kind= (and the scales) to the writer")
        table = _as_table(data)
        cols = []
        for f in self._schema:
            if f.name not in table.column_names:
                if not f.nullable:
                    raise EventStoreError(
                        f"no column {f.name}: a row needs {', '.join(self._schema.names)}"
                    )
                cols.append(pa.nulls(table.num_rows, f.type))
                continue
            c = table[f.name]
            try:
                if pa.types.is_timestamp(f.type) and pa.types.is_timestamp(c.type) and c.type.tz is None:
                    c = c.cast(pa.timestamp(c.type.unit)).cast(pa.timestamp(c.type.unit, tz="UTC"))
                if pa.types.is_dictionary(c.type):
                    c = c.cast(c.type.value_type)
                d = c.cast(f.type, safe=True)
                if pa.types.is_decimal(f.type) and pa.types.is_floating(c.type):
                    # A float cast to a decimal is rounded: refuse what
                    # the stream's scale can not hold.
                    import pyarrow.compute as pc

                    lost = pc.invert(pc.equal(d.cast(pa.float64()), c.cast(pa.float64())))
                    if pc.any(lost).as_py():
                        i = pc.index(lost, True).as_py()
                        raise EventStoreError(
                            f"row {i}: {f.name} {c[i].as_py()!r} has more decimals than the stream's {f.type.scale}"
                        )
                cols.append(d)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
                raise EventStoreError(f"column {f.name} ({c.type}) as {f.type}: {e}") from None
        t = pa.Table.from_arrays(cols, schema=self._schema)
        a, b = self._w.append_records(t)
        return range(a, b)

    def append(self, payload: bytes, ts: Optional[TimeLike] = None) -> int:
        """Append one record (with an event time, else the writer's clock);
        returns its sequence number."""
        return self._w.append(payload, _opt_ns(ts))

    def append_batch(
        self, payloads: Sequence[bytes], ts: Optional[Iterable[TimeLike]] = None
    ) -> range:
        """Append many records at once; returns their sequence numbers."""
        times: Optional[List[int]] = None if ts is None else [to_ns(t) for t in ts]
        a, b = self._w.append_batch(list(payloads), times)
        return range(a, b)

    @property
    def next_seq(self) -> int:
        return self._w.next_seq

    def sync(self) -> None:
        """fsync everything appended so far."""
        self._w.sync()

    def close(self) -> None:
        """Seal the open file if its interval has passed, else sync it."""
        self._w.close()

    def __enter__(self) -> "Writer":
        return self

    def __exit__(self, *exc) -> bool:
        self.close()
        return False
